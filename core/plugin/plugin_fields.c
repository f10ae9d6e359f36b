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

/* The kind check of one present value v of f: 0, or TK_EINVAL with why. */
static int kind_check(const tk_plugin_field_t *f, const json_t *v, char *why, size_t cap)
{
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
  case TK_FIELD_OBJECT:
    if (!json_is_object(v)) want = "must be an object";
    break;
  }
  if (!want) return 0;
  snprintf(why, cap, "%s", want);
  return TK_EINVAL;
}

/* A field's own value: absent or empty only matters if required. */
static int value_check(const tk_plugin_field_t *f, const json_t *v, char *why, size_t cap)
{
  int empty =
      !v || json_is_null(v) ||
      (f->kind == TK_FIELD_TEXT && json_is_string(v) && json_string_length(v) == 0);
  if (empty) {
    if (!f->required) return 0;
    snprintf(why, cap, "is required");
    return TK_EINVAL;
  }
  return kind_check(f, v, why, cap);
}

/* Where the problems of one field go: each as (place, reason after the
 * field's name). */
typedef void (*sink_fn)(void *ud, const char *place, const char *reason);

/* Every problem of the items of list v against f->items. */
static size_t item_problems(const tk_plugin_field_t *f, const json_t *v, sink_fn fn,
                            void *ud)
{
  const tk_plugin_field_t *it = f->items;
  char why[256], reason[TK_PLUGIN_MAX_REASON + 1], place[TK_PLUGIN_MAX_PATH];
  size_t i, n = 0;
  json_t *x;
  json_array_foreach((json_t *)v, i, x)
  {
    snprintf(place, sizeof place, "%.64s[%zu]", f->name, i + 1);
    if (it->kind != TK_FIELD_OBJECT) {
      if (kind_check(it, x, why, sizeof why)) {
        if (it->kind == TK_FIELD_ENUM && json_is_string(x)) /* say what it was */
          snprintf(reason, sizeof reason, "item %zu ('%.40s') %.200s", i + 1,
                   json_string_value(x), why);
        else
          snprintf(reason, sizeof reason, "item %zu %s", i + 1, why);
        fn(ud, place, reason);
        n++;
      }
      continue;
    }
    if (!json_is_object(x)) {
      char names[160];
      size_t at = 0;
      names[0] = 0;
      for (size_t k = 0; k < it->nsub && at < sizeof names - 1; k++)
        at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", k ? ", " : "",
                               it->sub[k].name);
      snprintf(reason, sizeof reason, "item %zu must be an object {%s}", i + 1, names);
      fn(ud, place, reason);
      n++;
      continue;
    }
    for (size_t k = 0; k < it->nsub; k++) {
      const tk_plugin_field_t *sf = &it->sub[k];
      if (!value_check(sf, json_object_get(x, sf->name), why, sizeof why)) continue;
      char sub[TK_PLUGIN_MAX_PATH];
      snprintf(sub, sizeof sub, "%.64s[%zu].%.64s", f->name, i + 1, sf->name);
      snprintf(reason, sizeof reason, "item %zu: '%s' %s", i + 1, sf->name, why);
      fn(ud, sub, reason);
      n++;
    }
  }
  return n;
}

static size_t problems_of(const tk_plugin_field_t *f, const json_t *v, sink_fn fn,
                          void *ud)
{
  char why[256];
  if (value_check(f, v, why, sizeof why)) {
    fn(ud, f->name, why);
    return 1;
  }
  if (f->kind == TK_FIELD_LIST && f->items && v && json_is_array(v))
    return item_problems(f, v, fn, ud);
  return 0;
}

typedef struct first {
  char *why;
  size_t cap;
  int seen;
} first_t;

static void first_sink(void *ud, const char *place, const char *reason)
{
  first_t *k = ud;
  (void)place;
  if (!k->seen++) snprintf(k->why, k->cap, "%s", reason);
}

int tk_plugin_field_check(const tk_plugin_field_t *f, const json_t *v, char *why,
                          size_t cap)
{
  first_t k = {why, cap, 0};
  return problems_of(f, v, first_sink, &k) ? TK_EINVAL : 0;
}

typedef struct named {
  const char *name;
  tk_plugin_problem_fn fn;
  void *ud;
} named_t;

