/*
 * office_sync.c: the sync calls of the front ends' API (tk_office.h):
 * sync, enroll, vault grant and remove, each one blocking run of the
 * office's sync client (tk_client_run, tk_client.h) with the office's own
 * checks first ("token for another hub", "no vault") and its statistics
 * handed back as the office's result struct. One thread at a time, as
 * tk_office_t.
 */
#include "office_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tk_client.h"
#include "tk_meta.h"
#include "tk_token.h"

void tk_office_sync_result_free(tk_office_sync_result_t *r)
{
  if (!r) return;
  free(r->rejected);
  free(r->refused);
  json_decref(r->unsent);
  r->unsent = NULL;
  r->rejected = r->refused = NULL;
  r->nrejected = r->nrefused = 0;
}

/* The counts of st into r (the lists are not touched). */
static void counts(tk_office_sync_result_t *r, const tk_client_stats_t *st)
{
  r->sent = st->sent;
  r->received = st->received;
  r->duplicates = st->duplicates;
  r->own_echoes = st->own;
  r->hub_restored = st->hub_restored;
  r->skipped = st->skipped;
  r->rev_bytes_out = st->rev_bytes_out;
  r->rev_bytes_in = st->rev_bytes_in;
  r->chunks_sent = st->chunks_sent;
  r->chunks_received = st->chunks_received;
  r->chunk_bytes_out = st->chunk_bytes_out;
  r->chunk_bytes_in = st->chunk_bytes_in;
  r->chunks_refused = st->chunks_refused;
  r->bytes_out = st->bytes_out;
  r->bytes_in = st->bytes_in;
  r->round_trips = st->round_trips;
  r->tls_resumed = st->tls_resumed;
  r->grants = st->grants;
  r->log_entries = st->log_entries;
  r->log_refused_entries = st->log_refused_entries;
  r->rotations = st->rotations;
  memcpy(r->log_refused, st->log_refused, sizeof r->log_refused);
  r->log_refused[sizeof r->log_refused - 1] = 0;
  r->conflicts_before = st->conflicts_before;
  r->conflicts_after = st->conflicts_after;
  memcpy(r->access, st->access, sizeof r->access);
  r->access[sizeof r->access - 1] = 0;
  r->seconds = st->seconds;
}

static int rejects(tk_office_reject_t **out, size_t *nout, const tk_reject_t *v, size_t n)
{
  *out = NULL;
  *nout = 0;
  if (!n) return 0;
  if (!(*out = calloc(n, sizeof **out))) return TK_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    memcpy((*out)[i].id, v[i].id, TK_REV_ID_LEN);
    (*out)[i].code = v[i].code;
    (*out)[i].held = v[i].code == TK_REJECT_QUARANTINED;
    memcpy((*out)[i].reason, v[i].reason, sizeof(*out)[i].reason);
    (*out)[i].reason[sizeof(*out)[i].reason - 1] = 0;
  }
  *nout = n;
  return 0;
}

static int result(tk_office_sync_result_t *r, const tk_client_stats_t *st, tk_err_t *err)
{
  counts(r, st);
  if (rejects(&r->rejected, &r->nrejected, st->rejected, st->nrejected) ||
      rejects(&r->refused, &r->nrefused, st->refused, st->nrefused)) {
    tk_office_sync_result_free(r);
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  }
  return 0;
}

typedef struct progress_ctx {
  const tk_office_sync_opts_t *opts;
  tk_office_sync_result_t r;
} progress_ctx_t;

static void progress(void *ctx, const tk_client_stats_t *st)
{
  progress_ctx_t *p = ctx;
  counts(&p->r, st);
  p->opts->progress(p->opts->progress_ctx, &p->r);
}

/* The client's options for a sync of o: the office's checks and its plugins. */
static int sync_prepare(tk_office_t *o, const tk_office_sync_opts_t *opts,
                        tk_client_opts_t *co, progress_ctx_t *p, tk_err_t *err)
{
  struct tk_plugin_set *plugins = NULL;
  memset(co, 0, sizeof *co);
  memset(p, 0, sizeof *p);
  co->mode = TK_CLIENT_SYNC;
  co->resend = opts->resend;
  co->no_resume = opts->no_resume;
  if (opts->timeout_s > TK_OFFICE_SYNC_TIMEOUT_MAX)
    return tk_err_set(err, TK_EINVAL, "sync timeout of %u s is over the maximum %u s",
                      opts->timeout_s, TK_OFFICE_SYNC_TIMEOUT_MAX);
  co->timeout_ms = opts->timeout_s * 1000u;
  if (opts->progress) {
    p->opts = opts;
    co->progress = progress;
    co->progress_ctx = p;
  }
  int rc = tk_office_need_keys(o, err);
  if (!rc) rc = tk__office_plugins(o, &plugins, err);
  co->plugins = plugins;
  return rc;
}

