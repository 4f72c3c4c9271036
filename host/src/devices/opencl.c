/*
 * opencl.c - the OpenCL backend (the gpu class): any OpenCL 1.2 device the
 * ICD loader lists. Tested on PoCL, which runs OpenCL on the CPU.
 *
 * Each device gets its own context and in-order queue. A function's program
 * is built once per device and implementation (qv_func_set_opencl again
 * builds the new one) and kept; built binaries are also cached on disk
 * under $XDG_CACHE_HOME/quiver/opencl, keyed by a hash of the source, the
 * build options and the device and driver versions, so a later run skips
 * the compiler (PoCL takes about a second per program cold). A build that
 * may read other files is not cached: the key cannot see them (a source
 * with the word "include" or "import", options with -I). A cached file
 * carries its length and checksum, checked before the driver sees it (a
 * damaged binary crashed PoCL). A build error is reported with its build
 * log, and the runtime runs the function on the CPU from then on
 * (QV_ENOTSUP, see device.h); so does a kernel whose arguments are not the
 * function's (a buffer where it takes a scalar, or the reverse: the driver
 * would take a cl_mem for a number, or crash), or that needs more local
 * memory than the device has.
 *
 * Kernels run on the device's in-order queue, copies on a second queue of
 * its own, as StarPU's transfer queues: a read does not wait for a kernel
 * that has nothing to do with it (on the queue of kernels, a CPU task
 * reading the GPU's copy of one buffer waited for the GPU's kernel on
 * another, and for ever behind one that never ends). The runtime orders
 * the two: a copy is made before the launch that uses it (the calls
 * block), and a kernel's outputs are read after its run ended.
 *
 * A run is waited for until its deadline (qv_launch.limit_ns, through the
 * event's completion callback: OpenCL 1.2 has no timed wait). A run past
 * it fails with QV_ETIMEDOUT and the device leaves service while the
 * kernel goes on (a thread cannot be stopped, nor can a queued kernel);
 * the callback tells the runtime when it ends (the device gets a probe).
 * One that never ends keeps its queue and context at the close: the device
 * leaks instead of hanging the program in clFinish.
 *
 * Locking: a device is driven by one thread (its driver, devq.c), so the
 * per-device program table needs no lock; alloc/free/read/write may come
 * from any thread (coherence copies), and OpenCL calls are thread-safe
 * except clSetKernelArg, which only the driver thread calls. mu guards the
 * run's end (run, hung, closed), which the driver's wait and the
 * driver's (OpenCL's) callback thread share.
 */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "core/sigkeep.h"
#include "core/thread.h"
#include "devices/device.h"
#include "discovery/discovery.h"
#include "qv_file.h"

typedef struct ocl_prog {
    cl_program prog;
    cl_kernel  kern;
    int        state; /* 0 not built, 1 ready, -1 failed */
    unsigned   gen;   /* of the implementation built (qv__ocl.gen) */
} ocl_prog;

typedef struct ocl_device {
    qv_device        base;
    cl_device_id     id;
    cl_context       ctx;
    cl_command_queue q;           /* kernels */
    cl_command_queue cq;          /* copies */
    char             name[128];
    char             version[256]; /* device + driver versions, for the cache key */
    uint64_t         mem;
    cl_ulong         local_mem;   /* bytes of __local memory a work-group may use */
    ocl_prog        *progs;       /* by function id */
    size_t           nprogs;
    /* The run's end (one at a time: the runtime drives a device with one
     * task in flight). */
    pthread_mutex_t  mu;
    pthread_cond_t   cv;          /* monotonic */
    cl_event run;                 /* the launch waited for; NULL once it ended */
    bool             hung;        /* its wait timed out, and the run goes on */
    bool telling;                 /* the callback tells the runtime (unlocked) */
    bool             closed;      /* the runtime is gone: its callback tells no one */
} ocl_device;

struct qv_devmem {
    cl_mem mem;
};

/* Error codes of OpenCL calls, for messages. */
static const char *cl_err(cl_int e)
{
    switch (e) {
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_ARG_VALUE: return "CL_INVALID_ARG_VALUE";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_BINARY: return "CL_INVALID_BINARY";
    case -1001: return "no OpenCL platform (CL_PLATFORM_NOT_FOUND_KHR)";
    default: return "OpenCL error";
    }
}

/* Opens the device that discovery found: b is its entry in the pool (a
 * qv__found), so that OpenCL platforms are listed in one place
 * (discovery/opencl.c, which also keeps away from ICDs that would abort). */
