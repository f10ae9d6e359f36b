/*
 * hub_session.c (fuzz target "hub_session"): a whole hub session from one
 * input, through core/hub/hub.c's own handlers, without a network. The hub runs
 * over a real office home (a sqlite store holding the fixture, the bundled
 * moderation rules) and each input is one session on a memory connection
 * (tk_hub_attach, tk_conn_memory_deliver; see tk_hub.h and tk_conn.h): the
 * TLS transport is the only part left out.
 *
 * Input: records of [flags u8][length u16 big-endian][payload], each payload
 * one frame delivered to the session as is. Flags let the fuzzer get past
 * checks it cannot forge (only for the fixture's own keys; the harness
 * rewrites the record before delivering it):
 *   bit 0: re-sign a Hello identity (device_id, kx_sig, tls_binding) when
 *          sign_pk is a fixture device's;
 *   bit 1: re-sign a Revisions record's revisions whose author_pk is a
 *          fixture device's, and set the ids of the Offer before it to their
 *          hashes (the ids the hub will ask for, in order, as the hub judges
 *          them when that Offer arrives);
 *   bit 2: re-sign a GrantPut whose granter_pk is a fixture device's;
 *   bit 3: attachment chunks. On a Revisions record: the attachment refs of
 *          its fixture-authored revisions become, in order, the hashes of
 *          the Chunk records that follow (up to the next Revisions), and the
 *          revisions are re-signed. On a chunk Offer: ids[index] and
 *          sizes[index] become the hash and length of each Chunk record that
 *          follows (up to the next Offer, Pull or Revisions). So mutated
 *          chunk bytes are still named by a revision and offered under their
 *          own hash, and reach the store.
 *
 * Checks, on what the hub sends (the sink decodes each frame as a client):
 * every frame decodes; no ERROR_INTERNAL and no REJECT_INTERNAL (a store or
 * batch failure is not the input's doing); Need indexes ascend within the
 * Offer; a push's Ack counts every needed revision once and whatever it did
 * not reject is in the store; a pull's Offer does not go back before
 * `since`, and the Revisions sent hash to the ids offered; device answers
 * and relayed grants verify; and after each input no session is left.
 * Chunks: every Chunk delivered is answered by exactly one ChunkAck (or the
 * session ends), for that index, in Need order, coded NONE, MALFORMED or
 * HASH; a chunk acked NONE hashes to its offered id, has its offered size,
 * is stored with exactly those bytes and is named by a revision in a vault
 * the device may write; a refused chunk that was not stored is still not
 * stored. A chunk pull's Offer has one size per id, at most
 * TK_MAX_CHUNK_OFFER, each a stored chunk of that size named in a vault
 * the device may read; the hub's Chunk frames come in Need order, hash to
 * their ids, and never more than TK_CHUNK_WINDOW ahead of the acks. After
 * each input every stored chunk hashes to its id and is named by a stored
 * revision.
 *
 * Store: one office home per process in a temporary folder, made once;
 * every input runs inside one outer transaction that is rolled back at the
 * end, so inputs cannot affect each other.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_fixture.h"
#include "tk_member.h"
#include "tk_hub.h"
#include "tk_office_engine.h"
#include "tk_plugin.h"
#include "tk_store.h"
#include "tk_sync.h"
#include "tk_token.h"
#include "tk_wire.h"

static tk_office_t *office;
static tk_store_t *store;
static tk_hub_t *hub;
static int trace; /* TK_FUZZ_TRACE=1: print each answer (to check what seeds reach) */
static char dir[64], home[96];

/* One input record, copied to its own exactly sized buffer (so ASan sees
 * overreads), rewritten by the flags before delivery. */
typedef struct record {
  int flags;
  uint8_t *p;
  size_t n;
} record_t;

/* What the client side knows, for checking the hub's answers. */
typedef struct client {
  /* push: the ids of the last Offer delivered, the hub's Need for it */
  uint8_t (*offer_ids)[TK_REV_ID_LEN];
  size_t noffer;
  uint32_t *need;
  size_t nneed;
  /* pull: since of the last Pull, the ids the hub offered, the Need sent */
  uint64_t since;
  uint8_t (*pulled)[TK_REV_ID_LEN];
  size_t npulled;
  uint32_t *asked;
  size_t nasked;
  /* the Ack that answered the frame being delivered */
  int acked;
  uint32_t accepted, duplicates;
  size_t nrejected;
  uint8_t (*rejected)[TK_REV_ID_LEN];
  /* chunk push: the last Offer delivered was a chunk offer (its sizes, if
   * one per id), the Chunk being delivered, the hub's ChunkAcks so far */
  int chunk_offer;
  uint32_t *offer_sizes;
  int chunk_pending, chunk_acked, chunk_was_stored;
  uint32_t chunk_index;
  uint8_t chunk_hash[TK_HASH_LEN];
  size_t chunk_len, chunk_acks;
  /* chunk pull: the hub's last Offer was of chunks (sizes), Chunk frames
   * received and ChunkAcks delivered since the Need */
  int pull_chunks;
  uint32_t *pulled_sizes;
  size_t chunks_got, acks_sent;
} client_t;

