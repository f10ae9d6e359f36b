/*
 * office.c: an office home folder opened for work (see tk_office.h).
 * Holds the identity, the store and a small cache of opened vault keys in
 * locked memory that is wiped on close. One thread at a time (a batch of
 * new records, tk__office_seal_new_many, seals half of itself on a thread
 * of its own, joined before it returns; that thread touches no store).
 */
#include "office_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tk_attach.h"
#include "tk_body.h"
#include "tk_passphrase.h"
#include "tk_plugin.h"

static int home_paths(const char *home, char *key_path, char *store_path, tk_err_t *err)
{
  int rc = tk_home_key_path(key_path, PATH_MAX, home, err);
  return rc ? rc : tk_home_store_path(store_path, PATH_MAX, home, err);
}

_Static_assert((int)TK_OFFICE_KDF_INTERACTIVE == (int)TK_KDF_INTERACTIVE &&
                   (int)TK_OFFICE_KDF_MODERATE == (int)TK_KDF_MODERATE &&
                   (int)TK_OFFICE_KDF_SENSITIVE == (int)TK_KDF_SENSITIVE,
               "tk_office.h's key derivation levels are tk_identity.h's");

int tk_office_kdf_parse(const char *s, int *level)
{
  static const char *const names[] = {"interactive", "moderate", "sensitive"};
  for (int i = 0; i < 3; i++)
    if (strcmp(s, names[i]) == 0) {
      *level = i;
      return 0;
    }
  return TK_EINVAL;
}

int tk_office_global_init(void)
{
  return tk_crypto_init() == 0 ? 0 : TK_ECRYPTO;
}

int tk_office_passphrase(const char *file, const char *env, const char *label,
                         int confirm, char **out, size_t *len, tk_err_t *err)
{
  return tk_passphrase_get(file, env, label, confirm, out, len, err);
}

void tk_office_secret_free(char *p)
{
  tk_secure_free(p);
}

void tk_office_device_id(const tk_office_t *o, char out[TK_DEVICE_ID_STRLEN])
{
  tk_device_id_format(out, o->id->id);
}

const char *tk_office_device_name(const tk_office_t *o)
{
  return o->id->name;
}

int tk_office_device_id_valid(const char *s)
{
  uint8_t id[TK_DEVICE_ID_LEN];
  return tk_device_id_parse(id, s) == 0;
}

int tk_office_device_id_check(const char *s, tk_err_t *err)
{
  char why[128];
  if (tk_device_id_check(s, why, sizeof why) == 0) return 0;
  return tk_err_set(err, TK_EINVAL, "'%.64s' is not a device id: %s", s, why);
}

int tk_office_create(const char *home, const char *name, const char *pass, size_t passlen,
                     int kdf_level, tk_err_t *err)
{
  char key_path[PATH_MAX], store_path[PATH_MAX];
  tk_identity_t *id = NULL;
  tk_store_t *store = NULL;
  int rc = home_paths(home, key_path, store_path, err);
  if (rc) return rc;
  if (access(key_path, F_OK) == 0 || access(store_path, F_OK) == 0)
    return tk_err_set(err, TK_EEXIST, "%s already holds a tunduk store", home);
  if (mkdir(home, 0700) != 0 && errno != EEXIST)
    return tk_err_set(err, TK_EIO, "cannot create %s: %s", home, strerror(errno));
  if (chmod(home, 0700) != 0)
    return tk_err_set(err, TK_EIO, "cannot set mode 0700 on %s: %s", home,
                      strerror(errno));

  rc = tk_identity_generate(&id, name, err);
  if (rc) goto done;
  rc = tk_store_open(&store, store_path, TK_STORE_CREATE, err);
  if (rc) goto done;
  tk_device_info_t self;
  memset(&self, 0, sizeof self);
  memcpy(self.id, id->id, sizeof self.id);
  snprintf(self.name, sizeof self.name, "%s", id->name);
  memcpy(self.sign_pk, id->sign_pk, sizeof self.sign_pk);
  memcpy(self.kx_pk, id->kx_pk, sizeof self.kx_pk);
  self.added = (int64_t)time(NULL);
  rc = tk_store_device_put(store, &self, err);
  if (rc) goto done;
  /* The key file last: its presence is what marks a finished init. */
  rc = tk_identity_save(id, key_path, pass, passlen, (tk_kdf_level_t)kdf_level, err);
done:
  if (rc && store) {
    tk_store_close(store);
    store = NULL;
    tk_home_store_unlink(home);
  }
  tk_store_close(store);
  tk_identity_free(id);
  return rc;
}

