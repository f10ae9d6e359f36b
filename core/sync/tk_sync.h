/*
 * tk_sync.h: the protocol steps, written once per role and shared by the
 * office (core/sync_client*.c, the initiator) and the hub (core/hub*.c,
 * the responder): building a batch from the changes feed, answering an
 * offer with what is needed, sending the revisions asked for, and applying
 * a received batch in one transaction with every check of PROTOCOL.md
 * section 5 (sync.c); the sending side of the revision exchange
 * (sync_send.c) and its receiving side (sync_revs.c); both sides of the chunk exchange
 * (sync_chunks.c). Every frame they send is built in sync_frames.c (tk_sync_frames.h) and
 * goes out on a tk_transport_t (tk_transport.h): no step sees a socket, TLS or a loop, so
 * a file (bundle) transport needs no change here.
 *
 * The data phases built from these steps, by role (the initiator, the
 * responder) and the policy each program composes them with are in
 * tk_sync_policy.h. What stays with each program is its policy and its
 * session: the hub's access list, membership and grant checks, attachment
 * limits and metadata moderation (off the loop: hub.c's mod_job),
 * pre-authentication and output budget; the office's hub pinning,
 * decrypting moderation, may-write filter and vault-key cache
 * (sync_client_pull.c). They reach the steps through the policy hooks and
 * the filter and policy callbacks below.
 *
 * Threads: the store's thread (one at a time per store). Applying a batch
 * checks parse, hash and signature of its revisions on up to 4 short-lived
 * threads (by core count) before the transaction; every store call stays on
 * the caller's thread.
 */
#ifndef TK_SYNC_H
#define TK_SYNC_H

#include "tk_store.h"
#include "tk_transport.h"
#include "tunduk.pb-c.h"

/* Per-revision rejection codes (tunduk.proto RejectCode). */
enum {
  TK_REJECT_NONE = 0,
  TK_REJECT_MALFORMED = 1,
  TK_REJECT_HASH = 2,
  TK_REJECT_SIGNATURE = 3,
  TK_REJECT_ACCESS = 4,
  TK_REJECT_PARENT = 5,
  TK_REJECT_INTERNAL = 6,
  TK_REJECT_MODERATION = 7,
  TK_REJECT_QUARANTINED = 8,
  TK_REJECT_LIMIT = 9,
};

/* A received revision whose clock is further ahead of the receiver's wall
 * clock than this is refused (REJECT_MALFORMED). */
#define TK_MAX_CLOCK_AHEAD_MS (30ull * 24 * 3600 * 1000)

/* A batch to offer: ids in feed order with their seqs and sizes. */
typedef struct tk_batch {
  uint8_t (*ids)[TK_REV_ID_LEN];
  uint64_t *seqs;
  size_t n, cap;
  uint64_t bytes; /* sum of the revisions' sizes */
  uint64_t upto;  /* feed position reached (>= since) */
  int more;       /* the feed goes on after upto */
} tk_batch_t;

void tk_batch_free(tk_batch_t *b);
/* Appends m (its id, seq and size) to b, growing it. TK_ENOMEM. */
int tk_batch_push(tk_batch_t *b, const tk_rev_meta_t *m);

/* Include this revision in the batch? 1 yes, 0 skip (upto still passes
 * it), negative to fail. */
typedef int (*tk_batch_filter)(void *ctx, const tk_rev_meta_t *m);

/* Fills b (emptied first) with the revisions after since, in feed order,
 * that pass filter (NULL: all), up to max_ids and max_bytes (at least one
 * revision when any passes). */
int tk_sync_batch(tk_store_t *s, uint64_t since, size_t max_ids, uint64_t max_bytes,
                  tk_batch_filter filter, void *ctx, tk_batch_t *b, tk_err_t *err);

/* need[] gets the ascending indexes of ids (n x 32 bytes) not in the store;
 * *nneed their count. need must hold n entries. */
int tk_sync_need(tk_store_t *s, const tk_slice_t *ids, size_t n, uint32_t *need,
                 size_t *nneed, tk_err_t *err);

