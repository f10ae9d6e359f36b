/*
 * tk_plugin.h: the sandboxed Lua 5.4 plugin host. A plugin is one *.lua text
 * file run in its own lua_State; its top level runs once at load and only
 * declares, through the global `tunduk` table, content types, export formats
 * and moderation rules. The host then calls the declared callbacks per record
 * under per-call limits.
 *
 * The sandbox (plugin_sandbox.c; sets and calls in plugin.c, field checks in
 * plugin_fields.c, JSON in plugin_json.c):
 *  - built from an allow-list: base functions (assert error ipairs next pairs
 *    pcall xpcall rawequal rawlen rawget rawset getmetatable setmetatable
 *    select tonumber tostring type _VERSION _G), string (no dump), table,
 *    math, utf8, coroutine, os.time/os.date/os.clock. Not there: load,
 *    loadfile, dofile, require, package, io, debug, collectgarbage, print
 *    (use tunduk.log), os.execute and the rest of os;
 *  - plugin files load as text only (bytecode is refused), chunk "@<file>"
 *    so errors read "case.lua:12: ...";
 *  - the string metatable is locked (getmetatable("") is false), the
 *    `tunduk` table is a read-only proxy, and setmetatable refuses a
 *    metatable with __gc (finalizers would run outside any call's limits);
 *  - limits (tk_plugin_limits_t): an allocator that refuses growth past
 *    mem_bytes for the whole state; an instruction budget and a wall-clock
 *    deadline per call, checked in a count hook that, once a limit is hit,
 *    fires on every instruction and errors every time, so a plugin's own
 *    pcall cannot swallow the stop. A call over a limit fails with TK_EPLUGIN
 *    and a message naming the plugin and the limit; the plugin stays usable;
 *  - C functions the hook cannot interrupt are bounded: string.rep results
 *    are capped at max_string bytes; string.find/match/gmatch/gsub refuse a
 *    subject longer than max_pattern_subject or a pattern longer than
 *    TK_PLUGIN_MAX_PATTERN; table.move refuses ranges past mem_bytes/8
 *    elements. A pathological pattern (many backtracking items over a long
 *    subject) can still run long inside C: in-process, the deadline is
 *    checked when it returns, and the call then fails, but it is not
 *    interrupted; in a jailed set (tk_plugin_set_new_jailed, what tunduk
 *    and tundukd use) its worker process is killed at the deadline.
 *
 * Records reach Lua as fresh plain tables converted from JSON for each call
 * (deep copies: a plugin's writes to them change nothing stored; only merge's
 * return value becomes a record). JSON null is tunduk.null; a JSON array is a
 * sequence table carrying the array marker metatable (tunduk.is_array(t) is
 * true; tunduk.array(t) marks a plugin-made table), so [] and {} and arrays
 * with nulls round-trip. A table going back to JSON is an array if it carries
 * the marker or is a non-empty sequence 1..n; an object if it has only string
 * keys (an empty unmarked table is an object); anything else, cycles, NaN or
 * infinities, and nesting deeper than TK_MAX_JSON_DEPTH are refused. Integers
 * stay integers, floats stay floats.
 *
 * Threads: loading and freeing a set happen on one thread with no call in
 * flight. After loading, a set is read-only and calls may come from any
 * thread: each plugin has a mutex, so calls into one plugin are serialised
 * and calls into different plugins run in parallel. A jailed set's calls
 * run on its worker processes, one call per worker at a time (a call waits
 * for a free worker). Hot reload = load a new set, swap it in, free the old
 * one when its calls have drained (caller's job).
 */
#ifndef TK_PLUGIN_H
#define TK_PLUGIN_H

#include "tk_common.h"

