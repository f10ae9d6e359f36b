/*
 * hub_session.c (fuzz target "hub_session"): a whole hub session from one
 * input, without a network. core/hub.c keeps its handlers static behind a
 * TLS connection, so this harness replays the same state machine
 * (HELLO -> ENROLL -> READY; offer/need/revisions, pull/need, device query,
 * grant put/query, bye/error) over the same library calls the hub makes:
 * tk_wire_decode, tk_wire_identity_check (with a TLS key hash),
 * tk_store_device_get, tk_store_token_redeem, tk_store_access_list,
 * tk_sync_need, tk_sync_apply with the hub's push policy and the bundled
 * moderation rules (tk_plugin_moderate, tk_store_quarantine_put),
 * tk_sync_batch, tk_store_get_rev, tk_grant_verify, tk_store_grant_put,
 * tk_store_grants_for, and encodes every answer (and decodes it back as the
 * client would).
 *
 * Input: records of [flags u8][length u16 big-endian][payload], each payload
 * one Frame. Flags let the fuzzer get past checks it cannot forge:
 *   bit 0: re-sign the Hello identity (device_id, kx_sig, tls_binding) when
 *          sign_pk is a fixture device's;
 *   bit 1: re-sign revisions whose author_pk is a fixture device's, and set
 *          the offered ids to their hashes;
 *   bit 2: re-sign a GrantPut whose granter_pk is a fixture device's.
 *
 * Store: one sqlite file per process in a temporary folder, made once with
 * the fixture (devices, access, an unused token, three revisions); every
 * input runs inside one outer transaction that is rolled back at the end, so
 * inputs cannot affect each other and a run costs a BEGIN and a ROLLBACK.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_fixture.h"
#include "tk_plugin.h"
#include "tk_store.h"
#include "tk_sync.h"
#include "tk_token.h"
#include "tk_wire.h"

enum { S_HELLO, S_ENROLL, S_READY, S_CLOSING };

typedef struct access_entry {
  char vault[TK_MAX_VAULT_LEN + 1];
  int write;
} access_entry_t;

typedef struct session {
  int state;
  int flags; /* of the record being handled */
  tk_peer_t peer;
  access_entry_t *access;
  size_t naccess;
  uint8_t (*offered)[TK_REV_ID_LEN];
  uint32_t *need;
  size_t nneed;
  int awaiting_revs;
  tk_batch_t batch;
  int awaiting_need;
} session_t;

static tk_store_t *store;
static int trace; /* TK_FUZZ_TRACE=1: print each answer (to check what seeds reach) */
static tk_plugin_set_t *plugins;
static char dir[64], path[128];

/* ---- fixture ------------------------------------------------------------------ */

static void cleanup(void)
{
  char p[160];
  tk_store_close(store);
  tk_plugin_set_free(plugins);
  static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
  for (size_t i = 0; i < 4; i++) {
    snprintf(p, sizeof p, "%s%s", path, suffix[i]);
    unlink(p);
  }
  rmdir(dir);
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
  fz_init();
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/tk-fuzz-hub-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) abort();
  snprintf(path, sizeof path, "%s/hub.db", dir);
  if (tk_store_open(&store, path, TK_STORE_CREATE, &e) != 0) goto fail;
  atexit(cleanup);
  token("office", FZ_VAULT ":rw," FZ_VAULT_RO ":r", (const uint8_t *)"office-token-001",
        (const uint8_t *)"office token secret, 32 bytes.!!", fz_id[FZ_OFFICE]);
  token("revoked", FZ_VAULT ":rw", (const uint8_t *)"revoked-token-01",
        (const uint8_t *)"revoked token secret, 32 bytes!!", fz_id[FZ_REVOKED]);
  if (tk_store_device_revoke(store, fz_id[FZ_REVOKED]->id, 1700000001, &e) != 0)
    goto fail;
  token("newcomer", FZ_VAULT ":rw", fz_token_id, fz_token_secret, NULL);
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
  if (tk_plugin_set_new(&plugins, NULL) != 0 ||
      tk_plugin_set_load_dir(plugins, TK_SOURCE_DIR "/plugins", &e) != 0)
    goto fail;
  if (tk_plugin_set_count(plugins, TK_PLUGIN_MODERATION) == 0) {
    fprintf(stderr, "hub_session fixture: no moderation rule loaded\n");
    abort();
  }
  return;
