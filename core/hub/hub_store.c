/*
 * hub_store.c: the hub's writes, as jobs of its store thread
 * (tk_store_thread.h): a pushed revision batch (applied with the push
 * policy in one transaction), a pushed attachment chunk (its own
 * transaction, as before), a relayed grant, a LogPut's entries and
 * grants, an enrollment. Each job copies what it writes out of the frame;
 * while it is out its session reads no frame (paused, as for a moderation
 * job), and its completion, on the loop, sends the Ack (or the store's
 * failure) only after the commit, updates what the loop caches (the
 * replayed vault logs, the session's access list) and resumes the session.
 *
 * One transaction per job, no group commit: the jobs run one at a time in
 * submit order, so a slow commit delays the writes queued behind it but
 * no session's reads (served on the loop with the hub's own connection,
 * which WAL gives a consistent snapshot of the last commit).
 *
 * A session that closes while its job is out is detached from it (s
 * NULL): the job still commits or rolls back on the store thread, and its
 * completion frees it without touching the session. tk_hub_stop stops the
 * thread after the queued jobs (tk_store_thread_stop): every session is
 * closing by then, so those commits are kept and never acknowledged, as
 * when a connection drops after a commit.
 *
 * Threads: the work functions on the store thread, touching only their
 * job (and the hub's config, which never changes while it runs); the rest
 * on the loop's thread. A hub without a loop (fuzzer, unit tests) runs the
 * jobs inline on the caller's thread with the hub's own store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hub_internal.h"

/* A session's store job: the store thread's job, first. */
typedef struct hub_sjob hub_sjob_t;
typedef int (*sjob_work_fn)(hub_sjob_t *j, tk_store_t *st, tk_err_t *err);
/* s: NULL once the session closed (then only free j). */
typedef void (*sjob_done_fn)(hub_sjob_t *j, session_t *s, int rc, const tk_err_t *err);

struct hub_sjob {
  tk_store_job_t job;
  tk_hub_t *hub;
  session_t *s; /* NULL once the session closed (on_close) */
  sjob_work_fn work;
  sjob_done_fn done;
  int kind;    /* TK__COMMIT_*, for the commit latency metric */
  uint64_t ns; /* work's time on the store thread */
};

int tk__hub_store_start(tk_hub_t *h, tk_err_t *err)
{
  /* Each session has at most one job out (it is paused meanwhile). */
  size_t max = (size_t)h->cfg.max_connections + h->cfg.preauth_max_connections + 16;
  return tk_store_thread_new(&h->sthread, h->loop, tk_store_path(h->store), h->store, max,
                             err);
}

void tk__hub_store_stop(tk_hub_t *h)
{
  tk_store_thread_stop(h->sthread);
}

void tk__hub_store_free(tk_hub_t *h)
{
  tk_store_thread_free(h->sthread);
  h->sthread = NULL;
}

void tk__hub_store_detach(session_t *s)
{
  if (s->sjob) s->sjob->s = NULL;
  s->sjob = NULL;
}

static int sjob_work(tk_store_job_t *job, tk_store_t *st, tk_err_t *err)
{
  hub_sjob_t *j = (hub_sjob_t *)job;
  uint64_t t0 = uv_hrtime();
  int rc = j->work(j, st, err);
  j->ns = uv_hrtime() - t0; /* read on the loop after the job's completion */
  return rc;
}

static void sjob_done(tk_store_job_t *job, int rc, const tk_err_t *err)
{
  hub_sjob_t *j = (hub_sjob_t *)job;
  session_t *s = j->s;
  tk_hub_t *h = j->hub;
  if (s) s->sjob = NULL;
  tk__hub_status_commit(h, j->kind, j->ns);
  session_t *open = s && s->state != S_CLOSING ? s : NULL;
  j->done(j, open, rc, err); /* frees j */
  if (s && h->loop) tk__hub_resume(s);
}

