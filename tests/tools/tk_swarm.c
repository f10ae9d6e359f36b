/*
 * tk_swarm.c: many clients at once against one hub, for the load test.
 *
 *   tk_swarm clients --dir DIR --tokens FILE [--records K] [--rounds R]
 *                    [--prepare-threads T] [--wait-for FILE]
 *   tk_swarm idle  --home OFFICE --to HOST:PORT --count N --hold SECONDS
 *   tk_swarm loris --home OFFICE --to HOST:PORT --count N --kind handshake|frame
 *                  [--interval-ms I] --max SECONDS
 *
 * clients: FILE holds one enrollment token a line; token i (from 0) is for
 * device "c<i>" with write access to vault "v<i>". With T threads (default
 * 4; Argon2id is memory-bound, so more threads than cores only slow it
 * down, and each holds 64 MiB while it runs), every client gets an
 * office DIR/c<i> (interactive key derivation), enrolls, creates vault
 * v<i> and writes K (default 5) case records in it. Then one thread per
 * client, all released at once (once FILE, when given, holds a line
 * starting "idle opened=": tk_swarm idle's report), runs R (default 2)
 * syncs each
 * (tk_client_run: its own libuv loop per call, so threads, not one loop).
 * Prints "client I round R: error MESSAGE" per failed sync and a summary
 * "clients=N syncs=S errors=E sent=A received=B seconds=T max_sync=M".
 * Exit 0 when it ran (errors are counted, not fatal), 1 when preparing a
 * client failed.
 *
 * idle: N TCP connections, each with a whole TLS handshake (presenting
 * OFFICE's certificate) and then nothing at all: the TLS state is dropped
 * and only the socket kept. Prints "idle opened=N seconds=T", holds them
 * for SECONDS (or until SIGTERM), then "idle open=K closed=C" (closed: the
 * hub ended it) and exits 0; 1 if fewer than N could be opened.
 *
 * loris: N slow-loris connections. handshake: a TLS record header
 * announcing a 512-byte ClientHello, then one byte every I ms (default
 * 500), never finishing the handshake. frame: a whole TLS handshake, a
 * frame header announcing 1000 bytes, then one payload byte (one TLS
 * record) every I ms. Stops when every connection was closed by the hub or
 * after SECONDS; prints "loris kind=K count=N closed=C open=O
 * last_close=S" (seconds after the start when the last was closed).
 *
 * The passphrase comes from $TUNDUK_PASSPHRASE. SIGPIPE is ignored.
 * Threads: clients uses one thread per client (each with its own office,
 * store and loop; nothing shared but the counters under a mutex); idle and
 * loris use one.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

#include "tk_client.h"
#include "tk_office_engine.h"
#include "tk_mbedtls_compat.h"

#define SWARM_MAX_CLIENTS 20000
#define SWARM_MAX_CONNS 100000

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
  fprintf(stderr,
          "usage: tk_swarm clients --dir DIR --tokens FILE [--records K] [--rounds R] "
          "[--prepare-threads T]\n"
          "       tk_swarm idle --home OFFICE --to HOST:PORT --count N --hold S\n"
          "       tk_swarm loris --home OFFICE --to HOST:PORT --count N "
          "--kind handshake|frame [--interval-ms I] --max S\n");
  exit(2);
}

/* ---- clients ---------------------------------------------------------------- */

typedef struct client {
  int i;
  char home[512];
  char token[TK_TOKEN_MAX_TEXT + 8];
  tk_office_t *office;
  int failed; /* preparing failed */
} client_t;

