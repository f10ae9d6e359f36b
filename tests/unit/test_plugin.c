/*
 * test_plugin.c: the plugin host. First the sandbox escape list: each attempt
 * must fail cleanly with a message naming the plugin and what went wrong,
 * and the host and the plugin must stay usable. Then the normal behaviour:
 * host field checks, validate, summary, merge, export, moderation, loading a
 * folder with a broken plugin in it.
 */
#include "tk_plugin.h"
#include "tk_test.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>
#include <sys/stat.h>

#define BODY(s) TK_SLICE((s), strlen(s))

/* Small limits keep the runaway tests fast. */
static tk_plugin_limits_t test_limits(void)
{
  tk_plugin_limits_t l;
  tk_plugin_limits_default(&l);
  l.instructions = 2000000;
  l.mem_bytes = 8u << 20;
  return l;
}

static int has(const char *hay, const char *needle)
{
  if (strstr(hay, needle)) return 1;
  fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", hay, needle);
  return 0;
}

/* Runs `code` as the body of validate(r) in a fresh plugin "esc.lua" and
 * expects the call to fail with TK_EPLUGIN and a message holding want. Then
 * the same plugin must still answer (a second content type validates, and
 * the failing one fails the same way again). Returns 1 on success. */
static int escape_case(const tk_plugin_limits_t *lim, const char *code, const char *want)
{
  int ok = 0, rc;
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  char src[8192];
  tk_plugin_limits_t l = lim ? *lim : test_limits();
  snprintf(src, sizeof src,
           "tunduk.content_type{ name = 'x', validate = function(r)\n%s\nend }\n"
           "tunduk.content_type{ name = 'ok', validate = function(r) return true end }\n",
           code);
  if (tk_plugin_set_new(&s, &l) < 0) goto done;
  if (tk_plugin_set_add_source(s, "esc.lua", src, strlen(src), &e) < 0) {
    fprintf(stderr, "  load failed: %s\n", e.msg);
    goto done;
  }
  for (int round = 0; round < 2; round++) {
    tk_err_clear(&e);
    rc = tk_plugin_validate(s, "x", BODY("{}"), &e);
    if (rc != TK_EPLUGIN) {
      fprintf(stderr, "  [%s] rc %d (%s), want TK_EPLUGIN\n", code, rc, e.msg);
      goto done;
    }
    if (!has(e.msg, want) || !has(e.msg, "plugin esc.lua")) goto done;
    rc = tk_plugin_validate(s, "ok", BODY("{}"), &e);
    if (rc != 0) {
      fprintf(stderr, "  plugin unusable after [%s]: %s\n", code, e.msg);
      goto done;
    }
  }
  ok = 1;
done:
  tk_plugin_set_free(s);
  return ok;
}

/* Runs `code` in validate and expects it to return true (rc 0). */
static int lua_true(const char *code)
{
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  char src[4096];
  int ok = 0;
  tk_plugin_limits_t l = test_limits();
  snprintf(src, sizeof src,
           "tunduk.content_type{ name = 'x', validate = function(r)\n%s\nend }\n", code);
  if (tk_plugin_set_new(&s, &l) < 0) goto done;
  if (tk_plugin_set_add_source(s, "t.lua", src, strlen(src), &e) < 0) {
    fprintf(stderr, "  load failed: %s\n", e.msg);
    goto done;
  }
  if (tk_plugin_validate(s, "x", BODY("{}"), &e) != 0) {
    fprintf(stderr, "  [%s] failed: %s\n", code, e.msg);
    goto done;
  }
  ok = 1;
done:
  tk_plugin_set_free(s);
  return ok;
}

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
  char path[1024];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) abort();
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  fwrite(p, 1, n, f);
  fclose(f);
}

static int lua_dump_to_buf(lua_State *L, const void *p, size_t n, void *ud)
{
  (void)L;
  return tk_buf_append(ud, p, n) < 0;
}

/* ---- the escape list ------------------------------------------------------ */

static void test_no_files(void)
{
  CHECK(escape_case(NULL, "return io.open('/etc/passwd')", "global 'io'"));
  CHECK(escape_case(NULL, "return dofile('/etc/passwd')", "global 'dofile'"));
  CHECK(escape_case(NULL, "return loadfile('/etc/passwd')", "global 'loadfile'"));
  CHECK(lua_true(
      "return io == nil and dofile == nil and loadfile == nil and print == nil"));
}

static void test_no_commands(void)
{
  CHECK(escape_case(NULL, "return os.execute('touch /tmp/tk_pwned')", "field 'execute'"));
  CHECK(escape_case(NULL, "return io.popen('id')", "global 'io'"));
  CHECK(escape_case(NULL, "return os.remove('/tmp/x')", "field 'remove'"));
  CHECK(escape_case(NULL, "return os.getenv('HOME')", "field 'getenv'"));
  /* What os does keep. */
  CHECK(lua_true("return type(os.time()) == 'number' and type(os.clock()) == 'number' "
                 "and os.date('!%Y', 0) == '1970'"));
}

static void test_no_bytecode(void)
{
  CHECK(escape_case(NULL, "return string.dump(function() end)", "field 'dump'"));
  CHECK(escape_case(NULL, "return ('').dump(function() end)", "field 'dump'"));
  CHECK(escape_case(NULL, "return load('return 1')", "global 'load'"));

  /* A real binary chunk given as plugin source is refused at load (the
   * folder test refuses one as a file). */
  tk_buf_t bc = TK_BUF_INIT;
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  lua_State *L = luaL_newstate();
  CHECK(L);
  CHECK(luaL_loadstring(L, "tunduk.content_type{ name = 'bin' }") == LUA_OK);
  CHECK(lua_dump(L, lua_dump_to_buf, &bc, 0) == 0);
  lua_close(L);
  CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
  CHECK_RC(tk_plugin_set_add_source(s, "bin.lua", (const char *)bc.p, bc.n, &e),
           TK_EFORMAT);
  CHECK(has(e.msg, "plugin bin.lua") && has(e.msg, "binary chunk"));
  CHECK(tk_plugin_set_count(s, TK_PLUGIN_TYPE) == 0);
  tk_plugin_set_free(s);
  tk_buf_free(&bc);
}

static void test_no_modules_no_registry(void)
{
  CHECK(escape_case(NULL, "return require('os')", "global 'require'"));
  CHECK(escape_case(NULL, "return package.loadlib('libc.so.6', 'system')",
                    "global 'package'"));
  CHECK(escape_case(NULL, "return debug.getregistry()", "global 'debug'"));
  CHECK(escape_case(NULL, "collectgarbage('stop')", "global 'collectgarbage'"));
}

