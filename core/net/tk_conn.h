/*
 * tk_conn.h: framed, mutually authenticated TLS connections on a libuv
 * loop. mbedtls does TLS 1.2 (ECDHE-ECDSA with AES-GCM or
 * ChaCha20-Poly1305 only, renegotiation off, extended master secret
 * required: a peer that does not negotiate it is refused in the handshake) over
 * a uv_tcp_t through memory BIOs; both sides present the self-signed
 * certificate of their device key and require the peer's. The TLS layer
 * accepts any well-formed peer certificate and reports the SHA-256 of its
 * public key (SPKI DER): pinning a device is the caller's decision, made
 * in on_ready before any frame is trusted (see PROTOCOL.md, "Hello").
 *
 * Resumption (RFC 5077 tickets): a server issues tickets once
 * tk_tls_enable_tickets set their lifetime; a client offers a session saved
 * from an earlier connection (tk_conn_tls_session, opts.session). A resumed
 * handshake exchanges no certificates: peer_spki is then the key of the
 * certificate the session was first made with, so on_ready's checks are
 * the same either way (tk_conn_tls_resumed tells which it was).
 *
 * Frames: a 4-byte big-endian length then that many bytes of payload;
 * 0 < length <= max_frame. A frame over the limit, or a stream that ends
 * inside a frame, closes the connection with TK_ELIMIT / TK_EPROTO.
 *
 * Lifetimes (libuv's law): a tk_conn_t is freed by the library after its
 * on_close callback has run; never free it yourself, and never touch it
 * after on_close. tk_conn_close may be called from any callback; on_close
 * then runs later, from the loop, exactly once. If tk_conn_connect fails,
 * no callback runs.
 *
 * Memory is bounded per connection: the read side holds at most one frame
 * (max_frame) plus TLS records; the write side queues what the caller
 * sends (check tk_conn_write_queue to apply back-pressure).
 *
 * Signals: libuv writes with write(2), so a peer that resets the
 * connection raises SIGPIPE; a program using tk_conn must ignore SIGPIPE
 * (signal(SIGPIPE, SIG_IGN)) before running the loop. The library does not
 * change the process's signal dispositions itself.
 *
 * Threads: everything here runs on the loop's thread.
 */
#ifndef TK_CONN_H
#define TK_CONN_H

#include <uv.h>

#include "tk_identity.h"
#include "tk_transport.h"

#define TK_MAX_FRAME (4u << 20)  /* default and hard maximum payload of one frame */
#define TK_TLS_SESSION_MAX 8192u /* bytes of a serialised TLS session (ticket, cert) */
#define TK_TLS_TICKET_LIFETIME_MAX (7u * 86400u) /* longest ticket lifetime, s */

typedef struct tk_tls tk_tls_t;
typedef struct tk_conn tk_conn_t;

typedef struct tk_conn_opts {
  uint32_t max_frame;            /* 0: TK_MAX_FRAME */
  uint32_t handshake_timeout_ms; /* 0: 10000; TCP connect + TLS handshake */
  uint32_t idle_timeout_ms;      /* 0: 120000; closes after this long without
                                    progress: no byte received and none of ours
                                    moved (our queue or the kernel's unacknowledged
                                    bytes), or output pending that did not move */
  /* Client only: a session from tk_conn_tls_session to offer for
   * resumption (copied; the caller may wipe it once tk_conn_connect
   * returned). One over TK_TLS_SESSION_MAX or that does not load is left
   * out (logged at debug level, never its bytes): a full handshake. */
  tk_slice_t session;
} tk_conn_opts_t;

/* TLS settings and credentials from an unlocked identity, for one role.
 * server: 1 for the accepting side. Caller frees with tk_tls_free after
 * every connection using it has closed. */
int tk_tls_new(tk_tls_t **out, const tk_identity_t *id, int server, tk_err_t *err);
void tk_tls_free(tk_tls_t *t);
/* Server only, before its first connection: issue RFC 5077 session tickets
 * valid lifetime_s seconds (1 .. TK_TLS_TICKET_LIFETIME_MAX; 0 leaves
 * resumption off). The ticket keys are random, held only in t's memory and
 * rotated every lifetime_s; freeing t (a restart) ends every ticket.
 * TK_EINVAL (a client's settings, or connections already made), TK_ELIMIT,
 * TK_ECRYPTO. */
