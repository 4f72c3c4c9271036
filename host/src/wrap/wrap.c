/*
 * wrap.c - what the interposers of `quiver wrap` call (quiver_wrap.h): one
 * runtime per process, made at the first wrapped call and destroyed at
 * exit, and each call run synchronously as one Quiver task on the caller's
 * memory, or handed back to __real_ when that cannot be done exactly.
 *
 * The logic lives here, not in the generated file, so that generated code
 * stays a table and a few lines per function.
 *
 * Locks: g_mu guards the list of states and the creation of each state's
 * qv_func; g_span_mu the ranges the calls in progress have registered;
 * g_rw is held for reading by every call that uses the runtime
 * and for writing by the exit handler that destroys it, so that no call
 * uses a destroyed runtime (calls after it go to __real_). Counters are
 * atomics.
 */
#include <errno.h>
#include <linux/kcmp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config/catalog_expr.h"
#include "core/alone.h"
#include "core/fork.h" /* qv__forking */
#include "core/internal.h" /* qv__in_task */
#include "core/thread.h"   /* qv__signals_block */
#include "quiver.h"
#include "quiver_wrap.h"
#include "wrap/pending.h"

/* Default of QUIVER_WRAP_MIN_BYTES: below this, a copy and a launch cost
 * more than the call (docs/profile.md, "Wrapping"). */
#define DEFAULT_MIN_BYTES 65536u

struct qv_wrap_state {
    struct qv_wrap_state *next;
    qv_wrap_fn *fn;
    qv_func *f;       /* NULL until made (under g_mu), then read without it */
    int broken;       /* 1: f could not be made; guarded by g_mu */
    char why[256];    /* why f is not made, or its FPGA binding failed */
    char region[128]; /* "wrap:<name>": each call is one entry */
    _Atomic uint64_t calls, runtime, disabled, below, unsized, overlap, busy, failed,
        nested, deferred;
    qv__pend_counters pend;
};

static pthread_once_t g_env_once = PTHREAD_ONCE_INIT;
static pthread_once_t g_rt_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
/* Writers first: an exit waited for ever while other threads kept making
 * calls, each taking the lock for reading again (a user's test). */
#ifdef PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP
static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
#else
static pthread_rwlock_t g_rw = PTHREAD_RWLOCK_INITIALIZER;
#endif
static struct qv_wrap_state *g_states; /* guarded by g_mu */
static qv_runtime *g_rt;               /* written under g_rw (write) */
static int g_enabled = 1, g_stats, g_defer = 1;
static int g_forked; /* this process is a fork()ed child: no runtime here */
static pid_t g_pid;  /* the process's, at the first call (env_init) */
static int forked(void);
static uint64_t g_min_bytes = DEFAULT_MIN_BYTES;
static unsigned g_where;
static char g_rt_why[256];
static atomic_int g_no_rt; /* the runtime could not be made */

/* A range of the callers' memory that a wrapped call has registered. */
struct span {
    uintptr_t lo, hi; /* [lo, hi) */
    struct span *next;
};
static pthread_mutex_t g_span_mu = PTHREAD_MUTEX_INITIALIZER;
static struct span *g_spans; /* guarded by g_span_mu; on the callers' stacks */

