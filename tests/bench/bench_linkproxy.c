/*
 * bench_linkproxy.c: a loopback TCP proxy that behaves like a slow link,
 * for the bad-link rows of the benchmarks (run.sh):
 *
 *   bench_linkproxy --listen 127.0.0.1:0 --to 127.0.0.1:PORT
 *                   --rtt-ms R --kbit K [--queue-kb Q] [--tcp-rtt 0|1]
 *                   [--cut-every-ms N [--cuts C]]
 *
 * Each direction on its own is a link with a one-way delay of R/2 ms and a
 * bandwidth of K kbit/s (1 kbit = 1000 bits): the bytes read from one side
 * are cut into pieces of at most 1460 bytes; a piece leaves the sender
 * once the link has finished sending the pieces before it (a token bucket
 * with no burst: it takes len * 8 / K ms), and is written to the other side
 * R/2 ms after that. A side is read only while fewer than Q KiB
 * (default 256) of its bytes are queued, and no more than fits (a
 * router's buffer; TCP back-pressure does the rest). A loopback kernel
 * acknowledges what sits in the proxy's buffers, so a sender sees those
 * bytes as taken although the "link" has not carried them yet (what the
 * idle rule of core/net/conn_idle.c watches). To keep that window near Q,
 * as on a real link whose sender sees bytes acknowledged once they
 * crossed: with --queue-kb the proxy's sockets get receive buffers of
 * min(Q, 8) KiB, and always segments of 1460 bytes (TCP_MAXSEG; with
 * loopback's 64 KiB segments the kernel reopens its window only in 64 KiB
 * jumps, 16 s apart at 32 kbit/s).
 * An EOF is passed on after the bytes before it; a closed side closes the
 * pair.
 *
 * The TCP handshake: the client's connect completes on loopback at once,
 * but on a real link its first byte leaves one RTT later (SYN, SYN-ACK).
 * So the client's direction of a new connection starts sending R ms after
 * the connection was accepted (--tcp-rtt 0: at once, as before).
 *
 * Cuts (--cut-every-ms N): each connection is cut N ms after it was
 * accepted, as a dying link would: both sockets are reset (RST, SO_LINGER
 * 0) and whatever is still queued in the proxy is dropped; bytes already
 * written to a side stay delivered. With --cuts C at most C connections
 * are cut in all; later ones pass untouched. Without --cut-every-ms no
 * connection is cut.
 *
 * At start it prints "listening HOST:PORT" and flushes. On SIGTERM or
 * SIGINT it prints one line per connection (at most the first 100,000),
 *   connection I up=BYTES down=BYTES ms=LIFETIME cut=0|1
 * (bytes delivered each way; LIFETIME from accept to close, or to now if
 * still open), then the totals
 *   up=BYTES down=BYTES connections=N cuts=N
 * and exits 0.
 *
 * Threads: one, the libuv default loop. Timers have libuv's 1 ms grain.
 */
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define PIECE 1460u
#define QUEUE_MAX (P.queue_max)

typedef struct piece {
  struct piece *next;
  uint64_t due_us; /* when it arrives at the far side */
  size_t n;        /* 0: the EOF marker */
  char data[];
} piece_t;

typedef struct pair pair_t;

/* What a connection carried, kept after it closed, for the exit report. */
typedef struct conn_stat {
  uint64_t up, down;
  uint64_t accepted_us, closed_us; /* closed_us 0: still open */
  int cut;
} conn_stat_t;

#define MAX_STATS 100000u

typedef struct dir {
  uv_tcp_t *from, *to; /* read from, write to */
  pair_t *pair;
  piece_t *head, *tail;
  size_t queued;      /* bytes in the queue and in flight to 'to' */
  uint64_t link_free; /* when the link has sent everything before (us) */
  uv_timer_t timer;
  int paused, eof_sent, up;
} dir_t;

struct pair {
  uv_tcp_t client, server;
  uv_connect_t connect;
  uv_timer_t cut;    /* --cut-every-ms; its data is &d[0] */
  dir_t d[2];        /* 0: client -> server (up), 1: server -> client (down) */
  conn_stat_t *stat; /* NULL beyond MAX_STATS connections */
  size_t stat_i;
  int closing, handles;
};

