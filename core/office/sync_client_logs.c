/*
 * sync_client_logs.c: the office's side of vault membership logs
 * (PROTOCOL.md section 10). Right after the Hellos it sends, without
 * waiting, the entries the hub has not acknowledged (LogPut, usually
 * none), a LogQuery with the length of each log it holds, and then the
 * grant query; the hub answers in that order. The Log answer is replayed
 * on the office's own logs (tk_office_log_take), the members' identities
 * are checked and kept, and members the hub revoked are noted: where this
 * device is a writer, it removes them and rotates the key at the end of the
 * sync. A membership change (vault grant, vault remove, a rotation) is one
 * LogPut whose Ack says it is in the hub's log; only then is it stored here.
 * The caller's loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sync_client_internal.h"

typedef struct have_list {
  tk_office_t *o;
  Tunduk__V1__LogHave *have;
  char (*names)[TK_MAX_VAULT_LEN + 1];
  size_t n;
  tk_signed_list_t unsent; /* entries the hub has not acknowledged */
} have_list_t;

static int unsent_entry(void *ctx, tk_slice_t body, tk_slice_t sig)
{
  have_list_t *h = ctx;
  return tk_signed_list_add(&h->unsent, body, sig);
}

static int have_vault(void *ctx, const char *vault)
{
  have_list_t *h = ctx;
  uint32_t n = 0, sent = 0;
  int rc = tk_store_log_count(tk_office_store(h->o), vault, &n, NULL);
  if (rc) return rc;
  void *nh = realloc(h->have, (h->n + 1) * sizeof *h->have);
  if (!nh) return TK_ENOMEM;
  h->have = nh;
  void *nn = realloc(h->names, (h->n + 1) * sizeof *h->names);
  if (!nn) return TK_ENOMEM;
  h->names = nn;
  snprintf(h->names[h->n], sizeof h->names[0], "%s", vault);
  tunduk__v1__log_have__init(&h->have[h->n]);
  h->have[h->n].count = n;
  h->n++;
  tk_office_log_sent(h->o, vault, &sent);
  if (sent < n)
    rc = tk_store_log_each(tk_office_store(h->o), vault, sent, unsent_entry, h, NULL);
  return rc;
}

int tk__client_send_logs(client_t *c, int early)
{
  have_list_t h;
  memset(&h, 0, sizeof h);
  h.o = c->o;
  Tunduk__V1__LogHave **hp = NULL;
  Tunduk__V1__VaultEntry *ve = NULL, **vep = NULL;
  int rc = tk_store_log_vaults(c->store, have_vault, &h, c->err);
  if (!rc) {
    hp = calloc(h.n + 1, sizeof *hp);
    ve = calloc(h.unsent.n + 1, sizeof *ve);
    vep = calloc(h.unsent.n + 1, sizeof *vep);
    if (!hp || !ve || !vep) rc = tk_err_set(c->err, TK_ENOMEM, "out of memory");
  }
  if (rc) goto done;
  /* Before the hub's Hello the session is limited to TK_MAX_PREAUTH_FRAME:
   * a LogPut, or a LogQuery that might not fit, waits for the Hello. */
  if (early && (h.unsent.n || h.n > TK_EARLY_LOG_VAULTS)) {
    rc = 1;
    goto done;
  }
  if (h.unsent.n) {
    for (size_t i = 0; i < h.unsent.n; i++) {
      tunduk__v1__vault_entry__init(&ve[i]);
      ve[i].body = tk_signed_list_get(&h.unsent, i, 0);
      ve[i].sig = tk_signed_list_get(&h.unsent, i, 1);
      vep[i] = &ve[i];
    }
    Tunduk__V1__LogPut put = TUNDUK__V1__LOG_PUT__INIT;
    put.n_entries = h.unsent.n;
    put.entries = vep;
    if (tk_sync_send_msg(tk__client_tp(c), TUNDUK__V1__FRAME__MSG_LOG_PUT, &put) != 0) {
      rc = tk__client_stop(c, TK_ECLOSED, "cannot send the vault logs");
      goto done;
    }
    c->logput_pending = 1;
  }
  for (size_t i = 0; i < h.n; i++) {
    h.have[i].vault = h.names[i];
    hp[i] = &h.have[i];
  }
  Tunduk__V1__LogQuery q = TUNDUK__V1__LOG_QUERY__INIT;
  q.n_have = h.n;
  q.have = hp;
  if (tk_sync_send_msg(tk__client_tp(c), TUNDUK__V1__FRAME__MSG_LOG_QUERY, &q) != 0) {
    rc = tk__client_stop(c, TK_ECLOSED, "cannot send the log query");
    goto done;
  }
  c->log_pending = 1;
done:
  free(hp);
  free(ve);
  free(vep);
  free(h.have);
  free(h.names);
  tk_signed_list_free(&h.unsent);
  return rc;
}