static void print_stats(void)
{
    pthread_mutex_lock(&g_mu);
    for (struct qv_wrap_state *s = g_states; s; s = s->next) {
        /* Read before calls: a call counts itself there first, then in
         * one of these when it is decided. */
        uint64_t by[7] = {atomic_load(&s->disabled), atomic_load(&s->below),
                          atomic_load(&s->unsized),  atomic_load(&s->overlap),
                          atomic_load(&s->busy),     atomic_load(&s->failed),
                          atomic_load(&s->nested)};
        uint64_t rt = atomic_load(&s->runtime), real = 0;
        for (int k = 0; k < 7; k++)
            real += by[k];
        uint64_t calls = atomic_load(&s->calls);
        /* Neither: under way as the program exits (another thread's). */
        uint64_t going = calls > rt + real ? calls - rt - real : 0;
        char under_way[64] = "";
        if (going)
            snprintf(under_way, sizeof under_way, "; %llu under way at exit",
                     (unsigned long long)going);
        fprintf(stderr,
                "quiver wrap: %s: %llu calls: %llu to the runtime, %llu to __real_%s "
                "(disabled %llu, below %llu, unsized %llu, overlap %llu, busy %llu, "
                "failed %llu, nested %llu)%s\n",
                s->fn->name, (unsigned long long)calls, (unsigned long long)rt,
                (unsigned long long)real, s->fn->name, (unsigned long long)by[0],
                (unsigned long long)by[1], (unsigned long long)by[2],
                (unsigned long long)by[3], (unsigned long long)by[4],
                (unsigned long long)by[5], (unsigned long long)by[6], under_way);
        if (s->fn->abi >= 2 && (s->fn->flags & QV_WRAP_DEFER)) {
            const char *why = "QUIVER_WRAP_DEFER=0";
            if (g_defer)
                (void)qv__pend_available(&why);
            fprintf(stderr,
                    "quiver wrap: %s: %llu deferred (%llu outputs touched before or "
                    "after their task, %llu tasks ran nowhere)%s%s\n",
                    s->fn->name, (unsigned long long)atomic_load(&s->deferred),
                    (unsigned long long)atomic_load(&s->pend.touches),
                    (unsigned long long)atomic_load(&s->pend.lost),
                    why ? "; calls are synchronous: " : "", why ? why : "");
        }
        if (!calls)
            fprintf(stderr,
                    "quiver wrap: %s: no call reached the wrapper (calls inside the "
                    "file that defines %s, and any call under -flto, are not wrapped)\n",
                    s->fn->name, s->fn->name);
        if (s->why[0])
            fprintf(stderr, "quiver wrap: %s: %s\n", s->fn->name, s->why);
    }
    pthread_mutex_unlock(&g_mu);
    if (!g_enabled || !g_rt) {
        /* No reason kept: none was made, or one was still being made
         * (a thread's first call when the program exited). */
        fprintf(stderr, "quiver wrap: no runtime: %s\n",
                g_rt_why[0] ? g_rt_why : "none made (no call had needed one yet)");
        return;
    }
    /* The runs of deferred calls between two touches: one region. */
    qv_region_info ri = {.size = sizeof ri};
    if (qv_region_get(g_rt, "wrap:deferred", &ri) == 0)
        fprintf(stderr,
                "quiver wrap: region wrap:deferred: %llu entries, %llu recorded, %llu "
                "replayed, %llu compiles, %llu replans, %llu guard misses; last entry "
                "%llu tasks, %.0f us predicted, %.0f us measured\n",
                (unsigned long long)ri.entries, (unsigned long long)ri.recorded,
                (unsigned long long)ri.replayed, (unsigned long long)ri.compiles,
                (unsigned long long)ri.replans, (unsigned long long)ri.guard_misses,
                (unsigned long long)ri.tasks, ri.predicted_us, ri.measured_us);
    for (unsigned d = 0; d < qv_device_count(g_rt); d++) {
        qv_device_info di;
        if (qv_device_get(g_rt, d, &di) == 0)
            fprintf(stderr, "quiver wrap: device %u %s (%s, %s): %llu tasks\n", d,
                    di.name, qv_class_name(di.cls), di.backend,
                    (unsigned long long)di.tasks);
    }
}

/* Set while this thread is inside qv_wrap_call: a wrapped call made by a
 * signal handler that interrupted it (the runtime's start, its locks and
 * waits are not async-signal-safe) goes to __real_, as the original call
 * would have run; it hung on the lock or the wait it interrupted. */
static __thread int tls_in_call;
/* Set while a call reads its buffers' pages (probe): a fault there may
 * leave by a jump, which ends that call. */
static __thread int tls_probing;

/* At exit, once (registered at start-up and again after the runtime is
 * made): the counters, then the runtime goes (its models are saved);
 * calls still made by other threads go to __real_. */
