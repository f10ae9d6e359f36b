/*
 * install.c: the install layout seen from the running program (contract in
 * tk_install.h). The relative paths come from CMakeLists.txt
 * (TK_REL_PLUGIN_DIR, TK_REL_WORKER_DIR: from bindir to the folder, e.g.
 * "../share/tunduk/plugins"); being relative they hold no path of the
 * machine that built the program.
 *
 * Threads: any; resolve() runs once.
 */
#include "tk_install.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TK_REL_PLUGIN_DIR
#define TK_REL_PLUGIN_DIR "../share/tunduk/plugins"
#endif
#ifndef TK_REL_WORKER_DIR
#define TK_REL_WORKER_DIR "../libexec/tunduk"
#endif
#define WORKER_NAME "tunduk-plugin-worker"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char plugin_dir[PATH_MAX], worker_path[PATH_MAX];

/* out = dir/rel[/name], or "" when it does not fit; with the links and
 * ".." resolved when it exists (logs and `plugin list` show
 * /usr/share/tunduk/plugins, not /usr/bin/../share/tunduk/plugins). out
 * holds PATH_MAX bytes. */
static void join(char *out, const char *dir, const char *rel, const char *name)
{
  char path[PATH_MAX];
  int n = snprintf(path, sizeof path, "%s/%s%s%s", dir, rel, name ? "/" : "",
                   name ? name : "");
  if (n < 0 || (size_t)n >= sizeof path) return;
  if (!realpath(path, out)) memcpy(out, path, (size_t)n + 1);
}

static void resolve(void)
{
  char self[PATH_MAX];
  /* /proc/self/exe: the program's real file (links resolved), wherever it
   * was installed or unpacked; argv[0] and $PATH can lie. */
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return;
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (!slash) return;
  *slash = 0;
  join(plugin_dir, self, TK_REL_PLUGIN_DIR, NULL);
  join(worker_path, self, TK_REL_WORKER_DIR, WORKER_NAME);
}

const char *tk_install_plugin_dir(void)
{
  pthread_once(&once, resolve);
  return plugin_dir;
}

const char *tk_install_worker_path(void)
{
  pthread_once(&once, resolve);
  return worker_path;
}
