/*
 * tk_office.h: an office's home folder opened for work: its identity (key
 * file "device.key"), its store ("store.db") and the vault keys it holds.
 * Authoring revisions (new, edit, delete, merge) and reading them back
 * happen here, so every client (the CLI now, a web UI later) goes through
 * one path that seals, signs and stores in one transaction.
 *
 * Layout of a home folder (mode 0700):
 *   device.key   the identity, private keys encrypted under the passphrase
 *   store.db     the sqlite store (+ -wal, -shm while open)
 *
 * Threads: one tk_office_t is used by one thread at a time.
 */
#ifndef TK_OFFICE_H
#define TK_OFFICE_H

#include <jansson.h>

#include "tk_identity.h"
#include "tk_member.h"
#include "tk_store.h"

#define TK_OFFICE_KEYFILE "device.key"
#define TK_OFFICE_STOREFILE "store.db"

typedef struct tk_office tk_office_t;

/* Creates a home folder with a new identity and an empty store. Refuses
 * (TK_EEXIST) if home already holds a key file or a store. */
int tk_office_create(const char *home, const char *name, const char *pass, size_t passlen,
                     tk_kdf_level_t level, tk_err_t *err);

/* Opens home: the public half of the identity and the store. TK_ENOTFOUND
 * with a message naming home when there is no tunduk store there. */
int tk_office_open(tk_office_t **out, const char *home, tk_err_t *err);
/* Decrypts the private keys (TK_EPASS on a wrong passphrase). */
int tk_office_unlock(tk_office_t *o, const char *pass, size_t passlen, tk_err_t *err);
/* Wipes keys and closes everything; NULL is a no-op. */
void tk_office_close(tk_office_t *o);

const tk_identity_t *tk_office_identity(const tk_office_t *o);
tk_store_t *tk_office_store(tk_office_t *o);
const char *tk_office_home(const tk_office_t *o);

/* Creates a vault with a fresh random key sealed to this device. */
int tk_office_vault_create(tk_office_t *o, const char *name, tk_err_t *err);
/* The vault key with key_id (NULL: the vault's current key). Needs the
 * office unlocked. TK_ENOKEY if this device holds none. */
int tk_office_vault_key(tk_office_t *o, const char *vault, const uint8_t *key_id,
                        uint8_t key[TK_VAULT_KEY_LEN], tk_err_t *err);
/* The vault key with key_id if an earlier tk_office_vault_key left it in
 * memory: 0, or TK_ENOTFOUND. Never touches the store, so a thread other than
 * the store's may call it, under a lock it shares with the callers of
 * tk_office_vault_key (that one fills the cache). */
int tk_office_vault_key_cached(tk_office_t *o, const char *vault,
                               const uint8_t key_id[TK_KEY_ID_LEN],
                               uint8_t key[TK_VAULT_KEY_LEN]);
/* Brings the current key of each vault this device holds a key for into
 * memory, as many as the cache takes, so tk_office_vault_key_cached finds
 * them; a key that is missing or does not open is skipped (the lookup
 * then fails the usual way). Fails only if the store does. */
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

/* Verification of the whole store: every revision's hash, signature, tag
 * (when this device holds the vault key) and parent links, and that the
 * indexed fields match the signed header. cb is called for each failure
 * with the revision id and a message; counts are filled in. Returns 0 when
 * nothing failed, TK_EHASH/... of the first failure otherwise. */
typedef struct tk_verify_counts {
  uint64_t revisions, ok, failed, no_key, records;
  uint64_t chunks, bad_chunks; /* attachment chunks re-hashed, and failures */
} tk_verify_counts_t;
int tk_office_verify(tk_office_t *o,
                     void (*cb)(void *ctx, const uint8_t id[TK_REV_ID_LEN],
                                const char *msg),
                     void *ctx, tk_verify_counts_t *counts, tk_err_t *err);

#endif
