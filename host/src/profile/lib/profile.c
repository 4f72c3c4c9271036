/*
 * profile.c - libquiver-profile.so, the library `quiver profile` preloads
 * into a program built with -finstrument-functions. It defines the
 * compiler's __cyg_profile_func_enter/exit hooks and qv_profile_note
 * (quiver_profile.h), and writes what it recorded, at exit, as a raw
 * profile (docs/profile.md, "The raw profile") into the directory named by
 * $QV_PROFILE_DIR.
 *
 * What it records, per thread and without locks: a shadow stack of open
 * calls (a frame per call, up to QVP_DEPTH deep; deeper calls are counted
 * in their deepest recorded ancestor), and a table of caller->callee arcs
 * (calls, inclusive and self ticks, children and descendants) and of
 * functions (inclusive ticks of outermost activations only, so recursion
 * is never counted twice). The tables live in the thread's own mmap'ed
 * memory, reached through initial-exec TLS, and stay after the thread
 * ends. Addresses are written as module + offset (PIE and shared objects
 * load anywhere); `quiver profile` names them from the files' symbol
 * tables, once it has checked that each file is the one that ran: each
 * module's GNU build-id, read from its notes in memory, or without one the
 * file's device, inode, size and modification time, taken at the start
 * (at exit for a library opened later).
 *
 * Times are rdtsc ticks on x86-64 (CLOCK_MONOTONIC elsewhere), converted
 * with a rate measured against CLOCK_MONOTONIC. The cost of the hooks is
 * measured at start (an empty caller and callee through the real hooks)
 * and written down; the reader subtracts it.
 *
 * Robustness: an exit that does not match the top frame (longjmp, an
 * exception, a signal handler that does not return) closes the frames
 * above the matching one; an exit with no matching frame is counted and
 * ignored; a hook entered while the same thread is inside a hook (a signal
 * handler) is skipped with its exit; a forked child starts its own tables
 * and file; frames still open at exit are closed then and counted.
 *
 * Every function here is no_instrument_function: an instrumented hook
 * would call itself until the stack overflows.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "quiver_profile.h"

#define NOI __attribute__((no_instrument_function))
#define API __attribute__((visibility("default"), no_instrument_function))

#define QVP_DEPTH 1024          /* frames per thread */
#define QVP_ARCS (1u << 15)     /* arcs per thread */
#define QVP_FNS (1u << 14)      /* functions per thread */
#define QVP_SLOTS (1u << 16)    /* arc hash slots, a power of two */
#define QVP_FSLOTS (1u << 15)   /* function hash slots */
#define QVP_NOTES 256           /* distinct notes per process */
#define QVP_NOTE_SCALARS 8

struct qvp_arc;
typedef struct qvp_fn {
    uintptr_t addr;
    struct qvp_arc *last; /* the arc of its last callee: a cache */
    uint64_t active; /* open activations */
    uint64_t outer;  /* completed outermost activations */
    uint64_t incl;   /* ticks of outermost activations */
    uint64_t desc;   /* calls under outermost activations */
} qvp_fn;

typedef struct qvp_arc {
    uintptr_t callee, caller; /* caller 0: called from uninstrumented code */
    qvp_fn *fn;
    uint64_t calls;
    uint64_t incl;     /* ticks, calls where the callee was not already open */
    uint64_t self;     /* ticks less the children's spans */
    uint64_t children; /* direct calls made */
    uint64_t desc;     /* calls made at any depth */
} qvp_arc;

typedef struct qvp_frame {
    qvp_arc *arc;
    uintptr_t fn;
    uintptr_t sp;   /* the enter hook's frame: below the function's own */
    uintptr_t site; /* the call site the hook was given */
    uint64_t t0, child, nchild, desc;
} qvp_frame;

typedef struct qvp_thr {
    struct qvp_thr *next;
    unsigned id;
    int busy;      /* inside a hook (a signal handler re-entering skips) */
    int alive;     /* 0 in a forked child for the parent's other threads */
    unsigned depth;
    uint64_t over; /* calls deeper than QVP_DEPTH now open */
    uintptr_t over_sp, over_site; /* the first of them's hook frame, site */
    uint64_t t_first, t_last, skipped, unpaired, dropped, closed_at_exit;
    uint32_t narcs, nfns;
    uint32_t *slots;  /* QVP_SLOTS: arc index + 1, 0 empty */
    uint32_t *fslots; /* QVP_FSLOTS */
    qvp_arc *arcs;
    qvp_fn *fns;
    qvp_frame stack[QVP_DEPTH];
} qvp_thr;

/* Names are copied into the note, not allocated: a wrapper may note
 * from a signal handler that interrupted malloc (or this very note). A
 * longer name drops the note (counted), rather than name another. */
#define QVP_NOTE_FN   128
#define QVP_NOTE_NAME 64
typedef struct qvp_note {
    const char *fn_ptr; /* the caller's pointer, compared first */
    char fn[QVP_NOTE_FN];
    unsigned n;
    char names[QVP_NOTE_SCALARS][QVP_NOTE_NAME];
    long long values[QVP_NOTE_SCALARS];
    uint64_t count;
} qvp_note;

