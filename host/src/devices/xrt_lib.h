/*
 * xrt_lib.h - XRT, loaded at run time: the HAL calls discovery needs and
 * the native C API the xrt backend drives, from one loader, so that one
 * process never loads two XRT shims (XRT aborts when it does).
 *
 * The rules of research/xrt-feasibility.md: a shim (libxrt_core.so.2 for
 * cards) is loaded before any XRT call, because XRT's own lazy loader
 * aborts the process when XILINX_XRT is unset; a shim the application
 * loaded itself is used as it is; XRT is never dlclose'd, whose static
 * destructors crash when run early. QV_XRT_SHIM=noop loads XRT's noop shim
 * instead: a test aid whose kernels never execute.
 *
 * Handles are void pointers, as in XRT's C headers, which are not needed to
 * build.
 */
#ifndef QV_DEVICES_XRT_LIB_H
#define QV_DEVICES_XRT_LIB_H

#include <stddef.h>
#include <stdint.h>

/* The leading fields of XRT's struct xclDeviceInfo2 (xrt/xrt.h), an ABI that
 * XRT keeps stable; the tail leaves room for the rest of the struct. */
struct qv__xclinfo {
    unsigned int magic;
    char name[256];
    unsigned short hal_major, hal_minor, vendor, device, subsystem, subsystem_vendor,
        device_version;
    size_t ddr_size; /* bytes */
    size_t data_alignment;
    size_t ddr_free_size; /* bytes */
    size_t min_transfer_size;
    unsigned short ddr_bank_count;
    unsigned short ocl_frequency[4];
    unsigned short pcie_link_width, pcie_link_speed;
    unsigned char rest[4096];
};

typedef struct qv__xrt_api {
    char shim[32];  /* the shim in use */
    int  noop;      /* 1: XRT's noop shim: nothing executes */
    /* HAL (the shim) */
    unsigned (*probe)(void);
    void *(*hal_open)(unsigned idx, const char *log, int level);
    int   (*hal_info)(void *h, struct qv__xclinfo *info);
    void  (*hal_close)(void *h);
    /* native C API (libxrt_coreutil); NULL when that library is missing */
    void *(*dev_open)(unsigned idx);
    int   (*dev_close)(void *dev);
    int   (*load_xclbin)(void *dev, const void *axlf);
    void *(*kernel_open)(void *dev, const unsigned char *uuid, const char *name);
    int   (*kernel_close)(void *k);
    int   (*arg_group)(void *k, int argno);
    void *(*bo_alloc)(void *dev, size_t size, uint64_t flags, uint32_t group);
    int   (*bo_free)(void *bo);
    int   (*bo_write)(void *bo, const void *src, size_t size, size_t seek);
    int   (*bo_read)(void *bo, void *dst, size_t size, size_t skip);
    int   (*bo_sync)(void *bo, int dir, size_t size, size_t offset);
    void *(*run_open)(void *k);
    int   (*run_set_arg)(void *run, int index, ...);
    int   (*run_start)(void *run);
    int   (*run_wait_for)(void *run, unsigned timeout_ms);
    int   (*run_close)(void *run);
} qv__xrt_api;

enum { QV__XRT_SYNC_TO_DEVICE = 0, QV__XRT_SYNC_FROM_DEVICE = 1 };
enum { QV__ERT_COMPLETED = 4, QV__ERT_TIMEOUT = 9 };

/* XRT, loaded once per process; NULL with the reason in why when it cannot
 * be. api->dev_open is NULL when only the HAL loaded. Thread-safe. */
const qv__xrt_api *qv__xrt_api_get(char *why, size_t size);

/* x->kernel_open, returning once the threads XRT started in it sleep.
 * XRT 2.13 starts a device's command monitor on its first kernel open and
 * stops it (xrtDeviceClose, or its exit handler) by setting a flag and
 * notifying the thread's condition variable without holding its mutex: a
 * monitor that had tested the flag but not yet waited sleeps for ever, and
 * the join hangs the process (1 exit in 20 with both cores busy here). A
 * monitor asleep in its wait cannot miss the notification. */
void *qv__xrt_kernel_open(const qv__xrt_api *x, void *dev, const unsigned char *uuid,
                          const char *name);

#endif
