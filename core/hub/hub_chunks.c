/*
 * hub_chunks.c: the hub's side of attachment chunks (PROTOCOL.md section 8):
 * it takes only chunks a stored revision of a vault the device may write
 * names, offers only chunks of vaults it may read, and applies the
 * attachment limits of its config when a revision arrives. Loop thread only
 * (a chunk's write runs on the store thread: hub_store.c; the attachment
 * limits on the thread that applies the batch).
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

/* A code for tk__hub_fail() from a sync error. */
static Tunduk__V1__ErrorCode error_code(int rc)
{
  return rc == TK_EPROTO   ? TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL
         : rc == TK_ELIMIT ? TUNDUK__V1__ERROR_CODE__ERROR_LIMIT
                           : TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL;
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

static int push_chunk_accept(void *ctx, const uint8_t id[TK_HASH_LEN], uint32_t size)
{
  (void)size;
  return chunk_allowed(ctx, id, TK_ACCESS_WRITE);
}

void tk__hub_chunk_offer(session_t *s, const Tunduk__V1__Offer *m)
{
  tk_err_t e;
  if (m->n_sizes != m->n_ids) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO,
                 "a chunk offer needs one size per id");
    return;
  }
  tk_slice_t *ids = calloc(m->n_ids ? m->n_ids : 1, sizeof *ids);
  if (!ids) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_INTERNAL, TK_ENOMEM, "out of memory");
    return;
  }
  for (size_t i = 0; i < m->n_ids; i++)
    ids[i] = tk_pb_slice(m->ids[i]);
  int rc = tk_chunk_recv_offer(&s->crecv, tk__hub_tp(s), s->hub->store, ids, m->sizes,
                               m->n_ids, 0, 0, push_chunk_accept, s, &e);
  free(ids);
  if (rc) {
    tk__hub_fail(s, error_code(rc), rc, tk_err_str(&e));
    return;
  }
  s->awaiting_chunks = s->crecv.nneed > 0;
}

void tk__hub_chunk(session_t *s, const Tunduk__V1__Chunk *m)
{
  tk_err_t e;
  if (!s->awaiting_chunks) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO,
                 "a chunk that was not asked for");
    return;
  }
  char reason[160];
  int code;
  int rc = tk_chunk_recv_check(&s->crecv, m->index, tk_pb_slice(m->data), &code, reason,
                               sizeof reason, &e);
  if (rc) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, rc, tk_err_str(&e));
    return;
  }
  if (!code) { /* stored on the store thread, acked once committed (hub_store.c) */
    tk__hub_store_chunk(s, m->index, tk_pb_slice(m->data));
    return;
  }
  tk__hub_chunk_stored(s, m->index, m->data.len, 0, code, reason);
}

void tk__hub_chunk_stored(session_t *s, uint32_t index, size_t n, int stored, int code,
                          const char *reason)
{
  tk_err_t e;
  int rc =
      tk_chunk_recv_acked(&s->crecv, tk__hub_tp(s), index, n, stored, code, reason, &e);
  if (rc < 0) {
    tk__hub_fail_store(s, rc, &e, "a chunk");
    return;
  }
  if (rc == 1) {
    s->awaiting_chunks = 0;
    TK_LOG(TK_LOG_INFO, "hub", "chunks device=%s stored=%u refused=%u bytes=%llu", s->who,
           s->crecv.stored, s->crecv.refused, (unsigned long long)s->crecv.bytes);
  }
}

static int pull_chunk_filter(void *ctx, const tk_chunk_meta_t *m)
{
  return chunk_allowed(ctx, m->id, TK_ACCESS_READ);
}

void tk__hub_chunk_pull(session_t *s, uint64_t since, uint64_t before)
{
  tk_err_t e;
  TK_LOG(TK_LOG_DEBUG, "hub", "chunk pull device=%s since=%llu before=%llu", s->who,
         (unsigned long long)since, (unsigned long long)before);
  int rc = tk_chunk_send_offer(&s->csend, tk__hub_tp(s), s->hub->store, since, before, 1,
                               pull_chunk_filter, s, &e);
  if (rc) {
    tk__hub_fail(s, error_code(rc), rc, tk_err_str(&e));
    return;
  }
  s->awaiting_chunk_need = s->csend.n > 0;
}

void tk__hub_chunk_need(session_t *s, const Tunduk__V1__Need *m)
{
  tk_err_t e;
  s->awaiting_chunk_need = 0;
  int rc = tk_chunk_send_need(&s->csend, tk__hub_tp(s), s->hub->store, m->index,
                              m->n_index, &e);
  if (rc) {
    tk__hub_fail(s, error_code(rc), rc, tk_err_str(&e));
    return;
  }
  s->sending_chunks = m->n_index > 0;
}

void tk__hub_chunk_ack(session_t *s, const Tunduk__V1__ChunkAck *m)
{
  tk_err_t e;
  if (!s->sending_chunks) {
    tk__hub_fail(s, TUNDUK__V1__ERROR_CODE__ERROR_PROTOCOL, TK_EPROTO,
                 "a chunk ack out of turn");
    return;
  }
  if (m->code != TUNDUK__V1__REJECT_CODE__REJECT_NONE)
    TK_LOG(TK_LOG_WARN, "hub", "device=%s refused chunk %u code=%d reason=\"%s\"", s->who,
           m->index, m->code, m->reason ? m->reason : "");
  int rc = tk_chunk_send_ack(&s->csend, tk__hub_tp(s), s->hub->store, m->index, &e);
  if (rc < 0) {
    tk__hub_fail(s, error_code(rc), rc, tk_err_str(&e));
    return;
  }
  if (rc == 1) {
    s->sending_chunks = 0;
    TK_LOG(TK_LOG_DEBUG, "hub", "chunk pull device=%s sent=%zu bytes=%llu", s->who,
           s->csend.nneed, (unsigned long long)s->csend.bytes);
  }
}