static int ocl_open(qv_device *d, unsigned idx, const void *b)
{
    (void)idx;
    ocl_device *o = (ocl_device *)d;
    const qv__found *found = b;
    if (!found || !found->cl_dev)
        return QV_ENOENT;
    o->id = found->cl_dev;
    cl_int err;
    qv__sigkeep_enter(); /* an ICD may install signal handlers of its own */
    o->ctx = clCreateContext(NULL, 1, &o->id, NULL, NULL, &err);
    qv__sigkeep_leave();
    if (!o->ctx)
        return qv__fail(QV_ENODEV, "clCreateContext: %s", cl_err(err));
    o->q = clCreateCommandQueue(o->ctx, o->id, 0, &err);
    if (o->q)
        o->cq = clCreateCommandQueue(o->ctx, o->id, 0, &err);
    if (!o->cq) {
        if (o->q)
            clReleaseCommandQueue(o->q);
        clReleaseContext(o->ctx);
        o->q = NULL;
        o->ctx = NULL;
        return qv__fail(QV_ENODEV, "clCreateCommandQueue: %s", cl_err(err));
    }
    pthread_mutex_init(&o->mu, NULL);
    qv__cond_init_monotonic(&o->cv);
    char dev[96] = "", drv[64] = "", ver[64] = "";
    clGetDeviceInfo(o->id, CL_DEVICE_NAME, sizeof dev, dev, NULL);
    clGetDeviceInfo(o->id, CL_DRIVER_VERSION, sizeof drv, drv, NULL);
    clGetDeviceInfo(o->id, CL_DEVICE_VERSION, sizeof ver, ver, NULL);
    cl_ulong mem = 0;
    clGetDeviceInfo(o->id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    cl_device_type type = 0;
    clGetDeviceInfo(o->id, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    d->on_host = (type & CL_DEVICE_TYPE_CPU) != 0; /* PoCL's CPU device */
    /* Such a device spreads a kernel's work-groups over its compute units,
     * the host's cores: a 64 x 64 tile's kernel kept 1.7 of 2 cores busy
     * under PoCL, and plans that counted one core for it ran 2x slower
     * than they predicted (bench/loop --pays, Cholesky). */
    cl_uint cu = 1;
    clGetDeviceInfo(o->id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    d->host_units = d->on_host ? (cu ? cu : 1) : 0;
    o->mem = mem;
    clGetDeviceInfo(o->id, CL_DEVICE_LOCAL_MEM_SIZE, sizeof o->local_mem, &o->local_mem, NULL);
    snprintf(o->name, sizeof o->name, "OpenCL %s", dev);
    snprintf(o->version, sizeof o->version, "%s|%s|%s", dev, ver, drv);
    return 0;
}

static void ocl_close(qv_device *d)
{
    ocl_device *o = (ocl_device *)d;
    if (o->cq) {
        pthread_mutex_lock(&o->mu);
        o->closed = true;
        while (o->telling) /* the runtime goes: the callback is done with it */
            pthread_cond_wait(&o->cv, &o->mu);
        bool hung = o->hung;
        pthread_mutex_unlock(&o->mu);
        if (hung) {
            /* clFinish would wait for it for ever, and its callback
             * still comes to o when it ends. */
            qv__log(
                1,
                "%s: a kernel run past its deadline was still going at the close "
                "(it may never end); its queues, programs and context are left behind",
                o->name);
            d->leak = true;
            return;
        }
    }
    for (size_t i = 0; i < o->nprogs; i++) {
        if (o->progs[i].kern)
            clReleaseKernel(o->progs[i].kern);
        if (o->progs[i].prog)
            clReleaseProgram(o->progs[i].prog);
    }
    free(o->progs);
    if (o->cq) {
        clFinish(o->q);
        clReleaseCommandQueue(o->q);
        clReleaseCommandQueue(o->cq); /* (its copies block: nothing queued) */
        pthread_mutex_destroy(&o->mu);
        pthread_cond_destroy(&o->cv);
    }
    if (o->ctx)
        clReleaseContext(o->ctx);
}

static int ocl_alloc(qv_device *d, size_t n, unsigned bank, qv_devmem **out)
{
    (void)bank;
    ocl_device *o = (ocl_device *)d;
    int inj = qv__fault_hit("opencl", QV_FAULT_ALLOC);
    if (inj)
        return qv__fail(inj, "injected allocation failure");
    qv_devmem *m = malloc(sizeof *m);
    if (!m)
        return QV_ENOMEM;
    cl_int err;
    m->mem = clCreateBuffer(o->ctx, CL_MEM_READ_WRITE, n, NULL, &err);
    if (!m->mem) {
        free(m);
        return qv__fail(err == CL_INVALID_BUFFER_SIZE ||
                                err == CL_MEM_OBJECT_ALLOCATION_FAILURE ||
                                err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY
                            ? QV_ENOMEM
                            : QV_EIO,
                        "clCreateBuffer(%zu bytes) on %s: %s", n, o->name, cl_err(err));
    }
    *out = m;
    return 0;
}

static void ocl_free(qv_device *d, qv_devmem *m)
{
    (void)d;
    if (m) {
        clReleaseMemObject(m->mem);
        free(m);
    }
}

static int ocl_write(qv_device *d, qv_devmem *dst, size_t off, const void *src, size_t n,
                     qv_event **ev)
{
    ocl_device *o = (ocl_device *)d;
    if (ev)
        *ev = NULL;
    int inj = qv__fault_hit("opencl", QV_FAULT_WRITE);
    if (inj)
        return qv__fail(inj, "injected write failure");
    /* Waited for to its end, not only until src may be reused (all that
     * a blocking write promises): the kernel that reads it is enqueued on
     * the other queue, which sees a command's changes once it completed. */
    cl_event we = NULL;
    cl_int err =
        clEnqueueWriteBuffer(o->cq, dst->mem, CL_TRUE, off, n, src, 0, NULL, &we);
    if (err == CL_SUCCESS)
        err = clWaitForEvents(1, &we);
    if (we)
        clReleaseEvent(we);
    return err == CL_SUCCESS ? 0
                             : qv__fail(QV_EIO, "write to %s: %s", o->name, cl_err(err));
}

static int ocl_read(qv_device *d, void *dst, qv_devmem *src, size_t off, size_t n,
                    qv_event **ev)
{
    ocl_device *o = (ocl_device *)d;
    if (ev)
        *ev = NULL;
    int inj = qv__fault_hit("opencl", QV_FAULT_READ);
    if (inj)
        return qv__fail(inj, "injected read failure");
    cl_int err =
        clEnqueueReadBuffer(o->cq, src->mem, CL_TRUE, off, n, dst, 0, NULL, NULL);
    return err == CL_SUCCESS ? 0
                             : qv__fail(QV_EIO, "read from %s: %s", o->name, cl_err(err));
}

/* FNV-1a, 64 bits: the disk cache's key (over strings) and checksum. */
#define FNV_OFFSET 0xcbf29ce484222325ull
static uint64_t fnv_bytes(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t fnv(uint64_t h, const char *s)
{
    h = fnv_bytes(h, (const unsigned char *)s, s ? strlen(s) : 0);
    return (h ^ 0xff) * 0x100000001b3ull; /* separator between fields */
}

/* Whether a build of src with options may read other files, which the
 * cache key cannot see: an include path in the options, or the words
 * "include" or "import" anywhere in the source. Looked for as words, not
 * as directives: a BOM, a line continuation between '#' and the name, a
 * digraph ("%:include") or a CR line end each hid one from a parse of
 * directives, and a changed header then built from the stale binary
 * (adversarial testing). A comment that names them costs a cache miss. */
static bool reads_files(const char *src, const char *options)
{
    return (src && (strstr(src, "include") || strstr(src, "import"))) ||
           (options && strstr(options, "-I"));
}

static int cache_path(const ocl_device *o, const qv_opencl_impl *im, char *out, size_t n)
{
    if (reads_files(im->source, im->options))
        return -1;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char dir[4096];
    if (xdg && *xdg)
        snprintf(dir, sizeof dir, "%s/quiver/opencl", xdg);
    else if (home && *home)
        snprintf(dir, sizeof dir, "%s/.cache/quiver/opencl", home);
    else
        return -1;
    uint64_t h = fnv(FNV_OFFSET, im->source);
    h = fnv(h, im->options);
    h = fnv(h, o->version);
    int k = snprintf(out, n, "%s/%016llx.bin", dir, (unsigned long long)h);
    return k > 0 && (size_t)k < n ? 0 : -1;
}

/* A cached binary is this header, then the binary: a file cut short or
 * changed on disk is seen as such before the driver parses it. */
#define CACHE_MAGIC "QVCLBIN1"
typedef struct cache_head {
    char     magic[8];
    uint64_t size; /* of the binary that follows */
    uint64_t sum;  /* FNV-1a of it */
} cache_head;

static void save_binary(cl_program p, const char *path)
{
    size_t size = 0;
    if (clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) != CL_SUCCESS ||
        size == 0)
        return;
    unsigned char *bin = malloc(size);
    if (!bin)
        return;
    unsigned char *bins[1] = { bin };
    if (clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS) {
        /* mkdir -p of the cache directory, then write and rename. */
        char dir[4200];
        snprintf(dir, sizeof dir, "%s", path);
        for (char *s = dir + 1; *s; s++)
            if (*s == '/') {
                *s = 0;
                mkdir(dir, 0755);
                *s = '/';
            }
        char tmp[4300];
        snprintf(tmp, sizeof tmp, "%s.%ld", path, (long)getpid());
        FILE *f = fopen(tmp, "wb");
        if (f) {
            cache_head h;
            memcpy(h.magic, CACHE_MAGIC, sizeof h.magic);
            h.size = size;
            h.sum = fnv_bytes(FNV_OFFSET, bin, size);
            int ok = fwrite(&h, sizeof h, 1, f) == 1 && fwrite(bin, 1, size, f) == size;
            ok &= fclose(f) == 0;
            if (!ok || rename(tmp, path) != 0)
                unlink(tmp);
        }
    }
    free(bin);
}

/* The cached binary at path, checked; NULL (and *len 0) when there is none
 * or it is damaged. */
static unsigned char *load_binary(const char *path, size_t *len)
{
    *len = 0;
    /* Opened as a user's file is: a FIFO or a device put there is not
     * waited on (a FIFO held the device's thread for ever: adversarial
     * testing), only a regular file is read. */
    int fd;
    uint64_t size;
    if (qv__file_open(path, (256u << 20) + sizeof(cache_head) + 1, &fd, &size, NULL))
        return NULL;
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        close(fd);
        return NULL;
    }
    cache_head h;
    unsigned char *bin = NULL;
    if (fread(&h, sizeof h, 1, fp) == 1 && !memcmp(h.magic, CACHE_MAGIC, sizeof h.magic) &&
        h.size > 0 && h.size < (256u << 20) && (bin = malloc((size_t)h.size)) != NULL &&
        fread(bin, 1, (size_t)h.size, fp) == h.size && fgetc(fp) == EOF &&
        fnv_bytes(FNV_OFFSET, bin, (size_t)h.size) == h.sum) {
        *len = (size_t)h.size;
    } else {
        qv__log(2, "OpenCL cache: %s is damaged or of another version; rebuilding", path);
        free(bin);
        bin = NULL;
    }
    fclose(fp);
    return bin;
}

/* The first line of a build log that reports an error (the one a person
 * needs), else the log's first line; trimmed in place. */
static const char *first_error(char *log)
{
    char *line = log, *pick = NULL;
    while (*line && !pick) {
        char *end = strchr(line, '\n');
        if (strstr(line, "error") && (!end || strstr(line, "error") < end))
            pick = line;
        if (!end)
            break;
        line = end + 1;
    }
    if (!pick)
        pick = log;
    pick[strcspn(pick, "\n")] = 0;
    /* The compiler names a temporary file: the line and column in the
     * kernel's source are what tells the user something. */
    char *cl = strstr(pick, ".cl:");
    if (cl) {
        cl += 4;
        memmove(pick, "line ", 5);
        memmove(pick + 5, cl, strlen(cl) + 1);
    }
    return *pick ? pick : "(no build log)";
}

/* The build log of p on o, whole (up to 1 MiB); malloc'd, or NULL. */
static char *build_log(const ocl_device *o, cl_program p)
{
    size_t n = 0;
    if (clGetProgramBuildInfo(p, o->id, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) != CL_SUCCESS)
        return NULL;
    if (n > (1u << 20))
        n = 1u << 20;
    char *log = calloc(1, n + 1);
    if (log && n && clGetProgramBuildInfo(p, o->id, CL_PROGRAM_BUILD_LOG, n, log, NULL) !=
                        CL_SUCCESS) {
        /* Longer than the cap: the first MiB is not to be had alone. */
        snprintf(log, n + 1, "(the build log is longer than 1 MiB)");
    }
    return log;
}

/* The build options: the user's, and argument info, which lets build()
 * check the kernel's arguments against the function's; malloc'd, whole
 * (options past 4 KiB were cut, silently: a -D lost, and the argument
 * check with it; adversarial testing), or NULL without memory. */
static char *build_options(const qv_opencl_impl *im)
{
    const char *user = im->options ? im->options : "";
    size_t n = strlen(user) + sizeof " -cl-kernel-arg-info";
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s-cl-kernel-arg-info", user, *user ? " " : "");
    return out;
}

/* Each of k's arguments against f's: a buffer for a global or constant
 * pointer, a scalar for a value. QV_EMISMATCH (with what differs) when
 * one does not match; 0 when they do, or the driver cannot say. */
static int check_args(const ocl_device *o, const qv_func *f, const qv_opencl_impl *im,
                      cl_kernel k)
{
    for (unsigned i = 0; i < f->nargs; i++) {
        cl_kernel_arg_address_qualifier aq = 0;
        if (clGetKernelArgInfo(k, i, CL_KERNEL_ARG_ADDRESS_QUALIFIER, sizeof aq, &aq, NULL) !=
            CL_SUCCESS)
            return 0; /* no argument info from this driver: launches will tell */
        if (aq == CL_KERNEL_ARG_ADDRESS_LOCAL)
            return qv__fail(QV_EMISMATCH, "OpenCL kernel '%s' on %s: argument %u is __local "
                            "memory, which a function's call cannot pass",
                            im->kernel, o->name, i);
        /* An image or a pipe is a global object too, but not a buffer: bound
         * as one, the driver crashed in the launch (adversarial testing). */
        cl_kernel_arg_access_qualifier acc = CL_KERNEL_ARG_ACCESS_NONE;
        if (clGetKernelArgInfo(k, i, CL_KERNEL_ARG_ACCESS_QUALIFIER, sizeof acc, &acc,
                               NULL) == CL_SUCCESS &&
            acc != CL_KERNEL_ARG_ACCESS_NONE)
            return qv__fail(QV_EMISMATCH,
                            "OpenCL kernel '%s' on %s: argument %u is an image "
                            "or a pipe, which a function's call cannot pass",
                            im->kernel, o->name, i);
        bool kbuf = aq == CL_KERNEL_ARG_ADDRESS_GLOBAL || aq == CL_KERNEL_ARG_ADDRESS_CONSTANT;
        if (kbuf != f->args[i].is_buf)
            return qv__fail(QV_EMISMATCH, "OpenCL kernel '%s' on %s: argument %u is a %s, "
                            "and of function '%s' a %s", im->kernel, o->name, i,
                            kbuf ? "pointer to memory" : "value",
                            f->name, f->args[i].is_buf ? "buffer" : "scalar");
    }
    return 0;
}

static int build_with(ocl_device *o, const qv_func *f, const qv_opencl_impl *im,
                      const char *opts, char *path, size_t npath, ocl_prog *pp);

/* Builds implementation im of f on o: from the disk cache when it holds
 * one that builds, else from source (and then fills the cache). */
static int build(ocl_device *o, const qv_func *f, const qv_opencl_impl *im, ocl_prog *pp)
{
    char path[4200];
    char *opts = build_options(im);
    if (!opts)
        return qv__fail(QV_ENOMEM, "OpenCL build of '%s': out of memory", f->name);
    int rc = build_with(o, f, im, opts, path, sizeof path, pp);
    free(opts);
    return rc;
}

/* build's work, with its options opts and room for the cache's path. */
static int build_with(ocl_device *o, const qv_func *f, const qv_opencl_impl *im,
                      const char *opts, char *path, size_t npath, ocl_prog *pp)
{
    cl_int err;
    bool cached = cache_path(o, im, path, npath) == 0;
    cl_program p = NULL;
    if (cached) {
        size_t len;
        unsigned char *bin = load_binary(path, &len);
        if (bin) {
            const unsigned char *bins[1] = { bin };
            cl_int st;
            p = clCreateProgramWithBinary(o->ctx, 1, &o->id, &len, bins, &st, &err);
            if (p && clBuildProgram(p, 1, &o->id, opts, NULL, NULL) != CL_SUCCESS) {
                clReleaseProgram(p); /* stale or foreign binary: rebuild */
                p = NULL;
            }
            free(bin);
        }
    }
    if (!p) {
        const char *src = im->source;
        p = clCreateProgramWithSource(o->ctx, 1, &src, NULL, &err);
        if (!p)
            return qv__fail(QV_EIO, "clCreateProgramWithSource: %s", cl_err(err));
        err = clBuildProgram(p, 1, &o->id, opts, NULL, NULL);
        if (err != CL_SUCCESS) {
            char *log = build_log(o, p);
            clReleaseProgram(p);
            /* A line of the log each: the log escapes a newline inside
             * a message (error.c). */
            qv__log(2, "OpenCL build log of '%s' on %s:%s", f->name, o->name,
                    log ? "" : " (none)");
            for (char *l = log, *nl; l && *l; l = nl ? nl + 1 : NULL) {
                if ((nl = strchr(l, '\n')) != NULL)
                    *nl = 0;
                qv__log(2, "  %s", l);
                if (nl)
                    *nl = '\n'; /* first_error reads the whole log */
            }
            int rc = qv__fail(QV_ENOTSUP, "OpenCL build of kernel '%s' of '%s' failed on %s: "
                              "%s", im->kernel, f->name, o->name,
                              log ? first_error(log) : cl_err(err));
            free(log);
            return rc;
        }
        if (cached)
            save_binary(p, path);
    }
    cl_kernel k = clCreateKernel(p, im->kernel, &err);
    if (!k) {
        clReleaseProgram(p);
        return qv__fail(QV_ENOTSUP, "OpenCL program of '%s' has no kernel '%s': %s",
                        f->name, im->kernel, cl_err(err));
    }
    cl_uint nargs = 0;
    cl_ulong lmem = 0;
    int rc = 0;
    err = clGetKernelInfo(k, CL_KERNEL_NUM_ARGS, sizeof nargs, &nargs, NULL);
    if (err == CL_SUCCESS && nargs != f->nargs)
        rc = qv__fail(QV_EMISMATCH, "OpenCL kernel '%s' takes %u arguments, function '%s' "
                      "%u", im->kernel, nargs, f->name, f->nargs);
    if (!rc)
        rc = check_args(o, f, im, k);
    /* Some drivers abort the process when a launch needs more local
     * memory than there is (PoCL does): refused here instead. */
    if (!rc && o->local_mem &&
        clGetKernelWorkGroupInfo(k, o->id, CL_KERNEL_LOCAL_MEM_SIZE, sizeof lmem, &lmem,
                                 NULL) == CL_SUCCESS && lmem > o->local_mem)
        rc = qv__fail(QV_ENOTSUP, "OpenCL kernel '%s' needs %llu bytes of local memory; %s "
                      "has %llu", im->kernel, (unsigned long long)lmem, o->name,
                      (unsigned long long)o->local_mem);
    if (rc) {
        clReleaseKernel(k);
        clReleaseProgram(p);
        return rc;
    }
    pp->prog = p;
    pp->kern = k;
    return 0;
}

/* The program slot of f on o, built on first use of f's current OpenCL
 * implementation, which *im is set to. */
static int program(ocl_device *o, const qv_func *f, ocl_prog **out, const qv_opencl_impl **im)
{
    const qv__ocl *cur = atomic_load_explicit(&f->ocl, memory_order_acquire);
    if (!cur)
        return qv__fail(QV_ENOTSUP, "'%s' has no OpenCL implementation", f->name);
    void *grown = qv__dev_table_grow(o->progs, &o->nprogs, f->id, sizeof *o->progs);
    if (!grown)
        return QV_ENOMEM;
    o->progs = grown;
    ocl_prog *pp = &o->progs[f->id];
    if (pp->gen != cur->gen) { /* set again since: the new one is built */
        if (pp->kern)
            clReleaseKernel(pp->kern);
        if (pp->prog)
            clReleaseProgram(pp->prog);
        *pp = (ocl_prog){ .gen = cur->gen };
    }
    if (pp->state < 0)
        return qv__fail(QV_ENOTSUP, "'%s' did not build on %s", f->name, o->name);
    if (pp->state == 0) {
        qv__sigkeep_enter(); /* PoCL's LLVM installs signal handlers when it compiles */
        int rc = build(o, f, &cur->impl, pp);
        qv__sigkeep_leave();
        pp->state = rc ? -1 : 1;
        if (rc)
            return rc;
    }
    *out = pp;
    *im = &cur->impl;
    return 0;
}

static int ocl_prepare(qv_device *d, const qv_func *f)
{
    ocl_prog *pp = NULL;
    const qv_opencl_impl *im = NULL;
    return program((ocl_device *)d, f, &pp, &im);
}

static int ocl_launch(qv_device *d, const qv_launch *l, qv_event **ev)
{
    ocl_device *o = (ocl_device *)d;
    const qv_func *f = l->func;
    if (ev)
        *ev = NULL;
    int inj = qv__fault_hit("opencl", QV_FAULT_LAUNCH);
    if (inj)
        return qv__fail(inj, "injected launch failure");
    ocl_prog *pp = NULL;
    const qv_opencl_impl *im = NULL;
    int rc = program(o, f, &pp, &im);
    if (rc)
        return rc;
    const qv_call *c = l->call;
    for (unsigned i = 0; i < c->nargs; i++) {
        cl_int err;
        if (f->args[i].is_buf) {
            cl_mem m = l->mem[i] ? l->mem[i]->mem : NULL;
            err = clSetKernelArg(pp->kern, i, sizeof m, &m);
        } else {
            err = clSetKernelArg(pp->kern, i, c->size[i], c->ptr[i]);
        }
        if (err != CL_SUCCESS)
            return qv__fail(QV_ENOTSUP, "'%s': argument %u does not fit kernel '%s': %s",
                            f->name, i, im->kernel, cl_err(err));
    }
    /* What the range function gives is the function's own doing, not the
     * device's, and this call's: QV_E2BIG (the call runs elsewhere, the
     * function's other calls still come here), not a fault that would take
     * the device out of service. As QV_ENOTSUP, one call whose range
     * function returned 0 for its sizes kept every later call of the
     * function off the device for good (adversarial testing). */
    size_t global[3] = { 0 }, local[3] = { 0 };
    qv__callback_begin(f->rt);
    unsigned dims = im->range(c, global, local);
    qv__callback_end();
    if (dims < 1 || dims > 3)
        return qv__fail(QV_E2BIG,
                        "'%s': its OpenCL range function returned %u "
                        "dimensions for this call (1 to 3)",
                        f->name, dims);
    unsigned nlocal = 0;
    for (unsigned i = 0; i < dims; i++)
        nlocal += local[i] != 0;
    if (nlocal && nlocal != dims)
        return qv__fail(QV_E2BIG,
                        "'%s': its OpenCL range function set %u of %u local "
                        "sizes for this call (all of them, or none to let the driver "
                        "choose)",
                        f->name, nlocal, dims);
    if (!global[0] || (dims > 1 && !global[1]) || (dims > 2 && !global[2])) {
        /* Nothing to do, unless the call has an output to write: its
         * device copy, never written, came home as the output, and the
         * call succeeded with garbage (adversarial testing). Such a call
         * runs elsewhere, as its CPU implementation has it. */
        for (unsigned i = 0; i < f->nargs; i++)
            if (f->args[i].is_buf && f->args[i].mode == QV_W && c->size[i])
                return qv__fail(QV_E2BIG,
                                "'%s': its OpenCL range function gave no work items for "
                                "this call, which would leave its output %u (%zu bytes) "
                                "unwritten; the call runs elsewhere",
                                f->name, i, c->size[i]);
        return 0;
    }
    /* Work-groups a dimension counts in 32 bits in drivers (PoCL died of a
     * division by zero at 2^32 of them: adversarial testing): this call's
     * size, not the function's, as a work-group size the device refuses. */
    for (unsigned i = 0; i < dims; i++) {
        size_t groups = global[i] / (local[i] ? local[i] : 1);
        if (groups > UINT32_MAX)
            return qv__fail(QV_E2BIG,
                            "'%s': its OpenCL range has %zu work-groups in "
                            "dimension %u (global %zu, local %zu): past the 2^32 - 1 a "
                            "driver counts",
                            f->name, groups, i, global[i], local[i]);
    }
    cl_event e;
    cl_int err = clEnqueueNDRangeKernel(o->q, pp->kern, dims, NULL, global,
                                        nlocal ? local : NULL, 0, NULL, &e);
    if (err != CL_SUCCESS)
        return qv__fail(err == CL_OUT_OF_RESOURCES || err == CL_MEM_OBJECT_ALLOCATION_FAILURE
                            ? QV_ENOMEM
                            /* this call's sizes, not the function: its
                             * other calls may fit */
                            : err == CL_INVALID_WORK_GROUP_SIZE ? QV_E2BIG : QV_EIO,
                        "launching '%s' on %s: %s", f->name, o->name, cl_err(err));
    /* Sent now: a driver may hold commands until a flush, and the wait's
     * callback does not flush (a wait for events does, or fails). */
    if (clFlush(o->q) != CL_SUCCESS)
        (void)clWaitForEvents(1, &e);
    if (ev)
        *ev = (qv_event *)e;
    else {
        err = clWaitForEvents(1, &e);
        clReleaseEvent(e);
        if (err != CL_SUCCESS)
            return qv__fail(QV_EIO, "'%s' on %s: %s", f->name, o->name, cl_err(err));
    }
    return 0;
}

/* The launch's event completed (OpenCL's thread): its wait ends. A run
 * that outlived its deadline tells the runtime, which may probe the device
 * again; not after the close (the runtime is gone; the close waits for a
 * telling that began). */
static void CL_CALLBACK run_done(cl_event e, cl_int status, void *arg)
{
    (void)status;
    ocl_device *o = arg;
    pthread_mutex_lock(&o->mu);
    if (e == o->run) {
        o->run = NULL;
        bool tell = o->hung && !o->closed;
        o->hung = false;
        pthread_cond_broadcast(&o->cv);
        if (tell) {
            /* Outside the lock (it logs; a callback must not block
             * OpenCL's thread on ours); the close waits for it. */
            o->telling = true;
            pthread_mutex_unlock(&o->mu);
            qv__devq_run_ended(o->base.rt, o->base.id);
            pthread_mutex_lock(&o->mu);
            o->telling = false;
            pthread_cond_broadcast(&o->cv);
        }
    }
    pthread_mutex_unlock(&o->mu);
}

/* Where no callback can be set: e's status looked at until it ends or
 * until end_ns (qv__now_ns), every 50 us to 1 ms. Whether it ended. */
static bool poll_until(cl_event e, uint64_t end_ns)
{
    for (long ns = 50000;; ns = ns * 2 < 1000000 ? ns * 2 : 1000000) {
        cl_int st = CL_COMPLETE;
        if (clGetEventInfo(e, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof st, &st, NULL) !=
                CL_SUCCESS ||
            st <= CL_COMPLETE)
            return true;
        if (qv__now_ns() >= end_ns)
            return false;
        nanosleep(&(struct timespec){0, ns}, NULL);
    }
}

static int ocl_wait(qv_device *d, qv_event *ev, int64_t timeout_ns)
{
    ocl_device *o = (ocl_device *)d;
    cl_event e = (cl_event)ev;
    int64_t limit = timeout_ns > 0 ? timeout_ns : INT64_MAX;
    struct timespec until = qv__deadline_in(limit);
    pthread_mutex_lock(&o->mu);
    o->run = e;
    pthread_mutex_unlock(&o->mu);
    bool ended;
    if (clSetEventCallback(e, CL_COMPLETE, run_done, o) == CL_SUCCESS) {
        pthread_mutex_lock(&o->mu);
        while (o->run == e && pthread_cond_timedwait(&o->cv, &o->mu, &until) != ETIMEDOUT)
            ;
        ended = o->run != e;
        o->hung = !ended; /* its callback tells the runtime when it ends */
        pthread_mutex_unlock(&o->mu);
    } else {
        pthread_mutex_lock(&o->mu);
        o->run = NULL;
        pthread_mutex_unlock(&o->mu);
        /* No callback: past its deadline, the device stays out of
         * service (nothing would tell when the run ends). */
        ended = poll_until(e, qv__now_ns() + (uint64_t)limit);
    }
    if (!ended) {
        clReleaseEvent(e); /* (kept by OpenCL until its command completed) */
        return qv__fail(QV_ETIMEDOUT, "%s: run still going after %lld ns", o->name,
                        (long long)timeout_ns);
    }
    int inj = qv__fault_hit("opencl", QV_FAULT_WAIT); /* tests: a run that fails */
    if (inj) {
        clReleaseEvent(e);
        return qv__fail(inj, "injected wait failure");
    }
    cl_int status = CL_COMPLETE;
    cl_int err = clGetEventInfo(e, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                                &status, NULL);
    clReleaseEvent(e);
    if (err != CL_SUCCESS || status < 0)
        return qv__fail(QV_EIO, "kernel on %s failed: %s", o->name,
                        cl_err(status < 0 ? status : err));
    return 0;
}

static int ocl_query(qv_device *d, int what, void *out, size_t size)
{
    ocl_device *o = (ocl_device *)d;
    return qv__dev_query_basic(what, out, size, 1, o->name, o->mem);
}

const struct qv_device_ops qv__opencl_ops = {
    .name = "opencl",
    .cls = QV_CLASS_GPU,
    .dev_size = sizeof(ocl_device),
    .open = ocl_open,
    .close = ocl_close,
    .alloc = ocl_alloc,
    .free = ocl_free,
    .write = ocl_write,
    .read = ocl_read,
    .launch = ocl_launch,
    .wait = ocl_wait,
    .query = ocl_query,
    .prepare = ocl_prepare,
};
