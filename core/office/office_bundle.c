/*
 * office_bundle.c: bundles at an office (tk_office.h, "bundles"; the file
 * itself: tk_bundle.h). Creating one runs the sending half of a sync into
 * a file transport: the membership logs (Log), the grants addressed to the
 * recipient (Grants), the revisions after the recipient's push checkpoint
 * as pull steps (Revisions{step, upto}: the recipient stores each with its
 * checkpoint), the attachment chunks after its chunk checkpoint (Offer
 * {chunks}, then one Chunk per chunk), Bye. Applying one hands each frame
 * to the same calls a pull uses (tk_office_log_take, tk_office_grant_take,
 * tk__client_store_pulled with its membership check and moderation,
 * tk_chunk_recv_store), with the sender standing where the hub stands in
 * a live sync. An acknowledgement bundle is Pull{since} for revisions and
 * Pull{chunks, since} for chunks: the checkpoints the recipient holds for
 * the sender, which the sender then takes as its own for the recipient.
 *
 * The caller's thread (the office's), one call at a time.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "office_internal.h"
#include "sync_client_internal.h"
#include "tk_bundle.h"
#include "tk_meta.h"
#include "tk_plugin.h"

#define STEP_BYTES (1u << 20)

/* What a bundle leaves out: another vault than those asked for, a vault
 * the recipient has no part in (an office: not a member by this office's
 * log of it; the hub: not one it lets this office write, by its last
 * Hello), and what came from the recipient itself or that it wrote (as a
 * hub's pull leaves out what the office pushed; --all sends those too). */
typedef struct rcpt {
  tk_office_t *o;
  const tk_office_bundle_opts_t *opts;
  const uint8_t *to;
  int hub;
  char access[512]; /* the hub's, "vault:rw,vault2:r" */
} rcpt_t;

static int vault_wanted(const rcpt_t *r, const char *vault)
{
  int asked = r->opts->nvaults == 0;
  for (size_t i = 0; i < r->opts->nvaults && !asked; i++)
    asked = strcmp(r->opts->vaults[i], vault) == 0;
  if (!asked) return 0;
  if (r->hub) return tk__client_may_write(r->access, vault);
  const tk_member_log_t *l = NULL;
  if (tk_office_log(r->o, vault, &l, NULL) != 0 || !l || l->n == 0) return 0;
  const tk_member_t *m = tk_member_find(l, r->to);
  return m && m->active;
}

static int rev_filter(void *ctx, const tk_rev_meta_t *m)
{
  const rcpt_t *r = ctx;
  if (!r->opts->all) {
    if (m->has_origin && tk_ct_equal(m->origin, r->to, TK_DEVICE_ID_LEN)) return 0;
    if (tk_ct_equal(m->author, r->to, TK_DEVICE_ID_LEN)) return 0; /* it wrote it */
  }
  return vault_wanted(r, m->vault);
}

static int chunk_vault(void *ctx, const char *vault)
{
  int *hit = ((int **)ctx)[0];
  const rcpt_t *r = ((const rcpt_t **)ctx)[1];
  if (vault_wanted(r, vault)) {
    *hit = 1;
    return 1;
  }
  return 0;
}

/* ---- create -------------------------------------------------------------------- */

typedef struct creator {
  tk_office_t *o;
  const tk_office_bundle_opts_t *opts;
  tk_office_bundle_result_t *r;
  const uint8_t *to;
  rcpt_t rcpt;
  tk_transport_t *t;
  tk_signed_list_t list;
  tk_chunk_meta_t *chunks;
  size_t nchunks;
  tk_err_t *err;
} creator_t;

static int add_entry(void *ctx, tk_slice_t body, tk_slice_t sig)
{
  creator_t *c = ctx;
  return tk_signed_list_add(&c->list, body, sig);
}

