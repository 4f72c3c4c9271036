/*
 * test_sched.c - the worker pool: worker counts, pinning on and off, no
 * spinning at all, idle workers that park instead of burning cores,
 * qv_wait_all beside a thread that keeps submitting, waits, backpressure
 * and shutdowns from several threads at once, and
 * the workers' own queues of replayed tasks (no task lost, none run
 * twice, no wake-up lost, a full queue spilling to the shared one).
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/internal.h"
#include "trace/recorder.h"
#include "devices/device.h"
#include "helper.h"
#include "quiver.h"

static void cpu_inc(const qv_call *c)
{
    (*(uint64_t *)c->ptr[0])++;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Runs n increments on one buffer with the given options; checks the sum. */
static void run_chain(qv_options *o, int n)
{
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(o, &rt), 0);
    qv_func *inc;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(rt, "inc", d, 1, &inc), 0);
    qv_func_set_cpu(inc, cpu_inc);
    uint64_t x = 0;
    qv_buf *b;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &b), 0);
    qv_arg a[] = { QV_BUF(b) };
    for (int i = 0; i < n; i++) {
        assert_int_equal(qv_submit(rt, inc, a, 1), 0);
        if (i % 1000 == 999) /* let workers go idle and park now and then */
            assert_int_equal(qv_buf_wait(b), 0);
    }
    assert_int_equal(qv_buf_unregister(b), 0);
    assert_int_equal(x, (uint64_t)n);
    qv_runtime_destroy(rt);
}

static void worker_counts(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.perfmodel_dir = "";
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    long ncores = sysconf(_SC_NPROCESSORS_ONLN);
    /* One per core (hwloc counts cores, sysconf hardware threads). */
    assert_true(qv_runtime_ncpu(rt) >= 1);
    assert_true((long)qv_runtime_ncpu(rt) <= ncores);
    qv_runtime_destroy(rt);
    o.ncpu = 5; /* more workers than cores is allowed */
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    assert_int_equal(qv_runtime_ncpu(rt), 5);
    qv_runtime_destroy(rt);
}

static void pinning_and_spinning(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.perfmodel_dir = "";
    o.ncpu = 3;
    run_chain(&o, 5000);
    o.pin = 0;
    run_chain(&o, 5000);
    o.spin_us = 0; /* park at once: every hand-off goes through a wake-up */
    run_chain(&o, 3000);
    o.record = 0;
    o.spin_us = 1000;
    run_chain(&o, 5000);
}

/* QV_SPIN_US: digits up to a second are taken; anything else is refused
 * with a warning and the options' spin stays ("-1" wrapped to 71 minutes
 * of spinning idle workers, "abc" read as 0: adversarial testing).
 * qv_options.spin_us past a second is refused. */
static void spin_from_the_environment(void **state)
{
    (void)state;
    static const struct {
        const char *env;
        unsigned want;
    } cases[] = {{"7", 7}, {"0", 0}, {"1000000", 1000000}, {"-1", 30}, {"abc", 30},
                 {"12x", 30}, {" 5", 30}, {"1000001", 30}, {"99999999999999999999", 30}};
    const char *old = getenv("QV_SPIN_US");
    char *keep = old ? strdup(old) : NULL;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("QV_SPIN_US", cases[i].env, 1);
        qv_options o;
        qv_options_init(&o);
        o.perfmodel_dir = "";
        o.ncpu = 1;
        o.opencl = 0;
        o.spin_us = 30;
        qv_runtime *rt;
        assert_int_equal(qv_runtime_create(&o, &rt), 0);
        if (rt->opts.spin_us != cases[i].want)
            fail_msg("QV_SPIN_US=%s: spin %u us, expected %u", cases[i].env,
                     rt->opts.spin_us, cases[i].want);
        qv_runtime_destroy(rt);
    }
    /* The option itself past a second: refused, as the variable is. */
    unsetenv("QV_SPIN_US");
    qv_options o;
    qv_options_init(&o);
    o.perfmodel_dir = "";
    o.ncpu = 1;
    o.opencl = 0;
    o.spin_us = 5000000;
    qv_runtime *rt = NULL;
    assert_int_equal(qv_runtime_create(&o, &rt), QV_EINVAL);
    assert_null(rt);
    assert_non_null(strstr(qv_last_error(), "qv_options.spin_us is 5000000"));
    o.spin_us = 1000000;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_runtime_destroy(rt);
    /* where QV_SPIN_US wins, the option is not looked at */
    setenv("QV_SPIN_US", "100", 1);
    o.spin_us = 5000000;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    assert_int_equal(rt->opts.spin_us, 100);
    qv_runtime_destroy(rt);
    unsetenv("QV_SPIN_US");
    if (keep)
        setenv("QV_SPIN_US", keep, 1);
    free(keep);
}

static atomic_uint ran_on; /* bit per CPU the calls ran on */

static void cpu_where(const qv_call *c)
{
    (void)c;
    int cpu = sched_getcpu();
    if (cpu >= 0 && cpu < 32)
        atomic_fetch_or(&ran_on, 1u << cpu);
}

/* A process confined to one CPU (taskset, numactl, an MPI binding): one
 * worker by default, pinned there (adversarial finding: two workers, one
 * pinned to CPU 0 outside the mask). */
