/*
 * plugin.c: the plugin host's sets and calls (contract in tk_plugin.h). Owns
 * plugin sets: loading a plugin (a new state from plugin_sandbox.c, its text
 * chunk run under the per-call limits), loading a folder, the declarations
 * index, the host's own field checks, and the calls into plugins (validate,
 * summary, merge, export, moderation) with their error reporting.
 *
 * Invariants:
 *  - every Lua API call that may raise runs inside lua_pcall: each call into
 *    a plugin is a protected C function (op_*) that converts inputs, calls
 *    the plugin's callback in a nested lua_pcall and reads its results, so
 *    neither a plugin error nor a memory error ever reaches Lua's panic;
 *  - each call starts with a fresh budget and p->stop cleared; a call in
 *    which a limit was hit fails even if the plugin caught the error;
 *  - error values are described without calling metamethods unprotected;
 *  - C data reachable from Lua closures (the export's records/out) is looked
 *    up through the plugin and a serial number, never a raw pointer that
 *    could outlive its call;
 *  - a set's declaration names are unique per kind; a set changes only while
 *    loading.
 *
 * Threads: see tk_plugin.h (a mutex per plugin around every call).
 */
#include "plugin_host.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIN_MEM (256u << 10) /* smallest state cap accepted in limits */

/* ---- small helpers ---------------------------------------------------------- */

void tk_plugin_limits_default(tk_plugin_limits_t *l)
{
  l->mem_bytes = 16u << 20;
  l->instructions = 10000000;
  l->call_ms = 2000;
  l->max_string = 1u << 20;
  l->max_pattern_subject = 1u << 20;
}

