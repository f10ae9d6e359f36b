/*
 * web_api.c: the JSON API under /api/ (README, "The web UI's API"): the
 * session, records, conflicts, quarantine, vaults and sync. Each handler
 * parses its request, calls the office API and hands back what it says;
 * the rules (validation, access, merges) are all the office's.
 */
#define _GNU_SOURCE
#include "web_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HEX_REC (2 * TK_RECORD_ID_LEN + 1)
#define HEX_REV (2 * TK_REV_ID_LEN + 1)
#define LIST_DEFAULT 200
#define LIST_MAX 1000

/* ---- the session ---------------------------------------------------------------------
 */

static enum MHD_Result session_get(web_t *w, web_req_t *r)
{
  return web_json(r, 200, web_session_json(w));
}

static enum MHD_Result unlock(web_t *w, web_req_t *r)
{
  enum MHD_Result ret;
  json_t *b = web_body(r, &ret);
  if (!b) return ret;
  json_t *p = json_object_get(b, "passphrase");
  tk_err_t err;
  int rc;
  if (!json_is_string(p) || !json_string_length(p)) {
    json_decref(b);
    return web_error(r, 400, "input", "field 'passphrase' is required", NULL);
  }
  if (!tk_office_locked(w->o)) {
    rc = 0;
  } else {
    rc = tk_office_unlock(w->o, json_string_value(p), json_string_length(p), &err);
  }
  explicit_bzero((char *)json_string_value(p), json_string_length(p));
  json_decref(b);
  if (rc == TK_EPASS)
    return web_error(r, 401, "passphrase", "wrong passphrase; the office stays locked",
                     NULL);
  if (rc) return web_fail(r, rc, &err, NULL);
  return web_json(r, 200, json_pack("{s:b}", "ok", 1));
}

static enum MHD_Result lock(web_t *w, web_req_t *r)
{
  /* the sync holds the device's keys until its end (the idle lock waits too) */
  if (w->sync)
    return web_error(r, 409, "busy",
                     "a sync is running; the office locks when it has ended", NULL);
  web_lock(w);
  return web_json(r, 200, json_pack("{s:b}", "ok", 1));
}

static enum MHD_Result settings(web_t *w, web_req_t *r)
{
  enum MHD_Result ret;
  json_t *b = web_body(r, &ret);
  if (!b) return ret;
  tk_err_t err;
  int rc = 0;
  const char *key;
  json_t *v;
  /* every value checked before one is written */
  static const char *const keys[][2] = {{"idle_minutes", "ui_idle_minutes"},
                                        {"language", "ui_language"},
                                        {"organisation", "organisation"}};
  json_object_foreach(b, key, v)
  {
    size_t i;
    for (i = 0; i < 3 && strcmp(key, keys[i][0]); i++)
      ;
    if (i == 3) {
      json_decref(b);
      char msg[200];
      snprintf(msg, sizeof msg,
               "unknown setting '%.64s' (known: idle_minutes, language, organisation)",
               key);
      return web_error(r, 400, "input", msg, NULL);
    }
  }
  for (size_t i = 0; !rc && i < 3; i++) {
    v = json_object_get(b, keys[i][0]);
    if (!v) continue;
    char val[300];
    if (json_is_integer(v))
      snprintf(val, sizeof val, "%lld", (long long)json_integer_value(v));
    else if (json_is_string(v))
      snprintf(val, sizeof val, "%s", json_string_value(v));
    else {
      json_decref(b);
      return web_error(r, 400, "input", "a setting's value is a string or a number",
                       NULL);
    }
    rc = tk_office_setting_set(w->o, keys[i][1], val, &err);
  }
  json_decref(b);
  if (rc) return web_fail(r, rc, &err, NULL);
  web_idle_load(w);
  return web_json(r, 200, web_session_json(w));
}

/* A record of the cache: its listing and its body without the engine's
 * fields (attachment keys), or NULL when it cannot be read here. */
struct web_entry {
  tk_office_listing_t l;
  json_t *body;
};
static int cache_fill(web_t *w, tk_err_t *err);

/* ---- status -------------------------------------------------------------------------
 */

static int count_conflict(void *ctx, const tk_office_conflict_t *c)
{
  (void)c;
  ++*(size_t *)ctx;
  return 0;
}

static json_t *sync_json(web_t *w)
{
  return json_pack("{s:b,s:O,s:O}", "running", w->sync != NULL, "progress",
                   w->sync_progress ? w->sync_progress : json_null(), "last",
                   w->sync_last ? w->sync_last : json_null());
}

