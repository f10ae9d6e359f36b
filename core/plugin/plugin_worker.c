/*
 * plugin_worker.c: jailed plugin worker processes, the parent's side of a
 * jailed set (tk__plugin_pool_*: the workers, starting and killing them,
 * the hard deadline of every call). The worker's side (tk_plugin_worker_main:
 * a jail, an in-process set, a loop answering requests) is in
 * plugin_worker_main.c; the encoding and I/O both share, in
 * plugin_channel.c.
 *
 * Why fork+exec of a separate program rather than a zygote or a plain
 * fork: the processes that call plugins (tunduk, tundukd) hold device and
 * vault keys, and a forked child is a copy of all of that memory; a zygote
 * forked before the keys load would still carry the sqlite, TLS and
 * libsodium state of start-up, and would have to be kept in step with the
 * hub's reloads. posix_spawn of tunduk-plugin-worker (found beside the
 * running binary, else in the build's bin folder) starts from a fresh
 * image: the worker's memory holds the plugin sources, the limits and the
 * one request it is answering (a record body when the caller holds the
 * key), nothing else. It enters its jail (tk_plugin_jail.h) before it
 * reads a byte from its parent, and only then loads any plugin.
 *
 * Protocol, over a SOCK_STREAM socketpair (the worker's fd 3): frames of
 * [u32 little-endian length][u8 op][payload], at most MAX_FRAME bytes.
 * Strings are [u32 length][bytes][NUL], length 0xffffffff for absent. The
 * parent sends INIT (the limits), then one request at a time: ADD (a
 * plugin), VALIDATE, SUMMARY, MERGE, CHECK (one moderation rule), CHECK_MANY
 * or EXPORT; the worker answers RESULT {u8 retire, i32 rc, msg, out}.
 * During an EXPORT the worker asks NEXT (the parent answers RECORD) and
 * sends OUT (the parent answers ACK) until its RESULT. CHECK_MANY {rule,
 * u32 n, n x (meta, body)} is one rule over a batch (body absent when the
 * rule does not read the type): the worker checks them in order, each as
 * a CHECK (the same limits per check), sends ITEM {i32 rc, u8 verdict,
 * reason, or the failure's message when rc < 0} as each finishes, then
 * its RESULT; the parent splits a batch that does not fit MAX_FRAME into
 * several requests. `retire` says the worker has used half of its CPU
 * rlimit and exits after this answer (a CHECK_MANY then stops early, its
 * RESULT after fewer ITEMs): the parent replaces it, sends the rest of
 * the batch to the replacement, and no call fails for it.
 * VALIDATE_MANY {type, u32 n, n x body} is validate over a batch of
 * records (tk_plugin_validate_many), answered the same way: an ITEM {i32
 * rc, u8 0, message} per record, then the RESULT.
 *
 * Deadline: the parent waits for each answer of a call at most call_ms +
 * TK_PLUGIN_KILL_GRACE_MS (for an export: from the last record handed
 * over; for a CHECK_MANY: each ITEM from the ITEM before, or the
 * request), then SIGKILLs and reaps the worker. In a CHECK_MANY the
 * revision it was on fails (quarantine, with the timeout message) and the
 * ones after it go to a fresh worker, so one hostile revision does not
 * fail its neighbours. A batch's own budget (tk_plugin_moderate_batch)
 * also kills a worker busy past it; what it did not reach stays
 * unjudged. The worker's own sandbox
 * limits (count hook, deadline check, allocator cap, string caps) stay on,
 * so a plugin over a limit it can notice still fails in the worker with
 * the usual message, and the kill is for what it cannot notice (a long
 * pattern match in C).
 *
 * Threads: a pool is shared by the threads calling into its set: a mutex
 * and a condition variable hand each call one free worker; the exchange
 * itself runs unlocked on the calling thread. The worker is one thread.
 */
#define _GNU_SOURCE /* posix_spawn_file_actions_addclosefrom_np */
#include "plugin_channel.h"
#include "tk_plugin_jail.h"
#include "tk_install.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the parent's side ------------------------------------------------------- */

typedef struct worker {
  pid_t pid; /* 0: none running */
  int fd;
  int busy;
  int retire;     /* it said it exits after this call: replace it */
  size_t nloaded; /* sources of the pool loaded in it */
} worker_t;

typedef struct source {
  char *name, *src;
  size_t n;
} source_t;

struct tk__plugin_pool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  tk_plugin_limits_t lim;
  unsigned n;
  worker_t *w;
  source_t *srcs; /* the plugins the set accepted, in load order */
  size_t nsrcs;
  char exe[4096];
};

/* The worker program: where the install layout puts it relative to the
 * running program (tk_install.h: libexec/tunduk/, in the build tree too),
 * else beside the running program (binaries copied into one folder). */
static int find_exe(char *out, size_t cap, tk_err_t *err)
{
  const char *inst = tk_install_worker_path();
  if (inst[0] && access(inst, X_OK) == 0) {
    int len = snprintf(out, cap, "%s", inst);
    if (len > 0 && (size_t)len < cap) return 0;
  }
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (slash) {
      *slash = 0;
      int len = snprintf(out, cap, "%s/%s", self, TK_PLUGIN_WORKER_NAME);
      if (len > 0 && (size_t)len < cap && access(out, X_OK) == 0) return 0;
    }
  }
  return tk_err_set(err, TK_EPLUGIN,
                    "plugins: cannot find %s at '%s' or beside this program: plugins "
                    "cannot run",
                    TK_PLUGIN_WORKER_NAME, inst);
}

int tk__plugin_pool_new(tk__plugin_pool_t **out, const tk_plugin_limits_t *lim,
                        unsigned n, tk_err_t *err)
{
  *out = NULL;
  if (n == 0) n = TK_PLUGIN_WORKERS_DEFAULT;
  if (n > TK_PLUGIN_WORKERS_MAX) n = TK_PLUGIN_WORKERS_MAX;
  tk__plugin_pool_t *p = calloc(1, sizeof *p);
  if (!p || !(p->w = calloc(n, sizeof *p->w))) {
    free(p);
    return tk_err_set(err, TK_ENOMEM, "plugins: out of memory");
  }
  int rc = find_exe(p->exe, sizeof p->exe, err);
  if (rc) {
    free(p->w);
    free(p);
    return rc;
  }
  p->lim = *lim;
  p->n = n;
  for (unsigned i = 0; i < n; i++)
    p->w[i].fd = -1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  *out = p;
  return 0;
}

