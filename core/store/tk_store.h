/*
 * tk_store.h: the local store, one sqlite file in WAL mode. It holds
 * revisions (encoded bytes verbatim, plus the header fields needed to route
 * and index them), parent links, heads, a changes sequence, sync
 * checkpoints, known devices, vaults and wrapped vault keys. It never holds
 * plaintext of a record body or attachment, and sets temp_store=MEMORY so
 * sqlite writes no temporary files.
 *
 * Invariants kept by every write:
 *  - a revision is stored only if all its parents are stored, belong to the
 *    same record, vault and type, and its generation is 1 + the highest
 *    parent generation;
 *  - heads(record) = the record's revisions that no stored revision names
 *    as a parent; conflicting heads are kept, never dropped;
 *  - the winner is the head first in this order: a live head before a
 *    tombstone (the head's deleted flag, which only the office can know:
 *    tk_store_head_deleted; unknown counts as live), then tk_rev_winner_cmp
 *    order;
 *  - seq numbers the revisions in the order this store accepted them and
 *    only grows (the changes feed).
 *
 * Every public write is one transaction (BEGIN IMMEDIATE ... COMMIT); a
 * failure midway rolls back and leaves the store as it was. A caller may
 * group several writes into one transaction with tk_store_begin/commit;
 * inside it, writes join the caller's transaction.
 *
 * Threads: a tk_store_t is used by one thread at a time. Several processes
 * may open the same file; a writer waits up to the busy timeout (5 s) and
 * then fails with TK_EBUSY.
 */
#ifndef TK_STORE_H
#define TK_STORE_H

#include "tk_revision.h"

#define TK_STORE_SCHEMA_VERSION 10

typedef struct tk_store tk_store_t;

enum { TK_STORE_CREATE = 1 }; /* flags for tk_store_open */

/* Opens (and with TK_STORE_CREATE creates) the store at path, applying any
 * schema migrations in one transaction. Before it migrates a store of an
 * older schema N (not a new, empty one) to M, it copies the file to
 * PATH.before-schema-M (PATH.before-schema-M.1, ... if taken) and logs
 * where: the way back if the new version misbehaves; when that copy
 * fails (a full disk), the store is not migrated and not opened.
 * TK_ENOTFOUND if it does not exist and create was not asked; TK_EVERSION
 * if a newer tunduk wrote it. */
int tk_store_open(tk_store_t **out, const char *path, int flags, tk_err_t *err);
/* The path it was opened with (valid until tk_store_close): another
 * connection to the same file opens it (the hub's store thread). */
const char *tk_store_path(const tk_store_t *s);
void tk_store_close(tk_store_t *s);

int tk_store_begin(tk_store_t *s, tk_err_t *err);
int tk_store_commit(tk_store_t *s, tk_err_t *err);
void tk_store_rollback(tk_store_t *s);

/* ---- revisions -------------------------------------------------------- */

/* Stores a parsed revision (the caller has checked what it wants checked:
 * signature, access). Checks the parent invariants above (TK_EPARENT with
 * a message naming the missing or inconsistent parent), updates heads, and
 * gives it the next seq. If the revision is already stored: returns
 * TK_EEXIST and changes nothing. seq_out (may be NULL) gets the seq. */
int tk_store_put_rev(tk_store_t *s, const tk_rev_t *rev, uint64_t *seq_out,
                     tk_err_t *err);
/* The same, noting the peer the revision came from (NULL: none). */
int tk_store_put_rev_from(tk_store_t *s, const tk_rev_t *rev,
                          const uint8_t origin[TK_DEVICE_ID_LEN], uint64_t *seq_out,
                          tk_err_t *err);

/* 1 if stored, 0 if not, negative on error. */
int tk_store_has_rev(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN]);

/* Appends the encoded bytes of revision id to out. TK_ENOTFOUND. */
int tk_store_get_rev(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN], tk_buf_t *out,
                     tk_err_t *err);