/* Answers a Need: checks that index[0..n) ascends and stays below nids
 * (TK_EPROTO), reads those revisions of ids from the store and sends them
 * as one Revisions frame on c (TK_ELIMIT if it does not fit a frame).
 * *rev_bytes (may be NULL) gets the revision bytes sent. */
int tk_sync_send_revisions(tk_transport_t *c, tk_store_t *s,
                           const uint8_t (*ids)[TK_REV_ID_LEN], size_t nids,
                           const uint32_t *index, size_t n, uint64_t *rev_bytes,
                           tk_err_t *err);

struct tk_plugin_set;
/* The receiving node's moderation rules on one incoming revision (PROTOCOL.md
 * section 5, rule 6): body is the decrypted record, or {NULL, 0} when this
 * node holds no key. Returns 0 to accept, TK_REJECT_MODERATION, or
 * TK_REJECT_QUARANTINED after keeping the revision aside (sender noted), or
 * TK_REJECT_INTERNAL if it could not be kept; reason says why. set may be
 * NULL (no rules). */
int tk_sync_moderate(struct tk_plugin_set *set, tk_store_t *s, const tk_rev_t *rev,
                     tk_slice_t body, const uint8_t sender[TK_DEVICE_ID_LEN],
                     char *reason, size_t len);

struct json_t;
/* For a caller that runs the rules off its own thread (the verdicts below):
 * on the store's thread, what a verdict means for rev (quarantined in s,
 * or a reject code with reason). */
struct tk_plugin_verdict;
int tk_sync_moderate_apply(const struct tk_plugin_verdict *v, tk_store_t *s,
                           const tk_rev_t *rev, const uint8_t sender[TK_DEVICE_ID_LEN],
                           char *reason, size_t len);

/* The verdicts of set's rules on a batch (tk_plugin_moderate_batch, about
 * one worker request per rule for the whole batch): v[i] the verdict on
 * revs[i] (NULL: skipped, v[i] TK_VERDICT_UNJUDGED), whose record is
 * bodies[i] (text) or records[i] (parsed) or parse_errors[i] (each array
 * may be NULL: no key). budget_ms as tk_plugin_moderate_batch: a verdict
 * it did not reach is TK_VERDICT_UNJUDGED, for the caller to hold. Any
 * thread; no store. 0, or TK_ENOMEM (every v[i] unjudged). */
int tk_sync_moderation_verdicts(struct tk_plugin_set *set, const tk_rev_t *const *revs,
                                const tk_slice_t *bodies, struct json_t *const *records,
                                const char *const *parse_errors, size_t n,
                                uint64_t budget_ms, struct tk_plugin_verdict *v);

/* tk_sync_moderate with the body already parsed (tk_plugin_moderate_parsed):
 * record (borrowed; NULL when this node holds no key) or parse_error. */
int tk_sync_moderate_parsed(struct tk_plugin_set *set, tk_store_t *s, const tk_rev_t *rev,
                            struct json_t *record, const char *parse_error,
                            const uint8_t sender[TK_DEVICE_ID_LEN], char *reason,
                            size_t len);

/* The outcome of applying a batch. */
typedef struct tk_reject {
  uint8_t id[TK_REV_ID_LEN];
  int code;
  char reason[200];
} tk_reject_t;

typedef struct tk_apply_result {
  uint32_t accepted, duplicates;
  uint32_t own; /* had, because written here (tk_store_rev_local): not duplicates */
  size_t nrejected;
  tk_reject_t *rejected; /* nrejected entries; free with tk_apply_result_free */
  uint64_t bytes;        /* revision bytes newly stored */
} tk_apply_result_t;

void tk_apply_result_free(tk_apply_result_t *r);

/* May this revision be stored? 0 yes, else a TK_REJECT_* code with reason. */
typedef int (*tk_apply_policy)(void *ctx, const tk_rev_t *rev, char *reason, size_t len);

