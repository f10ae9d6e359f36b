/*
 * revision.c: the revision envelope (see tk_revision.h for the encoding).
 *
 * Owns: building a revision from a draft (validate, sort parents, compress,
 * or compress against a parent's body, derive the per-revision body key,
 * encrypt, sign), parsing one back with every length checked against a
 * named limit, checking its signature, id and tag, and opening its body,
 * through its delta chain (at most TK_MAX_DELTA_CHAIN parents, fetched
 * through the caller's tk_rev_source_t).
 *
 * Invariants: tk_rev_seal only emits bytes that tk_rev_parse accepts (both
 * sides apply the same rules); a parsed tk_rev_t is a view into the bytes
 * and is filled only when parsing succeeds; the body key and every copy of
 * the plaintext we make are wiped before the function returns. (zstd's own
 * internal workspaces are freed, not wiped; nothing here can reach them.)
 *
 * Threads: any, after tk_crypto_init(); no shared state (each thread keeps
 * its own zstd decompression context, freed when the thread ends).
 */
#include "tk_revision.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define BODY_KEY_LABEL "tunduk body key v1"
#define ENC_RAW 0
#define ENC_ZSTD 1
#define ENC_DELTA 2 /* u8 parent index, then a zstd frame with the base as prefix */
#define ZSTD_LEVEL 3
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
/* Smallest ciphertext: a one-byte plaintext (the encoding byte) and the tag. */
#define MIN_BODY_LEN (1 + TAG_LEN)
/* Largest ciphertext seal can produce: compression is used only when it is
 * smaller than the JSON, so the plaintext is at most 1 + TK_MAX_BODY_JSON. */
#define MAX_BODY_LEN (1 + TK_MAX_BODY_JSON + TAG_LEN)

_Static_assert(TAG_LEN == 16, "XChaCha20-Poly1305 tag size");
_Static_assert(TK_REV_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
               "nonce size");
_Static_assert(TK_VAULT_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
               "key size");
_Static_assert(TK_SIG_LEN == crypto_sign_BYTES, "signature size");
_Static_assert(TK_SIGN_SK_LEN == crypto_sign_SECRETKEYBYTES, "secret key size");
_Static_assert(TK_SIGN_PK_LEN == crypto_sign_PUBLICKEYBYTES, "public key size");
_Static_assert(TK_MAX_PARENTS <= 255, "nparents is one byte");
_Static_assert(TK_MAX_ATTACH_REFS <= 65535, "nattach is two bytes");
_Static_assert(TK_MAX_TYPE_LEN <= 255 && TK_MAX_VAULT_LEN <= 255, "str8 names");

/* ---- names ----------------------------------------------------------------- */

