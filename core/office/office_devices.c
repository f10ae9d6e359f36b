/*
 * office_devices.c: the devices an office knows (tk_office.h): itself, the
 * members of its vaults' verified membership logs, the authors of the
 * revisions it holds and those the hub says share its vaults, each with its name when the
 * store knows it; and, for the vault listing, who holds which key of a vault as its log
 * tells (the log is replayed here, never a hub's word). One thread at a time, as
 * tk_office_t.
 */
#include "office_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *device_name(tk_office_t *o, const uint8_t id[TK_DEVICE_ID_LEN],
                               tk_device_info_t *d)
{
  if (tk_store_device_get(o->store, id, d, NULL) == 0) return d->name;
  return "";
}

static const char *member_role(const tk_member_t *m)
{
  return !m->active ? "removed" : m->writer ? "writer" : "reader";
}

static void add_key(json_t *keys, const uint8_t key_id[TK_KEY_ID_LEN])
{
  char hex[2 * TK_KEY_ID_LEN + 1];
  size_t j;
  json_t *x;
  tk_hex_encode(hex, key_id, TK_KEY_ID_LEN);
  json_array_foreach(keys, j, x) if (strcmp(json_string_value(x), hex) == 0) return;
  json_array_append_new(keys, json_string(hex));
}

static int is_key_entry(const tk_entry_t *e)
{
  return e->op == TK_ENTRY_GENESIS || e->op == TK_ENTRY_ROTATE;
}

/* The key ids of l's epochs member m was given, by the log's rules: at its
 * genesis or addition every key then in the log (its granter seals it each
 * key it holds), then each rotation's new key while it is a member (the
 * rotation seals it to every member left). For this device: the keys it
 * holds. */
static json_t *member_keys(tk_office_t *o, const tk_member_log_t *l, const char *vault,
                           const tk_member_t *m)
{
  json_t *keys = json_array();
  int self = tk_ct_equal(m->id, o->id->id, TK_DEVICE_ID_LEN), active = 0;
  for (size_t i = 0; keys && i < l->n; i++) {
    const tk_entry_t *e = &l->entries[i];
    int mine = !is_key_entry(e) || e->op == TK_ENTRY_GENESIS
                   ? memcmp(e->op == TK_ENTRY_GENESIS ? e->author : e->member, m->id,
                            TK_DEVICE_ID_LEN) == 0
                   : 0;
    if (self) {
      if (is_key_entry(e) && tk_office_vault_key_held(o, vault, e->key_id))
        add_key(keys, e->key_id);
      continue;
    }
    if (e->op == TK_ENTRY_ADD && mine) {
      active = 1;
      for (size_t k = 0; k < i; k++)
        if (is_key_entry(&l->entries[k])) add_key(keys, l->entries[k].key_id);
    }
    if (e->op == TK_ENTRY_GENESIS && mine) active = 1;
    if (e->op == TK_ENTRY_REMOVE && mine) active = 0;
    if (is_key_entry(e) && active) add_key(keys, e->key_id);
  }
  return keys;
}

