/*
 * hub.c: the hub's listener and sessions (see tk_hub.h). A session walks
 * HELLO -> (ENROLL) -> READY; in READY it serves pushes, pulls, device
 * queries and grants, one exchange at a time, and anything out of order
 * is a protocol error that closes that session only. The data phases'
 * frames go to the session's responder (sync_responder.c) with the hub's
 * policy (hub_policy below; its chunk hooks in hub_chunks.c). Device
 * queries and grants are in hub_grants.c. Loop thread only.
 *
 * Back-pressure: a hub reads no further frame from a connection while more
 * than max_frame bytes it sent are unread (after each frame, on_frame
 * pauses the connection; on_drain resumes it once the queue is empty). A
 * device that pipelines Pulls and Needs without reading the answers thus
 * holds at most about two frames of the hub's memory, not one Offer or
 * Revisions per request; one that takes nothing for the idle time is
 * closed (conn.c's write stall). And the hub as a whole: while what it has
 * queued for all devices together is over out_budget_mb, a frame that
 * arrives is held (a copy, its session paused) and handled later, in
 * arrival order, as the queues drain, so a thousand offices pulling at
 * once do not each have a batch built in memory at the same time.
 *
 * Moderation never runs on the loop: a pushed batch, when the hub has
 * moderation rules, becomes a job (uv_queue_work) that parses each
 * revision and asks the rules for the verdicts of the whole batch at once
 * (tk_plugin_moderate_batch: about one request per rule) on a threadpool
 * thread, where the calls go to the set's jailed worker processes (a pool
 * of plugin_workers, so one office's slow rule holds one worker, not the
 * others' revisions). The session is paused meanwhile (no frame read);
 * when the verdicts are back, the batch is checked, committed and acked
 * as before (on the store thread, below), each revision's verdict applied where the
 * policy used to call the rules (a quarantined revision is kept aside).
 * Every store write, with or without moderation, runs on the hub's store
 * thread (hub_store.c): the session stays paused until its completion has
 * sent the Ack from the loop, after the commit; the push policy then runs
 * on that thread, on a hub_push_t (copies of what it reads of the session).
 * The verdicts of revisions that then fail their checks are dropped. A job
 * holds a reference to the plugin set it started with, so a reload swaps
 * in a new set (new workers) while jobs in flight finish on the old one,
 * freed with its workers when the last of them ends. A session that closes
 * meanwhile is detached from its job, whose batch is then dropped unacked.
 *
 * A hub made without a loop (tk_hub_new(..., NULL, ...): the fuzzer and
 * unit tests only) runs its rules in-process and inline, on the caller's
 * thread: there is no threadpool to queue on and no worker is started.
 */
#include "hub_internal.h"
#include "tk_hub_admin.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bytes the hub may have queued for all devices together before it holds
 * the frames that arrive (config out_budget_mb; see the top of this file). */
#define HUB_OUT_BUDGET(h) ((size_t)(h)->cfg.out_budget_mb << 20)
#include <unistd.h>

#include "tk_install.h"
#include "tk_meta.h"
#include "tk_office_plugins.h"
#include "tk_token.h"

#define ACL_POLL_MS 1000

/* A pushed batch waiting for its moderation verdicts (see the top). */
typedef struct mod_job {
  uv_work_t req;
  session_t *s; /* NULL once the session closed */
  tk_hub_t *hub;
  hub_plugins_t *plugins;
  size_t n;
  tk_buf_t bytes;                 /* the revisions, back to back */
  size_t *off, *len;              /* each revision in bytes */
  uint8_t (*want)[TK_REV_ID_LEN]; /* what each was asked for as */
  uint8_t (*rid)[TK_REV_ID_LEN];  /* the id it parses to */
  int *judged;                    /* 1: it parsed and v[i] holds its verdict */
  tk_plugin_verdict_t *v;
  size_t cursor;            /* push_policy's place: revisions come in batch order */
  uint64_t budget_ms;       /* the batch's moderation time (see job_work) */
  uint64_t calls, timeouts; /* rule checks made, and ran out of time (metrics) */
  atomic_int cancelled;     /* the session closed before the job ran: no rules */
} mod_job_t;

static void plugins_unref(hub_plugins_t *p)
{
  if (p && --p->refs == 0) {
    tk_plugin_set_free(p->set);
    free(p);
  }
}

void tk__hub_who(char out[16], const uint8_t id[TK_DEVICE_ID_LEN])
{
  char full[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(full, id);
  memcpy(out, full, 9);
  out[9] = '\0';
}

/* ---- sessions: bookkeeping ----------------------------------------------- */

void tk__hub_fail(session_t *s, Tunduk__V1__ErrorCode code, int reason, const char *msg)
{
  if (s->state == S_CLOSING) return;
  TK_LOG(TK_LOG_INFO, "hub", "closing device=%s reason=\"%s\"", s->who, msg);
  tk_sync_send_error(tk__hub_tp(s), code, "%s", msg);
  s->state = S_CLOSING;
  tk_conn_close(s->conn, reason, msg);
}

/* A push the store could not take: logged, and the device told why (a
 * full disk by name), with nothing of it kept. */
void tk__hub_fail_store(session_t *s, int rc, const tk_err_t *e, const char *what)
{
  char msg[300];
  TK_LOG(TK_LOG_ERROR, "hub", "push failed device=%s error=\"%s\"", s->who,
         tk_err_str(e));
  snprintf(msg, sizeof msg, "the hub could not store %s (%s); nothing of it was kept",
           what, strstr(e->msg, "full") ? "its disk is full" : tk_strerror(rc));
  tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, rc, msg);
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
  return tk_store_access_list(s->hub->store, s->peer.id, load_access_cb, s, err);
}

