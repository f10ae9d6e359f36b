/*
 * tk_client.h: the office's side of a connection to its hub
 * (PROTOCOL.md): enrollment, a vault key grant, and the sync itself
 * (fetch grants, push, pull). Each run makes its own libuv loop, connects,
 * walks the exchange to the end and returns; everything it stores is
 * committed batch by batch, so an interrupted run leaves a consistent
 * store and the next run resumes from the checkpoints.
 *
 * The hub's pin lives in the office store's settings: hub_id (printed
 * device id), hub_addr (host:port), hub_access ("vault:rw,vault2:r").
 *
 * TLS resumption: a sync that ends well (after a full handshake) keeps the
 * TLS session and the hub's ticket in the setting hub_tls_session, sealed
 * to this identity, the hub address and the hub id (tk_tls_session.h); the
 * next sync offers it. A saved session that does not open, load or resume
 * costs a full handshake, nothing else; the hub's identity is checked
 * against the pin at Hello on every connection, resumed or not.
 *
 * Two ways to run: tk_client_start runs the exchange on the caller's
 * libuv loop and reports its end by callback (progress: opts.progress), so
 * a UI's HTTP server or a status timer keeps running beside it;
 * tk_client_run is the blocking wrapper (its own loop) the CLI uses. Both
 * make the same attempts (a hub that closes the connection before it has
 * authenticated this device gets up to 3 more, after 200, 500 and 1000 ms,
 * on timers of the loop) and fill the same statistics.
 *
 * Threads: the loop's (tk_client_start, the callbacks, tk_client_cancel),
 * or the caller's, which tk_client_run blocks until the run ends. Pulled
 * batches are checked on short-lived helper threads (tk_sync.h); every
 * callback runs on the loop's thread.
 */
#ifndef TK_CLIENT_H
#define TK_CLIENT_H

#include <uv.h>

#include "tk_office_engine.h"
#include "tk_sync.h"
#include "tk_token.h"

/* GRANT adds a member to a vault (with every key this device holds);
 * REMOVE removes one and rotates the key. */
enum {
  TK_CLIENT_SYNC = 0,
  TK_CLIENT_ENROLL = 1,
  TK_CLIENT_GRANT = 2,
  TK_CLIENT_REMOVE = 3
};

typedef struct tk_client_stats {
  uint64_t sent,
      received;        /* revisions pushed (accepted by the hub) / pulled (new here) */
  uint64_t duplicates; /* revisions the other side already had */
  uint64_t skipped;    /* revisions of vaults this device may not write */
  uint64_t own;        /* pulled revisions written here (not duplicates) */
  int hub_restored;    /* the hub's store identity changed: checkpoints dropped */
  uint64_t rev_bytes_out, rev_bytes_in; /* revision bytes moved */
  uint64_t chunks_sent,
      chunks_received; /* attachment chunks stored by the other side / here */
  uint64_t chunk_bytes_out, chunk_bytes_in; /* their bytes */
  uint64_t chunks_refused;                  /* chunks either side refused */
  uint64_t bytes_out, bytes_in;             /* socket bytes, TLS included */
  /* request/answer exchanges after the handshake, the Hellos' own never
   * counted (whether the first requests went right behind our Hello or
   * waited for the hub's): a no-op sync is 1 (PROTOCOL.md, section 9a) */
  uint32_t round_trips;
  int tls_resumed; /* the TLS handshake resumed a saved session */
  size_t nrejected;
  tk_reject_t *rejected; /* revisions the hub refused, with reasons */
  size_t nrefused;
  tk_reject_t *refused;         /* pulled revisions this office refused or held */
  uint32_t grants;              /* vault keys received */
  uint32_t log_entries;         /* membership log entries taken from the hub */
  uint32_t log_refused_entries; /* entries from the hub that do not follow the rules */
  uint32_t rotations;           /* vault keys this device rotated */
  char log_refused[200];        /* why the hub refused this office's entries */
  uint32_t conflicts_before, conflicts_after;
  char access[512]; /* what the hub lets this device do */
  double seconds;
} tk_client_stats_t;

