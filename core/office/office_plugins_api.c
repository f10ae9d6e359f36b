/*
 * office_plugins_api.c: the plugin calls of the front ends' API
 * (tk_office.h) that need no opened office, only its home folder: the
 * listing of the folder's plugins and a test run of sample records through
 * one plugin (validate, summary, every export). Nothing is printed: the
 * front end gets JSON and one result per sample line. Any thread; one
 * test run is used by one thread at a time.
 */
#include "tk_office.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "tk_body.h"
#include "tk_office_plugins.h"
#include "tk_plugin.h"

static const char *const kind_names[TK_PLUGIN_NKINDS] = {"content type", "export",
                                                         "moderation"};

static json_t *decl_json(const tk_plugin_set_t *s, const tk_plugin_decl_t *d)
{
  tk_plugin_origin_t o;
  json_t *j = json_pack("{s:s,s:s,s:s}", "name", d->name, "kind", kind_names[d->kind],
                        "file", d->plugin);
  if (!j) return NULL;
  if (tk_plugin_set_origin(s, d->plugin, &o) == 0) {
    json_object_set_new(j, "from", json_string(o.layer));
    if (o.path) json_object_set_new(j, "path", json_string(o.path));
    if (o.overrides) json_object_set_new(j, "overrides", json_string(o.overrides));
    json_object_set_new(j, "kept", json_boolean(o.kept != TK_PLUGIN_FRESH));
  }
  if (d->media_type) json_object_set_new(j, "media_type", json_string(d->media_type));
  if (d->kind == TK_PLUGIN_TYPE) {
    /* the form schema's fields and labels (office_schema.c) */
    json_t *form = tk_office_type_form(d);
    if (form) {
      json_object_set(j, "label", json_object_get(form, "label"));
      json_object_set(j, "labels", json_object_get(form, "labels"));
      json_object_set(j, "fields", json_object_get(form, "fields"));
    }
    json_decref(form);
    json_object_set_new(j, "validate", json_boolean(d->has_validate));
    json_object_set_new(j, "summary", json_boolean(d->has_summary));
    json_object_set_new(j, "merge", json_boolean(d->has_merge));
  }
  return j;
}

static json_t *layers_json(const tk_office_layers_t *l)
{
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < l->n; i++) {
    struct stat st;
    json_array_append_new(arr,
                          json_pack("{s:s,s:s,s:b}", "name", l->v[i].name, "folder",
                                    l->v[i].dir, "present", stat(l->v[i].dir, &st) == 0));
  }
  return arr;
}

int tk_office_plugin_list(const char *home, json_t **out, tk_err_t *err)
{
  tk_office_layers_t l;
  *out = NULL;
  int rc = tk_office_plugin_layers(home, &l, err);
  return rc ? rc : tk_office_plugin_list_layers(&l, out, err);
}

int tk_office_plugin_list_layers(const tk_office_layers_t *l, json_t **out, tk_err_t *err)
{
  const char *dir = l->n ? l->v[0].dir : "";
  tk_plugin_set_t *s = NULL;
  struct stat st;
  *out = NULL;
  for (size_t i = 0; i < l->n; i++) /* the top folder that is there */
    if (stat(l->v[i].dir, &st) == 0) dir = l->v[i].dir;
  int rc = tk_office_plugins_layered(&s, l, 2, err);
  if (rc) return rc;
  json_t *j = json_pack("{s:s,s:o,s:[],s:[]}", "folder", dir, "layers", layers_json(l),
                        "plugins", "errors");
  for (int k = 0; j && k < TK_PLUGIN_NKINDS; k++)
    for (size_t i = 0; i < tk_plugin_set_count(s, k); i++)
      json_array_append_new(json_object_get(j, "plugins"),
                            decl_json(s, tk_plugin_set_decl(s, k, i)));
  for (size_t i = 0; j && i < tk_plugin_set_load_errors(s); i++)
    json_array_append_new(json_object_get(j, "errors"),
                          json_string(tk_plugin_set_load_error(s, i)));
  tk_plugin_set_free(s);
  if (!j) return tk_err_set(err, TK_ENOMEM, "out of memory");
  *out = j;
  return 0;
}

/* ---- plugin test ------------------------------------------------------------- */

typedef struct sample {
  int line;
  char type[TK_MAX_TYPE_LEN + 1];
  tk_buf_t body; /* compact JSON, prepared for export */
} sample_t;

