/*
 * tk_proxy.c: a loopback TCP fault proxy for the sync tests. It forwards
 * bytes both ways between each accepted client and a fresh connection to
 * the target, and can cut connections at a chosen byte count:
 *
 *   tk_proxy --listen 127.0.0.1:0 --to 127.0.0.1:PORT
 *            [--cut-after N] [--cut-dir up|down] [--cuts K]
 *
 * At start it prints "listening HOST:PORT" (the bound port) and flushes.
 * With --cut-after N, once N bytes have been forwarded in direction dir
 * (up = client to server, the default; down = server to client) the
 * connection is cut: exactly N bytes go through and reach the receiver,
 * followed by an end of stream (as when a link dies: bytes already
 * delivered are not thrown away), and the sending side is closed at once. Only the first
 * K connections (default 1) are cut; later ones pass untouched. On SIGTERM or SIGINT it
 * prints "up=BYTES down=BYTES connections=N" (bytes forwarded) and exits 0.
 *
 * Random faults: with --faults SEED, each new connection gets a fault with
 * probability --fault-rate PERCENT (default 30), its kind drawn evenly
 * from five, its direction (up/down) at random and its byte offset at
 * random in 1..--fault-span BYTES (default 16384) of that direction:
 *
 *   drop      exactly OFFSET-1 bytes go through, then a cut as above
 *   stall     forwarding both ways stops for 50..--stall-max-ms (default
 *             2000) ms once OFFSET bytes have passed, then goes on
 *   truncate  OFFSET-1 bytes go through, then that direction ends (EOF)
 *             mid-stream; the rest of it is swallowed; the pair closes at
 *             the next end of either side
 *   corrupt   one random bit of byte OFFSET is flipped in flight
 *   storm     this connection and the next 0..3 are closed as soon as
 *             they are accepted (a reconnect storm; counted once)
 *
 * (Reordering is not possible inside one TCP stream; storms stand in for
 * it.) A fault is logged when it happens, not when it is drawn, one line
 * on stdout: "fault KIND conn=N dir=up|down at=OFFSET [ms=M] [bit=B]"
 * ("fault storm conn=N cuts=K", then "fault storm-cut conn=N" for each
 * further connection it cuts); a connection that ends before
 * its offset logs nothing. The draws come from SEED alone, so a run is
 * reproducible as far as the byte stream is. The totals line at exit then
 * goes on " drop=A stall=B truncate=C corrupt=D storm=E".
 *
 * Memory is bounded: when a side's pending writes pass 1 MiB, reading from
 * the other side stops until they drain below it.
 *
 * Threads: one, the libuv default loop.
 */
#include <inttypes.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "tk_common.h"

#define HIGH_WATER (1u << 20)
#define READ_CHUNK (64u << 10)

typedef struct pair pair_t;

typedef struct side {
  uv_tcp_t tcp;
  pair_t *pair;
  struct side *other;
  size_t pending; /* bytes queued for writing to this side */
  int reading;    /* reading from this side is started */
  int paused;     /* reading stopped for back-pressure */
  int eof;        /* this side sent EOF */
  int shut;       /* a shutdown was queued on this side */
  int up;         /* 1: this side is the client (its bytes go up) */
  int closed;     /* its handle was closed (a cut drops one side first) */
} side_t;

enum { F_NONE = -1, F_DROP, F_STALL, F_TRUNCATE, F_CORRUPT, F_STORM, F_KINDS };
static const char *const fault_names[F_KINDS] = {"drop", "stall", "truncate", "corrupt",
                                                 "storm"};

struct pair {
  side_t client, server;
  uv_timer_t stall; /* data: &client, so on_handle_closed finds the pair */
  uv_connect_t connect;
  int connected;
  uint64_t id;       /* connection number, from 1 */
  int fault;         /* F_*: armed, fires once; F_DROP also serves --cut-after */
  int fault_up;      /* its direction: 1 up (client to server), 0 down */
  uint64_t fault_at; /* fires when this many bytes have passed that way */
  uint32_t stall_ms; /* F_STALL */
  uint64_t moved[2]; /* bytes forwarded: [0] down, [1] up */
  int quiet;         /* a --cut-after cut: no fault line */
  int stalled;       /* forwarding paused by a stall */
  int truncated;     /* one direction was ended mid-stream */
  int cutting;       /* the last piece is being written; close after it */
  int closing;
  int shut_done; /* shutdowns completed (2: both directions ended) */
  int handles;   /* open handles left */
};

