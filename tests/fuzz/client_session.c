/*
 * client_session.c (fuzz target "client_session"): the office's side of a
 * sync from one input, through core/office/sync_client.c's own handlers, without a
 * network. The input plays a hostile or broken hub: one SYNC run of
 * tk_client_session_new (tk_client.h) on a memory connection, over a real
 * office home (an identity that is the fixture's FZ_OFFICE, a sqlite store
 * pinned to the fixture hub, holding some fixture revisions and chunks, the
 * bundled moderation rules run on what is pulled).
 *
 * Input: records of [flags u8][length u16 big-endian][payload], as for
 * hub_session; each payload is one frame delivered to the office after its
 * Hello (the office's frames go to the harness). Flags rewrite a record
 * before delivery, only for the fixture's own keys:
 *   bit 0: re-sign a Hello identity (device_id, kx_sig, tls_binding) when
 *          sign_pk is a fixture device's (so mutations get past the pin);
 *   bit 1: re-sign a Revisions record's fixture-authored revisions, and set
 *          the ids of the (revision) Offer before it that the office does not
 *          hold to their hashes, in order (the ids the office will need);
 *   bit 2: re-sign the grants of a Grants record whose granter is a fixture
 *          device;
 *   bit 3: attachment chunks. On a Revisions record: the attachment refs of
 *          its fixture-authored revisions become the hashes of the Chunk
 *          records that follow (and the revisions are re-signed). On a chunk
 *          Offer: ids[index] and sizes[index] become the hash and length of
 *          each Chunk record that follows. So mutated chunk bytes are named by
 *          a pulled revision and offered under their own hash.
 *
 * Checks: no crash, leak or UB; every frame the office sends decodes; its
 * Need indexes ascend within the hub's last Offer; the revisions it pushes
 * are those it offered and the hub needed, hashing to their ids (a push
 * step, 1 to 4096 revisions of its own store), and the
 * chunks it pushes hash to the ids and sizes it offered; the run ends (done
 * or failed) by the end of the input or when the harness hangs up, a clean
 * end sends Bye, a failure has a message and is never TK_ESTORE (a store
 * failure is not the input's doing); after each input everything the office
 * stored verifies (tk_office_verify: hash, signature, parents, chunk
 * hashes) and every stored chunk is named by a stored revision.
 *
 * Store: one home per process in a temporary folder, made once; every input
 * runs inside one outer transaction rolled back at the end (the client's
 * own transactions nest as savepoints), so inputs cannot affect each other.
 * The office's vault key cache outlives the rollback: the seeds' grants are
 * for a vault key ("granted") no revision is sealed under, so a cached key
 * changes nothing a later input can see.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_fixture.h"
#include "tk_client.h"
#include "tk_office_engine.h"
#include "tk_plugin.h"
#include "tk_store.h"
#include "tk_sync.h"
#include "tk_wire.h"

static tk_office_t *office;
static tk_store_t *store;
static tk_plugin_set_t *plugins;
static int trace; /* TK_FUZZ_TRACE=1: print each frame both ways */
static char dir[64], home[96];

typedef struct record {
  int flags;
  uint8_t *p;
  size_t n;
} record_t;

/* What the harness knows of the exchange, for checking the office's frames. */
typedef struct hub_view {
  size_t offer_n;   /* ids in the hub's last Offer delivered */
  int offer_chunks; /* ... it was a chunk offer */
  int last_case;    /* msg_case of the office's last frame */
  /* push: the office's last revision Offer and the hub's Need for it */
  uint8_t (*pushed)[TK_REV_ID_LEN];
  size_t npushed;
  uint32_t *need;
  size_t nneed;
  /* chunk push: the office's last chunk Offer */
  uint8_t (*cpushed)[TK_HASH_LEN];
  uint32_t *csizes;
  size_t ncpushed;
} hub_view_t;

/* ---- fixture ------------------------------------------------------------------ */

static void cleanup(void)
{
  char cmd[200];
  tk_plugin_set_free(plugins);
  tk_office_close(office);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "client_session: cannot remove %s\n", dir);
}

/* The home's key file holds FZ_OFFICE's signing and key-agreement keys (the
 * seeds' grants are sealed to it) with a freshly made TLS key. */