struct tk_office_plugin_test {
  tk_plugin_set_t *set;
  const char *plugin;       /* file name, in the set or in `which` */
  const char *default_type; /* the first content type it declares */
  sample_t *v;
  size_t n, cap;
  int blind; /* rules see what a hub without keys sees: no record */
  /* the last line's sample, for tk_office_plugin_test_moderate */
  int has_last;
  char last_type[TK_MAX_TYPE_LEN + 1], last_vault[TK_MAX_VAULT_LEN + 1];
  int last_line;
  tk_buf_t last_body;
};

typedef struct sample_iter {
  sample_t *v;
  size_t n, next;
  tk_plugin_meta_t meta;
  char id[2 * TK_RECORD_ID_LEN + 1];
  uint64_t now_ms;
} sample_iter_t;

static int next_sample(void *ud, tk_plugin_record_t *rec)
{
  sample_iter_t *it = ud;
  if (it->next == it->n) return 0;
  sample_t *s = &it->v[it->next++];
  /* Samples get record ids from their line numbers, so a sample can refer
   * to another: "related_case": "000...0001" is the sample on line 1. */
  snprintf(it->id, sizeof it->id, "%032x", (unsigned)s->line);
  memset(&it->meta, 0, sizeof it->meta);
  it->meta.record_id = it->id;
  it->meta.type = s->type;
  it->meta.vault = "samples";
  it->meta.hlc = it->now_ms;
  it->meta.size = s->body.n;
  it->meta.generation = 1;
  rec->body = TK_SLICE(s->body.p, s->body.n);
  rec->meta = &it->meta;
  return 1;
}

static int count_bytes(void *ud, const void *p, size_t n)
{
  (void)p;
  *(size_t *)ud += n;
  return 0;
}

static int is_lua_name(const char *s)
{
  size_t n = strlen(s);
  return n > 4 && strcmp(s + n - 4, ".lua") == 0;
}

/* Cuts what tk_plugin_set_load_layers added to a load error about what
 * runs instead: the test wants the file's own error. */
static void cut_replacement(char *msg)
{
  static const char *const marks[] = {"; keeping the previous version (",
                                      "; using the one from "};
  for (size_t i = 0; i < 2; i++) {
    char *at = NULL, *p = msg;
    while ((p = strstr(p, marks[i])))
      at = p++;
    if (at) *at = 0;
  }
}

/* A set of the layers' plugins with `path` (a .lua file) as a layer of its
 * own on top, so it replaces the plugin of the same file name; the others'
 * load errors go to notes, the file's own failure is the result. */