static void test_string_metatable_locked(void)
{
  CHECK(lua_true("return getmetatable('') == false"));
  CHECK(escape_case(NULL, "getmetatable('').__index = {}", "boolean value"));
  CHECK(escape_case(NULL, "setmetatable('', {})", "table expected"));

  /* A plugin that rewrites its own string table changes nothing for the
   * others: plugin b's ("abc"):upper() is still ABC. */
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  tk_buf_t out = TK_BUF_INIT;
  CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
  const char *a =
      "string.upper = function() return 'pwned' end\n"
      "local mt = getmetatable('')\n"
      "if type(mt) == 'table' then mt.__index = { upper = string.upper } end\n"
      "tunduk.content_type{ name = 'a', summary = function(r) return ('abc'):upper() end "
      "}\n";
  const char *b = "tunduk.content_type{ name = 'b', summary = function(r) return "
                  "('abc'):upper() end }\n";
  CHECK_RC(tk_plugin_set_add_source(s, "a.lua", a, strlen(a), &e), 0);
  CHECK_RC(tk_plugin_set_add_source(s, "b.lua", b, strlen(b), &e), 0);
  CHECK_RC(tk_plugin_summary(s, "a", BODY("{}"), &out, &e), 0);
  CHECK(strcmp((char *)out.p, "pwned") == 0); /* its own state only */
  out.n = 0;
  CHECK_RC(tk_plugin_summary(s, "b", BODY("{}"), &out, &e), 0);
  CHECK(strcmp((char *)out.p, "ABC") == 0);
  tk_buf_free(&out);
  tk_plugin_set_free(s);
}

static void test_api_table_read_only(void)
{
  CHECK(escape_case(NULL, "setmetatable(tunduk, {})", "protected metatable"));
  CHECK(escape_case(NULL, "tunduk.accept = function() end", "read-only"));
  CHECK(lua_true("return type(getmetatable(tunduk)) == 'string'"));
  CHECK(escape_case(NULL, "setmetatable({}, { __gc = function() end })", "__gc"));
  /* Declaring is for load time only. */
  CHECK(escape_case(NULL, "tunduk.content_type{ name = 'late' }", "only allowed while"));
}

static void test_instruction_limit(void)
{
  CHECK(escape_case(NULL, "while true do end", "instruction limit"));
  /* The plugin's own pcall cannot swallow the stop, nested or in a loop. */
  CHECK(escape_case(NULL, "while true do pcall(function() while true do end end) end",
                    "instruction limit"));
  CHECK(escape_case(NULL,
                    "while true do pcall(pcall, function() while true do\n"
                    "  pcall(function() while true do end end) end end) end",
                    "instruction limit"));
  /* A limit hit in a coroutine whose error the plugin catches still fails
   * the call, even if the plugin then returns true. */
  CHECK(escape_case(NULL,
                    "local co = coroutine.wrap(function() while true do end end)\n"
                    "pcall(co) return true",
                    "instruction limit"));
  /* An error object with a looping __tostring is still described. */
  CHECK(escape_case(
      NULL, "error(setmetatable({}, { __tostring = function() while true do end end }))",
      "error object is a table"));
}

static void test_time_limit(void)
{
  tk_plugin_limits_t l = test_limits();
  l.instructions = 1000000000000ull;
  l.call_ms = 100;
  CHECK(escape_case(&l, "while true do end", "time limit"));
  CHECK(escape_case(&l, "while true do pcall(function() while true do end end) end",
                    "time limit"));
}

static void test_memory_limit(void)
{
  CHECK(escape_case(NULL, "local t = {} for i = 1, 1e9 do t[i] = i end", "memory limit"));
  CHECK(
      escape_case(NULL, "local t = {} for i = 1, 1e9 do t[i] = {} end", "memory limit"));
  CHECK(
      escape_case(NULL, "local s = 'x' for i = 1, 40 do s = s .. s end", "memory limit"));
  CHECK(escape_case(NULL, "return string.rep('x', 1 << 30)", "string limit"));
  CHECK(escape_case(NULL, "return ('x'):rep(1 << 30, ',')", "string limit"));
  CHECK(escape_case(NULL, "return ('x'):rep(1e9)", "string limit"));
  /* Empty pieces would make Lua loop in C without the hook. */
  CHECK(lua_true("return ('').rep('', 1 << 50) == ''"));
  CHECK(escape_case(NULL, "return table.move({}, 1, 1 << 60, 2)", "table.move"));
  /* A memory error caught by the plugin's pcall leaves the state working. */
  CHECK(lua_true(
      "local ok = pcall(function() local t = {} for i = 1, 1e9 do t[i] = i end end)\n"
      "local t = {} for i = 1, 1000 do t[i] = i end return not ok and #t == 1000"));
}

static void test_deep_recursion(void)
{
  tk_plugin_limits_t l = test_limits();
  l.mem_bytes = 64u << 20;
  l.instructions = 50000000;
  CHECK(escape_case(&l, "local function f(n) return 1 + f(n + 1) end return f(1)",
                    "stack overflow"));
  /* Recursion through C (gsub callbacks) hits the C stack limit. */
  CHECK(escape_case(NULL,
                    "local function f(s) return (s:gsub('.', f)) end return f('ab')",
                    "stack overflow"));
  /* With the default memory cap the stack runs into the memory limit
   * instead; either way the call fails cleanly. */
  CHECK(escape_case(NULL, "local function f(n) return 1 + f(n + 1) end return f(1)",
                    "esc.lua"));
}

static void test_pattern_limits(void)
{
  tk_plugin_limits_t l = test_limits();
  l.max_pattern_subject = 1000;
  CHECK(escape_case(&l, "return string.find(string.rep('a', 2000), 'b')",
                    "at most 1000 bytes"));
  CHECK(escape_case(&l, "return ('a'):rep(2000):match('(a*)b')", "at most 1000 bytes"));
  CHECK(escape_case(&l, "for w in ('a'):rep(2000):gmatch('a') do end",
                    "at most 1000 bytes"));
  CHECK(escape_case(&l, "return ('a'):rep(2000):gsub('a', 'b')", "at most 1000 bytes"));
  CHECK(escape_case(&l, "return ('a'):find(('%a'):rep(3000))", "patterns are limited"));
  CHECK(lua_true("return ('hello world'):match('^(%w+)') == 'hello'"));
}