/* Submits j for s: s is paused until its done (with a loop; inline, done
 * has run when this returns). On failure the session is told and closed
 * and j's done runs with s NULL (to free it). */
static void sjob_submit(session_t *s, hub_sjob_t *j, sjob_work_fn work, sjob_done_fn done)
{
  tk_hub_t *h = s->hub;
  tk_err_t e;
  j->hub = h;
  j->s = s;
  j->work = work;
  j->done = done;
  if (h->loop) {
    s->sjob = j;
    tk_conn_pause(s->conn);
  }
  int rc = tk_store_thread_submit(h->sthread, &j->job, sjob_work, sjob_done, &e);
  if (rc) {
    s->sjob = NULL;
    done(j, NULL, rc, &e);
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, rc, tk_err_str(&e));
  }
}

/* ---- a pushed batch -------------------------------------------------------- */

typedef struct batch_job {
  hub_sjob_t base;
  size_t n;
  tk_buf_t bytes;    /* the revisions, back to back */
  size_t *off, *len; /* each in bytes */
  uint8_t (*ids)[TK_REV_ID_LEN];
  size_t *idlen; /* each id's length as offered (checked by apply) */
  hub_plugins_t *plugins;
  hub_push_t push;
  tk_config_t cfg; /* push.cfg: a SIGHUP may replace the hub's meanwhile */
  tk_apply_result_t res;
  uint64_t seq_before, seq_after; /* the feed's end around the commit */
} batch_job_t;

static void batch_free(batch_job_t *b)
{
  tk__hub_mod_job_free(b->push.applying);
  if (b->plugins && --b->plugins->refs == 0) {
    tk_plugin_set_free(b->plugins->set);
    free(b->plugins);
  }
  tk__hub_logs_free_in(&b->push.logs, &b->push.nlogs);
  free(b->push.access);
  tk_apply_result_free(&b->res);
  tk_buf_free(&b->bytes);
  free(b->off);
  free(b->len);
  free(b->ids);
  free(b->idlen);
  free(b);
}

static int batch_work(hub_sjob_t *j, tk_store_t *st, tk_err_t *err)
{
  batch_job_t *b = (batch_job_t *)j;
  size_t n = b->n;
  tk_slice_t *revs = calloc(n ? n : 1, sizeof *revs),
             *ids = calloc(n ? n : 1, sizeof *ids);
  if (!revs || !ids) {
    free(revs);
    free(ids);
    return tk_err_set(err, TK_ENOMEM, "out of memory applying %zu revisions", n);
  }
  for (size_t i = 0; i < n; i++) {
    revs[i] = TK_SLICE(b->bytes.p + b->off[i], b->len[i]);
    ids[i] = TK_SLICE(b->ids[i], b->idlen[i]);
  }
  b->push.store = st;
  /* one writer (this thread): what the feed gains in between is this batch */
  int rc = tk_store_last_seq(st, &b->seq_before, err);
  if (!rc)
    rc = tk_sync_apply(st, revs, ids, n, b->push.peer_id, tk__hub_push_policy, &b->push,
                       NULL, &b->res, err);
  if (!rc) rc = tk_store_last_seq(st, &b->seq_after, err);
  free(revs);
  free(ids);
  return rc;
}

static void batch_done(hub_sjob_t *j, session_t *s, int rc, const tk_err_t *e)
{
  batch_job_t *b = (batch_job_t *)j;
  const tk_apply_result_t *res = &b->res;
  if (s && rc) {
    tk__hub_fail_store(s, rc, e, "the batch");
  } else if (s) {
    TK_LOG(TK_LOG_INFO, "hub",
           "push device=%s accepted=%u duplicates=%u rejected=%zu bytes=%llu", s->who,
           res->accepted, res->duplicates, res->nrejected,
           (unsigned long long)res->bytes);
    for (size_t i = 0; i < res->nrejected; i++) {
      char hex[2 * TK_REV_ID_LEN + 1];
      tk_hex_encode(hex, res->rejected[i].id, TK_REV_ID_LEN);
      TK_LOG(TK_LOG_WARN, "hub", "rejected device=%s rev=%.16s code=%d reason=\"%s\"",
             s->who, hex, res->rejected[i].code, res->rejected[i].reason);
    }
    tk__hub_status_pushed(s, res);
    if (b->seq_after > b->seq_before)
      tk_sync_responder_pushed(&s->resp, b->seq_before, b->seq_after);
    tk__hub_send_ack(s, res);
  }
  batch_free(b);
}

