/*
 * wire.c: the protocol's codec (see tk_wire.h): encodes and decodes
 * frames, no I/O.
 */
#include "tk_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t tk_wire_size(const tk_frame_t *f)
{
  return tunduk__v1__frame__get_packed_size(f);
}

size_t tk_wire_pack(const tk_frame_t *f, uint8_t *out)
{
  return tunduk__v1__frame__pack(f, out);
}

tk_frame_t *tk_wire_decode(tk_slice_t payload)
{
  tk_frame_t *f = tunduk__v1__frame__unpack(NULL, payload.n, payload.p);
  if (f && (f->msg_case == TUNDUK__V1__FRAME__MSG__NOT_SET || !f->hello)) {
    tunduk__v1__frame__free_unpacked(f, NULL);
    return NULL;
  }
  return f;
}

void tk_wire_free(tk_frame_t *f)
{
  if (f) tunduk__v1__frame__free_unpacked(f, NULL);
}

const char *tk_wire_name(const tk_frame_t *f)
{
  return tk_wire_case_name((int)f->msg_case);
}

const char *tk_wire_case_name(int msg_case)
{
  static const char *names[] = {
      "none",      "hello",       "error",  "enroll", "enrolled",     "offer",
      "need",      "revisions",   "ack",    "pull",   "device_query", "device_info",
      "grant_put", "grant_query", "grants", "bye",    "chunk",        "chunk_ack",
      "log_put",   "log_query",   "log"};
  unsigned k = (unsigned)msg_case;
  return k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

int tk_signed_list_add(tk_signed_list_t *l, tk_slice_t body, tk_slice_t sig)
{
  size_t *o = realloc(l->offs, (3 * l->n + 3) * sizeof *o);
  if (!o) return TK_ENOMEM;
  l->offs = o;
  o[3 * l->n] = l->data.n;
  int rc = tk_buf_append(&l->data, body.p, body.n);
  o[3 * l->n + 1] = l->data.n;
  if (!rc) rc = tk_buf_append(&l->data, sig.p, sig.n);
  o[3 * l->n + 2] = l->data.n;
  if (!rc) l->n++;
  return rc;
}

ProtobufCBinaryData tk_signed_list_get(const tk_signed_list_t *l, size_t i, int which)
{
  const size_t *o = l->offs + 3 * i + (which ? 1 : 0);
  return tk_pb_bytes(l->data.p + o[0], o[1] - o[0]);
}

void tk_signed_list_free(tk_signed_list_t *l)
{
  free(l->offs);
  tk_buf_free(&l->data);
  memset(l, 0, sizeof *l);
}
