/*
 * tls.c: the mbedtls configuration of one role (tk_tls_t): the device's own
 * certificate and P-256 key from an unlocked identity, and the policy every
 * tunduk TLS connection follows:
 *
 *   - TLS 1.2 only (min = max); renegotiation disabled, legacy
 *     renegotiation breaks the handshake; extended master secret on;
 *   - session resumption by RFC 5077 tickets only (no server-side session
 *     cache): a server issues tickets once tk_tls_enable_tickets gave it a
 *     lifetime (the hub's tls_ticket_lifetime_s); a client always accepts
 *     them and offers a saved one when its connection is given one;
 *   - cipher suites ECDHE-ECDSA with AES-256-GCM, ChaCha20-Poly1305 or
 *     AES-128-GCM; key exchange over X25519 or P-256; ECDSA-SHA-256;
 *   - both sides present a certificate and require the peer's (the server
 *     default is "none", so it is set explicitly).
 *
 * Trust: there is no CA. mbedtls refuses "required" verification without a
 * CA chain, so the own certificate is given as the chain, and the verify
 * callback (tk__tls_verify) clears the flags that only say "not signed by a
 * CA we know" (untrusted, expired, not yet valid, name mismatch). Flags that
 * say the certificate is weak (key type, curve, hash: the profile below)
 * stay and fail the handshake. The callback records the SHA-256 of the
 * peer's SubjectPublicKeyInfo; whether that key belongs to an expected
 * device is the caller's decision (on_ready).
 *
 * Resumption: a resumed handshake exchanges no certificates, so the verify
 * callback does not run. The peer's key then comes from the certificate
 * the session kept (MBEDTLS_SSL_KEEP_PEER_CERTIFICATE; on the server it
 * travels inside the ticket), and tk__tls_peer_spki hashes it the same way
 * as the callback: on_ready gets the same SPKI hash either way, and every
 * check made on it (pinning, device, revocation) runs on every connection.
 * Ticket keys (AES-256-GCM, mbedtls_ssl_ticket) are drawn from the CSPRNG
 * in tk_tls_enable_tickets, live only in this struct's memory (never
 * written or logged; zeroised by tk_tls_free), and rotate every lifetime;
 * a ticket older than the lifetime is refused (a full handshake follows),
 * and a new process has new keys, so a hub restart ends every ticket.
 *
 * Invariants: a tk_tls_t's settings are fixed once its first connection is
 * made (tk_tls_enable_tickets comes before that; only mbedtls' own ticket
 * key rotation changes it later); it outlives every connection
 * made with it (nconn counts them; tk_tls_free asserts 0).
 * Threads: the loop thread that owns the connections.
 */
#include "tk_tls_internal.h"

#include <stdlib.h>
#include <string.h>

#if defined(MBEDTLS_SSL_TICKET_C)
#include <mbedtls/ssl_ticket.h>
#endif

#define SPKI_DER_MAX 256 /* a P-256 SPKI is 91 bytes */

struct tk_tls {
  int server;
  size_t nconn;
  mbedtls_ssl_config conf;
#if defined(MBEDTLS_SSL_TICKET_C)
  int tickets; /* ticket set up (needs mbedtls_ssl_ticket_free) */
  mbedtls_ssl_ticket_context ticket;
#endif
  mbedtls_x509_crt cert; /* own certificate; also the (placeholder) CA chain */
  mbedtls_pk_context key;
};

static const int ciphersuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    0,
};

/* What a peer certificate may be: an EC key on P-256, signed with SHA-256
 * or SHA-384 (identity.c makes P-256 / SHA-256). */
static const mbedtls_x509_crt_profile peer_profile = {
    MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA256) | MBEDTLS_X509_ID_FLAG(MBEDTLS_MD_SHA384),
    MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_ECKEY) | MBEDTLS_X509_ID_FLAG(MBEDTLS_PK_ECDSA),
    MBEDTLS_X509_ID_FLAG(MBEDTLS_ECP_DP_SECP256R1),
    2048,
};

/* The verification results that only mean "no CA vouches for this
 * certificate": expected with self-signed device certificates. */
#define FLAGS_NO_CA                                                                      \
  (MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_EXPIRED |                     \
   MBEDTLS_X509_BADCERT_FUTURE | MBEDTLS_X509_BADCERT_CN_MISMATCH)

/* SHA-256 of the SubjectPublicKeyInfo DER of crt's key. -1 if it does not
 * encode. */
