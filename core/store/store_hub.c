/*
 * store_hub.c: what a hub keeps beyond revisions: the device list with
 * revocation, access lists (which device may pull or push which vault),
 * enrollment tokens (only the hash of their secret), and the vault key
 * grants it relays verbatim. Schema v2 (store.c). One thread at a time per
 * store, like the rest of the store.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "store_internal.h"

static int read_device(tk_store_t *s, sqlite3_stmt *st, tk_device_info_t *d,
                       tk_err_t *err)
{
  memset(d, 0, sizeof *d);
  if (tk__col_blob(st, 0, d->id, TK_DEVICE_ID_LEN) ||
      tk__col_text(st, 1, d->name, sizeof d->name) ||
      tk__col_blob(st, 2, d->sign_pk, TK_SIGN_PK_LEN) ||
      tk__col_blob(st, 3, d->kx_pk, TK_KX_PK_LEN))
    return tk__store_corrupt(s, "a device row", err);
  d->added = sqlite3_column_int64(st, 4);
  d->revoked = sqlite3_column_int64(st, 5);
  d->has_kx_sig = sqlite3_column_type(st, 6) != SQLITE_NULL;
  if (d->has_kx_sig && tk__col_blob(st, 6, d->kx_sig, TK_SIG_LEN))
    return tk__store_corrupt(s, "a device row", err);
  return 0;
}

int tk_store_devices(tk_store_t *s, int (*cb)(void *ctx, const tk_device_info_t *d),
                     void *ctx, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc =
      tk__stmt_get(s, TK__ST_DEVICES,
                   "SELECT id, name, sign_pk, kx_pk, added, revoked, kx_sig FROM devices "
                   "ORDER BY added, id",
                   &st, err);
  if (rc) return rc;
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "listing devices", err);
      break;
    }
    tk_device_info_t d;
    rc = read_device(s, st, &d, err);
    if (!rc) rc = cb(ctx, &d);
    if (rc) break;
  }
  tk__stmt_put(s, TK__ST_DEVICES, st);
  return rc;
}

/* Runs a cached statement that takes one device id and returns no rows. */
static int exec_dev(tk_store_t *s, int slot, const char *sql,
                    const uint8_t id[TK_DEVICE_ID_LEN], int64_t now, const char *what,
                    tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, slot, sql, &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, id, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  if (sqlite3_bind_parameter_count(st) > 1) TK__BIND(sqlite3_bind_int64(st, 2, now));
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = tk__store_fail(s, src, what, err);
  tk__stmt_put(s, slot, st);
  return rc;
}

int tk_store_device_revoke(tk_store_t *s, const uint8_t id[TK_DEVICE_ID_LEN], int64_t now,
                           tk_err_t *err)
{
  tk_device_info_t d;
  int rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = tk_store_device_get(s, id, &d, err);
  if (!rc)
    rc = exec_dev(s, TK__ST_DEV_REVOKE,
                  "UPDATE devices SET revoked = ?2 WHERE id = ?1 AND revoked = 0", id,
                  now, "revoking a device", err);
  if (!rc)
    rc = exec_dev(s, TK__ST_ACCESS_DROP, "DELETE FROM access WHERE device = ?1", id, 0,
                  "removing access", err);
  return tk__write_end(s, rc, err);
}

int tk_store_access_get(tk_store_t *s, const uint8_t device[TK_DEVICE_ID_LEN],
                        const char *vault, int *mode, tk_err_t *err)
{
  sqlite3_stmt *st;
  *mode = TK_ACCESS_NONE;
  int rc = tk__stmt_get(s, TK__ST_ACCESS_GET,
                        "SELECT a.write FROM access a JOIN devices d ON d.id = a.device "
                        "WHERE a.device = ?1 AND a.vault = ?2 AND d.revoked = 0",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, device, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 2, vault, -1, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    *mode = sqlite3_column_int(st, 0) ? TK_ACCESS_WRITE : TK_ACCESS_READ;
  else if (src != SQLITE_DONE)
    rc = tk__store_fail(s, src, "reading access", err);
  tk__stmt_put(s, TK__ST_ACCESS_GET, st);
  return rc;
}

int tk_store_access_list(tk_store_t *s, const uint8_t device[TK_DEVICE_ID_LEN],
                         int (*cb)(void *ctx, const char *vault, int write), void *ctx,
                         tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(
      s, TK__ST_ACCESS_LIST,
      "SELECT a.vault, a.write FROM access a JOIN devices d ON d.id = a.device "
      "WHERE a.device = ?1 AND d.revoked = 0 ORDER BY a.vault",
      &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, device, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "listing access", err);
      break;
    }
    char vault[TK_MAX_VAULT_LEN + 1];
    if (tk__col_text(st, 0, vault, sizeof vault)) {
      rc = tk__store_corrupt(s, "an access row", err);
      break;
    }
    rc = cb(ctx, vault, sqlite3_column_int(st, 1));
    if (rc) break;
  }
  tk__stmt_put(s, TK__ST_ACCESS_LIST, st);
  return rc;
}

