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

#define TK_PROTOCOL_VERSION 2
#define TK_SOFTWARE "tunduk/0.1"
#define TK_MAX_OFFER_IDS 4096
#define TK_MAX_GRANTS 4096
/* Largest frame a hub reads from a peer whose Hello it has not yet
 * verified (and, for a new device, until it is enrolled): the Hello and
 * the Enroll a client sends are a few hundred bytes. PROTOCOL.md 3. */
#define TK_MAX_PREAUTH_FRAME (16u << 10)

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
int tk_wire_identity(Tunduk__V1__Identity *m, const tk_identity_t *id,
                     uint8_t kx_sig[TK_SIG_LEN]);
/* Checks a received Identity: lengths, device_id == SHA-256(sign_pk),
 * kx_sig, and, when spki is not NULL, tls_binding over spki. TK_EPROTO or
 * TK_ESIG with a message. */
int tk_wire_identity_check(const Tunduk__V1__Identity *m, const uint8_t *spki,
                           tk_peer_t *out, tk_err_t *err);

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

/* Vault key grants (PROTOCOL.md section 9). */
typedef struct tk_grant {
  char vault[TK_MAX_VAULT_LEN + 1];
  uint8_t key_id[TK_KEY_ID_LEN];
  uint8_t recipient[TK_DEVICE_ID_LEN];
  uint8_t sealed[TK_SEALED_KEY_LEN];
  uint8_t granter_pk[TK_SIGN_PK_LEN];
  uint8_t granter[TK_DEVICE_ID_LEN]; /* SHA-256(granter_pk) */
  uint64_t created_ms;
  uint8_t entry[TK_HASH_LEN]; /* the membership log entry it belongs to */
} tk_grant_t;

/* Encodes g (granter_pk taken from id) as a GrantBody into body and signs
 * it into sig. */
int tk_grant_sign(const tk_grant_t *g, const tk_identity_t *id, tk_buf_t *body,
                  uint8_t sig[TK_SIG_LEN]);
/* Decodes and checks a SignedGrant: every length, the vault name, and the
 * granter's signature. TK_EFORMAT / TK_ESIG with a message. */
int tk_grant_verify(tk_slice_t body, tk_slice_t sig, tk_grant_t *out, tk_err_t *err);

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
