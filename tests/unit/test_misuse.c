/*
 * test_misuse.c - wrong calls get a clear error code and message, never a
 * crash: NULL arguments, unknown functions, arguments that do not match the
 * signature, busy buffers, waits from inside tasks, submit after shutdown,
 * stale handles, a destroyed runtime, overlapping buffers, a release or a
 * wait racing an acquisition under way.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdatomic.h>

#include "helper.h"
#include "quiver.h"

static qv_runtime *rt;

static int setup(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 2;
    o.perfmodel_dir = "";
    return qv_runtime_create(&o, &rt);
}

static int teardown(void **state)
{
    (void)state;
    qv_runtime_destroy(rt);
    rt = NULL;
    return 0;
}

static void cpu_nop(const qv_call *c)
{
    (void)c;
}

static void null_arguments(void **state)
{
    (void)state;
    qv_func *f = (qv_func *)1;
    qv_buf *b = (qv_buf *)1;
    assert_int_equal(qv_runtime_create(NULL, NULL), QV_EINVAL);
    assert_int_equal(qv_func_create(NULL, "f", NULL, 0, &f), QV_EINVAL);
    assert_null(f);
    assert_int_equal(qv_func_create(rt, NULL, NULL, 0, &f), QV_EINVAL);
    assert_int_equal(qv_func_create(rt, "", NULL, 0, &f), QV_EINVAL);
    assert_int_equal(qv_func_create(rt, "f", NULL, 1, &f), QV_EINVAL);
    assert_int_equal(qv_func_set_cpu(NULL, cpu_nop), QV_EINVAL);
    assert_int_equal(qv_buf_register(rt, NULL, 16, &b), QV_EINVAL);
    assert_null(b);
    assert_int_equal(qv_buf_register(NULL, &b, 1, &b), QV_EINVAL);
    assert_int_equal(qv_buf_unregister(NULL), QV_EINVAL);
    assert_int_equal(qv_buf_try_unregister(NULL), QV_EINVAL);
    assert_int_equal(qv_buf_wait(NULL), QV_EINVAL);
    assert_int_equal(qv_submit(NULL, NULL, NULL, 0), QV_EINVAL);
    assert_int_equal(qv_submit(rt, NULL, NULL, 0), QV_EINVAL);
    assert_int_equal(qv_wait_all(NULL), QV_EINVAL);
    assert_int_equal(qv_graph_write(rt, "x", NULL), QV_EINVAL);
    assert_int_equal(qv_runtime_shutdown(NULL), QV_EINVAL);
    qv_runtime_destroy(NULL); /* fine */
    /* A zero-length buffer is a dependency token; NULL is fine then. */
    assert_int_equal(qv_buf_register(rt, NULL, 0, &b), 0);
    assert_int_equal(qv_buf_unregister(b), 0);
}

static void bad_options(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = -3;
    qv_runtime *r = (qv_runtime *)1;
    assert_int_equal(qv_runtime_create(&o, &r), QV_EINVAL);
    assert_null(r);
    assert_non_null(strstr(qv_last_error(), "ncpu"));
}

/* Functions by name through the index's growth: each found, each name
 * refused a second time, an unknown one not found. */
static void many_functions_by_name(void **state)
{
    (void)state;
    enum { N = 3000 };
    static qv_func *made[N];
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "fn%d", i);
        assert_int_equal(qv_func_create(rt, name, NULL, 0, &made[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        qv_func *f = NULL, *g = NULL;
        snprintf(name, sizeof name, "fn%d", i);
        assert_int_equal(qv_func_find(rt, name, &f), 0);
        assert_ptr_equal(f, made[i]);
        assert_int_equal(qv_func_create(rt, name, NULL, 0, &g), QV_EEXIST);
    }
    qv_func *f = NULL;
    assert_int_equal(qv_func_find(rt, "fn3000", &f), QV_ENOENT);
}

static void unknown_function(void **state)
{
    (void)state;
    qv_func *f = NULL;
    assert_int_equal(qv_func_find(rt, "nosuch", &f), QV_ENOENT);
    assert_null(f);
    assert_non_null(strstr(qv_last_error(), "nosuch"));
    assert_string_equal(qv_strerror(QV_ENOENT), "no such entry");

    /* A function of another runtime is unknown to this one. */
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    qv_runtime *other;
    assert_int_equal(qv_runtime_create(&o, &other), 0);
    qv_func *g;
    assert_int_equal(qv_func_create(other, "g", NULL, 0, &g), 0);
    qv_func_set_cpu(g, cpu_nop);
    assert_int_equal(qv_submit(rt, g, NULL, 0), QV_ENOENT);
    assert_non_null(strstr(qv_last_error(), "'g'"));

    /* And a buffer of another runtime is refused. */
    int x;
    qv_buf *ob;
    assert_int_equal(qv_buf_register(other, &x, sizeof x, &ob), 0);
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_R) };
    qv_func *h;
    assert_int_equal(qv_func_create(rt, "h", d, 1, &h), 0);
    qv_func_set_cpu(h, cpu_nop);
    qv_arg a[] = { QV_BUF(ob) };
    assert_int_equal(qv_submit(rt, h, a, 1), QV_EINVAL);
    assert_non_null(strstr(qv_last_error(), "another runtime"));
    qv_runtime_destroy(other);
}

static void bad_signatures(void **state)
{
    (void)state;
    qv_func *f;
    qv_arg_desc many[QV_MAX_ARGS + 1];
    for (int i = 0; i <= QV_MAX_ARGS; i++)
        many[i] = QV_ARG_BUF("x", QV_R);
    assert_int_equal(qv_func_create(rt, "many", many, QV_MAX_ARGS + 1, &f), QV_E2BIG);
    qv_arg_desc badmode[] = { QV_ARG_BUF("x", (qv_mode)7) };
    assert_int_equal(qv_func_create(rt, "badmode", badmode, 1, &f), QV_EINVAL);
    qv_arg_desc zero[] = { { "z", 0, QV_R, 0 } };
    assert_int_equal(qv_func_create(rt, "zero", zero, 1, &f), QV_EINVAL);
    /* is_buf is 1 or 0; 2 was taken as a buffer (a user's report). */
    qv_arg_desc two[] = {{"t", 2, QV_R, 0}};
    assert_int_equal(qv_func_create(rt, "two", two, 1, &f), QV_EINVAL);
    assert_non_null(strstr(qv_last_error(), "has is_buf 2; expected 1 (a buffer) or 0"));
    assert_int_equal(qv_func_create(rt, "dup", NULL, 0, &f), 0);
    assert_int_equal(qv_func_create(rt, "dup", NULL, 0, &f), QV_EEXIST);
    assert_non_null(strstr(qv_last_error(), "dup"));
}

