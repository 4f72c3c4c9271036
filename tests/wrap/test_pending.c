/*
 * test_pending.c - deferred wrapped calls (host/src/wrap/pending.c) in
 * process: a call returns while its task cannot have run (its CPU
 * implementation waits on a gate), its output's pages are empty until
 * something touches them (mincore), a touch by this thread or by the
 * kernel (write(2)) waits for the result, a later call reads a pending
 * output without touching it, another thread's call lands them, and an
 * output on the caller's stack runs synchronously. The program runs
 * (tests/wrap/app, test_wrap.c) cover the rest.
 */
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <setjmp.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "devices/device.h" /* qv__fault_set_n: lander threads refused */
#include "helper.h"
#include "quiver.h"
#include "quiver_wrap.h"

#define N 65536u /* floats: 256 KiB, pages of their own */

/* The CPU implementations wait until the gate opens. */
static atomic_int g_gate, g_ran;

static void wait_gate(void)
{
    while (!atomic_load(&g_gate))
        usleep(1000);
}

/* y[i] = 2 x[i] + 1 */
static void cpu_scale(const qv_call *c)
{
    wait_gate();
    const float *x = c->ptr[0];
    float *y = c->ptr[1];
    for (size_t i = 0; i < c->size[1] / sizeof *y; i++)
        y[i] = 2.0f * x[i] + 1.0f;
    atomic_fetch_add(&g_ran, 1);
}

static const qv_wrap_arg scale_args[] = {
    {"x", QV_R, 4, 0, "n"},
    {"y", QV_W, 4, 0, "n"},
    {"n", 0, 4, QV_WRAP_UINT, NULL},
};
static qv_wrap_fn g_scale = {QV_WRAP_ABI, "pending_scale", NULL, scale_args, 3, cpu_scale,
                             NULL, NULL, NULL, NULL, QV_WRAP_DEFER};

static int scale(const float *x, float *y, uint32_t n)
{
    void *argv[3] = {(void *)(uintptr_t)x, y, &n};
    return qv_wrap_call(&g_scale, argv);
}

/* Pages of [p, p + n) in memory. */
static size_t resident(const void *p, size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)p & ~(pg - 1), hi = ((uintptr_t)p + n + pg - 1) & ~(pg - 1);
    unsigned char v[1024];
    size_t np = (hi - lo) / pg, in = 0;
    assert_true(np <= sizeof v);
    assert_int_equal(mincore((void *)lo, hi - lo, v), 0);
    for (size_t i = 0; i < np; i++)
        in += v[i] & 1;
    return in;
}

static void *open_gate_later(void *arg)
{
    (void)arg;
    usleep(50 * 1000);
    atomic_store(&g_gate, 1);
    return NULL;
}

static float *fresh(float v)
{
    float *p = mmap(NULL, N * sizeof(float), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    for (uint32_t i = 0; i < N; i++)
        p[i] = v + (float)i;
    return p;
}

static qv_wrap_stats stats(void)
{
    qv_wrap_stats st;
    assert_int_equal(qv_wrap_stats_get("pending_scale", &st), 0);
    return st;
}

/* Whether calls are deferred here (userfaultfd permitted): one is made,
 * the gate open, and read back. A call first: a test may run alone (a
 * name given), before any other made one. */
static bool defers_here(void)
{
    atomic_store(&g_gate, 1);
    float *x = fresh(1), *y = fresh(0);
    assert_int_equal(scale(x, y, N), 0);
    bool defers = stats().deferred > 0;
    assert_true(y[0] == 3.0f);
    munmap(x, N * sizeof(float));
    munmap(y, N * sizeof(float));
    return defers;
}

/* A hang fails the test instead of stalling the suite, and shows every
 * thread's stack and the pending outputs first (gdb, where there is one):
 * a hang seen once in CI is worth its stacks. The debugger is spawned
 * without fork's handlers (pending.c's takes the lock a hang may hold). */
static void on_alarm(int sig)
{
    static const char msg[] = "test_pending: stuck for 60 s; the threads' stacks follow\n";
    (void)!write(2, msg, sizeof msg - 1);
    char pid[24], *p = pid + sizeof pid;
    *--p = '\0';
    for (long v = (long)getpid(); v; v /= 10)
        *--p = (char)('0' + v % 10);
    char *argv[] = {"gdb", "-p", p, "-batch", "-nx",
                    "-ex", "thread apply all bt",
                    "-ex", "p 'pending.c'::g_entries",
                    "-ex", "p *'pending.c'::g_entries",
                    NULL};
    pid_t c;
    if (posix_spawnp(&c, "gdb", NULL, NULL, argv, environ) == 0)
        (void)waitpid(c, NULL, 0);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void arm_alarm(void)
{
    signal(SIGALRM, on_alarm);
    alarm(60);
}

/* A file of our own for write(2) to read outputs into, gone at close. */
static int unlinked_file(void)
{
    char path[] = "/tmp/pending-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    return fd;
}

static void returns_before_the_task_runs(void **state)
{
    (void)state;
    arm_alarm();
    atomic_store(&g_gate, 0);
    atomic_store(&g_ran, 0);
    float *x = fresh(1), *y = fresh(-7), *z = fresh(-9);
    assert_int_equal(scale(x, y, N), 0);
    assert_int_equal(atomic_load(&g_ran), 0); /* the gate is shut */
    qv_wrap_stats st = stats();
    if (!st.deferred) { /* no userfaultfd here: synchronous, nothing to see */
        fprintf(stderr, "deferral unavailable here (userfaultfd); skipped\n");
        atomic_store(&g_gate, 1);
        skip();
    }
    assert_int_equal(resident(y, N * sizeof(float)), 0);
    /* The input may change at once: the call has its own copy. */
    x[0] = 1000.0f;
    /* A second call reads y where it is, without touching it. */
    assert_int_equal(scale(y, z, N), 0);
    assert_int_equal(resident(y, N * sizeof(float)), 0);
    assert_int_equal(resident(z, N * sizeof(float)), 0);
    assert_int_equal(stats().touches, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, open_gate_later, NULL), 0);
    /* The kernel reads z: write(2) waits for it to land. */
    int fd = unlinked_file();
    assert_int_equal(write(fd, z, N * sizeof(float)), (ssize_t)(N * sizeof(float)));
    assert_int_equal(atomic_load(&g_ran), 2);
    float got[4];
    assert_int_equal(pread(fd, got, sizeof got, 0), (ssize_t)sizeof got);
    close(fd);
    /* x[0] was 1 at the call: y[0] = 3, z[0] = 7. */
    assert_true(got[0] == 7.0f);
    assert_true(got[3] == 2.0f * (2.0f * 4.0f + 1.0f) + 1.0f);
    /* This thread reads y. */
    assert_true(y[0] == 3.0f && y[N - 1] == 2.0f * (1.0f + (float)(N - 1)) + 1.0f);
    st = stats();
    assert_int_equal(st.touches, 2);
    assert_int_equal(st.deferred, 2);
    pthread_join(t, NULL);
    munmap(x, N * sizeof(float));
    munmap(y, N * sizeof(float));
    munmap(z, N * sizeof(float));
    alarm(0);
}

struct other {
    float *x, *y;
    int rc;
};

static void *call_from_another_thread(void *arg)
{
    struct other *o = arg;
    o->rc = scale(o->x, o->y, N);
    return NULL;
}

/* A deferred call from another thread lands this thread's pending outputs
 * (one thread at a time defers): they are back in memory untouched. */
static void another_thread_lands_them(void **state)
{
    (void)state;
    arm_alarm();
    atomic_store(&g_gate, 1);
    float *x = fresh(1), *y = fresh(0), *x2 = fresh(5), *y2 = fresh(0);
    uint64_t touched = stats().touches;
    assert_int_equal(scale(x, y, N), 0);
    if (stats().deferred) {
        struct other o = {x2, y2, -1};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, call_from_another_thread, &o), 0);
        pthread_join(t, NULL);
        assert_int_equal(o.rc, 0);
        assert_int_equal(resident(y, N * sizeof(float)), N * sizeof(float) / (size_t)sysconf(_SC_PAGESIZE));
        assert_int_equal(stats().touches, touched);
    }
    assert_true(y[5] == 2.0f * 6.0f + 1.0f);
    assert_true(y2[5] == 2.0f * 10.0f + 1.0f);
    munmap(x, N * sizeof(float));
    munmap(y, N * sizeof(float));
    munmap(x2, N * sizeof(float));
    munmap(y2, N * sizeof(float));
    alarm(0);
}