/* ---- fixture ------------------------------------------------------------------ */

static void cleanup(void)
{
  char cmd[200];
  tk_hub_free(hub);
  tk_office_close(office);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "hub_session: cannot remove %s\n", dir);
}

static void device_of(tk_device_info_t *d, const tk_identity_t *id)
{
  memset(d, 0, sizeof *d);
  memcpy(d->id, id->id, TK_DEVICE_ID_LEN);
  memcpy(d->sign_pk, id->sign_pk, TK_SIGN_PK_LEN);
  memcpy(d->kx_pk, id->kx_pk, TK_KX_PK_LEN);
  if (tk_kx_sign(id, d->kx_sig) != 0) abort();
  d->has_kx_sig = 1;
}

static void token(const char *name, const char *access, const uint8_t tid[16],
                  const uint8_t secret[32], const tk_identity_t *redeem_by)
{
  tk_token_info_t t;
  tk_device_info_t d;
  tk_err_t e;
  uint8_t hash[32];
  memset(&t, 0, sizeof t);
  memcpy(t.id, tid, 16);
  snprintf(t.name, sizeof t.name, "%s", name);
  snprintf(t.access, sizeof t.access, "%s", access);
  t.created = 1700000000;
  t.expires = 4102444800; /* 2100 */
  tk_sha256(hash, secret, 32);
  if (tk_store_token_add(store, &t, hash, &e) != 0) goto fail;
  if (!redeem_by) return;
  device_of(&d, redeem_by);
  if (tk_store_token_redeem(store, tid, secret, (int64_t)time(NULL), &d, &e) != 0)
    goto fail;
  return;
fail:
  fprintf(stderr, "hub_session fixture: %s\n", tk_err_str(&e));
  abort();
}

