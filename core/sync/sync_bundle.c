/*
 * sync_bundle.c: the bundle file (tk_bundle.h; PROTOCOL.md, "Bundles"):
 * a file transport that seals the frames sent to it, and the reader that
 * checks a whole bundle before it hands out a frame.
 *
 * Layout: header (magic, version, 3 zero bytes), crypto_box_seal of a
 * fresh 32-byte key to the recipient's X25519 key, then the plaintext in
 * sealed chunks of TK_BUNDLE_CHUNK bytes (XChaCha20-Poly1305, nonce the
 * chunk's number, the header, the sealed key and a final flag as
 * associated data; the last chunk is shorter, maybe empty, and flagged, so
 * a cut anywhere is seen). Plaintext: recipient id, created_ms, frames
 * (4-byte big-endian length, Frame), a zero length, and the sender's
 * Ed25519 signature over "tunduk bundle v1" || SHA-256(all before it,
 * header and sealed key included).
 */
#include "tk_bundle.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tk_sync_frames.h"
#include "tk_wire.h"

#define SIG_CONTEXT "tunduk bundle v1"
#define SEALED_CHUNK (TK_BUNDLE_CHUNK + crypto_aead_xchacha20poly1305_ietf_ABYTES)

static void chunk_nonce(uint8_t n[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES],
                        uint64_t ctr)
{
  memset(n, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  for (int i = 0; i < 8; i++)
    n[i] = (uint8_t)(ctr >> (8 * i));
}

static void chunk_ad(uint8_t ad[TK_BUNDLE_PREFIX + 1], const uint8_t *prefix, int final)
{
  memcpy(ad, prefix, TK_BUNDLE_PREFIX);
  ad[TK_BUNDLE_PREFIX] = (uint8_t) final;
}

/* ---- writing ------------------------------------------------------------------ */

static int seal_chunk(tk_bundle_writer_t *w, int final)
{
  uint8_t out[SEALED_CHUNK], nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  uint8_t ad[TK_BUNDLE_PREFIX + 1];
  unsigned long long olen = 0;
  chunk_nonce(nonce, w->ctr++);
  chunk_ad(ad, w->prefix, final);
  crypto_aead_xchacha20poly1305_ietf_encrypt(out, &olen, w->pend, w->npend, ad, sizeof ad,
                                             NULL, nonce, w->key);
  w->npend = 0;
  if (fwrite(out, 1, (size_t)olen, w->f) != olen)
    return tk_err_set(&w->err, TK_EIO, "cannot write %s: %s", w->tmp, strerror(errno));
  w->file_bytes += olen;
  return 0;
}

/* Appends plaintext (hashed unless it is the signature). */
static int put_plain(tk_bundle_writer_t *w, const void *p, size_t n, int hash)
{
  const uint8_t *b = p;
  if (hash) crypto_hash_sha256_update(w->hash, b, n);
  w->plain_bytes += n;
  if (w->plain_bytes > TK_BUNDLE_MAX_BYTES)
    return tk_err_set(&w->err, TK_ELIMIT, "a bundle holds at most %llu bytes",
                      (unsigned long long)TK_BUNDLE_MAX_BYTES);
  while (n) {
    size_t k = TK_BUNDLE_CHUNK - w->npend;
    if (k > n) k = n;
    memcpy(w->pend + w->npend, b, k);
    w->npend += k;
    b += k;
    n -= k;
    /* a full chunk is sealed only when more follows: the last is short */
    if (w->npend == TK_BUNDLE_CHUNK && n) {
      int rc = seal_chunk(w, 0);
      if (rc) return rc;
    }
  }
  return 0;
}

static int w_send(tk_transport_t *t, tk_slice_t payload)
{
  tk_bundle_writer_t *w = (tk_bundle_writer_t *)t;
  if (w->rc) return w->rc;
  if (payload.n == 0 || payload.n > TK_BUNDLE_MAX_FRAME) {
    w->rc = tk_err_set(&w->err, TK_ELIMIT, "a frame of %zu bytes does not fit a bundle",
                       payload.n);
    return w->rc;
  }
  if (++w->frames > TK_BUNDLE_MAX_FRAMES) {
    w->rc = tk_err_set(&w->err, TK_ELIMIT, "a bundle holds at most %u frames",
                       TK_BUNDLE_MAX_FRAMES);
    return w->rc;
  }
  uint8_t len[4] = {(uint8_t)(payload.n >> 24), (uint8_t)(payload.n >> 16),
                    (uint8_t)(payload.n >> 8), (uint8_t)payload.n};
  int rc = put_plain(w, len, 4, 1);
  if (!rc) rc = put_plain(w, payload.p, payload.n, 1);
  /* the full chunk waiting is sealed now, so memory stays one chunk */
  if (!rc && w->npend == TK_BUNDLE_CHUNK) rc = seal_chunk(w, 0);
  w->rc = rc;
  return rc;
}

static void w_close(tk_transport_t *t, int reason, const char *msg)
{
  tk_bundle_writer_t *w = (tk_bundle_writer_t *)t;
  if (reason && !w->rc)
    w->rc = tk_err_set(&w->err, reason, "%s", msg ? msg : "the bundle was abandoned");
}
static void w_nop(tk_transport_t *t)
{
  (void)t;
}
static size_t w_queued(const tk_transport_t *t)
{
  (void)t;
  return 0;
}

static const tk_transport_ops_t writer_ops = {w_send, w_close, w_nop, w_nop, w_queued};

int tk_bundle_writer_open(tk_bundle_writer_t *w, const char *path,
                          const uint8_t recipient[TK_DEVICE_ID_LEN],
                          const uint8_t recipient_kx[TK_KX_PK_LEN],
                          const tk_identity_t *id, tk_err_t *err)
{
  memset(w, 0, sizeof *w);
  w->t.ops = &writer_ops;
  w->id = id;
  if (!id->sec) return tk_err_set(err, TK_ENOKEY, "the device key is locked");
  if (access(path, F_OK) == 0)
    return tk_err_set(err, TK_EEXIST, "%s exists: a bundle is never written over a file",
                      path);
  size_t n = strlen(path);
  w->path = strdup(path);
  w->tmp = malloc(n + 5);
  w->pend = malloc(TK_BUNDLE_CHUNK);
  w->hash = malloc(sizeof(crypto_hash_sha256_state));
  if (!w->path || !w->tmp || !w->pend || !w->hash) {
    tk_bundle_writer_abort(w);
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  }
  memcpy(w->tmp, path, n);
  memcpy(w->tmp + n, ".tmp", 5);
  w->f = fopen(w->tmp, "wbx");
  if (!w->f) {
    int e = errno;
    tk_bundle_writer_abort(w);
    return tk_err_set(err, e == EEXIST ? TK_EEXIST : TK_EIO, "cannot create %s.tmp: %s",
                      path, strerror(e));
  }
  memcpy(w->prefix, TK_BUNDLE_MAGIC, 8);
  w->prefix[8] = TK_BUNDLE_VERSION;
  randombytes_buf(w->key, sizeof w->key);
  if (crypto_box_seal(w->prefix + TK_BUNDLE_HEADER, w->key, sizeof w->key,
                      recipient_kx) != 0) {
    tk_bundle_writer_abort(w);
    return tk_err_set(err, TK_ECRYPTO, "cannot seal the bundle key");
  }
  crypto_hash_sha256_init(w->hash);
  crypto_hash_sha256_update(w->hash, w->prefix, sizeof w->prefix);
  if (fwrite(w->prefix, 1, sizeof w->prefix, w->f) != sizeof w->prefix) {
    tk_bundle_writer_abort(w);
    return tk_err_set(err, TK_EIO, "cannot write %s.tmp", path);
  }
  w->file_bytes = sizeof w->prefix;
  uint8_t inner[TK_BUNDLE_INNER];
  uint64_t now = (uint64_t)time(NULL) * 1000u;
  memcpy(inner, recipient, TK_DEVICE_ID_LEN);
  for (int i = 0; i < 8; i++)
    inner[TK_DEVICE_ID_LEN + i] = (uint8_t)(now >> (56 - 8 * i));
  int rc = put_plain(w, inner, sizeof inner, 1);
  /* the first frame: the sender's identity, for the reader's checks */
  Tunduk__V1__Hello h = TUNDUK__V1__HELLO__INIT;
  Tunduk__V1__Identity im = TUNDUK__V1__IDENTITY__INIT;
  uint8_t kx_sig[TK_SIG_LEN];
  if (!rc) rc = tk_wire_identity(&im, id, kx_sig);
  h.protocol_min = h.protocol_max = TK_PROTOCOL_VERSION;
  h.identity = &im;
  h.software = (char *)TK_SOFTWARE;
  if (!rc) rc = tk_sync_send_msg(&w->t, TUNDUK__V1__FRAME__MSG_HELLO, &h);
  if (rc) {
    if (w->err.msg[0])
      *err = w->err;
    else
      tk_err_set(err, rc, "cannot start the bundle");
    tk_bundle_writer_abort(w);
    return rc;
  }
  return 0;
}

void tk_bundle_writer_abort(tk_bundle_writer_t *w)
{
  if (w->f) {
    fclose(w->f);
    unlink(w->tmp);
  }
  w->f = NULL;
  sodium_memzero(w->key, sizeof w->key);
  if (w->pend) sodium_memzero(w->pend, TK_BUNDLE_CHUNK);
  free(w->pend);
  free(w->hash);
  free(w->path);
  free(w->tmp);
  w->pend = NULL;
  w->hash = NULL;
  w->path = w->tmp = NULL;
}

int tk_bundle_writer_close(tk_bundle_writer_t *w, tk_err_t *err)
{
  int rc = w->rc;
  uint8_t zero[4] = {0}, digest[32], sig[crypto_sign_BYTES];
  uint8_t msg[sizeof SIG_CONTEXT - 1 + 32];
  if (!rc) rc = put_plain(w, zero, 4, 1);
  if (!rc) {
    crypto_hash_sha256_final(w->hash, digest);
    memcpy(msg, SIG_CONTEXT, sizeof SIG_CONTEXT - 1);
    memcpy(msg + sizeof SIG_CONTEXT - 1, digest, 32);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, w->id->sec->sign_sk);
    rc = put_plain(w, sig, sizeof sig, 0);
  }
  /* the last chunk is always short (maybe empty): a full one means more */
  if (!rc && w->npend == TK_BUNDLE_CHUNK) rc = seal_chunk(w, 0);
  if (!rc) rc = seal_chunk(w, 1);
  if (!rc && (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0))
    rc = tk_err_set(&w->err, TK_EIO, "cannot write %s: %s", w->tmp, strerror(errno));
  if (!rc) {
    int bad = fclose(w->f);
    w->f = NULL;
    if (bad || rename(w->tmp, w->path) != 0) {
      rc = tk_err_set(&w->err, TK_EIO, "cannot put the bundle at %s: %s", w->path,
                      strerror(errno));
      unlink(w->tmp);
    }
  }
  if (rc) *err = w->err.msg[0] ? w->err : *err;
  if (rc && !w->err.msg[0]) tk_err_set(err, rc, "cannot write the bundle");
  tk_bundle_writer_abort(w);
  return rc;
}