/* Kills and reaps w (if it runs). Returns the wait status, or -1. */
static int worker_kill(worker_t *w)
{
  int status = -1;
  if (w->pid > 0) {
    kill(w->pid, SIGKILL);
    while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
      ;
  }
  if (w->fd >= 0) close(w->fd);
  w->pid = 0;
  w->fd = -1;
  w->nloaded = 0;
  w->retire = 0;
  return status;
}

void tk__plugin_pool_free(tk__plugin_pool_t *p)
{
  if (!p) return;
  for (unsigned i = 0; i < p->n; i++)
    worker_kill(&p->w[i]);
  for (size_t i = 0; i < p->nsrcs; i++) {
    free(p->srcs[i].name);
    free(p->srcs[i].src);
  }
  free(p->srcs);
  free(p->w);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

int tk_plugin_set_worker_pid(tk_plugin_set_t *s, unsigned i)
{
  if (!s || !s->pool || i >= s->pool->n) return 0;
  pthread_mutex_lock(&s->pool->mu);
  int pid = s->pool->w[i].pid;
  pthread_mutex_unlock(&s->pool->mu);
  return pid;
}

static int spawn(tk__plugin_pool_t *p, worker_t *w, tk_err_t *err)
{
  int sv[2] = {-1, -1}, child = -1, rc = 0;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  int have_fa = 0, have_at = 0;
  tk_buf_t b = TK_BUF_INIT;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    rc = tk_err_set(err, TK_EIO, "plugin worker: socketpair: %s", strerror(errno));
    goto done;
  }
  /* Above 0-2 and the channel's own number, so no file action clobbers it. */
  if ((child = fcntl(sv[1], F_DUPFD_CLOEXEC, 10)) < 0) {
    rc = tk_err_set(err, TK_EIO, "plugin worker: fcntl: %s", strerror(errno));
    goto done;
  }
  if (posix_spawn_file_actions_init(&fa) || posix_spawnattr_init(&at)) {
    rc = tk_err_set(err, TK_ENOMEM, "plugin worker: out of memory");
    goto done;
  }
  have_fa = have_at = 1;
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, child, TK_PLUGIN_WORKER_FD);
  posix_spawn_file_actions_addclosefrom_np(&fa, TK_PLUGIN_WORKER_FD + 1);
  sigset_t none, def;
  sigemptyset(&none);
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);
  sigaddset(&def, SIGTERM);
  sigaddset(&def, SIGINT);
  sigaddset(&def, SIGHUP);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &def);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  char *argv[] = {(char *)TK_PLUGIN_WORKER_NAME, (char *)"--channel", NULL};
  /* No environment: nothing of this process's reaches the worker. A
   * sanitizer build passes its runtime options on. */
  char *envp[3] = {NULL, NULL, NULL};
#ifdef TK_SANITIZE
  {
    size_t k = 0;
    extern char **environ;
    for (char **e = environ; *e && k < 2; e++)
      if (!strncmp(*e, "ASAN_OPTIONS=", 13) || !strncmp(*e, "UBSAN_OPTIONS=", 14))
        envp[k++] = *e;
  }
#endif
  pid_t pid;
  int e = posix_spawn(&pid, p->exe, &fa, &at, argv, envp);
  if (e != 0) {
    rc = tk_err_set(err, TK_EPLUGIN, "plugin worker: cannot start %s: %s", p->exe,
                    strerror(e));
    goto done;
  }
  w->pid = pid;
  w->fd = sv[0];
  sv[0] = -1;
  w->nloaded = 0;
  /* INIT: the limits. No answer: the first request's answer shows it runs. */
  if ((rc = tk__pc_frame_begin(&b, TK__W_INIT)) ||
      (rc = tk__pc_put_u64(&b, p->lim.mem_bytes)) ||
      (rc = tk__pc_put_u64(&b, p->lim.instructions)) ||
      (rc = tk__pc_put_u32(&b, p->lim.call_ms)) ||
      (rc = tk__pc_put_u64(&b, p->lim.max_string)) ||
      (rc = tk__pc_put_u64(&b, p->lim.max_pattern_subject)) ||
      (rc = tk__pc_frame_end(&b)) || (rc = tk__pc_send_all(w->fd, b.p, b.n))) {
    worker_kill(w);
    rc = tk_err_set(err, TK_EPLUGIN, "plugin worker: it did not start (%s)",
                    tk_strerror(rc));
  }
done:
  if (have_fa) posix_spawn_file_actions_destroy(&fa);
  if (have_at) posix_spawnattr_destroy(&at);
  if (sv[0] >= 0) close(sv[0]);
  if (sv[1] >= 0) close(sv[1]);
  if (child >= 0) close(child);
  tk_buf_free(&b);
  return rc;
}

