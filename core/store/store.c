/*
 * store.c: the local store's file, schema and transactions, and its small
 * tables: settings (meta) and the hybrid logical clock, sync checkpoints,
 * vaults, wrapped vault keys and devices. Revisions, heads, records and the
 * changes feed are in store_revs.c; what both share is store_internal.h.
 *
 * Invariants: the file is created with mode 0600 (sqlite gives its -wal and
 * -shm files the same mode); every connection runs in WAL mode with
 * synchronous=FULL, foreign keys on, temporary data in memory, secure
 * delete on and a 5 s busy timeout; PRAGMA user_version is the schema
 * version and is raised only by the migration list below, in one
 * transaction. Every public write runs in its own BEGIN IMMEDIATE
 * transaction or, when the caller holds one, in a savepoint inside it.
 *
 * Threads: one thread at a time per tk_store_t (the connection is opened
 * without sqlite's mutex).
 */
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 5000
#define MAX_META_KEY 128           /* bytes of a setting's name */
#define MAX_META_VALUE (64u << 10) /* bytes of a setting's value */

/* The page cache follows the store: a quarter of the file, within these
 * bounds (KiB). The random-key b-trees (revision ids, records and heads by
 * record id) are about that share of a store of 2 KB records; with sqlite's
 * default of 2 MiB they outgrow the cache at some 10k records, and from
 * there every batch re-reads their pages from the OS and spills dirty ones
 * to the WAL before its commit. sqlite allocates the cache as it is used. */
#define CACHE_MIN_KIB (16 << 10)
#define CACHE_MAX_KIB (256 << 10)
#define CACHE_CHECK_COMMITS 64 /* commits between two looks at the file size */
/* WAL pages before a checkpoint copies them into the file (sqlite: 1000):
 * an index page that every batch changes is copied once per checkpoint, so
 * a longer WAL copies it less often. After a checkpoint the WAL is written
 * again from its start, and cut back only beyond WAL_KEEP_BYTES (growing
 * the file again costs more than rewriting it). Durability is the WAL's with
 * synchronous=FULL either way. */
#define WAL_CHECKPOINT_PAGES 8192
#define WAL_KEEP_BYTES (96 << 20)

