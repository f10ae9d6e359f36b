/*
 * cmd_plugins.c: the office's plugins in the `tunduk` command: loading the
 * set once per run, validation and summaries for the record commands, and
 * the commands export, plugin list and plugin test.
 *
 * An export's output goes to stdout or, with -o FILE, to a temporary file
 * in FILE's folder (mode 0600) that is renamed over FILE only once written
 * and synced: a failed export leaves no partial file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli.h"
#include "tk_office_plugins.h"

#define SUMMARY_LIST_MAX 120 /* bytes of a plugin summary in a listing */

int cli_plugins(cli_t *c)
{
  if (c->plugins) return 0;
  return tk_office_plugins(&c->plugins, c->home, NULL, 0, &c->err);
}

int cli_validate(cli_t *c, const char *type, const json_t *body)
{
  tk_err_t e;
  int rc = cli_plugins(c);
  if (rc) return rc;
  tk_err_clear(&e);
  rc = tk_office_validate(c->plugins, type, body, &e);
  if (rc == TK_ENOTFOUND)
    return tk_err_set(&c->err, TK_EINVAL,
                      "no content type '%s'; see 'tunduk plugin list'", type);
  if (rc == TK_EINVAL)
    return tk_err_set(&c->err, rc, "%s record invalid: %s", type, e.msg);
  if (rc < 0) return tk_err_set(&c->err, rc, "%s record not checked: %s", type, e.msg);
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

void cli_summary(cli_t *c, const char *type, const json_t *body, char *out, size_t n)
{
  const tk_plugin_decl_t *d = NULL;
  tk_buf_t js = TK_BUF_INIT, line = TK_BUF_INIT;
  tk_err_t e;
  if (cli_plugins(c) == 0) d = tk_plugin_set_find(c->plugins, TK_PLUGIN_TYPE, type);
  if (d && d->has_summary && tk_body_dump(body, &js) == 0 &&
      tk_plugin_summary(c->plugins, type, TK_SLICE(js.p, js.n), &line, &e) == 0) {
    snprintf(out, n, "%s", (const char *)line.p);
    utf8_cut(out, SUMMARY_LIST_MAX);
  } else {
    tk_body_summary(body, out, n < 61 ? n : 61);
  }
  tk_buf_wipe(&js);
  tk_buf_wipe(&line);
}

/* ---- export ------------------------------------------------------------------ */

typedef struct out_file {
  int fd;
  FILE *f; /* stdout when fd < 0 */
} out_file_t;

static int write_out(void *ud, const void *p, size_t n)
{
  out_file_t *o = ud;
  const char *s = p;
  if (o->fd < 0) return fwrite(p, 1, n, o->f) == n ? 0 : TK_EIO;
  while (n) {
    ssize_t w = write(o->fd, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return TK_EIO;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Splits "a,b,c" into list (NULL-terminated, pointers into buf). */
static int parse_redact(cli_t *c, char *buf, const char **list, size_t max)
{
  size_t n = 0;
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    while (*tok == ' ')
      tok++;
    if (!*tok) continue;
    if (n + 1 >= max)
      return tk_err_set(&c->err, TK_ELIMIT, "--redact names more than %zu fields",
                        max - 1);
    list[n++] = tok;
  }
  list[n] = NULL;
  if (!n) return tk_err_set(&c->err, TK_EINVAL, "--redact needs field names");
  return 0;
}

int cmd_export(cli_t *c)
{
  const char *redact[TK_OFFICE_MAX_REDACT + 1] = {NULL};
  char *redact_buf = NULL, *tmp = NULL;
  out_file_t o = {-1, stdout};
  tk_office_export_stats_t st;
  tk_office_export_opts_t opts = {c->format, c->type, c->vault, NULL};
  int rc = 0;
  if (!c->format)
    return cli_usage("'export' needs --format F (see 'tunduk plugin list')");
  if (c->redact) {
    if (!(redact_buf = strdup(c->redact))) return cli_fail(c, TK_ENOMEM);
    rc = parse_redact(c, redact_buf, redact, sizeof redact / sizeof redact[0]);
    opts.redact = redact;
  }
  if (!rc) rc = cli_plugins(c);
  if (!rc && !tk_plugin_set_find(c->plugins, TK_PLUGIN_EXPORT, c->format))
    rc = tk_err_set(&c->err, TK_EINVAL, "no export format '%s'; see 'tunduk plugin list'",
                    c->format);
  if (!rc) rc = cli_open(c, 1);
  if (!rc && c->output) {
    size_t len = strlen(c->output) + 16;
    if (!(tmp = malloc(len))) {
      rc = tk_err_set(&c->err, TK_ENOMEM, "out of memory");
    } else {
      snprintf(tmp, len, "%s.tmp-XXXXXX", c->output);
      if ((o.fd = mkstemp(tmp)) < 0) { /* mkstemp creates it 0600 */
        rc = tk_err_set(&c->err, TK_EIO, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        tmp = NULL;
      }
    }
  }
  if (!rc)
    rc = tk_office_export(c->office, c->plugins, &opts, write_out, &o, &st, &c->err);
  if (!rc && o.fd < 0 && fflush(stdout) != 0)
    rc = tk_err_set(&c->err, TK_EIO, "cannot write the export to stdout");
  if (o.fd >= 0) {
    if (!rc && fsync(o.fd) != 0)
      rc = tk_err_set(&c->err, TK_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (close(o.fd) != 0 && !rc)
      rc = tk_err_set(&c->err, TK_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, c->output) != 0)
      rc = tk_err_set(&c->err, TK_EIO, "cannot rename %s to %s: %s", tmp, c->output,
                      strerror(errno));
    if (rc) unlink(tmp);
  }
  free(tmp);
  free(redact_buf);
  if (rc) return cli_fail(c, rc);
  if (st.no_key)
    fprintf(stderr,
            "tunduk: note: %llu records skipped: this device holds no key for "
            "their vault\n",
            (unsigned long long)st.no_key);
  if (c->output)
    fprintf(stderr, "tunduk: exported %llu records to %s (%s)\n",
            (unsigned long long)st.records, c->output, c->format);
  return EXIT_OK;
}

/* ---- plugin list ------------------------------------------------------------- */

static const char *const kind_names[TK_PLUGIN_NKINDS] = {"content type", "export",
                                                         "moderation"};
static const char *const field_kind_names[] = {"text",    "date",    "datetime", "enum",
                                               "integer", "boolean", "list",     "ref"};

static json_t *decl_json(const tk_plugin_decl_t *d)
{
  json_t *j = json_pack("{s:s,s:s,s:s}", "name", d->name, "kind", kind_names[d->kind],
                        "file", d->plugin);
  if (!j) return NULL;
  if (d->media_type) json_object_set_new(j, "media_type", json_string(d->media_type));
  if (d->kind == TK_PLUGIN_TYPE) {
    json_t *fields = json_array();
    for (size_t i = 0; i < d->nfields; i++) {
      const tk_plugin_field_t *f = &d->fields[i];
      json_t *fj = json_pack("{s:s,s:s,s:b}", "name", f->name, "kind",
                             field_kind_names[f->kind], "required", f->required);
      if (f->nvalues) {
        json_t *vals = json_array();
        for (size_t k = 0; k < f->nvalues; k++)
          json_array_append_new(vals, json_string(f->values[k]));
        json_object_set_new(fj, "values", vals);
      }
      json_array_append_new(fields, fj);
    }
    json_object_set_new(j, "fields", fields);
    json_object_set_new(j, "validate", json_boolean(d->has_validate));
    json_object_set_new(j, "summary", json_boolean(d->has_summary));
    json_object_set_new(j, "merge", json_boolean(d->has_merge));
  }
  return j;
}

static int plugin_list(cli_t *c)
{
  char dir[4096];
  tk_plugin_set_t *s = NULL;
  int rc = tk_office_plugins(&s, c->home, dir, sizeof dir, &c->err);
  if (rc) return cli_fail(c, rc);
  size_t nerr = tk_plugin_set_load_errors(s);
  if (c->json) {
    json_t *j = json_pack("{s:s,s:[],s:[]}", "folder", dir, "plugins", "errors");
    for (int k = 0; k < TK_PLUGIN_NKINDS; k++)
      for (size_t i = 0; i < tk_plugin_set_count(s, k); i++)
        json_array_append_new(json_object_get(j, "plugins"),
                              decl_json(tk_plugin_set_decl(s, k, i)));
    for (size_t i = 0; i < nerr; i++)
      json_array_append_new(json_object_get(j, "errors"),
                            json_string(tk_plugin_set_load_error(s, i)));
    cli_print_json(j);
    json_decref(j);
  } else {
    printf("plugins from %s\n", dir);
    printf("%-16s %-14s %-16s %s\n", "NAME", "KIND", "FILE", "DETAIL");
    for (int k = 0; k < TK_PLUGIN_NKINDS; k++) {
      for (size_t i = 0; i < tk_plugin_set_count(s, k); i++) {
        const tk_plugin_decl_t *d = tk_plugin_set_decl(s, k, i);
        char detail[128] = "";
        if (k == TK_PLUGIN_TYPE) {
          size_t req = 0;
          for (size_t f = 0; f < d->nfields; f++)
            req += d->fields[f].required;
          snprintf(detail, sizeof detail, "%zu fields (%zu required)%s%s%s", d->nfields,
                   req, d->has_validate ? ", validate" : "",
                   d->has_summary ? ", summary" : "", d->has_merge ? ", merge" : "");
        } else if (k == TK_PLUGIN_EXPORT) {
          snprintf(detail, sizeof detail, "%s", d->media_type);
        }
        printf("%-16s %-14s %-16s %s\n", d->name, kind_names[k], d->plugin, detail);
      }
    }
    if (nerr) printf("\nnot loaded:\n");
    for (size_t i = 0; i < nerr; i++)
      printf("  %s\n", tk_plugin_set_load_error(s, i));
  }
  tk_plugin_set_free(s);
  return nerr ? EXIT_FAIL : EXIT_OK;
}

/* ---- plugin test ------------------------------------------------------------- */

typedef struct sample {
  int line;
  char type[TK_MAX_TYPE_LEN + 1];
  tk_buf_t body; /* compact JSON, prepared for export */
} sample_t;

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

static int cmp_names(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A set of the office folder's plugins with `path` in place of the
 * folder's plugin of the same file name. */
static int load_with_file(cli_t *c, const char *dir, const char *path,
                          tk_plugin_set_t **out)
{
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  char *names[TK_PLUGIN_MAX_FILES];
  size_t n = 0;
  tk_plugin_set_t *s = NULL;
  int rc = tk_plugin_set_new_jailed(&s, NULL, 1, &c->err);
  if (rc) return rc;
  DIR *d = opendir(dir);
  struct dirent *de;
  while (d && (de = readdir(d)) && n < TK_PLUGIN_MAX_FILES)
    if (de->d_name[0] != '.' && is_lua_name(de->d_name) && strcmp(de->d_name, base) != 0)
      if ((names[n] = strdup(de->d_name))) n++;
  if (d) closedir(d);
  qsort(names, n, sizeof *names, cmp_names);
  for (size_t i = 0; i < n; i++) {
    char p[4096];
    tk_err_t e;
    int len = snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    if (len > 0 && (size_t)len < sizeof p && tk_plugin_set_add_file(s, p, &e) < 0)
      printf("not loaded: %s\n", e.msg);
    free(names[i]);
  }
  rc = tk_plugin_set_add_file(s, path, &c->err);
  if (rc) {
    tk_plugin_set_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* Reads the next line of f into b (NUL-terminated, without the newline).
 * Returns 1, 0 at the end, or TK_ELIMIT past TK_MAX_BODY_JSON. */
static int read_line(FILE *f, tk_buf_t *b)
{
  int ch, any = 0;
  b->n = 0;
  while ((ch = fgetc(f)) != EOF) {
    any = 1;
    if (ch == '\n') break;
    if (b->n >= TK_MAX_BODY_JSON) return TK_ELIMIT;
    if (tk_buf_append_u8(b, (uint8_t)ch) < 0) return TK_ENOMEM;
  }
  if (tk_buf_append_u8(b, 0) < 0) return TK_ENOMEM;
  b->n--;
  if (b->n && b->p[b->n - 1] == '\r') b->p[--b->n] = 0;
  return any;
}

static void free_samples(sample_t *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    tk_buf_free(&v[i].body);
  free(v);
}

static int plugin_test(cli_t *c)
{
  const char *which = c->args[1], *samples_path = c->args[2];
  char dir[4096];
  tk_plugin_set_t *s = NULL;
  const char *plugin_name = NULL, *default_type = NULL;
  sample_t *samples = NULL;
  size_t nsamples = 0, cap = 0;
  tk_buf_t line = TK_BUF_INIT;
  FILE *f = NULL;
  int code = EXIT_OK, lineno = 0, ninvalid = 0;
  struct stat st;

  int rc = tk_office_plugins_dir(c->home, dir, sizeof dir, &c->err);
  if (rc) return cli_fail(c, rc);
  if (is_lua_name(which) && stat(which, &st) == 0 && S_ISREG(st.st_mode)) {
    rc = load_with_file(c, dir, which, &s);
    if (rc) return cli_fail(c, rc);
    plugin_name = strrchr(which, '/') ? strrchr(which, '/') + 1 : which;
  } else {
    if ((rc = cli_plugins(c))) return cli_fail(c, rc);
    s = c->plugins;
    c->plugins = NULL;
    for (int k = 0; k < TK_PLUGIN_NKINDS && !plugin_name; k++)
      for (size_t i = 0; i < tk_plugin_set_count(s, k) && !plugin_name; i++) {
        const tk_plugin_decl_t *d = tk_plugin_set_decl(s, k, i);
        size_t wn = strlen(which);
        if (strcmp(d->name, which) == 0 || strcmp(d->plugin, which) == 0 ||
            (strncmp(d->plugin, which, wn) == 0 && strcmp(d->plugin + wn, ".lua") == 0))
          plugin_name = d->plugin;
      }
    if (!plugin_name) {
      tk_err_set(&c->err, TK_ENOTFOUND,
                 "no plugin '%s' in %s (give a name from 'tunduk plugin list' or a "
                 "path to a .lua file)",
                 which, dir);
      code = cli_fail(c, TK_ENOTFOUND);
      goto done;
    }
  }
  for (size_t i = 0; i < tk_plugin_set_count(s, TK_PLUGIN_TYPE) && !default_type; i++) {
    const tk_plugin_decl_t *d = tk_plugin_set_decl(s, TK_PLUGIN_TYPE, i);
    if (strcmp(d->plugin, plugin_name) == 0) default_type = d->name;
  }
  printf("plugin %s", plugin_name);
  if (default_type) printf(" (content type %s)", default_type);
  printf(", samples %s\n", samples_path);

  if (!(f = strcmp(samples_path, "-") == 0 ? stdin : fopen(samples_path, "rb"))) {
    tk_err_set(&c->err, TK_EIO, "cannot open %s: %s", samples_path, strerror(errno));
    code = cli_fail(c, TK_EIO);
    goto done;
  }
  for (;;) {
    int r = read_line(f, &line);
    if (r == 0) break;
    lineno++;
    if (r < 0) {
      fprintf(stderr, "tunduk: %s:%d: line longer than %u bytes\n", samples_path, lineno,
              TK_MAX_BODY_JSON);
      code = EXIT_FAIL;
      break;
    }
    const char *p = (const char *)line.p;
    while (*p == ' ' || *p == '\t')
      p++;
    if (!*p) continue; /* blank lines are allowed */
    json_error_t je;
    json_t *body = json_loadb((const char *)line.p, line.n, JSON_REJECT_DUPLICATES, &je);
    if (!body || !json_is_object(body)) {
      fprintf(stderr, "tunduk: %s:%d:%d: %s\n", samples_path, lineno,
              body ? 1 : je.column, body ? "not a JSON object" : je.text);
      printf("line %d: %s\n", lineno, body ? "not a JSON object" : "not valid JSON");
      json_decref(body);
      code = EXIT_FAIL;
      continue;
    }
    /* The sample's "type" picks the content type and is not part of it. */
    char type[TK_MAX_TYPE_LEN + 1] = "";
    json_t *tj = json_object_get(body, "type");
    if (json_is_string(tj) && json_string_length(tj) <= TK_MAX_TYPE_LEN) {
      snprintf(type, sizeof type, "%s", json_string_value(tj));
      json_object_del(body, "type");
    } else if (default_type) {
      snprintf(type, sizeof type, "%s", default_type);
    }
    tk_err_t e;
    tk_err_clear(&e);
    if (!type[0]) {
      printf("line %d: invalid: no \"type\" field, and %s declares no content type\n",
             lineno, plugin_name);
      ninvalid++;
      json_decref(body);
      continue;
    }
    rc = tk_office_validate(s, type, body, &e);
    if (rc == TK_EINVAL || rc == TK_ENOTFOUND) {
      printf("line %d: invalid (%s): %s\n", lineno, type,
             rc == TK_ENOTFOUND ? "no such content type" : e.msg);
      ninvalid++;
      json_decref(body);
      continue;
    }
    if (rc < 0) {
      printf("line %d: ERROR (%s): %s\n", lineno, type, e.msg);
      code = EXIT_FAIL;
      json_decref(body);
      continue;
    }
    char summary[TK_PLUGIN_MAX_SUMMARY + 1];
    const tk_plugin_decl_t *d = tk_plugin_set_find(s, TK_PLUGIN_TYPE, type);
    tk_buf_t js = TK_BUF_INIT, out = TK_BUF_INIT;
    if (d->has_summary) {
      rc = tk_body_dump(body, &js);
      if (!rc) rc = tk_plugin_summary(s, type, TK_SLICE(js.p, js.n), &out, &e);
      if (rc) {
        printf("line %d: ok (%s); summary ERROR: %s\n", lineno, type, e.msg);
        code = EXIT_FAIL;
      } else {
        printf("line %d: ok (%s): %s\n", lineno, type, (const char *)out.p);
      }
    } else {
      tk_body_summary(body, summary, sizeof summary);
      printf("line %d: ok (%s; no summary, default): %s\n", lineno, type, summary);
    }
    tk_buf_free(&js);
    tk_buf_free(&out);
    if (nsamples == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      sample_t *nv = realloc(samples, ncap * sizeof *nv);
      if (!nv) {
        json_decref(body);
        code = cli_fail(c, TK_ENOMEM);
        goto done;
      }
      samples = nv;
      cap = ncap;
    }
    sample_t *sm = &samples[nsamples++];
    memset(sm, 0, sizeof *sm);
    sm->line = lineno;
    snprintf(sm->type, sizeof sm->type, "%s", type);
    tk_office_export_prepare(body);
    if (tk_body_dump(body, &sm->body) < 0) {
      json_decref(body);
      code = cli_fail(c, TK_ENOMEM);
      goto done;
    }
    json_decref(body);
  }
  printf("%zu valid, %d invalid\n", nsamples, ninvalid);

  size_t nexp = tk_plugin_set_count(s, TK_PLUGIN_EXPORT);
  if (nexp) printf("exports over the %zu valid records:\n", nsamples);
  struct timeval tv;
  gettimeofday(&tv, NULL);
  for (size_t i = 0; i < nexp; i++) {
    const tk_plugin_decl_t *d = tk_plugin_set_decl(s, TK_PLUGIN_EXPORT, i);
    sample_iter_t it = {samples, nsamples, 0, {0}, "", 0};
    it.now_ms = (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
    size_t bytes = 0;
    tk_err_t e;
    tk_err_clear(&e);
    if (tk_plugin_export(s, d->name, NULL, next_sample, &it, count_bytes, &bytes, &e) <
        0) {
      printf("  %-8s ERROR: %s\n", d->name, e.msg);
      code = EXIT_FAIL;
    } else {
      printf("  %-8s %zu bytes (%s)\n", d->name, bytes, d->media_type);
    }
  }
done:
  if (f && f != stdin) fclose(f);
  tk_buf_free(&line);
  free_samples(samples, nsamples);
  tk_plugin_set_free(s);
  return code;
}

int cmd_plugin(cli_t *c)
{
  const char *sub = c->args[0];
  if (strcmp(sub, "list") == 0) {
    if (c->nargs != 1) return cli_usage("'plugin list' takes no arguments");
    return plugin_list(c);
  }
  if (strcmp(sub, "test") == 0) {
    if (c->nargs != 3) return cli_usage("usage: tunduk plugin test PLUGIN SAMPLES.jsonl");
    if (c->json) return cli_usage("'plugin test' does not take --json");
    return plugin_test(c);
  }
  return cli_usage("unknown plugin command '%s' (list, test)", sub);
}
