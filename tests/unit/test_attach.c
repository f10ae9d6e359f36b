/*
 * test_attach.c: attachments in a real store (tk_attach.h, the chunk part
 * of tk_store.h): files of 0 bytes, one byte, exactly one chunk, one chunk
 * and a byte, and several chunks come back byte-identical; chunks are
 * ciphertext named by their hash and refused when they are not; a damaged
 * or missing chunk stops `get` with nothing written; the body list parses
 * strictly; the header refs follow the list; limits hold at the limit and
 * one past it.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tk_attach.h"
#include "tk_revision.h"
#include "tk_test.h"

static tk_store_t *open_store(const char *name)
{
  char path[512];
  tk_store_t *s = NULL;
  tk_err_t err;
  snprintf(path, sizeof path, "%s/%s.db", tk_test_tmpdir(), name);
  if (tk_store_open(&s, path, TK_STORE_CREATE, &err) != 0) {
    fprintf(stderr, "open %s: %s\n", path, tk_err_str(&err));
    return NULL;
  }
  return s;
}

/* Writes n pseudo-random bytes (seeded) to a file; returns its path. */
static const char *make_file(const char *name, size_t n, unsigned seed)
{
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", tk_test_tmpdir(), name);
  FILE *f = fopen(path, "wb");
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; f && i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    fputc((int)(x & 0xff), f);
  }
  if (f) fclose(f);
  return path;
}

static int same_files(const char *a, const char *b)
{
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  int same = fa && fb;
  while (same) {
    int ca = fgetc(fa), cb = fgetc(fb);
    if (ca != cb) same = 0;
    if (ca == EOF || cb == EOF) break;
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return same;
}

static void round_trip_sizes(void)
{
  tk_store_t *s = open_store("sizes");
  tk_err_t err;
  CHECK(s);
  const size_t sizes[] = {0,
                          1,
                          TK_CHUNK_PLAIN - 1,
                          TK_CHUNK_PLAIN,
                          TK_CHUNK_PLAIN + 1,
                          3 * TK_CHUNK_PLAIN + 12345};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    char in[512], out[512];
    tk_attach_t a;
    snprintf(in, sizeof in, "%s", make_file("in.bin", sizes[k], (unsigned)k));
    snprintf(out, sizeof out, "%s/out.bin", tk_test_tmpdir());
    CHECK_RC(tk_store_begin(s, &err), 0);
    CHECK_RC(tk_attach_store_file(s, in, "f.bin", TK_MAX_ATTACH_REFS, &a, &err), 0);
    CHECK_RC(tk_store_commit(s, &err), 0);
    CHECK(a.size == sizes[k]);
    CHECK(a.nchunks == (sizes[k] + TK_CHUNK_PLAIN - 1) / TK_CHUNK_PLAIN);
    for (uint32_t i = 0; i < a.nchunks; i++) {
      tk_buf_t b = TK_BUF_INIT;
      uint8_t h[TK_HASH_LEN];
      CHECK_RC(tk_store_chunk_get(s, a.chunks[i], &b, &err), 0);
      tk_sha256(h, b.p, b.n);
      CHECK(memcmp(h, a.chunks[i], TK_HASH_LEN) == 0); /* named by its hash */
      size_t plain = i + 1 < a.nchunks ? TK_CHUNK_PLAIN : sizes[k] - i * TK_CHUNK_PLAIN;
      CHECK(b.n == plain + 16); /* ciphertext: plaintext + tag */
      tk_buf_free(&b);
    }
    CHECK_RC(tk_attach_write_file(s, &a, out, &err), 0);
    CHECK(same_files(in, out));
    tk_attach_clear(&a);
  }
  tk_store_close(s);
}

static void same_file_twice_is_new_chunks(void)
{
  tk_store_t *s = open_store("twice");
  tk_err_t err;
  tk_attach_t a, b;
  const char *in = make_file("twice.bin", 2 * TK_CHUNK_PLAIN, 7);
  CHECK_RC(tk_attach_store_file(s, in, "a", 10, &a, &err), 0);
  CHECK_RC(tk_attach_store_file(s, in, "b", 10, &b, &err), 0);
  /* fresh key per attachment: nothing links the two copies */
  CHECK(memcmp(a.key, b.key, TK_ATTACH_KEY_LEN) != 0);
  CHECK(memcmp(a.chunks[0], b.chunks[0], TK_HASH_LEN) != 0);
  CHECK(memcmp(a.sha256, b.sha256, TK_HASH_LEN) == 0);
  tk_attach_clear(&a);
  tk_attach_clear(&b);
  tk_store_close(s);
}

