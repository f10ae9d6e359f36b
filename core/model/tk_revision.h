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
 *   plaintext: one byte encoding then the bytes:
 *     0  the JSON as is
 *     1  one zstd frame of the JSON
 *     2  a delta: u8 index into the parents (the base), then one zstd frame
 *        of the JSON compressed with the base's body (its plaintext JSON)
 *        as a raw-content prefix; the frame states its content size and
 *        carries zstd's checksum, and the base is of the same record, vault
 *        and type
 *   The JSON is an object of at most TK_MAX_BODY_JSON bytes. A tombstone's
 *   body is {"_deleted":true}.
 *
 *   The delta chain: a full body (0 or 1) is at depth 0, a delta at its
 *   base's depth + 1. The author writes a delta only when its base is at
 *   depth < TK_MAX_DELTA_CHAIN (so every TK_MAX_DELTA_CHAIN + 1-th revision
 *   of a line of edits is full) and only when it is smaller; a reader
 *   refuses a body that would need more than TK_MAX_DELTA_CHAIN parents
 *   decrypted. Which encoding, and which parent, is inside the ciphertext:
 *   the header says nothing of it.
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
  /* Optional (base_id NULL: none): the plaintext body of one of the
   * parents, base_id (which must be among them), and its depth in its delta
   * chain (tk_rev_open_chain's *depth; 0 for a full body). seal writes a
   * delta against it when base_depth < TK_MAX_DELTA_CHAIN and the delta is
   * smaller than the full body. */
  const uint8_t *base_id;
  tk_slice_t base;
  uint32_t base_depth;
} tk_rev_draft_t;

/* Encrypts, compresses (when that makes it smaller; against the draft's
 * base when that is smaller still) and signs a draft into out (appended).
 * sign_sk is the author's Ed25519 secret key. TK_EINVAL for a bad name, a
 * repeated parent, a base that is not a parent, or a generation that does
 * not fit the parents (1 without parents, >= 2 with); TK_ELIMIT for a count
 * or size over its limit. On failure out is left as it was. */
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

/* Where tk_rev_open_chain finds the parents a delta body needs. fetch
 * appends the encoded bytes of revision id to out (TK_ENOTFOUND if it has
 * none); key gives the vault key of a parent's vault and key_id (NULL: the
 * key the revision itself was opened with). Both set err on failure. */
typedef struct tk_rev_source {
  int (*fetch)(void *ctx, const uint8_t id[TK_REV_ID_LEN], tk_buf_t *out, tk_err_t *err);
  int (*key)(void *ctx, const char *vault, const uint8_t key_id[TK_KEY_ID_LEN],
             uint8_t key[TK_VAULT_KEY_LEN], tk_err_t *err);
  void *ctx;
} tk_rev_source_t;

/* Decrypts and decompresses the body into plain (appended; the caller wipes
 * it with tk_buf_wipe), reading the delta chain through src: at most
 * TK_MAX_DELTA_CHAIN parents, each checked against the id its child names
 * and decrypted; a longer chain is TK_ELIMIT. *depth (if not NULL) gets the
 * body's depth (0: a full body). TK_ETAG if a tag fails, TK_EFORMAT/
 * TK_ELIMIT if a plaintext is malformed or too large, TK_EPARENT (naming
 * the revision and the parent) if a base cannot be had or read, or src is
 * NULL and the body is a delta. Needs the vault key named by rev->key_id
 * (not checked here: a wrong key fails the tag). Memory: the decrypted
 * plaintext of each level of the chain (each at most TK_MAX_BODY_JSON + 1
 * bytes) and two bodies. On failure plain keeps its old length and nothing
 * decrypted is left in it. */
int tk_rev_open_chain(const tk_rev_t *rev, const uint8_t vault_key[TK_VAULT_KEY_LEN],
                      const tk_rev_source_t *src, tk_buf_t *plain, uint32_t *depth,
                      tk_err_t *err);

/* tk_rev_open_chain without a source: a delta body is TK_EPARENT. */
int tk_rev_open(const tk_rev_t *rev, const uint8_t vault_key[TK_VAULT_KEY_LEN],
                tk_buf_t *plain, tk_err_t *err);

/* Checks a vault or type name for a person's input: 1..max bytes of
 * [a-z0-9_-], and '.' when allow_dot (vaults). kind ("vault", "type")
 * names it in the message. TK_EINVAL. */
int tk_name_check(const char *kind, const char *s, size_t max, int allow_dot,
                  tk_err_t *err);

/* Winner order of DESIGN.md: > 0 if a wins over b (higher generation, then
 * higher revision id), < 0 if b wins, 0 if the same revision. Among a
 * record's heads a live one comes before a tombstone first (the store's
 * heads.deleted, tk_store.h); this order applies within each. */
int tk_rev_winner_cmp(uint32_t gen_a, const uint8_t id_a[TK_REV_ID_LEN], uint32_t gen_b,
                      const uint8_t id_b[TK_REV_ID_LEN]);

#endif
