/*
 * hub_chunks.c: the hub's policy on attachment chunks (PROTOCOL.md section
 * 8; the exchange itself is the responder's, sync_responder.c): it takes
 * only chunks a stored revision of a vault the device may write names,
 * offers only chunks of vaults it may read, and applies the attachment
 * limits of its config when a revision arrives. Loop thread only (a chunk's
 * write runs on the store thread: hub_store.c; the attachment limits on the
 * thread that applies the batch).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub_internal.h"

/* The hub's attachment limits on a revision that names chunks: the chunks
 * no stored revision names yet count against max_attachment_mb and the
 * vault's quota, in whole chunks of TK_CHUNK_PLAIN bytes (sizes are known
 * only when chunks arrive, and a chunk is at most that much plaintext). */
int tk__hub_attachment_limits(hub_push_t *p, const tk_rev_t *rev, char *reason,
                              size_t len)
{
  const tk_config_t *c = p->cfg;
  uint32_t nnew = 0;
  uint64_t used = 0;
  if (tk_store_chunks_new(p->store, rev, &nnew, NULL) != 0 ||
      tk_store_vault_chunks(p->store, rev->vault, &used, NULL) != 0) {
    snprintf(reason, len, "the hub could not count the attachments' sizes");
    return TK_REJECT_INTERNAL;
  }
  uint64_t add = (uint64_t)nnew * TK_CHUNK_PLAIN, mib = 1u << 20;
  if (add > (uint64_t)c->max_attachment_mb * mib) {
    snprintf(reason, len,
             "attachments of %.1f MiB are over this hub's limit of %u MiB per revision "
             "(max_attachment_mb)",
             (double)add / (double)mib, c->max_attachment_mb);
    return TK_REJECT_LIMIT;
  }
  if (c->vault_quota_mb &&
      used * TK_CHUNK_PLAIN + add > (uint64_t)c->vault_quota_mb * mib) {
    snprintf(
        reason, len,
        "vault '%s' holds %.1f MiB of attachments; %.1f MiB more is over its quota of "
        "%u MiB (vault_quota_mb)",
        rev->vault, (double)(used * TK_CHUNK_PLAIN) / (double)mib,
        (double)add / (double)mib, c->vault_quota_mb);
    return TK_REJECT_LIMIT;
  }
  return 0;
}

typedef struct vault_check {
  const session_t *s;
  int want; /* TK_ACCESS_WRITE: push; TK_ACCESS_READ: pull */
} vault_check_t;

static int vault_allows(void *ctx, const char *vault)
{
  vault_check_t *v = ctx;
  int a = tk__hub_access(v->s, vault);
  return v->want == TK_ACCESS_WRITE ? a == TK_ACCESS_WRITE : a != TK_ACCESS_NONE;
}

/* Whether a stored revision in a vault the session may read (or write)
 * names the chunk: the hub takes and gives only such chunks. */
static int chunk_allowed(const session_t *s, const uint8_t id[TK_HASH_LEN], int want)
{
  vault_check_t v = {s, want};
  int rc = tk_store_chunk_vaults(s->hub->store, id, vault_allows, &v, NULL);
  return rc < 0 ? rc : rc > 0;
}

int tk__hub_chunk_accept(void *ctx, const uint8_t id[TK_HASH_LEN], uint32_t size)
{
  (void)size;
  return chunk_allowed(ctx, id, TK_ACCESS_WRITE);
}

int tk__hub_chunk_filter(void *ctx, const tk_chunk_meta_t *m)
{
  return chunk_allowed(ctx, m->id, TK_ACCESS_READ);
}

void tk__hub_chunk_stored(session_t *s, uint32_t index, size_t n, int stored, int code,
                          const char *reason)
{
  if (stored) tk__hub_status_chunk(s, n);
  tk_sync_responder_chunk_stored(&s->resp, tk__hub_tp(s), index, n, stored, code, reason);
}