/* Metadata of one stored revision (no body). */
typedef struct tk_rev_meta {
  uint64_t seq;
  uint8_t id[TK_REV_ID_LEN];
  uint8_t record_id[TK_RECORD_ID_LEN];
  uint8_t author[TK_DEVICE_ID_LEN];
  uint64_t hlc;
  uint32_t generation;
  uint32_t size; /* bytes of the encoding */
  char type[TK_MAX_TYPE_LEN + 1];
  char vault[TK_MAX_VAULT_LEN + 1];
  int has_origin;                   /* it came from a peer by sync */
  uint8_t origin[TK_DEVICE_ID_LEN]; /* that peer's device id */
  uint32_t nparents;
  uint8_t parents[TK_MAX_PARENTS][TK_REV_ID_LEN];
} tk_rev_meta_t;

int tk_store_rev_meta(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN], tk_rev_meta_t *out,
                      tk_err_t *err);

/* ---- tombstone flags of heads (schema 9) ----------------------------------
 * The store never decrypts, so whether a head is a tombstone is told by the
 * office, which can: when it writes a revision, and for revisions it pulled
 * (or stored before schema 9) when it next has the keys. */
typedef struct tk_store_head_ref {
  uint8_t record_id[TK_RECORD_ID_LEN];
  uint8_t rev_id[TK_REV_ID_LEN];
} tk_store_head_ref_t;
/* The heads whose flag is not known yet of the records in conflict (more
 * than one head: only there does the flag choose the winner), every one of
 * them, into *out (*n entries; the caller frees *out; NULL when there are
 * none). */
int tk_store_heads_unknown(tk_store_t *s, tk_store_head_ref_t **out, size_t *n,
                           tk_err_t *err);
/* Sets head rev_id of record_id a tombstone (deleted 1) or live (0) and
 * recomputes the record's winner. A revision that is not a head (any more)
 * changes nothing: 0. */
int tk_store_head_deleted(tk_store_t *s, const uint8_t record_id[TK_RECORD_ID_LEN],
                          const uint8_t rev_id[TK_REV_ID_LEN], int deleted,
                          tk_err_t *err);

/* The heads of a record, winner first (tk_rev_winner_cmp order). ids must
 * hold max entries; *n gets the count stored (at most max) and the return
 * value is the total number of heads (>= 1), or negative on error
 * (TK_ENOTFOUND for an unknown record). */
int tk_store_heads(tk_store_t *s, const uint8_t record_id[TK_RECORD_ID_LEN],
                   uint8_t (*ids)[TK_REV_ID_LEN], size_t max, size_t *n, tk_err_t *err);

/* A record as listings see it. */
typedef struct tk_record_info {
  uint8_t id[TK_RECORD_ID_LEN];
  char type[TK_MAX_TYPE_LEN + 1];
  char vault[TK_MAX_VAULT_LEN + 1];
  uint8_t winner[TK_REV_ID_LEN];
  uint32_t winner_generation;
  uint64_t winner_hlc;
  uint64_t created_hlc; /* hlc of the record's first revision */
  uint32_t nheads;      /* > 1: the record is in conflict */
} tk_record_info_t;

/* Callbacks return 0 to go on, non-zero to stop (that value is returned). */
typedef int (*tk_record_cb)(void *ctx, const tk_record_info_t *rec);
typedef int (*tk_rev_cb)(void *ctx, const tk_rev_meta_t *meta);
typedef int (*tk_rev_bytes_cb)(void *ctx, const tk_rev_meta_t *meta, tk_slice_t bytes);

/* Records, newest first by winner hlc; type, vault may be NULL (no filter).
 * conflicts_only: only records with more than one head. */
int tk_store_records(tk_store_t *s, const char *type, const char *vault,
                     int conflicts_only, tk_record_cb cb, void *ctx, tk_err_t *err);
/* The same listing collected into *out (*n entries; the caller frees *out),
 * for callers that read records while walking them. */
int tk_store_records_array(tk_store_t *s, const char *type, const char *vault,
                           int conflicts_only, tk_record_info_t **out, size_t *n,
                           tk_err_t *err);
int tk_store_record_info(tk_store_t *s, const uint8_t record_id[TK_RECORD_ID_LEN],
                         tk_record_info_t *out, tk_err_t *err);

/* Every revision of a record in seq order. */
int tk_store_history(tk_store_t *s, const uint8_t record_id[TK_RECORD_ID_LEN],
                     tk_rev_cb cb, void *ctx, tk_err_t *err);