static void mismatched_arguments(void **state)
{
    (void)state;
    qv_func *f;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW), QV_ARG_SCALAR("n", int) };
    assert_int_equal(qv_func_create(rt, "f", d, 2, &f), 0);
    int data[4] = { 0 };
    qv_buf *b;
    assert_int_equal(qv_buf_register(rt, data, sizeof data, &b), 0);
    int n = 3;
    long wrong = 3;
    qv_arg none[] = { QV_BUF(b) };
    qv_arg swapped[] = { QV_VAL(n), QV_BUF(b) };
    qv_arg badsize[] = { QV_BUF(b), QV_VAL(wrong) };
    qv_arg good[] = { QV_BUF(b), QV_VAL(n) };
    /* No implementation yet: nothing can run it. */
    assert_int_equal(qv_submit(rt, f, good, 2), QV_ENODEV);
    assert_non_null(strstr(qv_last_error(), "'f'"));
    qv_func_set_cpu(f, cpu_nop);
    assert_int_equal(qv_submit(rt, f, none, 1), QV_EMISMATCH);
    assert_int_equal(qv_submit(rt, f, swapped, 2), QV_EMISMATCH);
    assert_non_null(strstr(qv_last_error(), "must be a buffer; a scalar was given"));
    /* No buffer at all: most often a registration that failed, said so
     * (it read "must be a buffer", QV_EMISMATCH: a user's report). */
    qv_arg nobuf[] = {QV_BUF(NULL), QV_VAL(n)};
    assert_int_equal(qv_submit(rt, f, nobuf, 2), QV_EINVAL);
    assert_non_null(strstr(qv_last_error(), "argument 0 is a NULL buffer"));
    /* A buffer and a value in one argument: refused, not the value
     * dropped without a word. */
    qv_arg both[] = {{b, &n, sizeof n}, QV_VAL(n)};
    assert_int_equal(qv_submit(rt, f, both, 2), QV_EINVAL);
    assert_non_null(strstr(qv_last_error(), "gives a buffer and a value"));
    assert_int_equal(qv_submit(rt, f, badsize, 2), QV_EMISMATCH);
    assert_non_null(strstr(qv_last_error(), "scalar of 4 bytes"));
    /* The right size with no value: said so, not as a size (it was
     * "must be a scalar of 4 bytes": adversarial testing). */
    qv_arg noval[] = {QV_BUF(b), {NULL, NULL, sizeof n}};
    assert_int_equal(qv_submit(rt, f, noval, 2), QV_EINVAL);
    assert_non_null(strstr(qv_last_error(), "has no value (its pointer is NULL)"));
    assert_int_equal(qv_submit(rt, f, good, 2), 0);
    /* A mask that allows no class with an implementation: said at once
     * (the runtime here may have no GPU at all). */
    assert_int_equal(qv_func_set_where(f, 1u << QV_CLASS_GPU), 0);
    assert_int_equal(qv_submit(rt, f, good, 2), QV_ENODEV);
    /* The mask named as the cause, and where the function could run
     * ("no device of this runtime can run 'f'" before, the CPU there). */
    assert_non_null(
        strstr(qv_last_error(), "'f' may run only on gpu (qv_func_set_where)"));
    assert_non_null(strstr(qv_last_error(), "its devices that have one: cpu)"));
    assert_int_equal(qv_func_set_where(f, 0), 0);
    assert_int_equal(qv_submit(rt, f, good, 2), 0);
    assert_int_equal(qv_buf_unregister(b), 0);
}

/* A task that holds until released, to keep a buffer busy. */
static atomic_int gate;
static void cpu_hold(const qv_call *c)
{
    (void)c;
    while (!atomic_load(&gate))
        usleep(100);
}

static void busy_buffer(void **state)
{
    (void)state;
    qv_func *hold;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(rt, "hold", d, 1, &hold), 0);
    qv_func_set_cpu(hold, cpu_hold);
    int x = 0;
    qv_buf *b;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &b), 0);
    atomic_store(&gate, 0);
    qv_arg a[] = { QV_BUF(b) };
    assert_int_equal(qv_submit(rt, hold, a, 1), 0);
    assert_int_equal(qv_buf_try_unregister(b), QV_EBUSY);
    assert_non_null(strstr(qv_last_error(), "1 submitted task"));
    atomic_store(&gate, 1);
    /* The blocking form waits for the user, then succeeds. */
    assert_int_equal(qv_buf_unregister(b), 0);
}

/* Waiting from inside a task would wait on itself. */
static qv_buf *self_buf;
static atomic_int inner_rc[3];
static void cpu_waiter(const qv_call *c)
{
    (void)c;
    atomic_store(&inner_rc[0], qv_wait_all(rt));
    atomic_store(&inner_rc[1], qv_buf_wait(self_buf));
    atomic_store(&inner_rc[2], qv_buf_unregister(self_buf));
}

static void wait_inside_task(void **state)
{
    (void)state;
    qv_func *w;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_R) };
    assert_int_equal(qv_func_create(rt, "waiter", d, 1, &w), 0);
    qv_func_set_cpu(w, cpu_waiter);
    int x = 0;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &self_buf), 0);
    qv_arg a[] = { QV_BUF(self_buf) };
    assert_int_equal(qv_submit(rt, w, a, 1), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(atomic_load(&inner_rc[i]), QV_EDEADLK);
    assert_int_equal(qv_buf_unregister(self_buf), 0);
}

/* A wait of a thread for tasks that wait for a buffer the thread holds
 * would never end: qv_buf_wait, qv_buf_acquire and qv_buf_unregister say
 * QV_EDEADLK, as qv_wait_all does, also through a chain of tasks; a wait
 * for tasks that do not wait for the hold still waits. (They hung:
 * adversarial testing.) */
static void cpu_inc_from(const qv_call *c)
{
    ((long *)c->ptr[1])[0] = ((long *)c->ptr[0])[0] + 1;
}

/* qv_buf_unregister from a task while the program submits a call on that
 * buffer and on one the task uses: the call waits for the task, so the
 * unregister must not wait for the call. Either the unregister comes first
 * (the call is refused: the buffer is gone) or it answers QV_EDEADLK; it
 * hung within a few rounds when the submission came between its look at
 * the buffer's users and its claim of the buffer (adversarial testing). */
static qv_buf *unreg_target;
static atomic_int unreg_rc, unreg_started;

static void cpu_unreg(const qv_call *c)
{
    (void)c;
    atomic_store(&unreg_started, 1);
    int rc = qv_buf_unregister(unreg_target);
    atomic_store(&unreg_rc, rc ? rc : 1);
}

