/*
 * test_plugin_forms.c: what a content type declares for its forms (labels
 * in en/ru/ky, enum value labels, the type a ref points to, list items,
 * object items, the field order), each malformed declaration refused at
 * load with a message naming the field and the key; the host's checks of
 * list items with their places (hearings[2].date), every problem of a
 * record at once; validate() refusals named by their field, and validate
 * returning a list of problems. Every test runs twice: in-process and in a
 * jailed set (real worker processes), whose declarations and problems
 * cross the worker's channel.
 */
#include "tk_plugin.h"
#include "tk_test.h"

#include <jansson.h>
#include <stdlib.h>

#define BODY(s) TK_SLICE((s), strlen(s))
#define ID "0123456789abcdef0123456789abcdef"

static int has(const char *hay, const char *needle)
{
  if (strstr(hay, needle)) return 1;
  fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", hay, needle);
  return 0;
}

static const char *const forms_src =
    "tunduk.content_type {\n"
    "  name = 'case',\n"
    "  label = { en = 'Case', ru = 'Дело', ky = 'Иш' },\n"
    "  fields = {\n"
    "    number = { kind = 'text', label = 'No.' },\n"
    "    status = { kind = 'enum', label = { en = 'Status', ky = 'Абалы' },\n"
    "               values = { 'open', 'closed' },\n"
    "               value_labels = { open = { en = 'Open', ru = 'Открыто', ky = 'Ачык' "
    "},\n"
    "                                closed = 'Closed' } },\n"
    "    related = { kind = 'ref', type = 'case' },\n"
    "    tags = { kind = 'list' },\n"
    "    counts = { kind = 'list', items = { kind = 'integer' } },\n"
    "    kinds = { kind = 'list', items = { kind = 'enum', values = { 'a', 'b' },\n"
    "              value_labels = { a = { en = 'A', ru = 'А', ky = 'А' } } } },\n"
    "    links = { kind = 'list', items = { kind = 'ref', type = 'appeal' } },\n"
    "    hearings = { kind = 'list', label = { en = 'Hearings', ru = 'Заседания' },\n"
    "      items = { kind = 'object', order = { 'date', 'court' }, fields = {\n"
    "        date = { kind = 'date', required = true, label = { en = 'Date', ky = 'Күнү' "
    "} },\n"
    "        court = 'text',\n"
    "        result = { kind = 'enum', values = { 'won', 'lost' } },\n"
    "        judge = { kind = 'ref', type = 'person' } } } },\n"
    "    opened = 'date', closed = 'date',\n"
    "  },\n"
    "  order = { 'number', 'status', 'hearings' },\n"
    "  validate = function(r)\n"
    "    if r.number == 'one' then return nil, \"field 'closed' must come after "
    "'opened'\" "
    "end\n"
    "    if r.number == 'crash' then return r.nothing.here end\n"
    "    if r.number == 'item' then return nil, \"field 'hearings' item 2: 'court' is "
    "unknown\" end\n"
    "    if r.number == 'itemonly' then return nil, \"field 'links' item 3 is gone\" "
    "end\n"
    "    if r.number == 'undeclared' then return nil, \"field 'nope' is wrong\" end\n"
    "    if r.number == 'list' then return nil, { { field = 'closed', message = 'too "
    "early' },\n"
    "        \"field 'status' cannot be open\", { field = 'hearings[1].date', message = "
    "'a holiday' },\n"
    "        { field = 'ghost', message = 'ghostly' }, { message = 'the whole record' } "
    "} "
    "end\n"
    "    if r.number == 'many' then local t = {} for i = 1, 100 do t[i] = 'p' .. i end "
    "return nil, t end\n"
    "    if r.number == 'badlist' then return nil, { 5 } end\n"
    "    if r.number == 'empty' then return nil, {} end\n"
    "    return true\n"
    "  end,\n"
    "}\n";

