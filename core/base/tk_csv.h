/*
 * tk_csv.h: a bounded reader of CSV text (RFC 4180) for imports: fields
 * separated by commas, records by CRLF or LF (a lone CR ends a record too),
 * fields in double quotes may hold commas, quotes written twice ("") and
 * line breaks; a UTF-8 byte order mark at the very start is skipped.
 *
 * Bounds: a record (all of its fields' bytes, after unquoting) of at most
 * max_record bytes (0: TK_CSV_MAX_RECORD) and TK_CSV_MAX_FIELDS fields.
 * Errors name the line (1-based, counting every line break, also those
 * inside quotes) and the column (the field's 1-based number):
 *  - fatal, the reader stops (TK_EFORMAT / TK_ELIMIT / the read's error):
 *    a quote not closed by the end of the input, a record past the bounds;
 *  - of one record, which is read to its end so the next one is found:
 *    invalid UTF-8 or a NUL byte in a field, text after a closing quote.
 *    tk_csv_next returns the record with problem set; the caller decides.
 * A quote inside an unquoted field is taken as a character (spreadsheets
 * write such files).
 *
 * Threads: one reader is used by one thread at a time.
 */
#ifndef TK_CSV_H
#define TK_CSV_H

#include "tk_common.h"

#define TK_CSV_MAX_RECORD (1u << 20) /* bytes of one record */
#define TK_CSV_MAX_FIELDS 1024       /* fields of one record */

/* Reads up to cap bytes into buf: *got = 0 at the end; 0, or a negative
 * TK_E* (the reader then fails with it and err as the callback set it). */
typedef int (*tk_csv_read_fn)(void *ud, void *buf, size_t cap, size_t *got,
                              tk_err_t *err);

typedef struct tk_csv tk_csv_t;

/* One record: n fields, views valid until the next tk_csv_next. */
typedef struct tk_csv_row {
  size_t n;
  const tk_slice_t *f;
  uint64_t line;      /* where it starts */
  uint64_t last_line; /* where it ends (a quoted line break moves it on) */
  int problem_col;    /* 0, or the column of the record's problem */
  char problem[160];  /* what is wrong with it, e.g. "invalid UTF-8" */
} tk_csv_row_t;

/* A reader pulling its bytes through read(ud, ...). *out: tk_csv_free. */
int tk_csv_new(tk_csv_t **out, tk_csv_read_fn read, void *ud, size_t max_record);
void tk_csv_free(tk_csv_t *c);

/* The next record: 1 with *row filled, 0 at the end of the input, or a
 * fatal error (err: "line L, column C: ..."). An empty line is a record of
 * one empty field. */
int tk_csv_next(tk_csv_t *c, tk_csv_row_t *row, tk_err_t *err);

/* 1 if the n bytes at p are valid UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF), else 0; *bad gets the offset of the first
 * bad byte. */
int tk_utf8_valid(const uint8_t *p, size_t n, size_t *bad);

#endif
