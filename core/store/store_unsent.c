/*
 * store_unsent.c: an office's own revisions its hub has not taken
 * (tk_store.h, "what has not reached the hub"): the table unsent, one row
 * per revision with the hub that refused it (or held it, or that this
 * device may not write to), the reason and the sync run that last said
 * so. The office's sync re-offers the rows and clears those a run found at
 * the hub; `tunduk status` lists them. These run seldom (once per refused
 * revision or sync), so their statements are prepared per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_internal.h"

static int prepare(tk_store_t *s, const char *sql, sqlite3_stmt **st, tk_err_t *err)
{
  int src = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
  return src == SQLITE_OK ? 0 : tk__store_fail(s, src, "preparing a statement", err);
}

/* Steps a statement that returns no rows and finalizes it. */
static int run_once(tk_store_t *s, sqlite3_stmt *st, const char *what, tk_err_t *err)
{
  int src = sqlite3_step(st);
  sqlite3_finalize(st);
  return src == SQLITE_DONE ? 0 : tk__store_fail(s, src, what, err);
}

int tk_store_unsent_put(tk_store_t *s, const uint8_t hub[TK_DEVICE_ID_LEN],
                        const tk_rev_meta_t *m, int kind, int code, const char *reason,
                        uint64_t run, tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  char why[320];
  if (kind < TK_UNSENT_REFUSED || kind > TK_UNSENT_HELD || m->seq > INT64_MAX)
    return tk_err_set(err, TK_EINVAL, "store %s: unsent entry kind %d seq %llu", s->path,
                      kind, (unsigned long long)m->seq);
  snprintf(why, sizeof why, "%s", reason ? reason : "");
  int rc =
      prepare(s,
              "INSERT INTO unsent(id, hub, seq, record_id, vault, kind, code, reason,"
              "  at, run) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
              " ON CONFLICT(id) DO UPDATE SET hub = ?2, seq = ?3, kind = ?6,"
              "  code = ?7, reason = ?8, at = ?9, run = ?10",
              &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, m->id, TK_REV_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 2, hub, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 3, (sqlite3_int64)m->seq));
  TK__BIND(sqlite3_bind_blob(st, 4, m->record_id, TK_RECORD_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 5, m->vault, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int(st, 6, kind));
  TK__BIND(sqlite3_bind_int(st, 7, code));
  TK__BIND(sqlite3_bind_text(st, 8, why, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 9, (sqlite3_int64)time(NULL)));
  TK__BIND(sqlite3_bind_int64(st, 10, (sqlite3_int64)(run & INT64_MAX)));
  return run_once(s, st, "keeping an unsent revision", err);
}

int tk_store_unsent_list(tk_store_t *s, const uint8_t *hub, unsigned kinds, size_t max,
                         int (*cb)(void *ctx, const tk_unsent_info_t *u), void *ctx,
                         tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = prepare(s,
                   "SELECT id, hub, seq, record_id, vault, kind, code, reason, at"
                   " FROM unsent WHERE (?1 IS NULL OR hub = ?1)"
                   " AND (?2 = 0 OR ((1 << kind) & ?2) != 0) ORDER BY seq LIMIT ?3",
                   &st, err);
  if (rc) return rc;
  if (hub)
    TK__BIND(sqlite3_bind_blob(st, 1, hub, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  else
    TK__BIND(sqlite3_bind_null(st, 1));
  TK__BIND(sqlite3_bind_int64(st, 2, kinds));
  TK__BIND(sqlite3_bind_int64(st, 3, max ? (sqlite3_int64)max : -1));
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    tk_unsent_info_t u;
    memset(&u, 0, sizeof u);
    if (tk__col_blob(st, 0, u.id, TK_REV_ID_LEN) ||
        tk__col_blob(st, 1, u.hub, TK_DEVICE_ID_LEN) ||
        tk__col_blob(st, 3, u.record_id, TK_RECORD_ID_LEN) ||
        tk__col_text(st, 4, u.vault, sizeof u.vault) ||
        tk__col_text(st, 7, u.reason, sizeof u.reason) ||
        sqlite3_column_int64(st, 2) < 0) {
      rc = tk__store_corrupt(s, "an unsent revision entry", err);
      break;
    }
    u.seq = (uint64_t)sqlite3_column_int64(st, 2);
    u.kind = sqlite3_column_int(st, 5);
    u.code = sqlite3_column_int(st, 6);
    u.at = sqlite3_column_int64(st, 8);
    if ((rc = cb(ctx, &u)) != 0) break;
  }
  if (!rc && src != SQLITE_DONE && src != SQLITE_ROW)
    rc = tk__store_fail(s, src, "listing unsent revisions", err);
  sqlite3_finalize(st);
  return rc > 0 ? 0 : rc;
}

int tk_store_unsent_clear(tk_store_t *s, const uint8_t hub[TK_DEVICE_ID_LEN],
                          unsigned kinds, uint64_t run, uint64_t upto, tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = prepare(s,
                   "DELETE FROM unsent WHERE hub = ?1 AND run != ?2 AND seq <= ?3"
                   " AND ((1 << kind) & ?4) != 0",
                   &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, hub, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 2, (sqlite3_int64)(run & INT64_MAX)));
  TK__BIND(sqlite3_bind_int64(st, 3, upto > INT64_MAX ? INT64_MAX : (sqlite3_int64)upto));
  TK__BIND(sqlite3_bind_int64(st, 4, kinds));
  return run_once(s, st, "clearing unsent revisions", err);
}