static void workers_keep_to_the_affinity_mask(void **state)
{
    (void)state;
    cpu_set_t all, one;
    assert_int_equal(sched_getaffinity(0, sizeof all, &all), 0);
    int last = -1;
    for (int i = 0; i < 32; i++)
        if (CPU_ISSET(i, &all))
            last = i;
    if (CPU_COUNT(&all) < 2 || last < 0)
        skip();
    CPU_ZERO(&one);
    CPU_SET(last, &one);
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    qv_options o;
    qv_options_init(&o);
    o.perfmodel_dir = "";
    o.opencl = 0;
    o.pin = 1;
    qv_runtime *rt;
    int rc = qv_runtime_create(&o, &rt);
    sched_setaffinity(0, sizeof all, &all);
    assert_int_equal(rc, 0);
    assert_int_equal(qv_runtime_ncpu(rt), 1);
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "where", NULL, 0, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, cpu_where), 0);
    atomic_store(&ran_on, 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(qv_submit(rt, f, NULL, 0), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(atomic_load(&ran_on), 1u << last);
    qv_runtime_destroy(rt);
}

/* After a burst, an idle runtime uses (almost) no CPU: workers park. */
static void idle_workers_park(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.perfmodel_dir = "";
    o.ncpu = 2;
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_func *inc;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(rt, "inc", d, 1, &inc), 0);
    qv_func_set_cpu(inc, cpu_inc);
    uint64_t x = 0;
    qv_buf *b;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &b), 0);
    qv_arg a[] = { QV_BUF(b) };
    for (int i = 0; i < 2000; i++)
        assert_int_equal(qv_submit(rt, inc, a, 1), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    usleep(20000); /* past the spin window */
    double c0 = cpu_seconds();
    usleep(400000);
    double burnt = cpu_seconds() - c0;
    /* Two spinning workers would burn 0.8 s here. */
    assert_true(burnt < 0.05);
    /* Parked workers wake up for new work. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(qv_submit(rt, inc, a, 1), 0);
    assert_int_equal(qv_buf_unregister(b), 0);
    assert_int_equal(x, 2010);
    qv_runtime_destroy(rt);
}

/* qv_wait_all waits for what was submitted before it, not until the
 * runtime is idle: it returns while another thread keeps submitting. */
static atomic_bool keep_going;
static qv_runtime *busy_rt;
static qv_func *busy_f;
static void cpu_spin(const qv_call *c)
{
    (void)c;
    for (volatile int i = 0; i < 2000; i++)
        ;
}
static void *submitter(void *arg)
{
    (void)arg;
    while (atomic_load(&keep_going))
        if (qv_submit(busy_rt, busy_f, NULL, 0) != 0)
            return (void *)1;
    return NULL;
}

static void wait_all_with_a_busy_submitter(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 2;
    o.perfmodel_dir = "";
    o.record = 0;
    assert_int_equal(qv_runtime_create(&o, &busy_rt), 0);
    assert_int_equal(qv_func_create(busy_rt, "spin", NULL, 0, &busy_f), 0);
    qv_func_set_cpu(busy_f, cpu_spin);
    uint64_t counter = 0;
    qv_buf *b;
    qv_func *inc;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(busy_rt, "inc", d, 1, &inc), 0);
    qv_func_set_cpu(inc, cpu_inc);
    assert_int_equal(qv_buf_register(busy_rt, &counter, sizeof counter, &b), 0);
    atomic_store(&keep_going, true);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, submitter, NULL), 0);
    /* Each wait must cover the increment submitted before it, and return
     * although the other thread never stops submitting. */
    for (int i = 1; i <= 200; i++) {
        assert_int_equal(qv_submit(busy_rt, inc, (qv_arg[]){ QV_BUF(b) }, 1), 0);
        assert_int_equal(qv_wait_all(busy_rt), 0);
        assert_int_equal(qv_buf_wait(b), 0);
        assert_int_equal(counter, (uint64_t)i);
    }
    atomic_store(&keep_going, false);
    void *ret;
    pthread_join(th, &ret);
    assert_null(ret);
    qv_buf_unregister(b);
    qv_runtime_destroy(busy_rt);
}

/* Backpressure: with max_inflight 16, never more than 16 tasks are
 * submitted and not done; the submitter blocks instead of queueing. */
static atomic_uint done_count;
static void cpu_slow_done(const qv_call *c)
{
    (void)c;
    usleep(200);
    atomic_fetch_add(&done_count, 1);
}

static void submission_has_backpressure(void **state)
{
    (void)state;
    char pol[512];
    snprintf(pol, sizeof pol, "%s/bp.yaml", qv_test_scratch());
    FILE *fp = fopen(pol, "w");
    assert_non_null(fp);
    fputs("max_inflight: 16\ndevices: [cpu]\n", fp);
    fclose(fp);
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 2;
    o.perfmodel_dir = "";
    o.config = pol;
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "slow", NULL, 0, &f), 0);
    qv_func_set_cpu(f, cpu_slow_done);
    atomic_store(&done_count, 0);
    unsigned most = 0;
    for (unsigned i = 1; i <= 400; i++) {
        assert_int_equal(qv_submit(rt, f, NULL, 0), 0);
        unsigned ahead = i - atomic_load(&done_count);
        if (ahead > most)
            most = ahead;
    }
    assert_true(most <= 16);
    assert_true(most >= 8); /* it did queue some: the limit was reached */
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(atomic_load(&done_count), 400);
    qv_runtime_destroy(rt);
    /* Out of range in the policy: refused at load. */
    fp = fopen(pol, "w");
    fputs("max_inflight: 0\n", fp);
    fclose(fp);
    assert_int_equal(qv_runtime_create(&o, &rt), QV_EFORMAT);
    assert_non_null(strstr(qv_last_error(), "max_inflight"));
}

/* ---- waits, backpressure and shutdown from several threads ------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void cpu_sleep_ms(const qv_call *c)
{
    usleep(1000 * *(const unsigned *)c->ptr[0]);
}

static void cpu_set42(const qv_call *c)
{
    usleep(200 * 1000);
    *(int *)c->ptr[0] = 42;
}

typedef struct mt {
    qv_runtime *rt;
    qv_func *sleep_f, *set_f;
    qv_buf *held;
    int rc;
} mt;

static qv_runtime *mt_open(mt *m, const char *policy_text)
{
    char pol[512];
    snprintf(pol, sizeof pol, "%s/mt.yaml", qv_test_scratch());
    FILE *fp = fopen(pol, "w");
    assert_non_null(fp);
    fprintf(fp, "devices: [cpu]\n%s", policy_text);
    fclose(fp);
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 2;
    o.perfmodel_dir = "";
    o.config = pol;
    memset(m, 0, sizeof *m);
    assert_int_equal(qv_runtime_create(&o, &m->rt), 0);
    qv_arg_desc ds[] = { QV_ARG_SCALAR("ms", unsigned) };
    assert_int_equal(qv_func_create(m->rt, "sleep", ds, 1, &m->sleep_f), 0);
    qv_func_set_cpu(m->sleep_f, cpu_sleep_ms);
    qv_arg_desc dx[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(m->rt, "set42", dx, 1, &m->set_f), 0);
    qv_func_set_cpu(m->set_f, cpu_set42);
    return m->rt;
}

static void *sleep_and_wait(void *p)
{
    mt *m = p;
    unsigned ms = 300;
    m->rc = qv_submit(m->rt, m->sleep_f, (qv_arg[]){ QV_VAL(ms) }, 1);
    if (!m->rc)
        m->rc = qv_wait_all(m->rt);
    return NULL;
}

static void *write_held(void *p)
{
    mt *m = p;
    usleep(50 * 1000); /* after the main thread's wait began */
    m->rc = qv_submit(m->rt, m->set_f, (qv_arg[]){ QV_BUF(m->held) }, 1);
    return NULL;
}

/* qv_wait_all, which must succeed, then the release of m->held: the
 * seconds the wait took. */
