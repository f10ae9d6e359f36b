/*
 * office_status.c: nothing stranded, as the front ends' API shows it
 * (tk_office.h, "nothing stranded"; README, "Nothing stranded"): what has
 * not reached the hub (after the push checkpoint, or kept in the store's
 * unsent table with the hub's reason), what is held at either end, which
 * attachments are incomplete, the last good sync and the hub pinned; the
 * write-time check that a vault the hub lets this device only read takes
 * no new revision; forgetting a hub's store (restored, or the office moved:
 * tk_office_hub_forget); and judging again, at each sync, what this
 * office's own rules held back (tk__office_rejudge). One thread at a time,
 * as tk_office_t.
 */
#include "office_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_meta.h"
#include "tk_plugin.h"
#include "tk_sync.h"

/* The access the hub last gave for vault: "rw", "r", or "" (not listed). */
static const char *access_of(const char *access, const char *vault, char out[3])
{
  size_t vn = strlen(vault);
  out[0] = '\0';
  for (const char *p = access; *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n > vn + 1 && strncmp(p, vault, vn) == 0 && p[vn] == ':') {
      size_t m = n - vn - 1;
      if (m <= 2) {
        memcpy(out, p + vn + 1, m);
        out[m] = '\0';
      }
      return out;
    }
    p += n + (end ? 1 : 0);
  }
  return out;
}

int tk_office_write_allowed(tk_office_t *o, const char *vault, tk_err_t *err)
{
  char hub[TK_DEVICE_ID_STRLEN], access[512], mode[3];
  if (!vault) return 0;
  /* enrolled nowhere yet: nothing says this device may not write */
  if (tk_store_meta_get(o->store, TK_META_HUB_ID, hub, sizeof hub, NULL) != 0) return 0;
  if (tk_store_meta_get(o->store, TK_META_HUB_ACCESS, access, sizeof access, NULL) != 0)
    return 0;
  if (strcmp(access_of(access, vault, mode), "r") != 0) return 0;
  return tk_err_set(err, TK_EACCESS,
                    "this device may only read vault '%s' at its hub (the hub's access "
                    "list at the last sync): what is written here would never reach the "
                    "hub; ask the hub's administrator for write access, then sync",
                    vault);
}

static const char *unsent_state(int kind)
{
  return kind == TK_UNSENT_READONLY ? "read-only"
         : kind == TK_UNSENT_HELD   ? "held"
                                    : "refused";
}

static const char *unsent_todo(int kind)
{
  switch (kind) {
  case TK_UNSENT_READONLY:
    return "ask the hub's administrator for write access to the vault; it is offered "
           "again on every sync";
  case TK_UNSENT_HELD:
    return "the hub's administrator decides ('tundukd quarantine release' or 'drop')";
  default:
    return "fix what the reason names (a rule or limit at the hub, or the record), "
           "then sync: it is offered again on every sync";
  }
}

static int unsent_one(void *ctx, const tk_unsent_info_t *u)
{
  json_t *arr = ctx;
  char rev[2 * TK_REV_ID_LEN + 1], rec[2 * TK_RECORD_ID_LEN + 1],
      hub[TK_DEVICE_ID_STRLEN];
  tk_hex_encode(rev, u->id, TK_REV_ID_LEN);
  tk_hex_encode(rec, u->record_id, TK_RECORD_ID_LEN);
  tk_device_id_format(hub, u->hub);
  json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:i,s:s,s:I,s:s,s:s}", "revision", rev,
                        "record", rec, "vault", u->vault, "state", unsent_state(u->kind),
                        "code", u->code, "reason", u->reason, "at", (json_int_t)u->at,
                        "hub", hub, "todo", unsent_todo(u->kind));
  if (!j || json_array_append_new(arr, j) != 0) return TK_ENOMEM;
  return 0;
}

int tk__office_unsent_json(tk_office_t *o, unsigned kinds, json_t **out, tk_err_t *err)
{
  json_t *arr = json_array();
  *out = NULL;
  if (!arr) return tk_err_set(err, TK_ENOMEM, "out of memory");
  int rc = tk_store_unsent_list(o->store, NULL, kinds, 0, unsent_one, arr, err);
  if (rc == TK_ENOMEM) tk_err_set(err, rc, "out of memory");
  if (rc) {
    json_decref(arr);
    return rc;
  }
  *out = arr;
  return 0;
}