/* ---- schema ----------------------------------------------------------------
 * migrations[v] takes a store from schema version v to v + 1. Never edit a
 * step that has shipped; append a new one and raise TK_STORE_SCHEMA_VERSION.
 *
 * v1 keeps, next to the revisions, a denormalised records row per record
 * (winner, its generation and hlc, head count) maintained by every put, so
 * that listings are one indexed query instead of a scan of all heads.
 */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE revisions("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id BLOB NOT NULL UNIQUE CHECK(length(id) = 32),"
    "  record_id BLOB NOT NULL CHECK(length(record_id) = 16),"
    "  vault TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  author BLOB NOT NULL,"
    "  hlc INTEGER NOT NULL,"
    "  generation INTEGER NOT NULL CHECK(generation >= 1),"
    "  size INTEGER NOT NULL,"
    "  received INTEGER NOT NULL,"
    "  bytes BLOB NOT NULL);"
    "CREATE INDEX revisions_record ON revisions(record_id, seq);"
    "CREATE TABLE parents("
    "  rev_id BLOB NOT NULL REFERENCES revisions(id),"
    "  parent_id BLOB NOT NULL REFERENCES revisions(id),"
    "  PRIMARY KEY(rev_id, parent_id)) WITHOUT ROWID;"
    "CREATE INDEX parents_parent ON parents(parent_id);"
    "CREATE TABLE records("
    "  id BLOB PRIMARY KEY CHECK(length(id) = 16),"
    "  vault TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  created_hlc INTEGER NOT NULL,"
    "  winner BLOB NOT NULL,"
    "  winner_generation INTEGER NOT NULL,"
    "  winner_hlc INTEGER NOT NULL,"
    "  nheads INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX records_hlc ON records(winner_hlc);"
    "CREATE INDEX records_type ON records(type, winner_hlc);"
    "CREATE INDEX records_vault ON records(vault, winner_hlc);"
    "CREATE INDEX records_conflicts ON records(winner_hlc) WHERE nheads > 1;"
    "CREATE TABLE heads("
    "  record_id BLOB NOT NULL REFERENCES records(id),"
    "  rev_id BLOB NOT NULL REFERENCES revisions(id),"
    "  generation INTEGER NOT NULL,"
    "  PRIMARY KEY(record_id, rev_id)) WITHOUT ROWID;"
    "CREATE TABLE checkpoints("
    "  peer BLOB NOT NULL, dir INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  PRIMARY KEY(peer, dir)) WITHOUT ROWID;"
    "CREATE TABLE devices("
    "  id BLOB PRIMARY KEY, name TEXT NOT NULL, sign_pk BLOB NOT NULL,"
    "  kx_pk BLOB NOT NULL, added INTEGER NOT NULL, revoked INTEGER NOT NULL)"
    "  WITHOUT ROWID;"
    "CREATE TABLE vaults("
    "  name TEXT PRIMARY KEY, key_id BLOB NOT NULL, created INTEGER NOT NULL)"
    "  WITHOUT ROWID;"
    "CREATE TABLE wrapped_keys("
    "  vault TEXT NOT NULL, key_id BLOB NOT NULL, device BLOB NOT NULL,"
    "  sealed BLOB NOT NULL,"
    "  PRIMARY KEY(vault, key_id, device)) WITHOUT ROWID;"
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;",
    /* 1 -> 2: what a hub keeps about devices (their signed X25519 key,
     * access lists, enrollment tokens) and the vault key grants it relays. */
    "ALTER TABLE devices ADD COLUMN kx_sig BLOB;"
    "CREATE TABLE access("
    "  device BLOB NOT NULL, vault TEXT NOT NULL, write INTEGER NOT NULL,"
    "  PRIMARY KEY(device, vault)) WITHOUT ROWID;"
    "CREATE TABLE tokens("
    "  id BLOB PRIMARY KEY CHECK(length(id) = 16), secret_hash BLOB NOT NULL,"
    "  name TEXT NOT NULL, access TEXT NOT NULL, created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0, device BLOB)"
    "  WITHOUT ROWID;"
    "CREATE TABLE grants("
    "  vault TEXT NOT NULL, key_id BLOB NOT NULL, recipient BLOB NOT NULL,"
    "  granter BLOB NOT NULL, body BLOB NOT NULL, sig BLOB NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY(recipient, vault, key_id)) WITHOUT ROWID;",
    /* 2 -> 3: revisions a moderation rule held back, kept aside (not in the
     * changes feed) until an admin releases or drops them. */
    "CREATE TABLE quarantine("
    "  id BLOB PRIMARY KEY CHECK(length(id) = 32), bytes BLOB NOT NULL,"
    "  record_id BLOB NOT NULL, vault TEXT NOT NULL, type TEXT NOT NULL,"
    "  author BLOB NOT NULL, sender BLOB NOT NULL, reason TEXT NOT NULL,"
    "  received INTEGER NOT NULL) WITHOUT ROWID;",
    /* 3 -> 4: the peer a revision came from (NULL: written or released
     * here), so a push need not offer a peer what it sent us. */
    "ALTER TABLE revisions ADD COLUMN origin BLOB;",
    /* 4 -> 5: attachment chunks (ciphertext, addressed by its SHA-256, kept
     * once however many revisions name it) in their own changes feed, and
     * which revision names which chunk (from the signed header's refs). */
    "CREATE TABLE chunks("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id BLOB NOT NULL UNIQUE CHECK(length(id) = 32),"
    "  data BLOB NOT NULL, origin BLOB, received INTEGER NOT NULL);"
    "CREATE TABLE chunk_refs("
    "  rev_id BLOB NOT NULL, idx INTEGER NOT NULL, chunk BLOB NOT NULL,"
    "  PRIMARY KEY(rev_id, idx)) WITHOUT ROWID;"
    "CREATE INDEX chunk_refs_chunk ON chunk_refs(chunk);",
    /* 5 -> 6: vault membership logs (signed entries verbatim, in seq order),
     * and revisions kept aside because the log does not let them count
     * (quarantine kind 1: evidence, never released by hand). */
    "CREATE TABLE vault_log("
    "  vault TEXT NOT NULL, seq INTEGER NOT NULL, id BLOB NOT NULL,"
    "  body BLOB NOT NULL, sig BLOB NOT NULL,"
    "  PRIMARY KEY(vault, seq)) WITHOUT ROWID;"
    "ALTER TABLE quarantine ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;",
    /* 6 -> 7: records get an integer key in the order they are created, and
     * heads are kept by it, so a new record appends to both tables instead
     * of landing on a random page of each (record ids are random): a batch
     * then changes pages in proportion to its size, not to the store's.
     * Only the id index of records stays random, and it is small. heads
     * keeps record_id (not a key) for readers of the file. */
    "CREATE TABLE records_v7("
    "  n INTEGER PRIMARY KEY,"
    "  id BLOB NOT NULL UNIQUE CHECK(length(id) = 16),"
    "  vault TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  created_hlc INTEGER NOT NULL,"
    "  winner BLOB NOT NULL,"
    "  winner_generation INTEGER NOT NULL,"
    "  winner_hlc INTEGER NOT NULL,"
    "  nheads INTEGER NOT NULL);"
    "INSERT INTO records_v7(id, vault, type, created_hlc, winner, winner_generation,"
    "  winner_hlc, nheads)"
    "  SELECT id, vault, type, created_hlc, winner, winner_generation, winner_hlc, nheads"
    "  FROM records ORDER BY created_hlc, id;"
    "CREATE TABLE heads_v6 AS SELECT r.n AS rec, h.rev_id, h.generation, h.record_id"
    "  FROM heads h JOIN records_v7 r ON r.id = h.record_id;"
    "DROP TABLE heads;"
    "DROP TABLE records;"
    "ALTER TABLE records_v7 RENAME TO records;"
    "CREATE TABLE heads("
    "  rec INTEGER NOT NULL REFERENCES records(n),"
    "  rev_id BLOB NOT NULL REFERENCES revisions(id),"
    "  generation INTEGER NOT NULL,"
    "  record_id BLOB NOT NULL,"
    "  PRIMARY KEY(rec, rev_id)) WITHOUT ROWID;"
    "INSERT INTO heads(rec, rev_id, generation, record_id)"
    "  SELECT rec, rev_id, generation, record_id FROM heads_v6 ORDER BY rec, rev_id;"
    "DROP TABLE heads_v6;"
    "CREATE INDEX records_hlc ON records(winner_hlc, id);"
    "CREATE INDEX records_type ON records(type, winner_hlc, id);"
    "CREATE INDEX records_vault ON records(vault, winner_hlc, id);"
    "CREATE INDEX records_conflicts ON records(winner_hlc, id) WHERE nheads > 1;",
    /* 7 -> 8: revisions of this office that have not reached its hub
     * (store_unsent.c): refused by the hub, not sent for want of write
     * access, or held for review there, with the reason, the hub that said
     * so and the sync run that last said it; re-offered on every sync. */
    "CREATE TABLE unsent("
    "  id BLOB PRIMARY KEY CHECK(length(id) = 32),"
    "  hub BLOB NOT NULL, seq INTEGER NOT NULL,"
    "  record_id BLOB NOT NULL, vault TEXT NOT NULL,"
    "  kind INTEGER NOT NULL, code INTEGER NOT NULL, reason TEXT NOT NULL,"
    "  at INTEGER NOT NULL, run INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX unsent_hub ON unsent(hub, seq);",
    /* 8 -> 9: whether a head is a tombstone ("_deleted" in its body), which
     * the store cannot read from the ciphertext: the office sets it when it
     * writes a revision or decrypts a stored one (NULL: not known yet; an
     * office fills it in for the heads of records in conflict when
     * unlocked). A live head wins over a tombstone. */
    "ALTER TABLE heads ADD COLUMN deleted INTEGER CHECK(deleted IN (0, 1));",
    /* 9 -> 10: when a hub last saw each device (unix seconds; NULL: never
     * since this column came), for `tundukd status` (store_seen.c). */
    "ALTER TABLE devices ADD COLUMN last_seen INTEGER;",
};
_Static_assert(sizeof migrations / sizeof migrations[0] == TK_STORE_SCHEMA_VERSION,
               "one migration step per schema version");

