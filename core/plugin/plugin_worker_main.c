/*
 * plugin_worker_main.c: the worker's side of a jailed plugin worker
 * (tk_plugin_worker_main, the whole of tunduk-plugin-worker): it enters its
 * jail before it reads a byte from its parent, then answers one request at
 * a time with an in-process plugin set (protocol: plugin_worker.c's
 * header). One thread.
 */
#include "plugin_channel.h"
#include "tk_plugin_jail.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Labels as {"en": ..., ...} (only those given), or NULL if none. */
static json_t *labels_to_json(const tk_plugin_labels_t *l)
{
  json_t *o = NULL;
  for (int i = 0; i < TK_PLUGIN_NLANGS; i++) {
    if (!l->v[i]) continue;
    if (!o && !(o = json_object())) return NULL;
    json_object_set_new(o, tk_plugin_langs[i], json_string(l->v[i]));
  }
  return o;
}

/* One field (also a list's items, an object item's fields) as the parent
 * rebuilds it (field_from_json, plugin_worker.c). */
static json_t *field_to_json(const tk_plugin_field_t *f)
{
  json_t *jf = json_object(), *vals = json_array();
  if (!jf || !vals) {
    json_decref(jf);
    json_decref(vals);
    return NULL;
  }
  for (size_t k = 0; k < f->nvalues; k++)
    json_array_append_new(vals, json_string(f->values[k]));
  if (f->name) json_object_set_new(jf, "name", json_string(f->name));
  json_t *labels = labels_to_json(&f->labels);
  if (labels) json_object_set_new(jf, "labels", labels);
  json_object_set_new(jf, "kind", json_integer(f->kind));
  json_object_set_new(jf, "required", json_boolean(f->required));
  json_object_set_new(jf, "values", vals);
  if (f->value_labels) {
    json_t *vl = json_array();
    for (size_t k = 0; vl && k < f->nvalues; k++) {
      json_t *l = labels_to_json(&f->value_labels[k]);
      json_array_append_new(vl, l ? l : json_null());
    }
    json_object_set_new(jf, "value_labels", vl);
  }
  if (f->ref_type) json_object_set_new(jf, "ref_type", json_string(f->ref_type));
  if (f->items) json_object_set_new(jf, "items", field_to_json(f->items));
  if (f->nsub) {
    json_t *sub = json_array();
    for (size_t k = 0; sub && k < f->nsub; k++)
      json_array_append_new(sub, field_to_json(&f->sub[k]));
    json_object_set_new(jf, "sub", sub);
  }
  return jf;
}

/* A declaration as the parent rebuilds it (decl_from_json, plugin_worker.c). */
static json_t *decl_to_json(const decl_t *d)
{
  json_t *o = json_object(), *fields = json_array(), *reads = json_array(),
         *order = json_array();
  if (!o || !fields || !reads || !order) goto fail;
  json_object_set_new(o, "kind", json_integer(d->pub.kind));
  json_object_set_new(o, "name", json_string(d->name));
  if (d->media_type) json_object_set_new(o, "media_type", json_string(d->media_type));
  json_object_set_new(o, "validate", json_boolean(d->pub.has_validate));
  json_object_set_new(o, "summary", json_boolean(d->pub.has_summary));
  json_object_set_new(o, "merge", json_boolean(d->pub.has_merge));
  json_object_set_new(o, "extra_fields", json_boolean(d->pub.extra_fields));
  json_object_set_new(o, "reads_all", json_boolean(d->pub.reads_all));
  json_t *labels = labels_to_json(&d->pub.labels);
  if (labels) json_object_set_new(o, "labels", labels);
  for (size_t i = 0; i < d->pub.nfields; i++) {
    json_t *jf = field_to_json(&d->pub.fields[i]);
    if (!jf || json_array_append_new(fields, jf)) goto fail;
  }
  for (size_t i = 0; i < d->pub.norder; i++)
    json_array_append_new(order, json_string(d->pub.order[i]));
  for (size_t i = 0; i < d->pub.nreads; i++)
    json_array_append_new(reads, json_string(d->pub.reads[i]));
  json_object_set_new(o, "fields", fields);
  json_object_set_new(o, "reads", reads);
  json_object_set_new(o, "order", order);
  return o;
fail:
  json_decref(o);
  json_decref(fields);
  json_decref(reads);
  json_decref(order);
  return NULL;
}

