/*
 * identity.c: a device's keys and its key file. Owns generation of the three
 * key pairs (Ed25519 and X25519 from libsodium, ECDSA P-256 and its
 * self-signed certificate from mbedtls), the TLS binding signature, and the
 * on-disk form:
 *
 *   {"format":"tunduk-device-key","version":1,"name":...,
 *    "public":{"device_id","sign_pk","kx_pk","tls_spki_sha256","tls_binding",
 *              "tls_cert_pem"},
 *    "kdf":{"alg":"argon2id13","opslimit","memlimit","salt"},
 *    "secret":{"aead":"xchacha20poly1305-ietf","nonce","ciphertext"}}
 *
 * Bytes are base64 (original alphabet, padded). The secret plaintext is
 * sign_sk || kx_sk || TLS private key DER, sealed under Argon2id(passphrase)
 * with sign_pk || kx_pk || tls_spki_sha256 as associated data, so swapping
 * the public half of one file into another is detected.
 *
 * Invariants: a tk_identity_t that leaves this file is consistent: id is
 * SHA-256(sign_pk), tls_binding verifies, the certificate's key hashes to
 * tls_spki_hash, and (when sec is set) each secret key matches its public
 * key. Secrets, derived keys and plaintext live only in tk_secure_alloc
 * memory and are wiped on every path.
 *
 * Threads: see tk_identity.h. Nothing here has global state besides
 * libsodium's, initialised by tk_crypto_init().
 */
#include "tk_identity.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/ecp.h>

#include "tk_mbedtls_compat.h"

#define KEYFILE_FORMAT "tunduk-device-key"
#define KEYFILE_VERSION 1
#define KDF_ALG "argon2id13"
#define AEAD_ALG "xchacha20poly1305-ietf"
#define BINDING_LABEL "tunduk tls binding v1"
#define BINDING_LABEL_LEN (sizeof BINDING_LABEL - 1)

#define NAME_MAX_LEN 63
#define KDF_KEY_LEN 32
#define KDF_MEMLIMIT_CAP (4ull << 30) /* we never ask for more than 4 GiB */
#define CERT_PEM_MAX 4096             /* a P-256 self-signed cert is ~600 bytes */
#define SPKI_DER_MAX 256              /* a P-256 SPKI is 91 bytes */
#define TLS_KEY_DER_MAX (sizeof(((tk_identity_secret_t *)0)->tls_key_der))
#define SECRET_FIXED_LEN (TK_SIGN_SK_LEN + TK_KX_SK_LEN)
#define SECRET_MAX_LEN (SECRET_FIXED_LEN + TLS_KEY_DER_MAX)
#define CT_MIN_LEN (SECRET_FIXED_LEN + 1 + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define CT_MAX_LEN (SECRET_MAX_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES)
#define AD_LEN (TK_SIGN_PK_LEN + TK_KX_PK_LEN + TK_HASH_LEN)
#define B64_MAX 1024 /* base64 of the largest binary field (CT_MAX_LEN) fits */

_Static_assert(sodium_base64_ENCODED_LEN(CT_MAX_LEN, sodium_base64_VARIANT_ORIGINAL) <=
                   B64_MAX,
               "base64 buffer");
_Static_assert(crypto_pwhash_argon2id_SALTBYTES == 16, "salt size");
_Static_assert(crypto_sign_SECRETKEYBYTES == TK_SIGN_SK_LEN, "sign sk size");
_Static_assert(crypto_box_SECRETKEYBYTES == TK_KX_SK_LEN, "kx sk size");

/* ---- names, binding, small helpers -------------------------------------- */

static int name_valid(const char *s, size_t n)
{
  if (n == 0 || n > NAME_MAX_LEN) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || c == '.';
    if (!ok) return 0;
  }
  return 1;
}

static void binding_message(uint8_t msg[BINDING_LABEL_LEN + TK_HASH_LEN],
                            const uint8_t spki_hash[TK_HASH_LEN])
{
  memcpy(msg, BINDING_LABEL, BINDING_LABEL_LEN);
  memcpy(msg + BINDING_LABEL_LEN, spki_hash, TK_HASH_LEN);
}

static void secret_ad(uint8_t ad[AD_LEN], const tk_identity_t *id)
{
  memcpy(ad, id->sign_pk, TK_SIGN_PK_LEN);
  memcpy(ad + TK_SIGN_PK_LEN, id->kx_pk, TK_KX_PK_LEN);
  memcpy(ad + TK_SIGN_PK_LEN + TK_KX_PK_LEN, id->tls_spki_hash, TK_HASH_LEN);
}

/* SHA-256 of pk's SubjectPublicKeyInfo DER. mbedtls writes it at the end
 * of the buffer. */
