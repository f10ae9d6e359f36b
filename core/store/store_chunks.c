/*
 * store_chunks.c: attachment chunks in the store (schema v5, store.c): the
 * chunks themselves (ciphertext named by its SHA-256, in their own changes
 * feed so a peer can keep a checkpoint on them) and chunk_refs, which
 * revision names which chunk, taken from the signed header whenever a
 * revision is stored. A chunk is never stored unless its bytes hash to its
 * id. One thread at a time per store, like the rest of the store.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store_internal.h"

/* Runs a bound statement that returns no rows. */
static int step_done(tk_store_t *s, sqlite3_stmt *st, const char *what, tk_err_t *err)
{
  int src = sqlite3_step(st);
  return src == SQLITE_DONE ? 0 : tk__store_fail(s, src, what, err);
}

int tk__chunk_refs_put(tk_store_t *s, const tk_rev_t *rev, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_CHUNK_REF_PUT,
                        "INSERT INTO chunk_refs(rev_id, idx, chunk) VALUES(?1, ?2, ?3)",
                        &st, err);
  if (rc) return rc;
  for (uint32_t i = 0; i < rev->nattach && !rc; i++) {
    TK__BIND(sqlite3_bind_blob(st, 1, rev->id, TK_REV_ID_LEN, SQLITE_STATIC));
    TK__BIND(sqlite3_bind_int64(st, 2, i));
    TK__BIND(sqlite3_bind_blob(st, 3, rev->attach + (size_t)i * TK_HASH_LEN, TK_HASH_LEN,
                               SQLITE_STATIC));
    rc = step_done(s, st, "recording a revision's attachment chunks", err);
    sqlite3_reset(st);
  }
  tk__stmt_put(s, TK__ST_CHUNK_REF_PUT, st);
  return rc;
}

int tk_store_chunk_has(tk_store_t *s, const uint8_t id[TK_HASH_LEN])
{
  sqlite3_stmt *st;
  int rc =
      tk__stmt_get(s, TK__ST_CHUNK_HAS, "SELECT 1 FROM chunks WHERE id = ?1", &st, NULL);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, id, TK_HASH_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  rc = src == SQLITE_ROW ? 1 : src == SQLITE_DONE ? 0 : tk__store_fail(s, src, "", NULL);
  tk__stmt_put(s, TK__ST_CHUNK_HAS, st);
  return rc;
}

int tk_store_chunk_put(tk_store_t *s, const uint8_t id[TK_HASH_LEN], tk_slice_t data,
                       const uint8_t *origin, tk_err_t *err)
{
  uint8_t h[TK_HASH_LEN];
  char hex[2 * TK_HASH_LEN + 1];
  tk_hex_encode(hex, id, TK_HASH_LEN);
  if (data.n == 0 || data.n > TK_CHUNK_MAX)
    return tk_err_set(err, TK_ELIMIT, "chunk %.16s: %zu bytes, allowed 1..%u", hex,
                      data.n, (unsigned)TK_CHUNK_MAX);
  tk_sha256(h, data.p, data.n);
  if (!tk_ct_equal(h, id, TK_HASH_LEN))
    return tk_err_set(err, TK_EHASH, "chunk %.16s: its bytes do not hash to its id", hex);
  int rc = tk_store_chunk_has(s, id);
  if (rc < 0) return tk__store_fail(s, SQLITE_ERROR, "looking up a chunk", err);
  if (rc == 1) return tk_err_set(err, TK_EEXIST, "chunk %.16s is already stored", hex);
  sqlite3_stmt *st;
  rc = tk__stmt_get(
      s, TK__ST_CHUNK_PUT,
      "INSERT INTO chunks(id, data, origin, received) VALUES(?1, ?2, ?3, ?4)", &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, id, TK_HASH_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 2, data.p, (int)data.n, SQLITE_STATIC));
  if (origin) TK__BIND(sqlite3_bind_blob(st, 3, origin, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL)));
  rc = step_done(s, st, "storing a chunk", err);
  tk__stmt_put(s, TK__ST_CHUNK_PUT, st);
  return rc;
}

