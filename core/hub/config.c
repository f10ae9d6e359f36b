/*
 * config.c: the hub's typed, bounded settings (see tk_config.h).
 */
#include "tk_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_conn.h"
#include "tk_token.h"

typedef enum { KIND_U32, KIND_ADDR, KIND_LEVEL, KIND_PATH, KIND_LOOPBACK } kind_t;

typedef struct key_def {
  const char *name;
  kind_t kind;
  size_t offset;
  uint32_t min, max;
  const char *doc;
} key_def_t;

#define OFF(f) offsetof(tk_config_t, f)
/* Room in a frame for what wraps a batch of revisions (field tags, lengths). */
#define FRAME_SLACK 65536u

static const key_def_t keys[] = {
    {"listen", KIND_ADDR, OFF(listen), 0, 0, "address and port to listen on"},
    {"public_address", KIND_ADDR, OFF(public_address), 0, 0,
     "host:port offices dial, carried by enrollment tokens (default: listen)"},
    {"log_level", KIND_LEVEL, OFF(log_level), 0, 0, "error, warn, info or debug"},
    {"handshake_timeout_ms", KIND_U32, OFF(handshake_timeout_ms), 100, 600000,
     "TCP connect + TLS handshake must finish within this"},
    {"idle_timeout_ms", KIND_U32, OFF(idle_timeout_ms), 1000, 86400000,
     "close a connection that sent nothing for this long"},
    {"max_frame", KIND_U32, OFF(max_frame), TK_MAX_REVISION + FRAME_SLACK, TK_MAX_FRAME,
     "largest frame payload accepted, bytes"},
    {"max_connections", KIND_U32, OFF(max_connections), 1, 100000,
     "authenticated sessions at once; a device past it is refused at its Hello"},
    {"batch_bytes", KIND_U32, OFF(batch_bytes), 4096, 3u << 20,
     "revision bytes offered in one pull batch"},
    {"token_ttl_hours", KIND_U32, OFF(token_ttl_hours), 1, 24 * 365,
     "how long an enrollment token stays valid"},
    {"max_attachment_mb", KIND_U32, OFF(max_attachment_mb), 1, 1024,
     "attachments one revision adds, MiB (counted in whole 256 KiB chunks)"},
    {"vault_quota_mb", KIND_U32, OFF(vault_quota_mb), 0, 1u << 24,
     "attachments one vault may hold, MiB; 0: no quota"},
    {"frame_min_rate", KIND_U32, OFF(frame_min_rate), 64, 1u << 20,
     "bytes/s a frame in progress must average after the idle allowance"},
    {"out_budget_mb", KIND_U32, OFF(out_budget_mb), 1, 4096,
     "bytes queued for all devices together before arriving frames wait, MiB"},
    {"tls_ticket_lifetime_s", KIND_U32, OFF(tls_ticket_lifetime_s), 0,
     TK_TLS_TICKET_LIFETIME_MAX,
     "TLS session tickets (resumption) valid this long, s; 0: off"},
    {"auth_timeout_ms", KIND_U32, OFF(auth_timeout_ms), 1000, 600000,
     "TCP accept to a verified Hello (or enrollment) must take at most this"},
    {"preauth_max_connections", KIND_U32, OFF(preauth_max_connections), 1, 100000,
     "connections not yet authenticated at once; a new one past it evicts the oldest"},
    {"preauth_per_address", KIND_U32, OFF(preauth_per_address), 1, 100000,
     "of those, from one address (IPv6: one /64); past it a new one evicts that "
     "address's oldest"},
    {"plugin_workers", KIND_U32, OFF(plugin_workers), 1, 64,
     "jailed worker processes that run the moderation rules"},
    {"plugin_call_ms", KIND_U32, OFF(plugin_call_ms), 10, 60000,
     "wall clock one plugin call may take, ms; its worker is killed 250 ms later"},
    {"plugins", KIND_PATH, OFF(plugins), 0, 0,
     "the hub's own Lua plugins, over the bundled ones (default HOME/plugins)"},
    {"metrics", KIND_LOOPBACK, OFF(metrics), 0, 0,
     "loopback address:port serving GET /metrics (Prometheus text); default off"},
};

