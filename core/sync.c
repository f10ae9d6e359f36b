/*
 * sync.c: role-independent sync steps (see tk_sync.h).
 */
#include "tk_sync.h"

#include "tk_plugin.h"
#include "tk_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *tk_reject_name(int code)
{
  switch (code) {
  case TK_REJECT_MALFORMED:
    return "malformed";
  case TK_REJECT_HASH:
    return "hash mismatch";
  case TK_REJECT_SIGNATURE:
    return "bad signature";
  case TK_REJECT_ACCESS:
    return "access denied";
  case TK_REJECT_PARENT:
    return "parent missing or inconsistent";
  case TK_REJECT_INTERNAL:
    return "receiver failed";
  case TK_REJECT_MODERATION:
    return "refused by a moderation rule";
  case TK_REJECT_QUARANTINED:
    return "held for review";
  case TK_REJECT_LIMIT:
    return "over an attachment limit";
  default:
    return "rejected";
  }
}

void tk_batch_free(tk_batch_t *b)
{
  free(b->ids);
  free(b->seqs);
  memset(b, 0, sizeof *b);
}

static int batch_push(tk_batch_t *b, const tk_rev_meta_t *m)
{
  if (b->n == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    void *ids = realloc(b->ids, cap * TK_REV_ID_LEN);
    if (!ids) return TK_ENOMEM;
    b->ids = ids;
    void *seqs = realloc(b->seqs, cap * sizeof *b->seqs);
    if (!seqs) return TK_ENOMEM;
    b->seqs = seqs;
    b->cap = cap;
  }
  memcpy(b->ids[b->n], m->id, TK_REV_ID_LEN);
  b->seqs[b->n] = m->seq;
  b->n++;
  b->bytes += m->size;
  return 0;
}

typedef struct batch_ctx {
  tk_batch_t *b;
  size_t max_ids;
  uint64_t max_bytes;
  tk_batch_filter filter;
  void *ctx;
  int rc;
} batch_ctx_t;

#define STOP_FULL 1 /* positive: stops tk_store_changes without an error */

static int batch_add(void *ctx, const tk_rev_meta_t *m, tk_slice_t bytes)
{
  batch_ctx_t *c = ctx;
  (void)bytes;
  if (c->b->n > 0 && (c->b->n >= c->max_ids || c->b->bytes + m->size > c->max_bytes)) {
    c->b->more = 1;
    return STOP_FULL;
  }
  int keep = c->filter ? c->filter(c->ctx, m) : 1;
  if (keep < 0) {
    c->rc = keep;
    return keep;
  }
  if (keep) {
    int rc = batch_push(c->b, m);
    if (rc) {
      c->rc = rc;
      return rc;
    }
  }
  c->b->upto = m->seq;
  return 0;
}

int tk_sync_batch(tk_store_t *s, uint64_t since, size_t max_ids, uint64_t max_bytes,
                  tk_batch_filter filter, void *ctx, tk_batch_t *b, tk_err_t *err)
{
  b->n = 0;
  b->bytes = 0;
  b->upto = since;
  b->more = 0;
  batch_ctx_t c = {b, max_ids, max_bytes, filter, ctx, 0};
  int rc = tk_store_changes(s, since, 0, batch_add, &c, err);
  if (rc == STOP_FULL) rc = 0;
  if (c.rc) rc = tk_err_set(err, c.rc, "building a batch: %s", tk_strerror(c.rc));
  return rc;
}

int tk_sync_need(tk_store_t *s, const tk_slice_t *ids, size_t n, uint32_t *need,
                 size_t *nneed, tk_err_t *err)
{
  *nneed = 0;
  for (size_t i = 0; i < n; i++) {
    if (ids[i].n != TK_REV_ID_LEN)
      return tk_err_set(err, TK_EPROTO, "offered id %zu is %zu bytes, not %d", i,
                        ids[i].n, TK_REV_ID_LEN);
    int has = tk_store_has_rev(s, ids[i].p);
    if (has < 0) return tk_err_set(err, has, "store: %s", tk_strerror(has));
    if (!has) need[(*nneed)++] = (uint32_t)i;
  }
  return 0;
}