void tk__hub_store_batch(session_t *s, const tk_slice_t *revs, const tk_slice_t *ids,
                         size_t n, struct mod_job *mj)
{
  tk_hub_t *h = s->hub;
  size_t total = 0;
  batch_job_t *b = calloc(1, sizeof *b);
  if (!b) {
    tk__hub_mod_job_free(mj);
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, TK_ENOMEM, "out of memory");
    return;
  }
  b->push.applying = mj;
  b->n = n;
  b->off = calloc(n ? n : 1, sizeof *b->off);
  b->len = calloc(n ? n : 1, sizeof *b->len);
  b->ids = calloc(n ? n : 1, TK_REV_ID_LEN);
  b->idlen = calloc(n ? n : 1, sizeof *b->idlen);
  b->push.access = calloc(s->naccess ? s->naccess : 1, sizeof *b->push.access);
  for (size_t i = 0; i < n; i++)
    total += revs[i].n;
  if (!b->off || !b->len || !b->ids || !b->idlen || !b->push.access ||
      tk_buf_reserve(&b->bytes, total ? total : 1) < 0) {
    batch_free(b);
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, TK_ENOMEM, "out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    b->off[i] = b->bytes.n;
    b->len[i] = revs[i].n;
    if (revs[i].n) tk_buf_append(&b->bytes, revs[i].p, revs[i].n);
    b->idlen[i] = ids[i].n == TK_REV_ID_LEN ? TK_REV_ID_LEN : 0;
    if (b->idlen[i]) memcpy(b->ids[i], ids[i].p, TK_REV_ID_LEN);
  }
  if (s->naccess) memcpy(b->push.access, s->access, s->naccess * sizeof *s->access);
  b->push.naccess = s->naccess;
  b->cfg = h->cfg;
  b->push.cfg = &b->cfg;
  memcpy(b->push.peer_id, s->peer.id, TK_DEVICE_ID_LEN);
  snprintf(b->push.who, sizeof b->push.who, "%s", s->who);
  b->plugins = h->plugins; /* a reload may swap the hub's meanwhile */
  b->plugins->refs++;
  b->push.set = b->plugins->set;
  TK_LOG(TK_LOG_DEBUG, "hub", "push device=%s queued=%zu", s->who, n);
  b->base.kind = TK__COMMIT_REVISIONS;
  sjob_submit(s, &b->base, batch_work, batch_done);
}

/* ---- a relayed grant --------------------------------------------------------- */

typedef struct grant_job {
  hub_sjob_t base;
  tk_grant_t g;
  tk_buf_t body, sig;
} grant_job_t;

static int grant_work(hub_sjob_t *j, tk_store_t *st, tk_err_t *err)
{
  grant_job_t *gj = (grant_job_t *)j;
  const tk_grant_t *g = &gj->g;
  return tk_store_grant_put(st, g->vault, g->key_id, g->recipient, g->granter,
                            TK_SLICE(gj->body.p, gj->body.n),
                            TK_SLICE(gj->sig.p, gj->sig.n), err);
}

