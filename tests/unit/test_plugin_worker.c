/*
 * test_plugin_worker.c: jailed plugin sets (core/plugin/plugin_worker.c) and the
 * jail (core/plugin/plugin_jail.c), with the real Lua VM in real worker processes
 * (build/libexec/tunduk/tunduk-plugin-worker). A call past its deadline is killed and
 * the next call gets a fresh worker; a worker's /proc says seccomp filter,
 * no new privileges, only its channel and /dev/null open, and its rlimits;
 * a process in the jail that makes a forbidden system call dies of SIGSYS;
 * memory limits hold; one slow call does not hold another thread's call.
 */
#include "tk_plugin.h"
#include "tk_plugin_jail.h"
#include "tk_test.h"

#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BODY(s) TK_SLICE((s), strlen(s))
#define CALL_MS 200
#define REDOS "string.find(string.rep('a', 8000), '.-.-b')"

static const char *const src =
    "tunduk.content_type{ name = 'slow', validate = function(r) " REDOS
    " return true end,\n"
    "  summary = function(r) " REDOS " return 'x' end }\n"
    "tunduk.content_type{ name = 'ok', validate = function(r) return r.a ~= 'bad', 'bad "
    "a' "
    "end,\n"
    "  summary = function(r) return 'sum ' .. tostring(r.a) end }\n"
    "tunduk.content_type{ name = 'big', validate = function(r) local t = {} for i = 1, "
    "1e7 "
    "do t[i] = i end return true end }\n"
    "tunduk.export{ name = 'lines', media_type = 'text/plain', write = function(records, "
    "out) for r, m in records do out(r.a, '\\n') end end }\n"
    "tunduk.export{ name = 'slowx', media_type = 'text/plain', write = function(records, "
    "out) for r in records do " REDOS " end end }\n"
    "tunduk.moderation{ name = 'redos', check = function(m, r) if m.type == 'testimony' "
    "then " REDOS " end return tunduk.accept() end }\n"
    "tunduk.content_type{ name = 'mixed', validate = function(r) if r.slow then " REDOS
    " end return r.a ~= 'bad', 'bad a' end }\n"
    "tunduk.moderation{ name = 'flag', check = function(m, r) if m.type == 'flagged' "
    "then "
    "return tunduk.quarantine('flagged') end return tunduk.accept() end }\n";

static uint64_t ms_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int has(const char *hay, const char *needle)
{
  if (strstr(hay, needle)) return 1;
  fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", hay, needle);
  return 0;
}

static tk_plugin_set_t *jailed(unsigned n)
{
  tk_plugin_limits_t l;
  memset(&l, 0, sizeof l);
  l.call_ms = CALL_MS;
  l.mem_bytes = 8u << 20;
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  if (tk_plugin_set_new_jailed(&s, &l, n, &e) < 0) {
    fprintf(stderr, "  jailed set: %s\n", e.msg);
    return NULL;
  }
  if (tk_plugin_set_add_source(s, "w.lua", src, strlen(src), &e) < 0) {
    fprintf(stderr, "  load: %s\n", e.msg);
    tk_plugin_set_free(s);
    return NULL;
  }
  return s;
}

static void test_calls_work(void)
{
  tk_plugin_set_t *s = jailed(1);
  tk_err_t e;
  tk_buf_t out = TK_BUF_INIT;
  CHECK(s);
  CHECK(tk_plugin_set_jailed(s));
  CHECK(tk_plugin_set_find(s, TK_PLUGIN_TYPE, "ok"));
  CHECK(tk_plugin_set_find(s, TK_PLUGIN_TYPE, "ok")->has_summary);
  CHECK(tk_plugin_set_count(s, TK_PLUGIN_MODERATION) == 2);
  CHECK_RC(tk_plugin_validate(s, "ok", BODY("{\"a\":\"x\"}"), &e), 0);
  CHECK_RC(tk_plugin_validate(s, "ok", BODY("{\"a\":\"bad\"}"), &e), TK_EINVAL);
  CHECK(has(e.msg, "bad a"));
  CHECK_RC(tk_plugin_summary(s, "ok", BODY("{\"a\":7}"), &out, &e), 0);
  CHECK(strcmp((char *)out.p, "sum 7") == 0);
  tk_buf_free(&out);
  tk_plugin_meta_t m = {"r", "v", "flagged", "vault", "dev", 1, 2, 1, 0};
  tk_plugin_verdict_t v;
  CHECK_RC(tk_plugin_moderate(s, &m, (tk_slice_t){NULL, 0}, &v), 0);
  CHECK(v.verdict == TK_VERDICT_QUARANTINE && strcmp(v.rule, "flag") == 0);
  CHECK(strcmp(v.reason, "flagged") == 0);
  tk_plugin_set_free(s);
}