static void setup(void)
{
  tk_err_t e;
  tk_buf_t revs = TK_BUF_INIT;
  size_t offs[FZ_NREVS + 1];
  tk_slice_t r[FZ_NREVS], ids[FZ_NREVS];
  uint8_t idb[FZ_NREVS][TK_REV_ID_LEN];
  tk_apply_result_t res;
  tk_plugin_set_t *plugins = NULL;
  fz_init();
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/tk-fuzz-hub-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) abort();
  snprintf(home, sizeof home, "%s/home", dir);
  atexit(cleanup);
  if (tk_office_create(home, "fuzz-hub", "fuzz", 4, TK_KDF_INTERACTIVE, &e) != 0 ||
      tk_office_open(&office, home, &e) != 0 ||
      tk_office_unlock(office, "fuzz", 4, &e) != 0)
    goto fail;
  store = tk_office_store(office);
  token("office", FZ_VAULT ":rw," FZ_VAULT_RO ":r", (const uint8_t *)"office-token-001",
        (const uint8_t *)"office token secret, 32 bytes.!!", fz_id[FZ_OFFICE]);
  token("revoked", FZ_VAULT ":rw", (const uint8_t *)"revoked-token-01",
        (const uint8_t *)"revoked token secret, 32 bytes!!", fz_id[FZ_REVOKED]);
  if (tk_store_device_revoke(store, fz_id[FZ_REVOKED]->id, 1700000001, &e) != 0)
    goto fail;
  token("newcomer", FZ_VAULT ":rw", fz_token_id, fz_token_secret, NULL);
  /* The vaults' membership logs, as their creator made them: FZ_OFFICE's
   * genesis with the fixture key, and the newcomer and the revoked device
   * as writers of FZ_VAULT, so pushes reach the store and moderation. */
  uint8_t kid[TK_KEY_ID_LEN];
  tk_vault_key_id(kid, fz_vault_key);
  const char *vaults[] = {FZ_VAULT, FZ_VAULT_RO, FZ_VAULT_SEALED};
  for (int v = 0; v < 3; v++) {
    tk_member_log_t l;
    tk_member_log_init(&l);
    tk_entry_draft_t steps[] = {
        {TK_ENTRY_GENESIS, NULL, NULL, 1, kid},
        {TK_ENTRY_ADD, fz_id[FZ_NEWCOMER]->id, fz_id[FZ_NEWCOMER]->sign_pk, 1, NULL},
        {TK_ENTRY_ADD, fz_id[FZ_REVOKED]->id, fz_id[FZ_REVOKED]->sign_pk, 1, NULL}};
    for (size_t k = 0; k < (v == 0 ? 3u : 1u); k++) {
      tk_entry_t en;
      if (tk_member_entry_make(&l, vaults[v], &steps[k], fz_id[FZ_OFFICE], &en, &e) !=
              0 ||
          tk_store_log_put(store, vaults[v], en.seq, en.id,
                           TK_SLICE(en.body.p, en.body.n), TK_SLICE(en.sig, TK_SIG_LEN),
                           &e) != 0 ||
          tk_member_log_append(&l, &en, &e) != 0)
        goto fail;
      tk_entry_free(&en);
    }
    tk_member_log_free(&l);
  }
  fz_fixture_revs(&revs, offs);
  for (int i = 0; i < FZ_NREVS; i++) {
    r[i] = TK_SLICE(revs.p + offs[i], offs[i + 1] - offs[i]);
    tk_sha256(idb[i], r[i].p, r[i].n);
    ids[i] = TK_SLICE(idb[i], TK_REV_ID_LEN);
  }
  if (tk_sync_apply(store, r, ids, FZ_NREVS, fz_id[FZ_OFFICE]->id, NULL, NULL, NULL, &res,
                    &e) != 0 ||
      res.accepted != FZ_NREVS) {
    fprintf(stderr, "hub_session fixture: revisions not stored (%u)\n", res.accepted);
    abort();
  }
  tk_apply_result_free(&res);
  tk_buf_free(&revs);
  tk_buf_t chunks = TK_BUF_INIT;
  size_t co[FZ_NCHUNKS + 1];
  fz_fixture_chunks(&chunks, co);
  for (int i = 0; i < FZ_NCHUNKS; i++) {
    uint8_t cid[TK_HASH_LEN];
    if (!fz_chunk_stored[i]) continue;
    tk_sha256(cid, chunks.p + co[i], co[i + 1] - co[i]);
    if (tk_store_chunk_put(store, cid, TK_SLICE(chunks.p + co[i], co[i + 1] - co[i]),
                           fz_id[FZ_OFFICE]->id, &e) != 0)
      goto fail;
  }
  tk_buf_free(&chunks);
  /* The hub loads the same folder; a fixture without a rule would test less. */
  if (tk_plugin_set_new(&plugins, NULL) != 0 ||
      tk_plugin_set_load_dir(plugins, TK_SOURCE_DIR "/plugins", &e) != 0)
    goto fail;
  if (tk_plugin_set_count(plugins, TK_PLUGIN_MODERATION) == 0) {
    fprintf(stderr, "hub_session fixture: no moderation rule loaded\n");
    abort();
  }
  tk_plugin_set_free(plugins);
  tk_config_t cfg;
  tk_config_defaults(&cfg);
  snprintf(cfg.plugins, sizeof cfg.plugins, "%s", TK_SOURCE_DIR "/plugins");
  /* Small attachment limits, so seeds reach both REJECT_LIMIT reasons: a
   * revision may add 4 chunks, FZ_VAULT hold 8 (the fixture names 3). */
  cfg.max_attachment_mb = 1;
  cfg.vault_quota_mb = 2;
  if (tk_hub_new(&hub, NULL, office, &cfg, &e) != 0) goto fail;
  tk_log_level = -1; /* tk_hub_new logged; the fuzzer feeds garbage on purpose */
  return;
fail:
  fprintf(stderr, "hub_session fixture: %s\n", tk_err_str(&e));
  abort();
}

/* ---- the flags: rewriting records the fuzzer cannot sign ------------------------ */

/* Rewrites a record by its own flags (bits 0, 1 and 2's re-signing). */
static void fix_record(record_t *r)
{
  if (!(r->flags & 7)) return;
  tk_frame_t *f = tk_wire_decode(TK_SLICE(r->p, r->n));
  if (!f) return;
  int k = f->msg_case;
  if ((r->flags & 1) && k == TUNDUK__V1__FRAME__MSG_HELLO) {
    fz_fix_identity(f->hello->identity);
    fz_repack(&r->p, &r->n, f);
  } else if ((r->flags & 2) && k == TUNDUK__V1__FRAME__MSG_REVISIONS) {
    for (size_t i = 0; i < f->revisions->n_revs; i++)
      fz_fix_revision(f->revisions->revs[i]);
    fz_repack(&r->p, &r->n, f);
  } else if ((r->flags & 4) && k == TUNDUK__V1__FRAME__MSG_GRANT_PUT) {
    fz_fix_grant(f->grant_put->grant);
    fz_repack(&r->p, &r->n, f);
  }
  tk_wire_free(f);
}

/* Bit 1, the Offer side: if the next push record after rec[i] (an Offer) is
 * a Revisions with bit 1, the offered ids the hub will need (those not in
 * the store now, in order) become the hashes of those revisions. */
