/*
 * store_revs.c: revisions in the local store: storing one (checking the
 * parent invariants of tk_store.h), heads and winners, the records table
 * behind listings, history, the changes feed and id prefix resolution.
 *
 * Invariants kept by tk_store_put_rev, in one transaction or savepoint:
 *  - revisions holds the encoding verbatim with its parsed routing fields;
 *  - parents holds one row per (revision, parent), heads one row per
 *    revision of a record that no stored revision names as a parent, by
 *    the record's integer key (records.n, in creation order);
 *  - records holds per record the vault, type and hlc of its first revision
 *    and, denormalised from heads, the winner (a live head before a
 *    tombstone by heads.deleted, NULL counting as live, then
 *    tk_rev_winner_cmp order: generation DESC, id DESC; sqlite compares
 *    blobs as memcmp does),
 *    its generation and hlc, and the number of heads;
 *  - meta hlc_seen is the highest hlc of any stored revision.
 * The store never decrypts: it reads only the parsed header fields.
 *
 * Threads: as tk_store.h.
 */
#include "store_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REV_COLS "seq, id, record_id, author, hlc, generation, size, type, vault, origin"
#define RECORD_COLS                                                                      \
  "id, type, vault, winner, winner_generation, winner_hlc, created_hlc, nheads"

typedef char rev_hex_t[2 * TK_REV_ID_LEN + 1];
typedef char rec_hex_t[2 * TK_RECORD_ID_LEN + 1];

/* ---- reading rows ------------------------------------------------------------ */

static int load_parents(tk_store_t *s, tk_rev_meta_t *m, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(
      s, TK__ST_REV_PARENTS,
      "SELECT parent_id FROM parents WHERE rev_id = ?1 ORDER BY parent_id", &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, m->id, TK_REV_ID_LEN, SQLITE_STATIC));
  m->nparents = 0;
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "reading parents", err);
      break;
    }
    if (m->nparents == TK_MAX_PARENTS ||
        tk__col_blob(st, 0, m->parents[m->nparents], TK_REV_ID_LEN)) {
      rc = tk__store_corrupt(s, "a parent link", err);
      break;
    }
    m->nparents++;
  }
  tk__stmt_put(s, TK__ST_REV_PARENTS, st);
  return rc;
}

/* Fills m from a row of REV_COLS, then its parents. */
static int read_meta(tk_store_t *s, sqlite3_stmt *st, tk_rev_meta_t *m, tk_err_t *err)
{
  memset(m, 0, sizeof *m);
  sqlite3_int64 seq = sqlite3_column_int64(st, 0);
  sqlite3_int64 hlc = sqlite3_column_int64(st, 4);
  sqlite3_int64 gen = sqlite3_column_int64(st, 5);
  sqlite3_int64 size = sqlite3_column_int64(st, 6);
  if (seq <= 0 || hlc < 0 || gen < 1 || gen > UINT32_MAX || size < 0 ||
      size > UINT32_MAX || tk__col_blob(st, 1, m->id, TK_REV_ID_LEN) ||
      tk__col_blob(st, 2, m->record_id, TK_RECORD_ID_LEN) ||
      tk__col_blob(st, 3, m->author, TK_DEVICE_ID_LEN) ||
      tk__col_text(st, 7, m->type, sizeof m->type) ||
      tk__col_text(st, 8, m->vault, sizeof m->vault))
    return tk__store_corrupt(s, "a revision row", err);
  m->has_origin = sqlite3_column_type(st, 9) != SQLITE_NULL;
  if (m->has_origin && tk__col_blob(st, 9, m->origin, TK_DEVICE_ID_LEN))
    return tk__store_corrupt(s, "a revision row", err);
  m->seq = (uint64_t)seq;
  m->hlc = (uint64_t)hlc;
  m->generation = (uint32_t)gen;
  m->size = (uint32_t)size;
  return load_parents(s, m, err);
}

static int read_record(tk_store_t *s, sqlite3_stmt *st, tk_record_info_t *r,
                       tk_err_t *err)
{
  memset(r, 0, sizeof *r);
  sqlite3_int64 gen = sqlite3_column_int64(st, 4);
  sqlite3_int64 whlc = sqlite3_column_int64(st, 5);
  sqlite3_int64 chlc = sqlite3_column_int64(st, 6);
  sqlite3_int64 nheads = sqlite3_column_int64(st, 7);
  if (gen < 1 || gen > UINT32_MAX || whlc < 0 || chlc < 0 || nheads < 1 ||
      nheads > UINT32_MAX || tk__col_blob(st, 0, r->id, TK_RECORD_ID_LEN) ||
      tk__col_text(st, 1, r->type, sizeof r->type) ||
      tk__col_text(st, 2, r->vault, sizeof r->vault) ||
      tk__col_blob(st, 3, r->winner, TK_REV_ID_LEN))
    return tk__store_corrupt(s, "a record row", err);
  r->winner_generation = (uint32_t)gen;
  r->winner_hlc = (uint64_t)whlc;
  r->created_hlc = (uint64_t)chlc;
  r->nheads = (uint32_t)nheads;
  return 0;
}

