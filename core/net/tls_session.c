/*
 * tls_session.c: sealing and opening the office's saved TLS session (see
 * tk_tls_session.h for the format). libsodium only: the session bytes are
 * opaque here (mbedtls serialises and loads them in conn.c). The derived key
 * lives in a stack buffer wiped before return; neither it nor the session
 * bytes are logged. Threads: any.
 */
#include "tk_tls_session.h"

#include <sodium.h>
#include <string.h>

#define VERSION 1
#define HEAD_LEN (1 + 8) /* version, expires */
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define KEY_LEN crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define AD_LABEL "tunduk tls session v1"
#define AD_MAX                                                                           \
  (sizeof AD_LABEL - 1 + HEAD_LEN + TK_DEVICE_ID_LEN + 1 + TK_TLS_SESSION_ADDR_MAX)

_Static_assert(TK_SIGN_SK_LEN <= crypto_generichash_KEYBYTES_MAX, "BLAKE2b key size");

/* The sealing key: BLAKE2b-256 keyed with the Ed25519 secret key, of a label
 * no other derivation uses. */
static int derive_key(uint8_t key[KEY_LEN], const tk_identity_t *id, tk_err_t *err)
{
  static const char label[] = "tunduk tls session key v1";
  if (!id || !id->sec)
    return tk_err_set(err, TK_ENOKEY, "the device keys are locked: no TLS session key");
  crypto_generichash(key, KEY_LEN, (const uint8_t *)label, sizeof label - 1,
                     id->sec->sign_sk, TK_SIGN_SK_LEN);
  return 0;
}

/* The associated data: label, header, hub id, address. */
static size_t make_ad(uint8_t ad[AD_MAX], const uint8_t head[HEAD_LEN],
                      const uint8_t hub_id[TK_DEVICE_ID_LEN], const char *addr,
                      size_t addr_len)
{
  size_t n = 0;
  memcpy(ad, AD_LABEL, sizeof AD_LABEL - 1);
  n += sizeof AD_LABEL - 1;
  memcpy(ad + n, head, HEAD_LEN);
  n += HEAD_LEN;
  memcpy(ad + n, hub_id, TK_DEVICE_ID_LEN);
  n += TK_DEVICE_ID_LEN;
  ad[n++] = (uint8_t)addr_len;
  memcpy(ad + n, addr, addr_len);
  return n + addr_len;
}

static int check_addr(const char *hub_addr, size_t *len, tk_err_t *err)
{
  if (!hub_addr) return tk_err_set(err, TK_EINVAL, "no hub address");
  *len = strlen(hub_addr);
  if (*len > TK_TLS_SESSION_ADDR_MAX)
    return tk_err_set(err, TK_ELIMIT, "hub address is over %d bytes",
                      TK_TLS_SESSION_ADDR_MAX);
  return 0;
}

int tk_tls_session_seal(tk_buf_t *out, const tk_identity_t *id, const char *hub_addr,
                        const uint8_t hub_id[TK_DEVICE_ID_LEN], uint64_t expires,
                        tk_slice_t session, tk_err_t *err)
{
  uint8_t key[KEY_LEN], ad[AD_MAX], head[HEAD_LEN];
  tk_buf_t bin = TK_BUF_INIT;
  size_t addr_len = 0;
  unsigned long long ctlen = 0;
  int rc;

  if (!out || !hub_id || !session.p)
    return tk_err_set(err, TK_EINVAL, "tk_tls_session_seal: missing argument");
  if (session.n == 0 || session.n > TK_TLS_SESSION_MAX)
    return tk_err_set(err, TK_ELIMIT, "a TLS session of %zu bytes (limit %u)", session.n,
                      TK_TLS_SESSION_MAX);
  if ((rc = check_addr(hub_addr, &addr_len, err)) != 0) return rc;
  if ((rc = derive_key(key, id, err)) != 0) return rc;

  head[0] = VERSION;
  for (int i = 0; i < 8; i++)
    head[1 + i] = (uint8_t)(expires >> (56 - 8 * i));
  size_t adn = make_ad(ad, head, hub_id, hub_addr, addr_len);
  size_t binlen = HEAD_LEN + NONCE_LEN + session.n + TAG_LEN;
  if (tk_buf_reserve(&bin, binlen) != 0 || tk_buf_reserve(out, 2 * binlen + 1) != 0) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory sealing the TLS session");
    goto done;
  }
  memcpy(bin.p, head, HEAD_LEN);
  tk_random(bin.p + HEAD_LEN, NONCE_LEN);
  crypto_aead_xchacha20poly1305_ietf_encrypt(bin.p + HEAD_LEN + NONCE_LEN, &ctlen,
                                             session.p, session.n, ad, adn, NULL,
                                             bin.p + HEAD_LEN, key);
  bin.n = HEAD_LEN + NONCE_LEN + (size_t)ctlen;
  tk_hex_encode((char *)out->p + out->n, bin.p, bin.n);
  out->n += 2 * bin.n;
  rc = 0;
