/*
 * plugin.c: the sandboxed Lua plugin host (contract in tk_plugin.h). Owns the
 * plugin states: their allocator cap, the count hook with its instruction
 * budget and wall-clock deadline, the allow-list environment, the `tunduk`
 * API table, the declarations each plugin makes at load, and the calls into
 * them (validate, summary, merge, export, moderation).
 *
 * Invariants:
 *  - every Lua API call that may raise runs inside lua_pcall: each call into
 *    a plugin is a protected C function (op_*) that converts inputs, calls
 *    the plugin's callback in a nested lua_pcall and reads its results, so
 *    neither a plugin error nor a memory error ever reaches Lua's panic;
 *  - the hook is set before any plugin code runs; once a limit is hit in a
 *    call (p->stop), it fires on every instruction and errors each time, so
 *    pcall inside the plugin cannot swallow the stop;
 *  - the allocator refuses growth past lim.mem_bytes and never fails a
 *    shrink or a free;
 *  - C data reachable from Lua closures (the export's records/out) is looked
 *    up through the plugin and a serial number, never a raw pointer that
 *    could outlive its call;
 *  - Lua status codes stay in this file.
 *
 * Threads: see tk_plugin.h (a mutex per plugin around every call).
 */
#include "tk_plugin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HOOK_EVERY 1000   /* instructions between two runs of the count hook */
#define VERDICT_MT "tunduk.verdict"
#define MIN_MEM (256u << 10)

enum { STOP_NONE = 0, STOP_INSTR, STOP_TIME, STOP_CLOSING };

static const char *const kind_words[TK_PLUGIN_NKINDS] = {"content type", "export",
                                                          "moderation rule"};
static const char *const field_kinds[] = {"text", "date",    "datetime", "enum",
                                          "integer", "boolean", "list", "ref", NULL};

typedef struct plugin plugin_t;

typedef struct decl {
  tk_plugin_decl_t pub;
  plugin_t *plugin;
  int ref;        /* registry ref of the table holding the callbacks */
  int complete;   /* 0 while being declared (a failed declaration stays 0) */
  char *name, *media_type;
  tk_plugin_field_t *fields;
  size_t nfields_alloc;
} decl_t;

struct plugin {
  char name[TK_PLUGIN_MAX_NAME + 1];
  lua_State *L;
  pthread_mutex_t mu;
  tk_plugin_limits_t lim;
  size_t mem;             /* bytes the state holds, as Lua accounts them */
  int mem_refused;        /* the allocator refused growth during this call */
  uint64_t count;         /* instructions run in this call (HOOK_EVERY grain) */
  uint64_t deadline_ns;   /* CLOCK_MONOTONIC */
  int stop;               /* STOP_*: once set, the hook errors on every instruction */
  int loading;            /* top level running: declarations allowed */
  uint64_t export_serial; /* which export the records/out closures belong to */
  struct call *export_call;
  decl_t *decls[TK_PLUGIN_NKINDS][TK_PLUGIN_MAX_DECLS];
  size_t ndecls[TK_PLUGIN_NKINDS];
};

struct tk_plugin_set {
  tk_plugin_limits_t lim;
  plugin_t **plugins;
  size_t nplugins;
  decl_t **decls[TK_PLUGIN_NKINDS];
  size_t ndecls[TK_PLUGIN_NKINDS];
  char **errors;
  size_t nerrors;
};

/* One call into a plugin: the inputs and outputs of an op_* function. */
typedef struct call {
  plugin_t *p;
  decl_t *d;
  char what[160];        /* e.g. "content type 'case', validate" */
  int rc;
  tk_err_t e;
  /* inputs */
  const char *src;
  size_t srcn;
  json_t *body, *base, *ours, *theirs;
  const tk_plugin_meta_t *meta;
  const char *const *redact;
  tk_plugin_next_fn next;
  void *next_ud;
  tk_plugin_write_fn write;
  void *write_ud;
  /* outputs and scratch */
  json_t *result;        /* merge */
  json_t *cur;           /* export: the record being handed over */
  size_t nrecords;
  int done;
  tk_buf_t *out;
  tk_plugin_verdict_t *verdict;
} call_t;

/* ---- small helpers ---------------------------------------------------------- */

static uint64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void tk_plugin_limits_default(tk_plugin_limits_t *l)
{
  l->mem_bytes = 16u << 20;
  l->instructions = 10000000;
  l->call_ms = 2000;
  l->max_string = 1u << 20;
  l->max_pattern_subject = 1u << 20;
}

static plugin_t *plugin_of(lua_State *L)
{
  void *ud = NULL;
  lua_getallocf(L, &ud);
  return ud;
}