typedef struct wreq {
  uv_write_t req;
  side_t *to;
  size_t n;
  int last; /* the cut's last piece */
  char data[];
} wreq_t;

static struct {
  uv_tcp_t listener;
  uv_signal_t sigterm, sigint;
  struct sockaddr_storage to;
  uint64_t cut_after;
  int cut_up;
  long cuts_left;
  uint64_t up, down, connections;
  int faults;         /* --faults given */
  uint64_t rng;       /* xorshift64* state */
  unsigned rate;      /* percent of connections that get a fault */
  uint64_t span;      /* fault offsets are in 1..span */
  uint32_t stall_max; /* ms */
  int storm_left;     /* connections still to cut in the current storm */
  uint64_t count[F_KINDS];
} P;

/* xorshift64*: reproducible from the seed, good enough for test draws. */
static uint64_t rnd(void)
{
  P.rng ^= P.rng >> 12;
  P.rng ^= P.rng << 25;
  P.rng ^= P.rng >> 27;
  return P.rng * 2685821657736338717ull;
}

/* A number in 0..n-1 (n > 0). */
static uint64_t rnd_below(uint64_t n)
{
  return rnd() % n;
}

static void die(const char *what, int rc)
{
  fprintf(stderr, "tk_proxy: %s: %s\n", what, rc ? uv_strerror(rc) : "invalid");
  exit(2);
}

static int parse_addr(const char *s, struct sockaddr_storage *out)
{
  char host[256];
  const char *colon = strrchr(s, ':');
  if (!colon || (size_t)(colon - s) >= sizeof host) return -1;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || port < 0 || port > 65535) return -1;
  if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0) return 0;
  if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0) return 0;
  return -1;
}

static void on_handle_closed(uv_handle_t *h)
{
  side_t *s = h->data;
  pair_t *p = s->pair;
  if (--p->handles == 0) free(p);
}

static void side_close(side_t *s)
{
  if (s->closed) return;
  s->closed = 1;
  uv_close((uv_handle_t *)&s->tcp, on_handle_closed);
}

static void pair_close(pair_t *p)
{
  if (p->closing) return;
  p->closing = 1;
  uv_close((uv_handle_t *)&p->stall, on_handle_closed);
  side_close(&p->client);
  side_close(&p->server);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
  (void)hint;
  wreq_t *w = malloc(sizeof *w + READ_CHUNK);
  buf->base = w ? w->data : NULL;
  buf->len = w ? READ_CHUNK : 0;
}

static void read_start(side_t *s);
static void on_shutdown(uv_shutdown_t *req, int status);

/* Queues a shutdown (EOF) on side `to`, once. */
static void shutdown_side(side_t *to)
{
  if (to->shut) return;
  to->shut = 1;
  uv_shutdown_t *sr = malloc(sizeof *sr);
  if (!sr) die("malloc", 0);
  sr->data = to;
  if (uv_shutdown(sr, (uv_stream_t *)&to->tcp, on_shutdown) != 0) {
    free(sr);
    pair_close(to->pair);
  }
}

static void on_stall_end(uv_timer_t *t)
{
  pair_t *p = ((side_t *)t->data)->pair;
  if (p->closing) return;
  p->stalled = 0;
  if (p->client.pending < HIGH_WATER) {
    p->server.paused = 0;
    read_start(&p->server);
  }
  if (p->server.pending < HIGH_WATER) {
    p->client.paused = 0;
    read_start(&p->client);
  }
}

static void fault_log(const pair_t *p, const char *extra)
{
  printf("fault %s conn=%" PRIu64 " dir=%s at=%" PRIu64 "%s\n", fault_names[p->fault],
         p->id, p->fault_up ? "up" : "down", p->fault_at, extra);
  fflush(stdout);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);

