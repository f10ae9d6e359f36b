/*
 * test_vectors.c: the implementation against the committed protocol
 * vectors (the JSON files in proto/vectors, written by tests/tools/tk_vectors.c).
 * Every id is recomputed, every signature verified, every body decrypted
 * and compared, so a vector changed by hand (or an implementation that
 * drifted from the bytes it once wrote) fails here. it_vectors_python
 * checks the same files from PROTOCOL.md's text alone.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "tk_attach.h"
#include "tk_crypto.h"
#include "tk_grant.h"
#include "tk_member.h"
#include "tk_peer_identity.h"
#include "tk_revision.h"
#include "tk_test.h"
#include "tk_token.h"

static json_t *load(const char *name)
{
  const char *src = getenv("TK_SOURCE_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/proto/vectors/%s", src ? src : ".", name);
  json_error_t je;
  json_t *j = json_load_file(path, 0, &je);
  if (!j) fprintf(stderr, "%s: %s (line %d)\n", path, je.text, je.line);
  return j;
}

/* Decodes the hex string j into a fresh buffer (NULL if j is not hex). */
static uint8_t *unhex(const json_t *j, size_t *n)
{
  const char *s = json_string_value(j);
  if (!s) return NULL;
  size_t len = strlen(s);
  uint8_t *out = malloc(len / 2 + 1);
  size_t got = 0;
  if (!out || sodium_hex2bin(out, len / 2 + 1, s, len, NULL, &got, NULL) != 0 ||
      got * 2 != len) {
    free(out);
    return NULL;
  }
  *n = got;
  return out;
}

/* 1 if the hex string j is exactly the n bytes at p. */
static int hex_eq(const json_t *j, const void *p, size_t n)
{
  size_t m = 0;
  uint8_t *b = unhex(j, &m);
  int ok = b && m == n && memcmp(b, p, n) == 0;
  free(b);
  return ok;
}

static int hexfield(const json_t *o, const char *key, uint8_t *out, size_t n)
{
  size_t m = 0;
  uint8_t *b = unhex(json_object_get(o, key), &m);
  int ok = b && m == n;
  if (ok) memcpy(out, b, n);
  free(b);
  return ok;
}

static void test_identities(void)
{
  json_t *j = load("identities.json");
  CHECK(j);
  json_t *devs = json_object_get(j, "devices");
  CHECK(json_array_size(devs) == 3);
  size_t i;
  json_t *d;
  json_array_foreach(devs, i, d)
  {
    uint8_t seed[32], pk[32], sk[64], kx_seed[32], kx_pk[32], kx_sk[32], sig[64], id[32];
    CHECK(hexfield(d, "sign_seed", seed, 32) && hexfield(d, "kx_seed", kx_seed, 32));
    CHECK(hexfield(d, "kx_sig", sig, 64));
    CHECK(crypto_sign_seed_keypair(pk, sk, seed) == 0);
    CHECK(hex_eq(json_object_get(d, "sign_pk"), pk, 32));
    CHECK(hex_eq(json_object_get(d, "sign_sk"), sk, 64));
    CHECK(crypto_box_seed_keypair(kx_pk, kx_sk, kx_seed) == 0);
    CHECK(hex_eq(json_object_get(d, "kx_pk"), kx_pk, 32));
    CHECK(hex_eq(json_object_get(d, "kx_sk"), kx_sk, 32));
    CHECK_RC(tk_kx_verify(pk, kx_pk, sig), 0);
    tk_device_id_from_pk(id, pk);
    CHECK(hex_eq(json_object_get(d, "device_id"), id, 32));
    char printed[TK_DEVICE_ID_STRLEN];
    tk_device_id_format(printed, id);
    CHECK(strcmp(printed, json_string_value(json_object_get(d, "device_id_printed"))) ==
          0);
    uint8_t back[32];
    CHECK_RC(tk_device_id_parse(back, printed), 0);
    CHECK(memcmp(back, id, 32) == 0);
  }
  json_decref(j);
}

static void test_token(void)
{
  json_t *j = load("token.json");
  CHECK(j);
  json_t *f = json_object_get(j, "fields");
  tk_token_t t;
  tk_err_t err;
  CHECK_RC(tk_token_parse(&t, json_string_value(json_object_get(j, "text")), &err), 0);
  CHECK(hex_eq(json_object_get(f, "hub_id"), t.hub_id, 32));
  CHECK(hex_eq(json_object_get(f, "token_id"), t.token_id, TK_TOKEN_ID_LEN));
  CHECK(hex_eq(json_object_get(f, "secret"), t.secret, TK_TOKEN_SECRET_LEN));
  CHECK((json_int_t)t.expires == json_integer_value(json_object_get(f, "expires")));
  CHECK(strcmp(t.addr, json_string_value(json_object_get(f, "addr"))) == 0);
  uint8_t h[32];
  tk_sha256(h, t.secret, sizeof t.secret);
  CHECK(hex_eq(json_object_get(j, "secret_sha256"), h, 32));
  char text[TK_TOKEN_MAX_TEXT];
  CHECK_RC(tk_token_format(&t, text, sizeof text), 0);
  CHECK(strcmp(text, json_string_value(json_object_get(j, "text"))) == 0);
  json_decref(j);
}

