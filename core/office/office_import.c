/*
 * office_import.c: bulk import of a CSV or JSON Lines file as new records
 * of one content type (tk_office_import, tk_office.h says what it does for
 * a caller). Here: reading the file as rows (tk_csv.h for CSV, a bounded
 * line reader for JSON Lines), the map and the conversion of cells to JSON
 * values, the first pass (every row checked: the declared fields here, the
 * content type's validate() in batches through tk_plugin_validate_many),
 * and the second (the accepted rows sealed and stored in transactions of
 * TK_OFFICE_IMPORT_BATCH records, with the import's progress in the store's
 * settings in the same transaction).
 *
 * Memory: one batch of rows at a time, and 17 bytes per row of the file
 * (whether it was accepted, and 16 bytes of the SHA-256 of the record the
 * first pass checked, so the second pass writes only what was checked).
 *
 * Threads: one, as tk_office_t, but for the checker thread the first pass
 * starts: it runs validate() over one batch (tk_plugin_validate_many, which
 * any thread may call) while the caller's thread reads the next, and
 * touches nothing else; it is joined before tk_office_import returns.
 */
#include "office_internal.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tk_body.h"
#include "tk_csv.h"
#include "tk_office_plugins.h"
#include "tk_plugin.h"

#define CHECK_BATCH 256 /* rows per tk_plugin_validate_many */
#define SIG_LEN 16      /* bytes of a row's record hash kept between the passes */
#define MAX_MAP_ENTRIES 1024
#define READ_BLOCK (64u << 10)

enum {
  CONV_AUTO = 0,
  CONV_TEXT,
  CONV_INTEGER,
  CONV_BOOLEAN,
  CONV_DATE,
  CONV_LIST,
  CONV_JSON
};
static const char *const conv_names[] = {"auto", "text", "integer", "boolean",
                                         "date", "list", "json"};

typedef struct map_entry {
  char *src, *field; /* field NULL: the column is left out */
  int conv;
  int seen; /* a column or key of the file */
} map_entry_t;

typedef struct column {
  char *name;        /* the header's */
  const char *field; /* NULL: left out */
  int conv;          /* CONV_*, CONV_AUTO resolved by the field's kind */
} column_t;

typedef struct row_sig {
  uint8_t ok;
  uint8_t h[SIG_LEN];
} row_sig_t;

typedef struct imp {
  tk_office_t *o;
  const tk_office_import_opts_t *opts;
  tk_office_import_result_t *r;
  const tk_plugin_decl_t *decl;
  tk_plugin_set_t *set;
  int csv;
  uint64_t max_rows;
  map_entry_t *map;
  size_t nmap;
  uint8_t map_sha[TK_HASH_LEN];
  column_t *cols;
  size_t ncols;
  row_sig_t *sigs;
  size_t nsigs, capsigs;
  int pass; /* 1: check, 2: write */
  int reporting;
  char key[160]; /* the setting that keeps this import's progress */
  /* the file */
  FILE *f;
  tk_sha256_ctx_t sha;
  tk_csv_t *reader;
  uint8_t *blk; /* JSON Lines: READ_BLOCK bytes */
  size_t pos, len;
  int eof;
  tk_buf_t line;
  uint64_t lineno; /* JSON Lines: of the next line */
} imp_t;

