/*
 * bench_swarm.c: many offices against one hub, for run.sh's "many
 * offices" and "idle connections" rows. Two modes:
 *
 *   bench_swarm offices DIR TOKENS THREADS [--write K] [--prefix P] [--hub-pid PID]
 *     For each line I (from 0) of the file TOKENS (an enrollment token from
 *     `tundukd device add`), creates the office home DIR/PI (P: --prefix,
 *     default "o"; Argon2id interactive, passphrase $TUNDUK_PASSPHRASE),
 *     unlocks it, and with --write K creates the vault "PI" and writes K ~2 KB records
 * into it (one transaction), then enrolls with the token: THREADS workers at a time. That
 * is setup, timed on its own. Then every office syncs at once: one thread per office,
 * each with its own office handle (each tk_client_run makes its own loop), released
 * together by a barrier. With --hub-pid, the hub's peak RSS is reset before the syncs
 *     (/proc/PID/clear_refs) and its VmHWM and CPU time (utime + stime of
 *     /proc/PID/stat) are read around them.
 *
 *   bench_swarm idle HOST:PORT N [--inflight M] [--hub-pid PID]
 *     Opens N TLS connections to the hub from this one process with a
 *     throw-away identity (no key file, no key derivation), at most M
 *     handshakes at a time (default: all at once), waits until
 *     each finished its handshake or failed, holds them 1 s, reads the
 *     hub's VmRSS, then closes them.
 *
 * Output: "key value" lines (swarm_* / idle_*), for run.sh to read. The
 * first few errors go to stderr with the office's number. Exit status 0
 * when the run itself worked (errors are counted, not fatal), 2 on bad
 * arguments or a setup failure.
 *
 * Threads: the workers of the setup, one per office during the syncs, one
 * loop thread in idle mode.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_records.h"
#include "tk_client.h"
#include "tk_office_engine.h"
#include "tk_conn.h"

#define MAX_OFFICES 5000

typedef struct office_slot {
  tk_office_t *o;
  char token[TK_TOKEN_MAX_TEXT];
  int failed; /* setup failed: not synced */
  int rc;
  double seconds;
  uint64_t sent, received;
  char msg[200];
} office_slot_t;

static struct {
  const char *dir;
  const char *pass;
  const char *prefix; /* office and vault names: PREFIX<i> */
  office_slot_t *slots;
  long n;
  long write;
  atomic_long next;
  atomic_int errors_shown;
  /* setup time per stage, microseconds summed over the workers */
  atomic_llong us_create, us_unlock, us_write, us_enroll;
  pthread_barrier_t barrier;
} S;

static void show_error(long i, const char *what, const char *msg)
{
  if (atomic_fetch_add(&S.errors_shown, 1) < 5)
    fprintf(stderr, "bench_swarm: office %ld: %s: %s\n", i, what, msg);
}

/* ---- /proc of the hub ------------------------------------------------- */

static long proc_status_kb(long pid, const char *key)
{
  char path[64], line[256];
  long v = -1;
  snprintf(path, sizeof path, "/proc/%ld/status", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t kl = strlen(key);
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, key, kl) && line[kl] == ':') v = strtol(line + kl + 1, NULL, 10);
  fclose(f);
  return v;
}

/* utime + stime of pid in seconds, -1 if unreadable */
static double proc_cpu_s(long pid)
{
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  if (!p) return -1;
  unsigned long ut = 0, st = 0;
  /* after ") ": state(3) ... utime is field 14, stime 15 */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void proc_reset_hwm(long pid)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/clear_refs", pid);
  FILE *f = fopen(path, "w");
  if (!f) return;
  fputs("5", f);
  fclose(f);
}

/* ---- offices mode ----------------------------------------------------- */