/* Records a plugin failure: "plugin <name>: <what>: <detail>". */
static int call_fail(call_t *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int call_fail(call_t *c, int code, const char *fmt, ...)
{
  char detail[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  c->rc = tk_err_set(&c->e, code, "plugin %s: %s: %s", c->p->name, c->what, detail);
  return c->rc;
}

/* Describes the error value on top of the stack in buf, and pops it. Never
 * calls a metamethod unprotected: a __tostring runs in its own pcall (under
 * the call's limits) and a failure there gives a generic message. Runs in
 * protected mode (pushing may raise a memory error). */
static void describe_error(lua_State *L, char *buf, size_t n)
{
  int t = lua_type(L, -1);
  if (t == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    tk__plugin_copy_line(buf, n, s, len);
  } else if (t == LUA_TNUMBER) {
    if (lua_isinteger(L, -1))
      snprintf(buf, n, "%lld", (long long)lua_tointeger(L, -1));
    else
      snprintf(buf, n, "%.14g", (double)lua_tonumber(L, -1));
  } else if (luaL_getmetafield(L, -1, "__tostring") != LUA_TNIL) {
    lua_pushvalue(L, -2);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
      size_t len;
      const char *s = lua_tolstring(L, -1, &len);
      tk__plugin_copy_line(buf, n, s, len);
    } else {
      snprintf(buf, n, "(error object is a %s value whose __tostring failed)",
               lua_typename(L, t));
    }
    lua_pop(L, 1);
  } else {
    snprintf(buf, n, "(error object is a %s value)", lua_typename(L, t));
  }
  lua_pop(L, 1);
}

/* After a failed lua_pcall with status st and the error value on top:
 * records the failure in c, naming the limit if one was hit. */
static int fail_status(lua_State *L, call_t *c, int st)
{
  plugin_t *p = c->p;
  char lim[128], msg[400];
  if (c->rc < 0) { /* the host already recorded why (an export's reader or writer) */
    lua_pop(L, 1);
    return c->rc;
  }
  const char *l = tk__plugin_limit_detail(p, lim, sizeof lim);
  if (l) {
    lua_pop(L, 1);
    return call_fail(c, TK_EPLUGIN, "%s", l);
  }
  int memerr = st == LUA_ERRMEM;
  if (!memerr && p->mem_refused && lua_type(L, -1) == LUA_TSTRING &&
      strcmp(lua_tostring(L, -1), "not enough memory") == 0)
    memerr = 1;
  if (memerr) {
    lua_pop(L, 1);
    return call_fail(c, TK_EPLUGIN, "memory limit exceeded (%zu bytes)",
                     p->lim.mem_bytes);
  }
  describe_error(L, msg, sizeof msg);
  return call_fail(c, TK_EPLUGIN, "%s", msg);
}

/* Calls the function under nargs arguments, from inside an op_* function.
 * 0, or the failure recorded in c (stack: the results, or nothing). */
static int call_plugin(lua_State *L, call_t *c, int nargs, int nres)
{
  char lim[128];
  int st = lua_pcall(L, nargs, nres, 0);
  if (st != LUA_OK) return fail_status(L, c, st);
  /* A limit hit in a coroutine the plugin caught still fails the call. */
  if (c->rc == 0 && tk__plugin_limit_detail(c->p, lim, sizeof lim))
    return call_fail(c, TK_EPLUGIN, "%s", lim);
  return c->rc;
}

static int run_call(plugin_t *p, lua_CFunction fn, call_t *c)
{
  pthread_mutex_lock(&p->mu);
  lua_State *L = p->L;
  int top = lua_gettop(L);
  c->p = p;
  c->rc = 0;
  p->stop = STOP_NONE;
  p->mem_refused = 0;
  tk__plugin_budget_reset(p);
  lua_sethook(L, tk__plugin_hook, LUA_MASKCOUNT, tk__plugin_hook_every(p));
  if (!lua_checkstack(L, 8)) {
    call_fail(c, TK_ENOMEM, "out of memory for the Lua stack");
    goto done;
  }
  lua_pushcfunction(L, fn);
  lua_pushlightuserdata(L, c);
  int st = lua_pcall(L, 1, 0, 0);
  if (st != LUA_OK) {
    if (c->rc == 0) {
      /* A failure of the host side (a memory error while converting): the
       * error value is a string we raised or Lua's memory message. */
      char lim[128];
      const char *l = tk__plugin_limit_detail(p, lim, sizeof lim);
      if (l)
        call_fail(c, TK_EPLUGIN, "%s", l);
      else if (st == LUA_ERRMEM || p->mem_refused)
        call_fail(c, TK_EPLUGIN, "memory limit exceeded (%zu bytes)", p->lim.mem_bytes);
      else
        call_fail(c, TK_EPLUGIN, "%s",
                  lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "host error");
    }
  } else if (c->rc == 0 && p->stop) {
    char lim[128];
    call_fail(c, TK_EPLUGIN, "%s", tk__plugin_limit_detail(p, lim, sizeof lim));
  } else if (c->rc == 0 && tk__plugin_now_ns() > p->deadline_ns) {
    /* A long C function (a pattern match) finished past the deadline. */
    p->stop = STOP_TIME;
    call_fail(c, TK_EPLUGIN, "time limit exceeded (%u ms per call)",
              (unsigned)p->lim.call_ms);
  }
done:
  lua_settop(L, top);
  p->export_call = NULL;
  pthread_mutex_unlock(&p->mu);
  return c->rc;
}

/* ---- plugins ----------------------------------------------------------------- */

static void plugin_free(plugin_t *p)
{
  if (!p) return;
  if (p->L) {
    p->stop = STOP_CLOSING; /* anything that still runs stops at once */
    lua_close(p->L);
  }
  for (int k = 0; k < TK_PLUGIN_NKINDS; k++)
    for (size_t i = 0; i < p->ndecls[k]; i++)
      tk__plugin_decl_free(p->decls[k][i]);
  pthread_mutex_destroy(&p->mu);
  if (!p->src_borrowed) free(p->src);
  free(p->layer);
  free(p->path);
  free(p->overrides);
  free(p);
}

static int op_load(lua_State *L)
{
  call_t *c = lua_touserdata(L, 1);
  plugin_t *p = c->p;
  tk__plugin_open_sandbox(L);
  char chunk[TK_PLUGIN_MAX_NAME + 2];
  snprintf(chunk, sizeof chunk, "@%s", p->name);
  int st = luaL_loadbufferx(L, c->src, c->srcn, chunk, "t");
  if (st != LUA_OK) {
    char msg[400];
    if (st == LUA_ERRMEM)
      snprintf(msg, sizeof msg, "memory limit exceeded while compiling");
    else
      describe_error(L, msg, sizeof msg);
    c->rc = tk_err_set(&c->e, st == LUA_ERRMEM ? TK_EPLUGIN : TK_EFORMAT, "plugin %s: %s",
                       p->name, msg);
    return 0;
  }
  p->loading = 1;
  int rc = call_plugin(L, c, 0, 0);
  p->loading = 0;
  if (rc < 0) return 0;
  return 0;
}

static decl_t *set_find(const tk_plugin_set_t *s, int kind, const char *name)
{
  if (!s || kind < 0 || kind >= TK_PLUGIN_NKINDS || !name) return NULL;
  for (size_t i = 0; i < s->ndecls[kind]; i++)
    if (strcmp(s->decls[kind][i]->name, name) == 0) return s->decls[kind][i];
  return NULL;
}

int tk_plugin_set_new(tk_plugin_set_t **out, const tk_plugin_limits_t *lim)
{
  tk_plugin_set_t *s = calloc(1, sizeof *s);
  *out = NULL;
  if (!s) return TK_ENOMEM;
  tk_plugin_limits_default(&s->lim);
  if (lim) {
    if (lim->mem_bytes)
      s->lim.mem_bytes = lim->mem_bytes < MIN_MEM ? MIN_MEM : lim->mem_bytes;
    if (lim->instructions) s->lim.instructions = lim->instructions;
    if (lim->call_ms) s->lim.call_ms = lim->call_ms;
    if (lim->max_string) s->lim.max_string = lim->max_string;
    if (lim->max_pattern_subject) s->lim.max_pattern_subject = lim->max_pattern_subject;
  }
  *out = s;
  return 0;
}

int tk_plugin_set_new_jailed(tk_plugin_set_t **out, const tk_plugin_limits_t *lim,
                             unsigned nworkers, tk_err_t *err)
{
  int rc = tk_plugin_set_new(out, lim);
  if (rc) return tk_err_set(err, rc, "plugins: out of memory");
  if ((rc = tk__plugin_pool_new(&(*out)->pool, &(*out)->lim, nworkers, err)) < 0) {
    tk_plugin_set_free(*out);
    *out = NULL;
  }
  return rc;
}

int tk_plugin_set_jailed(const tk_plugin_set_t *s)
{
  return s && s->pool;
}

void tk_plugin_set_free(tk_plugin_set_t *s)
{
  if (!s) return;
  tk__plugin_pool_free(s->pool);
  for (size_t i = 0; i < s->nplugins; i++)
    plugin_free(s->plugins[i]);
  free(s->plugins);
  for (int k = 0; k < TK_PLUGIN_NKINDS; k++)
    free(s->decls[k]);
  for (size_t i = 0; i < s->nerrors; i++)
    free(s->errors[i]);
  free(s->errors);
  free(s);
}

int tk__plugin_set_append(tk_plugin_set_t *s, plugin_t *p, tk_err_t *err)
{
  const char *name = p->name;
  /* Names are unique across the set: a clash refuses the newcomer. */
  for (int k = 0; k < TK_PLUGIN_NKINDS; k++)
    for (size_t i = 0; i < p->ndecls[k]; i++) {
      decl_t *d = p->decls[k][i], *other;
      if (!d->complete) continue;
      if ((other = set_find(s, k, d->name))) {
        return tk_err_set(err, TK_EPLUGIN, "plugin %s: %s '%s' is already declared by %s",
                          name, tk__plugin_kind_words[k], d->name, other->plugin->name);
      }
    }
  plugin_t **np = realloc(s->plugins, (s->nplugins + 1) * sizeof *np);
  if (!np) {
    return tk_err_set(err, TK_ENOMEM, "plugin %s: out of memory", name);
  }
  s->plugins = np;
  for (int k = 0; k < TK_PLUGIN_NKINDS; k++) {
    decl_t **nd = realloc(s->decls[k], (s->ndecls[k] + p->ndecls[k] + 1) * sizeof *nd);
    if (!nd) {
      return tk_err_set(err, TK_ENOMEM, "plugin %s: out of memory", name);
    }
    s->decls[k] = nd;
  }
  for (int k = 0; k < TK_PLUGIN_NKINDS; k++)
    for (size_t i = 0; i < p->ndecls[k]; i++)
      if (p->decls[k][i]->complete) s->decls[k][s->ndecls[k]++] = p->decls[k][i];
  s->plugins[s->nplugins++] = p;
  return 0;
}

plugin_t *tk__plugin_shadow_new(const char *name, const tk_plugin_limits_t *lim)
{
  plugin_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  snprintf(p->name, sizeof p->name, "%s", name);
  p->lim = *lim;
  pthread_mutex_init(&p->mu, NULL);
  return p;
}

/* Keeps a copy of a loaded plugin's source (see plugin_t.src); a copy that
 * cannot be made leaves src NULL: only a later failed reload misses it. */
static void keep_source(plugin_t *p, const char *src, size_t n)
{
  if ((p->src = malloc(n + 1))) {
    if (n) memcpy(p->src, src, n);
    p->src[n] = 0;
    p->srcn = n;
  }
}

int tk_plugin_set_add_source(tk_plugin_set_t *s, const char *name, const char *src,
                             size_t n, tk_err_t *err)
{
  call_t c;
  plugin_t *p = NULL;
  int rc = 0;
  memset(&c, 0, sizeof c);
  if (!s || !name || (!src && n))
    return tk_err_set(err, TK_EINVAL, "plugin: bad arguments");
  size_t nl = strlen(name);
  if (nl == 0 || nl > TK_PLUGIN_MAX_NAME)
    return tk_err_set(err, TK_EINVAL, "plugin name '%.*s' must be 1 to %d bytes", 80,
                      name, TK_PLUGIN_MAX_NAME);
  if (n > TK_PLUGIN_MAX_SOURCE)
    return tk_err_set(err, TK_ELIMIT, "plugin %s: %zu bytes is over the limit of %u",
                      name, n, TK_PLUGIN_MAX_SOURCE);
  if (s->pool) {
    return tk__plugin_pool_add(s, name, src ? src : "", n, err); /* keeps the source */
  }
  p = calloc(1, sizeof *p);
  if (!p) return tk_err_set(err, TK_ENOMEM, "plugin %s: out of memory", name);
  memcpy(p->name, name, nl + 1);
  p->lim = s->lim;
  pthread_mutex_init(&p->mu, NULL);
  p->L = lua_newstate(tk__plugin_alloc, p);
  if (!p->L) {
    rc = tk_err_set(err, TK_ENOMEM, "plugin %s: cannot create a Lua state", name);
    goto done;
  }
  lua_atpanic(p->L, tk__plugin_panic);
  lua_sethook(p->L, tk__plugin_hook, LUA_MASKCOUNT,
              tk__plugin_hook_every(p)); /* before any plugin code */

  c.src = src ? src : "";
  c.srcn = n;
  snprintf(c.what, sizeof c.what, "load");
  rc = run_call(p, op_load, &c);
  if (rc < 0) {
    if (err) *err = c.e;
    goto done;
  }
  if ((rc = tk__plugin_set_append(s, p, err)) < 0) goto done;
  keep_source(p, src, n);
  p = NULL;
  TK_LOG(TK_LOG_INFO, "plugin", "loaded plugin=%s", name);
done:
  plugin_free(p);
  return rc;
}

int tk__plugin_read_file(const char *path, char **out, size_t *outn, tk_err_t *err)
{
  int rc = 0, fd = -1;
  char *src = NULL;
  *out = NULL;
  *outn = 0;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rc = tk_err_set(err, TK_EIO, "plugin %s: cannot open: %s", path, strerror(errno));
    goto done;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    rc = tk_err_set(err, TK_EIO, "plugin %s: not a regular file", path);
    goto done;
  }
  if ((uint64_t)st.st_size > TK_PLUGIN_MAX_SOURCE) {
    rc = tk_err_set(err, TK_ELIMIT, "plugin %s: %lld bytes is over the limit of %u", path,
                    (long long)st.st_size, TK_PLUGIN_MAX_SOURCE);
    goto done;
  }
  size_t want = (size_t)st.st_size, got = 0;
  src = malloc(want + 1);
  if (!src) {
    rc = tk_err_set(err, TK_ENOMEM, "plugin %s: out of memory", path);
    goto done;
  }
  while (got < want) {
    ssize_t r = read(fd, src + got, want - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      rc = tk_err_set(err, TK_EIO, "plugin %s: read failed: %s", path,
                      r < 0 ? strerror(errno) : "file shrank");
      goto done;
    }
    got += (size_t)r;
  }
  *out = src;
  *outn = got;
  src = NULL;
done:
  if (fd >= 0) close(fd);
  free(src);
  return rc;
}

