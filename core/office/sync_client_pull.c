/*
 * sync_client_pull.c: the office's policy on what it pulls (PROTOCOL.md
 * section 7; the exchange itself, pipelined, is the initiator's,
 * sync_initiator.c): the membership check and the office's moderation,
 * prepared on the helper threads of tk_sync_apply_judged and judged a few
 * hundred revisions at a time, then the batch stored with its checkpoint.
 * The caller's loop thread only (the helpers touch no store).
 */
#include "sync_client_internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tk_plugin.h"

/* Pulling in parallel: the decryption and JSON parsing the office's
 * moderation rules need run ahead on tk_sync_apply_prep's threads, with
 * the vault keys already in memory; then the rules run on this thread for
 * a few hundred revisions at once (pull_judge: one worker request per rule),
 * and each verdict is applied in order (quarantine in the store) where
 * the policy used to run the rules. */
typedef struct pull_apply {
  client_t *c;
} pull_apply_t;

/* The office's moderation rules on a pulled revision, all on this thread:
 * metadata always, the record too when this office holds the vault key. */
static int pull_policy(pull_apply_t *a, const tk_rev_t *rev, char *reason, size_t len)
{
  client_t *c = a->c;
  tk_buf_t plain = TK_BUF_INIT;
  uint8_t key[TK_VAULT_KEY_LEN];
  tk_slice_t body = {NULL, 0};
  if (tk_plugin_moderation_reads(c->opts->plugins, rev->type)) {
    int have = tk_office_vault_key(c->o, rev->vault, rev->key_id, key, NULL) == 0;
    /* the batch's earlier revisions are stored by now: a delta's base too */
    if (have && tk_office_body(c->o, rev, key, NULL, 0, &plain, NULL, NULL) == 0)
      body = TK_SLICE(plain.p, plain.n);
    tk_wipe(key, sizeof key);
  }
  int code =
      tk_sync_moderate(c->opts->plugins, c->store, rev, body, c->hub.id, reason, len);
  tk_buf_wipe(&plain);
  return code;
}

typedef struct pull_prep {
  json_t *record;  /* NULL: the body did not open under the vault key */
  int parse_error; /* the body did not parse: e says why */
  tk_err_t e;
  int judged; /* pull_judge gave v: the policy applies it */
  tk_plugin_verdict_t v;
} pull_prep_t;

static void *pull_prepare(void *ctx, const tk_rev_t *rev)
{
  pull_apply_t *a = ctx;
  tk_plugin_set_t *set = a->c->opts->plugins;
  if (!tk_plugin_moderation_reads(set, rev->type)) return NULL; /* nothing to open */
  uint8_t key[TK_VAULT_KEY_LEN];
  int have = tk_office_vault_key_cached(a->c->o, rev->vault, rev->key_id, key) == 0;
  /* Not in memory yet (this thread may not read the store), or no memory:
   * pull_policy_prep then does it all itself. */
  pull_prep_t *p = have ? calloc(1, sizeof *p) : NULL;
  if (!p) {
    tk_wipe(key, sizeof key);
    return NULL;
  }
  tk_buf_t plain = TK_BUF_INIT;
  int rc = tk_rev_open(rev, key, &plain, NULL);
  if (rc == 0 && plain.p)
    p->parse_error =
        tk__plugin_json_parse(TK_SLICE(plain.p, plain.n), &p->record, &p->e) < 0;
  tk_wipe(key, sizeof key);
  tk_buf_wipe(&plain);
  if (rc == TK_EPARENT) { /* a delta: its chain is read on the loop thread */
    free(p);
    return NULL;
  }
  return p;
}

/* The record of rev opened and parsed on this thread (pull_prepare could
 * not: its key was not in memory, or it is a delta, whose base may be in
 * the store or earlier in this judge range, revs[0..n), not yet stored).
 * NULL on memory failure (pull_policy_prep then does it all itself). */
static pull_prep_t *pull_open_here(pull_apply_t *a, const tk_rev_t *rev,
                                   const tk_rev_t *const *revs, size_t n)
{
  client_t *c = a->c;
  pull_prep_t *p = calloc(1, sizeof *p);
  if (!p || !tk_plugin_moderation_reads(c->opts->plugins, rev->type)) return p;
  uint8_t key[TK_VAULT_KEY_LEN];
  tk_buf_t plain = TK_BUF_INIT;
  int have = tk_office_vault_key(c->o, rev->vault, rev->key_id, key, NULL) == 0;
  if (have && tk_office_body(c->o, rev, key, revs, n, &plain, NULL, NULL) == 0 && plain.p)
    p->parse_error =
        tk__plugin_json_parse(TK_SLICE(plain.p, plain.n), &p->record, &p->e) < 0;
  tk_wipe(key, sizeof key);
  tk_buf_wipe(&plain);
  return p;
}

/* The verdicts of a range of the batch at once (a few hundred revisions:
 * tk_sync_apply_judged), on this thread, before the range's first policy
 * call: the records pull_prepare opened ahead, the others opened here;
 * then each revision's verdict waits in its prep for pull_policy_prep. */
