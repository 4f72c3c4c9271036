/*
 * test_alone.c - whether a wrapped program's own threads have all ended
 * (host/src/core/alone.c), which decides when a program whose main ended
 * with pthread_exit exits: a thread of the program's taken for the
 * runtime's libraries', or one that cannot be read taken for gone, lets
 * the process exit while it still works. The program runs
 * (tests/wrap/app, test_wrap.c "mainexit", "mainkey", "mainsig") cover
 * main's side.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/alone.h"
#include "core/thread.h"
#include "helper.h"

static atomic_int g_gate, g_gate2;

/* ThreadSanitizer's own thread is neither the runtime's nor made while it
 * was: a process is never alone there. */
#ifdef __SANITIZE_THREAD__
#define SKIP_UNDER_TSAN() skip()
#else
#define SKIP_UNDER_TSAN() ((void)0)
#endif

/* Waits until the gate opens (arg NULL: g_gate; else the gate it
 * points to). */
static void *wait_gate(void *arg)
{
    atomic_int *gate = arg ? arg : &g_gate;
    while (!atomic_load(gate))
        usleep(1000);
    return NULL;
}

/* Starts n threads of 64 KiB stacks (hundreds of them) waiting on gate
 * (NULL: g_gate) into t. */
static void start_waiting(pthread_t *t, int n, atomic_int *gate)
{
    pthread_attr_t small;
    pthread_attr_init(&small);
    pthread_attr_setstacksize(&small, 64 * 1024);
    for (int i = 0; i < n; i++)
        assert_int_equal(pthread_create(&t[i], &small, wait_gate, gate), 0);
    pthread_attr_destroy(&small);
}

static void join_all(pthread_t *t, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

/* A thread of the program's made while the runtime is, by a thread that
 * blocks every signal (a program that blocks all in main and waits for
 * them with sigwait): the program's, though every asynchronous signal is
 * blocked in it; one made with the runtime's mask is the libraries'. */
static void blocking_all_made_meanwhile_is_the_programs(void **state)
{
    (void)state;
    SKIP_UNDER_TSAN();
    atomic_store(&g_gate, 0);
    qv__alone_before b;
    sigset_t old, all, during;
    qv__alone_begin(&b, &old);
    pthread_t lib, user;
    assert_int_equal(pthread_create(&lib, NULL, wait_gate, NULL), 0);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &during);
    assert_int_equal(pthread_create(&user, NULL, wait_gate, NULL), 0);
    pthread_sigmask(SIG_SETMASK, &during, NULL);
    qv__alone_end(&b, &old);
    assert_false(qv__alone()); /* user still runs */
    /* user ends; lib, the libraries' thread, is left */
    pthread_cancel(user);
    pthread_join(user, NULL);
    assert_true(qv__alone());
    atomic_store(&g_gate, 1);
    pthread_join(lib, NULL);
}

/* A library's thread that blocks every signal while it starts, for
 * longer than the window's looks (a loaded machine), then takes the mask
 * it was made with; then waits on g_gate. */
static void *slow_to_start(void *arg)
{
    (void)arg;
    sigset_t all, made;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &made);
    usleep(150 * 1000);
    pthread_sigmask(SIG_SETMASK, &made, NULL);
    return wait_gate(NULL);
}

/* Such a thread, made while the runtime is: still told the libraries'
 * once it has its mask (it counted as the program's for good, and a
 * process whose main ended never exited: test_remote under load). */
static void late_library_thread_is_told(void **state)
{
    (void)state;
    SKIP_UNDER_TSAN();
    atomic_store(&g_gate, 0);
    qv__alone_before b;
    sigset_t old;
    qv__alone_begin(&b, &old);
    pthread_t lib;
    assert_int_equal(pthread_create(&lib, NULL, slow_to_start, NULL), 0);
    qv__alone_end(&b, &old);
    bool early = qv__alone(); /* it still blocks every signal */
    usleep(300 * 1000);
    bool later = qv__alone();
    atomic_store(&g_gate, 1);
    pthread_join(lib, NULL);
    assert_false(early);
    assert_true(later);
}

