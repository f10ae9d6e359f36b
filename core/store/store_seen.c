/*
 * store_seen.c: what a hub's status report reads from its store: when
 * each device was last seen (schema 10: devices.last_seen, written by the
 * running hub on its store thread, in one transaction for every device
 * seen since the last write) and the store's sizes (files, revisions,
 * chunks, quarantine). Nothing here reads a revision's or a chunk's bytes.
 * One thread at a time per store, like the rest of the store.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store_internal.h"

int tk_store_device_seen(tk_store_t *s, const uint8_t id[TK_DEVICE_ID_LEN], int64_t when,
                         tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = tk__stmt_get(s, TK__ST_DEV_SEEN,
                    "UPDATE devices SET last_seen = ?2 WHERE id = ?1 AND "
                    "(last_seen IS NULL OR last_seen < ?2)",
                    &st, err);
  if (!rc) {
    TK__BIND(sqlite3_bind_blob(st, 1, id, TK_DEVICE_ID_LEN, SQLITE_STATIC));
    TK__BIND(sqlite3_bind_int64(st, 2, when));
    int src = sqlite3_step(st);
    if (src != SQLITE_DONE)
      rc = tk__store_fail(s, src, "noting when a device was seen", err);
    tk__stmt_put(s, TK__ST_DEV_SEEN, st);
  }
  return tk__write_end(s, rc, err);
}

int tk_store_devices_seen(tk_store_t *s,
                          int (*cb)(void *ctx, const uint8_t id[TK_DEVICE_ID_LEN],
                                    int64_t last_seen),
                          void *ctx, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(
      s, TK__ST_DEVS_SEEN,
      "SELECT id, coalesce(last_seen, 0) FROM devices ORDER BY added, id", &st, err);
  if (rc) return rc;
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "reading when devices were seen", err);
      break;
    }
    uint8_t id[TK_DEVICE_ID_LEN];
    if (tk__col_blob(st, 0, id, TK_DEVICE_ID_LEN)) {
      rc = tk__store_corrupt(s, "a device row", err);
      break;
    }
    rc = cb(ctx, id, sqlite3_column_int64(st, 1));
    if (rc) break;
  }
  tk__stmt_put(s, TK__ST_DEVS_SEEN, st);
  return rc;
}

/* One count (or sum) a status report shows; not cached: asked rarely. */
static int count(tk_store_t *s, const char *sql, uint64_t *out, tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int src = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (src == SQLITE_OK) src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    *out = v > 0 ? (uint64_t)v : 0;
    src = SQLITE_OK;
  }
  sqlite3_finalize(st);
  return src == SQLITE_OK ? 0
                          : tk__store_fail(s, src, "counting for a status report", err);
}

static uint64_t file_size(const char *path)
{
  struct stat sb;
  return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

int tk_store_sizes(tk_store_t *s, tk_store_sizes_t *out, tk_err_t *err)
{
  char wal[4200];
  memset(out, 0, sizeof *out);
  out->file_bytes = file_size(s->path);
  if ((size_t)snprintf(wal, sizeof wal, "%s-wal", s->path) < sizeof wal)
    out->wal_bytes = file_size(wal);
  /* length() of a blob reads its size from the row header, not its pages */
  int rc = count(s, "SELECT count(*) FROM revisions", &out->revisions, err);
  if (!rc) rc = count(s, "SELECT count(*) FROM chunks", &out->chunks, err);
  if (!rc)
    rc = count(s, "SELECT coalesce(sum(length(data)), 0) FROM chunks", &out->chunk_bytes,
               err);
  if (!rc)
    rc = count(s, "SELECT count(*) FROM quarantine WHERE kind = 0", &out->quarantine_held,
               err);
  if (!rc)
    rc = count(s, "SELECT count(*) FROM quarantine WHERE kind != 0",
               &out->quarantine_refused, err);
  return rc;
}