typedef struct wreq {
  uv_write_t req;
  dir_t *d;
  size_t n;
  piece_t *p;
} wreq_t;

static struct {
  uv_tcp_t listener;
  uv_signal_t sigterm, sigint;
  struct sockaddr_storage to;
  uint64_t delay_us;
  double us_per_byte;
  uint64_t up, down, connections, cuts;
  size_t queue_max; /* bytes queued per direction before reading stops */
  int rcvbuf;       /* SO_RCVBUF of the proxy's sockets, 0: the kernel's */
  int tcp_rtt;      /* charge the TCP handshake's round trip */
  uint64_t rtt_us;
  uint64_t cut_every_ms; /* 0: no cuts */
  long cuts_max;         /* -1: no limit */
  conn_stat_t *stats;    /* one per connection, up to MAX_STATS */
  size_t nstats, stats_cap;
} P;

static void die(const char *what, int rc)
{
  fprintf(stderr, "bench_linkproxy: %s: %s\n", what, rc ? uv_strerror(rc) : "invalid");
  exit(2);
}

/* A real link's segment size on one of the proxy's sockets (before its
 * connect or listen): loopback's 64 KiB segments would make the kernel
 * acknowledge, and reopen its window, only in 64 KiB jumps, so a sender
 * would see its bytes taken in bursts tens of seconds apart on a slow
 * link. */
static void link_mss(uv_tcp_t *t)
{
  uv_os_fd_t fd;
  int mss = PIECE;
  if (uv_fileno((uv_handle_t *)t, &fd) == 0)
    (void)setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss);
}

static uint64_t now_us(void)
{
  return uv_hrtime() / 1000;
}

static int parse_addr(const char *s, struct sockaddr_storage *out)
{
  char host[256];
  const char *colon = strrchr(s, ':');
  if (!colon || (size_t)(colon - s) >= sizeof host) return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = 0;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 0 || port > 65535) return -1;
  return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out);
}

static void on_closed(uv_handle_t *h)
{
  /* the sockets' data is the pair, the timers' a direction (the cut
   * timer's the first) */
  pair_t *p = h->type == UV_TIMER ? ((dir_t *)h->data)->pair : h->data;
  if (--p->handles > 0) return;
  for (int i = 0; i < 2; i++) {
    piece_t *x = p->d[i].head;
    while (x) {
      piece_t *nx = x->next;
      free(x);
      x = nx;
    }
  }
  free(p);
}

/* Closes the pair; reset: with an RST on both sockets (a cut link). */
static void pair_close_how(pair_t *p, int reset)
{
  if (p->closing) return;
  p->closing = 1;
  if (p->stat) P.stats[p->stat_i].closed_us = now_us();
  /* uv_tcp_close_reset refuses a socket with a shutdown under way: then a
   * plain close */
  if (!reset || uv_tcp_close_reset(&p->client, on_closed) != 0)
    uv_close((uv_handle_t *)&p->client, on_closed);
  if (!reset || uv_tcp_close_reset(&p->server, on_closed) != 0)
    uv_close((uv_handle_t *)&p->server, on_closed);
  uv_close((uv_handle_t *)&p->cut, on_closed);
  uv_close((uv_handle_t *)&p->d[0].timer, on_closed);
  uv_close((uv_handle_t *)&p->d[1].timer, on_closed);
}

static void pair_close(pair_t *p)
{
  pair_close_how(p, 0);
}

static void on_cut(uv_timer_t *t)
{
  pair_t *p = ((dir_t *)t->data)->pair;
  if (p->closing) return;
  if (P.cuts_max >= 0 && P.cuts >= (uint64_t)P.cuts_max) return; /* passes untouched */
  P.cuts++;
  if (p->stat) P.stats[p->stat_i].cut = 1;
  pair_close_how(p, 1);
}

