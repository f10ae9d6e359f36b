/*
 * tk_grant.h: vault key grants (PROTOCOL.md section 9): a vault key sealed
 * to one member's X25519 key, signed by the granting member. Encodes and
 * signs a GrantBody, and decodes and verifies a received SignedGrant.
 *
 * Layer: model (it encodes the generated GrantBody message; no framing,
 * no I/O). Threads: any; pure.
 */
#ifndef TK_GRANT_H
#define TK_GRANT_H

#include "tk_identity.h"
#include "tk_pb.h"

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

#endif