/* The Ack of the LogPut of unsent entries (the first answer). A refusal
 * is reported, not fatal: the entries stay here and go again next time. */
void tk__client_on_logput_ack(client_t *c, const Tunduk__V1__Ack *m)
{
  c->logput_pending = 0;
  if (m->n_rejected > 0) {
    const char *why = m->rejected[0]->reason ? m->rejected[0]->reason : "";
    TK_LOG(TK_LOG_WARN, "sync", "the hub refused this office's vault log entries: %s",
           why);
    snprintf(c->st->log_refused, sizeof c->st->log_refused, "%s", why);
  }
  c->logput_acked = m->n_rejected == 0;
}

static int rotate_add(client_t *c, const char *vault, const uint8_t dev[TK_DEVICE_ID_LEN])
{
  rotation_t *r = NULL;
  for (size_t i = 0; i < c->nrot; i++)
    if (strcmp(c->rot[i].vault, vault) == 0) r = &c->rot[i];
  if (!r) {
    rotation_t *nr = realloc(c->rot, (c->nrot + 1) * sizeof *nr);
    if (!nr) return TK_ENOMEM;
    c->rot = nr;
    r = &c->rot[c->nrot++];
    memset(r, 0, sizeof *r);
    snprintf(r->vault, sizeof r->vault, "%s", vault);
  }
  if (r->ndevs < TK_MAX_CHANGE_ENTRIES - 1)
    memcpy(r->devs[r->ndevs++], dev, TK_DEVICE_ID_LEN);
  return 0;
}

/* Which vaults this device should rotate: it is a writer holding the
 * current key, and a member is revoked at the hub. */
static int plan_rotations(client_t *c, const Tunduk__V1__Log *m)
{
  for (size_t v = 0; v < m->n_have; v++) {
    const tk_member_log_t *l;
    tk_vault_info_t vi;
    const char *vault = m->have[v]->vault;
    if (!vault || tk_office_log(c->o, vault, &l, NULL) != 0 || l->n == 0) continue;
    const tk_member_t *me = tk_member_find(l, c->id->id);
    if (!me || !me->active || !me->writer) continue;
    if (tk_store_vault_get(c->store, vault, &vi, NULL) != 0 ||
        memcmp(vi.key_id, tk_member_current_key(l), TK_KEY_ID_LEN) != 0)
      continue;
    for (size_t i = 0; i < m->n_revoked; i++) {
      if (m->revoked[i].len != TK_DEVICE_ID_LEN) continue;
      const tk_member_t *x = tk_member_find(l, m->revoked[i].data);
      if (x && x->active && !tk_ct_equal(x->id, c->id->id, TK_DEVICE_ID_LEN)) {
        int rc = rotate_add(c, vault, x->id);
        if (rc) return rc;
      }
    }
  }
  return 0;
}