/* A read takes at most what the queue has room for (at least one piece):
 * the rest waits in the kernel, so the bytes a sender sees taken before
 * the link carried them stay about Q KiB plus the socket's buffer. */
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
  (void)hint;
  static char buf[64 << 10];
  pair_t *p = h->data;
  const dir_t *d = (uv_tcp_t *)h == &p->client ? &p->d[0] : &p->d[1];
  size_t room = QUEUE_MAX > d->queued ? QUEUE_MAX - d->queued : 0;
  if (room < PIECE) room = PIECE;
  b->base = buf;
  b->len = room < sizeof buf ? room : sizeof buf;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);
static void on_timer(uv_timer_t *t);

static void arm(dir_t *d)
{
  if (!d->head || d->pair->closing) return;
  uint64_t t = now_us();
  uint64_t wait = d->head->due_us > t ? (d->head->due_us - t + 999) / 1000 : 0;
  uv_timer_start(&d->timer, on_timer, wait, 0);
}

static void on_shutdown(uv_shutdown_t *r, int status)
{
  (void)status;
  free(r);
}

static void on_written(uv_write_t *w, int status)
{
  wreq_t *r = (wreq_t *)w;
  dir_t *d = r->d;
  pair_t *p = d->pair;
  d->queued -= r->n;
  free(r->p);
  free(r);
  if (p->closing) return;
  if (status) {
    pair_close(p);
    return;
  }
  if (d->paused && d->queued + PIECE <= QUEUE_MAX) {
    d->paused = 0;
    uv_read_start((uv_stream_t *)d->from, on_alloc, on_read);
  }
}

static void on_timer(uv_timer_t *t)
{
  dir_t *d = t->data;
  pair_t *p = d->pair;
  uint64_t now = now_us();
  while (d->head && d->head->due_us <= now + 500 && !p->closing) {
    piece_t *x = d->head;
    d->head = x->next;
    if (!d->head) d->tail = NULL;
    if (x->n == 0) { /* EOF */
      free(x);
      uv_shutdown_t *sr = malloc(sizeof *sr);
      if (!sr || uv_shutdown(sr, (uv_stream_t *)d->to, on_shutdown) != 0) {
        free(sr);
        pair_close(p);
        return;
      }
      d->eof_sent = 1;
      if (p->d[0].eof_sent && p->d[1].eof_sent) pair_close(p);
      continue;
    }
    wreq_t *r = malloc(sizeof *r);
    if (!r) die("out of memory", 0);
    r->d = d;
    r->n = x->n;
    r->p = x;
    uv_buf_t b = uv_buf_init(x->data, (unsigned)x->n);
    if (uv_write(&r->req, (uv_stream_t *)d->to, &b, 1, on_written) != 0) {
      free(x);
      free(r);
      pair_close(p);
      return;
    }
    if (d->up)
      P.up += x->n;
    else
      P.down += x->n;
    if (p->stat) {
      if (d->up)
        P.stats[p->stat_i].up += x->n;
      else
        P.stats[p->stat_i].down += x->n;
    }
  }
  arm(d);
}

static void enqueue(dir_t *d, const char *data, size_t n)
{
  uint64_t t = now_us();
  do {
    size_t k = n < PIECE ? n : PIECE;
    piece_t *x = malloc(sizeof *x + k);
    if (!x) die("out of memory", 0);
    x->next = NULL;
    x->n = k;
    if (k) memcpy(x->data, data, k);
    uint64_t start = d->link_free > t ? d->link_free : t;
    d->link_free = start + (uint64_t)((double)k * P.us_per_byte);
    x->due_us = d->link_free + P.delay_us;
    if (d->tail)
      d->tail->next = x;
    else
      d->head = x;
    d->tail = x;
    d->queued += k;
    data += k;
    n -= k;
  } while (n > 0);
  if (!uv_is_active((uv_handle_t *)&d->timer)) arm(d);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
  pair_t *p = s->data;
  dir_t *d = (uv_tcp_t *)s == &p->client ? &p->d[0] : &p->d[1];
  if (nread == 0) return;
  if (nread == UV_EOF) {
    uv_read_stop(s);
    enqueue(d, NULL, 0);
    return;
  }
  if (nread < 0) {
    pair_close(p);
    return;
  }
  enqueue(d, b->base, (size_t)nread);
  if (d->queued + PIECE > QUEUE_MAX) {
    d->paused = 1;
    uv_read_stop(s);
  }
}