int tk__hub_access_in(const access_entry_t *a, size_t n, const char *vault)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(a[i].vault, vault) == 0)
      return a[i].write ? TK_ACCESS_WRITE : TK_ACCESS_READ;
  return TK_ACCESS_NONE;
}

int tk__hub_access(const session_t *s, const char *vault)
{
  return tk__hub_access_in(s->access, s->naccess, vault);
}

/* Fills an array of VaultAccess messages (pointing into s->access). */
static Tunduk__V1__VaultAccess **access_msgs(const session_t *s,
                                             Tunduk__V1__VaultAccess *store)
{
  Tunduk__V1__VaultAccess **v = calloc(s->naccess ? s->naccess : 1, sizeof *v);
  if (!v) return NULL;
  for (size_t i = 0; i < s->naccess; i++) {
    tunduk__v1__vault_access__init(&store[i]);
    store[i].vault = (char *)s->access[i].vault;
    store[i].write = s->access[i].write;
    v[i] = &store[i];
  }
  return v;
}

/* ---- hello and enrollment -------------------------------------------------- */

static void send_hello(session_t *s, int enrolled)
{
  tk_hub_t *h = s->hub;
  Tunduk__V1__Identity ident;
  uint8_t kx_sig[TK_SIG_LEN];
  Tunduk__V1__VaultAccess *store = calloc(s->naccess ? s->naccess : 1, sizeof *store);
  Tunduk__V1__VaultAccess **v = store ? access_msgs(s, store) : NULL;
  if (!v || tk_wire_identity(&ident, h->id, kx_sig) != 0) {
    free(store);
    free(v);
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, TK_ENOMEM,
                 "cannot build hello");
    return;
  }
  Tunduk__V1__Hello m = TUNDUK__V1__HELLO__INIT;
  m.protocol_min = m.protocol_max = s->version;
  m.identity = &ident;
  m.software = TK_SOFTWARE_HUB;
  m.enrolled = enrolled;
  m.n_access = enrolled ? s->naccess : 0;
  m.access = v;
  uint64_t end = 0;
  if (enrolled) { /* an office's checks of a restored store (PROTOCOL.md) */
    m.store_id = tk_pb_bytes(h->store_id, TK_HUB_STORE_ID_LEN);
    if (tk_store_last_seq(h->store, &end, NULL) == 0) m.feed_end = end;
  }
  tk_sync_send_msg(tk__hub_tp(s), TUNDUK__V1__FRAME__MSG_HELLO, &m);
  free(v);
  free(store);
}

static void on_hello(session_t *s, const Tunduk__V1__Hello *m)
{
  tk_err_t e;
  tk_device_info_t d;
  /* the highest version both speak: a hub takes what every version since
   * TK_PROTOCOL_MIN sends (protocol 3 only adds steps, which a client
   * asks for) */
  s->version =
      m->protocol_max < TK_PROTOCOL_VERSION ? m->protocol_max : TK_PROTOCOL_VERSION;
  if (s->version < m->protocol_min || s->version < TK_PROTOCOL_MIN) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_VERSION, TK_EPROTO,
                 "no common protocol version (this hub speaks " TK_STR(
                     TK_PROTOCOL_MIN) ".." TK_STR(TK_PROTOCOL_VERSION) ")");
    return;
  }
  if (tk_wire_identity_check(m->identity, s->spki, &s->peer, &e) != 0) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_IDENTITY, TK_EPROTO, tk_err_str(&e));
    return;
  }
  tk__hub_who(s->who, s->peer.id);
  int rc = tk_store_device_get(s->hub->store, s->peer.id, &d, &e);
  if (rc == TK_ENOTFOUND) {
    s->state = S_ENROLL;
    TK_LOG(TK_LOG_INFO, "hub", "hello device=%s known=no", s->who);
    send_hello(s, 0);
    return;
  }
  if (rc) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, rc, tk_err_str(&e));
    return;
  }
  if (d.revoked) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_REVOKED, TK_EACCESS,
                 "this device was revoked");
    return;
  }
  if (load_access(s, &e) != 0) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, TK_ESTORE, tk_err_str(&e));
    return;
  }
  if (tk__hub_preauth_done(s) != 0) return; /* max_connections: refused */
  s->state = S_READY;
  tk__hub_status_ready(s);
  /* The admin-given name only at debug: SECURITY.md, "What the hub logs". */
  TK_LOG(TK_LOG_INFO, "hub", "hello device=%s known=yes", s->who);
  TK_LOG(TK_LOG_DEBUG, "hub", "hello device=%s name=%s", s->who, d.name);
  send_hello(s, 1);
}

static void enroll_done(session_t *s, int rc, const tk_err_t *re,
                        const tk_device_info_t *d);

static void on_enroll(session_t *s, const Tunduk__V1__Enroll *m)
{
  tk_device_info_t d;
  if (m->token_id.len != TK_TOKEN_ID_LEN || m->secret.len != TK_TOKEN_SECRET_LEN) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_BAD_TOKEN, TK_EACCESS,
                 "malformed enrollment token");
    return;
  }
  if (!tk__hub_preauth_room(s->hub)) { /* before the token is spent */
    s->hub->pa.refused_full++;
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_LIMIT, TK_ELIMIT,
                 "too many connections (max_connections); the token is still unused");
    return;
  }
  memset(&d, 0, sizeof d);
  memcpy(d.id, s->peer.id, TK_DEVICE_ID_LEN);
  memcpy(d.sign_pk, s->peer.sign_pk, TK_SIGN_PK_LEN);
  memcpy(d.kx_pk, s->peer.kx_pk, TK_KX_PK_LEN);
  memcpy(d.kx_sig, s->peer.kx_sig, TK_SIG_LEN);
  d.has_kx_sig = 1;
  /* redeemed on the store thread; enroll_done once it is committed */
  tk__hub_store_enroll(s, m->token_id.data, m->secret.data, &d, enroll_done);
}