int tk_office_open(tk_office_t **out, const char *home, tk_err_t *err)
{
  char store_path[PATH_MAX];
  tk_office_t *o = calloc(1, sizeof *o);
  int rc;
  *out = NULL;
  if (!o) return tk_err_set(err, TK_ENOMEM, "out of memory");
  rc = home_paths(home, o->key_path, store_path, err);
  if (rc) goto done;
  snprintf(o->home, sizeof o->home, "%s", home);
  if (access(o->key_path, F_OK) != 0) {
    rc = tk_err_set(err, TK_ENOTFOUND, "no tunduk store in %s (run 'tunduk init' first)",
                    home);
    goto done;
  }
  rc = tk_identity_load(&o->id, o->key_path, NULL, 0, err);
  if (rc) goto done;
  rc = tk_store_open(&o->store, store_path, 0, err);
  if (rc) goto done;
  rc = tk__office_keys_open(o, err);
  if (rc) goto done;
  tk__office_uploads_sweep(o);
  *out = o;
  o = NULL;
done:
  tk_office_close(o);
  return rc;
}

int tk_office_unlock(tk_office_t *o, const char *pass, size_t passlen, tk_err_t *err)
{
  tk_identity_t *full = NULL;
  int rc = tk_identity_load(&full, o->key_path, pass, passlen, err);
  if (rc) return rc;
  tk_identity_free(o->id);
  o->id = full;
  uint32_t made = 0;
  rc = tk_office_logs_migrate(o, &made, err);
  if (made)
    TK_LOG(TK_LOG_INFO, "office", "membership logs started for %u vault%s created here",
           made, made == 1 ? "" : "s");
  if (!rc) tk__office_learn_deleted(o, NULL); /* logged; tried again next time */
  return rc;
}

int tk_office_passphrase_new(const char *file, const char *file_opt, const char *label,
                             char **out, size_t *len, tk_err_t *err)
{
  return tk_passphrase_get_new(file, file_opt, label, out, len, err);
}