static int send_log(creator_t *c, const char *vault)
{
  tk_signed_list_free(&c->list);
  memset(&c->list, 0, sizeof c->list);
  int rc = tk_store_log_each(c->o->store, vault, 0, add_entry, c, c->err);
  if (rc || c->list.n == 0) return rc;
  if (c->list.n > TK_MAX_LOG_ENTRIES)
    return tk_err_set(c->err, TK_ELIMIT, "vault %s: a log of more than %u entries", vault,
                      TK_MAX_LOG_ENTRIES);
  /* the members' identities as this office checked them, so that the
   * recipient knows their keys (an entry names only the signing key) */
  const tk_member_log_t *l = NULL;
  size_t nm = 0;
  if (tk_office_log(c->o, vault, &l, NULL) == 0 && l) nm = l->nmembers;
  Tunduk__V1__VaultEntry *e = calloc(c->list.n, sizeof *e);
  Tunduk__V1__VaultEntry **ep = calloc(c->list.n, sizeof *ep);
  Tunduk__V1__Identity *im = calloc(nm + 1, sizeof *im);
  Tunduk__V1__Identity **ip = calloc(nm + 1, sizeof *ip);
  tk_device_info_t *d = calloc(nm + 1, sizeof *d);
  if (!e || !ep || !im || !ip || !d) {
    rc = tk_err_set(c->err, TK_ENOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < c->list.n; i++) {
    tunduk__v1__vault_entry__init(&e[i]);
    e[i].body = tk_signed_list_get(&c->list, i, 0);
    e[i].sig = tk_signed_list_get(&c->list, i, 1);
    ep[i] = &e[i];
  }
  size_t ni = 0;
  for (size_t i = 0; i < nm; i++) {
    if (tk_store_device_get(c->o->store, l->members[i].id, &d[ni], NULL) != 0 ||
        !d[ni].has_kx_sig)
      continue;
    tunduk__v1__identity__init(&im[ni]);
    im[ni].device_id = tk_pb_bytes(d[ni].id, TK_DEVICE_ID_LEN);
    im[ni].sign_pk = tk_pb_bytes(d[ni].sign_pk, TK_SIGN_PK_LEN);
    im[ni].kx_pk = tk_pb_bytes(d[ni].kx_pk, TK_KX_PK_LEN);
    im[ni].kx_sig = tk_pb_bytes(d[ni].kx_sig, TK_SIG_LEN);
    im[ni].name = d[ni].name;
    ip[ni] = &im[ni];
    ni++;
  }
  Tunduk__V1__Log m = TUNDUK__V1__LOG__INIT;
  m.n_entries = c->list.n;
  m.entries = ep;
  m.n_members = ni;
  m.members = ip;
  rc = tk_sync_send_msg(c->t, TUNDUK__V1__FRAME__MSG_LOG, &m);
  if (!rc) c->r->log_entries += c->list.n;
done:
  free(e);
  free(ep);
  free(im);
  free(ip);
  free(d);
  return rc;
}

static int log_vault(void *ctx, const char *vault)
{
  creator_t *c = ctx;
  return vault_wanted(&c->rcpt, vault) ? send_log(c, vault) : 0;
}

static int add_grant(void *ctx, tk_slice_t body, tk_slice_t sig)
{
  creator_t *c = ctx;
  return tk_signed_list_add(&c->list, body, sig);
}

static int send_grants(creator_t *c, const uint8_t to[TK_DEVICE_ID_LEN])
{
  tk_signed_list_free(&c->list);
  memset(&c->list, 0, sizeof c->list);
  int rc = tk_store_grants_for(c->o->store, to, TK_MAX_GRANTS, add_grant, c, c->err);
  if (rc || c->list.n == 0) return rc;
  Tunduk__V1__SignedGrant *g = calloc(c->list.n, sizeof *g);
  Tunduk__V1__SignedGrant **gp = calloc(c->list.n, sizeof *gp);
  if (!g || !gp) rc = tk_err_set(c->err, TK_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < c->list.n; i++) {
    tunduk__v1__signed_grant__init(&g[i]);
    g[i].body = tk_signed_list_get(&c->list, i, 0);
    g[i].sig = tk_signed_list_get(&c->list, i, 1);
    gp[i] = &g[i];
  }
  Tunduk__V1__Grants m = TUNDUK__V1__GRANTS__INIT;
  m.n_grants = c->list.n;
  m.grants = gp;
  if (!rc) rc = tk_sync_send_msg(c->t, TUNDUK__V1__FRAME__MSG_GRANTS, &m);
  if (!rc) c->r->grants += c->list.n;
  free(g);
  free(gp);
  return rc;
}

static int send_revisions(creator_t *c, uint64_t since)
{
  tk_step_t st;
  memset(&st, 0, sizeof st);
  int rc = 0;
  for (;;) {
    rc = tk_step_build(&st, c->o->store, since, STEP_BYTES, rev_filter, &c->rcpt, c->err);
    if (rc) break;
    /* a step is sent even when empty: its upto moves the checkpoint */
    rc = tk_step_send(c->t, &st, 1, 0);
    if (rc) {
      tk_err_set(c->err, rc, "cannot write revisions into the bundle");
      break;
    }
    c->r->revisions += st.batch.n;
    since = st.batch.upto;
    if (!st.batch.more) break;
  }
  tk_step_free(&st);
  return rc;
}

static int collect_chunk(void *ctx, const tk_chunk_meta_t *m)
{
  creator_t *c = ctx;
  c->chunks[c->nchunks++] = *m;
  return 0;
}

static int send_chunks(creator_t *c, uint64_t since)
{
  int rc = 0;
  tk_buf_t data = TK_BUF_INIT;
  uint8_t(*ids)[TK_HASH_LEN] = malloc(TK_MAX_CHUNK_OFFER * sizeof *ids);
  ProtobufCBinaryData *idp = malloc(TK_MAX_CHUNK_OFFER * sizeof *idp);
  uint32_t *sizes = malloc(TK_MAX_CHUNK_OFFER * sizeof *sizes);
  size_t *which = malloc(TK_MAX_CHUNK_OFFER * sizeof *which);
  c->chunks = malloc(TK_MAX_CHUNK_OFFER * sizeof *c->chunks);
  if (!ids || !idp || !sizes || !which || !c->chunks) {
    rc = tk_err_set(c->err, TK_ENOMEM, "out of memory");
    goto done;
  }
  for (;;) {
    c->nchunks = 0;
    rc = tk_store_chunks_after(c->o->store, since, TK_MAX_CHUNK_OFFER, collect_chunk, c,
                               c->err);
    if (rc || c->nchunks == 0) break;
    size_t n = 0;
    for (size_t i = 0; i < c->nchunks; i++) {
      int hit = 0;
      void *arg[2] = {&hit, &c->rcpt};
      if (c->chunks[i].has_origin &&
          tk_ct_equal(c->chunks[i].origin, c->to, TK_DEVICE_ID_LEN))
        continue;
      rc = tk_store_chunk_vaults(c->o->store, c->chunks[i].id, chunk_vault, arg, c->err);
      if (rc < 0) goto done;
      rc = 0;
      if (!hit) continue;
      memcpy(ids[n], c->chunks[i].id, TK_HASH_LEN);
      idp[n] = tk_pb_bytes(ids[n], TK_HASH_LEN);
      sizes[n] = c->chunks[i].size;
      which[n++] = i;
    }
    since = c->chunks[c->nchunks - 1].seq;
    int more = c->nchunks == TK_MAX_CHUNK_OFFER;
    Tunduk__V1__Offer of = TUNDUK__V1__OFFER__INIT;
    of.chunks = 1;
    of.n_ids = n;
    of.ids = idp;
    of.n_sizes = n;
    of.sizes = sizes;
    of.upto = since;
    of.more = more;
    rc = tk_sync_send_msg(c->t, TUNDUK__V1__FRAME__MSG_OFFER, &of);
    for (size_t i = 0; !rc && i < n; i++) {
      data.n = 0;
      rc = tk_store_chunk_get(c->o->store, ids[i], &data, c->err);
      if (rc) goto done;
      Tunduk__V1__Chunk ch = TUNDUK__V1__CHUNK__INIT;
      ch.index = (uint32_t)i;
      ch.data = tk_pb_bytes(data.p, data.n);
      rc = tk_sync_send_msg(c->t, TUNDUK__V1__FRAME__MSG_CHUNK, &ch);
      c->r->chunks++;
      c->r->chunk_bytes += data.n;
    }
    if (rc) {
      tk_err_set(c->err, rc, "cannot write chunks into the bundle");
      break;
    }
    if (!more) break;
  }
done:
  tk_buf_free(&data);
  free(ids);
  free(idp);
  free(sizes);
  free(which);
  free(c->chunks);
  c->chunks = NULL;
  return rc;
}

/* The recipient's checked keys (its kx key bound by its signing key). */
static int recipient_keys(tk_office_t *o, const char *to, uint8_t id[TK_DEVICE_ID_LEN],
                          tk_device_info_t *d, int *is_hub, tk_err_t *err)
{
  *is_hub = 0;
  char hub[TK_DEVICE_ID_STRLEN];
  if (!to) {
    if (tk_store_meta_get(o->store, TK_META_HUB_ID, hub, sizeof hub, NULL) != 0 ||
        !hub[0])
      return tk_err_set(err, TK_EINVAL,
                        "this office is enrolled at no hub: name the recipient (--for)");
    to = hub;
  }
  if (tk_device_id_parse(id, to) != 0)
    return tk_err_set(err, TK_EINVAL, "'%s' is not a device id", to);
  /* the hub this office is pinned to: its keys as its last Hello proved them */
  char pinned[TK_DEVICE_ID_STRLEN], spk[2 * TK_SIGN_PK_LEN + 1], kx[2 * TK_KX_PK_LEN + 1];
  uint8_t pid[TK_DEVICE_ID_LEN];
  if (tk_store_meta_get(o->store, TK_META_HUB_ID, pinned, sizeof pinned, NULL) == 0 &&
      tk_device_id_parse(pid, pinned) == 0 && tk_ct_equal(pid, id, TK_DEVICE_ID_LEN)) {
    memset(d, 0, sizeof *d);
    memcpy(d->id, id, TK_DEVICE_ID_LEN);
    if (tk_store_meta_get(o->store, TK_META_HUB_SIGN_PK, spk, sizeof spk, NULL) != 0 ||
        tk_store_meta_get(o->store, TK_META_HUB_KX_PK, kx, sizeof kx, NULL) != 0 ||
        tk_hex_decode(d->sign_pk, TK_SIGN_PK_LEN, spk) != 0 ||
        tk_hex_decode(d->kx_pk, TK_KX_PK_LEN, kx) != 0)
      return tk_err_set(err, TK_ENOTFOUND,
                        "the hub's sealing key is not known here yet: sync with it once");
    *is_hub = 1;
    return 0;
  }
  if (tk_store_device_get(o->store, id, d, NULL) != 0 || !d->has_kx_sig ||
      tk_kx_verify(d->sign_pk, d->kx_pk, d->kx_sig) != 0)
    return tk_err_set(err, TK_ENOTFOUND,
                      "device %s is not known here with a checked key (a member of a "
                      "vault this office holds, learned at a sync)",
                      to);
  return 0;
}

int tk_office_bundle_create(tk_office_t *o, const tk_office_bundle_opts_t *opts,
                            tk_office_bundle_result_t *r, tk_err_t *err)
{
  uint8_t to[TK_DEVICE_ID_LEN];
  tk_device_info_t d;
  tk_bundle_writer_t w;
  uint64_t since = 0, csince = 0;
  memset(r, 0, sizeof *r);
  int rc = tk_office_need_keys(o, err);
  int is_hub = 0;
  if (!rc) rc = recipient_keys(o, opts->to, to, &d, &is_hub, err);
  if (rc) return rc;
  tk_device_id_format(r->peer, to);
  if (!opts->all) {
    rc = tk_store_checkpoint_get(o->store, to, TK_DIR_PUSH, &since, err);
    if (!rc) rc = tk_store_checkpoint_get(o->store, to, TK_DIR_CHUNK_PUSH, &csince, err);
    if (rc) return rc;
  }
  rc = tk_bundle_writer_open(&w, opts->out, to, d.kx_pk, o->id, err);
  if (rc) return rc;
  creator_t c;
  memset(&c, 0, sizeof c);
  c.o = o;
  c.opts = opts;
  c.r = r;
  c.to = to;
  c.rcpt.o = o;
  c.rcpt.opts = opts;
  c.rcpt.to = to;
  c.rcpt.hub = is_hub;
  if (is_hub && tk_store_meta_get(o->store, TK_META_HUB_ACCESS, c.rcpt.access,
                                  sizeof c.rcpt.access, NULL) != 0)
    c.rcpt.access[0] = '\0';
  c.t = tk_bundle_writer_transport(&w);
  c.err = err;
  rc = tk_store_log_vaults(o->store, log_vault, &c, err);
  if (!rc) rc = send_grants(&c, to);
  if (!rc) rc = send_revisions(&c, since);
  if (!rc) rc = send_chunks(&c, csince);
  tk_signed_list_free(&c.list);
  if (!rc) {
    Tunduk__V1__Bye bye = TUNDUK__V1__BYE__INIT;
    rc = tk_sync_send_msg(c.t, TUNDUK__V1__FRAME__MSG_BYE, &bye);
  }
  if (rc) {
    if (w.err.msg[0]) *err = w.err;
    tk_bundle_writer_abort(&w);
    return rc;
  }
  r->frames = w.frames;
  r->plain_bytes = w.plain_bytes;
  rc = tk_bundle_writer_close(&w, err);
  if (!rc) r->file_bytes = w.file_bytes;
  return rc;
}

/* ---- apply --------------------------------------------------------------------- */

typedef struct applier {
  tk_office_t *o;
  client_t c; /* the pull's policy, with the sender where the hub stands */
  tk_client_opts_t co;
  tk_client_stats_t st;
  tk_office_bundle_result_t *r;
  tk_err_t *err;
  const char *path;
  tk_bundle_offer_t offer; /* the last chunk Offer */
  int bye;
} applier_t;

static int take_log(applier_t *a, const Tunduk__V1__Log *m)
{
  if (m->n_entries > TK_MAX_LOG_ENTRIES || m->n_members > TK_MAX_GRANTS)
    return tk_err_set(a->err, TK_ELIMIT, "%s: a Log past its limits", a->path);
  uint32_t taken = 0, refused = 0;
  int rc = tk__office_log_msg_take(a->o, m, &taken, &refused, a->err);
  if (rc) return rc;
  a->r->log_entries += m->n_entries;
  a->r->log_taken += taken;
  /* members' identities, each checked; one already known is left as it is */
  return tk__office_identities_keep(a->o, m, 0, a->err);
}

static int take_chunk(applier_t *a, const Tunduk__V1__Chunk *m)
{
  if (m->index >= a->offer.n || m->data.len != a->offer.sizes[m->index])
    return tk_err_set(a->err, TK_EPROTO, "%s: a chunk not offered before it", a->path);
  const uint8_t *id = a->offer.ids[m->index];
  uint8_t h[TK_HASH_LEN];
  crypto_hash_sha256(h, m->data.data, m->data.len);
  if (!tk_ct_equal(h, id, TK_HASH_LEN))
    return tk_err_set(a->err, TK_EHASH, "%s: a chunk does not hash to its id", a->path);
  int ok = tk__client_chunk_pull_accept(&a->c, id, (uint32_t)m->data.len);
  if (ok < 0) return tk_err_set(a->err, ok, "reading the store failed");
  if (!ok) { /* no revision here names it (yet): not kept, as a pull does */
    a->st.chunks_refused++;
    return 0;
  }
  int stored = 0, code = 0;
  char reason[200];
  int rc = tk_chunk_recv_store(a->o->store, id, tk_pb_slice(m->data), a->c.hub.id,
                               &stored, &code, reason, sizeof reason, a->err);
  if (rc) return rc;
  if (stored) {
    a->r->chunks_stored++;
    a->r->chunk_bytes += m->data.len;
  }
  return 0;
}

static int apply_frame(void *ctx, uint64_t offset, tk_slice_t payload)
{
  applier_t *a = ctx;
  int rc = 0;
  tk_frame_t *f = tk_bundle_frame(a->path, offset, payload, a->bye, a->err);
  if (!f) return a->err->code;
  switch (f->msg_case) {
  case TUNDUK__V1__FRAME__MSG_LOG:
    rc = take_log(a, f->log);
    break;
  case TUNDUK__V1__FRAME__MSG_GRANTS:
    for (size_t i = 0; !rc && i < f->grants->n_grants && i < TK_MAX_GRANTS; i++) {
      int taken = 0;
      if (!f->grants->grants[i]) continue;
      rc = tk_office_grant_take(a->o, tk_pb_slice(f->grants->grants[i]->body),
                                tk_pb_slice(f->grants->grants[i]->sig), &taken, a->err);
      a->r->grants++;
      a->r->grants_taken += (uint64_t)taken;
    }
    break;
  case TUNDUK__V1__FRAME__MSG_REVISIONS: {
    const Tunduk__V1__Revisions *m = f->revisions;
    tk_slice_t *revs = NULL, *ids = NULL;
    uint8_t(*idbuf)[TK_REV_ID_LEN] = NULL;
    if (!m->step || m->n_revs > TK_MAX_OFFER_IDS) {
      rc = tk_err_set(a->err, TK_EPROTO, "%s: byte %llu: Revisions that are not a step",
                      a->path, (unsigned long long)offset);
      break;
    }
    rc = tk_step_take(m->revs, m->n_revs, &revs, &ids, &idbuf);
    /* stored with the pull checkpoint for the sender in one transaction */
    if (!rc) rc = tk__client_store_pulled(&a->c, revs, ids, m->n_revs, m->upto);
    if (rc && a->c.rc) rc = a->c.rc;
    a->r->revisions += m->n_revs;
    free(revs);
    free(ids);
    free(idbuf);
    break;
  }
  case TUNDUK__V1__FRAME__MSG_OFFER:
    rc = tk_bundle_offer_take(&a->offer, f->offer, a->path, a->err);
    break;
  case TUNDUK__V1__FRAME__MSG_CHUNK:
    rc = take_chunk(a, f->chunk);
    a->r->chunks++;
    break;
  case TUNDUK__V1__FRAME__MSG_PULL: /* an acknowledgement: how far the sender holds ours
                                     */
    rc = tk_store_checkpoint_raise(a->o->store, a->c.hub.id,
                                   f->pull->chunks ? TK_DIR_CHUNK_PUSH : TK_DIR_PUSH,
                                   f->pull->since, a->err);
    if (f->pull->chunks)
      a->r->acked_chunks = f->pull->since;
    else
      a->r->acked_revs = f->pull->since;
    break;
  case TUNDUK__V1__FRAME__MSG_BYE:
    /* every chunk of the bundle taken: the chunk checkpoint moves */
    if (a->offer.upto)
      rc = tk_store_checkpoint_raise(a->o->store, a->c.hub.id, TK_DIR_CHUNK_PULL,
                                     a->offer.upto, a->err);
    a->bye = 1;
    break;
  default:
    rc = tk_err_set(a->err, TK_EPROTO,
                    "%s: byte %llu: a %s frame has no place in a bundle", a->path,
                    (unsigned long long)offset, tk_wire_name(f));
  }
  tk_wire_free(f);
  return rc;
}

/* The acknowledgement for the sender: the checkpoints held here for it. */
static int write_ack(tk_office_t *o, const tk_peer_t *to, const char *out, tk_err_t *err)
{
  uint64_t revs = 0, chunks = 0;
  int rc = tk_store_checkpoint_get(o->store, to->id, TK_DIR_PULL, &revs, err);
  if (!rc)
    rc = tk_store_checkpoint_get(o->store, to->id, TK_DIR_CHUNK_PULL, &chunks, err);
  return rc ? rc : tk_bundle_write_ack(out, to, o->id, revs, chunks, err);
}

/* Whether this office knows the sender by that key: a device learned at a
 * sync (a member, the hub's directory), or the hub it is pinned to. */
static int known_sender(tk_office_t *o, const tk_peer_t *p, tk_device_info_t *known)
{
  char pinned[TK_DEVICE_ID_STRLEN], spk[2 * TK_SIGN_PK_LEN + 1];
  uint8_t pid[TK_DEVICE_ID_LEN], pk[TK_SIGN_PK_LEN];
  if (tk_store_device_get(o->store, p->id, known, NULL) == 0)
    return tk_ct_equal(known->sign_pk, p->sign_pk, TK_SIGN_PK_LEN);
  memset(known, 0, sizeof *known);
  return tk_store_meta_get(o->store, TK_META_HUB_ID, pinned, sizeof pinned, NULL) == 0 &&
         tk_device_id_parse(pid, pinned) == 0 &&
         tk_ct_equal(pid, p->id, TK_DEVICE_ID_LEN) &&
         tk_store_meta_get(o->store, TK_META_HUB_SIGN_PK, spk, sizeof spk, NULL) == 0 &&
         tk_hex_decode(pk, TK_SIGN_PK_LEN, spk) == 0 &&
         tk_ct_equal(pk, p->sign_pk, TK_SIGN_PK_LEN);
}

int tk_office_bundle_apply(tk_office_t *o, const char *path, const char *ack_out,
                           tk_office_bundle_result_t *r, tk_err_t *err)
{
  tk_bundle_info_t info;
  struct timespec t0, t1;
  tk_device_info_t known;
  memset(r, 0, sizeof *r);
  int rc = tk_office_need_keys(o, err);
  if (rc) return rc;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  applier_t *a = calloc(1, sizeof *a);
  if (a) {
    a->offer.ids = malloc(TK_MAX_CHUNK_OFFER * sizeof *a->offer.ids);
    a->offer.sizes = malloc(TK_MAX_CHUNK_OFFER * sizeof *a->offer.sizes);
  }
  if (!a || !a->offer.ids || !a->offer.sizes) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory");
    goto done;
  }
  /* the checks first, all of them, before anything is used */
  rc = tk_bundle_read(path, o->id, &info, NULL, NULL, err);
  if (rc) goto done;
  tk_device_id_format(r->peer, info.sender.id);
  if (!known_sender(o, &info.sender, &known)) {
    rc = tk_err_set(err, TK_EACCESS,
                    "%s: from device %s, which this office does not know (not a member "
                    "of a vault here, nor its hub)",
                    path, r->peer);
    goto done;
  }
  if (known.revoked) {
    rc = tk_err_set(err, TK_EACCESS, "%s: from device %s, which is revoked", path,
                    r->peer);
    goto done;
  }
  a->o = o;
  a->r = r;
  a->err = err;
  a->path = path;
  rc = tk__office_plugins(o, &a->co.plugins, err);
  if (rc) goto done;
  a->co.mode = TK_CLIENT_SYNC;
  a->c.o = o;
  a->c.store = o->store;
  a->c.id = o->id;
  a->c.opts = &a->co;
  a->c.st = &a->st;
  a->c.err = err;
  a->c.state = C_SYNC;
  a->c.hub = info.sender;
  rc = tk_bundle_read(path, o->id, &info, apply_frame, a, err);
  r->accepted = a->st.received;
  r->duplicates = a->st.duplicates + a->st.own;
  r->refused = a->st.nrefused;
  r->frames = info.frames;
  r->file_bytes = info.file_bytes;
  r->plain_bytes = info.plain_bytes;
  free(a->st.refused);
  if (!rc && !a->bye)
    rc = tk_err_set(err, TK_EFORMAT, "%s: the bundle ends without Bye", path);
  if (!rc) tk__office_learn_deleted(o, NULL);
  if (!rc && ack_out) rc = write_ack(o, &info.sender, ack_out, err);
done:
  clock_gettime(CLOCK_MONOTONIC, &t1);
  r->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  if (a) {
    free(a->offer.ids);
    free(a->offer.sizes);
  }
  free(a);
  return rc;
}
