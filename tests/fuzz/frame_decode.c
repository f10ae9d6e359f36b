/*
 * frame_decode.c (fuzz target "frame_decode"): tk_wire_decode (a protobuf
 * Frame) on arbitrary bytes, then a walk over the decoded message the way
 * the hub and office handlers read it: every bytes field's length, every
 * string, every repeated field, nested identities through
 * tk_wire_identity_check, grants through tk_grant_verify, revisions through
 * tk_rev_parse. A frame that decodes must re-encode to its packed size, and
 * a re-encoding that decodes must carry the same message.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_fixture.h"
#include "tk_wire.h"

static volatile size_t sink; /* keeps the walk from being optimised away */

static void touch_bytes(ProtobufCBinaryData b)
{
  if (b.len) sink += b.data[0] + b.data[b.len - 1];
}

static void touch_str(const char *s)
{
  if (s) sink += strlen(s);
}

static void walk_identity(const Tunduk__V1__Identity *m)
{
  tk_peer_t peer;
  tk_err_t e;
  if (!m) return;
  touch_bytes(m->device_id);
  touch_bytes(m->sign_pk);
  touch_bytes(m->kx_pk);
  touch_bytes(m->kx_sig);
  touch_bytes(m->tls_binding);
  touch_str(m->name);
  if (tk_wire_identity_check(m, NULL, &peer, &e) == 0) sink += peer.name[0];
  if (tk_wire_identity_check(m, fz_spki_hash, &peer, &e) == 0) sink += peer.id[0];
}

static void walk_access(size_t n, Tunduk__V1__VaultAccess **a)
{
  for (size_t i = 0; i < n; i++) {
    touch_str(a[i]->vault);
    sink += a[i]->write;
  }
}

static void walk_grant(const Tunduk__V1__SignedGrant *g)
{
  tk_grant_t out;
  tk_err_t e;
  if (!g) return;
  touch_bytes(g->body);
  touch_bytes(g->sig);
  if (tk_grant_verify(tk_pb_slice(g->body), tk_pb_slice(g->sig), &out, &e) == 0)
    sink += strlen(out.vault);
}

static void walk(const tk_frame_t *f)
{
  tk_rev_t rev;
  tk_err_t e;
  touch_str(tk_wire_name(f));
  switch (f->msg_case) {
  case TUNDUK__V1__FRAME__MSG_HELLO:
    sink += f->hello->protocol_min + f->hello->protocol_max + f->hello->enrolled;
    walk_identity(f->hello->identity);
    touch_str(f->hello->software);
    walk_access(f->hello->n_access, f->hello->access);
    break;
  case TUNDUK__V1__FRAME__MSG_ERROR:
    sink += (size_t)f->error->code;
    touch_str(f->error->message);
    break;
  case TUNDUK__V1__FRAME__MSG_ENROLL:
    touch_bytes(f->enroll->token_id);
    touch_bytes(f->enroll->secret);
    break;
  case TUNDUK__V1__FRAME__MSG_ENROLLED:
    walk_access(f->enrolled->n_access, f->enrolled->access);
    break;
  case TUNDUK__V1__FRAME__MSG_OFFER:
    for (size_t i = 0; i < f->offer->n_ids; i++)
      touch_bytes(f->offer->ids[i]);
    sink += f->offer->upto + f->offer->more;
    break;
  case TUNDUK__V1__FRAME__MSG_NEED:
    for (size_t i = 0; i < f->need->n_index; i++)
      sink += f->need->index[i];
    break;
  case TUNDUK__V1__FRAME__MSG_REVISIONS:
    for (size_t i = 0; i < f->revisions->n_revs; i++)
      if (tk_rev_parse(&rev, tk_pb_slice(f->revisions->revs[i]), &e) == 0)
        sink += rev.nparents + rev.nattach + rev.ciphertext.n;
    break;
  case TUNDUK__V1__FRAME__MSG_ACK:
    sink += f->ack->accepted + f->ack->duplicates;
    for (size_t i = 0; i < f->ack->n_rejected; i++) {
      touch_bytes(f->ack->rejected[i]->id);
      sink += (size_t)f->ack->rejected[i]->code;
      touch_str(f->ack->rejected[i]->reason);
    }
    break;
  case TUNDUK__V1__FRAME__MSG_PULL:
    sink += f->pull->since;
    break;
  case TUNDUK__V1__FRAME__MSG_DEVICE_QUERY:
    touch_bytes(f->device_query->device_id);
    break;
  case TUNDUK__V1__FRAME__MSG_DEVICE_INFO:
    walk_identity(f->device_info->identity);
    break;
  case TUNDUK__V1__FRAME__MSG_GRANT_PUT:
    walk_grant(f->grant_put->grant);
    break;
  case TUNDUK__V1__FRAME__MSG_GRANTS:
    for (size_t i = 0; i < f->grants->n_grants; i++)
      walk_grant(f->grants->grants[i]);
    break;
  case TUNDUK__V1__FRAME__MSG_GRANT_QUERY:
  case TUNDUK__V1__FRAME__MSG_BYE:
  default:
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fz_init();
  tk_frame_t *f = tk_wire_decode(TK_SLICE(data, size));
  if (!f) return 0;
  TK_ASSERT(f->msg_case != TUNDUK__V1__FRAME__MSG__NOT_SET && f->hello);
  walk(f);

  /* Re-encode and decode again, as a relay would. The re-encoding need not
   * decode: protobuf-c keeps unknown fields it accepted in a non-canonical
   * form (a field number 0 written as a two-byte varint) and then refuses
   * their canonical re-encoding (corpus/frame_decode/quirk-field0-*).
   * Tunduk never re-encodes a received message, so only a decoded
   * re-encoding is checked. */
  size_t n = tunduk__v1__frame__get_packed_size(f);
  uint8_t *p = malloc(n ? n : 1);
  if (!p) abort();
  TK_ASSERT(tunduk__v1__frame__pack(f, p) == n);
  tk_frame_t *g = tk_wire_decode(TK_SLICE(p, n));
  if (g) {
    TK_ASSERT(g->msg_case == f->msg_case);
    walk(g);
    tk_wire_free(g);
  }
  free(p);
  tk_wire_free(f);
  return 0;
}
