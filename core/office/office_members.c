/*
 * office_members.c: an office's vault membership logs (tk_member.h,
 * PROTOCOL.md section 10): the genesis of a vault it creates, the entries
 * it takes from the hub (each replayed from the genesis, never trusted),
 * the grants it takes (only those that chain to the log), the check that
 * decides whether a pulled revision counts, and the changes it makes
 * (add a member, remove members and rotate the key), prepared here, sent
 * by the sync client, and stored only once the hub has acknowledged them.
 * One thread at a time, as tk_office.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tk_meta.h"
#include "office_internal.h"

void tk__office_logs_free(tk_office_t *o)
{
  for (size_t i = 0; i < o->nlogs; i++)
    tk_member_log_free(&o->logs[i].log);
  free(o->logs);
  o->logs = NULL;
  o->nlogs = 0;
}

typedef struct replay {
  tk_member_log_t *l;
  tk_err_t *err;
} replay_t;

static int replay_entry(void *ctx, tk_slice_t body, tk_slice_t sig)
{
  replay_t *r = ctx;
  return tk_member_log_take(r->l, body, sig, r->err);
}

int tk_office_log(tk_office_t *o, const char *vault, const tk_member_log_t **out,
                  tk_err_t *err)
{
  for (size_t i = 0; i < o->nlogs; i++)
    if (strcmp(o->logs[i].vault, vault) == 0) {
      *out = &o->logs[i].log;
      return 0;
    }
  office_log_t *nl = realloc(o->logs, (o->nlogs + 1) * sizeof *nl);
  if (!nl) return tk_err_set(err, TK_ENOMEM, "out of memory");
  o->logs = nl;
  office_log_t *ol = &nl[o->nlogs];
  snprintf(ol->vault, sizeof ol->vault, "%s", vault);
  tk_member_log_init(&ol->log);
  replay_t r = {&ol->log, err};
  int rc = tk_store_log_each(o->store, vault, 0, replay_entry, &r, err);
  if (rc) {
    tk_member_log_free(&ol->log);
    return tk_err_set(err, rc, "the membership log of vault %s does not replay: %s",
                      vault, err ? err->msg : "");
  }
  o->nlogs++;
  *out = &ol->log;
  return 0;
}

static int store_entry(tk_office_t *o, const tk_entry_t *e, tk_err_t *err)
{
  return tk_store_log_put(o->store, e->label, e->seq, e->id,
                          TK_SLICE(e->body.p, e->body.n), TK_SLICE(e->sig, TK_SIG_LEN),
                          err);
}

int tk__office_genesis(tk_office_t *o, const char *vault,
                       const uint8_t key_id[TK_KEY_ID_LEN], tk_err_t *err)
{
  tk_member_log_t empty;
  tk_entry_t e;
  tk_entry_draft_t d = {TK_ENTRY_GENESIS, NULL, NULL, 1, key_id};
  tk_member_log_init(&empty);
  int rc = tk_member_entry_make(&empty, vault, &d, o->id, &e, err);
  if (!rc) rc = store_entry(o, &e, err);
  tk_entry_free(&e);
  return rc;
}

int tk__office_may_write(tk_office_t *o, const char *vault, tk_err_t *err)
{
  const tk_member_log_t *l;
  tk_vault_info_t vi;
  char why[200];
  /* the hub's access list first: a vault this device may only read there */
  int rc = tk_office_write_allowed(o, vault, err);
  if (!rc) rc = tk_office_log(o, vault, &l, err);
  if (rc || l->n == 0) return rc;
  rc = tk_store_vault_get(o->store, vault, &vi, err);
  if (rc) return rc;
  const uint8_t *cur = tk_member_current_key(l);
  if (memcmp(cur, vi.key_id, TK_KEY_ID_LEN) != 0)
    return tk_err_set(err, TK_ENOKEY,
                      "the key of vault %s was rotated and this device has not received "
                      "the new one yet: sync, then try again",
                      vault);
  if (tk_member_check_rev(l, o->id->id, cur, why, sizeof why) != 0)
    return tk_err_set(err, TK_EACCESS,
                      "this device is not a writer of vault %s (its membership log)",
                      vault);
  return 0;
}