/* The checkpoint to move in the same transaction (peer == NULL: none). */
typedef struct tk_apply_ckpt {
  const uint8_t *peer;
  int dir;
  uint64_t seq;
} tk_apply_ckpt_t;

/* Applies revs[i] (expected to hash to ids[i]) in one transaction: parse,
 * hash, signature, policy, parents; each failure is recorded in res and
 * the rest go on (a revision whose parent was rejected is rejected in
 * turn). Stored revisions record origin (the sending peer's device id, or
 * NULL). The checkpoint, if any, is set in the same transaction. Returns
 * 0 once committed; on a store failure nothing is stored and the error is
 * returned. */
int tk_sync_apply(tk_store_t *s, const tk_slice_t *revs, const tk_slice_t *ids, size_t n,
                  const uint8_t *origin, tk_apply_policy policy, void *ctx,
                  const tk_apply_ckpt_t *ckpt, tk_apply_result_t *res, tk_err_t *err);

/* A policy with per-revision work done ahead. prepare (may be NULL) runs for
 * each revision that parsed, hashes to its id and verifies, on helper
 * threads, several at once and while the caller's thread stores earlier
 * revisions of the batch inside the transaction: it must not touch the
 * store, and anything it shares with other calls or with policy it must
 * lock. What it
 * returns (may be NULL) goes to policy for that revision (called on the
 * caller's thread, in batch order, exactly where tk_sync_apply calls its
 * policy), then to release (caller's thread) whatever the outcome. */
typedef struct tk_apply_prep {
  void *(*prepare)(void *ctx, const tk_rev_t *rev);
  int (*policy)(void *ctx, const tk_rev_t *rev, void *prep, char *reason, size_t len);
  void (*release)(void *ctx, void *prep);
} tk_apply_prep_t;

/* tk_sync_apply with hooks (NULL: no policy); same checks, order and
 * result. */
int tk_sync_apply_prep(tk_store_t *s, const tk_slice_t *revs, const tk_slice_t *ids,
                       size_t n, const uint8_t *origin, const tk_apply_prep_t *hooks,
                       void *ctx, const tk_apply_ckpt_t *ckpt, tk_apply_result_t *res,
                       tk_err_t *err);

/* A policy's work on many revisions at once. judge runs on the caller's
 * thread, inside the transaction, for consecutive ranges of the batch (a
 * few hundred revisions each), each once all of its revisions have been
 * checked (and prepared) and before the first policy call of the range:
 * revs[i] is NULL for a revision that failed its checks (no policy runs
 * for it), preps[i] what prepare returned, which judge may replace
 * (release gets what it left). The helpers meanwhile check the next
 * range. */
typedef void (*tk_apply_judge)(void *ctx, size_t n, const tk_rev_t *const *revs,
                               void **preps);

/* tk_sync_apply_prep with judge (may be NULL: tk_sync_apply_prep). */
int tk_sync_apply_judged(tk_store_t *s, const tk_slice_t *revs, const tk_slice_t *ids,
                         size_t n, const uint8_t *origin, const tk_apply_prep_t *hooks,
                         tk_apply_judge judge, void *ctx, const tk_apply_ckpt_t *ckpt,
                         tk_apply_result_t *res, tk_err_t *err);

/* ---- the revision exchange by role (sync_revs.c) ---------------------------
 * Offer -> Need -> Revisions (-> Ack for a push), written once per role and
 * used by both programs: the SENDING side (the office pushing, the hub
 * answering a Pull; tk_rev_send_t, sync_send.c) builds a batch and offers
 * it (tk_rev_send_offer), answers the Need with the revisions
 * (tk_rev_send_need) and, for a push, takes the Ack (tk_rev_send_ack);
 * the RECEIVING side (the hub taking a
 * push, the office pulling) takes the Offer (tk_rev_recv_offer), sends the
 * Need (tk_rev_recv_send_need) and hands the Revisions that answer it
 * (tk_rev_recv_batch) to its owner's apply step (the hub: access,
 * membership, attachment limits and moderation, off the loop when rules
 * run, then the Ack; the office: its moderation and the pipelined store).
 * The owner's checks on what a peer may send (how many ids, in which
 * state) and its error messages stay the owner's. */