/* Copies src into dst (cap bytes with the NUL) as one line: control bytes
 * become spaces, and a cut never splits a UTF-8 sequence. */
static void copy_line(char *dst, size_t cap, const char *src, size_t n)
{
  size_t len = n < cap - 1 ? n : cap - 1;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)src[i];
    dst[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
  }
  if (len < n) {
    size_t k = len;
    while (k > 0 && len - k < 4 && ((unsigned char)dst[k - 1] & 0xC0) == 0x80) k--;
    if (k > 0) {
      unsigned char lead = (unsigned char)dst[k - 1];
      size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (want > 1 && k - 1 + want > len) len = k - 1;
    }
  }
  dst[len] = 0;
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

/* The limit the current call went over, or NULL. */
static const char *limit_detail(plugin_t *p, char *buf, size_t n)
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
    copy_line(buf, n, s, len);
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
      copy_line(buf, n, s, len);
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
  const char *l = limit_detail(p, lim, sizeof lim);
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
    return call_fail(c, TK_EPLUGIN, "memory limit exceeded (%zu bytes)", p->lim.mem_bytes);
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
  if (c->rc == 0 && limit_detail(c->p, lim, sizeof lim))
    return call_fail(c, TK_EPLUGIN, "%s", lim);
  return c->rc;
}

/* ---- allocator and hook ------------------------------------------------------ */

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
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
    if (nsize <= old) np = ptr; /* a shrink never fails: keep the bigger block */
    else {
      p->mem_refused = 1;
      return NULL;
    }
  }
  p->mem = p->mem - old + nsize;
  return np;
}

static void l_hook(lua_State *L, lua_Debug *ar)
{
  (void)ar;
  plugin_t *p = plugin_of(L);
  int every = lua_gethookcount(L);
  p->count += (uint64_t)(every > 0 ? every : 1);
  if (!p->stop) {
    if (p->count > p->lim.instructions) p->stop = STOP_INSTR;
    else if (now_ns() > p->deadline_ns) p->stop = STOP_TIME;
  }
  if (p->stop) {
    char buf[128];
    const char *l = limit_detail(p, buf, sizeof buf);
    /* From now on every instruction of this thread runs the hook, so the
     * first instruction outside any pcall the plugin has raises again. */
    lua_sethook(L, l_hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "%s", l ? l : "plugin is being closed");
  }
}

static int hook_every(const plugin_t *p)
{
  return p->lim.instructions < HOOK_EVERY ? (int)(p->lim.instructions ? p->lim.instructions : 1)
                                          : HOOK_EVERY;
}

static void budget_reset(plugin_t *p)
{
  p->count = 0;
  p->deadline_ns = now_ns() + (uint64_t)p->lim.call_ms * 1000000u;
}

static int l_panic(lua_State *L)
{
  const char *m = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
  TK_LOG(TK_LOG_ERROR, "plugin", "unprotected Lua error (a host bug) msg=%s", m);
  abort();
  return 0;
}

/* Runs fn(c) in protected mode under a fresh per-call budget, with the
 * plugin's mutex held. Returns c->rc. */
static int run_call(plugin_t *p, lua_CFunction fn, call_t *c)
{
  pthread_mutex_lock(&p->mu);
  lua_State *L = p->L;
  int top = lua_gettop(L);
  c->p = p;
  c->rc = 0;
  p->stop = STOP_NONE;
  p->mem_refused = 0;
  budget_reset(p);
  lua_sethook(L, l_hook, LUA_MASKCOUNT, hook_every(p));
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
      const char *l = limit_detail(p, lim, sizeof lim);
      if (l) call_fail(c, TK_EPLUGIN, "%s", l);
      else if (st == LUA_ERRMEM || p->mem_refused)
        call_fail(c, TK_EPLUGIN, "memory limit exceeded (%zu bytes)", p->lim.mem_bytes);
      else
        call_fail(c, TK_EPLUGIN, "%s",
                  lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "host error");
    }
  } else if (c->rc == 0 && p->stop) {
    char lim[128];
    call_fail(c, TK_EPLUGIN, "%s", limit_detail(p, lim, sizeof lim));
  } else if (c->rc == 0 && now_ns() > p->deadline_ns) {
    /* A long C function (a pattern match) finished past the deadline. */
    p->stop = STOP_TIME;
    call_fail(c, TK_EPLUGIN, "time limit exceeded (%u ms per call)", (unsigned)p->lim.call_ms);
  }
done:
  lua_settop(L, top);
  p->export_call = NULL;
  pthread_mutex_unlock(&p->mu);
  return c->rc;
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
  plugin_t *p = plugin_of(L);
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
      return luaL_error(L, "string.rep: result would be over the plugin string limit (%I bytes)",
                        (lua_Integer)max);
  }
  return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

