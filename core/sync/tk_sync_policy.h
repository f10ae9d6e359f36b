/*
 * tk_sync_policy.h: the data phases of a sync by role, and the policy an
 * owner composes them with. After the Hellos, logs and grants (each
 * program's session code: the hub's hub*.c, the office's sync_client*.c),
 * a sync runs four data phases: revision push, revision pull, chunk push,
 * chunk pull (PROTOCOL.md sections 6 to 8). The INITIATOR
 * (tk_sync_initiator_t, sync_initiator.c) drives them: the office's client
 * hands it the frames of those phases. The RESPONDER (tk_sync_responder_t,
 * sync_responder.c) answers their frames (Offer, Revisions, Pull, Need,
 * Chunk, ChunkAck): the hub's session hands it every such frame; an office
 * answering another office will do the same. Both are built from the steps
 * of tk_sync.h (tk_rev_send_t, tk_rev_recv_t, tk_chunk_send_t,
 * tk_chunk_recv_t) and see only the transport and the store: no loop,
 * socket or TLS. Both programs link both.
 *
 * What a role may offer, how a received batch is applied, which chunks are
 * taken and how one is stored, the checkpoints and what is reported are its
 * owner's: the policy below (one struct; each role calls only its hooks).
 * The hub's (hub.c, hub_chunks.c), a responder's: offer what the device may
 * read; apply with the access list, membership, attachment limits and
 * metadata moderation (off the loop), then the store thread; accept chunks
 * a stored revision of a vault the device may write names, stored on the
 * store thread. The office's (sync_client*.c), an initiator's: offer what
 * the hub lets it write and did not send it; apply a pulled batch with its
 * decrypting moderation and the pull checkpoint in one transaction; accept
 * chunks its stored revisions name, stored inline; its checkpoints with
 * the hub; the statistics, progress and rejections it reports.
 *
 * Threads: every hook is called on the thread the owner hands frames on
 * (the hub's and the office's loop), from inside a tk_sync_initiator_* or
 * tk_sync_responder_* call. A hook that finishes later (the responder's
 * apply and store_chunk) does so on that thread too.
 *
 * Lifetimes: the policy (a const struct, usually static) outlives every
 * role using it; ctx is the owner's (the hub: its session; the office: its
 * client) and lives as long as the role. Views passed to a hook are valid
 * during the call only.
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

  /* ---- the initiator's ---- */
  /* Stores a pulled batch (revs[i] asked for as ids[i]: views) with the
   * pull checkpoint upto in the same transaction, now. 0, or the error
   * (the hook has stopped the sync itself). */
  int (*apply_pull)(void *ctx, const tk_slice_t *revs, const tk_slice_t *ids, size_t n,
                    uint64_t upto);
  /* The checkpoint of direction dir (TK_DIR_*) with this peer: read, set.
   * 0, or the error with the initiator's err set. */
  int (*ckpt_get)(void *ctx, int dir, uint64_t *seq);
  int (*ckpt_set)(void *ctx, int dir, uint64_t seq);
  /* Ends the sync with an error (rc, msg); the initiator does nothing more
   * with that frame, and the owner hands it no other. */
  void (*stop)(void *ctx, int rc, const char *msg);
  /* Every data phase is over: the owner ends the session (Bye). */
  void (*done)(void *ctx);
  /* Counts (TK_SYNC_COUNT_*, by n) and rejections: a pushed revision the
   * peer rejected or a pushed chunk it refused (pushed 1; id may be NULL,
   * reason NULL), a pulled chunk refused here (pushed 0). progress: the
   * counts moved (after each batch, every 16 chunks). */
  void (*count)(void *ctx, int what, uint64_t n);
  void (*rejected)(void *ctx, int pushed, const uint8_t *id, int code,
                   const char *reason);
  void (*progress)(void *ctx);
} tk_sync_policy_t;

