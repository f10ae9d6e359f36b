/*
 * test_plugin_json.c: record bodies between JSON and Lua tables
 * (plugin_json.c). Round trips through a bare Lua state must give back the
 * same JSON (objects, arrays, [] vs {}, null, integers vs floats, unicode);
 * tables built in Lua convert or are refused with a message naming the path;
 * both directions stop at TK_MAX_JSON_DEPTH.
 */
#include "tk_plugin.h"
#include "tk_test.h"

#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>

#define BODY(s) TK_SLICE((s), strlen(s))

typedef struct job {
  const char *in;   /* JSON text to parse and push, or */
  const char *code; /* Lua code whose result is converted */
  const char *const *skip;
  tk_buf_t out;
  int rc;
  tk_err_t e;
} job_t;

static int l_array(lua_State *L)
{
  if (lua_isnoneornil(L, 1)) lua_newtable(L);
  lua_settop(L, 1);
  luaL_setmetatable(L, "tunduk.array");
  return 1;
}

/* In protected mode: JSON -> Lua -> JSON, or Lua code -> JSON. */
static int l_job(lua_State *L)
{
  job_t *j = lua_touserdata(L, 1);
  json_t *v = NULL, *back = NULL;
  if (j->in) {
    j->rc = tk__plugin_json_parse(BODY(j->in), &v, &j->e);
    if (j->rc == 0) j->rc = tk__plugin_json_push(L, v, j->skip, &j->e);
    json_decref(v);
  } else {
    if (luaL_loadstring(L, j->code) != LUA_OK) return lua_error(L);
    lua_call(L, 0, 1);
  }
  if (j->rc == 0) j->rc = tk__plugin_json_from_lua(L, -1, &back, &j->e);
  if (j->rc == 0) j->rc = tk__plugin_json_dump(back, TK_MAX_BODY_JSON, &j->out, &j->e);
  json_decref(back);
  return 0;
}

static lua_State *new_state(void)
{
  lua_State *L = luaL_newstate();
  if (!L) abort();
  luaL_openlibs(L);
  tk__plugin_json_open(L);
  lua_pushlightuserdata(L, (void *)&tk__plugin_null);
  lua_setglobal(L, "null");
  lua_pushcfunction(L, l_array);
  lua_setglobal(L, "array");
  return L;
}

/* Runs the job; returns its rc (out holds the JSON text on success). */
static int run(job_t *j)
{
  lua_State *L = new_state();
  tk_err_clear(&j->e);
  j->rc = 0;
  j->out.n = 0;
  lua_pushcfunction(L, l_job);
  lua_pushlightuserdata(L, j);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, "  lua error: %s\n", lua_tostring(L, -1));
    j->rc = -999;
  }
  lua_close(L);
  if (j->rc == 0) tk_buf_append_u8(&j->out, 0), j->out.n--;
  return j->rc;
}

/* JSON text in, the same canonical text out. */
static int round_trip(const char *in, const char *want)
{
  job_t j = {.in = in};
  int ok = run(&j) == 0 && strcmp((char *)j.out.p, want) == 0;
  if (!ok)
    fprintf(stderr, "  %s -> rc %d %s (%s), want %s\n", in, j.rc,
            j.rc == 0 ? (char *)j.out.p : "", j.e.msg, want);
  tk_buf_free(&j.out);
  return ok;
}

static int from_lua(const char *code, const char *want)
{
  job_t j = {.code = code};
  int ok = run(&j) == 0 && strcmp((char *)j.out.p, want) == 0;
  if (!ok)
    fprintf(stderr, "  [%s] -> rc %d %s (%s), want %s\n", code, j.rc,
            j.rc == 0 ? (char *)j.out.p : "", j.e.msg, want);
  tk_buf_free(&j.out);
  return ok;
}

/* Lua code whose result must be refused with rc and a message holding want. */
static int refused(const char *code, int rc, const char *want)
{
  job_t j = {.code = code};
  int got = run(&j);
  int ok = got == rc && strstr(j.e.msg, want) != NULL;
  if (!ok)
    fprintf(stderr, "  [%s] -> rc %d (%s), want %d and \"%s\"\n", code, got, j.e.msg, rc,
            want);
  tk_buf_free(&j.out);
  return ok;
}

