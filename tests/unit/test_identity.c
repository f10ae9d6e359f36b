/*
 * test_identity.c: device identities (core/crypto/identity.c): generation, the TLS
 * certificate and its binding, the key file (public-only and unlocked
 * loads, wrong passphrase, tampering, file mode, damaged files).
 * Uses TK_KDF_INTERACTIVE so each Argon2id run stays well under a second.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tk_identity.h"
#include "tk_mbedtls_compat.h"
#include "tk_test.h"

#define PASS "correct horse battery staple"
#define PASSLEN (sizeof PASS - 1)

static void tpath(char *out, size_t n, const char *name)
{
  snprintf(out, n, "%s/%s", tk_test_tmpdir(), name);
}

static int write_bytes(const char *path, const void *p, size_t n)
{
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = fwrite(p, 1, n, f);
  return (fclose(f) == 0 && w == n) ? 0 : -1;
}

/* Reads a whole (small) file; caller frees. */
static char *read_text(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = calloc(1, 1 << 17);
  *n = buf ? fread(buf, 1, (1 << 17) - 1, f) : 0;
  fclose(f);
  return buf;
}

/* Copies the key file src to dst with root[sect][key] (or root[key] when
 * sect is NULL) replaced by value (stolen). 0 on success. */
static int edit_keyfile(const char *src, const char *dst, const char *sect,
                        const char *key, json_t *value)
{
  json_error_t jerr;
  json_t *root = json_load_file(src, 0, &jerr);
  if (!root) {
    json_decref(value);
    return -1;
  }
  json_t *obj = sect ? json_object_get(root, sect) : root;
  int rc = (obj && json_object_set_new(obj, key, value) == 0) ? 0 : -1;
  if (rc == 0) rc = json_dump_file(root, dst, JSON_INDENT(2));
  json_decref(root);
  return rc;
}

static json_t *b64(const uint8_t *p, size_t n)
{
  char s[256];
  sodium_bin2base64(s, sizeof s, p, n, sodium_base64_VARIANT_ORIGINAL);
  return json_string(s);
}

static int publics_equal(const tk_identity_t *a, const tk_identity_t *b)
{
  return memcmp(a->id, b->id, sizeof a->id) == 0 &&
         memcmp(a->sign_pk, b->sign_pk, sizeof a->sign_pk) == 0 &&
         memcmp(a->kx_pk, b->kx_pk, sizeof a->kx_pk) == 0 &&
         memcmp(a->tls_spki_hash, b->tls_spki_hash, sizeof a->tls_spki_hash) == 0 &&
         memcmp(a->tls_binding, b->tls_binding, sizeof a->tls_binding) == 0 &&
         strcmp(a->name, b->name) == 0 && a->tls_cert_pem && b->tls_cert_pem &&
         strcmp(a->tls_cert_pem, b->tls_cert_pem) == 0;
}

static int secrets_equal(const tk_identity_secret_t *a, const tk_identity_secret_t *b)
{
  return memcmp(a->sign_sk, b->sign_sk, sizeof a->sign_sk) == 0 &&
         memcmp(a->kx_sk, b->kx_sk, sizeof a->kx_sk) == 0 &&
         a->tls_key_der_len == b->tls_key_der_len &&
         memcmp(a->tls_key_der, b->tls_key_der, a->tls_key_der_len) == 0;
}