static enum MHD_Result status(web_t *w, web_req_t *r)
{
  json_t *j = NULL, *q = NULL;
  tk_err_t err;
  size_t conflicts = 0, incomplete = 0;
  int rc = tk_office_status(w->o, &j, &err);
  if (!rc) rc = tk_office_conflicts(w->o, NULL, NULL, count_conflict, &conflicts, &err);
  if (!rc) rc = cache_fill(w, &err);
  for (size_t i = 0; !rc && i < w->nlist; i++)
    incomplete += w->list[i].l.incomplete && !w->list[i].l.deleted;
  if (!rc) rc = tk_office_quarantine_list(w->o, &q, &err);
  if (rc) {
    json_decref(j);
    return web_fail(r, rc, &err, NULL);
  }
  json_object_set_new(j, "conflicts", json_integer((json_int_t)conflicts));
  json_object_set_new(j, "incomplete", json_integer((json_int_t)incomplete));
  json_object_set_new(j, "quarantine", json_integer((json_int_t)json_array_size(q)));
  json_object_set_new(j, "sync", sync_json(w));
  json_decref(q);
  return web_json(r, 200, j);
}

/* ---- content types --------------------------------------------------------------------
 */

static enum MHD_Result types(web_t *w, web_req_t *r)
{
  json_t *names = NULL, *out = json_array(), *v;
  tk_err_t err;
  size_t i;
  int rc = tk_office_types(w->o, &names, &err);
  if (rc) {
    json_decref(out);
    return web_fail(r, rc, &err, NULL);
  }
  json_array_foreach(names, i, v)
  {
    json_t *f = NULL;
    if (tk_office_form_schema(w->o, json_string_value(v), &f, &err)) continue;
    json_t *labels = json_object_get(f, "labels");
    json_array_append_new(
        out, json_pack("{s:O,s:O,s:O}", "type", v, "label",
                       json_object_get(f, "label") ? json_object_get(f, "label") : v,
                       "labels", labels ? labels : json_null()));
    json_decref(f);
  }
  json_decref(names);
  return web_json(r, 200, out);
}

static enum MHD_Result type_get(web_t *w, web_req_t *r)
{
  json_t *f = NULL;
  tk_err_t err;
  int rc = tk_office_form_schema(w->o, r->seg[0], &f, &err);
  if (rc) return web_fail(r, rc, &err, NULL);
  return web_json(r, 200, f);
}

/* ---- the record list and its search ---------------------------------------------- */

void web_cache_drop(web_t *w)
{
  for (size_t i = 0; i < w->nlist; i++)
    json_decref(w->list[i].body);
  free(w->list);
  w->list = NULL;
  w->nlist = w->caplist = 0;
}

static int cache_one(void *ctx, const tk_office_listing_t *l)
{
  web_t *w = ctx;
  if (w->nlist == w->caplist) {
    size_t cap = w->caplist ? 2 * w->caplist : 1024;
    struct web_entry *v = realloc(w->list, cap * sizeof *v);
    if (!v) return TK_ENOMEM;
    w->list = v;
    w->caplist = cap;
  }
  struct web_entry *e = &w->list[w->nlist++];
  e->l = *l;
  e->l.body = NULL;
  e->body = l->body ? json_deep_copy(l->body) : NULL;
  if (e->body) json_object_del(e->body, "_attachments");
  return 0;
}

/* The cache, as the store is now. */
static int cache_fill(web_t *w, tk_err_t *err)
{
  uint64_t v = tk_office_data_version(w->o);
  if (w->list && v == w->list_version) return 0;
  web_cache_drop(w);
  int rc = tk_office_list(w->o, NULL, NULL, 1, cache_one, w, err);
  if (rc) {
    web_cache_drop(w);
    return rc == TK_ENOMEM ? tk_err_set(err, rc, "out of memory") : rc;
  }
  w->list_version = v;
  return 0;
}

/* Whether needle (lower case ASCII folded, UTF-8 otherwise as is) is in
 * any string of v. */
static int contains(const json_t *v, const char *needle)
{
  size_t i;
  const char *k;
  json_t *x;
  switch (json_typeof(v)) {
  case JSON_STRING:
    return strcasestr(json_string_value(v), needle) != NULL;
  case JSON_ARRAY:
    json_array_foreach(v, i, x) if (contains(x, needle)) return 1;
    return 0;
  case JSON_OBJECT:
    json_object_foreach((json_t *)v, k, x)
    {
      if (k[0] == '_') continue; /* the engine's own fields */
      if (contains(x, needle)) return 1;
    }
    return 0;
  case JSON_INTEGER: {
    char s[32];
    snprintf(s, sizeof s, "%lld", (long long)json_integer_value(v));
    return strstr(s, needle) != NULL;
  }
  default:
    return 0;
  }
}