/* What became of a worker that stopped answering (status from waitpid). */
static void describe_death(int status, int timed_out, uint32_t call_ms, char *buf,
                           size_t n)
{
  if (timed_out)
    snprintf(buf, n, "time limit exceeded (%u ms per call; the worker was stopped)",
             (unsigned)call_ms);
  else if (status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
    snprintf(buf, n,
             "the plugin worker was killed by its jail (a forbidden system call)");
  else if (status >= 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGXCPU)
    snprintf(buf, n, "the plugin worker used up its CPU limit");
  else if (status >= 0 && WIFSIGNALED(status))
    snprintf(buf, n, "the plugin worker died (signal %d)", WTERMSIG(status));
  else
    snprintf(buf, n, "the plugin worker stopped answering");
}

/* One exchange in progress: a worker, its buffers, the call's description. */
typedef struct xchg {
  tk__plugin_pool_t *pool;
  worker_t *w;
  tk_buf_t out, in;
  const char *plugin;
  char what[160];
  uint64_t deadline_ms;
} xchg_t;

static int sendq(xchg_t *x)
{
  int rc = tk__pc_frame_end(&x->out);
  return rc ? rc : tk__pc_send_all(x->w->fd, x->out.p, x->out.n);
}

static void arm(xchg_t *x)
{
  x->deadline_ms = tk__pc_now_ms() + x->pool->lim.call_ms + TK_PLUGIN_KILL_GRACE_MS;
}

/* The worker failed this exchange (rc from I/O): kill it, say why. */
static int fail_worker(xchg_t *x, int rc, tk_err_t *err)
{
  char why[200];
  int status = worker_kill(x->w);
  describe_death(status, rc == TK_ETIMEDOUT, x->pool->lim.call_ms, why, sizeof why);
  TK_LOG(TK_LOG_WARN, "plugin", "worker stopped plugin=%s call=\"%s\" why=\"%s\"",
         x->plugin, x->what, why);
  return tk_err_set(err, TK_EPLUGIN, "plugin %s: %s: %s", x->plugin, x->what, why);
}

/* Reads a RESULT: rc, msg into err when rc < 0, out appended to *out. */
static int read_result(xchg_t *x, tk__pc_rd_t *r, tk_buf_t *out, tk_slice_t *outv,
                       tk_err_t *err)
{
  int retire = (int)(r->n ? r->p[0] : 0);
  if (r->n) {
    r->p++;
    r->n--;
  }
  int rc = (int32_t)tk__pc_get_u32(r);
  tk_slice_t msg = tk__pc_get_str(r), o = tk__pc_get_str(r);
  if (r->bad || rc > 0) return fail_worker(x, TK_EPROTO, err);
  if (outv) *outv = o;
  if (rc < 0) {
    tk_err_set(err, rc, "%s", msg.p ? (const char *)msg.p : "plugin failed");
  } else if (out && o.p) {
    if (tk_buf_append(out, o.p, o.n) < 0 || tk_buf_append_u8(out, 0) < 0)
      rc = tk_err_set(err, TK_ENOMEM, "out of memory");
    else
      out->n--;
  }
  if (retire) x->w->retire = 1; /* answered; replaced when this call ends */
  return rc;
}

/* Sends the request in x->out and waits for its RESULT. */
static int roundtrip(xchg_t *x, tk_buf_t *out, tk_slice_t *outv, tk_err_t *err)
{
  int op = 0;
  tk__pc_rd_t r;
  int rc = sendq(x);
  if (rc) return fail_worker(x, rc, err);
  arm(x);
  if ((rc = tk__pc_recv_frame(x->w->fd, &x->in, x->deadline_ms, &op, &r)) < 0)
    return fail_worker(x, rc, err);
  if (op != TK__W_RESULT) return fail_worker(x, TK_EPROTO, err);
  return read_result(x, &r, out, outv, err);
}

/* Sends source i of the pool to w (ADD); its RESULT in *decls (a view into
 * x->in) when wanted. */
static int add_source(xchg_t *x, const source_t *src, tk_slice_t *decls, tk_err_t *err)
{
  const char *was = x->plugin;
  x->plugin = src->name;
  snprintf(x->what, sizeof x->what, "load");
  int rc = tk__pc_frame_begin(&x->out, TK__W_ADD);
  if (!rc) rc = tk__pc_put_cstr(&x->out, src->name);
  if (!rc) rc = tk__pc_put_str(&x->out, src->src, src->n);
  if (rc) {
    x->plugin = was;
    return tk_err_set(err, rc, "plugin %s: out of memory", src->name);
  }
  rc = roundtrip(x, NULL, decls, err);
  x->plugin = was;
  return rc;
}

/* Takes a free worker (waiting for one), running and loaded with every
 * source of the pool. */
static int acquire(tk__plugin_pool_t *p, xchg_t *x, const char *plugin, tk_err_t *err)
{
  memset(x, 0, sizeof *x);
  x->pool = p;
  x->plugin = plugin;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    worker_t *idle = NULL;
    for (unsigned i = 0; i < p->n; i++)
      if (!p->w[i].busy) {
        if (p->w[i].pid) {
          idle = &p->w[i];
          break;
        }
        if (!idle) idle = &p->w[i];
      }
    if (idle) {
      idle->busy = 1;
      x->w = idle;
      break;
    }
    pthread_cond_wait(&p->cv, &p->mu);
  }
  size_t nsrcs = p->nsrcs; /* sources change only while loading, one thread */
  pthread_mutex_unlock(&p->mu);
  int rc = 0, st;
  /* One that died between calls (a crash; or PR_SET_PDEATHSIG: it dies with
   * the thread that started it, if that thread ended) is replaced before
   * any request reaches it. */
  if (x->w->pid && waitpid(x->w->pid, &st, WNOHANG) == x->w->pid) {
    TK_LOG(TK_LOG_INFO, "plugin", "worker pid=%d ended between calls: replaced",
           (int)x->w->pid);
    close(x->w->fd);
    x->w->pid = 0;
    x->w->fd = -1;
    x->w->nloaded = 0;
    x->w->retire = 0;
  }
  if (!x->w->pid) rc = spawn(p, x->w, err);
  while (rc == 0 && x->w->nloaded < nsrcs) {
    tk_err_t e;
    /* A plugin that loaded once but fails now is logged, and its calls then
     * fail as "no such declaration"; one that stops the worker fails this
     * call (the next one starts afresh). */
    if (add_source(x, &p->srcs[x->w->nloaded], NULL, &e) < 0) {
      TK_LOG(TK_LOG_ERROR, "plugin", "loading into a new worker failed: %s", e.msg);
      if (!x->w->pid) {
        rc = tk_err_set(err, TK_EPLUGIN, "%s", e.msg);
        break;
      }
    }
    x->w->nloaded++;
  }
  return rc;
}

static void release(xchg_t *x)
{
  tk__plugin_pool_t *p = x->pool;
  if (x->w) {
    if (x->w->retire) worker_kill(x->w);
    pthread_mutex_lock(&p->mu);
    x->w->busy = 0;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
  }
  tk_buf_wipe(&x->out); /* may have carried a record */
  tk_buf_wipe(&x->in);
}

/* ---- declarations, from the worker to the parent ----------------------------- */

static char *dup_json_str(json_t *v)
{
  const char *s = json_string_value(v);
  return s ? strdup(s) : NULL;
}

/* A string of 1..max bytes, or NULL (absent, or not one). */
static const char *str_in(json_t *v, size_t max)
{
  size_t n = json_is_string(v) ? json_string_length(v) : 0;
  const char *s = n ? json_string_value(v) : NULL;
  return s && n <= max && strlen(s) == n ? s : NULL;
}

/* Labels from {"en": ..., ...}: 0, or -1 (a bad one, or memory). */
static int labels_from_json(json_t *o, tk_plugin_labels_t *l)
{
  if (!o || json_is_null(o)) return 0;
  if (!json_is_object(o) || json_object_size(o) > TK_PLUGIN_NLANGS) return -1;
  for (int i = 0; i < TK_PLUGIN_NLANGS; i++) {
    json_t *v = json_object_get(o, tk_plugin_langs[i]);
    if (!v) continue;
    const char *s = str_in(v, TK_PLUGIN_MAX_LABEL);
    if (!s || !(l->v[i] = strdup(s))) return -1;
  }
  return 0;
}