static void generate(void)
{
  tk_identity_t *id = NULL;
  tk_err_t err;
  CHECK_RC(tk_identity_generate(&id, "osh-office.1_a", &err), 0);
  CHECK(id && id->sec);
  CHECK(strcmp(id->name, "osh-office.1_a") == 0);

  uint8_t want[TK_HASH_LEN], pk[32];
  crypto_hash_sha256(want, id->sign_pk, sizeof id->sign_pk);
  CHECK(memcmp(id->id, want, sizeof want) == 0);
  crypto_sign_ed25519_sk_to_pk(pk, id->sec->sign_sk);
  CHECK(memcmp(pk, id->sign_pk, 32) == 0);
  crypto_scalarmult_base(pk, id->sec->kx_sk);
  CHECK(memcmp(pk, id->kx_pk, 32) == 0);
  CHECK(id->sec->tls_key_der_len > 0 && id->sec->tls_key_der_len <= 512);
  CHECK(id->sec->tls_key_der[0] == 0x30); /* DER SEQUENCE at the start, not the end */
  CHECK(strncmp(id->tls_cert_pem, "-----BEGIN CERTIFICATE-----", 27) == 0);

  uint8_t sig[TK_SIG_LEN];
  static const char msg[] = "revision header bytes";
  CHECK_RC(tk_identity_sign(id, sig, msg, sizeof msg), 0);
  CHECK_RC(tk_sig_verify(sig, msg, sizeof msg, id->sign_pk), 0);
  CHECK_RC(tk_sig_verify(sig, msg, sizeof msg - 1, id->sign_pk), TK_ESIG);
  sig[5] ^= 1;
  CHECK_RC(tk_sig_verify(sig, msg, sizeof msg, id->sign_pk), TK_ESIG);

  /* Two identities share nothing. */
  tk_identity_t *other = NULL;
  CHECK_RC(tk_identity_generate(&other, "osh-office.1_a", &err), 0);
  CHECK(memcmp(other->sign_pk, id->sign_pk, 32) != 0);
  CHECK(memcmp(other->kx_pk, id->kx_pk, 32) != 0);
  CHECK(memcmp(other->tls_spki_hash, id->tls_spki_hash, 32) != 0);
  tk_identity_free(other);
  tk_identity_free(id);
}

static void generate_rejects_bad_names(void)
{
  static const char *bad[] = {"",         "has space", "a/b",        "semi;colon",
                              "CN=x,O=y", "tab\t",     "caf\xc3\xa9"};
  tk_identity_t *id = (tk_identity_t *)1;
  tk_err_t err;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK_RC(tk_identity_generate(&id, bad[i], &err), TK_EINVAL);
    CHECK(id == NULL);
    CHECK(strstr(err.msg, "device name") != NULL);
  }
  char name[65];
  memset(name, 'n', 64);
  name[64] = '\0';
  CHECK_RC(tk_identity_generate(&id, name, &err), TK_EINVAL);
  name[63] = '\0'; /* 63 bytes is the longest allowed */
  CHECK_RC(tk_identity_generate(&id, name, &err), 0);
  CHECK(strcmp(id->name, name) == 0);
  tk_identity_free(id);
}

static void certificate(void)
{
  tk_identity_t *id = NULL;
  tk_err_t err;
  mbedtls_x509_crt crt;
  mbedtls_pk_context key;
  mbedtls_x509_crt_init(&crt);
  mbedtls_pk_init(&key);
  CHECK_RC(tk_identity_generate(&id, "hub", &err), 0);

  int ok = mbedtls_x509_crt_parse(&crt, (const unsigned char *)id->tls_cert_pem,
                                  strlen(id->tls_cert_pem) + 1) == 0;
  uint8_t h[TK_HASH_LEN];
  char dn[128];
  unsigned char der[256];
  uint32_t flags = 0;
  int n;
  if (!ok) goto fail;
  /* The certificate's raw SPKI is what a peer pins. */
  tk_sha256(h, crt.pk_raw.p, crt.pk_raw.len);
  if (memcmp(h, id->tls_spki_hash, sizeof h) != 0) goto fail;
  if (crt.next != NULL || crt.version != 3) goto fail;
  if (mbedtls_x509_dn_gets(dn, sizeof dn, &crt.subject) < 0 ||
      strcmp(dn, "CN=tunduk") != 0)
    goto fail;
  if (mbedtls_x509_dn_gets(dn, sizeof dn, &crt.issuer) < 0 ||
      strcmp(dn, "CN=tunduk") != 0)
    goto fail;
  if (crt.valid_from.year != 2020 || crt.valid_to.year != 2099) goto fail;
  if (!mbedtls_pk_can_do(&crt.pk, MBEDTLS_PK_ECDSA)) goto fail;
  /* Self-signed: its signature verifies with its own key. */
  if (mbedtls_x509_crt_verify(&crt, &crt, NULL, NULL, &flags, NULL, NULL) != 0) goto fail;
  /* The private key DER is the certificate's key. */
  if (tk_mbedtls_pk_parse_key(&key, id->sec->tls_key_der, id->sec->tls_key_der_len) != 0)
    goto fail;
  n = mbedtls_pk_write_pubkey_der(&key, der, sizeof der);
  if (n <= 0) goto fail;
  tk_sha256(h, der + sizeof der - n, (size_t)n);
  if (memcmp(h, id->tls_spki_hash, sizeof h) != 0) goto fail;

  mbedtls_pk_free(&key);
  mbedtls_x509_crt_free(&crt);
  tk_identity_free(id);
  return;
fail:
  mbedtls_pk_free(&key);
  mbedtls_x509_crt_free(&crt);
  tk_identity_free(id);
  CHECK(!"certificate checks");
}