static void make_home(void)
{
  tk_err_t e;
  tk_identity_t *id = NULL;
  tk_store_t *s = NULL;
  char path[160];
  const tk_identity_t *fz = fz_id[FZ_OFFICE];
  if (mkdir(home, 0700) != 0 || tk_identity_generate(&id, "fuzz-office", &e) != 0)
    goto fail;
  memcpy(id->id, fz->id, TK_DEVICE_ID_LEN);
  memcpy(id->sign_pk, fz->sign_pk, TK_SIGN_PK_LEN);
  memcpy(id->kx_pk, fz->kx_pk, TK_KX_PK_LEN);
  memcpy(id->sec->sign_sk, fz->sec->sign_sk, TK_SIGN_SK_LEN);
  memcpy(id->sec->kx_sk, fz->sec->kx_sk, TK_KX_SK_LEN);
  uint8_t msg[sizeof "tunduk tls binding v1" - 1 + TK_HASH_LEN];
  memcpy(msg, "tunduk tls binding v1", sizeof "tunduk tls binding v1" - 1);
  memcpy(msg + sizeof "tunduk tls binding v1" - 1, id->tls_spki_hash, TK_HASH_LEN);
  if (tk_identity_sign(id, id->tls_binding, msg, sizeof msg) != 0) abort();
  snprintf(path, sizeof path, "%s/%s", home, TK_OFFICE_STOREFILE);
  if (tk_store_open(&s, path, TK_STORE_CREATE, &e) != 0) goto fail;
  tk_device_info_t self;
  memset(&self, 0, sizeof self);
  memcpy(self.id, id->id, TK_DEVICE_ID_LEN);
  snprintf(self.name, sizeof self.name, "%s", id->name);
  memcpy(self.sign_pk, id->sign_pk, TK_SIGN_PK_LEN);
  memcpy(self.kx_pk, id->kx_pk, TK_KX_PK_LEN);
  self.added = 1700000000;
  if (tk_store_device_put(s, &self, &e) != 0) goto fail;
  tk_store_close(s);
  snprintf(path, sizeof path, "%s/%s", home, TK_OFFICE_KEYFILE);
  if (tk_identity_save(id, path, "fuzz", 4, TK_KDF_INTERACTIVE, &e) != 0) goto fail;
  tk_identity_free(id);
  return;
fail:
  fprintf(stderr, "client_session fixture: %s\n", tk_err_str(&e));
  abort();
}

static void setup(void)
{
  tk_err_t e;
  tk_buf_t revs = TK_BUF_INIT, chunks = TK_BUF_INIT;
  size_t offs[FZ_NREVS + 1], co[FZ_NCHUNKS + 1];
  char hub_id[TK_DEVICE_ID_STRLEN];
  fz_init();
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/tk-fuzz-office-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) abort();
  snprintf(home, sizeof home, "%s/home", dir);
  atexit(cleanup);
  make_home();
  if (tk_office_open(&office, home, &e) != 0 ||
      tk_office_unlock(office, "fuzz", 4, &e) != 0)
    goto fail;
  store = tk_office_store(office);
  TK_ASSERT(memcmp(tk_office_identity(office)->id, fz_id[FZ_OFFICE]->id, 32) == 0);
  /* pinned to the fixture hub */
  tk_device_id_format(hub_id, fz_id[FZ_HUB]->id);
  if (tk_store_meta_set(store, "hub_id", hub_id, &e) != 0 ||
      tk_store_meta_set(store, "hub_addr", "127.0.0.1:7443", &e) != 0 ||
      tk_store_meta_set(store, "hub_access", FZ_VAULT ":rw," FZ_VAULT_RO ":r", &e) != 0)
    goto fail;
  /* the vault key of FZ_VAULT and FZ_VAULT_RO (moderation sees plaintext) */
  const char *vaults[] = {FZ_VAULT, FZ_VAULT_RO};
  for (int i = 0; i < 2; i++) {
    uint8_t kid[TK_KEY_ID_LEN], sealed[TK_SEALED_KEY_LEN];
    tk_vault_key_id(kid, fz_vault_key);
    if (tk_vault_key_seal(sealed, fz_vault_key, fz_id[FZ_OFFICE]->kx_pk) != 0) abort();
    if (tk_store_vault_add(store, vaults[i], kid, &e) != 0 ||
        tk_store_wrapped_key_put(store, vaults[i], kid, fz_id[FZ_OFFICE]->id, sealed,
                                 &e) != 0)
      goto fail;
  }
  /* Their membership logs: this office's genesis with the fixture key, already
   * acknowledged by the hub (so a session starts with the LogQuery, not a
   * LogPut), so pulled fixture revisions count and reach the store. */
  const char *logged[] = {FZ_VAULT, FZ_VAULT_RO, FZ_VAULT_SEALED};
  for (int i = 0; i < 3; i++) {
    tk_member_log_t l;
    tk_entry_t en;
    uint8_t kid[TK_KEY_ID_LEN];
    tk_vault_key_id(kid, fz_vault_key);
    tk_entry_draft_t g = {TK_ENTRY_GENESIS, NULL, NULL, 1, kid};
    tk_member_log_init(&l);
    if (tk_member_entry_make(&l, logged[i], &g, fz_id[FZ_OFFICE], &en, &e) != 0 ||
        tk_store_log_put(store, logged[i], 0, en.id, TK_SLICE(en.body.p, en.body.n),
                         TK_SLICE(en.sig, TK_SIG_LEN), &e) != 0 ||
        tk_office_log_sent_set(office, logged[i], 1, &e) != 0)
      goto fail;
    tk_entry_free(&en);
  }
  /* Written here: revisions 0, 2, 3 (so a push has something to offer) and
   * chunks 0 and 1 (named by 3); 1, 4, 5 and chunks 2, 3, 5 are the hub's
   * to send. */
  fz_fixture_revs(&revs, offs);
  static const int mine[] = {0, 2, 3};
  for (int k = 0; k < 3; k++) {
    int i = mine[k];
    uint8_t idb[TK_REV_ID_LEN];
    tk_slice_t r = TK_SLICE(revs.p + offs[i], offs[i + 1] - offs[i]);
    tk_sha256(idb, r.p, r.n);
    tk_slice_t id = TK_SLICE(idb, TK_REV_ID_LEN);
    tk_apply_result_t res;
    if (tk_sync_apply(store, &r, &id, 1, fz_id[FZ_OFFICE]->id, NULL, NULL, NULL, &res,
                      &e) != 0 ||
        res.accepted != 1)
      goto fail;
    tk_apply_result_free(&res);
  }
  tk_buf_free(&revs);
  fz_fixture_chunks(&chunks, co);
  for (int i = 0; i < 2; i++) {
    uint8_t cid[TK_HASH_LEN];
    tk_sha256(cid, chunks.p + co[i], co[i + 1] - co[i]);
    if (tk_store_chunk_put(store, cid, TK_SLICE(chunks.p + co[i], co[i + 1] - co[i]),
                           fz_id[FZ_OFFICE]->id, &e) != 0)
      goto fail;
  }
  tk_buf_free(&chunks);
  if (tk_plugin_set_new(&plugins, NULL) != 0 ||
      tk_plugin_set_load_dir(plugins, TK_SOURCE_DIR "/plugins", &e) != 0)
    goto fail;
  tk_log_level = -1;
  return;