/* ---- the worker's side ------------------------------------------------------- */

typedef struct served {
  tk_plugin_set_t *set;
  tk_buf_t in, out, scratch, rec;
  tk_plugin_meta_t meta;
} served_t;

static void serve_send(served_t *w, int op)
{
  if (tk__pc_frame_end(&w->out) != 0 ||
      tk__pc_send_all(TK_PLUGIN_WORKER_FD, w->out.p, w->out.n) != 0)
    _exit(1);
  (void)op;
}

/* Waits for the parent's answer of type op; exits if there is none. */
static tk__pc_rd_t serve_wait(served_t *w, int want)
{
  int op = 0;
  tk__pc_rd_t r;
  if (tk__pc_recv_frame(TK_PLUGIN_WORKER_FD, &w->in, 0, &op, &r) != 0 || op != want)
    _exit(1);
  return r;
}

static int worker_next(void *ud, tk_plugin_record_t *rec)
{
  served_t *w = ud;
  if (tk__pc_frame_begin(&w->out, TK__W_NEXT) != 0) return TK_ENOMEM;
  serve_send(w, TK__W_NEXT);
  tk__pc_rd_t r = serve_wait(w, TK__W_RECORD);
  int n = (int32_t)tk__pc_get_u32(&r);
  if (n != 1) return n > 0 ? TK_EPROTO : n;
  tk_slice_t body = tk__pc_get_str(&r);
  int has_meta = r.n ? r.p[0] : 0;
  if (r.n) {
    r.p++;
    r.n--;
  }
  /* Copy out of w->in, which the next exchange reuses. */
  tk_buf_wipe(&w->rec);
  if (tk_buf_append(&w->rec, body.p, body.n) < 0) return TK_ENOMEM;
  /* the meta strings point into w->in: keep it until the next call */
  if (has_meta) {
    tk__pc_get_meta(&r, &w->meta);
    if (r.bad) return TK_EPROTO;
  }
  if (r.bad) return TK_EPROTO;
  rec->body = TK_SLICE(w->rec.p, w->rec.n);
  rec->meta = has_meta ? &w->meta : NULL;
  /* The meta's strings are views into w->in; the out() of this record
   * reuses w->in, so move them into scratch now. */
  if (has_meta) {
    const char **fields[] = {&w->meta.record_id, &w->meta.revision_id, &w->meta.type,
                             &w->meta.vault, &w->meta.author};
    size_t off[5];
    w->scratch.n = 0;
    for (int i = 0; i < 5; i++) {
      off[i] = SIZE_MAX;
      if (!*fields[i]) continue;
      off[i] = w->scratch.n;
      if (tk_buf_append(&w->scratch, *fields[i], strlen(*fields[i]) + 1) < 0)
        return TK_ENOMEM;
    }
    for (int i = 0; i < 5; i++)
      if (off[i] != SIZE_MAX) *fields[i] = (const char *)w->scratch.p + off[i];
  }
  return 1;
}

static int worker_write(void *ud, const void *p, size_t n)
{
  served_t *w = ud;
  if (tk__pc_frame_begin(&w->out, TK__W_OUT) != 0 ||
      tk__pc_put_str(&w->out, p ? p : "", n) != 0)
    return TK_ENOMEM;
  serve_send(w, TK__W_OUT);
  tk__pc_rd_t r = serve_wait(w, TK__W_ACK);
  int rc = (int32_t)tk__pc_get_u32(&r);
  return r.bad ? TK_EPROTO : rc;
}

static int retiring(void)
{
  struct timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
  return ts.tv_sec >= TK_PLUGIN_JAIL_CPU_S / 2;
}

/* The answer to one request: RESULT {retire, rc, msg, out}. */
static void answer(served_t *w, int rc, const tk_err_t *e, const void *out, size_t n)
{
  int retire = retiring();
  if (tk__pc_frame_begin(&w->out, TK__W_RESULT) != 0 ||
      tk_buf_append_u8(&w->out, (uint8_t)retire) ||
      tk__pc_put_u32(&w->out, (uint32_t)(int32_t)rc) ||
      tk__pc_put_cstr(&w->out,
                      rc < 0 ? (e && e->msg[0] ? e->msg : tk_strerror(rc)) : NULL) ||
      tk__pc_put_str(&w->out, out, n))
    _exit(1);
  serve_send(w, TK__W_RESULT);
  if (retire) _exit(0);
}

