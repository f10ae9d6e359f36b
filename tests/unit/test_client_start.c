/*
 * test_client_start.c: a sync on the caller's loop (tk_client_start) over
 * real TLS on loopback to a tk_hub on its own thread. The caller's loop
 * also runs a repeating timer, which must keep firing while the sync runs;
 * the end callback must report what tk_client_run reports for the same
 * exchange (a second office with the same kind of data, run blocking).
 */
#include "tk_test.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tk_client.h"
#include "tk_hub.h"

#define RECORDS 300

typedef struct hub_thread {
  uv_loop_t loop;
  uv_async_t stop;
  tk_hub_t *h;
  tk_office_t *home;
  pthread_t thread;
  char addr[64];
} hub_thread_t;

static void on_stop(uv_async_t *a)
{
  hub_thread_t *ht = a->data;
  tk_hub_stop(ht->h);
  uv_close((uv_handle_t *)a, NULL);
}

static void *hub_main(void *arg)
{
  hub_thread_t *ht = arg;
  uv_run(&ht->loop, UV_RUN_DEFAULT);
  return NULL;
}

static void hub_start(hub_thread_t *ht)
{
  char home[512];
  tk_err_t e;
  tk_config_t cfg;
  snprintf(home, sizeof home, "%s/hub", tk_test_tmpdir());
  CHECK_RC(tk_office_create(home, "hub", "pw", 2, TK_KDF_INTERACTIVE, &e), 0);
  CHECK_RC(tk_office_open(&ht->home, home, &e), 0);
  CHECK_RC(tk_office_unlock(ht->home, "pw", 2, &e), 0);
  uv_loop_init(&ht->loop);
  int rc = -1;
  for (int i = 0; i < 20 && rc != 0; i++) {
    tk_config_defaults(&cfg);
    snprintf(ht->addr, sizeof ht->addr, "127.0.0.1:%d",
             20000 + (int)((getpid() * 7919 + i * 104729) % 30000));
    snprintf(cfg.listen, sizeof cfg.listen, "%s", ht->addr);
    CHECK_RC(tk_hub_new(&ht->h, &ht->loop, ht->home, &cfg, &e), 0);
    rc = tk_hub_listen(ht->h, &e);
    if (rc) {
      tk_hub_stop(ht->h);
      uv_run(&ht->loop, UV_RUN_DEFAULT);
      tk_hub_free(ht->h);
    }
  }
  CHECK_RC(rc, 0);
  uv_async_init(&ht->loop, &ht->stop, on_stop);
  ht->stop.data = ht;
  CHECK(pthread_create(&ht->thread, NULL, hub_main, ht) == 0);
}

static void hub_end(hub_thread_t *ht)
{
  uv_async_send(&ht->stop);
  pthread_join(ht->thread, NULL);
  tk_hub_free(ht->h);
  CHECK(uv_loop_close(&ht->loop) == 0);
  tk_office_close(ht->home);
}

/* A token for one device with access (the hub's store is only read by its
 * thread inside a transaction; this one write happens before any sync). */
static void issue(hub_thread_t *ht, const char *access, tk_token_t *tok)
{
  tk_token_info_t ti;
  uint8_t hash[32];
  tk_err_t e;
  memset(&ti, 0, sizeof ti);
  memset(tok, 0, sizeof *tok);
  memcpy(tok->hub_id, tk_office_identity(ht->home)->id, TK_DEVICE_ID_LEN);
  tk_random(tok->token_id, sizeof tok->token_id);
  tk_random(tok->secret, sizeof tok->secret);
  ti.created = (int64_t)time(NULL);
  ti.expires = ti.created + 3600;
  tok->expires = (uint64_t)ti.expires;
  snprintf(tok->addr, sizeof tok->addr, "%s", ht->addr);
  snprintf(ti.access, sizeof ti.access, "%s", access);
  snprintf(ti.name, sizeof ti.name, "office");
  memcpy(ti.id, tok->token_id, sizeof ti.id);
  tk_sha256(hash, tok->secret, sizeof tok->secret);
  CHECK_RC(tk_store_token_add(tk_office_store(ht->home), &ti, hash, &e), 0);
}

/* An office enrolled at the hub (blocking enroll) with RECORDS records in
 * vault. */
static void office(hub_thread_t *ht, const char *name, const char *vault,
                   tk_office_t **out)
{
  char home[512], access[64];
  tk_office_t *o = NULL;
  tk_err_t e;
  tk_token_t tok;
  *out = NULL;
  tk_client_stats_t st;
  tk_client_opts_t opts;
  snprintf(home, sizeof home, "%s/%s", tk_test_tmpdir(), name);
  snprintf(access, sizeof access, "%s:rw", vault);
  issue(ht, access, &tok);
  CHECK_RC(tk_office_create(home, name, "pw", 2, TK_KDF_INTERACTIVE, &e), 0);
  CHECK_RC(tk_office_open(&o, home, &e), 0);
  *out = o;
  CHECK_RC(tk_office_unlock(o, "pw", 2, &e), 0);
  memset(&opts, 0, sizeof opts);
  opts.mode = TK_CLIENT_ENROLL;
  opts.token = &tok;
  CHECK_RC(tk_client_run(o, &opts, &st, &e), 0);
  tk_client_stats_free(&st);
  CHECK_RC(tk_office_vault_create(o, vault, &e), 0);
  for (int k = 0; k < RECORDS; k++) {
    char num[32];
    snprintf(num, sizeof num, "LOAD-%04d", k);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "case_number", num, "client_alias",
                             "Client L-1", "status", "open", "notes", "a test record");
    CHECK_RC(tk_office_new(o, "case", vault, body, NULL, NULL, &e), 0);
    json_decref(body);
  }
}