fail:
  fprintf(stderr, "hub_session fixture: %s\n", tk_err_str(&e));
  abort();
}

/* ---- sending: encode, and decode as the client would ------------------------- */

static void reply(const tk_frame_t *f)
{
  size_t n = tunduk__v1__frame__get_packed_size(f);
  uint8_t *p = malloc(n ? n : 1);
  if (!p) abort();
  TK_ASSERT(tunduk__v1__frame__pack(f, p) == n);
  tk_frame_t *back = tk_wire_decode(TK_SLICE(p, n));
  TK_ASSERT(back && back->msg_case == f->msg_case);
  if (trace) {
    fprintf(stderr, "  hub -> %s", tk_wire_name(back));
    if (back->msg_case == TUNDUK__V1__FRAME__MSG_ERROR)
      fprintf(stderr, " \"%s\"", back->error->message);
    if (back->msg_case == TUNDUK__V1__FRAME__MSG_NEED)
      fprintf(stderr, " n=%zu", back->need->n_index);
    if (back->msg_case == TUNDUK__V1__FRAME__MSG_OFFER)
      fprintf(stderr, " n=%zu", back->offer->n_ids);
    if (back->msg_case == TUNDUK__V1__FRAME__MSG_ACK) {
      fprintf(stderr, " accepted=%u duplicates=%u", back->ack->accepted,
              back->ack->duplicates);
      for (size_t i = 0; i < back->ack->n_rejected; i++)
        fprintf(stderr, "\n    rejected %d: %s", back->ack->rejected[i]->code,
                back->ack->rejected[i]->reason);
    }
    fprintf(stderr, "\n");
  }
  tk_wire_free(back);
  free(p);
}

static void send_error(Tunduk__V1__ErrorCode code, const char *msg)
{
  Tunduk__V1__Error m = TUNDUK__V1__ERROR__INIT;
  m.code = code;
  m.message = (char *)(uintptr_t)msg;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_ERROR;
  f.error = &m;
  reply(&f);
}

/* ---- the session, as core/hub.c ----------------------------------------------- */

static void push_reset(session_t *s)
{
  free(s->offered);
  free(s->need);
  s->offered = NULL;
  s->need = NULL;
  s->nneed = 0;
  s->awaiting_revs = 0;
}

static void fail(session_t *s, Tunduk__V1__ErrorCode code, const char *msg)
{
  if (s->state == S_CLOSING) return;
  send_error(code, msg);
  s->state = S_CLOSING;
}

static int load_access_cb(void *ctx, const char *vault, int write)
{
  session_t *s = ctx;
  access_entry_t *a = realloc(s->access, (s->naccess + 1) * sizeof *a);
  if (!a) return TK_ENOMEM;
  s->access = a;
  snprintf(a[s->naccess].vault, sizeof a->vault, "%s", vault);
  a[s->naccess].write = write;
  s->naccess++;
  return 0;
}

static int load_access(session_t *s, tk_err_t *err)
{
  free(s->access);
  s->access = NULL;
  s->naccess = 0;
  return tk_store_access_list(store, s->peer.id, load_access_cb, s, err);
}

static int session_access(const session_t *s, const char *vault)
{
  for (size_t i = 0; i < s->naccess; i++)
    if (strcmp(s->access[i].vault, vault) == 0)
      return s->access[i].write ? TK_ACCESS_WRITE : TK_ACCESS_READ;
  return TK_ACCESS_NONE;
}

