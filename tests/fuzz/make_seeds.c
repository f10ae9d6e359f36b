/*
 * make_seeds.c: writes the seed corpora of the fuzz targets into
 * <corpus>/<target>/seed-* (usage: make_seeds tests/fuzz/corpus). The seeds
 * are committed; run this again only when a format changes (it overwrites
 * seed-* files and leaves crash-* regression inputs and fuzzer-grown files
 * alone).
 *
 * Everything is made from the fixture (fuzz_fixture.c) with the
 * deterministic generator, so hub_session seeds name the revisions the
 * harness's store holds, carry identities and grants that verify, and the
 * revision seeds open with the fixture's vault key.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_fixture.h"
#include "tk_attach.h"
#include "tk_config.h"
#include "tk_token.h"
#include "tk_wire.h"

static const char *root;

static void put(const char *target, const char *name, const void *p, size_t n)
{
  char path[512];
  snprintf(path, sizeof path, "%s/%s", root, target);
  if (mkdir(path, 0755) != 0 && errno != EEXIST) goto fail;
  snprintf(path, sizeof path, "%s/%s/seed-%s", root, target, name);
  if (fz_write_file(path, p, n) != 0) goto fail;
  return;
fail:
  fprintf(stderr, "make_seeds: cannot write %s: %s\n", path, strerror(errno));
  exit(1);
}

static void put_str(const char *target, const char *name, const char *s)
{
  put(target, name, s, strlen(s));
}

/* ---- frames ------------------------------------------------------------------- */

static void pack(tk_buf_t *out, const tk_frame_t *f)
{
  size_t n = tunduk__v1__frame__get_packed_size(f);
  if (tk_buf_reserve(out, n) != 0) abort();
  tunduk__v1__frame__pack(f, out->p + out->n);
  out->n += n;
}

/* A session record: [flags][u16 length][frame]. */
static void record(tk_buf_t *session, int flags, const tk_frame_t *f, const char *name)
{
  tk_buf_t b = TK_BUF_INIT;
  pack(&b, f);
  if (b.n > 0xffff) abort();
  tk_buf_append_u8(session, (uint8_t)flags);
  tk_buf_append_u16be(session, (uint16_t)b.n);
  tk_buf_append(session, b.p, b.n);
  if (name) put("frame_decode", name, b.p, b.n);
  tk_buf_free(&b);
}

static void hello(tk_buf_t *session, int flags, const tk_identity_t *id, const char *name)
{
  Tunduk__V1__Identity ident;
  uint8_t kx_sig[TK_SIG_LEN];
  if (tk_wire_identity(&ident, id, kx_sig) != 0) abort();
  Tunduk__V1__VaultAccess va = TUNDUK__V1__VAULT_ACCESS__INIT, *vp = &va;
  va.vault = FZ_VAULT;
  va.write = 1;
  Tunduk__V1__Hello m = TUNDUK__V1__HELLO__INIT;
  m.protocol_min = m.protocol_max = TK_PROTOCOL_VERSION;
  m.identity = &ident;
  m.software = TK_SOFTWARE;
  if (id == fz_id[FZ_HUB]) { /* the hub's answer carries the access list */
    m.enrolled = 1;
    m.n_access = 1;
    m.access = &vp;
  }
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_HELLO;
  f.hello = &m;
  record(session, flags, &f, name);
}

static void offer(tk_buf_t *session, int flags, tk_slice_t *revs, size_t n,
                  const char *name)
{
  ProtobufCBinaryData ids[16];
  uint8_t idb[16][TK_REV_ID_LEN];
  for (size_t i = 0; i < n; i++) {
    tk_sha256(idb[i], revs[i].p, revs[i].n);
    ids[i] = tk_pb_bytes(idb[i], TK_REV_ID_LEN);
  }
  Tunduk__V1__Offer o = TUNDUK__V1__OFFER__INIT;
  o.n_ids = n;
  o.ids = ids;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_OFFER;
  f.offer = &o;
  record(session, flags, &f, name);
}

static void revisions(tk_buf_t *session, int flags, tk_slice_t *revs, size_t n,
                      const char *name)
{
  ProtobufCBinaryData r[16];
  for (size_t i = 0; i < n; i++)
    r[i] = tk_pb_bytes(revs[i].p, revs[i].n);
  Tunduk__V1__Revisions m = TUNDUK__V1__REVISIONS__INIT;
  m.n_revs = n;
  m.revs = r;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_REVISIONS;
  f.revisions = &m;
  record(session, flags, &f, name);
}

/* A step (protocol 3): a push step to the hub (upto 0), or a pull step
 * from it with upto and more. */
static void step(tk_buf_t *session, int flags, tk_slice_t *revs, size_t n, uint64_t upto,
                 int more)
{
  ProtobufCBinaryData r[16];
  for (size_t i = 0; i < n; i++)
    r[i] = tk_pb_bytes(revs[i].p, revs[i].n);
  Tunduk__V1__Revisions m = TUNDUK__V1__REVISIONS__INIT;
  m.n_revs = n;
  m.revs = r;
  m.step = 1;
  m.upto = upto;
  m.more = more;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_REVISIONS;
  f.revisions = &m;
  record(session, flags, &f, NULL);
}

static void pull_steps(tk_buf_t *session, uint64_t since, uint32_t step_bytes)
{
  Tunduk__V1__Pull m = TUNDUK__V1__PULL__INIT;
  m.since = since;
  m.steps = 1;
  m.step_bytes = step_bytes;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_PULL;
  f.pull = &m;
  record(session, 0, &f, NULL);
}

static void hub_ack(tk_buf_t *session, uint32_t accepted); /* an Ack, either way */

static void pull_feed(tk_buf_t *session, uint64_t since, int chunks, const char *name)
{
  Tunduk__V1__Pull m = TUNDUK__V1__PULL__INIT;
  m.since = since;
  m.chunks = chunks;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_PULL;
  f.pull = &m;
  record(session, 0, &f, name);
}

static void pull(tk_buf_t *session, uint64_t since, const char *name)
{
  pull_feed(session, since, 0, name);
}

static void need(tk_buf_t *session, uint32_t *idx, size_t n, const char *name)
{
  Tunduk__V1__Need m = TUNDUK__V1__NEED__INIT;
  m.n_index = n;
  m.index = idx;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_NEED;
  f.need = &m;
  record(session, 0, &f, name);
}

/* ---- attachment chunks ------------------------------------------------------------ */