/* find, match, gmatch, gsub: the matcher backtracks in C where the hook
 * cannot reach, so the subject and pattern lengths are capped. */
static int l_str_pattern(lua_State *L)
{
  plugin_t *p = plugin_of(L);
  size_t ls, lp;
  luaL_checklstring(L, 1, &ls);
  luaL_checklstring(L, 2, &lp);
  if (ls > p->lim.max_pattern_subject)
    return luaL_error(L, "string pattern functions take subjects of at most %I bytes (got %I)",
                      (lua_Integer)p->lim.max_pattern_subject, (lua_Integer)ls);
  if (lp > TK_PLUGIN_MAX_PATTERN)
    return luaL_error(L, "patterns are limited to %d bytes (got %I)", TK_PLUGIN_MAX_PATTERN,
                      (lua_Integer)lp);
  return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

/* table.move loops in C without running the hook: cap the range. */
static int l_tab_move(lua_State *L)
{
  plugin_t *p = plugin_of(L);
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
    "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall", "rawequal",
    "rawget", "rawlen", "rawset", "select", "setmetatable", "tonumber", "tostring", "type",
    "xpcall", "_VERSION", NULL};
static const char *const string_allowed[] = {
    "byte", "char", "find", "format", "gmatch", "gsub", "len", "lower", "match",
    "pack", "packsize", "rep", "reverse", "sub", "unpack", "upper", NULL};
static const char *const table_allowed[] = {"concat", "insert", "move", "pack", "remove",
                                            "sort", "unpack", NULL};
static const char *const math_allowed[] = {
    "abs", "acos", "asin", "atan", "ceil", "cos", "deg", "exp", "floor", "fmod", "huge",
    "log", "max", "maxinteger", "min", "mininteger", "modf", "pi", "rad", "random",
    "randomseed", "sin", "sqrt", "tan", "tointeger", "type", "ult", NULL};
static const char *const utf8_allowed[] = {"char", "charpattern", "codepoint", "codes",
                                           "len", "offset", NULL};
static const char *const coroutine_allowed[] = {"close", "create", "isyieldable", "resume",
                                                "running", "status", "wrap", "yield", NULL};
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
  luaL_setmetatable(L, VERDICT_MT);
  return 1;
}
static int l_accept(lua_State *L) { return push_verdict(L, "accept"); }
static int l_reject(lua_State *L) { return push_verdict(L, "reject"); }
static int l_quarantine(lua_State *L) { return push_verdict(L, "quarantine"); }

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

static int l_log(lua_State *L)
{
  plugin_t *p = plugin_of(L);
  luaL_Buffer b;
  int n = lua_gettop(L);
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    int t = lua_type(L, i);
    luaL_argcheck(L, t == LUA_TSTRING || t == LUA_TNUMBER || t == LUA_TBOOLEAN, i,
                  "tunduk.log takes strings, numbers and booleans");
    if (i > 1) luaL_addchar(&b, ' ');
    if (t == LUA_TBOOLEAN) luaL_addstring(&b, lua_toboolean(L, i) ? "true" : "false");
    else {
      lua_pushvalue(L, i);
      luaL_addvalue(&b);
    }
  }
  luaL_pushresult(&b);
  char line[512];
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  copy_line(line, sizeof line, s, len);
  /* Plugins may log record contents: debug level only. */
  TK_LOG(TK_LOG_DEBUG, "plugin", "plugin=%s %s", p->name, line);
  return 0;
}

/* Builds the whole environment and makes it the state's global table. */
static void open_sandbox(lua_State *L)
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
  if (luaL_newmetatable(L, VERDICT_MT)) {
    lua_pushliteral(L, VERDICT_MT);
    lua_setfield(L, -2, "__metatable");
  }
  lua_pop(L, 1);
  static const luaL_Reg api_funcs[] = {
      {"content_type", l_content_type},
      {"export", l_export_decl},
      {"moderation", l_moderation_decl},
      {"accept", l_accept},
      {"reject", l_reject},
      {"quarantine", l_quarantine},
      {"array", l_array},
      {"is_array", l_is_array},
      {"log", l_log},
      {NULL, NULL}};
  lua_newtable(L); /* proxy */
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

static void decl_free(decl_t *d)
{
  if (!d) return;
  free(d->name);
  free(d->media_type);
  for (size_t i = 0; i < d->nfields_alloc; i++) {
    free((char *)d->fields[i].name);
    for (size_t k = 0; k < d->fields[i].nvalues; k++) free((char *)d->fields[i].values[k]);
    free((void *)d->fields[i].values);
  }
  free(d->fields);
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
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
          ch == '_' || ch == '-' || ch == '.'))
      luaL_error(L, "tunduk.%s: '%s' may hold only letters, digits, '_', '-' and '.'", decl,
                 key);
  }
  return s;
}