static void cpu_touch(const qv_call *c)
{
    ((float *)c->ptr[1])[0] += 1;
}

static void unregister_in_a_task_racing_a_call(void **state)
{
    (void)state;
    alarm(60); /* a hang fails the test, not ctest's timeout */
    qv_func *unreg, *both;
    qv_arg_desc d1[] = { QV_ARG_BUF("tok", QV_RW) };
    qv_arg_desc d2[] = { QV_ARG_BUF("tok", QV_RW), QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(rt, "unreg", d1, 1, &unreg), 0);
    assert_int_equal(qv_func_set_cpu(unreg, cpu_unreg), 0);
    assert_int_equal(qv_func_create(rt, "touch", d2, 2, &both), 0);
    assert_int_equal(qv_func_set_cpu(both, cpu_touch), 0);
    static float x[8], tok[1];
    qv_buf *bt;
    assert_int_equal(qv_buf_register(rt, tok, sizeof tok, &bt), 0);
    unsigned in_task = 0, refused = 0;
    for (int r = 0; r < 400; r++) {
        memset(x, 0, sizeof x);
        assert_int_equal(qv_buf_register(rt, x, sizeof x, &unreg_target), 0);
        atomic_store(&unreg_rc, 0);
        atomic_store(&unreg_started, 0);
        assert_int_equal(qv_submit(rt, unreg, (qv_arg[]){ QV_BUF(bt) }, 1), 0);
        while (!atomic_load(&unreg_started))
            ;
        int src = qv_submit(rt, both, (qv_arg[]){ QV_BUF(bt), QV_BUF(unreg_target) }, 2);
        assert_int_equal(qv_wait_all(rt), 0);
        int u = atomic_load(&unreg_rc);
        if (u == QV_EDEADLK) { /* the call went in first, and ran */
            assert_int_equal(src, 0);
            assert_true(x[0] == 1.0f);
            assert_int_equal(qv_buf_unregister(unreg_target), 0);
            refused++;
        } else { /* gone first: the call is refused */
            assert_int_equal(u, 1);
            assert_int_equal(src, QV_EINVAL);
            assert_true(x[0] == 0.0f);
            in_task++;
        }
    }
    assert_true(in_task + refused == 400);
    assert_int_equal(qv_buf_unregister(bt), 0);
    alarm(0);
}

static void waits_on_a_held_buffer_are_refused(void **state)
{
    (void)state;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_R), QV_ARG_BUF("y", QV_W) };
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "inc_from", d, 2, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, cpu_inc_from), 0);
    static long x = 41, y, w, z0 = 1, z;
    qv_buf *bx, *by, *bw, *bz0, *bz;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &bx), 0);
    assert_int_equal(qv_buf_register(rt, &y, sizeof y, &by), 0);
    assert_int_equal(qv_buf_register(rt, &w, sizeof w, &bw), 0);
    assert_int_equal(qv_buf_register(rt, &z0, sizeof z0, &bz0), 0);
    assert_int_equal(qv_buf_register(rt, &z, sizeof z, &bz), 0);
    assert_int_equal(qv_buf_acquire(bx, QV_RW), 0);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(bx), QV_BUF(by) }, 2), 0);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(by), QV_BUF(bw) }, 2), 0);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(bz0), QV_BUF(bz) }, 2), 0);
    assert_int_equal(qv_buf_wait(by), QV_EDEADLK);
    assert_non_null(strstr(qv_last_error(), "never end"));
    assert_int_equal(qv_buf_acquire(by, QV_R), QV_EDEADLK);
    assert_int_equal(qv_buf_acquire(bw, QV_RW), QV_EDEADLK); /* through y's task */
    assert_int_equal(qv_buf_unregister(bw), QV_EDEADLK);
    assert_int_equal(qv_buf_wait(bz), 0); /* z's task waits for no hold */
    assert_int_equal(z, 2);
    assert_int_equal(qv_buf_release(bx), 0);
    assert_int_equal(qv_buf_wait(bw), 0);
    assert_int_equal(y, 42);
    assert_int_equal(w, 43);
    assert_int_equal(qv_buf_unregister(bw), 0);
    assert_int_equal(qv_buf_unregister(by), 0);
    assert_int_equal(qv_buf_unregister(bx), 0);
    assert_int_equal(qv_buf_unregister(bz), 0);
    assert_int_equal(qv_buf_unregister(bz0), 0);
}

static qv_buf *holdover_x, *holdover_y;
static atomic_int holdover_rc = -1;
static pthread_t holdover_holder;

static void *holdover_acquire(void *arg)
{
    (void)arg;
    holdover_holder = pthread_self();
    assert_int_equal(qv_buf_acquire(holdover_x, QV_RW), 0); /* released by main */
    return NULL;
}

static void *holdover_wait(void *arg)
{
    (void)arg;
    if (pthread_equal(pthread_self(), holdover_holder))
        fprintf(stderr, "the waiter has the ended holder's pthread_t\n");
    atomic_store(&holdover_rc, qv_buf_wait(holdover_y));
    return NULL;
}

/* A thread holds nothing that a thread that ended acquired, though it has
 * that thread's pthread_t (glibc gives the next thread the one of a thread
 * joined): its wait waits for the release another thread makes, not
 * QV_EDEADLK at once (adversarial testing). */
static void a_new_thread_holds_nothing_of_an_ended_one(void **state)
{
    (void)state;
    qv_arg_desc d[] = {QV_ARG_BUF("x", QV_R), QV_ARG_BUF("y", QV_W)};
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "inc_from", d, 2, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, cpu_inc_from), 0);
    static long x = 41, y;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &holdover_x), 0);
    assert_int_equal(qv_buf_register(rt, &y, sizeof y, &holdover_y), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, holdover_acquire, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(
        qv_submit(rt, f, (qv_arg[]){QV_BUF(holdover_x), QV_BUF(holdover_y)}, 2), 0);
    assert_int_equal(pthread_create(&t, NULL, holdover_wait, NULL), 0);
    usleep(100000);
    assert_int_equal(atomic_load(&holdover_rc), -1); /* still waiting */
    assert_int_equal(qv_buf_release(holdover_x), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(atomic_load(&holdover_rc), 0);
    assert_int_equal(y, 42);
    assert_int_equal(qv_buf_unregister(holdover_y), 0);
    assert_int_equal(qv_buf_unregister(holdover_x), 0);
}

static qv_buf *second_b;
static char second_msg[256];
static atomic_int second_rc;

static void *second_try(void *arg)
{
    (void)arg;
    atomic_store(&second_rc, qv_buf_try_acquire(second_b, QV_R));
    snprintf(second_msg, sizeof second_msg, "%s", qv_last_error());
    return NULL;
}

/* A buffer held already: QV_EBUSY, saying which call was refused and who
 * holds it (a try read "qv_buf_acquire: ... release it first" to a thread
 * that held nothing: a user's report). */
static void second_acquire_says_who_holds(void **state)
{
    (void)state;
    static long x = 1;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &second_b), 0);
    assert_int_equal(qv_buf_acquire(second_b, QV_R), 0);
    assert_int_equal(qv_buf_acquire(second_b, QV_R), QV_EBUSY);
    assert_non_null(strstr(qv_last_error(), "qv_buf_acquire: buffer"));
    assert_non_null(strstr(qv_last_error(), "held already, by this thread"));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, second_try, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(atomic_load(&second_rc), QV_EBUSY);
    assert_non_null(strstr(second_msg, "qv_buf_try_acquire: buffer"));
    assert_non_null(strstr(second_msg, "held already, by another thread"));
    assert_int_equal(qv_buf_release(second_b), 0);
    assert_int_equal(qv_buf_unregister(second_b), 0);
}

