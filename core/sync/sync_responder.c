/*
 * sync_responder.c: the responder of a sync's data phases (see
 * tk_sync_policy.h): a revision push taken (Offer -> Need -> Revisions, the
 * batch handed to the policy's apply), a revision pull answered (Pull ->
 * Offer -> Need -> Revisions), both also in steps (protocol 3: a push step
 * taken and acked, a pull answered with steps paced by the office's Acks),
 * a chunk push taken and a chunk pull answered (PROTOCOL.md sections 6 to
 * 8). The thread its owner hands
 * frames on; no I/O but the transport's sends.
 */
#include "tk_sync_policy.h"

#include <stdlib.h>
#include <string.h>

#include "tk_sync_frames.h"

void tk_sync_responder_init(tk_sync_responder_t *r, tk_store_t *s,
                            const tk_sync_policy_t *policy, void *ctx,
                            uint64_t batch_bytes, const char *log, const char *who)
{
  memset(r, 0, sizeof *r);
  r->store = s;
  r->policy = policy;
  r->ctx = ctx;
  r->batch_bytes = batch_bytes;
  r->log = log;
  r->who = who;
}

static void push_reset(tk_sync_responder_t *r)
{
  tk_rev_recv_free(&r->rrecv);
  r->awaiting_revs = 0;
}

void tk_sync_responder_free(tk_sync_responder_t *r)
{
  push_reset(r);
  tk_rev_send_free(&r->rsend);
  tk_chunk_recv_free(&r->crecv);
  tk_chunk_send_free(&r->csend);
  tk_step_free(&r->step);
  free(r->pushed);
}

void tk_sync_responder_pushed(tk_sync_responder_t *r, uint64_t after, uint64_t upto)
{
  if (r->npushed > 0 && r->pushed[r->npushed - 1].upto == after) {
    r->pushed[r->npushed - 1].upto = upto; /* the run goes on */
    return;
  }
  if (r->npushed == r->cap_pushed) {
    size_t cap = r->cap_pushed ? 2 * r->cap_pushed : 16;
    void *v =
        cap <= TK_MAX_PUSHED_RANGES ? realloc(r->pushed, cap * sizeof *r->pushed) : NULL;
    if (!v) return; /* not left out: the peer gets them back as duplicates */
    r->pushed = v;
    r->cap_pushed = cap;
  }
  r->pushed[r->npushed].after = after;
  r->pushed[r->npushed].upto = upto;
  r->npushed++;
}

/* Whether feed position seq holds what this session pushed. */
static int pushed_here(const tk_sync_responder_t *r, uint64_t seq)
{
  size_t lo = 0, hi = r->npushed;
  while (lo < hi) { /* the first range whose upto >= seq */
    size_t mid = lo + (hi - lo) / 2;
    if (r->pushed[mid].upto < seq)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < r->npushed && seq > r->pushed[lo].after;
}

static void fail(tk_sync_responder_t *r, Tunduk__V1__ErrorCode code, int rc,
                 const char *msg)
{
  r->policy->fail(r->ctx, code, rc, msg);
}

/* The Error code for a step's error. */
static Tunduk__V1__ErrorCode error_code(int rc)
{
  return rc == TK_EPROTO   ? TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL
         : rc == TK_ELIMIT ? TUNDUK__V1__ERROR_CODE__ERROR_LIMIT
                           : TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL;
}

/* Whether an exchange is in progress (one at a time per peer). */
static int busy(const tk_sync_responder_t *r)
{
  return r->awaiting_revs || r->awaiting_need || r->awaiting_chunks ||
         r->awaiting_chunk_need || r->sending_chunks || r->streaming;
}

/* ---- chunks ------------------------------------------------------------------ */

static void chunk_offer(tk_sync_responder_t *r, tk_transport_t *t,
                        const Tunduk__V1__Offer *m)
{
  tk_err_t e;
  if (m->n_sizes != m->n_ids) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO,
         "a chunk offer needs one size per id");
    return;
  }
  tk_slice_t *ids = calloc(m->n_ids ? m->n_ids : 1, sizeof *ids);
  if (!ids) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, TK_ENOMEM, "out of memory");
    return;
  }
  for (size_t i = 0; i < m->n_ids; i++)
    ids[i] = tk_pb_slice(m->ids[i]);
  int rc = tk_chunk_recv_offer(&r->crecv, t, r->store, ids, m->sizes, m->n_ids, 0, 0,
                               r->policy->accept_chunk, r->ctx, &e);
  free(ids);
  if (rc) {
    fail(r, error_code(rc), rc, tk_err_str(&e));
    return;
  }
  r->awaiting_chunks = r->crecv.nneed > 0;
}

