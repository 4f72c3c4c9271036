/*
 * test_deps.c - implicit dependencies give the result of sequential
 * execution: random programs over shared buffers run on the runtime and
 * directly, compared word for word, over many seeds; plus long runs,
 * concurrent readers, waits on one buffer and scalars by value,
 * qv_buf_try_acquire, which never waits for a task, and calls refused for
 * want of memory for their dependencies (nothing of them runs), or whose
 * graph is short of memory (they still wait for what they must).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "devices/device.h" /* qv__fault_set */
#include "helper.h"
#include "quiver.h"

#define NBUF 12
#define WORDS 8

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Order-sensitive arithmetic: every op depends on what came before. */
static void op_mix(uint64_t *dst, const uint64_t *src, uint64_t k)
{
    for (int i = 0; i < WORDS; i++)
        dst[i] = dst[i] * 6364136223846793005u + src[(i + 1) % WORDS] + k;
}
static void op_copy(uint64_t *dst, const uint64_t *src)
{
    for (int i = 0; i < WORDS; i++)
        dst[i] = src[i] ^ 0x9e3779b97f4a7c15u;
}
static void op_scale(uint64_t *dst, uint64_t k)
{
    for (int i = 0; i < WORDS; i++)
        dst[i] = dst[i] * 3 + k + (uint64_t)i;
}
/* Reads two, writes a third (W only: every word overwritten). */
static void op_sum(uint64_t *dst, const uint64_t *a, const uint64_t *b)
{
    for (int i = 0; i < WORDS; i++)
        dst[i] = a[i] + 7 * b[i];
}

static atomic_int jitter_on;
static void jitter(uint64_t k)
{
    if (atomic_load(&jitter_on) && k % 7 == 0)
        usleep((useconds_t)(k % 3));
}

static void cpu_mix(const qv_call *c)
{
    uint64_t k = *(const uint64_t *)c->ptr[2];
    jitter(k);
    op_mix(c->ptr[0], c->ptr[1], k);
}
static void cpu_copy(const qv_call *c)
{
    op_copy(c->ptr[0], c->ptr[1]);
}
static void cpu_scale(const qv_call *c)
{
    uint64_t k = *(const uint64_t *)c->ptr[1];
    jitter(k);
    op_scale(c->ptr[0], k);
}
static void cpu_sum(const qv_call *c)
{
    op_sum(c->ptr[0], c->ptr[1], c->ptr[2]);
}
/* The same buffer twice, read and read-write: the runtime must not make the
 * task wait for itself. */
static void cpu_self(const qv_call *c)
{
    uint64_t *d = c->ptr[0];
    const uint64_t *s = c->ptr[1];
    uint64_t first = s[0];
    for (int i = 0; i < WORDS; i++)
        d[i] += first;
}

typedef struct prog {
    qv_func *mix, *copy, *scale, *sum, *self;
} prog;

static void make_funcs(qv_runtime *rt, prog *p)
{
    qv_arg_desc mix[] = { QV_ARG_BUF("dst", QV_RW), QV_ARG_BUF("src", QV_R),
                          QV_ARG_SCALAR("k", uint64_t) };
    qv_arg_desc copy[] = { QV_ARG_BUF("dst", QV_W), QV_ARG_BUF("src", QV_R) };
    qv_arg_desc scale[] = { QV_ARG_BUF("dst", QV_RW), QV_ARG_SCALAR("k", uint64_t) };
    qv_arg_desc sum[] = { QV_ARG_BUF("dst", QV_W), QV_ARG_BUF("a", QV_R),
                          QV_ARG_BUF("b", QV_R) };
    qv_arg_desc self[] = { QV_ARG_BUF("dst", QV_RW), QV_ARG_BUF("src", QV_R) };
    assert_int_equal(qv_func_create(rt, "mix", mix, 3, &p->mix), 0);
    assert_int_equal(qv_func_create(rt, "copy", copy, 2, &p->copy), 0);
    assert_int_equal(qv_func_create(rt, "scale", scale, 2, &p->scale), 0);
    assert_int_equal(qv_func_create(rt, "sum", sum, 3, &p->sum), 0);
    assert_int_equal(qv_func_create(rt, "self", self, 2, &p->self), 0);
    qv_func_set_cpu(p->mix, cpu_mix);
    qv_func_set_cpu(p->copy, cpu_copy);
    qv_func_set_cpu(p->scale, cpu_scale);
    qv_func_set_cpu(p->sum, cpu_sum);
    qv_func_set_cpu(p->self, cpu_self);
}

