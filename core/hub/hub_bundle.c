/*
 * hub_bundle.c: a bundle applied at the hub (tk_hub_bundle.h): the frames
 * an office's push would send, read from a file (tk_bundle.h) instead of
 * a session, and applied with the push's own checks (tk__hub_push_policy
 * with a hub_push_t, as the store thread applies a live batch: access
 * list, author access, membership log, attachment limits, moderation).
 * The hub is built without a loop, as the fuzzer builds it, so its
 * moderation rules run in this process.
 *
 * Membership-log entries in the bundle are compared with the hub's: an
 * entry the hub lacks is counted (log_new) and not taken; membership
 * changes reach the hub through a live sync, where the hub answers the
 * office (PROTOCOL.md section 10). Revisions that depend on such a change
 * are refused by the membership check like any other, and nothing of
 * them is stored.
 *
 * The caller's thread.
 */
#include "tk_hub_bundle.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub_internal.h"
#include "tk_bundle.h"

typedef struct happ {
  tk_hub_t *h;
  hub_push_t push;
  tk_hub_bundle_result_t *r;
  tk_err_t *err;
  const char *path;
  tk_bundle_offer_t offer; /* the last chunk Offer */
  int chunk_refused, bye;
} happ_t;

static int access_cb(void *ctx, const char *vault, int write)
{
  hub_push_t *p = ctx;
  access_entry_t *a = realloc(p->access, (p->naccess + 1) * sizeof *a);
  if (!a) return TK_ENOMEM;
  p->access = a;
  snprintf(a[p->naccess].vault, sizeof a->vault, "%s", vault);
  a[p->naccess].write = write;
  p->naccess++;
  return 0;
}

static int take_revisions(happ_t *a, const Tunduk__V1__Revisions *m, uint64_t offset)
{
  tk_slice_t *revs = NULL, *ids = NULL;
  uint8_t(*idbuf)[TK_REV_ID_LEN] = NULL;
  tk_apply_result_t res;
  if (!m->step || m->n_revs > TK_MAX_OFFER_IDS)
    return tk_err_set(a->err, TK_EPROTO, "%s: byte %llu: Revisions that are not a step",
                      a->path, (unsigned long long)offset);
  int rc = tk_step_take(m->revs, m->n_revs, &revs, &ids, &idbuf);
  if (rc) return tk_err_set(a->err, rc, "out of memory");
  memset(&res, 0, sizeof res);
  rc = tk_sync_apply(a->h->store, revs, ids, m->n_revs, a->push.peer_id,
                     tk__hub_push_policy, &a->push, NULL, &res, a->err);
  /* the checkpoint only past a step with no rejection: the sender's
   * acknowledgement must never pass a revision the hub did not take */
  if (!rc && res.nrejected == 0)
    rc = tk_store_checkpoint_raise(a->h->store, a->push.peer_id, TK_DIR_PULL, m->upto,
                                   a->err);
  if (!rc) {
    a->r->revisions += m->n_revs;
    a->r->accepted += res.accepted;
    a->r->duplicates += res.duplicates + res.own;
    for (size_t i = 0; i < res.nrejected; i++) {
      char rid[2 * TK_REV_ID_LEN + 1];
      if (res.rejected[i].code == TK_REJECT_QUARANTINED)
        a->r->quarantined++;
      else
        a->r->rejected++;
      tk_hex_encode(rid, res.rejected[i].id, TK_REV_ID_LEN);
      TK_LOG(TK_LOG_WARN, "hub",
             "bundle from=%s rejected rev=%.16s code=%d reason=\"%s\"", a->push.who, rid,
             res.rejected[i].code, res.rejected[i].reason);
      if (!a->r->first_reject[0])
        snprintf(a->r->first_reject, sizeof a->r->first_reject, "revision %.16s: %s", rid,
                 res.rejected[i].reason);
    }
  }
  tk_apply_result_free(&res);
  free(revs);
  free(ids);
  free(idbuf);
  return rc;
}

