/*
 * bench_plugin.c: the cost of a plugin call through the bundled plugins on
 * ~2 KB case records: validate (host field checks + case.lua's validate),
 * summary, and the moderation rules on metadata only (a hub) and with the
 * record (an office holding the key). Each in-process (tk_plugin_set_new)
 * and in a jailed worker process (tk_plugin_set_new_jailed, what tunduk and
 * tundukd use): the difference is the price of the jail per call (a round
 * trip over a socketpair and the JSON text crossing it). Then the same
 * moderations in batches of 500 (tk_plugin_moderate_batch, what the hub's
 * moderation job and the office's pull use): per revision.
 *
 * usage: bench_plugin [N] [--kv]   (N calls of each, default 20000; --kv
 * prints key=value lines for tests/bench/run.sh instead of the table)
 * Plugins come from $TUNDUK_PLUGINS, else the source tree's plugins/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tk_office_plugins.h"

static double now_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* A realistic case of about 2 KB: hearings, violations, linked records. */
static int make_case(tk_buf_t *b, int i)
{
  int rc = tk_buf_printf(
      b,
      "{\"case_number\":\"OSH-2026-%04d\",\"client_alias\":\"Client A-%d\","
      "\"title\":\"Beaten at the district police station after arrest at the market\","
      "\"office\":\"Osh\",\"region\":\"Osh oblast\",\"court\":\"Kara-Suu district "
      "court\","
      "\"proceeding\":\"criminal\",\"article\":\"Criminal Code art. 143 (torture)\","
      "\"violations\":[\"torture\",\"arbitrary_detention\",\"fair_trial\"],"
      "\"status\":\"in_court\",\"opened\":\"2026-03-02\",\"lawyer\":\"S. Latipov\","
      "\"appeals\":[\"0123456789abcdef0123456789abcdef\","
      "\"fedcba9876543210fedcba9876543210\"],"
      "\"testimonies\":[\"00112233445566778899aabbccddeeff\"],\"hearings\":[",
      i, i);
  for (int h = 0; !rc && h < 11; h++)
    rc = tk_buf_printf(b,
                       "%s{\"date\":\"2026-%02d-%02d\",\"court\":\"Kara-Suu district "
                       "court\",\"outcome\":\"postponed: the forensic report is still "
                       "missing\"}",
                       h ? "," : "", 4 + h % 8, 1 + h);
  if (!rc)
    rc = tk_buf_printf(b, "],\"notes\":\"%s\"}",
                       "Forensic examination requested twice; the investigator refused. "
                       "The family was not informed of the transfer. Medical records "
                       "from the pre-trial centre were requested on 2026-04-02.");
  return rc;
}

typedef struct row {
  const char *name;
  double us[2]; /* in-process, worker */
} row_t;

#define BATCH 500