static __thread qvp_thr *tls_thr __attribute__((tls_model("initial-exec")));
/* While the thread's tables are made: a signal handler's hooks then find
 * none yet, and must not make a second record of the thread. */
static __thread int tls_making __attribute__((tls_model("initial-exec")));
static _Atomic(qvp_thr *) threads;
static atomic_uint nthreads;
static atomic_int stopping;
static int enabled;
static char out_dir[PATH_MAX];
static uint64_t t_start, ns_start;
static double ns_per_tick;
static double calib_in, calib_pair; /* ticks */
static atomic_flag note_lock = ATOMIC_FLAG_INIT;
static qvp_note notes[QVP_NOTES];
static unsigned nnotes;
static _Atomic uint64_t notes_dropped;
/* Set while this thread notes: a signal handler's note on the same thread
 * is dropped (it spun for ever on the lock its thread held: adversarial
 * testing). */
static __thread int tls_noting __attribute__((tls_model("initial-exec")));

NOI static inline uint64_t ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return __rdtsc();
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

NOI static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

NOI static void *map(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

NOI static qvp_thr *thr_alloc(void)
{
    qvp_thr *t = map(sizeof *t);
    if (!t)
        return NULL;
    t->slots = map(QVP_SLOTS * sizeof *t->slots);
    t->fslots = map(QVP_FSLOTS * sizeof *t->fslots);
    t->arcs = map(QVP_ARCS * sizeof *t->arcs);
    t->fns = map(QVP_FNS * sizeof *t->fns);
    if (!t->slots || !t->fslots || !t->arcs || !t->fns)
        return NULL; /* the few pages mapped stay: a process short of memory */
    t->alive = 1;
    return t;
}

static pthread_key_t end_key; /* a thread's tables: closed when it ends */
static int end_key_ok;
/* A thread's end and the profile's writing at exit, one at a time: both
 * close a thread's frames (review: two loops on one stack could take its
 * depth below 0). */
static pthread_mutex_t end_mu = PTHREAD_MUTEX_INITIALIZER;

NOI static void frames_close_all(qvp_thr *t, uint64_t now);

/* A thread that ends (pthread_exit, a cancel, its start routine's return)
 * closes what it left open then: those calls ran until that moment, not
 * until the process exits (4 threads ended by pthread_exit after 1 ms of
 * work were charged 813 ms: adversarial testing). Left without their
 * exits, as after a longjmp. Not once the process is writing its
 * profile: that closes every thread's frames itself. */
NOI static void thr_end(void *arg)
{
    qvp_thr *t = arg;
    pthread_mutex_lock(&end_mu);
    if (!atomic_load(&stopping) && !t->busy) {
        t->busy = 1;
        t->unpaired += t->depth + t->over;
        t->over = 0;
        frames_close_all(t, ticks());
        t->busy = 0;
    }
    pthread_mutex_unlock(&end_mu);
}

/* The calling thread's tables, made and listed on its first hook; NULL
 * when memory ran out. */
NOI static qvp_thr *thr_get(void)
{
    qvp_thr *t = tls_thr;
    if (t)
        return t;
    t = thr_alloc();
    if (!t)
        return NULL;
    t->id = atomic_fetch_add(&nthreads, 1);
    t->t_first = ticks();
    qvp_thr *head = atomic_load(&threads);
    do
        t->next = head;
    while (!atomic_compare_exchange_weak(&threads, &head, t));
    tls_thr = t;
    if (end_key_ok)
        (void)pthread_setspecific(end_key, t);
    return t;
}

NOI static inline uint32_t hash2(uintptr_t a, uintptr_t b)
{
    uint64_t h = ((uint64_t)a * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)b * 0xC2B2AE3D27D4EB4Full);
    return (uint32_t)(h >> 32);
}

NOI static qvp_fn *fn_find(qvp_thr *t, uintptr_t addr)
{
    uint32_t i = hash2(addr, 0) & (QVP_FSLOTS - 1);
    for (;;) {
        uint32_t s = t->fslots[i];
        if (!s) {
            if (t->nfns >= QVP_FNS)
                return NULL;
            qvp_fn *f = &t->fns[t->nfns++];
            f->addr = addr;
            t->fslots[i] = t->nfns;
            return f;
        }
        if (t->fns[s - 1].addr == addr)
            return &t->fns[s - 1];
        i = (i + 1) & (QVP_FSLOTS - 1);
    }
}

NOI static qvp_arc *arc_find(qvp_thr *t, uintptr_t callee, uintptr_t caller)
{
    uint32_t i = hash2(callee, caller) & (QVP_SLOTS - 1);
    for (;;) {
        uint32_t s = t->slots[i];
        if (!s) {
            if (t->narcs >= QVP_ARCS)
                return NULL;
            qvp_fn *f = fn_find(t, callee);
            if (!f)
                return NULL;
            qvp_arc *a = &t->arcs[t->narcs++];
            a->callee = callee;
            a->caller = caller;
            a->fn = f;
            t->slots[i] = t->narcs;
            return a;
        }
        qvp_arc *a = &t->arcs[s - 1];
        if (a->callee == callee && a->caller == caller)
            return a;
        i = (i + 1) & (QVP_SLOTS - 1);
    }
}