static void test_deadline_kills_and_replaces(void)
{
  tk_plugin_set_t *s = jailed(1);
  tk_err_t e;
  CHECK(s);
  CHECK_RC(tk_plugin_validate(s, "ok", BODY("{}"), &e), 0);
  int pid = tk_plugin_set_worker_pid(s, 0);
  CHECK(pid > 0);
  uint64_t t0 = ms_now();
  CHECK_RC(tk_plugin_validate(s, "slow", BODY("{}"), &e), TK_EPLUGIN);
  uint64_t took = ms_now() - t0;
  fprintf(stderr, "  ReDoS validate stopped after %llu ms\n", (unsigned long long)took);
  CHECK(took < CALL_MS + TK_PLUGIN_KILL_GRACE_MS + 300);
  CHECK(has(e.msg, "plugin w.lua: content type 'slow', validate: time limit exceeded"));
  CHECK(tk_plugin_set_worker_pid(s, 0) == 0);               /* killed */
  CHECK(kill(pid, 0) != 0);                                 /* and reaped */
  CHECK_RC(tk_plugin_validate(s, "ok", BODY("{}"), &e), 0); /* a fresh one */
  CHECK(tk_plugin_set_worker_pid(s, 0) > 0 && tk_plugin_set_worker_pid(s, 0) != pid);
  /* The other calls too: summary, export, moderation quarantines. */
  tk_buf_t out = TK_BUF_INIT;
  CHECK_RC(tk_plugin_summary(s, "slow", BODY("{}"), &out, &e), TK_EPLUGIN);
  CHECK(has(e.msg, "time limit exceeded"));
  tk_buf_free(&out);
  tk_plugin_meta_t m = {"r", "v", "testimony", "vault", "dev", 1, 2, 1, 0};
  tk_plugin_verdict_t v;
  CHECK_RC(tk_plugin_moderate(s, &m, (tk_slice_t){NULL, 0}, &v), 0);
  CHECK(v.verdict == TK_VERDICT_QUARANTINE && strcmp(v.rule, "redos") == 0);
  CHECK(has(v.reason, "time limit exceeded"));
  m.type = "case";
  CHECK_RC(tk_plugin_moderate(s, &m, (tk_slice_t){NULL, 0}, &v), 0);
  CHECK(v.verdict == TK_VERDICT_ACCEPT);
  tk_plugin_set_free(s);
}

typedef struct recs {
  int i, n;
} recs_t;

static int next_rec(void *ud, tk_plugin_record_t *rec)
{
  static const char *bodies[] = {"{\"a\":\"one\"}", "{\"a\":\"two\"}"};
  recs_t *r = ud;
  if (r->i >= r->n) return 0;
  const char *b = bodies[r->i++ % 2];
  rec->body = BODY(b);
  rec->meta = NULL;
  return 1;
}

static int write_buf(void *ud, const void *p, size_t n)
{
  return tk_buf_append(ud, p, n);
}

static void test_export(void)
{
  tk_plugin_set_t *s = jailed(1);
  tk_err_t e;
  tk_buf_t out = TK_BUF_INIT;
  recs_t r = {0, 3};
  CHECK(s);
  CHECK_RC(tk_plugin_export(s, "lines", NULL, next_rec, &r, write_buf, &out, &e), 0);
  CHECK(out.n == 12 && memcmp(out.p, "one\ntwo\none\n", 12) == 0);
  out.n = 0;
  r.i = 0;
  CHECK_RC(tk_plugin_export(s, "slowx", NULL, next_rec, &r, write_buf, &out, &e),
           TK_EPLUGIN);
  CHECK(has(e.msg, "plugin w.lua: export 'slowx', write: time limit exceeded"));
  tk_buf_free(&out);
  tk_plugin_set_free(s);
}

