/*
 * sync_client_internal.h: what sync_client.c (the office's session:
 * hello, grants, the initiator started with the office's policy),
 * sync_client_pull.c (its policy on pulled revisions) and
 * sync_client_chunks.c (its policy on attachment chunks) share: the client
 * struct and its helpers. The
 * caller's loop thread only.
 */
#ifndef TK_SYNC_CLIENT_INTERNAL_H
#define TK_SYNC_CLIENT_INTERNAL_H

#include "tk_client.h"
#include "tk_conn.h"
#include "tk_sync_frames.h"
#include "tk_sync_policy.h"
#include "tk_wire.h"

enum {
  C_CONNECTING,
  C_HELLO,      /* sent Hello, waiting for the hub's */
  C_ENROLLED,   /* sent Enroll */
  C_DEVICE,     /* sent DeviceQuery */
  C_LOG,        /* a membership change: sent LogQuery, waiting for the Log */
  C_CHANGE_ACK, /* sent a LogPut with a membership change */
  C_SYNC,       /* the data phases: the initiator's (c->ini) */
  C_DONE
};

/* A vault whose key this device rotates at the end of the sync, and the
 * revoked members it removes first. */
typedef struct rotation {
  char vault[TK_MAX_VAULT_LEN + 1];
  uint8_t devs[TK_MAX_CHANGE_ENTRIES - 1][TK_DEVICE_ID_LEN];
  size_t ndevs;
} rotation_t;

typedef struct client {
  tk_office_t *o;
  tk_store_t *store;
  const tk_identity_t *id;
  const tk_client_opts_t *opts;
  tk_client_stats_t *st;
  tk_err_t *err;
  int rc;
  int state;
  int retry; /* the hub closed it before authenticating us: try again (tk_client_run) */
  int grants_pending; /* a GrantQuery is out; its answer comes first */
  int logput_pending; /* unsent log entries are out; their Ack comes first */
  int log_pending;    /* a LogQuery is out; its Log comes before Grants */
  int logput_acked;   /* no LogPut, or the hub took it */
  int early;          /* LogQuery, GrantQuery and the first Pull went with our Hello */
  rotation_t *rot;    /* rotations to make before Bye */
  size_t nrot;
  tk_member_change_t change; /* the change in flight (C_CHANGE_ACK) */
  tk_conn_t *conn;
  uint8_t spki[TK_HASH_LEN];
  uint8_t hub_id[TK_DEVICE_ID_LEN];
  char hub_addr[TK_TOKEN_MAX_ADDR + 1]; /* host:port connected to */
  tk_buf_t tls_session;                 /* sync: the new TLS session (secret) */
  uint32_t tls_lifetime;                /* its ticket lifetime hint, s */
  tk_peer_t hub;
  char access[512];
  int keys_loaded; /* tk_office_vault_keys_load ran, for pull_prepare */
  /* What has not reached the hub (tk_store.h, "what has not reached the
   * hub"; sync_client_unsent.c): this run's number; the entries re-offered
   * (sorted ids), the push checkpoint they lie behind (retry_upto) and the
   * push position while the push is behind it (retrying: the stored
   * checkpoint is not moved back); entries up to clear_upto not renewed by
   * this run are cleared at its end; revisions skipped for want of write
   * access, kept before the push checkpoint passes them. */
  uint64_t run;
  uint8_t (*again)[TK_REV_ID_LEN];
  size_t nagain;
  int retrying;
  uint64_t retry_upto, retry_pos, clear_upto;
  struct unsent_skip *skips;
  size_t nskips, cap_skips;
  int unsent_failed; /* an entry could not be kept: the push checkpoint stays */
  /* the hub's store was restored or replaced (its Hello's store identity
   * changed, or its feed ends before our pull checkpoint): checkpoints
   * dropped, everything offered and asked for by id, as with --all, until
   * a sync ends well (TK_META_HUB_REOFFER) */
  int reoffer;
  /* the data phases (sync_initiator.c) with the office's policy
   * (sync_client.c) */
  tk_sync_initiator_t ini;
  /* the run this is an attempt of (tk_client_start), told from on_close
   * once the connection is gone (NULL: a memory session) */
  void (*on_closed)(struct client *c);
  struct tk_client_handle *owner;
} client_t;

/* The connection as the engine's transport. */
static inline tk_transport_t *tk__client_tp(client_t *c)
{
  return tk_conn_transport(c->conn);
}

