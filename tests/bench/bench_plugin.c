/*
 * bench_plugin.c: the cost of validating a record through the bundled
 * "case" content type (host field checks + case.lua's validate) on ~2 KB
 * case records, and of its summary. Prints a small table.
 *
 * usage: bench_plugin [N]   (N validate calls, default 20000)
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

int main(int argc, char **argv)
{
  long n = argc > 1 ? atol(argv[1]) : 20000;
  tk_plugin_set_t *s = NULL;
  tk_err_t e;
  tk_buf_t body = TK_BUF_INIT, out = TK_BUF_INIT;
  if (n < 1) n = 1;
  tk_log_level = TK_LOG_WARN;
  if (tk_plugin_set_new(&s, NULL) < 0 ||
      tk_plugin_set_load_dir(s, tk_office_plugins_bundled(), &e) < 0) {
    fprintf(stderr, "cannot load plugins from %s\n", tk_office_plugins_bundled());
    return 1;
  }
  if (make_case(&body, 1) < 0) return 1;
  tk_slice_t sl = TK_SLICE(body.p, body.n);
  if (tk_plugin_validate(s, "case", sl, &e) != 0) {
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
  printf("bench_plugin: bundled case.lua, record %zu bytes, N = %ld\n", body.n, n);
  printf("%-22s %12s %12s\n", "operation", "us/record", "records/s");
  printf("%-22s %12.2f %12.0f\n", "validate", (t1 - t0) / (double)n,
         (double)n / ((t1 - t0) / 1e6));
  printf("%-22s %12.2f %12.0f\n", "summary", (t2 - t1) / (double)n,
         (double)n / ((t2 - t1) / 1e6));
  tk_buf_free(&body);
  tk_buf_free(&out);
  tk_plugin_set_free(s);
  return 0;
}
