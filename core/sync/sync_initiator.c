/*
 * sync_initiator.c: the initiator of a sync's data phases (see
 * tk_sync_policy.h): revision push, revision pull (pipelined), chunk push,
 * chunk pull, in that order (PROTOCOL.md sections 6 to 8), each batch's
 * checkpoint moved through the policy once the batch is complete. The
 * thread its owner hands frames on; no I/O but the transport's sends.
 */
#include "tk_sync_policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_sync_frames.h"

static void chunk_push_next(tk_sync_initiator_t *ini);
static void chunk_pull_next(tk_sync_initiator_t *ini);

void tk_sync_initiator_init(tk_sync_initiator_t *ini, tk_store_t *s,
                            const tk_sync_policy_t *policy, void *ctx,
                            uint64_t batch_bytes, const char *peer, const uint8_t *origin,
                            tk_err_t *err)
{
  memset(ini, 0, sizeof *ini);
  ini->store = s;
  ini->policy = policy;
  ini->ctx = ctx;
  ini->batch_bytes = batch_bytes;
  ini->peer = peer;
  ini->origin = origin;
  ini->err = err;
}

void tk_sync_initiator_free(tk_sync_initiator_t *ini)
{
  tk_rev_send_free(&ini->push);
  tk_rev_recv_free(&ini->pull);
  tk_chunk_send_free(&ini->csend);
  tk_chunk_recv_free(&ini->crecv);
  tk_step_free(&ini->step);
  if (ini->held) tk_wire_free(ini->held);
  free(ini->held_ids);
  ini->held = NULL;
  ini->held_ids = NULL;
}