enum { LV_FIELD = 0, LV_ITEMS = 1, LV_SUB = 2 };

/* One field of the worker's JSON into f (zeroed), checked as the worker's
 * side built it: a worker is not trusted to send sane sizes. 0 or -1; on
 * -1 what f holds is freed with its declaration. */
static int field_from_json(json_t *jf, tk_plugin_field_t *f, int level)
{
  if (!json_is_object(jf)) return -1;
  json_t *vals = json_object_get(jf, "values"), *vl = json_object_get(jf, "value_labels");
  size_t nv = json_array_size(vals);
  if (level != LV_ITEMS) {
    const char *name = str_in(json_object_get(jf, "name"), TK_PLUGIN_MAX_NAME);
    if (!name || !(f->name = strdup(name))) return -1;
  }
  if (labels_from_json(json_object_get(jf, "labels"), &f->labels)) return -1;
  f->label = f->labels.v[0];
  f->kind = (int)json_integer_value(json_object_get(jf, "kind"));
  if (f->kind < TK_FIELD_TEXT || f->kind > TK_FIELD_OBJECT) return -1;
  if ((level != LV_ITEMS && f->kind == TK_FIELD_OBJECT) ||
      (level != LV_FIELD && f->kind == TK_FIELD_LIST))
    return -1;
  f->required = json_is_true(json_object_get(jf, "required"));
  if (nv > TK_PLUGIN_MAX_ENUM) return -1;
  const char **v = calloc(nv ? nv : 1, sizeof *v);
  if (!v) return -1;
  f->values = v;
  for (size_t k = 0; k < nv; k++) {
    const char *s = str_in(json_array_get(vals, k), TK_PLUGIN_MAX_LABEL);
    if (!s || !(v[k] = strdup(s))) return -1;
    f->nvalues++;
  }
  if (vl) {
    if (json_array_size(vl) != nv) return -1;
    tk_plugin_labels_t *l = calloc(nv ? nv : 1, sizeof *l);
    if (!l) return -1;
    f->value_labels = l;
    for (size_t k = 0; k < nv; k++)
      if (labels_from_json(json_array_get(vl, k), &l[k])) return -1;
  }
  json_t *rt = json_object_get(jf, "ref_type");
  if (rt) {
    const char *s = str_in(rt, TK_MAX_TYPE_LEN);
    if (!s || !(f->ref_type = strdup(s))) return -1;
  }
  json_t *items = json_object_get(jf, "items");
  if (items) {
    if (level != LV_FIELD || f->kind != TK_FIELD_LIST) return -1;
    tk_plugin_field_t *it = calloc(1, sizeof *it);
    if (!it) return -1;
    f->items = it;
    if (field_from_json(items, it, LV_ITEMS)) return -1;
  }
  json_t *sub = json_object_get(jf, "sub");
  size_t ns = json_array_size(sub);
  if (sub) {
    if (level != LV_ITEMS || f->kind != TK_FIELD_OBJECT || ns == 0 ||
        ns > TK_PLUGIN_MAX_SUBFIELDS)
      return -1;
    tk_plugin_field_t *sf = calloc(ns, sizeof *sf);
    if (!sf) return -1;
    f->sub = sf;
    f->nsub = ns;
    for (size_t k = 0; k < ns; k++)
      if (field_from_json(json_array_get(sub, k), &sf[k], LV_SUB)) return -1;
  } else if (f->kind == TK_FIELD_OBJECT) {
    return -1;
  }
  return 0;
}

static int cmp_field_name(const void *a, const void *b)
{
  return strcmp(((const tk_plugin_field_t *)a)->name,
                ((const tk_plugin_field_t *)b)->name);
}

/* The parent's copy of one declaration: a decl_t without callbacks. */
static decl_t *decl_from_json(plugin_t *p, json_t *o)
{
  decl_t *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->ref = -1;
  d->plugin = p;
  d->pub.kind = (int)json_integer_value(json_object_get(o, "kind"));
  d->name = dup_json_str(json_object_get(o, "name"));
  if (json_object_get(o, "media_type") &&
      !(d->media_type = dup_json_str(json_object_get(o, "media_type"))))
    goto fail;
  if (!d->name || d->pub.kind < 0 || d->pub.kind >= TK_PLUGIN_NKINDS) goto fail;
  d->pub.name = d->name;
  d->pub.plugin = p->name;
  d->pub.media_type = d->media_type;
  d->pub.has_validate = json_is_true(json_object_get(o, "validate"));
  d->pub.has_summary = json_is_true(json_object_get(o, "summary"));
  d->pub.has_merge = json_is_true(json_object_get(o, "merge"));
  d->pub.extra_fields = json_is_true(json_object_get(o, "extra_fields"));
  d->pub.reads_all = json_is_true(json_object_get(o, "reads_all"));
  if (labels_from_json(json_object_get(o, "labels"), &d->pub.labels)) goto fail;
  json_t *fields = json_object_get(o, "fields"), *reads = json_object_get(o, "reads"),
         *order = json_object_get(o, "order");
  size_t nf = json_array_size(fields), nr = json_array_size(reads),
         no = json_array_size(order);
  if (nf > TK_PLUGIN_MAX_FIELDS || nr > TK_PLUGIN_MAX_READS || no > nf) goto fail;
  if (!(d->fields = calloc(nf ? nf : 1, sizeof *d->fields))) goto fail;
  for (size_t i = 0; i < nf; i++) {
    d->nfields_alloc++;
    if (field_from_json(json_array_get(fields, i), &d->fields[i], LV_FIELD)) goto fail;
    /* sorted by name, each once: the lookups bsearch */
    if (i && cmp_field_name(&d->fields[i - 1], &d->fields[i]) >= 0) goto fail;
  }
  d->pub.fields = d->fields;
  d->pub.nfields = d->nfields_alloc;
  const char **ov = calloc(no ? no : 1, sizeof *ov);
  if (!ov) goto fail;
  d->pub.order = ov;
  for (size_t i = 0; i < no; i++) {
    const char *s = str_in(json_array_get(order, i), TK_PLUGIN_MAX_NAME);
    if (!s || !tk__plugin_field_find(d, s) || !(ov[i] = strdup(s))) goto fail;
    d->pub.norder++;
  }
  const char **rv = calloc(nr ? nr : 1, sizeof *rv);
  if (!rv) goto fail;
  d->pub.reads = rv;
  for (size_t i = 0; i < nr; i++) {
    if (!(rv[i] = dup_json_str(json_array_get(reads, i)))) goto fail;
    d->pub.nreads++;
  }
  d->complete = 1;
  return d;
fail:
  tk__plugin_decl_free(d);
  return NULL;
}

