/*
 * test_export_info.c: an export's third argument and its records' files
 * (tk_plugin_export_info, core/plugin), with the real Lua VM both in
 * process and in a jailed worker: info reaches write as a table, meta
 * carries attachments as names and sizes only (never keys or chunk ids),
 * an info that is not a JSON object is refused, and the old call gives nil.
 */
#include "tk_plugin.h"
#include "tk_test.h"

#include <stdlib.h>
#include <string.h>

#define BODY(s) TK_SLICE((s), strlen(s))

static const char *const src =
    "tunduk.export{ name = 'info', media_type = 'text/plain',\n"
    "  write = function(records, out, info)\n"
    "    if info == nil then out('nil|') else\n"
    "      out(info.lang, '|', info.types.case.fields.status.values.open, '|',\n"
    "          tostring(info.tz_offset_min), '|') end\n"
    "    for r, m in records do\n"
    "      for _, a in ipairs(m.attachments) do\n"
    "        local keys = {}\n"
    "        for k in pairs(a) do keys[#keys + 1] = k end\n"
    "        table.sort(keys)\n"
    "        out(a.name, ':', a.size, ':', table.concat(keys, ','), ';')\n"
    "      end\n"
    "      out('#', #m.attachments, '|')\n"
    "    end\n"
    "  end }\n";

static const char *const info_json =
    "{\"lang\":\"ru\",\"tz_offset_min\":360,\"types\":{\"case\":{\"fields\":"
    "{\"status\":{\"values\":{\"open\":\"Открыто\"}}}}}}";

typedef struct recs {
  int i;
  tk_plugin_meta_t meta;
} recs_t;

static int next_rec(void *ud, tk_plugin_record_t *rec)
{
  static const char *bodies[] = {
      "{\"a\":1,\"_attachments\":[{\"name\":\"скан.pdf\",\"size\":1536,\"sha256\":\"ab\","
      "\"chunks\":1,\"key\":\"SECRET\"}]}",
      "{\"a\":2}"};
  recs_t *r = ud;
  if (r->i >= 2) return 0;
  const char *b = bodies[r->i++];
  rec->body = BODY(b);
  memset(&r->meta, 0, sizeof r->meta);
  r->meta.type = "case";
  rec->meta = &r->meta;
  return 1;
}

static int write_buf(void *ud, const void *p, size_t n)
{
  return tk_buf_append(ud, p, n);
}

static tk_plugin_set_t *set_of(int jail)
{
  tk_plugin_limits_t l;
  memset(&l, 0, sizeof l);
  l.call_ms = 2000;
  l.mem_bytes = 8u << 20;
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  int rc = jail ? tk_plugin_set_new_jailed(&s, &l, 1, &e) : tk_plugin_set_new(&s, &l);
  if (rc < 0) return NULL;
  if (tk_plugin_set_add_source(s, "i.lua", src, strlen(src), &e) < 0) {
    fprintf(stderr, "  load: %s\n", e.msg);
    tk_plugin_set_free(s);
    return NULL;
  }
  return s;
}

static int out_is(const tk_buf_t *b, const char *want)
{
  if (b->n == strlen(want) && memcmp(b->p, want, b->n) == 0) return 1;
  fprintf(stderr, "  output \"%.*s\", want \"%s\"\n", (int)b->n, (const char *)b->p,
          want);
  return 0;
}

static void check_set(int jail)
{
  tk_plugin_set_t *s = set_of(jail);
  tk_err_t e;
  tk_buf_t out = TK_BUF_INIT;
  recs_t r = {0};
  CHECK(s);
  if (!s) return;
  int rc = tk_plugin_export_info(s, "info", NULL, BODY(info_json), next_rec, &r,
                                 write_buf, &out, &e);
  if (rc) fprintf(stderr, "  %s\n", e.msg);
  CHECK_RC(rc, 0);
  /* The key never reaches the plugin: only name and size in meta. */
  CHECK(out_is(&out, "ru|Открыто|360|скан.pdf:1536:name,size;#1|#0|"));
  out.n = 0;
  r.i = 0;
  CHECK_RC(tk_plugin_export(s, "info", NULL, next_rec, &r, write_buf, &out, &e), 0);
  CHECK(out_is(&out, "nil|скан.pdf:1536:name,size;#1|#0|"));
  out.n = 0;
  r.i = 0;
  CHECK_RC(tk_plugin_export_info(s, "info", NULL, BODY("[1,2]"), next_rec, &r, write_buf,
                                 &out, &e),
           TK_EINVAL);
  CHECK(out.n == 0);
  tk_buf_free(&out);
  tk_plugin_set_free(s);
}

static void test_in_process(void)
{
  check_set(0);
}

static void test_jailed(void)
{
  check_set(1);
}

TK_TESTS(TK_TEST(test_in_process), TK_TEST(test_jailed))