/* A program with more threads than the runtime's first look could hold
 * (256) when it makes its runtime: the libraries' threads made then are
 * still told (none was). */
static void many_threads_before_still_tell(void **state)
{
    (void)state;
    SKIP_UNDER_TSAN();
    enum { MANY = 300 };
    atomic_store(&g_gate, 0);
    atomic_store(&g_gate2, 0);
    pthread_t user[MANY], lib;
    start_waiting(user, MANY, NULL);
    qv__alone_before b;
    sigset_t old;
    qv__alone_begin(&b, &old);
    start_waiting(&lib, 1, &g_gate2);
    qv__alone_end(&b, &old);
    bool alone = qv__alone();
    atomic_store(&g_gate, 1);
    join_all(user, MANY);
    bool after = qv__alone(); /* lib still runs */
    atomic_store(&g_gate2, 1);
    pthread_join(lib, NULL);
    assert_false(alone);
    assert_true(after);
}

/* More library threads than a fixed list held (PoCL makes one a core):
 * every one is told the libraries'. */
static void many_library_threads_are_all_told(void **state)
{
    (void)state;
    SKIP_UNDER_TSAN();
    enum { LIBS = 100 };
    atomic_store(&g_gate2, 0);
    pthread_t lib[LIBS];
    qv__alone_before b;
    sigset_t old;
    qv__alone_begin(&b, &old);
    start_waiting(lib, LIBS, &g_gate2);
    qv__alone_end(&b, &old);
    bool alone = qv__alone();
    atomic_store(&g_gate2, 1);
    join_all(lib, LIBS);
    assert_true(alone);
}

/* A thread's files that cannot be opened (every descriptor but one in
 * use) do not say that it is gone; one descriptor is enough to tell. */
static void one_descriptor_free_still_tells(void **state)
{
    (void)state;
    SKIP_UNDER_TSAN();
    atomic_store(&g_gate, 0);
    pthread_t user;
    assert_int_equal(pthread_create(&user, NULL, wait_gate, NULL), 0);
    struct rlimit was, rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
    rl = was;
    if (rl.rlim_cur > 256)
        rl.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int fds[256], n = 0;
    for (int fd; n < 256 && (fd = dup(2)) >= 0;)
        fds[n++] = fd;
    assert_true(n > 0);
    close(fds[--n]); /* one free */
    bool alone = qv__alone();
    atomic_store(&g_gate, 1);
    pthread_join(user, NULL);
    bool after = qv__alone();
    while (n)
        close(fds[--n]);
    setrlimit(RLIMIT_NOFILE, &was);
    assert_false(alone);
    assert_true(after);
}

/* A runtime's thread (named by qv__thread_name) that makes a thread, as
 * a wrapped function's code on a worker may: the new thread has the
 * worker's name but is the program's. */
static pthread_t g_child;
static atomic_int g_child_made;

static void *named_maker(void *arg)
{
    (void)arg;
    qv__thread_name("cpu", 0);
    assert_int_equal(pthread_create(&g_child, NULL, wait_gate, NULL), 0);
    atomic_store(&g_child_made, 1);
    while (!atomic_load(&g_gate))
        usleep(1000);
    return NULL;
}

static void thread_of_a_runtime_thread_is_the_programs(void **state)
{
    (void)state;
    SKIP_UNDER_TSAN();
    atomic_store(&g_gate, 0);
    pthread_t worker;
    assert_int_equal(pthread_create(&worker, NULL, named_maker, NULL), 0);
    while (!atomic_load(&g_child_made))
        usleep(1000);
    usleep(10000);
    bool alone = qv__alone(); /* the child, of the worker's name, runs */
    atomic_store(&g_gate, 1);
    pthread_join(g_child, NULL);
    pthread_join(worker, NULL);
    assert_false(alone);
    assert_true(qv__alone());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocking_all_made_meanwhile_is_the_programs),
        cmocka_unit_test(late_library_thread_is_told),
        cmocka_unit_test(one_descriptor_free_still_tells),
        cmocka_unit_test(many_threads_before_still_tell),
        cmocka_unit_test(many_library_threads_are_all_told),
        cmocka_unit_test(thread_of_a_runtime_thread_is_the_programs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