int tk_store_chunk_get(tk_store_t *s, const uint8_t id[TK_HASH_LEN], tk_buf_t *out,
                       tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_CHUNK_GET, "SELECT data FROM chunks WHERE id = ?1", &st,
                        err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, id, TK_HASH_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    const void *p = sqlite3_column_blob(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    if (n > TK_CHUNK_MAX)
      rc = tk__store_corrupt(s, "a chunk row", err);
    else if (tk_buf_append(out, p, n) != 0)
      rc = tk_err_set(err, TK_ENOMEM, "out of memory");
  } else if (src == SQLITE_DONE) {
    char hex[2 * TK_HASH_LEN + 1];
    tk_hex_encode(hex, id, TK_HASH_LEN);
    rc = tk_err_set(err, TK_ENOTFOUND, "chunk %.16s is not stored here", hex);
  } else {
    rc = tk__store_fail(s, src, "reading a chunk", err);
  }
  tk__stmt_put(s, TK__ST_CHUNK_GET, st);
  return rc;
}

int tk_store_chunk_vaults(tk_store_t *s, const uint8_t id[TK_HASH_LEN],
                          int (*cb)(void *ctx, const char *vault), void *ctx,
                          tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_CHUNK_VAULTS,
                        "SELECT DISTINCT r.vault FROM chunk_refs c "
                        "JOIN revisions r ON r.id = c.rev_id WHERE c.chunk = ?1",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, id, TK_HASH_LEN, SQLITE_STATIC));
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "looking up a chunk's vaults", err);
      break;
    }
    char vault[TK_MAX_VAULT_LEN + 1];
    if (tk__col_text(st, 0, vault, sizeof vault)) {
      rc = tk__store_corrupt(s, "a revision row", err);
      break;
    }
    if ((rc = cb(ctx, vault)) != 0) break;
  }
  tk__stmt_put(s, TK__ST_CHUNK_VAULTS, st);
  return rc;
}

int tk_store_chunks_after(tk_store_t *s, uint64_t since, size_t limit,
                          int (*cb)(void *ctx, const tk_chunk_meta_t *m), void *ctx,
                          tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_CHUNKS_AFTER,
                        "SELECT seq, id, length(data), origin FROM chunks WHERE seq > ?1 "
                        "ORDER BY seq LIMIT ?2",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_int64(st, 1, (sqlite3_int64)since));
  TK__BIND(sqlite3_bind_int64(st, 2, (sqlite3_int64)limit));
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "reading the chunk feed", err);
      break;
    }
    tk_chunk_meta_t m;
    memset(&m, 0, sizeof m);
    m.seq = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_int64 size = sqlite3_column_int64(st, 2);
    m.has_origin = sqlite3_column_type(st, 3) != SQLITE_NULL;
    if (tk__col_blob(st, 1, m.id, TK_HASH_LEN) || size <= 0 || size > TK_CHUNK_MAX ||
        (m.has_origin && tk__col_blob(st, 3, m.origin, TK_DEVICE_ID_LEN))) {
      rc = tk__store_corrupt(s, "a chunk row", err);
      break;
    }
    m.size = (uint32_t)size;
    if ((rc = cb(ctx, &m)) != 0) break;
  }
  tk__stmt_put(s, TK__ST_CHUNKS_AFTER, st);
  return rc;
}

/* Runs a cached one-row query with one blob (n >= 0 bytes), text (n == -1)
 * or no (n == -2) parameter and reads one or two integers. */
static int query_counts(tk_store_t *s, int slot, const char *sql, const void *p, int n,
                        int64_t *a, int64_t *b, const char *what, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, slot, sql, &st, err);
  if (rc) return rc;
  if (n >= 0)
    TK__BIND(sqlite3_bind_blob(st, 1, p, n, SQLITE_STATIC));
  else if (n == -1)
    TK__BIND(sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    *a = sqlite3_column_int64(st, 0);
    if (b) *b = sqlite3_column_int64(st, 1);
  } else {
    rc = tk__store_fail(s, src, what, err);
  }
  tk__stmt_put(s, slot, st);
  return rc;
}