/* The changes feed: revisions with seq > since, ascending, at most limit
 * (0 = no limit), with their bytes. */
int tk_store_changes(tk_store_t *s, uint64_t since, size_t limit, tk_rev_bytes_cb cb,
                     void *ctx, tk_err_t *err);
/* Highest seq in the store (0 when empty). */
int tk_store_last_seq(tk_store_t *s, uint64_t *seq, tk_err_t *err);

/* Resolves a hex prefix (at least 4 digits) of a record id (len 16) or a
 * revision id (len 32) to the whole id. TK_ENOTFOUND, TK_EAMBIG. */
enum { TK_ID_RECORD = 0, TK_ID_REVISION = 1 };
int tk_store_resolve_prefix(tk_store_t *s, int kind, const char *hex, uint8_t *out,
                            tk_err_t *err);

/* ---- checkpoints ------------------------------------------------------ */
/* revisions pushed / pulled, attachment chunks pushed / pulled, and the
 * highest feed position a push may have sent in steps without an
 * acknowledgement (PROTOCOL.md section 6: below it the next push offers
 * first, since the peer may hold those revisions) */
enum {
  TK_DIR_PUSH = 0,
  TK_DIR_PULL = 1,
  TK_DIR_CHUNK_PUSH = 2,
  TK_DIR_CHUNK_PULL = 3,
  TK_DIR_PUSH_SENT = 4
};
/* *seq = 0 if no checkpoint yet. */
int tk_store_checkpoint_get(tk_store_t *s, const uint8_t peer[TK_DEVICE_ID_LEN], int dir,
                            uint64_t *seq, tk_err_t *err);
int tk_store_checkpoint_set(tk_store_t *s, const uint8_t peer[TK_DEVICE_ID_LEN], int dir,
                            uint64_t seq, tk_err_t *err);
/* Moves the checkpoint to seq only when that is past it (never backwards). */
int tk_store_checkpoint_raise(tk_store_t *s, const uint8_t peer[TK_DEVICE_ID_LEN],
                              int dir, uint64_t seq, tk_err_t *err);

/* ---- vaults and keys -------------------------------------------------- */
typedef struct tk_vault_info {
  char name[TK_MAX_VAULT_LEN + 1];
  uint8_t key_id[TK_KEY_ID_LEN]; /* current key */
  int64_t created;               /* unix seconds */
} tk_vault_info_t;

/* TK_EEXIST if a vault of that name exists. */
int tk_store_vault_add(tk_store_t *s, const char *name,
                       const uint8_t key_id[TK_KEY_ID_LEN], tk_err_t *err);
int tk_store_vault_get(tk_store_t *s, const char *name, tk_vault_info_t *out,
                       tk_err_t *err);
int tk_store_vaults(tk_store_t *s, int (*cb)(void *ctx, const tk_vault_info_t *v),
                    void *ctx, tk_err_t *err);

/* A vault key sealed to a device's X25519 key. Replacing an existing
 * (vault, key_id, device) entry is a no-op returning 0. */
int tk_store_wrapped_key_put(tk_store_t *s, const char *vault,
                             const uint8_t key_id[TK_KEY_ID_LEN],
                             const uint8_t device[TK_DEVICE_ID_LEN],
                             const uint8_t sealed[TK_SEALED_KEY_LEN], tk_err_t *err);
/* TK_ENOKEY if this device has no key with that id for the vault. */
int tk_store_wrapped_key_get(tk_store_t *s, const char *vault,
                             const uint8_t key_id[TK_KEY_ID_LEN],
                             const uint8_t device[TK_DEVICE_ID_LEN],
                             uint8_t sealed[TK_SEALED_KEY_LEN], tk_err_t *err);

/* ---- devices ---------------------------------------------------------- */
typedef struct tk_device_info {
  uint8_t id[TK_DEVICE_ID_LEN];
  char name[64];
  uint8_t sign_pk[TK_SIGN_PK_LEN];
  uint8_t kx_pk[TK_KX_PK_LEN];
  int64_t added;   /* unix seconds */
  int64_t revoked; /* 0 if not revoked */
  int has_kx_sig;  /* kx_sig is set: the device's signature over its kx_pk */
  uint8_t kx_sig[TK_SIG_LEN];
} tk_device_info_t;

