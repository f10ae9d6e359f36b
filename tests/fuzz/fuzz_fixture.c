/*
 * fuzz_fixture.c: fixed keys, identities, revisions and a deterministic
 * random generator for the fuzz harnesses and make_seeds (see
 * fuzz_fixture.h). Test programs only.
 */
#include "fuzz_fixture.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

tk_identity_t *fz_id[FZ_NIDS];
uint8_t fz_vault_key[TK_VAULT_KEY_LEN];
uint8_t fz_spki_hash[TK_HASH_LEN];
const uint8_t fz_token_id[16] = "fuzz-token-id-01";
const uint8_t fz_token_secret[32] = "fuzz enrollment token secret 32b";
const uint8_t fz_record_a[16] = "record-A-fuzz-01";
const uint8_t fz_record_b[16] = "record-B-fuzz-02";
const uint8_t fz_record_c[16] = "record-C-fuzz-03";
static const uint8_t record_d[16] = "record-D-fuzz-04", record_e[16] = "record-E-fuzz-05",
                     record_f[16] = "record-F-fuzz-06";

static const char *const names[FZ_NIDS] = {"fuzz-hub", "fuzz-office", "fuzz-newcomer",
                                           "fuzz-revoked"};

/* ---- the deterministic generator ------------------------------------------- */

static uint8_t rng_seed[randombytes_SEEDBYTES];
static uint64_t rng_counter;

static void rng_buf(void *buf, size_t n)
{
  uint8_t seed[randombytes_SEEDBYTES];
  memcpy(seed, rng_seed, sizeof seed);
  for (int i = 0; i < 8; i++)
    seed[i] ^= (uint8_t)(rng_counter >> (8 * i));
  rng_counter++;
  randombytes_buf_deterministic(buf, n, seed);
}

static uint32_t rng_random(void)
{
  uint32_t v;
  rng_buf(&v, sizeof v);
  return v;
}

static const char *rng_name(void)
{
  return "tunduk-fuzz-deterministic";
}

static randombytes_implementation rng_impl = {rng_name, rng_random, NULL,
                                              NULL,     rng_buf,    NULL};

void fz_rng_reset(const char *label)
{
  crypto_generichash(rng_seed, sizeof rng_seed, (const uint8_t *)label, strlen(label),
                     NULL, 0);
  rng_counter = 0;
}

/* ---- identities -------------------------------------------------------------- */

static tk_identity_t *make_identity(int i)
{
  tk_identity_t *id = calloc(1, sizeof *id);
  if (!id) abort();
  id->sec = calloc(1, sizeof *id->sec);
  if (!id->sec) abort();
  uint8_t seed[32];
  char label[64];
  snprintf(label, sizeof label, "tunduk fuzz sign %s", names[i]);
  crypto_generichash(seed, sizeof seed, (const uint8_t *)label, strlen(label), NULL, 0);
  crypto_sign_seed_keypair(id->sign_pk, id->sec->sign_sk, seed);
  snprintf(label, sizeof label, "tunduk fuzz kx %s", names[i]);
  crypto_generichash(seed, sizeof seed, (const uint8_t *)label, strlen(label), NULL, 0);
  crypto_box_seed_keypair(id->kx_pk, id->sec->kx_sk, seed);
  tk_device_id_from_pk(id->id, id->sign_pk);
  memcpy(id->tls_spki_hash, fz_spki_hash, TK_HASH_LEN);
  /* binding = Ed25519 over "tunduk tls binding v1" || SHA-256(SPKI), as identity.c */
  uint8_t msg[sizeof "tunduk tls binding v1" - 1 + TK_HASH_LEN];
  memcpy(msg, "tunduk tls binding v1", sizeof "tunduk tls binding v1" - 1);
  memcpy(msg + sizeof "tunduk tls binding v1" - 1, fz_spki_hash, TK_HASH_LEN);
  if (tk_identity_sign(id, id->tls_binding, msg, sizeof msg) != 0) abort();
  snprintf(id->name, sizeof id->name, "%s", names[i]);
  return id;
}

void fz_init(void)
{
  static int done;
  if (done) return;
  fz_rng_reset("init");
  if (randombytes_set_implementation(&rng_impl) != 0 || tk_crypto_init() != 0) abort();
  tk_log_level = -1; /* nothing, not even errors: the fuzzer feeds garbage on purpose */
  crypto_generichash(fz_vault_key, sizeof fz_vault_key, (const uint8_t *)"fuzz vault key",
                     14, NULL, 0);
  tk_sha256(fz_spki_hash, "fuzz tls spki", 13);
  for (int i = 0; i < FZ_NIDS; i++)
    fz_id[i] = make_identity(i);
  done = 1;
}