/* A chunk Offer: ids and sizes (nsizes may differ from n, to be refused). */
static void chunk_offer(tk_buf_t *session, int flags, const uint8_t (*ids)[TK_HASH_LEN],
                        size_t n, const uint32_t *sizes, size_t nsizes, const char *name)
{
  ProtobufCBinaryData pb[16];
  if (n > 16) abort();
  for (size_t i = 0; i < n; i++)
    pb[i] = tk_pb_bytes(ids[i], TK_HASH_LEN);
  Tunduk__V1__Offer o = TUNDUK__V1__OFFER__INIT;
  o.n_ids = n;
  o.ids = pb;
  o.chunks = 1;
  o.n_sizes = nsizes;
  o.sizes = (uint32_t *)sizes;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_OFFER;
  f.offer = &o;
  record(session, flags, &f, name);
}

static void chunk(tk_buf_t *session, uint32_t index, tk_slice_t data, const char *name)
{
  Tunduk__V1__Chunk m = TUNDUK__V1__CHUNK__INIT;
  m.index = index;
  m.data = tk_pb_bytes(data.p, data.n);
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_CHUNK;
  f.chunk = &m;
  record(session, 0, &f, name);
}

static void chunk_ack(tk_buf_t *session, uint32_t index, int code, const char *name)
{
  Tunduk__V1__ChunkAck m = TUNDUK__V1__CHUNK_ACK__INIT;
  m.index = index;
  m.code = (Tunduk__V1__RejectCode)code;
  m.reason = code ? "its bytes do not hash to its id" : "";
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_CHUNK_ACK;
  f.chunk_ack = &m;
  record(session, 0, &f, name);
}

static void device_query(tk_buf_t *session, const uint8_t id[32], const char *name)
{
  Tunduk__V1__DeviceQuery m = TUNDUK__V1__DEVICE_QUERY__INIT;
  m.device_id = tk_pb_bytes(id, 32);
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_DEVICE_QUERY;
  f.device_query = &m;
  record(session, 0, &f, name);
}

static void grant_put(tk_buf_t *session, int flags, const tk_identity_t *by,
                      const tk_identity_t *to, const char *vault, const char *name)
{
  tk_grant_t g;
  tk_buf_t body = TK_BUF_INIT;
  uint8_t sig[TK_SIG_LEN];
  memset(&g, 0, sizeof g);
  snprintf(g.vault, sizeof g.vault, "%s", vault);
  tk_vault_key_id(g.key_id, fz_vault_key);
  memcpy(g.recipient, to->id, 32);
  if (tk_vault_key_seal(g.sealed, fz_vault_key, to->kx_pk) != 0) abort();
  g.created_ms = 1700000000123ull;
  if (tk_grant_sign(&g, by, &body, sig) != 0) abort();
  Tunduk__V1__SignedGrant sg = TUNDUK__V1__SIGNED_GRANT__INIT;
  sg.body = tk_pb_bytes(body.p, body.n);
  sg.sig = tk_pb_bytes(sig, TK_SIG_LEN);
  Tunduk__V1__GrantPut m = TUNDUK__V1__GRANT_PUT__INIT;
  m.grant = &sg;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_GRANT_PUT;
  f.grant_put = &m;
  record(session, flags, &f, name);
  if (name) { /* the same grant as a hub's answer to GrantQuery */
    Tunduk__V1__SignedGrant *gp = &sg;
    Tunduk__V1__Grants gs = TUNDUK__V1__GRANTS__INIT;
    gs.n_grants = 1;
    gs.grants = &gp;
    f.msg_case = TUNDUK__V1__FRAME__MSG_GRANTS;
    f.grants = &gs;
    tk_buf_t b = TK_BUF_INIT;
    pack(&b, &f);
    put("frame_decode", "grants", b.p, b.n);
    tk_buf_free(&b);
  }
  tk_buf_free(&body);
}

static void simple(tk_buf_t *session, int k, const char *name)
{
  Tunduk__V1__GrantQuery gq = TUNDUK__V1__GRANT_QUERY__INIT;
  Tunduk__V1__Bye bye = TUNDUK__V1__BYE__INIT;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = k;
  if (k == TUNDUK__V1__FRAME__MSG_GRANT_QUERY)
    f.grant_query = &gq;
  else
    f.bye = &bye;
  record(session, 0, &f, name);
}

static void enroll(tk_buf_t *session, const char *name)
{
  Tunduk__V1__Enroll m = TUNDUK__V1__ENROLL__INIT;
  m.token_id = tk_pb_bytes(fz_token_id, 16);
  m.secret = tk_pb_bytes(fz_token_secret, 32);
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_ENROLL;
  f.enroll = &m;
  record(session, 0, &f, name);
}

/* Answers only the office sees: for frame_decode. */
static void answers(void)
{
  tk_buf_t b = TK_BUF_INIT;
  Tunduk__V1__Rejected rj = TUNDUK__V1__REJECTED__INIT, *rp = &rj;
  uint8_t id[32];
  memset(id, 0xab, sizeof id);
  rj.id = tk_pb_bytes(id, 32);
  rj.code = TUNDUK__V1__REJECT_CODE__REJECT_PARENT;
  rj.reason = "parent missing";
  Tunduk__V1__Ack ack = TUNDUK__V1__ACK__INIT;
  ack.accepted = 2;
  ack.duplicates = 1;
  ack.n_rejected = 1;
  ack.rejected = &rp;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_ACK;
  f.ack = &ack;
  pack(&b, &f);
  put("frame_decode", "ack", b.p, b.n);

  b.n = 0;
  Tunduk__V1__Error er = TUNDUK__V1__ERROR__INIT;
  er.code = TUNDUK__V1__ERROR_CODE__ERROR_LIMIT;
  er.message = "frame over the limit";
  f.msg_case = TUNDUK__V1__FRAME__MSG_ERROR;
  f.error = &er;
  pack(&b, &f);
  put("frame_decode", "error", b.p, b.n);

  b.n = 0;
  Tunduk__V1__VaultAccess va[2] = {TUNDUK__V1__VAULT_ACCESS__INIT,
                                   TUNDUK__V1__VAULT_ACCESS__INIT};
  Tunduk__V1__VaultAccess *vp[2] = {&va[0], &va[1]};
  va[0].vault = FZ_VAULT;
  va[0].write = 1;
  va[1].vault = FZ_VAULT_RO;
  Tunduk__V1__Enrolled en = TUNDUK__V1__ENROLLED__INIT;
  en.n_access = 2;
  en.access = vp;
  f.msg_case = TUNDUK__V1__FRAME__MSG_ENROLLED;
  f.enrolled = &en;
  pack(&b, &f);
  put("frame_decode", "enrolled", b.p, b.n);

  b.n = 0;
  Tunduk__V1__Identity ident;
  uint8_t kx_sig[TK_SIG_LEN];
  if (tk_wire_identity(&ident, fz_id[FZ_OFFICE], kx_sig) != 0) abort();
  ident.tls_binding.len = 0; /* DeviceInfo carries no TLS binding */
  Tunduk__V1__DeviceInfo di = TUNDUK__V1__DEVICE_INFO__INIT;
  di.identity = &ident;
  f.msg_case = TUNDUK__V1__FRAME__MSG_DEVICE_INFO;
  f.device_info = &di;
  pack(&b, &f);
  put("frame_decode", "device-info", b.p, b.n);

  b.n = 0;
  Tunduk__V1__Offer o = TUNDUK__V1__OFFER__INIT;
  ProtobufCBinaryData ids[1] = {tk_pb_bytes(id, 32)};
  o.n_ids = 1;
  o.ids = ids;
  o.upto = 42;
  o.more = 1;
  f.msg_case = TUNDUK__V1__FRAME__MSG_OFFER;
  f.offer = &o;
  pack(&b, &f);
  put("frame_decode", "offer-pull", b.p, b.n);
  tk_buf_free(&b);

  tk_buf_t hub = TK_BUF_INIT;
  hello(&hub, 0, fz_id[FZ_HUB], "hello-hub");
  tk_buf_free(&hub);
}

