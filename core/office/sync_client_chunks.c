/*
 * sync_client_chunks.c: the office's side of attachment chunks (PROTOCOL.md
 * section 8): it offers the chunks of vaults it may write that it did not
 * get from the hub, takes only chunks its stored revisions name, and moves
 * each checkpoint when its batch is complete. The caller's loop thread.
 */
#include <stdlib.h>
#include <string.h>

#include "sync_client_internal.h"

static void chunk_pull_next(client_t *c);

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
static int chunk_push_filter(void *ctx, const tk_chunk_meta_t *m)
{
  client_t *c = ctx;
  if (!c->opts->resend && m->has_origin &&
      tk_ct_equal(m->origin, c->hub.id, TK_DEVICE_ID_LEN))
    return 0;
  vault_ok_t v = {c, 0};
  int rc = tk_store_chunk_vaults(c->store, m->id, writable_vault, &v, NULL);
  return rc < 0 ? rc : v.found;
}

void tk__client_chunk_push_next(client_t *c)
{
  uint64_t since = 0;
  int rc =
      tk_store_checkpoint_get(c->store, c->hub.id, TK_DIR_CHUNK_PUSH, &since, c->err);
  if (!rc)
    rc = tk_chunk_send_offer(&c->csend, tk__client_tp(c), c->store, since, 0, 0,
                             chunk_push_filter, c, c->err);
  if (rc) {
    tk__client_stop(c, rc, "%s", c->err->msg);
    return;
  }
  if (c->csend.n > 0) {
    c->state = C_CPUSH_NEED;
    c->st->round_trips++;
    return;
  }
  /* the empty offer told the hub nothing is coming; move past what the
   * filter skipped and go on */
  if (c->csend.upto > since &&
      (rc = tk__client_set_ckpt(c, TK_DIR_CHUNK_PUSH, c->csend.upto)) != 0) {
    tk__client_stop(c, rc, "%s", c->err->msg);
    return;
  }
  chunk_pull_next(c);
}

static void chunk_push_done(client_t *c)
{
  int rc = tk__client_set_ckpt(c, TK_DIR_CHUNK_PUSH, c->csend.upto);
  if (rc) {
    tk__client_stop(c, rc, "%s", c->err->msg);
    return;
  }
  tk__client_progress(c);
  if (c->csend.more)
    tk__client_chunk_push_next(c);
  else
    chunk_pull_next(c);
}

void tk__client_on_chunk_push_need(client_t *c, const Tunduk__V1__Need *m)
{
  if (m->n_index == 0) {
    chunk_push_done(c);
    return;
  }
  int rc = tk_chunk_send_need(&c->csend, tk__client_tp(c), c->store, m->index, m->n_index,
                              c->err);
  if (rc) {
    tk__client_stop(c, rc, "cannot send chunks: %s", c->err->msg);
    return;
  }
  c->state = C_CPUSH_ACK;
}

void tk__client_on_chunk_push_ack(client_t *c, const Tunduk__V1__ChunkAck *m)
{
  uint32_t i = m->index;
  int rc = tk_chunk_send_ack(&c->csend, tk__client_tp(c), c->store, i, c->err);
  if (rc < 0) {
    tk__client_stop(c, rc, "%s", c->err->msg);
    return;
  }
  if (m->code != TUNDUK__V1__REJECT_CODE__REJECT_NONE) {
    c->st->chunks_refused++;
    tk__client_add_reject(&c->st->rejected, &c->st->nrejected, c->csend.ids[i], m->code,
                          m->reason);
  } else {
    c->st->chunks_sent++;
    c->st->chunk_bytes_out += c->csend.sizes[i];
  }
  if (rc == 1)
    chunk_push_done(c);
  else if (c->st->chunks_sent % 16 == 0)
    tk__client_progress(c);
}

