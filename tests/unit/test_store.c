/*
 * test_store.c: the local store (core/store/store.c, core/store/store_revs.c) with
 * revisions built by hand: heads and winners, the parent invariants, the
 * changes feed, transactions, the small tables, the clock, reopening,
 * versions, file mode and locking.
 */
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "tk_store.h"
#include "tk_test.h"

/* A hand-built revision with its own storage. */
typedef struct trev {
  tk_rev_t rev;
  uint8_t bytes[48];
  uint8_t parents[TK_MAX_PARENTS * TK_REV_ID_LEN];
} trev_t;

static int path_n;

/* A fresh store path in the test directory. */
static const char *new_path(char *buf, size_t n)
{
  snprintf(buf, n, "%s/store%d.db", tk_test_tmpdir(), ++path_n);
  return buf;
}

static int cmp_id(const void *a, const void *b)
{
  return memcmp(a, b, TK_REV_ID_LEN);
}

/* Fills t as a revision id of record rec with the given generation, clock
 * and parents (sorted, as tk_rev_parse would give them). The bytes are any
 * blob that names the id, so a feed reader can tell which it got. */
static void mkrev(trev_t *t, const uint8_t rec[TK_RECORD_ID_LEN],
                  const uint8_t id[TK_REV_ID_LEN], uint32_t gen, const trev_t *const *ps,
                  uint32_t np, uint64_t hlc)
{
  memset(t, 0, sizeof *t);
  memcpy(t->rev.id, id, TK_REV_ID_LEN);
  memcpy(t->rev.record_id, rec, TK_RECORD_ID_LEN);
  memset(t->rev.author, 0xa5, TK_DEVICE_ID_LEN);
  t->rev.hlc = hlc;
  t->rev.generation = gen;
  strcpy(t->rev.type, "case");
  strcpy(t->rev.vault, "osh-cases");
  for (uint32_t i = 0; i < np; i++)
    memcpy(t->parents + i * TK_REV_ID_LEN, ps[i]->rev.id, TK_REV_ID_LEN);
  qsort(t->parents, np, TK_REV_ID_LEN, cmp_id);
  t->rev.nparents = np;
  t->rev.parents = np ? t->parents : NULL;
  memcpy(t->bytes, "TKR1", 4);
  memcpy(t->bytes + 4, id, TK_REV_ID_LEN);
  memcpy(t->bytes + 36, &hlc, sizeof hlc);
  t->rev.bytes = TK_SLICE(t->bytes, sizeof t->bytes);
}

static void fill_id(uint8_t id[TK_REV_ID_LEN], uint8_t b)
{
  memset(id, b, TK_REV_ID_LEN);
}

/* Rows of every revision-related table and meta, through a separate
 * connection, so "the store is unchanged" can be checked. */
static long count_rows(const char *path)
{
  sqlite3 *db;
  sqlite3_stmt *st;
  long total = -1;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) goto done;
  if (sqlite3_prepare_v2(db,
                         "SELECT (SELECT count(*) FROM revisions) * 1000000 + "
                         "(SELECT count(*) FROM parents) * 10000 + "
                         "(SELECT count(*) FROM heads) * 100 + "
                         "(SELECT count(*) FROM records) * 10 + "
                         "(SELECT count(*) FROM meta)",
                         -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW) total = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
done:
  sqlite3_close(db);
  return total;
}

static const uint8_t REC_A[TK_RECORD_ID_LEN] = {0xaa, 1, 2,  3,  4,  5,  6,  7,
                                                8,    9, 10, 11, 12, 13, 14, 15};
static const uint8_t REC_B[TK_RECORD_ID_LEN] = {0xbb, 1, 2,  3,  4,  5,  6,  7,
                                                8,    9, 10, 11, 12, 13, 14, 15};

static tk_store_t *open_new(char *path, size_t n)
{
  tk_store_t *s = NULL;
  tk_err_t err;
  new_path(path, n);
  if (tk_store_open(&s, path, TK_STORE_CREATE, &err) != 0) {
    fprintf(stderr, "open %s: %s\n", path, tk_err_str(&err));
    return NULL;
  }
  return s;
}

/* ---- history collection --------------------------------------------------- */

typedef struct collect {
  int n;
  uint64_t seqs[64];
  uint8_t ids[64][TK_REV_ID_LEN];
  uint32_t nparents[64];
  size_t bytes_n[64];
  int stop_at;
} collect_t;

static int collect_meta(void *ctx, const tk_rev_meta_t *m)
{
  collect_t *c = ctx;
  if (c->n < 64) {
    c->seqs[c->n] = m->seq;
    memcpy(c->ids[c->n], m->id, TK_REV_ID_LEN);
    c->nparents[c->n] = m->nparents;
  }
  c->n++;
  return c->stop_at && c->n == c->stop_at ? 42 : 0;
}

static int collect_bytes(void *ctx, const tk_rev_meta_t *m, tk_slice_t b)
{
  collect_t *c = ctx;
  if (c->n < 64) c->bytes_n[c->n] = b.n;
  if (b.n != m->size || b.n < 36 || memcmp(b.p + 4, m->id, TK_REV_ID_LEN) != 0)
    return -99;
  return collect_meta(ctx, m);
}

/* ---- tests -------------------------------------------------------------------- */

static void test_linear(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  trev_t r[3];
  uint8_t id[TK_REV_ID_LEN];
  uint64_t seq = 0;
  for (int i = 0; i < 3; i++) {
    const trev_t *p = i ? &r[i - 1] : NULL;
    fill_id(id, (uint8_t)(0x30 - i)); /* later revisions have smaller ids */
    mkrev(&r[i], REC_A, id, (uint32_t)i + 1, &p, i ? 1 : 0, 1000 + (uint64_t)i);
    CHECK_RC(tk_store_put_rev(s, &r[i].rev, &seq, &err), 0);
    CHECK(seq == (uint64_t)i + 1);
  }
  uint8_t heads[4][TK_REV_ID_LEN];
  size_t n = 0;
  CHECK_RC(tk_store_heads(s, REC_A, heads, 4, &n, &err), 1);
  CHECK(n == 1 && memcmp(heads[0], r[2].rev.id, TK_REV_ID_LEN) == 0);

  tk_record_info_t info;
  CHECK_RC(tk_store_record_info(s, REC_A, &info, &err), 0);
  CHECK(memcmp(info.winner, r[2].rev.id, TK_REV_ID_LEN) == 0);
  CHECK(info.nheads == 1 && info.winner_generation == 3 && info.winner_hlc == 1002);
  CHECK(info.created_hlc == 1000);
  CHECK(strcmp(info.type, "case") == 0 && strcmp(info.vault, "osh-cases") == 0);

  CHECK_RC(tk_store_has_rev(s, r[1].rev.id), 1);
  fill_id(id, 0x77);
  CHECK_RC(tk_store_has_rev(s, id), 0);
  tk_buf_t b = TK_BUF_INIT;
  CHECK_RC(tk_store_get_rev(s, id, &b, &err), TK_ENOTFOUND);
  CHECK_RC(tk_store_get_rev(s, r[1].rev.id, &b, &err), 0);
  int same = b.n == sizeof r[1].bytes && memcmp(b.p, r[1].bytes, b.n) == 0;
  tk_buf_free(&b);
  CHECK(same);

  tk_rev_meta_t m;
  CHECK_RC(tk_store_rev_meta(s, r[2].rev.id, &m, &err), 0);
  CHECK(m.seq == 3 && m.generation == 3 && m.hlc == 1002 && m.size == sizeof r[2].bytes);
  CHECK(m.nparents == 1 && memcmp(m.parents[0], r[1].rev.id, TK_REV_ID_LEN) == 0);
  CHECK(memcmp(m.record_id, REC_A, TK_RECORD_ID_LEN) == 0 && m.author[0] == 0xa5);
  CHECK(strcmp(m.type, "case") == 0 && strcmp(m.vault, "osh-cases") == 0);

  collect_t c = {0};
  CHECK_RC(tk_store_history(s, REC_A, collect_meta, &c, &err), 0);
  CHECK(c.n == 3);
  for (int i = 0; i < 3; i++) {
    CHECK(c.seqs[i] == (uint64_t)i + 1);
    CHECK(memcmp(c.ids[i], r[i].rev.id, TK_REV_ID_LEN) == 0);
    CHECK(c.nparents[i] == (i ? 1u : 0u));
  }
  uint64_t last = 0;
  CHECK_RC(tk_store_last_seq(s, &last, &err), 0);
  CHECK(last == 3);
  CHECK_RC(tk_store_heads(s, REC_B, heads, 4, &n, &err), TK_ENOTFOUND);
  CHECK_RC(tk_store_record_info(s, REC_B, &info, &err), TK_ENOTFOUND);
  tk_store_close(s);
}