/* ---- hub sessions and revisions --------------------------------------------------- */

static void sessions_and_revisions(void)
{
  tk_buf_t fx = TK_BUF_INIT, mine = TK_BUF_INIT, s = TK_BUF_INIT;
  size_t offs[FZ_NREVS + 1], mo[12];
  uint8_t fid[FZ_NREVS][TK_REV_ID_LEN], pid[TK_REV_ID_LEN];
  tk_slice_t r[12];
  char name[32];
  fz_fixture_revs(&fx, offs);
  for (int i = 0; i < FZ_NREVS; i++) {
    tk_sha256(fid[i], fx.p + offs[i], offs[i + 1] - offs[i]);
    snprintf(name, sizeof name, "fixture-%d", i);
    put("revision", name, fx.p + offs[i], offs[i + 1] - offs[i]);
  }

  fz_rng_reset("seed revisions");
  size_t k = 0;
  mo[k++] = mine.n; /* 0: record A gen 3, child of fixture [1] */
  fz_seal(&mine, fz_id[FZ_OFFICE], fz_record_a, "case", FZ_VAULT, fid[1], 3,
          "{\"case_number\":\"2024-017\",\"title\":\"Detention without charge\","
          "\"status\":\"hearing set\",\"hearing\":\"2024-06-01\"}");
  mo[k++] = mine.n; /* 1: a new record C */
  fz_seal(&mine, fz_id[FZ_OFFICE], fz_record_c, "appeal", FZ_VAULT, NULL, 1,
          "{\"title\":\"Appeal to the regional court\",\"court\":\"Osh\",\"n\":3,"
          "\"x\":1.5,\"flags\":[true,false,null],\"empty\":{},\"list\":[]}");
  mo[k++] = mine.n; /* 2: by the newcomer (not enrolled: author access) */
  fz_seal(&mine, fz_id[FZ_NEWCOMER], fz_record_c, "appeal", FZ_VAULT, NULL, 1,
          "{\"title\":\"from the newcomer\"}");
  mo[k++] = mine.n; /* 3: read-only vault */
  fz_seal(&mine, fz_id[FZ_OFFICE], fz_record_b, "case", FZ_VAULT_RO, NULL, 1,
          "{\"title\":\"archive\"}");
  mo[k++] = mine.n; /* 4: a parent the hub does not have */
  memset(pid, 0x42, sizeof pid);
  fz_seal(&mine, fz_id[FZ_OFFICE], fz_record_a, "case", FZ_VAULT, pid, 2,
          "{\"title\":\"orphan\"}");
  mo[k++] = mine.n; /* 5: a type the limits rule refuses */
  fz_seal(&mine, fz_id[FZ_OFFICE], fz_record_b, "note", FZ_VAULT, NULL, 1,
          "{\"title\":\"a note\"}");
  mo[k++] = mine.n; /* 6: a big, compressible testimony (zstd body) */
  {
    tk_buf_t big = TK_BUF_INIT;
    tk_buf_printf(&big,
                  "{\"witness_alias\":\"W-99\",\"consent\":\"written\",\"narrative\":\"");
    for (int i = 0; i < 200; i++)
      tk_buf_printf(&big, "The officers did not say why. ");
    tk_buf_printf(&big, "\",\"sensitivity\":\"high\"}");
    fz_seal(&mine, fz_id[FZ_OFFICE], fz_record_b, "testimony", FZ_VAULT, fid[2], 2,
            (const char *)big.p);
    tk_buf_free(&big);
  }
  mo[k++] = mine.n; /* 7: a tombstone of record C */
  fz_seal(&mine, fz_id[FZ_OFFICE], fz_record_c, "appeal", FZ_VAULT, NULL, 1,
          "{\"_deleted\":true}");
  mo[k++] = mine.n; /* 8: several parents and attachment refs */
  {
    tk_rev_draft_t d;
    tk_err_t e;
    uint8_t parents[2][32], attach[3][32];
    memcpy(parents[0], fid[0], 32);
    memcpy(parents[1], fid[1], 32);
    memset(attach, 0x61, sizeof attach);
    attach[1][0] = 0x62;
    attach[2][0] = 0x63;
    memset(&d, 0, sizeof d);
    memcpy(d.record_id, fz_record_a, 16);
    d.type = "case";
    d.vault = FZ_VAULT;
    d.hlc = 1700000009999ull;
    d.generation = 3;
    d.parents = &parents[0][0];
    d.nparents = 2;
    d.attach = &attach[0][0];
    d.nattach = 3;
    const char *body = "{\"title\":\"merged\",\"attachments\":[\"a\",\"b\",\"c\"]}";
    d.body = TK_SLICE(body, strlen(body));
    if (tk_rev_seal(&mine, &d, fz_vault_key, fz_id[FZ_OFFICE]->sec->sign_sk, &e) != 0)
      abort();
  }
  mo[k] = mine.n;
  for (size_t i = 0; i < k; i++) {
    r[i] = TK_SLICE(mine.p + mo[i], mo[i + 1] - mo[i]);
    snprintf(name, sizeof name, "rev-%zu", i);
    put("revision", name, r[i].p, r[i].n);
  }

  /* Session 1: a full push, pull, device query and grant round. */
  tk_slice_t push1[3] = {r[0], r[1], TK_SLICE(fx.p + offs[0], offs[1] - offs[0])};
  uint32_t all3[3] = {0, 1, 2};
  hello(&s, 0, fz_id[FZ_OFFICE], "hello");
  offer(&s, 0, push1, 3, "offer");
  revisions(&s, 0, push1, 2, "revisions");
  pull(&s, 0, "pull");
  need(&s, all3, 3, "need");
  device_query(&s, fz_id[FZ_OFFICE]->id, "device-query");
  grant_put(&s, 0, fz_id[FZ_OFFICE], fz_id[FZ_OFFICE], FZ_VAULT, "grant-put");
  simple(&s, TUNDUK__V1__FRAME__MSG_GRANT_QUERY, "grant-query");
  simple(&s, TUNDUK__V1__FRAME__MSG_BYE, "bye");
  put("hub_session", "push-pull-grant", s.p, s.n);

  /* Session 1b: the same in steps (protocol 3): push steps, a pull in
   * steps and its acks, one too many. */
  s.n = 0;
  hello(&s, 0, fz_id[FZ_OFFICE], NULL);
  simple(&s, TUNDUK__V1__FRAME__MSG_GRANT_QUERY, NULL);
  step(&s, 0, push1, 2, 0, 0);
  step(&s, 0, &push1[2], 1, 0, 0);
  pull_steps(&s, 0, 16384);
  hub_ack(&s, 3);
  hub_ack(&s, 0);
  hub_ack(&s, 0);
  simple(&s, TUNDUK__V1__FRAME__MSG_BYE, NULL);
  put("hub_session", "steps", s.p, s.n);

  /* Session 2: enrollment, then a push by the new device. */
  s.n = 0;
  fz_rng_reset("newcomer revision");
  tk_buf_t nc = TK_BUF_INIT;
  fz_seal(&nc, fz_id[FZ_NEWCOMER], fz_record_c, "case", FZ_VAULT, NULL, 1,
          "{\"title\":\"first record of a new office\"}");
  tk_slice_t push2[1] = {TK_SLICE(nc.p, nc.n)};
  hello(&s, 0, fz_id[FZ_NEWCOMER], NULL);
  enroll(&s, "enroll");
  offer(&s, 0, push2, 1, NULL);
  revisions(&s, 0, push2, 1, NULL);
  grant_put(&s, 0, fz_id[FZ_NEWCOMER], fz_id[FZ_OFFICE], FZ_VAULT, NULL);
  simple(&s, TUNDUK__V1__FRAME__MSG_BYE, NULL);
  put("hub_session", "enroll-push", s.p, s.n);
  tk_buf_free(&nc);

  /* Session 3: every kind of rejection in one batch, with the fix-up flags set
   * so mutations of it keep passing signature and hash checks. */
  s.n = 0;
  tk_slice_t bad[7] = {r[2], r[3], r[4], r[5], r[6], r[7], r[8]};
  hello(&s, 1, fz_id[FZ_OFFICE], NULL);
  offer(&s, 2, bad, 7, NULL);
  revisions(&s, 2, bad, 7, NULL);
  grant_put(&s, 4, fz_id[FZ_OFFICE], fz_id[FZ_REVOKED], FZ_VAULT, NULL);
  grant_put(&s, 4, fz_id[FZ_OFFICE], fz_id[FZ_OFFICE], FZ_VAULT_RO, NULL);
  pull(&s, 2, NULL);
  need(&s, all3, 1, NULL);
  put("hub_session", "rejections", s.p, s.n);

  /* Session 4: a revoked device; session 5: a protocol error. */
  s.n = 0;
  hello(&s, 0, fz_id[FZ_REVOKED], NULL);
  put("hub_session", "revoked", s.p, s.n);
  s.n = 0;
  hello(&s, 0, fz_id[FZ_OFFICE], NULL);
  need(&s, all3, 1, NULL);
  put("hub_session", "need-without-offer", s.p, s.n);

  tk_buf_free(&s);
  tk_buf_free(&mine);
  tk_buf_free(&fx);
}