static void chunk_pull_next(client_t *c)
{
  uint64_t since = 0;
  int rc =
      tk_store_checkpoint_get(c->store, c->hub.id, TK_DIR_CHUNK_PULL, &since, c->err);
  if (rc) {
    tk__client_stop(c, rc, "%s", c->err->msg);
    return;
  }
  if (c->chunk_feed_end > 0 && since >= c->chunk_feed_end - 1) {
    tk__client_done(c); /* the hub has no chunk past our checkpoint */
    return;
  }
  c->chunk_feed_end = 0; /* a later batch must ask */
  /* Only chunks the hub held when it made its last revision offer: every
   * revision naming them was in this session's pull, so none is passed
   * over (unnamed) here before its revision arrives. */
  tk__client_sent(c, tk_sync_send_pull(tk__client_tp(c), since, 1, c->chunk_bound),
                  TUNDUK__V1__FRAME__MSG_PULL, C_CPULL_OFFER);
}

static int any_vault(void *ctx, const char *vault)
{
  (void)vault;
  *(int *)ctx = 1;
  return 1;
}

/* Take a chunk that a revision stored here names (whatever its vault: the
 * revision was already let in). */
static int chunk_pull_accept(void *ctx, const uint8_t id[TK_HASH_LEN], uint32_t size)
{
  client_t *c = ctx;
  int found = 0;
  (void)size;
  int rc = tk_store_chunk_vaults(c->store, id, any_vault, &found, NULL);
  return rc < 0 ? rc : found;
}

static void chunk_pull_done(client_t *c)
{
  int rc = tk__client_set_ckpt(c, TK_DIR_CHUNK_PULL, c->crecv.upto);
  if (rc) {
    tk__client_stop(c, rc, "%s", c->err->msg);
    return;
  }
  tk__client_progress(c);
  if (c->crecv.more)
    chunk_pull_next(c);
  else
    tk__client_done(c);
}

void tk__client_on_chunk_pull_offer(client_t *c, const Tunduk__V1__Offer *m)
{
  if (m->n_sizes != m->n_ids) {
    tk__client_stop(c, TK_EPROTO, "the hub's chunk offer has %zu sizes for %zu ids",
                    m->n_sizes, m->n_ids);
    return;
  }
  tk_slice_t *ids = calloc(m->n_ids ? m->n_ids : 1, sizeof *ids);
  if (!ids) {
    tk__client_stop(c, TK_ENOMEM, "out of memory");
    return;
  }
  for (size_t i = 0; i < m->n_ids; i++)
    ids[i] = tk_pb_slice(m->ids[i]);
  int rc = tk_chunk_recv_offer(&c->crecv, tk__client_tp(c), c->store, ids, m->sizes,
                               m->n_ids, m->upto, m->more, chunk_pull_accept, c, c->err);
  free(ids);
  if (rc) {
    tk__client_stop(c, rc, "%s", c->err->msg);
    return;
  }
  if (c->crecv.nneed > 0)
    c->state = C_CPULL_CHUNKS;
  else
    chunk_pull_done(c);
}

void tk__client_on_chunk_pull_chunk(client_t *c, const Tunduk__V1__Chunk *m)
{
  uint32_t refused = c->crecv.refused;
  uint64_t bytes = c->crecv.bytes;
  int rc = tk_chunk_recv_take(&c->crecv, tk__client_tp(c), c->store, m->index,
                              tk_pb_slice(m->data), c->hub.id, c->err);
  if (rc < 0) {
    tk__client_stop(c, rc, "storing a pulled chunk failed: %s", c->err->msg);
    return;
  }
  if (c->crecv.refused > refused) {
    c->st->chunks_refused++;
    tk__client_add_reject(&c->st->refused, &c->st->nrefused, c->crecv.ids[m->index],
                          TK_REJECT_HASH,
                          "a pulled attachment chunk does not match its id or size");
  } else if (c->crecv.bytes > bytes) {
    c->st->chunks_received++;
    c->st->chunk_bytes_in += c->crecv.bytes - bytes;
  }
  if (rc == 1)
    chunk_pull_done(c);
  else if (c->st->chunks_received % 16 == 0)
    tk__client_progress(c);
}
