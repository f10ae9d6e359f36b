/*
 * conn.c: one framed TLS connection (tk_conn_t) on a libuv loop. Owns the
 * uv_tcp_t, two timers, the mbedtls_ssl_context and the buffers between
 * them. mbedtls never touches the socket: its BIO callbacks read from the
 * ciphertext that uv_read delivered (rbuf) and append ciphertext to obuf,
 * which is handed to uv_write.
 *
 *   socket -> rbuf -> mbedtls_ssl_read -> frame assembler -> on_frame
 *   tk_conn_send -> plain queue -> mbedtls_ssl_write -> obuf -> uv_write
 *
 * States: RESOLVING -> CONNECTING -> HANDSHAKE -> OPEN -> CLOSING (a server
 * connection starts in HANDSHAKE). CLOSING flushes queued frames and sends
 * close_notify (when TLS still works), bounded by CLOSE_FLUSH_MS, then
 * closes the three handles; the connection is freed when all three close
 * callbacks have run and no getaddrinfo request is outstanding, right after
 * on_close. So the conn pointer stays valid in every callback, including
 * after tk_conn_close was called from inside one.
 *
 * Invariants:
 *   - memory per connection is bounded: rbuf <= RBUF_CAP (one TLS record
 *     plus one read), the frame buffer <= max_frame, ciphertext handed to
 *     libuv and not yet written <= OUT_CAP + one record, handed over one
 *     record per uv_write so each is freed once the socket took it; the plain queue is
 *     what the caller sent and did not wait for (tk_conn_write_queue);
 *   - uv_write buffers belong to their write request until its callback;
 *   - on_close runs exactly once, last, unless tk_conn_accept /
 *     tk_conn_connect returned an error (then no callback runs at all);
 *   - after a TLS or socket error (tls_dead) mbedtls is not written to.
 *
 * A memory connection (tk_conn_memory, for tests and fuzzing) uses none of
 * the above: no handles, no mbedtls; sends go to a sink function and frames
 * come from tk_conn_memory_deliver, on the caller's stack (see tk_conn.h;
 * conn_memory.c). Session resumption (offering a saved session, exporting
 * one) is in conn_session.c; the struct is in conn_internal.h.
 *
 * Threads: everything runs on the loop's thread.
 */
#include "conn_internal.h"

#include <mbedtls/error.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RBUF_CAP (2 * (16384 + 512)) /* ciphertext: a whole record and one read */
#define OUT_CAP (128u << 10)         /* ciphertext given to libuv, not yet written */
#define WRITE_CHUNK 16384u           /* plaintext per mbedtls_ssl_write (one record) */
#define KEEP_BUF (64u << 10)         /* larger idle buffers are released */
#define FRAME_MIN_ALLOC 4096u        /* smallest frame buffer (reused) */
#define FRAME_MIN_RATE 1024u /* default bytes/s a frame in progress must average */
#define CLOSE_FLUSH_MS 2000  /* how long a close may spend flushing */
#define DEFAULT_HANDSHAKE_MS 10000
#define DEFAULT_IDLE_MS 120000
/* One uv_write: the request and the ciphertext it owns until its callback. */
typedef struct wreq {
  uv_write_t req;
  uint8_t *p;
  size_t n;
} wreq_t;

