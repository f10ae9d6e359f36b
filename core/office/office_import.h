/*
 * office_import.h: what the two files of the bulk import share (internal to
 * core/office): the import's state, a row as read, and the reading side
 * (office_import_rows.c: the map, the conversion of cells, CSV and JSON
 * Lines rows) that the passes (office_import.c) drive. One thread, as
 * tk_office_t.
 */
#ifndef TK_OFFICE_IMPORT_H
#define TK_OFFICE_IMPORT_H

#include "office_internal.h"
#include "tk_csv.h"
#include "tk_plugin.h"

#define TK__IMPORT_SIG_LEN 16 /* bytes of a row's record hash kept between the passes */

enum {
  CONV_AUTO = 0,
  CONV_TEXT,
  CONV_INTEGER,
  CONV_BOOLEAN,
  CONV_DATE,
  CONV_LIST,
  CONV_JSON
};

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
  uint8_t h[TK__IMPORT_SIG_LEN];
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

/* Reports one problem of the row at line (the first pass only: m->reporting). */
__attribute__((format(printf, 5, 6))) void tk__import_report(imp_t *m, uint64_t line,
                                                             int col, const char *field,
                                                             const char *fmt, ...);
/* Loads and checks opts->map against the content type (m->decl). */
int tk__import_map_load(imp_t *m, tk_err_t *err);
/* Opens opts->path for a pass (m->pass), and, for CSV, reads its header:
 * the columns and their fields (pass 1), the map's columns all there. */
int tk__import_open(imp_t *m, tk_err_t *err);
void tk__import_close(imp_t *m);
/* The next row that is not blank: 1 (row->body NULL when it was rejected
 * while being read or converted, its problems reported), 0 at the end, or
 * a failure that stops the import. */
int tk__import_next(imp_t *m, row_t *row, tk_err_t *err);

#endif
