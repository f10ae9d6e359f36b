/*
 * tk_sysfilter.c: runs a program under the seccomp filter a systemd unit's
 * SystemCallFilter= and MemoryDenyWriteExecute=yes would give it, for the
 * test of dist/systemd/tundukd.service where systemd is not PID 1
 * (it_systemd_unit). systemd is not needed: the test expands the unit's
 * syscall groups with `systemd-analyze syscall-filter` into FILE.
 *
 *   tk_sysfilter --allow FILE [--mdwe] -- PROGRAM ARGS...
 *
 * FILE: the system calls allowed, one name a line (names unknown on this
 * architecture are skipped, as systemd skips them). Any other call kills
 * the whole process with SIGSYS: stricter than the unit's
 * SystemCallErrorNumber=EPERM, so a call the unit would refuse cannot go
 * unnoticed. --mdwe: as systemd's MemoryDenyWriteExecute=yes, mmap may not
 * ask for a page both writable and executable, mprotect and pkey_mprotect
 * may not make one executable, shmat may not ask for SHM_EXEC. Then
 * no_new_privs (NoNewPrivileges=yes; seccomp needs it) and exec: the
 * filter holds for PROGRAM and every process it starts, as in the unit.
 *
 * Threads: one.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <unistd.h>

#define MAX_NAME 64

static int allow_file(scmp_filter_ctx ctx, const char *path, int mdwe, int *count)
{
  FILE *f = fopen(path, "r");
  char name[MAX_NAME + 2];
  if (!f) {
    fprintf(stderr, "tk_sysfilter: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  while (fgets(name, sizeof name, f)) {
    name[strcspn(name, " \t\r\n")] = '\0';
    if (!name[0] || name[0] == '#') continue;
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue; /* not a call of this architecture */
    /* With --mdwe these get conditional rules below instead. */
    if (mdwe && (!strcmp(name, "mmap") || !strcmp(name, "mprotect") ||
                 !strcmp(name, "pkey_mprotect") || !strcmp(name, "shmat")))
      continue;
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    if (rc) {
      fprintf(stderr, "tk_sysfilter: %s: cannot allow %s: %s\n", path, name,
              strerror(-rc));
      fclose(f);
      return -1;
    }
    (*count)++;
  }
  fclose(f);
  return 0;
}

/* Whether name is in the allow file (for the --mdwe rules). */
static int listed(const char *path, const char *want)
{
  FILE *f = fopen(path, "r");
  char name[MAX_NAME + 2];
  int found = 0;
  if (!f) return 0;
  while (!found && fgets(name, sizeof name, f)) {
    name[strcspn(name, " \t\r\n")] = '\0';
    found = !strcmp(name, want);
  }
  fclose(f);
  return found;
}

static int mdwe_rules(scmp_filter_ctx ctx, const char *path)
{
  const scmp_datum_t wx = PROT_WRITE | PROT_EXEC;
  int rc = 0;
  if (listed(path, "mmap")) {
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, wx, 0));
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, wx, PROT_WRITE));
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, wx, PROT_EXEC));
  }
  if (listed(path, "mprotect"))
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  if (listed(path, "pkey_mprotect"))
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(pkey_mprotect), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
  if (listed(path, "shmat"))
    rc |= seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(shmat), 1,
                           SCMP_A2(SCMP_CMP_MASKED_EQ, SHM_EXEC, 0));
  if (rc) fprintf(stderr, "tk_sysfilter: cannot add the MemoryDenyWriteExecute rules\n");
  return rc ? -1 : 0;
}

int main(int argc, char **argv)
{
  const char *allow = NULL;
  int mdwe = 0, i, count = 0;
  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--allow") && i + 1 < argc)
      allow = argv[++i];
    else if (!strcmp(argv[i], "--mdwe"))
      mdwe = 1;
    else if (!strcmp(argv[i], "--")) {
      i++;
      break;
    } else
      break;
  }
  if (!allow || i >= argc) {
    fprintf(stderr, "usage: tk_sysfilter --allow FILE [--mdwe] -- PROGRAM ARGS...\n");
    return 2;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (!ctx) {
    fprintf(stderr, "tk_sysfilter: seccomp_init failed\n");
    return 1;
  }
  if (allow_file(ctx, allow, mdwe, &count) != 0 || (mdwe && mdwe_rules(ctx, allow) != 0))
    return 1;
  if (count == 0) {
    fprintf(stderr, "tk_sysfilter: %s allows no system call\n", allow);
    return 1;
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    fprintf(stderr, "tk_sysfilter: no_new_privs: %s\n", strerror(errno));
    return 1;
  }
  int rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc) {
    fprintf(stderr, "tk_sysfilter: seccomp_load: %s\n", strerror(-rc));
    return 1;
  }
  execvp(argv[i], argv + i);
  fprintf(stderr, "tk_sysfilter: cannot run %s: %s\n", argv[i], strerror(errno));
  return 127;
}
