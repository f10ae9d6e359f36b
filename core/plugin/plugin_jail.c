/*
 * plugin_jail.c: the jail of a plugin worker process (contract in
 * tk_plugin_jail.h): fds, rlimits, no-new-privs, not dumpable, seccomp.
 *
 * Why these syscalls: a worker is a Lua VM computing on memory, reading
 * requests from and writing answers to one socket. glibc's malloc needs
 * brk, mmap, munmap, mremap, madvise (and mprotect for its non-main
 * arenas); its locks need futex; Lua's os.time and the host's deadline need
 * the clocks; stderr (/dev/null) may be written by a log line or an
 * abort message. Mapping or making memory executable is refused (the
 * PROT_EXEC bit is masked in the mmap and mprotect rules).
 *
 * Threads: the worker's only thread, once, before any plugin runs.
 */
#include "tk_plugin_jail.h"

#include <errno.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

static int limit(int what, rlim_t v, const char *name, tk_err_t *err)
{
  struct rlimit rl = {v, v};
  if (setrlimit(what, &rl) != 0)
    return tk_err_set(err, TK_EIO, "jail: setrlimit %s: %s", name, strerror(errno));
  return 0;
}

static int allow(scmp_filter_ctx ctx, int nr, unsigned n, const struct scmp_arg_cmp *a)
{
  return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n, a);
}

/* SCMP_A0() and friends leave datum_b out, which clang's
 * -Wmissing-field-initializers refuses. */
static struct scmp_arg_cmp arg_cmp(unsigned arg, enum scmp_compare op, scmp_datum_t a,
                                   scmp_datum_t b)
{
  struct scmp_arg_cmp c = {.arg = arg, .op = op, .datum_a = a, .datum_b = b};
  return c;
}

static int load_filter(int chan, tk_err_t *err)
{
  int rc = 0;
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (!ctx) return tk_err_set(err, TK_EIO, "jail: seccomp_init failed");
  static const int plain[] = {
      SCMP_SYS(exit),
      SCMP_SYS(exit_group),
      SCMP_SYS(brk),
      SCMP_SYS(munmap),
      SCMP_SYS(mremap),
      SCMP_SYS(madvise),
      SCMP_SYS(futex),
      SCMP_SYS(rt_sigreturn),
      SCMP_SYS(clock_gettime),
      SCMP_SYS(clock_getres),
      SCMP_SYS(gettimeofday),
      SCMP_SYS(time),
      SCMP_SYS(getpid),
#ifdef TK_SANITIZE
      /* The ASan/UBSan runtimes: signal stacks and handlers for their
       * reports, thread ids, and prctl for their dumpable checks. */
      SCMP_SYS(sigaltstack),
      SCMP_SYS(rt_sigaction),
      SCMP_SYS(rt_sigprocmask),
      SCMP_SYS(gettid),
      SCMP_SYS(tgkill),
      SCMP_SYS(sched_yield),
      SCMP_SYS(prctl),
#endif
  };
  for (size_t i = 0; i < sizeof plain / sizeof plain[0] && rc == 0; i++)
    rc = allow(ctx, plain[i], 0, NULL);
  struct scmp_arg_cmp on_chan = arg_cmp(0, SCMP_CMP_EQ, (scmp_datum_t)chan, 0);
  struct scmp_arg_cmp on_1 = arg_cmp(0, SCMP_CMP_EQ, 1, 0);
  struct scmp_arg_cmp on_2 = arg_cmp(0, SCMP_CMP_EQ, 2, 0);
  /* prot & PROT_EXEC == 0 */
  struct scmp_arg_cmp no_exec = arg_cmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
  if (rc == 0) rc = allow(ctx, SCMP_SYS(read), 1, &on_chan);
  if (rc == 0) rc = allow(ctx, SCMP_SYS(write), 1, &on_chan);
  if (rc == 0) rc = allow(ctx, SCMP_SYS(write), 1, &on_1);
  if (rc == 0) rc = allow(ctx, SCMP_SYS(write), 1, &on_2);
  if (rc == 0) rc = allow(ctx, SCMP_SYS(writev), 1, &on_2);
  if (rc == 0) rc = allow(ctx, SCMP_SYS(mmap), 1, &no_exec);
  if (rc == 0) rc = allow(ctx, SCMP_SYS(mprotect), 1, &no_exec);
  if (rc != 0) {
    rc = tk_err_set(err, TK_EIO, "jail: seccomp rule: %s", strerror(-rc));
    goto done;
  }
  if ((rc = seccomp_load(ctx)) != 0)
    rc = tk_err_set(err, TK_EIO, "jail: seccomp_load: %s", strerror(-rc));
done:
  seccomp_release(ctx);
  return rc;
}

int tk_plugin_jail_enter(int chan, tk_err_t *err)
{
  int rc;
  if (chan <= 2) return tk_err_set(err, TK_EINVAL, "jail: channel fd %d", chan);
  /* fds: only 0-2 (/dev/null, opened by the parent) and the channel. */
  for (int fd = 3; fd < chan; fd++)
    close(fd);
  closefrom(chan + 1);
  if ((rc = limit(RLIMIT_NOFILE, (rlim_t)chan + 1, "NOFILE", err)) < 0) return rc;
  if ((rc = limit(RLIMIT_NPROC, 0, "NPROC", err)) < 0) return rc;
  if ((rc = limit(RLIMIT_CORE, 0, "CORE", err)) < 0) return rc;
  if ((rc = limit(RLIMIT_FSIZE, 0, "FSIZE", err)) < 0) return rc;
  if ((rc = limit(RLIMIT_MEMLOCK, 0, "MEMLOCK", err)) < 0) return rc;
  if ((rc = limit(RLIMIT_MSGQUEUE, 0, "MSGQUEUE", err)) < 0) return rc;
  if ((rc = limit(RLIMIT_CPU, TK_PLUGIN_JAIL_CPU_S, "CPU", err)) < 0) return rc;
#ifndef TK_SANITIZE
  if ((rc = limit(RLIMIT_AS, (rlim_t)TK_PLUGIN_JAIL_MEM, "AS", err)) < 0) return rc;
#endif
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return tk_err_set(err, TK_EIO, "jail: no_new_privs: %s", strerror(errno));
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    return tk_err_set(err, TK_EIO, "jail: dumpable: %s", strerror(errno));
  return load_filter(chan, err);
}
