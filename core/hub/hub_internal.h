/*
 * hub_internal.h: what hub.c (listener, sessions, revisions), hub_grants.c
 * (devices and vault-key grants) and hub_chunks.c (the chunk policy and
 * the hub's attachment limits) share: the session and hub structs and the
 * session helpers. Loop thread only, but for hub_push_t and what takes
 * one: the store thread's (hub_store.c).
 */
#ifndef TK_HUB_INTERNAL_H
#define TK_HUB_INTERNAL_H

#include "tk_hub.h"
#include "hub_status.h"
#include "tk_member.h"
#include "tk_plugin.h"
#include "tk_store_thread.h"
#include "tk_sync.h"
#include "tk_sync_policy.h"
#include "tk_conn.h"
#include "tk_sync_frames.h"
#include "tk_token.h"
#include "tk_wire.h"

enum { S_TLS, S_HELLO, S_ENROLL, S_READY, S_CLOSING };

typedef struct access_entry {
  char vault[TK_MAX_VAULT_LEN + 1];
  int write;
} access_entry_t;

struct mod_job;
struct hub_sjob;

/* The hub's plugin set and how many hold it: the hub itself until a reload
 * swaps in another, and each moderation job in flight (hub.c). */
typedef struct hub_plugins {
  tk_plugin_set_t *set;
  unsigned refs;
} hub_plugins_t;

typedef struct session {
  tk_hub_t *hub;
  tk_conn_t *conn;
  struct session *prev, *next;
  int state;
  uint8_t spki[TK_HASH_LEN];
  tk_peer_t peer;
  uint32_t version; /* the protocol version chosen in the Hellos */
  char who[16];     /* short device id for logs */
  access_entry_t *access;
  size_t naccess;
  /* the data phases: pushes taken and pulls answered (sync_responder.c,
   * with the hub's policy: hub.c) */
  tk_sync_responder_t resp;
  /* over the hub's output budget: the frame that arrived, held (the
   * session paused) until the hub is back under it (hub.c) */
  tk_buf_t held;
  int holding;
  struct session *wait_next;
  /* pre-authentication (hub.c): in the hub's pool, in accept order, until
   * its Hello is verified (or it is enrolled); then counted as authed */
  int preauth, authed;
  uint64_t accepted_ms; /* loop time of the accept (0: memory connection) */
  struct session *pa_prev, *pa_next;
  /* a pushed batch whose moderation runs off the loop (hub.c): the session
   * reads no frame until its verdicts are back and the batch is stored */
  struct mod_job *job;
  /* a write on the store thread (hub_store.c): the session reads no frame
   * until its completion has run on the loop */
  struct hub_sjob *sjob;
  tk__hub_sess_stats_t st; /* what it moved, for status and metrics (hub_status.c) */
} session_t;

/* The session's connection as the engine's transport. */
static inline tk_transport_t *tk__hub_tp(session_t *s)
{
  return tk_conn_transport(s->conn);
}

typedef struct hub_log {
  char vault[TK_MAX_VAULT_LEN + 1];
  tk_member_log_t log;
} hub_log_t;

/* What a pushed batch's checks (tk__hub_push_policy, hub.c) read, on the
 * store thread that applies it: the store it is applied on, copies of the
 * session's device and access list as they were when the batch arrived,
 * the vault logs replayed for this batch from that store (its own cache:
 * the loop's is the loop's), and the moderation verdicts when a job made
 * them (else set's rules run inline: none with a loop, see hub.c). */
typedef struct hub_push {
  const tk_config_t *cfg;
  tk_store_t *store;
  uint8_t peer_id[TK_DEVICE_ID_LEN];
  char who[16];
  access_entry_t *access;
  size_t naccess;
  hub_log_t *logs;
  size_t nlogs;
  tk_plugin_set_t *set;
  struct mod_job *applying;
} hub_push_t;
/* What the pre-authentication pool did since the hub started (logged at
 * info, rate-limited, and in full when the hub stops). */
typedef struct tk__hub_preauth_stats {
  uint64_t admitted;      /* connections that entered the pool */
  uint64_t authenticated; /* left it with a verified Hello or an enrollment */
  uint64_t evicted_pool;  /* the oldest, to make room past preauth_max_connections */
  uint64_t evicted_addr;  /* the oldest of an address past preauth_per_address */
  uint64_t timed_out;     /* not authenticated within auth_timeout_ms */
  uint64_t refused_full;  /* authenticated past max_connections: refused */
  size_t peak;            /* most connections in the pool at once */
} tk__hub_preauth_stats_t;

