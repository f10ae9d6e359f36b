/*
 * plugin_fields.c: the host's own checks of a record against the fields a
 * content type declared (required fields present; text, date, datetime,
 * enum, integer, boolean, list and record-reference kinds), run before the
 * plugin's validate() so that every content type gets them, in C, with the
 * field named in the reason. Any thread (no shared state).
 */
#include "plugin_host.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* ---- host field checks -------------------------------------------------------- */

static int digits(const char *s, int n, int *out)
{
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 1;
}

static int valid_date(const char *s, size_t n)
{
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, m, d;
  if (n != 10 || s[4] != '-' || s[7] != '-') return 0;
  if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d)) return 0;
  if (y < 1 || m < 1 || m > 12 || d < 1) return 0;
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= mdays[m - 1] + (m == 2 && leap);
}

/* RFC 3339 date-time: full-date "T" HH:MM:SS [.frac] ("Z" | +HH:MM | -HH:MM). */
static int valid_datetime(const char *s, size_t n)
{
  int h, mi, se;
  if (n < 20 || !valid_date(s, 10) || (s[10] != 'T' && s[10] != 't')) return 0;
  const char *t = s + 11;
  if (t[2] != ':' || t[5] != ':' || !digits(t, 2, &h) || !digits(t + 3, 2, &mi) ||
      !digits(t + 6, 2, &se) || h > 23 || mi > 59 || se > 60)
    return 0;
  size_t i = 19;
  if (s[i] == '.') {
    size_t start = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == start) return 0;
  }
  if (i < n && (s[i] == 'Z' || s[i] == 'z')) return i + 1 == n;
  if (i < n && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    return n - i == 6 && s[i + 3] == ':' && digits(s + i + 1, 2, &oh) &&
           digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59;
  }
  return 0;
}

static int valid_ref(const char *s, size_t n)
{
  if (n != 32) return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
          (ch >= 'A' && ch <= 'F')))
      return 0;
  }
  return 1;
}

/* One declared field f against its value v (NULL: absent). 0, or TK_EINVAL
 * with why = the reason after the field's name (e.g. "is required"). */
int tk_plugin_field_check(const tk_plugin_field_t *f, const json_t *v, char *why,
                          size_t cap)
{
  int empty =
      !v || json_is_null(v) ||
      (f->kind == TK_FIELD_TEXT && json_is_string(v) && json_string_length(v) == 0);
  if (empty) {
    if (!f->required) return 0;
    snprintf(why, cap, "is required");
    return TK_EINVAL;
  }
  const char *s = json_is_string(v) ? json_string_value(v) : NULL;
  size_t sn = s ? json_string_length(v) : 0;
  const char *want = NULL;
  switch (f->kind) {
  case TK_FIELD_TEXT:
    if (!s) want = "must be text";
    break;
  case TK_FIELD_DATE:
    if (!s || !valid_date(s, sn)) want = "must be a date YYYY-MM-DD";
    break;
  case TK_FIELD_DATETIME:
    if (!s || !valid_datetime(s, sn))
      want = "must be an RFC 3339 date and time (YYYY-MM-DDTHH:MM:SSZ)";
    break;
  case TK_FIELD_ENUM: {
    int ok = 0;
    for (size_t k = 0; s && k < f->nvalues && !ok; k++)
      ok = strlen(f->values[k]) == sn && memcmp(f->values[k], s, sn) == 0;
    if (!ok) {
      char list[200];
      size_t at = 0;
      list[0] = 0;
      for (size_t k = 0; k < f->nvalues && at < sizeof list - 1; k++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", k ? ", " : "",
                               f->values[k]);
      snprintf(why, cap, "must be one of: %s", list);
      return TK_EINVAL;
    }
    break;
  }
  case TK_FIELD_INTEGER:
    if (!json_is_integer(v)) want = "must be an integer";
    break;
  case TK_FIELD_BOOLEAN:
    if (!json_is_boolean(v)) want = "must be true or false";
    break;
  case TK_FIELD_LIST:
    if (!json_is_array(v)) want = "must be a list";
    break;
  case TK_FIELD_REF:
    if (!s || !valid_ref(s, sn)) want = "must be a record id (32 hex digits)";
    break;
  }
  if (!want) return 0;
  snprintf(why, cap, "%s", want);
  return TK_EINVAL;
}

/* ---- fields not declared -------------------------------------------------------- */

int tk_plugin_field_reserved(const char *name)
{
  return strcmp(name, "_attachments") == 0 || strcmp(name, "_deleted") == 0;
}

/* Edit distance of a and b (bytes), at most 99 (longer names: 99). */
static int distance(const char *a, const char *b)
{
  size_t na = strlen(a), nb = strlen(b);
  int row[65];
  if (na > 64 || nb > 64) return 99;
  for (size_t j = 0; j <= nb; j++)
    row[j] = (int)j;
  for (size_t i = 1; i <= na; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= nb; j++) {
      int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      diag = up;
      row[j] = best;
    }
  }
  return row[nb];
}

const char *tk_plugin_name_suggest(const char *key, const char *const *names, size_t n)
{
  const char *near = NULL;
  int best = 99;
  for (size_t i = 0; i < n; i++) {
    int dist = distance(key, names[i]);
    if (dist < best) {
      best = dist;
      near = names[i];
    }
  }
  /* only when it is close: two edits, or a third of the name */
  if (best > 2 && (size_t)best * 3 > strlen(key)) return NULL;
  return near;
}

int tk_plugin_field_unknown(const tk_plugin_decl_t *d, const char *key, char *why,
                            size_t cap)
{
  /* a type that declares no fields takes any */
  if (d->extra_fields || d->nfields == 0 || tk_plugin_field_reserved(key)) return 0;
  /* fields are sorted by name: a binary search, the common case */
  size_t lo = 0, hi = d->nfields;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(d->fields[mid].name, key);
    if (c == 0) return 0;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  const char *names[TK_PLUGIN_MAX_FIELDS];
  size_t nn = 0;
  for (size_t i = 0; i < d->nfields && nn < TK_PLUGIN_MAX_FIELDS; i++)
    names[nn++] = d->fields[i].name;
  const char *near = tk_plugin_name_suggest(key, names, nn);
  char known[190];
  size_t at = 0;
  known[0] = 0;
  for (size_t i = 0; i < d->nfields && at < sizeof known - 1; i++)
    at += (size_t)snprintf(known + at, sizeof known - at, "%s%s", i ? ", " : "",
                           d->fields[i].name);
  if (at >= sizeof known - 1) snprintf(known + sizeof known - 5, 5, "...");
  if (near)
    snprintf(why, cap, "unknown field '%.64s' (did you mean '%s'? known: %s)", key, near,
             known);
  else
    snprintf(why, cap, "unknown field '%.64s' (known: %s)", key,
             d->nfields ? known : "none");
  return TK_EINVAL;
}

/* The declared fields of d against body. 0 or TK_EINVAL naming the field. */
int tk__plugin_check_fields(const decl_t *d, json_t *body, tk_err_t *err)
{
  char why[256];
  for (size_t i = 0; i < d->pub.nfields; i++) {
    const tk_plugin_field_t *f = &d->pub.fields[i];
    if (tk_plugin_field_check(f, json_object_get(body, f->name), why, sizeof why))
      return tk_err_set(err, TK_EINVAL, "content type '%s': field '%s' %s", d->name,
                        f->name, why);
  }
  return 0;
}
