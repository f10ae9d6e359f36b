/*
 * test_office_transfer.c: the office calls the web UI needs, on a real
 * office (real sqlite file, the bundled plugins): locking again (keys
 * wiped in memory, the next read refused until unlocked), the streamed
 * upload (pieces of odd sizes equal what `tunduk get` writes, byte for
 * byte; its temporary file holds no plaintext; abort, a size mismatch, a
 * lock midway and every refusal leave the store's every row as it was)
 * and the streamed download (the same bytes, missing chunks refused at
 * open, a damaged one refused while reading).
 */
#define _GNU_SOURCE /* memmem */
#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "office_internal.h"
#include "tk_meta.h"
#include "tk_office.h"
#include "tk_test.h"

#define PASS "correct horse"
#define MARK "PLAINTEXT-TESTIMONY-MARKER"

static char home_path[2048];

static void office(const char *name, tk_office_t **out)
{
  tk_office_t *o = NULL;
  tk_err_t e;
  *out = NULL;
  CHECK_RC(tk_office_global_init(), 0);
  snprintf(home_path, sizeof home_path, "%s/%s", tk_test_tmpdir(), name);
  CHECK_RC(tk_office_create(home_path, name, PASS, strlen(PASS),
                            TK_OFFICE_KDF_INTERACTIVE, &e),
           0);
  CHECK_RC(tk_office_open(&o, home_path, &e), 0);
  CHECK_RC(tk_office_unlock(o, PASS, strlen(PASS), &e), 0);
  CHECK_RC(tk_office_vault_create(o, "cases", &e), 0);
  *out = o;
}

static void new_case(tk_office_t *o, char rec[2 * TK_RECORD_ID_LEN + 1])
{
  tk_err_t e;
  json_t *body = json_pack("{s:s,s:s,s:s}", "case_number", "K-1", "client_alias", "C-1",
                           "status", "open");
  CHECK_RC(tk_office_record_new(o, "case", "cases", body, NULL, rec, &e), 0);
  json_decref(body);
}

/* SHA-256 over every row of every table of the store file: the store's
 * whole content, so "nothing changed" means nothing. */
static void store_digest(uint8_t out[TK_HASH_LEN])
{
  char path[2100];
  sqlite3 *db = NULL;
  sqlite3_stmt *tables = NULL;
  tk_sha256_ctx_t h;
  memset(out, 0, TK_HASH_LEN);
  snprintf(path, sizeof path, "%s/store.db", home_path);
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) return;
  tk_sha256_init(&h);
  sqlite3_prepare_v2(db,
                     "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name",
                     -1, &tables, NULL);
  while (sqlite3_step(tables) == SQLITE_ROW) {
    char sql[300];
    sqlite3_stmt *rows = NULL;
    const char *t = (const char *)sqlite3_column_text(tables, 0);
    tk_sha256_update(&h, t, strlen(t));
    snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"", t);
    if (sqlite3_prepare_v2(db, sql, -1, &rows, NULL) != SQLITE_OK) continue;
    while (sqlite3_step(rows) == SQLITE_ROW)
      for (int c = 0; c < sqlite3_column_count(rows); c++) {
        const void *p = sqlite3_column_blob(rows, c);
        int n = sqlite3_column_bytes(rows, c);
        tk_sha256_update(&h, &n, sizeof n);
        if (p) tk_sha256_update(&h, p, (size_t)n);
      }
    sqlite3_finalize(rows);
  }
  sqlite3_finalize(tables);
  sqlite3_close(db);
  tk_sha256_final(&h, out);
}

