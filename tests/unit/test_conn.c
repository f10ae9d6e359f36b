/*
 * test_conn.c: framed TLS connections (core/net/conn.c, core/net/tls.c) over real
 * sockets on 127.0.0.1 with a real libuv loop: echo of frames from 1 byte to
 * max_frame, bursts in order, both sides learning the other's SPKI hash,
 * the negotiated version and suite, the frame limit, garbage and silent
 * clients, handshake and idle timeouts, refused connects, raw mbedtls
 * clients that break the policy (no certificate, CBC suite, TLS 1.1),
 * pause/resume, and closing from inside on_frame. Every test closes every
 * handle and checks uv_loop_close() == 0; a watchdog closes everything if a
 * test hangs.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <mbedtls/net_sockets.h>

#include "tk_conn.h"
#include "tk_mbedtls_compat.h"
#include "tk_test.h"

#define MAXC 8
#define WATCHDOG_MS 8000

static tk_identity_t *id_srv, *id_cli;
static uv_loop_t loop;
static uv_timer_t watchdog;
static int watchdog_fired;
static tk_conn_t *live[32]; /* open connections, for the watchdog */

static int identities(void)
{
  tk_err_t err;
  signal(SIGPIPE, SIG_IGN); /* as every program using tk_conn must (tk_conn.h) */
  if (!id_srv && tk_identity_generate(&id_srv, "hub", &err) != 0) return -1;
  if (!id_cli && tk_identity_generate(&id_cli, "office", &err) != 0) return -1;
  return 0;
}

static void live_add(tk_conn_t *c)
{
  for (size_t i = 0; i < sizeof live / sizeof *live; i++)
    if (!live[i]) {
      live[i] = c;
      return;
    }
}

static void live_del(tk_conn_t *c)
{
  for (size_t i = 0; i < sizeof live / sizeof *live; i++)
    if (live[i] == c) live[i] = NULL;
}

/* Deterministic content: a frame's bytes depend on its index and size. */
static void fill(uint8_t *p, size_t n, size_t seed)
{
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)(seed * 7 + i * 13 + (i >> 9));
}

static int matches(tk_slice_t s, size_t n, size_t seed)
{
  if (s.n != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (s.p[i] != (uint8_t)(seed * 7 + i * 13 + (i >> 9))) return 0;
  return 1;
}

/* ---- server ----------------------------------------------------------------- */

typedef struct server {
  uv_tcp_t listener;
  int listening;
  tk_tls_t *tls;
  tk_conn_opts_t opts;
  int port;
  int stop_after; /* close the listener after this many connections closed */
  int accepted, readies, closes, frames;
  int reasons[MAXC];
  char msgs[MAXC][320];
  uint64_t accept_ms[MAXC], close_ms[MAXC];
  uint8_t spki[MAXC][TK_HASH_LEN];
  int ready[MAXC];
  int resumed[MAXC];
  char version[32], cipher[80];
  uint64_t bytes_in;
  int close_in_frame;   /* close from the first on_frame */
  int send_after_close; /* rc of tk_conn_send after that close */
  int pause_each;       /* pause after each frame, resume from a timer */
  size_t send_on_ready; /* a frame of this many bytes to the peer in on_ready */
  int frames_while_paused;
  int paused;
  tk_conn_t *pconn;
  uv_timer_t resume_timer;
} server_t;

/* Per-connection data: the server pointer, then the index. */
typedef struct sconn {
  server_t *s;
  int idx;
} sconn_t;

static void srv_stop(server_t *s)
{
  if (s->listening) {
    s->listening = 0;
    uv_close((uv_handle_t *)&s->listener, NULL);
  }
}

static void srv_ready(tk_conn_t *c, const uint8_t spki[TK_HASH_LEN])
{
  sconn_t *sc = tk_conn_data(c);
  server_t *s = sc->s;
  s->readies++;
  s->ready[sc->idx] = 1;
  memcpy(s->spki[sc->idx], spki, TK_HASH_LEN);
  s->resumed[sc->idx] = tk_conn_tls_resumed(c);
  snprintf(s->version, sizeof s->version, "%s", tk_conn_tls_version(c));
  snprintf(s->cipher, sizeof s->cipher, "%s", tk_conn_cipher(c));
  if (s->send_on_ready) {
    uint8_t *buf = malloc(s->send_on_ready);
    fill(buf, s->send_on_ready, 7);
    tk_conn_send(c, TK_SLICE(buf, s->send_on_ready));
    free(buf);
  }
}

static void resume_now(uv_timer_t *t)
{
  server_t *s = t->data;
  s->paused = 0;
  tk_conn_resume(s->pconn);
}

static void srv_frame(tk_conn_t *c, tk_slice_t payload)
{
  sconn_t *sc = tk_conn_data(c);
  server_t *s = sc->s;
  s->frames++;
  if (s->paused) s->frames_while_paused++;
  if (s->close_in_frame) {
    tk_conn_close(c, TK_EPROTO, "closed by the test from on_frame");
    s->send_after_close = tk_conn_send(c, payload);
    return;
  }
  tk_conn_send(c, payload); /* echo */
  if (s->pause_each) {
    s->paused = 1;
    s->pconn = c;
    tk_conn_pause(c);
    uv_timer_start(&s->resume_timer, resume_now, 2, 0);
  }
}

static void srv_close(tk_conn_t *c, int reason)
{
  sconn_t *sc = tk_conn_data(c);
  server_t *s = sc->s;
  s->reasons[sc->idx] = reason;
  snprintf(s->msgs[sc->idx], sizeof s->msgs[0], "%s", tk_conn_error(c));
  s->close_ms[sc->idx] = uv_now(&loop);
  s->bytes_in += tk_conn_bytes_in(c);
  s->closes++;
  live_del(c);
  free(sc);
  if (s->closes >= s->stop_after) srv_stop(s);
}

static const tk_conn_cbs_t srv_cbs = {srv_ready, srv_frame, srv_close, NULL};

static void on_connection(uv_stream_t *l, int status)
{
  server_t *s = l->data;
  tk_conn_t *c;
  tk_err_t err;
  if (status < 0 || s->accepted >= MAXC) return;
  sconn_t *sc = calloc(1, sizeof *sc);
  sc->s = s;
  sc->idx = s->accepted;
  s->accept_ms[sc->idx] = uv_now(&loop);
  if (tk_conn_accept(l, s->tls, &s->opts, &srv_cbs, sc, &c, &err) != 0) {
    fprintf(stderr, "accept: %s\n", tk_err_str(&err));
    free(sc);
    return;
  }
  s->accepted++;
  live_add(c);
}

static void watchdog_fire(uv_timer_t *t)
{
  server_t *s = t->data;
  watchdog_fired = 1;
  fprintf(stderr, "watchdog: test hung, closing everything\n");
  srv_stop(s);
  for (size_t i = 0; i < sizeof live / sizeof *live; i++)
    if (live[i]) tk_conn_close(live[i], TK_ETIMEDOUT, "watchdog");
}

/* A loop, a listener on an ephemeral port, the watchdog. 0 on success. */
static int srv_start(server_t *s, const tk_conn_opts_t *opts, int stop_after)
{
  tk_err_t err;
  struct sockaddr_in addr;
  struct sockaddr_storage ss;
  int len = sizeof ss;

  memset(s, 0, sizeof *s);
  memset(live, 0, sizeof live);
  watchdog_fired = 0;
  if (identities() != 0 || uv_loop_init(&loop) != 0) return -1;
  if (opts) s->opts = *opts;
  s->stop_after = stop_after;
  if (tk_tls_new(&s->tls, id_srv, 1, &err) != 0) return -1;
  uv_tcp_init(&loop, &s->listener);
  s->listener.data = s;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  if (uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0) != 0) return -1;
  if (uv_listen((uv_stream_t *)&s->listener, 16, on_connection) != 0) return -1;
  s->listening = 1;
  uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
  s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  uv_timer_init(&loop, &s->resume_timer);
  s->resume_timer.data = s;
  uv_timer_init(&loop, &watchdog);
  watchdog.data = s;
  uv_timer_start(&watchdog, watchdog_fire, WATCHDOG_MS, 0);
  uv_unref((uv_handle_t *)&watchdog);
  uv_unref((uv_handle_t *)&s->resume_timer);
  return 0;
}

