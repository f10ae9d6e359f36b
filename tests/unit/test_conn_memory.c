/*
 * test_conn_memory.c: the seam tests and fuzzing use to drive the code above
 * a connection without a socket: memory connections (tk_conn_memory: sends go
 * to a sink, frames come from tk_conn_memory_deliver, the close/on_close
 * lifetime rules) and hub sessions on them (tk_hub_attach: the pre-auth pool
 * evicting its oldest, the pre-auth frame limit,
 * the real handlers answering, a stopping hub).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_conn.h"
#include "tk_hub.h"
#include "tk_test.h"
#include "tk_wire.h"

typedef struct rec {
  int readies, frames, closes, reason;
  int frame_done;     /* on_frame had returned when on_close ran */
  int close_in_frame; /* on_frame closes on "close" */
  int sent, sent_bytes;
  uint8_t spki[TK_HASH_LEN];
  char last[64];
  tk_frame_t *last_frame; /* decoded by the hub sink */
} rec_t;

static rec_t R;

static void m_ready(tk_conn_t *c, const uint8_t spki[TK_HASH_LEN])
{
  (void)c;
  R.readies++;
  memcpy(R.spki, spki, TK_HASH_LEN);
}

static void m_frame(tk_conn_t *c, tk_slice_t p)
{
  R.frames++;
  R.frame_done = 0;
  snprintf(R.last, sizeof R.last, "%.*s", (int)p.n, (const char *)p.p);
  CHECK_RC(tk_conn_send(c, TK_SLICE("echo", 4)), 0);
  if (p.n == 5 && memcmp(p.p, "close", 5) == 0) {
    tk_conn_close(c, TK_EPROTO, "asked to");
    CHECK(R.closes == 0); /* not yet: after this callback */
    CHECK_RC(tk_conn_send(c, TK_SLICE("late", 4)), TK_ECLOSED);
  }
  R.frame_done = 1;
}

static void m_close(tk_conn_t *c, int reason)
{
  R.closes++;
  R.reason = reason;
  CHECK(R.frames == 0 || R.frame_done);
  snprintf(R.last, sizeof R.last, "%s", tk_conn_error(c));
}

static int m_sink(void *ctx, tk_slice_t p)
{
  (void)ctx;
  R.sent++;
  R.sent_bytes += (int)p.n;
  return 0;
}

static const tk_conn_cbs_t cbs = {m_ready, m_frame, m_close, NULL};

static void memory_frames(void)
{
  tk_conn_t *c;
  uint8_t spki[TK_HASH_LEN];
  memset(&R, 0, sizeof R);
  memset(spki, 7, sizeof spki);
  CHECK_RC(tk_conn_memory(&cbs, NULL, 16, m_sink, NULL, &c, NULL), 0);
  CHECK_RC(tk_conn_memory_deliver(c, TK_SLICE("early", 5)), TK_EINVAL); /* no handshake */
  CHECK_RC(tk_conn_memory_ready(c, spki), 0);
  CHECK(R.readies == 1 && memcmp(R.spki, spki, TK_HASH_LEN) == 0);
  CHECK_RC(tk_conn_memory_ready(c, spki), TK_EINVAL);
  CHECK_RC(tk_conn_memory_deliver(c, TK_SLICE("hello", 5)), 0);
  CHECK(R.frames == 1 && strcmp(R.last, "hello") == 0 && R.sent == 1);
  /* the frame limit, both ways (16 bytes here) */
  CHECK_RC(tk_conn_send(c, TK_SLICE("0123456789abcdef", 16)), 0);
  CHECK_RC(tk_conn_send(c, TK_SLICE("0123456789abcdefg", 17)), TK_ELIMIT);
  CHECK(R.sent == 2 && tk_conn_bytes_out(c) == 20 && tk_conn_bytes_in(c) == 5);
  CHECK(tk_conn_write_queue(c) == 0);
  tk_conn_pause(c);
  CHECK_RC(tk_conn_memory_deliver(c, TK_SLICE("x", 1)), TK_EINVAL);
  tk_conn_resume(c);
  CHECK_RC(tk_conn_memory_deliver(c, TK_SLICE("x", 1)), 0);
  CHECK(R.frames == 2 && R.closes == 0);
  /* closed from on_frame: on_close runs once that returns, then c is gone */
  CHECK_RC(tk_conn_memory_deliver(c, TK_SLICE("close", 5)), TK_ECLOSED);
  CHECK(R.frames == 3 && R.closes == 1 && R.reason == TK_EPROTO);
  CHECK(strcmp(R.last, "asked to") == 0);
}

