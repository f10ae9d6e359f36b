/*
 * hub_lifecycle.c: the admin's device lifecycle and the daemon's habits
 * (tk_hub_admin.h, "lifecycle"): one `serve` per home (the lock file names
 * the pid holding it), unique device names, an enrolled device's access
 * changed in place, pending tokens listed and cancelled, devices renamed,
 * and the check of the address a token carries. The running hub sees every
 * change through the store (the access list version it polls). One thread
 * at a time per home.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "tk_hub_admin.h"
#include "tk_revision.h"

/* ---- one serve per home ------------------------------------------------------ */

int tk_hub_serve_lock(const char *home, int *fd, tk_err_t *err)
{
  char path[4096], text[32];
  int rc = tk_hub_lock(home, fd, err);
  if (rc == TK_EBUSY) {
    /* The holder wrote its pid; a lock of a process that died is gone with
     * it (flock), so a pid read here is a live holder (or a restore). */
    long pid = 0;
    if (tk_home_path(path, sizeof path, home, TK_HOME_HUB_LOCK, NULL) == 0) {
      int in = open(path, O_RDONLY | O_CLOEXEC);
      if (in >= 0) {
        ssize_t n = read(in, text, sizeof text - 1);
        close(in);
        if (n > 0) {
          text[n] = '\0';
          pid = strtol(text, NULL, 10);
        }
      }
    }
    if (pid > 0)
      return tk_err_set(err, TK_EBUSY,
                        "the hub in %s is already running (pid %ld holds %s); one "
                        "'tundukd serve' per home folder",
                        home, pid, path);
    return rc;
  }
  if (rc) return rc;
  int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
  if (ftruncate(*fd, 0) != 0 || pwrite(*fd, text, (size_t)n, 0) != n) {
    rc = tk_err_set(err, TK_EIO, "cannot write the pid into the lock file in %s: %s",
                    home, strerror(errno));
    close(*fd);
    *fd = -1;
  }
  return rc;
}

void tk_hub_serve_unlock(int fd)
{
  if (fd < 0) return;
  /* no pid left behind for a later reader to signal */
  if (ftruncate(fd, 0) != 0)
    TK_LOG(TK_LOG_WARN, "hub", "cannot empty the lock file: %s", strerror(errno));
  close(fd);
}

/* ---- finding a device -------------------------------------------------------- */

typedef struct find_ctx {
  const char *which;              /* as given */
  char want[TK_DEVICE_ID_STRLEN]; /* which without dashes, upper case */
  tk_device_info_t by_name, by_id;
  int names, ids;
} find_ctx_t;

static int find_cb(void *ctx, const tk_device_info_t *d)
{
  find_ctx_t *f = ctx;
  char s[TK_DEVICE_ID_STRLEN], plain[TK_DEVICE_ID_STRLEN];
  size_t n = 0;
  if (!d->revoked && strcasecmp(d->name, f->which) == 0) {
    f->by_name = *d;
    f->names++;
  }
  tk_device_id_format(s, d->id);
  for (const char *p = s; *p; p++)
    if (*p != '-') plain[n++] = *p;
  plain[n] = '\0';
  if (strlen(f->want) >= 4 && strncmp(plain, f->want, strlen(f->want)) == 0) {
    f->by_id = *d;
    f->ids++;
  }
  return 0;
}

int tk_hub_admin_device_find(tk_office_t *home, const char *which, tk_device_info_t *out,
                             tk_err_t *err)
{
  find_ctx_t f;
  size_t n = 0;
  memset(&f, 0, sizeof f);
  f.which = which;
  for (const char *p = which; *p && n + 1 < sizeof f.want; p++)
    if (*p != '-') f.want[n++] = (char)toupper((unsigned char)*p);
  int rc = tk_store_devices(tk_office_store(home), find_cb, &f, err);
  if (rc) return rc;
  if (f.names == 1) { /* names are unique among devices not revoked */
    *out = f.by_name;
    return 0;
  }
  if (f.ids == 1) {
    *out = f.by_id;
    return 0;
  }
  if (f.ids > 1)
    return tk_err_set(err, TK_EAMBIG, "device id '%s' is ambiguous (give more of it)",
                      which);
  if (n < 4)
    return tk_err_set(
        err, TK_ENOTFOUND,
        "no device named '%s' (give its name or at least 4 characters of its "
        "id; see 'tundukd device list')",
        which);
  return tk_err_set(err, TK_ENOTFOUND,
                    "no device named '%s', and no device id starts with it (see 'tundukd "
                    "device list')",
                    which);
}