static int count_records(void *ctx, const tk_record_info_t *r)
{
  int *n = ctx;
  (void)r;
  (*n)++;
  return 0;
}

static void test_conflict_and_merge(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  trev_t root, a, b, c, m;
  uint8_t id[TK_REV_ID_LEN];
  const trev_t *p;
  fill_id(id, 0x50);
  mkrev(&root, REC_A, id, 1, NULL, 0, 100);
  p = &root;
  fill_id(id, 0x20);
  mkrev(&a, REC_A, id, 2, &p, 1, 200);
  fill_id(id, 0x30);
  mkrev(&b, REC_A, id, 2, &p, 1, 150);
  CHECK_RC(tk_store_put_rev(s, &root.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &a.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &b.rev, NULL, &err), 0);

  uint8_t heads[4][TK_REV_ID_LEN];
  size_t n = 0;
  CHECK_RC(tk_store_heads(s, REC_A, heads, 4, &n, &err), 2);
  CHECK(n == 2);
  /* same generation: the higher id wins */
  CHECK(memcmp(heads[0], b.rev.id, TK_REV_ID_LEN) == 0);
  CHECK(memcmp(heads[1], a.rev.id, TK_REV_ID_LEN) == 0);
  /* max smaller than the head count: the count is still the total */
  CHECK_RC(tk_store_heads(s, REC_A, heads, 1, &n, &err), 2);
  CHECK(n == 1 && memcmp(heads[0], b.rev.id, TK_REV_ID_LEN) == 0);
  tk_record_info_t info;
  CHECK_RC(tk_store_record_info(s, REC_A, &info, &err), 0);
  CHECK(info.nheads == 2 && memcmp(info.winner, b.rev.id, TK_REV_ID_LEN) == 0);
  CHECK(info.winner_hlc == 150);
  int nrec = 0;
  CHECK_RC(tk_store_records(s, NULL, NULL, 1, count_records, &nrec, &err), 0);
  CHECK(nrec == 1);

  /* a child of a: higher generation wins over the higher id */
  p = &a;
  fill_id(id, 0x10);
  mkrev(&c, REC_A, id, 3, &p, 1, 300);
  CHECK_RC(tk_store_put_rev(s, &c.rev, NULL, &err), 0);
  CHECK_RC(tk_store_heads(s, REC_A, heads, 4, &n, &err), 2);
  CHECK(memcmp(heads[0], c.rev.id, TK_REV_ID_LEN) == 0);
  CHECK(memcmp(heads[1], b.rev.id, TK_REV_ID_LEN) == 0);
  /* both sides are kept */
  CHECK_RC(tk_store_has_rev(s, a.rev.id), 1);
  CHECK_RC(tk_store_has_rev(s, b.rev.id), 1);

  /* a merge naming both heads: one head again */
  const trev_t *ps[2] = {&c, &b};
  fill_id(id, 0x05);
  mkrev(&m, REC_A, id, 4, ps, 2, 400);
  CHECK_RC(tk_store_put_rev(s, &m.rev, NULL, &err), 0);
  CHECK_RC(tk_store_heads(s, REC_A, heads, 4, &n, &err), 1);
  CHECK(memcmp(heads[0], m.rev.id, TK_REV_ID_LEN) == 0);
  CHECK_RC(tk_store_record_info(s, REC_A, &info, &err), 0);
  CHECK(info.nheads == 1 && info.winner_generation == 4 && info.winner_hlc == 400);
  nrec = 0;
  CHECK_RC(tk_store_records(s, NULL, NULL, 1, count_records, &nrec, &err), 0);
  CHECK(nrec == 0);
  tk_store_close(s);
}

/* A random DAG over three records, stored in two different topological
 * orders into two stores: heads and winners must be the same, and equal to
 * the heads computed here independently. */
#define DAG_N 60
static void test_order_independence(void)
{
  char p1[300], p2[300];
  tk_err_t err;
  static trev_t revs[DAG_N];
  int rec_of[DAG_N], order[DAG_N], done_[DAG_N], is_parent[DAG_N];
  uint8_t recs[3][TK_RECORD_ID_LEN];
  srand(12345);
  for (int r = 0; r < 3; r++) {
    memcpy(recs[r], REC_A, TK_RECORD_ID_LEN);
    recs[r][15] = (uint8_t)(0x40 + r);
  }
  memset(is_parent, 0, sizeof is_parent);
  for (int i = 0; i < DAG_N; i++) {
    uint8_t id[TK_REV_ID_LEN];
    tk_random(id, sizeof id);
    int r = i < 3 ? i : rand() % 3;
    rec_of[i] = r;
    const trev_t *ps[2];
    int pidx[2], np = 0;
    if (i >= 3) {
      /* one or two distinct earlier revisions of the same record */
      int want = 1 + rand() % 2;
      for (int tries = 0; tries < 100 && np < want; tries++) {
        int j = rand() % i;
        if (rec_of[j] != r || (np == 1 && pidx[0] == j)) continue;
        pidx[np++] = j;
      }
    }
    uint32_t gen = 1;
    for (int k = 0; k < np; k++) {
      ps[k] = &revs[pidx[k]];
      is_parent[pidx[k]] = 1;
      if (revs[pidx[k]].rev.generation + 1 > gen) gen = revs[pidx[k]].rev.generation + 1;
    }
    mkrev(&revs[i], recs[r], id, gen, ps, (uint32_t)np, 1000 + (uint64_t)i);
  }
  /* a second topological order: repeatedly pick a random ready revision */
  memset(done_, 0, sizeof done_);
  for (int k = 0; k < DAG_N; k++) {
    int ready[DAG_N], nr = 0;
    for (int i = 0; i < DAG_N; i++) {
      if (done_[i]) continue;
      int ok = 1;
      for (uint32_t q = 0; q < revs[i].rev.nparents; q++)
        for (int j = 0; j < DAG_N; j++)
          if (!done_[j] && memcmp(revs[j].rev.id, revs[i].parents + q * TK_REV_ID_LEN,
                                  TK_REV_ID_LEN) == 0)
            ok = 0;
      if (ok) ready[nr++] = i;
    }
    CHECK(nr > 0);
    order[k] = ready[rand() % nr];
    done_[order[k]] = 1;
  }
  int differs = 0;
  for (int k = 0; k < DAG_N; k++)
    differs |= order[k] != k;
  CHECK(differs);

  tk_store_t *s1 = open_new(p1, sizeof p1);
  tk_store_t *s2 = open_new(p2, sizeof p2);
  CHECK(s1 && s2);
  for (int k = 0; k < DAG_N; k++) {
    CHECK_RC(tk_store_put_rev(s1, &revs[k].rev, NULL, &err), 0);
    CHECK_RC(tk_store_put_rev(s2, &revs[order[k]].rev, NULL, &err), 0);
  }
  int conflicts = 0;
  for (int r = 0; r < 3; r++) {
    uint8_t h1[DAG_N][TK_REV_ID_LEN], h2[DAG_N][TK_REV_ID_LEN];
    size_t n1, n2;
    int t1 = tk_store_heads(s1, recs[r], h1, DAG_N, &n1, &err);
    int t2 = tk_store_heads(s2, recs[r], h2, DAG_N, &n2, &err);
    CHECK(t1 >= 1 && t1 == t2 && n1 == n2 && n1 == (size_t)t1);
    CHECK(memcmp(h1, h2, n1 * TK_REV_ID_LEN) == 0);
    /* the heads computed here, and the winner among them */
    size_t expect = 0;
    int best = -1;
    for (int i = 0; i < DAG_N; i++) {
      if (rec_of[i] != r || is_parent[i]) continue;
      expect++;
      if (best < 0 || tk_rev_winner_cmp(revs[i].rev.generation, revs[i].rev.id,
                                        revs[best].rev.generation, revs[best].rev.id) > 0)
        best = i;
    }
    CHECK(expect == n1);
    CHECK(memcmp(h1[0], revs[best].rev.id, TK_REV_ID_LEN) == 0);
    tk_record_info_t i1, i2;
    CHECK_RC(tk_store_record_info(s1, recs[r], &i1, &err), 0);
    CHECK_RC(tk_store_record_info(s2, recs[r], &i2, &err), 0);
    CHECK(memcmp(i1.winner, revs[best].rev.id, TK_REV_ID_LEN) == 0);
    CHECK(memcmp(i2.winner, i1.winner, TK_REV_ID_LEN) == 0 && i1.nheads == i2.nheads);
    CHECK(i1.winner_hlc == i2.winner_hlc && i1.created_hlc == i2.created_hlc);
    if (n1 > 1) conflicts++;
  }
  CHECK(conflicts > 0); /* the DAG exercised conflicts */
  tk_store_close(s1);
  tk_store_close(s2);
}