int tk_plugin_set_add_file(tk_plugin_set_t *s, const char *path, tk_err_t *err)
{
  char *src = NULL;
  size_t n = 0;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  int rc = tk__plugin_read_file(path, &src, &n, err);
  if (!rc) rc = tk_plugin_set_add_source(s, base, src, n, err);
  free(src);
  return rc;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

plugin_t *tk__plugin_set_plugin(const tk_plugin_set_t *s, const char *name)
{
  for (size_t i = 0; s && i < s->nplugins; i++)
    if (strcmp(s->plugins[i]->name, name) == 0) return s->plugins[i];
  return NULL;
}

int tk__plugin_set_keep_error(tk_plugin_set_t *s, const char *msg)
{
  char **ne = realloc(s->errors, (s->nerrors + 1) * sizeof *ne);
  if (!ne) return TK_ENOMEM;
  s->errors = ne;
  if (!(s->errors[s->nerrors] = strdup(msg))) return TK_ENOMEM;
  s->nerrors++;
  return 0;
}

int tk_plugin_set_load_dir(tk_plugin_set_t *s, const char *dir, tk_err_t *err)
{
  int rc = 0;
  char **names = NULL;
  size_t n = 0;
  DIR *d = opendir(dir);
  if (!d) return tk_err_set(err, TK_EIO, "plugin folder %s: %s", dir, strerror(errno));
  names = calloc(TK_PLUGIN_MAX_FILES, sizeof *names);
  if (!names) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory");
    goto done;
  }
  struct dirent *de;
  while ((de = readdir(d))) {
    size_t len = strlen(de->d_name);
    if (de->d_name[0] == '.' || len < 5 || strcmp(de->d_name + len - 4, ".lua") != 0)
      continue;
    if (n == TK_PLUGIN_MAX_FILES) {
      rc = tk_err_set(err, TK_ELIMIT, "plugin folder %s: more than %d plugins", dir,
                      TK_PLUGIN_MAX_FILES);
      goto done;
    }
    if (!(names[n] = strdup(de->d_name))) {
      rc = tk_err_set(err, TK_ENOMEM, "out of memory");
      goto done;
    }
    n++;
  }
  qsort(names, n, sizeof *names, cmp_str);
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    tk_err_t e;
    tk_err_clear(&e);
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path) {
      tk_err_set(&e, TK_ELIMIT, "plugin %s: path too long", names[i]);
    } else {
      struct stat st;
      if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) continue;
      if (tk_plugin_set_add_file(s, path, &e) == 0) continue;
    }
    TK_LOG(TK_LOG_WARN, "plugin", "plugin not loaded: %s", e.msg);
    if (tk__plugin_set_keep_error(s, e.msg) < 0) {
      rc = tk_err_set(err, TK_ENOMEM, "out of memory");
      goto done;
    }
  }
done:
  closedir(d);
  if (names)
    for (size_t i = 0; i < n; i++)
      free(names[i]);
  free(names);
  return rc;
}

size_t tk_plugin_set_load_errors(const tk_plugin_set_t *s)
{
  return s ? s->nerrors : 0;
}

const char *tk_plugin_set_load_error(const tk_plugin_set_t *s, size_t i)
{
  return s && i < s->nerrors ? s->errors[i] : NULL;
}

size_t tk_plugin_set_count(const tk_plugin_set_t *s, int kind)
{
  if (!s || kind < 0 || kind >= TK_PLUGIN_NKINDS) return 0;
  return s->ndecls[kind];
}

const tk_plugin_decl_t *tk_plugin_set_decl(const tk_plugin_set_t *s, int kind, size_t i)
{
  if (i >= tk_plugin_set_count(s, kind)) return NULL;
  return &s->decls[kind][i]->pub;
}

const tk_plugin_decl_t *tk_plugin_set_find(const tk_plugin_set_t *s, int kind,
                                           const char *name)
{
  decl_t *d = set_find(s, kind, name);
  return d ? &d->pub : NULL;
}

/* ---- calls ------------------------------------------------------------------- */

/* Pushes the callback `key` of the call's declaration. */
static void push_callback(lua_State *L, call_t *c, const char *key)
{
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->d->ref);
  lua_getfield(L, -1, key);
  lua_remove(L, -2);
}

static void push_json(lua_State *L, call_t *c, json_t *v, const char *const *skip)
{
  if (!v) {
    lua_pushnil(L);
    return;
  }
  tk_err_t e;
  if (tk__plugin_json_push(L, v, skip, &e) < 0) luaL_error(L, "record: %s", e.msg);
}

