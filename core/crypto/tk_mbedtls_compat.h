/*
 * tk_mbedtls_compat.h: the one place that knows whether tunduk is built
 * against mbedtls 2.28 (Debian 12) or 3.x. Code that touches mbedtls
 * includes this header instead of naming config.h / mbedtls_config.h, and
 * calls the tk_mbedtls_* wrappers below wherever the two APIs differ:
 *
 *   - configuration header: 2.28 config.h, 3.x build_info.h (via version.h);
 *   - mbedtls_pk_parse_key gained an RNG argument in 3.0;
 *   - struct fields went private in 3.0 (TK_MBEDTLS_PRIVATE);
 *   - mbedtls_sha256_ret was renamed mbedtls_sha256 in 3.0;
 *   - certificate serials are raw bytes from 3.4 (the mpi setter is deprecated);
 *   - 3.x with PSA crypto wants psa_crypto_init() before keys are used;
 *   - TLS settings: version range (3.2 takes one enum), curves became
 *     "groups" (IANA ids), signature hashes became "sig_algs";
 *   - whether the peer negotiated the extended master secret (RFC 7627):
 *     no API in either; 2.28 shows it in the handshake parameters
 *     (ssl_internal.h), 3.x keeps them in a private header, so there the
 *     answer is "cannot tell" and tunduk refuses the handshake.
 *
 * MBEDTLS_ERR_* codes must not leave the crypto/TLS modules; callers map
 * them to TK_E* before returning. Threads: the wrappers hold no state.
 */
#ifndef TK_MBEDTLS_COMPAT_H
#define TK_MBEDTLS_COMPAT_H

#include <mbedtls/version.h> /* pulls in config.h (2.x) or build_info.h (3.x) */

#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <string.h>

#include "tk_crypto.h"

#if MBEDTLS_VERSION_MAJOR >= 3
#define TK_MBEDTLS_PRIVATE(member) MBEDTLS_PRIVATE(member)
#if defined(MBEDTLS_PSA_CRYPTO_C)
#include <psa/crypto.h>
#endif
#else
#include <mbedtls/bignum.h>
#include <mbedtls/ssl_internal.h> /* struct mbedtls_ssl_handshake_params */
#define TK_MBEDTLS_PRIVATE(member) member
#endif

/* Makes mbedtls ready for key operations (PSA init on 3.x; nothing on 2.28).
 * Idempotent. Returns 0, or an mbedtls/PSA error code. */
static inline int tk_mbedtls_init(void)
{
#if MBEDTLS_VERSION_MAJOR >= 3 && defined(MBEDTLS_PSA_CRYPTO_C)
  return psa_crypto_init() == PSA_SUCCESS ? 0 : -1;
#else
  return 0;
#endif
}

/* Parses an unencrypted private key (DER or NUL-terminated PEM). 3.x draws
 * blinding values from tk_random_mbedtls. */
static inline int tk_mbedtls_pk_parse_key(mbedtls_pk_context *pk,
                                          const unsigned char *key, size_t keylen)
{
#if MBEDTLS_VERSION_MAJOR >= 3
  return mbedtls_pk_parse_key(pk, key, keylen, NULL, 0, tk_random_mbedtls, NULL);
#else
  return mbedtls_pk_parse_key(pk, key, keylen, NULL, 0);
#endif
}

/* SHA-256 of n bytes into out (32 bytes). */
static inline int tk_mbedtls_sha256(const unsigned char *in, size_t n,
                                    unsigned char out[32])
{
#if MBEDTLS_VERSION_MAJOR >= 3
  return mbedtls_sha256(in, n, out, 0);
#else
  return mbedtls_sha256_ret(in, n, out, 0);
#endif
}

/* Sets a certificate's serial from n big-endian bytes (1..20; the caller
 * keeps the top bit of serial[0] clear so the INTEGER is positive). */
static inline int tk_mbedtls_crt_set_serial(mbedtls_x509write_cert *crt,
                                            const unsigned char *serial, size_t n)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03040000
  unsigned char copy[20];
  if (n == 0 || n > sizeof copy) return MBEDTLS_ERR_X509_BAD_INPUT_DATA;
  memcpy(copy, serial, n);
  return mbedtls_x509write_crt_set_serial_raw(crt, copy, n);