static void tls_binding(void)
{
  tk_identity_t *a = NULL, *b = NULL;
  tk_err_t err;
  CHECK_RC(tk_identity_generate(&a, "a", &err), 0);
  CHECK_RC(tk_identity_generate(&b, "b", &err), 0);
  CHECK_RC(tk_tls_binding_verify(a->sign_pk, a->tls_spki_hash, a->tls_binding), 0);
  /* over another TLS key */
  CHECK_RC(tk_tls_binding_verify(a->sign_pk, b->tls_spki_hash, a->tls_binding), TK_ESIG);
  uint8_t h[TK_HASH_LEN];
  memcpy(h, a->tls_spki_hash, sizeof h);
  h[31] ^= 0x01;
  CHECK_RC(tk_tls_binding_verify(a->sign_pk, h, a->tls_binding), TK_ESIG);
  /* by another device */
  CHECK_RC(tk_tls_binding_verify(b->sign_pk, a->tls_spki_hash, a->tls_binding), TK_ESIG);
  /* A plain signature over the bare hash is not a binding (domain label). */
  uint8_t sig[TK_SIG_LEN];
  CHECK_RC(tk_identity_sign(a, sig, a->tls_spki_hash, TK_HASH_LEN), 0);
  CHECK_RC(tk_tls_binding_verify(a->sign_pk, a->tls_spki_hash, sig), TK_ESIG);
  tk_identity_free(a);
  tk_identity_free(b);
}

static void save_load_public(void)
{
  char path[512];
  tpath(path, sizeof path, "public.key");
  tk_identity_t *id = NULL, *pub = NULL;
  tk_err_t err;
  CHECK_RC(tk_identity_generate(&id, "office", &err), 0);
  CHECK_RC(tk_identity_save(id, path, PASS, PASSLEN, TK_KDF_INTERACTIVE, &err), 0);
  CHECK_RC(tk_identity_load(&pub, path, NULL, 0, &err), 0);
  CHECK(pub->sec == NULL);
  CHECK(publics_equal(id, pub));

  /* A locked identity cannot sign or be saved. */
  uint8_t sig[TK_SIG_LEN];
  CHECK_RC(tk_identity_sign(pub, sig, "x", 1), TK_ENOKEY);
  CHECK_RC(tk_identity_save(pub, path, PASS, PASSLEN, TK_KDF_INTERACTIVE, &err),
           TK_ENOKEY);

  /* The file names what it is and holds no secret in the clear. */
  size_t n;
  char *text = read_text(path, &n);
  CHECK(text);
  int has_format = strstr(text, "\"tunduk-device-key\"") != NULL;
  int has_alg = strstr(text, "\"argon2id13\"") != NULL;
  char sk64[128];
  sodium_bin2base64(sk64, sizeof sk64, id->sec->kx_sk, 32,
                    sodium_base64_VARIANT_ORIGINAL);
  int leaks = strstr(text, sk64) != NULL;
  free(text);
  CHECK(has_format && has_alg && !leaks);

  tk_identity_free(pub);
  tk_identity_free(id);
}

