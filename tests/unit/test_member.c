/*
 * test_member.c: vault membership logs (core/model/member.c): every rule of
 * tk_member.h refused with the log unchanged, a flipped bit in any entry
 * refused, and the checks on revisions (author a writer within the key's
 * epoch) and grants (granter a writer, recipient a member, key of an
 * epoch begun by the entry).
 */
#include <string.h>

#include "tk_member.h"
#include "tk_test.h"

static tk_identity_t *a, *b, *x;

static void setup(void)
{
  tk_err_t e;
  if (a) return;
  CHECK(tk_crypto_init() == 0);
  CHECK_RC(tk_identity_generate(&a, "osh-office", &e), 0);
  CHECK_RC(tk_identity_generate(&b, "naryn-office", &e), 0);
  CHECK_RC(tk_identity_generate(&x, "stranger", &e), 0);
}

/* Makes and appends one entry by id; returns the append's rc. */
static int step(tk_member_log_t *l, const tk_identity_t *id, int op,
                const tk_identity_t *member, int writer, const uint8_t *key_id)
{
  tk_err_t e;
  tk_entry_t en;
  tk_entry_draft_t d = {op, member ? member->id : NULL, member ? member->sign_pk : NULL,
                        writer, key_id};
  int rc = tk_member_entry_make(l, "cases", &d, id, &en, &e);
  if (!rc) rc = tk_member_log_append(l, &en, &e);
  tk_entry_free(&en);
  return rc;
}