int tk_store_peer_forget(tk_store_t *s, const uint8_t peer[TK_DEVICE_ID_LEN],
                         tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = prepare(s, "DELETE FROM checkpoints WHERE peer = ?1", &st, err);
  if (!rc) {
    TK__BIND(sqlite3_bind_blob(st, 1, peer, TK_DEVICE_ID_LEN, SQLITE_STATIC));
    rc = run_once(s, st, "dropping a peer's checkpoints", err);
  }
  if (!rc) rc = prepare(s, "DELETE FROM unsent WHERE hub = ?1", &st, err);
  if (!rc) {
    TK__BIND(sqlite3_bind_blob(st, 1, peer, TK_DEVICE_ID_LEN, SQLITE_STATIC));
    rc = run_once(s, st, "dropping a peer's unsent entries", err);
  }
  return tk__write_end(s, rc, err);
}

static const char *const status_sql[] = {
    "SELECT vault, count(*) FROM revisions GROUP BY vault",
    "SELECT vault, count(*) FROM revisions WHERE seq > ?1"
    " AND (origin IS NULL OR origin != ?2) GROUP BY vault",
    "SELECT r.vault, count(DISTINCT cr.chunk) FROM chunk_refs cr"
    " JOIN revisions r ON r.id = cr.rev_id"
    " WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.id = cr.chunk) GROUP BY r.vault",
    "SELECT r.vault, count(DISTINCT c.id) FROM chunks c"
    " JOIN chunk_refs cr ON cr.chunk = c.id JOIN revisions r ON r.id = cr.rev_id"
    " WHERE c.seq > ?1 AND (c.origin IS NULL OR c.origin != ?2) GROUP BY r.vault",
};

int tk_store_status_counts(tk_store_t *s, const uint8_t hub[TK_DEVICE_ID_LEN],
                           uint64_t rev_since, uint64_t chunk_since,
                           int (*cb)(void *ctx, const char *vault, int what, uint64_t n),
                           void *ctx, tk_err_t *err)
{
  int rc = 0;
  for (int what = TK_STATUS_REVISIONS; !rc && what <= TK_STATUS_CHUNKS_UNPUSHED; what++) {
    sqlite3_stmt *st = NULL;
    rc = prepare(s, status_sql[what], &st, err);
    if (rc) break;
    uint64_t since = what == TK_STATUS_UNPUSHED ? rev_since : chunk_since;
    if (what == TK_STATUS_UNPUSHED || what == TK_STATUS_CHUNKS_UNPUSHED) {
      TK__BIND(sqlite3_bind_int64(st, 1,
                                  since > INT64_MAX ? INT64_MAX : (sqlite3_int64)since));
      TK__BIND(sqlite3_bind_blob(st, 2, hub, TK_DEVICE_ID_LEN, SQLITE_STATIC));
    }
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
      char vault[TK_MAX_VAULT_LEN + 1];
      if (tk__col_text(st, 0, vault, sizeof vault) || sqlite3_column_int64(st, 1) < 0) {
        rc = tk__store_corrupt(s, "a vault's counts", err);
        break;
      }
      if ((rc = cb(ctx, vault, what, (uint64_t)sqlite3_column_int64(st, 1))) != 0) break;
    }
    if (!rc && src != SQLITE_DONE && src != SQLITE_ROW)
      rc = tk__store_fail(s, src, "counting what has not reached the hub", err);
    sqlite3_finalize(st);
  }
  return rc;
}

int tk_store_unsent_records(tk_store_t *s, const uint8_t hub[TK_DEVICE_ID_LEN],
                            uint64_t rev_since,
                            int (*cb)(void *ctx, const uint8_t record[TK_RECORD_ID_LEN]),
                            void *ctx, tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = prepare(s,
                   "SELECT record_id FROM revisions WHERE seq > ?1"
                   " AND (origin IS NULL OR origin != ?2)"
                   " UNION SELECT record_id FROM unsent WHERE hub = ?2",
                   &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_int64(
      st, 1, rev_since > INT64_MAX ? INT64_MAX : (sqlite3_int64)rev_since));
  TK__BIND(sqlite3_bind_blob(st, 2, hub, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  int src;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    if (sqlite3_column_bytes(st, 0) != TK_RECORD_ID_LEN) {
      rc = tk__store_corrupt(s, "a record id", err);
      break;
    }
    if ((rc = cb(ctx, sqlite3_column_blob(st, 0))) != 0) break;
  }
  if (!rc && src != SQLITE_DONE && src != SQLITE_ROW)
    rc = tk__store_fail(s, src, "listing the records not at the hub", err);
  sqlite3_finalize(st);
  return rc;
}

int tk_store_rev_local(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN])
{
  sqlite3_stmt *st = NULL;
  if (tk__stmt_get(s, TK__ST_REV_LOCAL,
                   "SELECT 1 FROM revisions WHERE id = ?1 AND origin IS NULL", &st, NULL))
    return 0;
  TK__BIND(sqlite3_bind_blob(st, 1, id, TK_REV_ID_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  tk__stmt_put(s, TK__ST_REV_LOCAL, st);
  return src == SQLITE_ROW;
}
