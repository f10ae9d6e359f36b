/* test_config.c: the hub's config file: defaults, overrides, and every
 * kind of error naming file, line and key without applying anything. */
#include <stdio.h>
#include <string.h>

#include "tk_config.h"
#include "tk_test.h"

static const char *write_file(const char *name, const char *text)
{
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", tk_test_tmpdir(), name);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  return path;
}

static void defaults_and_overrides(void)
{
  tk_config_t c;
  tk_config_defaults(&c);
  CHECK(strcmp(c.listen, "127.0.0.1:7420") == 0);
  CHECK(c.max_frame == 4u << 20);
  const char *p = write_file("ok.conf", "# comment\n\nlisten = 0.0.0.0:9000  # all\n"
                                        "log_level=debug\nidle_timeout_ms = 5000\n");
  CHECK_RC(tk_config_load(&c, p, NULL), 0);
  CHECK(strcmp(c.listen, "0.0.0.0:9000") == 0);
  CHECK(c.log_level == TK_LOG_DEBUG);
  CHECK(c.idle_timeout_ms == 5000);
  CHECK(c.handshake_timeout_ms == 10000);
  CHECK(c.public_address[0] == '\0'); /* tokens carry listen */
  p = write_file("pub.conf", "public_address = [2001:db8::1]:7420\n");
  CHECK_RC(tk_config_load(&c, p, NULL), 0);
  CHECK(strcmp(c.public_address, "[2001:db8::1]:7420") == 0);
}

static void template_parses(void)
{
  tk_config_t c, d;
  tk_config_defaults(&c);
  tk_config_defaults(&d);
  const char *p = write_file("tmpl.conf", tk_config_template());
  CHECK_RC(tk_config_load(&c, p, NULL), 0);
  CHECK(memcmp(&c, &d, sizeof c) == 0);
}

static void expect_error(const char *text, int code, const char *needle)
{
  tk_config_t c, before;
  tk_err_t e;
  tk_config_defaults(&c);
  before = c;
  const char *p = write_file("bad.conf", text);
  int rc = tk_config_load(&c, p, &e);
  if (rc != code || !strstr(e.msg, needle) || memcmp(&c, &before, sizeof c) != 0) {
    fprintf(stderr, "config '%s': rc %d msg '%s' (want %d, '%s')\n", text, rc, e.msg,
            code, needle);
    tk_test_failed = 1;
  }
}

static void errors(void)
{
  /* what a token carries must be dialable: a port, and a token's length */
  expect_error("# x\npublic_address = hub.example.org:0\n", TK_EINVAL,
               "bad.conf:2: public_address must be host:port with a port other than 0");
  expect_error("public_address = hub.example.org\n", TK_EINVAL,
               "bad.conf:1: public_address must be host:port");
  expect_error("listen = 1.2.3.4:80\nfoo = 1\n", TK_EINVAL,
               "bad.conf:2: unknown key 'foo'");
  expect_error("max_frame = 1\n", TK_ELIMIT, "bad.conf:1: max_frame must be between");
  /* a pull batch must fit a frame: batch_bytes <= max_frame - 64 KiB */
  expect_error("max_frame = 2162688\nbatch_bytes = 2097153\n", TK_ELIMIT,
               "batch_bytes (2097153) must be at most max_frame - 65536 (2097152)");
  expect_error("max_frame = 4194305\n", TK_ELIMIT, "max_frame");
  expect_error("max_frame = 65536x\n", TK_EINVAL, "whole number");
  expect_error("max_frame = -5\n", TK_EINVAL, "whole number");
  expect_error("listen = nowhere\n", TK_EINVAL, "host:port");
  expect_error("log_level = loud\n", TK_EINVAL, "log_level");
  expect_error("idle_timeout_ms = 5000\nidle_timeout_ms = 6000\n", TK_EINVAL,
               ":2: 'idle");
  expect_error("just words\n", TK_EINVAL, "key = value");
  tk_config_t c;
  tk_err_t e;
  tk_config_defaults(&c);
  CHECK_RC(tk_config_load(&c, "/nonexistent/tundukd.conf", &e), TK_ENOTFOUND);
}