static void push_meta(lua_State *L, const tk_plugin_meta_t *m)
{
  if (!m) {
    lua_pushnil(L);
    return;
  }
  lua_createtable(L, 0, 9);
  const struct {
    const char *k, *v;
  } strs[] = {{"record_id", m->record_id},
              {"revision_id", m->revision_id},
              {"type", m->type},
              {"vault", m->vault},
              {"author", m->author}};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
    if (strs[i].v) {
      lua_pushstring(L, strs[i].v);
      lua_setfield(L, -2, strs[i].k);
    }
  lua_pushinteger(L, (lua_Integer)(m->hlc > INT64_MAX ? INT64_MAX : m->hlc));
  lua_setfield(L, -2, "hlc");
  lua_pushinteger(L, (lua_Integer)(m->size > INT64_MAX ? INT64_MAX : m->size));
  lua_setfield(L, -2, "size");
  lua_pushinteger(L, (lua_Integer)m->generation);
  lua_setfield(L, -2, "generation");
  lua_pushinteger(L, (lua_Integer)m->nparents);
  lua_setfield(L, -2, "nparents");
}

/* meta.attachments of an export's record: {name=, size=} of each entry of
 * the body's attachment list (never a key or a chunk id), on the meta table
 * at the top of the stack. */
static void push_meta_attachments(lua_State *L, const json_t *body)
{
  json_t *list = json_object_get(body, "_attachments");
  size_t i, n = json_is_array(list) ? json_array_size(list) : 0;
  json_t *e;
  lua_createtable(L, (int)(n > 1024 ? 1024 : n), 0);
  json_array_foreach(list, i, e)
  {
    json_t *name = json_object_get(e, "name"), *size = json_object_get(e, "size");
    lua_createtable(L, 0, 2);
    if (json_is_string(name)) {
      lua_pushstring(L, json_string_value(name));
      lua_setfield(L, -2, "name");
    }
    if (json_is_integer(size)) {
      lua_pushinteger(L, (lua_Integer)json_integer_value(size));
      lua_setfield(L, -2, "size");
    }
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  lua_setfield(L, -2, "attachments");
}

/* If the value at idx is a genuine verdict: its kind ("accept", "reject",
 * "quarantine") with its reason copied to reason; else NULL. */
static const char *read_verdict(lua_State *L, int idx, char *reason, size_t rn)
{
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return NULL;
  luaL_getmetatable(L, TK__PLUGIN_VERDICT_MT);
  int genuine = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if (!genuine) return NULL;
  const char *kind = NULL;
  lua_pushliteral(L, "verdict");
  lua_rawget(L, idx);
  if (lua_type(L, -1) == LUA_TSTRING) {
    const char *k = lua_tostring(L, -1);
    if (!strcmp(k, "accept"))
      kind = "accept";
    else if (!strcmp(k, "reject"))
      kind = "reject";
    else if (!strcmp(k, "quarantine"))
      kind = "quarantine";
  }
  lua_pop(L, 1);
  lua_pushliteral(L, "reason");
  lua_rawget(L, idx);
  size_t n = 0;
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : "";
  tk__plugin_copy_line(reason, rn, s, n);
  lua_pop(L, 1);
  return kind;
}

/* One problem validate() gave: message a reason, field its place ("" or
 * NULL: found from the reason's "field 'X'"; else it must name a declared
 * field, optionally as X[N] or X[N].y, or it becomes ""). */
static void validate_problem(call_t *c, const char *field, const char *reason,
                             char *first, size_t cap, int *nfirst)
{
  char place[TK_PLUGIN_MAX_PATH];
  place[0] = 0;
  if (field && field[0]) {
    size_t n = strcspn(field, "[");
    char name[TK_PLUGIN_MAX_NAME + 1];
    if (n && n <= TK_PLUGIN_MAX_NAME) {
      memcpy(name, field, n);
      name[n] = 0;
      if (tk__plugin_field_find(c->d, name)) snprintf(place, sizeof place, "%s", field);
    }
  } else {
    tk__plugin_reason_field(c->d, reason, place, sizeof place);
  }
  if (!(*nfirst)++) snprintf(first, cap, "%s", reason);
  tk__plugin_problem_add(c->problems, place, reason);
}

/* validate's second result as a list of problems (the table at idx): each
 * a string, or { field = "x", message = "..." }; the first
 * TK_PLUGIN_MAX_PROBLEMS read. A malformed entry is one more problem
 * saying so (the record is refused either way). */
static void validate_list(lua_State *L, call_t *c, int idx, char *first, size_t cap,
                          int *nfirst)
{
  char reason[TK_PLUGIN_MAX_REASON + 1], field[TK_PLUGIN_MAX_PATH];
  idx = lua_absindex(L, idx);
  lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
  if (n > TK_PLUGIN_MAX_PROBLEMS) n = TK_PLUGIN_MAX_PROBLEMS;
  for (lua_Integer i = 1; i <= n; i++) {
    int t = lua_rawgeti(L, idx, i);
    size_t len = 0;
    const char *s = NULL;
    field[0] = 0;
    if (t == LUA_TSTRING) {
      s = lua_tolstring(L, -1, &len);
    } else if (t == LUA_TTABLE) {
      lua_pushliteral(L, "message");
      if (lua_rawget(L, -2) == LUA_TSTRING) s = lua_tolstring(L, -1, &len);
      lua_pop(L, 1); /* s stays referenced by the entry */
      lua_pushliteral(L, "field");
      int ft = lua_rawget(L, -2);
      if (ft == LUA_TSTRING) {
        size_t fn;
        const char *f = lua_tolstring(L, -1, &fn);
        tk__plugin_copy_line(field, sizeof field, f, fn);
      } else if (ft != LUA_TNIL) {
        s = NULL;
      }
      lua_pop(L, 1);
    }
    if (s && len)
      tk__plugin_copy_line(reason, sizeof reason, s, len);
    else
      snprintf(reason, sizeof reason,
               "validate's problem %d is malformed (want a string or {field = \"name\", "
               "message = \"...\"})",
               (int)i);
    validate_problem(c, field, reason, first, cap, nfirst);
    lua_pop(L, 1);
  }
}

static int op_validate(lua_State *L)
{
  call_t *c = lua_touserdata(L, 1);
  char reason[TK_PLUGIN_MAX_REASON + 1];
  int nfirst = 0;
  push_callback(L, c, "validate");
  push_json(L, c, c->body, NULL);
  if (call_plugin(L, c, 1, 2) < 0) return 0;
  const char *kind = read_verdict(L, -2, reason, sizeof reason);
  if ((kind && !strcmp(kind, "accept")) ||
      (lua_type(L, -2) == LUA_TBOOLEAN && lua_toboolean(L, -2)))
    return 0;
  if (!kind) {
    int t1 = lua_type(L, -2), t2 = lua_type(L, -1);
    if ((t1 == LUA_TNIL || t1 == LUA_TBOOLEAN) && t2 == LUA_TTABLE) {
      validate_list(L, c, -1, reason, sizeof reason, &nfirst);
      if (!nfirst) snprintf(reason, sizeof reason, "refused without a reason");
    } else if ((t1 == LUA_TNIL || t1 == LUA_TBOOLEAN) &&
               (t2 == LUA_TSTRING || t2 == LUA_TNUMBER)) {
      size_t n;
      const char *s = lua_tolstring(L, -1, &n);
      tk__plugin_copy_line(reason, sizeof reason, s, n);
    } else if (t1 == LUA_TBOOLEAN) {
      snprintf(reason, sizeof reason, "refused without a reason");
    } else {
      snprintf(reason, sizeof reason,
               "validate returned no verdict (want true, or nil and a reason)");
    }
  }
  if (!nfirst) {
    char first[TK_PLUGIN_MAX_REASON + 1];
    validate_problem(c, NULL, reason, first, sizeof first, &nfirst);
  }
  c->rc = tk_err_set(&c->e, TK_EINVAL, "content type '%s': %s", c->d->name, reason);
  return 0;
}

static int op_summary(lua_State *L)
{
  call_t *c = lua_touserdata(L, 1);
  push_callback(L, c, "summary");
  push_json(L, c, c->body, NULL);
  if (call_plugin(L, c, 1, 1) < 0) return 0;
  int t = lua_type(L, -1);
  if (t != LUA_TSTRING && t != LUA_TNUMBER)
    return call_fail(c, TK_EPLUGIN, "summary returned a %s, want a string",
                     lua_typename(L, t)),
           0;
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  char line[TK_PLUGIN_MAX_SUMMARY + 1];
  tk__plugin_copy_line(line, sizeof line, s, n);
  if (tk_buf_append(c->out, line, strlen(line) + 1) < 0)
    return call_fail(c, TK_ENOMEM, "out of memory"), 0;
  c->out->n--;
  return 0;
}

static int op_merge(lua_State *L)
{
  call_t *c = lua_touserdata(L, 1);
  push_callback(L, c, "merge");
  push_json(L, c, c->base, NULL);
  push_json(L, c, c->ours, NULL);
  push_json(L, c, c->theirs, NULL);
  if (call_plugin(L, c, 3, 2) < 0) return 0;
  int t = lua_type(L, -2);
  if (t == LUA_TNIL || (t == LUA_TBOOLEAN && !lua_toboolean(L, -2))) {
    char reason[TK_PLUGIN_MAX_REASON + 1] = "no reason given";
    if (lua_type(L, -1) == LUA_TSTRING) {
      size_t n;
      const char *s = lua_tolstring(L, -1, &n);
      tk__plugin_copy_line(reason, sizeof reason, s, n);
    }
    return call_fail(c, TK_EPLUGIN, "merge declined: %s", reason), 0;
  }
  if (t != LUA_TTABLE)
    return call_fail(c, TK_EPLUGIN, "merge returned a %s, want a table",
                     lua_typename(L, t)),
           0;
  tk_err_t e;
  if (tk__plugin_json_from_lua(L, -2, &c->result, &e) < 0)
    return call_fail(c, TK_EPLUGIN, "merge result: %s", e.msg), 0;
  if (!json_is_object(c->result))
    return call_fail(c, TK_EPLUGIN, "merge result is a JSON array, want an object"), 0;
  return 0;
}

/* The export's closures find their call through the plugin and check the
 * serial, so a closure a plugin kept in a global fails cleanly later. */
static call_t *export_call_of(lua_State *L, const char *fn)
{
  plugin_t *p = tk__plugin_of(L);
  lua_Integer serial = lua_tointeger(L, lua_upvalueindex(1));
  if (!p->export_call || (uint64_t)serial != p->export_serial)
    luaL_error(L, "%s: used outside the export it was given to", fn);
  return p->export_call;
}

static int l_export_records(lua_State *L)
{
  call_t *c = export_call_of(L, "records");
  plugin_t *p = c->p;
  if (c->rc < 0) return luaL_error(L, "export already failed");
  if (c->done) return 0;
  tk_plugin_record_t rec;
  memset(&rec, 0, sizeof rec);
  int rc = c->next(c->next_ud, &rec);
  if (rc < 0) {
    call_fail(c, rc, "reading record %zu: %s", c->nrecords + 1, tk_strerror(rc));
    return luaL_error(L, "export: reading records failed");
  }
  if (rc == 0) {
    c->done = 1;
    return 0;
  }
  json_decref(c->cur);
  c->cur = NULL;
  tk_err_t e;
  if (tk__plugin_json_parse(rec.body, &c->cur, &e) < 0) {
    call_fail(c, e.code, "record %zu: %s", c->nrecords + 1, e.msg);
    return luaL_error(L, "export: a record did not parse");
  }
  c->nrecords++;
  push_json(L, c, c->cur, c->redact);
  push_meta(L, rec.meta);
  if (rec.meta) push_meta_attachments(L, c->cur);
  /* The budget is per record: a fresh one with each record handed over,
   * unless a limit has already stopped this call. */
  if (!p->stop) tk__plugin_budget_reset(p);
  return 2;
}

static int l_export_out(lua_State *L)
{
  call_t *c = export_call_of(L, "out");
  if (c->rc < 0) return luaL_error(L, "export already failed");
  int n = lua_gettop(L);
  for (int i = 1; i <= n; i++) {
    int t = lua_type(L, i);
    if (t != LUA_TSTRING && t != LUA_TNUMBER)
      return luaL_error(L, "out: argument %d is a %s, want a string", i,
                        lua_typename(L, t));
    size_t len;
    const char *s = lua_tolstring(L, i, &len);
    int rc = c->write(c->write_ud, s, len);
    if (rc < 0) {
      call_fail(c, rc, "writing output: %s", tk_strerror(rc));
      return luaL_error(L, "export: writing failed");
    }
  }
  return 0;
}

static int op_export(lua_State *L)
{
  call_t *c = lua_touserdata(L, 1);
  plugin_t *p = c->p;
  push_callback(L, c, "write");
  p->export_call = c;
  p->export_serial++;
  lua_pushinteger(L, (lua_Integer)p->export_serial);
  lua_pushcclosure(L, l_export_records, 1);
  lua_pushinteger(L, (lua_Integer)p->export_serial);
  lua_pushcclosure(L, l_export_out, 1);
  push_json(L, c, c->info, NULL);
  call_plugin(L, c, 3, 0);
  return 0;
}

static int op_check(lua_State *L)
{
  call_t *c = lua_touserdata(L, 1);
  char reason[TK_PLUGIN_MAX_REASON + 1];
  push_callback(L, c, "check");
  push_meta(L, c->meta);
  if (c->meta && c->body) { /* the record is readable here: say if it is a deletion */
    lua_pushboolean(L, json_is_true(json_object_get(c->body, "_deleted")));
    lua_setfield(L, -2, "deleted");
  }
  push_json(L, c, c->body, NULL);
  if (call_plugin(L, c, 2, 1) < 0) return 0;
  const char *kind = read_verdict(L, -1, reason, sizeof reason);
  if (!kind) return call_fail(c, TK_EPLUGIN, "check returned no verdict"), 0;
  c->verdict->verdict = !strcmp(kind, "accept")   ? TK_VERDICT_ACCEPT
                        : !strcmp(kind, "reject") ? TK_VERDICT_REJECT
                                                  : TK_VERDICT_QUARANTINE;
  snprintf(c->verdict->reason, sizeof c->verdict->reason, "%s", reason);
  return 0;
}

static decl_t *find_or_fail(tk_plugin_set_t *s, int kind, const char *name, tk_err_t *err)
{
  decl_t *d = set_find(s, kind, name);
  if (!d)
    tk_err_set(err, TK_ENOTFOUND, "no plugin declares %s '%.64s'",
               tk__plugin_kind_words[kind], name ? name : "(null)");
  return d;
}

static void call_init(call_t *c, decl_t *d, const char *fn)
{
  memset(c, 0, sizeof *c);
  c->d = d;
  snprintf(c->what, sizeof c->what, "%s '%s', %s", tk__plugin_kind_words[d->pub.kind],
           d->name, fn);
}

int tk_plugin_validate_problems(tk_plugin_set_t *s, const char *type, tk_slice_t body,
                                tk_plugin_problems_t *out, tk_err_t *err)
{
  call_t c;
  json_t *j = NULL;
  if (out) out->n = 0;
  decl_t *d = find_or_fail(s, TK_PLUGIN_TYPE, type, err);
  if (!d) return TK_ENOTFOUND;
  int rc = tk__plugin_json_parse(body, &j, err);
  if (rc < 0) goto done;
  int fields = tk__plugin_check_fields(d, j, out, err);
  if ((fields < 0 && fields != TK_EINVAL) || !d->pub.has_validate || (fields && !out)) {
    rc = fields;
    goto done;
  }
  /* validate() runs even when a field failed, so the person sees every
   * problem at once (into a list of its own then: the field problems stay
   * first). It may count on the declared fields, so its failure then (an
   * error, a limit) is not reported: the field problems refuse the record. */
  tk_plugin_problems_t *vp = fields ? calloc(1, sizeof *vp) : out;
  tk_err_t ve;
  tk_err_clear(&ve);
  if (fields && !vp) {
    rc = fields;
    goto done;
  }
  if (s->pool) {
    rc = tk__plugin_pool_validate(s, d, body, vp, &ve);
  } else {
    call_init(&c, d, "validate");
    c.body = j;
    c.problems = vp;
    if ((rc = run_call(d->plugin, op_validate, &c)) < 0) ve = c.e;
  }
  /* a failure that is not a refusal is no problem of the record's */
  if (rc < 0 && rc != TK_EINVAL && vp) vp->n = 0;
  if (!fields) {
    if (rc < 0 && err) *err = ve;
    goto done;
  }
  /* a worker checks the fields too: its list starts with the same ones */
  for (size_t i = s->pool ? out->n : 0; rc == TK_EINVAL && i < vp->n; i++)
    tk__plugin_problem_add(out, vp->v[i].field, vp->v[i].message);
  free(vp);
  rc = fields;
done:
  json_decref(j);
  return rc;
}

int tk_plugin_validate(tk_plugin_set_t *s, const char *type, tk_slice_t body,
                       tk_err_t *err)
{
  return tk_plugin_validate_problems(s, type, body, NULL, err);
}

int tk_plugin_validate_many(tk_plugin_set_t *s, const char *type,
                            const tk_slice_t *bodies, size_t n, int *rcs, tk_err_t *errs)
{
  if (!s || (!bodies && n) || (!rcs && n) || (!errs && n)) return TK_EINVAL;
  decl_t *d = set_find(s, TK_PLUGIN_TYPE, type);
  if (!d || !s->pool || !d->pub.has_validate) {
    for (size_t i = 0; i < n; i++)
      rcs[i] = tk_plugin_validate(s, type, bodies[i], &errs[i]);
    return 0;
  }
  /* The worker runs each as a whole tk_plugin_validate (the host's parse
   * and field checks too): the same answers, without parsing each body
   * here as well. */
  for (size_t i = 0; i < n; i++)
    tk_err_clear(&errs[i]);
  return tk__plugin_pool_validate_many(s, d, n, bodies, rcs, errs, NULL);
}

int tk_plugin_summary_many(tk_plugin_set_t *s, const char *type, const tk_slice_t *bodies,
                           size_t n, int *rcs, tk_err_t *errs, tk_plugin_line_t *lines)
{
  if (!s || (n && (!bodies || !rcs || !errs || !lines))) return TK_EINVAL;
  decl_t *d = set_find(s, TK_PLUGIN_TYPE, type);
  for (size_t i = 0; i < n; i++) {
    tk_err_clear(&errs[i]);
    lines[i][0] = 0;
  }
  if (!d || !s->pool || !d->pub.has_summary) {
    tk_buf_t out = TK_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
      out.n = 0;
      rcs[i] = tk_plugin_summary(s, type, bodies[i], &out, &errs[i]);
      if (rcs[i] == 0)
        tk__plugin_copy_line(lines[i], sizeof lines[i], (const char *)out.p, out.n);
    }
    tk_buf_wipe(&out);
    return 0;
  }
  return tk__plugin_pool_validate_many(s, d, n, bodies, rcs, errs, lines);
}