static void test_error_objects(void)
{
  CHECK(escape_case(NULL, "error({ code = 7 })", "error object is a table value"));
  CHECK(escape_case(
      NULL, "error(setmetatable({}, { __tostring = function() error('no') end }))",
      "__tostring failed"));
  CHECK(escape_case(
      NULL, "error(setmetatable({}, { __tostring = function() return 'nice' end }))",
      "nice"));
  CHECK(escape_case(NULL, "error('plain')", "esc.lua:2: plain"));
  CHECK(escape_case(NULL, "error(42)", "42"));
  CHECK(escape_case(NULL, "error()", "nil value"));
  CHECK(escape_case(NULL, "local x = nil; return x.y", "esc.lua:2:"));
}

static void test_records_are_copies(void)
{
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  tk_buf_t out = TK_BUF_INIT;
  const char *src =
      "tunduk.content_type{ name = 'c',\n"
      "  validate = function(r) r.title = 'changed'; r.tags[1] = 'x'; return true end,\n"
      "  summary = function(r) return r.title .. '/' .. r.tags[1] end }\n";
  CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
  CHECK_RC(tk_plugin_set_add_source(s, "c.lua", src, strlen(src), &e), 0);
  const char *body = "{\"title\":\"orig\",\"tags\":[\"t\"]}";
  CHECK_RC(tk_plugin_validate(s, "c", BODY(body), &e), 0);
  CHECK_RC(tk_plugin_summary(s, "c", BODY(body), &out, &e), 0);
  CHECK(strcmp((char *)out.p, "orig/t") == 0);
  tk_buf_free(&out);
  tk_plugin_set_free(s);
}

/* ---- normal behaviour ----------------------------------------------------- */

static const char *case_src =
    "tunduk.content_type{\n"
    "  name = 'case',\n"
    "  fields = {\n"
    "    title = 'text', opened = 'date', seen = 'datetime',\n"
    "    status = { kind = 'enum', values = { 'open', 'closed' } },\n"
    "    count = 'integer', urgent = 'boolean', tags = 'list', related = 'ref',\n"
    "  },\n"
    "  required = { 'title', 'opened' },\n"
    "  validate = function(r)\n"
    "    if r.title == 'bad' then return nil, 'title may not be bad' end\n"
    "    if r.title == 'silent' then return end\n"
    "    if r.title == 'rej' then return tunduk.reject('rejected by helper') end\n"
    "    return true\n"
    "  end,\n"
    "  summary = function(r) return r.title .. '\\n(' .. (r.status or '?') .. ')' end,\n"
    "  merge = function(base, ours, theirs)\n"
    "    if ours.title == 'nomerge' then return nil, 'needs a person' end\n"
    "    local m = { title = ours.title, opened = theirs.opened, tags = tunduk.array(),\n"
    "                note = tunduk.null, n = 3, x = 1.5, base = base and base.title or "
    "false }\n"
    "    for _, t in ipairs(ours.tags) do m.tags[#m.tags + 1] = t end\n"
    "    for _, t in ipairs(theirs.tags) do m.tags[#m.tags + 1] = t end\n"
    "    return m\n"
    "  end,\n"
    "}\n";

static tk_plugin_set_t *case_set(void)
{
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  tk_plugin_limits_t l = test_limits();
  if (tk_plugin_set_new(&s, &l) < 0) return NULL;
  if (tk_plugin_set_add_source(s, "case.lua", case_src, strlen(case_src), &e) < 0) {
    fprintf(stderr, "%s\n", e.msg);
    tk_plugin_set_free(s);
    return NULL;
  }
  return s;
}

/* validate(body) must be refused with a message naming field. */
static int refused(tk_plugin_set_t *s, const char *body, const char *field)
{
  tk_err_t e;
  int rc = tk_plugin_validate(s, "case", BODY(body), &e);
  if (rc != TK_EINVAL) {
    fprintf(stderr, "  %s: rc %d, want TK_EINVAL\n", body, rc);
    return 0;
  }
  char want[80];
  snprintf(want, sizeof want, "field '%s'", field);
  return has(e.msg, want) && has(e.msg, "content type 'case'");
}

static int accepted(tk_plugin_set_t *s, const char *body)
{
  tk_err_t e;
  int rc = tk_plugin_validate(s, "case", BODY(body), &e);
  if (rc != 0) fprintf(stderr, "  %s: refused: %s\n", body, e.msg);
  return rc == 0;
}

#define BASE "\"title\":\"T\",\"opened\":\"2024-02-29\""

static void test_fields(void)
{
  tk_plugin_set_t *s = case_set();
  CHECK(s);
  const tk_plugin_decl_t *d = tk_plugin_set_find(s, TK_PLUGIN_TYPE, "case");
  CHECK(d && d->nfields == 8 && d->has_validate && d->has_summary && d->has_merge);
  CHECK(strcmp(d->fields[0].name, "count") == 0 && d->fields[0].kind == TK_FIELD_INTEGER);
  CHECK(strcmp(d->plugin, "case.lua") == 0);

  CHECK(accepted(s, "{" BASE "}"));
  /* required */
  CHECK(refused(s, "{\"opened\":\"2024-01-01\"}", "title"));
  CHECK(refused(s, "{\"title\":\"\",\"opened\":\"2024-01-01\"}", "title"));
  CHECK(refused(s, "{\"title\":\"T\",\"opened\":null}", "opened"));
  /* text */
  CHECK(refused(s, "{\"title\":5,\"opened\":\"2024-01-01\"}", "title"));
  /* date */
  CHECK(refused(s, "{\"title\":\"T\",\"opened\":\"2023-02-29\"}", "opened"));
  CHECK(refused(s, "{\"title\":\"T\",\"opened\":\"2024-13-01\"}", "opened"));
  CHECK(refused(s, "{\"title\":\"T\",\"opened\":\"2024-1-01\"}", "opened"));
  CHECK(refused(s, "{\"title\":\"T\",\"opened\":\"2024-04-31\"}", "opened"));
  /* datetime */
  CHECK(accepted(s, "{" BASE ",\"seen\":\"2024-05-01T10:00:00Z\"}"));
  CHECK(accepted(s, "{" BASE ",\"seen\":\"2024-05-01T10:00:00.123+06:00\"}"));
  CHECK(refused(s, "{" BASE ",\"seen\":\"2024-05-01T25:00:00Z\"}", "seen"));
  CHECK(refused(s, "{" BASE ",\"seen\":\"2024-05-01T10:00:00\"}", "seen"));
  CHECK(refused(s, "{" BASE ",\"seen\":\"2024-05-01\"}", "seen"));
  /* enum */
  CHECK(accepted(s, "{" BASE ",\"status\":\"open\"}"));
  CHECK(refused(s, "{" BASE ",\"status\":\"opened\"}", "status"));
  CHECK(refused(s, "{" BASE ",\"status\":1}", "status"));
  /* integer */
  CHECK(accepted(s, "{" BASE ",\"count\":-3}"));
  CHECK(refused(s, "{" BASE ",\"count\":1.5}", "count"));
  CHECK(refused(s, "{" BASE ",\"count\":\"3\"}", "count"));
  /* boolean */
  CHECK(accepted(s, "{" BASE ",\"urgent\":false}"));
  CHECK(refused(s, "{" BASE ",\"urgent\":0}", "urgent"));
  /* list */
  CHECK(accepted(s, "{" BASE ",\"tags\":[]}"));
  CHECK(refused(s, "{" BASE ",\"tags\":{}}", "tags"));
  /* ref */
  CHECK(accepted(s, "{" BASE ",\"related\":\"0123456789abcdef0123456789ABCDEF\"}"));
  CHECK(refused(s, "{" BASE ",\"related\":\"0123456789abcdef0123456789abcde\"}",
                "related"));
  CHECK(refused(s, "{" BASE ",\"related\":\"0123456789abcdef0123456789abcdeg\"}",
                "related"));
  tk_plugin_set_free(s);
}