int tk_office_member_check(tk_office_t *o, const tk_rev_t *rev, char *reason, size_t len)
{
  const tk_member_log_t *l;
  tk_err_t e;
  if (tk_office_log(o, rev->vault, &l, &e) != 0) {
    snprintf(reason, len, "%.150s", e.msg);
    return TK_EACCESS;
  }
  if (l->n == 0) {
    snprintf(reason, len, "vault %s has no membership log here yet", rev->vault);
    return TK_EACCESS;
  }
  int rc = tk_member_check_rev(l, rev->author, rev->key_id, reason, len);
  if (rc || rev->nparents == 0) return rc;
  uint8_t keys[TK_MAX_PARENTS][TK_KEY_ID_LEN];
  size_t n = 0;
  if (tk_store_parent_keys(o->store, rev, keys, &n, &e) != 0) {
    snprintf(reason, len, "%.150s", e.msg);
    return TK_EACCESS;
  }
  return tk_member_check_parents(l, rev->key_id, (const uint8_t(*)[TK_KEY_ID_LEN])keys, n,
                                 reason, len);
}

/* Whether stored revision id counts: 1 yes, 0 no, negative on error. */
static int stored_counts(tk_office_t *o, const uint8_t id[TK_REV_ID_LEN],
                         uint8_t (*parents)[TK_REV_ID_LEN], uint32_t *np, tk_err_t *err)
{
  tk_buf_t b = TK_BUF_INIT;
  tk_rev_t rev;
  char why[200];
  const tk_member_log_t *l;
  int rc = tk_store_get_rev(o->store, id, &b, err);
  if (!rc) rc = tk_rev_parse(&rev, TK_SLICE(b.p, b.n), err);
  if (!rc) rc = tk_office_log(o, rev.vault, &l, err);
  if (!rc) {
    *np = rev.nparents;
    memcpy(parents, rev.parents, (size_t)rev.nparents * TK_REV_ID_LEN);
    rc = l->n == 0 || tk_office_member_check(o, &rev, why, sizeof why) == 0;
  }
  tk_buf_free(&b);
  return rc;
}

#define CURRENT_WALK 64 /* ancestors tried before giving up */

int tk_office_current(tk_office_t *o, const uint8_t record_id[TK_RECORD_ID_LEN],
                      uint8_t rev[TK_REV_ID_LEN], int *not_winner, uint32_t *refused,
                      tk_err_t *err)
{
  uint8_t heads[TK_MAX_PARENTS][TK_REV_ID_LEN], q[CURRENT_WALK][TK_REV_ID_LEN];
  uint8_t parents[TK_MAX_PARENTS][TK_REV_ID_LEN];
  size_t nheads = 0, nq = 0;
  uint32_t np = 0;
  *not_winner = 0;
  int rc = tk_store_refused_for_record(o->store, record_id, refused, err);
  if (!rc) rc = tk_store_heads(o->store, record_id, heads, TK_MAX_PARENTS, &nheads, err);
  if (rc < 0) return rc;
  for (size_t i = 0; i < nheads && nq < CURRENT_WALK; i++)
    memcpy(q[nq++], heads[i], TK_REV_ID_LEN);
  /* breadth first from the heads, winner first: the nearest that counts */
  for (size_t i = 0; i < nq; i++) {
    rc = stored_counts(o, q[i], parents, &np, err);
    if (rc < 0) return rc;
    if (rc == 1) {
      memcpy(rev, q[i], TK_REV_ID_LEN);
      *not_winner = i > 0;
      return 0;
    }
    for (uint32_t k = 0; k < np && nq < CURRENT_WALK; k++)
      memcpy(q[nq++], parents[k], TK_REV_ID_LEN);
  }
  return tk_err_set(err, TK_EACCESS,
                    "no revision of this record counts under its vault's membership log");
}

/* ---- entries from the hub ------------------------------------------------------ */

static int recheck_ok(void *ctx, const tk_rev_t *rev)
{
  char why[200];
  return tk_office_member_check(ctx, rev, why, sizeof why) == 0 &&
         tk_rev_verify_sig(rev, NULL) == 0;
}