static void limits(void)
{
  tk_config_t c;
  tk_err_t e;
  tk_config_defaults(&c);
  /* at the limit and one past it */
  CHECK_RC(tk_config_load(&c, write_file("a.conf", "max_frame = 4194304\n"), &e), 0);
  CHECK_RC(
      tk_config_load(
          &c, write_file("b.conf", "max_frame = 2162688\nbatch_bytes = 2097152\n"), &e),
      0); /* batch_bytes at its limit for this max_frame */
  CHECK_RC(tk_config_load(&c, write_file("b.conf", "max_frame = 65535\n"), &e),
           TK_ELIMIT);
  CHECK_RC(tk_config_load(&c, write_file("r.conf", "frame_min_rate = 64\n"), &e), 0);
  CHECK(c.frame_min_rate == 64);
  CHECK_RC(tk_config_load(&c, write_file("r.conf", "frame_min_rate = 63\n"), &e),
           TK_ELIMIT);
  CHECK(strstr(e.msg, "frame_min_rate must be between 64 and 1048576") != NULL);
  CHECK_RC(tk_config_load(&c, write_file("r.conf", "frame_min_rate = 1048576\n"), &e), 0);
  CHECK(c.frame_min_rate == 1048576);
  CHECK_RC(tk_config_load(&c, write_file("r.conf", "frame_min_rate = 1048577\n"), &e),
           TK_ELIMIT);
  CHECK(c.frame_min_rate == 1048576);
  /* TLS session tickets: on for an hour by default, 0 turns them off */
  tk_config_t d;
  tk_config_defaults(&d);
  CHECK(d.tls_ticket_lifetime_s == 3600);
  CHECK(d.out_budget_mb == 16);
  CHECK_RC(tk_config_load(&c, write_file("t.conf", "tls_ticket_lifetime_s = 0\n"), &e),
           0);
  CHECK(c.tls_ticket_lifetime_s == 0);
  CHECK_RC(
      tk_config_load(&c, write_file("t.conf", "tls_ticket_lifetime_s = 604800\n"), &e),
      0);
  CHECK(c.tls_ticket_lifetime_s == 604800);
  CHECK_RC(
      tk_config_load(&c, write_file("t.conf", "tls_ticket_lifetime_s = 604801\n"), &e),
      TK_ELIMIT);
  CHECK(strstr(e.msg, "tls_ticket_lifetime_s must be between 0 and 604800") != NULL);
  CHECK(c.tls_ticket_lifetime_s == 604800);
  /* pre-authentication: defaults, and each key at its bounds and one past */
  CHECK(d.auth_timeout_ms == 10000);
  CHECK(d.preauth_max_connections == 512);
  CHECK(d.preauth_per_address == 64);
  static const struct {
    const char *key;
    uint32_t lo, hi;
  } pre[] = {{"auth_timeout_ms", 1000, 600000},
             {"preauth_max_connections", 1, 100000},
             {"preauth_per_address", 1, 100000}};
  for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
    char line[128], want[160];
    uint32_t ok[2] = {pre[i].lo, pre[i].hi}, bad[2] = {pre[i].lo - 1, pre[i].hi + 1};
    for (int k = 0; k < 2; k++) {
      snprintf(line, sizeof line, "%s = %u\n", pre[i].key, ok[k]);
      CHECK_RC(tk_config_load(&c, write_file("p.conf", line), &e), 0);
      snprintf(line, sizeof line, "%s = %u\n", pre[i].key, bad[k]);
      CHECK_RC(tk_config_load(&c, write_file("p.conf", line), &e), TK_ELIMIT);
      snprintf(want, sizeof want, "%s must be between %u and %u", pre[i].key, pre[i].lo,
               pre[i].hi);
      CHECK(strstr(e.msg, want) != NULL);
    }
  }
  CHECK(c.auth_timeout_ms == 600000 && c.preauth_max_connections == 100000 &&
        c.preauth_per_address == 100000);
  char big[2048];
  memset(big, 'x', sizeof big - 2);
  big[sizeof big - 2] = '\n';
  big[sizeof big - 1] = '\0';
  CHECK_RC(tk_config_load(&c, write_file("c.conf", big), &e), TK_ELIMIT);
}

TK_TESTS(TK_TEST(defaults_and_overrides), TK_TEST(template_parses), TK_TEST(errors),
         TK_TEST(limits))
