/*
 * hub_reconfig.c: a running hub takes a re-read config (tk_hub.h,
 * tk_hub_reconfigure; SIGHUP in tundukd). What the hub reads as it goes
 * changes at once: timeouts and frame limits for new connections, the
 * batch size for new sessions, attachment limits for the next push (a
 * batch carries a copy of the config it was checked with, so the store
 * thread never reads a config being replaced), the plugin call deadline
 * and worker count at the plugin reload that follows, the log level, the
 * address tokens carry. What was fixed when the hub started (the listening
 * socket, the TLS ticket keys, the store thread's queue, sized for the
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
  if (strcmp(next->listen, h->cfg.listen) != 0) {
    TK_LOG(TK_LOG_WARN, "hub",
           "config listen=%s needs a restart: the hub keeps listening on %s",
           next->listen, h->cfg.listen);
    waiting++;
  }
  if (next->log_level != h->cfg.log_level) {
    TK_LOG(TK_LOG_INFO, "hub", "config log_level=%s (was %s)",
           level_name(next->log_level), level_name(h->cfg.log_level));
    c.log_level = next->log_level;
    tk_log_level = next->log_level;
    changed++;
  }
  if (strcmp(next->plugins, h->cfg.plugins) != 0) {
    TK_LOG(TK_LOG_INFO, "hub", "config plugins=%s (was %s)",
           next->plugins[0] ? next->plugins : "HOME/plugins",
           h->cfg.plugins[0] ? h->cfg.plugins : "HOME/plugins");
    memcpy(c.plugins, next->plugins, sizeof c.plugins);
    changed++;
  }
  if (strcmp(next->public_address, h->cfg.public_address) != 0) {
    TK_LOG(TK_LOG_INFO, "hub", "config public_address=%s (was %s)",
           next->public_address[0] ? next->public_address : "listen",
           h->cfg.public_address[0] ? h->cfg.public_address : "listen");
    memcpy(c.public_address, next->public_address, sizeof c.public_address);
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
