/*
 * sync.c: role-independent sync steps (see tk_sync.h).
 *
 * Threads: the caller's, plus helper threads that live only inside
 * tk_sync_apply_prep: they parse, hash and verify the batch's revisions
 * (and run the hooks' prepare) into an array each slot of which one thread
 * writes, in batch order, while the caller's thread stores the slots that
 * are done (it waits for the next one, or checks one itself). They never
 * touch the store, and are joined before tk_sync_apply_prep returns.
 */
#include "tk_sync.h"

#include "tk_plugin.h"
#include "tk_sync_frames.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void tk_batch_free(tk_batch_t *b)
{
  free(b->ids);
  free(b->seqs);
  memset(b, 0, sizeof *b);
}

int tk_batch_push(tk_batch_t *b, const tk_rev_meta_t *m)
{
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    void *ids = realloc(b->ids, cap * TK_REV_ID_LEN);
    if (!ids) return TK_ENOMEM;
    b->ids = ids;
    void *seqs = realloc(b->seqs, cap * sizeof *b->seqs);
    if (!seqs) return TK_ENOMEM;
    b->seqs = seqs;
    b->cap = cap;
  }
  memcpy(b->ids[b->n], m->id, TK_REV_ID_LEN);
  b->seqs[b->n] = m->seq;
  b->n++;
  b->bytes += m->size;
  return 0;
}

typedef struct batch_ctx {
  tk_batch_t *b;
  size_t max_ids;
  uint64_t max_bytes;
  tk_batch_filter filter;
  void *ctx;
  int rc;
} batch_ctx_t;

#define STOP_FULL 1 /* positive: stops tk_store_changes without an error */

static int batch_add(void *ctx, const tk_rev_meta_t *m, tk_slice_t bytes)
{
  batch_ctx_t *c = ctx;
  (void)bytes;
  if (c->b->n > 0 && (c->b->n >= c->max_ids || c->b->bytes + m->size > c->max_bytes)) {
    c->b->more = 1;
    return STOP_FULL;
  }
  int keep = c->filter ? c->filter(c->ctx, m) : 1;
  if (keep < 0) {
    c->rc = keep;
    return keep;
  }
  if (keep) {
    int rc = tk_batch_push(c->b, m);
    if (rc) {
      c->rc = rc;
      return rc;
    }
  }
  c->b->upto = m->seq;
  return 0;
}

int tk_sync_batch(tk_store_t *s, uint64_t since, size_t max_ids, uint64_t max_bytes,
                  tk_batch_filter filter, void *ctx, tk_batch_t *b, tk_err_t *err)
{
  b->n = 0;
  b->bytes = 0;
  b->upto = since;
  b->more = 0;
  batch_ctx_t c = {b, max_ids, max_bytes, filter, ctx, 0};
  int rc = tk_store_changes(s, since, 0, batch_add, &c, err);
  if (rc == STOP_FULL) rc = 0;
  if (c.rc) rc = tk_err_set(err, c.rc, "building a batch: %s", tk_strerror(c.rc));
  return rc;
}

int tk_sync_need(tk_store_t *s, const tk_slice_t *ids, size_t n, uint32_t *need,
                 size_t *nneed, tk_err_t *err)
{
  *nneed = 0;
  for (size_t i = 0; i < n; i++) {
    if (ids[i].n != TK_REV_ID_LEN)
      return tk_err_set(err, TK_EPROTO, "offered id %zu is %zu bytes, not %d", i,
                        ids[i].n, TK_REV_ID_LEN);
    int has = tk_store_has_rev(s, ids[i].p);
    if (has < 0) return tk_err_set(err, has, "store: %s", tk_strerror(has));
    if (!has) need[(*nneed)++] = (uint32_t)i;
  }
  return 0;
}