static void at_exit(void)
{
    static atomic_int done;
    /* exit() from inside a wrapped function that a worker runs: the
     * thread that made the call waits for this very task, holding g_rw,
     * so the runtime cannot go (it hung here: a user's test). The process
     * ends without it. */
    if (qv__in_task() || tls_in_call) /* (or a handler inside a call: it holds g_rw) */
        return;
    /* A forked child has no runtime to destroy, and g_rw may be held by a
     * thread of the parent's that is not here: each child's exit waited
     * the 10 s below (adversarial testing). */
    if (forked())
        return;
    if (atomic_exchange(&done, 1))
        return;
    /* Deferred outputs land, and their private buffers go, while the
     * runtime is still there. */
    qv__pend_settle_all(1);
    /* At most a while: a call that never ends (a thread a task started,
     * calling a wrapped function behind this writer, holds up the task
     * of a call holding the lock: a review) lets the process end without
     * the runtime's orderly end. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    if (pthread_rwlock_timedwrlock(&g_rw, &until) != 0)
        return;
    if (g_stats)
        print_stats();
    qv_runtime *rt = g_rt;
    g_rt = NULL;
    pthread_rwlock_unlock(&g_rw);
    qv_runtime_destroy(rt);
}

/* A forked child has none of the runtime's threads: it calls __real_. */
static void at_fork_child(void)
{
    g_forked = 1;
    g_rt = NULL;
    g_enabled = 0;
    snprintf(g_rt_why, sizeof g_rt_why, "a forked child calls __real_");
}

/* Whether this is a forked child, fork()'s (at_fork_child) or one made
 * without fork()'s handlers (_Fork, a raw clone), told by its pid: such a
 * child's calls went to a runtime with no threads and hung, or came back
 * as zeros (adversarial testing). */
static int forked(void)
{
    if (!g_forked && g_pid && getpid() != g_pid) {
        /* A child that shares the parent's memory (clone with CLONE_VM, a
         * vfork()ed child): its calls go to __real_, but what it writes
         * here is the parent's state. Marked forked, the parent's later
         * calls all went to __real_, and its pending outputs never landed
         * (their descriptor forgotten), so that its next touch hung
         * (adversarial testing). kcmp says whether the memory is one;
         * where it cannot (no kcmp), taken for a copy, as before. */
#if defined(SYS_kcmp)
        if (syscall(SYS_kcmp, (long)getpid(), (long)g_pid, (long)KCMP_VM, 0L, 0L) == 0)
            return 1;
#endif
        at_fork_child();
        qv__pend_forked(); /* the parent's pending state is not this one's */
    }
    return g_forked;
}

/* The classes of s ("cpu,fpga"); 0 when it names one that is not a class
 * (a typo would otherwise narrow the places without a word). */
static unsigned parse_where(const char *s)
{
    unsigned mask = 0;
    char buf[128];
    /* Longer than any list of classes: not one (cut, "fpga" and 123
     * spaces before a typo read as fpga alone; adversarial testing). */
    if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf)
        return 0;
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t;
         t = strtok_r(NULL, ", ", &save)) {
        unsigned bit = 0;
        for (int c = 0; c < QV_CLASS_COUNT; c++)
            if (!strcmp(t, qv_class_name((qv_class)c)))
                bit = 1u << c;
        if (!bit)
            return 0;
        mask |= bit;
    }
    return mask;
}

static void env_init(void)
{
    const char *e = getenv("QUIVER_WRAP");
    if (e && !strcmp(e, "0")) {
        g_enabled = 0;
        snprintf(g_rt_why, sizeof g_rt_why, "QUIVER_WRAP=0");
    } else if (e && *e && strcmp(e, "1")) { /* "no" was taken as on: say so */
        fprintf(stderr, "quiver wrap: QUIVER_WRAP=%s is not 0 or 1: ignored, the calls go "
                        "to the runtime\n", e);
    }
    e = getenv("QUIVER_WRAP_MIN_BYTES");
    if (e && *e) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(e, &end, 10);
        /* strtoull takes "-1" (as ULLONG_MAX) and saturates on overflow:
         * digits only, and in range. */
        if (!*end && e[0] >= '0' && e[0] <= '9' && errno != ERANGE)
            g_min_bytes = v;
        else
            fprintf(stderr,
                    "quiver wrap: QUIVER_WRAP_MIN_BYTES=%s is not a number of "
                    "bytes; using %u\n",
                    e, DEFAULT_MIN_BYTES);
    }
    e = getenv("QUIVER_WRAP_WHERE");
    if (e && *e) {
        g_where = parse_where(e);
        if (!g_where)
            fprintf(stderr,
                    "quiver wrap: QUIVER_WRAP_WHERE=%s names something that is not a "
                    "device class (cpu, gpu, fpga, remote); ignored\n",
                    e);
    }
    e = getenv("QUIVER_WRAP_DEFER");
    g_defer = !(e && !strcmp(e, "0"));
    if (e && strcmp(e, "0") && strcmp(e, "1"))
        fprintf(stderr, "quiver wrap: QUIVER_WRAP_DEFER=%s is not 0 or 1; calls are "
                        "deferred\n",
                e);
    e = getenv("QUIVER_WRAP_STATS");
    g_stats = e && *e && strcmp(e, "0");
    g_pid = getpid();
    pthread_atfork(NULL, NULL, at_fork_child);
    atexit(at_exit);
}

static void rt_init(void)
{
    if (!g_enabled)
        return;
    qv_options o;
    qv_options_init(&o);
    o.pin = 0; /* the application's threads share the cores */
    qv_runtime *rt;
    qv__alone_before before;
    sigset_t mask;
    qv__alone_begin(&before, &mask);
    int rc = qv_runtime_create(&o, &rt);
    qv__alone_end(&before, &mask);
    if (rc) {
        atomic_store(&g_no_rt, 1);
        snprintf(g_rt_why, sizeof g_rt_why, "%s: %s", qv_strerror(rc), qv_last_error());
        if (g_stats)
            fprintf(stderr, "quiver wrap: no runtime, every call goes to __real_: %s\n",
                    g_rt_why);
        return;
    }
    pthread_rwlock_wrlock(&g_rw);
    g_rt = rt;
    pthread_rwlock_unlock(&g_rw);
    /* Again, now that the runtime's libraries (the OpenCL driver) have
     * registered theirs: the runtime goes before they clean up. */
    atexit(at_exit);
}

/* The key whose destructor says main ended with pthread_exit. */
static pthread_key_t g_main_key;