static void test_memory_limit(void)
{
  tk_plugin_set_t *s = jailed(1);
  tk_err_t e;
  CHECK(s);
  CHECK_RC(tk_plugin_validate(s, "big", BODY("{}"), &e), TK_EPLUGIN);
  CHECK(has(e.msg, "memory limit exceeded"));
  CHECK_RC(tk_plugin_validate(s, "ok", BODY("{}"), &e), 0);
  tk_plugin_set_free(s);
}

/* Reads /proc/<pid>/<what> into buf. */
static int proc_read(int pid, const char *what, char *buf, size_t cap)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", pid, what);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, cap - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = 0;
  return 0;
}

static void test_worker_is_jailed(void)
{
  tk_plugin_set_t *s = jailed(1);
  tk_err_t e;
  char buf[8192];
  CHECK(s);
  CHECK_RC(tk_plugin_validate(s, "ok", BODY("{}"), &e), 0);
  int pid = tk_plugin_set_worker_pid(s, 0);
  CHECK(pid > 0);
  CHECK(proc_read(pid, "status", buf, sizeof buf) == 0);
  CHECK(has(buf, "Seccomp:\t2"));
  CHECK(has(buf, "NoNewPrivs:\t1"));
  CHECK(proc_read(pid, "limits", buf, sizeof buf) == 0);
  CHECK(strstr(buf, "Max open files            4                    4"));
  CHECK(strstr(buf, "Max processes             0                    0"));
  CHECK(strstr(buf, "Max core file size        0                    0"));
  CHECK(strstr(buf, "Max file size             0                    0"));
  CHECK(strstr(buf, "Max cpu time              600                  600"));
#ifndef TK_SANITIZE
  CHECK(strstr(buf, "Max address space         536870912            536870912"));
#endif
  /* fds: 0-2 on /dev/null, 3 the channel, nothing else. (Listing a
   * non-dumpable process's fds needs root, which the tests run as; skip
   * otherwise.) */
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd", pid);
  DIR *d = opendir(path);
  if (!d) {
    fprintf(stderr, "  cannot list %s (not root?): fd check skipped\n", path);
  } else {
    struct dirent *de;
    int n = 0, bad = 0;
    while ((de = readdir(d))) {
      if (de->d_name[0] == '.') continue;
      char l[400], target[256];
      snprintf(l, sizeof l, "%s/%s", path, de->d_name);
      ssize_t k = readlink(l, target, sizeof target - 1);
      target[k > 0 ? k : 0] = 0;
      int fd = atoi(de->d_name);
      if (fd <= 2 ? strcmp(target, "/dev/null") != 0
                  : fd != 3 || strncmp(target, "socket:", 7) != 0) {
        fprintf(stderr, "  worker fd %d -> %s\n", fd, target);
        bad = 1;
      }
      n++;
    }
    closedir(d);
    CHECK(!bad && n == 4);
  }
#ifndef TK_SANITIZE
  /* Nothing of ours reaches it through the environment either. */
  CHECK(proc_read(pid, "environ", buf, sizeof buf) == 0 && buf[0] == 0);
#endif
  tk_plugin_set_free(s);
}

/* Forks a child that enters the jail and then runs what; returns its wait
 * status. */
