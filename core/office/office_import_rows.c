/*
 * office_import_rows.c: the reading side of the bulk import (office_import.h):
 * the map file, the conversion of a CSV cell (or a JSON Lines string given a
 * map type) to the JSON value its field wants, and the file read as rows,
 * CSV through tk_csv.h, JSON Lines through a bounded line reader, with the
 * file's SHA-256 taken as it is read in the first pass. Every problem of a
 * row is reported (tk__import_report) with its line and, for CSV, column.
 * One thread, as tk_office_t.
 */
#include "office_import.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MAP_ENTRIES 1024
#define READ_BLOCK (64u << 10)

static const char *const conv_names[] = {"auto", "text", "integer", "boolean",
                                         "date", "list", "json"};

void tk__import_report(imp_t *m, uint64_t line, int col, const char *field,
                       const char *fmt, ...)
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

int tk__import_map_load(imp_t *m, tk_err_t *err)
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
  /* the text is UTF-8 without NUL already: the CSV reader refuses the rest,
   * and a JSON Lines string is jansson's */
  *out = json_stringn_nocheck(p, n);
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

void tk__import_close(imp_t *m)
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
    tk__import_report(m, row->line, col, field, "field '%s' is given twice", field);
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
  /* a column whose name is not a field of the type: a typo or a column to map */
  for (size_t i = 0; i < m->ncols; i++) {
    char why[256];
    const column_t *c = &m->cols[i];
    if (c->field && tk_plugin_field_unknown(m->decl, c->field, why, sizeof why))
      return tk_err_set(err, TK_EFORMAT,
                        "%s: column %zu '%s': %s; map it to a field (--map), or to null "
                        "to leave it out",
                        p, i + 1, c->name, why);
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
    tk__import_report(m, c.line, c.problem_col, "", "%s", c.problem);
    return 1;
  }
  if (c.n != m->ncols) {
    tk__import_report(m, c.line, 0, "", "%zu columns; the header has %zu", c.n, m->ncols);
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
      tk__import_report(m, c.line, (int)i + 1, col->field, "field '%s': %s", col->field,
                        why);
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
    tk__import_report(m, row->line, 0, "", "not JSON: %s (column %d)", je.text,
                      je.column);
    return 1;
  }
  if (!json_is_object(j)) {
    tk__import_report(m, row->line, 0, "", "not a JSON object");
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
      tk__import_report(
          m, row->line, 0, field,
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
        tk__import_report(m, row->line, 0, field, "field '%s': %s", field, why);
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
int tk__import_open(imp_t *m, tk_err_t *err)
{
  int rc = file_open(m, err);
  return !rc && m->csv ? csv_header(m, err) : rc;
}

int tk__import_next(imp_t *m, row_t *row, tk_err_t *err)
{
  for (;;) {
    memset(row, 0, sizeof *row);
    int rc = m->csv ? csv_row(m, row, err) : jsonl_row(m, row, err);
    if (rc <= 0) return rc;
    if (!row->blank) return 1;
  }
}