/* An output on the calling thread's stack: emptying its pages would take
 * this call's frames with them, so the call runs synchronously. */
static void stack_output_is_synchronous(void **state)
{
    (void)state;
    arm_alarm();
    atomic_store(&g_gate, 1);
    float *x = fresh(2);
    static const uint32_t n = 16384;
    float y[16384];
    uint64_t deferred = stats().deferred, runtime = stats().runtime;
    assert_int_equal(scale(x, y, n), 0);
    assert_int_equal(stats().deferred, deferred);
    assert_int_equal(stats().runtime, runtime + 1);
    assert_true(y[9] == 2.0f * 11.0f + 1.0f);
    munmap(x, N * sizeof(float));
    alarm(0);
}


/* The last page of a pending output unmapped, then the output moved
 * (mremap): what is left lands where it is. */
static void unmapped_and_moved_outputs_keep_the_rest(void **state)
{
    (void)state;
    arm_alarm();
    atomic_store(&g_gate, 1);
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), bytes = N * sizeof(float);
    float *x = fresh(1), *y = fresh(0), *z = fresh(0);
    assert_int_equal(scale(x, y, N), 0);
    assert_int_equal(munmap((char *)y + bytes - pg, pg), 0);
    for (uint32_t i = 0; i < N - pg / sizeof(float); i += 512)
        assert_true(y[i] == 2.0f * (1.0f + (float)i) + 1.0f);
    assert_int_equal(scale(x, z, N), 0);
    float *moved = mremap(z, bytes, 2 * bytes, MREMAP_MAYMOVE);
    assert_true(moved != MAP_FAILED);
    for (uint32_t i = 0; i < N; i += 512)
        assert_true(moved[i] == 2.0f * (1.0f + (float)i) + 1.0f);
    munmap(x, bytes);
    munmap(y, bytes - pg);
    munmap(moved, 2 * bytes);
    alarm(0);
}

/* A task whose code reads a table that a deferred call is still making
 * (not one of its arguments): the table lands while the first landing
 * waits for that task. */
static float *volatile g_table;

static void cpu_use_table(const qv_call *c)
{
    usleep(50 * 1000);
    const float *x = c->ptr[0];
    float *y = c->ptr[1];
    for (size_t i = 0; i < c->size[1] / sizeof *y; i++)
        y[i] = x[i] * g_table[i % 1024];
}

static qv_wrap_fn g_use = {QV_WRAP_ABI, "pending_use", NULL, scale_args, 3, cpu_use_table,
                           NULL, NULL, NULL, NULL, QV_WRAP_DEFER};

static void task_reads_a_pending_table(void **state)
{
    (void)state;
    arm_alarm();
    atomic_store(&g_gate, 1);
    float *x = fresh(0), *t = fresh(0), *y = fresh(0);
    g_table = t;
    assert_int_equal(scale(x, t, N), 0); /* t[i] = 2 i + 1, pending */
    uint32_t n = N;
    void *argv[3] = {x, y, &n};
    assert_int_equal(qv_wrap_call(&g_use, argv), 0);
    assert_true(y[5] == 5.0f * 11.0f); /* lands y: its task lands t */
    munmap(x, N * sizeof(float));
    munmap(t, N * sizeof(float));
    munmap(y, N * sizeof(float));
    alarm(0);
}

/* Half of a pending output moved elsewhere (mremap), then half of that
 * moved again, all before its task ran: each part lands where it is. */
