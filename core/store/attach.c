/*
 * attach.c: attachments (see tk_attach.h): a file streamed into encrypted
 * chunks in the store, streamed back out with every check, and the
 * attachment list kept in a record's body. At most one chunk of plaintext
 * and one of ciphertext are in memory at a time; plaintext buffers are
 * wiped before they are freed.
 */
#include "tk_attach.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_AD "tunduk chunk v1"
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES

_Static_assert(TK_CHUNK_MAX == TK_CHUNK_PLAIN + TAG_LEN, "chunk = plaintext + tag");
_Static_assert(TK_ATTACH_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
               "attachment key is an XChaCha20-Poly1305 key");

static void chunk_nonce(uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES],
                        uint64_t index)
{
  memset(nonce, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  for (int i = 0; i < 8; i++)
    nonce[i] = (uint8_t)(index >> (56 - 8 * i));
}

void tk_attach_clear(tk_attach_t *a)
{
  free(a->chunks);
  tk_wipe(a, sizeof *a);
}

int tk_attach_name_check(const char *name, tk_err_t *err)
{
  size_t n = strlen(name);
  if (n == 0 || n > TK_MAX_ATTACH_NAME)
    return tk_err_set(err, TK_EINVAL, "attachment name must be 1 to %d bytes, got %zu",
                      TK_MAX_ATTACH_NAME, n);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)name[i];
    if (ch < 0x20 || ch == 0x7f || ch == '/')
      return tk_err_set(err, TK_EINVAL,
                        "attachment name '%s' has a control character or '/' at byte %zu",
                        name, i + 1);
  }
  json_t *j = json_stringn(name, n); /* jansson refuses invalid UTF-8 */
  if (!j) return tk_err_set(err, TK_EINVAL, "attachment name is not valid UTF-8");
  json_decref(j);
  return 0;
}

size_t tk_attach_chunk_seal(const uint8_t key[TK_ATTACH_KEY_LEN], uint32_t index,
                            const uint8_t *plain, size_t n, uint8_t *ct,
                            uint8_t id[TK_HASH_LEN])
{
  uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  unsigned long long got = 0;
  chunk_nonce(nonce, index);
  crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &got, plain, n,
                                             (const uint8_t *)CHUNK_AD,
                                             sizeof CHUNK_AD - 1, NULL, nonce, key);
  tk_sha256(id, ct, (size_t)got);
  return (size_t)got;
}

int tk_attach_store_file(tk_store_t *s, const char *path, const char *name,
                         uint32_t max_chunks, tk_attach_t *a, tk_err_t *err)
{
  uint8_t *plain = NULL, *ct = NULL;
  crypto_hash_sha256_state hs;
  struct stat stt;
  int rc = 0;
  memset(a, 0, sizeof *a);
  FILE *f = fopen(path, "rb");
  if (!f) return tk_err_set(err, TK_EIO, "cannot open %s: %s", path, strerror(errno));
  if (fstat(fileno(f), &stt) != 0 || !S_ISREG(stt.st_mode)) {
    fclose(f);
    return tk_err_set(err, TK_EINVAL, "%s is not a regular file", path);
  }
  uint64_t size = (uint64_t)stt.st_size;
  uint64_t nchunks = (size + TK_CHUNK_PLAIN - 1) / TK_CHUNK_PLAIN;
  if (nchunks > max_chunks) {
    fclose(f);
    return tk_err_set(err, TK_ELIMIT,
                      "%s is %llu bytes; this record has room for %llu more bytes of "
                      "attachments (at most %u chunks of %u KiB per record)",
                      path, (unsigned long long)size,
                      (unsigned long long)max_chunks * TK_CHUNK_PLAIN,
                      (unsigned)TK_MAX_ATTACH_REFS, (unsigned)(TK_CHUNK_PLAIN >> 10));
  }
  snprintf(a->name, sizeof a->name, "%s", name);
  a->size = size;
  a->nchunks = (uint32_t)nchunks;
  a->chunks = calloc(nchunks ? nchunks : 1, TK_HASH_LEN);
  plain = tk_secure_alloc(TK_CHUNK_PLAIN);
  ct = malloc(TK_CHUNK_MAX);
  if (!a->chunks || !plain || !ct) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory");
    goto done;
  }
  crypto_aead_xchacha20poly1305_ietf_keygen(a->key);
  crypto_hash_sha256_init(&hs);
  for (uint32_t i = 0; i < a->nchunks; i++) {
    size_t want = i + 1 < a->nchunks ? TK_CHUNK_PLAIN
                                     : (size_t)(size - (uint64_t)i * TK_CHUNK_PLAIN);
    if (fread(plain, 1, want, f) != want) {
      rc = tk_err_set(err, TK_EIO,
                      "%s: read failed or the file changed while it was read", path);
      goto done;
    }
    crypto_hash_sha256_update(&hs, plain, want);
    size_t got = tk_attach_chunk_seal(a->key, i, plain, want, ct, a->chunks[i]);
    rc = tk_store_chunk_put(s, a->chunks[i], TK_SLICE(ct, got), NULL, err);
    if (rc == TK_EEXIST) rc = 0;
    if (rc) goto done;
  }
  if (fgetc(f) != EOF) {
    rc = tk_err_set(err, TK_EIO, "%s grew while it was read; try again", path);
    goto done;
  }
  crypto_hash_sha256_final(&hs, a->sha256);
