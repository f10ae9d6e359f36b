/*
 * tk_office_engine.h: the office's engine-side calls, for the layers that
 * sit beside or above it inside the engine (the office's sync client, the
 * hub, tests), never for a front end (those include tk_office.h alone):
 * the identity and the store behind an office, vault keys by key id and
 * their cache, membership logs and changes, the current version of a
 * record, and the raw authoring calls the front ends' API builds on
 * (tk_office_new/update/attach/read take ids, not prefixes, and check
 * nothing a front end would).
 *
 * Threads: one tk_office_t is used by one thread at a time, except
 * tk_office_vault_key_cached (see there).
 */
#ifndef TK_OFFICE_ENGINE_H
#define TK_OFFICE_ENGINE_H

#include <jansson.h>

#include "tk_identity.h"
#include "tk_member.h"
#include "tk_peer_identity.h"
#include "tk_office.h"
#include "tk_office_home.h"
#include "tk_store.h"

/* The home folder's layout: tk_office_home.h (these are its names). */
#define TK_OFFICE_KEYFILE TK_HOME_KEYFILE
#define TK_OFFICE_STOREFILE TK_HOME_STOREFILE

const tk_identity_t *tk_office_identity(const tk_office_t *o);
tk_store_t *tk_office_store(tk_office_t *o);

/* ---- vault keys (office_keys.c: their one owner) ----------------------------
 * A vault has several keys over its life (one more per rotation), each named
 * by its key id; this device holds the ones granted to it, sealed to its
 * X25519 key in the store. Opened keys are kept in a small cache in locked
 * memory (16 slots, the oldest replaced), wiped on close, behind a lock of
 * the office's own: tk_office_vault_key (store's thread) fills it while
 * tk_office_vault_key_cached (any thread) reads it, with no lock of the
 * caller's. */

/* A fresh random vault key (into locked memory the caller owns) and its id. */
void tk_office_vault_key_new(uint8_t key[TK_VAULT_KEY_LEN],
                             uint8_t key_id[TK_KEY_ID_LEN]);
/* Stores key, sealed to this device, as its copy of vault's key key_id
 * (inside the caller's transaction, if any). */
int tk_office_vault_key_keep(tk_office_t *o, const char *vault,
                             const uint8_t key_id[TK_KEY_ID_LEN],
                             const uint8_t key[TK_VAULT_KEY_LEN], tk_err_t *err);
/* Keeps a key already sealed to this device (a grant's), as _keep does. */
int tk_office_vault_key_keep_sealed(tk_office_t *o, const char *vault,
                                    const uint8_t key_id[TK_KEY_ID_LEN],
                                    const uint8_t sealed[TK_SEALED_KEY_LEN],
                                    tk_err_t *err);
/* 1 if this device holds vault's key key_id (sealed to it), else 0. */
int tk_office_vault_key_held(tk_office_t *o, const char *vault,
                             const uint8_t key_id[TK_KEY_ID_LEN]);
/* The vault key with key_id (NULL: the vault's current key), from the cache
 * or opened from the store (then cached). Needs the office unlocked
 * (TK_ENOKEY otherwise) and the store's thread. TK_ENOKEY / TK_ENOTFOUND if
 * this device holds none. */
int tk_office_vault_key(tk_office_t *o, const char *vault, const uint8_t *key_id,
                        uint8_t key[TK_VAULT_KEY_LEN], tk_err_t *err);
/* The vault key with key_id if an earlier tk_office_vault_key left it in
 * memory: 0, or TK_ENOTFOUND. Never touches the store: any thread may call
 * it at any time while the office is open (the cache's lock is taken
 * inside). */
int tk_office_vault_key_cached(tk_office_t *o, const char *vault,
                               const uint8_t key_id[TK_KEY_ID_LEN],
                               uint8_t key[TK_VAULT_KEY_LEN]);
/* Brings the current key of each vault this device holds a key for into
 * memory, as many as the cache takes, so tk_office_vault_key_cached finds
 * them; a key that is missing or does not open is skipped (the lookup
 * then fails the usual way). Fails only if the store does. Store's thread. */
int tk_office_vault_keys_load(tk_office_t *o, tk_err_t *err);

/* ---- vault membership logs (office_members.c; tk_member.h) ------------------ */

/* vault's log as this office replayed it (n == 0: none); valid until the
 * log changes. */
int tk_office_log(tk_office_t *o, const char *vault, const tk_member_log_t **out,
                  tk_err_t *err);
/* 0 if the log lets rev count here, else TK_EACCESS with the reason. */
int tk_office_member_check(tk_office_t *o, const tk_rev_t *rev, char *reason, size_t len);
/* Takes entries from the hub in order: each is replayed on this office's own
 * log and stored if it follows every rule; the rest are refused (logged,
 * counted) and change nothing. A vault held from before logs takes a
 * genesis only from the device that granted its key. Revisions kept aside
 * that now count are released. */
int tk_office_log_take(tk_office_t *o, const tk_slice_t *bodies, const tk_slice_t *sigs,
                       size_t n, uint32_t *taken, uint32_t *refused, tk_err_t *err);
/* Takes a grant if it is for this device, chains to the vault's log and
 * opens; *taken says whether a key was stored. */
int tk_office_grant_take(tk_office_t *o, tk_slice_t body, tk_slice_t sig, int *taken,
                         tk_err_t *err);

#define TK_MAX_CHANGE_ENTRIES 16
/* A change to a vault's membership, built on this office's log, sent to
 * the hub, and stored here (tk_office_change_commit) only once acknowledged. */
