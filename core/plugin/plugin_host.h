/*
 * plugin_host.h: internal to the plugin host, shared by plugin.c (sets,
 * loading, calls), plugin_fields.c (the host's field checks) and
 * plugin_sandbox.c (allocator, hook, environment, the tunduk API,
 * declarations). Not part of the public contract (tk_plugin.h).
 *
 * Threads: a plugin_t is used under its mutex (see tk_plugin.h).
 */
#ifndef TK_PLUGIN_HOST_H
#define TK_PLUGIN_HOST_H

#include "tk_plugin.h"

#include <jansson.h>
#include <lua.h>
#include <pthread.h>

#define TK__PLUGIN_HOOK_EVERY 1000 /* instructions between two runs of the count hook */
#define TK__PLUGIN_VERDICT_MT                                                            \
  "tunduk.verdict" /* registry name of the verdict metatable */

enum { STOP_NONE = 0, STOP_INSTR, STOP_TIME, STOP_CLOSING };

/* "content type", "export", "moderation rule", indexed by tk_plugin_kind_t. */
extern const char *const tk__plugin_kind_words[TK_PLUGIN_NKINDS];

typedef struct plugin plugin_t;

typedef struct decl {
  tk_plugin_decl_t pub;
  plugin_t *plugin;
  int ref;      /* registry ref of the table holding the callbacks */
  int complete; /* 0 while being declared (a failed declaration stays 0) */
  char *name, *media_type;
  tk_plugin_field_t *fields;
  size_t nfields_alloc;
} decl_t;

struct plugin {
  char name[TK_PLUGIN_MAX_NAME + 1];
  lua_State *L;
  pthread_mutex_t mu;
  tk_plugin_limits_t lim;
  size_t mem;             /* bytes the state holds, as Lua accounts them */
  int mem_refused;        /* the allocator refused growth during this call */
  uint64_t count;         /* instructions run in this call (HOOK_EVERY grain) */
  uint64_t deadline_ns;   /* CLOCK_MONOTONIC */
  int stop;               /* STOP_*: once set, the hook errors on every instruction */
  int loading;            /* top level running: declarations allowed */
  uint64_t export_serial; /* which export the records/out closures belong to */
  struct call *export_call;
  decl_t *decls[TK_PLUGIN_NKINDS][TK_PLUGIN_MAX_DECLS];
  size_t ndecls[TK_PLUGIN_NKINDS];
  /* Where it came from (plugin_layers.c): its source text (kept so that a
   * reload whose new version fails can load this one again; NULL if the
   * copy failed), the layer and file (NULL when added as text), what
   * tk_plugin_origin_t.kept says, and the lower layer it overrides. */
  char *src;
  size_t srcn;
  int src_borrowed; /* a jailed set's: src is its pool's copy, freed with the pool */
  char *layer, *path, *overrides;
  int kept;
};

struct tk_plugin_set {
  tk_plugin_limits_t lim;
  struct tk__plugin_pool *pool; /* jailed set: its worker processes; NULL = in-process */
  plugin_t **plugins;
  size_t nplugins;
  decl_t **decls[TK_PLUGIN_NKINDS];
  size_t ndecls[TK_PLUGIN_NKINDS];
  char **errors;
  size_t nerrors;
};

/* One call into a plugin: the inputs and outputs of an op_* function. */
typedef struct call {
  plugin_t *p;
  decl_t *d;
  char what[160]; /* e.g. "content type 'case', validate" */
  int rc;
  tk_err_t e;
  /* inputs */
  const char *src;
  size_t srcn;
  json_t *body, *base, *ours, *theirs;
  const tk_plugin_meta_t *meta;
  const char *const *redact;
  json_t *info; /* export: its third argument (NULL: nil) */
  tk_plugin_next_fn next;
  void *next_ud;
  tk_plugin_write_fn write;
  void *write_ud;
  /* outputs and scratch */
  json_t *result; /* merge */
  json_t *cur;    /* export: the record being handed over */
  size_t nrecords;
  int done;
  tk_buf_t *out;
  tk_plugin_verdict_t *verdict;
  tk_plugin_problems_t *problems; /* validate: every problem (may be NULL) */
} call_t;