/* Seed chunks: n random byte strings of the given sizes, their slices and
 * ids. */
static void seed_chunks(tk_buf_t *all, const size_t *sizes, size_t n, tk_slice_t *data,
                        uint8_t (*ids)[TK_HASH_LEN])
{
  size_t at[16];
  for (size_t i = 0; i < n; i++) {
    at[i] = all->n;
    if (tk_buf_reserve(all, sizes[i]) != 0) abort();
    randombytes_buf(all->p + all->n, sizes[i]);
    all->n += sizes[i];
  }
  for (size_t i = 0; i < n; i++) {
    data[i] = TK_SLICE(all->p + at[i], sizes[i]);
    tk_sha256(ids[i], data[i].p, data[i].n);
  }
}

/* A new record in FZ_VAULT by FZ_OFFICE naming refs[0..n). */
static void seal_refs(tk_buf_t *out, const char *record_id, const uint8_t (*refs)[32],
                      uint32_t n)
{
  fz_seal_refs(out, fz_id[FZ_OFFICE], (const uint8_t *)record_id, "case", FZ_VAULT, NULL,
               1, "{\"title\":\"with attachments\"}", refs ? &refs[0][0] : NULL, n);
}

static void chunk_sessions(void)
{
  tk_buf_t fc = TK_BUF_INIT, cb = TK_BUF_INIT, rv = TK_BUF_INIT, s = TK_BUF_INIT;
  size_t co[FZ_NCHUNKS + 1], ro[8];
  uint8_t fcid[FZ_NCHUNKS][TK_HASH_LEN], ids[16][TK_HASH_LEN], unknown[TK_HASH_LEN];
  tk_slice_t d[16], r[8];
  uint32_t sz[16], all3[3] = {0, 1, 2}, two[2] = {0, 2};
  fz_fixture_chunks(&fc, co);
  for (int i = 0; i < FZ_NCHUNKS; i++)
    tk_sha256(fcid[i], fc.p + co[i], co[i + 1] - co[i]);
  fz_rng_reset("seed chunks");
  /* 0..2: a good push; 3..6: a push with refusals; 7..8: out of order;
   * 9..19: for the limits (5 + 4 + 2). */
  static const size_t sizes[16] = {100, 2000, 5000, 64, 1500, 333, 4000, 10,
                                   20,  1,    2,    3,  4,    5,   6,    7};
  seed_chunks(&cb, sizes, 16, d, ids);
  memset(unknown, 0x5a, sizeof unknown);

  fz_rng_reset("seed chunk revisions");
  size_t k = 0;
  ro[k++] = rv.n; /* 0: names chunks 0..2 */
  seal_refs(&rv, "record-G-seed-07", (const uint8_t(*)[32])ids[0], 3);
  ro[k++] = rv.n; /* 1: names chunks 3..6 */
  seal_refs(&rv, "record-H-seed-08", (const uint8_t(*)[32])ids[3], 4);
  ro[k++] = rv.n; /* 2: names chunks 7, 8 */
  seal_refs(&rv, "record-I-seed-09", (const uint8_t(*)[32])ids[7], 2);
  ro[k++] = rv.n; /* 3: 5 new chunks: over max_attachment_mb = 1 */
  {
    uint8_t five[5][32];
    memcpy(five, ids[9], 4 * 32);
    memcpy(five[4], ids[15], 32);
    seal_refs(&rv, "record-J-seed-10", (const uint8_t(*)[32])five, 5);
  }
  ro[k++] = rv.n; /* 4: 4 new chunks (the vault then names 7) */
  seal_refs(&rv, "record-K-seed-11", (const uint8_t(*)[32])ids[9], 4);
  ro[k++] = rv.n; /* 5: 2 more: 9 over vault_quota_mb = 2 (8 chunks) */
  seal_refs(&rv, "record-L-seed-12", (const uint8_t(*)[32])ids[13], 2);
  ro[k] = rv.n;
  for (size_t i = 0; i < k; i++)
    r[i] = TK_SLICE(rv.p + ro[i], ro[i + 1] - ro[i]);
  for (size_t i = 0; i < 16; i++)
    sz[i] = (uint32_t)d[i].n;

  /* A good push: revision, offer, chunks, with the fix-up flags (bits 1, 3)
   * so that mutated chunk bytes still reach the store; then the same offer
   * again, which needs nothing. */
  hello(&s, 1, fz_id[FZ_OFFICE], NULL);
  offer(&s, 2, &r[0], 1, NULL);
  revisions(&s, 2 | 8, &r[0], 1, NULL);
  chunk_offer(&s, 8, (const uint8_t(*)[32])ids[0], 3, sz, 3, "offer-chunks");
  chunk(&s, 0, d[0], "chunk");
  chunk(&s, 1, d[1], NULL);
  chunk(&s, 2, d[2], NULL);
  chunk_offer(&s, 8, (const uint8_t(*)[32])ids[0], 3, sz, 3, NULL);
  simple(&s, TUNDUK__V1__FRAME__MSG_BYE, NULL);
  put("hub_session", "chunk-push", s.p, s.n);

  /* Refusals: a wrong size, wrong bytes, a duplicate id, chunks of the
   * read-only and the sealed vault, an unknown id, sizes 0 and past
   * TK_CHUNK_MAX (the hub needs 0..5; 6..9 are never asked for). */
  s.n = 0;
  {
    uint8_t oid[10][TK_HASH_LEN];
    uint32_t osz[10];
    uint8_t wrong[1500];
    memcpy(oid[0], ids[3], 32), osz[0] = sz[3];
    memcpy(oid[1], ids[4], 32), osz[1] = sz[4] + 1;
    memcpy(oid[2], ids[5], 32), osz[2] = sz[5];
    memcpy(oid[3], ids[6], 32), osz[3] = sz[6];
    memcpy(oid[4], ids[3], 32), osz[4] = sz[3];
    memcpy(oid[5], fcid[3], 32), osz[5] = (uint32_t)(co[4] - co[3]);
    memcpy(oid[6], fcid[4], 32), osz[6] = (uint32_t)(co[5] - co[4]);
    memcpy(oid[7], unknown, 32), osz[7] = 10;
    memcpy(oid[8], ids[7], 32), osz[8] = 0;
    memcpy(oid[9], ids[8], 32), osz[9] = TK_CHUNK_MAX + 1;
    memcpy(wrong, d[4].p, d[4].n);
    wrong[7] ^= 1;
    hello(&s, 1, fz_id[FZ_OFFICE], NULL);
    offer(&s, 2, &r[1], 2, NULL);
    revisions(&s, 2, &r[1], 2, NULL);
    chunk_offer(&s, 0, (const uint8_t(*)[32])oid, 10, osz, 10, NULL);
    chunk(&s, 0, d[3], NULL);
    chunk(&s, 1, d[4], NULL);                    /* one byte short */
    chunk(&s, 2, TK_SLICE(wrong, d[5].n), NULL); /* wrong bytes */
    chunk(&s, 3, d[6], NULL);
    chunk(&s, 4, d[3], NULL);                                  /* already stored */
    chunk(&s, 5, TK_SLICE(fc.p + co[3], co[4] - co[3]), NULL); /* the fixture's */
    chunk_offer(&s, 0, (const uint8_t(*)[32])ids[4], 2, sz + 4, 2, NULL);
    chunk(&s, 0, d[4], NULL);
    chunk(&s, 1, d[5], NULL);
    put("hub_session", "chunk-push-refused", s.p, s.n);
  }

  /* Chunks out of order: index 1 before 0. */
  s.n = 0;
  hello(&s, 0, fz_id[FZ_OFFICE], NULL);
  offer(&s, 0, &r[2], 1, NULL);
  revisions(&s, 0, &r[2], 1, NULL);
  chunk_offer(&s, 0, (const uint8_t(*)[32])ids[7], 2, sz + 7, 2, NULL);
  chunk(&s, 1, d[8], NULL);
  chunk(&s, 0, d[7], NULL);
  put("hub_session", "chunk-out-of-order", s.p, s.n);

  /* The attachment limits: revision 3 over max_attachment_mb, 4 accepted,
   * 5 over the vault's quota; then an offer of their chunks (only 4's are
   * needed). */
  s.n = 0;
  hello(&s, 1, fz_id[FZ_OFFICE], NULL);
  offer(&s, 2, &r[3], 3, NULL);
  revisions(&s, 2, &r[3], 3, NULL);
  chunk_offer(&s, 0, (const uint8_t(*)[32])ids[9], 7, sz + 9, 7, NULL);
  for (uint32_t i = 0; i < 4; i++)
    chunk(&s, i, d[9 + i], NULL);
  put("hub_session", "chunk-limits", s.p, s.n);

  /* A pull of chunks: the hub offers the fixture's 0, 1, 2 (5 is sealed),
   * sends two, then one per ack; the office refuses one; then the next
   * offer from upto is empty, and a revision pull follows. */
  s.n = 0;
  hello(&s, 1, fz_id[FZ_OFFICE], NULL);
  pull_feed(&s, 0, 1, "pull-chunks");
  need(&s, all3, 3, NULL);
  chunk_ack(&s, 0, 0, "chunk-ack");
  chunk_ack(&s, 1, TUNDUK__V1__REJECT_CODE__REJECT_HASH, "chunk-ack-refused");
  chunk_ack(&s, 2, 0, NULL);
  pull_feed(&s, 4, 1, NULL);
  pull(&s, 0, NULL);
  need(&s, all3, 1, NULL);
  simple(&s, TUNDUK__V1__FRAME__MSG_BYE, NULL);
  put("hub_session", "chunk-pull", s.p, s.n);

  /* Acks out of order on a pull. */
  s.n = 0;
  hello(&s, 0, fz_id[FZ_OFFICE], NULL);
  pull_feed(&s, 0, 1, NULL);
  need(&s, two, 2, NULL);
  chunk_ack(&s, 2, 0, NULL);
  chunk_ack(&s, 0, 0, NULL);
  put("hub_session", "chunk-ack-order", s.p, s.n);

  /* Out of turn: a chunk, an ack, an offer without one size per id. */
  s.n = 0;
  hello(&s, 0, fz_id[FZ_OFFICE], NULL);
  chunk(&s, 0, d[0], NULL);
  put("hub_session", "chunk-unasked", s.p, s.n);
  s.n = 0;
  hello(&s, 0, fz_id[FZ_OFFICE], NULL);
  chunk_ack(&s, 0, 0, NULL);
  put("hub_session", "chunk-ack-unasked", s.p, s.n);
  s.n = 0;
  hello(&s, 0, fz_id[FZ_OFFICE], NULL);
  chunk_offer(&s, 0, (const uint8_t(*)[32])ids[0], 3, sz, 2, NULL);
  put("hub_session", "chunk-offer-sizes", s.p, s.n);

  tk_buf_free(&s);
  tk_buf_free(&rv);
  tk_buf_free(&cb);
  tk_buf_free(&fc);
}

