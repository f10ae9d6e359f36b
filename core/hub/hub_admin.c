/*
 * hub_admin.c: the hub operator's actions (tk_hub_admin.h): tokens,
 * devices, revocation with the access list version, the hub's quarantine.
 * One thread at a time per home.
 */
#include "tk_hub_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tk_meta.h"

int tk_hub_admin_acl_bump(tk_store_t *st, tk_err_t *err)
{
  char v[32];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(v, sizeof v, "%lld.%09ld", (long long)ts.tv_sec, ts.tv_nsec);
  return tk_store_meta_set(st, TK_META_ACL_VERSION, v, err);
}

/* ---- tokens ----------------------------------------------------------------- */

/* The checked name and access of req into ti. */
static int token_access(const tk_hub_token_req_t *req, tk_token_info_t *ti, tk_err_t *err)
{
  if (strlen(req->name) >= sizeof ti->name || !req->name[0])
    return tk_err_set(err, TK_EINVAL, "device name must be 1 to %zu bytes",
                      sizeof ti->name - 1);
  snprintf(ti->name, sizeof ti->name, "%s", req->name);
  for (int i = 0; i < req->nvaults; i++) {
    size_t n = strlen(ti->access);
    if (n + strlen(req->vaults[i]) + 2 >= sizeof ti->access)
      return tk_err_set(err, TK_ELIMIT, "too many vaults for one device");
    snprintf(ti->access + n, sizeof ti->access - n, "%s%s", n ? "," : "", req->vaults[i]);
  }
  return tk_access_spec_check(ti->access, err);
}

static int token_ttl(const tk_hub_token_req_t *req, uint32_t *ttl, tk_err_t *err)
{
  *ttl = req->default_ttl_hours;
  if (!req->ttl_hours) return 0;
  char *end;
  unsigned long v = strtoul(req->ttl_hours, &end, 10);
  if (*end || v < 1 || v > 24 * 365)
    return tk_err_set(err, TK_EINVAL, "--ttl-hours must be 1 to 8760");
  *ttl = (uint32_t)v;
  return 0;
}

int tk_hub_admin_token_issue(tk_office_t *home, const tk_hub_token_req_t *req,
                             char text[TK_TOKEN_MAX_TEXT], tk_token_info_t *ti,
                             tk_err_t *err)
{
  tk_token_t tok;
  uint8_t hash[32];
  uint32_t ttl = 0;
  memset(ti, 0, sizeof *ti);
  int rc = token_access(req, ti, err);
  if (!rc) rc = tk_hub_access_spec_unique(ti->access, err);
  if (!rc) rc = tk_hub_admin_name_free(home, ti->name, NULL, err); /* names are unique */
  if (!rc) rc = token_ttl(req, &ttl, err);
  if (rc) return rc;
  memset(&tok, 0, sizeof tok);
  memcpy(tok.hub_id, tk_office_identity(home)->id, TK_DEVICE_ID_LEN);
  tk_random(tok.token_id, sizeof tok.token_id);
  tk_random(tok.secret, sizeof tok.secret);
  ti->created = (int64_t)time(NULL);
  ti->expires = ti->created + (int64_t)ttl * 3600;
  tok.expires = (uint64_t)ti->expires;
  const char *addr = req->address;
  char host[TK_TOKEN_MAX_ADDR + 1];
  int port;
  if (strlen(addr) > TK_TOKEN_MAX_ADDR || tk_addr_split(addr, host, &port) != 0 ||
      port == 0) {
    tk_wipe(&tok, sizeof tok);
    return tk_err_set(err, TK_EINVAL,
                      "the hub address '%s' is not host:port (give --address HOST:PORT)",
                      addr);
  }
  memcpy(tok.addr, addr, strlen(addr) + 1); /* length checked above */
  memcpy(ti->id, tok.token_id, sizeof ti->id);
  tk_sha256(hash, tok.secret, sizeof tok.secret);
  rc = tk_store_token_add(tk_office_store(home), ti, hash, err);
  if (!rc) rc = tk_token_format(&tok, text, TK_TOKEN_MAX_TEXT);
  tk_wipe(&tok, sizeof tok);
  return rc;
}

int tk_hub_admin_tokens(tk_office_t *home, int (*cb)(void *ctx, const tk_token_info_t *t),
                        void *ctx, tk_err_t *err)
{
  return tk_store_tokens(tk_office_store(home), cb, ctx, err);
}

/* ---- devices ---------------------------------------------------------------- */

typedef struct list_ctx {
  tk_store_t *st;
  json_t *arr;
  json_t *cur_access;
  tk_err_t *err;
} list_ctx_t;

static int access_cb(void *ctx, const char *vault, int write)
{
  list_ctx_t *l = ctx;
  json_array_append_new(l->cur_access,
                        json_pack("{s:s,s:b}", "vault", vault, "write", write));
  return 0;
}

