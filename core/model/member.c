/*
 * member.c: vault membership logs (see tk_member.h): the entry codec and
 * signature, the rules every entry must follow, and the checks on
 * revisions and grants that every receiver runs against its own replay of
 * the log. Pure: no store, no network.
 */
#include "tk_member.h"

#include "tk_revision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char entry_label[] = "tunduk vault entry v1";

static int entry_msg(tk_buf_t *m, tk_slice_t body)
{
  int rc = tk_buf_append(m, entry_label, sizeof entry_label - 1);
  return rc ? rc : tk_buf_append(m, body.p, body.n);
}

void tk_entry_free(tk_entry_t *e)
{
  if (e) tk_buf_free(&e->body);
}

#define FIELD(b, want) ((b).len == (want))

int tk_entry_parse(tk_entry_t *e, tk_slice_t body, tk_slice_t sig, tk_err_t *err)
{
  tk_buf_t m = TK_BUF_INIT;
  int rc = 0;
  memset(e, 0, sizeof *e);
  if (sig.n != TK_SIG_LEN)
    return tk_err_set(err, TK_EFORMAT, "vault log entry: signature of the wrong size");
  if (body.n == 0 || body.n > TK_MAX_ENTRY_BYTES)
    return tk_err_set(err, TK_ELIMIT, "vault log entry: body of %zu bytes (1..%d)",
                      body.n, TK_MAX_ENTRY_BYTES);
  Tunduk__V1__VaultEntryBody *b =
      tunduk__v1__vault_entry_body__unpack(NULL, body.n, body.p);
  if (!b) return tk_err_set(err, TK_EFORMAT, "vault log entry: body does not decode");
  const char *bad = NULL;
  int op = (int)b->op, genesis = op == TK_ENTRY_GENESIS;
  if (!b->label || tk_name_check("vault", b->label, TK_MAX_VAULT_LEN, 1, NULL) != 0)
    bad = "label";
  else if (op < TK_ENTRY_GENESIS || op > TK_ENTRY_ROTATE)
    bad = "op";
  else if (!FIELD(b->author_pk, TK_SIGN_PK_LEN))
    bad = "author_pk";
  else if (genesis ? (b->vault_id.len != 0 || b->prev.len != 0 || b->seq != 0)
                   : (!FIELD(b->vault_id, TK_HASH_LEN) || !FIELD(b->prev, TK_HASH_LEN) ||
                      b->seq == 0))
    bad = "vault_id, prev or seq";
  else if ((op == TK_ENTRY_GENESIS || op == TK_ENTRY_ADD) &&
           !FIELD(b->member_pk, TK_SIGN_PK_LEN))
    bad = "member_pk";
  else if (op != TK_ENTRY_ROTATE && !FIELD(b->member, TK_DEVICE_ID_LEN))
    bad = "member";
  else if ((op == TK_ENTRY_GENESIS || op == TK_ENTRY_ROTATE) &&
           !FIELD(b->key_id, TK_KEY_ID_LEN))
    bad = "key_id";
  else if (b->seq >= TK_MAX_LOG_ENTRIES)
    bad = "seq (past the log's limit)";
  if (bad) {
    rc =
        tk_err_set(err, TK_EFORMAT, "vault log entry: field %s is missing or wrong", bad);
    goto done;
  }
  rc = entry_msg(&m, body);
  if (!rc && tk_sig_verify(sig.p, m.p, m.n, b->author_pk.data) != 0)
    rc = tk_err_set(err, TK_ESIG, "vault %s log entry %u: signature does not verify",
                    b->label, b->seq);
  if (!rc) rc = tk_buf_append(&e->body, body.p, body.n);
  if (rc) goto done;
  tk_sha256(e->id, body.p, body.n);
  if (genesis)
    memcpy(e->vault_id, e->id, TK_HASH_LEN);
  else {
    memcpy(e->vault_id, b->vault_id.data, TK_HASH_LEN);
    memcpy(e->prev, b->prev.data, TK_HASH_LEN);
  }
  snprintf(e->label, sizeof e->label, "%s", b->label);
  e->seq = b->seq;
  e->op = op;
  if (b->member.len) memcpy(e->member, b->member.data, TK_DEVICE_ID_LEN);
  if (b->member_pk.len) memcpy(e->member_pk, b->member_pk.data, TK_SIGN_PK_LEN);
  e->writer = b->writer;
  if (b->key_id.len) memcpy(e->key_id, b->key_id.data, TK_KEY_ID_LEN);
  memcpy(e->author_pk, b->author_pk.data, TK_SIGN_PK_LEN);
  tk_device_id_from_pk(e->author, e->author_pk);
  e->created_ms = b->created_ms;
  memcpy(e->sig, sig.p, TK_SIG_LEN);
done:
  if (rc) tk_buf_free(&e->body);
  tk_buf_free(&m);
  tunduk__v1__vault_entry_body__free_unpacked(b, NULL);
  return rc;
}