/* ---- text formats --------------------------------------------------------------------
 */

static void texts(void)
{
  tk_token_t t;
  char text[TK_TOKEN_MAX_TEXT];
  memset(&t, 0, sizeof t);
  memcpy(t.hub_id, fz_id[FZ_HUB]->id, 32);
  memcpy(t.token_id, fz_token_id, 16);
  memcpy(t.secret, fz_token_secret, 32);
  t.expires = 4102444800ull;
  static const char *const addrs[] = {"hub.example.org:7420", "[2001:db8::1]:7420",
                                      "10.0.0.1:0"};
  for (size_t i = 0; i < 3; i++) {
    char name[16];
    snprintf(t.addr, sizeof t.addr, "%s", addrs[i]);
    if (tk_token_format(&t, text, sizeof text) != 0) abort();
    snprintf(name, sizeof name, "token-%zu", i);
    put_str("token", name, text);
    put_str("addr", name, addrs[i]);
  }
  memset(t.addr, 'a', TK_TOKEN_MAX_ADDR);
  t.addr[TK_TOKEN_MAX_ADDR] = '\0';
  if (tk_token_format(&t, text, sizeof text) != 0) abort();
  put_str("token", "longest-addr", text);
  put_str("token", "spaces", "  tk1-AQ  \n");
  put_str("addr", "v6-any", "[::]:65535");
  put_str("addr", "no-port", "localhost:");
  put_str("addr", "bad-bracket", "[::1:7420");

  put_str("config", "template", tk_config_template());
  put_str("config", "custom",
          "# a hub in Osh\nlisten = [::]:7420\nlog_level=debug\n"
          "max_frame = 65536   # smallest\nmax_connections = 100000\n"
          "batch_bytes = 3145728\ntoken_ttl_hours = 8760\nplugins = /etc/tunduk/plugins\n"
          "handshake_timeout_ms = 100\nidle_timeout_ms = 86400000\n");
  put_str("config", "errors", "listen = 127.0.0.1:7420\nlisten = 1.2.3.4:1\n");
  put_str("config", "out-of-range", "max_frame = 99999999999999999999\n");

  put_str("body_json", "case",
          "{\"case_number\":\"2024-017\",\"title\":\"Detention without charge\","
          "\"proceeding\":\"criminal\",\"tags\":[\"detention\",\"appeal\"]}");
  put_str("body_json", "kinds",
          "{\"a\":[],\"b\":{},\"c\":null,\"d\":1,\"e\":1.5,\"f\":-0.0,\"g\":1e300,"
          "\"h\":[1,[2,[3,{\"i\":\"\\u00e9\\ud83d\\ude00\"}]]],\"j\":9223372036854775807,"
          "\"k\":true,\"title\":\"bad\"}");
  put_str("body_json", "tombstone", "{\"_deleted\":true}");
  put_str(
      "body_json", "testimony",
      "{\"witness_alias\":\"W-12\",\"consent\":\"written\",\"title\":\"\\u0416\\n\\t\","
      "\"narrative\":\"Two officers.\"}");
  put_str("body_json", "not-object", "[1,2,3]");
  /* attachments: an empty file, one of two chunks, a repeated name; errors */
  {
    const char *h = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    tk_buf_t a = TK_BUF_INIT;
    tk_buf_printf(&a,
                  "{\"title\":\"appeal\",\"" TK_ATTACH_FIELD "\":["
                  "{\"name\":\"empty.txt\",\"size\":0,\"sha256\":\"%s\",\"key\":\"%s\","
                  "\"chunks\":[]},"
                  "{\"name\":\"scan \u0416.pdf\",\"size\":262145,\"sha256\":\"%s\","
                  "\"key\":\"%s\",\"chunks\":[\"%s\",\"%s\"]},"
                  "{\"name\":\"empty.txt\",\"size\":1,\"sha256\":\"%s\",\"key\":\"%s\","
                  "\"chunks\":[\"%s\"]}]}",
                  h, h, h, h, h, h, h, h, h);
    put("body_json", "attachments", a.p, a.n);
    a.n = 0;
    tk_buf_printf(&a,
                  "{\"" TK_ATTACH_FIELD "\":[{\"name\":\"a/b\",\"size\":-1,"
                  "\"sha256\":\"zz\",\"key\":1,\"chunks\":{}},"
                  "{\"name\":\"x\",\"size\":9223372036854775807,\"sha256\":\"%s\","
                  "\"key\":\"%s\",\"chunks\":[\"%s\"]}]}",
                  h, h, h);
    put("body_json", "attachments-bad", a.p, a.n);
    put_str("body_json", "attachments-not-list", "{\"" TK_ATTACH_FIELD "\":{\"a\":1}}");
    tk_buf_free(&a);
  }
  tk_buf_t deep = TK_BUF_INIT;
  for (int i = 0; i < TK_MAX_JSON_DEPTH - 1; i++)
    tk_buf_printf(&deep, "{\"a\":");
  tk_buf_printf(&deep, "1");
  for (int i = 0; i < TK_MAX_JSON_DEPTH - 1; i++)
    tk_buf_printf(&deep, "}");
  put("body_json", "deep", deep.p, deep.n);
  tk_buf_free(&deep);
}