static int type_char(uint8_t c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int vault_char(uint8_t c)
{
  return type_char(c) || c == '.';
}

/* Checks a name of n bytes: TK_ELIMIT if too long, `bad` if empty or a byte
 * is outside the charset. Returns 0 or the code, with the message set. */
static int check_name(const uint8_t *s, size_t n, size_t max, int (*ok)(uint8_t),
                      const char *field, int bad, tk_err_t *err)
{
  if (n == 0) return tk_err_set(err, bad, "revision: %s is empty", field);
  if (n > max)
    return tk_err_set(err, TK_ELIMIT, "revision: %s is %zu bytes, over the limit of %zu",
                      field, n, max);
  for (size_t i = 0; i < n; i++)
    if (!ok(s[i]))
      return tk_err_set(
          err, bad, "revision: %s has a byte outside its charset at index %zu", field, i);
  return 0;
}

int tk_name_check(const char *kind, const char *s, size_t max, int allow_dot,
                  tk_err_t *err)
{
  size_t n = strlen(s);
  if (n == 0 || n > max)
    return tk_err_set(err, TK_EINVAL, "%s name must be 1 to %zu characters, got %zu",
                      kind, max, n);
  for (size_t i = 0; i < n; i++)
    if (!(allow_dot ? vault_char : type_char)((uint8_t)s[i]))
      return tk_err_set(
          err, TK_EINVAL,
          "%s name '%s': character %zu is not allowed (use a-z, 0-9, '-', '_'%s)", kind,
          s, i + 1, allow_dot ? ", '.'" : "");
  return 0;
}

/* ---- keys ------------------------------------------------------------------ */

/* body key = BLAKE2b-256(key = vault key, "tunduk body key v1" || salt). */
static void body_key_derive(uint8_t bk[TK_VAULT_KEY_LEN],
                            const uint8_t vault_key[TK_VAULT_KEY_LEN],
                            const uint8_t salt[TK_REV_SALT_LEN])
{
  uint8_t msg[sizeof BODY_KEY_LABEL - 1 + TK_REV_SALT_LEN];
  memcpy(msg, BODY_KEY_LABEL, sizeof BODY_KEY_LABEL - 1);
  memcpy(msg + sizeof BODY_KEY_LABEL - 1, salt, TK_REV_SALT_LEN);
  crypto_generichash(bk, TK_VAULT_KEY_LEN, msg, sizeof msg, vault_key, TK_VAULT_KEY_LEN);
}

static int id_cmp(const void *a, const void *b)
{
  return memcmp(a, b, TK_REV_ID_LEN);
}

/* ---- seal ------------------------------------------------------------------ */

/* Checks everything about a draft that does not need the crypto. */
static int draft_check(const tk_rev_draft_t *d, tk_err_t *err)
{
  int rc;
  if (!d->type || !d->vault)
    return tk_err_set(err, TK_EINVAL, "revision: draft has no %s",
                      d->type ? "vault" : "type");
  rc = check_name((const uint8_t *)d->type, strlen(d->type), TK_MAX_TYPE_LEN, type_char,
                  "type", TK_EINVAL, err);
  if (rc) return rc;
  rc = check_name((const uint8_t *)d->vault, strlen(d->vault), TK_MAX_VAULT_LEN,
                  vault_char, "vault", TK_EINVAL, err);
  if (rc) return rc;
  if (d->nparents > TK_MAX_PARENTS)
    return tk_err_set(err, TK_ELIMIT, "revision: %u parents, over the limit of %u",
                      (unsigned)d->nparents, (unsigned)TK_MAX_PARENTS);
  if (d->nattach > TK_MAX_ATTACH_REFS)
    return tk_err_set(err, TK_ELIMIT,
                      "revision: %u attachment refs, over the limit of %u",
                      (unsigned)d->nattach, (unsigned)TK_MAX_ATTACH_REFS);
  if (d->body.n > TK_MAX_BODY_JSON)
    return tk_err_set(err, TK_ELIMIT, "revision: body is %zu bytes, over the limit of %u",
                      d->body.n, (unsigned)TK_MAX_BODY_JSON);
  if ((d->nparents && !d->parents) || (d->nattach && !d->attach) ||
      (d->body.n && !d->body.p))
    return tk_err_set(err, TK_EINVAL, "revision: draft has a count without its array");
  if (d->base_id && (d->base.n > TK_MAX_BODY_JSON || (d->base.n && !d->base.p)))
    return tk_err_set(err, TK_EINVAL, "revision: the base body is missing or too large");
  if (d->hlc > (uint64_t)INT64_MAX)
    return tk_err_set(err, TK_ELIMIT, "revision: hlc is over the limit of 2^63-1");
  if (d->generation == 0)
    return tk_err_set(err, TK_EINVAL, "revision: generation must be at least 1");
  if (d->nparents == 0 && d->generation != 1)
    return tk_err_set(err, TK_EINVAL,
                      "revision: generation %u without parents (a first revision is 1)",
                      (unsigned)d->generation);
  if (d->nparents > 0 && d->generation < 2)
    return tk_err_set(err, TK_EINVAL, "revision: generation 1 with %u parents",
                      (unsigned)d->nparents);
  return 0;
}

/* Writes ENC_DELTA, base_index and body compressed with base as its
 * prefix into plain, which must be empty: 0, or 1 if zstd fails (no delta
 * then). The caller wipes plain. */
static int delta_build(tk_buf_t *plain, tk_slice_t body, tk_slice_t base,
                       uint8_t base_index, tk_err_t *err)
{
  size_t bound = ZSTD_compressBound(body.n);
  int rc = tk_buf_reserve(plain, 2 + bound);
  if (rc) return tk_err_set(err, rc, "revision: no memory for the plaintext");
  /* zstd wants the prefix apart from the input: a base that overlaps the
   * body (the same bytes, say) is copied first. */
  tk_buf_t copy = TK_BUF_INIT;
  if (base.n && body.n && base.p < body.p + body.n && body.p < base.p + base.n) {
    if (tk_buf_append(&copy, base.p, base.n) != 0)
      return tk_err_set(err, TK_ENOMEM, "revision: no memory for the base");
    base = TK_SLICE(copy.p, copy.n);
  }
  ZSTD_CCtx *cctx = ZSTD_createCCtx();
  if (!cctx) {
    tk_buf_wipe(&copy);
    return tk_err_set(err, TK_ENOMEM, "revision: no memory for zstd");
  }
  size_t csize = ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, ZSTD_LEVEL);
  if (!ZSTD_isError(csize))
    csize = ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1); /* a wrong base shows */
  if (!ZSTD_isError(csize)) csize = ZSTD_CCtx_refPrefix(cctx, base.p, base.n);
  if (!ZSTD_isError(csize))
    csize = ZSTD_compress2(cctx, plain->p + 2, bound, body.p, body.n);
  ZSTD_freeCCtx(cctx);
  tk_buf_wipe(&copy);
  if (ZSTD_isError(csize)) return 1;
  plain->p[0] = ENC_DELTA;
  plain->p[1] = base_index;
  plain->n = 2 + csize;
  return 0;
}

/* Writes the encoding byte and the body (compressed when that is smaller)
 * into plain, which must be empty. The caller wipes plain. */