/* Closes the top frame of t at time now. None when t has none open: at
 * exit, write_profile closes a running thread's frames while its hook may
 * have read depth before (a review: the index then wrapped past the
 * stack's start). */
NOI __attribute__((always_inline)) static inline void frame_close(qvp_thr *t, uint64_t now)
{
    unsigned d = t->depth;
    if (!d)
        return;
    t->depth = --d;
    qvp_frame *f = &t->stack[d];
    /* A frame whose enter hook is still under way on its thread (at exit)
     * may have a start later than now: none, not 2^64 ticks wrapped
     * (adversarial testing: 10^13 ms in a report). */
    uint64_t dt = now > f->t0 ? now - f->t0 : 0;
    qvp_arc *a = f->arc;
    a->calls++;
    a->self += dt > f->child ? dt - f->child : 0;
    a->children += f->nchild;
    a->desc += f->desc;
    if (a->fn->active-- == 1) {
        a->fn->incl += dt;
        a->fn->outer++;
        a->fn->desc += f->desc;
        a->incl += dt;
    }
    if (t->depth) {
        qvp_frame *p = &t->stack[t->depth - 1];
        p->child += dt;
        p->nchild++;
        p->desc += 1 + f->desc;
    } else {
        t->t_last = now;
    }
}

/* Closes every frame of t at time now, deepest first. */
NOI static void frames_close_all(qvp_thr *t, uint64_t now)
{
    while (t->depth)
        frame_close(t, now);
}

API void __cyg_profile_func_enter(void *fn, void *site);
API void __cyg_profile_func_exit(void *fn, void *site);

/* Whether a frame entered at fsp from fsite is left, seen from a hook at
 * sp for site. */
NOI static inline int left(uintptr_t fsp, uintptr_t fsite, uintptr_t sp, uintptr_t site)
{
    return (fsp < sp || (fsp == sp && fsite != site)) && sp - fsp < ((uintptr_t)8 << 20);
}

/* Whether frame f was left, seen from the enter hook of fn at sp for
 * site: as left() says, or a new call of f's own function from f's site
 * at f's place: a loop around setjmp that calls f again after a longjmp
 * out of it (each such call nested in the first, the calls past 1024 deep
 * dropped: adversarial testing). An inlined callee is another function,
 * except where GCC inlines a recursive function into itself: then the
 * outer call is closed there and counted as left without its exit. */
NOI static inline int gone(const qvp_frame *f, uintptr_t sp, uintptr_t site, uintptr_t fn)
{
    if (f->sp == sp) /* left() then, or the same function again */
        return f->site != site || f->fn == fn;
    return f->sp < sp && sp - f->sp < ((uintptr_t)8 << 20);
}

/* A call too deep to record: counted in its caller. The first of them
 * keeps where it was entered, so that a longjmp out of them is seen. */
NOI static inline void too_deep(qvp_thr *t, uintptr_t sp, uintptr_t site)
{
    if (!t->over++) {
        t->over_sp = sp;
        t->over_site = site;
    }
    t->dropped++;
}

API void __cyg_profile_func_enter(void *fn, void *site)
{
    qvp_thr *t = tls_thr;
    if (__builtin_expect(!t, 0)) {
        if (!enabled || atomic_load_explicit(&stopping, memory_order_relaxed) ||
            tls_making)
            return;
        tls_making = 1;
        t = thr_get();
        tls_making = 0;
        if (!t)
            return;
    }
    if (t->busy) {
        t->skipped++;
        return;
    }
    t->busy = 1;
    /* A call whose stack lies above the top frame's, or at the same place
     * from another call site, finds that frame left without its exit
     * (longjmp). A callee's hooks run below its caller's, except those of
     * a function inlined into the top one: the same frame and the same
     * site. Within 8 MiB only, as a signal handler on an alternate stack
     * may lie anywhere. */
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    /* The same for calls too deep to record: a longjmp out of them (a
     * recursion 2000 deep that jumps back) left them "open" for good, and
     * every later call of the thread was dropped as too deep. */
    if (t->over && left(t->over_sp, t->over_site, sp, (uintptr_t)site)) {
        t->unpaired += t->over;
        t->over = 0;
    }
    if (t->depth && !t->over &&
        gone(&t->stack[t->depth - 1], sp, (uintptr_t)site, (uintptr_t)fn)) {
        uint64_t now = ticks();
        while (t->depth &&
               gone(&t->stack[t->depth - 1], sp, (uintptr_t)site, (uintptr_t)fn)) {
            frame_close(t, now);
            t->unpaired++;
        }
    }
    if (t->over || t->depth == QVP_DEPTH) {
        too_deep(t, sp, (uintptr_t)site); /* the report says how many (a user's test) */
        t->busy = 0;
        return;
    }
    qvp_frame *up = t->depth ? &t->stack[t->depth - 1] : NULL;
    qvp_fn *ufn = up ? up->arc->fn : NULL;
    qvp_arc *a = ufn && ufn->last && ufn->last->callee == (uintptr_t)fn
                     ? ufn->last
                     : arc_find(t, (uintptr_t)fn, up ? up->fn : 0);
    if (!a) {
        too_deep(t, sp, (uintptr_t)site); /* no room in the tables: as a call too deep */
        t->busy = 0;
        return;
    }
    a->fn->active++;
    if (ufn)
        ufn->last = a;
    qvp_frame *f = &t->stack[t->depth++];
    f->arc = a;
    f->fn = (uintptr_t)fn;
    f->sp = sp;
    f->site = (uintptr_t)site;
    f->child = f->nchild = f->desc = 0;
    t->busy = 0;
    f->t0 = ticks();
}