/* Adds or updates a device. TK_EINVAL if d->id is not the device id of
 * d->sign_pk. Revocation is sticky: a later put cannot clear it. */
int tk_store_device_put(tk_store_t *s, const tk_device_info_t *d, tk_err_t *err);
int tk_store_device_get(tk_store_t *s, const uint8_t id[TK_DEVICE_ID_LEN],
                        tk_device_info_t *out, tk_err_t *err);

/* ---- hub: devices, access lists, enrollment tokens, grants ------------ */

/* Every known device, in the order they were added. */
int tk_store_devices(tk_store_t *s, int (*cb)(void *ctx, const tk_device_info_t *d),
                     void *ctx, tk_err_t *err);
/* Marks a device revoked (idempotent) and removes its access. TK_ENOTFOUND. */
int tk_store_device_revoke(tk_store_t *s, const uint8_t id[TK_DEVICE_ID_LEN], int64_t now,
                           tk_err_t *err);

enum { TK_ACCESS_NONE = -1, TK_ACCESS_READ = 0, TK_ACCESS_WRITE = 1 };
/* A device's access to a vault (TK_ACCESS_NONE when it has none, or is
 * revoked or unknown). */
int tk_store_access_get(tk_store_t *s, const uint8_t device[TK_DEVICE_ID_LEN],
                        const char *vault, int *mode, tk_err_t *err);
int tk_store_access_list(tk_store_t *s, const uint8_t device[TK_DEVICE_ID_LEN],
                         int (*cb)(void *ctx, const char *vault, int write), void *ctx,
                         tk_err_t *err);

/* An access spec is "vault[:rw|:r],..." (":r" is the default). Checks it;
 * TK_EINVAL with a message naming the bad entry. */
int tk_access_spec_check(const char *spec, tk_err_t *err);

/* Enrollment tokens. The hub keeps SHA-256(secret) only. */
typedef struct tk_token_info {
  uint8_t id[16];
  char name[64];
  char access[512]; /* access spec */
  int64_t created, expires;
  int used;
} tk_token_info_t;
int tk_store_token_add(tk_store_t *s, const tk_token_info_t *t,
                       const uint8_t secret_hash[32], tk_err_t *err);
int tk_store_tokens(tk_store_t *s, int (*cb)(void *ctx, const tk_token_info_t *t),
                    void *ctx, tk_err_t *err);
/* Redeems a token for device dev in one transaction: the token must exist,
 * be unused and unexpired at now, and SHA-256(secret) must match (constant
 * time); then dev is stored under the token's name with the token's access
 * and the token is marked used. TK_EACCESS with a reason otherwise (the
 * same message for an unknown token and a wrong secret). */
int tk_store_token_redeem(tk_store_t *s, const uint8_t token_id[16],
                          const uint8_t secret[32], int64_t now, tk_device_info_t *dev,
                          tk_err_t *err);

/* ---- hub: lifecycle (store_lifecycle.c) --------------------------------- */
/* A device's access to one vault, set (added or its mode changed) or
 * dropped (TK_ENOTFOUND if it had none); a device renamed (TK_EINVAL for
 * an empty or too long name, TK_ENOTFOUND); a pending (unused) token
 * deleted, so redeeming it fails as an unknown token (TK_ENOTFOUND if no
 * pending token has that id). Each in the caller's transaction if one is
 * open (tk_store_begin), else in its own. */
int tk_store_access_set(tk_store_t *s, const uint8_t device[TK_DEVICE_ID_LEN],
                        const char *vault, int write, tk_err_t *err);
int tk_store_access_del(tk_store_t *s, const uint8_t device[TK_DEVICE_ID_LEN],
                        const char *vault, tk_err_t *err);
int tk_store_device_rename(tk_store_t *s, const uint8_t id[TK_DEVICE_ID_LEN],
                           const char *name, tk_err_t *err);
int tk_store_token_cancel(tk_store_t *s, const uint8_t token_id[16], tk_err_t *err);