static void memory_close_outside(void)
{
  tk_conn_t *c;
  uint8_t spki[TK_HASH_LEN] = {0};
  memset(&R, 0, sizeof R);
  CHECK_RC(tk_conn_memory(&cbs, NULL, 0, m_sink, NULL, &c, NULL), 0);
  CHECK_RC(tk_conn_memory_ready(c, spki), 0);
  tk_conn_close(c, 0, NULL); /* outside a callback: on_close before it returns */
  CHECK(R.closes == 1 && R.reason == 0);

  /* framing rules: an empty frame and one over max_frame close */
  memset(&R, 0, sizeof R);
  CHECK_RC(tk_conn_memory(&cbs, NULL, 8, m_sink, NULL, &c, NULL), 0);
  CHECK_RC(tk_conn_memory_ready(c, spki), 0);
  CHECK_RC(tk_conn_memory_deliver(c, TK_SLICE("12345678", 8)), 0);
  CHECK_RC(tk_conn_memory_deliver(c, TK_SLICE("123456789", 9)), TK_ECLOSED);
  CHECK(R.frames == 1 && R.closes == 1 && R.reason == TK_ELIMIT);
  CHECK(strstr(R.last, "9 bytes over the limit 8") != NULL);
  memset(&R, 0, sizeof R);
  CHECK_RC(tk_conn_memory(&cbs, NULL, 8, m_sink, NULL, &c, NULL), 0);
  CHECK_RC(tk_conn_memory_ready(c, spki), 0);
  CHECK_RC(tk_conn_memory_deliver(c, TK_SLICE("", 0)), TK_ECLOSED);
  CHECK(R.frames == 0 && R.closes == 1 && R.reason == TK_EPROTO);

  CHECK_RC(tk_conn_memory(&cbs, NULL, TK_MAX_FRAME + 1, m_sink, NULL, &c, NULL),
           TK_EINVAL);
  CHECK_RC(tk_conn_memory(&cbs, NULL, 0, NULL, NULL, &c, NULL), TK_EINVAL);
}

/* ---- hub sessions on memory connections ----------------------------------------- */

static int hub_sink(void *ctx, tk_slice_t p)
{
  (void)ctx;
  R.sent++;
  tk_wire_free(R.last_frame);
  R.last_frame = tk_wire_decode(p);
  if (!R.last_frame) {
    fprintf(stderr, "hub_sink: the hub sent a frame that does not decode\n");
    tk_test_failed = 1;
  }
  return 0;
}

static tk_slice_t hello_of(const tk_identity_t *id, tk_buf_t *out)
{
  Tunduk__V1__Identity ident;
  uint8_t kx_sig[TK_SIG_LEN];
  if (tk_wire_identity(&ident, id, kx_sig) != 0) abort();
  Tunduk__V1__Hello m = TUNDUK__V1__HELLO__INIT;
  m.protocol_min = m.protocol_max = TK_PROTOCOL_VERSION;
  m.identity = &ident;
  m.software = (char *)"test";
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_HELLO;
  f.hello = &m;
  size_t n = tunduk__v1__frame__get_packed_size(&f);
  if (tk_buf_reserve(out, n) != 0) abort();
  tunduk__v1__frame__pack(&f, out->p);
  out->n = n;
  return TK_SLICE(out->p, n);
}