static void test_vault_keys(void)
{
  json_t *j = load("vault_keys.json");
  CHECK(j);
  size_t i;
  json_t *k;
  CHECK(json_array_size(json_object_get(j, "keys")) == 2);
  json_array_foreach(json_object_get(j, "keys"), i, k)
  {
    uint8_t key[32], id[TK_KEY_ID_LEN];
    CHECK(hexfield(k, "key", key, 32));
    tk_vault_key_id(id, key);
    CHECK(hex_eq(json_object_get(k, "key_id"), id, TK_KEY_ID_LEN));
  }
  json_decref(j);
}

/* The attachment of a revision vector: the body's list as the vector says,
 * chunk 0 re-encrypted from the file's pattern, chunk 1 as given. */
static int check_attachment(const json_t *a, const tk_attach_t *got)
{
  uint8_t key[32], *ct = malloc(TK_CHUNK_MAX), *file = NULL, id[32];
  uint64_t size = (uint64_t)json_integer_value(json_object_get(a, "size"));
  int ok = ct && hexfield(a, "key", key, 32) && memcmp(key, got->key, 32) == 0 &&
           size == got->size && size == TK_CHUNK_PLAIN + 100 && got->nchunks == 2 &&
           strcmp(got->name, json_string_value(json_object_get(a, "name"))) == 0 &&
           hex_eq(json_object_get(a, "sha256"), got->sha256, 32);
  if (ok) ok = (file = malloc(size)) != NULL;
  for (uint64_t k = 0; ok && k < size; k++)
    file[k] = (uint8_t)((k * 7 + 3) % 251);
  uint8_t h[32];
  if (ok) {
    tk_sha256(h, file, size);
    ok = memcmp(h, got->sha256, 32) == 0;
  }
  json_t *chunks = json_object_get(a, "chunks");
  for (uint32_t i = 0; ok && i < 2; i++) {
    json_t *c = json_array_get(chunks, i);
    size_t off = (size_t)i * TK_CHUNK_PLAIN, n = i == 0 ? TK_CHUNK_PLAIN : 100;
    size_t len = tk_attach_chunk_seal(key, i, file + off, n, ct, id);
    ok = len == n + 16 && hex_eq(json_object_get(c, "id"), id, 32) &&
         memcmp(id, got->chunks[i], 32) == 0;
    if (ok && i == 1)
      ok = hex_eq(json_object_get(c, "ciphertext"), ct, len) &&
           hex_eq(json_object_get(c, "plaintext"), file + off, n);
  }
  free(ct);
  free(file);
  return ok;
}

/* The earlier vectors of revisions.json, where a delta finds its base. */
typedef struct seen {
  uint8_t id[8][TK_REV_ID_LEN];
  uint8_t *bytes[8];
  size_t len[8];
  size_t n;
  const uint8_t *vkey;
} seen_t;

static int seen_fetch(void *ctx, const uint8_t id[TK_REV_ID_LEN], tk_buf_t *out,
                      tk_err_t *err)
{
  seen_t *s = ctx;
  for (size_t i = 0; i < s->n; i++)
    if (memcmp(s->id[i], id, TK_REV_ID_LEN) == 0)
      return tk_buf_append(out, s->bytes[i], s->len[i]);
  return tk_err_set(err, TK_ENOTFOUND, "no earlier vector has this id");
}

static int seen_key(void *ctx, const char *vault, const uint8_t key_id[TK_KEY_ID_LEN],
                    uint8_t key[TK_VAULT_KEY_LEN], tk_err_t *err)
{
  (void)vault;
  (void)key_id;
  (void)err;
  memcpy(key, ((seen_t *)ctx)->vkey, TK_VAULT_KEY_LEN);
  return 0;
}

