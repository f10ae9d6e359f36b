/*
 * body_json.c (fuzz target "body_json"): record bodies from arbitrary text.
 *  1. tk_body_parse; a body that parses dumps (tk_body_dump) to text that
 *     parses again and dumps to the same text; summary and tombstone test.
 *  2. plugin_json.c in a bare Lua state: tk__plugin_json_parse, then
 *     tk__plugin_json_push -> tk__plugin_json_from_lua -> tk__plugin_json_dump
 *     must give exactly tk__plugin_json_dump of the parsed value (the round
 *     trip tk_plugin.h promises: [] vs {}, null, integers vs floats), the
 *     top-level attachment list being shown as tk_attach_public gives it.
 *  3. the real sandbox: a plugin set holding one content type whose merge
 *     returns `ours` and whose summary and validate read fields, plus the
 *     bundled moderation rules, so the body crosses into a sandboxed state
 *     and back through tk_plugin_merge / summary / validate / moderate. merge
 *     must give back the same JSON as step 2.
 *  4. attachments (tk_attach.h) on a body that parses: tk_attach_list, and
 *     when it succeeds every entry is consistent (a valid name, one chunk
 *     id per TK_CHUNK_PLAIN bytes), tk_attach_refs gives exactly the listed
 *     chunks in order (or TK_ELIMIT past TK_MAX_ATTACH_REFS), and the entries
 *     added one by one (tk_attach_add) to an empty body list back the same;
 *     when it fails, with TK_EFORMAT or TK_ELIMIT, tk_attach_refs fails the
 *     same way. tk_attach_public never shows a key or a chunk id.
 */
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_fixture.h"
#include "tk_attach.h"
#include "tk_body.h"
#include "tk_plugin.h"

static lua_State *L;
static tk_plugin_set_t *set;

static const char plugin_src[] =
    "tunduk.content_type{ name = 'fz',\n"
    "  fields = { title = { kind = 'text' }, tags = { kind = 'list' } },\n"
    "  validate = function(r) if r.title == 'bad' then return nil, 'bad title' end\n"
    "    return true end,\n"
    "  summary = function(r) return tostring(r.title or r.name or #r) end,\n"
    "  merge = function(base, ours, theirs) return ours end }\n";

typedef struct job {
  json_t *v;
  tk_buf_t out;
  int rc;
  tk_err_t e;
} job_t;

static int l_round_trip(lua_State *S)
{
  job_t *j = lua_touserdata(S, 1);
  json_t *back = NULL;
  j->rc = tk__plugin_json_push(S, j->v, NULL, &j->e);
  if (j->rc == 0) j->rc = tk__plugin_json_from_lua(S, -1, &back, &j->e);
  if (j->rc == 0) j->rc = tk__plugin_json_dump(back, TK_MAX_BODY_JSON, &j->out, &j->e);
  json_decref(back);
  return 0;
}

static int same_attach(const tk_attach_t *a, const tk_attach_t *b)
{
  return strcmp(a->name, b->name) == 0 && a->size == b->size &&
         memcmp(a->sha256, b->sha256, TK_HASH_LEN) == 0 &&
         memcmp(a->key, b->key, TK_ATTACH_KEY_LEN) == 0 && a->nchunks == b->nchunks &&
         (a->nchunks == 0 || memcmp(a->chunks, b->chunks, (size_t)a->nchunks * 32) == 0);
}