static void test_round_trips(void)
{
  CHECK(round_trip("{}", "{}"));
  CHECK(round_trip("{\"b\":{\"c\":{\"d\":[1,[2,[3]]]}},\"a\":1}",
                   "{\"a\":1,\"b\":{\"c\":{\"d\":[1,[2,[3]]]}}}"));
  /* Empty array and empty object stay apart, at any depth. */
  CHECK(round_trip("{\"l\":[],\"o\":{},\"n\":[[],{}]}",
                   "{\"l\":[],\"n\":[[],{}],\"o\":{}}"));
  /* null as a value and inside arrays (no holes). */
  CHECK(
      round_trip("{\"x\":null,\"l\":[null,1,null]}", "{\"l\":[null,1,null],\"x\":null}"));
  CHECK(round_trip("{\"t\":true,\"f\":false}", "{\"f\":false,\"t\":true}"));
  /* Integers stay integers, floats stay floats. */
  CHECK(round_trip("{\"i\":1,\"f\":1.0,\"g\":1.5,\"neg\":-7,\"z\":0}",
                   "{\"f\":1.0,\"g\":1.5,\"i\":1,\"neg\":-7,\"z\":0}"));
  CHECK(round_trip("{\"big\":9007199254740993,\"max\":9223372036854775807,"
                   "\"min\":-9223372036854775808}",
                   "{\"big\":9007199254740993,\"max\":9223372036854775807,"
                   "\"min\":-9223372036854775808}"));
  /* Reals come back as the same double (jansson writes 17 digits). */
  {
    const char *in = "{\"e\":1e300,\"tiny\":5e-324,\"pi\":3.141592653589793,\"m\":-0.1}";
    job_t j = {.in = in};
    json_t *a = NULL, *b = NULL;
    tk_err_t e;
    CHECK_RC(run(&j), 0);
    CHECK_RC(tk__plugin_json_parse(BODY(in), &a, &e), 0);
    CHECK_RC(tk__plugin_json_parse(TK_SLICE(j.out.p, j.out.n), &b, &e), 0);
    tk_buf_free(&j.out);
    const char *keys[] = {"e", "tiny", "pi", "m"};
    int same = 1;
    for (int i = 0; i < 4; i++) {
      json_t *x = json_object_get(a, keys[i]), *y = json_object_get(b, keys[i]);
      same &= json_is_real(y) && json_real_value(x) == json_real_value(y);
    }
    json_decref(a);
    json_decref(b);
    CHECK(same);
  }
  /* Unicode, escapes, and non-ASCII keys. */
  CHECK(round_trip("{\"s\":\"\\u00e9t\\u00e9 \\ud83d\\ude00 "
                   "\\u041a\\u044b\\u0440\\u0433\\u044b\\u0437\"}",
                   "{\"s\":\"\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80 "
                   "\xd0\x9a\xd1\x8b\xd1\x80\xd0\xb3\xd1\x8b\xd0\xb7\"}"));
  CHECK(round_trip("{\"\xd0\xb8\xd0\xbc\xd1\x8f\":\"a\\\"b\\\\c\\n\\t\"}",
                   "{\"\xd0\xb8\xd0\xbc\xd1\x8f\":\"a\\\"b\\\\c\\n\\t\"}"));
}

static void test_skip_top_level(void)
{
  const char *const skip[] = {"secret", "gone", NULL};
  job_t j = {.in = "{\"secret\":1,\"keep\":{\"secret\":2},\"gone\":[1]}", .skip = skip};
  CHECK_RC(run(&j), 0);
  CHECK(strcmp((char *)j.out.p, "{\"keep\":{\"secret\":2}}") == 0);
  tk_buf_free(&j.out);
}

/* A record's attachment list reaches Lua as names, sizes, hashes and chunk
 * counts: never the key or the chunk ids (the key would decrypt the file). */
static void test_attachments_without_keys(void)
{
  char key[65], chunk[65], sha[65], in[512];
  memset(key, 'a', 64);
  memset(chunk, 'c', 64);
  memset(sha, 'd', 64);
  key[64] = chunk[64] = sha[64] = '\0';
  snprintf(in, sizeof in,
           "{\"title\":\"t\",\"_attachments\":[{\"name\":\"a.ogg\",\"size\":5,"
           "\"sha256\":\"%s\",\"key\":\"%s\",\"chunks\":[\"%s\"]}]}",
           sha, key, chunk);
  job_t j = {.in = in};
  CHECK_RC(run(&j), 0);
  const char *out = (const char *)j.out.p;
  CHECK(strstr(out, "\"name\":\"a.ogg\"") && strstr(out, "\"chunks\":1"));
  CHECK(strstr(out, sha) != NULL);
  CHECK(strstr(out, key) == NULL && strstr(out, chunk) == NULL);
  CHECK(strstr(out, "\"key\"") == NULL);
  tk_buf_free(&j.out);
}

static void test_from_lua(void)
{
  CHECK(from_lua("return {}", "{}"));
  CHECK(from_lua("return array()", "[]"));
  CHECK(from_lua("return { l = {1, 2, 3}, e = array(), o = {} }",
                 "{\"e\":[],\"l\":[1,2,3],\"o\":{}}"));
  CHECK(from_lua("return { a = array{ 'x', null, 'y' } }", "{\"a\":[\"x\",null,\"y\"]}"));
  CHECK(from_lua("return { i = 3, f = 3.0, h = 2^53, d = 7 // 2, q = 7 / 2 }",
                 "{\"d\":3,\"f\":3.0,\"h\":9007199254740992.0,\"i\":3,\"q\":3.5}"));
  CHECK(from_lua("return { n = null, t = true }", "{\"n\":null,\"t\":true}"));
  /* Raw access only: an __index or __pairs metamethod is never run. */
  CHECK(from_lua("return setmetatable({ a = 1 }, { __pairs = function() error('ran') end,"
                 " __index = function() error('ran') end })",
                 "{\"a\":1}"));
}