/* What follows a run of the client (rc its outcome): r from st, then the
 * office's own steps. */
static int sync_finish(tk_office_t *o, int rc, const tk_client_stats_t *st,
                       tk_office_sync_result_t *r, tk_err_t *err)
{
  if (!rc) rc = result(r, st, err);
  if (!rc) {
    char now[32];
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    rc = tk_store_meta_set(o->store, TK_META_LAST_SYNC, now, err);
  }
  /* what this office's rules refused before, judged by them as they are now */
  if (!rc) rc = tk__office_rejudge(o, &r->released_here, err);
  /* what is still not at the hub: refused, not sent for access, held there */
  if (!rc) rc = tk__office_unsent_json(o, 0, &r->unsent, err);
  /* pulled (or just released) tombstones, also after a sync that failed
   * midway; a failure is logged and the next unlock tries again */
  tk__office_learn_deleted(o, NULL);
  /* the followed vault's plugin set, as just pulled; its failure is
   * reported in r and fails nothing of the sync (office_plugin_set.c) */
  if (!rc) tk_office_plugin_set_apply(o, &r->plugin_set);
  if (rc) tk_office_sync_result_free(r);
  return rc;
}

int tk_office_sync(tk_office_t *o, const tk_office_sync_opts_t *opts,
                   tk_office_sync_result_t *r, tk_err_t *err)
{
  tk_client_stats_t st;
  tk_client_opts_t co;
  progress_ctx_t p;
  memset(r, 0, sizeof *r);
  int rc = sync_prepare(o, opts, &co, &p, err);
  if (rc) return rc;
  memset(&st, 0, sizeof st);
  rc = tk_client_run(o, &co, &st, err);
  rc = sync_finish(o, rc, &st, r, err);
  tk_client_stats_free(&st);
  return rc;
}

/* A sync on the caller's loop (tk_office_sync_start). */
struct tk_office_sync_run {
  tk_office_t *o;
  tk_office_sync_opts_t opts;
  tk_client_opts_t co;
  progress_ctx_t p;
  tk_client_stats_t st;
  tk_office_sync_result_t r;
  tk_client_handle_t *h;
  tk_office_sync_end_fn on_end;
  void *ctx;
};

static void run_ended(void *ctx, int rc, const tk_client_stats_t *st,
                      const tk_err_t *cerr)
{
  tk_office_sync_run_t *run = ctx;
  tk_err_t err = *cerr;
  (void)st; /* run->st */
  rc = sync_finish(run->o, rc, &run->st, &run->r, &err);
  tk_client_stats_free(&run->st);
  run->on_end(run->ctx, rc, &run->r, &err);
  tk_office_sync_result_free(&run->r);
  free(run);
}

int tk_office_sync_start(tk_office_t *o, struct uv_loop_s *loop,
                         const tk_office_sync_opts_t *opts, tk_office_sync_end_fn on_end,
                         void *ctx, tk_office_sync_run_t **out, tk_err_t *err)
{
  tk_office_sync_run_t *run = calloc(1, sizeof *run);
  if (out) *out = NULL;
  if (!run) return tk_err_set(err, TK_ENOMEM, "out of memory");
  run->o = o;
  run->opts = *opts;
  run->on_end = on_end;
  run->ctx = ctx;
  int rc = sync_prepare(o, &run->opts, &run->co, &run->p, err);
  if (!rc)
    rc = tk_client_start(loop, o, &run->co, &run->st, run_ended, run, &run->h, err);
  if (rc) {
    free(run);
    return rc;
  }
  if (out) *out = run;
  return 0;
}

void tk_office_sync_cancel(tk_office_sync_run_t *run)
{
  if (run && run->h) tk_client_cancel(run->h);
}

static json_t *rejects_json(const tk_office_reject_t *v, size_t n)
{
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < n; i++) {
    char hex[2 * TK_REV_ID_LEN + 1];
    tk_hex_encode(hex, v[i].id, TK_REV_ID_LEN);
    json_array_append_new(arr, json_pack("{s:s,s:i,s:s}", "id", hex, "code", v[i].code,
                                         "reason", v[i].reason));
  }
  return arr;
}

