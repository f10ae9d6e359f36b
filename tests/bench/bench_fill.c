/*
 * bench_fill.c: a helper for the sync benchmarks (run.sh, bench_sync.sh),
 * not a benchmark on its own. Opens an existing office home, unlocks it
 * with $TUNDUK_PASSPHRASE and writes N ~2 KB case / appeal / testimony
 * records (bench_records.h) into VAULT with tk_office_new, without paying
 * a process start and a key derivation per record.
 *
 *   bench_fill HOME VAULT N [SEED] [--batch K] [--first I] [--edit E]
 *
 * By default each record is its own transaction, as `tunduk new` does;
 * --batch K groups K writes into one transaction (tk_store_begin/commit):
 * setup for large stores, where one fsync per record would dominate.
 * --first I numbers the new records from I (case numbers stay distinct
 * across several fills). --edit E first edits E distinct existing records
 * of VAULT (a new revision on the winner, a fresh body of the record's
 * type), then writes the N new ones; N may then be 0.
 *
 * Prints one line: "filled N records in S s (R/s), JSON bytes B" (and
 * "edited E" before it with --edit). Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_records.h"
#include "tk_office_engine.h"

/* A body of the given type: bench_body's type follows i % 10 (0-3 case,
 * 4-6 appeal, 7-9 testimony). */
static json_t *body_of_type(bench_rng_t *rng, const char *type, unsigned k)
{
  unsigned base = !strcmp(type, "case") ? 0 : !strcmp(type, "appeal") ? 4 : 7;
  const char *t;
  return bench_body(rng, k * 10 + base, &t);
}

int main(int argc, char **argv)
{
  tk_office_t *o = NULL;
  tk_record_info_t *recs = NULL;
  size_t nrecs = 0;
  tk_err_t err;
  int rc = 1, in_tx = 0;
  long n = -1, batch = 1, first = 0, edit = 0;
  unsigned long seed = 0x9E3779B9ul;
  const char *home = NULL, *vault = NULL;
  int pos = 0;
  tk_err_clear(&err);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--batch") && i + 1 < argc)
      batch = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--first") && i + 1 < argc)
      first = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--edit") && i + 1 < argc)
      edit = strtol(argv[++i], NULL, 10);
    else if (pos == 0 && (pos = 1))
      home = argv[i];
    else if (pos == 1 && (pos = 2))
      vault = argv[i];
    else if (pos == 2 && (pos = 3))
      n = strtol(argv[i], NULL, 10);
    else if (pos == 3 && (pos = 4))
      seed = strtoul(argv[i], NULL, 10);
    else
      pos = 99;
  }
  if (pos < 3 || pos > 4) {
    fprintf(stderr, "usage: %s HOME VAULT N [SEED] [--batch K] [--first I] [--edit E]\n",
            argv[0]);
    return 2;
  }
  const char *pass = getenv("TUNDUK_PASSPHRASE");
  if (n < 0 || n > 10000000 || seed == 0 || batch < 1 || batch > 100000 || first < 0 ||
      first > 100000000 || edit < 0 || edit > 10000000 || n + edit == 0) {
    fprintf(stderr, "bench_fill: N 0..10000000, SEED non-zero, --batch 1..100000, "
                    "--first 0..100000000, --edit 0..10000000, something to write\n");
    return 2;
  }
  if (!pass) {
    fprintf(stderr, "bench_fill: set TUNDUK_PASSPHRASE\n");
    return 2;
  }
  if (tk_crypto_init() != 0) return 2;
  if (tk_office_open(&o, home, &err) != 0 ||
      tk_office_unlock(o, pass, strlen(pass), &err) != 0)
    goto fail;
  tk_store_t *st = tk_office_store(o);
  bench_rng_t rng = {(uint32_t)seed};
  uint64_t json_bytes = 0;
  long written = 0;
  double t0 = bench_now();
  if (edit > 0) {
    if (tk_store_records_array(st, NULL, vault, 0, &recs, &nrecs, &err) != 0) goto fail;
    if ((size_t)edit > nrecs) {
      fprintf(stderr, "bench_fill: --edit %ld but vault %s holds %zu records\n", edit,
              vault, nrecs);
      goto done;
    }
    /* E distinct records spread over the store: a partial Fisher-Yates */
    for (long i = 0; i < edit; i++) {
      size_t j = (size_t)i + bench_next(&rng) % (nrecs - (size_t)i);
      tk_record_info_t tmp = recs[i];
      recs[i] = recs[j];
      recs[j] = tmp;
    }
  }
  for (long i = 0; i < edit + n; i++) {
    if (!in_tx) {
      if (batch > 1 && tk_store_begin(st, &err) != 0) goto fail;
      in_tx = batch > 1;
    }
    const char *type;
    json_t *body = i < edit ? body_of_type(&rng, recs[i].type, (unsigned)(first + i))
                            : bench_body(&rng, (unsigned)(first + i - edit), &type);
    if (!body) {
      fprintf(stderr, "bench_fill: out of memory\n");
      goto done;
    }
    json_bytes += bench_json_size(body);
    int r = i < edit
                ? tk_office_update(o, recs[i].id, body, TK_PARENTS_WINNER, NULL, &err)
                : tk_office_new(o, type, vault, body, NULL, NULL, &err);
    json_decref(body);
    if (r) goto fail;
    written++;
    if (in_tx && (written % batch == 0 || i + 1 == edit + n)) {
      in_tx = 0;
      if (tk_store_commit(st, &err) != 0) goto fail;
    }
  }
  double t = bench_now() - t0;
  if (edit) printf("edited %ld\n", edit);
  printf("filled %ld records in %.3f s (%.0f/s), JSON bytes %llu\n", n, t,
         (double)(n + edit) / t, (unsigned long long)json_bytes);
  rc = 0;
  goto done;
fail:
  fprintf(stderr, "bench_fill: %s\n", tk_err_str(&err));
done:
  if (in_tx) tk_store_rollback(tk_office_store(o));
  free(recs);
  tk_office_close(o);
  return rc;
}
