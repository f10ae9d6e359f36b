/*
 * web.h: the office web UI (`tunduk ui`): a local web application for one
 * office's home folder, served on loopback only (README, "The web UI";
 * SECURITY.md, "The web UI").
 */
#ifndef TK_WEB_H
#define TK_WEB_H

#include <stdint.h>
#include <stdio.h>

#include "tk_office.h"

typedef struct tk_web_opts {
  uint16_t port;    /* 0: any free port */
  int no_browser;   /* do not start a browser */
  FILE *out;        /* where the launch line goes (stdout) */
  const char *home; /* the office's home folder, shown under Settings (may be NULL) */
} tk_web_opts_t;

/* Serves the office o (opened, locked) until SIGINT or SIGTERM: prints
 * "tunduk ui: http://127.0.0.1:PORT/launch?t=TOKEN" to opts->out, starts a
 * browser with it unless no_browser, and runs the loop. 0 on a clean stop;
 * TK_EIO naming the port when it cannot listen. The office is locked (keys
 * wiped) when it returns. */
int tk_web_run(tk_office_t *o, const tk_web_opts_t *opts, tk_err_t *err);

#endif
