/*
 * test_office_api.c: the front ends' office API (tk_office.h) on a real
 * office in a temporary folder with the bundled plugins: validation that
 * returns every problem in one call and writes nothing, a read without
 * attachment keys, attachments carried over on edit, the record rules
 * (tombstone by edit, already deleted, not in conflict, "_attachments" in
 * input), and the content types' form schema as JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_office.h"
#include "tk_test.h"

#define PASS "correct horse"

static void office(const char *name, tk_office_t **out)
{
  char home[2048];
  tk_office_t *o = NULL;
  tk_err_t e;
  *out = NULL;
  CHECK_RC(tk_office_global_init(), 0);
  snprintf(home, sizeof home, "%s/%s", tk_test_tmpdir(), name);
  CHECK_RC(
      tk_office_create(home, name, PASS, strlen(PASS), TK_OFFICE_KDF_INTERACTIVE, &e), 0);
  CHECK_RC(tk_office_open(&o, home, &e), 0);
  CHECK_RC(tk_office_unlock(o, PASS, strlen(PASS), &e), 0);
  CHECK_RC(tk_office_vault_create(o, "cases", &e), 0);
  *out = o;
}

static int count_one(void *ctx, const tk_office_listing_t *l)
{
  (void)l;
  (*(int *)ctx)++;
  return 0;
}

/* How many records a listing shows, deleted ones too (-1: it failed). */
static int records(tk_office_t *o)
{
  int n = 0;
  tk_err_t e;
  return tk_office_list(o, NULL, NULL, 1, count_one, &n, &e) == 0 ? n : -1;
}

static int has_problem(const tk_office_problems_t *p, const char *field, const char *want)
{
  for (size_t i = 0; i < p->n && i < TK_OFFICE_MAX_PROBLEMS; i++)
    if (strcmp(p->v[i].field, field) == 0 && strstr(p->v[i].message, want)) return 1;
  return 0;
}

static void test_all_problems(void)
{
  tk_office_t *o = NULL;
  office("problems", &o);
  if (!o) return;
  tk_office_problems_t p;
  char rec[2 * TK_RECORD_ID_LEN + 1];
  tk_err_t e;
  /* three fields wrong at once: two required ones missing, one enum off */
  json_t *bad = json_pack("{s:s,s:s}", "status", "nonsense", "opened", "2024-13-40");
  CHECK_RC(tk_office_check(o, "case", bad, &p, &e), TK_EINVAL);
  CHECK(p.n == 4);
  CHECK(has_problem(&p, "case_number", "field 'case_number' is required"));
  CHECK(has_problem(&p, "client_alias", "field 'client_alias' is required"));
  CHECK(has_problem(&p, "status", "field 'status' must be one of: intake"));
  CHECK(has_problem(&p, "opened", "must be a date YYYY-MM-DD"));
  /* the message is the first problem, as the CLI prints it */
  CHECK(strncmp(e.msg, "case record invalid: field '", 28) == 0);
  CHECK(strstr(e.msg, p.v[0].message) != NULL);
  /* the same through a write, and nothing is written */
  CHECK_RC(tk_office_record_new(o, "case", "cases", bad, &p, rec, &e), TK_EINVAL);
  CHECK(p.n == 4);
  CHECK(records(o) == 0);
  /* no such type, no such vault */
  CHECK_RC(tk_office_check(o, "complaint", bad, &p, &e), TK_EINVAL);
  CHECK(strstr(e.msg, "no content type 'complaint'") != NULL);
  json_t *good = json_pack("{s:s,s:s,s:s}", "case_number", "K-1", "client_alias", "C-1",
                           "status", "open");
  CHECK_RC(tk_office_record_new(o, "case", "nope", good, &p, rec, &e), TK_EINVAL);
  CHECK(strstr(e.msg, "no vault 'nope'") != NULL);
  /* a valid one: no problems, one record */
  CHECK_RC(tk_office_check(o, "case", good, &p, &e), 0);
  CHECK(p.n == 0);
  CHECK_RC(tk_office_record_new(o, "case", "cases", good, &p, rec, &e), 0);
  CHECK(records(o) == 1);
  json_decref(bad);
  json_decref(good);
  tk_office_close(o);
}

/* Items of a list checked with their places, every problem at once; a
 * validate() refusal named by its field. */