static struct {
  client_t *c;
  int n, records, rounds;
  const char *dir, *pass;
  int next; /* next client to prepare */
  int prep_failed;
  pthread_mutex_t mu;
  pthread_barrier_t start;
  long syncs, errors;
  unsigned long long sent, received;
  double max_sync;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int prepare_one(client_t *c, tk_err_t *err)
{
  char name[32], vault[32];
  tk_token_t tok;
  tk_client_stats_t st;
  tk_client_opts_t opts;
  snprintf(name, sizeof name, "c%d", c->i);
  snprintf(vault, sizeof vault, "v%d", c->i);
  int rc = tk_token_parse(&tok, c->token, err);
  if (!rc)
    rc = tk_office_create(c->home, name, S.pass, strlen(S.pass), TK_KDF_INTERACTIVE, err);
  if (!rc) rc = tk_office_open(&c->office, c->home, err);
  if (!rc) rc = tk_office_unlock(c->office, S.pass, strlen(S.pass), err);
  if (rc) return rc;
  memset(&opts, 0, sizeof opts);
  opts.mode = TK_CLIENT_ENROLL;
  opts.token = &tok;
  rc = tk_client_run(c->office, &opts, &st, err);
  tk_wipe(&tok, sizeof tok);
  if (rc) return rc;
  tk_client_stats_free(&st);
  rc = tk_office_vault_create(c->office, vault, err);
  tk_store_t *store = tk_office_store(c->office);
  if (!rc) rc = tk_store_begin(store, err); /* one commit for the records */
  for (int k = 0; !rc && k < S.records; k++) {
    char num[48];
    snprintf(num, sizeof num, "LOAD-%d-%d", c->i, k);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "case_number", num, "client_alias",
                             "Client L-1", "status", "open", "notes", "load test record");
    if (!body) return tk_err_set(err, TK_ENOMEM, "out of memory");
    rc = tk_office_new(c->office, "case", vault, body, NULL, NULL, err);
    json_decref(body);
    if (rc) tk_store_rollback(store);
  }
  if (!rc) rc = tk_store_commit(store, err);
  return rc;
}

static void *prepare_thread(void *arg)
{
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&S.mu);
    int i = S.next++;
    pthread_mutex_unlock(&S.mu);
    if (i >= S.n) return NULL;
    client_t *c = &S.c[i];
    tk_err_t err;
    tk_err_clear(&err);
    if (prepare_one(c, &err) != 0) {
      fprintf(stderr, "tk_swarm: client %d: %s\n", i, tk_err_str(&err));
      c->failed = 1;
      pthread_mutex_lock(&S.mu);
      S.prep_failed++;
      pthread_mutex_unlock(&S.mu);
    }
  }
}

static void *sync_thread(void *arg)
{
  client_t *c = arg;
  pthread_barrier_wait(&S.start);
  for (int r = 0; r < S.rounds && !c->failed; r++) {
    tk_client_stats_t st;
    tk_client_opts_t opts;
    tk_err_t err;
    tk_err_clear(&err);
    memset(&opts, 0, sizeof opts);
    opts.mode = TK_CLIENT_SYNC;
    double t0 = now_s();
    int rc = tk_client_run(c->office, &opts, &st, &err);
    double dt = now_s() - t0;
    pthread_mutex_lock(&S.mu);
    S.syncs++;
    if (dt > S.max_sync) S.max_sync = dt;
    if (rc) {
      S.errors++;
      printf("client %d round %d: error %s\n", c->i, r + 1, tk_err_str(&err));
    } else {
      S.sent += st.sent;
      S.received += st.received;
      if (st.nrejected > 0) {
        S.errors++;
        printf("client %d round %d: error %zu revisions rejected\n", c->i, r + 1,
               st.nrejected);
      }
    }
    pthread_mutex_unlock(&S.mu);
    if (!rc) tk_client_stats_free(&st);
  }
  return NULL;
}

/* Waits (up to 10 minutes) until the file at path has a line starting
 * with prefix. */
static int wait_for_line(const char *path, const char *prefix)
{
  for (int i = 0; i < 6000; i++) {
    FILE *f = fopen(path, "r");
    char line[256];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f))
      found = strncmp(line, prefix, strlen(prefix)) == 0;
    if (f) fclose(f);
    if (found) return 0;
    usleep(100000);
  }
  return -1;
}

