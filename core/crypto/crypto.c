/*
 * crypto.c: record-layer primitives on libsodium: randomness, SHA-256,
 * constant-time comparison, device ids and their base32 form, vault keys
 * and sealing them to a device, secure memory. Any thread after
 * tk_crypto_init().
 */
#include "tk_crypto.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

int tk_crypto_init(void)
{
  return sodium_init() < 0 ? TK_ECRYPTO : 0;
}

void tk_random(void *buf, size_t n)
{
  randombytes_buf(buf, n);
}

int tk_random_mbedtls(void *ctx, unsigned char *buf, size_t n)
{
  (void)ctx;
  randombytes_buf(buf, n);
  return 0;
}

void tk_sha256(uint8_t out[TK_HASH_LEN], const void *in, size_t n)
{
  crypto_hash_sha256(out, in, n);
}

_Static_assert(sizeof(tk_sha256_ctx_t) >= sizeof(crypto_hash_sha256_state),
               "tk_sha256_ctx_t holds libsodium's SHA-256 state");

void tk_sha256_init(tk_sha256_ctx_t *c)
{
  crypto_hash_sha256_init((crypto_hash_sha256_state *)c);
}

void tk_sha256_update(tk_sha256_ctx_t *c, const void *in, size_t n)
{
  crypto_hash_sha256_update((crypto_hash_sha256_state *)c, in, n);
}

void tk_sha256_final(tk_sha256_ctx_t *c, uint8_t out[TK_HASH_LEN])
{
  crypto_hash_sha256_final((crypto_hash_sha256_state *)c, out);
}

int tk_ct_equal(const void *a, const void *b, size_t n)
{
  return sodium_memcmp(a, b, n) == 0;
}

void tk_device_id_from_pk(uint8_t id[TK_DEVICE_ID_LEN],
                          const uint8_t sign_pk[TK_SIGN_PK_LEN])
{
  tk_sha256(id, sign_pk, TK_SIGN_PK_LEN);
}

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

void tk_device_id_format(char out[TK_DEVICE_ID_STRLEN],
                         const uint8_t id[TK_DEVICE_ID_LEN])
{
  /* RFC 4648 base32 without padding: 256 bits -> 52 characters. */
  char plain[53];
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < TK_DEVICE_ID_LEN; i++) {
    acc = (acc << 8) | id[i];
    bits += 8;
    while (bits >= 5) {
      plain[o++] = b32[(acc >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) plain[o++] = b32[(acc << (5 - bits)) & 31];
  TK_ASSERT(o == 52);
  size_t w = 0;
  for (size_t i = 0; i < 52; i++) {
    if (i && i % 4 == 0) out[w++] = '-';
    out[w++] = plain[i];
  }
  out[w] = '\0';
}

int tk_device_id_parse(uint8_t id[TK_DEVICE_ID_LEN], const char *s)
{
  uint8_t out[TK_DEVICE_ID_LEN];
  size_t o = 0, nchars = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (; *s; s++) {
    if (*s == '-' || *s == ' ') continue;
    const char *hit = strchr(b32, toupper((unsigned char)*s));
    if (!hit || !*s) return TK_EINVAL;
    if (++nchars > 52) return TK_EINVAL;
    acc = (acc << 5) | (uint32_t)(hit - b32);
    bits += 5;
    if (bits >= 8) {
      if (o < sizeof out) out[o++] = (uint8_t)(acc >> (bits - 8));
      bits -= 8;
    }
  }
  /* 52 characters carry 260 bits: the last 4 must be zero padding. */
  if (nchars != 52 || o != TK_DEVICE_ID_LEN || (acc & ((1u << bits) - 1)) != 0)
    return TK_EINVAL;
  memcpy(id, out, sizeof out);
  return 0;
}

int tk_device_id_check(const char *s, char *why, size_t n)
{
  size_t nchars = 0, pos = 0;
  int last = -1;
  for (const char *p = s; *p; p++) {
    pos++;
    if (*p == '-' || *p == ' ') continue;
    const char *hit = strchr(b32, toupper((unsigned char)*p));
    if (!hit) {
      if ((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f)
        snprintf(why, n, "character %zu ('%c') is not base32 (A-Z, 2-7)", pos, *p);
      else
        snprintf(why, n, "character %zu (byte 0x%02x) is not base32 (A-Z, 2-7)", pos,
                 (unsigned char)*p);
      return TK_EINVAL;
    }
    nchars++;
    last = (int)(hit - b32);
  }
  if (nchars != 52) {
    snprintf(why, n, "it has %zu base32 characters; a device id has 52", nchars);
    return TK_EINVAL;
  }
  /* 52 characters carry 260 bits: the last character's low 4 are padding. */
  if (last & 15) {
    snprintf(why, n, "its last character '%c' cannot end a device id (only A or Q can)",
             b32[last]);
    return TK_EINVAL;
  }
  return 0;
}

void tk_vault_key_new(uint8_t key[TK_VAULT_KEY_LEN])
{
  randombytes_buf(key, TK_VAULT_KEY_LEN);
}

void tk_vault_key_id(uint8_t id[TK_KEY_ID_LEN], const uint8_t key[TK_VAULT_KEY_LEN])
{
  static const char label[] = "tunduk key id v1";
  uint8_t h[32];
  crypto_generichash(h, sizeof h, (const uint8_t *)label, sizeof label - 1, key,
                     TK_VAULT_KEY_LEN);
  memcpy(id, h, TK_KEY_ID_LEN);
}

int tk_vault_key_seal(uint8_t out[TK_SEALED_KEY_LEN], const uint8_t key[TK_VAULT_KEY_LEN],
                      const uint8_t kx_pk[TK_KX_PK_LEN])
{
  _Static_assert(TK_SEALED_KEY_LEN == TK_VAULT_KEY_LEN + crypto_box_SEALBYTES,
                 "sealed size");
  return crypto_box_seal(out, key, TK_VAULT_KEY_LEN, kx_pk) == 0 ? 0 : TK_ECRYPTO;
}

int tk_vault_key_open(uint8_t key[TK_VAULT_KEY_LEN],
                      const uint8_t sealed[TK_SEALED_KEY_LEN],
                      const uint8_t kx_pk[TK_KX_PK_LEN],
                      const uint8_t kx_sk[TK_KX_SK_LEN])
{
  return crypto_box_seal_open(key, sealed, TK_SEALED_KEY_LEN, kx_pk, kx_sk) == 0
             ? 0
             : TK_ETAG;
}

void *tk_secure_alloc(size_t n)
{
  return sodium_malloc(n);
}

void tk_secure_free(void *p)
{
  if (p) sodium_free(p);
}

void tk_wipe(void *p, size_t n)
{
  sodium_memzero(p, n);
}