/* Whether the field's value equals want (a string, or an item of a list). */
static int field_is(const json_t *v, const char *want)
{
  size_t i;
  json_t *x;
  if (json_is_string(v)) return !strcmp(json_string_value(v), want);
  if (json_is_boolean(v)) return !strcmp(want, json_is_true(v) ? "true" : "false");
  if (json_is_integer(v)) {
    char s[32];
    snprintf(s, sizeof s, "%lld", (long long)json_integer_value(v));
    return !strcmp(s, want);
  }
  if (json_is_array(v)) json_array_foreach(v, i, x) if (field_is(x, want)) return 1;
  return 0;
}

#define MAX_FILTERS 16
typedef struct list_ctx {
  web_t *w;
  const char *type, *vault, *state, *q;
  int all;
  size_t nf;
  const char *fk[MAX_FILTERS], *fv[MAX_FILTERS];
  size_t offset, limit, total;
  json_t *out;
  json_t *ids;    /* export: the ids that match */
  json_t *unsent; /* state=unsent: {record id: true} for the records not at the hub */
} list_ctx_t;

static enum MHD_Result f_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                             const char *value)
{
  list_ctx_t *c = cls;
  (void)kind;
  if (!strncmp(key, "f.", 2) && key[2] && value && c->nf < MAX_FILTERS) {
    c->fk[c->nf] = key + 2;
    c->fv[c->nf++] = value;
  }
  return MHD_YES;
}

/* The scalar fields of a body (the list's columns and filters). */
static json_t *row_fields(const json_t *b)
{
  json_t *f = json_object(), *v;
  const char *k;
  json_object_foreach((json_t *)b, k, v)
  {
    if (k[0] == '_') continue;
    if (json_is_string(v) && json_string_length(v) <= 64)
      json_object_set(f, k, v);
    else if (json_is_integer(v) || json_is_boolean(v))
      json_object_set(f, k, v);
  }
  return f;
}

static void list_one(list_ctx_t *c, const struct web_entry *e)
{
  const tk_office_listing_t *l = &e->l;
  const char *st = c->state;
  if (c->type && strcmp(l->type, c->type) != 0) return;
  if (c->vault && strcmp(l->vault, c->vault) != 0) return;
  if (l->deleted && !c->all) return;
  if (st && *st) {
    if (!strcmp(st, "conflict") && l->nheads < 2) return;
    if (!strcmp(st, "incomplete") && !l->incomplete) return;
    if (!strcmp(st, "deleted") && !l->deleted) return;
    if (!strcmp(st, "refused") && !l->refused) return;
    if (!strcmp(st, "unsent") && !json_object_get(c->unsent, l->id)) return;
  }
  const json_t *body = e->body;
  if (c->nf && !body) return;
  for (size_t i = 0; i < c->nf; i++)
    if (!field_is(json_object_get(body, c->fk[i]), c->fv[i])) return;
  if (c->q && *c->q && !strcasestr(l->summary, c->q) && !strcasestr(l->id, c->q) &&
      !(body && contains(body, c->q)))
    return;
  if (c->ids) {
    json_array_append_new(c->ids, json_string(l->id));
    return;
  }
  c->total++;
  if (c->total <= c->offset || json_array_size(c->out) >= c->limit) return;
  json_t *row = json_pack(
      "{s:s,s:s,s:s,s:I,s:I,s:b,s:b,s:b,s:I,s:s,s:s}", "id", l->id, "type", l->type,
      "vault", l->vault, "time", (json_int_t)l->hlc, "nheads", (json_int_t)l->nheads,
      "deleted", l->deleted, "readable", l->readable, "incomplete", l->incomplete,
      "refused", (json_int_t)l->refused, "summary", l->summary, "winner", l->winner);
  if (row && body) json_object_set_new(row, "fields", row_fields(body));
  json_array_append_new(c->out, row);
}

/* The cache through list_one, newest first (the office's order). */
static int unsent_one(void *ctx, const char *record)
{
  return json_object_set_new(ctx, record, json_true()) ? TK_ENOMEM : 0;
}

static int list_run(web_t *w, list_ctx_t *c, tk_err_t *err)
{
  int rc = cache_fill(w, err);
  if (!rc && c->state && !strcmp(c->state, "unsent")) {
    /* asked each time: a sync moves the push checkpoint, not the data version */
    c->unsent = json_object();
    rc = c->unsent ? tk_office_unsent_records(w->o, unsent_one, c->unsent, err)
                   : TK_ENOMEM;
    if (rc == TK_ENOMEM) tk_err_set(err, rc, "out of memory");
  }
  for (size_t i = 0; !rc && i < w->nlist; i++)
    list_one(c, &w->list[i]);
  json_decref(c->unsent);
  c->unsent = NULL;
  return rc;
}

/* The list's filters from the query (also GET /api/export's). */
/* s as a whole number 0..max: 0, or -1. */
static int number_arg(const char *s, unsigned long max, size_t *out)
{
  char *end;
  if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 10) return -1;
  unsigned long v = strtoul(s, &end, 10);
  if (v > max) return -1;
  *out = v;
  return 0;
}