/* ---- status ----------------------------------------------------------------- */

typedef struct status_ctx {
  json_t *vaults; /* object: vault -> its counts */
  const char *access;
} status_ctx_t;

static const char *const count_names[] = {
    "revisions", "not_yet_sent", "attachments_missing_here", "attachments_not_at_hub"};

static json_t *vault_entry(status_ctx_t *x, const char *vault)
{
  json_t *v = json_object_get(x->vaults, vault);
  if (v) return v;
  char mode[3];
  access_of(x->access, vault, mode);
  v = json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "vault", vault, "access",
                mode[0] ? mode : "none", "revisions", (json_int_t)0, "not_yet_sent",
                (json_int_t)0, "refused", (json_int_t)0, "read_only", (json_int_t)0,
                "held_at_hub", (json_int_t)0, "held_here", (json_int_t)0,
                "attachments_missing_here", (json_int_t)0, "attachments_not_at_hub",
                (json_int_t)0);
  if (v && json_object_set_new(x->vaults, vault, v) != 0) v = NULL;
  return v;
}

static int add_count(status_ctx_t *x, const char *vault, const char *name, uint64_t n)
{
  json_t *v = vault_entry(x, vault);
  if (!v) return TK_ENOMEM;
  json_int_t have = json_integer_value(json_object_get(v, name));
  return json_object_set_new(v, name, json_integer(have + (json_int_t)n)) ? TK_ENOMEM : 0;
}

static int status_count(void *ctx, const char *vault, int what, uint64_t n)
{
  return add_count(ctx, vault, count_names[what], n);
}

static int status_vault(void *ctx, const tk_vault_info_t *v)
{
  return vault_entry(ctx, v->name) ? 0 : TK_ENOMEM;
}

/* The hub this store is enrolled at (hub its id as text, hub_id zero when
 * enrolled nowhere) and how far the pushes to it reached: 1 enrolled, 0
 * not, or a failure in err. */
static int hub_reached(tk_office_t *o, char hub[TK_DEVICE_ID_STRLEN],
                       uint8_t hub_id[TK_DEVICE_ID_LEN], uint64_t *push,
                       uint64_t *chunk_push, tk_err_t *err)
{
  *push = *chunk_push = 0;
  hub[0] = 0;
  if (tk_store_meta_get(o->store, TK_META_HUB_ID, hub, TK_DEVICE_ID_STRLEN, NULL) != 0 ||
      tk_device_id_parse(hub_id, hub) != 0) {
    memset(hub_id, 0, TK_DEVICE_ID_LEN);
    return 0;
  }
  int rc = tk_store_checkpoint_get(o->store, hub_id, TK_DIR_PUSH, push, err);
  if (!rc)
    rc = tk_store_checkpoint_get(o->store, hub_id, TK_DIR_CHUNK_PUSH, chunk_push, err);
  return rc ? rc : 1;
}

typedef struct unsent_rec_ctx {
  int (*cb)(void *ctx, const char *record);
  void *ctx;
} unsent_rec_ctx_t;

static int unsent_rec(void *ctx, const uint8_t record[TK_RECORD_ID_LEN])
{
  unsent_rec_ctx_t *x = ctx;
  char hex[2 * TK_RECORD_ID_LEN + 1];
  tk_hex_encode(hex, record, TK_RECORD_ID_LEN);
  return x->cb(x->ctx, hex);
}

int tk_office_unsent_records(tk_office_t *o, int (*cb)(void *ctx, const char *record),
                             void *ctx, tk_err_t *err)
{
  char hub[TK_DEVICE_ID_STRLEN];
  uint8_t hub_id[TK_DEVICE_ID_LEN];
  uint64_t push, chunk_push;
  int rc = hub_reached(o, hub, hub_id, &push, &chunk_push, err);
  if (rc < 0) return rc;
  unsent_rec_ctx_t x = {cb, ctx};
  return tk_store_unsent_records(o->store, hub_id, push, unsent_rec, &x, err);
}