fail:
  fprintf(stderr, "client_session fixture: %s\n", tk_err_str(&e));
  abort();
}

/* ---- the flags ------------------------------------------------------------------ */

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
  } else if ((r->flags & 4) && k == TUNDUK__V1__FRAME__MSG_GRANTS) {
    for (size_t i = 0; i < f->grants->n_grants; i++)
      fz_fix_grant(f->grants->grants[i]);
    fz_repack(&r->p, &r->n, f);
  }
  tk_wire_free(f);
}

/* Bit 1, the Offer side, just before delivery: if the next Revisions record
 * has bit 1, the offered ids the office does not hold become, in order, the
 * hashes of those revisions. */
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
    if (k == TUNDUK__V1__FRAME__MSG_REVISIONS || k == TUNDUK__V1__FRAME__MSG_OFFER) break;
  }
  if (!revs) goto done;
  Tunduk__V1__Offer *o = f->offer;
  if (o->n_ids > TK_MAX_OFFER_IDS) goto done;
  size_t used = 0;
  for (size_t k = 0; k < o->n_ids && used < revs->revisions->n_revs; k++) {
    if (o->ids[k].len != TK_REV_ID_LEN) continue;
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

#define BIT(k) ((uint64_t)1 << (k))
#define MAX_FIX_CHUNKS 256

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

static void fix_chunk_offer(record_t *rec, size_t nrec, size_t i, tk_frame_t *f)
{
  tk_frame_t *ch[MAX_FIX_CHUNKS];
  uint64_t stop =
      BIT(TUNDUK__V1__FRAME__MSG_OFFER) | BIT(TUNDUK__V1__FRAME__MSG_REVISIONS);
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

/* ---- the hub side: every frame the office sends -------------------------------- */

static void on_office_offer(hub_view_t *h, const Tunduk__V1__Offer *o)
{
  if (o->chunks) {
    TK_ASSERT(o->n_sizes == o->n_ids && o->n_ids <= TK_MAX_CHUNK_OFFER);
    free(h->cpushed);
    free(h->csizes);
    h->cpushed = calloc(o->n_ids ? o->n_ids : 1, TK_HASH_LEN);
    h->csizes = calloc(o->n_ids ? o->n_ids : 1, sizeof *h->csizes);
    if (!h->cpushed || !h->csizes) abort();
    for (size_t i = 0; i < o->n_ids; i++) {
      TK_ASSERT(o->ids[i].len == TK_HASH_LEN);
      TK_ASSERT(o->sizes[i] >= 1 && o->sizes[i] <= TK_CHUNK_MAX);
      memcpy(h->cpushed[i], o->ids[i].data, TK_HASH_LEN);
      h->csizes[i] = o->sizes[i];
      TK_ASSERT(tk_store_chunk_has(store, o->ids[i].data) == 1);
    }
    h->ncpushed = o->n_ids;
    return;
  }
  TK_ASSERT(o->n_ids <= TK_MAX_OFFER_IDS);
  free(h->pushed);
  h->pushed = calloc(o->n_ids ? o->n_ids : 1, TK_REV_ID_LEN);
  if (!h->pushed) abort();
  for (size_t i = 0; i < o->n_ids; i++) {
    TK_ASSERT(o->ids[i].len == TK_REV_ID_LEN);
    memcpy(h->pushed[i], o->ids[i].data, TK_REV_ID_LEN);
    TK_ASSERT(tk_store_has_rev(store, o->ids[i].data) == 1);
  }
  h->npushed = o->n_ids;
}

static void on_office_revisions(const hub_view_t *h, const Tunduk__V1__Revisions *m)
{
  tk_err_t e;
  if (m->step) { /* a push step (no Offer): revisions of its own store */
    TK_ASSERT(m->n_revs >= 1 && m->n_revs <= TK_MAX_OFFER_IDS);
    for (size_t i = 0; i < m->n_revs; i++) {
      tk_rev_t rev;
      TK_ASSERT(tk_rev_parse(&rev, tk_pb_slice(m->revs[i]), &e) == 0);
      TK_ASSERT(tk_store_has_rev(store, rev.id) == 1);
    }
    return;
  }
  TK_ASSERT(m->n_revs == h->nneed);
  for (size_t i = 0; i < m->n_revs; i++) {
    tk_rev_t rev;
    TK_ASSERT(h->need[i] < h->npushed);
    TK_ASSERT(tk_rev_parse(&rev, tk_pb_slice(m->revs[i]), &e) == 0);
    TK_ASSERT(tk_rev_check_id(&rev, h->pushed[h->need[i]], &e) == 0);
  }
}

static void on_office_chunk(const hub_view_t *h, const Tunduk__V1__Chunk *m)
{
  uint8_t hash[TK_HASH_LEN];
  TK_ASSERT(m->index < h->ncpushed);
  TK_ASSERT(m->data.len == h->csizes[m->index]);
  tk_sha256(hash, m->data.data, m->data.len);
  TK_ASSERT(memcmp(hash, h->cpushed[m->index], TK_HASH_LEN) == 0);
}

static int sink(void *ctx, tk_slice_t payload)
{
  hub_view_t *h = ctx;
  tk_frame_t *f = tk_wire_decode(payload);
  TK_ASSERT(f != NULL);
  if (trace) fprintf(stderr, "  office -> %s\n", tk_wire_name(f));
  h->last_case = f->msg_case;
  switch (f->msg_case) {
  case TUNDUK__V1__FRAME__MSG_NEED: {
    const Tunduk__V1__Need *m = f->need;
    TK_ASSERT(m->n_index <= h->offer_n);
    for (size_t i = 0; i < m->n_index; i++)
      TK_ASSERT(m->index[i] < h->offer_n && (i == 0 || m->index[i] > m->index[i - 1]));
    break;
  }
  case TUNDUK__V1__FRAME__MSG_OFFER:
    on_office_offer(h, f->offer);
    break;
  case TUNDUK__V1__FRAME__MSG_REVISIONS:
    on_office_revisions(h, f->revisions);
    break;
  case TUNDUK__V1__FRAME__MSG_CHUNK:
    on_office_chunk(h, f->chunk);
    break;
  default:
    break;
  }
  tk_wire_free(f);
  return 0;
}

/* Before a hub frame goes to the office: what the checks need to know. */
static void before(hub_view_t *h, const record_t *r)
{
  tk_frame_t *f = tk_wire_decode(TK_SLICE(r->p, r->n));
  if (!f) return;
  if (f->msg_case == TUNDUK__V1__FRAME__MSG_OFFER) {
    h->offer_n = f->offer->n_ids;
    h->offer_chunks = f->offer->chunks;
  } else if (f->msg_case == TUNDUK__V1__FRAME__MSG_NEED) {
    free(h->need);
    h->need = calloc(f->need->n_index ? f->need->n_index : 1, sizeof *h->need);
    if (!h->need) abort();
    if (f->need->n_index)
      memcpy(h->need, f->need->index, f->need->n_index * sizeof *h->need);
    h->nneed = f->need->n_index;
  }
  tk_wire_free(f);
}

/* ---- after each input ------------------------------------------------------------ */

static int any_vault(void *ctx, const char *vault)
{
  (void)vault;
  *(int *)ctx = 1;
  return 0;
}

static int check_chunk_named(void *ctx, const tk_chunk_meta_t *m)
{
  int found = 0;
  (void)ctx;
  TK_ASSERT(tk_store_chunk_vaults(store, m->id, any_vault, &found, NULL) == 0);
  TK_ASSERT(found);
  return 0;
}

/* tk_office_verify's failures. A body that does not open under the vault
 * key is tolerated (counted): a revision signed by its author with a broken
 * tag passes every check a pull makes (hash, signature; the hub cannot
 * decrypt), and bit 3 makes such revisions (new refs break the tag, which
 * covers the header). Revisions kept aside by the membership log are counted
 * too: evidence the office keeps on purpose. Every other failure is a bug. */
static void verify_failed(void *ctx, const uint8_t id[TK_REV_ID_LEN], const char *msg)
{
  /* a pulled revision the vault's membership log does not let count is kept
   * aside as evidence (verify counts it as failed): the office working */
  if (strstr(msg, "body does not decrypt") || tk_store_refused_has(store, id) == 1) {
    (*(uint64_t *)ctx)++;
    return;
  }
  fprintf(stderr, "client_session: stored revision fails verification: %s\n", msg);
  abort();
}

static void check_store(void)
{
  tk_verify_counts_t n;
  tk_err_t e;
  uint64_t undecryptable = 0;
  int rc = tk_office_verify(office, verify_failed, &undecryptable, &n, &e);
  if ((rc != 0 && n.failed != undecryptable) || n.failed != undecryptable ||
      n.bad_chunks != 0) {
    fprintf(stderr, "client_session: the office stored what does not verify: %s\n",
            tk_err_str(&e));
    abort();
  }
  TK_ASSERT(tk_store_chunks_after(store, 0, 1u << 20, check_chunk_named, NULL, NULL) ==
            0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tk_err_t e;
  tk_client_stats_t st;
  tk_client_session_t *s = NULL;
  hub_view_t h;
  record_t *rec = NULL;
  size_t nrec = 0, cap = 0;
  if (!office) {
    setup();
    trace = getenv("TK_FUZZ_TRACE") != NULL;
  }
  memset(&h, 0, sizeof h);
  memset(&e, 0, sizeof e);
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
  tk_client_opts_t opts;
  memset(&opts, 0, sizeof opts);
  opts.mode = TK_CLIENT_SYNC;
  opts.plugins = plugins;
  if (tk_store_begin(store, &e) != 0) abort();
  if (tk_client_session_new(&s, office, &opts, &st, fz_spki_hash, sink, &h, &e) != 0) {
    fprintf(stderr, "client_session: setup failed: %s\n", tk_err_str(&e));
    abort();
  }
  TK_ASSERT(h.last_case == TUNDUK__V1__FRAME__MSG_HELLO);
  int ended = 0;
  for (size_t i = 0; i < nrec && !ended; i++) {
    fix_offer(rec, nrec, i);
    before(&h, &rec[i]);
    if (trace) {
      tk_frame_t *f = tk_wire_decode(TK_SLICE(rec[i].p, rec[i].n));
      fprintf(stderr, "hub -> %s\n", f ? tk_wire_name(f) : "(garbage)");
      tk_wire_free(f);
    }
    int rc = tk_client_session_deliver(s, TK_SLICE(rec[i].p, rec[i].n));
    TK_ASSERT(rc == 0 || rc == TK_ECLOSED);
    ended = rc == TK_ECLOSED;
  }
  int rc = tk_client_session_finish(s);
  if (trace) fprintf(stderr, "run: %d %s\n", rc, rc ? e.msg : "ok");
  if (rc == 0)
    TK_ASSERT(ended && h.last_case == TUNDUK__V1__FRAME__MSG_BYE);
  else
    TK_ASSERT(rc < 0 && e.msg[0] && rc != TK_ESTORE);
  check_store();
  tk_store_rollback(store);
  tk_client_stats_free(&st);
  for (size_t i = 0; i < nrec; i++)
    free(rec[i].p);
  free(rec);
  free(h.pushed);
  free(h.need);
  free(h.cpushed);
  free(h.csizes);
  return 0;
}
