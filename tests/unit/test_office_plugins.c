/*
 * test_office_plugins.c: the office's plugin folder choice, the export
 * preparation (a withdrawn-consent narrative removed), and the bundled
 * moderation rule limits.lua on envelope metadata and on readable records.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tk_office_plugins.h"
#include "tk_test.h"

#define BODY(s) TK_SLICE(s, strlen(s))

static void test_folder_choice(void)
{
  char dir[4096], home[2048];
  tk_err_t e;
  snprintf(home, sizeof home, "%s/office", tk_test_tmpdir());
  CHECK(mkdir(home, 0700) == 0);
  CHECK_RC(tk_office_plugins_dir(home, dir, sizeof dir, &e), 0);
  CHECK(strcmp(dir, tk_office_plugins_bundled()) == 0);
  snprintf(dir, sizeof dir, "%s/plugins", home);
  CHECK(mkdir(dir, 0700) == 0);
  CHECK_RC(tk_office_plugins_dir(home, dir, sizeof dir, &e), 0);
  CHECK(strstr(dir, "/office/plugins") != NULL);
  /* An empty admin folder overlays the bundled set: it removes nothing. */
  tk_plugin_set_t *s = NULL;
  CHECK_RC(tk_office_plugins(&s, home, NULL, 0, &e), 0);
  CHECK(tk_plugin_set_count(s, TK_PLUGIN_TYPE) == 3);
  tk_plugin_set_free(s);
  /* One file in it adds that plugin, or replaces the bundled one by name. */
  snprintf(dir, sizeof dir, "%s/plugins/visit.lua", home);
  FILE *f = fopen(dir, "w");
  CHECK(f != NULL);
  fputs("tunduk.content_type { name = 'visit', fields = { place = 'text' } }\n", f);
  fclose(f);
  snprintf(dir, sizeof dir, "%s/plugins/csv.lua", home);
  CHECK((f = fopen(dir, "w")) != NULL);
  fputs("tunduk.export { name = 'csv2', write = function(r, out) end }\n", f);
  fclose(f);
  CHECK_RC(tk_office_plugins(&s, home, NULL, 0, &e), 0);
  CHECK(tk_plugin_set_count(s, TK_PLUGIN_TYPE) == 4);
  CHECK(tk_plugin_set_find(s, TK_PLUGIN_TYPE, "case") != NULL);
  CHECK(tk_plugin_set_find(s, TK_PLUGIN_EXPORT, "csv") == NULL);
  CHECK(tk_plugin_set_find(s, TK_PLUGIN_EXPORT, "csv2") != NULL);
  tk_plugin_origin_t o;
  CHECK_RC(tk_plugin_set_origin(s, "csv.lua", &o), 0);
  CHECK(strcmp(o.layer, "home") == 0 && o.overrides &&
        strcmp(o.overrides, "bundled") == 0);
  CHECK_RC(tk_plugin_set_origin(s, "case.lua", &o), 0);
  CHECK(strcmp(o.layer, "bundled") == 0 && !o.overrides);
  tk_plugin_set_free(s);
}

static void test_prepare(void)
{
  json_t *w = json_pack("{s:s,s:s,s:s}", "witness_alias", "W-14", "consent", "withdrawn",
                        "narrative", "not for export");
  json_t *k = json_pack("{s:s,s:s,s:s}", "witness_alias", "W-12", "consent", "written",
                        "narrative", "kept");
  CHECK(tk_office_export_prepare(w) == 1);
  CHECK(json_object_get(w, "narrative") == NULL);
  CHECK(json_object_get(w, "witness_alias") != NULL);
  CHECK(tk_office_export_prepare(k) == 0);
  CHECK(json_object_get(k, "narrative") != NULL);
  json_decref(w);
  json_decref(k);
}

