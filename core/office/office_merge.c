/*
 * office_merge.c: automatic resolution of a conflicted record through its
 * content type's merge(base, ours, theirs). The heads are folded into the
 * winner one by one, each with their nearest common ancestor as base; the
 * result is validated like any edit before the caller writes it as a
 * revision whose parents are all the heads. Tombstones take no part: a
 * deletion never hides a concurrent edit, so the live heads are merged
 * (one live head is kept as it is, without merge() or validation: it is
 * what its author wrote), and only when every head is a tombstone is the
 * result a tombstone. One thread at a time (the office's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "office_internal.h"
#include "tk_attach.h"
#include "tk_body.h"
#include "tk_office_plugins.h"

typedef struct graph {
  tk_rev_meta_t *v;
  size_t n, cap;
} graph_t;

static int collect(void *ctx, const tk_rev_meta_t *m)
{
  graph_t *g = ctx;
  if (g->n == g->cap) {
    size_t cap = g->cap ? g->cap * 2 : 16;
    tk_rev_meta_t *v = realloc(g->v, cap * sizeof *v);
    if (!v) return TK_ENOMEM;
    g->v = v;
    g->cap = cap;
  }
  g->v[g->n++] = *m;
  return 0;
}

static long find(const graph_t *g, const uint8_t *id)
{
  for (size_t i = 0; i < g->n; i++)
    if (memcmp(g->v[i].id, id, TK_REV_ID_LEN) == 0) return (long)i;
  return -1;
}

/* Marks in mark[] every ancestor of revision i (itself included). */
static void mark_ancestors(const graph_t *g, size_t i, unsigned char *mark,
                           unsigned char bit)
{
  if (mark[i] & bit) return;
  mark[i] |= bit;
  for (uint32_t p = 0; p < g->v[i].nparents; p++) {
    long j = find(g, g->v[i].parents[p]);
    if (j >= 0) mark_ancestors(g, (size_t)j, mark, bit);
  }
}

/* The common ancestor of a and b with the highest generation, or -1. */
static long nearest_common(const graph_t *g, size_t a, size_t b)
{
  unsigned char *mark = calloc(g->n, 1);
  long best = -1;
  if (!mark) return -1;
  mark_ancestors(g, a, mark, 1);
  mark_ancestors(g, b, mark, 2);
  for (size_t i = 0; i < g->n; i++)
    if (mark[i] == 3 &&
        (best < 0 || tk_rev_winner_cmp(g->v[i].generation, g->v[i].id,
                                       g->v[best].generation, g->v[best].id) > 0))
      best = (long)i;
  free(mark);
  return best;
}

static int read_dump(tk_office_t *o, const uint8_t *id, tk_buf_t *out, tk_err_t *err)
{
  json_t *body = NULL;
  int rc = tk_office_read(o, id, &body, NULL, err);
  if (!rc) rc = tk_body_dump(body, out);
  json_decref(body);
  return rc;
}

/* Keeps in heads only the live ones (in order). None live: *out = a
 * tombstone; one: *out = its body; more: *out stays NULL (merge them). */
static int live_heads(tk_office_t *o, uint8_t (*heads)[TK_REV_ID_LEN], size_t *n,
                      json_t **out, tk_err_t *err)
{
  size_t live = 0;
  json_t *first = NULL;
  for (size_t i = 0; i < *n; i++) {
    json_t *b = NULL;
    int rc = tk_office_read(o, heads[i], &b, NULL, err);
    if (rc) {
      json_decref(first);
      return rc;
    }
    if (!tk_body_is_tombstone(b)) {
      if (live != i) memcpy(heads[live], heads[i], TK_REV_ID_LEN);
      if (live++ == 0) first = json_incref(b);
    }
    json_decref(b);
  }
  *n = live;
  if (live == 0) *out = tk_body_tombstone();
  if (live == 1) {
    *out = first;
    first = NULL;
  }
  json_decref(first);
  if (live <= 1 && !*out) return tk_err_set(err, TK_ENOMEM, "out of memory");
  return 0;
}