int tk_office_passphrase_change(tk_office_t *o, const char *pass, size_t passlen,
                                int kdf_level, tk_err_t *err)
{
  int rc = tk_office_need_keys(o, err);
  if (rc) return rc;
  /* One change of a home at a time: they would share device.key.tmp. The
   * lock goes with the descriptor (closed below, or by a crash). */
  int dfd = open(o->home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return tk_err_set(err, TK_EIO, "cannot open %s: %s", o->home, strerror(errno));
  if (flock(dfd, LOCK_EX | LOCK_NB) != 0) {
    rc = errno == EWOULDBLOCK
             ? tk_err_set(err, TK_EBUSY,
                          "another passphrase change of %s is running; nothing changed",
                          o->home)
             : tk_err_set(err, TK_EIO, "cannot lock %s: %s", o->home, strerror(errno));
    close(dfd);
    return rc;
  }
  if (kdf_level < 0)
    rc = tk_identity_save_same_kdf(o->id, o->key_path, pass, passlen, err);
  else
    rc = tk_identity_save(o->id, o->key_path, pass, passlen, (tk_kdf_level_t)kdf_level,
                          err);
  close(dfd);
  return rc;
}

int tk_office_lock(tk_office_t *o)
{
  if (!o) return TK_EINVAL;
  for (office_holder_t *h = o->holders; h; h = h->next)
    h->wipe(h->ctx);
  tk__office_keys_wipe(o);
  if (o->id->sec) {
    tk_wipe(o->id->sec, sizeof *o->id->sec);
    tk_secure_free(o->id->sec);
    o->id->sec = NULL;
  }
  return 0;
}

int tk_office_locked(const tk_office_t *o)
{
  return !o->id->sec;
}

void tk__office_hold(tk_office_t *o, office_holder_t *h)
{
  h->detached = 0;
  h->next = o->holders;
  o->holders = h;
}

void tk__office_unhold(tk_office_t *o, office_holder_t *h)
{
  if (h->detached) return;
  for (office_holder_t **p = &o->holders; *p; p = &(*p)->next)
    if (*p == h) {
      *p = h->next;
      break;
    }
  h->next = NULL;
}

void tk_office_close(tk_office_t *o)
{
  if (!o) return;
  for (office_holder_t *h = o->holders, *next; h; h = next) {
    next = h->next;
    h->wipe(h->ctx);
    h->detached = 1;
    h->next = NULL;
  }
  o->holders = NULL;
  tk__office_keys_close(o);
  tk__office_logs_free(o);
  tk_plugin_set_free(o->plugins);
  tk_store_close(o->store);
  tk_identity_free(o->id);
  free(o);
}

const tk_identity_t *tk_office_identity(const tk_office_t *o)
{
  return o->id;
}

tk_store_t *tk_office_store(tk_office_t *o)
{
  return o->store;
}

int tk_office_vault_create(tk_office_t *o, const char *name, tk_err_t *err)
{
  uint8_t *key = tk_secure_alloc(TK_VAULT_KEY_LEN);
  uint8_t key_id[TK_KEY_ID_LEN];
  int rc = tk_name_check("vault", name, TK_MAX_VAULT_LEN, 1, err);
  if (!rc) rc = tk_office_need_keys(o, err);
  if (rc) goto done;
  if (!key) {
    rc = tk_err_set(err, TK_ENOMEM, "cannot allocate locked memory for a key");
    goto done;
  }
  tk_office_vault_key_new(key, key_id);
  rc = tk_store_begin(o->store, err);
  if (rc) goto done;
  rc = tk_store_vault_add(o->store, name, key_id, err);
  if (!rc) rc = tk_office_vault_key_keep(o, name, key_id, key, err);
  if (!rc) rc = tk__office_genesis(o, name, key_id, err);
  if (!rc) rc = tk_store_commit(o->store, err);
  if (rc) tk_store_rollback(o->store);
  if (rc == TK_EEXIST) tk_err_set(err, rc, "vault '%s' already exists", name);
  tk__office_logs_free(o);
done:
  tk_secure_free(key);
  return rc;
}

/* The plaintext body of stored revision rev_id onto plain (the caller
 * wipes it), checked (id, signature) and opened through its delta chain;
 * *depth and key_id (may be NULL) get its depth in the chain and the id of
 * the vault key it is under. */
static int read_plain(tk_office_t *o, const uint8_t rev_id[TK_REV_ID_LEN],
                      tk_buf_t *plain, uint32_t *depth, uint8_t *key_id, tk_err_t *err)
{
  tk_buf_t enc = TK_BUF_INIT;
  uint8_t *key = tk_secure_alloc(TK_VAULT_KEY_LEN);
  tk_rev_t rev;
  int rc;
  if (!key) return tk_err_set(err, TK_ENOMEM, "cannot allocate locked memory for a key");
  rc = tk_store_get_rev(o->store, rev_id, &enc, err);
  if (!rc) rc = tk_rev_parse(&rev, TK_SLICE(enc.p, enc.n), err);
  if (!rc) rc = tk_rev_check_id(&rev, rev_id, err);
  if (!rc) rc = tk_rev_verify_sig(&rev, err);
  if (!rc) rc = tk_office_vault_key(o, rev.vault, rev.key_id, key, err);
  if (!rc) rc = tk_office_body(o, &rev, key, NULL, 0, plain, depth, err);
  if (!rc && key_id) memcpy(key_id, rev.key_id, TK_KEY_ID_LEN);
  tk_buf_free(&enc);
  tk_secure_free(key);
  return rc;
}

/* Seals body into a revision with the given fields and stores it; runs
 * inside the caller's transaction. key: locked memory of the caller's for
 * the vault key. A
 * delta base (d->base_id) under a key other than the vault's current one
 * (base_key_id) is dropped: a member who holds only the current key can
 * read every body written under it. */
static int seal_with_key(tk_office_t *o, tk_rev_draft_t *d, const uint8_t *base_key_id,
                         const json_t *body, uint8_t *key, uint8_t rev_out[TK_REV_ID_LEN],
                         tk_err_t *err)
{
  tk_buf_t plain = TK_BUF_INIT, enc = TK_BUF_INIT, refs = TK_BUF_INIT;
  tk_rev_t rev;
  int rc = tk__office_may_write(o, d->vault, err);
  if (rc) goto done;
  rc = tk_office_vault_key(o, d->vault, NULL, key, err);
  if (rc) goto done;
  uint8_t kid[TK_KEY_ID_LEN];
  tk_vault_key_id(kid, key);
  if (d->base_id && (!base_key_id || memcmp(kid, base_key_id, TK_KEY_ID_LEN) != 0))
    d->base_id = NULL;
  /* the header names every chunk the body's attachments need */
  rc = tk_attach_refs(body, &refs, &d->nattach, err);
  if (rc) goto done;
  d->attach = refs.p;
  rc = tk_body_dump(body, &plain);
  if (rc) {
    tk_err_set(err, rc, "cannot encode the record body");
    goto done;
  }
  d->body = TK_SLICE(plain.p, plain.n);
  rc = tk_store_hlc_next(o->store, &d->hlc, err);
  if (rc) goto done;
  rc = tk_rev_seal(&enc, d, key, o->id->sec->sign_sk, err);
  if (rc) goto done;
  rc = tk_rev_parse(&rev, TK_SLICE(enc.p, enc.n), err);
  if (rc) goto done;
  rc = tk_store_put_rev(o->store, &rev, NULL, err);
  if (!rc)
    rc = tk_store_head_deleted(o->store, rev.record_id, rev.id,
                               tk_body_is_tombstone(body), err);
  if (rc) goto done;
  if (rev_out) memcpy(rev_out, rev.id, TK_REV_ID_LEN);
done:
  tk_buf_wipe(&plain);
  tk_buf_free(&enc);
  tk_buf_free(&refs);
  return rc;
}

static int seal_and_put(tk_office_t *o, tk_rev_draft_t *d, const uint8_t *base_key_id,
                        const json_t *body, uint8_t rev_out[TK_REV_ID_LEN], tk_err_t *err)
{
  uint8_t *key = tk_secure_alloc(TK_VAULT_KEY_LEN);
  if (!key) return tk_err_set(err, TK_ENOMEM, "cannot allocate locked memory for a key");
  int rc = seal_with_key(o, d, base_key_id, body, key, rev_out, err);
  tk_secure_free(key);
  return rc;
}

int tk_office_new(tk_office_t *o, const char *type, const char *vault, const json_t *body,
                  uint8_t rec_out[TK_RECORD_ID_LEN], uint8_t rev_out[TK_REV_ID_LEN],
                  tk_err_t *err)
{
  tk_vault_info_t vi;
  int rc = tk_name_check("type", type, TK_MAX_TYPE_LEN, 0, err);
  if (rc) return rc;
  rc = tk_store_vault_get(o->store, vault, &vi, err);
  if (rc) return rc;
  rc = tk_store_begin(o->store, err);
  if (rc) return rc;
  rc = tk__office_seal_new(o, type, vault, body, rec_out, rev_out, err);
  if (!rc) rc = tk_store_commit(o->store, err);
  if (rc) tk_store_rollback(o->store);
  return rc;
}

static void draft_new(tk_rev_draft_t *d, const char *type, const char *vault)
{
  memset(d, 0, sizeof *d);
  tk_random(d->record_id, sizeof d->record_id);
  d->type = type;
  d->vault = vault;
  d->generation = 1;
}

int tk__office_seal_new(tk_office_t *o, const char *type, const char *vault,
                        const json_t *body, uint8_t rec_out[TK_RECORD_ID_LEN],
                        uint8_t rev_out[TK_REV_ID_LEN], tk_err_t *err)
{
  tk_rev_draft_t d;
  draft_new(&d, type, vault);
  int rc = seal_and_put(o, &d, NULL, body, rev_out, err);
  if (!rc && rec_out) memcpy(rec_out, d.record_id, TK_RECORD_ID_LEN);
  return rc;
}

/* One record of a batch being sealed (tk__office_seal_new_many). */
typedef struct batch_item {
  tk_rev_draft_t d;
  tk_buf_t plain, enc, refs;
  tk_rev_t rev;
  int rc;
  tk_err_t e;
} batch_item_t;

typedef struct seal_part {
  batch_item_t *items;
  size_t from, to;
  const uint8_t *key, *sign_sk;
} seal_part_t;

/* Seals and parses items [from, to): pure computation (compression,
 * encryption, signature, parse), no store, so two parts run at once. */
static void *seal_part(void *arg)
{
  seal_part_t *p = arg;
  for (size_t i = p->from; i < p->to; i++) {
    batch_item_t *it = &p->items[i];
    it->rc = tk_rev_seal(&it->enc, &it->d, p->key, p->sign_sk, &it->e);
    if (!it->rc) it->rc = tk_rev_parse(&it->rev, TK_SLICE(it->enc.p, it->enc.n), &it->e);
  }
  return NULL;
}

int tk__office_seal_new_many(tk_office_t *o, const char *type, const char *vault,
                             json_t *const *bodies, const tk_slice_t *texts, size_t n,
                             tk_err_t *err)
{
  uint8_t *key = tk_secure_alloc(TK_VAULT_KEY_LEN);
  batch_item_t *items = calloc(n ? n : 1, sizeof *items);
  int rc = 0;
  if (!key || !items) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory");
    goto done;
  }
  rc = tk__office_may_write(o, vault, err);
  if (!rc) rc = tk_office_vault_key(o, vault, NULL, key, err);
  /* the store's part first: the clock and the attachment refs */
  for (size_t i = 0; !rc && i < n; i++) {
    batch_item_t *it = &items[i];
    draft_new(&it->d, type, vault);
    rc = tk_attach_refs(bodies[i], &it->refs, &it->d.nattach, err);
    if (rc) break;
    it->d.attach = it->refs.p;
    if (texts) {
      it->d.body = texts[i];
    } else if ((rc = tk_body_dump(bodies[i], &it->plain)) != 0) {
      tk_err_set(err, rc, "cannot encode the record body");
      break;
    } else {
      it->d.body = TK_SLICE(it->plain.p, it->plain.n);
    }
    rc = tk_store_hlc_next(o->store, &it->d.hlc, err);
  }
  if (rc) goto done;
  /* sealing on two threads (half each), when the batch is worth one */
  seal_part_t a = {items, 0, n / 2, key, o->id->sec->sign_sk};
  seal_part_t b = {items, n / 2, n, key, o->id->sec->sign_sk};
  pthread_t t;
  int threaded = n >= 64 && pthread_create(&t, NULL, seal_part, &a) == 0;
  if (!threaded) b.from = 0;
  seal_part(&b);
  if (threaded) pthread_join(t, NULL);
  for (size_t i = 0; !rc && i < n; i++) {
    if (items[i].rc) {
      rc = items[i].rc;
      if (err) *err = items[i].e;
      break;
    }
    /* a new record's one head: its flag matters only once the record is
     * in conflict, and tk__office_learn_deleted reads it then */
    rc = tk_store_put_rev(o->store, &items[i].rev, NULL, err);
  }
done:
  for (size_t i = 0; items && i < n; i++) {
    tk_buf_wipe(&items[i].plain);
    tk_buf_free(&items[i].enc);
    tk_buf_free(&items[i].refs);
  }
  free(items);
  tk_secure_free(key);
  return rc;
}