static void walk_print(uv_handle_t *h, void *arg)
{
  fprintf(stderr, "left open: handle type %s\n", uv_handle_type_name(h->type));
}

/* Runs the loop to the end, closes the helpers; the loop must close. */
static int srv_finish(server_t *s)
{
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&watchdog, NULL);
  uv_close((uv_handle_t *)&s->resume_timer, NULL);
  srv_stop(s);
  uv_run(&loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop);
  if (rc != 0) uv_walk(&loop, walk_print, NULL);
  tk_tls_free(s->tls);
  s->tls = NULL;
  return rc == 0 && !watchdog_fired ? 0 : -1;
}

/* ---- client ----------------------------------------------------------------- */

typedef struct client {
  server_t *srv;
  tk_tls_t *tls;
  tk_conn_opts_t opts;
  tk_conn_t *c;
  const size_t *sizes; /* frames to send in on_ready, echoed back in order */
  size_t n;
  size_t got;
  int mismatch;
  int ready, closed, reason, drains;
  int send_empty_rc; /* rc of an empty send in on_ready */
  size_t queued_after_send;
  char msg[320];
  uint8_t spki[TK_HASH_LEN];
  char version[32], cipher[80];
  uint64_t bytes_in, bytes_out;
  void (*after_close)(struct client *);
  /* resumption */
  int resumed;
  int want_session; /* take the session in on_ready */
  int session_rc;
  tk_buf_t session;
  uint32_t lifetime;
  struct client *next; /* started when this one closes (start_next) */
} client_t;

static void cli_ready(tk_conn_t *c, const uint8_t spki[TK_HASH_LEN])
{
  client_t *k = tk_conn_data(c);
  k->ready = 1;
  memcpy(k->spki, spki, TK_HASH_LEN);
  k->resumed = tk_conn_tls_resumed(c);
  if (k->want_session) k->session_rc = tk_conn_tls_session(c, &k->session, &k->lifetime);
  snprintf(k->version, sizeof k->version, "%s", tk_conn_tls_version(c));
  snprintf(k->cipher, sizeof k->cipher, "%s", tk_conn_cipher(c));
  k->send_empty_rc = tk_conn_send(c, TK_SLICE("x", 0));
  size_t max = 0;
  for (size_t i = 0; i < k->n; i++)
    if (k->sizes[i] > max) max = k->sizes[i];
  uint8_t *buf = malloc(max ? max : 1);
  for (size_t i = 0; i < k->n; i++) {
    fill(buf, k->sizes[i], i);
    if (tk_conn_send(c, TK_SLICE(buf, k->sizes[i])) != 0) k->mismatch++;
  }
  free(buf);
  k->queued_after_send = tk_conn_write_queue(c);
  if (k->n == 0) tk_conn_close(c, 0, NULL);
}

static void cli_frame(tk_conn_t *c, tk_slice_t payload)
{
  client_t *k = tk_conn_data(c);
  if (k->got >= k->n || !matches(payload, k->sizes[k->got], k->got)) k->mismatch++;
  k->got++;
  if (k->got == k->n) tk_conn_close(c, 0, NULL);
}

