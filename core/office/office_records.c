/*
 * office_records.c: the record calls of the front ends' API (tk_office.h):
 * parsing input for writing, finding a record by id prefix, new / edit /
 * delete / resolve with every rule a front end must not repeat (names,
 * vault exists, validation, no tombstone by edit, attachments carried over,
 * already deleted, not in conflict), showing a record without its
 * attachment keys, listings with summaries, history with author names,
 * conflicts and the quarantine. Nothing is printed. One thread at a time,
 * as tk_office_t.
 */
#include "office_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tk_attach.h"
#include "tk_body.h"
#include "tk_office_plugins.h"

int tk_office_name_check(const char *kind, const char *name, tk_err_t *err)
{
  if (strcmp(kind, "attachment") == 0) return tk_attach_name_check(name, err);
  if (strcmp(kind, "vault") == 0)
    return tk_name_check("vault", name, TK_MAX_VAULT_LEN, 1, err);
  return tk_name_check(kind, name, TK_MAX_TYPE_LEN, 0, err);
}

void tk_office_time_format(char out[32], uint64_t ms)
{
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int tk_office_body_parse(const char *text, size_t len, const char *source, json_t **out,
                         tk_err_t *err)
{
  /* a UTF-8 byte order mark (what some Windows editors write first) */
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
    text += 3;
    len -= 3;
  }
  int rc = tk_body_parse(out, TK_SLICE(text, len), source, err);
  if (!rc && json_object_get(*out, TK_ATTACH_FIELD)) {
    json_decref(*out);
    *out = NULL;
    rc = tk_err_set(err, TK_EINVAL,
                    "%s: the field \"%s\" is kept by tunduk (use 'tunduk attach'); "
                    "remove it from the input",
                    strcmp(source, "-") == 0 ? "stdin" : source, TK_ATTACH_FIELD);
  }
  return rc;
}

int tk_office_record_find(tk_office_t *o, const char *record,
                          uint8_t id[TK_RECORD_ID_LEN], tk_err_t *err)
{
  int rc = tk_store_resolve_prefix(o->store, TK_ID_RECORD, record, id, err);
  if (rc == TK_ENOTFOUND) return tk_err_set(err, rc, "no record with id '%s'", record);
  if (rc == TK_EAMBIG)
    return tk_err_set(err, rc, "record id '%s' is ambiguous; give more digits", record);
  return rc;
}

int tk_office_record_new(tk_office_t *o, const char *type, const char *vault,
                         const json_t *body, tk_office_problems_t *problems,
                         char rec_hex[2 * TK_RECORD_ID_LEN + 1], tk_err_t *err)
{
  char rev_hex[2 * TK_REV_ID_LEN + 1];
  return tk_office_record_new_rev(o, type, vault, body, problems, rec_hex, rev_hex, err);
}

int tk_office_record_new_rev(tk_office_t *o, const char *type, const char *vault,
                             const json_t *body, tk_office_problems_t *problems,
                             char rec_hex[2 * TK_RECORD_ID_LEN + 1],
                             char rev_hex[2 * TK_REV_ID_LEN + 1], tk_err_t *err)
{
  uint8_t rec[TK_RECORD_ID_LEN], rev[TK_REV_ID_LEN];
  tk_vault_info_t vi;
  if (problems) problems->n = 0;
  int rc = tk_office_name_check("type", type, err);
  if (!rc && strcmp(type, TK_OFFICE_PLUGIN_SET_TYPE) == 0)
    rc = tk_err_set(err, TK_EINVAL,
                    "'%s' records are tunduk's own: use 'tunduk plugin publish'", type);
  if (!rc) {
    rc = tk_store_vault_get(o->store, vault, &vi, err);
    /* only records of it, no key: nothing to write with */
    if (rc == TK_ENOTFOUND && (rc = tk__office_vault_known(o, vault, err)) == 0)
      rc = tk_err_set(err, TK_ENOKEY, "this office holds no key for vault '%s'", vault);
  }
  if (!rc && tk_body_is_tombstone(body))
    rc = tk_err_set(err, TK_EINVAL, "a new record cannot be a tombstone (\"_deleted\")");
  if (!rc) rc = tk_office_check(o, type, body, problems, err);
  if (!rc) rc = tk_office_need_keys(o, err);
  if (!rc) rc = tk_office_new(o, type, vault, body, rec, rev, err);
  if (!rc) {
    tk_hex_encode(rec_hex, rec, TK_RECORD_ID_LEN);
    tk_hex_encode(rev_hex, rev, TK_REV_ID_LEN);
  }
  return rc;
}

