/*
 * cpu.c - the CPU backend: host memory, calls run on the worker's own
 * thread, one worker per core the process may run on (its affinity mask:
 * taskset, numactl, an MPI launcher's binding), pinned with hwloc inside
 * that mask where the system lets us.
 * The topology is discovery's (discovery/hwloc.c): the machine is
 * enumerated once.
 */
#include <hwloc.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"
#include "devices/device.h"
#include "discovery/discovery.h"

typedef struct cpu_device {
    qv_device        base;
    hwloc_topology_t topo;
    hwloc_bitmap_t   mask; /* the PUs the process may run on; NULL: all */
    unsigned         ncores;
    char             name[128];
} cpu_device;

static int cpu_probe(const void *b, unsigned *count)
{
    (void)b;
    *count = 1; /* one device: the host's cores, as units */
    return 0;
}

/* The k-th core (else PU) with a PU in c's mask, or the count of them
 * (out NULL). */
static unsigned mask_cores(const cpu_device *c, unsigned k, hwloc_obj_t *out)
{
    hwloc_obj_type_t type = HWLOC_OBJ_CORE;
    int n = hwloc_get_nbobjs_by_type(c->topo, type);
    if (n <= 0) {
        type = HWLOC_OBJ_PU;
        n = hwloc_get_nbobjs_by_type(c->topo, type);
    }
    unsigned seen = 0;
    for (int i = 0; i < n; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(c->topo, type, (unsigned)i);
        if (!o || !o->cpuset || (c->mask && !hwloc_bitmap_intersects(o->cpuset, c->mask)))
            continue;
        if (out && seen == k) {
            *out = o;
            return seen;
        }
        seen++;
    }
    return seen;
}

static unsigned count_cores(const cpu_device *c)
{
    unsigned n = mask_cores(c, 0, NULL);
    return n > 0 ? n : 1;
}

static int cpu_open(qv_device *d, unsigned idx, const void *b)
{
    (void)b;
    cpu_device *c = (cpu_device *)d;
    if (idx != 0)
        return QV_ENOENT;
    c->topo = qv__hwloc_topology(); /* shared, read-only: not ours to free */
    if (!c->topo) {
        c->ncores = 1;
        snprintf(c->name, sizeof c->name, "host CPU (topology unknown)");
        return 0;
    }
    /* The cores of the creating thread's affinity mask, which the
     * workers inherit (adversarial finding: under `taskset -c 1` they were
     * pinned to core 0). */
    c->mask = hwloc_bitmap_alloc();
    if (c->mask && (hwloc_get_cpubind(c->topo, c->mask, HWLOC_CPUBIND_THREAD) != 0 ||
                    hwloc_bitmap_iszero(c->mask))) {
        hwloc_bitmap_free(c->mask);
        c->mask = NULL;
    }
    c->ncores = count_cores(c);
    hwloc_obj_t pkg = hwloc_get_obj_by_type(c->topo, HWLOC_OBJ_PACKAGE, 0);
    const char *model = pkg ? hwloc_obj_get_info_by_name(pkg, "CPUModel") : NULL;
    snprintf(c->name, sizeof c->name, "%s (%u cores)", model ? model : "host CPU",
             c->ncores);
    return 0;
}

static void cpu_close(qv_device *d)
{
    cpu_device *c = (cpu_device *)d;
    c->topo = NULL; /* discovery's */
    hwloc_bitmap_free(c->mask);
    c->mask = NULL;
}

static int cpu_launch(qv_device *d, const qv_launch *l, qv_event **ev)
{
    (void)d;
    if (ev)
        *ev = NULL; /* done on return: nothing to wait for */
    l->cpu(l->call);
    return 0;
}

static int cpu_query(qv_device *d, int what, void *out, size_t size)
{
    cpu_device *c = (cpu_device *)d;
    hwloc_obj_t root = c->topo ? hwloc_get_root_obj(c->topo) : NULL;
    return qv__dev_query_basic(what, out, size, c->ncores, c->name,
                               root ? root->total_memory : 0);
}

int qv__cpu_bind_self(qv_device *d, unsigned idx)
{
    cpu_device *c = (cpu_device *)d;
    if (!c->topo)
        return 0;
    unsigned n = mask_cores(c, 0, NULL);
    hwloc_obj_t core = NULL;
    if (!n)
        return 0;
    mask_cores(c, idx % n, &core);
    if (!core)
        return 0;
    hwloc_const_bitmap_t within =
        c->mask ? c->mask : hwloc_topology_get_topology_cpuset(c->topo);
    /* One PU of the core that the mask allows, so the thread does not
     * migrate between siblings. */
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (!set)
        return 0;
    hwloc_bitmap_and(set, core->cpuset, within);
    hwloc_bitmap_singlify(set);
    int ok = hwloc_set_cpubind(c->topo, set, HWLOC_CPUBIND_THREAD) == 0;
    hwloc_bitmap_free(set);
    return ok;
}

const struct qv_device_ops qv__cpu_ops = {
    .name = "cpu",
    .cls = QV_CLASS_CPU,
    .dev_size = sizeof(cpu_device),
    .probe = cpu_probe,
    .open = cpu_open,
    .close = cpu_close,
    .launch = cpu_launch,
    .query = cpu_query,
};
