/*
 * pending.c - deferred wrapped calls (`quiver wrap --defer`) on a
 * userfaultfd.
 *
 * A deferred call copies its inputs into private buffers, submits its task
 * on private buffers and returns at once. Each output range of the
 * caller's memory is then pending: its pages are emptied (MADV_DONTNEED)
 * after being registered with the userfaultfd in MISSING mode, so the
 * first access to them, from any thread or from the kernel itself (a
 * write(2) from that memory), stops until the handler thread has waited
 * for the task and filled the pages with the result (UFFDIO_COPY). Until
 * then a later call that reads exactly that output uses the private buffer
 * (no copy, no wait), and one that writes it again writes the same private
 * buffer: a run of calls becomes a run of tasks the run-time loop plans.
 *
 * The private buffer of an output mirrors its whole page span, at the same
 * offset in the page, and is filled from the caller's pages first: the
 * bytes of the first and last pages that are not the output's come back
 * with it in one UFFDIO_COPY. Outputs of different calls never share a
 * page (the older one lands first); one call's outputs side by side land
 * together. Only outputs whose first and last pages hold nothing that
 * another thread may touch are deferred (safe_span: page-aligned ends, or
 * a chunk malloc mapped on its own); the others run synchronously. An
 * input that shares a page with a pending output makes it land, so the
 * thread that sets a call up never touches a pending page.
 *
 * Threads: one thread at a time defers (the owner); a call from another
 * thread lands every pending output first. The handler thread reads the
 * userfaultfd and never waits for a task: a lander thread made for each
 * touched output lands it, or, once none can be made, the reserve thread
 * made at init, and calls stop deferring until nothing has been pending
 * for a second. Locks: g_mu guards all the
 * state here and is held while an output lands (which waits for its task)
 * and while the handler reads a message (so an unmapped range is
 * forgotten before any later call looks at the state). Nobody touches the
 * caller's memory while holding g_mu: a fault there would need the handler,
 * which needs g_mu. A page touched while its output is being set up
 * (unarmed) is left to the setting-up thread, which lands it once the task
 * is submitted.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/fork.h"
#include "core/thread.h"
#include "devices/device.h" /* qv__fault_hit: a lander thread refused or slow (tests) */
#include "wrap/pending.h"

/* Private copies kept for reuse once their buffers are unregistered. */
#define POOL_MAX (64u << 20)

/* A page-aligned private allocation. */
struct mirror {
    void *mem;
    size_t len;
};

/* A piece of a pending output where it is now: its pages [dst, dst + len)
 * get bytes [off, off + len) of the mirror when it lands. */
struct seg {
    uintptr_t dst;
    size_t off, len;
};

/* A pending output: bytes [lo, hi) of the caller's memory, pages [plo, phi)
 * empty and registered until it lands. */
struct entry {
    struct entry *next;
    unsigned long long id; /* names it to a lander thread */
    uintptr_t lo, hi, plo, phi;
    struct mirror m; /* [plo, phi) as it was, then the result */
    qv_buf *buf;     /* m.mem + (lo - plo), hi - lo bytes */
    struct seg *segs; /* its pages, all that the program still has of them:
                       * [plo, phi), less what it unmapped, with what it
                       * moved (mremap) where it went */
    unsigned nsegs;
    int armed;       /* 0 while a call that writes it is being set up */
    int waiting;     /* touched while unarmed: the setting-up call lands it */
    int landing;     /* its group waits for its tasks, g_mu released */
    int queued;      /* a lander thread is on its way (or none could be
                      * made: the reserve lands it) */
    int stale;       /* (part of) its memory was unmapped or moved: no later
                      * call may take it for the output at that address */
    int landed;      /* out of g_entries; freed by the last unref */
    int touched;     /* counted in c->touches (once: a thread in a system
                      * call that reads it faults again and again while the
                      * output waits for its task, tens of thousands of
                      * times a second) */
    unsigned refs;   /* calls being set up that use buf */
    qv__pend_counters *c; /* its writer's */
};

/* A private buffer no pending output holds: unregistered (and its memory
 * pooled) once no task uses it. */