/* Walks an access spec; each entry goes to fn (may be NULL). */
static int walk_spec(const char *spec, int (*fn)(void *ctx, const char *vault, int write),
                     void *ctx, tk_err_t *err)
{
  char buf[512];
  if (strlen(spec) >= sizeof buf)
    return tk_err_set(err, TK_ELIMIT, "access list is longer than %zu characters",
                      sizeof buf - 1);
  snprintf(buf, sizeof buf, "%s", spec);
  char *save = NULL;
  for (char *e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
    int write = 0;
    char *colon = strchr(e, ':');
    if (colon) {
      if (strcmp(colon, ":rw") == 0)
        write = 1;
      else if (strcmp(colon, ":r") != 0)
        return tk_err_set(err, TK_EINVAL, "access '%s': the mode must be :r or :rw", e);
      *colon = '\0';
    }
    int rc = tk_name_check("vault", e, TK_MAX_VAULT_LEN, 1, err);
    if (!rc && fn) rc = fn(ctx, e, write);
    if (rc) return rc;
  }
  return 0;
}

int tk_access_spec_check(const char *spec, tk_err_t *err)
{
  return walk_spec(spec, NULL, NULL, err);
}

typedef struct grant_ctx {
  tk_store_t *s;
  const uint8_t *device;
  tk_err_t *err;
} grant_ctx_t;

static int set_access(void *ctx, const char *vault, int write)
{
  grant_ctx_t *g = ctx;
  sqlite3_stmt *st;
  int rc = tk__stmt_get(g->s, TK__ST_ACCESS_SET,
                        "INSERT INTO access(device, vault, write) VALUES(?1, ?2, ?3) "
                        "ON CONFLICT(device, vault) DO UPDATE SET write = excluded.write",
                        &st, g->err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, g->device, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 2, vault, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int(st, 3, write));
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = tk__store_fail(g->s, src, "storing access", g->err);
  tk__stmt_put(g->s, TK__ST_ACCESS_SET, st);
  return rc;
}

int tk_store_token_add(tk_store_t *s, const tk_token_info_t *t,
                       const uint8_t secret_hash[32], tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = tk_access_spec_check(t->access, err);
  if (rc) return rc;
  rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = tk__stmt_get(s, TK__ST_TOKEN_ADD,
                    "INSERT INTO tokens(id, secret_hash, name, access, created, expires) "
                    "VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                    &st, err);
  if (rc) goto done;
  TK__BIND(sqlite3_bind_blob(st, 1, t->id, 16, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 2, secret_hash, 32, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 3, t->name, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 4, t->access, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 5, t->created));
  TK__BIND(sqlite3_bind_int64(st, 6, t->expires));
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = tk__store_fail(s, src, "storing a token", err);
done:
  tk__stmt_put(s, TK__ST_TOKEN_ADD, st);
  return tk__write_end(s, rc, err);
}

static int read_token(tk_store_t *s, sqlite3_stmt *st, tk_token_info_t *t, uint8_t *hash,
                      tk_err_t *err)
{
  memset(t, 0, sizeof *t);
  if (tk__col_blob(st, 0, t->id, 16) || tk__col_text(st, 1, t->name, sizeof t->name) ||
      tk__col_text(st, 2, t->access, sizeof t->access) ||
      (hash && tk__col_blob(st, 6, hash, 32)))
    return tk__store_corrupt(s, "a token row", err);
  t->created = sqlite3_column_int64(st, 3);
  t->expires = sqlite3_column_int64(st, 4);
  t->used = sqlite3_column_int(st, 5);
  return 0;
}

int tk_store_tokens(tk_store_t *s, int (*cb)(void *ctx, const tk_token_info_t *t),
                    void *ctx, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_TOKENS,
                        "SELECT id, name, access, created, expires, used FROM tokens "
                        "ORDER BY created, id",
                        &st, err);
  if (rc) return rc;
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "listing tokens", err);
      break;
    }
    tk_token_info_t t;
    rc = read_token(s, st, &t, NULL, err);
    if (!rc) rc = cb(ctx, &t);
    if (rc) break;
  }
  tk__stmt_put(s, TK__ST_TOKENS, st);
  return rc;
}

