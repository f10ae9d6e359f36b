/*
 * office_import.c: bulk import of a CSV or JSON Lines file as new records
 * of one content type (tk_office_import, tk_office.h says what it does for
 * a caller; reading the file as rows is office_import_rows.c's). Here: the first pass
 * (every row checked: the declared fields here, the content type's validate() in batches
 * through tk_plugin_validate_many), and the second (the accepted rows sealed and stored
 * in transactions of TK_OFFICE_IMPORT_BATCH records, with the import's progress in the
 * store's settings in the same transaction).
 *
 * Memory: one batch of rows at a time, and 17 bytes per row of the file
 * (whether it was accepted, and 16 bytes of the SHA-256 of the record the
 * first pass checked, so the second pass writes only what was checked).
 *
 * Threads: one, as tk_office_t, but for the two checker threads the first
 * pass starts: they run validate() over a batch, half each
 * (tk_plugin_validate_many, which any thread may call), while the caller's
 * thread reads the next, and touch nothing else; they are joined before
 * the first pass ends.
 */
#include "office_import.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tk_body.h"
#include "tk_office_plugins.h"

#define CHECK_BATCH 256 /* rows per tk_plugin_validate_many */
#define SIG_LEN TK__IMPORT_SIG_LEN

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *base_name(const char *path)
{
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* ---- pass 1: checking ---------------------------------------------------------- */

typedef struct check_batch {
  size_t n;
  uint64_t line[CHECK_BATCH];
  size_t idx[CHECK_BATCH]; /* row index (m->sigs) */
  tk_buf_t text[CHECK_BATCH];
  tk_slice_t view[CHECK_BATCH];
  int rc[CHECK_BATCH];
  tk_err_t e[CHECK_BATCH];
} check_batch_t;

static int sig_add(imp_t *m, tk_err_t *err)
{
  if (m->nsigs == m->capsigs) {
    size_t cap = m->capsigs ? 2 * m->capsigs : 4096;
    row_sig_t *s = realloc(m->sigs, cap * sizeof *s);
    if (!s) return tk_err_set(err, TK_ENOMEM, "out of memory");
    m->sigs = s;
    m->capsigs = cap;
  }
  memset(&m->sigs[m->nsigs++], 0, sizeof *m->sigs);
  return 0;
}

static void sig_of(const tk_buf_t *text, uint8_t h[SIG_LEN])
{
  uint8_t full[TK_HASH_LEN];
  tk_sha256(full, text->p, text->n);
  memcpy(h, full, SIG_LEN);
}

/* The content type's validate() over rows [from, from + n) of a batch. */
static void check_run(imp_t *m, check_batch_t *b, size_t from, size_t n)
{
  if (n)
    tk_plugin_validate_many(m->set, m->decl->name, b->view + from, n, b->rc + from,
                            b->e + from);
}

/* After check_run of all of it: the accepted rows marked, the others reported. */
static void check_finish(imp_t *m, check_batch_t *b)
{
  char prefix[TK_MAX_TYPE_LEN + 32];
  snprintf(prefix, sizeof prefix, "content type '%s': ", m->decl->name);
  for (size_t i = 0; i < b->n; i++) {
    row_sig_t *s = &m->sigs[b->idx[i]];
    if (b->rc[i] == 0) {
      s->ok = 1;
      sig_of(&b->text[i], s->h);
    } else {
      const char *msg = b->e[i].msg;
      if (strncmp(msg, prefix, strlen(prefix)) == 0) msg += strlen(prefix);
      if (b->rc[i] == TK_EINVAL)
        tk__import_report(m, b->line[i], 0, "", "%s", msg);
      else
        tk__import_report(m, b->line[i], 0, "", "not checked: %s", msg);
      m->r->rejected++;
    }
    b->text[i].n = 0;
  }
  b->n = 0;
}

/* The checker threads: each runs the plugin's validate() over half of a
 * batch (each half in one of the office's two plugin workers) while the
 * main thread reads the next batch, so the workers' time and this
 * process's overlap. They live for the whole pass: a worker dies with the
 * thread that started it (PR_SET_PDEATHSIG), so no short-lived thread
 * may start one. */
typedef struct checker {
  imp_t *m;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  check_batch_t *job;
  size_t from, n;
  int started, quit;
} checker_t;

static void *checker_main(void *arg)
{
  checker_t *k = arg;
  pthread_mutex_lock(&k->mu);
  for (;;) {
    while (!k->job && !k->quit)
      pthread_cond_wait(&k->cv, &k->mu);
    if (!k->job) break;
    check_batch_t *b = k->job;
    pthread_mutex_unlock(&k->mu);
    check_run(k->m, b, k->from, k->n);
    pthread_mutex_lock(&k->mu);
    k->job = NULL;
    pthread_cond_broadcast(&k->cv);
  }
  pthread_mutex_unlock(&k->mu);
  return NULL;
}

/* Waits until the checker holds no batch. */
static void checker_idle(checker_t *k)
{
  if (!k->started) return;
  pthread_mutex_lock(&k->mu);
  while (k->job)
    pthread_cond_wait(&k->cv, &k->mu);
  pthread_mutex_unlock(&k->mu);
}

/* Hands rows [from, from + n) of b to the checker (idle), or runs them
 * here if it did not start. */
static void checker_give(checker_t *k, check_batch_t *b, size_t from, size_t n)
{
  if (!k->started) {
    check_run(k->m, b, from, n);
    return;
  }
  pthread_mutex_lock(&k->mu);
  k->job = b;
  k->from = from;
  k->n = n;
  pthread_cond_broadcast(&k->cv);
  pthread_mutex_unlock(&k->mu);
}

static void checker_start(checker_t *k, imp_t *m)
{
  memset(k, 0, sizeof *k);
  k->m = m;
  pthread_mutex_init(&k->mu, NULL);
  pthread_cond_init(&k->cv, NULL);
  k->started = pthread_create(&k->thread, NULL, checker_main, k) == 0;
}

static void checker_stop(checker_t *k)
{
  if (k->started) {
    pthread_mutex_lock(&k->mu);
    k->quit = 1;
    pthread_cond_broadcast(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
  }
  pthread_mutex_destroy(&k->mu);
  pthread_cond_destroy(&k->cv);
}

typedef struct row_ctx {
  imp_t *m;
  const row_t *row;
  int col;
} row_ctx_t;

static void row_problem(void *ud, const char *field, const char *message)
{
  row_ctx_t *x = ud;
  tk__import_report(x->m, x->row->line, x->col, field, "%s", message);
}

/* The declared fields of one converted row; 0 if they all pass. */
static int check_fields(imp_t *m, const row_t *row)
{
  char why[256];
  int bad = 0;
  for (size_t i = 0; i < m->decl->nfields; i++) {
    const tk_plugin_field_t *f = &m->decl->fields[i];
    row_ctx_t x = {m, row, 0};
    for (size_t k = 0; m->csv && k < m->ncols; k++)
      if (m->cols[k].field && strcmp(m->cols[k].field, f->name) == 0) x.col = (int)k + 1;
    if (tk_plugin_field_problems(f, json_object_get(row->body, f->name), row_problem, &x))
      bad = 1;
  }
  const char *key;
  json_t *v;
  json_object_foreach(row->body, key, v)
  {
    if (!tk_plugin_field_unknown(m->decl, key, why, sizeof why)) continue;
    int col = 0;
    for (size_t k = 0; m->csv && k < m->ncols; k++)
      if (m->cols[k].field && strcmp(m->cols[k].field, key) == 0) col = (int)k + 1;
    tk__import_report(m, row->line, col, key, "%s", why);
    bad = 1;
  }
  return bad;
}

static int check_row(imp_t *m, check_batch_t *b, row_t *row, tk_err_t *err)
{
  if (!row->body || check_fields(m, row)) {
    m->r->rejected++;
    return 0;
  }
  tk_buf_t *t = &b->text[b->n];
  t->n = 0;
  if (tk_body_dump(row->body, t) < 0) return tk_err_set(err, TK_ENOMEM, "out of memory");
  if (t->n > TK_MAX_BODY_JSON) {
    tk__import_report(m, row->line, 0, "", "the record is %zu bytes as JSON; at most %u",
                      t->n, TK_MAX_BODY_JSON);
    m->r->rejected++;
    return 0;
  }
  b->line[b->n] = row->line;
  b->idx[b->n] = m->nsigs - 1;
  b->view[b->n] = TK_SLICE(t->p, t->n);
  b->n++;
  return 0;
}

static int pass_check(imp_t *m, tk_err_t *err)
{
  check_batch_t *bs = calloc(2, sizeof *bs), *cur = bs, *prev = NULL;
  checker_t k[2];
  row_t row;
  int rc;
  if (!bs) return tk_err_set(err, TK_ENOMEM, "out of memory");
  m->pass = 1;
  m->reporting = 1;
  checker_start(&k[0], m);
  checker_start(&k[1], m);
  rc = tk__import_open(m, err);
  while (!rc && (rc = tk__import_next(m, &row, err)) == 1) {
    rc = 0;
    if (m->r->rows == m->max_rows) {
      json_decref(row.body);
      rc = tk_err_set(err, TK_ELIMIT, "%s:%llu: more than %llu rows; split the file",
                      m->opts->path, (unsigned long long)row.line,
                      (unsigned long long)m->max_rows);
      break;
    }
    m->r->rows++;
    rc = sig_add(m, err);
    if (!rc) rc = check_row(m, cur, &row, err);
    json_decref(row.body);
    if (!rc && cur->n == CHECK_BATCH) {
      /* the batch before is done once the checker is idle */
      checker_idle(&k[0]);
      checker_idle(&k[1]);
      if (prev) check_finish(m, prev);
      checker_give(&k[0], cur, 0, cur->n / 2);
      checker_give(&k[1], cur, cur->n / 2, cur->n - cur->n / 2);
      prev = cur;
      cur = cur == bs ? bs + 1 : bs;
    }
  }
  checker_idle(&k[0]);
  checker_idle(&k[1]);
  if (!rc && prev) check_finish(m, prev);
  if (!rc) {
    checker_give(&k[0], cur, 0, cur->n / 2);
    checker_give(&k[1], cur, cur->n / 2, cur->n - cur->n / 2);
    checker_idle(&k[0]);
    checker_idle(&k[1]);
    check_finish(m, cur);
  }
  checker_stop(&k[0]);
  checker_stop(&k[1]);
  for (size_t j = 0; j < 2; j++)
    for (size_t i = 0; i < CHECK_BATCH; i++)
      tk_buf_wipe(&bs[j].text[i]);
  free(bs);
  if (!rc) {
    uint8_t h[TK_HASH_LEN];
    tk_sha256_final(&m->sha, h);
    tk_hex_encode(m->r->sha256, h, TK_HASH_LEN);
  }
  for (size_t i = 0; !rc && !m->csv && i < m->nmap; i++)
    if (!m->map[i].seen)
      rc = tk_err_set(err, TK_EINVAL, "%s: no row of %s has the key '%s'", m->opts->map,
                      m->opts->path, m->map[i].src);
  tk__import_close(m);
  return rc;
}

/* ---- pass 2: writing ------------------------------------------------------------ */

/* "line=L written=N done=D" of this import, if an earlier run kept one. */
static int progress_get(imp_t *m, uint64_t *line, uint64_t *written, int *done)
{
  char v[128];
  unsigned long long l = 0, w = 0;
  int d = 0;
  *line = *written = 0;
  *done = 0;
  if (tk_store_meta_get(m->o->store, m->key, v, sizeof v, NULL) != 0) return 0;
  if (sscanf(v, "line=%llu written=%llu done=%d", &l, &w, &d) != 3) return 0;
  *line = l;
  *written = w;
  *done = d;
  return 1;
}

static int progress_set(imp_t *m, uint64_t line, uint64_t written, int done,
                        tk_err_t *err)
{
  char v[128];
  snprintf(v, sizeof v, "line=%llu written=%llu done=%d", (unsigned long long)line,
           (unsigned long long)written, done);
  return tk_store_meta_set(m->o->store, m->key, v, err);
}

typedef struct write_batch {
  size_t n;
  json_t *body[TK_OFFICE_IMPORT_BATCH];
  tk_buf_t text[TK_OFFICE_IMPORT_BATCH]; /* tk_body_dump of each */
  tk_slice_t view[TK_OFFICE_IMPORT_BATCH];
  uint64_t last_line;
} write_batch_t;

static int write_flush(imp_t *m, write_batch_t *w, uint64_t total, int done,
                       tk_err_t *err)
{
  int rc = tk_store_begin(m->o->store, err);
  for (size_t i = 0; i < w->n; i++)
    w->view[i] = TK_SLICE(w->text[i].p, w->text[i].n);
  if (!rc)
    rc = tk__office_seal_new_many(m->o, m->decl->name, m->opts->vault, w->body, w->view,
                                  w->n, err);
  if (!rc) rc = progress_set(m, w->last_line, total + w->n, done, err);
  if (!rc) rc = tk_store_commit(m->o->store, err);
  if (rc) {
    tk_store_rollback(m->o->store);
  } else {
    m->r->written += w->n;
    m->r->batches++;
  }
  for (size_t i = 0; i < w->n; i++)
    json_decref(w->body[i]);
  w->n = 0;
  return rc;
}

static int pass_write(imp_t *m, uint64_t after_line, uint64_t before, tk_err_t *err)
{
  write_batch_t *w = calloc(1, sizeof *w);
  row_t row;
  size_t i = 0;
  int rc;
  if (!w) return tk_err_set(err, TK_ENOMEM, "out of memory");
  m->pass = 2;
  m->reporting = 0;
  rc = tk__import_open(m, err);
  while (!rc && (rc = tk__import_next(m, &row, err)) == 1) {
    rc = 0;
    if (i >= m->nsigs) {
      json_decref(row.body);
      rc = tk_err_set(err, TK_EINVAL, "%s:%llu: the file changed since it was checked",
                      m->opts->path, (unsigned long long)row.line);
      break;
    }
    const row_sig_t *s = &m->sigs[i++];
    if (!s->ok || row.line <= after_line) {
      if (s->ok) m->r->resumed++;
      json_decref(row.body);
      continue;
    }
    uint8_t h[SIG_LEN] = {0};
    tk_buf_t *text = &w->text[w->n];
    text->n = 0;
    int same = row.body && tk_body_dump(row.body, text) == 0;
    if (same) sig_of(text, h);
    if (!same || memcmp(h, s->h, SIG_LEN) != 0) {
      json_decref(row.body);
      rc = tk_err_set(err, TK_EINVAL, "%s:%llu: the file changed since it was checked",
                      m->opts->path, (unsigned long long)row.line);
      break;
    }
    w->body[w->n++] = row.body;
    w->last_line = row.line;
    if (w->n == TK_OFFICE_IMPORT_BATCH)
      rc = write_flush(m, w, before + m->r->written, 0, err);
  }
  if (!rc) {
    if (w->n == 0) w->last_line = after_line > w->last_line ? after_line : w->last_line;
    rc = write_flush(m, w, before + m->r->written, 1, err);
  }
  for (size_t k = 0; k < w->n; k++)
    json_decref(w->body[k]);
  for (size_t k = 0; k < TK_OFFICE_IMPORT_BATCH; k++)
    tk_buf_wipe(&w->text[k]);
  free(w);
  tk__import_close(m);
  return rc;
}

/* ---- the call ---------------------------------------------------------------- */

static int format_of(imp_t *m, tk_err_t *err)
{
  const char *fmt = m->opts->format, *path = m->opts->path;
  if (!fmt) {
    const char *dot = strrchr(base_name(path), '.');
    if (dot && strcasecmp(dot, ".csv") == 0)
      fmt = "csv";
    else if (dot && (strcasecmp(dot, ".jsonl") == 0 || strcasecmp(dot, ".ndjson") == 0))
      fmt = "jsonl";
    else
      return tk_err_set(
          err, TK_EINVAL,
          "%s: cannot tell the format from the name (.csv, .jsonl, .ndjson); "
          "give --format csv|jsonl",
          path);
  }
  if (strcmp(fmt, "csv") == 0)
    m->csv = 1;
  else if (strcmp(fmt, "jsonl") != 0 && strcmp(fmt, "ndjson") != 0)
    return tk_err_set(err, TK_EINVAL, "no import format '%s' (csv, jsonl)", fmt);
  snprintf(m->r->format, sizeof m->r->format, "%s", m->csv ? "csv" : "jsonl");
  return 0;
}

/* The setting keeping this import's progress: a hash of what makes two
 * imports the same (the file, the type, the vault, the map). */
static void import_key(imp_t *m)
{
  tk_buf_t b = TK_BUF_INIT;
  uint8_t h[TK_HASH_LEN];
  char hex[2 * TK_HASH_LEN + 1];
  tk_buf_printf(&b, "%s\n%s\n%s\n", m->r->sha256, m->decl->name, m->opts->vault);
  if (m->opts->map) tk_buf_append(&b, m->map_sha, sizeof m->map_sha);
  tk_sha256(h, b.p, b.n);
  tk_hex_encode(hex, h, TK_HASH_LEN);
  snprintf(m->key, sizeof m->key, "import/%s", hex);
  tk_buf_free(&b);
}

static int prepare(imp_t *m, tk_err_t *err)
{
  const tk_office_import_opts_t *op = m->opts;
  tk_vault_info_t vi;
  if (!op->type || !op->vault || !op->path)
    return tk_err_set(err, TK_EINVAL, "an import needs a type, a vault and a file");
  if (strcmp(op->path, "-") == 0)
    return tk_err_set(err, TK_EINVAL,
                      "an import reads its file twice (check, then write): give a file, "
                      "not stdin");
  int rc = tk_office_name_check("type", op->type, err);
  if (!rc) rc = tk_office_name_check("vault", op->vault, err);
  if (!rc) rc = format_of(m, err);
  if (!rc &&
      (rc = tk_store_vault_get(m->o->store, op->vault, &vi, err)) == TK_ENOTFOUND &&
      (rc = tk__office_vault_known(m->o, op->vault, err)) == 0)
    rc = tk_err_set(err, TK_ENOKEY, "this office holds no key for vault '%s'", op->vault);
  if (!rc) rc = tk__office_plugins(m->o, &m->set, err);
  if (!rc && !(m->decl = tk_plugin_set_find(m->set, TK_PLUGIN_TYPE, op->type)) &&
      (rc = tk__office_type_known(m->o, op->type, err)) == 0) /* records, no plugin */
    rc = tk_err_set(err, TK_EINVAL, "no content type '%s'; see 'tunduk plugin list'",
                    op->type);
  if (!rc && op->map) rc = tk__import_map_load(m, err);
  return rc;
}

int tk_office_import(tk_office_t *o, const tk_office_import_opts_t *opts,
                     tk_office_import_result_t *r, tk_err_t *err)
{
  imp_t m;
  uint64_t after = 0, before = 0;
  int done = 0;
  memset(r, 0, sizeof *r);
  memset(&m, 0, sizeof m);
  m.o = o;
  m.opts = opts;
  m.r = r;
  m.max_rows = opts->max_rows && opts->max_rows < TK_OFFICE_IMPORT_MAX_ROWS
                   ? opts->max_rows
                   : TK_OFFICE_IMPORT_MAX_ROWS;
  double t0 = now_s();
  int rc = prepare(&m, err);
  if (!rc) rc = pass_check(&m, err);
  r->check_s = now_s() - t0;
  if (!rc && r->rejected && !opts->skip_invalid)
    rc = tk_err_set(err, TK_EINVAL, "%llu of %llu rows rejected; nothing written",
                    (unsigned long long)r->rejected, (unsigned long long)r->rows);
  if (!rc) {
    import_key(&m);
    if (progress_get(&m, &after, &before, &done) && done && !opts->again)
      rc = tk_err_set(err, TK_EEXIST,
                      "%s was imported into vault '%s' as %s records before (%llu "
                      "written); --again imports it once more (duplicates)",
                      opts->path, opts->vault, m.decl->name, (unsigned long long)before);
    if (opts->again || done) after = before = 0;
  }
  if (!rc) rc = tk__office_may_write(o, opts->vault, err);
  if (!rc) rc = tk_office_need_keys(o, err);
  double t1 = now_s();
  if (!rc) rc = pass_write(&m, after, before, err);
  if (r->rows && !r->check_s) r->check_s = t1 - t0;
  r->write_s = now_s() - t1;
  tk__import_close(&m);
  for (size_t i = 0; i < m.nmap; i++) {
    free(m.map[i].src);
    free(m.map[i].field);
  }
  free(m.map);
  for (size_t i = 0; i < m.ncols; i++)
    free(m.cols[i].name);
  free(m.cols);
  free(m.sigs);
  free(m.blk);
  tk_buf_wipe(&m.line);
  return rc;
}