int tk_plugin_summary(tk_plugin_set_t *s, const char *type, tk_slice_t body,
                      tk_buf_t *out, tk_err_t *err)
{
  call_t c;
  json_t *j = NULL;
  decl_t *d = find_or_fail(s, TK_PLUGIN_TYPE, type, err);
  if (!d) return TK_ENOTFOUND;
  if (!d->pub.has_summary)
    return tk_err_set(err, TK_ENOTFOUND, "content type '%s' declares no summary", type);
  if (s->pool) return tk__plugin_pool_summary(s, d, body, out, err);
  int rc = tk__plugin_json_parse(body, &j, err);
  if (rc < 0) goto done;
  call_init(&c, d, "summary");
  c.body = j;
  c.out = out;
  if ((rc = run_call(d->plugin, op_summary, &c)) < 0 && err) *err = c.e;
done:
  json_decref(j);
  return rc;
}

int tk_plugin_merge(tk_plugin_set_t *s, const char *type, tk_slice_t base,
                    tk_slice_t ours, tk_slice_t theirs, tk_buf_t *out, tk_err_t *err)
{
  call_t c;
  memset(&c, 0, sizeof c);
  decl_t *d = find_or_fail(s, TK_PLUGIN_TYPE, type, err);
  if (!d) return TK_ENOTFOUND;
  if (!d->pub.has_merge)
    return tk_err_set(err, TK_ENOTFOUND, "content type '%s' declares no merge", type);
  if (s->pool) return tk__plugin_pool_merge(s, d, base, ours, theirs, out, err);
  call_init(&c, d, "merge");
  int rc = 0;
  if (base.p && (rc = tk__plugin_json_parse(base, &c.base, err)) < 0) goto done;
  if ((rc = tk__plugin_json_parse(ours, &c.ours, err)) < 0) goto done;
  if ((rc = tk__plugin_json_parse(theirs, &c.theirs, err)) < 0) goto done;
  if ((rc = run_call(d->plugin, op_merge, &c)) < 0) {
    if (err) *err = c.e;
    goto done;
  }
  tk_err_t e;
  if (tk__plugin_json_dump(c.result, TK_MAX_BODY_JSON, out, &e) < 0)
    rc = tk_err_set(err, TK_EPLUGIN, "plugin %s: %s: merge result: %s", d->plugin->name,
                    c.what, e.msg);
done:
  json_decref(c.base);
  json_decref(c.ours);
  json_decref(c.theirs);
  json_decref(c.result);
  return rc;
}