typedef struct tk_client_opts {
  int mode;
  const tk_token_t *token; /* TK_CLIENT_ENROLL */
  const char *grant_vault; /* TK_CLIENT_GRANT, TK_CLIENT_REMOVE */
  const uint8_t *grant_to; /* TK_CLIENT_GRANT: recipient; _REMOVE: the member */
  int grant_reader;        /* TK_CLIENT_GRANT: a reader, not a writer */
  int resend;           /* sync: both checkpoints from 0 (offer and ask for everything) */
  uint32_t batch_bytes; /* 0: 1 MiB */
  uint32_t timeout_ms;  /* 0: 30000; handshake, and idle (no progress: tk_conn.h) */
  /* sync: do not offer the saved TLS session (a full handshake); the new
   * session is saved all the same. Enroll and grant never offer one. */
  int no_resume;
  /* moderation rules run on every pulled revision (NULL: none); they see
   * the decrypted record when this office holds the vault key. A rejected
   * revision is not stored; a quarantined one is kept aside (tunduk
   * quarantine). */
  struct tk_plugin_set *plugins;
  /* called after each batch (push or pull) */
  void (*progress)(void *ctx, const tk_client_stats_t *st);
  void *progress_ctx;
} tk_client_opts_t;

/* A run on the caller's loop (tk_client_start). The library frees it
 * right after on_end has run. */
typedef struct tk_client_handle tk_client_handle_t;
/* The end of a run: rc and err as tk_client_run would return them, st
 * the caller's statistics (filled as tk_client_run fills them). Runs once,
 * on the loop's thread, last; the handle is gone when it returns. */
typedef void (*tk_client_end_fn)(void *ctx, int rc, const tk_client_stats_t *st,
                                 const tk_err_t *err);

/* Starts one exchange with the hub on loop. o (unlocked), opts and st must
 * stay valid until on_end has run; opts->progress runs after each batch.
 * 0 and *out (may be NULL) the handle, the run going on; else the error in
 * err and no callback (the caller still runs the loop for the library to
 * let go of a handle it made). */
int tk_client_start(uv_loop_t *loop, tk_office_t *o, const tk_client_opts_t *opts,
                    tk_client_stats_t *st, tk_client_end_fn on_end, void *ctx,
                    tk_client_handle_t **out, tk_err_t *err);
/* Stops a run: the connection closes without Bye (what is stored stays
 * stored: every batch commits on its own) and on_end follows from the
 * loop with TK_ECLOSED, "the sync was cancelled". Call before on_end only;
 * a second call does nothing. */
void tk_client_cancel(tk_client_handle_t *h);

/* Runs one exchange with the hub on a loop of its own, blocking until it
 * ends (tk_client_start and the loop run to the end). o must be unlocked. */
int tk_client_run(tk_office_t *o, const tk_client_opts_t *opts, tk_client_stats_t *st,
                  tk_err_t *err);
void tk_client_stats_free(tk_client_stats_t *st);

/* ---- for tests and fuzzing: one run without a socket ----------------------
 * A client session is tk_client_run's exchange on a memory connection
 * (tk_conn_memory, tk_conn.h): the caller plays the hub, frame by frame. It
 * is set up exactly as tk_client_run sets up (the same checks and errors,
 * the hub pinned in the store, resend, statistics) and ends the same way;
 * only TLS, the socket and the loop are left out. Not for production use.
 *
 *   - tk_client_session_new: sets up and "finishes the TLS handshake" with a
 *     peer whose key hashes to peer_spki, so the office's Hello is handed to
 *     sink before it returns. sink gets each frame the office sends (the view
 *     is valid during the call only; it must not call back into the
 *     session) and its return value is the send's result. On failure nothing
 *     is left to free (*out NULL); on success call finish exactly once.
 *   - tk_client_session_deliver: one frame payload from the hub. 0: the run
 *     goes on; TK_ECLOSED: the run has ended (done or failed; nothing more is
 *     delivered).
 *   - tk_client_session_finish: closes the connection if the run is still
 *     going (as a hub hanging up: TK_ECLOSED), frees everything and returns
 *     what tk_client_run would have returned (err holds the message). */
typedef struct tk_client_session tk_client_session_t;
int tk_client_session_new(tk_client_session_t **out, tk_office_t *o,
                          const tk_client_opts_t *opts, tk_client_stats_t *st,
                          const uint8_t peer_spki[TK_HASH_LEN],
                          int (*sink)(void *ctx, tk_slice_t payload), void *sink_ctx,
                          tk_err_t *err);
int tk_client_session_deliver(tk_client_session_t *s, tk_slice_t payload);
int tk_client_session_finish(tk_client_session_t *s);

#endif