static void test_parent_refused(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  trev_t root, other, bad;
  uint8_t id[TK_REV_ID_LEN];
  const trev_t *p;
  fill_id(id, 0x01);
  mkrev(&root, REC_A, id, 1, NULL, 0, 10);
  fill_id(id, 0x02);
  mkrev(&other, REC_B, id, 1, NULL, 0, 10);
  CHECK_RC(tk_store_put_rev(s, &root.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &other.rev, NULL, &err), 0);
  long before = count_rows(path);
  CHECK(before > 0);

  /* missing parent (one present, one missing: nothing partial) */
  trev_t ghost;
  fill_id(id, 0x0f);
  mkrev(&ghost, REC_A, id, 1, NULL, 0, 10);
  const trev_t *ps[2] = {&root, &ghost};
  fill_id(id, 0x03);
  mkrev(&bad, REC_A, id, 2, ps, 2, 20);
  CHECK_RC(tk_store_put_rev(s, &bad.rev, NULL, &err), TK_EPARENT);
  CHECK(strstr(err.msg, "0f0f0f0f") && strstr(err.msg, "is not in the store"));
  CHECK(count_rows(path) == before);
  CHECK_RC(tk_store_has_rev(s, bad.rev.id), 0);

  /* parent of another record */
  p = &other;
  mkrev(&bad, REC_A, id, 2, &p, 1, 20);
  CHECK_RC(tk_store_put_rev(s, &bad.rev, NULL, &err), TK_EPARENT);
  CHECK(strstr(err.msg, "belongs to record"));
  /* other vault, other type */
  p = &root;
  mkrev(&bad, REC_A, id, 2, &p, 1, 20);
  strcpy(bad.rev.vault, "testimonies");
  CHECK_RC(tk_store_put_rev(s, &bad.rev, NULL, &err), TK_EPARENT);
  CHECK(strstr(err.msg, "vault"));
  mkrev(&bad, REC_A, id, 2, &p, 1, 20);
  strcpy(bad.rev.type, "appeal");
  CHECK_RC(tk_store_put_rev(s, &bad.rev, NULL, &err), TK_EPARENT);
  CHECK(strstr(err.msg, "type"));

  /* wrong generations */
  mkrev(&bad, REC_A, id, 3, &p, 1, 20);
  CHECK_RC(tk_store_put_rev(s, &bad.rev, NULL, &err), TK_EPARENT);
  CHECK(strstr(err.msg, "generation"));
  mkrev(&bad, REC_A, id, 1, &p, 1, 20);
  CHECK_RC(tk_store_put_rev(s, &bad.rev, NULL, &err), TK_EPARENT);
  fill_id(id, 0x04);
  mkrev(&bad, REC_B, id, 2, NULL, 0, 20);
  memcpy(bad.rev.record_id, "new-record-0000", TK_RECORD_ID_LEN);
  CHECK_RC(tk_store_put_rev(s, &bad.rev, NULL, &err), TK_EPARENT);
  CHECK(strstr(err.msg, "must be 1"));
  /* a root for a record that exists */
  mkrev(&bad, REC_A, id, 1, NULL, 0, 20);
  CHECK_RC(tk_store_put_rev(s, &bad.rev, NULL, &err), TK_EPARENT);
  CHECK(strstr(err.msg, "already exists; a new revision must name a parent"));
  /* a parent named twice */
  const trev_t *twice[2] = {&root, &root};
  mkrev(&bad, REC_A, id, 2, twice, 2, 20);
  CHECK_RC(tk_store_put_rev(s, &bad.rev, NULL, &err), TK_EPARENT);
  CHECK(count_rows(path) == before);
  tk_store_close(s);
}

static void test_duplicate(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  trev_t r, r2;
  uint8_t id[TK_REV_ID_LEN];
  fill_id(id, 0x61);
  mkrev(&r, REC_A, id, 1, NULL, 0, 5);
  const trev_t *p = &r;
  fill_id(id, 0x62);
  mkrev(&r2, REC_A, id, 2, &p, 1, 6);
  uint64_t seq = 0;
  CHECK_RC(tk_store_put_rev(s, &r.rev, &seq, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &r2.rev, &seq, &err), 0);
  CHECK(seq == 2);
  long before = count_rows(path);
  seq = 0;
  CHECK_RC(tk_store_put_rev(s, &r.rev, &seq, &err), TK_EEXIST);
  CHECK(seq == 1);
  CHECK(count_rows(path) == before);
  uint64_t last;
  CHECK_RC(tk_store_last_seq(s, &last, &err), 0);
  CHECK(last == 2);
  uint8_t heads[2][TK_REV_ID_LEN];
  size_t n;
  CHECK_RC(tk_store_heads(s, REC_A, heads, 2, &n, &err), 1);
  CHECK(memcmp(heads[0], r2.rev.id, TK_REV_ID_LEN) == 0);
  tk_store_close(s);
}

static void test_changes(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  trev_t r[5];
  uint8_t id[TK_REV_ID_LEN];
  for (int i = 0; i < 5; i++) {
    uint8_t rec[TK_RECORD_ID_LEN];
    memcpy(rec, REC_A, sizeof rec);
    rec[1] = (uint8_t)i;
    fill_id(id, (uint8_t)(0x90 - i * 7)); /* ids not in insertion order */
    mkrev(&r[i], rec, id, 1, NULL, 0, 50);
    CHECK_RC(tk_store_put_rev(s, &r[i].rev, NULL, &err), 0);
  }
  collect_t c = {0};
  CHECK_RC(tk_store_changes(s, 0, 0, collect_bytes, &c, &err), 0);
  CHECK(c.n == 5);
  for (int i = 0; i < 5; i++) {
    CHECK(c.seqs[i] == (uint64_t)i + 1);
    CHECK(memcmp(c.ids[i], r[i].rev.id, TK_REV_ID_LEN) == 0);
    CHECK(c.bytes_n[i] == sizeof r[i].bytes);
  }
  memset(&c, 0, sizeof c);
  CHECK_RC(tk_store_changes(s, 2, 0, collect_bytes, &c, &err), 0);
  CHECK(c.n == 3 && c.seqs[0] == 3 && c.seqs[2] == 5);
  memset(&c, 0, sizeof c);
  CHECK_RC(tk_store_changes(s, 1, 2, collect_bytes, &c, &err), 0);
  CHECK(c.n == 2 && c.seqs[0] == 2 && c.seqs[1] == 3);
  memset(&c, 0, sizeof c);
  CHECK_RC(tk_store_changes(s, 5, 0, collect_bytes, &c, &err), 0);
  CHECK(c.n == 0);
  /* a callback's non-zero return stops the walk and is returned */
  memset(&c, 0, sizeof c);
  c.stop_at = 2;
  CHECK_RC(tk_store_changes(s, 0, 0, collect_bytes, &c, &err), 42);
  CHECK(c.n == 2);
  tk_store_close(s);
}

/* Listing records: newest winner first, filters. */
typedef struct list {
  int n;
  uint8_t ids[8][TK_RECORD_ID_LEN];
} list_t;

static int list_cb(void *ctx, const tk_record_info_t *r)
{
  list_t *l = ctx;
  if (l->n < 8) memcpy(l->ids[l->n], r->id, TK_RECORD_ID_LEN);
  l->n++;
  return 0;
}

