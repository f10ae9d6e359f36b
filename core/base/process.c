/*
 * process.c: process-wide hardening every tunduk program applies first
 * thing in main (tk_common.h): no core dumps. A core file of `tunduk get`
 * or `tunduk show` holds the plaintext the command decrypted, and one of a
 * hub or an office holds its unlocked private keys; an office laptop that
 * is seized later must not have them on disk.
 *
 * Threads: call once, from main, before any other thread exists.
 */
#include "tk_common.h"

#include <sys/prctl.h>
#include <sys/resource.h>

int tk_process_no_core(void)
{
  int rc = 0;
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) rc = TK_EIO;
  /* Also covers a core_pattern pipe (which ignores RLIMIT_CORE) and keeps
   * other processes of the same user from ptrace or /proc/PID/mem. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) rc = TK_EIO;
  return rc;
}