int tk_tls_enable_tickets(tk_tls_t *t, uint32_t lifetime_s, tk_err_t *err);

typedef struct tk_conn_cbs {
  /* The TLS handshake finished; peer_spki is SHA-256 of the peer's public
   * key. Frames may be sent from here on. */
  void (*on_ready)(tk_conn_t *c, const uint8_t peer_spki[TK_HASH_LEN]);
  /* One whole frame payload; the view is valid during the call only. */
  void (*on_frame)(tk_conn_t *c, tk_slice_t payload);
  /* The connection is closed (reason 0 after a clean close by either side,
   * else a TK_E* code, with a message in tk_conn_error). Last callback. */
  void (*on_close)(tk_conn_t *c, int reason);
  /* Optional: the write queue drained to empty (for back-pressure). */
  void (*on_drain)(tk_conn_t *c);
} tk_conn_cbs_t;

/* Accepts one pending connection on server (call from its connection
 * callback). data is the caller's pointer (tk_conn_data). */
int tk_conn_accept(uv_stream_t *server, tk_tls_t *tls, const tk_conn_opts_t *opts,
                   const tk_conn_cbs_t *cbs, void *data, tk_conn_t **out, tk_err_t *err);

/* Connects to host:port (a numeric IPv4/IPv6 address or a name resolved
 * with uv_getaddrinfo). */
int tk_conn_connect(uv_loop_t *loop, const char *host, int port, tk_tls_t *tls,
                    const tk_conn_opts_t *opts, const tk_conn_cbs_t *cbs, void *data,
                    tk_conn_t **out, tk_err_t *err);

/* Queues one frame (payload copied). TK_ECLOSED if closing, TK_ELIMIT if
 * the payload is over max_frame. */
int tk_conn_send(tk_conn_t *c, tk_slice_t payload);

/* Closes: flushes queued frames (bounded by a short timeout), sends TLS
 * close_notify, closes the socket; on_close follows. reason as above. */
void tk_conn_close(tk_conn_t *c, int reason, const char *msg);

/* Stops / restarts delivering frames (back-pressure on the reading side). */
void tk_conn_pause(tk_conn_t *c);
void tk_conn_resume(tk_conn_t *c);

/* A frame in progress must keep arriving: from its header on (or from
 * tk_conn_resume), the time it has taken may be at most the idle timeout
 * plus what has arrived of it at bytes_per_s (default 1024; 0 restores
 * it), else the connection closes with TK_ETIMEDOUT (slow-loris senders).
 * The announced length plays no part. */
void tk_conn_set_frame_min_rate(tk_conn_t *c, uint32_t bytes_per_s);

/* Frames the peer announces over max_bytes (1 .. the connection's
 * max_frame) close the connection with TK_ELIMIT as soon as their header
 * arrives, from the next header on. What this side sends is still bounded
 * by max_frame. A hub keeps this small until a peer has authenticated.
 * TK_EINVAL out of range. */
int tk_conn_set_recv_limit(tk_conn_t *c, uint32_t max_bytes);

/* The connection as a transport (tk_transport.h): send, close, pause,
 * resume and queued map to tk_conn_send, tk_conn_close, tk_conn_pause,
 * tk_conn_resume and tk_conn_write_queue. Valid as long as c. */
tk_transport_t *tk_conn_transport(tk_conn_t *c);
void *tk_conn_data(const tk_conn_t *c);
void tk_conn_set_data(tk_conn_t *c, void *data);
size_t tk_conn_write_queue(const tk_conn_t *c); /* bytes not yet written */
const char *tk_conn_error(const tk_conn_t *c);  /* message of the close reason */
/* "ip:port" of the peer, for logs at debug level. */
const char *tk_conn_peer_addr(const tk_conn_t *c);
/* The peer's source for per-address limits: the IPv4 address, or the /64
 * an IPv6 address is in ("2001:0db8:0001:0002::/64"); "(memory)" or
 * "(unknown)" without a socket. Not for logs above debug level. */
const char *tk_conn_peer_source(const tk_conn_t *c);
/* 1 if the peer has not sent a single byte: none read, and none waiting
 * in the socket (one ioctl). For choosing whom to evict first. */