#ifndef PTHREAD_DESTRUCTOR_ITERATIONS
#define PTHREAD_DESTRUCTOR_ITERATIONS 4
#endif

/* main ended with pthread_exit (its thread-specific value's destructor
 * runs then, and at no other end of main): the process ends when the
 * program's last thread does, and the runtime's threads, which never end,
 * kept it for ever. Once only those are left, it exits as the last thread
 * would have, with 0, the runtime going first (at_exit). Until then
 * main's thread waits here.
 *
 * Only in the last round of destructors: the program's own keys, made
 * after this one, have theirs called after it in each round, and a
 * destructor of main's value that writes the program's results never ran
 * (the process exited from here first: adversarial testing). Each round
 * before the last sets the value again, which brings this back in the
 * next (v counts them, from 1). Every signal blocked while it waits, as
 * for a thread that is gone: the program's threads take them, as they
 * would unwrapped (a SIGTERM that a thread waits for in sigwait killed
 * the process here, where main's default action took it). */
static void main_gone(void *v)
{
    /* A program that wraps nothing (it links libquiver for a runtime of
     * its own; a wrapped one declares its functions before main) ends as
     * glibc ends it. */
    pthread_mutex_lock(&g_mu);
    bool wrapped = g_states != NULL;
    pthread_mutex_unlock(&g_mu);
    /* Nor one whose calls all go to __real_ (QUIVER_WRAP=0, no runtime,
     * a forked child): "nothing else happens" there. */
    if (!wrapped || !g_enabled || g_forked || atomic_load(&g_no_rt))
        return;
    uintptr_t round = (uintptr_t)v;
    if (round < PTHREAD_DESTRUCTOR_ITERATIONS &&
        !pthread_setspecific(g_main_key, (void *)(round + 1)))
        return;
    sigset_t all, was;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &was);
    for (long ms = 1; !qv__alone(); ms = ms < 100 ? ms * 2 : 100)
        nanosleep(&(struct timespec){0, ms * 1000000}, NULL);
    /* The exit handlers (the runtime's end, the program's atexit) with
     * main's mask: a fault there reaches the program's handler, a wait for
     * a signal ends. */
    pthread_sigmask(SIG_SETMASK, &was, NULL);
    exit(0);
}

/* Before main, on its thread: the mark whose destructor says main ended
 * with pthread_exit. */
__attribute__((constructor)) static void mark_main(void)
{
    if (gettid() == getpid() && !pthread_key_create(&g_main_key, main_gone))
        pthread_setspecific(g_main_key, (void *)(uintptr_t)1);
}