void tk_member_log_init(tk_member_log_t *l)
{
  memset(l, 0, sizeof *l);
}

void tk_member_log_free(tk_member_log_t *l)
{
  if (!l) return;
  for (size_t i = 0; i < l->n; i++)
    tk_entry_free(&l->entries[i]);
  free(l->entries);
  free(l->members);
  memset(l, 0, sizeof *l);
}

const tk_member_t *tk_member_find(const tk_member_log_t *l,
                                  const uint8_t dev[TK_DEVICE_ID_LEN])
{
  for (size_t i = 0; i < l->nmembers; i++)
    if (memcmp(l->members[i].id, dev, TK_DEVICE_ID_LEN) == 0) return &l->members[i];
  return NULL;
}

static size_t writers(const tk_member_log_t *l)
{
  size_t n = 0;
  for (size_t i = 0; i < l->nmembers; i++)
    n += l->members[i].active && l->members[i].writer;
  return n;
}

int tk_member_key_epoch(const tk_member_log_t *l, const uint8_t key_id[TK_KEY_ID_LEN])
{
  for (size_t i = 0; i < l->n; i++) {
    const tk_entry_t *e = &l->entries[i];
    if ((e->op == TK_ENTRY_GENESIS || e->op == TK_ENTRY_ROTATE) &&
        memcmp(e->key_id, key_id, TK_KEY_ID_LEN) == 0)
      return (int)i;
  }
  return -1;
}

const uint8_t *tk_member_current_key(const tk_member_log_t *l)
{
  for (size_t i = l->n; i-- > 0;)
    if (l->entries[i].op == TK_ENTRY_GENESIS || l->entries[i].op == TK_ENTRY_ROTATE)
      return l->entries[i].key_id;
  return NULL;
}

/* Refusal with a reason; the log stays as it was. */
static int refuse(tk_err_t *err, const tk_entry_t *e, const char *why)
{
  return tk_err_set(err, TK_EACCESS, "vault %s log entry %u refused: %s", e->label,
                    e->seq, why);
}