static int spki_hash(uint8_t out[TK_HASH_LEN], const mbedtls_x509_crt *crt)
{
  unsigned char der[SPKI_DER_MAX];
  /* mbedtls_pk_write_pubkey_der does not change the key (2.28 lacks const) */
  int n = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)&crt->pk, der, sizeof der);
  if (n <= 0) return -1;
  tk_sha256(out, der + sizeof der - (size_t)n, (size_t)n);
  return 0;
}

int tk__tls_verify(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
  tk__tls_peer_t *peer = ctx;
  *flags &= ~(uint32_t)FLAGS_NO_CA;
  if (depth != 0) return 0;
  /* The leaf: the certificate whose key signed this handshake. */
  if (spki_hash(peer->spki, crt) != 0) {
    *flags |= MBEDTLS_X509_BADCERT_OTHER;
    return 0;
  }
  peer->have_spki = 1;
  return 0;
}

int tk__tls_peer_spki(const mbedtls_ssl_context *ssl, uint8_t out[TK_HASH_LEN])
{
#if defined(MBEDTLS_SSL_KEEP_PEER_CERTIFICATE)
  const mbedtls_x509_crt *crt = mbedtls_ssl_get_peer_cert(ssl);
  if (!crt) return TK_ENOTFOUND;
  return spki_hash(out, crt) == 0 ? 0 : TK_EFORMAT;
#else
  (void)ssl;
  (void)out;
  return TK_ENOTFOUND;
#endif
}