static void test_item_problems(void)
{
  tk_office_t *o = NULL;
  office("items", &o);
  if (!o) return;
  tk_office_problems_t p;
  char rec[2 * TK_RECORD_ID_LEN + 1];
  tk_err_t e;
  json_error_t je;
  json_t *bad =
      json_loads("{\"case_number\":\"K-1\",\"client_alias\":\"C-1\",\"status\":\"open\","
                 "\"hearings\":[{\"date\":\"2026-01-10\"},{\"date\":\"10.01.2026\"},{"
                 "\"court\":\"x\"},"
                 "\"monday\"],\"violations\":[\"torture\",\"beating\"],"
                 "\"appeals\":[\"0123456789abcdef0123456789abcdef\",\"123\"]}",
                 0, &je);
  CHECK(bad != NULL);
  CHECK_RC(tk_office_record_new(o, "case", "cases", bad, &p, rec, &e), TK_EINVAL);
  CHECK(p.n == 5);
  CHECK(has_problem(&p, "hearings[2].date",
                    "field 'hearings' item 2: 'date' must be a date YYYY-MM-DD"));
  CHECK(
      has_problem(&p, "hearings[3].date", "field 'hearings' item 3: 'date' is required"));
  CHECK(has_problem(&p, "hearings[4]", "field 'hearings' item 4 must be an object"));
  CHECK(has_problem(&p, "violations[2]",
                    "field 'violations' item 2 ('beating') must be one of"));
  CHECK(has_problem(&p, "appeals[2]", "field 'appeals' item 2 must be a record id"));
  CHECK(records(o) == 0);
  json_decref(bad);
  /* validate(): closed before opened, named by its field */
  bad = json_pack("{s:s,s:s,s:s,s:s,s:s}", "case_number", "K-1", "client_alias", "C-1",
                  "status", "closed", "opened", "2026-03-01", "closed", "2026-01-01");
  CHECK_RC(tk_office_check(o, "case", bad, &p, &e), TK_EINVAL);
  CHECK(p.n == 1 && has_problem(&p, "closed", "field 'closed' (2026-01-01) is before"));
  /* two problems of validate at once: a forbidden field ("" : not declared,
   * so also unknown) and the dates */
  json_object_set_new(bad, "real_name", json_string("A. Person"));
  CHECK_RC(tk_office_check(o, "case", bad, &p, &e), TK_EINVAL);
  CHECK(has_problem(&p, "real_name", "unknown field 'real_name'"));
  CHECK(has_problem(&p, "", "field 'real_name' is not allowed"));
  CHECK(has_problem(&p, "closed", "is before 'opened'"));
  json_decref(bad);
  tk_office_close(o);
}

static void write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  fputs(text, f);
  fclose(f);
}

/* No "key" and no chunk ids anywhere in v's body or attachment list. */
static void check_no_keys(const tk_office_view_t *v)
{
  size_t i;
  json_t *a;
  CHECK(json_object_get(v->body, "_attachments") == NULL);
  CHECK(json_array_size(v->attachments) == 1);
  json_array_foreach(v->attachments, i, a)
  {
    CHECK(json_object_get(a, "key") == NULL);
    CHECK(!json_is_array(json_object_get(a, "chunks")));
    CHECK(strcmp(json_string_value(json_object_get(a, "name")), "note.txt") == 0);
  }
  char *dump = json_dumps(v->body, 0);
  CHECK(dump && strstr(dump, "\"key\"") == NULL);
  free(dump);
}

