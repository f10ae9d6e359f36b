/*
 * service.c: tundukd under systemd (service.h). sd_notify(3) talks to the
 * socket named by $NOTIFY_SOCKET and is a no-op without it, so the same
 * binary runs from a terminal, a test or a unit. Why the watchdog timer is
 * on the hub's loop and not a thread of its own: a thread would go on
 * pinging while the loop, which does all the hub's I/O, is stuck; on the
 * loop, a stall of more than WatchdogSec= gets the hub killed and
 * restarted (Restart=on-failure).
 */
#include "service.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "tk_common.h"

static struct {
  uv_timer_t timer;
  int running; /* the timer was initialised and is not closed yet */
  tk_hub_t *hub;
  char listen[128];
} watchdog;

int service_credential(char *buf, size_t n)
{
  const char *dir = getenv("CREDENTIALS_DIRECTORY");
  buf[0] = '\0';
  /* systemd sets an absolute path; anything else is not its doing. */
  if (!dir || dir[0] != '/') return 0;
  int k = snprintf(buf, n, "%s/%s", dir, SERVICE_CREDENTIAL);
  if (k < 0 || (size_t)k >= n || access(buf, F_OK) != 0) {
    buf[0] = '\0';
    return 0;
  }
  return 1;
}

void service_status(const char *fmt, ...)
{
  char text[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  sd_notifyf(0, "STATUS=%s", text);
}

static void on_tick(uv_timer_t *t)
{
  (void)t;
  size_t n = tk_hub_sessions(watchdog.hub);
  sd_notifyf(0, "WATCHDOG=1\nSTATUS=serving on %s, %zu connection%s", watchdog.listen, n,
             n == 1 ? "" : "s");
}

int service_ready(uv_loop_t *loop, tk_hub_t *hub, const char *listen)
{
  uint64_t usec = 0;
  snprintf(watchdog.listen, sizeof watchdog.listen, "%s", listen);
  watchdog.hub = hub;
  sd_notifyf(0, "READY=1\nSTATUS=serving on %s", watchdog.listen);
  /* > 0 only when $WATCHDOG_USEC is set and $WATCHDOG_PID, if set, is us. */
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return 0;
  uint64_t ms = usec / 2000;
  if (ms == 0) ms = 1;
  int rc = uv_timer_init(loop, &watchdog.timer);
  if (rc) return rc;
  watchdog.running = 1;
  rc = uv_timer_start(&watchdog.timer, on_tick, 0, ms);
  if (rc) {
    uv_close((uv_handle_t *)&watchdog.timer, NULL);
    watchdog.running = 0;
    return rc;
  }
  TK_LOG(TK_LOG_INFO, "hub", "systemd watchdog every_ms=%llu", (unsigned long long)ms);
  return 0;
}

void service_reloading(void)
{
  /* MONOTONIC_USEC: what systemd 253's Type=notify-reload asks for beside RELOADING=1. */
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
             (unsigned long long)ts.tv_sec * 1000000ull +
                 (unsigned long long)ts.tv_nsec / 1000ull);
}

void service_reloaded(void)
{
  sd_notifyf(0, "READY=1\nSTATUS=serving on %s", watchdog.listen);
}

void service_stopping(void)
{
  sd_notify(0, "STOPPING=1\nSTATUS=stopping");
  if (watchdog.running) {
    uv_timer_stop(&watchdog.timer);
    uv_close((uv_handle_t *)&watchdog.timer, NULL);
    watchdog.running = 0;
  }
}