/* ---- client_session: a hub's side of an office's sync ------------------------------ */

/* The hub's Hello as the office sees it: FZ_VAULT writable, FZ_VAULT_RO
 * readable, enrolled; then an empty Log. */
static void hub_hello(tk_buf_t *session, int flags, const tk_identity_t *id)
{
  Tunduk__V1__Identity ident;
  uint8_t kx_sig[TK_SIG_LEN];
  if (tk_wire_identity(&ident, id, kx_sig) != 0) abort();
  Tunduk__V1__VaultAccess va[2] = {TUNDUK__V1__VAULT_ACCESS__INIT,
                                   TUNDUK__V1__VAULT_ACCESS__INIT};
  Tunduk__V1__VaultAccess *vp[2] = {&va[0], &va[1]};
  va[0].vault = FZ_VAULT;
  va[0].write = 1;
  va[1].vault = FZ_VAULT_RO;
  Tunduk__V1__Hello m = TUNDUK__V1__HELLO__INIT;
  m.protocol_min = m.protocol_max = TK_PROTOCOL_VERSION;
  m.identity = &ident;
  m.software = TK_SOFTWARE;
  m.enrolled = 1;
  m.n_access = 2;
  m.access = vp;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_HELLO;
  f.hello = &m;
  record(session, flags, &f, NULL);
  /* the answer to the office's LogQuery: nothing new (its logs are current) */
  Tunduk__V1__Log log = TUNDUK__V1__LOG__INIT;
  tk_frame_t lf = TUNDUK__V1__FRAME__INIT;
  lf.msg_case = TUNDUK__V1__FRAME__MSG_LOG;
  lf.log = &log;
  record(session, 0, &lf, NULL);
}