/* Loop: the token was redeemed for d (rc 0), or not. */
static void enroll_done(session_t *s, int rc, const tk_err_t *re,
                        const tk_device_info_t *dp)
{
  tk_err_t e;
  tk_device_info_t d = *dp;
  if (rc) {
    tk__hub_fail(s,
                 rc == TK_EACCESS ? TUNDUK__V1__ERROR_CODE__ERROR_BAD_TOKEN
                                  : TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL,
                 rc, tk_err_str(re));
    return;
  }
  if (load_access(s, &e) != 0) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, TK_ESTORE, tk_err_str(&e));
    return;
  }
  TK_LOG(TK_LOG_INFO, "hub", "enrolled device=%s vaults=%zu", s->who, s->naccess);
  TK_LOG(TK_LOG_DEBUG, "hub", "enrolled device=%s name=%s", s->who, d.name);
  if (tk__hub_preauth_done(s) != 0) return; /* cannot happen: room was checked */
  s->state = S_READY;
  tk__hub_status_ready(s);
  Tunduk__V1__VaultAccess *store = calloc(s->naccess ? s->naccess : 1, sizeof *store);
  Tunduk__V1__VaultAccess **v = store ? access_msgs(s, store) : NULL;
  Tunduk__V1__Enrolled en = TUNDUK__V1__ENROLLED__INIT;
  en.n_access = v ? s->naccess : 0;
  en.access = v;
  tk_sync_send_msg(tk__hub_tp(s), TUNDUK__V1__FRAME__MSG_ENROLLED, &en);
  free(v);
  free(store);
}

/* ---- push: the hub's checks on what the device sends ------------------------ */

static int moderate(hub_push_t *s, const tk_rev_t *rev, char *reason, size_t len);

/* On the store thread (hub_store.c), or inline without a loop: touches
 * only the hub_push_t (see hub_internal.h). */
int tk__hub_push_policy(void *ctx, const tk_rev_t *rev, char *reason, size_t len)
{
  hub_push_t *s = ctx;
  char who[16];
  if (tk__hub_access_in(s->access, s->naccess, rev->vault) != TK_ACCESS_WRITE) {
    snprintf(reason, len, "device %s may not write vault '%s'", s->who, rev->vault);
    return TK_REJECT_ACCESS;
  }
  if (memcmp(rev->author, s->peer_id, TK_DEVICE_ID_LEN) != 0) {
    int mode = TK_ACCESS_NONE;
    if (tk_store_access_get(s->store, rev->author, rev->vault, &mode, NULL) != 0 ||
        mode != TK_ACCESS_WRITE) {
      tk__hub_who(who, rev->author);
      snprintf(reason, len, "author device %s may not write vault '%s'", who, rev->vault);
      return TK_REJECT_ACCESS;
    }
  }
  int mcode = tk__hub_member_check(s, rev, reason, len);
  if (mcode) return mcode;
  if (rev->nattach > 0) {
    int code = tk__hub_attachment_limits(s, rev, reason, len);
    if (code) return code;
  }
  return moderate(s, rev, reason, len);
}

/* The hub's moderation rules on an incoming revision (metadata only: the
 * hub holds no vault key). */
static int moderate(hub_push_t *s, const tk_rev_t *rev, char *reason, size_t len)
{
  int code;
  mod_job_t *j = s->applying;
  if (j) {
    const tk_plugin_verdict_t *v = NULL;
    for (size_t k = 0; k < j->n && !v; k++) {
      size_t i = (j->cursor + k) % j->n;
      if (j->judged[i] && memcmp(j->rid[i], rev->id, TK_REV_ID_LEN) == 0) {
        v = &j->v[i];
        j->cursor = i + 1;
      }
    }
    tk_plugin_verdict_t none;
    if (!v) { /* NEVER: apply parsed what the job could not */
      memset(&none, 0, sizeof none);
      none.verdict = TK_VERDICT_QUARANTINE;
      snprintf(none.reason, sizeof none.reason, "moderation did not run on it");
      v = &none;
    }
    code = tk_sync_moderate_apply(v, s->store, rev, s->peer_id, reason, len);
  } else {
    code = tk_sync_moderate(s->set, s->store, rev, (tk_slice_t){NULL, 0}, s->peer_id,
                            reason, len);
  }
  if (code == TK_REJECT_QUARANTINED) {
    char rid[2 * TK_REV_ID_LEN + 1];
    tk_hex_encode(rid, rev->id, TK_REV_ID_LEN);
    TK_LOG(TK_LOG_WARN, "hub", "quarantined device=%s rev=%.16s reason=\"%s\"", s->who,
           rid, reason);
  }
  return code;
}

void tk__hub_send_ack(session_t *s, const tk_apply_result_t *r)
{
  tk_sync_send_ack(tk__hub_tp(s), r);
}

static void job_free(mod_job_t *j)
{
  if (!j) return;
  plugins_unref(j->plugins);
  tk_buf_free(&j->bytes);
  free(j->off);
  free(j->len);
  free(j->want);
  free(j->rid);
  free(j->judged);
  free(j->v);
  free(j);
}

