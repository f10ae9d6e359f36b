/* test_hub_lifecycle.c: the pure checks of hub_lifecycle.c: which token
 * addresses are of no use to an office elsewhere, and access specs that
 * name a vault twice. (The commands themselves: it_hub_lifecycle.) */
#include <stdio.h>
#include <string.h>

#include "tk_hub_admin.h"
#include "tk_test.h"

/* 1 if a token carrying token warns for a hub listening on listen; a
 * warning always says what to set. */
static int warns(const char *token, const char *listen)
{
  char why[600] = "";
  int w = tk_hub_token_addr_check(token, listen, why, sizeof why);
  if (w != (why[0] != '\0') || (w && !strstr(why, "public_address"))) {
    fprintf(stderr, "%s for %s: %d '%s'\n", token, listen, w, why);
    tk_test_failed = 1;
  }
  return w;
}

static void token_addresses(void)
{
  /* unspecified: never dialable, whatever the hub listens on */
  CHECK(warns("0.0.0.0:7420", "0.0.0.0:7420"));
  CHECK(warns("[::]:7420", "[::]:7420"));
  CHECK(warns("[0:0:0:0:0:0:0:0]:7420", "127.0.0.1:7420"));
  CHECK(warns("0.0.0.0:7420", "127.0.0.1:7420"));
  /* loopback: fine for a loopback hub (tests, make run), not for another */
  CHECK(!warns("127.0.0.1:7420", "127.0.0.1:7420"));
  CHECK(!warns("[::1]:7420", "127.0.0.5:7420"));
  CHECK(!warns("localhost:7420", "[::1]:7420"));
  CHECK(warns("127.0.0.1:7420", "0.0.0.0:7420"));
  CHECK(warns("127.1.2.3:7420", "192.0.2.10:7420"));
  CHECK(warns("[::1]:7420", "[::]:7420"));
  CHECK(warns("localhost:7420", "0.0.0.0:7420"));
  CHECK(warns("hub.localhost:7420", "0.0.0.0:7420"));
  /* real addresses and names */
  CHECK(!warns("hub.example.org:7420", "0.0.0.0:7420"));
  CHECK(!warns("192.0.2.10:7420", "0.0.0.0:7420"));
  CHECK(!warns("[2001:db8::1]:7420", "[::]:7420"));
  CHECK(!warns("notlocalhost:7420", "0.0.0.0:7420"));
  CHECK(!warns("128.0.0.1:7420", "0.0.0.0:7420"));
}

static void spec_unique(void)
{
  tk_err_t e;
  CHECK_RC(tk_hub_access_spec_unique("", &e), 0);
  CHECK_RC(tk_hub_access_spec_unique("a:r,b:rw,c", &e), 0);
  CHECK_RC(tk_hub_access_spec_unique("a,a:rw", &e), TK_EINVAL);
  CHECK(strstr(e.msg, "vault 'a' is named twice") != NULL);
  CHECK_RC(tk_hub_access_spec_unique("b:rw,a,b:r", &e), TK_EINVAL);
  CHECK(strstr(e.msg, "vault 'b' is named twice") != NULL);
  CHECK_RC(tk_hub_access_spec_unique("a:x", &e), TK_EINVAL);
  CHECK(strstr(e.msg, "the mode must be :r or :rw") != NULL);
  CHECK_RC(tk_hub_access_spec_unique("a b", &e), TK_EINVAL);
}

TK_TESTS(TK_TEST(token_addresses), TK_TEST(spec_unique))
