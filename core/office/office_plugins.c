/*
 * office_plugins.c: an office's plugins (contract in tk_office_plugins.h).
 * Owns the choice of plugin folder, record validation through content
 * types for the office clients, the export path from the store to an
 * export plugin, and the rule that a withdrawn-consent narrative never
 * reaches an export.
 *
 * Invariants: decrypted bodies live in one buffer per export, wiped when
 * the export ends; a record reaches the export plugin only after
 * tk_office_export_prepare ran on it.
 *
 * Threads: see tk_office_plugins.h.
 */
#include "office_internal.h"
#include "office_report.h"
#include "tk_office_plugins.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tk_attach.h"
#include "tk_install.h"
#include "tk_body.h"

const char *tk_office_plugins_bundled(void)
{
  const char *env = getenv("TUNDUK_PLUGINS");
  return env && *env ? env : tk_install_plugin_dir();
}

int tk_office_plugins_dir(const char *home, char *dir, size_t cap, tk_err_t *err)
{
  struct stat st;
  if (tk_home_plugins_path(dir, cap, home, NULL) != 0)
    return tk_err_set(err, TK_ELIMIT, "plugin folder path is too long");
  if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
  int n = snprintf(dir, cap, "%s", tk_office_plugins_bundled());
  if (n < 0 || (size_t)n >= cap)
    return tk_err_set(err, TK_ELIMIT, "plugin folder path is too long");
  return 0;
}

const char *tk_office_home_dir(const tk_office_t *o)
{
  return o->home;
}