int tk_conn_peer_silent(const tk_conn_t *c);
/* Bytes read and written on the socket (TLS included), for statistics. */
uint64_t tk_conn_bytes_in(const tk_conn_t *c);
uint64_t tk_conn_bytes_out(const tk_conn_t *c);
/* The negotiated TLS version ("TLSv1.2") and cipher suite (mbedtls name,
 * e.g. "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384"), for tests and logs;
 * "" before the handshake has finished. Static strings. */
const char *tk_conn_tls_version(const tk_conn_t *c);
const char *tk_conn_cipher(const tk_conn_t *c);
/* 1 if the handshake resumed an earlier session (no certificates were
 * exchanged), 0 after a full one, before the handshake and on a memory
 * connection. */
int tk_conn_tls_resumed(const tk_conn_t *c);
/* Client only, from on_ready on: appends the connection's TLS session,
 * serialised (mbedtls_ssl_session_save), to out, and sets *lifetime_s to
 * the server's ticket lifetime hint (0: none given). The bytes hold the
 * session's master secret: keep them sealed, tk_buf_wipe them after use.
 * TK_ENOTFOUND if the server issued no ticket on this connection (nothing
 * to resume with; a ticket offered and not taken does not count),
 * TK_EINVAL (a server, a memory connection, or no handshake yet),
 * TK_ELIMIT (over TK_TLS_SESSION_MAX), TK_ENOMEM, TK_ECRYPTO. */
int tk_conn_tls_session(const tk_conn_t *c, tk_buf_t *out, uint32_t *lifetime_s);

/* ---- for tests and fuzzing: a connection without a socket ----------------
 * A memory connection has no socket, TLS, timers or loop: it lets a test or
 * a fuzz harness drive the code above a tk_conn_t (a hub session) frame by
 * frame. It is not for production use.
 *
 *   - tk_conn_send checks as above (TK_ECLOSED, TK_ELIMIT over max_frame),
 *     then hands the payload to sink during the call (the view is valid
 *     during the sink call only) and returns what sink returns. The sink
 *     must not call back into the connection.
 *   - tk_conn_memory_ready runs on_ready with the given key hash (the
 *     "handshake"); tk_conn_memory_deliver runs on_frame with one payload,
 *     applying the framing rules (empty: closed with TK_EPROTO; over
 *     max_frame: closed with TK_ELIMIT). Neither may be called from a
 *     callback of the same connection.
 *   - Lifetime: tk_conn_close from inside on_ready/on_frame marks the
 *     connection closing; on_close runs right after that callback returns,
 *     before tk_conn_memory_ready/deliver returns TK_ECLOSED. Called from
 *     anywhere else, tk_conn_close runs on_close before it returns. Either
 *     way on_close runs exactly once, last, and the connection is freed
 *     right after it: never touch it once TK_ECLOSED came back or after
 *     your own tk_conn_close outside a callback.
 *   - on_drain never runs (nothing is queued: tk_conn_write_queue is 0);
 *     tk_conn_pause/resume are recorded, and deliver refuses (TK_EINVAL)
 *     while paused; peer address "(memory)", no cipher or TLS version;
 *     tk_conn_bytes_in/out count payload bytes. */
typedef int (*tk_conn_sink_fn)(void *ctx, tk_slice_t payload);

/* A memory connection in the handshake state. max_frame 0: TK_MAX_FRAME. */
int tk_conn_memory(const tk_conn_cbs_t *cbs, void *data, uint32_t max_frame,
                   tk_conn_sink_fn sink, void *sink_ctx, tk_conn_t **out, tk_err_t *err);
/* Opens it as if the TLS handshake had finished with a peer whose key
 * hashes to peer_spki. 0, TK_ECLOSED (closed meanwhile, freed) or TK_EINVAL
 * (not a memory connection, or not in the handshake state). */
int tk_conn_memory_ready(tk_conn_t *c, const uint8_t peer_spki[TK_HASH_LEN]);
/* Delivers one frame payload to on_frame. 0 (still open), TK_ECLOSED (closed,
 * freed) or TK_EINVAL (not an open, unpaused memory connection; nothing
 * delivered). */
int tk_conn_memory_deliver(tk_conn_t *c, tk_slice_t payload);

#endif