static qv_options test_opts(int ncpu)
{
    qv_options o;
    qv_options_init(&o);
    o.ncpu = ncpu;
    o.perfmodel_dir = ""; /* keep tests out of the user's cache */
    return o;
}

/* One random program of ntasks over NBUF buffers, on the runtime and
 * sequentially; sometimes waits on a single buffer midway and checks it. */
static void run_random(uint64_t seed, int ntasks, int ncpu, int record)
{
    static uint64_t par[NBUF][WORDS], seq[NBUF][WORDS];
    qv_options o = test_opts(ncpu);
    o.record = record;
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    prog p;
    make_funcs(rt, &p);
    qv_buf *b[NBUF];
    uint64_t s = seed * 2654435761u + 1;
    for (int i = 0; i < NBUF; i++) {
        for (int w = 0; w < WORDS; w++)
            par[i][w] = seq[i][w] = rng_next(&s);
        assert_int_equal(qv_buf_register(rt, par[i], sizeof par[i], &b[i]), 0);
    }
    for (int t = 0; t < ntasks; t++) {
        unsigned x = (unsigned)(rng_next(&s) % NBUF), y = (unsigned)(rng_next(&s) % NBUF);
        unsigned z = (unsigned)(rng_next(&s) % NBUF);
        uint64_t k = rng_next(&s) % 1000;
        switch (rng_next(&s) % 6) {
        case 0:
        case 1: {
            qv_arg a[] = { QV_BUF(b[x]), QV_BUF(b[y]), QV_VAL(k) };
            if (x == y) /* mix with itself reads what it writes */
                break;
            assert_int_equal(qv_submit(rt, p.mix, a, 3), 0);
            op_mix(seq[x], seq[y], k);
            break;
        }
        case 2: {
            if (x == y)
                break;
            qv_arg a[] = { QV_BUF(b[x]), QV_BUF(b[y]) };
            assert_int_equal(qv_submit(rt, p.copy, a, 2), 0);
            op_copy(seq[x], seq[y]);
            break;
        }
        case 3: {
            qv_arg a[] = { QV_BUF(b[x]), QV_VAL(k) };
            assert_int_equal(qv_submit(rt, p.scale, a, 2), 0);
            op_scale(seq[x], k);
            break;
        }
        case 4: {
            if (x == y || x == z)
                break;
            qv_arg a[] = { QV_BUF(b[x]), QV_BUF(b[y]), QV_BUF(b[z]) };
            assert_int_equal(qv_submit(rt, p.sum, a, 3), 0);
            op_sum(seq[x], seq[y], seq[z]);
            break;
        }
        default: {
            qv_arg a[] = { QV_BUF(b[x]), QV_BUF(b[x]) };
            assert_int_equal(qv_submit(rt, p.self, a, 2), 0);
            uint64_t first = seq[x][0];
            for (int i = 0; i < WORDS; i++)
                seq[x][i] += first;
            break;
        }
        }
        if (t == ntasks / 2) {
            assert_int_equal(qv_buf_wait(b[x]), 0);
            assert_memory_equal(par[x], seq[x], sizeof seq[x]);
        }
    }
    assert_int_equal(qv_wait_all(rt), 0);
    for (int i = 0; i < NBUF; i++) {
        assert_memory_equal(par[i], seq[i], sizeof seq[i]);
        assert_int_equal(qv_buf_unregister(b[i]), 0);
    }
    qv_runtime_destroy(rt);
}

static void random_programs(void **state)
{
    (void)state;
    atomic_store(&jitter_on, 1);
    for (uint64_t seed = 1; seed <= 40; seed++)
        run_random(seed, 1500, (int)(seed % 4) + 1, (int)(seed % 2));
    atomic_store(&jitter_on, 0);
    for (uint64_t seed = 100; seed < 110; seed++)
        run_random(seed, 5000, 2, 1);
}

static void cpu_inc(const qv_call *c)
{
    (*(uint64_t *)c->ptr[0])++;
}
static void cpu_nop(const qv_call *c)
{
    (void)c;
}

