/*
 * test_csv.c: the CSV reader (core/base/tk_csv.h) on text fed in pieces of
 * every size from 1 byte up, so a quote, a CRLF or a UTF-8 sequence cut by
 * a block boundary is read the same: quoted fields with commas, "" and
 * line breaks, CRLF / LF / CR, the byte order mark, line numbers of records
 * that span lines, the record-level problems (bad UTF-8, NUL, text after a
 * closing quote) that leave the next record readable, and the fatal ones
 * (a quote never closed, a record past the bound, a read failure).
 */
#include <stdio.h>
#include <string.h>

#include "tk_csv.h"
#include "tk_test.h"

typedef struct feed {
  const char *p;
  size_t n, at, piece;
  int fail_at; /* >= 0: the read fails once at this offset */
} feed_t;

static int feed_read(void *ud, void *buf, size_t cap, size_t *got, tk_err_t *err)
{
  feed_t *f = ud;
  if (f->fail_at >= 0 && f->at >= (size_t)f->fail_at)
    return tk_err_set(err, TK_EIO, "disk on fire");
  size_t n = f->n - f->at;
  if (n > f->piece) n = f->piece;
  if (n > cap) n = cap;
  memcpy(buf, f->p + f->at, n);
  f->at += n;
  *got = n;
  return 0;
}

/* Reads all of text in pieces of `piece` bytes: the records as
 * "line:field|field|...;" into out (problem records as "line!col;"), the
 * final rc (0 at a clean end). */
static int read_all(const char *text, size_t n, size_t piece, size_t max, char *out,
                    size_t cap, tk_err_t *e)
{
  feed_t f = {text, n, 0, piece, -1};
  tk_csv_t *c = NULL;
  tk_csv_row_t row;
  int rc;
  size_t at = 0;
  out[0] = 0;
  if (tk_csv_new(&c, feed_read, &f, max) != 0) return -100;
  while ((rc = tk_csv_next(c, &row, e)) == 1) {
    if (at + 64 + row.n > cap) continue; /* the output is full: count no more */
    if (row.problem_col) {
      at += (size_t)snprintf(out + at, cap - at, "%llu!%d;", (unsigned long long)row.line,
                             row.problem_col);
      continue;
    }
    at += (size_t)snprintf(out + at, cap - at, "%llu:", (unsigned long long)row.line);
    for (size_t i = 0; i < row.n && at < cap - 2; i++) {
      int k = snprintf(out + at, cap - at - 1, "%s%.*s", i ? "|" : "", (int)row.f[i].n,
                       (const char *)row.f[i].p);
      at = k < 0 || at + (size_t)k >= cap - 1 ? cap - 2 : at + (size_t)k;
    }
    at += (size_t)snprintf(out + at, cap - at, ";");
  }
  tk_csv_free(c);
  return rc;
}

/* The same result for every piece size from 1 to n. */
static void expect(const char *text, const char *want, int want_rc, const char *want_err)
{
  char got[4096];
  size_t n = strlen(text);
  for (size_t piece = 1; piece <= n + 1; piece++) {
    tk_err_t e;
    tk_err_clear(&e);
    int rc = read_all(text, n, piece, 0, got, sizeof got, &e);
    if (rc != want_rc || strcmp(got, want) != 0 ||
        (want_err && !strstr(e.msg, want_err))) {
      fprintf(stderr,
              "text %s\npiece %zu: rc %d got '%s' err '%s'\nwanted rc %d '%s' %s\n", text,
              piece, rc, got, e.msg, want_rc, want, want_err ? want_err : "");
      CHECK(0);
      return;
    }
  }
}

static void test_fields(void)
{
  expect("a,b,c\n1,2,3\n", "1:a|b|c;2:1|2|3;", 0, NULL);
  expect("a,b\r\n1,2\r\n", "1:a|b;2:1|2;", 0, NULL);
  expect("a,b\r1,2", "1:a|b;2:1|2;", 0, NULL); /* CR alone; no final line end */
  expect("a,,\n,x,\n", "1:a||;2:|x|;", 0, NULL);
  expect("\"a,b\",\"say \"\"hi\"\"\",\"\"\n", "1:a,b|say \"hi\"|;", 0, NULL);
  /* a quoted line break: the next record's line counts it */
  expect("h1,h2\n\"two\nlines\",x\r\n\"three\r\nlines\nhere\",y\nlast,z\n",
         "1:h1|h2;2:two\nlines|x;4:three\r\nlines\nhere|y;7:last|z;", 0, NULL);
  /* a quote inside an unquoted field is a character */
  expect("5\" disk,x\n", "1:5\" disk|x;", 0, NULL);
  /* empty lines are records of one empty field */
  expect("a\n\nb\n", "1:a;2:;3:b;", 0, NULL);
  expect("", "", 0, NULL);
}