static int jailed_child(int what)
{
  pid_t pid = fork();
  if (pid == 0) {
    int sv[2];
    tk_err_t e;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) _exit(90);
    signal(SIGPIPE, SIG_IGN); /* the jail closes the other end too */
    if (dup2(sv[0], 3) < 0) _exit(91);
    if (tk_plugin_jail_enter(3, &e) != 0) _exit(92);
    switch (what) {
    case 0: /* allowed: compute, allocate, write the channel */
    {
      char *p = malloc(1 << 20);
      if (!p) _exit(93);
      memset(p, 1, 1 << 20);
      free(p);
      if (write(3, "x", 1) != -1 || errno != EPIPE) _exit(94); /* allowed, peer gone */
      _exit(0);
    }
    case 1:
      open("/etc/passwd", O_RDONLY);
      break;
    case 2:
      socket(AF_INET, SOCK_STREAM, 0);
      break;
    case 3: {
      char *argv[] = {(char *)"/bin/true", NULL};
      execve("/bin/true", argv, NULL);
      break;
    }
    case 4:
      fork();
      break;
    case 5: /* read is allowed only on the channel */
    {
      char c;
      if (read(0, &c, 1) < 0) _exit(95);
      break;
    }
    case 6: /* past the address-space limit, malloc fails */
    {
      void *p = malloc((size_t)TK_PLUGIN_JAIL_MEM);
      __asm__ volatile("" : : "r"(p) : "memory"); /* clang would elide the malloc */
      _exit(p ? 96 : 0);
    }
    }
    _exit(97); /* the call returned: the jail let it through */
  }
  int st = -1;
  waitpid(pid, &st, 0);
  return st;
}

static int died_of_sigsys(int st)
{
  if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) return 1;
  fprintf(stderr, "  status %#x: exited %d / signal %d, want SIGSYS\n", st,
          WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : -1);
  return 0;
}

static void test_jail_forbids(void)
{
  int st = jailed_child(0);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) died_of_sigsys(st);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK(died_of_sigsys(jailed_child(1))); /* open */
  CHECK(died_of_sigsys(jailed_child(2))); /* socket */
  CHECK(died_of_sigsys(jailed_child(3))); /* execve */
  CHECK(died_of_sigsys(jailed_child(4))); /* fork (clone) */
  CHECK(died_of_sigsys(jailed_child(5))); /* read on stdin */
#ifndef TK_SANITIZE
  st = jailed_child(6);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#endif
}

typedef struct par {
  tk_plugin_set_t *s;
  const char *type;
  int rc;
  uint64_t ms;
} par_t;

static void *par_call(void *ud)
{
  par_t *p = ud;
  tk_err_t e;
  uint64_t t0 = ms_now();
  p->rc = tk_plugin_validate(p->s, p->type, BODY("{}"), &e);
  p->ms = ms_now() - t0;
  return NULL;
}

/* Two workers: a slow call on one does not hold a fast call on the other. */
static void test_pool_parallel(void)
{
  tk_plugin_set_t *s = jailed(2);
  tk_err_t e;
  CHECK(s);
  CHECK_RC(tk_plugin_validate(s, "ok", BODY("{}"), &e), 0);
  par_t slow = {s, "slow", 0, 0}, fast = {s, "ok", 0, 0};
  pthread_t a, b;
  pthread_create(&a, NULL, par_call, &slow);
  usleep(20000);
  pthread_create(&b, NULL, par_call, &fast);
  pthread_join(b, NULL);
  pthread_join(a, NULL);
  fprintf(stderr, "  slow call %llu ms, fast call beside it %llu ms\n",
          (unsigned long long)slow.ms, (unsigned long long)fast.ms);
  CHECK(slow.rc == TK_EPLUGIN && fast.rc == 0);
  CHECK(fast.ms < 150); /* includes starting and loading the second worker */
  tk_plugin_set_free(s);
}

/* A worker that died between calls (a crash, or PR_SET_PDEATHSIG when the
 * thread that started it ended) is replaced before the next call: no call
 * fails for it. */
static void test_dead_worker_replaced(void)
{
  tk_plugin_set_t *s = jailed(1);
  tk_err_t e;
  CHECK(s);
  CHECK_RC(tk_plugin_validate(s, "ok", BODY("{}"), &e), 0);
  int pid = tk_plugin_set_worker_pid(s, 0);
  CHECK(pid > 0 && kill(pid, SIGKILL) == 0);
  usleep(50000);
  CHECK_RC(tk_plugin_validate(s, "ok", BODY("{}"), &e), 0);
  CHECK(tk_plugin_set_worker_pid(s, 0) != pid);
  tk_plugin_set_free(s);
}