typedef struct tk_member_change {
  char vault[TK_MAX_VAULT_LEN + 1];
  tk_entry_t entries[TK_MAX_CHANGE_ENTRIES];
  size_t nentries;
  tk_buf_t *grant_body;
  uint8_t (*grant_sig)[TK_SIG_LEN];
  size_t ngrants;
  int rotated;
  uint8_t *new_key; /* locked memory */
  uint8_t new_key_id[TK_KEY_ID_LEN];
  uint32_t sent_upto; /* log length at the hub once it is taken */
} tk_member_change_t;

/* Adds device `to` (checked identity) as a reader or writer, with grants of
 * every key of the vault this device holds. */
int tk_office_change_add(tk_office_t *o, const char *vault, const tk_peer_t *to,
                         int writer, tk_member_change_t *ch, tk_err_t *err);
/* Removes devs and rotates the key; the new key is granted to every member
 * left (their checked keys from the devices table). */
int tk_office_change_remove(tk_office_t *o, const char *vault,
                            const uint8_t (*devs)[TK_DEVICE_ID_LEN], size_t ndevs,
                            tk_member_change_t *ch, tk_err_t *err);
int tk_office_change_commit(tk_office_t *o, tk_member_change_t *ch, tk_err_t *err);
void tk_member_change_free(tk_member_change_t *ch);

/* The record's current version as this office shows it: the first head in
 * winner order that its vault's log lets count, else the newest ancestor
 * that counts (walking parents, nearest first). *not_winner says whether
 * that is not the store's winner (a revision stored before the log
 * refused it); *refused gets how many revisions of the record the log kept
 * aside. TK_EACCESS if no revision of it counts. */
int tk_office_current(tk_office_t *o, const uint8_t record_id[TK_RECORD_ID_LEN],
                      uint8_t rev[TK_REV_ID_LEN], int *not_winner, uint32_t *refused,
                      tk_err_t *err);

/* How many entries of vault's log the hub has acknowledged. */
int tk_office_log_sent(tk_office_t *o, const char *vault, uint32_t *n);
int tk_office_log_sent_set(tk_office_t *o, const char *vault, uint32_t n, tk_err_t *err);
/* The start of the quarantine reason of a pulled revision one of this
 * office's own rules refused (sync_client_pull.c): each sync judges those
 * again (office_status.c). */
#define TK_OFFICE_RULE_REFUSED "refused by this office's rule: "
/* The home folder o was opened on. */
const char *tk_office_home_dir(const tk_office_t *o);
/* Forgets what hub was known to hold (office_status.c): its checkpoints
 * and unsent entries, the membership log entries it acknowledged, the
 * store identity it last gave; the next sync offers it everything (Offer
 * and Need keep that to ids for what it has). For a hub restored from a
 * backup or replaced (enroll --move). */
int tk_office_hub_forget(tk_office_t *o, const uint8_t hub[TK_DEVICE_ID_LEN],
                         tk_err_t *err);
/* Stores from before membership logs: each vault this device created (it
 * holds the key and no device granted it) gets a genesis by this device.
 * *made gets their count. Needs the office unlocked. */
int tk_office_logs_migrate(tk_office_t *o, uint32_t *made, tk_err_t *err);

/* Writes the first revision of a new record. rec_out/rev_out may be NULL. */
int tk_office_new(tk_office_t *o, const char *type, const char *vault, const json_t *body,
                  uint8_t rec_out[TK_RECORD_ID_LEN], uint8_t rev_out[TK_REV_ID_LEN],
                  tk_err_t *err);

enum { TK_PARENTS_WINNER = 0, TK_PARENTS_ALL_HEADS = 1 };
/* Writes a new revision of an existing record whose parent is the current
 * winner (TK_PARENTS_WINNER: edit, delete) or every head (a merge). Type and
 * vault are the record's. The heads are read inside the write transaction. */
int tk_office_update(tk_office_t *o, const uint8_t record_id[TK_RECORD_ID_LEN],
                     const json_t *body, int parents_mode, uint8_t rev_out[TK_REV_ID_LEN],
                     tk_err_t *err);

/* Attaches the file at path to the record under name: the file is
 * encrypted into chunks in the store and a new revision (parent: the
 * winner) adds it to the body's attachment list, all in one transaction,
 * so an interrupted attach leaves nothing. TK_EEXIST if the name is taken,
 * TK_ELIMIT past a record's attachment limits (tk_attach.h). */
int tk_office_attach(tk_office_t *o, const uint8_t record_id[TK_RECORD_ID_LEN],
                     const char *path, const char *name, uint8_t rev_out[TK_REV_ID_LEN],
                     tk_err_t *err);

/* Decrypts revision rev_id: *body_out (caller json_decref()s) and, if meta
 * is not NULL, its metadata. */
int tk_office_read(tk_office_t *o, const uint8_t rev_id[TK_REV_ID_LEN], json_t **body_out,
                   tk_rev_meta_t *meta, tk_err_t *err);

/* The plaintext body of rev (parsed; key is its vault key) onto plain
 * (the caller wipes it), its delta chain read (office_body.c): each parent
 * from batch (nbatch revisions not yet stored, entries may be NULL) or the
 * store, under its own vault key; *depth (may be NULL) gets the body's
 * depth in its chain. Errors as tk_rev_open_chain's, naming the revision
 * and the parent. The store's thread. */
int tk_office_body(tk_office_t *o, const tk_rev_t *rev,
                   const uint8_t key[TK_VAULT_KEY_LEN], const tk_rev_t *const *batch,
                   size_t nbatch, tk_buf_t *plain, uint32_t *depth, tk_err_t *err);

/* The meta object of a revision as front ends see it (tk_office.h):
 * {revision, record, type, vault, author, time, hlc, generation, seq,
 * parents}. NULL when out of memory. */
json_t *tk_office_meta_json(const tk_rev_meta_t *m);

#endif