/* After a cut, what the receiving side still sends is read and thrown
 * away until it closes. */
static void on_drain_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
  side_t *s = st->data;
  if (buf->base) free(buf->base - offsetof(wreq_t, data));
  if (nread < 0) pair_close(s->pair);
}

/* A cut: the bytes that went through reach `to` followed by an end of
 * stream, as on a link that dies after them (closing a socket with unread
 * bytes would send a reset, and a reset makes the receiver's kernel throw
 * away bytes it already holds); the other side is dropped at once. */
static void cut(pair_t *p, side_t *to)
{
  side_close(to->other);
  shutdown_side(to);
  if (uv_read_start((uv_stream_t *)&to->tcp, on_alloc, on_drain_read) != 0) pair_close(p);
}

static void on_write(uv_write_t *req, int status)
{
  wreq_t *w = (wreq_t *)req;
  side_t *to = w->to;
  pair_t *p = to->pair;
  to->pending -= w->n;
  int last = w->last;
  free(w);
  if (p->closing) return;
  if (status < 0) {
    pair_close(p);
    return;
  }
  if (last == 1) {
    cut(p, to);
    return;
  }
  if (last == 2) { /* truncation: end this direction here */
    shutdown_side(to);
    return;
  }
  /* Back-pressure: the side feeding `to` may read again. */
  side_t *from = to->other;
  if (from->paused && to->pending < HIGH_WATER && !p->stalled) {
    from->paused = 0;
    read_start(from);
  }
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
  side_t *s = req->data;
  free(req);
  pair_t *p = s->pair;
  if (p->closing) return;
  if (status < 0 || ++p->shut_done == 2) pair_close(p);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
  side_t *from = st->data;
  pair_t *p = from->pair;
  wreq_t *w = buf->base ? (wreq_t *)(buf->base - offsetof(wreq_t, data)) : NULL;
  int swallow = p->truncated && from->up == p->fault_up;
  if (nread <= 0 || p->closing || p->cutting || swallow) {
    free(w);
    if (nread == 0 || p->closing || p->cutting) return;
    if (nread > 0) return; /* the truncated direction: swallowed */
    if (nread != UV_EOF || p->truncated) {
      pair_close(p);
      return;
    }
    /* EOF: pass it on once the queued bytes are written. */
    from->eof = 1;
    uv_read_stop(st);
    from->reading = 0;
    shutdown_side(from->other);
    return;
  }
  size_t n = (size_t)nread;
  int last = 0, stall = 0;
  uint64_t before = p->moved[from->up];
  if (p->fault != F_NONE && from->up == p->fault_up && before + n >= p->fault_at) {
    size_t at = (size_t)(p->fault_at - before); /* 1-based offset in this chunk */
    char extra[48] = "";
    switch (p->fault) {
    case F_DROP:
    case F_TRUNCATE:
      n = p->quiet ? at : at - 1; /* --cut-after N: the N-th byte is the last */
      last = p->fault == F_DROP ? 1 : 2;
      break;
    case F_CORRUPT: {
      unsigned bit = (unsigned)rnd_below(8);
      w->data[at - 1] ^= (char)(1u << bit);
      snprintf(extra, sizeof extra, " bit=%u", bit);
      break;
    }
    case F_STALL:
      stall = 1;
      snprintf(extra, sizeof extra, " ms=%u", p->stall_ms);
      break;
    }
    if (!p->quiet) {
      P.count[p->fault]++;
      fault_log(p, extra);
    }
    p->fault = F_NONE;
  }
  p->moved[from->up] += n;
  side_t *to = from->other;
  if (from->up)
    P.up += n;
  else
    P.down += n;
  if (last == 1) {
    p->cutting = 1;
    uv_read_stop((uv_stream_t *)&p->client.tcp);
    uv_read_stop((uv_stream_t *)&p->server.tcp);
  } else if (last == 2) {
    p->truncated = 1;
  }
  if (last && n == 0) {
    free(w);
    if (last == 1)
      cut(p, to);
    else
      shutdown_side(to);
    return;
  }
  w->to = to;
  w->n = n;
  w->last = last;
  uv_buf_t out = uv_buf_init(w->data, (unsigned)n);
  to->pending += n;
  if (uv_write(&w->req, (uv_stream_t *)&to->tcp, &out, 1, on_write) != 0) {
    to->pending -= n;
    free(w);
    pair_close(p);
    return;
  }
  if (stall) {
    p->stalled = 1;
    uv_read_stop((uv_stream_t *)&p->client.tcp);
    uv_read_stop((uv_stream_t *)&p->server.tcp);
    uv_timer_start(&p->stall, on_stall_end, p->stall_ms, 0);
  } else if (to->pending >= HIGH_WATER && last != 1) {
    uv_read_stop(st);
    from->paused = 1;
  }
}

