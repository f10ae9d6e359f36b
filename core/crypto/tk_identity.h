/*
 * tk_identity.h: a device's identity. An Ed25519 signing key and an X25519
 * key-agreement key (libsodium), plus an ECDSA P-256 key with a self-signed
 * X.509 certificate for TLS (mbedtls; TLS 1.2 has no Ed25519 certificates).
 * The identity key signs the TLS key: binding = Ed25519 signature over
 * "tunduk tls binding v1" || SHA-256(TLS SubjectPublicKeyInfo DER).
 * Device id = SHA-256(Ed25519 public key).
 *
 * At rest the private keys live in one key file, encrypted with
 * XChaCha20-Poly1305 under a key derived from the passphrase with Argon2id
 * (parameters stored in the file); the public half of the file is readable
 * without the passphrase. Secrets live in tk_secure_alloc memory and are
 * wiped by tk_identity_free.
 *
 * Threads: an identity may be used from one thread at a time; signing with
 * an unlocked identity is safe from several threads at once.
 */
#ifndef TK_IDENTITY_H
#define TK_IDENTITY_H

#include "tk_crypto.h"

/* Argon2id strength for the key file. */
typedef enum tk_kdf_level {
  TK_KDF_INTERACTIVE = 0, /* libsodium OPSLIMIT/MEMLIMIT_INTERACTIVE (64 MiB) */
  TK_KDF_MODERATE = 1,    /* ..._MODERATE (256 MiB), the default */
  TK_KDF_SENSITIVE = 2    /* ..._SENSITIVE (1 GiB) */
} tk_kdf_level_t;

typedef struct tk_identity_secret {
  uint8_t sign_sk[TK_SIGN_SK_LEN];
  uint8_t kx_sk[TK_KX_SK_LEN];
  uint8_t tls_key_der[512]; /* the P-256 private key, DER */
  size_t tls_key_der_len;
} tk_identity_secret_t;

typedef struct tk_identity {
  uint8_t id[TK_DEVICE_ID_LEN];
  uint8_t sign_pk[TK_SIGN_PK_LEN];
  uint8_t kx_pk[TK_KX_PK_LEN];
  uint8_t tls_spki_hash[TK_HASH_LEN]; /* SHA-256 of the TLS public key (SPKI DER) */
  uint8_t tls_binding[TK_SIG_LEN];    /* identity key's signature over the TLS key */
  char *tls_cert_pem;                 /* self-signed certificate, PEM, NUL-terminated */
  char name[64];                      /* human label (not in the certificate) */
  unsigned long long kdf_ops;         /* the key file's Argon2id parameters (load), */
  size_t kdf_mem;                     /* 0 for an identity not read from a file */
  tk_identity_secret_t *sec;          /* NULL unless generated or unlocked */
} tk_identity_t;

/* Makes a fresh identity with all three keys and the certificate. name is a
 * label (letters, digits, '-', '_', '.', at most 63 bytes). Caller frees
 * *out with tk_identity_free. */
int tk_identity_generate(tk_identity_t **out, const char *name, tk_err_t *err);

/* Writes the key file at path (mode 0600, written to a temporary file,
 * fsynced, then renamed over path, replacing any file there). id must hold
 * its secrets (else TK_ENOKEY). */
int tk_identity_save(const tk_identity_t *id, const char *path, const char *pass,
                     size_t passlen, tk_kdf_level_t level, tk_err_t *err);

/* The same, under the Argon2id parameters id was loaded with (kdf_ops,
 * kdf_mem): a new passphrase at the strength the file had. TK_EINVAL for an
 * identity not read from a key file. */
int tk_identity_save_same_kdf(const tk_identity_t *id, const char *path, const char *pass,
                              size_t passlen, tk_err_t *err);

/* Reads the key file at path. With pass == NULL only the public half is
 * loaded (sec stays NULL). With a passphrase, the secrets are decrypted;
 * a wrong passphrase gives TK_EPASS and a message naming the file; a file
 * that was altered gives TK_EFORMAT, or TK_EPASS when only the AEAD tag can
 * see the change (ciphertext, nonce, salt, in-bounds KDF parameters, or
 * kx_pk, which is associated data): the tag cannot tell that from a wrong
 * passphrase. TK_ENOTFOUND if path does
 * not exist, TK_ELIMIT if it is larger than TK_MAX_KEYFILE, TK_EVERSION if a
 * newer tunduk wrote it. On failure *out is NULL. Caller frees *out. */
int tk_identity_load(tk_identity_t **out, const char *path, const char *pass,
                     size_t passlen, tk_err_t *err);

void tk_identity_free(tk_identity_t *id);

/* Ed25519 signature by an unlocked identity. TK_ENOKEY if locked. */
int tk_identity_sign(const tk_identity_t *id, uint8_t sig[TK_SIG_LEN], const void *msg,
                     size_t n);
/* 0 if sig is a valid signature of msg by sign_pk, else TK_ESIG. */
int tk_sig_verify(const uint8_t sig[TK_SIG_LEN], const void *msg, size_t n,
                  const uint8_t sign_pk[TK_SIGN_PK_LEN]);

/* Checks that binding is sign_pk's signature over the TLS key whose SPKI
 * hash is given: what a peer checks before pinning a TLS key to a device. */
int tk_tls_binding_verify(const uint8_t sign_pk[TK_SIGN_PK_LEN],
                          const uint8_t spki_hash[TK_HASH_LEN],
                          const uint8_t binding[TK_SIG_LEN]);

#endif