static void test_bom_and_utf8(void)
{
  expect("\xEF\xBB\xBFname,город\nКлиент,Ош\n", "1:name|город;2:Клиент|Ош;", 0, NULL);
  /* a BOM later on is a character, not skipped */
  expect("a\n\xEF\xBB\xBF"
         "b\n",
         "1:a;2:\xEF\xBB\xBF"
         "b;",
         0, NULL);
  /* Windows-1251 "Ош" is not UTF-8: the record is flagged, the next read */
  expect("a,b\n1,\xCE\xF8\n2,ok\n", "1:a|b;2!2;3:2|ok;", 0, NULL);
  expect("a\n\"x\xC0\xAFy\"\nz\n", "1:a;2!1;3:z;", 0, NULL);   /* overlong */
  expect("a\n\xED\xA0\x80\nz\n", "1:a;2!1;3:z;", 0, NULL);     /* surrogate */
  expect("a,b\n1,\"x\"y\n2,3\n", "1:a|b;2!2;3:2|3;", 0, NULL); /* text after quote */
  {
    static const char nul[] = "a\nx\0y\nz\n";
    char got[256];
    tk_err_t e;
    CHECK_RC(read_all(nul, sizeof nul - 1, 3, 0, got, sizeof got, &e), 0);
    CHECK(strcmp(got, "1:a;2!1;3:z;") == 0);
  }
  size_t bad = 99;
  CHECK(tk_utf8_valid((const uint8_t *)"ok \xF0\x9F\x98\x80", 7, &bad) == 1);
  CHECK(tk_utf8_valid((const uint8_t *)"ok\xF4\x90\x80\x80", 6, &bad) == 0 && bad == 2);
  CHECK(tk_utf8_valid((const uint8_t *)"\xE2\x82", 2, &bad) == 0 && bad == 0);
}

static void test_fatal(void)
{
  expect("a,b\n1,\"never closed\n2,3\n", "1:a|b;", TK_EFORMAT,
         "line 2, column 2: a quote not closed by the end of the file");
  expect("a\n\"", "1:a;", TK_EFORMAT, "line 2, column 1: a quote not closed");
}

static void test_bounds(void)
{
  char text[64], got[256];
  tk_err_t e;
  /* a record of exactly max bytes (fields end to end) passes; one more fails */
  snprintf(text, sizeof text, "abcd,efgh\n\"ijkl\",mnop\n");
  CHECK_RC(read_all(text, strlen(text), 5, 8, got, sizeof got, &e), 0);
  CHECK(strcmp(got, "1:abcd|efgh;2:ijkl|mnop;") == 0);
  snprintf(text, sizeof text, "abcd,efgh\nijkl,mnopq\n");
  CHECK_RC(read_all(text, strlen(text), 5, 8, got, sizeof got, &e), TK_ELIMIT);
  CHECK(strcmp(got, "1:abcd|efgh;") == 0);
  CHECK(strstr(e.msg, "line 2: a record of more than 8 bytes") != NULL);
  /* TK_CSV_MAX_FIELDS columns pass; one more fails */
  static char many[2 * TK_CSV_MAX_FIELDS + 4];
  size_t n = 0;
  for (int i = 0; i < TK_CSV_MAX_FIELDS; i++)
    many[n++] = ',';
  many[n - 1] = '\n';
  CHECK_RC(read_all(many, n, 4096, 0, got, sizeof got, &e), 0);
  many[n - 1] = ',';
  many[n++] = '\n';
  CHECK_RC(read_all(many, n, 4096, 0, got, sizeof got, &e), TK_ELIMIT);
  CHECK(strstr(e.msg, "more than 1024 columns") != NULL);
  /* a failing read fails the reader with its own error */
  feed_t f = {"a,b\n1,2\n", 8, 0, 2, 5};
  tk_csv_t *c = NULL;
  tk_csv_row_t row;
  CHECK_RC(tk_csv_new(&c, feed_read, &f, 0), 0);
  CHECK_RC(tk_csv_next(c, &row, &e), 1);
  CHECK_RC(tk_csv_next(c, &row, &e), TK_EIO);
  CHECK(strstr(e.msg, "disk on fire") != NULL);
  tk_csv_free(c);
}

TK_TESTS(TK_TEST(test_fields), TK_TEST(test_bom_and_utf8), TK_TEST(test_fatal),
         TK_TEST(test_bounds))
