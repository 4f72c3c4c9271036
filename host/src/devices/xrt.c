/*
 * xrt.c - the XRT backend (the fpga class): Alveo and Versal cards through
 * XRT's native C API, loaded at run time (devices/xrt_lib.c).
 *
 * Each card is paired with a board file of the policy (the n-th real FPGA
 * board with the n-th XRT device); a function's FPGA kernel is a catalog
 * kernel, and its build for that board (by board name, else by platform) is
 * the xclbin to load. Every xclbin passes our own reader before XRT sees it
 * (XRT segfaults on a 0-byte file and trusts truncated ones). A device holds
 * one xclbin at a time; it is loaded once and kept, and loading another
 * one (a kernel from another file) is the costly exception. Buffers are
 * buffer objects in the kernel's memory bank; runs are started and then
 * waited for with a timeout. Every handle is closed in close(): a handle
 * left open crashes XRT at process exit. A program that exits without
 * qv_runtime_destroy leaves them open: an atexit handler (registered after
 * XRT is loaded, so it runs before XRT's own teardown) closes what is
 * still open, from the list of live devices and their buffer objects.
 *
 * With QV_XRT_SHIM=noop (tests only) runs complete without executing: the
 * code path is exercised, results are not computed.
 *
 * Locking: one driver thread per device calls launch, wait and prepare;
 * alloc, free, read and write may come from any thread: XRT's buffer calls
 * are thread-safe.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/board.h"
#include "config/catalog.h"
#include "core/internal.h"
#include "core/fork.h"
#include "devices/device.h"
#include "devices/xrt_lib.h"
#include "xclbin/xclbin.h"

typedef struct xrt_kernel {
    int   state;    /* 0 not opened, 1 ready, -1 failed */
    void *k;        /* xrtKernelHandle */
    const struct qv__kernel *cat; /* the catalog kernel state is about */
    char  path[1024];
} xrt_kernel;

typedef struct xrt_device {
    qv_device          base;
    struct xrt_device *live_prev, *live_next; /* the live list, under live_mu */
    struct qv_devmem  *bos;       /* its buffer objects, under live_mu */
    const qv__xrt_api *x;
    void              *dev;       /* xrtDeviceHandle */
    const qv__board   *board;
    char               name[160];
    char               loaded[1024]; /* the xclbin on the card, "" if none */
    qv__xclbin        *meta;      /* its metadata (no bitstream), or NULL */
    uint8_t            uuid[16];
    xrt_kernel        *k;         /* by function id */
    size_t             nk;
} xrt_device;

struct qv_devmem {
    void  *bo;    /* NULL once the exit handler freed it */
    size_t n;
    struct qv_devmem *prev, *next; /* on its device's bos, under live_mu */
};

/* Devices open in the process, for the exit handler. */
static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static xrt_device *live;

void qv__xrt_fork_lock(bool lock)
{
    qv__fork_hold(&live_mu, lock);
}
/* The exit handler ran: XRT handles are gone, and every operation of a
 * runtime destroyed later (by an exit handler registered before ours, or
 * a C++ global) is refused instead of handing XRT NULL handles. What was
 * only on a card is lost then: the program exited without bringing it
 * home. */
static atomic_bool exited;

static int refused(const xrt_device *e)
{
    return qv__fail(QV_EIO, "%s: the process is exiting, and XRT's handles were closed",
                    e->name);
}

/* Calls into XRT hold calls (read) from before exited is looked at to
 * their end; the exit handler takes it (write) before it closes the
 * handles, and none starts after: a driver thread loading an xclbin while
 * the program called exit() went on into XRT after its handles were
 * closed and its static objects destroyed (a use after free, 7 exits in
 * 100: adversarial testing). */
static pthread_rwlock_t calls = PTHREAD_RWLOCK_INITIALIZER;

/* Whether an XRT call may be made: then calls is held until leave(). */
static bool enter(void)
{
    pthread_rwlock_rdlock(&calls);
    if (!atomic_load(&exited))
        return true;
    pthread_rwlock_unlock(&calls);
    return false;
}

