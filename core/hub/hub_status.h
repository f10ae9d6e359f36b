/*
 * hub_status.h: what the hub counts for `tundukd status` and its metrics
 * (hub_status.c) and its control socket (hub_control.c) share: the
 * counters, in one struct, incremented where the events happen (hub.c,
 * hub_store.c, hub_chunks.c: one call each), the devices seen since the
 * start with what each did in its last session, and the control socket's
 * state. Loop thread only: what the store thread or the threadpool measure
 * (a commit's time, a moderation job's calls) is handed over in their
 * completions, which run on the loop.
 */
#ifndef TK_HUB_STATUS_INTERNAL_H
#define TK_HUB_STATUS_INTERNAL_H

#include <stdint.h>

#include "tk_hub_status.h"
#include "tk_sync.h"

struct session;

/* What one session moved, as counted by the hub (in) and by its responder
 * (out: tk_sync_responder_t's sent_* totals, read when asked). */
typedef struct tk__hub_counts {
  uint64_t revs_in, rev_bytes_in, chunks_in, chunk_bytes_in, rejected;
  uint64_t revs_out, rev_bytes_out, chunks_out, chunk_bytes_out;
} tk__hub_counts_t;

/* Per session (in session_t): ready once its device authenticated. */
typedef struct tk__hub_sess_stats {
  int ready;
  int64_t start; /* unix seconds, when it became ready */
  tk__hub_counts_t c;
} tk__hub_sess_stats_t;

/* The kinds of store commits timed (the commit latency histogram). */
enum { TK__COMMIT_OTHER = 0, TK__COMMIT_REVISIONS, TK__COMMIT_CHUNK, TK__COMMIT_NKINDS };

/* A new hub's counters (tk_hub_new); freed by tk__hub_status_free. */
int tk__hub_status_new(tk_hub_t *h, tk_err_t *err);
void tk__hub_status_free(tk_hub_t *h);
/* The address the hub listens on, as logged (tk_hub_listen). */
void tk__hub_status_listening(tk_hub_t *h, const char *addr);
/* A TCP connection was accepted. */
void tk__hub_status_accepted(tk_hub_t *h);
/* The session's device authenticated (a verified Hello or its
 * enrollment): a sync starts; the device is seen. */
void tk__hub_status_ready(struct session *s);
/* The session is closing (on_close): its counts become its device's last
 * session, its bytes go to the totals; the device is seen. */
void tk__hub_status_closed(struct session *s);
/* A pushed batch was committed (its result), a pushed chunk stored. */
void tk__hub_status_pushed(struct session *s, const tk_apply_result_t *r);
void tk__hub_status_chunk(struct session *s, size_t n);
/* A store job of kind took ns on the store thread (its transaction). */
void tk__hub_status_commit(tk_hub_t *h, int kind, uint64_t ns);
/* A moderation job made calls rule checks, timeouts of which ran out of
 * time. */
void tk__hub_status_plugins(tk_hub_t *h, uint64_t calls, uint64_t timeouts);
/* tk_hub_stop, before the store thread stops: the devices connected now
 * are seen now, written with the queued jobs; the control socket closes. */
void tk__hub_status_stop(tk_hub_t *h);

/* The control socket (hub_control.c): opened in tk_hub_listen, closed in
 * tk_hub_stop (its file removed). start fails only if another process
 * answers on the socket or the path cannot be a socket. */
struct hub_control;
int tk__hub_control_start(tk_hub_t *h, tk_err_t *err);
void tk__hub_control_stop(tk_hub_t *h);
void tk__hub_control_free(tk_hub_t *h);

#endif
