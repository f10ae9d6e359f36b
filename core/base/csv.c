/*
 * csv.c: the bounded CSV reader of tk_csv.h. Bytes come in blocks through
 * the caller's read function; a record is unquoted into one buffer (its
 * fields end to end) with the fields' offsets beside it, so a record costs
 * its own size and nothing is held across records. One thread at a time.
 */
#include "tk_csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK (64u << 10)

struct tk_csv {
  tk_csv_read_fn read;
  void *ud;
  size_t max_record;
  uint8_t *blk; /* BLOCK bytes */
  size_t pos, len;
  int eof, started;
  uint64_t line;     /* line of the next byte */
  tk_buf_t rec;      /* the record's field bytes */
  size_t *off;       /* field i: rec[off[i] .. off[i+1]) */
  tk_slice_t *views; /* TK_CSV_MAX_FIELDS */
};

int tk_utf8_valid(const uint8_t *p, size_t n, size_t *bad)
{
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      goto fail;
    }
    if (n - i < len) goto fail;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80) goto fail;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      goto fail;
    i += len;
  }
  return 1;
fail:
  if (bad) *bad = i;
  return 0;
}

int tk_csv_new(tk_csv_t **out, tk_csv_read_fn read, void *ud, size_t max_record)
{
  tk_csv_t *c = calloc(1, sizeof *c);
  *out = NULL;
  if (!c) return TK_ENOMEM;
  c->read = read;
  c->ud = ud;
  c->max_record = max_record ? max_record : TK_CSV_MAX_RECORD;
  c->line = 1;
  c->blk = malloc(BLOCK);
  c->off = malloc((TK_CSV_MAX_FIELDS + 1) * sizeof *c->off);
  c->views = malloc(TK_CSV_MAX_FIELDS * sizeof *c->views);
  if (!c->blk || !c->off || !c->views) {
    tk_csv_free(c);
    return TK_ENOMEM;
  }
  *out = c;
  return 0;
}

void tk_csv_free(tk_csv_t *c)
{
  if (!c) return;
  free(c->blk);
  free(c->off);
  free(c->views);
  tk_buf_wipe(&c->rec); /* record contents */
  free(c);
}

/* The next byte (0..255), -1 at the end, or a negative TK_E* - 1. */
static int next_byte(tk_csv_t *c, tk_err_t *err)
{
  if (c->pos == c->len) {
    if (c->eof) return -1;
    size_t got = 0;
    int rc = c->read(c->ud, c->blk, BLOCK, &got, err);
    if (rc < 0) return rc - 1;
    c->pos = 0;
    c->len = got;
    if (got == 0) {
      c->eof = 1;
      return -1;
    }
    if (!c->started) {
      c->started = 1;
      /* a UTF-8 byte order mark, even if the first reads are shorter */
      while (c->len < 3 && memcmp(c->blk, "\xEF\xBB\xBF", c->len) == 0) {
        rc = c->read(c->ud, c->blk + c->len, BLOCK - c->len, &got, err);
        if (rc < 0) return rc - 1;
        if (got == 0) break;
        c->len += got;
      }
      if (c->len >= 3 && memcmp(c->blk, "\xEF\xBB\xBF", 3) == 0) c->pos = 3;
      if (c->pos == c->len) return next_byte(c, err);
    }
  }
  return c->blk[c->pos++];
}

static int peek_byte(tk_csv_t *c, tk_err_t *err)
{
  int b = next_byte(c, err);
  if (b >= 0) c->pos--;
  return b;
}

static void problem(tk_csv_row_t *row, int col, const char *msg)
{
  if (row->problem_col) return; /* the first one */
  row->problem_col = col;
  snprintf(row->problem, sizeof row->problem, "%s", msg);
}

/* Ends field number nf (0-based): its offset, its UTF-8 checked. */
static int end_field(tk_csv_t *c, size_t *nf, tk_csv_row_t *row, tk_err_t *err)
{
  size_t start = c->off[*nf], bad = 0;
  const uint8_t *p = c->rec.p ? c->rec.p + start : (const uint8_t *)"";
  size_t n = c->rec.n - start;
  if (memchr(p, 0, n))
    problem(row, (int)*nf + 1, "a NUL byte");
  else if (!tk_utf8_valid(p, n, &bad))
    problem(row, (int)*nf + 1, "invalid UTF-8 (is the file in another encoding?)");
  if (*nf + 1 > TK_CSV_MAX_FIELDS)
    return tk_err_set(err, TK_ELIMIT, "line %llu: more than %u columns",
                      (unsigned long long)row->line, TK_CSV_MAX_FIELDS);
  (*nf)++;
  c->off[*nf] = c->rec.n;
  return 0;
}

static int put(tk_csv_t *c, uint8_t b, const tk_csv_row_t *row, tk_err_t *err)
{
  if (c->rec.n >= c->max_record)
    return tk_err_set(err, TK_ELIMIT,
                      "line %llu: a record of more than %zu bytes (a quote not closed?)",
                      (unsigned long long)row->line, c->max_record);
  if (tk_buf_append_u8(&c->rec, b) < 0)
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  return 0;
}

