/*
 * test_tls_session.c: the office's saved TLS session, sealed at rest
 * (core/net/tls_session.c): a round trip; the text does not show the session;
 * it opens only for the same identity, hub address and hub id, before it
 * expires; any changed character, a truncated or padded text, a newer
 * version byte or a locked identity is refused with its own error and
 * nothing is appended.
 */
#include <stdlib.h>
#include <string.h>

#include "tk_test.h"
#include "tk_tls_session.h"

static tk_identity_t *me, *other;
static uint8_t hub[TK_DEVICE_ID_LEN], hub2[TK_DEVICE_ID_LEN];
static uint8_t sess[1500];
#define NOW 1800000000u
#define ADDR "hub.example.org:7420"

static int setup(void)
{
  tk_err_t err;
  if (tk_crypto_init() != 0) return -1;
  if (!me && tk_identity_generate(&me, "office", &err) != 0) return -1;
  if (!other && tk_identity_generate(&other, "other", &err) != 0) return -1;
  memset(hub, 0x11, sizeof hub);
  memset(hub2, 0x11, sizeof hub2);
  hub2[31] ^= 1;
  for (size_t i = 0; i < sizeof sess; i++)
    sess[i] = (uint8_t)(i * 31 + 7);
  return 0;
}

/* Sealed text for me, ADDR, hub, expiring at NOW + 100. */
static int seal(tk_buf_t *text)
{
  tk_err_t err;
  return tk_tls_session_seal(text, me, ADDR, hub, NOW + 100, TK_SLICE(sess, sizeof sess),
                             &err);
}

/* Opens text; on success it must be exactly sess. Returns the rc. */
static int open_as(const tk_identity_t *id, const char *addr, const uint8_t *hub_id,
                   uint64_t now, const char *text)
{
  tk_err_t err;
  tk_buf_t out = TK_BUF_INIT;
  int rc = tk_tls_session_open(&out, id, addr, hub_id, now, text, &err);
  if (rc == 0 && (out.n != sizeof sess || memcmp(out.p, sess, sizeof sess) != 0)) rc = 99;
  if (rc != 0 && rc != 99 && out.n != 0) rc = 98;  /* appended on failure */
  if (rc != 0 && rc != 99 && !err.msg[0]) rc = 97; /* no message */
  tk_buf_wipe(&out);
  return rc;
}

static void test_round_trip(void)
{
  tk_buf_t t = TK_BUF_INIT, t2 = TK_BUF_INIT;
  CHECK(setup() == 0);
  CHECK_RC(seal(&t), 0);
  const char *text = (const char *)t.p;
  CHECK(strlen(text) == t.n);
  CHECK(t.n == 2 * (1 + 8 + 24 + sizeof sess + 16));
  CHECK_RC(open_as(me, ADDR, hub, NOW, text), 0);
  CHECK_RC(open_as(me, ADDR, hub, NOW + 99, text), 0);
  /* The session bytes do not show through (hex of a 16-byte run of them). */
  char plain[33];
  tk_hex_encode(plain, sess + 100, 16);
  CHECK(strstr(text, plain) == NULL);
  /* A fresh nonce each time. */
  CHECK_RC(seal(&t2), 0);
  CHECK(strcmp((const char *)t2.p, text) != 0);
  tk_buf_free(&t);
  tk_buf_free(&t2);
}

static void test_bound(void)
{
  tk_buf_t t = TK_BUF_INIT;
  CHECK(setup() == 0);
  CHECK_RC(seal(&t), 0);
  const char *text = (const char *)t.p;
  CHECK_RC(open_as(me, "hub.example.org:7421", hub, NOW, text), TK_ETAG);
  CHECK_RC(open_as(me, "127.0.0.1:7420", hub, NOW, text), TK_ETAG);
  CHECK_RC(open_as(me, ADDR, hub2, NOW, text), TK_ETAG);
  CHECK_RC(open_as(other, ADDR, hub, NOW, text), TK_ETAG);
  CHECK_RC(open_as(me, ADDR, hub, NOW + 100, text), TK_ETIMEDOUT);
  CHECK_RC(open_as(me, ADDR, hub, NOW + 1000000, text), TK_ETIMEDOUT);
  /* A locked identity has no key. */
  tk_identity_t locked = *me;
  locked.sec = NULL;
  CHECK_RC(open_as(&locked, ADDR, hub, NOW, text), TK_ENOKEY);
  tk_buf_t t2 = TK_BUF_INIT;
  tk_err_t err;
  CHECK_RC(tk_tls_session_seal(&t2, &locked, ADDR, hub, NOW, TK_SLICE(sess, 10), &err),
           TK_ENOKEY);
  tk_buf_free(&t);
}

