/*
 * tk_sync_policy.h: the data phases of a sync by role, and the policy an
 * owner composes them with. After the Hellos, logs and grants (each
 * program's session code: the hub's hub*.c, the office's sync_client*.c),
 * a sync runs four data phases: revision push, revision pull, chunk push,
 * chunk pull (PROTOCOL.md sections 6 to 8). The RESPONDER
 * (tk_sync_responder_t, sync_responder.c) answers their frames (Offer,
 * Revisions, Pull, Need, Chunk, ChunkAck) on one transport: the hub's
 * session hands it every such frame; an office answering another office
 * will do the same. It is built from the steps of tk_sync.h (tk_rev_recv_t,
 * tk_rev_send_t, tk_chunk_recv_t, tk_chunk_send_t) and sees only the
 * transport and the store: no loop, socket or TLS.
 *
 * What it may offer, how a received batch is applied and how a chunk is
 * stored are its owner's: the policy below. The hub's (hub.c, hub_chunks.c):
 * offer what the device may read; apply with the access list, membership,
 * attachment limits and metadata moderation (off the loop), then the store
 * thread; accept chunks a stored revision of a vault the device may write
 * names; store them on the store thread.
 *
 * Threads: every hook is called on the thread the owner hands frames on
 * (the hub: its loop), from inside a tk_sync_responder_* call. A hook that
 * finishes later (apply, store_chunk) does so on that thread too.
 *
 * Lifetimes: the policy (a const struct, usually static) outlives every
 * responder using it; ctx is the owner's (the hub: its session) and lives
 * as long as the responder. Views passed to a hook are valid during the
 * call only.
 */
#ifndef TK_SYNC_POLICY_H
#define TK_SYNC_POLICY_H

#include "tk_sync.h"
#include "tk_wire.h"

typedef struct tk_sync_policy {
  /* Which revisions to offer the peer that pulls (tk_batch_filter: 1 yes,
   * 0 skip, negative to fail). NULL: all. */
  tk_batch_filter offer_rev;
  /* Starts applying a received batch (tk_rev_apply_fn, tk_sync.h): now or
   * later, the batch stored and its Ack sent by the owner (the responder
   * keeps nothing of it). Non-zero: nothing started; fail follows, with
   * msg NULL (the owner names what could not start). */
  tk_rev_apply_fn apply;
  /* Which chunks to offer the peer that pulls chunks. NULL: all. */
  tk_chunk_filter offer_chunk;
  /* Which offered chunks to ask for (not stored here yet). NULL: all. */
  tk_chunk_accept accept_chunk;
  /* Stores a chunk that passed its checks (index in the offer, its bytes:
   * a view, copied if kept), now or later, then calls
   * tk_sync_responder_chunk_stored; until then the owner delivers no frame
   * of that peer. */
  void (*store_chunk)(void *ctx, uint32_t index, tk_slice_t data);
  /* The peer broke the protocol, or a step failed: tell it (code) and
   * close (rc, msg). The responder does nothing more with that frame. */
  void (*fail)(void *ctx, Tunduk__V1__ErrorCode code, int rc, const char *msg);
  /* A chunk's store or its ack failed (e says why; what names it: "a
   * chunk"): tell the peer and close. */
  void (*fail_store)(void *ctx, int rc, const tk_err_t *e, const char *what);
} tk_sync_policy_t;

/* The responder of one peer: the exchange in progress (one at a time). */
typedef struct tk_sync_responder {
  tk_store_t *store;
  const tk_sync_policy_t *policy;
  void *ctx;
  uint64_t batch_bytes; /* the most revision bytes one pull answer offers */
  const char *log;      /* its log lines' subsystem ("hub") */
  const char *who;      /* the peer in its log lines (the owner's, lives as long) */
  tk_rev_recv_t rrecv;  /* a push: the ids offered and the indexes asked for */
  int awaiting_revs;
  tk_rev_send_t rsend; /* a pull: the batch offered */
  int awaiting_need;
  tk_chunk_recv_t crecv; /* chunks: a push being received, a pull being sent */
  int awaiting_chunks;
  tk_chunk_send_t csend;
  int awaiting_chunk_need, sending_chunks;
} tk_sync_responder_t;

void tk_sync_responder_init(tk_sync_responder_t *r, tk_store_t *s,
                            const tk_sync_policy_t *policy, void *ctx,
                            uint64_t batch_bytes, const char *log, const char *who);
void tk_sync_responder_free(tk_sync_responder_t *r);
/* Takes one frame on t: 1 if it is a data phase's (Offer, Revisions,
 * Pull, Need, Chunk, ChunkAck: answered, or failed through the policy),
 * 0 if not (the owner's). */
int tk_sync_responder_take(tk_sync_responder_t *r, tk_transport_t *t,
                           const tk_frame_t *f);
/* The end of store_chunk (n the chunk's bytes; stored, code and reason as
 * tk_chunk_recv_store left them): counts it and sends its ChunkAck. */
void tk_sync_responder_chunk_stored(tk_sync_responder_t *r, tk_transport_t *t,
                                    uint32_t index, size_t n, int stored, int code,
                                    const char *reason);

#endif