void tk_config_defaults(tk_config_t *c)
{
  memset(c, 0, sizeof *c);
  snprintf(c->listen, sizeof c->listen, "127.0.0.1:%d", TK_DEFAULT_PORT);
  c->log_level = TK_LOG_INFO;
  c->handshake_timeout_ms = 10000;
  c->idle_timeout_ms = 120000;
  c->max_frame = TK_MAX_FRAME;
  c->max_connections = 2000;
  c->batch_bytes = 1u << 20;
  c->token_ttl_hours = 72;
  c->max_attachment_mb = 1024;
  c->vault_quota_mb = 0;
  c->frame_min_rate = 1024;
  c->tls_ticket_lifetime_s = 3600;
  c->out_budget_mb = 16;
  c->auth_timeout_ms = 10000;
  c->preauth_max_connections = 512;
  c->preauth_per_address = 64;
  c->plugin_workers = 2;
  c->plugin_call_ms = 2000;
}

const char *tk_config_template(void)
{
  return "# tundukd configuration. Every line is optional; shown are the defaults.\n"
         "listen = 127.0.0.1:7420          # address:port ([v6]:port for IPv6)\n"
         "# public_address = hub.example.org:7420  # what tokens carry; default: listen\n"
         "log_level = info                 # error, warn, info, debug\n"
         "handshake_timeout_ms = 10000     # 100 .. 600000\n"
         "idle_timeout_ms = 120000         # 1000 .. 86400000\n"
         "max_frame = 4194304              # 2162688 .. 4194304 bytes\n"
         "max_connections = 2000           # 1 .. 100000: authenticated sessions\n"
         "batch_bytes = 1048576            # 4096 .. 3145728 bytes\n"
         "token_ttl_hours = 72             # 1 .. 8760\n"
         "max_attachment_mb = 1024         # 1 .. 1024: what one revision may attach\n"
         "vault_quota_mb = 0               # 0 .. 16777216: attachments per vault; 0 = "
         "none\n"
         "frame_min_rate = 1024            # 64 .. 1048576 bytes/s (slow senders)\n"
         "out_budget_mb = 16               # 1 .. 4096: queued for all devices before "
         "frames wait\n"
         "tls_ticket_lifetime_s = 3600     # 0 .. 604800: TLS session resumption; 0 = "
         "off\n"
         "auth_timeout_ms = 10000          # 1000 .. 600000: accept to verified Hello\n"
         "preauth_max_connections = 512    # 1 .. 100000: not yet authenticated; the "
         "oldest is evicted\n"
         "preauth_per_address = 64         # 1 .. 100000: of those from one address "
         "(IPv6 /64)\n"
         "plugin_workers = 2               # 1 .. 64: jailed processes running plugins\n"
         "plugin_call_ms = 2000            # 10 .. 60000: per plugin call; killed 250 ms "
         "later\n"
         "# plugins = /etc/tunduk/plugins  # own Lua plugins, over the bundled; default "
         "HOME/plugins\n"
         "# metrics = 127.0.0.1:9420       # GET /metrics (Prometheus) on loopback; "
         "default "
         "off\n";
}

static char *trim(char *s)
{
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1]))
    s[--n] = '\0';
  return s;
}

