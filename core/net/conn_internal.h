/*
 * conn_internal.h: what conn.c (sockets, TLS, framing, timers), conn_idle.c
 * (the idle rule), conn_info.c (accessors, the transport adapter),
 * conn_memory.c (connections without a socket, for tests and fuzzing) and
 * conn_session.c (TLS session resumption: offering and exporting a
 * session) share: the connection struct. Loop thread only.
 */
#ifndef TK_CONN_INTERNAL_H
#define TK_CONN_INTERNAL_H

#include "tk_tls_internal.h"
#include "tk_transport.h"

#define HOST_MAX 255             /* a DNS name */
#define PEER_MAX (HOST_MAX + 10) /* "[host]:port" */

enum { ST_RESOLVING, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSING };

struct tk_conn {
  uv_loop_t *loop;
  uv_tcp_t tcp;
  uv_timer_t timer; /* handshake deadline, then idle check, then close deadline */
  uv_timer_t kick;  /* 0 ms: work deferred to the loop (resume, coalesced sends) */
  uv_getaddrinfo_t gai;
  uv_connect_t creq;
  int handles;     /* handles whose close callback has not run yet */
  int gai_pending; /* the getaddrinfo callback has not run yet */

  int state;
  int finishing;  /* uv_close was called on the handles */
  int silent;     /* failed accept/connect: free without callbacks */
  int reading;    /* uv_read_start is in effect */
  int paused;     /* tk_conn_pause */
  int in_process; /* process_input is on the stack */
  int kick_read, kick_write;
  int read_wants_write; /* mbedtls_ssl_read waits for output space */
  int tls_dead;         /* no more TLS output (error, or socket gone) */
  int hs_done;          /* handshake completed */
  int notified;         /* close_notify queued */
  int drain_armed;      /* the write queue was non-empty since the last on_drain */
  int reason;
  char errmsg[300];
  char peer[PEER_MAX + 1];
  char source[64]; /* the peer's address without the port (an IPv6 /64) */

  tk_tls_t *tls;
  int ssl_set; /* ssl was set up (needs mbedtls_ssl_free, holds tls) */
  mbedtls_ssl_context ssl;
  tk__tls_peer_t peer_key;        /* what the verify callback saw (full handshakes) */
  uint8_t peer_spki[TK_HASH_LEN]; /* the peer's key, from the session's certificate */
  int resumed;                    /* the handshake resumed a session */
  int offered;                    /* a saved session with a ticket was offered */
  uint8_t offered_ticket[TK_HASH_LEN]; /* SHA-256 of that ticket */
  const char *cipher, *version;        /* static strings from mbedtls */

  uint32_t max_frame, handshake_ms, idle_ms;
  uint32_t rx_limit; /* largest frame accepted from the peer (<= max_frame) */
  int ems_checked;   /* extended master secret was checked in this handshake */
  tk_conn_cbs_t cbs;
  void *data;
  tk_transport_t transport; /* this connection as the engine sees it */

  /* input */
  uint8_t *rbuf; /* RBUF_CAP bytes while data is buffered, else NULL */
  size_t rlen, roff;
  uint8_t hdr[4];
  size_t hdr_got;
  uint8_t *fbuf; /* the frame being assembled */
  size_t fcap, flen, fneed;
  uint64_t frame_start; /* loop time the current frame's header arrived (or resumed) */
  size_t frame_base;    /* flen at frame_start */
  uint64_t last_rx;
  uint64_t tx_since;    /* our output last went pending or moved (stall clock) */
  size_t seen_user_q;   /* write queue (libuv and ours) at the last idle check */
  size_t seen_kernel_q; /* the kernel's unsent + unacknowledged bytes, same look */

  /* output */
  tk_buf_t plain; /* queued frames (length prefix + payload), from plain_off */
  size_t plain_off;
  size_t retry_len; /* mbedtls_ssl_write returned WANT_WRITE for this length */
  tk_buf_t obuf;    /* ciphertext not yet given to uv_write */
  size_t inflight;  /* ciphertext in uv_write requests */

  uint64_t bytes_in, bytes_out;

  uint32_t frame_min_rate; /* bytes/s a frame in progress must average */
  /* a memory connection (tk_conn_memory): no socket, TLS, timers or loop */
  int memory;
  int in_callback; /* on_ready / on_frame of a memory connection is running */
  tk_conn_sink_fn sink;
  void *sink_ctx;
};

/* "<mbedtls text> (mbedtls -0xNNNN)" for messages (conn.c). */
const char *tk__conn_tls_errstr(int mrc, char *buf, size_t n);
/* Client: offers a saved session for resumption (conn_session.c). */
void tk__conn_offer_session(tk_conn_t *c, tk_slice_t saved);
/* conn.c: fails the connection with code and a message; the timer's
 * callback (it runs tk__conn_idle_check when open). */
void tk__conn_fail(tk_conn_t *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tk__conn_timer_fired(uv_timer_t *t);

/* The idle rule (conn_idle.c; see there). write_queue: bytes not yet
 * written (ours and libuv's); kernel_queue: the kernel's unacknowledged
 * send queue; note_tx_progress: restarts the stall clock when either
 * shrank, returns what is pending; frame_allowance: the time a frame in
 * progress may take; arm_idle_timer / arm_stall_timer: when to look next;
 * idle_check: closes a connection whose peer is gone, else re-arms. */
size_t tk__conn_write_queue(const tk_conn_t *c);
size_t tk__conn_kernel_queue(const tk_conn_t *c);
size_t tk__conn_note_tx_progress(tk_conn_t *c, uint64_t now);
uint64_t tk__conn_frame_allowance(const tk_conn_t *c);
void tk__conn_arm_idle_timer(tk_conn_t *c, uint64_t now, size_t pending);
void tk__conn_arm_stall_timer(tk_conn_t *c, uint64_t now);
void tk__conn_idle_check(tk_conn_t *c, uint64_t now);

/* A memory connection's close and send (conn_memory.c). */
void tk__conn_memory_close(tk_conn_t *c, int reason, const char *msg);
int tk__conn_memory_send(tk_conn_t *c, tk_slice_t payload);

#endif