API void __cyg_profile_func_exit(void *fn, void *site)
{
    uint64_t now = ticks();
    qvp_thr *t = tls_thr;
    if (!t)
        return;
    if (t->busy) {
        t->skipped++;
        return;
    }
    t->busy = 1;
    /* A longjmp out of calls too deep to record, seen at an exit (the
     * enter hook sees it too): their count goes, and this exit is a
     * recorded call's (it was taken as one of theirs: review). */
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
    if (t->over && left(t->over_sp, t->over_site, sp, (uintptr_t)site)) {
        t->unpaired += t->over;
        t->over = 0;
    }
    if (t->over) {
        t->over--;
    } else if (t->depth && t->stack[t->depth - 1].fn == (uintptr_t)fn) {
        frame_close(t, now);
    } else {
        /* longjmp or an exception left frames open: close those above the
         * matching one, or ignore an exit that matches nothing. */
        unsigned i = t->depth;
        while (i && t->stack[i - 1].fn != (uintptr_t)fn)
            i--;
        t->unpaired++;
        if (i) {
            while (t->depth >= i)
                frame_close(t, now);
        }
    }
    t->busy = 0;
}

API void qv_profile_note(const char *fn, unsigned nscalars, const char *const *names,
                         const long long *values)
{
    if (!enabled || !fn || (nscalars && (!names || !values)))
        return;
    if (nscalars > QVP_NOTE_SCALARS)
        nscalars = QVP_NOTE_SCALARS;
    if (tls_noting) {
        atomic_fetch_add_explicit(&notes_dropped, 1, memory_order_relaxed);
        return;
    }
    tls_noting = 1;
    while (atomic_flag_test_and_set_explicit(&note_lock, memory_order_acquire))
        ;
    unsigned i;
    for (i = 0; i < nnotes; i++) {
        qvp_note *n = &notes[i];
        if ((n->fn_ptr != fn && strcmp(n->fn, fn)) || n->n != nscalars)
            continue;
        unsigned k;
        for (k = 0; k < nscalars; k++)
            if (n->values[k] != values[k] || strcmp(n->names[k], names[k] ? names[k] : ""))
                break;
        if (k == nscalars)
            break;
    }
    if (i < nnotes) {
        notes[i].count++;
    } else if (nnotes < QVP_NOTES) {
        qvp_note *n = &notes[nnotes];
        size_t len = strlen(fn);
        int ok = len < sizeof n->fn;
        if (ok)
            memcpy(n->fn, fn, len + 1);
        for (unsigned k = 0; ok && k < nscalars; k++) {
            const char *nm = names[k] ? names[k] : "";
            len = strlen(nm);
            if ((ok = len < sizeof n->names[k]))
                memcpy(n->names[k], nm, len + 1);
            n->values[k] = values[k];
        }
        if (ok) {
            n->fn_ptr = fn;
            n->n = nscalars;
            n->count = 1;
            nnotes++;
        } else {
            atomic_fetch_add_explicit(&notes_dropped, 1, memory_order_relaxed);
        }
    } else {
        atomic_fetch_add_explicit(&notes_dropped, 1, memory_order_relaxed);
    }
    atomic_flag_clear_explicit(&note_lock, memory_order_release);
    tls_noting = 0;
}

/* Two instrumented-looking functions for the calibration: their addresses
 * only are used. */
NOI static void calib_parent(void) {}
NOI static void calib_child(void) {}

