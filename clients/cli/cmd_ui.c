/*
 * cmd_ui.c: `tunduk ui [--port N] [--no-browser]`, the office in a browser
 * (clients/web). The office opens locked and never asks on the terminal:
 * the page asks for the passphrase (TUNDUK_PASSPHRASE is not used).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "web.h"

int cmd_ui(cli_t *c)
{
  tk_web_opts_t opts;
  memset(&opts, 0, sizeof opts);
  if (c->port) {
    char *end;
    long p = strtol(c->port, &end, 10);
    if (*end || p < 1 || p > 65535)
      return cli_usage("--port takes a port number from 1 to 65535, not '%s'", c->port);
    opts.port = (uint16_t)p;
  }
  opts.no_browser = c->no_browser;
  opts.out = stdout;
  opts.home = c->home;
  int rc = cli_open(c, 0);
  if (rc) return cli_fail(c, rc);
  tk_office_set_unlock(c->office, NULL, NULL);
  rc = tk_web_run(c->office, &opts, &c->err);
  return rc ? cli_fail(c, rc) : EXIT_OK;
}
