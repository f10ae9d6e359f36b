/*
 * sync_client_chunks.c: the office's policy on attachment chunks
 * (PROTOCOL.md section 8; the exchange itself is the initiator's,
 * sync_initiator.c): it offers the chunks of vaults it may write that it
 * did not get from the hub, and takes only chunks its stored revisions
 * name. The caller's loop thread.
 */
#include "sync_client_internal.h"

typedef struct vault_ok {
  client_t *c;
  int found;
} vault_ok_t;

static int writable_vault(void *ctx, const char *vault)
{
  vault_ok_t *v = ctx;
  v->found = tk__client_may_write(v->c->access, vault);
  return v->found; /* 1 stops the scan */
}

/* Offer a chunk the hub did not send us, named by a revision of a vault
 * this device may write. */
int tk__client_chunk_push_filter(void *ctx, const tk_chunk_meta_t *m)
{
  client_t *c = ctx;
  if (!c->opts->resend && !c->reoffer && m->has_origin &&
      tk_ct_equal(m->origin, c->hub.id, TK_DEVICE_ID_LEN))
    return 0;
  vault_ok_t v = {c, 0};
  int rc = tk_store_chunk_vaults(c->store, m->id, writable_vault, &v, NULL);
  return rc < 0 ? rc : v.found;
}

static int any_vault(void *ctx, const char *vault)
{
  (void)vault;
  *(int *)ctx = 1;
  return 1;
}

/* Take a chunk that a revision stored here names (whatever its vault: the
 * revision was already let in). */
int tk__client_chunk_pull_accept(void *ctx, const uint8_t id[TK_HASH_LEN], uint32_t size)
{
  client_t *c = ctx;
  int found = 0;
  (void)size;
  int rc = tk_store_chunk_vaults(c->store, id, any_vault, &found, NULL);
  return rc < 0 ? rc : found;
}
