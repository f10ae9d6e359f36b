/*
 * conn_info.c: what a tk_conn_t tells about itself (tk_conn.h: the
 * caller's pointer, the peer's source, byte counts, cipher and TLS
 * version, the close message) and the connection as the engine's
 * transport (tk_transport.h: send, close, pause, resume, queued). Loop
 * thread only, as the connection.
 */
#include <stddef.h>
#include <sys/ioctl.h>

#include "conn_internal.h"

const char *tk_conn_peer_source(const tk_conn_t *c)
{
  return c->source;
}

int tk_conn_peer_silent(const tk_conn_t *c)
{
  if (c->bytes_in > 0) return 0;
  if (c->memory || c->finishing) return 1;
  /* Bytes the kernel holds that the loop has not read yet count as
   * spoken: a hub accepts a burst of connections before it reads any. */
  uv_os_fd_t fd;
  int waiting = 0;
  if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) == 0 &&
      ioctl(fd, FIONREAD, &waiting) == 0)
    return waiting <= 0;
  return 1;
}

void *tk_conn_data(const tk_conn_t *c)
{
  return c->data;
}

void tk_conn_set_data(tk_conn_t *c, void *data)
{
  c->data = data;
}

/* ---- the connection as a transport (tk_transport.h) ------------------------- */

#define TRANSPORT_CONN(t) ((tk_conn_t *)((char *)(t)-offsetof(tk_conn_t, transport)))

static int transport_send(tk_transport_t *t, tk_slice_t payload)
{
  return tk_conn_send(TRANSPORT_CONN(t), payload);
}

static void transport_close(tk_transport_t *t, int reason, const char *msg)
{
  tk_conn_close(TRANSPORT_CONN(t), reason, msg);
}

static void transport_pause(tk_transport_t *t)
{
  tk_conn_pause(TRANSPORT_CONN(t));
}

static void transport_resume(tk_transport_t *t)
{
  tk_conn_resume(TRANSPORT_CONN(t));
}

static size_t transport_queued(const tk_transport_t *t)
{
  return tk_conn_write_queue(TRANSPORT_CONN(t));
}

static const tk_transport_ops_t conn_transport_ops = {
    transport_send, transport_close, transport_pause, transport_resume, transport_queued};

tk_transport_t *tk_conn_transport(tk_conn_t *c)
{
  c->transport.ops = &conn_transport_ops;
  return &c->transport;
}

const char *tk_conn_error(const tk_conn_t *c)
{
  return c->errmsg;
}

const char *tk_conn_peer_addr(const tk_conn_t *c)
{
  return c->peer;
}

uint64_t tk_conn_bytes_in(const tk_conn_t *c)
{
  return c->bytes_in;
}

uint64_t tk_conn_bytes_out(const tk_conn_t *c)
{
  return c->bytes_out;
}

const char *tk_conn_cipher(const tk_conn_t *c)
{
  return c->cipher ? c->cipher : "";
}

const char *tk_conn_tls_version(const tk_conn_t *c)
{
  return c->version ? c->version : "";
}