/* A load past the deadline fails naming the plugin; the set still works. */
static void test_load_deadline(void)
{
  tk_plugin_set_t *s = jailed(1);
  tk_err_t e;
  CHECK(s);
  const char *bad = REDOS "\ntunduk.content_type{ name = 'late' }\n";
  uint64_t t0 = ms_now();
  CHECK_RC(tk_plugin_set_add_source(s, "late.lua", bad, strlen(bad), &e), TK_EPLUGIN);
  CHECK(ms_now() - t0 < CALL_MS + TK_PLUGIN_KILL_GRACE_MS + 300);
  CHECK(has(e.msg, "plugin late.lua: load: time limit exceeded"));
  CHECK(!tk_plugin_set_find(s, TK_PLUGIN_TYPE, "late"));
  CHECK_RC(tk_plugin_validate(s, "ok", BODY("{}"), &e), 0); /* reloaded w.lua */
  tk_plugin_set_free(s);
}

/* Rules for the batch tests: a ReDoS by author, a quarantine, a reject
 * that must stop the rules after it, one that reads bodies of 'note' only,
 * and one that errors. */
static const char *const batch_src =
    "tunduk.moderation{ name = 'hostile', reads = {}, check = function(m, r)\n"
    "  if m.author == 'evil' then " REDOS " end return tunduk.accept() end }\n"
    "tunduk.moderation{ name = 'flag', reads = {}, check = function(m, r)\n"
    "  if m.type == 'flagged' then return tunduk.quarantine('flagged ' .. m.record_id) "
    "end\n"
    "  return tunduk.accept() end }\n"
    "tunduk.moderation{ name = 'ban', reads = {}, check = function(m, r)\n"
    "  if m.type == 'banned' then return tunduk.reject('banned ' .. m.record_id) end\n"
    "  return tunduk.accept() end }\n"
    "tunduk.moderation{ name = 'note', reads = { 'note' }, check = function(m, r)\n"
    "  if m.type ~= 'note' then assert(r == nil) return tunduk.accept() end\n"
    "  if r == nil then return tunduk.quarantine('no body') end\n"
    "  if r.bad then return tunduk.reject('bad note ' .. tostring(r.bad)) end\n"
    "  return tunduk.accept() end }\n"
    "tunduk.moderation{ name = 'after', check = function(m, r)\n"
    "  if m.type == 'banned' then error('ran after a reject') end\n"
    "  if m.type == 'boom' then error('boom ' .. m.record_id) end\n"
    "  return tunduk.accept() end }\n";

#define NBATCH 60
#define HOSTILE 23 /* the item whose author triggers the ReDoS */

typedef struct batch {
  char id[NBATCH][16], body[NBATCH][64];
  tk_plugin_meta_t meta[NBATCH];
  tk_plugin_item_t items[NBATCH];
  tk_plugin_verdict_t v[NBATCH];
} batch_t;

static tk_plugin_set_t *batch_set(int jail)
{
  tk_plugin_limits_t l;
  memset(&l, 0, sizeof l);
  l.call_ms = CALL_MS;
  l.mem_bytes = 8u << 20;
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  int rc = jail ? tk_plugin_set_new_jailed(&s, &l, 2, &e) : tk_plugin_set_new(&s, &l);
  if (rc < 0) return NULL;
  if (tk_plugin_set_add_source(s, "b.lua", batch_src, strlen(batch_src), &e) < 0) {
    fprintf(stderr, "  load: %s\n", e.msg);
    tk_plugin_set_free(s);
    return NULL;
  }
  return s;
}

/* NBATCH revisions of every kind the rules tell apart; item HOSTILE (when
 * hostile) by the author whose check never ends. */
static void batch_fill(batch_t *b, int hostile)
{
  static const char *const types[] = {"case", "flagged", "banned", "note",
                                      "note", "boom",    "note",   "case"};
  memset(b, 0, sizeof *b);
  for (int i = 0; i < NBATCH; i++) {
    const char *type = types[i % 8];
    snprintf(b->id[i], sizeof b->id[i], "r%d", i);
    b->meta[i] =
        (tk_plugin_meta_t){b->id[i], "v", type, "vault", "dev", (uint64_t)i, 2, 1, 0};
    if (hostile && i == HOSTILE) b->meta[i].author = "evil";
    b->items[i].meta = &b->meta[i];
    if (strcmp(type, "note") == 0 && i % 8 == 3)
      snprintf(b->body[i], sizeof b->body[i], "{\"bad\":%d}", i);
    else if (strcmp(type, "note") == 0 && i % 8 == 4)
      snprintf(b->body[i], sizeof b->body[i], "{\"fine\":true}");
    else if (strcmp(type, "note") == 0)
      snprintf(b->body[i], sizeof b->body[i], "{not json");
    else if (i % 3 == 0)
      snprintf(b->body[i], sizeof b->body[i], "{\"x\":1}");
    if (b->body[i][0]) b->items[i].body = BODY(b->body[i]);
  }
}