static int run_clients(const char *dir, const char *tokens, int records, int rounds,
                       int threads, const char *wait_for)
{
  FILE *f = fopen(tokens, "r");
  if (!f) {
    fprintf(stderr, "tk_swarm: cannot open %s\n", tokens);
    return 1;
  }
  S.c = calloc(SWARM_MAX_CLIENTS, sizeof *S.c);
  if (!S.c) return 1;
  char line[TK_TOKEN_MAX_TEXT + 8];
  while (S.n < SWARM_MAX_CLIENTS && fgets(line, sizeof line, f)) {
    client_t *c = &S.c[S.n];
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0]) continue;
    c->i = S.n;
    snprintf(c->token, sizeof c->token, "%s", line);
    snprintf(c->home, sizeof c->home, "%s/c%d", dir, S.n);
    S.n++;
  }
  fclose(f);
  S.records = records;
  S.rounds = rounds;
  double t0 = now_s();
  pthread_t *tids = calloc((size_t)(S.n > threads ? S.n : threads), sizeof *tids);
  if (!tids) return 1;
  for (int t = 0; t < threads; t++)
    pthread_create(&tids[t], NULL, prepare_thread, NULL);
  for (int t = 0; t < threads; t++)
    pthread_join(tids[t], NULL);
  printf("prepared clients=%d failed=%d seconds=%.1f\n", S.n, S.prep_failed,
         now_s() - t0);
  fflush(stdout);
  int rc = S.prep_failed ? 1 : 0;
  if (!rc && wait_for && wait_for_line(wait_for, "idle opened=") != 0) {
    fprintf(stderr, "tk_swarm: no 'idle opened=' line in %s\n", wait_for);
    rc = 1;
  }
  if (!rc) {
    pthread_barrier_init(&S.start, NULL, (unsigned)S.n);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1u << 20);
    t0 = now_s();
    int started = 0;
    for (int i = 0; i < S.n; i++) {
      if (pthread_create(&tids[i], &attr, sync_thread, &S.c[i]) != 0) {
        fprintf(stderr, "tk_swarm: cannot start thread %d\n", i);
        exit(1); /* the others wait at the barrier forever */
      }
      started++;
    }
    for (int i = 0; i < started; i++)
      pthread_join(tids[i], NULL);
    pthread_attr_destroy(&attr);
    printf("clients=%d syncs=%ld errors=%ld sent=%llu received=%llu seconds=%.1f "
           "max_sync=%.2f\n",
           S.n, S.syncs, S.errors, S.sent, S.received, now_s() - t0, S.max_sync);
    pthread_barrier_destroy(&S.start);
  }
  for (int i = 0; i < S.n; i++)
    tk_office_close(S.c[i].office);
  free(tids);
  free(S.c);
  return rc;
}

/* ---- raw TLS connections (idle, loris) ----------------------------------- */

static const int suites[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                             MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0};

typedef struct tls_client {
  mbedtls_ssl_config conf;
  mbedtls_x509_crt crt;
  mbedtls_pk_context key;
  char host[TK_TOKEN_MAX_ADDR + 1];
  char port[16];
} tls_client_t;

static int tls_client_init(tls_client_t *t, const tk_identity_t *id, const char *to)
{
  int port;
  mbedtls_ssl_config_init(&t->conf);
  mbedtls_x509_crt_init(&t->crt);
  mbedtls_pk_init(&t->key);
  if (tk_addr_split(to, t->host, &port) != 0) return -1;
  snprintf(t->port, sizeof t->port, "%d", port);
  if (mbedtls_x509_crt_parse(&t->crt, (const unsigned char *)id->tls_cert_pem,
                             strlen(id->tls_cert_pem) + 1) != 0 ||
      tk_mbedtls_pk_parse_key(&t->key, id->sec->tls_key_der, id->sec->tls_key_der_len) !=
          0 ||
      mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT,
                                  MBEDTLS_SSL_TRANSPORT_STREAM,
                                  MBEDTLS_SSL_PRESET_DEFAULT) != 0)
    return -1;
  mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
  mbedtls_ssl_conf_rng(&t->conf, tk_random_mbedtls, NULL);
  mbedtls_ssl_conf_ciphersuites(&t->conf, suites);
#if MBEDTLS_VERSION_MAJOR >= 3
  mbedtls_ssl_conf_min_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_2);
  mbedtls_ssl_conf_max_tls_version(&t->conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
  mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);
#endif
  mbedtls_ssl_conf_read_timeout(&t->conf, 10000);
  return mbedtls_ssl_conf_own_cert(&t->conf, &t->crt, &t->key) == 0 ? 0 : -1;
}

static void tls_client_free(tls_client_t *t)
{
  mbedtls_ssl_config_free(&t->conf);
  mbedtls_x509_crt_free(&t->crt);
  mbedtls_pk_free(&t->key);
}

/* mbedtls_net_recv_timeout uses select(), which cannot watch a descriptor
 * past FD_SETSIZE (1024): the same with poll(). */
static int recv_poll(void *ctx, unsigned char *buf, size_t len, uint32_t timeout)
{
  mbedtls_net_context *net = ctx;
  struct pollfd p = {.fd = net->fd, .events = POLLIN};
  int n = poll(&p, 1, timeout ? (int)timeout : -1);
  if (n == 0) return MBEDTLS_ERR_SSL_TIMEOUT;
  if (n < 0)
    return errno == EINTR ? MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_NET_RECV_FAILED;
  return mbedtls_net_recv(ctx, buf, len);
}

