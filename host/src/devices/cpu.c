/*
 * cpu.c - the CPU backend: host memory, calls run on the worker's own
 * thread, one worker per core, pinned with hwloc where the system lets us.
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
    unsigned         ncores;
    char             name[128];
} cpu_device;

static int cpu_probe(const void *b, unsigned *count)
{
    (void)b;
    *count = 1; /* one device: the host's cores, as units */
    return 0;
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
    int n = hwloc_get_nbobjs_by_type(c->topo, HWLOC_OBJ_CORE);
    if (n <= 0)
        n = hwloc_get_nbobjs_by_type(c->topo, HWLOC_OBJ_PU);
    c->ncores = n > 0 ? (unsigned)n : 1;
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
    int n = hwloc_get_nbobjs_by_type(c->topo, HWLOC_OBJ_CORE);
    hwloc_obj_type_t type = n > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    if (n <= 0)
        n = hwloc_get_nbobjs_by_type(c->topo, HWLOC_OBJ_PU);
    if (n <= 0)
        return 0;
    hwloc_obj_t core = hwloc_get_obj_by_type(c->topo, type, idx % (unsigned)n);
    if (!core || !core->cpuset)
        return 0;
    /* One PU of the core, so the thread does not migrate between siblings. */
    hwloc_bitmap_t set = hwloc_bitmap_dup(core->cpuset);
    if (!set)
        return 0;
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
