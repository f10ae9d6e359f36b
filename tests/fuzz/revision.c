/*
 * revision.c (fuzz target "revision"): the revision envelope on arbitrary
 * bytes: tk_rev_parse, then tk_rev_check_id, tk_rev_verify_sig and
 * tk_rev_open with the fixture's vault key, then the opened body through
 * tk_body_parse as an office would. (A delta body, encoding 2, stops at
 * TK_EPARENT here: no base is at hand. The delta decoder's hostile inputs
 * are in tests/unit/test_revision.c.)
 *
 * Structure-aware: a custom mutator (LLVMFuzzerCustomMutator) takes a valid
 * sealed revision from the corpus half of the time, opens it with the
 * fixture key, mutates either the plaintext (encoding byte, zstd frame,
 * JSON) or the header, and seals the result again: body_len fixed up,
 * re-encrypted under the body key of the (possibly mutated) salt, re-signed
 * by the fixture identity named by author_pk. So mutated plaintexts get past
 * the tag and the signature and reach the zstd and JSON decoders, which a
 * byte-level mutator alone never would. The other half are plain libFuzzer
 * mutations (they exercise the parser's limits and truncations).
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "fuzz_fixture.h"
#include "tk_body.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tk_rev_t rev;
  tk_err_t e;
  tk_buf_t plain = TK_BUF_INIT;
  fz_init();
  if (tk_rev_parse(&rev, TK_SLICE(data, size), &e) != 0) {
    TK_ASSERT(e.code == TK_EFORMAT || e.code == TK_ELIMIT);
    return 0;
  }
  /* What parse promises: a view that covers the bytes exactly. */
  TK_ASSERT(rev.bytes.p == data && rev.bytes.n == size);
  TK_ASSERT(rev.header.p == data && rev.ciphertext.p == data + rev.header.n);
  TK_ASSERT(rev.header.n + rev.ciphertext.n + TK_SIG_LEN == size);
  TK_ASSERT(rev.sig == data + size - TK_SIG_LEN);
  TK_ASSERT(rev.generation >= 1 && (rev.nparents == 0) == (rev.generation == 1));
  TK_ASSERT(rev.nparents <= TK_MAX_PARENTS && rev.nattach <= TK_MAX_ATTACH_REFS);
  TK_ASSERT(strlen(rev.type) >= 1 && strlen(rev.vault) >= 1);
  uint8_t id[TK_REV_ID_LEN];
  tk_sha256(id, data, size);
  TK_ASSERT(tk_rev_check_id(&rev, id, &e) == 0);
  id[0] ^= 1;
  TK_ASSERT(tk_rev_check_id(&rev, id, &e) == TK_EHASH);

  int sig_ok = tk_rev_verify_sig(&rev, &e) == 0;
  int rc = tk_rev_open(&rev, fz_vault_key, &plain, &e);
  if (rc == 0) {
    json_t *body = NULL;
    TK_ASSERT(plain.n <= TK_MAX_BODY_JSON);
    if (tk_body_parse(&body, TK_SLICE(plain.p, plain.n), "revision", &e) == 0) {
      char summary[80];
      tk_body_summary(body, summary, sizeof summary);
      json_decref(body);
    }
  } else {
    TK_ASSERT(plain.n == 0);
    /* TK_EPARENT: a delta body (encoding 2), whose base this harness lacks */
    TK_ASSERT(rc == TK_ETAG || rc == TK_EFORMAT || rc == TK_ELIMIT || rc == TK_EPARENT);
  }
  (void)sig_ok;
  tk_buf_wipe(&plain);
  return 0;
}

/* ---- the structure-aware mutator ----------------------------------------------- */

/* Seals header (without its last 4 bytes, body_len) and plaintext into out
 * (at most max bytes). Returns the size, or 0 if it does not fit or the
 * header no longer parses (then the caller falls back to a byte mutation). */
