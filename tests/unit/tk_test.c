/*
 * tk_test.c: the unit-test runner behind tk_test.h. Runs every case, or
 * only those named on the command line, and prints one line per case.
 */
#include "tk_test.h"

#include <stdlib.h>
#include <unistd.h>

#include "tk_crypto.h"

int tk_test_failed;
static char tmpdir[256];

static void remove_tmpdir(void)
{
  if (tmpdir[0] && !getenv("TK_KEEP_TMP")) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
  }
}

const char *tk_test_tmpdir(void)
{
  if (!tmpdir[0]) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/tk-unit-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
      perror("mkdtemp");
      exit(2);
    }
    atexit(remove_tmpdir);
  }
  return tmpdir;
}

int tk_test_run(const tk_test_case_t *cases, int argc, char **argv)
{
  int failures = 0, ran = 0;
  if (tk_crypto_init() != 0) {
    fprintf(stderr, "tk_crypto_init failed\n");
    return 2;
  }
  for (const tk_test_case_t *c = cases; c->name; c++) {
    if (argc > 1) {
      int wanted = 0;
      for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], c->name) == 0) wanted = 1;
      if (!wanted) continue;
    }
    tk_test_failed = 0;
    c->fn();
    ran++;
    printf("%s %s\n", tk_test_failed ? "FAIL" : "ok  ", c->name);
    if (tk_test_failed) failures++;
  }
  printf("%d passed, %d failed\n", ran - failures, failures);
  return failures ? 1 : 0;
}