/* A read failure surfaced through next_byte (b <= -2). */
static int read_failed(int b, tk_err_t *err)
{
  int rc = b + 1;
  if (err && err->code != rc) tk_err_set(err, rc, "cannot read the input");
  return rc;
}

/* Appends n bytes of a field at once (the bound checked). */
static int put_run(tk_csv_t *c, const uint8_t *p, size_t n, const tk_csv_row_t *row,
                   tk_err_t *err)
{
  if (n > c->max_record || c->rec.n > c->max_record - n)
    return tk_err_set(err, TK_ELIMIT,
                      "line %llu: a record of more than %zu bytes (a quote not closed?)",
                      (unsigned long long)row->line, c->max_record);
  if (tk_buf_append(&c->rec, p, n) < 0)
    return tk_err_set(err, TK_ENOMEM, "out of memory");
  return 0;
}

/* Makes the block hold at least one byte: 1, 0 at the end, or b <= -2. */
static int fill(tk_csv_t *c, tk_err_t *err)
{
  if (c->pos < c->len) return 1;
  int b = next_byte(c, err);
  if (b < 0) return b == -1 ? 0 : b;
  c->pos--;
  return 1;
}

/* The bytes of an unquoted field up to a separator or a line end: *b the
 * byte that ended it (-1 at the end of the input). */
static int unquoted_run(tk_csv_t *c, const tk_csv_row_t *row, int *b, tk_err_t *err)
{
  for (;;) {
    int f = fill(c, err);
    if (f <= 0) {
      *b = f == 0 ? -1 : f;
      return 0;
    }
    const uint8_t *s = c->blk + c->pos, *e = c->blk + c->len, *q = s;
    while (q < e && *q != ',' && *q != '\n' && *q != '\r')
      q++;
    int rc = put_run(c, s, (size_t)(q - s), row, err);
    if (rc) return rc;
    c->pos += (size_t)(q - s);
    if (q < e) {
      *b = *q;
      c->pos++;
      return 0;
    }
  }
}

/* The inside of a quoted field after its opening quote, through the
 * closing one (the quote written twice is one quote). */
static int quoted_run(tk_csv_t *c, tk_csv_row_t *row, uint64_t qline, int col,
                      tk_err_t *err)
{
  for (;;) {
    int f = fill(c, err);
    if (f < 0) return read_failed(f, err);
    if (f == 0)
      return tk_err_set(err, TK_EFORMAT,
                        "line %llu, column %d: a quote not closed by the end of the file",
                        (unsigned long long)qline, col);
    const uint8_t *s = c->blk + c->pos;
    size_t avail = c->len - c->pos;
    const uint8_t *q = memchr(s, '"', avail);
    size_t run = q ? (size_t)(q - s) : avail;
    for (const uint8_t *nl = s; (nl = memchr(nl, '\n', run - (size_t)(nl - s))); nl++)
      c->line++;
    int rc = put_run(c, s, run, row, err);
    if (rc) return rc;
    c->pos += run;
    if (!q) continue;
    c->pos++; /* the quote */
    int nx = peek_byte(c, err);
    if (nx < -1) return read_failed(nx, err);
    if (nx != '"') return 0; /* it closed the field */
    c->pos++;
    if ((rc = put(c, '"', row, err))) return rc;
  }
}

int tk_csv_next(tk_csv_t *c, tk_csv_row_t *row, tk_err_t *err)
{
  memset(row, 0, sizeof *row);
  c->rec.n = 0;
  size_t nf = 0;
  c->off[0] = 0;
  row->line = c->line;
  int b = next_byte(c, err);
  if (b == -1) return 0;
  int rc = 0;
  for (;;) {
    /* the start of a field */
    if (b < -1) return read_failed(b, err);
    if (b == '"') {
      int col = (int)nf + 1;
      if ((rc = quoted_run(c, row, c->line, col, err))) return rc;
      b = next_byte(c, err);
      /* after the closing quote: a separator, a line end, or the end */
      if (b >= 0 && b != ',' && b != '\n' && b != '\r') {
        problem(row, col,
                "text after a closing quote (write a quote inside quotes as \"\")");
        if ((rc = put(c, (uint8_t)b, row, err))) return rc;
        if ((rc = unquoted_run(c, row, &b, err))) return rc;
      }
    } else if (b != ',' && b != '\n' && b != '\r') {
      if ((rc = put(c, (uint8_t)b, row, err))) return rc;
      if ((rc = unquoted_run(c, row, &b, err))) return rc;
    }
    if (b < -1) return read_failed(b, err);
    if ((rc = end_field(c, &nf, row, err))) return rc;
    if (b == ',') {
      b = next_byte(c, err);
      continue;
    }
    /* the record's end: CRLF, LF, CR, or the end of the input */
    if (b == '\r') {
      int q = peek_byte(c, err);
      if (q < -1) return read_failed(q, err);
      if (q == '\n') next_byte(c, err);
    }
    row->last_line = c->line;
    if (b >= 0) c->line++;
    break;
  }
  for (size_t i = 0; i < nf; i++)
    c->views[i] = (tk_slice_t){c->rec.p ? c->rec.p + c->off[i] : (const uint8_t *)"",
                               c->off[i + 1] - c->off[i]};
  row->n = nf;
  row->f = c->views;
  return 1;
}