static int office_setup(long i, tk_err_t *err)
{
  office_slot_t *s = &S.slots[i];
  char home[4096], name[32], vault[32];
  tk_token_t tok;
  tk_client_stats_t st;
  int rc;
  snprintf(home, sizeof home, "%s/%.20s%ld", S.dir, S.prefix, i);
  snprintf(name, sizeof name, "%.20s%ld", S.prefix, i);
  memset(&st, 0, sizeof st);
  double t = bench_now();
#define STAGE(counter)                                                                   \
  do {                                                                                   \
    double t1_ = bench_now();                                                            \
    atomic_fetch_add(&S.counter, (long long)((t1_ - t) * 1e6));                          \
    t = t1_;                                                                             \
  } while (0)
  if ((rc =
           tk_office_create(home, name, S.pass, strlen(S.pass), TK_KDF_INTERACTIVE, err)))
    return rc;
  STAGE(us_create);
  if ((rc = tk_office_open(&s->o, home, err)) ||
      (rc = tk_office_unlock(s->o, S.pass, strlen(S.pass), err)))
    return rc;
  STAGE(us_unlock);
  if (S.write > 0) {
    bench_rng_t rng = {(uint32_t)(i * 2654435761u + 1)};
    if (!rng.s) rng.s = 1;
    if ((rc = tk_office_vault_create(s->o, name, err))) return rc;
    snprintf(vault, sizeof vault, "%s", name);
    tk_store_t *store = tk_office_store(s->o);
    if ((rc = tk_store_begin(store, err))) return rc;
    for (long k = 0; k < S.write && !rc; k++) {
      const char *type;
      json_t *body = bench_body(&rng, (unsigned)k, &type);
      if (!body) {
        rc = tk_err_set(err, TK_ENOMEM, "out of memory");
        break;
      }
      rc = tk_office_new(s->o, type, vault, body, NULL, NULL, err);
      json_decref(body);
    }
    if (rc) {
      tk_store_rollback(store);
      return rc;
    }
    if ((rc = tk_store_commit(store, err))) return rc;
  }
  STAGE(us_write);
  if ((rc = tk_token_parse(&tok, s->token, err))) return rc;
  tk_client_opts_t opts;
  memset(&opts, 0, sizeof opts);
  opts.mode = TK_CLIENT_ENROLL;
  opts.token = &tok;
  opts.timeout_ms = 120000;
  rc = tk_client_run(s->o, &opts, &st, err);
  STAGE(us_enroll);
#undef STAGE
  tk_wipe(&tok, sizeof tok);
  tk_client_stats_free(&st);
  return rc;
}

static void *setup_worker(void *arg)
{
  (void)arg;
  for (;;) {
    long i = atomic_fetch_add(&S.next, 1);
    if (i >= S.n) break;
    tk_err_t err;
    tk_err_clear(&err);
    if (office_setup(i, &err) != 0) {
      S.slots[i].failed = 1;
      show_error(i, "setup", tk_err_str(&err));
    }
  }
  return NULL;
}