/* ---- statements, errors, transactions (shared with store_revs.c) --------- */

int tk__stmt_get(tk_store_t *s, int slot, const char *sql, sqlite3_stmt **out,
                 tk_err_t *err)
{
  TK_ASSERT(slot >= 0 && slot < TK__ST_COUNT);
  sqlite3_stmt *cached = s->st[slot];
  *out = NULL;
  if (cached && !sqlite3_stmt_busy(cached)) {
    *out = cached;
    return 0;
  }
  sqlite3_stmt *fresh = NULL;
  int src = sqlite3_prepare_v3(s->db, sql, -1, cached ? 0 : SQLITE_PREPARE_PERSISTENT,
                               &fresh, NULL);
  if (src != SQLITE_OK) return tk__store_fail(s, src, "preparing a statement", err);
  if (!cached) s->st[slot] = fresh;
  *out = fresh;
  return 0;
}

void tk__stmt_put(tk_store_t *s, int slot, sqlite3_stmt *st)
{
  if (!st) return;
  if (st != s->st[slot]) {
    sqlite3_finalize(st);
    return;
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

int tk__store_fail(tk_store_t *s, int src, const char *what, tk_err_t *err)
{
  switch (src & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return tk_err_set(err, TK_EBUSY, "store %s is locked by another process (while %s)",
                      s->path, what);
  case SQLITE_NOMEM:
    return tk_err_set(err, TK_ENOMEM, "store %s: out of memory while %s", s->path, what);
  case SQLITE_IOERR:
  case SQLITE_FULL:
  case SQLITE_CANTOPEN:
    return tk_err_set(err, TK_EIO, "store %s: I/O error while %s: %s", s->path, what,
                      sqlite3_errmsg(s->db));
  default:
    return tk_err_set(err, TK_ESTORE, "store %s: %s failed: %s", s->path, what,
                      s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
  }
}

int tk__store_corrupt(tk_store_t *s, const char *what, tk_err_t *err)
{
  return tk_err_set(err, TK_ESTORE, "store %s is damaged: %s has an unexpected value",
                    s->path, what);
}

int tk__col_blob(sqlite3_stmt *st, int col, void *out, size_t n)
{
  const void *p = sqlite3_column_blob(st, col);
  if (!p || (size_t)sqlite3_column_bytes(st, col) != n) return -1;
  memcpy(out, p, n);
  return 0;
}

int tk__col_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
  const unsigned char *p = sqlite3_column_text(st, col);
  size_t n = (size_t)sqlite3_column_bytes(st, col);
  if (!p || n >= cap) return -1;
  memcpy(out, p, n);
  out[n] = '\0';
  return 0;
}

int tk__store_run(tk_store_t *s, int slot, const char *sql, const char *what,
                  tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, slot, sql, &st, err);
  if (rc) return rc;
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE && src != SQLITE_ROW) rc = tk__store_fail(s, src, what, err);
  tk__stmt_put(s, slot, st);
  return rc;
}

#define RUN_BEGIN(s, err)                                                                \
  tk__store_run((s), TK__ST_BEGIN, "BEGIN IMMEDIATE", "starting a write transaction",    \
                (err))
#define RUN_COMMIT(s, err)                                                               \
  tk__store_run((s), TK__ST_COMMIT, "COMMIT", "committing", (err))
#define RUN_ROLLBACK(s)                                                                  \
  tk__store_run((s), TK__ST_ROLLBACK, "ROLLBACK", "rolling back", NULL)
#define RUN_SAVEPOINT(s, err)                                                            \
  tk__store_run((s), TK__ST_SAVEPOINT, "SAVEPOINT tk_sp", "starting a savepoint", (err))
#define RUN_RELEASE(s, err)                                                              \
  tk__store_run((s), TK__ST_RELEASE, "RELEASE tk_sp", "releasing a savepoint", (err))
#define RUN_ROLLBACK_TO(s)                                                               \
  tk__store_run((s), TK__ST_ROLLBACK_TO, "ROLLBACK TO tk_sp",                            \
                "rolling back a savepoint", NULL)

static int aborted_err(tk_store_t *s, tk_err_t *err)
{
  return tk_err_set(err, TK_ESTORE,
                    "store %s: the transaction was rolled back after an earlier error; "
                    "nothing in it was stored",
                    s->path);
}

int tk__write_begin(tk_store_t *s, tk_err_t *err)
{
  if (s->depth == 0) return RUN_BEGIN(s, err);
  if (s->tx_aborted) return aborted_err(s, err);
  return RUN_SAVEPOINT(s, err);
}

