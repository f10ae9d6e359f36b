/*
 * tk_store_thread.h: one thread that owns its own connection to a store
 * file and runs write jobs for a libuv loop, in the order they were
 * submitted, each completed back on the loop's thread. The hub uses it so
 * that a commit (fsync included) never stalls the loop that serves every
 * other session's I/O (DESIGN.md: one store thread).
 *
 * A job is caller-owned memory (embed tk_store_job_t first in a bigger
 * struct): work(job, store, err) runs on the store thread with the
 * thread's connection and must touch nothing the loop thread changes;
 * done(job, rc, err) runs later on the loop thread with work's result and
 * may free the job. Each submitted job gets exactly one done call. The
 * queue is bounded (max_jobs); a submit past it fails with TK_ELIMIT and
 * the done never runs (libuv's rule: an error return means no callback).
 *
 * Stopping (tk_store_thread_stop, on the loop thread): no new submits
 * (TK_ECLOSED); the jobs already queued still run in order (each commits
 * or rolls back as it would have), then their done calls run on the loop
 * with their real results, and the async handle closes, so uv_run returns
 * only after the last one. A job is thus never dropped between its commit
 * and its done: what done acknowledges was committed, and nothing that
 * was committed goes without its done call.
 *
 * Inline mode (loop NULL: unit tests and the fuzzer, which drive a hub
 * without a loop): there is no thread; submit runs work on the caller's
 * thread with the store given to tk_store_thread_new, then done, before
 * it returns. For tests and fuzzing only.
 *
 * Threads: every function here on the loop's thread (the one that runs
 * loop); work on the store thread; done on the loop's thread.
 *
 * Tests only: TK_TEST_STORE_DELAY_MS (an environment variable read once
 * by tk_store_thread_new) makes the store thread sleep that long before
 * each job's work, to make commits reliably slow in integration tests
 * (tests/integration/store_thread.sh). Unset in production.
 */
#ifndef TK_STORE_THREAD_H
#define TK_STORE_THREAD_H

#include <uv.h>

#include "tk_store.h"

typedef struct tk_store_thread tk_store_thread_t;
typedef struct tk_store_job tk_store_job_t;

/* work: 0 or a negative TK_E* code, with err set. */
typedef int (*tk_store_work_fn)(tk_store_job_t *j, tk_store_t *st, tk_err_t *err);
typedef void (*tk_store_done_fn)(tk_store_job_t *j, int rc, const tk_err_t *err);

struct tk_store_job {
  tk_store_work_fn work;
  tk_store_done_fn done;
  int rc;       /* work's result (set on the store thread) */
  tk_err_t err; /* its error */
  tk_store_job_t *next;
};

/* A store thread for loop, on its own connection to the store file at
 * path (opened here; the file must exist). loop NULL: inline mode on
 * inline_store (see the top); path is then unused. */
int tk_store_thread_new(tk_store_thread_t **out, uv_loop_t *loop, const char *path,
                        tk_store_t *inline_store, size_t max_jobs, tk_err_t *err);
/* Queues j (work and done set by this call). 0; TK_ELIMIT if max_jobs are
 * queued; TK_ECLOSED once stopping. On an error done never runs. */
int tk_store_thread_submit(tk_store_thread_t *t, tk_store_job_t *j, tk_store_work_fn work,
                           tk_store_done_fn done, tk_err_t *err);
/* Jobs queued or running whose done has not run yet. */
size_t tk_store_thread_pending(const tk_store_thread_t *t);
/* Refuses new jobs; the queued ones run and complete (see the top), then
 * the thread ends and the handle closes. Safe to call more than once. */
void tk_store_thread_stop(tk_store_thread_t *t);
/* Frees t. Call after the loop has ended (it stops t if that was not
 * done, and waits for the thread). NULL is fine. */
void tk_store_thread_free(tk_store_thread_t *t);

#endif