static void chunk_put_checks(void)
{
  tk_store_t *s = open_store("put");
  tk_err_t err;
  uint8_t data[100], id[TK_HASH_LEN];
  memset(data, 7, sizeof data);
  tk_sha256(id, data, sizeof data);
  CHECK_RC(tk_store_chunk_put(s, id, TK_SLICE(data, sizeof data), NULL, &err), 0);
  CHECK_RC(tk_store_chunk_put(s, id, TK_SLICE(data, sizeof data), NULL, &err), TK_EEXIST);
  data[0] ^= 1;
  uint8_t other[TK_HASH_LEN];
  memset(other, 1, sizeof other);
  CHECK_RC(tk_store_chunk_put(s, other, TK_SLICE(data, sizeof data), NULL, &err),
           TK_EHASH);
  CHECK(strstr(err.msg, "do not hash to its id"));
  CHECK(tk_store_chunk_has(s, other) == 0);
  CHECK_RC(tk_store_chunk_put(s, other, TK_SLICE(data, 0), NULL, &err), TK_ELIMIT);
  /* TK_CHUNK_MAX bytes pass the size check; one more does not */
  uint8_t *big = calloc(1, TK_CHUNK_MAX + 1);
  uint8_t bid[TK_HASH_LEN];
  tk_sha256(bid, big, TK_CHUNK_MAX);
  CHECK_RC(tk_store_chunk_put(s, bid, TK_SLICE(big, TK_CHUNK_MAX), NULL, &err), 0);
  tk_sha256(bid, big, TK_CHUNK_MAX + 1);
  CHECK_RC(tk_store_chunk_put(s, bid, TK_SLICE(big, TK_CHUNK_MAX + 1), NULL, &err),
           TK_ELIMIT);
  free(big);
  tk_store_close(s);
}

static void damaged_or_missing_chunk(void)
{
  tk_store_t *s = open_store("damaged");
  tk_err_t err;
  tk_attach_t a;
  char out[512];
  struct stat st;
  snprintf(out, sizeof out, "%s/damaged.out", tk_test_tmpdir());
  const char *in = make_file("damaged.bin", 2 * TK_CHUNK_PLAIN + 5, 3);
  CHECK_RC(tk_attach_store_file(s, in, "d", 10, &a, &err), 0);
  /* a wrong key: every chunk's tag fails, nothing is written */
  a.key[0] ^= 1;
  CHECK_RC(tk_attach_write_file(s, &a, out, &err), TK_ETAG);
  CHECK(stat(out, &st) != 0);
  a.key[0] ^= 1;
  /* a chunk the list names in another place: its tag fails (the nonce is
   * its index) */
  uint8_t t[TK_HASH_LEN];
  memcpy(t, a.chunks[0], TK_HASH_LEN);
  memcpy(a.chunks[0], a.chunks[1], TK_HASH_LEN);
  CHECK_RC(tk_attach_write_file(s, &a, out, &err), TK_ETAG);
  memcpy(a.chunks[0], t, TK_HASH_LEN);
  /* a wrong whole-file hash */
  a.sha256[3] ^= 1;
  CHECK_RC(tk_attach_write_file(s, &a, out, &err), TK_EHASH);
  CHECK(stat(out, &st) != 0);
  a.sha256[3] ^= 1;
  /* a chunk that is not here: incomplete, nothing written */
  a.chunks[2][0] ^= 1;
  CHECK_RC(tk_attach_write_file(s, &a, out, &err), TK_EPENDING);
  CHECK(strstr(err.msg, "incomplete: 1 of its 3 chunks"));
  CHECK(stat(out, &st) != 0);
  a.chunks[2][0] ^= 1;
  CHECK_RC(tk_attach_write_file(s, &a, out, &err), 0);
  CHECK(same_files(in, out));
  tk_attach_clear(&a);
  tk_store_close(s);
}