int tk__write_end(tk_store_t *s, int rc, tk_err_t *err)
{
  if (s->depth == 0) {
    if (rc == 0) {
      rc = RUN_COMMIT(s, err);
      if (rc == 0) return 0;
    }
    if (!sqlite3_get_autocommit(s->db)) RUN_ROLLBACK(s);
    return rc;
  }
  if (rc == 0) {
    rc = RUN_RELEASE(s, err);
    if (rc == 0) return 0;
  }
  /* Some errors (I/O, full disk, out of memory) make sqlite roll back the
   * whole transaction; the caller's commit must then fail, not pretend. */
  if (sqlite3_get_autocommit(s->db)) {
    s->tx_aborted = 1;
    return rc;
  }
  RUN_ROLLBACK_TO(s);
  RUN_RELEASE(s, NULL);
  return rc;
}

/* Begins a transaction that later public writes join. Nested calls make
 * savepoints: an inner commit keeps its writes for the outer one to commit,
 * an inner rollback undoes only what came after its begin. TK_EBUSY if
 * another process holds the write lock beyond the busy timeout. */
int tk_store_begin(tk_store_t *s, tk_err_t *err)
{
  int rc;
  if (s->depth == 0) {
    rc = RUN_BEGIN(s, err);
    if (rc) return rc;
    s->tx_aborted = 0;
  } else {
    if (s->tx_aborted) return aborted_err(s, err);
    rc = RUN_SAVEPOINT(s, err);
    if (rc) return rc;
  }
  s->depth++;
  return 0;
}

/* Sets the page cache to a quarter of the file (see CACHE_MIN_KIB). A
 * failure leaves the cache as it was: it costs speed, never data. */
static void size_cache(tk_store_t *s)
{
  sqlite3_stmt *st = NULL;
  long long kib = CACHE_MIN_KIB;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT page_count * page_size / 4096"
                         " FROM pragma_page_count(), pragma_page_size()",
                         -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    kib = sqlite3_column_int64(st, 0); /* a quarter of the file, in KiB */
  sqlite3_finalize(st);
  if (kib < CACHE_MIN_KIB) kib = CACHE_MIN_KIB;
  if (kib > CACHE_MAX_KIB) kib = CACHE_MAX_KIB;
  if (kib == s->cache_kib) return;
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA cache_size = -%lld", kib);
  if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK) s->cache_kib = kib;
}

/* Commits the innermost transaction begun by tk_store_begin; the outermost
 * commit makes everything durable. If the commit fails, everything in the
 * outermost transaction is rolled back and an error is returned: nothing of
 * it may be acknowledged. */
int tk_store_commit(tk_store_t *s, tk_err_t *err)
{
  int rc;
  if (s->depth == 0)
    return tk_err_set(err, TK_EINVAL, "store %s: commit without a transaction", s->path);
  if (s->tx_aborted) {
    if (--s->depth == 0) s->tx_aborted = 0;
    return aborted_err(s, err);
  }
  if (s->depth == 1) {
    rc = RUN_COMMIT(s, err);
    if (rc && !sqlite3_get_autocommit(s->db)) RUN_ROLLBACK(s);
    if (!rc && ++s->commits % CACHE_CHECK_COMMITS == 0) size_cache(s);
  } else {
    rc = RUN_RELEASE(s, err);
  }
  s->depth--;
  return rc;
}

/* Rolls back the innermost transaction begun by tk_store_begin (a no-op
 * without one). */
void tk_store_rollback(tk_store_t *s)
{
  if (!s || s->depth == 0) return;
  if (s->tx_aborted) {
    if (--s->depth == 0) s->tx_aborted = 0;
    return;
  }
  if (s->depth == 1) {
    if (!sqlite3_get_autocommit(s->db)) RUN_ROLLBACK(s);
  } else {
    RUN_ROLLBACK_TO(s);
    RUN_RELEASE(s, NULL);
  }
  s->depth--;
}

/* ---- open and close ---------------------------------------------------------- */

static int read_user_version(tk_store_t *s, int *version, tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int src = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
  if (src == SQLITE_OK) {
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
      *version = sqlite3_column_int(st, 0);
      src = SQLITE_OK;
    }
  }
  sqlite3_finalize(st);
  return src == SQLITE_OK ? 0 : tk__store_fail(s, src, "reading the schema version", err);
}

static int migrate(tk_store_t *s, tk_err_t *err)
{
  int version = 0, rc;
  char *msg = NULL;
  rc = read_user_version(s, &version, err);
  if (rc) return rc;
  if (version > TK_STORE_SCHEMA_VERSION) goto too_new;
  if (version == TK_STORE_SCHEMA_VERSION) return 0;
  if (version != 0) {
    /* an upgrade: the old file is kept first, the way back (tk_store.h) */
    char copy[4200];
    rc = tk__store_copy_before_migrate(s, version, TK_STORE_SCHEMA_VERSION, copy,
                                       sizeof copy, err);
    if (rc) return rc;
    TK_LOG(TK_LOG_INFO, "store", "schema upgrade path=%s from=%d to=%d copy=%s", s->path,
           version, TK_STORE_SCHEMA_VERSION, copy);
  }

  rc = RUN_BEGIN(s, err);
  if (rc) return rc;
  /* Read again under the write lock: another process may have migrated. */
  rc = read_user_version(s, &version, err);
  if (rc) goto done;
  if (version > TK_STORE_SCHEMA_VERSION) {
    RUN_ROLLBACK(s);
    goto too_new;
  }
  for (int v = version; v < TK_STORE_SCHEMA_VERSION; v++) {
    int src = sqlite3_exec(s->db, migrations[v], NULL, NULL, &msg);
    if (src != SQLITE_OK) {
      rc = tk_err_set(err, TK_ESTORE, "store %s: schema migration %d -> %d failed: %s",
                      s->path, v, v + 1, msg ? msg : sqlite3_errstr(src));
      goto done;
    }
  }
  char sql[64];
  snprintf(sql, sizeof sql, "PRAGMA user_version = %d", TK_STORE_SCHEMA_VERSION);
  int src = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
  if (src != SQLITE_OK) {
    rc = tk__store_fail(s, src, "setting the schema version", err);
    goto done;
  }
  rc = RUN_COMMIT(s, err);
  if (rc == 0 && version != 0)
    TK_LOG(TK_LOG_INFO, "store", "migrated path=%s from=%d to=%d", s->path, version,
           TK_STORE_SCHEMA_VERSION);
done:
  sqlite3_free(msg);
  if (rc && !sqlite3_get_autocommit(s->db)) RUN_ROLLBACK(s);
  return rc;
too_new:
  return tk_err_set(err, TK_EVERSION,
                    "store %s has schema version %d; this tunduk knows up to %d "
                    "(it was written by a newer tunduk)",
                    s->path, version, TK_STORE_SCHEMA_VERSION);
}