#define TK_PLUGIN_MAX_FILES 256         /* plugins in one folder */
#define TK_PLUGIN_MAX_SOURCE (1u << 20) /* bytes of one plugin file */
#define TK_PLUGIN_MAX_NAME 64           /* declaration, field and rule names */
#define TK_PLUGIN_MAX_FIELDS 256        /* fields of one content type */
#define TK_PLUGIN_MAX_ENUM 256          /* values of one enum field */
#define TK_PLUGIN_MAX_LABEL 256         /* bytes of a field's label */
#define TK_PLUGIN_MAX_DECLS 64          /* declarations of one kind per plugin */
#define TK_PLUGIN_MAX_SUMMARY 256       /* bytes of one summary line */
#define TK_PLUGIN_MAX_REASON 300        /* bytes of a verdict/validation reason */
#define TK_PLUGIN_MAX_PATTERN 4096      /* bytes of a Lua pattern */
#define TK_PLUGIN_MAX_READS 64          /* content types a moderation rule reads */
#define TK_PLUGIN_MAX_SUBFIELDS 32      /* fields of one object item of a list */
#define TK_PLUGIN_MAX_PROBLEMS 32       /* problems of a record kept (validate's list) */
#define TK_PLUGIN_MAX_PATH 160          /* a problem's place: "hearings[12].date" */
#define TK_PLUGIN_NLANGS 3              /* label languages: en, ru, ky */
#define TK_PLUGIN_WORKERS_DEFAULT 2     /* worker processes of a jailed set */
#define TK_PLUGIN_WORKERS_MAX 64
#define TK_PLUGIN_KILL_GRACE_MS 250 /* past call_ms: the worker is killed */
#define TK_PLUGIN_WORKER_FD 3       /* the worker's channel to its parent */
#define TK_PLUGIN_WORKER_NAME "tunduk-plugin-worker"

/* ---- limits --------------------------------------------------------------- */

typedef struct tk_plugin_limits {
  size_t mem_bytes;           /* whole lua_State; default 16 MiB */
  uint64_t instructions;      /* VM instructions per call; default 10 million */
  uint32_t call_ms;           /* wall clock per call; default 2000 */
  size_t max_string;          /* string.rep result; default 1 MiB */
  size_t max_pattern_subject; /* subject of find/match/gmatch/gsub; default 1 MiB */
} tk_plugin_limits_t;

/* Fills l with the defaults above. */
void tk_plugin_limits_default(tk_plugin_limits_t *l);

/* ---- a set of plugins ----------------------------------------------------- */

typedef struct tk_plugin_set tk_plugin_set_t;

/* Creates an empty set whose plugins will run in this process under lim
 * (NULL = defaults; zero fields take their default). The caller frees it
 * with tk_plugin_set_free. TK_ENOMEM. Only the worker process itself, the
 * sandbox's unit tests, the fuzzers and the in-process benchmark rows use
 * such a set: everything that runs an admin's plugins next to keys uses a
 * jailed set (below). */
int tk_plugin_set_new(tk_plugin_set_t **out, const tk_plugin_limits_t *lim);

/* Creates an empty *jailed* set: the same contract as above (loading,
 * declarations, every call), but every plugin's code runs in one of up to
 * nworkers (0 = TK_PLUGIN_WORKERS_DEFAULT) worker processes
 * (plugin_worker.c, the jail in tk_plugin_jail.h), each started on first
 * need by exec'ing tunduk-plugin-worker, so it holds no key of this
 * process. A call (a load, a validate, summary, merge, check, or one
 * record of an export) that has not answered within lim.call_ms +
 * TK_PLUGIN_KILL_GRACE_MS gets its worker SIGKILLed; the call fails with
 * TK_EPLUGIN ("plugin <name>: <what>: time limit exceeded ... the worker
 * was stopped"), exactly as a plugin over its limits fails in-process, and
 * the next call gets a fresh worker. Calls from several threads run in
 * parallel on different workers (a call waits for a free one).
 * TK_ENOMEM; TK_EPLUGIN if the worker program cannot be found. */
int tk_plugin_set_new_jailed(tk_plugin_set_t **out, const tk_plugin_limits_t *lim,
                             unsigned nworkers, tk_err_t *err);
/* 1 if s runs its plugins in worker processes. */
int tk_plugin_set_jailed(const tk_plugin_set_t *s);
/* The pid of worker i of a jailed set, or 0 if none runs (for tests). */
int tk_plugin_set_worker_pid(tk_plugin_set_t *s, unsigned i);
void tk_plugin_set_free(tk_plugin_set_t *s);

/* The main of tunduk-plugin-worker (clients/plugin_worker): serves one
 * jailed set over fd TK_PLUGIN_WORKER_FD. Never returns. */