static void grant_done(hub_sjob_t *j, session_t *s, int rc, const tk_err_t *e)
{
  grant_job_t *gj = (grant_job_t *)j;
  if (s) {
    tk_apply_result_t res;
    tk_reject_t rj;
    memset(&res, 0, sizeof res);
    memset(&rj, 0, sizeof rj);
    if (rc) { /* as the store's refusal was answered before */
      tk_sha256(rj.id, gj->body.p, gj->body.n);
      rj.code = TK_REJECT_INTERNAL;
      snprintf(rj.reason, sizeof rj.reason, "%s", tk_err_str(e));
      res.nrejected = 1;
      res.rejected = &rj;
    } else {
      res.accepted = 1;
      char to[16];
      tk__hub_who(to, gj->g.recipient);
      TK_LOG(TK_LOG_INFO, "hub", "grant vault=%s from=%s to=%s", gj->g.vault, s->who, to);
    }
    tk__hub_send_ack(s, &res);
  }
  tk_buf_free(&gj->body);
  tk_buf_free(&gj->sig);
  free(gj);
}

void tk__hub_store_grant(session_t *s, const tk_grant_t *g, tk_slice_t body,
                         tk_slice_t sig)
{
  grant_job_t *gj = calloc(1, sizeof *gj);
  if (!gj || tk_buf_append(&gj->body, body.p, body.n) != 0 ||
      tk_buf_append(&gj->sig, sig.p, sig.n) != 0) {
    if (gj) {
      tk_buf_free(&gj->body);
      free(gj);
    }
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, TK_ENOMEM, "out of memory");
    return;
  }
  gj->g = *g;
  sjob_submit(s, &gj->base, grant_work, grant_done);
}

/* ---- a pushed chunk ------------------------------------------------------------ */

typedef struct chunk_job {
  hub_sjob_t base;
  uint32_t index;
  uint8_t id[TK_HASH_LEN];
  uint8_t origin[TK_DEVICE_ID_LEN];
  tk_buf_t data;
  int stored, code;
  char reason[160];
} chunk_job_t;

static int chunk_work(hub_sjob_t *j, tk_store_t *st, tk_err_t *err)
{
  chunk_job_t *cj = (chunk_job_t *)j;
  return tk_chunk_recv_store(st, cj->id, TK_SLICE(cj->data.p, cj->data.n), cj->origin,
                             &cj->stored, &cj->code, cj->reason, sizeof cj->reason, err);
}

static void chunk_done(hub_sjob_t *j, session_t *s, int rc, const tk_err_t *e)
{
  chunk_job_t *cj = (chunk_job_t *)j;
  if (s && rc)
    tk__hub_fail_store(s, rc, e, "a chunk");
  else if (s)
    tk__hub_chunk_stored(s, cj->index, cj->data.n, cj->stored, cj->code, cj->reason);
  tk_buf_free(&cj->data);
  free(cj);
}

void tk__hub_store_chunk(session_t *s, uint32_t index, tk_slice_t data)
{
  chunk_job_t *cj = calloc(1, sizeof *cj);
  if (!cj || tk_buf_append(&cj->data, data.p, data.n) != 0) {
    free(cj);
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, TK_ENOMEM, "out of memory");
    return;
  }
  cj->index = index;
  memcpy(cj->id, s->resp.crecv.ids[index], TK_HASH_LEN);
  memcpy(cj->origin, s->peer.id, TK_DEVICE_ID_LEN);
  cj->base.kind = TK__COMMIT_CHUNK;
  sjob_submit(s, &cj->base, chunk_work, chunk_done);
}

/* ---- an enrollment ------------------------------------------------------------- */

typedef struct enroll_job {
  hub_sjob_t base;
  uint8_t token_id[TK_TOKEN_ID_LEN], secret[TK_TOKEN_SECRET_LEN];
  tk_device_info_t d;
  void (*done)(session_t *s, int rc, const tk_err_t *e, const tk_device_info_t *d);
} enroll_job_t;

static int enroll_work(hub_sjob_t *j, tk_store_t *st, tk_err_t *err)
{
  enroll_job_t *ej = (enroll_job_t *)j;
  return tk_store_token_redeem(st, ej->token_id, ej->secret, (int64_t)time(NULL), &ej->d,
                               err);
}