static void test_validate(void)
{
  tk_err_t e;
  tk_plugin_set_t *s = case_set();
  CHECK(s);
  CHECK_RC(tk_plugin_validate(s, "case",
                              BODY("{\"title\":\"bad\",\"opened\":\"2024-01-01\"}"), &e),
           TK_EINVAL);
  CHECK(has(e.msg, "content type 'case': title may not be bad"));
  CHECK_RC(tk_plugin_validate(
               s, "case", BODY("{\"title\":\"silent\",\"opened\":\"2024-01-01\"}"), &e),
           TK_EINVAL);
  CHECK(has(e.msg, "no verdict"));
  CHECK_RC(tk_plugin_validate(s, "case",
                              BODY("{\"title\":\"rej\",\"opened\":\"2024-01-01\"}"), &e),
           TK_EINVAL);
  CHECK(has(e.msg, "rejected by helper"));
  CHECK_RC(tk_plugin_validate(s, "nosuch", BODY("{}"), &e), TK_ENOTFOUND);
  CHECK_RC(tk_plugin_validate(s, "case", BODY("[1]"), &e), TK_EFORMAT);
  CHECK_RC(tk_plugin_validate(s, "case", BODY("{\"a\":"), &e), TK_EFORMAT);
  tk_plugin_set_free(s);
}

static void test_summary(void)
{
  tk_err_t e;
  tk_buf_t out = TK_BUF_INIT;
  tk_plugin_set_t *s = case_set();
  CHECK(s);
  CHECK_RC(tk_plugin_summary(s, "case", BODY("{" BASE ",\"status\":\"open\"}"), &out, &e),
           0);
  CHECK(strcmp((char *)out.p, "T (open)") == 0); /* the newline became a space */
  tk_buf_free(&out);
  tk_plugin_set_free(s);
}

static void test_merge(void)
{
  tk_err_t e;
  tk_buf_t out = TK_BUF_INIT;
  tk_plugin_set_t *s = case_set();
  CHECK(s);
  const char *base = "{\"title\":\"B\",\"tags\":[]}";
  const char *ours = "{\"title\":\"O\",\"opened\":\"2024-01-01\",\"tags\":[\"a\"]}";
  const char *theirs =
      "{\"title\":\"X\",\"opened\":\"2024-01-02\",\"tags\":[\"b\",\"c\"]}";
  CHECK_RC(tk_plugin_merge(s, "case", BODY(base), BODY(ours), BODY(theirs), &out, &e), 0);
  CHECK(has((char *)out.p,
            "{\"base\":\"B\",\"n\":3,\"note\":null,\"opened\":\"2024-01-02\","
            "\"tags\":[\"a\",\"b\",\"c\"],\"title\":\"O\",\"x\":1.5}"));
  out.n = 0;
  /* No common ancestor: base is nil. */
  CHECK_RC(tk_plugin_merge(s, "case", TK_SLICE(NULL, 0), BODY(ours),
                           BODY("{\"title\":\"X\",\"tags\":[]}"), &out, &e),
           0);
  CHECK(has((char *)out.p, "\"base\":false") && has((char *)out.p, "\"tags\":[\"a\"]"));
  out.n = 0;
  CHECK_RC(tk_plugin_merge(s, "case", TK_SLICE(NULL, 0),
                           BODY("{\"title\":\"nomerge\",\"tags\":[]}"), BODY(theirs),
                           &out, &e),
           TK_EPLUGIN);
  CHECK(has(e.msg, "needs a person"));
  CHECK(out.n == 0);
  tk_buf_free(&out);
  tk_plugin_set_free(s);
}