int tk_bundle_write_ack(const char *path, const tk_peer_t *to, const tk_identity_t *id,
                        uint64_t revs, uint64_t chunks, tk_err_t *err)
{
  tk_bundle_writer_t w;
  int rc = tk_bundle_writer_open(&w, path, to->id, to->kx_pk, id, err);
  if (rc) return rc;
  rc = tk_sync_send_pull(&w.t, revs, 0, 0);
  if (!rc) rc = tk_sync_send_pull(&w.t, chunks, 1, 0);
  if (!rc) tk_sync_send_bye(&w.t);
  return tk_bundle_writer_close(&w, err);
}

/* ---- reading ------------------------------------------------------------------ */

typedef struct reader {
  FILE *f;
  const char *path;
  uint8_t prefix[TK_BUNDLE_PREFIX];
  uint8_t key[32];
  uint64_t ctr, off; /* next chunk's number, its file offset */
  uint8_t *plain;    /* the current chunk's plaintext */
  size_t nplain, pos;
  int final; /* the current chunk is the last */
  uint64_t total;
  tk_err_t *err;
} reader_t;

static int next_chunk(reader_t *r)
{
  uint8_t buf[SEALED_CHUNK + 1], nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  uint8_t ad[TK_BUNDLE_PREFIX + 1];
  unsigned long long plen = 0;
  if (r->final)
    return tk_err_set(r->err, TK_EFORMAT, "%s: byte %llu: the stream ends here", r->path,
                      (unsigned long long)r->off);
  size_t got = fread(buf, 1, SEALED_CHUNK, r->f);
  if (ferror(r->f))
    return tk_err_set(r->err, TK_EIO, "%s: byte %llu: cannot read: %s", r->path,
                      (unsigned long long)r->off, strerror(errno));
  if (got == 0)
    return tk_err_set(r->err, TK_EFORMAT,
                      "%s: byte %llu: truncated (the file ends before the bundle does)",
                      r->path, (unsigned long long)r->off);
  int final = got < SEALED_CHUNK;
  if (got < crypto_aead_xchacha20poly1305_ietf_ABYTES)
    return tk_err_set(r->err, TK_EFORMAT,
                      "%s: byte %llu: truncated inside a sealed chunk", r->path,
                      (unsigned long long)r->off);
  chunk_nonce(nonce, r->ctr);
  chunk_ad(ad, r->prefix, final);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(r->plain, &plen, NULL, buf, got, ad,
                                                 sizeof ad, nonce, r->key) != 0)
    return tk_err_set(r->err, TK_ETAG,
                      "%s: byte %llu: sealed chunk %llu does not verify (damaged%s)",
                      r->path, (unsigned long long)r->off, (unsigned long long)r->ctr,
                      final ? ", or truncated" : "");
  r->ctr++;
  r->off += got;
  r->nplain = (size_t)plen;
  r->pos = 0;
  r->final = final;
  if (final) { /* nothing may follow the last chunk */
    if (fread(buf, 1, 1, r->f) != 0)
      return tk_err_set(r->err, TK_EFORMAT, "%s: byte %llu: bytes after the bundle's end",
                        r->path, (unsigned long long)r->off);
  }
  return 0;
}

