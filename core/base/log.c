/*
 * log.c: one-line, levelled log records on stderr. The level is set once at
 * start-up (tk_log_level); TK_LOG checks it before formatting. Any thread:
 * each record is written with a single fputs of a preformatted line.
 *
 * When stderr is the journal (a systemd service: $JOURNAL_STREAM names the
 * device and inode of the stream systemd connected, systemd.exec(5)), a
 * line starts with its syslog priority, "<4>warn hub: ...", which the
 * journal takes as the record's PRIORITY and strips, and carries no time of
 * its own (the journal stamps every record). Anywhere else (a terminal, a
 * file, a test) a line starts with its UTC time.
 */
#include "tk_common.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int tk_log_level = TK_LOG_INFO;

static const char *level_names[] = {"error", "warn", "info", "debug"};
/* syslog(3)'s LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, by our level. */
static const int level_priorities[] = {3, 4, 6, 7};

static pthread_once_t journal_once = PTHREAD_ONCE_INIT;
static int to_journal;

/* One decimal number of s up to end (a ':' or the NUL), into *v. */
static int parse_num(const char *s, const char **end, unsigned long long *v)
{
  char *e;
  if (*s < '0' || *s > '9') return -1;
  errno = 0;
  *v = strtoull(s, &e, 10);
  if (errno) return -1;
  *end = e;
  return 0;
}

/* Whether stderr is the stream $JOURNAL_STREAM ("DEV:INODE") names: a
 * child whose stderr was redirected elsewhere inherits the variable but
 * not the match, and keeps the plain format. */
static void journal_detect(void)
{
  const char *v = getenv("JOURNAL_STREAM"), *p;
  unsigned long long dev, ino;
  struct stat st;
  if (!v || parse_num(v, &p, &dev) != 0 || *p != ':' || parse_num(p + 1, &p, &ino) != 0 ||
      *p != '\0')
    return;
  if (fstat(STDERR_FILENO, &st) != 0) return;
  to_journal =
      (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void tk_log_write(int level, const char *subsys, const char *fmt, ...)
{
  char line[1024];
  int lv = level < 0 ? 0 : level > 3 ? 3 : level, n;
  pthread_once(&journal_once, journal_detect);
  if (to_journal) {
    n = snprintf(line, sizeof line, "<%d>%s %s: ", level_priorities[lv], level_names[lv],
                 subsys);
  } else {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof line,
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, level_names[lv], subsys);
  }
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
