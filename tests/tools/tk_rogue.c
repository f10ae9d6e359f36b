/*
 * tk_rogue.c: a misbehaving sync client, for the hub's scenario tests.
 *
 *   tk_rogue --home OFFICE [--to HOST:PORT] [--timeout SECONDS]
 *            [--interval-ms I] [--steps] MODE [ARG]
 *
 * It opens an office home folder (passphrase from $TUNDUK_PASSPHRASE),
 * reads the pinned hub from the store's meta keys "hub_id" (device id
 * text) and "hub_addr" (host:port; --to overrides it), connects over TLS
 * 1.2 presenting the office's own certificate, sends a proper Hello and
 * checks the hub's Hello (identity bindings, and that its device id is the
 * pinned one). It prints "hello enrolled=0|1 access=VAULT:r|rw,..." and
 * then does one thing wrong, by MODE:
 *
 *   forge-sig REC          the winner revision of record REC (hex prefix)
 *                          with one bit of its signature flipped
 *   alter-ciphertext REC   the same with one ciphertext bit flipped
 *   push REC               that winner revision unaltered (to test the
 *                          hub's own access checks, past the client's)
 *       All three print "offer HEX" (the SHA-256 of the bytes sent), send
 *       them when the hub needs them and print "need N", "ack accepted=A
 *       duplicates=D" and one "rejected HEX: CODE REASON" line per
 *       rejected revision.
 *   pull                   a plain Pull{since: 0}: prints "offer ids=N ..."
 *                          (what an unknown device should not get)
 *   oversized              a frame header claiming 64 MiB, then 16 bytes
 *   truncated              a frame header claiming 1000 bytes, 10 bytes,
 *                          then TLS close_notify
 *   garbage                a 100-byte frame of random bytes (first byte an
 *                          invalid protobuf tag, so it never decodes)
 *   unknown-type           a Frame with only an unknown field (99, varint)
 *   hold                   nothing after the Hellos: prints what the hub
 *                          sends and "closed REASON after S s" (e.g. when
 *                          the device is revoked meanwhile)
 *   idle-hello             TLS handshake, then nothing at all (no Hello)
 *                          for --timeout seconds: prints "open after S s"
 *                          or "closed REASON after S s"
 *   step-ids N             one push step (protocol 3, no Offer) of N
 *                          one-byte revisions: prints "ack accepted=A
 *                          duplicates=D rejected=R", or the Error / "closed"
 *   ack-out                an Ack with no pull step out: the Error / "closed"
 *       With --steps, forge-sig, alter-ciphertext, push and parents send
 *       their revisions as one push step instead of Offer/Need (no "need"
 *       line).
 *   offer-ids N            an Offer of N random ids (prints "frame
 *                          bytes=B"): "need K" then closes, or the answer
 *   frame N                a frame of exactly N payload bytes, a Frame with
 *                          only an unknown field 99 (length-delimited):
 *                          "frame bytes=N" then the answer
 *   parents N REC          N new children of record REC's winner and one
 *                          merge revision with all N as parents, pushed
 *                          together (past TK_MAX_PARENTS the merge is
 *                          spliced and re-signed, see do_parents); prints
 *                          as push does
 *   grant-forge VAULT:DEV  a GrantPut of a key it made up, sealed to device
 *                          DEV (asked with DeviceQuery) and naming the
 *                          vault's genesis as its entry (from this office's
 *                          own copy of the log, if it has one): prints
 *                          "grant HEX" (the SHA-256 of its GrantBody), "ack
 *                          accepted=A duplicates=D", and per rejected grant
 *                          "rejected grant: CODE REASON" and "rejected id
 *                          HEX" (the Rejected.id the hub sent)
 *   grant-badsig VAULT:DEV the same with one bit of its signature flipped
 *   logput-badsig VAULT    a LogPut of one genesis entry for VAULT whose
 *                          signature has one bit flipped: prints "entry HEX"
 *                          (the SHA-256 of its body), "ack accepted=A
 *                          duplicates=D" and per rejected item "rejected
 *                          CODE REASON" and "rejected id HEX"
 *   trickle N              a frame header announcing N bytes, then one
 *                          payload byte every --interval-ms (default 200)
 *                          until the hub ends the connection or --timeout
 *                          passes: prints "closed REASON after S s" or
 *                          "open after S s (K bytes sent)"
 *   flood N                N times Pull{since: 0} then Need{index: [0]}
 *                          (index 0 exists when the hub holds a revision
 *                          the device can read), pipelined and never
 *                          reading an answer; the writes stop when the hub
 *                          takes nothing more for --timeout seconds. Then it
 *                          waits --timeout seconds, still not reading, and
 *                          prints "flooded K" (K pairs written whole; N
 *                          unless the hub stopped reading) and exits 0
 *                          without printing what the hub sent
 *
 * Afterwards it prints each frame the hub sends until the connection ends
 * or --timeout (default 15 s) passes: "error CODE MESSAGE", "frame NAME",
 * and finally "closed REASON" (eof, close_notify, reset, timeout, ...).
 * Exit status: 0 once it has reported what the hub answered; 1 when it
 * could not do its part (no office, no pin, no TCP connection, a hub that
 * is not the pinned one); 2 for a usage error.
 *
 * The transport is a small blocking mbedtls client of its own rather than
 * tk_conn: the bad frames need raw writes under TLS, which tk_conn (a
 * framing layer) rightly does not offer.
 *
 * Threads: one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <sodium.h>

#include "tk_mbedtls_compat.h"
#include "tk_office_engine.h"
#include "tk_token.h"
#include "tk_wire.h"

#define ROGUE_MAX_FRAME (4u << 20)

typedef struct rogue {
  tk_office_t *office;
  const tk_identity_t *id;
  mbedtls_net_context net;
  mbedtls_ssl_context ssl;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt crt;
  mbedtls_pk_context key;
  uint8_t hub_id[TK_DEVICE_ID_LEN];
  uint8_t hub_spki[TK_HASH_LEN];
  char host[TK_TOKEN_MAX_ADDR + 1];
  int port;
  int timeout_s;
  double t0;
  int steps; /* --steps: pushes go as one Revisions{step} (protocol 3), no Offer */
} rogue_t;

static const int suites[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                             MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                             MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0};

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "tk_rogue: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  return 1;
}

/* Names an mbedtls read/write failure the way the tests match it. */
static const char *close_reason(int mrc)
{
  switch (mrc) {
  case 0:
    return "eof";
  case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
    return "close_notify";
  case MBEDTLS_ERR_SSL_TIMEOUT:
    return "timeout";
  case MBEDTLS_ERR_NET_CONN_RESET:
    return "reset";
  case MBEDTLS_ERR_NET_RECV_FAILED:
  case MBEDTLS_ERR_NET_SEND_FAILED:
    return "socket-error";
  default:
    return "tls-error";
  }
}