static void chunk(tk_sync_responder_t *r, tk_transport_t *t, const Tunduk__V1__Chunk *m)
{
  tk_err_t e;
  if (!r->awaiting_chunks) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO,
         "a chunk that was not asked for");
    return;
  }
  char reason[160];
  int code;
  int rc = tk_chunk_recv_check(&r->crecv, m->index, tk_pb_slice(m->data), &code, reason,
                               sizeof reason, &e);
  if (rc) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, rc, tk_err_str(&e));
    return;
  }
  if (!code) { /* the owner stores it, then tk_sync_responder_chunk_stored */
    r->policy->store_chunk(r->ctx, m->index, tk_pb_slice(m->data));
    return;
  }
  tk_sync_responder_chunk_stored(r, t, m->index, m->data.len, 0, code, reason);
}

void tk_sync_responder_chunk_stored(tk_sync_responder_t *r, tk_transport_t *t,
                                    uint32_t index, size_t n, int stored, int code,
                                    const char *reason)
{
  tk_err_t e;
  int rc = tk_chunk_recv_acked(&r->crecv, t, index, n, stored, code, reason, &e);
  if (rc < 0) {
    r->policy->fail_store(r->ctx, rc, &e, "a chunk");
    return;
  }
  if (rc == 1) {
    r->awaiting_chunks = 0;
    TK_LOG(TK_LOG_INFO, r->log, "chunks device=%s stored=%u refused=%u bytes=%llu",
           r->who, r->crecv.stored, r->crecv.refused, (unsigned long long)r->crecv.bytes);
  }
}

static void chunk_pull(tk_sync_responder_t *r, tk_transport_t *t, uint64_t since,
                       uint64_t before)
{
  tk_err_t e;
  TK_LOG(TK_LOG_DEBUG, r->log, "chunk pull device=%s since=%llu before=%llu", r->who,
         (unsigned long long)since, (unsigned long long)before);
  int rc = tk_chunk_send_offer(&r->csend, t, r->store, since, before, 1,
                               r->policy->offer_chunk, r->ctx, &e);
  if (rc) {
    fail(r, error_code(rc), rc, tk_err_str(&e));
    return;
  }
  r->awaiting_chunk_need = r->csend.n > 0;
  r->empty_offer = r->csend.n == 0;
}

static void chunk_need(tk_sync_responder_t *r, tk_transport_t *t,
                       const Tunduk__V1__Need *m)
{
  tk_err_t e;
  r->awaiting_chunk_need = 0;
  int rc = tk_chunk_send_need(&r->csend, t, r->store, m->index, m->n_index, &e);
  r->sent_chunks += r->csend.next; /* from 0: a new batch */
  r->sent_chunk_bytes += r->csend.bytes;
  if (rc) {
    fail(r, error_code(rc), rc, tk_err_str(&e));
    return;
  }
  r->sending_chunks = m->n_index > 0;
}

static void chunk_ack(tk_sync_responder_t *r, tk_transport_t *t,
                      const Tunduk__V1__ChunkAck *m)
{
  tk_err_t e;
  if (!r->sending_chunks) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO, "a chunk ack out of turn");
    return;
  }
  if (m->code != TUNDUK__V1__REJECT_CODE__REJECT_NONE)
    TK_LOG(TK_LOG_WARN, r->log, "device=%s refused chunk %u code=%d reason=\"%s\"",
           r->who, m->index, m->code, m->reason ? m->reason : "");
  size_t next = r->csend.next;
  uint64_t bytes = r->csend.bytes;
  int rc = tk_chunk_send_ack(&r->csend, t, r->store, m->index, &e);
  r->sent_chunks += r->csend.next - next;
  r->sent_chunk_bytes += r->csend.bytes - bytes;
  if (rc < 0) {
    fail(r, error_code(rc), rc, tk_err_str(&e));
    return;
  }
  if (rc == 1) {
    r->sending_chunks = 0;
    TK_LOG(TK_LOG_DEBUG, r->log, "chunk pull device=%s sent=%zu bytes=%llu", r->who,
           r->csend.nneed, (unsigned long long)r->csend.bytes);
  }
}

/* ---- revisions: a push taken -------------------------------------------------- */

