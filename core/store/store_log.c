/*
 * store_log.c: vault membership logs in the store (tk_store.h, "vault
 * membership logs"): entries kept verbatim by (vault, seq), the vault's
 * current key after a rotation, the grant behind each key an office holds,
 * and revisions kept aside because the log does not let them count.
 * These run seldom (once per entry, grant or refused revision), so their
 * statements are prepared per call rather than cached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

static int prepare(tk_store_t *s, const char *sql, sqlite3_stmt **st, tk_err_t *err)
{
  int src = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
  return src == SQLITE_OK ? 0 : tk__store_fail(s, src, "preparing a statement", err);
}

/* Steps a bound "SELECT count(*) ..." into *n and finalizes it. */
static int count_rows(tk_store_t *s, sqlite3_stmt *st, uint32_t *n, const char *what,
                      tk_err_t *err)
{
  int rc = 0, src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    *n = (uint32_t)sqlite3_column_int64(st, 0);
  else
    rc = tk__store_fail(s, src, what, err);
  sqlite3_finalize(st);
  return rc;
}

int tk_store_log_put(tk_store_t *s, const char *vault, uint32_t seq,
                     const uint8_t id[TK_HASH_LEN], tk_slice_t body, tk_slice_t sig,
                     tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = prepare(s, "SELECT id FROM vault_log WHERE vault = ?1 AND seq = ?2", &st, err);
  if (rc) goto done;
  TK__BIND(sqlite3_bind_text(st, 1, vault, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 2, seq));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    uint8_t have[TK_HASH_LEN];
    if (tk__col_blob(st, 0, have, TK_HASH_LEN))
      rc = tk__store_corrupt(s, "a vault log entry", err);
    else if (memcmp(have, id, TK_HASH_LEN) != 0)
      rc = tk_err_set(err, TK_EEXIST, "vault %s already has another log entry %u", vault,
                      seq);
    goto done; /* the same entry: nothing to do */
  }
  if (src != SQLITE_DONE) {
    rc = tk__store_fail(s, src, "reading the vault log", err);
    goto done;
  }
  sqlite3_finalize(st);
  st = NULL;
  rc = prepare(
      s, "INSERT INTO vault_log(vault, seq, id, body, sig) VALUES(?1, ?2, ?3, ?4, ?5)",
      &st, err);
  if (rc) goto done;
  TK__BIND(sqlite3_bind_text(st, 1, vault, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 2, seq));
  TK__BIND(sqlite3_bind_blob(st, 3, id, TK_HASH_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 4, body.p, (int)body.n, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 5, sig.p, (int)sig.n, SQLITE_STATIC));
  src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = tk__store_fail(s, src, "storing a vault log entry", err);
done:
  sqlite3_finalize(st);
  return tk__write_end(s, rc, err);
}

int tk_store_log_each(tk_store_t *s, const char *vault, uint32_t since,
                      int (*cb)(void *ctx, tk_slice_t body, tk_slice_t sig), void *ctx,
                      tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = prepare(s,
                   "SELECT body, sig FROM vault_log WHERE vault = ?1 AND seq >= ?2 "
                   "ORDER BY seq",
                   &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_text(st, 1, vault, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 2, since));
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "reading the vault log", err);
      break;
    }
    tk_slice_t body = {sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0)};
    tk_slice_t sig = {sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1)};
    rc = cb(ctx, body, sig);
    if (rc) break;
  }
  sqlite3_finalize(st);
  return rc;
}

int tk_store_log_count(tk_store_t *s, const char *vault, uint32_t *n, tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = prepare(s, "SELECT count(*) FROM vault_log WHERE vault = ?1", &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_text(st, 1, vault, -1, SQLITE_STATIC));
  return count_rows(s, st, n, "counting the vault log", err);
}