static int plaintext_build(tk_buf_t *plain, tk_slice_t body, tk_err_t *err)
{
  size_t bound = ZSTD_compressBound(body.n);
  int rc = tk_buf_reserve(plain, 1 + (bound > body.n ? bound : body.n));
  if (rc) return tk_err_set(err, rc, "revision: no memory for the plaintext");
  size_t csize =
      body.n ? ZSTD_compress(plain->p + 1, bound, body.p, body.n, ZSTD_LEVEL) : 0;
  if (body.n && !ZSTD_isError(csize) && csize < body.n) {
    plain->p[0] = ENC_ZSTD;
    plain->n = 1 + csize;
  } else {
    plain->p[0] = ENC_RAW;
    if (body.n) memcpy(plain->p + 1, body.p, body.n);
    plain->n = 1 + body.n;
  }
  return 0;
}

int tk_rev_seal(tk_buf_t *out, const tk_rev_draft_t *d,
                const uint8_t vault_key[TK_VAULT_KEY_LEN],
                const uint8_t sign_sk[TK_SIGN_SK_LEN], tk_err_t *err)
{
  uint8_t parents[TK_MAX_PARENTS][TK_REV_ID_LEN];
  uint8_t salt[TK_REV_SALT_LEN], nonce[TK_REV_NONCE_LEN], key_id[TK_KEY_ID_LEN];
  uint8_t author_pk[TK_SIGN_PK_LEN];
  uint8_t bk[TK_VAULT_KEY_LEN];
  tk_buf_t plain = TK_BUF_INIT;
  size_t start = out->n;
  int rc = draft_check(d, err);
  if (rc) goto done;

  /* Parents ascending, and distinct (equal ids end up adjacent). */
  if (d->nparents) memcpy(parents, d->parents, (size_t)d->nparents * TK_REV_ID_LEN);
  qsort(parents, d->nparents, TK_REV_ID_LEN, id_cmp);
  for (uint32_t i = 1; i < d->nparents; i++) {
    if (memcmp(parents[i - 1], parents[i], TK_REV_ID_LEN) == 0) {
      rc = tk_err_set(err, TK_EINVAL, "revision: a parent is named twice");
      goto done;
    }
  }

  rc = plaintext_build(&plain, d->body, err);
  if (rc) goto done;
  if (d->base_id) {
    uint8_t(*b)[TK_REV_ID_LEN] =
        bsearch(d->base_id, parents, d->nparents, TK_REV_ID_LEN, id_cmp);
    if (!b) {
      rc = tk_err_set(err, TK_EINVAL, "revision: the base is not one of the parents");
      goto done;
    }
    if (d->base_depth < TK_MAX_DELTA_CHAIN) {
      tk_buf_t delta = TK_BUF_INIT;
      rc = delta_build(&delta, d->body, d->base, (uint8_t)(b - parents), err);
      if (rc == 0 && delta.n < plain.n) {
        tk_buf_t t = plain;
        plain = delta;
        delta = t;
      }
      tk_buf_wipe(&delta);
      if (rc < 0) goto done;
      rc = 0;
    }
  }

  size_t type_len = strlen(d->type), vault_len = strlen(d->vault);
  size_t hlen = 4 + TK_RECORD_ID_LEN + TK_SIGN_PK_LEN + 8 + 4 + 1 + type_len + 1 +
                vault_len + TK_KEY_ID_LEN + TK_REV_SALT_LEN + TK_REV_NONCE_LEN + 1 +
                (size_t)d->nparents * TK_REV_ID_LEN + 2 +
                (size_t)d->nattach * TK_REV_ID_LEN + 4;
  size_t clen = plain.n + TAG_LEN;
  size_t total = hlen + clen + TK_SIG_LEN;
  if (total > TK_MAX_REVISION) {
    rc = tk_err_set(err, TK_ELIMIT,
                    "revision: encoding is %zu bytes, over the limit of %u", total,
                    (unsigned)TK_MAX_REVISION);
    goto done;
  }
  rc = tk_buf_reserve(out, total);
  if (rc) {
    tk_err_set(err, rc, "revision: no memory for the encoding");
    goto done;
  }

  tk_random(salt, sizeof salt);
  tk_random(nonce, sizeof nonce);
  tk_vault_key_id(key_id, vault_key);
  crypto_sign_ed25519_sk_to_pk(author_pk, sign_sk);

  /* The header. Room is reserved, so these appends cannot fail. */
  tk_buf_append(out, TK_REV_MAGIC, 4);
  tk_buf_append(out, d->record_id, TK_RECORD_ID_LEN);
  tk_buf_append(out, author_pk, sizeof author_pk);
  tk_buf_append_u64be(out, d->hlc);
  tk_buf_append_u32be(out, d->generation);
  tk_buf_append_u8(out, (uint8_t)type_len);
  tk_buf_append(out, d->type, type_len);
  tk_buf_append_u8(out, (uint8_t)vault_len);
  tk_buf_append(out, d->vault, vault_len);
  tk_buf_append(out, key_id, sizeof key_id);
  tk_buf_append(out, salt, sizeof salt);
  tk_buf_append(out, nonce, sizeof nonce);
  tk_buf_append_u8(out, (uint8_t)d->nparents);
  tk_buf_append(out, parents, (size_t)d->nparents * TK_REV_ID_LEN);
  tk_buf_append_u16be(out, (uint16_t)d->nattach);
  tk_buf_append(out, d->attach, (size_t)d->nattach * TK_REV_ID_LEN);
  tk_buf_append_u32be(out, (uint32_t)clen);
  TK_ASSERT(out->n - start == hlen);

  body_key_derive(bk, vault_key, salt);
  unsigned long long got = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out->p + out->n, &got, plain.p, plain.n,
                                             out->p + start, hlen, NULL, nonce, bk);
  TK_ASSERT(got == clen);
  out->n += clen;
  if (crypto_sign_detached(out->p + out->n, NULL, out->p + start, hlen + clen, sign_sk) !=
      0) {
    rc = tk_err_set(err, TK_ECRYPTO, "revision: signing failed");
    goto done;
  }
  out->n += TK_SIG_LEN;
  out->p[out->n] = 0; /* keep tk_buf_t's trailing NUL */
  TK_ASSERT(out->n - start == total);
  rc = 0;

