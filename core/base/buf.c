/*
 * buf.c: growable byte buffers, bounded big-endian readers, hex. These are
 * the only way protocol and envelope code builds or walks bytes, so every
 * length check lives here once. Any thread (no shared state).
 */
#include "tk_common.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tk_buf_reserve(tk_buf_t *b, size_t extra)
{
  if (extra > SIZE_MAX - b->n - 1) return TK_ENOMEM;
  size_t need = b->n + extra + 1; /* room for a trailing NUL */
  if (need <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) return TK_ENOMEM;
    cap *= 2;
  }
  uint8_t *p = realloc(b->p, cap);
  if (!p) return TK_ENOMEM;
  b->p = p;
  b->cap = cap;
  return 0;
}

int tk_buf_append(tk_buf_t *b, const void *data, size_t n)
{
  int rc = tk_buf_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->p + b->n, data, n);
  b->n += n;
  b->p[b->n] = 0;
  return 0;
}

int tk_buf_append_u8(tk_buf_t *b, uint8_t v)
{
  return tk_buf_append(b, &v, 1);
}

int tk_buf_append_u16be(tk_buf_t *b, uint16_t v)
{
  uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  return tk_buf_append(b, x, 2);
}

int tk_buf_append_u32be(tk_buf_t *b, uint32_t v)
{
  uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  return tk_buf_append(b, x, 4);
}

int tk_buf_append_u64be(tk_buf_t *b, uint64_t v)
{
  int rc = tk_buf_append_u32be(b, (uint32_t)(v >> 32));
  return rc ? rc : tk_buf_append_u32be(b, (uint32_t)v);
}

int tk_buf_printf(tk_buf_t *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (len < 0) return TK_EINVAL;
  int rc = tk_buf_reserve(b, (size_t)len);
  if (rc) return rc;
  va_start(ap, fmt);
  vsnprintf((char *)b->p + b->n, (size_t)len + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)len;
  return 0;
}

void tk_buf_wipe(tk_buf_t *b)
{
  if (b->p) sodium_memzero(b->p, b->cap);
  tk_buf_free(b);
}

void tk_buf_free(tk_buf_t *b)
{
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

void tk_reader_init(tk_reader_t *r, tk_slice_t s)
{
  r->p = s.p;
  r->n = s.n;
  r->off = 0;
  r->ok = 1;
}

tk_slice_t tk_read_bytes(tk_reader_t *r, size_t n)
{
  if (!r->ok || n > r->n - r->off) {
    r->ok = 0;
    return (tk_slice_t){NULL, 0};
  }
  tk_slice_t s = {r->p + r->off, n};
  r->off += n;
  return s;
}

uint8_t tk_read_u8(tk_reader_t *r)
{
  tk_slice_t s = tk_read_bytes(r, 1);
  return s.p ? s.p[0] : 0;
}

uint16_t tk_read_u16be(tk_reader_t *r)
{
  tk_slice_t s = tk_read_bytes(r, 2);
  return s.p ? (uint16_t)((s.p[0] << 8) | s.p[1]) : 0;
}

uint32_t tk_read_u32be(tk_reader_t *r)
{
  tk_slice_t s = tk_read_bytes(r, 4);
  if (!s.p) return 0;
  return ((uint32_t)s.p[0] << 24) | ((uint32_t)s.p[1] << 16) | ((uint32_t)s.p[2] << 8) |
         s.p[3];
}

uint64_t tk_read_u64be(tk_reader_t *r)
{
  uint64_t hi = tk_read_u32be(r);
  return (hi << 32) | tk_read_u32be(r);
}

void tk_hex_encode(char *out, const uint8_t *in, size_t n)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int tk_hex_decode(uint8_t *out, size_t n, const char *in)
{
  if (strlen(in) != 2 * n) return TK_EINVAL;
  for (size_t i = 0; i < n; i++) {
    int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
    if (hi < 0 || lo < 0) return TK_EINVAL;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return 0;
}