done:
  fclose(f);
  tk_secure_free(plain);
  free(ct);
  if (rc) tk_attach_clear(a);
  return rc;
}

/* Writes all of p to fd. */
static int write_all(int fd, const uint8_t *p, size_t n)
{
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

struct tk_attach_reader {
  tk_store_t *s;
  tk_attach_t a;  /* its own copy: chunks list and key (wiped on free) */
  uint32_t next;  /* the chunk read next */
  uint64_t left;  /* plaintext bytes still to come */
  uint8_t *plain; /* TK_CHUNK_PLAIN locked bytes: the chunk read last */
  tk_buf_t ct;
  crypto_hash_sha256_state hs;
  int failed;
};

int tk_attach_reader_open(tk_store_t *s, const tk_attach_t *a, tk_attach_reader_t **out,
                          tk_err_t *err)
{
  *out = NULL;
  for (uint32_t i = 0; i < a->nchunks; i++) {
    int has = tk_store_chunk_has(s, a->chunks[i]);
    if (has < 0) return tk_err_set(err, TK_ESTORE, "cannot read the store");
    if (!has) {
      uint32_t missing = 0;
      for (uint32_t k = i; k < a->nchunks; k++)
        missing += tk_store_chunk_has(s, a->chunks[k]) != 1;
      return tk_err_set(err, TK_EPENDING,
                        "attachment '%s' is incomplete: %u of its %u chunks have not "
                        "arrived yet (sync again)",
                        a->name, missing, a->nchunks);
    }
  }
  tk_attach_reader_t *r = tk_secure_alloc(sizeof *r);
  if (!r) return tk_err_set(err, TK_ENOMEM, "out of memory");
  memset(r, 0, sizeof *r);
  r->s = s;
  r->a = *a;
  r->a.chunks = calloc(a->nchunks ? a->nchunks : 1, TK_HASH_LEN);
  r->plain = tk_secure_alloc(TK_CHUNK_PLAIN);
  r->ct = (tk_buf_t)TK_BUF_INIT;
  if (!r->a.chunks || !r->plain) {
    tk_attach_reader_free(r);
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  }
  memcpy(r->a.chunks, a->chunks, (size_t)a->nchunks * TK_HASH_LEN);
  r->left = a->size;
  crypto_hash_sha256_init(&r->hs);
  *out = r;
  return 0;
}

int tk_attach_reader_next(tk_attach_reader_t *r, const uint8_t **plain, size_t *n,
                          tk_err_t *err)
{
  uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES], h[TK_HASH_LEN];
  char hex[2 * TK_HASH_LEN + 1];
  const tk_attach_t *a = &r->a;
  *plain = NULL;
  *n = 0;
  if (r->failed)
    return tk_err_set(err, TK_EINVAL, "attachment '%s': reading stopped after an error",
                      a->name);
  if (r->next >= a->nchunks) return 0;
  uint32_t i = r->next;
  size_t want = r->left < TK_CHUNK_PLAIN ? (size_t)r->left : TK_CHUNK_PLAIN;
  unsigned long long got = 0;
  int rc;
  r->failed = 1; /* until this chunk checks out */
  tk_hex_encode(hex, a->chunks[i], TK_HASH_LEN);
  r->ct.n = 0;
  rc = tk_store_chunk_get(r->s, a->chunks[i], &r->ct, err);
  if (rc) return rc;
  tk_sha256(h, r->ct.p, r->ct.n);
  if (!tk_ct_equal(h, a->chunks[i], TK_HASH_LEN))
    return tk_err_set(err, TK_EHASH,
                      "attachment '%s': chunk %u (%.16s) is damaged in this store",
                      a->name, i + 1, hex);
  chunk_nonce(nonce, i);
  if (want == 0 || r->ct.n != want + TAG_LEN ||
      crypto_aead_xchacha20poly1305_ietf_decrypt(r->plain, &got, NULL, r->ct.p, r->ct.n,
                                                 (const uint8_t *)CHUNK_AD,
                                                 sizeof CHUNK_AD - 1, nonce, a->key) != 0)
    return tk_err_set(err, TK_ETAG,
                      "attachment '%s': chunk %u (%.16s) does not decrypt with its key",
                      a->name, i + 1, hex);
  crypto_hash_sha256_update(&r->hs, r->plain, want);
  r->left -= want;
  r->next++;
  if (r->next == a->nchunks) { /* the last: the whole file before its bytes go out */
    crypto_hash_sha256_final(&r->hs, h);
    if (r->left != 0 || !tk_ct_equal(h, a->sha256, TK_HASH_LEN)) {
      tk_wipe(r->plain, TK_CHUNK_PLAIN);
      return tk_err_set(err, TK_EHASH,
                        "attachment '%s': the file's SHA-256 does not match", a->name);
    }
  }
  r->failed = 0;
  *plain = r->plain;
  *n = want;
  return 0;
}

