/*
 * peer_identity.c: identities as peers exchange them (see tk_peer_identity.h).
 */
#include "tk_peer_identity.h"

#include <stdio.h>
#include <string.h>

static const char kx_label[] = "tunduk kx binding v1";

int tk_kx_sign(const tk_identity_t *id, uint8_t sig[TK_SIG_LEN])
{
  uint8_t msg[sizeof kx_label - 1 + TK_KX_PK_LEN];
  memcpy(msg, kx_label, sizeof kx_label - 1);
  memcpy(msg + sizeof kx_label - 1, id->kx_pk, TK_KX_PK_LEN);
  return tk_identity_sign(id, sig, msg, sizeof msg);
}

int tk_kx_verify(const uint8_t sign_pk[TK_SIGN_PK_LEN], const uint8_t kx_pk[TK_KX_PK_LEN],
                 const uint8_t sig[TK_SIG_LEN])
{
  uint8_t msg[sizeof kx_label - 1 + TK_KX_PK_LEN];
  memcpy(msg, kx_label, sizeof kx_label - 1);
  memcpy(msg + sizeof kx_label - 1, kx_pk, TK_KX_PK_LEN);
  return tk_sig_verify(sig, msg, sizeof msg, sign_pk);
}

int tk_wire_identity(Tunduk__V1__Identity *m, const tk_identity_t *id,
                     uint8_t kx_sig[TK_SIG_LEN])
{
  int rc = tk_kx_sign(id, kx_sig);
  if (rc) return rc;
  tunduk__v1__identity__init(m);
  m->device_id = tk_pb_bytes(id->id, TK_DEVICE_ID_LEN);
  m->sign_pk = tk_pb_bytes(id->sign_pk, TK_SIGN_PK_LEN);
  m->kx_pk = tk_pb_bytes(id->kx_pk, TK_KX_PK_LEN);
  m->kx_sig = tk_pb_bytes(kx_sig, TK_SIG_LEN);
  m->tls_binding = tk_pb_bytes(id->tls_binding, TK_SIG_LEN);
  m->name = (char *)(uintptr_t)id->name;
  return 0;
}

int tk_wire_identity_check(const Tunduk__V1__Identity *m, const uint8_t *spki,
                           tk_peer_t *out, tk_err_t *err)
{
  uint8_t id[TK_DEVICE_ID_LEN];
  if (!m) return tk_err_set(err, TK_EPROTO, "identity missing");
  if (m->device_id.len != TK_DEVICE_ID_LEN || m->sign_pk.len != TK_SIGN_PK_LEN ||
      m->kx_pk.len != TK_KX_PK_LEN || m->kx_sig.len != TK_SIG_LEN ||
      (spki && m->tls_binding.len != TK_SIG_LEN))
    return tk_err_set(err, TK_EPROTO, "identity has a field of the wrong length");
  if (!m->name || strlen(m->name) >= sizeof out->name)
    return tk_err_set(err, TK_EPROTO, "identity name missing or longer than %zu bytes",
                      sizeof out->name - 1);
  tk_device_id_from_pk(id, m->sign_pk.data);
  if (!tk_ct_equal(id, m->device_id.data, TK_DEVICE_ID_LEN))
    return tk_err_set(err, TK_ESIG, "device id does not match its signing key");
  if (tk_kx_verify(m->sign_pk.data, m->kx_pk.data, m->kx_sig.data) != 0)
    return tk_err_set(err, TK_ESIG,
                      "X25519 key is not signed by the device's identity key");
  if (spki && tk_tls_binding_verify(m->sign_pk.data, spki, m->tls_binding.data) != 0)
    return tk_err_set(
        err, TK_ESIG,
        "the TLS key of this connection is not bound to the claimed device");
  memset(out, 0, sizeof *out);
  memcpy(out->id, id, sizeof id);
  memcpy(out->sign_pk, m->sign_pk.data, TK_SIGN_PK_LEN);
  memcpy(out->kx_pk, m->kx_pk.data, TK_KX_PK_LEN);
  memcpy(out->kx_sig, m->kx_sig.data, TK_SIG_LEN);
  snprintf(out->name, sizeof out->name, "%s", m->name);
  return 0;
}
