/* test_bundle.c: the bundle file (core/sync/sync_bundle.c): a written bundle
 * opens for its recipient only and hands back its frames in order; every
 * flipped byte, every cut and an added byte are refused before any frame
 * is handed out; a stream of an exact number of chunks; the writer's
 * limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tk_bundle.h"
#include "tk_test.h"

static tk_identity_t *alice, *bob;

static int ids(void)
{
  tk_err_t e;
  if (!alice && tk_identity_generate(&alice, "alice", &e) != 0) return -1;
  if (!bob && tk_identity_generate(&bob, "bob", &e) != 0) return -1;
  return 0;
}

/* A bundle from alice to bob at path: n frames, frame i of size[i] bytes
 * filled with (i + 1). */
static int make(const char *path, size_t n, const size_t *size, uint64_t *plain)
{
  tk_bundle_writer_t w;
  tk_err_t e;
  unlink(path);
  int rc = tk_bundle_writer_open(&w, path, bob->id, bob->kx_pk, alice, &e);
  if (rc) return rc;
  for (size_t i = 0; i < n && !rc; i++) {
    uint8_t *p = malloc(size[i]);
    if (!p) return TK_ENOMEM;
    memset(p, (int)(i + 1), size[i]);
    rc = tk_transport_send(tk_bundle_writer_transport(&w), TK_SLICE(p, size[i]));
    free(p);
  }
  if (plain) *plain = w.plain_bytes + 4 + 64; /* the end and the signature to come */
  return rc ? rc : tk_bundle_writer_close(&w, &e);
}

typedef struct seen {
  size_t n;
  size_t size[8];
  int bad;
} seen_t;

static int on_frame(void *ctx, uint64_t off, tk_slice_t p)
{
  seen_t *s = ctx;
  (void)off;
  if (s->n < 8) s->size[s->n] = p.n;
  for (size_t i = 0; i < p.n; i++)
    if (p.p[i] != (uint8_t)(s->n + 1)) s->bad = 1;
  s->n++;
  return 0;
}

