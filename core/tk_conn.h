/*
 * tk_conn.h: framed, mutually authenticated TLS connections on a libuv
 * loop. mbedtls does TLS 1.2 (ECDHE-ECDSA with AES-GCM or
 * ChaCha20-Poly1305 only, renegotiation off, extended master secret) over
 * a uv_tcp_t through memory BIOs; both sides present the self-signed
 * certificate of their device key and require the peer's. The TLS layer
 * accepts any well-formed peer certificate and reports the SHA-256 of its
 * public key (SPKI DER): pinning a device is the caller's decision, made
 * in on_ready before any frame is trusted (see PROTOCOL.md, "Hello").
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

#define TK_MAX_FRAME (4u << 20) /* default and hard maximum payload of one frame */

typedef struct tk_tls tk_tls_t;
typedef struct tk_conn tk_conn_t;

typedef struct tk_conn_opts {
  uint32_t max_frame;            /* 0: TK_MAX_FRAME */
  uint32_t handshake_timeout_ms; /* 0: 10000; TCP connect + TLS handshake */
  uint32_t idle_timeout_ms;      /* 0: 120000; no byte received for this long */
} tk_conn_opts_t;

/* TLS settings and credentials from an unlocked identity, for one role.
 * server: 1 for the accepting side. Caller frees with tk_tls_free after
 * every connection using it has closed. */
int tk_tls_new(tk_tls_t **out, const tk_identity_t *id, int server, tk_err_t *err);
void tk_tls_free(tk_tls_t *t);

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

void *tk_conn_data(const tk_conn_t *c);
void tk_conn_set_data(tk_conn_t *c, void *data);
size_t tk_conn_write_queue(const tk_conn_t *c); /* bytes not yet written */
const char *tk_conn_error(const tk_conn_t *c);  /* message of the close reason */
/* "ip:port" of the peer, for logs at debug level. */
const char *tk_conn_peer_addr(const tk_conn_t *c);
/* Bytes read and written on the socket (TLS included), for statistics. */
uint64_t tk_conn_bytes_in(const tk_conn_t *c);
uint64_t tk_conn_bytes_out(const tk_conn_t *c);
/* The negotiated TLS version ("TLSv1.2") and cipher suite (mbedtls name,
 * e.g. "TLS-ECDHE-ECDSA-WITH-AES-256-GCM-SHA384"), for tests and logs;
 * "" before the handshake has finished. Static strings. */
const char *tk_conn_tls_version(const tk_conn_t *c);
const char *tk_conn_cipher(const tk_conn_t *c);

#endif