static void test_revisions(void)
{
  json_t *j = load("revisions.json");
  CHECK(j);
  uint8_t vkey[32], kid[TK_KEY_ID_LEN];
  CHECK(hexfield(j, "vault_key", vkey, 32));
  tk_vault_key_id(kid, vkey);
  CHECK(hex_eq(json_object_get(j, "key_id"), kid, TK_KEY_ID_LEN));
  json_t *revs = json_object_get(j, "revisions");
  seen_t seen = {.n = 0, .vkey = vkey};
  tk_rev_source_t src = {.fetch = seen_fetch, .key = seen_key, .ctx = &seen};
  CHECK(json_array_size(revs) == 5);
  size_t i;
  json_t *v;
  json_array_foreach(revs, i, v)
  {
    size_t n = 0;
    uint8_t *bytes = unhex(json_object_get(v, "bytes"), &n);
    CHECK(bytes);
    tk_rev_t rev;
    tk_err_t err = {0};
    uint8_t want_id[32];
    int rc = tk_rev_parse(&rev, TK_SLICE(bytes, n), &err);
    if (rc == 0 && hexfield(v, "id", want_id, 32))
      rc = tk_rev_check_id(&rev, want_id, &err);
    else if (rc == 0)
      rc = -1;
    if (rc == 0) rc = tk_rev_verify_sig(&rev, &err);
    json_t *h = json_object_get(v, "header");
    int fields = rc == 0 && memcmp(rev.key_id, kid, TK_KEY_ID_LEN) == 0 &&
                 hex_eq(json_object_get(h, "record_id"), rev.record_id, 16) &&
                 hex_eq(json_object_get(h, "author_pk"), rev.author_pk, 32) &&
                 hex_eq(json_object_get(h, "author"), rev.author, 32) &&
                 hex_eq(json_object_get(h, "salt"), rev.salt, TK_REV_SALT_LEN) &&
                 hex_eq(json_object_get(h, "nonce"), rev.nonce, TK_REV_NONCE_LEN) &&
                 hex_eq(json_object_get(v, "signature"), rev.sig, 64) &&
                 (json_int_t)rev.hlc == json_integer_value(json_object_get(h, "hlc")) &&
                 (json_int_t)rev.generation ==
                     json_integer_value(json_object_get(h, "generation")) &&
                 strcmp(rev.type, json_string_value(json_object_get(h, "type"))) == 0 &&
                 strcmp(rev.vault, json_string_value(json_object_get(h, "vault"))) == 0 &&
                 json_array_size(json_object_get(h, "parents")) == rev.nparents &&
                 json_array_size(json_object_get(h, "attach")) == rev.nattach;
    for (uint32_t p = 0; fields && p < rev.nparents; p++)
      fields = hex_eq(json_array_get(json_object_get(h, "parents"), p),
                      rev.parents + 32 * p, 32);
    for (uint32_t p = 0; fields && p < rev.nattach; p++)
      fields = hex_eq(json_array_get(json_object_get(h, "attach"), p),
                      rev.attach + 32 * p, 32);
    tk_buf_t plain = TK_BUF_INIT;
    if (fields) rc = tk_rev_open_chain(&rev, vkey, &src, &plain, NULL, &err);
    const char *body = json_string_value(json_object_get(v, "body"));
    int body_ok = rc == 0 && fields && body && plain.n == strlen(body) &&
                  memcmp(plain.p, body, plain.n) == 0;
    int att_ok = 1;
    json_t *atts = json_object_get(v, "attachments");
    if (body_ok && atts) {
      json_t *bj = json_loadb((const char *)plain.p, plain.n, 0, NULL);
      tk_attach_t *list = NULL;
      size_t na = 0;
      att_ok = bj && tk_attach_list(bj, &list, &na, &err) == 0 && na == 1 &&
               check_attachment(json_array_get(atts, 0), &list[0]);
      tk_buf_t refs = TK_BUF_INIT;
      uint32_t nref = 0;
      att_ok = att_ok && tk_attach_refs(bj, &refs, &nref, &err) == 0 &&
               nref == rev.nattach && memcmp(refs.p, rev.attach, refs.n) == 0;
      tk_buf_free(&refs);
      for (size_t k = 0; k < na; k++)
        tk_attach_clear(&list[k]);
      free(list);
      json_decref(bj);
    }
    tk_buf_wipe(&plain);
    /* One flipped byte anywhere must break the id, and the signature or
     * the tag: the vectors pin every byte. */
    int tamper_ok = 1;
    for (size_t off = 0; rc == 0 && off < n; off += 37) {
      bytes[off] ^= 0x01;
      tk_rev_t t;
      if (tk_rev_parse(&t, TK_SLICE(bytes, n), &err) == 0 &&
          (tk_rev_check_id(&t, want_id, &err) == 0 || tk_rev_verify_sig(&t, &err) == 0))
        tamper_ok = 0;
      bytes[off] ^= 0x01;
    }
    if (seen.n < 8 && rc == 0) {
      memcpy(seen.id[seen.n], want_id, TK_REV_ID_LEN);
      seen.bytes[seen.n] = bytes;
      seen.len[seen.n++] = n;
    } else {
      free(bytes);
    }
    if (rc != 0 || !fields || !body_ok || !att_ok || !tamper_ok)
      fprintf(stderr,
              "revision vector %zu (%s): rc %d (%s) fields %d body %d attach %d "
              "tamper %d\n",
              i, json_string_value(json_object_get(v, "what")), rc, err.msg, fields,
              body_ok, att_ok, tamper_ok);
    CHECK(rc == 0 && fields && body_ok && att_ok && tamper_ok);
  }
  for (size_t k = 0; k < seen.n; k++)
    free(seen.bytes[k]);
  json_decref(j);
}