/* 4. The attachment list of a parsed body. */
static void attachments(const json_t *body)
{
  tk_err_t e, e2;
  tk_attach_t *v = NULL, *w = NULL;
  size_t n = 0, m = 0;
  tk_buf_t refs = TK_BUF_INIT;
  uint32_t nrefs = 7;
  json_t *copy = json_object();
  if (!copy) abort();
  int rc = tk_attach_list(body, &v, &n, &e);
  int rrc = tk_attach_refs(body, &refs, &nrefs, &e2);
  if (rc != 0) {
    TK_ASSERT(rc == TK_EFORMAT || rc == TK_ELIMIT);
    TK_ASSERT(v == NULL && n == 0);
    TK_ASSERT(rrc == rc && nrefs == 0 && refs.n == 0);
    goto public;
  }
  TK_ASSERT(n <= TK_MAX_ATTACHMENTS);
  TK_ASSERT(n == 0 || json_is_array(json_object_get(body, TK_ATTACH_FIELD)));
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    TK_ASSERT(tk_attach_name_check(v[i].name, NULL) == 0);
    TK_ASSERT(v[i].nchunks == (v[i].size + TK_CHUNK_PLAIN - 1) / TK_CHUNK_PLAIN);
    TK_ASSERT(v[i].chunks != NULL);
    total += v[i].nchunks;
  }
  if (total > TK_MAX_ATTACH_REFS) {
    TK_ASSERT(rrc == TK_ELIMIT && nrefs == 0);
  } else {
    TK_ASSERT(rrc == 0 && nrefs == total && refs.n == total * TK_HASH_LEN);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
      size_t len = (size_t)v[i].nchunks * TK_HASH_LEN;
      TK_ASSERT(len == 0 || memcmp(refs.p + at, v[i].chunks, len) == 0);
      at += len;
    }
  }
  /* The list written again, entry by entry (a repeated name is refused). */
  size_t added = 0;
  for (size_t i = 0; i < n; i++) {
    rc = tk_attach_add(copy, &v[i], &e);
    TK_ASSERT(rc == 0 || rc == TK_EEXIST);
    if (rc != 0) tk_attach_clear(&v[i]);
    if (rc == 0) {
      if (added != i) v[added] = v[i], memset(&v[i], 0, sizeof v[i]);
      added++;
    }
  }
  TK_ASSERT(tk_attach_list(copy, &w, &m, &e) == 0 && m == added);
  for (size_t i = 0; i < m; i++)
    TK_ASSERT(same_attach(&v[i], &w[i]));

public:
  ;
  json_t *pub = tk_attach_public(body);
  json_t *list = json_object_get(body, TK_ATTACH_FIELD);
  TK_ASSERT((pub != NULL) == json_is_array(list));
  if (pub) {
    size_t i;
    json_t *p;
    TK_ASSERT(json_array_size(pub) == json_array_size(list));
    json_array_foreach(pub, i, p)
    {
      TK_ASSERT(json_object_get(p, "key") == NULL);
      TK_ASSERT(json_is_integer(json_object_get(p, "chunks")));
    }
    char *text = json_dumps(pub, 0);
    TK_ASSERT(text != NULL);
    free(text);
    json_decref(pub);
  }
  for (size_t i = 0; i < n; i++)
    tk_attach_clear(&v[i]);
  for (size_t i = 0; i < m; i++)
    tk_attach_clear(&w[i]);
  free(v);
  free(w);
  json_decref(copy);
  tk_buf_free(&refs);
}

