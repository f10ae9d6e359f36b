/*
 * sync_client_unsent.c: nothing stranded (README, "Nothing stranded"): the
 * office's own revisions its hub has not taken are kept in the store's
 * unsent table (store_unsent.c) with the hub's reason, and every sync
 * offers them again until the hub takes them. The push checkpoint moves
 * past a refused revision as before (the feed after it is pushed once);
 * the re-offer is a push from just before the oldest entry in which only
 * the entries are offered (push_filter, tk__client_unsent_offer) while the
 * stored checkpoint stays where it was (retry_pos in its place, see
 * sync_client.c ckpt_get/ckpt_set). The caller's loop thread only.
 */
#include "sync_client_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* At most this many entries re-offered in one sync (their ids are held in
 * memory); the rest wait for the next, in feed order. */
#define RETRY_MAX 65536

typedef struct unsent_skip {
  uint64_t seq;
  uint8_t id[TK_REV_ID_LEN];
  uint8_t record_id[TK_RECORD_ID_LEN];
  char vault[TK_MAX_VAULT_LEN + 1];
} unsent_skip_t;

static int id_cmp(const void *a, const void *b)
{
  return memcmp(a, b, TK_REV_ID_LEN);
}

typedef struct load_ctx {
  client_t *c;
  uint64_t first, last;
  size_t cap;
} load_ctx_t;

static int load_one(void *ctx, const tk_unsent_info_t *u)
{
  load_ctx_t *l = ctx;
  client_t *c = l->c;
  if (c->nagain == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 64;
    void *v = realloc(c->again, cap * sizeof *c->again);
    if (!v) return tk_err_set(c->err, TK_ENOMEM, "out of memory");
    c->again = v;
    l->cap = cap;
  }
  if (c->nagain == 0) l->first = u->seq;
  l->last = u->seq;
  memcpy(c->again[c->nagain++], u->id, TK_REV_ID_LEN);
  return 0;
}

int tk__client_unsent_load(client_t *c)
{
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  c->run = ((uint64_t)now.tv_sec << 20) ^ (uint64_t)now.tv_nsec;
  c->clear_upto = UINT64_MAX;
  if (c->opts->mode != TK_CLIENT_SYNC || c->opts->resend) return 0; /* --all offers all */
  load_ctx_t l = {c, 0, 0, 0};
  int rc = tk_store_unsent_list(c->store, c->hub_id,
                                (1u << TK_UNSENT_REFUSED) | (1u << TK_UNSENT_READONLY),
                                RETRY_MAX, load_one, &l, c->err);
  if (rc || c->nagain == 0) return rc;
  if (c->nagain == RETRY_MAX) c->clear_upto = l.last;
  qsort(c->again, c->nagain, sizeof *c->again, id_cmp);
  rc = tk_store_checkpoint_get(c->store, c->hub_id, TK_DIR_PUSH, &c->retry_upto, c->err);
  if (rc) return rc;
  if (l.first > 0 && l.first - 1 < c->retry_upto) {
    c->retrying = 1;
    c->retry_pos = l.first - 1;
    TK_LOG(TK_LOG_INFO, "sync", "offering %zu revisions the hub has not taken again",
           c->nagain);
  }
  return 0;
}

int tk__client_unsent_offer(const client_t *c, const tk_rev_meta_t *m)
{
  if (!c->retrying || m->seq > c->retry_upto) return 1;
  return bsearch(m->id, c->again, c->nagain, sizeof *c->again, id_cmp) != NULL;
}

void tk__client_unsent_skip(client_t *c, const tk_rev_meta_t *m)
{
  if (c->opts->mode != TK_CLIENT_SYNC) return;
  if (c->nskips == c->cap_skips) {
    size_t cap = c->cap_skips ? 2 * c->cap_skips : 64;
    void *v = realloc(c->skips, cap * sizeof *c->skips);
    if (!v) {
      c->unsent_failed = 1;
      return;
    }
    c->skips = v;
    c->cap_skips = cap;
  }
  unsent_skip_t *k = &c->skips[c->nskips++];
  k->seq = m->seq;
  memcpy(k->id, m->id, TK_REV_ID_LEN);
  memcpy(k->record_id, m->record_id, TK_RECORD_ID_LEN);
  memcpy(k->vault, m->vault, sizeof k->vault);
}

int tk__client_unsent_flush(client_t *c)
{
  int rc = 0;
  if (c->unsent_failed)
    return tk_err_set(c->err, TK_ESTORE,
                      "a revision the hub has not taken could not be kept; the push "
                      "checkpoint stays");
  if (c->nskips == 0) return 0;
  rc = tk_store_begin(c->store, c->err);
  for (size_t i = 0; !rc && i < c->nskips; i++) {
    tk_rev_meta_t m;
    memset(&m, 0, sizeof m);
    m.seq = c->skips[i].seq;
    memcpy(m.id, c->skips[i].id, TK_REV_ID_LEN);
    memcpy(m.record_id, c->skips[i].record_id, TK_RECORD_ID_LEN);
    memcpy(m.vault, c->skips[i].vault, sizeof m.vault);
    char why[200];
    snprintf(why, sizeof why,
             "this device may only read vault '%s' at the hub; ask the hub's "
             "administrator for write access, then sync",
             m.vault);
    rc = tk_store_unsent_put(c->store, c->hub_id, &m, TK_UNSENT_READONLY, 0, why, c->run,
                             c->err);
  }
  if (!rc) rc = tk_store_commit(c->store, c->err);
  if (rc) {
    tk_store_rollback(c->store);
    c->unsent_failed = 1;
  }
  c->nskips = 0;
  return rc;
}

void tk__client_unsent_rejected(client_t *c, const uint8_t id[TK_REV_ID_LEN], int code,
                                const char *reason)
{
  tk_rev_meta_t m;
  tk_err_t e;
  if (c->opts->mode != TK_CLIENT_SYNC) return;
  /* an attachment chunk the hub refused has no revision of that id here */
  if (tk_store_rev_meta(c->store, id, &m, &e) != 0) return;
  int kind = code == TK_REJECT_QUARANTINED ? TK_UNSENT_HELD : TK_UNSENT_REFUSED;
  if (tk_store_unsent_put(c->store, c->hub_id, &m, kind, code, reason, c->run, &e) != 0) {
    TK_LOG(TK_LOG_WARN, "sync", "a revision the hub refused could not be kept: %s",
           tk_err_str(&e));
    c->unsent_failed = 1;
  }
}

int tk__client_unsent_end(client_t *c)
{
  if (c->opts->mode != TK_CLIENT_SYNC) return 0;
  int rc = tk__client_unsent_flush(c);
  unsigned kinds = (1u << TK_UNSENT_REFUSED) | (1u << TK_UNSENT_READONLY);
  /* --all offered the held ones too: the hub said again what it holds */
  if (c->opts->resend) kinds |= 1u << TK_UNSENT_HELD;
  if (!rc)
    rc = tk_store_unsent_clear(c->store, c->hub_id, kinds, c->run, c->clear_upto, c->err);
  return rc;
}

void tk__client_unsent_free(client_t *c)
{
  free(c->again);
  free(c->skips);
  c->again = NULL;
  c->skips = NULL;
  c->nagain = c->nskips = c->cap_skips = 0;
}