/* ---- unique names ------------------------------------------------------------ */

typedef struct name_ctx {
  const char *name;
  const uint8_t *except;
  int64_t now;
  tk_err_t *err;
} name_ctx_t;

static int name_dev_cb(void *ctx, const tk_device_info_t *d)
{
  name_ctx_t *c = ctx;
  char id[TK_DEVICE_ID_STRLEN];
  if (d->revoked || strcasecmp(d->name, c->name) != 0) return 0;
  if (c->except && memcmp(c->except, d->id, TK_DEVICE_ID_LEN) == 0) return 0;
  tk_device_id_format(id, d->id);
  return tk_err_set(c->err, TK_EEXIST,
                    "the name '%s' is taken by device %s ('%s'); device names are unique "
                    "(to change what it may sync: 'tundukd device access %s ...')",
                    c->name, id, d->name, d->name);
}

static int name_tok_cb(void *ctx, const tk_token_info_t *t)
{
  name_ctx_t *c = ctx;
  char hex[2 * sizeof t->id + 1];
  if (t->used || t->expires < c->now || strcasecmp(t->name, c->name) != 0) return 0;
  tk_hex_encode(hex, t->id, sizeof t->id);
  return tk_err_set(c->err, TK_EEXIST,
                    "the name '%s' is taken by the pending token %s; device names are "
                    "unique (cancel it with 'tundukd device cancel %s')",
                    c->name, hex, hex);
}

int tk_hub_admin_name_free(tk_office_t *home, const char *name, const uint8_t *except,
                           tk_err_t *err)
{
  name_ctx_t c = {name, except, (int64_t)time(NULL), err};
  int rc = tk_store_devices(tk_office_store(home), name_dev_cb, &c, err);
  if (!rc) rc = tk_store_tokens(tk_office_store(home), name_tok_cb, &c, err);
  return rc;
}

/* ---- access specs ------------------------------------------------------------- */

/* The entries of a comma list ("a,b:rw"), each to fn with its vault name
 * (mode cut off) and mode (-1 none given, 0 :r, 1 :rw). */
static int each_entry(const char *list, int (*fn)(void *ctx, const char *vault, int mode),
                      void *ctx, tk_err_t *err)
{
  char buf[TK_HUB_ACCESS_MAX];
  if (strlen(list) >= sizeof buf)
    return tk_err_set(err, TK_ELIMIT, "access list is longer than %zu characters",
                      sizeof buf - 1);
  snprintf(buf, sizeof buf, "%s", list);
  char *save = NULL;
  for (char *e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
    int mode = -1;
    char *colon = strchr(e, ':');
    if (colon) {
      if (strcmp(colon, ":rw") == 0)
        mode = 1;
      else if (strcmp(colon, ":r") == 0)
        mode = 0;
      else
        return tk_err_set(err, TK_EINVAL, "access '%s': the mode must be :r or :rw", e);
      *colon = '\0';
    }
    int rc = fn(ctx, e, mode);
    if (rc) return rc;
  }
  return 0;
}

typedef struct dup_ctx {
  char seen[TK_HUB_MAX_VAULTS][TK_MAX_VAULT_LEN + 1];
  int n;
  tk_err_t *err;
} dup_ctx_t;