/* Decrypts the winner of a record into *body. */
static int read_winner(tk_office_t *o, const uint8_t rec[TK_RECORD_ID_LEN], json_t **body,
                       tk_record_info_t *ri, tk_err_t *err)
{
  int rc = tk_store_record_info(o->store, rec, ri, err);
  return rc ? rc : tk_office_read(o, ri->winner, body, NULL, err);
}

static int is_hex_string(const json_t *v, size_t n)
{
  const char *s = json_string_value(v);
  if (!s || strlen(s) != n) return 0;
  for (size_t i = 0; i < n; i++)
    if (!strchr("0123456789abcdef", s[i])) return 0;
  return 1;
}

/* What 'tunduk show ID --json' prints ({revision, record, type, vault,
 * heads, body, ...}): *out = its body when it is that record's (else
 * TK_EINVAL naming the record it is of); *out = NULL when in is a plain
 * body. */
static int unwrap_show(const uint8_t rec[TK_RECORD_ID_LEN], const char *record,
                       const tk_record_info_t *ri, const json_t *in, json_t **out,
                       tk_err_t *err)
{
  json_t *body = json_object_get(in, "body");
  const json_t *of = json_object_get(in, "record");
  *out = NULL;
  if (!json_is_object(body) || !is_hex_string(of, 2 * TK_RECORD_ID_LEN) ||
      !is_hex_string(json_object_get(in, "revision"), 2 * TK_REV_ID_LEN) ||
      !json_is_string(json_object_get(in, "type")) ||
      !json_is_string(json_object_get(in, "vault")) ||
      !json_is_array(json_object_get(in, "heads")))
    return 0;
  char hex[2 * TK_RECORD_ID_LEN + 1];
  tk_hex_encode(hex, rec, TK_RECORD_ID_LEN);
  if (strcmp(hex, json_string_value(of)) != 0)
    return tk_err_set(err, TK_EINVAL,
                      "the input is 'tunduk show --json' output of record %s, not of "
                      "record %s; nothing written",
                      json_string_value(of), record);
  if (strcmp(ri->type, json_string_value(json_object_get(in, "type"))) != 0)
    return tk_err_set(err, TK_EINVAL,
                      "the input is 'tunduk show --json' output of a %s record; record "
                      "%s is a %s",
                      json_string_value(json_object_get(in, "type")), record, ri->type);
  if (json_object_get(body, TK_ATTACH_FIELD))
    return tk_err_set(err, TK_EINVAL,
                      "the input's body has the field \"%s\" kept by tunduk; remove it",
                      TK_ATTACH_FIELD);
  *out = json_incref(body);
  return 0;
}

/* edit (body) or delete (body NULL): a revision over the winner. An edit
 * is checked in two steps: what needs no keys first (declared fields,
 * validate), then, with the winner read, the fields the type does not
 * declare (allowed when the record already holds them). A deleted winner
 * (every head a tombstone) is edited only with undelete. */
