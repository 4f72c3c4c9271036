/*
 * discovery.h - the discovery backends behind the resource pool (pool.c).
 *
 * Each backend appends what it finds now to a qv__scan and fills its
 * qv_backend_report, saying why when it finds nothing. Backends run without
 * the pool's lock, one scan at a time, and must never abort the process:
 * XRT in particular is only ever reached through dlopen (xrt.c).
 */
#ifndef QV_DISCOVERY_H
#define QV_DISCOVERY_H

#include <stddef.h>

#include "config/board.h"
#include "quiver/config.h"

struct _cl_device_id;

typedef struct qv__found {
    qv_resource r;
    char key[256];               /* stable identity across scans */
    unsigned index;              /* the backend's own number (XRT: card) */
    struct _cl_device_id *cl_dev; /* OpenCL: the device, for the runtime */
} qv__found;

typedef struct qv__scan {
    qv__found *v;
    size_t n, cap;
    unsigned pci_xilinx; /* Xilinx/AMD FPGA cards on PCI */
    unsigned pci_gpu;    /* display or processing-accelerator devices */
    int pci_known;       /* the PCI devices were listed (pci.c) */
} qv__scan;

/* Appends a copy of f; QV_ENOMEM on failure. */
int qv__scan_add(qv__scan *s, const qv__found *f);
void qv__scan_fini(qv__scan *s);

/* Backends. Each returns 0 or QV_ENOMEM; "found nothing" is not an error. */
int qv__disc_hwloc(qv__scan *s, qv_backend_report *rep);
int qv__disc_opencl(qv__scan *s, qv_backend_report *rep);
int qv__disc_xrt(qv__scan *s, qv_backend_report *rep);
/* Loads the board files again; those that no longer load are left out and
 * the report says so. */
int qv__disc_boards(qv__scan *s, char *const *paths, size_t n, qv_backend_report *rep);

/* The runtime's view of the pool (core/devq.c): entry number index with
 * what the backend needs to open it; QV_ENOENT past the end. */
int qv__pool_entry(qv_pool *pool, size_t index, qv__found *out);
/* Starts (or re-times) the periodic rescan at ms > 0, so that a caller can
 * set its callback after the first scan and before any rescan. */
int qv__pool_set_rescan(qv_pool *pool, unsigned ms);

/* Counts the accelerator cards among the PCI devices of sysfs directory
 * dir (/sys/bus/pci/devices) into s; s->pci_known once dir is listed. */
void qv__pci_count(qv__scan *s, const char *dir);

/* The machine's hwloc topology (a hwloc_topology_t), loaded once for the
 * process without I/O devices (pci.c counts those); read-only, for any
 * thread. NULL when hwloc cannot load it. Discovery and the CPU backend
 * share it. */
struct hwloc_topology;
struct hwloc_topology *qv__hwloc_topology(void);

/* Free bytes of NUMA node `node` (or of the machine when node < 0), from
 * /sys and /proc; 0 when unknown. */
unsigned long long qv__mem_free(int node);

/* 1 when calling the OpenCL ICD loader would abort the process (XRT's ICD
 * registered, XILINX_XRT unset), with the reason in why. */
int qv__opencl_unsafe(char *why, size_t size);

#endif