int tk_store_token_redeem(tk_store_t *s, const uint8_t token_id[16],
                          const uint8_t secret[32], int64_t now, tk_device_info_t *dev,
                          tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  tk_token_info_t t;
  uint8_t want[32], got[32];
  int found = 0;
  /* tk_store_begin (not tk__write_begin): device_put below nests in it */
  int rc = tk_store_begin(s, err);
  if (rc) return rc;
  rc = tk__stmt_get(s, TK__ST_TOKEN_GET,
                    "SELECT id, name, access, created, expires, used, secret_hash "
                    "FROM tokens WHERE id = ?1",
                    &st, err);
  if (rc) goto done;
  TK__BIND(sqlite3_bind_blob(st, 1, token_id, 16, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    rc = read_token(s, st, &t, want, err);
    found = 1;
  } else if (src != SQLITE_DONE) {
    rc = tk__store_fail(s, src, "reading a token", err);
  }
  tk__stmt_put(s, TK__ST_TOKEN_GET, st);
  st = NULL;
  if (rc) goto done;
  tk_sha256(got, secret, 32);
  if (!found || !tk_ct_equal(want, got, sizeof got)) {
    rc = tk_err_set(err, TK_EACCESS, "unknown enrollment token");
    goto done;
  }
  if (t.used) {
    /* No token name (the admin-given device name): this goes to the
     * device and into the hub's info log. */
    rc = tk_err_set(err, TK_EACCESS, "this enrollment token was already used");
    goto done;
  }
  if (now > t.expires) {
    rc = tk_err_set(err, TK_EACCESS, "this enrollment token has expired");
    goto done;
  }
  tk_device_info_t existing;
  if (tk_store_device_get(s, dev->id, &existing, NULL) == 0) {
    rc = tk_err_set(err, TK_EACCESS, "device is already known to this hub%s",
                    existing.revoked ? " (revoked)" : "");
    goto done;
  }
  snprintf(dev->name, sizeof dev->name, "%s", t.name);
  dev->added = now;
  dev->revoked = 0;
  rc = tk_store_device_put(s, dev, err);
  if (rc) goto done;
  grant_ctx_t g = {s, dev->id, err};
  rc = walk_spec(t.access, set_access, &g, err);
  if (rc) goto done;
  rc = tk__stmt_get(s, TK__ST_TOKEN_USE,
                    "UPDATE tokens SET used = 1, device = ?2 WHERE id = ?1", &st, err);
  if (rc) goto done;
  TK__BIND(sqlite3_bind_blob(st, 1, token_id, 16, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 2, dev->id, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = tk__store_fail(s, src, "marking a token used", err);
done:
  tk__stmt_put(s, TK__ST_TOKEN_USE, st);
  if (rc) {
    tk_store_rollback(s);
    return rc;
  }
  return tk_store_commit(s, err);
}

int tk_store_grant_put(tk_store_t *s, const char *vault,
                       const uint8_t key_id[TK_KEY_ID_LEN],
                       const uint8_t recipient[TK_DEVICE_ID_LEN],
                       const uint8_t granter[TK_DEVICE_ID_LEN], tk_slice_t body,
                       tk_slice_t sig, tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = tk__stmt_get(
      s, TK__ST_GRANT_PUT,
      "INSERT INTO grants(vault, key_id, recipient, granter, body, sig, created) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, strftime('%s','now')) "
      "ON CONFLICT(recipient, vault, key_id) DO UPDATE SET "
      "granter = excluded.granter, body = excluded.body, sig = excluded.sig, "
      "created = excluded.created",
      &st, err);
  if (rc) goto done;
  TK__BIND(sqlite3_bind_text(st, 1, vault, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 2, key_id, TK_KEY_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 3, recipient, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 4, granter, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 5, body.p, (int)body.n, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 6, sig.p, (int)sig.n, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = tk__store_fail(s, src, "storing a grant", err);
done:
  tk__stmt_put(s, TK__ST_GRANT_PUT, st);
  return tk__write_end(s, rc, err);
}

int tk_store_grants_for(tk_store_t *s, const uint8_t recipient[TK_DEVICE_ID_LEN],
                        size_t max, int (*cb)(void *ctx, tk_slice_t body, tk_slice_t sig),
                        void *ctx, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_GRANTS_FOR,
                        "SELECT body, sig FROM grants WHERE recipient = ?1 "
                        "ORDER BY created DESC LIMIT ?2",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, recipient, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 2, (sqlite3_int64)max));
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "listing grants", err);
      break;
    }
    tk_slice_t body = {sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0)};
    tk_slice_t sig = {sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1)};
    rc = cb(ctx, body, sig);
    if (rc) break;
  }
  tk__stmt_put(s, TK__ST_GRANTS_FOR, st);
  return rc;
}