static plugin_t *shadow_from_json(const char *name, const tk_plugin_limits_t *lim,
                                  tk_slice_t text)
{
  json_error_t je;
  json_t *arr = text.p ? json_loadb((const char *)text.p, text.n, 0, &je) : NULL;
  plugin_t *p = json_is_array(arr) ? tk__plugin_shadow_new(name, lim) : NULL;
  if (!p) goto done;
  for (size_t i = 0; i < json_array_size(arr); i++) {
    decl_t *d = decl_from_json(p, json_array_get(arr, i));
    int k = d ? d->pub.kind : 0;
    if (!d || p->ndecls[k] >= TK_PLUGIN_MAX_DECLS) {
      tk__plugin_decl_free(d);
      for (int kk = 0; kk < TK_PLUGIN_NKINDS; kk++)
        for (size_t j = 0; j < p->ndecls[kk]; j++)
          tk__plugin_decl_free(p->decls[kk][j]);
      pthread_mutex_destroy(&p->mu);
      free(p);
      p = NULL;
      goto done;
    }
    p->decls[k][p->ndecls[k]++] = d;
  }
done:
  json_decref(arr);
  return p;
}

int tk__plugin_pool_add(tk_plugin_set_t *s, const char *name, const char *src, size_t n,
                        tk_err_t *err)
{
  tk__plugin_pool_t *p = s->pool;
  xchg_t x;
  tk_slice_t decls = {NULL, 0};
  source_t one = {(char *)name, (char *)src, n};
  plugin_t *shadow = NULL;
  int rc = acquire(p, &x, name, err);
  if (rc) goto done;
  if ((rc = add_source(&x, &one, &decls, err)) < 0) goto done;
  if (!(shadow = shadow_from_json(name, &s->lim, decls))) {
    rc =
        tk_err_set(err, TK_ENOMEM, "plugin %s: its declarations did not come back", name);
    worker_kill(x.w); /* it holds a plugin the set does not */
    goto done;
  }
  source_t *ns = realloc(p->srcs, (p->nsrcs + 1) * sizeof *ns);
  char *nm = strdup(name), *copy = malloc(n ? n : 1);
  if (!ns || !nm || !copy) {
    if (ns) p->srcs = ns;
    free(nm);
    free(copy);
    rc = tk_err_set(err, TK_ENOMEM, "plugin %s: out of memory", name);
    worker_kill(x.w);
    goto done;
  }
  p->srcs = ns;
  if ((rc = tk__plugin_set_append(s, shadow, err)) < 0) {
    free(nm);
    free(copy);
    worker_kill(x.w);
    goto done;
  }
  memcpy(copy, src, n);
  shadow->src = copy; /* for a reload that fails (plugin_layers.c) */
  shadow->srcn = n;
  shadow->src_borrowed = 1;
  shadow = NULL;
  pthread_mutex_lock(&p->mu);
  p->srcs[p->nsrcs++] = (source_t){nm, copy, n};
  pthread_mutex_unlock(&p->mu);
  if (x.w->pid) x.w->nloaded = p->nsrcs;
  TK_LOG(TK_LOG_INFO, "plugin", "loaded plugin=%s jailed=yes", name);
done:
  if (shadow) {
    for (int k = 0; k < TK_PLUGIN_NKINDS; k++)
      for (size_t j = 0; j < shadow->ndecls[k]; j++)
        tk__plugin_decl_free(shadow->decls[k][j]);
    pthread_mutex_destroy(&shadow->mu);
    free(shadow);
  }
  release(&x);
  return rc;
}

static void what_of(xchg_t *x, const decl_t *d, const char *fn)
{
  snprintf(x->what, sizeof x->what, "%s '%s', %s", tk__plugin_kind_words[d->pub.kind],
           d->name, fn);
}

/* validate and summary: one record body in, a result (summary: a line) out. */
static int body_call(tk_plugin_set_t *s, decl_t *d, int op, const char *fn,
                     tk_slice_t body, tk_buf_t *out, tk_err_t *err)
{
  xchg_t x;
  int rc = acquire(s->pool, &x, d->plugin->name, err);
  if (rc) goto done;
  what_of(&x, d, fn);
  if ((rc = tk__pc_frame_begin(&x.out, op)) || (rc = tk__pc_put_cstr(&x.out, d->name)) ||
      (rc = tk__pc_put_str(&x.out, body.p ? body.p : (const uint8_t *)"", body.n))) {
    rc = tk_err_set(err, rc, "out of memory");
    goto done;
  }
  rc = roundtrip(&x, out, NULL, err);
done:
  release(&x);
  return rc;
}

/* The problems a refusing VALIDATE's RESULT carries (serve_validate):
 * u32 n, n x {field, message}; at most TK_PLUGIN_MAX_PROBLEMS kept. A
 * refusal without them (or with a bad list) is one problem, the message. */
static void read_problems(tk_slice_t o, const tk_err_t *err, tk_plugin_problems_t *out)
{
  tk__pc_rd_t r = {o.p, o.n, 0};
  out->n = 0;
  uint32_t n = o.p ? tk__pc_get_u32(&r) : 0;
  for (uint32_t i = 0; !r.bad && i < n && i < TK_PLUGIN_MAX_PROBLEMS; i++) {
    const char *field = tk__pc_get_cstr(&r), *msg = tk__pc_get_cstr(&r);
    if (r.bad || !field || !msg) break;
    tk__plugin_problem_add(out, field, msg);
  }
  if (r.bad || !out->n) {
    /* err says "content type 'T': <first>" */
    const char *m = strstr(err->msg, "': ");
    out->n = 0;
    tk__plugin_problem_add(out, "", m ? m + 3 : err->msg);
  }
}