static void test_tampered(void)
{
  tk_buf_t t = TK_BUF_INIT;
  CHECK(setup() == 0);
  CHECK_RC(seal(&t), 0);
  char *text = (char *)t.p;
  /* Every character, changed to another hex digit: never opens. The
   * version and the expiry are bound too (associated data). */
  for (size_t i = 0; i < t.n; i++) {
    char was = text[i];
    text[i] = was == '0' ? '1' : '0';
    int rc = open_as(me, ADDR, hub, NOW, text);
    text[i] = was;
    if (i < 2)
      CHECK(rc == TK_EVERSION || rc == TK_ETAG);
    else if (i < 18)
      CHECK(rc == TK_ETAG || rc == TK_ETIMEDOUT);
    else
      CHECK_RC(rc, TK_ETAG);
  }
  CHECK_RC(open_as(me, ADDR, hub, NOW, text), 0);
  /* A newer format. */
  text[1] = '2';
  CHECK_RC(open_as(me, ADDR, hub, NOW, text), TK_EVERSION);
  text[1] = '1';
  /* Not hex, odd, truncated, padded, empty, too long. */
  text[40] = 'x';
  CHECK_RC(open_as(me, ADDR, hub, NOW, text), TK_EFORMAT);
  text[40] = '0';
  CHECK_RC(open_as(me, ADDR, hub, NOW, "abc"), TK_EFORMAT);
  CHECK_RC(open_as(me, ADDR, hub, NOW, ""), TK_EFORMAT);
  char *cut = strndup(text, t.n - 2);
  CHECK(cut != NULL);
  CHECK_RC(open_as(me, ADDR, hub, NOW, cut), TK_ETAG);
  cut[100] = '\0';
  CHECK_RC(open_as(me, ADDR, hub, NOW, cut), TK_ETAG);
  free(cut);
  char *pad = malloc(t.n + 3);
  CHECK(pad != NULL);
  memcpy(pad, text, t.n);
  memcpy(pad + t.n, "00", 3);
  CHECK_RC(open_as(me, ADDR, hub, NOW, pad), TK_ETAG);
  free(pad);
  char *huge = malloc(TK_TLS_SESSION_TEXT_MAX + 3);
  CHECK(huge != NULL);
  memset(huge, 'a', TK_TLS_SESSION_TEXT_MAX + 2);
  huge[TK_TLS_SESSION_TEXT_MAX + 2] = '\0';
  CHECK_RC(open_as(me, ADDR, hub, NOW, huge), TK_EFORMAT);
  free(huge);
  tk_buf_free(&t);
}

static void test_limits(void)
{
  tk_buf_t t = TK_BUF_INIT;
  tk_err_t err;
  static uint8_t big[TK_TLS_SESSION_MAX + 1];
  char addr[TK_TLS_SESSION_ADDR_MAX + 2];
  CHECK(setup() == 0);
  CHECK_RC(tk_tls_session_seal(&t, me, ADDR, hub, NOW, TK_SLICE(big, sizeof big), &err),
           TK_ELIMIT);
  CHECK_RC(tk_tls_session_seal(&t, me, ADDR, hub, NOW, TK_SLICE(big, 0), &err),
           TK_ELIMIT);
  memset(addr, 'a', sizeof addr - 1);
  addr[sizeof addr - 1] = '\0';
  CHECK_RC(tk_tls_session_seal(&t, me, addr, hub, NOW, TK_SLICE(sess, 10), &err),
           TK_ELIMIT);
  CHECK(t.n == 0);
  /* The largest session seals and opens. */
  CHECK_RC(tk_tls_session_seal(&t, me, ADDR, hub, NOW + 1, TK_SLICE(big, sizeof big - 1),
                               &err),
           0);
  CHECK(t.n == TK_TLS_SESSION_TEXT_MAX);
  tk_buf_t out = TK_BUF_INIT;
  CHECK_RC(tk_tls_session_open(&out, me, ADDR, hub, NOW, (const char *)t.p, &err), 0);
  CHECK(out.n == sizeof big - 1);
  tk_buf_wipe(&out);
  tk_buf_free(&t);
}

static void cleanup(void)
{
  tk_identity_free(me);
  tk_identity_free(other);
  me = other = NULL;
}

TK_TESTS(TK_TEST(test_round_trip), TK_TEST(test_bound), TK_TEST(test_tampered),
         TK_TEST(test_limits), TK_TEST(cleanup))