static tk_plugin_set_t *set_of(int jailed, const char *src)
{
  tk_plugin_limits_t l;
  tk_plugin_limits_default(&l);
  l.mem_bytes = 8u << 20;
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  int rc = jailed ? tk_plugin_set_new_jailed(&s, &l, 1, &e) : tk_plugin_set_new(&s, &l);
  if (rc < 0) {
    fprintf(stderr, "  set: %s\n", e.msg);
    return NULL;
  }
  if (tk_plugin_set_add_source(s, "forms.lua", src, strlen(src), &e) < 0) {
    fprintf(stderr, "  load: %s\n", e.msg);
    tk_plugin_set_free(s);
    return NULL;
  }
  return s;
}

static const tk_plugin_field_t *fld(const tk_plugin_decl_t *d, const char *name)
{
  for (size_t i = 0; i < d->nfields; i++)
    if (strcmp(d->fields[i].name, name) == 0) return &d->fields[i];
  return NULL;
}

static int eq(const char *a, const char *b)
{
  return a && b && strcmp(a, b) == 0;
}

static void declarations(int jailed)
{
  tk_plugin_set_t *s = set_of(jailed, forms_src);
  CHECK(s != NULL);
  if (!s) return;
  const tk_plugin_decl_t *d = tk_plugin_set_find(s, TK_PLUGIN_TYPE, "case");
  CHECK(d != NULL);
  if (!d) goto done;
  CHECK(eq(d->labels.v[0], "Case") && eq(d->labels.v[1], "Дело") &&
        eq(d->labels.v[2], "Иш"));
  CHECK(d->norder == 3 && eq(d->order[0], "number") && eq(d->order[2], "hearings"));
  const tk_plugin_field_t *f = fld(d, "number");
  CHECK(f && eq(f->label, "No.") && eq(f->labels.v[0], "No.") && !f->labels.v[1]);
  f = fld(d, "status");
  CHECK(f && eq(f->label, "Status") && !f->labels.v[1] && eq(f->labels.v[2], "Абалы"));
  CHECK(f && f->value_labels && eq(f->value_labels[0].v[1], "Открыто") &&
        eq(f->value_labels[1].v[0], "Closed") && !f->value_labels[1].v[1]);
  f = fld(d, "related");
  CHECK(f && f->kind == TK_FIELD_REF && eq(f->ref_type, "case"));
  f = fld(d, "tags");
  CHECK(f && f->kind == TK_FIELD_LIST && !f->items);
  f = fld(d, "kinds");
  CHECK(f && f->items && f->items->kind == TK_FIELD_ENUM && f->items->nvalues == 2 &&
        f->items->value_labels && eq(f->items->value_labels[0].v[1], "А") &&
        !f->items->value_labels[1].v[0]);
  f = fld(d, "links");
  CHECK(f && f->items && f->items->kind == TK_FIELD_REF &&
        eq(f->items->ref_type, "appeal"));
  f = fld(d, "hearings");
  CHECK(f && f->items && f->items->kind == TK_FIELD_OBJECT && f->items->nsub == 4);
  if (f && f->items && f->items->nsub == 4) {
    const tk_plugin_field_t *sub = f->items->sub;
    /* the order first, then by name */
    CHECK(eq(sub[0].name, "date") && eq(sub[1].name, "court") &&
          eq(sub[2].name, "judge") && eq(sub[3].name, "result"));
    CHECK(sub[0].required && sub[0].kind == TK_FIELD_DATE &&
          eq(sub[0].labels.v[2], "Күнү"));
    CHECK(!sub[1].required && sub[1].kind == TK_FIELD_TEXT);
    CHECK(eq(sub[2].ref_type, "person") && sub[3].nvalues == 2);
  }
done:
  tk_plugin_set_free(s);
}

static void test_declarations(void)
{
  declarations(0);
  declarations(1);
}