static int spki_hash_of(mbedtls_pk_context *pk, uint8_t hash[TK_HASH_LEN])
{
  unsigned char der[SPKI_DER_MAX];
  int n = mbedtls_pk_write_pubkey_der(pk, der, sizeof der);
  if (n <= 0) return TK_ECRYPTO;
  tk_sha256(hash, der + sizeof der - (size_t)n, (size_t)n);
  return 0;
}

/* SHA-256 of the SPKI of the one certificate in pem (NUL-terminated). */
static int cert_spki_hash(const char *pem, size_t len, uint8_t hash[TK_HASH_LEN])
{
  mbedtls_x509_crt crt;
  mbedtls_x509_crt_init(&crt);
  int rc = 0;
  if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem, len + 1) != 0 ||
      crt.next != NULL || crt.pk_raw.len == 0) {
    rc = TK_EFORMAT;
    goto done;
  }
  tk_sha256(hash, crt.pk_raw.p, crt.pk_raw.len);
done:
  mbedtls_x509_crt_free(&crt);
  return rc;
}

static tk_identity_t *identity_new(int with_secret)
{
  tk_identity_t *id = calloc(1, sizeof *id);
  if (!id) return NULL;
  if (with_secret) {
    id->sec = tk_secure_alloc(sizeof *id->sec);
    if (!id->sec) {
      free(id);
      return NULL;
    }
    memset(id->sec, 0, sizeof *id->sec);
  }
  return id;
}

void tk_identity_free(tk_identity_t *id)
{
  if (!id) return;
  if (id->sec) {
    tk_wipe(id->sec, sizeof *id->sec);
    tk_secure_free(id->sec);
  }
  free(id->tls_cert_pem);
  free(id);
}

/* ---- generation ---------------------------------------------------------- */

/* Makes the P-256 key, its certificate, spki hash and DER private key. */
static int tls_key_generate(tk_identity_t *id, tk_err_t *err)
{
  int rc = 0, mrc;
  mbedtls_pk_context pk;
  mbedtls_x509write_cert crt;
  unsigned char *pem = NULL;
  char dn[16 + NAME_MAX_LEN];
  uint8_t serial[16];

  mbedtls_pk_init(&pk);
  mbedtls_x509write_crt_init(&crt);
  if (tk_mbedtls_init() != 0) {
    rc = tk_err_set(err, TK_ECRYPTO, "could not initialise mbedtls");
    goto done;
  }
  mrc = mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
  if (mrc == 0)
    mrc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk),
                              tk_random_mbedtls, NULL);
  if (mrc != 0) {
    rc = tk_err_set(err, TK_ECRYPTO, "could not generate the TLS key (mbedtls -0x%04x)",
                    (unsigned)-mrc);
    goto done;
  }

  /* Private key DER: mbedtls writes it at the end of the buffer. */
  tk_identity_secret_t *sec = id->sec;
  int n = mbedtls_pk_write_key_der(&pk, sec->tls_key_der, sizeof sec->tls_key_der);
  if (n <= 0) {
    rc = tk_err_set(err, TK_ECRYPTO, "could not encode the TLS key");
    goto done;
  }
  memmove(sec->tls_key_der, sec->tls_key_der + sizeof sec->tls_key_der - (size_t)n,
          (size_t)n);
  tk_wipe(sec->tls_key_der + n, sizeof sec->tls_key_der - (size_t)n);
  sec->tls_key_der_len = (size_t)n;

  if (spki_hash_of(&pk, id->tls_spki_hash) != 0) {
    rc = tk_err_set(err, TK_ECRYPTO, "could not encode the TLS public key");
    goto done;
  }

  /* TLS 1.2 sends certificates in the clear: the subject names no one. */
  snprintf(dn, sizeof dn, "CN=tunduk");
  tk_random(serial, sizeof serial);
  serial[0] = (uint8_t)((serial[0] & 0x7f) | 0x40); /* positive, full length */
  mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&crt, &pk);
  mbedtls_x509write_crt_set_issuer_key(&crt, &pk);
  mrc = mbedtls_x509write_crt_set_subject_name(&crt, dn);
  if (mrc == 0) mrc = mbedtls_x509write_crt_set_issuer_name(&crt, dn);
  if (mrc == 0) mrc = tk_mbedtls_crt_set_serial(&crt, serial, sizeof serial);
  if (mrc == 0)
    mrc = mbedtls_x509write_crt_set_validity(&crt, "20200101000000", "20991231235959");
  if (mrc == 0) mrc = mbedtls_x509write_crt_set_basic_constraints(&crt, 0, -1);
  if (mrc != 0) {
    rc =
        tk_err_set(err, TK_ECRYPTO, "could not prepare the certificate (mbedtls -0x%04x)",
                   (unsigned)-mrc);
    goto done;
  }
  pem = calloc(1, CERT_PEM_MAX);
  if (!pem) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory writing the certificate");
    goto done;
  }
  mrc = mbedtls_x509write_crt_pem(&crt, pem, CERT_PEM_MAX, tk_random_mbedtls, NULL);
  if (mrc != 0) {
    rc = tk_err_set(err, TK_ECRYPTO, "could not sign the certificate (mbedtls -0x%04x)",
                    (unsigned)-mrc);
    goto done;
  }
  id->tls_cert_pem = strdup((const char *)pem);
  if (!id->tls_cert_pem) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory writing the certificate");
    goto done;
  }

