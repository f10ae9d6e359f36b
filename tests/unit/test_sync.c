/* test_sync.c: the role-independent sync steps on real sqlite stores:
 * batches from the changes feed (limits, filter, upto/more), need, and
 * applying a batch with per-revision rejections and the checkpoint in the
 * same transaction. */
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tk_conn.h"
#include "tk_sync.h"
#include "tk_wire.h"
#include "tk_test.h"

static uint8_t pk[32], sk[64], vkey[32];

/* Keys for the revisions of one test. */
static void setup(void)
{
  crypto_sign_keypair(pk, sk);
  tk_vault_key_new(vkey);
}

typedef struct rev {
  tk_buf_t bytes;
  tk_rev_t r;
} rev_t;

static uint64_t rev_hlc = 1700000000000ull; /* clock of the revisions make_rev seals */

static void make_rev(rev_t *out, const uint8_t *record, const rev_t *parent,
                     const char *vault, const char *body)
{
  tk_rev_draft_t d;
  memset(&d, 0, sizeof d);
  memcpy(d.record_id, record, 16);
  d.type = "case";
  d.vault = vault;
  d.hlc = rev_hlc;
  d.generation = parent ? parent->r.generation + 1 : 1;
  d.parents = parent ? parent->r.id : NULL;
  d.nparents = parent ? 1 : 0;
  d.body = TK_SLICE(body, strlen(body));
  memset(out, 0, sizeof *out);
  TK_ASSERT(tk_rev_seal(&out->bytes, &d, vkey, sk, NULL) == 0);
  TK_ASSERT(tk_rev_parse(&out->r, TK_SLICE(out->bytes.p, out->bytes.n), NULL) == 0);
}

static tk_store_t *open_store(const char *name)
{
  char path[512];
  tk_store_t *s = NULL;
  snprintf(path, sizeof path, "%s/%s.db", tk_test_tmpdir(), name);
  TK_ASSERT(tk_store_open(&s, path, TK_STORE_CREATE, NULL) == 0);
  return s;
}

static int skip_vault_b(void *ctx, const tk_rev_meta_t *m)
{
  (void)ctx;
  return strcmp(m->vault, "b") != 0;
}

static void batches(void)
{
  setup();
  tk_store_t *s = open_store("batches");
  rev_t r[5];
  uint8_t rec[16];
  tk_random(rec, sizeof rec);
  make_rev(&r[0], rec, NULL, "a", "{\"n\":0}");
  for (int i = 1; i < 5; i++)
    make_rev(&r[i], rec, &r[i - 1], "a", "{\"n\":1}");
  for (int i = 0; i < 5; i++)
    CHECK_RC(tk_store_put_rev(s, &r[i].r, NULL, NULL), 0);
  tk_batch_t b;
  memset(&b, 0, sizeof b);
  CHECK_RC(tk_sync_batch(s, 0, 2, 1 << 20, NULL, NULL, &b, NULL), 0);
  CHECK(b.n == 2 && b.more && b.upto == 2);
  CHECK(memcmp(b.ids[0], r[0].r.id, 32) == 0 && memcmp(b.ids[1], r[1].r.id, 32) == 0);
  CHECK_RC(tk_sync_batch(s, b.upto, 10, 1 << 20, NULL, NULL, &b, NULL), 0);
  CHECK(b.n == 3 && !b.more && b.upto == 5);
  /* a byte limit smaller than one revision still yields one */
  CHECK_RC(tk_sync_batch(s, 0, 10, 1, NULL, NULL, &b, NULL), 0);
  CHECK(b.n == 1 && b.more && b.upto == 1);
  /* nothing after the end */
  CHECK_RC(tk_sync_batch(s, 5, 10, 1 << 20, NULL, NULL, &b, NULL), 0);
  CHECK(b.n == 0 && !b.more && b.upto == 5);
  /* a filter skips revisions but upto passes them */
  rev_t other;
  uint8_t rec2[16];
  tk_random(rec2, sizeof rec2);
  make_rev(&other, rec2, NULL, "b", "{}");
  CHECK_RC(tk_store_put_rev(s, &other.r, NULL, NULL), 0);
  CHECK_RC(tk_sync_batch(s, 5, 10, 1 << 20, skip_vault_b, NULL, &b, NULL), 0);
  CHECK(b.n == 0 && b.upto == 6 && !b.more);
  tk_batch_free(&b);
  for (int i = 0; i < 5; i++)
    tk_buf_free(&r[i].bytes);
  tk_buf_free(&other.bytes);
  tk_store_close(s);
}