static void fix_offer(record_t *rec, size_t nrec, size_t i)
{
  tk_frame_t *f = tk_wire_decode(TK_SLICE(rec[i].p, rec[i].n)), *revs = NULL;
  if (!f || f->msg_case != TUNDUK__V1__FRAME__MSG_OFFER || f->offer->chunks) goto done;
  for (size_t j = i + 1; j < nrec && !revs; j++) {
    tk_frame_t *g = tk_wire_decode(TK_SLICE(rec[j].p, rec[j].n));
    int k = g ? (int)g->msg_case : 0;
    if (k == TUNDUK__V1__FRAME__MSG_REVISIONS && (rec[j].flags & 2))
      revs = g;
    else
      tk_wire_free(g);
    if (k == TUNDUK__V1__FRAME__MSG_REVISIONS || k == TUNDUK__V1__FRAME__MSG_OFFER ||
        k == TUNDUK__V1__FRAME__MSG_PULL)
      break;
  }
  if (!revs) goto done;
  Tunduk__V1__Offer *o = f->offer;
  if (o->n_ids > TK_MAX_OFFER_IDS) goto done;
  for (size_t k = 0; k < o->n_ids; k++)
    if (o->ids[k].len != TK_REV_ID_LEN) goto done; /* the hub refuses the offer */
  size_t used = 0;
  for (size_t k = 0; k < o->n_ids && used < revs->revisions->n_revs; k++) {
    int has = tk_store_has_rev(store, o->ids[k].data);
    TK_ASSERT(has >= 0);
    if (has) continue;
    ProtobufCBinaryData b = revs->revisions->revs[used++];
    tk_sha256(o->ids[k].data, b.data, b.len);
  }
  fz_repack(&rec[i].p, &rec[i].n, f);
done:
  tk_wire_free(revs);
  tk_wire_free(f);
}

/* Bit 3: the Chunk frames among rec[from..nrec) before a frame of a kind in
 * stop (a bit mask of msg_case values), decoded; free with tk_wire_free. */
static size_t chunks_after(const record_t *rec, size_t nrec, size_t from, uint64_t stop,
                           tk_frame_t **out, size_t max)
{
  size_t n = 0;
  for (size_t j = from; j < nrec && n < max; j++) {
    tk_frame_t *g = tk_wire_decode(TK_SLICE(rec[j].p, rec[j].n));
    int k = g ? (int)g->msg_case : 0;
    if (k == TUNDUK__V1__FRAME__MSG_CHUNK) {
      out[n++] = g;
      continue;
    }
    tk_wire_free(g);
    if (k < 64 && (stop >> k & 1)) break;
  }
  return n;
}

#define BIT(k) ((uint64_t)1 << (k))
#define MAX_FIX_CHUNKS 256

/* Bit 3 on a Revisions record: refs of fixture authors' revisions become the
 * hashes of the Chunk records that follow, and the revisions are re-signed. */
static void fix_refs(record_t *rec, size_t nrec, size_t i, tk_frame_t *f)
{
  tk_frame_t *ch[MAX_FIX_CHUNKS];
  size_t nch = chunks_after(rec, nrec, i + 1, BIT(TUNDUK__V1__FRAME__MSG_REVISIONS), ch,
                            MAX_FIX_CHUNKS);
  size_t used = 0;
  for (size_t r = 0; r < f->revisions->n_revs; r++) {
    tk_rev_t rev;
    ProtobufCBinaryData b = f->revisions->revs[r];
    if (tk_rev_parse(&rev, tk_pb_slice(b), NULL) != 0) continue;
    const tk_identity_t *id = fz_identity_by_pk(rev.author_pk);
    if (!id || rev.nattach == 0) continue;
    size_t at = (size_t)(rev.attach - b.data);
    for (uint32_t k = 0; k < rev.nattach && used < nch; k++, used++)
      tk_sha256(b.data + at + (size_t)k * TK_HASH_LEN, ch[used]->chunk->data.data,
                ch[used]->chunk->data.len);
    tk_identity_sign(id, b.data + b.len - TK_SIG_LEN, b.data, b.len - TK_SIG_LEN);
  }
  for (size_t k = 0; k < nch; k++)
    tk_wire_free(ch[k]);
  fz_repack(&rec[i].p, &rec[i].n, f);
}

/* Bit 3 on a chunk Offer: ids and sizes at each following Chunk's index
 * become that chunk's hash and length. */
static void fix_chunk_offer(record_t *rec, size_t nrec, size_t i, tk_frame_t *f)
{
  tk_frame_t *ch[MAX_FIX_CHUNKS];
  uint64_t stop = BIT(TUNDUK__V1__FRAME__MSG_OFFER) | BIT(TUNDUK__V1__FRAME__MSG_PULL) |
                  BIT(TUNDUK__V1__FRAME__MSG_REVISIONS);
  size_t nch = chunks_after(rec, nrec, i + 1, stop, ch, MAX_FIX_CHUNKS);
  Tunduk__V1__Offer *o = f->offer;
  for (size_t k = 0; k < nch; k++) {
    const Tunduk__V1__Chunk *c = ch[k]->chunk;
    if (c->index < o->n_ids && o->ids[c->index].len == TK_HASH_LEN)
      tk_sha256(o->ids[c->index].data, c->data.data, c->data.len);
    if (c->index < o->n_sizes) o->sizes[c->index] = (uint32_t)c->data.len;
    tk_wire_free(ch[k]);
  }
  fz_repack(&rec[i].p, &rec[i].n, f);
}

