/*
 * cmd_plugins.c: the office's plugins in the `tunduk` command: export,
 * plugin list and plugin test, printing what the office API returns.
 *
 * An export's output goes to stdout or, with -o FILE, to a temporary file
 * in FILE's folder (mode 0600) that is renamed over FILE only once written
 * and synced: a failed export leaves no partial file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

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

/* "+06:00", "-03:30", "+6", "Z" or "UTC" as minutes east of UTC. */
static int parse_tz(cli_t *c, const char *s, int *min)
{
  size_t n = strlen(s);
#define D(i) (s[i] >= '0' && s[i] <= '9')
  int h = -1, m = 0;
  if (strcmp(s, "Z") == 0 || strcmp(s, "UTC") == 0) return *min = 0, 0;
  if (n >= 2 && (s[0] == '+' || s[0] == '-')) {
    if (n == 2 && D(1)) h = s[1] - '0';
    if (n == 3 && D(1) && D(2)) h = (s[1] - '0') * 10 + (s[2] - '0');
    if (n == 6 && D(1) && D(2) && s[3] == ':' && D(4) && D(5)) {
      h = (s[1] - '0') * 10 + (s[2] - '0');
      m = (s[4] - '0') * 10 + (s[5] - '0');
    }
  }
#undef D
  if (h >= 0 && m < 60 && h * 60 + m <= TK_OFFICE_TZ_MAX_MIN) {
    *min = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
    return 0;
  }
  return tk_err_set(&c->err, TK_EINVAL,
                    "--tz '%.32s' is not an offset from UTC like +06:00 "
                    "(-14:00..+14:00)",
                    s);
}

/* --record ID: the ids of its report (tk_office_report_records) as a
 * NULL-terminated list into ids (the strings stay in *list). */
static int report_ids(cli_t *c, json_t **list, const char ***ids)
{
  int rc = tk_office_report_records(c->office, c->record, list, &c->err);
  if (rc) return rc;
  size_t n = json_array_size(*list);
  if (!(*ids = calloc(n + 1, sizeof **ids)))
    return tk_err_set(&c->err, TK_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++)
    (*ids)[i] = json_string_value(json_array_get(*list, i));
  return 0;
}

