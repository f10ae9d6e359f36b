/*
 * sync_chunks.c: moving attachment chunks (see tk_sync.h): the offer built
 * from the chunk feed, the receiver's need, one chunk per frame within a
 * window of TK_CHUNK_WINDOW unacknowledged chunks, each stored in its own
 * transaction before its ack. Memory per batch: the ids and sizes, plus
 * at most the window's chunks in the connection's write queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_sync.h"
#include "tk_sync_frames.h"

void tk_chunk_send_free(tk_chunk_send_t *cs)
{
  free(cs->ids);
  free(cs->sizes);
  free(cs->need);
  memset(cs, 0, sizeof *cs);
}

void tk_chunk_recv_free(tk_chunk_recv_t *cr)
{
  free(cr->ids);
  free(cr->sizes);
  free(cr->need);
  memset(cr, 0, sizeof *cr);
}

/* ---- sending --------------------------------------------------------------- */

typedef struct offer_ctx {
  tk_chunk_send_t *cs;
  uint64_t before;
  tk_chunk_filter filter;
  void *ctx;
} offer_ctx_t;

static int offer_one(void *ctx, const tk_chunk_meta_t *m)
{
  offer_ctx_t *o = ctx;
  tk_chunk_send_t *cs = o->cs;
  if (o->before && m->seq >= o->before) return 1; /* the bound: not in this session */
  if (cs->n == TK_MAX_CHUNK_OFFER) {
    cs->more = 1;
    return 1; /* full: stop here, upto stays before m */
  }
  cs->upto = m->seq;
  int take = o->filter ? o->filter(o->ctx, m) : 1;
  if (take <= 0) return take;
  memcpy(cs->ids[cs->n], m->id, TK_HASH_LEN);
  cs->sizes[cs->n++] = m->size;
  return 0;
}

int tk_chunk_send_offer(tk_chunk_send_t *cs, tk_transport_t *c, tk_store_t *s,
                        uint64_t since, uint64_t before, int pull, tk_chunk_filter filter,
                        void *ctx, tk_err_t *err)
{
  tk_chunk_send_free(cs);
  cs->ids = malloc(TK_MAX_CHUNK_OFFER * TK_HASH_LEN);
  cs->sizes = malloc(TK_MAX_CHUNK_OFFER * sizeof *cs->sizes);
  if (!cs->ids || !cs->sizes) return tk_err_set(err, TK_ENOMEM, "out of memory");
  cs->upto = since;
  offer_ctx_t o = {cs, before, filter, ctx};
  /* a filter may skip many chunks: scan until the offer is full */
  int rc = tk_store_chunks_after(s, since, (size_t)-1 >> 1, offer_one, &o, err);
  if (rc < 0) return rc;
  if (cs->n == 0 && !pull) return 0; /* a push with nothing to offer asks nothing */
  rc = tk_sync_send_chunk_offer(c, (const uint8_t(*)[TK_HASH_LEN])cs->ids, cs->sizes,
                                cs->n, pull, cs->upto, cs->more);
  if (rc) return tk_err_set(err, rc, "cannot send a chunk offer: %s", tk_strerror(rc));
  return 0;
}

/* Sends needed chunks while the window has room. */
static int pump(tk_chunk_send_t *cs, tk_transport_t *c, tk_store_t *s, tk_err_t *err)
{
  tk_buf_t data = TK_BUF_INIT;
  int rc = 0;
  while (!rc && cs->next < cs->nneed && cs->next - cs->acked < TK_CHUNK_WINDOW) {
    uint32_t i = cs->need[cs->next];
    data.n = 0;
    rc = tk_store_chunk_get(s, cs->ids[i], &data, err);
    if (rc) break;
    rc = tk_sync_send_chunk(c, i, TK_SLICE(data.p, data.n));
    if (rc) {
      tk_err_set(err, rc, "cannot send a chunk: %s", tk_strerror(rc));
      break;
    }
    cs->bytes += data.n;
    cs->next++;
  }
  tk_buf_free(&data);
  return rc;
}

int tk_chunk_send_need(tk_chunk_send_t *cs, tk_transport_t *c, tk_store_t *s,
                       const uint32_t *index, size_t n, tk_err_t *err)
{
  for (size_t i = 0; i < n; i++)
    if (index[i] >= cs->n || (i > 0 && index[i] <= index[i - 1]))
      return tk_err_set(err, TK_EPROTO,
                        "chunk need indexes out of range or not ascending");
  free(cs->need);
  cs->need = malloc((n ? n : 1) * sizeof *cs->need);
  if (!cs->need) return tk_err_set(err, TK_ENOMEM, "out of memory");
  if (n) memcpy(cs->need, index, n * sizeof *index);
  cs->nneed = n;
  cs->next = cs->acked = 0;
  return pump(cs, c, s, err);
}

int tk_chunk_send_ack(tk_chunk_send_t *cs, tk_transport_t *c, tk_store_t *s,
                      uint32_t index, tk_err_t *err)
{
  if (cs->acked >= cs->next || cs->need[cs->acked] != index)
    return tk_err_set(err, TK_EPROTO, "an ack for chunk %u, which is not the one due",
                      index);
  cs->acked++;
  if (cs->acked == cs->nneed) return 1;
  int rc = pump(cs, c, s, err);
  return rc ? rc : 0;
}