static int list_query(web_t *w, web_req_t *r, list_ctx_t *c)
{
  memset(c, 0, sizeof *c);
  c->w = w;
  c->type = web_arg(r, "type");
  c->vault = web_arg(r, "vault");
  if (c->type && !*c->type) c->type = NULL;
  if (c->vault && !*c->vault) c->vault = NULL;
  c->state = web_arg(r, "state");
  c->q = web_arg(r, "q");
  c->all = c->state && (!strcmp(c->state, "all") || !strcmp(c->state, "deleted"));
  MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, f_arg, c);
  const char *off = web_arg(r, "offset"), *lim = web_arg(r, "limit");
  c->offset = 0;
  c->limit = LIST_DEFAULT;
  if ((off && number_arg(off, 1000000000ul, &c->offset)) ||
      (lim && (number_arg(lim, LIST_MAX, &c->limit) || !c->limit)))
    return -2;
  static const char *const states[] = {"all",     "conflict", "incomplete", "deleted",
                                       "refused", "live",     "unsent"};
  if (c->state && *c->state) {
    size_t i;
    for (i = 0; i < sizeof states / sizeof *states && strcmp(c->state, states[i]); i++)
      ;
    if (i == sizeof states / sizeof *states) return -1;
  }
  return 0;
}

static enum MHD_Result records_list(web_t *w, web_req_t *r)
{
  list_ctx_t c;
  tk_err_t err;
  int q = list_query(w, r, &c);
  if (q == -2)
    return web_error(r, 400, "input",
                     "offset is a whole number, limit one from 1 to 1000", NULL);
  if (q)
    return web_error(r, 400, "input",
                     "state is one of: all, live, unsent, conflict, incomplete, deleted, "
                     "refused",
                     NULL);
  c.out = json_array();
  int rc = list_run(w, &c, &err);
  if (rc) {
    json_decref(c.out);
    return web_fail(r, rc, &err, NULL);
  }
  return web_json(r, 200,
                  json_pack("{s:I,s:I,s:o}", "total", (json_int_t)c.total, "offset",
                            (json_int_t)c.offset, "records", c.out));
}

/* The ids GET /api/export writes (the list's filters); *type its type filter. */
json_t *web_list_ids(web_t *w, web_req_t *r, const char **type, tk_err_t *err, int *rc)
{
  list_ctx_t c;
  if (list_query(w, r, &c)) {
    *rc = tk_err_set(err, TK_EINVAL, "state is not one the list knows");
    return NULL;
  }
  *type = c.type;
  c.ids = json_array();
  *rc = list_run(w, &c, err);
  if (*rc) {
    json_decref(c.ids);
    return NULL;
  }
  return c.ids;
}

/* ---- one record ------------------------------------------------------------------ */

static enum MHD_Result check(web_t *w, web_req_t *r)
{
  enum MHD_Result ret;
  json_t *b = web_body(r, &ret);
  if (!b) return ret;
  const char *type = json_string_value(json_object_get(b, "type"));
  json_t *body = json_object_get(b, "body");
  tk_office_problems_t pr;
  tk_err_t err;
  memset(&pr, 0, sizeof pr);
  if (!type || !json_is_object(body)) {
    json_decref(b);
    return web_error(r, 400, "input", "give 'type' (a string) and 'body' (an object)",
                     NULL);
  }
  int rc = tk_office_check(w->o, type, body, &pr, &err);
  json_decref(b);
  if (rc && !(rc == TK_EINVAL && pr.n)) return web_fail(r, rc, &err, NULL);
  json_t *arr = json_array();
  for (size_t i = 0; i < pr.n && i < TK_OFFICE_MAX_PROBLEMS; i++)
    json_array_append_new(
        arr, json_pack("{s:s,s:s}", "field", pr.v[i].field, "message", pr.v[i].message));
  return web_json(r, 200, json_pack("{s:o}", "problems", arr));
}

/* The record body of a write request: {body: {...}} (borrowed from b). */
static json_t *write_body(web_req_t *r, json_t *b, enum MHD_Result *ret)
{
  json_t *body = json_object_get(b, "body");
  if (!json_is_object(body)) {
    *ret = web_error(r, 400, "input", "field 'body' (the record, an object) is required",
                     NULL);
    return NULL;
  }
  return body;
}