static int is_dir(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int tk_office_plugin_layers(const char *home, tk_office_layers_t *out, tk_err_t *err)
{
  memset(out, 0, sizeof *out);
  int n = snprintf(out->set, sizeof out->set, "%s/%s", home, TK_HOME_PLUGIN_SET_SUBDIR);
  if (n < 0 || (size_t)n >= sizeof out->set ||
      tk_home_plugins_path(out->home, sizeof out->home, home, NULL) != 0)
    return tk_err_set(err, TK_ELIMIT, "plugin folder path is too long");
  /* The bundled folder may be missing only when another layer is there. */
  int others = is_dir(out->set) || is_dir(out->home);
  out->v[0] = (tk_plugin_layer_t){"bundled", tk_office_plugins_bundled(), others};
  out->v[1] = (tk_plugin_layer_t){"set", out->set, 1};
  out->v[2] = (tk_plugin_layer_t){"home", out->home, 1};
  out->n = 3;
  return 0;
}

int tk_office_plugins_layered(tk_plugin_set_t **out, const tk_office_layers_t *l,
                              unsigned workers, tk_err_t *err)
{
  tk_plugin_set_t *s = NULL;
  *out = NULL;
  int rc = tk_plugin_set_new_jailed(&s, NULL, workers, err);
  if (rc < 0) return rc;
  if ((rc = tk_plugin_set_load_layers(s, l->v, l->n, NULL, err)) < 0) {
    tk_plugin_set_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int tk_office_plugins(tk_plugin_set_t **out, const char *home, char *dir, size_t cap,
                      tk_err_t *err)
{
  tk_office_layers_t l;
  *out = NULL;
  int rc = tk_office_plugin_layers(home, &l, err);
  if (!rc && dir && cap) rc = tk_office_plugins_dir(home, dir, cap, err);
  /* Two workers: the second starts only when two calls run at once. */
  return rc ? rc : tk_office_plugins_layered(out, &l, 2, err);
}

int tk_office_validate(tk_plugin_set_t *s, const char *type, const json_t *body,
                       tk_err_t *err)
{
  tk_buf_t b = TK_BUF_INIT;
  tk_err_t e;
  tk_err_clear(&e);
  int rc = tk_body_dump(body, &b);
  if (rc < 0) {
    tk_err_set(err, rc, "out of memory");
    goto done;
  }
  rc = tk_plugin_validate(s, type, TK_SLICE(b.p, b.n), &e);
  if (rc == TK_EINVAL) {
    /* The host says "content type '<type>': <reason>"; keep the reason. */
    char prefix[TK_MAX_TYPE_LEN + 32];
    snprintf(prefix, sizeof prefix, "content type '%s': ", type);
    const char *reason = e.msg;
    if (strncmp(reason, prefix, strlen(prefix)) == 0) reason += strlen(prefix);
    tk_err_set(err, rc, "%s", reason);
  } else if (rc < 0) {
    if (err) *err = e;
  }
done:
  tk_buf_wipe(&b);
  return rc;
}

int tk_office_export_prepare(json_t *body)
{
  json_t *pub = tk_attach_public(body); /* names and sizes; keys stay inside */
  if (pub) json_object_set_new(body, TK_ATTACH_FIELD, pub);
  json_t *consent = json_object_get(body, "consent");
  if (json_is_string(consent) && strcmp(json_string_value(consent), "withdrawn") == 0 &&
      json_object_del(body, "narrative") == 0)
    return 1;
  return 0;
}

/* ---- export ------------------------------------------------------------------ */

typedef struct export_ctx {
  tk_office_t *o;
  tk_record_info_t *recs;
  size_t nrecs;
  size_t next;
  tk_buf_t body; /* the current record's JSON: plaintext, wiped at the end */
  tk_rev_meta_t rm;
  tk_plugin_meta_t meta;
  char record_hex[2 * TK_RECORD_ID_LEN + 1], rev_hex[2 * TK_REV_ID_LEN + 1];
  char author[TK_DEVICE_ID_STRLEN];
  tk_office_export_stats_t *stats;
  int failed; /* the iterator failed: err says why */
  tk_err_t err;
} export_ctx_t;

/* Oldest record first; ties by id, so an export is reproducible. */
static int cmp_created(const void *a, const void *b)
{
  const tk_record_info_t *x = a, *y = b;
  if (x->created_hlc != y->created_hlc) return x->created_hlc < y->created_hlc ? -1 : 1;
  return memcmp(x->id, y->id, TK_RECORD_ID_LEN);
}

static int next_record(void *ud, tk_plugin_record_t *rec)
{
  export_ctx_t *x = ud;
  while (x->next < x->nrecs) {
    const tk_record_info_t *r = &x->recs[x->next++];
    json_t *body = NULL;
    int rc = tk_office_read(x->o, r->winner, &body, &x->rm, &x->err);
    if (rc == TK_ENOKEY) {
      x->stats->no_key++;
      continue;
    }
    if (rc < 0) {
      x->failed = 1;
      return rc;
    }
    if (tk_body_is_tombstone(body)) {
      json_decref(body);
      continue;
    }
    tk_office_export_prepare(body);
    if (x->body.p) tk_wipe(x->body.p, x->body.n);
    x->body.n = 0;
    rc = tk_body_dump(body, &x->body);
    json_decref(body);
    if (rc < 0) {
      x->failed = 1;
      return tk_err_set(&x->err, rc, "out of memory");
    }
    tk_hex_encode(x->record_hex, r->id, TK_RECORD_ID_LEN);
    tk_hex_encode(x->rev_hex, x->rm.id, TK_REV_ID_LEN);
    tk_device_id_format(x->author, x->rm.author);
    memset(&x->meta, 0, sizeof x->meta);
    x->meta.record_id = x->record_hex;
    x->meta.revision_id = x->rev_hex;
    x->meta.type = x->rm.type;
    x->meta.vault = x->rm.vault;
    x->meta.author = x->author;
    x->meta.hlc = x->rm.hlc;
    x->meta.size = x->rm.size;
    x->meta.generation = x->rm.generation;
    x->meta.nparents = x->rm.nparents;
    rec->body = TK_SLICE(x->body.p, x->body.n);
    rec->meta = &x->meta;
    x->stats->records++;
    return 1;
  }
  return 0;
}

int tk_office_export(tk_office_t *o, tk_plugin_set_t *s,
                     const tk_office_export_opts_t *opts, tk_plugin_write_fn write,
                     void *ud, tk_office_export_stats_t *stats, tk_err_t *err)
{
  tk_office_export_stats_t dummy;
  export_ctx_t x;
  json_t *info = NULL;
  char *info_text = NULL;
  memset(&x, 0, sizeof x);
  x.o = o;
  x.stats = stats ? stats : &dummy;
  memset(x.stats, 0, sizeof *x.stats);
  tk_err_clear(&x.err);
  if (!tk_plugin_set_find(s, TK_PLUGIN_EXPORT, opts->format))
    return tk_err_set(err, TK_ENOTFOUND, "no export format '%.64s'", opts->format);
  int rc = tk_store_records_array(tk_office_store(o), opts->type, opts->vault, 0, &x.recs,
                                  &x.nrecs, err);
  if (!rc) rc = tk__office_export_select(o, opts, x.recs, &x.nrecs, err);
  if (!rc) rc = tk__office_export_info(o, s, opts, &info, err);
  if (!rc && (info_text = json_dumps(info, JSON_COMPACT)) == NULL)
    rc = tk_err_set(err, TK_ENOMEM, "out of memory");
  if (rc) goto done;
  if (x.nrecs) qsort(x.recs, x.nrecs, sizeof *x.recs, cmp_created);
  rc = tk_plugin_export_info(s, opts->format, opts->redact,
                             TK_SLICE(info_text, strlen(info_text)), next_record, &x,
                             write, ud, err);
  /* A failure of the store or of decryption reads better than the host's
   * "reading record N": keep the iterator's own message. */
  if (rc < 0 && x.failed && err) *err = x.err;
done:
  tk_buf_wipe(&x.body);
  free(x.recs);
  free(info_text);
  json_decref(info);
  return rc;
}

int tk_office_export_check(const char *home, const char *format, tk_err_t *err)
{
  tk_plugin_set_t *s = NULL;
  int rc = tk_office_plugins(&s, home, NULL, 0, err);
  if (!rc && !tk_plugin_set_find(s, TK_PLUGIN_EXPORT, format))
    rc = tk_err_set(err, TK_EINVAL, "no export format '%s'; see 'tunduk plugin list'",
                    format);
  tk_plugin_set_free(s);
  return rc;
}

int tk_office_export_run(tk_office_t *o, const tk_office_export_opts_t *opts,
                         tk_office_write_fn write, void *ud,
                         tk_office_export_stats_t *stats, tk_err_t *err)
{
  tk_plugin_set_t *s = NULL;
  int rc = tk__office_plugins(o, &s, err);
  if (!rc) rc = tk__office_export_filters(o, opts->type, opts->vault, opts->redact, err);
  if (!rc) rc = tk_office_need_keys(o, err);
  return rc ? rc : tk_office_export(o, s, opts, write, ud, stats, err);
}