static void on_connected(uv_connect_t *c, int status)
{
  pair_t *p = c->data;
  if (p->closing) return;
  if (status) {
    pair_close(p);
    return;
  }
  uv_read_start((uv_stream_t *)&p->client, on_alloc, on_read);
  uv_read_start((uv_stream_t *)&p->server, on_alloc, on_read);
}

static void on_connection(uv_stream_t *l, int status)
{
  if (status) return;
  pair_t *p = calloc(1, sizeof *p);
  if (!p) die("out of memory", 0);
  uv_loop_t *loop = l->loop;
  uv_tcp_init(loop, &p->client);
  uv_tcp_init_ex(loop, &p->server, P.to.ss_family);
  link_mss(&p->server);
  if (P.rcvbuf) uv_recv_buffer_size((uv_handle_t *)&p->server, &(int){P.rcvbuf});
  p->client.data = p->server.data = p;
  uv_timer_init(loop, &p->cut);
  p->cut.data = &p->d[0];
  p->handles = 5;
  for (int i = 0; i < 2; i++) {
    dir_t *d = &p->d[i];
    d->pair = p;
    d->up = i == 0;
    d->from = i == 0 ? &p->client : &p->server;
    d->to = i == 0 ? &p->server : &p->client;
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
  }
  if (uv_accept(l, (uv_stream_t *)&p->client) != 0) {
    pair_close(p);
    return;
  }
  uv_tcp_nodelay(&p->client, 1);
  uv_tcp_nodelay(&p->server, 1);
  P.connections++;
  uint64_t t = now_us();
  if (P.tcp_rtt) p->d[0].link_free = t + P.rtt_us; /* SYN, SYN-ACK */
  if (P.nstats < MAX_STATS) {
    if (P.nstats == P.stats_cap) {
      size_t cap = P.stats_cap ? P.stats_cap * 2 : 64;
      conn_stat_t *v = realloc(P.stats, cap * sizeof *v);
      if (!v) die("out of memory", 0);
      P.stats = v;
      P.stats_cap = cap;
    }
    p->stat_i = P.nstats++;
    p->stat = &P.stats[p->stat_i]; /* only tested for NULL: the array moves */
    memset(p->stat, 0, sizeof *p->stat);
    p->stat->accepted_us = t;
  }
  if (P.cut_every_ms) uv_timer_start(&p->cut, on_cut, P.cut_every_ms, 0);
  p->connect.data = p;
  if (uv_tcp_connect(&p->connect, &p->server, (struct sockaddr *)&P.to, on_connected))
    pair_close(p);
}

static void on_signal(uv_signal_t *s, int sig)
{
  (void)s;
  (void)sig;
  uint64_t t = now_us();
  for (size_t i = 0; i < P.nstats; i++) {
    const conn_stat_t *c = &P.stats[i];
    uint64_t end = c->closed_us ? c->closed_us : t;
    printf("connection %zu up=%" PRIu64 " down=%" PRIu64 " ms=%" PRIu64 " cut=%d\n",
           i + 1, c->up, c->down, (end - c->accepted_us) / 1000, c->cut);
  }
  printf("up=%" PRIu64 " down=%" PRIu64 " connections=%" PRIu64 " cuts=%" PRIu64 "\n",
         P.up, P.down, P.connections, P.cuts);
  fflush(stdout);
  exit(0);
}

/* A whole number in [lo, hi], or -2 (not one). */
static long arg_num(const char *s, long lo, long hi)
{
  char *end;
  long v = strtol(s, &end, 10);
  return !*s || *end || v < lo || v > hi ? -2 : v;
}

