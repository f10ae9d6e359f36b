/*
 * conn_memory.c: memory connections (tk_conn_memory, tk_conn.h), for tests
 * and fuzzing: a tk_conn_t without handles or mbedtls. Sends go to a sink
 * function; frames come from tk_conn_memory_deliver on the caller's stack,
 * with the framing rules of a real connection; a close asked for inside a
 * callback completes when the callback returns. The caller's thread.
 */
#include "conn_internal.h"

#include <stdio.h>
#include <stdlib.h>

/* Runs on_close and frees: the end of every memory connection. */
static void memory_free(tk_conn_t *c)
{
  if (c->cbs.on_close) c->cbs.on_close(c, c->reason);
  free(c);
}

/* Marks c closing (0 if it already was). The free is the caller's. */
static int memory_mark_closing(tk_conn_t *c, int reason, const char *msg)
{
  if (c->state == ST_CLOSING) return 0;
  c->state = ST_CLOSING;
  c->reason = reason;
  snprintf(c->errmsg, sizeof c->errmsg, "%s",
           msg && *msg ? msg : (reason ? tk_strerror(reason) : ""));
  return 1;
}

void tk__conn_memory_close(tk_conn_t *c, int reason, const char *msg)
{
  if (memory_mark_closing(c, reason, msg) && !c->in_callback)
    memory_free(c); /* else when the callback returns */
}

int tk__conn_memory_send(tk_conn_t *c, tk_slice_t payload)
{
  int rc = c->sink(c->sink_ctx, payload);
  if (rc == 0) c->bytes_out += payload.n;
  return rc;
}

/* After a callback: a close asked for inside it completes now. */
static int memory_after(tk_conn_t *c)
{
  c->in_callback = 0;
  if (c->state != ST_CLOSING) return 0;
  memory_free(c);
  return TK_ECLOSED;
}

int tk_conn_memory(const tk_conn_cbs_t *cbs, void *data, uint32_t max_frame,
                   tk_conn_sink_fn sink, void *sink_ctx, tk_conn_t **out, tk_err_t *err)
{
  if (!out) return tk_err_set(err, TK_EINVAL, "tk_conn_memory: out is NULL");
  *out = NULL;
  if (!cbs || !sink)
    return tk_err_set(err, TK_EINVAL, "tk_conn_memory: missing argument");
  if (!max_frame) max_frame = TK_MAX_FRAME;
  if (max_frame > TK_MAX_FRAME)
    return tk_err_set(err, TK_EINVAL, "max_frame %u is over the hard maximum %u",
                      max_frame, TK_MAX_FRAME);
  tk_conn_t *c = calloc(1, sizeof *c);
  if (!c) return tk_err_set(err, TK_ENOMEM, "out of memory for a connection");
  c->memory = 1;
  c->cbs = *cbs;
  c->data = data;
  c->max_frame = max_frame;
  c->rx_limit = max_frame;
  c->sink = sink;
  c->sink_ctx = sink_ctx;
  c->state = ST_HANDSHAKE;
  snprintf(c->peer, sizeof c->peer, "(memory)");
  snprintf(c->source, sizeof c->source, "(memory)");
  *out = c;
  return 0;
}

int tk_conn_memory_ready(tk_conn_t *c, const uint8_t peer_spki[TK_HASH_LEN])
{
  if (!c || !c->memory || c->in_callback || c->state != ST_HANDSHAKE || !peer_spki)
    return TK_EINVAL;
  c->state = ST_OPEN;
  c->hs_done = 1;
  c->in_callback = 1;
  if (c->cbs.on_ready) c->cbs.on_ready(c, peer_spki);
  return memory_after(c);
}

int tk_conn_memory_deliver(tk_conn_t *c, tk_slice_t payload)
{
  if (!c || !c->memory || c->in_callback || c->state != ST_OPEN || c->paused ||
      (!payload.p && payload.n))
    return TK_EINVAL;
  c->bytes_in += payload.n;
  c->in_callback = 1;
  /* in a callback: marked closing here, freed by memory_after */
  if (payload.n == 0)
    memory_mark_closing(c, TK_EPROTO, "empty frame from (memory)");
  else if (payload.n > c->rx_limit) {
    char msg[64];
    snprintf(msg, sizeof msg, "frame of %zu bytes over the limit %u", payload.n,
             c->rx_limit);
    memory_mark_closing(c, TK_ELIMIT, msg);
  } else if (c->cbs.on_frame) {
    c->cbs.on_frame(c, payload);
  }
  return memory_after(c);
}
