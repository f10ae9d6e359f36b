/*
 * office_internal.h: what office.c (the home folder, keys, authoring) and
 * office_members.c (vault membership logs, grants, key rotation) share:
 * the office struct. One thread at a time, as tk_office.h.
 */
#ifndef TK_OFFICE_INTERNAL_H
#define TK_OFFICE_INTERNAL_H

#include <limits.h>

#include "tk_member.h"
#include "tk_office.h"

#define KEY_CACHE_SLOTS 16

typedef struct key_slot {
  int used;
  char vault[TK_MAX_VAULT_LEN + 1];
  uint8_t key_id[TK_KEY_ID_LEN];
  uint8_t key[TK_VAULT_KEY_LEN];
} key_slot_t;

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
  key_slot_t *keys; /* KEY_CACHE_SLOTS, tk_secure_alloc */
  unsigned next_slot;
  office_log_t *logs;
  size_t nlogs;
};

/* Drops the cached logs (office_members.c). */
void tk__office_logs_free(tk_office_t *o);
/* Writes the genesis of a new vault's log (inside the caller's
 * transaction). */
int tk__office_genesis(tk_office_t *o, const char *vault,
                       const uint8_t key_id[TK_KEY_ID_LEN], tk_err_t *err);
/* 0 if this device may author a revision in vault now: a writer in its
 * log holding the current key (a vault without a log: as before). */
int tk__office_may_write(tk_office_t *o, const char *vault, tk_err_t *err);

#endif