/* Vault key grants relayed by a hub: stored verbatim, one per (recipient,
 * vault, key id); a later grant for the same triple replaces the earlier. */
int tk_store_grant_put(tk_store_t *s, const char *vault,
                       const uint8_t key_id[TK_KEY_ID_LEN],
                       const uint8_t recipient[TK_DEVICE_ID_LEN],
                       const uint8_t granter[TK_DEVICE_ID_LEN], tk_slice_t body,
                       tk_slice_t sig, tk_err_t *err);
/* The newest `max` grants addressed to recipient. */
int tk_store_grants_for(tk_store_t *s, const uint8_t recipient[TK_DEVICE_ID_LEN],
                        size_t max, int (*cb)(void *ctx, tk_slice_t body, tk_slice_t sig),
                        void *ctx, tk_err_t *err);

/* ---- hub: what `tundukd status` reads (store_seen.c) ------------------- */

/* Notes that the hub saw device id at `when` (unix seconds): its last_seen
 * only grows. An unknown device is not an error (nothing changes). */
int tk_store_device_seen(tk_store_t *s, const uint8_t id[TK_DEVICE_ID_LEN], int64_t when,
                         tk_err_t *err);
/* Every device's last_seen (0: never seen since schema 10), in the order of
 * tk_store_devices. */
int tk_store_devices_seen(tk_store_t *s,
                          int (*cb)(void *ctx, const uint8_t id[TK_DEVICE_ID_LEN],
                                    int64_t last_seen),
                          void *ctx, tk_err_t *err);
/* Sizes of a store for a status report: its file and WAL on disk, the
 * revisions and attachment chunks it holds (chunk bytes: their ciphertext,
 * counted from the rows' headers, no chunk read), and its quarantine, held
 * by a rule (kind 0) and refused by a membership log (kind 1). */
typedef struct tk_store_sizes {
  uint64_t file_bytes, wal_bytes;
  uint64_t revisions;
  uint64_t chunks, chunk_bytes;
  uint64_t quarantine_held, quarantine_refused;
} tk_store_sizes_t;
int tk_store_sizes(tk_store_t *s, tk_store_sizes_t *out, tk_err_t *err);

/* ---- quarantine: revisions held back by a moderation rule ------------- */
typedef struct tk_quarantine_info {
  tk_rev_meta_t meta; /* seq 0, parents filled, generation, hlc, size ... */
  uint8_t sender[TK_DEVICE_ID_LEN];
  char reason[320];
  int64_t received;
  int refused; /* kept aside by the membership log, not by a rule */
} tk_quarantine_info_t;

/* Keeps rev aside with the reason (a no-op if it is already there). */
int tk_store_quarantine_put(tk_store_t *s, const tk_rev_t *rev,
                            const uint8_t sender[TK_DEVICE_ID_LEN], const char *reason,
                            tk_err_t *err);
int tk_store_quarantine_list(tk_store_t *s,
                             int (*cb)(void *ctx, const tk_quarantine_info_t *q),
                             void *ctx, tk_err_t *err);
/* The held bytes of id (appended to out). TK_ENOTFOUND. */
int tk_store_quarantine_get(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN], tk_buf_t *out,
                            tk_err_t *err);
/* Resolves a hex prefix (at least 4 digits) of a held revision's id.
 * TK_EINVAL, TK_ENOTFOUND, TK_EAMBIG. */
int tk_store_quarantine_find(tk_store_t *s, const char *hex, uint8_t id[TK_REV_ID_LEN],
                             tk_err_t *err);
/* Lets a held revision into the store as if it had just arrived (its id,
 * signature and parents checked) and removes it from quarantine, in one
 * transaction. TK_EPARENT if a parent is missing: release that first. */
int tk_store_quarantine_release(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN],
                                tk_err_t *err);
/* Removes id from quarantine. TK_ENOTFOUND. */
int tk_store_quarantine_del(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN],
                            tk_err_t *err);

/* ---- what has not reached the hub (store_unsent.c) --------------------- */
/* An office's own revisions its hub has not taken: kept by revision id
 * until a sync finds them at the hub (tk_store_unsent_clear). */