static int write_over_winner(tk_office_t *o, const char *record, const json_t *in,
                             int undelete, tk_office_problems_t *problems,
                             char rev_hex[2 * TK_REV_ID_LEN + 1], uint32_t *nheads,
                             tk_err_t *err)
{
  uint8_t rec[TK_RECORD_ID_LEN], rev[TK_REV_ID_LEN];
  tk_record_info_t ri;
  json_t *cur = NULL, *body = NULL, *unwrapped = NULL;
  int deleting = in == NULL;
  if (problems) problems->n = 0;
  int rc = tk_office_record_find(o, record, rec, err);
  if (!rc && !deleting) rc = tk_store_record_info(o->store, rec, &ri, err);
  if (!rc && !deleting) rc = unwrap_show(rec, record, &ri, in, &unwrapped, err);
  if (unwrapped) in = unwrapped;
  if (!rc && !deleting && tk_body_is_tombstone(in))
    rc = tk_err_set(err, TK_EINVAL, "use 'tunduk delete' to delete a record");
  if (!rc && !deleting && strcmp(ri.type, TK_OFFICE_PLUGIN_SET_TYPE) == 0)
    rc = tk_err_set(err, TK_EINVAL,
                    "record %s is a plugin set: use 'tunduk plugin publish'", record);
  if (!rc && !deleting)
    rc = tk__office_check(o, ri.type, in, TK__CHECK_DECLARED, NULL, 0, problems, err);
  if (!rc) rc = tk_office_need_keys(o, err);
  if (!rc) rc = read_winner(o, rec, &cur, &ri, err);
  if (!rc && deleting && tk_body_is_tombstone(cur))
    rc = tk_err_set(err, TK_EEXIST, "record %s is already deleted", record);
  if (!rc && !deleting && tk_body_is_tombstone(cur) && !undelete)
    rc = tk_err_set(err, TK_EINVAL,
                    "record %s is deleted; 'tunduk edit --undelete %s' brings it back "
                    "with this body",
                    record, record);
  if (!rc && !deleting) {
    const json_t *have[1] = {cur};
    rc = tk__office_check(o, ri.type, in, TK__CHECK_UNKNOWN_ONLY, have, 1, problems, err);
  }
  if (!rc) {
    body = deleting ? tk_body_tombstone() : json_copy((json_t *)in);
    if (!body) rc = tk_err_set(err, TK_ENOMEM, "out of memory");
  }
  /* an edit keeps the record's attachments (the input cannot name them) */
  if (!rc && !deleting && json_object_get(cur, TK_ATTACH_FIELD))
    json_object_set(body, TK_ATTACH_FIELD, json_object_get(cur, TK_ATTACH_FIELD));
  if (!rc) rc = tk_office_update(o, rec, body, TK_PARENTS_WINNER, rev, err);
  if (!rc) {
    tk_hex_encode(rev_hex, rev, TK_REV_ID_LEN);
    if (nheads) *nheads = ri.nheads;
  }
  json_decref(cur);
  json_decref(body);
  json_decref(unwrapped);
  return rc;
}

int tk_office_record_edit(tk_office_t *o, const char *record, const json_t *body,
                          tk_office_problems_t *problems,
                          char rev_hex[2 * TK_REV_ID_LEN + 1], uint32_t *nheads,
                          tk_err_t *err)
{
  if (!body) return tk_err_set(err, TK_EINVAL, "no body for record %s", record);
  return write_over_winner(o, record, body, 0, problems, rev_hex, nheads, err);
}

int tk_office_record_undelete(tk_office_t *o, const char *record, const json_t *body,
                              tk_office_problems_t *problems,
                              char rev_hex[2 * TK_REV_ID_LEN + 1], uint32_t *nheads,
                              tk_err_t *err)
{
  if (!body) return tk_err_set(err, TK_EINVAL, "no body for record %s", record);
  return write_over_winner(o, record, body, 1, problems, rev_hex, nheads, err);
}

int tk_office_record_delete(tk_office_t *o, const char *record,
                            char rev_hex[2 * TK_REV_ID_LEN + 1], uint32_t *nheads,
                            tk_err_t *err)
{
  return write_over_winner(o, record, NULL, 0, NULL, rev_hex, nheads, err);
}

/* The keys of every head of rec into have[] (bodies the caller decrefs). */
static int heads_bodies(tk_office_t *o, const uint8_t rec[TK_RECORD_ID_LEN],
                        json_t **have, size_t *n, tk_err_t *err)
{
  uint8_t heads[TK_MAX_PARENTS][TK_REV_ID_LEN];
  *n = 0;
  int rc = tk_store_heads(o->store, rec, heads, TK_MAX_PARENTS, n, err);
  if (rc < 0) return rc;
  for (size_t i = 0; i < *n; i++)
    if (tk_office_read(o, heads[i], &have[i], NULL, err) != 0) have[i] = NULL;
  return 0;
}