static int dup_cb(void *ctx, const char *vault, int mode)
{
  dup_ctx_t *d = ctx;
  (void)mode;
  int rc = tk_name_check("vault", vault, TK_MAX_VAULT_LEN, 1, d->err);
  if (rc) return rc;
  for (int i = 0; i < d->n; i++)
    if (strcmp(d->seen[i], vault) == 0)
      return tk_err_set(d->err, TK_EINVAL,
                        "vault '%s' is named twice; give each vault once (V for reading, "
                        "V:rw for reading and writing)",
                        vault);
  if (d->n == TK_HUB_MAX_VAULTS)
    return tk_err_set(d->err, TK_ELIMIT, "more than %d vaults for one device",
                      TK_HUB_MAX_VAULTS);
  snprintf(d->seen[d->n++], sizeof d->seen[0], "%s", vault);
  return 0;
}

int tk_hub_access_spec_unique(const char *spec, tk_err_t *err)
{
  dup_ctx_t *d = calloc(1, sizeof *d);
  if (!d) return tk_err_set(err, TK_ENOMEM, "out of memory");
  d->err = err;
  int rc = each_entry(spec, dup_cb, d, err);
  free(d);
  return rc;
}

/* Joins list[0..n) with commas into out. */
static int join(const char *const *list, int n, char out[TK_HUB_ACCESS_MAX],
                tk_err_t *err)
{
  out[0] = '\0';
  for (int i = 0; i < n; i++) {
    size_t len = strlen(out);
    if (len + strlen(list[i]) + 2 >= TK_HUB_ACCESS_MAX)
      return tk_err_set(err, TK_ELIMIT, "too many vaults for one device");
    snprintf(out + len, TK_HUB_ACCESS_MAX - len, "%s%s", len ? "," : "", list[i]);
  }
  return 0;
}

/* ---- a device's access -------------------------------------------------------- */

typedef struct change_ctx {
  tk_store_t *st;
  const uint8_t *id;
  const char *name;
  int remove;
  tk_err_t *err;
} change_ctx_t;

static int change_cb(void *ctx, const char *vault, int mode)
{
  change_ctx_t *c = ctx;
  if (!c->remove) return tk_store_access_set(c->st, c->id, vault, mode == 1, c->err);
  if (mode >= 0)
    return tk_err_set(c->err, TK_EINVAL,
                      "--remove takes a vault name without a mode, got '%s:%s'", vault,
                      mode ? "rw" : "r");
  int rc = tk_store_access_del(c->st, c->id, vault, c->err);
  if (rc == TK_ENOTFOUND)
    tk_err_set(c->err, rc, "device '%s' has no access to vault '%s' to remove", c->name,
               vault);
  return rc;
}

typedef struct spec_ctx {
  char *out;
} spec_ctx_t;

static int spec_cb(void *ctx, const char *vault, int write)
{
  spec_ctx_t *c = ctx;
  size_t n = strlen(c->out);
  if (n + strlen(vault) + 5 >= TK_HUB_ACCESS_MAX) return TK_ELIMIT;
  snprintf(c->out + n, TK_HUB_ACCESS_MAX - n, "%s%s%s", n ? "," : "", vault,
           write ? ":rw" : ":r");
  return 0;
}

int tk_hub_admin_access_list(tk_office_t *home, const uint8_t id[TK_DEVICE_ID_LEN],
                             char out[TK_HUB_ACCESS_MAX], tk_err_t *err)
{
  spec_ctx_t c = {out};
  out[0] = '\0';
  int rc = tk_store_access_list(tk_office_store(home), id, spec_cb, &c, err);
  if (rc == TK_ELIMIT) rc = tk_err_set(err, rc, "the access list is too long to show");
  return rc;
}

