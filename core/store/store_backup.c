/*
 * store_backup.c: copies of the store while it is in use (tk_store.h,
 * tk_store_backup), the copy taken before a schema migration
 * (tk__store_copy_before_migrate, store.c), and the counts a backup's
 * manifest records (tk_store_counts).
 *
 * A copy is sqlite's online backup in ONE step: the whole file is read in a
 * single read transaction, which in WAL mode never blocks a writer (the
 * hub's store thread goes on committing into the WAL meanwhile), and sees
 * one commit's state of every table, attachment chunks included: they live
 * in the same file, so store and chunks are consistent with each other by
 * construction. Copying in small steps instead would restart the copy
 * every time another connection commits, which under load may be always.
 * The copy is a single file in rollback-journal mode (no -wal beside it),
 * mode 0600, synced before it is reported written.
 *
 * Threads: as tk_store.h; one thread at a time per store.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_internal.h"

/* One count (SELECT count(*) or sum(...)) into *out; an sqlite code. */
static int count_one(sqlite3 *db, const char *sql, uint64_t *out)
{
  sqlite3_stmt *st = NULL;
  int src = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (src == SQLITE_OK) src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    *out = v > 0 ? (uint64_t)v : 0;
    src = SQLITE_OK;
  }
  sqlite3_finalize(st);
  return src;
}

/* The counts of db, in one read transaction: the counts of one state. */
static int count_db(sqlite3 *db, tk_store_counts_t *c)
{
  uint64_t schema = 0;
  memset(c, 0, sizeof *c);
  int src = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
  if (src == SQLITE_OK) src = count_one(db, "PRAGMA user_version", &schema);
  if (src == SQLITE_OK)
    src = count_one(db, "SELECT count(*) FROM revisions", &c->revisions);
  if (src == SQLITE_OK) src = count_one(db, "SELECT count(*) FROM records", &c->records);
  if (src == SQLITE_OK) src = count_one(db, "SELECT count(*) FROM chunks", &c->chunks);
  if (src == SQLITE_OK)
    src = count_one(db, "SELECT total(length(data)) FROM chunks", &c->chunk_bytes);
  if (src == SQLITE_OK) src = count_one(db, "SELECT count(*) FROM devices", &c->devices);
  if (src == SQLITE_OK)
    src = count_one(db, "SELECT count(*) FROM quarantine", &c->quarantined);
  if (src == SQLITE_OK)
    src = count_one(db, "SELECT coalesce(max(seq), 0) FROM revisions", &c->feed_end);
  if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  c->schema = (int)schema;
  return src;
}

/* Copies db into the new file path (which must not exist). */
static int copy_db(sqlite3 *db, const char *from, const char *path, tk_store_counts_t *c,
                   tk_err_t *err)
{
  sqlite3 *to = NULL;
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return tk_err_set(err, TK_EEXIST, "%s exists; a backup goes to a new file", path);
    return tk_err_set(err, TK_EIO, "cannot create %s: %s", path, strerror(errno));
  }
  close(fd);
  int src = sqlite3_open_v2(path, &to, SQLITE_OPEN_READWRITE, NULL);
  sqlite3_backup *b =
      src == SQLITE_OK ? sqlite3_backup_init(to, "main", db, "main") : NULL;
  if (b) {
    /* -1: every page in one read transaction (see above); BUSY only while
     * a writer holds an exclusive lock for a checkpoint's moment */
    for (int tries = 0; tries < 500; tries++) {
      src = sqlite3_backup_step(b, -1);
      if (src != SQLITE_BUSY && src != SQLITE_LOCKED) break;
      sqlite3_sleep(10);
    }
    sqlite3_backup_finish(b);
  } else if (src == SQLITE_OK) {
    src = sqlite3_errcode(to);
  }
  int rc = 0;
  if (src != SQLITE_DONE)
    rc = tk_err_set(err, TK_EIO, "backup of store %s to %s failed: %s", from, path,
                    to ? sqlite3_errmsg(to) : sqlite3_errstr(src));
  /* a file that stands alone: its content in the file, not in a -wal */
  if (!rc &&
      sqlite3_exec(to, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK)
    rc = tk_err_set(err, TK_EIO, "backup %s: cannot leave WAL mode: %s", path,
                    sqlite3_errmsg(to));
  /* the copy's own counts, for a manifest to hold */
  if (!rc && c && (src = count_db(to, c)) != SQLITE_OK)
    rc = tk_err_set(err, TK_EIO, "backup %s: cannot count what it holds: %s", path,
                    sqlite3_errstr(src));
  sqlite3_close(to);
  if (!rc) {
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0)
      rc = tk_err_set(err, TK_EIO, "cannot sync backup %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
  }
  if (rc) unlink(path);
  return rc;
}

int tk_store_backup(tk_store_t *s, const char *path, tk_store_counts_t *counts,
                    tk_err_t *err)
{
  return copy_db(s->db, s->path, path, counts, err);
}

int tk_store_counts(tk_store_t *s, tk_store_counts_t *c, tk_err_t *err)
{
  int src = count_db(s->db, c);
  return src == SQLITE_OK ? 0 : tk__store_fail(s, src, "counting what it holds", err);
}

int tk__store_copy_before_migrate(tk_store_t *s, int from, int to, char *out, size_t cap,
                                  tk_err_t *err)
{
  /* a copy left by an earlier upgrade is kept: the next free name */
  for (int k = 0; k < 100; k++) {
    int n = k ? snprintf(out, cap, "%s.before-schema-%d.%d", s->path, to, k)
              : snprintf(out, cap, "%s.before-schema-%d", s->path, to);
    if (n < 0 || (size_t)n >= cap)
      return tk_err_set(err, TK_ELIMIT, "store path is too long: %s", s->path);
    if (access(out, F_OK) == 0) continue;
    int rc = copy_db(s->db, s->path, out, NULL, err);
    if (rc == TK_EEXIST) continue;
    if (rc)
      return tk_err_set(err, rc,
                        "store %s: schema %d -> %d not started, the copy of the store "
                        "taken first failed (%s)",
                        s->path, from, to, err ? err->msg : "");
    return 0;
  }
  return tk_err_set(err, TK_EEXIST,
                    "store %s: 100 copies of earlier upgrades are kept "
                    "beside it; remove old %s.before-schema-* files",
                    s->path, s->path);
}
