/*
 * hub_logs.c: the hub's side of vault membership logs (PROTOCOL.md section
 * 10). A device pushes new entries with the grants that go with them
 * (LogPut: all checked against the hub's own replay of each log and stored
 * together, or none), and asks for the entries it lacks of the vaults it may
 * read (LogQuery -> Log, with the public identities of the current members
 * and of the devices it lets into those vaults, and which of them this hub
 * revoked). The hub also refuses a pushed revision
 * that its log does not let count, so a device that is not a writer is told
 * at once; offices check again and never take the hub's word for it.
 * Replayed logs are cached per vault and dropped when an entry is added
 * (once committed, on the store thread: hub_store.c). Loop thread only,
 * but for tk__hub_member_check (a pushed batch's, on the store thread).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_internal.h"

/* The hub's replay of vault's log (n == 0: none), cached. NULL on a store
 * failure or a stored log that no longer replays (logged). */
const tk_member_log_t *tk__hub_log(tk_hub_t *h, const char *vault)
{
  return tk__hub_log_in(&h->logs, &h->nlogs, h->store, vault);
}

const tk_member_log_t *tk__hub_log_in(hub_log_t **logs, size_t *n, tk_store_t *st,
                                      const char *vault)
{
  for (size_t i = 0; i < *n; i++)
    if (strcmp((*logs)[i].vault, vault) == 0) return &(*logs)[i].log;
  tk_member_log_t l;
  tk_member_log_init(&l);
  tk_err_t e;
  int rc = tk_store_log_each(st, vault, 0, tk_member_log_take_cb, &l, &e);
  if (rc) {
    TK_LOG(TK_LOG_ERROR, "hub", "vault log does not replay vault=%s", vault);
    tk_member_log_free(&l);
    return NULL;
  }
  hub_log_t *nl = realloc(*logs, (*n + 1) * sizeof *nl);
  if (!nl) {
    tk_member_log_free(&l);
    return NULL;
  }
  *logs = nl;
  snprintf(nl[*n].vault, sizeof nl[*n].vault, "%s", vault);
  nl[*n].log = l;
  return &(*logs)[(*n)++].log;
}

void tk__hub_logs_free_in(hub_log_t **logs, size_t *n)
{
  for (size_t i = 0; i < *n; i++)
    tk_member_log_free(&(*logs)[i].log);
  free(*logs);
  *logs = NULL;
  *n = 0;
}

void tk__hub_logs_free(tk_hub_t *h)
{
  tk__hub_logs_free_in(&h->logs, &h->nlogs);
}

void tk__hub_log_forget(tk_hub_t *h, const char *vault)
{
  for (size_t i = 0; i < h->nlogs; i++)
    if (strcmp(h->logs[i].vault, vault) == 0) {
      tk_member_log_free(&h->logs[i].log);
      h->logs[i] = h->logs[--h->nlogs];
      return;
    }
}

int tk__hub_member_check(hub_push_t *s, const tk_rev_t *rev, char *reason, size_t len)
{
  const tk_member_log_t *l = tk__hub_log_in(&s->logs, &s->nlogs, s->store, rev->vault);
  if (!l) {
    snprintf(reason, len, "the hub cannot read vault %s's membership log", rev->vault);
    return TK_REJECT_INTERNAL;
  }
  if (l->n == 0) {
    snprintf(reason, len, "vault %s has no membership log at the hub yet", rev->vault);
    return TK_REJECT_ACCESS;
  }
  if (tk_member_check_rev(l, rev->author, rev->key_id, reason, len))
    return TK_REJECT_ACCESS;
  if (rev->nparents == 0) return 0;
  uint8_t keys[TK_MAX_PARENTS][TK_KEY_ID_LEN];
  size_t n = 0;
  tk_err_t e;
  if (tk_store_parent_keys(s->store, rev, keys, &n, &e) != 0) {
    snprintf(reason, len, "%.150s", e.msg);
    return TK_REJECT_INTERNAL;
  }
  return tk_member_check_parents(l, rev->key_id, (const uint8_t(*)[TK_KEY_ID_LEN])keys, n,
                                 reason, len)
             ? TK_REJECT_ACCESS
             : 0;
}

