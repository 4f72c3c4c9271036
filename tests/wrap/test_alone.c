/*
 * test_alone.c - whether a wrapped program's own threads have all ended
 * (host/src/wrap/alone.c), which decides when a program whose main ended
 * with pthread_exit exits: a thread of the program's that cannot be read,
 * taken for gone, let the process exit while it still worked. The program runs
 * (tests/wrap/app, test_wrap.c "mainexit", "mainkey", "mainsig") cover
 * main's side.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <unistd.h>

#include "helper.h"
#include "wrap/alone.h"

static atomic_int g_gate;

/* Waits until the gate opens. */
static void *wait_gate(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_gate))
        usleep(1000);
    return NULL;
}

/* A thread's files that cannot be opened (every descriptor but one in
 * use) do not say that it is gone; one descriptor is enough to tell. */
static void one_descriptor_free_still_tells(void **state)
{
    (void)state;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_descriptor_free_still_tells),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