struct tk_hub {
  uv_loop_t *loop;
  tk_office_t *home;
  tk_store_t *store;
  const tk_identity_t *id;
  tk_config_t cfg;
  tk_tls_t *tls;
  uv_tcp_t listener;
  uv_timer_t acl_timer;
  int listening, timer_on, stopping;
  char acl_version[64];
  session_t *sessions;
  size_t nsessions;
  uint8_t kx_sig[TK_SIG_LEN];
  hub_plugins_t *plugins;           /* moderation rules; swapped whole on reload */
  session_t *wait_head, *wait_tail; /* sessions holding a frame, in arrival order */
  hub_log_t *logs;                  /* replayed vault logs (hub_logs.c), a cache */
  size_t nlogs;
  /* the pre-authentication pool, oldest first (hub.c) */
  session_t *pa_head, *pa_tail;
  size_t npreauth, nauthed;
  uv_timer_t auth_timer; /* the head's deadline */
  int auth_timer_on;
  tk__hub_preauth_stats_t pa;
  uint64_t pa_logged_ms;      /* when the last summary line was logged */
  uint64_t pa_unlogged;       /* evictions and timeouts since then */
  tk_store_thread_t *sthread; /* every store write (hub_store.c) */
  /* the store's identity (hub_identity.c), in every Hello, and the feed
   * end HOME/store.mark says was served (renewed by the ACL timer) */
  uint8_t store_id[16];
  uint64_t mark_end;
  /* counters for status and metrics, the control socket (hub_status.c,
   * hub_control.c) */
  struct hub_status *status;
  struct hub_control *control;
};

/* The pre-authentication pool (hub_preauth.c; see there). admit: a new
 * session enters it (evicting to make room; never refused). room: 1 if
 * one more authenticated session fits max_connections. done: its Hello is
 * verified or it is enrolled: out of the pool and counted as
 * authenticated, its frame limit raised to max_frame; TK_ELIMIT if
 * max_connections is reached (the session was told and is closing).
 * leave: from on_close. start/stop: the deadline timer (tk_hub_listen,
 * tk_hub_stop; stop logs the totals). */
void tk__hub_preauth_admit(tk_hub_t *h, session_t *s);
int tk__hub_preauth_room(const tk_hub_t *h);
int tk__hub_preauth_done(session_t *s);
void tk__hub_preauth_leave(session_t *s);
void tk__hub_preauth_start(tk_hub_t *h);
void tk__hub_preauth_stop(tk_hub_t *h);

/* Tells the device why (Error) and closes its session (hub.c). */
void tk__hub_fail(session_t *s, Tunduk__V1__ErrorCode code, int reason, const char *msg);
/* A push the store could not take: logged, the device told why (hub.c). */
void tk__hub_fail_store(session_t *s, int rc, const tk_err_t *e, const char *what);
/* TK_ACCESS_NONE, _READ or _WRITE: what the session's device may do to vault. */
int tk__hub_access(const session_t *s, const char *vault);
/* The same for an access list (a copy of a session's). */
int tk__hub_access_in(const access_entry_t *a, size_t n, const char *vault);
/* The checks of one pushed revision (ctx: a hub_push_t), on the thread
 * that applies the batch: a tk_apply_policy. */
int tk__hub_push_policy(void *ctx, const tk_rev_t *rev, char *reason, size_t len);
/* Frees a moderation job (hub.c), on the loop's thread. */
void tk__hub_mod_job_free(struct mod_job *j);
/* A session's store job is done: reads frames again, held frames go on
 * (hub.c). Loop thread, hub with a loop only. */
void tk__hub_resume(session_t *s);

/* The hub's store jobs (hub_store.c): each write runs on the store thread
 * (tk_store_thread.h) while its session is paused; its answer is sent from
 * the completion, on the loop, after the commit. start/stop/free: with
 * tk_hub_new, tk_hub_stop (drains: queued jobs commit, their sessions are
 * gone so nothing is acked), tk_hub_free. */
int tk__hub_store_start(tk_hub_t *h, tk_err_t *err);
void tk__hub_store_stop(tk_hub_t *h);
void tk__hub_store_free(tk_hub_t *h);
/* The session is closing (on_close): its job, if one is out, forgets it. */
void tk__hub_store_detach(session_t *s);
/* A pushed batch (n revisions asked for as ids; copied): applied with
 * tk__hub_push_policy, then its Ack (or the store's failure) sent. mj:
 * the moderation job whose verdicts apply (freed with the job), or NULL. */
void tk__hub_store_batch(session_t *s, const tk_slice_t *revs, const tk_slice_t *ids,
                         size_t n, struct mod_job *mj);
/* A checked grant (body, sig; copied) stored for its recipient, then its
 * Ack sent (hub_grants.c). */
void tk__hub_store_grant(session_t *s, const tk_grant_t *g, tk_slice_t body,
                         tk_slice_t sig);
/* A LogPut, checked: its new entries (after the vault's stored ones) and
 * its grants, stored together on the store thread (or none: a vault whose
 * log grew meanwhile is refused as the check would have), then its Ack
 * with accepted and dup; the loop's replays of its vaults are forgotten
 * once committed. Build with new/vault/entry/grant (0 or TK_ENOMEM); the
 * job is submitted (and freed) by tk__hub_store_log_put, or freed by
 * tk__hub_logput_free if not. */