static int deny_vault_x(void *ctx, const tk_rev_t *rev, char *reason, size_t len)
{
  (void)ctx;
  if (strcmp(rev->vault, "x") != 0) return 0;
  snprintf(reason, len, "no writing to x");
  return TK_REJECT_ACCESS;
}

static void apply_rejections(void)
{
  setup();
  tk_store_t *s = open_store("apply");
  rev_t r[4], x;
  uint8_t rec[16], rec2[16], peer[32] = {7};
  tk_random(rec, sizeof rec);
  tk_random(rec2, sizeof rec2);
  make_rev(&r[0], rec, NULL, "a", "{\"v\":0}");
  make_rev(&r[1], rec, &r[0], "a", "{\"v\":1}");
  make_rev(&r[2], rec, &r[1], "a", "{\"v\":2}");
  make_rev(&r[3], rec, &r[0], "a", "{\"v\":3}");
  make_rev(&x, rec2, NULL, "x", "{}");
  /* r[1]'s signature broken: r[1] rejected, r[2] (its child) rejected as
   * a missing parent, r[3] (a sibling) stored, x denied by the policy, and
   * one id that does not match its bytes. */
  uint8_t forged[4096];
  memcpy(forged, r[1].bytes.p, r[1].bytes.n);
  forged[r[1].bytes.n - 5] ^= 1;
  uint8_t forged_id[32];
  tk_sha256(forged_id, forged, r[1].bytes.n);
  uint8_t wrong_id[32];
  memset(wrong_id, 0xAB, sizeof wrong_id);
  tk_slice_t revs[6] = {
      TK_SLICE(r[0].bytes.p, r[0].bytes.n), TK_SLICE(forged, r[1].bytes.n),
      TK_SLICE(r[2].bytes.p, r[2].bytes.n), TK_SLICE(r[3].bytes.p, r[3].bytes.n),
      TK_SLICE(x.bytes.p, x.bytes.n),       TK_SLICE(r[3].bytes.p, r[3].bytes.n)};
  tk_slice_t ids[6] = {TK_SLICE(r[0].r.id, 32), TK_SLICE(forged_id, 32),
                       TK_SLICE(r[2].r.id, 32), TK_SLICE(r[3].r.id, 32),
                       TK_SLICE(x.r.id, 32),    TK_SLICE(wrong_id, 32)};
  tk_apply_result_t res;
  tk_apply_ckpt_t ck = {peer, TK_DIR_PULL, 42};
  CHECK_RC(tk_sync_apply(s, revs, ids, 6, peer, deny_vault_x, NULL, &ck, &res, NULL), 0);
  CHECK(res.accepted == 2);
  CHECK(res.nrejected == 4);
  CHECK(res.rejected[0].code == TK_REJECT_SIGNATURE &&
        memcmp(res.rejected[0].id, forged_id, 32) == 0);
  CHECK(res.rejected[1].code == TK_REJECT_PARENT &&
        memcmp(res.rejected[1].id, r[2].r.id, 32) == 0);
  CHECK(strstr(res.rejected[1].reason, "not in the store") != NULL);
  CHECK(res.rejected[2].code == TK_REJECT_ACCESS &&
        strcmp(res.rejected[2].reason, "no writing to x") == 0);
  CHECK(res.rejected[3].code == TK_REJECT_HASH);
  tk_apply_result_free(&res);
  CHECK(tk_store_has_rev(s, r[0].r.id) == 1 && tk_store_has_rev(s, r[3].r.id) == 1);
  CHECK(tk_store_has_rev(s, r[1].r.id) == 0 && tk_store_has_rev(s, r[2].r.id) == 0);
  CHECK(tk_store_has_rev(s, forged_id) == 0 && tk_store_has_rev(s, x.r.id) == 0);
  uint64_t seq = 0;
  CHECK_RC(tk_store_checkpoint_get(s, peer, TK_DIR_PULL, &seq, NULL), 0);
  CHECK(seq == 42);

  /* need: of r[0..3], the store lacks r[1] and r[2] */
  tk_slice_t offer[4] = {TK_SLICE(r[0].r.id, 32), TK_SLICE(r[1].r.id, 32),
                         TK_SLICE(r[2].r.id, 32), TK_SLICE(r[3].r.id, 32)};
  uint32_t need[4];
  size_t nneed = 0;
  CHECK_RC(tk_sync_need(s, offer, 4, need, &nneed, NULL), 0);
  CHECK(nneed == 2 && need[0] == 1 && need[1] == 2);
  tk_slice_t bad = TK_SLICE(r[0].r.id, 31);
  CHECK_RC(tk_sync_need(s, &bad, 1, need, &nneed, NULL), TK_EPROTO);

  /* applying again: duplicates, nothing new */
  tk_slice_t again[3] = {revs[0], TK_SLICE(r[1].bytes.p, r[1].bytes.n), revs[2]};
  tk_slice_t again_ids[3] = {ids[0], TK_SLICE(r[1].r.id, 32), ids[2]};
  CHECK_RC(tk_sync_apply(s, again, again_ids, 3, NULL, NULL, NULL, NULL, &res, NULL), 0);
  CHECK(res.accepted == 2 && res.duplicates == 1 && res.nrejected == 0);
  tk_apply_result_free(&res);
  /* stored revisions remember which peer they came from */
  tk_rev_meta_t m;
  CHECK_RC(tk_store_rev_meta(s, r[0].r.id, &m, NULL), 0);
  CHECK(m.has_origin && memcmp(m.origin, peer, 32) == 0);
  CHECK_RC(tk_store_rev_meta(s, r[1].r.id, &m, NULL), 0);
  CHECK(!m.has_origin);
  uint8_t heads[4][32];
  size_t nh = 0;
  CHECK(tk_store_heads(s, rec, heads, 4, &nh, NULL) == 2); /* r[2] and r[3]: a conflict */

  for (int i = 0; i < 4; i++)
    tk_buf_free(&r[i].bytes);
  tk_buf_free(&x.bytes);
  tk_store_close(s);
}