static void serve_add(served_t *w, tk__pc_rd_t *r)
{
  tk_err_t e;
  tk_err_clear(&e);
  const char *name = tk__pc_get_cstr(r);
  tk_slice_t src = tk__pc_get_str(r);
  if (r->bad || !name || !src.p) _exit(1);
  size_t before = w->set->nplugins;
  int rc = tk_plugin_set_add_source(w->set, name, (const char *)src.p, src.n, &e);
  if (rc < 0 || w->set->nplugins == before) {
    answer(w, rc < 0 ? rc : TK_EPLUGIN, &e, NULL, 0);
    return;
  }
  plugin_t *p = w->set->plugins[w->set->nplugins - 1];
  json_t *arr = json_array();
  for (int k = 0; arr && k < TK_PLUGIN_NKINDS; k++)
    for (size_t i = 0; i < p->ndecls[k]; i++)
      if (p->decls[k][i]->complete)
        json_array_append_new(arr, decl_to_json(p->decls[k][i]));
  char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
  json_decref(arr);
  if (!text) {
    tk_err_set(&e, TK_ENOMEM, "plugin %s: out of memory", name);
    answer(w, TK_ENOMEM, &e, NULL, 0);
    return;
  }
  answer(w, 0, NULL, text, strlen(text));
  free(text);
}

static void serve_check(served_t *w, tk__pc_rd_t *r)
{
  tk_err_t e;
  tk_plugin_meta_t meta;
  tk_plugin_verdict_t v;
  json_t *j = NULL;
  tk_err_clear(&e);
  const char *rule = tk__pc_get_cstr(r);
  tk__pc_get_meta(r, &meta);
  tk_slice_t body = tk__pc_get_str(r);
  if (r->bad || !rule) _exit(1);
  int rc = 0;
  if (body.p) rc = tk__plugin_json_parse(body, &j, &e);
  if (rc == 0) rc = tk__plugin_check_rule(w->set, rule, &meta, j, &v, &e);
  json_decref(j);
  if (rc < 0) {
    answer(w, rc, &e, NULL, 0);
    return;
  }
  w->scratch.n = 0;
  if (tk_buf_append_u8(&w->scratch, (uint8_t)v.verdict) < 0 ||
      tk_buf_append(&w->scratch, v.reason, strlen(v.reason)) < 0)
    _exit(1);
  answer(w, 0, NULL, w->scratch.p, w->scratch.n);
}

/* TK__W_CHECK_MANY: one ITEM per revision as each is checked (each under the
 * per-call limits, as a CHECK), then the RESULT. A worker past half its
 * CPU limit stops early (the RESULT says retire): the parent sends the
 * rest to its replacement. */
static void serve_check_many(served_t *w, tk__pc_rd_t *r)
{
  const char *rule = tk__pc_get_cstr(r);
  uint32_t n = tk__pc_get_u32(r);
  if (r->bad || !rule || n == 0) _exit(1);
  for (uint32_t i = 0; i < n; i++) {
    tk_err_t e;
    tk_plugin_meta_t meta;
    tk_plugin_verdict_t v;
    json_t *j = NULL;
    tk_err_clear(&e);
    tk__pc_get_meta(r, &meta);
    tk_slice_t body = tk__pc_get_str(r);
    if (r->bad) _exit(1);
    int rc = 0;
    if (body.p) rc = tk__plugin_json_parse(body, &j, &e);
    if (rc == 0) rc = tk__plugin_check_rule(w->set, rule, &meta, j, &v, &e);
    json_decref(j);
    const char *text = rc < 0 ? (e.msg[0] ? e.msg : tk_strerror(rc)) : v.reason;
    if (tk__pc_frame_begin(&w->out, TK__W_ITEM) != 0 ||
        tk__pc_put_u32(&w->out, (uint32_t)(int32_t)rc) ||
        tk_buf_append_u8(&w->out, rc < 0 ? 0 : (uint8_t)v.verdict) ||
        tk__pc_put_cstr(&w->out, text))
      _exit(1);
    serve_send(w, TK__W_ITEM);
    if (retiring()) break;
  }
  answer(w, 0, NULL, NULL, 0);
}