/* The child's hooks from a frame below the parent's, as a real callee's. */
NOI __attribute__((noinline)) static void calib_call(void (*volatile enter)(void *, void *),
                                                     void (*volatile leave)(void *, void *))
{
    enter((void *)(uintptr_t)calib_child, NULL);
    leave((void *)(uintptr_t)calib_child, NULL);
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

/* Measures the hooks on an empty caller and callee through the exported
 * hooks (so through the PLT and the TLS pointer, as an instrumented call):
 * calib_in is the cost inside a call's own span, calib_pair a call's whole
 * cost as its caller sees it. The least of 7 rounds. */
NOI static void calibrate(void)
{
    void (*volatile enter)(void *, void *) = __cyg_profile_func_enter;
    void (*volatile leave)(void *, void *) = __cyg_profile_func_exit;
    qvp_thr *t = thr_alloc();
    if (!t)
        return;
    qvp_thr *saved = tls_thr;
    tls_thr = t;
    double best_in = 1e30, best_pair = 1e30;
    for (int r = 0; r < 7; r++) {
        const unsigned n = 2000;
        memset(t->slots, 0, QVP_SLOTS * sizeof *t->slots);
        memset(t->fslots, 0, QVP_FSLOTS * sizeof *t->fslots);
        memset(t->arcs, 0, 4 * sizeof *t->arcs);
        memset(t->fns, 0, 4 * sizeof *t->fns);
        t->narcs = t->nfns = 0;
        t->depth = 0;
        for (unsigned i = 0; i < n; i++) {
            enter((void *)(uintptr_t)calib_parent, NULL);
            calib_call(enter, leave);
            leave((void *)(uintptr_t)calib_parent, NULL);
        }
        double in = 0, pair = 0;
        for (uint32_t i = 0; i < t->narcs; i++) {
            if (t->arcs[i].callee == (uintptr_t)calib_child)
                in = (double)t->arcs[i].self / n;
            else
                pair = (double)t->arcs[i].self / n;
        }
        if (in < best_in)
            best_in = in;
        if (pair < best_pair)
            best_pair = pair;
    }
    tls_thr = saved;
    calib_in = best_in;
    calib_pair = best_pair;
    munmap(t->slots, QVP_SLOTS * sizeof *t->slots);
    munmap(t->fslots, QVP_FSLOTS * sizeof *t->fslots);
    munmap(t->arcs, QVP_ARCS * sizeof *t->arcs);
    munmap(t->fns, QVP_FNS * sizeof *t->fns);
    munmap(t, sizeof *t);
}

/* The tick rate against CLOCK_MONOTONIC since the start, or over a 2 ms
 * spin when the run was shorter than 20 ms. */
NOI static void measure_rate(void)
{
    uint64_t n1 = mono_ns(), t1 = ticks();
    if (n1 - ns_start < 20000000u) {
        uint64_t n0 = mono_ns(), t0 = ticks();
        while ((n1 = mono_ns()) - n0 < 2000000u)
            ;
        t1 = ticks();
        ns_per_tick = t1 > t0 ? (double)(n1 - n0) / (double)(t1 - t0) : 1.0;
        return;
    }
    ns_per_tick = t1 > t_start ? (double)(n1 - ns_start) / (double)(t1 - t_start) : 1.0;
}

/* A forked child: only the forking thread goes on; its tables start empty
 * and its open frames are entered again now. */
NOI static void at_fork_child(void)
{
    qvp_thr *me = tls_thr;
    for (qvp_thr *t = atomic_load(&threads); t; t = t->next)
        if (t != me)
            t->alive = 0;
    nnotes = 0;
    notes_dropped = 0;
    atomic_flag_clear(&note_lock);
    t_start = ticks();
    ns_start = mono_ns();
    if (!me)
        return;
    me->t_first = t_start;
    me->skipped = me->unpaired = me->dropped = me->closed_at_exit = 0;
    memset(me->slots, 0, QVP_SLOTS * sizeof *me->slots);
    memset(me->fslots, 0, QVP_FSLOTS * sizeof *me->fslots);
    memset(me->arcs, 0, me->narcs * sizeof *me->arcs);
    memset(me->fns, 0, me->nfns * sizeof *me->fns);
    me->narcs = me->nfns = 0;
    unsigned depth = me->depth;
    me->depth = 0;
    for (unsigned i = 0; i < depth; i++) {
        qvp_frame *f = &me->stack[i];
        qvp_arc *a = arc_find(me, f->fn, i ? me->stack[i - 1].fn : 0);
        if (!a) { /* cannot happen on empty tables */
            me->over += depth - i;
            me->over_sp = f->sp;
            me->over_site = f->site;
            break;
        }
        a->fn->active++;
        f->arc = a;
        f->child = f->nchild = f->desc = 0;
        f->t0 = t_start;
        me->depth = i + 1;
    }
}

#define QVP_BUILD_ID_MAX 64 /* bytes; a longer one is not written */

typedef struct qvp_mod {
    uintptr_t base, lo, hi; /* load bias; mapped executable range */
    const char *name;       /* the loader's (dlpi_name), while it is loaded */
    int used;
    unsigned bid_len; /* 0: no build-id */
    unsigned char bid[QVP_BUILD_ID_MAX];
    int has_st; /* the file's stat identity below */
    unsigned long long dev, ino, size, mtime_ns;
} qvp_mod;

/* Every module with code, at exit: as many as the process has (at most
 * 256 once, and a program that opened 300 plugins had the rest unnamed,
 * without a word: adversarial testing). */
typedef struct qvp_mods {
    qvp_mod *m;
    unsigned n, cap;
    unsigned lost; /* not kept: out of memory */
} qvp_mods;

/* The GNU build-id among the notes at p (n bytes, mapped: the module's
 * PT_NOTE segment), into m; each note's name and descriptor checked
 * against n. */
NOI static void build_id(qvp_mod *m, const unsigned char *p, size_t n, size_t al)
{
    size_t at = 0;
    while (n - at >= 12) {
        uint32_t w[3];
        memcpy(w, p + at, sizeof w); /* namesz, descsz, type: native order */
        /* In 64 bits: a name size near 2^32, rounded up in a 32-bit
         * size_t, wrapped desc_at below at, and the loop never ended
         * (review). */
        uint64_t name = ((uint64_t)w[0] + al - 1) & ~(uint64_t)(al - 1);
        if (name > n - at - 12)
            return;
        size_t desc_at = at + 12 + (size_t)name;
        if (w[1] > n - desc_at)
            return;
        if (w[2] == NT_GNU_BUILD_ID && w[0] == 4 && !memcmp(p + at + 12, "GNU", 4) &&
            w[1] >= 1 && w[1] <= QVP_BUILD_ID_MAX) {
            memcpy(m->bid, p + desc_at, w[1]);
            m->bid_len = w[1];
            return;
        }
        uint64_t desc = ((uint64_t)w[1] + al - 1) & ~(uint64_t)(al - 1);
        if (desc > n - desc_at)
            return; /* the last note, its padding cut: nothing after it */
        at = desc_at + (size_t)desc;
    }
}

/* Whether segment ph lies within a loaded one (is in memory to read). */
NOI static int mapped(const struct dl_phdr_info *info, const ElfW(Phdr) * ph)
{
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *l = &info->dlpi_phdr[i];
        if (l->p_type == PT_LOAD && ph->p_vaddr >= l->p_vaddr &&
            ph->p_memsz <= l->p_memsz &&
            ph->p_vaddr - l->p_vaddr <= l->p_memsz - ph->p_memsz)
            return 1;
    }
    return 0;
}

