/*
 * plugin_sandbox.c: what a plugin's lua_State is made of. Owns the allocator
 * with its memory cap, the count hook with the instruction budget and the
 * deadline, the allow-list environment (base functions, string, table, math,
 * utf8, coroutine, os.time/date/clock; see tk_plugin.h for what is left out
 * and why), the wrappers that bound C functions the hook cannot interrupt,
 * the read-only `tunduk` API table, and the declarations a plugin makes
 * while it loads (content types, exports, moderation rules).
 *
 * Invariants: nothing here runs plugin code outside a call set up by
 * plugin.c; every Lua-facing function reads its arguments with raw access,
 * so a declaration table's metamethods never run; a declaration is owned by
 * its plugin from the moment it is allocated and counts only once complete.
 *
 * Threads: called with the plugin's mutex held (or before it is shared).
 */
#include "plugin_host.h"
#include "tk_revision.h"

#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const tk__plugin_kind_words[TK_PLUGIN_NKINDS] = {"content type", "export",
                                                             "moderation rule"};
static const char *const field_kinds[] = {"text",    "date",    "datetime", "enum",
                                          "integer", "boolean", "list",     "ref",
                                          "object",  NULL};

uint64_t tk__plugin_now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

plugin_t *tk__plugin_of(lua_State *L)
{
  void *ud = NULL;
  lua_getallocf(L, &ud);
  return ud;
}

void tk__plugin_copy_line(char *dst, size_t cap, const char *src, size_t n)
{
  size_t len = n < cap - 1 ? n : cap - 1;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)src[i];
    dst[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
  }
  if (len < n) {
    size_t k = len;
    while (k > 0 && len - k < 4 && ((unsigned char)dst[k - 1] & 0xC0) == 0x80)
      k--;
    if (k > 0) {
      unsigned char lead = (unsigned char)dst[k - 1];
      size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (want > 1 && k - 1 + want > len) len = k - 1;
    }
  }
  dst[len] = 0;
}

const char *tk__plugin_limit_detail(plugin_t *p, char *buf, size_t n)
{
  if (p->stop == STOP_INSTR) {
    snprintf(buf, n, "instruction limit exceeded (%llu per call)",
             (unsigned long long)p->lim.instructions);
  } else if (p->stop == STOP_TIME) {
    snprintf(buf, n, "time limit exceeded (%u ms per call)", (unsigned)p->lim.call_ms);
  } else {
    return NULL;
  }
  return buf;
}

/* ---- allocator and hook ------------------------------------------------------ */

void *tk__plugin_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
  plugin_t *p = ud;
  size_t old = ptr ? osize : 0; /* with ptr NULL, osize is a type tag */
  if (nsize == 0) {
    free(ptr);
    p->mem -= old;
    return NULL;
  }
  if (nsize > old && nsize - old > p->lim.mem_bytes - p->mem) {
    p->mem_refused = 1;
    return NULL;
  }
  void *np = realloc(ptr, nsize);
  if (!np) {
    if (nsize <= old)
      np = ptr; /* a shrink never fails: keep the bigger block */
    else {
      p->mem_refused = 1;
      return NULL;
    }
  }
  p->mem = p->mem - old + nsize;
  return np;
}

void tk__plugin_hook(lua_State *L, lua_Debug *ar)
{
  (void)ar;
  plugin_t *p = tk__plugin_of(L);
  int every = lua_gethookcount(L);
  p->count += (uint64_t)(every > 0 ? every : 1);
  if (!p->stop) {
    if (p->count > p->lim.instructions)
      p->stop = STOP_INSTR;
    else if (tk__plugin_now_ns() > p->deadline_ns)
      p->stop = STOP_TIME;
  }
  if (p->stop) {
    char buf[128];
    const char *l = tk__plugin_limit_detail(p, buf, sizeof buf);
    /* From now on every instruction of this thread runs the hook, so the
     * first instruction outside any pcall the plugin has raises again. */
    lua_sethook(L, tk__plugin_hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "%s", l ? l : "plugin is being closed");
  }
}

int tk__plugin_hook_every(const plugin_t *p)
{
  return p->lim.instructions < TK__PLUGIN_HOOK_EVERY
             ? (int)(p->lim.instructions ? p->lim.instructions : 1)
             : TK__PLUGIN_HOOK_EVERY;
}

void tk__plugin_budget_reset(plugin_t *p)
{
  p->count = 0;
  p->deadline_ns = tk__plugin_now_ns() + (uint64_t)p->lim.call_ms * 1000000u;
}

int tk__plugin_panic(lua_State *L)
{
  const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
  TK_LOG(TK_LOG_ERROR, "plugin", "unprotected Lua error (a host bug) msg=%s", m);
  abort();
  return 0;
}

/* ---- the sandbox ------------------------------------------------------------- */

static int l_readonly(lua_State *L)
{
  return luaL_error(L, "the tunduk table is read-only");
}

static int l_setmetatable(lua_State *L)
{
  if (lua_type(L, 2) == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, 2) != LUA_TNIL)
      return luaL_error(L, "setmetatable: __gc metamethods are not allowed in plugins");
    lua_pop(L, 1);
  }
  return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

