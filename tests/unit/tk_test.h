/*
 * tk_test.h: the minimal unit-test runner. A test file defines
 * TK_TESTS(...) listing its test functions; each runs in order and a failed
 * CHECK prints file:line and the expression, marks the test failed and
 * returns from it. The process exits non-zero if any test failed.
 */
#ifndef TK_TEST_H
#define TK_TEST_H

#include <stdio.h>
#include <string.h>

extern int tk_test_failed;

#define CHECK(x)                                                                         \
  do {                                                                                   \
    if (!(x)) {                                                                          \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #x);              \
      tk_test_failed = 1;                                                                \
      return;                                                                            \
    }                                                                                    \
  } while (0)

/* CHECK_RC(expr, want): expr returns an int rc that must equal want. */
#define CHECK_RC(x, want)                                                                \
  do {                                                                                   \
    int rc_ = (x);                                                                       \
    if (rc_ != (want)) {                                                                 \
      fprintf(stderr, "%s:%d: %s returned %d, want %d\n", __FILE__, __LINE__, #x, rc_,   \
              (int)(want));                                                              \
      tk_test_failed = 1;                                                                \
      return;                                                                            \
    }                                                                                    \
  } while (0)

typedef struct tk_test_case {
  const char *name;
  void (*fn)(void);
} tk_test_case_t;

int tk_test_run(const tk_test_case_t *cases, int argc, char **argv);

#define TK_TEST(fn)                                                                      \
  {                                                                                      \
#fn, fn                                                                              \
  }
#define TK_TESTS(...)                                                                    \
  int main(int argc, char **argv)                                                        \
  {                                                                                      \
    static const tk_test_case_t cases_[] = {__VA_ARGS__, {NULL, NULL}};                  \
    return tk_test_run(cases_, argc, argv);                                              \
  }

/* A fresh empty directory under $TMPDIR for this test; removed at exit
 * unless TK_KEEP_TMP is set. Returns a static path. */
const char *tk_test_tmpdir(void);

#endif
