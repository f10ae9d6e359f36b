/*
 * sync_step.c: revision steps (protocol 3; see tk_sync.h, "revision
 * steps"): the pacing of a stream of steps by the rate its
 * acknowledgements come back at (tk_stepper_t), building a step from the
 * changes feed in one ordered scan with the revisions' bytes, sending it,
 * and the receiver's view of one (ids hashed from the bytes). The caller's
 * thread; no I/O but the Revisions frame, sent on the caller's transport.
 */
#include "tk_sync.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tk_sync_frames.h"

/* ---- pacing ----------------------------------------------------------------- */

static uint64_t now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t clamp(uint64_t v, uint64_t lo, uint64_t hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

void tk_stepper_init(tk_stepper_t *p, uint64_t start, uint64_t max_step,
                     uint64_t max_window)
{
  memset(p, 0, sizeof *p);
  p->max_step = max_step ? max_step : TK_STEP_START;
  p->min_step = p->max_step < TK_STEP_MIN ? p->max_step : TK_STEP_MIN;
  p->max_window = max_window < 2 * p->max_step ? 2 * p->max_step : max_window;
  p->step = clamp(start ? start : TK_STEP_START, p->min_step, p->max_step);
}

uint64_t tk_stepper_bytes(const tk_stepper_t *p)
{
  return p->step;
}

/* Bytes that may be out unacknowledged: TK_STEP_WINDOW_MS of the measured
 * rate, at least two steps (one arriving while the next is sent); before
 * the first measurement, four starting steps. */
static uint64_t window(const tk_stepper_t *p)
{
  if (!p->rate) return clamp(4 * p->step, 2 * p->step, p->max_window);
  return clamp(p->rate * TK_STEP_WINDOW_MS / 1000, 2 * p->step, p->max_window);
}

int tk_stepper_open(const tk_stepper_t *p)
{
  return p->n < TK_STEP_QUEUE && (p->n == 0 || p->inflight + p->step <= window(p));
}

void tk_stepper_sent(tk_stepper_t *p, uint64_t bytes, uint32_t n, uint64_t upto)
{
  TK_ASSERT(p->n < TK_STEP_QUEUE);
  size_t i = (p->head + p->n) % TK_STEP_QUEUE;
  p->q[i].bytes = bytes;
  p->q[i].n = n;
  p->q[i].upto = upto;
  p->q[i].sent_us = now_us();
  p->n++;
  p->inflight += bytes;
}

int tk_stepper_acked(tk_stepper_t *p, uint64_t *upto, uint32_t *n)
{
  if (p->n == 0) return TK_EPROTO;
  uint64_t t = now_us();
  const struct tk_step_out *h = &p->q[p->head];
  /* A step that was already out when the last ack came kept the link busy
   * since then: the gap between the two acks is its time on the link (and
   * at the receiver). Otherwise the link had idled, and its whole round
   * trip counts (an underestimate, corrected by the next busy one). */
  uint64_t from =
      (p->last_ack_us && h->sent_us <= p->last_ack_us) ? p->last_ack_us : h->sent_us;
  uint64_t dt = t > from ? t - from : 1;
  uint64_t sample = h->bytes * 1000000u / dt;
  p->rate = p->rate ? (3 * p->rate + sample) / 4 : sample;
  p->last_ack_us = t;
  p->step =
      clamp(p->rate * TK_STEP_TARGET_MS / 1000 / 4096 * 4096, p->min_step, p->max_step);
  if (upto) *upto = h->upto;
  if (n) *n = h->n;
  p->inflight -= h->bytes;
  p->head = (p->head + 1) % TK_STEP_QUEUE;
  p->n--;
  return 0;
}

/* ---- building and sending a step ---------------------------------------------- */

void tk_step_free(tk_step_t *st)
{
  tk_batch_free(&st->batch);
  tk_buf_free(&st->data);
  free(st->offs);
  memset(st, 0, sizeof *st);
}

typedef struct step_ctx {
  tk_step_t *st;
  uint64_t max_bytes;
  tk_batch_filter filter;
  void *ctx;
  size_t cap; /* entries st->offs holds */
  int rc;
} step_ctx_t;

#define STEP_FULL 1 /* positive: stops tk_store_changes without an error */

static int step_push(step_ctx_t *c, const tk_rev_meta_t *m, tk_slice_t bytes)
{
  tk_step_t *st = c->st;
  tk_batch_t *b = &st->batch;
  if (tk_batch_push(b, m) != 0) return TK_ENOMEM;
  if (b->cap + 1 > c->cap) {
    void *offs = realloc(st->offs, (b->cap + 1) * sizeof *st->offs);
    if (!offs) return TK_ENOMEM;
    st->offs = offs;
    c->cap = b->cap + 1;
  }
  if (tk_buf_append(&st->data, bytes.p, bytes.n) != 0) return TK_ENOMEM;
  st->offs[b->n] = st->data.n;
  return 0;
}

static int step_add(void *ctx, const tk_rev_meta_t *m, tk_slice_t bytes)
{
  step_ctx_t *c = ctx;
  tk_batch_t *b = &c->st->batch;
  if (b->n > 0 && (b->n >= TK_MAX_OFFER_IDS || b->bytes + bytes.n > c->max_bytes)) {
    b->more = 1;
    return STEP_FULL;
  }
  int keep = c->filter ? c->filter(c->ctx, m) : 1;
  if (keep > 0) keep = step_push(c, m, bytes) ? TK_ENOMEM : 1;
  if (keep < 0) {
    c->rc = keep;
    return keep;
  }
  b->upto = m->seq;
  return 0;
}

int tk_step_build(tk_step_t *st, tk_store_t *s, uint64_t since, uint64_t max_bytes,
                  tk_batch_filter filter, void *ctx, tk_err_t *err)
{
  tk_step_free(st);
  st->offs = calloc(1, sizeof *st->offs);
  if (!st->offs) return tk_err_set(err, TK_ENOMEM, "out of memory");
  st->batch.upto = since;
  step_ctx_t c = {st, max_bytes, filter, ctx, 1, 0};
  int rc = tk_store_changes(s, since, 0, step_add, &c, err);
  if (rc == STEP_FULL) rc = 0;
  if (c.rc) rc = tk_err_set(err, c.rc, "building a step: %s", tk_strerror(c.rc));
  return rc;
}

int tk_step_send(tk_transport_t *t, const tk_step_t *st, int pull,
                 uint64_t chunk_feed_end)
{
  const tk_batch_t *b = &st->batch;
  ProtobufCBinaryData *revs = calloc(b->n ? b->n : 1, sizeof *revs);
  if (!revs) return TK_ENOMEM;
  for (size_t i = 0; i < b->n; i++)
    revs[i] = tk_pb_bytes(st->data.p + st->offs[i], st->offs[i + 1] - st->offs[i]);
  Tunduk__V1__Revisions m = TUNDUK__V1__REVISIONS__INIT;
  m.revs = revs;
  m.n_revs = b->n;
  m.step = 1;
  if (pull) {
    m.upto = b->upto;
    m.more = b->more;
    m.chunk_feed_end = b->more ? 0 : chunk_feed_end;
  }
  int rc = tk_sync_send_msg(t, TUNDUK__V1__FRAME__MSG_REVISIONS, &m);
  free(revs);
  return rc;
}

/* ---- a step received ---------------------------------------------------------- */

int tk_step_take(const ProtobufCBinaryData *revs, size_t n, tk_slice_t **revs_out,
                 tk_slice_t **ids_out, uint8_t (**idbuf)[TK_REV_ID_LEN])
{
  *idbuf = malloc((n ? n : 1) * TK_REV_ID_LEN);
  if (!*idbuf) {
    *revs_out = *ids_out = NULL;
    return TK_ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    tk_sha256((*idbuf)[i], revs[i].data, revs[i].len);
  int rc =
      tk_rev_batch(revs, (const uint8_t(*)[TK_REV_ID_LEN]) * idbuf, n, revs_out, ids_out);
  if (rc) {
    free(*idbuf);
    *idbuf = NULL;
  }
  return rc;
}
