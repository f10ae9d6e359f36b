/*
 * plugin_json.c: record bodies between JSON (jansson) and Lua tables for the
 * plugin host. Owns the mapping described in tk_plugin.h: objects <-> tables
 * with string keys, arrays <-> sequences carrying the array marker metatable
 * (registry key "tunduk.array"), null <-> the light userdata &tk__plugin_null,
 * integers <-> Lua integers, reals <-> Lua floats.
 *
 * Invariants: every conversion is bounded by TK_MAX_JSON_DEPTH; Lua -> JSON
 * uses raw access only, so no plugin code runs while converting. The Lua-side
 * functions may raise Lua memory errors and run only in protected mode.
 *
 * Threads: whatever thread owns the lua_State; jansson values are not shared.
 */
#include "tk_attach.h"
#include "tk_plugin.h"

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define ARRAY_MT "tunduk.array"

const char tk__plugin_null = 0;

void tk__plugin_json_open(lua_State *L)
{
  if (luaL_newmetatable(L, ARRAY_MT)) {
    /* Locked so that getmetatable returns the marker name and a plugin
     * cannot swap the metatable of an array it was given. */
    lua_pushliteral(L, ARRAY_MT);
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
}

/* ---- JSON -> Lua ------------------------------------------------------------ */

static int in_list(const char *key, const char *const *list)
{
  for (; list && *list; list++)
    if (strcmp(key, *list) == 0) return 1;
  return 0;
}

static int push_value(lua_State *L, json_t *v, int depth, const char *const *skip,
                      tk_err_t *err)
{
  if (depth > TK_MAX_JSON_DEPTH)
    return tk_err_set(err, TK_ELIMIT, "JSON nested deeper than %d levels",
                      TK_MAX_JSON_DEPTH);
  luaL_checkstack(L, 4, "JSON conversion");
  switch (json_typeof(v)) {
  case JSON_NULL:
    lua_pushlightuserdata(L, (void *)&tk__plugin_null);
    return 0;
  case JSON_TRUE:
    lua_pushboolean(L, 1);
    return 0;
  case JSON_FALSE:
    lua_pushboolean(L, 0);
    return 0;
  case JSON_INTEGER:
    lua_pushinteger(L, (lua_Integer)json_integer_value(v));
    return 0;
  case JSON_REAL:
    lua_pushnumber(L, (lua_Number)json_real_value(v));
    return 0;
  case JSON_STRING:
    lua_pushlstring(L, json_string_value(v), json_string_length(v));
    return 0;
  case JSON_ARRAY: {
    size_t n = json_array_size(v);
    lua_createtable(L, n > INT32_MAX ? 0 : (int)n, 0);
    for (size_t i = 0; i < n; i++) {
      int rc = push_value(L, json_array_get(v, i), depth + 1, NULL, err);
      if (rc < 0) {
        lua_pop(L, 1);
        return rc;
      }
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    luaL_setmetatable(L, ARRAY_MT);
    return 0;
  }
  case JSON_OBJECT: {
    const char *key;
    json_t *val;
    size_t klen;
    lua_createtable(L, 0, (int)(json_object_size(v) > 1024 ? 1024 : json_object_size(v)));
    json_object_keylen_foreach(v, key, klen, val)
    {
      if (depth == 0 && in_list(key, skip)) continue;
      /* a plugin sees an attachment's name, size and hash, never its key */
      json_t *pub =
          depth == 0 && strcmp(key, TK_ATTACH_FIELD) == 0 ? tk_attach_public(v) : NULL;
      lua_pushlstring(L, key, klen);
      int rc = push_value(L, pub ? pub : val, depth + 1, NULL, err);
      json_decref(pub);
      if (rc < 0) {
        lua_pop(L, 2);
        return rc;
      }
      lua_rawset(L, -3);
    }
    return 0;
  }
  }
  return tk_err_set(err, TK_EINVAL, "unknown JSON value type");
}

int tk__plugin_json_push(lua_State *L, json_t *v, const char *const *skip, tk_err_t *err)
{
  return push_value(L, v, 0, skip, err);
}

/* ---- Lua -> JSON ------------------------------------------------------------ */

/* The conversion walks with a stack of the tables it is inside, which finds
 * cycles and names the path of a bad value in messages. */
typedef struct walk {
  const void *open[TK_MAX_JSON_DEPTH + 1];
  int array_mt; /* stack index of the array marker metatable */
  char path[256];
  tk_err_t *err;
} walk_t;

static void path_push_key(walk_t *w, size_t at, const char *k, size_t kn)
{
  size_t room = sizeof w->path - at;
  if (room > 1) snprintf(w->path + at, room, ".%.*s", (int)(kn > 40 ? 40 : kn), k);
}

static void path_push_index(walk_t *w, size_t at, lua_Integer i)
{
  size_t room = sizeof w->path - at;
  if (room > 1) snprintf(w->path + at, room, "[%lld]", (long long)i);
}

static int utf8_valid(const unsigned char *s, size_t n)
{
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return 0;
    }
    if (n - i < len) return 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += len;
  }
  return 1;
}