static void cli_close(tk_conn_t *c, int reason)
{
  client_t *k = tk_conn_data(c);
  k->closed++;
  k->reason = reason;
  snprintf(k->msg, sizeof k->msg, "%s", tk_conn_error(c));
  k->bytes_in = tk_conn_bytes_in(c);
  k->bytes_out = tk_conn_bytes_out(c);
  live_del(c);
  k->c = NULL;
  if (k->after_close) k->after_close(k);
}

static void cli_drain(tk_conn_t *c)
{
  client_t *k = tk_conn_data(c);
  k->drains++;
}

static const tk_conn_cbs_t cli_cbs = {cli_ready, cli_frame, cli_close, cli_drain};

static int cli_start(client_t *k, server_t *s, const size_t *sizes, size_t n)
{
  tk_err_t err;
  k->srv = s;
  k->sizes = sizes;
  k->n = n;
  if (!k->tls && tk_tls_new(&k->tls, id_cli, 0, &err) != 0) return -1;
  if (tk_conn_connect(&loop, "127.0.0.1", s->port, k->tls, &k->opts, &cli_cbs, k, &k->c,
                      &err) != 0) {
    fprintf(stderr, "connect: %s\n", tk_err_str(&err));
    return -1;
  }
  live_add(k->c);
  return 0;
}

/* ---- plain TCP client (garbage, or silence) ---------------------------------- */

typedef struct plain {
  uv_tcp_t tcp;
  uv_connect_t creq;
  uv_write_t wreq;
  uint8_t data[4096];
  size_t ndata;
  char rbuf[4096];
  int closed;
  void (*after_close)(struct plain *);
  void *arg;
} plain_t;

static void plain_closed(uv_handle_t *h)
{
  plain_t *p = h->data;
  p->closed = 1;
  if (p->after_close) p->after_close(p);
}

static void plain_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
  plain_t *p = h->data;
  *b = uv_buf_init(p->rbuf, sizeof p->rbuf);
}

static void plain_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
  if (n < 0 && !uv_is_closing((uv_handle_t *)s)) uv_close((uv_handle_t *)s, plain_closed);
}

static void plain_written(uv_write_t *w, int status) {}

static void plain_connected(uv_connect_t *r, int status)
{
  plain_t *p = r->handle->data;
  if (status < 0) {
    uv_close((uv_handle_t *)&p->tcp, plain_closed);
    return;
  }
  if (p->ndata) {
    uv_buf_t b = uv_buf_init((char *)p->data, (unsigned)p->ndata);
    uv_write(&p->wreq, (uv_stream_t *)&p->tcp, &b, 1, plain_written);
  }
  uv_read_start((uv_stream_t *)&p->tcp, plain_alloc, plain_read);
}

