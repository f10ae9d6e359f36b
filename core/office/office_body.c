/*
 * office_body.c: the plaintext body of a revision, its delta chain read
 * (tk_rev_open_chain, PROTOCOL.md section 5): the one place the office
 * opens a body. A delta's parents come from the store or, for a pull batch
 * judged before it is stored, from the batch itself; each parent's vault
 * key from the office's keys. The store's thread (the office's) only.
 */
#include <string.h>

#include "tk_office_engine.h"

typedef struct body_src {
  tk_office_t *o;
  const tk_rev_t *const *batch;
  size_t nbatch;
} body_src_t;

static int body_fetch(void *ctx, const uint8_t id[TK_REV_ID_LEN], tk_buf_t *out,
                      tk_err_t *err)
{
  body_src_t *b = ctx;
  for (size_t i = 0; i < b->nbatch; i++) {
    const tk_rev_t *r = b->batch[i];
    if (r && memcmp(r->id, id, TK_REV_ID_LEN) == 0) {
      if (tk_buf_append(out, r->bytes.p, r->bytes.n) != 0)
        return tk_err_set(err, TK_ENOMEM, "out of memory");
      return 0;
    }
  }
  return tk_store_get_rev(tk_office_store(b->o), id, out, err);
}

static int body_key(void *ctx, const char *vault, const uint8_t key_id[TK_KEY_ID_LEN],
                    uint8_t key[TK_VAULT_KEY_LEN], tk_err_t *err)
{
  body_src_t *b = ctx;
  return tk_office_vault_key(b->o, vault, key_id, key, err);
}

int tk_office_body(tk_office_t *o, const tk_rev_t *rev,
                   const uint8_t key[TK_VAULT_KEY_LEN], const tk_rev_t *const *batch,
                   size_t nbatch, tk_buf_t *plain, uint32_t *depth, tk_err_t *err)
{
  body_src_t b = {o, batch, nbatch};
  tk_rev_source_t src = {body_fetch, body_key, &b};
  return tk_rev_open_chain(rev, key, &src, plain, depth, err);
}