#else
  mbedtls_mpi mpi;
  mbedtls_mpi_init(&mpi);
  int rc = mbedtls_mpi_read_binary(&mpi, serial, n);
  if (rc == 0) rc = mbedtls_x509write_crt_set_serial(crt, &mpi);
  mbedtls_mpi_free(&mpi);
  return rc;
#endif
}

/* 1 once the handshake is over (the state is a public field in 2.28; 3.2
 * has a function for it). */
static inline int tk_mbedtls_ssl_handshake_over(const mbedtls_ssl_context *ssl)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03020000
  return mbedtls_ssl_is_handshake_over((mbedtls_ssl_context *)ssl);
#else
  return ssl->TK_MBEDTLS_PRIVATE(state) == MBEDTLS_SSL_HANDSHAKE_OVER;
#endif
}

enum {
  TK_MBEDTLS_EMS_PENDING,
  TK_MBEDTLS_EMS_YES,
  TK_MBEDTLS_EMS_NO,
  TK_MBEDTLS_EMS_UNKNOWN
};

/* Whether the peer negotiated the extended master secret, checked while
 * the handshake runs (call after each mbedtls_ssl_handshake_step):
 * PENDING until the peer's hello has been read (server: the ClientHello,
 * before the ServerHello is written; client: the ServerHello, before the
 * key exchange), then YES or NO for the rest of the handshake.
 *
 * 2.28: ssl_srv.c sets handshake->extended_ms while it parses the
 * ClientHello's extension (if the config enables it), and ssl_cli.c while
 * it parses the ServerHello's echo; the master secret is then derived
 * with the session hash. The handshake parameters are freed when the
 * handshake ends, so this is only meaningful during it. UNKNOWN: an
 * mbedtls without EMS support, or 3.x (private fields), where the caller
 * must refuse rather than assume. */
static inline int tk_mbedtls_ssl_peer_ems(const mbedtls_ssl_context *ssl, int server)
{
#if MBEDTLS_VERSION_MAJOR < 3 && defined(MBEDTLS_SSL_EXTENDED_MASTER_SECRET)
  int state = ssl->state;
  int read = server ? state > MBEDTLS_SSL_CLIENT_HELLO : state > MBEDTLS_SSL_SERVER_HELLO;
  if (!read) return TK_MBEDTLS_EMS_PENDING;
  if (!ssl->handshake) return TK_MBEDTLS_EMS_UNKNOWN;
  return ssl->handshake->extended_ms == MBEDTLS_SSL_EXTENDED_MS_ENABLED
             ? TK_MBEDTLS_EMS_YES
             : TK_MBEDTLS_EMS_NO;
#else
  (void)server;
  return tk_mbedtls_ssl_handshake_over(ssl) ? TK_MBEDTLS_EMS_UNKNOWN
                                            : TK_MBEDTLS_EMS_PENDING;
#endif
}

/* Restricts an SSL config to what tunduk speaks: TLS 1.2 only, ECDHE over
 * X25519 or P-256, and ECDSA-with-SHA-256 signatures in the handshake. The
 * lists are static, as mbedtls keeps pointers to them. */
static inline void tk_mbedtls_ssl_conf_strict(mbedtls_ssl_config *conf)
{
#if MBEDTLS_VERSION_NUMBER >= 0x03020000
  static const uint16_t groups[] = {MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
                                    MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
                                    MBEDTLS_SSL_IANA_TLS_GROUP_NONE};
  static const uint16_t sig_algs[] = {MBEDTLS_TLS1_3_SIG_ECDSA_SECP256R1_SHA256,
                                      MBEDTLS_TLS1_3_SIG_NONE};
  mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
  mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
  mbedtls_ssl_conf_groups(conf, groups);
  mbedtls_ssl_conf_sig_algs(conf, sig_algs);
#else
  static const mbedtls_ecp_group_id curves[] = {
      MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_NONE};
  static const int sig_hashes[] = {MBEDTLS_MD_SHA256, MBEDTLS_MD_NONE};
  mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_curves(conf, curves);
  mbedtls_ssl_conf_sig_hashes(conf, sig_hashes);
#endif
}

#endif
