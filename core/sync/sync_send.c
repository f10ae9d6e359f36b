/*
 * sync_send.c: the sending side of the revision exchange (see tk_sync.h,
 * "the revision exchange by role"): the office's push and the hub's answer
 * to a Pull. The caller's thread; no I/O but the Offer and the Revisions,
 * sent on the caller's transport.
 */
#include "tk_sync.h"

#include <string.h>

#include "tk_sync_frames.h"

void tk_rev_send_free(tk_rev_send_t *rs)
{
  tk_batch_free(&rs->batch);
}

int tk_rev_send_offer(tk_rev_send_t *rs, tk_transport_t *t, tk_store_t *s, uint64_t since,
                      uint64_t max_bytes, int pull, tk_batch_filter filter, void *ctx,
                      int *sent, tk_err_t *err)
{
  *sent = 0;
  int rc =
      tk_sync_batch(s, since, TK_MAX_OFFER_IDS, max_bytes, filter, ctx, &rs->batch, err);
  if (rc) return rc;
  if (!pull) {
    if (rs->batch.n > 0) *sent = tk_sync_send_offer(t, &rs->batch, 0, 0);
    return 0;
  }
  uint64_t last = 0, feed_end = 0;
  if (!rs->batch.more && tk_store_chunks_last(s, &last, NULL) == 0)
    feed_end = last + 1; /* lets the peer skip an empty chunk pull */
  *sent = tk_sync_send_offer(t, &rs->batch, 1, feed_end);
  return 0;
}

int tk_rev_send_need(tk_rev_send_t *rs, tk_transport_t *t, tk_store_t *s,
                     const uint32_t *index, size_t n, uint64_t *bytes, tk_err_t *err)
{
  if (n == 0) return 1;
  return tk_sync_send_revisions(t, s, rs->batch.ids, rs->batch.n, index, n, bytes, err);
}

void tk_rev_send_ack(const Tunduk__V1__Ack *m, uint32_t *accepted, uint32_t *duplicates,
                     tk_rev_rejected_fn rejected, void *ctx)
{
  *accepted = m->accepted;
  *duplicates = m->duplicates;
  for (size_t i = 0; rejected && i < m->n_rejected; i++) {
    const Tunduk__V1__Rejected *r = m->rejected[i];
    rejected(ctx, r->id.len == TK_REV_ID_LEN ? r->id.data : NULL, r->code, r->reason);
  }
}
