/*
 * emu.c - an emulated FPGA board: what Vitis sw_emu does, without Vitis.
 *
 * The board is a board file with `emulation: true`. A function's FPGA
 * implementation is a kernel of the catalog; the kernel's build for this
 * board is an xclbin in sw_emu mode whose BITSTREAM section holds the
 * kernel's HLS C source compiled for the host, with a trampoline
 * `void <kernel>__emu(const uint64_t *args)` taking the arguments by id
 * (device addresses for buffers, values for scalars). We validate the file
 * with our reader, load the library from memory (memfd), and run each
 * launch on the device's driver thread, which would only wait for it
 * otherwise: a compute-unit thread of our own cost two thread wake-ups a
 * run (25-30 us on the virtual machine bench/ runs on; bench/RESULTS.md).
 * Deadlines behave as on a card all the same: a watchdog thread hands a
 * run past its deadline over to the runtime as hung (qv__devq_stuck),
 * which runs the task elsewhere while the driver thread stays in the
 * kernel. Device memory is host memory, bounded by the board's.
 *
 * Alongside the wall time, a virtual clock models the board: a copy takes
 * latency + bytes / link bandwidth, a run (latency_cycles + ii * (trips - 1))
 * cycles at the kernel's clock, as a pipelined HLS loop: the pipeline's depth
 * once, then one initiation interval per further trip. The runtime records
 * both clocks in the trace. A test or benchmark can make the board slower
 * (qv__emu_set_slowdown): later runs advance the clock by the model's time
 * times the factor, as a board that degrades while a program runs.
 *
 * Locking: mu guards the memory count, the run's state, the clock and the
 * slowdown; the kernel table is only touched by the device's driver thread.
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "config/catalog.h"
#include "core/internal.h"
#include "devices/device.h"
#include "xclbin/xclbin.h"
#include "core/thread.h"

typedef void (*emu_entry)(const uint64_t *args);

typedef struct emu_kernel {
    int              state;   /* 0 not loaded, 1 ready, -1 failed */
    const qv__kernel *cat;    /* catalog entry */
    void            *lib;
    emu_entry        entry;
    int              fd;      /* memfd holding the library */
} emu_kernel;

typedef struct emu_device {
    qv_device        base;
    const qv__board *board;
    char             name[160];
    pthread_mutex_t  mu;
    pthread_cond_t   cv;          /* the watchdog's: its first run, the stop */
    pthread_cond_t   done_cv;     /* a run's end, a hand-over's */
    uint64_t         mem_used;
    double           board_us;    /* the virtual clock */
    double           slowdown;    /* factor on the modelled runs; 1 normal */
    /* The run on the driver thread, one at a time, and its watchdog. */
    pthread_t        watch;
    bool             watch_started, stop;
    bool             running;     /* a run is in its kernel */
    bool             watching;    /* the watchdog times runs (from the first) */
    bool             handing;     /* the watchdog hands the run over */
    uint64_t         run_until;   /* the run's deadline, monotonic ns */
    int64_t          run_limit;   /* its limit_ns */
    /* A run outlived its deadline and still runs (a kernel that never
     * ends): handed over, the device is out of service, its memory is not
     * freed under that run, and at close the driver thread is left to it
     * (a thread cannot be stopped safely): the device leaks instead of
     * hanging the program. */
    bool             hung;
    struct qv_devmem *kept;       /* memory freed while a hung run went on */
    emu_kernel      *k;           /* by function id */
    size_t           nk;
    /* Libraries of kernels a function was bound to before
     * qv_func_set_fpga named another: a run that outlived its wait may
     * still be in one, so they stay loaded until the device closes. */
    emu_kernel      *old;
    size_t           nold;
} emu_device;

struct qv_devmem {
    void  *p;
    size_t n;
    struct qv_devmem *next; /* on emu_device.kept */
};

/* The event of a launch: the device itself (one run at a time). */
#define EMU_EVENT(d) ((qv_event *)(d))

/* The run that outlived its deadline ended after all (a long run, not a hung
 * one: quiverd's board stayed out of service for every client after one
 * run past 30 s, adversarial testing). Its memory freed meanwhile goes
 * now, and the device gets a probe. Under mu, which the device's close
 * takes first: the runtime is still there unless the close came, which
 * sets stop (the device was left behind with this thread). */