static void offer(tk_sync_responder_t *r, tk_transport_t *t, const Tunduk__V1__Offer *m)
{
  tk_err_t e;
  if (!busy(r) && m->chunks) {
    chunk_offer(r, t, m);
    return;
  }
  if (busy(r)) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO,
         "offer in the middle of a batch");
    return;
  }
  if (m->n_ids > TK_MAX_OFFER_IDS) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_LIMIT, TK_ELIMIT,
         "more than 4096 ids in one offer");
    return;
  }
  int rc = tk_rev_recv_offer(&r->rrecv, r->store, m->ids, m->n_ids, &e);
  if (rc) {
    push_reset(r);
    fail(r,
         rc == TK_EPROTO ? TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL
                         : TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL,
         rc, tk_err_str(&e));
    return;
  }
  tk_rev_recv_send_need(&r->rrecv, t);
  if (r->rrecv.nneed)
    r->awaiting_revs = 1;
  else
    push_reset(r);
}

/* A push step (protocol 3): stored whole and acked like a batch. */
static void push_step(tk_sync_responder_t *r, const Tunduk__V1__Revisions *m)
{
  if (busy(r)) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO,
         "a step in the middle of a batch");
    return;
  }
  if (m->n_revs > TK_MAX_OFFER_IDS) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_LIMIT, TK_ELIMIT,
         "more than 4096 revisions in one step");
    return;
  }
  tk_slice_t *revs, *ids;
  uint8_t(*idbuf)[TK_REV_ID_LEN];
  int rc = tk_step_take(m->revs, m->n_revs, &revs, &ids, &idbuf);
  if (!rc) rc = r->policy->apply(r->ctx, revs, ids, m->n_revs);
  if (rc) fail(r, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, rc, NULL);
  free(revs);
  free(ids);
  free(idbuf);
}

static void revisions(tk_sync_responder_t *r, const Tunduk__V1__Revisions *m)
{
  if (m->step) {
    push_step(r, m);
    return;
  }
  if (!r->awaiting_revs || m->n_revs != r->rrecv.nneed) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO,
         "revisions that were not asked for");
    return;
  }
  int rc = tk_rev_recv_take(&r->rrecv, m->revs, m->n_revs, r->policy->apply, r->ctx);
  push_reset(r);
  if (rc) fail(r, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, rc, NULL);
}

/* ---- revisions: a pull answered ----------------------------------------------- */

/* A pull in steps leaves out what the pulling device pushed in this session
 * (it has them: it just sent them from its store), then applies the
 * owner's filter. Not what it pushed before: a copy of its store (a backup
 * put back, a second laptop) may lack those. */
static int step_filter(void *ctx, const tk_rev_meta_t *m)
{
  tk_sync_responder_t *r = ctx;
  if (r->peer && m->has_origin && tk_ct_equal(m->origin, r->peer, TK_DEVICE_ID_LEN) &&
      pushed_here(r, m->seq))
    return 0;
  return r->policy->offer_rev ? r->policy->offer_rev(r->ctx, m) : 1;
}

/* Sends steps while the pacing lets more out and the feed goes on. */
static void stream_fill(tk_sync_responder_t *r, tk_transport_t *t)
{
  tk_err_t e;
  while (!r->stream_end && tk_stepper_open(&r->stepper)) {
    int rc = tk_step_build(&r->step, r->store, r->stream_since,
                           tk_stepper_bytes(&r->stepper), step_filter, r, &e);
    if (rc) {
      fail(r, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, rc, tk_err_str(&e));
      return;
    }
    const tk_batch_t *b = &r->step.batch;
    uint64_t last = 0, feed_end = 0;
    if (!b->more && tk_store_chunks_last(r->store, &last, NULL) == 0)
      feed_end = last + 1; /* lets the peer skip an empty chunk pull */
    rc = tk_step_send(t, &r->step, 1, feed_end);
    if (rc) {
      fail(r, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, rc, "cannot send a pull step");
      return;
    }
    tk_stepper_sent(&r->stepper, b->bytes, (uint32_t)b->n, b->upto);
    r->sent_revs += b->n;
    r->sent_rev_bytes += b->bytes;
    TK_LOG(TK_LOG_DEBUG, r->log, "pull device=%s sent=%zu bytes=%llu upto=%llu step",
           r->who, b->n, (unsigned long long)b->bytes, (unsigned long long)b->upto);
    r->stream_since = b->upto;
    r->stream_end = !b->more;
  }
  tk_step_free(&r->step);
}

static void pull_steps(tk_sync_responder_t *r, tk_transport_t *t,
                       const Tunduk__V1__Pull *m)
{
  TK_LOG(TK_LOG_DEBUG, r->log, "pull device=%s since=%llu steps of %u", r->who,
         (unsigned long long)m->since, m->step_bytes);
  r->streaming = 1;
  r->stream_end = 0;
  r->stream_since = m->since;
  tk_stepper_init(&r->stepper, m->step_bytes, r->batch_bytes, 4 * r->batch_bytes);
  stream_fill(r, t);
}

