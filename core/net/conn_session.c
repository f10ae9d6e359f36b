/*
 * conn_session.c: TLS session resumption on a connection (RFC 5077
 * tickets, see tls.c): a client offers a saved session before its
 * handshake, and exports the session after it (tk_conn_tls_session) for
 * the office to seal and keep; whether the handshake resumed. A session
 * copy's master secret is zeroised when it is freed. Loop thread only.
 */
#include "conn_internal.h"

/* Client: offers a saved session for resumption. One that does not load
 * is left out (a full handshake follows); why is logged, never the bytes. */
void tk__conn_offer_session(tk_conn_t *c, tk_slice_t saved)
{
#if defined(TK_TLS_CAN_RESUME)
  char e[200];
  if (!saved.p || saved.n > TK_TLS_SESSION_MAX) {
    TK_LOG(TK_LOG_DEBUG, "conn", "saved tls session not offered: %zu bytes (limit %u)",
           saved.n, TK_TLS_SESSION_MAX);
    return;
  }
  mbedtls_ssl_session sess;
  mbedtls_ssl_session_init(&sess);
  int mrc = mbedtls_ssl_session_load(&sess, saved.p, saved.n);
  if (mrc == 0) mrc = mbedtls_ssl_set_session(&c->ssl, &sess);
  if (mrc != 0) {
    TK_LOG(TK_LOG_DEBUG, "conn", "saved tls session not offered: %s",
           tk__conn_tls_errstr(mrc, e, sizeof e));
  } else if (sess.TK_MBEDTLS_PRIVATE(ticket_len) > 0) {
    /* A server that neither resumes nor issues a new ticket leaves this one
     * in the new session, next to a new master secret: never worth saving. */
    c->offered = 1;
    tk_sha256(c->offered_ticket, sess.TK_MBEDTLS_PRIVATE(ticket),
              sess.TK_MBEDTLS_PRIVATE(ticket_len));
  }
  mbedtls_ssl_session_free(&sess); /* zeroises the copy of the master secret */
#else
  (void)c;
  (void)saved;
#endif
}

int tk_conn_tls_resumed(const tk_conn_t *c)
{
  return !c->memory && c->hs_done && c->resumed;
}

int tk_conn_tls_session(const tk_conn_t *c, tk_buf_t *out, uint32_t *lifetime_s)
{
  if (!c || !out || c->memory || !c->hs_done || !c->ssl_set || tk__tls_is_server(c->tls))
    return TK_EINVAL;
#if defined(TK_TLS_CAN_RESUME)
  int rc = 0;
  size_t need = 0;
  mbedtls_ssl_session sess;
  mbedtls_ssl_session_init(&sess);
  int mrc = mbedtls_ssl_get_session(&c->ssl, &sess);
  if (mrc != 0) {
    rc = mrc == MBEDTLS_ERR_SSL_ALLOC_FAILED ? TK_ENOMEM : TK_ECRYPTO;
    goto done;
  }
  if (sess.TK_MBEDTLS_PRIVATE(ticket_len) == 0) {
    rc = TK_ENOTFOUND;
    goto done;
  }
  if (c->offered && !c->resumed) { /* full handshake: only a new ticket is of use */
    uint8_t h[TK_HASH_LEN];
    tk_sha256(h, sess.TK_MBEDTLS_PRIVATE(ticket), sess.TK_MBEDTLS_PRIVATE(ticket_len));
    if (tk_ct_equal(h, c->offered_ticket, TK_HASH_LEN)) {
      rc = TK_ENOTFOUND;
      goto done;
    }
  }
  if (lifetime_s) *lifetime_s = sess.TK_MBEDTLS_PRIVATE(ticket_lifetime);
  mrc = mbedtls_ssl_session_save(&sess, NULL, 0, &need);
  if (mrc != MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL) {
    rc = TK_ECRYPTO;
    goto done;
  }
  if (need > TK_TLS_SESSION_MAX) {
    rc = TK_ELIMIT;
    goto done;
  }
  if (tk_buf_reserve(out, need) != 0) {
    rc = TK_ENOMEM;
    goto done;
  }
  mrc = mbedtls_ssl_session_save(&sess, out->p + out->n, need, &need);
  if (mrc != 0) {
    rc = TK_ECRYPTO;
    goto done;
  }
  out->n += need;
done:
  mbedtls_ssl_session_free(&sess);
  return rc;
#else
  (void)lifetime_s;
  return TK_ENOTFOUND;
#endif
}