static void save_load_secret(void)
{
  char path[512];
  tpath(path, sizeof path, "secret.key");
  tk_identity_t *id = NULL, *got = NULL;
  tk_err_t err;
  CHECK_RC(tk_identity_generate(&id, "office", &err), 0);
  CHECK_RC(tk_identity_save(id, path, PASS, PASSLEN, TK_KDF_INTERACTIVE, &err), 0);
  CHECK_RC(tk_identity_load(&got, path, PASS, PASSLEN, &err), 0);
  CHECK(got->sec != NULL);
  CHECK(publics_equal(id, got));
  CHECK(secrets_equal(id->sec, got->sec));

  uint8_t sig[TK_SIG_LEN];
  CHECK_RC(tk_identity_sign(got, sig, "hello", 5), 0);
  CHECK_RC(tk_sig_verify(sig, "hello", 5, id->sign_pk), 0);
  tk_identity_free(got);
  tk_identity_free(id);
}

static void wrong_passphrase(void)
{
  char path[512];
  tpath(path, sizeof path, "wrongpass.key");
  tk_identity_t *id = NULL, *got = (tk_identity_t *)1;
  tk_err_t err;
  CHECK_RC(tk_identity_generate(&id, "office", &err), 0);
  CHECK_RC(tk_identity_save(id, path, PASS, PASSLEN, TK_KDF_INTERACTIVE, &err), 0);
  tk_identity_free(id);
  CHECK_RC(
      tk_identity_load(&got, path, "correct horse battery stapler", PASSLEN + 1, &err),
      TK_EPASS);
  CHECK(got == NULL);
  CHECK(err.code == TK_EPASS);
  CHECK(strstr(err.msg, "wrong passphrase") != NULL);
  CHECK(strstr(err.msg, path) != NULL);
  /* The same bytes with one fewer counts as a different passphrase too. */
  CHECK_RC(tk_identity_load(&got, path, PASS, PASSLEN - 1, &err), TK_EPASS);
}

