/*
 * xrt.c - Alveo and Versal cards through XRT, loaded with dlopen and never
 * linked, so that Quiver builds and runs where XRT is absent.
 *
 * devices/xrt_lib.c loads XRT by the rules of research/xrt-feasibility.md;
 * here cards are counted with the HAL's xclProbe, which is silent without a
 * card (xrtDeviceOpen prints an error), and every handle opened is closed.
 * With QV_XRT_SHIM=noop, XRT's noop shim reports one fake device (marked
 * emulated): a test aid for this code path, not a way to run kernels.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/xrt_lib.h"
#include "discovery/discovery.h"

int qv__disc_xrt(qv__scan *s, qv_backend_report *rep)
{
    snprintf(rep->name, sizeof rep->name, "xrt");
    rep->count = 0;
    char err[200] = "";
    const qv__xrt_api *xrt = qv__xrt_api_get(err, sizeof err);
    if (!xrt) {
        snprintf(rep->why, sizeof rep->why,
                 "no XRT: %s (install XRT for Alveo/Versal cards)", err);
        return 0;
    }
    unsigned n = xrt->probe();
    if (n > 64)
        n = 64;
    int rc = 0;
    for (unsigned i = 0; i < n && !rc; i++) {
        void *h = xrt->hal_open(i, NULL, 0 /* XCL_QUIET */);
        if (!h)
            continue;
        struct qv__xclinfo info;
        memset(&info, 0, sizeof info);
        int irc = xrt->hal_info(h, &info);
        xrt->hal_close(h);
        qv__found f;
        memset(&f, 0, sizeof f);
        qv_resource *r = &f.r;
        snprintf(f.key, sizeof f.key, "xrt:%u", i);
        f.index = i;
        r->type = QV_CLASS_FPGA;
        snprintf(r->name, sizeof r->name, "xrt%u", i);
        snprintf(r->backend, sizeof r->backend, "xrt");
        info.name[sizeof info.name - 1] = 0;
        snprintf(r->detail, sizeof r->detail, "%.200s%s",
                 irc == 0 && info.name[0] ? info.name : "unnamed shell",
                 xrt->noop ? " (noop shim)" : "");
        r->units = 1;
        if (irc == 0) {
            r->memory = info.ddr_size;
            r->free_memory = info.ddr_free_size;
            r->max_alloc = info.ddr_size;
        }
        /* The noop shim's device never computes: not real hardware. */
        r->emulated = xrt->noop;
        r->link_bandwidth_gbs = 12.0; /* until measured */
        r->link_latency_us = 10.0;
        rc = qv__scan_add(s, &f);
        if (!rc)
            rep->count++;
    }
    if (rep->count)
        snprintf(rep->why, sizeof rep->why, "%u device%s via %s", rep->count,
                 rep->count == 1 ? "" : "s", xrt->shim);
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
