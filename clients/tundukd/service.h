/*
 * service.h: `tundukd serve` as a systemd service (service.c): the
 * readiness protocol of sd_notify(3) (READY=1 once the hub listens, STATUS=
 * lines, RELOADING=1 around a SIGHUP, STOPPING=1), the watchdog ping from
 * the hub's own loop, and the passphrase from a systemd credential. Outside
 * systemd (no $NOTIFY_SOCKET, no $WATCHDOG_USEC, no $CREDENTIALS_DIRECTORY)
 * every call here does nothing.
 *
 * Threads: the loop's thread (the same as the hub's sessions), or main
 * before the loop runs.
 */
#ifndef TUNDUKD_SERVICE_H
#define TUNDUKD_SERVICE_H

#include <stddef.h>
#include <uv.h>

#include "tk_hub.h"

/* The credential's name in the unit: LoadCredential=tundukd-passphrase:FILE. */
#define SERVICE_CREDENTIAL "tundukd-passphrase"

/* Writes $CREDENTIALS_DIRECTORY/tundukd-passphrase into buf and returns 1
 * when that file exists; 0 when there is no credential (not under systemd,
 * or the unit loads none), and then buf is "". */
int service_credential(char *buf, size_t n);

/* STATUS=text (what `systemctl status` shows on its Status: line). */
void service_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The hub listens on listen: READY=1 and a status line; and when systemd
 * asks for a watchdog ($WATCHDOG_USEC, for this process), a timer on loop
 * that sends WATCHDOG=1 every half interval with the hub's session count in
 * the status. The timer runs on the hub's loop, so a loop that stalls stops
 * the pings and systemd kills and restarts the hub. 0, or a negative libuv
 * code when the timer cannot start (the hub runs on without a watchdog). */
int service_ready(uv_loop_t *loop, tk_hub_t *hub, const char *listen);

/* Around a reload (SIGHUP): RELOADING=1, then READY=1 when it is done. */
void service_reloading(void);
void service_reloaded(void);

/* The hub is stopping: STOPPING=1, and the watchdog timer is closed (the
 * loop can end). Safe to call more than once, and without service_ready. */
void service_stopping(void);

#endif