static void passphrase_change_and_mode(void)
{
  char path[512], tmp[600];
  tpath(path, sizeof path, "mode.key");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  tk_identity_t *id = NULL, *got = NULL;
  tk_err_t err;
  struct stat st;
  mode_t old = umask(022);

  /* A stale temporary file from a crash does not block saving. */
  CHECK(write_bytes(tmp, "stale", 5) == 0);
  CHECK_RC(tk_identity_generate(&id, "office", &err), 0);
  CHECK_RC(tk_identity_save(id, path, PASS, PASSLEN, TK_KDF_INTERACTIVE, &err), 0);
  umask(old);
  CHECK(stat(path, &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(access(tmp, F_OK) != 0);

  /* Saving again replaces the file: the old passphrase stops working. */
  CHECK_RC(tk_identity_save(id, path, "new pass", 8, TK_KDF_INTERACTIVE, &err), 0);
  CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
  CHECK_RC(tk_identity_load(&got, path, PASS, PASSLEN, &err), TK_EPASS);
  CHECK_RC(tk_identity_load(&got, path, "new pass", 8, &err), 0);
  CHECK(secrets_equal(id->sec, got->sec));
  tk_identity_free(got);

  /* Passphrases longer than the limit are refused before any work. */
  static char longpass[TK_MAX_PASSPHRASE + 1];
  memset(longpass, 'p', sizeof longpass);
  CHECK_RC(
      tk_identity_save(id, path, longpass, sizeof longpass, TK_KDF_INTERACTIVE, &err),
      TK_ELIMIT);
  CHECK_RC(tk_identity_load(&got, path, longpass, sizeof longpass, &err), TK_ELIMIT);
  /* An unknown KDF level is refused. */
  CHECK_RC(tk_identity_save(id, path, PASS, PASSLEN, (tk_kdf_level_t)7, &err), TK_EINVAL);
  tk_identity_free(id);
}

/* A new passphrase at the file's own strength: the parameters read back
 * are written again; an identity never read from a file is refused. */
static void save_same_kdf(void)
{
  char path[512];
  tpath(path, sizeof path, "same-kdf.key");
  tk_identity_t *id = NULL, *got = NULL, *again = NULL;
  tk_err_t err;
  CHECK_RC(tk_identity_generate(&id, "office", &err), 0);
  CHECK_RC(tk_identity_save_same_kdf(id, path, PASS, PASSLEN, &err), TK_EINVAL);
  CHECK_RC(tk_identity_save(id, path, PASS, PASSLEN, TK_KDF_INTERACTIVE, &err), 0);
  CHECK_RC(tk_identity_load(&got, path, PASS, PASSLEN, &err), 0);
  CHECK(got->kdf_ops == crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
  CHECK(got->kdf_mem == crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);
  CHECK_RC(tk_identity_save_same_kdf(got, path, "another pass", 12, &err), 0);
  CHECK_RC(tk_identity_load(&again, path, PASS, PASSLEN, &err), TK_EPASS);
  CHECK_RC(tk_identity_load(&again, path, "another pass", 12, &err), 0);
  CHECK(again->kdf_ops == got->kdf_ops && again->kdf_mem == got->kdf_mem);
  CHECK(secrets_equal(id->sec, again->sec));
  tk_identity_free(again);
  tk_identity_free(got);
  tk_identity_free(id);
}

static void tampered_ciphertext(void)
{
  char path[512], bad[512];
  tpath(path, sizeof path, "tamper.key");
  tpath(bad, sizeof bad, "tamper-bad.key");
  tk_identity_t *id = NULL, *got = NULL;
  tk_err_t err;
  CHECK_RC(tk_identity_generate(&id, "office", &err), 0);
  CHECK_RC(tk_identity_save(id, path, PASS, PASSLEN, TK_KDF_INTERACTIVE, &err), 0);
  tk_identity_free(id);

  json_error_t jerr;
  json_t *root = json_load_file(path, 0, &jerr);
  CHECK(root);
  char ct[1200];
  snprintf(
      ct, sizeof ct, "%s",
      json_string_value(json_object_get(json_object_get(root, "secret"), "ciphertext")));
  json_decref(root);
  size_t n = strlen(ct);
  CHECK(n > 100);

  size_t positions[] = {0, n / 2, n - 8};
  for (size_t i = 0; i < 3; i++) {
    char t[1200];
    memcpy(t, ct, n + 1);
    t[positions[i]] = t[positions[i]] == 'A' ? 'B' : 'A'; /* still valid base64 */
    CHECK(edit_keyfile(path, bad, "secret", "ciphertext", json_string(t)) == 0);
    int rc = tk_identity_load(&got, bad, PASS, PASSLEN, &err);
    CHECK(rc == TK_EPASS || rc == TK_ETAG || rc == TK_EFORMAT);
    CHECK(got == NULL);
  }
  /* A character outside base64 is a format error, named. */
  ct[n / 2] = '!';
  CHECK(edit_keyfile(path, bad, "secret", "ciphertext", json_string(ct)) == 0);
  CHECK_RC(tk_identity_load(&got, bad, PASS, PASSLEN, &err), TK_EFORMAT);
  CHECK(strstr(err.msg, "secret.ciphertext") != NULL);
  /* So is a nonce of the wrong length. */
  uint8_t shortnonce[12] = {0};
  CHECK(edit_keyfile(path, bad, "secret", "nonce", b64(shortnonce, 12)) == 0);
  CHECK_RC(tk_identity_load(&got, bad, PASS, PASSLEN, &err), TK_EFORMAT);
  /* The untouched file still opens. */
  CHECK_RC(tk_identity_load(&got, path, PASS, PASSLEN, &err), 0);
  tk_identity_free(got);
}

static void swapped_public_parts(void)
{
  char path[512], bpath[512], bad[512];
  tpath(path, sizeof path, "swap-a.key");
  tpath(bpath, sizeof bpath, "swap-b.key");
  tpath(bad, sizeof bad, "swap-bad.key");
  tk_identity_t *a = NULL, *b = NULL, *got = NULL;
  tk_err_t err;
  CHECK_RC(tk_identity_generate(&a, "a", &err), 0);
  CHECK_RC(tk_identity_generate(&b, "b", &err), 0);
  CHECK_RC(tk_identity_save(a, path, PASS, PASSLEN, TK_KDF_INTERACTIVE, &err), 0);
  CHECK_RC(tk_identity_save(b, bpath, "other", 5, TK_KDF_INTERACTIVE, &err), 0);

  /* Another device's sign_pk alone: caught by the device id and binding. */
  CHECK(edit_keyfile(path, bad, "public", "sign_pk", b64(b->sign_pk, 32)) == 0);
  CHECK_RC(tk_identity_load(&got, bad, NULL, 0, &err), TK_EFORMAT);
  CHECK(strstr(err.msg, bad) != NULL);
  CHECK(got == NULL);
  CHECK_RC(tk_identity_load(&got, bad, PASS, PASSLEN, &err), TK_EFORMAT);

  /* Another device's TLS hash: the binding no longer verifies. */
  CHECK(edit_keyfile(path, bad, "public", "tls_spki_sha256", b64(b->tls_spki_hash, 32)) ==
        0);
  CHECK_RC(tk_identity_load(&got, bad, NULL, 0, &err), TK_EFORMAT);
  CHECK(strstr(err.msg, "tls_binding") != NULL);

  /* Another device's certificate: its key is not the pinned hash. */
  CHECK(edit_keyfile(path, bad, "public", "tls_cert_pem", json_string(b->tls_cert_pem)) ==
        0);
  CHECK_RC(tk_identity_load(&got, bad, NULL, 0, &err), TK_EFORMAT);
  CHECK(strstr(err.msg, "tls_cert_pem") != NULL);

  /* Another device's id text. */
  char idstr[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(idstr, b->id);
  CHECK(edit_keyfile(path, bad, "public", "device_id", json_string(idstr)) == 0);
  CHECK_RC(tk_identity_load(&got, bad, NULL, 0, &err), TK_EFORMAT);
  CHECK(strstr(err.msg, "device_id") != NULL);

  /* Another device's kx_pk is covered by no signature, but it is associated
   * data of the secret: unlocking fails before the keys are compared. */
  CHECK(edit_keyfile(path, bad, "public", "kx_pk", b64(b->kx_pk, 32)) == 0);
  CHECK_RC(tk_identity_load(&got, bad, PASS, PASSLEN, &err), TK_EPASS);
  CHECK(got == NULL);

  /* B's whole (self-consistent) public half over A's secret: a public-only
   * load sees B, but unlocking with A's passphrase fails. */
  json_error_t jerr;
  json_t *broot = json_load_file(bpath, 0, &jerr);
  CHECK(broot);
  json_t *bpub = json_incref(json_object_get(broot, "public"));
  json_decref(broot);
  CHECK(edit_keyfile(path, bad, NULL, "public", bpub) == 0);
  CHECK_RC(tk_identity_load(&got, bad, NULL, 0, &err), 0);
  CHECK(memcmp(got->sign_pk, b->sign_pk, 32) == 0);
  tk_identity_free(got);
  got = NULL;
  CHECK(tk_identity_load(&got, bad, PASS, PASSLEN, &err) != 0);
  CHECK(got == NULL);

  tk_identity_free(a);
  tk_identity_free(b);
}

/* Saves a's public half with one of b's secret keys (save does not check
 * that they match) and expects the unlock to notice. */
static int load_mixed(tk_identity_t *a, tk_identity_t *b, int which, tk_err_t *err)
{
  char path[512];
  tpath(path, sizeof path, "mixed.key");
  tk_identity_secret_t *keep = a->sec;
  tk_identity_secret_t mixed = *a->sec;
  if (which == 0) memcpy(mixed.sign_sk, b->sec->sign_sk, sizeof mixed.sign_sk);
  if (which == 1) memcpy(mixed.kx_sk, b->sec->kx_sk, sizeof mixed.kx_sk);
  if (which == 2) {
    memcpy(mixed.tls_key_der, b->sec->tls_key_der, b->sec->tls_key_der_len);
    mixed.tls_key_der_len = b->sec->tls_key_der_len;
  }
  a->sec = &mixed;
  int rc = tk_identity_save(a, path, PASS, PASSLEN, TK_KDF_INTERACTIVE, err);
  a->sec = keep;
  tk_wipe(&mixed, sizeof mixed);
  if (rc != 0) return 1;
  tk_identity_t *got = NULL;
  rc = tk_identity_load(&got, path, PASS, PASSLEN, err);
  tk_identity_free(got);
  return rc;
}

static void mismatched_secret(void)
{
  tk_identity_t *a = NULL, *b = NULL;
  tk_err_t err;
  CHECK_RC(tk_identity_generate(&a, "a", &err), 0);
  CHECK_RC(tk_identity_generate(&b, "b", &err), 0);
  static const char *field[] = {"sign_pk", "kx_pk", "tls_spki_sha256"};
  for (int which = 0; which < 3; which++) {
    int rc = load_mixed(a, b, which, &err);
    if (rc != TK_EFORMAT) fprintf(stderr, "mixed key %d: rc %d\n", which, rc);
    CHECK_RC(rc, TK_EFORMAT);
    CHECK(strstr(err.msg, field[which]) != NULL);
    CHECK(strstr(err.msg, "does not match") != NULL);
  }
  tk_identity_free(a);
  tk_identity_free(b);
}

static void damaged_files(void)
{
  char path[512], bad[512], dir[512];
  tpath(path, sizeof path, "good.key");
  tpath(bad, sizeof bad, "damaged.key");
  tk_identity_t *id = NULL, *got = (tk_identity_t *)1;
  tk_err_t err;
  CHECK_RC(tk_identity_generate(&id, "office", &err), 0);
  CHECK_RC(tk_identity_save(id, path, PASS, PASSLEN, TK_KDF_INTERACTIVE, &err), 0);
  tk_identity_free(id);
  size_t n;
  char *text = read_text(path, &n);
  CHECK(text && n > 200);

  /* missing */
  tpath(dir, sizeof dir, "no-such.key");
  CHECK_RC(tk_identity_load(&got, dir, NULL, 0, &err), TK_ENOTFOUND);
  CHECK(got == NULL);
  CHECK(strstr(err.msg, dir) != NULL);
  /* a directory */
  tpath(dir, sizeof dir, "");
  CHECK_RC(tk_identity_load(&got, dir, NULL, 0, &err), TK_EFORMAT);
  /* empty, truncated, garbage */
  int w = write_bytes(bad, "", 0);
  int rc = tk_identity_load(&got, bad, NULL, 0, &err);
  int w2 = write_bytes(bad, text, n / 2);
  int rc2 = tk_identity_load(&got, bad, PASS, PASSLEN, &err);
  char msg2[512];
  snprintf(msg2, sizeof msg2, "%s", err.msg);
  uint8_t junk[4096];
  tk_random(junk, sizeof junk);
  int w3 = write_bytes(bad, junk, sizeof junk);
  int rc3 = tk_identity_load(&got, bad, NULL, 0, &err);
  free(text);
  CHECK(w == 0 && w2 == 0 && w3 == 0);
  CHECK_RC(rc, TK_EFORMAT);
  CHECK_RC(rc2, TK_EFORMAT);
  CHECK(strstr(msg2, bad) != NULL && strstr(msg2, "JSON") != NULL);
  CHECK_RC(rc3, TK_EFORMAT);
  CHECK(got == NULL);

  /* oversized: refused before parsing */
  char *big = malloc(TK_MAX_KEYFILE + 1);
  CHECK(big);
  memset(big, ' ', TK_MAX_KEYFILE + 1);
  w = write_bytes(bad, big, TK_MAX_KEYFILE + 1);
  free(big);
  CHECK(w == 0);
  CHECK_RC(tk_identity_load(&got, bad, NULL, 0, &err), TK_ELIMIT);
  CHECK(strstr(err.msg, bad) != NULL);

  /* well-formed JSON that is not a key file */
  CHECK(write_bytes(bad, "[1,2,3]", 7) == 0);
  CHECK_RC(tk_identity_load(&got, bad, NULL, 0, &err), TK_EFORMAT);
  CHECK(edit_keyfile(path, bad, NULL, "format", json_string("something-else")) == 0);
  CHECK_RC(tk_identity_load(&got, bad, NULL, 0, &err), TK_EFORMAT);
  /* a newer version */
  CHECK(edit_keyfile(path, bad, NULL, "version", json_integer(2)) == 0);
  CHECK_RC(tk_identity_load(&got, bad, NULL, 0, &err), TK_EVERSION);
  CHECK(edit_keyfile(path, bad, NULL, "version", json_integer(0)) == 0);
  CHECK_RC(tk_identity_load(&got, bad, NULL, 0, &err), TK_EFORMAT);
  CHECK(edit_keyfile(path, bad, NULL, "version", json_string("1")) == 0);
  CHECK_RC(tk_identity_load(&got, bad, NULL, 0, &err), TK_EFORMAT);
  /* a bad name */
  CHECK(edit_keyfile(path, bad, NULL, "name", json_string("a b")) == 0);
  CHECK_RC(tk_identity_load(&got, bad, NULL, 0, &err), TK_EFORMAT);
  /* KDF parameters out of bounds are refused before any work */
  CHECK(edit_keyfile(path, bad, "kdf", "memlimit", json_integer(8ll << 30)) == 0);
  CHECK_RC(tk_identity_load(&got, bad, PASS, PASSLEN, &err), TK_EFORMAT);
  CHECK(strstr(err.msg, "kdf.memlimit") != NULL);
  CHECK(edit_keyfile(path, bad, "kdf", "memlimit", json_integer(1024)) == 0);
  CHECK_RC(tk_identity_load(&got, bad, PASS, PASSLEN, &err), TK_EFORMAT);
  CHECK(edit_keyfile(path, bad, "kdf", "memlimit", json_integer(-1)) == 0);
  CHECK_RC(tk_identity_load(&got, bad, PASS, PASSLEN, &err), TK_EFORMAT);
  CHECK(edit_keyfile(path, bad, "kdf", "opslimit", json_integer(0)) == 0);
  CHECK_RC(tk_identity_load(&got, bad, PASS, PASSLEN, &err), TK_EFORMAT);
  CHECK(strstr(err.msg, "kdf.opslimit") != NULL);
  CHECK(edit_keyfile(path, bad, "kdf", "opslimit", json_integer(1ll << 40)) == 0);
  CHECK_RC(tk_identity_load(&got, bad, PASS, PASSLEN, &err), TK_EFORMAT);
  CHECK(edit_keyfile(path, bad, "kdf", "alg", json_string("scrypt")) == 0);
  CHECK_RC(tk_identity_load(&got, bad, PASS, PASSLEN, &err), TK_EFORMAT);
  uint8_t salt[8] = {0};
  CHECK(edit_keyfile(path, bad, "kdf", "salt", b64(salt, sizeof salt)) == 0);
  CHECK_RC(tk_identity_load(&got, bad, PASS, PASSLEN, &err), TK_EFORMAT);
  CHECK(edit_keyfile(path, bad, "secret", "aead", json_string("aes256gcm")) == 0);
  CHECK_RC(tk_identity_load(&got, bad, PASS, PASSLEN, &err), TK_EFORMAT);
  /* a missing section */
  CHECK(edit_keyfile(path, bad, NULL, "secret", json_null()) == 0);
  CHECK_RC(tk_identity_load(&got, bad, NULL, 0, &err), TK_EFORMAT);
  CHECK(got == NULL);
}

TK_TESTS(TK_TEST(generate), TK_TEST(generate_rejects_bad_names), TK_TEST(certificate),
         TK_TEST(tls_binding), TK_TEST(save_load_public), TK_TEST(save_load_secret),
         TK_TEST(wrong_passphrase), TK_TEST(passphrase_change_and_mode),
         TK_TEST(save_same_kdf), TK_TEST(tampered_ciphertext),
         TK_TEST(swapped_public_parts), TK_TEST(mismatched_secret),
         TK_TEST(damaged_files))
