/*
 * office_verify.c: re-checks a whole store from its stored bytes: each
 * revision's hash, signature and tag (when this device holds the vault
 * key; a delta body through its chain of parents), that the indexed columns match the
 * signed header, and that every parent is present with consistent record, vault, type and
 * generation. Reads only; one thread at a time (the office's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_office_engine.h"

typedef struct verify_ctx {
  tk_office_t *o;
  void (*cb)(void *ctx, const uint8_t id[TK_REV_ID_LEN], const char *msg);
  void *cb_ctx;
  tk_verify_counts_t *counts;
  int first_rc;
  uint8_t *key;
  tk_buf_t plain;
} verify_ctx_t;

static void fail(verify_ctx_t *v, const uint8_t id[TK_REV_ID_LEN], int rc,
                 const char *msg)
{
  v->counts->failed++;
  if (!v->first_rc) v->first_rc = rc;
  if (v->cb) v->cb(v->cb_ctx, id, msg);
}

static int check_parents(verify_ctx_t *v, const tk_rev_t *rev, tk_err_t *err)
{
  uint32_t maxgen = 0;
  for (uint32_t i = 0; i < rev->nparents; i++) {
    const uint8_t *pid = rev->parents + (size_t)i * TK_REV_ID_LEN;
    tk_rev_meta_t pm;
    char hex[2 * TK_REV_ID_LEN + 1];
    tk_hex_encode(hex, pid, TK_REV_ID_LEN);
    int rc = tk_store_rev_meta(tk_office_store(v->o), pid, &pm, err);
    if (rc == TK_ENOTFOUND)
      return tk_err_set(err, TK_EPARENT, "parent %s is missing", hex);
    if (rc) return rc;
    if (memcmp(pm.record_id, rev->record_id, TK_RECORD_ID_LEN) != 0 ||
        strcmp(pm.vault, rev->vault) != 0 || strcmp(pm.type, rev->type) != 0)
      return tk_err_set(err, TK_EPARENT,
                        "parent %s belongs to another record, vault or type", hex);
    if (pm.generation > maxgen) maxgen = pm.generation;
  }
  if (rev->generation != maxgen + 1)
    return tk_err_set(err, TK_EPARENT, "generation %u does not follow its parents (%u)",
                      rev->generation, maxgen);
  return 0;
}

static int check_columns(const tk_rev_meta_t *m, const tk_rev_t *rev, tk_err_t *err)
{
  if (memcmp(m->record_id, rev->record_id, TK_RECORD_ID_LEN) != 0 ||
      memcmp(m->author, rev->author, TK_DEVICE_ID_LEN) != 0 || m->hlc != rev->hlc ||
      m->generation != rev->generation || strcmp(m->type, rev->type) != 0 ||
      strcmp(m->vault, rev->vault) != 0 || m->nparents != rev->nparents ||
      m->size != rev->bytes.n)
    return tk_err_set(err, TK_EFORMAT, "indexed fields do not match the signed header");
  for (uint32_t i = 0; i < rev->nparents; i++)
    if (memcmp(m->parents[i], rev->parents + (size_t)i * TK_REV_ID_LEN, TK_REV_ID_LEN) !=
        0)
      return tk_err_set(err, TK_EFORMAT,
                        "stored parent links do not match the signed header");
  return 0;
}

static int verify_one(void *ctx, const tk_rev_meta_t *m, tk_slice_t bytes)
{
  verify_ctx_t *v = ctx;
  tk_err_t e;
  tk_rev_t rev;
  tk_err_clear(&e);
  v->counts->revisions++;
  int rc = tk_rev_parse(&rev, bytes, &e);
  if (!rc) rc = tk_rev_check_id(&rev, m->id, &e);
  if (!rc) rc = tk_rev_verify_sig(&rev, &e);
  if (!rc) rc = check_columns(m, &rev, &e);
  if (!rc) rc = check_parents(v, &rev, &e);
  if (rc) {
    fail(v, m->id, rc, tk_err_str(&e));
    return 0;
  }
  const tk_member_log_t *l;
  char why[200];
  if (tk_office_log(v->o, rev.vault, &l, NULL) == 0 && l->n > 0 &&
      tk_office_member_check(v->o, &rev, why, sizeof why) != 0) {
    char msg[240];
    snprintf(msg, sizeof msg, "membership: %s", why);
    fail(v, m->id, TK_EACCESS, msg);
    return 0;
  }
  rc = tk_office_vault_key(v->o, rev.vault, rev.key_id, v->key, &e);
  if (rc == TK_ENOKEY || rc == TK_ENOTFOUND) {
    v->counts->no_key++;
    return 0;
  }
  if (!rc) rc = tk_office_body(v->o, &rev, v->key, NULL, 0, &v->plain, NULL, &e);
  tk_buf_wipe(&v->plain);
  if (rc) {
    fail(v, m->id, rc, tk_err_str(&e));
    return 0;
  }
  v->counts->ok++;
  return 0;
}

/* A stored chunk whose bytes do not hash to its id. */
static void bad_chunk(void *ctx, const uint8_t id[TK_HASH_LEN])
{
  verify_ctx_t *v = ctx;
  if (!v->first_rc) v->first_rc = TK_EHASH;
  if (v->cb) v->cb(v->cb_ctx, id, "attachment chunk: its bytes do not hash to its id");
}

/* A revision the membership log kept aside: evidence, counted as failed. */
static int refused_one(void *ctx, const tk_quarantine_info_t *q)
{
  verify_ctx_t *v = ctx;
  if (!q->refused) return 0;
  v->counts->revisions++;
  fail(v, q->meta.id, TK_EACCESS, q->reason);
  return 0;
}

static int count_record(void *ctx, const tk_record_info_t *r)
{
  (void)r;
  ((tk_verify_counts_t *)ctx)->records++;
  return 0;
}

int tk_office_verify(tk_office_t *o,
                     void (*cb)(void *ctx, const uint8_t id[TK_REV_ID_LEN],
                                const char *msg),
                     void *ctx, tk_verify_counts_t *counts, tk_err_t *err)
{
  verify_ctx_t v = {o, cb, ctx, counts, 0, NULL, TK_BUF_INIT};
  memset(counts, 0, sizeof *counts);
  v.key = tk_secure_alloc(TK_VAULT_KEY_LEN);
  if (!v.key)
    return tk_err_set(err, TK_ENOMEM, "cannot allocate locked memory for a key");
  int rc = tk_store_changes(tk_office_store(o), 0, 0, verify_one, &v, err);
  if (!rc) rc = tk_store_quarantine_list(tk_office_store(o), refused_one, &v, err);
  if (!rc)
    rc = tk_store_records(tk_office_store(o), NULL, NULL, 0, count_record, counts, err);
  if (!rc)
    rc = tk_store_chunks_verify(tk_office_store(o), bad_chunk, &v, &counts->chunks,
                                &counts->bad_chunks, err);
  tk_secure_free(v.key);
  tk_buf_wipe(&v.plain);
  if (rc) return rc;
  if (v.first_rc && counts->failed == 0)
    return tk_err_set(err, v.first_rc, "%llu of %llu attachment chunks are damaged",
                      (unsigned long long)counts->bad_chunks,
                      (unsigned long long)counts->chunks);
  if (v.first_rc)
    return tk_err_set(err, v.first_rc, "%llu of %llu revisions failed verification",
                      (unsigned long long)counts->failed,
                      (unsigned long long)counts->revisions);
  return 0;
}