/* The receiving side of one revision batch: the ids offered and the
 * indexes asked for. */
typedef struct tk_rev_recv {
  uint8_t (*ids)[TK_REV_ID_LEN]; /* n offered (a wrong-sized id: zeros) */
  uint32_t *need;                /* nneed ascending indexes into ids */
  size_t n, nneed;
} tk_rev_recv_t;

void tk_rev_recv_free(tk_rev_recv_t *rr);
/* Takes an Offer's ids (n: at most TK_MAX_OFFER_IDS, which the caller
 * checks): keeps them (rr emptied first) and asks for those not in s.
 * TK_ENOMEM, or tk_sync_need's error (TK_EPROTO for a malformed id). */
int tk_rev_recv_offer(tk_rev_recv_t *rr, tk_store_t *s, const ProtobufCBinaryData *ids,
                      size_t n, tk_err_t *err);
/* Sends the Need of the last offer; the transport's result. */
int tk_rev_recv_send_need(const tk_rev_recv_t *rr, tk_transport_t *t);
/* The ids the revisions answering the Need were asked for as, in Need
 * order: nneed x 32 bytes, a copy (free it; NULL: out of memory). */
uint8_t (*tk_rev_recv_want(const tk_rev_recv_t *rr))[TK_REV_ID_LEN];
/* The receiving side's apply step, its owner's policy: starts applying one
 * received batch, revs[i] asked for as ids[i] (views valid during the call
 * only: an owner that finishes later copies what it keeps). The owner
 * finishes it now or later, on its own thread (a hub: from the loop, after
 * the moderation ran off it; a store thread's commit fits the same way):
 * the batch stored through tk_sync_apply* with the owner's checks and, for
 * a push, the Ack sent (tk_sync_send_ack); until then it delivers no frame
 * of that peer (tk_transport_pause). An office pulling may also hold the
 * batch and store it after its next Need is out (pipelining). 0 once
 * started (or done), else an error: nothing was started. */
typedef int (*tk_rev_apply_fn)(void *ctx, const tk_slice_t *revs, const tk_slice_t *ids,
                               size_t n);
/* Takes the Revisions answering the Need (n revisions, which must be
 * rr->nneed: TK_EPROTO) and starts apply on them. TK_ENOMEM, TK_EPROTO or
 * what apply returned. */
int tk_rev_recv_take(const tk_rev_recv_t *rr, const ProtobufCBinaryData *revs, size_t n,
                     tk_rev_apply_fn apply, void *ctx);

/* The sending side of one revision batch (sync_send.c): the batch
 * offered. The office pushing and the hub answering a Pull both offer
 * through it (pull says which); the office's push also takes the Ack. */
typedef struct tk_rev_send {
  tk_batch_t batch;
} tk_rev_send_t;

void tk_rev_send_free(tk_rev_send_t *rs);
/* Builds the batch after since (tk_sync_batch: at most TK_MAX_OFFER_IDS
 * ids and max_bytes, filter and ctx as there) and offers it: a pull's
 * answer always, with upto, more and, once the feed ends here, the chunk
 * feed's end (the last chunk's position + 1, so that the peer can skip an
 * empty chunk pull); a push only when the batch is not empty. Returns the
 * build's error (err set, nothing sent); else 0 with *sent the transport's
 * result (0 when a push had nothing to offer). */
int tk_rev_send_offer(tk_rev_send_t *rs, tk_transport_t *t, tk_store_t *s, uint64_t since,
                      uint64_t max_bytes, int pull, tk_batch_filter filter, void *ctx,
                      int *sent, tk_err_t *err);
