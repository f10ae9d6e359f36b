/*
 * office_keys.c: the one owner of an office's vault keys (tk_office_engine.h):
 * a new key and its id, keeping a key sealed to this device in the store,
 * looking a key up by vault and key id (several keys per vault, one per
 * rotation, each by its id), and the small cache of opened keys in locked
 * memory with the lock that lets the sync's decrypting threads read it
 * while the store's thread fills it.
 *
 * Threads: tk_office_vault_key and tk_office_vault_keys_load touch the
 * store: the office's thread only. tk_office_vault_key_cached reads only
 * the cache: any thread. The cache's lock is taken inside; callers hold
 * none of their own.
 */
#include "office_internal.h"

#include <stdio.h>
#include <string.h>

int tk__office_keys_open(tk_office_t *o, tk_err_t *err)
{
  o->keys = tk_secure_alloc(KEY_CACHE_SLOTS * sizeof *o->keys);
  if (!o->keys)
    return tk_err_set(err, TK_ENOMEM, "cannot allocate locked memory for keys");
  memset(o->keys, 0, KEY_CACHE_SLOTS * sizeof *o->keys);
  if (pthread_mutex_init(&o->keys_lock, NULL) != 0)
    return tk_err_set(err, TK_ENOMEM, "cannot make the key cache's lock");
  o->keys_lock_made = 1;
  return 0;
}

void tk__office_keys_close(tk_office_t *o)
{
  tk_secure_free(o->keys); /* sodium_free wipes */
  o->keys = NULL;
  if (o->keys_lock_made) pthread_mutex_destroy(&o->keys_lock);
  o->keys_lock_made = 0;
}

void tk__office_keys_wipe(tk_office_t *o)
{
  if (!o->keys) return;
  pthread_mutex_lock(&o->keys_lock);
  tk_wipe(o->keys, KEY_CACHE_SLOTS * sizeof *o->keys);
  o->next_slot = 0;
  pthread_mutex_unlock(&o->keys_lock);
}

void tk_office_vault_key_new(uint8_t key[TK_VAULT_KEY_LEN], uint8_t key_id[TK_KEY_ID_LEN])
{
  tk_vault_key_new(key);
  tk_vault_key_id(key_id, key);
}

int tk_office_vault_key_keep(tk_office_t *o, const char *vault,
                             const uint8_t key_id[TK_KEY_ID_LEN],
                             const uint8_t key[TK_VAULT_KEY_LEN], tk_err_t *err)
{
  uint8_t sealed[TK_SEALED_KEY_LEN];
  int rc = tk_vault_key_seal(sealed, key, o->id->kx_pk);
  if (rc) return tk_err_set(err, rc, "cannot seal the key of vault '%s'", vault);
  return tk_office_vault_key_keep_sealed(o, vault, key_id, sealed, err);
}

int tk_office_vault_key_keep_sealed(tk_office_t *o, const char *vault,
                                    const uint8_t key_id[TK_KEY_ID_LEN],
                                    const uint8_t sealed[TK_SEALED_KEY_LEN],
                                    tk_err_t *err)
{
  return tk_store_wrapped_key_put(o->store, vault, key_id, o->id->id, sealed, err);
}

int tk_office_vault_key_held(tk_office_t *o, const char *vault,
                             const uint8_t key_id[TK_KEY_ID_LEN])
{
  uint8_t sealed[TK_SEALED_KEY_LEN];
  return tk_store_wrapped_key_get(o->store, vault, key_id, o->id->id, sealed, NULL) == 0;
}

/* The cached key, under the lock held by the caller. */
static int cached(tk_office_t *o, const char *vault, const uint8_t key_id[TK_KEY_ID_LEN],
                  uint8_t key[TK_VAULT_KEY_LEN])
{
  for (unsigned i = 0; i < KEY_CACHE_SLOTS; i++) {
    const key_slot_t *k = &o->keys[i];
    if (k->used && strcmp(k->vault, vault) == 0 &&
        memcmp(k->key_id, key_id, TK_KEY_ID_LEN) == 0) {
      memcpy(key, k->key, TK_VAULT_KEY_LEN);
      return 0;
    }
  }
  return TK_ENOTFOUND;
}

int tk_office_vault_key_cached(tk_office_t *o, const char *vault,
                               const uint8_t key_id[TK_KEY_ID_LEN],
                               uint8_t key[TK_VAULT_KEY_LEN])
{
  pthread_mutex_lock(&o->keys_lock);
  int rc = cached(o, vault, key_id, key);
  pthread_mutex_unlock(&o->keys_lock);
  return rc;
}

/* Keeps an opened key in the next slot (the oldest goes). */
static void cache_put(tk_office_t *o, const char *vault,
                      const uint8_t key_id[TK_KEY_ID_LEN],
                      const uint8_t key[TK_VAULT_KEY_LEN])
{
  pthread_mutex_lock(&o->keys_lock);
  key_slot_t *k = &o->keys[o->next_slot++ % KEY_CACHE_SLOTS];
  k->used = 1;
  snprintf(k->vault, sizeof k->vault, "%s", vault);
  memcpy(k->key_id, key_id, TK_KEY_ID_LEN);
  memcpy(k->key, key, TK_VAULT_KEY_LEN);
  pthread_mutex_unlock(&o->keys_lock);
}

int tk_office_vault_key(tk_office_t *o, const char *vault, const uint8_t *key_id,
                        uint8_t key[TK_VAULT_KEY_LEN], tk_err_t *err)
{
  uint8_t want[TK_KEY_ID_LEN], sealed[TK_SEALED_KEY_LEN];
  int rc;
  if (!o->id->sec)
    return tk_err_set(err, TK_ENOKEY, "the device keys are locked (passphrase needed)");
  if (key_id) {
    memcpy(want, key_id, sizeof want);
  } else {
    tk_vault_info_t vi;
    rc = tk_store_vault_get(o->store, vault, &vi, err);
    if (rc) return rc;
    memcpy(want, vi.key_id, sizeof want);
  }
  if (tk_office_vault_key_cached(o, vault, want, key) == 0) return 0;
  rc = tk_store_wrapped_key_get(o->store, vault, want, o->id->id, sealed, err);
  if (rc) return rc;
  rc = tk_vault_key_open(key, sealed, o->id->kx_pk, o->id->sec->kx_sk);
  if (rc)
    return tk_err_set(err, rc, "the key of vault '%s' held by this device does not open",
                      vault);
  cache_put(o, vault, want, key);
  return 0;
}

static int load_vault_key(void *ctx, const tk_vault_info_t *v)
{
  uint8_t key[TK_VAULT_KEY_LEN];
  (void)tk_office_vault_key(ctx, v->name, v->key_id, key, NULL); /* none: skipped */
  tk_wipe(key, sizeof key);
  return 0;
}

int tk_office_vault_keys_load(tk_office_t *o, tk_err_t *err)
{
  int rc = tk_store_vaults(o->store, load_vault_key, o, err);
  return rc ? tk_err_set(err, rc, "loading the vault keys: %s", tk_strerror(rc)) : 0;
}
