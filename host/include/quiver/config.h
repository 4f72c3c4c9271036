/*
 * quiver/config.h - configuration files and resource discovery.
 *
 * Quiver is configured by four kinds of YAML file: boards (boards/NAME.yaml),
 * the kernel catalog (config/kernels.yaml), the runtime policy
 * (config/quiver.yaml) and platforms (named resources for the planner). The
 * loaders are strict: an unknown key, a wrong type, a missing or duplicate key
 * or an out-of-range value is an error that names file, line and column, and
 * nothing is half-loaded. docs/config/ documents every key.
 *
 * Discovery fills a pool of resources (ResourceNodes) from hwloc, OpenCL, XRT
 * (loaded at run time, never linked) and the board files the configuration
 * lists, refreshes it periodically and lets a caller request, hold and
 * release one resource at a time. The runtime opens its devices from such a
 * pool (built from its policy), so qv_device_get and `quiver devices` name
 * the same devices the same way (docs/devices.md, "One list of devices").
 */
#ifndef QUIVER_CONFIG_H
#define QUIVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "quiver.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- diagnostics ------------------------------------------------------- */

/* Where and why a file was rejected. Filled by every loader on error; the
 * caller gives the storage, nothing needs freeing. line and column are
 * 1-based; 0 means the error concerns the whole file (it cannot be read, it
 * is empty...). */
typedef struct qv_diag {
    char file[1024];
    unsigned line;
    unsigned column;
    char message[1024];
} qv_diag;

/* Writes "file:line:col: error: message" (or "file: error: message" when
 * line is 0) into buf, always NUL-terminated. Returns the length it needed,
 * like snprintf. */
QV_API int qv_diag_format(const qv_diag *diag, char *buf, size_t size);

/* ---- checking files ---------------------------------------------------- */

typedef enum qv_config_kind {
    QV_CONFIG_UNKNOWN = 0,
    QV_CONFIG_BOARD,   /* has a top-level `kind` */
    QV_CONFIG_CATALOG, /* has `kernels` */
    QV_CONFIG_POLICY,  /* only runtime policy keys (`scheduler`, `log`...) */
    QV_CONFIG_PLATFORM /* has `resources` */
} qv_config_kind;

/* "board", "catalog", "policy", "platform" or "unknown". */
QV_API const char *qv_config_kind_name(qv_config_kind kind);

/* Loads the file at path as whichever kind its content says (see
 * qv_config_kind), validates it fully, including the files it names
 * (without opening a catalog's xclbins, which `quiver check` also does),
 * and frees it again. Returns 0, or QV_EFORMAT (the file is wrong), QV_ENOENT /
 * -errno (it cannot be read) or QV_ENOMEM, with diag filled. kind and diag
 * may be NULL. Thread-safe. */
QV_API int qv_config_check(const char *path, qv_config_kind *kind, qv_diag *diag);

/* ---- resources --------------------------------------------------------- */

/* One resource the runtime can place work on: a NUMA node's cores, an OpenCL
 * device, an XRT device, or a board from a board file (emulated or remote).
 * A copy: it does not change when the pool is rescanned. */
typedef struct qv_resource {
    unsigned id;               /* stable for as long as the resource is present */
    qv_class type;             /* cpu, gpu, fpga, remote */
    char name[128];            /* "cpu" (or "numa0"...), "pthread-skylake",
                                * "xrt0", "alveo-u250-emu": the name
                                * qv_device_get gives the runtime's device */
    char backend[16];          /* "hwloc", "opencl", "xrt", "emu", "remote" */
    char detail[256];          /* vendor platform, OpenCL platform, endpoint */
    unsigned units;            /* cores, compute units, or 1 */
    uint64_t memory;           /* bytes of the resource's own memory */
    uint64_t free_memory;      /* bytes, at the last scan */
    uint64_t max_alloc;        /* bytes of the largest single allocation */
    double busy;               /* 0..1, at the last scan (CPU: load average) */
    double cost_per_hour;      /* from the board file; 0 when unknown */
    double link_bandwidth_gbs; /* to host memory; 0 for CPU resources */
    double link_latency_us;
    int emulated;  /* 1 for an emulated board */
    int allocated; /* 1 while a qv_pool_request holds it */
    int on_host;   /* 1: its work runs on the host's CPU cores (an OpenCL CPU
                    * device such as PoCL, an emulated board) */
} qv_resource;