static void setup(void)
{
  tk_err_t e;
  fz_init();
  L = luaL_newstate();
  if (!L) abort();
  tk__plugin_json_open(L);
  if (tk_plugin_set_new(&set, NULL) != 0 ||
      tk_plugin_set_add_source(set, "fz.lua", plugin_src, sizeof plugin_src - 1, &e) !=
          0 ||
      tk_plugin_set_add_file(set, TK_SOURCE_DIR "/plugins/limits.lua", &e) != 0) {
    fprintf(stderr, "body_json: plugin setup failed: %s\n", tk_err_str(&e));
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tk_slice_t text = TK_SLICE(data, size);
  tk_err_t e;
  json_t *v = NULL, *again = NULL;
  tk_buf_t d1 = TK_BUF_INIT, d2 = TK_BUF_INIT, direct = TK_BUF_INIT, merged = TK_BUF_INIT,
           sum = TK_BUF_INIT;
  if (!L) setup();

  /* 1. tk_body_parse and its own dump. */
  if (tk_body_parse(&v, text, "fuzz.json", &e) == 0) {
    char summary[64];
    TK_ASSERT(json_is_object(v));
    TK_ASSERT(tk_body_dump(v, &d1) == 0);
    TK_ASSERT(tk_body_parse(&again, TK_SLICE(d1.p, d1.n), "dump", &e) == 0);
    TK_ASSERT(tk_body_dump(again, &d2) == 0);
    TK_ASSERT(d1.n == d2.n && memcmp(d1.p, d2.p, d1.n) == 0);
    tk_body_summary(v, summary, sizeof summary);
    TK_ASSERT(strlen(summary) < sizeof summary);
    (void)tk_body_is_tombstone(v);
    attachments(v);
    json_decref(again);
    json_decref(v);
    v = NULL;
  } else {
    TK_ASSERT(e.code == TK_EINVAL || e.code == TK_ELIMIT);
  }

  /* 2. The plugin host's JSON <-> Lua conversion in a bare state. */
  if (tk__plugin_json_parse(text, &v, &e) == 0) {
    job_t j = {v, TK_BUF_INIT, 0, {0, ""}};
    /* What a plugin sees: the attachment list without keys or chunk ids. */
    json_t *pub = tk_attach_public(v), *seen = pub ? json_copy(v) : json_incref(v);
    if (!seen || (pub && json_object_set_new(seen, TK_ATTACH_FIELD, pub) != 0)) abort();
    TK_ASSERT(tk__plugin_json_dump(seen, TK_MAX_BODY_JSON * 2, &direct, &e) == 0);
    json_decref(seen);
    lua_pushcfunction(L, l_round_trip);
    lua_pushlightuserdata(L, &j);
    int st = lua_pcall(L, 1, 0, 0);
    if (st != LUA_OK) {
      /* Only a memory error may escape, and nothing here runs out. */
      fprintf(stderr, "body_json: lua error: %s\n", lua_tostring(L, -1));
      abort();
    }
    lua_settop(L, 0);
    if (j.rc == 0) {
      if (j.out.n != direct.n || memcmp(j.out.p, direct.p, direct.n) != 0) {
        fprintf(stderr, "round trip differs:\n in:  %.*s\n out: %.*s\n", (int)direct.n,
                direct.p, (int)j.out.n, j.out.p);
        abort();
      }
    } else {
      /* Refusals allowed by the contract: depth (push), and nothing else for a
       * value that came from JSON. */
      TK_ASSERT(j.rc == TK_ELIMIT);
    }
    tk_buf_free(&j.out);
    lua_gc(L, LUA_GCSTEP, 0);
  }

  /* 3. Through the sandbox, the way records reach plugins. */
  int mrc = tk_plugin_merge(set, "fz", text, text, text, &merged, &e);
  if (mrc == 0) {
    TK_ASSERT(v != NULL); /* only a JSON object merges */
    TK_ASSERT(merged.n == direct.n && memcmp(merged.p, direct.p, direct.n) == 0);
  }
  (void)tk_plugin_validate(set, "fz", text, &e);
  (void)tk_plugin_summary(set, "fz", text, &sum, &e);
  tk_plugin_meta_t meta = {"00112233445566778899aabbccddeeff",
                           NULL,
                           "testimony",
                           "cases",
                           NULL,
                           1,
                           size,
                           1,
                           0};
  tk_plugin_verdict_t verdict;
  TK_ASSERT(tk_plugin_moderate(set, &meta, text, &verdict) == 0);
  TK_ASSERT(verdict.verdict >= TK_VERDICT_ACCEPT && verdict.verdict <= TK_VERDICT_REJECT);

  json_decref(v);
  tk_buf_free(&d1);
  tk_buf_free(&d2);
  tk_buf_free(&direct);
  tk_buf_free(&merged);
  tk_buf_free(&sum);
  return 0;
}
