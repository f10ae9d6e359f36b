/*
 * tk_body.h: record bodies as JSON objects (jansson). Parsing user input
 * with line/column errors and the limits on size and depth, the canonical
 * compact form that gets encrypted, tombstones, and the one-line summary
 * used by listings when no content-type plugin supplies one.
 *
 * Threads: any; no shared state.
 */
#ifndef TK_BODY_H
#define TK_BODY_H

#include <jansson.h>

#include "tk_common.h"

/* Parses text as a record body: one JSON object, at most TK_MAX_BODY_JSON
 * bytes and TK_MAX_JSON_DEPTH deep, no duplicate keys. On failure returns
 * TK_EINVAL/TK_ELIMIT and err names the source, line and column, e.g.
 * "case.json:3:14: invalid JSON: ...". source labels the input ("-" is
 * shown as "stdin"). The caller json_decref()s *out. */
int tk_body_parse(json_t **out, tk_slice_t text, const char *source, tk_err_t *err);

/* Compact, order-preserving encoding of a body (appended to out). */
int tk_body_dump(const json_t *body, tk_buf_t *out);

/* The tombstone body {"_deleted":true} and its test. */
json_t *tk_body_tombstone(void);
int tk_body_is_tombstone(const json_t *body);

/* A one-line summary of at most maxlen bytes (UTF-8 safe, newlines folded):
 * the first of "title", "summary", "case_number", "subject", "name",
 * "alias" that is a string, else the first string field, else "". */
void tk_body_summary(const json_t *body, char *out, size_t maxlen);

#endif