static void enroll_done(hub_sjob_t *j, session_t *s, int rc, const tk_err_t *e)
{
  enroll_job_t *ej = (enroll_job_t *)j;
  if (s) ej->done(s, rc, e, &ej->d);
  tk_wipe(ej->secret, sizeof ej->secret);
  free(ej);
}

void tk__hub_store_enroll(session_t *s, const uint8_t token_id[TK_TOKEN_ID_LEN],
                          const uint8_t secret[TK_TOKEN_SECRET_LEN],
                          const tk_device_info_t *d,
                          void (*done)(session_t *s, int rc, const tk_err_t *e,
                                       const tk_device_info_t *d))
{
  enroll_job_t *ej = calloc(1, sizeof *ej);
  if (!ej) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, TK_ENOMEM, "out of memory");
    return;
  }
  memcpy(ej->token_id, token_id, TK_TOKEN_ID_LEN);
  memcpy(ej->secret, secret, TK_TOKEN_SECRET_LEN);
  ej->d = *d;
  ej->done = done;
  sjob_submit(s, &ej->base, enroll_work, enroll_done);
}

/* ---- a LogPut's entries and grants ----------------------------------------------- */

enum { LP_VAULT, LP_ENTRY, LP_GRANT };

typedef struct lp_item {
  int kind;
  char vault[TK_MAX_VAULT_LEN + 1];
  uint32_t seq;                  /* LP_ENTRY: its seq; LP_VAULT: entries stored before */
  uint32_t total;                /* LP_VAULT: entries after this put */
  uint8_t id[TK_HASH_LEN];       /* LP_ENTRY: its id; LP_VAULT: its first new entry's */
  tk_grant_t g;                  /* LP_GRANT */
  size_t boff, blen, soff, slen; /* body and sig in bytes */
} lp_item_t;

struct hub_logput {
  hub_sjob_t base;
  lp_item_t *items;
  size_t n;
  tk_buf_t bytes;
  uint32_t accepted, dup;
  const lp_item_t *conflict; /* a vault whose log grew since the check */
};

hub_logput_t *tk__hub_logput_new(void)
{
  return calloc(1, sizeof(hub_logput_t));
}

void tk__hub_logput_free(hub_logput_t *lp)
{
  if (!lp) return;
  free(lp->items);
  tk_buf_free(&lp->bytes);
  free(lp);
}

static lp_item_t *lp_add(hub_logput_t *lp, int kind, const char *vault, tk_slice_t body,
                         tk_slice_t sig)
{
  lp_item_t *it = realloc(lp->items, (lp->n + 1) * sizeof *it);
  if (!it) return NULL;
  lp->items = it;
  it = &it[lp->n];
  memset(it, 0, sizeof *it);
  it->kind = kind;
  snprintf(it->vault, sizeof it->vault, "%s", vault);
  it->boff = lp->bytes.n;
  it->blen = body.n;
  if (body.n && tk_buf_append(&lp->bytes, body.p, body.n) != 0) return NULL;
  it->soff = lp->bytes.n;
  it->slen = sig.n;
  if (sig.n && tk_buf_append(&lp->bytes, sig.p, sig.n) != 0) return NULL;
  lp->n++;
  return it;
}

int tk__hub_logput_vault(hub_logput_t *lp, const char *vault, uint32_t stored,
                         uint32_t total, const uint8_t first_id[TK_HASH_LEN])
{
  lp_item_t *it =
      lp_add(lp, LP_VAULT, vault, (tk_slice_t){NULL, 0}, (tk_slice_t){NULL, 0});
  if (!it) return TK_ENOMEM;
  it->seq = stored;
  it->total = total;
  memcpy(it->id, first_id, TK_HASH_LEN);
  return 0;
}

int tk__hub_logput_entry(hub_logput_t *lp, const char *vault, uint32_t seq,
                         const uint8_t id[TK_HASH_LEN], tk_slice_t body, tk_slice_t sig)
{
  lp_item_t *it = lp_add(lp, LP_ENTRY, vault, body, sig);
  if (!it) return TK_ENOMEM;
  it->seq = seq;
  memcpy(it->id, id, TK_HASH_LEN);
  return 0;
}