static size_t reseal(uint8_t *out, size_t max, const uint8_t *hdr, size_t hlen,
                     const uint8_t *pt, size_t ptlen)
{
  tk_rev_t rev;
  size_t clen = ptlen + TAG_LEN, total = hlen + 4 + clen + TK_SIG_LEN;
  uint8_t bk[TK_VAULT_KEY_LEN];
  if (total > max || total > TK_MAX_REVISION) return 0;
  memcpy(out, hdr, hlen);
  out[hlen] = (uint8_t)(clen >> 24);
  out[hlen + 1] = (uint8_t)(clen >> 16);
  out[hlen + 2] = (uint8_t)(clen >> 8);
  out[hlen + 3] = (uint8_t)clen;
  memset(out + hlen + 4, 0, clen + TK_SIG_LEN);
  if (tk_rev_parse(&rev, TK_SLICE(out, total), NULL) != 0) return 0;
  fz_body_key(bk, rev.salt);
  unsigned long long got = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + hlen + 4, &got, pt, ptlen, out,
                                             hlen + 4, NULL, rev.nonce, bk);
  const tk_identity_t *author = fz_identity_by_pk(rev.author_pk);
  if (author)
    crypto_sign_detached(out + hlen + 4 + clen, NULL, out, hlen + 4 + clen,
                         author->sec->sign_sk);
  return total;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
                               unsigned int seed)
{
  tk_rev_t rev;
  tk_buf_t plain = TK_BUF_INIT;
  size_t out = 0;
  fz_init();
  if ((seed & 1) || tk_rev_parse(&rev, TK_SLICE(data, size), NULL) != 0)
    return LLVMFuzzerMutate(data, size, max_size);

  /* Open the current plaintext (encoding byte included) ourselves. */
  size_t ptcap = rev.ciphertext.n + 4096;
  uint8_t *pt = malloc(ptcap), *hdr = malloc(rev.header.n + 4096);
  uint8_t bk[TK_VAULT_KEY_LEN];
  unsigned long long ptlen = 0;
  if (!pt || !hdr) goto fallback;
  fz_body_key(bk, rev.salt);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &ptlen, NULL, rev.ciphertext.p,
                                                 rev.ciphertext.n, rev.header.p,
                                                 rev.header.n, rev.nonce, bk) != 0)
    goto fallback;
  size_t hlen = rev.header.n - 4;
  memcpy(hdr, data, hlen);

  switch ((seed >> 1) % 4) {
  case 0: /* the plaintext as it is, encoding byte included */
    ptlen = LLVMFuzzerMutate(pt, (size_t)ptlen, ptcap);
    break;
  case 1: /* the JSON, then compressed: valid zstd frames of mutated bodies */
    if (ptlen > 0 && pt[0] == 1) {
      unsigned long long fs = ZSTD_getFrameContentSize(pt + 1, (size_t)ptlen - 1);
      if (fs > TK_MAX_BODY_JSON) goto fallback;
      uint8_t *json = malloc((size_t)fs + 4096);
      if (!json) goto fallback;
      size_t jn = ZSTD_decompress(json, (size_t)fs, pt + 1, (size_t)ptlen - 1);
      if (ZSTD_isError(jn)) {
        free(json);
        goto fallback;
      }
      jn = LLVMFuzzerMutate(json, jn, (size_t)fs + 4096);
      size_t bound = ZSTD_compressBound(jn);
      uint8_t *np = malloc(1 + bound);
      if (!np) {
        free(json);
        goto fallback;
      }
      np[0] = 1;
      size_t cn = ZSTD_compress(np + 1, bound, json, jn, 1);
      free(json);
      if (ZSTD_isError(cn)) {
        free(np);
        goto fallback;
      }
      free(pt);
      pt = np;
      ptlen = 1 + cn;
    } else {
      ptlen = LLVMFuzzerMutate(pt, (size_t)ptlen, ptcap);
    }
    break;
  case 2: /* the header (record id, names, counts, parents...) */
    hlen = LLVMFuzzerMutate(hdr, hlen, hlen + 4096);
    break;
  default: /* both */
    hlen = LLVMFuzzerMutate(hdr, hlen, hlen + 4096);
    ptlen = LLVMFuzzerMutate(pt, (size_t)ptlen, ptcap);
    break;
  }
  uint8_t *tmp = malloc(max_size);
  if (tmp && (out = reseal(tmp, max_size, hdr, hlen, pt, (size_t)ptlen)) != 0)
    memcpy(data, tmp, out);
  free(tmp);
fallback:
  if (!out) out = LLVMFuzzerMutate(data, size, max_size);
  free(pt);
  free(hdr);
  tk_buf_free(&plain);
  return out;
}