/* Bit 3 for every record that has it, once all records are read. */
static void fix_chunks(record_t *rec, size_t nrec)
{
  for (size_t i = 0; i < nrec; i++) {
    if (!(rec[i].flags & 8)) continue;
    tk_frame_t *f = tk_wire_decode(TK_SLICE(rec[i].p, rec[i].n));
    if (!f) continue;
    if (f->msg_case == TUNDUK__V1__FRAME__MSG_REVISIONS)
      fix_refs(rec, nrec, i, f);
    else if (f->msg_case == TUNDUK__V1__FRAME__MSG_OFFER && f->offer->chunks)
      fix_chunk_offer(rec, nrec, i, f);
    tk_wire_free(f);
  }
}

/* ---- the client side: every frame the hub sends --------------------------------- */

static void *dup_ids(ProtobufCBinaryData *ids, size_t n)
{
  uint8_t(*out)[TK_REV_ID_LEN] = calloc(n ? n : 1, TK_REV_ID_LEN);
  if (!out) abort();
  for (size_t i = 0; i < n; i++) {
    TK_ASSERT(ids[i].len == TK_REV_ID_LEN);
    memcpy(out[i], ids[i].data, TK_REV_ID_LEN);
  }
  return out;
}

static void on_ack(client_t *cl, const Tunduk__V1__Ack *a)
{
  cl->acked = 1;
  cl->accepted = a->accepted;
  cl->duplicates = a->duplicates;
  cl->nrejected = a->n_rejected;
  free(cl->rejected);
  cl->rejected = calloc(a->n_rejected ? a->n_rejected : 1, TK_REV_ID_LEN);
  if (!cl->rejected) abort();
  for (size_t i = 0; i < a->n_rejected; i++) {
    TK_ASSERT(a->rejected[i]->id.len == TK_REV_ID_LEN);
    TK_ASSERT(a->rejected[i]->code != (Tunduk__V1__RejectCode)TK_REJECT_INTERNAL);
    memcpy(cl->rejected[i], a->rejected[i]->id.data, TK_REV_ID_LEN);
  }
}

static void on_revisions(client_t *cl, const Tunduk__V1__Revisions *m)
{
  tk_err_t e;
  /* What the hub sends must be what it offered, byte for byte. */
  TK_ASSERT(m->n_revs == cl->nasked);
  for (size_t i = 0; i < m->n_revs; i++) {
    tk_rev_t rev;
    TK_ASSERT(cl->asked[i] < cl->npulled);
    TK_ASSERT(tk_rev_parse(&rev, tk_pb_slice(m->revs[i]), &e) == 0);
    TK_ASSERT(tk_rev_check_id(&rev, cl->pulled[cl->asked[i]], &e) == 0);
  }
}

/* Whether a stored revision in a vault of the wanted access names chunk id
 * (want: 'w' FZ_VAULT, the only vault a fixture device may write; 'r' also
 * FZ_VAULT_RO; 0 any vault). */
typedef struct named {
  int want, found;
} named_t;

static int named_cb(void *ctx, const char *vault)
{
  named_t *n = ctx;
  int w = strcmp(vault, FZ_VAULT) == 0, r = w || strcmp(vault, FZ_VAULT_RO) == 0;
  if (n->want == 0 || (n->want == 'w' && w) || (n->want == 'r' && r)) n->found = 1;
  return 0;
}

static int chunk_named(const uint8_t id[TK_HASH_LEN], int want)
{
  named_t n = {want, 0};
  TK_ASSERT(tk_store_chunk_vaults(store, id, named_cb, &n, NULL) == 0);
  return n.found;
}

/* A stored chunk is exactly these bytes: len long, hashing to id. */
static void check_stored(const uint8_t id[TK_HASH_LEN], size_t len)
{
  tk_buf_t b = TK_BUF_INIT;
  uint8_t h[TK_HASH_LEN];
  TK_ASSERT(tk_store_chunk_get(store, id, &b, NULL) == 0);
  tk_sha256(h, b.p, b.n);
  TK_ASSERT(b.n == len && memcmp(h, id, TK_HASH_LEN) == 0);
  tk_buf_free(&b);
}