static void test_records_listing(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  trev_t r[4], edit;
  uint8_t id[TK_REV_ID_LEN], recs[4][TK_RECORD_ID_LEN];
  const char *types[4] = {"case", "appeal", "case", "testimony"};
  const char *vaults[4] = {"osh-cases", "osh-cases", "bishkek", "bishkek"};
  for (int i = 0; i < 4; i++) {
    memcpy(recs[i], REC_B, TK_RECORD_ID_LEN);
    recs[i][2] = (uint8_t)i;
    fill_id(id, (uint8_t)(0x10 + i));
    mkrev(&r[i], recs[i], id, 1, NULL, 0, 100 + (uint64_t)i * 10);
    strcpy(r[i].rev.type, types[i]);
    strcpy(r[i].rev.vault, vaults[i]);
    CHECK_RC(tk_store_put_rev(s, &r[i].rev, NULL, &err), 0);
  }
  /* editing record 0 makes it the newest */
  const trev_t *p = &r[0];
  fill_id(id, 0x20);
  mkrev(&edit, recs[0], id, 2, &p, 1, 500);
  CHECK_RC(tk_store_put_rev(s, &edit.rev, NULL, &err), 0);
  list_t l = {0};
  CHECK_RC(tk_store_records(s, NULL, NULL, 0, list_cb, &l, &err), 0);
  CHECK(l.n == 4);
  CHECK(memcmp(l.ids[0], recs[0], TK_RECORD_ID_LEN) == 0);
  CHECK(memcmp(l.ids[1], recs[3], TK_RECORD_ID_LEN) == 0);
  CHECK(memcmp(l.ids[2], recs[2], TK_RECORD_ID_LEN) == 0);
  CHECK(memcmp(l.ids[3], recs[1], TK_RECORD_ID_LEN) == 0);
  memset(&l, 0, sizeof l);
  CHECK_RC(tk_store_records(s, "case", NULL, 0, list_cb, &l, &err), 0);
  CHECK(l.n == 2 && memcmp(l.ids[0], recs[0], TK_RECORD_ID_LEN) == 0);
  memset(&l, 0, sizeof l);
  CHECK_RC(tk_store_records(s, NULL, "bishkek", 0, list_cb, &l, &err), 0);
  CHECK(l.n == 2 && memcmp(l.ids[0], recs[3], TK_RECORD_ID_LEN) == 0);
  memset(&l, 0, sizeof l);
  CHECK_RC(tk_store_records(s, "case", "bishkek", 0, list_cb, &l, &err), 0);
  CHECK(l.n == 1 && memcmp(l.ids[0], recs[2], TK_RECORD_ID_LEN) == 0);
  memset(&l, 0, sizeof l);
  CHECK_RC(tk_store_records(s, "case", "bishkek", 1, list_cb, &l, &err), 0);
  CHECK(l.n == 0);
  tk_record_info_t info;
  CHECK_RC(tk_store_record_info(s, recs[0], &info, &err), 0);
  CHECK(info.created_hlc == 100 && info.winner_hlc == 500);
  tk_store_close(s);
}

static void test_transactions(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  trev_t r1, r2, r3, bad, ghost;
  uint8_t id[TK_REV_ID_LEN];
  const trev_t *p;
  fill_id(id, 0x11);
  mkrev(&r1, REC_A, id, 1, NULL, 0, 1);
  p = &r1;
  fill_id(id, 0x12);
  mkrev(&r2, REC_A, id, 2, &p, 1, 2);
  fill_id(id, 0x13);
  mkrev(&ghost, REC_A, id, 1, NULL, 0, 1);
  p = &ghost;
  fill_id(id, 0x14);
  mkrev(&bad, REC_A, id, 2, &p, 1, 3);
  long empty = count_rows(path);

  CHECK_RC(tk_store_begin(s, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &r1.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &r2.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &bad.rev, NULL, &err), TK_EPARENT);
  /* the earlier puts of the transaction are intact */
  CHECK_RC(tk_store_has_rev(s, r1.rev.id), 1);
  CHECK_RC(tk_store_has_rev(s, r2.rev.id), 1);
  CHECK_RC(tk_store_has_rev(s, bad.rev.id), 0);
  uint8_t heads[2][TK_REV_ID_LEN];
  size_t n;
  CHECK_RC(tk_store_heads(s, REC_A, heads, 2, &n, &err), 1);
  /* nothing is visible to another connection before the commit */
  CHECK(count_rows(path) == empty);
  tk_store_rollback(s);
  CHECK_RC(tk_store_has_rev(s, r1.rev.id), 0);
  CHECK_RC(tk_store_has_rev(s, r2.rev.id), 0);
  uint64_t last = 9;
  CHECK_RC(tk_store_last_seq(s, &last, &err), 0);
  CHECK(last == 0);
  CHECK(count_rows(path) == empty);

  /* commit makes them durable, with consecutive seqs */
  CHECK_RC(tk_store_begin(s, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &r1.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &bad.rev, NULL, &err), TK_EPARENT);
  CHECK_RC(tk_store_put_rev(s, &r2.rev, NULL, &err), 0);
  CHECK_RC(tk_store_commit(s, &err), 0);
  CHECK_RC(tk_store_has_rev(s, r2.rev.id), 1);
  CHECK(count_rows(path) != empty);

  /* nested: the inner rollback undoes only the inner part */
  p = &r2;
  fill_id(id, 0x15);
  mkrev(&r3, REC_A, id, 3, &p, 1, 4);
  char ckpt_peer[TK_DEVICE_ID_LEN] = {7};
  CHECK_RC(tk_store_begin(s, &err), 0);
  CHECK_RC(tk_store_checkpoint_set(s, (uint8_t *)ckpt_peer, TK_DIR_PULL, 2, &err), 0);
  CHECK_RC(tk_store_begin(s, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &r3.rev, NULL, &err), 0);
  tk_store_rollback(s);
  CHECK_RC(tk_store_has_rev(s, r3.rev.id), 0);
  CHECK_RC(tk_store_commit(s, &err), 0);
  uint64_t seq = 0;
  CHECK_RC(tk_store_checkpoint_get(s, (uint8_t *)ckpt_peer, TK_DIR_PULL, &seq, &err), 0);
  CHECK(seq == 2);
  CHECK_RC(tk_store_commit(s, &err), TK_EINVAL);
  tk_store_close(s);
}

static void test_checkpoints(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  uint8_t peer[TK_DEVICE_ID_LEN], peer2[TK_DEVICE_ID_LEN];
  memset(peer, 1, sizeof peer);
  memset(peer2, 2, sizeof peer2);
  uint64_t seq = 99;
  CHECK_RC(tk_store_checkpoint_get(s, peer, TK_DIR_PUSH, &seq, &err), 0);
  CHECK(seq == 0);
  CHECK_RC(tk_store_checkpoint_set(s, peer, TK_DIR_PUSH, 17, &err), 0);
  CHECK_RC(tk_store_checkpoint_set(s, peer, TK_DIR_PULL, 5, &err), 0);
  CHECK_RC(tk_store_checkpoint_get(s, peer, TK_DIR_PUSH, &seq, &err), 0);
  CHECK(seq == 17);
  CHECK_RC(tk_store_checkpoint_get(s, peer, TK_DIR_PULL, &seq, &err), 0);
  CHECK(seq == 5);
  CHECK_RC(tk_store_checkpoint_get(s, peer2, TK_DIR_PUSH, &seq, &err), 0);
  CHECK(seq == 0);
  CHECK_RC(tk_store_checkpoint_set(s, peer, TK_DIR_PUSH, 30, &err), 0);
  CHECK_RC(tk_store_checkpoint_get(s, peer, TK_DIR_PUSH, &seq, &err), 0);
  CHECK(seq == 30);
  CHECK_RC(tk_store_checkpoint_set(s, peer, 7, 1, &err), TK_EINVAL);
  tk_store_close(s);
}

typedef struct vlist {
  int n;
  char names[4][TK_MAX_VAULT_LEN + 1];
} vlist_t;

static int vault_cb(void *ctx, const tk_vault_info_t *v)
{
  vlist_t *l = ctx;
  if (l->n < 4) strcpy(l->names[l->n], v->name);
  l->n++;
  return 0;
}

