/*
 * xrt_lib.c - loads XRT once per process (see xrt_lib.h for the rules).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/proc_threads.h"
#include "devices/xrt_lib.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static qv__xrt_api api;
static int loaded;
static char error[200];

/* POSIX dlsym returns object pointers; converting them to function pointers
 * through memcpy is the portable spelling. */
#define SYM(lib, field, name)                                                            \
    do {                                                                                 \
        void *p_ = dlsym((lib), (name));                                                 \
        if (!p_) { /* the first one missing named, not the last */                       \
            if (ok)                                                                      \
                snprintf(error, sizeof error, "%s lacks %s", api.shim, (name));          \
            ok = 0;                                                                      \
        } else                                                                           \
            memcpy(&api.field, &p_, sizeof p_);                                          \
    } while (0)

static void load(void)
{
    static const char *const shims[] = { "libxrt_core.so.2", "libxrt_noop.so.2",
                                         "libxrt_hwemu.so.2", "libxrt_swemu.so.2" };
    void *shim = NULL;
    for (size_t i = 0; i < 4 && !shim; i++)
        if ((shim = dlopen(shims[i], RTLD_NOW | RTLD_NOLOAD)))
            snprintf(api.shim, sizeof api.shim, "%s", shims[i]);
    if (!shim) {
        const char *mode = getenv("QV_XRT_SHIM");
        snprintf(api.shim, sizeof api.shim, "%s",
                 mode && !strcmp(mode, "noop") ? "libxrt_noop.so.2" : "libxrt_core.so.2");
        /* RTLD_GLOBAL: XRT's own libraries resolve the shim's symbols. */
        shim = dlopen(api.shim, RTLD_NOW | RTLD_GLOBAL);
    }
    if (!shim) {
        const char *e = dlerror();
        snprintf(error, sizeof error, "%.190s", e ? e : api.shim);
        return;
    }
    api.noop = !strcmp(api.shim, "libxrt_noop.so.2");
    int ok = 1;
    SYM(shim, probe, "xclProbe");
    SYM(shim, hal_open, "xclOpen");
    SYM(shim, hal_info, "xclGetDeviceInfo2");
    SYM(shim, hal_close, "xclClose");
    if (!ok)
        return; /* unusable; stays loaded */
    loaded = 1;
    void *core = dlopen("libxrt_coreutil.so.2", RTLD_NOW | RTLD_GLOBAL);
    if (!core)
        return; /* discovery still works; the backend reports it */
    SYM(core, dev_open, "xrtDeviceOpen");
    SYM(core, dev_close, "xrtDeviceClose");
    SYM(core, load_xclbin, "xrtDeviceLoadXclbin");
    SYM(core, kernel_open, "xrtPLKernelOpen");
    SYM(core, kernel_close, "xrtKernelClose");
    SYM(core, arg_group, "xrtKernelArgGroupId");
    SYM(core, bo_alloc, "xrtBOAlloc");
    SYM(core, bo_free, "xrtBOFree");
    SYM(core, bo_write, "xrtBOWrite");
    SYM(core, bo_read, "xrtBORead");
    SYM(core, bo_sync, "xrtBOSync");
    SYM(core, run_open, "xrtRunOpen");
    SYM(core, run_set_arg, "xrtRunSetArg");
    SYM(core, run_start, "xrtRunStart");
    SYM(core, run_wait_for, "xrtRunWaitFor");
    SYM(core, run_close, "xrtRunClose");
    if (!ok)
        api.dev_open = NULL;
}

const qv__xrt_api *qv__xrt_api_get(char *why, size_t size)
{
    pthread_once(&once, load);
    if (!loaded && why)
        snprintf(why, size, "%s", error);
    return loaded ? &api : NULL;
}

/* ---- threads XRT starts ------------------------------------------------ */

#define MAX_TASKS 4096

void *qv__xrt_kernel_open(const qv__xrt_api *x, void *dev, const unsigned char *uuid,
                          const char *name)
{
    static long before[MAX_TASKS], after[MAX_TASKS];
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu); /* the arrays; and one open's threads at a time */
    size_t nb = qv__proc_threads(before, MAX_TASKS);
    nb = nb < MAX_TASKS ? nb : MAX_TASKS;
    void *k = x->kernel_open(dev, uuid, name);
    size_t na = nb ? qv__proc_threads(after, MAX_TASKS) : 0;
    na = na < MAX_TASKS ? na : MAX_TASKS;
    /* XRT's threads take the name of the thread that starts them: others
     * that a program starts meanwhile, which may keep running, are not
     * waited for. */
    char self[16] = "";
    pthread_getname_np(pthread_self(), self, sizeof self);
    for (size_t i = 0; i < na; i++) {
        bool old = false;
        for (size_t j = 0; j < nb && !old; j++)
            old = after[i] == before[j];
        /* A new thread: wait (1 s at most for each) until it sleeps,
         * yielding the core it may be waiting for. */
        for (int tries = 0; !old && tries < 10000; tries++) {
            qv__proc_thread t;
            if (qv__proc_thread_get(after[i], &t) != 1 || t.state == 'S' ||
                t.state == 'D' || t.state == 'Z' || t.state == 'X' ||
                strcmp(t.comm, self) != 0)
                break;
            nanosleep(&(struct timespec){ 0, 100000 }, NULL);
        }
    }
    pthread_mutex_unlock(&mu);
    return k;
}
