/*
 * config.c (fuzz target "config"): tk_config_load on the input, written to
 * one fixed file per process (in $TMPDIR or /tmp). A file that loads must
 * give values inside every key's documented bounds; one that fails must
 * leave the struct untouched and say why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_fixture.h"
#include "tk_config.h"
#include "tk_conn.h"
#include "tk_token.h"

static char path[256];

static void cleanup(void)
{
  if (path[0]) unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tk_config_t c, before;
  tk_err_t e;
  fz_init();
  if (!path[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/tunduk-fuzz-config-%d.conf",
             tmp && *tmp ? tmp : "/tmp", (int)getpid());
    atexit(cleanup);
  }
  if (fz_write_file(path, data, size) != 0) abort();
  tk_config_defaults(&c);
  before = c;
  if (tk_config_load(&c, path, &e) == 0) {
    char host[TK_TOKEN_MAX_ADDR + 1];
    int port;
    TK_ASSERT(memchr(c.listen, 0, sizeof c.listen) &&
              memchr(c.plugins, 0, sizeof c.plugins));
    TK_ASSERT(tk_addr_split(c.listen, host, &port) == 0);
    TK_ASSERT(c.log_level >= TK_LOG_ERROR && c.log_level <= TK_LOG_DEBUG);
    TK_ASSERT(c.handshake_timeout_ms >= 100 && c.handshake_timeout_ms <= 600000);
    TK_ASSERT(c.idle_timeout_ms >= 1000 && c.idle_timeout_ms <= 86400000);
    TK_ASSERT(c.max_frame >= 65536 && c.max_frame <= TK_MAX_FRAME);
    TK_ASSERT(c.max_connections >= 1 && c.max_connections <= 100000);
    TK_ASSERT(c.batch_bytes >= 4096 && c.batch_bytes <= (3u << 20));
    TK_ASSERT(c.token_ttl_hours >= 1 && c.token_ttl_hours <= 24 * 365);
    TK_ASSERT(c.frame_min_rate >= 64 && c.frame_min_rate <= (1u << 20));
  } else {
    TK_ASSERT(e.code < 0 && e.msg[0]);
    TK_ASSERT(memcmp(&c, &before, sizeof c) == 0);
  }
  return 0;
}