static void send_hello(session_t *s, int enrolled)
{
  Tunduk__V1__Identity ident;
  uint8_t kx_sig[TK_SIG_LEN];
  Tunduk__V1__VaultAccess *va = calloc(s->naccess ? s->naccess : 1, sizeof *va);
  Tunduk__V1__VaultAccess **v = calloc(s->naccess ? s->naccess : 1, sizeof *v);
  if (!va || !v || tk_wire_identity(&ident, fz_id[FZ_HUB], kx_sig) != 0) abort();
  for (size_t i = 0; i < s->naccess; i++) {
    tunduk__v1__vault_access__init(&va[i]);
    va[i].vault = s->access[i].vault;
    va[i].write = s->access[i].write;
    v[i] = &va[i];
  }
  Tunduk__V1__Hello m = TUNDUK__V1__HELLO__INIT;
  m.protocol_min = m.protocol_max = TK_PROTOCOL_VERSION;
  m.identity = &ident;
  m.software = TK_SOFTWARE;
  m.enrolled = enrolled;
  m.n_access = enrolled ? s->naccess : 0;
  m.access = v;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_HELLO;
  f.hello = &m;
  reply(&f);
  free(v);
  free(va);
}

/* Flag bit 0: make a fixture device's Hello identity verify. */
static void fix_identity(Tunduk__V1__Identity *m)
{
  if (!m || m->sign_pk.len != TK_SIGN_PK_LEN) return;
  const tk_identity_t *id = fz_identity_by_pk(m->sign_pk.data);
  if (!id) return;
  if (m->device_id.len == TK_DEVICE_ID_LEN) memcpy(m->device_id.data, id->id, 32);
  if (m->kx_pk.len == TK_KX_PK_LEN && m->kx_sig.len == TK_SIG_LEN) {
    uint8_t msg[20 + TK_KX_PK_LEN];
    memcpy(msg, "tunduk kx binding v1", 20);
    memcpy(msg + 20, m->kx_pk.data, TK_KX_PK_LEN);
    tk_identity_sign(id, m->kx_sig.data, msg, sizeof msg);
  }
  if (m->tls_binding.len == TK_SIG_LEN) memcpy(m->tls_binding.data, id->tls_binding, 64);
}

static void on_hello(session_t *s, Tunduk__V1__Hello *m)
{
  tk_err_t e;
  tk_device_info_t d;
  if (s->flags & 1) fix_identity(m->identity);
  if (m->protocol_min > TK_PROTOCOL_VERSION || m->protocol_max < TK_PROTOCOL_VERSION) {
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_VERSION, "no common protocol version");
    return;
  }
  if (tk_wire_identity_check(m->identity, fz_spki_hash, &s->peer, &e) != 0) {
    TK_ASSERT(e.code == TK_EPROTO || e.code == TK_ESIG);
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_IDENTITY, tk_err_str(&e));
    return;
  }
  int rc = tk_store_device_get(store, s->peer.id, &d, &e);
  if (rc == TK_ENOTFOUND) {
    s->state = S_ENROLL;
    send_hello(s, 0);
    return;
  }
  if (rc) {
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, tk_err_str(&e));
    return;
  }
  if (d.revoked) {
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_REVOKED, "this device was revoked");
    return;
  }
  if (load_access(s, &e) != 0) {
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, tk_err_str(&e));
    return;
  }
  s->state = S_READY;
  send_hello(s, 1);
}