typedef struct run {
  uv_timer_t tick;
  unsigned ticks, ticks_at_end, progress;
  int ended, rc;
  tk_client_stats_t st_end; /* what on_end was given */
} run_t;

static void on_tick(uv_timer_t *t)
{
  run_t *r = t->data;
  r->ticks++;
}

static void on_progress(void *ctx, const tk_client_stats_t *st)
{
  run_t *r = ctx;
  (void)st;
  r->progress++;
}

static void on_end(void *ctx, int rc, const tk_client_stats_t *st, const tk_err_t *e)
{
  run_t *r = ctx;
  if (rc) fprintf(stderr, "on_end: %s\n", e->msg);
  r->ended++;
  r->rc = rc;
  r->ticks_at_end = r->ticks;
  r->st_end = *st;
  uv_timer_stop(&r->tick);
  uv_close((uv_handle_t *)&r->tick, NULL);
}

/* The statistics that do not depend on timing or the socket. */
static void same_stats(const tk_client_stats_t *a, const tk_client_stats_t *b)
{
  CHECK(a->sent == b->sent);
  CHECK(a->received == b->received);
  CHECK(a->duplicates == b->duplicates);
  CHECK(a->skipped == b->skipped);
  CHECK(a->rev_bytes_out == b->rev_bytes_out);
  CHECK(a->rev_bytes_in == b->rev_bytes_in);
  CHECK(a->chunks_sent == b->chunks_sent);
  CHECK(a->chunks_received == b->chunks_received);
  CHECK(a->chunks_refused == b->chunks_refused);
  CHECK(a->round_trips == b->round_trips);
  CHECK(a->tls_resumed == b->tls_resumed);
  CHECK(a->nrejected == b->nrejected);
  CHECK(a->nrefused == b->nrefused);
  CHECK(a->grants == b->grants);
  CHECK(a->log_entries == b->log_entries);
  CHECK(a->log_refused_entries == b->log_refused_entries);
  CHECK(a->rotations == b->rotations);
  CHECK(a->conflicts_before == b->conflicts_before);
  CHECK(a->conflicts_after == b->conflicts_after);
  CHECK(strlen(a->access) == strlen(b->access));
}

static void sync_on_callers_loop(void)
{
  hub_thread_t ht;
  tk_err_t e;
  signal(SIGPIPE, SIG_IGN);
  memset(&ht, 0, sizeof ht);
  hub_start(&ht);
  tk_office_t *a, *b;
  office(&ht, "a", "va", &a);
  office(&ht, "b", "vb", &b);
  if (!a || !b) return;

  /* a: on this thread's loop, beside a 1 ms timer */
  uv_loop_t loop;
  run_t r;
  tk_client_stats_t st;
  tk_client_opts_t opts;
  tk_client_handle_t *hd = NULL;
  memset(&r, 0, sizeof r);
  memset(&opts, 0, sizeof opts);
  opts.mode = TK_CLIENT_SYNC;
  opts.batch_bytes = 16 << 10; /* several batches */
  opts.progress = on_progress;
  opts.progress_ctx = &r;
  uv_loop_init(&loop);
  uv_timer_init(&loop, &r.tick);
  r.tick.data = &r;
  uv_timer_start(&r.tick, on_tick, 1, 1);
  CHECK_RC(tk_client_start(&loop, a, &opts, &st, on_end, &r, &hd, &e), 0);
  CHECK(hd != NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  CHECK(r.ended == 1);
  CHECK_RC(r.rc, 0);
  CHECK(r.ticks_at_end >= 3); /* the loop went on serving its timer */
  CHECK(r.progress >= 2);
  CHECK(st.sent == RECORDS);
  CHECK(r.st_end.sent == st.sent && r.st_end.seconds == st.seconds);

  /* b: the same kind of exchange, blocking */
  tk_client_stats_t st2;
  tk_client_opts_t opts2;
  memset(&opts2, 0, sizeof opts2);
  opts2.mode = TK_CLIENT_SYNC;
  opts2.batch_bytes = 16 << 10;
  CHECK_RC(tk_client_run(b, &opts2, &st2, &e), 0);
  same_stats(&st, &st2);

  /* a cancelled run ends through its callback */
  memset(&r, 0, sizeof r);
  uv_loop_init(&loop);
  uv_timer_init(&loop, &r.tick);
  r.tick.data = &r;
  uv_timer_start(&r.tick, on_tick, 1, 1);
  tk_client_stats_free(&st);
  CHECK_RC(tk_client_start(&loop, a, &opts, &st, on_end, &r, &hd, &e), 0);
  tk_client_cancel(hd);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
  CHECK(r.ended == 1);
  CHECK_RC(r.rc, TK_ECLOSED);

  tk_client_stats_free(&st);
  tk_client_stats_free(&st2);
  tk_office_close(a);
  tk_office_close(b);
  hub_end(&ht);
}

TK_TESTS(TK_TEST(sync_on_callers_loop))
