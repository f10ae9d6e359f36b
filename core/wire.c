/*
 * wire.c: protocol messages on a connection (see tk_wire.h).
 */
#include "tk_wire.h"

#include "tk_revision.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tk_wire_send(tk_conn_t *c, const tk_frame_t *f)
{
  size_t n = tunduk__v1__frame__get_packed_size(f);
  uint8_t stackbuf[512];
  uint8_t *p = n <= sizeof stackbuf ? stackbuf : malloc(n);
  if (!p) return TK_ENOMEM;
  tunduk__v1__frame__pack(f, p);
  int rc = tk_conn_send(c, TK_SLICE(p, n));
  if (p != stackbuf) free(p);
  return rc;
}

void tk_wire_send_error(tk_conn_t *c, Tunduk__V1__ErrorCode code, const char *fmt, ...)
{
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  Tunduk__V1__Error e = TUNDUK__V1__ERROR__INIT;
  e.code = code;
  e.message = msg;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_ERROR;
  f.error = &e;
  (void)tk_wire_send(c, &f);
}

tk_frame_t *tk_wire_decode(tk_slice_t payload)
{
  tk_frame_t *f = tunduk__v1__frame__unpack(NULL, payload.n, payload.p);
  if (f && (f->msg_case == TUNDUK__V1__FRAME__MSG__NOT_SET || !f->hello)) {
    tunduk__v1__frame__free_unpacked(f, NULL);
    return NULL;
  }
  return f;
}

void tk_wire_free(tk_frame_t *f)
{
  if (f) tunduk__v1__frame__free_unpacked(f, NULL);
}

const char *tk_wire_name(const tk_frame_t *f)
{
  static const char *names[] = {
      "none",      "hello",       "error",  "enroll", "enrolled",     "offer",
      "need",      "revisions",   "ack",    "pull",   "device_query", "device_info",
      "grant_put", "grant_query", "grants", "bye",    "chunk",        "chunk_ack",
      "log_put",   "log_query",   "log"};
  unsigned k = (unsigned)f->msg_case;
  return k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

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

int tk_signed_list_add(tk_signed_list_t *l, tk_slice_t body, tk_slice_t sig)
{
  size_t *o = realloc(l->offs, (3 * l->n + 3) * sizeof *o);
  if (!o) return TK_ENOMEM;
  l->offs = o;
  o[3 * l->n] = l->data.n;
  int rc = tk_buf_append(&l->data, body.p, body.n);
  o[3 * l->n + 1] = l->data.n;
  if (!rc) rc = tk_buf_append(&l->data, sig.p, sig.n);
  o[3 * l->n + 2] = l->data.n;
  if (!rc) l->n++;
  return rc;
}

ProtobufCBinaryData tk_signed_list_get(const tk_signed_list_t *l, size_t i, int which)
{
  const size_t *o = l->offs + 3 * i + (which ? 1 : 0);
  return tk_pb_bytes(l->data.p + o[0], o[1] - o[0]);
}

void tk_signed_list_free(tk_signed_list_t *l)
{
  free(l->offs);
  tk_buf_free(&l->data);
  memset(l, 0, sizeof *l);
}

static const char grant_label[] = "tunduk grant v1";

static int grant_msg(tk_buf_t *m, tk_slice_t body)
{
  int rc = tk_buf_append(m, grant_label, sizeof grant_label - 1);
  return rc ? rc : tk_buf_append(m, body.p, body.n);
}

int tk_grant_sign(const tk_grant_t *g, const tk_identity_t *id, tk_buf_t *body,
                  uint8_t sig[TK_SIG_LEN])
{
  Tunduk__V1__GrantBody b = TUNDUK__V1__GRANT_BODY__INIT;
  tk_buf_t m = TK_BUF_INIT;
  b.vault = (char *)(uintptr_t)g->vault;
  b.key_id = tk_pb_bytes(g->key_id, TK_KEY_ID_LEN);
  b.recipient = tk_pb_bytes(g->recipient, TK_DEVICE_ID_LEN);
  b.sealed_key = tk_pb_bytes(g->sealed, TK_SEALED_KEY_LEN);
  b.granter_pk = tk_pb_bytes(id->sign_pk, TK_SIGN_PK_LEN);
  b.created_ms = g->created_ms;
  b.entry = tk_pb_bytes(g->entry, TK_HASH_LEN);
  size_t n = tunduk__v1__grant_body__get_packed_size(&b);
  int rc = tk_buf_reserve(body, n);
  if (rc) return rc;
  tunduk__v1__grant_body__pack(&b, body->p + body->n);
  tk_slice_t packed = {body->p + body->n, n};
  body->n += n;
  rc = grant_msg(&m, packed);
  if (!rc) rc = tk_identity_sign(id, sig, m.p, m.n);
  tk_buf_free(&m);
  return rc;
}

int tk_grant_verify(tk_slice_t body, tk_slice_t sig, tk_grant_t *out, tk_err_t *err)
{
  tk_buf_t m = TK_BUF_INIT;
  int rc = 0;
  if (sig.n != TK_SIG_LEN || body.n > 4096)
    return tk_err_set(err, TK_EFORMAT, "grant: signature or body of the wrong size");
  Tunduk__V1__GrantBody *b = tunduk__v1__grant_body__unpack(NULL, body.n, body.p);
  if (!b) return tk_err_set(err, TK_EFORMAT, "grant: body does not decode");
  if (!b->vault || b->key_id.len != TK_KEY_ID_LEN ||
      b->recipient.len != TK_DEVICE_ID_LEN || b->sealed_key.len != TK_SEALED_KEY_LEN ||
      b->granter_pk.len != TK_SIGN_PK_LEN || b->entry.len != TK_HASH_LEN) {
    rc = tk_err_set(err, TK_EFORMAT,
                    "grant: a field is missing or of the wrong size (a grant names its "
                    "membership log entry)");
    goto done;
  }
  rc = tk_name_check("vault", b->vault, TK_MAX_VAULT_LEN, 1, err);
  if (rc) {
    rc = TK_EFORMAT;
    goto done;
  }
  rc = grant_msg(&m, body);
  if (rc) goto done;
  if (tk_sig_verify(sig.p, m.p, m.n, b->granter_pk.data) != 0) {
    rc = tk_err_set(err, TK_ESIG, "grant for vault '%s': signature does not verify",
                    b->vault);
    goto done;
  }
  memset(out, 0, sizeof *out);
  snprintf(out->vault, sizeof out->vault, "%s", b->vault);
  memcpy(out->key_id, b->key_id.data, TK_KEY_ID_LEN);
  memcpy(out->recipient, b->recipient.data, TK_DEVICE_ID_LEN);
  memcpy(out->sealed, b->sealed_key.data, TK_SEALED_KEY_LEN);
  memcpy(out->granter_pk, b->granter_pk.data, TK_SIGN_PK_LEN);
  tk_device_id_from_pk(out->granter, out->granter_pk);
  out->created_ms = b->created_ms;
  memcpy(out->entry, b->entry.data, TK_HASH_LEN);
done:
  tk_buf_free(&m);
  tunduk__v1__grant_body__free_unpacked(b, NULL);
  return rc;
}
