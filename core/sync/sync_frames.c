/*
 * sync_frames.c: the frames the engine sends (see tk_sync_frames.h).
 */
#include "tk_sync_frames.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int tk_sync_send(tk_transport_t *t, const tk_frame_t *f)
{
  size_t n = tk_wire_size(f);
  uint8_t stackbuf[512];
  uint8_t *p = n <= sizeof stackbuf ? stackbuf : malloc(n);
  if (!p) return TK_ENOMEM;
  tk_wire_pack(f, p);
  int rc = tk_transport_send(t, TK_SLICE(p, n));
  if (p != stackbuf) free(p);
  return rc;
}

int tk_sync_send_msg(tk_transport_t *t, Tunduk__V1__Frame__MsgCase msg_case, void *msg)
{
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = msg_case;
  f.hello = msg; /* the union: any member */
  return tk_sync_send(t, &f);
}

void tk_sync_send_error(tk_transport_t *t, Tunduk__V1__ErrorCode code, const char *fmt,
                        ...)
{
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  Tunduk__V1__Error e = TUNDUK__V1__ERROR__INIT;
  e.code = code;
  e.message = msg;
  (void)tk_sync_send_msg(t, TUNDUK__V1__FRAME__MSG_ERROR, &e);
}

void tk_sync_send_bye(tk_transport_t *t)
{
  Tunduk__V1__Bye bye = TUNDUK__V1__BYE__INIT;
  (void)tk_sync_send_msg(t, TUNDUK__V1__FRAME__MSG_BYE, &bye);
}

int tk_sync_send_need(tk_transport_t *t, const uint32_t *index, size_t n)
{
  Tunduk__V1__Need need = TUNDUK__V1__NEED__INIT;
  need.n_index = n;
  need.index = (uint32_t *)(uintptr_t)index;
  return tk_sync_send_msg(t, TUNDUK__V1__FRAME__MSG_NEED, &need);
}

int tk_sync_send_pull(tk_transport_t *t, uint64_t since, int chunks, uint64_t before)
{
  Tunduk__V1__Pull p = TUNDUK__V1__PULL__INIT;
  p.since = since;
  if (chunks) {
    p.chunks = 1;
    p.chunks_before = before;
  }
  return tk_sync_send_msg(t, TUNDUK__V1__FRAME__MSG_PULL, &p);
}

int tk_sync_send_pull_steps(tk_transport_t *t, uint64_t since, uint32_t step_bytes)
{
  Tunduk__V1__Pull p = TUNDUK__V1__PULL__INIT;
  p.since = since;
  p.steps = 1;
  p.step_bytes = step_bytes;
  return tk_sync_send_msg(t, TUNDUK__V1__FRAME__MSG_PULL, &p);
}

int tk_sync_send_offer(tk_transport_t *t, const tk_batch_t *b, int pull,
                       uint64_t chunk_feed_end)
{
  ProtobufCBinaryData *ids = calloc(b->n ? b->n : 1, sizeof *ids);
  if (!ids) return TK_ENOMEM;
  for (size_t i = 0; i < b->n; i++)
    ids[i] = tk_pb_bytes(b->ids[i], TK_REV_ID_LEN);
  Tunduk__V1__Offer o = TUNDUK__V1__OFFER__INIT;
  o.n_ids = b->n;
  o.ids = ids;
  if (pull) {
    o.upto = b->upto;
    o.more = b->more;
    o.chunk_feed_end = chunk_feed_end;
  }
  int rc = tk_sync_send_msg(t, TUNDUK__V1__FRAME__MSG_OFFER, &o);
  free(ids);
  return rc;
}

int tk_sync_send_ack(tk_transport_t *t, const tk_apply_result_t *r)
{
  Tunduk__V1__Rejected *rj = calloc(r->nrejected ? r->nrejected : 1, sizeof *rj);
  Tunduk__V1__Rejected **rp = calloc(r->nrejected ? r->nrejected : 1, sizeof *rp);
  Tunduk__V1__Ack ack = TUNDUK__V1__ACK__INIT;
  ack.accepted = r->accepted;
  ack.duplicates = r->duplicates + r->own; /* the wire knows no "own" */
  if (rj && rp) {
    for (size_t i = 0; i < r->nrejected; i++) {
      tunduk__v1__rejected__init(&rj[i]);
      rj[i].id = tk_pb_bytes(r->rejected[i].id, TK_REV_ID_LEN);
      rj[i].code = (Tunduk__V1__RejectCode)r->rejected[i].code;
      rj[i].reason = (char *)r->rejected[i].reason;
      rp[i] = &rj[i];
    }
    ack.n_rejected = r->nrejected;
    ack.rejected = rp;
  }
  int rc = tk_sync_send_msg(t, TUNDUK__V1__FRAME__MSG_ACK, &ack);
  free(rj);
  free(rp);
  return rc;
}

int tk_sync_send_revisions_msg(tk_transport_t *t, ProtobufCBinaryData *revs, size_t n)
{
  Tunduk__V1__Revisions r = TUNDUK__V1__REVISIONS__INIT;
  r.n_revs = n;
  r.revs = revs;
  return tk_sync_send_msg(t, TUNDUK__V1__FRAME__MSG_REVISIONS, &r);
}

int tk_sync_send_chunk_offer(tk_transport_t *t, const uint8_t (*ids)[TK_HASH_LEN],
                             const uint32_t *sizes, size_t n, int pull, uint64_t upto,
                             int more)
{
  ProtobufCBinaryData *pb = calloc(n ? n : 1, sizeof *pb);
  if (!pb) return TK_ENOMEM;
  for (size_t i = 0; i < n; i++)
    pb[i] = tk_pb_bytes(ids[i], TK_HASH_LEN);
  Tunduk__V1__Offer m = TUNDUK__V1__OFFER__INIT;
  m.n_ids = n;
  m.ids = pb;
  m.chunks = 1;
  m.n_sizes = n;
  m.sizes = (uint32_t *)(uintptr_t)sizes;
  if (pull) {
    m.upto = upto;
    m.more = more;
  }
  int rc = tk_sync_send_msg(t, TUNDUK__V1__FRAME__MSG_OFFER, &m);
  free(pb);
  return rc;
}

int tk_sync_send_chunk(tk_transport_t *t, uint32_t index, tk_slice_t data)
{
  Tunduk__V1__Chunk m = TUNDUK__V1__CHUNK__INIT;
  m.index = index;
  m.data = tk_pb_bytes(data.p, data.n);
  return tk_sync_send_msg(t, TUNDUK__V1__FRAME__MSG_CHUNK, &m);
}

int tk_sync_send_chunk_ack(tk_transport_t *t, uint32_t index, int code,
                           const char *reason)
{
  Tunduk__V1__ChunkAck m = TUNDUK__V1__CHUNK_ACK__INIT;
  m.index = index;
  m.code = (Tunduk__V1__RejectCode)code;
  m.reason = (char *)(reason ? reason : "");
  return tk_sync_send_msg(t, TUNDUK__V1__FRAME__MSG_CHUNK_ACK, &m);
}
