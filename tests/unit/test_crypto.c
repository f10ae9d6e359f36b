/*
 * test_crypto.c: the record-layer primitives in core/crypto/crypto.c: device id
 * text form, vault key sealing, key ids, constant-time comparison.
 */
#include <sodium.h>

#include "tk_crypto.h"
#include "tk_test.h"

static void device_id_round_trip(void)
{
  uint8_t pk[TK_SIGN_PK_LEN], id[TK_DEVICE_ID_LEN], back[TK_DEVICE_ID_LEN];
  char s[TK_DEVICE_ID_STRLEN];
  for (int i = 0; i < 50; i++) {
    tk_random(pk, sizeof pk);
    tk_device_id_from_pk(id, pk);
    uint8_t want[TK_HASH_LEN];
    crypto_hash_sha256(want, pk, sizeof pk);
    CHECK(memcmp(id, want, sizeof id) == 0);
    tk_device_id_format(s, id);
    CHECK(strlen(s) == TK_DEVICE_ID_STRLEN - 1);
    for (int g = 0; g < 13; g++) {
      if (g) CHECK(s[g * 5 - 1] == '-');
      for (int k = 0; k < 4; k++) {
        char ch = s[g * 5 + k];
        CHECK((ch >= 'A' && ch <= 'Z') || (ch >= '2' && ch <= '7'));
      }
    }
    memset(back, 0, sizeof back);
    CHECK_RC(tk_device_id_parse(back, s), 0);
    CHECK(memcmp(back, id, sizeof id) == 0);
  }
}