/* Threadpool: the verdict of every revision that parses, all of them in
 * one tk_sync_moderation_verdicts call (about one worker request per rule
 * for the batch). Touches nothing but the job (and the plugin set, which
 * is safe from any thread). The office waits for this batch's Ack and
 * gives up after its idle timeout, then sends the same batch again: so
 * the call's budget is half the idle timeout (rules that keep hitting
 * their deadline), and the revisions it did not judge by then are
 * quarantined without a call. Held, never accepted, never lost, and the
 * office makes progress. */
static void job_work(uv_work_t *req)
{
  mod_job_t *j = req->data;
  tk_rev_t *revs = calloc(j->n ? j->n : 1, sizeof *revs);
  const tk_rev_t **revp = calloc(j->n ? j->n : 1, sizeof *revp);
  if (!revs || !revp || atomic_load(&j->cancelled)) goto done;
  for (size_t i = 0; i < j->n; i++) {
    if (tk_rev_parse(&revs[i], TK_SLICE(j->bytes.p + j->off[i], j->len[i]), NULL) != 0)
      continue;
    memcpy(j->rid[i], revs[i].id, TK_REV_ID_LEN);
    revp[i] = &revs[i];
  }
  /* ENOMEM leaves every verdict unjudged: held below, as past the budget. */
  tk_sync_moderation_verdicts(j->plugins->set, revp, NULL, NULL, NULL, j->n, j->budget_ms,
                              j->v);
  size_t nrules = tk_plugin_set_count(j->plugins->set, TK_PLUGIN_MODERATION);
  for (size_t i = 0; i < j->n; i++) {
    if (!revp[i]) continue;
    tk_plugin_verdict_t *v = &j->v[i];
    j->calls += nrules;
    if (v->verdict == TK_VERDICT_UNJUDGED || strstr(v->reason, "time limit exceeded"))
      j->timeouts++;
    if (v->verdict == TK_VERDICT_UNJUDGED) {
      memset(v, 0, sizeof *v);
      v->verdict = TK_VERDICT_QUARANTINE;
      snprintf(v->plugin, sizeof v->plugin, "the hub");
      snprintf(v->rule, sizeof v->rule, "batch-time");
      snprintf(v->reason, sizeof v->reason,
               "the moderation of its batch ran past %llu ms; not checked",
               (unsigned long long)j->budget_ms);
    }
    j->judged[i] = 1;
  }
done:
  free(revs);
  free(revp);
}

void tk__hub_mod_job_free(mod_job_t *j)
{
  job_free(j);
}

static void after_frame(session_t *s);
static void hub_wake(tk_hub_t *h);

void tk__hub_resume(session_t *s)
{
  after_frame(s);
  hub_wake(s->hub);
}

/* Loop: the verdicts are in; the batch goes to the store thread as
 * hub_apply would have sent it (hub_store.c), with j for its verdicts. */
static void job_done(uv_work_t *req, int status)
{
  mod_job_t *j = req->data;
  session_t *s = j->s;
  if (s) s->job = NULL;
  if (status == 0) tk__hub_status_plugins(j->hub, j->calls, j->timeouts);
  if (s && status == 0 && s->state == S_READY && !s->hub->stopping) {
    tk_slice_t *revs = calloc(j->n, sizeof *revs), *ids = calloc(j->n, sizeof *ids);
    if (!revs || !ids) {
      tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, TK_ENOMEM, "out of memory");
    } else {
      for (size_t i = 0; i < j->n; i++) {
        revs[i] = TK_SLICE(j->bytes.p + j->off[i], j->len[i]);
        ids[i] = TK_SLICE(j->want[i], TK_REV_ID_LEN);
      }
      tk__hub_store_batch(s, revs, ids, j->n, j); /* j is the store job's now */
      j = NULL;
    }
    free(revs);
    free(ids);
  }
  if (s) tk__hub_resume(s); /* no-op while its store job is out */
  job_free(j);
}

/* Queues the moderation of a pushed batch (see the top); the session stays
 * paused until job_done. 0, or TK_ENOMEM/an uv error (nothing queued). */
static int job_start(session_t *s, const tk_slice_t *revs, const tk_slice_t *ids,
                     size_t n)
{
  size_t total = 0;
  mod_job_t *j = calloc(1, sizeof *j);
  if (!j) return TK_ENOMEM;
  j->n = n;
  j->off = calloc(n, sizeof *j->off);
  j->len = calloc(n, sizeof *j->len);
  j->want = calloc(n, TK_REV_ID_LEN);
  j->rid = calloc(n, TK_REV_ID_LEN);
  j->judged = calloc(n, sizeof *j->judged);
  j->v = calloc(n, sizeof *j->v);
  for (size_t i = 0; i < n; i++)
    total += revs[i].n;
  if (!j->off || !j->len || !j->want || !j->rid || !j->judged || !j->v ||
      tk_buf_reserve(&j->bytes, total ? total : 1) < 0) {
    job_free(j);
    return TK_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    j->off[i] = j->bytes.n;
    j->len[i] = revs[i].n;
    if (revs[i].n) tk_buf_append(&j->bytes, revs[i].p, revs[i].n);
    memcpy(j->want[i], ids[i].p, TK_REV_ID_LEN);
  }
  j->plugins = s->hub->plugins;
  j->plugins->refs++;
  j->req.data = j;
  j->s = s;
  j->hub = s->hub;
  j->budget_ms = s->hub->cfg.idle_timeout_ms / 2;
  atomic_init(&j->cancelled, 0);
  int r = uv_queue_work(s->hub->loop, &j->req, job_work, job_done);
  if (r) {
    job_free(j);
    return TK_EIO;
  }
  s->job = j;
  tk_conn_pause(s->conn);
  return 0;
}