int tk_plugin_worker_main(int argc, char **argv);

/* Loads one plugin from source text: a new sandboxed state, the chunk
 * compiled as text with chunk name "@<name>", its top level run under the
 * per-call limits. name is the plugin's name in messages (a file name such
 * as "case.lua", at most TK_PLUGIN_MAX_NAME bytes). On any failure
 * (TK_EFORMAT: syntax error or binary chunk; TK_EPLUGIN: runtime error or
 * limit at load, a bad declaration, or a name already declared by another
 * plugin of the set; TK_ELIMIT: source too big) err says "plugin <name>:
 * <file>:<line>: ..." and the set is unchanged. */
int tk_plugin_set_add_source(tk_plugin_set_t *s, const char *name, const char *src,
                             size_t n, tk_err_t *err);

/* Reads path (at most TK_PLUGIN_MAX_SOURCE bytes) and adds it as above under
 * its base name. TK_EIO if it cannot be read. */
int tk_plugin_set_add_file(tk_plugin_set_t *s, const char *path, tk_err_t *err);

/* Adds every regular file named *.lua (not starting with '.') in dir, in
 * byte order of their names. A plugin that fails to load is skipped, its
 * message kept in the set's load errors (tk_plugin_set_load_error) and
 * logged; the others load. Returns 0 even if some plugins failed; TK_EIO if
 * dir cannot be read; TK_ELIMIT past TK_PLUGIN_MAX_FILES files. */
int tk_plugin_set_load_dir(tk_plugin_set_t *s, const char *dir, tk_err_t *err);

/* Load failures kept by tk_plugin_set_load_dir: the count, and message i
 * (valid while the set lives; NULL if i is out of range). */
size_t tk_plugin_set_load_errors(const tk_plugin_set_t *s);
const char *tk_plugin_set_load_error(const tk_plugin_set_t *s, size_t i);

/* ---- a set from several folders (plugin_layers.c) ------------------------- */

#define TK_PLUGIN_MAX_LAYERS 8

/* One layer of a set: a folder of *.lua files (or one .lua file), named
 * for messages and listings (e.g. "bundled", "set", "home"). A missing
 * optional layer is skipped; a missing required one is TK_EIO. */
typedef struct tk_plugin_layer {
  const char *name;
  const char *dir;
  int optional;
} tk_plugin_layer_t;

/* How a plugin of a set came to be there (tk_plugin_origin_t.kept). */
enum {
  TK_PLUGIN_FRESH = 0,    /* its file as read now */
  TK_PLUGIN_KEPT = 1,     /* its file failed to load: the previous set's version */
  TK_PLUGIN_FALLBACK = 2, /* its file failed to load: a lower layer's file */
};

/* Loads the layers as one set, lowest first: the *.lua files of every
 * layer, a later layer's file replacing an earlier one's of the same file
 * name (so a folder that holds one file changes that one plugin and keeps
 * the others), then loaded in byte order of their names as
 * tk_plugin_set_load_dir does. A file that fails to load is kept in the
 * load errors and logged, and in its place runs, if there is one: prev's
 * plugin of that file name (prev: the set this one replaces, in a reload;
 * may be NULL), else the same file of the highest lower layer that loads,
 * the message then saying which ("...; keeping the previous version" /
 * "...; using the one from <layer> <path>"). Returns 0 even if plugins
 * failed; TK_EIO if a required layer cannot be read; TK_ELIMIT past
 * TK_PLUGIN_MAX_FILES names or TK_PLUGIN_MAX_LAYERS layers. */
int tk_plugin_set_load_layers(tk_plugin_set_t *s, const tk_plugin_layer_t *layers,
                              size_t n, const tk_plugin_set_t *prev, tk_err_t *err);

/* Where plugin file `plugin` of s came from. Strings live as long as s. */
typedef struct tk_plugin_origin {
  const char *layer;     /* its layer's name; "" if added as source text */
  const char *path;      /* the file read; NULL if added as source text */
  const char *overrides; /* the next lower layer holding that file name, or NULL */
  int kept;              /* TK_PLUGIN_FRESH, _KEPT or _FALLBACK */
} tk_plugin_origin_t;