int tk__hub_grant_check(session_t *s, const tk_grant_t *g, const tk_member_log_t *l,
                        char *reason, size_t len)
{
  tk_device_info_t d;
  if (!tk_ct_equal(g->granter, s->peer.id, TK_DEVICE_ID_LEN))
    snprintf(reason, len, "a grant must be signed by the device sending it");
  else if (tk__hub_access(s, g->vault) != TK_ACCESS_WRITE)
    snprintf(reason, len, "device %s may not write vault '%s'", s->who, g->vault);
  else if (tk_store_device_get(s->hub->store, g->recipient, &d, NULL) != 0 || d.revoked)
    snprintf(reason, len, "the recipient is not an enrolled device");
  else if (!l || l->n == 0)
    snprintf(reason, len, "vault %s has no membership log at the hub", g->vault);
  else
    return tk_member_check_grant(l, g, reason, len) ? TK_REJECT_ACCESS : 0;
  return TK_REJECT_ACCESS;
}

/* A working copy of one vault's log while a LogPut is checked. */
typedef struct put_log {
  char vault[TK_MAX_VAULT_LEN + 1];
  tk_member_log_t log;
  uint32_t stored; /* entries the store already has */
} put_log_t;

static put_log_t *put_log_for(put_log_t **logs, size_t *n, tk_hub_t *h, const char *vault,
                              tk_err_t *e)
{
  for (size_t i = 0; i < *n; i++)
    if (strcmp((*logs)[i].vault, vault) == 0) return &(*logs)[i];
  put_log_t *nl = realloc(*logs, (*n + 1) * sizeof *nl);
  if (!nl) return NULL;
  *logs = nl;
  put_log_t *p = &nl[(*n)++];
  memset(p, 0, sizeof *p);
  snprintf(p->vault, sizeof p->vault, "%s", vault);
  tk_member_log_init(&p->log);
  if (tk_store_log_each(h->store, vault, 0, tk_member_log_take_cb, &p->log, e) != 0) {
    tk_member_log_free(&p->log);
    (*n)--;
    return NULL;
  }
  p->stored = (uint32_t)p->log.n;
  return p;
}