static int take_log(happ_t *a, const Tunduk__V1__Log *m)
{
  if (m->n_entries > TK_MAX_LOG_ENTRIES)
    return tk_err_set(a->err, TK_ELIMIT, "%s: a Log past its limits", a->path);
  for (size_t i = 0; i < m->n_entries; i++) {
    tk_entry_t e;
    tk_err_t ee;
    memset(&e, 0, sizeof e);
    memset(&ee, 0, sizeof ee);
    if (!m->entries[i] || tk_entry_parse(&e, tk_pb_slice(m->entries[i]->body),
                                         tk_pb_slice(m->entries[i]->sig), &ee) != 0) {
      tk_entry_free(&e);
      return tk_err_set(a->err, TK_ESIG, "%s: a membership log entry does not verify: %s",
                        a->path, ee.msg);
    }
    a->r->log_entries++;
    const tk_member_log_t *l = tk__hub_log(a->h, e.label);
    int have = l && e.seq < l->n && memcmp(l->entries[e.seq].id, e.id, TK_HASH_LEN) == 0;
    tk_entry_free(&e);
    if (!l) return tk_err_set(a->err, TK_ESTORE, "cannot read a vault's log");
    if (!have) a->r->log_new++;
  }
  return 0;
}

static int vault_writable(void *ctx, const char *vault)
{
  happ_t *a = ((happ_t **)ctx)[0];
  int *ok = ((int **)ctx)[1];
  if (tk__hub_access_in(a->push.access, a->push.naccess, vault) == TK_ACCESS_WRITE) {
    *ok = 1;
    return 1;
  }
  return 0;
}

static int take_chunk(happ_t *a, const Tunduk__V1__Chunk *m)
{
  if (m->index >= a->offer.n || m->data.len != a->offer.sizes[m->index])
    return tk_err_set(a->err, TK_EPROTO, "%s: a chunk not offered before it", a->path);
  const uint8_t *id = a->offer.ids[m->index];
  uint8_t hsh[TK_HASH_LEN];
  crypto_hash_sha256(hsh, m->data.data, m->data.len);
  if (!tk_ct_equal(hsh, id, TK_HASH_LEN))
    return tk_err_set(a->err, TK_EHASH, "%s: a chunk does not hash to its id", a->path);
  a->r->chunks++;
  /* as a live push: a chunk a stored revision of a vault the device may
   * write names */
  int ok = 0;
  void *arg[2] = {a, &ok};
  int rc = tk_store_chunk_vaults(a->h->store, id, vault_writable, arg, a->err);
  if (rc < 0) return rc;
  if (!ok) {
    a->r->chunks_refused++;
    a->chunk_refused = 1;
    return 0;
  }
  int stored = 0, code = 0;
  char reason[200];
  rc = tk_chunk_recv_store(a->h->store, id, tk_pb_slice(m->data), a->push.peer_id,
                           &stored, &code, reason, sizeof reason, a->err);
  if (rc) return rc;
  if (stored) a->r->chunks_stored++;
  if (code) {
    a->r->chunks_refused++;
    a->chunk_refused = 1;
  }
  return 0;
}