static double wait_then_release(mt *m)
{
    double t0 = now_s();
    assert_int_equal(qv_wait_all(m->rt), 0);
    double waited = now_s() - t0;
    assert_int_equal(qv_buf_release(m->held), 0);
    return waited;
}

/* After a wait that left the writer's later task out (write_held): the
 * wait was short, and the task ran once the buffer was released. */
static void later_write_done(mt *m, const mt *w, double waited, const int *x)
{
    assert_int_equal(w->rc, 0);
    assert_true(waited < 5.0);
    assert_int_equal(qv_buf_wait(m->held), 0);
    assert_int_equal(*x, 42);
    assert_int_equal(qv_buf_unregister(m->held), 0);
    qv_runtime_destroy(m->rt);
}

/* A wait covers what was submitted before it, not what other threads
 * submit meanwhile, even when the caller submitted nothing itself: it used
 * to take in later tasks, and hung when one of them waited for a buffer
 * the waiting thread holds. */
static void wait_all_leaves_later_tasks_out(void **state)
{
    (void)state;
    mt m, w;
    mt_open(&m, "");
    int x = 0;
    assert_int_equal(qv_buf_register(m.rt, &x, sizeof x, &m.held), 0);
    w = m;
    pthread_t sleeper, writer;
    assert_int_equal(pthread_create(&sleeper, NULL, sleep_and_wait, &m), 0);
    usleep(20 * 1000);
    assert_int_equal(qv_buf_acquire(m.held, QV_RW), 0);
    assert_int_equal(pthread_create(&writer, NULL, write_held, &w), 0);
    usleep(10 * 1000);
    double waited = wait_then_release(&m); /* the sleeper's task, not the writer's */
    pthread_join(sleeper, NULL);
    pthread_join(writer, NULL);
    assert_int_equal(m.rc, 0);
    later_write_done(&m, &w, waited, &x);
}

/* The ring of wait epochs full: 63 threads in qv_wait_all, each on a task
 * of its own that waits at a gate. */
static atomic_int gate;

static void cpu_gate(const qv_call *c)
{
    (void)c;
    while (!atomic_load(&gate))
        usleep(1000);
}

typedef struct ring_waiter {
    qv_runtime *rt;
    qv_func *f;
    int rc;
} ring_waiter;

static void *gate_and_wait(void *p)
{
    ring_waiter *r = p;
    r->rc = qv_submit(r->rt, r->f, NULL, 0);
    if (!r->rc)
        r->rc = qv_wait_all(r->rt);
    return NULL;
}

static void *open_gate_later(void *p)
{
    (void)p;
    usleep(300 * 1000); /* after the writer's submission */
    atomic_store(&gate, 1);
    return NULL;
}

enum { RING_WAITS = QV__EPOCHS - 1 };

/* Fills the ring: RING_WAITS threads, each in qv_wait_all on a task of
 * its own at the gate, each wait closing an epoch of its own. */
static void fill_ring(qv_runtime *rt, ring_waiter *rw, pthread_t *th)
{
    qv_func *gf;
    assert_int_equal(qv_func_create(rt, "gate", NULL, 0, &gf), 0);
    qv_func_set_cpu(gf, cpu_gate);
    atomic_store(&gate, 0);
    for (int i = 0; i < RING_WAITS; i++) {
        rw[i] = (ring_waiter){ rt, gf, -1 };
        uint64_t e0 = atomic_load(&rt->epoch);
        assert_int_equal(pthread_create(&th[i], NULL, gate_and_wait, &rw[i]), 0);
        for (int k = 0; k < 5000 && atomic_load(&rt->epoch) == e0; k++)
            usleep(1000);
        assert_int_equal(atomic_load(&rt->epoch), e0 + 1);
    }
}

static void join_ring(ring_waiter *rw, pthread_t *th)
{
    for (int i = 0; i < RING_WAITS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rw[i].rc, 0);
    }
}

typedef struct handed {
    mt *m;
    qv_buf *other;
    atomic_int stage; /* 1 submitted, 2 released */
} handed;

/* Gets a buffer another thread acquired: submits a call of its own, then
 * releases that buffer. */
static void *submit_then_release(void *p)
{
    handed *h = p;
    usleep(200 * 1000); /* after the 64th wait began */
    if (qv_submit(h->m->rt, h->m->set_f, (qv_arg[]){ QV_BUF(h->other) }, 1) == 0)
        atomic_store(&h->stage, 1);
    if (qv_buf_release(h->m->held) == 0)
        atomic_store(&h->stage, 2);
    return NULL;
}

static void *wait_all_thread(void *p)
{
    mt *m = p;
    m->rc = qv_wait_all(m->rt);
    return NULL;
}

/* A buffer the main thread acquires (m.held) and another thread
 * releases after a call of its own (on other), with the ring full. */
typedef struct release_case {
    mt m, w;
    handed h;
    int x, y;
    ring_waiter rw[RING_WAITS];
    pthread_t th[RING_WAITS], opener, releaser, last;
} release_case;

static void release_open(release_case *c)
{
    memset(c, 0, sizeof *c);
    mt_open(&c->m, "");
    c->h.m = &c->m;
    assert_int_equal(qv_buf_register(c->m.rt, &c->x, sizeof c->x, &c->m.held), 0);
    assert_int_equal(qv_buf_register(c->m.rt, &c->y, sizeof c->y, &c->h.other), 0);
}

/* Fills the ring (its first wait covers what the test submitted), starts
 * the releaser, a 64th wait and the gates' opener; then the release must
 * come and every wait end. */
static void release_run(release_case *c)
{
    fill_ring(c->m.rt, c->rw, c->th);
    c->w = c->m;
    assert_int_equal(pthread_create(&c->releaser, NULL, submit_then_release, &c->h), 0);
    assert_int_equal(pthread_create(&c->last, NULL, wait_all_thread, &c->w), 0);
    /* The releaser submits at 200 ms; the gates open at 300 ms. */
    assert_int_equal(pthread_create(&c->opener, NULL, open_gate_later, NULL), 0);
    for (int k = 0; k < 10000 && atomic_load(&c->h.stage) != 2; k++)
        usleep(1000);
    assert_int_equal(atomic_load(&c->h.stage), 2);
    pthread_join(c->releaser, NULL);
    pthread_join(c->opener, NULL);
    pthread_join(c->last, NULL);
    join_ring(c->rw, c->th);
    assert_int_equal(c->w.rc, 0);
    assert_int_equal(qv_wait_all(c->m.rt), 0);
    assert_int_equal(c->x, 42);
    assert_int_equal(c->y, 42);
    assert_int_equal(qv_buf_unregister(c->h.other), 0);
    assert_int_equal(qv_buf_unregister(c->m.held), 0);
    qv_runtime_destroy(c->m.rt);
}