int tk_plugin_export(tk_plugin_set_t *s, const char *format, const char *const *redact,
                     tk_plugin_next_fn next, void *next_ud, tk_plugin_write_fn write,
                     void *write_ud, tk_err_t *err)
{
  return tk_plugin_export_info(s, format, redact, TK_SLICE(NULL, 0), next, next_ud, write,
                               write_ud, err);
}

int tk_plugin_export_info(tk_plugin_set_t *s, const char *format,
                          const char *const *redact, tk_slice_t info,
                          tk_plugin_next_fn next, void *next_ud, tk_plugin_write_fn write,
                          void *write_ud, tk_err_t *err)
{
  call_t c;
  if (!next || !write) return tk_err_set(err, TK_EINVAL, "export: no iterator or writer");
  decl_t *d = find_or_fail(s, TK_PLUGIN_EXPORT, format, err);
  if (!d) return TK_ENOTFOUND;
  if (s->pool)
    return tk__plugin_pool_export(s, d, redact, info, next, next_ud, write, write_ud,
                                  err);
  call_init(&c, d, "write");
  if (info.n) {
    tk_err_t e;
    if (tk__plugin_json_parse(info, &c.info, &e) < 0 || !json_is_object(c.info)) {
      json_decref(c.info);
      return tk_err_set(err, TK_EINVAL, "export: info is not a JSON object");
    }
  }
  c.redact = redact;
  c.next = next;
  c.next_ud = next_ud;
  c.write = write;
  c.write_ud = write_ud;
  int rc = run_call(d->plugin, op_export, &c);
  if (rc < 0 && err) *err = c.e;
  json_decref(c.cur);
  json_decref(c.info);
  return rc;
}