static void *sync_worker(void *arg)
{
  long i = (long)(intptr_t)arg;
  office_slot_t *s = &S.slots[i];
  tk_client_stats_t st;
  tk_client_opts_t opts;
  tk_err_t err;
  tk_err_clear(&err);
  memset(&st, 0, sizeof st);
  memset(&opts, 0, sizeof opts);
  opts.mode = TK_CLIENT_SYNC;
  opts.timeout_ms = 120000;
  pthread_barrier_wait(&S.barrier);
  double t0 = bench_now();
  s->rc = tk_client_run(s->o, &opts, &st, &err);
  s->seconds = bench_now() - t0;
  if (s->rc == 0 && st.nrejected > 0) {
    s->rc = TK_EINVAL;
    snprintf(s->msg, sizeof s->msg, "the hub rejected %zu revisions", st.nrejected);
  } else if (s->rc) {
    snprintf(s->msg, sizeof s->msg, "%s", tk_err_str(&err));
  }
  s->sent = st.sent;
  s->received = st.received;
  tk_client_stats_free(&st);
  return NULL;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int run_offices(const char *tokens, long threads, long hub_pid)
{
  FILE *f = fopen(tokens, "r");
  int ret = 2;
  pthread_t *tids = NULL;
  double *secs = NULL;
  if (!f) {
    fprintf(stderr, "bench_swarm: cannot read %s: %s\n", tokens, strerror(errno));
    return 2;
  }
  if (mkdir(S.dir, 0700) != 0 && errno != EEXIST) {
    fprintf(stderr, "bench_swarm: cannot create %s: %s\n", S.dir, strerror(errno));
    goto done;
  }
  S.slots = calloc(MAX_OFFICES, sizeof *S.slots);
  if (!S.slots) goto done;
  char line[TK_TOKEN_MAX_TEXT + 2];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0]) continue;
    if (S.n == MAX_OFFICES) {
      fprintf(stderr, "bench_swarm: more than %d tokens\n", MAX_OFFICES);
      goto done;
    }
    if (strlen(line) >= sizeof S.slots[0].token) {
      fprintf(stderr, "bench_swarm: a token in %s is too long\n", tokens);
      goto done;
    }
    memcpy(S.slots[S.n++].token, line, strlen(line) + 1);
  }
  if (S.n == 0) {
    fprintf(stderr, "bench_swarm: no tokens in %s\n", tokens);
    goto done;
  }
  tids = calloc((size_t)S.n, sizeof *tids);
  secs = calloc((size_t)S.n, sizeof *secs);
  if (!tids || !secs) goto done;

  /* setup: create, unlock, write, enroll */
  double t0 = bench_now();
  long nt = threads < S.n ? threads : S.n;
  for (long t = 0; t < nt; t++)
    if (pthread_create(&tids[t], NULL, setup_worker, NULL) != 0) {
      fprintf(stderr, "bench_swarm: cannot start a thread\n");
      exit(2);
    }
  for (long t = 0; t < nt; t++)
    pthread_join(tids[t], NULL);
  double setup_s = bench_now() - t0;
  long setup_failed = 0;
  for (long i = 0; i < S.n; i++)
    setup_failed += S.slots[i].failed;
  printf("swarm_offices %ld\nswarm_setup_s %.3f\nswarm_setup_errors %ld\n", S.n, setup_s,
         setup_failed);
  printf("swarm_setup_create_ms %.0f\nswarm_setup_unlock_ms %.0f\nswarm_setup_write_ms "
         "%.0f\n"
         "swarm_setup_enroll_ms %.0f\n",
         (double)S.us_create / 1e3 / (double)S.n, (double)S.us_unlock / 1e3 / (double)S.n,
         (double)S.us_write / 1e3 / (double)S.n, (double)S.us_enroll / 1e3 / (double)S.n);
  fflush(stdout);

  /* all at once */
  long nsync = S.n - setup_failed;
  if (pthread_barrier_init(&S.barrier, NULL, (unsigned)nsync + 1) != 0) goto done;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 512u << 10);
  long started = 0;
  for (long i = 0; i < S.n; i++) {
    if (S.slots[i].failed) continue;
    if (pthread_create(&tids[started], &attr, sync_worker, (void *)(intptr_t)i) != 0) {
      fprintf(stderr, "bench_swarm: cannot start sync thread %ld\n", i);
      exit(2);
    }
    started++;
  }
  pthread_attr_destroy(&attr);
  double cpu0 = -1;
  if (hub_pid > 0) {
    proc_reset_hwm(hub_pid);
    cpu0 = proc_cpu_s(hub_pid);
  }
  t0 = bench_now();
  pthread_barrier_wait(&S.barrier);
  for (long t = 0; t < started; t++)
    pthread_join(tids[t], NULL);
  double total = bench_now() - t0;
  double cpu1 = hub_pid > 0 ? proc_cpu_s(hub_pid) : -1;
  long errors = 0, k = 0;
  uint64_t sent = 0, received = 0;
  for (long i = 0; i < S.n; i++) {
    office_slot_t *s = &S.slots[i];
    if (s->failed) continue;
    if (s->rc) {
      errors++;
      show_error(i, "sync", s->msg);
    }
    sent += s->sent;
    received += s->received;
    secs[k++] = s->seconds;
  }
  qsort(secs, (size_t)k, sizeof *secs, cmp_double);
  printf("swarm_sync_errors %ld\nswarm_total_s %.3f\nswarm_median_s %.3f\n"
         "swarm_max_s %.3f\nswarm_pushed %llu\nswarm_pulled %llu\n",
         errors, total, k ? secs[k / 2] : 0.0, k ? secs[k - 1] : 0.0,
         (unsigned long long)sent, (unsigned long long)received);
  if (hub_pid > 0)
    printf("swarm_hub_hwm_kb %ld\nswarm_hub_rss_kb %ld\nswarm_hub_cpu_s %.2f\n",
           proc_status_kb(hub_pid, "VmHWM"), proc_status_kb(hub_pid, "VmRSS"),
           cpu1 >= 0 && cpu0 >= 0 ? cpu1 - cpu0 : -1.0);
  ret = 0;
