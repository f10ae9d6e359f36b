/*
 * sync_client.c: the office's side of an exchange with its hub (see
 * tk_client.h). One state machine: connect -> HELLO -> then, by mode,
 * ENROLL, GRANT (device query, grant put) or SYNC (grant query, then the
 * data phases: push batches, pull batches, attachment chunks, driven by
 * the initiator (sync_initiator.c) with the office's policy below and in
 * sync_client_pull.c and sync_client_chunks.c) -> BYE. What the hub has
 * not taken is offered again (sync_client_unsent.c); a hub whose store was
 * restored is met as --all meets it (hub_store_check). The caller's loop
 * thread (tk_client_start; tk_client_run runs a private loop).
 */
#include "tk_meta.h"
#include "sync_client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tk_tls_session.h"

int tk__client_stop(client_t *c, int rc, const char *fmt, ...)
{
  if (c->state == C_DONE) return rc;
  if (rc && !c->rc) {
    va_list ap;
    char msg[sizeof c->err->msg];
    va_start(ap, fmt); /* formatted aside: the arguments may be c->err->msg */
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->err->code = rc;
    memcpy(c->err->msg, msg, sizeof msg);
    c->rc = rc;
  }
  c->state = C_DONE;
  if (c->conn) {
    if (!rc) {
      tk_sync_send_bye(tk__client_tp(c));
    }
    tk_conn_close(c->conn, rc, rc ? c->err->msg : NULL);
  }
  return rc;
}

void tk__client_sent(client_t *c, int rc, int msg_case, int next_state)
{
  if (rc) {
    tk__client_stop(c, rc, "cannot send %s: %s", tk_wire_case_name(msg_case),
                    tk_strerror(rc));
    return;
  }
  c->state = next_state;
  c->st->round_trips++;
}

void tk__client_send_msg(client_t *c, int msg_case, void *msg, int next_state)
{
  tk__client_sent(c, tk_sync_send_msg(tk__client_tp(c), msg_case, msg), msg_case,
                  next_state);
}

void tk__client_progress(client_t *c)
{
  if (c->opts->progress) c->opts->progress(c->opts->progress_ctx, c->st);
}

static int count_conflict(void *ctx, const tk_record_info_t *r)
{
  (void)r;
  (*(uint32_t *)ctx)++;
  return 0;
}

static uint32_t count_conflicts(tk_store_t *s)
{
  uint32_t n = 0;
  tk_store_records(s, NULL, NULL, 1, count_conflict, &n, NULL);
  return n;
}

/* ---- access from the hub's hello -------------------------------------------- */

static void set_access(client_t *c, Tunduk__V1__VaultAccess **v, size_t n)
{
  c->access[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(c->access);
    if (!v[i]->vault || len + strlen(v[i]->vault) + 5 >= sizeof c->access) break;
    snprintf(c->access + len, sizeof c->access - len, "%s%s:%s", len ? "," : "",
             v[i]->vault, v[i]->write ? "rw" : "r");
  }
  snprintf(c->st->access, sizeof c->st->access, "%s", c->access);
}

/* Whether the hub lets this device write vault (from the access spec). */
int tk__client_may_write(const char *access, const char *vault)
{
  size_t vn = strlen(vault);
  for (const char *p = access; *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == vn + 3 && strncmp(p, vault, vn) == 0 && strncmp(p + vn, ":rw", 3) == 0)
      return 1;
    p += n + (end ? 1 : 0);
  }
  return 0;
}

/* The hub's X25519 key, which its Hello just proved bound to the pinned
 * signing key: bundles for the hub are sealed to it (office_bundle.c). */
static int hub_kx_keep(client_t *c)
{
  char kx[2 * TK_KX_PK_LEN + 1];
  tk_hex_encode(kx, c->hub.kx_pk, TK_KX_PK_LEN);
  return tk_store_meta_set(c->store, TK_META_HUB_KX_PK, kx, c->err);
}

static int save_pin(client_t *c, const char *addr)
{
  char id[TK_DEVICE_ID_STRLEN], pk[2 * TK_SIGN_PK_LEN + 1];
  tk_device_id_format(id, c->hub.id);
  tk_hex_encode(pk, c->hub.sign_pk, TK_SIGN_PK_LEN);
  int rc = tk_store_begin(c->store, c->err);
  if (!rc) rc = tk_store_meta_set(c->store, TK_META_HUB_ID, id, c->err);
  if (!rc && addr) rc = tk_store_meta_set(c->store, TK_META_HUB_ADDR, addr, c->err);
  if (!rc) rc = tk_store_meta_set(c->store, TK_META_HUB_SIGN_PK, pk, c->err);
  if (!rc) rc = tk_store_meta_set(c->store, TK_META_HUB_NAME, c->hub.name, c->err);
  if (!rc) rc = tk_store_meta_set(c->store, TK_META_HUB_ACCESS, c->access, c->err);
  if (!rc) rc = hub_kx_keep(c);
  if (!rc) return tk_store_commit(c->store, c->err);
  tk_store_rollback(c->store);
  return rc;
}

/* ---- push: what the hub lets this device write --------------------------------- */

static int push_filter(void *ctx, const tk_rev_meta_t *m)
{
  client_t *c = ctx;
  /* what the hub sent us it has (unless --all or a restored hub: offer
   * everything again) */
  if (!c->opts->resend && !c->reoffer && m->has_origin &&
      tk_ct_equal(m->origin, c->hub.id, TK_DEVICE_ID_LEN))
    return 0;
  /* behind the push checkpoint: only what the hub has not taken */
  if (!tk__client_unsent_offer(c, m)) return 0;
  if (tk__client_may_write(c->access, m->vault)) return 1;
  c->st->skipped++;
  tk__client_unsent_skip(c, m); /* kept before the checkpoint passes it */
  return 0;
}

int tk__client_set_ckpt(client_t *c, int dir, uint64_t seq)
{
  return tk_store_checkpoint_set(c->store, c->hub.id, dir, seq, c->err);
}

int tk__client_add_reject(tk_reject_t **list, size_t *n, const uint8_t *id, int code,
                          const char *reason)
{
  tk_reject_t *v = realloc(*list, (*n + 1) * sizeof *v);
  if (!v) return TK_ENOMEM;
  *list = v;
  tk_reject_t *x = &v[(*n)++];
  memset(x, 0, sizeof *x);
  if (id) memcpy(x->id, id, TK_REV_ID_LEN);
  x->code = code;
  snprintf(x->reason, sizeof x->reason, "%s", reason ? reason : "");
  return 0;
}

