/* test_body.c: record bodies: parse errors with line and column, limits,
 * tombstones, and summaries cut on UTF-8 boundaries. */
#include <stdlib.h>
#include <string.h>

#include "tk_body.h"
#include "tk_test.h"

static int parse(const char *text, json_t **out, tk_err_t *e)
{
  return tk_body_parse(out, TK_SLICE(text, strlen(text)), "case.json", e);
}

static void errors_name_line_and_column(void)
{
  json_t *v = NULL;
  tk_err_t e;
  CHECK_RC(parse("{\"a\": 1,\n \"b\" 2}", &v, &e), TK_EINVAL);
  CHECK(strncmp(e.msg, "case.json:2:", 12) == 0);
  CHECK_RC(parse("[1]", &v, &e), TK_EINVAL);
  CHECK(strstr(e.msg, "must be a JSON object") != NULL);
  CHECK_RC(parse("{\"a\":1,\"a\":2}", &v, &e), TK_EINVAL);
  CHECK(strstr(e.msg, "duplicate") != NULL);
  CHECK_RC(tk_body_parse(&v, TK_SLICE("{", 1), "-", &e), TK_EINVAL);
  CHECK(strncmp(e.msg, "stdin:", 6) == 0);
  CHECK(v == NULL);
}

static void limits(void)
{
  json_t *v = NULL;
  tk_err_t e;
  char deep[6 * (TK_MAX_JSON_DEPTH + 2) + 8] = "";
  for (int i = 0; i <= TK_MAX_JSON_DEPTH; i++)
    strcat(deep, "{\"a\":");
  strcat(deep, "1");
  for (int i = 0; i <= TK_MAX_JSON_DEPTH; i++)
    strcat(deep, "}");
  CHECK_RC(parse(deep, &v, &e), TK_ELIMIT);
  /* exactly at the limit parses */
  char ok[6 * (TK_MAX_JSON_DEPTH + 2) + 8] = "";
  for (int i = 0; i < TK_MAX_JSON_DEPTH - 1; i++)
    strcat(ok, "{\"a\":");
  strcat(ok, "{}");
  for (int i = 0; i < TK_MAX_JSON_DEPTH - 1; i++)
    strcat(ok, "}");
  CHECK_RC(parse(ok, &v, &e), 0);
  json_decref(v);
  size_t n = TK_MAX_BODY_JSON + 1;
  char *big = malloc(n);
  memset(big, ' ', n);
  big[0] = '{';
  big[n - 1] = '}';
  CHECK_RC(tk_body_parse(&v, TK_SLICE(big, n), "big.json", &e), TK_ELIMIT);
  big[n - 2] = '}';
  CHECK_RC(tk_body_parse(&v, TK_SLICE(big, n - 1), "big.json", &e), 0);
  json_decref(v);
  free(big);
}

static void tombstones_and_dump(void)
{
  json_t *t = tk_body_tombstone(), *v = NULL;
  CHECK(tk_body_is_tombstone(t));
  tk_buf_t b = TK_BUF_INIT;
  CHECK_RC(tk_body_dump(t, &b), 0);
  CHECK(b.n == strlen("{\"_deleted\":true}") &&
        memcmp(b.p, "{\"_deleted\":true}", b.n) == 0);
  CHECK_RC(parse("{\"_deleted\":false,\"z\":1,\"a\":2}", &v, NULL), 0);
  CHECK(!tk_body_is_tombstone(v));
  b.n = 0;
  CHECK_RC(tk_body_dump(v, &b), 0);
  CHECK(memcmp(b.p, "{\"_deleted\":false,\"z\":1,\"a\":2}", b.n) == 0); /* order kept */
  tk_buf_free(&b);
  json_decref(t);
  json_decref(v);
}

static void summaries(void)
{
  json_t *v = NULL;
  char out[16];
  CHECK_RC(parse("{\"n\":1,\"status\":\"open\",\"title\":\"Пытки\\nв ИВС\"}", &v, NULL),
           0);
  tk_body_summary(v, out, sizeof out);
  /* "Пытки в ИВС" cut at 15 bytes must not end inside a character */
  CHECK(strcmp(out, "Пытки в ") == 0);
  json_decref(v);
  CHECK_RC(parse("{\"n\":1,\"status\":\"open\"}", &v, NULL), 0);
  tk_body_summary(v, out, sizeof out);
  CHECK(strcmp(out, "open") == 0);
  json_decref(v);
  CHECK_RC(parse("{\"n\":1}", &v, NULL), 0);
  tk_body_summary(v, out, sizeof out);
  CHECK(out[0] == '\0');
  json_decref(v);
}

TK_TESTS(TK_TEST(errors_name_line_and_column), TK_TEST(limits),
         TK_TEST(tombstones_and_dump), TK_TEST(summaries))