int tk__office_log_msg_take(tk_office_t *o, const Tunduk__V1__Log *m, uint32_t *taken,
                            uint32_t *refused, tk_err_t *err)
{
  tk_slice_t *bodies = calloc(m->n_entries + 1, sizeof *bodies);
  tk_slice_t *sigs = calloc(m->n_entries + 1, sizeof *sigs);
  int rc = bodies && sigs ? 0 : tk_err_set(err, TK_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < m->n_entries; i++) {
    if (!m->entries[i]) continue;
    bodies[i] = tk_pb_slice(m->entries[i]->body);
    sigs[i] = tk_pb_slice(m->entries[i]->sig);
  }
  if (!rc) rc = tk_office_log_take(o, bodies, sigs, m->n_entries, taken, refused, err);
  free(bodies);
  free(sigs);
  return rc;
}

int tk__office_identities_keep(tk_office_t *o, const Tunduk__V1__Log *m, int refresh,
                               tk_err_t *err)
{
  for (size_t i = 0; i < m->n_members; i++) {
    tk_peer_t p;
    tk_err_t e;
    tk_device_info_t d, have;
    if (!m->members[i] || tk_wire_identity_check(m->members[i], NULL, &p, &e) != 0)
      continue;
    memset(&d, 0, sizeof d);
    if (tk_store_device_get(tk_office_store(o), p.id, &have, NULL) == 0) {
      if (!refresh) continue;
      d = have;
    }
    memcpy(d.id, p.id, TK_DEVICE_ID_LEN);
    memcpy(d.sign_pk, p.sign_pk, TK_SIGN_PK_LEN);
    memcpy(d.kx_pk, p.kx_pk, TK_KX_PK_LEN);
    memcpy(d.kx_sig, p.kx_sig, TK_SIG_LEN);
    d.has_kx_sig = 1;
    if (!d.name[0]) snprintf(d.name, sizeof d.name, "%s", p.name);
    if (!d.added) d.added = (int64_t)time(NULL);
    int rc = tk_store_device_put(tk_office_store(o), &d, err);
    if (rc) return rc;
  }
  return 0;
}

void tk__client_on_log(client_t *c, const Tunduk__V1__Log *m)
{
  c->log_pending = 0;
  if (m->n_entries > TK_MAX_LOG_ENTRIES || m->n_members > TK_MAX_GRANTS ||
      m->n_have > TK_MAX_GRANTS) {
    tk__client_stop(c, TK_EPROTO, "the hub sent a Log past its limits");
    return;
  }
  uint32_t taken = 0, refused = 0;
  int rc = tk__office_log_msg_take(c->o, m, &taken, &refused, c->err);
  if (rc) {
    tk__client_stop(c, rc, "storing vault log entries failed: %s", c->err->msg);
    return;
  }
  c->st->log_entries += taken;
  c->st->log_refused_entries += refused;
  /* the members' public keys, each checked: a hub cannot substitute one */
  rc = tk__office_identities_keep(c->o, m, 1, c->err);
  if (rc) {
    tk__client_stop(c, rc, "%s", c->err->msg);
    return;
  }
  /* what the hub holds of entries this office wrote: acknowledged */
  for (size_t v = 0; v < m->n_have && c->logput_acked; v++) {
    uint32_t n = 0;
    const char *vault = m->have[v]->vault;
    if (!vault || tk_store_log_count(c->store, vault, &n, NULL) != 0) continue;
    uint32_t at = m->have[v]->count < n ? m->have[v]->count : n;
    tk_office_log_sent_set(c->o, vault, at, NULL);
  }
  if (c->opts->mode == TK_CLIENT_SYNC) {
    rc = plan_rotations(c, m);
    if (rc) tk__client_stop(c, rc, "out of memory");
  }
  tk__client_after_log(c);
}

/* ---- one change: LogPut, Ack, commit -------------------------------------------- */