/* ---- storing a revision ------------------------------------------------------ */

/* The fields a hand-built or parsed tk_rev_t must have for the store. */
static int check_rev(tk_store_t *s, const tk_rev_t *rev, tk_err_t *err)
{
  rev_hex_t hex;
  tk_hex_encode(hex, rev->id, TK_REV_ID_LEN);
  if (!rev->bytes.p || rev->bytes.n == 0)
    return tk_err_set(err, TK_EINVAL, "revision %s has no bytes", hex);
  if (rev->bytes.n > TK_MAX_REVISION)
    return tk_err_set(err, TK_ELIMIT, "revision %s is %zu bytes, more than %u", hex,
                      rev->bytes.n, TK_MAX_REVISION);
  if (rev->nparents > TK_MAX_PARENTS || (rev->nparents && !rev->parents))
    return tk_err_set(err, TK_ELIMIT,
                      "revision %s names %" PRIu32 " parents, more than %d", hex,
                      rev->nparents, TK_MAX_PARENTS);
  if (rev->generation < 1)
    return tk_err_set(err, TK_EINVAL, "revision %s has generation 0", hex);
  if (rev->hlc > (uint64_t)INT64_MAX)
    return tk_err_set(err, TK_ELIMIT, "revision %s has clock %" PRIu64 ", out of range",
                      hex, rev->hlc);
  size_t tn = strnlen(rev->type, sizeof rev->type);
  size_t vn = strnlen(rev->vault, sizeof rev->vault);
  if (tn == 0 || tn == sizeof rev->type || vn == 0 || vn == sizeof rev->vault)
    return tk_err_set(err, TK_EINVAL,
                      "revision %s has an empty or unterminated type or vault", hex);
  for (uint32_t i = 0; i < rev->nparents; i++) {
    const uint8_t *p = rev->parents + (size_t)i * TK_REV_ID_LEN;
    int dup = memcmp(p, rev->id, TK_REV_ID_LEN) == 0;
    for (uint32_t j = 0; j < i && !dup; j++)
      dup = memcmp(p, rev->parents + (size_t)j * TK_REV_ID_LEN, TK_REV_ID_LEN) == 0;
    if (dup)
      return tk_err_set(err, TK_EPARENT, "revision %s names a parent twice or itself",
                        hex);
  }
  (void)s;
  return 0;
}

/* 1 and *seq if revision id is stored, 0 if not, or a negative error. */
static int rev_seq(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN], uint64_t *seq,
                   tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_REV_SEQ, "SELECT seq FROM revisions WHERE id = ?1", &st,
                        err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, id, TK_REV_ID_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    if (seq) *seq = (uint64_t)sqlite3_column_int64(st, 0);
    rc = 1;
  } else if (src != SQLITE_DONE) {
    rc = tk__store_fail(s, src, "looking up a revision", err);
  }
  tk__stmt_put(s, TK__ST_REV_SEQ, st);
  return rc;
}

/* Checks that parent exists and belongs to rev's record, vault and type;
 * *gen gets its generation. */