int tk_office_record_resolve(tk_office_t *o, const char *record, const json_t *in,
                             tk_office_problems_t *problems,
                             char rev_hex[2 * TK_REV_ID_LEN + 1], tk_err_t *err)
{
  uint8_t rec[TK_RECORD_ID_LEN], rev[TK_REV_ID_LEN];
  tk_record_info_t ri;
  tk_plugin_set_t *s = NULL;
  json_t *body = NULL;
  if (problems) problems->n = 0;
  int rc = tk_office_record_find(o, record, rec, err);
  if (!rc) rc = tk_store_record_info(o->store, rec, &ri, err);
  if (!rc && ri.nheads < 2)
    rc = tk_err_set(err, TK_EINVAL, "record %s is not in conflict; use 'tunduk edit'",
                    record);
  /* a tombstone keeps the deletion: it has no fields to check */
  int content = in && !tk_body_is_tombstone(in);
  if (!rc && content)
    rc = tk__office_check(o, ri.type, in, TK__CHECK_DECLARED, NULL, 0, problems, err);
  if (!rc) rc = tk_office_need_keys(o, err);
  if (!rc && content) { /* fields a head holds may stay */
    json_t *have[TK_MAX_PARENTS];
    size_t nhave = 0;
    rc = heads_bodies(o, rec, have, &nhave, err);
    if (!rc)
      rc = tk__office_check(o, ri.type, in, TK__CHECK_UNKNOWN_ONLY,
                            (const json_t *const *)have, nhave, problems, err);
    for (size_t i = 0; i < nhave; i++)
      json_decref(have[i]);
  }
  if (!rc && !in) {
    rc = tk__office_plugins(o, &s, err);
    if (!rc) rc = tk_office_auto_merge(o, s, rec, &body, err);
    if (rc == TK_EPLUGIN) {
      char why[sizeof err->msg];
      snprintf(why, sizeof why, "%s", err->msg);
      tk_err_set(err, rc, "automatic merge declined: %s; resolve by hand", why);
    }
  }
  if (!rc) rc = tk_office_update(o, rec, in ? in : body, TK_PARENTS_ALL_HEADS, rev, err);
  if (!rc) tk_hex_encode(rev_hex, rev, TK_REV_ID_LEN);
  json_decref(body);
  return rc;
}

/* ---- reading ------------------------------------------------------------------ */

static json_t *hex_json(const uint8_t *p, size_t n)
{
  char hex[2 * TK_HASH_LEN + 1];
  tk_hex_encode(hex, p, n);
  return json_string(hex);
}

static json_t *device_json(const uint8_t id[TK_DEVICE_ID_LEN])
{
  char s[TK_DEVICE_ID_STRLEN];
  tk_device_id_format(s, id);
  return json_string(s);
}

json_t *tk_office_meta_json(const tk_rev_meta_t *m)
{
  char t[32];
  tk_office_time_format(t, m->hlc);
  json_t *parents = json_array();
  for (uint32_t i = 0; i < m->nparents; i++)
    json_array_append_new(parents, hex_json(m->parents[i], TK_REV_ID_LEN));
  return json_pack("{s:o,s:o,s:s,s:s,s:o,s:s,s:I,s:I,s:I,s:o}", "revision",
                   hex_json(m->id, TK_REV_ID_LEN), "record",
                   hex_json(m->record_id, TK_RECORD_ID_LEN), "type", m->type, "vault",
                   m->vault, "author", device_json(m->author), "time", t, "hlc",
                   (json_int_t)m->hlc, "generation", (json_int_t)m->generation, "seq",
                   (json_int_t)m->seq, "parents", parents);
}

void tk_office_view_free(tk_office_view_t *v)
{
  if (!v) return;
  json_decref(v->body);
  json_decref(v->attachments);
  json_decref(v->meta);
  json_decref(v->heads);
  memset(v, 0, sizeof *v);
}

/* rev is the revision prefix asked for: it must be one of rec's. */
static int find_rev(tk_office_t *o, const uint8_t rec[TK_RECORD_ID_LEN],
                    const char *record, const char *prefix, uint8_t rev[TK_REV_ID_LEN],
                    tk_err_t *err)
{
  tk_rev_meta_t meta;
  int rc = tk_store_resolve_prefix(o->store, TK_ID_REVISION, prefix, rev, err);
  if (rc == TK_ENOTFOUND) tk_err_set(err, rc, "no revision '%s'", prefix);
  if (!rc && tk_store_rev_meta(o->store, rev, &meta, err) == 0 &&
      memcmp(meta.record_id, rec, TK_RECORD_ID_LEN) != 0)
    rc = tk_err_set(err, TK_ENOTFOUND, "revision %s is not a revision of record %s",
                    prefix, record);
  return rc;
}