/* Reads n plaintext bytes into out. */
static int get_plain(reader_t *r, void *out, size_t n)
{
  uint8_t *o = out;
  while (n) {
    if (r->pos == r->nplain) {
      int rc = next_chunk(r);
      if (rc) return rc;
      continue;
    }
    size_t k = r->nplain - r->pos;
    if (k > n) k = n;
    memcpy(o, r->plain + r->pos, k);
    r->pos += k;
    o += k;
    n -= k;
    r->total += k;
  }
  return 0;
}

/* One pass over the bundle: with fn NULL, the checks; else the frames. */
static int read_pass(const char *path, const tk_identity_t *me, tk_bundle_info_t *info,
                     tk_bundle_frame_fn fn, void *ctx, tk_err_t *err)
{
  reader_t r;
  crypto_hash_sha256_state h;
  uint8_t *frame = NULL;
  int rc = 0;
  memset(&r, 0, sizeof r);
  r.path = path;
  r.err = err;
  r.f = fopen(path, "rb");
  if (!r.f) return tk_err_set(err, TK_EIO, "cannot open %s: %s", path, strerror(errno));
  r.plain = malloc(SEALED_CHUNK);
  frame = malloc(TK_BUNDLE_MAX_FRAME);
  if (!r.plain || !frame) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory");
    goto done;
  }
  if (fread(r.prefix, 1, sizeof r.prefix, r.f) != sizeof r.prefix) {
    rc = tk_err_set(err, TK_EFORMAT, "%s: byte 0: too short to be a bundle", path);
    goto done;
  }
  if (memcmp(r.prefix, TK_BUNDLE_MAGIC, 8) != 0) {
    rc = tk_err_set(err, TK_EFORMAT, "%s: byte 0: not a tunduk bundle (bad magic)", path);
    goto done;
  }
  if (r.prefix[8] != TK_BUNDLE_VERSION || r.prefix[9] || r.prefix[10] || r.prefix[11]) {
    rc =
        tk_err_set(err, TK_EVERSION, "%s: byte 8: bundle format %u, this tunduk reads %u",
                   path, r.prefix[8], TK_BUNDLE_VERSION);
    goto done;
  }
  if (crypto_box_seal_open(r.key, r.prefix + TK_BUNDLE_HEADER, TK_BUNDLE_SEALED,
                           me->kx_pk, me->sec->kx_sk) != 0) {
    rc =
        tk_err_set(err, TK_EACCESS,
                   "%s: byte %d: not sealed to this device (addressed to another one, or "
                   "damaged)",
                   path, TK_BUNDLE_HEADER);
    goto done;
  }
  r.off = TK_BUNDLE_PREFIX;
  crypto_hash_sha256_init(&h);
  crypto_hash_sha256_update(&h, r.prefix, sizeof r.prefix);
  uint8_t inner[TK_BUNDLE_INNER];
  if ((rc = get_plain(&r, inner, sizeof inner)) != 0) goto done;
  crypto_hash_sha256_update(&h, inner, sizeof inner);
  memcpy(info->recipient, inner, TK_DEVICE_ID_LEN);
  info->created_ms = 0;
  for (int i = 0; i < 8; i++)
    info->created_ms = info->created_ms << 8 | inner[TK_DEVICE_ID_LEN + i];
  if (!tk_ct_equal(info->recipient, me->id, TK_DEVICE_ID_LEN)) {
    char to[TK_DEVICE_ID_STRLEN];
    tk_device_id_format(to, info->recipient);
    rc = tk_err_set(err, TK_EACCESS, "%s: byte %d: the bundle is addressed to device %s",
                    path, TK_BUNDLE_PREFIX, to);
    goto done;
  }
  uint64_t frames = 0;
  for (;;) {
    uint8_t len[4];
    uint64_t at = r.off;
    if ((rc = get_plain(&r, len, 4)) != 0) goto done;
    crypto_hash_sha256_update(&h, len, 4);
    uint32_t n =
        (uint32_t)len[0] << 24 | (uint32_t)len[1] << 16 | (uint32_t)len[2] << 8 | len[3];
    if (n == 0) break;
    if (n > TK_BUNDLE_MAX_FRAME) {
      rc = tk_err_set(err, TK_ELIMIT, "%s: byte %llu: a frame of %u bytes (at most %u)",
                      path, (unsigned long long)at, n, TK_BUNDLE_MAX_FRAME);
      goto done;
    }
    if (++frames > TK_BUNDLE_MAX_FRAMES || r.total + n > TK_BUNDLE_MAX_BYTES) {
      rc = tk_err_set(err, TK_ELIMIT,
                      "%s: byte %llu: past a bundle's limits (%u frames, "
                      "%llu bytes)",
                      path, (unsigned long long)at, TK_BUNDLE_MAX_FRAMES,
                      (unsigned long long)TK_BUNDLE_MAX_BYTES);
      goto done;
    }
    if ((rc = get_plain(&r, frame, n)) != 0) goto done;
    crypto_hash_sha256_update(&h, frame, n);
    if (frames == 1) { /* the Hello: who sent it */
      tk_frame_t *f = tk_wire_decode(TK_SLICE(frame, n));
      int ok = f && f->msg_case == TUNDUK__V1__FRAME__MSG_HELLO && f->hello->identity;
      if (ok)
        ok = tk_wire_identity_check(f->hello->identity, NULL, &info->sender, err) == 0;
      tk_wire_free(f);
      if (!ok) {
        rc = tk_err_set(
            err, TK_EPROTO,
            "%s: byte %llu: the first frame is not the sender's valid identity", path,
            (unsigned long long)at);
        goto done;
      }
    } else if (fn) {
      rc = fn(ctx, r.off, TK_SLICE(frame, n));
      if (rc) goto done;
    }
  }
  uint8_t sig[crypto_sign_BYTES], digest[32], msg[sizeof SIG_CONTEXT - 1 + 32];
  crypto_hash_sha256_final(&h, digest);
  if ((rc = get_plain(&r, sig, sizeof sig)) != 0) goto done;
  /* a stream of whole chunks ends with an empty last one */
  if (r.pos == r.nplain && !r.final && (rc = next_chunk(&r)) != 0) goto done;
  if (r.pos != r.nplain || !r.final) {
    rc = tk_err_set(err, TK_EFORMAT, "%s: byte %llu: bytes after the signature", path,
                    (unsigned long long)r.off);
    goto done;
  }
  memcpy(msg, SIG_CONTEXT, sizeof SIG_CONTEXT - 1);
  memcpy(msg + sizeof SIG_CONTEXT - 1, digest, 32);
  if (frames == 0 ||
      crypto_sign_verify_detached(sig, msg, sizeof msg, info->sender.sign_pk) != 0) {
    rc = tk_err_set(err, TK_ESIG, "%s: byte %llu: the sender's signature does not verify",
                    path, (unsigned long long)r.off);
    goto done;
  }
  info->frames = frames;
  info->plain_bytes = r.total;
  info->file_bytes = r.off;