static int check_parent(tk_store_t *s, const tk_rev_t *rev, const uint8_t *parent,
                        uint32_t *gen, tk_err_t *err)
{
  sqlite3_stmt *st;
  rev_hex_t hex, phex;
  uint8_t record_id[TK_RECORD_ID_LEN];
  char vault[TK_MAX_VAULT_LEN + 1], type[TK_MAX_TYPE_LEN + 1];
  int rc = tk__stmt_get(s, TK__ST_REV_PARENT,
                        "SELECT record_id, vault, type, generation FROM revisions "
                        "WHERE id = ?1",
                        &st, err);
  if (rc) return rc;
  tk_hex_encode(hex, rev->id, TK_REV_ID_LEN);
  tk_hex_encode(phex, parent, TK_REV_ID_LEN);
  TK__BIND(sqlite3_bind_blob(st, 1, parent, TK_REV_ID_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_DONE) {
    rc = tk_err_set(err, TK_EPARENT, "parent %s of revision %s is not in the store", phex,
                    hex);
    goto done;
  }
  if (src != SQLITE_ROW) {
    rc = tk__store_fail(s, src, "looking up a parent", err);
    goto done;
  }
  sqlite3_int64 g = sqlite3_column_int64(st, 3);
  if (g < 1 || g > UINT32_MAX || tk__col_blob(st, 0, record_id, TK_RECORD_ID_LEN) ||
      tk__col_text(st, 1, vault, sizeof vault) ||
      tk__col_text(st, 2, type, sizeof type)) {
    rc = tk__store_corrupt(s, "a revision row", err);
    goto done;
  }
  *gen = (uint32_t)g;
  if (memcmp(record_id, rev->record_id, TK_RECORD_ID_LEN) != 0) {
    rec_hex_t a, b;
    tk_hex_encode(a, record_id, TK_RECORD_ID_LEN);
    tk_hex_encode(b, rev->record_id, TK_RECORD_ID_LEN);
    rc = tk_err_set(err, TK_EPARENT,
                    "parent %s of revision %s belongs to record %s, not to record %s",
                    phex, hex, a, b);
  } else if (strcmp(vault, rev->vault) != 0) {
    rc = tk_err_set(err, TK_EPARENT, "parent %s of revision %s is in vault %s, not in %s",
                    phex, hex, vault, rev->vault);
  } else if (strcmp(type, rev->type) != 0) {
    rc = tk_err_set(err, TK_EPARENT, "parent %s of revision %s has type %s, not %s", phex,
                    hex, type, rev->type);
  }
done:
  tk__stmt_put(s, TK__ST_REV_PARENT, st);
  return rc;
}

static int record_exists(tk_store_t *s, const uint8_t record_id[TK_RECORD_ID_LEN],
                         tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_RECORD_EXISTS, "SELECT 1 FROM records WHERE id = ?1",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, record_id, TK_RECORD_ID_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    rc = 1;
  else if (src != SQLITE_DONE)
    rc = tk__store_fail(s, src, "looking up a record", err);
  tk__stmt_put(s, TK__ST_RECORD_EXISTS, st);
  return rc;
}

/* Checks every parent invariant of tk_store.h for rev. */
static int check_lineage(tk_store_t *s, const tk_rev_t *rev, tk_err_t *err)
{
  rev_hex_t hex;
  uint64_t maxgen = 0;
  tk_hex_encode(hex, rev->id, TK_REV_ID_LEN);
  for (uint32_t i = 0; i < rev->nparents; i++) {
    uint32_t gen = 0;
    int rc = check_parent(s, rev, rev->parents + (size_t)i * TK_REV_ID_LEN, &gen, err);
    if (rc) return rc;
    if (gen > maxgen) maxgen = gen;
  }
  if (rev->nparents > 0) {
    if ((uint64_t)rev->generation != maxgen + 1)
      return tk_err_set(err, TK_EPARENT,
                        "revision %s has generation %" PRIu32
                        ", but its parents make it %" PRIu64,
                        hex, rev->generation, maxgen + 1);
    return 0;
  }
  if (rev->generation != 1)
    return tk_err_set(
        err, TK_EPARENT,
        "revision %s names no parent, so its generation must be 1, not %" PRIu32, hex,
        rev->generation);
  int rc = record_exists(s, rev->record_id, err);
  if (rc == 1) {
    rec_hex_t rhex;
    tk_hex_encode(rhex, rev->record_id, TK_RECORD_ID_LEN);
    return tk_err_set(err, TK_EPARENT,
                      "record %s already exists; a new revision must name a parent "
                      "(revision %s)",
                      rhex, hex);
  }
  return rc;
}

/* Steps a bound statement that returns no rows. */
static int step_write(tk_store_t *s, sqlite3_stmt *st, const char *what, tk_err_t *err)
{
  int src = sqlite3_step(st);
  return src == SQLITE_DONE ? 0 : tk__store_fail(s, src, what, err);
}

static int insert_rev(tk_store_t *s, const tk_rev_t *rev, const uint8_t *origin,
                      uint64_t *seq, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_REV_INSERT,
                        "INSERT INTO revisions(id, record_id, vault, type, author, hlc, "
                        "generation, size, received, bytes, origin) "
                        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, rev->id, TK_REV_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 2, rev->record_id, TK_RECORD_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 3, rev->vault, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 4, rev->type, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 5, rev->author, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 6, (sqlite3_int64)rev->hlc));
  TK__BIND(sqlite3_bind_int64(st, 7, rev->generation));
  TK__BIND(sqlite3_bind_int64(st, 8, (sqlite3_int64)rev->bytes.n));
  TK__BIND(sqlite3_bind_int64(st, 9, (sqlite3_int64)time(NULL)));
  TK__BIND(sqlite3_bind_blob(st, 10, rev->bytes.p, (int)rev->bytes.n, SQLITE_STATIC));
  if (origin)
    TK__BIND(sqlite3_bind_blob(st, 11, origin, TK_DEVICE_ID_LEN, SQLITE_STATIC));
  rc = step_write(s, st, "storing a revision", err);
  if (rc == 0) *seq = (uint64_t)sqlite3_last_insert_rowid(s->db);
  tk__stmt_put(s, TK__ST_REV_INSERT, st);
  return rc;
}