static int usage(const char *argv0)
{
  fprintf(
      stderr,
      "usage: %s --listen HOST:PORT --to HOST:PORT --rtt-ms R --kbit K [--queue-kb Q]\n"
      "         [--tcp-rtt 0|1] [--cut-every-ms N [--cuts C]]\n"
      "  (R 0..60000 ms round trip, K 1..10000000 kbit/s each way, Q 1..65536 KiB\n"
      "  queued; --tcp-rtt 1 (default): a connection's first byte up waits one RTT;\n"
      "  N 1..3600000 ms: each connection is cut N ms after its accept; C 0..1000000\n"
      "  cuts at most)\n",
      argv0);
  return 2;
}

int main(int argc, char **argv)
{
  const char *listen = NULL, *to = NULL;
  long rtt = -1, kbit = -1, qkb = 0, tcp_rtt = 1, cut_every = 0, cuts = -1;
  if (argc % 2 != 1) return usage(argv[0]);
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--listen"))
      listen = v;
    else if (!strcmp(k, "--to"))
      to = v;
    else if (!strcmp(k, "--rtt-ms"))
      rtt = arg_num(v, 0, 60000);
    else if (!strcmp(k, "--kbit"))
      kbit = arg_num(v, 1, 10000000);
    else if (!strcmp(k, "--queue-kb"))
      qkb = arg_num(v, 1, 65536);
    else if (!strcmp(k, "--tcp-rtt"))
      tcp_rtt = arg_num(v, 0, 1);
    else if (!strcmp(k, "--cut-every-ms"))
      cut_every = arg_num(v, 1, 3600000);
    else if (!strcmp(k, "--cuts"))
      cuts = arg_num(v, 0, 1000000);
    else
      return usage(argv[0]);
  }
  if (!listen || !to || rtt < 0 || kbit < 1 || qkb < 0 || tcp_rtt < 0 || cut_every < 0 ||
      cuts < -1 || (cuts >= 0 && !cut_every))
    return usage(argv[0]);
  P.tcp_rtt = (int)tcp_rtt;
  P.rtt_us = (uint64_t)rtt * 1000;
  P.cut_every_ms = (uint64_t)cut_every;
  P.cuts_max = cuts;
  P.queue_max = qkb ? (size_t)qkb << 10 : 256u << 10;
  P.rcvbuf = qkb ? (int)((qkb < 8 ? qkb : 8) << 10) : 0;
  P.delay_us = (uint64_t)rtt * 1000 / 2;
  P.us_per_byte = 8000.0 / (double)kbit; /* kbit/s = bits per ms */
  struct sockaddr_storage la;
  if (parse_addr(listen, &la) != 0) die("--listen address", 0);
  if (parse_addr(to, &P.to) != 0) die("--to address", 0);
  uv_loop_t *loop = uv_default_loop();
  int rc;
  if ((rc = uv_tcp_init(loop, &P.listener)) != 0) die("tcp", rc);
  if ((rc = uv_tcp_bind(&P.listener, (struct sockaddr *)&la, 0)) != 0) die("bind", rc);
  /* accepted sockets inherit it, before any window is advertised */
  if (P.rcvbuf) uv_recv_buffer_size((uv_handle_t *)&P.listener, &(int){P.rcvbuf});
  link_mss(&P.listener); /* accepted sockets inherit it too */
  if ((rc = uv_listen((uv_stream_t *)&P.listener, 128, on_connection)) != 0)
    die("listen", rc);
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  uv_tcp_getsockname(&P.listener, (struct sockaddr *)&bound, &blen);
  char host[64];
  uv_ip4_name((struct sockaddr_in *)&bound, host, sizeof host);
  printf("listening %s:%d\n", host, ntohs(((struct sockaddr_in *)&bound)->sin_port));
  fflush(stdout);
  uv_signal_init(loop, &P.sigterm);
  uv_signal_init(loop, &P.sigint);
  uv_signal_start(&P.sigterm, on_signal, SIGTERM);
  uv_signal_start(&P.sigint, on_signal, SIGINT);
  signal(SIGPIPE, SIG_IGN);
  return uv_run(loop, UV_RUN_DEFAULT);
}
