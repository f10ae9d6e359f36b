/*
 * tk_tls_internal.h: what conn.c needs to see of a tk_tls_t (tls.c). Not a
 * public header: nothing outside the TLS transport includes it, and
 * MBEDTLS_* types stay inside these two files.
 *
 * Threads: the loop thread that owns the connections.
 */
#ifndef TK_TLS_INTERNAL_H
#define TK_TLS_INTERNAL_H

#include "tk_conn.h"
#include "tk_mbedtls_compat.h"

/* Resumption needs tickets and a session that keeps the peer's whole
 * certificate (its key is what on_ready reports after a resumed
 * handshake); an mbedtls built without them never resumes. */
#if defined(MBEDTLS_SSL_SESSION_TICKETS) &&                                              \
    defined(MBEDTLS_SSL_KEEP_PEER_CERTIFICATE) && defined(MBEDTLS_SSL_CLI_C)
#define TK_TLS_CAN_RESUME 1
#endif

/* The shared mbedtls configuration of one role (server or client). */
const mbedtls_ssl_config *tk__tls_config(const tk_tls_t *t);
int tk__tls_is_server(const tk_tls_t *t);

/* Counts the connections that use t, so tk_tls_free can assert none is
 * left (freeing the config under a live mbedtls_ssl_context is a
 * use-after-free). */
void tk__tls_hold(tk_tls_t *t);
void tk__tls_release(tk_tls_t *t);

/* What the verify callback learns about the peer: the SHA-256 of the
 * leaf certificate's SubjectPublicKeyInfo DER. */
typedef struct tk__tls_peer {
  uint8_t spki[TK_HASH_LEN];
  int have_spki;
} tk__tls_peer_t;

/* mbedtls verify callback (mbedtls_ssl_set_verify, ctx = tk__tls_peer_t):
 * clears the "no CA" flags, keeps the "weak certificate" ones, and records
 * the leaf's SPKI hash. */
int tk__tls_verify(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags);

/* The SHA-256 of the SubjectPublicKeyInfo DER of the certificate the
 * session keeps for the peer, hashed exactly as tk__tls_verify hashes it:
 * after a full handshake the same value the callback recorded, after a
 * resumed one (no callback) the key the session was first made with.
 * TK_ENOTFOUND if the session keeps no peer certificate, TK_EFORMAT if its
 * key does not encode. */
int tk__tls_peer_spki(const mbedtls_ssl_context *ssl, uint8_t out[TK_HASH_LEN]);

#endif