/* A Grants answer: grants of the vault "granted" under a key no revision
 * uses, to each of to[0..n) (NULL: none), the last with a broken signature
 * if bad. */
static void hub_grants(tk_buf_t *session, const tk_identity_t **to, size_t n, int bad)
{
  Tunduk__V1__SignedGrant sg[4], *gp[4];
  tk_buf_t body[4];
  uint8_t sig[4][TK_SIG_LEN], key[TK_VAULT_KEY_LEN];
  crypto_generichash(key, sizeof key, (const uint8_t *)"fuzz granted key", 16, NULL, 0);
  if (n > 4) abort();
  for (size_t i = 0; i < n; i++) {
    tk_grant_t g;
    memset(&g, 0, sizeof g);
    snprintf(g.vault, sizeof g.vault, "granted");
    tk_vault_key_id(g.key_id, key);
    memcpy(g.recipient, to[i]->id, 32);
    if (tk_vault_key_seal(g.sealed, key, to[i]->kx_pk) != 0) abort();
    g.created_ms = 1700000000456ull;
    body[i] = (tk_buf_t)TK_BUF_INIT;
    if (tk_grant_sign(&g, fz_id[FZ_NEWCOMER], &body[i], sig[i]) != 0) abort();
    if (bad && i == n - 1) sig[i][0] ^= 1;
    sg[i] = (Tunduk__V1__SignedGrant)TUNDUK__V1__SIGNED_GRANT__INIT;
    sg[i].body = tk_pb_bytes(body[i].p, body[i].n);
    sg[i].sig = tk_pb_bytes(sig[i], TK_SIG_LEN);
    gp[i] = &sg[i];
  }
  Tunduk__V1__Grants m = TUNDUK__V1__GRANTS__INIT;
  m.n_grants = n;
  m.grants = gp;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_GRANTS;
  f.grants = &m;
  record(session, n ? 4 : 0, &f, NULL);
  for (size_t i = 0; i < n; i++)
    tk_buf_free(&body[i]);
}

static void hub_offer(tk_buf_t *session, int flags, tk_slice_t *revs, size_t n,
                      uint64_t upto, int more)
{
  ProtobufCBinaryData ids[16];
  uint8_t idb[16][TK_REV_ID_LEN];
  for (size_t i = 0; i < n; i++) {
    tk_sha256(idb[i], revs[i].p, revs[i].n);
    ids[i] = tk_pb_bytes(idb[i], TK_REV_ID_LEN);
  }
  Tunduk__V1__Offer o = TUNDUK__V1__OFFER__INIT;
  o.n_ids = n;
  o.ids = ids;
  o.upto = upto;
  o.more = more;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_OFFER;
  f.offer = &o;
  record(session, flags, &f, NULL);
}

static void hub_ack(tk_buf_t *session, uint32_t accepted)
{
  Tunduk__V1__Ack m = TUNDUK__V1__ACK__INIT;
  m.accepted = accepted;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_ACK;
  f.ack = &m;
  record(session, 0, &f, NULL);
}

static void hub_error(tk_buf_t *session, int code)
{
  Tunduk__V1__Error m = TUNDUK__V1__ERROR__INIT;
  m.code = (Tunduk__V1__ErrorCode)code;
  m.message = "the hub is stopping";
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_ERROR;
  f.error = &m;
  record(session, 0, &f, NULL);
}

/* The office (client_session's fixture) holds revisions 0, 2, 3 and chunks
 * 0, 1; it offers them, and takes revisions 1, 4, 5 and chunks 2, 5. */