int tk_member_log_append(tk_member_log_t *l, tk_entry_t *e, tk_err_t *err)
{
  const tk_member_t *author = tk_member_find(l, e->author);
  uint8_t check[TK_DEVICE_ID_LEN];
  if (l->n >= TK_MAX_LOG_ENTRIES) return refuse(err, e, "the log is full");
  if (e->seq != l->n) return refuse(err, e, "out of order (not the next entry)");
  if (l->n == 0) {
    if (e->op != TK_ENTRY_GENESIS) return refuse(err, e, "a log starts with a genesis");
    if (memcmp(e->member, e->author, TK_DEVICE_ID_LEN) != 0 || !e->writer)
      return refuse(err, e, "the genesis must make its author a writer");
  } else {
    const tk_entry_t *last = &l->entries[l->n - 1];
    if (e->op == TK_ENTRY_GENESIS) return refuse(err, e, "a second genesis");
    if (memcmp(e->vault_id, l->vault_id, TK_HASH_LEN) != 0 || strcmp(e->label, l->label))
      return refuse(err, e, "it belongs to another vault");
    if (memcmp(e->prev, last->id, TK_HASH_LEN) != 0)
      return refuse(err, e, "it does not follow the entry before it (a fork)");
    if (!author || !author->active || !author->writer)
      return refuse(err, e, "its author is not a writer of the vault");
  }
  const tk_member_t *m = e->op == TK_ENTRY_ROTATE ? NULL : tk_member_find(l, e->member);
  if (e->op == TK_ENTRY_GENESIS || e->op == TK_ENTRY_ADD) {
    tk_device_id_from_pk(check, e->member_pk);
    if (memcmp(check, e->member, TK_DEVICE_ID_LEN) != 0)
      return refuse(err, e, "member_pk is not the member's key");
    if (m && m->active) return refuse(err, e, "the device is already a member");
  } else if (e->op == TK_ENTRY_REMOVE) {
    if (!m || !m->active) return refuse(err, e, "the device is not a member");
    if (m->writer && writers(l) == 1) return refuse(err, e, "the last writer cannot go");
  }
  if ((e->op == TK_ENTRY_GENESIS || e->op == TK_ENTRY_ROTATE) &&
      tk_member_key_epoch(l, e->key_id) >= 0)
    return refuse(err, e, "the key id was used before");

  /* every check passed: grow, then apply */
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 8;
    tk_entry_t *ne = realloc(l->entries, cap * sizeof *ne);
    if (!ne) return tk_err_set(err, TK_ENOMEM, "out of memory");
    l->entries = ne;
    l->cap = cap;
  }
  if (e->op == TK_ENTRY_GENESIS || (e->op == TK_ENTRY_ADD && !m)) {
    tk_member_t *nm = realloc(l->members, (l->nmembers + 1) * sizeof *nm);
    if (!nm) return tk_err_set(err, TK_ENOMEM, "out of memory");
    l->members = nm;
    m = &l->members[l->nmembers++];
    memset((tk_member_t *)m, 0, sizeof *m);
    memcpy(((tk_member_t *)m)->id, e->member, TK_DEVICE_ID_LEN);
    memcpy(((tk_member_t *)m)->pk, e->member_pk, TK_SIGN_PK_LEN);
  }
  if (e->op == TK_ENTRY_GENESIS) {
    snprintf(l->label, sizeof l->label, "%s", e->label);
    memcpy(l->vault_id, e->id, TK_HASH_LEN);
  }
  if (m) {
    tk_member_t *mm = (tk_member_t *)m;
    if (e->op == TK_ENTRY_REMOVE) {
      mm->active = 0;
    } else {
      mm->active = 1;
      mm->writer = e->writer;
      mm->since = e->seq;
      const tk_member_t *by = tk_member_find(l, e->author);
      mm->added_by = (uint32_t)(by - l->members);
    }
  }
  l->entries[l->n++] = *e;
  memset(e, 0, sizeof *e);
  return 0;
}

int tk_member_log_take(tk_member_log_t *l, tk_slice_t body, tk_slice_t sig, tk_err_t *err)
{
  tk_entry_t e;
  int rc = tk_entry_parse(&e, body, sig, err);
  if (!rc) rc = tk_member_log_append(l, &e, err);
  tk_entry_free(&e);
  return rc;
}

int tk_member_log_take_cb(void *ctx, tk_slice_t body, tk_slice_t sig)
{
  tk_err_t e;
  return tk_member_log_take(ctx, body, sig, &e);
}

int tk_member_entry_make(const tk_member_log_t *l, const char *label,
                         const tk_entry_draft_t *d, const tk_identity_t *id,
                         tk_entry_t *e, tk_err_t *err)
{
  Tunduk__V1__VaultEntryBody b = TUNDUK__V1__VAULT_ENTRY_BODY__INIT;
  tk_buf_t body = TK_BUF_INIT;
  uint8_t sig[TK_SIG_LEN];
  if (!id->sec) return tk_err_set(err, TK_ENOKEY, "the device keys are locked");
  b.label = (char *)(uintptr_t)(l->n ? l->label : label);
  b.seq = (uint32_t)l->n;
  b.op = (Tunduk__V1__EntryOp)d->op;
  b.author_pk = tk_pb_bytes(id->sign_pk, TK_SIGN_PK_LEN);
  b.created_ms = (uint64_t)time(NULL) * 1000;
  if (l->n) {
    b.vault_id = tk_pb_bytes(l->vault_id, TK_HASH_LEN);
    b.prev = tk_pb_bytes(l->entries[l->n - 1].id, TK_HASH_LEN);
  }
  if (d->op == TK_ENTRY_GENESIS) {
    b.member = tk_pb_bytes(id->id, TK_DEVICE_ID_LEN);
    b.member_pk = tk_pb_bytes(id->sign_pk, TK_SIGN_PK_LEN);
    b.writer = 1;
  } else if (d->op != TK_ENTRY_ROTATE) {
    b.member = tk_pb_bytes(d->member, TK_DEVICE_ID_LEN);
    if (d->op == TK_ENTRY_ADD) b.member_pk = tk_pb_bytes(d->member_pk, TK_SIGN_PK_LEN);
    b.writer = d->op == TK_ENTRY_ADD && d->writer;
  }
  if (d->key_id) b.key_id = tk_pb_bytes(d->key_id, TK_KEY_ID_LEN);
  size_t n = tunduk__v1__vault_entry_body__get_packed_size(&b);
  int rc = tk_buf_reserve(&body, n);
  if (rc) return tk_err_set(err, rc, "out of memory");
  tunduk__v1__vault_entry_body__pack(&b, body.p);
  body.n = n;
  tk_buf_t m = TK_BUF_INIT;
  rc = entry_msg(&m, TK_SLICE(body.p, body.n));
  if (!rc) rc = tk_identity_sign(id, sig, m.p, m.n);
  tk_buf_free(&m);
  if (!rc)
    rc = tk_entry_parse(e, TK_SLICE(body.p, body.n), TK_SLICE(sig, TK_SIG_LEN), err);
  else
    tk_err_set(err, rc, "cannot sign a vault log entry");
  tk_buf_free(&body);
  return rc;
}