static int l_str_rep(lua_State *L)
{
  plugin_t *p = tk__plugin_of(L);
  size_t l, lsep = 0;
  luaL_checklstring(L, 1, &l);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_optlstring(L, 3, "", &lsep);
  if (n > 0) {
    size_t max = p->lim.max_string;
    size_t unit = l + lsep;
    if (unit == 0) { /* Lua would loop n times copying nothing */
      lua_pushliteral(L, "");
      return 1;
    }
    if ((uint64_t)n > max / unit + 1 ||
        (uint64_t)l * (uint64_t)n + (uint64_t)lsep * (uint64_t)(n - 1) > max)
      return luaL_error(
          L, "string.rep: result would be over the plugin string limit (%I bytes)",
          (lua_Integer)max);
  }
  return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

/* find, match, gmatch, gsub: the matcher backtracks in C where the hook
 * cannot reach, so the subject and pattern lengths are capped. */
static int l_str_pattern(lua_State *L)
{
  plugin_t *p = tk__plugin_of(L);
  size_t ls, lp;
  luaL_checklstring(L, 1, &ls);
  luaL_checklstring(L, 2, &lp);
  if (ls > p->lim.max_pattern_subject)
    return luaL_error(
        L, "string pattern functions take subjects of at most %I bytes (got %I)",
        (lua_Integer)p->lim.max_pattern_subject, (lua_Integer)ls);
  if (lp > TK_PLUGIN_MAX_PATTERN)
    return luaL_error(L, "patterns are limited to %d bytes (got %I)",
                      TK_PLUGIN_MAX_PATTERN, (lua_Integer)lp);
  return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

/* table.move loops in C without running the hook: cap the range. */
static int l_tab_move(lua_State *L)
{
  plugin_t *p = tk__plugin_of(L);
  lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
  if (e >= f) {
    lua_Unsigned count = (lua_Unsigned)e - (lua_Unsigned)f;
    if (count >= p->lim.mem_bytes / 8)
      return luaL_error(L, "table.move: range of more than %I elements",
                        (lua_Integer)(p->lim.mem_bytes / 8));
  }
  return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

/* Copies the allowed names from the library table at lib into a new table
 * left on the stack. */
static void copy_allowed(lua_State *L, int lib, const char *const *names)
{
  lib = lua_absindex(L, lib);
  lua_newtable(L);
  for (; *names; names++) {
    lua_getfield(L, lib, *names);
    if (lua_isnil(L, -1)) luaL_error(L, "sandbox: library has no %s", *names);
    lua_setfield(L, -2, *names);
  }
}

/* Replaces t[name] (t on top) with the C closure fn whose upvalue is the
 * original function. */
static void wrap_field(lua_State *L, const char *name, lua_CFunction fn)
{
  lua_getfield(L, -1, name);
  if (!lua_tocfunction(L, -1)) luaL_error(L, "sandbox: %s is not a C function", name);
  lua_pushcclosure(L, fn, 1);
  lua_setfield(L, -2, name);
}

static void open_lib(lua_State *L, const char *name, lua_CFunction open,
                     const char *const *allowed, int env)
{
  luaL_requiref(L, name, open, 0);
  copy_allowed(L, -1, allowed);
  lua_remove(L, -2);
  lua_pushvalue(L, -1);
  lua_setfield(L, env, name);
}

static const char *const base_allowed[] = {
    "assert", "error",  "getmetatable", "ipairs",   "next",
    "pairs",  "pcall",  "rawequal",     "rawget",   "rawlen",
    "rawset", "select", "setmetatable", "tonumber", "tostring",
    "type",   "xpcall", "_VERSION",     NULL};
static const char *const string_allowed[] = {
    "byte", "char",     "find", "format",  "gmatch", "gsub",   "len",   "lower", "match",
    "pack", "packsize", "rep",  "reverse", "sub",    "unpack", "upper", NULL};
static const char *const table_allowed[] = {"concat", "insert", "move",   "pack",
                                            "remove", "sort",   "unpack", NULL};
static const char *const math_allowed[] = {
    "abs", "acos",       "asin", "atan",      "ceil", "cos",    "deg",
    "exp", "floor",      "fmod", "huge",      "log",  "max",    "maxinteger",
    "min", "mininteger", "modf", "pi",        "rad",  "random", "randomseed",
    "sin", "sqrt",       "tan",  "tointeger", "type", "ult",    NULL};
static const char *const utf8_allowed[] = {"char", "charpattern", "codepoint", "codes",
                                           "len",  "offset",      NULL};
static const char *const coroutine_allowed[] = {"close",  "create",  "isyieldable",
                                                "resume", "running", "status",
                                                "wrap",   "yield",   NULL};
static const char *const os_allowed[] = {"clock", "date", "time", NULL};

static int l_content_type(lua_State *L);
static int l_export_decl(lua_State *L);
static int l_moderation_decl(lua_State *L);

static int push_verdict(lua_State *L, const char *kind)
{
  size_t n = 0;
  const char *reason = NULL;
  if (strcmp(kind, "accept") != 0) {
    reason = luaL_checklstring(L, 1, &n);
    luaL_argcheck(L, n > 0, 1, "a reason is required");
  }
  lua_createtable(L, 0, 2);
  lua_pushstring(L, kind);
  lua_setfield(L, -2, "verdict");
  if (reason) {
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "reason");
  }
  luaL_setmetatable(L, TK__PLUGIN_VERDICT_MT);
  return 1;
}
static int l_accept(lua_State *L)
{
  return push_verdict(L, "accept");
}
static int l_reject(lua_State *L)
{
  return push_verdict(L, "reject");
}
static int l_quarantine(lua_State *L)
{
  return push_verdict(L, "quarantine");
}

static int l_array(lua_State *L)
{
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_setmetatable(L, "tunduk.array");
  return 1;
}

static int l_is_array(lua_State *L)
{
  int r = 0;
  if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, "tunduk.array");
    r = lua_rawequal(L, -1, -2);
  }
  lua_pushboolean(L, r);
  return 1;
}