static void device_id_parse_forms(void)
{
  uint8_t id[TK_DEVICE_ID_LEN], back[TK_DEVICE_ID_LEN];
  char s[TK_DEVICE_ID_STRLEN], plain[TK_DEVICE_ID_STRLEN];
  tk_random(id, sizeof id);
  tk_device_id_format(s, id);

  /* no dashes, lowercase */
  size_t w = 0;
  for (const char *p = s; *p; p++)
    if (*p != '-') plain[w++] = (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
  plain[w] = '\0';
  CHECK(w == 52);
  memset(back, 0, sizeof back);
  CHECK_RC(tk_device_id_parse(back, plain), 0);
  CHECK(memcmp(back, id, sizeof id) == 0);
}

static void device_id_parse_rejects(void)
{
  uint8_t id[TK_DEVICE_ID_LEN], back[TK_DEVICE_ID_LEN];
  char s[TK_DEVICE_ID_STRLEN], bad[TK_DEVICE_ID_STRLEN + 8];
  tk_random(id, sizeof id);
  tk_device_id_format(s, id);

  /* one character short */
  snprintf(bad, sizeof bad, "%s", s);
  bad[strlen(bad) - 1] = '\0';
  CHECK_RC(tk_device_id_parse(back, bad), TK_EINVAL);
  /* one character long */
  snprintf(bad, sizeof bad, "%sA", s);
  CHECK_RC(tk_device_id_parse(back, bad), TK_EINVAL);
  /* empty */
  CHECK_RC(tk_device_id_parse(back, ""), TK_EINVAL);
  /* characters outside the base32 alphabet */
  const char *badch = "0189!=";
  for (const char *b = badch; *b; b++) {
    snprintf(bad, sizeof bad, "%s", s);
    bad[7] = *b;
    CHECK_RC(tk_device_id_parse(back, bad), TK_EINVAL);
  }
  /* The last character carries 1 data bit and 4 zero padding bits: with a
   * padding bit set the text names no device id. */
  char last = s[strlen(s) - 1];
  CHECK(last == 'A' || last == 'Q');
  snprintf(bad, sizeof bad, "%s", s);
  bad[strlen(bad) - 1] = (char)(last + 1); /* 'B' or 'R': lowest padding bit set */
  CHECK_RC(tk_device_id_parse(back, bad), TK_EINVAL);
  /* Flipping the data bit instead gives a different, valid id. */
  bad[strlen(bad) - 1] = last == 'A' ? 'Q' : 'A';
  CHECK_RC(tk_device_id_parse(back, bad), 0);
  CHECK(memcmp(back, id, sizeof id) != 0);
}

/* tk_device_id_check agrees with tk_device_id_parse and says what is wrong:
 * the character and its position, the count, or the last character. */
static void device_id_check_says_why(void)
{
  uint8_t id[TK_DEVICE_ID_LEN], back[TK_DEVICE_ID_LEN];
  char s[TK_DEVICE_ID_STRLEN], bad[TK_DEVICE_ID_STRLEN + 8], why[128];
  tk_random(id, sizeof id);
  tk_device_id_format(s, id);
  CHECK_RC(tk_device_id_check(s, why, sizeof why), 0);

  snprintf(bad, sizeof bad, "%s", s);
  bad[42] = '0'; /* the 43rd character as printed, dashes counted */
  CHECK_RC(tk_device_id_check(bad, why, sizeof why), TK_EINVAL);
  CHECK(strcmp(why, "character 43 ('0') is not base32 (A-Z, 2-7)") == 0);
  bad[42] = '\x01';
  CHECK_RC(tk_device_id_check(bad, why, sizeof why), TK_EINVAL);
  CHECK(strstr(why, "character 43 (byte 0x01)") != NULL);

  snprintf(bad, sizeof bad, "%s", s);
  bad[strlen(bad) - 1] = '\0';
  CHECK_RC(tk_device_id_check(bad, why, sizeof why), TK_EINVAL);
  CHECK(strcmp(why, "it has 51 base32 characters; a device id has 52") == 0);
  CHECK_RC(tk_device_id_check("", why, sizeof why), TK_EINVAL);
  CHECK(strstr(why, "it has 0 base32 characters") != NULL);

  char last = s[strlen(s) - 1];
  snprintf(bad, sizeof bad, "%s", s);
  bad[strlen(bad) - 1] = (char)(last + 1);
  CHECK_RC(tk_device_id_check(bad, why, sizeof why), TK_EINVAL);
  CHECK(strstr(why, "cannot end a device id (only A or Q can)") != NULL);

  /* Every string of 0..60 characters from a small alphabet: check and
   * parse agree. */
  static const char alpha[] = "AQB0-a7 ";
  for (int round = 0; round < 2000; round++) {
    size_t n = (size_t)(round % 61);
    snprintf(bad, sizeof bad, "%s", s);
    if (n < strlen(bad)) bad[n] = '\0';
    bad[round % (n ? n : 1)] = n ? alpha[round % (sizeof alpha - 1)] : '\0';
    int p = tk_device_id_parse(back, bad), c = tk_device_id_check(bad, why, sizeof why);
    CHECK_RC(c, p);
  }
}

static void vault_key_seal_open(void)
{
  uint8_t pk[TK_KX_PK_LEN], sk[TK_KX_SK_LEN], pk2[TK_KX_PK_LEN], sk2[TK_KX_SK_LEN];
  uint8_t key[TK_VAULT_KEY_LEN], got[TK_VAULT_KEY_LEN], sealed[TK_SEALED_KEY_LEN];
  crypto_box_keypair(pk, sk);
  crypto_box_keypair(pk2, sk2);
  tk_vault_key_new(key);

  CHECK_RC(tk_vault_key_seal(sealed, key, pk), 0);
  memset(got, 0, sizeof got);
  CHECK_RC(tk_vault_key_open(got, sealed, pk, sk), 0);
  CHECK(memcmp(got, key, sizeof key) == 0);

  /* Another device's key pair cannot open it. */
  CHECK_RC(tk_vault_key_open(got, sealed, pk2, sk2), TK_ETAG);

  /* Any single flipped bit breaks it. */
  for (size_t i = 0; i < sizeof sealed; i += 7) {
    uint8_t tampered[TK_SEALED_KEY_LEN];
    memcpy(tampered, sealed, sizeof sealed);
    tampered[i] ^= (uint8_t)(1u << (i % 8));
    CHECK_RC(tk_vault_key_open(got, tampered, pk, sk), TK_ETAG);
  }

  /* Sealing twice gives different boxes (fresh ephemeral key). */
  uint8_t sealed2[TK_SEALED_KEY_LEN];
  CHECK_RC(tk_vault_key_seal(sealed2, key, pk), 0);
  CHECK(memcmp(sealed, sealed2, sizeof sealed) != 0);
}

static void vault_key_id(void)
{
  uint8_t k1[TK_VAULT_KEY_LEN], k2[TK_VAULT_KEY_LEN];
  uint8_t a[TK_KEY_ID_LEN], b[TK_KEY_ID_LEN], c[TK_KEY_ID_LEN];
  tk_vault_key_new(k1);
  tk_vault_key_new(k2);
  CHECK(memcmp(k1, k2, sizeof k1) != 0);
  tk_vault_key_id(a, k1);
  tk_vault_key_id(b, k1);
  tk_vault_key_id(c, k2);
  CHECK(memcmp(a, b, sizeof a) == 0);
  CHECK(memcmp(a, c, sizeof a) != 0);
  /* It is not simply a prefix of the key. */
  CHECK(memcmp(a, k1, sizeof a) != 0);

  /* A fixed vector pins the derivation (BLAKE2b-256 keyed by the vault key). */
  uint8_t zero[TK_VAULT_KEY_LEN] = {0}, h[32];
  crypto_generichash(h, sizeof h, (const uint8_t *)"tunduk key id v1", 16, zero,
                     sizeof zero);
  tk_vault_key_id(a, zero);
  CHECK(memcmp(a, h, TK_KEY_ID_LEN) == 0);
}

static void ct_equal(void)
{
  uint8_t a[64], b[64];
  tk_random(a, sizeof a);
  memcpy(b, a, sizeof a);
  CHECK(tk_ct_equal(a, b, sizeof a) == 1);
  CHECK(tk_ct_equal(a, b, 0) == 1);
  for (size_t i = 0; i < sizeof a; i++) {
    b[i] ^= 0x80;
    CHECK(tk_ct_equal(a, b, sizeof a) == 0);
    b[i] ^= 0x80;
  }
  b[63] ^= 1;
  CHECK(tk_ct_equal(a, b, 63) == 1); /* only the first n bytes count */
}

static void sha256_vector(void)
{
  /* FIPS 180-2 "abc". */
  static const uint8_t want[TK_HASH_LEN] = {
      0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
      0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
      0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  uint8_t got[TK_HASH_LEN];
  tk_sha256(got, "abc", 3);
  CHECK(memcmp(got, want, sizeof want) == 0);
}

TK_TESTS(TK_TEST(device_id_round_trip), TK_TEST(device_id_parse_forms),
         TK_TEST(device_id_parse_rejects), TK_TEST(device_id_check_says_why),
         TK_TEST(vault_key_seal_open), TK_TEST(vault_key_id), TK_TEST(ct_equal),
         TK_TEST(sha256_vector))