/* ---- plugin_sandbox.c -------------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t tk__plugin_now_ns(void);
/* The plugin owning L (any thread of its state): the allocator's ud. */
plugin_t *tk__plugin_of(lua_State *L);
/* Copies n bytes of src into dst (cap bytes with the NUL) as one line:
 * control bytes become spaces; a cut never splits a UTF-8 sequence. */
void tk__plugin_copy_line(char *dst, size_t cap, const char *src, size_t n);
/* "instruction limit exceeded (...)" or "time limit exceeded (...)" in buf
 * if p->stop says a limit was hit in this call; else NULL. */
const char *tk__plugin_limit_detail(plugin_t *p, char *buf, size_t n);

/* The lua_Alloc of every plugin state (ud = plugin_t): refuses growth past
 * lim.mem_bytes (setting mem_refused), never fails a shrink or a free. */
void *tk__plugin_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
/* The count hook: adds the instructions run, and once over the budget or
 * the deadline sets p->stop, re-arms itself to run on every instruction of
 * this thread and raises; with p->stop set it raises every time. */
void tk__plugin_hook(lua_State *L, lua_Debug *ar);
/* The hook's count for p's limits (TK__PLUGIN_HOOK_EVERY or less). */
int tk__plugin_hook_every(const plugin_t *p);
/* A fresh instruction budget and deadline for p. */
void tk__plugin_budget_reset(plugin_t *p);
/* Panic handler: logs and aborts (reached only by a host bug). */
int tk__plugin_panic(lua_State *L);

/* Builds the allow-list environment and the read-only `tunduk` table and
 * makes them L's global table. Protected mode only (raises on memory). */
void tk__plugin_open_sandbox(lua_State *L);
/* Frees a declaration's C side (its Lua side dies with the state). */
void tk__plugin_decl_free(decl_t *d);
/* The host's checks of body against d's declared fields (plugin_fields.c):
 * 0, or TK_EINVAL with err naming the first problem's field and every
 * problem in out (may be NULL), as tk_plugin_validate_problems says. */
int tk__plugin_check_fields(const decl_t *d, json_t *body, tk_plugin_problems_t *out,
                            tk_err_t *err);
/* Keeps one more problem in out (may be NULL; past TK_PLUGIN_MAX_PROBLEMS
 * it is dropped). */
void tk__plugin_problem_add(tk_plugin_problems_t *out, const char *field,
                            const char *message);
/* The place a validate() reason names (plugin_fields.c): X, X[N] or
 * X[N].y into out (cap bytes) when reason starts "field 'X'" (then
 * " item N", then ": 'y'") and X is a field of d (y a field of its object
 * items); else "". */
void tk__plugin_reason_field(const decl_t *d, const char *reason, char *out, size_t cap);
/* The field of d named name (bsearch), or NULL. */
const tk_plugin_field_t *tk__plugin_field_find(const decl_t *d, const char *name);

/* ---- plugin.c, for plugin_worker.c and plugin_layers.c ----------------------- */

/* The plugin of s whose file name is name, or NULL. */
plugin_t *tk__plugin_set_plugin(const tk_plugin_set_t *s, const char *name);
/* Keeps the error message msg among s's load errors. TK_ENOMEM. */
int tk__plugin_set_keep_error(tk_plugin_set_t *s, const char *msg);
/* Reads path as a plugin's source (at most TK_PLUGIN_MAX_SOURCE bytes) into
 * *src (caller frees) and *n. TK_EIO, TK_ELIMIT, TK_ENOMEM with err. */
int tk__plugin_read_file(const char *path, char **src, size_t *n, tk_err_t *err);

/* Adds p (complete declarations only) to s: names must be unique per kind
 * across the set. On failure p is still the caller's. */
int tk__plugin_set_append(tk_plugin_set_t *s, plugin_t *p, tk_err_t *err);
/* A plugin_t without a Lua state (a jailed set's view of a worker's
 * plugin): NULL on memory failure. Freed like any plugin of the set. */