static int all_zero(const void *p, size_t n)
{
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

static void test_lock(void)
{
  tk_office_t *o = NULL;
  office("lock", &o);
  if (!o) return;
  char rec[2 * TK_RECORD_ID_LEN + 1];
  tk_office_view_t v;
  tk_err_t e;
  new_case(o, rec);
  CHECK(tk_office_locked(o) == 0);
  CHECK_RC(tk_office_record_show(o, rec, NULL, &v, &e), 0);
  tk_office_view_free(&v);
  /* the read left the vault key in the cache, and the private keys are in */
  CHECK(!all_zero(o->keys, KEY_CACHE_SLOTS * sizeof *o->keys));
  CHECK(o->id->sec != NULL);
  CHECK_RC(tk_office_lock(o), 0);
  CHECK(tk_office_locked(o) == 1);
  /* every byte of the cache is zero, the private keys are gone (the
   * identity wipes them before freeing, tk_identity_free) */
  CHECK(all_zero(o->keys, KEY_CACHE_SLOTS * sizeof *o->keys));
  CHECK(o->id->sec == NULL);
  /* no unlock callback: the read is refused */
  CHECK_RC(tk_office_record_show(o, rec, NULL, &v, &e), TK_EPASS);
  CHECK(strstr(e.msg, "locked") != NULL);
  /* what needs no key still works */
  json_t *st = NULL;
  CHECK_RC(tk_office_status(o, &st, &e), 0);
  json_decref(st);
  /* a wrong passphrase keeps it locked; the right one opens it */
  CHECK_RC(tk_office_unlock(o, "wrong", 5, &e), TK_EPASS);
  CHECK(tk_office_locked(o) == 1);
  CHECK_RC(tk_office_unlock(o, PASS, strlen(PASS), &e), 0);
  CHECK(tk_office_locked(o) == 0);
  CHECK_RC(tk_office_record_show(o, rec, NULL, &v, &e), 0);
  CHECK(strcmp(json_string_value(json_object_get(v.body, "case_number")), "K-1") == 0);
  tk_office_view_free(&v);
  CHECK_RC(tk_office_lock(o), 0);
  CHECK_RC(tk_office_lock(o), 0); /* twice: fine */
  tk_office_close(o);
}

/* Content with a marker every few KiB, the rest varied. */
static uint8_t *content(size_t n)
{
  uint8_t *p = malloc(n);
  uint32_t x = 2463534242u;
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (uint8_t)x;
  }
  for (size_t i = 0; i + sizeof MARK < n; i += 5000)
    memcpy(p + i, MARK, sizeof MARK - 1);
  return p;
}

/* The upload's temporary file, read through this process's descriptor
 * (it has no name on disk): *len bytes, NULL if there is none. */