static void hung_run_ended(emu_device *e)
{
    e->hung = false;
    while (e->kept) {
        struct qv_devmem *m = e->kept;
        e->kept = m->next;
        e->mem_used -= m->n;
        free(m->p);
        free(m);
    }
    if (!e->stop)
        qv__devq_run_ended(e->base.rt, e->base.id);
}

/* The watchdog, under mu: the run on the driver thread is past its
 * deadline. The runtime fails its task over while the driver stays in the
 * kernel; the driver, back from it (if ever), waits for the hand-over to
 * be done (handing). */
static void hand_over(emu_device *e)
{
    e->hung = true;
    e->handing = true;
    pthread_cond_broadcast(&e->done_cv); /* frees waiting for the run keep their memory now */
    long long limit = (long long)e->run_limit;
    pthread_mutex_unlock(&e->mu);
    qv__fail(QV_ETIMEDOUT, "%s: run still going after %lld ns", e->name, limit);
    qv__devq_stuck(e->base.rt, e->base.id);
    pthread_mutex_lock(&e->mu);
    e->handing = false;
    pthread_cond_broadcast(&e->done_cv);
}

/* Idle, the watchdog looks every least deadline (qv__devq_least_limit_ns,
 * 30 s; tests shorten it): no deadline is shorter, so a run that starts
 * meanwhile is looked at by its deadline, without a wake-up per run. */
