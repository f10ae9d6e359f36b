/*
 * fuzz_fixture.h: what the fuzz harnesses (tests/fuzz/<target>.c) and the
 * seed generator (make_seeds.c) share: fixed test keys and identities, a
 * deterministic random generator, and small file helpers.
 *
 * Invariants: everything here is derived from fixed seeds, so a harness
 * process and make_seeds agree on every key, identity and (after
 * fz_rng_reset with the same label) every sealed revision. That is what lets
 * the committed seeds reach past signature and hash checks. The
 * deterministic generator replaces libsodium's only in these test programs;
 * it must never be linked into anything else.
 *
 * Threads: one (libFuzzer runs inputs one at a time).
 */
#ifndef TK_FUZZ_FIXTURE_H
#define TK_FUZZ_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "tk_identity.h"
#include "tk_revision.h"
#include "tk_wire.h"

/* The fixture's devices. FZ_OFFICE is enrolled at the hub with write
 * access to FZ_VAULT and read access to FZ_VAULT_RO; FZ_NEWCOMER is not
 * enrolled but holds the unused token FZ_TOKEN_ID/FZ_TOKEN_SECRET;
 * FZ_REVOKED was enrolled and revoked. */
enum { FZ_HUB = 0, FZ_OFFICE, FZ_NEWCOMER, FZ_REVOKED, FZ_NIDS };

#define FZ_VAULT "cases"
#define FZ_VAULT_RO "archive"
#define FZ_VAULT_SEALED "sealed" /* no fixture device may read it */

extern tk_identity_t *fz_id[FZ_NIDS];
extern uint8_t fz_vault_key[TK_VAULT_KEY_LEN];
extern uint8_t fz_spki_hash[TK_HASH_LEN]; /* the TLS key every fixture peer "uses" */
extern const uint8_t fz_token_id[16];
extern const uint8_t fz_token_secret[32];

/* Installs the deterministic generator, initialises libsodium, builds the
 * identities and keys, and silences logging. Idempotent; aborts on failure. */
void fz_init(void);

/* Restarts the deterministic generator from a stream named by label. */
void fz_rng_reset(const char *label);

/* The identity whose Ed25519 public key is pk, or NULL. */
const tk_identity_t *fz_identity_by_pk(const uint8_t pk[TK_SIGN_PK_LEN]);

/* Seals a revision of the fixture (vault key fz_vault_key) by author,
 * appending it to out. parent may be NULL (first revision). Aborts on
 * failure: fixture revisions are always valid. */
void fz_seal(tk_buf_t *out, const tk_identity_t *author, const uint8_t record_id[16],
             const char *type, const char *vault, const uint8_t *parent,
             uint32_t generation, const char *json);

/* Seals like fz_seal, with nattach attachment refs (32 bytes each) in the
 * signed header. */
void fz_seal_refs(tk_buf_t *out, const tk_identity_t *author, const uint8_t record_id[16],
                  const char *type, const char *vault, const uint8_t *parent,
                  uint32_t generation, const char *json, const uint8_t *attach,
                  uint32_t nattach);

/* The hub store's fixture revisions, made the same way in every process:
 * n encodings appended to all with offsets offs[0..n] (offs[n] = all.n).
 * [0] case record A gen 1, [1] record A gen 2 (parent [0]), [2] record B
 * gen 1 (testimony), all by FZ_OFFICE in FZ_VAULT; then revisions naming
 * the fixture chunks, each a record of its own: [3] in FZ_VAULT (chunks 0, 1,
 * 3), [4] in FZ_VAULT_RO (chunks 2, 4), [5] in FZ_VAULT_SEALED (chunk 5). */
#define FZ_NREVS 6
void fz_fixture_revs(tk_buf_t *all, size_t offs[FZ_NREVS + 1]);

/* The fixture's attachment chunks (random bytes of a few sizes; the hub
 * checks only their hashes): n byte strings appended to all with offsets
 * offs[0..n]. The hub store holds those with fz_chunk_stored[i] set (0, 1,
 * 2, 5: in its chunk feed in that order); 3 (writable by FZ_OFFICE) and 4
 * (read-only vault) are named but missing. */
#define FZ_NCHUNKS 6
extern const int fz_chunk_stored[FZ_NCHUNKS];
void fz_fixture_chunks(tk_buf_t *all, size_t offs[FZ_NCHUNKS + 1]);

/* The per-revision body key, as revision.c derives it: BLAKE2b-256(key =
 * vault key, "tunduk body key v1" || salt). For harnesses that re-encrypt a
 * mutated plaintext so that it reaches the decoder behind the AEAD tag. */
void fz_body_key(uint8_t bk[TK_VAULT_KEY_LEN], const uint8_t salt[TK_REV_SALT_LEN]);

/* Record ids used by the fixture. */
extern const uint8_t fz_record_a[16], fz_record_b[16], fz_record_c[16];

/* Writes n bytes to path (replacing it). Returns 0 or -1. */
int fz_write_file(const char *path, const void *p, size_t n);

/* Re-signing what a mutation broke, for the session harnesses' flag bits:
 * each acts only on the fixture's own keys. fz_repack re-encodes f into
 * *bytes (freeing the old bytes). fz_fix_identity makes a fixture device's
 * Identity verify (device id, kx and TLS bindings); fz_fix_revision
 * re-signs a fixture author's revision in place; fz_fix_grant re-signs a
 * fixture granter's grant in place. */
void fz_repack(uint8_t **bytes, size_t *len, const tk_frame_t *f);
void fz_fix_identity(Tunduk__V1__Identity *m);
void fz_fix_revision(ProtobufCBinaryData b);
void fz_fix_grant(const Tunduk__V1__SignedGrant *g);

#endif
