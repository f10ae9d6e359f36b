/*
 * hub_reconfig.c: a running hub takes a re-read config (tk_hub.h,
 * tk_hub_reconfigure; SIGHUP in tundukd). What the hub reads as it goes
 * changes at once: timeouts and frame limits for new connections, the
 * batch size for new sessions, attachment limits for the next push (a
 * batch carries a copy of the config it was checked with, so the store
 * thread never reads a config being replaced), the plugin call deadline
 * and worker count at the plugin reload that follows, the log level, the
 * address tokens carry. What was fixed when the hub started (the listening
 * and metrics sockets, the TLS ticket keys, the store thread's queue, sized for the
 * connection limits) keeps its value until a restart, which is logged.
 * Loop thread only.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "hub_internal.h"

typedef struct live_key {
  const char *name;
  size_t off;
  int restart; /* 1: the new value waits for a restart */
} live_key_t;

#define K(f, r)                                                                          \
  {                                                                                      \
#f, offsetof(tk_config_t, f), r                                                      \
  }
static const live_key_t u32_keys[] = {
    K(handshake_timeout_ms, 0),    K(idle_timeout_ms, 0),     K(max_frame, 0),
    K(max_connections, 1),         K(batch_bytes, 0),         K(token_ttl_hours, 0),
    K(max_attachment_mb, 0),       K(vault_quota_mb, 0),      K(frame_min_rate, 0),
    K(tls_ticket_lifetime_s, 1),   K(out_budget_mb, 0),       K(auth_timeout_ms, 0),
    K(preauth_max_connections, 1), K(preauth_per_address, 0), K(plugin_workers, 0),
    K(plugin_call_ms, 0),
};
#undef K

/* The text keys: "" means unset, logged as `unset`. */
typedef struct str_key {
  const char *name, *unset;
  size_t off, size;
  int restart;
} str_key_t;
#define S(f, u, r)                                                                       \
  {                                                                                      \
#f, u, offsetof(tk_config_t, f), sizeof((tk_config_t *)0)->f, r                      \
  }
static const str_key_t str_keys[] = {
    S(listen, "", 1),
    S(metrics, "off", 1), /* its socket is bound at start */
    S(plugins, "HOME/plugins", 0),
    S(public_address, "listen", 0),
};
#undef S

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static const char *level_name(int l)
{
  return l >= 0 && l <= TK_LOG_DEBUG ? level_names[l] : "?";
}

int tk_hub_reconfigure(tk_hub_t *h, const tk_config_t *next)
{
  tk_config_t c = h->cfg; /* what runs from now on */
  int changed = 0, waiting = 0;
  for (size_t i = 0; i < sizeof u32_keys / sizeof u32_keys[0]; i++) {
    const live_key_t *k = &u32_keys[i];
    uint32_t was = *(const uint32_t *)(const void *)((const char *)&h->cfg + k->off);
    uint32_t now = *(const uint32_t *)(const void *)((const char *)next + k->off);
    if (was == now) continue;
    if (k->restart) {
      TK_LOG(TK_LOG_WARN, "hub",
             "config %s=%u is read at start only: %u stays until a restart", k->name, now,
             was);
      waiting++;
      continue;
    }
    *(uint32_t *)(void *)((char *)&c + k->off) = now;
    TK_LOG(TK_LOG_INFO, "hub", "config %s=%u (was %u)", k->name, now, was);
    changed++;
  }
  if (next->log_level != h->cfg.log_level) {
    TK_LOG(TK_LOG_INFO, "hub", "config log_level=%s (was %s)",
           level_name(next->log_level), level_name(h->cfg.log_level));
    c.log_level = next->log_level;
    tk_log_level = next->log_level;
    changed++;
  }
  for (size_t i = 0; i < sizeof str_keys / sizeof str_keys[0]; i++) {
    const str_key_t *k = &str_keys[i];
    const char *was = (const char *)&h->cfg + k->off, *now = (const char *)next + k->off;
    if (strcmp(was, now) == 0) continue;
    if (k->restart) {
      TK_LOG(TK_LOG_WARN, "hub",
             "config %s=%s is read at start only: %s stays until a restart", k->name,
             *now ? now : k->unset, *was ? was : k->unset);
      waiting++;
      continue;
    }
    TK_LOG(TK_LOG_INFO, "hub", "config %s=%s (was %s)", k->name, *now ? now : k->unset,
           *was ? was : k->unset);
    memcpy((char *)&c + k->off, now, k->size);
    changed++;
  }
  h->cfg = c;
  TK_LOG(TK_LOG_INFO, "hub", "config reloaded changed=%d need_restart=%d", changed,
         waiting);
  return changed;
}

const tk_config_t *tk_hub_config(const tk_hub_t *h)
{
  return &h->cfg;
}