/* Starts a declaration of kind: checks the phase, the argument and the
 * name, and returns a new incomplete decl owned by the plugin. */
static decl_t *decl_begin(lua_State *L, int kind, const char *fn, size_t maxname)
{
  plugin_t *p = plugin_of(L);
  if (!p->loading)
    luaL_error(L, "tunduk.%s: declarations are only allowed while the plugin loads", fn);
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  size_t n;
  const char *name = get_name(L, 1, "name", maxname, &n, fn);
  for (size_t i = 0; i < p->ndecls[kind]; i++)
    if (p->decls[kind][i]->complete && strcmp(p->decls[kind][i]->name, name) == 0)
      luaL_error(L, "tunduk.%s: %s '%s' is declared twice", fn, kind_words[kind], name);
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
  return strcmp(((const tk_plugin_field_t *)a)->name, ((const tk_plugin_field_t *)b)->name);
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
    const char *kind = NULL;
    int vt = lua_type(L, -1);
    if (vt == LUA_TSTRING) {
      kind = lua_tostring(L, -1);
    } else if (vt == LUA_TTABLE) {
      lua_pushliteral(L, "kind");
      if (lua_rawget(L, -2) == LUA_TSTRING) kind = lua_tostring(L, -1);
      lua_pop(L, 1); /* kind stays referenced by the field table */
    }
    f->kind = kind ? field_kind(kind) : -1;
    if (f->kind < 0)
      luaL_error(L,
                 "tunduk.content_type: field '%s' needs a kind (text, date, datetime, enum, "
                 "integer, boolean, list, ref)",
                 f->name);
    if (f->kind == TK_FIELD_ENUM) {
      if (vt != LUA_TTABLE)
        luaL_error(L, "tunduk.content_type: enum field '%s' needs { kind = \"enum\", values = "
                      "{...} }", f->name);
      lua_pushliteral(L, "values");
      if (lua_rawget(L, -2) != LUA_TTABLE)
        luaL_error(L, "tunduk.content_type: enum field '%s' needs a values list", f->name);
      lua_Integer nv = (lua_Integer)lua_rawlen(L, -1);
      if (nv < 1 || nv > TK_PLUGIN_MAX_ENUM)
        luaL_error(L, "tunduk.content_type: enum field '%s' needs 1 to %d values", f->name,
                   TK_PLUGIN_MAX_ENUM);
      const char **vals = calloc((size_t)nv, sizeof *vals);
      if (!vals) luaL_error(L, "out of memory");
      f->values = vals;
      for (lua_Integer i = 1; i <= nv; i++) {
        if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
          luaL_error(L, "tunduk.content_type: enum field '%s': values must be strings",
                     f->name);
        size_t vn;
        const char *v = lua_tolstring(L, -1, &vn);
        vals[i - 1] = dup_or_raise(L, v, vn);
        f->nvalues++;
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  qsort(d->fields, d->nfields_alloc, sizeof *d->fields, cmp_field);
  d->pub.fields = d->fields;
  d->pub.nfields = d->nfields_alloc;
}

static void read_required(lua_State *L, decl_t *d)
{
  lua_pushliteral(L, "required");
  int t = lua_rawget(L, 1);
  if (t == LUA_TNIL) {
    lua_pop(L, 1);
    return;
  }
  if (t != LUA_TTABLE) luaL_error(L, "tunduk.content_type: 'required' must be a list of names");
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
      luaL_error(L, "tunduk.content_type: 'required' must be a list of names");
    const char *name = lua_tostring(L, -1);
    tk_plugin_field_t key = {.name = name};
    tk_plugin_field_t *f =
        d->nfields_alloc ? bsearch(&key, d->fields, d->nfields_alloc, sizeof *d->fields,
                                   cmp_field)
                         : NULL;
    if (!f)
      luaL_error(L, "tunduk.content_type: required field '%s' is not declared in fields",
                 name);
    f->required = 1;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static int l_content_type(lua_State *L)
{
  decl_t *d = decl_begin(L, TK_PLUGIN_TYPE, "content_type", TK_MAX_TYPE_LEN);
  read_fields(L, d);
  read_required(L, d);
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

static int l_moderation_decl(lua_State *L)
{
  decl_t *d = decl_begin(L, TK_PLUGIN_MODERATION, "moderation", TK_PLUGIN_MAX_NAME);
  lua_newtable(L);
  take_callback(L, "check", 1, "moderation");
  decl_finish(L, d);
  return 0;
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
    for (size_t i = 0; i < p->ndecls[k]; i++) decl_free(p->decls[k][i]);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

static int op_load(lua_State *L)
{
  call_t *c = lua_touserdata(L, 1);
  plugin_t *p = c->p;
  open_sandbox(L);
  char chunk[TK_PLUGIN_MAX_NAME + 2];
  snprintf(chunk, sizeof chunk, "@%s", p->name);
  int st = luaL_loadbufferx(L, c->src, c->srcn, chunk, "t");
  if (st != LUA_OK) {
    char msg[400];
    if (st == LUA_ERRMEM) snprintf(msg, sizeof msg, "memory limit exceeded while compiling");
    else describe_error(L, msg, sizeof msg);
    c->rc = tk_err_set(&c->e, TK_EFORMAT, "plugin %s: %s", p->name, msg);
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
    if (lim->mem_bytes) s->lim.mem_bytes = lim->mem_bytes < MIN_MEM ? MIN_MEM : lim->mem_bytes;
    if (lim->instructions) s->lim.instructions = lim->instructions;
    if (lim->call_ms) s->lim.call_ms = lim->call_ms;
    if (lim->max_string) s->lim.max_string = lim->max_string;
    if (lim->max_pattern_subject) s->lim.max_pattern_subject = lim->max_pattern_subject;
  }
  *out = s;
  return 0;
}

void tk_plugin_set_free(tk_plugin_set_t *s)
{
  if (!s) return;
  for (size_t i = 0; i < s->nplugins; i++) plugin_free(s->plugins[i]);
  free(s->plugins);
  for (int k = 0; k < TK_PLUGIN_NKINDS; k++) free(s->decls[k]);
  for (size_t i = 0; i < s->nerrors; i++) free(s->errors[i]);
  free(s->errors);
  free(s);
}

int tk_plugin_set_add_source(tk_plugin_set_t *s, const char *name, const char *src, size_t n,
                             tk_err_t *err)
{
  call_t c;
  plugin_t *p = NULL;
  int rc = 0;
  memset(&c, 0, sizeof c);
  if (!s || !name || (!src && n)) return tk_err_set(err, TK_EINVAL, "plugin: bad arguments");
  size_t nl = strlen(name);
  if (nl == 0 || nl > TK_PLUGIN_MAX_NAME)
    return tk_err_set(err, TK_EINVAL, "plugin name '%.*s' must be 1 to %d bytes", 80, name,
                      TK_PLUGIN_MAX_NAME);
  if (n > TK_PLUGIN_MAX_SOURCE)
    return tk_err_set(err, TK_ELIMIT, "plugin %s: %zu bytes is over the limit of %u", name, n,
                      TK_PLUGIN_MAX_SOURCE);
  p = calloc(1, sizeof *p);
  if (!p) return tk_err_set(err, TK_ENOMEM, "plugin %s: out of memory", name);
  memcpy(p->name, name, nl + 1);
  p->lim = s->lim;
  pthread_mutex_init(&p->mu, NULL);
  p->L = lua_newstate(l_alloc, p);
  if (!p->L) {
    rc = tk_err_set(err, TK_ENOMEM, "plugin %s: cannot create a Lua state", name);
    goto done;
  }
  lua_atpanic(p->L, l_panic);
  lua_sethook(p->L, l_hook, LUA_MASKCOUNT, hook_every(p)); /* before any plugin code */

  c.src = src ? src : "";
  c.srcn = n;
  snprintf(c.what, sizeof c.what, "load");
  rc = run_call(p, op_load, &c);
  if (rc < 0) {
    if (err) *err = c.e;
    goto done;
  }
  /* Names are unique across the set: a clash refuses the newcomer. */
  for (int k = 0; k < TK_PLUGIN_NKINDS; k++)
    for (size_t i = 0; i < p->ndecls[k]; i++) {
      decl_t *d = p->decls[k][i], *other;
      if (!d->complete) continue;
      if ((other = set_find(s, k, d->name))) {
        rc = tk_err_set(err, TK_EPLUGIN, "plugin %s: %s '%s' is already declared by %s", name,
                        kind_words[k], d->name, other->plugin->name);
        goto done;
      }
    }
  plugin_t **np = realloc(s->plugins, (s->nplugins + 1) * sizeof *np);
  if (!np) {
    rc = tk_err_set(err, TK_ENOMEM, "plugin %s: out of memory", name);
    goto done;
  }
  s->plugins = np;
  for (int k = 0; k < TK_PLUGIN_NKINDS; k++) {
    decl_t **nd = realloc(s->decls[k], (s->ndecls[k] + p->ndecls[k] + 1) * sizeof *nd);
    if (!nd) {
      rc = tk_err_set(err, TK_ENOMEM, "plugin %s: out of memory", name);
      goto done;
    }
    s->decls[k] = nd;
  }
  for (int k = 0; k < TK_PLUGIN_NKINDS; k++)
    for (size_t i = 0; i < p->ndecls[k]; i++)
      if (p->decls[k][i]->complete) s->decls[k][s->ndecls[k]++] = p->decls[k][i];
  s->plugins[s->nplugins++] = p;
  p = NULL;
  TK_LOG(TK_LOG_INFO, "plugin", "loaded plugin=%s", name);
done:
  plugin_free(p);
  return rc;
}

int tk_plugin_set_add_file(tk_plugin_set_t *s, const char *path, tk_err_t *err)
{
  int rc = 0, fd = -1;
  char *src = NULL;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
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
  rc = tk_plugin_set_add_source(s, base, src, got, err);
done:
  if (fd >= 0) close(fd);
  free(src);
  return rc;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int keep_error(tk_plugin_set_t *s, const char *msg)
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
    if (de->d_name[0] == '.' || len < 5 || strcmp(de->d_name + len - 4, ".lua") != 0) continue;
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
    if (keep_error(s, e.msg) < 0) {
      rc = tk_err_set(err, TK_ENOMEM, "out of memory");
      goto done;
    }
  }
done:
  closedir(d);
  if (names)
    for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}

size_t tk_plugin_set_load_errors(const tk_plugin_set_t *s) { return s ? s->nerrors : 0; }

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

const tk_plugin_decl_t *tk_plugin_set_find(const tk_plugin_set_t *s, int kind, const char *name)
{
  decl_t *d = set_find(s, kind, name);
  return d ? &d->pub : NULL;
}

/* ---- host field checks -------------------------------------------------------- */

static int digits(const char *s, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 1;
}

static int valid_date(const char *s, size_t n)
{
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, m, d;
  if (n != 10 || s[4] != '-' || s[7] != '-') return 0;
  if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d)) return 0;
  if (y < 1 || m < 1 || m > 12 || d < 1) return 0;
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= mdays[m - 1] + (m == 2 && leap);
}

/* RFC 3339 date-time: full-date "T" HH:MM:SS [.frac] ("Z" | +HH:MM | -HH:MM). */
static int valid_datetime(const char *s, size_t n)
{
  int h, mi, se;
  if (n < 20 || !valid_date(s, 10) || (s[10] != 'T' && s[10] != 't')) return 0;
  const char *t = s + 11;
  if (t[2] != ':' || t[5] != ':' || !digits(t, 2, &h) || !digits(t + 3, 2, &mi) ||
      !digits(t + 6, 2, &se) || h > 23 || mi > 59 || se > 60)
    return 0;
  size_t i = 19;
  if (s[i] == '.') {
    size_t start = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == start) return 0;
  }
  if (i < n && (s[i] == 'Z' || s[i] == 'z')) return i + 1 == n;
  if (i < n && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    return n - i == 6 && s[i + 3] == ':' && digits(s + i + 1, 2, &oh) &&
           digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59;
  }
  return 0;
}

static int valid_ref(const char *s, size_t n)
{
  if (n != 32) return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
      return 0;
  }
  return 1;
}