int tk_sync_send_revisions(struct tk_conn *c, tk_store_t *s,
                           const uint8_t (*ids)[TK_REV_ID_LEN], size_t nids,
                           const uint32_t *index, size_t n, uint64_t *rev_bytes,
                           tk_err_t *err)
{
  tk_buf_t all = TK_BUF_INIT;
  size_t *offs = NULL;
  ProtobufCBinaryData *revs = NULL;
  int rc = 0;
  for (size_t i = 0; i < n; i++)
    if (index[i] >= nids || (i > 0 && index[i] <= index[i - 1]))
      return tk_err_set(err, TK_EPROTO, "need indexes out of range or not ascending");
  offs = calloc(n + 1, sizeof *offs);
  revs = calloc(n ? n : 1, sizeof *revs);
  if (!offs || !revs) rc = tk_err_set(err, TK_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < n; i++) {
    offs[i] = all.n;
    rc = tk_store_get_rev(s, ids[index[i]], &all, err);
  }
  if (rc) goto done;
  offs[n] = all.n;
  for (size_t i = 0; i < n; i++)
    revs[i] = tk_pb_bytes(all.p + offs[i], offs[i + 1] - offs[i]);
  Tunduk__V1__Revisions r = TUNDUK__V1__REVISIONS__INIT;
  r.n_revs = n;
  r.revs = revs;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_REVISIONS;
  f.revisions = &r;
  rc = tk_wire_send(c, &f);
  if (rc)
    tk_err_set(err, rc, "cannot send %zu revisions (%zu bytes): %s", n, all.n,
               tk_strerror(rc));
  else if (rev_bytes)
    *rev_bytes = all.n;
done:
  tk_buf_free(&all);
  free(offs);
  free(revs);
  return rc;
}

int tk_sync_moderate(struct tk_plugin_set *set, tk_store_t *s, const tk_rev_t *rev,
                     tk_slice_t body, const uint8_t sender[TK_DEVICE_ID_LEN],
                     char *reason, size_t len)
{
  if (!set || tk_plugin_set_count(set, TK_PLUGIN_MODERATION) == 0) return 0;
  char rec[2 * TK_RECORD_ID_LEN + 1], rid[2 * TK_REV_ID_LEN + 1],
      author[TK_DEVICE_ID_STRLEN];
  tk_hex_encode(rec, rev->record_id, TK_RECORD_ID_LEN);
  tk_hex_encode(rid, rev->id, TK_REV_ID_LEN);
  tk_device_id_format(author, rev->author);
  tk_plugin_meta_t pm = {rec,      rid,          rev->type,       rev->vault,   author,
                         rev->hlc, rev->bytes.n, rev->generation, rev->nparents};
  tk_plugin_verdict_t v;
  tk_plugin_moderate(set, &pm, body, &v);
  if (v.verdict == TK_VERDICT_ACCEPT) return 0;
  snprintf(reason, len, "%s (rule %s in %s)", v.reason, v.rule, v.plugin);
  if (v.verdict == TK_VERDICT_REJECT) return TK_REJECT_MODERATION;
  tk_err_t e;
  if (tk_store_quarantine_put(s, rev, sender, reason, &e) != 0) {
    snprintf(reason, len, "could not quarantine: %s", tk_err_str(&e));
    return TK_REJECT_INTERNAL;
  }
  return TK_REJECT_QUARANTINED;
}

void tk_apply_result_free(tk_apply_result_t *r)
{
  free(r->rejected);
  memset(r, 0, sizeof *r);
}

static int reject(tk_apply_result_t *r, const uint8_t *id, int code, const char *reason)
{
  tk_reject_t *v = realloc(r->rejected, (r->nrejected + 1) * sizeof *v);
  if (!v) return TK_ENOMEM;
  r->rejected = v;
  tk_reject_t *x = &v[r->nrejected++];
  memset(x, 0, sizeof *x);
  if (id) memcpy(x->id, id, TK_REV_ID_LEN);
  x->code = code;
  snprintf(x->reason, sizeof x->reason, "%s", reason);
  return 0;
}