static void read_start(side_t *s)
{
  if (s->eof || s->pair->closing || s->pair->stalled) return;
  if (uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read) != 0)
    pair_close(s->pair);
  else
    s->reading = 1;
}

static void on_connect(uv_connect_t *req, int status)
{
  pair_t *p = req->data;
  if (p->closing) return;
  if (status < 0) {
    fprintf(stderr, "tk_proxy: connect to target: %s\n", uv_strerror(status));
    pair_close(p);
    return;
  }
  p->connected = 1;
  read_start(&p->client);
  read_start(&p->server);
}

static void on_connection(uv_stream_t *server, int status)
{
  if (status < 0) return;
  pair_t *p = calloc(1, sizeof *p);
  if (!p) die("calloc", 0);
  uv_loop_t *loop = server->loop;
  uv_tcp_init(loop, &p->client.tcp);
  uv_tcp_init(loop, &p->server.tcp);
  uv_timer_init(loop, &p->stall);
  p->stall.data = &p->client;
  p->handles = 3;
  p->fault = F_NONE;
  p->client.pair = p->server.pair = p;
  p->client.other = &p->server;
  p->server.other = &p->client;
  p->client.up = 1;
  p->client.tcp.data = &p->client;
  p->server.tcp.data = &p->server;
  if (uv_accept(server, (uv_stream_t *)&p->client.tcp) != 0) {
    pair_close(p);
    return;
  }
  p->id = ++P.connections;
  if (P.cut_after > 0 && P.cuts_left > 0) {
    p->fault = F_DROP;
    p->fault_up = P.cut_up;
    p->fault_at = P.cut_after;
    p->quiet = 1;
    P.cuts_left--;
  } else if (P.faults && P.storm_left > 0) {
    P.storm_left--;
    printf("fault storm-cut conn=%" PRIu64 "\n", p->id);
    fflush(stdout);
    pair_close(p);
    return;
  } else if (P.faults && rnd_below(100) < P.rate) {
    p->fault = (int)rnd_below(F_KINDS);
    p->fault_up = (int)rnd_below(2);
    p->fault_at = 1 + rnd_below(P.span);
    p->stall_ms = 50 + (uint32_t)rnd_below(P.stall_max > 50 ? P.stall_max - 49 : 1);
    if (p->fault == F_STORM) {
      P.storm_left = (int)rnd_below(4); /* this one and 0..3 more: 1..4 cuts */
      P.count[F_STORM]++;
      printf("fault storm conn=%" PRIu64 " cuts=%d\n", p->id, P.storm_left + 1);
      fflush(stdout);
      pair_close(p);
      return;
    }
  }
  uv_tcp_nodelay(&p->client.tcp, 1);
  uv_tcp_nodelay(&p->server.tcp, 1);
  p->connect.data = p;
  if (uv_tcp_connect(&p->connect, &p->server.tcp, (struct sockaddr *)&P.to, on_connect) !=
      0)
    pair_close(p);
}

static void close_any(uv_handle_t *h, void *arg)
{
  (void)arg;
  if (uv_is_closing(h)) return;
  if ((h->type == UV_TCP && h != (uv_handle_t *)&P.listener) ||
      (h->type == UV_TIMER && h->data)) {
    pair_close(((side_t *)h->data)->pair);
    return;
  }
  uv_close(h, NULL);
}