static int configure(tk_store_t *s, tk_err_t *err)
{
  static const char pragmas[] = "PRAGMA foreign_keys = ON;"
                                "PRAGMA temp_store = MEMORY;"
                                "PRAGMA secure_delete = ON;"
                                "PRAGMA synchronous = FULL;";
  sqlite3_stmt *st = NULL;
  int rc = 0;
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
  /* Refuse SQL that could corrupt the file on purpose, and functions in
   * schema entries: the file may come from elsewhere (a backup, a seized disk
   * given back). */
  sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
  sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);

  /* Page size takes effect only while the file is empty, so before WAL.
   * 8 KiB: rows of 2 KB revisions fit three to a page where 4 KiB pages fit
   * one (a 2 KB revision cost 4.4 KB on disk with 4 KiB pages, 3.0 KB with
   * 8 KiB; tests/bench/bench_store.c). */
  int src = sqlite3_exec(s->db, "PRAGMA page_size = 8192", NULL, NULL, NULL);
  if (src != SQLITE_OK) {
    rc = tk__store_fail(s, src, "setting the page size", err);
    goto done;
  }
  src = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
  if (src == SQLITE_OK) src = sqlite3_step(st);
  if (src != SQLITE_ROW) {
    rc = tk__store_fail(s, src, "switching to WAL mode", err);
    goto done;
  }
  const char *mode = (const char *)sqlite3_column_text(st, 0);
  if (!mode || strcmp(mode, "wal") != 0) {
    rc = tk_err_set(err, TK_ESTORE, "store %s: could not switch to WAL mode (mode is %s)",
                    s->path, mode ? mode : "unknown");
    goto done;
  }
  src = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL);
  if (src != SQLITE_OK) {
    rc = tk__store_fail(s, src, "setting connection options", err);
    goto done;
  }
  char sql[96];
  snprintf(sql, sizeof sql,
           "PRAGMA wal_autocheckpoint = %d; PRAGMA journal_size_limit = %d",
           WAL_CHECKPOINT_PAGES, WAL_KEEP_BYTES);
  src = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
  if (src != SQLITE_OK) rc = tk__store_fail(s, src, "setting the WAL checkpoint", err);
done:
  sqlite3_finalize(st);
  return rc;
}

/* Creates the file with mode 0600 unless it exists: sqlite would create it
 * with 0644 less the umask, readable by every local user. */
static int create_file(const char *path, tk_err_t *err)
{
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return 0;
    return tk_err_set(err, TK_EIO, "cannot create store %s: %s", path, strerror(errno));
  }
  close(fd);
  return 0;
}

/* See tk_store.h. The store owns a copy of path. */
int tk_store_open(tk_store_t **out, const char *path, int flags, tk_err_t *err)
{
  tk_store_t *s = NULL;
  struct stat sb;
  int rc = 0, src;
  *out = NULL;
  if (!path || !*path) return tk_err_set(err, TK_EINVAL, "store path is empty");
  if (stat(path, &sb) != 0) {
    if (errno != ENOENT)
      return tk_err_set(err, TK_EIO, "cannot open store %s: %s", path, strerror(errno));
    if (!(flags & TK_STORE_CREATE))
      return tk_err_set(err, TK_ENOTFOUND, "store %s does not exist", path);
    rc = create_file(path, err);
    if (rc) return rc;
  } else if (!S_ISREG(sb.st_mode)) {
    return tk_err_set(err, TK_EINVAL, "store %s is not a regular file", path);
  } else if (sb.st_mode & 077) {
    TK_LOG(TK_LOG_WARN, "store", "store file readable by others path=%s mode=%03o", path,
           (unsigned)(sb.st_mode & 0777));
  }

  s = calloc(1, sizeof *s);
  if (!s) return tk_err_set(err, TK_ENOMEM, "out of memory opening store %s", path);
  s->path = strdup(path);
  if (!s->path) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory opening store %s", path);
    goto done;
  }
  src = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  if (src != SQLITE_OK) {
    rc = tk__store_fail(s, src, "opening", err);
    goto done;
  }
  rc = configure(s, err);
  if (rc) goto done;
  rc = migrate(s, err);
  if (!rc) size_cache(s);
done:
  if (rc) {
    tk_store_close(s);
    return rc;
  }
  *out = s;
  return 0;
}

const char *tk_store_path(const tk_store_t *s)
{
  return s->path;
}

/* Closes the store; an uncommitted caller transaction is rolled back. */
void tk_store_close(tk_store_t *s)
{
  if (!s) return;
  if (s->db && !sqlite3_get_autocommit(s->db)) {
    TK_LOG(TK_LOG_WARN, "store", "closing with an open transaction path=%s; rolled back",
           s->path);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  }
  for (int i = 0; i < TK__ST_COUNT; i++)
    sqlite3_finalize(s->st[i]);
  if (s->db && sqlite3_close(s->db) != SQLITE_OK)
    TK_LOG(TK_LOG_ERROR, "store", "close failed path=%s: %s", s->path,
           sqlite3_errmsg(s->db));
  free(s->path);
  free(s);
}