/* Runs the six operations n times on s; us per call into rows[k].us[col]. */
static int measure(tk_plugin_set_t *s, tk_slice_t sl, long n, row_t *rows, int col)
{
  tk_err_t e;
  tk_buf_t out = TK_BUF_INIT;
  tk_plugin_meta_t m = {
      "0123456789abcdef0123456789abcdef",
      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
      "case",
      "cases",
      "AAAA-BBBB",
      1,
      2200,
      1,
      0};
  tk_plugin_verdict_t v;
  if (tk_plugin_validate(s, "case", sl, &e) != 0) { /* warm: starts the worker */
    fprintf(stderr, "sample invalid: %s\n", e.msg);
    return 1;
  }
  double t0 = now_us();
  for (long i = 0; i < n; i++)
    if (tk_plugin_validate(s, "case", sl, &e) != 0) return 1;
  double t1 = now_us();
  for (long i = 0; i < n; i++) {
    out.n = 0;
    if (tk_plugin_summary(s, "case", sl, &out, &e) != 0) return 1;
  }
  double t2 = now_us();
  for (long i = 0; i < n; i++)
    if (tk_plugin_moderate(s, &m, (tk_slice_t){NULL, 0}, &v) != 0) return 1;
  double t3 = now_us();
  for (long i = 0; i < n; i++)
    if (tk_plugin_moderate(s, &m, sl, &v) != 0) return 1;
  double t4 = now_us();
  rows[0].us[col] = (t1 - t0) / (double)n;
  rows[1].us[col] = (t2 - t1) / (double)n;
  rows[2].us[col] = (t3 - t2) / (double)n;
  rows[3].us[col] = (t4 - t3) / (double)n;
  /* The same n moderations as batches of BATCH (tk_plugin_moderate_batch:
   * about one worker request per rule and batch). */
  static tk_plugin_item_t items[BATCH];
  static tk_plugin_verdict_t vs[BATCH];
  double t5 = 0, t6 = 0;
  for (int rec = 0; rec < 2; rec++) {
    for (int i = 0; i < BATCH; i++)
      items[i] = (tk_plugin_item_t){&m, rec ? sl : (tk_slice_t){NULL, 0}, NULL, NULL};
    double b0 = now_us();
    for (long done = 0; done < n; done += BATCH)
      if (tk_plugin_moderate_batch(
              s, items, n - done < BATCH ? (size_t)(n - done) : BATCH, 0, vs) != 0)
        return 1;
    *(rec ? &t6 : &t5) = now_us() - b0;
  }
  rows[4].us[col] = t5 / (double)n;
  rows[5].us[col] = t6 / (double)n;
  tk_buf_free(&out);
  return 0;
}

int main(int argc, char **argv)
{
  long n = 20000;
  int kv = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--kv") == 0)
      kv = 1;
    else
      n = atol(argv[i]);
  }
  tk_err_t e;
  tk_buf_t body = TK_BUF_INIT;
  row_t rows[6] = {{"validate", {0, 0}},
                   {"summary", {0, 0}},
                   {"moderation (metadata)", {0, 0}},
                   {"moderation (record)", {0, 0}},
                   {"batch of 500 (metadata)", {0, 0}},
                   {"batch of 500 (record)", {0, 0}}};
  if (n < 1) n = 1;
  tk_log_level = TK_LOG_WARN;
  if (make_case(&body, 1) < 0) return 1;
  tk_slice_t sl = TK_SLICE(body.p, body.n);
  size_t nrules = 0;
  for (int col = 0; col < 2; col++) {
    tk_plugin_set_t *s = NULL;
    int rc = col == 0 ? tk_plugin_set_new(&s, NULL)
                      : tk_plugin_set_new_jailed(&s, NULL, 1, &e);
    if (rc < 0 || tk_plugin_set_load_dir(s, tk_office_plugins_bundled(), &e) < 0) {
      fprintf(stderr, "cannot load plugins from %s\n", tk_office_plugins_bundled());
      return 1;
    }
    nrules = tk_plugin_set_count(s, TK_PLUGIN_MODERATION);
    if (measure(s, sl, n, rows, col) != 0) return 1;
    tk_plugin_set_free(s);
  }
  if (kv) {
    static const char *const keys[] = {"validate",
                                       "summary",
                                       "moderate_meta",
                                       "moderate_rec",
                                       "moderate_batch_meta",
                                       "moderate_batch_rec"};
    for (int k = 0; k < 6; k++)
      printf("plugin_%s_inproc_us=%.2f\nplugin_%s_worker_us=%.2f\n", keys[k],
             rows[k].us[0], keys[k], rows[k].us[1]);
    printf("plugin_rules=%zu\nplugin_record_bytes=%zu\n", nrules, body.n);
  } else {
    printf("bench_plugin: bundled plugins (%zu moderation rules), case record %zu bytes, "
           "N = "
           "%ld\n",
           nrules, body.n, n);
    printf("%-24s %14s %14s %10s\n", "operation", "in-process us", "worker us",
           "worker/in");
    for (int k = 0; k < 6; k++)
      printf("%-24s %14.2f %14.2f %10.2f\n", rows[k].name, rows[k].us[0], rows[k].us[1],
             rows[k].us[1] / rows[k].us[0]);
  }
  tk_buf_free(&body);
  return 0;
}