static void test_vaults_and_keys(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  uint8_t kid[TK_KEY_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8}, kid2[TK_KEY_ID_LEN] = {9};
  CHECK_RC(tk_store_vault_add(s, "testimonies", kid, &err), 0);
  CHECK_RC(tk_store_vault_add(s, "osh-cases", kid2, &err), 0);
  CHECK_RC(tk_store_vault_add(s, "osh-cases", kid, &err), TK_EEXIST);
  CHECK(strstr(err.msg, "osh-cases"));
  CHECK_RC(tk_store_vault_add(s, "Bad Name", kid, &err), TK_EINVAL);
  tk_vault_info_t v;
  CHECK_RC(tk_store_vault_get(s, "osh-cases", &v, &err), 0);
  CHECK(strcmp(v.name, "osh-cases") == 0 && memcmp(v.key_id, kid2, TK_KEY_ID_LEN) == 0);
  CHECK(v.created > 0 && v.created <= (int64_t)time(NULL));
  CHECK_RC(tk_store_vault_get(s, "nothere", &v, &err), TK_ENOTFOUND);
  vlist_t l = {0};
  CHECK_RC(tk_store_vaults(s, vault_cb, &l, &err), 0);
  CHECK(l.n == 2 && strcmp(l.names[0], "osh-cases") == 0 &&
        strcmp(l.names[1], "testimonies") == 0);

  uint8_t dev[TK_DEVICE_ID_LEN], dev2[TK_DEVICE_ID_LEN];
  uint8_t sealed[TK_SEALED_KEY_LEN], sealed2[TK_SEALED_KEY_LEN], got[TK_SEALED_KEY_LEN];
  memset(dev, 3, sizeof dev);
  memset(dev2, 4, sizeof dev2);
  tk_random(sealed, sizeof sealed);
  tk_random(sealed2, sizeof sealed2);
  CHECK_RC(tk_store_wrapped_key_get(s, "osh-cases", kid2, dev, got, &err), TK_ENOKEY);
  CHECK_RC(tk_store_wrapped_key_put(s, "osh-cases", kid2, dev, sealed, &err), 0);
  CHECK_RC(tk_store_wrapped_key_get(s, "osh-cases", kid2, dev, got, &err), 0);
  CHECK(memcmp(got, sealed, sizeof got) == 0);
  /* a second put of the same entry is a no-op */
  CHECK_RC(tk_store_wrapped_key_put(s, "osh-cases", kid2, dev, sealed2, &err), 0);
  CHECK_RC(tk_store_wrapped_key_get(s, "osh-cases", kid2, dev, got, &err), 0);
  CHECK(memcmp(got, sealed, sizeof got) == 0);
  CHECK_RC(tk_store_wrapped_key_get(s, "osh-cases", kid2, dev2, got, &err), TK_ENOKEY);
  CHECK_RC(tk_store_wrapped_key_get(s, "osh-cases", kid, dev, got, &err), TK_ENOKEY);
  CHECK_RC(tk_store_wrapped_key_get(s, "testimonies", kid2, dev, got, &err), TK_ENOKEY);
  tk_store_close(s);
}

static void test_devices(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  tk_device_info_t d, got;
  memset(&d, 0, sizeof d);
  tk_random(d.sign_pk, sizeof d.sign_pk);
  tk_random(d.kx_pk, sizeof d.kx_pk);
  tk_device_id_from_pk(d.id, d.sign_pk);
  strcpy(d.name, "osh-laptop");
  d.added = 1700000000;
  CHECK_RC(tk_store_device_get(s, d.id, &got, &err), TK_ENOTFOUND);
  CHECK_RC(tk_store_device_put(s, &d, &err), 0);
  CHECK_RC(tk_store_device_get(s, d.id, &got, &err), 0);
  CHECK(memcmp(&got, &d, sizeof d) == 0);
  /* update, then revoke; revocation is sticky */
  strcpy(d.name, "osh-laptop-2");
  d.revoked = 1700000100;
  CHECK_RC(tk_store_device_put(s, &d, &err), 0);
  d.revoked = 0;
  CHECK_RC(tk_store_device_put(s, &d, &err), 0);
  CHECK_RC(tk_store_device_get(s, d.id, &got, &err), 0);
  CHECK(strcmp(got.name, "osh-laptop-2") == 0 && got.revoked == 1700000100);
  /* an id that is not the key's */
  d.id[0] ^= 1;
  CHECK_RC(tk_store_device_put(s, &d, &err), TK_EINVAL);
  tk_store_close(s);
}

static int seen_cb(void *ctx, const uint8_t id[TK_DEVICE_ID_LEN], int64_t last_seen)
{
  (void)id;
  *(int64_t *)ctx = last_seen;
  return 0;
}

/* Schema 10: a hub notes when it saw a device; last_seen only grows, an
 * unknown device changes nothing; the status sizes count what is there. */
static void test_device_seen(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  tk_device_info_t d;
  memset(&d, 0, sizeof d);
  tk_random(d.sign_pk, sizeof d.sign_pk);
  tk_random(d.kx_pk, sizeof d.kx_pk);
  tk_device_id_from_pk(d.id, d.sign_pk);
  strcpy(d.name, "osh-laptop");
  d.added = 1700000000;
  CHECK_RC(tk_store_device_put(s, &d, &err), 0);
  int64_t seen = -1;
  CHECK_RC(tk_store_devices_seen(s, seen_cb, &seen, &err), 0);
  CHECK(seen == 0);
  CHECK_RC(tk_store_device_seen(s, d.id, 1700000500, &err), 0);
  CHECK_RC(tk_store_device_seen(s, d.id, 1700000100, &err), 0); /* older: kept */
  CHECK_RC(tk_store_devices_seen(s, seen_cb, &seen, &err), 0);
  CHECK(seen == 1700000500);
  uint8_t other[TK_DEVICE_ID_LEN];
  tk_random(other, sizeof other);
  CHECK_RC(tk_store_device_seen(s, other, 1700000900, &err), 0);
  tk_store_sizes_t sz;
  CHECK_RC(tk_store_sizes(s, &sz, &err), 0);
  CHECK(sz.file_bytes > 0 && sz.revisions == 0 && sz.chunks == 0 && sz.chunk_bytes == 0);
  CHECK(sz.quarantine_held == 0 && sz.quarantine_refused == 0);
  tk_store_close(s);
}

static void test_prefix(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  trev_t a, b, c;
  uint8_t id[TK_REV_ID_LEN], out[TK_REV_ID_LEN];
  uint8_t rb[TK_RECORD_ID_LEN], rrec[TK_RECORD_ID_LEN];
  fill_id(id, 0xab);
  id[2] = 0x10;
  mkrev(&a, REC_A, id, 1, NULL, 0, 1);
  fill_id(id, 0xab);
  id[2] = 0x20;
  memcpy(rb, REC_A, sizeof rb);
  rb[1] = 0xff;
  mkrev(&b, rb, id, 1, NULL, 0, 1);
  fill_id(id, 0xcd);
  memcpy(rrec, REC_A, sizeof rrec);
  rrec[0] = 0x12;
  mkrev(&c, rrec, id, 1, NULL, 0, 1);
  CHECK_RC(tk_store_put_rev(s, &a.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &b.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &c.rev, NULL, &err), 0);

  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_REVISION, "abab", out, &err), TK_EAMBIG);
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_REVISION, "abab2", out, &err), 0);
  CHECK(memcmp(out, b.rev.id, TK_REV_ID_LEN) == 0);
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_REVISION, "ABAB1", out, &err), 0);
  CHECK(memcmp(out, a.rev.id, TK_REV_ID_LEN) == 0);
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_REVISION, "cdcd", out, &err), 0);
  CHECK(memcmp(out, c.rev.id, TK_REV_ID_LEN) == 0);
  char full[65];
  tk_hex_encode(full, c.rev.id, TK_REV_ID_LEN);
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_REVISION, full, out, &err), 0);
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_REVISION, "abab3", out, &err), TK_ENOTFOUND);
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_REVISION, "ffff", out, &err), TK_ENOTFOUND);
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_REVISION, "abc", out, &err), TK_EINVAL);
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_REVISION, "abzz", out, &err), TK_EINVAL);
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_REVISION, "ab%_", out, &err), TK_EINVAL);
  char longer[70];
  snprintf(longer, sizeof longer, "%s0", full);
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_REVISION, longer, out, &err), TK_EINVAL);
  /* record ids: REC_A starts aa01, rb aaff, rrec 1201 */
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_RECORD, "aa01", out, &err), 0);
  CHECK(memcmp(out, REC_A, TK_RECORD_ID_LEN) == 0);
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_RECORD, "aaff", out, &err), 0);
  CHECK(memcmp(out, rb, TK_RECORD_ID_LEN) == 0);
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_RECORD, "aaf", out, &err), TK_EINVAL);
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_RECORD, "12010", out, &err), 0);
  CHECK(memcmp(out, rrec, TK_RECORD_ID_LEN) == 0);
  /* a record prefix longer than a record id */
  CHECK_RC(tk_store_resolve_prefix(s, TK_ID_RECORD, full, out, &err), TK_EINVAL);
  CHECK_RC(tk_store_resolve_prefix(s, 5, "abab", out, &err), TK_EINVAL);
  tk_store_close(s);
}

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void test_hlc(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  uint64_t a = 0, b = 0, c = 0, d = 0, t0 = now_ms();
  CHECK_RC(tk_store_hlc_next(s, &a, &err), 0);
  CHECK(a >= t0);
  uint64_t prev = a;
  for (int i = 0; i < 100; i++) {
    CHECK_RC(tk_store_hlc_next(s, &b, &err), 0);
    CHECK(b > prev);
    prev = b;
  }
  tk_store_close(s);
  CHECK_RC(tk_store_open(&s, path, 0, &err), 0);
  CHECK_RC(tk_store_hlc_next(s, &c, &err), 0);
  CHECK(c > b);
  /* a stored revision from a clock an hour ahead pulls ours past it */
  trev_t r;
  uint8_t id[TK_REV_ID_LEN];
  fill_id(id, 0x42);
  uint64_t future = now_ms() + 3600 * 1000;
  mkrev(&r, REC_A, id, 1, NULL, 0, future);
  CHECK_RC(tk_store_put_rev(s, &r.rev, NULL, &err), 0);
  CHECK_RC(tk_store_hlc_next(s, &d, &err), 0);
  CHECK(d > future);
  /* an older revision does not pull it back */
  trev_t old;
  fill_id(id, 0x43);
  mkrev(&old, REC_B, id, 1, NULL, 0, 5);
  CHECK_RC(tk_store_put_rev(s, &old.rev, NULL, &err), 0);
  tk_store_close(s);
  CHECK_RC(tk_store_open(&s, path, 0, &err), 0);
  CHECK_RC(tk_store_hlc_next(s, &c, &err), 0);
  CHECK(c > d);
  char buf[32];
  CHECK_RC(tk_store_meta_get(s, "hlc_seen", buf, sizeof buf, &err), 0);
  CHECK(strtoull(buf, NULL, 10) == future);
  tk_store_close(s);
}