/* src refused at load, with a message holding want (and the plugin). */
static int refused_load(const char *src, const char *want)
{
  tk_plugin_limits_t l;
  tk_plugin_limits_default(&l);
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  int ok = 0;
  if (tk_plugin_set_new(&s, &l) < 0) return 0;
  tk_err_clear(&e);
  int rc = tk_plugin_set_add_source(s, "bad.lua", src, strlen(src), &e);
  if (rc != TK_EPLUGIN)
    fprintf(stderr, "  [%s] rc %d (%s), want TK_EPLUGIN\n", src, rc, e.msg);
  else
    ok = has(e.msg, want) && has(e.msg, "bad.lua") &&
         tk_plugin_set_count(s, TK_PLUGIN_TYPE) == 0;
  tk_plugin_set_free(s);
  return ok;
}

#define T(fields) "tunduk.content_type{ name = 't', fields = { " fields " } }"

static void test_malformed(void)
{
  /* labels */
  CHECK(refused_load(T("a = { kind = 'text', label = 5 }"),
                     "field 'a': 'label' must be a string or a table"));
  CHECK(refused_load(T("a = { kind = 'text', label = { ru = 'Дата' } }"),
                     "field 'a': 'label' needs 'en'"));
  CHECK(refused_load(T("a = { kind = 'text', label = { en = 'A', de = 'A' } }"),
                     "field 'a': 'label': unknown key 'de' (known: en, ru, ky)"));
  CHECK(refused_load(T("a = { kind = 'text', label = { en = 'A', ru = 7 } }"),
                     "field 'a': 'label': 'ru' must be a string"));
  CHECK(refused_load(T("a = { kind = 'text', label = string.rep('x', 300) }"),
                     "field 'a': 'label' must be 1 to 256 bytes of UTF-8 text"));
  CHECK(refused_load(T("a = { kind = 'text', label = { en = 'ok', ky = '\\xff' } }"),
                     "'ky' must be 1 to 256 bytes of UTF-8 text"));
  CHECK(refused_load(T("a = { kind = 'text', lable = 'A' }"),
                     "field 'a': unknown key 'lable'"));
  CHECK(refused_load("tunduk.content_type{ name = 't', label = { en = 'T', xx = 'T' } }",
                     "tunduk.content_type: 'label': unknown key 'xx'"));
  /* value_labels */
  CHECK(refused_load(
      T("s = { kind = 'enum', values = { 'a' }, value_labels = { b = 'B' } }"),
      "field 's': value_labels: 'b' is not one of its values"));
  CHECK(refused_load(T("s = { kind = 'enum', values = { 'a' }, value_labels = 'A' }"),
                     "field 's': 'value_labels' must be a table"));
  CHECK(refused_load(T("s = { kind = 'enum', values = { 'a' }, value_labels = { a = { "
                       "ru = 'А' } } }"),
                     "field 's': value_labels 'a': 'label' needs 'en'"));
  CHECK(refused_load(T("s = { kind = 'text', value_labels = { a = 'A' } }"),
                     "field 's': 'value_labels' is only for enum fields"));
  /* ref type */
  CHECK(refused_load(T("r = { kind = 'ref', type = 'No Such!' }"),
                     "field 'r': 'type' must be a content type name"));
  CHECK(refused_load(T("r = { kind = 'text', type = 'case' }"),
                     "field 'r': 'type' is only for ref fields"));
  /* items */
  CHECK(refused_load(T("l = { kind = 'text', items = { kind = 'text' } }"),
                     "field 'l': 'items' is only for list fields"));
  CHECK(refused_load(T("l = { kind = 'list', items = { kind = 'list' } }"),
                     "field 'l' items needs a kind (text, date, datetime, enum, integer, "
                     "boolean, ref, object)"));
  CHECK(refused_load(T("l = { kind = 'list', items = { kind = 'enum' } }"),
                     "field 'l' items needs a values list"));
  CHECK(refused_load(T("l = { kind = 'list', items = { kind = 'text', label = 'x' } }"),
                     "field 'l' items: unknown key 'label'"));
  CHECK(refused_load(T("l = { kind = 'list', items = 'object' }"),
                     "field 'l' items: object items need"));
  CHECK(refused_load(T("l = { kind = 'list', items = { kind = 'object' } }"),
                     "field 'l' items: object items need"));
  CHECK(refused_load(T("l = { kind = 'list', items = { kind = 'object', fields = {} } }"),
                     "at least one field"));
  CHECK(refused_load(T("l = { kind = 'list', items = { kind = 'text', fields = {} } }"),
                     "field 'l' items: 'fields' is only for object items"));
  /* object fields: scalar only, no nested lists */
  CHECK(refused_load(
      T("l = { kind = 'list', items = { kind = 'object', fields = { x = 'list' } } }"),
      "field 'l' items field 'x' needs a kind (text, date, datetime, enum, integer, "
      "boolean, ref)"));
  CHECK(refused_load(T("l = { kind = 'list', items = { kind = 'object', fields = { x = { "
                       "kind = 'object' } } } }"),
                     "field 'l' items field 'x' needs a kind"));
  CHECK(refused_load(T("l = { kind = 'list', items = { kind = 'object', fields = { x = { "
                       "kind = 'text', items = {} } } } }"),
                     "field 'l' items field 'x': unknown key 'items'"));
  CHECK(refused_load(T("l = { kind = 'list', items = { kind = 'object', fields = { x = { "
                       "kind = 'text', required = 'yes' } } } }"),
                     "field 'l' items field 'x': 'required' must be true or false"));
  CHECK(refused_load(T("l = { kind = 'list', items = { kind = 'object', fields = { x = "
                       "'text' }, order = { 'y' } } }"),
                     "field 'l' items: 'order' names 'y', not one of its fields"));
  CHECK(refused_load(
      T("l = { kind = 'list', items = { kind = 'object', fields = (function() "
        "local t = {} for i = 1, 33 do t['f' .. i] = 'text' end return t "
        "end)() } }"),
      "field 'l' items: more than 32 fields"));
  /* order */
  CHECK(
      refused_load("tunduk.content_type{ name = 't', fields = { a = 'text' }, order = { "
                   "'a', 'b' } }",
                   "'order' names more fields than are declared"));
  CHECK(refused_load(
      "tunduk.content_type{ name = 't', fields = { a = 'text', b = 'text' }, "
      "order = { 'a', 'c' } }",
      "tunduk.content_type: 'order' names 'c', not a declared field"));
  CHECK(refused_load(
      "tunduk.content_type{ name = 't', fields = { a = 'text', b = 'text' }, "
      "order = { 'a', 'a' } }",
      "'order' names 'a' twice"));
  CHECK(refused_load(
      "tunduk.content_type{ name = 't', fields = { a = 'text' }, order = 'a' }",
      "'order' must be a list of field names"));
}

