/*
 * grant.c: signed vault key grants (see tk_grant.h).
 */
#include "tk_grant.h"

#include "tk_revision.h"

#include <stdio.h>
#include <string.h>

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