NOI static int mod_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    qvp_mods *ms = data;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo)
            lo = a;
        if (a + ph->p_memsz > hi)
            hi = a + ph->p_memsz;
    }
    if (lo >= hi)
        return 0;
    if (ms->n == ms->cap) {
        unsigned cap = ms->cap ? 2 * ms->cap : 64;
        qvp_mod *m = realloc(ms->m, cap * sizeof *m);
        if (!m) {
            ms->lost++;
            return 0;
        }
        ms->m = m;
        ms->cap = cap;
    }
    qvp_mod *m = &ms->m[ms->n++];
    memset(m, 0, sizeof *m);
    m->base = info->dlpi_addr;
    m->lo = lo;
    m->hi = hi;
    m->name = info->dlpi_name;
    for (int i = 0; i < info->dlpi_phnum && !m->bid_len; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_NOTE && mapped(info, ph))
            build_id(m, (const unsigned char *)(info->dlpi_addr + ph->p_vaddr),
                     ph->p_memsz, ph->p_align == 8 ? 8 : 4);
    }
    return 0;
}

/* The program's file, read at the start (profile_init). */
static char exe_path[PATH_MAX];

/* The file module m was mapped from, into path (n bytes): the kernel's
 * name of the mapping that holds its code, absolute whatever the loader
 * was given (/proc/thread-self/maps: once main has ended with
 * pthread_exit, /proc/self names its thread, which has no memory map).
 * The loader's name is relative to the directory the process was in when
 * it loaded a library found through a relative LD_LIBRARY_PATH or dlopen
 * path, and the report, run elsewhere, named the functions from another
 * file of that name (adversarial testing). The loader's name when no
 * mapping says (the vDSO). */
NOI static void mod_path(const qvp_mod *m, char *path, size_t n)
{
    if (!m->name || !*m->name) { /* the program */
        if (exe_path[0]) {
            snprintf(path, n, "%s", exe_path);
            return;
        }
        ssize_t k = readlink("/proc/thread-self/exe", path, n - 1);
        path[k > 0 ? k : 0] = '\0';
        return;
    }
    snprintf(path, n, "%s", m->name);
    FILE *f = fopen("/proc/thread-self/maps", "r");
    char line[PATH_MAX + 256];
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        int at = 0;
        if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &at) < 2 || !at ||
            m->lo < lo || m->lo >= hi)
            continue;
        char *p = line + at;
        p[strcspn(p, "\n")] = '\0';
        if (*p == '/')
            snprintf(path, n, "%s", p);
        break;
    }
    if (f)
        fclose(f);
}

