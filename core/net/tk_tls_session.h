/*
 * tk_tls_session.h: the office's saved TLS session with its hub, sealed at
 * rest. After a sync the office keeps the session (with the hub's RFC 5077
 * ticket) in its store so the next sync can resume it without a certificate
 * exchange; the serialised session holds the TLS master secret, so it is
 * stored only sealed:
 *
 *   text  = lowercase hex of: version (1 byte, 1) || expires (8 bytes,
 *           big-endian Unix seconds) || nonce (24 bytes) || ciphertext
 *   key   = BLAKE2b-256, keyed with the identity's Ed25519 secret key, of
 *           the label "tunduk tls session key v1" (this key is used for
 *           nothing else)
 *   AEAD  = XChaCha20-Poly1305 (libsodium), associated data =
 *           "tunduk tls session v1" || version || expires || hub id (32
 *           bytes) || hub address length (1 byte) || hub address
 *
 * So a saved session opens only with this office's unlocked identity, only
 * for the same hub (address and pinned id) and only until it expires; a
 * changed byte anywhere fails the tag. Whatever does not open is the
 * caller's cue to do a full handshake, never an error that stops a sync.
 *
 * Threads: any; no state.
 */
#ifndef TK_TLS_SESSION_H
#define TK_TLS_SESSION_H

#include "tk_conn.h"
#include "tk_identity.h"
#include "tk_meta.h"

/* The office store's setting (meta key) that holds the sealed session. */
#define TK_TLS_SESSION_SETTING TK_META_HUB_TLS_SESSION
#define TK_TLS_SESSION_ADDR_MAX 255 /* bytes of the hub address it is bound to */
/* Longest sealed text: hex of the header, nonce, session and tag. */
#define TK_TLS_SESSION_TEXT_MAX (2 * (1 + 8 + 24 + TK_TLS_SESSION_MAX + 16))

/* Seals session (from tk_conn_tls_session, 1 .. TK_TLS_SESSION_MAX bytes)
 * for this identity, the hub at hub_addr with device id hub_id, valid until
 * expires (Unix seconds). Appends the NUL-terminated hex text to out.
 * TK_ENOKEY (identity locked), TK_ELIMIT (session or address too long),
 * TK_EINVAL, TK_ENOMEM. */
int tk_tls_session_seal(tk_buf_t *out, const tk_identity_t *id, const char *hub_addr,
                        const uint8_t hub_id[TK_DEVICE_ID_LEN], uint64_t expires,
                        tk_slice_t session, tk_err_t *err);

/* Opens text sealed by tk_tls_session_seal for the same identity, hub
 * address and hub id, at time now (Unix seconds): appends the session bytes
 * to out (the caller tk_buf_wipes them). TK_EFORMAT (not the format, or
 * over TK_TLS_SESSION_TEXT_MAX), TK_EVERSION (a newer format), TK_ETIMEDOUT
 * (expired), TK_ETAG (another identity or hub, or altered), TK_ENOKEY,
 * TK_ENOMEM; err says which, never with the bytes. Nothing is appended on
 * failure. */
int tk_tls_session_open(tk_buf_t *out, const tk_identity_t *id, const char *hub_addr,
                        const uint8_t hub_id[TK_DEVICE_ID_LEN], uint64_t now,
                        const char *text, tk_err_t *err);

#endif