/* Checks one revision and stores it inside the open transaction. Returns
 * 0 (stored or duplicate, counted), a TK_REJECT_* code > 0 with reason, or
 * a negative store error that must abort the batch. */
static int apply_one(tk_store_t *s, tk_slice_t bytes, tk_slice_t want,
                     const uint8_t *origin, tk_apply_policy policy, void *ctx,
                     tk_apply_result_t *res, char *reason, size_t rlen)
{
  tk_rev_t rev;
  tk_err_t e;
  tk_err_clear(&e);
  if (want.n != TK_REV_ID_LEN) {
    snprintf(reason, rlen, "offered id is not 32 bytes");
    return TK_REJECT_MALFORMED;
  }
  if (tk_rev_parse(&rev, bytes, &e) != 0) {
    snprintf(reason, rlen, "%s", tk_err_str(&e));
    return TK_REJECT_MALFORMED;
  }
  if (tk_rev_check_id(&rev, want.p, &e) != 0) {
    snprintf(reason, rlen, "bytes do not hash to the offered id");
    return TK_REJECT_HASH;
  }
  if (tk_rev_verify_sig(&rev, &e) != 0) {
    snprintf(reason, rlen, "%s", tk_err_str(&e));
    return TK_REJECT_SIGNATURE;
  }
  /* Every store's clock moves past the highest clock it has seen: one
   * revision dated far ahead would drag every replica's clock with it. */
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  uint64_t now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
  if (rev.hlc > now_ms + TK_MAX_CLOCK_AHEAD_MS) {
    snprintf(reason, rlen, "its clock is %llu days ahead of this node's (limit %llu)",
             (unsigned long long)((rev.hlc - now_ms) / 86400000ull),
             (unsigned long long)(TK_MAX_CLOCK_AHEAD_MS / 86400000ull));
    return TK_REJECT_MALFORMED;
  }
  if (policy) {
    int code = policy(ctx, &rev, reason, rlen);
    if (code) return code;
  }
  uint64_t seq;
  int rc = tk_store_put_rev_from(s, &rev, origin, &seq, &e);
  if (rc == TK_EEXIST) {
    res->duplicates++;
    return 0;
  }
  if (rc == TK_EPARENT) {
    snprintf(reason, rlen, "%s", tk_err_str(&e));
    return TK_REJECT_PARENT;
  }
  if (rc) return rc;
  res->accepted++;
  res->bytes += bytes.n;
  return 0;
}

int tk_sync_apply(tk_store_t *s, const tk_slice_t *revs, const tk_slice_t *ids, size_t n,
                  const uint8_t *origin, tk_apply_policy policy, void *ctx,
                  const tk_apply_ckpt_t *ckpt, tk_apply_result_t *res, tk_err_t *err)
{
  memset(res, 0, sizeof *res);
  int rc = tk_store_begin(s, err);
  if (rc) return rc;
  for (size_t i = 0; i < n; i++) {
    char reason[200] = "";
    int code =
        apply_one(s, revs[i], ids[i], origin, policy, ctx, res, reason, sizeof reason);
    if (code < 0) {
      rc = tk_err_set(err, code, "storing revision %zu of the batch failed: %s", i,
                      tk_strerror(code));
      goto fail;
    }
    if (code > 0 && (rc = reject(res, ids[i].n == TK_REV_ID_LEN ? ids[i].p : NULL, code,
                                 reason)) != 0)
      goto fail;
  }
  if (ckpt && ckpt->peer) {
    rc = tk_store_checkpoint_set(s, ckpt->peer, ckpt->dir, ckpt->seq, err);
    if (rc) goto fail;
  }
  rc = tk_store_commit(s, err);
  if (rc) goto fail_nocommit;
  return 0;
fail:
  tk_store_rollback(s);
fail_nocommit:
  res->accepted = res->duplicates = 0;
  res->bytes = 0;
  return rc;
}