/* ---- transport ------------------------------------------------------------ */

static int tls_connect(rogue_t *r)
{
  char port[16];
  snprintf(port, sizeof port, "%d", r->port);
  int mrc = mbedtls_net_connect(&r->net, r->host, port, MBEDTLS_NET_PROTO_TCP);
  if (mrc != 0) return fail("cannot connect to %s:%d", r->host, r->port);
  const tk_identity_t *id = r->id;
  mrc = mbedtls_x509_crt_parse(&r->crt, (const unsigned char *)id->tls_cert_pem,
                               strlen(id->tls_cert_pem) + 1);
  if (mrc == 0)
    mrc =
        tk_mbedtls_pk_parse_key(&r->key, id->sec->tls_key_der, id->sec->tls_key_der_len);
  if (mrc == 0)
    mrc = mbedtls_ssl_config_defaults(&r->conf, MBEDTLS_SSL_IS_CLIENT,
                                      MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT);
  if (mrc != 0) return fail("TLS set-up failed");
  /* The hub's certificate is self-signed: accept it here and pin the
   * device through the Hello's tls_binding, as PROTOCOL.md says. */
  mbedtls_ssl_conf_authmode(&r->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
  mbedtls_ssl_conf_rng(&r->conf, tk_random_mbedtls, NULL);
  mbedtls_ssl_conf_ciphersuites(&r->conf, suites);
#if MBEDTLS_VERSION_MAJOR >= 3
  mbedtls_ssl_conf_min_tls_version(&r->conf, MBEDTLS_SSL_VERSION_TLS1_2);
  mbedtls_ssl_conf_max_tls_version(&r->conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
  mbedtls_ssl_conf_min_version(&r->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&r->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                               MBEDTLS_SSL_MINOR_VERSION_3);
#endif
  mbedtls_ssl_conf_read_timeout(&r->conf, (uint32_t)r->timeout_s * 1000u);
  if (mbedtls_ssl_conf_own_cert(&r->conf, &r->crt, &r->key) != 0 ||
      mbedtls_ssl_setup(&r->ssl, &r->conf) != 0 ||
      mbedtls_ssl_set_hostname(&r->ssl, "tunduk") != 0)
    return fail("TLS set-up failed");
  mbedtls_ssl_set_bio(&r->ssl, &r->net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
  while ((mrc = mbedtls_ssl_handshake(&r->ssl)) != 0) {
    if (mrc == MBEDTLS_ERR_SSL_WANT_READ || mrc == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
    char buf[160];
    snprintf(buf, sizeof buf, "TLS handshake failed (-0x%04x)", (unsigned)-mrc);
    printf("closed %s\n", buf);
    return 0; /* the hub answered, by refusing the handshake */
  }
  const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&r->ssl);
  if (!peer || peer->pk_raw.len == 0) return fail("the hub sent no certificate");
  tk_sha256(r->hub_spki, peer->pk_raw.p, peer->pk_raw.len);
  return 0;
}

static int write_all(rogue_t *r, const uint8_t *p, size_t n)
{
  while (n > 0) {
    int w = mbedtls_ssl_write(&r->ssl, p, n);
    if (w == MBEDTLS_ERR_SSL_WANT_READ || w == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
    if (w <= 0) {
      printf("closed %s (while writing)\n", close_reason(w));
      return w ? w : -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* 0, or an mbedtls code (0 < n read then eof: MBEDTLS_ERR_SSL_CONN_EOF). */
static int read_exact(rogue_t *r, uint8_t *p, size_t n, int *mrc_out)
{
  while (n > 0) {
    int got = mbedtls_ssl_read(&r->ssl, p, n);
    if (got == MBEDTLS_ERR_SSL_WANT_READ || got == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
    if (got <= 0) {
      *mrc_out = got;
      return -1;
    }
    p += got;
    n -= (size_t)got;
  }
  return 0;
}

static int send_payload(rogue_t *r, const uint8_t *p, size_t n)
{
  uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                    (uint8_t)n};
  int rc = write_all(r, hdr, 4);
  return rc ? rc : write_all(r, p, n);
}

static int send_frame(rogue_t *r, const tk_frame_t *f)
{
  size_t n = tunduk__v1__frame__get_packed_size(f);
  uint8_t *p = malloc(n ? n : 1);
  if (!p) return -1;
  tunduk__v1__frame__pack(f, p);
  int rc = send_payload(r, p, n);
  free(p);
  return rc;
}

/* The next frame, or NULL with *why set ("eof", "timeout", "undecodable
 * frame", ...). */
static tk_frame_t *recv_frame(rogue_t *r, const char **why)
{
  uint8_t hdr[4];
  int mrc = 0;
  if (read_exact(r, hdr, 4, &mrc) != 0) {
    *why = close_reason(mrc);
    return NULL;
  }
  uint32_t n =
      (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
  if (n == 0 || n > ROGUE_MAX_FRAME) {
    *why = "bad frame length from the hub";
    return NULL;
  }
  uint8_t *p = malloc(n);
  if (!p) {
    *why = "out of memory";
    return NULL;
  }
  if (read_exact(r, p, n, &mrc) != 0) {
    free(p);
    *why = "truncated frame from the hub";
    return NULL;
  }
  tk_frame_t *f = tk_wire_decode(TK_SLICE(p, n));
  free(p);
  if (!f) *why = "undecodable frame from the hub";
  return f;
}

static void print_frame(const tk_frame_t *f)
{
  if (f->msg_case == TUNDUK__V1__FRAME__MSG_ERROR)
    printf("error %d %s\n", (int)f->error->code,
           f->error->message ? f->error->message : "");
  else
    printf("frame %s\n", tk_wire_name(f));
  fflush(stdout);
}

/* Prints what the hub sends until the connection ends or the timeout. */
static void drain(rogue_t *r)
{
  for (;;) {
    const char *why = NULL;
    tk_frame_t *f = recv_frame(r, &why);
    if (!f) {
      printf("closed %s\n", why);
      return;
    }
    print_frame(f);
    tk_wire_free(f);
  }
}

static void send_bye(rogue_t *r);

/* The next frame, expected to be an Ack: anything else is printed (the
 * frame, or why the connection ended) and returned as it is. */
static tk_frame_t *recv_ack(rogue_t *r)
{
  const char *why = NULL;
  tk_frame_t *in = recv_frame(r, &why);
  if (!in)
    printf("closed %s\n", why);
  else if (in->msg_case != TUNDUK__V1__FRAME__MSG_ACK)
    print_frame(in);
  return in;
}

static int take_first(void *ctx, tk_slice_t body, tk_slice_t sig)
{
  (void)sig;
  tk_sha256(ctx, body.p, body.n);
  return 1; /* the genesis only */
}

/* Prints an Ack's counts and, per rejected item, its code, reason and id
 * (what names it: PROTOCOL.md sections 9 and 9a). */
static void print_item_ack(const Tunduk__V1__Ack *a, const char *what)
{
  printf("ack accepted=%u duplicates=%u\n", a->accepted, a->duplicates);
  for (size_t i = 0; i < a->n_rejected; i++) {
    Tunduk__V1__Rejected *rj = a->rejected[i];
    char hex[2 * TK_HASH_LEN + 1] = "-";
    if (rj->id.len == TK_HASH_LEN) tk_hex_encode(hex, rj->id.data, TK_HASH_LEN);
    printf("rejected%s: %d %s\n", what, (int)rj->code, rj->reason ? rj->reason : "");
    printf("rejected id %s\n", hex);
  }
}

/* grant-forge VAULT:DEV: a grant of a made-up key, as a device that never
 * held the vault's key would send it; badsig: with its signature broken. */
static int do_grant_forge(rogue_t *r, const char *arg, int badsig)
{
  char vault[TK_MAX_VAULT_LEN + 1];
  const char *colon = strchr(arg, ':');
  uint8_t to[TK_DEVICE_ID_LEN], key[TK_VAULT_KEY_LEN], sig[TK_SIG_LEN];
  const char *why = NULL;
  tk_frame_t *in = NULL;
  tk_buf_t body = TK_BUF_INIT;
  int rc = 1;
  if (!colon || (size_t)(colon - arg) > TK_MAX_VAULT_LEN ||
      tk_device_id_parse(to, colon + 1) != 0) {
    fail("grant-forge wants VAULT:DEVICE-ID");
    return 1;
  }
  snprintf(vault, sizeof vault, "%.*s", (int)(colon - arg), arg);
  Tunduk__V1__DeviceQuery q = TUNDUK__V1__DEVICE_QUERY__INIT;
  q.device_id = tk_pb_bytes(to, TK_DEVICE_ID_LEN);
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_DEVICE_QUERY;
  f.device_query = &q;
  if (send_frame(r, &f) != 0) return 1;
  in = recv_frame(r, &why);
  if (!in || in->msg_case != TUNDUK__V1__FRAME__MSG_DEVICE_INFO ||
      !in->device_info->identity ||
      in->device_info->identity->kx_pk.len != TK_KX_PK_LEN) {
    printf("closed %s\n", in ? "no identity for the recipient" : why);
    goto done;
  }
  tk_grant_t g;
  memset(&g, 0, sizeof g);
  snprintf(g.vault, sizeof g.vault, "%s", vault);
  tk_vault_key_new(key);
  tk_vault_key_id(g.key_id, key);
  memcpy(g.recipient, to, TK_DEVICE_ID_LEN);
  tk_store_log_each(tk_office_store(r->office), vault, 0, take_first, g.entry, NULL);
  g.created_ms = (uint64_t)time(NULL) * 1000;
  if (tk_vault_key_seal(g.sealed, key, in->device_info->identity->kx_pk.data) != 0 ||
      tk_grant_sign(&g, r->id, &body, sig) != 0) {
    fail("cannot make the grant");
    goto done;
  }
  tk_wire_free(in);
  in = NULL;
  if (badsig) sig[7] ^= 1;
  uint8_t gid[TK_HASH_LEN];
  char ghex[2 * TK_HASH_LEN + 1];
  tk_sha256(gid, body.p, body.n);
  tk_hex_encode(ghex, gid, TK_HASH_LEN);
  printf("grant %s\n", ghex);
  Tunduk__V1__SignedGrant sg = TUNDUK__V1__SIGNED_GRANT__INIT;
  sg.body = tk_pb_bytes(body.p, body.n);
  sg.sig = tk_pb_bytes(sig, TK_SIG_LEN);
  Tunduk__V1__GrantPut gp = TUNDUK__V1__GRANT_PUT__INIT;
  gp.grant = &sg;
  f.msg_case = TUNDUK__V1__FRAME__MSG_GRANT_PUT;
  f.grant_put = &gp;
  if (send_frame(r, &f) != 0) goto done;
  in = recv_ack(r);
  if (!in || in->msg_case != TUNDUK__V1__FRAME__MSG_ACK) goto done;
  print_item_ack(in->ack, " grant");
  rc = 0;
  send_bye(r);
done:
  tk_wire_free(in);
  tk_buf_free(&body);
  return rc;
}

/* logput-badsig VAULT: a genesis entry for VAULT, its signature broken. */
static int do_logput_badsig(rogue_t *r, const char *vault)
{
  uint8_t key[TK_VAULT_KEY_LEN], kid[TK_KEY_ID_LEN], sig[TK_SIG_LEN];
  uint8_t eid[TK_HASH_LEN];
  char ehex[2 * TK_HASH_LEN + 1];
  tk_vault_key_new(key);
  tk_vault_key_id(kid, key);
  Tunduk__V1__VaultEntryBody b = TUNDUK__V1__VAULT_ENTRY_BODY__INIT;
  b.label = (char *)(uintptr_t)vault;
  b.op = TUNDUK__V1__ENTRY_OP__ENTRY_GENESIS;
  b.member = tk_pb_bytes(r->id->id, TK_DEVICE_ID_LEN);
  b.member_pk = tk_pb_bytes(r->id->sign_pk, TK_SIGN_PK_LEN);
  b.writer = 1;
  b.key_id = tk_pb_bytes(kid, TK_KEY_ID_LEN);
  b.author_pk = tk_pb_bytes(r->id->sign_pk, TK_SIGN_PK_LEN);
  b.created_ms = (uint64_t)time(NULL) * 1000;
  size_t n = tunduk__v1__vault_entry_body__get_packed_size(&b);
  uint8_t *body = malloc(n ? n : 1);
  if (!body) {
    fail("out of memory");
    return 1;
  }
  tunduk__v1__vault_entry_body__pack(&b, body);
  randombytes_buf(sig, sizeof sig); /* no device's signature */
  tk_sha256(eid, body, n);
  tk_hex_encode(ehex, eid, TK_HASH_LEN);
  printf("entry %s\n", ehex);
  Tunduk__V1__VaultEntry ve = TUNDUK__V1__VAULT_ENTRY__INIT;
  ve.body = tk_pb_bytes(body, n);
  ve.sig = tk_pb_bytes(sig, TK_SIG_LEN);
  Tunduk__V1__VaultEntry *vep = &ve;
  Tunduk__V1__LogPut lp = TUNDUK__V1__LOG_PUT__INIT;
  lp.n_entries = 1;
  lp.entries = &vep;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_LOG_PUT;
  f.log_put = &lp;
  int rc = 1;
  tk_frame_t *in = NULL;
  if (send_frame(r, &f) != 0) goto done;
  in = recv_ack(r);
  if (!in || in->msg_case != TUNDUK__V1__FRAME__MSG_ACK) goto done;
  print_item_ack(in->ack, "");
  rc = 0;
  send_bye(r);
done:
  tk_wire_free(in);
  free(body);
  return rc;
}

/* After the Hellos: waits, printing what the hub sends, and when it ends
 * the connection, how long after the start that was. */
static int do_hold(rogue_t *r)
{
  for (;;) {
    const char *why = NULL;
    tk_frame_t *f = recv_frame(r, &why);
    if (!f) {
      printf("closed %s after %.1f s\n", why, now_s() - r->t0);
      return 0;
    }
    print_frame(f);
    tk_wire_free(f);
  }
}

static void send_bye(rogue_t *r)
{
  Tunduk__V1__Bye bye = TUNDUK__V1__BYE__INIT;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_BYE;
  f.bye = &bye;
  (void)send_frame(r, &f);
}

/* ---- handshake ------------------------------------------------------------ */

/* 0: Hellos exchanged and the hub checked; 1: the hub answered otherwise
 * (printed); -1: a local failure (printed on stderr). */
static int hello(rogue_t *r)
{
  uint8_t kx_sig[TK_SIG_LEN];
  Tunduk__V1__Identity ident;
  if (tk_wire_identity(&ident, r->id, kx_sig) != 0) {
    fail("cannot build the identity");
    return -1;
  }
  Tunduk__V1__Hello h = TUNDUK__V1__HELLO__INIT;
  h.protocol_min = h.protocol_max = TK_PROTOCOL_VERSION;
  h.identity = &ident;
  h.software = "tk_rogue/0.1";
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_HELLO;
  f.hello = &h;
  if (send_frame(r, &f) != 0) return 1;
  const char *why = NULL;
  tk_frame_t *in = recv_frame(r, &why);
  if (!in) {
    printf("closed %s\n", why);
    return 1;
  }
  if (in->msg_case != TUNDUK__V1__FRAME__MSG_HELLO) {
    print_frame(in);
    tk_wire_free(in);
    drain(r);
    return 1;
  }
  tk_peer_t peer;
  tk_err_t err;
  if (tk_wire_identity_check(in->hello->identity, r->hub_spki, &peer, &err) != 0) {
    fail("the hub's Hello does not check: %s", tk_err_str(&err));
    tk_wire_free(in);
    return -1;
  }
  if (!tk_ct_equal(peer.id, r->hub_id, TK_DEVICE_ID_LEN)) {
    char got[TK_DEVICE_ID_STRLEN];
    tk_device_id_format(got, peer.id);
    fail("the hub is %s, not the pinned hub", got);
    tk_wire_free(in);
    return -1;
  }
  printf("hello enrolled=%d access=", in->hello->enrolled ? 1 : 0);
  for (size_t i = 0; i < in->hello->n_access; i++)
    printf("%s%s:%s", i ? "," : "", in->hello->access[i]->vault,
           in->hello->access[i]->write ? "rw" : "r");
  printf("\n");
  fflush(stdout);
  tk_wire_free(in);
  return 0;
}

/* ---- modes ---------------------------------------------------------------- */

/* Offers n revisions (encoded bytes) in one Offer, sends those the hub
 * needs in one Revisions frame, and prints "offer HEX" per revision,
 * "need N", "ack accepted=A duplicates=D" and a "rejected HEX: CODE
 * REASON" line per rejected one; then says Bye and drains. */
static int push_revs(rogue_t *r, const tk_buf_t *revs, size_t n)
{
  int rc = 1;
  tk_frame_t *in = NULL;
  ProtobufCBinaryData *ids = calloc(n, sizeof *ids), *sent = calloc(n, sizeof *sent);
  uint8_t *idbytes = malloc(n * TK_REV_ID_LEN);
  if (!ids || !sent || !idbytes) {
    fail("out of memory");
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    uint8_t *id = idbytes + i * TK_REV_ID_LEN;
    tk_sha256(id, revs[i].p, revs[i].n);
    char hex[2 * TK_REV_ID_LEN + 1];
    tk_hex_encode(hex, id, TK_REV_ID_LEN);
    printf("offer %s\n", hex);
    ids[i] = tk_pb_bytes(id, TK_REV_ID_LEN);
  }
  rc = 0;
  size_t nneed = 0;
  if (r->steps) { /* everything, as one step: no Offer, no Need */
    for (size_t i = 0; i < n; i++)
      sent[nneed++] = tk_pb_bytes(revs[i].p, revs[i].n);
    goto send;
  }
  Tunduk__V1__Offer offer = TUNDUK__V1__OFFER__INIT;
  offer.n_ids = n;
  offer.ids = ids;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_OFFER;
  f.offer = &offer;
  if (send_frame(r, &f) != 0) goto done;
  const char *why = NULL;
  in = recv_frame(r, &why);
  if (!in || in->msg_case != TUNDUK__V1__FRAME__MSG_NEED) {
    if (in)
      print_frame(in);
    else
      printf("closed %s\n", why);
    goto done;
  }
  printf("need %zu\n", in->need->n_index);
  for (size_t i = 0; i < in->need->n_index; i++) {
    uint32_t k = in->need->index[i];
    if (k >= n) {
      fail("the hub needs index %u of %zu", k, n);
      rc = 1;
      goto done;
    }
    sent[nneed++] = tk_pb_bytes(revs[k].p, revs[k].n);
  }
  tk_wire_free(in);
  in = NULL;
send:
  if (nneed > 0) {
    Tunduk__V1__Revisions rv = TUNDUK__V1__REVISIONS__INIT;
    rv.n_revs = nneed;
    rv.revs = sent;
    rv.step = r->steps;
    tk_frame_t g = TUNDUK__V1__FRAME__INIT;
    g.msg_case = TUNDUK__V1__FRAME__MSG_REVISIONS;
    g.revisions = &rv;
    if (send_frame(r, &g) != 0) goto done;
    in = recv_ack(r);
    if (!in || in->msg_case != TUNDUK__V1__FRAME__MSG_ACK) goto done;
    Tunduk__V1__Ack *ack = in->ack;
    printf("ack accepted=%u duplicates=%u\n", ack->accepted, ack->duplicates);
    for (size_t i = 0; i < ack->n_rejected; i++) {
      Tunduk__V1__Rejected *rj = ack->rejected[i];
      char rhex[2 * TK_REV_ID_LEN + 1] = "?";
      if (rj->id.len == TK_REV_ID_LEN) tk_hex_encode(rhex, rj->id.data, TK_REV_ID_LEN);
      printf("rejected %s: %d %s\n", rhex, (int)rj->code, rj->reason ? rj->reason : "");
    }
  }
  fflush(stdout);
  send_bye(r);
  drain(r);
done:
  tk_wire_free(in);
  free(ids);
  free(sent);
  free(idbytes);
  return rc;
}

/* Offers the winner revision of record rec_hex, altered: bit 0 of the byte
 * `from_end` bytes before the end of its encoding flipped (0: unaltered). */
static int push_altered(rogue_t *r, const char *rec_hex, size_t from_end)
{
  tk_store_t *s = tk_office_store(r->office);
  uint8_t rec[TK_RECORD_ID_LEN];
  tk_record_info_t info;
  tk_buf_t bytes = TK_BUF_INIT;
  tk_err_t err;
  int rc = 1;
  if (tk_store_resolve_prefix(s, TK_ID_RECORD, rec_hex, rec, &err) != 0 ||
      tk_store_record_info(s, rec, &info, &err) != 0 ||
      tk_store_get_rev(s, info.winner, &bytes, &err) != 0) {
    fail("record: %s", tk_err_str(&err));
    goto done;
  }
  if (bytes.n <= from_end) {
    fail("revision too short");
    goto done;
  }
  if (from_end > 0) bytes.p[bytes.n - from_end] ^= 1;
  rc = push_revs(r, &bytes, 1);
done:
  tk_buf_free(&bytes);
  return rc;
}

static int id_cmp(const void *a, const void *b)
{
  return memcmp(a, b, TK_REV_ID_LEN);
}

/* Offset of the nparents byte in an encoded revision (tk_revision.h). */
static size_t nparents_offset(const tk_rev_t *rev)
{
  return 4 + TK_RECORD_ID_LEN + 32 + 8 + 4 + 1 + strlen(rev->type) + 1 +
         strlen(rev->vault) + TK_KEY_ID_LEN + TK_REV_SALT_LEN + TK_REV_NONCE_LEN;
}

/* parents N REC: N new sibling revisions of record REC's winner W (each a
 * child of W), then one merge revision M whose parents are all N siblings,
 * pushed together (siblings first). Up to TK_MAX_PARENTS, M is sealed as
 * the office would; past it (which tk_rev_seal refuses), M is sealed with
 * TK_MAX_PARENTS parents, the rest are spliced into its header in order
 * and the whole is signed again: only its AEAD tag (which a hub cannot
 * check) and its parent count are then off. */
static int do_parents(rogue_t *r, const char *rec_hex, long nsib)
{
  tk_store_t *s = tk_office_store(r->office);
  uint8_t rec[TK_RECORD_ID_LEN], key[TK_VAULT_KEY_LEN];
  tk_record_info_t info;
  tk_buf_t w = TK_BUF_INIT;
  tk_buf_t *revs = NULL;
  uint8_t *sib_ids = NULL;
  tk_rev_t wrev, mrev;
  tk_err_t err;
  int rc = 1;
  size_t n = (size_t)nsib;
  if (nsib < 1 || nsib > 255) {
    fail("parents: N must be 1..255");
    goto done;
  }
  revs = calloc(n + 1, sizeof *revs);
  sib_ids = malloc(n * TK_REV_ID_LEN);
  if (!revs || !sib_ids) {
    fail("out of memory");
    goto done;
  }
  if (tk_store_resolve_prefix(s, TK_ID_RECORD, rec_hex, rec, &err) != 0 ||
      tk_store_record_info(s, rec, &info, &err) != 0 ||
      tk_store_get_rev(s, info.winner, &w, &err) != 0 ||
      tk_rev_parse(&wrev, TK_SLICE(w.p, w.n), &err) != 0 ||
      tk_office_vault_key(r->office, wrev.vault, NULL, key, &err) != 0) {
    fail("record: %s", tk_err_str(&err));
    goto done;
  }
  const uint8_t *sk = r->id->sec->sign_sk;
  for (size_t i = 0; i <= n; i++) {
    char body[160];
    snprintf(body, sizeof body,
             "{\"case_number\":\"P-%zu\",\"client_alias\":\"Client P\","
             "\"status\":\"open\",\"notes\":\"%s %zu\"}",
             i, i < n ? "sibling" : "merge", i);
    tk_rev_draft_t d;
    memset(&d, 0, sizeof d);
    memcpy(d.record_id, wrev.record_id, TK_RECORD_ID_LEN);
    d.type = wrev.type;
    d.vault = wrev.vault;
    d.body = TK_SLICE(body, strlen(body));
    if (tk_store_hlc_next(s, &d.hlc, &err) != 0) {
      fail("hlc: %s", tk_err_str(&err));
      goto done;
    }
    if (i < n) {
      d.parents = info.winner;
      d.nparents = 1;
      d.generation = wrev.generation + 1;
    } else {
      d.parents = sib_ids;
      d.nparents = n < TK_MAX_PARENTS ? (uint32_t)n : TK_MAX_PARENTS;
      d.generation = wrev.generation + 2;
    }
    if (tk_rev_seal(&revs[i], &d, key, sk, &err) != 0) {
      fail("seal: %s", tk_err_str(&err));
      goto done;
    }
    if (i < n) tk_sha256(sib_ids + i * TK_REV_ID_LEN, revs[i].p, revs[i].n);
  }
  if (n > TK_MAX_PARENTS) {
    /* Rebuild M with every sibling as a parent, ascending. */
    tk_buf_t *m = &revs[n];
    if (tk_rev_parse(&mrev, TK_SLICE(m->p, m->n), &err) != 0) {
      fail("parse: %s", tk_err_str(&err));
      goto done;
    }
    size_t off = nparents_offset(&mrev);
    uint8_t *all = malloc(n * TK_REV_ID_LEN);
    tk_buf_t out = TK_BUF_INIT;
    if (!all) goto done;
    memcpy(all, sib_ids, n * TK_REV_ID_LEN);
    qsort(all, n, TK_REV_ID_LEN, id_cmp);
    uint8_t cnt = (uint8_t)n;
    size_t after = off + 1 + (size_t)TK_MAX_PARENTS * TK_REV_ID_LEN;
    int brc = tk_buf_append(&out, m->p, off);
    if (!brc) brc = tk_buf_append(&out, &cnt, 1);
    if (!brc) brc = tk_buf_append(&out, all, n * TK_REV_ID_LEN);
    if (!brc) brc = tk_buf_append(&out, m->p + after, m->n - after - TK_SIG_LEN);
    free(all);
    uint8_t sig[TK_SIG_LEN];
    if (!brc) crypto_sign_detached(sig, NULL, out.p, out.n, sk);
    if (!brc) brc = tk_buf_append(&out, sig, TK_SIG_LEN);
    if (brc) {
      tk_buf_free(&out);
      fail("out of memory");
      goto done;
    }
    tk_buf_free(m);
    *m = out;
  }
  rc = push_revs(r, revs, n + 1);
done:
  sodium_memzero(key, sizeof key);
  if (revs)
    for (size_t i = 0; i <= n; i++)
      tk_buf_free(&revs[i]);
  free(revs);
  free(sib_ids);
  tk_buf_free(&w);
  return rc;
}

/* offer-ids N: an Offer of N random ids. Prints "need K" (then closes
 * without sending revisions) or what the hub answered instead. */
/* step-ids N: one push step of N one-byte "revisions"; ack-out: an Ack
 * with no pull step out. Prints the answer (an Ack, an Error) or "closed". */
static int do_step_ids(rogue_t *r, long n)
{
  if (n < 0 || n > 100000) return fail("step-ids: N must be 0..100000");
  static const uint8_t junk = 0x42;
  ProtobufCBinaryData *revs = calloc((size_t)(n ? n : 1), sizeof *revs);
  if (!revs) return fail("out of memory");
  for (long i = 0; i < n; i++)
    revs[i] = tk_pb_bytes(&junk, 1);
  Tunduk__V1__Revisions rv = TUNDUK__V1__REVISIONS__INIT;
  rv.n_revs = (size_t)n;
  rv.revs = revs;
  rv.step = 1;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_REVISIONS;
  f.revisions = &rv;
  int wrc = send_frame(r, &f);
  free(revs);
  if (wrc != 0) return 0;
  tk_frame_t *in = recv_ack(r);
  int acked = in && in->msg_case == TUNDUK__V1__FRAME__MSG_ACK;
  if (acked)
    printf("ack accepted=%u duplicates=%u rejected=%zu\n", in->ack->accepted,
           in->ack->duplicates, in->ack->n_rejected);
  tk_wire_free(in);
  if (acked) send_bye(r);
  if (in || acked) drain(r);
  return 0;
}

static int do_ack_out(rogue_t *r)
{
  Tunduk__V1__Ack a = TUNDUK__V1__ACK__INIT;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_ACK;
  f.ack = &a;
  if (send_frame(r, &f) != 0) return 0;
  drain(r);
  return 0;
}

static int do_offer_ids(rogue_t *r, long n)
{
  if (n < 0 || n > 100000) {
    fail("offer-ids: N must be 0..100000");
    return 1;
  }
  uint8_t *idb = malloc((size_t)(n ? n : 1) * TK_REV_ID_LEN);
  ProtobufCBinaryData *ids = calloc((size_t)(n ? n : 1), sizeof *ids);
  if (!idb || !ids) {
    free(idb);
    free(ids);
    return fail("out of memory");
  }
  tk_random(idb, (size_t)n * TK_REV_ID_LEN);
  for (long i = 0; i < n; i++)
    ids[i] = tk_pb_bytes(idb + (size_t)i * TK_REV_ID_LEN, TK_REV_ID_LEN);
  Tunduk__V1__Offer offer = TUNDUK__V1__OFFER__INIT;
  offer.n_ids = (size_t)n;
  offer.ids = ids;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_OFFER;
  f.offer = &offer;
  printf("frame bytes=%zu\n", tunduk__v1__frame__get_packed_size(&f));
  int wrc = send_frame(r, &f);
  free(idb);
  free(ids);
  if (wrc != 0) return 0;
  const char *why = NULL;
  tk_frame_t *in = recv_frame(r, &why);
  if (!in) {
    printf("closed %s\n", why);
    return 0;
  }
  if (in->msg_case == TUNDUK__V1__FRAME__MSG_NEED) {
    printf("need %zu\n", in->need->n_index);
    tk_wire_free(in);
    (void)mbedtls_ssl_close_notify(&r->ssl);
    return 0;
  }
  print_frame(in);
  tk_wire_free(in);
  drain(r);
  return 0;
}

/* frame N: one frame whose payload is exactly N bytes, a Frame holding
 * only an unknown length-delimited field (99). Within max_frame the hub
 * decodes it and answers ERROR_PROTOCOL (no known message); past it the
 * framing layer closes the connection before reading the payload. */
static int do_frame(rogue_t *r, long n)
{
  if (n < 8 || n > (long)ROGUE_MAX_FRAME + 16) {
    fail("frame: N must be 8..%u", ROGUE_MAX_FRAME + 16);
    return 1;
  }
  uint8_t *p = malloc((size_t)n);
  if (!p) return fail("out of memory");
  size_t len = 0, vl;
  for (vl = 1; vl <= 4; vl++) { /* tag (2 bytes) + varint(len) + len = n */
    len = (size_t)n - 2 - vl;
    size_t need = len < 128 ? 1 : len < 16384 ? 2 : len < 2097152 ? 3 : 4;
    if (need == vl) break;
  }
  if (vl > 4) {
    free(p);
    return fail("frame: cannot make %ld bytes", n);
  }
  p[0] = 0x9a; /* field 99, wire type 2 */
  p[1] = 0x06;
  size_t k = 2, v = len;
  for (size_t i = 0; i < vl; i++, v >>= 7)
    p[k++] = (uint8_t)((v & 0x7f) | (i + 1 < vl ? 0x80 : 0));
  memset(p + k, 'x', len);
  printf("frame bytes=%ld\n", n);
  fflush(stdout);
  (void)send_payload(r, p, (size_t)n);
  free(p);
  drain(r);
  return 0;
}

/* flood N: N pairs Pull{since: 0}, Need{index: [0]} without reading a
 * byte. The socket turns non-blocking so a hub that stops reading (its
 * back-pressure) ends the writing after --timeout seconds instead of
 * blocking it; then it waits --timeout seconds more, still not reading. */
static int do_flood(rogue_t *r, long n)
{
  if (n < 1 || n > 1000000) {
    fail("flood: N must be 1..1000000");
    return 1;
  }
  Tunduk__V1__Pull pull = TUNDUK__V1__PULL__INIT;
  tk_frame_t fp = TUNDUK__V1__FRAME__INIT;
  fp.msg_case = TUNDUK__V1__FRAME__MSG_PULL;
  fp.pull = &pull;
  uint32_t index0 = 0;
  Tunduk__V1__Need need = TUNDUK__V1__NEED__INIT;
  need.n_index = 1;
  need.index = &index0;
  tk_frame_t fn = TUNDUK__V1__FRAME__INIT;
  fn.msg_case = TUNDUK__V1__FRAME__MSG_NEED;
  fn.need = &need;
  /* one pair, framed: 4-byte length + Pull, 4-byte length + Need */
  size_t np = tunduk__v1__frame__get_packed_size(&fp);
  size_t nn = tunduk__v1__frame__get_packed_size(&fn);
  uint8_t pair[64];
  if (8 + np + nn > sizeof pair) return fail("flood: frames larger than expected");
  uint8_t *q = pair;
  for (int k = 0; k < 2; k++) {
    size_t len = k == 0 ? np : nn;
    *q++ = (uint8_t)(len >> 24);
    *q++ = (uint8_t)(len >> 16);
    *q++ = (uint8_t)(len >> 8);
    *q++ = (uint8_t)len;
    q += k == 0 ? tunduk__v1__frame__pack(&fp, q) : tunduk__v1__frame__pack(&fn, q);
  }
  size_t plen = (size_t)(q - pair);
  /* 64 pairs per TLS record; each record retried until the hub takes it. */
  enum { PER_WRITE = 64 };
  uint8_t block[PER_WRITE * sizeof pair];
  if (mbedtls_net_set_nonblock(&r->net) != 0)
    return fail("flood: cannot set non-blocking");
  long sent = 0;
  while (sent < n) {
    long k = n - sent < PER_WRITE ? n - sent : PER_WRITE;
    for (long i = 0; i < k; i++)
      memcpy(block + (size_t)i * plen, pair, plen);
    size_t len = (size_t)k * plen, off = 0;
    int stuck = 0;
    while (off < len) {
      int w = mbedtls_ssl_write(&r->ssl, block + off, len - off);
      if (w > 0) {
        off += (size_t)w;
        continue;
      }
      if (w != MBEDTLS_ERR_SSL_WANT_WRITE && w != MBEDTLS_ERR_SSL_WANT_READ) {
        printf("closed %s (while writing)\n", close_reason(w));
        stuck = 1;
        break;
      }
      /* the hub takes no more: wait for room, at most --timeout seconds */
      if (mbedtls_net_poll(&r->net, MBEDTLS_NET_POLL_WRITE,
                           (uint32_t)r->timeout_s * 1000u) <= 0) {
        stuck = 1;
        break;
      }
    }
    sent += (long)(off / plen);
    if (stuck) break;
  }
  sleep((unsigned)r->timeout_s);
  printf("flooded %ld\n", sent);
  return 0;
}

/* trickle N: a header announcing N bytes, then one byte per interval. The
 * socket is polled for the hub's answer (an Error or the close) between
 * the bytes. */
static int do_trickle(rogue_t *r, long n, int interval_ms)
{
  if (n < 1 || n > (long)ROGUE_MAX_FRAME) {
    fail("trickle: N must be 1..%u", ROGUE_MAX_FRAME);
    return 1;
  }
  uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                    (uint8_t)n};
  if (write_all(r, hdr, 4) != 0) return 0;
  long sent = 0;
  while (now_s() - r->t0 < r->timeout_s) {
    int p = mbedtls_net_poll(&r->net, MBEDTLS_NET_POLL_READ, (uint32_t)interval_ms);
    if (p > 0) { /* the hub answered: it ends the connection */
      const char *why = NULL;
      tk_frame_t *f = recv_frame(r, &why);
      if (f) {
        print_frame(f);
        tk_wire_free(f);
        why = "after-frame";
        drain(r);
      }
      printf("closed %s after %.1f s\n", why ? why : "eof", now_s() - r->t0);
      return 0;
    }
    uint8_t b = 'x';
    if (sent + 1 < n) {
      int w = mbedtls_ssl_write(&r->ssl, &b, 1);
      if (w <= 0) {
        printf("closed %s after %.1f s\n", close_reason(w), now_s() - r->t0);
        return 0;
      }
      sent++;
    }
  }
  printf("open after %.1f s (%ld bytes sent)\n", now_s() - r->t0, sent);
  return 0;
}

static int do_pull(rogue_t *r)
{
  Tunduk__V1__Pull pull = TUNDUK__V1__PULL__INIT;
  tk_frame_t f = TUNDUK__V1__FRAME__INIT;
  f.msg_case = TUNDUK__V1__FRAME__MSG_PULL;
  f.pull = &pull;
  if (send_frame(r, &f) != 0) return 0;
  const char *why = NULL;
  tk_frame_t *in = recv_frame(r, &why);
  if (!in) {
    printf("closed %s\n", why);
    return 0;
  }
  if (in->msg_case == TUNDUK__V1__FRAME__MSG_OFFER) {
    printf("offer ids=%zu upto=%" PRIu64 " more=%d\n", in->offer->n_ids, in->offer->upto,
           in->offer->more ? 1 : 0);
    tk_wire_free(in);
    send_bye(r);
  } else {
    print_frame(in);
    tk_wire_free(in);
  }
  drain(r);
  return 0;
}

static int do_raw(rogue_t *r, const char *mode)
{
  uint8_t buf[128];
  if (!strcmp(mode, "oversized")) {
    uint32_t n = 64u << 20;
    uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                      (uint8_t)n};
    memset(buf, 0x0a, 16);
    if (write_all(r, hdr, 4) == 0) (void)write_all(r, buf, 16);
  } else if (!strcmp(mode, "truncated")) {
    uint8_t hdr[4] = {0, 0, 0x03, 0xe8}; /* 1000 */
    memset(buf, 0x0a, 10);
    if (write_all(r, hdr, 4) == 0 && write_all(r, buf, 10) == 0)
      (void)mbedtls_ssl_close_notify(&r->ssl);
  } else if (!strcmp(mode, "garbage")) {
    tk_random(buf, 100);
    buf[0] = 0x07; /* field 0, wire type 7: never a valid protobuf tag */
    (void)send_payload(r, buf, 100);
  } else { /* unknown-type: field 99, varint 1 */
    const uint8_t unknown[] = {0x98, 0x06, 0x01};
    (void)send_payload(r, unknown, sizeof unknown);
  }
  fflush(stdout);
  drain(r);
  return 0;
}

static int do_idle(rogue_t *r)
{
  uint8_t b;
  int got;
  do {
    got = mbedtls_ssl_read(&r->ssl, &b, 1);
  } while (got == MBEDTLS_ERR_SSL_WANT_READ || got == MBEDTLS_ERR_SSL_WANT_WRITE);
  double dt = now_s() - r->t0;
  if (got == MBEDTLS_ERR_SSL_TIMEOUT)
    printf("open after %.1f s\n", dt);
  else if (got > 0)
    printf("data after %.1f s\n", dt);
  else
    printf("closed %s after %.1f s\n", close_reason(got), dt);
  return 0;
}

static void usage(void)
{
  fprintf(stderr,
          "usage: tk_rogue --home OFFICE [--to HOST:PORT] [--timeout S] MODE [REC]\n"
          "modes: forge-sig REC, alter-ciphertext REC, push REC, pull, oversized,\n"
          "       truncated, garbage, unknown-type, hold, idle-hello, offer-ids N,\n"
          "       frame N, parents N REC, flood N, trickle N [--interval-ms I],\n"
          "       grant-forge VAULT:DEV, grant-badsig VAULT:DEV, logput-badsig VAULT\n");
  exit(2);
}

int main(int argc, char **argv)
{
  /* First of all: no core file may ever hold what this process decrypts. */
  if (tk_process_no_core() != 0) {
    fprintf(stderr, "tk_rogue: cannot turn core dumps off\n");
    return 1;
  }
  const char *home = getenv("TUNDUK_HOME"), *to = NULL, *mode = NULL, *arg = NULL;
  const char *optind_rec = NULL; /* the third word: parents N REC */
  rogue_t r;
  memset(&r, 0, sizeof r);
  r.timeout_s = 15;
  int interval_ms = 200;
  signal(SIGPIPE, SIG_IGN); /* a hub that hangs up is reported, not fatal */
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--home") && i + 1 < argc)
      home = argv[++i];
    else if (!strcmp(argv[i], "--to") && i + 1 < argc)
      to = argv[++i];
    else if (!strcmp(argv[i], "--steps"))
      r.steps = 1;
    else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
      r.timeout_s = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--interval-ms") && i + 1 < argc)
      interval_ms = atoi(argv[++i]);
    else if (!mode)
      mode = argv[i];
    else if (!arg)
      arg = argv[i];
    else if (!optind_rec)
      optind_rec = argv[i];
    else
      usage();
  }
  if (!home || !mode || r.timeout_s <= 0) usage();
  int needs_rec = !strcmp(mode, "forge-sig") || !strcmp(mode, "alter-ciphertext") ||
                  !strcmp(mode, "push") || !strcmp(mode, "offer-ids") ||
                  !strcmp(mode, "frame") || !strcmp(mode, "flood") ||
                  !strcmp(mode, "trickle") || !strcmp(mode, "grant-forge") ||
                  !strcmp(mode, "grant-badsig") || !strcmp(mode, "logput-badsig") ||
                  !strcmp(mode, "step-ids");
  const char *arg2 = NULL;
  if (!strcmp(mode, "parents")) { /* parents N REC */
    if (!arg || optind_rec == NULL) usage();
    arg2 = optind_rec;
  } else if (needs_rec != (arg != NULL) || optind_rec)
    usage();
  if (!needs_rec && arg2 == NULL && strcmp(mode, "pull") && strcmp(mode, "oversized") &&
      strcmp(mode, "truncated") && strcmp(mode, "garbage") &&
      strcmp(mode, "unknown-type") && strcmp(mode, "idle-hello") &&
      strcmp(mode, "hold") && strcmp(mode, "ack-out"))
    usage();
  setvbuf(stdout, NULL, _IOLBF, 0);

  int rc = 1;
  tk_err_t err;
  mbedtls_net_init(&r.net);
  mbedtls_ssl_init(&r.ssl);
  mbedtls_ssl_config_init(&r.conf);
  mbedtls_x509_crt_init(&r.crt);
  mbedtls_pk_init(&r.key);
  const char *pass = getenv("TUNDUK_PASSPHRASE");
  if (tk_crypto_init() != 0 || tk_mbedtls_init() != 0) {
    fail("crypto init failed");
    goto done;
  }
  if (!pass) {
    fail("set TUNDUK_PASSPHRASE");
    goto done;
  }
  if (tk_office_open(&r.office, home, &err) != 0 ||
      tk_office_unlock(r.office, pass, strlen(pass), &err) != 0) {
    fail("%s", tk_err_str(&err));
    goto done;
  }
  r.id = tk_office_identity(r.office);
  char text[TK_TOKEN_MAX_ADDR + 1];
  if (tk_store_meta_get(tk_office_store(r.office), "hub_id", text, sizeof text, &err) !=
          0 ||
      tk_device_id_parse(r.hub_id, text) != 0) {
    fail("no usable hub_id in the office store (%s)", tk_err_str(&err));
    goto done;
  }
  if (!to) {
    if (tk_store_meta_get(tk_office_store(r.office), "hub_addr", text, sizeof text,
                          &err) != 0) {
      fail("no hub_addr in the office store (%s)", tk_err_str(&err));
      goto done;
    }
    to = text;
  }
  if (tk_addr_split(to, r.host, &r.port) != 0) {
    fail("bad hub address %s", to);
    goto done;
  }

  r.t0 = now_s();
  if (tls_connect(&r) != 0) goto done;
  rc = 0;
  if (!mbedtls_ssl_get_peer_cert(&r.ssl)) goto done; /* refused, printed */
  if (!strcmp(mode, "idle-hello")) {
    rc = do_idle(&r);
    goto done;
  }
  int h = hello(&r);
  if (h != 0) {
    rc = h < 0 ? 1 : 0;
    goto done;
  }
  if (!strcmp(mode, "forge-sig"))
    rc = push_altered(&r, arg, 64 - 10); /* inside the signature */
  else if (!strcmp(mode, "alter-ciphertext"))
    rc = push_altered(&r, arg, 64 + 20); /* inside the ciphertext, before the tag end */
  else if (!strcmp(mode, "push"))
    rc = push_altered(&r, arg, 0); /* as it is: the hub's access rules decide */
  else if (!strcmp(mode, "pull"))
    rc = do_pull(&r);
  else if (!strcmp(mode, "step-ids"))
    rc = do_step_ids(&r, arg ? strtol(arg, NULL, 10) : -1);
  else if (!strcmp(mode, "ack-out"))
    rc = do_ack_out(&r);
  else if (!strcmp(mode, "offer-ids"))
    rc = do_offer_ids(&r, strtol(arg, NULL, 10));
  else if (!strcmp(mode, "frame"))
    rc = do_frame(&r, strtol(arg, NULL, 10));
  else if (!strcmp(mode, "parents"))
    rc = do_parents(&r, arg2, strtol(arg, NULL, 10));
  else if (!strcmp(mode, "hold"))
    rc = do_hold(&r);
  else if (!strcmp(mode, "flood"))
    rc = do_flood(&r, strtol(arg, NULL, 10));
  else if (!strcmp(mode, "grant-forge") || !strcmp(mode, "grant-badsig"))
    rc = do_grant_forge(&r, arg, !strcmp(mode, "grant-badsig"));
  else if (!strcmp(mode, "logput-badsig"))
    rc = do_logput_badsig(&r, arg);
  else if (!strcmp(mode, "trickle"))
    rc = do_trickle(&r, strtol(arg, NULL, 10), interval_ms > 0 ? interval_ms : 200);
  else
    rc = do_raw(&r, mode);
done:
  fflush(stdout);
  mbedtls_ssl_free(&r.ssl);
  mbedtls_ssl_config_free(&r.conf);
  mbedtls_net_free(&r.net);
  mbedtls_x509_crt_free(&r.crt);
  mbedtls_pk_free(&r.key);
  tk_office_close(r.office);
  return rc;
}
