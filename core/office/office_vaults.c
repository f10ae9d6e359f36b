/*
 * office_vaults.c: the vault listing of the front ends' API (tk_office.h):
 * each vault with this device's role in its membership log, the keys it
 * holds and, for each, the verified chain behind it (who granted it, who
 * made that device a writer, and so on back to the vault's creator). One
 * thread at a time, as tk_office_t.
 */
#include "office_internal.h"

#include <stdio.h>
#include <string.h>

#include "tk_wire.h"

static void short_hex(char *out, size_t len, const uint8_t *id, size_t n)
{
  char hex[2 * TK_HASH_LEN + 1];
  tk_hex_encode(hex, id, n);
  snprintf(out, len, "%.16s", hex);
}

/* The chain behind the key key_id of vault as [{device, name, creator}]:
 * the granter of this device's grant (or this device), then who added it,
 * and so on back to the genesis (at most 64 hops). */
static json_t *key_chain(tk_office_t *o, const tk_member_log_t *l, const char *vault,
                         const uint8_t key_id[TK_KEY_ID_LEN])
{
  tk_buf_t body = TK_BUF_INIT, sig = TK_BUF_INIT;
  tk_grant_t g;
  const uint8_t *from = o->id->id;
  json_t *arr = json_array();
  if (!arr) return NULL;
  if (tk_store_grant_get(o->store, o->id->id, vault, key_id, &body, &sig, NULL) == 0 &&
      tk_grant_verify(TK_SLICE(body.p, body.n), TK_SLICE(sig.p, sig.n), &g, NULL) == 0)
    from = g.granter;
  tk_buf_free(&body);
  tk_buf_free(&sig);
  const tk_member_t *m = tk_member_find(l, from);
  for (int hops = 0; m && hops < 64; hops++) {
    char id[TK_DEVICE_ID_STRLEN];
    tk_device_info_t d;
    tk_device_id_format(id, m->id);
    int named = tk_store_device_get(o->store, m->id, &d, NULL) == 0 && d.name[0];
    const tk_member_t *by = &l->members[m->added_by];
    int genesis = by == m;
    json_array_append_new(arr, json_pack("{s:s,s:s,s:b}", "device", id, "name",
                                         named ? d.name : "", "creator", genesis));
    if (genesis) break;
    m = by;
  }
  return arr;
}

/* Every key of the vault this device holds, each with its chain. */
static json_t *held_keys(tk_office_t *o, const tk_member_log_t *log,
                         const tk_vault_info_t *v)
{
  json_t *keys = json_array();
  for (size_t i = 0; keys && log && i < log->n; i++) {
    const tk_entry_t *en = &log->entries[i];
    char k[2 * TK_KEY_ID_LEN + 1];
    if ((en->op != TK_ENTRY_GENESIS && en->op != TK_ENTRY_ROTATE) ||
        !tk_office_vault_key_held(o, v->name, en->key_id))
      continue;
    tk_hex_encode(k, en->key_id, TK_KEY_ID_LEN);
    int current = memcmp(en->key_id, v->key_id, TK_KEY_ID_LEN) == 0;
    json_array_append_new(keys,
                          json_pack("{s:s,s:b,s:I,s:o}", "key_id", k, "current", current,
                                    "since_entry", (json_int_t)en->seq, "granted_by",
                                    key_chain(o, log, v->name, en->key_id)));
  }
  return keys;
}

typedef struct vaults_ctx {
  tk_office_t *o;
  json_t *arr;
} vaults_ctx_t;

static int vault_one(void *ctx, const tk_vault_info_t *v)
{
  vaults_ctx_t *l = ctx;
  tk_office_t *o = l->o;
  char kid[2 * TK_KEY_ID_LEN + 1], vid[20] = "-", role[16] = "-";
  const tk_member_log_t *log = NULL;
  tk_hex_encode(kid, v->key_id, TK_KEY_ID_LEN);
  int held = tk_office_vault_key_held(o, v->name, v->key_id);
  json_t *chain = NULL;
  if (tk_office_log(o, v->name, &log, NULL) == 0 && log->n > 0) {
    const tk_member_t *me = tk_member_find(log, o->id->id);
    short_hex(vid, sizeof vid, log->vault_id, TK_HASH_LEN);
    snprintf(role, sizeof role, "%s",
             !me || !me->active ? "not a member"
             : me->writer       ? "writer"
                                : "reader");
    if (held) chain = key_chain(o, log, v->name, v->key_id);
  } else {
    log = NULL;
  }
  json_t *members = log ? tk__office_members_json(o, log, v->name) : json_array();
  json_t *j = json_pack(
      "{s:s,s:s,s:s,s:I,s:b,s:s,s:I,s:o,s:o,s:o}", "name", v->name, "vault_id", vid,
      "key_id", kid, "created", (json_int_t)v->created, "have_key", held, "role", role,
      "log_entries", (json_int_t)(log ? log->n : 0), "granted_by",
      chain ? chain : json_array(), "keys", held_keys(o, log, v), "members", members);
  return j ? json_array_append_new(l->arr, j) ? TK_ENOMEM : 0 : TK_ENOMEM;
}

int tk_office_vaults(tk_office_t *o, json_t **out, tk_err_t *err)
{
  vaults_ctx_t l = {o, json_array()};
  *out = NULL;
  if (!l.arr) return tk_err_set(err, TK_ENOMEM, "out of memory");
  int rc = tk_store_vaults(o->store, vault_one, &l, err);
  if (rc == TK_ENOMEM) tk_err_set(err, rc, "out of memory");
  if (rc) {
    json_decref(l.arr);
    return rc;
  }
  *out = l.arr;
  return 0;
}