json_t *tk__office_members_json(tk_office_t *o, const tk_member_log_t *l,
                                const char *vault)
{
  json_t *arr = json_array();
  for (size_t i = 0; arr && l && i < l->nmembers; i++) {
    const tk_member_t *m = &l->members[i];
    char id[TK_DEVICE_ID_STRLEN];
    tk_device_info_t d;
    tk_device_id_format(id, m->id);
    json_t *j = json_pack("{s:s,s:s,s:s,s:b,s:o}", "device", id, "name",
                          device_name(o, m->id, &d), "role", member_role(m), "self",
                          tk_ct_equal(m->id, o->id->id, TK_DEVICE_ID_LEN), "keys",
                          member_keys(o, l, vault, m));
    if (!j || json_array_append_new(arr, j) != 0) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

/* ---- tk_office_devices --------------------------------------------------------- */

typedef struct devices {
  tk_office_t *o;
  json_t *by_id; /* printed id -> {device, name, self, vaults} */
  char (*vaults)[TK_MAX_VAULT_LEN + 1];
  size_t nvaults;
} devices_t;

static json_t *device_entry(devices_t *ds, const uint8_t id[TK_DEVICE_ID_LEN])
{
  char s[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(s, id);
  json_t *e = json_object_get(ds->by_id, s);
  if (e) return e;
  tk_device_info_t d;
  e = json_pack("{s:s,s:s,s:b,s:[]}", "device", s, "name", device_name(ds->o, id, &d),
                "self", tk_ct_equal(id, ds->o->id->id, TK_DEVICE_ID_LEN), "vaults");
  if (!e || json_object_set_new(ds->by_id, s, e) != 0) return NULL;
  return e;
}

static int in_vault(json_t *e, const char *vault)
{
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(e, "vaults"), i, v)
  {
    if (strcmp(json_string_value(json_object_get(v, "vault")), vault) == 0) return 1;
  }
  return 0;
}

static int add_vault(json_t *e, const char *vault, const char *role)
{
  if (!e) return TK_ENOMEM;
  if (in_vault(e, vault)) return 0;
  return json_array_append_new(json_object_get(e, "vaults"),
                               json_pack("{s:s,s:s}", "vault", vault, "role", role))
             ? TK_ENOMEM
             : 0;
}

static int collect_vault(void *ctx, const char *vault)
{
  devices_t *ds = ctx;
  void *nv = realloc(ds->vaults, (ds->nvaults + 1) * sizeof *ds->vaults);
  if (!nv) return TK_ENOMEM;
  ds->vaults = nv;
  snprintf(ds->vaults[ds->nvaults++], sizeof ds->vaults[0], "%s", vault);
  return 0;
}

static int author_one(void *ctx, const uint8_t author[TK_DEVICE_ID_LEN],
                      const char *vault)
{
  devices_t *ds = ctx;
  const tk_member_log_t *l = NULL;
  int logged = tk_office_log(ds->o, vault, &l, NULL) == 0 && l->n > 0;
  return add_vault(device_entry(ds, author), vault, logged ? "not a member" : "-");
}

/* A device whose public identity this store holds, checked when it came
 * (from a vault's log, or the hub's directory of those who share its vaults). */
static int known_one(void *ctx, const tk_device_info_t *d)
{
  return d->revoked || device_entry(ctx, d->id) ? 0 : TK_ENOMEM;
}

static int by_self_name_id(const void *a, const void *b)
{
  const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
  int sx = json_is_true(json_object_get(x, "self")),
      sy = json_is_true(json_object_get(y, "self"));
  if (sx != sy) return sy - sx;
  const char *nx = json_string_value(json_object_get(x, "name")),
             *ny = json_string_value(json_object_get(y, "name"));
  if (!*nx != !*ny) return !*nx - !*ny; /* named ones first */
  int c = strcmp(nx, ny);
  return c ? c
           : strcmp(json_string_value(json_object_get(x, "device")),
                    json_string_value(json_object_get(y, "device")));
}

int tk_office_devices(tk_office_t *o, json_t **out, tk_err_t *err)
{
  devices_t ds = {o, json_object(), NULL, 0};
  json_t **v = NULL;
  *out = NULL;
  int rc = ds.by_id && device_entry(&ds, o->id->id) ? 0 : TK_ENOMEM;
  if (!rc) rc = tk_store_log_vaults(o->store, collect_vault, &ds, err);
  for (size_t i = 0; !rc && i < ds.nvaults; i++) {
    const tk_member_log_t *l = NULL;
    rc = tk_office_log(o, ds.vaults[i], &l, err);
    for (size_t m = 0; !rc && m < l->nmembers; m++)
      rc = add_vault(device_entry(&ds, l->members[m].id), ds.vaults[i],
                     member_role(&l->members[m]));
  }
  if (!rc) rc = tk_store_authors(o->store, author_one, &ds, err);
  if (!rc) rc = tk_store_devices(o->store, known_one, &ds, err);
  size_t n = json_object_size(ds.by_id), k = 0;
  if (!rc && !(v = calloc(n ? n : 1, sizeof *v))) rc = TK_ENOMEM;
  if (!rc) {
    const char *key;
    json_t *e;
    json_object_foreach(ds.by_id, key, e) v[k++] = e;
    qsort(v, n, sizeof *v, by_self_name_id);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
      if (json_array_append(arr, v[i]) != 0) rc = TK_ENOMEM;
    if (!arr) rc = TK_ENOMEM;
    if (!rc)
      *out = arr;
    else
      json_decref(arr);
  }
  if (rc == TK_ENOMEM) tk_err_set(err, rc, "out of memory");
  free(v);
  free(ds.vaults);
  json_decref(ds.by_id);
  return rc;
}