int tk__client_send_change(client_t *c)
{
  tk_member_change_t *ch = &c->change;
  const tk_member_log_t *l;
  Tunduk__V1__VaultEntry ve[TK_MAX_CHANGE_ENTRIES], *vep[TK_MAX_CHANGE_ENTRIES];
  Tunduk__V1__SignedGrant *sg = calloc(ch->ngrants + 1, sizeof *sg);
  Tunduk__V1__SignedGrant **sgp = calloc(ch->ngrants + 1, sizeof *sgp);
  if (!sg || !sgp) {
    free(sg);
    free(sgp);
    return tk__client_stop(c, TK_ENOMEM, "out of memory");
  }
  for (size_t i = 0; i < ch->nentries; i++) {
    tunduk__v1__vault_entry__init(&ve[i]);
    ve[i].body = tk_pb_bytes(ch->entries[i].body.p, ch->entries[i].body.n);
    ve[i].sig = tk_pb_bytes(ch->entries[i].sig, TK_SIG_LEN);
    vep[i] = &ve[i];
  }
  for (size_t i = 0; i < ch->ngrants; i++) {
    tunduk__v1__signed_grant__init(&sg[i]);
    sg[i].body = tk_pb_bytes(ch->grant_body[i].p, ch->grant_body[i].n);
    sg[i].sig = tk_pb_bytes(ch->grant_sig[i], TK_SIG_LEN);
    sgp[i] = &sg[i];
  }
  if (tk_office_log(c->o, ch->vault, &l, NULL) == 0)
    ch->sent_upto = (uint32_t)(l->n + ch->nentries);
  Tunduk__V1__LogPut put = TUNDUK__V1__LOG_PUT__INIT;
  put.n_entries = ch->nentries;
  put.entries = vep;
  put.n_grants = ch->ngrants;
  put.grants = sgp;
  tk__client_send_msg(c, TUNDUK__V1__FRAME__MSG_LOG_PUT, &put, C_CHANGE_ACK);
  free(sg);
  free(sgp);
  return 0;
}

void tk__client_on_change_ack(client_t *c, const Tunduk__V1__Ack *m)
{
  tk_member_change_t *ch = &c->change;
  if (m->n_rejected > 0) {
    const char *why = m->rejected[0]->reason ? m->rejected[0]->reason : "";
    if (c->opts->mode != TK_CLIENT_SYNC) {
      tk__client_stop(c, TK_EACCESS, "the hub refused the change to vault %s: %s",
                      ch->vault, why);
      return;
    }
    /* A rotation at the end of a sync: another writer may have made it
     * first. Nothing of it is stored; the next sync sees the log and tries
     * again if it is still needed. */
    TK_LOG(TK_LOG_WARN, "sync",
           "vault %s: the hub refused this office's key rotation: %s", ch->vault, why);
    snprintf(c->st->log_refused, sizeof c->st->log_refused, "%.190s", why);
    tk_member_change_free(ch);
    tk__client_done(c);
    return;
  }
  int rc = tk_office_change_commit(c->o, ch, c->err);
  if (rc) {
    tk__client_stop(c, rc, "the hub took the change but storing it here failed: %s",
                    c->err->msg);
    return;
  }
  c->st->rotations += ch->rotated;
  TK_LOG(TK_LOG_INFO, "sync", "vault %s: membership changed (%zu entr%s, %zu grant%s)%s",
         ch->vault, ch->nentries, ch->nentries == 1 ? "y" : "ies", ch->ngrants,
         ch->ngrants == 1 ? "" : "s", ch->rotated ? ", key rotated" : "");
  tk_member_change_free(ch);
  tk__client_done(c);
}

void tk__client_done(client_t *c)
{
  if (c->opts->mode == TK_CLIENT_SYNC && c->nrot > 0) {
    rotation_t *r = &c->rot[--c->nrot];
    int rc = tk_office_change_remove(c->o, r->vault,
                                     (const uint8_t(*)[TK_DEVICE_ID_LEN])r->devs,
                                     r->ndevs, &c->change, c->err);
    if (rc) {
      tk__client_stop(c, rc, "rotating the key of vault %s: %s", r->vault, c->err->msg);
      return;
    }
    tk__client_send_change(c);
    return;
  }
  tk__client_stop(c, 0, "done");
}