int tk_sync_send_revisions(tk_transport_t *c, tk_store_t *s,
                           const uint8_t (*ids)[TK_REV_ID_LEN], size_t nids,
                           const uint32_t *index, size_t n, uint64_t *rev_bytes,
                           tk_err_t *err)
{
  tk_buf_t all = TK_BUF_INIT;
  size_t *offs = NULL;
  ProtobufCBinaryData *revs = NULL;
  int rc = 0;
  for (size_t i = 0; i < n; i++)
    if (index[i] >= nids || (i > 0 && index[i] <= index[i - 1]))
      return tk_err_set(err, TK_EPROTO, "need indexes out of range or not ascending");
  offs = calloc(n + 1, sizeof *offs);
  revs = calloc(n ? n : 1, sizeof *revs);
  if (!offs || !revs) rc = tk_err_set(err, TK_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < n; i++) {
    offs[i] = all.n;
    rc = tk_store_get_rev(s, ids[index[i]], &all, err);
  }
  if (rc) goto done;
  offs[n] = all.n;
  for (size_t i = 0; i < n; i++)
    revs[i] = tk_pb_bytes(all.p + offs[i], offs[i + 1] - offs[i]);
  rc = tk_sync_send_revisions_msg(c, revs, n);
  if (rc)
    tk_err_set(err, rc, "cannot send %zu revisions (%zu bytes): %s", n, all.n,
               tk_strerror(rc));
  else if (rev_bytes)
    *rev_bytes = all.n;
done:
  tk_buf_free(&all);
  free(offs);
  free(revs);
  return rc;
}

/* Fills pm from rev; the hex strings live in the caller's buffers. */
typedef struct moderate_meta {
  char rec[2 * TK_RECORD_ID_LEN + 1], rid[2 * TK_REV_ID_LEN + 1],
      author[TK_DEVICE_ID_STRLEN];
  tk_plugin_meta_t pm;
} moderate_meta_t;

static void moderate_meta(moderate_meta_t *m, const tk_rev_t *rev)
{
  tk_hex_encode(m->rec, rev->record_id, TK_RECORD_ID_LEN);
  tk_hex_encode(m->rid, rev->id, TK_REV_ID_LEN);
  tk_device_id_format(m->author, rev->author);
  tk_plugin_meta_t pm = {m->rec,   m->rid,       rev->type,       rev->vault,   m->author,
                         rev->hlc, rev->bytes.n, rev->generation, rev->nparents};
  m->pm = pm;
}

/* Turns a verdict into tk_sync_moderate's answer. */
static int moderate_verdict(const tk_plugin_verdict_t *v, tk_store_t *s,
                            const tk_rev_t *rev, const uint8_t sender[TK_DEVICE_ID_LEN],
                            char *reason, size_t len)
{
  if (v->verdict == TK_VERDICT_ACCEPT) return 0;
  snprintf(reason, len, "%s (rule %s in %s)", v->reason, v->rule, v->plugin);
  if (v->verdict == TK_VERDICT_REJECT) return TK_REJECT_MODERATION;
  tk_err_t e;
  if (tk_store_quarantine_put(s, rev, sender, reason, &e) != 0) {
    snprintf(reason, len, "could not quarantine: %s", tk_err_str(&e));
    return TK_REJECT_INTERNAL;
  }
  return TK_REJECT_QUARANTINED;
}

int tk_sync_moderation_verdicts(struct tk_plugin_set *set, const tk_rev_t *const *revs,
                                const tk_slice_t *bodies, struct json_t *const *records,
                                const char *const *parse_errors, size_t n,
                                uint64_t budget_ms, tk_plugin_verdict_t *v)
{
  int rc = 0;
  size_t m = 0;
  moderate_meta_t *meta = calloc(n ? n : 1, sizeof *meta);
  tk_plugin_item_t *items = calloc(n ? n : 1, sizeof *items);
  size_t *at = calloc(n ? n : 1, sizeof *at);
  tk_plugin_verdict_t *got = calloc(n ? n : 1, sizeof *got);
  if (!meta || !items || !at || !got) {
    rc = TK_ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    memset(&v[i], 0, sizeof v[i]);
    v[i].verdict = TK_VERDICT_UNJUDGED;
    if (!revs[i]) continue;
    moderate_meta(&meta[m], revs[i]);
    items[m].meta = &meta[m].pm;
    if (bodies) items[m].body = bodies[i];
    if (records) items[m].record = records[i];
    if (parse_errors) items[m].parse_error = parse_errors[i];
    at[m++] = i;
  }
  rc = tk_plugin_moderate_batch(set, items, m, budget_ms, got);
  for (size_t k = 0; rc == 0 && k < m; k++)
    v[at[k]] = got[k];
done:
  free(meta);
  free(items);
  free(at);
  free(got);
  return rc;
}

int tk_sync_moderate_apply(const tk_plugin_verdict_t *v, tk_store_t *s,
                           const tk_rev_t *rev, const uint8_t sender[TK_DEVICE_ID_LEN],
                           char *reason, size_t len)
{
  return moderate_verdict(v, s, rev, sender, reason, len);
}