static void pull_judge(void *ctx, size_t n, const tk_rev_t *const *revs, void **preps)
{
  pull_apply_t *a = ctx;
  json_t **records = calloc(n ? n : 1, sizeof *records);
  const char **errors = calloc(n ? n : 1, sizeof *errors);
  tk_plugin_verdict_t *v = calloc(n ? n : 1, sizeof *v);
  if (!records || !errors || !v) goto done;
  for (size_t i = 0; i < n; i++) {
    if (!revs[i]) continue;
    if (!preps[i]) preps[i] = pull_open_here(a, revs[i], revs, i);
    pull_prep_t *p = preps[i];
    if (!p) continue;
    records[i] = p->record;
    errors[i] = p->parse_error ? p->e.msg : NULL;
  }
  if (tk_sync_moderation_verdicts(a->c->opts->plugins, revs, NULL, records, errors, n, 0,
                                  v) != 0)
    goto done;
  for (size_t i = 0; i < n; i++) {
    pull_prep_t *p = preps[i];
    if (!revs[i] || !p || v[i].verdict == TK_VERDICT_UNJUDGED) continue;
    p->v = v[i];
    p->judged = 1;
  }
done:
  free(records);
  free(errors);
  free(v);
}

static int pull_policy_rules(pull_apply_t *a, const tk_rev_t *rev, pull_prep_t *p,
                             char *reason, size_t len);

/* A pulled revision one of this office's rules refuses is never dropped
 * (its pull checkpoint moves past it): it is held in the office's
 * quarantine with the rule's reason, for `tunduk quarantine release` once
 * the rule is fixed (README, "Nothing stranded"). */
static int pull_policy_prep(void *ctx, const tk_rev_t *rev, void *prep, char *reason,
                            size_t len)
{
  pull_apply_t *a = ctx;
  int code = pull_policy_rules(a, rev, prep, reason, len);
  if (code != TK_REJECT_MODERATION) return code;
  char why[320];
  tk_err_t e;
  snprintf(why, sizeof why, "%s%s", TK_OFFICE_RULE_REFUSED, reason);
  if (tk_store_quarantine_put(a->c->store, rev, a->c->hub.id, why, &e) != 0) {
    snprintf(reason, len, "could not quarantine: %.150s", tk_err_str(&e));
    return TK_REJECT_INTERNAL;
  }
  snprintf(reason, len, "%s", why);
  return TK_REJECT_QUARANTINED;
}

static int pull_policy_rules(pull_apply_t *a, const tk_rev_t *rev, pull_prep_t *p,
                             char *reason, size_t len)
{
  tk_plugin_set_t *set = a->c->opts->plugins;
  /* The vault's membership log first: a revision it does not let count is
   * kept as evidence, never stored as a version of the record. */
  char why[200];
  if (tk_office_member_check(a->c->o, rev, why, sizeof why) != 0) {
    tk_err_t e;
    snprintf(reason, len, "membership: %s", why);
    if (tk_store_refused_put(a->c->store, rev, a->c->hub.id, reason, &e) != 0) {
      snprintf(reason, len, "%.150s", e.msg);
      return TK_REJECT_INTERNAL;
    }
    return TK_REJECT_QUARANTINED;
  }
  if (!set || tk_plugin_set_count(set, TK_PLUGIN_MODERATION) == 0) return 0;
  if (p && p->judged)
    return tk_sync_moderate_apply(&p->v, a->c->store, rev, a->c->hub.id, reason, len);
  if (!p) return pull_policy(a, rev, reason, len);
  return tk_sync_moderate_parsed(a->c->opts->plugins, a->c->store, rev, p->record,
                                 p->parse_error ? p->e.msg : NULL, a->c->hub.id, reason,
                                 len);
}

static void pull_release(void *ctx, void *prep)
{
  pull_prep_t *p = prep;
  (void)ctx;
  json_decref(p->record);
  free(p);
}

/* Checks and stores one pulled batch (ids: what each was asked for as)
 * with the checkpoint upto, in one transaction. Stops the session on a
 * failure. */
int tk__client_store_pulled(void *ctx, const tk_slice_t *revs, const tk_slice_t *ids,
                            size_t n, uint64_t upto)
{
  client_t *c = ctx;
  tk_apply_result_t res;
  tk_plugin_set_t *set = c->opts->plugins;
  int rc = 0;
  if (!c->keys_loaded && set && tk_plugin_set_count(set, TK_PLUGIN_MODERATION) > 0) {
    rc = tk_office_vault_keys_load(c->o, c->err);
    c->keys_loaded = rc == 0;
  }
  if (rc == 0) {
    tk_apply_ckpt_t ck = {c->hub.id, TK_DIR_PULL, upto};
    pull_apply_t a = {c};
    tk_apply_prep_t hooks = {pull_prepare, pull_policy_prep, pull_release};
    int judged = set && tk_plugin_set_count(set, TK_PLUGIN_MODERATION) > 0;
    rc = tk_sync_apply_judged(c->store, revs, ids, n, c->hub.id, &hooks,
                              judged ? pull_judge : NULL, &a, &ck, &res, c->err);
  }
  if (rc)
    return tk__client_stop(c, rc, "storing pulled revisions failed: %s", c->err->msg);
  c->st->received += res.accepted;
  c->st->duplicates += res.duplicates;
  c->st->own += res.own;
  c->st->rev_bytes_in += res.bytes;
  for (size_t i = 0; i < res.nrejected; i++)
    tk__client_add_reject(&c->st->refused, &c->st->nrefused, res.rejected[i].id,
                          res.rejected[i].code, res.rejected[i].reason);
  tk_apply_result_free(&res);
  tk__client_progress(c);
  return 0;
}