static long file_size(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static uint8_t *slurp(const char *path, long *n)
{
  *n = file_size(path);
  FILE *f = fopen(path, "rb");
  uint8_t *b = f && *n > 0 ? malloc((size_t)*n) : NULL;
  if (b && fread(b, 1, (size_t)*n, f) != (size_t)*n) {
    free(b);
    b = NULL;
  }
  if (f) fclose(f);
  return b;
}

static int spill(const char *path, const uint8_t *b, long n)
{
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int ok = fwrite(b, 1, (size_t)n, f) == (size_t)n;
  return fclose(f) == 0 && ok ? 0 : -1;
}

static void round_trip(void)
{
  char path[512];
  tk_bundle_info_t info;
  tk_err_t e;
  seen_t s;
  size_t sizes[3] = {10, 200000, 3};
  CHECK_RC(ids(), 0);
  snprintf(path, sizeof path, "%s/rt.tkb", tk_test_tmpdir());
  CHECK_RC(make(path, 3, sizes, NULL), 0);
  memset(&s, 0, sizeof s);
  CHECK_RC(tk_bundle_read(path, bob, &info, on_frame, &s, &e), 0);
  CHECK(s.n == 3 && !s.bad);
  CHECK(s.size[0] == 10 && s.size[1] == 200000 && s.size[2] == 3);
  CHECK(memcmp(info.sender.id, alice->id, TK_DEVICE_ID_LEN) == 0);
  CHECK(memcmp(info.recipient, bob->id, TK_DEVICE_ID_LEN) == 0);
  CHECK(info.frames == 4); /* the Hello too */
  CHECK((long)info.file_bytes == file_size(path));
  /* sealed to bob: alice (the sender) cannot open it */
  CHECK_RC(tk_bundle_read(path, alice, &info, NULL, NULL, &e), TK_EACCESS);
  CHECK(strstr(e.msg, "not sealed to this device") != NULL);
  /* never over a file */
  tk_bundle_writer_t w;
  CHECK_RC(tk_bundle_writer_open(&w, path, bob->id, bob->kx_pk, alice, &e), TK_EEXIST);
}

/* Every damaged copy is refused, and no frame of it is handed out. */
static void refuse(const uint8_t *b, long n, const char *path, int *failed)
{
  tk_bundle_info_t info;
  tk_err_t e;
  seen_t s;
  memset(&s, 0, sizeof s);
  if (spill(path, b, n) != 0 || tk_bundle_read(path, bob, &info, on_frame, &s, &e) == 0 ||
      s.n != 0 || strstr(e.msg, "byte ") == NULL)
    *failed = 1;
}

static void damage(void)
{
  char path[512], bad[512];
  long n;
  size_t small[1] = {300};
  int failed = 0;
  CHECK_RC(ids(), 0);
  snprintf(path, sizeof path, "%s/small.tkb", tk_test_tmpdir());
  snprintf(bad, sizeof bad, "%s/bad.tkb", tk_test_tmpdir());
  CHECK_RC(make(path, 1, small, NULL), 0);
  uint8_t *b = slurp(path, &n);
  CHECK(b != NULL);
  for (long i = 0; i < n && !failed; i++) { /* every byte */
    b[i] ^= 0x01;
    refuse(b, n, bad, &failed);
    b[i] ^= 0x01;
    if (failed) fprintf(stderr, "a flip at byte %ld was not refused\n", i);
  }
  for (long cut = 0; cut < n && !failed; cut++) { /* every cut */
    refuse(b, cut, bad, &failed);
    if (failed) fprintf(stderr, "a cut at %ld was not refused\n", cut);
  }
  uint8_t *more = malloc((size_t)n + 1);
  CHECK(more != NULL);
  memcpy(more, b, (size_t)n);
  more[n] = 0;
  refuse(more, n + 1, bad, &failed);
  free(more);
  free(b);
  CHECK(!failed);

  /* several chunks: every chunk boundary cut, and a sample of flips */
  size_t big[2] = {150000, 70000};
  CHECK_RC(make(path, 2, big, NULL), 0);
  b = slurp(path, &n);
  CHECK(b != NULL);
  for (long k = 0; TK_BUNDLE_PREFIX + k * 65552 <= n && !failed; k++)
    for (long d = -1; d <= 1 && !failed; d++) {
      long cut = TK_BUNDLE_PREFIX + k * 65552 + d;
      if (cut >= 0 && cut < n) refuse(b, cut, bad, &failed);
      if (failed) fprintf(stderr, "a cut at %ld was not refused\n", cut);
    }
  for (long i = 0; i < n && !failed; i += 977) {
    b[i] ^= 0x80;
    refuse(b, n, bad, &failed);
    b[i] ^= 0x80;
  }
  /* two chunks swapped */
  uint8_t tmp[65552];
  memcpy(tmp, b + TK_BUNDLE_PREFIX, sizeof tmp);
  memcpy(b + TK_BUNDLE_PREFIX, b + TK_BUNDLE_PREFIX + 65552, sizeof tmp);
  memcpy(b + TK_BUNDLE_PREFIX + 65552, tmp, sizeof tmp);
  refuse(b, n, bad, &failed);
  free(b);
  CHECK(!failed);
}

/* A stream of exactly two chunks ends with an empty third, flagged last. */
static void exact_chunks(void)
{
  char path[512];
  uint64_t plain = 0;
  tk_bundle_info_t info;
  tk_err_t e;
  CHECK_RC(ids(), 0);
  snprintf(path, sizeof path, "%s/exact.tkb", tk_test_tmpdir());
  size_t sz[1] = {1000};
  CHECK_RC(make(path, 1, sz, &plain), 0);
  sz[0] += 2 * 65536 - plain;
  CHECK_RC(make(path, 1, sz, &plain), 0);
  CHECK(plain == 2 * 65536);
  CHECK(file_size(path) == TK_BUNDLE_PREFIX + 2 * 65552 + 16);
  CHECK_RC(tk_bundle_read(path, bob, &info, NULL, NULL, &e), 0);
  CHECK(info.plain_bytes == 2 * 65536);
  /* without its empty last chunk it is cut */
  long n;
  uint8_t *b = slurp(path, &n);
  CHECK(b != NULL);
  CHECK(spill(path, b, n - 16) == 0);
  free(b);
  CHECK_RC(tk_bundle_read(path, bob, &info, NULL, NULL, &e), TK_EFORMAT);
  CHECK(strstr(e.msg, "truncated") != NULL);
}

static void limits(void)
{
  char path[512];
  tk_bundle_writer_t w;
  tk_err_t e;
  CHECK_RC(ids(), 0);
  snprintf(path, sizeof path, "%s/limit.tkb", tk_test_tmpdir());
  unlink(path);
  CHECK_RC(tk_bundle_writer_open(&w, path, bob->id, bob->kx_pk, alice, &e), 0);
  uint8_t *p = calloc(1, TK_BUNDLE_MAX_FRAME + 1);
  CHECK(p != NULL);
  int rc = tk_transport_send(tk_bundle_writer_transport(&w),
                             TK_SLICE(p, TK_BUNDLE_MAX_FRAME + 1));
  free(p);
  CHECK(rc == TK_ELIMIT);
  /* a failed send fails the close, and no file is left */
  CHECK_RC(tk_bundle_writer_close(&w, &e), TK_ELIMIT);
  CHECK(access(path, F_OK) != 0);
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  CHECK(access(tmp, F_OK) != 0);
}

static void done(void)
{
  tk_identity_free(alice);
  tk_identity_free(bob);
}

TK_TESTS(TK_TEST(round_trip), TK_TEST(damage), TK_TEST(exact_chunks), TK_TEST(limits),
         TK_TEST(done))