/* Links rev to its parents; the parents stop being heads. */
static int link_parents(tk_store_t *s, const tk_rev_t *rev, tk_err_t *err)
{
  sqlite3_stmt *ins = NULL, *del = NULL;
  int rc =
      tk__stmt_get(s, TK__ST_PARENT_INSERT,
                   "INSERT INTO parents(rev_id, parent_id) VALUES(?1, ?2)", &ins, err);
  if (rc) goto done;
  rc = tk__stmt_get(s, TK__ST_HEAD_DELETE,
                    "DELETE FROM heads WHERE rec = (SELECT n FROM records WHERE id = ?1) "
                    "AND rev_id = ?2",
                    &del, err);
  if (rc) goto done;
  for (uint32_t i = 0; i < rev->nparents && rc == 0; i++) {
    const uint8_t *p = rev->parents + (size_t)i * TK_REV_ID_LEN;
    TK__BIND(sqlite3_bind_blob(ins, 1, rev->id, TK_REV_ID_LEN, SQLITE_STATIC));
    TK__BIND(sqlite3_bind_blob(ins, 2, p, TK_REV_ID_LEN, SQLITE_STATIC));
    rc = step_write(s, ins, "linking a parent", err);
    sqlite3_reset(ins);
    if (rc) break;
    TK__BIND(sqlite3_bind_blob(del, 1, rev->record_id, TK_RECORD_ID_LEN, SQLITE_STATIC));
    TK__BIND(sqlite3_bind_blob(del, 2, p, TK_REV_ID_LEN, SQLITE_STATIC));
    rc = step_write(s, del, "updating heads", err);
    sqlite3_reset(del);
  }
done:
  tk__stmt_put(s, TK__ST_HEAD_DELETE, del);
  tk__stmt_put(s, TK__ST_PARENT_INSERT, ins);
  return rc;
}

/* After the record's row exists (insert_record for a first revision). */
static int insert_head(tk_store_t *s, const tk_rev_t *rev, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_HEAD_INSERT,
                        "INSERT INTO heads(rec, rev_id, generation, record_id) "
                        "SELECT n, ?2, ?3, id FROM records WHERE id = ?1",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, rev->record_id, TK_RECORD_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 2, rev->id, TK_REV_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 3, rev->generation));
  rc = step_write(s, st, "adding a head", err);
  if (rc == 0 && sqlite3_changes(s->db) != 1)
    rc = tk__store_corrupt(s, "a record row (missing for a head)", err);
  tk__stmt_put(s, TK__ST_HEAD_INSERT, st);
  return rc;
}

/* A first revision creates the record's row, which names it the winner. */
static int insert_record(tk_store_t *s, const tk_rev_t *rev, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_RECORD_INSERT,
                        "INSERT INTO records(id, vault, type, created_hlc, winner, "
                        "winner_generation, winner_hlc, nheads) "
                        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?4, 1)",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, rev->record_id, TK_RECORD_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 2, rev->vault, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_text(st, 3, rev->type, -1, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 4, (sqlite3_int64)rev->hlc));
  TK__BIND(sqlite3_bind_blob(st, 5, rev->id, TK_REV_ID_LEN, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_int64(st, 6, rev->generation));
  rc = step_write(s, st, "adding a record", err);
  tk__stmt_put(s, TK__ST_RECORD_INSERT, st);
  return rc;
}

/* Recomputes the record's winner and head count from heads. */
static int update_record(tk_store_t *s, const uint8_t record_id[TK_RECORD_ID_LEN],
                         tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_RECORD_UPDATE,
                        "UPDATE records SET "
                        "nheads = (SELECT count(*) FROM heads WHERE rec = records.n), "
                        "(winner, winner_generation, winner_hlc) = ("
                        "  SELECT h.rev_id, h.generation, r.hlc FROM heads h "
                        "  JOIN revisions r ON r.id = h.rev_id WHERE h.rec = records.n "
                        "  ORDER BY (h.deleted IS 1), h.generation DESC, h.rev_id DESC "
                        "  LIMIT 1) "
                        "WHERE id = ?1",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, record_id, TK_RECORD_ID_LEN, SQLITE_STATIC));
  rc = step_write(s, st, "updating a record", err);
  tk__stmt_put(s, TK__ST_RECORD_UPDATE, st);
  return rc;
}