static void apply_is_atomic_on_store_failure(void)
{
  setup();
  /* a store in the middle of someone else's write lock: the batch fails
   * as a whole and its checkpoint does not move */
  tk_store_t *s = open_store("atomic"), *other = NULL;
  char path[512];
  snprintf(path, sizeof path, "%s/atomic.db", tk_test_tmpdir());
  CHECK_RC(tk_store_open(&other, path, 0, NULL), 0);
  CHECK_RC(tk_store_begin(other, NULL), 0);
  CHECK_RC(tk_store_meta_set(other, "lock", "1", NULL), 0);
  rev_t r;
  uint8_t rec[16], peer[32] = {9};
  tk_random(rec, sizeof rec);
  make_rev(&r, rec, NULL, "a", "{}");
  tk_slice_t revs[1] = {TK_SLICE(r.bytes.p, r.bytes.n)}, ids[1] = {TK_SLICE(r.r.id, 32)};
  tk_apply_result_t res;
  tk_apply_ckpt_t ck = {peer, TK_DIR_PULL, 5};
  CHECK(tk_sync_apply(s, revs, ids, 1, NULL, NULL, NULL, &ck, &res, NULL) == TK_EBUSY);
  CHECK(res.accepted == 0);
  tk_apply_result_free(&res);
  tk_store_rollback(other);
  tk_store_close(other);
  CHECK(tk_store_has_rev(s, r.r.id) == 0);
  uint64_t seq = 1;
  CHECK_RC(tk_store_checkpoint_get(s, peer, TK_DIR_PULL, &seq, NULL), 0);
  CHECK(seq == 0);
  tk_buf_free(&r.bytes);
  tk_store_close(s);
}

