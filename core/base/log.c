/*
 * log.c: one-line, levelled log records on stderr. The level is set once at
 * start-up (tk_log_level); TK_LOG checks it before formatting. Any thread:
 * each record is written with a single fputs of a preformatted line.
 */
#include "tk_common.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int tk_log_level = TK_LOG_INFO;

static const char *level_names[] = {"error", "warn", "info", "debug"};

void tk_log_write(int level, const char *subsys, const char *fmt, ...)
{
  char line[1024];
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(line, sizeof line,
                   "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: ", tm.tm_year + 1900,
                   tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec / 1000000,
                   level_names[level < 0   ? 0
                               : level > 3 ? 3
                                           : level],
                   subsys);
  if (n < 0) return;
  va_list ap;
  va_start(ap, fmt);
  if ((size_t)n < sizeof line) vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  size_t len = strlen(line);
  if (len + 1 < sizeof line) {
    line[len] = '\n';
    line[len + 1] = '\0';
  } else {
    line[sizeof line - 2] = '\n';
  }
  fputs(line, stderr);
}

int tk_log_level_parse(const char *s)
{
  for (int i = 0; i < 4; i++)
    if (strcmp(s, level_names[i]) == 0) return i;
  return -1;
}
