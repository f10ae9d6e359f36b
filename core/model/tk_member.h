/*
 * tk_member.h: vault membership logs (PROTOCOL.md section 10). A vault's
 * log is a hash-linked chain of signed entries: a genesis by the creating
 * device (the vault's id is the genesis's id), then entries that add a
 * reader or writer, remove a member, or rotate the key. Every receiver
 * replays the whole chain from the genesis and never trusts a hub's word
 * for who belongs: the hub's access list decides what a device may sync,
 * the log decides whose revisions count, who may read, and who may grant.
 *
 * Rules a log must follow (tk_member_log_append checks them all):
 *  - entry 0 is a GENESIS: no vault_id, no prev, member = its author, a
 *    writer, with the vault's first key id;
 *  - entry n > 0 names the genesis's id as vault_id, the same label, seq n
 *    and prev = id of entry n - 1, and is signed by a device that is a
 *    writer after entry n - 1;
 *  - ADD names a device that is not a member (its Ed25519 key must hash to
 *    its id); REMOVE names a member, and the last writer cannot go;
 *  - ROTATE brings a key id the log has not used; keys are epochs: epoch k
 *    runs from its GENESIS/ROTATE entry to the next ROTATE.
 *
 * A revision counts only if its key id is one of the log's epochs, its
 * author was a writer at some point within that epoch, and no parent of it
 * is under a key of a later epoch. A grant counts only
 * if its entry is in the log, the recipient is a member and the granter a
 * writer after that entry, and its key is of an epoch that began at or
 * before it.
 *
 * Threads: any; a tk_member_log_t is used by one thread at a time.
 */
#ifndef TK_MEMBER_H
#define TK_MEMBER_H

#include "tk_identity.h"
#include "tk_grant.h"

#define TK_MAX_LOG_ENTRIES 4096 /* entries in one vault's log */
#define TK_MAX_ENTRY_BYTES 1024 /* one encoded entry body */

enum {
  TK_ENTRY_GENESIS = 1,
  TK_ENTRY_ADD = 2,
  TK_ENTRY_REMOVE = 3,
  TK_ENTRY_ROTATE = 4,
};

/* One parsed, signature-checked entry; owns copies of its bytes. */
typedef struct tk_entry {
  uint8_t id[TK_HASH_LEN];       /* SHA-256(body) */
  uint8_t vault_id[TK_HASH_LEN]; /* the genesis's id (the genesis: its own) */
  char label[TK_MAX_VAULT_LEN + 1];
  uint32_t seq;
  uint8_t prev[TK_HASH_LEN]; /* zero in the genesis */
  int op;
  uint8_t member[TK_DEVICE_ID_LEN];
  uint8_t member_pk[TK_SIGN_PK_LEN]; /* GENESIS, ADD */
  int writer;
  uint8_t key_id[TK_KEY_ID_LEN]; /* GENESIS, ROTATE */
  uint8_t author_pk[TK_SIGN_PK_LEN];
  uint8_t author[TK_DEVICE_ID_LEN];
  uint64_t created_ms;
  tk_buf_t body;
  uint8_t sig[TK_SIG_LEN];
} tk_entry_t;

/* What an author supplies; the log fills vault_id, seq and prev. */
typedef struct tk_entry_draft {
  int op;
  const uint8_t *member;    /* ADD, REMOVE */
  const uint8_t *member_pk; /* ADD */
  int writer;               /* ADD */
  const uint8_t *key_id;    /* GENESIS, ROTATE */
} tk_entry_draft_t;

/* Decodes body, checks every field and the signature (TK_EFORMAT,
 * TK_ELIMIT, TK_ESIG with a message naming the field). */
int tk_entry_parse(tk_entry_t *e, tk_slice_t body, tk_slice_t sig, tk_err_t *err);
void tk_entry_free(tk_entry_t *e);

/* A vault's log replayed into its state. */
typedef struct tk_member {
  uint8_t id[TK_DEVICE_ID_LEN];
  uint8_t pk[TK_SIGN_PK_LEN];
  int writer, active;
  uint32_t since;    /* seq of the entry that made it a member (last time) */
  uint32_t added_by; /* index into members of who added it (self: genesis) */
} tk_member_t;

typedef struct tk_member_log {
  char label[TK_MAX_VAULT_LEN + 1];
  uint8_t vault_id[TK_HASH_LEN];
  tk_entry_t *entries;
  size_t n, cap;
  tk_member_t *members;
  size_t nmembers;
} tk_member_log_t;

void tk_member_log_init(tk_member_log_t *l);
void tk_member_log_free(tk_member_log_t *l);

/* Checks e against the rules above for position l->n and appends it (the
 * log takes e's bytes; e is left empty). TK_EACCESS with a reason naming
 * the rule on a refusal; l is unchanged then. */
int tk_member_log_append(tk_member_log_t *l, tk_entry_t *e, tk_err_t *err);
/* Parses and appends in one step (body and sig are copied). */
int tk_member_log_take(tk_member_log_t *l, tk_slice_t body, tk_slice_t sig,
                       tk_err_t *err);

/* tk_member_log_take as a callback for a store's entries in order
 * (tk_store_log_each): ctx is the log; a refusal stops the walk. */
int tk_member_log_take_cb(void *ctx, tk_slice_t body, tk_slice_t sig);

/* Signs the next entry of l (the genesis when l is empty: then label
 * names the vault) into e, without appending it. */
int tk_member_entry_make(const tk_member_log_t *l, const char *label,
                         const tk_entry_draft_t *d, const tk_identity_t *id,
                         tk_entry_t *e, tk_err_t *err);

/* The member with device id dev, or NULL (removed members stay, inactive). */
const tk_member_t *tk_member_find(const tk_member_log_t *l,
                                  const uint8_t dev[TK_DEVICE_ID_LEN]);
/* The key id of the current epoch (the log's last GENESIS or ROTATE). */
const uint8_t *tk_member_current_key(const tk_member_log_t *l);
/* Index of the entry that introduced key_id, or -1. */
int tk_member_key_epoch(const tk_member_log_t *l, const uint8_t key_id[TK_KEY_ID_LEN]);

/* 0 if a revision by author under key_id counts, else TK_EACCESS with the
 * reason in reason. */
int tk_member_check_rev(const tk_member_log_t *l, const uint8_t author[TK_DEVICE_ID_LEN],
                        const uint8_t key_id[TK_KEY_ID_LEN], char *reason, size_t len);
/* 0 if a revision under key_id may have parents under parent_keys (n of
 * them): none of their keys may belong to a later epoch than key_id, so a
 * device that lost access (and kept only old keys) cannot write a child of
 * what was written after. TK_EACCESS with the reason otherwise. */
int tk_member_check_parents(const tk_member_log_t *l, const uint8_t key_id[TK_KEY_ID_LEN],
                            const uint8_t (*parent_keys)[TK_KEY_ID_LEN], size_t n,
                            char *reason, size_t len);
/* 0 if grant g counts in this log, else TK_EACCESS with the reason. */
int tk_member_check_grant(const tk_member_log_t *l, const tk_grant_t *g, char *reason,
                          size_t len);

#endif
