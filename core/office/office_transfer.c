/*
 * office_transfer.c: attachments streamed in pieces (tk_office.h), for a
 * front end that gets or serves a file over a connection: an upload that
 * arrives in pieces, encrypted chunk by chunk as it arrives (the chunk
 * format of tk_attach.h) into a temporary file of ciphertext under
 * HOME/uploads, stored in one transaction only when every byte is there;
 * and a download read chunk by chunk with every check of tk_attach_write_file
 * (the same reader, tk_attach_reader_t).
 *
 * The temporary file holds ciphertext only; its key is in locked memory.
 * It has no name on disk while it is used (O_TMPFILE, else unlinked as
 * soon as it is made), so a cut upload, even a killed process, leaves
 * nothing behind and the store as it was; tk_office_open removes what a
 * crash between making and unlinking could leave. tk_office_lock wipes the
 * keys of uploads and downloads in progress: they fail from then on. One
 * thread at a time, as tk_office_t.
 */
#define _GNU_SOURCE /* O_TMPFILE */
#include "office_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tk_body.h"
#include "tk_office_home.h"

#define UPLOAD_PREFIX "upload-"

/* ---- the temporary file -------------------------------------------------------- */

static int uploads_dir(tk_office_t *o, char *out, size_t cap, tk_err_t *err)
{
  return tk_home_path(out, cap, o->home, TK_HOME_UPLOADS, err);
}

void tk__office_uploads_sweep(tk_office_t *o)
{
  char dir[PATH_MAX];
  if (uploads_dir(o, dir, sizeof dir, NULL) != 0) return;
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)))
    if (strncmp(de->d_name, UPLOAD_PREFIX, strlen(UPLOAD_PREFIX)) == 0) {
      char p[PATH_MAX];
      if (snprintf(p, sizeof p, "%s/%s", dir, de->d_name) < (int)sizeof p &&
          unlink(p) == 0)
        TK_LOG(TK_LOG_INFO, "office", "removed a cut upload's file %s", de->d_name);
    }
  closedir(d);
}