void tk__hub_on_log_put(session_t *s, const Tunduk__V1__LogPut *m)
{
  tk_hub_t *h = s->hub;
  tk_err_t e;
  put_log_t *logs = NULL;
  size_t nlogs = 0;
  tk_apply_result_t res;
  tk_reject_t rj;
  uint32_t added = 0, dup = 0;
  memset(&res, 0, sizeof res);
  memset(&rj, 0, sizeof rj);
  rj.code = TK_REJECT_ACCESS;
  if (m->n_entries > TK_MAX_LOG_ENTRIES || m->n_grants > TK_MAX_GRANTS) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_LIMIT, TK_ELIMIT,
                 "too many log entries or grants in one LogPut");
    return;
  }
  for (size_t i = 0; i < m->n_entries && !rj.reason[0]; i++) {
    tk_entry_t en;
    const Tunduk__V1__VaultEntry *ve = m->entries[i];
    /* Rejected.id names the entry even when it does not parse: its id is
     * SHA-256(body) whatever the body holds (PROTOCOL.md section 9a). */
    if (ve) tk_sha256(rj.id, ve->body.data, ve->body.len);
    if (!ve ||
        tk_entry_parse(&en, tk_pb_slice(ve->body), tk_pb_slice(ve->sig), &e) != 0) {
      rj.code = TK_REJECT_SIGNATURE;
      snprintf(rj.reason, sizeof rj.reason, "%s", ve ? tk_err_str(&e) : "entry missing");
      break;
    }
    put_log_t *p = NULL;
    if (tk__hub_access(s, en.label) != TK_ACCESS_WRITE)
      snprintf(rj.reason, sizeof rj.reason, "device %s may not write vault '%s'", s->who,
               en.label);
    else if (!(p = put_log_for(&logs, &nlogs, h, en.label, &e))) {
      rj.code = TK_REJECT_INTERNAL;
      snprintf(rj.reason, sizeof rj.reason, "the hub cannot read vault %s's log",
               en.label);
    } else if (en.seq < p->log.n) {
      if (memcmp(p->log.entries[en.seq].id, en.id, TK_HASH_LEN) == 0)
        dup++;
      else if (en.seq == 0)
        snprintf(rj.reason, sizeof rj.reason,
                 "the hub already has another vault named '%s' (created by another "
                 "device): choose another name",
                 en.label);
      else
        snprintf(rj.reason, sizeof rj.reason,
                 "vault %s log entry %u: the hub has another entry there (another "
                 "change came first); sync and try again",
                 en.label, en.seq);
    } else if (tk_member_log_append(&p->log, &en, &e) != 0) {
      snprintf(rj.reason, sizeof rj.reason, "%s", tk_err_str(&e));
    } else {
      added++;
    }
    tk_entry_free(&en);
  }
  for (size_t i = 0; i < m->n_grants && !rj.reason[0]; i++) {
    tk_grant_t g;
    const Tunduk__V1__SignedGrant *sg = m->grants[i];
    if (sg) tk_sha256(rj.id, sg->body.data, sg->body.len); /* a grant's id, as GrantPut */
    if (!sg ||
        tk_grant_verify(tk_pb_slice(sg->body), tk_pb_slice(sg->sig), &g, &e) != 0) {
      rj.code = TK_REJECT_SIGNATURE;
      snprintf(rj.reason, sizeof rj.reason, "%s", sg ? tk_err_str(&e) : "grant missing");
      break;
    }
    put_log_t *p = put_log_for(&logs, &nlogs, h, g.vault, &e);
    tk__hub_grant_check(s, &g, p ? &p->log : NULL, rj.reason, sizeof rj.reason);
  }
  /* all checked: the new entries and the grants are stored together on the
   * store thread, and acked once committed (hub_store.c) */
  if (!rj.reason[0]) {
    hub_logput_t *lp = tk__hub_logput_new();
    int rc = lp ? 0 : TK_ENOMEM;
    for (size_t i = 0; !rc && i < nlogs; i++)
      if (logs[i].log.n > logs[i].stored)
        rc = tk__hub_logput_vault(lp, logs[i].vault, logs[i].stored,
                                  (uint32_t)logs[i].log.n,
                                  logs[i].log.entries[logs[i].stored].id);
    for (size_t i = 0; !rc && i < nlogs; i++)
      for (size_t k = logs[i].stored; !rc && k < logs[i].log.n; k++) {
        const tk_entry_t *en = &logs[i].log.entries[k];
        rc = tk__hub_logput_entry(lp, logs[i].vault, en->seq, en->id,
                                  TK_SLICE(en->body.p, en->body.n),
                                  TK_SLICE(en->sig, TK_SIG_LEN));
      }
    for (size_t i = 0; !rc && i < m->n_grants; i++) {
      tk_grant_t g;
      const Tunduk__V1__SignedGrant *sg = m->grants[i];
      rc = tk_grant_verify(tk_pb_slice(sg->body), tk_pb_slice(sg->sig), &g, &e);
      if (!rc)
        rc = tk__hub_logput_grant(lp, &g, tk_pb_slice(sg->body), tk_pb_slice(sg->sig));
    }
    if (rc) {
      tk__hub_logput_free(lp);
      tk_err_set(&e, rc, "%s", tk_strerror(rc));
      tk__hub_fail_store(s, rc, &e, "membership log");
      goto done;
    }
    tk__hub_store_log_put(s, lp, added + (uint32_t)m->n_grants, dup);
  } else {
    TK_LOG(TK_LOG_WARN, "hub", "log put refused device=%s reason=\"%s\"", s->who,
           rj.reason);
    res.nrejected = 1;
    res.rejected = &rj;
    tk__hub_send_ack(s, &res);
  }