int tk_sync_moderate(struct tk_plugin_set *set, tk_store_t *s, const tk_rev_t *rev,
                     tk_slice_t body, const uint8_t sender[TK_DEVICE_ID_LEN],
                     char *reason, size_t len)
{
  if (!set || tk_plugin_set_count(set, TK_PLUGIN_MODERATION) == 0) return 0;
  moderate_meta_t m;
  moderate_meta(&m, rev);
  tk_plugin_verdict_t v;
  tk_plugin_moderate(set, &m.pm, body, &v);
  return moderate_verdict(&v, s, rev, sender, reason, len);
}

int tk_sync_moderate_parsed(struct tk_plugin_set *set, tk_store_t *s, const tk_rev_t *rev,
                            struct json_t *record, const char *parse_error,
                            const uint8_t sender[TK_DEVICE_ID_LEN], char *reason,
                            size_t len)
{
  if (!set || tk_plugin_set_count(set, TK_PLUGIN_MODERATION) == 0) return 0;
  moderate_meta_t m;
  moderate_meta(&m, rev);
  tk_plugin_verdict_t v;
  tk_plugin_moderate_parsed(set, &m.pm, record, parse_error, &v);
  return moderate_verdict(&v, s, rev, sender, reason, len);
}

void tk_apply_result_free(tk_apply_result_t *r)
{
  free(r->rejected);
  memset(r, 0, sizeof *r);
}

static int reject(tk_apply_result_t *r, const uint8_t *id, int code, const char *reason)
{
  tk_reject_t *v = realloc(r->rejected, (r->nrejected + 1) * sizeof *v);
  if (!v) return TK_ENOMEM;
  r->rejected = v;
  tk_reject_t *x = &v[r->nrejected++];
  memset(x, 0, sizeof *x);
  if (id) memcpy(x->id, id, TK_REV_ID_LEN);
  x->code = code;
  snprintf(x->reason, sizeof x->reason, "%s", reason);
  return 0;
}

/* ---- applying a batch ------------------------------------------------------ */

/* What the checks that need no store found for one revision, on up to
 * APPLY_THREADS helper threads while the caller stores the ones before. */
typedef struct precheck {
  tk_rev_t rev;
  int code; /* 0: parsed, hashes to its id, signature verifies; else TK_REJECT_* */
  char reason[200];
  void *prep;      /* the hooks' prepare result, released after the batch */
  atomic_int done; /* set (release) once the fields above are final */
} precheck_t;

typedef struct precheck_job {
  const tk_slice_t *revs, *ids;
  precheck_t *pre;
  size_t n;
  atomic_size_t next; /* the first slot no thread has claimed */
  const tk_apply_prep_t *hooks;
  void *ctx;
  pthread_mutex_t lock; /* with slot_done: the caller sleeps until a slot is */
  pthread_cond_t slot_done;
} precheck_job_t;

/* Ed25519 verification dominates a received batch; below this many
 * revisions starting threads costs more than it saves. */
#define APPLY_THREADS 4
#define APPLY_PARALLEL_MIN 16

/* Parse, hash and signature of one revision: pure functions of its bytes. */
static void precheck_one(precheck_t *p, tk_slice_t bytes, tk_slice_t want,
                         const tk_apply_prep_t *hooks, void *ctx)
{
  tk_err_t e;
  tk_err_clear(&e);
  p->prep = NULL;
  p->reason[0] = '\0';
  p->code = TK_REJECT_NONE;
  if (want.n != TK_REV_ID_LEN) {
    snprintf(p->reason, sizeof p->reason, "offered id is not 32 bytes");
    p->code = TK_REJECT_MALFORMED;
  } else if (tk_rev_parse(&p->rev, bytes, &e) != 0) {
    snprintf(p->reason, sizeof p->reason, "%s", tk_err_str(&e));
    p->code = TK_REJECT_MALFORMED;
  } else if (tk_rev_check_id(&p->rev, want.p, &e) != 0) {
    snprintf(p->reason, sizeof p->reason, "bytes do not hash to the offered id");
    p->code = TK_REJECT_HASH;
  } else if (tk_rev_verify_sig(&p->rev, &e) != 0) {
    snprintf(p->reason, sizeof p->reason, "%s", tk_err_str(&e));
    p->code = TK_REJECT_SIGNATURE;
  } else if (hooks && hooks->prepare) {
    p->prep = hooks->prepare(ctx, &p->rev);
  }
}

/* Claims the first unclaimed slot and checks it: 0 when none was left. */
static int precheck_next(precheck_job_t *j)
{
  size_t i = atomic_fetch_add(&j->next, 1);
  if (i >= j->n) return 0;
  precheck_one(&j->pre[i], j->revs[i], j->ids[i], j->hooks, j->ctx);
  atomic_store_explicit(&j->pre[i].done, 1, memory_order_release);
  pthread_mutex_lock(&j->lock);
  pthread_cond_broadcast(&j->slot_done);
  pthread_mutex_unlock(&j->lock);
  return 1;
}