static void on_enroll(session_t *s, const Tunduk__V1__Enroll *m)
{
  tk_err_t e;
  tk_device_info_t d;
  if (m->token_id.len != TK_TOKEN_ID_LEN || m->secret.len != TK_TOKEN_SECRET_LEN) {
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_BAD_TOKEN, "malformed enrollment token");
    return;
  }
  memset(&d, 0, sizeof d);
  memcpy(d.id, s->peer.id, TK_DEVICE_ID_LEN);
  memcpy(d.sign_pk, s->peer.sign_pk, TK_SIGN_PK_LEN);
  memcpy(d.kx_pk, s->peer.kx_pk, TK_KX_PK_LEN);
  memcpy(d.kx_sig, s->peer.kx_sig, TK_SIG_LEN);
  d.has_kx_sig = 1;
  int rc = tk_store_token_redeem(store, m->token_id.data, m->secret.data,
                                 (int64_t)time(NULL), &d, &e);
  if (rc) {
    TK_ASSERT(rc == TK_EACCESS);
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_BAD_TOKEN, tk_err_str(&e));
    return;
  }
  if (load_access(s, &e) != 0) {
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, tk_err_str(&e));
    return;
  }
  s->state = S_READY;
  Tunduk__V1__Enrolled en = TUNDUK__V1__ENROLLED__INIT;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_ENROLLED;
  f.enrolled = &en;
  reply(&f);
}

static void on_offer(session_t *s, const Tunduk__V1__Offer *m)
{
  tk_err_t e;
  if (s->awaiting_revs || s->awaiting_need) {
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, "offer in the middle of a batch");
    return;
  }
  if (m->n_ids > TK_MAX_OFFER_IDS) {
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_LIMIT, "more than 4096 ids in one offer");
    return;
  }
  size_t n = m->n_ids;
  tk_slice_t *ids = calloc(n ? n : 1, sizeof *ids);
  s->offered = calloc(n ? n : 1, TK_REV_ID_LEN);
  s->need = calloc(n ? n : 1, sizeof *s->need);
  if (!ids || !s->offered || !s->need) abort();
  for (size_t i = 0; i < n; i++) {
    ids[i] = tk_pb_slice(m->ids[i]);
    if (ids[i].n == TK_REV_ID_LEN) memcpy(s->offered[i], ids[i].p, TK_REV_ID_LEN);
  }
  int rc = tk_sync_need(store, ids, n, s->need, &s->nneed, &e);
  free(ids);
  if (rc) {
    TK_ASSERT(rc == TK_EPROTO);
    push_reset(s);
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, tk_err_str(&e));
    return;
  }
  TK_ASSERT(s->nneed <= n);
  for (size_t i = 0; i < s->nneed; i++)
    TK_ASSERT(s->need[i] < n && (i == 0 || s->need[i] > s->need[i - 1]));
  Tunduk__V1__Need need = TUNDUK__V1__NEED__INIT;
  need.n_index = s->nneed;
  need.index = s->need;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_NEED;
  f.need = &need;
  reply(&f);
  if (s->nneed)
    s->awaiting_revs = 1;
  else
    push_reset(s);
}

static int moderate(session_t *s, const tk_rev_t *rev, char *reason, size_t len)
{
  char rec[2 * TK_RECORD_ID_LEN + 1], rid[2 * TK_REV_ID_LEN + 1],
      author[TK_DEVICE_ID_STRLEN];
  tk_hex_encode(rec, rev->record_id, TK_RECORD_ID_LEN);
  tk_hex_encode(rid, rev->id, TK_REV_ID_LEN);
  tk_device_id_format(author, rev->author);
  tk_plugin_meta_t pm = {rec,      rid,          rev->type,       rev->vault,   author,
                         rev->hlc, rev->bytes.n, rev->generation, rev->nparents};
  tk_plugin_verdict_t v;
  TK_ASSERT(tk_plugin_moderate(plugins, &pm, (tk_slice_t){NULL, 0}, &v) == 0);
  if (v.verdict == TK_VERDICT_ACCEPT) return 0;
  snprintf(reason, len, "%s (rule %s in %s)", v.reason, v.rule, v.plugin);
  if (v.verdict == TK_VERDICT_REJECT) return TK_REJECT_MODERATION;
  tk_err_t e;
  if (tk_store_quarantine_put(store, rev, s->peer.id, reason, &e) != 0) {
    snprintf(reason, len, "could not quarantine: %s", tk_err_str(&e));
    return TK_REJECT_INTERNAL;
  }
  return TK_REJECT_QUARANTINED;
}