static void moved_parts_land_where_they_went(void **state)
{
    (void)state;
    arm_alarm();
    atomic_store(&g_gate, 0);
    size_t bytes = N * sizeof(float), half = bytes / 2, quarter = bytes / 4;
    float *x = fresh(1), *y = fresh(0);
    char *far = mmap(NULL, 2 * bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(far != MAP_FAILED);
    assert_int_equal(scale(x, y, N), 0);
    if (!stats().deferred) {
        atomic_store(&g_gate, 1);
        skip();
    }
    char *a = mremap((char *)y + half, half, half, MREMAP_MAYMOVE | MREMAP_FIXED, far);
    assert_true(a == far);
    char *b = mremap(a + quarter, quarter, quarter, MREMAP_MAYMOVE | MREMAP_FIXED, far + bytes);
    assert_true(b == far + bytes);
    atomic_store(&g_gate, 1);
    const float *pa = (const float *)a, *pb = (const float *)b;
    for (uint32_t i = 0; i < N / 2; i += 256)
        assert_true(y[i] == 2.0f * (1.0f + (float)i) + 1.0f);
    for (uint32_t i = 0; i < N / 4; i += 256) {
        assert_true(pa[i] == 2.0f * (1.0f + (float)(i + N / 2)) + 1.0f);
        assert_true(pb[i] == 2.0f * (1.0f + (float)(i + 3 * N / 4)) + 1.0f);
    }
    munmap(x, bytes);
    munmap(y, half);
    munmap(far, 2 * bytes);
    alarm(0);
}

/* A pending output moved page by page, side by side in order, to another
 * place (the kernel joins the pages into one mapping again), then moved
 * whole from there: one move of more pieces than the 16 that were kept
 * (the rest read as zeros). */
static void moved_in_many_pieces_then_whole(void **state)
{
    (void)state;
    arm_alarm();
    atomic_store(&g_gate, 0);
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), bytes = N * sizeof(float);
    size_t pieces = bytes / pg < 40 ? bytes / pg : 40, span = pieces * pg;
    float *x = fresh(1), *y = fresh(0);
    char *far = mmap(NULL, 2 * span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(far != MAP_FAILED);
    assert_int_equal(scale(x, y, N), 0);
    if (!stats().deferred) {
        atomic_store(&g_gate, 1);
        skip();
    }
    for (size_t i = 0; i < pieces; i++)
        assert_true(mremap((char *)y + i * pg, pg, pg, MREMAP_MAYMOVE | MREMAP_FIXED,
                           far + i * pg) == far + i * pg);
    char *w = mremap(far, span, span, MREMAP_MAYMOVE | MREMAP_FIXED, far + span);
    if (w == MAP_FAILED && errno == EFAULT) { /* a kernel that left them apart */
        atomic_store(&g_gate, 1);
        fprintf(stderr,
                "moved_in_many_pieces_then_whole: the moved pages stayed %zu "
                "mappings; skipped\n",
                pieces);
        skip();
    }
    assert_true(w == far + span);
    uint64_t lost = stats().lost;
    atomic_store(&g_gate, 1);
    const float *pw = (const float *)w;
    for (uint32_t i = 0; i < span / sizeof(float); i += 256)
        assert_true(pw[i] == 2.0f * (1.0f + (float)i) + 1.0f);
    for (uint32_t i = (uint32_t)(span / sizeof(float)); i < N; i += 256)
        assert_true(y[i] == 2.0f * (1.0f + (float)i) + 1.0f);
    assert_int_equal(stats().lost, lost);
    munmap(x, bytes);
    munmap((char *)y + span, bytes - span);
    munmap(far, 2 * span);
    alarm(0);
}

/* While an output lands page by page (its first page unmapped, so one
 * copy per page), the program unmaps another pending output: the kernel
 * refuses copies until the unmap is read, which the landing must let
 * happen instead of retrying with the lock held (that hung). */
#define BIG (16u << 20) /* floats: 64 MiB */

struct unmapper {
    const char *watch; /* a page of the landing output */
    void *victim;
    size_t len;
};

static void *unmap_when_landing(void *arg)
{
    struct unmapper *u = arg;
    atomic_store(&g_gate, 1);
    unsigned char v;
    for (int i = 0; i < 20000; i++) { /* until its pages come back */
        if (mincore((void *)u->watch, 1, &v) == 0 && (v & 1))
            break;
        usleep(100);
    }
    munmap(u->victim, u->len);
    return NULL;
}

static void unmap_while_another_lands(void **state)
{
    (void)state;
    arm_alarm();
    atomic_store(&g_gate, 0);
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), bytes = (size_t)BIG * sizeof(float);
    float *x = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    float *y = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(x != MAP_FAILED && y != MAP_FAILED);
    for (uint32_t i = 0; i < BIG; i++)
        x[i] = (float)(i % 1000);
    float *x2 = fresh(0), *z = fresh(0);
    assert_int_equal(scale(x, y, BIG), 0);
    assert_int_equal(scale(x2, z, N), 0);
    if (!stats().deferred) {
        atomic_store(&g_gate, 1);
        skip();
    }
    assert_int_equal(munmap(y, pg), 0); /* y lands page by page, in a lander */
    struct unmapper u = {(const char *)y + bytes / 2, z, N * sizeof(float)};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, unmap_when_landing, &u), 0);
    pthread_join(t, NULL);
    for (uint32_t i = (uint32_t)(pg / sizeof(float)); i < BIG; i += 4099)
        assert_true(y[i] == 2.0f * (float)(i % 1000) + 1.0f);
    munmap(x, bytes);
    munmap((char *)y + pg, bytes - pg);
    munmap(x2, N * sizeof(float));
    alarm(0);
}

/* A pending output unmapped (its lander waits for the task), then another
 * moved whole onto the same addresses: the first one's landing must not
 * fill what is now the second one's memory. late: the unmapped one's
 * lander is slow to start (a loaded host; once so under AddressSanitizer
 * in CI's way of running), the moved one lands first, and took the
 * unmapped one's bytes for its own on the addresses they had both had. */
static void moved_onto_unmapped(bool late)
{
    arm_alarm();
    atomic_store(&g_gate, 0);
    size_t bytes = N * sizeof(float);
    float *x = fresh(1), *x2 = fresh(1000), *a = fresh(0), *b = fresh(0);
    assert_int_equal(scale(x, a, N), 0);
    assert_int_equal(scale(x2, b, N), 0);
    if (!stats().deferred) {
        atomic_store(&g_gate, 1);
        skip();
    }
    if (late) /* the next lander thread, b's, sleeps 200 ms before it looks */
        qv__fault_set_n("lander", QV_FAULT_WAIT, 0, 1, QV_EIO);
    /* b's pages go (an unmap, for the runtime), but its address stays the
     * test's: a bare munmap would free it for any mapping of the process
     * (a runtime thread's, the sanitizer's) to take meanwhile, which the
     * MREMAP_FIXED below would then destroy under its owner. */
    assert_true(mmap(b, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                     -1, 0) == b);
    if (!late)
        usleep(20 * 1000); /* b's lander now waits for its task */
    float *m = mremap(a, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, b);
    assert_true(m == b);
    atomic_store(&g_gate, 1);
    for (uint32_t i = 0; i < N; i += 1024)
        assert_true(m[i] == 2.0f * (1.0f + (float)i) + 1.0f); /* a's, not b's */
    qv__fault_set_n("lander", QV_FAULT_WAIT, 0, 0, 0);
    munmap(x, bytes);
    munmap(x2, bytes);
    munmap(m, bytes);
    if (late)
        usleep(300 * 1000); /* b's lander done: nothing left of it */
    alarm(0);
}

static void moved_onto_an_unmapped_output(void **state)
{
    (void)state;
    moved_onto_unmapped(false);
}