/* The identity of the file at path into m (none when it cannot be read). */
NOI static void mod_stat(qvp_mod *m, const char *path)
{
    struct stat st;
    if (path[0] != '/' || stat(path, &st) != 0)
        return;
    m->has_st = 1;
    m->dev = (unsigned long long)st.st_dev;
    m->ino = (unsigned long long)st.st_ino;
    m->size = (unsigned long long)st.st_size;
    m->mtime_ns = (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
                  (unsigned long long)st.st_mtim.tv_nsec;
}

/* The modules at the start, with their files' identities: a file
 * replaced while the program runs (a rebuild) is another at exit. */
static qvp_mods start_mods;

/* Takes the identities of the files of the modules without a build-id
 * (profile_init). */
NOI static void start_stat(void)
{
    dl_iterate_phdr(mod_cb, &start_mods);
    char path[PATH_MAX];
    for (unsigned i = 0; i < start_mods.n; i++)
        if (!start_mods.m[i].bid_len) {
            mod_path(&start_mods.m[i], path, sizeof path);
            mod_stat(&start_mods.m[i], path);
        }
}

/* The identity of module m's file at path, for its `file` line: as at the
 * start when it was loaded then, else as now. */
NOI static void mod_identity(qvp_mod *m, const char *path)
{
    for (unsigned i = 0; i < start_mods.n; i++) {
        const qvp_mod *s = &start_mods.m[i];
        if (s->base == m->base && s->lo == m->lo && s->hi == m->hi) {
            if (s->has_st) {
                m->has_st = 1;
                m->dev = s->dev;
                m->ino = s->ino;
                m->size = s->size;
                m->mtime_ns = s->mtime_ns;
            }
            return;
        }
    }
    mod_stat(m, path);
}

NOI static int mod_of(qvp_mods *ms, uintptr_t a)
{
    for (unsigned i = 0; i < ms->n; i++)
        if (a >= ms->m[i].lo && a < ms->m[i].hi) {
            ms->m[i].used = 1;
            return (int)i;
        }
    return -1;
}

NOI static void put_addr(FILE *f, qvp_mods *ms, uintptr_t a)
{
    int m = a ? mod_of(ms, a) : -1;
    if (!a)
        fprintf(f, " - 0");
    else if (m < 0)
        fprintf(f, " ? %#lx", (unsigned long)a);
    else
        fprintf(f, " %d %#lx", m, (unsigned long)(a - ms->m[m].base));
}

/* Writes a name as an identifier: any other byte becomes '?', and an
 * empty name "?", so that a line stays space-separated. */
NOI static void put_ident(FILE *f, const char *s)
{
    if (!*s)
        fputc('?', f);
    for (; *s; s++) {
        char c = *s;
        int ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9');
        fputc(ok ? c : '?', f);
    }
}

/* Writes the raw profile of this process into out_dir (docs/profile.md,
 * "The raw profile"); called once, at exit. */
NOI static void write_profile(void)
{
    uint64_t now = ticks();
    uint64_t wall_ns = mono_ns() - ns_start;
    measure_rate();
    qvp_mods ms = {0};
    dl_iterate_phdr(mod_cb, &ms);
    /* Close what is still open, deepest first; the thread that exits is
     * the caller, other threads are stopped by the flag (a hook already
     * running may race: the figures of a thread still running at exit are
     * approximate). */
    pthread_mutex_lock(&end_mu); /* a thread ending now has closed its frames */
    for (qvp_thr *t = atomic_load(&threads); t; t = t->next) {
        if (!t->alive)
            continue;
        t->busy = 1;
        t->closed_at_exit = t->depth;
        frames_close_all(t, now);
    }
    pthread_mutex_unlock(&end_mu);
    for (qvp_thr *t = atomic_load(&threads); t; t = t->next)
        for (uint32_t i = 0; i < t->narcs && t->alive; i++) {
            mod_of(&ms, t->arcs[i].callee);
            if (t->arcs[i].caller)
                mod_of(&ms, t->arcs[i].caller);
        }
    char path[PATH_MAX + 64], tmp[PATH_MAX + 80];
    snprintf(path, sizeof path, "%s/qvprof.%ld.txt", out_dir, (long)getpid());
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "libquiver-profile: cannot write %s: %s\n", tmp, strerror(errno));
        free(ms.m);
        return;
    }
    if (ms.lost)
        fprintf(stderr,
                "libquiver-profile: out of memory for %u of the modules: their "
                "functions are not named\n",
                ms.lost);
    fprintf(f, "qvprof 1\n");
    fprintf(f, "process %ld %ld\n", (long)getpid(), (long)getppid());
    fprintf(f, "clock %.9g %.6g %.6g\n", ns_per_tick, calib_in * ns_per_tick,
            calib_pair * ns_per_tick);
    fprintf(f, "wall %llu\n", (unsigned long long)wall_ns);
    for (unsigned i = 0; i < ms.n; i++)
        if (ms.m[i].used) {
            /* A path may hold any byte but NUL: a newline would end the
             * record, so control bytes and '%' go as %XX. */
            fprintf(f, "module %u ", i);
            char mpath[PATH_MAX];
            mod_path(&ms.m[i], mpath, sizeof mpath);
            for (const unsigned char *c = (const unsigned char *)mpath; *c; c++)
                if (*c < 0x20 || *c == 0x7f || *c == '%')
                    fprintf(f, "%%%02X", *c);
                else
                    fputc(*c, f);
            fputc('\n', f);
            /* What `quiver profile` checks the file at that path against:
             * a rebuilt program or library there is another. */
            qvp_mod *m = &ms.m[i];
            if (m->bid_len) {
                fprintf(f, "build-id %u ", i);
                for (unsigned k = 0; k < m->bid_len; k++)
                    fprintf(f, "%02x", m->bid[k]);
                fputc('\n', f);
            } else {
                mod_identity(m, mpath);
                if (m->has_st)
                    fprintf(f, "file %u %llu %llu %llu %llu\n", i, m->dev, m->ino,
                            m->size, m->mtime_ns);
            }
        }
    for (qvp_thr *t = atomic_load(&threads); t; t = t->next) {
        if (!t->alive)
            continue;
        uint64_t last = t->t_last > t->t_first ? t->t_last : now;
        double span = (double)(last - t->t_first) * ns_per_tick;
        fprintf(f, "thread %u %.0f %llu %llu %llu %llu\n", t->id, span,
                (unsigned long long)t->closed_at_exit, (unsigned long long)t->unpaired,
                (unsigned long long)t->skipped, (unsigned long long)t->dropped);
        for (uint32_t i = 0; i < t->nfns; i++) {
            const qvp_fn *fn = &t->fns[i];
            fprintf(f, "fn");
            put_addr(f, &ms, fn->addr);
            fprintf(f, " %llu %.0f %llu\n", (unsigned long long)fn->outer,
                    (double)fn->incl * ns_per_tick, (unsigned long long)fn->desc);
        }
        for (uint32_t i = 0; i < t->narcs; i++) {
            const qvp_arc *a = &t->arcs[i];
            fprintf(f, "arc");
            put_addr(f, &ms, a->callee);
            put_addr(f, &ms, a->caller);
            fprintf(f, " %llu %.0f %.0f %llu %llu\n", (unsigned long long)a->calls,
                    (double)a->incl * ns_per_tick, (double)a->self * ns_per_tick,
                    (unsigned long long)a->children, (unsigned long long)a->desc);
        }
    }
    for (unsigned i = 0; i < nnotes; i++) {
        const qvp_note *n = &notes[i];
        fprintf(f, "note %llu ", (unsigned long long)n->count);
        put_ident(f, n->fn);
        fprintf(f, " %u", n->n);
        for (unsigned k = 0; k < n->n; k++) {
            fputc(' ', f);
            put_ident(f, n->names[k]);
            fprintf(f, " %lld", n->values[k]);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "end %llu\n", (unsigned long long)atomic_load(&notes_dropped));
    free(ms.m);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        fprintf(stderr, "libquiver-profile: cannot write %s: %s\n", path, strerror(errno));
}