/* 0 with *out, or TK_ENOTFOUND if s has no plugin of that file name. */
int tk_plugin_set_origin(const tk_plugin_set_t *s, const char *plugin,
                         tk_plugin_origin_t *out);
/* How many plugins of s run a version other than their file's (KEPT or
 * FALLBACK). */
size_t tk_plugin_set_kept(const tk_plugin_set_t *s);

/* ---- what the plugins declared ------------------------------------------- */

typedef enum {
  TK_PLUGIN_TYPE = 0,       /* tunduk.content_type{...} */
  TK_PLUGIN_EXPORT = 1,     /* tunduk.export{...} */
  TK_PLUGIN_MODERATION = 2, /* tunduk.moderation{...} */
  TK_PLUGIN_NKINDS = 3
} tk_plugin_kind_t;

typedef enum {
  TK_FIELD_TEXT = 0, /* a string (a required text must be non-empty) */
  TK_FIELD_DATE,     /* "YYYY-MM-DD", a valid calendar date */
  TK_FIELD_DATETIME, /* RFC 3339, e.g. "2024-05-01T10:00:00Z" */
  TK_FIELD_ENUM,     /* a string among values */
  TK_FIELD_INTEGER,  /* a JSON integer */
  TK_FIELD_BOOLEAN,  /* true or false */
  TK_FIELD_LIST,     /* a JSON array */
  TK_FIELD_REF,      /* a record id: 32 hex digits */
  TK_FIELD_OBJECT    /* a list's items only: a JSON object of sub-fields */
} tk_field_kind_t;

/* The language codes of labels, in tk_plugin_labels_t order: "en", "ru",
 * "ky". */
extern const char *const tk_plugin_langs[TK_PLUGIN_NLANGS + 1]; /* NULL-terminated */

/* A label in each language (v[i] for tk_plugin_langs[i]); NULL where the
 * plugin gave none (a plain string label sets only v[0], meant for all
 * languages: a reader falls back to v[0], then to the name). */
typedef struct tk_plugin_labels {
  const char *v[TK_PLUGIN_NLANGS];
} tk_plugin_labels_t;

/* A declared field; also what one item of a list is (items: name NULL) and
 * a field of an object item (sub). */
typedef struct tk_plugin_field {
  const char *name;
  const char *label; /* = labels.v[0]: what a form shows; NULL if none */
  int kind;          /* tk_field_kind_t */
  int required;
  size_t nvalues; /* enum values */
  const char *const *values;
  tk_plugin_labels_t labels;
  /* enum: NULL, or nvalues labels (an entry's v[0] NULL: none given) */
  const tk_plugin_labels_t *value_labels;
  const char *ref_type;                /* ref: the content type it points to; or NULL */
  const struct tk_plugin_field *items; /* list: what each item is; NULL = text */
  /* object (an item): its fields, in the order a form shows them (`order`,
   * then by name) */
  size_t nsub;
  const struct tk_plugin_field *sub;
} tk_plugin_field_t;

/* One declared field f against its value v (NULL: absent), the host's own
 * check of that kind: 0, or TK_EINVAL with why (cap bytes) = the reason
 * after the field's name, e.g. "is required", "must be one of: a, b", or
 * for a list with items its first bad item: "item 2: 'date' must be a date
 * YYYY-MM-DD". */
struct json_t;
int tk_plugin_field_check(const tk_plugin_field_t *f, const struct json_t *v, char *why,
                          size_t cap);

/* Receives one problem: field is where ("status", "hearings[2].date",
 * 1-based; "" for the whole record), message the reason with the field
 * named ("field 'hearings' item 2: 'date' must be a date YYYY-MM-DD"). */
typedef void (*tk_plugin_problem_fn)(void *ud, const char *field, const char *message);
/* Every problem of field f's value v (NULL: absent), items of a list
 * checked against f->items (an object item: an object, its required
 * sub-fields present, each of its declared kind; keys it does not declare
 * are kept, not refused), each passed to fn. Returns how many. */
size_t tk_plugin_field_problems(const tk_plugin_field_t *f, const struct json_t *v,
                                tk_plugin_problem_fn fn, void *ud);

/* Field names the engine keeps in a body whatever the content type
 * declares: the attachment list and the tombstone flag. */