int tk__hub_logput_grant(hub_logput_t *lp, const tk_grant_t *g, tk_slice_t body,
                         tk_slice_t sig)
{
  lp_item_t *it = lp_add(lp, LP_GRANT, g->vault, body, sig);
  if (!it) return TK_ENOMEM;
  it->g = *g;
  return 0;
}

static int logput_work(hub_sjob_t *j, tk_store_t *st, tk_err_t *err)
{
  hub_logput_t *lp = (hub_logput_t *)j;
  int rc = tk_store_begin(st, err);
  for (size_t i = 0; !rc && i < lp->n; i++) {
    const lp_item_t *it = &lp->items[i];
    tk_slice_t body = TK_SLICE(lp->bytes.p + it->boff, it->blen);
    tk_slice_t sig = TK_SLICE(lp->bytes.p + it->soff, it->slen);
    uint32_t have = 0;
    if (it->kind == LP_VAULT) {
      /* checked on the loop against the last commit: another session's
       * put queued before this one may have grown the log since */
      rc = tk_store_log_count(st, it->vault, &have, err);
      if (!rc && have != it->seq) {
        lp->conflict = it;
        tk_store_rollback(st);
        return 0;
      }
    } else if (it->kind == LP_ENTRY) {
      rc = tk_store_log_put(st, it->vault, it->seq, it->id, body, sig, err);
    } else {
      rc = tk_store_grant_put(st, it->g.vault, it->g.key_id, it->g.recipient,
                              it->g.granter, body, sig, err);
    }
  }
  if (!rc) rc = tk_store_commit(st, err);
  if (rc) tk_store_rollback(st);
  return rc;
}

static void logput_done(hub_sjob_t *j, session_t *s, int rc, const tk_err_t *e)
{
  hub_logput_t *lp = (hub_logput_t *)j;
  tk_hub_t *h = j->hub;
  tk_apply_result_t res;
  tk_reject_t rj;
  memset(&res, 0, sizeof res);
  memset(&rj, 0, sizeof rj);
  if (!rc && !lp->conflict) /* committed: the loop's replays are stale */
    for (size_t i = 0; i < lp->n; i++)
      if (lp->items[i].kind == LP_VAULT) tk__hub_log_forget(h, lp->items[i].vault);
  if (!s) goto done;
  if (rc) {
    tk__hub_fail_store(s, rc, e, "membership log");
    goto done;
  }
  if (lp->conflict) { /* what the check says when it sees the other entry */
    rj.code = TK_REJECT_ACCESS;
    memcpy(rj.id, lp->conflict->id, TK_HASH_LEN);
    snprintf(rj.reason, sizeof rj.reason,
             "vault %s log entry %u: the hub has another entry there (another "
             "change came first); sync and try again",
             lp->conflict->vault, lp->conflict->seq);
    TK_LOG(TK_LOG_WARN, "hub", "log put refused device=%s reason=\"%s\"", s->who,
           rj.reason);
    res.nrejected = 1;
    res.rejected = &rj;
  } else {
    for (size_t i = 0; i < lp->n; i++)
      if (lp->items[i].kind == LP_VAULT)
        TK_LOG(TK_LOG_INFO, "hub", "vault log vault=%s from=%s entries=%u",
               lp->items[i].vault, s->who, lp->items[i].total);
    res.accepted = lp->accepted;
    res.duplicates = lp->dup;
  }
  tk__hub_send_ack(s, &res);
done:
  tk__hub_logput_free(lp);
}

void tk__hub_store_log_put(session_t *s, hub_logput_t *lp, uint32_t accepted,
                           uint32_t dup)
{
  lp->accepted = accepted;
  lp->dup = dup;
  sjob_submit(s, &lp->base, logput_work, logput_done);
}