int tk_office_record_show(tk_office_t *o, const char *record, const char *prefix,
                          tk_office_view_t *v, tk_err_t *err)
{
  uint8_t rec[TK_RECORD_ID_LEN], rev[TK_REV_ID_LEN];
  uint8_t heads[TK_MAX_PARENTS][TK_REV_ID_LEN];
  tk_record_info_t ri;
  tk_rev_meta_t meta;
  memset(v, 0, sizeof *v);
  int rc = tk_office_record_find(o, record, rec, err);
  if (!rc) rc = tk_store_record_info(o->store, rec, &ri, err);
  if (!rc) rc = tk_office_current(o, rec, rev, &v->not_winner, &v->refused, err);
  if (!rc && prefix) rc = find_rev(o, rec, record, prefix, rev, err);
  if (!rc) {
    rc = tk_store_heads(o->store, rec, heads, TK_MAX_PARENTS, &v->nheads, err);
    if (rc > 0) rc = 0;
  }
  if (!rc) rc = tk_office_need_keys(o, err);
  if (!rc) rc = tk_office_read(o, rev, &v->body, &meta, err);
  if (rc) {
    tk_office_view_free(v);
    return rc;
  }
  v->attachments = tk_attach_public(v->body);
  if (!v->attachments) v->attachments = json_array();
  json_object_del(v->body, TK_ATTACH_FIELD); /* keys stay inside */
  if (tk_store_rev_chunks(o->store, rev, &v->chunks_missing, &v->chunks_total, NULL))
    v->chunks_missing = v->chunks_total = 0;
  v->deleted = tk_body_is_tombstone(v->body);
  v->meta = tk_office_meta_json(&meta);
  v->heads = json_array();
  for (size_t i = 0; i < v->nheads; i++)
    json_array_append_new(v->heads, hex_json(heads[i], TK_REV_ID_LEN));
  if (!v->meta || !v->heads || !v->attachments) {
    tk_office_view_free(v);
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  }
  return 0;
}

#define LIST_BATCH 256 /* records of a listing read before their summaries are made */

/* One record of a listing without its summary: 0 with *body (the
 * winner's, readable here, for the summary; NULL if not) or 1 to leave it
 * out (deleted), or a failure. */
static int listing(tk_office_t *o, const tk_record_info_t *r, int all,
                   tk_office_listing_t *l, json_t **bodyp, tk_err_t *err)
{
  json_t *body = NULL;
  *bodyp = NULL;
  int not_winner = 0;
  uint8_t cur[TK_REV_ID_LEN];
  uint32_t missing = 0, total = 0;
  tk_err_t e;
  memset(l, 0, sizeof *l);
  l->readable = 1;
  tk_hex_encode(l->id, r->id, TK_RECORD_ID_LEN);
  int rrc = tk_office_current(o, r->id, cur, &not_winner, &l->refused, &e);
  if (rrc == TK_EACCESS) { /* nothing of it counts: listed as such */
    memcpy(cur, r->winner, sizeof cur);
    l->refused++;
  } else if (rrc) {
    return tk_err_set(err, rrc, "record %s: %s", l->id, tk_err_str(&e));
  }
  l->refused += (uint32_t)not_winner;
  rrc = rrc == TK_EACCESS ? TK_EACCESS : tk_office_read(o, cur, &body, NULL, &e);
  if (rrc == TK_EACCESS) {
    l->readable = 0;
    snprintf(l->summary, sizeof l->summary, "(no revision of it counts: membership)");
  } else if (rrc == TK_ENOKEY || rrc == TK_ENOTFOUND) {
    l->readable = 0;
    snprintf(l->summary, sizeof l->summary, "(no key for vault %s)", r->vault);
  } else if (rrc) {
    return tk_err_set(err, rrc, "record %s: %s", l->id, tk_err_str(&e));
  } else {
    l->deleted = tk_body_is_tombstone(body);
  }
  if (l->deleted && !all) {
    json_decref(body);
    return 1;
  }
  int rc = tk_store_rev_chunks(o->store, cur, &missing, &total, err);
  if (rc) {
    json_decref(body);
    return rc;
  }
  *bodyp = body;
  l->incomplete = missing > 0;
  snprintf(l->type, sizeof l->type, "%s", r->type);
  snprintf(l->vault, sizeof l->vault, "%s", r->vault);
  l->hlc = r->winner_hlc;
  l->nheads = r->nheads;
  tk_hex_encode(l->winner, cur, TK_REV_ID_LEN);
  return 0;
}