int tk_plugin_field_reserved(const char *name);
struct tk_plugin_decl;
/* Whether key may be written in a record of content type d: declared,
 * reserved, d allows extra fields or declares none: 0. Else TK_EINVAL with why (cap
 * bytes) = "unknown field 'titel' (did you mean 'title'? known: a, b)". */
int tk_plugin_field_unknown(const struct tk_plugin_decl *d, const char *key, char *why,
                            size_t cap);

/* Of names[n], the one nearest to key when it is near (a likely typo:
 * at most two edits, or a third of key's length), else NULL. */
const char *tk_plugin_name_suggest(const char *key, const char *const *names, size_t n);

/* One declaration. Every pointer stays valid while the set lives. */
typedef struct tk_plugin_decl {
  int kind;               /* tk_plugin_kind_t */
  const char *name;       /* type, export format or rule name */
  const char *plugin;     /* the plugin that declared it, e.g. "case.lua" */
  const char *media_type; /* exports: e.g. "text/csv"; else NULL */
  int has_validate, has_summary, has_merge; /* content types */
  size_t nfields;                           /* content types: sorted by name */
  const tk_plugin_field_t *fields;
  tk_plugin_labels_t labels; /* content types: the type's own label */
  /* content types: `order`, the field names a form shows first, in that
   * order (the rest follow by name) */
  size_t norder;
  const char *const *order;
  /* content types: `extra_fields = true`, records may hold fields not
   * declared (else writing one is refused: tk_plugin_field_unknown) */
  int extra_fields;
  /* moderation: the content types whose records check sees (`reads`);
   * reads_all when the rule did not say, so it sees every type's */
  int reads_all;
  size_t nreads;
  const char *const *reads;
} tk_plugin_decl_t;

/* Declarations of one kind, in load order (plugin file order, then
 * declaration order); names are unique within a kind across the set. */
size_t tk_plugin_set_count(const tk_plugin_set_t *s, int kind);
const tk_plugin_decl_t *tk_plugin_set_decl(const tk_plugin_set_t *s, int kind, size_t i);
/* NULL if no declaration of that kind has that name. */
const tk_plugin_decl_t *tk_plugin_set_find(const tk_plugin_set_t *s, int kind,
                                           const char *name);

/* ---- calls ----------------------------------------------------------------
 * Record bodies are JSON objects of at most TK_MAX_BODY_JSON bytes. Common
 * return codes: TK_ENOTFOUND no such declaration (or callback); TK_EFORMAT
 * the body is not a JSON object; TK_ELIMIT the body is too big; TK_EPLUGIN
 * the plugin failed (a Lua error, a bad return value, or a limit: err names
 * the plugin, the callback and what went wrong). No failure of a plugin
 * leaves the process or the set in a bad state.
 */

/* Checks a record of content type `type`: first the host checks the
 * declared fields (required present; kinds), then the plugin's validate(r)
 * runs if declared. validate passes with `true` or tunduk.accept(); it
 * refuses with `nil, reason`, `false, reason` or tunduk.reject(reason);
 * anything else refuses with "validate returned no verdict". Returns 0 if
 * the record is valid, TK_EINVAL if refused with err = "content type
 * '<type>': <reason>" (a field problem names the field). */
int tk_plugin_validate(tk_plugin_set_t *s, const char *type, tk_slice_t body,
                       tk_err_t *err);

/* One problem of a record (tk_plugin_validate_problems). */
typedef struct tk_plugin_problem {
  char field[TK_PLUGIN_MAX_PATH];              /* as tk_plugin_problem_fn's */
  char message[TK_PLUGIN_MAX_REASON + 1 + 80]; /* "field 'x' ..." */
} tk_plugin_problem_t;
typedef struct tk_plugin_problems {
  size_t n; /* kept: at most TK_PLUGIN_MAX_PROBLEMS */
  tk_plugin_problem_t v[TK_PLUGIN_MAX_PROBLEMS];
} tk_plugin_problems_t;

