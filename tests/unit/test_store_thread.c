/*
 * test_store_thread.c: the store thread (tk_store_thread.h) on a real
 * sqlite file and a real libuv loop: jobs run in submit order on another
 * thread, on their own connection, and complete on the loop's thread
 * after their commit (the loop's connection then sees it); a full queue
 * and a stopped thread refuse jobs without calling done; stopping with
 * jobs queued runs and completes every one of them before the loop ends;
 * a job whose owner went away (a closed session) still commits and its
 * completion touches only the job; inline mode (no loop) completes before
 * submit returns.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tk_store_thread.h"
#include "tk_test.h"

typedef struct owner owner_t;

typedef struct tjob {
  tk_store_job_t job;
  int i;
  unsigned sleep_ms;
  int fail;
  owner_t *owner; /* NULL once it went away */
} tjob_t;

struct owner {
  tjob_t *job;
  int answered;
};

static pthread_t loop_thread;
static int ran[64], nran, done_order[64], ndone, done_on_loop, done_rc[64];
static int seen_committed;
static tk_store_t *loop_store;
static pthread_t work_thread;
static int work_threads_differ;

static void reset(void)
{
  nran = ndone = done_on_loop = seen_committed = work_threads_differ = 0;
  memset(done_rc, 0, sizeof done_rc);
  loop_thread = pthread_self();
}

static void path_for(char *buf, size_t n, const char *name)
{
  snprintf(buf, n, "%s/%s.db", tk_test_tmpdir(), name);
}

static int work(tk_store_job_t *j, tk_store_t *st, tk_err_t *err)
{
  tjob_t *t = (tjob_t *)j;
  if (nran == 0)
    work_thread = pthread_self();
  else if (!pthread_equal(work_thread, pthread_self()))
    work_threads_differ = 1;
  ran[nran++] = t->i; /* jobs run one at a time: no race on nran */
  if (t->sleep_ms) {
    struct timespec ts = {0, (long)t->sleep_ms * 1000000L};
    nanosleep(&ts, NULL);
  }
  if (t->fail) return tk_err_set(err, TK_EIO, "job %d failed on purpose", t->i);
  char key[32], val[32];
  snprintf(key, sizeof key, "job%d", t->i);
  snprintf(val, sizeof val, "%d", t->i);
  return tk_store_meta_set(st, key, val, err); /* its own transaction */
}

static void done(tk_store_job_t *j, int rc, const tk_err_t *err)
{
  tjob_t *t = (tjob_t *)j;
  (void)err;
  if (pthread_equal(pthread_self(), loop_thread)) done_on_loop++;
  done_rc[ndone] = rc;
  done_order[ndone++] = t->i;
  if (rc == 0 && loop_store) {
    char key[32], val[32] = "";
    snprintf(key, sizeof key, "job%d", t->i);
    if (tk_store_meta_get(loop_store, key, val, sizeof val, NULL) == 0 &&
        atoi(val) == t->i)
      seen_committed++;
  }
  if (t->owner) t->owner->answered = 1;
  free(t);
}

static tjob_t *tjob(int i)
{
  tjob_t *t = calloc(1, sizeof *t);
  t->i = i;
  return t;
}

static void open_store(tk_store_t **s, const char *name)
{
  char path[512];
  tk_err_t e;
  path_for(path, sizeof path, name);
  *s = NULL;
  tk_store_open(s, path, TK_STORE_CREATE, &e);
}

static void test_order_and_loop_thread(void)
{
  uv_loop_t loop;
  tk_store_t *s;
  tk_store_thread_t *t;
  tk_err_t e;
  reset();
  open_store(&s, "order");
  CHECK(s != NULL);
  loop_store = s;
  uv_loop_init(&loop);
  CHECK_RC(tk_store_thread_new(&t, &loop, tk_store_path(s), NULL, 64, &e), 0);
  for (int i = 0; i < 40; i++)
    CHECK_RC(tk_store_thread_submit(t, &tjob(i)->job, work, done, &e), 0);
  CHECK(tk_store_thread_pending(t) == 40);
  /* run until all are done, then stop */
  while (ndone < 40)
    uv_run(&loop, UV_RUN_ONCE);
  tk_store_thread_stop(t);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(tk_store_thread_pending(t) == 0);
  tk_store_thread_free(t);
  CHECK(uv_loop_close(&loop) == 0);
  CHECK(nran == 40 && ndone == 40);
  for (int i = 0; i < 40; i++) {
    CHECK(ran[i] == i);
    CHECK(done_order[i] == i);
    CHECK(done_rc[i] == 0);
  }
  CHECK(done_on_loop == 40);
  CHECK(seen_committed == 40); /* the loop's own connection sees each commit */
  CHECK(!pthread_equal(work_thread, loop_thread));
  CHECK(!work_threads_differ);
  loop_store = NULL;
  tk_store_close(s);
}

