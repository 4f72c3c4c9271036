/*
 * test_sigkeep.c - core/sigkeep.c: around a call into a library that
 * installs signal handlers (PoCL's LLVM), the program's handlers come
 * back; its one-shot handler that ran meanwhile stays spent; SIG_DFL and
 * SIG_IGN set meanwhile stay; overlapping calls of two threads put back
 * what was there before the first.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "core/sigkeep.h"
#include "helper.h"

static atomic_int g_ran;

static void program_handler(int sig)
{
    (void)sig;
    atomic_fetch_add(&g_ran, 1);
}

static void library_handler(int sig)
{
    (void)sig;
}

static void program_info(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)si, (void)uc;
}

static void set(int sig, void (*h)(int), int flags)
{
    struct sigaction a = {0};
    a.sa_handler = h;
    a.sa_flags = flags;
    assert_int_equal(sigaction(sig, &a, NULL), 0);
}

static struct sigaction now(int sig)
{
    struct sigaction a;
    assert_int_equal(sigaction(sig, NULL, &a), 0);
    return a;
}

/* A library's handlers over the program's (plain, SA_SIGINFO, default):
 * the program's are back, with their flags. */
static void library_handlers_go(void **state)
{
    (void)state;
    set(SIGUSR1, program_handler, SA_RESTART);
    struct sigaction i = {0};
    i.sa_sigaction = program_info;
    i.sa_flags = SA_SIGINFO;
    assert_int_equal(sigaction(SIGUSR2, &i, NULL), 0);
    set(SIGHUP, SIG_DFL, 0);
    qv__sigkeep_enter();
    set(SIGUSR1, library_handler, SA_RESETHAND | SA_NODEFER);
    set(SIGUSR2, library_handler, SA_RESETHAND | SA_NODEFER);
    set(SIGHUP, library_handler, SA_RESETHAND | SA_NODEFER);
    assert_int_equal(qv__sigkeep_leave(), 3);
    struct sigaction a = now(SIGUSR1);
    assert_true(a.sa_handler == program_handler && (a.sa_flags & SA_RESTART) &&
                !(a.sa_flags & SA_RESETHAND));
    a = now(SIGUSR2);
    assert_true((a.sa_flags & SA_SIGINFO) && a.sa_sigaction == program_info);
    a = now(SIGHUP);
    assert_true(a.sa_handler == SIG_DFL);
    set(SIGUSR1, SIG_DFL, 0);
    set(SIGUSR2, SIG_DFL, 0);
}

/* The program's one-shot handler (SA_RESETHAND) runs during the call: it
 * is spent, not armed again; SIG_IGN set during the call stays. */
static void one_shot_handler_stays_spent(void **state)
{
    (void)state;
#ifdef __SANITIZE_THREAD__
    /* ThreadSanitizer delivers signals itself, later, from a table of
     * handlers of its own: a one-shot handler's reset is not the kernel's. */
    skip();
#endif
    set(SIGUSR1, program_handler, SA_RESETHAND);
    set(SIGPIPE, SIG_DFL, 0);
    atomic_store(&g_ran, 0);
    qv__sigkeep_enter();
    assert_int_equal(raise(SIGUSR1), 0);
    set(SIGPIPE, SIG_IGN, 0);
    assert_int_equal(qv__sigkeep_leave(), 0);
    assert_int_equal(atomic_load(&g_ran), 1);
    assert_true(now(SIGUSR1).sa_handler == SIG_DFL);
    assert_true(now(SIGPIPE).sa_handler == SIG_IGN);
    set(SIGPIPE, SIG_DFL, 0);
}

/* Two threads' calls overlap; the second starts after the library
 * installed its handler in the first: the last to leave puts back the
 * program's, not the library's. */
static pthread_barrier_t g_bar;

static void *second_call(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&g_bar); /* the library's handler is in */
    qv__sigkeep_enter();
    pthread_barrier_wait(&g_bar);
    pthread_barrier_wait(&g_bar); /* the first call left */
    qv__sigkeep_leave();
    return NULL;
}

static void overlapping_calls_keep_the_first_state(void **state)
{
    (void)state;
    set(SIGUSR1, program_handler, 0);
    pthread_barrier_init(&g_bar, NULL, 2);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, second_call, NULL), 0);
    qv__sigkeep_enter();
    set(SIGUSR1, library_handler, SA_RESETHAND);
    pthread_barrier_wait(&g_bar);
    pthread_barrier_wait(&g_bar);             /* the second call entered */
    assert_int_equal(qv__sigkeep_leave(), 0); /* not the last */
    assert_true(now(SIGUSR1).sa_handler == library_handler);
    pthread_barrier_wait(&g_bar);
    pthread_join(t, NULL);
    assert_true(now(SIGUSR1).sa_handler == program_handler);
    pthread_barrier_destroy(&g_bar);
    set(SIGUSR1, SIG_DFL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(library_handlers_go),
        cmocka_unit_test(one_shot_handler_stays_spent),
        cmocka_unit_test(overlapping_calls_keep_the_first_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