static void *precheck_worker(void *arg)
{
  while (precheck_next(arg)) {
  }
  return NULL;
}

/* Starts one helper per CPU but the caller's (at least one; none for a
 * small batch): the caller stores, and checks too when it catches up. A
 * thread that cannot be started only means fewer helpers. Returns how many
 * run. */
static size_t precheck_start(precheck_job_t *j, pthread_t th[APPLY_THREADS])
{
  size_t nth = 0;
  if (j->n < APPLY_PARALLEL_MIN) return 0;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  size_t want = cpus <= 2 ? 1 : cpus > APPLY_THREADS ? APPLY_THREADS : (size_t)cpus - 1;
  while (nth < want && pthread_create(&th[nth], NULL, precheck_worker, j) == 0)
    nth++;
  return nth;
}

/* Slot i once final: while it is not, the caller checks unclaimed slots
 * itself, and sleeps only when every slot is claimed. */
static const precheck_t *precheck_wait(precheck_job_t *j, size_t i)
{
  precheck_t *p = &j->pre[i];
  while (!atomic_load_explicit(&p->done, memory_order_acquire)) {
    if (precheck_next(j)) continue;
    pthread_mutex_lock(&j->lock);
    while (!atomic_load_explicit(&p->done, memory_order_acquire))
      pthread_cond_wait(&j->slot_done, &j->lock);
    pthread_mutex_unlock(&j->lock);
  }
  return p;
}

/* Lets the helpers finish the slot each is on, and joins them; slots never
 * claimed stay as calloc left them (no prep). */
static void precheck_stop(precheck_job_t *j, pthread_t th[APPLY_THREADS], size_t nth)
{
  atomic_store(&j->next, j->n);
  for (size_t t = 0; t < nth; t++)
    pthread_join(th[t], NULL);
}

/* Revisions of one judge call: small enough that storing the ones judged
 * overlaps the helpers checking the next, big enough that a call's fixed
 * cost (a plugin worker's round trip per rule) is spread thin. */
#define APPLY_JUDGE_RANGE 256

/* judge on slots [from, to), once each is final; revs and preps have
 * room for APPLY_JUDGE_RANGE. */
static void judge_range(precheck_job_t *j, tk_apply_judge judge, size_t from, size_t to,
                        const tk_rev_t **revs, void **preps)
{
  for (size_t i = from; i < to; i++) {
    const precheck_t *p = precheck_wait(j, i);
    revs[i - from] = p->code ? NULL : &p->rev;
    preps[i - from] = p->prep;
  }
  judge(j->ctx, to - from, revs, preps);
  for (size_t i = from; i < to; i++)
    j->pre[i].prep = preps[i - from];
}

/* The checks that need this node's state, then the store, inside the open
 * transaction. Returns 0 (stored or duplicate, counted), a TK_REJECT_* code
 * > 0 with reason, or a negative store error that must abort the batch. */
static int apply_one(tk_store_t *s, const precheck_t *p, const uint8_t *origin,
                     const tk_apply_prep_t *hooks, void *ctx, tk_apply_result_t *res,
                     char *reason, size_t rlen)
{
  const tk_rev_t *rev = &p->rev;
  tk_err_t e;
  tk_err_clear(&e);
  if (p->code) {
    snprintf(reason, rlen, "%s", p->reason);
    return p->code;
  }
  /* Every store's clock moves past the highest clock it has seen: one
   * revision dated far ahead would drag every replica's clock with it. */
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  uint64_t now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
  if (rev->hlc > now_ms + TK_MAX_CLOCK_AHEAD_MS) {
    snprintf(reason, rlen, "its clock is %llu days ahead of this node's (limit %llu)",
             (unsigned long long)((rev->hlc - now_ms) / 86400000ull),
             (unsigned long long)(TK_MAX_CLOCK_AHEAD_MS / 86400000ull));
    return TK_REJECT_MALFORMED;
  }
  if (hooks && hooks->policy) {
    int code = hooks->policy(ctx, rev, p->prep, reason, rlen);
    if (code) return code;
  }
  uint64_t seq;
  int rc = tk_store_put_rev_from(s, rev, origin, &seq, &e);
  if (rc == TK_EEXIST) {
    if (tk_store_rev_local(s, rev->id))
      res->own++;
    else
      res->duplicates++;
    return 0;
  }
  if (rc == TK_EPARENT) {
    snprintf(reason, rlen, "%s", tk_err_str(&e));
    return TK_REJECT_PARENT;
  }
  if (rc) return rc;
  res->accepted++;
  res->bytes += rev->bytes.n;
  return 0;
}