/* One row as read and converted. */
typedef struct row {
  uint64_t line;
  json_t *body; /* NULL: rejected while being converted */
  int blank;
} row_t;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *base_name(const char *path)
{
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* Reports one problem of the row at line (pass 1 only). */
__attribute__((format(printf, 5, 6))) static void
report(imp_t *m, uint64_t line, int col, const char *field, const char *fmt, ...)
{
  if (!m->reporting) return;
  tk_office_import_reject_t x;
  va_list ap;
  memset(&x, 0, sizeof x);
  x.line = line;
  x.column = col;
  if (col > 0 && (size_t)col <= m->ncols)
    snprintf(x.column_name, sizeof x.column_name, "%s", m->cols[col - 1].name);
  snprintf(x.field, sizeof x.field, "%s", field ? field : "");
  va_start(ap, fmt);
  vsnprintf(x.message, sizeof x.message, fmt, ap);
  va_end(ap);
  m->r->problems++;
  if (m->opts->reject) m->opts->reject(m->opts->ctx, &x);
}

/* ---- the map ---------------------------------------------------------------- */

static int conv_parse(const char *s, int *conv)
{
  for (int i = 1; i < (int)(sizeof conv_names / sizeof conv_names[0]); i++)
    if (strcmp(s, conv_names[i]) == 0) {
      *conv = i;
      return 0;
    }
  return TK_EINVAL;
}

static const tk_plugin_field_t *decl_field(const tk_plugin_decl_t *d, const char *name)
{
  for (size_t i = 0; i < d->nfields; i++)
    if (strcmp(d->fields[i].name, name) == 0) return &d->fields[i];
  return NULL;
}

/* "a, b, c" of the declared fields, for messages. */
static void field_list(const tk_plugin_decl_t *d, char *out, size_t cap)
{
  size_t at = 0;
  out[0] = 0;
  for (size_t i = 0; i < d->nfields && at + 1 < cap; i++) {
    int n = snprintf(out + at, cap - at, "%s%s", i ? ", " : "", d->fields[i].name);
    if (n < 0) break;
    at += (size_t)n;
  }
}

static int map_entry_parse(imp_t *m, const char *mp, const char *key, json_t *v,
                           map_entry_t *e, tk_err_t *err)
{
  const char *field = NULL, *type = NULL;
  e->conv = CONV_AUTO;
  if (json_is_null(v)) {
    field = NULL;
  } else if (json_is_string(v)) {
    field = json_string_value(v);
  } else if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x)
    {
      if (strcmp(k, "field") == 0 && json_is_string(x))
        field = json_string_value(x);
      else if (strcmp(k, "type") == 0 && json_is_string(x))
        type = json_string_value(x);
      else
        return tk_err_set(
            err, TK_EINVAL,
            "%s: '%s': \"%s\" is not a setting of a column (\"field\": NAME, "
            "\"type\": TYPE)",
            mp, key, k);
    }
    if (!field) field = key;
    if (type && conv_parse(type, &e->conv))
      return tk_err_set(
          err, TK_EINVAL,
          "%s: '%s': no type '%s' (text, integer, boolean, date, list, json)", mp, key,
          type);
  } else {
    return tk_err_set(err, TK_EINVAL,
                      "%s: '%s': give a field name, null (leave it out) or {\"field\": "
                      "NAME, \"type\": TYPE}",
                      mp, key);
  }
  if (field && (!*field || field[0] == '_' || strlen(field) > 63))
    return tk_err_set(
        err, TK_EINVAL,
        "%s: '%s': field name '%s' is not allowed (1..63 bytes, not starting "
        "with '_')",
        mp, key, field);
  if (field && m->decl->nfields && !decl_field(m->decl, field)) {
    char list[1024];
    field_list(m->decl, list, sizeof list);
    return tk_err_set(
        err, TK_EINVAL,
        "%s: '%s' -> '%s': content type '%s' has no field '%s' (its fields: "
        "%s)",
        mp, key, field, m->decl->name, field, list);
  }
  e->src = strdup(key);
  e->field = field ? strdup(field) : NULL;
  if (!e->src || (field && !e->field)) return tk_err_set(err, TK_ENOMEM, "out of memory");
  for (size_t i = 0; field && i < m->nmap; i++)
    if (m->map[i].field && strcmp(m->map[i].field, field) == 0)
      return tk_err_set(err, TK_EINVAL, "%s: '%s' and '%s' both go to field '%s'", mp,
                        m->map[i].src, key, field);
  return 0;
}

static int map_load(imp_t *m, tk_err_t *err)
{
  const char *mp = m->opts->map;
  json_error_t je;
  FILE *f = fopen(mp, "rb");
  if (!f) return tk_err_set(err, TK_EIO, "%s: %s", mp, strerror(errno));
  char *text = malloc(TK_OFFICE_IMPORT_MAX_MAP + 1);
  size_t n = text ? fread(text, 1, TK_OFFICE_IMPORT_MAX_MAP + 1, f) : 0;
  int bad_read = ferror(f);
  fclose(f);
  if (!text) return tk_err_set(err, TK_ENOMEM, "out of memory");
  if (bad_read) {
    free(text);
    return tk_err_set(err, TK_EIO, "%s: cannot read it", mp);
  }
  if (n > TK_OFFICE_IMPORT_MAX_MAP) {
    free(text);
    return tk_err_set(err, TK_ELIMIT, "%s: a map of more than %u bytes", mp,
                      TK_OFFICE_IMPORT_MAX_MAP);
  }
  tk_sha256(m->map_sha, text, n);
  json_t *j = json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
  free(text);
  if (!j)
    return tk_err_set(err, TK_EINVAL, "%s: line %d, column %d: %s", mp, je.line,
                      je.column, je.text);
  int rc = 0;
  if (!json_is_object(j)) {
    rc = tk_err_set(err, TK_EINVAL,
                    "%s: a map is a JSON object {\"column\": \"field\", ...}", mp);
  } else if (json_object_size(j) > MAX_MAP_ENTRIES) {
    rc = tk_err_set(err, TK_ELIMIT, "%s: more than %u columns", mp, MAX_MAP_ENTRIES);
  } else {
    m->map = calloc(json_object_size(j) + 1, sizeof *m->map);
    if (!m->map) rc = tk_err_set(err, TK_ENOMEM, "out of memory");
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
      if (rc) break;
      rc = map_entry_parse(m, mp, k, v, &m->map[m->nmap], err);
      if (!rc) m->nmap++;
    }
  }
  json_decref(j);
  return rc;
}

static map_entry_t *map_find(imp_t *m, const char *src, size_t n)
{
  for (size_t i = 0; i < m->nmap; i++)
    if (strlen(m->map[i].src) == n && memcmp(m->map[i].src, src, n) == 0)
      return &m->map[i];
  return NULL;
}

/* ---- converting a cell ------------------------------------------------------- */

/* The conversion a column gets: the map's, else its field's kind. */
static int conv_of(const imp_t *m, const char *field, int conv)
{
  if (conv != CONV_AUTO) return conv;
  const tk_plugin_field_t *f = field ? decl_field(m->decl, field) : NULL;
  if (!f) return CONV_TEXT;
  switch (f->kind) {
  case TK_FIELD_INTEGER:
    return CONV_INTEGER;
  case TK_FIELD_BOOLEAN:
    return CONV_BOOLEAN;
  case TK_FIELD_LIST:
    return CONV_LIST;
  case TK_FIELD_DATE:
    return CONV_DATE;
  default:
    return CONV_TEXT;
  }
}