static enum MHD_Result record_new(web_t *w, web_req_t *r)
{
  enum MHD_Result ret;
  json_t *b = web_body(r, &ret), *body;
  if (!b) return ret;
  const char *type = json_string_value(json_object_get(b, "type"));
  const char *vault = json_string_value(json_object_get(b, "vault"));
  if (!type || !vault) {
    json_decref(b);
    return web_error(r, 400, "input", "give 'type' and 'vault' (strings) and 'body'",
                     NULL);
  }
  if (!(body = write_body(r, b, &ret))) {
    json_decref(b);
    return ret;
  }
  tk_office_problems_t pr;
  tk_err_t err;
  char rec[HEX_REC], rev[HEX_REV];
  memset(&pr, 0, sizeof pr);
  int rc = tk_office_record_new_rev(w->o, type, vault, body, &pr, rec, rev, &err);
  json_decref(b);
  if (rc) return web_fail(r, rc, &err, &pr);
  return web_json(r, 201, json_pack("{s:s,s:s}", "record", rec, "revision", rev));
}

static enum MHD_Result record_get(web_t *w, web_req_t *r)
{
  tk_office_view_t v;
  tk_err_t err;
  memset(&v, 0, sizeof v);
  int rc = tk_office_record_show(w->o, r->seg[0], web_arg(r, "rev"), &v, &err);
  if (rc) return web_fail(r, rc, &err, NULL);
  json_t *form = NULL;
  const char *type = json_string_value(json_object_get(v.meta, "type"));
  if (type && tk_office_form_schema(w->o, type, &form, &err)) form = NULL;
  json_t *j =
      json_pack("{s:O,s:O,s:O,s:O,s:I,s:b,s:I,s:I,s:I,s:b,s:o}", "body",
                v.body ? v.body : json_null(), "attachments", v.attachments, "meta",
                v.meta, "heads", v.heads, "nheads", (json_int_t)v.nheads, "deleted",
                v.deleted, "chunks_missing", (json_int_t)v.chunks_missing, "chunks_total",
                (json_int_t)v.chunks_total, "refused", (json_int_t)v.refused,
                "not_winner", v.not_winner, "form", form ? form : json_null());
  tk_office_view_free(&v);
  return web_json(r, 200, j);
}

typedef int (*edit_fn)(tk_office_t *, const char *, const json_t *,
                       tk_office_problems_t *, char *, uint32_t *, tk_err_t *);

static enum MHD_Result edit_with(web_t *w, web_req_t *r, edit_fn fn)
{
  enum MHD_Result ret;
  json_t *b = web_body(r, &ret), *body;
  if (!b) return ret;
  if (!(body = write_body(r, b, &ret))) {
    json_decref(b);
    return ret;
  }
  tk_office_problems_t pr;
  tk_err_t err;
  char rev[HEX_REV];
  uint32_t nheads = 0;
  memset(&pr, 0, sizeof pr);
  int rc = fn(w->o, r->seg[0], body, &pr, rev, &nheads, &err);
  json_decref(b);
  if (rc) return web_fail(r, rc, &err, &pr);
  return web_json(r, 200,
                  json_pack("{s:s,s:I}", "revision", rev, "nheads", (json_int_t)nheads));
}

static enum MHD_Result record_edit(web_t *w, web_req_t *r)
{
  return edit_with(w, r, tk_office_record_edit);
}

static enum MHD_Result record_undelete(web_t *w, web_req_t *r)
{
  return edit_with(w, r, tk_office_record_undelete);
}

static enum MHD_Result record_delete(web_t *w, web_req_t *r)
{
  tk_err_t err;
  char rev[HEX_REV];
  uint32_t nheads = 0;
  int rc = tk_office_record_delete(w->o, r->seg[0], rev, &nheads, &err);
  if (rc) return web_fail(r, rc, &err, NULL);
  return web_json(r, 200, json_pack("{s:s}", "revision", rev));
}

static int history_one(void *ctx, const tk_office_history_entry_t *h)
{
  json_t *e = json_deep_copy(h->meta);
  if (!e) return TK_ENOMEM;
  json_object_set_new(e, "author_name", json_string(h->author_name));
  json_object_set_new(e, "author_known", json_boolean(h->author_known));
  json_object_set(e, "time_ms", json_object_get(h->meta, "hlc"));
  return json_array_append_new(ctx, e) ? TK_ENOMEM : 0;
}

static enum MHD_Result history(web_t *w, web_req_t *r)
{
  json_t *arr = json_array();
  tk_err_t err;
  int rc = tk_office_history(w->o, r->seg[0], history_one, arr, &err);
  if (rc) {
    json_decref(arr);
    return web_fail(r, rc, &err, NULL);
  }
  return web_json(r, 200, arr);
}

/* The author's name of a revision's meta, from the record's history. */
static const char *name_in(const json_t *hist, const char *rev)
{
  size_t i;
  json_t *e;
  json_array_foreach(hist, i, e)
  {
    if (!strcmp(json_string_value(json_object_get(e, "revision")), rev))
      return json_string_value(json_object_get(e, "author_name"));
  }
  return "";
}