/* With the ring full and the oldest wait's task waiting for the release
 * of a buffer that the main thread acquired and another thread releases,
 * that thread's qv_submit goes through (adversarial testing: held back
 * until the 64th wait closed its epoch, it never released: a hang). */
static void ring_full_with_a_release_from_another_thread(void **state)
{
    (void)state;
    static release_case c;
    release_open(&c);
    assert_int_equal(qv_buf_acquire(c.m.held, QV_RW), 0);
    assert_int_equal(qv_submit(c.m.rt, c.m.set_f, (qv_arg[]){ QV_BUF(c.m.held) }, 1), 0);
    release_run(&c);
}

static mt *g_parent_mt;

/* At the gate, then a call on the held buffer, from inside the task. */
static void cpu_parent(const qv_call *c)
{
    (void)c;
    while (!atomic_load(&gate))
        usleep(1000);
    qv_submit(g_parent_mt->rt, g_parent_mt->set_f, (qv_arg[]){ QV_BUF(g_parent_mt->held) },
              1);
}

/* The same, but the call that waits for the release comes later, from a
 * task of the oldest wait, while the releasing thread is held back
 * already (a review: it was never let through, and hung). */
static void ring_full_with_a_nested_wait_for_a_release(void **state)
{
    (void)state;
    static release_case c;
    release_open(&c);
    g_parent_mt = &c.m;
    qv_func *pf;
    assert_int_equal(qv_func_create(c.m.rt, "parent", NULL, 0, &pf), 0);
    qv_func_set_cpu(pf, cpu_parent);
    atomic_store(&gate, 0);
    assert_int_equal(qv_submit(c.m.rt, pf, NULL, 0), 0);
    assert_int_equal(qv_buf_acquire(c.m.held, QV_RW), 0);
    release_run(&c);
}

/* With every slot of the epoch ring taken by a wait in progress, a wait
 * still leaves out what other threads submit meanwhile: it took their
 * tasks in, and hung when one waited for a buffer the caller holds
 * (adversarial testing). Such submissions now wait for it to close its
 * epoch. */
static void wait_all_leaves_later_tasks_out_with_the_ring_full(void **state)
{
    (void)state;
    mt m, w;
    mt_open(&m, "");
    static ring_waiter rw[RING_WAITS];
    pthread_t th[RING_WAITS], opener, writer;
    fill_ring(m.rt, rw, th);
    int x = 0;
    assert_int_equal(qv_buf_register(m.rt, &x, sizeof x, &m.held), 0);
    assert_int_equal(qv_buf_acquire(m.held, QV_RW), 0);
    w = m;
    assert_int_equal(pthread_create(&writer, NULL, write_held, &w), 0);
    assert_int_equal(pthread_create(&opener, NULL, open_gate_later, NULL), 0);
    double waited = wait_then_release(&m); /* the gates' tasks, not the writer's */
    join_ring(rw, th);
    pthread_join(opener, NULL);
    pthread_join(writer, NULL);
    later_write_done(&m, &w, waited, &x);
}

static void *wait_on_held(void *p)
{
    mt *m = p;
    m->rc = qv_buf_wait(m->held);
    return NULL;
}

/* Another thread's qv_buf_wait of a buffer this thread holds is no task:
 * this thread's qv_wait_all must not call it a deadlock. */
static void held_buffer_with_host_waiters_is_no_deadlock(void **state)
{
    (void)state;
    mt m, w;
    mt_open(&m, "");
    int x = 0;
    assert_int_equal(qv_buf_register(m.rt, &x, sizeof x, &m.held), 0);
    assert_int_equal(qv_buf_acquire(m.held, QV_RW), 0);
    w = m;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_on_held, &w), 0);
    usleep(50 * 1000); /* it waits for our release now */
    assert_int_equal(qv_wait_all(m.rt), 0);
    assert_int_equal(qv_buf_release(m.held), 0);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, 0);
    /* A task that waits for the release is one. */
    assert_int_equal(qv_buf_acquire(m.held, QV_RW), 0);
    assert_int_equal(qv_submit(m.rt, m.set_f, (qv_arg[]){ QV_BUF(m.held) }, 1), 0);
    assert_int_equal(qv_wait_all(m.rt), QV_EDEADLK);
    assert_int_equal(qv_buf_release(m.held), 0);
    assert_int_equal(qv_wait_all(m.rt), 0);
    assert_int_equal(x, 42);
    assert_int_equal(qv_buf_unregister(m.held), 0);
    qv_runtime_destroy(m.rt);
}

static atomic_int bp_now, bp_most;
static void cpu_bp(const qv_call *c)
{
    (void)c;
    usleep(20);
    atomic_fetch_sub(&bp_now, 1);
}

static qv_func *bp_f;
static void *bp_submitter(void *p)
{
    qv_runtime *rt = p;
    for (int i = 0; i < 200; i++) {
        if (qv_submit(rt, bp_f, NULL, 0))
            return (void *)1;
        /* Counted once submitted, uncounted at the end of its body: never
         * more than the runtime has in flight. */
        int n = atomic_fetch_add(&bp_now, 1) + 1;
        int most = atomic_load(&bp_most);
        while (n > most && !atomic_compare_exchange_weak(&bp_most, &most, n))
            ;
    }
    return NULL;
}

/* Backpressure holds with many submitting threads: the decision is taken
 * under the submission lock, one submission at a time (many threads once
 * passed a shared check together, 2-12x max_inflight). */
static void backpressure_holds_with_many_threads(void **state)
{
    (void)state;
    mt m;
    qv_runtime *rt = mt_open(&m, "max_inflight: 16\n");
    assert_int_equal(qv_func_create(rt, "bp", NULL, 0, &bp_f), 0);
    qv_func_set_cpu(bp_f, cpu_bp);
    atomic_store(&bp_now, 0);
    atomic_store(&bp_most, 0);
    enum { T = 32 };
    pthread_t th[T];
    for (int i = 0; i < T; i++)
        assert_int_equal(pthread_create(&th[i], NULL, bp_submitter, rt), 0);
    for (int i = 0; i < T; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    assert_int_equal(qv_wait_all(rt), 0);
    assert_true(atomic_load(&bp_most) <= 16);
    qv_runtime_destroy(rt);
}

/* A buffer the program holds, which no task waits for, does not turn
 * backpressure off: the tasks in flight drain without its release. (It
 * did, for every thread: a thread polling with acquire and release let
 * another queue 1.3 GB of tasks in 30 s; adversarial testing.) */
static void backpressure_holds_while_a_buffer_is_held(void **state)
{
    (void)state;
    mt m;
    qv_runtime *rt = mt_open(&m, "max_inflight: 16\n");
    assert_int_equal(qv_func_create(rt, "bp", NULL, 0, &bp_f), 0);
    qv_func_set_cpu(bp_f, cpu_bp);
    int x = 0;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &m.held), 0);
    assert_int_equal(qv_buf_acquire(m.held, QV_RW), 0);
    atomic_store(&bp_now, 0);
    atomic_store(&bp_most, 0);
    assert_null(bp_submitter(rt));
    assert_true(atomic_load(&bp_most) <= 16);
    assert_int_equal(qv_buf_release(m.held), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(qv_buf_unregister(m.held), 0);
    qv_runtime_destroy(rt);
}

