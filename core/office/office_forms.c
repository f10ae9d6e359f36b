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
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tk_body.h"
#include "tk_office_plugins.h"
#include "tk_plugin.h"

#define SUMMARY_LIST_MAX 256 /* bytes of a plugin summary in a listing */

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

/* The fields of body no content type d declares, unless one of have[]
 * holds the same key (what the record already holds: another office's
 * plugins may declare it). */
static void unknown_fields(const tk_plugin_decl_t *d, const json_t *body,
                           const json_t *const *have, size_t nhave,
                           tk_office_problems_t *p)
{
  const char *key;
  json_t *v;
  char why[256];
  json_object_foreach((json_t *)body, key, v)
  {
    if (!tk_plugin_field_unknown(d, key, why, sizeof why)) continue;
    int held = 0;
    for (size_t i = 0; i < nhave && !held; i++)
      held = have[i] && json_object_get(have[i], key) != NULL;
    if (!held) add_problem(p, key, why);
  }
}

#define NAMES_MAX 64 /* names listed in a message */

typedef struct names {
  const char *v[NAMES_MAX];
  char own[NAMES_MAX][TK_MAX_VAULT_LEN + 1];
  size_t n;
} names_t;

static void names_text(const names_t *nm, char *out, size_t cap)
{
  size_t at = 0;
  out[0] = 0;
  for (size_t i = 0; i < nm->n && at < cap - 1; i++)
    at += (size_t)snprintf(out + at, cap - at, "%s%s", i ? ", " : "", nm->v[i]);
  if (!nm->n) snprintf(out, cap, "none");
}

/* TK_EINVAL "no content type 'T'; see ... (did you mean 'U'? content types: ...)". */
static int no_type(tk_plugin_set_t *s, const char *type, tk_err_t *err)
{
  names_t nm;
  char list[400], hint[100] = "";
  nm.n = 0;
  for (size_t i = 0; i < tk_plugin_set_count(s, TK_PLUGIN_TYPE) && nm.n < NAMES_MAX; i++)
    nm.v[nm.n++] = tk_plugin_set_decl(s, TK_PLUGIN_TYPE, i)->name;
  names_text(&nm, list, sizeof list);
  const char *near = tk_plugin_name_suggest(type, nm.v, nm.n);
  if (near) snprintf(hint, sizeof hint, "did you mean '%s'? ", near);
  return tk_err_set(
      err, TK_EINVAL,
      "no content type '%s'; see 'tunduk plugin list' (%scontent types: %s)", type, hint,
      list);
}

static int invalid(tk_office_problems_t *p, const char *type, tk_err_t *err)
{
  return tk_err_set(err, TK_EINVAL, "%s record invalid: %s", type, p->v[0].message);
}

/* validate() of the content type over body, each problem it gives kept
 * with its field: 0, TK_EINVAL (problems added), or a failure in err. */
static int validate_problems(tk_plugin_set_t *s, const char *type, const json_t *body,
                             tk_office_problems_t *p, tk_err_t *err)
{
  tk_buf_t b = TK_BUF_INIT;
  tk_plugin_problems_t *pp = calloc(1, sizeof *pp);
  int rc = pp ? tk_body_dump(body, &b) : TK_ENOMEM;
  if (rc < 0) {
    rc = tk_err_set(err, TK_ENOMEM, "out of memory");
  } else {
    rc = tk_plugin_validate_problems(s, type, TK_SLICE(b.p, b.n), pp, err);
    if (rc == TK_EINVAL) {
      for (size_t i = 0; i < pp->n; i++)
        add_problem(p, pp->v[i].field, pp->v[i].message);
      if (!pp->n) add_problem(p, "", err->msg);
    }
  }
  free(pp);
  tk_buf_wipe(&b);
  return rc;
}

int tk__office_check(tk_office_t *o, const char *type, const json_t *body, int unknown,
                     const json_t *const *have, size_t nhave,
                     tk_office_problems_t *problems, tk_err_t *err)
{
  tk_plugin_set_t *s = NULL;
  tk_office_problems_t local;
  tk_office_problems_t *p = problems ? problems : &local;
  tk_err_t e;
  p->n = 0;
  int rc = tk__office_plugins(o, &s, err);
  if (rc) return rc;
  const tk_plugin_decl_t *d = tk_plugin_set_find(s, TK_PLUGIN_TYPE, type);
  if (!d) return no_type(s, type, err);
  if (unknown == TK__CHECK_UNKNOWN_ONLY) {
    unknown_fields(d, body, have, nhave, p);
    return p->n ? invalid(p, type, err) : 0;
  }
  /* the host's field checks and validate() (which runs even when a field
   * failed: every problem at once), then the fields the type does not know */
  tk_err_clear(&e);
  rc = validate_problems(s, type, body, p, &e);
  if (rc == TK_ENOTFOUND)
    return tk_err_set(err, TK_EINVAL, "no content type '%s'; see 'tunduk plugin list'",
                      type);
  if (unknown == TK__CHECK_ALL) unknown_fields(d, body, have, nhave, p);
  if (p->n) return invalid(p, type, err);
  if (rc < 0) return tk_err_set(err, rc, "%s record not checked: %s", type, e.msg);
  return 0;
}