/* The hub's apply step for a pushed batch (tk_rev_apply_fn, tk_sync.h):
 * with moderation rules, queued off the loop (job_start; job_done stores
 * and acks it); without rules, or without a loop (fuzzer, unit tests),
 * stored on the store thread (hub_store.c; inline without a loop) and acked
 * once committed. */
static int hub_apply(void *ctx, const tk_slice_t *revs, const tk_slice_t *ids, size_t n)
{
  session_t *s = ctx;
  tk_plugin_set_t *set = s->hub->plugins->set;
  if (s->hub->loop && tk_plugin_set_count(set, TK_PLUGIN_MODERATION) > 0)
    return job_start(s, revs, ids, n);
  tk__hub_store_batch(s, revs, ids, n, NULL); /* copied; acked once stored */
  return 0;
}

/* ---- the hub's policy: what the responder asks of it ----------------------- */

static int pull_filter(void *ctx, const tk_rev_meta_t *m)
{
  return tk__hub_access(ctx, m->vault) != TK_ACCESS_NONE;
}

static void resp_store_chunk(void *ctx, uint32_t index, tk_slice_t data)
{
  tk__hub_store_chunk(ctx, index, data); /* acked once committed (hub_store.c) */
}

static void resp_fail(void *ctx, Tunduk__V1__ErrorCode code, int rc, const char *msg)
{
  session_t *s = ctx;
  if (!msg) { /* hub_apply did not start */
    tk_plugin_set_t *set = s->hub->plugins->set;
    int queued = s->hub->loop && tk_plugin_set_count(set, TK_PLUGIN_MODERATION) > 0;
    msg = queued ? "cannot queue the batch's moderation" : "out of memory";
  }
  tk__hub_fail(s, code, rc, msg);
}

static void resp_fail_store(void *ctx, int rc, const tk_err_t *e, const char *what)
{
  tk__hub_fail_store(ctx, rc, e, what);
}

/* Pushes taken: the access list, membership, attachment limits and
 * metadata moderation (hub_apply), chunks of vaults the device may write
 * stored on the store thread; pulls answered: what the device may read. */
static const tk_sync_policy_t hub_policy = {
    .offer_rev = pull_filter,
    .apply = hub_apply,
    .offer_chunk = tk__hub_chunk_filter,
    .accept_chunk = tk__hub_chunk_accept,
    .store_chunk = resp_store_chunk,
    .fail = resp_fail,
    .fail_store = resp_fail_store,
};

/* A new session's responder. */
static void session_resp_init(session_t *s)
{
  tk_sync_responder_init(&s->resp, s->hub->store, &hub_policy, s, s->hub->cfg.batch_bytes,
                         "hub", s->who);
  s->resp.peer = s->peer.id; /* known before any data frame: the Hello comes first */
}

/* ---- connection callbacks --------------------------------------------------- */

static void on_ready(tk_conn_t *c, const uint8_t peer_spki[TK_HASH_LEN])
{
  session_t *s = tk_conn_data(c);
  memcpy(s->spki, peer_spki, TK_HASH_LEN);
  s->state = S_HELLO;
}

/* One frame of a session, whenever it is handled (on arrival, or later
 * when it was held). */
static void handle_frame(session_t *s, tk_slice_t payload)
{
  tk_conn_t *c = s->conn;
  tk_frame_t *f = tk_wire_decode(payload);
  if (!f) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO,
                 "frame does not decode as a known message");
    return;
  }
  int k = f->msg_case;
  if (k == TUNDUK__V1__FRAME__MSG_BYE) {
    s->state = S_CLOSING;
    tk_conn_close(c, 0, NULL);
  } else if (k == TUNDUK__V1__FRAME__MSG_ERROR) {
    TK_LOG(TK_LOG_INFO, "hub", "device=%s sent error code=%d", s->who, f->error->code);
    s->state = S_CLOSING;
    tk_conn_close(c, TK_EPROTO, "peer sent an error");
  } else if (s->state == S_HELLO) {
    if (k == TUNDUK__V1__FRAME__MSG_HELLO)
      on_hello(s, f->hello);
    else
      tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO,
                   "expected hello");
  } else if (s->state == S_ENROLL) {
    if (k == TUNDUK__V1__FRAME__MSG_ENROLL)
      on_enroll(s, f->enroll);
    else
      tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_UNKNOWN_DEVICE, TK_EACCESS,
                   "this device is not enrolled at this hub");
  } else if (s->state == S_READY) {
    switch (k) {
    case TUNDUK__V1__FRAME__MSG_DEVICE_QUERY:
      tk__hub_on_device_query(s, f->device_query);
      break;
    case TUNDUK__V1__FRAME__MSG_LOG_PUT:
      tk__hub_on_log_put(s, f->log_put);
      break;
    case TUNDUK__V1__FRAME__MSG_LOG_QUERY:
      tk__hub_on_log_query(s, f->log_query);
      break;
    case TUNDUK__V1__FRAME__MSG_GRANT_PUT:
      tk__hub_on_grant_put(s, f->grant_put);
      break;
    case TUNDUK__V1__FRAME__MSG_GRANT_QUERY:
      tk__hub_on_grant_query(s);
      break;
    default: /* the data phases' frames: the responder's */
      if (!tk_sync_responder_take(&s->resp, tk__hub_tp(s), f))
        tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO,
                     "unexpected message");
    }
  } else {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO,
                 "message before the handshake");
  }
  tk_wire_free(f);
}

/* What the hub has queued for every device together. */
static size_t hub_queued(const tk_hub_t *h)
{
  size_t n = 0;
  for (const session_t *s = h->sessions; s; s = s->next)
    n += tk_conn_write_queue(s->conn);
  return n;
}

