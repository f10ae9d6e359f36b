/*
 * office_report.c: what an export needs besides the records (tk_office.h,
 * tk_office_report_records; office_report.h): the records of one case's
 * report, the choice of records an export carries, and the export's info
 * argument, built from the content types' form schemas so that labels in
 * the chosen language reach a report without the plugin knowing them.
 *
 * Invariants: bodies read here (to find a case's records) are freed before
 * the call returns and never leave it; only record ids do.
 *
 * Threads: one at a time per office, as tk_office.h.
 */
#include "office_internal.h"
#include "office_report.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tk_body.h"

#define INFO_DEPTH_MAX 4 /* lists of objects of lists: deeper is not shown */

/* ---- info ------------------------------------------------------------------- */

static const char *const langs[] = {"en", "ru", "ky"};

/* The label of a schema node in lang: labels[lang], else label, else name. */
static const char *pick_label(const json_t *node, const char *lang, const char *name)
{
  const char *l =
      json_string_value(json_object_get(json_object_get(node, "labels"), lang));
  if (l && *l) return l;
  l = json_string_value(json_object_get(node, "label"));
  if (l && *l) return l;
  return name;
}

static json_t *info_fields(const json_t *fields, const char *lang, int depth);

/* {kind, values = {v = label}, fields, order, items} of a field or items node. */
static json_t *info_node(const json_t *f, const char *lang, int depth)
{
  json_t *out = json_object();
  const char *kind = json_string_value(json_object_get(f, "kind"));
  json_object_set_new(out, "kind", json_string(kind ? kind : "text"));
  json_t *values = json_object_get(f, "values");
  if (json_is_array(values)) {
    json_t *vl = json_object_get(f, "value_labels"), *vo = json_object(),
           *order = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v)
    {
      const char *name = json_string_value(v);
      if (!name) continue;
      const char *l = json_string_value(json_object_get(json_object_get(vl, name), lang));
      if (!l || !*l)
        l = json_string_value(json_object_get(json_object_get(vl, name), "en"));
      if (l && *l) json_object_set_new(vo, name, json_string(l)); /* else: no label */
      json_array_append_new(order, json_string(name));
    }
    json_object_set_new(out, "values", vo);
    json_object_set_new(out, "value_order", order);
  }
  json_t *sub = json_object_get(f, "fields");
  if (json_is_array(sub) && depth < INFO_DEPTH_MAX) {
    json_object_set_new(out, "fields", info_fields(sub, lang, depth + 1));
    json_t *order = json_array();
    size_t i;
    json_t *x;
    json_array_foreach(sub, i, x)
    {
      const char *n = json_string_value(json_object_get(x, "name"));
      if (n) json_array_append_new(order, json_string(n));
    }
    json_object_set_new(out, "order", order);
  }
  json_t *items = json_object_get(f, "items");
  if (json_is_object(items) && depth < INFO_DEPTH_MAX)
    json_object_set_new(out, "items", info_node(items, lang, depth + 1));
  return out;
}

static json_t *info_fields(const json_t *fields, const char *lang, int depth)
{
  json_t *out = json_object();
  size_t i;
  json_t *f;
  json_array_foreach(fields, i, f)
  {
    const char *name = json_string_value(json_object_get(f, "name"));
    if (!name) continue;
    json_t *n = info_node(f, lang, depth);
    json_object_set_new(n, "label", json_string(pick_label(f, lang, name)));
    json_object_set_new(out, name, n);
  }
  return out;
}

static int check_info_opts(const tk_office_export_opts_t *opts, const char **lang,
                           tk_err_t *err)
{
  *lang = opts->lang ? opts->lang : "en";
  int known = 0;
  for (size_t i = 0; i < sizeof langs / sizeof langs[0]; i++)
    known |= strcmp(*lang, langs[i]) == 0;
  if (!known)
    return tk_err_set(err, TK_EINVAL, "language '%.16s' is not one of en, ru, ky", *lang);
  if (opts->tz_offset_min > TK_OFFICE_TZ_MAX_MIN ||
      opts->tz_offset_min < -TK_OFFICE_TZ_MAX_MIN)
    return tk_err_set(err, TK_EINVAL,
                      "time zone offset %d minutes is beyond -14:00..+14:00",
                      opts->tz_offset_min);
  return 0;
}

int tk__office_export_info(tk_office_t *o, tk_plugin_set_t *s,
                           const tk_office_export_opts_t *opts, json_t **out,
                           tk_err_t *err)
{
  const char *lang;
  *out = NULL;
  int rc = check_info_opts(opts, &lang, err);
  if (rc) return rc;
  char org[512] = "";
  if (opts->organisation) {
    snprintf(org, sizeof org, "%s", opts->organisation);
  } else {
    if (tk_office_setting_get(o, "organisation", org, sizeof org) != 0) org[0] = '\0';
  }
  json_t *types = json_object();
  for (size_t i = 0; i < tk_plugin_set_count(s, TK_PLUGIN_TYPE); i++) {
    const char *name = tk_plugin_set_decl(s, TK_PLUGIN_TYPE, i)->name;
    json_t *schema = NULL;
    if ((rc = tk_office_form_schema(o, name, &schema, err)) != 0) {
      json_decref(types);
      return rc;
    }
    json_t *t = info_node(schema, lang, 0);
    json_object_set_new(t, "label", json_string(pick_label(schema, lang, name)));
    json_object_set_new(types, name, t);
    json_decref(schema);
  }
  json_t *info =
      json_pack("{s:s,s:i,s:I,s:o}", "lang", lang, "tz_offset_min", opts->tz_offset_min,
                "now", (json_int_t)time(NULL), "types", types);
  if (!info) return tk_err_set(err, TK_ENOMEM, "out of memory");
  json_object_set_new(info, "organisation", org[0] ? json_string(org) : json_null());
  if (org[0] && !json_is_string(json_object_get(info, "organisation")))
    json_object_set_new(info, "organisation", json_null()); /* not UTF-8 */
  *out = info;
  return 0;
}