int tk_plugin_rule_reads(const tk_plugin_decl_t *d, const char *type)
{
  if (d->reads_all) return 1;
  for (size_t i = 0; i < d->nreads; i++)
    if (type && strcmp(d->reads[i], type) == 0) return 1;
  return 0;
}

int tk_plugin_moderation_reads(const tk_plugin_set_t *s, const char *type)
{
  for (size_t i = 0; s && i < s->ndecls[TK_PLUGIN_MODERATION]; i++)
    if (tk_plugin_rule_reads(&s->decls[TK_PLUGIN_MODERATION][i]->pub, type)) return 1;
  return 0;
}

/* One rule's check in this process: 0 with *v, or the failure in c->e. */
static int check_inproc(decl_t *d, const tk_plugin_meta_t *meta, json_t *record,
                        tk_plugin_verdict_t *v, call_t *c)
{
  memset(v, 0, sizeof *v);
  call_init(c, d, "check");
  c->meta = meta;
  c->body = record;
  c->verdict = v;
  return run_call(d->plugin, op_check, c);
}

int tk__plugin_check_rule(tk_plugin_set_t *s, const char *rule,
                          const tk_plugin_meta_t *meta, json_t *record,
                          tk_plugin_verdict_t *v, tk_err_t *err)
{
  call_t c;
  decl_t *d = find_or_fail(s, TK_PLUGIN_MODERATION, rule, err);
  if (!d) return TK_ENOTFOUND;
  int rc = check_inproc(d, meta, record, v, &c);
  if (rc < 0 && err) *err = c.e;
  return rc;
}

/* A broken rule never lets a record through: quarantine, saying why. */
static void rule_failed(tk_plugin_verdict_t *v, const char *msg)
{
  memset(v, 0, sizeof *v);
  v->verdict = TK_VERDICT_QUARANTINE;
  snprintf(v->reason, sizeof v->reason, "%.*s", TK_PLUGIN_MAX_REASON, msg);
}

/* Folds rule d's verdict v into the revision's *out (see
 * tk_plugin_moderate): a reject wins, else the first non-accept keeps its
 * place. 1 when v rejects: the rules after d need not run. */
static int fold(tk_plugin_verdict_t *out, const decl_t *d, const tk_plugin_verdict_t *v)
{
  if (v->verdict == TK_VERDICT_ACCEPT) return 0;
  if (v->verdict == TK_VERDICT_REJECT || out->verdict == TK_VERDICT_ACCEPT) {
    out->verdict = v->verdict;
    snprintf(out->plugin, sizeof out->plugin, "%s", d->plugin->name);
    snprintf(out->rule, sizeof out->rule, "%s", d->name);
    snprintf(out->reason, sizeof out->reason, "%s", v->reason);
  }
  return v->verdict == TK_VERDICT_REJECT;
}

/* Runs every rule (see tk_plugin_moderate_parsed). text is the record as
 * JSON text when the caller has it (a jailed set sends text to its
 * workers); else, for a jailed set, record is dumped once if a rule reads it. */
static int moderate_all(tk_plugin_set_t *s, const tk_plugin_meta_t *meta, json_t *record,
                        tk_slice_t text, const char *parse_error,
                        tk_plugin_verdict_t *out)
{
  tk_buf_t dumped = TK_BUF_INIT;
  memset(out, 0, sizeof *out);
  out->verdict = TK_VERDICT_ACCEPT;
  if (parse_error) {
    out->verdict = TK_VERDICT_QUARANTINE;
    snprintf(out->reason, sizeof out->reason, "%.*s", TK_PLUGIN_MAX_REASON, parse_error);
    return 0;
  }
  for (size_t i = 0; i < s->ndecls[TK_PLUGIN_MODERATION]; i++) {
    decl_t *d = s->decls[TK_PLUGIN_MODERATION][i];
    tk_plugin_verdict_t v;
    call_t c;
    int reads = tk_plugin_rule_reads(&d->pub, meta->type);
    int rc;
    if (s->pool) {
      tk_slice_t body = {NULL, 0};
      memset(&c, 0, sizeof c);
      rc = 0;
      if (reads && record && !text.p) {
        if (dumped.n == 0)
          rc = tk__plugin_json_dump(record, TK_MAX_BODY_JSON, &dumped, &c.e);
        body = TK_SLICE(dumped.p, dumped.n);
      } else if (reads && record) {
        body = text;
      }
      if (rc == 0) rc = tk__plugin_pool_check(s, d, meta, body, &v, &c.e);
    } else {
      rc = check_inproc(d, meta, reads ? record : NULL, &v, &c);
    }
    if (rc < 0) rule_failed(&v, c.e.msg);
    if (fold(out, d, &v)) break;
  }
  tk_buf_wipe(&dumped);
  return 0;
}

int tk_plugin_moderate(tk_plugin_set_t *s, const tk_plugin_meta_t *meta, tk_slice_t body,
                       tk_plugin_verdict_t *out)
{
  if (!s || !out) return TK_EINVAL;
  json_t *j = NULL;
  tk_err_t e;
  int rc;
  if (!tk_plugin_moderation_reads(s, meta->type)) body.p = NULL;
  if (body.p && tk__plugin_json_parse(body, &j, &e) < 0)
    rc = moderate_all(s, meta, NULL, (tk_slice_t){NULL, 0}, e.msg, out);
  else
    rc = moderate_all(s, meta, j, body, NULL, out);
  json_decref(j);
  return rc;
}