/* tunduk.json(v): v as compact JSON text with sorted keys (the same
 * conversion as merge's result: arrays by marker or sequence, objects with
 * string keys, tunduk.null as null). Errors name the path of a value that
 * cannot be JSON. */
static int l_json(lua_State *L)
{
  json_t *v = NULL;
  tk_buf_t out = TK_BUF_INIT;
  tk_err_t e;
  luaL_checkany(L, 1);
  lua_settop(L, 1);
  int rc = tk__plugin_json_from_lua(L, 1, &v, &e);
  if (!rc) rc = tk__plugin_json_dump(v, TK_MAX_BODY_JSON, &out, &e);
  json_decref(v);
  if (rc) {
    tk_buf_free(&out);
    return luaL_error(L, "tunduk.json: %s", tk_err_str(&e));
  }
  lua_pushlstring(L, (const char *)out.p, out.n);
  tk_buf_free(&out);
  return 1;
}

static int l_log(lua_State *L)
{
  plugin_t *p = tk__plugin_of(L);
  luaL_Buffer b;
  int n = lua_gettop(L);
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    int t = lua_type(L, i);
    luaL_argcheck(L, t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN, i,
                  "tunduk.log takes strings, numbers and booleans");
    if (i > 1) luaL_addchar(&b, ' ');
    if (t == LUA_TBOOLEAN)
      luaL_addstring(&b, lua_toboolean(L, i) ? "true" : "false");
    else {
      lua_pushvalue(L, i);
      luaL_addvalue(&b);
    }
  }
  luaL_pushresult(&b);
  char line[512];
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  tk__plugin_copy_line(line, sizeof line, s, len);
  /* Plugins may log record contents: debug level only. */
  TK_LOG(TK_LOG_DEBUG, "plugin", "plugin=%s %s", p->name, line);
  return 0;
}

/* Builds the whole environment and makes it the state's global table. */
void tk__plugin_open_sandbox(lua_State *L)
{
  luaL_requiref(L, "_G", luaopen_base, 0); /* the full base library: raw material */
  int full = lua_gettop(L);
  copy_allowed(L, full, base_allowed);
  int env = lua_gettop(L);
  lua_pushvalue(L, env);
  lua_setfield(L, env, "_G");
  lua_getfield(L, env, "setmetatable");
  lua_pushcclosure(L, l_setmetatable, 1);
  lua_setfield(L, env, "setmetatable");

  open_lib(L, "string", luaopen_string, string_allowed, env);
  wrap_field(L, "rep", l_str_rep);
  wrap_field(L, "find", l_str_pattern);
  wrap_field(L, "match", l_str_pattern);
  wrap_field(L, "gmatch", l_str_pattern);
  wrap_field(L, "gsub", l_str_pattern);
  /* Strings' metatable: methods from the sandboxed table, and locked. */
  lua_pushliteral(L, "");
  if (!lua_getmetatable(L, -1)) luaL_error(L, "sandbox: no string metatable");
  lua_pushvalue(L, -3);
  lua_setfield(L, -2, "__index");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 3);

  open_lib(L, "table", luaopen_table, table_allowed, env);
  wrap_field(L, "move", l_tab_move);
  lua_pop(L, 1);
  open_lib(L, "math", luaopen_math, math_allowed, env);
  lua_pop(L, 1);
  open_lib(L, "utf8", luaopen_utf8, utf8_allowed, env);
  lua_pop(L, 1);
  open_lib(L, "coroutine", luaopen_coroutine, coroutine_allowed, env);
  lua_pop(L, 1);
  open_lib(L, "os", luaopen_os, os_allowed, env);
  lua_pop(L, 1);

  /* The tunduk API behind a read-only proxy. */
  tk__plugin_json_open(L);
  if (luaL_newmetatable(L, TK__PLUGIN_VERDICT_MT)) {
    lua_pushliteral(L, TK__PLUGIN_VERDICT_MT);
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  static const luaL_Reg api_funcs[] = {{"content_type", l_content_type},
                                       {"export", l_export_decl},
                                       {"moderation", l_moderation_decl},
                                       {"accept", l_accept},
                                       {"reject", l_reject},
                                       {"quarantine", l_quarantine},
                                       {"array", l_array},
                                       {"is_array", l_is_array},
                                       {"json", l_json},
                                       {"log", l_log},
                                       {NULL, NULL}};
  lua_newtable(L);          /* proxy */
  lua_createtable(L, 0, 3); /* its metatable */
  luaL_newlib(L, api_funcs);
  lua_pushlightuserdata(L, (void *)&tk__plugin_null);
  lua_setfield(L, -2, "null");
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, l_readonly);
  lua_setfield(L, -2, "__newindex");
  lua_pushliteral(L, "tunduk (read-only)");
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_setfield(L, env, "tunduk");

  /* The environment becomes the global table: chunks loaded from now on get
   * it as _ENV, and the full base table is left unreachable. */
  lua_pushvalue(L, env);
  lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_settop(L, full - 1);
}

/* ---- declarations ------------------------------------------------------------ */

const char *const tk_plugin_langs[TK_PLUGIN_NLANGS + 1] = {"en", "ru", "ky", NULL};