static enum MHD_Result heads(web_t *w, web_req_t *r)
{
  tk_office_view_t v;
  tk_err_t err;
  memset(&v, 0, sizeof v);
  int rc = tk_office_record_show(w->o, r->seg[0], NULL, &v, &err);
  if (rc) return web_fail(r, rc, &err, NULL);
  json_t *hist = json_array(), *out = json_array(), *h;
  size_t i;
  rc = tk_office_history(w->o, r->seg[0], history_one, hist, &err);
  json_array_foreach(v.heads, i, h)
  {
    if (rc) break;
    tk_office_view_t hv;
    memset(&hv, 0, sizeof hv);
    rc = tk_office_record_show(w->o, r->seg[0], json_string_value(h), &hv, &err);
    if (rc) break;
    json_array_append_new(out, json_pack("{s:O,s:O,s:O,s:b,s:s}", "revision", h, "body",
                                         hv.body ? hv.body : json_null(), "meta", hv.meta,
                                         "deleted", hv.deleted, "author_name",
                                         name_in(hist, json_string_value(h))));
    tk_office_view_free(&hv);
  }
  tk_office_view_free(&v);
  json_decref(hist);
  if (rc) {
    json_decref(out);
    return web_fail(r, rc, &err, NULL);
  }
  return web_json(r, 200, out);
}

static enum MHD_Result resolve(web_t *w, web_req_t *r)
{
  enum MHD_Result ret;
  json_t *b = web_body(r, &ret);
  if (!b) return ret;
  json_t *body = json_object_get(b, "body");
  int autom = json_is_true(json_object_get(b, "auto"));
  if (!autom && !json_is_object(body)) {
    json_decref(b);
    return web_error(r, 400, "input", "give 'body' (the merged record) or 'auto': true",
                     NULL);
  }
  tk_office_problems_t pr;
  tk_err_t err;
  char rev[HEX_REV];
  memset(&pr, 0, sizeof pr);
  int rc = tk_office_record_resolve(w->o, r->seg[0], autom ? NULL : body, &pr, rev, &err);
  json_decref(b);
  if (rc) return web_fail(r, rc, &err, &pr);
  return web_json(r, 200, json_pack("{s:s}", "revision", rev));
}

static enum MHD_Result merge_preview(web_t *w, web_req_t *r)
{
  json_t *body = NULL;
  char declined[300] = "";
  tk_err_t err;
  int rc =
      tk_office_merge_preview(w->o, r->seg[0], &body, declined, sizeof declined, &err);
  if (rc) return web_fail(r, rc, &err, NULL);
  if (!body)
    return web_json(r, 200, json_pack("{s:b,s:s}", "available", 0, "declined", declined));
  return web_json(r, 200, json_pack("{s:b,s:o}", "available", 1, "body", body));
}

/* ---- conflicts, quarantine ------------------------------------------------------- */

typedef struct conflicts_ctx {
  web_t *w;
  json_t *out;
} conflicts_ctx_t;

static int conflict_one(void *ctx, const tk_office_conflict_t *c)
{
  conflicts_ctx_t *cc = ctx;
  json_t *e = json_pack("{s:s,s:s,s:s,s:s,s:O,s:I}", "id", c->id, "type", c->type,
                        "vault", c->vault, "winner", c->winner, "heads", c->heads,
                        "nheads", (json_int_t)c->nheads);
  return json_array_append_new(cc->out, e) ? TK_ENOMEM : 0;
}

static enum MHD_Result conflicts(web_t *w, web_req_t *r)
{
  conflicts_ctx_t cc = {w, json_array()};
  tk_err_t err;
  int rc = tk_office_conflicts(w->o, NULL, NULL, conflict_one, &cc, &err);
  size_t i;
  json_t *c;
  /* their summaries, from the list */
  if (!rc && json_array_size(cc.out)) rc = cache_fill(w, &err);
  json_array_foreach(cc.out, i, c)
  {
    for (size_t k = 0; !rc && k < w->nlist; k++)
      if (!strcmp(w->list[k].l.id, json_string_value(json_object_get(c, "id"))))
        json_object_set_new(c, "summary", json_string(w->list[k].l.summary));
  }
  if (rc) {
    json_decref(cc.out);
    return web_fail(r, rc, &err, NULL);
  }
  return web_json(r, 200, cc.out);
}

static enum MHD_Result quarantine(web_t *w, web_req_t *r)
{
  json_t *q = NULL;
  tk_err_t err;
  int rc = tk_office_quarantine_list(w->o, &q, &err);
  if (rc) return web_fail(r, rc, &err, NULL);
  return web_json(r, 200, q);
}