int tk_sync_apply_prep(tk_store_t *s, const tk_slice_t *revs, const tk_slice_t *ids,
                       size_t n, const uint8_t *origin, const tk_apply_prep_t *hooks,
                       void *ctx, const tk_apply_ckpt_t *ckpt, tk_apply_result_t *res,
                       tk_err_t *err)
{
  return tk_sync_apply_judged(s, revs, ids, n, origin, hooks, NULL, ctx, ckpt, res, err);
}

int tk_sync_apply_judged(tk_store_t *s, const tk_slice_t *revs, const tk_slice_t *ids,
                         size_t n, const uint8_t *origin, const tk_apply_prep_t *hooks,
                         tk_apply_judge judge, void *ctx, const tk_apply_ckpt_t *ckpt,
                         tk_apply_result_t *res, tk_err_t *err)
{
  memset(res, 0, sizeof *res);
  precheck_t *pre = calloc(n ? n : 1, sizeof *pre);
  if (!pre) return tk_err_set(err, TK_ENOMEM, "out of memory checking %zu revisions", n);
  precheck_job_t job = {
      .revs = revs, .ids = ids, .pre = pre, .n = n, .hooks = hooks, .ctx = ctx};
  atomic_init(&job.next, 0);
  pthread_mutex_init(&job.lock, NULL);
  pthread_cond_init(&job.slot_done, NULL);
  pthread_t th[APPLY_THREADS];
  size_t nth = precheck_start(&job, th);
  const tk_rev_t *jrevs[APPLY_JUDGE_RANGE];
  void *jpreps[APPLY_JUDGE_RANGE];
  int rc = tk_store_begin(s, err);
  if (rc) goto done;
  for (size_t i = 0; i < n; i++) {
    char reason[200] = "";
    if (judge && i % APPLY_JUDGE_RANGE == 0)
      judge_range(&job, judge, i, n - i < APPLY_JUDGE_RANGE ? n : i + APPLY_JUDGE_RANGE,
                  jrevs, jpreps);
    int code = apply_one(s, precheck_wait(&job, i), origin, hooks, ctx, res, reason,
                         sizeof reason);
    if (code < 0) {
      rc = tk_err_set(err, code, "storing revision %zu of the batch failed: %s", i,
                      tk_strerror(code));
      goto fail;
    }
    if (code > 0 && (rc = reject(res, ids[i].n == TK_REV_ID_LEN ? ids[i].p : NULL, code,
                                 reason)) != 0)
      goto fail;
  }
  if (ckpt && ckpt->peer) {
    rc = tk_store_checkpoint_set(s, ckpt->peer, ckpt->dir, ckpt->seq, err);
    if (rc) goto fail;
  }
  rc = tk_store_commit(s, err);
  if (rc) goto fail_nocommit;
  goto done;
fail:
  tk_store_rollback(s);
fail_nocommit:
  res->accepted = res->duplicates = res->own = 0;
  res->bytes = 0;
done:
  precheck_stop(&job, th, nth);
  pthread_cond_destroy(&job.slot_done);
  pthread_mutex_destroy(&job.lock);
  for (size_t i = 0; i < n; i++)
    if (pre[i].prep && hooks && hooks->release) hooks->release(ctx, pre[i].prep);
  free(pre);
  return rc;
}

typedef struct plain_policy {
  tk_apply_policy policy;
  void *ctx;
} plain_policy_t;

static int plain_policy(void *ctx, const tk_rev_t *rev, void *prep, char *reason,
                        size_t len)
{
  plain_policy_t *p = ctx;
  (void)prep;
  return p->policy ? p->policy(p->ctx, rev, reason, len) : 0;
}

int tk_sync_apply(tk_store_t *s, const tk_slice_t *revs, const tk_slice_t *ids, size_t n,
                  const uint8_t *origin, tk_apply_policy policy, void *ctx,
                  const tk_apply_ckpt_t *ckpt, tk_apply_result_t *res, tk_err_t *err)
{
  plain_policy_t pp = {policy, ctx};
  tk_apply_prep_t hooks = {NULL, plain_policy, NULL};
  return tk_sync_apply_prep(s, revs, ids, n, origin, &hooks, &pp, ckpt, res, err);
}