static void *watch_main(void *arg)
{
    emu_device *e = arg;
    qv__thread_name("emu-watch", -1);
    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        if (!e->watching) { /* no run yet */
            pthread_cond_wait(&e->cv, &e->mu);
            continue;
        }
        uint64_t now = qv__now_ns();
        bool timed = e->running && !e->hung && e->run_until != UINT64_MAX;
        if (timed && now >= e->run_until) {
            hand_over(e);
            continue;
        }
        int64_t watch = qv__devq_least_limit_ns;
        int64_t ns = timed && e->run_until - now < (uint64_t)watch
                         ? (int64_t)(e->run_until - now)
                         : watch;
        struct timespec until = qv__deadline_in(ns);
        pthread_cond_timedwait(&e->cv, &e->mu, &until);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

static int emu_probe(const void *b, unsigned *count)
{
    const qv__board *board = b;
    *count = board && board->kind == QV_CLASS_FPGA && board->emulation ? 1 : 0;
    return 0;
}

static int emu_open(qv_device *d, unsigned idx, const void *b)
{
    emu_device *e = (emu_device *)d;
    const qv__board *board = b;
    if (idx != 0 || !board || !board->emulation)
        return QV_ENOENT;
    e->board = board;
    e->slowdown = 1;
    d->on_host = true; /* the driver thread runs the kernels on the host */
    d->host_units = 1; /* on that one thread */
    snprintf(e->name, sizeof e->name, "emulated %s", board->name);
    pthread_mutex_init(&e->mu, NULL);
    /* Deadlines on the monotonic clock: a jump of the wall clock must not
     * time a run out (or stretch it). */
    qv__cond_init_monotonic(&e->cv);
    pthread_cond_init(&e->done_cv, NULL);
    if (qv__thread_start(&e->watch, NULL, watch_main, e) != 0) {
        pthread_mutex_destroy(&e->mu);
        pthread_cond_destroy(&e->cv);
        pthread_cond_destroy(&e->done_cv);
        return QV_ENOMEM;
    }
    e->watch_started = true;
    return 0;
}

static void emu_close(qv_device *d)
{
    emu_device *e = (emu_device *)d;
    if (e->watch_started) {
        pthread_mutex_lock(&e->mu);
        e->stop = true;
        pthread_cond_broadcast(&e->cv);
        bool running = e->running && e->hung;
        pthread_mutex_unlock(&e->mu);
        if (running) {
            /* Its kernel's library, the device and its lock stay: the
             * driver thread still runs in them, until the process ends. */
            qv__log(1, "%s: a kernel run never ended; its thread, memory and library are "
                    "left behind", e->name);
            pthread_detach(e->watch);
            d->leak = true;
            return;
        }
        pthread_join(e->watch, NULL);
        pthread_mutex_destroy(&e->mu);
        pthread_cond_destroy(&e->cv);
        pthread_cond_destroy(&e->done_cv);
    }
    for (size_t i = 0; i < e->nk + e->nold; i++) {
        emu_kernel *ek = i < e->nk ? &e->k[i] : &e->old[i - e->nk];
        if (ek->lib)
            dlclose(ek->lib);
        if (ek->fd > 0)
            close(ek->fd);
    }
    free(e->k);
    free(e->old); /* (what a long run kept, its end freed: hung_run_ended) */
}

/* Advances the board's clock by a copy of n bytes over its link. */
static void clock_copy(emu_device *e, size_t n)
{
    double bw = e->board->bandwidth_gbs > 0 ? e->board->bandwidth_gbs : 12.0;
    pthread_mutex_lock(&e->mu);
    e->board_us += e->board->latency_us + (double)n / (bw * 1e3);
    pthread_mutex_unlock(&e->mu);
}

static int emu_alloc(qv_device *d, size_t n, unsigned bank, qv_devmem **out)
{
    (void)bank;
    emu_device *e = (emu_device *)d;
    int inj = qv__fault_hit("emu", QV_FAULT_ALLOC);
    if (inj)
        return qv__fail(inj, "injected allocation failure");
    pthread_mutex_lock(&e->mu);
    bool fits = !e->board->memory || e->mem_used + n <= e->board->memory;
    if (fits)
        e->mem_used += n;
    pthread_mutex_unlock(&e->mu);
    if (!fits)
        return qv__fail(QV_ENOMEM, "%s: %zu bytes do not fit in its %llu bytes of memory",
                        e->name, n, (unsigned long long)e->board->memory);
    qv_devmem *m = malloc(sizeof *m);
    /* Zeroed: a QV_W argument's copy is not written from the host, and the
     * bytes a kernel leaves alone came home as another buffer's freed
     * data (a daemon serves several clients). */
    void *p = n ? calloc(1, n) : NULL;
    if (!m || (n && !p)) {
        free(m);
        free(p);
        pthread_mutex_lock(&e->mu);
        e->mem_used -= n;
        pthread_mutex_unlock(&e->mu);
        /* Said: the task's failure read "did not run: " and nothing. */
        return qv__fail(QV_ENOMEM, "%s: no host memory for a copy of %zu bytes", e->name,
                        n);
    }
    m->p = p;
    m->n = n;
    *out = m;
    return 0;
}

static void emu_free(qv_device *d, qv_devmem *m)
{
    emu_device *e = (emu_device *)d;
    if (!m)
        return;
    pthread_mutex_lock(&e->mu);
    /* A run that outlived its deadline may still use this memory: freed
     * once it ends; left to a run that never ends (waiting for it hung
     * every unregister and the runtime's destroy). */
    while (e->running && !e->hung)
        pthread_cond_wait(&e->done_cv, &e->mu);
    bool keep = e->running;
    if (keep) {
        m->next = e->kept;
        e->kept = m;
    } else {
        e->mem_used -= m->n;
    }
    pthread_mutex_unlock(&e->mu);
    if (keep)
        return;
    free(m->p);
    free(m);
}

static int emu_write(qv_device *d, qv_devmem *dst, size_t off, const void *src, size_t n,
                     qv_event **ev)
{
    emu_device *e = (emu_device *)d;
    if (ev)
        *ev = NULL;
    int inj = qv__fault_hit("emu", QV_FAULT_WRITE);
    if (inj)
        return qv__fail(inj, "injected write failure");
    if (off > dst->n || n > dst->n - off)
        return qv__fail(QV_EINVAL, "%s: write of %zu bytes at %zu past a %zu-byte buffer",
                        e->name, n, off, dst->n);
    memcpy((char *)dst->p + off, src, n);
    clock_copy(e, n);
    return 0;
}

static int emu_read(qv_device *d, void *dst, qv_devmem *src, size_t off, size_t n,
                    qv_event **ev)
{
    emu_device *e = (emu_device *)d;
    if (ev)
        *ev = NULL;
    int inj = qv__fault_hit("emu", QV_FAULT_READ);
    if (inj)
        return qv__fail(inj, "injected read failure");
    if (off > src->n || n > src->n - off)
        return qv__fail(QV_EINVAL, "%s: read of %zu bytes at %zu past a %zu-byte buffer",
                        e->name, n, off, src->n);
    memcpy(dst, (char *)src->p + off, n);
    clock_copy(e, n);
    return 0;
}

/* Loads the kernel library of f's catalog kernel on e. */
static int load(emu_device *e, const qv_func *f, emu_kernel *ek)
{
    const qv__kernel *k;
    const char *path;
    int rc = qv__fpga_kernel_for(f, e->board, &k, &path);
    if (rc)
        return rc;
    uint8_t *data;
    qv__xclbin *x;
    if ((rc = qv__xclbin_read(path, (size_t)1 << 30, &data, &x)) != 0)
        return rc;
    const qv__xclbin_kernel *xk = qv__xclbin_kernel_find(x, k->name);
    if (!xk)
        rc = qv__fail(QV_ENOTSUP, "%s does not hold kernel '%s'", path, k->name);
    else
        rc = qv__xclbin_emu_runs(x, path, k->name, e->board->name);
    if (rc || (rc = qv__kernel_matches_xclbin(k, xk, path)) != 0 ||
        (rc = qv__xclbin_fits_board(x, e->board, path)) != 0) {
        qv__xclbin_destroy(x);
        free(data);
        return rc;
    }
    /* The library lives in the BITSTREAM section: load it from memory. */
    int fd = memfd_create(k->name, MFD_CLOEXEC);
    bool ok = fd >= 0 &&
              write(fd, x->bitstream, x->bitstream_size) == (ssize_t)x->bitstream_size;
    qv__xclbin_destroy(x);
    free(data);
    if (!ok) {
        if (fd >= 0)
            close(fd);
        return qv__fail(QV_EIO, "cannot stage the kernel library of '%s': %s", k->name,
                        strerror(errno));
    }
    char lpath[64], sym[256];
    /* thread-self: once main has ended (pthread_exit), /proc/self names
     * its thread, which holds no descriptors, and the load failed. */
    snprintf(lpath, sizeof lpath, "/proc/thread-self/fd/%d", fd);
    void *lib = dlopen(lpath, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        close(fd);
        return qv__fail(QV_ENOTSUP, "%s: the kernel library does not load: %s", path,
                        dlerror());
    }
    snprintf(sym, sizeof sym, "%s__emu", k->name);
    emu_entry entry;
    *(void **)&entry = dlsym(lib, sym);
    if (!entry) {
        dlclose(lib);
        close(fd);
        return qv__fail(QV_ENOTSUP, "%s: the kernel library has no %s", path, sym);
    }
    ek->cat = k;
    ek->lib = lib;
    ek->entry = entry;
    ek->fd = fd;
    qv__log(2, "%s: kernel '%s' of '%s' loaded from %s", e->name, k->name, f->name, path);
    return 0;
}

static int kernel_of(emu_device *e, const qv_func *f, emu_kernel **out)
{
    const qv__kernel *cat = f->kernel;
    if (!cat)
        return qv__fail(QV_ENOTSUP, "'%s' has no FPGA implementation", f->name);
    void *grown = qv__dev_table_grow(e->k, &e->nk, f->id, sizeof *e->k);
    if (!grown)
        return QV_ENOMEM;
    e->k = grown;
    emu_kernel *ek = &e->k[f->id];
    if (ek->state && ek->cat != cat) { /* qv_func_set_fpga named another */
        if (ek->lib) {
            emu_kernel *o = realloc(e->old, (e->nold + 1) * sizeof *o);
            if (!o)
                return QV_ENOMEM;
            e->old = o;
            e->old[e->nold++] = *ek;
        }
        *ek = (emu_kernel){ 0 };
    }
    ek->cat = cat; /* also for a load that fails: tried for this kernel */
    if (ek->state < 0)
        return qv__fail(QV_ENOTSUP, "kernel of '%s' failed to load on %s", f->name, e->name);
    if (ek->state == 0) {
        int rc = load(e, f, ek);
        ek->state = rc ? -1 : 1;
        if (rc)
            return rc;
    }
    *out = ek;
    return 0;
}

static int emu_prepare(qv_device *d, const qv_func *f)
{
    emu_kernel *ek;
    return kernel_of((emu_device *)d, f, &ek);
}

/* Modelled run time (µs) of ek for call c. */
static double model_us(const emu_device *e, const emu_kernel *ek, const qv_call *c)
{
    return qv__kernel_call_us(ek->cat, e->board->clock_mhz, c);
}

static int emu_launch(qv_device *d, const qv_launch *l, qv_event **ev)
{
    emu_device *e = (emu_device *)d;
    if (ev)
        *ev = NULL;
    int inj = qv__fault_hit("emu", QV_FAULT_LAUNCH);
    if (inj)
        return qv__fail(inj, "injected launch failure");
    emu_kernel *ek = NULL; /* set when kernel_of returns 0 (GCC -O3 cannot tell) */
    int rc = kernel_of(e, l->func, &ek);
    if (rc)
        return rc;
    const qv_call *c = l->call;
    uint64_t args[QV_MAX_ARGS] = { 0 };
    for (unsigned i = 0; i < c->nargs; i++) {
        if (l->func->args[i].is_buf)
            args[i] = l->mem[i] ? (uint64_t)(uintptr_t)l->mem[i]->p : 0;
        else
            memcpy(&args[i], c->ptr[i], c->size[i] < 8 ? c->size[i] : 8);
    }
    double run_us = model_us(e, ek, c);
    pthread_mutex_lock(&e->mu);
    e->running = true;
    e->run_limit = l->limit_ns;
    e->run_until = l->limit_ns > 0 ? qv__now_ns() + (uint64_t)l->limit_ns : UINT64_MAX;
    e->board_us += run_us * e->slowdown;
    if (!e->watching) {
        e->watching = true;
        pthread_cond_broadcast(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    ek->entry(args);
    pthread_mutex_lock(&e->mu);
    while (e->handing)
        pthread_cond_wait(&e->done_cv, &e->mu);
    e->running = false;
    bool handed = e->hung;
    if (handed)
        hung_run_ended(e);
    /* Frees that waited for the run (not the watchdog: a wake-up a run) */
    pthread_cond_broadcast(&e->done_cv);
    pthread_mutex_unlock(&e->mu);
    if (handed)
        return QV__HANDED_OVER;
    if (ev)
        *ev = EMU_EVENT(e);
    return 0;
}

/* The run ended in its launch. An injected wait fault plays a run that
 * ended past its deadline. */
static int emu_wait(qv_device *d, qv_event *ev, int64_t timeout_ns)
{
    emu_device *e = (emu_device *)d;
    (void)ev;
    if (!qv__fault_hit("emu", QV_FAULT_WAIT))
        return 0;
    qv__devq_run_ended(d->rt, d->id);
    return qv__fail(QV_ETIMEDOUT, "%s: run still going after %lld ns", e->name,
                    (long long)timeout_ns);
}

static int emu_query(qv_device *d, int what, void *out, size_t size)
{
    emu_device *e = (emu_device *)d;
    if (what != QV_QUERY_BOARD_US)
        return qv__dev_query_basic(what, out, size, 1, e->name, e->board->memory);
    if (size < sizeof(double))
        return QV_EINVAL;
    pthread_mutex_lock(&e->mu);
    *(double *)out = e->board_us;
    pthread_mutex_unlock(&e->mu);
    return 0;
}

int qv__emu_set_slowdown(qv_runtime *rt, const char *device, double factor)
{
    if (!qv__rt_ok(rt) || !device)
        return qv__fail(QV_EINVAL, "qv__emu_set_slowdown: %s",
                        device ? qv__rt_why(rt) : "NULL device name");
    if (!(factor > 0) || !isfinite(factor))
        return qv__fail(QV_EINVAL, "slowdown of %s is %g; expected a finite factor > 0",
                        device, factor);
    /* The runtime's names (discovery's), as qv_device_get gives them. */
    for (unsigned i = 1; i < qv_device_count(rt); i++) {
        qv_device_info di;
        qv_device *d = qv__device(rt, i);
        if (d->ops != &qv__emu_ops || qv_device_get(rt, i, &di) != 0 ||
            strcmp(di.name, device) != 0)
            continue;
        emu_device *e = (emu_device *)d;
        pthread_mutex_lock(&e->mu);
        e->slowdown = factor;
        pthread_mutex_unlock(&e->mu);
        qv__log(2, "%s: its runs are modelled %g times as long from now on", di.name,
                factor);
        return 0;
    }
    return qv__fail(QV_ENOENT, "no emulated board named '%s' in this runtime", device);
}

const struct qv_device_ops qv__emu_ops = {
    .name = "emu",
    .cls = QV_CLASS_FPGA,
    .dev_size = sizeof(emu_device),
    .probe = emu_probe,
    .open = emu_open,
    .close = emu_close,
    .alloc = emu_alloc,
    .free = emu_free,
    .write = emu_write,
    .read = emu_read,
    .launch = emu_launch,
    .wait = emu_wait,
    .query = emu_query,
    .prepare = emu_prepare,
};