int tk_attach_reader_done(const tk_attach_reader_t *r)
{
  return !r->failed && r->next >= r->a.nchunks;
}

void tk_attach_reader_wipe(tk_attach_reader_t *r)
{
  if (!r) return;
  tk_wipe(r->a.key, sizeof r->a.key);
  if (r->plain) tk_wipe(r->plain, TK_CHUNK_PLAIN);
  r->failed = 1;
}

void tk_attach_reader_free(tk_attach_reader_t *r)
{
  if (!r) return;
  tk_secure_free(r->plain);
  tk_buf_free(&r->ct);
  tk_attach_clear(&r->a);
  tk_secure_free(r); /* wipes the rest (the hash state) */
}

int tk_attach_write_file(tk_store_t *s, const tk_attach_t *a, const char *out,
                         tk_err_t *err)
{
  tk_attach_reader_t *r = NULL;
  char tmp[4096];
  int fd = -1, to_stdout = strcmp(out, "-") == 0;
  int rc = tk_attach_reader_open(s, a, &r, err);
  if (rc) return rc;
  if (to_stdout) {
    fd = STDOUT_FILENO;
  } else {
    if (snprintf(tmp, sizeof tmp, "%s.tunduk-XXXXXX", out) >= (int)sizeof tmp) {
      tk_attach_reader_free(r);
      return tk_err_set(err, TK_EINVAL, "output path is too long");
    }
    fd = mkstemp(tmp);
    if (fd < 0) {
      tk_attach_reader_free(r);
      return tk_err_set(err, TK_EIO, "cannot create a file beside %s: %s", out,
                        strerror(errno));
    }
  }
  for (;;) {
    const uint8_t *plain;
    size_t n;
    rc = tk_attach_reader_next(r, &plain, &n, err);
    if (rc || n == 0) break;
    if (write_all(fd, plain, n) != 0) {
      rc = tk_err_set(err, TK_EIO, "writing %s: %s", out, strerror(errno));
      break;
    }
  }
  if (!rc && !to_stdout && (fsync(fd) != 0 || close(fd) != 0)) {
    fd = -1;
    rc = tk_err_set(err, TK_EIO, "writing %s: %s", out, strerror(errno));
  }
  if (!rc && !to_stdout) {
    fd = -1;
    if (rename(tmp, out) != 0)
      rc = tk_err_set(err, TK_EIO, "cannot rename into %s: %s", out, strerror(errno));
  }
  if (!to_stdout) {
    if (fd >= 0) close(fd);
    if (rc) unlink(tmp);
  }
  tk_attach_reader_free(r);
  return rc;
}

