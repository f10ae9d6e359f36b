/*
 * store_thread.c: the store thread (see tk_store_thread.h). Two lists
 * under one mutex: the jobs to run (the thread takes the head, runs it
 * without the lock, and appends it to the finished list) and the finished
 * jobs (the loop's async callback takes the whole list and calls each
 * done in order). The thread ends when it is told to quit and its queue
 * is empty; it says so under the lock, and the async callback that sees
 * it joins the thread and closes the handle.
 *
 * Threads: the struct's lists, quit and exited under lock; pending,
 * stopping and the handle on the loop's thread only; st on the store
 * thread only (opened on the loop's thread before the thread starts,
 * closed after it is joined).
 */
#include "tk_store_thread.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct tk_store_thread {
  uv_loop_t *loop; /* NULL: inline mode */
  tk_store_t *st;  /* the thread's connection, or the inline store */
  int own_st;      /* st was opened here */
  uv_async_t async;
  pthread_t th;
  int started, joined, closed, stopping;
  size_t max_jobs, pending;
  unsigned delay_ms; /* TK_TEST_STORE_DELAY_MS: tests only */
  pthread_mutex_t lock;
  pthread_cond_t wake;
  tk_store_job_t *run_head, *run_tail;   /* under lock */
  tk_store_job_t *done_head, *done_tail; /* under lock */
  int quit, exited;                      /* under lock */
};

static void delay(unsigned ms)
{
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static void *thread_main(void *arg)
{
  tk_store_thread_t *t = arg;
  pthread_mutex_lock(&t->lock);
  for (;;) {
    while (!t->run_head && !t->quit)
      pthread_cond_wait(&t->wake, &t->lock);
    tk_store_job_t *j = t->run_head;
    if (!j) break; /* quit, and nothing left */
    t->run_head = j->next;
    if (!t->run_head) t->run_tail = NULL;
    pthread_mutex_unlock(&t->lock);
    if (t->delay_ms) delay(t->delay_ms);
    tk_err_clear(&j->err);
    j->rc = j->work(j, t->st, &j->err);
    j->next = NULL;
    pthread_mutex_lock(&t->lock);
    if (t->done_tail)
      t->done_tail->next = j;
    else
      t->done_head = j;
    t->done_tail = j;
    pthread_mutex_unlock(&t->lock);
    uv_async_send(&t->async);
    pthread_mutex_lock(&t->lock);
  }
  t->exited = 1;
  pthread_mutex_unlock(&t->lock);
  uv_async_send(&t->async);
  return NULL;
}

static void on_closed(uv_handle_t *h)
{
  tk_store_thread_t *t = h->data;
  t->closed = 1;
}

/* Loop: the finished jobs' done calls, in order; then, once the thread has
 * ended, the join and the handle's close. */
static void on_async(uv_async_t *a)
{
  tk_store_thread_t *t = a->data;
  pthread_mutex_lock(&t->lock);
  tk_store_job_t *j = t->done_head;
  t->done_head = t->done_tail = NULL;
  int exited = t->exited;
  pthread_mutex_unlock(&t->lock);
  while (j) {
    tk_store_job_t *next = j->next;
    t->pending--;
    j->done(j, j->rc, &j->err); /* may free j */
    j = next;
  }
  if (exited && !t->joined) {
    pthread_join(t->th, NULL);
    t->joined = 1;
    uv_close((uv_handle_t *)&t->async, on_closed);
  }
}

static unsigned test_delay(void)
{
  const char *v = getenv("TK_TEST_STORE_DELAY_MS");
  if (!v || !*v) return 0;
  long ms = strtol(v, NULL, 10);
  return ms > 0 && ms <= 60000 ? (unsigned)ms : 0;
}

int tk_store_thread_new(tk_store_thread_t **out, uv_loop_t *loop, const char *path,
                        tk_store_t *inline_store, size_t max_jobs, tk_err_t *err)
{
  *out = NULL;
  tk_store_thread_t *t = calloc(1, sizeof *t);
  if (!t) return tk_err_set(err, TK_ENOMEM, "store thread: out of memory");
  t->loop = loop;
  t->max_jobs = max_jobs ? max_jobs : 1;
  if (!loop) {
    t->st = inline_store;
    t->closed = t->joined = 1;
    *out = t;
    return 0;
  }
  int rc = tk_store_open(&t->st, path, 0, err);
  if (rc) {
    free(t);
    return rc;
  }
  t->own_st = 1;
  t->delay_ms = test_delay();
  if (t->delay_ms)
    TK_LOG(TK_LOG_WARN, "store",
           "TK_TEST_STORE_DELAY_MS=%u: each store job waits (tests only)", t->delay_ms);
  pthread_mutex_init(&t->lock, NULL);
  pthread_cond_init(&t->wake, NULL);
  int r = uv_async_init(loop, &t->async, on_async);
  if (r) {
    tk_store_close(t->st);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
    return tk_err_set(err, TK_EIO, "store thread: %s", uv_strerror(r));
  }
  t->async.data = t;
  if (pthread_create(&t->th, NULL, thread_main, t) != 0) {
    /* the handle is closed and freed once the loop runs its close */
    t->joined = 1;
    uv_close((uv_handle_t *)&t->async, on_closed);
    tk_store_close(t->st);
    t->st = NULL;
    t->stopping = 1;
    *out = t; /* the caller frees it after its loop ends */
    return tk_err_set(err, TK_EIO, "store thread: cannot start a thread");
  }
  t->started = 1;
  *out = t;
  return 0;
}

int tk_store_thread_submit(tk_store_thread_t *t, tk_store_job_t *j, tk_store_work_fn work,
                           tk_store_done_fn done, tk_err_t *err)
{
  if (t->stopping) return tk_err_set(err, TK_ECLOSED, "the store thread is stopping");
  if (t->pending >= t->max_jobs)
    return tk_err_set(err, TK_ELIMIT, "the store thread has %zu jobs queued", t->pending);
  j->work = work;
  j->done = done;
  j->next = NULL;
  j->rc = 0;
  tk_err_clear(&j->err);
  if (!t->loop) { /* inline: tests and fuzzing */
    j->rc = work(j, t->st, &j->err);
    done(j, j->rc, &j->err);
    return 0;
  }
  t->pending++;
  pthread_mutex_lock(&t->lock);
  if (t->run_tail)
    t->run_tail->next = j;
  else
    t->run_head = j;
  t->run_tail = j;
  pthread_cond_signal(&t->wake);
  pthread_mutex_unlock(&t->lock);
  return 0;
}

size_t tk_store_thread_pending(const tk_store_thread_t *t)
{
  return t->pending;
}

void tk_store_thread_stop(tk_store_thread_t *t)
{
  if (!t || t->stopping) return;
  t->stopping = 1;
  if (!t->started) return;
  pthread_mutex_lock(&t->lock);
  t->quit = 1;
  pthread_cond_signal(&t->wake);
  pthread_mutex_unlock(&t->lock);
}

void tk_store_thread_free(tk_store_thread_t *t)
{
  if (!t) return;
  if (t->loop && !t->closed) {
    /* Not stopped, or the loop did not run to the end: finish here. */
    tk_store_thread_stop(t);
    if (!t->joined) {
      pthread_join(t->th, NULL);
      t->joined = 1;
      on_async(&t->async); /* the last done calls */
    }
    if (!uv_is_closing((uv_handle_t *)&t->async))
      uv_close((uv_handle_t *)&t->async, on_closed);
    uv_run(t->loop, UV_RUN_NOWAIT);
  }
  if (t->loop) {
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
  }
  if (t->own_st) tk_store_close(t->st);
  free(t);
}