/* meta hlc_seen = max(hlc_seen, hlc), as decimal text like every setting. */
static int note_hlc(tk_store_t *s, uint64_t hlc, tk_err_t *err)
{
  sqlite3_stmt *st;
  char buf[32];
  int rc =
      tk__stmt_get(s, TK__ST_HLC_SEEN,
                   "INSERT INTO meta(key, value) VALUES('hlc_seen', ?1) "
                   "ON CONFLICT(key) DO UPDATE SET value = excluded.value "
                   "WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
                   &st, err);
  if (rc) return rc;
  snprintf(buf, sizeof buf, "%" PRIu64, hlc);
  TK__BIND(sqlite3_bind_text(st, 1, buf, -1, SQLITE_STATIC));
  rc = step_write(s, st, "noting the clock", err);
  tk__stmt_put(s, TK__ST_HLC_SEEN, st);
  return rc;
}

int tk_store_put_rev(tk_store_t *s, const tk_rev_t *rev, uint64_t *seq_out, tk_err_t *err)
{
  return tk_store_put_rev_from(s, rev, NULL, seq_out, err);
}

int tk_store_put_rev_from(tk_store_t *s, const tk_rev_t *rev,
                          const uint8_t origin[TK_DEVICE_ID_LEN], uint64_t *seq_out,
                          tk_err_t *err)
{
  uint64_t seq = 0;
  rev_hex_t hex;
  int rc = check_rev(s, rev, err);
  if (rc) return rc;
  rc = tk__write_begin(s, err);
  if (rc) return rc;

  rc = rev_seq(s, rev->id, &seq, err);
  if (rc == 1) {
    if (seq_out) *seq_out = seq;
    tk_hex_encode(hex, rev->id, TK_REV_ID_LEN);
    rc = tk_err_set(err, TK_EEXIST, "revision %s is already stored (seq %" PRIu64 ")",
                    hex, seq);
  }
  if (rc) goto done;
  rc = check_lineage(s, rev, err);
  if (rc) goto done;
  rc = insert_rev(s, rev, origin, &seq, err);
  if (rc) goto done;
  if (rev->nparents == 0) rc = insert_record(s, rev, err);
  if (rc == 0) rc = link_parents(s, rev, err);
  if (rc == 0) rc = insert_head(s, rev, err);
  if (rc == 0 && rev->nparents > 0) rc = update_record(s, rev->record_id, err);
  if (rc == 0) rc = note_hlc(s, rev->hlc, err);
  if (rc == 0 && rev->nattach > 0) rc = tk__chunk_refs_put(s, rev, err);
done:
  rc = tk__write_end(s, rc, err);
  if (rc == 0 && seq_out) *seq_out = seq;
  return rc;
}

/* ---- reading revisions --------------------------------------------------------- */

int tk_store_has_rev(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN])
{
  return rev_seq(s, id, NULL, NULL);
}

static int rev_not_found(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN], tk_err_t *err)
{
  rev_hex_t hex;
  tk_hex_encode(hex, id, TK_REV_ID_LEN);
  return tk_err_set(err, TK_ENOTFOUND, "revision %s is not in store %s", hex, s->path);
}

int tk_store_get_rev(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN], tk_buf_t *out,
                     tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_REV_BYTES, "SELECT bytes FROM revisions WHERE id = ?1",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, id, TK_REV_ID_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    const void *p = sqlite3_column_blob(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    if (!p || n == 0 || n > TK_MAX_REVISION)
      rc = tk__store_corrupt(s, "a revision", err);
    else if (tk_buf_append(out, p, n) != 0)
      rc = tk_err_set(err, TK_ENOMEM, "out of memory reading a revision");
  } else if (src == SQLITE_DONE) {
    rc = rev_not_found(s, id, err);
  } else {
    rc = tk__store_fail(s, src, "reading a revision", err);
  }
  tk__stmt_put(s, TK__ST_REV_BYTES, st);
  return rc;
}

int tk_store_rev_meta(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN], tk_rev_meta_t *out,
                      tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_REV_META,
                        "SELECT " REV_COLS " FROM revisions WHERE id = ?1", &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, id, TK_REV_ID_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    rc = read_meta(s, st, out, err);
  else if (src == SQLITE_DONE)
    rc = rev_not_found(s, id, err);
  else
    rc = tk__store_fail(s, src, "reading a revision", err);
  tk__stmt_put(s, TK__ST_REV_META, st);
  return rc;
}

