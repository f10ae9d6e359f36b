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
 * connection is cut: exactly N bytes go through, then both sockets are
 * closed at once. Only the first K connections (default 1) are cut; later
 * ones pass untouched. On SIGTERM or SIGINT it prints
 * "up=BYTES down=BYTES connections=N" (bytes forwarded) and exits 0.
 *
 * Memory is bounded: when a side's pending writes pass 1 MiB, reading from
 * the other side stops until they drain below it.
 *
 * Threads: one, the libuv default loop.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

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
} side_t;

struct pair {
  side_t client, server;
  uv_connect_t connect;
  int connected;
  int cut;       /* this connection is subject to the cut */
  uint64_t sent; /* bytes forwarded in the cut direction */
  int cutting;   /* the last piece is being written; close after it */
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
} P;

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

static void pair_close(pair_t *p)
{
  if (p->closing) return;
  p->closing = 1;
  uv_close((uv_handle_t *)&p->client.tcp, on_handle_closed);
  uv_close((uv_handle_t *)&p->server.tcp, on_handle_closed);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
  (void)hint;
  wreq_t *w = malloc(sizeof *w + READ_CHUNK);
  buf->base = w ? w->data : NULL;
  buf->len = w ? READ_CHUNK : 0;
}

static void read_start(side_t *s);

static void on_write(uv_write_t *req, int status)
{
  wreq_t *w = (wreq_t *)req;
  side_t *to = w->to;
  pair_t *p = to->pair;
  to->pending -= w->n;
  int last = w->last;
  free(w);
  if (p->closing) return;
  if (status < 0 || last) {
    pair_close(p);
    return;
  }
  /* Back-pressure: the side feeding `to` may read again. */
  side_t *from = to->other;
  if (from->paused && to->pending < HIGH_WATER) {
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
  if (nread <= 0 || p->closing || p->cutting) {
    free(w);
    if (nread == 0 || p->closing || p->cutting) return;
    if (nread != UV_EOF) {
      pair_close(p);
      return;
    }
    /* EOF: pass it on once the queued bytes are written. */
    from->eof = 1;
    uv_read_stop(st);
    from->reading = 0;
    side_t *to = from->other;
    if (!to->shut) {
      to->shut = 1;
      uv_shutdown_t *sr = malloc(sizeof *sr);
      if (!sr) die("malloc", 0);
      sr->data = to;
      if (uv_shutdown(sr, (uv_stream_t *)&to->tcp, on_shutdown) != 0) {
        free(sr);
        pair_close(p);
      }
    }
    return;
  }
  size_t n = (size_t)nread;
  int last = 0;
  if (p->cut && from->up == P.cut_up) {
    if (p->sent + n >= P.cut_after) {
      n = (size_t)(P.cut_after - p->sent);
      last = 1;
    }
    p->sent += n;
  }
  side_t *to = from->other;
  if (from->up)
    P.up += n;
  else
    P.down += n;
  if (last) {
    p->cutting = 1;
    uv_read_stop((uv_stream_t *)&p->client.tcp);
    uv_read_stop((uv_stream_t *)&p->server.tcp);
    if (n == 0) {
      free(w);
      pair_close(p);
      return;
    }
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
  if (to->pending >= HIGH_WATER && !last) {
    uv_read_stop(st);
    from->paused = 1;
  }
}

static void read_start(side_t *s)
{
  if (s->eof || s->pair->closing) return;
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
  p->handles = 2;
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
  P.connections++;
  if (P.cut_after > 0 && P.cuts_left > 0) {
    p->cut = 1;
    P.cuts_left--;
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
  if (h->type == UV_TCP && h != (uv_handle_t *)&P.listener) {
    pair_close(((side_t *)h->data)->pair);
    return;
  }
  uv_close(h, NULL);
}

static void on_signal(uv_signal_t *sig, int signum)
{
  (void)signum;
  printf("up=%" PRIu64 " down=%" PRIu64 " connections=%" PRIu64 "\n", P.up, P.down,
         P.connections);
  fflush(stdout);
  uv_walk(sig->loop, close_any, NULL);
}

static void usage(void)
{
  fprintf(stderr, "usage: tk_proxy --listen HOST:PORT --to HOST:PORT [--cut-after N] "
                  "[--cut-dir up|down] [--cuts K]\n");
  exit(2);
}

int main(int argc, char **argv)
{
  const char *listen = NULL, *to = NULL;
  P.cut_up = 1;
  P.cuts_left = 1;
  for (int i = 1; i < argc; i++) {
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
    else
      usage();
    i++;
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