static void clock_far_ahead_refused(void)
{
  setup();
  tk_store_t *s = open_store("clock");
  rev_t near, far;
  uint8_t rec1[16], rec2[16];
  tk_random(rec1, sizeof rec1);
  tk_random(rec2, sizeof rec2);
  uint64_t now = (uint64_t)time(NULL) * 1000;
  rev_hlc = now + TK_MAX_CLOCK_AHEAD_MS - 3600 * 1000; /* just inside */
  make_rev(&near, rec1, NULL, "a", "{}");
  rev_hlc = now + TK_MAX_CLOCK_AHEAD_MS + 3600 * 1000; /* just past */
  make_rev(&far, rec2, NULL, "a", "{}");
  rev_hlc = 1700000000000ull;
  tk_slice_t revs[2] = {TK_SLICE(near.bytes.p, near.bytes.n),
                        TK_SLICE(far.bytes.p, far.bytes.n)};
  tk_slice_t ids[2] = {TK_SLICE(near.r.id, 32), TK_SLICE(far.r.id, 32)};
  tk_apply_result_t res;
  CHECK_RC(tk_sync_apply(s, revs, ids, 2, NULL, NULL, NULL, NULL, &res, NULL), 0);
  CHECK(res.accepted == 1 && res.nrejected == 1);
  CHECK(res.rejected[0].code == TK_REJECT_MALFORMED &&
        memcmp(res.rejected[0].id, far.r.id, 32) == 0);
  CHECK(strstr(res.rejected[0].reason, "ahead") != NULL);
  tk_apply_result_free(&res);
  tk_buf_free(&near.bytes);
  tk_buf_free(&far.bytes);
  tk_store_close(s);
}

/* A batch big enough for helper threads: the checks of later revisions run
 * while earlier ones are stored, yet policy sees every revision in batch
 * order with its own prepare result, and parents stored earlier in the
 * batch count. */
#define PAR_RECORDS 150
typedef struct par_ctx {
  const tk_slice_t *ids;
  size_t n, next, policies, releases, mismatched;
  atomic_size_t prepared;
} par_ctx_t;

static void *par_prepare(void *ctx, const tk_rev_t *rev)
{
  par_ctx_t *c = ctx;
  atomic_fetch_add(&c->prepared, 1);
  uint8_t *id = malloc(32);
  TK_ASSERT(id);
  memcpy(id, rev->id, 32);
  return id;
}

static int par_policy(void *ctx, const tk_rev_t *rev, void *prep, char *reason,
                      size_t len)
{
  par_ctx_t *c = ctx;
  (void)reason;
  (void)len;
  c->policies++;
  /* skip the slots the prechecks refused: policy never sees those */
  while (c->next < c->n && memcmp(c->ids[c->next].p, rev->id, 32) != 0)
    c->next++;
  if (c->next == c->n || !prep || memcmp(prep, rev->id, 32) != 0) c->mismatched++;
  c->next++;
  return 0;
}

static void par_release(void *ctx, void *prep)
{
  ((par_ctx_t *)ctx)->releases++;
  free(prep);
}