static void limits_and_names(void)
{
  tk_store_t *s = open_store("limits");
  tk_err_t err;
  tk_attach_t a;
  const char *in = make_file("limit.bin", 2 * TK_CHUNK_PLAIN, 9);
  CHECK_RC(tk_attach_store_file(s, in, "x", 2, &a, &err), 0); /* at the limit */
  tk_attach_clear(&a);
  CHECK_RC(tk_attach_store_file(s, in, "x", 1, &a, &err), TK_ELIMIT);
  CHECK(strstr(err.msg, "room for"));
  CHECK_RC(tk_attach_store_file(s, "/nonexistent/file", "x", 9, &a, &err), TK_EIO);
  CHECK_RC(tk_attach_store_file(s, tk_test_tmpdir(), "x", 9, &a, &err), TK_EINVAL);
  char name[TK_MAX_ATTACH_NAME + 2];
  memset(name, 'n', sizeof name);
  name[TK_MAX_ATTACH_NAME] = '\0';
  CHECK_RC(tk_attach_name_check(name, &err), 0);
  name[TK_MAX_ATTACH_NAME] = 'n';
  name[TK_MAX_ATTACH_NAME + 1] = '\0';
  CHECK_RC(tk_attach_name_check(name, &err), TK_EINVAL);
  CHECK_RC(tk_attach_name_check("", &err), TK_EINVAL);
  CHECK_RC(tk_attach_name_check("a/b", &err), TK_EINVAL);
  CHECK_RC(tk_attach_name_check("a\nb", &err), TK_EINVAL);
  CHECK_RC(tk_attach_name_check("\xff\xfe", &err), TK_EINVAL);
  CHECK_RC(tk_attach_name_check("Показания.ogg", &err), 0);
  tk_store_close(s);
}

static void body_list_and_refs(void)
{
  tk_store_t *s = open_store("body");
  tk_err_t err;
  tk_attach_t a, b, *list;
  size_t n;
  json_t *body = json_pack("{s:s}", "title", "t");
  CHECK_RC(tk_attach_list(body, &list, &n, &err), 0);
  CHECK(n == 0);
  CHECK(tk_attach_public(body) == NULL);
  CHECK_RC(tk_attach_store_file(s, make_file("b1", TK_CHUNK_PLAIN + 1, 1), "one", 10, &a,
                                &err),
           0);
  CHECK_RC(tk_attach_store_file(s, make_file("b2", 10, 2), "two", 10, &b, &err), 0);
  CHECK_RC(tk_attach_add(body, &a, &err), 0);
  CHECK_RC(tk_attach_add(body, &a, &err), TK_EEXIST);
  CHECK_RC(tk_attach_add(body, &b, &err), 0);
  CHECK_RC(tk_attach_list(body, &list, &n, &err), 0);
  CHECK(n == 2 && strcmp(list[0].name, "one") == 0 && list[0].nchunks == 2);
  CHECK(memcmp(list[1].key, b.key, TK_ATTACH_KEY_LEN) == 0);
  for (size_t i = 0; i < n; i++)
    tk_attach_clear(&list[i]);
  free(list);
  /* the header refs: every chunk, in list order */
  tk_buf_t refs = TK_BUF_INIT;
  uint32_t nrefs = 0;
  CHECK_RC(tk_attach_refs(body, &refs, &nrefs, &err), 0);
  CHECK(nrefs == 3 && refs.n == 3 * TK_HASH_LEN);
  CHECK(memcmp(refs.p, a.chunks[0], TK_HASH_LEN) == 0);
  CHECK(memcmp(refs.p + 2 * TK_HASH_LEN, b.chunks[0], TK_HASH_LEN) == 0);
  tk_buf_free(&refs);
  /* the public view has no key and no chunk ids */
  json_t *pub = tk_attach_public(body);
  CHECK(json_array_size(pub) == 2);
  CHECK(!json_object_get(json_array_get(pub, 0), "key"));
  CHECK(json_integer_value(json_object_get(json_array_get(pub, 0), "chunks")) == 2);
  json_decref(pub);
  /* malformed entries are named */
  json_t *e = json_array_get(json_object_get(body, TK_ATTACH_FIELD), 1);
  json_object_set_new(e, "key", json_string("zz"));
  CHECK_RC(tk_attach_list(body, &list, &n, &err), TK_EFORMAT);
  CHECK(strstr(err.msg, "_attachments[1].key"));
  json_object_set_new(e, "key", json_string("00"));
  json_object_set_new(e, "size", json_integer(TK_CHUNK_PLAIN + 1)); /* needs 2 chunks */
  CHECK_RC(tk_attach_list(body, &list, &n, &err), TK_EFORMAT);
  CHECK(strstr(err.msg, "_attachments[1]"));
  json_object_set_new(e, "size", json_integer(10));
  json_object_set_new(e, "name",
                      json_stringn("a\0/x", 4)); /* a NUL would hide the rest */
  CHECK_RC(tk_attach_list(body, &list, &n, &err), TK_EFORMAT);
  CHECK(strstr(err.msg, "_attachments[1].name"));
  json_object_set_new(body, TK_ATTACH_FIELD, json_string("no"));
  CHECK_RC(tk_attach_list(body, &list, &n, &err), TK_EFORMAT);
  json_decref(body);
  tk_attach_clear(&a);
  tk_attach_clear(&b);
  tk_store_close(s);
}

