/*
 * tk_transport.h: what the sync engine needs of a connection to a peer,
 * and nothing more: send one frame payload, close with a reason, pause and
 * resume the delivery of inbound frames, and how many bytes are queued
 * (back-pressure). The engine (tk_sync.h and the sync_* modules) talks to
 * a tk_transport_t only; it never sees a socket, TLS or a loop.
 *
 * Implementations: the TLS stream and the memory connection
 * (tk_conn_transport, tk_conn.h); a file (bundle) transport implements the
 * same five operations and needs no change to the engine.
 *
 * Inbound frames: the transport's owner (the hub session, the office's
 * client) receives them from its implementation (tk_conn's on_frame, a
 * file reader...) and hands each payload to the engine; the transport
 * itself has no receive callback, so the owner decides the order of
 * everything it delivers.
 *
 * Threads: the thread of the implementation (a tk_conn: its loop's). The
 * engine calls a transport only from the thread its owner delivers frames
 * on.
 *
 * Lifetimes: the implementation owns the tk_transport_t (a tk_conn embeds
 * one); it is valid until the implementation's close has completed (for a
 * tk_conn: until on_close has run). After close, send returns TK_ECLOSED.
 */
#ifndef TK_TRANSPORT_H
#define TK_TRANSPORT_H

#include "tk_common.h"

typedef struct tk_transport tk_transport_t;

typedef struct tk_transport_ops {
  /* Queues one frame payload (copied before it returns). 0, TK_ECLOSED
   * (closing), TK_ELIMIT (over the frame limit), or the implementation's
   * error. */
  int (*send)(tk_transport_t *t, tk_slice_t payload);
  /* Closes after what is queued (reason 0: clean, else a TK_E* code with
   * msg, which may be NULL). The owner learns of the end from the
   * implementation, once. */
  void (*close)(tk_transport_t *t, int reason, const char *msg);
  /* Stops / restarts delivering inbound frames to the owner. */
  void (*pause)(tk_transport_t *t);
  void (*resume)(tk_transport_t *t);
  /* Bytes sent and not yet taken by the peer (0 when nothing waits). */
  size_t (*queued)(const tk_transport_t *t);
} tk_transport_ops_t;

struct tk_transport {
  const tk_transport_ops_t *ops;
};

static inline int tk_transport_send(tk_transport_t *t, tk_slice_t payload)
{
  return t->ops->send(t, payload);
}
static inline void tk_transport_close(tk_transport_t *t, int reason, const char *msg)
{
  t->ops->close(t, reason, msg);
}
static inline void tk_transport_pause(tk_transport_t *t)
{
  t->ops->pause(t);
}
static inline void tk_transport_resume(tk_transport_t *t)
{
  t->ops->resume(t);
}
static inline size_t tk_transport_queued(const tk_transport_t *t)
{
  return t->ops->queued(t);
}

#endif