done:
  fclose(f);
  if (S.slots)
    for (long i = 0; i < S.n; i++)
      tk_office_close(S.slots[i].o);
  free(S.slots);
  free(tids);
  free(secs);
  return ret;
}

/* ---- idle mode -------------------------------------------------------- */

static struct {
  long want, ready, closed_before_ready, open;
  long next, inflight, max_inflight; /* connections started; handshakes going on */
  uv_loop_t *loop;
  tk_tls_t *tls;
  char host[TK_TOKEN_MAX_ADDR + 1];
  int port;
  uv_timer_t hold;
  tk_conn_t **conns;
  long nconns;
  long hub_pid, hub_rss_kb;
  int holding;
} I;

static void idle_maybe_hold(void);
static void idle_start_more(void);

static void idle_on_ready(tk_conn_t *c, const uint8_t peer_spki[TK_HASH_LEN])
{
  (void)peer_spki;
  tk_conn_set_data(c, (void *)1);
  I.ready++;
  I.inflight--;
  idle_start_more();
  idle_maybe_hold();
}

static void idle_on_frame(tk_conn_t *c, tk_slice_t payload)
{
  (void)c;
  (void)payload;
}

static void idle_on_close(tk_conn_t *c, int reason)
{
  (void)reason;
  for (long i = 0; i < I.nconns; i++)
    if (I.conns[i] == c) I.conns[i] = NULL;
  I.open--;
  if (!tk_conn_data(c)) {
    I.closed_before_ready++;
    I.inflight--;
    idle_start_more();
    idle_maybe_hold();
  }
}

/* Starts connections until max_inflight handshakes are going on. */
static void idle_start_more(void)
{
  tk_conn_opts_t opts = {.handshake_timeout_ms = 60000, .idle_timeout_ms = 600000};
  tk_conn_cbs_t cbs = {idle_on_ready, idle_on_frame, idle_on_close, NULL};
  tk_err_t err;
  while (I.next < I.want && I.inflight < I.max_inflight) {
    long i = I.next++;
    tk_err_clear(&err);
    if (tk_conn_connect(I.loop, I.host, I.port, I.tls, &opts, &cbs, NULL, &I.conns[i],
                        &err)) {
      if (I.closed_before_ready++ < 3)
        fprintf(stderr, "bench_swarm: connect %ld: %s\n", i, tk_err_str(&err));
      continue;
    }
    I.nconns++;
    I.open++;
    I.inflight++;
  }
}

static void idle_on_hold(uv_timer_t *t)
{
  (void)t;
  if (I.hub_pid > 0) I.hub_rss_kb = proc_status_kb(I.hub_pid, "VmRSS");
  for (long i = 0; i < I.nconns; i++)
    if (I.conns[i]) tk_conn_close(I.conns[i], 0, NULL);
  uv_close((uv_handle_t *)&I.hold, NULL);
}

static void idle_maybe_hold(void)
{
  if (I.holding || I.ready + I.closed_before_ready < I.want) return;
  I.holding = 1;
  uv_timer_start(&I.hold, idle_on_hold, 1000, 0);
}