int tk_store_heads(tk_store_t *s, const uint8_t record_id[TK_RECORD_ID_LEN],
                   uint8_t (*ids)[TK_REV_ID_LEN], size_t max, size_t *n, tk_err_t *err)
{
  sqlite3_stmt *st;
  size_t total = 0;
  if (n) *n = 0;
  int rc = tk__stmt_get(s, TK__ST_HEADS,
                        "SELECT rev_id FROM heads "
                        "WHERE rec = (SELECT n FROM records WHERE id = ?1) "
                        "ORDER BY (deleted IS 1), generation DESC, rev_id DESC",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, record_id, TK_RECORD_ID_LEN, SQLITE_STATIC));
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "reading heads", err);
      goto done;
    }
    if (total < max) {
      if (tk__col_blob(st, 0, ids[total], TK_REV_ID_LEN)) {
        rc = tk__store_corrupt(s, "a head", err);
        goto done;
      }
      if (n) *n = total + 1;
    }
    total++;
  }
  if (total == 0) {
    rec_hex_t hex;
    tk_hex_encode(hex, record_id, TK_RECORD_ID_LEN);
    rc = tk_err_set(err, TK_ENOTFOUND, "record %s is not in store %s", hex, s->path);
  } else if (total > INT32_MAX) {
    rc = tk__store_corrupt(s, "the heads of a record", err);
  } else {
    rc = (int)total;
  }
done:
  tk__stmt_put(s, TK__ST_HEADS, st);
  return rc;
}

/* ---- records ------------------------------------------------------------------- */

typedef struct record_array {
  tk_record_info_t *v;
  size_t n, cap;
} record_array_t;

static int append_record(void *ctx, const tk_record_info_t *r)
{
  record_array_t *a = ctx;
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 64;
    tk_record_info_t *v = realloc(a->v, cap * sizeof *v);
    if (!v) return TK_ENOMEM;
    a->v = v;
    a->cap = cap;
  }
  a->v[a->n++] = *r;
  return 0;
}

int tk_store_records_array(tk_store_t *s, const char *type, const char *vault,
                           int conflicts_only, tk_record_info_t **out, size_t *n,
                           tk_err_t *err)
{
  record_array_t a = {NULL, 0, 0};
  int rc = tk_store_records(s, type, vault, conflicts_only, append_record, &a, err);
  if (rc == TK_ENOMEM) tk_err_set(err, rc, "out of memory listing records");
  if (rc) {
    free(a.v);
    a.v = NULL;
    a.n = 0;
  }
  *out = a.v;
  *n = a.n;
  return rc;
}

int tk_store_records(tk_store_t *s, const char *type, const char *vault,
                     int conflicts_only, tk_record_cb cb, void *ctx, tk_err_t *err)
{
  sqlite3_stmt *st;
  tk_record_info_t r;
  char sql[512];
  int variant = (type ? 1 : 0) | (vault ? 2 : 0) | (conflicts_only ? 4 : 0);
  if ((type && strlen(type) > TK_MAX_TYPE_LEN) ||
      (vault && strlen(vault) > TK_MAX_VAULT_LEN))
    return tk_err_set(err, TK_EINVAL, "type or vault name too long");
  /* One statement per filter combination, written out so that sqlite can
   * use the index for it (records_type, records_vault, records_conflicts). */
  snprintf(sql, sizeof sql,
           "SELECT " RECORD_COLS " FROM records WHERE 1%s%s%s "
           "ORDER BY winner_hlc DESC, id DESC",
           type ? " AND type = ?1" : "", vault ? " AND vault = ?2" : "",
           conflicts_only ? " AND nheads > 1" : "");
  int rc = tk__stmt_get(s, TK__ST_RECORDS + variant, sql, &st, err);
  if (rc) return rc;
  if (type) TK__BIND(sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC));
  if (vault) TK__BIND(sqlite3_bind_text(st, 2, vault, -1, SQLITE_STATIC));
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "listing records", err);
      break;
    }
    rc = read_record(s, st, &r, err);
    if (rc == 0) rc = cb(ctx, &r);
    if (rc) break;
  }
  tk__stmt_put(s, TK__ST_RECORDS + variant, st);
  return rc;
}

int tk_store_record_info(tk_store_t *s, const uint8_t record_id[TK_RECORD_ID_LEN],
                         tk_record_info_t *out, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_RECORD_INFO,
                        "SELECT " RECORD_COLS " FROM records WHERE id = ?1", &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, record_id, TK_RECORD_ID_LEN, SQLITE_STATIC));
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW) {
    rc = read_record(s, st, out, err);
  } else if (src == SQLITE_DONE) {
    rec_hex_t hex;
    tk_hex_encode(hex, record_id, TK_RECORD_ID_LEN);
    rc = tk_err_set(err, TK_ENOTFOUND, "record %s is not in store %s", hex, s->path);
  } else {
    rc = tk__store_fail(s, src, "reading a record", err);
  }
  tk__stmt_put(s, TK__ST_RECORD_INFO, st);
  return rc;
}

