/*
 * tk_vectors: writes the protocol test vectors (proto/vectors/ (JSON files)) with
 * the real implementation, from fixed seeds, keys and times, so a third
 * party can check its own reader against them (proto/vectors/README.md).
 *
 *   build/bin/tk_vectors proto/vectors
 *
 * Run by hand, not by the suite: the files are committed and checked by
 * unit_vectors (the C implementation) and it_vectors_python (an independent
 * reader). Deterministic: libsodium's randomness is replaced, before
 * sodium_init, by a SHA-256 counter stream from a fixed label (so salts,
 * nonces, record ids and crypto_box_seal's ephemeral keys repeat), and
 * time() is wrapped at link time (-Wl,--wrap=time, tests/CMakeLists.txt) so
 * membership-log entries carry a fixed created_ms. Never use this
 * randomness for anything but vectors.
 */
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tk_attach.h"
#include "tk_crypto.h"
#include "tk_grant.h"
#include "tk_identity.h"
#include "tk_member.h"
#include "tk_peer_identity.h"
#include "tk_revision.h"
#include "tk_token.h"

#define FIXED_TIME 1796000000 /* 2026-11-29, unix seconds: every entry's time */

time_t __wrap_time(time_t *t);
time_t __wrap_time(time_t *t)
{
  if (t) *t = FIXED_TIME;
  return FIXED_TIME;
}

/* The fixed "random" stream: block k = SHA-256("tunduk vectors drbg" || u64be(k)). */
static uint64_t drbg_ctr;
static uint8_t drbg_block[32];
static size_t drbg_used = 32;

static void drbg_buf(void *const buf, const size_t n)
{
  uint8_t *p = buf;
  for (size_t i = 0; i < n; i++) {
    if (drbg_used == 32) {
      uint8_t msg[19 + 8];
      memcpy(msg, "tunduk vectors drbg", 19);
      for (int b = 0; b < 8; b++)
        msg[19 + b] = (uint8_t)(drbg_ctr >> (56 - 8 * b));
      drbg_ctr++;
      crypto_hash_sha256(drbg_block, msg, sizeof msg);
      drbg_used = 0;
    }
    p[i] = drbg_block[drbg_used++];
  }
}
static uint32_t drbg_random(void)
{
  uint32_t v;
  drbg_buf(&v, sizeof v);
  return v;
}
static const char *drbg_name(void)
{
  return "tunduk-vectors-drbg";
}
static randombytes_implementation drbg_impl = {
    .implementation_name = drbg_name,
    .random = drbg_random,
    .stir = NULL,
    .uniform = NULL,
    .buf = drbg_buf,
    .close = NULL,
};