/* An acquisition under way in another thread (waiting for the task that
 * writes the buffer) is not a hold yet: a qv_buf_release of it gets
 * QV_EINVAL, and a qv_buf_wait waits until it is made. (The release ended
 * the acquisition early: the task submitted next ran alongside the one
 * the acquisition waited for, an update was lost, and the acquire
 * returned 0 holding nothing. The wait returned at once, before the
 * write: adversarial testing.) */
static qv_buf *pend_b;
static long pend_x[4];
static atomic_int pend_go, pend_started, pend_acq_rc, pend_wait_rc;
static atomic_long pend_seen, pend_wait_seen;

static void cpu_slow_inc(const qv_call *c)
{
    long v = ((long *)c->ptr[0])[0];
    atomic_store(&pend_started, 1);
    while (!atomic_load(&pend_go))
        usleep(100);
    ((long *)c->ptr[0])[0] = v + 1;
}

static void cpu_pend_inc(const qv_call *c)
{
    ((long *)c->ptr[0])[0]++;
}

static void *pend_acquire(void *arg)
{
    int rc = qv_buf_acquire(pend_b, (qv_mode)(intptr_t)arg);
    atomic_store(&pend_acq_rc, rc);
    if (rc)
        return NULL;
    /* Atomic: a qv_buf_wait in another thread returns while this holds
     * the buffer, and its thread reads it meanwhile (pend_wait). */
    atomic_store(&pend_seen, __atomic_load_n(&pend_x[0], __ATOMIC_RELAXED));
    if ((qv_mode)(intptr_t)arg == QV_RW)
        __atomic_fetch_add(&pend_x[0], 10, __ATOMIC_RELAXED);
    atomic_store(&pend_acq_rc, qv_buf_release(pend_b) ? -1 : 1);
    return NULL;
}

static void *pend_wait(void *arg)
{
    (void)arg;
    int rc = qv_buf_wait(pend_b);
    atomic_store(&pend_wait_seen, __atomic_load_n(&pend_x[0], __ATOMIC_RELAXED));
    atomic_store(&pend_wait_rc, rc ? rc : 1);
    return NULL;
}

/* Runs the slow task on pend_b and starts an acquisition of it with mode m
 * in thread *t, which waits for the task. */
static void pend_start(qv_func **inc, pthread_t *t, qv_mode m)
{
    alarm(60); /* a hang fails the test, not ctest's timeout */
    qv_func *slow;
    qv_arg_desc d[] = {QV_ARG_BUF("x", QV_RW)};
    assert_int_equal(qv_func_create(rt, "slow_inc", d, 1, &slow), 0);
    assert_int_equal(qv_func_set_cpu(slow, cpu_slow_inc), 0);
    assert_int_equal(qv_func_create(rt, "inc", d, 1, inc), 0);
    assert_int_equal(qv_func_set_cpu(*inc, cpu_pend_inc), 0);
    memset(pend_x, 0, sizeof pend_x);
    atomic_store(&pend_go, 0);
    atomic_store(&pend_started, 0);
    atomic_store(&pend_acq_rc, 0);
    atomic_store(&pend_wait_rc, 0);
    assert_int_equal(qv_buf_register(rt, pend_x, sizeof pend_x, &pend_b), 0);
    assert_int_equal(qv_submit(rt, slow, (qv_arg[]){QV_BUF(pend_b)}, 1), 0);
    while (!atomic_load(&pend_started))
        usleep(100);
    assert_int_equal(pthread_create(t, NULL, pend_acquire, (void *)(intptr_t)m), 0);
}

