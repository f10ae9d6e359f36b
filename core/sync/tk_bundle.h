/*
 * tk_bundle.h: a sync written to a file (PROTOCOL.md, "Bundles"): the
 * protocol's own frames, sealed to the recipient's X25519 key and signed
 * by the sender's device key, so that whoever finds the file learns
 * nothing but its header and its size.
 *
 * The writer is a file transport (tk_transport_t, tk_transport.h): the
 * sync steps send their frames to it as they would to a peer, and it
 * appends each to the encrypted stream. The reader checks a whole bundle
 * first (every chunk's tag, the end, the signature, every limit) without
 * handing out anything, then reads it again and hands each frame to its
 * caller, so a damaged bundle is refused before a frame of it is used.
 *
 * Threads: any, one bundle per thread.
 */
#ifndef TK_BUNDLE_H
#define TK_BUNDLE_H

#include <stdio.h>

#include "tk_identity.h"
#include "tk_peer_identity.h"
#include "tk_transport.h"
#include "tk_wire.h"

#define TK_BUNDLE_MAGIC "TKBUNDLE"
#define TK_BUNDLE_VERSION 1
#define TK_BUNDLE_HEADER 12 /* magic, version, 3 zero bytes */
#define TK_BUNDLE_SEALED 80 /* crypto_box_seal of the 32-byte key */
#define TK_BUNDLE_PREFIX (TK_BUNDLE_HEADER + TK_BUNDLE_SEALED)
#define TK_BUNDLE_CHUNK (64u << 10)       /* plaintext bytes per sealed chunk */
#define TK_BUNDLE_MAX_FRAME (4u << 20)    /* one frame's payload */
#define TK_BUNDLE_MAX_FRAMES 4000000u     /* frames in one bundle */
#define TK_BUNDLE_MAX_BYTES (16ull << 30) /* plaintext of one bundle */
#define TK_BUNDLE_INNER 40                /* recipient id, created_ms */

typedef struct tk_bundle_writer {
  tk_transport_t t; /* first: the steps send frames here */
  FILE *f;
  char *path, *tmp;
  const tk_identity_t *id;
  uint8_t key[32];
  uint8_t prefix[TK_BUNDLE_PREFIX];
  uint64_t ctr;
  uint8_t *pend; /* TK_BUNDLE_CHUNK bytes of plaintext not sealed yet */
  size_t npend;
  void *hash; /* crypto_hash_sha256_state */
  uint64_t frames, plain_bytes, file_bytes;
  int rc; /* the first failure: every later send returns it */
  tk_err_t err;
} tk_bundle_writer_t;

/* Starts a bundle for recipient (its device id and X25519 key) from id
 * (unlocked) at path: written to path.tmp, renamed by _close. */
int tk_bundle_writer_open(tk_bundle_writer_t *w, const char *path,
                          const uint8_t recipient[TK_DEVICE_ID_LEN],
                          const uint8_t recipient_kx[TK_KX_PK_LEN],
                          const tk_identity_t *id, tk_err_t *err);
/* The writer's transport: frames sent there go into the bundle. */
static inline tk_transport_t *tk_bundle_writer_transport(tk_bundle_writer_t *w)
{
  return &w->t;
}
/* Ends the stream (terminator, signature, last chunk), syncs and renames
 * it into place. On any failure (also an earlier send's) the file is
 * removed. */
int tk_bundle_writer_close(tk_bundle_writer_t *w, tk_err_t *err);
/* Drops a bundle that will not be finished. */
void tk_bundle_writer_abort(tk_bundle_writer_t *w);

/* An acknowledgement bundle for `to`: Pull{since = revs} and Pull{chunks,
 * since = chunks} (the checkpoints the receiver holds for `to`), Bye. */
int tk_bundle_write_ack(const char *path, const tk_peer_t *to, const tk_identity_t *id,
                        uint64_t revs, uint64_t chunks, tk_err_t *err);

typedef struct tk_bundle_info {
  uint8_t recipient[TK_DEVICE_ID_LEN];
  uint64_t created_ms;
  tk_peer_t sender; /* from the first frame (Hello), checked */
  uint64_t frames, plain_bytes, file_bytes;
} tk_bundle_info_t;

/* A frame of the bundle (after the Hello): its payload, and the file
 * offset of the sealed chunk it ends in. Non-zero stops the read and is
 * returned. */
typedef int (*tk_bundle_frame_fn)(void *ctx, uint64_t offset, tk_slice_t payload);

/* Checks the bundle at path for me (unlocked): header, key opened with
 * me's X25519 key (TK_EACCESS: not sealed to this device), every chunk
 * (TK_ETAG), its end (TK_EFORMAT: truncated), every limit (TK_ELIMIT),
 * the recipient (TK_EACCESS: another device), the sender's identity and
 * signature (TK_ESIG). err names the byte offset and the reason. Then,
 * with fn, reads it again and hands each frame after the Hello to fn, in
 * order. */
int tk_bundle_read(const char *path, const tk_identity_t *me, tk_bundle_info_t *info,
                   tk_bundle_frame_fn fn, void *ctx, tk_err_t *err);

/* For an applier's tk_bundle_frame_fn: payload decoded (free it with
 * tk_wire_free), or NULL with err naming path and offset: a frame after
 * the Bye (bye set), or one that does not decode. */
tk_frame_t *tk_bundle_frame(const char *path, uint64_t offset, tk_slice_t payload,
                            int bye, tk_err_t *err);

/* The chunks a bundle's last chunk Offer announced, for the Chunk frames
 * that follow it; upto the highest chunk feed position offered so far. */
typedef struct tk_bundle_offer {
  uint8_t (*ids)[TK_HASH_LEN]; /* room for TK_MAX_CHUNK_OFFER, the caller's */
  uint32_t *sizes;
  size_t n;
  uint64_t upto;
} tk_bundle_offer_t;
/* Takes a chunk Offer: 0, or TK_EPROTO (n then 0) when it is not a chunk
 * offer or an entry is malformed. */
int tk_bundle_offer_take(tk_bundle_offer_t *o, const Tunduk__V1__Offer *m,
                         const char *path, tk_err_t *err);

#endif