int cmd_export(cli_t *c)
{
  const char *redact[TK_OFFICE_MAX_REDACT + 1] = {NULL};
  char *redact_buf = NULL, *tmp = NULL;
  out_file_t o = {-1, stdout};
  tk_office_export_stats_t st;
  tk_office_export_opts_t opts = {
      .format = c->format, .type = c->type, .vault = c->vault};
  json_t *ids_list = NULL;
  const char **ids = NULL;
  int rc = 0;
  opts.lang = c->lang;
  if (c->tz && parse_tz(c, c->tz, &opts.tz_offset_min)) return cli_fail(c, TK_EINVAL);
  if (!c->format)
    return cli_usage("'export' needs --format F (see 'tunduk plugin list')");
  if (c->redact) {
    if (!(redact_buf = strdup(c->redact))) return cli_fail(c, TK_ENOMEM);
    rc = parse_redact(c, redact_buf, redact, sizeof redact / sizeof redact[0]);
    opts.redact = redact;
  }
  if (!rc) rc = tk_office_export_check(c->home, c->format, &c->err);
  if (!rc) rc = cli_open(c, 1);
  if (!rc && c->record && !(rc = report_ids(c, &ids_list, &ids))) opts.records = ids;
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
  if (!rc) rc = tk_office_export_run(c->office, &opts, write_out, &o, &st, &c->err);
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
  free(ids);
  json_decref(ids_list);
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

static void decl_detail(const json_t *d, char *detail, size_t cap)
{
  const char *kind = json_string_value(json_object_get(d, "kind"));
  detail[0] = 0;
  if (strcmp(kind, "content type") == 0) {
    const json_t *fields = json_object_get(d, "fields");
    size_t req = 0;
    for (size_t f = 0; f < json_array_size(fields); f++)
      req += json_is_true(json_object_get(json_array_get(fields, f), "required"));
    snprintf(detail, cap, "%zu fields (%zu required)%s%s%s", json_array_size(fields), req,
             json_is_true(json_object_get(d, "validate")) ? ", validate" : "",
             json_is_true(json_object_get(d, "summary")) ? ", summary" : "",
             json_is_true(json_object_get(d, "merge")) ? ", merge" : "");
  } else if (strcmp(kind, "export") == 0) {
    snprintf(detail, cap, "%s", json_string_value(json_object_get(d, "media_type")));
  }
}

/* Where a declaration comes from, e.g. "home (over bundled)". */
static void decl_from(const json_t *d, char *from, size_t cap)
{
  const char *layer = json_string_value(json_object_get(d, "from"));
  const char *over = json_string_value(json_object_get(d, "overrides"));
  snprintf(from, cap, "%s%s%s%s%s", layer ? layer : "-", over ? " (over " : "",
           over ? over : "", over ? ")" : "",
           json_is_true(json_object_get(d, "kept")) ? ", its file failed" : "");
}

static int str_width(const json_t *d, const char *key)
{
  const char *v = json_string_value(json_object_get(d, key));
  return v ? (int)strlen(v) : 0;
}

/* The table of declarations, each column as wide as its longest entry. */
static void print_decls(const json_t *plugins)
{
  int w[4] = {4, 4, 4, 4}; /* NAME KIND FILE FROM */
  char from[160], detail[160];
  size_t i;
  json_t *d;
  json_array_foreach(plugins, i, d)
  {
    decl_from(d, from, sizeof from);
    int v[4] = {str_width(d, "name"), str_width(d, "kind"), str_width(d, "file"),
                (int)strlen(from)};
    for (int k = 0; k < 4; k++)
      if (v[k] > w[k]) w[k] = v[k];
  }
  printf("%-*s %-*s %-*s %-*s %s\n", w[0], "NAME", w[1], "KIND", w[2], "FILE", w[3],
         "FROM", "DETAIL");
  json_array_foreach(plugins, i, d)
  {
    decl_from(d, from, sizeof from);
    decl_detail(d, detail, sizeof detail);
    printf("%-*s %-*s %-*s %-*s%s%s\n", w[0],
           json_string_value(json_object_get(d, "name")), w[1],
           json_string_value(json_object_get(d, "kind")), w[2],
           json_string_value(json_object_get(d, "file")), detail[0] ? w[3] : 0, from,
           detail[0] ? " " : "", detail);
  }
}

/* plugin list: the followed vault and the installed set ({following,
 * installed}), or NULL for a home without a store. */
static json_t *set_info(cli_t *c)
{
  json_t *j = NULL;
  if (cli_open(c, 0) != 0 || tk_office_plugin_set_info(c->office, &j, &c->err) != 0)
    return NULL;
  return j;
}

/* Prints set_info's lines, when there is a followed vault or a set. */
static void print_set_info(const json_t *j)
{
  const json_t *in = json_object_get(j, "installed");
  const char *following = json_string_value(json_object_get(j, "following"));
  if (!following && !json_is_object(in)) return;
  printf("\nplugin set: %s%s", following ? "following vault " : "not following a vault",
         following ? following : "");
  if (json_is_object(in))
    printf("; installed set %lld from %s (revision %.16s, signed by %s)\n",
           (long long)json_integer_value(json_object_get(in, "version")),
           json_string_value(json_object_get(in, "vault")),
           json_string_value(json_object_get(in, "revision")),
           json_string_value(json_object_get(in, "author")));
  else
    printf("; no set installed\n");
}

static int plugin_list(cli_t *c)
{
  json_t *j = NULL, *v;
  size_t i;
  int rc = tk_office_plugin_list(c->home, &j, &c->err);
  if (rc) return cli_fail(c, rc);
  const json_t *errors = json_object_get(j, "errors");
  size_t nerr = json_array_size(errors);
  json_t *set = set_info(c);
  if (c->json) {
    json_object_set_new(j, "plugin_set", set ? set : json_null());
    set = NULL;
    cli_print_json(j);
  } else {
    printf("plugins from %s\n", json_string_value(json_object_get(j, "folder")));
    json_array_foreach(json_object_get(j, "layers"), i, v)
    {
      printf("  %-8s %s%s\n", json_string_value(json_object_get(v, "name")),
             json_string_value(json_object_get(v, "folder")),
             json_is_true(json_object_get(v, "present")) ? "" : " (none)");
    }
    print_decls(json_object_get(j, "plugins"));
    if (nerr) printf("\nnot loaded:\n");
    json_array_foreach(errors, i, v) printf("  %s\n", json_string_value(v));
    if (set) print_set_info(set);
  }
  json_decref(set);
  json_decref(j);
  return nerr ? EXIT_FAIL : EXIT_OK;
}

/* ---- plugin test ------------------------------------------------------------- */

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

/* One rule's verdict on the sample just printed. */
static void print_verdict(void *ctx, const char *rule, const char *file,
                          const char *verdict, const char *reason)
{
  char text[TK_OFFICE_SAMPLE_TEXT];
  (void)ctx;
  tk_office_verdict_text(rule, file, verdict, reason, text, sizeof text);
  puts(text);
}

static void print_export(void *ctx, const char *name, const char *media_type,
                         size_t bytes, const char *error)
{
  int *code = ctx;
  if (error) {
    printf("  %-8s ERROR: %s\n", name, error);
    *code = EXIT_FAIL;
  } else {
    printf("  %-8s %zu bytes (%s)\n", name, bytes, media_type);
  }
}

static int plugin_test(cli_t *c)
{
  const char *samples_path = c->args[2];
  tk_office_plugin_test_t *t = NULL;
  json_t *notes = NULL, *n;
  size_t i;
  tk_buf_t line = TK_BUF_INIT;
  FILE *f = NULL;
  int code = EXIT_OK, lineno = 0, ninvalid = 0;

  int rc = tk_office_plugin_test_open(&t, c->home, c->args[1], &notes, &c->err);
  json_array_foreach(notes, i, n) printf("not loaded: %s\n", json_string_value(n));
  json_decref(notes);
  if (rc) return cli_fail(c, rc);
  const char *plugin = tk_office_plugin_test_plugin(t),
             *default_type = tk_office_plugin_test_type(t);
  printf("plugin %s", plugin);
  if (default_type) printf(" (content type %s)", default_type);
  printf(", samples %s\n", samples_path);

  if (!(f = strcmp(samples_path, "-") == 0 ? stdin : fopen(samples_path, "rb"))) {
    tk_err_set(&c->err, TK_EIO, "cannot open %s: %s", samples_path, strerror(errno));
    code = cli_fail(c, TK_EIO);
    goto done;
  }
  for (;;) {
    tk_office_sample_t res;
    int r = read_line(f, &line);
    if (r == 0) break;
    lineno++;
    if (r < 0) {
      fprintf(stderr, "tunduk: %s:%d: line longer than %u bytes\n", samples_path, lineno,
              TK_MAX_BODY_JSON);
      code = EXIT_FAIL;
      break;
    }
    rc = tk_office_plugin_test_line(t, (const char *)line.p, line.n, lineno, &res,
                                    &c->err);
    if (rc) {
      code = cli_fail(c, rc);
      goto done;
    }
    if (res.status == TK_SAMPLE_BAD_JSON || res.status == TK_SAMPLE_NOT_OBJECT)
      fprintf(stderr, "tunduk: %s:%d:%d: %s\n", samples_path, lineno, res.column,
              res.message);
    char text[TK_OFFICE_SAMPLE_TEXT];
    int k = tk_office_sample_text(&res, plugin, lineno, text, sizeof text);
    if (text[0]) puts(text);
    if (k > 0) ninvalid++;
    if (k < 0) code = EXIT_FAIL;
    tk_office_plugin_test_moderate(t, print_verdict, NULL);
  }
  printf("%zu valid, %d invalid\n", tk_office_plugin_test_valid(t), ninvalid);
  if (tk_office_plugin_test_nexports(t))
    printf("exports over the %zu valid records:\n", tk_office_plugin_test_valid(t));
  tk_office_plugin_test_exports(t, print_export, &code);
done:
  if (f && f != stdin) fclose(f);
  tk_buf_free(&line);
  tk_office_plugin_test_free(t);
  return code;
}

/* ---- plugin publish, plugin follow ------------------------------------------- */

/* --version N: a whole number from 1 up. */
static int parse_version(const char *s, uint64_t *out)
{
  char *end;
  if (!s || *s < '0' || *s > '9') return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < 1) return -1;
  *out = v;
  return 0;
}