/* The hub's answer to a pushed Chunk. */
static void on_chunk_ack(client_t *cl, const Tunduk__V1__ChunkAck *m)
{
  TK_ASSERT(cl->chunk_pending && !cl->chunk_acked);
  cl->chunk_acked = 1;
  TK_ASSERT(m->index == cl->chunk_index);
  TK_ASSERT(cl->chunk_offer && m->index < cl->noffer);
  TK_ASSERT(cl->chunk_acks < cl->nneed && cl->need[cl->chunk_acks] == m->index);
  cl->chunk_acks++;
  const uint8_t *id = cl->offer_ids[m->index];
  int code = (int)m->code;
  if (code == TK_REJECT_NONE) {
    TK_ASSERT(memcmp(cl->chunk_hash, id, TK_HASH_LEN) == 0);
    TK_ASSERT(cl->offer_sizes && cl->chunk_len == cl->offer_sizes[m->index]);
    check_stored(id, cl->chunk_len);
    TK_ASSERT(chunk_named(id, 'w'));
  } else {
    TK_ASSERT(code == TK_REJECT_MALFORMED || code == TK_REJECT_HASH);
    TK_ASSERT(m->reason && m->reason[0]);
    if (!cl->chunk_was_stored) TK_ASSERT(tk_store_chunk_has(store, id) == 0);
  }
}

/* The hub's chunk pull Offer: stored chunks of those sizes the device may read. */
static void on_chunk_offer(client_t *cl, const Tunduk__V1__Offer *o)
{
  TK_ASSERT(o->n_ids <= TK_MAX_CHUNK_OFFER && o->n_sizes == o->n_ids);
  for (size_t i = 0; i < o->n_ids; i++) {
    check_stored(o->ids[i].data, o->sizes[i]);
    TK_ASSERT(chunk_named(o->ids[i].data, 'r'));
  }
  free(cl->pulled_sizes);
  cl->pulled_sizes = calloc(o->n_ids ? o->n_ids : 1, sizeof *cl->pulled_sizes);
  if (!cl->pulled_sizes) abort();
  if (o->n_ids) memcpy(cl->pulled_sizes, o->sizes, o->n_ids * sizeof *o->sizes);
}

/* A chunk the hub sends on a pull: the next asked for, within the window. */
static void on_chunk(client_t *cl, const Tunduk__V1__Chunk *m)
{
  uint8_t h[TK_HASH_LEN];
  TK_ASSERT(cl->pull_chunks);
  TK_ASSERT(cl->chunks_got < cl->nasked && m->index == cl->asked[cl->chunks_got]);
  TK_ASSERT(cl->chunks_got < cl->acks_sent + TK_CHUNK_WINDOW);
  cl->chunks_got++;
  TK_ASSERT(m->index < cl->npulled && m->data.len == cl->pulled_sizes[m->index]);
  tk_sha256(h, m->data.data, m->data.len);
  TK_ASSERT(memcmp(h, cl->pulled[m->index], TK_HASH_LEN) == 0);
}

static void trace_frame(const tk_frame_t *f)
{
  fprintf(stderr, "  hub -> %s", tk_wire_name(f));
  if (f->msg_case == TUNDUK__V1__FRAME__MSG_ERROR)
    fprintf(stderr, " \"%s\"", f->error->message);
  if (f->msg_case == TUNDUK__V1__FRAME__MSG_NEED)
    fprintf(stderr, " n=%zu", f->need->n_index);
  if (f->msg_case == TUNDUK__V1__FRAME__MSG_OFFER)
    fprintf(stderr, " n=%zu chunks=%d upto=%llu more=%d", f->offer->n_ids,
            f->offer->chunks, (unsigned long long)f->offer->upto, f->offer->more);
  if (f->msg_case == TUNDUK__V1__FRAME__MSG_CHUNK)
    fprintf(stderr, " index=%u bytes=%zu", f->chunk->index, f->chunk->data.len);
  if (f->msg_case == TUNDUK__V1__FRAME__MSG_CHUNK_ACK)
    fprintf(stderr, " index=%u code=%d %s", f->chunk_ack->index, f->chunk_ack->code,
            f->chunk_ack->reason);
  if (f->msg_case == TUNDUK__V1__FRAME__MSG_ACK) {
    fprintf(stderr, " accepted=%u duplicates=%u", f->ack->accepted, f->ack->duplicates);
    for (size_t i = 0; i < f->ack->n_rejected; i++)
      fprintf(stderr, "\n    rejected %d: %s", f->ack->rejected[i]->code,
              f->ack->rejected[i]->reason);
  }
  fprintf(stderr, "\n");
}