/* A merge keeps every attachment of every head: *out is a copy of body
 * whose attachment list is the union of the heads' (the same attachment,
 * by its key, once; a name taken by another file gets "~2", "~3"...). */
static int merge_attachments(tk_office_t *o, const uint8_t (*heads)[TK_REV_ID_LEN],
                             uint32_t nheads, const json_t *body, json_t **out,
                             tk_err_t *err)
{
  json_t *list = json_array();
  int rc = 0;
  *out = json_deep_copy(body);
  if (!*out || !list) {
    json_decref(list);
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  }
  for (uint32_t h = 0; h < nheads && !rc; h++) {
    json_t *hb = NULL, *e;
    size_t i;
    rc = tk_office_read(o, heads[h], &hb, NULL, err);
    if (rc) break;
    json_array_foreach(json_object_get(hb, TK_ATTACH_FIELD), i, e)
    {
      const char *key = json_string_value(json_object_get(e, "key"));
      const char *name = json_string_value(json_object_get(e, "name"));
      int dup = 0, clash = 0;
      size_t k;
      json_t *x;
      json_array_foreach(list, k, x)
      {
        const char *xk = json_string_value(json_object_get(x, "key"));
        const char *xn = json_string_value(json_object_get(x, "name"));
        if (key && xk && strcmp(key, xk) == 0) dup = 1;
        if (name && xn && strcmp(name, xn) == 0) clash = 1;
      }
      if (dup || !name) continue;
      json_t *copy = json_deep_copy(e);
      for (int n = 2; clash && copy && n < 100; n++) {
        char alt[TK_MAX_ATTACH_NAME + 8];
        snprintf(alt, sizeof alt, "%.*s~%d", TK_MAX_ATTACH_NAME - 4, name, n);
        clash = 0;
        json_array_foreach(list, k, x)
        {
          const char *xn = json_string_value(json_object_get(x, "name"));
          if (xn && strcmp(alt, xn) == 0) clash = 1;
        }
        if (!clash) json_object_set_new(copy, "name", json_string(alt));
      }
      if (!copy || json_array_append_new(list, copy) != 0) rc = TK_ENOMEM;
    }
    json_decref(hb);
  }
  if (rc == TK_ENOMEM) tk_err_set(err, rc, "out of memory");
  if (!rc && json_array_size(list) > 0)
    json_object_set(*out, TK_ATTACH_FIELD, list);
  else if (!rc)
    json_object_del(*out, TK_ATTACH_FIELD);
  json_decref(list);
  return rc;
}