static void leave(void)
{
    pthread_rwlock_unlock(&calls);
}

/* Closes e's kernels and the card (once: the handles are cleared). */
static void close_handles(xrt_device *e)
{
    for (size_t i = 0; i < e->nk; i++)
        if (e->k[i].k) {
            e->x->kernel_close(e->k[i].k);
            e->k[i].k = NULL;
        }
    if (e->dev)
        e->x->dev_close(e->dev);
    e->dev = NULL;
}

/* At exit: what a program that did not destroy its runtime left open. */
static void close_at_exit(void)
{
    atomic_store(&exited, true); /* no call starts from now on */
    /* The calls under way end first; one that lasts (a run waited for)
     * leaves the handles open rather than closed under it. */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 1;
    if (pthread_rwlock_timedwrlock(&calls, &until) != 0)
        return;
    pthread_mutex_lock(&live_mu);
    for (xrt_device *e = live; e; e = e->live_next) {
        for (struct qv_devmem *m = e->bos; m; m = m->next)
            if (m->bo) {
                e->x->bo_free(m->bo);
                m->bo = NULL;
            }
        close_handles(e);
    }
    pthread_mutex_unlock(&live_mu);
    pthread_rwlock_unlock(&calls);
}

static void at_exit_once(void)
{
    atexit(close_at_exit);
}

/* Again once a run went through: exit handlers run last first, and XRT
 * makes some of its static objects at its first run (its handle tables);
 * destroyed before our handler stopped the calls, they were freed under a
 * driver thread's call (adversarial testing). The first registration then
 * finds nothing left to close. */
static void at_exit_late(void)
{
    atexit(close_at_exit);
}

static int xrt_probe(const void *b, unsigned *count)
{
    const qv__board *board = b;
    *count = 0;
    if (board && (board->kind != QV_CLASS_FPGA || board->emulation))
        return 0;
    const qv__xrt_api *x = qv__xrt_api_get(NULL, 0);
    if (x && x->dev_open)
        *count = x->probe();
    return 0;
}

static int xrt_open(qv_device *d, unsigned idx, const void *b)
{
    xrt_device *e = (xrt_device *)d;
    char why[200] = "";
    e->x = qv__xrt_api_get(why, sizeof why);
    if (!e->x || !e->x->dev_open)
        return qv__fail(QV_ENODEV, "XRT is not usable: %s", why);
    e->dev = e->x->dev_open(idx);
    if (!e->dev)
        return qv__fail(QV_ENODEV, "XRT cannot open device %u", idx);
    e->board = b;
    snprintf(e->name, sizeof e->name, "XRT %u: %s%s", idx,
             e->board ? e->board->name : "FPGA", e->x->noop ? " (noop shim)" : "");
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, at_exit_once);
    pthread_mutex_lock(&live_mu);
    e->live_next = live;
    if (live)
        live->live_prev = e;
    live = e;
    pthread_mutex_unlock(&live_mu);
    return 0;
}

static void xrt_close(qv_device *d)
{
    xrt_device *e = (xrt_device *)d;
    pthread_mutex_lock(&live_mu);
    if (e->live_prev)
        e->live_prev->live_next = e->live_next;
    else if (live == e)
        live = e->live_next;
    if (e->live_next)
        e->live_next->live_prev = e->live_prev;
    e->live_prev = e->live_next = NULL;
    pthread_mutex_unlock(&live_mu);
    if (enter()) { /* (after the exit handler: nothing to close, or XRT gone) */
        close_handles(e);
        leave();
    }
    free(e->k);
    qv__xclbin_destroy(e->meta);
}