static int check_string(walk_t *w, const char *s, size_t n, const char *what)
{
  if (memchr(s, 0, n))
    return tk_err_set(w->err, TK_EINVAL, "%s at $%s contains a NUL byte", what, w->path);
  if (!utf8_valid((const unsigned char *)s, n))
    return tk_err_set(w->err, TK_EINVAL, "%s at $%s is not valid UTF-8", what, w->path);
  return 0;
}

static int is_array_marked(lua_State *L, int idx, const walk_t *w)
{
  if (!lua_getmetatable(L, idx)) return 0;
  int r = lua_rawequal(L, -1, w->array_mt);
  lua_pop(L, 1);
  return r;
}

static int to_json(lua_State *L, int idx, int depth, walk_t *w, json_t **out);

static int table_to_json(lua_State *L, int idx, int depth, walk_t *w, json_t **out)
{
  const void *self = lua_topointer(L, idx);
  for (int i = 0; i < depth; i++)
    if (w->open[i] == self)
      return tk_err_set(w->err, TK_EINVAL, "table at $%s contains itself (a cycle)",
                        w->path);
  w->open[depth] = self;

  /* Classify: count entries, note whether keys are all strings or all
   * positive integers, and the largest integer key. */
  size_t count = 0, nstr = 0, nint = 0;
  lua_Integer maxi = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    count++;
    if (lua_type(L, -1) == LUA_TSTRING) {
      nstr++;
    } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
      nint++;
      if (lua_tointeger(L, -1) > maxi) maxi = lua_tointeger(L, -1);
    } else {
      const char *tn = luaL_typename(L, -1);
      lua_pop(L, 1);
      return tk_err_set(w->err, TK_EINVAL,
                        "table at $%s has a key of type %s (object keys must be strings,"
                        " array indexes 1..n)",
                        w->path, tn);
    }
  }
  int marked = is_array_marked(L, idx, w);
  size_t at = strlen(w->path);
  int rc = 0;
  json_t *j = NULL;

  if (marked || (count > 0 && nint == count)) {
    if (nstr > 0 || (lua_Integer)count != maxi)
      return tk_err_set(w->err, TK_EINVAL,
                        "array at $%s is sparse or has named fields (use tunduk.null for "
                        "JSON null)",
                        w->path);
    j = json_array();
    if (!j) return tk_err_set(w->err, TK_ENOMEM, "out of memory");
    for (lua_Integer i = 1; i <= maxi; i++) {
      lua_rawgeti(L, idx, i);
      path_push_index(w, at, i - 1);
      json_t *item = NULL;
      rc = to_json(L, lua_gettop(L), depth + 1, w, &item);
      lua_pop(L, 1);
      if (rc < 0) goto done;
      if (json_array_append_new(j, item) < 0) {
        rc = tk_err_set(w->err, TK_ENOMEM, "out of memory");
        goto done;
      }
    }
  } else {
    if (nint > 0) {
      rc = tk_err_set(w->err, TK_EINVAL,
                      "table at $%s mixes array items and named fields", w->path);
      goto done;
    }
    j = json_object();
    if (!j) return tk_err_set(w->err, TK_ENOMEM, "out of memory");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      size_t kn;
      const char *k = lua_tolstring(L, -2, &kn); /* a string: no conversion */
      w->path[at] = 0;
      rc = check_string(w, k, kn, "object key");
      path_push_key(w, at, k, kn);
      json_t *item = NULL;
      if (rc == 0) rc = to_json(L, lua_gettop(L), depth + 1, w, &item);
      lua_pop(L, 1);
      if (rc < 0) {
        lua_pop(L, 1);
        goto done;
      }
      if (json_object_setn_new_nocheck(j, k, kn, item) < 0) {
        lua_pop(L, 1);
        rc = tk_err_set(w->err, TK_ENOMEM, "out of memory");
        goto done;
      }
    }
  }
  w->path[at] = 0;
done:
  if (rc < 0) {
    json_decref(j);
    j = NULL;
  }
  *out = j;
  return rc;
}