struct retired {
    struct retired *next;
    qv_buf *buf;
    struct mirror m;
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static const char *g_why = "not tried";
static atomic_int g_ok; /* read before pthread_once by the settles */
/* The userfaultfd (atomic: calls read it outside g_mu, the handler may
 * forget it, uffd_lost) and the handler's wake pipe, with what the pipe's
 * ends are (a program may close them and open files under their
 * numbers, which the library must then neither write nor close). */
static atomic_int g_uffd = -1;
static atomic_int g_wake[2] = {-1, -1};
static struct stat g_wake_st[2], g_uffd_st;
static bool g_uffd_own_inode; /* each userfaultfd has its own (Linux 5.11+) */
/* Calls being set up (from their check of g_stopped to their outputs
 * armed, g_mu let go in between): the stop waits for them before it
 * closes the userfaultfd, which they register pages with (a thread that
 * deferred while exit() ran registered pages with a descriptor closed
 * under it: ThreadSanitizer, adversarial testing). Under g_mu. */
static unsigned g_setups;
static pthread_cond_t g_setups_cv = PTHREAD_COND_INITIALIZER;
static size_t g_page;
static pthread_t g_handler;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_armed = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_read;     /* the handler read a message */
static unsigned long g_handled;   /* messages it read; g_mu */
/* Guarded by g_mu: */
static struct entry *g_entries;
static struct retired *g_retired;
static struct mirror g_pool[64];
static unsigned g_npool;
static size_t g_pool_bytes;
/* The thread whose calls are pending (its qv__thread_serial: a thread
 * started after it ended may have its pthread_t); 0 none yet. */
static uint64_t g_owner;
static atomic_int g_stopped;
static int g_stopping;    /* the stop that joins the handler began; g_mu */
static atomic_int g_quit; /* the handler and reserve threads end */
static unsigned long long g_next_id;
/* The reserve lander, made at init: it lands what is pending once a lander
 * thread could not be made (g_no_lander, set under g_mu by the handler,
 * cleared by the reserve after RETRY_MS with nothing pending; read by
 * calls outside it), woken by g_reserve_cv. */
static pthread_t g_reserve;
static pthread_cond_t g_reserve_cv = PTHREAD_COND_INITIALIZER;
static atomic_int g_no_lander;
static atomic_int g_no_lander_said; /* the program was told (once) */
/* With g_no_lander set and nothing left pending for RETRY_MS, calls defer
 * again: the limit may have been momentary (a burst of the program's own
 * threads), and deferring stopped for good after it. A lasting one fails
 * the next lander thread, and the reserve lands that output. */
enum { RETRY_MS = 1000 };
/* The most outputs pending at once: a quarter of vm.max_map_count (read at
 * init). Each may cost three mappings (its pages split the program's
 * mapping in three, and its mirror), so the program keeps a quarter of
 * its mappings, and the threads that land them their stacks, whatever it
 * defers; calls past it run synchronously. */
static unsigned g_pend_max;
/* Entries in g_entries (changed under g_mu): a synchronous call checks it
 * before paying for the lock and the signal mask. */
static atomic_uint g_npending;
/* Lands so far: a run of deferred calls between two of them is a region. */
static atomic_ulong g_epoch;

/* The calling thread's open region of deferred calls. */
static _Thread_local struct {
    qv_runtime *rt;
    unsigned long epoch;
} t_region;

static uintptr_t page_down(uintptr_t a) { return a & ~(uintptr_t)(g_page - 1); }
static uintptr_t page_up(uintptr_t a) { return page_down(a + g_page - 1); }

/* ---- private memory ---------------------------------------------------- */

static int mirror_get(size_t len, struct mirror *out)
{
    for (unsigned i = 0; i < g_npool; i++)
        if (g_pool[i].len >= len && g_pool[i].len <= 2 * len) {
            *out = g_pool[i];
            g_pool_bytes -= out->len;
            g_pool[i] = g_pool[--g_npool];
            return 0;
        }
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    *out = (struct mirror){p, len};
    return 0;
}

static void mirror_put(struct mirror m)
{
    if (!m.mem)
        return;
    if (g_npool < sizeof g_pool / sizeof g_pool[0] && g_pool_bytes + m.len <= POOL_MAX &&
        !g_stopped) {
        g_pool[g_npool++] = m;
        g_pool_bytes += m.len;
    } else
        munmap(m.mem, m.len);
}

/* Hands buf (and its memory) to the sweep; g_mu held. */
static void retire(qv_buf *buf, struct mirror m)
{
    struct retired *r = malloc(sizeof *r);
    if (!r) { /* keep the memory valid: waiting is always correct */
        if (buf)
            (void)qv_buf_unregister(buf);
        mirror_put(m);
        return;
    }
    *r = (struct retired){g_retired, buf, m};
    g_retired = r;
}

/* Frees what no task uses any more; with `all`, waits for the rest.
 * g_mu held. */
static void sweep(int all)
{
    for (struct retired **p = &g_retired; *p;) {
        struct retired *r = *p;
        if (r->buf) {
            if (all)
                (void)qv_buf_unregister(r->buf); /* waits */
            else if (qv_buf_try_unregister(r->buf)) {
                p = &r->next;
                continue;
            }
        }
        *p = r->next;
        mirror_put(r->m);
        free(r);
    }
}

/* ---- landing ----------------------------------------------------------- */

static int overlaps(uintptr_t alo, uintptr_t ahi, uintptr_t blo, uintptr_t bhi)
{
    return alo < bhi && blo < ahi;
}

/* 1 when e's pages, wherever they are now, meet [lo, hi). */
static int meets(const struct entry *e, uintptr_t lo, uintptr_t hi)
{
    for (unsigned i = 0; i < e->nsegs; i++)
        if (overlaps(e->segs[i].dst, e->segs[i].dst + e->segs[i].len, lo, hi))
            return 1;
    return 0;
}

/* 1 when a's pages and b's, wherever they are now, meet. */
static int pages_meet(const struct entry *a, const struct entry *b)
{
    for (unsigned i = 0; i < b->nsegs; i++)
        if (meets(a, b->segs[i].dst, b->segs[i].dst + b->segs[i].len))
            return 1;
    return 0;
}

/* Copies into k's mirror j's bytes on the pages both have now, each
 * byte from where j's pieces hold it to where k's do. Not by [plo, phi):
 * an output cut by an unmap keeps that range, and another output moved
 * onto those addresses since got the cut one's bytes (a lost result,
 * adversarial runs under load). */
static void copy_shared(struct entry *k, const struct entry *j)
{
    uintptr_t dlo = j->lo - j->plo, dhi = j->hi - j->plo; /* j's bytes in its mirror */
    for (unsigned a = 0; a < k->nsegs; a++)
        for (unsigned b = 0; b < j->nsegs; b++) {
            const struct seg *sk = &k->segs[a], *sj = &j->segs[b];
            uintptr_t lo = sk->dst > sj->dst ? sk->dst : sj->dst;
            uintptr_t hi = sk->dst + sk->len < sj->dst + sj->len ? sk->dst + sk->len
                                                                 : sj->dst + sj->len;
            /* Address x holds j's mirror byte sj->off + (x - sj->dst). */
            uintptr_t xlo = dlo > sj->off ? sj->dst + (dlo - sj->off) : sj->dst;
            uintptr_t xhi = dhi > sj->off ? sj->dst + (dhi - sj->off) : sj->dst;
            lo = lo > xlo ? lo : xlo;
            hi = hi < xhi ? hi : xhi;
            if (lo < hi)
                memcpy((char *)k->m.mem + sk->off + (lo - sk->dst),
                       (const char *)j->m.mem + sj->off + (lo - sj->dst), hi - lo);
        }
}

static void entry_free(struct entry *e)
{
    free(e->segs);
    free(e);
}

/* Fills the empty pages of [dst, dst + len) from src, page by page past
 * pages that are there already (filled by an output of its group) or gone
 * (unmapped). Returns -1 when the kernel says the mapping is changing
 * (EAGAIN: an unmap or a move waits for the handler thread, which needs
 * g_mu): the caller lets go of g_mu and tries again. */
static int fill_range(uintptr_t dst, uintptr_t src, size_t len)
{
    size_t off = 0, step = len;
    while (off < len) {
        struct uffdio_copy c = {.dst = dst + off,
                                .src = src + off,
                                .len = step < len - off ? step : len - off,
                                .mode = 0};
        if (ioctl(g_uffd, UFFDIO_COPY, &c) == 0) {
            off += c.len;
            continue;
        }
        if (c.copy > 0) {
            off += (size_t)c.copy;
            continue;
        }
        if (errno == EAGAIN)
            return -1;
        /* A page there already, or a hole somewhere in the range: one
         * page at a time from here on, past the pages that fail. */
        if (step > g_page)
            step = g_page;
        else
            off += g_page;
    }
    return 0;
}

static int fill(const struct entry *e)
{
    for (unsigned i = 0; i < e->nsegs; i++)
        if (fill_range(e->segs[i].dst, (uintptr_t)e->m.mem + e->segs[i].off, e->segs[i].len))
            return -1;
    return 0;
}

/* Lets go of g_mu until the handler thread has read a message (or a
 * millisecond passed): a mutex is not fair, and merely yielding it lets
 * this thread take it back before the handler wakes. g_mu held. */
static void wait_handler(void)
{
    unsigned long seen = g_handled;
    struct timespec t = qv__deadline_in(1000000);
    while (g_handled == seen && pthread_cond_timedwait(&g_read, &g_mu, &t) != ETIMEDOUT)
        ;
}

/* Wakes whoever waits on [lo, hi) and forgets the range. */
static void release_range(uintptr_t lo, size_t len)
{
    struct uffdio_range r = {lo, len};
    (void)ioctl(g_uffd, UFFDIO_WAKE, &r);
    (void)ioctl(g_uffd, UFFDIO_UNREGISTER, &r);
}

static void unlink_entry(struct entry *e)
{
    for (struct entry **p = &g_entries; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            atomic_fetch_sub(&g_npending, 1);
            return;
        }
}

/* Drops a reference a call being set up held on e; the last one frees an
 * entry that landed meanwhile. g_mu held. */
static void unref(struct entry *e)
{
    if (--e->refs == 0 && e->landed) {
        retire(e->buf, e->m);
        entry_free(e);
    }
}

/* The most outputs that share pages: one call's (pending outputs of
 * different calls never share a page). */
#define GROUP_MAX (2 * QV_MAX_ARGS)

/* Lands e with every pending output that shares a page with it (one
 * call's outputs side by side in memory): waits for their tasks, gives
 * each mirror the others' bytes on the pages they share, fills the pages
 * and forgets them (or leaves them to the calls that still hold them).
 * Returns 1, landing nothing, when one of them is being set up (unarmed:
 * marked waiting, the call setting it up lands them) or is landing in
 * another thread. g_mu held, released while the tasks are waited for and
 * while the kernel says the mapping is changing. Never called by the
 * handler thread: it waits for tasks and for the handler. */
static int land(struct entry *e)
{
    struct entry *g[GROUP_MAX];
    unsigned n = 0;
    g[n++] = e;
    for (unsigned k = 0; k < n; k++)
        for (struct entry *o = g_entries; o && n < GROUP_MAX; o = o->next) {
            int in = 0;
            for (unsigned j = 0; j < n && !in; j++)
                in = g[j] == o;
            if (!in && pages_meet(o, g[k]))
                g[n++] = o;
        }
    int unarmed = 0;
    for (unsigned k = 0; k < n; k++)
        if (!g[k]->armed)
            unarmed = g[k]->waiting = 1;
        else if (g[k]->landing)
            return 1;
    if (unarmed)
        return 1;
    /* The tasks are waited for without g_mu: a task may itself touch
     * another pending output, which another thread lands meanwhile. The
     * handler thread may move or unmap the group's pages meanwhile (it
     * updates the entries; `landing` keeps them alive). */
    for (unsigned k = 0; k < n; k++)
        g[k]->landing = 1;
    pthread_mutex_unlock(&g_mu);
    int rc[GROUP_MAX];
    for (unsigned k = 0; k < n; k++) {
        rc[k] = qv_buf_acquire(g[k]->buf, QV_R);
        if (rc[k] < 0) {
            /* The task ran nowhere: the mirror still holds what the pages
             * held before the call, which is what lands. */
            if (g[k]->c)
                atomic_fetch_add(&g[k]->c->lost, 1);
            fprintf(stderr,
                    "quiver wrap: a deferred call's task ran nowhere (%s); its output "
                    "at %p keeps its earlier contents\n",
                    qv_strerror(rc[k]), (void *)g[k]->lo);
        }
    }
    pthread_mutex_lock(&g_mu);
    /* Each mirror gets its neighbours' bytes on shared pages, so that
     * whichever fills a shared page first fills it whole. */
    for (unsigned k = 0; k < n; k++)
        for (unsigned j = 0; j < n; j++)
            if (j != k)
                copy_shared(g[k], g[j]);
    for (unsigned k = 0; k < n; k++)
        while (fill(g[k]))
            wait_handler();
    for (unsigned k = 0; k < n; k++) {
        struct entry *x = g[k];
        for (unsigned i = 0; i < x->nsegs; i++)
            release_range(x->segs[i].dst, x->segs[i].len);
        if (rc[k] == 0)
            (void)qv_buf_release(x->buf);
        unlink_entry(x);
        x->landing = 0;
        x->landed = 1;
        if (!x->refs) {
            retire(x->buf, x->m);
            entry_free(x);
        }
    }
    atomic_fetch_add(&g_epoch, 1);
    pthread_cond_broadcast(&g_armed);
    return 0;
}

/* Lands every pending output whose pages meet [plo, phi), waiting for
 * those being set up or landed by another thread; [0, UINTPTR_MAX): every
 * one, those whose memory is all gone included. g_mu held. */
static void land_pages(uintptr_t plo, uintptr_t phi)
{
    int all = plo == 0 && phi == UINTPTR_MAX;
    for (;;) {
        struct entry *e = g_entries;
        while (e && !all && !meets(e, plo, phi))
            e = e->next;
        if (!e)
            return;
        if (land(e))
            pthread_cond_wait(&g_armed, &g_mu);
    }
}

/* ---- the handler thread ------------------------------------------------ */

static struct entry *by_id(unsigned long long id)
{
    struct entry *e = g_entries;
    while (e && e->id != id)
        e = e->next;
    return e;
}

/* Lands one output in a thread of its own: the handler thread never waits
 * for a task (a task that touches another pending output needs it) nor
 * for a changing mapping (which needs it too). */
static void *lander(void *arg)
{
    unsigned long long id = (unsigned long long)(uintptr_t)arg;
    qv__thread_name("land", -1); /* the runtime's: core/alone.c */
    /* Tests: a lander thread slow to start (a loaded host), whose output
     * another lands meanwhile. */
    if (qv__fault_hit("lander", QV_FAULT_WAIT))
        nanosleep(&(struct timespec){0, 200 * 1000000L}, NULL);
    pthread_mutex_lock(&g_mu);
    /* Landed here, or by the call setting it up, or by another thread:
     * once it is out of the list, it may be gone. */
    for (struct entry *e; (e = by_id(id));) {
        if (!land(e))
            break;
        pthread_cond_wait(&g_armed, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

/* The reserve lander: made at init, so that something lands the outputs
 * when no lander thread can be made any more (the address space full
 * under `ulimit -v`, vm.max_map_count reached, pthread_create's EAGAIN):
 * the handler used to try again every 10 ms, and a touch waited for ever
 * while none could be made. Once one could not be made (g_no_lander),
 * calls no longer defer (for RETRY_MS after the last lands) and this
 * thread lands every pending output,
 * touched or not, one at a time, oldest first: a task that reads an
 * earlier call's pending output (a table it did not get as an argument)
 * finds it landed rather than waiting for this very thread. Idle until
 * then. */
static void *reserve(void *arg)
{
    (void)arg;
    qv__thread_name("reserve", -1); /* the runtime's: core/alone.c */
    pthread_mutex_lock(&g_mu);
    while (!atomic_load(&g_quit)) {
        struct entry *e = NULL;
        if (atomic_load(&g_no_lander))
            for (struct entry *o = g_entries; o; o = o->next)
                if (o->armed && !o->landing && (!e || o->id < e->id))
                    e = o;
        if (e) {
            if (land(e)) /* a call sets up part of its group: it lands it */
                pthread_cond_wait(&g_armed, &g_mu);
        } else if (g_entries && atomic_load(&g_no_lander)) {
            pthread_cond_wait(&g_armed, &g_mu); /* set up or landing elsewhere */
        } else if (atomic_load(&g_no_lander)) {
            /* g_reserve_cv is a static initializer's: CLOCK_REALTIME. */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            long long ns = until.tv_nsec + RETRY_MS * 1000000LL;
            until.tv_sec += (time_t)(ns / 1000000000);
            until.tv_nsec = (long)(ns % 1000000000);
            if (pthread_cond_timedwait(&g_reserve_cv, &g_mu, &until) == ETIMEDOUT &&
                !g_entries)
                atomic_store(&g_no_lander, 0);
        } else {
            pthread_cond_wait(&g_reserve_cv, &g_mu);
        }
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

/* Sees that e lands soon: one lander thread per entry; when none can be
 * made, the reserve lands it (and deferring stops, said once). Handler
 * thread, g_mu held. */
static void queue_land(struct entry *e)
{
    if (e->queued || !e->armed || e->landing)
        return;
    pthread_t t;
    pthread_attr_t a;
    int rc = qv__fault_hit("lander", QV_FAULT_ALLOC) ? EAGAIN : pthread_attr_init(&a);
    if (!rc) {
        rc = pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (!rc)
            rc = qv__thread_start(&t, &a, lander, (void *)(uintptr_t)e->id);
        pthread_attr_destroy(&a);
    }
    e->queued = 1;
    if (!rc)
        return;
    atomic_store(&g_no_lander, 1);
    if (!atomic_exchange(&g_no_lander_said, 1))
        fprintf(stderr,
                "quiver wrap: no thread could be made to land a deferred output (%s); "
                "the outputs pending land one at a time, and later calls run "
                "synchronously until one can be made again\n",
                qv_strerror(-rc));
    pthread_cond_signal(&g_reserve_cv);
}

/* A touch lands the output; one while it is set up is left to the call
 * setting it up. */
static void touched(struct entry *e)
{
    if (e->armed)
        queue_land(e);
    else
        e->waiting = 1;
}

static void on_fault(uintptr_t addr)
{
    uintptr_t pg = page_down(addr);
    for (struct entry *e = g_entries; e; e = e->next)
        if (meets(e, pg, pg + g_page)) {
            if (e->c && !e->touched)
                atomic_fetch_add(&e->c->touches, 1);
            e->touched = 1;
            touched(e);
            return;
        }
    /* No pending output holds the page (it landed meanwhile): wake the
     * thread, which faults again only if the page is still empty, and then
     * gets zeros rather than hanging. A page that is there already
     * (EEXIST) wakes nobody by itself: wake it too. */
    struct uffdio_zeropage z = {.range = {pg, g_page}, .mode = 0};
    if (ioctl(g_uffd, UFFDIO_ZEROPAGE, &z)) {
        struct uffdio_range r = {pg, g_page};
        (void)ioctl(g_uffd, UFFDIO_WAKE, &r);
    }
}

/* Takes [lo, hi) out of e's pieces (unmapped, or moved away): the pages
 * there are no longer e's, whatever comes to be mapped there. A piece cut
 * in two needs one more slot; without memory the far part is dropped
 * (its bytes are lost, and said so). */
static void cut(struct entry *e, uintptr_t lo, uintptr_t hi)
{
    for (unsigned i = 0; i < e->nsegs;) {
        struct seg *s = &e->segs[i];
        uintptr_t end = s->dst + s->len;
        if (!overlaps(s->dst, end, lo, hi)) {
            i++;
            continue;
        }
        struct seg left = {s->dst, s->off, lo > s->dst ? lo - s->dst : 0};
        struct seg right = {hi, s->off + (hi - s->dst), hi < end ? end - hi : 0};
        if (left.len && right.len) {
            struct seg *m = realloc(e->segs, (e->nsegs + 1) * sizeof *m);
            if (!m) {
                e->segs[i++] = left;
                if (e->c)
                    atomic_fetch_add(&e->c->lost, 1);
                fprintf(stderr, "quiver wrap: out of memory tracking a deferred output at "
                                "%p; part of it reads as zeros\n", (void *)e->lo);
                continue;
            }
            e->segs = m;
            e->segs[i] = left;
            e->segs[e->nsegs++] = right;
            i++;
        } else if (left.len || right.len) {
            e->segs[i++] = left.len ? left : right;
        } else {
            e->segs[i] = e->segs[--e->nsegs];
        }
    }
}

/* [lo, hi) was unmapped: the pending outputs there are gone with it; what
 * is still mapped of them lands. */
static void on_unmap(uintptr_t lo, uintptr_t hi)
{
    for (struct entry *e = g_entries; e; e = e->next)
        if (meets(e, lo, hi)) {
            cut(e, lo, hi);
            e->stale = 1; /* before any later call looks: g_mu is held */
            touched(e);
        }
}

/* [from, from + len) moved to `to` (mremap), its pages still empty and
 * registered there. An output that moved whole moves with it; one that
 * moved in part lands in a lander thread, each piece where it is now. */
static void on_remap(uintptr_t from, uintptr_t to, size_t len)
{
    uintptr_t d = to - from; /* modulo 2^64: either direction */
    for (struct entry *e = g_entries; e; e = e->next) {
        if (!meets(e, from, from + len))
            continue;
        if (!e->stale && e->nsegs == 1 && e->segs[0].dst == e->plo &&
            e->segs[0].len == e->phi - e->plo && e->plo >= from && e->phi <= from + len) {
            e->lo += d, e->hi += d, e->plo += d, e->phi += d;
            e->segs[0].dst += d;
            continue;
        }
        /* The moved parts of its pieces, where they went: as many as it
         * has (a fixed 16 lost the rest of an output moved page by page
         * side by side, then moved whole). */
        unsigned n = e->nsegs, moved = 0;
        struct seg *add = malloc(n * sizeof *add);
        for (unsigned i = 0; add && i < n; i++) {
            struct seg *s = &e->segs[i];
            uintptr_t lo = s->dst > from ? s->dst : from;
            uintptr_t hi = s->dst + s->len < from + len ? s->dst + s->len : from + len;
            if (lo < hi)
                add[moved++] = (struct seg){lo + d, s->off + (lo - s->dst), hi - lo};
        }
        cut(e, from, from + len);
        struct seg *m = add ? realloc(e->segs, (e->nsegs + moved) * sizeof *m) : NULL;
        if (m) {
            e->segs = m;
            for (unsigned i = 0; i < moved; i++)
                e->segs[e->nsegs++] = add[i];
        }
        free(add);
        if (!m) {
            if (e->c)
                atomic_fetch_add(&e->c->lost, 1);
            fprintf(stderr, "quiver wrap: cannot track a deferred output at %p moved in "
                            "pieces; what moved may read as zeros\n", (void *)e->lo);
        }
        e->stale = 1;
        touched(e);
    }
}

/* Whether descriptor fd is open on the file st describes. */
static bool fd_is(int fd, const struct stat *st)
{
    struct stat now;
    return fd >= 0 && fstat(fd, &now) == 0 && now.st_dev == st->st_dev &&
           now.st_ino == st->st_ino;
}

/* Whether descriptor fd is still the library's userfaultfd: a program
 * that closes every descriptor it did not open (a daemon's close-all loop)
 * closes it too, and may open a file of its own under that number, which
 * the library must not read, write or close. By its inode (each
 * userfaultfd has one of its own since Linux 5.11), so that a program
 * without /proc any more (a chroot) keeps its outputs: taken by that for
 * a closed descriptor, the handler left them waiting for ever (review).
 * Where every anonymous descriptor shares one inode, /proc tells its kind
 * when it can, and a descriptor it cannot tell about is taken as ours. */
static bool uffd_ours(int fd)
{
    if (!fd_is(fd, &g_uffd_st))
        return false;
    if (g_uffd_own_inode)
        return true;
    char path[64], to[64];
    snprintf(path, sizeof path, "/proc/thread-self/fd/%d", fd);
    ssize_t n = readlink(path, to, sizeof to - 1);
    if (n < 0)
        return true; /* open (fstat said so), of this kind as far as known */
    to[n] = 0;
    return !strcmp(to, "anon_inode:[userfaultfd]");
}

/* Whether end i of the wake pipe is still the pipe made at init. */
static bool wake_ours(int i)
{
    return fd_is(g_wake[i], &g_wake_st[i]);
}

/* The program closed the userfaultfd: the outputs pending read as zeros
 * (their pages' registration went with it), said once when there are
 * any; calls run synchronously from now on, and the library forgets its
 * descriptors that are not its own any more. g_mu held. */
static void uffd_lost(int fd)
{
    atomic_store(&g_stopped, 1);
    g_uffd = -1;
    for (int i = 0; i < 2; i++)
        if (!wake_ours(i))
            g_wake[i] = -1;
    /* The armed ones: a call still being set up registers its pages with
     * a descriptor that is gone or another file's, fails, and runs
     * synchronously (counted, it made "pending (2)" of one: CI). */
    unsigned pending = 0;
    for (const struct entry *e = g_entries; e; e = e->next)
        pending += e->armed && !e->landed;
    if (pending)
        fprintf(stderr,
                "quiver: the program closed descriptor %d, the userfaultfd of its "
                "deferred calls (quiver wrap --defer), with outputs pending (%u): they "
                "read as zeros; calls run synchronously from now on\n",
                fd, pending);
}

static void *handler(void *arg)
{
    (void)arg;
    qv__thread_name("uffd", -1); /* the runtime's: core/alone.c */
    int wake = g_wake[0];
    for (;;) {
        struct pollfd p[2] = {{g_uffd, POLLIN, 0}, {wake, POLLIN, 0}};
        /* A finite wait: should the program close an end of the wake
         * pipe (this poll holds the other's file), the stop (g_quit) still
         * ends this thread within a second (review: a stop waited for it
         * for ever). */
        int pr = poll(p, 2, 1000);
        if (atomic_load(&g_quit))
            break;
        if (pr < 0)
            continue; /* EINTR; nothing else is expected of poll here */
        /* The pipe gone, or another file under its number: not waited on. */
        if (wake >= 0 && p[1].revents &&
            ((p[1].revents & (POLLHUP | POLLERR | POLLNVAL)) || !wake_ours(0)))
            wake = -1;
        if (wake >= 0 && (p[1].revents & POLLIN)) { /* not the stop: drained */
            char b;
            (void)!read(wake, &b, 1);
        }
        if (!p[0].revents)
            continue;
        pthread_mutex_lock(&g_mu);
        /* Still ours, checked under g_mu right before the read: a file the
         * program opened under its number is neither read nor waited on. */
        int fd = g_uffd;
        if (!uffd_ours(fd)) {
            if (fd >= 0)
                uffd_lost(fd);
            pthread_mutex_unlock(&g_mu);
            break;
        }
        struct uffd_msg m;
        ssize_t n = read(fd, &m, sizeof m);
        int err = n < 0 ? errno : 0;
        if (n == (ssize_t)sizeof m) {
            g_handled++;
            pthread_cond_broadcast(&g_read);
            if (m.event == UFFD_EVENT_PAGEFAULT)
                on_fault((uintptr_t)m.arg.pagefault.address);
            else if (m.event == UFFD_EVENT_UNMAP)
                on_unmap((uintptr_t)m.arg.remove.start, (uintptr_t)m.arg.remove.end);
            else if (m.event == UFFD_EVENT_REMAP)
                on_remap((uintptr_t)m.arg.remap.from, (uintptr_t)m.arg.remap.to,
                         (size_t)m.arg.remap.len);
        } else if (n >= 0 || (err != EAGAIN && err != EINTR)) {
            /* A short read or an error the userfaultfd does not give: not
             * ours after all; deferring stops, rather than leave calls to
             * register pages that no thread serves. */
            uffd_lost(fd);
            pthread_mutex_unlock(&g_mu);
            break;
        }
        pthread_mutex_unlock(&g_mu);
    }
    return NULL;
}

/* A fork copies no pending page: everything lands first, and g_mu is held
 * across the fork so that no call makes another pending meanwhile (signals
 * wait too, as in app_lock). The child has no handler thread: it never
 * defers and never waits for one. */
static int g_child;
static sigset_t g_fork_mask;
/* Set on the forking thread from our prepare to our parent's or child's
 * handler: g_mu is held, so a wrapped call made meanwhile (a fork handler
 * the program registered before its first deferred call, which runs after
 * ours) runs synchronously; it took g_mu again and hung the process, with
 * its signals blocked (adversarial testing). */
static _Thread_local int t_forking;

static void before_fork(void)
{
    sigset_t old;
    qv__signals_block(&old);
    pthread_mutex_lock(&g_mu);
    g_fork_mask = old;
    land_pages(0, UINTPTR_MAX);
    t_forking = 1;
}

static void after_fork_parent(void)
{
    sigset_t old = g_fork_mask;
    t_forking = 0;
    pthread_mutex_unlock(&g_mu);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* The child's state: no handler thread, no userfaultfd of its own. */
static void child_forget(void)
{
    g_child = 1;
    atomic_store(&g_stopped, 1);
    /* The parent's descriptors, not the child's: a child that lives on
     * would keep the parent's userfaultfd alive after the parent closed
     * it (review). */
    int fd = g_uffd;
    if (uffd_ours(fd))
        close(fd);
    g_uffd = -1;
    for (int i = 0; i < 2; i++) {
        if (wake_ours(i))
            close(g_wake[i]);
        g_wake[i] = -1;
    }
}

static void after_fork_child(void)
{
    t_forking = 0;
    child_forget();
    sigset_t old = g_fork_mask;
    pthread_mutex_unlock(&g_mu);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void qv__pend_forked(void)
{
    if (!g_child)
        child_forget();
}

static void init(void)
{
    g_page = (size_t)sysconf(_SC_PAGESIZE);
    qv__cond_init_monotonic(&g_read);
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        g_why = errno == EPERM ? "userfaultfd is not permitted here (run as root, or "
                                 "set vm.unprivileged_userfaultfd=1)"
                               : "this kernel has no userfaultfd";
        return;
    }
    unsigned long long need = UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMAP;
    struct uffdio_api api = {.api = UFFD_API, .features = need};
    if (ioctl(fd, UFFDIO_API, &api) || (api.features & need) != need) {
        g_why = "this kernel's userfaultfd does not report unmapped or moved memory";
        close(fd);
        return;
    }
    int wp[2];
    if (pipe2(wp, O_CLOEXEC)) {
        g_why = "no pipe for the userfaultfd thread";
        close(fd);
        return;
    }
    g_wake[0] = wp[0];
    g_wake[1] = wp[1];
    (void)fstat(g_wake[0], &g_wake_st[0]);
    (void)fstat(g_wake[1], &g_wake_st[1]);
    (void)fstat(fd, &g_uffd_st);
    /* Whether userfaultfds have inodes of their own here (an eventfd's
     * differs from it then), so that the inode alone names ours. */
    int probe = eventfd(0, EFD_CLOEXEC);
    struct stat ps;
    g_uffd_own_inode =
        probe >= 0 && fstat(probe, &ps) == 0 && ps.st_ino != g_uffd_st.st_ino;
    if (probe >= 0)
        close(probe);
    g_uffd = fd;
    /* Read once (a call must not pay for a file read; a later sysctl is
     * not followed); the kernel's default when it cannot be read. */
    unsigned long maps = 65530;
    FILE *mf = fopen("/proc/sys/vm/max_map_count", "re");
    if (mf) {
        if (fscanf(mf, "%lu", &maps) != 1)
            maps = 65530;
        fclose(mf);
    }
    g_pend_max = maps / 4 < UINT_MAX ? (unsigned)(maps / 4) : UINT_MAX;
    /* The reserve first: stopping it, were the handler not made, takes no
     * more than a broadcast. */
    int reserved = !qv__thread_start(&g_reserve, NULL, reserve, NULL);
    if (!reserved || qv__thread_start(&g_handler, NULL, handler, NULL)) {
        if (reserved) {
            atomic_store(&g_quit, 1);
            pthread_mutex_lock(&g_mu);
            pthread_cond_broadcast(&g_reserve_cv);
            pthread_mutex_unlock(&g_mu);
            pthread_join(g_reserve, NULL);
        }
        g_why = "no thread for the userfaultfd";
        close(fd);
        close(g_wake[0]);
        close(g_wake[1]);
        g_uffd = -1;
        return;
    }
    qv__fork_watch(); /* its prepare runs after ours, which lands tasks */
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
    g_ok = 1;
    g_why = NULL;
}

int qv__pend_available(const char **why)
{
    pthread_once(&g_once, init);
    if (why)
        *why = g_why;
    return g_ok;
}

/* ---- deferring a call -------------------------------------------------- */

/* g_mu for an application thread: its asynchronous signals wait until it
 * unlocks. A handler that touched a pending output while this thread holds
 * g_mu would wait for the handler thread, which waits for g_mu; one that
 * touched an output this thread is landing (g_mu let go while its task
 * runs) would wait for this very thread. So signals stay blocked for the
 * whole landing, task included: they are late, never lost. */
static void app_lock(sigset_t *old)
{
    qv__signals_block(old);
    pthread_mutex_lock(&g_mu);
}

static void app_unlock(const sigset_t *old)
{
    pthread_mutex_unlock(&g_mu);
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* 1 when [lo, hi) is on the calling thread's stack: emptying those pages
 * would take the frames of this very call with them. */
static int on_my_stack(uintptr_t lo, uintptr_t hi)
{
    static _Thread_local uintptr_t s_lo, s_hi;
    if (!s_hi) {
        pthread_attr_t a;
        void *addr;
        size_t size;
        if (pthread_getattr_np(pthread_self(), &a))
            return 1;
        if (!pthread_attr_getstack(&a, &addr, &size)) {
            s_lo = (uintptr_t)addr;
            s_hi = s_lo + size;
        }
        pthread_attr_destroy(&a);
        if (!s_hi)
            return 1;
    }
    return lo < s_hi && s_lo < hi;
}

static int mapping_of(uintptr_t a, uintptr_t *vlo, uintptr_t *vhi, int *own);

/* 1 when [lo, hi) is in the mapping that holds the stack this call runs
 * on while that is not the thread's own (a coroutine's stack made with
 * mmap, a signal stack): the next calls' frames reach down into the pages
 * an output left there, and the landing that their fault waits for needs
 * the lock those calls hold (adversarial testing: a fir into a
 * coroutine's local array, then a deeper call, hung the process). g_mu
 * held. */
static int on_this_stack(uintptr_t lo, uintptr_t hi)
{
    uintptr_t sp = (uintptr_t)__builtin_frame_address(0), vlo, vhi;
    int own;
    if (on_my_stack(sp, sp + 1))
        return 0; /* the thread's own, checked before */
    if (mapping_of(sp, &vlo, &vhi, &own) != 1)
        return 1;
    return lo < vhi && vlo < hi;
}

/* glibc's malloc arenas other than the main one live in heaps of this
 * size, aligned to it. */
#define ARENA_HEAP (64ul << 20)

/* 1 when the memory at `h` (64 MiB-aligned, mapped) starts what looks
 * like the header glibc writes at the start of an arena's heap: its
 * arena, the heap before it, then its size and the size made writable,
 * both within the heap. g_mu held. */
static int looks_like_arena_heap(uintptr_t h)
{
    /* A pending output there was judged when it was made: a heap's first
     * page (its header, the allocator's) is never deferred. Not to be
     * read here, either. */
    for (const struct entry *e = g_entries; e; e = e->next)
        if (meets(e, h, h + g_page))
            return 0;
    /* Nothing pending there, but the page may be empty and still
     * registered (a mapping grown or left behind by mremap): reading it
     * would wait for the handler, which waits for g_mu. Forgotten first. */
    release_range(h, g_page);
    /* Read through the kernel: the memory may be another thread's, being
     * written right now (a program's buffer that merely starts on the
     * boundary). */
    size_t w[4];
    struct iovec to = {w, sizeof w}, from = {(void *)h, sizeof w};
    if (process_vm_readv(getpid(), &to, 1, &from, 1, 0) != (ssize_t)sizeof w)
        return 1;
    return w[0] && w[2] && w[2] <= ARENA_HEAP && w[3] >= w[2] && w[3] <= ARENA_HEAP &&
           w[2] % g_page == 0 && w[3] % g_page == 0;
}

/* The mapping holding address `a` (/proc/thread-self/maps): its bounds, and
 * whether it is anonymous, private and unnamed and not possibly a heap of
 * a malloc arena (a run of mappings without gaps from the 64 MiB boundary
 * below `a` that starts with an arena heap's header: a heap's mapping
 * splits when part of it is mprotect'ed or advised). Returns 0 when no
 * mapping holds `a`. g_mu held. */
static int mapping_of_text(uintptr_t a, uintptr_t *vlo, uintptr_t *vhi, int *own)
{
    FILE *f = fopen("/proc/thread-self/maps", "re");
    if (!f)
        return 0;
    char line[512];
    int found = 0;
    uintptr_t run = 1, prev_hi = 0; /* start of the current run; 1: none */
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n')) { /* a long path: the rest is not a line */
            int ch;
            while ((ch = getc(f)) != EOF && ch != '\n')
                ;
        }
        unsigned long lo, hi, off;
        char perms[8], dev[16], path[256] = "";
        unsigned long inode;
        if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %255s", &lo, &hi, perms, &off, dev,
                   &inode, path) < 6)
            continue;
        if (lo != prev_hi || lo % ARENA_HEAP == 0)
            run = lo;
        prev_hi = hi;
        if (a < lo || a >= hi)
            continue;
        *vlo = lo;
        *vhi = hi;
        /* Writable too: an output in read-only memory runs synchronously
         * and faults as the function would; deferred, its pages were
         * filled by the landing (UFFDIO_COPY does not ask) and the
         * program went on with the result where it could not be written
         * (adversarial testing). */
        *own = !inode && !path[0] && perms[1] == 'w' && perms[3] == 'p';
        found = 1;
        break;
    }
    fclose(f);
    if (found && *own && run == (a & ~(ARENA_HEAP - 1)))
        *own = !looks_like_arena_heap(run);
    return found;
}

/* The kernel's one-mapping query on /proc/self/maps (Linux 6.11): a
 * mapping in a system call, where reading the whole file costs ~0.25 ms
 * per deferred output. Declared here for older headers. */
struct pend_vma_query {
    uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags, vma_page_size,
        vma_offset, inode;
    uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
    uint64_t vma_name_addr, build_id_addr;
};
#define PEND_PROCMAP_QUERY _IOWR('f', 17, struct pend_vma_query)
#define PEND_VMA_WRITABLE     0x02
#define PEND_VMA_SHARED       0x08
#define PEND_COVERING_OR_NEXT 0x10

static int g_maps_fd = -2; /* -2: not tried; -1: no query here */
static dev_t g_maps_dev;    /* what g_maps_fd is: the program may close it */
static ino_t g_maps_ino;    /* and get its number for a file of its own */

/* g_maps_fd, open on this process's maps file: opened again (never
 * closed) when the program closed the descriptor behind our back. */
static int maps_fd(void)
{
    struct stat st;
    if (g_maps_fd >= 0 &&
        (fstat(g_maps_fd, &st) || st.st_dev != g_maps_dev || st.st_ino != g_maps_ino))
        g_maps_fd = -2;
    if (g_maps_fd == -2) {
        /* thread-self: once main has ended with pthread_exit, /proc/self
         * names its thread, which has no memory map to read. */
        g_maps_fd = open("/proc/thread-self/maps", O_RDONLY | O_CLOEXEC);
        if (g_maps_fd >= 0 && !fstat(g_maps_fd, &st)) {
            g_maps_dev = st.st_dev;
            g_maps_ino = st.st_ino;
        } else if (g_maps_fd >= 0) {
            close(g_maps_fd);
            g_maps_fd = -1;
        }
    }
    return g_maps_fd;
}

/* The mapping that holds `a` (or, with PEND_COVERING_OR_NEXT, the next one
 * after it): 1, 0 when there is none, -1 when the kernel cannot say. */
static int vma_query(uintptr_t a, uint64_t flags, struct pend_vma_query *q, int *named)
{
    char name[256];
    *q = (struct pend_vma_query){.size = sizeof *q, .query_flags = flags, .query_addr = a,
                                 .vma_name_size = sizeof name,
                                 .vma_name_addr = (uintptr_t)name};
    if (ioctl(g_maps_fd, PEND_PROCMAP_QUERY, q) == 0) {
        *named = q->vma_name_size != 0;
        return 1;
    }
    if (errno == E2BIG) { /* a name longer than ours: named, then */
        *q = (struct pend_vma_query){.size = sizeof *q, .query_flags = flags, .query_addr = a};
        *named = 1;
        return ioctl(g_maps_fd, PEND_PROCMAP_QUERY, q) == 0 ? 1 : errno == ENOENT ? 0 : -1;
    }
    return errno == ENOENT ? 0 : -1;
}

/* mapping_of_text by the kernel's query; -1 when it cannot answer. */
static int mapping_of_query(uintptr_t a, uintptr_t *vlo, uintptr_t *vhi, int *own)
{
    struct pend_vma_query q;
    int named, r = vma_query(a, 0, &q, &named);
    if (r <= 0)
        return r;
    *vlo = q.vma_start;
    *vhi = q.vma_end;
    *own = !q.inode && !named && (q.vma_flags & PEND_VMA_WRITABLE) &&
           !(q.vma_flags & PEND_VMA_SHARED); /* writable: mapping_of_text says why */
    if (!*own)
        return 1;
    /* A run of mappings without gaps from the 64 MiB boundary below? */
    uintptr_t h = a & ~(ARENA_HEAP - 1);
    r = vma_query(h, PEND_COVERING_OR_NEXT, &q, &named);
    if (r < 0)
        return -1;
    if (!r || q.vma_start != h || !looks_like_arena_heap(h))
        return 1;
    /* The header first (one read): the walk may cross thousands of
     * mappings (each pending output splits its mapping). */
    while (q.vma_end <= a) {
        r = vma_query(q.vma_end, 0, &q, &named);
        if (r < 0)
            return -1;
        if (!r)
            return 1; /* a gap */
    }
    *own = 0;
    return 1;
}

static int mapping_of(uintptr_t a, uintptr_t *vlo, uintptr_t *vhi, int *own)
{
    if (maps_fd() >= 0) {
        int r = mapping_of_query(a, vlo, vhi, own);
        if (r >= 0)
            return r;
        /* An older kernel: the text from now on. The descriptor stays
         * open: another thread may have closed it and got its number for
         * a file of its own since it was checked. */
        if (errno == ENOTTY || errno == EINVAL)
            g_maps_fd = -1;
    }
    return mapping_of_text(a, vlo, vhi, own);
}

/* 1 when the bytes of [lo, hi)'s first and last pages that are not the
 * output's are touched by nobody but the program's own free or realloc of
 * it, and freeing it cannot hand its pages to someone else while they are
 * empty: either whole pages of an anonymous private mapping that is not a
 * malloc heap, or a chunk that glibc's malloc mapped on its own, the
 * output running to its last page: its 16-byte header at the start of the
 * first page (free reads it first, so the output lands before the chunk
 * goes), IS_MMAPPED set, in an anonymous mapping that is not a malloc
 * heap (/proc/self/maps; the kernel may have merged it with its
 * neighbours): an array that merely looks like a header is then in memory
 * no allocator writes either. Anything else on those pages (another
 * allocation, the allocator's headers of its neighbours or the free lists
 * it writes into a freed block, the runtime's own objects) may be touched
 * by a thread that holds a lock the landing needs: such a touch would wait
 * for the landing, and the landing for it. g_mu held; the pages are not
 * pending. */
static int safe_span(uintptr_t lo, uintptr_t hi)
{
    uintptr_t vlo, vhi;
    int own;
    if (lo == page_down(lo) && hi == page_up(hi))
        return mapping_of(lo, &vlo, &vhi, &own) && own && hi <= vhi;
    if (lo - page_down(lo) != 2 * sizeof(size_t))
        return 0;
    size_t size = ((const size_t *)lo)[-1], pad = ((const size_t *)lo)[-2];
    if (!(size & 2)) /* IS_MMAPPED */
        return 0;
    size &= ~(size_t)7;
    uintptr_t chunk = lo - 2 * sizeof(size_t);
    if (size % g_page || pad % g_page || chunk + size != page_up(hi) || pad > chunk)
        return 0;
    return mapping_of(lo, &vlo, &vhi, &own) && own && vlo <= chunk - pad &&
           vhi >= chunk + size;
}

/* Closes the calling thread's region of deferred calls if something
 * landed since it opened (`force`: in any case). */
static void region_step(qv_runtime *rt, const char *name, int force)
{
    unsigned long now = atomic_load(&g_epoch);
    if (t_region.rt && (force || t_region.rt != rt || t_region.epoch != now)) {
        (void)qv_region_end(t_region.rt);
        t_region.rt = NULL;
    }
    if (name && !t_region.rt && qv_region_begin(rt, name) == 0) {
        t_region.rt = rt;
        t_region.epoch = now;
    }
}

/* The pending output that is exactly [lo, hi), armed, or NULL (an output
 * whose memory was unmapped is not: the range is other memory now, and
 * the caller lands the old one as any output sharing its pages). g_mu
 * held; waits while another thread sets it up or lands it. */
static struct entry *find(uintptr_t lo, uintptr_t hi)
{
    for (;;) {
        struct entry *e = g_entries;
        while (e && !(e->lo == lo && e->hi == hi && !e->stale))
            e = e->next;
        if (!e || (e->armed && !e->landing))
            return e;
        pthread_cond_wait(&g_armed, &g_mu);
    }
}

/* What one buffer argument becomes. */
struct slot {
    struct entry *e;  /* the pending output it reads or writes, or NULL */
    int fresh;        /* e made by this call */
    struct mirror m;  /* an input's private copy */
    qv_buf *buf;
};

/* Undoes a call that was not submitted, g_mu held: the outputs it reused
 * are armed again, its new outputs whose pages were emptied land their
 * mirrors (what the pages held), the others are forgotten, its inputs
 * retired. */
static void undo(struct slot *s, unsigned n, const int *emptied)
{
    /* Pages are emptied only once every new output is copied and
     * registered: then they all land (present pages are skipped). */
    int any = 0;
    for (unsigned i = 0; i < n; i++)
        any |= emptied[i];
    for (unsigned i = 0; i < n; i++)
        if (s[i].e && !s[i].e->landed && (!s[i].fresh || any))
            s[i].e->armed = 1;
    for (unsigned i = 0; i < n; i++) {
        struct entry *e = s[i].e;
        if (e && !e->landed && ((s[i].fresh && any) || (!s[i].fresh && e->waiting)))
            (void)land(e);
    }
    for (unsigned i = 0; i < n; i++) {
        struct entry *e = s[i].e;
        if (!e) {
            if (s[i].buf || s[i].m.mem)
                retire(s[i].buf, s[i].m);
        } else if (!s[i].fresh || any) {
            unref(e);
        } else { /* pages never emptied: registered at most */
            if (e->buf) {
                for (unsigned k = 0; k < e->nsegs; k++)
                    release_range(e->segs[k].dst, e->segs[k].len);
            }
            unlink_entry(e);
            retire(e->buf, e->m);
            entry_free(e);
        }
    }
    pthread_cond_broadcast(&g_armed);
}

static int pend_call(qv_runtime *rt, qv_func *f, const qv_wrap_fn *fn, void *const *argv,
                     const size_t *bytes, const char *region, qv__pend_counters *c);

int qv__pend_call(qv_runtime *rt, qv_func *f, const qv_wrap_fn *fn, void *const *argv,
                  const size_t *bytes, const char *region, qv__pend_counters *c)
{
    /* A forked child, or after exit began: the runtime's threads (and
     * maybe locks they held) are not there any more. */
    if (!qv__pend_available(NULL) || g_child || atomic_load(&g_stopped) || t_forking)
        return QV__PEND_SYNC;
    /* No lander thread could be made (the reserve lands what is pending),
     * or as many outputs pending as the mappings allow. */
    if (atomic_load(&g_no_lander) || atomic_load(&g_npending) >= g_pend_max)
        return QV__PEND_SYNC;
    /* The thread's signals wait for the whole call: while it is set up,
     * its outputs' pages are empty and wait for this very call, so a
     * handler touching one would wait for the thread it interrupted. */
    sigset_t old;
    qv__signals_block(&old);
    pthread_mutex_lock(&g_mu);
    bool stopped = atomic_load(&g_stopped);
    g_setups += !stopped;
    pthread_mutex_unlock(&g_mu);
    int rc = stopped ? QV__PEND_SYNC : pend_call(rt, f, fn, argv, bytes, region, c);
    if (!stopped) {
        pthread_mutex_lock(&g_mu);
        if (!--g_setups)
            pthread_cond_broadcast(&g_setups_cv);
        pthread_mutex_unlock(&g_mu);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

static int pend_call(qv_runtime *rt, qv_func *f, const qv_wrap_fn *fn, void *const *argv,
                     const size_t *bytes, const char *region, qv__pend_counters *c)
{
    unsigned n = fn->nargs;
    struct slot s[QV_MAX_ARGS];
    int emptied[QV_MAX_ARGS] = {0};
    memset(s, 0, sizeof s);
    sigset_t sigs;

    /* 1. Which arguments are pending outputs; what must land first. */
    app_lock(&sigs);
    sweep(0);
    if (atomic_load(&g_stopped)) {
        app_unlock(&sigs);
        return QV__PEND_SYNC;
    }
    if (g_entries && g_owner && g_owner != qv__thread_serial())
        land_pages(0, UINTPTR_MAX);
    g_owner = qv__thread_serial();
    /* Whatever shares a page with an argument that is not exactly a
     * pending output lands, so that neither copying an input nor emptying
     * an output's pages meets a pending page. */
    for (unsigned i = 0; i < n; i++) {
        if (!fn->args[i].size || !bytes[i])
            continue;
        uintptr_t lo = (uintptr_t)argv[i], hi = lo + bytes[i];
        if (fn->args[i].mode != QV_R && on_my_stack(page_down(lo), page_up(hi))) {
            app_unlock(&sigs);
            return QV__PEND_SYNC;
        }
        if (find(lo, hi))
            continue;
        land_pages(page_down(lo), page_up(hi));
        if (fn->args[i].mode != QV_R && (!safe_span(lo, hi) || on_this_stack(lo, hi))) {
            app_unlock(&sigs);
            return QV__PEND_SYNC;
        }
    }
    for (unsigned i = 0; i < n; i++) {
        const qv_wrap_arg *a = &fn->args[i];
        if (!a->size || !bytes[i])
            continue;
        uintptr_t lo = (uintptr_t)argv[i], hi = lo + bytes[i];
        struct entry *e = find(lo, hi);
        if (e) {
            /* This exact output: read its private buffer, or write it
             * again (its earlier result can no longer be seen). */
            e->refs++;
            if (a->mode != QV_R) {
                e->armed = 0;
                e->touched = 0; /* a new result: its touch counts again */
                e->c = c;       /* and goes to its new writer's counts */
            }
            s[i].e = e;
            s[i].buf = e->buf;
            continue;
        }
        if (a->mode == QV_R)
            continue;
        if (!(e = calloc(1, sizeof *e)) || mirror_get(page_up(hi) - page_down(lo), &e->m)) {
            free(e);
            undo(s, i, emptied);
            app_unlock(&sigs);
            return QV__PEND_FAIL;
        }
        e->next = g_entries;
        e->id = ++g_next_id;
        e->lo = lo;
        e->hi = hi;
        e->plo = page_down(lo);
        e->phi = page_up(hi);
        if (!(e->segs = malloc(sizeof *e->segs))) {
            mirror_put(e->m);
            free(e);
            undo(s, i, emptied);
            app_unlock(&sigs);
            return QV__PEND_FAIL;
        }
        e->segs[0] = (struct seg){e->plo, 0, e->phi - e->plo};
        e->nsegs = 1;
        e->refs = 1;
        e->c = c;
        g_entries = e;
        atomic_fetch_add(&g_npending, 1);
        s[i].e = e;
        s[i].fresh = 1;
    }
    app_unlock(&sigs);

    /* 2. Private copies, outside g_mu: no page read here is pending. */
    int rc = 0;
    for (unsigned i = 0; i < n && !rc; i++) {
        const qv_wrap_arg *a = &fn->args[i];
        if (!a->size || !bytes[i] || (s[i].e && !s[i].fresh))
            continue;
        if (!s[i].e) { /* an input */
            app_lock(&sigs);
            int bad = mirror_get(bytes[i], &s[i].m);
            app_unlock(&sigs);
            if (bad) {
                rc = QV_ENOMEM;
                break;
            }
            memcpy(s[i].m.mem, argv[i], bytes[i]);
            rc = qv_buf_register(rt, s[i].m.mem, bytes[i], &s[i].buf);
            if (rc)
                s[i].buf = NULL;
            continue;
        }
        struct entry *e = s[i].e;
        /* Pages left registered by an mremap (grown in place, or the old
         * place of MREMAP_DONTUNMAP) hold nothing pending: forgotten
         * first, so that reading them here cannot wait for this call. */
        release_range(e->plo, e->phi - e->plo);
        memcpy(e->m.mem, (void *)e->plo, e->phi - e->plo);
        rc = qv_buf_register(rt, (char *)e->m.mem + (e->lo - e->plo), e->hi - e->lo, &e->buf);
        if (rc) {
            e->buf = NULL;
            break;
        }
        s[i].buf = e->buf;
        struct uffdio_register reg = {.range = {e->plo, e->phi - e->plo},
                                      .mode = UFFDIO_REGISTER_MODE_MISSING};
        if (ioctl(g_uffd, UFFDIO_REGISTER, &reg)) {
            rc = 1; /* not anonymous memory (a file mapping, .data): sync */
            break;
        }
    }
    /* Empty the outputs' pages only once every one could be registered. */
    for (unsigned i = 0; i < n && !rc; i++)
        if (s[i].fresh) {
            struct entry *e = s[i].e;
            if (madvise((void *)e->plo, e->phi - e->plo, MADV_DONTNEED))
                rc = 1;
            else
                emptied[i] = 1;
        }

    /* 3. The task. */
    if (!rc) {
        region_step(rt, region, 0);
        qv_arg args[QV_MAX_ARGS];
        for (unsigned i = 0; i < n; i++)
            args[i] = fn->args[i].size ? QV_BUF(s[i].buf) : (qv_arg){NULL, argv[i], fn->args[i].elem};
        rc = qv_submit(rt, f, args, n);
        if (rc)
            rc = -1;
    }

    /* 4. Armed: touches land from now on; those made meanwhile land now. */
    app_lock(&sigs);
    if (rc) {
        undo(s, n, emptied);
        app_unlock(&sigs);
        return rc == 1 ? QV__PEND_SYNC : QV__PEND_FAIL;
    }
    for (unsigned i = 0; i < n; i++) {
        struct entry *e = s[i].e;
        if (!e) {
            if (s[i].buf || s[i].m.mem)
                retire(s[i].buf, s[i].m);
        } else if (!e->landed)
            e->armed = 1;
    }
    pthread_cond_broadcast(&g_armed);
    for (unsigned i = 0; i < n; i++) {
        struct entry *e = s[i].e;
        if (!e)
            continue;
        if (!e->landed && e->waiting)
            (void)land(e);
        unref(e);
    }
    app_unlock(&sigs);
    return QV__PEND_DONE;
}

void qv__pend_settle(const void *p, size_t n)
{
    if (!g_ok || g_child || !n || !atomic_load(&g_npending))
        return;
    uintptr_t lo = (uintptr_t)p;
    sigset_t sigs;
    app_lock(&sigs);
    if (g_entries)
        land_pages(page_down(lo), page_up(lo + n));
    app_unlock(&sigs);
}

void qv__pend_settle_all(int stop)
{
    if (!g_ok || g_child)
        return;
    sigset_t sigs;
    app_lock(&sigs);
    int fd = g_uffd;
    if (fd >= 0 && !uffd_ours(fd)) /* told with the outputs still counted */
        uffd_lost(fd);
    if (stop) { /* no call starts its set-up now; those under way end first */
        atomic_store(&g_stopped, 1);
        while (g_setups)
            pthread_cond_wait(&g_setups_cv, &g_mu);
    }
    land_pages(0, UINTPTR_MAX);
    int join = 0;
    if (stop && !g_stopping) {
        g_stopping = 1;
        sweep(1);
        for (; g_npool; g_npool--)
            munmap(g_pool[g_npool - 1].mem, g_pool[g_npool - 1].len);
        g_pool_bytes = 0;
        join = 1;
    }
    app_unlock(&sigs);
    if (t_region.rt && stop)
        region_step(t_region.rt, NULL, 1);
    if (join) {
        atomic_store(&g_quit, 1);
        /* Only into our own pipe; a reader gone raises SIGPIPE, held and
         * taken back here. Without the write the handler wakes within a
         * second. */
        if (wake_ours(1)) {
            sigset_t pipe, was;
            sigemptyset(&pipe);
            sigaddset(&pipe, SIGPIPE);
            bool pending = sigpending(&was) == 0 && sigismember(&was, SIGPIPE);
            pthread_sigmask(SIG_BLOCK, &pipe, &was);
            if (write(g_wake[1], "x", 1) < 0 && errno == EPIPE && !pending) {
                struct timespec zero = {0, 0};
                (void)sigtimedwait(&pipe, NULL, &zero);
            }
            pthread_sigmask(SIG_SETMASK, &was, NULL);
        }
        pthread_join(g_handler, NULL);
        pthread_mutex_lock(&g_mu); /* g_quit seen, or the broadcast waited for */
        pthread_cond_broadcast(&g_reserve_cv);
        pthread_cond_broadcast(&g_armed);
        pthread_mutex_unlock(&g_mu);
        pthread_join(g_reserve, NULL);
        /* Nothing is registered any more; were anything left, closing
         * the descriptor would let its pages read as zeros rather than
         * block forever. Only ours: a number the program reused is its. */
        app_lock(&sigs);
        fd = g_uffd;
        if (uffd_ours(fd))
            close(fd);
        else if (fd >= 0)
            uffd_lost(fd);
        g_uffd = -1;
        app_unlock(&sigs);
    }
}

void qv__pend_region_close(void)
{
    if (t_region.rt)
        region_step(t_region.rt, NULL, 1);
}

size_t qv__pend_pages(uintptr_t lo, uintptr_t hi, uintptr_t (*out)[2], size_t max)
{
    if (!g_ok || g_child || !atomic_load(&g_npending))
        return 0;
    size_t k = 0;
    pthread_mutex_lock(&g_mu); /* the caller holds the signals (app_lock's) */
    for (const struct entry *e = g_entries; e && k <= max; e = e->next)
        for (unsigned i = 0; i < e->nsegs && k <= max; i++) {
            const struct seg *s = &e->segs[i];
            if (!overlaps(s->dst, s->dst + s->len, lo, hi))
                continue;
            if (k < max) {
                out[k][0] = s->dst;
                out[k][1] = s->dst + s->len;
            }
            k++;
        }
    pthread_mutex_unlock(&g_mu);
    return k;
}