int tk_plugin_moderate_parsed(tk_plugin_set_t *s, const tk_plugin_meta_t *meta,
                              struct json_t *record, const char *parse_error,
                              tk_plugin_verdict_t *out)
{
  if (!s || !out) return TK_EINVAL;
  return moderate_all(s, meta, record, (tk_slice_t){NULL, 0}, parse_error, out);
}

int tk_plugin_check(tk_plugin_set_t *s, const char *rule, const tk_plugin_meta_t *meta,
                    tk_slice_t body, tk_plugin_verdict_t *out)
{
  if (!s || !meta || !out) return TK_EINVAL;
  decl_t *d = set_find(s, TK_PLUGIN_MODERATION, rule);
  if (!d) return TK_ENOTFOUND;
  json_t *j = NULL;
  call_t c;
  tk_plugin_verdict_t v;
  int rc;
  memset(&c, 0, sizeof c);
  memset(&v, 0, sizeof v);
  if (!tk_plugin_rule_reads(&d->pub, meta->type)) body.p = NULL;
  if (body.p && (rc = tk__plugin_json_parse(body, &j, &c.e)) < 0)
    ; /* a body that does not parse quarantines, as in tk_plugin_moderate */
  else if (s->pool)
    rc = tk__plugin_pool_check(s, d, meta, body, &v, &c.e);
  else
    rc = check_inproc(d, meta, j, &v, &c);
  if (rc < 0) rule_failed(&v, c.e.msg);
  json_decref(j);
  *out = v;
  snprintf(out->plugin, sizeof out->plugin, "%s", d->plugin->name);
  snprintf(out->rule, sizeof out->rule, "%s", d->name);
  return 0;
}

/* One revision of a batch as tk_plugin_moderate_batch works on it. */
typedef struct batch_rev {
  json_t *owned;    /* parsed here from the item's text */
  json_t *record;   /* what an in-process rule that reads it sees */
  tk_slice_t text;  /* what a worker's rule that reads it sees */
  tk_buf_t dumped;  /* record as text, for a jailed set */
  const char *fail; /* a jailed set could not dump it: each rule fails so */
  int done;         /* its verdict is final (rejected, or a parse error) */
  size_t nrules;    /* rules it has been through */
} batch_rev_t;

/* The batch's revisions a rule still has to see: their index in items. */
static size_t batch_pending(const batch_rev_t *b, size_t n, size_t rule, size_t *idx)
{
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (!b[i].done && b[i].nrules == rule) idx[m++] = i;
  return m;
}

int tk_plugin_moderate_batch(tk_plugin_set_t *s, const tk_plugin_item_t *items, size_t n,
                             uint64_t budget_ms, tk_plugin_verdict_t *out)
{
  if (!s || (n && (!items || !out))) return TK_EINVAL;
  int rc = 0;
  size_t nrules = s->ndecls[TK_PLUGIN_MODERATION];
  uint64_t until = budget_ms ? tk__plugin_now_ns() / 1000000u + budget_ms : 0;
  batch_rev_t *b = calloc(n ? n : 1, sizeof *b);
  size_t *idx = calloc(n ? n : 1, sizeof *idx);
  const tk_plugin_meta_t **metas = calloc(n ? n : 1, sizeof *metas);
  tk_slice_t *bodies = calloc(n ? n : 1, sizeof *bodies);
  tk_plugin_verdict_t *v = calloc(n ? n : 1, sizeof *v);
  if (!b || !idx || !metas || !bodies || !v) {
    rc = TK_ENOMEM;
    goto done;
  }
  /* What each revision shows the rules, as tk_plugin_moderate does. */
  for (size_t i = 0; i < n; i++) {
    const tk_plugin_item_t *it = &items[i];
    tk_err_t e;
    memset(&out[i], 0, sizeof out[i]);
    out[i].verdict = TK_VERDICT_ACCEPT;
    const char *parse_error = it->parse_error;
    int reads = tk_plugin_moderation_reads(s, it->meta->type);
    if (!parse_error && reads && it->body.p) {
      if (tk__plugin_json_parse(it->body, &b[i].owned, &e) < 0)
        parse_error = e.msg;
      else
        b[i].text = it->body;
      b[i].record = b[i].owned;
    } else if (!parse_error && reads && it->record) {
      b[i].record = it->record;
      if (s->pool) {
        if (tk__plugin_json_dump(it->record, TK_MAX_BODY_JSON, &b[i].dumped, &e) < 0)
          b[i].fail = "plugins: a record could not be handed to a rule"; /* NEVER */
        b[i].text = TK_SLICE(b[i].dumped.p, b[i].dumped.n);
      }
    }
    if (parse_error) {
      out[i].verdict = TK_VERDICT_QUARANTINE;
      snprintf(out[i].reason, sizeof out[i].reason, "%.*s", TK_PLUGIN_MAX_REASON,
               parse_error);
      b[i].done = 1;
    }
  }
  for (size_t r = 0; r < nrules; r++) {
    decl_t *d = s->decls[TK_PLUGIN_MODERATION][r];
    size_t m = batch_pending(b, n, r, idx);
    if (m == 0) continue;
    if (until && tk__plugin_now_ns() / 1000000u >= until) break;
    if (s->pool) {
      for (size_t k = 0; k < m; k++) {
        size_t i = idx[k];
        metas[k] = items[i].meta;
        bodies[k] = tk_plugin_rule_reads(&d->pub, items[i].meta->type) && !b[i].fail
                        ? b[i].text
                        : (tk_slice_t){NULL, 0};
      }
      tk__plugin_pool_check_many(s, d, m, metas, bodies, until, v);
      for (size_t k = 0; k < m; k++)
        if (b[idx[k]].fail && v[k].verdict != TK_VERDICT_UNJUDGED &&
            tk_plugin_rule_reads(&d->pub, items[idx[k]].meta->type))
          rule_failed(&v[k], b[idx[k]].fail);
    } else {
      for (size_t k = 0; k < m; k++) {
        size_t i = idx[k];
        call_t c;
        v[k].verdict = TK_VERDICT_UNJUDGED;
        if (until && tk__plugin_now_ns() / 1000000u >= until) continue;
        int reads = tk_plugin_rule_reads(&d->pub, items[i].meta->type);
        if (check_inproc(d, items[i].meta, reads ? b[i].record : NULL, &v[k], &c) < 0)
          rule_failed(&v[k], c.e.msg);
      }
    }
    for (size_t k = 0; k < m; k++) {
      size_t i = idx[k];
      if (v[k].verdict == TK_VERDICT_UNJUDGED) continue;
      b[i].nrules++;
      if (fold(&out[i], d, &v[k])) b[i].done = 1;
    }
  }
  /* Past the budget: what has not been through every rule is not judged. */
  for (size_t i = 0; i < n; i++)
    if (!b[i].done && b[i].nrules < nrules) {
      memset(&out[i], 0, sizeof out[i]);
      out[i].verdict = TK_VERDICT_UNJUDGED;
    }
done:
  for (size_t i = 0; b && i < n; i++) {
    json_decref(b[i].owned);
    tk_buf_wipe(&b[i].dumped);
  }
  free(b);
  free(idx);
  free(metas);
  free(bodies);
  free(v);
  return rc;
}