static int same_verdict(const tk_plugin_verdict_t *a, const tk_plugin_verdict_t *b, int i)
{
  if (a->verdict == b->verdict && !strcmp(a->plugin, b->plugin) &&
      !strcmp(a->rule, b->rule) && !strcmp(a->reason, b->reason))
    return 1;
  fprintf(stderr, "  item %d: batch %d %s/%s \"%s\", alone %d %s/%s \"%s\"\n", i,
          a->verdict, a->plugin, a->rule, a->reason, b->verdict, b->plugin, b->rule,
          b->reason);
  return 0;
}

/* A batch's verdicts are each revision's own, in a jailed set (several
 * requests: one per rule) and in-process alike. */
static void test_batch_equals_single(void)
{
  static batch_t b;
  tk_plugin_verdict_t one;
  for (int jail = 0; jail < 2; jail++) {
    tk_plugin_set_t *s = batch_set(jail);
    CHECK(s);
    if (!s) return;
    batch_fill(&b, 0);
    CHECK_RC(tk_plugin_moderate_batch(s, b.items, NBATCH, 0, b.v), 0);
    int kinds[3] = {0, 0, 0};
    for (int i = 0; i < NBATCH; i++) {
      CHECK_RC(tk_plugin_moderate(s, &b.meta[i], b.items[i].body, &one), 0);
      CHECK(same_verdict(&b.v[i], &one, i));
      if (b.v[i].verdict >= 0 && b.v[i].verdict <= 2) kinds[b.v[i].verdict]++;
    }
    CHECK(kinds[0] > 0 && kinds[1] > 0 && kinds[2] > 0);
    CHECK(b.v[2].verdict == TK_VERDICT_REJECT && !strcmp(b.v[2].rule, "ban"));
    CHECK(b.v[3].verdict == TK_VERDICT_REJECT && has(b.v[3].reason, "bad note 3"));
    CHECK(b.v[5].verdict == TK_VERDICT_QUARANTINE && has(b.v[5].reason, "boom r5"));
    CHECK(b.v[6].verdict == TK_VERDICT_QUARANTINE && !b.v[6].rule[0]); /* no parse */
    /* Parsed records and parse errors, as tk_plugin_moderate_parsed takes. */
    json_t *rec = NULL;
    tk_err_t e;
    CHECK_RC(tk__plugin_json_parse(BODY("{\"bad\":\"p\"}"), &rec, &e), 0);
    tk_plugin_item_t two[2] = {{&b.meta[3], {NULL, 0}, rec, NULL},
                               {&b.meta[4], {NULL, 0}, NULL, "line 1: not json"}};
    tk_plugin_verdict_t tv[2];
    CHECK_RC(tk_plugin_moderate_batch(s, two, 2, 0, tv), 0);
    CHECK_RC(tk_plugin_moderate_parsed(s, &b.meta[3], rec, NULL, &one), 0);
    CHECK(same_verdict(&tv[0], &one, 0) && has(tv[0].reason, "bad note p"));
    CHECK_RC(tk_plugin_moderate_parsed(s, &b.meta[4], NULL, "line 1: not json", &one), 0);
    CHECK(same_verdict(&tv[1], &one, 1));
    json_decref(rec);
    CHECK_RC(tk_plugin_moderate_batch(s, NULL, 0, 0, NULL), 0);
    tk_plugin_set_free(s);
  }
}

/* One hostile revision in a batch: its check is killed at the deadline and
 * it is quarantined with the timeout message; every other revision gets
 * its own verdict, the ones after it from a fresh worker; the whole batch
 * costs about one deadline. */
