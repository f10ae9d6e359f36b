/*
 * hub_preauth.c: the hub's pool of connections that have not authenticated
 * yet. A connection enters it when it is accepted and leaves it when its
 * Hello is verified (a known device, not revoked, its identity bound to
 * the TLS key) or its enrollment succeeds; until then:
 *
 *   - it may send frames of at most TK_MAX_PREAUTH_FRAME bytes (a larger
 *     announced length closes it as soon as the header arrives);
 *   - it must get there within auth_timeout_ms of the accept (the pool is
 *     kept in accept order, so one timer for the oldest deadline serves
 *     all);
 *   - it holds one of preauth_max_connections places, and one of
 *     preauth_per_address for its address (an IPv6 /64). A new connection
 *     is never refused for want of a place: it evicts the oldest
 *     connection of its own address when that address is at its cap, else
 *     the oldest of the pool when the pool is full. Within either, one that
 *     has not sent a single byte (an idle TCP socket; bytes waiting in the
 *     socket count as sent, since a burst of accepts comes before any
 *     read) goes before any that is talking TLS. So a flood of sockets from one address
 * only evicts its own, and an office that connects and authenticates within its turn is
 *     always served.
 *
 * Authenticated sessions are counted apart (nauthed) against
 * max_connections: an unauthenticated flood never takes their places, and
 * a device past max_connections is refused at its Hello (ERROR_LIMIT).
 *
 * Evictions and timeouts are logged at debug one by one (with the peer's
 * address) and at info as a summary line at most once a second, with the
 * counters and without any address; the totals are logged when the hub
 * stops. Memory connections (tk_hub_attach) take part in the pool and its
 * frame limit, but have no deadline (no loop).
 *
 * Threads: the hub's loop thread only.
 */
#include "hub_internal.h"

#include <string.h>

#define PA_LOG_EVERY_MS 1000

static uint64_t now_ms(const tk_hub_t *h)
{
  return h->loop ? uv_now(h->loop) : 0;
}

static void pa_unlink(session_t *s)
{
  tk_hub_t *h = s->hub;
  if (!s->preauth) return;
  if (s->pa_prev)
    s->pa_prev->pa_next = s->pa_next;
  else
    h->pa_head = s->pa_next;
  if (s->pa_next)
    s->pa_next->pa_prev = s->pa_prev;
  else
    h->pa_tail = s->pa_prev;
  s->pa_prev = s->pa_next = NULL;
  s->preauth = 0;
  h->npreauth--;
}

/* The info line: counters only, at most once a second (a flood must not
 * become a flood of log lines). */
static void pa_log(tk_hub_t *h, int force)
{
  uint64_t now = now_ms(h);
  if (!force && (h->pa_unlogged == 0 ||
                 (h->pa_logged_ms != 0 && now - h->pa_logged_ms < PA_LOG_EVERY_MS)))
    return;
  const tk__hub_preauth_stats_t *p = &h->pa;
  TK_LOG(TK_LOG_INFO, "hub",
         "preauth %s=%llu evicted_pool=%llu evicted_address=%llu timed_out=%llu "
         "admitted=%llu authenticated=%llu refused_full=%llu open=%zu peak=%zu "
         "authed=%zu",
         force ? "totals events" : "events", (unsigned long long)h->pa_unlogged,
         (unsigned long long)p->evicted_pool, (unsigned long long)p->evicted_addr,
         (unsigned long long)p->timed_out, (unsigned long long)p->admitted,
         (unsigned long long)p->authenticated, (unsigned long long)p->refused_full,
         h->npreauth, p->peak, h->nauthed);
  h->pa_logged_ms = now ? now : 1;
  h->pa_unlogged = 0;
}

/* Closes a pre-authentication session that lost its place or its time.
 * A peer past its TLS handshake is told why (ERROR_LIMIT). */
static void pa_close(session_t *s, const char *why)
{
  tk_hub_t *h = s->hub;
  pa_unlink(s);
  TK_LOG(TK_LOG_DEBUG, "hub", "preauth closing peer=%s reason=\"%s\"",
         tk_conn_peer_addr(s->conn), why);
  if (s->state == S_HELLO || s->state == S_ENROLL)
    tk_sync_send_error(tk__hub_tp(s), TUNDUK__V1__ERROR_CODE__ERROR_LIMIT, "%s", why);
  s->state = S_CLOSING;
  h->pa_unlogged++;
  tk_conn_close(s->conn, TK_ELIMIT, why); /* a memory session is freed here */
  pa_log(h, 0);
}

/* The one to evict among the pool (source NULL) or one address: the
 * oldest that never sent a byte, else the oldest. */
static session_t *pa_victim(tk_hub_t *h, const char *source)
{
  session_t *oldest = NULL;
  for (session_t *p = h->pa_head; p; p = p->pa_next) {
    if (source && strcmp(tk_conn_peer_source(p->conn), source) != 0) continue;
    if (tk_conn_peer_silent(p->conn)) return p;
    if (!oldest) oldest = p;
  }
  return oldest;
}