/* TK__W_VALIDATE_MANY {type, n, n x body}: one ITEM {rc, 0, message} per
 * record as each is validated (each a VALIDATE, under the per-call
 * limits), then the RESULT; a worker past half its CPU limit stops early,
 * as in a CHECK_MANY. TK__W_SUMMARY_MANY the same with each a SUMMARY, the
 * ITEM's text the line when rc is 0. */
static void serve_validate_many(served_t *w, tk__pc_rd_t *r, int op)
{
  const char *type = tk__pc_get_cstr(r);
  uint32_t n = tk__pc_get_u32(r);
  if (r->bad || !type || n == 0) _exit(1);
  for (uint32_t i = 0; i < n; i++) {
    tk_err_t e;
    tk_err_clear(&e);
    tk_slice_t body = tk__pc_get_str(r);
    if (r->bad || !body.p) _exit(1);
    int rc;
    w->scratch.n = 0;
    if (op == TK__W_SUMMARY_MANY) {
      rc = tk_plugin_summary(w->set, type, body, &w->scratch, &e);
      if (rc == 0 && tk_buf_append_u8(&w->scratch, 0) < 0) _exit(1);
    } else {
      rc = tk_plugin_validate(w->set, type, body, &e);
    }
    const char *text = rc < 0                     ? (e.msg[0] ? e.msg : tk_strerror(rc))
                       : op == TK__W_SUMMARY_MANY ? (const char *)w->scratch.p
                                                  : "";
    if (tk__pc_frame_begin(&w->out, TK__W_ITEM) != 0 ||
        tk__pc_put_u32(&w->out, (uint32_t)(int32_t)rc) || tk_buf_append_u8(&w->out, 0) ||
        tk__pc_put_cstr(&w->out, text))
      _exit(1);
    serve_send(w, TK__W_ITEM);
    if (retiring()) break;
  }
  answer(w, 0, NULL, NULL, 0);
}

/* TK__W_VALIDATE {type, body}: the RESULT's out, when refused, is the
 * problems: u32 n, then n x {field, message} (plugin_worker.c reads them). */
static void serve_validate(served_t *w, const char *type, tk_slice_t body)
{
  tk_err_t e;
  tk_plugin_problems_t *pr = calloc(1, sizeof *pr);
  if (!pr) _exit(1);
  tk_err_clear(&e);
  int rc = tk_plugin_validate_problems(w->set, type, body, pr, &e);
  w->scratch.n = 0;
  if (rc == TK_EINVAL) {
    if (tk__pc_put_u32(&w->scratch, (uint32_t)pr->n)) _exit(1);
    for (size_t i = 0; i < pr->n; i++)
      if (tk__pc_put_cstr(&w->scratch, pr->v[i].field) ||
          tk__pc_put_cstr(&w->scratch, pr->v[i].message))
        _exit(1);
  }
  free(pr);
  answer(w, rc, &e, rc == TK_EINVAL ? w->scratch.p : NULL, w->scratch.n);
}

static void serve_export(served_t *w, tk__pc_rd_t *r)
{
  tk_err_t e;
  tk_err_clear(&e);
  const char *format = tk__pc_get_cstr(r);
  uint32_t nred = tk__pc_get_u32(r);
  if (r->bad || !format || nred > 4096) _exit(1);
  /* The request's strings live in w->in, which the export's own exchanges
   * reuse: copy them first. */
  tk_buf_t names = TK_BUF_INIT;
  size_t *off = calloc((size_t)nred + 1, sizeof *off);
  const char **redact = calloc((size_t)nred + 1, sizeof *redact);
  if (!off || !redact || tk_buf_append(&names, format, strlen(format) + 1) < 0) _exit(1);
  for (uint32_t i = 0; i < nred; i++) {
    const char *s = tk__pc_get_cstr(r);
    if (r->bad || !s) _exit(1);
    off[i] = names.n;
    if (tk_buf_append(&names, s, strlen(s) + 1) < 0) _exit(1);
  }
  tk_slice_t info = tk__pc_get_str(r);
  if (r->bad) _exit(1);
  off[nred] = names.n;
  if (info.n && tk_buf_append(&names, info.p, info.n) < 0) _exit(1);
  size_t ninfo = info.n;
  for (uint32_t i = 0; i < nred; i++)
    redact[i] = (const char *)names.p + off[i];
  int rc = tk_plugin_export_info(w->set, (const char *)names.p, nred ? redact : NULL,
                                 TK_SLICE(names.p + off[nred], ninfo), worker_next, w,
                                 worker_write, w, &e);
  answer(w, rc, &e, NULL, 0);
  free(off);
  free(redact);
  tk_buf_free(&names);
  tk_buf_wipe(&w->rec);
}

