/*
 * sync_revs.c: the receiving side of the revision exchange (see tk_sync.h,
 * "the revision exchange by role"). The caller's thread; no I/O but the
 * Need, sent on the caller's transport.
 */
#include "tk_sync.h"

#include <stdlib.h>
#include <string.h>

#include "tk_sync_frames.h"

void tk_rev_recv_free(tk_rev_recv_t *rr)
{
  free(rr->ids);
  free(rr->need);
  memset(rr, 0, sizeof *rr);
}

int tk_rev_recv_offer(tk_rev_recv_t *rr, tk_store_t *s, const ProtobufCBinaryData *ids,
                      size_t n, tk_err_t *err)
{
  tk_rev_recv_free(rr);
  tk_slice_t *v = calloc(n ? n : 1, sizeof *v);
  rr->ids = malloc((n ? n : 1) * TK_REV_ID_LEN);
  rr->need = calloc(n ? n : 1, sizeof *rr->need);
  if (!v || !rr->ids || !rr->need) {
    free(v);
    tk_rev_recv_free(rr);
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    v[i] = tk_pb_slice(ids[i]);
    if (v[i].n == TK_REV_ID_LEN) memcpy(rr->ids[i], v[i].p, TK_REV_ID_LEN);
  }
  rr->n = n;
  int rc = tk_sync_need(s, v, n, rr->need, &rr->nneed, err);
  free(v);
  return rc;
}

int tk_rev_recv_send_need(const tk_rev_recv_t *rr, tk_transport_t *t)
{
  return tk_sync_send_need(t, rr->need, rr->nneed);
}

uint8_t (*tk_rev_recv_want(const tk_rev_recv_t *rr))[TK_REV_ID_LEN]
{
  uint8_t(*want)[TK_REV_ID_LEN] = malloc((rr->nneed ? rr->nneed : 1) * TK_REV_ID_LEN);
  for (size_t i = 0; want && i < rr->nneed; i++)
    memcpy(want[i], rr->ids[rr->need[i]], TK_REV_ID_LEN);
  return want;
}

int tk_rev_batch(const ProtobufCBinaryData *revs, const uint8_t (*want)[TK_REV_ID_LEN],
                 size_t n, tk_slice_t **revs_out, tk_slice_t **ids_out)
{
  tk_slice_t *r = calloc(n ? n : 1, sizeof *r), *ids = calloc(n ? n : 1, sizeof *ids);
  *revs_out = r;
  *ids_out = ids;
  if (!r || !ids) {
    free(r);
    free(ids);
    *revs_out = *ids_out = NULL;
    return TK_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    r[i] = tk_pb_slice(revs[i]);
    ids[i] = TK_SLICE(want[i], TK_REV_ID_LEN);
  }
  return 0;
}

int tk_rev_recv_take(const tk_rev_recv_t *rr, const ProtobufCBinaryData *revs, size_t n,
                     tk_rev_apply_fn apply, void *ctx)
{
  if (n != rr->nneed) return TK_EPROTO;
  tk_slice_t *v = NULL, *ids = NULL;
  uint8_t(*want)[TK_REV_ID_LEN] = tk_rev_recv_want(rr);
  int rc = want ? tk_rev_batch(revs, (const uint8_t(*)[TK_REV_ID_LEN])want, n, &v, &ids)
                : TK_ENOMEM;
  if (!rc) rc = apply(ctx, v, ids, n);
  free(v);
  free(ids);
  free(want);
  return rc;
}