done:
  tk_wipe(bk, sizeof bk);
  tk_buf_wipe(&plain);
  if (rc) out->n = start;
  return rc;
}

/* ---- parse ----------------------------------------------------------------- */

/* Reports a short read of field. */
static int truncated(const tk_reader_t *r, const char *field, tk_err_t *err)
{
  return tk_err_set(err, TK_EFORMAT, "revision: truncated in %s at offset %zu", field,
                    r->off);
}

#define READ_OR_FAIL(field)                                                              \
  do {                                                                                   \
    if (!r.ok) {                                                                         \
      rc = truncated(&r, field, err);                                                    \
      goto done;                                                                         \
    }                                                                                    \
  } while (0)

int tk_rev_parse(tk_rev_t *rev, tk_slice_t bytes, tk_err_t *err)
{
  tk_rev_t v;
  tk_reader_t r;
  tk_slice_t s;
  int rc = 0;
  memset(&v, 0, sizeof v);
  if (bytes.n > TK_MAX_REVISION) {
    rc = tk_err_set(err, TK_ELIMIT, "revision: %zu bytes, over the limit of %u", bytes.n,
                    (unsigned)TK_MAX_REVISION);
    goto done;
  }
  if (!bytes.p && bytes.n) {
    rc = tk_err_set(err, TK_EINVAL, "revision: no bytes");
    goto done;
  }
  tk_reader_init(&r, bytes);
  v.bytes = bytes;

  s = tk_read_bytes(&r, 4);
  READ_OR_FAIL("magic");
  if (memcmp(s.p, TK_REV_MAGIC, 4) != 0) {
    rc = tk_err_set(err, TK_EFORMAT, "revision: bad magic (not a TKR1 revision)");
    goto done;
  }
  s = tk_read_bytes(&r, TK_RECORD_ID_LEN);
  READ_OR_FAIL("record_id");
  memcpy(v.record_id, s.p, TK_RECORD_ID_LEN);
  v.author_pk = tk_read_bytes(&r, TK_SIGN_PK_LEN).p;
  READ_OR_FAIL("author_pk");
  v.hlc = tk_read_u64be(&r);
  READ_OR_FAIL("hlc");
  if (v.hlc > (uint64_t)INT64_MAX) { /* the store's bound: a signed 64-bit column */
    rc = tk_err_set(err, TK_ELIMIT, "revision: hlc %llu is over the limit of 2^63-1",
                    (unsigned long long)v.hlc);
    goto done;
  }
  v.generation = tk_read_u32be(&r);
  READ_OR_FAIL("generation");
  if (v.generation == 0) {
    rc = tk_err_set(err, TK_EFORMAT, "revision: generation is 0 (must be at least 1)");
    goto done;
  }

  size_t n = tk_read_u8(&r);
  READ_OR_FAIL("type length");
  if (n > TK_MAX_TYPE_LEN) { /* before reading, so the limit wins over truncation */
    rc = check_name(NULL, n, TK_MAX_TYPE_LEN, type_char, "type", TK_EFORMAT, err);
    goto done;
  }
  s = tk_read_bytes(&r, n);
  READ_OR_FAIL("type");
  rc = check_name(s.p, n, TK_MAX_TYPE_LEN, type_char, "type", TK_EFORMAT, err);
  if (rc) goto done;
  memcpy(v.type, s.p, n);
  v.type[n] = '\0';

  n = tk_read_u8(&r);
  READ_OR_FAIL("vault length");
  if (n > TK_MAX_VAULT_LEN) {
    rc = check_name(NULL, n, TK_MAX_VAULT_LEN, vault_char, "vault", TK_EFORMAT, err);
    goto done;
  }
  s = tk_read_bytes(&r, n);
  READ_OR_FAIL("vault");
  rc = check_name(s.p, n, TK_MAX_VAULT_LEN, vault_char, "vault", TK_EFORMAT, err);
  if (rc) goto done;
  memcpy(v.vault, s.p, n);
  v.vault[n] = '\0';

  s = tk_read_bytes(&r, TK_KEY_ID_LEN);
  READ_OR_FAIL("key_id");
  memcpy(v.key_id, s.p, TK_KEY_ID_LEN);
  v.salt = tk_read_bytes(&r, TK_REV_SALT_LEN).p;
  READ_OR_FAIL("salt");
  v.nonce = tk_read_bytes(&r, TK_REV_NONCE_LEN).p;
  READ_OR_FAIL("nonce");

  v.nparents = tk_read_u8(&r);
  READ_OR_FAIL("nparents");
  if (v.nparents > TK_MAX_PARENTS) {
    rc = tk_err_set(err, TK_ELIMIT, "revision: %u parents, over the limit of %u",
                    (unsigned)v.nparents, (unsigned)TK_MAX_PARENTS);
    goto done;
  }
  if (v.nparents == 0 && v.generation != 1) {
    rc = tk_err_set(err, TK_EFORMAT, "revision: generation %u without parents",
                    (unsigned)v.generation);
    goto done;
  }
  if (v.nparents > 0 && v.generation < 2) {
    rc = tk_err_set(err, TK_EFORMAT, "revision: generation 1 with %u parents",
                    (unsigned)v.nparents);
    goto done;
  }
  v.parents = tk_read_bytes(&r, (size_t)v.nparents * TK_REV_ID_LEN).p;
  READ_OR_FAIL("parents");
  for (uint32_t i = 1; i < v.nparents; i++) {
    if (memcmp(v.parents + (i - 1) * TK_REV_ID_LEN, v.parents + i * TK_REV_ID_LEN,
               TK_REV_ID_LEN) >= 0) {
      rc =
          tk_err_set(err, TK_EFORMAT,
                     "revision: parents not in ascending order at index %u", (unsigned)i);
      goto done;
    }
  }

  v.nattach = tk_read_u16be(&r);
  READ_OR_FAIL("nattach");
  if (v.nattach > TK_MAX_ATTACH_REFS) {
    rc = tk_err_set(err, TK_ELIMIT, "revision: %u attachment refs, over the limit of %u",
                    (unsigned)v.nattach, (unsigned)TK_MAX_ATTACH_REFS);
    goto done;
  }
  v.attach = tk_read_bytes(&r, (size_t)v.nattach * TK_REV_ID_LEN).p;
  READ_OR_FAIL("attachment refs");

  uint32_t body_len = tk_read_u32be(&r);
  READ_OR_FAIL("body_len");
  v.header = TK_SLICE(bytes.p, r.off);
  if (body_len > MAX_BODY_LEN) {
    rc = tk_err_set(err, TK_ELIMIT, "revision: body_len %u, over the limit of %u",
                    (unsigned)body_len, (unsigned)MAX_BODY_LEN);
    goto done;
  }
  if (body_len < MIN_BODY_LEN) {
    rc = tk_err_set(err, TK_EFORMAT, "revision: body_len %u, under the minimum of %u",
                    (unsigned)body_len, (unsigned)MIN_BODY_LEN);
    goto done;
  }
  size_t left = bytes.n - r.off;
  if (left != (size_t)body_len + TK_SIG_LEN) {
    rc = tk_err_set(
        err, TK_EFORMAT,
        left < (size_t)body_len + TK_SIG_LEN
            ? "revision: truncated: body_len %u and signature need %zu bytes, %zu left"
            : "revision: trailing bytes: body_len %u and signature need %zu bytes, "
              "%zu left",
        (unsigned)body_len, (size_t)body_len + TK_SIG_LEN, left);
    goto done;
  }
  v.ciphertext = tk_read_bytes(&r, body_len);
  v.sig = tk_read_bytes(&r, TK_SIG_LEN).p;
  TK_ASSERT(r.ok && r.off == bytes.n);

  tk_sha256(v.id, bytes.p, bytes.n);
  tk_device_id_from_pk(v.author, v.author_pk);
  *rev = v;
  rc = 0;

done:
  return rc;
}