typedef struct got {
  char field[16][TK_PLUGIN_MAX_PATH];
  char message[16][400];
  size_t n;
} got_t;

static void got_one(void *ud, const char *field, const char *message)
{
  got_t *g = ud;
  if (g->n < 16) {
    snprintf(g->field[g->n], sizeof g->field[0], "%s", field);
    snprintf(g->message[g->n], sizeof g->message[0], "%s", message);
  }
  g->n++;
}

static int problem(const tk_plugin_problems_t *p, const char *field, const char *want)
{
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->v[i].field, field) == 0 && strstr(p->v[i].message, want)) return 1;
  fprintf(stderr, "  no problem [%s] \"%s\" among %zu:\n", field, want, p->n);
  for (size_t i = 0; i < p->n; i++)
    fprintf(stderr, "    [%s] %s\n", p->v[i].field, p->v[i].message);
  return 0;
}

static void items(int jailed)
{
  tk_plugin_set_t *s = set_of(jailed, forms_src);
  CHECK(s != NULL);
  if (!s) return;
  tk_plugin_problems_t *p = calloc(1, sizeof *p);
  tk_err_t e;
  CHECK(p != NULL);
  if (!p) goto done;
  /* good items pass */
  CHECK_RC(tk_plugin_validate_problems(
               s, "case",
               BODY("{\"counts\":[1,2],\"kinds\":[\"a\"],\"links\":[\"" ID "\"],"
                    "\"hearings\":[{\"date\":\"2026-01-02\",\"court\":\"X\",\"extra\":1},"
                    "{\"date\":\"2026-01-03\",\"result\":\"won\",\"judge\":\"" ID "\"}],"
                    "\"tags\":[\"any\",\"text\"]}"),
               p, &e),
           0);
  CHECK(p->n == 0);
  /* every bad item, each with its place, in one call */
  CHECK_RC(tk_plugin_validate_problems(
               s, "case",
               BODY("{\"counts\":[1,\"2\"],\"kinds\":[\"a\",\"c\",null],"
                    "\"links\":[\"xyz\"],\"hearings\":[{\"court\":\"X\"},"
                    "{\"date\":\"2026-02-30\",\"result\":\"draw\",\"court\":5},7,"
                    "{\"date\":\"2026-01-03\",\"judge\":\"abc\"}],"
                    "\"tags\":[1]}"),
               p, &e),
           TK_EINVAL);
  CHECK(has(e.msg, "content type 'case': field '"));
  CHECK(problem(p, "counts[2]", "field 'counts' item 2 must be an integer"));
  CHECK(problem(p, "kinds[2]", "field 'kinds' item 2 ('c') must be one of: a, b"));
  CHECK(problem(p, "kinds[3]", "field 'kinds' item 3 must be one of: a, b"));
  CHECK(
      problem(p, "links[1]", "field 'links' item 1 must be a record id (32 hex digits)"));
  CHECK(problem(p, "hearings[1].date", "field 'hearings' item 1: 'date' is required"));
  CHECK(problem(p, "hearings[2].date",
                "field 'hearings' item 2: 'date' must be a date YYYY-MM-DD"));
  CHECK(problem(p, "hearings[2].result",
                "field 'hearings' item 2: 'result' must be one of"));
  CHECK(problem(p, "hearings[2].court", "field 'hearings' item 2: 'court' must be text"));
  CHECK(
      problem(p, "hearings[3]",
              "field 'hearings' item 3 must be an object {date, court, judge, result}"));
  CHECK(problem(p, "hearings[4].judge",
                "field 'hearings' item 4: 'judge' must be a record"));
  CHECK(p->n == 10); /* tags are text without items: [1] is not checked */
  /* the single-field check says the first */
  const tk_plugin_decl_t *d = tk_plugin_set_find(s, TK_PLUGIN_TYPE, "case");
  json_error_t je;
  json_t *v = json_loads("[{\"date\":\"2026-01-01\"},{\"date\":\"x\"}]", 0, &je);
  char why[256];
  const tk_plugin_field_t *hf = NULL;
  for (size_t i = 0; d && i < d->nfields; i++)
    if (strcmp(d->fields[i].name, "hearings") == 0) hf = &d->fields[i];
  CHECK(hf && tk_plugin_field_check(hf, v, why, sizeof why) == TK_EINVAL &&
        has(why, "item 2: 'date' must be a date"));
  got_t g;
  memset(&g, 0, sizeof g);
  CHECK(hf && tk_plugin_field_problems(hf, v, got_one, &g) == 1 &&
        strcmp(g.field[0], "hearings[2].date") == 0 &&
        has(g.message[0], "field 'hearings' item 2: 'date' must be a date YYYY-MM-DD"));
  json_decref(v);
  /* a list of the wrong kind is one problem, not its items' */
  CHECK_RC(tk_plugin_validate_problems(s, "case", BODY("{\"hearings\":{}}"), p, &e),
           TK_EINVAL);
  CHECK(p->n == 1 && problem(p, "hearings", "field 'hearings' must be a list"));
  /* more problems than are kept: the first TK_PLUGIN_MAX_PROBLEMS */
  char big[8192];
  size_t at = (size_t)snprintf(big, sizeof big, "{\"counts\":[");
  for (int i = 0; i < 100; i++)
    at += (size_t)snprintf(big + at, sizeof big - at, "%s\"x\"", i ? "," : "");
  snprintf(big + at, sizeof big - at, "]}");
  CHECK_RC(tk_plugin_validate_problems(s, "case", BODY(big), p, &e), TK_EINVAL);
  CHECK(p->n == TK_PLUGIN_MAX_PROBLEMS && problem(p, "counts[32]", "item 32"));
done:
  free(p);
  tk_plugin_set_free(s);
}