static void *sleep_many(void *p)
{
    mt *m = p;
    unsigned ms = 2;
    for (int i = 0; i < 100 && !m->rc; i++)
        m->rc = qv_submit(m->rt, m->sleep_f, (qv_arg[]){ QV_VAL(ms) }, 1);
    return NULL;
}

/* A thread held back by backpressure goes on once a task in flight waits
 * for the release of a buffer the program holds: the program may release
 * it only after that thread is done (here: joins it). Without the wake,
 * the tasks waiting for the release keep more than the low water mark in
 * flight, and the thread would wait for good. */
static void backpressure_ends_when_a_task_awaits_a_release(void **state)
{
    (void)state;
    mt m, b;
    qv_runtime *rt = mt_open(&m, "max_inflight: 16\n");
    int x = 0;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &m.held), 0);
    assert_int_equal(qv_buf_acquire(m.held, QV_RW), 0);
    b = m;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sleep_many, &b), 0);
    bool held_back = false;
    for (int i = 0; i < 2000 && !(held_back = atomic_load(&rt->nbp) != 0); i++)
        usleep(1000); /* until it is held back */
    assert_true(held_back);
    for (int i = 0; i < 14; i++) /* more than the low water mark (12) */
        assert_int_equal(qv_submit(rt, m.set_f, (qv_arg[]){ QV_BUF(m.held) }, 1), 0);
    pthread_join(th, NULL);
    assert_int_equal(b.rc, 0);
    assert_int_equal(qv_buf_release(m.held), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(x, 42);
    assert_int_equal(qv_buf_unregister(m.held), 0);
    qv_runtime_destroy(rt);
}

/* qv_buf_wait's look at whether the host holds the buffer and its entry
 * into the buffer's queue, pulled apart: the test's wrapper of
 * qv__region_flush (linked with --wrap), which host_enter calls first,
 * lets the main thread acquire the buffer in between. */
void __real_qv__region_flush(qv_runtime *rt);
void __wrap_qv__region_flush(qv_runtime *rt);
static _Thread_local bool flush_pause;
static atomic_int flush_phase; /* 1: the wait is in host_enter; 2: acquired */

void __wrap_qv__region_flush(qv_runtime *rt)
{
    if (flush_pause) {
        flush_pause = false;
        atomic_store(&flush_phase, 1);
        while (atomic_load(&flush_phase) != 2)
            usleep(1000);
    }
    __real_qv__region_flush(rt);
}

static void *wait_paused(void *p)
{
    mt *m = p;
    flush_pause = true;
    m->rc = qv_buf_wait(m->held);
    return NULL;
}

static void cpu_nop(const qv_call *c)
{
    (void)c;
}

/* A qv_buf_wait that finds the buffer held once inside returns at once,
 * as one that found it held before: queued behind the hold, it made a
 * task on the buffer wait for the wait only, unseen as waiting for the
 * release, and the holder, submitting past max_inflight, blocked for good
 * behind 15 tasks that waited for its own release (adversarial testing). */
static void wait_that_meets_a_hold_returns(void **state)
{
    (void)state;
    mt m, c;
    qv_runtime *rt = mt_open(&m, "max_inflight: 16\n");
    qv_func *w, *r;
    qv_arg_desc dw[] = {QV_ARG_BUF("x", QV_W)};
    qv_arg_desc dr[] = {QV_ARG_BUF("x", QV_R)};
    assert_int_equal(qv_func_create(rt, "w", dw, 1, &w), 0);
    qv_func_set_cpu(w, cpu_nop);
    assert_int_equal(qv_func_create(rt, "r", dr, 1, &r), 0);
    qv_func_set_cpu(r, cpu_nop);
    int x = 0;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &m.held), 0);
    atomic_store(&flush_phase, 0);
    c = m;
    c.rc = -1;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_paused, &c), 0);
    while (atomic_load(&flush_phase) != 1)
        usleep(1000);
    assert_int_equal(qv_buf_acquire(m.held, QV_RW), 0);
    atomic_store(&flush_phase, 2);
    pthread_join(th, NULL); /* returned though the buffer is still held */
    assert_int_equal(c.rc, 0);
    assert_int_equal(qv_submit(rt, w, (qv_arg[]){QV_BUF(m.held)}, 1), 0);
    for (int i = 0; i < 14; i++)
        assert_int_equal(qv_submit(rt, r, (qv_arg[]){QV_BUF(m.held)}, 1), 0);
    unsigned ms = 1;
    for (int i = 0; i < 10; i++) /* past max_inflight: must not block */
        assert_int_equal(qv_submit(rt, m.sleep_f, (qv_arg[]){QV_VAL(ms)}, 1), 0);
    assert_int_equal(qv_buf_release(m.held), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(qv_buf_unregister(m.held), 0);
    qv_runtime_destroy(rt);
}

static void *shut_down(void *p)
{
    mt *m = p;
    m->rc = qv_runtime_shutdown(m->rt);
    return NULL;
}

/* A second qv_runtime_shutdown while the first one waits returns when the
 * work is done, as the first (it returned at once). */
static void second_shutdown_waits_too(void **state)
{
    (void)state;
    mt m, a;
    mt_open(&m, "");
    int x = 0;
    qv_buf *b;
    assert_int_equal(qv_buf_register(m.rt, &x, sizeof x, &b), 0);
    assert_int_equal(qv_submit(m.rt, m.set_f, (qv_arg[]){ QV_BUF(b) }, 1), 0);
    a = m;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, shut_down, &a), 0);
    usleep(50 * 1000);
    assert_int_equal(qv_runtime_shutdown(m.rt), 0);
    assert_int_equal(x, 42);
    pthread_join(th, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(qv_buf_unregister(b), 0);
    qv_runtime_destroy(m.rt);
}

/* ---- replayed tasks on the workers' own queues ------------------------- */

#define RQ_TILES 16
#define RQ_TASKS 600

