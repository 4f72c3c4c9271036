/*
 * test_thread.c - core/thread.c: the mask the runtime's threads start
 * with. The application's asynchronous signals are blocked there, SIGCHLD
 * too whatever its disposition, and the synchronous ones are not; so a
 * program that blocks SIGCHLD after the runtime's threads started, and
 * reads it with signalfd, gets every one of its children's (a runtime
 * thread that took one would drop it: review finding).
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/thread.h"
#include "helper.h"

extern char **environ;

static void *read_mask(void *arg)
{
    pthread_sigmask(SIG_BLOCK, NULL, (sigset_t *)arg);
    return NULL;
}

/* The mask of a thread that qv__thread_start starts from this one. */
static sigset_t started_mask(void)
{
    sigset_t m;
    sigemptyset(&m);
    pthread_t t;
    assert_int_equal(qv__thread_start(&t, NULL, read_mask, &m), 0);
    pthread_join(t, NULL);
    return m;
}

static void set_chld(void (*h)(int))
{
    struct sigaction a = {0};
    a.sa_handler = h;
    assert_int_equal(sigaction(SIGCHLD, &a, NULL), 0);
}

static void async_blocked_sync_not(void **state)
{
    (void)state;
    void (*dispositions[])(int) = {SIG_DFL, SIG_IGN};
    for (int i = 0; i < 2; i++) {
        set_chld(dispositions[i]);
        sigset_t m = started_mask();
        assert_true(sigismember(&m, SIGINT));
        assert_true(sigismember(&m, SIGTERM));
        assert_true(sigismember(&m, SIGALRM));
        assert_true(sigismember(&m, SIGUSR1));
        assert_true(sigismember(&m, SIGCHLD));
        assert_false(sigismember(&m, SIGSEGV));
        assert_false(sigismember(&m, SIGBUS));
        assert_false(sigismember(&m, SIGFPE));
    }
    set_chld(SIG_DFL);
}

static void *idle(void *arg)
{
    int *fd = arg;
    char c;
    (void)!read(*fd, &c, 1); /* until the test is done */
    return NULL;
}

static void signalfd_after_the_threads_gets_every_sigchld(void **state)
{
    (void)state;
    set_chld(SIG_DFL);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(qv__thread_start(&t[i], NULL, idle, &p[0]), 0);
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, &old);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC);
    assert_true(sfd >= 0);
    int got = 0;
    for (int i = 0; i < 20; i++) {
        pid_t pid;
        char *argv[] = {"true", NULL};
        assert_int_equal(posix_spawnp(&pid, "true", NULL, NULL, argv, environ), 0);
        struct pollfd pf = {sfd, POLLIN, 0};
        if (poll(&pf, 1, 5000) == 1) {
            struct signalfd_siginfo si;
            got += read(sfd, &si, sizeof si) == (ssize_t)sizeof si && si.ssi_pid == (uint32_t)pid;
        }
        assert_int_equal(waitpid(pid, NULL, 0), pid);
    }
    close(sfd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(p[1]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    close(p[0]);
    assert_int_equal(got, 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(async_blocked_sync_not),
        cmocka_unit_test(signalfd_after_the_threads_gets_every_sigchld),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