/* 100 000 tasks: independent, and a chain on one buffer. */
static void hundred_thousand(void **state)
{
    (void)state;
    qv_options o = test_opts(2);
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_func *inc, *nop;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(rt, "inc", d, 1, &inc), 0);
    assert_int_equal(qv_func_create(rt, "nop", NULL, 0, &nop), 0);
    qv_func_set_cpu(inc, cpu_inc);
    qv_func_set_cpu(nop, cpu_nop);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(qv_submit(rt, nop, NULL, 0), 0);
    uint64_t counter = 0;
    qv_buf *b;
    assert_int_equal(qv_buf_register(rt, &counter, sizeof counter, &b), 0);
    qv_arg a[] = { QV_BUF(b) };
    for (int i = 0; i < 100000; i++)
        assert_int_equal(qv_submit(rt, inc, a, 1), 0);
    assert_int_equal(qv_buf_unregister(b), 0);
    assert_int_equal(counter, 100000);
    qv_graph_info gi;
    assert_int_equal(qv_graph_info_get(rt, &gi), 0);
    assert_int_equal(gi.nodes, 200000);
    assert_int_equal(gi.edges, 99999);
    qv_runtime_destroy(rt);
}

/* qv_buf_try_acquire never waits: QV_EBUSY, holding nothing, while a
 * task uses the buffer (here one that waits for the test's word); the
 * buffer as a sequential run leaves it once the task is done. */
static atomic_int gate;
static void cpu_gated_inc(const qv_call *c)
{
    while (!atomic_load(&gate))
        ;
    (*(uint64_t *)c->ptr[0])++;
}

static void try_acquire_never_waits(void **state)
{
    (void)state;
    qv_options o = test_opts(2);
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_func *inc;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(rt, "gated_inc", d, 1, &inc), 0);
    qv_func_set_cpu(inc, cpu_gated_inc);
    uint64_t counter = 0, other = 0;
    qv_buf *b, *c;
    assert_int_equal(qv_buf_register(rt, &counter, sizeof counter, &b), 0);
    assert_int_equal(qv_buf_register(rt, &other, sizeof other, &c), 0);
    atomic_store(&gate, 0);
    assert_int_equal(qv_submit(rt, inc, (qv_arg[]){ QV_BUF(b) }, 1), 0);
    for (qv_mode m = QV_R; m <= QV_RW; m++)
        assert_int_equal(qv_buf_try_acquire(b, m), QV_EBUSY);
    assert_int_equal(qv_buf_release(b), QV_EINVAL); /* nothing held */
    assert_int_equal(qv_buf_try_acquire(c, (qv_mode)7), QV_EINVAL);
    /* Another buffer nothing uses: held at once. */
    assert_int_equal(qv_buf_try_acquire(c, QV_RW), 0);
    other = 7;
    assert_int_equal(qv_buf_release(c), 0);
    atomic_store(&gate, 1);
    /* Not qv_buf_wait: it may return while the task that ended still
     * counts as a user of b for a moment (quiver.h). */
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(qv_buf_try_acquire(b, QV_RW), 0);
    assert_int_equal(counter, 1);
    counter = 41;
    assert_int_equal(qv_buf_try_acquire(b, QV_R), QV_EBUSY); /* already held */
    assert_int_equal(qv_buf_release(b), 0);
    assert_int_equal(qv_submit(rt, inc, (qv_arg[]){ QV_BUF(b) }, 1), 0);
    assert_int_equal(qv_buf_unregister(b), 0);
    assert_int_equal(counter, 42);
    assert_int_equal(qv_buf_unregister(c), 0);
    assert_int_equal(other, 7);
    qv_runtime_destroy(rt);
}

/* Two readers of one buffer run at the same time: each waits, with a
 * deadline, until the other has started. Serialised readers would time out. */
static atomic_int readers_in;
static atomic_int readers_met;
static void cpu_reader(const qv_call *c)
{
    (void)c;
    atomic_fetch_add(&readers_in, 1);
    for (int i = 0; i < 5000 && atomic_load(&readers_in) < 2; i++)
        usleep(1000);
    if (atomic_load(&readers_in) >= 2)
        atomic_fetch_add(&readers_met, 1);
}

static void concurrent_readers(void **state)
{
    (void)state;
    qv_options o = test_opts(2);
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_func *rd;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_R) };
    assert_int_equal(qv_func_create(rt, "reader", d, 1, &rd), 0);
    qv_func_set_cpu(rd, cpu_reader);
    int x = 0;
    qv_buf *b;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &b), 0);
    qv_arg a[] = { QV_BUF(b) };
    assert_int_equal(qv_submit(rt, rd, a, 1), 0);
    assert_int_equal(qv_submit(rt, rd, a, 1), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(atomic_load(&readers_met), 2);
    qv_runtime_destroy(rt);
}