static int same_word(const char *p, size_t n, const char *w)
{
  return strlen(w) == n && strncasecmp(p, w, n) == 0;
}

/* "DD.MM.YYYY" or "DD/MM/YYYY" as "YYYY-MM-DD" into out; 0 if it is one. */
static int date_dmy(const char *p, size_t n, char out[11])
{
  if (n != 10 || (p[2] != '.' && p[2] != '/') || p[5] != p[2]) return -1;
  for (int i = 0; i < 10; i++)
    if (i != 2 && i != 5 && !isdigit((unsigned char)p[i])) return -1;
  snprintf(out, 11, "%.4s-%.2s-%.2s", p + 6, p + 3, p);
  return 0;
}

/* The JSON value of cell text p/n under conv: 0 with *out (NULL: the field
 * is left out), or -1 with why. */
static int convert(int conv, const char *p, size_t n, json_t **out, char *why, size_t cap)
{
  *out = NULL;
  if (n == 0) return 0;
  if (conv == CONV_INTEGER) {
    char buf[32], *end = NULL;
    if (n < sizeof buf) {
      memcpy(buf, p, n);
      buf[n] = 0;
      errno = 0;
      long long v = strtoll(buf, &end, 10);
      if (errno == 0 && end == buf + n && !isspace((unsigned char)buf[0])) {
        *out = json_integer(v);
        return *out ? 0 : -1;
      }
    }
    snprintf(why, cap, "'%.*s' is not a whole number", (int)(n > 40 ? 40 : n), p);
    return -1;
  }
  if (conv == CONV_BOOLEAN) {
    if (same_word(p, n, "true") || same_word(p, n, "yes") || same_word(p, n, "1"))
      *out = json_true();
    else if (same_word(p, n, "false") || same_word(p, n, "no") || same_word(p, n, "0"))
      *out = json_false();
    if (*out) return 0;
    snprintf(why, cap, "'%.*s' is not true/false, yes/no or 1/0", (int)(n > 40 ? 40 : n),
             p);
    return -1;
  }
  if (conv == CONV_DATE) {
    char d[11];
    if (date_dmy(p, n, d) == 0) {
      *out = json_string(d);
      return *out ? 0 : -1;
    }
    /* else as it is: the field's check names what a date must look like */
  }
  if (conv == CONV_JSON || (conv == CONV_LIST && p[0] == '[')) {
    json_error_t je;
    *out = json_loadb(p, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!*out) {
      snprintf(why, cap, "not JSON (%s, at character %d)", je.text, je.position);
      return -1;
    }
    return 0;
  }
  if (conv == CONV_LIST) {
    json_t *a = json_array();
    size_t i = 0;
    while (a && i <= n) {
      size_t j = i;
      while (j < n && p[j] != ';')
        j++;
      size_t s = i, e = j;
      while (s < e && isspace((unsigned char)p[s]))
        s++;
      while (e > s && isspace((unsigned char)p[e - 1]))
        e--;
      if (e > s && json_array_append_new(a, json_stringn(p + s, e - s))) {
        json_decref(a);
        a = NULL;
      }
      i = j + 1;
    }
    *out = a;
    return a ? 0 : -1;
  }
  *out = json_stringn(p, n);
  if (!*out) snprintf(why, cap, "not text (invalid UTF-8)");
  return *out ? 0 : -1;
}

/* ---- reading the file ------------------------------------------------------- */

static int file_read(void *ud, void *buf, size_t cap, size_t *got, tk_err_t *err)
{
  imp_t *m = ud;
  *got = fread(buf, 1, cap, m->f);
  if (*got == 0 && ferror(m->f))
    return tk_err_set(err, TK_EIO, "%s: cannot read it: %s", m->opts->path,
                      strerror(errno));
  if (m->pass == 1) tk_sha256_update(&m->sha, buf, *got); /* pass 2 checks rows */
  return 0;
}

static void file_close(imp_t *m)
{
  if (m->f) fclose(m->f);
  m->f = NULL;
  tk_csv_free(m->reader);
  m->reader = NULL;
}

static int file_open(imp_t *m, tk_err_t *err)
{
  m->f = fopen(m->opts->path, "rb");
  if (!m->f) return tk_err_set(err, TK_EIO, "%s: %s", m->opts->path, strerror(errno));
  tk_sha256_init(&m->sha);
  m->pos = m->len = 0;
  m->eof = 0;
  m->lineno = 1;
  if (m->csv && tk_csv_new(&m->reader, file_read, m, TK_OFFICE_IMPORT_MAX_LINE) != 0)
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  if (!m->csv && !m->blk && !(m->blk = malloc(READ_BLOCK)))
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  return 0;
}

/* JSON Lines: the next line into m->line (without its LF or CRLF): 1, 0 at
 * the end, or TK_ELIMIT past the bound. */