static void test_merge_bad_results(void)
{
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  tk_buf_t out = TK_BUF_INIT;
  const char *src =
      "tunduk.content_type{ name = 'cyc', merge = function() local t = {}; t.me = t; "
      "return t end }\n"
      "tunduk.content_type{ name = 'nan', merge = function() return { x = 0/0 } end }\n"
      "tunduk.content_type{ name = 'key', merge = function() return { [true] = 1 } end "
      "}\n"
      "tunduk.content_type{ name = 'arr', merge = function() return { 1, 2 } end }\n"
      "tunduk.content_type{ name = 'fn', merge = function() return { f = print or pairs "
      "} end }\n"
      "tunduk.content_type{ name = 'str', merge = function() return 'x' end }\n";
  CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
  CHECK_RC(tk_plugin_set_add_source(s, "m.lua", src, strlen(src), &e), 0);
  static const struct {
    const char *type, *want;
  } cases[] = {{"cyc", "cycle"},          {"nan", "NaN"}, {"key", "key of type boolean"},
               {"arr", "want an object"}, {"fn", "$.f"},  {"str", "returned a string"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CHECK_RC(tk_plugin_merge(s, cases[i].type, TK_SLICE(NULL, 0), BODY("{}"), BODY("{}"),
                             &out, &e),
             TK_EPLUGIN);
    CHECK(has(e.msg, cases[i].want));
    CHECK(out.n == 0);
  }
  tk_buf_free(&out);
  tk_plugin_set_free(s);
}

/* Export: an iterator over three bodies and a writer into a buffer. */
typedef struct rows {
  const char *const *bodies;
  size_t i;
  int fail_at;
} rows_t;

static int rows_next(void *ud, tk_plugin_record_t *rec)
{
  rows_t *r = ud;
  static tk_plugin_meta_t meta = {.record_id = "00112233445566778899aabbccddeeff",
                                  .type = "case"};
  if ((int)r->i == r->fail_at) return TK_EIO;
  if (!r->bodies[r->i]) return 0;
  rec->body = BODY(r->bodies[r->i]);
  rec->meta = &meta;
  r->i++;
  return 1;
}

static int buf_write(void *ud, const void *p, size_t n)
{
  return tk_buf_append(ud, p, n);
}

static const char *csv_src =
    "local function cell(v)\n"
    "  if v == nil or v == tunduk.null then return '' end\n"
    "  v = tostring(v)\n"
    "  if v:find('[,\"\\n]') then v = '\"' .. v:gsub('\"', '\"\"') .. '\"' end\n"
    "  return v\n"
    "end\n"
    "tunduk.export{ name = 'csv', media_type = 'text/csv',\n"
    "  write = function(records, out)\n"
    "    out('id,title,count\\n')\n"
    "    for r, m in records do\n"
    "      out(m.record_id:sub(1, 4), ',', cell(r.title), ',', cell(r.count), '\\n')\n"
    "    end\n"
    "  end }\n"
    "tunduk.export{ name = 'keep', write = function(records, out) kept = records end }\n"
    "tunduk.content_type{ name = 'k', validate = function() return kept() end }\n";

static void test_export(void)
{
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  tk_buf_t out = TK_BUF_INIT;
  CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
  CHECK_RC(tk_plugin_set_add_source(s, "csv.lua", csv_src, strlen(csv_src), &e), 0);
  const tk_plugin_decl_t *d = tk_plugin_set_find(s, TK_PLUGIN_EXPORT, "csv");
  CHECK(d && strcmp(d->media_type, "text/csv") == 0);

  const char *bodies[] = {"{\"title\":\"one\",\"count\":1,\"secret\":\"s\"}",
                          "{\"title\":\"a, \\\"b\\\"\",\"count\":null}",
                          "{\"title\":\"three\"}", NULL};
  rows_t r = {bodies, 0, -1};
  CHECK_RC(tk_plugin_export(s, "csv", NULL, rows_next, &r, buf_write, &out, &e), 0);
  CHECK_RC(tk_buf_append_u8(&out, 0), 0);
  CHECK(strcmp((char *)out.p,
               "id,title,count\n0011,one,1\n0011,\"a, \"\"b\"\"\",\n0011,three,\n") == 0);

  /* Redaction: the plugin never sees the field. */
  out.n = 0;
  r.i = 0;
  const char *redact[] = {"title", NULL};
  CHECK_RC(tk_plugin_export(s, "csv", redact, rows_next, &r, buf_write, &out, &e), 0);
  CHECK_RC(tk_buf_append_u8(&out, 0), 0);
  CHECK(strcmp((char *)out.p, "id,title,count\n0011,,1\n0011,,\n0011,,\n") == 0);

  /* A failing iterator stops the export with its code. */
  out.n = 0;
  r.i = 0;
  r.fail_at = 1;
  CHECK_RC(tk_plugin_export(s, "csv", NULL, rows_next, &r, buf_write, &out, &e), TK_EIO);
  CHECK(has(e.msg, "reading record 2"));

  /* The records closure kept past its export fails cleanly later. */
  r.i = 0;
  r.fail_at = -1;
  CHECK_RC(tk_plugin_export(s, "keep", NULL, rows_next, &r, buf_write, &out, &e), 0);
  CHECK_RC(tk_plugin_validate(s, "k", BODY("{}"), &e), TK_EPLUGIN);
  CHECK(has(e.msg, "outside the export"));
  CHECK_RC(tk_plugin_export(s, "nosuch", NULL, rows_next, &r, buf_write, &out, &e),
           TK_ENOTFOUND);
  tk_buf_free(&out);
  tk_plugin_set_free(s);
}

static void test_export_budget_per_record(void)
{
  /* 50 records each costing ~100k instructions: over the per-call budget
   * in total, under it per record. */
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  tk_buf_t out = TK_BUF_INIT;
  tk_plugin_limits_t l = test_limits();
  l.instructions = 1000000;
  const char *src =
      "tunduk.export{ name = 'slow', write = function(records, out)\n"
      "  for r in records do local x = 0 for i = 1, 30000 do x = x + i end out('.') end\n"
      "end }\n";
  const char *bodies[51];
  for (int i = 0; i < 50; i++)
    bodies[i] = "{}";
  bodies[50] = NULL;
  rows_t r = {bodies, 0, -1};
  CHECK_RC(tk_plugin_set_new(&s, &l), 0);
  CHECK_RC(tk_plugin_set_add_source(s, "slow.lua", src, strlen(src), &e), 0);
  CHECK_RC(tk_plugin_export(s, "slow", NULL, rows_next, &r, buf_write, &out, &e), 0);
  CHECK(out.n == 50);
  tk_buf_free(&out);
  tk_plugin_set_free(s);
}

static const char *mod_src =
    "tunduk.moderation{ name = 'size', check = function(meta, r)\n"
    "  if meta.size > 1000 then return tunduk.reject('too big') end\n"
    "  return tunduk.accept() end }\n"
    "tunduk.moderation{ name = 'words', check = function(meta, r)\n"
    "  if r == nil then return tunduk.accept() end\n"
    "  if r.title == 'spam' then return tunduk.quarantine('looks like spam') end\n"
    "  if r.title == 'boom' then error('rule broke') end\n"
    "  if r.title == 'quiet' then return end\n"
    "  if r.title == 'true' then return true end\n"
    "  if r.title == 'loop' then while true do end end\n"
    "  return tunduk.accept() end }\n";

static void test_moderation(void)
{
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  tk_plugin_verdict_t v;
  tk_plugin_meta_t meta = {.record_id = "00112233445566778899aabbccddeeff",
                           .type = "case",
                           .vault = "osh",
                           .size = 10};
  CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
  CHECK_RC(tk_plugin_set_add_source(s, "mod.lua", mod_src, strlen(mod_src), &e), 0);
  CHECK(tk_plugin_set_count(s, TK_PLUGIN_MODERATION) == 2);

  CHECK_RC(tk_plugin_moderate(s, &meta, BODY("{\"title\":\"fine\"}"), &v), 0);
  CHECK(v.verdict == TK_VERDICT_ACCEPT);
  CHECK_RC(tk_plugin_moderate(s, &meta, TK_SLICE(NULL, 0), &v), 0); /* no key */
  CHECK(v.verdict == TK_VERDICT_ACCEPT);

  CHECK_RC(tk_plugin_moderate(s, &meta, BODY("{\"title\":\"spam\"}"), &v), 0);
  CHECK(v.verdict == TK_VERDICT_QUARANTINE);
  CHECK(strcmp(v.reason, "looks like spam") == 0 && strcmp(v.rule, "words") == 0 &&
        strcmp(v.plugin, "mod.lua") == 0);

  meta.size = 5000;
  CHECK_RC(tk_plugin_moderate(s, &meta, BODY("{\"title\":\"spam\"}"), &v), 0);
  CHECK(v.verdict == TK_VERDICT_REJECT && strcmp(v.reason, "too big") == 0);
  meta.size = 10;

  /* Broken rules quarantine, never accept. */
  static const struct {
    const char *body, *want;
  } broken[] = {{"{\"title\":\"boom\"}", "mod.lua:7: rule broke"},
                {"{\"title\":\"quiet\"}", "no verdict"},
                {"{\"title\":\"true\"}", "no verdict"},
                {"{\"title\":\"loop\"}", "instruction limit"},
                {"{\"title\":", "not valid JSON"}};
  for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
    CHECK_RC(tk_plugin_moderate(s, &meta, BODY(broken[i].body), &v), 0);
    CHECK(v.verdict == TK_VERDICT_QUARANTINE);
    CHECK(has(v.reason, broken[i].want));
  }
  /* And the rules still work afterwards. */
  CHECK_RC(tk_plugin_moderate(s, &meta, BODY("{\"title\":\"fine\"}"), &v), 0);
  CHECK(v.verdict == TK_VERDICT_ACCEPT);
  tk_plugin_set_free(s);
}