/* ---- settings and the clock ------------------------------------------------ */

static int meta_read(tk_store_t *s, const char *key, char *out, size_t outlen,
                     tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc =
      tk__stmt_get(s, TK__ST_META_GET, "SELECT value FROM meta WHERE key = ?1", &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    const unsigned char *v = sqlite3_column_text(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    if (outlen) {
      if (n >= outlen) n = outlen - 1;
      if (v) memcpy(out, v, n);
      out[v ? n : 0] = '\0';
    }
  } else if (src == SQLITE_DONE) {
    rc = tk_err_set(err, TK_ENOTFOUND, "store %s has no setting %s", s->path, key);
  } else {
    rc = tk__store_fail(s, src, "reading a setting", err);
  }
  tk__stmt_put(s, TK__ST_META_GET, st);
  return rc;
}

static int meta_write(tk_store_t *s, const char *key, const char *value, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_META_SET,
                        "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = tk__store_fail(s, src, "writing a setting", err);
  tk__stmt_put(s, TK__ST_META_SET, st);
  return rc;
}

/* A u64 setting; 0 when unset. */
static int meta_read_u64(tk_store_t *s, const char *key, uint64_t *v, tk_err_t *err)
{
  char buf[32], *end;
  *v = 0;
  int rc = meta_read(s, key, buf, sizeof buf, err);
  if (rc == TK_ENOTFOUND) return 0;
  if (rc) return rc;
  errno = 0;
  unsigned long long x = strtoull(buf, &end, 10);
  if (errno || end == buf || *end || buf[0] == '-') return tk__store_corrupt(s, key, err);
  *v = x;
  return 0;
}

static int check_meta_key(tk_store_t *s, const char *key, tk_err_t *err)
{
  if (!key || !*key || strlen(key) > MAX_META_KEY)
    return tk_err_set(err, TK_EINVAL, "store %s: a setting name must be 1..%d bytes",
                      s->path, MAX_META_KEY);
  return 0;
}

uint64_t tk_store_data_version(tk_store_t *s)
{
  sqlite3_stmt *st = NULL;
  uint64_t v = 0;
  if (sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    v = (uint64_t)sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v << 40 ^ (uint64_t)sqlite3_total_changes64(s->db);
}

int tk_store_meta_get(tk_store_t *s, const char *key, char *out, size_t outlen,
                      tk_err_t *err)
{
  int rc = check_meta_key(s, key, err);
  if (rc) return rc;
  return meta_read(s, key, out, outlen, err);
}

int tk_store_meta_set(tk_store_t *s, const char *key, const char *value, tk_err_t *err)
{
  int rc = check_meta_key(s, key, err);
  if (rc) return rc;
  if (!value || strlen(value) > MAX_META_VALUE)
    return tk_err_set(err, TK_ELIMIT,
                      "store %s: setting %s: the value must be at most %u bytes", s->path,
                      key, MAX_META_VALUE);
  rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = meta_write(s, key, value, err);
  return tk__write_end(s, rc, err);
}

/* The clock: meta hlc_last is the last value handed out, hlc_seen the
 * highest hlc of any stored revision (kept by tk_store_put_rev). The next
 * value is above both and at least the wall clock, and is persisted in the
 * same transaction. If a caller's transaction that asked for a value rolls
 * back, the value may be handed out again; so may anything made with it. */
int tk_store_hlc_next(tk_store_t *s, uint64_t *out, tk_err_t *err)
{
  uint64_t last = 0, seen = 0, next = 0;
  struct timespec ts;
  char buf[32];
  int rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = meta_read_u64(s, "hlc_last", &last, err);
  if (rc == 0) rc = meta_read_u64(s, "hlc_seen", &seen, err);
  if (rc) goto done;
  clock_gettime(CLOCK_REALTIME, &ts);
  next = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
  if (last >= next) next = last + 1;
  if (seen >= next) next = seen + 1;
  if (next > (uint64_t)INT64_MAX) {
    rc = tk_err_set(err, TK_ELIMIT, "store %s: the clock has run out (%" PRIu64 ")",
                    s->path, next);
    goto done;
  }
  snprintf(buf, sizeof buf, "%" PRIu64, next);
  rc = meta_write(s, "hlc_last", buf, err);
done:
  rc = tk__write_end(s, rc, err);
  if (rc == 0) *out = next;
  return rc;
}

/* ---- checkpoints --------------------------------------------------------------- */

static int check_dir(tk_store_t *s, int dir, tk_err_t *err)
{
  if (dir < TK_DIR_PUSH || dir > TK_DIR_PUSH_SENT)
    return tk_err_set(err, TK_EINVAL, "store %s: checkpoint direction %d is unknown",
                      s->path, dir);
  return 0;
}

int tk_store_checkpoint_get(tk_store_t *s, const uint8_t peer[TK_DEVICE_ID_LEN], int dir,
                            uint64_t *seq, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = check_dir(s, dir, err);
  if (rc) return rc;
  rc = tk__stmt_get(s, TK__ST_CKPT_GET,
                    "SELECT seq FROM checkpoints WHERE peer = ?1 AND dir = ?2", &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, peer, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int(st, 2, dir));
  *seq = 0;
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    if (v < 0)
      rc = tk__store_corrupt(s, "a checkpoint", err);
    else
      *seq = (uint64_t)v;
  } else if (src != SQLITE_DONE) {
    rc = tk__store_fail(s, src, "reading a checkpoint", err);
  }
  tk__stmt_put(s, TK__ST_CKPT_GET, st);
  return rc;
}

int tk_store_checkpoint_set(tk_store_t *s, const uint8_t peer[TK_DEVICE_ID_LEN], int dir,
                            uint64_t seq, tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = check_dir(s, dir, err);
  if (rc) return rc;
  if (seq > (uint64_t)INT64_MAX)
    return tk_err_set(err, TK_EINVAL, "store %s: checkpoint %" PRIu64 " is out of range",
                      s->path, seq);
  rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = tk__stmt_get(s, TK__ST_CKPT_SET,
                    "INSERT INTO checkpoints(peer, dir, seq) VALUES(?1, ?2, ?3) "
                    "ON CONFLICT(peer, dir) DO UPDATE SET seq = excluded.seq",
                    &st, err);
  if (rc) goto done;
  TK__BIND(sqlite3_bind_blob(st, 1, peer, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int(st, 2, dir));
  TK__BIND(sqlite3_bind_int64(st, 3, (sqlite3_int64)seq));
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = tk__store_fail(s, src, "writing a checkpoint", err);
done:
  tk__stmt_put(s, TK__ST_CKPT_SET, st);
  return tk__write_end(s, rc, err);
}

int tk_store_checkpoint_raise(tk_store_t *s, const uint8_t peer[TK_DEVICE_ID_LEN],
                              int dir, uint64_t seq, tk_err_t *err)
{
  uint64_t cur = 0;
  int rc = tk_store_checkpoint_get(s, peer, dir, &cur, err);
  if (!rc && seq > cur) rc = tk_store_checkpoint_set(s, peer, dir, seq, err);
  return rc;
}

/* ---- vaults and wrapped keys --------------------------------------------------- */

/* The vault name rule of tk_revision.h: 1..TK_MAX_VAULT_LEN of [a-z0-9_.-]. */
static int check_vault_name(tk_store_t *s, const char *name, tk_err_t *err)
{
  size_t n = name ? strlen(name) : 0;
  int ok = n >= 1 && n <= TK_MAX_VAULT_LEN;
  for (size_t i = 0; ok && i < n; i++) {
    char c = name[i];
    ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
  }
  if (!ok)
    return tk_err_set(
        err, TK_EINVAL,
        "store %s: vault name must be 1..%d of a-z 0-9 _ . - (got \"%.80s\")", s->path,
        TK_MAX_VAULT_LEN, name ? name : "");
  return 0;
}

int tk_store_vault_add(tk_store_t *s, const char *name,
                       const uint8_t key_id[TK_KEY_ID_LEN], tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = check_vault_name(s, name, err);
  if (rc) return rc;
  rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = tk__stmt_get(s, TK__ST_VAULT_ADD,
                    "INSERT INTO vaults(name, key_id, created) VALUES(?1, ?2, ?3)", &st,
                    err);
  if (rc) goto done;
  TK__BIND(sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 2, key_id, TK_KEY_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL)));
  int src = sqlite3_step(st);
  if (src == SQLITE_CONSTRAINT_PRIMARYKEY)
    rc = tk_err_set(err, TK_EEXIST, "vault %s already exists in store %s", name, s->path);
  else if (src != SQLITE_DONE)
    rc = tk__store_fail(s, src, "adding a vault", err);
done:
  tk__stmt_put(s, TK__ST_VAULT_ADD, st);
  return tk__write_end(s, rc, err);
}

