/*
 * xrt.c - Alveo and Versal cards through XRT, loaded with dlopen and never
 * linked, so that Quiver builds and runs where XRT is absent.
 *
 * research/xrt-feasibility.md explains the rules followed here: load a shim
 * (libxrt_core.so.2) ourselves before any XRT call, because XRT's lazy
 * loader aborts the process when XILINX_XRT is unset; count cards with the
 * HAL's xclProbe, which is silent without a card (xrtDeviceOpen prints an
 * error); close every handle we open; and never dlclose XRT, whose static
 * destructors crash when run early.
 *
 * QV_XRT_SHIM=noop loads XRT's noop shim instead, which reports one fake
 * device (marked emulated): a test aid for this code path, not a way to run
 * kernels. A shim the application loaded itself is used as it is.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/discovery.h"

/* The leading fields of XRT's struct xclDeviceInfo2 (xrt/xrt.h), an ABI that
 * XRT keeps stable; the tail leaves room for the rest of the struct, so XRT
 * writes into memory we own. Declared here so that no XRT header is needed
 * to build. */
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

static struct {
    pthread_once_t once;
    void *lib;
    char error[200];
    char shim[32];
    unsigned (*probe)(void);
    void *(*open)(unsigned, const char *, int);
    int (*info)(void *, struct qv__xclinfo *);
    void (*close)(void *);
} xrt = {.once = PTHREAD_ONCE_INIT};

static void *sym(const char *name)
{
    void *p = dlsym(xrt.lib, name);
    if (!p)
        snprintf(xrt.error, sizeof xrt.error, "%s lacks %s", xrt.shim, name);
    return p;
}

static void load_xrt(void)
{
    /* XRT throws (and so aborts) when a second shim is loaded: if the
     * application already has one, use it. */
    static const char *const shims[] = {"libxrt_core.so.2", "libxrt_noop.so.2",
                                        "libxrt_hwemu.so.2", "libxrt_swemu.so.2"};
    for (size_t i = 0; i < 4 && !xrt.lib; i++)
        if ((xrt.lib = dlopen(shims[i], RTLD_NOW | RTLD_NOLOAD)))
            snprintf(xrt.shim, sizeof xrt.shim, "%s", shims[i]);
    if (!xrt.lib) {
        const char *mode = getenv("QV_XRT_SHIM");
        snprintf(xrt.shim, sizeof xrt.shim, "%s",
                 mode && !strcmp(mode, "noop") ? "libxrt_noop.so.2" : "libxrt_core.so.2");
        /* RTLD_GLOBAL: XRT's own libraries resolve the shim's symbols. */
        xrt.lib = dlopen(xrt.shim, RTLD_NOW | RTLD_GLOBAL);
    }
    if (!xrt.lib) {
        const char *e = dlerror();
        snprintf(xrt.error, sizeof xrt.error, "%.190s", e ? e : xrt.shim);
        return;
    }
    void *probe = sym("xclProbe"), *open = sym("xclOpen");
    void *info = sym("xclGetDeviceInfo2"), *close = sym("xclClose");
    if (!probe || !open || !info || !close) {
        xrt.lib = NULL; /* unusable; stays loaded, see the top comment */
        return;
    }
    /* POSIX dlsym returns object pointers; converting them to function
     * pointers through memcpy is the portable spelling. */
    memcpy(&xrt.probe, &probe, sizeof probe);
    memcpy(&xrt.open, &open, sizeof open);
    memcpy(&xrt.info, &info, sizeof info);
    memcpy(&xrt.close, &close, sizeof close);
}

int qv__disc_xrt(qv__scan *s, qv_backend_report *rep)
{
    snprintf(rep->name, sizeof rep->name, "xrt");
    rep->count = 0;
    pthread_once(&xrt.once, load_xrt);
    if (!xrt.lib) {
        snprintf(rep->why, sizeof rep->why,
                 "no XRT: %s (install XRT for Alveo/Versal cards)", xrt.error);
        return 0;
    }
    unsigned n = xrt.probe();
    if (n > 64)
        n = 64;
    int rc = 0;
    for (unsigned i = 0; i < n && !rc; i++) {
        void *h = xrt.open(i, NULL, 0 /* XCL_QUIET */);
        if (!h)
            continue;
        struct qv__xclinfo info;
        memset(&info, 0, sizeof info);
        int irc = xrt.info(h, &info);
        xrt.close(h);
        qv__found f;
        memset(&f, 0, sizeof f);
        qv_resource *r = &f.r;
        snprintf(f.key, sizeof f.key, "xrt:%u", i);
        r->type = QV_CLASS_FPGA;
        snprintf(r->name, sizeof r->name, "xrt%u", i);
        snprintf(r->backend, sizeof r->backend, "xrt");
        info.name[sizeof info.name - 1] = 0;
        snprintf(r->detail, sizeof r->detail, "%.200s%s",
                 irc == 0 && info.name[0] ? info.name : "unnamed shell",
                 strcmp(xrt.shim, "libxrt_noop.so.2") ? "" : " (noop shim)");
        r->units = 1;
        if (irc == 0) {
            r->memory = info.ddr_size;
            r->free_memory = info.ddr_free_size;
            r->max_alloc = info.ddr_size;
        }
        /* The noop shim's device never computes: not real hardware. */
        r->emulated = !strcmp(xrt.shim, "libxrt_noop.so.2");
        r->link_bandwidth_gbs = 12.0; /* until measured */
        r->link_latency_us = 10.0;
        rc = qv__scan_add(s, &f);
        if (!rc)
            rep->count++;
    }
    if (rep->count)
        snprintf(rep->why, sizeof rep->why, "%u device%s via %s", rep->count,
                 rep->count == 1 ? "" : "s", xrt.shim);
    else if (s->pci_known && s->pci_xilinx)
        snprintf(rep->why, sizeof rep->why,
                 "XRT loaded but found no card, while %u Xilinx PCI "
                 "device%s %s on the bus: is the xocl/xclmgmt driver "
                 "loaded?",
                 s->pci_xilinx, s->pci_xilinx == 1 ? "" : "s",
                 s->pci_xilinx == 1 ? "is" : "are");
    else
        snprintf(rep->why, sizeof rep->why, "XRT loaded, no card%s",
                 s->pci_known ? " (no Xilinx device on PCI)" : "");
    return rc;
}