static int next_line(imp_t *m, uint64_t *line, tk_err_t *err)
{
  m->line.n = 0;
  *line = m->lineno;
  for (;;) {
    if (m->pos == m->len) {
      if (m->eof) break;
      size_t got = 0;
      int rc = file_read(m, m->blk, READ_BLOCK, &got, err);
      if (rc) return rc;
      m->pos = 0;
      m->len = got;
      if (got == 0) {
        m->eof = 1;
        break;
      }
    }
    const uint8_t *s = m->blk + m->pos;
    const uint8_t *nl = memchr(s, '\n', m->len - m->pos);
    size_t take = nl ? (size_t)(nl - s) : m->len - m->pos;
    if (m->line.n + take > TK_OFFICE_IMPORT_MAX_LINE + 1)
      return tk_err_set(err, TK_ELIMIT, "%s:%llu: a line of more than %u bytes",
                        m->opts->path, (unsigned long long)*line,
                        TK_OFFICE_IMPORT_MAX_LINE);
    if (tk_buf_append(&m->line, s, take) < 0)
      return tk_err_set(err, TK_ENOMEM, "out of memory");
    m->pos += take;
    if (nl) {
      m->pos++;
      m->lineno++;
      if (m->line.n && m->line.p[m->line.n - 1] == '\r') m->line.n--;
      goto got;
    }
  }
  if (m->line.n == 0) return 0;
got:
  if (m->line.n > TK_OFFICE_IMPORT_MAX_LINE)
    return tk_err_set(err, TK_ELIMIT, "%s:%llu: a line of more than %u bytes",
                      m->opts->path, (unsigned long long)*line,
                      TK_OFFICE_IMPORT_MAX_LINE);
  return 1;
}

/* Sets field of body to v (taking it); a field set twice rejects the row. */
static int put_field(imp_t *m, row_t *row, int col, const char *field, json_t *v)
{
  if (json_object_get(row->body, field)) {
    report(m, row->line, col, field, "field '%s' is given twice", field);
    json_decref(v);
    return -1;
  }
  if (json_object_set_new(row->body, field, v)) return -1;
  return 0;
}

/* A reader's fatal error ("line L, column C: ...") as "FILE:L, column C: ...". */
static int csv_fail(imp_t *m, int rc, tk_err_t *err)
{
  char msg[sizeof err->msg];
  snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
  const char *rest = strncmp(msg, "line ", 5) == 0 ? msg + 5 : msg;
  return tk_err_set(err, rc, "%s:%s", m->opts->path, rest);
}

static int csv_header(imp_t *m, tk_err_t *err)
{
  tk_csv_row_t h;
  const char *p = m->opts->path;
  int rc = tk_csv_next(m->reader, &h, err);
  if (rc < 0) return csv_fail(m, rc, err);
  if (rc == 0) return tk_err_set(err, TK_EFORMAT, "%s: empty (no header row)", p);
  if (h.problem_col)
    return tk_err_set(err, TK_EFORMAT, "%s:%llu, column %d: the header: %s", p,
                      (unsigned long long)h.line, h.problem_col, h.problem);
  if (m->pass == 2) return 0; /* the columns are known */
  m->cols = calloc(h.n, sizeof *m->cols);
  if (!m->cols) return tk_err_set(err, TK_ENOMEM, "out of memory");
  for (size_t i = 0; i < h.n; i++) {
    const uint8_t *s = h.f[i].p;
    size_t n = h.f[i].n;
    while (n && isspace(s[0]))
      s++, n--;
    while (n && isspace(s[n - 1]))
      n--;
    if (n == 0 || n > 63)
      return tk_err_set(err, TK_EFORMAT, "%s:%llu, column %zu: %s", p,
                        (unsigned long long)h.line, i + 1,
                        n ? "a column name of more than 63 bytes"
                          : "the header gives this column no name");
    column_t *c = &m->cols[i];
    if (!(c->name = strndup((const char *)s, n)))
      return tk_err_set(err, TK_ENOMEM, "out of memory");
    m->ncols = i + 1;
    for (size_t k = 0; k < i; k++)
      if (strcmp(m->cols[k].name, c->name) == 0)
        return tk_err_set(err, TK_EFORMAT, "%s:%llu: columns %zu and %zu are both '%s'",
                          p, (unsigned long long)h.line, k + 1, i + 1, c->name);
    map_entry_t *e = map_find(m, c->name, n);
    if (e) e->seen = 1;
    c->field = e ? e->field : c->name;
    c->conv = conv_of(m, c->field, e ? e->conv : CONV_AUTO);
    if (c->field && c->field[0] == '_')
      return tk_err_set(err, TK_EFORMAT,
                        "%s: column %zu '%s': field names starting with '_' are kept by "
                        "tunduk (map it to another name, or to null)",
                        p, i + 1, c->name);
    for (size_t k = 0; c->field && k < i; k++)
      if (m->cols[k].field && strcmp(m->cols[k].field, c->field) == 0)
        return tk_err_set(err, TK_EFORMAT,
                          "%s: columns '%s' and '%s' both go to field '%s'", p,
                          m->cols[k].name, c->name, c->field);
  }
  for (size_t i = 0; i < m->nmap; i++)
    if (!m->map[i].seen) {
      tk_buf_t names = TK_BUF_INIT;
      for (size_t k = 0; k < m->ncols; k++)
        tk_buf_printf(&names, "%s%s", k ? ", " : "", m->cols[k].name);
      tk_err_set(err, TK_EINVAL, "%s: no column '%s' in %s (its columns: %.*s)",
                 m->opts->map, m->map[i].src, p, (int)names.n,
                 names.p ? (const char *)names.p : "");
      tk_buf_free(&names);
      return TK_EINVAL;
    }
  return 0;
}