static void test_batch_hostile_item(void)
{
  static batch_t b, ref;
  tk_plugin_verdict_t one;
  tk_plugin_set_t *s = batch_set(1), *in = batch_set(0);
  CHECK(s && in);
  if (!s || !in) goto done;
  batch_fill(&b, 1);
  batch_fill(&ref, 0);
  uint64_t t0 = ms_now();
  CHECK_RC(tk_plugin_moderate_batch(s, b.items, NBATCH, 0, b.v), 0);
  uint64_t took = ms_now() - t0;
  fprintf(stderr, "  a batch of %d with one ReDoS item: %llu ms\n", NBATCH,
          (unsigned long long)took);
  CHECK(took >= CALL_MS);
  CHECK(took < CALL_MS + TK_PLUGIN_KILL_GRACE_MS + 600);
  CHECK(b.v[HOSTILE].verdict == TK_VERDICT_QUARANTINE);
  CHECK(!strcmp(b.v[HOSTILE].rule, "hostile"));
  CHECK(has(b.v[HOSTILE].reason,
            "plugin b.lua: moderation rule 'hostile', check: time limit exceeded"));
  CHECK(has(b.v[HOSTILE].reason, "the worker was stopped"));
  for (int i = 0; i < NBATCH; i++) {
    if (i == HOSTILE) continue;
    CHECK_RC(tk_plugin_moderate(in, &ref.meta[i], ref.items[i].body, &one), 0);
    CHECK(same_verdict(&b.v[i], &one, i));
  }
  /* With a budget shorter than the deadline: the hostile item and the ones
   * the budget did not reach are unjudged, never accepted. */
  t0 = ms_now();
  CHECK_RC(tk_plugin_moderate_batch(s, b.items, NBATCH, CALL_MS / 2, b.v), 0);
  took = ms_now() - t0;
  CHECK(took < CALL_MS + 300);
  CHECK(b.v[HOSTILE].verdict == TK_VERDICT_UNJUDGED);
  for (int i = 0; i < NBATCH; i++) /* 'hostile' is the first rule; bad JSON needs none */
    CHECK(b.v[i].verdict == (i % 8 == 6 ? TK_VERDICT_QUARANTINE : TK_VERDICT_UNJUDGED));
  CHECK_RC(tk_plugin_moderate(s, &ref.meta[0], ref.items[0].body, &one), 0);
  CHECK(one.verdict == TK_VERDICT_ACCEPT); /* the pool still works */
done:
  tk_plugin_set_free(s);
  tk_plugin_set_free(in);
}

/* tk_plugin_validate_many: one request for the batch, each answer what a
 * single call gives, and a record past its deadline fails alone: the ones
 * after it are validated in a fresh worker. */
static void test_validate_many(void)
{
  tk_plugin_set_t *s = jailed(1);
  CHECK(s);
  static const char *const texts[] = {"{\"a\":\"x\"}", "{\"a\":\"bad\"}", "nope",
                                      "{\"slow\":true}", "{\"a\":\"y\"}"};
  enum { N = 5 };
  tk_slice_t b[N];
  int rc[N];
  tk_err_t e[N], one;
  for (int i = 0; i < N; i++)
    b[i] = BODY(texts[i]);
  CHECK_RC(tk_plugin_validate(s, "mixed", b[0], &one), 0);
  int pid = tk_plugin_set_worker_pid(s, 0);
  uint64_t t0 = ms_now();
  CHECK_RC(tk_plugin_validate_many(s, "mixed", b, N, rc, e), 0);
  uint64_t took = ms_now() - t0;
  CHECK(took < CALL_MS + TK_PLUGIN_KILL_GRACE_MS + 500);
  CHECK(rc[0] == 0 && rc[4] == 0);
  CHECK(rc[1] == TK_EINVAL && has(e[1].msg, "content type 'mixed': bad a"));
  CHECK(rc[2] == TK_EFORMAT);
  CHECK(rc[3] == TK_EPLUGIN &&
        has(e[3].msg, "content type 'mixed', validate: time limit"));
  CHECK(tk_plugin_set_worker_pid(s, 0) != pid); /* the slow one's worker was killed */
  for (int i = 0; i < N; i++) {
    if (i == 3) continue;
    int r1 = tk_plugin_validate(s, "mixed", b[i], &one);
    CHECK(r1 == rc[i]);
    CHECK(r1 == 0 || strcmp(one.msg, e[i].msg) == 0);
  }
  /* a batch bigger than a frame holds is split; every record answered */
  enum { M = 3000 };
  static char big[8200];
  memset(big, 'z', sizeof big);
  memcpy(big, "{\"a\":\"", 6);
  memcpy(big + sizeof big - 3, "\"}", 3);
  tk_slice_t *bb = calloc(M, sizeof *bb);
  int *rr = calloc(M, sizeof *rr);
  tk_err_t *ee = calloc(M, sizeof *ee);
  CHECK(bb && rr && ee);
  for (int i = 0; i < M; i++)
    bb[i] = TK_SLICE(big, strlen(big));
  rr[M - 1] = 99;
  CHECK_RC(tk_plugin_validate_many(s, "mixed", bb, M, rr, ee), 0);
  int ok = 1;
  for (int i = 0; i < M; i++)
    ok &= rr[i] == 0;
  free(bb);
  free(rr);
  free(ee);
  CHECK(ok);
  /* a type without validate, and no such type: as single calls */
  CHECK_RC(tk_plugin_validate_many(s, "nosuch", b, 1, rc, e), 0);
  CHECK(rc[0] == TK_ENOTFOUND);
  tk_plugin_set_free(s);
}