done:
  for (size_t i = 0; i < nlogs; i++)
    tk_member_log_free(&logs[i].log);
  free(logs);
}

/* ---- LogQuery ------------------------------------------------------------------ */

typedef struct log_answer {
  session_t *s;
  const Tunduk__V1__LogQuery *q;
  tk_signed_list_t entries;
  uint8_t (*members)[TK_DEVICE_ID_LEN];
  size_t nmembers;
  Tunduk__V1__LogHave *have;
  char (*labels)[TK_MAX_VAULT_LEN + 1];
  size_t nhave;
  char (*vaults)[TK_MAX_VAULT_LEN + 1]; /* every vault the asking device may read */
  size_t nvaults;
  int rc;
} log_answer_t;

/* id once in a->members. */
static int add_member(log_answer_t *a, const uint8_t id[TK_DEVICE_ID_LEN])
{
  for (size_t k = 0; k < a->nmembers; k++)
    if (!memcmp(a->members[k], id, TK_DEVICE_ID_LEN)) return 0;
  uint8_t(*nm)[TK_DEVICE_ID_LEN] = realloc(a->members, (a->nmembers + 1) * sizeof *nm);
  if (!nm) return TK_ENOMEM;
  a->members = nm;
  memcpy(nm[a->nmembers++], id, TK_DEVICE_ID_LEN);
  return 0;
}

/* The directory a grant picks a colleague from: every device this hub lets
 * into a vault the asking device may read, a member of its log or not yet,
 * with the name the hub enrolled it under. The office compares the id out
 * of band before it grants, so a hub that lies about a name gains nothing. */
static int directory_device(void *ctx, const tk_device_info_t *d)
{
  log_answer_t *a = ctx;
  if (d->revoked || !d->has_kx_sig || !memcmp(d->id, a->s->peer.id, TK_DEVICE_ID_LEN))
    return 0;
  for (size_t i = 0; i < a->nvaults; i++) {
    int mode = TK_ACCESS_NONE;
    int rc = tk_store_access_get(a->s->hub->store, d->id, a->vaults[i], &mode, NULL);
    if (rc) return rc;
    if (mode != TK_ACCESS_NONE) return add_member(a, d->id);
  }
  return 0;
}

static int collect_entry(void *ctx, tk_slice_t body, tk_slice_t sig)
{
  log_answer_t *a = ctx;
  if (a->entries.n >= TK_MAX_LOG_ENTRIES) return 0; /* the rest at the next sync */
  return tk_signed_list_add(&a->entries, body, sig);
}

static int answer_vault(void *ctx, const char *vault, int write)
{
  log_answer_t *a = ctx;
  (void)write;
  uint32_t since = 0;
  for (size_t i = 0; i < a->q->n_have; i++)
    if (a->q->have[i]->vault && strcmp(a->q->have[i]->vault, vault) == 0)
      since = a->q->have[i]->count;
  char(*vs)[TK_MAX_VAULT_LEN + 1] = realloc(a->vaults, (a->nvaults + 1) * sizeof *vs);
  if (!vs) return TK_ENOMEM;
  a->vaults = vs;
  snprintf(vs[a->nvaults++], sizeof *vs, "%s", vault);
  const tk_member_log_t *l = tk__hub_log(a->s->hub, vault);
  if (!l || l->n == 0) return 0;
  Tunduk__V1__LogHave *h = realloc(a->have, (a->nhave + 1) * sizeof *h);
  if (!h) return TK_ENOMEM;
  a->have = h;
  char(*lb)[TK_MAX_VAULT_LEN + 1] = realloc(a->labels, (a->nhave + 1) * sizeof *lb);
  if (!lb) return TK_ENOMEM;
  a->labels = lb;
  tunduk__v1__log_have__init(&h[a->nhave]);
  snprintf(lb[a->nhave], sizeof lb[a->nhave], "%s", vault);
  h[a->nhave].count = (uint32_t)l->n;
  a->nhave++;
  if (since < l->n) {
    int rc = tk_store_log_each(a->s->hub->store, vault, since, collect_entry, a, NULL);
    if (rc) return rc;
  }
  for (size_t i = 0; i < l->nmembers; i++) {
    int rc = l->members[i].active ? add_member(a, l->members[i].id) : 0;
    if (rc) return rc;
  }
  return 0;
}

