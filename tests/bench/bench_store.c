/*
 * bench_store.c: how fast the local store takes revisions and how much disk
 * they cost. Stores N (argv[1], default 20000) hand-built revisions of about
 * 2 KB (random ids; half start new records, half edit the current winner of
 * an earlier record) in transactions of 100, then 1000 more one per
 * transaction, and prints a table. The store lives in a fresh directory
 * under $TMPDIR (argv[2] to choose another) and is removed afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tk_store.h"

#define REV_BYTES 2048
#define BATCH 100
#define SINGLES 1000

typedef struct rec {
  uint8_t id[TK_RECORD_ID_LEN];
  uint8_t head[TK_REV_ID_LEN];
  uint32_t gen;
} rec_t;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long file_size(const char *path)
{
  struct stat sb;
  return stat(path, &sb) == 0 ? (long long)sb.st_size : 0;
}

/* Makes the i-th revision: a new record on even i (or when there is none
 * yet), else an edit of a random earlier record's current head. */
static void make_rev(tk_rev_t *rev, uint8_t *bytes, uint8_t *parent, rec_t *recs,
                     size_t *nrecs, size_t i, uint64_t hlc)
{
  memset(rev, 0, sizeof *rev);
  tk_random(bytes, REV_BYTES);
  tk_random(rev->id, TK_REV_ID_LEN);
  memset(rev->author, 0x11, TK_DEVICE_ID_LEN);
  rev->hlc = hlc;
  strcpy(rev->type, "case");
  strcpy(rev->vault, "osh-cases");
  rev->bytes = TK_SLICE(bytes, REV_BYTES);
  rec_t *r;
  if (i % 2 == 0 || *nrecs == 0) {
    r = &recs[(*nrecs)++];
    tk_random(r->id, TK_RECORD_ID_LEN);
    r->gen = 1;
    rev->nparents = 0;
  } else {
    r = &recs[(size_t)rand() % *nrecs];
    memcpy(parent, r->head, TK_REV_ID_LEN);
    rev->parents = parent;
    rev->nparents = 1;
    r->gen++;
  }
  memcpy(rev->record_id, r->id, TK_RECORD_ID_LEN);
  rev->generation = r->gen;
  memcpy(r->head, rev->id, TK_REV_ID_LEN);
}

int main(int argc, char **argv)
{
  size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 20000;
  const char *base = argc > 2 ? argv[2] : getenv("TMPDIR");
  char dir[256], path[300], wal[310];
  tk_err_t err;
  tk_store_t *s = NULL;
  int rc = 1;
  if (n < BATCH) n = BATCH;
  if (tk_crypto_init() != 0) return 2;
  snprintf(dir, sizeof dir, "%s/tk-bench-XXXXXX", base ? base : "/tmp");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  snprintf(path, sizeof path, "%s/store.db", dir);
  snprintf(wal, sizeof wal, "%s-wal", path);

  size_t total = n + SINGLES;
  rec_t *recs = calloc(total, sizeof *recs);
  uint8_t *bytes = malloc(REV_BYTES);
  uint8_t parent[TK_REV_ID_LEN];
  size_t nrecs = 0;
  tk_rev_t rev;
  if (!recs || !bytes) goto done;
  srand(1);
  if (tk_store_open(&s, path, TK_STORE_CREATE, &err) != 0) goto fail;

  /* batched: BATCH revisions per transaction (revision making is timed too;
   * it is two small random fills, negligible next to the store) */
  double t0 = now_s();
  for (size_t i = 0; i < n; i += BATCH) {
    if (tk_store_begin(s, &err) != 0) goto fail;
    for (size_t k = i; k < i + BATCH && k < n; k++) {
      make_rev(&rev, bytes, parent, recs, &nrecs, k, 1700000000000ull + k);
      if (tk_store_put_rev(s, &rev, NULL, &err) != 0) goto fail;
    }
    if (tk_store_commit(s, &err) != 0) goto fail;
  }
  double batched = now_s() - t0;

  /* single: one transaction (one fsync'd commit) each */
  t0 = now_s();
  for (size_t k = n; k < total; k++) {
    make_rev(&rev, bytes, parent, recs, &nrecs, k, 1700000000000ull + k);
    if (tk_store_put_rev(s, &rev, NULL, &err) != 0) goto fail;
  }
  double single = now_s() - t0;

  /* closing the last connection checkpoints the WAL into the main file */
  tk_store_close(s);
  s = NULL;
  long long disk = file_size(path) + file_size(wal);

  printf("%-36s %12s\n", "store benchmark", "value");
  printf("%-36s %12zu\n", "revisions (batched + single)", total);
  printf("%-36s %12d\n", "bytes per revision (encoded)", REV_BYTES);
  printf("%-36s %12.0f\n", "stored/s, batches of 100", (double)n / batched);
  printf("%-36s %12.0f\n", "stored/s, one per transaction", (double)SINGLES / single);
  printf("%-36s %12.0f\n", "bytes on disk per revision", (double)disk / (double)total);
  printf("%-36s %12.1f\n", "overhead per revision (bytes)",
         (double)disk / (double)total - REV_BYTES);
  rc = 0;
  goto done;
fail:
  fprintf(stderr, "bench_store: %s\n", tk_err_str(&err));
done:
  tk_store_close(s);
  unlink(wal);
  {
    char shm[310];
    snprintf(shm, sizeof shm, "%s-shm", path);
    unlink(shm);
  }
  unlink(path);
  rmdir(dir);
  free(recs);
  free(bytes);
  return rc;
}