int tk_store_log_vaults(tk_store_t *s, int (*cb)(void *ctx, const char *vault), void *ctx,
                        tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  char name[TK_MAX_VAULT_LEN + 1];
  int rc = prepare(s, "SELECT DISTINCT vault FROM vault_log ORDER BY vault", &st, err);
  if (rc) return rc;
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "listing vault logs", err);
      break;
    }
    if (tk__col_text(st, 0, name, sizeof name)) {
      rc = tk__store_corrupt(s, "a vault log entry", err);
      break;
    }
    rc = cb(ctx, name);
    if (rc) break;
  }
  sqlite3_finalize(st);
  return rc;
}

int tk_store_vault_set_key(tk_store_t *s, const char *name,
                           const uint8_t key_id[TK_KEY_ID_LEN], tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = prepare(s, "UPDATE vaults SET key_id = ?2 WHERE name = ?1", &st, err);
  if (rc) goto done;
  TK__BIND(sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 2, key_id, TK_KEY_ID_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE)
    rc = tk__store_fail(s, src, "setting a vault's key", err);
  else if (sqlite3_changes(s->db) == 0)
    rc = tk_err_set(err, TK_ENOTFOUND, "no vault %s in store %s", name, s->path);
done:
  sqlite3_finalize(st);
  return tk__write_end(s, rc, err);
}

int tk_store_grant_get(tk_store_t *s, const uint8_t recipient[TK_DEVICE_ID_LEN],
                       const char *vault, const uint8_t key_id[TK_KEY_ID_LEN],
                       tk_buf_t *body, tk_buf_t *sig, tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = prepare(s,
                   "SELECT body, sig FROM grants WHERE recipient = ?1 AND vault = ?2 "
                   "AND key_id = ?3",
                   &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, recipient, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 2, vault, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 3, key_id, TK_KEY_ID_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    rc = tk_buf_append(body, sqlite3_column_blob(st, 0),
                       (size_t)sqlite3_column_bytes(st, 0));
    if (!rc)
      rc = tk_buf_append(sig, sqlite3_column_blob(st, 1),
                         (size_t)sqlite3_column_bytes(st, 1));
  } else if (src == SQLITE_DONE) {
    rc = tk_err_set(err, TK_ENOTFOUND, "no grant for vault %s", vault);
  } else {
    rc = tk__store_fail(s, src, "reading a grant", err);
  }
  sqlite3_finalize(st);
  return rc;
}

int tk_store_refused_put(tk_store_t *s, const tk_rev_t *rev,
                         const uint8_t sender[TK_DEVICE_ID_LEN], const char *reason,
                         tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = tk_store_quarantine_put(s, rev, sender, reason, err);
  if (!rc) rc = prepare(s, "UPDATE quarantine SET kind = 1 WHERE id = ?1", &st, err);
  if (!rc) {
    TK__BIND(sqlite3_bind_blob(st, 1, rev->id, TK_REV_ID_LEN, SQLITE_STATIC));
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
      rc = tk__store_fail(s, src, "marking a refused revision", err);
  }
  sqlite3_finalize(st);
  return tk__write_end(s, rc, err);
}

