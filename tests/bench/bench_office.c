/*
 * bench_office.c: how fast an office authors and re-checks records through
 * the real office layer, and what they cost on disk. In a fresh home
 * folder under $TMPDIR (argv[2] to choose another; removed afterwards):
 * tk_office_create (interactive key derivation), open, unlock, one vault;
 * then N (argv[1], default 10000) ~2 KB case / appeal / testimony bodies in
 * Kyrgyz, Russian and English (bench_records.h) written with tk_office_new,
 * each in its own transaction as the CLI does; then tk_office_read of every
 * revision, and tk_office_verify of the whole store. Prints a table.
 *
 * The bodies are built before timing starts. Not a ctest (speed is
 * measured, not asserted), but it exits non-zero if any step fails or
 * verification does not count every revision as good.
 * Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_records.h"
#include "tk_office_engine.h"

#define PASS "bench passphrase, not a secret"
#define VAULT "osh-cases"

typedef struct walk {
  uint64_t n, bytes;
  uint8_t (*ids)[TK_REV_ID_LEN];
  size_t cap;
} walk_t;

static int collect(void *ctx, const tk_rev_meta_t *m, tk_slice_t bytes)
{
  walk_t *w = ctx;
  if (w->n < w->cap) memcpy(w->ids[w->n], m->id, TK_REV_ID_LEN);
  w->n++;
  w->bytes += bytes.n;
  return 0;
}

static void on_fail(void *ctx, const uint8_t id[TK_REV_ID_LEN], const char *msg)
{
  char hex[2 * TK_REV_ID_LEN + 1];
  (void)ctx;
  tk_hex_encode(hex, id, TK_REV_ID_LEN);
  fprintf(stderr, "bench_office: verify %s: %s\n", hex, msg);
}

static long long file_size(const char *path)
{
  struct stat sb;
  return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

static void remove_home(const char *dir)
{
  static const char *const files[] = {TK_OFFICE_KEYFILE, TK_OFFICE_STOREFILE,
                                      TK_OFFICE_STOREFILE "-wal",
                                      TK_OFFICE_STOREFILE "-shm"};
  char path[512];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

int main(int argc, char **argv)
{
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 10000;
  const char *base = argc > 2 ? argv[2] : getenv("TMPDIR");
  char dir[256], home[300], path[400];
  tk_office_t *o = NULL;
  tk_err_t err;
  json_t **bodies = NULL;
  const char **types = NULL;
  walk_t w = {0, 0, NULL, 0};
  int rc = 1, made = 0, rc_read = 0;
  tk_err_clear(&err);
  if (n <= 0 || n > 1000000) {
    fprintf(stderr, "usage: %s [N records, 1..1000000] [DIR]\n", argv[0]);
    return 2;
  }
  if (tk_crypto_init() != 0) return 2;
  snprintf(dir, sizeof dir, "%s/tk-bench-office-XXXXXX", base ? base : "/tmp");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  made = 1;
  snprintf(home, sizeof home, "%s/home", dir);

  bodies = calloc((size_t)n, sizeof *bodies);
  types = calloc((size_t)n, sizeof *types);
  w.ids = calloc((size_t)n, TK_REV_ID_LEN);
  w.cap = (size_t)n;
  if (!bodies || !types || !w.ids) goto done;
  bench_rng_t rng = {0x9E3779B9u};
  uint64_t json_bytes = 0;
  for (long i = 0; i < n; i++) {
    bodies[i] = bench_body(&rng, (unsigned)i, &types[i]);
    if (!bodies[i]) goto done;
    json_bytes += bench_json_size(bodies[i]);
  }

  double t0 = bench_now();
  if (tk_office_create(home, "bench-office", PASS, strlen(PASS), TK_KDF_INTERACTIVE,
                       &err) != 0)
    goto fail;
  double t_create = bench_now() - t0;
  if (tk_office_open(&o, home, &err) != 0) goto fail;
  t0 = bench_now();
  if (tk_office_unlock(o, PASS, strlen(PASS), &err) != 0) goto fail;
  double t_unlock = bench_now() - t0;
  if (tk_office_vault_create(o, VAULT, &err) != 0) goto fail;

  /* authoring: seal + sign + store, one transaction (one fsync'd commit) each */
  t0 = bench_now();
  for (long i = 0; i < n; i++)
    if (tk_office_new(o, types[i], VAULT, bodies[i], NULL, NULL, &err) != 0) goto fail;
  double t_new = bench_now() - t0;

  if (tk_store_changes(tk_office_store(o), 0, 0, collect, &w, &err) != 0) goto fail;
  if (w.n != (uint64_t)n) {
    fprintf(stderr, "bench_office: %llu revisions stored, wanted %ld\n",
            (unsigned long long)w.n, n);
    goto done;
  }

  /* reading back: fetch + verify signature + decrypt + decompress + parse JSON;
   * compared with what was written after the clock stops */
  json_t **back = calloc((size_t)n, sizeof *back);
  if (!back) goto done;
  t0 = bench_now();
  for (long i = 0; i < n && !rc_read; i++)
    rc_read = tk_office_read(o, w.ids[i], &back[i], NULL, &err);
  double t_read = bench_now() - t0;
  long differ = -1;
  for (long i = 0; i < n; i++) {
    if (differ < 0 && !rc_read && !json_equal(back[i], bodies[i])) differ = i;
    json_decref(back[i]);
  }
  free(back);
  if (rc_read) goto fail;
  if (differ >= 0) {
    fprintf(stderr, "bench_office: revision %ld reads back different\n", differ);
    goto done;
  }

  tk_verify_counts_t counts;
  t0 = bench_now();
  if (tk_office_verify(o, on_fail, NULL, &counts, &err) != 0) goto fail;
  double t_verify = bench_now() - t0;
  if (counts.ok != (uint64_t)n || counts.records != (uint64_t)n) {
    fprintf(stderr, "bench_office: verify counted %llu good of %llu, %llu records\n",
            (unsigned long long)counts.ok, (unsigned long long)counts.revisions,
            (unsigned long long)counts.records);
    goto done;
  }

  /* closing the last connection checkpoints the WAL into the main file */
  tk_office_close(o);
  o = NULL;
  snprintf(path, sizeof path, "%s/%s", home, TK_OFFICE_STOREFILE);
  long long disk = file_size(path);
  snprintf(path, sizeof path, "%s/%s-wal", home, TK_OFFICE_STOREFILE);
  disk += file_size(path);

  printf("%-40s %12s\n", "office benchmark", "value");
  printf("%-40s %12ld\n", "records (case 4 : appeal 3 : testimony 3)", n);
  printf("%-40s %12.0f\n", "avg body, compact JSON bytes", (double)json_bytes / n);
  printf("%-40s %12.0f\n", "avg encoded revision bytes", (double)w.bytes / n);
  printf("%-40s %12.0f\n", "created+stored/s, one per transaction", n / t_new);
  printf("%-40s %12.0f\n", "read+decrypted/s", n / t_read);
  printf("%-40s %12.0f\n", "verified/s (hash+sig+tag+parents)", n / t_verify);
  printf("%-40s %12.0f\n", "bytes on disk per record", (double)disk / n);
  printf("%-40s %12.0f\n", "disk overhead per record (bytes)",
         (double)(disk - (long long)w.bytes) / n);
  printf("%-40s %12.3f\n", "office create, s (KDF interactive)", t_create);
  printf("%-40s %12.3f\n", "unlock, s", t_unlock);
  rc = 0;
  goto done;
fail:
  fprintf(stderr, "bench_office: %s\n", tk_err_str(&err));
done:
  tk_office_close(o);
  if (made) {
    remove_home(home);
    rmdir(dir);
  }
  if (bodies)
    for (long i = 0; i < n; i++)
      json_decref(bodies[i]);
  free(bodies);
  free(types);
  free(w.ids);
  return rc;
}
