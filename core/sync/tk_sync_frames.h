/*
 * tk_sync_frames.h: every frame the engine sends, built in one place and
 * sent on a transport (tk_transport.h): encode with the codec (tk_wire.h),
 * then tk_transport_send. The protocol steps (tk_sync.h, sync_*.c) and the
 * sessions above them (the office's client, the hub) send through these
 * and never build a Frame by hand: tk_sync_send_msg wraps a message the
 * caller filled (Hello, Enroll, Grants, Log...), the others build the
 * messages whose shape the protocol fixes (Need, Pull, Offer, Ack, Bye,
 * Error).
 *
 * Threads: the transport's. Each call encodes and sends at once; nothing
 * is kept after it returns (the transport copies the payload).
 */
#ifndef TK_SYNC_FRAMES_H
#define TK_SYNC_FRAMES_H

#include "tk_sync.h"
#include "tk_transport.h"
#include "tk_wire.h"

/* Encodes f and sends it as one frame. 0 or the transport's error
 * (TK_ENOMEM if it cannot be encoded). */
int tk_sync_send(tk_transport_t *t, const tk_frame_t *f);
/* Sends Frame{msg}: msg_case (TUNDUK__V1__FRAME__MSG_*) names which
 * message msg (the caller's, filled) is. */
int tk_sync_send_msg(tk_transport_t *t, Tunduk__V1__Frame__MsgCase msg_case, void *msg);
/* Sends Error{code, message}; the caller closes afterwards. */
void tk_sync_send_error(tk_transport_t *t, Tunduk__V1__ErrorCode code, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));
void tk_sync_send_bye(tk_transport_t *t);

/* Need{index[0..n)}: the answer to an offer (revisions or chunks). */
int tk_sync_send_need(tk_transport_t *t, const uint32_t *index, size_t n);
/* Pull{since} for revisions; with chunks, Pull{since, chunks, before}. */
int tk_sync_send_pull(tk_transport_t *t, uint64_t since, int chunks, uint64_t before);
/* Pull{since, steps, step_bytes} (protocol 3): the revisions as steps. */
int tk_sync_send_pull_steps(tk_transport_t *t, uint64_t since, uint32_t step_bytes);
/* The revision Offer of batch b: its ids; for a pull (the answer to a
 * Pull) also upto, more and chunk_feed_end (0: not given). */
int tk_sync_send_offer(tk_transport_t *t, const tk_batch_t *b, int pull,
                       uint64_t chunk_feed_end);
/* The Ack of a received batch (or a grant): accepted, duplicates and each
 * rejection. */
int tk_sync_send_ack(tk_transport_t *t, const tk_apply_result_t *r);

/* The Revisions answering a Need: revs[0..n), encoded revisions. */
int tk_sync_send_revisions_msg(tk_transport_t *t, ProtobufCBinaryData *revs, size_t n);
/* A chunk Offer: ids and sizes (n each); for a pull also upto and more. */
int tk_sync_send_chunk_offer(tk_transport_t *t, const uint8_t (*ids)[TK_HASH_LEN],
                             const uint32_t *sizes, size_t n, int pull, uint64_t upto,
                             int more);
/* One Chunk (index in the offer, its bytes) and its ChunkAck (code 0, or
 * a TK_REJECT_* code with reason, which may be NULL). */
int tk_sync_send_chunk(tk_transport_t *t, uint32_t index, tk_slice_t data);
int tk_sync_send_chunk_ack(tk_transport_t *t, uint32_t index, int code,
                           const char *reason);

#endif