const tk_identity_t *fz_identity_by_pk(const uint8_t pk[TK_SIGN_PK_LEN])
{
  for (int i = 0; i < FZ_NIDS; i++)
    if (memcmp(fz_id[i]->sign_pk, pk, TK_SIGN_PK_LEN) == 0) return fz_id[i];
  return NULL;
}

/* ---- revisions ----------------------------------------------------------------- */

void fz_seal(tk_buf_t *out, const tk_identity_t *author, const uint8_t record_id[16],
             const char *type, const char *vault, const uint8_t *parent,
             uint32_t generation, const char *json)
{
  fz_seal_refs(out, author, record_id, type, vault, parent, generation, json, NULL, 0);
}

void fz_seal_refs(tk_buf_t *out, const tk_identity_t *author, const uint8_t record_id[16],
                  const char *type, const char *vault, const uint8_t *parent,
                  uint32_t generation, const char *json, const uint8_t *attach,
                  uint32_t nattach)
{
  tk_rev_draft_t d;
  tk_err_t e;
  memset(&d, 0, sizeof d);
  memcpy(d.record_id, record_id, 16);
  d.type = type;
  d.vault = vault;
  d.hlc = 1700000000000ull + generation;
  d.generation = generation;
  d.parents = parent;
  d.nparents = parent ? 1 : 0;
  d.attach = attach;
  d.nattach = nattach;
  d.body = TK_SLICE(json, strlen(json));
  if (tk_rev_seal(out, &d, fz_vault_key, author->sec->sign_sk, &e) != 0) {
    fprintf(stderr, "fuzz fixture: seal failed: %s\n", tk_err_str(&e));
    abort();
  }
}

void fz_body_key(uint8_t bk[TK_VAULT_KEY_LEN], const uint8_t salt[TK_REV_SALT_LEN])
{
  static const char label[] = "tunduk body key v1";
  uint8_t msg[sizeof label - 1 + TK_REV_SALT_LEN];
  memcpy(msg, label, sizeof label - 1);
  memcpy(msg + sizeof label - 1, salt, TK_REV_SALT_LEN);
  crypto_generichash(bk, TK_VAULT_KEY_LEN, msg, sizeof msg, fz_vault_key,
                     TK_VAULT_KEY_LEN);
}

const int fz_chunk_stored[FZ_NCHUNKS] = {1, 1, 1, 0, 0, 1};

void fz_fixture_chunks(tk_buf_t *all, size_t offs[FZ_NCHUNKS + 1])
{
  static const size_t sizes[FZ_NCHUNKS] = {1, 4096, 777, 2000, 300, 65};
  fz_rng_reset("fixture chunks");
  for (int i = 0; i < FZ_NCHUNKS; i++) {
    offs[i] = all->n;
    if (tk_buf_reserve(all, sizes[i]) != 0) abort();
    randombytes_buf(all->p + all->n, sizes[i]);
    all->n += sizes[i];
  }
  offs[FZ_NCHUNKS] = all->n;
}