static int set_value(tk_config_t *c, const key_def_t *k, const char *v, const char *where,
                     tk_err_t *err)
{
  char *base = (char *)c + k->offset;
  switch (k->kind) {
  case KIND_U32: {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-')
      return tk_err_set(err, TK_EINVAL, "%s: %s must be a whole number, got '%s'", where,
                        k->name, v);
    if (x < k->min || x > k->max)
      return tk_err_set(err, TK_ELIMIT, "%s: %s must be between %u and %u, got %s", where,
                        k->name, k->min, k->max, v);
    *(uint32_t *)(void *)base = (uint32_t)x;
    return 0;
  }
  case KIND_ADDR: {
    char host[TK_TOKEN_MAX_ADDR + 1];
    int port;
    if (strlen(v) >= sizeof c->listen || tk_addr_split(v, host, &port) != 0)
      return tk_err_set(err, TK_EINVAL, "%s: %s must be host:port, got '%s'", where,
                        k->name, v);
    /* what a token carries must be dialable and fit the token */
    if (k->offset == OFF(public_address) && (port == 0 || strlen(v) > TK_TOKEN_MAX_ADDR))
      return tk_err_set(err, TK_EINVAL,
                        "%s: %s must be host:port with a port other than 0, at most %d "
                        "bytes, got '%s'",
                        where, k->name, TK_TOKEN_MAX_ADDR, v);
    snprintf(base, sizeof c->listen, "%s", v);
    return 0;
  }
  case KIND_LOOPBACK: {
    /* The metrics are not authenticated: loopback only (a proxy or an ssh
     * tunnel publishes them, if wanted). */
    char host[TK_TOKEN_MAX_ADDR + 1];
    int port;
    unsigned char a[16];
    int ok = strlen(v) < sizeof c->metrics && tk_addr_split(v, host, &port) == 0;
    int loop = ok && ((inet_pton(AF_INET, host, a) == 1 && a[0] == 127) ||
                      strcmp(host, "::1") == 0);
    if (!ok)
      return tk_err_set(err, TK_EINVAL, "%s: %s must be host:port, got '%s'", where,
                        k->name, v);
    if (!loop)
      return tk_err_set(
          err, TK_EINVAL,
          "%s: %s must be a loopback address (127.0.0.1:PORT or [::1]:PORT), "
          "got '%s': the metrics are not authenticated",
          where, k->name, v);
    snprintf(base, sizeof c->metrics, "%s", v);
    return 0;
  }
  case KIND_PATH:
    if (!*v || strlen(v) >= sizeof c->plugins)
      return tk_err_set(err, TK_ELIMIT, "%s: %s must be a path of 1 to %zu bytes", where,
                        k->name, sizeof c->plugins - 1);
    snprintf(base, sizeof c->plugins, "%s", v);
    return 0;
  case KIND_LEVEL: {
    int lvl = tk_log_level_parse(v);
    if (lvl < 0)
      return tk_err_set(err, TK_EINVAL,
                        "%s: %s must be error, warn, info or debug, got '%s'", where,
                        k->name, v);
    *(int *)(void *)base = lvl;
    return 0;
  }
  }
  return TK_EINVAL;
}

int tk_config_load(tk_config_t *c, const char *path, tk_err_t *err)
{
  tk_config_t next = *c;
  unsigned seen = 0;
  char line[1024];
  int lineno = 0, rc = 0;
  FILE *f = fopen(path, "r");
  if (!f)
    return tk_err_set(err, errno == ENOENT ? TK_ENOTFOUND : TK_EIO,
                      "cannot open config file %s: %s", path, strerror(errno));
  while (fgets(line, sizeof line, f)) {
    char where[600];
    lineno++;
    snprintf(where, sizeof where, "%s:%d", path, lineno);
    if (ftell(f) > (long)TK_CONFIG_MAX_FILE) {
      rc = tk_err_set(err, TK_ELIMIT, "%s: config file is larger than %u bytes", where,
                      TK_CONFIG_MAX_FILE);
      break;
    }
    if (!strchr(line, '\n') && !feof(f)) {
      rc = tk_err_set(err, TK_ELIMIT, "%s: line is longer than %zu bytes", where,
                      sizeof line - 2);
      break;
    }
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *s = trim(line);
    if (!*s) continue;
    char *eq = strchr(s, '=');
    if (!eq) {
      rc = tk_err_set(err, TK_EINVAL, "%s: expected 'key = value'", where);
      break;
    }
    *eq = '\0';
    char *key = trim(s), *val = trim(eq + 1);
    size_t k;
    for (k = 0; k < sizeof keys / sizeof keys[0]; k++)
      if (strcmp(keys[k].name, key) == 0) break;
    if (k == sizeof keys / sizeof keys[0]) {
      rc = tk_err_set(err, TK_EINVAL, "%s: unknown key '%s'", where, key);
      break;
    }
    if (seen & (1u << k)) {
      rc = tk_err_set(err, TK_EINVAL, "%s: '%s' is set twice", where, key);
      break;
    }
    seen |= 1u << k;
    rc = set_value(&next, &keys[k], val, where, err);
    if (rc) break;
  }
  if (!rc && ferror(f)) rc = tk_err_set(err, TK_EIO, "cannot read %s", path);
  fclose(f);
  /* a pull batch (or one revision bigger than it) must fit one frame */
  if (!rc && next.batch_bytes > next.max_frame - FRAME_SLACK)
    rc = tk_err_set(err, TK_ELIMIT,
                    "%s: batch_bytes (%u) must be at most max_frame - %u (%u), or its "
                    "batches cannot be sent",
                    path, next.batch_bytes, FRAME_SLACK, next.max_frame - FRAME_SLACK);
  if (!rc) *c = next;
  return rc;
}