typedef struct hub_logput hub_logput_t;
hub_logput_t *tk__hub_logput_new(void);
int tk__hub_logput_vault(hub_logput_t *lp, const char *vault, uint32_t stored,
                         uint32_t total, const uint8_t first_id[TK_HASH_LEN]);
int tk__hub_logput_entry(hub_logput_t *lp, const char *vault, uint32_t seq,
                         const uint8_t id[TK_HASH_LEN], tk_slice_t body, tk_slice_t sig);
int tk__hub_logput_grant(hub_logput_t *lp, const tk_grant_t *g, tk_slice_t body,
                         tk_slice_t sig);
void tk__hub_logput_free(hub_logput_t *lp);
void tk__hub_store_log_put(session_t *s, hub_logput_t *lp, uint32_t accepted,
                           uint32_t dup);
/* A pushed chunk that passed tk_chunk_recv_check (data copied): stored on
 * the store thread, then tk__hub_chunk_stored (hub_store.c). */
void tk__hub_store_chunk(session_t *s, uint32_t index, tk_slice_t data);
/* Counts the chunk and sends its ChunkAck (hub_chunks.c; loop). */
void tk__hub_chunk_stored(session_t *s, uint32_t index, size_t n, int stored, int code,
                          const char *reason);
/* An enrollment: the token redeemed for device d; done(s, rc, e) runs on
 * the loop with the result if the session is still open. */
void tk__hub_store_enroll(session_t *s, const uint8_t token_id[TK_TOKEN_ID_LEN],
                          const uint8_t secret[TK_TOKEN_SECRET_LEN],
                          const tk_device_info_t *d,
                          void (*done)(session_t *s, int rc, const tk_err_t *e,
                                       const tk_device_info_t *d));

/* The Ack of a push batch or a grant (hub.c). */
void tk__hub_send_ack(session_t *s, const tk_apply_result_t *r);
/* The short device id for logs ("ABCD-EFGH"). */
void tk__hub_who(char out[16], const uint8_t id[TK_DEVICE_ID_LEN]);

/* Devices and grants (hub_grants.c; PROTOCOL.md section 9). */
void tk__hub_on_device_query(session_t *s, const Tunduk__V1__DeviceQuery *m);
void tk__hub_on_grant_put(session_t *s, const Tunduk__V1__GrantPut *m);
void tk__hub_on_grant_query(session_t *s);

/* Vault membership logs (hub_logs.c; PROTOCOL.md section 10). */
void tk__hub_on_log_put(session_t *s, const Tunduk__V1__LogPut *m);
void tk__hub_on_log_query(session_t *s, const Tunduk__V1__LogQuery *q);
/* The hub's replay of vault's log (n == 0: none yet); NULL if unreadable.
 * Valid until the next LogPut. */
const tk_member_log_t *tk__hub_log(tk_hub_t *h, const char *vault);
void tk__hub_logs_free(tk_hub_t *h);
/* The same on a cache of replays (*logs, *n) read from st. */
const tk_member_log_t *tk__hub_log_in(hub_log_t **logs, size_t *n, tk_store_t *st,
                                      const char *vault);
void tk__hub_logs_free_in(hub_log_t **logs, size_t *n);
/* Forgets the loop's replay of vault (an entry was stored). */
void tk__hub_log_forget(tk_hub_t *h, const char *vault);
/* Whether the log lets rev count: 0, or TK_REJECT_ACCESS/_INTERNAL. */
int tk__hub_member_check(hub_push_t *p, const tk_rev_t *rev, char *reason, size_t len);
/* Whether the session's device may send grant g under log l: 0 or
 * TK_REJECT_ACCESS with reason. */
int tk__hub_grant_check(session_t *s, const tk_grant_t *g, const tk_member_log_t *l,
                        char *reason, size_t len);

/* The hub's chunk policy (hub_chunks.c; PROTOCOL.md section 8; ctx: the
 * session): which offered chunks to take (named by a stored revision of a
 * vault the device may write: a tk_chunk_accept) and which to offer (of a
 * vault it may read: a tk_chunk_filter). */
int tk__hub_chunk_accept(void *ctx, const uint8_t id[TK_HASH_LEN], uint32_t size);
int tk__hub_chunk_filter(void *ctx, const tk_chunk_meta_t *m);
/* The hub's attachment limits on a pushed revision: 0, or TK_REJECT_LIMIT /
 * TK_REJECT_INTERNAL with reason. */
int tk__hub_attachment_limits(hub_push_t *p, const tk_rev_t *rev, char *reason,
                              size_t len);

/* Gives the store s a new random identity (hub_identity.c), into id: a
 * restored store (hub_backup.c). */
int tk__hub_store_identity_new(tk_store_t *s, uint8_t id[16], tk_err_t *err);

#endif