/* The declared fields of d against body. 0 or TK_EINVAL naming the field. */
static int check_fields(const decl_t *d, json_t *body, tk_err_t *err)
{
  const char *t = d->name;
  for (size_t i = 0; i < d->pub.nfields; i++) {
    const tk_plugin_field_t *f = &d->pub.fields[i];
    json_t *v = json_object_get(body, f->name);
    int empty = !v || json_is_null(v) ||
                (f->kind == TK_FIELD_TEXT && json_is_string(v) && json_string_length(v) == 0);
    if (empty) {
      if (f->required)
        return tk_err_set(err, TK_EINVAL, "content type '%s': field '%s' is required", t,
                          f->name);
      continue;
    }
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    size_t sn = s ? json_string_length(v) : 0;
    const char *want = NULL;
    switch (f->kind) {
    case TK_FIELD_TEXT:
      if (!s) want = "must be text";
      break;
    case TK_FIELD_DATE:
      if (!s || !valid_date(s, sn)) want = "must be a date YYYY-MM-DD";
      break;
    case TK_FIELD_DATETIME:
      if (!s || !valid_datetime(s, sn))
        want = "must be an RFC 3339 date and time (YYYY-MM-DDTHH:MM:SSZ)";
      break;
    case TK_FIELD_ENUM: {
      int ok = 0;
      for (size_t k = 0; s && k < f->nvalues && !ok; k++)
        ok = strlen(f->values[k]) == sn && memcmp(f->values[k], s, sn) == 0;
      if (!ok) {
        char list[200];
        size_t at = 0;
        list[0] = 0;
        for (size_t k = 0; k < f->nvalues && at < sizeof list - 1; k++)
          at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", k ? ", " : "",
                                 f->values[k]);
        return tk_err_set(err, TK_EINVAL, "content type '%s': field '%s' must be one of: %s", t,
                          f->name, list);
      }
      break;
    }
    case TK_FIELD_INTEGER:
      if (!json_is_integer(v)) want = "must be an integer";
      break;
    case TK_FIELD_BOOLEAN:
      if (!json_is_boolean(v)) want = "must be true or false";
      break;
    case TK_FIELD_LIST:
      if (!json_is_array(v)) want = "must be a list";
      break;
    case TK_FIELD_REF:
      if (!s || !valid_ref(s, sn)) want = "must be a record id (32 hex digits)";
      break;
    }
    if (want) return tk_err_set(err, TK_EINVAL, "content type '%s': field '%s' %s", t, f->name, want);
  }
  return 0;
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
  } strs[] = {{"record_id", m->record_id}, {"revision_id", m->revision_id},
              {"type", m->type},           {"vault", m->vault},
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

/* If the value at idx is a genuine verdict: its kind ("accept", "reject",
 * "quarantine") with its reason copied to reason; else NULL. */
static const char *read_verdict(lua_State *L, int idx, char *reason, size_t rn)
{
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx)) return NULL;
  luaL_getmetatable(L, VERDICT_MT);
  int genuine = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  if (!genuine) return NULL;
  const char *kind = NULL;
  lua_pushliteral(L, "verdict");
  lua_rawget(L, idx);
  if (lua_type(L, -1) == LUA_TSTRING) {
    const char *k = lua_tostring(L, -1);
    if (!strcmp(k, "accept")) kind = "accept";
    else if (!strcmp(k, "reject")) kind = "reject";
    else if (!strcmp(k, "quarantine")) kind = "quarantine";
  }
  lua_pop(L, 1);
  lua_pushliteral(L, "reason");
  lua_rawget(L, idx);
  size_t n = 0;
  const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : "";
  copy_line(reason, rn, s, n);
  lua_pop(L, 1);
  return kind;
}