static void hub_attach(void)
{
  char home[512];
  tk_office_t *o = NULL;
  tk_hub_t *h = NULL;
  tk_identity_t *dev = NULL;
  tk_conn_t *c, *c2;
  tk_err_t e;
  tk_buf_t hello = TK_BUF_INIT;
  tk_config_t cfg;
  memset(&R, 0, sizeof R);
  snprintf(home, sizeof home, "%s/hub", tk_test_tmpdir());
  CHECK_RC(tk_office_create(home, "hub", "pw", 2, TK_KDF_INTERACTIVE, &e), 0);
  CHECK_RC(tk_office_open(&o, home, &e), 0);
  CHECK_RC(tk_office_unlock(o, "pw", 2, &e), 0);
  CHECK_RC(tk_identity_generate(&dev, "device", &e), 0);
  tk_config_defaults(&cfg);
  cfg.preauth_max_connections = 1;
  CHECK_RC(tk_hub_new(&h, NULL, o, &cfg, &e), 0);

  CHECK_RC(tk_hub_attach(h, hub_sink, NULL, dev->tls_spki_hash, &c2, &e), 0);
  CHECK(tk_hub_sessions(h) == 1);
  /* preauth_max_connections = 1: a second unauthenticated session is not
   * refused; it evicts the first (told ERROR_LIMIT, closed and freed) */
  CHECK_RC(tk_hub_attach(h, hub_sink, NULL, dev->tls_spki_hash, &c, &e), 0);
  CHECK(tk_hub_sessions(h) == 1);
  CHECK(R.sent == 1 && R.last_frame &&
        R.last_frame->msg_case == TUNDUK__V1__FRAME__MSG_ERROR &&
        R.last_frame->error->code == TUNDUK__V1__ERROR_CODE__ERROR_LIMIT);
  R.sent = 0;
  /* before its Hello is verified, a frame over TK_MAX_PREAUTH_FRAME closes it */
  {
    tk_buf_t big = TK_BUF_INIT;
    CHECK_RC(tk_buf_reserve(&big, TK_MAX_PREAUTH_FRAME + 1), 0);
    memset(big.p, 0, TK_MAX_PREAUTH_FRAME + 1);
    CHECK_RC(tk_conn_memory_deliver(c, TK_SLICE(big.p, TK_MAX_PREAUTH_FRAME + 1)),
             TK_ECLOSED);
    CHECK(tk_hub_sessions(h) == 0);
    tk_buf_free(&big);
  }
  CHECK_RC(tk_hub_attach(h, hub_sink, NULL, dev->tls_spki_hash, &c, &e), 0);
  CHECK(tk_hub_sessions(h) == 1);
  /* the real handlers: an unknown device is told it is not enrolled */
  CHECK_RC(tk_conn_memory_deliver(c, hello_of(dev, &hello)), 0);
  CHECK(R.sent == 1 && R.last_frame &&
        R.last_frame->msg_case == TUNDUK__V1__FRAME__MSG_HELLO);
  CHECK(R.last_frame && !R.last_frame->hello->enrolled);
  /* anything but Enroll now: ERROR_UNKNOWN_DEVICE, and the session ends */
  CHECK_RC(tk_conn_memory_deliver(c, hello_of(dev, &hello)), TK_ECLOSED);
  CHECK(R.last_frame && R.last_frame->msg_case == TUNDUK__V1__FRAME__MSG_ERROR);
  CHECK(R.last_frame &&
        R.last_frame->error->code == TUNDUK__V1__ERROR_CODE__ERROR_UNKNOWN_DEVICE);
  CHECK(tk_hub_sessions(h) == 0);

  /* a Hello whose key is not the TLS key: ERROR_IDENTITY */
  uint8_t other[TK_HASH_LEN];
  memset(other, 1, sizeof other);
  CHECK_RC(tk_hub_attach(h, hub_sink, NULL, other, &c, &e), 0);
  CHECK_RC(tk_conn_memory_deliver(c, hello_of(dev, &hello)), TK_ECLOSED);
  CHECK(R.last_frame &&
        R.last_frame->error->code == TUNDUK__V1__ERROR_CODE__ERROR_IDENTITY);

  /* ended by the caller; then a stopping hub takes no session */
  CHECK_RC(tk_hub_attach(h, hub_sink, NULL, dev->tls_spki_hash, &c, &e), 0);
  tk_conn_close(c, 0, NULL);
  CHECK(tk_hub_sessions(h) == 0);
  CHECK_RC(tk_hub_attach(h, hub_sink, NULL, dev->tls_spki_hash, &c, &e), 0);
  tk_hub_stop(h); /* tells the device and closes */
  CHECK(R.last_frame &&
        R.last_frame->error->code == TUNDUK__V1__ERROR_CODE__ERROR_SHUTDOWN);
  CHECK(tk_hub_sessions(h) == 0);
  CHECK_RC(tk_hub_attach(h, hub_sink, NULL, dev->tls_spki_hash, &c, &e), TK_ECLOSED);

  tk_wire_free(R.last_frame);
  R.last_frame = NULL;
  tk_buf_free(&hello);
  tk_hub_free(h);
  tk_identity_free(dev);
  tk_office_close(o);
}

TK_TESTS(TK_TEST(memory_frames), TK_TEST(memory_close_outside), TK_TEST(hub_attach))