/* ---- the office's policy: what the initiator asks of it --------------------- */

/* While the push re-offers what the hub has not taken (behind the stored
 * push checkpoint, sync_client_unsent.c), the push position is retry_pos
 * and the stored checkpoint stays; what was skipped for access is kept
 * before the checkpoint passes it. */
static int ckpt_get(void *ctx, int dir, uint64_t *seq)
{
  client_t *c = ctx;
  if (dir == TK_DIR_PUSH && c->retrying) {
    *seq = c->retry_pos;
    return 0;
  }
  return tk_store_checkpoint_get(c->store, c->hub.id, dir, seq, c->err);
}

static int ckpt_set(void *ctx, int dir, uint64_t seq)
{
  client_t *c = ctx;
  if (dir == TK_DIR_PUSH) {
    int rc = tk__client_unsent_flush(c);
    if (rc) return rc;
    if (c->retrying && seq < c->retry_upto) {
      c->retry_pos = seq;
      return 0;
    }
    c->retrying = 0;
  }
  return tk__client_set_ckpt(ctx, dir, seq);
}

static void ini_stop(void *ctx, int rc, const char *msg)
{
  tk__client_stop(ctx, rc, "%s", msg);
}

static void ini_done(void *ctx)
{
  client_t *c = ctx;
  int rc = tk__client_unsent_end(c);
  if (!rc && c->reoffer)
    rc = tk_store_meta_set(c->store, TK_META_HUB_REOFFER, "", c->err);
  if (rc) {
    tk__client_stop(c, rc, "keeping what the hub has not taken: %s", c->err->msg);
    return;
  }
  tk__client_done(c);
}

static void ini_count(void *ctx, int what, uint64_t n)
{
  tk_client_stats_t *st = ((client_t *)ctx)->st;
  switch (what) {
  case TK_SYNC_COUNT_ROUND_TRIPS:
    st->round_trips += (uint32_t)n;
    break;
  case TK_SYNC_COUNT_SENT:
    st->sent += (uint32_t)n;
    break;
  case TK_SYNC_COUNT_DUPLICATES:
    st->duplicates += (uint32_t)n;
    break;
  case TK_SYNC_COUNT_OWN:
    st->own += n;
    break;
  case TK_SYNC_COUNT_REV_BYTES_OUT:
    st->rev_bytes_out += n;
    break;
  case TK_SYNC_COUNT_CHUNKS_SENT:
    st->chunks_sent += (uint32_t)n;
    break;
  case TK_SYNC_COUNT_CHUNK_BYTES_OUT:
    st->chunk_bytes_out += n;
    break;
  case TK_SYNC_COUNT_CHUNKS_RECEIVED:
    st->chunks_received += (uint32_t)n;
    break;
  case TK_SYNC_COUNT_CHUNK_BYTES_IN:
    st->chunk_bytes_in += n;
    break;
  case TK_SYNC_COUNT_CHUNKS_REFUSED:
    st->chunks_refused += (uint32_t)n;
    break;
  }
}

/* What the hub rejected of a push goes to rejected, what this office
 * refused of a pull to refused. */
static void ini_rejected(void *ctx, int pushed, const uint8_t *id, int code,
                         const char *reason)
{
  tk_client_stats_t *st = ((client_t *)ctx)->st;
  if (pushed) {
    tk__client_add_reject(&st->rejected, &st->nrejected, id, code, reason);
    tk__client_unsent_rejected(ctx, id, code, reason);
  } else
    tk__client_add_reject(&st->refused, &st->nrefused, id, code, reason);
}

static void ini_progress(void *ctx)
{
  tk__client_progress(ctx);
}

/* Pushes what the hub lets this device write and did not send it; pulls
 * with the membership check and the decrypting moderation
 * (sync_client_pull.c); chunks named by revisions (sync_client_chunks.c),
 * stored inline; the checkpoints with the hub; the statistics. */
static const tk_sync_policy_t office_policy = {
    .offer_rev = push_filter,
    .offer_chunk = tk__client_chunk_push_filter,
    .accept_chunk = tk__client_chunk_pull_accept,
    .apply_pull = tk__client_store_pulled,
    .ckpt_get = ckpt_get,
    .ckpt_set = ckpt_set,
    .stop = ini_stop,
    .done = ini_done,
    .count = ini_count,
    .rejected = ini_rejected,
    .progress = ini_progress,
};

/* ---- grants ------------------------------------------------------------------ */

static void on_grants(client_t *c, const Tunduk__V1__Grants *m)
{
  for (size_t i = 0; i < m->n_grants && i < TK_MAX_GRANTS; i++) {
    int taken = 0;
    int rc = m->grants[i]
                 ? tk_office_grant_take(c->o, tk_pb_slice(m->grants[i]->body),
                                        tk_pb_slice(m->grants[i]->sig), &taken, c->err)
                 : 0;
    if (rc) {
      tk__client_stop(c, rc, "storing a vault key failed: %s", c->err->msg);
      return;
    }
    c->st->grants += (uint32_t)taken;
  }
  c->grants_pending = 0;
}

