/*
 * pid.c - getpid() for quiverd without a system call.
 *
 * libzmq checks whether the process forked (getpid() against the pid it
 * kept) at every signal between its threads: in quiverd, about nine
 * times a request between its socket thread and its I/O thread, each a
 * system call since glibc 2.25 stopped caching the pid, and a system call
 * is a trip through the hypervisor on a virtual machine. This definition
 * in the executable takes the place of libc's for libzmq (the executable
 * comes first in the dynamic linker's lookup); glibc's own calls go to
 * its internal one. The daemon never forks; a child of a fork (a
 * compiler an OpenCL platform starts) asks the kernel again.
 */
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "quiverd.h"

/* Not under AddressSanitizer or ThreadSanitizer: their runtimes call
 * getpid() too, from where instrumented code must not run. The daemon
 * behaves alike; only its system calls differ. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define QD_PID_LIBC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define QD_PID_LIBC 1
#endif
#endif

#ifdef QD_PID_LIBC
void qd_pid_keep(void)
{
}
#else
static pid_t pid_kept; /* 0: ask the kernel */

static void pid_forget(void)
{
    __atomic_store_n(&pid_kept, 0, __ATOMIC_RELAXED);
}

pid_t getpid(void)
{
    pid_t p = __atomic_load_n(&pid_kept, __ATOMIC_RELAXED);
    return p ? p : (pid_t)syscall(SYS_getpid);
}

void qd_pid_keep(void)
{
    if (pthread_atfork(NULL, NULL, pid_forget) == 0)
        __atomic_store_n(&pid_kept, (pid_t)syscall(SYS_getpid), __ATOMIC_RELAXED);
}
#endif