static void test_read_without_keys(void)
{
  tk_office_t *o = NULL;
  office("keys", &o);
  if (!o) return;
  tk_office_view_t v;
  char rec[2 * TK_RECORD_ID_LEN + 1], rev[2 * TK_REV_ID_LEN + 1], path[2300];
  uint32_t nheads = 0;
  json_t *list = NULL;
  tk_err_t e;
  json_t *body = json_pack("{s:s,s:s,s:s}", "case_number", "K-2", "client_alias", "C-2",
                           "status", "open");
  CHECK_RC(tk_office_record_new(o, "case", "cases", body, NULL, rec, &e), 0);
  snprintf(path, sizeof path, "%s/note.txt", tk_test_tmpdir());
  write_file(path, "a file to attach\n");
  CHECK_RC(tk_office_record_attach(o, rec, path, NULL, rev, &e), 0);
  CHECK_RC(tk_office_record_show(o, rec, NULL, &v, &e), 0);
  check_no_keys(&v);
  CHECK(v.deleted == 0 && v.nheads == 1 && v.chunks_missing == 0);
  CHECK(strcmp(json_string_value(json_object_get(v.meta, "revision")), rev) == 0);
  tk_office_view_free(&v);
  CHECK_RC(tk_office_attachments(o, rec, &list, &e), 0);
  CHECK(json_array_size(list) == 1);
  CHECK(json_object_get(json_array_get(list, 0), "key") == NULL);
  CHECK(json_is_true(json_object_get(json_array_get(list, 0), "complete")));
  json_decref(list);

  /* an edit carries the attachment over (the input cannot name it) */
  json_object_set_new(body, "status", json_string("closed"));
  CHECK_RC(tk_office_record_edit(o, rec, body, NULL, rev, &nheads, &e), 0);
  CHECK(nheads == 1);
  CHECK_RC(tk_office_record_show(o, rec, NULL, &v, &e), 0);
  check_no_keys(&v);
  CHECK(strcmp(json_string_value(json_object_get(v.body, "status")), "closed") == 0);
  tk_office_view_free(&v);

  /* input naming "_attachments" is refused at parsing */
  json_t *in = NULL;
  const char *text = "{\"case_number\":\"K\",\"_attachments\":[]}";
  CHECK_RC(tk_office_body_parse(text, strlen(text), "in.json", &in, &e), TK_EINVAL);
  CHECK(in == NULL &&
        strstr(e.msg, "in.json: the field \"_attachments\" is kept") != NULL);

  /* the record rules */
  json_t *tomb = json_pack("{s:b}", "_deleted", 1);
  CHECK_RC(tk_office_record_edit(o, rec, tomb, NULL, rev, &nheads, &e), TK_EINVAL);
  CHECK(strstr(e.msg, "use 'tunduk delete'") != NULL);
  CHECK_RC(tk_office_record_resolve(o, rec, body, NULL, rev, &e), TK_EINVAL);
  CHECK(strstr(e.msg, "is not in conflict") != NULL);
  CHECK_RC(tk_office_record_delete(o, rec, rev, &nheads, &e), 0);
  CHECK_RC(tk_office_record_delete(o, rec, rev, &nheads, &e), TK_EEXIST);
  CHECK(strstr(e.msg, "is already deleted") != NULL);
  CHECK_RC(
      tk_office_record_find(o, "ffffffffffffffff", (uint8_t[TK_RECORD_ID_LEN]){0}, &e),
      TK_ENOTFOUND);
  CHECK(strstr(e.msg, "no record with id 'ffffffffffffffff'") != NULL);
  json_decref(tomb);
  json_decref(body);
  tk_office_close(o);
}

/* The field named name in a schema, or NULL. */
static const json_t *field(const json_t *schema, const char *name)
{
  size_t i;
  json_t *f;
  json_array_foreach(json_object_get(schema, "fields"), i,
                     f) if (strcmp(json_string_value(json_object_get(f, "name")), name) ==
                            0) return f;
  return NULL;
}

static int has_value(const json_t *f, const char *v)
{
  size_t i;
  json_t *x;
  json_array_foreach(json_object_get(f, "values"), i,
                     x) if (strcmp(json_string_value(x), v) == 0) return 1;
  return 0;
}

static const char *str(const json_t *o, const char *k)
{
  return json_string_value(json_object_get(o, k));
}