static void plain_start(plain_t *p, int port)
{
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", port, &a);
  uv_tcp_init(&loop, &p->tcp);
  p->tcp.data = p;
  uv_tcp_connect(&p->creq, &p->tcp, (const struct sockaddr *)&a, plain_connected);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_echo_sizes(void)
{
  static const size_t sizes[] = {1, 16385, 1u << 20, TK_MAX_FRAME};
  server_t s;
  client_t k = {0};
  CHECK(srv_start(&s, NULL, 1) == 0);
  CHECK(cli_start(&k, &s, sizes, 4) == 0);
  CHECK(srv_finish(&s) == 0);
  tk_tls_free(k.tls);

  CHECK(k.ready && s.readies == 1);
  CHECK(k.mismatch == 0);
  CHECK(k.got == 4);
  CHECK(k.closed == 1 && k.reason == 0);
  CHECK(s.closes == 1 && s.reasons[0] == 0);
  /* Each side reports the other's key. */
  CHECK(memcmp(k.spki, id_srv->tls_spki_hash, TK_HASH_LEN) == 0);
  CHECK(memcmp(s.spki[0], id_cli->tls_spki_hash, TK_HASH_LEN) == 0);
  /* TLS 1.2, ECDHE-ECDSA, an AEAD. */
  CHECK(strcmp(k.version, "TLSv1.2") == 0);
  CHECK(strcmp(s.version, "TLSv1.2") == 0);
  CHECK(strcmp(k.cipher, s.cipher) == 0);
  CHECK(strncmp(k.cipher, "TLS-ECDHE-ECDSA-WITH-", 21) == 0);
  CHECK(strstr(k.cipher, "-GCM-") || strstr(k.cipher, "CHACHA20-POLY1305"));
  /* Byte counters include the frames and TLS overhead. */
  uint64_t payload = 1 + 16385 + (1u << 20) + TK_MAX_FRAME;
  CHECK(k.bytes_out > payload + 4 * 4 && k.bytes_in > payload + 4 * 4);
  CHECK(s.bytes_in >= k.bytes_out);
  CHECK(k.send_empty_rc == TK_EINVAL); /* an empty frame is refused */
  CHECK(k.queued_after_send >= payload);
  CHECK(k.drains >= 1);
}

static void test_burst_order(void)
{
  enum { N = 1000 };
  static size_t sizes[N];
  for (size_t i = 0; i < N; i++)
    sizes[i] = 1 + (i * 37) % 300;
  server_t s;
  client_t k = {0};
  CHECK(srv_start(&s, NULL, 1) == 0);
  CHECK(cli_start(&k, &s, sizes, N) == 0);
  CHECK(srv_finish(&s) == 0);
  tk_tls_free(k.tls);
  CHECK(k.mismatch == 0);
  CHECK(k.got == N);
  CHECK(s.frames == N);
  CHECK(k.reason == 0 && s.reasons[0] == 0);
}

static void test_pause_resume(void)
{
  enum { N = 40 };
  static size_t sizes[N];
  for (size_t i = 0; i < N; i++)
    sizes[i] = 100 + i * 500;
  server_t s;
  client_t k = {0};
  CHECK(srv_start(&s, NULL, 1) == 0);
  s.pause_each = 1;
  CHECK(cli_start(&k, &s, sizes, N) == 0);
  CHECK(srv_finish(&s) == 0);
  tk_tls_free(k.tls);
  CHECK(s.frames == N);
  CHECK(s.frames_while_paused == 0); /* no delivery while paused */
  CHECK(k.mismatch == 0 && k.got == N);
  CHECK(k.reason == 0);
}

/* Second client of the frame-limit test: within the limit, echoed. */
static client_t limit_second;
static const size_t limit_second_sizes[] = {1000};

static void limit_next(client_t *first)
{
  limit_second.opts.max_frame = 64u << 10;
  if (cli_start(&limit_second, first->srv, limit_second_sizes, 1) != 0)
    srv_stop(first->srv);
}

static void test_frame_limit(void)
{
  static const size_t sizes[] = {64u << 10, (64u << 10) + 1};
  tk_conn_opts_t opts = {.max_frame = 64u << 10};
  server_t s;
  client_t k = {0};
  memset(&limit_second, 0, sizeof limit_second);
  CHECK(srv_start(&s, &opts, 2) == 0);
  k.after_close = limit_next;
  CHECK(cli_start(&k, &s, sizes, 2) == 0);
  CHECK(srv_finish(&s) == 0);
  tk_tls_free(k.tls);
  tk_tls_free(limit_second.tls);

  CHECK(s.accepted == 2);
  CHECK(s.reasons[0] == TK_ELIMIT);
  CHECK(strstr(s.msgs[0], "frame of 65537 bytes over the limit 65536") != NULL);
  CHECK(k.closed == 1 && k.got <= 1 && k.mismatch == 0);
  /* The server kept serving. */
  CHECK(limit_second.got == 1 && limit_second.mismatch == 0);
  CHECK(limit_second.reason == 0 && s.reasons[1] == 0);
  CHECK(limit_second.closed == 1);
}

static void test_send_limits(void)
{
  /* The sender refuses what the receiver would: over max_frame. */
  static const size_t sizes[] = {10};
  server_t s;
  client_t k = {0};
  CHECK(srv_start(&s, NULL, 1) == 0);
  k.opts.max_frame = 1000;
  CHECK(cli_start(&k, &s, sizes, 1) == 0);
  uint8_t big[1001] = {0};
  CHECK_RC(tk_conn_send(k.c, TK_SLICE(big, 1001)), TK_ELIMIT);
  CHECK_RC(tk_conn_send(k.c, TK_SLICE(big, 0)), TK_EINVAL);
  CHECK(srv_finish(&s) == 0);
  tk_tls_free(k.tls);
  CHECK(k.got == 1 && k.mismatch == 0 && k.reason == 0);

  /* Options out of range are refused at once, with no callback. */
  tk_err_t err;
  tk_tls_t *tls;
  tk_conn_t *c = (tk_conn_t *)1;
  tk_conn_opts_t bad = {.max_frame = TK_MAX_FRAME + 1};
  CHECK(uv_loop_init(&loop) == 0);
  CHECK_RC(tk_tls_new(&tls, id_cli, 0, &err), 0);
  client_t k2 = {0};
  CHECK_RC(tk_conn_connect(&loop, "127.0.0.1", 1, tls, &bad, &cli_cbs, &k2, &c, &err),
           TK_EINVAL);
  CHECK(c == NULL);
  CHECK_RC(tk_conn_connect(&loop, "127.0.0.1", 0, tls, NULL, &cli_cbs, &k2, &c, &err),
           TK_EINVAL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(k2.closed == 0);
  CHECK(uv_loop_close(&loop) == 0);
  tk_tls_free(tls);
}

static client_t after_garbage;
static const size_t after_garbage_sizes[] = {5, 70000};

static void garbage_next(plain_t *p)
{
  if (cli_start(&after_garbage, p->arg, after_garbage_sizes, 2) != 0) srv_stop(p->arg);
}

static void test_garbage_client(void)
{
  server_t s;
  static plain_t p;
  memset(&p, 0, sizeof p);
  memset(&after_garbage, 0, sizeof after_garbage);
  CHECK(srv_start(&s, NULL, 2) == 0);
  memcpy(p.data, "GET / HTTP/1.1\r\n", 16);
  tk_random(p.data + 16, sizeof p.data - 16);
  p.ndata = sizeof p.data;
  p.after_close = garbage_next;
  p.arg = &s;
  plain_start(&p, s.port);
  CHECK(srv_finish(&s) == 0);
  tk_tls_free(after_garbage.tls);
  CHECK(p.closed);
  CHECK(s.accepted == 2);
  CHECK(s.reasons[0] == TK_EPROTO);
  CHECK(strstr(s.msgs[0], "TLS handshake with 127.0.0.1:") != NULL);
  CHECK(!s.ready[0]);
  CHECK(after_garbage.got == 2 && after_garbage.mismatch == 0);
  CHECK(after_garbage.reason == 0 && s.reasons[1] == 0);
}

static void test_handshake_timeout(void)
{
  tk_conn_opts_t opts = {.handshake_timeout_ms = 200};
  server_t s;
  static plain_t p;
  memset(&p, 0, sizeof p);
  CHECK(srv_start(&s, &opts, 1) == 0);
  plain_start(&p, s.port); /* connects, says nothing */
  CHECK(srv_finish(&s) == 0);
  CHECK(p.closed);
  CHECK(s.closes == 1);
  CHECK(s.reasons[0] == TK_ETIMEDOUT);
  CHECK(strstr(s.msgs[0], "did not finish within 200 ms") != NULL);
  uint64_t took = s.close_ms[0] - s.accept_ms[0];
  CHECK(took >= 195 && took < 3000);
}

/* The idle test: the client sends one frame every 100 ms for 6 rounds
 * (longer than the 250 ms idle limit in total), then falls silent. */
typedef struct idle_client {
  client_t k;
  uv_timer_t tick;
  int rounds;
} idle_client_t;

static void idle_tick(uv_timer_t *t)
{
  idle_client_t *ic = t->data;
  if (ic->k.c && ic->rounds < 6) {
    tk_conn_send(ic->k.c, TK_SLICE("ping", 4));
    ic->rounds++;
  } else {
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, NULL);
  }
}

static void idle_ready(tk_conn_t *c, const uint8_t spki[TK_HASH_LEN])
{
  client_t *k = tk_conn_data(c);
  k->ready = 1;
}

static void idle_frame(tk_conn_t *c, tk_slice_t payload)
{
  client_t *k = tk_conn_data(c);
  k->got++;
}

static void test_idle_timeout(void)
{
  tk_conn_opts_t opts = {.idle_timeout_ms = 250};
  static const tk_conn_cbs_t cbs = {idle_ready, idle_frame, cli_close, NULL};
  server_t s;
  idle_client_t ic;
  tk_err_t err;
  memset(&ic, 0, sizeof ic);
  CHECK(srv_start(&s, &opts, 1) == 0);
  CHECK_RC(tk_tls_new(&ic.k.tls, id_cli, 0, &err), 0);
  CHECK_RC(tk_conn_connect(&loop, "127.0.0.1", s.port, ic.k.tls, NULL, &cbs, &ic.k,
                           &ic.k.c, &err),
           0);
  live_add(ic.k.c);
  uv_timer_init(&loop, &ic.tick);
  ic.tick.data = &ic;
  uv_timer_start(&ic.tick, idle_tick, 100, 100);
  CHECK(srv_finish(&s) == 0);
  tk_tls_free(ic.k.tls);
  CHECK(ic.rounds == 6);
  CHECK(ic.k.got == 6); /* the traffic kept the connection alive */
  CHECK(s.reasons[0] == TK_ETIMEDOUT);
  CHECK(strstr(s.msgs[0], "no data from 127.0.0.1:") != NULL);
  CHECK(strstr(s.msgs[0], "for 250 ms") != NULL);
  uint64_t took = s.close_ms[0] - s.accept_ms[0];
  CHECK(took >= 600 + 250 - 10);
  CHECK(ic.k.closed == 1 && ic.k.reason == 0); /* the server said close_notify */
}

static void test_connect_refused(void)
{
  struct sockaddr_in a;
  struct sockaddr_storage ss;
  int len = sizeof ss;
  uv_tcp_t t;
  tk_err_t err;
  tk_tls_t *tls;
  char want[96];

  CHECK(identities() == 0);
  CHECK(uv_loop_init(&loop) == 0);
  /* A port that was free a moment ago and has no listener now. */
  uv_tcp_init(&loop, &t);
  uv_ip4_addr("127.0.0.1", 0, &a);
  CHECK(uv_tcp_bind(&t, (const struct sockaddr *)&a, 0) == 0);
  uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
  int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);

  CHECK_RC(tk_tls_new(&tls, id_cli, 0, &err), 0);
  client_t k = {0}, kn = {0}, kc = {0};
  CHECK_RC(tk_conn_connect(&loop, "127.0.0.1", port, tls, NULL, &cli_cbs, &k, &k.c, &err),
           0);
  /* The same through the resolver. */
  CHECK_RC(
      tk_conn_connect(&loop, "localhost", port, tls, NULL, &cli_cbs, &kn, &kn.c, &err),
      0);
  /* Closed while resolving: on_close once, with the given reason. */
  CHECK_RC(
      tk_conn_connect(&loop, "localhost", port, tls, NULL, &cli_cbs, &kc, &kc.c, &err),
      0);
  tk_conn_close(kc.c, TK_ECLOSED, "given up");
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  tk_tls_free(tls);

  snprintf(want, sizeof want, "cannot connect to 127.0.0.1:%d: connection refused", port);
  CHECK(k.closed == 1 && !k.ready);
  CHECK(k.reason == TK_EIO);
  CHECK(strcmp(k.msg, want) == 0);
  snprintf(want, sizeof want, "cannot connect to localhost:%d: connection refused", port);
  CHECK(kn.closed == 1 && kn.reason == TK_EIO);
  CHECK(strcmp(kn.msg, want) == 0);
  CHECK(kc.closed == 1 && kc.reason == TK_ECLOSED && strcmp(kc.msg, "given up") == 0);
}