/* After a frame (see the top of this file): a device that does not read
 * what we sent gets nothing more read from it until it has. */
static void after_frame(session_t *s)
{
  if (s->state == S_CLOSING || s->job || s->sjob) return; /* a job resumes it when done */
  if (tk_conn_write_queue(s->conn) > s->hub->cfg.max_frame) {
    TK_LOG(TK_LOG_DEBUG, "hub", "paused device=%s unread=%zu", s->who,
           tk_conn_write_queue(s->conn));
    tk_conn_pause(s->conn);
  } else {
    tk_conn_resume(s->conn); /* no-op unless it was held */
  }
}

/* Handles held frames, oldest first, while the hub is under its budget. */
static void hub_wake(tk_hub_t *h)
{
  while (!h->stopping && h->wait_head && hub_queued(h) <= HUB_OUT_BUDGET(h)) {
    session_t *s = h->wait_head;
    h->wait_head = s->wait_next;
    if (!h->wait_head) h->wait_tail = NULL;
    s->wait_next = NULL;
    s->holding = 0;
    tk_buf_t held = s->held;
    s->held = (tk_buf_t)TK_BUF_INIT;
    if (s->state != S_CLOSING) handle_frame(s, TK_SLICE(held.p, held.n));
    tk_buf_free(&held);
    after_frame(s);
  }
}

static void on_frame(tk_conn_t *c, tk_slice_t payload)
{
  session_t *s = tk_conn_data(c);
  tk_hub_t *h = s->hub;
  if (s->state == S_CLOSING) return;
  if (h->wait_head || hub_queued(h) > HUB_OUT_BUDGET(h)) {
    /* hold it (after those held before it); nothing more is read meanwhile */
    TK_LOG(TK_LOG_DEBUG, "hub", "held device=%s queued=%zu", s->who, hub_queued(h));
    if (tk_buf_append(&s->held, payload.p, payload.n) != 0) {
      tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, TK_ENOMEM, "out of memory");
      return;
    }
    s->holding = 1;
    if (h->wait_tail)
      h->wait_tail->wait_next = s;
    else
      h->wait_head = s;
    h->wait_tail = s;
    tk_conn_pause(c);
    return;
  }
  handle_frame(s, payload);
  after_frame(s);
}

/* The device has read all we sent: frames are read again (unless one is
 * held), and held frames may go on. */
static void on_drain(tk_conn_t *c)
{
  session_t *s = tk_conn_data(c);
  if (!s->holding && !s->job && !s->sjob) tk_conn_resume(c);
  hub_wake(s->hub);
}

static void on_close(tk_conn_t *c, int reason)
{
  session_t *s = tk_conn_data(c);
  tk_hub_t *h = s->hub;
  TK_LOG(TK_LOG_DEBUG, "hub", "closed device=%s reason=%d %s", s->who, reason,
         reason ? tk_conn_error(c) : "");
  tk__hub_status_closed(s);
  if (s->prev)
    s->prev->next = s->next;
  else
    h->sessions = s->next;
  if (s->next) s->next->prev = s->prev;
  h->nsessions--;
  tk__hub_preauth_leave(s);
  if (s->holding) { /* out of the wait list */
    session_t **pp = &h->wait_head, *last = NULL;
    while (*pp != s) {
      last = *pp;
      pp = &(*pp)->wait_next;
    }
    *pp = s->wait_next;
    if (h->wait_tail == s) h->wait_tail = last;
  }
  if (s->job) { /* it ends on its own, its batch unacked */
    s->job->s = NULL;
    atomic_store(&s->job->cancelled, 1);
  }
  tk__hub_store_detach(s); /* its store job commits or rolls back; nothing is sent */
  tk_buf_free(&s->held);
  tk_sync_responder_free(&s->resp);
  free(s->access);
  free(s);
  hub_wake(h); /* what it had queued is gone */
}

static const tk_conn_cbs_t session_cbs = {on_ready, on_frame, on_close, on_drain};

static void on_connection(uv_stream_t *server, int status)
{
  tk_hub_t *h = server->data;
  tk_err_t e;
  if (status < 0 || h->stopping) return;
  session_t *s = calloc(1, sizeof *s);
  if (!s) return;
  s->hub = h;
  snprintf(s->who, sizeof s->who, "-");
  session_resp_init(s);
  tk_conn_opts_t opts = {.max_frame = h->cfg.max_frame,
                         .handshake_timeout_ms = h->cfg.handshake_timeout_ms,
                         .idle_timeout_ms = h->cfg.idle_timeout_ms};
  if (tk_conn_accept(server, h->tls, &opts, &session_cbs, s, &s->conn, &e) != 0) {
    TK_LOG(TK_LOG_WARN, "hub", "accept failed: %s", tk_err_str(&e));
    free(s);
    return;
  }
  tk_conn_set_frame_min_rate(s->conn, h->cfg.frame_min_rate);
  tk__hub_status_accepted(h);
  s->next = h->sessions;
  if (h->sessions) h->sessions->prev = s;
  h->sessions = s;
  h->nsessions++;
  /* Unauthenticated: a small frame limit, a deadline, a bounded share of
   * connections (hub_preauth.c); max_connections counts authenticated
   * sessions only, at their Hello. */
  tk__hub_preauth_admit(h, s);
}

/* ---- revocation: another process changed the access lists ------------------ */