/* May this office take e as the genesis of a vault it has no log for? A
 * vault it holds a key for from before membership logs is taken only from
 * the device that granted that key (or this device). */
static int genesis_acceptable(tk_office_t *o, const tk_entry_t *e, char *why, size_t len)
{
  char key[TK_MAX_VAULT_LEN + 16], by[TK_DEVICE_ID_STRLEN], author[TK_DEVICE_ID_STRLEN];
  tk_vault_info_t vi;
  if (tk_store_vault_get(o->store, e->label, &vi, NULL) != 0) return 1; /* new to us */
  tk_device_id_format(author, e->author);
  if (tk_ct_equal(e->author, o->id->id, TK_DEVICE_ID_LEN)) return 1;
  snprintf(key, sizeof key, TK_META_GRANTED_BY_FMT, e->label);
  if (tk_store_meta_get(o->store, key, by, sizeof by, NULL) == 0 &&
      strcmp(by, author) == 0)
    return 1;
  snprintf(why, len,
           "vault %s: a membership log created by device %s, not by the device that "
           "gave this office its key",
           e->label, author);
  return 0;
}

int tk_office_log_take(tk_office_t *o, const tk_slice_t *bodies, const tk_slice_t *sigs,
                       size_t n, uint32_t *taken, uint32_t *refused, tk_err_t *err)
{
  char changed[32]
              [TK_MAX_VAULT_LEN + 1]; /* vaults whose kept-aside revisions to recheck */
  size_t nchanged = 0;
  *taken = *refused = 0;
  if (n == 0) return 0;
  int rc = tk_store_begin(o->store, err); /* every entry taken, in one commit */
  if (rc) return rc;
  for (size_t i = 0; i < n && !rc; i++) {
    tk_entry_t e;
    tk_err_t pe;
    char why[256] = "";
    const tk_member_log_t *l;
    if (tk_entry_parse(&e, bodies[i], sigs[i], &pe) != 0) {
      TK_LOG(TK_LOG_WARN, "sync", "ignoring a vault log entry: %s", pe.msg);
      (*refused)++;
      continue;
    }
    rc = tk_office_log(o, e.label, &l, err);
    if (rc) {
      tk_entry_free(&e);
      break;
    }
    if (e.seq < l->n) { /* have it, or the hub shows another: keep ours */
      if (memcmp(l->entries[e.seq].id, e.id, TK_HASH_LEN) != 0) {
        TK_LOG(TK_LOG_WARN, "sync",
               "vault %s: the hub sent another log entry %u than the "
               "one held here (a fork); kept ours",
               e.label, e.seq);
        (*refused)++;
      }
      tk_entry_free(&e);
      continue;
    }
    if (e.seq == 0 && !genesis_acceptable(o, &e, why, sizeof why)) {
      TK_LOG(TK_LOG_WARN, "sync", "refused %s", why);
      (*refused)++;
      tk_entry_free(&e);
      continue;
    }
    tk_member_log_t *ml = (tk_member_log_t *)l;
    tk_entry_t copy;
    if (tk_entry_parse(&copy, TK_SLICE(e.body.p, e.body.n), TK_SLICE(e.sig, TK_SIG_LEN),
                       &pe) != 0 ||
        tk_member_log_append(ml, &copy, &pe) != 0) {
      TK_LOG(TK_LOG_WARN, "sync", "refused %s", pe.msg);
      (*refused)++;
      tk_entry_free(&copy);
      tk_entry_free(&e);
      continue;
    }
    rc = store_entry(o, &e, err);
    if (!rc) {
      (*taken)++;
      size_t k = 0;
      while (k < nchanged && strcmp(changed[k], e.label))
        k++;
      if (k == nchanged && nchanged < 32)
        snprintf(changed[nchanged++], sizeof changed[0], "%s", e.label);
    }
    tk_entry_free(&e);
  }
  if (!rc) rc = tk_store_commit(o->store, err);
  if (rc) {
    tk_store_rollback(o->store);
    tk__office_logs_free(o); /* the cache may be ahead of the store */
    *taken = 0;
    nchanged = 0;
  }
  /* revisions kept aside before the log let them count now go in */
  for (size_t k = 0; k < nchanged && !rc; k++) {
    uint32_t released = 0;
    rc = tk_store_refused_recheck(o->store, changed[k], recheck_ok, o, &released, err);
    if (released)
      TK_LOG(TK_LOG_INFO, "sync", "vault %s: %u revision%s now count", changed[k],
             released, released == 1 ? "" : "s");
  }
  return rc;
}