int tk_office_auto_merge(tk_office_t *o, tk_plugin_set_t *s,
                         const uint8_t record_id[TK_RECORD_ID_LEN], json_t **merged,
                         tk_err_t *err)
{
  graph_t g = {NULL, 0, 0};
  uint8_t(*heads)[TK_REV_ID_LEN] = NULL;
  tk_buf_t ours = TK_BUF_INIT, theirs = TK_BUF_INIT, base = TK_BUF_INIT,
           out = TK_BUF_INIT;
  tk_record_info_t ri;
  size_t nheads = 0;
  *merged = NULL;
  int rc = tk_store_record_info(tk_office_store(o), record_id, &ri, err);
  if (rc) goto done;
  heads = calloc(TK_MAX_PARENTS, TK_REV_ID_LEN);
  if (!heads) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory");
    goto done;
  }
  rc = tk_store_heads(tk_office_store(o), record_id, heads, TK_MAX_PARENTS, &nheads, err);
  if (rc < 0) goto done;
  rc = live_heads(o, heads, &nheads, merged, err);
  if (rc || *merged) goto done; /* one live head, or none: no merge() */
  const tk_plugin_decl_t *d = tk_plugin_set_find(s, TK_PLUGIN_TYPE, ri.type);
  if (!d || !d->has_merge) {
    rc = tk_err_set(err, TK_EPLUGIN,
                    "content type '%s' has no merge function; resolve by hand", ri.type);
    goto done;
  }
  rc = tk_store_history(tk_office_store(o), record_id, collect, &g, err);
  if (rc) goto done;
  /* ours starts as the winner; every other head is merged into it */
  rc = read_dump(o, heads[0], &ours, err);
  long acc = find(&g, heads[0]);
  for (size_t h = 1; !rc && h < nheads; h++) {
    long other = find(&g, heads[h]);
    long anc =
        acc >= 0 && other >= 0 ? nearest_common(&g, (size_t)acc, (size_t)other) : -1;
    theirs.n = base.n = out.n = 0;
    rc = read_dump(o, heads[h], &theirs, err);
    if (!rc && anc >= 0) rc = read_dump(o, g.v[anc].id, &base, err);
    if (rc) break;
    rc = tk_plugin_merge(
        s, ri.type, anc >= 0 ? TK_SLICE(base.p, base.n) : TK_SLICE(NULL, 0),
        TK_SLICE(ours.p, ours.n), TK_SLICE(theirs.p, theirs.n), &out, err);
    if (rc) break;
    ours.n = 0;
    rc = tk_buf_append(&ours, out.p, out.n);
  }
  if (rc) goto done;
  rc = tk_body_parse(merged, TK_SLICE(ours.p, ours.n), "merge result", err);
  if (!rc) {
    rc = tk_office_validate(s, ri.type, *merged, err);
    if (rc == TK_EINVAL)
      tk_err_set(err, rc, "the merged record is not a valid %s: %s", ri.type, err->msg);
  }
  if (rc && *merged) {
    json_decref(*merged);
    *merged = NULL;
  }
done:
  tk_buf_wipe(&ours);
  tk_buf_wipe(&theirs);
  tk_buf_wipe(&base);
  tk_buf_wipe(&out);
  free(heads);
  free(g.v);
  return rc;
}

int tk_office_merge_preview(tk_office_t *o, const char *record, json_t **body,
                            char *declined, size_t cap, tk_err_t *err)
{
  uint8_t rec[TK_RECORD_ID_LEN];
  tk_record_info_t ri;
  tk_plugin_set_t *s = NULL;
  json_t *merged = NULL;
  tk_err_t why;
  *body = NULL;
  if (cap) declined[0] = 0;
  int rc = tk_office_record_find(o, record, rec, err);
  if (!rc) rc = tk_store_record_info(tk_office_store(o), rec, &ri, err);
  if (!rc && ri.nheads < 2)
    rc = tk_err_set(err, TK_EINVAL, "record %s is not in conflict; use 'tunduk edit'",
                    record);
  if (!rc) rc = tk_office_need_keys(o, err);
  if (!rc) rc = tk__office_plugins(o, &s, err);
  if (rc) return rc;
  /* the same merge resolve --auto writes, here only shown */
  rc = tk_office_auto_merge(o, s, rec, &merged, &why);
  if (rc == TK_EPLUGIN || rc == TK_EINVAL) {
    if (cap) snprintf(declined, cap, "%s", why.msg);
    return 0;
  }
  if (rc) {
    if (err) *err = why;
    return rc;
  }
  /* what a reader sees: no attachment keys (resolve carries the heads'
   * attachments over by itself) */
  json_object_del(merged, TK_ATTACH_FIELD);
  *body = merged;
  return 0;
}