/* A jailed set's reload whose file fails keeps the running version (its
 * source is the pool's copy); meta.deleted crosses to the worker's rule. */
static void test_layers_keep_jailed(void)
{
  char dir[1024], path[1100];
  tk_err_t e;
  snprintf(dir, sizeof dir, "%s/jailed-layer", tk_test_tmpdir());
  CHECK(mkdir(dir, 0700) == 0);
  snprintf(path, sizeof path, "%s/hold.lua", dir);
  const char *v1 = "tunduk.moderation{ name = 'hold', check = function(m, r)\n"
                   "  return tunduk.quarantine('v1 ' .. tostring(m.deleted)) end }\n";
  FILE *f = fopen(path, "w");
  CHECK(f && fputs(v1, f) >= 0 && fclose(f) == 0);
  tk_plugin_layer_t l = {"home", dir, 0};
  tk_plugin_set_t *s = jailed(1), *s2 = jailed(1);
  CHECK(s && s2);
  CHECK_RC(tk_plugin_set_load_layers(s, &l, 1, NULL, &e), 0);
  CHECK((f = fopen(path, "w")) &&
        fputs("tunduk.moderation{ name = 'hold',, }\n", f) >= 0 && fclose(f) == 0);
  CHECK_RC(tk_plugin_set_load_layers(s2, &l, 1, s, &e), 0);
  tk_plugin_set_free(s); /* the kept version lives on in s2's workers */
  CHECK(tk_plugin_set_kept(s2) == 1);
  CHECK(has(tk_plugin_set_load_error(s2, 0), "hold.lua:1:"));
  tk_plugin_meta_t m = {"r", "v", "case", "vault", "dev", 1, 2, 1, 0};
  tk_plugin_verdict_t v;
  CHECK_RC(tk_plugin_check(s2, "hold", &m, BODY("{\"_deleted\":true}"), &v), 0);
  CHECK(v.verdict == TK_VERDICT_QUARANTINE && has(v.reason, "v1 true"));
  CHECK_RC(tk_plugin_moderate(s2, &m, (tk_slice_t){NULL, 0}, &v), 0);
  CHECK(v.verdict == TK_VERDICT_QUARANTINE && has(v.reason, "v1 nil"));
  tk_plugin_set_free(s2);
}

TK_TESTS(TK_TEST(test_calls_work), TK_TEST(test_validate_many),
         TK_TEST(test_layers_keep_jailed), TK_TEST(test_deadline_kills_and_replaces),
         TK_TEST(test_export), TK_TEST(test_memory_limit), TK_TEST(test_worker_is_jailed),
         TK_TEST(test_jail_forbids), TK_TEST(test_pool_parallel),
         TK_TEST(test_load_deadline), TK_TEST(test_dead_worker_replaced),
         TK_TEST(test_batch_equals_single), TK_TEST(test_batch_hostile_item))
