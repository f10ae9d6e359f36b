/*
 * cmd_import.c: `tunduk import --type T --vault V FILE [--map MAP]`: new
 * records from a CSV or JSON Lines file (tk_office_import does the work and
 * every check). Here: each problem of a rejected row printed as
 * "FILE:LINE: column C 'Name': reason" on stderr, the summary (text, or
 * --json on stdout), and the exit code: 0 every row written, 2 rows
 * rejected and nothing written (or bad input), 3 written with rows left
 * out (--skip-invalid), 1 any other failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define JSON_PROBLEMS_MAX 10000 /* problems listed in --json (all go to stderr) */

typedef struct import_ctx {
  cli_t *c;
  json_t *problems; /* --json */
  size_t nlisted;
} import_ctx_t;

static void on_reject(void *ud, const tk_office_import_reject_t *r)
{
  import_ctx_t *x = ud;
  const char *file = x->c->args[0];
  if (r->column > 0)
    fprintf(stderr, "%s:%llu: column %d '%s': %s\n", file, (unsigned long long)r->line,
            r->column, r->column_name, r->message);
  else
    fprintf(stderr, "%s:%llu: %s\n", file, (unsigned long long)r->line, r->message);
  if (x->problems && x->nlisted < JSON_PROBLEMS_MAX) {
    json_array_append_new(x->problems,
                          json_pack("{s:I,s:i,s:s,s:s,s:s}", "line", (json_int_t)r->line,
                                    "column", r->column, "column_name", r->column_name,
                                    "field", r->field, "message", r->message));
    x->nlisted++;
  }
}

static void print_json(cli_t *c, const tk_office_import_result_t *r, import_ctx_t *x,
                       int rc)
{
  double secs = r->check_s + r->write_s;
  json_t *j = json_pack(
      "{s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:o,s:b}", "file",
      c->args[0], "format", r->format, "sha256", r->sha256, "type", c->type, "vault",
      c->vault, "rows", (json_int_t)r->rows, "rejected", (json_int_t)r->rejected,
      "problems_count", (json_int_t)r->problems, "written", (json_int_t)r->written,
      "resumed", (json_int_t)r->resumed, "batches", (json_int_t)r->batches, "check_s",
      r->check_s, "write_s", r->write_s, "records_per_s",
      secs > 0 ? (double)r->written / secs : 0.0, "problems", json_incref(x->problems),
      "problems_truncated", r->problems > x->nlisted);
  if (!j) return;
  json_object_set_new(j, "error", rc ? json_string(c->err.msg) : json_null());
  cli_print_json(j);
  json_decref(j);
}

int cmd_import(cli_t *c)
{
  tk_office_import_result_t r;
  import_ctx_t x = {c, NULL, 0};
  if (!c->type) return cli_usage("'import' needs --type T");
  if (!c->vault) return cli_usage("'import' needs --vault V");
  if (c->json && !(x.problems = json_array())) return cli_fail(c, TK_ENOMEM);
  tk_office_import_opts_t o = {.type = c->type,
                               .vault = c->vault,
                               .path = c->args[0],
                               .format = c->format,
                               .map = c->map,
                               .skip_invalid = c->skip_invalid,
                               .again = c->again,
                               .reject = on_reject,
                               .ctx = &x};
  memset(&r, 0, sizeof r);
  int rc = cli_open(c, 0);
  if (!rc) rc = tk_office_import(c->office, &o, &r, &c->err);
  if (c->json) print_json(c, &r, &x, rc);
  json_decref(x.problems);
  if (rc == TK_EINVAL && r.rejected && !c->skip_invalid) {
    fprintf(stderr,
            "tunduk: %llu of %llu rows rejected; nothing written (fix them and run "
            "again, or --skip-invalid to write the other %llu)\n",
            (unsigned long long)r.rejected, (unsigned long long)r.rows,
            (unsigned long long)(r.rows - r.rejected));
    return EXIT_USAGE;
  }
  if (rc) {
    if (r.written)
      fprintf(stderr, "tunduk: %llu records were written before this error\n",
              (unsigned long long)r.written);
    int code = cli_fail(c, rc);
    return rc == TK_EFORMAT ? EXIT_USAGE : code;
  }
  double secs = r.check_s + r.write_s;
  if (!c->json) {
    printf("imported %llu %s records into vault %s from %s",
           (unsigned long long)r.written, c->type, c->vault, c->args[0]);
    if (r.resumed)
      printf(" (%llu more written by an interrupted run before)",
             (unsigned long long)r.resumed);
    printf("\n");
  }
  fprintf(stderr,
          "tunduk: %llu rows, %llu written, %llu rejected%s; %.2f s (check %.2f s, write "
          "%.2f s), %.0f records/s\n",
          (unsigned long long)r.rows, (unsigned long long)r.written,
          (unsigned long long)r.rejected, r.rejected ? " and left out" : "", secs,
          r.check_s, r.write_s, secs > 0 ? (double)r.written / secs : 0.0);
  return r.rejected ? EXIT_PARTIAL : EXIT_OK;
}