static void test_items(void)
{
  items(0);
  items(1);
}

static void validate_fields(int jailed)
{
  tk_plugin_set_t *s = set_of(jailed, forms_src);
  CHECK(s != NULL);
  if (!s) return;
  tk_plugin_problems_t *p = calloc(1, sizeof *p);
  tk_err_t e;
  CHECK(p != NULL);
  if (!p) goto done;
  /* a reason "field 'X' ..." names X */
  CHECK_RC(tk_plugin_validate_problems(s, "case", BODY("{\"number\":\"one\"}"), p, &e),
           TK_EINVAL);
  CHECK(p->n == 1 && problem(p, "closed", "field 'closed' must come after 'opened'"));
  CHECK(has(e.msg, "content type 'case': field 'closed' must come after"));
  /* validate() runs when a field failed too: every problem at once, the
   * field's first; an error it raises then is not shown */
  CHECK_RC(tk_plugin_validate_problems(
               s, "case", BODY("{\"number\":\"one\",\"status\":\"x\"}"), p, &e),
           TK_EINVAL);
  CHECK(p->n == 2 && eq(p->v[0].field, "status") &&
        problem(p, "closed", "field 'closed' must come after 'opened'"));
  CHECK(has(e.msg, "content type 'case': field 'status' must be one of"));
  CHECK_RC(tk_plugin_validate_problems(
               s, "case", BODY("{\"number\":\"crash\",\"status\":\"x\"}"), p, &e),
           TK_EINVAL);
  CHECK(p->n == 1 && eq(p->v[0].field, "status") && has(e.msg, "field 'status'"));
  CHECK_RC(tk_plugin_validate_problems(s, "case", BODY("{\"number\":\"crash\"}"), p, &e),
           TK_EPLUGIN);
  /* ... " item N: 'y'" names X[N].y; " item N" names X[N] */
  CHECK_RC(tk_plugin_validate_problems(s, "case", BODY("{\"number\":\"item\"}"), p, &e),
           TK_EINVAL);
  CHECK(p->n == 1 && problem(p, "hearings[2].court", "item 2: 'court' is unknown"));
  CHECK_RC(
      tk_plugin_validate_problems(s, "case", BODY("{\"number\":\"itemonly\"}"), p, &e),
      TK_EINVAL);
  CHECK(p->n == 1 && problem(p, "links[3]", "field 'links' item 3 is gone"));
  /* a field the type does not declare: the whole record */
  CHECK_RC(
      tk_plugin_validate_problems(s, "case", BODY("{\"number\":\"undeclared\"}"), p, &e),
      TK_EINVAL);
  CHECK(p->n == 1 && problem(p, "", "field 'nope' is wrong"));
  /* a list: every entry a problem, with its field */
  CHECK_RC(tk_plugin_validate_problems(s, "case", BODY("{\"number\":\"list\"}"), p, &e),
           TK_EINVAL);
  CHECK(p->n == 5);
  CHECK(problem(p, "closed", "too early"));
  CHECK(problem(p, "status", "field 'status' cannot be open"));
  CHECK(problem(p, "hearings[1].date", "a holiday"));
  CHECK(problem(p, "", "ghostly"));
  CHECK(problem(p, "", "the whole record"));
  CHECK(has(e.msg, "content type 'case': too early"));
  /* bounded: the first TK_PLUGIN_MAX_PROBLEMS */
  CHECK_RC(tk_plugin_validate_problems(s, "case", BODY("{\"number\":\"many\"}"), p, &e),
           TK_EINVAL);
  CHECK(p->n == TK_PLUGIN_MAX_PROBLEMS && problem(p, "", "p32"));
  /* a malformed entry is a problem saying so; an empty list refuses too */
  CHECK_RC(
      tk_plugin_validate_problems(s, "case", BODY("{\"number\":\"badlist\"}"), p, &e),
      TK_EINVAL);
  CHECK(p->n == 1 && problem(p, "", "validate's problem 1 is malformed"));
  CHECK_RC(tk_plugin_validate_problems(s, "case", BODY("{\"number\":\"empty\"}"), p, &e),
           TK_EINVAL);
  CHECK(p->n == 1 && problem(p, "", "refused without a reason"));
  /* the plain call says the first */
  CHECK_RC(tk_plugin_validate(s, "case", BODY("{\"number\":\"list\"}"), &e), TK_EINVAL);
  CHECK(has(e.msg, "content type 'case': too early"));
  /* valid */
  CHECK_RC(tk_plugin_validate_problems(s, "case", BODY("{\"number\":\"fine\"}"), p, &e),
           0);
  CHECK(p->n == 0);
done:
  free(p);
  tk_plugin_set_free(s);
}

