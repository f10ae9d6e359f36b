/*
 * bench_fill.c: a helper for bench_sync.sh, not a benchmark on its own.
 * Opens an existing office home, unlocks it with $TUNDUK_PASSPHRASE and
 * writes N ~2 KB case / appeal / testimony records (bench_records.h) into
 * VAULT with tk_office_new, each in its own transaction as `tunduk new`
 * does, without paying a process start and a key derivation per record.
 *
 *   bench_fill HOME VAULT N [SEED]
 *
 * Prints one line: "filled N records in S s (R/s), JSON bytes B".
 * Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_records.h"
#include "tk_office.h"

int main(int argc, char **argv)
{
  tk_office_t *o = NULL;
  tk_err_t err;
  int rc = 1;
  tk_err_clear(&err);
  if (argc < 4 || argc > 5) {
    fprintf(stderr, "usage: %s HOME VAULT N [SEED]\n", argv[0]);
    return 2;
  }
  long n = strtol(argv[3], NULL, 10);
  unsigned long seed = argc > 4 ? strtoul(argv[4], NULL, 10) : 0x9E3779B9ul;
  const char *pass = getenv("TUNDUK_PASSPHRASE");
  if (n <= 0 || n > 10000000 || seed == 0) {
    fprintf(stderr, "bench_fill: N must be 1..10000000 and SEED non-zero\n");
    return 2;
  }
  if (!pass) {
    fprintf(stderr, "bench_fill: set TUNDUK_PASSPHRASE\n");
    return 2;
  }
  if (tk_crypto_init() != 0) return 2;
  if (tk_office_open(&o, argv[1], &err) != 0 ||
      tk_office_unlock(o, pass, strlen(pass), &err) != 0)
    goto fail;
  bench_rng_t rng = {(uint32_t)seed};
  uint64_t json_bytes = 0;
  double t0 = bench_now();
  for (long i = 0; i < n; i++) {
    const char *type;
    json_t *body = bench_body(&rng, (unsigned)i, &type);
    if (!body) {
      fprintf(stderr, "bench_fill: out of memory\n");
      goto done;
    }
    json_bytes += bench_json_size(body);
    int r = tk_office_new(o, type, argv[2], body, NULL, NULL, &err);
    json_decref(body);
    if (r) goto fail;
  }
  double t = bench_now() - t0;
  printf("filled %ld records in %.3f s (%.0f/s), JSON bytes %llu\n", n, t, n / t,
         (unsigned long long)json_bytes);
  rc = 0;
  goto done;
fail:
  fprintf(stderr, "bench_fill: %s\n", tk_err_str(&err));
done:
  tk_office_close(o);
  return rc;
}