/* Connections in the pool from source. */
static size_t pa_count(const tk_hub_t *h, const char *source)
{
  size_t n = 0;
  for (const session_t *p = h->pa_head; p; p = p->pa_next)
    n += strcmp(tk_conn_peer_source(p->conn), source) == 0;
  return n;
}

static void pa_arm(tk_hub_t *h);

static void pa_deadline(uv_timer_t *t)
{
  tk_hub_t *h = t->data;
  uint64_t now = uv_now(h->loop);
  for (session_t *p = h->pa_head, *next; p; p = next) {
    next = p->pa_next;
    if (!p->accepted_ms) continue; /* a memory session: no deadline */
    if (now - p->accepted_ms < h->cfg.auth_timeout_ms) break; /* accept order */
    h->pa.timed_out++;
    pa_close(p, "did not authenticate in time (auth_timeout_ms)");
  }
  pa_arm(h);
}

/* Arms the timer for the oldest deadline (the head's: accept order). */
static void pa_arm(tk_hub_t *h)
{
  if (!h->auth_timer_on || h->stopping) return;
  session_t *s = h->pa_head;
  while (s && !s->accepted_ms) /* memory sessions have none */
    s = s->pa_next;
  if (!s) {
    uv_timer_stop(&h->auth_timer);
    return;
  }
  uint64_t now = uv_now(h->loop), end = s->accepted_ms + h->cfg.auth_timeout_ms;
  uv_timer_start(&h->auth_timer, pa_deadline, end > now ? end - now : 0, 0);
}

void tk__hub_preauth_admit(tk_hub_t *h, session_t *s)
{
  const char *source = tk_conn_peer_source(s->conn);
  session_t *v;
  /* Room first (so the victim is never the new one), by address then in all. */
  if (pa_count(h, source) >= h->cfg.preauth_per_address &&
      (v = pa_victim(h, source)) != NULL) {
    h->pa.evicted_addr++;
    pa_close(v, "evicted: too many unauthenticated connections from one address");
  }
  if (h->npreauth >= h->cfg.preauth_max_connections) {
    v = pa_victim(h, NULL);
    if (v) {
      h->pa.evicted_pool++;
      pa_close(v, "evicted: too many unauthenticated connections");
    }
  }
  (void)tk_conn_set_recv_limit(s->conn, TK_MAX_PREAUTH_FRAME);
  s->preauth = 1;
  s->accepted_ms = now_ms(h);
  s->pa_prev = h->pa_tail;
  s->pa_next = NULL;
  if (h->pa_tail)
    h->pa_tail->pa_next = s;
  else
    h->pa_head = s;
  h->pa_tail = s;
  h->npreauth++;
  h->pa.admitted++;
  if (h->npreauth > h->pa.peak) h->pa.peak = h->npreauth;
  if (h->auth_timer_on && !uv_is_active((uv_handle_t *)&h->auth_timer)) pa_arm(h);
}

int tk__hub_preauth_room(const tk_hub_t *h)
{
  return h->nauthed < h->cfg.max_connections;
}

int tk__hub_preauth_done(session_t *s)
{
  tk_hub_t *h = s->hub;
  int was_head = h->pa_head == s;
  pa_unlink(s);
  if (was_head) pa_arm(h);
  if (!tk__hub_preauth_room(h)) {
    h->pa.refused_full++;
    TK_LOG(TK_LOG_WARN, "hub", "refusing device=%s: %zu authenticated sessions open",
           s->who, h->nauthed);
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_LIMIT, TK_ELIMIT,
                 "too many connections (max_connections)");
    return TK_ELIMIT;
  }
  s->authed = 1;
  h->nauthed++;
  h->pa.authenticated++;
  (void)tk_conn_set_recv_limit(s->conn, h->cfg.max_frame);
  return 0;
}

void tk__hub_preauth_leave(session_t *s)
{
  tk_hub_t *h = s->hub;
  int was_head = h->pa_head == s;
  pa_unlink(s);
  if (s->authed) {
    s->authed = 0;
    h->nauthed--;
  }
  if (was_head) pa_arm(h);
}

void tk__hub_preauth_start(tk_hub_t *h)
{
  uv_timer_init(h->loop, &h->auth_timer);
  h->auth_timer.data = h;
  h->auth_timer_on = 1;
  pa_arm(h);
}

void tk__hub_preauth_stop(tk_hub_t *h)
{
  if (h->auth_timer_on) {
    uv_timer_stop(&h->auth_timer);
    uv_close((uv_handle_t *)&h->auth_timer, NULL); /* the handle is in h */
  }
  if (h->pa.admitted) pa_log(h, 1);
}