/* mix: c = c * 31 + a + 7 * b + 1 (a, b read; c read and written). */
static void cpu_mix(const qv_call *c)
{
    const uint64_t *a = c->ptr[0], *b = c->ptr[1];
    uint64_t *y = c->ptr[2];
    *y = *y * 31 + *a + 7 * *b + 1;
}

static atomic_uint rq_count;
static atomic_bool rq_gate;
/* Waits for the gate, so that the submitter runs far ahead of the
 * workers and their queues fill up. */
static void cpu_gated(const qv_call *c)
{
    (void)c;
    while (!atomic_load(&rq_gate))
        usleep(100);
    atomic_fetch_add(&rq_count, 1);
}

static double rq_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static qv_runtime *rq_open(unsigned ncpu, unsigned spin_us, const char *name)
{
    char pol[512];
    snprintf(pol, sizeof pol, "%s/%s.yaml", qv_test_scratch(), name);
    FILE *fp = fopen(pol, "w");
    assert_non_null(fp);
    /* plans kept (eager_slack 0): this tests the queues of a replay, which
     * a plan weighed against eager placement on a loaded machine may not
     * keep to */
    fputs("hot_threshold: 2\nimplicit_regions: false\ndevices: [cpu]\n"
          "replan: {eager_slack: 0}\n"
          "discovery: {rescan_interval_ms: 0, opencl: false, xrt: false}\n", fp);
    fclose(fp);
    qv_options o;
    qv_options_init(&o);
    o.ncpu = (int)ncpu;
    o.spin_us = spin_us;
    o.pin = 0;
    o.opencl = 0;
    o.perfmodel_dir = "";
    o.config = pol;
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    return rt;
}

/* Random dependent programs replayed entry after entry, each result
 * checked against a sequential run: a task lost, run twice or run out of
 * order changes the tiles, a lost wake-up hangs the wait. spin_us 0 parks
 * the workers at every gap, so each entry wakes them. */
static void replay_random(unsigned ncpu, unsigned spin_us)
{
    qv_runtime *rt = rq_open(ncpu, spin_us, "rq-random");
    qv_func *mix;
    qv_arg_desc d[] = { QV_ARG_BUF("a", QV_R), QV_ARG_BUF("b", QV_R),
                        QV_ARG_BUF("c", QV_RW) };
    assert_int_equal(qv_func_create(rt, "mix", d, 3, &mix), 0);
    qv_func_set_cpu(mix, cpu_mix);
    uint64_t tile[RQ_TILES], want[RQ_TILES];
    qv_buf *h[RQ_TILES];
    for (int i = 0; i < RQ_TILES; i++) {
        tile[i] = want[i] = (uint64_t)i;
        assert_int_equal(qv_buf_register(rt, &tile[i], sizeof tile[i], &h[i]), 0);
    }
    static int prog[RQ_TASKS][3];
    unsigned seed = 12345;
    for (int k = 0; k < RQ_TASKS; k++) {
        for (int j = 0; j < 3; j++) {
            int b, dup;
            do {
                seed = seed * 1103515245u + 12345u;
                b = (int)((seed >> 16) % RQ_TILES);
                dup = 0;
                for (int i = 0; i < j; i++)
                    dup |= prog[k][i] == b;
            } while (dup);
            prog[k][j] = b;
        }
    }
    qv_region_info ri = { .size = sizeof ri };
    double t0 = rq_now();
    int entries = 0;
    do {
        assert_int_equal(qv_region_begin(rt, "random"), 0);
        for (int k = 0; k < RQ_TASKS; k++) {
            qv_arg a[] = { QV_BUF(h[prog[k][0]]), QV_BUF(h[prog[k][1]]),
                           QV_BUF(h[prog[k][2]]) };
            assert_int_equal(qv_submit(rt, mix, a, 3), 0);
            uint64_t *y = &want[prog[k][2]];
            *y = *y * 31 + want[prog[k][0]] + 7 * want[prog[k][1]] + 1;
        }
        assert_int_equal(qv_region_end(rt), 0);
        assert_int_equal(qv_wait_all(rt), 0);
        for (int i = 0; i < RQ_TILES; i++) {
            assert_int_equal(qv_buf_acquire(h[i], QV_R), 0);
            assert_int_equal(tile[i], want[i]);
            assert_int_equal(qv_buf_release(h[i]), 0);
        }
        entries++;
        assert_int_equal(qv_region_get(rt, "random", &ri), 0);
        if (!ri.replayed)
            usleep(2000); /* time for the background compile */
    } while ((entries < 12 || ri.replayed < 8) && rq_now() - t0 < 60);
    assert_true(ri.replayed >= 8);
    assert_int_equal(ri.guard_misses, 0);
    for (int i = 0; i < RQ_TILES; i++)
        assert_int_equal(qv_buf_unregister(h[i]), 0);
    qv_runtime_destroy(rt);
}

/* Independent tasks held at a gate until all are submitted: more than the
 * workers' queues hold, so the rest goes to the shared queue; each must
 * run once. */
static void replay_overflow(void)
{
    enum { N = 9000 };
    qv_runtime *rt = rq_open(2, 0, "rq-overflow");
    qv_func *g;
    assert_int_equal(qv_func_create(rt, "gated", NULL, 0, &g), 0);
    qv_func_set_cpu(g, cpu_gated);
    qv_region_info ri = { .size = sizeof ri };
    double t0 = rq_now();
    do {
        atomic_store(&rq_count, 0);
        atomic_store(&rq_gate, false);
        assert_int_equal(qv_region_begin(rt, "overflow"), 0);
        for (int k = 0; k < N; k++)
            assert_int_equal(qv_submit(rt, g, NULL, 0), 0);
        assert_int_equal(qv_region_end(rt), 0);
        atomic_store(&rq_gate, true);
        assert_int_equal(qv_wait_all(rt), 0);
        assert_int_equal(atomic_load(&rq_count), N);
        assert_int_equal(qv_region_get(rt, "overflow", &ri), 0);
        if (!ri.replayed)
            usleep(20000);
    } while (ri.replayed < 3 && rq_now() - t0 < 60);
    assert_true(ri.replayed >= 3);
    assert_int_equal(ri.guard_misses, 0);
    qv_runtime_destroy(rt);
}

static void replayed_queues_lose_nothing(void **state)
{
    (void)state;
    replay_random(2, 0);   /* every gap parks the workers */
    replay_random(3, 50);  /* more workers than cores: stealing */
    replay_overflow();
}


/* ---- a task of one runtime using another (adversarial review) ---------- */

static qv_runtime *outer_rt2;
static atomic_int inner_ran;
static atomic_int cross_rc;