static int read_vault(tk_store_t *s, sqlite3_stmt *st, tk_vault_info_t *v, tk_err_t *err)
{
  memset(v, 0, sizeof *v);
  if (tk__col_text(st, 0, v->name, sizeof v->name) ||
      tk__col_blob(st, 1, v->key_id, TK_KEY_ID_LEN))
    return tk__store_corrupt(s, "a vault row", err);
  v->created = sqlite3_column_int64(st, 2);
  return 0;
}

int tk_store_vault_get(tk_store_t *s, const char *name, tk_vault_info_t *out,
                       tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = check_vault_name(s, name, err);
  if (rc) return rc;
  rc = tk__stmt_get(s, TK__ST_VAULT_GET,
                    "SELECT name, key_id, created FROM vaults WHERE name = ?1", &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    rc = read_vault(s, st, out, err);
  else if (src == SQLITE_DONE)
    rc = tk_err_set(err, TK_ENOTFOUND, "no vault %s in store %s", name, s->path);
  else
    rc = tk__store_fail(s, src, "reading a vault", err);
  tk__stmt_put(s, TK__ST_VAULT_GET, st);
  return rc;
}

/* Every vault, by name. */
int tk_store_vaults(tk_store_t *s, int (*cb)(void *ctx, const tk_vault_info_t *v),
                    void *ctx, tk_err_t *err)
{
  sqlite3_stmt *st;
  tk_vault_info_t v;
  int rc =
      tk__stmt_get(s, TK__ST_VAULTS,
                   "SELECT name, key_id, created FROM vaults ORDER BY name", &st, err);
  if (rc) return rc;
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "listing vaults", err);
      break;
    }
    rc = read_vault(s, st, &v, err);
    if (rc == 0) rc = cb(ctx, &v);
    if (rc) break;
  }
  tk__stmt_put(s, TK__ST_VAULTS, st);
  return rc;
}