static int load_with_file(const tk_office_layers_t *layers, const char *path,
                          tk_plugin_set_t **out, json_t *notes, tk_err_t *err)
{
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  tk_office_layers_t l = *layers;
  tk_plugin_set_t *s = NULL;
  tk_plugin_origin_t o;
  char prefix[TK_PLUGIN_MAX_NAME + 16];
  int rc = 0;
  snprintf(prefix, sizeof prefix, "plugin %s: ", base);
  for (size_t i = 0; i < l.n; i++) /* the copy's paths point into the copy */
    if (l.v[i].dir == layers->set)
      l.v[i].dir = l.set;
    else if (l.v[i].dir == layers->home)
      l.v[i].dir = l.home;
  l.v[l.n++] = (tk_plugin_layer_t){"file", path, 0};
  if ((rc = tk_office_plugins_layered(&s, &l, 1, err)) < 0) return rc;
  int ok = tk_plugin_set_origin(s, base, &o) == 0 && o.kept == TK_PLUGIN_FRESH &&
           strcmp(o.layer, "file") == 0;
  for (size_t i = 0; i < tk_plugin_set_load_errors(s); i++) {
    const char *m = tk_plugin_set_load_error(s, i);
    if (strncmp(m, prefix, strlen(prefix)) != 0) {
      json_array_append_new(notes, json_string(m));
    } else if (!ok && !rc) {
      rc = tk_err_set(err, TK_EPLUGIN, "%s", m);
      if (err) cut_replacement(err->msg);
    }
  }
  if (!ok && !rc) rc = tk_err_set(err, TK_EPLUGIN, "plugin %s: not loaded", base);
  if (rc) {
    tk_plugin_set_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* The plugin file named by which in s: a declaration's name, a file name,
 * or a file name without ".lua". NULL if none. */
static const char *find_plugin(tk_plugin_set_t *s, const char *which)
{
  size_t wn = strlen(which);
  for (int k = 0; k < TK_PLUGIN_NKINDS; k++)
    for (size_t i = 0; i < tk_plugin_set_count(s, k); i++) {
      const tk_plugin_decl_t *d = tk_plugin_set_decl(s, k, i);
      if (strcmp(d->name, which) == 0 || strcmp(d->plugin, which) == 0 ||
          (strncmp(d->plugin, which, wn) == 0 && strcmp(d->plugin + wn, ".lua") == 0))
        return d->plugin;
    }
  return NULL;
}

int tk_office_plugin_test_open_layers(tk_office_plugin_test_t **out,
                                      const tk_office_layers_t *l, const char *which,
                                      int blind, json_t **notes, tk_err_t *err)
{
  struct stat st;
  tk_office_plugin_test_t *t = calloc(1, sizeof *t);
  *out = NULL;
  *notes = json_array();
  if (!t || !*notes) {
    free(t);
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  }
  t->blind = blind;
  int rc = 0;
  if (is_lua_name(which) && stat(which, &st) == 0 && S_ISREG(st.st_mode)) {
    rc = load_with_file(l, which, &t->set, *notes, err);
    if (!rc) t->plugin = strrchr(which, '/') ? strrchr(which, '/') + 1 : which;
  } else {
    rc = tk_office_plugins_layered(&t->set, l, 1, err);
    for (size_t i = 0; !rc && i < tk_plugin_set_load_errors(t->set); i++)
      json_array_append_new(*notes, json_string(tk_plugin_set_load_error(t->set, i)));
    if (!rc && !(t->plugin = find_plugin(t->set, which)))
      rc = tk_err_set(err, TK_ENOTFOUND,
                      "no plugin '%s' in %s (give a name from 'plugin list' or a "
                      "path to a .lua file)",
                      which, l->n ? l->v[l->n - 1].dir : "the plugin folders");
  }
  if (rc) {
    tk_office_plugin_test_free(t);
    return rc;
  }
  for (size_t i = 0; i < tk_plugin_set_count(t->set, TK_PLUGIN_TYPE) && !t->default_type;
       i++) {
    const tk_plugin_decl_t *d = tk_plugin_set_decl(t->set, TK_PLUGIN_TYPE, i);
    if (strcmp(d->plugin, t->plugin) == 0) t->default_type = d->name;
  }
  *out = t;
  return 0;
}

int tk_office_plugin_test_open(tk_office_plugin_test_t **out, const char *home,
                               const char *which, json_t **notes, tk_err_t *err)
{
  tk_office_layers_t l;
  *out = NULL;
  *notes = NULL;
  int rc = tk_office_plugin_layers(home, &l, err);
  if (rc) return rc;
  return tk_office_plugin_test_open_layers(out, &l, which, 0, notes, err);
}

const char *tk_office_plugin_test_plugin(const tk_office_plugin_test_t *t)
{
  return t->plugin;
}

const char *tk_office_plugin_test_type(const tk_office_plugin_test_t *t)
{
  return t->default_type;
}

size_t tk_office_plugin_test_valid(const tk_office_plugin_test_t *t)
{
  return t->n;
}

size_t tk_office_plugin_test_nexports(const tk_office_plugin_test_t *t)
{
  return tk_plugin_set_count(t->set, TK_PLUGIN_EXPORT);
}

void tk_office_plugin_test_free(tk_office_plugin_test_t *t)
{
  if (!t) return;
  for (size_t i = 0; i < t->n; i++)
    tk_buf_free(&t->v[i].body);
  free(t->v);
  tk_buf_free(&t->last_body);
  tk_plugin_set_free(t->set);
  free(t);
}

/* The sample's summary line into res (status OK, OK_DEFAULT or
 * SUMMARY_ERROR). */
static void summarize(tk_office_plugin_test_t *t, const json_t *body,
                      tk_office_sample_t *res)
{
  const tk_plugin_decl_t *d = tk_plugin_set_find(t->set, TK_PLUGIN_TYPE, res->type);
  tk_buf_t js = TK_BUF_INIT, out = TK_BUF_INIT;
  tk_err_t e;
  tk_err_clear(&e);
  if (d->has_summary) {
    int rc = tk_body_dump(body, &js);
    if (!rc) rc = tk_plugin_summary(t->set, res->type, TK_SLICE(js.p, js.n), &out, &e);
    if (rc) {
      res->status = TK_SAMPLE_SUMMARY_ERROR;
      snprintf(res->message, sizeof res->message, "%s", e.msg);
    } else {
      res->status = TK_SAMPLE_OK;
      snprintf(res->summary, sizeof res->summary, "%s", (const char *)out.p);
    }
  } else {
    char summary[TK_PLUGIN_MAX_SUMMARY + 1];
    tk_body_summary(body, summary, sizeof summary);
    res->status = TK_SAMPLE_OK_DEFAULT;
    snprintf(res->summary, sizeof res->summary, "%s", summary);
  }
  tk_buf_free(&js);
  tk_buf_free(&out);
}

/* Keeps a valid sample for the exports, prepared as an export sees it. */
static int keep(tk_office_plugin_test_t *t, json_t *body, int lineno, const char *type)
{
  if (t->n == t->cap) {
    size_t ncap = t->cap ? t->cap * 2 : 16;
    sample_t *nv = realloc(t->v, ncap * sizeof *nv);
    if (!nv) return TK_ENOMEM;
    t->v = nv;
    t->cap = ncap;
  }
  sample_t *sm = &t->v[t->n++];
  memset(sm, 0, sizeof *sm);
  sm->line = lineno;
  snprintf(sm->type, sizeof sm->type, "%s", type);
  tk_office_export_prepare(body);
  return tk_body_dump(body, &sm->body) < 0 ? TK_ENOMEM : 0;
}

/* Keeps the line's sample as a node's rules would see it arrive: its
 * "_vault" (taken out) names the vault. */
static int keep_last(tk_office_plugin_test_t *t, json_t *body, int lineno,
                     const char *type)
{
  json_t *vj = json_object_get(body, "_vault");
  snprintf(t->last_vault, sizeof t->last_vault, "samples");
  if (json_is_string(vj) && json_string_length(vj) <= TK_MAX_VAULT_LEN)
    snprintf(t->last_vault, sizeof t->last_vault, "%s", json_string_value(vj));
  if (vj) json_object_del(body, "_vault");
  snprintf(t->last_type, sizeof t->last_type, "%s", type);
  t->last_line = lineno;
  t->last_body.n = 0;
  t->has_last = type[0] != 0;
  return tk_body_dump(body, &t->last_body) < 0 ? TK_ENOMEM : 0;
}

size_t tk_office_plugin_test_moderate(tk_office_plugin_test_t *t,
                                      void (*cb)(void *ctx, const char *rule,
                                                 const char *file, const char *verdict,
                                                 const char *reason),
                                      void *ctx)
{
  static const char *const words[] = {"accept", "quarantine", "reject"};
  char id[2 * TK_RECORD_ID_LEN + 1];
  size_t n = tk_plugin_set_count(t->set, TK_PLUGIN_MODERATION);
  if (!t->has_last) return 0;
  tk_plugin_meta_t meta;
  memset(&meta, 0, sizeof meta);
  snprintf(id, sizeof id, "%032x", (unsigned)t->last_line);
  meta.record_id = id;
  meta.type = t->last_type;
  meta.vault = t->last_vault;
  meta.size = t->last_body.n;
  meta.generation = 1;
  tk_slice_t body =
      t->blind ? (tk_slice_t){NULL, 0} : TK_SLICE(t->last_body.p, t->last_body.n);
  for (size_t i = 0; i < n; i++) {
    const tk_plugin_decl_t *d = tk_plugin_set_decl(t->set, TK_PLUGIN_MODERATION, i);
    tk_plugin_verdict_t v;
    tk_plugin_check(t->set, d->name, &meta, body, &v);
    int k = v.verdict >= 0 && v.verdict <= 2 ? v.verdict : TK_VERDICT_QUARANTINE;
    cb(ctx, d->name, d->plugin, words[k], v.reason);
  }
  return n;
}

int tk_office_plugin_test_line(tk_office_plugin_test_t *t, const char *line, size_t len,
                               int lineno, tk_office_sample_t *res, tk_err_t *err)
{
  size_t at = 0;
  memset(res, 0, sizeof *res);
  t->has_last = 0;
  while (at < len && (line[at] == ' ' || line[at] == '\t'))
    at++;
  if (at == len || line[at] == 0) return 0; /* blank lines are allowed */
  json_error_t je;
  json_t *body = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
  if (!body || !json_is_object(body)) {
    res->status = body ? TK_SAMPLE_NOT_OBJECT : TK_SAMPLE_BAD_JSON;
    res->column = body ? 1 : je.column;
    snprintf(res->message, sizeof res->message, "%s",
             body ? "not a JSON object" : je.text);
    json_decref(body);
    return 0;
  }
  /* The sample's "type" picks the content type and is not part of it. */
  json_t *tj = json_object_get(body, "type");
  if (json_is_string(tj) && json_string_length(tj) <= TK_MAX_TYPE_LEN) {
    snprintf(res->type, sizeof res->type, "%s", json_string_value(tj));
    json_object_del(body, "type");
  } else if (t->default_type) {
    snprintf(res->type, sizeof res->type, "%s", t->default_type);
  }
  tk_err_t e;
  tk_err_clear(&e);
  int rc = keep_last(t, body, lineno, res->type);
  if (rc < 0) {
    json_decref(body);
    return tk_err_set(err, rc, "out of memory");
  }
  if (!res->type[0]) {
    res->status = TK_SAMPLE_NO_TYPE;
  } else if (tk_body_is_tombstone(body)) {
    res->status = TK_SAMPLE_DELETED; /* not content: moderated, never validated */
  } else if ((rc = tk_office_validate(t->set, res->type, body, &e)) == TK_EINVAL ||
             rc == TK_ENOTFOUND) {
    res->status = rc == TK_ENOTFOUND ? TK_SAMPLE_NO_SUCH_TYPE : TK_SAMPLE_INVALID;
    snprintf(res->message, sizeof res->message, "%s",
             rc == TK_ENOTFOUND ? "no such content type" : e.msg);
  } else if (rc < 0) {
    res->status = TK_SAMPLE_ERROR;
    snprintf(res->message, sizeof res->message, "%s", e.msg);
  } else {
    summarize(t, body, res);
    rc = keep(t, body, lineno, res->type);
    json_decref(body);
    return rc ? tk_err_set(err, rc, "out of memory") : 0;
  }
  json_decref(body);
  return 0;
}

void tk_office_plugin_test_exports(tk_office_plugin_test_t *t,
                                   void (*cb)(void *ctx, const char *name,
                                              const char *media_type, size_t bytes,
                                              const char *error),
                                   void *ctx)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  for (size_t i = 0; i < tk_plugin_set_count(t->set, TK_PLUGIN_EXPORT); i++) {
    const tk_plugin_decl_t *d = tk_plugin_set_decl(t->set, TK_PLUGIN_EXPORT, i);
    sample_iter_t it = {t->v, t->n, 0, {0}, "", 0};
    it.now_ms = (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
    size_t bytes = 0;
    tk_err_t e;
    tk_err_clear(&e);
    int rc = tk_plugin_export(t->set, d->name, NULL, next_sample, &it, count_bytes,
                              &bytes, &e);
    cb(ctx, d->name, d->media_type, bytes, rc < 0 ? e.msg : NULL);
  }
}

int tk_office_sample_text(const tk_office_sample_t *r, const char *plugin, int lineno,
                          char *out, size_t cap)
{
  switch (r->status) {
  case TK_SAMPLE_BAD_JSON:
  case TK_SAMPLE_NOT_OBJECT:
    snprintf(out, cap, "line %d: %s", lineno,
             r->status == TK_SAMPLE_NOT_OBJECT ? "not a JSON object" : "not valid JSON");
    return -1;
  case TK_SAMPLE_NO_TYPE:
    snprintf(out, cap,
             "line %d: invalid: no \"type\" field, and %s declares no content type",
             lineno, plugin);
    return 1;
  case TK_SAMPLE_INVALID:
  case TK_SAMPLE_NO_SUCH_TYPE:
    snprintf(out, cap, "line %d: invalid (%s): %s", lineno, r->type, r->message);
    return 1;
  case TK_SAMPLE_ERROR:
    snprintf(out, cap, "line %d: ERROR (%s): %s", lineno, r->type, r->message);
    return -1;
  case TK_SAMPLE_SUMMARY_ERROR:
    snprintf(out, cap, "line %d: ok (%s); summary ERROR: %s", lineno, r->type,
             r->message);
    return -1;
  case TK_SAMPLE_OK:
    snprintf(out, cap, "line %d: ok (%s): %s", lineno, r->type, r->summary);
    break;
  case TK_SAMPLE_OK_DEFAULT:
    snprintf(out, cap, "line %d: ok (%s; no summary, default): %s", lineno, r->type,
             r->summary);
    break;
  case TK_SAMPLE_DELETED:
    snprintf(out, cap, "line %d: deletion (%s)", lineno, r->type);
    break;
  default: /* blank */
    if (cap) out[0] = 0;
  }
  return 0;
}

void tk_office_verdict_text(const char *rule, const char *file, const char *verdict,
                            const char *reason, char *out, size_t cap)
{
  if (reason && reason[0])
    snprintf(out, cap, "  rule %s (%s): %s (%s)", rule, file, verdict, reason);
  else
    snprintf(out, cap, "  rule %s (%s): %s", rule, file, verdict);
}