/* ---- quarantine --------------------------------------------------------------- */

int tk_store_quarantine_put(tk_store_t *s, const tk_rev_t *rev,
                            const uint8_t sender[TK_DEVICE_ID_LEN], const char *reason,
                            tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = tk__stmt_get(
      s, TK__ST_QUAR_PUT,
      "INSERT INTO quarantine(id, bytes, record_id, vault, type, author, sender, "
      "reason, received) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
      "strftime('%s','now')) ON CONFLICT(id) DO NOTHING",
      &st, err);
  if (rc) goto done;
  TK__BIND(sqlite3_bind_blob(st, 1, rev->id, TK_REV_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 2, rev->bytes.p, (int)rev->bytes.n, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 3, rev->record_id, TK_RECORD_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 4, rev->vault, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 5, rev->type, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 6, rev->author, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 7, sender, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 8, reason, -1, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = tk__store_fail(s, src, "quarantining a revision", err);
done:
  tk__stmt_put(s, TK__ST_QUAR_PUT, st);
  return tk__write_end(s, rc, err);
}

int tk_store_quarantine_list(tk_store_t *s,
                             int (*cb)(void *ctx, const tk_quarantine_info_t *q),
                             void *ctx, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_QUAR_LIST,
                        "SELECT bytes, sender, reason, received, kind FROM quarantine "
                        "ORDER BY received, id",
                        &st, err);
  if (rc) return rc;
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "listing the quarantine", err);
      break;
    }
    tk_quarantine_info_t q;
    tk_rev_t rev;
    memset(&q, 0, sizeof q);
    tk_slice_t bytes = {sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0)};
    if (tk_rev_parse(&rev, bytes, NULL) != 0 ||
        tk__col_blob(st, 1, q.sender, TK_DEVICE_ID_LEN) ||
        tk__col_text(st, 2, q.reason, sizeof q.reason)) {
      rc = tk__store_corrupt(s, "a quarantined revision", err);
      break;
    }
    memcpy(q.meta.id, rev.id, TK_REV_ID_LEN);
    memcpy(q.meta.record_id, rev.record_id, TK_RECORD_ID_LEN);
    memcpy(q.meta.author, rev.author, TK_DEVICE_ID_LEN);
    q.meta.hlc = rev.hlc;
    q.meta.generation = rev.generation;
    q.meta.size = (uint32_t)rev.bytes.n;
    snprintf(q.meta.type, sizeof q.meta.type, "%s", rev.type);
    snprintf(q.meta.vault, sizeof q.meta.vault, "%s", rev.vault);
    q.meta.nparents = rev.nparents;
    memcpy(q.meta.parents, rev.parents, (size_t)rev.nparents * TK_REV_ID_LEN);
    q.received = sqlite3_column_int64(st, 3);
    q.refused = sqlite3_column_int(st, 4) == 1;
    rc = cb(ctx, &q);
    if (rc) break;
  }
  tk__stmt_put(s, TK__ST_QUAR_LIST, st);
  return rc;
}