static void serve(served_t *w)
{
  for (;;) {
    int op = 0;
    tk__pc_rd_t r;
    tk_err_t e;
    tk_err_clear(&e);
    int rc = tk__pc_recv_frame(TK_PLUGIN_WORKER_FD, &w->in, 0, &op, &r);
    if (rc) _exit(rc == TK_ECLOSED ? 0 : 1);
    if (op == TK__W_ADD) {
      serve_add(w, &r);
    } else if (op == TK__W_VALIDATE || op == TK__W_SUMMARY) {
      const char *type = tk__pc_get_cstr(&r);
      tk_slice_t body = tk__pc_get_str(&r);
      if (r.bad || !type || !body.p) _exit(1);
      w->scratch.n = 0;
      if (op == TK__W_VALIDATE) {
        serve_validate(w, type, body);
        tk_buf_wipe(&w->in);
        continue;
      }
      rc = tk_plugin_summary(w->set, type, body, &w->scratch, &e);
      answer(w, rc, &e, rc == 0 ? w->scratch.p : NULL, w->scratch.n);
    } else if (op == TK__W_MERGE) {
      const char *type = tk__pc_get_cstr(&r);
      tk_slice_t base = tk__pc_get_str(&r), ours = tk__pc_get_str(&r),
                 theirs = tk__pc_get_str(&r);
      if (r.bad || !type || !ours.p || !theirs.p) _exit(1);
      w->scratch.n = 0;
      rc = tk_plugin_merge(w->set, type, base, ours, theirs, &w->scratch, &e);
      answer(w, rc, &e, rc == 0 ? w->scratch.p : NULL, w->scratch.n);
    } else if (op == TK__W_CHECK) {
      serve_check(w, &r);
    } else if (op == TK__W_CHECK_MANY) {
      serve_check_many(w, &r);
    } else if (op == TK__W_VALIDATE_MANY || op == TK__W_SUMMARY_MANY) {
      serve_validate_many(w, &r, op);
    } else if (op == TK__W_EXPORT) {
      serve_export(w, &r);
    } else {
      _exit(1);
    }
    tk_buf_wipe(&w->in); /* the request may have carried a record */
  }
}

int tk_plugin_worker_main(int argc, char **argv)
{
  tk_err_t e;
  if (argc != 2 || strcmp(argv[1], "--channel") != 0) {
    fprintf(stderr,
            "%s: runs plugins for tunduk and tundukd, which start it; not a "
            "command\n",
            TK_PLUGIN_WORKER_NAME);
    _exit(2);
  }
  struct stat st;
  if (fstat(TK_PLUGIN_WORKER_FD, &st) != 0 || !S_ISSOCK(st.st_mode)) _exit(2);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) _exit(1);
  tk_log_level = -1; /* stderr is /dev/null; nothing is logged here */
  tk__pc_in_worker = 1;
  /* What would need a file once jailed: jansson's hash seed
   * (/dev/urandom) and the local time zone (os.date). */
  json_object_seed(0);
  tzset();
  time_t t = time(NULL);
  struct tm tm;
  localtime_r(&t, &tm);
  if (tk_plugin_jail_enter(TK_PLUGIN_WORKER_FD, &e) != 0) _exit(3);

  served_t w;
  memset(&w, 0, sizeof w);
  int op = 0;
  tk__pc_rd_t r;
  if (tk__pc_recv_frame(TK_PLUGIN_WORKER_FD, &w.in, 0, &op, &r) != 0 || op != TK__W_INIT)
    _exit(1);
  tk_plugin_limits_t lim;
  lim.mem_bytes = (size_t)tk__pc_get_u64(&r);
  lim.instructions = tk__pc_get_u64(&r);
  lim.call_ms = tk__pc_get_u32(&r);
  lim.max_string = (size_t)tk__pc_get_u64(&r);
  lim.max_pattern_subject = (size_t)tk__pc_get_u64(&r);
  if (r.bad || tk_plugin_set_new(&w.set, &lim) != 0) _exit(1);
  serve(&w);
  _exit(0);
}