done:
  free(pem);
  mbedtls_x509write_crt_free(&crt);
  mbedtls_pk_free(&pk); /* zeroises the private scalar */
  return rc;
}

int tk_identity_generate(tk_identity_t **out, const char *name, tk_err_t *err)
{
  int rc = 0;
  tk_identity_t *id = NULL;
  uint8_t msg[BINDING_LABEL_LEN + TK_HASH_LEN];

  if (!out) return tk_err_set(err, TK_EINVAL, "tk_identity_generate: out is NULL");
  *out = NULL;
  if (!name || !name_valid(name, strlen(name))) {
    return tk_err_set(
        err, TK_EINVAL,
        "device name \"%.64s\" is not 1 to %d letters, digits, '-', '_' or '.'",
        name ? name : "", NAME_MAX_LEN);
  }
  id = identity_new(1);
  if (!id) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory making an identity");
    goto done;
  }
  memcpy(id->name, name, strlen(name) + 1);

  if (crypto_sign_keypair(id->sign_pk, id->sec->sign_sk) != 0 ||
      crypto_box_keypair(id->kx_pk, id->sec->kx_sk) != 0) {
    rc = tk_err_set(err, TK_ECRYPTO, "could not generate the device keys");
    goto done;
  }
  tk_device_id_from_pk(id->id, id->sign_pk);

  rc = tls_key_generate(id, err);
  if (rc != 0) goto done;

  binding_message(msg, id->tls_spki_hash);
  if (crypto_sign_detached(id->tls_binding, NULL, msg, sizeof msg, id->sec->sign_sk) !=
      0) {
    rc = tk_err_set(err, TK_ECRYPTO, "could not sign the TLS key");
    goto done;
  }

done:
  if (rc != 0) {
    tk_identity_free(id);
    id = NULL;
  }
  *out = id;
  return rc;
}

/* ---- signatures ---------------------------------------------------------- */

int tk_identity_sign(const tk_identity_t *id, uint8_t sig[TK_SIG_LEN], const void *msg,
                     size_t n)
{
  if (!id || !id->sec) return TK_ENOKEY;
  return crypto_sign_detached(sig, NULL, msg, n, id->sec->sign_sk) == 0 ? 0 : TK_ECRYPTO;
}

int tk_sig_verify(const uint8_t sig[TK_SIG_LEN], const void *msg, size_t n,
                  const uint8_t sign_pk[TK_SIGN_PK_LEN])
{
  return crypto_sign_verify_detached(sig, msg, n, sign_pk) == 0 ? 0 : TK_ESIG;
}

int tk_tls_binding_verify(const uint8_t sign_pk[TK_SIGN_PK_LEN],
                          const uint8_t spki_hash[TK_HASH_LEN],
                          const uint8_t binding[TK_SIG_LEN])
{
  uint8_t msg[BINDING_LABEL_LEN + TK_HASH_LEN];
  binding_message(msg, spki_hash);
  return tk_sig_verify(binding, msg, sizeof msg, sign_pk);
}

/* ---- saving -------------------------------------------------------------- */

static json_t *b64_json(const uint8_t *p, size_t n)
{
  char s[B64_MAX];
  TK_ASSERT(sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL) <= sizeof s);
  sodium_bin2base64(s, sizeof s, p, n, sodium_base64_VARIANT_ORIGINAL);
  return json_string(s);
}