#undef READ_OR_FAIL

/* ---- checks ---------------------------------------------------------------- */

int tk_rev_verify_sig(const tk_rev_t *rev, tk_err_t *err)
{
  size_t signed_len = rev->header.n + rev->ciphertext.n;
  TK_ASSERT(rev->bytes.n == signed_len + TK_SIG_LEN &&
            rev->sig == rev->bytes.p + signed_len);
  if (crypto_sign_verify_detached(rev->sig, rev->bytes.p, signed_len, rev->author_pk) !=
      0) {
    char hex[2 * TK_REV_ID_LEN + 1];
    tk_hex_encode(hex, rev->id, TK_REV_ID_LEN);
    return tk_err_set(err, TK_ESIG, "revision %s: signature does not verify", hex);
  }
  return 0;
}

int tk_rev_check_id(const tk_rev_t *rev, const uint8_t expect[TK_REV_ID_LEN],
                    tk_err_t *err)
{
  if (!tk_ct_equal(rev->id, expect, TK_REV_ID_LEN)) {
    char hex[2 * TK_REV_ID_LEN + 1];
    tk_hex_encode(hex, expect, TK_REV_ID_LEN);
    return tk_err_set(err, TK_EHASH, "revision %s: bytes do not hash to this id", hex);
  }
  return 0;
}