static uint8_t *upload_file(size_t *len)
{
  char dir[2100];
  snprintf(dir, sizeof dir, "%s/uploads/", home_path);
  DIR *d = opendir("/proc/self/fd");
  struct dirent *de;
  uint8_t *out = NULL;
  *len = 0;
  while (d && !out && (de = readdir(d))) {
    char fdp[300], target[2300];
    snprintf(fdp, sizeof fdp, "/proc/self/fd/%s", de->d_name);
    ssize_t n = readlink(fdp, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = 0;
    if (strncmp(target, dir, strlen(dir)) != 0) continue;
    int fd = open(fdp, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) continue;
    out = malloc((size_t)st.st_size + 1);
    *len = (size_t)pread(fd, out, (size_t)st.st_size, 0);
    close(fd);
  }
  if (d) closedir(d);
  return out;
}

static size_t entries_in(const char *dir)
{
  DIR *d = opendir(dir);
  size_t n = 0;
  struct dirent *de;
  while (d && (de = readdir(d)))
    n += de->d_name[0] != '.';
  if (d) closedir(d);
  return n;
}

static uint8_t *read_all(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *p = malloc((size_t)len + 1);
  *n = fread(p, 1, (size_t)len, f);
  fclose(f);
  return p;
}

static void upload_pieces(tk_office_upload_t *up, const uint8_t *p, size_t n, int *ok)
{
  static const size_t sizes[] = {1, 7, 4093, 65537, 300001, 2};
  tk_err_t e;
  size_t at = 0;
  *ok = 0;
  for (int k = 0; at < n; k++) {
    size_t take = sizes[k % 6];
    if (take > n - at) take = n - at;
    CHECK_RC(tk_office_upload_write(up, p + at, take, &e), 0);
    at += take;
  }
  *ok = 1;
}

#define BIG (3 * TK_CHUNK_PLAIN + 12345)

static void test_upload(void)
{
  tk_office_t *o = NULL;
  office("upload", &o);
  if (!o) return;
  char rec[2 * TK_RECORD_ID_LEN + 1], rev[2 * TK_REV_ID_LEN + 1], out[2200], cmd[6000];
  uint8_t before[TK_HASH_LEN], after[TK_HASH_LEN];
  tk_office_upload_t *up = NULL;
  tk_err_t e;
  int ok = 0;
  new_case(o, rec);
  uint8_t *data = content(BIG);
  CHECK_RC(tk_office_upload_begin(o, rec, "testimony.wav", BIG, &up, &e), 0);
  store_digest(before);
  upload_pieces(up, data, BIG, &ok);
  CHECK(ok);
  CHECK(tk_office_upload_received(up) == BIG);
  /* the full chunks are in the temporary file, as ciphertext only */
  size_t flen = 0;
  uint8_t *f = upload_file(&flen);
  CHECK(f != NULL);
  CHECK(flen >= 3 * TK_CHUNK_PLAIN);
  CHECK(memmem(f, flen, MARK, sizeof MARK - 1) == NULL);
  CHECK(memmem(f, flen, data + 100, 64) == NULL);
  free(f);
  /* nothing in the store yet, and no name in the uploads folder */
  store_digest(after);
  CHECK(memcmp(before, after, TK_HASH_LEN) == 0);
  snprintf(out, sizeof out, "%s/uploads", home_path);
  CHECK(entries_in(out) == 0);
  CHECK_RC(tk_office_upload_finish(up, rev, &e), 0);
  CHECK(strlen(rev) == 2 * TK_REV_ID_LEN);
  size_t tmp = 0;
  f = upload_file(&tmp);
  CHECK(f == NULL); /* closed with finish */
  /* `tunduk get` writes the same bytes */
  const char *bin = getenv("TK_BIN_DIR");
  CHECK(bin != NULL);
  snprintf(out, sizeof out, "%s/got.wav", tk_test_tmpdir());
  snprintf(cmd, sizeof cmd,
           "TUNDUK_PASSPHRASE='" PASS
           "' %s/tunduk --home '%s' get %s testimony.wav -o '%s'",
           bin, home_path, rec, out);
  CHECK(system(cmd) == 0);
  size_t glen = 0;
  uint8_t *got = read_all(out, &glen);
  CHECK(got && glen == BIG && memcmp(got, data, BIG) == 0);
  free(got);
  /* the streamed download too, in odd pieces */
  tk_office_download_t *d = NULL;
  uint64_t size = 0;
  uint8_t *back = malloc(BIG + 10), buf[70001];
  size_t at = 0, n = 0, caps[] = {1, 70001, 333, 65536};
  CHECK_RC(tk_office_attachment_open(o, rec, "testimony.wav", &d, &size, &e), 0);
  CHECK(size == BIG);
  for (int k = 0;; k++) {
    CHECK_RC(tk_office_attachment_read(d, buf, caps[k % 4], &n, &e), 0);
    if (n == 0) break;
    CHECK(at + n <= BIG);
    memcpy(back + at, buf, n);
    at += n;
  }
  tk_office_attachment_close(d);
  CHECK(at == BIG && memcmp(back, data, BIG) == 0);
  free(back);
  /* the name is taken now */
  CHECK_RC(tk_office_upload_begin(o, rec, "testimony.wav", 10, &up, &e), TK_EEXIST);
  free(data);
  tk_office_close(o);
}

static void test_upload_cut(void)
{
  tk_office_t *o = NULL;
  office("cut", &o);
  if (!o) return;
  char rec[2 * TK_RECORD_ID_LEN + 1], rev[2 * TK_REV_ID_LEN + 1], dir[2200];
  uint8_t before[TK_HASH_LEN], after[TK_HASH_LEN];
  tk_office_upload_t *up = NULL;
  tk_err_t e;
  int ok = 0;
  new_case(o, rec);
  uint8_t *data = content(BIG);
  store_digest(before);
  /* abort after most of it */
  CHECK_RC(tk_office_upload_begin(o, rec, "a.bin", BIG, &up, &e), 0);
  upload_pieces(up, data, BIG - 5, &ok);
  CHECK(ok);
  tk_office_upload_abort(up);
  store_digest(after);
  CHECK(memcmp(before, after, TK_HASH_LEN) == 0);
  /* fewer bytes than announced: refused at finish, nothing stored */
  CHECK_RC(tk_office_upload_begin(o, rec, "a.bin", BIG, &up, &e), 0);
  upload_pieces(up, data, BIG - 1, &ok);
  CHECK(ok);
  CHECK_RC(tk_office_upload_finish(up, rev, &e), TK_EINVAL);
  CHECK(strstr(e.msg, "nothing stored") != NULL);
  store_digest(after);
  CHECK(memcmp(before, after, TK_HASH_LEN) == 0);
  /* more than announced: refused at the write */
  CHECK_RC(tk_office_upload_begin(o, rec, "a.bin", 100, &up, &e), 0);
  CHECK_RC(tk_office_upload_write(up, data, 101, &e), TK_ELIMIT);
  CHECK_RC(tk_office_upload_finish(up, rev, &e), TK_EINVAL);
  store_digest(after);
  CHECK(memcmp(before, after, TK_HASH_LEN) == 0);
  /* a lock midway wipes its key: the rest is refused, nothing stored */
  CHECK_RC(tk_office_upload_begin(o, rec, "a.bin", BIG, &up, &e), 0);
  CHECK_RC(tk_office_upload_write(up, data, TK_CHUNK_PLAIN + 3, &e), 0);
  CHECK_RC(tk_office_lock(o), 0);
  CHECK_RC(tk_office_upload_write(up, data, 3, &e), TK_EPASS);
  CHECK_RC(tk_office_upload_finish(up, rev, &e), TK_EPASS);
  CHECK_RC(tk_office_unlock(o, PASS, strlen(PASS), &e), 0);
  store_digest(after);
  CHECK(memcmp(before, after, TK_HASH_LEN) == 0);
  /* refusals before anything is made */
  CHECK_RC(tk_office_upload_begin(o, rec, "bad/name", 10, &up, &e), TK_EINVAL);
  CHECK_RC(tk_office_upload_begin(o, "ffffffff", "x", 10, &up, &e), TK_ENOTFOUND);
  CHECK_RC(tk_office_upload_begin(o, rec, "huge.bin",
                                  (uint64_t)TK_MAX_ATTACH_REFS * TK_CHUNK_PLAIN + 1, &up,
                                  &e),
           TK_ELIMIT);
  CHECK(up == NULL);
  /* a vault this device may only read at its hub */
  tk_store_t *s = tk_office_store(o);
  CHECK_RC(tk_store_meta_set(s, TK_META_HUB_ID, "HUB", &e), 0);
  CHECK_RC(tk_store_meta_set(s, TK_META_HUB_ACCESS, "cases:r", &e), 0);
  store_digest(before);
  CHECK_RC(tk_office_upload_begin(o, rec, "x.bin", 10, &up, &e), TK_EACCESS);
  CHECK(up == NULL);
  store_digest(after);
  CHECK(memcmp(before, after, TK_HASH_LEN) == 0);
  snprintf(dir, sizeof dir, "%s/uploads", home_path);
  CHECK(entries_in(dir) == 0);
  free(data);
  tk_office_close(o);
}

/* A leftover of a crash between making the file and unlinking it goes
 * when the office opens. */
static void test_stale_upload_swept(void)
{
  tk_office_t *o = NULL;
  office("stale", &o);
  if (!o) return;
  tk_office_close(o);
  char dir[2200], p[2300];
  tk_err_t e;
  snprintf(dir, sizeof dir, "%s/uploads", home_path);
  mkdir(dir, 0700);
  snprintf(p, sizeof p, "%s/upload-AbC123", dir);
  FILE *f = fopen(p, "wb");
  CHECK(f != NULL);
  fputs("ciphertext", f);
  fclose(f);
  CHECK(entries_in(dir) == 1);
  CHECK_RC(tk_office_open(&o, home_path, &e), 0);
  CHECK(entries_in(dir) == 0);
  tk_office_close(o);
}

static void sql(const char *q)
{
  char path[2100];
  sqlite3 *db = NULL;
  snprintf(path, sizeof path, "%s/store.db", home_path);
  if (sqlite3_open(path, &db) == SQLITE_OK) sqlite3_exec(db, q, NULL, NULL, NULL);
  sqlite3_close(db);
}

static void test_download_checks(void)
{
  tk_office_t *o = NULL;
  office("download", &o);
  if (!o) return;
  char rec[2 * TK_RECORD_ID_LEN + 1], rev[2 * TK_REV_ID_LEN + 1];
  tk_office_upload_t *up = NULL;
  tk_office_download_t *d = NULL;
  uint8_t buf[TK_CHUNK_PLAIN];
  size_t n = 0;
  uint64_t size = 0;
  tk_err_t e;
  int ok = 0;
  new_case(o, rec);
  uint8_t *data = content(BIG);
  CHECK_RC(tk_office_upload_begin(o, rec, "scan.pdf", BIG, &up, &e), 0);
  upload_pieces(up, data, BIG, &ok);
  CHECK(ok);
  CHECK_RC(tk_office_upload_finish(up, rev, &e), 0);
  CHECK_RC(tk_office_attachment_open(o, rec, "nope.pdf", &d, &size, &e), TK_ENOTFOUND);
  /* locked, no callback: refused */
  CHECK_RC(tk_office_lock(o), 0);
  CHECK_RC(tk_office_attachment_open(o, rec, "scan.pdf", &d, &size, &e), TK_EPASS);
  CHECK_RC(tk_office_unlock(o, PASS, strlen(PASS), &e), 0);
  /* a lock while reading stops it */
  CHECK_RC(tk_office_attachment_open(o, rec, "scan.pdf", &d, &size, &e), 0);
  CHECK_RC(tk_office_attachment_read(d, buf, 10, &n, &e), 0);
  CHECK(n == 10 && memcmp(buf, data, 10) == 0);
  CHECK_RC(tk_office_lock(o), 0);
  CHECK_RC(tk_office_attachment_read(d, buf, sizeof buf, &n, &e), TK_EPASS);
  tk_office_attachment_close(d);
  CHECK_RC(tk_office_unlock(o, PASS, strlen(PASS), &e), 0);
  /* a damaged second chunk: the first reads, the second is refused */
  sql("UPDATE chunks SET data = zeroblob(length(data)) WHERE seq = "
      "(SELECT seq FROM chunks ORDER BY seq LIMIT 1 OFFSET 1)");
  CHECK_RC(tk_office_attachment_open(o, rec, "scan.pdf", &d, &size, &e), 0);
  CHECK_RC(tk_office_attachment_read(d, buf, sizeof buf, &n, &e), 0);
  CHECK(n == TK_CHUNK_PLAIN && memcmp(buf, data, n) == 0);
  CHECK_RC(tk_office_attachment_read(d, buf, sizeof buf, &n, &e), TK_EHASH);
  CHECK(n == 0 && strstr(e.msg, "chunk 2") != NULL);
  CHECK(tk_office_attachment_read(d, buf, sizeof buf, &n, &e) != 0); /* stays failed */
  tk_office_attachment_close(d);
  /* a chunk not here: refused at open, before any byte */
  sql("DELETE FROM chunks WHERE seq = (SELECT max(seq) FROM chunks)");
  CHECK_RC(tk_office_attachment_open(o, rec, "scan.pdf", &d, &size, &e), TK_EPENDING);
  CHECK(d == NULL && strstr(e.msg, "incomplete") != NULL);
  free(data);
  tk_office_close(o);
}

TK_TESTS(TK_TEST(test_lock), TK_TEST(test_upload), TK_TEST(test_upload_cut),
         TK_TEST(test_stale_upload_swept), TK_TEST(test_download_checks))