enum {
  TK_SYNC_COUNT_ROUND_TRIPS, /* a frame went out that waits for an answer */
  TK_SYNC_COUNT_SENT,        /* pushed revisions the peer accepted */
  TK_SYNC_COUNT_DUPLICATES,  /* offered revisions the other side had */
  TK_SYNC_COUNT_REV_BYTES_OUT,
  TK_SYNC_COUNT_CHUNKS_SENT,
  TK_SYNC_COUNT_CHUNK_BYTES_OUT,
  TK_SYNC_COUNT_CHUNKS_RECEIVED,
  TK_SYNC_COUNT_CHUNK_BYTES_IN,
  TK_SYNC_COUNT_CHUNKS_REFUSED, /* pushed ones the peer refused, pulled ones here */
  /* offered (pulled) revisions this side wrote itself: the peer holds them
   * because it was sent them, so they are not counted as duplicates */
  TK_SYNC_COUNT_OWN,
};

/* ---- the initiator (sync_initiator.c) ------------------------------------
 * Drives the data phases in order on one transport: revision push, revision
 * pull, chunk push, chunk pull; then the policy's done. With steps (protocol
 * 3, tk_sync.h "revision steps"): the push sends what comes after the push
 * checkpoint as steps, the checkpoint moved at each Ack, after storing
 * TK_DIR_PUSH_SENT (how far steps may have gone) before the first step
 * past it; a push starting below that mark (a cut left steps unacknowledged
 * that the peer may hold) offers first, in Offer/Need batches, up to it. The
 * Pull{steps} goes out behind the last push step, and each pull step is
 * stored with its checkpoint, then acked. Without steps (--all): Offer/Need
 * batches both ways, the pull pipelined (the next Pull goes out with each
 * Need, and the batch that answers it is held until the next offer's Need
 * is out, so the peer reads the next batch while this one is stored; a
 * batch still held when the link dies is stored by tk_sync_initiator_end). */
enum {
  TK_INI_IDLE,
  TK_INI_PUSH_NEED,    /* sent Offer */
  TK_INI_PUSH_ACK,     /* sent Revisions */
  TK_INI_PULL_OFFER,   /* sent Pull */
  TK_INI_PULL_REVS,    /* sent Need */
  TK_INI_CPUSH_NEED,   /* sent a chunk Offer */
  TK_INI_CPUSH_ACK,    /* sending chunks, waiting for their acks */
  TK_INI_CPULL_OFFER,  /* sent a chunk Pull */
  TK_INI_CPULL_CHUNKS, /* sent a chunk Need, taking chunks */
  TK_INI_PUSH_STEPS,   /* sending push steps, taking their Acks */
  TK_INI_PULL_STEPS,   /* sent Pull{steps}, taking steps */
  TK_INI_DONE
};

typedef struct tk_sync_initiator {
  tk_store_t *store;
  const tk_sync_policy_t *policy;
  void *ctx;
  uint64_t batch_bytes;  /* the most revision bytes one pushed batch offers */
  const char *peer;      /* the peer in error messages ("the hub") */
  const uint8_t *origin; /* the peer's device id: pulled chunks' origin */
  tk_err_t *err;         /* the steps' errors (the owner's) */
  tk_transport_t *t;     /* the peer's (tk_sync_initiator_start) */
  int phase;
  tk_rev_send_t push; /* push: what we offered */
  tk_rev_recv_t pull; /* the last pull offer and what we asked for */
  uint64_t pull_upto;
  int pull_ahead;     /* the next Pull went out with the last Need */
  tk_frame_t *held;   /* a Revisions frame not yet stored */
  tk_frame_t *taking; /* the Revisions frame being taken */
  uint8_t (*held_ids)[TK_REV_ID_LEN];
  uint64_t held_upto;
  uint64_t chunk_feed_end; /* from the peer's last revision offer; 0: unknown */
  uint64_t chunk_bound;    /* the same, kept for every chunk Pull */
  tk_chunk_send_t csend;   /* chunk push batch */
  tk_chunk_recv_t crecv;   /* chunk pull batch */
  uint32_t chunks_sent, chunks_received; /* for progress every 16 */
  /* protocol 3 (the owner sets steps after init: 0 keeps to Offer/Need) */
  int steps;
  tk_stepper_t pstep;  /* push steps' pacing */
  tk_step_t step;      /* the push step being built */
  uint64_t push_since; /* the feed read into push steps up to here */
  uint64_t push_mark;  /* TK_DIR_PUSH_SENT as stored */
  int push_end;        /* the last push step is out */
  int pull_out;        /* the Pull{steps} went out behind the last push step */
  uint64_t early_cap;  /* non-zero: one first push step of at most this, then
                        * wait for tk_sync_initiator_release (it goes ahead of
                        * the peer's Hello) */
} tk_sync_initiator_t;