static void named_sink(void *ud, const char *place, const char *reason)
{
  named_t *k = ud;
  char msg[TK_PLUGIN_MAX_REASON + 1 + 80];
  snprintf(msg, sizeof msg, "field '%s' %s", k->name, reason);
  k->fn(k->ud, place, msg);
}

size_t tk_plugin_field_problems(const tk_plugin_field_t *f, const json_t *v,
                                tk_plugin_problem_fn fn, void *ud)
{
  named_t k = {f->name, fn, ud};
  return problems_of(f, v, named_sink, &k);
}

void tk__plugin_problem_add(tk_plugin_problems_t *out, const char *field,
                            const char *message)
{
  if (!out || out->n >= TK_PLUGIN_MAX_PROBLEMS) return;
  tk_plugin_problem_t *p = &out->v[out->n++];
  snprintf(p->field, sizeof p->field, "%s", field ? field : "");
  snprintf(p->message, sizeof p->message, "%s", message);
}

const tk_plugin_field_t *tk__plugin_field_find(const decl_t *d, const char *name)
{
  size_t lo = 0, hi = d->pub.nfields;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(d->pub.fields[mid].name, name);
    if (c == 0) return &d->pub.fields[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* A 'quoted' name at p (p after the opening quote): its length, or 0. */
static size_t quoted(const char *p)
{
  const char *q = strchr(p, '\'');
  return q && q > p && q - p <= TK_PLUGIN_MAX_NAME ? (size_t)(q - p) : 0;
}

void tk__plugin_reason_field(const decl_t *d, const char *reason, char *out, size_t cap)
{
  char name[TK_PLUGIN_MAX_NAME + 1], sub[TK_PLUGIN_MAX_NAME + 1];
  out[0] = 0;
  if (strncmp(reason, "field '", 7) != 0) return;
  const char *p = reason + 7;
  size_t n = quoted(p);
  if (!n) return;
  memcpy(name, p, n);
  name[n] = 0;
  const tk_plugin_field_t *f = tk__plugin_field_find(d, name);
  if (!f) return;
  p += n + 1;
  unsigned long item = 0;
  int digits_n = 0;
  if (strncmp(p, " item ", 6) == 0) {
    p += 6;
    while (*p >= '0' && *p <= '9' && digits_n < 9) {
      item = item * 10 + (unsigned long)(*p++ - '0');
      digits_n++;
    }
  }
  if (!digits_n || item == 0 || (*p >= '0' && *p <= '9')) {
    snprintf(out, cap, "%s", name);
    return;
  }
  const tk_plugin_field_t *it = f->items;
  if (it && it->kind == TK_FIELD_OBJECT && strncmp(p, ": '", 3) == 0 &&
      (n = quoted(p + 3)) != 0) {
    memcpy(sub, p + 3, n);
    sub[n] = 0;
    for (size_t k = 0; k < it->nsub; k++)
      if (strcmp(it->sub[k].name, sub) == 0) {
        snprintf(out, cap, "%s[%lu].%s", name, item, sub);
        return;
      }
  }
  snprintf(out, cap, "%s[%lu]", name, item);
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

typedef struct collect {
  tk_plugin_problems_t *out;
  char first[TK_PLUGIN_MAX_REASON + 1 + 80];
  size_t n;
} collect_t;

static void collect_sink(void *ud, const char *field, const char *message)
{
  collect_t *k = ud;
  if (!k->n++) snprintf(k->first, sizeof k->first, "%s", message);
  tk__plugin_problem_add(k->out, field, message);
}

/* The declared fields of d against body: 0, or TK_EINVAL with the first
 * problem in err and every one in out. */
int tk__plugin_check_fields(const decl_t *d, json_t *body, tk_plugin_problems_t *out,
                            tk_err_t *err)
{
  collect_t k;
  k.out = out;
  k.n = 0;
  if (out) out->n = 0;
  for (size_t i = 0; i < d->pub.nfields; i++) {
    const tk_plugin_field_t *f = &d->pub.fields[i];
    tk_plugin_field_problems(f, json_object_get(body, f->name), collect_sink, &k);
  }
  if (!k.n) return 0;
  return tk_err_set(err, TK_EINVAL, "content type '%s': %s", d->name, k.first);
}
