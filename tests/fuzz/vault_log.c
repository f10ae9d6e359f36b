/*
 * vault_log.c (fuzz target "vault_log"): vault membership logs
 * (core/model/member.c). The input is a script: each 4-byte step names an
 * operation, the signing identity, the member, a writer flag and a key
 * byte, and may damage one byte of the signed entry before it is offered.
 * The harness signs each step with the fixture identities, offers it to
 * tk_member_log_take, and checks that
 *  - a damaged entry is never taken;
 *  - every log taken so far replays from its bytes into the same state;
 *  - after the genesis there is always an active writer;
 *  - a revision check passes only for a member that was a writer, and a
 *    grant check only for an entry in the log.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_fixture.h"
#include "tk_member.h"

static void same_state(const tk_member_log_t *a, const tk_member_log_t *b)
{
  TK_ASSERT(a->n == b->n && a->nmembers == b->nmembers);
  for (size_t i = 0; i < a->nmembers; i++)
    TK_ASSERT(memcmp(&a->members[i], &b->members[i], sizeof a->members[i]) == 0);
  for (size_t i = 0; i < a->n; i++)
    TK_ASSERT(memcmp(a->entries[i].id, b->entries[i].id, TK_HASH_LEN) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tk_member_log_t l;
  tk_err_t e;
  fz_init();
  tk_member_log_init(&l);
  for (size_t at = 0; at + 4 <= size && l.n < 64; at += 4) {
    const uint8_t *s = data + at;
    int op = 1 + s[0] % 4, damage = s[0] & 0x80;
    const tk_identity_t *signer = fz_id[s[1] % FZ_NIDS];
    const tk_identity_t *member = fz_id[(s[1] >> 4) % FZ_NIDS];
    uint8_t key[TK_KEY_ID_LEN];
    memset(key, s[3], sizeof key);
    tk_entry_draft_t d = {op, member->id, member->sign_pk, s[2] & 1, key};
    tk_entry_t en;
    if (tk_member_entry_make(&l, "cases", &d, signer, &en, &e) != 0) continue;
    tk_buf_t body = TK_BUF_INIT;
    uint8_t sig[TK_SIG_LEN];
    TK_ASSERT(tk_buf_append(&body, en.body.p, en.body.n) == 0);
    memcpy(sig, en.sig, TK_SIG_LEN);
    tk_entry_free(&en);
    if (damage) {
      size_t pos = s[2] % (body.n + TK_SIG_LEN);
      uint8_t flip = (uint8_t)(s[3] | 1);
      if (pos < body.n)
        body.p[pos] ^= flip;
      else
        sig[pos - body.n] ^= flip;
    }
    size_t before = l.n;
    int rc =
        tk_member_log_take(&l, TK_SLICE(body.p, body.n), TK_SLICE(sig, TK_SIG_LEN), &e);
    tk_buf_free(&body);
    if (damage) TK_ASSERT(rc != 0 && l.n == before);
    if (rc) continue;
    /* replay from the bytes */
    tk_member_log_t r;
    tk_member_log_init(&r);
    for (size_t i = 0; i < l.n; i++)
      TK_ASSERT(tk_member_log_take(&r, TK_SLICE(l.entries[i].body.p, l.entries[i].body.n),
                                   TK_SLICE(l.entries[i].sig, TK_SIG_LEN), &e) == 0);
    same_state(&l, &r);
    tk_member_log_free(&r);
    size_t writers = 0;
    for (size_t i = 0; i < l.nmembers; i++)
      writers += l.members[i].active && l.members[i].writer;
    TK_ASSERT(writers >= 1);
    char why[200];
    const tk_member_t *m = tk_member_find(&l, member->id);
    if (tk_member_check_rev(&l, member->id, tk_member_current_key(&l), why, sizeof why) ==
        0)
      TK_ASSERT(m != NULL);
    tk_grant_t g;
    memset(&g, 0, sizeof g);
    memcpy(g.vault, "cases", 6);
    memcpy(g.key_id, tk_member_current_key(&l), TK_KEY_ID_LEN);
    memcpy(g.granter, signer->id, TK_DEVICE_ID_LEN);
    memcpy(g.recipient, member->id, TK_DEVICE_ID_LEN);
    memset(g.entry, s[3], TK_HASH_LEN); /* names no entry */
    TK_ASSERT(tk_member_check_grant(&l, &g, why, sizeof why) != 0);
  }
  tk_member_log_free(&l);
  return 0;
}