/* A member to add: the hub's answer for its id, checked, then the change. */
static void add_member(client_t *c, const Tunduk__V1__DeviceInfo *m)
{
  tk_peer_t to;
  tk_err_t e;
  char want[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(want, c->opts->grant_to);
  if (!m->identity) {
    tk__client_stop(c, TK_ENOTFOUND, "the hub knows no enrolled device %s", want);
    return;
  }
  if (tk_wire_identity_check(m->identity, NULL, &to, &e) != 0 ||
      !tk_ct_equal(to.id, c->opts->grant_to, TK_DEVICE_ID_LEN)) {
    tk__client_stop(c, TK_ESIG, "the hub's answer for device %s does not check out: %s",
                    want, tk_err_str(&e));
    return;
  }
  int rc = tk_office_change_add(c->o, c->opts->grant_vault, &to, !c->opts->grant_reader,
                                &c->change, c->err);
  if (rc) {
    tk__client_stop(c, rc, "cannot grant vault %s: %s", c->opts->grant_vault,
                    c->err->msg);
    return;
  }
  tk__client_send_change(c);
}

void tk__client_after_log(client_t *c)
{
  if (c->state == C_DONE) return;
  if (c->opts->mode == TK_CLIENT_GRANT) {
    Tunduk__V1__DeviceQuery q = TUNDUK__V1__DEVICE_QUERY__INIT;
    q.device_id = tk_pb_bytes(c->opts->grant_to, TK_DEVICE_ID_LEN);
    tk__client_send_msg(c, TUNDUK__V1__FRAME__MSG_DEVICE_QUERY, &q, C_DEVICE);
  } else if (c->opts->mode == TK_CLIENT_REMOVE) {
    int rc = tk_office_change_remove(
        c->o, c->opts->grant_vault, (const uint8_t(*)[TK_DEVICE_ID_LEN])c->opts->grant_to,
        1, &c->change, c->err);
    if (rc) {
      tk__client_stop(c, rc, "cannot remove the member: %s", c->err->msg);
      return;
    }
    tk__client_send_change(c);
  }
}

/* ---- hello -------------------------------------------------------------------- */

/* The grant query and the data phases (the first push Offer or Pull). */
static void start_sync(client_t *c)
{
  /* The grant query goes out with the first push or pull request: the hub
   * answers in order, so the grants arrive (and are stored) before anything
   * the push or pull brings, and a no-op sync costs one round trip. */
  Tunduk__V1__GrantQuery q = TUNDUK__V1__GRANT_QUERY__INIT;
  if (tk_sync_send_msg(tk__client_tp(c), TUNDUK__V1__FRAME__MSG_GRANT_QUERY, &q) != 0) {
    tk__client_stop(c, TK_ECLOSED, "cannot send the grant query");
    return;
  }
  c->grants_pending = 1;
  tk_sync_initiator_start(&c->ini, tk__client_tp(c));
}

#define EARLY_FEED_MAX 1024 /* revisions after the push checkpoint looked at */
/* The first push step, when it goes behind the Hello: well inside the
 * pre-authentication frame limit with the frame's own bytes. */
#define EARLY_STEP_MAX (TK_MAX_PREAUTH_FRAME - 4096)

typedef struct early_scan {
  client_t *c;
  uint64_t bytes; /* of the revisions the first step would take */
  int ok;         /* 0: something waits for the hub's Hello */
} early_scan_t;

/* tk_store_changes over what follows the push checkpoint: 1 (stop) once
 * the first step's share is seen. What the pinned hub sent us is dropped
 * by push_filter whatever the access; anything else must be in a vault the
 * access of the last Hello (stored) lets us write, or it waits for this
 * Hello's (a vault made writable since must not be passed over). */
static int early_pushable(void *ctx, const tk_rev_meta_t *m, tk_slice_t bytes)
{
  early_scan_t *e = ctx;
  client_t *c = e->c;
  if (!c->opts->resend && m->has_origin &&
      tk_ct_equal(m->origin, c->hub_id, TK_DEVICE_ID_LEN))
    return 0;
  if (!c->ini.steps || !tk__client_may_write(c->access, m->vault)) {
    e->ok = 0;
    return 1;
  }
  e->bytes += bytes.n;
  return e->bytes > EARLY_STEP_MAX ? 1 : 0;
}

/* TK_CLIENT_SYNC, right behind our Hello (PROTOCOL.md, "Order at the start
 * of a session"): the LogQuery, the GrantQuery, and the first push step or
 * the Pull go in the same flight, so a no-op sync is one round trip after
 * the TLS handshake and a push saves one. Only when none of them depends
 * on the hub's Hello or could pass the pre-auth frame limit: no unsent log
 * entries (the LogPut waits), and what is to push goes in steps (nothing
 * of it went out unacknowledged before) in vaults the last Hello let us
 * write; the first step is at most EARLY_STEP_MAX (one larger revision
 * waits), the rest follows the Hello (tk_sync_initiator_release). The
 * answers are taken only after the hub's Hello has passed the pin check
 * (on_frame), so nothing of them is stored before it. */
/* What TK_META_HUB_TLS_SPKI holds for the server's TLS key c->spki and the
 * pinned hub c->hub_id: a key proven for one pinned hub proves nothing for
 * another (a pin changed since). */
#define TLS_PIN_LEN (2 * TK_HASH_LEN + 1 + 2 * TK_DEVICE_ID_LEN)
static void tls_pin_text(const client_t *c, char out[TLS_PIN_LEN + 1])
{
  tk_hex_encode(out, c->spki, TK_HASH_LEN);
  out[2 * TK_HASH_LEN] = ':';
  tk_hex_encode(out + 2 * TK_HASH_LEN + 1, c->hub_id, TK_DEVICE_ID_LEN);
}

static void send_early(client_t *c)
{
  uint64_t since = 0, mark = 0, last = 0;
  tk_err_t e;
  /* Only to the TLS key an earlier Hello of the pinned hub proved bound to
   * it: another server (a network attacker's) learns no vault id or
   * checkpoint from frames it was never meant to see; it gets the old
   * order, and on_hello refuses it before anything else goes out. */
  char pinned[TLS_PIN_LEN + 1], seen[TLS_PIN_LEN + 1];
  if (c->retrying) return;   /* the re-offer of what the hub has not taken: after it */
  if (!c->ini.steps) return; /* --all, a restored hub: everything by id, after it */
  tls_pin_text(c, seen);
  if (tk_store_meta_get(c->store, TK_META_HUB_TLS_SPKI, pinned, sizeof pinned, NULL) !=
          0 ||
      strcmp(pinned, seen) != 0)
    return;
  /* the pinned hub: the checkpoints are kept under its id, and on_hello
   * stops the sync unless the hub's Hello proves that same id */
  memcpy(c->hub.id, c->hub_id, TK_DEVICE_ID_LEN);
  early_scan_t scan = {c, 0, 1};
  if (tk_store_checkpoint_get(c->store, c->hub_id, TK_DIR_PUSH, &since, &e) != 0 ||
      tk_store_checkpoint_get(c->store, c->hub_id, TK_DIR_PUSH_SENT, &mark, &e) != 0 ||
      tk_store_last_seq(c->store, &last, &e) != 0 ||
      tk_store_changes(c->store, since, EARLY_FEED_MAX, early_pushable, &scan, &e) < 0 ||
      !scan.ok || (scan.bytes > 0 && since < mark) ||
      (last - since > EARLY_FEED_MAX && scan.bytes <= EARLY_STEP_MAX))
    return; /* waits for the Hello (or a store error, met again after it) */
  c->logput_acked = 1;
  int rc = tk__client_send_logs(c, 1);
  if (rc) return; /* 1: they wait for the Hello; an error is met again there */
  c->early = 1;
  c->ini.early_cap = EARLY_STEP_MAX;
  start_sync(c);
}

static void after_hello(client_t *c)
{
  if (c->early) {
    c->state = C_SYNC; /* the rest went with our Hello */
    tk_sync_initiator_release(&c->ini);
    return;
  }
  /* Unsent log entries and the log query go first, without waiting: the hub
   * answers in order, so the membership logs are replayed before any grant
   * or revision is judged by them. */
  c->logput_acked = 1;
  if (tk__client_send_logs(c, 0) != 0) return;
  if (c->opts->mode == TK_CLIENT_GRANT || c->opts->mode == TK_CLIENT_REMOVE) {
    c->state = C_LOG;
    c->st->round_trips++;
    return;
  }
  c->state = C_SYNC;
  start_sync(c);
}

/* The pinned hub's Hello checked out over c->spki: that TLS key is the
 * hub's (its identity signed it), kept for send_early. */
static int pin_tls_key(client_t *c)
{
  char pinned[TLS_PIN_LEN + 1] = "", seen[TLS_PIN_LEN + 1];
  tls_pin_text(c, seen);
  if (tk_store_meta_get(c->store, TK_META_HUB_TLS_SPKI, pinned, sizeof pinned, NULL) ==
          0 &&
      strcmp(pinned, seen) == 0)
    return 0;
  return tk_store_meta_set(c->store, TK_META_HUB_TLS_SPKI, seen, c->err);
}

/* A restored or replaced hub store (PROTOCOL.md, "A restored hub"): the
 * Hello's store identity is not the one this office last saw, or the
 * hub's feed ends before this office's pull checkpoint. What was kept for
 * the hub goes (tk_office_hub_forget) and this sync offers and asks for
 * everything by id, as --all does. If the first requests went out behind
 * our Hello (with the old checkpoints), the attempt ends and the sync
 * starts again at once (c->retry). 0, or the error (stopped). */
static int hub_store_check(client_t *c, const Tunduk__V1__Hello *m)
{
  char seen[2 * 16 + 1], had[2 * 16 + 8] = "";
  uint64_t pull = 0;
  if (c->opts->mode != TK_CLIENT_SYNC || m->store_id.len == 0)
    return 0; /* an older hub */
  if (m->store_id.len != 16)
    return tk__client_stop(c, TK_EPROTO, "the hub's store identity is %zu bytes, not 16",
                           m->store_id.len);
  tk_hex_encode(seen, m->store_id.data, 16);
  tk_store_meta_get(c->store, TK_META_HUB_STORE_ID, had, sizeof had, NULL);
  int rc = tk_store_checkpoint_get(c->store, c->hub.id, TK_DIR_PULL, &pull, c->err);
  int restored = !rc && ((had[0] && strcmp(had, seen) != 0) || pull > m->feed_end);
  if (!rc && restored) {
    TK_LOG(TK_LOG_WARN, "sync",
           "the hub's store was restored or replaced (store %s, was %s; its feed ends at "
           "%llu, this office had pulled to %llu): offering it everything again",
           seen, had[0] ? had : "unknown", (unsigned long long)m->feed_end,
           (unsigned long long)pull);
    rc = tk_office_hub_forget(c->o, c->hub.id, c->err);
    if (!rc) rc = tk_store_meta_set(c->store, TK_META_HUB_REOFFER, "1", c->err);
    c->st->hub_restored = 1;
    c->reoffer = 1;
    c->ini.steps = 0;
    c->retrying = 0;
    c->nagain = 0;
  }
  if (!rc) rc = tk_store_meta_set(c->store, TK_META_HUB_STORE_ID, seen, c->err);
  if (rc) return tk__client_stop(c, rc, "%s", c->err->msg);
  if (restored && c->early) {
    c->retry = 1;
    return tk__client_stop(c, TK_ECLOSED,
                           "the hub's store was restored; starting the sync again");
  }
  return 0;
}

/* Keeps the hub's software string (TK_META_HUB_SOFTWARE) when it changed;
 * one that is too long or not printable ASCII is kept as "". */
static int hub_software_keep(client_t *c, const char *sw)
{
  char had[TK_MAX_SOFTWARE + 1] = "";
  size_t n = sw ? strlen(sw) : 0;
  if (n > TK_MAX_SOFTWARE) n = 0, sw = "";
  for (size_t i = 0; i < n; i++)
    if (sw[i] < 0x20 || sw[i] > 0x7e) sw = "";
  if (!sw) sw = "";
  tk_store_meta_get(c->store, TK_META_HUB_SOFTWARE, had, sizeof had, NULL);
  return strcmp(had, sw) ? tk_store_meta_set(c->store, TK_META_HUB_SOFTWARE, sw, c->err)
                         : 0;
}

static void on_hello(client_t *c, const Tunduk__V1__Hello *m)
{
  tk_err_t e;
  char want[TK_DEVICE_ID_STRLEN], got[TK_DEVICE_ID_STRLEN];
  if (m->protocol_min > TK_PROTOCOL_VERSION || m->protocol_max < TK_PROTOCOL_VERSION) {
    tk__client_stop(c, TK_EPROTO, "the hub speaks protocol %u..%u, this office speaks %d",
                    m->protocol_min, m->protocol_max, TK_PROTOCOL_VERSION);
    return;
  }
  if (tk_wire_identity_check(m->identity, c->spki, &c->hub, &e) != 0) {
    tk__client_stop(c, TK_EACCESS, "the hub's identity does not check out: %s",
                    tk_err_str(&e));
    return;
  }
  if (!tk_ct_equal(c->hub.id, c->hub_id, TK_DEVICE_ID_LEN)) {
    tk_device_id_format(want, c->hub_id);
    tk_device_id_format(got, c->hub.id);
    tk__client_stop(
        c, TK_EACCESS,
        "hub identity mismatch: this office is pinned to hub %s but the server is %s; "
        "refusing to sync",
        want, got);
    return;
  }
  set_access(c, m->access, m->n_access);
  if (c->opts->mode == TK_CLIENT_ENROLL) {
    if (m->enrolled) {
      int rc = save_pin(c, c->opts->token->addr);
      tk__client_stop(c, rc, "%s", c->err->msg);
      return;
    }
    Tunduk__V1__Enroll en = TUNDUK__V1__ENROLL__INIT;
    en.token_id = tk_pb_bytes(c->opts->token->token_id, TK_TOKEN_ID_LEN);
    en.secret = tk_pb_bytes(c->opts->token->secret, TK_TOKEN_SECRET_LEN);
    tk__client_send_msg(c, TUNDUK__V1__FRAME__MSG_ENROLL, &en, C_ENROLLED);
    return;
  }
  if (!m->enrolled) {
    tk__client_stop(c, TK_EACCESS,
                    "this device is not enrolled at the hub (run 'tunduk enroll TOKEN')");
    return;
  }
  int rc = tk_store_meta_set(c->store, TK_META_HUB_ACCESS, c->access, c->err);
  if (!rc) rc = hub_software_keep(c, m->software);
  if (!rc) rc = hub_kx_keep(c);
  if (!rc) rc = pin_tls_key(c);
  if (rc) {
    tk__client_stop(c, rc, "%s", c->err->msg);
    return;
  }
  if (hub_store_check(c, m) != 0) return;
  after_hello(c);
}

/* ---- connection callbacks ---------------------------------------------------- */

static void on_ready(tk_conn_t *conn, const uint8_t spki[TK_HASH_LEN])
{
  client_t *c = tk_conn_data(conn);
  Tunduk__V1__Identity ident;
  uint8_t kx_sig[TK_SIG_LEN];
  /* Resumed or not, spki is the hub's TLS key (from the session's
   * certificate): on_hello checks it against the pinned hub all the same. */
  memcpy(c->spki, spki, TK_HASH_LEN);
  c->st->tls_resumed = tk_conn_tls_resumed(conn);
  if (c->opts->mode == TK_CLIENT_SYNC && !c->st->tls_resumed) {
    /* kept now, saved only if the sync ends well (tls_session_keep) */
    int src = tk_conn_tls_session(conn, &c->tls_session, &c->tls_lifetime);
    if (src != 0) tk_buf_wipe(&c->tls_session);
    if (src != 0 && src != TK_ENOTFOUND && src != TK_EINVAL)
      TK_LOG(TK_LOG_DEBUG, "sync", "tls session not kept: %s", tk_strerror(src));
  }
  if (tk_wire_identity(&ident, c->id, kx_sig) != 0) {
    tk__client_stop(c, TK_ECRYPTO, "cannot sign this device's identity");
    return;
  }
  Tunduk__V1__Hello h = TUNDUK__V1__HELLO__INIT;
  h.protocol_min = h.protocol_max = TK_PROTOCOL_VERSION;
  h.identity = &ident;
  h.software = TK_SOFTWARE;
  if (tk_sync_send_msg(tk_conn_transport(conn), TUNDUK__V1__FRAME__MSG_HELLO, &h) != 0) {
    tk__client_stop(c, TK_ECLOSED, "cannot send hello");
    return;
  }
  c->state = C_HELLO;
  if (c->opts->mode == TK_CLIENT_SYNC) send_early(c);
}

static const char *error_text(int code)
{
  switch (code) {
  case TUNDUK__V1__ERROR_CODE__ERROR_REVOKED:
    return "this device was revoked at the hub";
  case TUNDUK__V1__ERROR_CODE__ERROR_BAD_TOKEN:
    return "the enrollment token was refused";
  case TUNDUK__V1__ERROR_CODE__ERROR_UNKNOWN_DEVICE:
    return "the hub does not know this device";
  case TUNDUK__V1__ERROR_CODE__ERROR_SHUTDOWN:
    return "the hub is stopping; try again later";
  case TUNDUK__V1__ERROR_CODE__ERROR_IDENTITY:
    return "the hub refused this device's identity";
  default:
    return "the hub reported an error";
  }
}

static void on_frame(tk_conn_t *conn, tk_slice_t payload)
{
  client_t *c = tk_conn_data(conn);
  if (c->state == C_DONE) return;
  tk_frame_t *f = tk_wire_decode(payload);
  if (!f) {
    tk__client_stop(c, TK_EPROTO, "the hub sent a frame that does not decode");
    return;
  }
  int k = f->msg_case, kept = 0;
  if (k == TUNDUK__V1__FRAME__MSG_ERROR) {
    int code = f->error->code;
    /* Before the hub has authenticated us, ERROR_LIMIT is its pre-auth
     * pool making room (or max_connections): worth another try. */
    if (code == TUNDUK__V1__ERROR_CODE__ERROR_LIMIT &&
        (c->state == C_HELLO || c->state == C_ENROLLED))
      c->retry = 1;
    tk__client_stop(
        c, code == TUNDUK__V1__ERROR_CODE__ERROR_REVOKED ? TK_EACCESS : TK_EPROTO,
        "%s: %s", error_text(code), f->error->message ? f->error->message : "");
  } else if (c->state == C_HELLO && k == TUNDUK__V1__FRAME__MSG_HELLO) {
    on_hello(c, f->hello);
  } else if (c->state == C_HELLO) { /* nothing is taken before the Hello's pin check */
    tk__client_stop(c, TK_EPROTO, "the hub answered out of order (%s before its hello)",
                    tk_wire_name(f));
  } else if (c->state == C_ENROLLED && k == TUNDUK__V1__FRAME__MSG_ENROLLED) {
    set_access(c, f->enrolled->access, f->enrolled->n_access);
    int rc = save_pin(c, c->opts->token->addr);
    tk__client_stop(c, rc, "%s", c->err->msg);
  } else if (c->logput_pending && k == TUNDUK__V1__FRAME__MSG_ACK) {
    tk__client_on_logput_ack(c, f->ack);
  } else if (c->logput_pending) {
    tk__client_stop(c, TK_EPROTO, "the hub answered out of order (%s before log ack)",
                    tk_wire_name(f));
  } else if (c->log_pending && k == TUNDUK__V1__FRAME__MSG_LOG) {
    tk__client_on_log(c, f->log);
  } else if (c->log_pending) {
    tk__client_stop(c, TK_EPROTO, "the hub answered out of order (%s before log)",
                    tk_wire_name(f));
  } else if (c->state == C_DEVICE && k == TUNDUK__V1__FRAME__MSG_DEVICE_INFO) {
    add_member(c, f->device_info);
  } else if (c->state == C_CHANGE_ACK && k == TUNDUK__V1__FRAME__MSG_ACK) {
    tk__client_on_change_ack(c, f->ack);
  } else if (c->grants_pending && k == TUNDUK__V1__FRAME__MSG_GRANTS) {
    on_grants(c, f->grants);
  } else if (c->grants_pending) {
    tk__client_stop(c, TK_EPROTO, "the hub answered out of order (%s before grants)",
                    tk_wire_name(f));
  } else if (c->state == C_SYNC && tk_sync_initiator_take(&c->ini, f, &kept)) {
    if (kept) f = NULL; /* held by the initiator */
  } else {
    tk__client_stop(c, TK_EPROTO, "the hub sent an unexpected %s", tk_wire_name(f));
  }
  tk_wire_free(f);
}

static void on_close(tk_conn_t *conn, int reason)
{
  client_t *c = tk_conn_data(conn);
  c->st->bytes_in = tk_conn_bytes_in(conn);
  c->st->bytes_out = tk_conn_bytes_out(conn);
  if (c->state != C_DONE) {
    int connecting = c->state == C_CONNECTING;
    /* Closed or reset by the hub in the middle of our TLS handshake (our
     * ClientHello went out): a hub under a flood evicts the oldest
     * connections that have not authenticated. Worth another try. */
    if (connecting && tk_conn_bytes_out(conn) > 0 &&
        (reason == TK_ECLOSED || reason == TK_EIO))
      c->retry = 1;
    c->state = C_DONE;
    if (!c->rc) {
      c->rc = reason ? reason : TK_ECLOSED;
      if (connecting)
        tk_err_set(c->err, c->rc, "cannot reach the hub: %s",
                   reason ? tk_conn_error(conn) : "closed during the TLS handshake");
      else
        tk_err_set(c->err, c->rc, "connection to the hub lost: %s",
                   reason ? tk_conn_error(conn) : "closed by the hub");
    }
  }
  c->conn = NULL;
  if (c->on_closed) c->on_closed(c);
}

static const tk_conn_cbs_t client_cbs = {on_ready, on_frame, on_close, NULL};

/* ---- run --------------------------------------------------------------------- */

/* What tk_client_run and a memory session share: c set up for a run (the
 * hub pinned in the store, or the token's for enrollment), the hub address
 * split into host and port, resend applied, conflicts counted. */
static int client_init(client_t *c, tk_office_t *o, const tk_client_opts_t *opts,
                       tk_client_stats_t *st, char host[TK_TOKEN_MAX_ADDR + 1], int *port,
                       tk_err_t *err)
{
  char addr[TK_TOKEN_MAX_ADDR + 1], idtext[TK_DEVICE_ID_STRLEN];
  int rc;
  memset(st, 0, sizeof *st);
  memset(c, 0, sizeof *c);
  c->o = o;
  c->store = tk_office_store(o);
  c->id = tk_office_identity(o);
  c->opts = opts;
  c->st = st;
  c->err = err;
  if (!c->id->sec) return tk_err_set(err, TK_ENOKEY, "the device keys are locked");
  if (opts->mode == TK_CLIENT_ENROLL) {
    memcpy(c->hub_id, opts->token->hub_id, TK_DEVICE_ID_LEN);
    snprintf(addr, sizeof addr, "%s", opts->token->addr);
  } else {
    if (tk_store_meta_get(c->store, TK_META_HUB_ID, idtext, sizeof idtext, NULL) != 0 ||
        tk_store_meta_get(c->store, TK_META_HUB_ADDR, addr, sizeof addr, NULL) != 0)
      return tk_err_set(
          err, TK_ENOTFOUND,
          "this office is not enrolled at a hub (run 'tunduk enroll TOKEN')");
    if (tk_device_id_parse(c->hub_id, idtext) != 0)
      return tk_err_set(err, TK_EFORMAT, "the stored hub id '%s' is damaged", idtext);
    if (tk_store_meta_get(c->store, TK_META_HUB_ACCESS, c->access, sizeof c->access,
                          NULL) != 0)
      c->access[0] = '\0';
  }
  if (tk_addr_split(addr, host, port) != 0)
    return tk_err_set(err, TK_EINVAL, "hub address '%s' is not host:port", addr);
  snprintf(c->hub_addr, sizeof c->hub_addr, "%s", addr);
  if (opts->mode == TK_CLIENT_SYNC && opts->resend) {
    /* both ways from the start: offer/need keeps it to ids for what each
     * side already has */
    rc = 0;
    for (int dir = TK_DIR_PUSH; dir <= TK_DIR_CHUNK_PULL && !rc; dir++)
      rc = tk_store_checkpoint_set(c->store, c->hub_id, dir, 0, err);
    if (rc) return rc;
  }
  if (opts->mode == TK_CLIENT_SYNC && (rc = tk__client_unsent_load(c)) != 0) {
    tk__client_unsent_free(c);
    return rc;
  }
  char reoffer[4] = "";
  if (opts->mode == TK_CLIENT_SYNC &&
      tk_store_meta_get(c->store, TK_META_HUB_REOFFER, reoffer, sizeof reoffer, NULL) ==
          0)
    c->reoffer = st->hub_restored = !strcmp(reoffer, "1");
  st->conflicts_before = count_conflicts(c->store);
  tk_sync_initiator_init(&c->ini, c->store, &office_policy, c,
                         opts->batch_bytes ? opts->batch_bytes : (1u << 20), "the hub",
                         c->hub.id, err);
  /* --all, a restored hub: offer everything, the hub has most */
  c->ini.steps = !opts->resend && !c->reoffer;
  return 0;
}

/* After the connection has closed: frees what the run held. */
static void client_done(client_t *c)
{
  /* A batch held for the next offer came whole; stored, it is not asked
   * for again when the sync resumes (it passes every check first). */
  tk_sync_initiator_end(&c->ini);
  tk_sync_initiator_free(&c->ini);
  tk_member_change_free(&c->change);
  tk__client_unsent_free(c);
  free(c->rot);
  tk_buf_wipe(&c->tls_session);
  c->st->conflicts_after = count_conflicts(c->store);
}

static double seconds_since(const struct timespec *t0)
{
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- the saved TLS session ------------------------------------------------------ */

/* The saved session for this hub (address and pinned id), opened, into out;
 * left empty when there is none or it does not open (then a full handshake;
 * the reason is logged at debug level, never the bytes). */
static void tls_session_load(client_t *c, tk_buf_t *out)
{
  tk_err_t e;
  char *text = malloc(TK_TLS_SESSION_TEXT_MAX + 2);
  if (!text) return;
  int rc = tk_store_meta_get(c->store, TK_TLS_SESSION_SETTING, text,
                             TK_TLS_SESSION_TEXT_MAX + 2, &e);
  if (rc == 0 && text[0])
    rc = tk_tls_session_open(out, c->id, c->hub_addr, c->hub_id, (uint64_t)time(NULL),
                             text, &e);
  else if (rc == 0)
    rc = tk_err_set(&e, TK_ENOTFOUND, "none saved");
  if (rc) {
    tk_buf_wipe(out);
    TK_LOG(TK_LOG_DEBUG, "sync", "saved tls session not used: %s", tk_err_str(&e));
  }
  free(text);
}

/* After a sync that ended well: a full handshake's new session (and ticket)
 * replaces the saved one; a hub that gave no ticket leaves nothing saved; a
 * resumed session stays saved as it is (the hub issues no new ticket when it
 * resumes). A failure here is logged and costs the next sync a full
 * handshake, nothing more. */
static void tls_session_keep(client_t *c)
{
  tk_err_t e;
  tk_buf_t text = TK_BUF_INIT;
  char old[4];
  int rc = 0;
  if (c->st->tls_resumed) return;
  if (c->tls_session.n > 0) {
    uint64_t life = c->tls_lifetime ? c->tls_lifetime : TK_TLS_TICKET_LIFETIME_MAX;
    if (life > TK_TLS_TICKET_LIFETIME_MAX) life = TK_TLS_TICKET_LIFETIME_MAX;
    rc = tk_tls_session_seal(&text, c->id, c->hub_addr, c->hub_id,
                             (uint64_t)time(NULL) + life,
                             TK_SLICE(c->tls_session.p, c->tls_session.n), &e);
    if (!rc) rc = tk_store_meta_set(c->store, TK_TLS_SESSION_SETTING, (char *)text.p, &e);
  } else if (tk_store_meta_get(c->store, TK_TLS_SESSION_SETTING, old, sizeof old, NULL) ==
                 0 &&
             old[0]) {
    rc = tk_store_meta_set(c->store, TK_TLS_SESSION_SETTING, "", &e);
  }
  if (rc) TK_LOG(TK_LOG_WARN, "sync", "tls session not saved: %s", tk_err_str(&e));
  tk_buf_free(&text); /* sealed: nothing secret */
}

/* Attempts after the first when the hub closed the connection before it
 * had authenticated this device (PROTOCOL.md section 2: a hub under a flood
 * evicts unauthenticated connections), with these pauses. Nothing was
 * stored by then, so another attempt is the same sync. */
static const unsigned retry_ms[] = {200, 500, 1000};

/* A sync on the caller's loop (tk_client_start): one attempt at a time,
 * each a client_t on its own connection; the timer defers what follows a
 * closed connection (the pause before another attempt, then the end) to
 * the loop. */
struct tk_client_handle {
  uv_loop_t *loop;
  tk_office_t *o;
  const tk_client_opts_t *opts;
  tk_client_stats_t *st;
  tk_client_end_fn on_end;
  void *ctx;
  client_t c;
  tk_tls_t *tls;
  tk_err_t err;
  uv_timer_t timer;
  size_t attempt;
  int rc;
  int cancelled;
  int ending;            /* the timer is closing: on_end comes next */
  int attempt_on;        /* the attempt's client_init succeeded */
  struct timespec t0;    /* the start, for st->seconds */
  struct timespec t_try; /* this attempt's start */
};

static void handle_closed(uv_handle_t *t)
{
  tk_client_handle_t *h = t->data;
  h->on_end(h->ctx, h->rc, h->st, &h->err);
  free(h);
}

static void handle_freed(uv_handle_t *t)
{
  free(t->data);
}

static void handle_end(tk_client_handle_t *h, int rc)
{
  h->rc = rc;
  h->st->seconds = seconds_since(&h->t0);
  h->ending = 1;
  uv_close((uv_handle_t *)&h->timer, handle_closed);
}

static void attempt_closed(client_t *c);
static void on_timer(uv_timer_t *t);

/* Connects for one attempt. 0 once the connection is under way (its end
 * comes through attempt_closed); else the error, the attempt over. */
static int attempt_start(tk_client_handle_t *h)
{
  client_t *c = &h->c;
  char host[TK_TOKEN_MAX_ADDR + 1];
  int port;
  clock_gettime(CLOCK_MONOTONIC, &h->t_try);
  int rc = client_init(c, h->o, h->opts, h->st, host, &port, &h->err);
  if (rc) return rc;
  rc = tk_tls_new(&h->tls, c->id, 0, &h->err);
  if (rc) return rc;
  h->attempt_on = 1;
  c->owner = h;
  uint32_t to = h->opts->timeout_ms ? h->opts->timeout_ms : 30000;
  tk_conn_opts_t copts = {.handshake_timeout_ms = to, .idle_timeout_ms = to};
  tk_buf_t saved = TK_BUF_INIT;
  /* Only a sync resumes: enrollment and grants always authenticate in full. */
  if (h->opts->mode == TK_CLIENT_SYNC && !h->opts->no_resume) tls_session_load(c, &saved);
  copts.session = TK_SLICE(saved.p, saved.n);
  rc = tk_conn_connect(h->loop, host, port, h->tls, &copts, &client_cbs, c, &c->conn,
                       &h->err);
  tk_buf_wipe(&saved);                    /* the connection took its own copy */
  if (!rc) c->on_closed = attempt_closed; /* no callback runs if connect failed */
  return rc;
}

/* What follows an attempt (its connection closed, or it failed to start):
 * the saved TLS session, the attempt's cleanup, then another attempt or
 * the end. rc is the attempt's result. */
static void attempt_over(tk_client_handle_t *h, int rc)
{
  client_t *c = &h->c;
  int retry = 0;
  if (h->attempt_on) {
    tk_tls_free(h->tls);
    h->tls = NULL;
    if (rc == 0 && h->opts->mode == TK_CLIENT_SYNC) tls_session_keep(c);
    retry = c->retry;
    client_done(c);
    h->st->seconds = seconds_since(&h->t_try);
    h->attempt_on = 0;
  }
  if (rc == 0 || !retry || h->cancelled ||
      h->attempt == sizeof retry_ms / sizeof retry_ms[0]) {
    handle_end(h, rc);
    return;
  }
  TK_LOG(TK_LOG_INFO, "client",
         "the hub closed the connection before authenticating us "
         "(%s); trying again in %u ms",
         h->err.msg, retry_ms[h->attempt]);
  tk_client_stats_free(h->st);
  memset(h->st, 0, sizeof *h->st);
  uv_timer_start(&h->timer, on_timer, retry_ms[h->attempt++], 0);
}

static void on_timer(uv_timer_t *t)
{
  tk_client_handle_t *h = t->data;
  if (h->c.conn) return; /* NEVER: the timer runs between attempts only */
  if (h->attempt_on) {   /* the attempt's connection has closed */
    attempt_over(h, h->c.rc);
    return;
  }
  int rc = attempt_start(h); /* the pause before another attempt is over */
  if (rc) attempt_over(h, rc);
}

/* The attempt's connection has closed (from its on_close): the rest runs
 * from the loop, after the connection is gone. */
static void attempt_closed(client_t *c)
{
  tk_client_handle_t *h = c->owner;
  uv_timer_start(&h->timer, on_timer, 0, 0);
}

int tk_client_start(uv_loop_t *loop, tk_office_t *o, const tk_client_opts_t *opts,
                    tk_client_stats_t *st, tk_client_end_fn on_end, void *ctx,
                    tk_client_handle_t **out, tk_err_t *err)
{
  if (out) *out = NULL;
  if (!loop || !o || !opts || !st || !on_end)
    return tk_err_set(err, TK_EINVAL, "tk_client_start: missing argument");
  tk_client_handle_t *h = calloc(1, sizeof *h);
  if (!h) return tk_err_set(err, TK_ENOMEM, "out of memory");
  h->loop = loop;
  h->o = o;
  h->opts = opts;
  h->st = st;
  h->on_end = on_end;
  h->ctx = ctx;
  clock_gettime(CLOCK_MONOTONIC, &h->t0);
  uv_timer_init(loop, &h->timer); /* cannot fail */
  h->timer.data = h;
  int rc = attempt_start(h);
  if (rc) {
    /* nothing under way: the error is the caller's, no callback */
    if (h->attempt_on) {
      tk_tls_free(h->tls);
      client_done(&h->c);
    }
    if (err) *err = h->err;
    h->st->seconds = seconds_since(&h->t0);
    h->on_end = NULL;
    uv_close((uv_handle_t *)&h->timer, handle_freed);
    return rc;
  }
  if (out) *out = h;
  return 0;
}

void tk_client_cancel(tk_client_handle_t *h)
{
  if (h->ending || h->cancelled) return;
  h->cancelled = 1;
  if (h->c.conn) {
    tk__client_stop(&h->c, TK_ECLOSED, "the sync was cancelled");
  } else if (!h->attempt_on) { /* pausing before another attempt */
    uv_timer_stop(&h->timer);
    handle_end(h, h->c.rc ? h->c.rc : TK_ECLOSED);
  }
}

typedef struct run_wait {
  int rc;
  tk_err_t *err;
} run_wait_t;

static void run_ended(void *ctx, int rc, const tk_client_stats_t *st, const tk_err_t *e)
{
  run_wait_t *w = ctx;
  (void)st;
  w->rc = rc;
  if (w->err) *w->err = *e;
}

int tk_client_run(tk_office_t *o, const tk_client_opts_t *opts, tk_client_stats_t *st,
                  tk_err_t *err)
{
  uv_loop_t loop;
  run_wait_t w = {0, err};
  uv_loop_init(&loop);
  int rc = tk_client_start(&loop, o, opts, st, run_ended, &w, NULL, err);
  uv_run(&loop, UV_RUN_DEFAULT);
  int lc = uv_loop_close(&loop);
  TK_ASSERT(lc == 0);
  return rc ? rc : w.rc;
}

void tk_client_stats_free(tk_client_stats_t *st)
{
  free(st->rejected);
  free(st->refused);
  st->rejected = st->refused = NULL;
  st->nrejected = st->nrefused = 0;
}

/* ---- for tests and fuzzing: a session on a memory connection ----------------- */

struct tk_client_session {
  client_t c;
  struct timespec t0;
};

int tk_client_session_new(tk_client_session_t **out, tk_office_t *o,
                          const tk_client_opts_t *opts, tk_client_stats_t *st,
                          const uint8_t peer_spki[TK_HASH_LEN],
                          int (*sink)(void *ctx, tk_slice_t payload), void *sink_ctx,
                          tk_err_t *err)
{
  char host[TK_TOKEN_MAX_ADDR + 1];
  int port;
  *out = NULL;
  tk_client_session_t *s = calloc(1, sizeof *s);
  if (!s) return tk_err_set(err, TK_ENOMEM, "out of memory");
  clock_gettime(CLOCK_MONOTONIC, &s->t0);
  int rc = client_init(&s->c, o, opts, st, host, &port, err);
  if (!rc) rc = tk_conn_memory(&client_cbs, &s->c, 0, sink, sink_ctx, &s->c.conn, err);
  if (rc) {
    free(s);
    return rc;
  }
  *out = s;
  /* TK_ECLOSED: on_ready already ended the run (c.conn is NULL now) */
  rc = tk_conn_memory_ready(s->c.conn, peer_spki);
  TK_ASSERT(rc == 0 || rc == TK_ECLOSED);
  return 0;
}

int tk_client_session_deliver(tk_client_session_t *s, tk_slice_t payload)
{
  if (!s->c.conn) return TK_ECLOSED;
  int rc = tk_conn_memory_deliver(s->c.conn, payload);
  TK_ASSERT(rc == 0 || rc == TK_ECLOSED);
  return rc;
}

int tk_client_session_finish(tk_client_session_t *s)
{
  if (s->c.conn) tk_conn_close(s->c.conn, 0, NULL); /* on_close runs now */
  TK_ASSERT(s->c.conn == NULL);
  client_done(&s->c);
  s->c.st->seconds = seconds_since(&s->t0);
  int rc = s->c.rc;
  free(s);
  return rc;
}