static int op_validate(lua_State *L)
{
  call_t *c = lua_touserdata(L, 1);
  char reason[TK_PLUGIN_MAX_REASON + 1];
  push_callback(L, c, "validate");
  push_json(L, c, c->body, NULL);
  if (call_plugin(L, c, 1, 2) < 0) return 0;
  const char *kind = read_verdict(L, -2, reason, sizeof reason);
  if ((kind && !strcmp(kind, "accept")) || (lua_type(L, -2) == LUA_TBOOLEAN && lua_toboolean(L, -2)))
    return 0;
  if (!kind) {
    int t1 = lua_type(L, -2), t2 = lua_type(L, -1);
    if ((t1 == LUA_TNIL || t1 == LUA_TBOOLEAN) && (t2 == LUA_TSTRING || t2 == LUA_TNUMBER)) {
      size_t n;
      const char *s = lua_tolstring(L, -1, &n);
      copy_line(reason, sizeof reason, s, n);
    } else if (t1 == LUA_TBOOLEAN) {
      snprintf(reason, sizeof reason, "refused without a reason");
    } else {
      snprintf(reason, sizeof reason,
               "validate returned no verdict (want true, or nil and a reason)");
    }
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
    return call_fail(c, TK_EPLUGIN, "summary returned a %s, want a string", lua_typename(L, t)),
           0;
  size_t n;
  const char *s = lua_tolstring(L, -1, &n);
  char line[TK_PLUGIN_MAX_SUMMARY + 1];
  copy_line(line, sizeof line, s, n);
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
      copy_line(reason, sizeof reason, s, n);
    }
    return call_fail(c, TK_EPLUGIN, "merge declined: %s", reason), 0;
  }
  if (t != LUA_TTABLE)
    return call_fail(c, TK_EPLUGIN, "merge returned a %s, want a table", lua_typename(L, t)), 0;
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
  plugin_t *p = plugin_of(L);
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
  /* The budget is per record: a fresh one with each record handed over,
   * unless a limit has already stopped this call. */
  if (!p->stop) budget_reset(p);
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
      return luaL_error(L, "out: argument %d is a %s, want a string", i, lua_typename(L, t));
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
  call_plugin(L, c, 2, 0);
  return 0;
}