int tk_store_history(tk_store_t *s, const uint8_t record_id[TK_RECORD_ID_LEN],
                     tk_rev_cb cb, void *ctx, tk_err_t *err)
{
  sqlite3_stmt *st;
  tk_rev_meta_t m;
  int rc = tk__stmt_get(
      s, TK__ST_HISTORY,
      "SELECT " REV_COLS " FROM revisions WHERE record_id = ?1 ORDER BY seq", &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, record_id, TK_RECORD_ID_LEN, SQLITE_STATIC));
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "reading history", err);
      break;
    }
    rc = read_meta(s, st, &m, err);
    if (rc == 0) rc = cb(ctx, &m);
    if (rc) break;
  }
  tk__stmt_put(s, TK__ST_HISTORY, st);
  return rc;
}

int tk_store_changes(tk_store_t *s, uint64_t since, size_t limit, tk_rev_bytes_cb cb,
                     void *ctx, tk_err_t *err)
{
  sqlite3_stmt *st;
  tk_rev_meta_t m;
  if (since >= (uint64_t)INT64_MAX) return 0;
  int rc = tk__stmt_get(s, TK__ST_CHANGES,
                        "SELECT " REV_COLS ", bytes FROM revisions WHERE seq > ?1 "
                        "ORDER BY seq LIMIT ?2",
                        &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_int64(st, 1, (sqlite3_int64)since));
  TK__BIND(sqlite3_bind_int64(
      st, 2, limit == 0 || limit > INT64_MAX ? -1 : (sqlite3_int64)limit));
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "reading changes", err);
      break;
    }
    rc = read_meta(s, st, &m, err);
    if (rc) break;
    const uint8_t *p = sqlite3_column_blob(st, 10);
    size_t n = (size_t)sqlite3_column_bytes(st, 10);
    if (!p || n != m.size) {
      rc = tk__store_corrupt(s, "a revision", err);
      break;
    }
    rc = cb(ctx, &m, TK_SLICE(p, n));
    if (rc) break;
  }
  tk__stmt_put(s, TK__ST_CHANGES, st);
  return rc;
}

int tk_store_last_seq(tk_store_t *s, uint64_t *seq, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk__stmt_get(s, TK__ST_LAST_SEQ, "SELECT coalesce(max(seq), 0) FROM revisions",
                        &st, err);
  if (rc) return rc;
  int src = sqlite3_step(st);
  if (src == SQLITE_ROW)
    *seq = (uint64_t)sqlite3_column_int64(st, 0);
  else
    rc = tk__store_fail(s, src, "reading the last seq", err);
  tk__stmt_put(s, TK__ST_LAST_SEQ, st);
  return rc;
}

/* ---- id prefixes --------------------------------------------------------------- */

static int hex_digit(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Ids with a hex prefix are exactly those between the prefix padded with
 * zero bits and the prefix padded with one bits, so the lookup is a range
 * scan of the id index. */
int tk_store_resolve_prefix(tk_store_t *s, int kind, const char *hex, uint8_t *out,
                            tk_err_t *err)
{
  uint8_t lo[TK_REV_ID_LEN], hi[TK_REV_ID_LEN], first[TK_REV_ID_LEN];
  sqlite3_stmt *st;
  size_t idlen, n = hex ? strnlen(hex, 2 * TK_REV_ID_LEN + 1) : 0;
  int slot, found = 0;
  const char *what = kind == TK_ID_RECORD ? "record" : "revision";
  if (kind == TK_ID_RECORD) {
    idlen = TK_RECORD_ID_LEN;
    slot = TK__ST_PREFIX_REC;
  } else if (kind == TK_ID_REVISION) {
    idlen = TK_REV_ID_LEN;
    slot = TK__ST_PREFIX_REV;
  } else {
    return tk_err_set(err, TK_EINVAL, "unknown id kind %d", kind);
  }
  if (n < 4 || n > 2 * idlen)
    return tk_err_set(err, TK_EINVAL,
                      "%s id prefix \"%.80s\" must be 4 to %zu hex digits", what,
                      hex ? hex : "", 2 * idlen);
  memset(lo, 0x00, idlen);
  memset(hi, 0xff, idlen);
  for (size_t i = 0; i < n; i++) {
    int d = hex_digit(hex[i]);
    if (d < 0)
      return tk_err_set(err, TK_EINVAL, "%s id prefix \"%s\" is not hexadecimal", what,
                        hex);
    int shift = (i % 2) ? 0 : 4;
    lo[i / 2] = (uint8_t)((lo[i / 2] & ~(0xf << shift)) | (d << shift));
    hi[i / 2] = (uint8_t)((hi[i / 2] & ~(0xf << shift)) | (d << shift));
  }
  int rc =
      tk__stmt_get(s, slot,
                   kind == TK_ID_RECORD
                       ? "SELECT id FROM records WHERE id BETWEEN ?1 AND ?2 LIMIT 2"
                       : "SELECT id FROM revisions WHERE id BETWEEN ?1 AND ?2 LIMIT 2",
                   &st, err);
  if (rc) return rc;
  TK__BIND(sqlite3_bind_blob(st, 1, lo, (int)idlen, SQLITE_STATIC));
  TK__BIND(sqlite3_bind_blob(st, 2, hi, (int)idlen, SQLITE_STATIC));
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "resolving an id prefix", err);
      goto done;
    }
    if (found == 0 && tk__col_blob(st, 0, first, idlen)) {
      rc = tk__store_corrupt(s, "an id", err);
      goto done;
    }
    found++;
  }
  if (found == 0)
    rc = tk_err_set(err, TK_ENOTFOUND, "no %s id starts with %s", what, hex);
  else if (found == 1)
    memcpy(out, first, idlen);
  else
    rc = tk_err_set(err, TK_EAMBIG,
                    "more than one %s id starts with %s; give more digits", what, hex);
