/*
 * tk_forge.c: forgeries for the membership tests (tests/integration/
 * membership.sh), made the way an attacker would, with the real envelope
 * code and keys the attacker holds.
 *
 *   tk_forge office HOME RECORD-ID [--own-key]
 *     A device that syncs the vault but never held its key: writes into its
 *     own store a child of the record's current version, signed by itself,
 *     its body sealed under a key it made up (so `tunduk sync` pushes it).
 *     With --own-key, under the newest key of the vault the device holds: a
 *     removed member that kept its old key.
 *
 *   tk_forge hub HUB-STORE RECORD-ID RECIPIENT-ID
 *     A malicious hub operator: invents a device, stores it (the test gives
 *     it access), a grant of a made-up key from it to RECIPIENT naming the
 *     vault's genesis, a log entry in which the invented device adds itself
 *     as a writer, and a child of the record's current version signed by
 *     the invented device under the made-up key, all written straight into
 *     the hub's store, past every check the hub makes.
 *
 *   tk_forge set HOME RECORD-ID BODY-FILE [--hub HUB-STORE]
 *     A plugin set (tunduk plugin publish) written past the publish checks:
 *     a child of the record's current version in HOME's store with the
 *     JSON of BODY-FILE as its body, under the vault's current key as HOME
 *     holds it, signed by HOME's device. Stored in HOME's store (so a
 *     writer's `tunduk sync` pushes it: a set with a lower version), or with
 *     --hub straight into the hub's store, past every check the hub makes
 *     (a reader's set, or one of a writer removed since, relayed by a
 *     malicious hub).
 *
 * Prints the forged revision's id (hex) and, for hub, the invented device's
 * id (hex) on a second line. The passphrase of HOME comes from
 * $TUNDUK_PASSPHRASE. Threads: one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tk_office_engine.h"

static int die(const char *what, const tk_err_t *e)
{
  fprintf(stderr, "tk_forge: %s: %s\n", what, e ? e->msg : "failed");
  return 1;
}

/* A child of the record's winner in s, signed with sign_sk, under key. */
static const char forged_case[] =
    "{\"case_number\":\"FORGED-1\",\"client_alias\":\"Forged alias\",\"status\":"
    "\"closed\"}";

static int forge_child(tk_store_t *s, const char *record_hex, const uint8_t *sign_sk,
                       const uint8_t key[TK_VAULT_KEY_LEN], tk_slice_t body,
                       tk_buf_t *out, tk_rev_t *rev, tk_err_t *e)
{
  uint8_t rid[TK_RECORD_ID_LEN], head[1][TK_REV_ID_LEN];
  size_t n = 0;
  tk_buf_t bytes = TK_BUF_INIT;
  tk_rev_t w;
  int rc = tk_store_resolve_prefix(s, TK_ID_RECORD, record_hex, rid, e);
  if (!rc && tk_store_heads(s, rid, head, 1, &n, e) < 0) rc = TK_ENOTFOUND;
  if (!rc) rc = tk_store_get_rev(s, head[0], &bytes, e);
  if (!rc) rc = tk_rev_parse(&w, TK_SLICE(bytes.p, bytes.n), e);
  if (rc) return rc;
  tk_rev_draft_t d;
  memset(&d, 0, sizeof d);
  memcpy(d.record_id, rid, sizeof rid);
  d.type = w.type;
  d.vault = w.vault;
  d.hlc = w.hlc + 1000;
  d.generation = w.generation + 1;
  d.parents = head[0];
  d.nparents = 1;
  d.body = body;
  rc = tk_rev_seal(out, &d, key, sign_sk, e);
  tk_buf_free(&bytes);
  if (!rc) rc = tk_rev_parse(rev, TK_SLICE(out->p, out->n), e);
  return rc;
}

static void print_hex(const uint8_t *p, size_t n)
{
  char hex[2 * 64 + 1];
  tk_hex_encode(hex, p, n);
  printf("%s\n", hex);
}

/* tk_forge set (see the top). */
static int forge_set(const char *home, const char *record, const char *body_path,
                     const char *hub_store)
{
  tk_office_t *o = NULL;
  tk_store_t *hub = NULL;
  tk_err_t e;
  tk_buf_t body = TK_BUF_INIT, out = TK_BUF_INIT;
  tk_rev_t rev;
  tk_record_info_t ri;
  uint8_t rid[TK_RECORD_ID_LEN], key[TK_VAULT_KEY_LEN];
  const char *pass = getenv("TUNDUK_PASSPHRASE");
  FILE *f = fopen(body_path, "rb");
  if (!f) return die("open the body file", NULL);
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    if (tk_buf_append(&body, chunk, n) != 0) return die("read the body file", NULL);
  fclose(f);
  if (tk_office_open(&o, home, &e) || !pass ||
      tk_office_unlock(o, pass, strlen(pass), &e))
    return die("open the office", &e);
  if (tk_store_resolve_prefix(tk_office_store(o), TK_ID_RECORD, record, rid, &e) ||
      tk_store_record_info(tk_office_store(o), rid, &ri, &e) ||
      tk_office_vault_key(o, ri.vault, NULL, key, &e))
    return die("the device's key of the vault", &e);
  if (forge_child(tk_office_store(o), record, tk_office_identity(o)->sec->sign_sk, key,
                  TK_SLICE(body.p, body.n), &out, &rev, &e))
    return die("forge", &e);
  if (hub_store) {
    if (tk_store_open(&hub, hub_store, 0, &e) || tk_store_put_rev(hub, &rev, NULL, &e))
      return die("store the forgery at the hub", &e);
    tk_store_close(hub);
  } else if (tk_store_put_rev(tk_office_store(o), &rev, NULL, &e)) {
    return die("store the forgery", &e);
  }
  print_hex(rev.id, TK_REV_ID_LEN);
  tk_office_close(o);
  tk_buf_free(&out);
  tk_buf_free(&body);
  return 0;
}