static int run_idle(const char *addr, long n, long inflight, long hub_pid)
{
  int ret = 2;
  tk_identity_t *id = NULL;
  tk_tls_t *tls = NULL;
  tk_err_t err;
  tk_err_clear(&err);
  if (tk_addr_split(addr, I.host, &I.port) != 0) {
    fprintf(stderr, "bench_swarm: '%s' is not HOST:PORT\n", addr);
    return 2;
  }
  uv_loop_t *loop = uv_default_loop();
  I.want = n;
  I.max_inflight = inflight;
  I.hub_pid = hub_pid;
  I.conns = calloc((size_t)n, sizeof *I.conns);
  if (!I.conns) return 2;
  if (tk_identity_generate(&id, "idle-bench", &err) || tk_tls_new(&tls, id, 0, &err)) {
    fprintf(stderr, "bench_swarm: %s\n", tk_err_str(&err));
    goto done;
  }
  uv_timer_init(loop, &I.hold);
  long hub_kb0 = hub_pid > 0 ? proc_status_kb(hub_pid, "VmRSS") : -1;
  double t0 = bench_now();
  I.loop = loop;
  I.tls = tls;
  idle_start_more();
  idle_maybe_hold();
  uv_run(loop, UV_RUN_DEFAULT);
  printf("idle_connections %ld\nidle_ready %ld\nidle_failed %ld\nidle_connect_s %.3f\n"
         "idle_hub_rss_before_kb %ld\nidle_hub_rss_kb %ld\n",
         n, I.ready, I.closed_before_ready, bench_now() - t0 - 1.0, hub_kb0,
         I.hub_rss_kb);
  ret = 0;
done:
  uv_loop_close(loop);
  tk_tls_free(tls);
  tk_identity_free(id);
  free(I.conns);
  return ret;
}

int main(int argc, char **argv)
{
  long hub_pid = 0;
  signal(SIGPIPE, SIG_IGN);
  if (tk_crypto_init() != 0) return 2;
  tk_log_level = TK_LOG_ERROR;
  if (argc >= 5 && !strcmp(argv[1], "offices")) {
    long threads = strtol(argv[4], NULL, 10);
    for (int i = 5; i < argc; i++) {
      if (!strcmp(argv[i], "--write") && i + 1 < argc)
        S.write = strtol(argv[++i], NULL, 10);
      else if (!strcmp(argv[i], "--hub-pid") && i + 1 < argc)
        hub_pid = strtol(argv[++i], NULL, 10);
      else if (!strcmp(argv[i], "--prefix") && i + 1 < argc)
        S.prefix = argv[++i];
      else
        goto usage;
    }
    S.dir = argv[2];
    if (!S.prefix) S.prefix = "o";
    S.pass = getenv("TUNDUK_PASSPHRASE");
    if (!S.pass) {
      fprintf(stderr, "bench_swarm: set TUNDUK_PASSPHRASE\n");
      return 2;
    }
    if (threads < 1 || threads > 64 || S.write < 0 || S.write > 10000) goto usage;
    return run_offices(argv[3], threads, hub_pid);
  }
  if (argc >= 4 && !strcmp(argv[1], "idle")) {
    long n = strtol(argv[3], NULL, 10), inflight = 1000000;
    for (int i = 4; i < argc; i++) {
      if (!strcmp(argv[i], "--hub-pid") && i + 1 < argc)
        hub_pid = strtol(argv[++i], NULL, 10);
      else if (!strcmp(argv[i], "--inflight") && i + 1 < argc)
        inflight = strtol(argv[++i], NULL, 10);
      else
        goto usage;
    }
    if (n < 1 || n > 20000 || inflight < 1) goto usage;
    return run_idle(argv[2], n, inflight, hub_pid);
  }
usage:
  fprintf(
      stderr,
      "usage: %s offices DIR TOKENS THREADS [--write K] [--prefix P] [--hub-pid PID]\n"
      "       %s idle HOST:PORT N [--inflight M] [--hub-pid PID]\n",
      argv[0], argv[0]);
  return 2;
}