static void test_membership_and_grants(void)
{
  json_t *j = load("membership.json"), *g = load("grants.json"),
         *ids = load("identities.json");
  CHECK(j && g && ids);
  tk_member_log_t log;
  tk_member_log_init(&log);
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(j, "entries"), i, e)
  {
    size_t bn = 0, sn = 0;
    uint8_t *body = unhex(json_object_get(e, "body"), &bn);
    uint8_t *sig = unhex(json_object_get(e, "sig"), &sn);
    tk_err_t err;
    int rc = body && sig
                 ? tk_member_log_take(&log, TK_SLICE(body, bn), TK_SLICE(sig, sn), &err)
                 : -1;
    if (rc != 0) fprintf(stderr, "entry %zu: %s\n", i, body && sig ? err.msg : "not hex");
    free(body);
    free(sig);
    if (rc != 0) break;
    const tk_entry_t *got = &log.entries[i];
    if (!hex_eq(json_object_get(e, "id"), got->id, 32) ||
        (json_int_t)got->seq != json_integer_value(json_object_get(e, "seq")) ||
        (json_int_t)got->created_ms !=
            json_integer_value(json_object_get(e, "created_ms")))
      rc = -1;
    if (rc != 0) {
      tk_member_log_free(&log);
      CHECK(!"entry id, seq or created_ms differs from the vector");
    }
  }
  int ok = log.n == 3 && hex_eq(json_object_get(j, "vault_id"), log.vault_id, 32) &&
           log.nmembers == 2 && log.entries[2].op == TK_ENTRY_ROTATE;
  /* bob's secrets open the grants; each must count in this log. */
  json_t *bob = json_array_get(json_object_get(ids, "devices"), 1);
  uint8_t kx_pk[32], kx_sk[32];
  ok = ok && hexfield(bob, "kx_pk", kx_pk, 32) && hexfield(bob, "kx_sk", kx_sk, 32);
  json_t *gv;
  size_t ng = 0;
  json_array_foreach(json_object_get(g, "grants"), i, gv)
  {
    size_t bn = 0, sn = 0;
    uint8_t *body = unhex(json_object_get(gv, "body"), &bn);
    uint8_t *sig = unhex(json_object_get(gv, "sig"), &sn);
    tk_grant_t gr;
    tk_err_t err;
    char reason[256] = "";
    uint8_t h[32], key[32], kid[TK_KEY_ID_LEN];
    int gok = ok && body && sig &&
              tk_grant_verify(TK_SLICE(body, bn), TK_SLICE(sig, sn), &gr, &err) == 0;
    if (gok) {
      tk_sha256(h, body, bn);
      gok = hex_eq(json_object_get(gv, "id"), h, 32) &&
            tk_member_check_grant(&log, &gr, reason, sizeof reason) == 0 &&
            tk_vault_key_open(key, gr.sealed, kx_pk, kx_sk) == 0 &&
            hex_eq(json_object_get(gv, "vault_key"), key, 32);
    }
    if (gok) {
      tk_vault_key_id(kid, key);
      json_t *f = json_object_get(gv, "fields");
      gok = memcmp(kid, gr.key_id, TK_KEY_ID_LEN) == 0 &&
            hex_eq(json_object_get(f, "sealed_key"), gr.sealed, TK_SEALED_KEY_LEN) &&
            hex_eq(json_object_get(f, "entry"), gr.entry, 32) &&
            hex_eq(json_object_get(f, "recipient"), gr.recipient, 32) &&
            (json_int_t)gr.created_ms ==
                json_integer_value(json_object_get(f, "created_ms"));
    }
    if (!gok) fprintf(stderr, "grant %zu fails: %s\n", i, reason);
    free(body);
    free(sig);
    ng += gok;
  }
  tk_member_log_free(&log);
  json_decref(j);
  json_decref(g);
  json_decref(ids);
  CHECK(ok);
  CHECK(ng == 2);
}

static void test_init(void)
{
  CHECK_RC(tk_crypto_init(), 0);
}

TK_TESTS(TK_TEST(test_init), TK_TEST(test_identities), TK_TEST(test_token),
         TK_TEST(test_vault_keys), TK_TEST(test_revisions),
         TK_TEST(test_membership_and_grants))