/* The state of fn, made on first use; NULL without memory. */
static struct qv_wrap_state *state_of(qv_wrap_fn *fn)
{
    struct qv_wrap_state *s = __atomic_load_n(&fn->state, __ATOMIC_ACQUIRE);
    if (s)
        return s;
    pthread_once(&g_env_once, env_init);
    pthread_mutex_lock(&g_mu);
    s = fn->state;
    if (!s && (s = calloc(1, sizeof *s))) {
        s->fn = fn;
        snprintf(s->region, sizeof s->region, "wrap:%s", fn->name);
        /* Keep the list in declaration order for the report. */
        struct qv_wrap_state **p = &g_states;
        while (*p)
            p = &(*p)->next;
        *p = s;
        __atomic_store_n(&fn->state, s, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&g_mu);
    return s;
}

/* Makes s->f on g_rt (g_rw held for reading). 0, or -1 when it cannot be
 * made (s->why says why). */
static int func_of(struct qv_wrap_state *s)
{
    if (__atomic_load_n(&s->f, __ATOMIC_ACQUIRE))
        return 0;
    pthread_mutex_lock(&g_mu);
    int rc = 0;
    if (s->broken)
        rc = -1;
    else if (!s->f) {
        const qv_wrap_fn *fn = s->fn;
        qv_arg_desc d[QV_MAX_ARGS];
        for (unsigned i = 0; i < fn->nargs; i++) {
            const qv_wrap_arg *a = &fn->args[i];
            d[i] =
                (qv_arg_desc){a->name, a->size != NULL, a->size ? (qv_mode)a->mode : QV_R,
                              a->size ? 0 : a->elem};
        }
        qv_func *f;
        int e = qv_func_create(g_rt, fn->name, d, fn->nargs, &f);
        if (!e)
            e = qv_func_set_cpu(f, fn->cpu);
        if (!e && fn->cl_source)
            e = qv_func_set_opencl(
                f, &(qv_opencl_impl){fn->cl_source, fn->cl_kernel, NULL, fn->cl_range});
        if (!e && g_where)
            e = qv_func_set_where(f, g_where);
        if (e) {
            snprintf(s->why, sizeof s->why, "cannot register %s with the runtime: %s: %s",
                     fn->name, qv_strerror(e), qv_last_error());
            s->broken = 1;
            rc = -1;
        } else {
            if (fn->kernel && (e = qv_func_set_fpga(f, fn->kernel)))
                snprintf(s->why, sizeof s->why,
                         "no FPGA implementation: kernel %s: %s: %s", fn->kernel,
                         qv_strerror(e), qv_last_error());
            __atomic_store_n(&s->f, f, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&g_mu);
    return rc;
}

/* Reads scalar argument a at p as an unsigned value for the size
 * expressions; 0 when it has none (a float, a negative integer). */
static int scalar_value(const qv_wrap_arg *a, const void *p, uint64_t *out)
{
    if (a->kind == QV_WRAP_FLOAT)
        return 0;
    int64_t sv = 0;
    uint64_t uv = 0;
    switch (a->elem) {
    case 1:
        sv = *(const int8_t *)p;
        uv = *(const uint8_t *)p;
        break;
    case 2:
        sv = *(const int16_t *)p;
        uv = *(const uint16_t *)p;
        break;
    case 4:
        sv = *(const int32_t *)p;
        uv = *(const uint32_t *)p;
        break;
    case 8:
        sv = *(const int64_t *)p;
        uv = *(const uint64_t *)p;
        break;
    default:
        return 0;
    }
    if (a->kind == QV_WRAP_SINT) {
        if (sv < 0)
            return 0;
        uv = (uint64_t)sv;
    }
    *out = uv;
    return 1;
}

static int overlaps(const void *p, size_t n, const void *q, size_t m)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)q;
    return n && m && a < b + m && b < a + n;
}

/* The bytes of each buffer argument of the call into bytes; 1 when they
 * cannot be told (the call stays with the original). */
static int sizes_of(const qv_wrap_fn *fn, void *const *argv, size_t *bytes)
{
    const char *names[QV_MAX_ARGS];
    uint64_t vals[QV_MAX_ARGS];
    size_t nv = 0;
    for (unsigned i = 0; i < fn->nargs; i++)
        if (!fn->args[i].size && scalar_value(&fn->args[i], argv[i], &vals[nv])) {
            /* The catalog holds its kernels to scalars of 1 or more: a 0
             * (n = 0, an empty call) stays with the original. */
            if (!vals[nv])
                return 1;
            names[nv++] = fn->args[i].name;
        }
    for (unsigned i = 0; i < fn->nargs; i++) {
        const qv_wrap_arg *a = &fn->args[i];
        bytes[i] = 0;
        if (!a->size)
            continue;
        uint64_t elems;
        if (qv__expr_eval(a->size, names, vals, nv, &elems) ||
            (a->elem && elems > SIZE_MAX / a->elem) || (elems && !argv[i]))
            return 1;
        bytes[i] = (size_t)(elems * a->elem);
    }
    return 0;
}

/* Whether calls of fn may be deferred: only where the CPU may run the
 * task, since a task that ran nowhere else still runs there (__real_),
 * while a deferred call can no longer fall back to __real_ itself. */
static bool deferrable(const qv_wrap_fn *fn)
{
    return fn->abi >= 2 && (fn->flags & QV_WRAP_DEFER) && g_defer &&
           (!g_where || (g_where & (1u << QV_CLASS_CPU)));
}

/* Reads a byte of each page of the call's buffers, on the calling thread
 * and before the library takes any state: memory that cannot be read
 * faults here, where a SIGSEGV handler that jumps out of the fault leaves
 * nothing half done, as with the unwrapped function. The runtime's worker
 * read it before, and a handler's jump there left another thread's stack;
 * a deferred call's set-up read it with its outputs half made, and the
 * program's other threads waited for them for ever (adversarial
 * testing). The pages of pending outputs are not read: that would land
 * them now, while a deferred call reads their private copies. Memory that
 * can be read but not written still faults in the runtime's threads. */
static void probe(const qv_wrap_fn *fn, void *const *argv, const size_t *bytes)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    bool defer = deferrable(fn);
    for (unsigned i = 0; i < fn->nargs; i++) {
        /* An output only written: read in a deferred call's set-up (what
         * it held before), not otherwise, where reading a fresh page here
         * cost a fault more than the device's write takes. */
        if (!fn->args[i].size || !bytes[i] || (fn->args[i].mode == QV_W && !defer))
            continue;
        uintptr_t lo = (uintptr_t)argv[i], hi = lo + bytes[i], skip[8][2];
        size_t nskip = qv__pend_pages(lo, hi, skip, 8);
        for (uintptr_t a = lo; a < hi; a = (a & ~(uintptr_t)(page - 1)) + page) {
            if (nskip > 8) {
                /* Not all told: asked page by page. Left to the call, a
                 * page that could not be read faulted in its set-up, its
                 * outputs half made, and a jump out of it left the other
                 * threads' calls waiting for them for ever (adversarial
                 * testing). */
                uintptr_t one[1][2];
                if (qv__pend_pages(a, a + 1, one, 1))
                    continue;
            } else {
                size_t k = 0;
                while (k < nskip && !(skip[k][0] <= a && a < skip[k][1]))
                    k++;
                if (k < nskip)
                    continue;
            }
            (void)*(const volatile char *)a;
        }
    }
}