static int alloc_in(xrt_device *e, size_t n, unsigned bank, qv_devmem **out)
{
    int inj = qv__fault_hit("xrt", QV_FAULT_ALLOC);
    if (inj)
        return qv__fail(inj, "injected allocation failure");
    qv_devmem *m = malloc(sizeof *m);
    if (!m)
        return QV_ENOMEM;
    /* Every argument of our builds is wired to bank 0 unless told
     * otherwise (quiver xclbin build --sp); a kernel's own group is
     * checked at launch. */
    m->bo = e->x->bo_alloc(e->dev, n, 0, bank);
    m->n = n;
    if (!m->bo) {
        free(m);
        return qv__fail(QV_ENOMEM, "%s: xrtBOAlloc(%zu bytes) failed", e->name, n);
    }
    pthread_mutex_lock(&live_mu);
    m->prev = NULL;
    m->next = e->bos;
    if (e->bos)
        e->bos->prev = m;
    e->bos = m;
    pthread_mutex_unlock(&live_mu);
    *out = m;
    return 0;
}

static int xrt_alloc(qv_device *d, size_t n, unsigned bank, qv_devmem **out)
{
    xrt_device *e = (xrt_device *)d;
    if (!enter())
        return refused(e);
    int rc = alloc_in(e, n, bank, out);
    leave();
    return rc;
}

static void xrt_free(qv_device *d, qv_devmem *m)
{
    xrt_device *e = (xrt_device *)d;
    if (m) {
        pthread_mutex_lock(&live_mu);
        if (m->prev)
            m->prev->next = m->next;
        else
            e->bos = m->next;
        if (m->next)
            m->next->prev = m->prev;
        void *bo = m->bo; /* NULL: freed by the exit handler */
        pthread_mutex_unlock(&live_mu);
        if (bo && enter()) {
            e->x->bo_free(bo);
            leave();
        }
        free(m);
    }
}

static int xrt_write(qv_device *d, qv_devmem *dst, size_t off, const void *src, size_t n,
                     qv_event **ev)
{
    xrt_device *e = (xrt_device *)d;
    if (ev)
        *ev = NULL;
    int inj = qv__fault_hit("xrt", QV_FAULT_WRITE);
    if (inj)
        return qv__fail(inj, "injected write failure");
    if (!enter())
        return refused(e);
    bool bad = e->x->bo_write(dst->bo, src, n, off) != 0 ||
               e->x->bo_sync(dst->bo, QV__XRT_SYNC_TO_DEVICE, n, off) != 0;
    leave();
    return bad ? qv__fail(QV_EIO, "%s: copy of %zu bytes to the card failed", e->name, n)
               : 0;
}

static int xrt_read(qv_device *d, void *dst, qv_devmem *src, size_t off, size_t n,
                    qv_event **ev)
{
    xrt_device *e = (xrt_device *)d;
    if (ev)
        *ev = NULL;
    int inj = qv__fault_hit("xrt", QV_FAULT_READ);
    if (inj)
        return qv__fail(inj, "injected read failure");
    if (!enter())
        return refused(e);
    bool bad = e->x->bo_sync(src->bo, QV__XRT_SYNC_FROM_DEVICE, n, off) != 0 ||
               e->x->bo_read(src->bo, dst, n, off) != 0;
    leave();
    return bad ? qv__fail(QV_EIO, "%s: copy of %zu bytes from the card failed", e->name,
                          n)
               : 0;
}

/* Loads path on the card (after our reader accepted it) unless it is there;
 * either way, checks that its kernel ck is as the catalog says: once per
 * function a device opens (a second kernel of a loaded file went
 * unchecked: code review), from the metadata kept of the loaded file, so
 * that the file is read once. */
