/*
 * tk_preauth.c: peers that never authenticate, and TLS peers that refuse
 * the extended master secret, for the hub's pre-authentication and TLS
 * policy tests. Each run makes a fresh identity (a random self-signed
 * P-256 certificate, as any stranger could), so nothing here is enrolled.
 *
 *   tk_preauth flood --to HOST:PORT [--idle N] [--trickle M]
 *                    [--announce BYTES] [--interval-ms I] [--duration S]
 *                    [--reopen] [--rate R]
 *       N plain TCP connections that never send a byte (opened as fast as
 *       the kernel takes them), and M TLS connections that finish the
 *       handshake, send a frame header announcing BYTES (default 4 MiB)
 *       and then one payload byte every I ms (default 3000). For S seconds
 *       (default 10) it watches which ones the hub closes; with --reopen a
 *       closed one is opened again (idle ones at once, tricklers after
 *       1 s), as an attacker would, at most R idle ones a second with
 *       --rate R (default: as fast as they close). Prints, at the end:
 *         "idle count=N opened=O open_seconds=T closed=C reopened=R open=K"
 *         "trickle count=M opened=X closed=Y open=Z min_life_ms=A max_life_ms=B"
 *       (life: idle ones from the connect, tricklers from their frame
 *       header, to the hub closing it).
 *   tk_preauth tls --to HOST:PORT [--no-ems]
 *       One TLS 1.2 handshake (ECDHE-ECDSA), with or without offering the
 *       extended master secret; prints "handshake ok ems=yes|no" or
 *       "handshake refused -0xNNNN (TEXT)".
 *   tk_preauth serve --listen HOST:PORT [--no-ems] [--count K]
 *       A TLS 1.2 server that answers K (default 1) handshakes, without
 *       the extended master secret when --no-ems; prints "listening
 *       HOST:PORT", then per connection "handshake ok" or "handshake failed
 *       -0xNNNN (TEXT)".
 *
 * Exit status: 0 once it has reported; 1 when it could not do its part
 * (no socket, no TLS set-up, fewer idle connections than asked); 2 usage.
 * Threads: one. SIGPIPE is ignored.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

#include "tk_identity.h"
#include "tk_mbedtls_compat.h"
#include "tk_token.h"

#define MAX_CONNS 100000

static const int suites[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                             MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                             MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0};

typedef struct tls_peer {
  mbedtls_ssl_config conf;
  mbedtls_x509_crt crt;
  mbedtls_pk_context key;
} tls_peer_t;

typedef struct trickler {
  mbedtls_net_context net;
  mbedtls_ssl_context ssl;
  int open, ssl_set;
  double opened, next_send, reopen_at;
} trickler_t;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
  fprintf(stderr,
          "usage: tk_preauth flood --to HOST:PORT [--idle N] [--trickle M] "
          "[--announce BYTES] [--interval-ms I] [--duration S] [--reopen] [--rate R]\n"
          "       tk_preauth tls --to HOST:PORT [--no-ems]\n"
          "       tk_preauth serve --listen HOST:PORT [--no-ems] [--count K]\n");
  exit(2);
}

static const char *mtext(int mrc, char *buf, size_t n)
{
  mbedtls_strerror(mrc, buf, n);
  return buf;
}

/* TLS settings with a fresh self-signed identity; ems: offer/accept the
 * extended master secret. 0 or -1. */