static void on_signal(uv_signal_t *sig, int signum)
{
  (void)signum;
  printf("up=%" PRIu64 " down=%" PRIu64 " connections=%" PRIu64, P.up, P.down,
         P.connections);
  if (P.faults)
    for (int k = 0; k < F_KINDS; k++)
      printf(" %s=%" PRIu64, fault_names[k], P.count[k]);
  printf("\n");
  fflush(stdout);
  uv_walk(sig->loop, close_any, NULL);
}

static void usage(void)
{
  fprintf(stderr, "usage: tk_proxy --listen HOST:PORT --to HOST:PORT [--cut-after N] "
                  "[--cut-dir up|down] [--cuts K]\n"
                  "       [--faults SEED [--fault-rate PERCENT] [--fault-span BYTES] "
                  "[--stall-max-ms MS]]\n");
  exit(2);
}

int main(int argc, char **argv)
{
  /* First of all: no core file may ever hold what this process decrypts. */
  if (tk_process_no_core() != 0) {
    fprintf(stderr, "tk_proxy: cannot turn core dumps off\n");
    return 1;
  }
  const char *listen = NULL, *to = NULL;
  signal(SIGPIPE, SIG_IGN); /* a write to a side that reset fails with EPIPE instead */
  P.cut_up = 1;
  P.cuts_left = 1;
  P.rate = 30;
  P.span = 16384;
  P.stall_max = 2000;
  for (int i = 1; i < argc; i += 2) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (!strcmp(a, "--listen"))
      listen = v;
    else if (!strcmp(a, "--to"))
      to = v;
    else if (!strcmp(a, "--cut-after"))
      P.cut_after = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--cut-dir") && (!strcmp(v, "up") || !strcmp(v, "down")))
      P.cut_up = !strcmp(v, "up");
    else if (!strcmp(a, "--cuts"))
      P.cuts_left = strtol(v, NULL, 10);
    else if (!strcmp(a, "--faults")) {
      P.faults = 1;
      P.rng = strtoull(v, NULL, 10) * 0x9E3779B97F4A7C15ull + 1; /* never 0 */
    } else if (!strcmp(a, "--fault-rate") && atoi(v) >= 0 && atoi(v) <= 100)
      P.rate = (unsigned)atoi(v);
    else if (!strcmp(a, "--fault-span") && strtoull(v, NULL, 10) > 0)
      P.span = strtoull(v, NULL, 10);
    else if (!strcmp(a, "--stall-max-ms") && atoi(v) >= 50)
      P.stall_max = (uint32_t)atoi(v);
    else
      usage();
  }
  if (!listen || !to) usage();
  struct sockaddr_storage la;
  if (parse_addr(listen, &la) != 0) die("--listen address", 0);
  if (parse_addr(to, &P.to) != 0) die("--to address", 0);

  uv_loop_t *loop = uv_default_loop();
  int rc = uv_tcp_init(loop, &P.listener);
  if (rc == 0) rc = uv_tcp_bind(&P.listener, (struct sockaddr *)&la, 0);
  if (rc == 0) rc = uv_listen((uv_stream_t *)&P.listener, 64, on_connection);
  if (rc != 0) die("listen", rc);
  struct sockaddr_storage bound;
  int blen = sizeof bound;
  char host[64];
  uv_tcp_getsockname(&P.listener, (struct sockaddr *)&bound, &blen);
  int port;
  if (bound.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&bound, host, sizeof host);
    port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
  } else {
    uv_ip4_name((struct sockaddr_in *)&bound, host, sizeof host);
    port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  }
  printf("listening %s:%d\n", host, port);
  fflush(stdout);

  uv_signal_init(loop, &P.sigterm);
  uv_signal_init(loop, &P.sigint);
  uv_signal_start(&P.sigterm, on_signal, SIGTERM);
  uv_signal_start(&P.sigint, on_signal, SIGINT);
  uv_run(loop, UV_RUN_DEFAULT);
  rc = uv_loop_close(loop);
  if (rc != 0) fprintf(stderr, "tk_proxy: loop not closed: %s\n", uv_strerror(rc));
  return rc == 0 ? 0 : 1;
}