int tk_office_update(tk_office_t *o, const uint8_t record_id[TK_RECORD_ID_LEN],
                     const json_t *body, int parents_mode, uint8_t rev_out[TK_REV_ID_LEN],
                     tk_err_t *err)
{
  uint8_t(*heads)[TK_REV_ID_LEN] = NULL;
  tk_record_info_t ri;
  tk_rev_draft_t d;
  tk_buf_t base = TK_BUF_INIT;
  json_t *merged = NULL;
  size_t nheads = 0;
  int rc = tk_store_begin(o->store, err);
  if (rc) return rc;
  rc = tk_store_record_info(o->store, record_id, &ri, err);
  if (rc) goto done;
  heads = calloc(TK_MAX_PARENTS, TK_REV_ID_LEN);
  if (!heads) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory");
    goto done;
  }
  rc = tk_store_heads(o->store, record_id, heads, TK_MAX_PARENTS, &nheads, err);
  if (rc < 0) goto done;
  if ((size_t)rc > TK_MAX_PARENTS && parents_mode == TK_PARENTS_ALL_HEADS) {
    rc = tk_err_set(err, TK_ELIMIT, "record has %d heads; a merge can name at most %d",
                    rc, TK_MAX_PARENTS);
    goto done;
  }
  memset(&d, 0, sizeof d);
  memcpy(d.record_id, record_id, TK_RECORD_ID_LEN);
  d.type = ri.type;
  d.vault = ri.vault;
  d.parents = heads[0];
  d.nparents = parents_mode == TK_PARENTS_ALL_HEADS ? (uint32_t)nheads : 1;
  uint32_t maxgen = 0;
  for (uint32_t i = 0; i < d.nparents; i++) {
    tk_rev_meta_t m;
    rc = tk_store_rev_meta(o->store, heads[i], &m, err);
    if (rc) goto done;
    if (m.generation > maxgen) maxgen = m.generation;
  }
  d.generation = maxgen + 1;
  if (parents_mode == TK_PARENTS_ALL_HEADS && !tk_body_is_tombstone(body)) {
    rc = merge_attachments(o, heads, d.nparents, body, &merged, err);
    if (rc) goto done;
    body = merged;
  }
  /* The first parent (the winner) is the base of a delta body. One that
   * does not read (a broken chain) only means a full body. */
  tk_err_t be;
  uint32_t depth = 0;
  uint8_t base_kid[TK_KEY_ID_LEN];
  if (read_plain(o, heads[0], &base, &depth, base_kid, &be) == 0) {
    d.base_id = heads[0];
    d.base = TK_SLICE(base.p, base.n);
    d.base_depth = depth;
  } else {
    TK_LOG(TK_LOG_INFO, "office", "edit written as a full body: %s", be.msg);
  }
  rc = seal_and_put(o, &d, base_kid, body, rev_out, err);
  if (!rc) rc = tk_store_commit(o->store, err);
