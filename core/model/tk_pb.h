/*
 * tk_pb.h: views between the project's byte slices and protobuf-c's bytes
 * fields, for the modules that fill or read generated messages
 * (tunduk.pb-c.h): the codec and the model's signed messages (grants,
 * identities). Pure; any thread.
 */
#ifndef TK_PB_H
#define TK_PB_H

#include "tk_common.h"
#include "tunduk.pb-c.h"

/* A view of protobuf bytes. */
static inline tk_slice_t tk_pb_slice(ProtobufCBinaryData b)
{
  return (tk_slice_t){b.data, b.len};
}
static inline ProtobufCBinaryData tk_pb_bytes(const void *p, size_t n)
{
  return (ProtobufCBinaryData){n, (uint8_t *)(uintptr_t)p};
}

#endif