/* ---- the list in the body --------------------------------------------------- */

static int hex_field(const json_t *e, const char *key, uint8_t *out, size_t n, size_t at,
                     tk_err_t *err)
{
  const char *v = json_string_value(json_object_get(e, key));
  if (!v || strlen(v) != 2 * n || tk_hex_decode(out, n, v) != 0)
    return tk_err_set(err, TK_EFORMAT, "%s[%zu].%s must be %zu hex digits",
                      TK_ATTACH_FIELD, at, key, 2 * n);
  return 0;
}

static int parse_entry(const json_t *e, size_t at, tk_attach_t *a, tk_err_t *err)
{
  memset(a, 0, sizeof *a);
  const char *name = json_string_value(json_object_get(e, "name"));
  json_t *size = json_object_get(e, "size"), *chunks = json_object_get(e, "chunks");
  if (!json_is_object(e) || !name || tk_attach_name_check(name, NULL) != 0 ||
      strlen(name) != json_string_length(json_object_get(e, "name")))
    return tk_err_set(err, TK_EFORMAT, "%s[%zu].name is missing or not a valid name",
                      TK_ATTACH_FIELD, at);
  snprintf(a->name, sizeof a->name, "%s", name);
  if (!json_is_integer(size) || json_integer_value(size) < 0)
    return tk_err_set(err, TK_EFORMAT, "%s[%zu].size must be a whole number",
                      TK_ATTACH_FIELD, at);
  a->size = (uint64_t)json_integer_value(size);
  int rc = hex_field(e, "sha256", a->sha256, TK_HASH_LEN, at, err);
  if (!rc) rc = hex_field(e, "key", a->key, TK_ATTACH_KEY_LEN, at, err);
  if (rc) return rc;
  uint64_t want = (a->size + TK_CHUNK_PLAIN - 1) / TK_CHUNK_PLAIN;
  if (!json_is_array(chunks) || json_array_size(chunks) != want)
    return tk_err_set(
        err, TK_EFORMAT, "%s[%zu].chunks must list %llu chunk ids for %llu bytes",
        TK_ATTACH_FIELD, at, (unsigned long long)want, (unsigned long long)a->size);
  if (want > TK_MAX_ATTACH_REFS)
    return tk_err_set(err, TK_ELIMIT, "%s[%zu]: %llu chunks, over the limit of %u",
                      TK_ATTACH_FIELD, at, (unsigned long long)want,
                      (unsigned)TK_MAX_ATTACH_REFS);
  a->nchunks = (uint32_t)want;
  a->chunks = calloc(want ? want : 1, TK_HASH_LEN);
  if (!a->chunks) return tk_err_set(err, TK_ENOMEM, "out of memory");
  for (size_t i = 0; i < want; i++) {
    const char *v = json_string_value(json_array_get(chunks, i));
    if (!v || strlen(v) != 2 * TK_HASH_LEN || tk_hex_decode(a->chunks[i], TK_HASH_LEN, v))
      return tk_err_set(err, TK_EFORMAT, "%s[%zu].chunks[%zu] is not a chunk id",
                        TK_ATTACH_FIELD, at, i);
  }
  return 0;
}

int tk_attach_list(const json_t *body, tk_attach_t **out, size_t *n, tk_err_t *err)
{
  *out = NULL;
  *n = 0;
  json_t *list = json_object_get(body, TK_ATTACH_FIELD);
  if (!list) return 0;
  size_t count = json_array_size(list);
  if (!json_is_array(list) || count > TK_MAX_ATTACHMENTS)
    return tk_err_set(err, TK_EFORMAT, "%s must be a list of at most %d attachments",
                      TK_ATTACH_FIELD, TK_MAX_ATTACHMENTS);
  tk_attach_t *v = calloc(count ? count : 1, sizeof *v);
  if (!v) return tk_err_set(err, TK_ENOMEM, "out of memory");
  for (size_t i = 0; i < count; i++) {
    int rc = parse_entry(json_array_get(list, i), i, &v[i], err);
    if (rc) {
      for (size_t k = 0; k <= i; k++)
        tk_attach_clear(&v[k]);
      free(v);
      return rc;
    }
  }
  *out = v;
  *n = count;
  return 0;
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
  char hex[2 * TK_ATTACH_KEY_LEN + 1];
  tk_hex_encode(hex, p, n);
  json_t *s = json_string(hex);
  sodium_memzero(hex, sizeof hex);
  return s;
}