/* The call, with g_rw held for reading; bytes: its buffers' sizes
 * (route_of). 0: done; 1: __real_. */
static int run(struct qv_wrap_state *s, qv_wrap_fn *fn, void *const *argv,
               const size_t *bytes)
{
    if (!g_rt) {
        atomic_fetch_add(&s->disabled, 1);
        return 1;
    }
    /* An output that overlaps another argument: what the function computes
     * then is defined by its own code (fir(y, h, y, ...) may or may not be
     * meant in place), so __real_ runs it. Inputs that overlap each other
     * are fine: the later one is copied (one registration per range). */
    int copy[QV_MAX_ARGS] = {0};
    for (unsigned i = 0; i < fn->nargs; i++)
        for (unsigned j = i + 1; j < fn->nargs; j++) {
            if (!fn->args[i].size || !fn->args[j].size ||
                !overlaps(argv[i], bytes[i], argv[j], bytes[j]))
                continue;
            if ((fn->args[i].mode | fn->args[j].mode) & QV_W) {
                atomic_fetch_add(&s->overlap, 1);
                return 1;
            }
            copy[j] = 1;
        }
    if (func_of(s)) {
        atomic_fetch_add(&s->failed, 1);
        return 1;
    }
    if (deferrable(fn)) {
        switch (qv__pend_call(g_rt, s->f, fn, argv, bytes, "wrap:deferred", &s->pend)) {
        case QV__PEND_DONE:
            atomic_fetch_add(&s->deferred, 1);
            atomic_fetch_add(&s->runtime, 1);
            return 0;
        case QV__PEND_FAIL:
            atomic_fetch_add(&s->failed, 1);
            if (g_stats)
                fprintf(stderr, "quiver wrap: %s: %s; running __real_%s\n", fn->name,
                        qv_last_error(), fn->name);
            return 1;
        default: /* deferral cannot be used here: synchronous */
            break;
        }
    }
    /* Deferred outputs this call reads or writes land first; deferred
     * calls before a synchronous one end their region. */
    qv__pend_region_close();
    for (unsigned i = 0; i < fn->nargs; i++)
        if (fn->args[i].size && bytes[i])
            qv__pend_settle(argv[i], bytes[i]);
    /* Memory other threads' wrapped calls are using now: an input there is
     * copied, an output there sends the call to __real_ (the threads race
     * in the program itself then). Claimed before registering, so that two
     * calls never register the same range. */
    struct span mine[QV_MAX_ARGS];
    unsigned nmine = 0;
    pthread_mutex_lock(&g_span_mu);
    for (unsigned i = 0; i < fn->nargs; i++) {
        if (!fn->args[i].size || !bytes[i] || copy[i])
            continue;
        for (const struct span *o = g_spans; o; o = o->next)
            if (overlaps(argv[i], bytes[i], (const void *)o->lo, o->hi - o->lo)) {
                if (fn->args[i].mode != QV_R) {
                    pthread_mutex_unlock(&g_span_mu);
                    atomic_fetch_add(&s->busy, 1);
                    return 1;
                }
                copy[i] = 1;
                break;
            }
    }
    for (unsigned i = 0; i < fn->nargs; i++)
        if (fn->args[i].size && bytes[i] && !copy[i]) {
            mine[nmine] =
                (struct span){(uintptr_t)argv[i], (uintptr_t)argv[i] + bytes[i], g_spans};
            g_spans = &mine[nmine++];
        }
    pthread_mutex_unlock(&g_span_mu);
    qv_buf *b[QV_MAX_ARGS] = {0};
    void *tmp[QV_MAX_ARGS] = {0};
    qv_arg args[QV_MAX_ARGS];
    int rc = 0;
    for (unsigned i = 0; i < fn->nargs && !rc; i++) {
        const qv_wrap_arg *a = &fn->args[i];
        if (!a->size) {
            args[i] = (qv_arg){NULL, argv[i], a->elem};
            continue;
        }
        void *p = bytes[i] ? argv[i] : NULL;
        if (copy[i] && p) {
            if (!(tmp[i] = malloc(bytes[i]))) {
                rc = QV_ENOMEM;
                break;
            }
            memcpy(tmp[i], argv[i], bytes[i]);
            p = tmp[i];
        }
        if ((rc = qv_buf_register(g_rt, p, bytes[i], &b[i])))
            b[i] = NULL;
        args[i] = QV_BUF(b[i]);
    }
    if (!rc) {
        int open = qv_region_begin(g_rt, s->region) == 0;
        rc = qv_submit(g_rt, s->f, args, fn->nargs);
        if (open)
            qv_region_end(g_rt);
    }
    /* Waits for the task and brings the outputs home. */
    for (unsigned i = 0; i < fn->nargs; i++) {
        if (b[i]) {
            int e = qv_buf_unregister(b[i]);
            if (!rc)
                rc = e;
        }
        free(tmp[i]);
    }
    pthread_mutex_lock(&g_span_mu);
    for (unsigned k = 0; k < nmine; k++)
        for (struct span **q = &g_spans; *q; q = &(*q)->next)
            if (*q == &mine[k]) {
                *q = mine[k].next;
                break;
            }
    pthread_mutex_unlock(&g_span_mu);
    if (rc) {
        atomic_fetch_add(&s->failed, 1);
        if (g_stats)
            fprintf(stderr, "quiver wrap: %s: %s: %s; running __real_%s\n", fn->name,
                    qv_strerror(rc), qv_last_error(), fn->name);
        return 1;
    }
    atomic_fetch_add(&s->runtime, 1);
    return 0;
}