static void test_close_in_frame(void)
{
  enum { N = 50 };
  static size_t sizes[N];
  for (size_t i = 0; i < N; i++)
    sizes[i] = 20 + i;
  server_t s;
  client_t k = {0};
  CHECK(srv_start(&s, NULL, 1) == 0);
  s.close_in_frame = 1;
  CHECK(cli_start(&k, &s, sizes, N) == 0);
  CHECK(srv_finish(&s) == 0);
  tk_tls_free(k.tls);
  CHECK(s.frames == 1); /* nothing delivered after the close */
  CHECK(s.send_after_close == TK_ECLOSED);
  CHECK(s.closes == 1 && s.reasons[0] == TK_EPROTO);
  CHECK(strcmp(s.msgs[0], "closed by the test from on_frame") == 0);
  CHECK(k.closed == 1 && k.got == 0);
}

/* ---- raw mbedtls clients (a thread with a blocking socket) ------------------ */

typedef struct raw {
  int port;
  int with_cert;
  int suite;        /* 0: mbedtls defaults */
  int max_minor;    /* 0: default; else the highest TLS 1.x minor version + 1 */
  const char *send; /* written after the handshake (n bytes) */
  size_t nsend;
  int no_notify; /* close the socket without close_notify */
  /* after the handshake: read slow_chunk bytes every slow_ms until
   * slow_total arrived (a slow reader), or read nothing for idle_ms */
  size_t slow_chunk, slow_total, slow_got;
  int slow_ms, idle_ms;
  int hs_rc;
} raw_t;