done:
  tk_wipe(key, sizeof key);
  tk_buf_free(&bin); /* ciphertext only */
  return rc;
}

int tk_tls_session_open(tk_buf_t *out, const tk_identity_t *id, const char *hub_addr,
                        const uint8_t hub_id[TK_DEVICE_ID_LEN], uint64_t now,
                        const char *text, tk_err_t *err)
{
  uint8_t key[KEY_LEN], ad[AD_MAX];
  tk_buf_t bin = TK_BUF_INIT;
  size_t addr_len = 0, tlen;
  unsigned long long ptlen = 0;
  int rc;

  if (!out || !hub_id || !text)
    return tk_err_set(err, TK_EINVAL, "tk_tls_session_open: missing argument");
  if ((rc = check_addr(hub_addr, &addr_len, err)) != 0) return rc;
  tlen = strnlen(text, TK_TLS_SESSION_TEXT_MAX + 1);
  if (tlen > TK_TLS_SESSION_TEXT_MAX || tlen % 2 != 0 ||
      tlen / 2 < HEAD_LEN + NONCE_LEN + TAG_LEN + 1)
    return tk_err_set(err, TK_EFORMAT, "saved TLS session: %zu hex characters", tlen);
  if (tk_buf_reserve(&bin, tlen / 2) != 0)
    return tk_err_set(err, TK_ENOMEM, "out of memory opening the TLS session");
  if (tk_hex_decode(bin.p, tlen / 2, text) != 0) {
    rc = tk_err_set(err, TK_EFORMAT, "saved TLS session: not hex");
    goto done;
  }
  bin.n = tlen / 2;
  if (bin.p[0] != VERSION) {
    rc = tk_err_set(err, TK_EVERSION, "saved TLS session: format version %u",
                    (unsigned)bin.p[0]);
    goto done;
  }
  uint64_t expires = 0;
  for (int i = 0; i < 8; i++)
    expires = expires << 8 | bin.p[1 + i];
  if (expires <= now) {
    rc = tk_err_set(err, TK_ETIMEDOUT, "saved TLS session: expired");
    goto done;
  }
  size_t ctlen = bin.n - HEAD_LEN - NONCE_LEN;
  if ((rc = derive_key(key, id, err)) != 0) goto done;
  size_t adn = make_ad(ad, bin.p, hub_id, hub_addr, addr_len);
  if (tk_buf_reserve(out, ctlen - TAG_LEN) != 0) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory opening the TLS session");
    goto done;
  }
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out->p + out->n, &ptlen, NULL,
                                                 bin.p + HEAD_LEN + NONCE_LEN, ctlen, ad,
                                                 adn, bin.p + HEAD_LEN, key) != 0) {
    rc = tk_err_set(
        err, TK_ETAG,
        "saved TLS session: does not open (another hub or device, or altered)");
    goto done;
  }
  out->n += (size_t)ptlen;
  rc = 0;
done:
  tk_wipe(key, sizeof key);
  tk_buf_free(&bin);
  return rc;
}