static int push_policy(void *ctx, const tk_rev_t *rev, char *reason, size_t len)
{
  session_t *s = ctx;
  if (session_access(s, rev->vault) != TK_ACCESS_WRITE) {
    snprintf(reason, len, "may not write vault '%s'", rev->vault);
    return TK_REJECT_ACCESS;
  }
  if (memcmp(rev->author, s->peer.id, TK_DEVICE_ID_LEN) != 0) {
    int mode = TK_ACCESS_NONE;
    if (tk_store_access_get(store, rev->author, rev->vault, &mode, NULL) != 0 ||
        mode != TK_ACCESS_WRITE) {
      snprintf(reason, len, "author may not write vault '%s'", rev->vault);
      return TK_REJECT_ACCESS;
    }
  }
  return moderate(s, rev, reason, len);
}

static void send_ack(const tk_apply_result_t *r)
{
  Tunduk__V1__Rejected *rj = calloc(r->nrejected ? r->nrejected : 1, sizeof *rj);
  Tunduk__V1__Rejected **rp = calloc(r->nrejected ? r->nrejected : 1, sizeof *rp);
  if (!rj || !rp) abort();
  Tunduk__V1__Ack ack = TUNDUK__V1__ACK__INIT;
  ack.accepted = r->accepted;
  ack.duplicates = r->duplicates;
  for (size_t i = 0; i < r->nrejected; i++) {
    tunduk__v1__rejected__init(&rj[i]);
    rj[i].id = tk_pb_bytes(r->rejected[i].id, TK_REV_ID_LEN);
    rj[i].code = (Tunduk__V1__RejectCode)r->rejected[i].code;
    rj[i].reason = (char *)r->rejected[i].reason;
    rp[i] = &rj[i];
  }
  ack.n_rejected = r->nrejected;
  ack.rejected = rp;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_ACK;
  f.ack = &ack;
  reply(&f);
  free(rj);
  free(rp);
}

/* Flag bit 1: re-sign a fixture author's revision in place. */
static void fix_revision(ProtobufCBinaryData b)
{
  tk_rev_t rev;
  if (tk_rev_parse(&rev, tk_pb_slice(b), NULL) != 0) return;
  const tk_identity_t *id = fz_identity_by_pk(rev.author_pk);
  if (id) tk_identity_sign(id, b.data + b.len - TK_SIG_LEN, b.data, b.len - TK_SIG_LEN);
}

static void on_revisions(session_t *s, const Tunduk__V1__Revisions *m)
{
  tk_err_t e;
  tk_apply_result_t res;
  if (!s->awaiting_revs || m->n_revs != s->nneed) {
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, "revisions that were not asked for");
    return;
  }
  tk_slice_t *revs = calloc(s->nneed, sizeof *revs), *ids = calloc(s->nneed, sizeof *ids);
  if (!revs || !ids) abort();
  for (size_t i = 0; i < s->nneed; i++) {
    if (s->flags & 2) {
      fix_revision(m->revs[i]);
      tk_sha256(s->offered[s->need[i]], m->revs[i].data, m->revs[i].len);
    }
    revs[i] = tk_pb_slice(m->revs[i]);
    ids[i] = TK_SLICE(s->offered[s->need[i]], TK_REV_ID_LEN);
  }
  int rc = tk_sync_apply(store, revs, ids, s->nneed, s->peer.id, push_policy, s, NULL,
                         &res, &e);
  if (rc) {
    /* The store failing is not the input's doing: a real bug. */
    fprintf(stderr, "hub_session: push failed: %s\n", tk_err_str(&e));
    abort();
  }
  TK_ASSERT(res.accepted + res.duplicates + res.nrejected == s->nneed);
  /* Everything not rejected is stored now; nothing rejected is (unless it
   * was there already). */
  for (size_t i = 0; i < s->nneed; i++) {
    int rejected = 0;
    for (size_t k = 0; k < res.nrejected; k++)
      if (memcmp(res.rejected[k].id, ids[i].p, TK_REV_ID_LEN) == 0) rejected = 1;
    if (!rejected) TK_ASSERT(tk_store_has_rev(store, ids[i].p) == 1);
  }
  free(revs);
  free(ids);
  push_reset(s);
  send_ack(&res);
  tk_apply_result_free(&res);
}