static int write_all(int fd, const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Opens the directory holding path and fsyncs it, so a rename is durable. */
static int fsync_parent_dir(const char *path)
{
  char *dir = strdup(path);
  if (!dir) return -1;
  char *slash = strrchr(dir, '/');
  const char *d = ".";
  if (slash == dir) {
    d = "/";
  } else if (slash) {
    *slash = '\0';
    d = dir;
  }
  int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = fd < 0 ? -1 : fsync(fd);
  int saved = errno;
  if (fd >= 0) close(fd);
  free(dir);
  errno = saved;
  return rc;
}

/* Writes data to path.tmp (mode 0600, never through a link), fsyncs it,
 * renames it over path and fsyncs the directory. */
static int write_file_atomic(const char *path, const char *data, size_t n, tk_err_t *err)
{
  int rc = 0, fd = -1, made_tmp = 0;
  size_t plen = strlen(path);
  char *tmp = malloc(plen + sizeof ".tmp");
  if (!tmp) return tk_err_set(err, TK_ENOMEM, "out of memory saving %s", path);
  memcpy(tmp, path, plen);
  memcpy(tmp + plen, ".tmp", sizeof ".tmp");

  if (unlink(tmp) != 0 && errno != ENOENT) {
    rc = tk_err_set(err, TK_EIO, "cannot remove stale %s: %s", tmp, strerror(errno));
    goto done;
  }
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc = tk_err_set(err, TK_EIO, "cannot create %s: %s", tmp, strerror(errno));
    goto done;
  }
  made_tmp = 1;
  if (fchmod(fd, 0600) != 0 || write_all(fd, data, n) != 0 || fsync(fd) != 0) {
    rc = tk_err_set(err, TK_EIO, "cannot write %s: %s", tmp, strerror(errno));
    goto done;
  }
  int crc = close(fd);
  fd = -1;
  if (crc != 0) {
    rc = tk_err_set(err, TK_EIO, "cannot write %s: %s", tmp, strerror(errno));
    goto done;
  }
  if (rename(tmp, path) != 0) {
    rc =
        tk_err_set(err, TK_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    goto done;
  }
  made_tmp = 0;
  if (fsync_parent_dir(path) != 0) {
    rc = tk_err_set(err, TK_EIO, "wrote %s but could not sync its directory: %s", path,
                    strerror(errno));
    goto done;
  }

done:
  if (fd >= 0) close(fd);
  if (made_tmp) unlink(tmp);
  free(tmp);
  return rc;
}

static int kdf_limits(tk_kdf_level_t level, unsigned long long *ops, size_t *mem)
{
  switch (level) {
  case TK_KDF_INTERACTIVE:
    *ops = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
    *mem = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
    return 0;
  case TK_KDF_MODERATE:
    *ops = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
    *mem = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
    return 0;
  case TK_KDF_SENSITIVE:
    *ops = crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE;
    *mem = crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE;
    return 0;
  }
  return TK_EINVAL;
}

/* tk_identity_save with the Argon2id parameters given (ops, mem). */
static int save_with(const tk_identity_t *id, const char *path, const char *pass,
                     size_t passlen, unsigned long long ops, size_t mem, tk_err_t *err)
{
  int rc = 0;
  uint8_t salt[crypto_pwhash_argon2id_SALTBYTES];
  uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  uint8_t ad[AD_LEN];
  uint8_t ct[CT_MAX_LEN];
  unsigned long long ctlen = 0;
  uint8_t *key = NULL, *pt = NULL;
  json_t *root = NULL;
  char *text = NULL;
  tk_buf_t file = TK_BUF_INIT;
  char idstr[TK_DEVICE_ID_STRLEN];

  if (!id || !path || !pass)
    return tk_err_set(err, TK_EINVAL, "tk_identity_save: NULL argument");
  if (!id->sec)
    return tk_err_set(err, TK_ENOKEY, "cannot save %s: identity is locked", path);
  if (passlen > TK_MAX_PASSPHRASE)
    return tk_err_set(err, TK_ELIMIT, "passphrase longer than %d bytes",
                      TK_MAX_PASSPHRASE);
  if (!id->tls_cert_pem || id->sec->tls_key_der_len == 0 ||
      id->sec->tls_key_der_len > TLS_KEY_DER_MAX)
    return tk_err_set(err, TK_EINVAL, "cannot save %s: identity has no TLS key", path);

  key = tk_secure_alloc(KDF_KEY_LEN);
  pt = tk_secure_alloc(SECRET_MAX_LEN);
  if (!key || !pt) {
    rc = tk_err_set(err, TK_ENOMEM, "out of secure memory saving %s", path);
    goto done;
  }
  tk_random(salt, sizeof salt);
  tk_random(nonce, sizeof nonce);
  if (crypto_pwhash(key, KDF_KEY_LEN, pass, passlen, salt, ops, mem,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    rc = tk_err_set(err, TK_ENOMEM, "deriving the key for %s needs %zu MiB of memory",
                    path, mem >> 20);
    goto done;
  }
  size_t ptlen = SECRET_FIXED_LEN + id->sec->tls_key_der_len;
  memcpy(pt, id->sec->sign_sk, TK_SIGN_SK_LEN);
  memcpy(pt + TK_SIGN_SK_LEN, id->sec->kx_sk, TK_KX_SK_LEN);
  memcpy(pt + SECRET_FIXED_LEN, id->sec->tls_key_der, id->sec->tls_key_der_len);
  secret_ad(ad, id);
  crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen, pt, ptlen, ad, sizeof ad, NULL,
                                             nonce, key);

  tk_device_id_format(idstr, id->id);
  root = json_pack(
      "{s:s, s:i, s:s,"
      " s:{s:s, s:o, s:o, s:o, s:o, s:s},"
      " s:{s:s, s:I, s:I, s:o},"
      " s:{s:s, s:o, s:o}}",
      "format", KEYFILE_FORMAT, "version", KEYFILE_VERSION, "name", id->name, "public",
      "device_id", idstr, "sign_pk", b64_json(id->sign_pk, TK_SIGN_PK_LEN), "kx_pk",
      b64_json(id->kx_pk, TK_KX_PK_LEN), "tls_spki_sha256",
      b64_json(id->tls_spki_hash, TK_HASH_LEN), "tls_binding",
      b64_json(id->tls_binding, TK_SIG_LEN), "tls_cert_pem", id->tls_cert_pem, "kdf",
      "alg", KDF_ALG, "opslimit", (json_int_t)ops, "memlimit", (json_int_t)mem, "salt",
      b64_json(salt, sizeof salt), "secret", "aead", AEAD_ALG, "nonce",
      b64_json(nonce, sizeof nonce), "ciphertext", b64_json(ct, (size_t)ctlen));
  if (!root || !(text = json_dumps(root, JSON_INDENT(2)))) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory encoding %s", path);
    goto done;
  }
  if (tk_buf_printf(&file, "%s\n", text) != 0) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory encoding %s", path);
    goto done;
  }
  rc = write_file_atomic(path, (const char *)file.p, file.n, err);