uint64_t tk_office_data_version(tk_office_t *o)
{
  return tk_store_data_version(o->store);
}

int tk_office_list(tk_office_t *o, const char *type, const char *vault, int all,
                   int (*cb)(void *ctx, const tk_office_listing_t *l), void *ctx,
                   tk_err_t *err)
{
  tk_record_info_t *recs = NULL;
  size_t nrecs = 0;
  int rc = tk__office_type_known(o, type, err);
  if (!rc) rc = tk__office_vault_known(o, vault, err);
  if (!rc) rc = tk_office_need_keys(o, err);
  if (!rc) rc = tk_store_records_array(o->store, type, vault, 0, &recs, &nrecs, err);
  /* LIST_BATCH at a time, each content type's summaries in one request to
   * the plugin worker (a round trip per record made 10,000 take seconds) */
  tk_office_listing_t *ls = rc ? NULL : calloc(LIST_BATCH, sizeof *ls);
  json_t **bodies = ls ? calloc(LIST_BATCH, sizeof *bodies) : NULL;
  const json_t **group = bodies ? calloc(LIST_BATCH, sizeof *group) : NULL;
  char(*lines)[257] = group ? calloc(LIST_BATCH, sizeof *lines) : NULL;
  size_t *at = lines ? calloc(LIST_BATCH, sizeof *at) : NULL;
  if (!rc && !at) rc = tk_err_set(err, TK_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < nrecs;) {
    size_t n = 0;
    for (; !rc && i < nrecs && n < LIST_BATCH; i++) {
      rc = listing(o, &recs[i], all, &ls[n], &bodies[n], err);
      if (rc == 1)
        rc = 0;
      else if (!rc)
        n++;
    }
    /* the summaries, one content type at a time */
    for (size_t k = 0; !rc && k < n; k++) {
      if (!bodies[k]) continue;
      size_t g = 0;
      if (ls[k].body) continue; /* its type's summaries are made */
      for (size_t j = k; j < n; j++)
        if (bodies[j] && !strcmp(ls[j].type, ls[k].type)) {
          at[g] = j;
          group[g++] = bodies[j];
        }
      tk__office_summaries(o, ls[k].type, group, g, lines);
      for (size_t j = 0; j < g; j++) {
        memcpy(ls[at[j]].summary, lines[j], sizeof ls[at[j]].summary);
        ls[at[j]].body = bodies[at[j]];
      }
    }
    for (size_t k = 0; k < n; k++) {
      if (!rc) rc = cb(ctx, &ls[k]);
      json_decref(bodies[k]);
      bodies[k] = NULL;
    }
  }
  free(recs);
  free(ls);
  free(bodies);
  free(group);
  free(lines);
  free(at);
  return rc;
}

typedef struct history_ctx {
  tk_office_t *o;
  int (*cb)(void *ctx, const tk_office_history_entry_t *h);
  void *ctx;
} history_ctx_t;

static int history_one(void *ctx, const tk_rev_meta_t *m)
{
  history_ctx_t *h = ctx;
  tk_device_info_t d;
  json_t *meta = tk_office_meta_json(m);
  if (!meta) return TK_ENOMEM;
  tk_office_history_entry_t e = {meta, "", 0};
  if (tk_store_device_get(h->o->store, m->author, &d, NULL) == 0) {
    e.author_known = 1;
    e.author_name = d.name;
  }
  int rc = h->cb(h->ctx, &e);
  json_decref(meta);
  return rc;
}

int tk_office_history(tk_office_t *o, const char *record,
                      int (*cb)(void *ctx, const tk_office_history_entry_t *h), void *ctx,
                      tk_err_t *err)
{
  uint8_t rec[TK_RECORD_ID_LEN];
  history_ctx_t h = {o, cb, ctx};
  int rc = tk_office_record_find(o, record, rec, err);
  return rc ? rc : tk_store_history(o->store, rec, history_one, &h, err);
}