done:
  if (rc) tk_store_rollback(o->store);
  tk_buf_wipe(&base);
  free(heads);
  json_decref(merged);
  return rc;
}

int tk_office_read(tk_office_t *o, const uint8_t rev_id[TK_REV_ID_LEN], json_t **body_out,
                   tk_rev_meta_t *meta, tk_err_t *err)
{
  tk_buf_t plain = TK_BUF_INIT;
  *body_out = NULL;
  int rc = read_plain(o, rev_id, &plain, NULL, NULL, err);
  if (!rc) rc = tk_body_parse(body_out, TK_SLICE(plain.p, plain.n), "revision body", err);
  if (!rc && meta) rc = tk_store_rev_meta(o->store, rev_id, meta, err);
  if (rc && *body_out) {
    json_decref(*body_out);
    *body_out = NULL;
  }
  tk_buf_wipe(&plain);
  return rc;
}

int tk__office_learn_deleted(tk_office_t *o, tk_err_t *err)
{
  tk_store_head_ref_t *v = NULL;
  size_t n = 0, learned = 0;
  tk_err_t local;
  if (!err) err = &local;
  if (!o->id->sec) return 0;
  int rc = tk_store_heads_unknown(o->store, &v, &n, err);
  if (rc || n == 0) return rc;
  rc = tk_store_begin(o->store, err);
  for (size_t i = 0; !rc && i < n; i++) {
    json_t *body = NULL;
    tk_err_t e;
    if (tk_office_read(o, v[i].rev_id, &body, NULL, &e) != 0) continue; /* no key */
    rc = tk_store_head_deleted(o->store, v[i].record_id, v[i].rev_id,
                               tk_body_is_tombstone(body), err);
    json_decref(body);
    learned++;
  }
  if (!rc) rc = tk_store_commit(o->store, err);
  if (rc) tk_store_rollback(o->store);
  if (!rc)
    TK_LOG(TK_LOG_INFO, "office", "tombstone flags learned heads=%zu of=%zu", learned, n);
  else
    TK_LOG(TK_LOG_WARN, "office", "tombstone flags not learned: %s", err->msg);
  free(v);
  return rc;
}