static enum MHD_Result quarantine_act(web_t *w, web_req_t *r, int release)
{
  tk_err_t err;
  char rev[HEX_REV];
  int rc = release ? tk_office_quarantine_release(w->o, r->seg[0], rev, &err)
                   : tk_office_quarantine_drop(w->o, r->seg[0], rev, &err);
  if (rc) return web_fail(r, rc, &err, NULL);
  web_cache_drop(w);
  return web_json(r, 200, json_pack("{s:s}", "revision", rev));
}

static enum MHD_Result q_release(web_t *w, web_req_t *r)
{
  return quarantine_act(w, r, 1);
}
static enum MHD_Result q_drop(web_t *w, web_req_t *r)
{
  return quarantine_act(w, r, 0);
}

/* ---- vaults, devices ------------------------------------------------------------- */

static enum MHD_Result vaults(web_t *w, web_req_t *r)
{
  json_t *v = NULL;
  tk_err_t err;
  int rc = tk_office_vaults(w->o, &v, &err);
  if (rc) return web_fail(r, rc, &err, NULL);
  return web_json(r, 200, v);
}

static enum MHD_Result vault_new(web_t *w, web_req_t *r)
{
  enum MHD_Result ret;
  json_t *b = web_body(r, &ret);
  if (!b) return ret;
  const char *name = json_string_value(json_object_get(b, "name"));
  tk_err_t err;
  int rc =
      name ? tk_office_name_check("vault", name, &err)
           : tk_err_set(&err, TK_EINVAL, "field 'name' (the vault's name) is required");
  if (!rc) rc = tk_office_vault_create(w->o, name, &err);
  json_decref(b);
  if (rc) return web_fail(r, rc, &err, NULL);
  return web_json(r, 201, json_pack("{s:b}", "ok", 1));
}

static enum MHD_Result vault_grant(web_t *w, web_req_t *r)
{
  enum MHD_Result ret;
  json_t *b = web_body(r, &ret);
  if (!b) return ret;
  const char *dev = json_string_value(json_object_get(b, "device"));
  int reader = json_is_true(json_object_get(b, "reader"));
  tk_err_t err;
  int rc = dev ? tk_office_device_id_check(dev, &err)
               : tk_err_set(&err, TK_EINVAL, "field 'device' (a device id) is required");
  if (!rc) rc = tk_office_grant(w->o, r->seg[0], dev, reader, &err);
  json_decref(b);
  if (rc) return web_fail(r, rc, &err, NULL);
  return web_json(r, 200, json_pack("{s:b}", "ok", 1));
}

static enum MHD_Result devices(web_t *w, web_req_t *r)
{
  json_t *d = NULL;
  tk_err_t err;
  int rc = tk_office_devices(w->o, &d, &err);
  if (rc) return web_fail(r, rc, &err, NULL);
  return web_json(r, 200, d);
}

/* ---- sync ------------------------------------------------------------------------ */

static json_t *progress_json(const tk_office_sync_result_t *s)
{
  return json_pack(
      "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "sent", (json_int_t)s->sent, "received",
      (json_int_t)s->received, "chunks_sent", (json_int_t)s->chunks_sent,
      "chunks_received", (json_int_t)s->chunks_received, "chunk_bytes_out",
      (json_int_t)s->chunk_bytes_out, "chunk_bytes_in", (json_int_t)s->chunk_bytes_in,
      "bytes_out", (json_int_t)s->bytes_out, "bytes_in", (json_int_t)s->bytes_in);
}

static void sync_progress(void *ctx, const tk_office_sync_result_t *s)
{
  web_t *w = ctx;
  json_decref(w->sync_progress);
  w->sync_progress = progress_json(s);
}

/* The outcome of a sync in words, for a person (the page shows it as is;
 * the counts are in result). */
static void sync_words(char *out, size_t cap, int rc, const tk_office_sync_result_t *s,
                       const tk_err_t *err)
{
  if (rc) {
    snprintf(out, cap,
             "The sync did not finish: %s. What arrived before is kept; the next "
             "sync goes on from there.",
             tk_err_str(err));
    return;
  }
  size_t stranded = tk_office_sync_stranded(s);
  int k = snprintf(out, cap, "Sent %llu, received %llu record changes",
                   (unsigned long long)s->sent, (unsigned long long)s->received);
  if (k > 0 && (size_t)k < cap && (s->chunks_sent || s->chunks_received))
    k += snprintf(out + k, cap - (size_t)k, "; files: %llu parts sent, %llu received",
                  (unsigned long long)s->chunks_sent,
                  (unsigned long long)s->chunks_received);
  if (k > 0 && (size_t)k < cap && s->conflicts_after)
    k += snprintf(out + k, cap - (size_t)k, "; %u records in conflict",
                  s->conflicts_after);
  if (k > 0 && (size_t)k < cap && stranded)
    k += snprintf(out + k, cap - (size_t)k,
                  "; %zu of this office's changes did not reach the hub (see Home)",
                  stranded);
  if (k > 0 && (size_t)k < cap) snprintf(out + k, cap - (size_t)k, ".");
}