/* tk_plugin_validate, with every problem in *out (may be NULL; n = 0 when
 * valid): the host's, each field and each item of a list with its place
 * (tk_plugin_field_problems), or, when those pass, validate()'s: its
 * reason as one problem, whose field is X (or X[N], X[N].y) when the
 * reason starts "field 'X'" (" item N", ": 'y'") and X is a declared field
 * (y a field of its object items); or, when validate returns nil and a
 * list of problems ({ {field = "closed", message = "..."}, "reason", ... },
 * the first TK_PLUGIN_MAX_PROBLEMS read), each of them (a field naming no
 * declared field becomes ""). err as tk_plugin_validate's: the first
 * problem. */
int tk_plugin_validate_problems(tk_plugin_set_t *s, const char *type, tk_slice_t body,
                                tk_plugin_problems_t *out, tk_err_t *err);

/* n records of one content type checked as n tk_plugin_validate calls
 * would check them: rcs[i] and errs[i] (err of call i) are exactly that
 * call's result, but a jailed set sends them in
 * one request (TK__W_VALIDATE_MANY; several when they do not fit a frame)
 * to one worker, so the round trip is paid once per batch. The limits stay
 * per record: each validate() runs under the instruction budget and the
 * deadline of one call, and a record whose answer has not come within
 * call_ms + TK_PLUGIN_KILL_GRACE_MS of the answer before it gets its
 * worker killed and fails with the usual "time limit exceeded" message;
 * the records after it go on in a fresh worker. Returns 0 (TK_EINVAL for
 * NULL arguments). Any thread, as the calls. */
int tk_plugin_validate_many(tk_plugin_set_t *s, const char *type,
                            const tk_slice_t *bodies, size_t n, int *rcs, tk_err_t *errs);

/* n summaries as n tk_plugin_summary calls would make them (rcs[i],
 * errs[i]; lines[i] the line, NUL-terminated, where rcs[i] is 0), in one
 * request to one worker for a jailed set (TK__W_SUMMARY_MANY), as
 * tk_plugin_validate_many does for validate(). Returns 0 (TK_EINVAL for
 * NULL arguments). */
typedef char tk_plugin_line_t[TK_PLUGIN_MAX_SUMMARY + 1];
int tk_plugin_summary_many(tk_plugin_set_t *s, const char *type, const tk_slice_t *bodies,
                           size_t n, int *rcs, tk_err_t *errs, tk_plugin_line_t *lines);

/* The content type's summary(r) as one line, appended to out NUL-terminated:
 * control characters become spaces, at most TK_PLUGIN_MAX_SUMMARY bytes
 * (cut at a UTF-8 boundary). summary must return a string (or a number). */
int tk_plugin_summary(tk_plugin_set_t *s, const char *type, tk_slice_t body,
                      tk_buf_t *out, tk_err_t *err);

/* merge(base, ours, theirs) of the content type; base.p == NULL means no
 * common ancestor (base is nil in Lua). The returned table, converted to
 * compact JSON with sorted keys, is appended to out (NUL-terminated). It must
 * be an object of at most TK_MAX_BODY_JSON bytes; the caller validates it
 * like any edit. merge returning nil[, reason] declines: TK_EPLUGIN with the
 * reason (leave the conflict to a person). */
int tk_plugin_merge(tk_plugin_set_t *s, const char *type, tk_slice_t base,
                    tk_slice_t ours, tk_slice_t theirs, tk_buf_t *out, tk_err_t *err);

/* Metadata of a revision as plugins see it (strings may be NULL = absent). */
typedef struct tk_plugin_meta {
  const char *record_id;   /* hex */
  const char *revision_id; /* hex */
  const char *type;
  const char *vault;
  const char *author; /* device id as printed */
  uint64_t hlc;
  uint64_t size; /* bytes of the encoded revision */
  uint32_t generation;
  uint32_t nparents;
} tk_plugin_meta_t;

/* One record handed to an export. body is valid until the next call of the
 * iterator; meta may be NULL. */
typedef struct tk_plugin_record {
  tk_slice_t body;
  const tk_plugin_meta_t *meta;
} tk_plugin_record_t;

/* Export iterator: fills *rec and returns 1, returns 0 at the end, or a
 * negative TK_E* (which then becomes tk_plugin_export's result). */
typedef int (*tk_plugin_next_fn)(void *ud, tk_plugin_record_t *rec);
/* Export writer: receives the bytes the plugin writes; 0 or negative TK_E*. */
typedef int (*tk_plugin_write_fn)(void *ud, const void *p, size_t n);

