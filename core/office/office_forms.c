/*
 * office_forms.c: the office's content types as the front ends use them
 * (tk_office.h, "the front ends' API"): its plugin set, loaded once per
 * office; checking a record with every problem kept; the listing summary;
 * a content type's form schema as JSON; the unlock callback. One thread at a
 * time, as tk_office_t.
 */
#include "office_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "tk_body.h"
#include "tk_office_plugins.h"
#include "tk_plugin.h"

#define SUMMARY_LIST_MAX 120 /* bytes of a plugin summary in a listing */

static const char *const field_kinds[] = {"text",    "date",    "datetime", "enum",
                                          "integer", "boolean", "list",     "ref"};

void tk_office_set_unlock(tk_office_t *o, tk_office_unlock_fn fn, void *ctx)
{
  o->unlock = fn;
  o->unlock_ctx = ctx;
}

int tk_office_need_keys(tk_office_t *o, tk_err_t *err)
{
  if (o->id->sec) return 0;
  if (!o->unlock) return tk_err_set(err, TK_EPASS, "the office is locked");
  return o->unlock(o->unlock_ctx, o, err);
}

int tk__office_plugins(tk_office_t *o, tk_plugin_set_t **out, tk_err_t *err)
{
  if (!o->plugins) {
    int rc = tk_office_plugins(&o->plugins, o->home, NULL, 0, err);
    if (rc) return rc;
  }
  *out = o->plugins;
  return 0;
}

/* Keeps one more problem (the first TK_OFFICE_MAX_PROBLEMS; all counted). */
static void add_problem(tk_office_problems_t *p, const char *field, const char *msg)
{
  if (!p) return;
  if (p->n < TK_OFFICE_MAX_PROBLEMS) {
    tk_office_problem_t *x = &p->v[p->n];
    if (snprintf(x->field, sizeof x->field, "%s", field) >= (int)sizeof x->field ||
        snprintf(x->message, sizeof x->message, "%s", msg) >= (int)sizeof x->message)
      TK_LOG(TK_LOG_DEBUG, "office", "a validation message was cut");
  }
  p->n++;
}

int tk_office_check(tk_office_t *o, const char *type, const json_t *body,
                    tk_office_problems_t *problems, tk_err_t *err)
{
  tk_plugin_set_t *s = NULL;
  tk_office_problems_t local;
  tk_office_problems_t *p = problems ? problems : &local;
  char why[256];
  tk_err_t e;
  p->n = 0;
  int rc = tk__office_plugins(o, &s, err);
  if (rc) return rc;
  const tk_plugin_decl_t *d = tk_plugin_set_find(s, TK_PLUGIN_TYPE, type);
  if (!d)
    return tk_err_set(err, TK_EINVAL, "no content type '%s'; see 'tunduk plugin list'",
                      type);
  for (size_t i = 0; i < d->nfields; i++) {
    const tk_plugin_field_t *f = &d->fields[i];
    if (tk_plugin_field_check(f, json_object_get(body, f->name), why, sizeof why)) {
      tk_err_set(&e, TK_EINVAL, "field '%s' %s", f->name, why);
      add_problem(p, f->name, e.msg);
    }
  }
  if (p->n)
    return tk_err_set(err, TK_EINVAL, "%s record invalid: %s", type, p->v[0].message);
  tk_err_clear(&e);
  rc = tk_office_validate(s, type, body, &e);
  if (rc == TK_ENOTFOUND)
    return tk_err_set(err, TK_EINVAL, "no content type '%s'; see 'tunduk plugin list'",
                      type);
  if (rc == TK_EINVAL) {
    add_problem(p, "", e.msg);
    return tk_err_set(err, rc, "%s record invalid: %s", type, e.msg);
  }
  if (rc < 0) return tk_err_set(err, rc, "%s record not checked: %s", type, e.msg);
  return 0;
}