static int op_check(lua_State *L)
{
  call_t *c = lua_touserdata(L, 1);
  char reason[TK_PLUGIN_MAX_REASON + 1];
  push_callback(L, c, "check");
  push_meta(L, c->meta);
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
    tk_err_set(err, TK_ENOTFOUND, "no plugin declares %s '%.64s'", kind_words[kind],
               name ? name : "(null)");
  return d;
}

static void call_init(call_t *c, decl_t *d, const char *fn)
{
  memset(c, 0, sizeof *c);
  c->d = d;
  snprintf(c->what, sizeof c->what, "%s '%s', %s", kind_words[d->pub.kind], d->name, fn);
}

int tk_plugin_validate(tk_plugin_set_t *s, const char *type, tk_slice_t body, tk_err_t *err)
{
  call_t c;
  json_t *j = NULL;
  decl_t *d = find_or_fail(s, TK_PLUGIN_TYPE, type, err);
  if (!d) return TK_ENOTFOUND;
  int rc = tk__plugin_json_parse(body, &j, err);
  if (rc < 0) goto done;
  if ((rc = check_fields(d, j, err)) < 0) goto done;
  if (!d->pub.has_validate) goto done;
  call_init(&c, d, "validate");
  c.body = j;
  if ((rc = run_call(d->plugin, op_validate, &c)) < 0 && err) *err = c.e;
done:
  json_decref(j);
  return rc;
}