/* Takes the peer's Need of the last offer (index[0..n)) and sends the
 * revisions it asks for (tk_sync_send_revisions; *bytes, may be NULL, the
 * revision bytes sent). 1 when it asks for none (the batch is done: no
 * Revisions, and for a push no Ack follow), 0 once sent, else
 * tk_sync_send_revisions's error with err set. */
int tk_rev_send_need(tk_rev_send_t *rs, tk_transport_t *t, tk_store_t *s,
                     const uint32_t *index, size_t n, uint64_t *bytes, tk_err_t *err);
/* A push's Ack, taken: *accepted and *duplicates its counts, and rejected
 * (may be NULL) called for each rejection in order (id NULL when the Ack's
 * id is not TK_REV_ID_LEN bytes; reason may be NULL). */
typedef void (*tk_rev_rejected_fn)(void *ctx, const uint8_t *id, int code,
                                   const char *reason);
void tk_rev_send_ack(const Tunduk__V1__Ack *m, uint32_t *accepted, uint32_t *duplicates,
                     tk_rev_rejected_fn rejected, void *ctx);

/* The revisions answering a Need as tk_sync_apply takes them: revs[i]
 * (n received revisions, views) and the id each one must hash to, want[i]
 * (n ids of 32 bytes). *revs_out and *ids_out (free both) view revs and
 * want. TK_ENOMEM. */
int tk_rev_batch(const ProtobufCBinaryData *revs, const uint8_t (*want)[TK_REV_ID_LEN],
                 size_t n, tk_slice_t **revs_out, tk_slice_t **ids_out);

/* ---- revision steps (sync_step.c; protocol 3) --------------------------------
 * Where the receiver cannot hold what is sent, the Offer -> Need exchange
 * is left out (PROTOCOL.md sections 6 and 7): the office's push of what it
 * has not sent before, and a pull that leaves out what the office pushed.
 * The sender reads its feed in order into steps (tk_step_build: about
 * tk_stepper_bytes() of revisions each, their bytes read in the same scan)
 * and sends each as Revisions{step} (tk_step_send) while its stepper is
 * open; the receiver takes a step's ids as the SHA-256 of its revisions
 * (tk_step_take), stores the step in one transaction (a pull step with its
 * checkpoint) and only then answers Ack, and each Ack lets the sender move
 * its checkpoint (a push) or send more (a pull). A cut thus loses at most
 * what had not arrived whole of the steps in flight.
 *
 * Pacing (tk_stepper_t): the rate is measured from the Acks (a step that
 * was out when the Ack before it came took the gap between the two; else
 * its whole round trip), smoothed; a step is TK_STEP_TARGET_MS of that
 * rate (TK_STEP_MIN, or the caller's max if lower, .. the caller's max:
 * small on a slow link, so a cut
 * costs little, large on a fast one, so commits are few), and the steps
 * out unacknowledged TK_STEP_WINDOW_MS of it (at least two steps: the link
 * does not wait for an Ack). */
#define TK_STEP_MIN (16u << 10)
#define TK_STEP_START (32u << 10)
#define TK_STEP_TARGET_MS 500
#define TK_STEP_WINDOW_MS 2000
#define TK_STEP_QUEUE 32 /* steps out unacknowledged, at most */

typedef struct tk_stepper {
  uint64_t step, min_step, max_step, max_window;
  uint64_t rate;        /* bytes/s through the receiver's Acks; 0: not measured */
  uint64_t last_ack_us; /* when the last Ack came (monotonic) */
  uint64_t inflight;    /* bytes of the steps out */
  struct tk_step_out {
    uint64_t bytes, upto, sent_us;
    uint32_t n;
  } q[TK_STEP_QUEUE]; /* the steps out, oldest at head */
  size_t head, n;
} tk_stepper_t;

/* start: the first step's bytes (0: TK_STEP_START); max_step, max_window:
 * the most one step and the steps out may hold. */
void tk_stepper_init(tk_stepper_t *p, uint64_t start, uint64_t max_step,
                     uint64_t max_window);
/* The revision bytes the next step should hold (it holds at least one
 * revision, whatever its size). */