int tk_store_quarantine_get(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN], tk_buf_t *out,
                            tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_QUAR_GET, "SELECT bytes FROM quarantine WHERE id = ?1",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, id, TK_REV_ID_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    rc = tk_buf_append(out, sqlite3_column_blob(st, 0),
                       (size_t)sqlite3_column_bytes(st, 0));
  else if (src == SQLITE_DONE)
    rc = tk_err_set(err, TK_ENOTFOUND, "no such revision in quarantine");
  else
    rc = tk__store_fail(s, src, "reading the quarantine", err);
  tk__stmt_put(s, TK__ST_QUAR_GET, st);
  return rc;
}

int tk_store_quarantine_del(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN], tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = tk__stmt_get(s, TK__ST_QUAR_DEL, "DELETE FROM quarantine WHERE id = ?1", &st, err);
  if (rc) goto done;
  TK__BIND(sqlite3_bind_blob(st, 1, id, TK_REV_ID_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE)
    rc = tk__store_fail(s, src, "removing from the quarantine", err);
  else if (sqlite3_changes(s->db) == 0)
    rc = tk_err_set(err, TK_ENOTFOUND, "no such revision in quarantine");
done:
  tk__stmt_put(s, TK__ST_QUAR_DEL, st);
  return tk__write_end(s, rc, err);
}

typedef struct quar_find {
  const char *want;
  uint8_t *id;
  int matches;
} quar_find_t;

static int quar_match(void *ctx, const tk_quarantine_info_t *q)
{
  quar_find_t *f = ctx;
  char hex[2 * TK_REV_ID_LEN + 1];
  tk_hex_encode(hex, q->meta.id, TK_REV_ID_LEN);
  if (strncasecmp(hex, f->want, strlen(f->want)) == 0) {
    memcpy(f->id, q->meta.id, TK_REV_ID_LEN);
    f->matches++;
  }
  return 0;
}

int tk_store_quarantine_find(tk_store_t *s, const char *hex, uint8_t id[TK_REV_ID_LEN],
                             tk_err_t *err)
{
  size_t n = strlen(hex);
  if (n < 4 || n > 2 * TK_REV_ID_LEN || strspn(hex, "0123456789abcdefABCDEF") != n)
    return tk_err_set(err, TK_EINVAL,
                      "give 4 to 64 hex digits of the revision id, not '%s'", hex);
  quar_find_t f = {hex, id, 0};
  int rc = tk_store_quarantine_list(s, quar_match, &f, err);
  if (rc) return rc;
  if (f.matches == 0)
    return tk_err_set(err, TK_ENOTFOUND, "no revision '%s' in quarantine", hex);
  if (f.matches > 1)
    return tk_err_set(err, TK_EAMBIG, "more than one revision '%s' in quarantine", hex);
  return 0;
}

int tk_store_quarantine_release(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN],
                                tk_err_t *err)
{
  tk_buf_t bytes = TK_BUF_INIT;
  tk_rev_t rev;
  tk_err_t e;
  char hex[2 * TK_REV_ID_LEN + 1];
  tk_hex_encode(hex, id, TK_REV_ID_LEN);
  if (tk_store_refused_has(s, id) == 1)
    return tk_err_set(
        err, TK_EACCESS,
        "%.16s is kept as evidence: the vault's membership log does not let "
        "it count, and it cannot be released by hand",
        hex);
  int rc = tk_store_begin(s, err);
  if (rc) return rc;
  rc = tk_store_quarantine_get(s, id, &bytes, err);
  if (!rc) rc = tk_rev_parse(&rev, TK_SLICE(bytes.p, bytes.n), err);
  if (!rc) rc = tk_rev_check_id(&rev, id, err);
  if (!rc) rc = tk_rev_verify_sig(&rev, err);
  if (!rc) {
    rc = tk_store_put_rev(s, &rev, NULL, &e);
    if (rc == TK_EEXIST) rc = 0;
    if (rc == TK_EPARENT)
      tk_err_set(err, rc, "cannot release %.16s: %s (release its parent first)", hex,
                 e.msg);
    else if (rc && err)
      *err = e;
  }
  if (!rc) rc = tk_store_quarantine_del(s, id, err);
  tk_buf_free(&bytes);
  if (rc) {
    tk_store_rollback(s);
    return rc;
  }
  return tk_store_commit(s, err);
}