int tk_store_refused_has(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN])
{
  sqlite3_stmt *st = NULL;
  if (prepare(s, "SELECT 1 FROM quarantine WHERE id = ?1 AND kind = 1", &st, NULL))
    return TK_ESTORE;
  TK__BIND(sqlite3_bind_blob(st, 1, id, TK_REV_ID_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  sqlite3_finalize(st);
  return src == SQLITE_ROW ? 1 : src == SQLITE_DONE ? 0 : TK_ESTORE;
}

int tk_store_parent_keys(tk_store_t *s, const tk_rev_t *rev,
                         uint8_t (*keys)[TK_KEY_ID_LEN], size_t *n, tk_err_t *err)
{
  tk_buf_t b = TK_BUF_INIT;
  *n = 0;
  for (uint32_t i = 0; i < rev->nparents; i++) {
    tk_rev_t p;
    b.n = 0;
    int rc = tk_store_get_rev(s, rev->parents + (size_t)i * TK_REV_ID_LEN, &b, NULL);
    if (rc == TK_ENOTFOUND) continue;
    if (!rc) rc = tk_rev_parse(&p, TK_SLICE(b.p, b.n), err);
    if (rc) {
      tk_buf_free(&b);
      return tk_err_set(err, rc, "reading a parent revision");
    }
    memcpy(keys[(*n)++], p.key_id, TK_KEY_ID_LEN);
  }
  tk_buf_free(&b);
  return 0;
}

int tk_store_refused_for_record(tk_store_t *s, const uint8_t record_id[TK_RECORD_ID_LEN],
                                uint32_t *n, tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = prepare(s, "SELECT count(*) FROM quarantine WHERE kind = 1 AND record_id = ?1",
                   &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, record_id, TK_RECORD_ID_LEN, SQLITE_STATIC));
  return count_rows(s, st, n, "counting refused revisions", err);
}

int tk_store_refused_recheck(tk_store_t *s, const char *vault,
                             int (*ok)(void *ctx, const tk_rev_t *rev), void *ctx,
                             uint32_t *released, tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  tk_buf_t all = TK_BUF_INIT;
  size_t *offs = NULL, n = 0;
  char *gone = NULL;
  *released = 0;
  int rc = prepare(s,
                   "SELECT bytes FROM quarantine WHERE kind = 1 AND vault = ?1 "
                   "ORDER BY received, id",
                   &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_text(st, 1, vault, -1, SQLITE_STATIC));
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "listing refused revisions", err);
      goto done;
    }
    size_t *o = realloc(offs, (n + 2) * sizeof *o);
    if (!o) {
      rc = tk_err_set(err, TK_ENOMEM, "out of memory");
      goto done;
    }
    offs = o;
    offs[n] = all.n;
    rc = tk_buf_append(&all, sqlite3_column_blob(st, 0),
                       (size_t)sqlite3_column_bytes(st, 0));
    if (rc) goto done;
    offs[++n] = all.n;
  }
  sqlite3_finalize(st);
  st = NULL;
  if (n == 0) goto done;
  gone = calloc(n, 1);
  if (!gone) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory");
    goto done;
  }
  rc = tk__write_begin(s, err);
  if (rc) goto done;
  /* Parents before children: the feed order they arrived in mostly is; go
   * round until a pass releases nothing. */
  for (int progress = 1; progress && !rc;) {
    progress = 0;
    for (size_t i = 0; i < n && !rc; i++) {
      tk_rev_t rev;
      if (gone[i] ||
          tk_rev_parse(&rev, TK_SLICE(all.p + offs[i], offs[i + 1] - offs[i]), NULL) !=
              0 ||
          ok(ctx, &rev) != 1)
        continue;
      int prc = tk_store_put_rev(s, &rev, NULL, NULL);
      if (prc == TK_EPARENT) continue;
      if (prc && prc != TK_EEXIST) {
        rc = tk_err_set(err, prc,
                        "releasing a revision the membership log now lets count");
        break;
      }
      rc = tk_store_quarantine_del(s, rev.id, err);
      gone[i] = 1;
      (*released)++;
      progress = 1;
    }
  }
  rc = tk__write_end(s, rc, err);
  if (rc) *released = 0;
done:
  sqlite3_finalize(st);
  free(offs);
  free(gone);
  tk_buf_free(&all);
  return rc;
}

int tk_store_authors(tk_store_t *s,
                     int (*cb)(void *ctx, const uint8_t author[TK_DEVICE_ID_LEN],
                               const char *vault),
                     void *ctx, tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  uint8_t author[TK_DEVICE_ID_LEN];
  char vault[TK_MAX_VAULT_LEN + 1];
  int rc = prepare(
      s, "SELECT DISTINCT author, vault FROM revisions ORDER BY author, vault", &st, err);
  if (rc) return rc;
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "listing the authors of revisions", err);
      break;
    }
    if (tk__col_blob(st, 0, author, sizeof author) ||
        tk__col_text(st, 1, vault, sizeof vault)) {
      rc = tk__store_corrupt(s, "a revision's author", err);
      break;
    }
    rc = cb(ctx, author, vault);
    if (rc) break;
  }
  sqlite3_finalize(st);
  return rc;
}