static void client_sessions(void)
{
  tk_buf_t all = TK_BUF_INIT, ch = TK_BUF_INIT, s = TK_BUF_INIT;
  size_t offs[FZ_NREVS + 1], co[FZ_NCHUNKS + 1];
  tk_slice_t r[FZ_NREVS], c[FZ_NCHUNKS];
  uint8_t cid[FZ_NCHUNKS][TK_HASH_LEN];
  uint32_t none[1] = {0}, all3[3] = {0, 1, 2}, two[2] = {0, 1};
  const tk_identity_t *office = fz_id[FZ_OFFICE], *to2[2];
  fz_fixture_revs(&all, offs);
  for (int i = 0; i < FZ_NREVS; i++)
    r[i] = TK_SLICE(all.p + offs[i], offs[i + 1] - offs[i]);
  fz_fixture_chunks(&ch, co);
  for (int i = 0; i < FZ_NCHUNKS; i++) {
    c[i] = TK_SLICE(ch.p + co[i], co[i + 1] - co[i]);
    tk_sha256(cid[i], c[i].p, c[i].n);
  }
  fz_rng_reset("client sessions");

  /* hello, a grant, nothing to push or pull */
  hub_hello(&s, 1, fz_id[FZ_HUB]);
  hub_grants(&s, &office, 1, 0);
  need(&s, none, 0, NULL);
  hub_offer(&s, 0, NULL, 0, 0, 0);
  need(&s, none, 0, NULL);
  chunk_offer(&s, 0, NULL, 0, NULL, 0, NULL);
  put("client_session", "empty", s.p, s.n);
  s.n = 0;

  /* push all three, pull 1, 4, 5 with their chunks, push chunks 0 and 1 */
  tk_slice_t pulled[3] = {r[1], r[4], r[5]};
  hub_hello(&s, 1, fz_id[FZ_HUB]);
  hub_grants(&s, NULL, 0, 0);
  need(&s, all3, 3, NULL);
  hub_ack(&s, 3);
  hub_offer(&s, 0, pulled, 3, 6, 0);
  revisions(&s, 2, pulled, 3, NULL);
  need(&s, two, 2, NULL);
  chunk_ack(&s, 0, 0, NULL);
  chunk_ack(&s, 1, 0, NULL);
  {
    uint8_t ids[2][TK_HASH_LEN];
    uint32_t sizes[2] = {(uint32_t)c[2].n, (uint32_t)c[5].n};
    memcpy(ids[0], cid[2], TK_HASH_LEN);
    memcpy(ids[1], cid[5], TK_HASH_LEN);
    chunk_offer(&s, 0, (const uint8_t(*)[TK_HASH_LEN])ids, 2, sizes, 2, NULL);
    chunk(&s, 0, c[2], NULL);
    chunk(&s, 1, c[5], NULL);
  }
  put("client_session", "push-pull", s.p, s.n);
  s.n = 0;

  /* protocol 3: push steps acked, a pull in two steps (the second the
   * last), then the chunk phase's empty offer */
  hub_hello(&s, 1, fz_id[FZ_HUB]);
  hub_grants(&s, NULL, 0, 0);
  hub_ack(&s, 3);
  step(&s, 2, &r[1], 1, 3, 1);
  step(&s, 2, &r[4], 2, 6, 0);
  need(&s, none, 0, NULL);
  chunk_offer(&s, 0, NULL, 0, NULL, 0, NULL);
  put("client_session", "steps", s.p, s.n);
  s.n = 0;

  /* a pull in two batches (more), a chunk offer with a missing chunk, a
   * garbage id and a wrong size; chunks out of order, wrong bytes, garbage */
  hub_hello(&s, 1, fz_id[FZ_HUB]);
  to2[0] = fz_id[FZ_NEWCOMER];
  to2[1] = office;
  hub_grants(&s, to2, 2, 1);
  need(&s, none, 0, NULL);
  hub_offer(&s, 0, &r[1], 1, 3, 1);
  revisions(&s, 2, &r[1], 1, NULL);
  hub_offer(&s, 0, &r[4], 1, 5, 0);
  revisions(&s, 2, &r[4], 1, NULL);
  need(&s, none, 0, NULL);
  {
    uint8_t ids[4][TK_HASH_LEN];
    uint32_t sizes[4] = {(uint32_t)c[2].n, (uint32_t)c[4].n, 99, 5};
    memcpy(ids[0], cid[2], TK_HASH_LEN);
    memcpy(ids[1], cid[4], TK_HASH_LEN);
    memset(ids[2], 0xab, TK_HASH_LEN);
    memcpy(ids[3], cid[0], TK_HASH_LEN);
    chunk_offer(&s, 0, (const uint8_t(*)[TK_HASH_LEN])ids, 4, sizes, 4, NULL);
    chunk(&s, 1, c[4], NULL);
    chunk(&s, 0, c[3], NULL);
    chunk(&s, 0, c[2], NULL);
    chunk(&s, 7, c[2], NULL);
  }
  tk_buf_append_u8(&s, 0);
  tk_buf_append_u16be(&s, 3);
  tk_buf_append(&s, "\xff\xff\xff", 3);
  put("client_session", "chunks-garbage", s.p, s.n);
  s.n = 0;

  /* a chunk pull offered with bit 3: the revision's refs become the hashes */
  hub_hello(&s, 1, fz_id[FZ_HUB]);
  hub_grants(&s, NULL, 0, 0);
  need(&s, none, 0, NULL);
  hub_offer(&s, 0, &r[4], 1, 5, 0);
  revisions(&s, 8 | 2, &r[4], 1, NULL); /* refs: the two Chunk records below */
  need(&s, none, 0, NULL);
  {
    uint8_t ids[2][TK_HASH_LEN];
    uint32_t sizes[2] = {1, 1};
    memset(ids, 0, sizeof ids);
    chunk_offer(&s, 8, (const uint8_t(*)[TK_HASH_LEN])ids, 2, sizes, 2, NULL);
    chunk(&s, 0, c[3], NULL);
    chunk(&s, 1, c[1], NULL);
  }
  put("client_session", "chunks-fixed", s.p, s.n);
  s.n = 0;

  /* the wrong hub, a hub error, a frame out of turn */
  hub_hello(&s, 1, fz_id[FZ_NEWCOMER]);
  put("client_session", "wrong-hub", s.p, s.n);
  s.n = 0;
  hub_hello(&s, 1, fz_id[FZ_HUB]);
  hub_error(&s, TUNDUK__V1__ERROR_CODE__ERROR_SHUTDOWN);
  put("client_session", "error", s.p, s.n);
  s.n = 0;
  hub_hello(&s, 1, fz_id[FZ_HUB]);
  hub_ack(&s, 1);
  put("client_session", "out-of-turn", s.p, s.n);
  tk_buf_free(&s);
  tk_buf_free(&all);
  tk_buf_free(&ch);
}

int main(int argc, char **argv)
{
  if (argc != 2) {
    fprintf(stderr, "usage: make_seeds CORPUS_DIR (tests/fuzz/corpus)\n");
    return 2;
  }
  root = argv[1];
  if (mkdir(root, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "make_seeds: cannot create %s: %s\n", root, strerror(errno));
    return 1;
  }
  fz_init();
  sessions_and_revisions();
  chunk_sessions();
  answers();
  texts();
  client_sessions();
  return 0;
}