size_t tk_office_sync_stranded(const tk_office_sync_result_t *r)
{
  size_t stranded = 0, i;
  json_t *u;
  json_array_foreach(r->unsent, i, u)
  {
    const char *state = json_string_value(json_object_get(u, "state"));
    if (state && strcmp(state, "held") != 0) stranded++;
  }
  return stranded;
}

json_t *tk_office_sync_result_json(const tk_office_sync_result_t *r)
{
  uint32_t new_conflicts = r->conflicts_after > r->conflicts_before
                               ? r->conflicts_after - r->conflicts_before
                               : 0;
  json_t *j = json_pack(
      "{s:I,s:I,s:I,s:I,s:o,s:o,s:I,s:I,s:I}", "sent", (json_int_t)r->sent, "received",
      (json_int_t)r->received, "duplicates", (json_int_t)r->duplicates, "skipped",
      (json_int_t)r->skipped, "rejected", rejects_json(r->rejected, r->nrejected),
      "refused", rejects_json(r->refused, r->nrefused), "conflicts",
      (json_int_t)r->conflicts_after, "new_conflicts", (json_int_t)new_conflicts,
      "grants", (json_int_t)r->grants);
  if (!j) return NULL;
  json_object_set_new(j, "log_entries", json_integer(r->log_entries));
  json_object_set_new(j, "log_entries_refused", json_integer(r->log_refused_entries));
  json_object_set_new(j, "log_refused", json_string(r->log_refused));
  json_object_set_new(j, "rotations", json_integer(r->rotations));
  json_object_set_new(j, "bytes_out", json_integer((json_int_t)r->bytes_out));
  json_object_set_new(j, "bytes_in", json_integer((json_int_t)r->bytes_in));
  json_object_set_new(j, "rev_bytes_out", json_integer((json_int_t)r->rev_bytes_out));
  json_object_set_new(j, "rev_bytes_in", json_integer((json_int_t)r->rev_bytes_in));
  json_object_set_new(j, "chunks_sent", json_integer((json_int_t)r->chunks_sent));
  json_object_set_new(j, "chunks_received", json_integer((json_int_t)r->chunks_received));
  json_object_set_new(j, "chunk_bytes_out", json_integer((json_int_t)r->chunk_bytes_out));
  json_object_set_new(j, "chunk_bytes_in", json_integer((json_int_t)r->chunk_bytes_in));
  json_object_set_new(j, "chunks_refused", json_integer((json_int_t)r->chunks_refused));
  json_object_set_new(j, "round_trips", json_integer((json_int_t)r->round_trips));
  json_object_set_new(j, "tls_resumed", json_boolean(r->tls_resumed));
  json_object_set_new(j, "seconds", json_real(r->seconds));
  json_object_set_new(j, "access", json_string(r->access));
  json_object_set_new(j, "own_returned", json_integer((json_int_t)r->own_echoes));
  json_object_set_new(j, "hub_restored", json_boolean(r->hub_restored));
  json_object_set_new(j, "released_here", json_integer(r->released_here));
  json_object_set_new(j, "unsent", r->unsent ? json_incref(r->unsent) : json_array());
  json_object_set_new(j, "stranded",
                      json_integer((json_int_t)tk_office_sync_stranded(r)));
  if (r->plugin_set.message[0])
    json_object_set_new(j, "plugins", json_string(r->plugin_set.message));
  return j;
}

int tk_office_token_check(const char *token, tk_err_t *err)
{
  tk_token_t tok;
  int rc = tk_token_parse(&tok, token, err);
  tk_wipe(&tok, sizeof tok);
  if (rc) err->code = TK_EINVAL; /* bad input, with the parser's message */
  return rc ? TK_EINVAL : 0;
}