static void on_acl_timer(uv_timer_t *t)
{
  tk_hub_t *h = t->data;
  char v[64] = "";
  uint64_t end = 0;
  tk_err_t me;
  /* the feed end served, for a store put back by hand (hub_identity.c) */
  if (tk_store_last_seq(h->store, &end, NULL) == 0 && end > h->mark_end) {
    if (tk_hub_store_mark(tk_office_home_dir(h->home), h->store_id, end, &me) == 0)
      h->mark_end = end;
    else
      TK_LOG(TK_LOG_WARN, "hub", "%s", tk_err_str(&me));
  }
  if (tk_store_meta_get(h->store, TK_META_ACL_VERSION, v, sizeof v, NULL) != 0)
    v[0] = '\0';
  if (strcmp(v, h->acl_version) == 0) return;
  snprintf(h->acl_version, sizeof h->acl_version, "%s", v);
  for (session_t *s = h->sessions, *next; s; s = next) {
    next = s->next;
    if (s->state != S_READY) continue;
    tk_device_info_t d;
    tk_err_t e;
    if (tk_store_device_get(h->store, s->peer.id, &d, NULL) != 0 || d.revoked)
      tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_REVOKED, TK_EACCESS,
                   "this device was revoked");
    else if (load_access(s, &e) != 0)
      tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, TK_ESTORE, tk_err_str(&e));
  }
}

/* ---- the hub ---------------------------------------------------------------- */

int tk_hub_new(tk_hub_t **out, uv_loop_t *loop, tk_office_t *home, const tk_config_t *cfg,
               tk_err_t *err)
{
  tk_hub_t *h = calloc(1, sizeof *h);
  *out = NULL;
  if (!h) return tk_err_set(err, TK_ENOMEM, "out of memory");
  h->loop = loop;
  h->home = home;
  h->store = tk_office_store(home);
  h->id = tk_office_identity(home);
  h->cfg = *cfg;
  int rc = tk_tls_new(&h->tls, h->id, 1, err);
  /* Tickets live as long as this hub: a restart makes new keys. */
  if (!rc) rc = tk_tls_enable_tickets(h->tls, cfg->tls_ticket_lifetime_s, err);
  if (!rc) rc = tk_hub_reload_plugins(h, err);
  if (!rc) rc = tk_hub_store_identity(home, h->store_id, &h->mark_end, err);
  if (!rc) rc = tk__hub_status_new(h, err);
  if (!rc) rc = tk__hub_store_start(h, err);
  if (rc) {
    tk_hub_free(h);
    return rc;
  }
  if (tk_store_meta_get(h->store, TK_META_ACL_VERSION, h->acl_version,
                        sizeof h->acl_version, NULL))
    h->acl_version[0] = '\0';
  *out = h;
  return 0;
}

int tk_hub_listen(tk_hub_t *h, tk_err_t *err)
{
  char host[TK_TOKEN_MAX_ADDR + 1];
  int port, r;
  struct sockaddr_storage ss;
  if (tk_addr_split(h->cfg.listen, host, &port) != 0)
    return tk_err_set(err, TK_EINVAL, "listen address '%s' is not host:port",
                      h->cfg.listen);
  if (strchr(host, ':'))
    r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
  else
    r = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
  if (r)
    return tk_err_set(err, TK_EINVAL, "listen address '%s': %s", h->cfg.listen,
                      uv_strerror(r));
  uv_tcp_init(h->loop, &h->listener);
  h->listener.data = h;
  h->listening = 1;
  r = uv_tcp_bind(&h->listener, (struct sockaddr *)&ss, 0);
  if (!r)
    r = uv_listen((uv_stream_t *)&h->listener, 4096,
                  on_connection); /* the kernel caps it at somaxconn */
  if (r)
    return tk_err_set(err, TK_EIO, "cannot listen on %s: %s", h->cfg.listen,
                      uv_strerror(r));
  int len = sizeof ss;
  uv_tcp_getsockname(&h->listener, (struct sockaddr *)&ss, &len);
  char ip[64], addr[80];
  if (ss.ss_family == AF_INET6) {
    uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
    port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    TK_LOG(TK_LOG_INFO, "hub", "listening addr=[%s]:%d", ip, port);
    snprintf(addr, sizeof addr, "[%s]:%d", ip, port);
  } else {
    uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    TK_LOG(TK_LOG_INFO, "hub", "listening addr=%s:%d", ip, port);
    snprintf(addr, sizeof addr, "%s:%d", ip, port);
  }
  tk__hub_status_listening(h, addr);
  uv_timer_init(h->loop, &h->acl_timer);
  h->acl_timer.data = h;
  h->timer_on = 1;
  uv_timer_start(&h->acl_timer, on_acl_timer, ACL_POLL_MS, ACL_POLL_MS);
  tk__hub_preauth_start(h);
  return tk__hub_control_start(h, err); /* tundukd status asks there */
}

void tk_hub_stop(tk_hub_t *h)
{
  if (h->stopping) return;
  h->stopping = 1;
  if (h->listening) uv_close((uv_handle_t *)&h->listener, NULL);
  if (h->timer_on) uv_close((uv_handle_t *)&h->acl_timer, NULL);
  tk__hub_preauth_stop(h);
  for (session_t *s = h->sessions, *next; s; s = next) {
    next = s->next;
    if (s->state == S_CLOSING) continue;
    if (s->state == S_READY || s->state == S_HELLO || s->state == S_ENROLL)
      tk_sync_send_error(tk__hub_tp(s), TUNDUK__V1__ERROR_CODE__ERROR_SHUTDOWN,
                         "the hub is stopping");
    s->state = S_CLOSING;
    tk_conn_close(s->conn, 0, "hub stopping");
  }
  tk__hub_status_stop(h); /* last seen times queued; the control socket closes */
  tk__hub_store_stop(h);  /* the queued writes finish; the loop ends after them */
}