static void moved_onto_an_unmapped_output_landing_late(void **state)
{
    (void)state;
    moved_onto_unmapped(true);
}

/* A pending output grown in place by mremap: the new tail is registered
 * with the userfaultfd but pending nothing. A later call writing that
 * tail must neither wait for itself nor find stale pages. */
static void output_in_memory_grown_by_mremap(void **state)
{
    (void)state;
    arm_alarm();
    atomic_store(&g_gate, 1);
    size_t bytes = N * sizeof(float);
    float *x = fresh(1), *x2 = fresh(50);
    char *a = mmap(NULL, 2 * bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(a != MAP_FAILED);
    memset(a, 0, 2 * bytes);
    assert_int_equal(scale(x, (float *)a, N), 0);
    if (!stats().deferred)
        skip();
    assert_int_equal(munmap(a + bytes, bytes), 0);
    assert_true(mremap(a, bytes, 2 * bytes, 0) == a); /* in place */
    assert_true(((float *)a)[7] == 2.0f * 8.0f + 1.0f); /* lands */
    float *tail = (float *)(a + bytes);
    assert_int_equal(scale(x2, tail, N), 0);
    for (uint32_t i = 0; i < N; i += 1024)
        assert_true(tail[i] == 2.0f * (50.0f + (float)i) + 1.0f);
    munmap(x, bytes);
    munmap(x2, bytes);
    munmap(a, 2 * bytes);
    alarm(0);
}

/* A signal handler of the calling thread reads an output while the thread
 * keeps deferring calls that write it (a progress monitor): a signal in
 * the middle of a call, while that output's pages are empty and wait for
 * this very call, would never return; the call holds them until it is
 * done. */
static float *volatile g_watched;
static volatile float g_seen;
static atomic_ulong g_handled_sigs;
static pthread_t g_caller;
static atomic_int g_stop_kill;

static void read_watched(int sig)
{
    (void)sig;
    g_seen = g_watched[100];
    atomic_fetch_add(&g_handled_sigs, 1);
}

static void *keep_signalling(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop_kill)) {
        pthread_kill(g_caller, SIGUSR1);
        usleep(200);
    }
    return NULL;
}

static void signal_handler_reads_an_output(void **state)
{
    (void)state;
    arm_alarm();
    atomic_store(&g_gate, 1);
    float *x = fresh(1), *y = fresh(0);
    g_watched = y;
    struct sigaction sa = {0}, old;
    sa.sa_handler = read_watched;
    sa.sa_flags = SA_RESTART;
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    g_caller = pthread_self();
    atomic_store(&g_stop_kill, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, keep_signalling, NULL), 0);
    for (unsigned i = 0; i < 300; i++)
        assert_int_equal(scale(x, y, N), 0);
    atomic_store(&g_stop_kill, 1);
    pthread_join(t, NULL);
    sigaction(SIGUSR1, &old, NULL);
    assert_true(y[3] == 9.0f);
    assert_true(atomic_load(&g_handled_sigs) > 0);
    munmap(x, N * sizeof(float));
    munmap(y, N * sizeof(float));
    alarm(0);
}

/* The same with a process-wide timer: its signal goes to any thread that
 * does not block it, here mostly a second application thread that sleeps
 * (the caller blocks signals during its deferred calls, the runtime's
 * threads always), whose handler then waits on the output's pages while
 * the caller keeps rewriting them. Every value read is the output before
 * the first call or after one, never an empty page's. */
static atomic_ulong g_on_other, g_bad_reads;
static atomic_int g_stop_sleeper;

static void read_watched_anywhere(int sig)
{
    (void)sig;
    float v = g_watched[100];
    if (v != 100.0f && v != 2.0f * 101.0f + 1.0f)
        atomic_fetch_add(&g_bad_reads, 1);
    if (!pthread_equal(pthread_self(), g_caller))
        atomic_fetch_add(&g_on_other, 1);
    atomic_fetch_add(&g_handled_sigs, 1);
}

static void *sleeper(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop_sleeper)) {
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void timer_signal_on_another_thread_reads_an_output(void **state)
{
    (void)state;
    arm_alarm();
    atomic_store(&g_gate, 1);
    float *x = fresh(1), *y = fresh(0);
    g_watched = y;
    g_caller = pthread_self();
    atomic_store(&g_handled_sigs, 0);
    struct sigaction sa = {0};
    sa.sa_handler = read_watched_anywhere;
    sa.sa_flags = SA_RESTART;
    assert_int_equal(sigaction(SIGUSR2, &sa, NULL), 0);
    atomic_store(&g_stop_sleeper, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sleeper, NULL), 0);
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2};
    timer_t tm;
    assert_int_equal(timer_create(CLOCK_MONOTONIC, &ev, &tm), 0);
    struct itimerspec every = {{0, 200000}, {0, 200000}}, off = {{0, 0}, {0, 0}};
    assert_int_equal(timer_settime(tm, 0, &every, NULL), 0);
    /* 1500 calls (about as many signals): each signal that lands the
     * output makes the next call set up a new one (a lander thread, a
     * 256 KiB copy, the pages emptied again). With 5000, one CI run under
     * AddressSanitizer hit the 60 s watchdog: a stall or a hang, not
     * reproduced here in 700 runs (1.4 s each alone, 3 s beside two busy
     * loops); the watchdog now prints the stacks if it comes back. */
    for (unsigned i = 0; i < 1500; i++)
        assert_int_equal(scale(x, y, N), 0);
    assert_int_equal(timer_settime(tm, 0, &off, NULL), 0);
    assert_int_equal(timer_delete(tm), 0);
    atomic_store(&g_stop_sleeper, 1);
    pthread_join(t, NULL);
    /* A signal the timer raised before it stopped may still be pending
     * (every thread that could take it blocked it then), and Linux (6.13
     * on) keeps a timer's ignored signal to deliver it once the signal is
     * no longer ignored: the default action would then kill. So SIGUSR2
     * stays ignored for the rest of the program. */
    struct sigaction ign = {0};
    ign.sa_handler = SIG_IGN;
    assert_int_equal(sigaction(SIGUSR2, &ign, NULL), 0);
    print_message("%lu signals, %lu on the other thread\n",
                  (unsigned long)atomic_load(&g_handled_sigs),
                  (unsigned long)atomic_load(&g_on_other));
    assert_true(y[3] == 9.0f);
    assert_true(atomic_load(&g_handled_sigs) > 0);
    assert_int_equal(atomic_load(&g_bad_reads), 0);
    munmap(x, N * sizeof(float));
    munmap(y, N * sizeof(float));
    alarm(0);
}