static int csv_row(imp_t *m, row_t *row, tk_err_t *err)
{
  tk_csv_row_t c;
  char why[200];
  int rc = tk_csv_next(m->reader, &c, err);
  if (rc < 0) return csv_fail(m, rc, err);
  if (rc == 0) return 0;
  row->line = c.line;
  if (c.n == 1 && c.f[0].n == 0) {
    row->blank = 1;
    return 1;
  }
  if (c.problem_col) {
    report(m, c.line, c.problem_col, "", "%s", c.problem);
    return 1;
  }
  if (c.n != m->ncols) {
    report(m, c.line, 0, "", "%zu columns; the header has %zu", c.n, m->ncols);
    return 1;
  }
  row->body = json_object();
  if (!row->body) return tk_err_set(err, TK_ENOMEM, "out of memory");
  int bad = 0;
  for (size_t i = 0; i < c.n; i++) {
    const column_t *col = &m->cols[i];
    json_t *v = NULL;
    if (!col->field) continue;
    if (convert(col->conv, (const char *)c.f[i].p, c.f[i].n, &v, why, sizeof why)) {
      report(m, c.line, (int)i + 1, col->field, "field '%s': %s", col->field, why);
      bad = 1;
      continue;
    }
    if (v && json_object_set_new(row->body, col->field, v)) bad = 1;
  }
  if (bad) {
    json_decref(row->body);
    row->body = NULL;
  }
  return 1;
}

static int jsonl_row(imp_t *m, row_t *row, tk_err_t *err)
{
  json_error_t je;
  char why[200];
  int rc = next_line(m, &row->line, err);
  if (rc <= 0) return rc;
  size_t i = 0;
  while (i < m->line.n && isspace(m->line.p[i]))
    i++;
  if (i == m->line.n) {
    row->blank = 1;
    return 1;
  }
  json_t *j = json_loadb((const char *)m->line.p, m->line.n, JSON_REJECT_DUPLICATES, &je);
  if (!j) {
    report(m, row->line, 0, "", "not JSON: %s (column %d)", je.text, je.column);
    return 1;
  }
  if (!json_is_object(j)) {
    report(m, row->line, 0, "", "not a JSON object");
    json_decref(j);
    return 1;
  }
  row->body = json_object();
  if (!row->body) {
    json_decref(j);
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  }
  int bad = 0;
  const char *k;
  json_t *v;
  json_object_foreach(j, k, v)
  {
    map_entry_t *e = map_find(m, k, strlen(k));
    const char *field = k;
    if (e) {
      e->seen = 1;
      field = e->field;
      if (!field) continue;
    }
    if (field[0] == '_') {
      report(m, row->line, 0, field,
             "field '%s': names starting with '_' are kept by tunduk (map it to another "
             "name, or to null)",
             field);
      bad = 1;
      continue;
    }
    json_t *nv = json_incref(v);
    if (e && e->conv != CONV_AUTO && json_is_string(v)) {
      json_decref(nv);
      const char *s = json_string_value(v);
      if (convert(e->conv, s, json_string_length(v), &nv, why, sizeof why)) {
        report(m, row->line, 0, field, "field '%s': %s", field, why);
        bad = 1;
        continue;
      }
      if (!nv) continue;
    }
    if (put_field(m, row, 0, field, nv)) bad = 1;
  }
  json_decref(j);
  if (bad) {
    json_decref(row->body);
    row->body = NULL;
  }
  return 1;
}

/* The next row that is not blank: 1, 0 at the end, or a failure. */
static int next_row(imp_t *m, row_t *row, tk_err_t *err)
{
  for (;;) {
    memset(row, 0, sizeof *row);
    int rc = m->csv ? csv_row(m, row, err) : jsonl_row(m, row, err);
    if (rc <= 0) return rc;
    if (!row->blank) return 1;
  }
}

/* ---- pass 1: checking ---------------------------------------------------------- */

typedef struct check_batch {
  size_t n;
  uint64_t line[CHECK_BATCH];
  size_t idx[CHECK_BATCH]; /* row index (m->sigs) */
  tk_buf_t text[CHECK_BATCH];
  tk_slice_t view[CHECK_BATCH];
  int rc[CHECK_BATCH];
  tk_err_t e[CHECK_BATCH];
} check_batch_t;

static int sig_add(imp_t *m, tk_err_t *err)
{
  if (m->nsigs == m->capsigs) {
    size_t cap = m->capsigs ? 2 * m->capsigs : 4096;
    row_sig_t *s = realloc(m->sigs, cap * sizeof *s);
    if (!s) return tk_err_set(err, TK_ENOMEM, "out of memory");
    m->sigs = s;
    m->capsigs = cap;
  }
  memset(&m->sigs[m->nsigs++], 0, sizeof *m->sigs);
  return 0;
}

static void sig_of(const tk_buf_t *text, uint8_t h[SIG_LEN])
{
  uint8_t full[TK_HASH_LEN];
  tk_sha256(full, text->p, text->n);
  memcpy(h, full, SIG_LEN);
}

/* The content type's validate() over the batch (on the checker thread). */
static void check_run(imp_t *m, check_batch_t *b)
{
  if (b->n) tk_plugin_validate_many(m->set, m->decl->name, b->view, b->n, b->rc, b->e);
}