done:
  if (key) tk_wipe(key, KDF_KEY_LEN);
  if (pt) tk_wipe(pt, SECRET_MAX_LEN);
  tk_secure_free(key);
  tk_secure_free(pt);
  free(text);
  tk_buf_free(&file);
  json_decref(root);
  return rc;
}

int tk_identity_save(const tk_identity_t *id, const char *path, const char *pass,
                     size_t passlen, tk_kdf_level_t level, tk_err_t *err)
{
  unsigned long long ops;
  size_t mem;
  if (kdf_limits(level, &ops, &mem) != 0)
    return tk_err_set(err, TK_EINVAL, "unknown key derivation level %d", (int)level);
  return save_with(id, path, pass, passlen, ops, mem, err);
}

int tk_identity_save_same_kdf(const tk_identity_t *id, const char *path, const char *pass,
                              size_t passlen, tk_err_t *err)
{
  if (!id || id->kdf_ops == 0 || id->kdf_mem == 0)
    return tk_err_set(err, TK_EINVAL,
                      "cannot save %s: the identity was not read from a "
                      "key file",
                      path);
  return save_with(id, path, pass, passlen, id->kdf_ops, id->kdf_mem, err);
}

/* ---- loading ------------------------------------------------------------- */

/* Reads a whole key file of at most TK_MAX_KEYFILE bytes into *out
 * (malloc'd, NUL-terminated). */