/* Membership after entry `upto` (inclusive) of device dev: 0 none, 1
 * reader, 2 writer. Replays from the genesis. */
static int role_after(const tk_member_log_t *l, size_t upto,
                      const uint8_t dev[TK_DEVICE_ID_LEN])
{
  int role = 0;
  for (size_t i = 0; i <= upto && i < l->n; i++) {
    const tk_entry_t *e = &l->entries[i];
    if (e->op == TK_ENTRY_ROTATE || memcmp(e->member, dev, TK_DEVICE_ID_LEN) != 0)
      continue;
    role = e->op == TK_ENTRY_REMOVE ? 0 : (e->writer ? 2 : 1);
  }
  return role;
}

int tk_member_check_rev(const tk_member_log_t *l, const uint8_t author[TK_DEVICE_ID_LEN],
                        const uint8_t key_id[TK_KEY_ID_LEN], char *reason, size_t len)
{
  int k = tk_member_key_epoch(l, key_id);
  if (k < 0) {
    snprintf(reason, len, "its key is not one the membership log of vault %s gives",
             l->label);
    return TK_EACCESS;
  }
  size_t end = (size_t)k + 1;
  while (end < l->n && l->entries[end].op != TK_ENTRY_ROTATE)
    end++;
  for (size_t p = (size_t)k; p < end; p++)
    if (role_after(l, p, author) == 2) return 0;
  snprintf(
      reason, len,
      "its author was not a writer of vault %s while that key was in use (membership "
      "log)",
      l->label);
  return TK_EACCESS;
}

int tk_member_check_parents(const tk_member_log_t *l, const uint8_t key_id[TK_KEY_ID_LEN],
                            const uint8_t (*parent_keys)[TK_KEY_ID_LEN], size_t n,
                            char *reason, size_t len)
{
  int k = tk_member_key_epoch(l, key_id);
  for (size_t i = 0; i < n; i++)
    if (tk_member_key_epoch(l, parent_keys[i]) > k) {
      snprintf(reason, len,
               "it is written under an older key of vault %s than its parent (a device "
               "that lost access cannot continue what was written after)",
               l->label);
      return TK_EACCESS;
    }
  return 0;
}

int tk_member_check_grant(const tk_member_log_t *l, const tk_grant_t *g, char *reason,
                          size_t len)
{
  size_t p = 0;
  while (p < l->n && memcmp(l->entries[p].id, g->entry, TK_HASH_LEN) != 0)
    p++;
  int k = tk_member_key_epoch(l, g->key_id);
  if (strcmp(g->vault, l->label) != 0 || p == l->n)
    snprintf(reason, len, "it names no entry of vault %s's membership log", l->label);
  else if (k < 0 || (size_t)k > p)
    snprintf(reason, len, "its key is not one the log gave vault %s by that entry",
             l->label);
  else if (role_after(l, p, g->granter) != 2)
    snprintf(reason, len, "the granting device is not a writer of vault %s", l->label);
  else if (role_after(l, p, g->recipient) == 0)
    snprintf(reason, len, "the recipient is not a member of vault %s", l->label);
  else
    return 0;
  return TK_EACCESS;
}