done:
  sodium_memzero(r.key, sizeof r.key);
  if (r.plain) sodium_memzero(r.plain, SEALED_CHUNK);
  free(r.plain);
  free(frame);
  fclose(r.f);
  return rc;
}

int tk_bundle_read(const char *path, const tk_identity_t *me, tk_bundle_info_t *info,
                   tk_bundle_frame_fn fn, void *ctx, tk_err_t *err)
{
  memset(info, 0, sizeof *info);
  if (!me->sec) return tk_err_set(err, TK_ENOKEY, "the device key is locked");
  int rc = read_pass(path, me, info, NULL, NULL, err);
  /* the second pass re-checks every chunk: a file changed in between fails
   * there, having handed out only frames it verified */
  if (!rc && fn) {
    tk_bundle_info_t again;
    memset(&again, 0, sizeof again);
    rc = read_pass(path, me, &again, fn, ctx, err);
  }
  return rc;
}

tk_frame_t *tk_bundle_frame(const char *path, uint64_t offset, tk_slice_t payload,
                            int bye, tk_err_t *err)
{
  if (bye) {
    tk_err_set(err, TK_EPROTO, "%s: byte %llu: a frame after Bye", path,
               (unsigned long long)offset);
    return NULL;
  }
  tk_frame_t *f = tk_wire_decode(payload);
  if (!f)
    tk_err_set(err, TK_EPROTO, "%s: byte %llu: a frame that does not decode", path,
               (unsigned long long)offset);
  return f;
}

int tk_bundle_offer_take(tk_bundle_offer_t *o, const Tunduk__V1__Offer *m,
                         const char *path, tk_err_t *err)
{
  o->n = 0;
  if (!m->chunks || m->n_ids > TK_MAX_CHUNK_OFFER || m->n_sizes != m->n_ids)
    return tk_err_set(err, TK_EPROTO, "%s: an Offer that is not a chunk offer", path);
  for (size_t i = 0; i < m->n_ids; i++) {
    if (m->ids[i].len != TK_HASH_LEN || m->sizes[i] == 0 || m->sizes[i] > TK_CHUNK_MAX)
      return tk_err_set(err, TK_EPROTO, "%s: chunk offer entry %zu is malformed", path,
                        i);
    memcpy(o->ids[i], m->ids[i].data, TK_HASH_LEN);
    o->sizes[i] = m->sizes[i];
  }
  o->n = m->n_ids;
  if (m->upto > o->upto) o->upto = m->upto;
  return 0;
}