static void process_input(tk_conn_t *c);
static void pump_write(tk_conn_t *c);
static void close_start(tk_conn_t *c, int reason, const char *msg);
static void close_progress(tk_conn_t *c);
static void kick_fired(uv_timer_t *t);
static void read_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_done(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

/* ---- small helpers ------------------------------------------------------- */

void tk__conn_fail(tk_conn_t *c, int code, const char *fmt, ...)
{
  char msg[sizeof c->errmsg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  close_start(c, code, msg);
}

/* "<mbedtls text> (mbedtls -0xNNNN)" for messages. */
const char *tk__conn_tls_errstr(int mrc, char *buf, size_t n)
{
  char text[160] = "";
#if defined(MBEDTLS_ERROR_C)
  mbedtls_strerror(mrc, text, sizeof text);
#endif
  snprintf(buf, n, "%s (mbedtls -0x%04x)", text, (unsigned)-mrc);
  return buf;
}

static void tls_fail(tk_conn_t *c, const char *what, int mrc)
{
  char e[200];
  c->tls_dead = 1;
  tk__conn_fail(c, TK_EPROTO, "%s %s failed: %s", what, c->peer,
                tk__conn_tls_errstr(mrc, e, sizeof e));
}

static void set_peer_from_socket(tk_conn_t *c)
{
  struct sockaddr_storage ss;
  int len = (int)sizeof ss;
  char ip[64];
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0) return;
  if (ss.ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    if (uv_ip4_name(a, ip, sizeof ip) == 0) {
      snprintf(c->peer, sizeof c->peer, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
      snprintf(c->source, sizeof c->source, "%s", ip);
    }
  } else if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    if (uv_ip6_name(a, ip, sizeof ip) == 0)
      snprintf(c->peer, sizeof c->peer, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    /* One site usually holds a whole /64: that is the "address" a
     * per-source limit counts (an IPv4-mapped address counts alone). */
    const uint8_t *b = a->sin6_addr.s6_addr;
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(b, mapped, sizeof mapped) == 0)
      snprintf(c->source, sizeof c->source, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
    else
      snprintf(c->source, sizeof c->source, "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64",
               b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
  }
}

static void kick(tk_conn_t *c)
{
  if (!c->finishing && !uv_is_active((uv_handle_t *)&c->kick))
    uv_timer_start(&c->kick, kick_fired, 0, 0);
}

/* ---- freeing ---------------------------------------------------------------- */

static void release_rbuf_if_empty(tk_conn_t *c)
{
  if (c->rbuf && c->roff == c->rlen) {
    free(c->rbuf);
    c->rbuf = NULL;
    c->rlen = c->roff = 0;
  }
}

static void maybe_free(tk_conn_t *c)
{
  if (c->handles > 0 || c->gai_pending) return;
  if (c->ssl_set) {
    mbedtls_ssl_free(&c->ssl);
    tk__tls_release(c->tls);
    c->ssl_set = 0;
  }
  /* After ssl_free, so on_close may free the tk_tls_t of the last conn. */
  if (!c->silent && c->cbs.on_close) c->cbs.on_close(c, c->reason);
  free(c->rbuf);
  if (c->fbuf) tk_wipe(c->fbuf, c->fcap);
  free(c->fbuf);
  tk_buf_wipe(&c->plain);
  tk_buf_free(&c->obuf);
  free(c);
}

static void handle_closed(uv_handle_t *h)
{
  tk_conn_t *c = h->data;
  c->handles--;
  maybe_free(c);
}

/* Closes the handles; the conn is freed once their callbacks have run. */
static void finish(tk_conn_t *c)
{
  if (c->finishing) return;
  c->finishing = 1;
  c->state = ST_CLOSING;
  if (c->gai_pending) uv_cancel((uv_req_t *)&c->gai); /* may fail: the callback decides */
  uv_close((uv_handle_t *)&c->tcp, handle_closed);
  uv_close((uv_handle_t *)&c->timer, handle_closed);
  uv_close((uv_handle_t *)&c->kick, handle_closed);
}

/* ---- reading ---------------------------------------------------------------- */

static void update_reading(tk_conn_t *c)
{
  size_t buffered = c->rlen - c->roff;
  int want = !c->finishing && buffered < RBUF_CAP &&
             (c->state == ST_HANDSHAKE || (c->state == ST_OPEN && !c->paused));
  if (want && !c->reading) {
    if (uv_read_start((uv_stream_t *)&c->tcp, read_alloc, read_done) == 0) c->reading = 1;
  } else if (!want && c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

static void read_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  tk_conn_t *c = h->data;
  (void)suggested;
  *buf = uv_buf_init(NULL, 0); /* no room: read_cb gets UV_ENOBUFS */
  if (!c->rbuf) {
    c->rbuf = malloc(RBUF_CAP);
    c->rlen = c->roff = 0;
    if (!c->rbuf) return;
  } else if (c->roff > 0) {
    memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
    c->rlen -= c->roff;
    c->roff = 0;
  }
  if (c->rlen < RBUF_CAP)
    *buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(RBUF_CAP - c->rlen));
}

static void read_done(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
  tk_conn_t *c = s->data;
  (void)buf; /* always inside rbuf */
  if (nread > 0) {
    c->rlen += (size_t)nread;
    c->bytes_in += (uint64_t)nread;
    c->last_rx = uv_now(c->loop);
    process_input(c);
    return;
  }
  if (nread == 0) { /* EAGAIN */
    release_rbuf_if_empty(c);
    return;
  }
  uv_read_stop(s);
  c->reading = 0;
  if (nread == UV_ENOBUFS) {
    if (!c->rbuf) {
      tk__conn_fail(c, TK_ENOMEM, "out of memory reading from %s", c->peer);
      return;
    }
    update_reading(c); /* restarts once input has been consumed */
    return;
  }
  release_rbuf_if_empty(c);
  c->tls_dead = 1;
  if (nread == UV_EOF) {
    if (c->state == ST_HANDSHAKE) /* the peer gave up on us: TK_ECLOSED */
      tk__conn_fail(c, TK_ECLOSED, "%s closed the connection during the TLS handshake",
                    c->peer);
    else if (c->hdr_got > 0)
      tk__conn_fail(c, TK_EPROTO, "the stream from %s ended inside a frame", c->peer);
    else
      tk__conn_fail(c, TK_EIO, "%s closed the connection without TLS close_notify",
                    c->peer);
  } else {
    tk__conn_fail(c, TK_EIO, "cannot read from %s: %s", c->peer, uv_strerror((int)nread));
  }
}

/* mbedtls BIO: hands over ciphertext that uv_read put in rbuf. */
static int bio_recv(void *ctx, unsigned char *out, size_t len)
{
  tk_conn_t *c = ctx;
  size_t avail = c->rlen - c->roff;
  if (avail == 0) return MBEDTLS_ERR_SSL_WANT_READ;
  size_t n = len < avail ? len : avail;
  if (n > INT32_MAX) n = INT32_MAX;
  memcpy(out, c->rbuf + c->roff, n);
  c->roff += n;
  return (int)n;
}

/* RFC 7627: tunduk requires the extended master secret, which mbedtls 2.28
 * can offer but not insist on. So the handshake is driven one step at a
 * time (as mbedtls_ssl_handshake does it), and as soon as the peer's hello
 * has been read (the server: ClientHello, before its ServerHello goes out;
 * the client: ServerHello, before its key exchange and Finished) a peer
 * that did not negotiate it is refused with a handshake_failure alert, so
 * no key is derived from a master secret without the session hash and no
 * application data can follow. Resumed handshakes are checked the same
 * way. 0 to go on, -1 once the connection is failing. */
static int check_ems(tk_conn_t *c)
{
  if (c->ems_checked) return 0;
  int ems = tk_mbedtls_ssl_peer_ems(&c->ssl, tk__tls_is_server(c->tls));
  if (ems == TK_MBEDTLS_EMS_PENDING) return 0;
  c->ems_checked = 1;
  if (ems == TK_MBEDTLS_EMS_YES) return 0;
  (void)mbedtls_ssl_send_alert_message(&c->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                       MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
  c->tls_dead = 1; /* the alert is in obuf: closing flushes it */
  /* One line at info, without the address (that only at debug, below). */
  TK_LOG(TK_LOG_INFO, "tls", "refused a TLS handshake: %s",
         ems == TK_MBEDTLS_EMS_NO
             ? "the peer did not negotiate the extended master secret"
             : "extended master secret cannot be checked");
  if (ems == TK_MBEDTLS_EMS_NO)
    tk__conn_fail(
        c, TK_EPROTO,
        "TLS handshake with %s refused: the peer did not negotiate the extended "
        "master secret (RFC 7627), which tunduk requires",
        c->peer);
  else
    tk__conn_fail(c, TK_EPROTO,
                  "TLS handshake with %s refused: this mbedtls cannot tell whether the "
                  "extended master secret (RFC 7627) was negotiated",
                  c->peer);
  return -1;
}

static void handshake_step(tk_conn_t *c)
{
  int mrc = 0;
  while (!tk_mbedtls_ssl_handshake_over(&c->ssl)) {
    mrc = mbedtls_ssl_handshake_step(&c->ssl);
    if (check_ems(c) != 0) return;
    if (mrc != 0) break;
  }
  if (mrc == MBEDTLS_ERR_SSL_WANT_READ || mrc == MBEDTLS_ERR_SSL_WANT_WRITE) return;
  if (mrc != 0) {
    tls_fail(c, "TLS handshake with", mrc);
    return;
  }
  if (!c->ems_checked) { /* cannot happen: the peer's hello was read */
    c->tls_dead = 1;
    tk__conn_fail(c, TK_EPROTO,
                  "TLS handshake with %s: extended master secret not checked", c->peer);
    return;
  }
  /* The peer's key always comes from the certificate the session keeps. A
   * full handshake ("required" verification) ran the verify callback on
   * that same certificate; a resumed one exchanged none, so the callback
   * did not run and the certificate is the one the session was made with
   * (kept by this client, or carried in the server's own ticket). */
  c->resumed = !c->peer_key.have_spki;
  int src = tk__tls_peer_spki(&c->ssl, c->peer_spki);
  if (src != 0 ||
      (!c->resumed && !tk_ct_equal(c->peer_spki, c->peer_key.spki, TK_HASH_LEN))) {
    c->tls_dead = 1;
    tk__conn_fail(c, TK_EPROTO, "%s: no usable peer certificate after the %s handshake",
                  c->peer, c->resumed ? "resumed" : "full");
    return;
  }
  c->hs_done = 1;
  c->state = ST_OPEN;
  c->cipher = mbedtls_ssl_get_ciphersuite(&c->ssl);
  c->version = mbedtls_ssl_get_version(&c->ssl);
  c->last_rx = uv_now(c->loop);
  uv_timer_stop(&c->timer);
  if (!c->paused) uv_timer_start(&c->timer, tk__conn_timer_fired, c->idle_ms, 0);
  TK_LOG(TK_LOG_DEBUG, "conn", "tls ready peer=%s version=%s cipher=%s resumed=%s",
         c->peer, c->version, c->cipher, c->resumed ? "yes" : "no");
  if (c->cbs.on_ready) c->cbs.on_ready(c, c->peer_spki);
  if (c->state == ST_OPEN && c->plain.n > c->plain_off) pump_write(c);
}

/* Makes room for at least need bytes of the frame being assembled. The
 * buffer grows with what actually arrives (doubling, capped at the frame's
 * length), so a peer that announces a large frame and sends little of it
 * costs little memory. */
static int frame_reserve(tk_conn_t *c, size_t need)
{
  if (need <= c->fcap) return 0;
  size_t cap = c->fcap ? c->fcap : FRAME_MIN_ALLOC;
  while (cap < need)
    cap *= 2;
  if (cap > c->fneed) cap = c->fneed;
  uint8_t *p = malloc(cap);
  if (!p) {
    tk__conn_fail(c, TK_ENOMEM, "out of memory for a frame of %zu bytes from %s",
                  c->fneed, c->peer);
    return -1;
  }
  if (c->fbuf) {
    memcpy(p, c->fbuf, c->flen);
    tk_wipe(c->fbuf, c->fcap);
    free(c->fbuf);
  }
  c->fbuf = p;
  c->fcap = cap;
  return 0;
}

/* Frame length from the 4-byte header; closes on a bad length. */
static int frame_begin(tk_conn_t *c)
{
  uint32_t len = (uint32_t)c->hdr[0] << 24 | (uint32_t)c->hdr[1] << 16 |
                 (uint32_t)c->hdr[2] << 8 | c->hdr[3];
  if (len == 0) {
    tk__conn_fail(c, TK_EPROTO, "empty frame from %s", c->peer);
    return -1;
  }
  if (len > c->rx_limit) {
    tk__conn_fail(c, TK_ELIMIT, "frame of %u bytes over the limit %u from %s", len,
                  c->rx_limit, c->peer);
    return -1;
  }
  c->flen = 0;
  c->fneed = len;
  c->frame_start = uv_now(c->loop);
  c->frame_base = 0;
  return 0;
}

static void frame_deliver(tk_conn_t *c)
{
  tk_slice_t payload = TK_SLICE(c->fbuf, c->flen);
  c->hdr_got = 0;
  c->fneed = 0;
  if (c->cbs.on_frame) c->cbs.on_frame(c, payload);
  c->flen = 0;
  if (c->fcap > KEEP_BUF) { /* a large frame: give the memory back */
    tk_wipe(c->fbuf, c->fcap);
    free(c->fbuf);
    c->fbuf = NULL;
    c->fcap = 0;
  }
}

static void read_frames(tk_conn_t *c)
{
  while (c->state == ST_OPEN && !c->paused) {
    unsigned char *dst;
    size_t want;
    if (c->hdr_got < 4) {
      dst = c->hdr + c->hdr_got;
      want = 4 - c->hdr_got;
    } else {
      want = c->fneed - c->flen;
      if (want > RBUF_CAP) want = RBUF_CAP;
      if (frame_reserve(c, c->flen + want) != 0) return;
      dst = c->fbuf + c->flen;
    }
    int mrc = mbedtls_ssl_read(&c->ssl, dst, want);
    if (mrc > 0) {
      if (c->hdr_got < 4) {
        c->hdr_got += (size_t)mrc;
        if (c->hdr_got == 4 && frame_begin(c) != 0) return;
      } else {
        c->flen += (size_t)mrc;
        if (c->flen == c->fneed) frame_deliver(c);
      }
      continue;
    }
    if (mrc == MBEDTLS_ERR_SSL_WANT_READ) return;
    if (mrc == MBEDTLS_ERR_SSL_WANT_WRITE) {
      c->read_wants_write = 1;
      return;
    }
    if (mrc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || mrc == 0) {
      if (c->hdr_got > 0) {
        c->tls_dead = 1;
        tk__conn_fail(c, TK_EPROTO, "the stream from %s ended inside a frame", c->peer);
      } else {
        close_start(c, 0, "closed by the peer");
      }
      return;
    }
    tls_fail(c, "reading from", mrc);
    return;
  }
}

/* Drives the handshake, then turns buffered records into frames. Safe to
 * call at any time; re-entrant calls (from a callback) return at once. */
static void process_input(tk_conn_t *c)
{
  if (c->in_process || c->finishing) return;
  c->in_process = 1;
  if (c->state == ST_HANDSHAKE) handshake_step(c);
  if (c->state == ST_OPEN) read_frames(c);
  c->in_process = 0;
  release_rbuf_if_empty(c);
  if (c->state == ST_CLOSING)
    close_progress(c);
  else {
    pump_write(c); /* flushes handshake records and alerts too */
    update_reading(c);
  }
}

/* ---- writing ---------------------------------------------------------------- */

/* mbedtls BIO: takes ciphertext into obuf while libuv holds less than
 * OUT_CAP; beyond that mbedtls keeps the record and retries later. */
static int bio_send(void *ctx, const unsigned char *p, size_t len)
{
  tk_conn_t *c = ctx;
  if (c->inflight + c->obuf.n >= OUT_CAP) return MBEDTLS_ERR_SSL_WANT_WRITE;
  if (len > INT32_MAX) len = INT32_MAX;
  if (!c->obuf.p) { /* usually one record per uv_write: exactly its size */
    c->obuf.p = malloc(len + 1);
    if (!c->obuf.p) return MBEDTLS_ERR_SSL_ALLOC_FAILED;
    c->obuf.cap = len + 1;
  }
  if (tk_buf_append(&c->obuf, p, len) != 0) return MBEDTLS_ERR_SSL_ALLOC_FAILED;
  return (int)len;
}

static void write_done(uv_write_t *req, int status);

/* Hands obuf to one uv_write. */
static void flush_out(tk_conn_t *c)
{
  if (c->obuf.n == 0 || c->finishing) return;
  wreq_t *w = malloc(sizeof *w);
  if (!w) {
    c->tls_dead = 1;
    tk__conn_fail(c, TK_ENOMEM, "out of memory writing to %s", c->peer);
    return;
  }
  w->p = c->obuf.p;
  w->n = c->obuf.n;
  c->obuf = (tk_buf_t)TK_BUF_INIT;
  uv_buf_t b = uv_buf_init((char *)w->p, (unsigned)w->n);
  int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_done);
  if (rc < 0) {
    free(w->p);
    free(w);
    c->tls_dead = 1;
    tk__conn_fail(c, TK_EIO, "cannot write to %s: %s", c->peer, uv_strerror(rc));
    return;
  }
  c->inflight += w->n;
}

/* Encrypts queued frames while libuv has room, then flushes. */
static void pump_write(tk_conn_t *c)
{
  if ((c->state == ST_OPEN || c->state == ST_CLOSING) && c->hs_done && !c->tls_dead) {
    while (c->plain_off < c->plain.n) {
      size_t n = c->plain.n - c->plain_off;
      if (n > WRITE_CHUNK) n = WRITE_CHUNK;
      if (c->retry_len) n = c->retry_len; /* mbedtls wants the same length again */
      int mrc = mbedtls_ssl_write(&c->ssl, c->plain.p + c->plain_off, n);
      if (mrc > 0) {
        c->plain_off += (size_t)mrc;
        c->retry_len = 0;
        /* Each record goes to libuv on its own: a buffer is freed as soon
         * as the socket took it, so a peer that reads slowly holds only
         * the records it has not read yet, not the whole frame. */
        flush_out(c);
        if (c->finishing || c->tls_dead) break;
        continue;
      }
      if (mrc == MBEDTLS_ERR_SSL_WANT_WRITE || mrc == MBEDTLS_ERR_SSL_WANT_READ) {
        c->retry_len = n;
        break;
      }
      tls_fail(c, "writing to", mrc);
      break;
    }
    if (c->plain_off == c->plain.n) {
      c->plain.n = c->plain_off = 0;
      if (c->plain.cap > KEEP_BUF) tk_buf_wipe(&c->plain);
    } else if (c->plain_off > KEEP_BUF && c->plain_off >= c->plain.n / 2) {
      memmove(c->plain.p, c->plain.p + c->plain_off, c->plain.n - c->plain_off);
      c->plain.n -= c->plain_off;
      c->plain_off = 0;
    }
  }
  flush_out(c);
}

static void write_done(uv_write_t *req, int status)
{
  wreq_t *w = (wreq_t *)req;
  tk_conn_t *c = req->handle->data;
  c->inflight -= w->n;
  if (status == 0) {
    c->bytes_out += w->n;
    c->tx_since = uv_now(c->loop); /* the user-space queue moved */
  }
  free(w->p);
  free(w);
  if (status == UV_ECANCELED || c->finishing) return;
  if (status < 0) {
    c->tls_dead = 1;
    tk__conn_fail(c, TK_EIO, "cannot write to %s: %s", c->peer, uv_strerror(status));
  }
  switch (c->state) {
  case ST_HANDSHAKE:
    process_input(c);
    break;
  case ST_OPEN:
    if (c->read_wants_write) {
      c->read_wants_write = 0;
      process_input(c);
    }
    if (c->state == ST_OPEN) pump_write(c);
    if (c->state == ST_OPEN && c->drain_armed && tk__conn_write_queue(c) == 0) {
      c->drain_armed = 0;
      if (c->cbs.on_drain) c->cbs.on_drain(c);
    }
    break;
  case ST_CLOSING:
    close_progress(c);
    break;
  default:
    break;
  }
}

/* ---- timers ----------------------------------------------------------------- */

void tk__conn_timer_fired(uv_timer_t *t)
{
  tk_conn_t *c = t->data;
  uint64_t now = uv_now(c->loop);
  switch (c->state) {
  case ST_RESOLVING:
  case ST_CONNECTING:
    tk__conn_fail(c, TK_ETIMEDOUT, "cannot connect to %s: no answer within %u ms",
                  c->peer, c->handshake_ms);
    break;
  case ST_HANDSHAKE:
    tk__conn_fail(c, TK_ETIMEDOUT, "TLS handshake with %s did not finish within %u ms",
                  c->peer, c->handshake_ms);
    break;
  case ST_OPEN:
    tk__conn_idle_check(c, now);
    break;
  case ST_CLOSING:
    finish(c); /* flushing took too long */
    break;
  }
}

static void kick_fired(uv_timer_t *t)
{
  tk_conn_t *c = t->data;
  if (c->kick_read) {
    c->kick_read = 0;
    if (c->state == ST_OPEN) process_input(c);
  }
  if (c->kick_write) {
    c->kick_write = 0;
    if (c->state == ST_OPEN) pump_write(c);
  }
}

/* ---- closing ---------------------------------------------------------------- */

static void close_start(tk_conn_t *c, int reason, const char *msg)
{
  if (c->state == ST_CLOSING) return;
  int prev = c->state;
  c->state = ST_CLOSING;
  c->reason = reason;
  snprintf(c->errmsg, sizeof c->errmsg, "%s",
           msg && *msg ? msg : (reason ? tk_strerror(reason) : ""));
  TK_LOG(TK_LOG_DEBUG, "conn", "closing peer=%s reason=%d msg=\"%s\"", c->peer, reason,
         c->errmsg);
  update_reading(c);
  uv_timer_stop(&c->kick);
  if (prev == ST_RESOLVING || prev == ST_CONNECTING) {
    finish(c);
    return;
  }
  uv_timer_start(&c->timer, tk__conn_timer_fired, CLOSE_FLUSH_MS, 0);
  if (!c->in_process) close_progress(c); /* else process_input calls it */
}

/* CLOSING: flush frames, send close_notify, wait for libuv, then finish. */
static void close_progress(tk_conn_t *c)
{
  if (c->finishing) return;
  if (c->hs_done && !c->tls_dead) {
    pump_write(c);
    if (!c->tls_dead && !c->notified && c->plain_off == c->plain.n) {
      int mrc = mbedtls_ssl_close_notify(&c->ssl);
      if (mrc == 0)
        c->notified = 1;
      else if (mrc != MBEDTLS_ERR_SSL_WANT_WRITE && mrc != MBEDTLS_ERR_SSL_WANT_READ)
        c->tls_dead = 1;
    }
  }
  flush_out(c);
  if (c->finishing) return;
  int tls_over = !c->hs_done || c->tls_dead || c->notified;
  if (tls_over && c->obuf.n == 0 && c->inflight == 0) finish(c);
}

/* ---- creating ---------------------------------------------------------------- */

static int conn_new(tk_conn_t **out, uv_loop_t *loop, tk_tls_t *tls,
                    const tk_conn_opts_t *opts, const tk_conn_cbs_t *cbs, void *data,
                    tk_err_t *err)
{
  tk_conn_t *c;
  *out = NULL;
  if (!loop || !tls || !cbs)
    return tk_err_set(err, TK_EINVAL, "tk_conn: missing argument");
  uint32_t max_frame = opts && opts->max_frame ? opts->max_frame : TK_MAX_FRAME;
  if (max_frame > TK_MAX_FRAME)
    return tk_err_set(err, TK_EINVAL, "max_frame %u is over the hard maximum %u",
                      max_frame, TK_MAX_FRAME);
  c = calloc(1, sizeof *c);
  if (!c) return tk_err_set(err, TK_ENOMEM, "out of memory for a connection");
  c->loop = loop;
  c->tls = tls;
  c->cbs = *cbs;
  c->data = data;
  c->max_frame = max_frame;
  c->rx_limit = max_frame;
  c->handshake_ms = opts && opts->handshake_timeout_ms ? opts->handshake_timeout_ms
                                                       : DEFAULT_HANDSHAKE_MS;
  c->idle_ms = opts && opts->idle_timeout_ms ? opts->idle_timeout_ms : DEFAULT_IDLE_MS;
  c->frame_min_rate = FRAME_MIN_RATE;
  snprintf(c->peer, sizeof c->peer, "(unknown peer)");
  snprintf(c->source, sizeof c->source, "(unknown)");
  int rc = uv_tcp_init(loop, &c->tcp);
  if (rc < 0) {
    free(c);
    return tk_err_set(err, TK_EIO, "cannot make a TCP handle: %s", uv_strerror(rc));
  }
  uv_timer_init(loop, &c->timer); /* cannot fail */
  uv_timer_init(loop, &c->kick);
  c->tcp.data = c->timer.data = c->kick.data = c->gai.data = c;
  c->handles = 3;
  c->state = ST_HANDSHAKE;

  mbedtls_ssl_init(&c->ssl);
  c->ssl_set = 1;
  tk__tls_hold(tls);
  int mrc = mbedtls_ssl_setup(&c->ssl, tk__tls_config(tls));
  if (mrc == 0 && !tk__tls_is_server(tls)) mrc = mbedtls_ssl_set_hostname(&c->ssl, NULL);
  if (mrc != 0) {
    char e[200];
    c->silent = 1;
    finish(c);
    return tk_err_set(err, TK_ECRYPTO, "cannot set up TLS: %s",
                      tk__conn_tls_errstr(mrc, e, sizeof e));
  }
  mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
  mbedtls_ssl_set_verify(&c->ssl, tk__tls_verify, &c->peer_key);
  if (opts && opts->session.n > 0 && !tk__tls_is_server(tls))
    tk__conn_offer_session(c, opts->session);
  *out = c;
  return 0;
}

int tk_conn_accept(uv_stream_t *server, tk_tls_t *tls, const tk_conn_opts_t *opts,
                   const tk_conn_cbs_t *cbs, void *data, tk_conn_t **out, tk_err_t *err)
{
  tk_conn_t *c;
  if (!out || !server)
    return tk_err_set(err, TK_EINVAL, "tk_conn_accept: missing argument");
  *out = NULL;
  int rc = conn_new(&c, server->loop, tls, opts, cbs, data, err);
  if (rc) return rc;
  int urc = uv_accept(server, (uv_stream_t *)&c->tcp);
  if (urc < 0) {
    c->silent = 1;
    finish(c);
    return tk_err_set(err, TK_EIO, "cannot accept a connection: %s", uv_strerror(urc));
  }
  uv_tcp_nodelay(&c->tcp, 1);
  set_peer_from_socket(c);
  uv_timer_start(&c->timer, tk__conn_timer_fired, c->handshake_ms, 0);
  update_reading(c);
  *out = c;
  return 0;
}

/* TCP is up: start TLS (the client speaks first). */
static void connected(uv_connect_t *req, int status)
{
  tk_conn_t *c = req->handle->data;
  if (status == UV_ECANCELED || c->state != ST_CONNECTING) return;
  if (status < 0) {
    tk__conn_fail(c, TK_EIO, "cannot connect to %s: %s", c->peer, uv_strerror(status));
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  set_peer_from_socket(c);
  c->state = ST_HANDSHAKE;
  process_input(c); /* writes the ClientHello, starts reading */
}

static int start_connect(tk_conn_t *c, const struct sockaddr *addr)
{
  c->state = ST_CONNECTING;
  return uv_tcp_connect(&c->creq, &c->tcp, addr, connected);
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
  tk_conn_t *c = req->data;
  c->gai_pending = 0;
  if (c->state != ST_RESOLVING) { /* closed meanwhile */
    if (res) uv_freeaddrinfo(res);
    maybe_free(c);
    return;
  }
  if (status < 0 || !res) {
    tk__conn_fail(c, TK_EIO, "cannot resolve %s: %s", c->peer,
                  status < 0 ? uv_strerror(status) : "no address");
  } else {
    int rc = start_connect(c, res->ai_addr);
    if (rc < 0)
      tk__conn_fail(c, TK_EIO, "cannot connect to %s: %s", c->peer, uv_strerror(rc));
  }
  if (res) uv_freeaddrinfo(res);
}

int tk_conn_connect(uv_loop_t *loop, const char *host, int port, tk_tls_t *tls,
                    const tk_conn_opts_t *opts, const tk_conn_cbs_t *cbs, void *data,
                    tk_conn_t **out, tk_err_t *err)
{
  tk_conn_t *c;
  struct sockaddr_in sin;
  struct sockaddr_in6 sin6;
  int rc;

  if (!out) return tk_err_set(err, TK_EINVAL, "tk_conn_connect: out is NULL");
  *out = NULL;
  if (!host || !*host || strlen(host) > HOST_MAX)
    return tk_err_set(err, TK_EINVAL, "tk_conn_connect: bad host name");
  if (port < 1 || port > 65535)
    return tk_err_set(err, TK_EINVAL, "tk_conn_connect: port %d out of range", port);
  rc = conn_new(&c, loop, tls, opts, cbs, data, err);
  if (rc) return rc;
  snprintf(c->peer, sizeof c->peer, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);

  if (uv_ip4_addr(host, port, &sin) == 0)
    rc = start_connect(c, (const struct sockaddr *)&sin);
  else if (uv_ip6_addr(host, port, &sin6) == 0)
    rc = start_connect(c, (const struct sockaddr *)&sin6);
  else {
    char portstr[8];
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(portstr, sizeof portstr, "%d", port);
    c->state = ST_RESOLVING;
    rc = uv_getaddrinfo(loop, &c->gai, resolved, host, portstr, &hints);
    if (rc == 0) c->gai_pending = 1;
  }
  if (rc < 0) {
    c->silent = 1;
    finish(c);
    return tk_err_set(err, TK_EIO, "cannot connect to %s:%d: %s", host, port,
                      uv_strerror(rc));
  }
  uv_timer_start(&c->timer, tk__conn_timer_fired, c->handshake_ms, 0);
  *out = c;
  return 0;
}

/* ---- the rest of the API -------------------------------------------------- */

int tk_conn_send(tk_conn_t *c, tk_slice_t payload)
{
  if (!c || (!payload.p && payload.n)) return TK_EINVAL;
  if (c->state == ST_CLOSING) return TK_ECLOSED;
  if (payload.n == 0) return TK_EINVAL;
  if (payload.n > c->max_frame) return TK_ELIMIT;
  if (c->memory) return tk__conn_memory_send(c, payload);
  if (c->plain_off > 0 && c->plain_off == c->plain.n) c->plain.n = c->plain_off = 0;
  if (tk_buf_reserve(&c->plain, 4 + payload.n) != 0) return TK_ENOMEM;
  int was_empty = tk__conn_write_queue(c) == 0;
  if (was_empty && c->loop) c->tx_since = uv_now(c->loop);
  tk_buf_append_u32be(&c->plain, (uint32_t)payload.n);
  tk_buf_append(&c->plain, payload.p, payload.n);
  if (was_empty && c->loop && c->state == ST_OPEN) {
    /* bytes pending from now: look at the queues every second, so that they
     * are seen draining even if they drain before the idle time is up */
    uint64_t now = uv_now(c->loop);
    uv_timer_stop(&c->timer);
    tk__conn_arm_idle_timer(c, now, tk__conn_note_tx_progress(c, now));
  }
  c->drain_armed = 1;
  /* Frames sent in one callback leave together, in as few records as fit. */
  c->kick_write = 1;
  kick(c);
  return 0;
}

void tk_conn_close(tk_conn_t *c, int reason, const char *msg)
{
  if (!c) return;
  if (c->memory) {
    tk__conn_memory_close(c, reason, msg);
    return;
  }
  close_start(c, reason, msg);
}

void tk_conn_pause(tk_conn_t *c)
{
  if (!c || c->paused) return;
  c->paused = 1;
  if (c->memory) return;
  if (c->state == ST_OPEN) {
    uv_timer_stop(&c->timer);
    tk__conn_arm_stall_timer(c, uv_now(c->loop));
  }
  update_reading(c);
}

void tk_conn_resume(tk_conn_t *c)
{
  if (!c || !c->paused) return;
  c->paused = 0;
  if (c->state != ST_OPEN || c->memory) return;
  c->last_rx = uv_now(c->loop);
  if (c->hdr_got == 4) { /* a frame in progress: its rate counts from now */
    c->frame_start = c->last_rx;
    c->frame_base = c->flen;
  }
  uv_timer_start(&c->timer, tk__conn_timer_fired, c->idle_ms, 0);
  update_reading(c);
  c->kick_read = 1; /* records may wait in rbuf or inside mbedtls */
  kick(c);
}

void tk_conn_set_frame_min_rate(tk_conn_t *c, uint32_t bytes_per_s)
{
  c->frame_min_rate = bytes_per_s ? bytes_per_s : FRAME_MIN_RATE;
}

int tk_conn_set_recv_limit(tk_conn_t *c, uint32_t max_bytes)
{
  if (!c || max_bytes == 0 || max_bytes > c->max_frame) return TK_EINVAL;
  c->rx_limit = max_bytes;
  return 0;
}

size_t tk_conn_write_queue(const tk_conn_t *c)
{
  return tk__conn_write_queue(c);
}