static int read_keyfile(const char *path, char **out, size_t *outlen, tk_err_t *err)
{
  int rc = 0;
  struct stat st;
  char *buf = NULL;
  size_t n = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return tk_err_set(err, TK_ENOTFOUND, "no key file at %s", path);
    return tk_err_set(err, TK_EIO, "cannot open key file %s: %s", path, strerror(errno));
  }
  if (fstat(fd, &st) != 0) {
    rc = tk_err_set(err, TK_EIO, "cannot stat key file %s: %s", path, strerror(errno));
    goto done;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = tk_err_set(err, TK_EFORMAT, "key file %s is not a regular file", path);
    goto done;
  }
  if (st.st_size > (off_t)TK_MAX_KEYFILE) {
    rc = tk_err_set(err, TK_ELIMIT, "key file %s is %lld bytes, more than the %u allowed",
                    path, (long long)st.st_size, TK_MAX_KEYFILE);
    goto done;
  }
  buf = malloc(TK_MAX_KEYFILE + 2);
  if (!buf) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory reading %s", path);
    goto done;
  }
  /* Read one byte past the limit: the file may have grown since fstat. */
  while (n < TK_MAX_KEYFILE + 1) {
    ssize_t r = read(fd, buf + n, TK_MAX_KEYFILE + 1 - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      rc = tk_err_set(err, TK_EIO, "cannot read key file %s: %s", path, strerror(errno));
      goto done;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  if (n > TK_MAX_KEYFILE) {
    rc = tk_err_set(err, TK_ELIMIT, "key file %s is more than the %u bytes allowed", path,
                    TK_MAX_KEYFILE);
    goto done;
  }
  buf[n] = '\0';

done:
  close(fd);
  if (rc != 0) {
    free(buf);
    buf = NULL;
    n = 0;
  }
  *out = buf;
  *outlen = n;
  return rc;
}

/* What the loader knows about where it is, for messages. */
typedef struct load_ctx {
  const char *path;
  tk_err_t *err;
} load_ctx_t;

static json_t *get_object(load_ctx_t *c, json_t *parent, const char *key, int *rc)
{
  json_t *v = json_object_get(parent, key);
  if (!json_is_object(v)) {
    *rc = tk_err_set(c->err, TK_EFORMAT,
                     "key file %s: \"%s\" is missing or not an object", c->path, key);
    return NULL;
  }
  return v;
}

static const char *get_string(load_ctx_t *c, json_t *obj, const char *sect,
                              const char *key, size_t *len, int *rc)
{
  json_t *v = json_object_get(obj, key);
  if (!json_is_string(v)) {
    *rc = tk_err_set(c->err, TK_EFORMAT, "key file %s: %s%s%s is missing or not a string",
                     c->path, sect, *sect ? "." : "", key);
    return NULL;
  }
  if (len) *len = json_string_length(v);
  return json_string_value(v);
}

/* A string field that must equal want. */
static int expect_string(load_ctx_t *c, json_t *obj, const char *sect, const char *key,
                         const char *want)
{
  int rc = 0;
  const char *s = get_string(c, obj, sect, key, NULL, &rc);
  if (!s) return rc;
  if (strcmp(s, want) != 0)
    return tk_err_set(c->err, TK_EFORMAT,
                      "key file %s: %s.%s is \"%.40s\", expected \"%s\"", c->path, sect,
                      key, s, want);
  return 0;
}

/* Decodes a base64 field of min..max bytes into out. */
static int get_b64(load_ctx_t *c, json_t *obj, const char *sect, const char *key,
                   uint8_t *out, size_t min, size_t max, size_t *outlen)
{
  int rc = 0;
  size_t slen, n = 0;
  const char *s = get_string(c, obj, sect, key, &slen, &rc);
  if (!s) return rc;
  if (slen > B64_MAX ||
      sodium_base642bin(out, max, s, slen, NULL, &n, NULL,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      n < min) {
    if (min == max)
      return tk_err_set(c->err, TK_EFORMAT,
                        "key file %s: %s.%s is not base64 of %zu bytes", c->path, sect,
                        key, min);
    return tk_err_set(c->err, TK_EFORMAT,
                      "key file %s: %s.%s is not base64 of %zu to %zu bytes", c->path,
                      sect, key, min, max);
  }
  if (outlen) *outlen = n;
  return 0;
}

static int get_uint(load_ctx_t *c, json_t *obj, const char *sect, const char *key,
                    unsigned long long min, unsigned long long max,
                    unsigned long long *out)
{
  json_t *v = json_object_get(obj, key);
  if (!json_is_integer(v) || json_integer_value(v) < 0 ||
      (unsigned long long)json_integer_value(v) < min ||
      (unsigned long long)json_integer_value(v) > max)
    return tk_err_set(c->err, TK_EFORMAT,
                      "key file %s: %s.%s is missing or not an integer in %llu..%llu",
                      c->path, sect, key, min, max);
  *out = (unsigned long long)json_integer_value(v);
  return 0;
}

/* The public half: fills name, id, keys, binding, certificate, and checks
 * that they belong together. */
static int load_public(load_ctx_t *c, json_t *root, tk_identity_t *id)
{
  int rc = 0;
  size_t n;
  uint8_t check[TK_HASH_LEN];

  const char *name = get_string(c, root, "", "name", &n, &rc);
  if (!name) return rc;
  if (!name_valid(name, n))
    return tk_err_set(c->err, TK_EFORMAT, "key file %s: name is not a valid device name",
                      c->path);
  memcpy(id->name, name, n);
  id->name[n] = '\0';

  json_t *pub = get_object(c, root, "public", &rc);
  if (!pub) return rc;
  if ((rc = get_b64(c, pub, "public", "sign_pk", id->sign_pk, TK_SIGN_PK_LEN,
                    TK_SIGN_PK_LEN, NULL)) != 0 ||
      (rc = get_b64(c, pub, "public", "kx_pk", id->kx_pk, TK_KX_PK_LEN, TK_KX_PK_LEN,
                    NULL)) != 0 ||
      (rc = get_b64(c, pub, "public", "tls_spki_sha256", id->tls_spki_hash, TK_HASH_LEN,
                    TK_HASH_LEN, NULL)) != 0 ||
      (rc = get_b64(c, pub, "public", "tls_binding", id->tls_binding, TK_SIG_LEN,
                    TK_SIG_LEN, NULL)) != 0)
    return rc;

  tk_device_id_from_pk(id->id, id->sign_pk);
  const char *idstr = get_string(c, pub, "public", "device_id", NULL, &rc);
  if (!idstr) return rc;
  if (tk_device_id_parse(check, idstr) != 0 || !tk_ct_equal(check, id->id, TK_HASH_LEN))
    return tk_err_set(c->err, TK_EFORMAT,
                      "key file %s: public.device_id does not match public.sign_pk",
                      c->path);

  if (tk_tls_binding_verify(id->sign_pk, id->tls_spki_hash, id->tls_binding) != 0)
    return tk_err_set(c->err, TK_EFORMAT,
                      "key file %s: public.tls_binding is not sign_pk's signature over "
                      "tls_spki_sha256",
                      c->path);

  const char *pem = get_string(c, pub, "public", "tls_cert_pem", &n, &rc);
  if (!pem) return rc;
  if (n == 0 || n >= CERT_PEM_MAX || strlen(pem) != n ||
      cert_spki_hash(pem, n, check) != 0)
    return tk_err_set(c->err, TK_EFORMAT,
                      "key file %s: public.tls_cert_pem is not one PEM certificate",
                      c->path);
  if (!tk_ct_equal(check, id->tls_spki_hash, TK_HASH_LEN))
    return tk_err_set(c->err, TK_EFORMAT,
                      "key file %s: public.tls_cert_pem holds a key other than "
                      "tls_spki_sha256",
                      c->path);
  id->tls_cert_pem = strdup(pem);
  if (!id->tls_cert_pem)
    return tk_err_set(c->err, TK_ENOMEM, "out of memory reading %s", c->path);
  return 0;
}

/* Checks that the decrypted secrets are the private halves of the public
 * keys already loaded. */
static int check_secret(load_ctx_t *c, const tk_identity_t *id)
{
  int rc = 0;
  uint8_t pk[TK_SIGN_PK_LEN];
  uint8_t hash[TK_HASH_LEN];
  mbedtls_pk_context tls;
  mbedtls_pk_init(&tls);

  if (crypto_sign_ed25519_sk_to_pk(pk, id->sec->sign_sk) != 0 ||
      !tk_ct_equal(pk, id->sign_pk, TK_SIGN_PK_LEN)) {
    rc = tk_err_set(c->err, TK_EFORMAT,
                    "key file %s: the signing secret key does not match public.sign_pk",
                    c->path);
    goto done;
  }
  if (crypto_scalarmult_base(pk, id->sec->kx_sk) != 0 ||
      !tk_ct_equal(pk, id->kx_pk, TK_KX_PK_LEN)) {
    rc = tk_err_set(
        c->err, TK_EFORMAT,
        "key file %s: the key-agreement secret key does not match public.kx_pk", c->path);
    goto done;
  }
  if (tk_mbedtls_init() != 0) {
    rc = tk_err_set(c->err, TK_ECRYPTO, "could not initialise mbedtls");
    goto done;
  }
  if (tk_mbedtls_pk_parse_key(&tls, id->sec->tls_key_der, id->sec->tls_key_der_len) !=
          0 ||
      mbedtls_pk_get_type(&tls) != MBEDTLS_PK_ECKEY || spki_hash_of(&tls, hash) != 0 ||
      !tk_ct_equal(hash, id->tls_spki_hash, TK_HASH_LEN)) {
    rc = tk_err_set(
        c->err, TK_EFORMAT,
        "key file %s: the TLS secret key does not match public.tls_spki_sha256", c->path);
    goto done;
  }

done:
  mbedtls_pk_free(&tls);
  return rc;
}

int tk_identity_load(tk_identity_t **out, const char *path, const char *pass,
                     size_t passlen, tk_err_t *err)
{
  int rc = 0;
  char *text = NULL;
  size_t textlen = 0;
  json_t *root = NULL;
  json_error_t jerr;
  tk_identity_t *id = NULL;
  uint8_t *key = NULL, *pt = NULL;
  uint8_t salt[crypto_pwhash_argon2id_SALTBYTES];
  uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  uint8_t ct[CT_MAX_LEN];
  uint8_t ad[AD_LEN];
  size_t ctlen = 0;
  unsigned long long ops = 0, mem = 0, version;
  load_ctx_t c = {path, err};

  if (!out || !path) return tk_err_set(err, TK_EINVAL, "tk_identity_load: NULL argument");
  *out = NULL;
  if (pass && passlen > TK_MAX_PASSPHRASE)
    return tk_err_set(err, TK_ELIMIT, "passphrase longer than %d bytes",
                      TK_MAX_PASSPHRASE);

  if ((rc = read_keyfile(path, &text, &textlen, err)) != 0) goto done;
  root = json_loadb(text, textlen, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    rc = tk_err_set(err, TK_EFORMAT, "key file %s is not valid JSON (line %d: %s)", path,
                    jerr.line, jerr.text);
    goto done;
  }
  if (!json_is_object(root)) {
    rc = tk_err_set(err, TK_EFORMAT, "key file %s is not a JSON object", path);
    goto done;
  }
  if ((rc = expect_string(&c, root, "", "format", KEYFILE_FORMAT)) != 0) {
    rc = tk_err_set(err, TK_EFORMAT, "%s is not a tunduk device key file", path);
    goto done;
  }
  json_t *jv = json_object_get(root, "version");
  if (!json_is_integer(jv) || json_integer_value(jv) < 1) {
    rc = tk_err_set(err, TK_EFORMAT,
                    "key file %s: version is missing or not a positive integer", path);
    goto done;
  }
  version = (unsigned long long)json_integer_value(jv);
  if (version > KEYFILE_VERSION) {
    rc = tk_err_set(
        err, TK_EVERSION,
        "key file %s is version %llu; this tunduk reads version %d (upgrade tunduk)",
        path, version, KEYFILE_VERSION);
    goto done;
  }

  id = identity_new(pass != NULL);
  if (!id) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory reading %s", path);
    goto done;
  }
  if ((rc = load_public(&c, root, id)) != 0) goto done;

  /* The secret half is parsed even without a passphrase, so a damaged file
   * is reported on every load, not only on unlock. */
  json_t *kdf = get_object(&c, root, "kdf", &rc);
  if (!kdf) goto done;
  unsigned long long memmax = crypto_pwhash_argon2id_memlimit_max();
  if (memmax > KDF_MEMLIMIT_CAP) memmax = KDF_MEMLIMIT_CAP;
  if ((rc = expect_string(&c, kdf, "kdf", "alg", KDF_ALG)) != 0 ||
      (rc = get_uint(&c, kdf, "kdf", "opslimit", crypto_pwhash_argon2id_opslimit_min(),
                     crypto_pwhash_argon2id_opslimit_max(), &ops)) != 0 ||
      (rc = get_uint(&c, kdf, "kdf", "memlimit", crypto_pwhash_argon2id_memlimit_min(),
                     memmax, &mem)) != 0 ||
      (rc = get_b64(&c, kdf, "kdf", "salt", salt, sizeof salt, sizeof salt, NULL)) != 0)
    goto done;
  json_t *secret = get_object(&c, root, "secret", &rc);
  if (!secret) goto done;
  if ((rc = expect_string(&c, secret, "secret", "aead", AEAD_ALG)) != 0 ||
      (rc = get_b64(&c, secret, "secret", "nonce", nonce, sizeof nonce, sizeof nonce,
                    NULL)) != 0 ||
      (rc = get_b64(&c, secret, "secret", "ciphertext", ct, CT_MIN_LEN, CT_MAX_LEN,
                    &ctlen)) != 0)
    goto done;
  id->kdf_ops = ops;
  id->kdf_mem = (size_t)mem;
  if (!pass) goto done;

  key = tk_secure_alloc(KDF_KEY_LEN);
  pt = tk_secure_alloc(SECRET_MAX_LEN);
  if (!key || !pt) {
    rc = tk_err_set(err, TK_ENOMEM, "out of secure memory reading %s", path);
    goto done;
  }
  if (crypto_pwhash(key, KDF_KEY_LEN, pass, passlen, salt, ops, (size_t)mem,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    rc = tk_err_set(err, TK_ENOMEM, "unlocking %s needs %llu MiB of memory", path,
                    mem >> 20);
    goto done;
  }
  secret_ad(ad, id);
  unsigned long long ptlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &ptlen, NULL, ct, ctlen, ad,
                                                 sizeof ad, nonce, key) != 0) {
    /* The tag cannot tell a wrong passphrase from an altered ciphertext. */
    rc = tk_err_set(err, TK_EPASS,
                    "wrong passphrase for %s (or its secret part was altered)", path);
    goto done;
  }
  /* CT_MIN_LEN..CT_MAX_LEN were checked above. */
  TK_ASSERT(ptlen > SECRET_FIXED_LEN && ptlen <= SECRET_MAX_LEN);
  memcpy(id->sec->sign_sk, pt, TK_SIGN_SK_LEN);
  memcpy(id->sec->kx_sk, pt + TK_SIGN_SK_LEN, TK_KX_SK_LEN);
  id->sec->tls_key_der_len = (size_t)ptlen - SECRET_FIXED_LEN;
  memcpy(id->sec->tls_key_der, pt + SECRET_FIXED_LEN, id->sec->tls_key_der_len);
  rc = check_secret(&c, id);

done:
  if (key) tk_wipe(key, KDF_KEY_LEN);
  if (pt) tk_wipe(pt, SECRET_MAX_LEN);
  tk_secure_free(key);
  tk_secure_free(pt);
  json_decref(root);
  free(text);
  if (rc != 0) {
    tk_identity_free(id);
    id = NULL;
  }
  *out = id;
  return rc;
}