typedef struct qv_pool qv_pool;

/* What a pool scans. Initialise with qv_pool_options_init. */
typedef struct qv_pool_options {
    int hwloc;                 /* scan CPUs with hwloc (1) */
    int opencl;                /* scan OpenCL platforms (1) */
    int xrt;                   /* scan XRT devices, XRT dlopen'ed (1) */
    unsigned rescan_ms;        /* period of the rescan thread; 0 = none */
    const char *const *boards; /* board files to add (emulated, remote) */
    size_t nboards;
} qv_pool_options;

QV_API void qv_pool_options_init(qv_pool_options *opts);

/* Scans once and returns the pool. A board file that does not load fails the
 * call (diag says why; diag may be NULL), as does one listed twice
 * (QV_EEXIST); a backend that finds nothing does not (qv_pool_backend says
 * why). opts may be NULL for the defaults. When rescan_ms > 0 a thread
 * rescans at that period until qv_pool_destroy. */
QV_API int qv_pool_create(const qv_pool_options *opts, qv_pool **out, qv_diag *diag);

/* Stops the rescan thread and frees the pool. NULL is fine. */
QV_API void qv_pool_destroy(qv_pool *pool);

/* Number of resources present now. */
QV_API size_t qv_pool_count(qv_pool *pool);

/* Copies resource number index (0..count-1, in discovery order) into out.
 * QV_ENOENT past the end. */
QV_API int qv_pool_get(qv_pool *pool, size_t index, qv_resource *out);

/* Copies the resource with this id into out; QV_ENOENT if it is gone. */
QV_API int qv_pool_find(qv_pool *pool, unsigned id, qv_resource *out);

/* What one discovery backend found, and why it found nothing. */
typedef struct qv_backend_report {
    char name[16];  /* "hwloc", "opencl", "xrt", "boards" */
    unsigned count; /* resources it contributed */
    char why[256];  /* when count is 0: the reason; else a summary */
} qv_backend_report;

/* Copies the report of backend number index into out; QV_ENOENT past the
 * end. */
QV_API int qv_pool_backend(qv_pool *pool, size_t index, qv_backend_report *out);

/* Scans again now: availability is refreshed, and resources that appeared
 * or disappeared are reported to the callback. Safe from any thread except
 * the callback itself. */
QV_API int qv_pool_rescan(qv_pool *pool);

typedef enum qv_pool_event {
    QV_POOL_APPEARED = 1,
    QV_POOL_DISAPPEARED = 2
} qv_pool_event;

/* Called from the thread that rescans, with no pool lock held: r is a copy.
 * The callback may call qv_pool_get/find/request/release but not
 * qv_pool_rescan or qv_pool_destroy. */
typedef void (*qv_pool_callback)(void *arg, qv_pool_event ev, const qv_resource *r);

/* Sets (or with fn NULL, clears) the callback. */
QV_API int qv_pool_set_callback(qv_pool *pool, qv_pool_callback fn, void *arg);

/* What a caller needs from a resource. Zero fields are "any". */
typedef struct qv_resource_request {
    qv_class type;            /* required */
    uint64_t min_memory;      /* bytes of free memory at least */
    double max_cost_per_hour; /* 0 = no ceiling */
    int allow_emulated;       /* 0: only real hardware */
} qv_resource_request;

/* Picks the cheapest free resource that meets req (ties: most free memory,
 * then lowest id), marks it allocated and returns its id in *id. Returns
 * QV_ENODEV when no resource could ever meet req and QV_EBUSY when those
 * that could are all allocated. Thread-safe. */
QV_API int qv_pool_request(qv_pool *pool, const qv_resource_request *req, unsigned *id);

/* Releases a resource taken with qv_pool_request. QV_ENOENT if id is not
 * allocated. */
QV_API int qv_pool_release(qv_pool *pool, unsigned id);

#ifdef __cplusplus
}
#endif
#endif /* QUIVER_CONFIG_H */
