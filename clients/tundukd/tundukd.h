/*
 * tundukd.h: what main.c (the command line) shares with the files of
 * tundukd's own commands and services: status.c (`tundukd status`) and
 * metrics.c (the metrics endpoint of `serve`). Main thread only.
 */
#ifndef TUNDUKD_H
#define TUNDUKD_H

#include <uv.h>

#include "tk_hub.h"

/* `tundukd status [--json]`: asks the hub serving home through its
 * control socket and prints what it says. The exit code: 0, 3 when no hub
 * runs there (a message on stderr; with json also {"running": false} on
 * stdout), 1 when it could not be asked or refused. */
int tundukd_status(const char *home, int json);

/* Serves GET /metrics (tk_hub_metrics_text) on addr (loopback, checked by
 * the config) on the hub's loop, until tundukd_metrics_stop; logs and
 * tells the hub the address it listens on. 0 or TK_EIO. */
int tundukd_metrics_start(uv_loop_t *loop, tk_hub_t *hub, const char *addr,
                          tk_err_t *err);
/* Closes its handles (the loop then ends); after the loop has ended,
 * tundukd_metrics_free stops the HTTP server. Both safe when not started. */
void tundukd_metrics_stop(void);
void tundukd_metrics_free(void);

#endif