static const uint8_t k0[TK_KEY_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t k1[TK_KEY_ID_LEN] = {9, 9, 9, 9, 9, 9, 9, 9};

static void test_rules(void)
{
  tk_member_log_t l;
  setup();
  tk_member_log_init(&l);
  CHECK(step(&l, a, TK_ENTRY_ADD, b, 1, NULL) != 0); /* no genesis yet */
  CHECK_RC(step(&l, a, TK_ENTRY_GENESIS, NULL, 1, k0), 0);
  CHECK(step(&l, a, TK_ENTRY_GENESIS, NULL, 1, k1) != 0);         /* a second */
  CHECK_RC(step(&l, x, TK_ENTRY_ADD, x, 1, NULL), TK_EACCESS);    /* not a writer */
  CHECK_RC(step(&l, a, TK_ENTRY_REMOVE, a, 0, NULL), TK_EACCESS); /* the last writer */
  CHECK_RC(step(&l, a, TK_ENTRY_REMOVE, b, 0, NULL), TK_EACCESS); /* not a member */
  CHECK_RC(step(&l, a, TK_ENTRY_ADD, b, 0, NULL), 0);
  CHECK_RC(step(&l, a, TK_ENTRY_ADD, b, 1, NULL), TK_EACCESS); /* already a member */
  CHECK_RC(step(&l, b, TK_ENTRY_ADD, x, 1, NULL), TK_EACCESS); /* readers cannot add */
  CHECK_RC(step(&l, a, TK_ENTRY_ROTATE, NULL, 0, k0), TK_EACCESS); /* key used before */
  CHECK(l.n == 2);
  CHECK(memcmp(tk_member_current_key(&l), k0, TK_KEY_ID_LEN) == 0);
  tk_member_log_free(&l);
}

static void test_tamper(void)
{
  tk_member_log_t l, other;
  tk_err_t e;
  setup();
  tk_member_log_init(&l);
  CHECK_RC(step(&l, a, TK_ENTRY_GENESIS, NULL, 1, k0), 0);
  CHECK_RC(step(&l, a, TK_ENTRY_ADD, b, 1, NULL), 0);
  /* every bit of the second entry's body and signature */
  const tk_entry_t *en = &l.entries[1];
  uint8_t body[TK_MAX_ENTRY_BYTES], sig[TK_SIG_LEN];
  size_t n = en->body.n, refused = 0, total = 0;
  for (size_t bit = 0; bit < 8 * (n + TK_SIG_LEN); bit++) {
    memcpy(body, en->body.p, n);
    memcpy(sig, en->sig, TK_SIG_LEN);
    if (bit < 8 * n)
      body[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    else
      sig[(bit - 8 * n) / 8] ^= (uint8_t)(1u << ((bit - 8 * n) % 8));
    tk_member_log_init(&other);
    CHECK_RC(tk_member_log_take(&other,
                                TK_SLICE(l.entries[0].body.p, l.entries[0].body.n),
                                TK_SLICE(l.entries[0].sig, TK_SIG_LEN), &e),
             0);
    refused +=
        tk_member_log_take(&other, TK_SLICE(body, n), TK_SLICE(sig, TK_SIG_LEN), &e) != 0;
    total++;
    CHECK(other.n >= 1 && other.n <= 2);
    tk_member_log_free(&other);
  }
  CHECK(refused == total);
  tk_member_log_free(&l);
}

static void test_checks(void)
{
  tk_member_log_t l;
  char why[200];
  setup();
  tk_member_log_init(&l);
  CHECK_RC(step(&l, a, TK_ENTRY_GENESIS, NULL, 1, k0), 0);
  CHECK_RC(tk_member_check_rev(&l, a->id, k0, why, sizeof why), 0);
  CHECK_RC(tk_member_check_rev(&l, b->id, k0, why, sizeof why), TK_EACCESS);
  CHECK_RC(tk_member_check_rev(&l, a->id, k1, why, sizeof why),
           TK_EACCESS); /* no such key */
  CHECK_RC(step(&l, a, TK_ENTRY_ADD, b, 1, NULL), 0);
  CHECK_RC(tk_member_check_rev(&l, b->id, k0, why, sizeof why), 0);
  CHECK_RC(step(&l, a, TK_ENTRY_REMOVE, b, 0, NULL), 0);
  CHECK_RC(step(&l, a, TK_ENTRY_ROTATE, NULL, 0, k1), 0);
  /* b wrote during epoch 0, never during epoch 1 */
  CHECK_RC(tk_member_check_rev(&l, b->id, k0, why, sizeof why), 0);
  CHECK_RC(tk_member_check_rev(&l, b->id, k1, why, sizeof why), TK_EACCESS);
  CHECK_RC(tk_member_check_rev(&l, a->id, k1, why, sizeof why), 0);
  /* a child under an older key than its parent does not count */
  CHECK_RC(tk_member_check_parents(&l, k0, &k1, 1, why, sizeof why), TK_EACCESS);
  CHECK_RC(tk_member_check_parents(&l, k1, &k0, 1, why, sizeof why), 0);
  CHECK_RC(tk_member_check_parents(&l, k0, &k0, 1, why, sizeof why), 0);

  tk_grant_t g;
  memset(&g, 0, sizeof g);
  snprintf(g.vault, sizeof g.vault, "cases");
  memcpy(g.key_id, k1, TK_KEY_ID_LEN);
  memcpy(g.granter, a->id, TK_DEVICE_ID_LEN);
  memcpy(g.recipient, b->id, TK_DEVICE_ID_LEN);
  memcpy(g.entry, l.entries[3].id, TK_HASH_LEN); /* the rotation */
  CHECK_RC(tk_member_check_grant(&l, &g, why, sizeof why),
           TK_EACCESS); /* b was removed */
  memcpy(g.key_id, k0, TK_KEY_ID_LEN);
  memcpy(g.entry, l.entries[1].id, TK_HASH_LEN); /* b's add: an old key is fine */
  CHECK_RC(tk_member_check_grant(&l, &g, why, sizeof why), 0);
  memcpy(g.key_id, k1, TK_KEY_ID_LEN); /* a key of a later epoch than the entry */
  CHECK_RC(tk_member_check_grant(&l, &g, why, sizeof why), TK_EACCESS);
  memcpy(g.key_id, k0, TK_KEY_ID_LEN);
  memcpy(g.granter, x->id, TK_DEVICE_ID_LEN); /* from a stranger */
  CHECK_RC(tk_member_check_grant(&l, &g, why, sizeof why), TK_EACCESS);
  memcpy(g.granter, a->id, TK_DEVICE_ID_LEN);
  memset(g.entry, 7, TK_HASH_LEN); /* no such entry */
  CHECK_RC(tk_member_check_grant(&l, &g, why, sizeof why), TK_EACCESS);
  tk_member_log_free(&l);
}

static void test_limits(void)
{
  tk_entry_t en;
  tk_err_t e;
  uint8_t big[TK_MAX_ENTRY_BYTES + 1], sig[TK_SIG_LEN] = {0};
  memset(big, 0, sizeof big);
  CHECK_RC(tk_entry_parse(&en, TK_SLICE(big, sizeof big), TK_SLICE(sig, TK_SIG_LEN), &e),
           TK_ELIMIT);
  CHECK_RC(tk_entry_parse(&en, TK_SLICE(big, 10), TK_SLICE(sig, 10), &e), TK_EFORMAT);
}

TK_TESTS(TK_TEST(test_rules), TK_TEST(test_tamper), TK_TEST(test_checks),
         TK_TEST(test_limits))