/* ---- grants -------------------------------------------------------------------- */

int tk_office_grant_take(tk_office_t *o, tk_slice_t body, tk_slice_t sig, int *taken,
                         tk_err_t *err)
{
  tk_grant_t g;
  tk_err_t e;
  const tk_member_log_t *l;
  uint8_t kid[TK_KEY_ID_LEN];
  uint8_t *key = tk_secure_alloc(TK_VAULT_KEY_LEN);
  char why[200];
  int rc = 0;
  *taken = 0;
  if (!key) return tk_err_set(err, TK_ENOMEM, "cannot allocate locked memory for a key");
  if (tk_grant_verify(body, sig, &g, &e) != 0) {
    TK_LOG(TK_LOG_WARN, "sync", "ignoring a grant that does not verify: %s", e.msg);
    goto done;
  }
  if (!tk_ct_equal(g.recipient, o->id->id, TK_DEVICE_ID_LEN)) goto done;
  if (tk_office_vault_key_held(o, g.vault, g.key_id)) goto done; /* already have it */
  rc = tk_office_log(o, g.vault, &l, err);
  if (rc) goto done;
  if (l->n == 0 || tk_member_check_grant(l, &g, why, sizeof why) != 0) {
    char from[TK_DEVICE_ID_STRLEN];
    tk_device_id_format(from, g.granter);
    TK_LOG(TK_LOG_WARN, "sync", "refused a key for vault %s from device %s: %s", g.vault,
           from, l->n ? why : "the vault has no membership log here");
    goto done;
  }
  if (tk_vault_key_open(key, g.sealed, o->id->kx_pk, o->id->sec->kx_sk) != 0) {
    TK_LOG(TK_LOG_WARN, "sync", "ignoring a grant for vault %s that does not open",
           g.vault);
    goto done;
  }
  tk_vault_key_id(kid, key);
  if (!tk_ct_equal(kid, g.key_id, TK_KEY_ID_LEN)) {
    TK_LOG(TK_LOG_WARN, "sync", "ignoring a grant for vault %s: key id mismatch",
           g.vault);
    goto done;
  }
  tk_vault_info_t vi;
  const uint8_t *cur = tk_member_current_key(l);
  rc = tk_store_begin(o->store, err);
  if (rc) goto done;
  if (tk_store_vault_get(o->store, g.vault, &vi, NULL) == TK_ENOTFOUND)
    rc = tk_store_vault_add(o->store, g.vault, g.key_id, err);
  else if (memcmp(g.key_id, cur, TK_KEY_ID_LEN) == 0)
    rc = tk_store_vault_set_key(o->store, g.vault, g.key_id, err);
  if (!rc) rc = tk_office_vault_key_keep_sealed(o, g.vault, g.key_id, g.sealed, err);
  if (!rc)
    rc = tk_store_grant_put(o->store, g.vault, g.key_id, g.recipient, g.granter, body,
                            sig, err);
  if (!rc && memcmp(g.key_id, cur, TK_KEY_ID_LEN) == 0) {
    char mk[TK_MAX_VAULT_LEN + 16], who[TK_DEVICE_ID_STRLEN];
    tk_device_id_format(who, g.granter);
    snprintf(mk, sizeof mk, TK_META_GRANTED_BY_FMT, g.vault);
    rc = tk_store_meta_set(o->store, mk, who, err);
  }
  if (!rc) rc = tk_store_commit(o->store, err);
  if (rc) {
    tk_store_rollback(o->store);
    goto done;
  }
  *taken = 1;
  char from[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(from, g.granter);
  TK_LOG(TK_LOG_INFO, "sync", "vault %s: key granted by device %s", g.vault, from);
done:
  tk_secure_free(key);
  return rc;
}

/* ---- changes this office makes --------------------------------------------------- */

void tk_member_change_free(tk_member_change_t *ch)
{
  if (!ch) return;
  for (size_t i = 0; i < ch->nentries; i++)
    tk_entry_free(&ch->entries[i]);
  for (size_t i = 0; i < ch->ngrants; i++)
    tk_buf_free(&ch->grant_body[i]);
  free(ch->grant_body);
  free(ch->grant_sig);
  tk_secure_free(ch->new_key);
  memset(ch, 0, sizeof *ch);
}

static int add_grant(tk_office_t *o, tk_member_change_t *ch, const char *vault,
                     const uint8_t key[TK_VAULT_KEY_LEN],
                     const uint8_t to[TK_DEVICE_ID_LEN],
                     const uint8_t to_kx[TK_KX_PK_LEN], const uint8_t entry[TK_HASH_LEN],
                     tk_err_t *err)
{
  tk_grant_t g;
  tk_buf_t *nb = realloc(ch->grant_body, (ch->ngrants + 1) * sizeof *nb);
  if (!nb) return tk_err_set(err, TK_ENOMEM, "out of memory");
  ch->grant_body = nb;
  uint8_t(*ns)[TK_SIG_LEN] = realloc(ch->grant_sig, (ch->ngrants + 1) * sizeof *ns);
  if (!ns) return tk_err_set(err, TK_ENOMEM, "out of memory");
  ch->grant_sig = ns;
  memset(&g, 0, sizeof g);
  snprintf(g.vault, sizeof g.vault, "%s", vault);
  tk_vault_key_id(g.key_id, key);
  memcpy(g.recipient, to, TK_DEVICE_ID_LEN);
  memcpy(g.entry, entry, TK_HASH_LEN);
  g.created_ms = (uint64_t)time(NULL) * 1000;
  int rc = tk_vault_key_seal(g.sealed, key, to_kx);
  tk_buf_t *b = &ch->grant_body[ch->ngrants];
  *b = (tk_buf_t)TK_BUF_INIT;
  if (!rc) rc = tk_grant_sign(&g, o->id, b, ch->grant_sig[ch->ngrants]);
  if (rc) {
    tk_buf_free(b);
    return tk_err_set(err, rc, "cannot seal a vault key for a member");
  }
  ch->ngrants++;
  return 0;
}

static int push_entry(tk_member_change_t *ch, tk_member_log_t *work, tk_entry_t *e,
                      tk_err_t *err)
{
  if (ch->nentries >= TK_MAX_CHANGE_ENTRIES)
    return tk_err_set(err, TK_ELIMIT, "too many membership changes at once");
  tk_entry_t copy;
  int rc = tk_entry_parse(&copy, TK_SLICE(e->body.p, e->body.n),
                          TK_SLICE(e->sig, TK_SIG_LEN), err);
  if (!rc) rc = tk_member_log_append(work, &copy, err);
  tk_entry_free(&copy);
  if (rc) return rc;
  ch->entries[ch->nentries++] = *e;
  memset(e, 0, sizeof *e);
  return 0;
}

/* A private copy of vault's log to build a change on. */
static int work_copy(tk_office_t *o, const char *vault, tk_member_log_t *work,
                     tk_err_t *err)
{
  const tk_member_log_t *l;
  int rc = tk_office_log(o, vault, &l, err);
  if (rc) return rc;
  if (l->n == 0)
    return tk_err_set(err, TK_ENOTFOUND, "vault %s has no membership log on this device",
                      vault);
  tk_member_log_init(work);
  for (size_t i = 0; i < l->n && !rc; i++)
    rc = tk_member_log_take(work, TK_SLICE(l->entries[i].body.p, l->entries[i].body.n),
                            TK_SLICE(l->entries[i].sig, TK_SIG_LEN), err);
  return rc;
}

int tk_office_change_add(tk_office_t *o, const char *vault, const tk_peer_t *to,
                         int writer, tk_member_change_t *ch, tk_err_t *err)
{
  tk_member_log_t work;
  tk_entry_t e;
  uint8_t key[TK_VAULT_KEY_LEN];
  memset(ch, 0, sizeof *ch);
  snprintf(ch->vault, sizeof ch->vault, "%s", vault);
  int rc = work_copy(o, vault, &work, err);
  if (rc) return rc;
  tk_entry_draft_t d = {TK_ENTRY_ADD, to->id, to->sign_pk, writer, NULL};
  rc = tk_member_entry_make(&work, NULL, &d, o->id, &e, err);
  if (!rc) rc = push_entry(ch, &work, &e, err);
  tk_entry_free(&e);
  /* every key of the vault this device holds, so the new member reads the
   * history too; each grant names the ADD */
  for (size_t i = 0; !rc && i < work.n; i++) {
    const tk_entry_t *k = &work.entries[i];
    if (k->op != TK_ENTRY_GENESIS && k->op != TK_ENTRY_ROTATE) continue;
    if (tk_office_vault_key(o, vault, k->key_id, key, NULL) != 0) continue;
    rc = add_grant(o, ch, vault, key, to->id, to->kx_pk, ch->entries[0].id, err);
    tk_wipe(key, sizeof key);
  }
  tk_member_log_free(&work);
  if (rc) tk_member_change_free(ch);
  return rc;
}

int tk_office_change_remove(tk_office_t *o, const char *vault,
                            const uint8_t (*devs)[TK_DEVICE_ID_LEN], size_t ndevs,
                            tk_member_change_t *ch, tk_err_t *err)
{
  tk_member_log_t work;
  tk_entry_t e;
  memset(ch, 0, sizeof *ch);
  memset(&e, 0, sizeof e);
  snprintf(ch->vault, sizeof ch->vault, "%s", vault);
  int rc = work_copy(o, vault, &work, err);
  if (rc) return rc;
  for (size_t i = 0; i < ndevs && !rc; i++) {
    tk_entry_draft_t d = {TK_ENTRY_REMOVE, devs[i], NULL, 0, NULL};
    rc = tk_member_entry_make(&work, NULL, &d, o->id, &e, err);
    if (!rc) rc = push_entry(ch, &work, &e, err);
    tk_entry_free(&e);
  }
  /* then a new key, sealed to every member left */
  ch->new_key = tk_secure_alloc(TK_VAULT_KEY_LEN);
  if (!rc && !ch->new_key) rc = tk_err_set(err, TK_ENOMEM, "out of locked memory");
  if (!rc) {
    tk_office_vault_key_new(ch->new_key, ch->new_key_id);
    tk_entry_draft_t d = {TK_ENTRY_ROTATE, NULL, NULL, 0, ch->new_key_id};
    rc = tk_member_entry_make(&work, NULL, &d, o->id, &e, err);
    if (!rc) rc = push_entry(ch, &work, &e, err);
    tk_entry_free(&e);
  }
  const uint8_t *rot = ch->nentries ? ch->entries[ch->nentries - 1].id : NULL;
  for (size_t i = 0; !rc && i < work.nmembers; i++) {
    const tk_member_t *m = &work.members[i];
    tk_device_info_t d;
    if (!m->active || tk_ct_equal(m->id, o->id->id, TK_DEVICE_ID_LEN)) continue;
    if (tk_store_device_get(o->store, m->id, &d, NULL) != 0 || !d.has_kx_sig ||
        tk_kx_verify(d.sign_pk, d.kx_pk, d.kx_sig) != 0) {
      char who[TK_DEVICE_ID_STRLEN];
      tk_device_id_format(who, m->id);
      rc = tk_err_set(err, TK_ENOTFOUND,
                      "vault %s: no checked public key for member %s (sync first)", vault,
                      who);
      break;
    }
    rc = add_grant(o, ch, vault, ch->new_key, m->id, d.kx_pk, rot, err);
  }
  ch->rotated = 1;
  tk_member_log_free(&work);
  if (rc) tk_member_change_free(ch);
  return rc;
}

int tk_office_change_commit(tk_office_t *o, tk_member_change_t *ch, tk_err_t *err)
{
  int rc = tk_store_begin(o->store, err);
  for (size_t i = 0; !rc && i < ch->nentries; i++)
    rc = store_entry(o, &ch->entries[i], err);
  if (!rc && ch->rotated) {
    rc = tk_office_vault_key_keep(o, ch->vault, ch->new_key_id, ch->new_key, err);
    if (!rc) rc = tk_store_vault_set_key(o->store, ch->vault, ch->new_key_id, err);
  }
  if (!rc) rc = tk_office_log_sent_set(o, ch->vault, ch->sent_upto, err);
  if (!rc) rc = tk_store_commit(o->store, err);
  if (rc) tk_store_rollback(o->store);
  tk__office_logs_free(o);
  return rc;
}

/* ---- what the hub has not acknowledged yet --------------------------------------- */

static void sent_key(char *out, size_t len, const char *vault)
{
  snprintf(out, len, TK_META_LOG_SENT_FMT, vault);
}

int tk_office_log_sent(tk_office_t *o, const char *vault, uint32_t *n)
{
  char k[TK_MAX_VAULT_LEN + 16], v[16];
  sent_key(k, sizeof k, vault);
  *n = 0;
  if (tk_store_meta_get(o->store, k, v, sizeof v, NULL) == 0) *n = (uint32_t)atol(v);
  return 0;
}

int tk_office_log_sent_set(tk_office_t *o, const char *vault, uint32_t n, tk_err_t *err)
{
  char k[TK_MAX_VAULT_LEN + 16], v[16];
  sent_key(k, sizeof k, vault);
  snprintf(v, sizeof v, "%u", n);
  return tk_store_meta_set(o->store, k, v, err);
}

/* ---- stores from before membership logs ------------------------------------------ */

typedef struct migrate {
  tk_office_t *o;
  char (*names)[TK_MAX_VAULT_LEN + 1];
  uint8_t (*keys)[TK_KEY_ID_LEN];
  size_t n;
} migrate_t;

static int collect_vault(void *ctx, const tk_vault_info_t *v)
{
  migrate_t *m = ctx;
  uint32_t count = 0;
  char k[TK_MAX_VAULT_LEN + 16], by[TK_DEVICE_ID_STRLEN];
  if (tk_store_log_count(m->o->store, v->name, &count, NULL) != 0 || count > 0) return 0;
  snprintf(k, sizeof k, TK_META_GRANTED_BY_FMT, v->name);
  if (tk_store_meta_get(m->o->store, k, by, sizeof by, NULL) == 0)
    return 0; /* not ours */
  if (!tk_office_vault_key_held(m->o, v->name, v->key_id)) return 0;
  void *nn = realloc(m->names, (m->n + 1) * sizeof *m->names);
  if (!nn) return TK_ENOMEM;
  m->names = nn;
  void *nk = realloc(m->keys, (m->n + 1) * sizeof *m->keys);
  if (!nk) return TK_ENOMEM;
  m->keys = nk;
  snprintf(m->names[m->n], sizeof m->names[0], "%s", v->name);
  memcpy(m->keys[m->n], v->key_id, TK_KEY_ID_LEN);
  m->n++;
  return 0;
}

int tk_office_logs_migrate(tk_office_t *o, uint32_t *made, tk_err_t *err)
{
  migrate_t m = {o, NULL, NULL, 0};
  *made = 0;
  if (!o->id->sec) return 0;
  int rc = tk_store_vaults(o->store, collect_vault, &m, err);
  if (!rc && m.n) {
    rc = tk_store_begin(o->store, err);
    for (size_t i = 0; i < m.n && !rc; i++)
      rc = tk__office_genesis(o, m.names[i], m.keys[i], err);
    if (!rc) rc = tk_store_commit(o->store, err);
    if (rc) tk_store_rollback(o->store);
    tk__office_logs_free(o);
    if (!rc) *made = (uint32_t)m.n;
  }
  free(m.names);
  free(m.keys);
  return rc;
}