/* Ends the session: rc 0 says Bye, else the error (fmt) is kept. */
int tk__client_stop(client_t *c, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* After sending a msg_case message (rc the send's result): moves to
 * next_state (one more round trip), or stops the session if rc says the
 * send failed. tk__client_send_msg sends msg (a message of msg_case) and
 * goes on the same way. */
void tk__client_sent(client_t *c, int rc, int msg_case, int next_state);
void tk__client_send_msg(client_t *c, int msg_case, void *msg, int next_state);
void tk__client_progress(client_t *c);
/* Whether the hub lets this device write vault (from its access spec). */
int tk__client_may_write(const char *access, const char *vault);
int tk__client_set_ckpt(client_t *c, int dir, uint64_t seq);
int tk__client_add_reject(tk_reject_t **list, size_t *n, const uint8_t *id, int code,
                          const char *reason);

/* Membership logs (sync_client_logs.c; PROTOCOL.md section 10): unsent
 * entries and the LogQuery right after the Hellos, the answers, one
 * membership change, and the end of a session (tk__client_done: a pending
 * rotation first, then Bye). tk__client_after_log (sync_client.c) goes on
 * by mode once the Log is taken. */
/* Sends the LogPut of unsent entries (if any) and the LogQuery. early:
 * right behind our Hello, before the hub's (TK_CLIENT_SYNC): then it
 * sends nothing and returns 1 when there are unsent entries or more than
 * TK_EARLY_LOG_VAULTS vaults (the LogQuery must stay well under
 * TK_MAX_PREAUTH_FRAME). 0: sent; else an error (the client is stopped). */
#define TK_EARLY_LOG_VAULTS 64 /* 64 x (TK_MAX_VAULT_LEN + 8) < 16 KiB */
int tk__client_send_logs(client_t *c, int early);
void tk__client_on_logput_ack(client_t *c, const Tunduk__V1__Ack *m);
void tk__client_on_log(client_t *c, const Tunduk__V1__Log *m);
/* A Log message's entries into this store's logs (tk_office_log_take's
 * checks and counts), and its members' identities, each checked (the id is
 * the hash of its signing key, which signs its X25519 key), into the
 * device table: a device already known keeps its name and added time, and
 * with refresh takes the identity's keys, else is left as it is (a bundle). */
int tk__office_log_msg_take(tk_office_t *o, const Tunduk__V1__Log *m, uint32_t *taken,
                            uint32_t *refused, tk_err_t *err);
int tk__office_identities_keep(tk_office_t *o, const Tunduk__V1__Log *m, int refresh,
                               tk_err_t *err);
void tk__client_after_log(client_t *c);
int tk__client_send_change(client_t *c);
void tk__client_on_change_ack(client_t *c, const Tunduk__V1__Ack *m);
void tk__client_done(client_t *c);

/* What has not reached the hub (sync_client_unsent.c). At client_init of
 * a sync: loads the entries to re-offer. push_filter's part: 0 for a
 * revision behind the push checkpoint that is not re-offered. Skipped for
 * access: kept (tk__client_unsent_flush writes them, before the push
 * checkpoint moves). A revision the hub rejected: kept. At the end of a
 * sync that went well: the entries not renewed are cleared. */
int tk__client_unsent_load(client_t *c);
int tk__client_unsent_offer(const client_t *c, const tk_rev_meta_t *m);
void tk__client_unsent_skip(client_t *c, const tk_rev_meta_t *m);
int tk__client_unsent_flush(client_t *c);
void tk__client_unsent_rejected(client_t *c, const uint8_t id[TK_REV_ID_LEN], int code,
                                const char *reason);
int tk__client_unsent_end(client_t *c);
void tk__client_unsent_free(client_t *c);

/* The office's policy on a pulled batch (sync_client_pull.c; PROTOCOL.md
 * section 7): checked (membership, decrypting moderation) and stored with
 * the pull checkpoint upto in one transaction (the initiator's
 * apply_pull; ctx: the client). Stops the session on a failure. */
int tk__client_store_pulled(void *ctx, const tk_slice_t *revs, const tk_slice_t *ids,
                            size_t n, uint64_t upto);

/* The office's policy on attachment chunks (sync_client_chunks.c;
 * PROTOCOL.md section 8; ctx: the client): which to offer (of vaults it
 * may write, not from the hub) and which offered ones to take (named by a
 * revision stored here). */
int tk__client_chunk_push_filter(void *ctx, const tk_chunk_meta_t *m);
int tk__client_chunk_pull_accept(void *ctx, const uint8_t id[TK_HASH_LEN], uint32_t size);

#endif