static void release_during_an_acquire_is_refused(void **state)
{
    (void)state;
    qv_func *inc;
    pthread_t t;
    pend_start(&inc, &t, QV_RW);
    /* For 100 ms, the acquisition waiting all along. */
    int rc = QV_EINVAL, i;
    for (i = 0; i < 100 && rc == QV_EINVAL; i++) {
        rc = qv_buf_release(pend_b);
        usleep(1000);
    }
    bool waited = atomic_load(&pend_acq_rc) == 0;
    const char *why = strstr(qv_last_error(), "under way");
    /* Runs after the slow task and the host's hold. */
    assert_int_equal(qv_submit(rt, inc, (qv_arg[]){QV_BUF(pend_b)}, 1), 0);
    atomic_store(&pend_go, 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    if (rc != QV_EINVAL)
        fail_msg("attempt %d: a release of an acquisition under way returned %d", i, rc);
    assert_true(waited);
    assert_non_null(why);
    assert_int_equal(atomic_load(&pend_acq_rc), 1);
    assert_int_equal(atomic_load(&pend_seen), 1);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(qv_buf_unregister(pend_b), 0);
    assert_int_equal(pend_x[0], 12);
    alarm(0);
}

static void wait_during_an_acquire_waits_for_it(void **state)
{
    (void)state;
    for (int m = QV_R; m <= QV_RW; m += QV_RW - QV_R) {
        qv_func *inc;
        pthread_t t, w;
        if (m != QV_R) { /* a fresh runtime: the functions' names are taken */
            teardown(NULL);
            assert_int_equal(setup(NULL), 0);
        }
        pend_start(&inc, &t, (qv_mode)m);
        usleep(20000); /* the acquisition waits */
        assert_int_equal(pthread_create(&w, NULL, pend_wait, NULL), 0);
        usleep(100000);
        int early = atomic_load(&pend_wait_rc);
        long seen = atomic_load(&pend_wait_seen);
        atomic_store(&pend_go, 1);
        assert_int_equal(pthread_join(w, NULL), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        if (early)
            fail_msg("mode %d: qv_buf_wait returned %d before the task it waits for "
                     "(it saw %ld)",
                     m, early, seen);
        assert_int_equal(atomic_load(&pend_wait_rc), 1);
        assert_true(atomic_load(&pend_wait_seen) >= 1);
        assert_int_equal(atomic_load(&pend_acq_rc), 1);
        assert_int_equal(qv_buf_unregister(pend_b), 0);
        assert_int_equal(pend_x[0], m == QV_RW ? 11 : 1);
    }
    alarm(0);
}

/* A shutdown while an acquisition waits for its task: the acquisition is
 * made, then released by the shutdown (the thread's own release gets
 * QV_EINVAL), and the shutdown returns once the task is done. */
static void *pend_go_later(void *arg)
{
    (void)arg;
    usleep(50000);
    atomic_store(&pend_go, 1);
    return NULL;
}

static void shutdown_during_an_acquire(void **state)
{
    (void)state;
    qv_func *inc;
    pthread_t t, g;
    pend_start(&inc, &t, QV_RW);
    usleep(20000);
    assert_int_equal(pthread_create(&g, NULL, pend_go_later, NULL), 0);
    assert_int_equal(qv_runtime_shutdown(rt), 0);
    assert_int_equal(pthread_join(g, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    int rc = atomic_load(&pend_acq_rc);
    assert_true(rc == 1 || rc == -1); /* made; released by the shutdown first */
    assert_int_equal(qv_buf_unregister(pend_b), 0);
    assert_true(pend_x[0] == 1 || pend_x[0] == 11);
    alarm(0);
}

/* Tasks that submit tasks while the program shuts the runtime down: the
 * children are part of the work the shutdown waits for. (They were
 * refused with QV_ESHUTDOWN and shutdown returned 0 with the work cut
 * short: a user's test.) */
static qv_func *nest_child;
static qv_buf *nest_buf;
static atomic_int nest_failed;

static void cpu_nest_child(const qv_call *c)
{
    ((int *)c->ptr[0])[0]++;
}

static void cpu_nest_parent(const qv_call *c)
{
    (void)c;
    usleep(2000); /* the shutdown has begun meanwhile */
    if (qv_submit(rt, nest_child, (qv_arg[]){ QV_BUF(nest_buf) }, 1))
        atomic_fetch_add(&nest_failed, 1);
}

static void shutdown_waits_for_nested_submissions(void **state)
{
    (void)state;
    static int x[4];
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW) };
    qv_func *parent;
    assert_int_equal(qv_func_create(rt, "child", d, 1, &nest_child), 0);
    assert_int_equal(qv_func_set_cpu(nest_child, cpu_nest_child), 0);
    assert_int_equal(qv_func_create(rt, "parent", NULL, 0, &parent), 0);
    assert_int_equal(qv_func_set_cpu(parent, cpu_nest_parent), 0);
    assert_int_equal(qv_buf_register(rt, x, sizeof x, &nest_buf), 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(qv_submit(rt, parent, NULL, 0), 0);
    assert_int_equal(qv_runtime_shutdown(rt), 0);
    assert_int_equal(atomic_load(&nest_failed), 0);
    assert_int_equal(x[0], 20);
    assert_int_equal(qv_submit(rt, nest_child, (qv_arg[]){ QV_BUF(nest_buf) }, 1),
                     QV_ESHUTDOWN);
    assert_int_equal(qv_buf_unregister(nest_buf), 0);
}

static void submit_after_shutdown(void **state)
{
    (void)state;
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "late", NULL, 0, &f), 0);
    qv_func_set_cpu(f, cpu_nop);
    assert_int_equal(qv_submit(rt, f, NULL, 0), 0);
    assert_int_equal(qv_runtime_shutdown(rt), 0);
    assert_int_equal(qv_runtime_shutdown(rt), 0); /* idempotent */
    assert_int_equal(qv_submit(rt, f, NULL, 0), QV_ESHUTDOWN);
    assert_non_null(strstr(qv_last_error(), "shutdown"));
    assert_int_equal(qv_wait_all(rt), 0);
}

static void error_names(void **state)
{
    (void)state;
    assert_string_equal(qv_strerror(0), "success");
    assert_string_equal(qv_strerror(QV_EFORMAT), "malformed input");
    assert_string_equal(qv_strerror(QV_ENODEV), "no device can run this task");
    /* Not "too many arguments": region names, sizes and counts too. */
    assert_string_equal(qv_strerror(QV_E2BIG), "too many or too large (past a limit)");
    assert_string_equal(qv_strerror(-EACCES), strerror(EACCES));
    assert_string_equal(qv_strerror(-99999), "unknown error");
    assert_string_equal(qv_strerror(12345), "unknown error");
    assert_string_equal(qv_class_name(QV_CLASS_FPGA), "fpga");
    assert_null(qv_class_name((qv_class)42));
}

/* A handle used after it was unregistered gets QV_EINVAL, not a
 * use-after-free (detected for recent handles). */
static void stale_buffer_handles(void **state)
{
    (void)state;
    float v[4];
    qv_buf *b;
    assert_int_equal(qv_buf_register(rt, v, sizeof v, &b), 0);
    assert_int_equal(qv_buf_unregister(b), 0);
    assert_int_equal(qv_buf_unregister(b), QV_EINVAL);
    assert_int_equal(qv_buf_try_unregister(b), QV_EINVAL);
    assert_int_equal(qv_buf_wait(b), QV_EINVAL);
    assert_int_equal(qv_buf_acquire(b, QV_R), QV_EINVAL);
    assert_int_equal(qv_buf_try_acquire(b, QV_R), QV_EINVAL);
    assert_int_equal(qv_buf_try_acquire(NULL, QV_R), QV_EINVAL);
    assert_null(qv_buf_data(b));
    qv_func *f;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(rt, "f", d, 1, &f), 0);
    qv_func_set_cpu(f, cpu_nop);
    assert_int_equal(qv_submit(rt, f, (qv_arg[]){ QV_BUF(b) }, 1), QV_EINVAL);
}

/* Threads that submit on, wait for and unregister one buffer at once
 * (the program's race): each submission is either accepted and done
 * before an unregister returns, or refused with QV_EINVAL; one unregister
 * wins, the other gets QV_EINVAL. (Submissions that raced the unregister
 * were accepted and ran on the memory after it had returned: a user's
 * test, use after free under ASan.) */
static qv_func *race_f;
static qv_buf *race_b;
static atomic_int race_ok, race_stop;

static void cpu_inc(const qv_call *c)
{
    ((int *)c->ptr[0])[0]++;
}