static void test_form_schema(void)
{
  tk_office_t *o = NULL;
  office("schema", &o);
  if (!o) return;
  json_t *s = NULL, *types = NULL;
  tk_err_t e;
  CHECK_RC(tk_office_types(o, &types, &e), 0);
  CHECK(json_array_size(types) >= 3);
  json_decref(types);

  CHECK_RC(tk_office_form_schema(o, "case", &s, &e), 0);
  CHECK(strcmp(str(s, "type"), "case") == 0 && strcmp(str(s, "plugin"), "case.lua") == 0);
  CHECK(json_is_true(json_object_get(s, "validate")));
  const json_t *f = field(s, "status");
  CHECK(f && strcmp(str(f, "kind"), "enum") == 0);
  CHECK(json_is_true(json_object_get(f, "required")));
  CHECK(has_value(f, "intake") && has_value(f, "closed") && has_value(f, "archived"));
  CHECK(strcmp(str(f, "label"), "Status") == 0); /* the plugin's English label */
  const json_t *l = json_object_get(f, "labels");
  CHECK(strcmp(str(l, "en"), "Status") == 0 && strcmp(str(l, "ru"), "Статус") == 0 &&
        strcmp(str(l, "ky"), "Абалы") == 0);
  l = json_object_get(json_object_get(f, "value_labels"), "intake");
  CHECK(l && strcmp(str(l, "ru"), "Приём") == 0 &&
        strcmp(str(l, "ky"), "Кабыл алуу") == 0);
  CHECK(json_object_size(json_object_get(f, "value_labels")) ==
        json_array_size(json_object_get(f, "values")));
  /* the type's own label, and fields in its order */
  CHECK(strcmp(str(s, "label"), "Case") == 0);
  CHECK(strcmp(str(json_object_get(s, "labels"), "ky"), "Иш") == 0);
  json_t *fl = json_object_get(s, "fields");
  CHECK(strcmp(str(json_array_get(fl, 0), "name"), "case_number") == 0);
  CHECK(strcmp(str(json_array_get(fl, 1), "name"), "client_alias") == 0);
  CHECK(json_array_size(fl) == 17);
  /* hearings: object items in their order; violations: enum items;
   * appeals: refs to appeals */
  const json_t *it = json_object_get(field(s, "hearings"), "items");
  CHECK(it && strcmp(str(it, "kind"), "object") == 0);
  const json_t *sub = json_object_get(it, "fields");
  CHECK(json_array_size(sub) == 3 &&
        strcmp(str(json_array_get(sub, 0), "name"), "date") == 0 &&
        json_is_true(json_object_get(json_array_get(sub, 0), "required")) &&
        strcmp(str(json_array_get(sub, 1), "name"), "court") == 0);
  CHECK(strcmp(str(json_object_get(json_array_get(sub, 0), "labels"), "ky"), "Күнү") ==
        0);
  it = json_object_get(field(s, "violations"), "items");
  CHECK(it && strcmp(str(it, "kind"), "enum") == 0 && has_value(it, "torture"));
  CHECK(strcmp(str(json_object_get(json_object_get(it, "value_labels"), "torture"), "ky"),
               "Кыйноо") == 0);
  it = json_object_get(field(s, "appeals"), "items");
  CHECK(it && strcmp(str(it, "kind"), "ref") == 0 &&
        strcmp(str(it, "ref_type"), "appeal") == 0);
  f = field(s, "case_number");
  CHECK(f && strcmp(str(f, "kind"), "text") == 0);
  CHECK(strcmp(str(f, "label"), "Case number") == 0);
  CHECK(json_object_get(f, "values") == NULL);
  CHECK(field(s, "opened") && strcmp(str(field(s, "opened"), "kind"), "date") == 0);
  CHECK(field(s, "hearings") && strcmp(str(field(s, "hearings"), "kind"), "list") == 0);
  CHECK(!json_is_true(json_object_get(field(s, "notes"), "required")));
  json_decref(s);

  CHECK_RC(tk_office_form_schema(o, "testimony", &s, &e), 0);
  f = field(s, "consent");
  CHECK(f && strcmp(str(f, "kind"), "enum") == 0 && has_value(f, "withdrawn"));
  CHECK(field(s, "narrative") != NULL);
  json_decref(s);

  CHECK_RC(tk_office_form_schema(o, "appeal", &s, &e), 0);
  f = field(s, "outcome");
  CHECK(f && strcmp(str(f, "kind"), "enum") == 0 &&
        json_array_size(json_object_get(f, "values")) > 0);
  CHECK(field(s, "addressee_kind") != NULL);
  CHECK(strcmp(str(field(s, "related_case"), "ref_type"), "case") == 0);
  json_decref(s);

  /* the types with their labels */
  CHECK_RC(tk_office_type_labels(o, &types, &e), 0);
  size_t i;
  json_t *t;
  int seen = 0;
  json_array_foreach(types, i, t) if (strcmp(str(t, "type"), "testimony") == 0)
  {
    seen = 1;
    CHECK(strcmp(str(t, "label"), "Testimony") == 0);
    CHECK(strcmp(str(json_object_get(t, "labels"), "ky"), "Көрсөтмө") == 0);
  }
  CHECK(seen);
  json_decref(types);

  CHECK_RC(tk_office_form_schema(o, "complaint", &s, &e), TK_ENOTFOUND);
  CHECK(s == NULL);
  tk_office_close(o);
}

TK_TESTS(TK_TEST(test_all_problems), TK_TEST(test_item_problems),
         TK_TEST(test_read_without_keys), TK_TEST(test_form_schema))