static void labels_free(tk_plugin_labels_t *l)
{
  for (int i = 0; i < TK_PLUGIN_NLANGS; i++) {
    free((char *)l->v[i]);
    l->v[i] = NULL;
  }
}

/* Frees what f holds (not f itself). */
static void field_free(tk_plugin_field_t *f)
{
  free((char *)f->name);
  labels_free(&f->labels); /* label is labels.v[0] */
  if (f->value_labels)
    for (size_t k = 0; k < f->nvalues; k++)
      labels_free((tk_plugin_labels_t *)&f->value_labels[k]);
  free((void *)f->value_labels);
  for (size_t k = 0; k < f->nvalues; k++)
    free((char *)f->values[k]);
  free((void *)f->values);
  free((char *)f->ref_type);
  if (f->items) {
    field_free((tk_plugin_field_t *)f->items);
    free((void *)f->items);
  }
  for (size_t k = 0; k < f->nsub; k++)
    field_free((tk_plugin_field_t *)&f->sub[k]);
  free((void *)f->sub);
}

void tk__plugin_decl_free(decl_t *d)
{
  if (!d) return;
  free(d->name);
  free(d->media_type);
  for (size_t i = 0; i < d->nfields_alloc; i++)
    field_free(&d->fields[i]);
  free(d->fields);
  labels_free(&d->pub.labels);
  for (size_t i = 0; i < d->pub.norder; i++)
    free((char *)d->pub.order[i]);
  free((void *)d->pub.order);
  for (size_t i = 0; i < d->pub.nreads; i++)
    free((char *)d->pub.reads[i]);
  free((void *)d->pub.reads);
  free(d);
}

static char *dup_or_raise(lua_State *L, const char *s, size_t n)
{
  char *r = malloc(n + 1);
  if (!r) luaL_error(L, "out of memory");
  memcpy(r, s, n);
  r[n] = 0;
  return r;
}

/* A name for a declaration or field: t[key] must be a string of 1..max
 * bytes of [A-Za-z0-9_.-]. Returns it (owned by the Lua table). */
static const char *get_name(lua_State *L, int t, const char *key, size_t max, size_t *len,
                            const char *decl)
{
  lua_pushstring(L, key);
  if (lua_rawget(L, t) != LUA_TSTRING)
    luaL_error(L, "tunduk.%s: '%s' must be a string", decl, key);
  const char *s = lua_tolstring(L, -1, len);
  lua_pop(L, 1); /* still referenced by the table */
  if (*len == 0 || *len > max)
    luaL_error(L, "tunduk.%s: '%s' must be 1 to %d bytes", decl, key, (int)max);
  for (size_t i = 0; i < *len; i++) {
    char ch = s[i];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.'))
      luaL_error(L, "tunduk.%s: '%s' may hold only letters, digits, '_', '-' and '.'",
                 decl, key);
  }
  return s;
}

/* Starts a declaration of kind: checks the phase, the argument and the
 * name, and returns a new incomplete decl owned by the plugin. */
static decl_t *decl_begin(lua_State *L, int kind, const char *fn, size_t maxname)
{
  plugin_t *p = tk__plugin_of(L);
  if (!p->loading)
    luaL_error(L, "tunduk.%s: declarations are only allowed while the plugin loads", fn);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  size_t n;
  const char *name = get_name(L, 1, "name", maxname, &n, fn);
  for (size_t i = 0; i < p->ndecls[kind]; i++)
    if (p->decls[kind][i]->complete && strcmp(p->decls[kind][i]->name, name) == 0)
      luaL_error(L, "tunduk.%s: %s '%s' is declared twice", fn,
                 tk__plugin_kind_words[kind], name);
  if (p->ndecls[kind] >= TK_PLUGIN_MAX_DECLS)
    luaL_error(L, "tunduk.%s: more than %d declarations", fn, TK_PLUGIN_MAX_DECLS);
  decl_t *d = calloc(1, sizeof *d);
  if (!d) luaL_error(L, "out of memory");
  d->ref = LUA_NOREF;
  d->plugin = p;
  p->decls[kind][p->ndecls[kind]++] = d; /* owned by p from here on */
  d->name = dup_or_raise(L, name, n);
  d->pub.kind = kind;
  d->pub.name = d->name;
  d->pub.plugin = p->name;
  return d;
}

/* Moves t[key] (nil or a function; required if need) into the callback
 * table on top of the stack. Returns 1 if there is one. */
static int take_callback(lua_State *L, const char *key, int need, const char *fn)
{
  lua_pushstring(L, key);
  int t = lua_rawget(L, 1);
  if (t == LUA_TNIL && !need) {
    lua_pop(L, 1);
    return 0;
  }
  if (t != LUA_TFUNCTION) luaL_error(L, "tunduk.%s: '%s' must be a function", fn, key);
  lua_setfield(L, -2, key);
  return 1;
}

static void decl_finish(lua_State *L, decl_t *d)
{
  d->ref = luaL_ref(L, LUA_REGISTRYINDEX); /* pops the callback table */
  d->complete = 1;
}

static int field_kind(const char *s)
{
  for (int i = 0; field_kinds[i]; i++)
    if (strcmp(s, field_kinds[i]) == 0) return i;
  return -1;
}

static int cmp_field(const void *a, const void *b)
{
  return strcmp(((const tk_plugin_field_t *)a)->name,
                ((const tk_plugin_field_t *)b)->name);
}

/* Where a field table sits: a content type's field, what one item of a
 * list field is, or a field of an object item. */