static int sink(void *ctx, tk_slice_t payload)
{
  client_t *cl = ctx;
  tk_frame_t *f = tk_wire_decode(payload);
  TK_ASSERT(f != NULL);
  if (trace) trace_frame(f);
  switch (f->msg_case) {
  case TUNDUK__V1__FRAME__MSG_ERROR:
    TK_ASSERT(f->error->code != TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL);
    break;
  case TUNDUK__V1__FRAME__MSG_NEED: {
    const Tunduk__V1__Need *m = f->need;
    TK_ASSERT(m->n_index <= cl->noffer);
    for (size_t i = 0; i < m->n_index; i++)
      TK_ASSERT(m->index[i] < cl->noffer && (i == 0 || m->index[i] > m->index[i - 1]));
    free(cl->need);
    cl->need = calloc(m->n_index ? m->n_index : 1, sizeof *cl->need);
    if (!cl->need) abort();
    if (m->n_index) memcpy(cl->need, m->index, m->n_index * sizeof *cl->need);
    cl->nneed = m->n_index;
    cl->chunk_acks = 0;
    if (cl->chunk_offer)
      for (size_t i = 0; i < m->n_index; i++) /* only what it can take */
        TK_ASSERT(cl->offer_sizes && cl->offer_sizes[m->index[i]] >= 1 &&
                  cl->offer_sizes[m->index[i]] <= TK_CHUNK_MAX);
    break;
  }
  case TUNDUK__V1__FRAME__MSG_CHUNK_ACK:
    on_chunk_ack(cl, f->chunk_ack);
    break;
  case TUNDUK__V1__FRAME__MSG_CHUNK:
    on_chunk(cl, f->chunk);
    break;
  case TUNDUK__V1__FRAME__MSG_ACK:
    on_ack(cl, f->ack);
    break;
  case TUNDUK__V1__FRAME__MSG_OFFER:
    TK_ASSERT(f->offer->upto >= cl->since);
    TK_ASSERT(f->offer->n_ids <= TK_MAX_OFFER_IDS);
    free(cl->pulled);
    cl->pulled = dup_ids(f->offer->ids, f->offer->n_ids);
    cl->npulled = f->offer->n_ids;
    cl->pull_chunks = f->offer->chunks;
    if (cl->pull_chunks) on_chunk_offer(cl, f->offer);
    break;
  case TUNDUK__V1__FRAME__MSG_REVISIONS:
    on_revisions(cl, f->revisions);
    break;
  case TUNDUK__V1__FRAME__MSG_DEVICE_INFO:
    if (f->device_info->identity) {
      /* An office checks the answer like this; a stored device must pass. */
      tk_peer_t p;
      tk_err_t e;
      TK_ASSERT(tk_wire_identity_check(f->device_info->identity, NULL, &p, &e) == 0);
    }
    break;
  case TUNDUK__V1__FRAME__MSG_GRANTS:
    TK_ASSERT(f->grants->n_grants <= TK_MAX_GRANTS);
    for (size_t i = 0; i < f->grants->n_grants; i++) {
      /* The hub relays what it stored; it must still verify. */
      tk_grant_t g;
      const Tunduk__V1__SignedGrant *sg = f->grants->grants[i];
      TK_ASSERT(tk_grant_verify(tk_pb_slice(sg->body), tk_pb_slice(sg->sig), &g, NULL) ==
                0);
    }
    break;
  default:
    break;
  }
  tk_wire_free(f);
  return 0;
}

/* Before a frame goes to the hub: note what the checks need to know. */
static void before(client_t *cl, const record_t *r, size_t *nrevs)
{
  tk_frame_t *f = tk_wire_decode(TK_SLICE(r->p, r->n));
  *nrevs = (size_t)-1;
  cl->acked = 0;
  if (!f) return;
  switch (f->msg_case) {
  case TUNDUK__V1__FRAME__MSG_OFFER:
    if (f->offer->n_ids <= TK_MAX_OFFER_IDS) {
      free(cl->offer_ids);
      cl->offer_ids = calloc(f->offer->n_ids ? f->offer->n_ids : 1, TK_REV_ID_LEN);
      if (!cl->offer_ids) abort();
      for (size_t i = 0; i < f->offer->n_ids; i++)
        if (f->offer->ids[i].len == TK_REV_ID_LEN)
          memcpy(cl->offer_ids[i], f->offer->ids[i].data, TK_REV_ID_LEN);
      cl->noffer = f->offer->n_ids;
      cl->nneed = 0;
      cl->chunk_offer = f->offer->chunks;
      free(cl->offer_sizes);
      cl->offer_sizes = NULL;
      if (f->offer->n_sizes == f->offer->n_ids) {
        cl->offer_sizes = calloc(f->offer->n_ids ? f->offer->n_ids : 1, sizeof(uint32_t));
        if (!cl->offer_sizes) abort();
        if (f->offer->n_ids)
          memcpy(cl->offer_sizes, f->offer->sizes, f->offer->n_ids * sizeof(uint32_t));
      }
    }
    break;
  case TUNDUK__V1__FRAME__MSG_CHUNK: {
    const Tunduk__V1__Chunk *m = f->chunk;
    cl->chunk_pending = 1;
    cl->chunk_acked = 0;
    cl->chunk_index = m->index;
    cl->chunk_len = m->data.len;
    tk_sha256(cl->chunk_hash, m->data.data, m->data.len);
    cl->chunk_was_stored = cl->chunk_offer && m->index < cl->noffer
                               ? tk_store_chunk_has(store, cl->offer_ids[m->index])
                               : 0;
    TK_ASSERT(cl->chunk_was_stored >= 0);
    break;
  }
  case TUNDUK__V1__FRAME__MSG_CHUNK_ACK:
    cl->acks_sent++;
    break;
  case TUNDUK__V1__FRAME__MSG_REVISIONS:
    *nrevs = f->revisions->n_revs;
    break;
  case TUNDUK__V1__FRAME__MSG_PULL:
    cl->since = f->pull->since;
    break;
  case TUNDUK__V1__FRAME__MSG_NEED:
    free(cl->asked);
    cl->asked = calloc(f->need->n_index ? f->need->n_index : 1, sizeof *cl->asked);
    if (!cl->asked) abort();
    if (f->need->n_index)
      memcpy(cl->asked, f->need->index, f->need->n_index * sizeof *cl->asked);
    cl->nasked = f->need->n_index;
    cl->chunks_got = cl->acks_sent = 0;
    break;
  default:
    break;
  }
  tk_wire_free(f);
}

