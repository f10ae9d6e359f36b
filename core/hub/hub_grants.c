/*
 * hub_grants.c: the hub's device and vault-key messages (PROTOCOL.md
 * section 9): a device's public keys for an office that grants a vault key
 * (DeviceQuery), a grant to relay (GrantPut: checked, stored for its
 * recipient), and the grants waiting for the asking device (GrantQuery).
 * The hub relays sealed keys; it can open none. Loop thread only (the
 * grant's write runs on the store thread: hub_store.c).
 */
#include "hub_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tk__hub_on_device_query(session_t *s, const Tunduk__V1__DeviceQuery *m)
{
  tk_device_info_t d;
  Tunduk__V1__Identity ident = TUNDUK__V1__IDENTITY__INIT;
  Tunduk__V1__DeviceInfo info = TUNDUK__V1__DEVICE_INFO__INIT;
  if (m->device_id.len == TK_DEVICE_ID_LEN &&
      tk_store_device_get(s->hub->store, m->device_id.data, &d, NULL) == 0 &&
      !d.revoked && d.has_kx_sig) {
    ident.device_id = tk_pb_bytes(d.id, TK_DEVICE_ID_LEN);
    ident.sign_pk = tk_pb_bytes(d.sign_pk, TK_SIGN_PK_LEN);
    ident.kx_pk = tk_pb_bytes(d.kx_pk, TK_KX_PK_LEN);
    ident.kx_sig = tk_pb_bytes(d.kx_sig, TK_SIG_LEN);
    ident.name = d.name;
    info.identity = &ident;
  }
  tk_sync_send_msg(tk__hub_tp(s), TUNDUK__V1__FRAME__MSG_DEVICE_INFO, &info);
}

void tk__hub_on_grant_put(session_t *s, const Tunduk__V1__GrantPut *m)
{
  tk_err_t e;
  tk_grant_t g;
  tk_apply_result_t res;
  tk_reject_t rj;
  memset(&res, 0, sizeof res);
  memset(&rj, 0, sizeof rj);
  if (!m->grant) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO, "grant missing");
    return;
  }
  tk_slice_t body = tk_pb_slice(m->grant->body), sig = tk_pb_slice(m->grant->sig);
  tk_sha256(rj.id, body.p, body.n);
  rj.code = TK_REJECT_ACCESS;
  if (tk_grant_verify(body, sig, &g, &e) != 0) {
    rj.code = TK_REJECT_SIGNATURE;
    snprintf(rj.reason, sizeof rj.reason, "%s", tk_err_str(&e));
  } else if (tk__hub_grant_check(s, &g, tk__hub_log(s->hub, g.vault), rj.reason,
                                 sizeof rj.reason) != 0) {
    /* reason set: not chained to the vault's membership log */
  } else {
    /* stored on the store thread, acked once committed (hub_store.c) */
    tk__hub_store_grant(s, &g, body, sig);
    return;
  }
  res.nrejected = 1;
  res.rejected = &rj;
  tk__hub_send_ack(s, &res);
}

static int collect_grant(void *ctx, tk_slice_t body, tk_slice_t sig)
{
  return tk_signed_list_add(ctx, body, sig);
}

void tk__hub_on_grant_query(session_t *s)
{
  tk_err_t e;
  tk_signed_list_t l = {TK_BUF_INIT, NULL, 0};
  int rc = tk_store_grants_for(s->hub->store, s->peer.id, TK_MAX_GRANTS, collect_grant,
                               &l, &e);
  Tunduk__V1__SignedGrant *g = calloc(l.n ? l.n : 1, sizeof *g);
  Tunduk__V1__SignedGrant **gp = calloc(l.n ? l.n : 1, sizeof *gp);
  if (rc || !g || !gp) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, rc ? rc : TK_ENOMEM,
                 "cannot list grants");
    goto done;
  }
  for (size_t i = 0; i < l.n; i++) {
    tunduk__v1__signed_grant__init(&g[i]);
    g[i].body = tk_signed_list_get(&l, i, 0);
    g[i].sig = tk_signed_list_get(&l, i, 1);
    gp[i] = &g[i];
  }
  Tunduk__V1__Grants msg = TUNDUK__V1__GRANTS__INIT;
  msg.n_grants = l.n;
  msg.grants = gp;
  tk_sync_send_msg(tk__hub_tp(s), TUNDUK__V1__FRAME__MSG_GRANTS, &msg);
done:
  free(g);
  free(gp);
  tk_signed_list_free(&l);
}