typedef struct conflicts_ctx {
  tk_office_t *o;
  int (*cb)(void *ctx, const tk_office_conflict_t *c);
  void *ctx;
  tk_err_t *err;
} conflicts_ctx_t;

static int conflict_one(void *ctx, const tk_record_info_t *r)
{
  conflicts_ctx_t *l = ctx;
  uint8_t heads[TK_MAX_PARENTS][TK_REV_ID_LEN];
  size_t n = 0;
  char id[2 * TK_RECORD_ID_LEN + 1], rev[2 * TK_REV_ID_LEN + 1];
  int total = tk_store_heads(l->o->store, r->id, heads, TK_MAX_PARENTS, &n, l->err);
  if (total < 0) return total;
  tk_hex_encode(id, r->id, TK_RECORD_ID_LEN);
  json_t *hj = json_array();
  for (size_t i = 0; i < n; i++) {
    tk_hex_encode(rev, heads[i], TK_REV_ID_LEN);
    json_array_append_new(hj, json_string(rev));
  }
  tk_hex_encode(rev, r->winner, TK_REV_ID_LEN);
  tk_office_conflict_t c = {id, r->type, r->vault, rev, hj, r->nheads};
  int rc = l->cb(l->ctx, &c);
  json_decref(hj);
  return rc;
}

int tk_office_conflicts(tk_office_t *o, const char *type, const char *vault,
                        int (*cb)(void *ctx, const tk_office_conflict_t *c), void *ctx,
                        tk_err_t *err)
{
  conflicts_ctx_t l = {o, cb, ctx, err};
  int rc = tk__office_type_known(o, type, err);
  if (!rc) rc = tk__office_vault_known(o, vault, err);
  return rc ? rc : tk_store_records(o->store, type, vault, 1, conflict_one, &l, err);
}

/* ---- quarantine ------------------------------------------------------------ */

static int held_one(void *ctx, const tk_quarantine_info_t *q)
{
  char hex[2 * TK_REV_ID_LEN + 1], rec[2 * TK_RECORD_ID_LEN + 1],
      author[TK_DEVICE_ID_STRLEN];
  tk_hex_encode(hex, q->meta.id, TK_REV_ID_LEN);
  tk_hex_encode(rec, q->meta.record_id, TK_RECORD_ID_LEN);
  tk_device_id_format(author, q->meta.author);
  return json_array_append_new(ctx, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "revision",
                                              hex, "record", rec, "type", q->meta.type,
                                              "vault", q->meta.vault, "author", author,
                                              "reason", q->reason))
             ? TK_ENOMEM
             : 0;
}

int tk_office_quarantine_list(tk_office_t *o, json_t **out, tk_err_t *err)
{
  json_t *arr = json_array();
  if (!arr) return tk_err_set(err, TK_ENOMEM, "out of memory");
  int rc = tk_store_quarantine_list(o->store, held_one, arr, err);
  if (rc == TK_ENOMEM) tk_err_set(err, rc, "out of memory");
  if (rc) {
    json_decref(arr);
    arr = NULL;
  }
  *out = arr;
  return rc;
}

static int held_act(tk_office_t *o, const char *prefix, int drop,
                    char rev_hex[2 * TK_REV_ID_LEN + 1], tk_err_t *err)
{
  uint8_t id[TK_REV_ID_LEN];
  int rc = tk_store_quarantine_find(o->store, prefix, id, err);
  if (!rc)
    rc = drop ? tk_store_quarantine_del(o->store, id, err)
              : tk_store_quarantine_release(o->store, id, err);
  if (!rc && !drop) tk__office_learn_deleted(o, NULL);
  if (!rc) tk_hex_encode(rev_hex, id, TK_REV_ID_LEN);
  return rc;
}

int tk_office_quarantine_release(tk_office_t *o, const char *rev,
                                 char rev_hex[2 * TK_REV_ID_LEN + 1], tk_err_t *err)
{
  return held_act(o, rev, 0, rev_hex, err);
}

int tk_office_quarantine_drop(tk_office_t *o, const char *rev,
                              char rev_hex[2 * TK_REV_ID_LEN + 1], tk_err_t *err)
{
  return held_act(o, rev, 1, rev_hex, err);
}