/* ---- open ------------------------------------------------------------------ */

/* A zstd context per thread: ZSTD_decompress would allocate (and fault in)
 * some 100 KiB for every body. NULL if one cannot be had. */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static int dctx_key_ok;

static void dctx_free(void *p)
{
  ZSTD_freeDCtx(p);
}

static void dctx_init(void)
{
  dctx_key_ok = pthread_key_create(&dctx_key, dctx_free) == 0;
}

static ZSTD_DCtx *dctx_get(void)
{
  pthread_once(&dctx_once, dctx_init);
  if (!dctx_key_ok) return NULL;
  ZSTD_DCtx *d = pthread_getspecific(dctx_key);
  if (!d && (d = ZSTD_createDCtx()) != NULL && pthread_setspecific(dctx_key, d) != 0) {
    ZSTD_freeDCtx(d);
    d = NULL;
  }
  return d;
}

/* Decompresses one zstd frame (the whole of src) onto plain; with base
 * (base.p not NULL) as its raw-content prefix. The frame must state its
 * size, at most TK_MAX_BODY_JSON, before anything is decompressed. */
static int unzstd(tk_buf_t *plain, tk_slice_t src, tk_slice_t base, const char *hex,
                  tk_err_t *err)
{
  unsigned long long size = ZSTD_getFrameContentSize(src.p, src.n);
  if (size == ZSTD_CONTENTSIZE_ERROR)
    return tk_err_set(err, TK_EFORMAT, "revision %s: body is not a zstd frame", hex);
  if (size == ZSTD_CONTENTSIZE_UNKNOWN)
    return tk_err_set(err, TK_ELIMIT, "revision %s: zstd body does not state its size",
                      hex);
  if (size > TK_MAX_BODY_JSON)
    return tk_err_set(err, TK_ELIMIT,
                      "revision %s: zstd body claims %llu bytes, over the limit of %u",
                      hex, size, (unsigned)TK_MAX_BODY_JSON);
  size_t fsize = ZSTD_findFrameCompressedSize(src.p, src.n);
  if (ZSTD_isError(fsize) || fsize != src.n)
    return tk_err_set(err, TK_EFORMAT, "revision %s: body is not exactly one zstd frame",
                      hex);
  int rc = tk_buf_reserve(plain, (size_t)size);
  if (rc) return tk_err_set(err, rc, "revision %s: no memory for the body", hex);
  ZSTD_DCtx *dctx = dctx_get();
  size_t got;
  if (!base.p) {
    got = dctx
              ? ZSTD_decompressDCtx(dctx, plain->p + plain->n, (size_t)size, src.p, src.n)
              : ZSTD_decompress(plain->p + plain->n, (size_t)size, src.p, src.n);
  } else if (!dctx) {
    return tk_err_set(err, TK_ENOMEM, "revision %s: no memory for zstd", hex);
  } else {
    /* The prefix is for this frame only; the reset drops it whatever happened. */
    got = ZSTD_DCtx_refPrefix(dctx, base.p, base.n);
    if (!ZSTD_isError(got))
      got = ZSTD_decompressDCtx(dctx, plain->p + plain->n, (size_t)size, src.p, src.n);
    ZSTD_DCtx_reset(dctx, ZSTD_reset_session_and_parameters);
  }
  if (ZSTD_isError(got) || got != size)
    return tk_err_set(err, TK_EFORMAT,
                      "revision %s: zstd body does not decompress to %llu bytes%s", hex,
                      size, base.p ? " (against its base)" : "");
  plain->n += got;
  plain->p[plain->n] = 0;
  return 0;
}

/* Decrypts rev's plaintext (the encoding byte and what follows) into inner,
 * which must be empty. The caller wipes inner. */
static int decrypt_inner(const tk_rev_t *rev, const uint8_t vault_key[TK_VAULT_KEY_LEN],
                         tk_buf_t *inner, const char *hex, tk_err_t *err)
{
  uint8_t bk[TK_VAULT_KEY_LEN];
  if (rev->ciphertext.n < MIN_BODY_LEN) /* parse guarantees this; stay safe anyway */
    return tk_err_set(err, TK_EFORMAT, "revision %s: ciphertext too short", hex);
  int rc = tk_buf_reserve(inner, rev->ciphertext.n - TAG_LEN);
  if (rc) return tk_err_set(err, rc, "revision %s: no memory for the body", hex);
  body_key_derive(bk, vault_key, rev->salt);
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(inner->p, &mlen, NULL, rev->ciphertext.p,
                                                 rev->ciphertext.n, rev->header.p,
                                                 rev->header.n, rev->nonce, bk) != 0)
    rc = tk_err_set(err, TK_ETAG,
                    "revision %s: body does not decrypt (wrong key or altered)", hex);
  tk_wipe(bk, sizeof bk);
  if (rc) return rc;
  inner->n = (size_t)mlen;
  if (inner->n == 0) /* MIN_BODY_LEN guarantees the byte; stay safe anyway */
    return tk_err_set(err, TK_EFORMAT, "revision %s: body has no encoding byte", hex);
  switch (inner->p[0]) {
  case ENC_RAW:
  case ENC_ZSTD:
    return 0;
  case ENC_DELTA:
    if (inner->n < 2)
      return tk_err_set(err, TK_EFORMAT, "revision %s: delta body names no parent", hex);
    if (inner->p[1] >= rev->nparents)
      return tk_err_set(err, TK_EFORMAT, "revision %s: delta body names parent %u of %u",
                        hex, (unsigned)inner->p[1], (unsigned)rev->nparents);
    return 0;
  default:
    return tk_err_set(err, TK_EFORMAT, "revision %s: unknown body encoding %u", hex,
                      (unsigned)inner->p[0]);
  }
}