/* After each input: every stored chunk hashes to its id and a stored
 * revision names it (the hub takes no chunk nothing refers to). */
static int check_feed_one(void *ctx, const tk_chunk_meta_t *m)
{
  (void)ctx;
  TK_ASSERT(chunk_named(m->id, 0));
  return 0;
}

static void check_chunk_store(void)
{
  uint64_t n = 0, nbad = 0;
  TK_ASSERT(tk_store_chunks_verify(store, NULL, NULL, &n, &nbad, NULL) == 0);
  TK_ASSERT(nbad == 0);
  TK_ASSERT(tk_store_chunks_after(store, 0, 1u << 20, check_feed_one, NULL, NULL) == 0);
}

/* After a Revisions frame the hub acknowledged: every needed revision is
 * counted once, and whatever was not rejected is stored now. */
static void after_push(const client_t *cl, size_t nrevs)
{
  if (nrevs == (size_t)-1 || !cl->acked) return;
  TK_ASSERT(nrevs == cl->nneed);
  TK_ASSERT(cl->accepted + cl->duplicates + cl->nrejected == cl->nneed);
  for (size_t i = 0; i < cl->nneed; i++) {
    const uint8_t *id = cl->offer_ids[cl->need[i]];
    int rejected = 0;
    for (size_t k = 0; k < cl->nrejected; k++)
      if (memcmp(cl->rejected[k], id, TK_REV_ID_LEN) == 0) rejected = 1;
    if (!rejected) TK_ASSERT(tk_store_has_rev(store, id) == 1);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tk_err_t e;
  client_t cl;
  tk_conn_t *c = NULL;
  record_t *rec = NULL;
  size_t nrec = 0, cap = 0;
  if (!hub) {
    setup();
    trace = getenv("TK_FUZZ_TRACE") != NULL;
  }
  memset(&cl, 0, sizeof cl);
  for (size_t off = 0; size - off >= 3;) {
    size_t n = (size_t)data[off + 1] << 8 | data[off + 2];
    if (nrec == cap) {
      cap = cap ? 2 * cap : 16;
      rec = realloc(rec, cap * sizeof *rec);
      if (!rec) abort();
    }
    rec[nrec].flags = data[off];
    off += 3;
    if (n > size - off) n = size - off;
    rec[nrec].p = malloc(n ? n : 1);
    if (!rec[nrec].p) abort();
    if (n) memcpy(rec[nrec].p, data + off, n);
    rec[nrec].n = n;
    off += n;
    fix_record(&rec[nrec++]);
  }
  fix_chunks(rec, nrec);
  if (tk_store_begin(store, &e) != 0) abort();
  if (tk_hub_attach(hub, sink, &cl, fz_spki_hash, &c, &e) != 0) {
    fprintf(stderr, "hub_session: attach failed: %s\n", tk_err_str(&e));
    abort();
  }
  TK_ASSERT(tk_hub_sessions(hub) == 1);
  for (size_t i = 0; i < nrec; i++) {
    size_t nrevs;
    fix_offer(rec, nrec, i);
    before(&cl, &rec[i], &nrevs);
    int rc = tk_conn_memory_deliver(c, TK_SLICE(rec[i].p, rec[i].n));
    TK_ASSERT(rc == 0 || rc == TK_ECLOSED);
    after_push(&cl, nrevs);
    if (cl.chunk_pending && rc == 0) TK_ASSERT(cl.chunk_acked); /* or the session ended */
    cl.chunk_pending = 0;
    if (rc == TK_ECLOSED) {
      c = NULL;
      break;
    }
  }
  if (c) tk_conn_close(c, 0, NULL); /* on_close frees the session now */
  TK_ASSERT(tk_hub_sessions(hub) == 0);
  check_chunk_store();
  tk_store_rollback(store);
  for (size_t i = 0; i < nrec; i++)
    free(rec[i].p);
  free(rec);
  free(cl.offer_ids);
  free(cl.need);
  free(cl.pulled);
  free(cl.asked);
  free(cl.rejected);
  free(cl.offer_sizes);
  free(cl.pulled_sizes);
  return 0;
}