static void die(const char *what, const tk_err_t *err)
{
  fprintf(stderr, "tk_vectors: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
  exit(1);
}

static json_t *hexj(const void *p, size_t n)
{
  const uint8_t *b = p;
  char *s = malloc(2 * n + 1);
  if (!s) die("out of memory", NULL);
  for (size_t i = 0; i < n; i++)
    snprintf(s + 2 * i, 3, "%02x", b[i]);
  json_t *j = json_string(s);
  free(s);
  return j;
}

/* A fixed 32-byte value: SHA-256 of a label (seeds and keys, so each is named). */
static void fixed32(uint8_t out[32], const char *label)
{
  tk_sha256(out, label, strlen(label));
}

static void write_json(const char *dir, const char *name, json_t *j)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (json_dump_file(j, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) die(path, NULL);
  /* jansson ends without a newline. */
  FILE *f = fopen(path, "a");
  if (!f || fputc('\n', f) == EOF || fclose(f) != 0) die(path, NULL);
  json_decref(j);
}

/* A device made from fixed seeds (tk_identity_generate draws its own and
 * makes a TLS key the vectors do not need). */
typedef struct dev {
  const char *name;
  uint8_t sign_seed[32], kx_seed[32];
  tk_identity_secret_t sec;
  tk_identity_t id;
  uint8_t kx_sig[TK_SIG_LEN];
  char printed[TK_DEVICE_ID_STRLEN];
} vdev_t;

static void dev_make(vdev_t *d, const char *name)
{
  char label[128];
  memset(d, 0, sizeof *d);
  d->name = name;
  snprintf(label, sizeof label, "tunduk vectors sign seed %s", name);
  fixed32(d->sign_seed, label);
  snprintf(label, sizeof label, "tunduk vectors kx seed %s", name);
  fixed32(d->kx_seed, label);
  if (crypto_sign_seed_keypair(d->id.sign_pk, d->sec.sign_sk, d->sign_seed) != 0 ||
      crypto_box_seed_keypair(d->id.kx_pk, d->sec.kx_sk, d->kx_seed) != 0)
    die("seed keypair", NULL);
  d->id.sec = &d->sec;
  snprintf(d->id.name, sizeof d->id.name, "%s", name);
  tk_device_id_from_pk(d->id.id, d->id.sign_pk);
  tk_device_id_format(d->printed, d->id.id);
  if (tk_kx_sign(&d->id, d->kx_sig) != 0) die("kx sign", NULL);
}

static json_t *dev_json(const vdev_t *d)
{
  return json_pack(
      "{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:s}", "name", d->name, "sign_seed",
      hexj(d->sign_seed, 32), "sign_sk", hexj(d->sec.sign_sk, TK_SIGN_SK_LEN), "sign_pk",
      hexj(d->id.sign_pk, TK_SIGN_PK_LEN), "kx_seed", hexj(d->kx_seed, 32), "kx_sk",
      hexj(d->sec.kx_sk, TK_KX_SK_LEN), "kx_pk", hexj(d->id.kx_pk, TK_KX_PK_LEN),
      "kx_sig", hexj(d->kx_sig, TK_SIG_LEN), "device_id",
      hexj(d->id.id, TK_DEVICE_ID_LEN), "device_id_printed", d->printed);
}

static void gen_token(const char *dir, const vdev_t *hub)
{
  tk_token_t t;
  memset(&t, 0, sizeof t);
  memcpy(t.hub_id, hub->id.id, TK_DEVICE_ID_LEN);
  for (int i = 0; i < TK_TOKEN_ID_LEN; i++)
    t.token_id[i] = (uint8_t)(0x10 + i);
  fixed32(t.secret, "tunduk vectors token secret");
  t.expires = 1798761600; /* 2027-01-01T00:00:00Z */
  snprintf(t.addr, sizeof t.addr, "hub.example.org:7443");
  char text[TK_TOKEN_MAX_TEXT];
  if (tk_token_format(&t, text, sizeof text) != 0) die("token format", NULL);
  uint8_t secret_hash[TK_HASH_LEN];
  tk_sha256(secret_hash, t.secret, sizeof t.secret);
  json_t *j = json_pack(
      "{s:s, s:s, s:{s:i, s:o, s:o, s:o, s:I, s:s}, s:o}", "comment",
      "An enrollment token (PROTOCOL.md section 4, Enrollment): text is what "
      "tundukd device add prints; fields are its decoded layout; the hub keeps "
      "only secret_sha256.",
      "text", text, "fields", "version", 1, "hub_id", hexj(t.hub_id, TK_DEVICE_ID_LEN),
      "token_id", hexj(t.token_id, TK_TOKEN_ID_LEN), "secret",
      hexj(t.secret, TK_TOKEN_SECRET_LEN), "expires", (json_int_t)t.expires, "addr",
      t.addr, "secret_sha256", hexj(secret_hash, TK_HASH_LEN));
  write_json(dir, "token.json", j);
}

/* One revision: sealed with the real tk_rev_seal, then parsed back; the
 * body key and the plaintext's encoding byte are recomputed here from the
 * layout in tk_revision.h so a reader can check its own derivation. */
static json_t *gen_rev(const char *what, const tk_rev_draft_t *d,
                       const uint8_t vkey[TK_VAULT_KEY_LEN], const vdev_t *author,
                       uint8_t id_out[TK_REV_ID_LEN])
{
  tk_buf_t out;
  tk_err_t err;
  out = (tk_buf_t)TK_BUF_INIT;
  if (tk_rev_seal(&out, d, vkey, author->sec.sign_sk, &err) != 0) die(what, &err);
  tk_rev_t rev;
  if (tk_rev_parse(&rev, TK_SLICE(out.p, out.n), &err) != 0) die(what, &err);
  uint8_t msg[18 + TK_REV_SALT_LEN], bk[32];
  memcpy(msg, "tunduk body key v1", 18);
  memcpy(msg + 18, rev.salt, TK_REV_SALT_LEN);
  crypto_generichash(bk, sizeof bk, msg, sizeof msg, vkey, TK_VAULT_KEY_LEN);
  uint8_t *plain = malloc(rev.ciphertext.n);
  unsigned long long plen = 0;
  if (!plain || crypto_aead_xchacha20poly1305_ietf_decrypt(
                    plain, &plen, NULL, rev.ciphertext.p, rev.ciphertext.n, rev.header.p,
                    rev.header.n, rev.nonce, bk) != 0)
    die("decrypting a fresh revision", NULL);
  json_t *parents = json_array(), *refs = json_array();
  for (uint32_t i = 0; i < rev.nparents; i++)
    json_array_append_new(parents, hexj(rev.parents + 32 * i, 32));
  for (uint32_t i = 0; i < rev.nattach; i++)
    json_array_append_new(refs, hexj(rev.attach + 32 * i, 32));
  json_t *j = json_pack(
      "{s:s, s:o, s:s%, s:{s:o, s:o, s:o, s:I, s:I, s:s, s:s, s:o, s:o, s:o, s:o, s:o, "
      "s:I}, s:o, s:o, s:i, s:o, s:o}",
      "what", what, "bytes", hexj(out.p, out.n), "body", d->body.p, (size_t)d->body.n,
      "header", "record_id", hexj(rev.record_id, TK_RECORD_ID_LEN), "author_pk",
      hexj(rev.author_pk, 32), "author", hexj(rev.author, 32), "hlc", (json_int_t)rev.hlc,
      "generation", (json_int_t)rev.generation, "type", rev.type, "vault", rev.vault,
      "key_id", hexj(rev.key_id, TK_KEY_ID_LEN), "salt", hexj(rev.salt, TK_REV_SALT_LEN),
      "nonce", hexj(rev.nonce, TK_REV_NONCE_LEN), "parents", parents, "attach", refs,
      "body_len", (json_int_t)rev.ciphertext.n, "id", hexj(rev.id, TK_REV_ID_LEN),
      "signature", hexj(rev.sig, TK_SIG_LEN), "encoding", (int)plain[0], "body_key",
      hexj(bk, sizeof bk), "plaintext", hexj(plain, (size_t)plen));
  memcpy(id_out, rev.id, TK_REV_ID_LEN);
  tk_wipe(plain, (size_t)plen);
  free(plain);
  tk_buf_free(&out);
  return j;
}

/* The attachment of the revisions' last vector: TK_CHUNK_PLAIN + 100 bytes,
 * byte k = (k * 7 + 3) mod 251, so there are two chunks and a reader sees
 * the index in the nonce; only the short chunk's ciphertext is written out
 * (a reader re-encrypts chunk 0 from the pattern and compares its id). */
#define ATT_SIZE (TK_CHUNK_PLAIN + 100)

static json_t *gen_attachment(tk_attach_t *a, tk_buf_t *refs)
{
  uint8_t *file = malloc(ATT_SIZE), *ct = malloc(TK_CHUNK_MAX);
  if (!file || !ct) die("out of memory", NULL);
  for (size_t k = 0; k < ATT_SIZE; k++)
    file[k] = (uint8_t)((k * 7 + 3) % 251);
  memset(a, 0, sizeof *a);
  snprintf(a->name, sizeof a->name, "photo.bin");
  a->size = ATT_SIZE;
  tk_sha256(a->sha256, file, ATT_SIZE);
  fixed32(a->key, "tunduk vectors attachment key");
  a->nchunks = 2;
  a->chunks = calloc(2, TK_HASH_LEN);
  if (!a->chunks) die("out of memory", NULL);
  json_t *chunks = json_array();
  for (uint32_t i = 0; i < 2; i++) {
    size_t off = (size_t)i * TK_CHUNK_PLAIN, n = i == 0 ? TK_CHUNK_PLAIN : 100;
    size_t len = tk_attach_chunk_seal(a->key, i, file + off, n, ct, a->chunks[i]);
    tk_buf_append(refs, a->chunks[i], TK_HASH_LEN);
    json_t *c =
        json_pack("{s:i, s:I, s:I, s:o}", "index", (int)i, "plain_len", (json_int_t)n,
                  "len", (json_int_t)len, "id", hexj(a->chunks[i], TK_HASH_LEN));
    if (i == 1) {
      json_object_set_new(c, "plaintext", hexj(file + off, n));
      json_object_set_new(c, "ciphertext", hexj(ct, len));
    }
    json_array_append_new(chunks, c);
  }
  json_t *j =
      json_pack("{s:s, s:s, s:I, s:o, s:o, s:o}", "comment",
                "byte k of the file is (k * 7 + 3) mod 251", "name", a->name, "size",
                (json_int_t)a->size, "sha256", hexj(a->sha256, TK_HASH_LEN), "key",
                hexj(a->key, TK_ATTACH_KEY_LEN), "chunks", chunks);
  free(file);
  free(ct);
  return j;
}

static void gen_revisions(const char *dir, const vdev_t *alice, const uint8_t vkey[32])
{
  uint8_t key_id[TK_KEY_ID_LEN];
  tk_vault_key_id(key_id, vkey);
  json_t *revs = json_array();
  uint8_t plain_id[32], zstd_id[32], tomb_id[32], att_id[32];

  tk_rev_draft_t d;
  memset(&d, 0, sizeof d);
  static const char plain_body[] = "{\"title\":\"Interview 1\",\"status\":\"open\"}";
  for (int i = 0; i < TK_RECORD_ID_LEN; i++)
    d.record_id[i] = (uint8_t)(0xa0 + i);
  d.type = "case";
  d.vault = "cases";
  d.hlc = 1796000000000ull;
  d.generation = 1;
  d.body = TK_SLICE(plain_body, strlen(plain_body));
  json_array_append_new(revs,
                        gen_rev("plain body (encoding 0)", &d, vkey, alice, plain_id));

  char big[2048];
  size_t off = (size_t)snprintf(big, sizeof big, "{\"notes\":\"");
  for (int i = 0; i < 30; i++)
    off += (size_t)snprintf(big + off, sizeof big - off,
                            "The witness repeated the same account. ");
  snprintf(big + off, sizeof big - off, "\",\"status\":\"open\"}");
  tk_rev_draft_t z = d;
  for (int i = 0; i < TK_RECORD_ID_LEN; i++)
    z.record_id[i] = (uint8_t)(0xb0 + i);
  z.hlc = d.hlc + 1000;
  z.body = TK_SLICE(big, strlen(big));
  json_array_append_new(revs,
                        gen_rev("zstd body (encoding 1)", &z, vkey, alice, zstd_id));

  /* An edit of the zstd record written as a delta against it (encoding 2):
   * the base's JSON is the zstd raw-content prefix. */
  char edited[2048];
  snprintf(edited, sizeof edited, "%s", big);
  memcpy(strstr(edited, "\"open\""), "\"shut\"", 6);
  tk_rev_draft_t dl = z;
  uint8_t delta_id[32];
  dl.hlc = z.hlc + 500;
  dl.generation = 2;
  dl.parents = zstd_id;
  dl.nparents = 1;
  dl.body = TK_SLICE(edited, strlen(edited));
  dl.base_id = zstd_id;
  dl.base = z.body;
  dl.base_depth = 0;
  json_t *dj = gen_rev("delta body (encoding 2) against the zstd revision", &dl, vkey,
                       alice, delta_id);
  if (json_integer_value(json_object_get(dj, "encoding")) != 2)
    die("the delta vector did not come out as a delta", NULL);
  json_array_append_new(revs, dj);

  static const char tomb_body[] = "{\"_deleted\":true}";
  tk_rev_draft_t t = d;
  t.hlc = d.hlc + 2000;
  t.generation = 2;
  t.parents = plain_id;
  t.nparents = 1;
  t.body = TK_SLICE(tomb_body, strlen(tomb_body));
  json_array_append_new(
      revs, gen_rev("tombstone of the plain record", &t, vkey, alice, tomb_id));

  tk_attach_t a;
  tk_buf_t refs;
  refs = (tk_buf_t)TK_BUF_INIT;
  json_t *att = gen_attachment(&a, &refs);
  json_t *body = json_pack("{s:s}", "title", "Photo of the notice");
  tk_err_t err;
  if (tk_attach_add(body, &a, &err) != 0) die("attach add", &err);
  tk_buf_t refs2;
  uint32_t nref = 0;
  refs2 = (tk_buf_t)TK_BUF_INIT;
  if (tk_attach_refs(body, &refs2, &nref, &err) != 0 || nref != 2 ||
      memcmp(refs2.p, refs.p, refs.n) != 0)
    die("attach refs differ from the chunk ids", &err);
  char *btext = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
  tk_rev_draft_t at = d;
  for (int i = 0; i < TK_RECORD_ID_LEN; i++)
    at.record_id[i] = (uint8_t)(0xc0 + i);
  at.hlc = d.hlc + 3000;
  at.attach = refs.p;
  at.nattach = nref;
  at.body = TK_SLICE(btext, strlen(btext));
  json_t *ar = gen_rev("attachments", &at, vkey, alice, att_id);
  json_object_set_new(ar, "attachments", json_pack("[o]", att));
  json_array_append_new(revs, ar);
  free(btext);
  json_decref(body);
  tk_buf_free(&refs);
  tk_buf_free(&refs2);
  tk_attach_clear(&a);

  json_t *j = json_pack(
      "{s:s, s:o, s:o, s:o, s:o}", "comment",
      "Revisions (PROTOCOL.md section 5) by the device alice of identities.json under "
      "vault_key. bytes is the whole envelope; id = SHA-256(bytes); header is what "
      "it says; body_key and plaintext (encoding byte first) are what decrypting "
      "gives; body is the JSON the author wrote and a reader must get back.",
      "author", hexj(alice->id.id, 32), "vault_key", hexj(vkey, 32), "key_id",
      hexj(key_id, TK_KEY_ID_LEN), "revisions", revs);
  write_json(dir, "revisions.json", j);
}

static void gen_keys(const char *dir, const uint8_t k1[32], const uint8_t k2[32])
{
  uint8_t id1[TK_KEY_ID_LEN], id2[TK_KEY_ID_LEN];
  tk_vault_key_id(id1, k1);
  tk_vault_key_id(id2, k2);
  json_t *j = json_pack("{s:s, s:[{s:o, s:o}, {s:o, s:o}]}", "comment",
                        "Vault key ids: key_id names a vault key in revision headers, "
                        "grants and membership-log entries.",
                        "keys", "key", hexj(k1, 32), "key_id", hexj(id1, TK_KEY_ID_LEN),
                        "key", hexj(k2, 32), "key_id", hexj(id2, TK_KEY_ID_LEN));
  write_json(dir, "vault_keys.json", j);
}

static json_t *entry_json(const char *what, const tk_entry_t *e)
{
  return json_pack("{s:s, s:o, s:o, s:o, s:I, s:I}", "what", what, "body",
                   hexj(e->body.p, e->body.n), "sig", hexj(e->sig, TK_SIG_LEN), "id",
                   hexj(e->id, TK_HASH_LEN), "seq", (json_int_t)e->seq, "created_ms",
                   (json_int_t)e->created_ms);
}

static json_t *grant_json(const char *what, const tk_grant_t *g, const vdev_t *granter,
                          const vdev_t *recipient, const uint8_t vkey[32])
{
  tk_buf_t body;
  uint8_t sig[TK_SIG_LEN], gid[TK_HASH_LEN];
  body = (tk_buf_t)TK_BUF_INIT;
  if (tk_grant_sign(g, &granter->id, &body, sig) != 0) die("grant sign", NULL);
  tk_sha256(gid, body.p, body.n);
  json_t *j = json_pack(
      "{s:s, s:o, s:o, s:o, s:{s:s, s:o, s:o, s:o, s:o, s:I, s:o}, s:s, s:o}", "what",
      what, "body", hexj(body.p, body.n), "sig", hexj(sig, TK_SIG_LEN), "id",
      hexj(gid, TK_HASH_LEN), "fields", "vault", g->vault, "key_id",
      hexj(g->key_id, TK_KEY_ID_LEN), "recipient", hexj(g->recipient, 32), "sealed_key",
      hexj(g->sealed, TK_SEALED_KEY_LEN), "granter_pk", hexj(granter->id.sign_pk, 32),
      "created_ms", (json_int_t)g->created_ms, "entry", hexj(g->entry, TK_HASH_LEN),
      "recipient_name", recipient->name, "vault_key", hexj(vkey, 32));
  tk_buf_free(&body);
  return j;
}

static void gen_log_and_grants(const char *dir, const vdev_t *alice, const vdev_t *bob,
                               const uint8_t k1[32], const uint8_t k2[32])
{
  tk_member_log_t log;
  tk_entry_t e;
  tk_err_t err;
  uint8_t id1[TK_KEY_ID_LEN], id2[TK_KEY_ID_LEN];
  tk_vault_key_id(id1, k1);
  tk_vault_key_id(id2, k2);
  tk_member_log_init(&log);
  json_t *entries = json_array();

  tk_entry_draft_t g = {.op = TK_ENTRY_GENESIS, .key_id = id1};
  if (tk_member_entry_make(&log, "cases", &g, &alice->id, &e, &err) != 0)
    die("genesis", &err);
  json_array_append_new(entries, entry_json("genesis by alice, key 0", &e));
  if (tk_member_log_append(&log, &e, &err) != 0) die("genesis append", &err);

  tk_entry_draft_t add = {.op = TK_ENTRY_ADD,
                          .member = bob->id.id,
                          .member_pk = bob->id.sign_pk,
                          .writer = 0};
  if (tk_member_entry_make(&log, "cases", &add, &alice->id, &e, &err) != 0)
    die("add", &err);
  json_array_append_new(entries, entry_json("alice adds bob as a reader", &e));
  uint8_t add_id[TK_HASH_LEN];
  memcpy(add_id, e.id, TK_HASH_LEN);
  if (tk_member_log_append(&log, &e, &err) != 0) die("add append", &err);

  tk_entry_draft_t rot = {.op = TK_ENTRY_ROTATE, .key_id = id2};
  if (tk_member_entry_make(&log, "cases", &rot, &alice->id, &e, &err) != 0)
    die("rotate", &err);
  json_array_append_new(entries, entry_json("alice rotates to key 1", &e));
  uint8_t rot_id[TK_HASH_LEN];
  memcpy(rot_id, e.id, TK_HASH_LEN);
  if (tk_member_log_append(&log, &e, &err) != 0) die("rotate append", &err);

  json_t *lj = json_pack(
      "{s:s, s:s, s:o, s:o}", "comment",
      "The membership log of vault cases (PROTOCOL.md section 9a), in "
      "order; each entry is VaultEntry{body, sig}, id = SHA-256(body). "
      "Keys: vault_keys.json (key 0, key 1); devices: identities.json.",
      "label", "cases", "vault_id", hexj(log.vault_id, TK_HASH_LEN), "entries", entries);
  write_json(dir, "membership.json", lj);

  /* Grants to bob: key 0 for the add, key 1 for the rotation. */
  json_t *grants = json_array();
  tk_grant_t gr;
  memset(&gr, 0, sizeof gr);
  snprintf(gr.vault, sizeof gr.vault, "cases");
  memcpy(gr.recipient, bob->id.id, 32);
  memcpy(gr.key_id, id1, TK_KEY_ID_LEN);
  if (tk_vault_key_seal(gr.sealed, k1, bob->id.kx_pk) != 0) die("seal", NULL);
  gr.created_ms = (uint64_t)FIXED_TIME * 1000 + 1;
  memcpy(gr.entry, add_id, TK_HASH_LEN);
  json_array_append_new(grants,
                        grant_json("key 0 to bob, for the add", &gr, alice, bob, k1));
  memcpy(gr.key_id, id2, TK_KEY_ID_LEN);
  if (tk_vault_key_seal(gr.sealed, k2, bob->id.kx_pk) != 0) die("seal", NULL);
  gr.created_ms = (uint64_t)FIXED_TIME * 1000 + 2;
  memcpy(gr.entry, rot_id, TK_HASH_LEN);
  json_array_append_new(
      grants, grant_json("key 1 to bob, for the rotation", &gr, alice, bob, k2));
  json_t *gj =
      json_pack("{s:s, s:o}", "comment",
                "Grants (PROTOCOL.md section 9): SignedGrant{body, sig} by alice; "
                "sealed_key is crypto_box_seal (randomised: these bytes are one "
                "sealing), opened with bob's kx_sk from identities.json it gives "
                "vault_key; id = SHA-256(body) (what Rejected.id names).",
                "grants", grants);
  write_json(dir, "grants.json", gj);
  tk_member_log_free(&log);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: tk_vectors DIR   (writes DIR/*.json; DIR: proto/vectors)\n");
    return 2;
  }
  if (randombytes_set_implementation(&drbg_impl) != 0 || tk_crypto_init() != 0)
    die("libsodium init", NULL);
  vdev_t alice, bob, hub;
  dev_make(&alice, "alice");
  dev_make(&bob, "bob");
  dev_make(&hub, "hub");
  json_t *ids =
      json_pack("{s:s, s:[o, o, o]}", "comment",
                "Device identities (PROTOCOL.md section 4) from fixed seeds: "
                "sign_pk = Ed25519 from sign_seed (sign_sk in libsodium's 64-byte "
                "layout), kx from kx_seed (crypto_box_seed_keypair), kx_sig = "
                "Ed25519 over \"tunduk kx binding v1\" || kx_pk, device_id = "
                "SHA-256(sign_pk) and its printed form.",
                "devices", dev_json(&alice), dev_json(&bob), dev_json(&hub));
  write_json(argv[1], "identities.json", ids);
  gen_token(argv[1], &hub);
  uint8_t k1[32], k2[32];
  fixed32(k1, "tunduk vectors vault key 0");
  fixed32(k2, "tunduk vectors vault key 1");
  gen_keys(argv[1], k1, k2);
  gen_revisions(argv[1], &alice, k1);
  gen_log_and_grants(argv[1], &alice, &bob, k1, k2);
  return 0;
}