int tk_office_check(tk_office_t *o, const char *type, const json_t *body,
                    tk_office_problems_t *problems, tk_err_t *err)
{
  return tk__office_check(o, type, body, TK__CHECK_ALL, NULL, 0, problems, err);
}

/* Copies src into out (cap bytes) cut to at most max bytes, never inside
 * a UTF-8 sequence (the cut backs off to the start of the character). */
static void utf8_copy(char *out, size_t cap, const char *src, size_t max)
{
  size_t n = strlen(src);
  if (cap == 0) return;
  if (max > cap - 1) max = cap - 1;
  if (n > max) {
    n = max;
    while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
      n--;
  }
  memcpy(out, src, n);
  out[n] = 0;
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
    utf8_copy(out, n, (const char *)line.p, SUMMARY_LIST_MAX);
  } else {
    tk_body_summary(body, out, n < 61 ? n : 61);
  }
  tk_buf_wipe(&js);
  tk_buf_wipe(&line);
}

void tk__office_summaries(tk_office_t *o, const char *type, const json_t *const *bodies,
                          size_t n, char (*out)[257])
{
  const tk_plugin_decl_t *d = NULL;
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  if (tk__office_plugins(o, &s, &e) == 0) d = tk_plugin_set_find(s, TK_PLUGIN_TYPE, type);
  tk_buf_t *js = d && d->has_summary ? calloc(n, sizeof *js) : NULL;
  tk_slice_t *sl = js ? calloc(n, sizeof *sl) : NULL;
  int *rcs = sl ? calloc(n, sizeof *rcs) : NULL;
  tk_err_t *errs = rcs ? calloc(n, sizeof *errs) : NULL;
  tk_plugin_line_t *lines = errs ? calloc(n, sizeof *lines) : NULL;
  int ok = lines != NULL;
  for (size_t i = 0; ok && i < n; i++) {
    ok = tk_body_dump(bodies[i], &js[i]) == 0;
    if (ok) sl[i] = TK_SLICE(js[i].p, js[i].n);
  }
  if (ok) ok = tk_plugin_summary_many(s, type, sl, n, rcs, errs, lines) == 0;
  for (size_t i = 0; i < n; i++) {
    if (ok && rcs[i] == 0)
      utf8_copy(out[i], 257, lines[i], SUMMARY_LIST_MAX);
    else
      tk_body_summary(bodies[i], out[i], 61);
    if (js) tk_buf_wipe(&js[i]);
  }
  if (lines) sodium_memzero(lines, n * sizeof *lines);
  free(js);
  free(sl);
  free(rcs);
  free(errs);
  free(lines);
}
int tk_office_form_schema(tk_office_t *o, const char *type, json_t **out, tk_err_t *err)
{
  tk_plugin_set_t *s = NULL;
  *out = NULL;
  int rc = tk__office_plugins(o, &s, err);
  if (rc) return rc;
  const tk_plugin_decl_t *d = tk_plugin_set_find(s, TK_PLUGIN_TYPE, type);
  if (!d) return tk_err_set(err, TK_ENOTFOUND, "no content type '%s'", type);
  if (!(*out = tk_office_type_form(d)))
    return tk_err_set(err, TK_ENOMEM, "out of memory");
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

int tk_office_type_labels(tk_office_t *o, json_t **out, tk_err_t *err)
{
  tk_plugin_set_t *s = NULL;
  *out = NULL;
  int rc = tk__office_plugins(o, &s, err);
  if (rc) return rc;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < tk_plugin_set_count(s, TK_PLUGIN_TYPE); i++) {
    json_t *f = tk_office_type_form(tk_plugin_set_decl(s, TK_PLUGIN_TYPE, i));
    json_t *j =
        f ? json_pack("{s:O,s:O,s:O}", "type", json_object_get(f, "type"), "label",
                      json_object_get(f, "label"), "labels", json_object_get(f, "labels"))
          : NULL;
    json_decref(f);
    if (!j || json_array_append_new(arr, j)) {
      json_decref(arr);
      arr = NULL;
    }
  }
  if (!arr) return tk_err_set(err, TK_ENOMEM, "out of memory");
  *out = arr;
  return 0;
}