static int raw_send(void *ctx, const unsigned char *p, size_t n)
{
  ssize_t w = send(*(int *)ctx, p, n, MSG_NOSIGNAL);
  return w < 0 ? MBEDTLS_ERR_NET_SEND_FAILED : (int)w;
}

static int raw_recv(void *ctx, unsigned char *p, size_t n)
{
  ssize_t r = recv(*(int *)ctx, p, n, 0);
  return r < 0 ? MBEDTLS_ERR_NET_RECV_FAILED : (int)r;
}

static void *raw_client(void *arg)
{
  raw_t *r = arg;
  mbedtls_ssl_config conf;
  mbedtls_ssl_context ssl;
  mbedtls_x509_crt crt;
  mbedtls_pk_context key;
  int suites[2] = {r->suite, 0};
  struct sockaddr_in a = {0};
  struct timeval tv = {5, 0};

  mbedtls_ssl_config_init(&conf);
  mbedtls_ssl_init(&ssl);
  mbedtls_x509_crt_init(&crt);
  mbedtls_pk_init(&key);
  r->hs_rc = -1;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)r->port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (r->slow_chunk || r->idle_ms) { /* a small window: the sender feels the pace */
    int rb = 16384;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb);
  }
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) goto done;
  mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                              MBEDTLS_SSL_PRESET_DEFAULT);
  mbedtls_ssl_conf_rng(&conf, tk_random_mbedtls, NULL);
  mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
  if (r->suite) mbedtls_ssl_conf_ciphersuites(&conf, suites);
  if (r->max_minor) {
    mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_1);
    mbedtls_ssl_conf_max_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, r->max_minor);
  }
  if (r->with_cert) {
    if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)id_cli->tls_cert_pem,
                               strlen(id_cli->tls_cert_pem) + 1) != 0 ||
        tk_mbedtls_pk_parse_key(&key, id_cli->sec->tls_key_der,
                                id_cli->sec->tls_key_der_len) != 0 ||
        mbedtls_ssl_conf_own_cert(&conf, &crt, &key) != 0)
      goto done;
  }
  if (mbedtls_ssl_setup(&ssl, &conf) != 0) goto done;
  mbedtls_ssl_set_bio(&ssl, &fd, raw_send, raw_recv, NULL);
  r->hs_rc = mbedtls_ssl_handshake(&ssl);
  if (r->hs_rc == 0 && r->nsend)
    mbedtls_ssl_write(&ssl, (const unsigned char *)r->send, r->nsend);
  if (r->hs_rc == 0 && r->no_notify) { /* read the echo: nothing unread, no RST */
    unsigned char echo[64];
    size_t got = 0;
    while (got < r->nsend) {
      int n = mbedtls_ssl_read(&ssl, echo + got, sizeof echo - got);
      if (n <= 0) break;
      got += (size_t)n;
    }
  }
  if (r->hs_rc == 0 && r->idle_ms) usleep((useconds_t)r->idle_ms * 1000);
  if (r->hs_rc == 0 && r->slow_chunk) {
    unsigned char *buf = malloc(r->slow_chunk);
    while (r->slow_got < r->slow_total) {
      size_t want = r->slow_total - r->slow_got;
      int n = mbedtls_ssl_read(&ssl, buf, want < r->slow_chunk ? want : r->slow_chunk);
      if (n <= 0) break;
      r->slow_got += (size_t)n;
      usleep((useconds_t)r->slow_ms * 1000);
    }
    free(buf);
  }
  if (r->hs_rc == 0 && !r->no_notify) mbedtls_ssl_close_notify(&ssl);
done:
  close(fd);
  mbedtls_ssl_free(&ssl);
  mbedtls_ssl_config_free(&conf);
  mbedtls_x509_crt_free(&crt);
  mbedtls_pk_free(&key);
  return NULL;
}

/* Runs one raw client against a fresh server (opts, and a frame of
 * send_on_ready bytes to the client, when given); fills the server's
 * record. */
static int raw_run_with(server_t *s, raw_t *r, const tk_conn_opts_t *opts,
                        size_t send_on_ready)
{
  pthread_t th;
  if (srv_start(s, opts, 1) != 0) return -1;
  s->send_on_ready = send_on_ready;
  r->port = s->port;
  if (pthread_create(&th, NULL, raw_client, r) != 0) return -1;
  int rc = srv_finish(s);
  pthread_join(th, NULL);
  return rc;
}

static int raw_run(server_t *s, raw_t *r)
{
  return raw_run_with(s, r, NULL, 0);
}

/* Progress, not silence, decides the idle timeout (conn.c, idle_check): a
 * server with a 300 ms idle time sends a 1 MiB frame to a TLS client that
 * sends nothing after the handshake. One that reads it slowly (about 1.5 s
 * in 16 KiB steps, a 16 KiB receive buffer) keeps the connection: the
 * server's queues (libuv's, then the kernel's unacknowledged bytes)
 * shrink. One that reads nothing is closed about 300 ms after the queues
 * stopped moving, as a write stall. Before this rule the slow reader was
 * closed after 300 ms ("no data from ... for 300 ms"). */