/* The body of one decrypted plaintext onto plain: base is the body of the
 * parent a delta names (unused otherwise). */
static int decode_inner(tk_slice_t inner, tk_slice_t base, tk_buf_t *plain,
                        const char *hex, tk_err_t *err)
{
  tk_slice_t body = TK_SLICE(inner.p + 1, inner.n - 1);
  switch (inner.p[0]) {
  case ENC_RAW:
    if (body.n > TK_MAX_BODY_JSON)
      return tk_err_set(err, TK_ELIMIT,
                        "revision %s: body is %zu bytes, over the limit of %u", hex,
                        body.n, (unsigned)TK_MAX_BODY_JSON);
    if (tk_buf_append(plain, body.p, body.n) != 0)
      return tk_err_set(err, TK_ENOMEM, "revision %s: no memory for the body", hex);
    return 0;
  case ENC_ZSTD:
    return unzstd(plain, body, TK_SLICE(NULL, 0), hex, err);
  default: /* ENC_DELTA: decrypt_inner let nothing else through */
    body = TK_SLICE(inner.p + 2, inner.n - 2);
    /* A zstd frame (magic 28 b5 2f fd) whose descriptor sets the checksum
     * flag: a base other than the author's then fails, never decodes to a
     * wrong body. */
    if (body.n < 5 || memcmp(body.p, "\x28\xb5\x2f\xfd", 4) != 0 || !(body.p[4] & 0x04))
      return tk_err_set(err, TK_EFORMAT,
                        "revision %s: delta body is not a zstd frame with a checksum",
                        hex);
    if (!base.p) base = TK_SLICE((const uint8_t *)"", 0);
    return unzstd(plain, body, base, hex, err);
  }
}

/* One level of a delta chain: the revision's id and its decrypted
 * plaintext. */
typedef struct chain_level {
  uint8_t id[TK_REV_ID_LEN];
  tk_buf_t inner;
} chain_level_t;

/* Fetches parent pid of child into bytes (empty), checks that they hash to
 * pid and are of the child's record, vault and type, parses them into *prev
 * and decrypts its plaintext into next. */
static int chain_fetch(const tk_rev_source_t *src, const tk_rev_t *child,
                       const uint8_t *pid, const uint8_t vault_key[TK_VAULT_KEY_LEN],
                       tk_buf_t *bytes, tk_rev_t *prev, chain_level_t *next,
                       tk_err_t *err)
{
  uint8_t *pkey = NULL;
  char phex[2 * TK_REV_ID_LEN + 1];
  tk_hex_encode(phex, pid, TK_REV_ID_LEN);
  int rc = src->fetch(src->ctx, pid, bytes, err);
  if (rc == TK_ENOTFOUND) tk_err_set(err, rc, "it is not here");
  if (!rc) rc = tk_rev_parse(prev, TK_SLICE(bytes->p, bytes->n), err);
  if (!rc) rc = tk_rev_check_id(prev, pid, err);
  if (!rc &&
      (memcmp(prev->record_id, child->record_id, TK_RECORD_ID_LEN) != 0 ||
       strcmp(prev->vault, child->vault) != 0 || strcmp(prev->type, child->type) != 0))
    rc = tk_err_set(err, TK_EFORMAT, "it belongs to another record, vault or type");
  if (!rc && src->key) {
    pkey = tk_secure_alloc(TK_VAULT_KEY_LEN);
    rc = pkey ? src->key(src->ctx, prev->vault, prev->key_id, pkey, err)
              : tk_err_set(err, TK_ENOMEM, "no locked memory for a key");
  }
  if (!rc) rc = decrypt_inner(prev, pkey ? pkey : vault_key, &next->inner, phex, err);
  if (!rc) memcpy(next->id, pid, TK_REV_ID_LEN);
  tk_secure_free(pkey);
  return rc;
}

/* Names the revision and the parent of its chain that failed in front of
 * why it failed. */
static int chain_error(const char *hex, const uint8_t parent[TK_REV_ID_LEN],
                       uint32_t level, int rc, tk_err_t *err)
{
  char phex[2 * TK_REV_ID_LEN + 1], why[sizeof err->msg];
  tk_hex_encode(phex, parent, TK_REV_ID_LEN);
  snprintf(why, sizeof why, "%s", err->msg);
  return tk_err_set(err, rc == TK_ENOMEM || rc == TK_ELIMIT ? rc : TK_EPARENT,
                    "revision %s: its body is a delta on parent %s (%u up its chain), "
                    "which cannot be read: %.300s",
                    hex, phex, (unsigned)level, why);
}

