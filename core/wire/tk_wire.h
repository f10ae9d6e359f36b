/*
 * tk_wire.h: the protocol's codec. Encodes Frames (tunduk.proto,
 * protobuf-c) into bytes and decodes received payloads; no I/O (the sync
 * layer sends the bytes on a transport: tk_sync_frames.h) and no crypto
 * (identities: tk_peer_identity.h; grants: tk_grant.h, both included here
 * for the messages that carry them).
 *
 * Threads: any; pure.
 */
#ifndef TK_WIRE_H
#define TK_WIRE_H

#include "tk_grant.h"
#include "tk_peer_identity.h"
#include "tk_pb.h"

#define TK_PROTOCOL_VERSION 3 /* 3: revision steps (PROTOCOL.md 6, 7) */
#define TK_PROTOCOL_MIN 2     /* the oldest a hub still answers */
#define TK_STR_(x) #x
#define TK_STR(x) TK_STR_(x)
/* Hello's software: program/version (TK_VERSION, CMakeLists.txt). */
#define TK_SOFTWARE "tunduk/" TK_VERSION
#define TK_SOFTWARE_HUB "tundukd/" TK_VERSION
/* The longest software string an office keeps of its hub's Hello. */
#define TK_MAX_SOFTWARE 64
#define TK_MAX_OFFER_IDS 4096
#define TK_MAX_GRANTS 4096
/* Largest frame a hub reads from a peer whose Hello it has not yet
 * verified (and, for a new device, until it is enrolled): the Hello and
 * the Enroll a client sends are a few hundred bytes. PROTOCOL.md 3. */
#define TK_MAX_PREAUTH_FRAME (16u << 10)

typedef Tunduk__V1__Frame tk_frame_t;

/* The encoded size of f, and f encoded into out (which holds that many
 * bytes); returns the bytes written. */
size_t tk_wire_size(const tk_frame_t *f);
size_t tk_wire_pack(const tk_frame_t *f, uint8_t *out);

/* Decodes a frame payload. NULL if it does not decode or has no message
 * set. Free with tk_wire_free. */
tk_frame_t *tk_wire_decode(tk_slice_t payload);
void tk_wire_free(tk_frame_t *f);
/* Name of a frame's message for logs ("hello", "offer", ...). */
const char *tk_wire_name(const tk_frame_t *f);
const char *tk_wire_case_name(int msg_case); /* the same, by msg_case */

/* Signed objects (grants, membership log entries) gathered for one
 * message: each a body and its signature, copied back to back. */
typedef struct tk_signed_list {
  tk_buf_t data;
  size_t *offs; /* body start, signature start, end: 3 per object */
  size_t n;
} tk_signed_list_t;

int tk_signed_list_add(tk_signed_list_t *l, tk_slice_t body, tk_slice_t sig);
/* The body (which 0) or the signature (which 1) of object i < l->n. */
ProtobufCBinaryData tk_signed_list_get(const tk_signed_list_t *l, size_t i, int which);
void tk_signed_list_free(tk_signed_list_t *l);

#endif