int tk__plugin_pool_validate(tk_plugin_set_t *s, decl_t *d, tk_slice_t body,
                             tk_plugin_problems_t *problems, tk_err_t *err)
{
  xchg_t x;
  tk_slice_t o = {NULL, 0};
  tk_err_t e;
  tk_err_clear(&e);
  int rc = acquire(s->pool, &x, d->plugin->name, &e);
  if (rc) goto done;
  what_of(&x, d, "validate");
  if ((rc = tk__pc_frame_begin(&x.out, TK__W_VALIDATE)) ||
      (rc = tk__pc_put_cstr(&x.out, d->name)) ||
      (rc = tk__pc_put_str(&x.out, body.p ? body.p : (const uint8_t *)"", body.n))) {
    rc = tk_err_set(&e, rc, "out of memory");
    goto done;
  }
  rc = roundtrip(&x, NULL, &o, &e);
  /* o is a view into x.in: read before the release wipes it */
  if (rc == TK_EINVAL && problems) read_problems(o, &e, problems);
done:
  release(&x);
  if (err) *err = e;
  return rc;
}

int tk__plugin_pool_summary(tk_plugin_set_t *s, decl_t *d, tk_slice_t body, tk_buf_t *out,
                            tk_err_t *err)
{
  return body_call(s, d, TK__W_SUMMARY, "summary", body, out, err);
}

int tk__plugin_pool_merge(tk_plugin_set_t *s, decl_t *d, tk_slice_t base, tk_slice_t ours,
                          tk_slice_t theirs, tk_buf_t *out, tk_err_t *err)
{
  xchg_t x;
  int rc = acquire(s->pool, &x, d->plugin->name, err);
  if (rc) goto done;
  what_of(&x, d, "merge");
  if ((rc = tk__pc_frame_begin(&x.out, TK__W_MERGE)) ||
      (rc = tk__pc_put_cstr(&x.out, d->name)) ||
      (rc = tk__pc_put_str(&x.out, base.p, base.n)) ||
      (rc = tk__pc_put_str(&x.out, ours.p ? ours.p : (const uint8_t *)"", ours.n)) ||
      (rc =
           tk__pc_put_str(&x.out, theirs.p ? theirs.p : (const uint8_t *)"", theirs.n))) {
    rc = tk_err_set(err, rc, "out of memory");
    goto done;
  }
  rc = roundtrip(&x, out, NULL, err);
done:
  release(&x);
  return rc;
}

int tk__plugin_pool_check(tk_plugin_set_t *s, decl_t *d, const tk_plugin_meta_t *meta,
                          tk_slice_t body, tk_plugin_verdict_t *v, tk_err_t *err)
{
  xchg_t x;
  tk_slice_t o = {NULL, 0};
  memset(v, 0, sizeof *v);
  int rc = acquire(s->pool, &x, d->plugin->name, err);
  if (rc) goto done;
  what_of(&x, d, "check");
  if ((rc = tk__pc_frame_begin(&x.out, TK__W_CHECK)) ||
      (rc = tk__pc_put_cstr(&x.out, d->name)) || (rc = tk__pc_put_meta(&x.out, meta)) ||
      (rc = tk__pc_put_str(&x.out, body.p, body.n))) {
    rc = tk_err_set(err, rc, "out of memory");
    goto done;
  }
  if ((rc = roundtrip(&x, NULL, &o, err)) < 0) goto done;
  /* out: the verdict byte, then the reason */
  if (!o.p || o.n < 1 || o.p[0] > TK_VERDICT_REJECT) {
    rc = tk_err_set(err, TK_EPLUGIN, "plugin %s: %s: bad answer from the worker",
                    d->plugin->name, x.what);
    goto done;
  }
  v->verdict = o.p[0];
  tk__plugin_copy_line(v->reason, sizeof v->reason, (const char *)o.p + 1, o.n - 1);
done:
  release(&x);
  return rc;
}

/* The request of one TK__W_CHECK_MANY (metas given) or TK__W_VALIDATE_MANY
 * (metas NULL) for name (the rule, the type): as many of the n records as
 * fit a frame (at least one, else TK_ELIMIT), their count in *m. */
static int encode_many(tk_buf_t *b, int op, const char *name,
                       const tk_plugin_meta_t *const *metas, const tk_slice_t *bodies,
                       size_t n, size_t *m)
{
  *m = 0;
  int rc = tk__pc_frame_begin(b, op);
  if (!rc) rc = tk__pc_put_cstr(b, name);
  size_t at = b->n;
  if (!rc) rc = tk__pc_put_u32(b, 0);
  while (rc == 0 && *m < n && *m < UINT32_MAX) {
    size_t mark = b->n;
    /* a check's body may be absent (no key: NULL); a validate's may not */
    const uint8_t *p = bodies[*m].p || metas ? bodies[*m].p : (const uint8_t *)"";
    if (metas) rc = tk__pc_put_meta(b, metas[*m]);
    if (!rc) rc = tk__pc_put_str(b, p, bodies[*m].n);
    if (rc == 0 && b->n - 4 > TK__PC_MAX_FRAME) {
      b->n = mark;
      break;
    }
    if (!rc) (*m)++;
  }
  if (rc) return rc;
  if (*m == 0) return TK_ELIMIT;
  uint32_t c = (uint32_t)*m;
  uint8_t x[4] = {(uint8_t)c, (uint8_t)(c >> 8), (uint8_t)(c >> 16), (uint8_t)(c >> 24)};
  memcpy(b->p + at, x, 4);
  return 0;
}

/* One ITEM {i32 rc, u8 verdict, reason or message} into *v: 0, or
 * TK_EPROTO. A check that failed in the worker quarantines with its
 * message, as a failed single check does. */
static int read_item(xchg_t *x, tk__pc_rd_t *r, const decl_t *d, tk_plugin_verdict_t *v)
{
  int rc = (int32_t)tk__pc_get_u32(r);
  int verdict = r->n ? r->p[0] : -1;
  if (r->n) {
    r->p++;
    r->n--;
  }
  tk_slice_t text = tk__pc_get_str(r);
  if (r->bad || rc > 0 || !text.p) return TK_EPROTO;
  memset(v, 0, sizeof *v);
  if (rc < 0) {
    v->verdict = TK_VERDICT_QUARANTINE;
    snprintf(v->reason, sizeof v->reason, "%.*s", TK_PLUGIN_MAX_REASON,
             (const char *)text.p);
  } else if (verdict < TK_VERDICT_ACCEPT || verdict > TK_VERDICT_REJECT) {
    v->verdict = TK_VERDICT_QUARANTINE;
    snprintf(v->reason, sizeof v->reason, "plugin %s: %s: bad answer from the worker",
             d->plugin->name, x->what);
  } else {
    v->verdict = verdict;
    tk__plugin_copy_line(v->reason, sizeof v->reason, (const char *)text.p, text.n);
  }
  return 0;
}