/* After check_run: the accepted rows marked, the others reported. */
static void check_finish(imp_t *m, check_batch_t *b)
{
  char prefix[TK_MAX_TYPE_LEN + 32];
  snprintf(prefix, sizeof prefix, "content type '%s': ", m->decl->name);
  for (size_t i = 0; i < b->n; i++) {
    row_sig_t *s = &m->sigs[b->idx[i]];
    if (b->rc[i] == 0) {
      s->ok = 1;
      sig_of(&b->text[i], s->h);
    } else {
      const char *msg = b->e[i].msg;
      if (strncmp(msg, prefix, strlen(prefix)) == 0) msg += strlen(prefix);
      if (b->rc[i] == TK_EINVAL)
        report(m, b->line[i], 0, "", "%s", msg);
      else
        report(m, b->line[i], 0, "", "not checked: %s", msg);
      m->r->rejected++;
    }
    b->text[i].n = 0;
  }
  b->n = 0;
}

/* The checker thread: runs the plugin's validate() over one batch while
 * the main thread reads and converts the next, so the worker's time and
 * this process's overlap (two cores). One batch in its hands at a time. */
typedef struct checker {
  imp_t *m;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  check_batch_t *job;
  int started, quit;
} checker_t;

static void *checker_main(void *arg)
{
  checker_t *k = arg;
  pthread_mutex_lock(&k->mu);
  for (;;) {
    while (!k->job && !k->quit)
      pthread_cond_wait(&k->cv, &k->mu);
    if (!k->job) break;
    check_batch_t *b = k->job;
    pthread_mutex_unlock(&k->mu);
    check_run(k->m, b);
    pthread_mutex_lock(&k->mu);
    k->job = NULL;
    pthread_cond_broadcast(&k->cv);
  }
  pthread_mutex_unlock(&k->mu);
  return NULL;
}

/* Waits until the checker holds no batch. */
static void checker_idle(checker_t *k)
{
  if (!k->started) return;
  pthread_mutex_lock(&k->mu);
  while (k->job)
    pthread_cond_wait(&k->cv, &k->mu);
  pthread_mutex_unlock(&k->mu);
}

/* Hands b to the checker (idle), or runs it here if there is none. */
static void checker_give(checker_t *k, check_batch_t *b)
{
  if (!k->started) {
    check_run(k->m, b);
    return;
  }
  pthread_mutex_lock(&k->mu);
  k->job = b;
  pthread_cond_broadcast(&k->cv);
  pthread_mutex_unlock(&k->mu);
}

static void checker_start(checker_t *k, imp_t *m)
{
  memset(k, 0, sizeof *k);
  k->m = m;
  pthread_mutex_init(&k->mu, NULL);
  pthread_cond_init(&k->cv, NULL);
  k->started = pthread_create(&k->thread, NULL, checker_main, k) == 0;
}

static void checker_stop(checker_t *k)
{
  if (k->started) {
    pthread_mutex_lock(&k->mu);
    k->quit = 1;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
  }
  pthread_mutex_destroy(&k->mu);
  pthread_cond_destroy(&k->cv);
}

/* The declared fields of one converted row; 0 if they all pass. */
static int check_fields(imp_t *m, const row_t *row)
{
  char why[256];
  int bad = 0;
  for (size_t i = 0; i < m->decl->nfields; i++) {
    const tk_plugin_field_t *f = &m->decl->fields[i];
    if (tk_plugin_field_check(f, json_object_get(row->body, f->name), why, sizeof why)) {
      int col = 0;
      for (size_t k = 0; m->csv && k < m->ncols; k++)
        if (m->cols[k].field && strcmp(m->cols[k].field, f->name) == 0) col = (int)k + 1;
      report(m, row->line, col, f->name, "field '%s' %s", f->name, why);
      bad = 1;
    }
  }
  return bad;
}

static int check_row(imp_t *m, check_batch_t *b, row_t *row, tk_err_t *err)
{
  if (!row->body || check_fields(m, row)) {
    m->r->rejected++;
    return 0;
  }
  tk_buf_t *t = &b->text[b->n];
  t->n = 0;
  if (tk_body_dump(row->body, t) < 0) return tk_err_set(err, TK_ENOMEM, "out of memory");
  if (t->n > TK_MAX_BODY_JSON) {
    report(m, row->line, 0, "", "the record is %zu bytes as JSON; at most %u", t->n,
           TK_MAX_BODY_JSON);
    m->r->rejected++;
    return 0;
  }
  b->line[b->n] = row->line;
  b->idx[b->n] = m->nsigs - 1;
  b->view[b->n] = TK_SLICE(t->p, t->n);
  b->n++;
  return 0;
}

