/*
 * store_internal.h: what store.c (open, schema, transactions, settings,
 * keys, devices) and store_revs.c (revisions, heads, records, changes)
 * share: the store struct, the cache of prepared statements, the write
 * transaction helpers and the mapping of sqlite codes to TK_E* codes.
 * SQLITE_* codes never leave these two files.
 *
 * Threads: as tk_store.h; one thread at a time per store.
 */
#ifndef TK_STORE_INTERNAL_H
#define TK_STORE_INTERNAL_H

#include <sqlite3.h>

#include "tk_store.h"

/* One slot per cached statement. A statement is prepared on first use and
 * kept until tk_store_close; after use it is reset and its bindings cleared. */
enum {
  TK__ST_BEGIN,
  TK__ST_COMMIT,
  TK__ST_ROLLBACK,
  TK__ST_SAVEPOINT,
  TK__ST_RELEASE,
  TK__ST_ROLLBACK_TO,
  TK__ST_META_GET,
  TK__ST_META_SET,
  TK__ST_HLC_SEEN,
  TK__ST_CKPT_GET,
  TK__ST_CKPT_SET,
  TK__ST_VAULT_ADD,
  TK__ST_VAULT_GET,
  TK__ST_VAULTS,
  TK__ST_WKEY_PUT,
  TK__ST_WKEY_GET,
  TK__ST_DEV_PUT,
  TK__ST_DEV_GET,
  TK__ST_REV_SEQ,
  TK__ST_REV_PARENT,
  TK__ST_RECORD_EXISTS,
  TK__ST_REV_INSERT,
  TK__ST_PARENT_INSERT,
  TK__ST_HEAD_DELETE,
  TK__ST_HEAD_INSERT,
  TK__ST_RECORD_INSERT,
  TK__ST_RECORD_UPDATE,
  TK__ST_REV_BYTES,
  TK__ST_REV_META,
  TK__ST_REV_PARENTS,
  TK__ST_HEADS,
  TK__ST_RECORDS, /* eight variants: + 1 type filter, + 2 vault filter, + 4 conflicts */
  TK__ST_RECORDS_END = TK__ST_RECORDS + 7,
  TK__ST_RECORD_INFO,
  TK__ST_HISTORY,
  TK__ST_CHANGES,
  TK__ST_LAST_SEQ,
  TK__ST_PREFIX_REC,
  TK__ST_PREFIX_REV,
  TK__ST_DEVICES,
  TK__ST_DEV_REVOKE,
  TK__ST_ACCESS_DROP,
  TK__ST_ACCESS_GET,
  TK__ST_ACCESS_LIST,
  TK__ST_ACCESS_SET,
  TK__ST_TOKEN_ADD,
  TK__ST_TOKENS,
  TK__ST_TOKEN_GET,
  TK__ST_TOKEN_USE,
  TK__ST_GRANT_PUT,
  TK__ST_GRANTS_FOR,
  TK__ST_QUAR_PUT,
  TK__ST_QUAR_LIST,
  TK__ST_QUAR_GET,
  TK__ST_QUAR_DEL,
  TK__ST_CHUNK_PUT,
  TK__ST_CHUNK_GET,
  TK__ST_CHUNK_HAS,
  TK__ST_CHUNK_VAULTS,
  TK__ST_CHUNKS_AFTER,
  TK__ST_CHUNK_REF_PUT,
  TK__ST_REV_CHUNKS,
  TK__ST_CHUNKS_NEW,
  TK__ST_VAULT_CHUNKS,
  TK__ST_CHUNKS_LAST,
  TK__ST_REV_LOCAL, /* store_unsent.c: once per duplicate a sync meets */
  TK__ST_HEAD_DELETED,
  TK__ST_HEADS_UNKNOWN,
  TK__ST_DEV_SEEN, /* store_seen.c */
  TK__ST_DEVS_SEEN,
  TK__ST_COUNT
};

struct tk_store {
  sqlite3 *db;
  char *path;
  int depth;           /* tk_store_begin nesting; 0 = no caller transaction */
  int tx_aborted;      /* sqlite rolled the caller's transaction back on an error */
  long long cache_kib; /* the page cache size set (KiB); 0: sqlite's default */
  unsigned commits;    /* outermost commits, to look at the file size now and then */
  sqlite3_stmt *st[TK__ST_COUNT];
};

/* Sets *out to the statement of slot for sql, preparing it on first use. If
 * the cached one is in use (a callback re-entered the store while a listing
 * runs), a fresh statement is prepared; tk__stmt_put finalizes it. */
int tk__stmt_get(tk_store_t *s, int slot, const char *sql, sqlite3_stmt **out,
                 tk_err_t *err);
/* Resets and clears st (NULL is fine), or finalizes it if it is not cached. */
void tk__stmt_put(tk_store_t *s, int slot, sqlite3_stmt *st);

/* Maps a failed sqlite result code to a TK_E* code with a message naming
 * the store and what was being done. */
int tk__store_fail(tk_store_t *s, int src, const char *what, tk_err_t *err);

/* Runs a statement that returns no rows (BEGIN, COMMIT, ...). */
int tk__store_run(tk_store_t *s, int slot, const char *sql, const char *what,
                  tk_err_t *err);

/* Starts a public write: BEGIN IMMEDIATE when the caller holds no
 * transaction, else a SAVEPOINT inside the caller's. tk__write_end commits
 * (or releases) when rc == 0 and rolls back otherwise; it returns rc, or
 * the commit's error. */
int tk__write_begin(tk_store_t *s, tk_err_t *err);
int tk__write_end(tk_store_t *s, int rc, tk_err_t *err);

/* Copies the store (schema from) to the next free PATH.before-schema-to
 * (store_backup.c) before migrate() changes it; out gets the copy's path. */
int tk__store_copy_before_migrate(tk_store_t *s, int from, int to, char *out, size_t cap,
                                  tk_err_t *err);

/* Records the chunk refs of rev's header (store_chunks.c); inside put. */
int tk__chunk_refs_put(tk_store_t *s, const tk_rev_t *rev, tk_err_t *err);

/* Column readers that check what the database holds: a blob of exactly n
 * bytes, and text shorter than cap. -1 if the row does not fit (corrupt). */
int tk__col_blob(sqlite3_stmt *st, int col, void *out, size_t n);
int tk__col_text(sqlite3_stmt *st, int col, char *out, size_t cap);
int tk__store_corrupt(tk_store_t *s, const char *what, tk_err_t *err);

/* Bindings use SQLITE_STATIC and lengths bounded by named limits, so they
 * can fail only by a programming error (wrong index): asserted. */
#define TK__BIND(call) TK_ASSERT((call) == SQLITE_OK)

#endif
