/* test_token.c: enrollment token text form and address splitting. */
#include <string.h>

#include "tk_test.h"
#include "tk_token.h"

static void make(tk_token_t *t)
{
  memset(t, 0, sizeof *t);
  tk_random(t->hub_id, sizeof t->hub_id);
  tk_random(t->token_id, sizeof t->token_id);
  tk_random(t->secret, sizeof t->secret);
  t->expires = 1900000000;
  strcpy(t->addr, "hub.example.org:7420");
}

static void round_trip(void)
{
  tk_token_t t, u;
  char text[TK_TOKEN_MAX_TEXT];
  make(&t);
  CHECK_RC(tk_token_format(&t, text, sizeof text), 0);
  CHECK(strncmp(text, "tk1-", 4) == 0);
  char padded[TK_TOKEN_MAX_TEXT + 8];
  snprintf(padded, sizeof padded, "  %s\n", text);
  CHECK_RC(tk_token_parse(&u, padded, NULL), 0);
  CHECK(memcmp(&t, &u, sizeof t) == 0);
}

static void damaged(void)
{
  tk_token_t t, u;
  char text[TK_TOKEN_MAX_TEXT];
  tk_err_t e;
  make(&t);
  CHECK_RC(tk_token_format(&t, text, sizeof text), 0);
  size_t n = strlen(text);
  /* every truncation fails cleanly */
  for (size_t cut = 0; cut < n; cut++) {
    char tmp[TK_TOKEN_MAX_TEXT];
    memcpy(tmp, text, cut);
    tmp[cut] = '\0';
    CHECK(tk_token_parse(&u, tmp, &e) == TK_EFORMAT);
  }
  char bad[TK_TOKEN_MAX_TEXT];
  strcpy(bad, text);
  bad[10] = '*';
  CHECK_RC(tk_token_parse(&u, bad, &e), TK_EFORMAT);
  CHECK(strstr(e.msg, "base64") != NULL);
  CHECK_RC(tk_token_parse(&u, "tk2-AAAA", &e), TK_EFORMAT);
  char longer[TK_TOKEN_MAX_TEXT + 20];
  memset(longer, 'A', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  memcpy(longer, "tk1-", 4);
  CHECK_RC(tk_token_parse(&u, longer, &e), TK_EFORMAT);
  CHECK(strstr(e.msg, "longer") != NULL);
  /* a valid token, then spaces past the length limit, then garbage */
  char hidden[TK_TOKEN_MAX_TEXT * 2 + 64];
  memset(hidden, ' ', sizeof hidden);
  memcpy(hidden, text, strlen(text));
  memcpy(hidden + sizeof hidden - 8, "garbage", 8);
  CHECK_RC(tk_token_parse(&u, hidden, &e), TK_EFORMAT);
  /* trailing bytes after the address */
  char more[TK_TOKEN_MAX_TEXT + 8];
  snprintf(more, sizeof more, "%sAAAA", text);
  CHECK(tk_token_parse(&u, more, &e) == TK_EFORMAT);
}

static void addresses(void)
{
  char host[TK_TOKEN_MAX_ADDR + 1];
  int port;
  CHECK_RC(tk_addr_split("127.0.0.1:7420", host, &port), 0);
  CHECK(strcmp(host, "127.0.0.1") == 0 && port == 7420);
  CHECK_RC(tk_addr_split("[::1]:9", host, &port), 0);
  CHECK(strcmp(host, "::1") == 0 && port == 9);
  CHECK_RC(tk_addr_split("hub:0", host, &port), 0);
  CHECK(port == 0);
  CHECK_RC(tk_addr_split("hub:-1", host, &port), TK_EINVAL);
  CHECK_RC(tk_addr_split("hub:65536", host, &port), TK_EINVAL);
  CHECK_RC(tk_addr_split("hub", host, &port), TK_EINVAL);
  CHECK_RC(tk_addr_split(":80", host, &port), TK_EINVAL);
  CHECK_RC(tk_addr_split("hub:8x", host, &port), TK_EINVAL);
  CHECK_RC(tk_addr_split("[::1:80", host, &port), TK_EINVAL);
}

TK_TESTS(TK_TEST(round_trip), TK_TEST(damaged), TK_TEST(addresses))