int tk_attach_add(json_t *body, const tk_attach_t *a, tk_err_t *err)
{
  json_t *list = json_object_get(body, TK_ATTACH_FIELD);
  if (!list) {
    list = json_array();
    if (!list || json_object_set_new(body, TK_ATTACH_FIELD, list) != 0)
      return tk_err_set(err, TK_ENOMEM, "out of memory");
  }
  if (!json_is_array(list))
    return tk_err_set(err, TK_EFORMAT, "%s is not a list", TK_ATTACH_FIELD);
  if (json_array_size(list) >= TK_MAX_ATTACHMENTS)
    return tk_err_set(err, TK_ELIMIT, "a record holds at most %d attachments",
                      TK_MAX_ATTACHMENTS);
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e)
  {
    const char *name = json_string_value(json_object_get(e, "name"));
    if (name && strcmp(name, a->name) == 0)
      return tk_err_set(err, TK_EEXIST,
                        "the record already has an attachment named '%s' (use --name)",
                        a->name);
  }
  json_t *chunks = json_array();
  for (uint32_t k = 0; chunks && k < a->nchunks; k++)
    json_array_append_new(chunks, hex_json(a->chunks[k], TK_HASH_LEN));
  e = json_pack("{s:s, s:I, s:o, s:o, s:o}", "name", a->name, "size", (json_int_t)a->size,
                "sha256", hex_json(a->sha256, TK_HASH_LEN), "key",
                hex_json(a->key, TK_ATTACH_KEY_LEN), "chunks", chunks);
  if (!e || json_array_append_new(list, e) != 0)
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  return 0;
}

int tk_attach_refs(const json_t *body, tk_buf_t *refs, uint32_t *n, tk_err_t *err)
{
  tk_attach_t *v;
  size_t count;
  *n = 0;
  int rc = tk_attach_list(body, &v, &count, err);
  if (rc) return rc;
  uint64_t total = 0;
  for (size_t i = 0; i < count; i++)
    total += v[i].nchunks;
  if (total > TK_MAX_ATTACH_REFS)
    rc = tk_err_set(err, TK_ELIMIT, "the record's attachments have %llu chunks, over %u",
                    (unsigned long long)total, (unsigned)TK_MAX_ATTACH_REFS);
  for (size_t i = 0; i < count && !rc; i++)
    if (tk_buf_append(refs, v[i].chunks, (size_t)v[i].nchunks * TK_HASH_LEN) != 0)
      rc = tk_err_set(err, TK_ENOMEM, "out of memory");
  if (!rc) *n = (uint32_t)total;
  for (size_t i = 0; i < count; i++)
    tk_attach_clear(&v[i]);
  free(v);
  return rc;
}

json_t *tk_attach_public(const json_t *body)
{
  json_t *list = json_object_get(body, TK_ATTACH_FIELD);
  if (!json_is_array(list)) return NULL;
  json_t *out = json_array();
  size_t i;
  json_t *e;
  json_array_foreach(list, i, e)
  {
    json_t *p = json_object();
    json_object_set(p, "name", json_object_get(e, "name"));
    json_object_set(p, "size", json_object_get(e, "size"));
    json_object_set(p, "sha256", json_object_get(e, "sha256"));
    /* Already a public view (an export's record, prepared in C before a
     * plugin's host converts it): its count stays as it is. */
    json_t *chunks = json_object_get(e, "chunks");
    if (json_is_integer(chunks))
      json_object_set(p, "chunks", chunks);
    else
      json_object_set_new(p, "chunks", json_integer((json_int_t)json_array_size(chunks)));
    json_array_append_new(out, p);
  }
  return out;
}