static int load_xclbin(xrt_device *e, const char *path, const qv__kernel *ck)
{
    const char *kernel = ck->name;
    if (e->meta && !strcmp(e->loaded, path)) {
        const qv__xclbin_kernel *xk = qv__xclbin_kernel_find(e->meta, kernel);
        return xk ? qv__kernel_matches_xclbin(ck, xk, path)
                  : qv__fail(QV_ENOTSUP, "%s does not hold that kernel", path);
    }
    uint8_t *data;
    qv__xclbin *xb;
    int rc = qv__xclbin_read(path, (size_t)1 << 31, &data, &xb);
    if (rc)
        return rc;
    bool emu = xb->mode == QV__XCLBIN_SW_EMU || xb->mode == QV__XCLBIN_HW_EMU;
    const qv__xclbin_kernel *xk = qv__xclbin_kernel_find(xb, kernel);
    /* Vitis emulation builds make XRT exit the process or hang without
     * Vitis (research note, section 4): they run on emulated boards. */
    if ((emu && !e->x->noop) || !xk)
        rc = qv__fail(QV_ENOTSUP, "%s %s", path,
                      xk ? "is an emulation build: it runs on emulated boards"
                         : "does not hold that kernel");
    else
        rc = qv__kernel_matches_xclbin(ck, xk, path);
    if (rc) {
        qv__xclbin_destroy(xb);
        free(data);
        return rc;
    }
    /* Kernels of the file loaded before are gone with it. */
    for (size_t i = 0; i < e->nk; i++) {
        if (e->k[i].k)
            e->x->kernel_close(e->k[i].k);
        e->k[i].k = NULL;
        e->k[i].state = 0;
    }
    e->loaded[0] = 0;
    qv__xclbin_destroy(e->meta);
    e->meta = NULL;
    rc = e->x->load_xclbin(e->dev, data);
    free(data);
    /* Only the metadata is kept: the bitstream pointed into data. */
    xb->bitstream = NULL;
    xb->bitstream_size = 0;
    if (rc != 0) {
        qv__xclbin_destroy(xb);
        return qv__fail(QV_EIO, "%s: XRT refused to load %s", e->name, path);
    }
    snprintf(e->loaded, sizeof e->loaded, "%s", path);
    memcpy(e->uuid, xb->uuid, sizeof e->uuid);
    e->meta = xb;
    return 0;
}

static int kernel_of(xrt_device *e, const qv_func *f, xrt_kernel **out)
{
    void *grown = qv__dev_table_grow(e->k, &e->nk, f->id, sizeof *e->k);
    if (!grown)
        return QV_ENOMEM;
    e->k = grown;
    xrt_kernel *xk = &e->k[f->id];
    const qv__kernel *ck = f->kernel;
    if (xk->state && xk->cat != ck) { /* qv_func_set_fpga named another */
        if (xk->k)
            e->x->kernel_close(xk->k);
        xk->k = NULL;
        xk->state = 0;
    }
    xk->cat = ck;
    if (xk->state < 0)
        return qv__fail(QV_ENOTSUP, "kernel of '%s' failed on %s", f->name, e->name);
    const char *path;
    int rc = qv__fpga_kernel_for(f, e->board, &ck, &path);
    if (!rc)
        rc = load_xclbin(e, path, ck);
    if (!rc && !xk->k) {
        xk->k = qv__xrt_kernel_open(e->x, e->dev, e->uuid, ck->name);
        if (!xk->k)
            rc = qv__fail(QV_ENOTSUP, "%s: XRT has no kernel '%s' in %s", e->name,
                          ck->name, path);
        else
            qv__log(2, "%s: kernel '%s' of '%s' opened from %s", e->name, ck->name, f->name,
                    path);
    }
    if (rc) {
        xk->state = -1;
        return rc;
    }
    xk->state = 1;
    *out = xk;
    return 0;
}

static int xrt_prepare(qv_device *d, const qv_func *f)
{
    xrt_device *e = (xrt_device *)d;
    if (!enter())
        return refused(e);
    xrt_kernel *xk;
    int rc = kernel_of(e, f, &xk);
    leave();
    return rc;
}

static int wait_in(xrt_device *e, void *run, int64_t timeout_ns);