static int plugin_publish(cli_t *c)
{
  tk_office_set_published_t p;
  uint64_t version = 0;
  if (c->set_version && parse_version(c->set_version, &version) != 0)
    return cli_usage("--version takes a whole number from 1 up, not '%s'",
                     c->set_version);
  int rc = cli_open(c, 0);
  if (!rc)
    rc = tk_office_plugin_publish(c->office, c->args[1], c->args[2], version, NULL, &p,
                                  &c->err);
  if (rc) return cli_fail(c, rc);
  printf("published set %llu (%zu files) in vault %s: record %s, revision %s\n",
         (unsigned long long)p.version, p.nfiles, c->args[1], p.record, p.revision);
  printf("offices following %s install it on their next sync\n", c->args[1]);
  return EXIT_OK;
}

static int plugin_follow(cli_t *c)
{
  tk_office_set_apply_t r;
  int rc = cli_open(c, 0);
  if (!rc) rc = tk_office_plugin_follow(c->office, c->args[1], &r, &c->err);
  if (rc && !r.message[0]) return cli_fail(c, rc);
  printf("following vault %s for this office's plugin set\n", c->args[1]);
  if (r.message[0]) printf("%s\n", r.message);
  return rc ? EXIT_FAIL : EXIT_OK;
}

int cmd_plugin(cli_t *c)
{
  const char *sub = c->args[0];
  if (c->set_version && strcmp(sub, "publish") != 0)
    return cli_usage("only 'plugin publish' takes --version");
  if (strcmp(sub, "publish") == 0) {
    if (c->nargs != 3)
      return cli_usage("usage: tunduk plugin publish VAULT DIR [--version N]");
    if (c->json) return cli_usage("'plugin publish' does not take --json");
    return plugin_publish(c);
  }
  if (strcmp(sub, "follow") == 0) {
    if (c->nargs != 2) return cli_usage("usage: tunduk plugin follow VAULT");
    if (c->json) return cli_usage("'plugin follow' does not take --json");
    return plugin_follow(c);
  }
  if (strcmp(sub, "list") == 0) {
    if (c->nargs != 1) return cli_usage("'plugin list' takes no arguments");
    return plugin_list(c);
  }
  if (strcmp(sub, "test") == 0) {
    if (c->nargs != 3) return cli_usage("usage: tunduk plugin test PLUGIN SAMPLES.jsonl");
    if (c->json) return cli_usage("'plugin test' does not take --json");
    return plugin_test(c);
  }
  return cli_usage("unknown plugin command '%s' (list, test, publish, follow)", sub);
}