static int apply_frame(void *ctx, uint64_t offset, tk_slice_t payload)
{
  happ_t *a = ctx;
  int rc = 0;
  tk_frame_t *f = tk_bundle_frame(a->path, offset, payload, a->bye, a->err);
  if (!f) return a->err->code;
  switch (f->msg_case) {
  case TUNDUK__V1__FRAME__MSG_LOG:
    rc = take_log(a, f->log);
    break;
  case TUNDUK__V1__FRAME__MSG_GRANTS: /* grants addressed to the hub: none it needs */
    break;
  case TUNDUK__V1__FRAME__MSG_REVISIONS:
    rc = take_revisions(a, f->revisions, offset);
    break;
  case TUNDUK__V1__FRAME__MSG_OFFER:
    rc = tk_bundle_offer_take(&a->offer, f->offer, a->path, a->err);
    break;
  case TUNDUK__V1__FRAME__MSG_CHUNK:
    rc = take_chunk(a, f->chunk);
    break;
  case TUNDUK__V1__FRAME__MSG_BYE:
    if (a->offer.upto && !a->chunk_refused)
      rc = tk_store_checkpoint_raise(a->h->store, a->push.peer_id, TK_DIR_CHUNK_PULL,
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

int tk_hub_bundle_apply(tk_office_t *home, const tk_config_t *cfg, const char *path,
                        const char *ack_out, tk_hub_bundle_result_t *r, tk_err_t *err)
{
  tk_bundle_info_t info;
  tk_device_info_t d;
  struct timespec t0, t1;
  tk_hub_t *h = NULL;
  happ_t a;
  memset(r, 0, sizeof *r);
  memset(&a, 0, sizeof a);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  const tk_identity_t *id = tk_office_identity(home);
  tk_store_t *store = tk_office_store(home);
  /* every check of the file first; nothing is used before they all pass */
  int rc = tk_bundle_read(path, id, &info, NULL, NULL, err);
  if (rc) return rc;
  tk_device_id_format(r->peer, info.sender.id);
  if (tk_store_device_get(store, info.sender.id, &d, NULL) != 0 ||
      !tk_ct_equal(d.sign_pk, info.sender.sign_pk, TK_SIGN_PK_LEN))
    return tk_err_set(err, TK_EACCESS,
                      "%s: from device %s, which this hub does not know (not enrolled "
                      "here); nothing applied",
                      path, r->peer);
  if (d.revoked)
    return tk_err_set(err, TK_EACCESS,
                      "%s: from device %s, which is revoked; nothing applied", path,
                      r->peer);
  rc = tk_hub_new(&h, NULL, home, cfg, err);
  if (rc) return rc;
  a.h = h;
  a.r = r;
  a.err = err;
  a.path = path;
  a.push.cfg = &h->cfg;
  a.push.store = h->store;
  memcpy(a.push.peer_id, info.sender.id, TK_DEVICE_ID_LEN);
  tk__hub_who(a.push.who, info.sender.id);
  a.push.set = h->plugins ? h->plugins->set : NULL;
  a.offer.ids = malloc(TK_MAX_CHUNK_OFFER * sizeof *a.offer.ids);
  a.offer.sizes = malloc(TK_MAX_CHUNK_OFFER * sizeof *a.offer.sizes);
  if (!a.offer.ids || !a.offer.sizes) rc = tk_err_set(err, TK_ENOMEM, "out of memory");
  if (!rc) rc = tk_store_access_list(h->store, info.sender.id, access_cb, &a.push, err);
  if (!rc) rc = tk_bundle_read(path, id, &info, apply_frame, &a, err);
  if (!rc && !a.bye)
    rc = tk_err_set(err, TK_EFORMAT, "%s: the bundle ends without Bye", path);
  r->frames = info.frames;
  r->file_bytes = info.file_bytes;
  if (!rc && ack_out) {
    uint64_t revs = 0, chunks = 0;
    rc = tk_store_checkpoint_get(h->store, info.sender.id, TK_DIR_PULL, &revs, err);
    if (!rc)
      rc = tk_store_checkpoint_get(h->store, info.sender.id, TK_DIR_CHUNK_PULL, &chunks,
                                   err);
    if (!rc) rc = tk_bundle_write_ack(ack_out, &info.sender, id, revs, chunks, err);
  }
  TK_LOG(TK_LOG_INFO, "hub",
         "bundle from=%s accepted=%llu duplicates=%llu rejected=%llu quarantined=%llu "
         "chunks=%llu rc=%d",
         a.push.who, (unsigned long long)r->accepted, (unsigned long long)r->duplicates,
         (unsigned long long)r->rejected, (unsigned long long)r->quarantined,
         (unsigned long long)r->chunks_stored, rc);
  free(a.offer.ids);
  free(a.offer.sizes);
  free(a.push.access);
  tk__hub_logs_free_in(&a.push.logs, &a.push.nlogs);
  tk_hub_stop(h);
  tk_hub_free(h);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  r->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  return rc;
}