static int peer_init(tls_peer_t *p, int server, int ems)
{
  tk_identity_t *id = NULL;
  tk_err_t err;
  int rc = -1;
  mbedtls_ssl_config_init(&p->conf);
  mbedtls_x509_crt_init(&p->crt);
  mbedtls_pk_init(&p->key);
  if (tk_identity_generate(&id, "stranger", &err) != 0) {
    fprintf(stderr, "tk_preauth: %s\n", tk_err_str(&err));
    return -1;
  }
  if (mbedtls_x509_crt_parse(&p->crt, (const unsigned char *)id->tls_cert_pem,
                             strlen(id->tls_cert_pem) + 1) != 0 ||
      tk_mbedtls_pk_parse_key(&p->key, id->sec->tls_key_der, id->sec->tls_key_der_len) !=
          0 ||
      mbedtls_ssl_config_defaults(
          &p->conf, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
          MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0 ||
      mbedtls_ssl_conf_own_cert(&p->conf, &p->crt, &p->key) != 0)
    goto done;
  /* Any certificate will do: this peer pins nothing. */
  mbedtls_ssl_conf_authmode(&p->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
  mbedtls_ssl_conf_rng(&p->conf, tk_random_mbedtls, NULL);
  mbedtls_ssl_conf_ciphersuites(&p->conf, suites);
  tk_mbedtls_ssl_conf_strict(&p->conf);
#if defined(MBEDTLS_SSL_EXTENDED_MASTER_SECRET)
  mbedtls_ssl_conf_extended_master_secret(
      &p->conf, ems ? MBEDTLS_SSL_EXTENDED_MS_ENABLED : MBEDTLS_SSL_EXTENDED_MS_DISABLED);
#else
  (void)ems;
#endif
  rc = 0;
done:
  if (rc) fprintf(stderr, "tk_preauth: TLS set-up failed\n");
  tk_identity_free(id);
  return rc;
}

static void peer_free(tls_peer_t *p)
{
  mbedtls_ssl_config_free(&p->conf);
  mbedtls_x509_crt_free(&p->crt);
  mbedtls_pk_free(&p->key);
}

/* A blocking TLS client handshake on a new connection. 0, or the mbedtls
 * code (the connection is then freed). */
static int tls_open(tls_peer_t *p, const char *host, int port, mbedtls_net_context *net,
                    mbedtls_ssl_context *ssl)
{
  char ps[16];
  snprintf(ps, sizeof ps, "%d", port);
  mbedtls_net_init(net);
  mbedtls_ssl_init(ssl);
  int mrc = mbedtls_net_connect(net, host, ps, MBEDTLS_NET_PROTO_TCP);
  if (mrc == 0) {
    int one = 1;
    setsockopt(net->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    mrc = mbedtls_ssl_setup(ssl, &p->conf);
  }
  if (mrc == 0) mrc = mbedtls_ssl_set_hostname(ssl, "tunduk");
  if (mrc == 0) {
    mbedtls_ssl_set_bio(ssl, net, mbedtls_net_send, mbedtls_net_recv, NULL);
    do {
      mrc = mbedtls_ssl_handshake(ssl);
    } while (mrc == MBEDTLS_ERR_SSL_WANT_READ || mrc == MBEDTLS_ERR_SSL_WANT_WRITE);
  }
  if (mrc != 0) {
    mbedtls_ssl_free(ssl);
    mbedtls_net_free(net);
  }
  return mrc;
}

/* ---- tls / serve -------------------------------------------------------- */

static int do_tls(const char *host, int port, int ems)
{
  tls_peer_t p;
  mbedtls_net_context net;
  mbedtls_ssl_context ssl;
  char e[160];
  if (peer_init(&p, 0, ems) != 0) return 1;
  int mrc = tls_open(&p, host, port, &net, &ssl);
  if (mrc == MBEDTLS_ERR_NET_CONNECT_FAILED || mrc == MBEDTLS_ERR_NET_UNKNOWN_HOST) {
    peer_free(&p);
    fprintf(stderr, "tk_preauth: cannot connect to %s:%d\n", host, port);
    return 1;
  }
  if (mrc != 0) {
    printf("handshake refused -0x%04x (%s)\n", (unsigned)-mrc, mtext(mrc, e, sizeof e));
  } else {
    printf("handshake ok ems=%s\n", ems ? "yes" : "no");
    (void)mbedtls_ssl_close_notify(&ssl);
    mbedtls_ssl_free(&ssl);
    mbedtls_net_free(&net);
  }
  peer_free(&p);
  return 0;
}

static int do_serve(const char *host, int port, int ems, int count)
{
  tls_peer_t p;
  struct sockaddr_in sin;
  char e[160];
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
    fprintf(stderr, "tk_preauth: serve needs a numeric IPv4 address\n");
    return 1;
  }
  if (peer_init(&p, 1, ems) != 0) return 1;
  int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t len = sizeof sin;
  if (ls < 0 || bind(ls, (struct sockaddr *)&sin, sizeof sin) != 0 ||
      listen(ls, 16) != 0 || getsockname(ls, (struct sockaddr *)&sin, &len) != 0) {
    fprintf(stderr, "tk_preauth: cannot listen on %s:%d: %s\n", host, port,
            strerror(errno));
    peer_free(&p);
    return 1;
  }
  printf("listening %s:%u\n", host, (unsigned)ntohs(sin.sin_port));
  fflush(stdout);
  for (int i = 0; i < count; i++) {
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    mbedtls_net_init(&net);
    mbedtls_ssl_init(&ssl);
    net.fd = accept(ls, NULL, NULL);
    if (net.fd < 0) break;
    int mrc = mbedtls_ssl_setup(&ssl, &p.conf);
    if (mrc == 0) {
      mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);
      do {
        mrc = mbedtls_ssl_handshake(&ssl);
      } while (mrc == MBEDTLS_ERR_SSL_WANT_READ || mrc == MBEDTLS_ERR_SSL_WANT_WRITE);
    }
    if (mrc == 0)
      printf("handshake ok\n");
    else
      printf("handshake failed -0x%04x (%s)\n", (unsigned)-mrc, mtext(mrc, e, sizeof e));
    fflush(stdout);
    if (mrc == 0) (void)mbedtls_ssl_close_notify(&ssl);
    mbedtls_ssl_free(&ssl);
    mbedtls_net_free(&net);
  }
  close(ls);
  peer_free(&p);
  return 0;
}

/* ---- flood ---------------------------------------------------------------- */

static int idle_open(const struct sockaddr_in *sin)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  if (connect(fd, (const struct sockaddr *)sin, sizeof *sin) != 0 &&
      errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

static int trickle_open(tls_peer_t *p, const char *host, int port, trickler_t *t,
                        uint32_t announce, double interval)
{
  t->opened = now_s();
  if (tls_open(p, host, port, &t->net, &t->ssl) != 0) return -1;
  t->ssl_set = 1;
  uint8_t hdr[4] = {(uint8_t)(announce >> 24), (uint8_t)(announce >> 16),
                    (uint8_t)(announce >> 8), (uint8_t)announce};
  int w;
  do {
    w = mbedtls_ssl_write(&t->ssl, hdr, 4);
  } while (w == MBEDTLS_ERR_SSL_WANT_WRITE || w == MBEDTLS_ERR_SSL_WANT_READ);
  mbedtls_net_set_nonblock(&t->net);
  t->opened = now_s(); /* a trickler's life counts from its frame header */
  t->open = 1;
  t->next_send = now_s() + interval;
  return 0;
}

static void trickle_close(trickler_t *t)
{
  if (t->ssl_set) {
    mbedtls_ssl_free(&t->ssl);
    mbedtls_net_free(&t->net);
    t->ssl_set = 0;
  }
  t->open = 0;
}

static int do_flood(const char *host, int port, long nidle, long ntrick,
                    uint32_t announce, long interval_ms, long duration_s, int reopen,
                    long rate)
{
  double tokens = 0, last_refill = now_s(); /* reopen budget (--rate) */
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
    fprintf(stderr, "tk_preauth: flood needs a numeric IPv4 address\n");
    return 1;
  }
  tls_peer_t p;
  if (ntrick > 0 && peer_init(&p, 0, 1) != 0) return 1;
  int *idle = malloc((size_t)(nidle ? nidle : 1) * sizeof *idle);
  trickler_t *tr = calloc((size_t)(ntrick ? ntrick : 1), sizeof *tr);
  struct pollfd *pf = malloc((size_t)(nidle + ntrick + 1) * sizeof *pf);
  if (!idle || !tr || !pf) {
    fprintf(stderr, "tk_preauth: out of memory\n");
    return 1;
  }
  double interval = (double)interval_ms / 1000.0, t0 = now_s();
  long opened = 0, closed = 0, reopened = 0;
  for (long i = 0; i < nidle; i++) {
    idle[i] = idle_open(&sin);
    if (idle[i] < 0) {
      fprintf(stderr, "tk_preauth: idle connection %ld: %s\n", i, strerror(errno));
      return 1;
    }
    opened++;
  }
  double open_s = now_s() - t0;
  long topened = 0, tclosed = 0;
  double min_life = -1, max_life = 0;
  for (long i = 0; i < ntrick; i++) {
    if (trickle_open(&p, host, port, &tr[i], announce, interval) == 0)
      topened++;
    else
      tr[i].reopen_at = now_s() + 1;
  }
  double end = t0 + (double)duration_s;
  char sink[4096];
  while (now_s() < end) {
    nfds_t n = 0;
    for (long i = 0; i < nidle; i++) {
      pf[n].fd = idle[i];
      pf[n].events = POLLIN;
      pf[n].revents = 0;
      n++;
    }
    for (long i = 0; i < ntrick; i++) {
      pf[n].fd = tr[i].open ? tr[i].net.fd : -1;
      pf[n].events = POLLIN;
      pf[n].revents = 0;
      n++;
    }
    if (poll(pf, n, 20) < 0 && errno != EINTR) break;
    double now = now_s();
    if (rate > 0) {
      tokens += (now - last_refill) * (double)rate;
      if (tokens > (double)rate / 10) tokens = (double)rate / 10;
    } else {
      tokens = 1e9;
    }
    last_refill = now;
    for (long i = 0; i < nidle; i++) {
      if (idle[i] < 0) {
        if (reopen && tokens >= 1 && (idle[i] = idle_open(&sin)) >= 0) {
          reopened++;
          tokens -= 1;
        }
        continue;
      }
      if (!pf[i].revents) continue;
      ssize_t r = read(idle[i], sink, sizeof sink);
      if (r > 0 || (r < 0 && errno == EAGAIN)) continue;
      close(idle[i]);
      idle[i] = -1;
      closed++;
      if (reopen && tokens >= 1 && (idle[i] = idle_open(&sin)) >= 0) {
        reopened++;
        tokens -= 1;
      }
    }
    for (long i = 0; i < ntrick; i++) {
      trickler_t *t = &tr[i];
      if (!t->open) {
        if (reopen && t->reopen_at && now >= t->reopen_at) {
          if (trickle_open(&p, host, port, t, announce, interval) == 0) topened++;
          t->reopen_at = now_s() + 1;
        }
        continue;
      }
      int gone = 0;
      if (pf[nidle + i].revents) {
        int r = mbedtls_ssl_read(&t->ssl, (unsigned char *)sink, sizeof sink);
        if (r <= 0 && r != MBEDTLS_ERR_SSL_WANT_READ && r != MBEDTLS_ERR_SSL_WANT_WRITE)
          gone = 1;
      }
      if (!gone && now >= t->next_send) {
        unsigned char b = 'x';
        int w = mbedtls_ssl_write(&t->ssl, &b, 1);
        if (w < 0 && w != MBEDTLS_ERR_SSL_WANT_WRITE && w != MBEDTLS_ERR_SSL_WANT_READ)
          gone = 1;
        t->next_send = now + interval;
      }
      if (gone) {
        double life = (now - t->opened) * 1000.0;
        if (min_life < 0 || life < min_life) min_life = life;
        if (life > max_life) max_life = life;
        tclosed++;
        trickle_close(t);
        t->reopen_at = now + 1;
      }
    }
  }
  long still = 0, tstill = 0;
  for (long i = 0; i < nidle; i++)
    if (idle[i] >= 0) {
      still++;
      close(idle[i]);
    }
  for (long i = 0; i < ntrick; i++)
    if (tr[i].open) {
      tstill++;
      trickle_close(&tr[i]);
    }
  printf("idle count=%ld opened=%ld open_seconds=%.2f closed=%ld reopened=%ld open=%ld\n",
         nidle, opened, open_s, closed, reopened, still);
  printf("trickle count=%ld opened=%ld closed=%ld open=%ld min_life_ms=%.0f "
         "max_life_ms=%.0f\n",
         ntrick, topened, tclosed, tstill, min_life < 0 ? 0 : min_life, max_life);
  free(idle);
  free(tr);
  free(pf);
  if (ntrick > 0) peer_free(&p);
  return 0;
}

int main(int argc, char **argv)
{
  /* First of all: no core file may ever hold what this process decrypts. */
  if (tk_process_no_core() != 0) {
    fprintf(stderr, "tk_preauth: cannot turn core dumps off\n");
    return 1;
  }
  if (argc < 2) usage();
  const char *mode = argv[1], *to = NULL, *listen_at = NULL;
  long nidle = 0, ntrick = 0, interval_ms = 3000, duration = 10, count = 1;
  long announce = 4l << 20;
  int ems = 1, reopen = 0;
  long rate = 0;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--no-ems"))
      ems = 0;
    else if (!strcmp(a, "--reopen"))
      reopen = 1;
    else if (!v)
      usage();
    else if (!strcmp(a, "--to"))
      to = argv[++i];
    else if (!strcmp(a, "--listen"))
      listen_at = argv[++i];
    else if (!strcmp(a, "--idle"))
      nidle = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--trickle"))
      ntrick = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--announce"))
      announce = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--interval-ms"))
      interval_ms = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--duration"))
      duration = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--rate"))
      rate = strtol(argv[++i], NULL, 10);
    else if (!strcmp(a, "--count"))
      count = strtol(argv[++i], NULL, 10);
    else
      usage();
  }
  if (nidle < 0 || ntrick < 0 || nidle + ntrick > MAX_CONNS || announce < 1 || rate < 0 ||
      announce > 0x7fffffffl || interval_ms < 1 || duration < 1 || count < 1)
    usage();
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (tk_crypto_init() != 0 || tk_mbedtls_init() != 0) {
    fprintf(stderr, "tk_preauth: crypto init failed\n");
    return 1;
  }
  char host[TK_TOKEN_MAX_ADDR + 1];
  int port;
  const char *addr = !strcmp(mode, "serve") ? listen_at : to;
  if (!addr || tk_addr_split(addr, host, &port) != 0) usage();
  if (!strcmp(mode, "flood"))
    return do_flood(host, port, nidle, ntrick, (uint32_t)announce, interval_ms, duration,
                    reopen, rate);
  if (!strcmp(mode, "tls")) return do_tls(host, port, ems);
  if (!strcmp(mode, "serve")) return do_serve(host, port, ems, (int)count);
  usage();
  return 2;
}
