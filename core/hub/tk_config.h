/*
 * tk_config.h: the hub's settings: documented defaults, overridden by a
 * config file of "key = value" lines ('#' starts a comment). Every key is
 * typed and bounded; an unknown key, a duplicate, a bad value or a value
 * out of bounds is an error naming the file, line and key, and nothing of
 * that file is used. Threads: load once at start-up or on reload; the
 * struct is then read-only.
 */
#ifndef TK_CONFIG_H
#define TK_CONFIG_H

#include "tk_common.h"

#define TK_CONFIG_MAX_FILE (64u << 10)
#define TK_DEFAULT_PORT 7420

typedef struct tk_config {
  char listen[300];                 /* "host:port" */
  int log_level;                    /* TK_LOG_* */
  uint32_t handshake_timeout_ms;    /* TCP connect + TLS handshake */
  uint32_t idle_timeout_ms;         /* no byte received */
  uint32_t max_frame;               /* bytes of one frame payload */
  uint32_t max_connections;         /* open connections at once */
  uint32_t batch_bytes;             /* revision bytes offered in one batch */
  uint32_t token_ttl_hours;         /* how long an enrollment token is valid */
  uint32_t max_attachment_mb;       /* new attachment chunks one revision may name */
  uint32_t vault_quota_mb;          /* attachment chunks per vault; 0 = no quota */
  uint32_t frame_min_rate;          /* bytes/s a frame in progress must average */
  uint32_t tls_ticket_lifetime_s;   /* TLS session tickets; 0 = no resumption */
  uint32_t out_budget_mb;           /* output queued for all devices before frames wait */
  uint32_t auth_timeout_ms;         /* TCP accept -> verified Hello (or enrolled) */
  uint32_t preauth_max_connections; /* connections not yet authenticated, at once */
  uint32_t preauth_per_address;     /* of those, from one address (an IPv6 /64) */
  uint32_t plugin_workers;          /* jailed worker processes running the plugins */
  uint32_t plugin_call_ms;  /* wall clock per plugin call; past it + 250 ms: killed */
  char plugins[1024];       /* plugin folder; "" = the bundled plugins */
  char public_address[300]; /* "host:port" tokens carry; "" = listen */
  char metrics[300];        /* "host:port" on loopback for GET /metrics; "" = off */
} tk_config_t;

/* Fills c with the defaults. */
void tk_config_defaults(tk_config_t *c);
/* Applies the file at path over c. TK_ENOTFOUND, TK_EINVAL, TK_ELIMIT. */
int tk_config_load(tk_config_t *c, const char *path, tk_err_t *err);
/* Writes the documented defaults as a config file text (for `tundukd
 * config`, and the README). Returns a static string. */
const char *tk_config_template(void);

#endif
