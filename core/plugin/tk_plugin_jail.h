/*
 * tk_plugin_jail.h: the jail a plugin worker process enters before it reads
 * anything from its parent (plugin_jail.c). After tk_plugin_jail_enter the
 * process:
 *  - holds only fds 0, 1, 2 (the parent opened them on /dev/null) and the
 *    channel fd; every other fd is closed;
 *  - runs under rlimits: RLIMIT_AS TK_PLUGIN_JAIL_MEM (not in sanitizer
 *    builds: ASan reserves terabytes of shadow memory), RLIMIT_NOFILE
 *    channel + 1 (no new fd can exist), RLIMIT_NPROC 0, RLIMIT_CORE 0,
 *    RLIMIT_FSIZE 0, RLIMIT_MEMLOCK 0, RLIMIT_MSGQUEUE 0, RLIMIT_CPU
 *    TK_PLUGIN_JAIL_CPU_S;
 *  - has PR_SET_NO_NEW_PRIVS and is not dumpable (no core, no ptrace by
 *    its uid, /proc/<pid>/mem and /fd closed to others);
 *  - runs under a seccomp filter (libseccomp) whose default is to kill the
 *    process: allowed are read on the channel; write on the channel, 1 and
 *    2; writev on 2; exit, exit_group; brk, mmap and mprotect without
 *    PROT_EXEC, munmap, mremap, madvise; futex; rt_sigreturn;
 *    clock_gettime, clock_getres, gettimeofday, time; getpid. Sanitizer
 *    builds (TK_SANITIZE) add what the ASan/UBSan runtimes call: sigaltstack,
 *    rt_sigaction, rt_sigprocmask, gettid, tgkill, sched_yield, prctl.
 *    Nothing else: no open, no socket, no connect, no execve, no fork or
 *    clone, no kill, no ptrace.
 * Call it once, from the single thread of a process that will run nothing
 * but plugin code computing on memory and its channel.
 */
#ifndef TK_PLUGIN_JAIL_H
#define TK_PLUGIN_JAIL_H

#include "tk_common.h"

#define TK_PLUGIN_JAIL_MEM (512ull << 20) /* address space of a worker */
#define TK_PLUGIN_JAIL_CPU_S 600          /* CPU seconds a worker may use in all */

/* Enters the jail keeping channel_fd (> 2). On failure (TK_EIO with err
 * naming the step) the process must exit: it is not jailed. */
int tk_plugin_jail_enter(int channel_fd, tk_err_t *err);

#endif