static int pull_filter(void *ctx, const tk_rev_meta_t *m)
{
  return session_access(ctx, m->vault) != TK_ACCESS_NONE;
}

static void on_pull(session_t *s, const Tunduk__V1__Pull *m)
{
  tk_err_t e;
  if (s->awaiting_revs || s->awaiting_need) {
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, "pull in the middle of a batch");
    return;
  }
  int rc = tk_sync_batch(store, m->since, TK_MAX_OFFER_IDS, 1u << 20, pull_filter, s,
                         &s->batch, &e);
  if (rc) {
    fprintf(stderr, "hub_session: batch failed: %s\n", tk_err_str(&e));
    abort();
  }
  TK_ASSERT(s->batch.upto >= m->since);
  ProtobufCBinaryData *ids = calloc(s->batch.n ? s->batch.n : 1, sizeof *ids);
  if (!ids) abort();
  for (size_t i = 0; i < s->batch.n; i++) {
    TK_ASSERT(s->batch.seqs[i] > m->since);
    ids[i] = tk_pb_bytes(s->batch.ids[i], TK_REV_ID_LEN);
  }
  Tunduk__V1__Offer o = TUNDUK__V1__OFFER__INIT;
  o.n_ids = s->batch.n;
  o.ids = ids;
  o.upto = s->batch.upto;
  o.more = s->batch.more;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_OFFER;
  f.offer = &o;
  reply(&f);
  free(ids);
  s->awaiting_need = 1;
}

static void on_need(session_t *s, const Tunduk__V1__Need *m)
{
  tk_err_t e;
  tk_buf_t all = TK_BUF_INIT;
  if (!s->awaiting_need) {
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, "need without an offer");
    return;
  }
  s->awaiting_need = 0;
  for (size_t i = 0; i < m->n_index; i++)
    if (m->index[i] >= s->batch.n || (i > 0 && m->index[i] <= m->index[i - 1])) {
      fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, "need indexes out of range");
      return;
    }
  if (m->n_index == 0) return;
  size_t *offs = calloc(m->n_index + 1, sizeof *offs);
  ProtobufCBinaryData *revs = calloc(m->n_index, sizeof *revs);
  if (!offs || !revs) abort();
  for (size_t i = 0; i < m->n_index; i++) {
    offs[i] = all.n;
    if (tk_store_get_rev(store, s->batch.ids[m->index[i]], &all, &e) != 0) {
      fprintf(stderr, "hub_session: offered revision unreadable: %s\n", tk_err_str(&e));
      abort();
    }
  }
  offs[m->n_index] = all.n;
  for (size_t i = 0; i < m->n_index; i++) {
    tk_rev_t rev;
    revs[i] = tk_pb_bytes(all.p + offs[i], offs[i + 1] - offs[i]);
    /* What the hub sends must be what it offered, byte for byte. */
    TK_ASSERT(tk_rev_parse(&rev, tk_pb_slice(revs[i]), &e) == 0);
    TK_ASSERT(tk_rev_check_id(&rev, s->batch.ids[m->index[i]], &e) == 0);
  }
  Tunduk__V1__Revisions r = TUNDUK__V1__REVISIONS__INIT;
  r.n_revs = m->n_index;
  r.revs = revs;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_REVISIONS;
  f.revisions = &r;
  reply(&f);
  tk_buf_free(&all);
  free(offs);
  free(revs);
}