done:
  tk__stmt_put(s, slot, st);
  return rc;
}

/* ---- tombstone flags of heads -------------------------------------------------- */

int tk_store_heads_unknown(tk_store_t *s, tk_store_head_ref_t **out, size_t *n,
                           tk_err_t *err)
{
  sqlite3_stmt *st;
  tk_store_head_ref_t *v = NULL;
  size_t cap = 0, k = 0;
  *out = NULL;
  *n = 0;
  int rc = tk__stmt_get(s, TK__ST_HEADS_UNKNOWN,
                        /* records first, by the conflicts index: few rows however many
                         * heads are unknown */
                        "SELECT h.record_id, h.rev_id FROM records r CROSS JOIN heads h "
                        "ON h.rec = r.n "
                        "WHERE r.nheads > 1 AND h.deleted IS NULL",
                        &st, err);
  if (rc) return rc;
  for (;;) {
    int src = sqlite3_step(st);
    if (src == SQLITE_DONE) break;
    if (src != SQLITE_ROW) {
      rc = tk__store_fail(s, src, "reading heads", err);
      break;
    }
    if (k == cap) {
      size_t nc = cap ? cap * 2 : 64;
      tk_store_head_ref_t *nv = realloc(v, nc * sizeof *v);
      if (!nv) {
        rc = tk_err_set(err, TK_ENOMEM, "out of memory");
        break;
      }
      v = nv;
      cap = nc;
    }
    if (tk__col_blob(st, 0, v[k].record_id, TK_RECORD_ID_LEN) ||
        tk__col_blob(st, 1, v[k].rev_id, TK_REV_ID_LEN)) {
      rc = tk__store_corrupt(s, "a head", err);
      break;
    }
    k++;
  }
  tk__stmt_put(s, TK__ST_HEADS_UNKNOWN, st);
  if (rc) {
    free(v);
    return rc;
  }
  *out = v;
  *n = k;
  return 0;
}

int tk_store_head_deleted(tk_store_t *s, const uint8_t record_id[TK_RECORD_ID_LEN],
                          const uint8_t rev_id[TK_REV_ID_LEN], int deleted, tk_err_t *err)
{
  sqlite3_stmt *st;
  int rc = tk_store_begin(s, err);
  if (rc) return rc;
  rc = tk__stmt_get(s, TK__ST_HEAD_DELETED,
                    "UPDATE heads SET deleted = ?3 "
                    "WHERE rec = (SELECT n FROM records WHERE id = ?1) AND rev_id = ?2",
                    &st, err);
  if (!rc) {
    TK__BIND(sqlite3_bind_blob(st, 1, record_id, TK_RECORD_ID_LEN, SQLITE_STATIC));
    TK__BIND(sqlite3_bind_blob(st, 2, rev_id, TK_REV_ID_LEN, SQLITE_STATIC));
    TK__BIND(sqlite3_bind_int(st, 3, deleted ? 1 : 0));
    rc = step_write(s, st, "noting a tombstone", err);
    int changed = rc == 0 && sqlite3_changes(s->db) > 0;
    tk__stmt_put(s, TK__ST_HEAD_DELETED, st);
    if (changed) rc = update_record(s, record_id, err);
  }
  if (!rc) return tk_store_commit(s, err);
  tk_store_rollback(s);
  return rc;
}