static void test_meta(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  char buf[16];
  CHECK_RC(tk_store_meta_get(s, "device_name", buf, sizeof buf, &err), TK_ENOTFOUND);
  CHECK_RC(tk_store_meta_set(s, "device_name", "osh office laptop", &err), 0);
  CHECK_RC(tk_store_meta_get(s, "device_name", buf, sizeof buf, &err), 0);
  CHECK(strcmp(buf, "osh office lapt") == 0); /* truncated to outlen */
  CHECK_RC(tk_store_meta_set(s, "device_name", "b", &err), 0);
  CHECK_RC(tk_store_meta_get(s, "device_name", buf, sizeof buf, &err), 0);
  CHECK(strcmp(buf, "b") == 0);
  CHECK_RC(tk_store_meta_set(s, "", "x", &err), TK_EINVAL);
  tk_store_close(s);
}

static void test_reopen(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  trev_t r1, r2;
  uint8_t id[TK_REV_ID_LEN], kid[TK_KEY_ID_LEN] = {5}, peer[TK_DEVICE_ID_LEN] = {6};
  fill_id(id, 0x71);
  mkrev(&r1, REC_A, id, 1, NULL, 0, 10);
  const trev_t *p = &r1;
  fill_id(id, 0x72);
  mkrev(&r2, REC_A, id, 2, &p, 1, 11);
  CHECK_RC(tk_store_put_rev(s, &r1.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &r2.rev, NULL, &err), 0);
  CHECK_RC(tk_store_vault_add(s, "osh-cases", kid, &err), 0);
  CHECK_RC(tk_store_checkpoint_set(s, peer, TK_DIR_PUSH, 2, &err), 0);
  CHECK_RC(tk_store_meta_set(s, "k", "v", &err), 0);
  tk_store_close(s);

  CHECK_RC(tk_store_open(&s, path, 0, &err), 0);
  CHECK_RC(tk_store_has_rev(s, r1.rev.id), 1);
  uint8_t heads[2][TK_REV_ID_LEN];
  size_t n;
  CHECK_RC(tk_store_heads(s, REC_A, heads, 2, &n, &err), 1);
  CHECK(memcmp(heads[0], r2.rev.id, TK_REV_ID_LEN) == 0);
  tk_vault_info_t v;
  CHECK_RC(tk_store_vault_get(s, "osh-cases", &v, &err), 0);
  uint64_t seq;
  CHECK_RC(tk_store_checkpoint_get(s, peer, TK_DIR_PUSH, &seq, &err), 0);
  CHECK(seq == 2);
  char buf[8];
  CHECK_RC(tk_store_meta_get(s, "k", buf, sizeof buf, &err), 0);
  CHECK(strcmp(buf, "v") == 0);
  CHECK_RC(tk_store_last_seq(s, &seq, &err), 0);
  CHECK(seq == 2);
  /* seq goes on from where it was */
  trev_t r3;
  p = &r2;
  fill_id(id, 0x73);
  mkrev(&r3, REC_A, id, 3, &p, 1, 12);
  CHECK_RC(tk_store_put_rev(s, &r3.rev, &seq, &err), 0);
  CHECK(seq == 3);
  tk_store_close(s);
}

/* Puts a store back to the schema 6 layout of records and heads (random
 * record ids as keys), as main's binaries made it. */