#ifndef QV_SANITIZED
/* glibc's malloc owns these pages (the sanitizers bring their own). */

/* An output inside a heap block whose first 16 bytes merely look like the
 * header of a chunk malloc mapped on its own: the pages hold other heap
 * data, so the call runs synchronously. */
static void heap_array_like_a_chunk_is_synchronous(void **state)
{
    (void)state;
    arm_alarm();
    atomic_store(&g_gate, 1);
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    assert_int_equal(mallopt(M_MMAP_THRESHOLD, 32 << 20), 1);
    char *blk = malloc(4 * N * sizeof(float));
    assert_non_null(blk);
    uintptr_t start = ((uintptr_t)blk + 2 * pg) & ~(uintptr_t)(pg - 1);
    size_t *hdr = (size_t *)start;
    hdr[0] = 0;
    hdr[1] = (N * sizeof(float) + 2 * pg) | 2; /* IS_MMAPPED */
    float *y = (float *)(start + 2 * sizeof(size_t));
    float *x = fresh(3);
    uint64_t deferred = stats().deferred;
    assert_int_equal(scale(x, y, N), 0);
    assert_int_equal(stats().deferred, deferred);
    assert_true(y[7] == 2.0f * 10.0f + 1.0f);
    free(blk);
    munmap(x, N * sizeof(float));
    assert_int_equal(mallopt(M_MMAP_THRESHOLD, 128 << 10), 1);
    alarm(0);
}

/* Whole pages inside a heap of another malloc arena (a thread's), its
 * mapping split by madvise: still a malloc heap, so synchronous. */
static void *alloc_in_thread(void *arg)
{
    *(void **)arg = malloc(4 * N * sizeof(float));
    return NULL;
}

static void arena_heap_pages_are_synchronous(void **state)
{
    (void)state;
    arm_alarm();
    atomic_store(&g_gate, 1);
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    assert_int_equal(mallopt(M_MMAP_THRESHOLD, 32 << 20), 1);
    void *blk = NULL;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, alloc_in_thread, &blk), 0);
    pthread_join(t, NULL);
    assert_non_null(blk);
    uintptr_t start = ((uintptr_t)blk + pg) & ~(uintptr_t)(pg - 1);
    float *y = (float *)start;
    /* The heap's mapping splits around these pages. */
    assert_int_equal(madvise(y, N * sizeof(float), MADV_DONTFORK), 0);
    float *x = fresh(4);
    uint64_t deferred = stats().deferred;
    assert_int_equal(scale(x, y, N), 0);
    assert_int_equal(stats().deferred, deferred);
    assert_true(y[7] == 2.0f * 11.0f + 1.0f);
    assert_int_equal(madvise(y, N * sizeof(float), MADV_DOFORK), 0);
    free(blk);
    munmap(x, N * sizeof(float));
    assert_int_equal(mallopt(M_MMAP_THRESHOLD, 128 << 10), 1);
    alarm(0);
}
#endif

#ifndef QV_SANITIZED
/* The same function as scale's, synchronous. */
static qv_wrap_fn g_scale_sync = {QV_WRAP_ABI, "pending_scale_sync", NULL, scale_args, 3,
                                  cpu_scale, NULL, NULL, NULL, NULL, 0};

static void *call_until_cancelled(void *arg)
{
    float *x = arg, *y = x + N;
    uint32_t n = N;
    for (;;) {
        void *argv[3] = {x, y, &n};
        qv_wrap_call(&g_scale_sync, argv);
        pthread_testcancel(); /* the program's one cancellation point */
    }
    return NULL;
}

/* A thread cancelled while it calls a wrapped function is cancelled at
 * its own next cancellation point, as without the wrapping: cancelled in
 * the call's wait, it unwound holding the runtime's lock with its spans
 * still listed, and the process hung by the third cancel (adversarial
 * testing; a hang here is the test's timeout). */
static void cancelled_during_a_call(void **state)
{
    (void)state;
    atomic_store(&g_gate, 1);
    float *mem = calloc((size_t)2 * N * 10, sizeof(float));
    assert_non_null(mem);
    for (int r = 0; r < 10; r++) {
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, call_until_cancelled, mem + 2 * N * r), 0);
        usleep(2000 + (unsigned)r * 700);
        assert_int_equal(pthread_cancel(t), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
    }
    float x[4] = {1, 2, 3, 4}, y[4] = {0};
    uint32_t n = 4;
    void *argv[3] = {x, y, &n};
    assert_int_equal(qv_wrap_call(&g_scale_sync, argv), 0);
    for (int i = 0; i < 4; i++)
        assert_true(y[i] == 2 * x[i] + 1);
    free(mem);
}
#endif

/* The program run by closed_userfaultfd_is_told: a call deferred, then
 * every descriptor past stderr closed (a daemon's close-all loop), a file
 * opened in their place, then the output touched. Exit status 0 when the
 * calls after it ran synchronously and right. */
/* This process's userfaultfd's number (the library's), or -1. */
static int userfaultfd_number(void)
{
    for (int fd = 3; fd < 1024; fd++) {
        char path[64], to[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t n = readlink(path, to, sizeof to - 1);
        if (n > 0) {
            to[n] = 0;
            if (!strcmp(to, "anon_inode:[userfaultfd]"))
                return fd;
        }
    }
    return -1;
}

static int close_all_then_call(const char *dir, bool touch)
{
    arm_alarm();
    float *x = fresh(1), *y = fresh(0), *z = fresh(0);
    assert_int_equal(scale(x, y, N), 0); /* deferred: the gate is shut */
    int ufd = userfaultfd_number();
    if (ufd < 0)
        return 3;
    for (int fd = 1023; fd >= 3; fd--)
        close(fd);
    /* A readable file of the program's under the userfaultfd's number,
     * which the library must not read; then files of its own under the
     * other numbers, which it must neither write nor close. */
    int bait = unlinked_file();
    assert_int_equal(write(bait, "0123456789abcdef0123456789abcdef0123456789", 42), 42);
    assert_int_equal(lseek(bait, 0, SEEK_SET), 0);
    if (bait != ufd) {
        assert_int_equal(dup2(bait, ufd), ufd);
        close(bait);
    }
    FILE *own[16];
    for (int i = 0; i < 16; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/own%d.log", dir, i);
        own[i] = fopen(path, "w");
        assert_non_null(own[i]);
        fputs("mine\n", own[i]); /* flushed at exit, after the library's end */
    }
    if (!touch) {
        atomic_store(&g_gate, 1);
        exit(0);
    }
    atomic_store(&g_gate, 1);
    printf("y[100] = %g\n", (double)y[100]); /* 0, as the warning says */
    fflush(stdout);
    assert_int_equal(scale(x, z, N), 0); /* synchronous now */
    for (uint32_t i = 0; i < N; i++)
        if (z[i] != 2 * x[i] + 1)
            return 1;
    return lseek(ufd, 0, SEEK_CUR) == 0 ? 0 : 2; /* nothing read from it */
}

/* Runs this test program with args (its main's modes), its output (both
 * streams) into the scratch file name; that output, or NULL, with the
 * shell's status in *st. */
/* The same with env (VAR=VALUE ..., for the shell) before the command. */
static char *run_self_env(const char *env, const char *args, const char *name, int *st)
{
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "%s /proc/%ld/exe %s > %s/%s 2>&1", env, (long)getpid(), args,
             qv_test_scratch(), name);
    *st = system(cmd);
    snprintf(cmd, sizeof cmd, "%s/%s", qv_test_scratch(), name);
    return qv_test_slurp(cmd, NULL);
}

