/*
 * body.c: record bodies as JSON objects (see tk_body.h). Any thread.
 */
#include "tk_body.h"

#include <string.h>

static int depth_of(const json_t *v, int depth)
{
  int max = depth;
  if (json_is_object(v)) {
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x)
    {
      int d = depth_of(x, depth + 1);
      if (d > max) max = d;
      if (max > TK_MAX_JSON_DEPTH) return max;
    }
  } else if (json_is_array(v)) {
    size_t i;
    json_t *x;
    json_array_foreach(v, i, x)
    {
      int d = depth_of(x, depth + 1);
      if (d > max) max = d;
      if (max > TK_MAX_JSON_DEPTH) return max;
    }
  }
  return max;
}

int tk_body_parse(json_t **out, tk_slice_t text, const char *source, tk_err_t *err)
{
  const char *src = strcmp(source, "-") == 0 ? "stdin" : source;
  *out = NULL;
  if (text.n > TK_MAX_BODY_JSON)
    return tk_err_set(err, TK_ELIMIT, "%s: record body is %zu bytes; the limit is %u",
                      src, text.n, TK_MAX_BODY_JSON);
  json_error_t je;
  json_t *v = json_loadb((const char *)text.p, text.n, JSON_REJECT_DUPLICATES, &je);
  if (!v)
    return tk_err_set(err, TK_EINVAL, "%s:%d:%d: invalid JSON: %s", src, je.line,
                      je.column, je.text);
  if (!json_is_object(v)) {
    json_decref(v);
    return tk_err_set(err, TK_EINVAL, "%s:1:1: a record body must be a JSON object", src);
  }
  if (depth_of(v, 1) > TK_MAX_JSON_DEPTH) {
    json_decref(v);
    return tk_err_set(err, TK_ELIMIT, "%s: record body nests deeper than %d levels", src,
                      TK_MAX_JSON_DEPTH);
  }
  *out = v;
  return 0;
}

static int dump_cb(const char *p, size_t n, void *ctx)
{
  return tk_buf_append(ctx, p, n) ? -1 : 0;
}

int tk_body_dump(const json_t *body, tk_buf_t *out)
{
  if (json_dump_callback(body, dump_cb, out, JSON_COMPACT) != 0) return TK_ENOMEM;
  return 0;
}

json_t *tk_body_tombstone(void)
{
  return json_pack("{s:b}", "_deleted", 1);
}

int tk_body_is_tombstone(const json_t *body)
{
  return json_is_true(json_object_get(body, "_deleted"));
}

static void copy_line(char *out, size_t maxlen, const char *s)
{
  size_t n = 0;
  if (maxlen == 0) return;
  for (; *s && n + 1 < maxlen; s++)
    out[n++] = (*s == '\n' || *s == '\r' || *s == '\t') ? ' ' : *s;
  if (((unsigned char)*s & 0xC0) == 0x80) {
    /* cut inside a UTF-8 character: drop its first bytes too */
    while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80)
      n--;
    if (n > 0) n--;
  }
  out[n] = '\0';
}

void tk_body_summary(const json_t *body, char *out, size_t maxlen)
{
  static const char *keys[] = {"title",   "summary", "case_number",
                               "subject", "name",    "alias"};
  if (maxlen) out[0] = '\0';
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    json_t *v = json_object_get(body, keys[i]);
    if (json_is_string(v)) {
      copy_line(out, maxlen, json_string_value(v));
      return;
    }
  }
  const char *k;
  json_t *v;
  json_object_foreach((json_t *)body, k, v)
  {
    if (json_is_string(v)) {
      copy_line(out, maxlen, json_string_value(v));
      return;
    }
  }
}
