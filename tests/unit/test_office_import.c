/*
 * test_office_import.c: tk_office_import (core/office/office_import.c) on a
 * real office with the bundled plugins in their jailed worker: the row
 * bound at and one past (opts.max_rows lowers it), a file that changes
 * between the check and the write passes (the write stops before the
 * changed row's batch), a map key no JSON Lines row has, a problem
 * reported with its line, column and field, a finished import refused and
 * --again. (Resuming after a kill: it_import.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_office.h"
#include "tk_test.h"

#define PASS "correct horse"

static tk_office_t *office(const char *name)
{
  char home[2048];
  tk_office_t *o = NULL;
  tk_err_t e;
  if (tk_office_global_init() != 0) return NULL;
  snprintf(home, sizeof home, "%s/%s", tk_test_tmpdir(), name);
  if (tk_office_create(home, name, PASS, strlen(PASS), TK_OFFICE_KDF_INTERACTIVE, &e) ||
      tk_office_open(&o, home, &e) || tk_office_unlock(o, PASS, strlen(PASS), &e) ||
      tk_office_vault_create(o, "v", &e)) {
    fprintf(stderr, "  office: %s\n", e.msg);
    tk_office_close(o);
    return NULL;
  }
  return o;
}

static int count_one(void *ctx, const tk_office_listing_t *l)
{
  (void)l;
  (*(int *)ctx)++;
  return 0;
}

static int records(tk_office_t *o)
{
  int n = 0;
  tk_err_t e;
  return tk_office_list(o, NULL, NULL, 1, count_one, &n, &e) == 0 ? n : -1;
}

static const char *write_file(const char *name, const char *text)
{
  static char path[4][2048];
  static int k;
  char *p = path[k++ % 4];
  snprintf(p, sizeof path[0], "%s/%s", tk_test_tmpdir(), name);
  FILE *f = fopen(p, "wb");
  if (!f) return NULL;
  fputs(text, f);
  fclose(f);
  return p;
}

typedef struct seen {
  int n;
  tk_office_import_reject_t first;
  const char *rewrite; /* the file to change at the first problem */
} seen_t;

static void on_reject(void *ctx, const tk_office_import_reject_t *r)
{
  seen_t *s = ctx;
  if (s->n++ == 0) s->first = *r;
  if (s->rewrite && s->n == 1) {
    /* the third row of the file becomes another (valid) record */
    write_file("changing.csv", "case_number,client_alias,status\nC-1,a,open\nC-2,,open\n"
                               "C-3X,b,open\n");
  }
}

static void test_row_bound(void)
{
  tk_office_t *o = office("rows");
  CHECK(o);
  const char *p = write_file("three.csv", "case_number,client_alias,status\nA,a,open\n\n"
                                          "B,b,open\nC,c,open\n");
  tk_office_import_opts_t op = {.type = "case", .vault = "v", .path = p, .max_rows = 3};
  tk_office_import_result_t r;
  tk_err_t e;
  CHECK_RC(tk_office_import(o, &op, &r, &e), 0); /* 3 rows: at the bound */
  CHECK(r.rows == 3 && r.written == 3 && r.batches == 1);
  p = write_file("four.csv", "case_number,client_alias,status\nA,a,open\nB,b,open\n"
                             "C,c,open\nD,d,open\n");
  op.path = p;
  CHECK_RC(tk_office_import(o, &op, &r, &e), TK_ELIMIT);
  CHECK(strstr(e.msg, "four.csv:5: more than 3 rows; split the file") != NULL);
  CHECK(records(o) == 3);
  tk_office_close(o);
}

static void test_file_changed(void)
{
  tk_office_t *o = office("changed");
  CHECK(o);
  seen_t s = {0};
  s.rewrite = "yes";
  const char *p =
      write_file("changing.csv", "case_number,client_alias,status\nC-1,a,open\n"
                                 "C-2,,open\nC-3,b,open\n");
  tk_office_import_opts_t op = {.type = "case",
                                .vault = "v",
                                .path = p,
                                .skip_invalid = 1,
                                .reject = on_reject,
                                .ctx = &s};
  tk_office_import_result_t r;
  tk_err_t e;
  CHECK_RC(tk_office_import(o, &op, &r, &e), TK_EINVAL);
  CHECK(strstr(e.msg, "changing.csv:4: the file changed since it was checked") != NULL);
  CHECK(r.written == 0);
  CHECK(records(o) == 0); /* C-1 was in the same batch: nothing of it stored */
  CHECK(s.n == 1 && s.first.line == 3 && s.first.column == 2);
  CHECK(strcmp(s.first.field, "client_alias") == 0);
  CHECK(strcmp(s.first.column_name, "client_alias") == 0);
  tk_office_close(o);
}

static void test_map_key_unseen(void)
{
  tk_office_t *o = office("mapjson");
  CHECK(o);
  const char *p =
      write_file("a.jsonl", "{\"no\":\"J-1\",\"client_alias\":\"a\",\"status\":"
                            "\"open\"}\n");
  const char *m =
      write_file("map.json", "{\"no\": \"case_number\", \"ghost\": \"notes\"}");
  tk_office_import_opts_t op = {.type = "case", .vault = "v", .path = p, .map = m};
  tk_office_import_result_t r;
  tk_err_t e;
  CHECK_RC(tk_office_import(o, &op, &r, &e), TK_EINVAL);
  CHECK(strstr(e.msg, "no row of") && strstr(e.msg, "has the key 'ghost'"));
  CHECK(records(o) == 0);
  m = write_file("map2.json", "{\"no\": \"case_number\"}");
  op.map = m;
  CHECK_RC(tk_office_import(o, &op, &r, &e), 0);
  CHECK(r.written == 1 && strcmp(r.format, "jsonl") == 0 && strlen(r.sha256) == 64);
  CHECK(records(o) == 1);
  /* the same import again: refused; --again writes it once more */
  CHECK_RC(tk_office_import(o, &op, &r, &e), TK_EEXIST);
  op.again = 1;
  CHECK_RC(tk_office_import(o, &op, &r, &e), 0);
  CHECK(records(o) == 2);
  tk_office_close(o);
}

TK_TESTS(TK_TEST(test_row_bound), TK_TEST(test_file_changed),
         TK_TEST(test_map_key_unseen))