static void test_validate_fields(void)
{
  validate_fields(0);
  validate_fields(1);
}

/* The bundled content types load with their labels and items. */
static void test_bundled(void)
{
  const char *dir = getenv("TK_SOURCE_DIR");
  char path[1024];
  tk_plugin_limits_t l;
  tk_plugin_limits_default(&l);
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  CHECK(dir != NULL);
  if (!dir) return;
  CHECK_RC(tk_plugin_set_new(&s, &l), 0);
  static const char *const files[] = {"case.lua", "appeal.lua", "testimony.lua"};
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/plugins/%s", dir, files[i]);
    CHECK_RC(tk_plugin_set_add_file(s, path, &e), 0);
  }
  static const char *const types[] = {"case", "appeal", "testimony"};
  for (int t = 0; t < 3; t++) {
    const tk_plugin_decl_t *d = tk_plugin_set_find(s, TK_PLUGIN_TYPE, types[t]);
    CHECK(d && d->labels.v[0] && d->labels.v[1] && d->labels.v[2] &&
          d->norder == d->nfields);
    for (size_t i = 0; d && i < d->nfields; i++) {
      const tk_plugin_field_t *f = &d->fields[i];
      int ok = f->labels.v[0] && f->labels.v[1] && f->labels.v[2];
      for (size_t k = 0; ok && f->kind == TK_FIELD_ENUM && k < f->nvalues; k++)
        ok = f->value_labels && f->value_labels[k].v[1] && f->value_labels[k].v[2];
      if (!ok) fprintf(stderr, "  %s.%s lacks a label\n", d->name, f->name);
      CHECK(ok);
    }
  }
  const tk_plugin_decl_t *c = tk_plugin_set_find(s, TK_PLUGIN_TYPE, "case");
  CHECK(c && eq(c->labels.v[2], "Иш"));
  CHECK(eq(tk_plugin_set_find(s, TK_PLUGIN_TYPE, "appeal")->labels.v[2], "Кайрылуу"));
  CHECK(eq(tk_plugin_set_find(s, TK_PLUGIN_TYPE, "testimony")->labels.v[2], "Көрсөтмө"));
  const tk_plugin_field_t *f = c ? fld(c, "violations") : NULL;
  CHECK(f && f->items && f->items->kind == TK_FIELD_ENUM && f->items->value_labels);
  f = c ? fld(c, "testimonies") : NULL;
  CHECK(f && f->items && eq(f->items->ref_type, "testimony"));
  tk_plugin_set_free(s);
}

TK_TESTS(TK_TEST(test_declarations), TK_TEST(test_malformed), TK_TEST(test_items),
         TK_TEST(test_validate_fields), TK_TEST(test_bundled))