enum { LV_FIELD = 0, LV_ITEMS = 1, LV_SUB = 2 };

static const char *const level_keys[3][8] = {
    {"kind", "label", "values", "value_labels", "type", "items", NULL},
    {"kind", "values", "value_labels", "type", "fields", "order", NULL},
    {"kind", "label", "required", "values", "value_labels", "type", NULL}};
static const char *const level_kinds[3] = {
    "text, date, datetime, enum, integer, boolean, list, ref",
    "text, date, datetime, enum, integer, boolean, ref, object",
    "text, date, datetime, enum, integer, boolean, ref"};

static int level_kind_ok(int level, int kind)
{
  if (kind < 0) return 0;
  if (level == LV_FIELD) return kind != TK_FIELD_OBJECT;
  if (level == LV_ITEMS) return kind != TK_FIELD_LIST;
  return kind != TK_FIELD_LIST && kind != TK_FIELD_OBJECT;
}

/* Every key of the table at t must be one of allowed (a misspelt key is a
 * load error, not a silently missing label). */
static void check_keys(lua_State *L, int t, const char *const *allowed, const char *where)
{
  t = lua_absindex(L, t);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      luaL_error(L, "%s: keys must be names (one of: %s)", where, allowed[0]);
    const char *k = lua_tostring(L, -1);
    int ok = 0;
    for (size_t i = 0; allowed[i] && !ok; i++)
      ok = strcmp(k, allowed[i]) == 0;
    if (!ok) {
      char known[160];
      size_t at = 0;
      known[0] = 0;
      for (size_t i = 0; allowed[i] && at < sizeof known - 1; i++)
        at += (size_t)snprintf(known + at, sizeof known - at, "%s%s", i ? ", " : "",
                               allowed[i]);
      luaL_error(L, "%s: unknown key '%s' (known: %s)", where, k, known);
    }
  }
}

static int utf8_text(const char *s, size_t n)
{
  json_t *j = strlen(s) == n ? json_stringn(s, n) : NULL; /* jansson checks UTF-8 */
  json_decref(j);
  return j != NULL;
}

/* A string at idx: 1..max bytes of UTF-8, no NUL; a copy. */
static char *text_dup(lua_State *L, int idx, size_t max, const char *where,
                      const char *what)
{
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  if (n == 0 || n > max || !utf8_text(s, n))
    luaL_error(L, "%s: %s must be 1 to %d bytes of UTF-8 text", where, what, (int)max);
  return dup_or_raise(L, s, n);
}

/* A label at idx: nil, a string (every language) or { en = , ru = , ky = }
 * (en required). */
static void read_labels(lua_State *L, int idx, tk_plugin_labels_t *out, const char *where)
{
  idx = lua_absindex(L, idx);
  int t = lua_type(L, idx);
  if (t == LUA_TNIL) return;
  if (t == LUA_TSTRING) {
    out->v[0] = text_dup(L, idx, TK_PLUGIN_MAX_LABEL, where, "'label'");
    return;
  }
  if (t != LUA_TTABLE)
    luaL_error(L,
               "%s: 'label' must be a string or a table { en = ..., ru = ..., ky = ... }",
               where);
  char w[200];
  snprintf(w, sizeof w, "%s: 'label'", where);
  check_keys(L, idx, tk_plugin_langs, w);
  for (int i = 0; i < TK_PLUGIN_NLANGS; i++) {
    lua_pushstring(L, tk_plugin_langs[i]);
    int lt = lua_rawget(L, idx);
    char what[16];
    snprintf(what, sizeof what, "'%s'", tk_plugin_langs[i]);
    if (lt == LUA_TNIL && i == 0)
      luaL_error(L, "%s needs 'en' (the English label; ru and ky fall back to it)", w);
    if (lt == LUA_TSTRING)
      out->v[i] = text_dup(L, -1, TK_PLUGIN_MAX_LABEL, w, what);
    else if (lt != LUA_TNIL)
      luaL_error(L, "%s: %s must be a string", w, what);
    lua_pop(L, 1);
  }
}