/* Runs export `format`: write(records, out) where `for r, m in records do`
 * yields each record (r the body table, m its metadata table or nil) and
 * out(s, ...) writes strings (numbers are converted). Top-level fields named
 * in redact (NULL-terminated list, may be NULL) are removed from each body
 * before the plugin sees it. The instruction budget and the deadline are
 * per record: both restart each time the iterator hands over a record. An
 * error from next or write stops the export and is returned. */
int tk_plugin_export(tk_plugin_set_t *s, const char *format, const char *const *redact,
                     tk_plugin_next_fn next, void *next_ud, tk_plugin_write_fn write,
                     void *write_ud, tk_err_t *err);
/* tk_plugin_export with a third argument to write: info, the JSON text of
 * an object (empty: nil), turned into a table (records, out, info). Each
 * record's metadata table also gets `attachments`, {name=, size=} of each
 * entry of the body's "_attachments". TK_EINVAL if info is not an object. */
int tk_plugin_export_info(tk_plugin_set_t *s, const char *format,
                          const char *const *redact, tk_slice_t info,
                          tk_plugin_next_fn next, void *next_ud, tk_plugin_write_fn write,
                          void *write_ud, tk_err_t *err);

typedef enum {
  TK_VERDICT_ACCEPT = 0,
  TK_VERDICT_QUARANTINE = 1,
  TK_VERDICT_REJECT = 2
} tk_verdict_t;

typedef struct tk_plugin_verdict {
  int verdict;                         /* tk_verdict_t */
  char plugin[TK_PLUGIN_MAX_NAME + 1]; /* who decided (empty for accept) */
  char rule[TK_PLUGIN_MAX_NAME + 1];
  char reason[TK_PLUGIN_MAX_REASON + 1];
} tk_plugin_verdict_t;

/* 1 if the moderation rule d sees the records of content type `type`. */
int tk_plugin_rule_reads(const tk_plugin_decl_t *d, const char *type);
/* 1 if any moderation rule of s sees the records of `type`: when none
 * does, a caller need not open (decrypt, parse) such a record at all. */
int tk_plugin_moderation_reads(const tk_plugin_set_t *s, const char *type);

/* Runs every moderation rule's check(meta, record) in declaration order;
 * meta is a table of tk_plugin_meta_t's fields, plus `deleted` (true for
 * a deletion, {"_deleted": true}; false otherwise) whenever the rule is
 * given the record: a node that cannot read the body (a blind hub) cannot
 * tell a deletion from an edit, and meta.deleted is then absent (the
 * envelope does not carry it, so that the hub cannot see which records are
 * deleted either);
 * body.p == NULL when this node holds no key (record is nil); a rule whose
 * `reads` leaves meta->type out sees nil too, and a body is parsed only
 * if some rule reads its type. A rule
 * answers tunduk.accept(), tunduk.reject(reason) or
 * tunduk.quarantine(reason). The first reject stops and wins; otherwise the
 * first quarantine wins; otherwise accept. A rule that errors, hits a limit
 * or returns anything but a verdict quarantines, with a reason saying so;
 * a body that does not parse quarantines. Always fills *out and returns 0
 * (TK_EINVAL only for NULL arguments): a record is never silently accepted
 * because a plugin broke. */
int tk_plugin_moderate(tk_plugin_set_t *s, const tk_plugin_meta_t *meta, tk_slice_t body,
                       tk_plugin_verdict_t *out);

/* One moderation rule's verdict on a revision, as tk_plugin_moderate
 * would reach it from that rule alone (a rule that fails quarantines,
 * saying why); out's plugin and rule are always set (tunduk plugin test).
 * TK_ENOTFOUND: no such rule; TK_EINVAL for NULL arguments. */
int tk_plugin_check(tk_plugin_set_t *s, const char *rule, const tk_plugin_meta_t *meta,
                    tk_slice_t body, tk_plugin_verdict_t *out);

struct json_t;
/* tk_plugin_moderate with the body already parsed (tk__plugin_json_parse,
 * which may run on another thread; nothing here is shared): record is the
 * object (borrowed, not modified; NULL when this node holds no key), or
 * parse_error the message of a body that did not parse, which quarantines
 * with it exactly as tk_plugin_moderate does. */