static void sync_ended(void *ctx, int rc, const tk_office_sync_result_t *s,
                       const tk_err_t *err)
{
  web_t *w = ctx;
  char words[700];
  sync_words(words, sizeof words, rc, s, err);
  json_decref(w->sync_last);
  w->sync_last = json_pack("{s:b,s:I,s:s,s:o}", "ok", rc == 0, "at",
                           (json_int_t)time(NULL), "message", words, "result",
                           rc ? json_pack("{s:s}", "error", tk_err_str(err))
                              : tk_office_sync_result_json(s));
  if (!rc) {
    json_decref(w->sync_progress);
    w->sync_progress = progress_json(s);
  }
  w->sync = NULL;
  web_cache_drop(w);
  if (w->stopping) uv_stop(w->loop);
}

static enum MHD_Result sync_start(web_t *w, web_req_t *r)
{
  tk_office_sync_opts_t opts;
  tk_err_t err;
  if (w->sync) return web_error(r, 409, "busy", "a sync is running already", NULL);
  memset(&opts, 0, sizeof opts);
  opts.progress = sync_progress;
  opts.progress_ctx = w;
  json_decref(w->sync_progress);
  w->sync_progress =
      json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "sent", 0, "received", 0,
                "chunks_sent", 0, "chunks_received", 0, "chunk_bytes_out", 0,
                "chunk_bytes_in", 0, "bytes_out", 0, "bytes_in", 0);
  int rc = tk_office_sync_start(w->o, w->loop, &opts, sync_ended, w, &w->sync, &err);
  if (rc) return web_fail(r, rc, &err, NULL);
  return web_json(r, 202, json_pack("{s:b}", "started", 1));
}

static enum MHD_Result sync_get(web_t *w, web_req_t *r)
{
  return web_json(r, 200, sync_json(w));
}

/* ---- the table ------------------------------------------------------------------- */

#define K WEB_KEYS
#define W (WEB_KEYS | WEB_WRITE)
const web_route_t web_routes[] = {
    {"GET", "/api/session", WEB_QUIET, session_get, NULL, NULL},
    {"POST", "/api/unlock", 0, unlock, NULL, NULL},
    {"POST", "/api/lock", 0, lock, NULL, NULL},
    {"POST", "/api/settings", 0, settings, NULL, NULL},
    {"GET", "/api/status", K, status, NULL, NULL},
    {"GET", "/api/types", K, types, NULL, NULL},
    {"GET", "/api/types/*", K, type_get, NULL, NULL},
    {"GET", "/api/records", K, records_list, NULL, NULL},
    {"POST", "/api/check", K, check, NULL, NULL},
    {"POST", "/api/records", W, record_new, NULL, NULL},
    {"GET", "/api/records/*", K, record_get, NULL, NULL},
    {"PUT", "/api/records/*", W, record_edit, NULL, NULL},
    {"POST", "/api/records/*/delete", W, record_delete, NULL, NULL},
    {"POST", "/api/records/*/undelete", W, record_undelete, NULL, NULL},
    {"GET", "/api/records/*/history", K, history, NULL, NULL},
    {"GET", "/api/records/*/heads", K, heads, NULL, NULL},
    {"GET", "/api/records/*/merge", K, merge_preview, NULL, NULL},
    {"POST", "/api/records/*/resolve", W, resolve, NULL, NULL},
    {"GET", "/api/records/*/attachments", K, web_attach_list, NULL, NULL},
    {"POST", "/api/records/*/attachments", W | WEB_STREAM, web_attach_put,
     web_attach_data, web_attach_abort},
    {"GET", "/api/records/*/attachments/*", K, web_attach_get, NULL, NULL},
    {"GET", "/api/conflicts", K, conflicts, NULL, NULL},
    {"GET", "/api/quarantine", K, quarantine, NULL, NULL},
    {"POST", "/api/quarantine/*/release", W, q_release, NULL, NULL},
    {"POST", "/api/quarantine/*/drop", W, q_drop, NULL, NULL},
    {"GET", "/api/vaults", K, vaults, NULL, NULL},
    {"POST", "/api/vaults", W, vault_new, NULL, NULL},
    {"POST", "/api/vaults/*/grant", W, vault_grant, NULL, NULL},
    {"GET", "/api/devices", K, devices, NULL, NULL},
    {"POST", "/api/sync", K, sync_start, NULL, NULL},
    {"GET", "/api/sync", WEB_QUIET, sync_get, NULL, NULL},
    {"GET", "/api/report", K, web_report, NULL, NULL},
    {"GET", "/api/export", K, web_export, NULL, NULL},
};
const size_t web_nroutes = sizeof web_routes / sizeof *web_routes;