int tk_hub_admin_access(tk_office_t *home, const tk_hub_access_req_t *req,
                        tk_device_info_t *dev, char access[TK_HUB_ACCESS_MAX],
                        tk_err_t *err)
{
  char set[TK_HUB_ACCESS_MAX], del[TK_HUB_ACCESS_MAX], both[2 * TK_HUB_ACCESS_MAX + 1];
  tk_store_t *st = tk_office_store(home);
  if (!req->nvaults && !req->nremoves)
    return tk_err_set(err, TK_EINVAL, "give --vault V[:rw] or --remove V (or both)");
  int rc = join(req->vaults, req->nvaults, set, err);
  if (!rc) rc = join(req->removes, req->nremoves, del, err);
  if (rc) return rc;
  /* a vault named twice, also once to set and once to remove, is refused */
  snprintf(both, sizeof both, "%s%s%s", set, set[0] && del[0] ? "," : "", del);
  if (strlen(both) >= TK_HUB_ACCESS_MAX)
    return tk_err_set(err, TK_ELIMIT, "too many vaults for one device");
  rc = tk_hub_access_spec_unique(both, err);
  if (!rc) rc = tk_hub_admin_device_find(home, req->which, dev, err);
  if (rc) return rc;
  char id[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(id, dev->id);
  if (tk_ct_equal(dev->id, tk_office_identity(home)->id, TK_DEVICE_ID_LEN))
    return tk_err_set(err, TK_EINVAL, "device %s is the hub itself", id);
  if (dev->revoked)
    return tk_err_set(
        err, TK_EINVAL,
        "device %s ('%s') is revoked; a revoked device gets no access again", id,
        dev->name);
  change_ctx_t c = {st, dev->id, dev->name, 0, err};
  rc = tk_store_begin(st, err);
  if (rc) return rc;
  rc = each_entry(set, change_cb, &c, err);
  c.remove = 1;
  if (!rc) rc = each_entry(del, change_cb, &c, err);
  if (!rc) rc = tk_hub_admin_acl_bump(st, err);
  if (!rc)
    rc = tk_store_commit(st, err);
  else
    tk_store_rollback(st);
  if (!rc) rc = tk_hub_admin_access_list(home, dev->id, access, err);
  return rc;
}

/* ---- rename -------------------------------------------------------------------- */

int tk_hub_admin_rename(tk_office_t *home, const char *which, const char *name,
                        tk_device_info_t *dev, tk_err_t *err)
{
  if (!name[0] || strlen(name) >= sizeof dev->name)
    return tk_err_set(err, TK_EINVAL, "device name must be 1 to %zu bytes",
                      sizeof dev->name - 1);
  int rc = tk_hub_admin_device_find(home, which, dev, err);
  if (!rc) rc = tk_hub_admin_name_free(home, name, dev->id, err);
  if (!rc) rc = tk_store_device_rename(tk_office_store(home), dev->id, name, err);
  return rc;
}

/* ---- pending tokens ------------------------------------------------------------ */

typedef struct tok_ctx {
  json_t *arr;
  int64_t now;
  const char *want; /* cancel: a hex prefix, lower case */
  tk_token_info_t found;
  int pending, used;
} tok_ctx_t;

static int access_json(void *ctx, const char *vault, int mode)
{
  json_t *a = json_pack("{s:s,s:b}", "vault", vault, "write", mode == 1);
  return a && json_array_append_new(ctx, a) == 0 ? 0 : TK_ENOMEM;
}

static int tok_json_cb(void *ctx, const tk_token_info_t *t)
{
  tok_ctx_t *c = ctx;
  char hex[2 * sizeof t->id + 1];
  tk_err_t e;
  if (t->used) return 0;
  tk_hex_encode(hex, t->id, sizeof t->id);
  json_t *access = json_array();
  if (!access || each_entry(t->access, access_json, access, &e) != 0) {
    json_decref(access);
    return TK_ENOMEM;
  }
  json_t *o = json_pack("{s:s,s:s,s:o,s:I,s:I,s:b}", "id", hex, "name", t->name, "access",
                        access, "created", (json_int_t)t->created, "expires",
                        (json_int_t)t->expires, "expired", c->now > t->expires);
  return o && json_array_append_new(c->arr, o) == 0 ? 0 : TK_ENOMEM;
}

int tk_hub_admin_pending_tokens(tk_office_t *home, json_t **out, tk_err_t *err)
{
  tok_ctx_t c;
  memset(&c, 0, sizeof c);
  c.arr = json_array();
  c.now = (int64_t)time(NULL);
  *out = NULL;
  if (!c.arr) return tk_err_set(err, TK_ENOMEM, "out of memory");
  int rc = tk_store_tokens(tk_office_store(home), tok_json_cb, &c, err);
  if (rc == TK_ENOMEM) tk_err_set(err, rc, "out of memory");
  if (rc) {
    json_decref(c.arr);
    return rc;
  }
  *out = c.arr;
  return 0;
}

static int tok_find_cb(void *ctx, const tk_token_info_t *t)
{
  tok_ctx_t *c = ctx;
  char hex[2 * sizeof t->id + 1];
  tk_hex_encode(hex, t->id, sizeof t->id);
  if (strncasecmp(hex, c->want, strlen(c->want)) != 0) return 0;
  if (t->used) {
    c->used++;
    return 0;
  }
  c->found = *t;
  c->pending++;
  return 0;
}

int tk_hub_admin_token_cancel(tk_office_t *home, const char *prefix, tk_token_info_t *t,
                              tk_err_t *err)
{
  tok_ctx_t c;
  memset(&c, 0, sizeof c);
  c.want = prefix;
  size_t n = strlen(prefix);
  if (n < 4 || n > 32 || strspn(prefix, "0123456789abcdefABCDEF") != n)
    return tk_err_set(err, TK_EINVAL,
                      "give at least 4 hex digits of the token id (see 'tundukd device "
                      "tokens'), got '%s'",
                      prefix);
  int rc = tk_store_tokens(tk_office_store(home), tok_find_cb, &c, err);
  if (rc) return rc;
  if (c.pending > 1)
    return tk_err_set(err, TK_EAMBIG, "token id '%s' is ambiguous (give more of it)",
                      prefix);
  if (!c.pending && c.used)
    return tk_err_set(err, TK_EINVAL,
                      "token '%s' was already used: it enrolled a device (to refuse that "
                      "device: 'tundukd device revoke ID')",
                      prefix);
  if (!c.pending)
    return tk_err_set(err, TK_ENOTFOUND,
                      "no pending token '%s' (see 'tundukd device tokens')", prefix);
  *t = c.found;
  return tk_store_token_cancel(tk_office_store(home), c.found.id, err);
}

/* ---- the address a token carries ------------------------------------------------ */

/* 1 unspecified (0.0.0.0, ::), 2 loopback, 0 other. */
static int addr_kind(const char *addr)
{
  char host[TK_TOKEN_MAX_ADDR + 1];
  int port;
  struct in_addr a4;
  struct in6_addr a6;
  if (tk_addr_split(addr, host, &port) != 0) return 0;
  if (inet_pton(AF_INET, host, &a4) == 1) {
    uint32_t v = ntohl(a4.s_addr);
    return v == 0 ? 1 : (v >> 24) == 127 ? 2 : 0;
  }
  if (inet_pton(AF_INET6, host, &a6) == 1)
    return IN6_IS_ADDR_UNSPECIFIED(&a6) ? 1 : IN6_IS_ADDR_LOOPBACK(&a6) ? 2 : 0;
  size_t n = strlen(host);
  if (strcasecmp(host, "localhost") == 0 ||
      (n > 10 && strcasecmp(host + n - 10, ".localhost") == 0))
    return 2;
  return 0;
}

int tk_hub_token_addr_check(const char *token_addr, const char *listen, char *why,
                            size_t n)
{
  int kind = addr_kind(token_addr);
  if (kind == 1) {
    snprintf(why, n,
             "enrollment tokens carry %s, an address no office can dial; set "
             "public_address = HOST:PORT in the config (or give --address)",
             token_addr);
    return 1;
  }
  if (kind == 2 && addr_kind(listen) != 2) {
    snprintf(
        why, n,
        "enrollment tokens carry the loopback address %s while the hub listens on %s: "
        "offices on other machines cannot reach it; set public_address = HOST:PORT in "
        "the config (or give --address)",
        token_addr, listen);
    return 1;
  }
  return 0;
}