/* Ends the sync through the policy; returns rc. */
static int stop(tk_sync_initiator_t *ini, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int stop(tk_sync_initiator_t *ini, int rc, const char *fmt, ...)
{
  char msg[sizeof ini->err->msg];
  va_list ap;
  va_start(ap, fmt); /* formatted aside: the arguments may be err->msg */
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ini->phase = TK_INI_DONE;
  ini->policy->stop(ini->ctx, rc, msg);
  return rc;
}

static void count(tk_sync_initiator_t *ini, int what, uint64_t n)
{
  ini->policy->count(ini->ctx, what, n);
}

static void progress(tk_sync_initiator_t *ini)
{
  ini->policy->progress(ini->ctx);
}

/* After sending a msg_case frame (rc the send's result): one more round
 * trip in phase next, or the end if the send failed. */
static void sent(tk_sync_initiator_t *ini, int rc, int msg_case, int next)
{
  if (rc) {
    stop(ini, rc, "cannot send %s: %s", tk_wire_case_name(msg_case), tk_strerror(rc));
    return;
  }
  ini->phase = next;
  count(ini, TK_SYNC_COUNT_ROUND_TRIPS, 1);
}

/* ---- revision push -------------------------------------------------------------- */

static void pull_next(tk_sync_initiator_t *ini);
static void push_steps(tk_sync_initiator_t *ini);

static void push_next(tk_sync_initiator_t *ini)
{
  uint64_t since = 0;
  int rc_sent = 0;
  int rc = ini->policy->ckpt_get(ini->ctx, TK_DIR_PUSH, &since);
  if (!rc && ini->steps)
    rc = ini->policy->ckpt_get(ini->ctx, TK_DIR_PUSH_SENT, &ini->push_mark);
  if (!rc && ini->steps && since >= ini->push_mark) {
    /* nothing after the checkpoint went out before: the peer cannot hold
     * it, so no Offer */
    ini->push_since = since;
    tk_stepper_init(&ini->pstep, 0, ini->batch_bytes, 4 * ini->batch_bytes);
    ini->phase = TK_INI_PUSH_STEPS;
    push_steps(ini);
    return;
  }
  if (!rc)
    rc = tk_rev_send_offer(&ini->push, ini->t, ini->store, since, ini->batch_bytes, 0,
                           ini->policy->offer_rev, ini->ctx, &rc_sent, ini->err);
  if (rc) {
    stop(ini, rc, "%s", ini->err->msg);
    return;
  }
  if (ini->push.batch.n == 0) {
    if (ini->push.batch.upto > since &&
        (rc = ini->policy->ckpt_set(ini->ctx, TK_DIR_PUSH, ini->push.batch.upto)) != 0) {
      stop(ini, rc, "%s", ini->err->msg);
      return;
    }
    pull_next(ini);
    return;
  }
  sent(ini, rc_sent, TUNDUK__V1__FRAME__MSG_OFFER, TK_INI_PUSH_NEED);
}

static void push_need(tk_sync_initiator_t *ini, const Tunduk__V1__Need *m)
{
  uint64_t bytes = 0;
  const tk_batch_t *b = &ini->push.batch;
  count(ini, TK_SYNC_COUNT_DUPLICATES, b->n > m->n_index ? b->n - m->n_index : 0);
  int rc = tk_rev_send_need(&ini->push, ini->t, ini->store, m->index, m->n_index, &bytes,
                            ini->err);
  if (rc == 1) { /* nothing asked for */
    rc = ini->policy->ckpt_set(ini->ctx, TK_DIR_PUSH, b->upto);
    if (rc)
      stop(ini, rc, "%s", ini->err->msg);
    else
      push_next(ini);
    return;
  }
  if (rc) {
    stop(ini, rc, "cannot send revisions: %s", ini->err->msg);
    return;
  }
  count(ini, TK_SYNC_COUNT_REV_BYTES_OUT, bytes);
  ini->phase = TK_INI_PUSH_ACK;
  count(ini, TK_SYNC_COUNT_ROUND_TRIPS, 1);
}

static void push_rejected_fn(void *ctx, const uint8_t *id, int code, const char *reason)
{
  tk_sync_initiator_t *ini = ctx;
  ini->policy->rejected(ini->ctx, 1, id, code, reason);
}

static void push_ack(tk_sync_initiator_t *ini, const Tunduk__V1__Ack *m)
{
  uint32_t accepted, duplicates;
  tk_rev_send_ack(m, &accepted, &duplicates, push_rejected_fn, ini);
  count(ini, TK_SYNC_COUNT_SENT, accepted);
  count(ini, TK_SYNC_COUNT_DUPLICATES, duplicates);
  int rc = ini->policy->ckpt_set(ini->ctx, TK_DIR_PUSH, ini->push.batch.upto);
  if (rc) {
    stop(ini, rc, "%s", ini->err->msg);
    return;
  }
  progress(ini);
  push_next(ini);
}

/* The push's end: the checkpoint passes what the last step's scan skipped,
 * then the pull (already asked for behind the last step). */
static void push_steps_done(tk_sync_initiator_t *ini)
{
  uint64_t since = 0;
  int rc = ini->policy->ckpt_get(ini->ctx, TK_DIR_PUSH, &since);
  if (!rc && ini->push_since > since)
    rc = ini->policy->ckpt_set(ini->ctx, TK_DIR_PUSH, ini->push_since);
  if (rc) {
    stop(ini, rc, "%s", ini->err->msg);
    return;
  }
  pull_next(ini);
}

/* Sends push steps while the pacing lets more out; once the last is out,
 * the Pull goes behind it (the peer answers in order, after the Acks). */
static void push_steps(tk_sync_initiator_t *ini)
{
  while (!ini->push_end && tk_stepper_open(&ini->pstep)) {
    uint64_t want = tk_stepper_bytes(&ini->pstep);
    if (ini->early_cap && ini->pstep.n > 0) break; /* one ahead of the Hello */
    if (ini->early_cap) want = ini->early_cap;
    int rc = tk_step_build(&ini->step, ini->store, ini->push_since, want,
                           ini->policy->offer_rev, ini->ctx, ini->err);
    if (!rc && ini->early_cap && ini->step.batch.bytes > ini->early_cap) {
      /* one revision larger than an early frame may be: after the Hello */
      tk_step_free(&ini->step);
      return;
    }
    const tk_batch_t *b = &ini->step.batch;
    if (!rc && b->n > 0 && b->upto > ini->push_mark) {
      /* before any step past the mark leaves: steps may reach the feed's end
       * as it is now (one write per sync, not per step) */
      uint64_t last = 0;
      if (tk_store_last_seq(ini->store, &last, NULL) != 0 || last < b->upto)
        last = b->upto;
      rc = ini->policy->ckpt_set(ini->ctx, TK_DIR_PUSH_SENT, last);
      if (!rc) ini->push_mark = last;
    }
    if (rc) {
      stop(ini, rc, "%s", ini->err->msg);
      return;
    }
    ini->push_end = !b->more;
    if (b->n == 0) { /* nothing (more) to push; the scan passed to upto */
      ini->push_since = b->upto;
      break;
    }
    rc = tk_step_send(ini->t, &ini->step, 0, 0);
    if (rc) {
      stop(ini, rc, "cannot send a push step: %s", tk_strerror(rc));
      return;
    }
    tk_stepper_sent(&ini->pstep, b->bytes, (uint32_t)b->n, b->upto);
    count(ini, TK_SYNC_COUNT_REV_BYTES_OUT, b->bytes);
    count(ini, TK_SYNC_COUNT_ROUND_TRIPS, 1);
    ini->push_since = b->upto;
  }
  tk_step_free(&ini->step);
  if (!ini->push_end) return;
  if (ini->pstep.n == 0 && !ini->early_cap) {
    push_steps_done(ini);
    return;
  }
  if (!ini->pull_out) pull_next(ini); /* behind the last step */
  ini->phase = TK_INI_PUSH_STEPS;
}

static void push_step_ack(tk_sync_initiator_t *ini, const Tunduk__V1__Ack *m)
{
  uint64_t upto = 0;
  uint32_t accepted, duplicates;
  if (tk_stepper_acked(&ini->pstep, &upto, NULL) != 0) {
    stop(ini, TK_EPROTO, "%s sent an ack for no step", ini->peer);
    return;
  }
  tk_rev_send_ack(m, &accepted, &duplicates, push_rejected_fn, ini);
  count(ini, TK_SYNC_COUNT_SENT, accepted);
  count(ini, TK_SYNC_COUNT_DUPLICATES, duplicates);
  int rc = ini->policy->ckpt_set(ini->ctx, TK_DIR_PUSH, upto);
  if (rc) {
    stop(ini, rc, "%s", ini->err->msg);
    return;
  }
  progress(ini);
  if (ini->push_end && ini->pstep.n == 0)
    push_steps_done(ini);
  else
    push_steps(ini);
}

/* ---- revision pull -------------------------------------------------------------- */

/* Sends Pull{since} (one more round trip); also the Pull that goes ahead
 * with a Need. Stops the sync if it cannot. */
static int send_pull(tk_sync_initiator_t *ini, uint64_t since)
{
  if (tk_sync_send_pull(ini->t, since, 0, 0) != 0)
    return stop(ini, TK_ECLOSED, "cannot send pull");
  count(ini, TK_SYNC_COUNT_ROUND_TRIPS, 1);
  return 0;
}

static void pull_next(tk_sync_initiator_t *ini)
{
  uint64_t since = 0;
  if (ini->pull_out) { /* asked for behind the push */
    ini->phase = TK_INI_PULL_STEPS;
    return;
  }
  int rc = ini->policy->ckpt_get(ini->ctx, TK_DIR_PULL, &since);
  if (rc) {
    stop(ini, rc, "%s", ini->err->msg);
    return;
  }
  if (!ini->steps) {
    if (send_pull(ini, since) == 0) ini->phase = TK_INI_PULL_OFFER;
    return;
  }
  if (tk_sync_send_pull_steps(ini->t, since, 0) != 0) {
    stop(ini, TK_ECLOSED, "cannot send pull");
    return;
  }
  count(ini, TK_SYNC_COUNT_ROUND_TRIPS, 1);
  ini->pull_out = 1;
  ini->pull_upto = since;
  ini->phase = TK_INI_PULL_STEPS; /* push_steps keeps its own while acks are due */
}

/* One pull step: stored with its checkpoint in one transaction, then
 * acked; after the last, the chunks. */
static void pull_step(tk_sync_initiator_t *ini, const Tunduk__V1__Revisions *m)
{
  if (m->n_revs > TK_MAX_OFFER_IDS || m->upto < ini->pull_upto) {
    stop(ini, TK_EPROTO,
         "%s sent a pull step of %zu revisions to position %llu after %llu", ini->peer,
         m->n_revs, (unsigned long long)m->upto, (unsigned long long)ini->pull_upto);
    return;
  }
  tk_slice_t *revs, *ids;
  uint8_t(*idbuf)[TK_REV_ID_LEN];
  if (tk_step_take(m->revs, m->n_revs, &revs, &ids, &idbuf) != 0) {
    stop(ini, TK_ENOMEM, "out of memory");
    return;
  }
  int rc = ini->policy->apply_pull(ini->ctx, revs, ids, m->n_revs, m->upto);
  free(revs);
  free(ids);
  free(idbuf);
  if (rc) return; /* apply_pull stopped the sync */
  tk_apply_result_t r = {.accepted = (uint32_t)m->n_revs};
  if (tk_sync_send_ack(ini->t, &r) != 0) {
    stop(ini, TK_ECLOSED, "cannot acknowledge a pull step");
    return;
  }
  ini->pull_upto = m->upto;
  progress(ini);
  if (m->more) return;
  ini->chunk_feed_end = ini->chunk_bound = m->chunk_feed_end;
  chunk_push_next(ini); /* every record first, then the files */
}

/* Stores the held batch, if any, and lets it go. */
static int store_held(tk_sync_initiator_t *ini)
{
  if (!ini->held) return 0;
  tk_frame_t *f = ini->held;
  const Tunduk__V1__Revisions *m = f->revisions;
  ini->held = NULL;
  tk_slice_t *revs, *ids;
  int rc = tk_rev_batch(m->revs, (const uint8_t(*)[TK_REV_ID_LEN])ini->held_ids,
                        m->n_revs, &revs, &ids) != 0
               ? stop(ini, TK_ENOMEM, "out of memory")
               : ini->policy->apply_pull(ini->ctx, revs, ids, m->n_revs, ini->held_upto);
  free(revs);
  free(ids);
  tk_wire_free(f);
  free(ini->held_ids);
  ini->held_ids = NULL;
  return rc;
}

int tk_sync_initiator_end(tk_sync_initiator_t *ini)
{
  return store_held(ini);
}

static void pull_offer(tk_sync_initiator_t *ini, const Tunduk__V1__Offer *m)
{
  if (m->n_ids > TK_MAX_OFFER_IDS) {
    stop(ini, TK_EPROTO, "%s offered more than %d ids", ini->peer, TK_MAX_OFFER_IDS);
    return;
  }
  ini->pull_upto = m->upto;
  ini->chunk_feed_end = ini->chunk_bound = m->chunk_feed_end;
  /* A held batch is not stored yet, but its ids and these are different
   * revisions of the peer's feed: what this offer needs does not depend on
   * it. */
  int rc = tk_rev_recv_offer(&ini->pull, ini->store, m->ids, m->n_ids, ini->err);
  if (rc) {
    stop(ini, rc, "%s", ini->err->msg);
    return;
  }
  uint64_t own = 0;
  for (size_t i = 0, k = 0; i < ini->pull.n; i++) {
    if (k < ini->pull.nneed && ini->pull.need[k] == i) {
      k++;
      continue;
    }
    own += (uint64_t)tk_store_rev_local(ini->store, ini->pull.ids[i]);
  }
  count(ini, TK_SYNC_COUNT_DUPLICATES, ini->pull.n - ini->pull.nneed - own);
  count(ini, TK_SYNC_COUNT_OWN, own);
  if (m->n_ids > 0 && tk_rev_recv_send_need(&ini->pull, ini->t) != 0) {
    stop(ini, TK_ECLOSED, "cannot send need");
    return;
  }
  ini->pull_ahead = m->more;
  if (ini->pull_ahead && send_pull(ini, m->upto) != 0) return;
  /* The peer answers both while the batch before is stored. */
  if (store_held(ini) != 0) return;
  if (ini->pull.nneed > 0) {
    ini->phase = TK_INI_PULL_REVS;
    return;
  }
  /* nothing needed: the checkpoint moves on its own */
  rc = ini->policy->ckpt_set(ini->ctx, TK_DIR_PULL, ini->pull_upto);
  if (rc) {
    stop(ini, rc, "%s", ini->err->msg);
    return;
  }
  progress(ini);
  if (ini->pull_ahead)
    ini->phase = TK_INI_PULL_OFFER;
  else
    chunk_push_next(ini); /* every record first, then the files */
}

/* The apply step for a pulled batch (tk_rev_apply_fn, tk_sync.h): with the
 * next Pull already out (pull_ahead), held until the next offer's Need is
 * out, so the peer reads the next batch while this one is stored; else
 * stored now. The frame it views is ini->taking. */
static int pull_apply(void *ctx, const tk_slice_t *revs, const tk_slice_t *ids, size_t n)
{
  tk_sync_initiator_t *ini = ctx;
  if (ini->pull_ahead) {
    TK_ASSERT(!ini->held);
    ini->held_ids = malloc((n ? n : 1) * TK_REV_ID_LEN);
    if (!ini->held_ids) return TK_ENOMEM;
    for (size_t i = 0; i < n; i++)
      memcpy(ini->held_ids[i], ids[i].p, TK_REV_ID_LEN);
    ini->held = ini->taking;
    ini->held_upto = ini->pull_upto;
    ini->phase = TK_INI_PULL_OFFER;
    return 0;
  }
  if (ini->policy->apply_pull(ini->ctx, revs, ids, n, ini->pull_upto) == 0)
    chunk_push_next(ini); /* every record first, then the files */
  return 0;
}

/* The batch that answers the last Need. Returns 1 if it keeps f (held
 * until the next offer), 0 if the caller frees it. */
static int pull_revs(tk_sync_initiator_t *ini, tk_frame_t *f)
{
  const Tunduk__V1__Revisions *m = f->revisions;
  if (m->n_revs != ini->pull.nneed) {
    stop(ini, TK_EPROTO, "%s sent %zu revisions, %zu were asked for", ini->peer,
         m->n_revs, ini->pull.nneed);
    return 0;
  }
  ini->taking = f;
  int rc = tk_rev_recv_take(&ini->pull, m->revs, m->n_revs, pull_apply, ini);
  ini->taking = NULL;
  if (rc) stop(ini, TK_ENOMEM, "out of memory");
  return ini->held == f;
}

/* ---- chunk push ------------------------------------------------------------------ */

static void chunk_push_next(tk_sync_initiator_t *ini)
{
  uint64_t since = 0;
  int rc = ini->policy->ckpt_get(ini->ctx, TK_DIR_CHUNK_PUSH, &since);
  if (!rc)
    rc = tk_chunk_send_offer(&ini->csend, ini->t, ini->store, since, 0, 0,
                             ini->policy->offer_chunk, ini->ctx, ini->err);
  if (rc) {
    stop(ini, rc, "%s", ini->err->msg);
    return;
  }
  if (ini->csend.n > 0) {
    ini->phase = TK_INI_CPUSH_NEED;
    count(ini, TK_SYNC_COUNT_ROUND_TRIPS, 1);
    return;
  }
  /* the empty offer told the peer nothing is coming; move past what the
   * filter skipped and go on */
  if (ini->csend.upto > since &&
      (rc = ini->policy->ckpt_set(ini->ctx, TK_DIR_CHUNK_PUSH, ini->csend.upto)) != 0) {
    stop(ini, rc, "%s", ini->err->msg);
    return;
  }
  chunk_pull_next(ini);
}

static void chunk_push_done(tk_sync_initiator_t *ini)
{
  int rc = ini->policy->ckpt_set(ini->ctx, TK_DIR_CHUNK_PUSH, ini->csend.upto);
  if (rc) {
    stop(ini, rc, "%s", ini->err->msg);
    return;
  }
  progress(ini);
  if (ini->csend.more)
    chunk_push_next(ini);
  else
    chunk_pull_next(ini);
}

static void chunk_push_need(tk_sync_initiator_t *ini, const Tunduk__V1__Need *m)
{
  if (m->n_index == 0) {
    chunk_push_done(ini);
    return;
  }
  int rc =
      tk_chunk_send_need(&ini->csend, ini->t, ini->store, m->index, m->n_index, ini->err);
  if (rc) {
    stop(ini, rc, "cannot send chunks: %s", ini->err->msg);
    return;
  }
  ini->phase = TK_INI_CPUSH_ACK;
}

static void chunk_push_ack(tk_sync_initiator_t *ini, const Tunduk__V1__ChunkAck *m)
{
  uint32_t i = m->index;
  int rc = tk_chunk_send_ack(&ini->csend, ini->t, ini->store, i, ini->err);
  if (rc < 0) {
    stop(ini, rc, "%s", ini->err->msg);
    return;
  }
  if (m->code != TUNDUK__V1__REJECT_CODE__REJECT_NONE) {
    count(ini, TK_SYNC_COUNT_CHUNKS_REFUSED, 1);
    ini->policy->rejected(ini->ctx, 1, ini->csend.ids[i], m->code, m->reason);
  } else {
    ini->chunks_sent++;
    count(ini, TK_SYNC_COUNT_CHUNKS_SENT, 1);
    count(ini, TK_SYNC_COUNT_CHUNK_BYTES_OUT, ini->csend.sizes[i]);
  }
  if (rc == 1)
    chunk_push_done(ini);
  else if (ini->chunks_sent % 16 == 0)
    progress(ini);
}

/* ---- chunk pull ------------------------------------------------------------------ */

static void chunks_done(tk_sync_initiator_t *ini)
{
  ini->phase = TK_INI_DONE;
  ini->policy->done(ini->ctx);
}

static void chunk_pull_next(tk_sync_initiator_t *ini)
{
  uint64_t since = 0;
  int rc = ini->policy->ckpt_get(ini->ctx, TK_DIR_CHUNK_PULL, &since);
  if (rc) {
    stop(ini, rc, "%s", ini->err->msg);
    return;
  }
  if (ini->chunk_feed_end > 0 && since >= ini->chunk_feed_end - 1) {
    chunks_done(ini); /* the peer has no chunk past our checkpoint */
    return;
  }
  ini->chunk_feed_end = 0; /* a later batch must ask */
  /* Only chunks the peer held when it made its last revision offer: every
   * revision naming them was in this session's pull, so none is passed
   * over (unnamed) here before its revision arrives. */
  sent(ini, tk_sync_send_pull(ini->t, since, 1, ini->chunk_bound),
       TUNDUK__V1__FRAME__MSG_PULL, TK_INI_CPULL_OFFER);
}

static void chunk_pull_done(tk_sync_initiator_t *ini)
{
  int rc = ini->policy->ckpt_set(ini->ctx, TK_DIR_CHUNK_PULL, ini->crecv.upto);
  if (rc) {
    stop(ini, rc, "%s", ini->err->msg);
    return;
  }
  progress(ini);
  if (ini->crecv.more)
    chunk_pull_next(ini);
  else
    chunks_done(ini);
}

static void chunk_pull_offer(tk_sync_initiator_t *ini, const Tunduk__V1__Offer *m)
{
  if (m->n_sizes != m->n_ids) {
    stop(ini, TK_EPROTO, "%s's chunk offer has %zu sizes for %zu ids", ini->peer,
         m->n_sizes, m->n_ids);
    return;
  }
  tk_slice_t *ids = calloc(m->n_ids ? m->n_ids : 1, sizeof *ids);
  if (!ids) {
    stop(ini, TK_ENOMEM, "out of memory");
    return;
  }
  for (size_t i = 0; i < m->n_ids; i++)
    ids[i] = tk_pb_slice(m->ids[i]);
  int rc = tk_chunk_recv_offer(&ini->crecv, ini->t, ini->store, ids, m->sizes, m->n_ids,
                               m->upto, m->more, ini->policy->accept_chunk, ini->ctx,
                               ini->err);
  free(ids);
  if (rc) {
    stop(ini, rc, "%s", ini->err->msg);
    return;
  }
  if (ini->crecv.nneed > 0)
    ini->phase = TK_INI_CPULL_CHUNKS;
  else
    chunk_pull_done(ini);
}

static void chunk_pull_chunk(tk_sync_initiator_t *ini, const Tunduk__V1__Chunk *m)
{
  uint32_t refused = ini->crecv.refused;
  uint64_t bytes = ini->crecv.bytes;
  int rc = tk_chunk_recv_take(&ini->crecv, ini->t, ini->store, m->index,
                              tk_pb_slice(m->data), ini->origin, ini->err);
  if (rc < 0) {
    stop(ini, rc, "storing a pulled chunk failed: %s", ini->err->msg);
    return;
  }
  if (ini->crecv.refused > refused) {
    count(ini, TK_SYNC_COUNT_CHUNKS_REFUSED, 1);
    ini->policy->rejected(ini->ctx, 0, ini->crecv.ids[m->index], TK_REJECT_HASH,
                          "a pulled attachment chunk does not match its id or size");
  } else if (ini->crecv.bytes > bytes) {
    ini->chunks_received++;
    count(ini, TK_SYNC_COUNT_CHUNKS_RECEIVED, 1);
    count(ini, TK_SYNC_COUNT_CHUNK_BYTES_IN, ini->crecv.bytes - bytes);
  }
  if (rc == 1)
    chunk_pull_done(ini);
  else if (ini->chunks_received % 16 == 0)
    progress(ini);
}

/* ---- frames ----------------------------------------------------------------------- */

void tk_sync_initiator_start(tk_sync_initiator_t *ini, tk_transport_t *t)
{
  ini->t = t;
  push_next(ini);
}

void tk_sync_initiator_release(tk_sync_initiator_t *ini)
{
  if (!ini->early_cap) return;
  ini->early_cap = 0;
  if (ini->phase != TK_INI_PUSH_STEPS) return;
  if (ini->push_end && ini->pstep.n == 0)
    push_steps_done(ini);
  else
    push_steps(ini);
}

int tk_sync_initiator_take(tk_sync_initiator_t *ini, tk_frame_t *f, int *kept)
{
  int k = f->msg_case, p = ini->phase;
  *kept = 0;
  if (p == TK_INI_PUSH_STEPS && k == TUNDUK__V1__FRAME__MSG_ACK)
    push_step_ack(ini, f->ack);
  else if (p == TK_INI_PULL_STEPS && k == TUNDUK__V1__FRAME__MSG_REVISIONS &&
           f->revisions->step)
    pull_step(ini, f->revisions);
  else if (p == TK_INI_PUSH_NEED && k == TUNDUK__V1__FRAME__MSG_NEED)
    push_need(ini, f->need);
  else if (p == TK_INI_PUSH_ACK && k == TUNDUK__V1__FRAME__MSG_ACK)
    push_ack(ini, f->ack);
  else if (p == TK_INI_PULL_OFFER && k == TUNDUK__V1__FRAME__MSG_OFFER)
    pull_offer(ini, f->offer);
  else if (p == TK_INI_PULL_REVS && k == TUNDUK__V1__FRAME__MSG_REVISIONS)
    *kept = pull_revs(ini, f);
  else if (p == TK_INI_CPUSH_NEED && k == TUNDUK__V1__FRAME__MSG_NEED)
    chunk_push_need(ini, f->need);
  else if (p == TK_INI_CPUSH_ACK && k == TUNDUK__V1__FRAME__MSG_CHUNK_ACK)
    chunk_push_ack(ini, f->chunk_ack);
  else if (p == TK_INI_CPULL_OFFER && k == TUNDUK__V1__FRAME__MSG_OFFER &&
           f->offer->chunks)
    chunk_pull_offer(ini, f->offer);
  else if (p == TK_INI_CPULL_CHUNKS && k == TUNDUK__V1__FRAME__MSG_CHUNK)
    chunk_pull_chunk(ini, f->chunk);
  else
    return 0;
  return 1;
}