static void test_idle_progress(void)
{
  tk_conn_opts_t opts = {.idle_timeout_ms = 300};
  const size_t frame = 1u << 20;
  server_t s;
  raw_t slow = {
      .with_cert = 1, .slow_chunk = 16384, .slow_total = frame + 4, .slow_ms = 20};
  CHECK(raw_run_with(&s, &slow, &opts, frame) == 0);
  CHECK(slow.hs_rc == 0);
  CHECK(slow.slow_got == frame + 4);
  CHECK(s.readies == 1);
  if (s.reasons[0] != 0) fprintf(stderr, "slow reader closed: %s\n", s.msgs[0]);
  CHECK(s.reasons[0] == 0);                      /* the client's close_notify */
  CHECK(s.close_ms[0] - s.accept_ms[0] >= 1000); /* well past the idle time */

  raw_t deaf = {.with_cert = 1, .idle_ms = 2500};
  CHECK(raw_run_with(&s, &deaf, &opts, frame) == 0);
  CHECK(deaf.hs_rc == 0);
  CHECK(s.reasons[0] == TK_ETIMEDOUT);
  if (!strstr(s.msgs[0], "took none of")) fprintf(stderr, "deaf reader: %s\n", s.msgs[0]);
  CHECK(strstr(s.msgs[0], "took none of") != NULL);
  CHECK(strstr(s.msgs[0], "for 300 ms") != NULL);
  CHECK(s.close_ms[0] - s.accept_ms[0] < 2000); /* before the client gave up */
}

static void test_raw_clients(void)
{
  server_t s;
  /* Control: a raw client that follows the policy gets through. */
  raw_t ok = {.with_cert = 1};
  CHECK(raw_run(&s, &ok) == 0);
  CHECK(ok.hs_rc == 0);
  CHECK(s.readies == 1 && memcmp(s.spki[0], id_cli->tls_spki_hash, TK_HASH_LEN) == 0);
  CHECK(s.reasons[0] == 0);

  /* No client certificate. */
  raw_t nocert = {.with_cert = 0};
  CHECK(raw_run(&s, &nocert) == 0);
  CHECK(nocert.hs_rc != 0);
  CHECK(s.readies == 0 && s.closes == 1 && s.reasons[0] == TK_EPROTO);
  CHECK(strstr(s.msgs[0], "TLS handshake with") != NULL);

  /* A CBC suite only. */
  raw_t cbc = {.with_cert = 1, .suite = MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256};
  CHECK(raw_run(&s, &cbc) == 0);
  CHECK(cbc.hs_rc != 0);
  CHECK(s.readies == 0 && s.reasons[0] == TK_EPROTO);

  /* TLS 1.1 at most. */
  raw_t old = {.with_cert = 1, .max_minor = MBEDTLS_SSL_MINOR_VERSION_2};
  CHECK(raw_run(&s, &old) == 0);
  CHECK(old.hs_rc != 0);
  CHECK(s.readies == 0 && s.reasons[0] == TK_EPROTO);

  /* A whole frame, then the socket closes without close_notify. */
  raw_t abrupt = {.with_cert = 1, .send = "\0\0\0\3abc", .nsend = 7, .no_notify = 1};
  CHECK(raw_run(&s, &abrupt) == 0);
  CHECK(abrupt.hs_rc == 0);
  CHECK(s.readies == 1 && s.frames == 1);
  CHECK(s.reasons[0] == TK_EIO);
  CHECK(strstr(s.msgs[0], "without TLS close_notify") != NULL);

  /* close_notify in the middle of a frame. */
  raw_t cut = {.with_cert = 1,
               .send = "\0\0\0\x64"
                       "0123456789",
               .nsend = 14};
  CHECK(raw_run(&s, &cut) == 0);
  CHECK(cut.hs_rc == 0);
  CHECK(s.readies == 1 && s.frames == 0);
  CHECK(s.reasons[0] == TK_EPROTO);
  CHECK(strstr(s.msgs[0], "ended inside a frame") != NULL);

  /* A zero-length frame. */
  raw_t empty = {.with_cert = 1, .send = "\0\0\0\0", .nsend = 4};
  CHECK(raw_run(&s, &empty) == 0);
  CHECK(s.readies == 1 && s.frames == 0);
  CHECK(s.reasons[0] == TK_EPROTO);
  CHECK(strstr(s.msgs[0], "empty frame") != NULL);
}

/* ---- resumption -------------------------------------------------------------- */

static void start_next(client_t *k)
{
  client_t *n = k->next;
  if (n && cli_start(n, k->srv, n->sizes, n->n) != 0) srv_stop(k->srv);
}

/* One server run: the clients connect one after the other (each starts
 * when the previous one closed); tickets: the server's lifetime (0: off). */
static int resume_run(server_t *s, uint32_t tickets, client_t **ks, int n)
{
  tk_err_t err;
  if (srv_start(s, NULL, n) != 0) return -1;
  if (tk_tls_enable_tickets(s->tls, tickets, &err) != 0) return -1;
  for (int i = 0; i < n; i++) {
    if (!ks[i]->after_close) ks[i]->after_close = start_next;
    ks[i]->next = i + 1 < n ? ks[i + 1] : NULL;
  }
  if (cli_start(ks[0], s, ks[0]->sizes, ks[0]->n) != 0) return -1;
  return srv_finish(s);
}

static void clients_free(client_t *ks, int n)
{
  for (int i = 0; i < n; i++) {
    tk_tls_free(ks[i].tls);
    tk_buf_wipe(&ks[i].session);
  }
}

static uint8_t damaged[TK_TLS_SESSION_MAX];