/* Where a call goes, told once before it starts: the runtime, or
 * __real_ for the reason its counter names. */
enum route {
    TO_RUNTIME,
    TO_REAL_UNSIZED,
    TO_REAL_DISABLED,
    TO_REAL_NESTED,
    TO_REAL_BELOW
};

static int wrap_call(qv_wrap_fn *fn, void *const *argv, const size_t *bytes,
                     enum route route);

/* The route of a call of fn with argv, its buffers' sizes into bytes.
 * Decided before the buffers are probed: a call that goes to __real_
 * anyway (QUIVER_WRAP=0, no runtime, below QUIVER_WRAP_MIN_BYTES, a forked
 * child, inside a task) is __real_'s business, which may read less than
 * the catalog's size says, and "nothing else happens" (docs/profile.md):
 * such calls faulted in probe() (adversarial testing). The fork check
 * comes before probe() asks pending.c (qv__pend_pages), whose lock a
 * child made without fork()'s handlers may have inherited held. */
static enum route route_of(const qv_wrap_fn *fn, void *const *argv, size_t *bytes)
{
    if (!argv) /* a scalar the catalog's type cannot hold */
        return TO_REAL_UNSIZED;
    pthread_once(&g_env_once, env_init);
    if (forked() || !g_enabled || atomic_load(&g_no_rt))
        return TO_REAL_DISABLED;
    /* From inside a task (a wrapped function's __real_ calling another):
     * waiting there for a task of its own could deadlock the workers.
     * From a fork handler of the program's that runs while this thread
     * holds the runtime's process-wide locks (one registered before the
     * runtime was made): a call through the runtime waited for a task
     * whose worker waited for one of them (the log's, QV_LOG=trace), and
     * the process hung in fork() with its signals blocked (review). */
    if (qv__in_task() || qv__forking())
        return TO_REAL_NESTED;
    if (sizes_of(fn, argv, bytes))
        return TO_REAL_UNSIZED;
    uint64_t total = 0;
    for (unsigned i = 0; i < fn->nargs; i++)
        total = total + bytes[i] < total ? UINT64_MAX : total + bytes[i];
    return total < g_min_bytes ? TO_REAL_BELOW : TO_RUNTIME;
}

int qv_wrap_call(qv_wrap_fn *fn, void *const *argv)
{
    /* A call that finds the probe under way comes after a jump out of its
     * fault (the program's SIGSEGV handler, siglongjmp): that call never
     * happened. (The asynchronous signals are held meanwhile, so it is no
     * handler's call inside it.) */
    if (tls_probing) {
        tls_probing = 0;
        tls_in_call = 0;
    }
    if (!fn || (fn->abi != 1 && fn->abi != QV_WRAP_ABI) || fn->nargs > QV_MAX_ARGS ||
        !fn->name || !fn->cpu)
        return 1;
    if (tls_in_call) {
        /* A signal handler's call inside a wrapped call of this thread:
         * to __real_, counted as nested (lock-free atomics, safe in a
         * handler). Uncounted only when it is the function's first call
         * of all, whose counters would need malloc here. */
        struct qv_wrap_state *s = __atomic_load_n(&fn->state, __ATOMIC_ACQUIRE);
        if (s) {
            atomic_fetch_add(&s->calls, 1);
            atomic_fetch_add(&s->nested, 1);
        }
        return 1;
    }
    /* tls_in_call before anything else: a handler's wrapped call made
     * meanwhile goes to __real_ (one that found no call under way took the
     * runtime from inside the handler: the thread sanitizer, test_wrap). */
    tls_in_call = 1;
    size_t bytes[QV_MAX_ARGS];
    enum route route = route_of(fn, argv, bytes);
    if (route == TO_RUNTIME) {
        /* The pages read with the asynchronous signals held (a handler
         * then finds tls_probing set only after a jump); a fault there
         * still reaches the program's handler, and one that jumps out with
         * siglongjmp (from sigsetjmp(env, 1)) gets its mask back. */
        sigset_t mask;
        qv__signals_block(&mask);
        tls_probing = 1;
        probe(fn, argv, bytes);
        tls_probing = 0;
        pthread_sigmask(SIG_SETMASK, &mask, NULL);
    }
    /* No cancellation point inside: the function the program wrote has
     * none, and a thread cancelled in a wait here unwound holding the
     * runtime's locks, its spans still linked, and hung the process at
     * the next cancel (adversarial testing). A cancel that came meanwhile
     * acts at the thread's next cancellation point, as unwrapped. */
    /* tls_in_call cleared last: a handler that interrupted
     * pthread_setcancelstate went to the runtime. */
    int cancel;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
    int rc = wrap_call(fn, argv, bytes, route);
    pthread_setcancelstate(cancel, NULL);
    tls_in_call = 0;
    return rc;
}