static void on_device_query(const Tunduk__V1__DeviceQuery *m)
{
  tk_device_info_t d;
  Tunduk__V1__Identity ident = TUNDUK__V1__IDENTITY__INIT;
  Tunduk__V1__DeviceInfo info = TUNDUK__V1__DEVICE_INFO__INIT;
  if (m->device_id.len == TK_DEVICE_ID_LEN &&
      tk_store_device_get(store, m->device_id.data, &d, NULL) == 0 && !d.revoked &&
      d.has_kx_sig) {
    ident.device_id = tk_pb_bytes(d.id, TK_DEVICE_ID_LEN);
    ident.sign_pk = tk_pb_bytes(d.sign_pk, TK_SIGN_PK_LEN);
    ident.kx_pk = tk_pb_bytes(d.kx_pk, TK_KX_PK_LEN);
    ident.kx_sig = tk_pb_bytes(d.kx_sig, TK_SIG_LEN);
    ident.name = d.name;
    info.identity = &ident;
    /* An office checks the answer like this; a stored device must pass. */
    tk_peer_t p;
    tk_err_t e;
    TK_ASSERT(tk_wire_identity_check(&ident, NULL, &p, &e) == 0);
  }
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_DEVICE_INFO;
  f.device_info = &info;
  reply(&f);
}

/* Flag bit 2: re-sign a fixture granter's grant in place. */
static void fix_grant(const Tunduk__V1__SignedGrant *g)
{
  if (g->sig.len != TK_SIG_LEN || g->body.len > 4096) return;
  Tunduk__V1__GrantBody *b =
      tunduk__v1__grant_body__unpack(NULL, g->body.len, g->body.data);
  if (!b) return;
  const tk_identity_t *id =
      b->granter_pk.len == TK_SIGN_PK_LEN ? fz_identity_by_pk(b->granter_pk.data) : NULL;
  if (id) {
    tk_buf_t m = TK_BUF_INIT;
    if (tk_buf_append(&m, "tunduk grant v1", 15) == 0 &&
        tk_buf_append(&m, g->body.data, g->body.len) == 0)
      tk_identity_sign(id, g->sig.data, m.p, m.n);
    tk_buf_free(&m);
  }
  tunduk__v1__grant_body__free_unpacked(b, NULL);
}

static void on_grant_put(session_t *s, const Tunduk__V1__GrantPut *m)
{
  tk_err_t e;
  tk_grant_t g;
  tk_device_info_t d;
  tk_apply_result_t res;
  tk_reject_t rj;
  memset(&res, 0, sizeof res);
  memset(&rj, 0, sizeof rj);
  if (!m->grant) {
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, "grant missing");
    return;
  }
  if (s->flags & 4) fix_grant(m->grant);
  tk_slice_t body = tk_pb_slice(m->grant->body), sig = tk_pb_slice(m->grant->sig);
  tk_sha256(rj.id, body.p, body.n);
  rj.code = TK_REJECT_ACCESS;
  if (tk_grant_verify(body, sig, &g, &e) != 0) {
    rj.code = TK_REJECT_SIGNATURE;
    snprintf(rj.reason, sizeof rj.reason, "%s", tk_err_str(&e));
  } else if (!tk_ct_equal(g.granter, s->peer.id, TK_DEVICE_ID_LEN)) {
    snprintf(rj.reason, sizeof rj.reason, "not signed by the sender");
  } else if (session_access(s, g.vault) != TK_ACCESS_WRITE) {
    snprintf(rj.reason, sizeof rj.reason, "may not write vault '%s'", g.vault);
  } else if (tk_store_device_get(store, g.recipient, &d, NULL) != 0 || d.revoked) {
    snprintf(rj.reason, sizeof rj.reason, "the recipient is not an enrolled device");
  } else if (tk_store_grant_put(store, g.vault, g.key_id, g.recipient, g.granter, body,
                                sig, &e) != 0) {
    fprintf(stderr, "hub_session: grant put failed: %s\n", tk_err_str(&e));
    abort();
  } else {
    rj.code = 0;
  }
  if (rj.code) {
    res.nrejected = 1;
    res.rejected = &rj;
  } else {
    res.accepted = 1;
  }
  send_ack(&res);
}