/* ---- filters a person typed (--type, --vault, --redact) ------------------------ */

static int any_record(void *ctx, const tk_record_info_t *r)
{
  (void)ctx;
  (void)r;
  return 1;
}

int tk__office_type_known(tk_office_t *o, const char *type, tk_err_t *err)
{
  tk_plugin_set_t *s = NULL;
  if (!type) return 0;
  int rc = tk__office_plugins(o, &s, err);
  if (rc) return rc;
  if (tk_plugin_set_find(s, TK_PLUGIN_TYPE, type)) return 0;
  /* records of a type no plugin here declares (another office's) */
  rc = tk_store_records(o->store, type, NULL, 0, any_record, NULL, err);
  if (rc == 1) return 0;
  return rc ? rc : no_type(s, type, err);
}

static int vault_name(void *ctx, const tk_vault_info_t *v)
{
  names_t *nm = ctx;
  if (nm->n < NAMES_MAX) {
    snprintf(nm->own[nm->n], sizeof nm->own[nm->n], "%s", v->name);
    nm->v[nm->n] = nm->own[nm->n];
    nm->n++;
  }
  return 0;
}

int tk__office_vault_known(tk_office_t *o, const char *vault, tk_err_t *err)
{
  tk_vault_info_t vi;
  names_t *nm;
  char list[400], hint[100] = "";
  if (!vault) return 0;
  int rc = tk_store_vault_get(o->store, vault, &vi, err);
  if (rc != TK_ENOTFOUND) return rc;
  rc = tk_store_records(o->store, NULL, vault, 0, any_record, NULL, err);
  if (rc == 1) return 0;
  if (rc) return rc;
  if (!(nm = calloc(1, sizeof *nm))) return tk_err_set(err, TK_ENOMEM, "out of memory");
  rc = tk_store_vaults(o->store, vault_name, nm, err);
  if (!rc) {
    names_text(nm, list, sizeof list);
    const char *near = tk_plugin_name_suggest(vault, nm->v, nm->n);
    if (near) snprintf(hint, sizeof hint, "did you mean '%s'? ", near);
    rc = tk_err_set(err, TK_EINVAL,
                    "no vault '%s' (see 'tunduk vault list'; %svaults: %s)", vault, hint,
                    list);
  }
  free(nm);
  return rc;
}

/* Whether some exported content type (type, or every one) has field f. */
static int exported_field(tk_plugin_set_t *s, const char *type, const char *f,
                          names_t *all)
{
  for (size_t i = 0; i < tk_plugin_set_count(s, TK_PLUGIN_TYPE); i++) {
    const tk_plugin_decl_t *d = tk_plugin_set_decl(s, TK_PLUGIN_TYPE, i);
    if (type && strcmp(d->name, type) != 0) continue;
    if (d->extra_fields || d->nfields == 0) return 1;
    for (size_t k = 0; k < d->nfields; k++) {
      if (strcmp(d->fields[k].name, f) == 0) return 1;
      if (all->n < NAMES_MAX) all->v[all->n++] = d->fields[k].name;
    }
  }
  return !type ? 0 : !tk_plugin_set_find(s, TK_PLUGIN_TYPE, type); /* undeclared: any */
}

int tk__office_export_filters(tk_office_t *o, const char *type, const char *vault,
                              const char *const *redact, tk_err_t *err)
{
  tk_plugin_set_t *s = NULL;
  int rc = tk__office_type_known(o, type, err);
  if (!rc) rc = tk__office_vault_known(o, vault, err);
  if (!rc) rc = tk__office_plugins(o, &s, err);
  for (size_t i = 0; !rc && redact && redact[i]; i++) {
    names_t *all = calloc(1, sizeof *all);
    if (!all) return tk_err_set(err, TK_ENOMEM, "out of memory");
    if (!tk_plugin_field_reserved(redact[i]) &&
        !exported_field(s, type, redact[i], all)) {
      char hint[100] = "";
      const char *near = tk_plugin_name_suggest(redact[i], all->v, all->n);
      if (near) snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
      rc = tk_err_set(err, TK_EINVAL,
                      "--redact: no exported content type has a field '%s'%s; nothing "
                      "exported",
                      redact[i], hint);
    }
    free(all);
  }
  return rc;
}
