/*
 * test_thread.c - core/thread.c: the mask the runtime's threads start
 * with. The application's asynchronous signals are blocked there, the
 * synchronous ones are not, and SIGCHLD stays as the starting thread has
 * it while the program takes no handler for it (thread.h says why).
 */
#include <pthread.h>
#include <signal.h>

#include "core/thread.h"
#include "helper.h"

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

static void on_chld(int sig)
{
    (void)sig;
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
    set_chld(SIG_DFL);
    sigset_t m = started_mask();
    assert_true(sigismember(&m, SIGINT));
    assert_true(sigismember(&m, SIGTERM));
    assert_true(sigismember(&m, SIGALRM));
    assert_true(sigismember(&m, SIGUSR1));
    assert_false(sigismember(&m, SIGSEGV));
    assert_false(sigismember(&m, SIGBUS));
    assert_false(sigismember(&m, SIGFPE));
    /* Unhandled, so the kernel drops a child's SIGCHLD at once. */
    assert_false(sigismember(&m, SIGCHLD));
    set_chld(SIG_IGN);
    m = started_mask();
    assert_false(sigismember(&m, SIGCHLD));
    set_chld(SIG_DFL);
}

/* The program's handler runs on its own threads, never on the runtime's. */
static void a_chld_handler_keeps_it_blocked(void **state)
{
    (void)state;
    set_chld(on_chld);
    sigset_t m = started_mask();
    assert_true(sigismember(&m, SIGCHLD));
    set_chld(SIG_DFL);
}

/* A thread that blocks SIGCHLD (the program reads it with signalfd or
 * sigwaitinfo) starts runtime threads that block it too: one of them
 * taking it would drop it. */
static void a_blocking_caller_keeps_it_blocked(void **state)
{
    (void)state;
    set_chld(SIG_DFL);
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, &old);
    sigset_t m = started_mask();
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    assert_true(sigismember(&m, SIGCHLD));
    /* qv__signals_block (a landing, a fork) blocks it whatever the
     * disposition. */
    qv__signals_block(&old);
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    assert_true(sigismember(&now, SIGCHLD));
    assert_false(sigismember(&now, SIGSEGV));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(async_blocked_sync_not),
        cmocka_unit_test(a_chld_handler_keeps_it_blocked),
        cmocka_unit_test(a_blocking_caller_keeps_it_blocked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