/* One TCP connection and a whole handshake on ssl (set up here). */
static int tls_open(tls_client_t *t, mbedtls_net_context *net, mbedtls_ssl_context *ssl)
{
  mbedtls_net_init(net);
  mbedtls_ssl_init(ssl);
  if (mbedtls_net_connect(net, t->host, t->port, MBEDTLS_NET_PROTO_TCP) != 0) return -1;
  /* The handshake's flights are several small writes: without this,
   * Nagle and delayed ACKs cost 40 ms a connection. */
  int one = 1;
  setsockopt(net->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (mbedtls_ssl_setup(ssl, &t->conf) != 0) return -1;
  mbedtls_ssl_set_bio(ssl, net, mbedtls_net_send, NULL, recv_poll);
  int mrc;
  while ((mrc = mbedtls_ssl_handshake(ssl)) != 0)
    if (mrc != MBEDTLS_ERR_SSL_WANT_READ && mrc != MBEDTLS_ERR_SSL_WANT_WRITE) return -1;
  return 0;
}

/* 1 if the peer has ended the connection on fd (EOF, reset, or data then
 * EOF: an alert), else 0. Never blocks. */
static int peer_closed(int fd)
{
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, 0) <= 0) return 0;
  if (p.revents & (POLLHUP | POLLERR)) return 1;
  char buf[256];
  ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  return got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

static volatile sig_atomic_t stop_requested;
static void on_term(int sig)
{
  (void)sig;
  stop_requested = 1;
}

static int run_idle(tls_client_t *t, int count, int hold)
{
  int *fds = calloc((size_t)count, sizeof *fds);
  if (!fds) return 1;
  int opened = 0;
  double t0 = now_s();
  for (int i = 0; i < count; i++) {
    mbedtls_net_context net;
    mbedtls_ssl_context ssl;
    int ok = tls_open(t, &net, &ssl) == 0;
    mbedtls_ssl_free(&ssl); /* keep only the socket: the hub sees nothing more */
    if (!ok) {
      mbedtls_net_free(&net);
      fprintf(stderr, "tk_swarm: idle connection %d failed\n", i);
      break;
    }
    fds[opened++] = net.fd;
  }
  printf("idle opened=%d seconds=%.1f\n", opened, now_s() - t0);
  fflush(stdout);
  while (!stop_requested && now_s() - t0 < hold)
    usleep(100000);
  int open = 0;
  for (int i = 0; i < opened; i++) {
    if (!peer_closed(fds[i])) open++;
    close(fds[i]);
  }
  printf("idle open=%d closed=%d\n", open, opened - open);
  free(fds);
  return opened == count ? 0 : 1;
}

typedef struct loris {
  mbedtls_net_context net;
  mbedtls_ssl_context ssl;
  int open;
  int tls; /* ssl is set up */
} loris_t;

static int run_loris(tls_client_t *t, int count, int frame, int interval_ms, int max_s)
{
  loris_t *l = calloc((size_t)count, sizeof *l);
  if (!l) return 1;
  double t0 = now_s(), last_close = 0;
  int rc = 0, open = 0;
  for (int i = 0; i < count; i++) {
    if (frame) {
      if (tls_open(t, &l[i].net, &l[i].ssl) != 0) {
        fprintf(stderr, "tk_swarm: loris connection %d failed\n", i);
        rc = 1;
        break;
      }
      l[i].tls = 1;
      const uint8_t hdr[4] = {0, 0, 0x03, 0xe8}; /* a 1000-byte frame follows */
      if (mbedtls_ssl_write(&l[i].ssl, hdr, 4) != 4) rc = 1;
    } else {
      mbedtls_net_init(&l[i].net);
      if (mbedtls_net_connect(&l[i].net, t->host, t->port, MBEDTLS_NET_PROTO_TCP) != 0) {
        rc = 1;
        break;
      }
      /* handshake record, TLS 1.0 version, 512 bytes announced */
      const uint8_t hdr[5] = {0x16, 0x03, 0x01, 0x02, 0x00};
      if (mbedtls_net_send(&l[i].net, hdr, 5) != 5) rc = 1;
    }
    l[i].open = 1;
    open++;
  }
  if (rc) {
    printf("loris kind=%s count=%d failed to open\n", frame ? "frame" : "handshake",
           count);
    goto done;
  }
  while (open > 0 && now_s() - t0 < max_s) {
    usleep((useconds_t)interval_ms * 1000u);
    for (int i = 0; i < count; i++) {
      if (!l[i].open) continue;
      int gone = peer_closed(l[i].net.fd);
      if (!gone) {
        uint8_t b = 'x';
        int w = frame ? mbedtls_ssl_write(&l[i].ssl, &b, 1)
                      : mbedtls_net_send(&l[i].net, &b, 1);
        gone = w != 1;
      }
      if (gone) {
        l[i].open = 0;
        open--;
        last_close = now_s() - t0;
      }
    }
  }
  printf("loris kind=%s count=%d closed=%d open=%d last_close=%.1f\n",
         frame ? "frame" : "handshake", count, count - open, open, last_close);
done:
  for (int i = 0; i < count; i++) {
    if (l[i].tls) mbedtls_ssl_free(&l[i].ssl);
    mbedtls_net_free(&l[i].net);
  }
  free(l);
  return rc;
}