enum {
  TK_UNSENT_REFUSED = 1,  /* the hub refused it (code, reason) */
  TK_UNSENT_READONLY = 2, /* not sent: the hub lets this device only read the vault */
  TK_UNSENT_HELD = 3      /* the hub holds it for review (its quarantine) */
};
typedef struct tk_unsent_info {
  uint8_t id[TK_REV_ID_LEN];
  uint8_t hub[TK_DEVICE_ID_LEN];
  uint8_t record_id[TK_RECORD_ID_LEN];
  uint64_t seq; /* in this store's changes feed */
  char vault[TK_MAX_VAULT_LEN + 1];
  int kind, code;
  char reason[320];
  int64_t at; /* unix seconds it was last said */
} tk_unsent_info_t;
/* Keeps (or renews) m's entry with the hub that said it and the sync run
 * (any number that differs from one sync to the next). */
int tk_store_unsent_put(tk_store_t *s, const uint8_t hub[TK_DEVICE_ID_LEN],
                        const tk_rev_meta_t *m, int kind, int code, const char *reason,
                        uint64_t run, tk_err_t *err);
/* The entries (hub: of that hub, or NULL: all) in feed order; kinds: a
 * bit set of (1 << kind), 0 for all; at most max (0: no bound). cb returns
 * non-zero to stop. */
int tk_store_unsent_list(tk_store_t *s, const uint8_t *hub, unsigned kinds, size_t max,
                         int (*cb)(void *ctx, const tk_unsent_info_t *u), void *ctx,
                         tk_err_t *err);
/* After a sync with hub (run) offered every entry up to feed position
 * upto: drops its entries of kinds that run did not renew. */
int tk_store_unsent_clear(tk_store_t *s, const uint8_t hub[TK_DEVICE_ID_LEN],
                          unsigned kinds, uint64_t run, uint64_t upto, tk_err_t *err);
/* Counts per vault for `tunduk status`, each through cb(ctx, vault, what,
 * n): TK_STATUS_REVISIONS (all), TK_STATUS_UNPUSHED (after the push
 * checkpoint rev_since and not from hub), TK_STATUS_CHUNKS_MISSING (named
 * by a revision here, not held here), TK_STATUS_CHUNKS_UNPUSHED (held here
 * after the chunk push checkpoint chunk_since, not from hub). */
enum {
  TK_STATUS_REVISIONS,
  TK_STATUS_UNPUSHED,
  TK_STATUS_CHUNKS_MISSING,
  TK_STATUS_CHUNKS_UNPUSHED
};
int tk_store_status_counts(tk_store_t *s, const uint8_t hub[TK_DEVICE_ID_LEN],
                           uint64_t rev_since, uint64_t chunk_since,
                           int (*cb)(void *ctx, const char *vault, int what, uint64_t n),
                           void *ctx, tk_err_t *err);
/* The records with a revision not at hub: written or released here after
 * the push checkpoint rev_since (not pulled from hub), or with an unsent
 * entry for hub (refused, read-only, held). Each record once, through
 * cb(ctx, record id); non-zero from cb stops. */
int tk_store_unsent_records(tk_store_t *s, const uint8_t hub[TK_DEVICE_ID_LEN],
                            uint64_t rev_since,
                            int (*cb)(void *ctx, const uint8_t record[TK_RECORD_ID_LEN]),
                            void *ctx, tk_err_t *err);
/* Copies the store into a new file at path (sqlite's online backup in one
 * read transaction, store_backup.c: the store may be in use, by this or
 * another process, and writers go on meanwhile; the copy is one commit's
 * state, attachment chunks included, in one file of mode 0600, synced).
 * TK_EEXIST if path exists. counts (NULL: not wanted) gets what the copy
 * holds (tk_store_counts). */
typedef struct tk_store_counts {
  int schema; /* PRAGMA user_version */
  uint64_t revisions, records, chunks, chunk_bytes, devices, quarantined;
  uint64_t feed_end; /* highest seq of the changes feed */
} tk_store_counts_t;
int tk_store_backup(tk_store_t *s, const char *path, tk_store_counts_t *counts,
                    tk_err_t *err);
/* What a store holds, counted in one read transaction (a backup's
 * manifest, store_backup.c). */