uint64_t tk_stepper_bytes(const tk_stepper_t *p);
/* Whether another step may go out now. */
int tk_stepper_open(const tk_stepper_t *p);
/* A step of bytes revision bytes, n revisions, reaching feed position
 * upto, went out. Only while open. */
void tk_stepper_sent(tk_stepper_t *p, uint64_t bytes, uint32_t n, uint64_t upto);
/* The oldest step out was acknowledged: *upto and *n (each may be NULL)
 * are its. TK_EPROTO when none is out (an Ack out of turn). */
int tk_stepper_acked(tk_stepper_t *p, uint64_t *upto, uint32_t *n);

/* One step: the batch (ids, seqs, bytes, upto, more as tk_sync_batch) and
 * the revisions' bytes, revision i at data[offs[i] .. offs[i+1]). */
typedef struct tk_step {
  tk_batch_t batch;
  tk_buf_t data;
  size_t *offs;
} tk_step_t;

void tk_step_free(tk_step_t *st);
/* Fills st (emptied first) with the revisions after since, in feed order,
 * that pass filter (NULL: all), up to TK_MAX_OFFER_IDS and max_bytes (at
 * least one when any passes); upto passes skipped ones, more says the feed
 * goes on. */
int tk_step_build(tk_step_t *st, tk_store_t *s, uint64_t since, uint64_t max_bytes,
                  tk_batch_filter filter, void *ctx, tk_err_t *err);
/* Sends st as Revisions{step}; a pull step with upto, more and, on the
 * last one (more 0), chunk_feed_end (0: not given). The transport's
 * result, or TK_ENOMEM. */
int tk_step_send(tk_transport_t *t, const tk_step_t *st, int pull,
                 uint64_t chunk_feed_end);
/* A received step's n revisions (the caller checks n <= TK_MAX_OFFER_IDS)
 * as tk_sync_apply takes them: ids are the SHA-256 of each, in *idbuf;
 * free *revs_out, *ids_out and *idbuf. TK_ENOMEM. */
int tk_step_take(const ProtobufCBinaryData *revs, size_t n, tk_slice_t **revs_out,
                 tk_slice_t **ids_out, uint8_t (**idbuf)[TK_REV_ID_LEN]);

/* ---- attachment chunks (sync_chunks.c) --------------------------------------
 * After the revisions of a direction, the same offer/need exchange on the
 * chunk feed (Offer.chunks); then the needed chunks go one per Chunk frame,
 * at most TK_CHUNK_WINDOW ahead of their ChunkAcks, and the receiver stores
 * each one in its own transaction before it acks it. A cut connection
 * loses at most the chunk in flight; the sender's checkpoint moves only
 * when every chunk of the batch is acknowledged, and the next offer's Need
 * leaves out what already arrived. */
#define TK_MAX_CHUNK_OFFER 1024 /* chunk ids in one offer */
#define TK_CHUNK_WINDOW 2       /* chunks sent ahead of their acks */

/* Include this chunk in an offer? 1 yes, 0 skip, negative to fail. */
typedef int (*tk_chunk_filter)(void *ctx, const tk_chunk_meta_t *m);
/* Accept this offered chunk (not stored yet) from the peer? 1 yes, 0 no,
 * negative to fail. */
typedef int (*tk_chunk_accept)(void *ctx, const uint8_t id[TK_HASH_LEN], uint32_t size);

/* The sending side of one chunk batch. */
typedef struct tk_chunk_send {
  uint8_t (*ids)[TK_HASH_LEN];
  uint32_t *sizes;
  size_t n;      /* offered */
  uint64_t upto; /* chunk feed position the batch reaches */
  int more;
  uint32_t *need; /* indexes the receiver asked for */
  size_t nneed, next, acked;
  uint64_t bytes; /* chunk bytes sent */
} tk_chunk_send_t;

void tk_chunk_send_free(tk_chunk_send_t *cs);
/* Fills cs (emptied first) with up to TK_MAX_CHUNK_OFFER chunks after
 * since and before `before` (0: no bound) that pass filter (NULL: all) and
 * sends the Offer: for a pull always, with upto and more (0 at the bound);
 * for a push only when it is not empty. */