int tk__office_attach_with(tk_office_t *o, const uint8_t record_id[TK_RECORD_ID_LEN],
                           const char *name, tk__office_attach_fill_fn fill, void *ctx,
                           uint8_t rev_out[TK_REV_ID_LEN], tk_err_t *err)
{
  tk_record_info_t ri;
  tk_attach_t a, *list = NULL;
  tk_buf_t refs = TK_BUF_INIT;
  json_t *body = NULL;
  size_t n = 0;
  uint32_t nrefs = 0;
  memset(&a, 0, sizeof a);
  int rc = tk_attach_name_check(name, err);
  if (rc) return rc;
  rc = tk_store_begin(o->store, err);
  if (rc) return rc;
  rc = tk_store_record_info(o->store, record_id, &ri, err);
  if (!rc) rc = tk_office_read(o, ri.winner, &body, NULL, err);
  if (!rc && tk_body_is_tombstone(body))
    rc = tk_err_set(err, TK_EINVAL,
                    "the record is deleted; nothing can be attached to it");
  if (!rc) rc = tk_attach_list(body, &list, &n, err);
  for (size_t i = 0; !rc && i < n; i++)
    if (strcmp(list[i].name, name) == 0)
      rc = tk_err_set(err, TK_EEXIST,
                      "the record already has an attachment named '%s' (use --name)",
                      name);
  if (!rc && n >= TK_MAX_ATTACHMENTS)
    rc = tk_err_set(err, TK_ELIMIT, "a record holds at most %d attachments",
                    TK_MAX_ATTACHMENTS);
  if (!rc) rc = tk_attach_refs(body, &refs, &nrefs, err);
  if (!rc) rc = fill(ctx, TK_MAX_ATTACH_REFS - nrefs, &a, err);
  if (!rc) rc = tk_attach_add(body, &a, err);
  if (!rc) rc = tk_office_update(o, record_id, body, TK_PARENTS_WINNER, rev_out, err);
  if (!rc) rc = tk_store_commit(o->store, err);
  if (rc) tk_store_rollback(o->store);
  for (size_t i = 0; i < n; i++)
    tk_attach_clear(&list[i]);
  free(list);
  tk_attach_clear(&a);
  tk_buf_free(&refs);
  json_decref(body);
  return rc;
}

typedef struct attach_path {
  tk_store_t *store;
  const char *path, *name;
} attach_path_t;

static int fill_from_path(void *ctx, uint32_t max_chunks, tk_attach_t *a, tk_err_t *err)
{
  const attach_path_t *p = ctx;
  return tk_attach_store_file(p->store, p->path, p->name, max_chunks, a, err);
}

int tk_office_attach(tk_office_t *o, const uint8_t record_id[TK_RECORD_ID_LEN],
                     const char *path, const char *name, uint8_t rev_out[TK_REV_ID_LEN],
                     tk_err_t *err)
{
  attach_path_t p = {o->store, path, name};
  return tk__office_attach_with(o, record_id, name, fill_from_path, &p, rev_out, err);
}