static int wrap_call(qv_wrap_fn *fn, void *const *argv, const size_t *bytes,
                     enum route route)
{
    struct qv_wrap_state *s = state_of(fn);
    if (!s)
        return 1;
    atomic_fetch_add(&s->calls, 1);
    _Atomic uint64_t *why[] = {[TO_REAL_UNSIZED] = &s->unsized,
                               [TO_REAL_DISABLED] = &s->disabled,
                               [TO_REAL_NESTED] = &s->nested,
                               [TO_REAL_BELOW] = &s->below};
    if (route != TO_RUNTIME) {
        atomic_fetch_add(why[route], 1);
        return 1;
    }
    pthread_once(&g_rt_once, rt_init);
    pthread_rwlock_rdlock(&g_rw);
    int rc = run(s, fn, argv, bytes);
    pthread_rwlock_unlock(&g_rw);
    return rc;
}

unsigned qv_wrap_range(const qv_wrap_fn *fn, const qv_call *call, size_t global[3],
                       size_t local[3])
{
    (void)local;
    global[0] = 1;
    for (unsigned i = 0; fn && i < fn->nargs && i < call->nargs; i++)
        if (fn->args[i].size && (fn->args[i].mode & QV_W)) {
            size_t n = fn->args[i].elem ? call->size[i] / fn->args[i].elem : 0;
            global[0] = n ? n : 1;
            break;
        }
    return 1;
}

void qv_wrap_declare(qv_wrap_fn *fn)
{
    if (fn && (fn->abi == 1 || fn->abi == QV_WRAP_ABI) && fn->name)
        (void)state_of(fn);
}

/* The stats of `name` into *out, at most size bytes (0: as many as the
 * header of the file that registered it has). */
static int stats_get(const char *name, qv_wrap_stats *out, size_t size)
{
    if (!name || !out)
        return QV_EINVAL;
    int rc = QV_ENOENT;
    pthread_mutex_lock(&g_mu);
    for (struct qv_wrap_state *s = g_states; s; s = s->next)
        if (!strcmp(s->fn->name, name)) {
            /* calls read last: a call counts itself there first, then in
             * one of the others, so that none is in two (print_stats). */
            qv_wrap_stats st = {.runtime = atomic_load(&s->runtime),
                                .disabled = atomic_load(&s->disabled),
                                .below = atomic_load(&s->below),
                                .unsized = atomic_load(&s->unsized),
                                .overlap = atomic_load(&s->overlap),
                                .busy = atomic_load(&s->busy),
                                .failed = atomic_load(&s->failed),
                                .nested = atomic_load(&s->nested),
                                .deferred = atomic_load(&s->deferred),
                                .touches = atomic_load(&s->pend.touches),
                                .lost = atomic_load(&s->pend.lost)};
            st.calls = atomic_load(&s->calls);
            st.real = st.disabled + st.below + st.unsized + st.overlap + st.busy +
                      st.failed + st.nested;
            /* Unsized, and a file written for QV_WRAP_ABI 1 registered it:
             * its program was built against the header whose struct ends
             * before the fields ABI 2 appended, and the whole struct
             * overran the caller's by 24 bytes. */
            if (!size)
                size = s->fn->abi == 1 ? offsetof(qv_wrap_stats, deferred) : sizeof st;
            memcpy(out, &st, size < sizeof st ? size : sizeof st);
            rc = 0;
            break;
        }
    pthread_mutex_unlock(&g_mu);
    return rc;
}

int qv_wrap_stats_get(const char *name, qv_wrap_stats *out)
{
    return stats_get(name, out, 0);
}

int qv_wrap_stats_get_sized(const char *name, qv_wrap_stats *out, size_t size)
{
    return size ? stats_get(name, out, size) : QV_EINVAL;
}