static void *race_submitter(void *arg)
{
    (void)arg;
    for (;;) {
        int rc = qv_submit(rt, race_f, (qv_arg[]){ QV_BUF(race_b) }, 1);
        if (rc) {
            assert_int_equal(rc, QV_EINVAL);
            return NULL;
        }
        atomic_fetch_add(&race_ok, 1);
    }
}

static void *race_waiter(void *arg)
{
    (void)arg;
    while (!atomic_load(&race_stop)) {
        int rc = qv_buf_wait(race_b);
        if (rc) {
            assert_int_equal(rc, QV_EINVAL);
            return NULL;
        }
    }
    return NULL;
}

static void *race_unregister(void *arg)
{
    return (void *)(intptr_t)qv_buf_unregister(arg);
}

static void unregister_races_submissions(void **state)
{
    (void)state;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(rt, "inc", d, 1, &race_f), 0);
    assert_int_equal(qv_func_set_cpu(race_f, cpu_inc), 0);
    for (int r = 0; r < 30; r++) {
        int *x = calloc(16, sizeof *x);
        assert_non_null(x);
        assert_int_equal(qv_buf_register(rt, x, 16 * sizeof *x, &race_b), 0);
        atomic_store(&race_ok, 0);
        atomic_store(&race_stop, 0);
        pthread_t sub, wai, other;
        assert_int_equal(pthread_create(&sub, NULL, race_submitter, NULL), 0);
        assert_int_equal(pthread_create(&wai, NULL, race_waiter, NULL), 0);
        usleep(500 + 100 * r);
        assert_int_equal(pthread_create(&other, NULL, race_unregister, race_b), 0);
        int rc = qv_buf_unregister(race_b);
        void *orc;
        assert_int_equal(pthread_join(other, &orc), 0);
        int seen = x[0]; /* the memory is the caller's again */
        atomic_store(&race_stop, 1);
        assert_int_equal(pthread_join(sub, NULL), 0);
        assert_int_equal(pthread_join(wai, NULL), 0);
        assert_int_equal(qv_wait_all(rt), 0);
        int orc_i = (int)(intptr_t)orc;
        if (!((rc == 0 && orc_i == QV_EINVAL) || (rc == QV_EINVAL && orc_i == 0)))
            fail_msg("round %d: the unregisters returned %d and %d", r, rc, orc_i);
        if (x[0] != atomic_load(&race_ok) || seen != x[0])
            fail_msg("round %d: %d accepted, x %d (%d when the unregister returned)", r,
                     atomic_load(&race_ok), x[0], seen);
        free(x);
    }
}

/* Calls on a destroyed runtime and on its handles get QV_EINVAL. */
static void destroyed_runtime(void **state)
{
    (void)state;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1;
    o.perfmodel_dir = "";
    qv_runtime *r;
    assert_int_equal(qv_runtime_create(&o, &r), 0);
    float v[4];
    qv_buf *b;
    qv_func *f;
    assert_int_equal(qv_buf_register(r, v, sizeof v, &b), 0);
    assert_int_equal(qv_func_create(r, "f", NULL, 0, &f), 0);
    qv_func_set_cpu(f, cpu_nop);
    qv_func *f0 = f;
    qv_runtime_destroy(r);
    assert_int_equal(qv_submit(r, f, NULL, 0), QV_EINVAL);
    assert_int_equal(qv_wait_all(r), QV_EINVAL);
    assert_int_equal(qv_buf_register(r, v, sizeof v, &b), QV_EINVAL);
    assert_int_equal(qv_buf_unregister(b), QV_EINVAL);
    assert_int_equal(qv_buf_wait(b), QV_EINVAL);
    assert_int_equal(qv_func_set_cpu(f, cpu_nop), QV_EINVAL);
    assert_int_equal(qv_func_create(r, "g", NULL, 0, &f), QV_EINVAL);
    assert_int_equal(qv_runtime_shutdown(r), QV_EINVAL);
    /* The graph and the models, too (adversarial finding: reset and save
     * returned 0, the exports QV_ENOENT). */
    qv_graph_info gi;
    qv_node_info ni;
    assert_int_equal(qv_graph_reset(r), QV_EINVAL);
    assert_non_null(strstr(qv_last_error(), "destroyed"));
    assert_int_equal(qv_graph_info_get(r, &gi), QV_EINVAL);
    assert_int_equal(qv_graph_node(r, 0, &ni), QV_EINVAL);
    assert_int_equal(qv_graph_write(r, "g", "/dev/null"), QV_EINVAL);
    assert_int_equal(qv_graph_write_dot(r, "/dev/null"), QV_EINVAL);
    assert_int_equal(qv_trace_write(r, "/dev/null"), QV_EINVAL);
    assert_int_equal(qv_perfmodel_save(r), QV_EINVAL);
    assert_non_null(strstr(qv_last_error(), "destroyed"));
    /* The devices and the models' estimates (adversarial finding:
     * qv_device_get crashed, qv_device_count said 1). */
    qv_device_info di;
    double us;
    assert_int_equal(qv_device_count(r), 0);
    assert_int_equal(qv_device_get(r, 0, &di), QV_EINVAL);
    assert_int_equal(qv_runtime_ncpu(r), 0);
    assert_int_equal(qv_perfmodel_estimate(f0, QV_CLASS_CPU, 0, &us), QV_EINVAL);
    assert_string_equal(qv_perfmodel_path(r), "");
    qv_runtime_destroy(r); /* twice: nothing happens */
}

static atomic_long nop_calls;

static void cpu_count(const qv_call *c)
{
    (void)c;
    atomic_fetch_add(&nop_calls, 1);
}

/* A function's CPU implementation removed and set again while its calls
 * run (nothing submitted meanwhile, as quiver.h asks): each call runs the
 * implementation it finds or, finding none, fails; none calls NULL
 * (adversarial finding: the worker read it twice, and called NULL). */
static void implementation_toggled_while_calls_run(void **state)
{
    (void)state;
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "toggled", NULL, 0, &f), 0);
    atomic_store(&nop_calls, 0);
    long submitted = 0;
    for (int round = 0; round < 4; round++) {
        assert_int_equal(qv_func_set_cpu(f, cpu_count), 0);
        for (int i = 0; i < 20000; i++, submitted++)
            assert_int_equal(qv_submit(rt, f, NULL, 0), 0);
        for (int i = 0; i < 20000; i++) {
            qv_func_set_cpu(f, NULL);
            qv_func_set_cpu(f, cpu_count);
        }
        int rc = qv_wait_all(rt); /* those that found none ran nowhere */
        assert_true(rc == 0 || rc == QV_ENODEV);
    }
    assert_true(atomic_load(&nop_calls) <= submitted);
    assert_true(atomic_load(&nop_calls) > 0);
}