static void item_failed(tk_plugin_verdict_t *v, const tk_err_t *e)
{
  memset(v, 0, sizeof *v);
  v->verdict = TK_VERDICT_QUARANTINE;
  snprintf(v->reason, sizeof v->reason, "%.*s", TK_PLUGIN_MAX_REASON, e->msg);
}

/* One TK__W_CHECK_MANY exchange from revision *next on: its answers into v,
 * *next past the revisions answered (or failed). Returns 1 when the
 * budget (until_ms) ran out, the worker killed; else 0. */
static int check_many_once(xchg_t *x, decl_t *d, size_t n,
                           const tk_plugin_meta_t *const *metas, const tk_slice_t *bodies,
                           uint64_t until_ms, tk_plugin_verdict_t *v, size_t *next)
{
  tk_err_t e;
  size_t m = 0, got = 0;
  tk_err_clear(&e);
  int rc = encode_many(&x->out, TK__W_CHECK_MANY, d->name, metas + *next, bodies + *next,
                       n - *next, &m);
  if (rc) {
    tk_err_set(&e, rc, "plugin %s: %s: %s", d->plugin->name, x->what,
               rc == TK_ELIMIT ? "the record is too big for a worker" : "out of memory");
    item_failed(&v[(*next)++], &e);
    return 0;
  }
  if ((rc = sendq(x)) < 0) {
    fail_worker(x, rc, &e);
    item_failed(&v[(*next)++], &e);
    return 0;
  }
  /* Each answer within the deadline of the one before (or the request). */
  for (;;) {
    int op = 0;
    tk__pc_rd_t r;
    arm(x);
    uint64_t wait = x->deadline_ms;
    if (until_ms && until_ms < wait) wait = until_ms;
    rc = tk__pc_recv_frame(x->w->fd, &x->in, wait, &op, &r);
    if (rc == TK_ETIMEDOUT && wait < x->deadline_ms) {
      TK_LOG(TK_LOG_INFO, "plugin", "worker stopped plugin=%s call=\"%s\" why=\"budget\"",
             x->plugin, x->what);
      worker_kill(x->w);
      *next += got;
      return 1;
    }
    if (rc == 0 && op == TK__W_ITEM && got < m) {
      if (read_item(x, &r, d, &v[*next + got]) == 0) {
        got++;
        continue;
      }
      rc = TK_EPROTO;
    } else if (rc == 0 && op == TK__W_RESULT) {
      /* All answered; or fewer, when the worker retires early (the rest go
       * to its replacement). A worker never answers none. */
      rc = read_result(x, &r, NULL, NULL, &e);
      if (rc == 0 && got > 0) break;
      if (rc == 0) /* NEVER */
        tk_err_set(&e, TK_EPLUGIN, "plugin %s: %s: bad answer from the worker",
                   d->plugin->name, x->what);
      if (got < m) item_failed(&v[*next + got++], &e);
      break;
    } else if (rc == 0) {
      rc = TK_EPROTO;
    }
    /* An answer too many is the worker's fault: it is killed, the batch's
     * verdicts stand. */
    fail_worker(x, rc, &e);
    if (got < m) item_failed(&v[*next + got++], &e);
    break;
  }
  *next += got;
  return 0;
}

int tk__plugin_pool_check_many(tk_plugin_set_t *s, decl_t *d, size_t n,
                               const tk_plugin_meta_t *const *metas,
                               const tk_slice_t *bodies, uint64_t until_ms,
                               tk_plugin_verdict_t *v)
{
  size_t next = 0;
  for (size_t i = 0; i < n; i++) {
    memset(&v[i], 0, sizeof v[i]);
    v[i].verdict = TK_VERDICT_UNJUDGED;
  }
  while (next < n) {
    xchg_t x;
    tk_err_t e;
    if (until_ms && tk__pc_now_ms() >= until_ms) break;
    tk_err_clear(&e);
    int rc = acquire(s->pool, &x, d->plugin->name, &e), out = 0;
    if (rc) {
      /* No worker: every check left fails, as each single one would. */
      while (next < n)
        item_failed(&v[next++], &e);
    } else {
      what_of(&x, d, "check");
      out = check_many_once(&x, d, n, metas, bodies, until_ms, v, &next);
    }
    release(&x);
    if (out) break;
  }
  return 0;
}

/* One validate or summary ITEM {i32 rc, u8 0, text}: rc into *rc, the
 * message into *e when rc < 0, a summary's line into line (if given) when
 * rc is 0. 0, or TK_EPROTO. */
static int read_validate_item(tk__pc_rd_t *r, int *rc, tk_err_t *e, char *line)
{
  int v = (int32_t)tk__pc_get_u32(r);
  if (r->n) {
    r->p++;
    r->n--;
  }
  tk_slice_t text = tk__pc_get_str(r);
  if (r->bad || v > 0 || !text.p) return TK_EPROTO;
  *rc = v;
  tk_err_clear(e);
  if (v < 0) tk_err_set(e, v, "%.*s", (int)(sizeof e->msg - 1), (const char *)text.p);
  if (v == 0 && line)
    tk__plugin_copy_line(line, TK_PLUGIN_MAX_SUMMARY + 1, (const char *)text.p,
                         strnlen((const char *)text.p, text.n));
  return 0;
}

/* One TK__W_VALIDATE_MANY or TK__W_SUMMARY_MANY (lines given) exchange
 * from body *next on: the answers into rcs/errs (and lines), *next past
 * the bodies answered (or failed). */