static int launch_in(xrt_device *e, const qv_launch *l, qv_event **ev)
{
    xrt_kernel *xk;
    int rc = kernel_of(e, l->func, &xk);
    if (rc)
        return rc;
    void *run = e->x->run_open(xk->k);
    if (!run)
        return qv__fail(QV_EIO, "%s: xrtRunOpen failed", e->name);
    const qv_call *c = l->call;
    for (unsigned i = 0; i < c->nargs && !rc; i++) {
        /* Scalars through varargs: XRT reads as many bytes as the
         * argument's register holds; 4-byte values travel as unsigned int
         * (promoted), 8-byte ones as uint64_t. */
        if (l->func->args[i].is_buf) {
            if (!l->mem[i])
                rc = qv__fail(QV_EINVAL, "%s: argument %u has no device buffer", e->name, i);
            else
                rc = e->x->run_set_arg(run, (int)i, l->mem[i]->bo);
        } else if (c->size[i] <= 4) {
            unsigned v = 0;
            memcpy(&v, c->ptr[i], c->size[i]);
            rc = e->x->run_set_arg(run, (int)i, v);
        } else if (c->size[i] == 8) {
            uint64_t v;
            memcpy(&v, c->ptr[i], 8);
            rc = e->x->run_set_arg(run, (int)i, v);
        } else {
            rc = qv__fail(QV_ENOTSUP, "%s: scalar argument %u of %zu bytes", e->name, i,
                          c->size[i]);
        }
        if (rc > 0)
            rc = qv__fail(QV_ENOTSUP, "%s: XRT refused argument %u", e->name, i);
    }
    if (!rc && e->x->run_start(run) != 0)
        rc = qv__fail(QV_EIO, "%s: xrtRunStart failed", e->name);
    if (rc) {
        e->x->run_close(run);
        return rc;
    }
    if (ev) {
        *ev = (qv_event *)run;
        return 0;
    }
    return wait_in(e, run, -1);
}

static int xrt_launch(qv_device *d, const qv_launch *l, qv_event **ev)
{
    xrt_device *e = (xrt_device *)d;
    if (ev)
        *ev = NULL;
    int inj = qv__fault_hit("xrt", QV_FAULT_LAUNCH);
    if (inj)
        return qv__fail(inj, "injected launch failure");
    if (!enter())
        return refused(e);
    int rc = launch_in(e, l, ev);
    leave();
    return rc;
}

static int wait_in(xrt_device *e, void *ev, int64_t timeout_ns)
{
    unsigned ms = timeout_ns < 0 ? 0 : (unsigned)((timeout_ns + 999999) / 1000000);
    int state = e->x->run_wait_for(ev, ms);
    static pthread_once_t late = PTHREAD_ONCE_INIT;
    pthread_once(&late, at_exit_late);
    if (qv__fault_hit("xrt", QV_FAULT_WAIT))
        state = QV__ERT_TIMEOUT;
    e->x->run_close(ev);
    if (state == QV__ERT_COMPLETED)
        return 0;
    if (state == QV__ERT_TIMEOUT)
        return qv__fail(QV_ETIMEDOUT, "%s: run did not finish within %u ms", e->name, ms);
    return qv__fail(QV_EIO, "%s: run ended in state %d", e->name, state);
}

static int xrt_wait(qv_device *d, qv_event *ev, int64_t timeout_ns)
{
    xrt_device *e = (xrt_device *)d;
    if (!enter())
        return refused(e); /* (the run's handle left to the process's end) */
    int rc = wait_in(e, ev, timeout_ns);
    leave();
    return rc;
}

static int xrt_query(qv_device *d, int what, void *out, size_t size)
{
    xrt_device *e = (xrt_device *)d;
    return qv__dev_query_basic(what, out, size, 1, e->name, e->board ? e->board->memory : 0);
}

const struct qv_device_ops qv__xrt_ops = {
    .name = "xrt",
    .cls = QV_CLASS_FPGA,
    .dev_size = sizeof(xrt_device),
    .probe = xrt_probe,
    .open = xrt_open,
    .close = xrt_close,
    .alloc = xrt_alloc,
    .free = xrt_free,
    .write = xrt_write,
    .read = xrt_read,
    .launch = xrt_launch,
    .wait = xrt_wait,
    .query = xrt_query,
    .prepare = xrt_prepare,
};
