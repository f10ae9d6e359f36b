/*
 * tk_wire.h: protocol messages on a connection. Encodes and sends Frames
 * (tunduk.proto, protobuf-c), decodes received payloads, and turns device
 * identities into Identity messages and back, checking every length and
 * binding signature on the way in (PROTOCOL.md section 4).
 *
 * Threads: the connection's loop thread; the decoders are pure.
 */
#ifndef TK_WIRE_H
#define TK_WIRE_H

#include "tk_conn.h"
#include "tunduk.pb-c.h"

#define TK_PROTOCOL_VERSION 1
#define TK_SOFTWARE "tunduk/0.1"
#define TK_MAX_OFFER_IDS 4096
#define TK_MAX_GRANTS 4096

typedef Tunduk__V1__Frame tk_frame_t;

/* Encodes f and queues it on c as one frame. */
int tk_wire_send(tk_conn_t *c, const tk_frame_t *f);
/* Sends Error{code, message}; the caller closes afterwards. */
void tk_wire_send_error(tk_conn_t *c, Tunduk__V1__ErrorCode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Decodes a frame payload. NULL if it does not decode or has no message
 * set. Free with tk_wire_free. */
tk_frame_t *tk_wire_decode(tk_slice_t payload);
void tk_wire_free(tk_frame_t *f);
/* Name of a frame's message for logs ("hello", "offer", ...). */
const char *tk_wire_name(const tk_frame_t *f);

/* A peer's public identity after checking. */
typedef struct tk_peer {
  uint8_t id[TK_DEVICE_ID_LEN];
  uint8_t sign_pk[TK_SIGN_PK_LEN];
  uint8_t kx_pk[TK_KX_PK_LEN];
  uint8_t kx_sig[TK_SIG_LEN];
  char name[64];
} tk_peer_t;

/* The identity's signature over its X25519 key ("tunduk kx binding v1"). */
int tk_kx_sign(const tk_identity_t *id, uint8_t sig[TK_SIG_LEN]);
int tk_kx_verify(const uint8_t sign_pk[TK_SIGN_PK_LEN], const uint8_t kx_pk[TK_KX_PK_LEN],
                 const uint8_t sig[TK_SIG_LEN]);

/* Fills m from an unlocked identity; m's byte fields point into id and
 * kx_sig, which must outlive m. */
int tk_wire_identity(Tunduk__V1__Identity *m, const tk_identity_t *id, uint8_t kx_sig[TK_SIG_LEN]);
/* Checks a received Identity: lengths, device_id == SHA-256(sign_pk),
 * kx_sig, and, when spki is not NULL, tls_binding over spki. TK_EPROTO or
 * TK_ESIG with a message. */
int tk_wire_identity_check(const Tunduk__V1__Identity *m, const uint8_t *spki, tk_peer_t *out,
                           tk_err_t *err);

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