/* The office stored a pull step: send more, or the pull is over. */
static void step_ack(tk_sync_responder_t *r, tk_transport_t *t)
{
  uint64_t upto = 0;
  if (!r->streaming || tk_stepper_acked(&r->stepper, &upto, NULL) != 0) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO, "an ack out of turn");
    return;
  }
  TK_LOG(TK_LOG_DEBUG, r->log, "pull device=%s acked upto=%llu", r->who,
         (unsigned long long)upto);
  if (r->stream_end && r->stepper.n == 0) {
    r->streaming = 0;
    TK_LOG(TK_LOG_DEBUG, r->log, "pull device=%s done upto=%llu rate=%llu B/s", r->who,
           (unsigned long long)r->stream_since, (unsigned long long)r->stepper.rate);
    return;
  }
  stream_fill(r, t);
}

static void pull(tk_sync_responder_t *r, tk_transport_t *t, const Tunduk__V1__Pull *m)
{
  tk_err_t e;
  if (busy(r)) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO,
         "pull in the middle of a batch");
    return;
  }
  if (m->chunks) {
    chunk_pull(r, t, m->since, m->chunks_before);
    return;
  }
  if (m->steps) {
    pull_steps(r, t, m);
    return;
  }
  TK_LOG(TK_LOG_DEBUG, r->log, "pull device=%s since=%llu", r->who,
         (unsigned long long)m->since);
  int sent = 0;
  int rc = tk_rev_send_offer(&r->rsend, t, r->store, m->since, r->batch_bytes, 1,
                             r->policy->offer_rev, r->ctx, &sent, &e);
  if (rc) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, rc, tk_err_str(&e));
    return;
  }
  if (sent == TK_ENOMEM) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, TK_ENOMEM, "out of memory");
    return;
  }
  r->awaiting_need = r->rsend.batch.n > 0;
  r->empty_offer = r->rsend.batch.n == 0;
}

static void need(tk_sync_responder_t *r, tk_transport_t *t, const Tunduk__V1__Need *m)
{
  tk_err_t e;
  uint64_t bytes = 0;
  if (r->awaiting_chunk_need) {
    chunk_need(r, t, m);
    return;
  }
  if (!r->awaiting_need && r->empty_offer && m->n_index == 0) {
    r->empty_offer = 0; /* the answer to an empty Offer: nothing to send */
    return;
  }
  if (!r->awaiting_need) {
    fail(r, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO,
         r->empty_offer ? "a need for ids of an empty offer" : "need without an offer");
    return;
  }
  r->awaiting_need = 0;
  int rc = tk_rev_send_need(&r->rsend, t, r->store, m->index, m->n_index, &bytes, &e);
  if (rc == 1) return; /* nothing asked for */
  if (rc) {
    fail(r, error_code(rc), rc, tk_err_str(&e));
    return;
  }
  r->sent_revs += m->n_index;
  r->sent_rev_bytes += bytes;
  TK_LOG(TK_LOG_DEBUG, r->log, "pull device=%s sent=%zu bytes=%llu", r->who, m->n_index,
         (unsigned long long)bytes);
}

int tk_sync_responder_take(tk_sync_responder_t *r, tk_transport_t *t, const tk_frame_t *f)
{
  /* An empty Offer's Need, if any, comes right after it: any other frame
   * means the peer sent none. */
  if (f->msg_case != TUNDUK__V1__FRAME__MSG_NEED) r->empty_offer = 0;
  switch (f->msg_case) {
  case TUNDUK__V1__FRAME__MSG_OFFER:
    offer(r, t, f->offer);
    return 1;
  case TUNDUK__V1__FRAME__MSG_REVISIONS:
    revisions(r, f->revisions);
    return 1;
  case TUNDUK__V1__FRAME__MSG_PULL:
    pull(r, t, f->pull);
    return 1;
  case TUNDUK__V1__FRAME__MSG_NEED:
    need(r, t, f->need);
    return 1;
  case TUNDUK__V1__FRAME__MSG_CHUNK:
    chunk(r, t, f->chunk);
    return 1;
  case TUNDUK__V1__FRAME__MSG_CHUNK_ACK:
    chunk_ack(r, t, f->chunk_ack);
    return 1;
  case TUNDUK__V1__FRAME__MSG_ACK:
    step_ack(r, t);
    return 1;
  default:
    return 0;
  }
}