/* A file for ciphertext with no name on disk: *fd. */
static int temp_file(tk_office_t *o, int *fd, tk_err_t *err)
{
  char dir[PATH_MAX], p[PATH_MAX + 32];
  int rc = uploads_dir(o, dir, sizeof dir, err);
  if (rc) return rc;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return tk_err_set(err, TK_EIO, "cannot create %s: %s", dir, strerror(errno));
#ifdef O_TMPFILE
  *fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
  if (*fd >= 0) return 0;
#endif
  snprintf(p, sizeof p, "%s/" UPLOAD_PREFIX "XXXXXX", dir);
  *fd = mkostemp(p, O_CLOEXEC);
  if (*fd < 0)
    return tk_err_set(err, TK_EIO, "cannot create a file in %s: %s", dir,
                      strerror(errno));
  unlink(p);
  return 0;
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, off_t at)
{
  while (n > 0) {
    ssize_t w = pwrite(fd, p, n, at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
    at += w;
  }
  return 0;
}

static int pread_all(int fd, uint8_t *p, size_t n, off_t at)
{
  while (n > 0) {
    ssize_t r = pread(fd, p, n, at);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
    at += r;
  }
  return 0;
}

/* ---- upload ------------------------------------------------------------------- */

struct tk_office_upload {
  tk_office_t *o;
  office_holder_t hold;
  uint8_t rec[TK_RECORD_ID_LEN];
  char record[2 * TK_RECORD_ID_LEN + 1]; /* as the caller named it, for messages */
  char name[TK_MAX_ATTACH_NAME + 1];
  uint64_t size, received;
  uint32_t nchunks, sealed;
  uint8_t (*chunks)[TK_HASH_LEN];
  uint8_t *key;   /* TK_ATTACH_KEY_LEN, locked */
  uint8_t *plain; /* TK_CHUNK_PLAIN, locked: the chunk arriving */
  size_t fill;
  uint8_t *ct; /* TK_CHUNK_MAX */
  tk_sha256_ctx_t hs;
  int fd;
  int locked; /* the office was locked meanwhile: key wiped */
  int failed; /* a write failed: only abort is left */
};

static void upload_wipe(void *ctx)
{
  tk_office_upload_t *up = ctx;
  if (up->key) tk_wipe(up->key, TK_ATTACH_KEY_LEN);
  if (up->plain) tk_wipe(up->plain, TK_CHUNK_PLAIN);
  tk_wipe(&up->hs, sizeof up->hs);
  up->locked = 1;
}

void tk_office_upload_abort(tk_office_upload_t *up)
{
  if (!up) return;
  if (up->o) tk__office_unhold(up->o, &up->hold);
  if (up->fd >= 0) close(up->fd); /* the file has no name: gone with it */
  tk_secure_free(up->key);
  tk_secure_free(up->plain);
  free(up->ct);
  free(up->chunks);
  tk_wipe(up, sizeof *up);
  free(up);
}

/* The record's current attachment refs (its winner's signed header: no key
 * needed) leave room for nchunks more, else TK_ELIMIT. */
static int room_for(tk_office_t *o, const tk_record_info_t *ri, const char *record,
                    uint64_t size, uint64_t nchunks, tk_err_t *err)
{
  uint32_t missing = 0, total = 0;
  int rc = tk_store_rev_chunks(o->store, ri->winner, &missing, &total, err);
  if (rc) return rc;
  uint64_t room = total < TK_MAX_ATTACH_REFS ? TK_MAX_ATTACH_REFS - total : 0;
  if (nchunks > room)
    return tk_err_set(err, TK_ELIMIT,
                      "an attachment of %llu bytes does not fit record %s: it has room "
                      "for %llu more bytes of attachments (at most %u chunks of %u KiB "
                      "per record)",
                      (unsigned long long)size, record,
                      (unsigned long long)room * TK_CHUNK_PLAIN,
                      (unsigned)TK_MAX_ATTACH_REFS, (unsigned)(TK_CHUNK_PLAIN >> 10));
  return 0;
}

/* The winner's body takes one more attachment named name. */
static int body_takes(tk_office_t *o, const tk_record_info_t *ri, const char *record,
                      const char *name, tk_err_t *err)
{
  json_t *body = NULL;
  tk_attach_t *list = NULL;
  size_t n = 0;
  int rc = tk_office_read(o, ri->winner, &body, NULL, err);
  if (!rc && tk_body_is_tombstone(body))
    rc = tk_err_set(err, TK_EINVAL, "record %s is deleted; nothing can be attached to it",
                    record);
  if (!rc) rc = tk_attach_list(body, &list, &n, err);
  for (size_t i = 0; !rc && i < n; i++)
    if (strcmp(list[i].name, name) == 0)
      rc = tk_err_set(err, TK_EEXIST, "record %s already has an attachment named '%s'",
                      record, name);
  if (!rc && n >= TK_MAX_ATTACHMENTS)
    rc = tk_err_set(err, TK_ELIMIT,
                    "record %s holds %d attachments, the most a record may", record,
                    TK_MAX_ATTACHMENTS);
  for (size_t i = 0; i < n; i++)
    tk_attach_clear(&list[i]);
  free(list);
  json_decref(body);
  return rc;
}

int tk_office_upload_begin(tk_office_t *o, const char *record, const char *name,
                           uint64_t size, tk_office_upload_t **out, tk_err_t *err)
{
  tk_record_info_t ri;
  uint8_t rec[TK_RECORD_ID_LEN];
  *out = NULL;
  int rc = tk_attach_name_check(name, err);
  if (!rc) rc = tk_office_record_find(o, record, rec, err);
  if (!rc) rc = tk_store_record_info(o->store, rec, &ri, err);
  if (!rc) rc = tk__office_may_write(o, ri.vault, err);
  uint64_t nchunks = size / TK_CHUNK_PLAIN + (size % TK_CHUNK_PLAIN != 0);
  if (!rc) rc = room_for(o, &ri, record, size, nchunks, err);
  if (!rc) rc = tk_office_need_keys(o, err);
  if (!rc) rc = body_takes(o, &ri, record, name, err);
  if (rc) return rc;
  tk_office_upload_t *up = calloc(1, sizeof *up);
  if (!up) return tk_err_set(err, TK_ENOMEM, "out of memory");
  up->fd = -1;
  memcpy(up->rec, rec, sizeof rec);
  snprintf(up->record, sizeof up->record, "%.32s", record);
  snprintf(up->name, sizeof up->name, "%s", name);
  up->size = size;
  up->nchunks = (uint32_t)nchunks;
  up->chunks = calloc(nchunks ? nchunks : 1, TK_HASH_LEN);
  up->key = tk_secure_alloc(TK_ATTACH_KEY_LEN);
  up->plain = tk_secure_alloc(TK_CHUNK_PLAIN);
  up->ct = malloc(TK_CHUNK_MAX);
  if (!up->chunks || !up->key || !up->plain || !up->ct) {
    tk_office_upload_abort(up);
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  }
  rc = temp_file(o, &up->fd, err);
  if (rc) {
    tk_office_upload_abort(up);
    return rc;
  }
  tk_random(up->key, TK_ATTACH_KEY_LEN);
  tk_sha256_init(&up->hs);
  up->o = o;
  up->hold.wipe = upload_wipe;
  up->hold.ctx = up;
  tk__office_hold(o, &up->hold);
  *out = up;
  return 0;
}

static int upload_dead(tk_office_upload_t *up, tk_err_t *err)
{
  if (up->locked || !up->o)
    return tk_err_set(err, TK_EPASS,
                      "the office was locked during the upload of '%s'; nothing stored",
                      up->name);
  if (up->failed)
    return tk_err_set(err, TK_EINVAL, "the upload of '%s' failed already; nothing stored",
                      up->name);
  return 0;
}

/* Encrypts the chunk in plain (fill bytes) as chunk `sealed` into the file. */
static int seal_chunk(tk_office_upload_t *up, tk_err_t *err)
{
  uint32_t i = up->sealed;
  size_t n = tk_attach_chunk_seal(up->key, i, up->plain, up->fill, up->ct, up->chunks[i]);
  tk_wipe(up->plain, up->fill);
  up->fill = 0;
  if (pwrite_all(up->fd, up->ct, n, (off_t)i * TK_CHUNK_MAX) != 0)
    return tk_err_set(err, TK_EIO, "writing the upload of '%s' under %s/%s: %s", up->name,
                      up->o->home, TK_HOME_UPLOADS_SUBDIR, strerror(errno));
  up->sealed++;
  return 0;
}

int tk_office_upload_write(tk_office_upload_t *up, const void *p, size_t n, tk_err_t *err)
{
  const uint8_t *in = p;
  int rc = upload_dead(up, err);
  if (rc) return rc;
  if (n > up->size - up->received) {
    up->failed = 1;
    return tk_err_set(err, TK_ELIMIT,
                      "the upload of '%s' brought more than the %llu bytes it announced",
                      up->name, (unsigned long long)up->size);
  }
  up->received += n;
  tk_sha256_update(&up->hs, in, n);
  while (n > 0) {
    size_t take = TK_CHUNK_PLAIN - up->fill;
    if (take > n) take = n;
    memcpy(up->plain + up->fill, in, take);
    up->fill += take;
    in += take;
    n -= take;
    if (up->fill == TK_CHUNK_PLAIN && (rc = seal_chunk(up, err)) != 0) {
      up->failed = 1;
      return rc;
    }
  }
  return 0;
}

/* tk__office_attach_with's fill: the chunks from the file into the store
 * (each read back and checked against its id), and the attachment. */
static int fill_from_upload(void *ctx, uint32_t max_chunks, tk_attach_t *a, tk_err_t *err)
{
  tk_office_upload_t *up = ctx;
  memset(a, 0, sizeof *a);
  if (up->nchunks > max_chunks)
    return tk_err_set(err, TK_ELIMIT,
                      "'%s' is %llu bytes; record %s has room for %llu more bytes of "
                      "attachments",
                      up->name, (unsigned long long)up->size, up->record,
                      (unsigned long long)max_chunks * TK_CHUNK_PLAIN);
  for (uint32_t i = 0; i < up->nchunks; i++) {
    size_t n = i + 1 < up->nchunks ? TK_CHUNK_MAX
                                   : (size_t)(up->size - (uint64_t)i * TK_CHUNK_PLAIN) +
                                         TK_CHUNK_MAX - TK_CHUNK_PLAIN;
    uint8_t h[TK_HASH_LEN];
    if (pread_all(up->fd, up->ct, n, (off_t)i * TK_CHUNK_MAX) != 0)
      return tk_err_set(err, TK_EIO, "reading back the upload of '%s': %s", up->name,
                        strerror(errno));
    tk_sha256(h, up->ct, n);
    if (!tk_ct_equal(h, up->chunks[i], TK_HASH_LEN))
      return tk_err_set(err, TK_EHASH,
                        "the upload of '%s': chunk %u changed in its temporary file",
                        up->name, i + 1);
    int rc =
        tk_store_chunk_put(up->o->store, up->chunks[i], TK_SLICE(up->ct, n), NULL, err);
    if (rc && rc != TK_EEXIST) return rc;
  }
  snprintf(a->name, sizeof a->name, "%s", up->name);
  a->size = up->size;
  a->nchunks = up->nchunks;
  a->chunks = calloc(up->nchunks ? up->nchunks : 1, TK_HASH_LEN);
  if (!a->chunks) return tk_err_set(err, TK_ENOMEM, "out of memory");
  memcpy(a->chunks, up->chunks, (size_t)up->nchunks * TK_HASH_LEN);
  memcpy(a->key, up->key, TK_ATTACH_KEY_LEN);
  tk_sha256_final(&up->hs, a->sha256);
  return 0;
}

int tk_office_upload_finish(tk_office_upload_t *up, char rev_hex[2 * TK_REV_ID_LEN + 1],
                            tk_err_t *err)
{
  uint8_t rev[TK_REV_ID_LEN];
  int rc = upload_dead(up, err);
  if (!rc && up->received != up->size)
    rc = tk_err_set(err, TK_EINVAL,
                    "the upload of '%s' brought %llu of the %llu bytes it announced; "
                    "nothing stored",
                    up->name, (unsigned long long)up->received,
                    (unsigned long long)up->size);
  if (!rc && up->fill > 0) rc = seal_chunk(up, err);
  if (!rc && up->sealed != up->nchunks)
    rc = tk_err_set(err, TK_EINVAL, "the upload of '%s' is not whole; nothing stored",
                    up->name);
  if (!rc) rc = tk_office_need_keys(up->o, err);
  if (!rc)
    rc = tk__office_attach_with(up->o, up->rec, up->name, fill_from_upload, up, rev, err);
  if (!rc) tk_hex_encode(rev_hex, rev, TK_REV_ID_LEN);
  tk_office_upload_abort(up);
  return rc;
}

uint64_t tk_office_upload_received(const tk_office_upload_t *up)
{
  return up->received;
}

/* ---- download ------------------------------------------------------------------ */

struct tk_office_download {
  tk_office_t *o;
  office_holder_t hold;
  tk_attach_reader_t *r;
  char name[TK_MAX_ATTACH_NAME + 1];
  const uint8_t *p; /* the rest of the chunk read last */
  size_t n;
  int locked;
};

static void download_wipe(void *ctx)
{
  tk_office_download_t *d = ctx;
  tk_attach_reader_wipe(d->r);
  d->p = NULL;
  d->n = 0;
  d->locked = 1;
}

int tk_office_attachment_open(tk_office_t *o, const char *record, const char *name,
                              tk_office_download_t **out, uint64_t *size, tk_err_t *err)
{
  uint8_t rec[TK_RECORD_ID_LEN];
  tk_record_info_t ri;
  tk_attach_t *list = NULL;
  json_t *body = NULL;
  size_t n = 0;
  const tk_attach_t *a = NULL;
  *out = NULL;
  int rc = tk_office_record_find(o, record, rec, err);
  if (!rc) rc = tk_store_record_info(o->store, rec, &ri, err);
  if (!rc) rc = tk_office_need_keys(o, err);
  if (!rc) rc = tk_office_read(o, ri.winner, &body, NULL, err);
  if (!rc) rc = tk_attach_list(body, &list, &n, err);
  for (size_t i = 0; !rc && i < n && !a; i++)
    if (strcmp(list[i].name, name) == 0) a = &list[i];
  if (!rc && !a)
    rc = tk_err_set(err, TK_ENOTFOUND,
                    "record %s has no attachment named '%s' (see 'tunduk attachments')",
                    record, name);
  tk_office_download_t *d = NULL;
  if (!rc && !(d = calloc(1, sizeof *d)))
    rc = tk_err_set(err, TK_ENOMEM, "out of memory");
  if (!rc) rc = tk_attach_reader_open(o->store, a, &d->r, err);
  if (!rc) {
    snprintf(d->name, sizeof d->name, "%s", name);
    if (size) *size = a->size;
    d->o = o;
    d->hold.wipe = download_wipe;
    d->hold.ctx = d;
    tk__office_hold(o, &d->hold);
    *out = d;
  } else {
    free(d);
  }
  for (size_t i = 0; i < n; i++)
    tk_attach_clear(&list[i]);
  free(list);
  json_decref(body);
  return rc;
}

int tk_office_attachment_read(tk_office_download_t *d, void *buf, size_t cap, size_t *n,
                              tk_err_t *err)
{
  *n = 0;
  if (d->locked || !d->o)
    return tk_err_set(err, TK_EPASS, "the office was locked during the download of '%s'",
                      d->name);
  if (d->n == 0) {
    int rc = tk_attach_reader_next(d->r, &d->p, &d->n, err);
    if (rc) return rc;
  }
  size_t take = d->n < cap ? d->n : cap;
  if (take) memcpy(buf, d->p, take);
  d->p += take;
  d->n -= take;
  *n = take;
  return 0;
}

void tk_office_attachment_close(tk_office_download_t *d)
{
  if (!d) return;
  if (d->o) tk__office_unhold(d->o, &d->hold);
  tk_attach_reader_free(d->r);
  free(d);
}
