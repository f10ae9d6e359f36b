/*
 * office_internal.h: what office.c (the home folder, keys, authoring) and
 * office_members.c (vault membership logs, grants, key rotation) share:
 * the office struct. One thread at a time, as tk_office.h.
 */
#ifndef TK_OFFICE_INTERNAL_H
#define TK_OFFICE_INTERNAL_H

#include <limits.h>
#include <pthread.h>

#include "tk_attach.h"
#include "tk_member.h"
#include "tk_office_engine.h"

#define KEY_CACHE_SLOTS 16

typedef struct key_slot {
  int used;
  char vault[TK_MAX_VAULT_LEN + 1];
  uint8_t key_id[TK_KEY_ID_LEN];
  uint8_t key[TK_VAULT_KEY_LEN];
} key_slot_t;

/* A call in progress that holds an attachment key of its own (a streamed
 * upload or download, office_transfer.c): tk_office_lock calls wipe(ctx),
 * which forgets the key so the call fails from then on; tk_office_close
 * does too and detaches it (its later close touches no office). */
typedef struct office_holder {
  struct office_holder *next;
  void (*wipe)(void *ctx);
  void *ctx;
  int detached;
} office_holder_t;

/* A vault's replayed membership log, cached until an entry is added. */
typedef struct office_log {
  char vault[TK_MAX_VAULT_LEN + 1];
  tk_member_log_t log;
} office_log_t;

struct tk_office {
  char home[PATH_MAX];
  char key_path[PATH_MAX];
  tk_identity_t *id;
  tk_store_t *store;
  key_slot_t *keys; /* KEY_CACHE_SLOTS, tk_secure_alloc (office_keys.c) */
  unsigned next_slot;
  pthread_mutex_t keys_lock; /* keys and next_slot, between threads */
  int keys_lock_made;
  office_log_t *logs;
  size_t nlogs;
  struct tk_plugin_set *plugins; /* loaded on first use (tk__office_plugins) */
  tk_office_unlock_fn unlock;    /* tk_office_set_unlock */
  void *unlock_ctx;
  office_holder_t *holders; /* uploads and downloads open (office_transfer.c) */
};

/* One new attachment of record_id under name, a new revision over the
 * winner, in one transaction (tk_office_attach, the streamed upload): the
 * record's rules checked (not deleted, the name free, at most
 * TK_MAX_ATTACHMENTS), then fill(ctx, max_chunks, a, err) stores the
 * chunks inside that transaction and fills a (TK_ELIMIT past max_chunks),
 * then the revision. A failure anywhere leaves the store as it was. */
typedef int (*tk__office_attach_fill_fn)(void *ctx, uint32_t max_chunks, tk_attach_t *a,
                                         tk_err_t *err);
int tk__office_attach_with(tk_office_t *o, const uint8_t record_id[TK_RECORD_ID_LEN],
                           const char *name, tk__office_attach_fill_fn fill, void *ctx,
                           uint8_t rev_out[TK_REV_ID_LEN], tk_err_t *err);

/* The members of a vault's log as tk_office_vaults' "members" (office_devices.c);
 * NULL when out of memory. */
json_t *tk__office_members_json(tk_office_t *o, const tk_member_log_t *l,
                                const char *vault);

/* Registers h (its wipe and ctx set) / takes it off the list. */
void tk__office_hold(tk_office_t *o, office_holder_t *h);
void tk__office_unhold(tk_office_t *o, office_holder_t *h);
/* Stale upload files of a crashed process under HOME/uploads (office_transfer.c),
 * removed by tk_office_open. */
void tk__office_uploads_sweep(tk_office_t *o);

/* What has not reached the hub (office_status.c): the store's unsent
 * entries of kinds (a bit set of 1 << TK_UNSENT_*, 0: all) as
 * tk_office_status's "unsent" array. */
int tk__office_unsent_json(tk_office_t *o, unsigned kinds, json_t **out, tk_err_t *err);

/* A pulled revision one of this office's rules refused is held with a
 * reason that starts so (sync_client_pull.c); each sync judges those again
 * with the rules as they are then and releases what they now take
 * (tk__office_rejudge, office_status.c; *released of them). */
int tk__office_rejudge(tk_office_t *o, uint32_t *released, tk_err_t *err);