int main(int argc, char **argv)
{
  /* First of all: no core file may ever hold what this process decrypts. */
  if (tk_process_no_core() != 0) {
    fprintf(stderr, "tk_swarm: cannot turn core dumps off\n");
    return 1;
  }
  if (argc < 2) usage();
  const char *mode = argv[1], *dir = NULL, *tokens = NULL, *home = NULL, *to = NULL,
             *kind = "handshake", *wait_for = NULL;
  long records = 5, rounds = 2, threads = 4, count = 0, hold = 0, max_s = 0,
       interval = 500;
  for (int i = 2; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (!strcmp(a, "--dir"))
      dir = v;
    else if (!strcmp(a, "--tokens"))
      tokens = v;
    else if (!strcmp(a, "--records"))
      records = atol(v);
    else if (!strcmp(a, "--rounds"))
      rounds = atol(v);
    else if (!strcmp(a, "--prepare-threads"))
      threads = atol(v);
    else if (!strcmp(a, "--home"))
      home = v;
    else if (!strcmp(a, "--to"))
      to = v;
    else if (!strcmp(a, "--count"))
      count = atol(v);
    else if (!strcmp(a, "--hold"))
      hold = atol(v);
    else if (!strcmp(a, "--max"))
      max_s = atol(v);
    else if (!strcmp(a, "--interval-ms"))
      interval = atol(v);
    else if (!strcmp(a, "--kind"))
      kind = v;
    else if (!strcmp(a, "--wait-for"))
      wait_for = v;
    else
      usage();
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_term);
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *pass = getenv("TUNDUK_PASSPHRASE");
  if (!pass || tk_crypto_init() != 0 || tk_mbedtls_init() != 0) {
    fprintf(stderr, "tk_swarm: set TUNDUK_PASSPHRASE (or crypto init failed)\n");
    return 1;
  }
  S.pass = pass;
  if (!strcmp(mode, "clients")) {
    if (!dir || !tokens || records < 0 || records > 10000 || rounds < 1 ||
        rounds > 1000 || threads < 1 || threads > 64)
      usage();
    return run_clients(dir, tokens, (int)records, (int)rounds, (int)threads, wait_for);
  }
  int frame = !strcmp(kind, "frame");
  if ((strcmp(mode, "idle") && strcmp(mode, "loris")) || !home || !to || count < 1 ||
      count > SWARM_MAX_CONNS || (!frame && strcmp(kind, "handshake")) || interval < 1 ||
      hold < 0 || max_s < 0)
    usage();
  tk_office_t *o = NULL;
  tk_err_t err;
  tls_client_t t;
  int rc = 1;
  memset(&t, 0, sizeof t);
  if (tk_office_open(&o, home, &err) != 0 ||
      tk_office_unlock(o, pass, strlen(pass), &err) != 0) {
    fprintf(stderr, "tk_swarm: %s\n", tk_err_str(&err));
    goto done;
  }
  if (tls_client_init(&t, tk_office_identity(o), to) != 0) {
    fprintf(stderr, "tk_swarm: TLS set-up failed (address %s)\n", to);
    goto done;
  }
  rc = !strcmp(mode, "idle")
           ? run_idle(&t, (int)count, (int)hold)
           : run_loris(&t, (int)count, frame, (int)interval, (int)max_s);
done:
  tls_client_free(&t);
  tk_office_close(o);
  return rc;
}