/* The store learns a revision's chunks from its signed header, counts the
 * missing ones, and the vaults that name a chunk. */
static void refs_from_revisions(void)
{
  tk_store_t *s = open_store("refs");
  tk_err_t err;
  uint8_t pk[TK_SIGN_PK_LEN], sk[TK_SIGN_SK_LEN], vkey[TK_VAULT_KEY_LEN];
  crypto_sign_keypair(pk, sk);
  uint8_t data[50], id[TK_HASH_LEN], ghost[TK_HASH_LEN], refs[2][TK_HASH_LEN];
  memset(data, 3, sizeof data);
  tk_sha256(id, data, sizeof data);
  memset(ghost, 9, sizeof ghost);
  memcpy(refs[0], id, TK_HASH_LEN);
  memcpy(refs[1], ghost, TK_HASH_LEN);
  tk_vault_key_new(vkey);
  tk_rev_draft_t d;
  memset(&d, 0, sizeof d);
  memset(d.record_id, 5, sizeof d.record_id);
  d.type = "case";
  d.vault = "v";
  d.hlc = 1000;
  d.generation = 1;
  d.attach = refs[0];
  d.nattach = 2;
  d.body = TK_SLICE("{}", 2);
  tk_buf_t enc = TK_BUF_INIT;
  tk_rev_t rev;
  CHECK_RC(tk_rev_seal(&enc, &d, vkey, sk, &err), 0);
  CHECK_RC(tk_rev_parse(&rev, TK_SLICE(enc.p, enc.n), &err), 0);
  uint32_t nnew = 0, missing = 0, total = 0;
  uint64_t vault_chunks = 0;
  CHECK_RC(tk_store_chunks_new(s, &rev, &nnew, &err), 0);
  CHECK(nnew == 2);
  CHECK_RC(tk_store_put_rev(s, &rev, NULL, &err), 0);
  CHECK_RC(tk_store_chunks_new(s, &rev, &nnew, &err), 0);
  CHECK(nnew == 0);
  CHECK_RC(tk_store_vault_chunks(s, "v", &vault_chunks, &err), 0);
  CHECK(vault_chunks == 2);
  CHECK_RC(tk_store_rev_chunks(s, rev.id, &missing, &total, &err), 0);
  CHECK(missing == 2 && total == 2);
  CHECK_RC(tk_store_chunk_put(s, id, TK_SLICE(data, sizeof data), NULL, &err), 0);
  CHECK_RC(tk_store_rev_chunks(s, rev.id, &missing, &total, &err), 0);
  CHECK(missing == 1 && total == 2);
  uint64_t n = 0, nbad = 0;
  CHECK_RC(tk_store_chunks_verify(s, NULL, NULL, &n, &nbad, &err), 0);
  CHECK(n == 1 && nbad == 0);
  tk_buf_free(&enc);
  tk_store_close(s);
}

TK_TESTS(TK_TEST(round_trip_sizes), TK_TEST(same_file_twice_is_new_chunks),
         TK_TEST(chunk_put_checks), TK_TEST(damaged_or_missing_chunk),
         TK_TEST(limits_and_names), TK_TEST(body_list_and_refs),
         TK_TEST(refs_from_revisions))