static char *run_self(const char *args, const char *name, int *st)
{
    return run_self_env("", args, name, st);
}

/* A program that closes the library's userfaultfd with an output pending
 * is told (stderr) that it reads as zeros, its later calls run
 * synchronously and right, and the handler never reads the file the
 * program opened under that number: it vanished without a word, and could
 * have read the program's own descriptor (adversarial testing). */
static void closed_userfaultfd_is_told(void **state)
{
    (void)state;
    if (!defers_here()) /* no userfaultfd here: the child would wait */
        skip();
    /* Touched after the close, and not touched at all before exit(). */
    for (int touch = 1; touch >= 0; touch--) {
        char cmd[1600];
        snprintf(cmd, sizeof cmd, "close-all %s %d", qv_test_scratch(), touch);
        int st;
        char *out = run_self(cmd, "closeall.out", &st);
        assert_non_null(out);
        if (!WIFEXITED(st) || WEXITSTATUS(st) ||
            !strstr(out, "the userfaultfd of its deferred calls") ||
            !strstr(out, "with outputs pending (1): they read as zeros"))
            fail_msg("close-all (touch %d): status %d, said: %s", touch, st, out);
        free(out);
        for (int k = 0; k < 16; k++) {
            snprintf(cmd, sizeof cmd, "%s/own%d.log", qv_test_scratch(), k);
            char *own = qv_test_slurp(cmd, NULL);
            if (!own || strcmp(own, "mine\n"))
                fail_msg("close-all (touch %d): the program's own%d.log holds '%s'",
                         touch, k, own ? own : "(nothing)");
            free(own);
        }
    }
}

/* The program run by read_only_output_faults: a call whose output is
 * read-only memory. Exit status 0 only when the call returned (it must
 * fault, as the function itself does). */
static int read_only_call(void)
{
    signal(SIGALRM, SIG_DFL);
    alarm(20);
    atomic_store(&g_gate, 1);
    float *x = fresh(1);
    float *y =
        mmap(NULL, N * sizeof(float), PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (y == MAP_FAILED)
        return 2;
    (void)scale(x, y, N);
    printf("returned, y[5] = %g\n", (double)y[5]);
    return 0;
}

/* A call whose output is read-only memory faults, as the function would:
 * deferred, its result was filled into the read-only pages (the landing's
 * UFFDIO_COPY does not ask) and the program went on (adversarial
 * testing). */
static void read_only_output_faults(void **state)
{
    (void)state;
    if (!defers_here())
        skip();
    int st;
    char *out = run_self("read-only", "readonly.out", &st);
    /* The child's signal: sh's status 128 + n, or sh's own (it may exec) */
    int sig = WIFSIGNALED(st)                          ? WTERMSIG(st)
              : WIFEXITED(st) && WEXITSTATUS(st) > 128 ? WEXITSTATUS(st) - 128
                                                       : 0;
    bool faulted = sig == SIGSEGV || sig == SIGBUS ||
                   (out && strstr(out, "SEGV on unknown address")); /* a sanitizer's */
    if (!faulted)
        fail_msg("status %d, said: %s", st, out ? out : "(nothing)");
    free(out);
}

/* The program run by no_lander_thread_still_lands: no lander thread can
 * be made (as under `ulimit -v`, at vm.max_map_count, or pthread_create's
 * EAGAIN). Two calls deferred, the second's task reading the first's
 * pending output (a table), then this thread touches the second's output.
 * Exit status 0 when both landed right, a later call ran synchronously,
 * and calls defer again once lander threads can be made; stuck, SIGALRM
 * ends it (the parent says so). */
static int no_lander_then_touch(void)
{
    signal(SIGALRM, SIG_DFL);
    alarm(20);
    qv__fault_set_n("lander", QV_FAULT_ALLOC, 0, QV_FAULT_ALWAYS, QV_ENOMEM);
    atomic_store(&g_gate, 0);
    float *x = fresh(1), *t = fresh(0), *y = fresh(0), *z = fresh(0);
    assert_int_equal(scale(x, t, N), 0); /* t[i] = 2 (1 + i) + 1, its task held */
    g_table = t;
    uint32_t n = N;
    void *argv[3] = {x, y, &n};
    assert_int_equal(qv_wrap_call(&g_use, argv), 0); /* y[i] = x[i] t[i % 1024] */
    qv_wrap_stats use;
    assert_int_equal(qv_wrap_stats_get("pending_use", &use), 0);
    if (stats().deferred != 1 || use.deferred != 1)
        return 3;
    pthread_t gate;
    assert_int_equal(pthread_create(&gate, NULL, open_gate_later, NULL), 0);
    if (y[5] != 6.0f * 13.0f || t[7] != 2.0f * 8.0f + 1.0f)
        return 1;
    pthread_join(gate, NULL);
    /* Deferring stopped: the call returns with z in memory. */
    assert_int_equal(scale(x, z, N), 0);
    size_t pages = N * sizeof(float) / (size_t)sysconf(_SC_PAGESIZE);
    if (stats().deferred != 1 || resident(z, N * sizeof(float)) != pages)
        return 2;
    for (uint32_t i = 0; i < N; i += 512)
        if (z[i] != 2.0f * (1.0f + (float)i) + 1.0f || y[i] != x[i] * t[i % 1024])
            return 1;
    /* The limit gone, calls defer again once nothing is pending for a
     * while (deferring stopped for good). */
    qv__fault_set_n("lander", QV_FAULT_ALLOC, 0, 0, 0);
    float *w = fresh(0);
    for (int tries = 0; stats().deferred == 1; tries++) {
        if (tries == 100)
            return 4;
        usleep(50 * 1000);
        assert_int_equal(scale(x, w, N), 0);
    }
    for (uint32_t i = 0; i < N; i += 512)
        if (w[i] != 2.0f * (1.0f + (float)i) + 1.0f)
            return 1;
    return 0;
}

/* When no thread can be made to land a touched output, the reserve lander
 * made at init lands it (and the outputs its task reads), the program is
 * told once, and later calls run synchronously: the handler tried again
 * every 10 ms for ever, and the touch never returned. Once threads can be
 * made again, calls defer again. */
static void no_lander_thread_still_lands(void **state)
{
    (void)state;
    if (!defers_here()) /* no userfaultfd here */
        skip();
    int st;
    char *out = run_self("no-lander", "nolander.out", &st);
    assert_non_null(out);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code || !strstr(out, "no thread could be made to land a deferred output"))
        fail_msg("no-lander: %s (status %d), said: %s",
                 code == 128 + SIGALRM || code == -1 ? "stuck, ended by its alarm"
                 : code == 1                         ? "wrong results"
                 : code == 2                         ? "a later call was deferred"
                 : code == 4 ? "calls never deferred again once threads could be made"
                             : "failed",
                 code, out);
    free(out);
}