static void apply_parallel_in_order(void)
{
  setup();
  tk_store_t *s = open_store("parallel");
  enum { N = 2 * PAR_RECORDS };
  static rev_t r[N];
  static uint8_t forged[PAR_RECORDS / 10][4096], forged_id[PAR_RECORDS / 10][32];
  tk_slice_t revs[N], ids[N];
  size_t nforged = 0;
  for (int i = 0; i < PAR_RECORDS; i++) {
    uint8_t rec[16];
    tk_random(rec, sizeof rec);
    make_rev(&r[2 * i], rec, NULL, "a", "{\"n\":0}");
    make_rev(&r[2 * i + 1], rec, &r[2 * i], "a", "{\"n\":1}");
    revs[2 * i] = TK_SLICE(r[2 * i].bytes.p, r[2 * i].bytes.n);
    ids[2 * i] = TK_SLICE(r[2 * i].r.id, 32);
    revs[2 * i + 1] = TK_SLICE(r[2 * i + 1].bytes.p, r[2 * i + 1].bytes.n);
    ids[2 * i + 1] = TK_SLICE(r[2 * i + 1].r.id, 32);
    if (i % 10 == 3) { /* a root with a broken signature: its child has no parent */
      memcpy(forged[nforged], r[2 * i].bytes.p, r[2 * i].bytes.n);
      forged[nforged][r[2 * i].bytes.n - 5] ^= 1;
      tk_sha256(forged_id[nforged], forged[nforged], r[2 * i].bytes.n);
      revs[2 * i] = TK_SLICE(forged[nforged], r[2 * i].bytes.n);
      ids[2 * i] = TK_SLICE(forged_id[nforged], 32);
      nforged++;
    }
  }
  par_ctx_t c = {.ids = ids, .n = N};
  atomic_init(&c.prepared, 0);
  tk_apply_prep_t hooks = {par_prepare, par_policy, par_release};
  uint8_t peer[32] = {3};
  tk_apply_ckpt_t ck = {peer, TK_DIR_PULL, 77};
  tk_apply_result_t res;
  CHECK_RC(tk_sync_apply_prep(s, revs, ids, N, peer, &hooks, &c, &ck, &res, NULL), 0);
  CHECK(res.accepted == N - 2 * nforged);
  CHECK(res.nrejected == 2 * nforged);
  for (size_t k = 0; k < res.nrejected; k++) {
    int want = k % 2 == 0 ? TK_REJECT_SIGNATURE : TK_REJECT_PARENT;
    CHECK(res.rejected[k].code == want);
  }
  /* every revision that verified was prepared once, judged once in order
   * with its own result, and released */
  CHECK(atomic_load(&c.prepared) == N - nforged);
  CHECK(c.policies == N - nforged && c.releases == N - nforged && c.mismatched == 0);
  tk_apply_result_free(&res);
  for (int i = 0; i < N; i++)
    CHECK(tk_store_has_rev(s, r[i].r.id) == ((i / 2) % 10 != 3));
  uint64_t seq = 0;
  CHECK_RC(tk_store_checkpoint_get(s, peer, TK_DIR_PULL, &seq, NULL), 0);
  CHECK(seq == 77);
  for (int i = 0; i < N; i++)
    tk_buf_free(&r[i].bytes);
  tk_store_close(s);
}

/* A chunk offer for a pull stops before `before`: chunks the hub took
 * after its last revision offer are left for the next session (more = 0,
 * upto the last one offered). */
static tk_frame_t *offered; /* the last frame the memory connection sent */

static int keep_frame(void *ctx, tk_slice_t p)
{
  (void)ctx;
  tk_wire_free(offered);
  offered = tk_wire_decode(p);
  return 0;
}

static void no_close(tk_conn_t *c, int reason)
{
  (void)c;
  (void)reason;
}