static int to_json(lua_State *L, int idx, int depth, walk_t *w, json_t **out)
{
  *out = NULL;
  if (depth > TK_MAX_JSON_DEPTH)
    return tk_err_set(w->err, TK_ELIMIT, "value at $%s is nested deeper than %d levels",
                      w->path, TK_MAX_JSON_DEPTH);
  json_t *j = NULL;
  switch (lua_type(L, idx)) {
  case LUA_TBOOLEAN:
    j = json_boolean(lua_toboolean(L, idx));
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx)) {
      j = json_integer((json_int_t)lua_tointeger(L, idx));
    } else {
      double d = (double)lua_tonumber(L, idx);
      if (!isfinite(d))
        return tk_err_set(w->err, TK_EINVAL, "number at $%s is NaN or infinite", w->path);
      j = json_real(d);
    }
    break;
  case LUA_TSTRING: {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    int rc = check_string(w, s, n, "string");
    if (rc < 0) return rc;
    j = json_stringn_nocheck(s, n);
    break;
  }
  case LUA_TLIGHTUSERDATA:
    if (lua_touserdata(L, idx) != (void *)&tk__plugin_null)
      return tk_err_set(w->err, TK_EINVAL, "value at $%s is a userdata", w->path);
    j = json_null();
    break;
  case LUA_TTABLE:
    return table_to_json(L, idx, depth, w, out);
  default:
    return tk_err_set(w->err, TK_EINVAL, "value at $%s is a %s, which JSON cannot hold",
                      w->path, luaL_typename(L, idx));
  }
  if (!j) return tk_err_set(w->err, TK_ENOMEM, "out of memory");
  *out = j;
  return 0;
}

int tk__plugin_json_from_lua(lua_State *L, int idx, json_t **out, tk_err_t *err)
{
  walk_t w;
  w.path[0] = 0;
  w.err = err;
  *out = NULL;
  idx = lua_absindex(L, idx);
  int top = lua_gettop(L);
  /* Everything that could raise happens here, before any jansson value
   * exists: the walk below only reads, within the stack reserved now. */
  if (!lua_checkstack(L, 3 * (TK_MAX_JSON_DEPTH + 2) + 8))
    return tk_err_set(err, TK_ENOMEM, "out of memory for the Lua stack");
  luaL_getmetatable(L, ARRAY_MT);
  w.array_mt = lua_gettop(L);
  int rc = to_json(L, idx, 0, &w, out);
  lua_settop(L, top);
  return rc;
}

/* ---- text ------------------------------------------------------------------- */

int tk__plugin_json_parse(tk_slice_t body, json_t **out, tk_err_t *err)
{
  *out = NULL;
  if (!body.p) return tk_err_set(err, TK_EINVAL, "no record body");
  if (body.n > TK_MAX_BODY_JSON)
    return tk_err_set(err, TK_ELIMIT, "record body of %zu bytes is over the limit of %u",
                      body.n, TK_MAX_BODY_JSON);
  json_error_t je;
  json_t *v = json_loadb((const char *)body.p, body.n, JSON_REJECT_DUPLICATES, &je);
  if (!v)
    return tk_err_set(err, TK_EFORMAT,
                      "record body is not valid JSON (line %d column %d: %s)", je.line,
                      je.column, je.text);
  if (!json_is_object(v)) {
    json_decref(v);
    return tk_err_set(err, TK_EFORMAT, "record body is not a JSON object");
  }
  *out = v;
  return 0;
}

typedef struct dump_ctx {
  tk_buf_t *out;
  size_t max, n;
  int over, nomem;
} dump_ctx_t;

static int dump_cb(const char *buf, size_t size, void *data)
{
  dump_ctx_t *d = data;
  if (size > d->max - d->n) {
    d->over = 1;
    return -1;
  }
  if (tk_buf_append(d->out, buf, size) < 0) {
    d->nomem = 1;
    return -1;
  }
  d->n += size;
  return 0;
}

int tk__plugin_json_dump(json_t *v, size_t max, tk_buf_t *out, tk_err_t *err)
{
  size_t start = out->n;
  dump_ctx_t d = {out, max, 0, 0, 0};
  if (json_dump_callback(v, dump_cb, &d,
                         JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) < 0) {
    out->n = start;
    if (d.over) return tk_err_set(err, TK_ELIMIT, "JSON is longer than %zu bytes", max);
    return tk_err_set(err, TK_ENOMEM, "out of memory writing JSON");
  }
  if (tk_buf_append_u8(out, 0) < 0) {
    out->n = start;
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  }
  out->n--;
  return 0;
}