/* The program run by fork_handler_makes_a_call: a fork handler registered
 * before the first deferred call (so run after the library's, which holds
 * its lock across the fork) makes a wrapped call. Exit status 0 when the
 * fork went through and both calls were right; stuck, its watchdog thread
 * ends it with 9 (the forking thread's signals are blocked meanwhile). */
static float *g_prep_x, *g_prep_y;

static void prepare_calls(void)
{
    /* 1: __real_'s, as a wrapper runs it (under the runtime's locks) */
    if (g_prep_y && scale(g_prep_x, g_prep_y, N) == 1)
        for (uint32_t i = 0; i < N; i++)
            g_prep_y[i] = 2.0f * g_prep_x[i] + 1.0f;
}

static void *watchdog(void *arg)
{
    (void)arg;
    sleep(20);
    _exit(9);
}

static int fork_handler_call(void)
{
    pthread_t w;
    if (pthread_create(&w, NULL, watchdog, NULL))
        return 3;
    atomic_store(&g_gate, 1);
    assert_int_equal(pthread_atfork(prepare_calls, NULL, NULL), 0);
    float *x = fresh(1), *y = fresh(0);
    assert_int_equal(scale(x, y, N), 0); /* deferred: the library's handlers now */
    g_prep_x = x;
    g_prep_y = fresh(0);
    pid_t c = fork();
    if (c == 0)
        _exit(g_prep_y[7] == 2.0f * 8.0f + 1.0f ? 0 : 1);
    int st;
    if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
        return 2;
    for (uint32_t i = 0; i < N; i += 512)
        if (y[i] != 2.0f * (1.0f + (float)i) + 1.0f ||
            g_prep_y[i] != 2.0f * (1.0f + (float)i) + 1.0f)
            return 1;
    return 0;
}

/* A wrapped call made by a fork handler of the program's that runs after
 * the library's (registered before the first deferred call) runs
 * synchronously: it took the library's lock, held across the fork by that
 * very thread, and the process hung with its signals blocked (adversarial
 * testing). */
static void fork_handler_makes_a_call(void **state)
{
    (void)state;
    if (!defers_here())
        skip();
    int st;
    char *out = run_self("fork-prepare", "forkprepare.out", &st);
    assert_non_null(out);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code)
        fail_msg("fork-prepare: %s (status %d), said: %s",
                 code == 9 ? "stuck in fork(), ended by its watchdog" : "failed", code, out);
    free(out);
}

/* The same while the runtime's fork handler holds its process-wide locks
 * (registered at the runtime's creation, after the program's: so run
 * before it in the prepare, after it in the parent and the child): the
 * log's lock, which a worker's trace line takes, deferred calls or not.
 * The call went through the runtime and waited for its task, whose worker
 * waited for the lock the forking thread held: stuck in fork() (review). */
static void fork_handler_makes_a_call_under_the_locks(void **state)
{
    (void)state;
    if (!defers_here())
        skip();
    const char *env[] = {"QV_LOG=trace", "QV_LOG=trace QUIVER_WRAP_DEFER=0"};
    for (int k = 0; k < 2; k++) {
        int st;
        char *out = run_self_env(env[k], "fork-prepare", "forkprepare.out", &st);
        assert_non_null(out);
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (code)
            fail_msg("fork-prepare with %s: %s (status %d), said: %s", env[k],
                     code == 9 ? "stuck in fork(), ended by its watchdog" : "failed",
                     code, out);
        free(out);
    }
}

/* The program run by clone_vm_child_leaves_the_parent_alone: a child
 * made with clone(CLONE_VM) (the parent's memory, as vfork's) makes a
 * wrapped call while the parent has an output pending. Exit status 0 when
 * the parent's output landed and its next call was deferred again; stuck,
 * the watchdog ends it with 9. */
static float *g_cx;

static int clone_vm_child(void *arg)
{
    float *w = arg;
    return scale(g_cx, w, N) == 1 ? 0 : 1; /* __real_'s: the child's own */
}

static int clone_vm_call(void)
{
    pthread_t w;
    if (pthread_create(&w, NULL, watchdog, NULL))
        return 3;
    atomic_store(&g_gate, 1);
    float *x = fresh(1), *y = fresh(0), *z = fresh(0), *cw = fresh(0);
    g_cx = x;
    assert_int_equal(scale(x, y, N), 0);
    uint64_t before = stats().deferred;
    if (!before)
        return 4;
    size_t sz = 1u << 20;
    char *stk = malloc(sz);
    assert_non_null(stk);
    pid_t c = clone(clone_vm_child, stk + sz, CLONE_VM | SIGCHLD, cw);
    int st;
    if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
        return 2;
    for (uint32_t i = 0; i < N; i += 512)
        if (y[i] != 2.0f * (1.0f + (float)i) + 1.0f)
            return 1;
    assert_int_equal(scale(x, z, N), 0);
    if (stats().deferred != before + 1)
        return 5; /* the parent's calls went to __real_ from then on */
    for (uint32_t i = 0; i < N; i += 512)
        if (z[i] != 2.0f * (1.0f + (float)i) + 1.0f)
            return 1;
    free(stk);
    return 0;
}

/* A wrapped call made by a child that shares the parent's memory
 * (clone(CLONE_VM), a vfork()ed child) goes to __real_ and leaves the
 * parent's state alone: it marked the parent forked, whose later calls all
 * went to __real_, and forgot the parent's userfaultfd, so that the
 * parent's next touch of a pending output waited for ever (adversarial
 * testing). */