/* reads: a rule sees the records of the types it names, nil for others;
 * a body no rule reads is not even parsed; bad lists fail the load. */
static const char *reads_src =
    "tunduk.moderation{ name = 'consent', reads = { 'testimony' },\n"
    "  check = function(meta, r)\n"
    "    if r == nil then return tunduk.quarantine('nil for ' .. meta.type) end\n"
    "    if r.consent == nil then return tunduk.reject('no consent') end\n"
    "    return tunduk.accept() end }\n"
    "tunduk.moderation{ name = 'blind', reads = {},\n"
    "  check = function(meta, r)\n"
    "    if r ~= nil then return tunduk.reject('blind rule saw a record') end\n"
    "    return tunduk.accept() end }\n";

static void test_moderation_reads(void)
{
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  tk_plugin_verdict_t v;
  tk_plugin_meta_t meta = {.type = "testimony", .vault = "osh", .size = 10};
  CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
  CHECK_RC(tk_plugin_set_add_source(s, "reads.lua", reads_src, strlen(reads_src), &e), 0);
  const tk_plugin_decl_t *d = tk_plugin_set_find(s, TK_PLUGIN_MODERATION, "consent");
  CHECK(d && !d->reads_all && d->nreads == 1 && strcmp(d->reads[0], "testimony") == 0);
  CHECK(tk_plugin_moderation_reads(s, "testimony") == 1);
  CHECK(tk_plugin_moderation_reads(s, "case") == 0);
  CHECK_RC(tk_plugin_moderate(s, &meta, BODY("{\"consent\":\"written\"}"), &v), 0);
  CHECK(v.verdict == TK_VERDICT_ACCEPT);
  CHECK_RC(tk_plugin_moderate(s, &meta, BODY("{\"title\":\"x\"}"), &v), 0);
  CHECK(v.verdict == TK_VERDICT_REJECT && strcmp(v.reason, "no consent") == 0);
  /* a case: the consent rule gets nil (and says so), and a body that does
   * not even parse is never looked at */
  meta.type = "case";
  CHECK_RC(tk_plugin_moderate(s, &meta, BODY("{\"consent\":\"written\"}"), &v), 0);
  CHECK(v.verdict == TK_VERDICT_QUARANTINE && strcmp(v.reason, "nil for case") == 0);
  CHECK_RC(tk_plugin_moderate(s, &meta, BODY("{\"title\":"), &v), 0);
  CHECK(v.verdict == TK_VERDICT_QUARANTINE && strcmp(v.reason, "nil for case") == 0);
  /* a testimony body that does not parse still quarantines */
  meta.type = "testimony";
  CHECK_RC(tk_plugin_moderate(s, &meta, BODY("{\"title\":"), &v), 0);
  CHECK(v.verdict == TK_VERDICT_QUARANTINE && has(v.reason, "not valid JSON"));
  tk_plugin_set_free(s);
  /* a rule that does not say reads every type */
  CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
  CHECK_RC(tk_plugin_set_add_source(s, "mod.lua", mod_src, strlen(mod_src), &e), 0);
  CHECK(tk_plugin_set_find(s, TK_PLUGIN_MODERATION, "words")->reads_all == 1);
  CHECK(tk_plugin_moderation_reads(s, "anything") == 1);
  tk_plugin_set_free(s);

  static const struct {
    const char *reads, *want;
  } bad[] = {
      {"'testimony'", "'reads' must be a list of content type names"},
      {"{ 'Testimony' }", "'reads' entry 1 must be a content type name"},
      {"{ 'case', 7 }", "'reads' entry 2 must be a content type name"},
      {"{ 'a\\0b' }", "'reads' entry 1 must be a content type name"},
      {"{ '' }", "'reads' entry 1 must be a content type name"},
      {"{ string.rep('a', 33) }", "'reads' entry 1 must be a content type name"},
      {"(function() local t = {} for i = 1, 65 do t[i] = 'a' end return t end)()",
       "'reads' names more than 64 types"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char src[512];
    snprintf(src, sizeof src,
             "tunduk.moderation{ name = 'r', reads = %s,\n"
             "  check = function(meta, r) return tunduk.accept() end }\n",
             bad[i].reads);
    CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
    CHECK(tk_plugin_set_add_source(s, "bad.lua", src, strlen(src), &e) == TK_EPLUGIN);
    if (!has(e.msg, bad[i].want) || !has(e.msg, "bad.lua:1"))
      fprintf(stderr, "  [%s] got: %s\n", bad[i].reads, e.msg);
    CHECK(has(e.msg, bad[i].want) && has(e.msg, "bad.lua:1"));
    CHECK(tk_plugin_set_count(s, TK_PLUGIN_MODERATION) == 0);
    tk_plugin_set_free(s);
  }
  /* 64 is fine */
  const char *max = "local t = {} for i = 1, 64 do t[i] = 'a' .. i end\n"
                    "tunduk.moderation{ name = 'r', reads = t,\n"
                    "  check = function(meta, r) return tunduk.accept() end }\n";
  CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
  CHECK_RC(tk_plugin_set_add_source(s, "max.lua", max, strlen(max), &e), 0);
  CHECK(tk_plugin_moderation_reads(s, "a64") == 1 &&
        tk_plugin_moderation_reads(s, "a65") == 0);
  tk_plugin_set_free(s);
}

static void test_load_dir(void)
{
  char dir[1024];
  tk_err_t e;
  tk_plugin_set_t *s = NULL;
  snprintf(dir, sizeof dir, "%s/plugins", tk_test_tmpdir());
  CHECK(mkdir(dir, 0700) == 0);
  write_file(dir, "case.lua", case_src, strlen(case_src));
  const char *bad = "-- a comment\nlocal x = 1\nlocal = 2\n";
  write_file(dir, "bad.lua", bad, strlen(bad));
  const char *boom = "tunduk.content_type{ name = 'half' }\nerror('boom at load')\n";
  write_file(dir, "boom.lua", boom, strlen(boom));
  const char *dup = "tunduk.content_type{ name = 'case' }\n";
  write_file(dir, "dup.lua", dup, strlen(dup));
  const char *loop = "while true do end\n";
  write_file(dir, "loop.lua", loop, strlen(loop));
  const char *decl = "tunduk.content_type{ name = 'd', fields = { x = 'colour' } }\n";
  write_file(dir, "decl.lua", decl, strlen(decl));
  write_file(dir, "notes.txt", "x", 1);
  write_file(dir, ".hidden.lua", "error('x')", 10);

  /* A real binary chunk under a .lua name. */
  tk_buf_t bc = TK_BUF_INIT;
  lua_State *L = luaL_newstate();
  CHECK(L);
  CHECK(luaL_loadstring(L, "tunduk.content_type{ name = 'bin' }") == LUA_OK);
  CHECK(lua_dump(L, lua_dump_to_buf, &bc, 0) == 0);
  lua_close(L);
  CHECK(bc.n > 4 && bc.p[0] == 0x1b);
  write_file(dir, "bin.lua", bc.p, bc.n);
  tk_buf_free(&bc);

  tk_plugin_limits_t l = test_limits();
  CHECK_RC(tk_plugin_set_new(&s, &l), 0);
  CHECK_RC(tk_plugin_set_load_dir(s, dir, &e), 0);
  CHECK(tk_plugin_set_find(s, TK_PLUGIN_TYPE, "case") != NULL);
  CHECK(tk_plugin_set_find(s, TK_PLUGIN_TYPE, "half") == NULL);
  CHECK(tk_plugin_set_find(s, TK_PLUGIN_TYPE, "bin") == NULL);
  CHECK(tk_plugin_set_count(s, TK_PLUGIN_TYPE) == 1);
  CHECK(tk_plugin_set_load_errors(s) == 6);
  /* In file order: bad, bin, boom, decl, dup, loop. */
  CHECK(has(tk_plugin_set_load_error(s, 0), "plugin bad.lua: bad.lua:3:"));
  CHECK(has(tk_plugin_set_load_error(s, 1), "binary chunk"));
  CHECK(has(tk_plugin_set_load_error(s, 1), "bin.lua"));
  CHECK(has(tk_plugin_set_load_error(s, 2), "boom.lua:2: boom at load"));
  CHECK(has(tk_plugin_set_load_error(s, 3), "field 'x' needs a kind"));
  CHECK(has(tk_plugin_set_load_error(s, 4), "already declared by case.lua"));
  CHECK(has(tk_plugin_set_load_error(s, 5), "instruction limit"));
  CHECK(tk_plugin_set_load_error(s, 6) == NULL);
  /* The good plugin works. */
  CHECK(accepted(s, "{" BASE "}"));
  tk_plugin_set_free(s);

  CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
  CHECK_RC(tk_plugin_set_load_dir(s, "/nonexistent/tunduk", &e), TK_EIO);
  CHECK_RC(tk_plugin_set_add_file(s, "/nonexistent/x.lua", &e), TK_EIO);
  tk_plugin_set_free(s);
}

/* Layers overlay by file name; a file that fails keeps the previous set's
 * version, else a lower layer's; origins say which. */
static void test_load_layers(void)
{
  char low[1024], high[1024];
  tk_err_t e;
  tk_plugin_set_t *s = NULL, *s2 = NULL;
  tk_plugin_origin_t o;
  snprintf(low, sizeof low, "%s/layer-low", tk_test_tmpdir());
  snprintf(high, sizeof high, "%s/layer-high", tk_test_tmpdir());
  CHECK(mkdir(low, 0700) == 0 && mkdir(high, 0700) == 0);
  const char *r1 = "tunduk.moderation{ name = 'hold', check = function(m, r)\n"
                   "  return tunduk.quarantine('v1 ' .. tostring(m.deleted)) end }\n";
  const char *r2 = "tunduk.moderation{ name = 'hold', check = function(m, r)\n"
                   "  return tunduk.quarantine('v2') end }\n";
  const char *broken = "-- broken\nlocal x = = 1\n";
  write_file(low, "case.lua", case_src, strlen(case_src));
  write_file(low, "rule.lua", r2, strlen(r2));
  write_file(high, "rule.lua", r1, strlen(r1));
  tk_plugin_layer_t l[3] = {
      {"bundled", low, 0}, {"home", high, 1}, {"none", "/nonexistent/x", 1}};
  CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
  CHECK_RC(tk_plugin_set_load_layers(s, l, 3, NULL, &e), 0);
  CHECK(tk_plugin_set_find(s, TK_PLUGIN_TYPE, "case") != NULL);
  CHECK(tk_plugin_set_count(s, TK_PLUGIN_MODERATION) == 1);
  CHECK_RC(tk_plugin_set_origin(s, "rule.lua", &o), 0);
  CHECK(!strcmp(o.layer, "home") && o.overrides && !strcmp(o.overrides, "bundled") &&
        o.kept == TK_PLUGIN_FRESH && has(o.path, "layer-high/rule.lua"));
  /* meta.deleted is there when the rule is given the record */
  tk_plugin_meta_t m = {.type = "case", .vault = "v"};
  tk_plugin_verdict_t v;
  CHECK_RC(tk_plugin_check(s, "hold", &m, BODY("{\"_deleted\":true}"), &v), 0);
  CHECK(v.verdict == TK_VERDICT_QUARANTINE && !strcmp(v.reason, "v1 true"));
  CHECK(!strcmp(v.rule, "hold") && !strcmp(v.plugin, "rule.lua"));
  CHECK_RC(tk_plugin_check(s, "hold", &m, BODY("{\"a\":1}"), &v), 0);
  CHECK(!strcmp(v.reason, "v1 false"));
  CHECK_RC(tk_plugin_check(s, "hold", &m, TK_SLICE(NULL, 0), &v), 0);
  CHECK(!strcmp(v.reason, "v1 nil"));
  CHECK_RC(tk_plugin_check(s, "nope", &m, TK_SLICE(NULL, 0), &v), TK_ENOTFOUND);
  /* a reload with the top file broken keeps the running version */
  write_file(high, "rule.lua", broken, strlen(broken));
  CHECK_RC(tk_plugin_set_new(&s2, NULL), 0);
  CHECK_RC(tk_plugin_set_load_layers(s2, l, 3, s, &e), 0);
  CHECK(tk_plugin_set_load_errors(s2) == 1 && tk_plugin_set_kept(s2) == 1);
  CHECK(has(tk_plugin_set_load_error(s2, 0), "rule.lua:2:"));
  CHECK(has(tk_plugin_set_load_error(s2, 0), "keeping the previous version"));
  CHECK_RC(tk_plugin_check(s2, "hold", &m, TK_SLICE(NULL, 0), &v), 0);
  CHECK(!strcmp(v.reason, "v1 nil"));
  CHECK_RC(tk_plugin_set_origin(s2, "rule.lua", &o), 0);
  CHECK(o.kept == TK_PLUGIN_KEPT && !strcmp(o.layer, "home"));
  tk_plugin_set_free(s2);
  /* without a previous set: the lower layer's file */
  CHECK_RC(tk_plugin_set_new(&s2, NULL), 0);
  CHECK_RC(tk_plugin_set_load_layers(s2, l, 3, NULL, &e), 0);
  CHECK(has(tk_plugin_set_load_error(s2, 0), "using the one from bundled"));
  CHECK_RC(tk_plugin_check(s2, "hold", &m, TK_SLICE(NULL, 0), &v), 0);
  CHECK(!strcmp(v.reason, "v2"));
  CHECK_RC(tk_plugin_set_origin(s2, "rule.lua", &o), 0);
  CHECK(o.kept == TK_PLUGIN_FALLBACK && !strcmp(o.layer, "bundled"));
  tk_plugin_set_free(s2);
  tk_plugin_set_free(s);
  /* hostile folders: a sub-folder named x.lua is skipped; a name over
   * TK_PLUGIN_MAX_NAME fails that file alone; a file where a folder should
   * be, and more than TK_PLUGIN_MAX_FILES names, fail the load */
  char sub[1100], name[128];
  snprintf(sub, sizeof sub, "%s/dir.lua", high);
  CHECK(mkdir(sub, 0700) == 0);
  memset(name, 'n', 70);
  memcpy(name + 70, ".lua", 5);
  write_file(high, name, r2, strlen(r2));
  write_file(high, "rule.lua", r1, strlen(r1));
  CHECK_RC(tk_plugin_set_new(&s2, NULL), 0);
  CHECK_RC(tk_plugin_set_load_layers(s2, l, 2, NULL, &e), 0);
  CHECK(tk_plugin_set_load_errors(s2) == 1 &&
        has(tk_plugin_set_load_error(s2, 0), "1 to 64 bytes"));
  CHECK(tk_plugin_set_count(s2, TK_PLUGIN_MODERATION) == 1);
  tk_plugin_set_free(s2);
  char notdir[1100];
  snprintf(notdir, sizeof notdir, "%s/rule.lua.txt", low);
  write_file(low, "rule.lua.txt", "x", 1);
  tk_plugin_layer_t bad = {"home", notdir, 1};
  CHECK_RC(tk_plugin_set_new(&s2, NULL), 0);
  CHECK_RC(tk_plugin_set_load_layers(s2, &bad, 1, NULL, &e), TK_EIO);
  CHECK(has(e.msg, "not a folder or a .lua file"));
  for (int i = 0; i < TK_PLUGIN_MAX_FILES; i++) {
    snprintf(name, sizeof name, "many%03d.lua", i);
    write_file(i % 2 ? low : high, name, "", 0);
  }
  CHECK_RC(tk_plugin_set_load_layers(s2, l, 2, NULL, &e), TK_ELIMIT);
  CHECK(has(e.msg, "more than 256 plugins"));
  tk_plugin_set_free(s2);
  /* a required layer that is missing */
  l[1].optional = 0;
  l[1].dir = "/nonexistent/y";
  CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
  CHECK_RC(tk_plugin_set_load_layers(s, l, 2, NULL, &e), TK_EIO);
  CHECK(has(e.msg, "/nonexistent/y"));
  tk_plugin_set_free(s);
}

static void test_limits_default(void)
{
  tk_plugin_limits_t l;
  tk_plugin_limits_default(&l);
  CHECK(l.mem_bytes == 16u << 20);
  CHECK(l.instructions == 10000000);
  CHECK(l.call_ms == 2000);
  CHECK(l.max_string == 1u << 20 && l.max_pattern_subject == 1u << 20);
  /* The defaults stop a runaway plugin too. */
  CHECK(escape_case(&l, "while true do end",
                    "instruction limit exceeded (10000000 per call)"));
}

TK_TESTS(TK_TEST(test_no_files), TK_TEST(test_no_commands), TK_TEST(test_no_bytecode),
         TK_TEST(test_no_modules_no_registry), TK_TEST(test_string_metatable_locked),
         TK_TEST(test_api_table_read_only), TK_TEST(test_instruction_limit),
         TK_TEST(test_time_limit), TK_TEST(test_memory_limit),
         TK_TEST(test_deep_recursion), TK_TEST(test_pattern_limits),
         TK_TEST(test_error_objects), TK_TEST(test_records_are_copies),
         TK_TEST(test_fields), TK_TEST(test_validate), TK_TEST(test_summary),
         TK_TEST(test_merge), TK_TEST(test_merge_bad_results), TK_TEST(test_export),
         TK_TEST(test_export_budget_per_record), TK_TEST(test_moderation),
         TK_TEST(test_moderation_reads), TK_TEST(test_load_dir),
         TK_TEST(test_load_layers), TK_TEST(test_limits_default))