void fz_fixture_revs(tk_buf_t *all, size_t offs[FZ_NREVS + 1])
{
  uint8_t id0[TK_REV_ID_LEN], ch[FZ_NCHUNKS][TK_HASH_LEN], refs[3][TK_HASH_LEN];
  tk_buf_t chunks = TK_BUF_INIT;
  size_t co[FZ_NCHUNKS + 1];
  fz_fixture_chunks(&chunks, co);
  for (int i = 0; i < FZ_NCHUNKS; i++)
    tk_sha256(ch[i], chunks.p + co[i], co[i + 1] - co[i]);
  tk_buf_free(&chunks);
  fz_rng_reset("fixture revisions");
  offs[0] = all->n;
  fz_seal(all, fz_id[FZ_OFFICE], fz_record_a, "case", FZ_VAULT, NULL, 1,
          "{\"case_number\":\"2024-017\",\"title\":\"Detention without charge\","
          "\"proceeding\":\"criminal\",\"tags\":[\"detention\",\"appeal\"]}");
  offs[1] = all->n;
  tk_sha256(id0, all->p + offs[0], offs[1] - offs[0]);
  fz_seal(all, fz_id[FZ_OFFICE], fz_record_a, "case", FZ_VAULT, id0, 2,
          "{\"case_number\":\"2024-017\",\"title\":\"Detention without charge\","
          "\"proceeding\":\"criminal\",\"status\":\"appeal filed\",\"hearing\":null}");
  offs[2] = all->n;
  fz_seal(
      all, fz_id[FZ_OFFICE], fz_record_b, "testimony", FZ_VAULT, NULL, 1,
      "{\"alias\":\"witness 4\",\"consent\":\"recorded\",\"narrative\":\"\\u0416 ...\"}");
  offs[3] = all->n;
  memcpy(refs[0], ch[0], TK_HASH_LEN);
  memcpy(refs[1], ch[1], TK_HASH_LEN);
  memcpy(refs[2], ch[3], TK_HASH_LEN);
  fz_seal_refs(all, fz_id[FZ_OFFICE], record_d, "case", FZ_VAULT, NULL, 1,
               "{\"title\":\"scanned appeal and a recording\"}", &refs[0][0], 3);
  offs[4] = all->n;
  memcpy(refs[0], ch[2], TK_HASH_LEN);
  memcpy(refs[1], ch[4], TK_HASH_LEN);
  fz_seal_refs(all, fz_id[FZ_OFFICE], record_e, "case", FZ_VAULT_RO, NULL, 1,
               "{\"title\":\"archived photo\"}", &refs[0][0], 2);
  offs[5] = all->n;
  fz_seal_refs(all, fz_id[FZ_OFFICE], record_f, "case", FZ_VAULT_SEALED, NULL, 1,
               "{\"title\":\"sealed\"}", ch[5], 1);
  offs[6] = all->n;
}

int fz_write_file(const char *path, const void *p, size_t n)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t w = write(fd, b, n);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    b += w;
    n -= (size_t)w;
  }
  return close(fd);
}

/* ---- re-signing what a mutation broke ------------------------------------------ */

void fz_repack(uint8_t **bytes, size_t *len, const tk_frame_t *f)
{
  size_t n = tunduk__v1__frame__get_packed_size(f);
  uint8_t *p = malloc(n ? n : 1);
  if (!p) abort();
  TK_ASSERT(tunduk__v1__frame__pack(f, p) == n);
  free(*bytes);
  *bytes = p;
  *len = n;
}

void fz_fix_identity(Tunduk__V1__Identity *m)
{
  if (!m || m->sign_pk.len != TK_SIGN_PK_LEN) return;
  const tk_identity_t *id = fz_identity_by_pk(m->sign_pk.data);
  if (!id) return;
  if (m->device_id.len == TK_DEVICE_ID_LEN) memcpy(m->device_id.data, id->id, 32);
  if (m->kx_pk.len == TK_KX_PK_LEN && m->kx_sig.len == TK_SIG_LEN) {
    uint8_t msg[20 + TK_KX_PK_LEN];
    memcpy(msg, "tunduk kx binding v1", 20);
    memcpy(msg + 20, m->kx_pk.data, TK_KX_PK_LEN);
    tk_identity_sign(id, m->kx_sig.data, msg, sizeof msg);
  }
  if (m->tls_binding.len == TK_SIG_LEN) memcpy(m->tls_binding.data, id->tls_binding, 64);
}

void fz_fix_revision(ProtobufCBinaryData b)
{
  tk_rev_t rev;
  if (tk_rev_parse(&rev, tk_pb_slice(b), NULL) != 0) return;
  const tk_identity_t *id = fz_identity_by_pk(rev.author_pk);
  if (id) tk_identity_sign(id, b.data + b.len - TK_SIG_LEN, b.data, b.len - TK_SIG_LEN);
}

void fz_fix_grant(const Tunduk__V1__SignedGrant *g)
{
  if (!g || g->sig.len != TK_SIG_LEN || g->body.len > 4096) return;
  Tunduk__V1__GrantBody *b =
      tunduk__v1__grant_body__unpack(NULL, g->body.len, g->body.data);
  if (!b) return;
  const tk_identity_t *id =
      b->granter_pk.len == TK_SIGN_PK_LEN ? fz_identity_by_pk(b->granter_pk.data) : NULL;
  if (id) {
    tk_buf_t m = TK_BUF_INIT;
    if (tk_buf_append(&m, "tunduk grant v1", 15) == 0 &&
        tk_buf_append(&m, g->body.data, g->body.len) == 0)
      tk_identity_sign(id, g->sig.data, m.p, m.n);
    tk_buf_free(&m);
  }
  tunduk__v1__grant_body__free_unpacked(b, NULL);
}