/* values = {...} and value_labels = { value = label, ... } of an enum. */
static void read_enum(lua_State *L, int t, tk_plugin_field_t *f, const char *where)
{
  lua_pushliteral(L, "values");
  if (lua_rawget(L, t) != LUA_TTABLE) luaL_error(L, "%s needs a values list", where);
  lua_Integer nv = (lua_Integer)lua_rawlen(L, -1);
  if (nv < 1 || nv > TK_PLUGIN_MAX_ENUM)
    luaL_error(L, "%s needs 1 to %d values", where, TK_PLUGIN_MAX_ENUM);
  const char **vals = calloc((size_t)nv, sizeof *vals);
  if (!vals) luaL_error(L, "out of memory");
  f->values = vals;
  for (lua_Integer i = 1; i <= nv; i++) {
    if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
      luaL_error(L, "%s: values must be strings", where);
    char what[32];
    snprintf(what, sizeof what, "value %d", (int)i);
    vals[i - 1] = text_dup(L, -1, TK_PLUGIN_MAX_LABEL, where, what);
    f->nvalues++;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_pushliteral(L, "value_labels");
  int lt = lua_rawget(L, t);
  if (lt == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (lt != LUA_TTABLE)
    luaL_error(L, "%s: 'value_labels' must be a table { value = label, ... }", where);
  int vl = lua_gettop(L);
  tk_plugin_labels_t *labels = calloc(f->nvalues, sizeof *labels);
  if (!labels) luaL_error(L, "out of memory");
  f->value_labels = labels;
  lua_pushnil(L);
  while (lua_next(L, vl)) {
    size_t k = f->nvalues;
    if (lua_type(L, -2) == LUA_TSTRING) {
      const char *key = lua_tostring(L, -2);
      for (k = 0; k < f->nvalues && strcmp(f->values[k], key) != 0; k++)
        ;
    }
    if (k == f->nvalues) {
      const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
      luaL_error(L, "%s: value_labels: '%s' is not one of its values", where, key);
    }
    char w[240];
    snprintf(w, sizeof w, "%s: value_labels '%s'", where, f->values[k]);
    if (lua_type(L, -1) == LUA_TNIL) luaL_error(L, "%s: no label", w);
    read_labels(L, -1, &labels[k], w);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static void read_field(lua_State *L, int v, tk_plugin_field_t *f, int level,
                       const char *where);

/* fields = { name = "kind" | {...} } of an object item, then its `order`. */
static void read_subfields(lua_State *L, int t, tk_plugin_field_t *f, const char *where)
{
  lua_pushliteral(L, "fields");
  if (lua_rawget(L, t) != LUA_TTABLE)
    luaL_error(L, "%s: object items need { kind = \"object\", fields = { name = ... } }",
               where);
  int ft = lua_gettop(L);
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, ft)) {
    lua_pop(L, 1);
    if (++n > TK_PLUGIN_MAX_SUBFIELDS)
      luaL_error(L, "%s: more than %d fields", where, TK_PLUGIN_MAX_SUBFIELDS);
  }
  if (n == 0) luaL_error(L, "%s: an object item needs at least one field", where);
  tk_plugin_field_t *sub = calloc(n, sizeof *sub);
  if (!sub) luaL_error(L, "out of memory");
  f->sub = sub;
  f->nsub = n; /* zeroed entries free as nothing */
  size_t i = 0;
  lua_pushnil(L);
  while (lua_next(L, ft)) {
    size_t kn;
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "%s: field names must be strings", where);
    const char *k = lua_tolstring(L, -2, &kn);
    if (kn == 0 || kn > TK_PLUGIN_MAX_NAME || strlen(k) != kn)
      luaL_error(L, "%s: field name must be 1 to %d bytes, no NUL", where,
                 TK_PLUGIN_MAX_NAME);
    sub[i].name = dup_or_raise(L, k, kn);
    char w[240];
    snprintf(w, sizeof w, "%s field '%s'", where, k);
    read_field(L, -1, &sub[i], LV_SUB, w);
    i++;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  qsort(sub, n, sizeof *sub, cmp_field);
  /* order = { "date", ... }: the sub-fields a form shows first */
  lua_pushliteral(L, "order");
  int ot = lua_rawget(L, t);
  if (ot == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (ot != LUA_TTABLE)
    luaL_error(L, "%s: 'order' must be a list of its field names", where);
  lua_Integer no = (lua_Integer)lua_rawlen(L, -1);
  if (no > (lua_Integer)n)
    luaL_error(L, "%s: 'order' names more fields than it has", where);
  size_t pos[TK_PLUGIN_MAX_SUBFIELDS];
  unsigned char used[TK_PLUGIN_MAX_SUBFIELDS] = {0};
  for (lua_Integer j = 1; j <= no; j++) {
    if (lua_rawgeti(L, -1, j) != LUA_TSTRING)
      luaL_error(L, "%s: 'order' must be a list of its field names", where);
    const char *name = lua_tostring(L, -1);
    size_t k;
    for (k = 0; k < n && strcmp(sub[k].name, name) != 0; k++)
      ;
    if (k == n)
      luaL_error(L, "%s: 'order' names '%s', not one of its fields", where, name);
    if (used[k]) luaL_error(L, "%s: 'order' names '%s' twice", where, name);
    used[k] = 1;
    pos[j - 1] = k;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  tk_plugin_field_t tmp[TK_PLUGIN_MAX_SUBFIELDS];
  size_t at = 0;
  for (lua_Integer j = 0; j < no; j++)
    tmp[at++] = sub[pos[j]];
  for (size_t k = 0; k < n; k++)
    if (!used[k]) tmp[at++] = sub[k];
  memcpy(sub, tmp, n * sizeof *sub);
}

/* One field table (or kind string) at v into f, whose name is set; where
 * names it in messages ("tunduk.content_type: field 'hearings'"). */
static void read_field(lua_State *L, int v, tk_plugin_field_t *f, int level,
                       const char *where)
{
  v = lua_absindex(L, v);
  int vt = lua_type(L, v);
  const char *kind = NULL;
  if (vt == LUA_TSTRING) {
    kind = lua_tostring(L, v);
  } else if (vt == LUA_TTABLE) {
    check_keys(L, v, level_keys[level], where);
    lua_pushliteral(L, "kind");
    if (lua_rawget(L, v) == LUA_TSTRING) kind = lua_tostring(L, -1);
    lua_pop(L, 1); /* kind stays referenced by the field table */
  }
  f->kind = kind ? field_kind(kind) : -1;
  if (!level_kind_ok(level, f->kind))
    luaL_error(L, "%s needs a kind (%s)", where, level_kinds[level]);
  if (vt != LUA_TTABLE) {
    if (f->kind == TK_FIELD_ENUM)
      luaL_error(L, "%s: an enum needs { kind = \"enum\", values = {...} }", where);
    if (f->kind == TK_FIELD_OBJECT)
      luaL_error(L,
                 "%s: object items need { kind = \"object\", fields = { name = ... } }",
                 where);
    return;
  }
  if (level != LV_ITEMS) {
    lua_pushliteral(L, "label");
    lua_rawget(L, v);
    read_labels(L, -1, &f->labels, where);
    f->label = f->labels.v[0];
    lua_pop(L, 1);
  }
  if (level == LV_SUB) {
    lua_pushliteral(L, "required");
    int rt = lua_rawget(L, v);
    if (rt != LUA_TNIL && rt != LUA_TBOOLEAN)
      luaL_error(L, "%s: 'required' must be true or false", where);
    f->required = lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  if (f->kind == TK_FIELD_ENUM) {
    read_enum(L, v, f, where);
  } else {
    static const char *const enum_only[] = {"values", "value_labels"};
    for (int i = 0; i < 2; i++) {
      lua_pushstring(L, enum_only[i]);
      if (lua_rawget(L, v) != LUA_TNIL)
        luaL_error(L, "%s: '%s' is only for enum fields", where, enum_only[i]);
      lua_pop(L, 1);
    }
  }
  lua_pushliteral(L, "type");
  if (lua_rawget(L, v) != LUA_TNIL) {
    size_t n = 0;
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : NULL;
    if (f->kind != TK_FIELD_REF)
      luaL_error(L, "%s: 'type' is only for ref fields (the content type referred to)",
                 where);
    if (!s || strlen(s) != n || tk_name_check("type", s, TK_MAX_TYPE_LEN, 0, NULL) != 0)
      luaL_error(L,
                 "%s: 'type' must be a content type name (1 to %d bytes of a-z, 0-9, '_' "
                 "and '-')",
                 where, TK_MAX_TYPE_LEN);
    f->ref_type = dup_or_raise(L, s, n);
  }
  lua_pop(L, 1);
  if (level == LV_FIELD) {
    lua_pushliteral(L, "items");
    if (lua_rawget(L, v) != LUA_TNIL) {
      if (f->kind != TK_FIELD_LIST)
        luaL_error(L, "%s: 'items' is only for list fields", where);
      tk_plugin_field_t *it = calloc(1, sizeof *it);
      if (!it) luaL_error(L, "out of memory");
      f->items = it;
      char w[200];
      snprintf(w, sizeof w, "%s items", where);
      read_field(L, -1, it, LV_ITEMS, w);
    }
    lua_pop(L, 1);
  }
  if (level == LV_ITEMS) {
    if (f->kind == TK_FIELD_OBJECT) {
      read_subfields(L, v, f, where);
    } else {
      static const char *const object_only[] = {"fields", "order"};
      for (int i = 0; i < 2; i++) {
        lua_pushstring(L, object_only[i]);
        if (lua_rawget(L, v) != LUA_TNIL)
          luaL_error(L, "%s: '%s' is only for object items", where, object_only[i]);
        lua_pop(L, 1);
      }
    }
  }
}

/* fields = { name = "kind" | { kind = "enum", values = {...} }, ... } */
static void read_fields(lua_State *L, decl_t *d)
{
  lua_pushliteral(L, "fields");
  int t = lua_rawget(L, 1);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (t != LUA_TTABLE) luaL_error(L, "tunduk.content_type: 'fields' must be a table");
  int ft = lua_gettop(L);
  size_t n = 0;
  lua_pushnil(L);
  while (lua_next(L, ft)) {
    lua_pop(L, 1);
    if (++n > TK_PLUGIN_MAX_FIELDS)
      luaL_error(L, "tunduk.content_type: more than %d fields", TK_PLUGIN_MAX_FIELDS);
  }
  d->fields = calloc(n ? n : 1, sizeof *d->fields);
  if (!d->fields) luaL_error(L, "out of memory");
  lua_pushnil(L);
  while (lua_next(L, ft)) {
    if (lua_type(L, -2) != LUA_TSTRING)
      luaL_error(L, "tunduk.content_type: field names must be strings");
    size_t kn;
    const char *k = lua_tolstring(L, -2, &kn);
    if (kn == 0 || kn > TK_PLUGIN_MAX_NAME || strlen(k) != kn)
      luaL_error(L, "tunduk.content_type: field name must be 1 to %d bytes, no NUL",
                 TK_PLUGIN_MAX_NAME);
    tk_plugin_field_t *f = &d->fields[d->nfields_alloc];
    f->name = dup_or_raise(L, k, kn);
    d->nfields_alloc++;
    char where[160];
    snprintf(where, sizeof where, "tunduk.content_type: field '%s'", f->name);
    read_field(L, -1, f, LV_FIELD, where);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  qsort(d->fields, d->nfields_alloc, sizeof *d->fields, cmp_field);
  d->pub.fields = d->fields;
  d->pub.nfields = d->nfields_alloc;
}

/* order = { "case_number", ... }: the fields a form shows first. */
static void read_order(lua_State *L, decl_t *d)
{
  lua_pushliteral(L, "order");
  int t = lua_rawget(L, 1);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (t != LUA_TTABLE)
    luaL_error(L, "tunduk.content_type: 'order' must be a list of field names");
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  if (n > (lua_Integer)d->nfields_alloc)
    luaL_error(L, "tunduk.content_type: 'order' names more fields than are declared");
  const char **v = calloc(n ? (size_t)n : 1, sizeof *v);
  if (!v) luaL_error(L, "out of memory");
  d->pub.order = v;
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
      luaL_error(L, "tunduk.content_type: 'order' must be a list of field names");
    const char *name = lua_tostring(L, -1);
    tk_plugin_field_t key = {.name = name};
    if (!d->nfields_alloc ||
        !bsearch(&key, d->fields, d->nfields_alloc, sizeof *d->fields, cmp_field))
      luaL_error(L, "tunduk.content_type: 'order' names '%s', not a declared field",
                 name);
    for (size_t k = 0; k < d->pub.norder; k++)
      if (strcmp(v[k], name) == 0)
        luaL_error(L, "tunduk.content_type: 'order' names '%s' twice", name);
    v[i - 1] = dup_or_raise(L, name, strlen(name));
    d->pub.norder++;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static void read_required(lua_State *L, decl_t *d)
{
  lua_pushliteral(L, "required");
  int t = lua_rawget(L, 1);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (t != LUA_TTABLE)
    luaL_error(L, "tunduk.content_type: 'required' must be a list of names");
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
      luaL_error(L, "tunduk.content_type: 'required' must be a list of names");
    const char *name = lua_tostring(L, -1);
    tk_plugin_field_t key = {.name = name};
    tk_plugin_field_t *f = d->nfields_alloc ? bsearch(&key, d->fields, d->nfields_alloc,
                                                      sizeof *d->fields, cmp_field)
                                            : NULL;
    if (!f)
      luaL_error(L, "tunduk.content_type: required field '%s' is not declared in fields",
                 name);
    f->required = 1;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* extra_fields = true: records may hold fields the type does not declare. */
static void read_extra_fields(lua_State *L, decl_t *d)
{
  lua_pushliteral(L, "extra_fields");
  int t = lua_rawget(L, 1);
  if (t != LUA_TNIL && t != LUA_TBOOLEAN)
    luaL_error(L, "tunduk.content_type: 'extra_fields' must be true or false");
  d->pub.extra_fields = lua_toboolean(L, -1);
  lua_pop(L, 1);
}

static int l_content_type(lua_State *L)
{
  decl_t *d = decl_begin(L, TK_PLUGIN_TYPE, "content_type", TK_MAX_TYPE_LEN);
  lua_pushliteral(L, "label");
  lua_rawget(L, 1);
  read_labels(L, -1, &d->pub.labels, "tunduk.content_type");
  lua_pop(L, 1);
  read_fields(L, d);
  read_order(L, d);
  read_required(L, d);
  read_extra_fields(L, d);
  lua_newtable(L);
  d->pub.has_validate = take_callback(L, "validate", 0, "content_type");
  d->pub.has_summary = take_callback(L, "summary", 0, "content_type");
  d->pub.has_merge = take_callback(L, "merge", 0, "content_type");
  decl_finish(L, d);
  return 0;
}

static int l_export_decl(lua_State *L)
{
  decl_t *d = decl_begin(L, TK_PLUGIN_EXPORT, "export", TK_PLUGIN_MAX_NAME);
  lua_pushliteral(L, "media_type");
  int t = lua_rawget(L, 1);
  size_t n = 0;
  const char *mt = "application/octet-stream";
  if (t == LUA_TSTRING) {
    mt = lua_tolstring(L, -1, &n);
    if (n == 0 || n > 127 || strlen(mt) != n)
      luaL_error(L, "tunduk.export: 'media_type' must be 1 to 127 bytes");
  } else if (t != LUA_TNIL) {
    luaL_error(L, "tunduk.export: 'media_type' must be a string");
  }
  d->media_type = dup_or_raise(L, mt, strlen(mt));
  d->pub.media_type = d->media_type;
  lua_pop(L, 1);
  lua_newtable(L);
  take_callback(L, "write", 1, "export");
  decl_finish(L, d);
  return 0;
}

/* reads = { "type", ... }: the content types whose records the rule sees;
 * absent: every type. */
static void read_reads(lua_State *L, decl_t *d)
{
  lua_pushliteral(L, "reads");
  int t = lua_rawget(L, 1);
  if (t == LUA_TNIL) {
    d->pub.reads_all = 1;
    lua_pop(L, 1);
    return;
  }
  if (t != LUA_TTABLE)
    luaL_error(L, "tunduk.moderation: 'reads' must be a list of content type names");
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  if (n > TK_PLUGIN_MAX_READS)
    luaL_error(L, "tunduk.moderation: 'reads' names more than %d types",
               TK_PLUGIN_MAX_READS);
  const char **v = calloc(n ? (size_t)n : 1, sizeof *v);
  if (!v) luaL_error(L, "out of memory");
  d->pub.reads = v;
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    size_t len = 0;
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
    if (!s || strlen(s) != len || tk_name_check("type", s, TK_MAX_TYPE_LEN, 0, NULL) != 0)
      luaL_error(L,
                 "tunduk.moderation: 'reads' entry %d must be a content type name (1 to "
                 "%d bytes of a-z, 0-9, '_' and '-')",
                 (int)i, TK_MAX_TYPE_LEN);
    v[i - 1] = dup_or_raise(L, s, len);
    d->pub.nreads++;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static int l_moderation_decl(lua_State *L)
{
  decl_t *d = decl_begin(L, TK_PLUGIN_MODERATION, "moderation", TK_PLUGIN_MAX_NAME);
  read_reads(L, d);
  lua_newtable(L);
  take_callback(L, "check", 1, "moderation");
  decl_finish(L, d);
  return 0;
}