void tk__hub_on_log_query(session_t *s, const Tunduk__V1__LogQuery *q)
{
  log_answer_t a;
  memset(&a, 0, sizeof a);
  a.s = s;
  a.q = q;
  Tunduk__V1__VaultEntry *ve = NULL, **vep = NULL;
  Tunduk__V1__Identity *ids = NULL, **idp = NULL;
  Tunduk__V1__LogHave **hp = NULL;
  ProtobufCBinaryData *revoked = NULL;
  tk_device_info_t *devs = NULL;
  size_t nids = 0, nrev = 0;
  int rc = tk_store_access_list(s->hub->store, s->peer.id, answer_vault, &a, NULL);
  if (!rc) rc = tk_store_devices(s->hub->store, directory_device, &a, NULL);
  if (!rc) {
    ve = calloc(a.entries.n + 1, sizeof *ve);
    vep = calloc(a.entries.n + 1, sizeof *vep);
    ids = calloc(a.nmembers + 1, sizeof *ids);
    idp = calloc(a.nmembers + 1, sizeof *idp);
    devs = calloc(a.nmembers + 1, sizeof *devs);
    revoked = calloc(a.nmembers + 1, sizeof *revoked);
    hp = calloc(a.nhave + 1, sizeof *hp);
    if (!ve || !vep || !ids || !idp || !devs || !revoked || !hp) rc = TK_ENOMEM;
  }
  if (rc) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, rc, "cannot list vault logs");
    goto done;
  }
  for (size_t i = 0; i < a.entries.n; i++) {
    tunduk__v1__vault_entry__init(&ve[i]);
    ve[i].body = tk_signed_list_get(&a.entries, i, 0);
    ve[i].sig = tk_signed_list_get(&a.entries, i, 1);
    vep[i] = &ve[i];
  }
  for (size_t i = 0; i < a.nmembers; i++) {
    tk_device_info_t *d = &devs[nids];
    if (tk_store_device_get(s->hub->store, a.members[i], d, NULL) != 0 || !d->has_kx_sig)
      continue;
    if (d->revoked) revoked[nrev++] = tk_pb_bytes(d->id, TK_DEVICE_ID_LEN);
    tunduk__v1__identity__init(&ids[nids]);
    ids[nids].device_id = tk_pb_bytes(d->id, TK_DEVICE_ID_LEN);
    ids[nids].sign_pk = tk_pb_bytes(d->sign_pk, TK_SIGN_PK_LEN);
    ids[nids].kx_pk = tk_pb_bytes(d->kx_pk, TK_KX_PK_LEN);
    ids[nids].kx_sig = tk_pb_bytes(d->kx_sig, TK_SIG_LEN);
    ids[nids].name = d->name;
    idp[nids] = &ids[nids];
    nids++;
  }
  for (size_t i = 0; i < a.nhave; i++) {
    a.have[i].vault = a.labels[i];
    hp[i] = &a.have[i];
  }
  Tunduk__V1__Log msg = TUNDUK__V1__LOG__INIT;
  msg.n_entries = a.entries.n;
  msg.entries = vep;
  msg.n_members = nids;
  msg.members = idp;
  msg.n_revoked = nrev;
  msg.revoked = revoked;
  msg.n_have = a.nhave;
  msg.have = hp;
  tk_sync_send_msg(tk__hub_tp(s), TUNDUK__V1__FRAME__MSG_LOG, &msg);
done:
  free(ve);
  free(vep);
  free(ids);
  free(idp);
  free(devs);
  free(revoked);
  free(hp);
  free(a.members);
  free(a.have);
  free(a.labels);
  free(a.vaults);
  tk_signed_list_free(&a.entries);
}