static int enroll(tk_office_t *o, const char *token, int move, tk_office_sync_result_t *r,
                  tk_err_t *err)
{
  uint8_t old[TK_DEVICE_ID_LEN];
  int had_old = 0;
  tk_token_t tok;
  tk_client_stats_t st;
  tk_client_opts_t co;
  char have[TK_DEVICE_ID_STRLEN];
  memset(r, 0, sizeof *r);
  int rc = tk_token_parse(&tok, token, err);
  if (rc) {
    err->code = TK_EINVAL;
    return TK_EINVAL;
  }
  if (tk_store_meta_get(o->store, TK_META_HUB_ID, have, sizeof have, NULL) == 0) {
    uint8_t pinned[TK_DEVICE_ID_LEN];
    /* A token changes nothing for a device the hub knows (issue 17: a
     * second token "succeeded" and the access stayed as it was). */
    if (tk_device_id_parse(pinned, have) == 0 &&
        tk_ct_equal(pinned, tok.hub_id, TK_DEVICE_ID_LEN)) {
      tk_wipe(&tok, sizeof tok);
      return tk_err_set(
          err, TK_EEXIST,
          "this office is already enrolled at hub %s; a new token does not "
          "change what it may sync (the token was not used): the hub's admin "
          "changes its access with 'tundukd device access NAME --vault "
          "V[:rw]', and this office learns it at its next 'tunduk sync'",
          have);
    }
    if (tk_device_id_parse(pinned, have) == 0 &&
        !tk_ct_equal(pinned, tok.hub_id, TK_DEVICE_ID_LEN)) {
      memcpy(old, pinned, TK_DEVICE_ID_LEN);
      had_old = 1;
      if (!move)
        rc = tk_err_set(err, TK_EEXIST,
                        "this office is already enrolled at hub %s; the token is for "
                        "another hub (to move this office to that hub: 'tunduk enroll "
                        "--move TOKEN')",
                        have);
    }
  }
  if (!rc) rc = tk_office_need_keys(o, err);
  memset(&co, 0, sizeof co);
  co.mode = TK_CLIENT_ENROLL;
  co.token = &tok;
  if (!rc) {
    memset(&st, 0, sizeof st);
    rc = tk_client_run(o, &co, &st, err);
    if (!rc) rc = result(r, &st, err);
    tk_client_stats_free(&st);
  }
  tk_wipe(&tok, sizeof tok);
  if (!rc && had_old) {
    /* the new pin is saved: what was kept for the old hub goes, so the
     * next sync offers every record to the new one */
    rc = tk_office_hub_forget(o, old, err);
    if (!rc) rc = tk_store_meta_set(o->store, TK_META_LAST_SYNC, "", err);
    if (rc) tk_office_sync_result_free(r);
  }
  if (rc) return rc;
  tk_store_meta_get(o->store, TK_META_HUB_ID, r->hub_id, sizeof r->hub_id, NULL);
  tk_store_meta_get(o->store, TK_META_HUB_ADDR, r->hub_addr, sizeof r->hub_addr, NULL);
  return 0;
}

int tk_office_enroll(tk_office_t *o, const char *token, tk_office_sync_result_t *r,
                     tk_err_t *err)
{
  return enroll(o, token, 0, r, err);
}

int tk_office_enroll_move(tk_office_t *o, const char *token, tk_office_sync_result_t *r,
                          tk_err_t *err)
{
  return enroll(o, token, 1, r, err);
}

/* vault grant / vault remove: one membership change through the hub. */
static int member_change(tk_office_t *o, int mode, const char *vault, const char *device,
                         int reader, tk_err_t *err)
{
  uint8_t dev[TK_DEVICE_ID_LEN];
  tk_client_stats_t st;
  tk_client_opts_t co;
  tk_vault_info_t vi;
  if (tk_device_id_parse(dev, device) != 0) return tk_office_device_id_check(device, err);
  int rc = tk_store_vault_get(o->store, vault, &vi, err);
  if (rc == TK_ENOTFOUND) tk_err_set(err, rc, "no vault '%s'", vault);
  if (!rc) rc = tk_office_need_keys(o, err);
  memset(&co, 0, sizeof co);
  co.mode = mode;
  co.grant_vault = vault;
  co.grant_to = dev;
  co.grant_reader = reader;
  memset(&st, 0, sizeof st);
  if (!rc) rc = tk_client_run(o, &co, &st, err);
  tk_client_stats_free(&st);
  return rc;
}

int tk_office_grant(tk_office_t *o, const char *vault, const char *device, int reader,
                    tk_err_t *err)
{
  return member_change(o, TK_CLIENT_GRANT, vault, device, reader, err);
}

int tk_office_revoke(tk_office_t *o, const char *vault, const char *device, tk_err_t *err)
{
  return member_change(o, TK_CLIENT_REMOVE, vault, device, 0, err);
}