/* fork() after the runtime is made: in the child, the parent's runtime
 * (whose threads are not there) refuses every call, and a runtime of the
 * child's own works (adversarial finding: qv_wait_all hung there, and
 * qv_runtime_destroy crashed). The parent's goes on. */
static void fork_leaves_the_runtime_to_the_parent(void **state)
{
    (void)state;
    qv_func *f;
    assert_int_equal(qv_func_create(rt, "forked", NULL, 0, &f), 0);
    assert_int_equal(qv_func_set_cpu(f, cpu_count), 0);
    assert_int_equal(qv_submit(rt, f, NULL, 0), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int bad = 0;
        /* ...and says why: not "destroyed" (adversarial finding) */
        bad |= qv_submit(rt, f, NULL, 0) != QV_EINVAL;
        bad |= !strstr(qv_last_error(), "before fork()");
        bad |= qv_wait_all(rt) != QV_EINVAL;
        bad |= !strstr(qv_last_error(), "before fork()");
        bad |= qv_func_set_cpu(f, cpu_count) != QV_EINVAL;
        bad |= !strstr(qv_last_error(), "before fork()");
        bad |= qv_device_count(rt) != 0;
        qv_runtime_destroy(rt); /* refused, nothing freed, no crash */
#ifdef __SANITIZE_THREAD__
        _exit(bad ? 1 : 0); /* TSan ends a forked child that starts threads */
#endif
#ifdef __SANITIZE_ADDRESS__
        /* GCC 12's AddressSanitizer does not hold its allocator's locks
         * across fork(): a parent thread inside malloc then (one of the
         * runtime's) leaves one locked in the child, whose new
         * runtime's threads wait on it for ever (7 runs in 60 hung, in
         * ASan's calloc; glibc's malloc, outside the sanitizer, is
         * fork-safe, and the plain build runs the rest). */
        _exit(bad ? 1 : 0);
#endif
        qv_options o;
        qv_options_init(&o);
        o.ncpu = 1;
        o.perfmodel_dir = "";
        o.opencl = 0;
        qv_runtime *mine;
        bad |= qv_runtime_create(&o, &mine) != 0;
        if (!bad) {
            qv_func *g;
            bad |= qv_func_create(mine, "g", NULL, 0, &g) != 0;
            bad |= qv_func_set_cpu(g, cpu_count) != 0;
            bad |= qv_submit(mine, g, NULL, 0) != 0;
            bad |= qv_wait_all(mine) != 0;
            qv_runtime_destroy(mine);
        }
        _exit(bad ? 1 : 0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(qv_submit(rt, f, NULL, 0), 0);
    assert_int_equal(qv_wait_all(rt), 0);
}

/* fork() while the runtime's threads log: the child's own runtime logs
 * too. The library's process-wide locks (the log's among them) are taken
 * across the fork: a child forked while a worker held the log's lock found
 * it held by no one, and hung at its own first log line (adversarial
 * testing: 1 or 2 children in 60). Every line goes to /dev/null. */
struct feeder {
    qv_runtime *rt;
    qv_func *f;
    atomic_int stop;
};

static void *feed(void *p)
{
    struct feeder *fd = p;
    for (unsigned i = 0; !atomic_load(&fd->stop); i++) {
        qv_submit(fd->rt, fd->f, NULL, 0);
        if (i % 64 == 0)
            qv_wait_all(fd->rt);
    }
    return NULL;
}

static qv_runtime *runtime_of(const char *policy, int ncpu)
{
    qv_options o;
    qv_options_init(&o);
    o.ncpu = ncpu;
    o.perfmodel_dir = "";
    o.opencl = 0;
    o.config = policy;
    qv_runtime *r = NULL;
    return qv_runtime_create(&o, &r) == 0 ? r : NULL;
}

/* A submission held back (max_inflight) while another thread unregisters
 * its buffer and 300 others: it gets QV_EINVAL once it goes on. The
 * handle it checks then was freed by the 256th unregister after its own
 * (AddressSanitizer: heap-use-after-free in the check; adversarial
 * testing). */
static qv_runtime *park_rt;
static qv_func *park_inc;
static qv_buf *park_b;
static atomic_int park_gate, park_rc;

static void cpu_park_hold(const qv_call *c)
{
    (void)c;
    while (!atomic_load(&park_gate))
        usleep(100);
}

static void cpu_park_inc(const qv_call *c)
{
    ((long *)c->ptr[0])[0]++;
}

static void *park_submit(void *arg)
{
    (void)arg;
    atomic_store(&park_rc, qv_submit(park_rt, park_inc, (qv_arg[]){QV_BUF(park_b)}, 1));
    return NULL;
}

static void parked_submission_outlives_many_unregisters(void **state)
{
    (void)state;
    alarm(60);
    char policy[600];
    snprintf(policy, sizeof policy, "%s/park.yaml", qv_test_scratch());
    FILE *pf = fopen(policy, "w");
    assert_non_null(pf);
    fputs("devices: [cpu]\nmax_inflight: 16\n", pf);
    assert_int_equal(fclose(pf), 0);
    assert_non_null(park_rt = runtime_of(policy, 2));
    qv_func *hold;
    qv_arg_desc r[] = {QV_ARG_BUF("x", QV_R)}, rw[] = {QV_ARG_BUF("x", QV_RW)};
    assert_int_equal(qv_func_create(park_rt, "hold", r, 1, &hold), 0);
    assert_int_equal(qv_func_set_cpu(hold, cpu_park_hold), 0);
    assert_int_equal(qv_func_create(park_rt, "inc", rw, 1, &park_inc), 0);
    assert_int_equal(qv_func_set_cpu(park_inc, cpu_park_inc), 0);
    static long tok, x[4], m[300];
    qv_buf *bt;
    assert_int_equal(qv_buf_register(park_rt, &tok, sizeof tok, &bt), 0);
    assert_int_equal(qv_buf_register(park_rt, x, sizeof x, &park_b), 0);
    atomic_store(&park_gate, 0);
    atomic_store(&park_rc, 1);
    for (int i = 0; i < 16; i++)
        assert_int_equal(qv_submit(park_rt, hold, (qv_arg[]){QV_BUF(bt)}, 1), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, park_submit, NULL), 0);
    usleep(100000);
    int parked = atomic_load(&park_rc) == 1; /* still held back */
    assert_int_equal(qv_buf_unregister(park_b), 0);
    for (int i = 0; i < 300; i++) {
        qv_buf *b;
        assert_int_equal(qv_buf_register(park_rt, &m[i], sizeof m[i], &b), 0);
        assert_int_equal(qv_buf_unregister(b), 0);
    }
    atomic_store(&park_gate, 1);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(parked);
    assert_int_equal(atomic_load(&park_rc), QV_EINVAL);
    assert_int_equal(x[0], 0);
    assert_int_equal(qv_wait_all(park_rt), 0);
    assert_int_equal(qv_buf_unregister(bt), 0);
    qv_runtime_destroy(park_rt);
    alarm(0);
}

static void fork_while_threads_log(void **state)
{
    (void)state;
    char policy[600];
    snprintf(policy, sizeof policy, "%s/forklog.yaml", qv_test_scratch());
    int pfd = open(policy, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(pfd >= 0);
    const char *text = "devices: [cpu]\nlog: {level: trace, file: /dev/null}\n";
    assert_int_equal(write(pfd, text, strlen(text)), (ssize_t)strlen(text));
    close(pfd);
    struct feeder fd = {.rt = runtime_of(policy, 2)};
    assert_non_null(fd.rt);
    assert_int_equal(qv_func_create(fd.rt, "logged", NULL, 0, &fd.f), 0);
    assert_int_equal(qv_func_set_cpu(fd.f, cpu_count), 0);
    atomic_init(&fd.stop, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, feed, &fd), 0);
    unsigned seed = 7;
    int hung = 0, failed = 0;
    for (int i = 0; i < 60; i++) {
        usleep(rand_r(&seed) % 2000);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
            /* TSan ends a forked child that starts threads; under ASan a
             * child forked while a parent's thread was in ASan's allocator
             * can hang in it (1 child of 60 once in CI: its threads stuck
             * in the sanitizer's lock, not in one of ours). The plain
             * build runs the children. */
            _exit(0);
#endif
            qv_runtime *mine = runtime_of(policy, 1);
            qv_func *g;
            int bad = !mine || qv_func_create(mine, "g", NULL, 0, &g) != 0 ||
                      qv_func_set_cpu(g, cpu_count) != 0 || qv_submit(mine, g, NULL, 0) != 0 ||
                      qv_wait_all(mine) != 0;
            qv_runtime_destroy(mine);
            _exit(bad);
        }
        /* Not alarm() in the child: the hang was in qv_runtime_create,
         * which blocks the caller's signals while it runs. */
        int st = 0, waited = 0;
        pid_t got;
        while ((got = waitpid(pid, &st, WNOHANG)) == 0 && waited++ < 1000)
            usleep(10000);
        if (got == 0) {
            hung++;
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        } else {
            failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
        }
    }
    atomic_store(&fd.stop, 1);
    pthread_join(th, NULL);
    assert_int_equal(qv_wait_all(fd.rt), 0);
    qv_runtime_destroy(fd.rt);
    if (hung || failed)
        fail_msg("of 60 children, %d hung (10 s) and %d failed", hung, failed);
}

