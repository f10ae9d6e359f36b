/*
 * tk_attach.h: attachments (audio testimonies, scanned appeals, photos).
 *
 * An attachment is a file encrypted under its own random 32-byte key and
 * split into chunks of TK_CHUNK_PLAIN plaintext bytes (the last may be
 * shorter; an empty file has no chunk). Chunk i is
 *
 *   XChaCha20-Poly1305(key, nonce = u64be(i) || 16 zero bytes,
 *                      ad = "tunduk chunk v1", plaintext bytes i)
 *
 * and is named by the SHA-256 of that ciphertext. The key never encrypts
 * two chunks under one nonce (the index differs), and never another file
 * (it is fresh per attachment).
 *
 * The record's body keeps what a reader needs, under TK_ATTACH_FIELD, inside
 * the encrypted body (so only holders of the vault key see it):
 *
 *   "_attachments": [ { "name": "...", "size": N, "sha256": "<hex of the
 *       plaintext>", "key": "<hex>", "chunks": ["<hex id>", ...] }, ... ]
 *
 * and the revision's signed header names every chunk of every attachment,
 * in that order (tk_rev_t.attach), so a hub that cannot read the body still
 * knows which chunks a revision needs and can accept exactly those. Reading
 * checks each chunk's hash, its tag, its position and the whole file's
 * SHA-256.
 *
 * Threads: any; a store is used by one thread at a time.
 */
#ifndef TK_ATTACH_H
#define TK_ATTACH_H

#include <jansson.h>

#include "tk_store.h"

#define TK_ATTACH_FIELD "_attachments"
#define TK_ATTACH_KEY_LEN 32
#define TK_MAX_ATTACH_NAME 255 /* bytes of an attachment's name */
#define TK_MAX_ATTACHMENTS 64  /* attachments of one record */

typedef struct tk_attach {
  char name[TK_MAX_ATTACH_NAME + 1];
  uint64_t size; /* plaintext bytes */
  uint8_t sha256[TK_HASH_LEN];
  uint8_t key[TK_ATTACH_KEY_LEN];
  uint32_t nchunks;
  uint8_t (*chunks)[TK_HASH_LEN];
} tk_attach_t;

/* Wipes the key and frees the chunk list (a may be zeroed already). */
void tk_attach_clear(tk_attach_t *a);

/* Checks an attachment name: 1..TK_MAX_ATTACH_NAME bytes of UTF-8 text
 * without control characters or '/'. TK_EINVAL naming the problem. */
int tk_attach_name_check(const char *name, tk_err_t *err);

/* Encrypts the file at path chunk by chunk into s (runs inside the
 * caller's transaction; memory does not grow with the file) and fills a
 * (name given, key fresh). max_chunks bounds the file (TK_ELIMIT, checked
 * before anything is written). */
int tk_attach_store_file(tk_store_t *s, const char *path, const char *name,
                         uint32_t max_chunks, tk_attach_t *a, tk_err_t *err);

/* Encrypts plaintext chunk `index` (n bytes, 1..TK_CHUNK_PLAIN) of an
 * attachment under key, as above, into ct (room for n + 16 bytes) and names
 * it: id = SHA-256 of the ciphertext. Returns the ciphertext's length. The
 * one place a chunk is made (tk_attach_store_file, the office's streamed
 * upload). */
size_t tk_attach_chunk_seal(const uint8_t key[TK_ATTACH_KEY_LEN], uint32_t index,
                            const uint8_t *plain, size_t n, uint8_t *ct,
                            uint8_t id[TK_HASH_LEN]);

/* Reading an attachment chunk by chunk (tk_attach_write_file, the office's
 * streamed download). open checks that every chunk is here (TK_EPENDING
 * naming how many are not, nothing read) and copies a (its key into locked
 * memory). next decrypts the next chunk into *plain (n bytes, valid until
 * the next call), each chunk's hash, tag and position checked (TK_EHASH,
 * TK_ETAG), and before the last chunk's bytes are handed out the whole
 * file's SHA-256 (TK_EHASH); *n = 0 at the end. After a failure every next
 * fails. wipe forgets the key and the plaintext (next fails from then on);
 * free wipes and frees; NULL is a no-op for both. */
typedef struct tk_attach_reader tk_attach_reader_t;
int tk_attach_reader_open(tk_store_t *s, const tk_attach_t *a, tk_attach_reader_t **out,
                          tk_err_t *err);
int tk_attach_reader_next(tk_attach_reader_t *r, const uint8_t **plain, size_t *n,
                          tk_err_t *err);
/* 1 when every chunk was read and checked (the whole file's hash too). */
int tk_attach_reader_done(const tk_attach_reader_t *r);
void tk_attach_reader_wipe(tk_attach_reader_t *r);
void tk_attach_reader_free(tk_attach_reader_t *r);

/* Decrypts a into the file out ("-": standard output), chunk by chunk:
 * written to a temporary file beside out and renamed into place only when
 * every chunk and the whole file's SHA-256 check out. TK_EPENDING if a
 * chunk is not here yet (nothing written), TK_EHASH/TK_ETAG if one is
 * damaged. */
int tk_attach_write_file(tk_store_t *s, const tk_attach_t *a, const char *out,
                         tk_err_t *err);

/* Reads the body's attachment list (none: *n = 0). TK_EFORMAT naming the
 * entry and field if it is malformed. Free each with tk_attach_clear and
 * the array with free. */
int tk_attach_list(const json_t *body, tk_attach_t **out, size_t *n, tk_err_t *err);

/* Appends a to the body's list. TK_EEXIST if the name is taken, TK_ELIMIT
 * past TK_MAX_ATTACHMENTS. */
int tk_attach_add(json_t *body, const tk_attach_t *a, tk_err_t *err);

/* The header refs for body: every chunk of every attachment, in list
 * order, appended to refs; *n their count. TK_ELIMIT past
 * TK_MAX_ATTACH_REFS. */
int tk_attach_refs(const json_t *body, tk_buf_t *refs, uint32_t *n, tk_err_t *err);

/* The list without keys or chunk ids ({name, size, sha256, chunks: count}),
 * for display and export; NULL if the body has none. Applied to a body
 * whose list is already public it gives the same list (the counts stay). */
json_t *tk_attach_public(const json_t *body);

#endif