/* A library the program closes stays mapped while it is profiled (as
 * with RTLD_NODELETE): its calls were recorded at its addresses, named at
 * exit from what is mapped there then, and a library mapped there after
 * it got its calls (a function never called was charged 20 ms, the one
 * that ran missing: adversarial testing). Its destructors run at exit
 * instead of at the dlclose. */
API int dlclose(void *handle);

API int dlclose(void *handle)
{
    static int (*real)(void *);
    if (!real)
        *(void **)&real = dlsym(RTLD_NEXT, "dlclose");
    struct link_map *lm = NULL;
    void *volatile h = handle; /* declared nonnull, which a program may break */
    if (enabled && h && dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm && lm->l_name &&
        lm->l_name[0])
        (void)dlopen(lm->l_name, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
    return real ? real(handle) : -1;
}

NOI __attribute__((destructor)) static void profile_fini(void)
{
    if (!enabled || atomic_exchange(&stopping, 1))
        return;
    /* Its numbers in the C locale, whatever the program set: under a
     * decimal comma "clock 0,5 ..." made the profile unreadable. (Not
     * qv_text.h's helpers: this library stands alone, preloaded into
     * programs, and makes the locale once, here.) */
    locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t old = c ? uselocale(c) : (locale_t)0;
    /* A program that set RLIMIT_FSIZE low is not killed by SIGXFSZ for
     * our file (its exit status was the signal's): the write fails, and
     * says so. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, was;
    int xfsz = sigaction(SIGXFSZ, &ign, &was);
    write_profile();
    if (xfsz == 0)
        sigaction(SIGXFSZ, &was, NULL);
    if (old)
        uselocale(old);
    if (c)
        freelocale(c);
}

NOI __attribute__((constructor)) static void profile_init(void)
{
    const char *dir = getenv("QV_PROFILE_DIR");
    if (!dir || !*dir || strlen(dir) >= sizeof out_dir)
        return;
    strcpy(out_dir, dir);
    enabled = 1;
    /* Now: once main has called pthread_exit, /proc/self/exe (the thread
     * group leader's) reads as nothing, and the profile named no program
     * (adversarial testing). */
    ssize_t k = readlink("/proc/thread-self/exe", exe_path, sizeof exe_path - 1);
    exe_path[k > 0 ? k : 0] = '\0';
    start_stat();
    calibrate();
    /* The run starts after the calibration: its milliseconds were the
     * program's time in every share (a 10 ms program's main was 0.8 % of
     * its run: adversarial testing). */
    ns_start = mono_ns();
    t_start = ticks();
    end_key_ok = pthread_key_create(&end_key, thr_end) == 0;
    pthread_atfork(NULL, NULL, at_fork_child);
}