static void inner_slow(const qv_call *c)
{
    (void)c;
    struct timespec d = { 0, 200 * 1000 * 1000 };
    nanosleep(&d, NULL);
    atomic_fetch_add(&inner_ran, 1);
}

/* A task of rt1 creates rt2, runs a task there, waits and destroys it: the
 * waits were refused as "from a task" (the thread is rt1's worker), and
 * the destroy then freed rt2 under its running task. */
static void outer_makes_its_own(const qv_call *c)
{
    (void)c;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    o.opencl = 0;
    qv_runtime *rt2;
    int rc = qv_runtime_create(&o, &rt2);
    qv_func *f = NULL;
    if (!rc)
        rc = qv_func_create(rt2, "inner", NULL, 0, &f);
    if (!rc)
        rc = qv_func_set_cpu(f, inner_slow);
    if (!rc)
        rc = qv_submit(rt2, f, NULL, 0);
    if (!rc)
        rc = qv_wait_all(rt2);
    qv_runtime_destroy(rt2);
    atomic_store(&cross_rc, rc);
}

/* A task of rt1 submits to a runtime made outside: qv_wait_all(rt2) must
 * cover that task (it took rt1's epoch, in which rt2's waits never
 * looked). */
static void outer_submits_there(const qv_call *c)
{
    (void)c;
    qv_func *f = NULL;
    int rc = qv_func_find(outer_rt2, "inner", &f);
    if (!rc)
        rc = qv_submit(outer_rt2, f, NULL, 0);
    atomic_store(&cross_rc, rc);
}

static void self_destroy(const qv_call *c)
{
    qv_runtime_destroy(*(qv_runtime *const *)c->ptr[0]);
}

static void tasks_use_other_runtimes(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 2;
    o.perfmodel_dir = "";
    o.opencl = 0;
    qv_runtime *rt1, *rt2;
    assert_int_equal(qv_runtime_create(&o, &rt1), 0);
    assert_int_equal(qv_runtime_create(&o, &rt2), 0);
    qv_func *a, *b, *inner, *self;
    assert_int_equal(qv_func_create(rt1, "makes", NULL, 0, &a), 0);
    assert_int_equal(qv_func_set_cpu(a, outer_makes_its_own), 0);
    assert_int_equal(qv_func_create(rt1, "submits", NULL, 0, &b), 0);
    assert_int_equal(qv_func_set_cpu(b, outer_submits_there), 0);
    assert_int_equal(qv_func_create(rt2, "inner", NULL, 0, &inner), 0);
    assert_int_equal(qv_func_set_cpu(inner, inner_slow), 0);
    qv_arg_desc ds[] = { QV_ARG_SCALAR("rt", qv_runtime *) };
    assert_int_equal(qv_func_create(rt1, "self", ds, 1, &self), 0);
    assert_int_equal(qv_func_set_cpu(self, self_destroy), 0);

    atomic_store(&inner_ran, 0);
    assert_int_equal(qv_submit(rt1, a, NULL, 0), 0);
    assert_int_equal(qv_wait_all(rt1), 0);
    assert_int_equal(atomic_load(&cross_rc), 0);
    assert_int_equal(atomic_load(&inner_ran), 1);

    outer_rt2 = rt2;
    atomic_store(&inner_ran, 0);
    for (int i = 0; i < 5; i++) /* rt1's epoch moves ahead of rt2's */
        assert_int_equal(qv_wait_all(rt1), 0);
    assert_int_equal(qv_submit(rt1, b, NULL, 0), 0);
    assert_int_equal(qv_wait_all(rt1), 0);
    assert_int_equal(atomic_load(&cross_rc), 0);
    assert_int_equal(qv_wait_all(rt2), 0);
    assert_int_equal(atomic_load(&inner_ran), 1);

    /* A task destroying its own runtime: refused, the runtime goes on. */
    assert_int_equal(qv_submit(rt1, self, (qv_arg[]){ QV_VAL(rt1) }, 1), 0);
    assert_int_equal(qv_wait_all(rt1), 0);
    atomic_store(&inner_ran, 0);
    assert_int_equal(qv_submit(rt1, a, NULL, 0), 0);
    assert_int_equal(qv_wait_all(rt1), 0);
    assert_int_equal(atomic_load(&inner_ran), 1);
    qv_runtime_destroy(rt2);
    qv_runtime_destroy(rt1);
}

/* A task of rt1 waits for rt2, whose task waits for rt1: neither wait could
 * end (each covers the other's task), so the one that would close the
 * cycle is refused with QV_EDEADLK and both tasks end (the two runtimes
 * hung for ever: adversarial testing). A task of rt2 submitted after
 * rt1's task began its wait is not covered by it: its wait for rt1 ends. */
static qv_runtime *cyc_rt[2];
static qv_func *cyc_waiter;
static atomic_int cyc_rc[2];

static void cyc_waits_for_rt1(const qv_call *c)
{
    (void)c;
    atomic_store(&cyc_rc[1], qv_wait_all(cyc_rt[0]));
}

static void cyc_waits_for_rt2(const qv_call *c)
{
    (void)c;
    int rc = qv_submit(cyc_rt[1], cyc_waiter, NULL, 0);
    atomic_store(&cyc_rc[0], rc ? rc : qv_wait_all(cyc_rt[1]));
}

static void cross_runtime_wait_cycle_is_refused(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 2;
    o.perfmodel_dir = "";
    o.opencl = 0;
    for (int i = 0; i < 2; i++)
        assert_int_equal(qv_runtime_create(&o, &cyc_rt[i]), 0);
    qv_func *outer;
    assert_int_equal(qv_func_create(cyc_rt[0], "outer", NULL, 0, &outer), 0);
    assert_int_equal(qv_func_set_cpu(outer, cyc_waits_for_rt2), 0);
    assert_int_equal(qv_func_create(cyc_rt[1], "waiter", NULL, 0, &cyc_waiter), 0);
    assert_int_equal(qv_func_set_cpu(cyc_waiter, cyc_waits_for_rt1), 0);
    for (int round = 0; round < 20; round++) {
        atomic_store(&cyc_rc[0], 1);
        atomic_store(&cyc_rc[1], 1);
        assert_int_equal(qv_submit(cyc_rt[0], outer, NULL, 0), 0);
        assert_int_equal(qv_wait_all(cyc_rt[0]), 0);
        assert_int_equal(qv_wait_all(cyc_rt[1]), 0);
        /* One of the two waits is refused, the other returns. */
        int r0 = atomic_load(&cyc_rc[0]), r1 = atomic_load(&cyc_rc[1]);
        if (!((r0 == QV_EDEADLK) ^ (r1 == QV_EDEADLK)) || (r0 && r0 != QV_EDEADLK) ||
            (r1 && r1 != QV_EDEADLK))
            fail_msg("round %d: rt1's task's wait %d, rt2's %d", round, r0, r1);
    }
    for (int i = 0; i < 2; i++)
        qv_runtime_destroy(cyc_rt[i]);
}

