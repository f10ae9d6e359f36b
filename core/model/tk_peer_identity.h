/*
 * tk_peer_identity.h: a device's public identity as peers exchange it
 * (PROTOCOL.md section 4): the binding of its X25519 key to its signing
 * key, the Identity message filled from an unlocked identity, and the
 * checks on a received one (every length, device id, kx binding and,
 * over a TLS connection, the TLS key binding).
 *
 * Layer: crypto/model (below the codec: it fills and reads the generated
 * Identity message but does no framing and no I/O). Threads: any; pure.
 */
#ifndef TK_PEER_IDENTITY_H
#define TK_PEER_IDENTITY_H

#include "tk_identity.h"
#include "tk_pb.h"

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

#endif
