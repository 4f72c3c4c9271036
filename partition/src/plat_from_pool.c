/*
 * plat_from_pool.c - the planner's platform for the machine as the runtime
 * sees it: one resource per device of a discovery pool, with the pool's
 * names, costs and links, so that `quiver plan` without a platform file
 * plans for the devices `quiver devices` lists and qv_runtime_create opens.
 * A remote board counts when its daemon answers, as the runtime opens it
 * only then.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/board.h"
#include "config/platform.h"
#include "discovery/discovery.h"
#include "devices/device.h"
#include "part.h"

/* How long a remote board's daemon has to answer (the runtime's own hello
 * waits as long). */
#define PROBE_MS 1000

/* One resource from one pool entry. The runtime runs one task at a time on
 * an accelerator (one driver thread each) and one per CPU worker, so a
 * device is one unit and the CPU as many as it has cores. */
static void from_resource(const qv_resource *r, uint32_t units_max, qv_plat_res *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%.127s", r->name);
    snprintf(out->cls, sizeof out->cls, "%s", qv_class_name(r->type));
    out->speed = 1.0;
    out->cost_per_hour = r->cost_per_hour;
    if (r->type == QV_CLASS_CPU) {
        out->host_memory = 1;
        out->units = r->units ? r->units : 1;
        if (out->units > units_max)
            out->units = units_max;
        return;
    }
    out->units = 1;
    /* Discovery gives every accelerator a link: the board file's, else its
     * documented defaults; a zero would make the transfer cost infinite. */
    out->bandwidth_gbs = r->link_bandwidth_gbs > 0 ? r->link_bandwidth_gbs : 12.0;
    out->latency_us = r->link_latency_us >= 0 ? r->link_latency_us : 0;
    /* An OpenCL CPU device spreads a kernel over its compute units (the
     * host's cores); an emulated board runs on one thread. */
    out->shares_cpu =
        r->on_host ? (r->type == QV_CLASS_GPU && r->units > 1 ? (int)r->units : 1) : 0;
    if (r->type == QV_CLASS_FPGA && (!strcmp(r->backend, "emu") || !strcmp(r->backend, "xrt"))) {
        /* The catalog's build rule (qv_catalog_holds) by the board's name,
         * its vendor platform and whether it is emulated. */
        snprintf(out->board_name, sizeof out->board_name, "%.127s", r->name);
        snprintf(out->board_platform, sizeof out->board_platform, "%.127s", r->detail);
        out->board_emulation = r->emulated;
    }
}

/* A remote board holds the catalog's kernels of the board its daemon
 * serves (its board file's remote.board), as the runtime's device does. */
static void served_board(qv_pool *pool, size_t i, qv_plat_res *out)
{
    qv__found f;
    qv__board *b;
    qv_diag d;
    if (qv__pool_entry(pool, i, &f) != 0 || strncmp(f.key, "board:", 6) ||
        qv__board_load(f.key + 6, &b, &d) != 0)
        return;
    qv__part_res_board(out, b);
    qv__board_free(b);
}

/* 1 when the runtime opens a device for pool entry i (core/devq.c): an
 * OpenCL device that is not a GPU is left to XRT, and a remote board is
 * opened when its daemon answers. */
static int runtime_opens(const int *up, size_t i, const qv_resource *r)
{
    if (!strcmp(r->backend, "opencl"))
        return r->type == QV_CLASS_GPU;
    if (!strcmp(r->backend, "remote"))
        return up && up[i] == 1;
    return 1;
}

int qv_plat_from_pool(qv_pool *pool, const char *name, qv_plat **out)
{
    if (!out)
        return QV_EINVAL;
    *out = NULL;
    if (!pool)
        return QV_EINVAL;
    size_t n = qv_pool_count(pool);
    qv_plat_res *res = calloc(n + 1, sizeof *res);
    if (!res)
        return QV_ENOMEM;
    /* Resource 0 is the CPU: the runtime runs every hwloc resource (NUMA
     * node) as one device named "numa0+numa1", workers on all their cores. */
    qv_plat_res *cpu = &res[0];
    uint32_t nres = 1, accels = 0, cores = 0;
    /* Every remote board probed at once (one after another, twelve
     * silent daemons took twelve timeouts). */
    int *up = calloc(n + 1, sizeof *up);
    char *why = calloc(n + 1, 400);
    if (up && why)
        qv__remote_probe_all(pool, PROBE_MS, up, why, 400, n);
    free(why);
    qv_resource r;
    for (size_t i = 0; i < n && qv_pool_get(pool, i, &r) == 0; i++) {
        if (!runtime_opens(up, i, &r))
            continue;
        if (r.type != QV_CLASS_CPU) {
            if (nres < QV__PLATFORM_MAX_RESOURCES && accels < QV__PLATFORM_MAX_UNITS - 1) {
                from_resource(&r, 1, &res[nres]);
                if (!strcmp(r.backend, "remote"))
                    served_board(pool, i, &res[nres]);
                nres++, accels++;
            }
            continue;
        }
        size_t len = strlen(cpu->name);
        if (!len)
            from_resource(&r, QV__PLATFORM_MAX_UNITS, cpu);
        else
            snprintf(cpu->name + len, sizeof cpu->name - len, "+%s", r.name);
        cores += r.units ? r.units : 1;
    }
    if (!cpu->name[0]) { /* hwloc saw nothing: the runtime still has a CPU */
        snprintf(cpu->name, sizeof cpu->name, "cpu");
        snprintf(cpu->cls, sizeof cpu->cls, "cpu");
        cpu->speed = 1.0;
        cpu->host_memory = 1;
        cores = 1;
    }
    /* The CPU gets the units the accelerators leave under the planner's
     * limit, so that a very large machine still plans. */
    cpu->units = cores < QV__PLATFORM_MAX_UNITS - accels ? cores : QV__PLATFORM_MAX_UNITS - accels;
    int rc = qv_plat_create(name ? name : "this machine", res, nres, out);
    free(res);
    free(up);
    return rc;
}