int tk_plugin_moderate_parsed(tk_plugin_set_t *s, const tk_plugin_meta_t *meta,
                              struct json_t *record, const char *parse_error,
                              tk_plugin_verdict_t *out);

/* One revision of a batch for tk_plugin_moderate_batch: its metadata and
 * its record as JSON text (body.p != NULL), or already parsed (record,
 * borrowed), or parse_error (the body did not parse: it quarantines with
 * that message); body.p, record and parse_error all NULL when this node
 * holds no key. */
typedef struct tk_plugin_item {
  const tk_plugin_meta_t *meta;
  tk_slice_t body;
  struct json_t *record;
  const char *parse_error;
} tk_plugin_item_t;

/* A verdict tk_plugin_moderate_batch did not reach (its budget ran out). */
#define TK_VERDICT_UNJUDGED (-1)

/* The verdicts of n revisions, out[i] exactly what tk_plugin_moderate (or
 * tk_plugin_moderate_parsed) would give items[i], but cheaper in a jailed
 * set: the rules run rule by rule over the whole batch (declaration
 * order; a revision a rule rejects is not shown to the rules after it),
 * each rule's checks of the batch in one request to one worker
 * (W_CHECK_MANY, several when the batch does not fit a frame). The
 * deadline stays per check: a check that has not answered within
 * call_ms + TK_PLUGIN_KILL_GRACE_MS of the check before it gets its worker
 * killed and that revision quarantined with the usual "time limit
 * exceeded" message, and the checks after it go on in a fresh worker.
 * budget_ms (0: none) bounds the whole call: past it no check starts (a
 * worker busy with one is killed), and every revision not yet through all
 * of its rules, and not rejected, gets verdict TK_VERDICT_UNJUDGED (the
 * caller decides; it must never accept it). Returns 0 (TK_EINVAL for NULL
 * arguments, TK_ENOMEM with nothing judged). Any thread, as the calls. */
int tk_plugin_moderate_batch(tk_plugin_set_t *s, const tk_plugin_item_t *items, size_t n,
                             uint64_t budget_ms, tk_plugin_verdict_t *out);

/* ---- internal, shared by plugin.c, plugin_json.c and their tests -------- */

struct lua_State;
struct json_t;

/* The JSON null sentinel pushed as tunduk.null (a light userdata). */
extern const char tk__plugin_null;

/* Registers the array marker metatable in L's registry. Call once per state
 * before the functions below; may raise a Lua memory error. */
void tk__plugin_json_open(struct lua_State *L);

/* Pushes v as Lua values (objects -> tables, arrays -> marked sequences, null
 * -> sentinel). Top-level object keys listed in skip (NULL-terminated, may be
 * NULL) are left out. Must run in protected mode (may raise memory errors).
 * TK_ELIMIT (nothing pushed) past TK_MAX_JSON_DEPTH. */
int tk__plugin_json_push(struct lua_State *L, struct json_t *v, const char *const *skip,
                         tk_err_t *err);

/* Converts the Lua value at idx to a new JSON value (*out, caller decrefs).
 * Raw access only (no metamethods run). Refuses (TK_EINVAL, err naming the
 * path such as "$.tags[2]") cycles, non-string object keys, mixed or sparse
 * tables, NaN/inf, NUL bytes or invalid UTF-8 in strings, functions and
 * other values; TK_ELIMIT past TK_MAX_JSON_DEPTH. Must run in protected mode. */
int tk__plugin_json_from_lua(struct lua_State *L, int idx, struct json_t **out,
                             tk_err_t *err);

/* Parses a record body: at most TK_MAX_BODY_JSON bytes (TK_ELIMIT), a JSON
 * object (TK_EFORMAT, with jansson's line:column). *out: caller decrefs. */
int tk__plugin_json_parse(tk_slice_t body, struct json_t **out, tk_err_t *err);

/* Appends compact JSON with sorted keys (NUL-terminated) to out. TK_ELIMIT
 * if longer than max. */
int tk__plugin_json_dump(struct json_t *v, size_t max, tk_buf_t *out, tk_err_t *err);

#endif