/* peer, origin and err are the owner's and live as long as ini. */
void tk_sync_initiator_init(tk_sync_initiator_t *ini, tk_store_t *s,
                            const tk_sync_policy_t *policy, void *ctx,
                            uint64_t batch_bytes, const char *peer, const uint8_t *origin,
                            tk_err_t *err);
/* Starts the data phases on t (valid until the sync ends) with the first
 * push batch. */
void tk_sync_initiator_start(tk_sync_initiator_t *ini, tk_transport_t *t);
/* The peer's Hello is in: with early_cap set (one step went ahead of it),
 * the push goes on with the rest. */
void tk_sync_initiator_release(tk_sync_initiator_t *ini);
/* Takes one frame if the phase expects it: 1 (*kept 1 when the initiator
 * keeps f, held: it frees it later), else 0 (the owner's). */
int tk_sync_initiator_take(tk_sync_initiator_t *ini, tk_frame_t *f, int *kept);
/* The sync is over: a held batch is stored (it came whole: stored, it is
 * not asked for again next time). 0 or apply_pull's error. */
int tk_sync_initiator_end(tk_sync_initiator_t *ini);
void tk_sync_initiator_free(tk_sync_initiator_t *ini);

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
  /* An Offer (revisions or chunks) with no ids was the last thing sent: its
   * answer may be an empty Need or nothing (PROTOCOL.md section 7); one empty
   * Need is taken and ignored until the next frame of another kind. */
  int empty_offer;
  /* a pull answered in steps (protocol 3): the feed read up to since, the
   * last step sent (end), their pacing; left out: what peer (its device id,
   * set by the owner once known) pushed in this session (pushed, told by
   * the owner: tk_sync_responder_pushed) */
  const uint8_t *peer;
  struct tk_seq_range {
    uint64_t after, upto;
  } * pushed; /* feed positions this session's pushes stored, ascending */
  size_t npushed, cap_pushed;
  int streaming, stream_end;
  uint64_t stream_since;
  tk_stepper_t stepper;
  tk_step_t step;
  /* what this responder sent in all, for the owner's statistics (the
   * hub's status and metrics): revisions and their bytes, attachment
   * chunks and their bytes */
  uint64_t sent_revs, sent_rev_bytes, sent_chunks, sent_chunk_bytes;
} tk_sync_responder_t;

void tk_sync_responder_init(tk_sync_responder_t *r, tk_store_t *s,
                            const tk_sync_policy_t *policy, void *ctx,
                            uint64_t batch_bytes, const char *log, const char *who);
void tk_sync_responder_free(tk_sync_responder_t *r);
/* Takes one frame on t: 1 if it is a data phase's (Offer, Revisions,
 * Pull, Need, Chunk, ChunkAck, and the Ack of a pull step: answered, or
 * failed through the policy), 0 if not (the owner's). */
int tk_sync_responder_take(tk_sync_responder_t *r, tk_transport_t *t,
                           const tk_frame_t *f);
/* A push of this session was committed: the feed positions after..upto
 * hold what it stored, all pushed by this peer; a pull in steps leaves
 * them out (the peer has them). Positions ascend from call to call; past
 * TK_MAX_PUSHED_RANGES ranges, later ones are not kept (sent back, as
 * duplicates). */
#define TK_MAX_PUSHED_RANGES 65536
void tk_sync_responder_pushed(tk_sync_responder_t *r, uint64_t after, uint64_t upto);
/* The end of store_chunk (n the chunk's bytes; stored, code and reason as
 * tk_chunk_recv_store left them): counts it and sends its ChunkAck. */
void tk_sync_responder_chunk_stored(tk_sync_responder_t *r, tk_transport_t *t,
                                    uint32_t index, size_t n, int stored, int code,
                                    const char *reason);

#endif
