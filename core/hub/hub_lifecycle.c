/*
 * hub_lifecycle.c: the admin's device lifecycle and the daemon's habits
 * (tk_hub_admin.h, "lifecycle"): one `serve` per home (the lock file names
 * the pid holding it), unique device names, an enrolled device's access
 * changed in place, pending tokens listed and cancelled, devices renamed,
 * and the check of the address a token carries. The running hub sees every
 * change through the store (the access list version it polls). One thread
 * at a time per home.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "tk_hub_admin.h"

/* ---- one serve per home ------------------------------------------------------ */

int tk_hub_serve_lock(const char *home, int *fd, tk_err_t *err)
{
  char path[4096], text[32];
  int rc = tk_hub_lock(home, fd, err);
  if (rc == TK_EBUSY) {
    /* The holder wrote its pid; a lock of a process that died is gone with
     * it (flock), so a pid read here is a live holder (or a restore). */
    long pid = 0;
    if (tk_home_path(path, sizeof path, home, TK_HOME_HUB_LOCK, NULL) == 0) {
      int in = open(path, O_RDONLY | O_CLOEXEC);
      if (in >= 0) {
        ssize_t n = read(in, text, sizeof text - 1);
        close(in);
        if (n > 0) {
          text[n] = '\0';
          pid = strtol(text, NULL, 10);
        }
      }
    }
    if (pid > 0)
      return tk_err_set(err, TK_EBUSY,
                        "the hub in %s is already running (pid %ld holds %s); one "
                        "'tundukd serve' per home folder",
                        home, pid, path);
    return rc;
  }
  if (rc) return rc;
  int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
  if (ftruncate(*fd, 0) != 0 || pwrite(*fd, text, (size_t)n, 0) != n) {
    rc = tk_err_set(err, TK_EIO, "cannot write the pid into the lock file in %s: %s",
                    home, strerror(errno));
    close(*fd);
    *fd = -1;
  }
  return rc;
}