int tk_rev_open_chain(const tk_rev_t *rev, const uint8_t vault_key[TK_VAULT_KEY_LEN],
                      const tk_rev_source_t *src, tk_buf_t *plain, uint32_t *depth,
                      tk_err_t *err)
{
  chain_level_t lv[TK_MAX_DELTA_CHAIN + 1];
  tk_buf_t bodies[2] = {TK_BUF_INIT, TK_BUF_INIT};
  tk_buf_t bytes[2] = {TK_BUF_INIT, TK_BUF_INIT}; /* the child's, the parent's */
  tk_rev_t revs[2];
  tk_err_t e;
  char hex[2 * TK_REV_ID_LEN + 1];
  size_t start = plain->n;
  uint32_t top = 0;
  int rc;
  memset(lv, 0, sizeof lv);
  tk_err_clear(&e);
  if (!err) err = &e;
  tk_hex_encode(hex, rev->id, TK_REV_ID_LEN);
  memcpy(lv[0].id, rev->id, TK_REV_ID_LEN);
  rc = decrypt_inner(rev, vault_key, &lv[0].inner, hex, err);

  /* Up the chain until a full body: level k + 1 is the base of level k. */
  const tk_rev_t *child = rev;
  while (!rc && lv[top].inner.p[0] == ENC_DELTA) {
    const uint8_t *pid = child->parents + (size_t)lv[top].inner.p[1] * TK_REV_ID_LEN;
    char phex[2 * TK_REV_ID_LEN + 1];
    tk_hex_encode(phex, top == TK_MAX_DELTA_CHAIN ? lv[top].id : pid, TK_REV_ID_LEN);
    if (top == TK_MAX_DELTA_CHAIN) {
      rc = tk_err_set(err, TK_ELIMIT,
                      "revision %s: its delta chain is longer than %u (parent %s, %u up "
                      "its chain, is itself a delta)",
                      hex, (unsigned)TK_MAX_DELTA_CHAIN, phex, (unsigned)top);
      break;
    }
    if (!src) {
      rc = tk_err_set(err, TK_EPARENT,
                      "revision %s: its body is a delta on parent %s, not available here",
                      hex, phex);
      break;
    }
    tk_buf_t *b = &bytes[(top + 1) % 2];
    b->n = 0;
    rc = chain_fetch(src, child, pid, vault_key, b, &revs[(top + 1) % 2], &lv[top + 1],
                     err);
    if (rc) {
      rc = chain_error(hex, pid, top + 1, rc, err);
      break;
    }
    top++;
    child = &revs[top % 2]; /* a view into b; the old child's bytes are reused next */
  }
  tk_buf_free(&bytes[0]);
  tk_buf_free(&bytes[1]);

  /* Down again: each level's body is the base of the one below. */
  for (uint32_t k = top + 1; !rc && k-- > 0;) {
    tk_buf_t *out = k == 0 ? plain : &bodies[k % 2];
    tk_buf_t *base = &bodies[(k + 1) % 2];
    char lhex[2 * TK_REV_ID_LEN + 1];
    tk_hex_encode(lhex, lv[k].id, TK_REV_ID_LEN);
    rc = decode_inner(TK_SLICE(lv[k].inner.p, lv[k].inner.n),
                      k == top ? TK_SLICE(NULL, 0) : TK_SLICE(base->p, base->n), out,
                      lhex, err);
    if (rc && k > 0) rc = chain_error(hex, lv[k].id, k, rc, err);
    if (k < top) tk_buf_wipe(base);
  }
  if (!rc && depth) *depth = top;

  for (uint32_t k = 0; k <= TK_MAX_DELTA_CHAIN; k++)
    tk_buf_wipe(&lv[k].inner);
  tk_buf_wipe(&bodies[0]);
  tk_buf_wipe(&bodies[1]);
  if (rc && plain->p) {
    /* Leave plain as it was, and leave no partial plaintext behind. */
    tk_wipe(plain->p + start, plain->cap - start);
    plain->n = start;
  }
  return rc;
}

int tk_rev_open(const tk_rev_t *rev, const uint8_t vault_key[TK_VAULT_KEY_LEN],
                tk_buf_t *plain, tk_err_t *err)
{
  return tk_rev_open_chain(rev, vault_key, NULL, plain, NULL, err);
}

/* ---- order ----------------------------------------------------------------- */

int tk_rev_winner_cmp(uint32_t gen_a, const uint8_t id_a[TK_REV_ID_LEN], uint32_t gen_b,
                      const uint8_t id_b[TK_REV_ID_LEN])
{
  if (gen_a != gen_b) return gen_a > gen_b ? 1 : -1;
  int c = memcmp(id_a, id_b, TK_REV_ID_LEN);
  return c > 0 ? 1 : c < 0 ? -1 : 0;
}