int tk_tls_new(tk_tls_t **out, const tk_identity_t *id, int server, tk_err_t *err)
{
  int rc = 0, mrc;
  tk_tls_t *t = NULL;
  uint8_t spki[TK_HASH_LEN];

  if (!out) return tk_err_set(err, TK_EINVAL, "tk_tls_new: out is NULL");
  *out = NULL;
  if (!id || !id->tls_cert_pem)
    return tk_err_set(err, TK_EINVAL, "tk_tls_new: no identity certificate");
  if (!id->sec || id->sec->tls_key_der_len == 0 ||
      id->sec->tls_key_der_len > sizeof id->sec->tls_key_der)
    return tk_err_set(err, TK_ENOKEY, "identity %s is locked: no TLS key", id->name);
  if (tk_mbedtls_init() != 0)
    return tk_err_set(err, TK_ECRYPTO, "could not initialise mbedtls");

  t = calloc(1, sizeof *t);
  if (!t) return tk_err_set(err, TK_ENOMEM, "out of memory for the TLS settings");
  t->server = server ? 1 : 0;
  mbedtls_ssl_config_init(&t->conf);
  mbedtls_x509_crt_init(&t->cert);
  mbedtls_pk_init(&t->key);
#if defined(MBEDTLS_SSL_TICKET_C)
  mbedtls_ssl_ticket_init(&t->ticket);
#endif

  mrc = mbedtls_x509_crt_parse(&t->cert, (const unsigned char *)id->tls_cert_pem,
                               strlen(id->tls_cert_pem) + 1);
  if (mrc != 0 || t->cert.next != NULL) {
    rc = tk_err_set(err, TK_EFORMAT, "identity %s: TLS certificate does not parse",
                    id->name);
    goto done;
  }
  /* The certificate must carry the identity's (bound) TLS key. */
  tk_sha256(spki, t->cert.pk_raw.p, t->cert.pk_raw.len);
  if (!tk_ct_equal(spki, id->tls_spki_hash, TK_HASH_LEN)) {
    rc = tk_err_set(err, TK_EFORMAT,
                    "identity %s: TLS certificate key differs from the bound key",
                    id->name);
    goto done;
  }
  mrc = tk_mbedtls_pk_parse_key(&t->key, id->sec->tls_key_der, id->sec->tls_key_der_len);
  if (mrc != 0) {
    rc = tk_err_set(err, TK_EFORMAT, "identity %s: TLS private key does not parse",
                    id->name);
    goto done;
  }

  mrc = mbedtls_ssl_config_defaults(
      &t->conf, server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
      MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
  if (mrc == 0) mrc = mbedtls_ssl_conf_own_cert(&t->conf, &t->cert, &t->key);
  if (mrc != 0) {
    rc = tk_err_set(err, TK_ECRYPTO, "could not configure TLS (mbedtls -0x%04x)",
                    (unsigned)-mrc);
    goto done;
  }
  mbedtls_ssl_conf_rng(&t->conf, tk_random_mbedtls, NULL);
  mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
  mbedtls_ssl_conf_ca_chain(&t->conf, &t->cert, NULL);
  mbedtls_ssl_conf_cert_profile(&t->conf, &peer_profile);
  mbedtls_ssl_conf_ciphersuites(&t->conf, ciphersuites);
  tk_mbedtls_ssl_conf_strict(&t->conf);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
  mbedtls_ssl_conf_renegotiation(&t->conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
  mbedtls_ssl_conf_legacy_renegotiation(&t->conf, MBEDTLS_SSL_LEGACY_BREAK_HANDSHAKE);
#if defined(MBEDTLS_SSL_EXTENDED_MASTER_SECRET)
  mbedtls_ssl_conf_extended_master_secret(&t->conf, MBEDTLS_SSL_EXTENDED_MS_ENABLED);
#endif
#if defined(MBEDTLS_SSL_SESSION_TICKETS)
  /* A client takes the tickets a server offers (the caller decides whether
   * to keep and offer them again); a server issues none until
   * tk_tls_enable_tickets. */
  if (!server)
    mbedtls_ssl_conf_session_tickets(&t->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
#endif
#if defined(MBEDTLS_SSL_SRV_C)
  /* The CA list would only name our own certificate: send none. */
  if (server)
    mbedtls_ssl_conf_cert_req_ca_list(&t->conf, MBEDTLS_SSL_CERT_REQ_CA_LIST_DISABLED);
#endif

done:
  if (rc != 0) {
    tk_tls_free(t);
    return rc;
  }
  *out = t;
  return 0;
}

int tk_tls_enable_tickets(tk_tls_t *t, uint32_t lifetime_s, tk_err_t *err)
{
  if (!t || !t->server || t->nconn != 0)
    return tk_err_set(err, TK_EINVAL,
                      "tk_tls_enable_tickets: needs a server's settings before its first "
                      "connection");
  if (lifetime_s == 0) return 0;
  if (lifetime_s > TK_TLS_TICKET_LIFETIME_MAX)
    return tk_err_set(err, TK_ELIMIT, "TLS ticket lifetime %u s is over the maximum %u s",
                      lifetime_s, TK_TLS_TICKET_LIFETIME_MAX);
#if defined(MBEDTLS_SSL_TICKET_C) && defined(TK_TLS_CAN_RESUME)
  if (t->tickets) return tk_err_set(err, TK_EINVAL, "TLS tickets are already enabled");
  /* Draws the first key from the CSPRNG; later keys come every lifetime. */
  int mrc = mbedtls_ssl_ticket_setup(&t->ticket, tk_random_mbedtls, NULL,
                                     MBEDTLS_CIPHER_AES_256_GCM, lifetime_s);
  if (mrc != 0)
    return tk_err_set(err, TK_ECRYPTO,
                      "cannot set up TLS session tickets (mbedtls -0x%04x)",
                      (unsigned)-mrc);
  t->tickets = 1;
  mbedtls_ssl_conf_session_tickets_cb(&t->conf, mbedtls_ssl_ticket_write,
                                      mbedtls_ssl_ticket_parse, &t->ticket);
  return 0;
#else
  TK_LOG(TK_LOG_WARN, "tls",
         "this mbedtls cannot resume sessions (tickets, kept peer certificates): "
         "resumption is off");
  return 0;
#endif
}

void tk_tls_free(tk_tls_t *t)
{
  if (!t) return;
  TK_ASSERT(t->nconn == 0);
#if defined(MBEDTLS_SSL_TICKET_C)
  mbedtls_ssl_ticket_free(&t->ticket); /* zeroises the ticket keys */
#endif
  mbedtls_ssl_config_free(&t->conf);
  mbedtls_x509_crt_free(&t->cert);
  mbedtls_pk_free(&t->key); /* zeroises the private scalar */
  free(t);
}

const mbedtls_ssl_config *tk__tls_config(const tk_tls_t *t)
{
  return &t->conf;
}

int tk__tls_is_server(const tk_tls_t *t)
{
  return t->server;
}

void tk__tls_hold(tk_tls_t *t)
{
  t->nconn++;
}

void tk__tls_release(tk_tls_t *t)
{
  TK_ASSERT(t->nconn > 0);
  t->nconn--;
}