/* The office's plugin set (HOME/plugins or the bundled ones), loaded once;
 * freed by tk_office_close (office_forms.c). */
int tk__office_plugins(tk_office_t *o, struct tk_plugin_set **out, tk_err_t *err);
/* tk_office_summary of n bodies of one content type, the content type's
 * summary() run as one request to the plugin worker (out[i]: at most 256
 * bytes, never cut inside a UTF-8 character). */
void tk__office_summaries(tk_office_t *o, const char *type, const json_t *const *bodies,
                          size_t n, char (*out)[257]);

/* A new record's first revision, sealed and stored inside the caller's
 * transaction (tk_office_new is this in a transaction of its own). */
int tk__office_seal_new(tk_office_t *o, const char *type, const char *vault,
                        const json_t *body, uint8_t rec_out[TK_RECORD_ID_LEN],
                        uint8_t rev_out[TK_REV_ID_LEN], tk_err_t *err);

/* n new records, each as tk__office_seal_new makes one, inside the
 * caller's transaction, with one locked buffer for the vault key; texts
 * (may be NULL) are tk_body_dump of each body, already made. The clock
 * values and the store's writes happen here; the sealing (compression,
 * encryption, signature) runs on two threads, half of the batch each. */
int tk__office_seal_new_many(tk_office_t *o, const char *type, const char *vault,
                             json_t *const *bodies, const tk_slice_t *texts, size_t n,
                             tk_err_t *err);

/* The vault key cache in locked memory and its lock (office_keys.c):
 * made by tk_office_open, wiped and freed by tk_office_close. */
int tk__office_keys_open(tk_office_t *o, tk_err_t *err);
void tk__office_keys_close(tk_office_t *o);
/* Zeroes every slot of the cache (tk_office_lock); the memory stays. */
void tk__office_keys_wipe(tk_office_t *o);
/* Drops the cached logs (office_members.c). */
void tk__office_logs_free(tk_office_t *o);
/* Writes the genesis of a new vault's log (inside the caller's
 * transaction). */
int tk__office_genesis(tk_office_t *o, const char *vault,
                       const uint8_t key_id[TK_KEY_ID_LEN], tk_err_t *err);
/* 0 if this device may author a revision in vault now: a writer in its
 * log holding the current key (a vault without a log: as before). */
/* tk_office_check with what it checks chosen: TK__CHECK_ALL (declared
 * fields, fields not declared unless one of have[] holds that key, then
 * validate()), TK__CHECK_DECLARED (no check of undeclared fields: an edit,
 * before the record's current body is read), TK__CHECK_UNKNOWN_ONLY. */
enum { TK__CHECK_ALL = 0, TK__CHECK_DECLARED = 1, TK__CHECK_UNKNOWN_ONLY = 2 };
int tk__office_check(tk_office_t *o, const char *type, const json_t *body, int unknown,
                     const json_t *const *have, size_t nhave,
                     tk_office_problems_t *problems, tk_err_t *err);
/* Filters a person typed: a content type some plugin declares or some
 * record has, a vault this office has or some record is in; else TK_EINVAL
 * naming what exists (and the likely typo). NULL passes. */
int tk__office_type_known(tk_office_t *o, const char *type, tk_err_t *err);
int tk__office_vault_known(tk_office_t *o, const char *vault, tk_err_t *err);
/* The filters of an export, and every --redact field: one that no exported
 * content type declares is TK_EINVAL (a typo would export the field). */
int tk__office_export_filters(tk_office_t *o, const char *type, const char *vault,
                              const char *const *redact, tk_err_t *err);
/* Decrypts every head of a record in conflict whose tombstone flag the
 * store does not know yet (pulled, or stored before schema 9; a record
 * with one head needs none: it is its winner) and tells the store
 * (tk_store_head_deleted), so that a live head wins over a tombstone.
 * Heads it holds no key for stay unknown. Without the keys: nothing. A
 * failure (err may be NULL) is logged; the heads stay unknown (counted as
 * live) until the next try. */
int tk__office_learn_deleted(tk_office_t *o, tk_err_t *err);
int tk__office_may_write(tk_office_t *o, const char *vault, tk_err_t *err);

#endif
