/*
 * hub_internal.h: what hub.c (listener, sessions, revisions), hub_grants.c
 * (devices and vault-key grants) and hub_chunks.c (attachment chunks and
 * the hub's attachment limits) share: the session and hub structs and the
 * session helpers. Loop thread only.
 */
#ifndef TK_HUB_INTERNAL_H
#define TK_HUB_INTERNAL_H

#include "tk_hub.h"
#include "tk_member.h"
#include "tk_plugin.h"
#include "tk_sync.h"
#include "tk_conn.h"
#include "tk_sync_frames.h"
#include "tk_wire.h"

enum { S_TLS, S_HELLO, S_ENROLL, S_READY, S_CLOSING };

typedef struct access_entry {
  char vault[TK_MAX_VAULT_LEN + 1];
  int write;
} access_entry_t;

struct mod_job;

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
  char who[16]; /* short device id for logs */
  access_entry_t *access;
  size_t naccess;
  /* a push in progress: the ids offered and the indexes we asked for */
  tk_rev_recv_t rrecv;
  int awaiting_revs;
  /* a pull in progress: the batch we offered */
  tk_batch_t batch;
  int awaiting_need;
  /* chunks: a push being received, a pull being sent */
  tk_chunk_recv_t crecv;
  int awaiting_chunks;
  tk_chunk_send_t csend;
  int awaiting_chunk_need, sending_chunks;
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
  struct mod_job *applying; /* the job whose verdicts push_policy uses */
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
  uint64_t pa_logged_ms; /* when the last summary line was logged */
  uint64_t pa_unlogged;  /* evictions and timeouts since then */
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
void tk__hub_preauth_stats(const tk_hub_t *h, tk__hub_preauth_stats_t *out);

/* Tells the device why (Error) and closes its session (hub.c). */
void tk__hub_fail(session_t *s, Tunduk__V1__ErrorCode code, int reason, const char *msg);
/* A push the store could not take: logged, the device told why (hub.c). */
void tk__hub_fail_store(session_t *s, int rc, const tk_err_t *e, const char *what);
/* TK_ACCESS_NONE, _READ or _WRITE: what the session's device may do to vault. */
int tk__hub_access(const session_t *s, const char *vault);

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
/* Whether the hub's log lets rev count: 0, or TK_REJECT_ACCESS/_INTERNAL. */
int tk__hub_member_check(session_t *s, const tk_rev_t *rev, char *reason, size_t len);
/* Whether the session's device may send grant g under log l: 0 or
 * TK_REJECT_ACCESS with reason. */
int tk__hub_grant_check(session_t *s, const tk_grant_t *g, const tk_member_log_t *l,
                        char *reason, size_t len);

/* Attachment chunks (hub_chunks.c; PROTOCOL.md section 8): a chunk offer
 * (push), one Chunk, a chunk Pull, its Need, one ChunkAck. */
void tk__hub_chunk_offer(session_t *s, const Tunduk__V1__Offer *m);
void tk__hub_chunk(session_t *s, const Tunduk__V1__Chunk *m);
void tk__hub_chunk_pull(session_t *s, uint64_t since, uint64_t before);
void tk__hub_chunk_need(session_t *s, const Tunduk__V1__Need *m);
void tk__hub_chunk_ack(session_t *s, const Tunduk__V1__ChunkAck *m);
/* The hub's attachment limits on a pushed revision: 0, or TK_REJECT_LIMIT /
 * TK_REJECT_INTERNAL with reason. */
int tk__hub_attachment_limits(session_t *s, const tk_rev_t *rev, char *reason,
                              size_t len);

#endif