int tk_store_counts(tk_store_t *s, tk_store_counts_t *c, tk_err_t *err);
/* 1 if id is stored and was written (or released) here, not pulled; 0 if
 * not (or not stored). */
int tk_store_rev_local(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN]);
/* Drops every entry and every checkpoint kept for peer (a hub this office
 * no longer syncs with, or one restored from a backup). */
int tk_store_peer_forget(tk_store_t *s, const uint8_t peer[TK_DEVICE_ID_LEN],
                         tk_err_t *err);

/* ---- vault membership logs (store_log.c) ------------------------------ */

/* Appends entry seq of vault's log (the caller has checked it, tk_member.h).
 * The same entry again is a no-op returning 0; another entry at that seq is
 * TK_EEXIST (a fork) and changes nothing. */
int tk_store_log_put(tk_store_t *s, const char *vault, uint32_t seq,
                     const uint8_t id[TK_HASH_LEN], tk_slice_t body, tk_slice_t sig,
                     tk_err_t *err);
/* The entries of vault's log from seq `since` on, in order. */
int tk_store_log_each(tk_store_t *s, const char *vault, uint32_t since,
                      int (*cb)(void *ctx, tk_slice_t body, tk_slice_t sig), void *ctx,
                      tk_err_t *err);
/* How many entries vault's log holds (0: none). */
int tk_store_log_count(tk_store_t *s, const char *vault, uint32_t *n, tk_err_t *err);
/* Each vault that has a log, by name. */
int tk_store_log_vaults(tk_store_t *s, int (*cb)(void *ctx, const char *vault), void *ctx,
                        tk_err_t *err);
/* Each distinct (author, vault) of the stored revisions, by author. */
int tk_store_authors(tk_store_t *s,
                     int (*cb)(void *ctx, const uint8_t author[TK_DEVICE_ID_LEN],
                               const char *vault),
                     void *ctx, tk_err_t *err);
/* Makes key_id the vault's current key (after a rotation). */
int tk_store_vault_set_key(tk_store_t *s, const char *name,
                           const uint8_t key_id[TK_KEY_ID_LEN], tk_err_t *err);
/* The grant addressed to recipient for (vault, key_id), appended to body and
 * sig. TK_ENOTFOUND. */
int tk_store_grant_get(tk_store_t *s, const uint8_t recipient[TK_DEVICE_ID_LEN],
                       const char *vault, const uint8_t key_id[TK_KEY_ID_LEN],
                       tk_buf_t *body, tk_buf_t *sig, tk_err_t *err);
/* Keeps rev aside as evidence because the membership log does not let it
 * count (quarantine kind 1, reason given): listed with the quarantine,
 * never released by hand, released by tk_store_refused_recheck once the
 * log lets it count. A no-op if it is there already. */
int tk_store_refused_put(tk_store_t *s, const tk_rev_t *rev,
                         const uint8_t sender[TK_DEVICE_ID_LEN], const char *reason,
                         tk_err_t *err);
/* Calls ok(ctx, rev) for each revision of vault kept aside by the log;
 * those it answers 1 for are stored (parents permitting) and leave the
 * quarantine, in one transaction. *released gets their count. */
int tk_store_refused_recheck(tk_store_t *s, const char *vault,
                             int (*ok)(void *ctx, const tk_rev_t *rev), void *ctx,
                             uint32_t *released, tk_err_t *err);
/* The key ids of a revision's stored parents (from their signed headers):
 * keys[i] for each stored parent, *n of them (missing parents skipped). */
int tk_store_parent_keys(tk_store_t *s, const tk_rev_t *rev,
                         uint8_t (*keys)[TK_KEY_ID_LEN], size_t *n, tk_err_t *err);
/* How many revisions of a record the log kept aside. */
int tk_store_refused_for_record(tk_store_t *s, const uint8_t record_id[TK_RECORD_ID_LEN],
                                uint32_t *n, tk_err_t *err);
/* 1 if id is kept aside by the log, 0 if not (or held by moderation). */
int tk_store_refused_has(tk_store_t *s, const uint8_t id[TK_REV_ID_LEN]);