int tk_chunk_send_offer(tk_chunk_send_t *cs, tk_transport_t *c, tk_store_t *s,
                        uint64_t since, uint64_t before, int pull, tk_chunk_filter filter,
                        void *ctx, tk_err_t *err);
/* Takes the receiver's Need (TK_EPROTO if not ascending or out of range)
 * and sends the first window of chunks. */
int tk_chunk_send_need(tk_chunk_send_t *cs, tk_transport_t *c, tk_store_t *s,
                       const uint32_t *index, size_t n, tk_err_t *err);
/* Takes one ChunkAck: it must name the oldest unacknowledged chunk
 * (TK_EPROTO). Sends the next chunk if any. Returns 1 once every needed
 * chunk is acknowledged, else 0. */
int tk_chunk_send_ack(tk_chunk_send_t *cs, tk_transport_t *c, tk_store_t *s,
                      uint32_t index, tk_err_t *err);

/* The receiving side of one chunk batch. */
typedef struct tk_chunk_recv {
  uint8_t (*ids)[TK_HASH_LEN];
  uint32_t *sizes;
  size_t n;
  uint64_t upto;
  int more;
  uint32_t *need;
  size_t nneed, next; /* next: position in need of the next chunk due */
  uint64_t bytes;     /* chunk bytes stored */
  uint32_t stored, refused;
} tk_chunk_recv_t;

void tk_chunk_recv_free(tk_chunk_recv_t *cr);
/* Takes a chunk Offer (ids, sizes: n each, at most TK_MAX_CHUNK_OFFER;
 * TK_EPROTO/TK_ELIMIT otherwise), decides which to ask for (not stored
 * here, at most TK_CHUNK_MAX bytes, and accepted) and sends the Need. */
int tk_chunk_recv_offer(tk_chunk_recv_t *cr, tk_transport_t *c, tk_store_t *s,
                        const tk_slice_t *ids, const uint32_t *sizes, size_t n,
                        uint64_t upto, int more, tk_chunk_accept accept, void *ctx,
                        tk_err_t *err);
/* Takes one Chunk: it must be the next one asked for (TK_EPROTO). Stores it
 * in its own transaction if its bytes hash to its id and match its offered
 * size, then sends the ChunkAck (a refusal is acked with its code and
 * reason, and changes nothing). Returns 1 once every needed chunk has come,
 * 0 before, negative if the store failed (nothing acked). */
int tk_chunk_recv_take(tk_chunk_recv_t *cr, tk_transport_t *c, tk_store_t *s,
                       uint32_t index, tk_slice_t data, const uint8_t *origin,
                       tk_err_t *err);
/* tk_chunk_recv_take in three steps, for a receiver that stores on
 * another thread (the hub's store thread): check (the caller's thread:
 * TK_EPROTO if index is not the chunk due; *code TK_REJECT_MALFORMED with
 * reason for a wrong size, else 0), store (only when check left *code 0;
 * any thread with s, touching no cr: 0 with *stored 1, or *stored 0 and
 * *code a refusal (or 0: already there); negative if the store failed),
 * acked (the caller's thread: counts the chunk, sends its ChunkAck; the
 * return of tk_chunk_recv_take). */
int tk_chunk_recv_check(const tk_chunk_recv_t *cr, uint32_t index, tk_slice_t data,
                        int *code, char *reason, size_t len, tk_err_t *err);
int tk_chunk_recv_store(tk_store_t *s, const uint8_t id[TK_HASH_LEN], tk_slice_t data,
                        const uint8_t *origin, int *stored, int *code, char *reason,
                        size_t len, tk_err_t *err);
int tk_chunk_recv_acked(tk_chunk_recv_t *cr, tk_transport_t *c, uint32_t index, size_t n,
                        int stored, int code, const char *reason, tk_err_t *err);

#endif
