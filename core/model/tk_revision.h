/*
 * tk_revision.h: the revision envelope. A revision is one immutable,
 * signed, encrypted version of a record. Its encoded bytes are stored and
 * forwarded verbatim; its id is SHA-256 of those exact bytes.
 *
 * Encoding (all integers big-endian; "str8" = u8 length + bytes):
 *
 *   header (also the AEAD associated data):
 *     magic       4   "TKR1"
 *     record_id  16   random, names the record
 *     author_pk  32   Ed25519 public key of the author device
 *     hlc         8   hybrid logical clock, milliseconds since the epoch,
 *                     at most 2^63-1 (the store keeps it as a signed integer)
 *     generation  4   1 + max(parent generations); 1 for a first revision
 *     type     str8   content type, 1..TK_MAX_TYPE_LEN of [a-z0-9_-]
 *     vault    str8   vault name, 1..TK_MAX_VAULT_LEN of [a-z0-9_.-]
 *     key_id      8   which vault key (tk_vault_key_id)
 *     salt       16   random; body key = BLAKE2b-256(key = vault key,
 *                     "tunduk body key v1" || salt)
 *     nonce      24   random XChaCha20-Poly1305 nonce
 *     nparents    1   0..TK_MAX_PARENTS, then nparents x 32-byte revision
 *                     ids, strictly ascending (no duplicates)
 *     nattach     2   0..TK_MAX_ATTACH_REFS, then nattach x 32-byte refs
 *     body_len    4   length of the ciphertext that follows
 *   ciphertext body_len  XChaCha20-Poly1305(body key, nonce, ad = header,
 *                     plaintext), tag included
 *   signature  64   Ed25519 by author_pk over header || ciphertext
 *
 *   plaintext: one byte encoding (0 = JSON as is, 1 = zstd frame of the
 *   JSON) then the bytes. The JSON is an object of at most TK_MAX_BODY_JSON
 *   bytes. A tombstone's body is {"_deleted":true}.
 *
 * Nothing trails the signature. Any difference in any byte changes the id
 * and breaks the signature; a change in header or ciphertext also breaks the
 * tag.
 *
 * Threads: any; no shared state.
 */
#ifndef TK_REVISION_H
#define TK_REVISION_H

#include "tk_crypto.h"

#define TK_REV_SALT_LEN 16
#define TK_REV_NONCE_LEN 24
#define TK_REV_MAGIC "TKR1"

/* A parsed revision: a view into the encoded bytes, valid while they live. */
typedef struct tk_rev {
  tk_slice_t bytes;          /* the whole encoding */
  uint8_t id[TK_REV_ID_LEN]; /* SHA-256(bytes) */
  uint8_t record_id[TK_RECORD_ID_LEN];
  const uint8_t *author_pk;         /* 32 bytes */
  uint8_t author[TK_DEVICE_ID_LEN]; /* device id of the author */
  uint64_t hlc;
  uint32_t generation;
  char type[TK_MAX_TYPE_LEN + 1];
  char vault[TK_MAX_VAULT_LEN + 1];
  uint8_t key_id[TK_KEY_ID_LEN];
  const uint8_t *salt;  /* TK_REV_SALT_LEN bytes */
  const uint8_t *nonce; /* TK_REV_NONCE_LEN bytes */
  uint32_t nparents;
  const uint8_t *parents; /* nparents x 32 bytes, ascending */
  uint32_t nattach;
  const uint8_t *attach; /* nattach x 32 bytes */
  tk_slice_t header;     /* associated data */
  tk_slice_t ciphertext;
  const uint8_t *sig; /* 64 bytes */
} tk_rev_t;

/* What the author supplies to make a revision. parents need not be sorted
 * (tk_rev_seal sorts them) but must be distinct. */
typedef struct tk_rev_draft {
  uint8_t record_id[TK_RECORD_ID_LEN];
  const char *type;
  const char *vault;
  uint64_t hlc;
  uint32_t generation;
  const uint8_t *parents;
  uint32_t nparents;
  const uint8_t *attach;
  uint32_t nattach;
  tk_slice_t body; /* the JSON object, plaintext */
} tk_rev_draft_t;

/* Encrypts, compresses (when that makes it smaller) and signs a draft into
 * out (appended). sign_sk is the author's Ed25519 secret key. TK_EINVAL for
 * a bad name, a repeated parent, or a generation that does not fit the
 * parents (1 without parents, >= 2 with); TK_ELIMIT for a count or size over
 * its limit. On failure out is left as it was. */
int tk_rev_seal(tk_buf_t *out, const tk_rev_draft_t *d,
                const uint8_t vault_key[TK_VAULT_KEY_LEN],
                const uint8_t sign_sk[TK_SIGN_SK_LEN], tk_err_t *err);

/* Parses bytes into rev: structure and every limit, and computes the id.
 * Also refuses generation 0, generation != 1 without parents and generation
 * 1 with parents. Does not check the signature or the tag. TK_EFORMAT or
 * TK_ELIMIT with a message naming the field; rev is written only on success. */
int tk_rev_parse(tk_rev_t *rev, tk_slice_t bytes, tk_err_t *err);

/* Checks the Ed25519 signature (TK_ESIG). */
int tk_rev_verify_sig(const tk_rev_t *rev, tk_err_t *err);

/* Checks that the revision's id equals expect (TK_EHASH), in constant time. */
int tk_rev_check_id(const tk_rev_t *rev, const uint8_t expect[TK_REV_ID_LEN],
                    tk_err_t *err);

/* Decrypts and decompresses the body into plain (appended; the caller wipes
 * it with tk_buf_wipe). TK_ETAG if the tag fails, TK_EFORMAT/TK_ELIMIT if
 * the plaintext is malformed or too large. Needs the vault key named by
 * rev->key_id (not checked here: a wrong key fails the tag). On failure
 * plain keeps its old length and nothing decrypted is left in it. */
int tk_rev_open(const tk_rev_t *rev, const uint8_t vault_key[TK_VAULT_KEY_LEN],
                tk_buf_t *plain, tk_err_t *err);

/* Checks a vault or type name for a person's input: 1..max bytes of
 * [a-z0-9_-], and '.' when allow_dot (vaults). kind ("vault", "type")
 * names it in the message. TK_EINVAL. */
int tk_name_check(const char *kind, const char *s, size_t max, int allow_dot,
                  tk_err_t *err);

/* Winner order of DESIGN.md: > 0 if a wins over b (higher generation, then
 * higher revision id), < 0 if b wins, 0 if the same revision. */
int tk_rev_winner_cmp(uint32_t gen_a, const uint8_t id_a[TK_REV_ID_LEN], uint32_t gen_b,
                      const uint8_t id_b[TK_REV_ID_LEN]);

#endif