static void downgrade_to_v6(const char *path)
{
  sqlite3 *db;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(sqlite3_exec(
            db,
            "BEGIN;"
            "CREATE TABLE r6 AS SELECT id, vault, type, created_hlc, winner,"
            "  winner_generation, winner_hlc, nheads FROM records;"
            "CREATE TABLE h6 AS SELECT record_id, rev_id, generation FROM heads;"
            "DROP TABLE heads; DROP TABLE records;"
            "CREATE TABLE records(id BLOB PRIMARY KEY CHECK(length(id) = 16),"
            "  vault TEXT NOT NULL, type TEXT NOT NULL, created_hlc INTEGER NOT NULL,"
            "  winner BLOB NOT NULL, winner_generation INTEGER NOT NULL,"
            "  winner_hlc INTEGER NOT NULL, nheads INTEGER NOT NULL) WITHOUT ROWID;"
            "CREATE INDEX records_hlc ON records(winner_hlc);"
            "CREATE INDEX records_type ON records(type, winner_hlc);"
            "CREATE INDEX records_vault ON records(vault, winner_hlc);"
            "CREATE INDEX records_conflicts ON records(winner_hlc) WHERE nheads > 1;"
            "CREATE TABLE heads(record_id BLOB NOT NULL REFERENCES records(id),"
            "  rev_id BLOB NOT NULL REFERENCES revisions(id),"
            "  generation INTEGER NOT NULL,"
            "  PRIMARY KEY(record_id, rev_id)) WITHOUT ROWID;"
            "INSERT INTO records SELECT * FROM r6; INSERT INTO heads SELECT * FROM h6;"
            "DROP TABLE r6; DROP TABLE h6;"
            "DROP TABLE unsent;"
            "ALTER TABLE devices DROP COLUMN last_seen;" /* schema 10 */
            "PRAGMA user_version = 6;"
            "COMMIT;",
            NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_close(db);
}

static int user_version(const char *path)
{
  sqlite3 *db;
  sqlite3_stmt *st;
  int v = -1;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
    sqlite3_close(db);
    return -1;
  }
  if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return v;
}

/* A schema 6 store (records and heads keyed by record id) opens as 7 with
 * every record, head and winner kept, and takes new revisions. */
static void test_migrate_v6(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  trev_t root, a, b, other, c;
  uint8_t id[TK_REV_ID_LEN];
  const trev_t *p;
  fill_id(id, 0x50);
  mkrev(&root, REC_A, id, 1, NULL, 0, 100);
  p = &root;
  fill_id(id, 0x20);
  mkrev(&a, REC_A, id, 2, &p, 1, 200);
  fill_id(id, 0x30);
  mkrev(&b, REC_A, id, 2, &p, 1, 150);
  fill_id(id, 0x40);
  mkrev(&other, REC_B, id, 1, NULL, 0, 120);
  CHECK_RC(tk_store_put_rev(s, &root.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &a.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &b.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &other.rev, NULL, &err), 0);
  tk_store_close(s);
  long rows = count_rows(path);
  downgrade_to_v6(path);
  CHECK(user_version(path) == 6);
  CHECK(count_rows(path) == rows);

  s = NULL;
  CHECK_RC(tk_store_open(&s, path, 0, &err), 0);
  CHECK(user_version(path) == TK_STORE_SCHEMA_VERSION);
  CHECK(count_rows(path) == rows);
  /* the upgrade kept the schema 6 file first, whole (tk_store.h) */
  char copy[400];
  snprintf(copy, sizeof copy, "%s.before-schema-%d", path, TK_STORE_SCHEMA_VERSION);
  CHECK(user_version(copy) == 6);
  CHECK(count_rows(copy) == rows);
  struct stat sb;
  CHECK(stat(copy, &sb) == 0 && (sb.st_mode & 0777) == 0600);
  uint8_t heads[4][TK_REV_ID_LEN];
  size_t n = 0;
  CHECK_RC(tk_store_heads(s, REC_A, heads, 4, &n, &err), 2);
  CHECK(memcmp(heads[0], b.rev.id, TK_REV_ID_LEN) == 0);
  CHECK(memcmp(heads[1], a.rev.id, TK_REV_ID_LEN) == 0);
  tk_record_info_t info;
  CHECK_RC(tk_store_record_info(s, REC_A, &info, &err), 0);
  CHECK(info.nheads == 2 && info.created_hlc == 100 && info.winner_generation == 2);
  CHECK(memcmp(info.winner, b.rev.id, TK_REV_ID_LEN) == 0);
  CHECK_RC(tk_store_record_info(s, REC_B, &info, &err), 0);
  CHECK(info.nheads == 1 && memcmp(info.winner, other.rev.id, TK_REV_ID_LEN) == 0);
  /* a merge after the migration: one head, the winner moves */
  const trev_t *both[2] = {&a, &b};
  fill_id(id, 0x10);
  mkrev(&c, REC_A, id, 3, both, 2, 300);
  CHECK_RC(tk_store_put_rev(s, &c.rev, NULL, &err), 0);
  CHECK_RC(tk_store_heads(s, REC_A, heads, 4, &n, &err), 1);
  CHECK(memcmp(heads[0], c.rev.id, TK_REV_ID_LEN) == 0);
  CHECK_RC(tk_store_record_info(s, REC_A, &info, &err), 0);
  CHECK(info.nheads == 1 && info.winner_hlc == 300);
  tk_store_close(s);
}

static void downgrade_to_v8(const char *path)
{
  sqlite3 *db;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(sqlite3_exec(
            db,
            "BEGIN;"
            "CREATE TABLE h8 AS SELECT rec, rev_id, generation, record_id FROM heads;"
            "DROP TABLE heads;"
            "CREATE TABLE heads("
            "  rec INTEGER NOT NULL REFERENCES records(n),"
            "  rev_id BLOB NOT NULL REFERENCES revisions(id),"
            "  generation INTEGER NOT NULL,"
            "  record_id BLOB NOT NULL,"
            "  PRIMARY KEY(rec, rev_id)) WITHOUT ROWID;"
            "INSERT INTO heads SELECT * FROM h8; DROP TABLE h8;"
            "ALTER TABLE devices DROP COLUMN last_seen;" /* schema 10 */
            "PRAGMA user_version = 8;"
            "COMMIT;",
            NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_close(db);
}

static long unknown_heads(const char *path)
{
  sqlite3 *db;
  sqlite3_stmt *st;
  long n = -1;
  if (sqlite3_open(path, &db) != SQLITE_OK) return -1;
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM heads WHERE deleted IS NULL", -1, &st,
                         NULL) == SQLITE_OK) {
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

/* Schema 9: a tombstone flag per head; a live head wins over a tombstone
 * whatever the generations and ids say; a store of schema 8 migrates with
 * every flag unknown (counting as live) and learns them. */
static void test_migrate_v8_tombstones(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  trev_t root, live, tomb, other;
  uint8_t id[TK_REV_ID_LEN];
  const trev_t *p;
  fill_id(id, 0x50);
  mkrev(&root, REC_A, id, 1, NULL, 0, 100);
  p = &root;
  fill_id(id, 0x20);
  mkrev(&live, REC_A, id, 2, &p, 1, 200);
  fill_id(id, 0x30); /* the higher id: the winner by the old rule */
  mkrev(&tomb, REC_A, id, 2, &p, 1, 150);
  fill_id(id, 0x40);
  mkrev(&other, REC_B, id, 1, NULL, 0, 120);
  CHECK_RC(tk_store_put_rev(s, &root.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &live.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &tomb.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &other.rev, NULL, &err), 0);
  tk_record_info_t info;
  uint8_t heads[4][TK_REV_ID_LEN];
  size_t n = 0;
  CHECK_RC(tk_store_record_info(s, REC_A, &info, &err), 0);
  CHECK(memcmp(info.winner, tomb.rev.id, TK_REV_ID_LEN) == 0); /* not known yet */
  CHECK_RC(tk_store_head_deleted(s, REC_A, tomb.rev.id, 1, &err), 0);
  CHECK_RC(tk_store_record_info(s, REC_A, &info, &err), 0);
  CHECK(memcmp(info.winner, live.rev.id, TK_REV_ID_LEN) == 0);
  CHECK(info.winner_hlc == 200 && info.nheads == 2);
  CHECK_RC(tk_store_heads(s, REC_A, heads, 4, &n, &err), 2);
  CHECK(memcmp(heads[0], live.rev.id, TK_REV_ID_LEN) == 0);
  /* not a head (any more): nothing changes */
  CHECK_RC(tk_store_head_deleted(s, REC_A, root.rev.id, 1, &err), 0);
  CHECK_RC(tk_store_record_info(s, REC_A, &info, &err), 0);
  CHECK(memcmp(info.winner, live.rev.id, TK_REV_ID_LEN) == 0);
  tk_store_close(s);

  long rows = count_rows(path);
  downgrade_to_v8(path);
  CHECK(user_version(path) == 8);
  s = NULL;
  CHECK_RC(tk_store_open(&s, path, 0, &err), 0);
  CHECK(user_version(path) == TK_STORE_SCHEMA_VERSION);
  CHECK(count_rows(path) == rows);
  CHECK(unknown_heads(path) == 3);
  /* only the heads of a record in conflict are asked for */
  tk_store_head_ref_t *refs = NULL;
  CHECK_RC(tk_store_heads_unknown(s, &refs, &n, &err), 0);
  CHECK(n == 2 && refs);
  int saw_tomb = 0;
  for (size_t i = 0; i < n; i++) {
    int is_tomb = memcmp(refs[i].rev_id, tomb.rev.id, TK_REV_ID_LEN) == 0;
    saw_tomb |= is_tomb;
    CHECK_RC(tk_store_head_deleted(s, refs[i].record_id, refs[i].rev_id, is_tomb, &err),
             0);
  }
  free(refs);
  CHECK(saw_tomb);
  CHECK(unknown_heads(path) == 1); /* REC_B's one head */
  CHECK_RC(tk_store_heads_unknown(s, &refs, &n, &err), 0);
  CHECK(n == 0 && !refs);
  CHECK_RC(tk_store_record_info(s, REC_A, &info, &err), 0);
  CHECK(memcmp(info.winner, live.rev.id, TK_REV_ID_LEN) == 0);
  /* both tombstones: the old order among them */
  CHECK_RC(tk_store_head_deleted(s, REC_A, live.rev.id, 1, &err), 0);
  CHECK_RC(tk_store_record_info(s, REC_A, &info, &err), 0);
  CHECK(memcmp(info.winner, tomb.rev.id, TK_REV_ID_LEN) == 0);
  /* a bad flag value is refused by the schema */
  sqlite3 *db;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "UPDATE heads SET deleted = 2", NULL, NULL, NULL) != SQLITE_OK);
  sqlite3_close(db);
  tk_store_close(s);
}

static int unsent_count(void *ctx, const tk_unsent_info_t *u)
{
  (void)u;
  (*(int *)ctx)++;
  return 0;
}

/* A schema 7 store (no unsent table) opens as the current schema with its revisions, and
 * keeps, renews, lists and clears unsent entries; forgetting a peer drops
 * its entries and checkpoints. */
static void test_migrate_v7_unsent(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  trev_t root, b;
  uint8_t id[TK_REV_ID_LEN], hub[TK_DEVICE_ID_LEN], other[TK_DEVICE_ID_LEN];
  fill_id(id, 0x51);
  mkrev(&root, REC_A, id, 1, NULL, 0, 100);
  fill_id(id, 0x52);
  mkrev(&b, REC_B, id, 1, NULL, 0, 110);
  CHECK_RC(tk_store_put_rev(s, &root.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &b.rev, NULL, &err), 0);
  tk_store_close(s);
  long rows = count_rows(path);
  sqlite3 *db;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "DROP TABLE unsent; PRAGMA user_version = 7;", NULL, NULL,
                     NULL) == SQLITE_OK);
  sqlite3_close(db);
  downgrade_to_v8(path); /* heads without the tombstone flag of schema 9 */
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "PRAGMA user_version = 7;", NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_close(db);
  CHECK(user_version(path) == 7);
  s = NULL;
  CHECK_RC(tk_store_open(&s, path, 0, &err), 0);
  CHECK(user_version(path) == TK_STORE_SCHEMA_VERSION);
  CHECK(count_rows(path) == rows);
  memset(hub, 7, sizeof hub);
  memset(other, 9, sizeof other);
  tk_rev_meta_t m1, m2;
  CHECK_RC(tk_store_rev_meta(s, root.rev.id, &m1, &err), 0);
  CHECK_RC(tk_store_rev_meta(s, b.rev.id, &m2, &err), 0);
  CHECK_RC(tk_store_unsent_put(s, hub, &m1, TK_UNSENT_REFUSED, 4, "no", 1, &err), 0);
  CHECK_RC(tk_store_unsent_put(s, hub, &m2, TK_UNSENT_HELD, 8, "review", 1, &err), 0);
  CHECK_RC(tk_store_unsent_put(s, hub, &m1, TK_UNSENT_REFUSED, 4, "still no", 2, &err),
           0);
  CHECK_RC(tk_store_unsent_put(s, hub, &m1, 9, 4, "bad kind", 2, &err), TK_EINVAL);
  int n = 0;
  CHECK_RC(tk_store_unsent_list(s, hub, 0, 0, unsent_count, &n, &err), 0);
  CHECK(n == 2);
  n = 0;
  CHECK_RC(tk_store_unsent_list(s, other, 0, 0, unsent_count, &n, &err), 0);
  CHECK(n == 0);
  /* run 2 renewed m1 only: the held entry is not of the kinds cleared */
  CHECK_RC(tk_store_unsent_clear(s, hub, 1u << TK_UNSENT_REFUSED, 2, UINT64_MAX, &err),
           0);
  n = 0;
  CHECK_RC(tk_store_unsent_list(s, NULL, 0, 0, unsent_count, &n, &err), 0);
  CHECK(n == 2);
  CHECK_RC(tk_store_unsent_clear(s, hub, 1u << TK_UNSENT_REFUSED, 3, UINT64_MAX, &err),
           0);
  n = 0;
  CHECK_RC(
      tk_store_unsent_list(s, NULL, 1u << TK_UNSENT_REFUSED, 0, unsent_count, &n, &err),
      0);
  CHECK(n == 0);
  CHECK_RC(tk_store_checkpoint_set(s, hub, TK_DIR_PUSH, 2, &err), 0);
  CHECK_RC(tk_store_peer_forget(s, hub, &err), 0);
  uint64_t seq = 9;
  CHECK_RC(tk_store_checkpoint_get(s, hub, TK_DIR_PUSH, &seq, &err), 0);
  CHECK(seq == 0);
  n = 0;
  CHECK_RC(tk_store_unsent_list(s, NULL, 0, 0, unsent_count, &n, &err), 0);
  CHECK(n == 0);
  tk_store_close(s);
}