static int pass_check(imp_t *m, tk_err_t *err)
{
  check_batch_t *bs = calloc(2, sizeof *bs), *cur = bs, *prev = NULL;
  checker_t k;
  row_t row;
  int rc;
  if (!bs) return tk_err_set(err, TK_ENOMEM, "out of memory");
  m->pass = 1;
  m->reporting = 1;
  checker_start(&k, m);
  rc = file_open(m, err);
  if (!rc && m->csv) rc = csv_header(m, err);
  while (!rc && (rc = next_row(m, &row, err)) == 1) {
    rc = 0;
    if (m->r->rows == m->max_rows) {
      json_decref(row.body);
      rc = tk_err_set(err, TK_ELIMIT, "%s:%llu: more than %llu rows; split the file",
                      m->opts->path, (unsigned long long)row.line,
                      (unsigned long long)m->max_rows);
      break;
    }
    m->r->rows++;
    rc = sig_add(m, err);
    if (!rc) rc = check_row(m, cur, &row, err);
    json_decref(row.body);
    if (!rc && cur->n == CHECK_BATCH) {
      /* the batch before is done once the checker is idle */
      checker_idle(&k);
      if (prev) check_finish(m, prev);
      checker_give(&k, cur);
      prev = cur;
      cur = cur == bs ? bs + 1 : bs;
    }
  }
  checker_idle(&k);
  if (!rc && prev) check_finish(m, prev);
  if (!rc) {
    check_run(m, cur);
    check_finish(m, cur);
  }
  checker_stop(&k);
  for (size_t j = 0; j < 2; j++)
    for (size_t i = 0; i < CHECK_BATCH; i++)
      tk_buf_wipe(&bs[j].text[i]);
  free(bs);
  if (!rc) {
    uint8_t h[TK_HASH_LEN];
    tk_sha256_final(&m->sha, h);
    tk_hex_encode(m->r->sha256, h, TK_HASH_LEN);
  }
  for (size_t i = 0; !rc && !m->csv && i < m->nmap; i++)
    if (!m->map[i].seen)
      rc = tk_err_set(err, TK_EINVAL, "%s: no row of %s has the key '%s'", m->opts->map,
                      m->opts->path, m->map[i].src);
  file_close(m);
  return rc;
}

/* ---- pass 2: writing ------------------------------------------------------------ */

/* "line=L written=N done=D" of this import, if an earlier run kept one. */
static int progress_get(imp_t *m, uint64_t *line, uint64_t *written, int *done)
{
  char v[128];
  unsigned long long l = 0, w = 0;
  int d = 0;
  *line = *written = 0;
  *done = 0;
  if (tk_store_meta_get(m->o->store, m->key, v, sizeof v, NULL) != 0) return 0;
  if (sscanf(v, "line=%llu written=%llu done=%d", &l, &w, &d) != 3) return 0;
  *line = l;
  *written = w;
  *done = d;
  return 1;
}

static int progress_set(imp_t *m, uint64_t line, uint64_t written, int done,
                        tk_err_t *err)
{
  char v[128];
  snprintf(v, sizeof v, "line=%llu written=%llu done=%d", (unsigned long long)line,
           (unsigned long long)written, done);
  return tk_store_meta_set(m->o->store, m->key, v, err);
}

typedef struct write_batch {
  size_t n;
  json_t *body[TK_OFFICE_IMPORT_BATCH];
  tk_buf_t text[TK_OFFICE_IMPORT_BATCH]; /* tk_body_dump of each */
  tk_slice_t view[TK_OFFICE_IMPORT_BATCH];
  uint64_t last_line;
} write_batch_t;

static int write_flush(imp_t *m, write_batch_t *w, uint64_t total, int done,
                       tk_err_t *err)
{
  int rc = tk_store_begin(m->o->store, err);
  for (size_t i = 0; i < w->n; i++)
    w->view[i] = TK_SLICE(w->text[i].p, w->text[i].n);
  if (!rc)
    rc = tk__office_seal_new_many(m->o, m->decl->name, m->opts->vault, w->body, w->view,
                                  w->n, err);
  if (!rc) rc = progress_set(m, w->last_line, total + w->n, done, err);
  if (!rc) rc = tk_store_commit(m->o->store, err);
  if (rc) {
    tk_store_rollback(m->o->store);
  } else {
    m->r->written += w->n;
    m->r->batches++;
  }
  for (size_t i = 0; i < w->n; i++)
    json_decref(w->body[i]);
  w->n = 0;
  return rc;
}

static int pass_write(imp_t *m, uint64_t after_line, uint64_t before, tk_err_t *err)
{
  write_batch_t *w = calloc(1, sizeof *w);
  row_t row;
  size_t i = 0;
  int rc;
  if (!w) return tk_err_set(err, TK_ENOMEM, "out of memory");
  m->pass = 2;
  m->reporting = 0;
  rc = file_open(m, err);
  if (!rc && m->csv) rc = csv_header(m, err);
  while (!rc && (rc = next_row(m, &row, err)) == 1) {
    rc = 0;
    if (i >= m->nsigs) {
      json_decref(row.body);
      rc = tk_err_set(err, TK_EINVAL, "%s:%llu: the file changed since it was checked",
                      m->opts->path, (unsigned long long)row.line);
      break;
    }
    const row_sig_t *s = &m->sigs[i++];
    if (!s->ok || row.line <= after_line) {
      if (s->ok) m->r->resumed++;
      json_decref(row.body);
      continue;
    }
    uint8_t h[SIG_LEN] = {0};
    tk_buf_t *text = &w->text[w->n];
    text->n = 0;
    int same = row.body && tk_body_dump(row.body, text) == 0;
    if (same) sig_of(text, h);
    if (!same || memcmp(h, s->h, SIG_LEN) != 0) {
      json_decref(row.body);
      rc = tk_err_set(err, TK_EINVAL, "%s:%llu: the file changed since it was checked",
                      m->opts->path, (unsigned long long)row.line);
      break;
    }
    w->body[w->n++] = row.body;
    w->last_line = row.line;
    if (w->n == TK_OFFICE_IMPORT_BATCH)
      rc = write_flush(m, w, before + m->r->written, 0, err);
  }
  if (!rc) {
    if (w->n == 0) w->last_line = after_line > w->last_line ? after_line : w->last_line;
    rc = write_flush(m, w, before + m->r->written, 1, err);
  }
  for (size_t k = 0; k < w->n; k++)
    json_decref(w->body[k]);
  for (size_t k = 0; k < TK_OFFICE_IMPORT_BATCH; k++)
    tk_buf_wipe(&w->text[k]);
  free(w);
  file_close(m);
  return rc;
}