int main(int argc, char **argv)
{
  tk_err_t e;
  uint8_t key[TK_VAULT_KEY_LEN];
  tk_buf_t out = TK_BUF_INIT;
  tk_rev_t rev;
  if (tk_crypto_init() != 0) return die("crypto init", NULL);
  tk_vault_key_new(key); /* made up: no member ever held it */
  if ((argc == 4 || (argc == 5 && strcmp(argv[4], "--own-key") == 0)) &&
      strcmp(argv[1], "office") == 0) {
    tk_office_t *o = NULL;
    const char *pass = getenv("TUNDUK_PASSPHRASE");
    if (tk_office_open(&o, argv[2], &e) || !pass ||
        tk_office_unlock(o, pass, strlen(pass), &e))
      return die("open the office", &e);
    if (argc == 5) {
      tk_record_info_t ri;
      uint8_t rid[TK_RECORD_ID_LEN];
      if (tk_store_resolve_prefix(tk_office_store(o), TK_ID_RECORD, argv[3], rid, &e) ||
          tk_store_record_info(tk_office_store(o), rid, &ri, &e) ||
          tk_office_vault_key(o, ri.vault, NULL, key, &e))
        return die("the device's own key", &e);
    }
    if (forge_child(tk_office_store(o), argv[3], tk_office_identity(o)->sec->sign_sk, key,
                    TK_SLICE(forged_case, sizeof forged_case - 1), &out, &rev, &e) ||
        tk_store_put_rev(tk_office_store(o), &rev, NULL, &e))
      return die("forge", &e);
    print_hex(rev.id, TK_REV_ID_LEN);
    tk_office_close(o);
    tk_buf_free(&out);
    return 0;
  }
  if (argc == 5 && strcmp(argv[1], "hub") == 0) {
    tk_store_t *s = NULL;
    tk_identity_t *x = NULL;
    tk_device_info_t d, to;
    uint8_t recipient[TK_DEVICE_ID_LEN];
    if (tk_store_open(&s, argv[2], 0, &e) || tk_identity_generate(&x, "hub-made", &e))
      return die("open the hub store", &e);
    if (tk_device_id_parse(recipient, argv[4]) != 0 ||
        tk_store_device_get(s, recipient, &to, &e))
      return die("recipient", &e);
    if (forge_child(s, argv[3], x->sec->sign_sk, key,
                    TK_SLICE(forged_case, sizeof forged_case - 1), &out, &rev, &e))
      return die("forge", &e);
    memset(&d, 0, sizeof d);
    memcpy(d.id, x->id, TK_DEVICE_ID_LEN);
    snprintf(d.name, sizeof d.name, "naryn-office");
    memcpy(d.sign_pk, x->sign_pk, TK_SIGN_PK_LEN);
    memcpy(d.kx_pk, x->kx_pk, TK_KX_PK_LEN);
    tk_kx_sign(x, d.kx_sig);
    d.has_kx_sig = 1;
    d.added = (int64_t)time(NULL);
    /* the log as the hub has it, and an entry adding the invented device */
    tk_member_log_t l;
    tk_member_log_init(&l);
    tk_entry_t en;
    if (tk_store_log_each(s, rev.vault, 0, tk_member_log_take_cb, &l, &e) || l.n == 0)
      return die("the hub's log", &e);
    tk_entry_draft_t dr = {TK_ENTRY_ADD, x->id, x->sign_pk, 1, NULL};
    if (tk_member_entry_make(&l, NULL, &dr, x, &en, &e)) return die("entry", &e);
    tk_grant_t g;
    tk_buf_t gb = TK_BUF_INIT;
    uint8_t gsig[TK_SIG_LEN];
    memset(&g, 0, sizeof g);
    snprintf(g.vault, sizeof g.vault, "%s", rev.vault);
    tk_vault_key_id(g.key_id, key);
    memcpy(g.recipient, recipient, TK_DEVICE_ID_LEN);
    memcpy(g.entry, l.entries[0].id, TK_HASH_LEN);
    g.created_ms = (uint64_t)time(NULL) * 1000 + 60000;
    if (tk_vault_key_seal(g.sealed, key, to.kx_pk) || tk_grant_sign(&g, x, &gb, gsig))
      return die("grant", NULL);
    if (tk_store_device_put(s, &d, &e) ||
        tk_store_log_put(s, rev.vault, en.seq, en.id, TK_SLICE(en.body.p, en.body.n),
                         TK_SLICE(en.sig, TK_SIG_LEN), &e) ||
        tk_store_grant_put(s, g.vault, g.key_id, recipient, x->id, TK_SLICE(gb.p, gb.n),
                           TK_SLICE(gsig, TK_SIG_LEN), &e) ||
        tk_store_put_rev(s, &rev, NULL, &e))
      return die("store the forgeries", &e);
    print_hex(rev.id, TK_REV_ID_LEN);
    print_hex(x->id, TK_DEVICE_ID_LEN);
    tk_entry_free(&en);
    tk_member_log_free(&l);
    tk_buf_free(&gb);
    tk_identity_free(x);
    tk_store_close(s);
    tk_buf_free(&out);
    return 0;
  }
  if ((argc == 5 || (argc == 7 && strcmp(argv[5], "--hub") == 0)) &&
      strcmp(argv[1], "set") == 0)
    return forge_set(argv[2], argv[3], argv[4], argc == 7 ? argv[6] : NULL);
  fprintf(stderr, "usage: tk_forge office HOME RECORD | hub HUB-STORE RECORD RECIPIENT | "
                  "set HOME RECORD BODY-FILE [--hub HUB-STORE]\n");
  return 2;
}