static atomic_int toggled_calls;

static void cpu_toggled(const qv_call *c)
{
    (void)c;
    atomic_fetch_add(&toggled_calls, 1);
}

/* A runtime of ncpu CPU workers and no models on disk, with function
 * `name` of no arguments running fn. */
static qv_runtime *rt_with_func(int ncpu, const char *name, qv_cpu_fn fn, qv_func **f)
{
    qv_options o;
    qv_options_init(&o);
    o.ncpu = ncpu;
    o.perfmodel_dir = "";
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    assert_int_equal(qv_func_create(rt, name, NULL, 0, f), 0);
    assert_int_equal(qv_func_set_cpu(*f, fn), 0);
    return rt;
}

/* qv_func_set_cpu(f, NULL) after a worker found f's implementation and
 * before it called it (the window held open by qv__fault_pause): the call
 * runs the implementation it found (adversarial finding: the worker read
 * it again, and called NULL). */
static void implementation_removed_as_a_call_starts(void **state)
{
    (void)state;
    qv_func *f;
    qv_runtime *rt = rt_with_func(1, "toggled", cpu_toggled, &f);
    atomic_store(&toggled_calls, 0);
    qv__fault_pause_set(200000);
    assert_int_equal(qv_submit(rt, f, NULL, 0), 0);
    struct timespec ms50 = {0, 50 * 1000 * 1000};
    nanosleep(&ms50, NULL); /* the worker is in the pause */
    assert_int_equal(qv_func_set_cpu(f, NULL), 0);
    qv__fault_pause_set(0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(atomic_load(&toggled_calls), 1);
    qv_runtime_destroy(rt);
}

static void nothing(const qv_call *c)
{
    (void)c;
}

/* The recorder's next chunk of nodes, wanted once its current one is half
 * full, is made by the background thread, not by the qv_wait_all that
 * finds it wanted: made there, a chunk of fresh memory (0.2-5 ms on a VM)
 * held up the program's next entry (bench_loop --overhead: a third of
 * the submitting thread's time on Cholesky). Here making it takes 2 s. */
static void waits_leave_the_recorders_chunks_to_the_loop(void **state)
{
    (void)state;
    qv_func *f;
    qv_runtime *rt = rt_with_func(2, "nothing", nothing, &f);
    qv__fault_delay_set("recorder", QV_FAULT_ALLOC, 2000 * 1000);
    for (int i = 0; i < QV__REC_CHUNK / 2 + 100; i++)
        assert_int_equal(qv_submit(rt, f, NULL, 0), 0);
    double t0 = now_s();
    assert_int_equal(qv_wait_all(rt), 0);
    double waited = now_s() - t0;
    assert_true(waited < 1.5);
    /* Made meanwhile by the loop's thread, and kept for the next chunk. */
    bool made = false;
    for (int i = 0; i < 1000 && !made; i++) {
        pthread_mutex_lock(&rt->submit_mu);
        made = rt->rec->nspare[QV__REC_NODES] > 0;
        pthread_mutex_unlock(&rt->submit_mu);
        if (!made)
            nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    }
    qv__fault_delay_set(NULL, 0, 0);
    assert_true(made);
    /* The next chunk is the one made: no fresh memory at its first node. */
    for (int i = 0; i < QV__REC_CHUNK / 2; i++)
        assert_int_equal(qv_submit(rt, f, NULL, 0), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    pthread_mutex_lock(&rt->submit_mu);
    assert_int_equal(rt->rec->nodes.len, 2);
    assert_int_equal(rt->rec->nspare[QV__REC_NODES], 0);
    pthread_mutex_unlock(&rt->submit_mu);
    qv_runtime_destroy(rt);
}

/* The runtime's threads carry names (top -H, perf, gdb). */
static void runtime_threads_are_named(void **state)
{
    (void)state;
    qv_func *f;
    qv_runtime *rt = rt_with_func(2, "nothing", nothing, &f);
    bool cpu0 = false, cpu1 = false;
    for (int tries = 0; tries < 200 && !(cpu0 && cpu1); tries++) {
        DIR *dir = opendir("/proc/self/task");
        assert_non_null(dir);
        for (struct dirent *e; (e = readdir(dir));) {
            char path[300], name[32] = "";
            snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
            FILE *fp = fopen(path, "r");
            if (!fp)
                continue;
            if (fgets(name, sizeof name, fp)) {
                cpu0 |= strcmp(name, "qv-cpu0\n") == 0;
                cpu1 |= strcmp(name, "qv-cpu1\n") == 0;
            }
            fclose(fp);
        }
        closedir(dir);
        if (!(cpu0 && cpu1))
            usleep(5000); /* a worker names itself as it starts */
    }
    assert_true(cpu0 && cpu1);
    qv_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(worker_counts),
        cmocka_unit_test(pinning_and_spinning),
        cmocka_unit_test(spin_from_the_environment),
        cmocka_unit_test(workers_keep_to_the_affinity_mask),
        cmocka_unit_test(idle_workers_park),
        cmocka_unit_test(wait_all_with_a_busy_submitter),
        cmocka_unit_test(submission_has_backpressure),
        cmocka_unit_test(wait_all_leaves_later_tasks_out),
        cmocka_unit_test(wait_all_leaves_later_tasks_out_with_the_ring_full),
        cmocka_unit_test(ring_full_with_a_release_from_another_thread),
        cmocka_unit_test(ring_full_with_a_nested_wait_for_a_release),
        cmocka_unit_test(held_buffer_with_host_waiters_is_no_deadlock),
        cmocka_unit_test(backpressure_holds_with_many_threads),
        cmocka_unit_test(backpressure_holds_while_a_buffer_is_held),
        cmocka_unit_test(backpressure_ends_when_a_task_awaits_a_release),
        cmocka_unit_test(wait_that_meets_a_hold_returns),
        cmocka_unit_test(second_shutdown_waits_too),
        cmocka_unit_test(replayed_queues_lose_nothing),
        cmocka_unit_test(tasks_use_other_runtimes),
        cmocka_unit_test(cross_runtime_wait_cycle_is_refused),
        cmocka_unit_test(implementation_removed_as_a_call_starts),
        cmocka_unit_test(waits_leave_the_recorders_chunks_to_the_loop),
        cmocka_unit_test(runtime_threads_are_named),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qv_test_scratch_remove(); /* its board and policy files */
    return rc;
}