static void chunk_offer_bound(void)
{
  tk_store_t *s = open_store("chunk_bound");
  uint8_t id[5][32], data[5][8];
  for (int i = 0; i < 5; i++) {
    memset(data[i], 'a' + i, sizeof data[i]);
    tk_sha256(id[i], data[i], sizeof data[i]);
    CHECK_RC(tk_store_chunk_put(s, id[i], TK_SLICE(data[i], sizeof data[i]), NULL, NULL),
             0);
  }
  static const tk_conn_cbs_t cbs = {NULL, NULL, no_close, NULL};
  tk_conn_t *c = NULL;
  uint8_t spki[TK_HASH_LEN] = {1};
  CHECK_RC(tk_conn_memory(&cbs, NULL, 0, keep_frame, NULL, &c, NULL), 0);
  CHECK_RC(tk_conn_memory_ready(c, spki), 0);
  tk_chunk_send_t cs;
  memset(&cs, 0, sizeof cs);
  /* chunks 2..5 are in the feed; the session's bound is 4: 2 and 3 only */
  CHECK_RC(tk_chunk_send_offer(&cs, tk_conn_transport(c), s, 1, 4, 1, NULL, NULL, NULL),
           0);
  CHECK(offered && offered->msg_case == TUNDUK__V1__FRAME__MSG_OFFER);
  CHECK(offered->offer->n_ids == 2 && offered->offer->upto == 3 && !offered->offer->more);
  CHECK(memcmp(offered->offer->ids[0].data, id[1], 32) == 0 &&
        memcmp(offered->offer->ids[1].data, id[2], 32) == 0);
  /* the next session's bound takes the rest; 0 is no bound */
  CHECK_RC(tk_chunk_send_offer(&cs, tk_conn_transport(c), s, 3, 0, 1, NULL, NULL, NULL),
           0);
  CHECK(offered->offer->n_ids == 2 && offered->offer->upto == 5);
  /* a bound at or before since: an empty offer that moves nothing */
  CHECK_RC(tk_chunk_send_offer(&cs, tk_conn_transport(c), s, 3, 3, 1, NULL, NULL, NULL),
           0);
  CHECK(offered->offer->n_ids == 0 && offered->offer->upto == 3 && !offered->offer->more);
  tk_chunk_send_free(&cs);
  tk_wire_free(offered);
  offered = NULL;
  tk_conn_close(c, 0, NULL);
  tk_store_close(s);
}

/* The pacing follows the rate the acks come back at: small steps when acks
 * are slow, large when fast; the window holds at least two steps; an ack
 * with nothing out is a protocol error. */
static void stepper_paces_by_acks(void)
{
  tk_stepper_t p;
  struct timespec ms20 = {0, 20 * 1000 * 1000};
  tk_stepper_init(&p, 0, 1u << 20, 4u << 20);
  CHECK(tk_stepper_bytes(&p) == TK_STEP_START);
  CHECK_RC(tk_stepper_acked(&p, NULL, NULL), TK_EPROTO);
  int sent = 0;
  while (tk_stepper_open(&p)) {
    tk_stepper_sent(&p, tk_stepper_bytes(&p), 1, (uint64_t)++sent);
    CHECK(sent <= TK_STEP_QUEUE);
  }
  CHECK(sent == 4); /* before any ack: four first steps */
  /* slow acks: 32 KiB every 20 ms once the link is busy is ~1.6 MB/s; one
   * whole ack round of 20 ms for the first */
  uint64_t upto = 0;
  for (int i = 0; i < 4; i++) {
    nanosleep(&ms20, NULL);
    CHECK_RC(tk_stepper_acked(&p, &upto, NULL), 0);
    CHECK(upto == (uint64_t)i + 1); /* oldest first */
  }
  CHECK(p.rate > 300000 && p.rate < 2000000); /* slower if the machine is loaded */
  uint64_t mid = tk_stepper_bytes(&p);
  CHECK(mid >= 150000 && mid <= 1000000); /* half a second of the rate */
  CHECK(tk_stepper_open(&p));
  /* slower: 16 KiB steps acked every 100 ms (~160 KB/s) shrink the step */
  struct timespec ms100 = {0, 100 * 1000 * 1000};
  for (int round = 0; round < 8; round++) {
    tk_stepper_sent(&p, 16384, 1, 100 + (uint64_t)round);
    tk_stepper_sent(&p, 16384, 1, 200 + (uint64_t)round);
    nanosleep(&ms100, NULL);
    CHECK_RC(tk_stepper_acked(&p, NULL, NULL), 0);
    nanosleep(&ms100, NULL);
    CHECK_RC(tk_stepper_acked(&p, NULL, NULL), 0);
  }
  CHECK(tk_stepper_bytes(&p) < mid / 2);
  CHECK(tk_stepper_bytes(&p) >= TK_STEP_MIN);
  /* the window always lets two steps out */
  tk_stepper_sent(&p, tk_stepper_bytes(&p), 1, 1000);
  CHECK(tk_stepper_open(&p));
  /* a cap below TK_STEP_MIN (a hub's batch_bytes of 8 KiB) is kept */
  tk_stepper_init(&p, 0, 8192, 0);
  CHECK(tk_stepper_bytes(&p) == 8192);
}