static void test_version_and_missing(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  tk_store_close(s);
  sqlite3 *db;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL) == SQLITE_OK);
  sqlite3_close(db);
  s = NULL;
  CHECK_RC(tk_store_open(&s, path, 0, &err), TK_EVERSION);
  CHECK(s == NULL && strstr(err.msg, "99"));
  CHECK_RC(tk_store_open(&s, path, TK_STORE_CREATE, &err), TK_EVERSION);

  char missing[300];
  snprintf(missing, sizeof missing, "%s/no-such-store.db", tk_test_tmpdir());
  CHECK_RC(tk_store_open(&s, missing, 0, &err), TK_ENOTFOUND);
  CHECK(strstr(err.msg, missing));
  struct stat sb;
  CHECK(stat(missing, &sb) != 0); /* and nothing was created */

  /* not a database */
  char junk[300];
  snprintf(junk, sizeof junk, "%s/junk.db", tk_test_tmpdir());
  FILE *f = fopen(junk, "w");
  CHECK(f);
  for (int i = 0; i < 200; i++)
    fputs("this is not a database file at all\n", f);
  fclose(f);
  CHECK(tk_store_open(&s, junk, 0, &err) < 0 && s == NULL);
}

static void test_file_mode(void)
{
  char path[300];
  tk_err_t err;
  mode_t old = umask(0022);
  tk_store_t *s = open_new(path, sizeof path);
  umask(old);
  CHECK(s);
  uint64_t x;
  CHECK_RC(tk_store_hlc_next(s, &x, &err), 0); /* makes the -wal file exist */
  struct stat sb;
  CHECK(stat(path, &sb) == 0);
  CHECK((sb.st_mode & 0777) == 0600);
  char wal[310];
  snprintf(wal, sizeof wal, "%s-wal", path);
  CHECK(stat(wal, &sb) == 0);
  CHECK((sb.st_mode & 0777) == 0600);
  /* it really is in WAL mode */
  sqlite3 *db;
  sqlite3_stmt *st;
  CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
  CHECK(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK);
  int is_wal = sqlite3_step(st) == SQLITE_ROW &&
               strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
  sqlite3_finalize(st);
  sqlite3_close(db);
  CHECK(is_wal);
  tk_store_close(s);
}

/* Another connection holding the write lock: a put waits out the busy
 * timeout (5 s) and fails with TK_EBUSY, changing nothing. */
static void test_busy(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  sqlite3 *db;
  CHECK(sqlite3_open(path, &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
  trev_t r;
  uint8_t id[TK_REV_ID_LEN];
  fill_id(id, 0x99);
  mkrev(&r, REC_A, id, 1, NULL, 0, 1);
  time_t t0 = time(NULL);
  int rc = tk_store_put_rev(s, &r.rev, NULL, &err);
  time_t waited = time(NULL) - t0;
  sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close(db);
  CHECK_RC(rc, TK_EBUSY);
  CHECK(strstr(err.msg, "is locked by another process") && strstr(err.msg, path));
  CHECK(waited >= 4);
  CHECK_RC(tk_store_has_rev(s, r.rev.id), 0);
  /* once the lock is gone the same put succeeds */
  CHECK_RC(tk_store_put_rev(s, &r.rev, NULL, &err), 0);
  tk_store_close(s);
}

/* A callback that re-enters the store while a listing runs. */
typedef struct reenter {
  tk_store_t *s;
  int n, bad;
} reenter_t;

static int reenter_cb(void *ctx, const tk_rev_meta_t *m)
{
  reenter_t *r = ctx;
  tk_err_t err;
  collect_t c = {0};
  r->n++;
  if (tk_store_history(r->s, m->record_id, collect_meta, &c, &err) != 0 || c.n != 2)
    r->bad++;
  return 0;
}

static void test_reentrant_listing(void)
{
  char path[300];
  tk_err_t err;
  tk_store_t *s = open_new(path, sizeof path);
  CHECK(s);
  trev_t a, b;
  uint8_t id[TK_REV_ID_LEN];
  fill_id(id, 0x31);
  mkrev(&a, REC_A, id, 1, NULL, 0, 1);
  const trev_t *p = &a;
  fill_id(id, 0x32);
  mkrev(&b, REC_A, id, 2, &p, 1, 2);
  CHECK_RC(tk_store_put_rev(s, &a.rev, NULL, &err), 0);
  CHECK_RC(tk_store_put_rev(s, &b.rev, NULL, &err), 0);
  reenter_t r = {s, 0, 0};
  CHECK_RC(tk_store_history(s, REC_A, reenter_cb, &r, &err), 0);
  CHECK(r.n == 2 && r.bad == 0);
  tk_store_close(s);
}

TK_TESTS(TK_TEST(test_linear), TK_TEST(test_conflict_and_merge),
         TK_TEST(test_order_independence), TK_TEST(test_parent_refused),
         TK_TEST(test_duplicate), TK_TEST(test_changes), TK_TEST(test_records_listing),
         TK_TEST(test_transactions), TK_TEST(test_checkpoints),
         TK_TEST(test_vaults_and_keys), TK_TEST(test_devices), TK_TEST(test_device_seen),
         TK_TEST(test_prefix), TK_TEST(test_hlc), TK_TEST(test_meta),
         TK_TEST(test_reopen), TK_TEST(test_migrate_v6),
         TK_TEST(test_migrate_v8_tombstones), TK_TEST(test_migrate_v7_unsent),
         TK_TEST(test_version_and_missing), TK_TEST(test_file_mode), TK_TEST(test_busy),
         TK_TEST(test_reentrant_listing))