/* Many submitting threads at once on shared buffers: every increment lands. */
typedef struct sub_arg {
    qv_runtime *rt;
    qv_func    *inc;
    qv_buf     *b;
} sub_arg;

static void *submitter(void *p)
{
    sub_arg *s = p;
    qv_arg a[] = { QV_BUF(s->b) };
    for (int i = 0; i < 5000; i++)
        if (qv_submit(s->rt, s->inc, a, 1) != 0)
            return p;
    return NULL;
}

static void concurrent_submitters(void **state)
{
    (void)state;
    qv_options o = test_opts(2);
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_func *inc;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(rt, "inc", d, 1, &inc), 0);
    qv_func_set_cpu(inc, cpu_inc);
    uint64_t counter = 0;
    qv_buf *b;
    assert_int_equal(qv_buf_register(rt, &counter, sizeof counter, &b), 0);
    pthread_t th[4];
    sub_arg sa = { rt, inc, b };
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, submitter, &sa), 0);
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    assert_int_equal(qv_buf_wait(b), 0);
    assert_int_equal(counter, 20000);
    qv_runtime_destroy(rt);
}

/* A task submitting more tasks (a recursive program). */
static qv_func *g_inc;
static qv_runtime *g_rt;
static qv_buf *g_buf;
static void cpu_spawn(const qv_call *c)
{
    (void)c;
    qv_arg a[] = { QV_BUF(g_buf) };
    for (int i = 0; i < 10; i++)
        qv_submit(g_rt, g_inc, a, 1);
}

static void nested_submit(void **state)
{
    (void)state;
    qv_options o = test_opts(2);
    assert_int_equal(qv_runtime_create(&o, &g_rt), 0);
    qv_func *spawn;
    qv_arg_desc d[] = { QV_ARG_BUF("x", QV_RW) };
    assert_int_equal(qv_func_create(g_rt, "inc", d, 1, &g_inc), 0);
    assert_int_equal(qv_func_create(g_rt, "spawn", NULL, 0, &spawn), 0);
    qv_func_set_cpu(g_inc, cpu_inc);
    qv_func_set_cpu(spawn, cpu_spawn);
    uint64_t counter = 0;
    assert_int_equal(qv_buf_register(g_rt, &counter, sizeof counter, &g_buf), 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(qv_submit(g_rt, spawn, NULL, 0), 0);
    /* wait_all covers tasks submitted by tasks before it returns. */
    assert_int_equal(qv_wait_all(g_rt), 0);
    assert_int_equal(counter, 200);
    qv_runtime_destroy(g_rt);
}

/* Out of memory for a call's dependencies (a "task" fault fails the
 * growth of a reader list or a successor list): qv_submit and
 * qv_buf_acquire refuse it with QV_ENOMEM and nothing of it runs; the
 * calls around it run in order. A call that went in with a dependency
 * missing ran before its input was written. */
static atomic_int nread;
static void cpu_read_into(const qv_call *c)
{
    atomic_fetch_add(&nread, 1);
    *(uint64_t *)c->ptr[1] = *(const uint64_t *)c->ptr[0];
}

/* A runtime of 2 CPU workers with gated_inc (x: RW; runs once `gate`
 * opens) and read_into (src: R, dst: W; counted in nread). */
static qv_runtime *gated_runtime(qv_func **inc, qv_func **rd)
{
    qv_options o = test_opts(2);
    qv_runtime *rt;
    assert_int_equal(qv_runtime_create(&o, &rt), 0);
    qv_arg_desc d1[] = { QV_ARG_BUF("x", QV_RW) };
    qv_arg_desc d2[] = { QV_ARG_BUF("src", QV_R), QV_ARG_BUF("dst", QV_W) };
    assert_int_equal(qv_func_create(rt, "gated_inc", d1, 1, inc), 0);
    assert_int_equal(qv_func_create(rt, "read_into", d2, 2, rd), 0);
    qv_func_set_cpu(*inc, cpu_gated_inc);
    qv_func_set_cpu(*rd, cpu_read_into);
    return rt;
}

static void no_memory_for_dependencies_submits_nothing(void **state)
{
    (void)state;
    qv_func *inc, *rd;
    qv_runtime *rt = gated_runtime(&inc, &rd);
    uint64_t x = 41, y[6] = { 0 };
    qv_buf *bx, *by[6];
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &bx), 0);
    for (int i = 0; i < 6; i++)
        assert_int_equal(qv_buf_register(rt, &y[i], sizeof y[i], &by[i]), 0);
    atomic_store(&gate, 0);
    atomic_store(&nread, 0);
    assert_int_equal(qv_submit(rt, inc, (qv_arg[]){ QV_BUF(bx) }, 1), 0);
    /* bx's first reader makes its reader list. */
    qv__fault_set("task", QV_FAULT_ALLOC, 0, QV_ENOMEM);
    assert_int_equal(qv_submit(rt, rd, (qv_arg[]){ QV_BUF(bx), QV_BUF(by[0]) }, 2), QV_ENOMEM);
    assert_non_null(strstr(qv_last_error(), "not submitted"));
    /* Four readers fill inc's successor list as it comes; the fifth makes
     * it grow. */
    for (int i = 0; i < 4; i++)
        assert_int_equal(qv_submit(rt, rd, (qv_arg[]){ QV_BUF(bx), QV_BUF(by[i]) }, 2), 0);
    qv__fault_set("task", QV_FAULT_ALLOC, 0, QV_ENOMEM);
    assert_int_equal(qv_submit(rt, rd, (qv_arg[]){ QV_BUF(bx), QV_BUF(by[4]) }, 2), QV_ENOMEM);
    /* The host's access follows inc as well. */
    qv__fault_set("task", QV_FAULT_ALLOC, 0, QV_ENOMEM);
    assert_int_equal(qv_buf_acquire(bx, QV_RW), QV_ENOMEM);
    assert_int_equal(qv_buf_release(bx), QV_EINVAL); /* nothing held */
    usleep(20000);
    assert_int_equal(atomic_load(&nread), 0); /* all wait for inc */
    atomic_store(&gate, 1);
    assert_int_equal(qv_submit(rt, rd, (qv_arg[]){ QV_BUF(bx), QV_BUF(by[5]) }, 2), 0);
    assert_int_equal(qv_wait_all(rt), 0);
    assert_int_equal(atomic_load(&nread), 5);
    assert_int_equal(qv_buf_acquire(bx, QV_RW), 0);
    assert_int_equal(x, 42);
    assert_int_equal(qv_buf_release(bx), 0);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(qv_buf_unregister(by[i]), 0);
        assert_int_equal(y[i], i == 4 ? 0 : 42);
    }
    assert_int_equal(qv_buf_unregister(bx), 0);
    qv_runtime_destroy(rt);
}