plugin_t *tk__plugin_shadow_new(const char *name, const tk_plugin_limits_t *lim);
/* One moderation rule's check(meta, record) in-process (the worker's side
 * of a jailed check): 0 with *v filled, or a failure in err. */
int tk__plugin_check_rule(tk_plugin_set_t *s, const char *rule,
                          const tk_plugin_meta_t *meta, json_t *record,
                          tk_plugin_verdict_t *v, tk_err_t *err);

/* ---- plugin_worker.c: the parent's side of a jailed set ---------------------- */

typedef struct tk__plugin_pool tk__plugin_pool_t;

/* A pool of n worker processes (started on first use) for a set with lim. */
int tk__plugin_pool_new(tk__plugin_pool_t **out, const tk_plugin_limits_t *lim,
                        unsigned n, tk_err_t *err);
/* Kills and reaps every worker, frees the pool. */
void tk__plugin_pool_free(tk__plugin_pool_t *pool);
/* Loads name/src in a worker and, if it loads there, adds a shadow plugin
 * with its declarations to s (the source is kept to load into the other
 * workers and into replacements). Errors as tk_plugin_set_add_source. */
int tk__plugin_pool_add(tk_plugin_set_t *s, const char *name, const char *src, size_t n,
                        tk_err_t *err);
/* The calls of tk_plugin.h, in a worker, for declaration d of s. */
int tk__plugin_pool_validate(tk_plugin_set_t *s, decl_t *d, tk_slice_t body,
                             tk_plugin_problems_t *problems, tk_err_t *err);
int tk__plugin_pool_summary(tk_plugin_set_t *s, decl_t *d, tk_slice_t body, tk_buf_t *out,
                            tk_err_t *err);
int tk__plugin_pool_merge(tk_plugin_set_t *s, decl_t *d, tk_slice_t base, tk_slice_t ours,
                          tk_slice_t theirs, tk_buf_t *out, tk_err_t *err);
int tk__plugin_pool_export(tk_plugin_set_t *s, decl_t *d, const char *const *redact,
                           tk_slice_t info, tk_plugin_next_fn next, void *next_ud,
                           tk_plugin_write_fn write, void *write_ud, tk_err_t *err);
/* One rule's check; body.p NULL: the rule sees nil. 0 with *v, or err. */
int tk__plugin_pool_check(tk_plugin_set_t *s, decl_t *d, const tk_plugin_meta_t *meta,
                          tk_slice_t body, tk_plugin_verdict_t *v, tk_err_t *err);

/* One rule's checks of n revisions (bodies[i].p NULL: the rule sees nil),
 * W_CHECK_MANY requests to one worker at a time: v[i] is the rule's
 * verdict, or a quarantine with the failure's message (a timeout: the
 * worker killed, and the revisions after it go to a fresh one). Past
 * until_ms (0: none; now_ms's clock) no check starts, a busy worker is
 * killed, and v[i].verdict stays TK_VERDICT_UNJUDGED. Returns 0. */
int tk__plugin_pool_check_many(tk_plugin_set_t *s, decl_t *d, size_t n,
                               const tk_plugin_meta_t *const *metas,
                               const tk_slice_t *bodies, uint64_t until_ms,
                               tk_plugin_verdict_t *v);

/* validate() of declaration d over n record bodies that passed the
 * host's field checks, TK__W_VALIDATE_MANY requests to one worker at a
 * time: rcs[i]/errs[i] as tk__plugin_pool_validate would give them (a
 * timeout kills the worker and fails that record; the ones after it go to
 * a fresh worker). Returns 0. With lines, summary() instead
 * (TK__W_SUMMARY_MANY): each line where rcs[i] is 0. */
int tk__plugin_pool_validate_many(tk_plugin_set_t *s, decl_t *d, size_t n,
                                  const tk_slice_t *bodies, int *rcs, tk_err_t *errs,
                                  tk_plugin_line_t *lines);

#endif