static int device_cb(void *ctx, const tk_device_info_t *d)
{
  list_ctx_t *l = ctx;
  char id[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(id, d->id);
  l->cur_access = json_array();
  int rc = tk_store_access_list(l->st, d->id, access_cb, l, l->err);
  json_array_append_new(l->arr,
                        json_pack("{s:s,s:s,s:I,s:b,s:o}", "id", id, "name", d->name,
                                  "added", (json_int_t)d->added, "revoked",
                                  d->revoked != 0, "access", l->cur_access));
  return rc;
}

typedef struct seen_ctx {
  json_t *arr;
  size_t i;
} seen_ctx_t;

/* last_seen (unix seconds; null: not seen since the hub keeps it) into the
 * entry of the same device, both lists in the store's order. */
static int seen_cb(void *ctx, const uint8_t id[TK_DEVICE_ID_LEN], int64_t last_seen)
{
  seen_ctx_t *x = ctx;
  char s[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(s, id);
  json_t *d = json_array_get(x->arr, x->i++);
  if (!d || strcmp(json_string_value(json_object_get(d, "id")), s)) return 0;
  return json_object_set_new(d, "last_seen",
                             last_seen ? json_integer((json_int_t)last_seen)
                                       : json_null())
             ? TK_ENOMEM
             : 0;
}

int tk_hub_admin_devices(tk_office_t *home, json_t **out, tk_err_t *err)
{
  list_ctx_t l = {tk_office_store(home), json_array(), NULL, err};
  seen_ctx_t seen = {l.arr, 0};
  *out = NULL;
  if (!l.arr) return tk_err_set(err, TK_ENOMEM, "out of memory");
  int rc = tk_store_devices(l.st, device_cb, &l, err);
  if (!rc) rc = tk_store_devices_seen(l.st, seen_cb, &seen, err);
  if (rc == TK_ENOMEM) tk_err_set(err, rc, "out of memory");
  if (rc) {
    json_decref(l.arr);
    return rc;
  }
  *out = l.arr;
  return 0;
}

typedef struct find_ctx {
  const char *want; /* without dashes, upper case */
  uint8_t id[TK_DEVICE_ID_LEN];
  int matches;
} find_ctx_t;

static int find_cb(void *ctx, const tk_device_info_t *d)
{
  find_ctx_t *f = ctx;
  char s[TK_DEVICE_ID_STRLEN], plain[TK_DEVICE_ID_STRLEN];
  size_t n = 0;
  tk_device_id_format(s, d->id);
  for (const char *p = s; *p; p++)
    if (*p != '-') plain[n++] = *p;
  plain[n] = '\0';
  if (strncmp(plain, f->want, strlen(f->want)) == 0) {
    memcpy(f->id, d->id, sizeof f->id);
    f->matches++;
  }
  return 0;
}

int tk_hub_admin_revoke(tk_office_t *home, const char *prefix,
                        char id_out[TK_DEVICE_ID_STRLEN], tk_err_t *err)
{
  find_ctx_t f;
  char want[TK_DEVICE_ID_STRLEN];
  size_t n = 0;
  memset(&f, 0, sizeof f);
  for (const char *p = prefix; *p && n + 1 < sizeof want; p++)
    if (*p != '-') want[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
  want[n] = '\0';
  if (n < 4)
    return tk_err_set(err, TK_EINVAL, "give at least 4 characters of the device id");
  f.want = want;
  tk_store_t *st = tk_office_store(home);
  int rc = tk_store_devices(st, find_cb, &f, err);
  if (rc) return rc;
  if (f.matches == 0) return tk_err_set(err, TK_ENOTFOUND, "no device '%s'", prefix);
  if (f.matches > 1)
    return tk_err_set(err, TK_EAMBIG, "device id '%s' is ambiguous", prefix);
  if (tk_ct_equal(f.id, tk_office_identity(home)->id, TK_DEVICE_ID_LEN))
    return tk_err_set(err, TK_EINVAL, "that is the hub itself");
  rc = tk_store_begin(st, err);
  if (!rc) rc = tk_store_device_revoke(st, f.id, (int64_t)time(NULL), err);
  if (!rc) rc = tk_hub_admin_acl_bump(st, err);
  if (!rc)
    rc = tk_store_commit(st, err);
  else
    tk_store_rollback(st);
  if (!rc) tk_device_id_format(id_out, f.id);
  return rc;
}

/* ---- quarantine --------------------------------------------------------------- */

static int quar_cb(void *ctx, const tk_quarantine_info_t *q)
{
  char hex[2 * TK_REV_ID_LEN + 1], rec[2 * TK_RECORD_ID_LEN + 1],
      author[TK_DEVICE_ID_STRLEN];
  tk_hex_encode(hex, q->meta.id, TK_REV_ID_LEN);
  tk_hex_encode(rec, q->meta.record_id, TK_RECORD_ID_LEN);
  tk_device_id_format(author, q->meta.author);
  return json_array_append_new(
             ctx, json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:I}", "revision", hex,
                            "record", rec, "type", q->meta.type, "vault", q->meta.vault,
                            "author", author, "size", (json_int_t)q->meta.size, "reason",
                            q->reason, "received", (json_int_t)q->received))
             ? TK_ENOMEM
             : 0;
}

int tk_hub_admin_quarantine_list(tk_office_t *home, json_t **out, tk_err_t *err)
{
  json_t *arr = json_array();
  *out = NULL;
  if (!arr) return tk_err_set(err, TK_ENOMEM, "out of memory");
  int rc = tk_store_quarantine_list(tk_office_store(home), quar_cb, arr, err);
  if (rc == TK_ENOMEM) tk_err_set(err, rc, "out of memory");
  if (rc) {
    json_decref(arr);
    return rc;
  }
  *out = arr;
  return 0;
}

int tk_hub_admin_quarantine_act(tk_office_t *home, const char *rev, int drop,
                                char hex_out[2 * TK_REV_ID_LEN + 1], tk_err_t *err)
{
  tk_store_t *st = tk_office_store(home);
  uint8_t id[TK_REV_ID_LEN];
  int rc = tk_store_quarantine_find(st, rev, id, err);
  if (!rc)
    rc = drop ? tk_store_quarantine_del(st, id, err)
              : tk_store_quarantine_release(st, id, err);
  if (!rc) tk_hex_encode(hex_out, id, TK_REV_ID_LEN);
  return rc;
}