/* Cuts s to at most max bytes without splitting a UTF-8 sequence. */
static void utf8_cut(char *s, size_t max)
{
  size_t n = strlen(s);
  if (n <= max) return;
  while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
    max--;
  s[max] = 0;
}

void tk_office_summary(tk_office_t *o, const char *type, const json_t *body, char *out,
                       size_t n)
{
  const tk_plugin_decl_t *d = NULL;
  tk_plugin_set_t *s = NULL;
  tk_buf_t js = TK_BUF_INIT, line = TK_BUF_INIT;
  tk_err_t e;
  if (tk__office_plugins(o, &s, &e) == 0) d = tk_plugin_set_find(s, TK_PLUGIN_TYPE, type);
  if (d && d->has_summary && tk_body_dump(body, &js) == 0 &&
      tk_plugin_summary(s, type, TK_SLICE(js.p, js.n), &line, &e) == 0) {
    snprintf(out, n, "%s", (const char *)line.p);
    utf8_cut(out, SUMMARY_LIST_MAX);
  } else {
    tk_body_summary(body, out, n < 61 ? n : 61);
  }
  tk_buf_wipe(&js);
  tk_buf_wipe(&line);
}

/* "date_of_birth" -> "Date of birth". */
static void field_label(char *out, size_t cap, const char *name)
{
  snprintf(out, cap, "%s", name);
  for (char *c = out; *c; c++)
    if (*c == '_') *c = ' ';
  out[0] = (char)toupper((unsigned char)out[0]);
}

static json_t *field_json(const tk_plugin_field_t *f)
{
  char label[TK_PLUGIN_MAX_LABEL + 1];
  if (f->label)
    snprintf(label, sizeof label, "%s", f->label);
  else
    field_label(label, sizeof label, f->name);
  const char *kind =
      (f->kind >= 0 && (size_t)f->kind < sizeof field_kinds / sizeof field_kinds[0])
          ? field_kinds[f->kind]
          : "text";
  json_t *j = json_pack("{s:s,s:s,s:s,s:b}", "name", f->name, "label", label, "kind",
                        kind, "required", f->required);
  if (j && f->kind == TK_FIELD_ENUM) {
    json_t *vals = json_array();
    for (size_t k = 0; k < f->nvalues; k++)
      json_array_append_new(vals, json_string(f->values[k]));
    json_object_set_new(j, "values", vals);
  }
  return j;
}

int tk_office_form_schema(tk_office_t *o, const char *type, json_t **out, tk_err_t *err)
{
  tk_plugin_set_t *s = NULL;
  *out = NULL;
  int rc = tk__office_plugins(o, &s, err);
  if (rc) return rc;
  const tk_plugin_decl_t *d = tk_plugin_set_find(s, TK_PLUGIN_TYPE, type);
  if (!d) return tk_err_set(err, TK_ENOTFOUND, "no content type '%s'", type);
  json_t *fields = json_array();
  for (size_t i = 0; fields && i < d->nfields; i++)
    json_array_append_new(fields, field_json(&d->fields[i]));
  json_t *j = json_pack("{s:s,s:s,s:b,s:b,s:b,s:o}", "type", d->name, "plugin", d->plugin,
                        "validate", d->has_validate, "summary", d->has_summary, "merge",
                        d->has_merge, "fields", fields);
  if (!j) return tk_err_set(err, TK_ENOMEM, "out of memory");
  *out = j;
  return 0;
}

int tk_office_types(tk_office_t *o, json_t **out, tk_err_t *err)
{
  tk_plugin_set_t *s = NULL;
  *out = NULL;
  int rc = tk__office_plugins(o, &s, err);
  if (rc) return rc;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < tk_plugin_set_count(s, TK_PLUGIN_TYPE); i++)
    json_array_append_new(arr,
                          json_string(tk_plugin_set_decl(s, TK_PLUGIN_TYPE, i)->name));
  if (!arr) return tk_err_set(err, TK_ENOMEM, "out of memory");
  *out = arr;
  return 0;
}