/* ---- which records ----------------------------------------------------------- */

static int cmp_id(const void *a, const void *b)
{
  return memcmp(a, b, TK_RECORD_ID_LEN);
}

int tk__office_export_select(tk_office_t *o, const tk_office_export_opts_t *opts,
                             tk_record_info_t *recs, size_t *n, tk_err_t *err)
{
  if (!opts->records) return 0;
  size_t want = 0;
  while (opts->records[want])
    if (++want > TK_OFFICE_EXPORT_MAX_RECORDS)
      return tk_err_set(err, TK_ELIMIT, "more than %d records asked for",
                        TK_OFFICE_EXPORT_MAX_RECORDS);
  uint8_t(*ids)[TK_RECORD_ID_LEN] = calloc(want ? want : 1, TK_RECORD_ID_LEN);
  if (!ids) return tk_err_set(err, TK_ENOMEM, "out of memory");
  for (size_t i = 0; i < want; i++) {
    int rc = tk_office_record_find(o, opts->records[i], ids[i], err);
    if (rc) {
      free(ids);
      return rc;
    }
  }
  qsort(ids, want, TK_RECORD_ID_LEN, cmp_id);
  size_t k = 0;
  for (size_t i = 0; i < *n; i++)
    if (want && bsearch(recs[i].id, ids, want, TK_RECORD_ID_LEN, cmp_id))
      recs[k++] = recs[i];
  *n = k;
  free(ids);
  return 0;
}

/* ---- a case's report ----------------------------------------------------------- */

static int listed_in(const json_t *body, const char *hex)
{
  const char *lists[] = {"appeals", "testimonies"};
  for (size_t l = 0; l < 2; l++) {
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(body, lists[l]), i, v)
    {
      const char *s = json_string_value(v);
      if (s && strlen(s) == 2 * TK_RECORD_ID_LEN && strcasecmp(s, hex) == 0) return 1;
    }
  }
  return 0;
}

/* Oldest first, as the export hands them over. */
static int cmp_created(const void *a, const void *b)
{
  const tk_record_info_t *x = a, *y = b;
  if (x->created_hlc != y->created_hlc) return x->created_hlc < y->created_hlc ? -1 : 1;
  return memcmp(x->id, y->id, TK_RECORD_ID_LEN);
}

int tk_office_report_records(tk_office_t *o, const char *case_id, json_t **ids,
                             tk_err_t *err)
{
  uint8_t id[TK_RECORD_ID_LEN];
  tk_record_info_t info, *recs = NULL;
  tk_rev_meta_t rm;
  json_t *cs = NULL, *out = NULL;
  size_t n = 0;
  char hex[2 * TK_RECORD_ID_LEN + 1];
  *ids = NULL;
  int rc = tk_office_need_keys(o, err);
  if (!rc) rc = tk_office_record_find(o, case_id, id, err);
  if (!rc) rc = tk_store_record_info(tk_office_store(o), id, &info, err);
  if (!rc) rc = tk_office_read(o, info.winner, &cs, &rm, err);
  if (rc) goto done;
  tk_hex_encode(hex, id, TK_RECORD_ID_LEN);
  if (tk_body_is_tombstone(cs)) {
    rc = tk_err_set(err, TK_EINVAL, "record %s is deleted", hex);
    goto done;
  }
  if (strcmp(info.type, "case") != 0) { /* a record of another type: itself */
    if (!(*ids = json_pack("[s]", hex))) rc = tk_err_set(err, TK_ENOMEM, "out of memory");
    goto done;
  }
  if ((rc = tk_store_records_array(tk_office_store(o), NULL, NULL, 0, &recs, &n, err)))
    goto done;
  if (n) qsort(recs, n, sizeof *recs, cmp_created);
  out = json_array();
  json_array_append_new(out, json_string(hex));
  for (size_t i = 0; i < n && out; i++) {
    if (memcmp(recs[i].id, id, TK_RECORD_ID_LEN) == 0) continue;
    char rhex[2 * TK_RECORD_ID_LEN + 1];
    tk_hex_encode(rhex, recs[i].id, TK_RECORD_ID_LEN);
    json_t *body = NULL;
    tk_err_t e;
    int r = tk_office_read(o, recs[i].winner, &body, &rm, &e);
    if (r == TK_ENOKEY) continue;
    if (r < 0) {
      rc = r;
      if (err) *err = e;
      goto done;
    }
    const char *rel = json_string_value(json_object_get(body, "related_case"));
    int mine = !tk_body_is_tombstone(body) &&
               ((rel && strcasecmp(rel, hex) == 0) || listed_in(cs, rhex));
    json_decref(body);
    if (mine) json_array_append_new(out, json_string(rhex));
  }
  if (!out) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory");
    goto done;
  }
  *ids = out;
  out = NULL;
done:
  json_decref(out);
  json_decref(cs);
  free(recs);
  return rc;
}