int tk_store_chunks_last(tk_store_t *s, uint64_t *seq, tk_err_t *err)
{
  int64_t v = 0;
  int rc = query_counts(s, TK__ST_CHUNKS_LAST, "SELECT coalesce(max(seq), 0) FROM chunks",
                        NULL, -2, &v, NULL, "reading the chunk feed", err);
  *seq = (uint64_t)v;
  return rc;
}

int tk_store_rev_chunks(tk_store_t *s, const uint8_t rev_id[TK_REV_ID_LEN],
                        uint32_t *missing, uint32_t *total, tk_err_t *err)
{
  int64_t m = 0, t = 0;
  int rc =
      query_counts(s, TK__ST_REV_CHUNKS,
                   "SELECT count(*) - count(c.id), count(*) FROM chunk_refs r "
                   "LEFT JOIN chunks c ON c.id = r.chunk WHERE r.rev_id = ?1",
                   rev_id, TK_REV_ID_LEN, &m, &t, "counting a revision's chunks", err);
  *missing = (uint32_t)m;
  *total = (uint32_t)t;
  return rc;
}

int tk_store_chunks_new(tk_store_t *s, const tk_rev_t *rev, uint32_t *n, tk_err_t *err)
{
  *n = 0;
  for (uint32_t i = 0; i < rev->nattach; i++) {
    const uint8_t *id = rev->attach + (size_t)i * TK_HASH_LEN;
    int dup = 0;
    for (uint32_t k = 0; k < i && !dup; k++)
      dup = memcmp(rev->attach + (size_t)k * TK_HASH_LEN, id, TK_HASH_LEN) == 0;
    if (dup) continue;
    int64_t known = 0;
    int rc = query_counts(s, TK__ST_CHUNKS_NEW,
                          "SELECT EXISTS(SELECT 1 FROM chunk_refs WHERE chunk = ?1)", id,
                          TK_HASH_LEN, &known, NULL, "looking up a chunk ref", err);
    if (rc) return rc;
    if (!known) (*n)++;
  }
  return 0;
}

int tk_store_vault_chunks(tk_store_t *s, const char *vault, uint64_t *n, tk_err_t *err)
{
  int64_t v = 0;
  int rc = query_counts(s, TK__ST_VAULT_CHUNKS,
                        "SELECT count(DISTINCT c.chunk) FROM chunk_refs c "
                        "JOIN revisions r ON r.id = c.rev_id WHERE r.vault = ?1",
                        vault, -1, &v, NULL, "counting a vault's chunks", err);
  *n = (uint64_t)v;
  return rc;
}

int tk_store_chunks_verify(tk_store_t *s,
                           void (*bad)(void *ctx, const uint8_t id[TK_HASH_LEN]),
                           void *ctx, uint64_t *n, uint64_t *nbad, tk_err_t *err)
{
  sqlite3_stmt *st;
  *n = *nbad = 0;
  int src = sqlite3_prepare_v2(s->db, "SELECT id, data FROM chunks ORDER BY seq", -1, &st,
                               NULL);
  if (src != SQLITE_OK) return tk__store_fail(s, src, "reading chunks", err);
  int rc = 0;
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    uint8_t id[TK_HASH_LEN], h[TK_HASH_LEN];
    if (tk__col_blob(st, 0, id, TK_HASH_LEN)) {
      rc = tk__store_corrupt(s, "a chunk row", err);
      break;
    }
    tk_sha256(h, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    (*n)++;
    if (!tk_ct_equal(h, id, TK_HASH_LEN)) {
      (*nbad)++;
      if (bad) bad(ctx, id);
    }
  }
  if (!rc && src != SQLITE_DONE) rc = tk__store_fail(s, src, "reading chunks", err);
  sqlite3_finalize(st);
  return rc;
}