/* Two buffers over the same bytes would let their tasks race: refused. */
static void overlapping_buffers(void **state)
{
    (void)state;
    static char mem[4096];
    qv_buf *a, *b, *c, *z1, *z2;
    assert_int_equal(qv_buf_register(rt, mem + 100, 100, &a), 0);
    assert_int_equal(qv_buf_register(rt, mem + 150, 10, &b), QV_EEXIST);
    assert_non_null(strstr(qv_last_error(), "overlap"));
    assert_int_equal(qv_buf_register(rt, mem + 50, 51, &b), QV_EEXIST);
    assert_int_equal(qv_buf_register(rt, mem + 199, 1, &b), QV_EEXIST);
    assert_int_equal(qv_buf_register(rt, mem, 4096, &b), QV_EEXIST);
    assert_int_equal(qv_buf_register(rt, mem + 100, 100, &b), QV_EEXIST);
    /* Adjacent is fine; so are dependency tokens. */
    assert_int_equal(qv_buf_register(rt, mem + 200, 100, &b), 0);
    assert_int_equal(qv_buf_register(rt, mem, 100, &c), 0);
    assert_int_equal(qv_buf_register(rt, NULL, 0, &z1), 0);
    assert_int_equal(qv_buf_register(rt, NULL, 0, &z2), 0);
    /* Unregistered memory may be registered again. */
    assert_int_equal(qv_buf_unregister(a), 0);
    assert_int_equal(qv_buf_register(rt, mem + 120, 20, &a), 0);
    assert_int_equal(qv_buf_unregister(a), 0);
    assert_int_equal(qv_buf_unregister(b), 0);
    assert_int_equal(qv_buf_unregister(c), 0);
    qv_buf_unregister(z1);
    qv_buf_unregister(z2);
    /* Many buffers: the check stays cheap (a tree, not a list). */
    enum { M = 20000 };
    static qv_buf *many[M];
    static char big[M * 8];
    for (int i = 0; i < M; i++)
        assert_int_equal(qv_buf_register(rt, big + 8 * i, 8, &many[i]), 0);
    assert_int_equal(qv_buf_register(rt, big + 8 * 777 + 4, 8, &a), QV_EEXIST);
    for (int i = 0; i < M; i++)
        assert_int_equal(qv_buf_unregister(many[i]), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(null_arguments, setup, teardown),
        cmocka_unit_test(bad_options),
        cmocka_unit_test_setup_teardown(unknown_function, setup, teardown),
        cmocka_unit_test_setup_teardown(many_functions_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_signatures, setup, teardown),
        cmocka_unit_test_setup_teardown(mismatched_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(busy_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(second_acquire_says_who_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(waits_on_a_held_buffer_are_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_new_thread_holds_nothing_of_an_ended_one, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(release_during_an_acquire_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(wait_during_an_acquire_waits_for_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(shutdown_during_an_acquire, setup, teardown),
        cmocka_unit_test_setup_teardown(wait_inside_task, setup, teardown),
        cmocka_unit_test_setup_teardown(submit_after_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(shutdown_waits_for_nested_submissions, setup,
                                        teardown),
        cmocka_unit_test(error_names),
        cmocka_unit_test_setup_teardown(stale_buffer_handles, setup, teardown),
        cmocka_unit_test_setup_teardown(unregister_races_submissions, setup, teardown),
        cmocka_unit_test(destroyed_runtime),
        cmocka_unit_test_setup_teardown(fork_leaves_the_runtime_to_the_parent, setup,
                                        teardown),
        cmocka_unit_test(fork_while_threads_log),
        cmocka_unit_test(parked_submission_outlives_many_unregisters),
        cmocka_unit_test_setup_teardown(implementation_toggled_while_calls_run, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(overlapping_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(unregister_in_a_task_racing_a_call, setup,
                                        teardown),
    };
    if (argc > 1) /* a test name (or glob) to run only that */
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qv_test_scratch_remove();
    return rc;
}