/* k0's after_close: k1 offers k0's session, k2 a copy with one bit flipped. */
static void pass_session(client_t *k)
{
  client_t *k1 = k->next, *k2 = k1->next;
  k1->opts.session = TK_SLICE(k->session.p, k->session.n);
  if (k->session.n > 0 && k->session.n <= sizeof damaged) {
    memcpy(damaged, k->session.p, k->session.n);
    damaged[k->session.n / 2] ^= 1;
    k2->opts.session = TK_SLICE(damaged, k->session.n);
  }
  start_next(k);
}

static void test_resume(void)
{
  static const size_t one[] = {100};
  server_t s;
  tk_err_t err;
  client_t k[4];
  client_t *ks[4] = {&k[0], &k[1], &k[2], &k[3]};
  tk_tls_t *t;

  CHECK(identities() == 0);
  CHECK(tk_tls_new(&t, id_cli, 0, &err) == 0);
  CHECK_RC(tk_tls_enable_tickets(t, 60, &err), TK_EINVAL); /* a client's */
  tk_tls_free(t);
  CHECK(tk_tls_new(&t, id_srv, 1, &err) == 0);
  CHECK_RC(tk_tls_enable_tickets(t, TK_TLS_TICKET_LIFETIME_MAX + 1, &err), TK_ELIMIT);
  CHECK_RC(tk_tls_enable_tickets(t, 0, &err), 0);
  tk_tls_free(t);

  /* k0: full handshake, takes the session; k1 offers it and resumes; k2
   * offers a damaged copy (full handshake, still works); k3 offers none. */
  memset(k, 0, sizeof k);
  for (int i = 0; i < 4; i++) {
    k[i].sizes = one;
    k[i].n = 1;
    k[i].want_session = 1;
  }
  k[0].after_close = pass_session;
  CHECK(resume_run(&s, 60, ks, 4) == 0);
  CHECK(k[0].session_rc == 0 && k[0].session.n > 0);
  CHECK(k[0].session.n <= TK_TLS_SESSION_MAX);
  CHECK(k[0].lifetime == 60);
  for (int i = 0; i < 4; i++) {
    CHECK(k[i].ready && k[i].mismatch == 0 && k[i].got == 1 && k[i].reason == 0);
    CHECK(s.ready[i] && s.reasons[i] == 0);
    /* The same keys whether the handshake was full or resumed. */
    CHECK(memcmp(k[i].spki, id_srv->tls_spki_hash, TK_HASH_LEN) == 0);
    CHECK(memcmp(s.spki[i], id_cli->tls_spki_hash, TK_HASH_LEN) == 0);
  }
  CHECK(!k[0].resumed && !s.resumed[0]);
  CHECK(k[1].resumed && s.resumed[1]);
  /* A resumed handshake moves no certificates: much less from the server. */
  CHECK(k[1].bytes_in + 300 < k[0].bytes_in);
  CHECK(!k[2].resumed && !s.resumed[2]);
  CHECK(k[2].session_rc == 0); /* a fresh ticket replaces the damaged one */
  CHECK(!k[3].resumed && !s.resumed[3]);
  tk_buf_t keep = TK_BUF_INIT;
  CHECK(tk_buf_append(&keep, k[0].session.p, k[0].session.n) == 0);
  clients_free(k, 4);

  /* A server without tickets ("restarted" with resumption off): the saved
   * session is refused, and what the client holds afterwards (the old ticket
   * next to a new master secret) is not offered for saving. Then a server
   * with tickets but new keys (a restart): full handshake, a new ticket. */
  memset(k, 0, sizeof k);
  for (int i = 0; i < 2; i++) {
    k[i].sizes = one;
    k[i].n = 1;
    k[i].want_session = 1;
    k[i].opts.session = TK_SLICE(keep.p, keep.n);
  }
  CHECK(resume_run(&s, 0, ks, 1) == 0);
  CHECK(k[0].ready && k[0].reason == 0 && !k[0].resumed && !s.resumed[0]);
  CHECK_RC(k[0].session_rc, TK_ENOTFOUND);
  CHECK(resume_run(&s, 60, ks + 1, 1) == 0);
  CHECK(k[1].ready && k[1].reason == 0 && !k[1].resumed && !s.resumed[0]);
  CHECK(k[1].session_rc == 0 && k[1].session.n > 0);
  CHECK(memcmp(k[1].spki, id_srv->tls_spki_hash, TK_HASH_LEN) == 0);
  clients_free(k, 2);
  tk_buf_wipe(&keep);
}

static void test_tls_new_locked(void)
{
  /* A public-only identity has no TLS key. */
  tk_identity_t pub;
  tk_tls_t *t = (tk_tls_t *)1;
  tk_err_t err;
  CHECK(identities() == 0);
  pub = *id_cli;
  pub.sec = NULL;
  CHECK_RC(tk_tls_new(&t, &pub, 0, &err), TK_ENOKEY);
  CHECK(t == NULL);
  /* A certificate that is not the bound key's. */
  pub = *id_cli;
  pub.tls_cert_pem = id_srv->tls_cert_pem;
  CHECK_RC(tk_tls_new(&t, &pub, 1, &err), TK_EFORMAT);
}

static void cleanup(void)
{
  tk_identity_free(id_srv);
  tk_identity_free(id_cli);
  id_srv = id_cli = NULL;
}

TK_TESTS(TK_TEST(test_echo_sizes), TK_TEST(test_burst_order), TK_TEST(test_pause_resume),
         TK_TEST(test_frame_limit), TK_TEST(test_send_limits),
         TK_TEST(test_garbage_client), TK_TEST(test_handshake_timeout),
         TK_TEST(test_idle_timeout), TK_TEST(test_idle_progress),
         TK_TEST(test_connect_refused), TK_TEST(test_close_in_frame),
         TK_TEST(test_raw_clients), TK_TEST(test_tls_new_locked), TK_TEST(test_resume),
         TK_TEST(cleanup))
