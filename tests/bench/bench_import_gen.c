/*
 * bench_import_gen.c: a helper for run.sh's import rows, not a benchmark
 * on its own: writes N ~2 KB case records of the benchmark workload
 * (bench_records.h) as a file `tunduk import` reads.
 *
 *   bench_import_gen csv|jsonl N OUT [SEED]
 *
 * JSON Lines: each body as bench_body makes it (its "parties" list of
 * objects included), one compact object per line. CSV: a header row and
 * one row per record, every field quoted (notes hold commas and
 * quotes), the "violations" list as items separated by ';' and "parties"
 * left out (a list of objects is no spreadsheet cell). A status the case
 * type does not know ("hearing") becomes "in_court", so every row is
 * valid; so do the violations it does not list ("no_lawyer_access":
 * "fair_trial", "family_not_informed": "arbitrary_detention"). Prints "wrote N records, B
 * bytes". Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_records.h"

static const char *const columns[] = {
    "case_number", "client_alias", "office", "region", "court", "article",
    "violations",  "status",       "opened", "title",  "notes"};
#define NCOLS (sizeof columns / sizeof columns[0])

static void put_quoted(FILE *f, const char *s)
{
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static void put_cell(FILE *f, json_t *v)
{
  if (json_is_array(v)) {
    tk_buf_t b = TK_BUF_INIT;
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
        tk_buf_printf(&b, "%s%s", i ? ";" : "", json_string_value(x));
    tk_buf_append_u8(&b, 0);
    put_quoted(f, (const char *)b.p);
    tk_buf_free(&b);
  } else if (json_is_string(v)) {
    put_quoted(f, json_string_value(v));
  }
}

int main(int argc, char **argv)
{
  if (argc < 4 || (strcmp(argv[1], "csv") && strcmp(argv[1], "jsonl"))) {
    fprintf(stderr, "usage: %s csv|jsonl N OUT [SEED]\n", argv[0]);
    return 2;
  }
  int csv = strcmp(argv[1], "csv") == 0;
  unsigned long n = strtoul(argv[2], NULL, 10);
  bench_rng_t rng = {argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 10) : 20260501u};
  FILE *f = fopen(argv[3], "wb");
  if (!f) {
    perror(argv[3]);
    return 1;
  }
  if (csv)
    for (size_t c = 0; c < NCOLS; c++)
      fprintf(f, "%s%s", c ? "," : "", columns[c]);
  if (csv) fputs("\r\n", f);
  for (unsigned long i = 0; i < n; i++) {
    const char *type;
    json_t *j = bench_body(&rng, (unsigned)(i * 10), &type); /* i*10 % 10 == 0: a case */
    if (!j) return 1;
    /* only fields the case type declares (an import refuses others) */
    json_object_set(j, "notes", json_object_get(j, "narrative"));
    json_object_del(j, "narrative");
    json_object_del(j, "language");
    json_object_del(j, "parties");
    json_t *st = json_object_get(j, "status");
    if (st && strcmp(json_string_value(st), "hearing") == 0)
      json_object_set_new(j, "status", json_string("in_court"));
    json_t *vs = json_object_get(j, "violations"), *x;
    size_t k;
    json_array_foreach(vs, k, x)
    {
      const char *v = json_string_value(x);
      const char *to = strcmp(v, "no_lawyer_access") == 0      ? "fair_trial"
                       : strcmp(v, "family_not_informed") == 0 ? "arbitrary_detention"
                                                               : NULL;
      if (to) json_array_set_new(vs, k, json_string(to)); /* frees v */
    }
    if (csv) {
      for (size_t c = 0; c < NCOLS; c++) {
        if (c) fputc(',', f);
        put_cell(f, json_object_get(j, columns[c]));
      }
      fputs("\r\n", f);
    } else {
      char *s = json_dumps(j, JSON_COMPACT);
      if (!s) return 1;
      fputs(s, f);
      fputc('\n', f);
      free(s);
    }
    json_decref(j);
  }
  long bytes = ftell(f);
  (void)bench_now;
  if (fclose(f) != 0) return 1;
  printf("wrote %lu records, %ld bytes\n", n, bytes);
  return 0;
}