int tk_hub_plugin_layers(const tk_config_t *cfg, const char *home,
                         tk_office_layers_t *out, tk_err_t *err)
{
  int rc = tk_office_plugin_layers(home, out, err);
  if (rc) return rc;
  out->v[0].dir = tk_install_plugin_dir(); /* not $TUNDUK_PLUGINS: the hub's own */
  out->v[0].optional = 1;                  /* a hub may run on its own plugins only */
  if (cfg->plugins[0]) {                   /* the configured folder must be there */
    snprintf(out->home, sizeof out->home, "%s", cfg->plugins);
    out->v[2].optional = 0;
  }
  if (!out->v[0].dir[0]) { /* no bundled folder at all: leave the layer out */
    out->v[0] = out->v[1];
    out->v[1] = out->v[2];
    out->n = 2;
  }
  return 0;
}

int tk_hub_reload_plugins(tk_hub_t *h, tk_err_t *err)
{
  tk_office_layers_t layers;
  tk_plugin_set_t *next = NULL;
  int rc = tk_hub_plugin_layers(&h->cfg, tk_office_home_dir(h->home), &layers, err);
  if (rc) return rc;
  hub_plugins_t *hp = calloc(1, sizeof *hp);
  if (!hp) return tk_err_set(err, TK_ENOMEM, "plugins: out of memory");
  /* With a loop (tundukd): jailed workers. Without (fuzzer, unit tests):
   * in-process, inline (see the top of this file). */
  tk_plugin_limits_t lim;
  memset(&lim, 0, sizeof lim);
  lim.call_ms = h->cfg.plugin_call_ms;
  rc = h->loop ? tk_plugin_set_new_jailed(&next, &lim, h->cfg.plugin_workers, err)
               : tk_plugin_set_new(&next, &lim);
  if (rc) {
    free(hp);
    return h->loop ? rc : tk_err_set(err, rc, "plugins: out of memory");
  }
  const char *top = layers.v[0].dir;
  for (size_t i = 0; i < layers.n; i++) {
    int there = access(layers.v[i].dir, F_OK) == 0;
    if (there) top = layers.v[i].dir;
    TK_LOG(TK_LOG_INFO, "hub", "plugins layer=%s folder=%s%s", layers.v[i].name,
           layers.v[i].dir, there ? "" : " (none)");
  }
  /* A file that fails now keeps the version the running set has of it. */
  tk_err_t e;
  rc = tk_plugin_set_load_layers(next, layers.v, layers.n,
                                 h->plugins ? h->plugins->set : NULL, &e);
  if (rc) {
    tk_plugin_set_free(next);
    free(hp);
    return tk_err_set(err, rc, "plugins: %s", tk_err_str(&e));
  }
  for (size_t i = 0; i < tk_plugin_set_load_errors(next); i++)
    TK_LOG(TK_LOG_ERROR, "hub", "plugin not loaded: %s",
           tk_plugin_set_load_error(next, i));
  /* Jobs in flight keep the old set (and its workers) until they end. */
  hp->set = next;
  hp->refs = 1;
  plugins_unref(h->plugins);
  h->plugins = hp;
  TK_LOG(
      TK_LOG_INFO, "hub",
      "plugins folder=%s moderation_rules=%zu failed=%zu jailed=%s workers=%u kept=%zu",
      top, tk_plugin_set_count(next, TK_PLUGIN_MODERATION),
      tk_plugin_set_load_errors(next), tk_plugin_set_jailed(next) ? "yes" : "no",
      h->cfg.plugin_workers, tk_plugin_set_kept(next));
  if (tk_plugin_set_count(next, TK_PLUGIN_MODERATION) == 0)
    TK_LOG(TK_LOG_WARN, "hub", "no moderation rules: every revision is accepted");
  return 0;
}

void tk_hub_free(tk_hub_t *h)
{
  if (!h) return;
  tk__hub_store_free(h);
  tk__hub_control_free(h);
  tk__hub_status_free(h);
  tk__hub_logs_free(h);
  plugins_unref(h->plugins);
  tk_tls_free(h->tls);
  free(h);
}

size_t tk_hub_sessions(const tk_hub_t *h)
{
  return h->nsessions;
}

/* ---- for tests and fuzzing: a session without a socket ---------------------- */

int tk_hub_attach(tk_hub_t *h, tk_conn_sink_fn sink, void *sink_ctx,
                  const uint8_t peer_spki[TK_HASH_LEN], tk_conn_t **out, tk_err_t *err)
{
  *out = NULL;
  if (h->stopping) return tk_err_set(err, TK_ECLOSED, "the hub is stopping");
  session_t *s = calloc(1, sizeof *s);
  if (!s) return tk_err_set(err, TK_ENOMEM, "out of memory for a session");
  /* From here as on_connection, with a memory connection for the TLS one. */
  s->hub = h;
  snprintf(s->who, sizeof s->who, "-");
  session_resp_init(s);
  int rc =
      tk_conn_memory(&session_cbs, s, h->cfg.max_frame, sink, sink_ctx, &s->conn, err);
  if (rc) {
    free(s);
    return rc;
  }
  s->next = h->sessions;
  if (h->sessions) h->sessions->prev = s;
  h->sessions = s;
  h->nsessions++;
  tk__hub_preauth_admit(h, s); /* may close (and free) the oldest session */
  tk_conn_t *c = s->conn;
  rc = tk_conn_memory_ready(c, peer_spki); /* on_ready: the session waits for Hello */
  if (rc) return tk_err_set(err, rc, "the session closed at once");
  *out = c;
  return 0;
}