static void test_bounded_and_errors(void)
{
  uv_loop_t loop;
  tk_store_t *s;
  tk_store_thread_t *t;
  tk_err_t e;
  reset();
  open_store(&s, "bounded");
  CHECK(s != NULL);
  uv_loop_init(&loop);
  CHECK_RC(tk_store_thread_new(&t, &loop, tk_store_path(s), NULL, 2, &e), 0);
  tjob_t *a = tjob(0), *b = tjob(1), *c = tjob(2);
  a->sleep_ms = 50;
  b->fail = 1;
  CHECK_RC(tk_store_thread_submit(t, &a->job, work, done, &e), 0);
  CHECK_RC(tk_store_thread_submit(t, &b->job, work, done, &e), 0);
  CHECK_RC(tk_store_thread_submit(t, &c->job, work, done, &e), TK_ELIMIT);
  CHECK(strstr(e.msg, "queued") != NULL);
  while (ndone < 2)
    uv_run(&loop, UV_RUN_ONCE);
  CHECK(done_rc[0] == 0 && done_rc[1] == TK_EIO);
  CHECK_RC(tk_store_thread_submit(t, &c->job, work, done, &e), 0); /* room again */
  tk_store_thread_stop(t);
  tjob_t *d = tjob(3);
  CHECK_RC(tk_store_thread_submit(t, &d->job, work, done, &e), TK_ECLOSED);
  free(d);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(ndone == 3 && done_order[2] == 2 && done_rc[2] == 0);
  tk_store_thread_free(t);
  CHECK(uv_loop_close(&loop) == 0);
  tk_store_close(s);
}

/* Stop right after queueing slow jobs: every one still runs, commits and
 * completes before uv_run returns; none is lost, none completes twice. */
static void test_stop_with_queued_jobs(void)
{
  uv_loop_t loop;
  tk_store_t *s;
  tk_store_thread_t *t;
  tk_err_t e;
  reset();
  open_store(&s, "stop");
  CHECK(s != NULL);
  loop_store = s;
  uv_loop_init(&loop);
  CHECK_RC(tk_store_thread_new(&t, &loop, tk_store_path(s), NULL, 64, &e), 0);
  for (int i = 0; i < 10; i++) {
    tjob_t *j = tjob(i);
    j->sleep_ms = 10;
    CHECK_RC(tk_store_thread_submit(t, &j->job, work, done, &e), 0);
  }
  tk_store_thread_stop(t);
  tk_store_thread_stop(t); /* twice is fine */
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(ndone == 10 && nran == 10 && seen_committed == 10);
  tk_store_thread_free(t);
  CHECK(uv_loop_close(&loop) == 0);
  loop_store = NULL;
  tk_store_close(s);
}

/* The hub's pattern for a session that closes while its job is out: the
 * owner detaches the job (job->owner = NULL) and is freed; the job still
 * commits, and its completion answers nobody. */
static void test_owner_gone(void)
{
  uv_loop_t loop;
  tk_store_t *s;
  tk_store_thread_t *t;
  tk_err_t e;
  reset();
  open_store(&s, "gone");
  CHECK(s != NULL);
  loop_store = s;
  uv_loop_init(&loop);
  CHECK_RC(tk_store_thread_new(&t, &loop, tk_store_path(s), NULL, 8, &e), 0);
  owner_t *o = calloc(1, sizeof *o);
  tjob_t *j = tjob(7);
  j->sleep_ms = 30;
  j->owner = o;
  o->job = j;
  CHECK_RC(tk_store_thread_submit(t, &j->job, work, done, &e), 0);
  o->job->owner = NULL; /* the session closes: detached, then freed */
  free(o);              /* ASan: a completion that touched it would fail */
  while (ndone < 1)
    uv_run(&loop, UV_RUN_ONCE);
  CHECK(seen_committed == 1);
  tk_store_thread_stop(t);
  uv_run(&loop, UV_RUN_DEFAULT);
  tk_store_thread_free(t);
  CHECK(uv_loop_close(&loop) == 0);
  loop_store = NULL;
  tk_store_close(s);
}

/* Freed without a stop and a full loop run: it finishes the jobs itself. */
static void test_free_without_stop(void)
{
  uv_loop_t loop;
  tk_store_t *s;
  tk_store_thread_t *t;
  tk_err_t e;
  reset();
  open_store(&s, "nostop");
  CHECK(s != NULL);
  uv_loop_init(&loop);
  CHECK_RC(tk_store_thread_new(&t, &loop, tk_store_path(s), NULL, 8, &e), 0);
  for (int i = 0; i < 3; i++)
    CHECK_RC(tk_store_thread_submit(t, &tjob(i)->job, work, done, &e), 0);
  tk_store_thread_free(t);
  CHECK(ndone == 3);
  CHECK(uv_loop_close(&loop) == 0);
  tk_store_close(s);
}

static void test_inline(void)
{
  tk_store_t *s;
  tk_store_thread_t *t;
  tk_err_t e;
  reset();
  open_store(&s, "inline");
  CHECK(s != NULL);
  loop_store = s;
  CHECK_RC(tk_store_thread_new(&t, NULL, NULL, s, 4, &e), 0);
  CHECK_RC(tk_store_thread_submit(t, &tjob(5)->job, work, done, &e), 0);
  CHECK(ndone == 1 && seen_committed == 1); /* before submit returned */
  CHECK(pthread_equal(work_thread, loop_thread));
  tk_store_thread_stop(t);
  tk_store_thread_free(t);
  loop_store = NULL;
  tk_store_close(s);
}

TK_TESTS(TK_TEST(test_order_and_loop_thread), TK_TEST(test_bounded_and_errors),
         TK_TEST(test_stop_with_queued_jobs), TK_TEST(test_owner_gone),
         TK_TEST(test_free_without_stop), TK_TEST(test_inline))