static void validate_many_once(xchg_t *x, decl_t *d, size_t n, const tk_slice_t *bodies,
                               int *rcs, tk_err_t *errs, tk_plugin_line_t *lines,
                               size_t *next)
{
  tk_err_t e;
  size_t m = 0, got = 0;
  tk_err_clear(&e);
  int rc = encode_many(&x->out, lines ? TK__W_SUMMARY_MANY : TK__W_VALIDATE_MANY, d->name,
                       NULL, bodies + *next, n - *next, &m);
  if (rc) {
    rcs[*next] = tk_err_set(&errs[*next], rc == TK_ELIMIT ? TK_ELIMIT : TK_ENOMEM,
                            "plugin %s: %s: %s", d->plugin->name, x->what,
                            rc == TK_ELIMIT ? "the record is too big for a worker"
                                            : "out of memory");
    (*next)++;
    return;
  }
  if ((rc = sendq(x)) < 0) {
    rcs[*next] = fail_worker(x, rc, &errs[*next]);
    (*next)++;
    return;
  }
  /* Each answer within the deadline of the one before (or the request). */
  for (;;) {
    int op = 0;
    tk__pc_rd_t r;
    arm(x);
    rc = tk__pc_recv_frame(x->w->fd, &x->in, x->deadline_ms, &op, &r);
    if (rc == 0 && op == TK__W_ITEM && got < m) {
      if (read_validate_item(&r, &rcs[*next + got], &errs[*next + got],
                             lines ? lines[*next + got] : NULL) == 0) {
        got++;
        continue;
      }
      rc = TK_EPROTO;
    } else if (rc == 0 && op == TK__W_RESULT) {
      /* All answered; or fewer, when the worker retires early (the rest go
       * to its replacement). A worker never answers none. */
      rc = read_result(x, &r, NULL, NULL, &e);
      if (rc == 0 && got > 0) break;
      if (rc == 0) /* NEVER */
        rc = tk_err_set(&e, TK_EPLUGIN, "plugin %s: %s: bad answer from the worker",
                        d->plugin->name, x->what);
      if (got < m) {
        rcs[*next + got] = rc;
        errs[*next + got++] = e;
      }
      break;
    } else if (rc == 0) {
      rc = TK_EPROTO;
    }
    /* A timeout or a broken answer: the worker is killed, the record it
     * was on fails, the ones after it go to a fresh worker. */
    rc = fail_worker(x, rc, &e);
    if (got < m) {
      rcs[*next + got] = rc;
      errs[*next + got++] = e;
    }
    break;
  }
  *next += got;
}

int tk__plugin_pool_validate_many(tk_plugin_set_t *s, decl_t *d, size_t n,
                                  const tk_slice_t *bodies, int *rcs, tk_err_t *errs,
                                  tk_plugin_line_t *lines)
{
  size_t next = 0;
  while (next < n) {
    xchg_t x;
    tk_err_t e;
    tk_err_clear(&e);
    int rc = acquire(s->pool, &x, d->plugin->name, &e);
    if (rc) {
      /* No worker: every record left fails, as each single call would. */
      while (next < n) {
        rcs[next] = rc;
        errs[next++] = e;
      }
    } else {
      what_of(&x, d, lines ? "summary" : "validate");
      validate_many_once(&x, d, n, bodies, rcs, errs, lines, &next);
    }
    release(&x);
  }
  return 0;
}

int tk__plugin_pool_export(tk_plugin_set_t *s, decl_t *d, const char *const *redact,
                           tk_slice_t info, tk_plugin_next_fn next, void *next_ud,
                           tk_plugin_write_fn write, void *write_ud, tk_err_t *err)
{
  xchg_t x;
  int rc = acquire(s->pool, &x, d->plugin->name, err), host_rc = 0;
  tk_err_t host_err;
  tk_err_clear(&host_err);
  if (rc) goto done;
  what_of(&x, d, "write");
  size_t nred = 0;
  for (; redact && redact[nred]; nred++)
    ;
  if ((rc = tk__pc_frame_begin(&x.out, TK__W_EXPORT)) ||
      (rc = tk__pc_put_cstr(&x.out, d->name)) ||
      (rc = tk__pc_put_u32(&x.out, (uint32_t)nred))) {
    rc = tk_err_set(err, rc, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < nred && rc == 0; i++)
    rc = tk__pc_put_cstr(&x.out, redact[i]);
  if (!rc) rc = tk__pc_put_str(&x.out, info.p ? info.p : (const uint8_t *)"", info.n);
  if (rc || (rc = sendq(&x)) < 0) {
    rc = fail_worker(&x, rc, err);
    goto done;
  }
  arm(&x);
  for (;;) {
    int op = 0;
    tk__pc_rd_t r;
    if ((rc = tk__pc_recv_frame(x.w->fd, &x.in, x.deadline_ms, &op, &r)) < 0) {
      rc = fail_worker(&x, rc, err);
      goto done;
    }
    if (op == TK__W_RESULT) {
      rc = read_result(&x, &r, NULL, NULL, err);
      /* The iterator's or the writer's own failure reads better. */
      if (host_rc < 0) {
        rc = host_rc;
        if (err) *err = host_err;
      }
      goto done;
    }
    tk__pc_frame_begin(&x.out, op == TK__W_NEXT ? TK__W_RECORD : TK__W_ACK);
    if (op == TK__W_NEXT) {
      tk_plugin_record_t rec;
      memset(&rec, 0, sizeof rec);
      int n = host_rc < 0 ? host_rc : next(next_ud, &rec);
      if (n < 0 && host_rc == 0) {
        host_rc = n;
        tk_err_set(&host_err, n, "plugin %s: %s: reading records: %s", d->plugin->name,
                   x.what, tk_strerror(n));
      }
      rc = tk__pc_put_u32(&x.out, (uint32_t)(int32_t)n);
      if (!rc && n == 1)
        rc = tk__pc_put_str(&x.out, rec.body.p ? rec.body.p : (const uint8_t *)"",
                            rec.body.n);
      if (!rc && n == 1) rc = tk_buf_append_u8(&x.out, rec.meta != NULL);
      if (!rc && n == 1 && rec.meta) rc = tk__pc_put_meta(&x.out, rec.meta);
      if (n == 1) arm(&x); /* the deadline is per record, as in-process */
    } else if (op == TK__W_OUT) {
      tk_slice_t bytes = tk__pc_get_str(&r);
      int w = r.bad         ? TK_EPROTO
              : host_rc < 0 ? host_rc
                            : write(write_ud, bytes.p, bytes.n);
      if (w < 0 && host_rc == 0) {
        host_rc = w;
        tk_err_set(&host_err, w, "plugin %s: %s: writing output: %s", d->plugin->name,
                   x.what, tk_strerror(w));
      }
      rc = tk__pc_put_u32(&x.out, (uint32_t)(int32_t)(w < 0 ? w : 0));
    } else {
      rc = fail_worker(&x, TK_EPROTO, err);
      goto done;
    }
    if (rc || (rc = sendq(&x)) < 0) {
      rc = fail_worker(&x, rc ? rc : TK_EIO, err);
      goto done;
    }
  }
done:
  release(&x);
  return rc;
}