int tk_office_status(tk_office_t *o, json_t **out, tk_err_t *err)
{
  char hub[TK_DEVICE_ID_STRLEN], addr[300] = "", name[256] = "", access[512] = "",
                                 store_id[80] = "", last[32] = "", software[80] = "";
  uint8_t hub_id[TK_DEVICE_ID_LEN];
  uint64_t push, chunk_push;
  json_t *unsent = NULL, *held = NULL;
  *out = NULL;
  int rc = hub_reached(o, hub, hub_id, &push, &chunk_push, err);
  int pinned = rc == 1;
  if (rc < 0) return rc;
  rc = 0;
  tk_store_meta_get(o->store, TK_META_HUB_ADDR, addr, sizeof addr, NULL);
  tk_store_meta_get(o->store, TK_META_HUB_NAME, name, sizeof name, NULL);
  tk_store_meta_get(o->store, TK_META_HUB_ACCESS, access, sizeof access, NULL);
  tk_store_meta_get(o->store, TK_META_HUB_STORE_ID, store_id, sizeof store_id, NULL);
  tk_store_meta_get(o->store, TK_META_LAST_SYNC, last, sizeof last, NULL);
  tk_store_meta_get(o->store, TK_META_HUB_SOFTWARE, software, sizeof software, NULL);
  status_ctx_t x = {json_object(), access};
  json_t *j = json_object();
  if (!x.vaults || !j) rc = tk_err_set(err, TK_ENOMEM, "out of memory");
  if (!rc) rc = tk_store_vaults(o->store, status_vault, &x, err);
  if (!rc)
    rc =
        tk_store_status_counts(o->store, hub_id, push, chunk_push, status_count, &x, err);
  if (!rc) rc = tk__office_unsent_json(o, 0, &unsent, err);
  if (!rc) rc = tk_office_quarantine_list(o, &held, err);
  size_t i;
  json_t *e;
  json_array_foreach(unsent, i, e)
  {
    const char *st = json_string_value(json_object_get(e, "state"));
    const char *field = !strcmp(st, "held")        ? "held_at_hub"
                        : !strcmp(st, "read-only") ? "read_only"
                                                   : "refused";
    if (!rc) rc = add_count(&x, json_string_value(json_object_get(e, "vault")), field, 1);
  }
  json_array_foreach(held, i, e)
  {
    const char *v = json_string_value(json_object_get(e, "vault"));
    if (!rc && v) rc = add_count(&x, v, "held_here", 1);
  }
  if (rc == TK_ENOMEM) tk_err_set(err, rc, "out of memory");
  if (rc) goto fail;
  int all = pinned && json_array_size(unsent) == 0 && json_array_size(held) == 0;
  json_t *arr = json_array();
  const char *k;
  json_t *v;
  json_object_foreach(x.vaults, k, v)
  {
    if (json_integer_value(json_object_get(v, "not_yet_sent")) ||
        json_integer_value(json_object_get(v, "attachments_missing_here")) ||
        json_integer_value(json_object_get(v, "attachments_not_at_hub")))
      all = 0;
    json_array_append(arr, v);
  }
  json_object_set_new(j, "vaults", arr);
  json_object_set_new(j, "hub",
                      pinned ? json_pack("{s:s,s:s,s:s,s:s?}", "id", hub, "address", addr,
                                         "name", name, "software",
                                         software[0] ? software : NULL)
                             : json_null());
  json_object_set_new(j, "hub_store", store_id[0] ? json_string(store_id) : json_null());
  json_object_set_new(j, "last_sync",
                      last[0] ? json_integer(strtoll(last, NULL, 10)) : json_null());
  json_object_set_new(j, "access", json_string(access));
  json_object_set_new(j, "all_at_hub", json_boolean(all));
  json_object_set_new(j, "unsent", unsent);
  json_object_set_new(j, "held_here", held);
  json_decref(x.vaults);
  *out = j;
  return 0;
fail:
  json_decref(unsent);
  json_decref(held);
  json_decref(x.vaults);
  json_decref(j);
  return rc;
}

/* ---- a hub restored or replaced ------------------------------------------------ */

static int log_unsent(void *ctx, const char *vault)
{
  void **a = ctx;
  return tk_office_log_sent_set(a[0], vault, 0, a[1]);
}