int tk_plugin_summary(tk_plugin_set_t *s, const char *type, tk_slice_t body, tk_buf_t *out,
                      tk_err_t *err)
{
  call_t c;
  json_t *j = NULL;
  decl_t *d = find_or_fail(s, TK_PLUGIN_TYPE, type, err);
  if (!d) return TK_ENOTFOUND;
  if (!d->pub.has_summary)
    return tk_err_set(err, TK_ENOTFOUND, "content type '%s' declares no summary", type);
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

int tk_plugin_merge(tk_plugin_set_t *s, const char *type, tk_slice_t base, tk_slice_t ours,
                    tk_slice_t theirs, tk_buf_t *out, tk_err_t *err)
{
  call_t c;
  memset(&c, 0, sizeof c);
  decl_t *d = find_or_fail(s, TK_PLUGIN_TYPE, type, err);
  if (!d) return TK_ENOTFOUND;
  if (!d->pub.has_merge)
    return tk_err_set(err, TK_ENOTFOUND, "content type '%s' declares no merge", type);
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
    rc = tk_err_set(err, TK_EPLUGIN, "plugin %s: %s: merge result: %s", d->plugin->name, c.what,
                    e.msg);
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
  call_t c;
  if (!next || !write) return tk_err_set(err, TK_EINVAL, "export: no iterator or writer");
  decl_t *d = find_or_fail(s, TK_PLUGIN_EXPORT, format, err);
  if (!d) return TK_ENOTFOUND;
  call_init(&c, d, "write");
  c.redact = redact;
  c.next = next;
  c.next_ud = next_ud;
  c.write = write;
  c.write_ud = write_ud;
  int rc = run_call(d->plugin, op_export, &c);
  if (rc < 0 && err) *err = c.e;
  json_decref(c.cur);
  return rc;
}

int tk_plugin_moderate(tk_plugin_set_t *s, const tk_plugin_meta_t *meta, tk_slice_t body,
                       tk_plugin_verdict_t *out)
{
  if (!s || !out) return TK_EINVAL;
  memset(out, 0, sizeof *out);
  out->verdict = TK_VERDICT_ACCEPT;
  json_t *j = NULL;
  tk_err_t e;
  if (body.p && tk__plugin_json_parse(body, &j, &e) < 0) {
    out->verdict = TK_VERDICT_QUARANTINE;
    snprintf(out->reason, sizeof out->reason, "%.*s", TK_PLUGIN_MAX_REASON, e.msg);
    return 0;
  }
  for (size_t i = 0; i < s->ndecls[TK_PLUGIN_MODERATION]; i++) {
    decl_t *d = s->decls[TK_PLUGIN_MODERATION][i];
    tk_plugin_verdict_t v;
    call_t c;
    memset(&v, 0, sizeof v);
    call_init(&c, d, "check");
    c.meta = meta;
    c.body = j;
    c.verdict = &v;
    if (run_call(d->plugin, op_check, &c) < 0) {
      /* A broken rule never lets a record through: quarantine. */
      v.verdict = TK_VERDICT_QUARANTINE;
      snprintf(v.reason, sizeof v.reason, "%.*s", TK_PLUGIN_MAX_REASON, c.e.msg);
    }
    if (v.verdict == TK_VERDICT_ACCEPT) continue;
    if (v.verdict == TK_VERDICT_REJECT || out->verdict == TK_VERDICT_ACCEPT) {
      out->verdict = v.verdict;
      snprintf(out->plugin, sizeof out->plugin, "%s", d->plugin->name);
      snprintf(out->rule, sizeof out->rule, "%s", d->name);
      snprintf(out->reason, sizeof out->reason, "%s", v.reason);
    }
    if (v.verdict == TK_VERDICT_REJECT) break;
  }
  json_decref(j);
  return 0;
}