static void clone_vm_child_leaves_the_parent_alone(void **state)
{
    (void)state;
    if (!defers_here())
        skip();
#ifdef __SANITIZE_THREAD__
    /* ThreadSanitizer's runtime does not know a raw clone(CLONE_VM) child,
     * whose instrumented code then jumps to nowhere (SEGV at a
     * non-executable address, before any wrapped call). */
    skip();
#endif
    int st;
    char *out = run_self("clone-vm", "clonevm.out", &st);
    assert_non_null(out);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code)
        fail_msg("clone-vm: %s (status %d), said: %s",
                 code == 9   ? "stuck touching the parent's output, ended by its watchdog"
                 : code == 5 ? "the parent's calls no longer deferred"
                 : code == 1 ? "wrong results"
                             : "failed",
                 code, out);
    free(out);
}

/* The program run by fault_past_many_pending_outputs: a call whose input
 * holds more pending outputs than the probe is told of at once (nine),
 * then a page that cannot be read; the program's SIGSEGV handler jumps out
 * of the fault. Exit status 0 when another thread's call (which lands
 * everything pending first) then returns and is right; stuck, the
 * watchdog ends it with 9. */
static sigjmp_buf g_segv_jump;

static void jump_out(int sig)
{
    (void)sig;
    siglongjmp(g_segv_jump, 1);
}

static void *call_once(void *arg)
{
    float **xy = arg;
    return (void *)(intptr_t)scale(xy[0], xy[1], N);
}

static int fault_past_many_call(void)
{
    pthread_t w;
    if (pthread_create(&w, NULL, watchdog, NULL))
        return 3;
    atomic_store(&g_gate, 1);
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    uint32_t per = (uint32_t)(pg / sizeof(float)), k = 9;
    char *r = mmap(NULL, (k + 1) * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    assert_true(r != MAP_FAILED);
    assert_int_equal(mprotect(r + k * pg, pg, PROT_NONE), 0);
    float *x = fresh(1), *y = fresh(0);
    for (uint32_t i = 0; i < k; i++)
        assert_int_equal(scale(x, (float *)(r + i * pg), per), 0);
    if (stats().deferred < k)
        return 4;
    float *out = fresh(0);
    signal(SIGSEGV, jump_out);
    if (!sigsetjmp(g_segv_jump, 1)) {
        (void)scale((float *)r, out, (k + 1) * per); /* reads the PROT_NONE page */
        return 5;
    }
    signal(SIGSEGV, SIG_DFL);
    float *xy[2] = {x, y};
    pthread_t t;
    void *rc;
    if (pthread_create(&t, NULL, call_once, xy) || pthread_join(t, &rc) || rc)
        return 2;
    for (uint32_t i = 0; i < N; i += 512)
        if (y[i] != 2.0f * (1.0f + (float)i) + 1.0f)
            return 1;
    return 0;
}

/* A SIGSEGV handler that jumps out of a call's fault on an unreadable
 * input leaves no call half made, even when that input holds more pending
 * outputs than the probe is told of at once: the probe then read none of
 * it, the call's set-up faulted with its output made and not armed, and
 * the next call of another thread waited for it for ever (adversarial
 * testing). */
static void fault_past_many_pending_outputs(void **state)
{
    (void)state;
    if (!defers_here())
        skip();
    int st;
    char *out = run_self("probe-many", "probemany.out", &st);
    assert_non_null(out);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (code)
        fail_msg("probe-many: %s (status %d), said: %s",
                 code == 9   ? "another thread's call stuck, ended by the watchdog"
                 : code == 5 ? "the call returned"
                 : code == 1 ? "wrong results"
                             : "failed",
                 code, out);
    free(out);
}

int main(int argc, char **argv)
{
    /* CPU only, every size, no policy file: the runtime's defaults. */
    setenv("QUIVER_WRAP_WHERE", "cpu", 1);
    setenv("QUIVER_WRAP_MIN_BYTES", "0", 1);
    if (argc > 3 && !strcmp(argv[1], "close-all"))
        return close_all_then_call(argv[2], atoi(argv[3]) != 0);
    if (argc > 1 && !strcmp(argv[1], "no-lander"))
        return no_lander_then_touch();
    if (argc > 1 && !strcmp(argv[1], "read-only"))
        return read_only_call();
    if (argc > 1 && !strcmp(argv[1], "fork-prepare"))
        return fork_handler_call();
    if (argc > 1 && !strcmp(argv[1], "clone-vm"))
        return clone_vm_call();
    if (argc > 1 && !strcmp(argv[1], "probe-many"))
        return fault_past_many_call();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(returns_before_the_task_runs),
        cmocka_unit_test(another_thread_lands_them),
        cmocka_unit_test(stack_output_is_synchronous),
        cmocka_unit_test(unmapped_and_moved_outputs_keep_the_rest),
        cmocka_unit_test(task_reads_a_pending_table),
        cmocka_unit_test(moved_parts_land_where_they_went),
        cmocka_unit_test(moved_in_many_pieces_then_whole),
        cmocka_unit_test(unmap_while_another_lands),
        cmocka_unit_test(moved_onto_an_unmapped_output),
        cmocka_unit_test(moved_onto_an_unmapped_output_landing_late),
        cmocka_unit_test(output_in_memory_grown_by_mremap),
        cmocka_unit_test(signal_handler_reads_an_output),
        cmocka_unit_test(timer_signal_on_another_thread_reads_an_output),
        cmocka_unit_test(closed_userfaultfd_is_told),
        cmocka_unit_test(no_lander_thread_still_lands),
        cmocka_unit_test(read_only_output_faults),
        cmocka_unit_test(fork_handler_makes_a_call),
        cmocka_unit_test(fork_handler_makes_a_call_under_the_locks),
        cmocka_unit_test(clone_vm_child_leaves_the_parent_alone),
        cmocka_unit_test(fault_past_many_pending_outputs),
#ifndef QV_SANITIZED
        /* AddressSanitizer leaves a cancelled thread's stack poisoned (the
         * cancellation's unwinding) and reports its own sigaltstack at the
         * thread's end: a false stack-buffer-underflow. */
        cmocka_unit_test(cancelled_during_a_call),
#endif
#ifndef QV_SANITIZED
        cmocka_unit_test(heap_array_like_a_chunk_is_synchronous),
        cmocka_unit_test(arena_heap_pages_are_synchronous),
#endif
    };
    if (argc > 1) /* a name, or a pattern of names: those tests only */
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
