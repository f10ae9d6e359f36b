/*
 * office_schema.c: a content type's form as JSON (tk_office_type_form), what
 * tk_office_form_schema answers and what `plugin list --json` lists for a
 * content type: its fields in the plugin's `order`, each with its labels in
 * every language the UI speaks (en, ru, ky; one the plugin left out falls
 * back to English, then to the field's name), enum values with their
 * labels, the content type a reference points to, and what a list's items
 * are. Pure: reads the declaration only. Any thread.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "tk_office_plugins.h"
#include "tk_plugin.h"

static const char *const kind_names[] = {
    "text", "date", "datetime", "enum", "integer", "boolean", "list", "ref", "object"};

/* "date_of_birth" -> "Date of birth". */
static void name_label(char *out, size_t cap, const char *name)
{
  snprintf(out, cap, "%s", name);
  for (char *c = out; *c; c++)
    if (*c == '_') *c = ' ';
  out[0] = (char)toupper((unsigned char)out[0]);
}

/* {"en", "ru", "ky"}: each language's label, else the English one, else
 * fallback. */
static json_t *labels_json(const tk_plugin_labels_t *l, const char *fallback)
{
  json_t *o = json_object();
  for (int i = 0; o && i < TK_PLUGIN_NLANGS; i++) {
    const char *s = l && l->v[i] ? l->v[i] : l && l->v[0] ? l->v[0] : fallback;
    json_object_set_new(o, tk_plugin_langs[i], json_string(s));
  }
  return o;
}

/* "label" (English) and "labels" of a field or a type into j. */
static void set_labels(json_t *j, const tk_plugin_labels_t *l, const char *name)
{
  char dflt[TK_PLUGIN_MAX_LABEL + 1];
  name_label(dflt, sizeof dflt, name);
  json_object_set_new(j, "label", json_string(l->v[0] ? l->v[0] : dflt));
  json_object_set_new(j, "labels", labels_json(l, dflt));
}

static const char *kind_name(int kind)
{
  return kind >= 0 && (size_t)kind < sizeof kind_names / sizeof kind_names[0]
             ? kind_names[kind]
             : "text";
}

static json_t *field_json(const tk_plugin_field_t *f, int item);

/* What f's values are (enum), what it points to (ref), what its items are
 * (list), its fields (an object item). */
static void set_kind_detail(json_t *j, const tk_plugin_field_t *f)
{
  if (f->kind == TK_FIELD_ENUM) {
    json_t *vals = json_array(), *vl = json_object();
    for (size_t k = 0; vals && vl && k < f->nvalues; k++) {
      json_array_append_new(vals, json_string(f->values[k]));
      json_object_set_new(
          vl, f->values[k],
          labels_json(f->value_labels ? &f->value_labels[k] : NULL, f->values[k]));
    }
    json_object_set_new(j, "values", vals);
    json_object_set_new(j, "value_labels", vl);
  }
  if (f->kind == TK_FIELD_REF && f->ref_type)
    json_object_set_new(j, "ref_type", json_string(f->ref_type));
  if (f->kind == TK_FIELD_LIST && f->items)
    json_object_set_new(j, "items", field_json(f->items, 1));
  if (f->kind == TK_FIELD_OBJECT) {
    json_t *sub = json_array();
    for (size_t k = 0; sub && k < f->nsub; k++)
      json_array_append_new(sub, field_json(&f->sub[k], 0));
    json_object_set_new(j, "fields", sub);
  }
}

/* A field (item 0) or what a list's items are (item 1: no name, label or
 * required). */
static json_t *field_json(const tk_plugin_field_t *f, int item)
{
  json_t *j = json_object();
  if (!j) return NULL;
  if (!item) json_object_set_new(j, "name", json_string(f->name));
  json_object_set_new(j, "kind", json_string(kind_name(f->kind)));
  if (!item) {
    json_object_set_new(j, "required", json_boolean(f->required));
    set_labels(j, &f->labels, f->name);
  }
  set_kind_detail(j, f);
  return j;
}

json_t *tk_office_type_fields(const tk_plugin_decl_t *d)
{
  json_t *fields = json_array();
  unsigned char shown[TK_PLUGIN_MAX_FIELDS] = {0};
  for (size_t i = 0; fields && i < d->norder; i++)
    for (size_t k = 0; k < d->nfields && k < TK_PLUGIN_MAX_FIELDS; k++)
      if (!shown[k] && strcmp(d->fields[k].name, d->order[i]) == 0) {
        shown[k] = 1;
        json_array_append_new(fields, field_json(&d->fields[k], 0));
      }
  for (size_t k = 0; fields && k < d->nfields; k++)
    if (k >= TK_PLUGIN_MAX_FIELDS || !shown[k])
      json_array_append_new(fields, field_json(&d->fields[k], 0));
  return fields;
}

json_t *tk_office_type_form(const tk_plugin_decl_t *d)
{
  json_t *fields = tk_office_type_fields(d);
  json_t *j =
      fields ? json_pack("{s:s,s:s}", "type", d->name, "plugin", d->plugin) : NULL;
  if (!j) {
    json_decref(fields);
    return NULL;
  }
  set_labels(j, &d->labels, d->name);
  json_object_set_new(j, "validate", json_boolean(d->has_validate));
  json_object_set_new(j, "summary", json_boolean(d->has_summary));
  json_object_set_new(j, "merge", json_boolean(d->has_merge));
  json_object_set_new(j, "extra_fields", json_boolean(d->extra_fields));
  json_object_set_new(j, "fields", fields);
  return j;
}
