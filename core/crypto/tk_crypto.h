/*
 * tk_crypto.h: the record-layer crypto primitives tunduk uses everywhere:
 * randomness, SHA-256, constant-time comparison, device ids, and vault keys
 * (256-bit random, sealed to a device's X25519 key with a libsodium sealed
 * box). All of it is libsodium; mbedtls stays on TLS (see DESIGN.md).
 *
 * Threads: any, after tk_crypto_init() has returned 0 once in the process.
 */
#ifndef TK_CRYPTO_H
#define TK_CRYPTO_H

#include "tk_common.h"

#define TK_SIGN_PK_LEN 32    /* Ed25519 public key */
#define TK_SIGN_SK_LEN 64    /* Ed25519 secret key (libsodium layout) */
#define TK_SIG_LEN 64        /* Ed25519 signature */
#define TK_KX_PK_LEN 32      /* X25519 public key */
#define TK_KX_SK_LEN 32      /* X25519 secret key */
#define TK_VAULT_KEY_LEN 32  /* vault key */
#define TK_SEALED_KEY_LEN 80 /* vault key sealed to an X25519 key (32 + 48) */

/* Initialises libsodium. Call once before anything else; idempotent. */
int tk_crypto_init(void);

/* n bytes from libsodium's CSPRNG. */
void tk_random(void *buf, size_t n);
/* mbedtls-style RNG callback backed by libsodium's CSPRNG (ctx unused), so
 * TLS and certificate code draws from the same generator. Returns 0. */
int tk_random_mbedtls(void *ctx, unsigned char *buf, size_t n);

void tk_sha256(uint8_t out[TK_HASH_LEN], const void *in, size_t n);
/* SHA-256 over data given in pieces (a file read in blocks): init, update
 * any number of times, final. The state is the caller's. */
typedef struct tk_sha256_ctx {
  uint64_t opaque[16];
} tk_sha256_ctx_t;
void tk_sha256_init(tk_sha256_ctx_t *c);
void tk_sha256_update(tk_sha256_ctx_t *c, const void *in, size_t n);
void tk_sha256_final(tk_sha256_ctx_t *c, uint8_t out[TK_HASH_LEN]);
/* 1 if the n bytes at a and b are equal, else 0; time independent of the
 * contents. Use for every secret, tag, MAC or pinned hash. */
int tk_ct_equal(const void *a, const void *b, size_t n);

/* Device ids. */
void tk_device_id_from_pk(uint8_t id[TK_DEVICE_ID_LEN],
                          const uint8_t sign_pk[TK_SIGN_PK_LEN]);
void tk_device_id_format(char out[TK_DEVICE_ID_STRLEN],
                         const uint8_t id[TK_DEVICE_ID_LEN]);
/* Accepts the printed form with or without dashes, in either case.
 * TK_EINVAL if it is not a whole device id. */
int tk_device_id_parse(uint8_t id[TK_DEVICE_ID_LEN], const char *s);
/* 0 if s parses as a device id, else TK_EINVAL with what is wrong written
 * to why (n bytes): which character is not base32 and where, how many
 * characters there are, or that the last one cannot end an id. */
int tk_device_id_check(const char *s, char *why, size_t n);

/* Vault keys. */
void tk_vault_key_new(uint8_t key[TK_VAULT_KEY_LEN]);
/* key id = first 8 bytes of BLAKE2b-256(key = vault key, "tunduk key id v1").
 * It names a key (for rotation) and reveals nothing about it. */
void tk_vault_key_id(uint8_t id[TK_KEY_ID_LEN], const uint8_t key[TK_VAULT_KEY_LEN]);
int tk_vault_key_seal(uint8_t out[TK_SEALED_KEY_LEN], const uint8_t key[TK_VAULT_KEY_LEN],
                      const uint8_t kx_pk[TK_KX_PK_LEN]);
/* TK_ETAG if the sealed box does not open with this key pair. */
int tk_vault_key_open(uint8_t key[TK_VAULT_KEY_LEN],
                      const uint8_t sealed[TK_SEALED_KEY_LEN],
                      const uint8_t kx_pk[TK_KX_PK_LEN],
                      const uint8_t kx_sk[TK_KX_SK_LEN]);

/* Secure memory for keys: locked (best effort), guarded, zeroed on free.
 * tk_secure_alloc returns NULL on failure; tk_secure_free(NULL) is a no-op. */
void *tk_secure_alloc(size_t n);
void tk_secure_free(void *p);
void tk_wipe(void *p, size_t n);

#endif