/* ---- receiving ------------------------------------------------------------- */

int tk_chunk_recv_offer(tk_chunk_recv_t *cr, tk_transport_t *c, tk_store_t *s,
                        const tk_slice_t *ids, const uint32_t *sizes, size_t n,
                        uint64_t upto, int more, tk_chunk_accept accept, void *ctx,
                        tk_err_t *err)
{
  tk_chunk_recv_free(cr);
  if (n > TK_MAX_CHUNK_OFFER)
    return tk_err_set(err, TK_ELIMIT, "a chunk offer of %zu ids; at most %d", n,
                      TK_MAX_CHUNK_OFFER);
  cr->ids = malloc((n ? n : 1) * TK_HASH_LEN);
  cr->sizes = malloc((n ? n : 1) * sizeof *cr->sizes);
  cr->need = malloc((n ? n : 1) * sizeof *cr->need);
  if (!cr->ids || !cr->sizes || !cr->need)
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  cr->n = n;
  cr->upto = upto;
  cr->more = more;
  for (size_t i = 0; i < n; i++) {
    if (ids[i].n != TK_HASH_LEN)
      return tk_err_set(err, TK_EPROTO, "chunk offer: id %zu is %zu bytes, not 32", i,
                        ids[i].n);
    memcpy(cr->ids[i], ids[i].p, TK_HASH_LEN);
    cr->sizes[i] = sizes[i];
    if (sizes[i] == 0 || sizes[i] > TK_CHUNK_MAX) continue; /* never a valid chunk */
    int have = tk_store_chunk_has(s, cr->ids[i]);
    if (have < 0) return tk_err_set(err, TK_ESTORE, "cannot read the chunk store");
    if (have) continue;
    int ok = accept ? accept(ctx, cr->ids[i], sizes[i]) : 1;
    if (ok < 0) return tk_err_set(err, TK_ESTORE, "cannot read the chunk store");
    if (ok) cr->need[cr->nneed++] = (uint32_t)i;
  }
  int rc = tk_sync_send_need(c, cr->need, cr->nneed);
  return rc ? tk_err_set(err, rc, "cannot send a chunk need: %s", tk_strerror(rc)) : 0;
}

int tk_chunk_recv_check(const tk_chunk_recv_t *cr, uint32_t index, tk_slice_t data,
                        int *code, char *reason, size_t len, tk_err_t *err)
{
  *code = TK_REJECT_NONE;
  reason[0] = '\0';
  if (cr->next >= cr->nneed || cr->need[cr->next] != index)
    return tk_err_set(err, TK_EPROTO, "chunk %u was not asked for, or came out of order",
                      index);
  if (data.n != cr->sizes[index]) {
    *code = TK_REJECT_MALFORMED;
    snprintf(reason, len, "chunk of %zu bytes, offered as %u", data.n, cr->sizes[index]);
  }
  return 0;
}

int tk_chunk_recv_store(tk_store_t *s, const uint8_t id[TK_HASH_LEN], tk_slice_t data,
                        const uint8_t *origin, int *stored, int *code, char *reason,
                        size_t len, tk_err_t *err)
{
  tk_err_t e;
  *stored = 0;
  *code = TK_REJECT_NONE;
  int rc = tk_store_begin(s, err);
  if (rc) return rc;
  rc = tk_store_chunk_put(s, id, data, origin, &e);
  if (rc == 0) {
    rc = tk_store_commit(s, err);
    if (rc) {
      tk_store_rollback(s);
      return rc;
    }
    *stored = 1;
  } else {
    tk_store_rollback(s);
    if (rc == TK_EHASH || rc == TK_ELIMIT) {
      *code = rc == TK_EHASH ? TK_REJECT_HASH : TK_REJECT_MALFORMED;
      snprintf(reason, len, "%.150s", e.msg);
    } else if (rc != TK_EEXIST) {
      return tk_err_set(err, rc, "%s", e.msg);
    }
  }
  return 0;
}

int tk_chunk_recv_acked(tk_chunk_recv_t *cr, tk_transport_t *c, uint32_t index, size_t n,
                        int stored, int code, const char *reason, tk_err_t *err)
{
  if (stored) {
    cr->bytes += n;
    cr->stored++;
  }
  if (code) cr->refused++;
  cr->next++;
  int rc = tk_sync_send_chunk_ack(c, index, code, reason);
  if (rc) return tk_err_set(err, rc, "cannot send a chunk ack: %s", tk_strerror(rc));
  return cr->next == cr->nneed;
}

int tk_chunk_recv_take(tk_chunk_recv_t *cr, tk_transport_t *c, tk_store_t *s,
                       uint32_t index, tk_slice_t data, const uint8_t *origin,
                       tk_err_t *err)
{
  char reason[160] = "";
  int code = TK_REJECT_NONE, stored = 0;
  int rc = tk_chunk_recv_check(cr, index, data, &code, reason, sizeof reason, err);
  if (rc) return rc;
  if (!code) {
    rc = tk_chunk_recv_store(s, cr->ids[index], data, origin, &stored, &code, reason,
                             sizeof reason, err);
    if (rc) return rc;
  }
  return tk_chunk_recv_acked(cr, c, index, data.n, stored, code, reason, err);
}