/* A step holds the revisions after since in feed order with their exact
 * bytes, up to the byte budget (at least one), upto passing what the
 * filter skips; a received step's ids are the SHA-256 of its bytes. */
static void step_build_and_take(void)
{
  setup();
  tk_store_t *s = open_store("steps");
  rev_t r[6];
  uint8_t rec[16];
  for (int i = 0; i < 6; i++) {
    randombytes_buf(rec, sizeof rec);
    make_rev(&r[i], rec, NULL, i == 2 ? "b" : "a", "{\"title\":\"a step\"}");
    tk_slice_t rv = TK_SLICE(r[i].bytes.p, r[i].bytes.n),
               id = TK_SLICE(r[i].r.id, TK_REV_ID_LEN);
    tk_apply_result_t res;
    CHECK_RC(tk_sync_apply(s, &rv, &id, 1, NULL, NULL, NULL, NULL, &res, NULL), 0);
    tk_apply_result_free(&res);
  }
  tk_step_t st = {0};
  uint64_t one = r[0].bytes.n;
  CHECK_RC(tk_step_build(&st, s, 0, 2 * one + one / 2, skip_vault_b, NULL, NULL), 0);
  CHECK(st.batch.n == 2 && st.batch.more);
  CHECK(st.batch.upto == 2);
  CHECK(st.offs[2] == st.data.n && st.batch.bytes == st.data.n);
  CHECK(memcmp(st.data.p + st.offs[1], r[1].bytes.p, r[1].bytes.n) == 0);
  /* from 2: the vault-b revision is skipped, upto passes it */
  CHECK_RC(tk_step_build(&st, s, 2, 1, skip_vault_b, NULL, NULL), 0);
  CHECK(st.batch.n == 1 && st.batch.upto == 4); /* at least one, whatever its size */
  CHECK(memcmp(st.batch.ids[0], r[3].r.id, TK_REV_ID_LEN) == 0);
  CHECK_RC(tk_step_build(&st, s, 4, 1u << 20, NULL, NULL, NULL), 0);
  CHECK(st.batch.n == 2 && !st.batch.more && st.batch.upto == 6);
  ProtobufCBinaryData pb[2];
  for (int i = 0; i < 2; i++)
    pb[i] = tk_pb_bytes(st.data.p + st.offs[i], st.offs[i + 1] - st.offs[i]);
  tk_slice_t *revs, *ids;
  uint8_t(*idbuf)[TK_REV_ID_LEN];
  CHECK_RC(tk_step_take(pb, 2, &revs, &ids, &idbuf), 0);
  int same = memcmp(ids[0].p, r[4].r.id, TK_REV_ID_LEN) == 0 &&
             memcmp(ids[1].p, r[5].r.id, TK_REV_ID_LEN) == 0 && revs[1].n == r[5].bytes.n;
  free(revs);
  free(ids);
  free(idbuf);
  tk_step_free(&st);
  CHECK_RC(tk_step_build(&st, s, 6, 1u << 20, NULL, NULL, NULL), 0);
  CHECK(st.batch.n == 0 && !st.batch.more && st.batch.upto == 6);
  tk_step_free(&st);
  for (int i = 0; i < 6; i++)
    tk_buf_free(&r[i].bytes);
  tk_store_close(s);
  CHECK(same);
}

TK_TESTS(TK_TEST(stepper_paces_by_acks), TK_TEST(step_build_and_take), TK_TEST(batches),
         TK_TEST(chunk_offer_bound), TK_TEST(clock_far_ahead_refused),
         TK_TEST(apply_rejections), TK_TEST(apply_is_atomic_on_store_failure),
         TK_TEST(apply_parallel_in_order))