/* ---- the call ---------------------------------------------------------------- */

static int format_of(imp_t *m, tk_err_t *err)
{
  const char *fmt = m->opts->format, *path = m->opts->path;
  if (!fmt) {
    const char *dot = strrchr(base_name(path), '.');
    if (dot && strcasecmp(dot, ".csv") == 0)
      fmt = "csv";
    else if (dot && (strcasecmp(dot, ".jsonl") == 0 || strcasecmp(dot, ".ndjson") == 0))
      fmt = "jsonl";
    else
      return tk_err_set(
          err, TK_EINVAL,
          "%s: cannot tell the format from the name (.csv, .jsonl, .ndjson); "
          "give --format csv|jsonl",
          path);
  }
  if (strcmp(fmt, "csv") == 0)
    m->csv = 1;
  else if (strcmp(fmt, "jsonl") != 0 && strcmp(fmt, "ndjson") != 0)
    return tk_err_set(err, TK_EINVAL, "no import format '%s' (csv, jsonl)", fmt);
  snprintf(m->r->format, sizeof m->r->format, "%s", m->csv ? "csv" : "jsonl");
  return 0;
}

/* The setting keeping this import's progress: a hash of what makes two
 * imports the same (the file, the type, the vault, the map). */
static void import_key(imp_t *m)
{
  tk_buf_t b = TK_BUF_INIT;
  uint8_t h[TK_HASH_LEN];
  char hex[2 * TK_HASH_LEN + 1];
  tk_buf_printf(&b, "%s\n%s\n%s\n", m->r->sha256, m->decl->name, m->opts->vault);
  if (m->opts->map) tk_buf_append(&b, m->map_sha, sizeof m->map_sha);
  tk_sha256(h, b.p, b.n);
  tk_hex_encode(hex, h, TK_HASH_LEN);
  snprintf(m->key, sizeof m->key, "import/%s", hex);
  tk_buf_free(&b);
}

static int prepare(imp_t *m, tk_err_t *err)
{
  const tk_office_import_opts_t *op = m->opts;
  tk_vault_info_t vi;
  if (!op->type || !op->vault || !op->path)
    return tk_err_set(err, TK_EINVAL, "an import needs a type, a vault and a file");
  int rc = tk_office_name_check("type", op->type, err);
  if (!rc) rc = tk_office_name_check("vault", op->vault, err);
  if (!rc) rc = format_of(m, err);
  if (!rc && (rc = tk_store_vault_get(m->o->store, op->vault, &vi, err)) == TK_ENOTFOUND)
    tk_err_set(err, rc, "no vault '%s' (see 'tunduk vault list')", op->vault);
  if (!rc) rc = tk__office_plugins(m->o, &m->set, err);
  if (!rc && !(m->decl = tk_plugin_set_find(m->set, TK_PLUGIN_TYPE, op->type)))
    rc = tk_err_set(err, TK_EINVAL, "no content type '%s'; see 'tunduk plugin list'",
                    op->type);
  if (!rc && op->map) rc = map_load(m, err);
  return rc;
}

int tk_office_import(tk_office_t *o, const tk_office_import_opts_t *opts,
                     tk_office_import_result_t *r, tk_err_t *err)
{
  imp_t m;
  uint64_t after = 0, before = 0;
  int done = 0;
  memset(r, 0, sizeof *r);
  memset(&m, 0, sizeof m);
  m.o = o;
  m.opts = opts;
  m.r = r;
  m.max_rows = opts->max_rows && opts->max_rows < TK_OFFICE_IMPORT_MAX_ROWS
                   ? opts->max_rows
                   : TK_OFFICE_IMPORT_MAX_ROWS;
  double t0 = now_s();
  int rc = prepare(&m, err);
  if (!rc) rc = pass_check(&m, err);
  r->check_s = now_s() - t0;
  if (!rc && r->rejected && !opts->skip_invalid)
    rc = tk_err_set(err, TK_EINVAL, "%llu of %llu rows rejected; nothing written",
                    (unsigned long long)r->rejected, (unsigned long long)r->rows);
  if (!rc) {
    import_key(&m);
    if (progress_get(&m, &after, &before, &done) && done && !opts->again)
      rc = tk_err_set(err, TK_EEXIST,
                      "%s was imported into vault '%s' as %s records before (%llu "
                      "written); --again imports it once more (duplicates)",
                      opts->path, opts->vault, m.decl->name, (unsigned long long)before);
    if (opts->again || done) after = before = 0;
  }
  if (!rc) rc = tk__office_may_write(o, opts->vault, err);
  if (!rc) rc = tk_office_need_keys(o, err);
  double t1 = now_s();
  if (!rc) rc = pass_write(&m, after, before, err);
  if (r->rows && !r->check_s) r->check_s = t1 - t0;
  r->write_s = now_s() - t1;
  file_close(&m);
  for (size_t i = 0; i < m.nmap; i++) {
    free(m.map[i].src);
    free(m.map[i].field);
  }
  free(m.map);
  for (size_t i = 0; i < m.ncols; i++)
    free(m.cols[i].name);
  free(m.cols);
  free(m.sigs);
  free(m.blk);
  tk_buf_wipe(&m.line);
  return rc;
}