static int verdict(tk_plugin_set_t *s, const char *type, const char *vault, uint64_t size,
                   const char *body, char *reason)
{
  int rc;
  tk_plugin_meta_t m;
  tk_plugin_verdict_t v;
  memset(&m, 0, sizeof m);
  m.type = type;
  m.vault = vault;
  m.size = size;
  m.hlc = 1780000000000ull;
  rc = tk_plugin_moderate(s, &m, body ? BODY(body) : TK_SLICE(NULL, 0), &v);
  if (rc) return -1;
  if (reason) snprintf(reason, TK_PLUGIN_MAX_REASON + 1, "%s", v.reason);
  return v.verdict;
}

static void test_limits_rule(void)
{
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  char reason[TK_PLUGIN_MAX_REASON + 1];
  CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
  CHECK_RC(tk_plugin_set_load_dir(s, tk_office_plugins_bundled(), &e), 0);
  CHECK(tk_plugin_set_load_errors(s) == 0);
  CHECK(tk_plugin_set_find(s, TK_PLUGIN_MODERATION, "limits") != NULL);
  /* envelope only (the hub holds no key) */
  CHECK(verdict(s, "case", "osh-cases", 2000, NULL, NULL) == TK_VERDICT_ACCEPT);
  CHECK(verdict(s, "case", "osh-cases", 300 * 1024, NULL, reason) == TK_VERDICT_REJECT);
  CHECK(strstr(reason, "over the 262144 byte limit") != NULL);
  CHECK(verdict(s, "testimony", "osh-cases", 300 * 1024, NULL, NULL) ==
        TK_VERDICT_ACCEPT);
  /* a new content type: no vault is restricted, so every vault takes it */
  CHECK(verdict(s, "visit", "osh-cases", 100, NULL, reason) == TK_VERDICT_ACCEPT);
  CHECK(verdict(s, "testimony", "osh-cases", 100, NULL, NULL) == TK_VERDICT_ACCEPT);
  /* a readable testimony must carry consent */
  CHECK(verdict(s, "testimony", "osh-cases", 100,
                "{\"witness_alias\":\"W-1\",\"consent\":\"written\"}",
                NULL) == TK_VERDICT_ACCEPT);
  CHECK(verdict(s, "testimony", "osh-cases", 100, "{\"witness_alias\":\"W-1\"}",
                reason) == TK_VERDICT_QUARANTINE);
  CHECK(strstr(reason, "without consent") != NULL);
  CHECK(verdict(s, "testimony", "osh-cases", 100, "{\"_deleted\":true}", NULL) ==
        TK_VERDICT_ACCEPT);
  tk_plugin_set_free(s);
}

/* Every bundled plugin loads, and the bundled samples are all valid. */
static void test_bundled_samples(void)
{
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  char path[4096], line[8192];
  const char *types[] = {"case", "appeal", "testimony"};
  CHECK_RC(tk_plugin_set_new(&s, NULL), 0);
  CHECK_RC(tk_plugin_set_load_dir(s, tk_office_plugins_bundled(), &e), 0);
  CHECK(tk_plugin_set_count(s, TK_PLUGIN_TYPE) == 3);
  CHECK(tk_plugin_set_count(s, TK_PLUGIN_EXPORT) == 3);
  for (size_t t = 0; t < 3; t++) {
    snprintf(path, sizeof path, "%s/samples/%s.jsonl", tk_office_plugins_bundled(),
             types[t]);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    int n = 0;
    while (f && fgets(line, sizeof line, f)) {
      json_error_t je;
      json_t *j = json_loads(line, 0, &je);
      CHECK(j != NULL);
      tk_err_clear(&e);
      int rc = tk_office_validate(s, types[t], j, &e);
      if (rc) fprintf(stderr, "  %s line %d: %s\n", types[t], n + 1, e.msg);
      CHECK_RC(rc, 0);
      json_decref(j);
      n++;
    }
    CHECK(n >= 3);
    if (f) fclose(f);
  }
  tk_plugin_set_free(s);
}

TK_TESTS(TK_TEST(test_folder_choice), TK_TEST(test_prepare), TK_TEST(test_limits_rule),
         TK_TEST(test_bundled_samples))