int tk_office_hub_forget(tk_office_t *o, const uint8_t hub[TK_DEVICE_ID_LEN],
                         tk_err_t *err)
{
  void *a[2] = {o, err};
  int rc = tk_store_begin(o->store, err);
  if (!rc) rc = tk_store_peer_forget(o->store, hub, err);
  if (!rc) rc = tk_store_log_vaults(o->store, log_unsent, a, err);
  if (!rc) rc = tk_store_meta_set(o->store, TK_META_HUB_STORE_ID, "", err);
  if (!rc) return tk_store_commit(o->store, err);
  tk_store_rollback(o->store);
  return rc;
}

/* ---- revisions this office's own rules refused, judged again ------------------ */

typedef struct rejudge {
  uint8_t (*ids)[TK_REV_ID_LEN];
  uint8_t (*senders)[TK_DEVICE_ID_LEN];
  size_t n, cap;
} rejudge_t;

static int rejudge_collect(void *ctx, const tk_quarantine_info_t *q)
{
  rejudge_t *r = ctx;
  size_t pre = strlen(TK_OFFICE_RULE_REFUSED);
  if (q->refused || strncmp(q->reason, TK_OFFICE_RULE_REFUSED, pre) != 0) return 0;
  if (r->n == r->cap) {
    size_t cap = r->cap ? 2 * r->cap : 16;
    void *a = realloc(r->ids, cap * sizeof *r->ids);
    if (a) r->ids = a;
    void *b = a ? realloc(r->senders, cap * sizeof *r->senders) : NULL;
    if (!b) return TK_ENOMEM;
    r->senders = b;
    r->cap = cap;
  }
  memcpy(r->ids[r->n], q->meta.id, TK_REV_ID_LEN);
  memcpy(r->senders[r->n++], q->sender, TK_DEVICE_ID_LEN);
  return 0;
}

/* One held revision judged by the rules as they are now: 1 if they take
 * it (then released into the store), 0 if not, or an error. */
static int rejudge_one(tk_office_t *o, struct tk_plugin_set *set, const uint8_t *id,
                       const uint8_t *sender, tk_err_t *err)
{
  tk_buf_t bytes = TK_BUF_INIT, plain = TK_BUF_INIT;
  tk_rev_t rev;
  uint8_t *key = tk_secure_alloc(TK_VAULT_KEY_LEN);
  char reason[320];
  tk_slice_t body = {NULL, 0};
  if (!key) return tk_err_set(err, TK_ENOMEM, "out of memory");
  int rc = tk_store_quarantine_get(o->store, id, &bytes, err);
  if (!rc) rc = tk_rev_parse(&rev, TK_SLICE(bytes.p, bytes.n), err);
  if (!rc && tk_plugin_moderation_reads(set, rev.type) &&
      tk_office_vault_key(o, rev.vault, rev.key_id, key, NULL) == 0 &&
      tk_office_body(o, &rev, key, NULL, 0, &plain, NULL, NULL) == 0)
    body = TK_SLICE(plain.p, plain.n);
  int taken = 0;
  if (!rc &&
      tk_sync_moderate(set, o->store, &rev, body, sender, reason, sizeof reason) == 0) {
    tk_err_t e;
    /* a parent still held: it stays, and goes in with a later sync */
    taken = tk_store_quarantine_release(o->store, id, &e) == 0;
  }
  tk_buf_wipe(&plain);
  tk_buf_free(&bytes);
  tk_secure_free(key);
  return rc ? rc : taken;
}

int tk__office_rejudge(tk_office_t *o, uint32_t *released, tk_err_t *err)
{
  struct tk_plugin_set *set = NULL;
  rejudge_t r = {NULL, NULL, 0, 0};
  *released = 0;
  int rc = tk_store_quarantine_list(o->store, rejudge_collect, &r, err);
  if (rc == TK_ENOMEM) tk_err_set(err, rc, "out of memory");
  if (!rc && r.n) rc = tk__office_plugins(o, &set, err);
  for (size_t i = 0; !rc && i < r.n; i++) {
    int got = rejudge_one(o, set, r.ids[i], r.senders[i], err);
    if (got < 0) rc = got;
    if (got > 0) (*released)++;
  }
  free(r.ids);
  free(r.senders);
  return rc;
}