int tk_store_wrapped_key_put(tk_store_t *s, const char *vault,
                             const uint8_t key_id[TK_KEY_ID_LEN],
                             const uint8_t device[TK_DEVICE_ID_LEN],
                             const uint8_t sealed[TK_SEALED_KEY_LEN], tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  int rc = check_vault_name(s, vault, err);
  if (rc) return rc;
  rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = tk__stmt_get(s, TK__ST_WKEY_PUT,
                    "INSERT INTO wrapped_keys(vault, key_id, device, sealed) "
                    "VALUES(?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                    &st, err);
  if (rc) goto done;
  TK__BIND(sqlite3_bind_text(st, 1, vault, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 2, key_id, TK_KEY_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 3, device, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 4, sealed, TK_SEALED_KEY_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = tk__store_fail(s, src, "storing a wrapped key", err);
done:
  tk__stmt_put(s, TK__ST_WKEY_PUT, st);
  return tk__write_end(s, rc, err);
}

int tk_store_wrapped_key_get(tk_store_t *s, const char *vault,
                             const uint8_t key_id[TK_KEY_ID_LEN],
                             const uint8_t device[TK_DEVICE_ID_LEN],
                             uint8_t sealed[TK_SEALED_KEY_LEN], tk_err_t *err)
{
  sqlite3_stmt *st;
  char kid[2 * TK_KEY_ID_LEN + 1];
  int rc = check_vault_name(s, vault, err);
  if (rc) return rc;
  rc = tk__stmt_get(s, TK__ST_WKEY_GET,
                    "SELECT sealed FROM wrapped_keys "
                    "WHERE vault = ?1 AND key_id = ?2 AND device = ?3",
                    &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_text(st, 1, vault, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 2, key_id, TK_KEY_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 3, device, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    if (tk__col_blob(st, 0, sealed, TK_SEALED_KEY_LEN))
      rc = tk__store_corrupt(s, "a wrapped key", err);
  } else if (src == SQLITE_DONE) {
    tk_hex_encode(kid, key_id, TK_KEY_ID_LEN);
    rc = tk_err_set(err, TK_ENOKEY, "this device holds no key %s for vault %s", kid,
                    vault);
  } else {
    rc = tk__store_fail(s, src, "reading a wrapped key", err);
  }
  tk__stmt_put(s, TK__ST_WKEY_GET, st);
  return rc;
}

/* ---- devices ------------------------------------------------------------------- */

/* Adds or updates a device. d->id must be the id of d->sign_pk (TK_EINVAL).
 * Revocation is sticky: once a device is stored as revoked, a later put
 * cannot clear it (the first revocation time is kept). */
int tk_store_device_put(tk_store_t *s, const tk_device_info_t *d, tk_err_t *err)
{
  sqlite3_stmt *st = NULL;
  uint8_t id[TK_DEVICE_ID_LEN];
  if (strnlen(d->name, sizeof d->name) == sizeof d->name)
    return tk_err_set(err, TK_EINVAL, "device name is longer than %zu bytes",
                      sizeof d->name - 1);
  tk_device_id_from_pk(id, d->sign_pk);
  if (!tk_ct_equal(id, d->id, TK_DEVICE_ID_LEN))
    return tk_err_set(err, TK_EINVAL, "device %s: id does not match its signing key",
                      d->name);
  int rc = tk__write_begin(s, err);
  if (rc) return rc;
  rc = tk__stmt_get(
      s, TK__ST_DEV_PUT,
      "INSERT INTO devices(id, name, sign_pk, kx_pk, added, revoked, kx_sig) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(id) DO UPDATE SET "
      "name = excluded.name, kx_pk = excluded.kx_pk, added = excluded.added, "
      "kx_sig = excluded.kx_sig, "
      "revoked = CASE WHEN devices.revoked != 0 THEN devices.revoked "
      "ELSE excluded.revoked END",
      &st, err);
  if (rc) goto done;
  TK__BIND(sqlite3_bind_blob(st, 1, d->id, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 2, d->name, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 3, d->sign_pk, TK_SIGN_PK_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 4, d->kx_pk, TK_KX_PK_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 5, d->added));
  TK__BIND(sqlite3_bind_int64(st, 6, d->revoked));
  if (d->has_kx_sig)
    TK__BIND(sqlite3_bind_blob(st, 7, d->kx_sig, TK_SIG_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src != SQLITE_DONE) rc = tk__store_fail(s, src, "storing a device", err);
done:
  tk__stmt_put(s, TK__ST_DEV_PUT, st);
  return tk__write_end(s, rc, err);
}

int tk_store_device_get(tk_store_t *s, const uint8_t id[TK_DEVICE_ID_LEN],
                        tk_device_info_t *out, tk_err_t *err)
{
  sqlite3_stmt *st;
  char hex[2 * TK_DEVICE_ID_LEN + 1];
  int rc = tk__stmt_get(s, TK__ST_DEV_GET,
                        "SELECT id, name, sign_pk, kx_pk, added, revoked, kx_sig "
                        "FROM devices WHERE id = ?1",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, id, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    memset(out, 0, sizeof *out);
    if (tk__col_blob(st, 0, out->id, TK_DEVICE_ID_LEN) ||
        tk__col_text(st, 1, out->name, sizeof out->name) ||
        tk__col_blob(st, 2, out->sign_pk, TK_SIGN_PK_LEN) ||
        tk__col_blob(st, 3, out->kx_pk, TK_KX_PK_LEN))
      rc = tk__store_corrupt(s, "a device row", err);
    out->added = sqlite3_column_int64(st, 4);
    out->revoked = sqlite3_column_int64(st, 5);
    out->has_kx_sig = sqlite3_column_type(st, 6) != SQLITE_NULL;
    if (out->has_kx_sig && tk__col_blob(st, 6, out->kx_sig, TK_SIG_LEN))
      rc = tk__store_corrupt(s, "a device row", err);
  } else if (src == SQLITE_DONE) {
    tk_hex_encode(hex, id, TK_DEVICE_ID_LEN);
    rc = tk_err_set(err, TK_ENOTFOUND, "no device %s in store %s", hex, s->path);
  } else {
    rc = tk__store_fail(s, src, "reading a device", err);
  }
  tk__stmt_put(s, TK__ST_DEV_GET, st);
  return rc;
}