static void test_refused(void)
{
  CHECK(refused("local t = {} t.self = t return t", TK_EINVAL, "cycle"));
  CHECK(
      refused("local a, b = {}, {} a.b = b b.list = { a } return a", TK_EINVAL, "cycle"));
  CHECK(refused("return { [true] = 1 }", TK_EINVAL, "key of type boolean"));
  CHECK(refused("return { [1.5] = 1 }", TK_EINVAL, "key of type number"));
  CHECK(refused("return { x = { 1, 2, k = 3 } }", TK_EINVAL, "$.x"));
  CHECK(refused("return { x = { [1] = 1, [3] = 3 } }", TK_EINVAL, "sparse"));
  CHECK(refused("return { x = 0/0 }", TK_EINVAL, "NaN"));
  CHECK(refused("return { x = { 1, math.huge } }", TK_EINVAL, "$.x[1]"));
  CHECK(refused("return { x = -math.huge }", TK_EINVAL, "infinite"));
  CHECK(refused("return { s = 'a\\0b' }", TK_EINVAL, "NUL"));
  CHECK(refused("return { s = '\\xff' }", TK_EINVAL, "UTF-8"));
  CHECK(
      refused("return { s = '\\xed\\xa0\\x80' }", TK_EINVAL, "UTF-8")); /* a surrogate */
  CHECK(refused("return { ['k\\xc0'] = 1 }", TK_EINVAL, "UTF-8"));
  CHECK(refused("return { f = print }", TK_EINVAL, "function"));
  CHECK(refused("return { c = coroutine.create(print) }", TK_EINVAL, "thread"));
}

static void test_depth(void)
{
  char *in = malloc(2 * (TK_MAX_JSON_DEPTH + 2) * 6 + 16);
  CHECK(in);
  /* TK_MAX_JSON_DEPTH levels below the top object pass; one more fails. */
  for (int extra = 0; extra < 2; extra++) {
    int levels = TK_MAX_JSON_DEPTH + extra;
    size_t at = 0;
    at += (size_t)sprintf(in + at, "{\"a\":");
    for (int i = 1; i < levels; i++)
      at += (size_t)sprintf(in + at, "[");
    at += (size_t)sprintf(in + at, "1");
    for (int i = 1; i < levels; i++)
      at += (size_t)sprintf(in + at, "]");
    at += (size_t)sprintf(in + at, "}");
    job_t j = {.in = in};
    int rc = run(&j);
    tk_buf_free(&j.out);
    if (extra == 0) {
      CHECK_RC(rc, 0);
    } else {
      CHECK_RC(rc, TK_ELIMIT);
      CHECK(strstr(j.e.msg, "deeper") != NULL);
    }
  }
  free(in);
  /* Lua -> JSON: a chain 64 deep converts, 65 does not. */
  CHECK(refused("local t = {} local c = t for i = 1, 65 do c.x = {} c = c.x end return t",
                TK_ELIMIT, "deeper"));
  job_t j = {
      .code = "local t = {} local c = t for i = 1, 63 do c.x = {} c = c.x end return t"};
  CHECK_RC(run(&j), 0);
  tk_buf_free(&j.out);
}

static void test_text_limits(void)
{
  json_t *v = NULL;
  tk_err_t e;
  size_t n = TK_MAX_BODY_JSON + 1;
  char *big = malloc(n);
  CHECK(big);
  memset(big, ' ', n);
  big[0] = '{';
  big[n - 1] = '}';
  CHECK_RC(tk__plugin_json_parse(TK_SLICE(big, n), &v, &e), TK_ELIMIT);
  CHECK_RC(tk__plugin_json_parse(TK_SLICE(big + 1, n - 1), &v, &e), TK_EFORMAT);
  free(big);
  CHECK_RC(tk__plugin_json_parse(BODY("{\"a\":1,\"a\":2}"), &v, &e), TK_EFORMAT);
  CHECK_RC(tk__plugin_json_parse(BODY("[]"), &v, &e), TK_EFORMAT);
  CHECK(strstr(e.msg, "not a JSON object") != NULL);
  CHECK_RC(tk__plugin_json_parse(BODY("{\"a\":[1,2,3]}"), &v, &e), 0);
  tk_buf_t out = TK_BUF_INIT;
  CHECK_RC(tk__plugin_json_dump(v, 5, &out, &e), TK_ELIMIT);
  CHECK(out.n == 0);
  CHECK_RC(tk__plugin_json_dump(v, 100, &out, &e), 0);
  CHECK(out.n == 13 && strcmp((char *)out.p, "{\"a\":[1,2,3]}") == 0);
  json_decref(v);
  tk_buf_free(&out);
}

TK_TESTS(TK_TEST(test_round_trips), TK_TEST(test_skip_top_level),
         TK_TEST(test_attachments_without_keys), TK_TEST(test_from_lua),
         TK_TEST(test_refused), TK_TEST(test_depth), TK_TEST(test_text_limits))