typedef struct grant_list {
  size_t n;
  int bad;
} grant_list_t;

static int collect_grant(void *ctx, tk_slice_t body, tk_slice_t sig)
{
  grant_list_t *l = ctx;
  tk_grant_t g;
  /* The hub relays what it stored; it must still verify. */
  if (tk_grant_verify(body, sig, &g, NULL) != 0) l->bad++;
  l->n++;
  return 0;
}

static void on_grant_query(session_t *s)
{
  tk_err_t e;
  grant_list_t l = {0, 0};
  if (tk_store_grants_for(store, s->peer.id, TK_MAX_GRANTS, collect_grant, &l, &e) != 0) {
    fprintf(stderr, "hub_session: grants failed: %s\n", tk_err_str(&e));
    abort();
  }
  TK_ASSERT(l.bad == 0);
  Tunduk__V1__Grants msg = TUNDUK__V1__GRANTS__INIT;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_GRANTS;
  f.grants = &msg;
  reply(&f);
}

static void on_frame(session_t *s, tk_slice_t payload)
{
  tk_frame_t *f = tk_wire_decode(payload);
  if (!f) {
    fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, "frame does not decode");
    return;
  }
  int k = f->msg_case;
  if (k == TUNDUK__V1__FRAME__MSG_BYE || k == TUNDUK__V1__FRAME__MSG_ERROR) {
    s->state = S_CLOSING;
  } else if (s->state == S_HELLO) {
    if (k == TUNDUK__V1__FRAME__MSG_HELLO)
      on_hello(s, f->hello);
    else
      fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, "expected hello");
  } else if (s->state == S_ENROLL) {
    if (k == TUNDUK__V1__FRAME__MSG_ENROLL)
      on_enroll(s, f->enroll);
    else
      fail(s, TUNDUK__V1__ERROR_CODE__ERROR_UNKNOWN_DEVICE, "not enrolled");
  } else if (s->state == S_READY) {
    switch (k) {
    case TUNDUK__V1__FRAME__MSG_OFFER:
      on_offer(s, f->offer);
      break;
    case TUNDUK__V1__FRAME__MSG_REVISIONS:
      on_revisions(s, f->revisions);
      break;
    case TUNDUK__V1__FRAME__MSG_PULL:
      on_pull(s, f->pull);
      break;
    case TUNDUK__V1__FRAME__MSG_NEED:
      on_need(s, f->need);
      break;
    case TUNDUK__V1__FRAME__MSG_DEVICE_QUERY:
      on_device_query(f->device_query);
      break;
    case TUNDUK__V1__FRAME__MSG_GRANT_PUT:
      on_grant_put(s, f->grant_put);
      break;
    case TUNDUK__V1__FRAME__MSG_GRANT_QUERY:
      on_grant_query(s);
      break;
    default:
      fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, "unexpected message");
    }
  }
  tk_wire_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tk_err_t e;
  session_t s;
  if (!store) {
    setup();
    trace = getenv("TK_FUZZ_TRACE") != NULL;
  }
  memset(&s, 0, sizeof s);
  s.state = S_HELLO;
  if (tk_store_begin(store, &e) != 0) abort();
  size_t off = 0;
  while (s.state != S_CLOSING && size - off >= 3) {
    s.flags = data[off];
    size_t n = (size_t)data[off + 1] << 8 | data[off + 2];
    off += 3;
    if (n > size - off) n = size - off;
    uint8_t *p = malloc(n ? n : 1); /* exactly sized, so ASan sees overreads */
    if (!p) abort();
    if (n) memcpy(p, data + off, n);
    off += n;
    on_frame(&s, TK_SLICE(p, n));
    free(p);
  }
  push_reset(&s);
  tk_batch_free(&s.batch);
  free(s.access);
  tk_store_rollback(store);
  return 0;
}
