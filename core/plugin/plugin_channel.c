/*
 * plugin_channel.c: the plugin worker protocol's encoding, decoding and
 * blocking I/O (plugin_channel.h), shared by the parent (plugin_worker.c)
 * and the worker (plugin_worker_main.c).
 */
#include "plugin_channel.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- encoding ---------------------------------------------------------------- */

int tk__pc_put_u32(tk_buf_t *b, uint32_t v)
{
  uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  return tk_buf_append(b, x, 4);
}

int tk__pc_put_u64(tk_buf_t *b, uint64_t v)
{
  int rc = tk__pc_put_u32(b, (uint32_t)v);
  return rc ? rc : tk__pc_put_u32(b, (uint32_t)(v >> 32));
}

int tk__pc_put_str(tk_buf_t *b, const void *p, size_t n)
{
  if (!p) return tk__pc_put_u32(b, TK__PC_ABSENT);
  int rc = tk__pc_put_u32(b, (uint32_t)n);
  if (!rc) rc = tk_buf_append(b, p, n);
  if (!rc) rc = tk_buf_append_u8(b, 0);
  return rc;
}

int tk__pc_put_cstr(tk_buf_t *b, const char *s)
{
  return tk__pc_put_str(b, s, s ? strlen(s) : 0);
}

/* A frame: header room first (filled by tk__pc_frame_end). */
int tk__pc_frame_begin(tk_buf_t *b, int op)
{
  b->n = 0;
  int rc = tk__pc_put_u32(b, 0);
  return rc ? rc : tk_buf_append_u8(b, (uint8_t)op);
}

int tk__pc_frame_end(tk_buf_t *b)
{
  if (b->n - 4 > TK__PC_MAX_FRAME) return TK_ELIMIT;
  uint32_t n = (uint32_t)(b->n - 4);
  b->p[0] = (uint8_t)n;
  b->p[1] = (uint8_t)(n >> 8);
  b->p[2] = (uint8_t)(n >> 16);
  b->p[3] = (uint8_t)(n >> 24);
  return 0;
}

uint32_t tk__pc_get_u32(tk__pc_rd_t *r)
{
  if (r->n < 4) {
    r->bad = 1;
    return 0;
  }
  uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
               (uint32_t)r->p[3] << 24;
  r->p += 4;
  r->n -= 4;
  return v;
}

uint64_t tk__pc_get_u64(tk__pc_rd_t *r)
{
  uint64_t lo = tk__pc_get_u32(r);
  return lo | (uint64_t)tk__pc_get_u32(r) << 32;
}

/* A string: a view into the frame (NUL-terminated), or p NULL if absent. */
tk_slice_t tk__pc_get_str(tk__pc_rd_t *r)
{
  tk_slice_t s = {NULL, 0};
  uint32_t n = tk__pc_get_u32(r);
  if (r->bad || n == TK__PC_ABSENT) return s;
  if (r->n < (size_t)n + 1 || r->p[n] != 0) {
    r->bad = 1;
    return s;
  }
  s = TK_SLICE(r->p, n);
  r->p += (size_t)n + 1;
  r->n -= (size_t)n + 1;
  return s;
}

const char *tk__pc_get_cstr(tk__pc_rd_t *r)
{
  return (const char *)tk__pc_get_str(r).p;
}

int tk__pc_put_meta(tk_buf_t *b, const tk_plugin_meta_t *m)
{
  int rc = tk__pc_put_cstr(b, m->record_id);
  if (!rc) rc = tk__pc_put_cstr(b, m->revision_id);
  if (!rc) rc = tk__pc_put_cstr(b, m->type);
  if (!rc) rc = tk__pc_put_cstr(b, m->vault);
  if (!rc) rc = tk__pc_put_cstr(b, m->author);
  if (!rc) rc = tk__pc_put_u64(b, m->hlc);
  if (!rc) rc = tk__pc_put_u64(b, m->size);
  if (!rc) rc = tk__pc_put_u32(b, m->generation);
  if (!rc) rc = tk__pc_put_u32(b, m->nparents);
  return rc;
}

void tk__pc_get_meta(tk__pc_rd_t *r, tk_plugin_meta_t *m)
{
  m->record_id = tk__pc_get_cstr(r);
  m->revision_id = tk__pc_get_cstr(r);
  m->type = tk__pc_get_cstr(r);
  m->vault = tk__pc_get_cstr(r);
  m->author = tk__pc_get_cstr(r);
  m->hlc = tk__pc_get_u64(r);
  m->size = tk__pc_get_u64(r);
  m->generation = tk__pc_get_u32(r);
  m->nparents = tk__pc_get_u32(r);
}

/* ---- I/O ----------------------------------------------------------------------- */

/* The parent sends without SIGPIPE (a dead worker must not kill it); the
 * worker writes (its jail allows write, not sendto; its SIGPIPE is the
 * default, and a dead parent is its end anyway). */
int tk__pc_in_worker;

int tk__pc_send_all(int fd, const uint8_t *p, size_t n)
{
  while (n > 0) {
    ssize_t w = tk__pc_in_worker ? write(fd, p, n) : send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return TK_EIO;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

uint64_t tk__pc_now_ms(void)
{
  return tk__plugin_now_ns() / 1000000u;
}

/* Reads n bytes; deadline_ms 0 = wait for ever (the worker's side).
 * TK_ETIMEDOUT, TK_ECLOSED (EOF), TK_EIO. */
int tk__pc_recv_all(int fd, uint8_t *p, size_t n, uint64_t deadline_ms)
{
  while (n > 0) {
    if (deadline_ms) {
      uint64_t now = tk__pc_now_ms();
      if (now >= deadline_ms) return TK_ETIMEDOUT;
      struct pollfd pf = {fd, POLLIN, 0};
      uint64_t wait = deadline_ms - now;
      int pr = poll(&pf, 1, wait > INT_MAX ? INT_MAX : (int)wait);
      if (pr < 0 && errno == EINTR) continue;
      if (pr < 0) return TK_EIO;
      if (pr == 0) return TK_ETIMEDOUT;
    }
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return TK_EIO;
    if (r == 0) return TK_ECLOSED;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* One frame into b; *op and the payload reader r (a view into b). */
int tk__pc_recv_frame(int fd, tk_buf_t *b, uint64_t deadline_ms, int *op, tk__pc_rd_t *r)
{
  uint8_t h[4];
  int rc = tk__pc_recv_all(fd, h, 4, deadline_ms);
  if (rc) return rc;
  uint32_t n =
      (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
  if (n < 1 || n > TK__PC_MAX_FRAME) return TK_EPROTO;
  b->n = 0;
  if ((rc = tk_buf_reserve(b, n)) < 0) return rc;
  if ((rc = tk__pc_recv_all(fd, b->p, n, deadline_ms)) < 0) return rc;
  b->n = n;
  *op = b->p[0];
  r->p = b->p + 1;
  r->n = n - 1;
  r->bad = 0;
  return 0;
}