/* ---- attachment chunks ------------------------------------------------ */
/* A chunk is the ciphertext of up to TK_CHUNK_PLAIN bytes of an attachment,
 * named by its SHA-256. Revisions name the chunks of their attachments in
 * their signed header (tk_rev_t.attach); tk_store_put_rev records those
 * refs, so a store knows which chunks it expects before they arrive. */
typedef struct tk_chunk_meta {
  uint64_t seq; /* position in the chunk feed */
  uint8_t id[TK_HASH_LEN];
  uint32_t size;
  int has_origin;
  uint8_t origin[TK_DEVICE_ID_LEN];
} tk_chunk_meta_t;

/* Stores a chunk after checking that data (1..TK_CHUNK_MAX bytes,
 * TK_ELIMIT) hashes to id (TK_EHASH). TK_EEXIST if already stored (nothing
 * changes). origin: the peer it came from, or NULL. */
int tk_store_chunk_put(tk_store_t *s, const uint8_t id[TK_HASH_LEN], tk_slice_t data,
                       const uint8_t *origin, tk_err_t *err);
/* Appends the chunk's bytes to out. TK_ENOTFOUND. */
int tk_store_chunk_get(tk_store_t *s, const uint8_t id[TK_HASH_LEN], tk_buf_t *out,
                       tk_err_t *err);
/* 1 if stored, 0 if not, negative on error. */
int tk_store_chunk_has(tk_store_t *s, const uint8_t id[TK_HASH_LEN]);
/* Calls cb with each distinct vault of a stored revision that names the
 * chunk (none: the store does not expect it). */
int tk_store_chunk_vaults(tk_store_t *s, const uint8_t id[TK_HASH_LEN],
                          int (*cb)(void *ctx, const char *vault), void *ctx,
                          tk_err_t *err);
/* The chunk feed: up to limit chunks with seq > since, in seq order. */
int tk_store_chunks_after(tk_store_t *s, uint64_t since, size_t limit,
                          int (*cb)(void *ctx, const tk_chunk_meta_t *m), void *ctx,
                          tk_err_t *err);
/* The position of the last chunk in the chunk feed (0: none). */
int tk_store_chunks_last(tk_store_t *s, uint64_t *seq, tk_err_t *err);
/* How many of the chunks a revision names are not stored yet (*missing),
 * of *total refs. */
int tk_store_rev_chunks(tk_store_t *s, const uint8_t rev_id[TK_REV_ID_LEN],
                        uint32_t *missing, uint32_t *total, tk_err_t *err);
/* The distinct chunks rev names that no stored revision names yet. */
int tk_store_chunks_new(tk_store_t *s, const tk_rev_t *rev, uint32_t *n, tk_err_t *err);
/* The distinct chunks named by the revisions of vault (stored or not). */
int tk_store_vault_chunks(tk_store_t *s, const char *vault, uint64_t *n, tk_err_t *err);
/* Re-hashes every stored chunk; bad(ctx, id) for each that does not match
 * its id. *n gets the number checked, *nbad the failures. */
int tk_store_chunks_verify(tk_store_t *s,
                           void (*bad)(void *ctx, const uint8_t id[TK_HASH_LEN]),
                           void *ctx, uint64_t *n, uint64_t *nbad, tk_err_t *err);

/* ---- clock and settings ----------------------------------------------- */

/* The next hybrid logical clock value: max(now in ms, last + 1, highest hlc
 * of any stored revision + 1), persisted, so values from one store strictly
 * increase across runs and sort after every revision it holds. */
int tk_store_hlc_next(tk_store_t *s, uint64_t *out, tk_err_t *err);

/* A number that changes whenever the store's content may have changed:
 * a commit by this connection or by any other (another process's
 * `tunduk`, the store thread). For caches of what was read. */
uint64_t tk_store_data_version(tk_store_t *s);

/* Small key/value settings (text). get: TK_ENOTFOUND if unset; out is
 * NUL-terminated and truncated to outlen. */
int tk_store_meta_get(tk_store_t *s, const char *key, char *out, size_t outlen,
                      tk_err_t *err);
int tk_store_meta_set(tk_store_t *s, const char *key, const char *value, tk_err_t *err);

#endif