/* The recorded graph out of memory (a "graph" fault fails its next chunk,
 * here the first of edges): the call is submitted (0), the graph misses
 * the edge, and the call still waits for the writer of its input. Before,
 * the shortage cut the dependency off and the reader ran first. */
static void graph_out_of_memory_keeps_dependencies(void **state)
{
    (void)state;
    qv_func *inc, *rd;
    qv_runtime *rt = gated_runtime(&inc, &rd);
    uint64_t x = 41, y = 0;
    qv_buf *bx, *by;
    assert_int_equal(qv_buf_register(rt, &x, sizeof x, &bx), 0);
    assert_int_equal(qv_buf_register(rt, &y, sizeof y, &by), 0);
    atomic_store(&gate, 0);
    atomic_store(&nread, 0);
    assert_int_equal(qv_submit(rt, inc, (qv_arg[]){ QV_BUF(bx) }, 1), 0);
    qv__fault_set("graph", QV_FAULT_ALLOC, 0, QV_ENOMEM);
    assert_int_equal(qv_submit(rt, rd, (qv_arg[]){ QV_BUF(bx), QV_BUF(by) }, 2), 0);
    usleep(20000);
    assert_int_equal(atomic_load(&nread), 0);
    atomic_store(&gate, 1);
    assert_int_equal(qv_wait_all(rt), 0);
    qv__fault_set(NULL, 0, 0, 0);
    qv_graph_info gi;
    assert_int_equal(qv_graph_info_get(rt, &gi), 0);
    assert_int_equal(gi.nodes, 2);
    assert_int_equal(gi.edges, 0);
    assert_int_equal(qv_buf_unregister(by), 0);
    assert_int_equal(y, 42);
    assert_int_equal(qv_buf_unregister(bx), 0);
    qv_runtime_destroy(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_programs),
        cmocka_unit_test(hundred_thousand),
        cmocka_unit_test(concurrent_readers),
        cmocka_unit_test(concurrent_submitters),
        cmocka_unit_test(nested_submit),
        cmocka_unit_test(try_acquire_never_waits),
        cmocka_unit_test(no_memory_for_dependencies_submits_nothing),
        cmocka_unit_test(graph_out_of_memory_keeps_dependencies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
