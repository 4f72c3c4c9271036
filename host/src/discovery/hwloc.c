/*
 * hwloc.c - CPU resources from hwloc: one resource per NUMA node (its cores
 * and local memory), with load and free memory read at each scan; and,
 * through pci.c, a count of the accelerator cards on PCI, so that the
 * other backends can say why they found nothing.
 */
#include <hwloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/discovery.h"
#include "qv_text.h"

int qv__scan_add(qv__scan *s, const qv__found *f)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        qv__found *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return QV_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = *f;
    return 0;
}

void qv__scan_fini(qv__scan *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

static unsigned long long meminfo_kb(const char *path, const char *field)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f)) {
        /* /proc/meminfo: "MemFree: N kB"; per node: "Node 0 MemFree: N kB" */
        char *p = strstr(line, field);
        if (p && p[flen] == ':') {
            kb = strtoull(p + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

unsigned long long qv__mem_free(int node)
{
    if (node >= 0) {
        char path[96];
        snprintf(path, sizeof path, "/sys/devices/system/node/node%d/meminfo", node);
        unsigned long long kb = meminfo_kb(path, "MemFree");
        if (kb)
            return kb * 1024;
    }
    return meminfo_kb("/proc/meminfo", "MemAvailable") * 1024;
}

static double load_fraction(unsigned pus)
{
    FILE *f = fopen("/proc/loadavg", "r");
    char line[128];
    double load = 0;
    if (!f)
        return 0;
    /* In the C locale: under a program's decimal comma "%lf" read 3.75 as 3
     * (review). */
    if (fgets(line, sizeof line, f))
        load = qv__strtod_c(line, NULL);
    fclose(f);
    double busy = pus ? load / pus : 0;
    return busy < 0 ? 0 : busy > 1 ? 1 : busy;
}

/* The machine's topology, loaded once for the process: NUMA nodes and
 * cores do not change while it runs (load and free memory, which
 * do, are read from /proc at each scan). Discovery reads it and the CPU
 * backend pins its workers with it, so hwloc enumerates the machine once.
 * Holding it also keeps hwloc's plugins (libxml2, ICU, X11...) loaded,
 * instead of a dlopen and dlclose of a dozen libraries at every rescan. */
static pthread_once_t topo_once = PTHREAD_ONCE_INIT;
static hwloc_topology_t shared_topo;

static void load_topology(void)
{
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) < 0)
        return;
    /* No I/O devices: pci.c counts the cards from sysfs (this load took
     * 6 ms instead of 21 on the 2-core VM of bench/). Nor hwloc's OpenCL,
     * CUDA and GL plugins, which would load vendor libraries behind our
     * back (and XRT's OpenCL ICD aborts without XILINX_XRT); opencl.c and
     * xrt.c do that part, with their guards. */
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_NONE);
    static const char *const skip[] = {"opencl", "cuda",      "nvml",
                                       "rsmi",   "levelzero", "gl"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        hwloc_topology_set_components(topo, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST,
                                      skip[i]);
    if (hwloc_topology_load(topo) < 0) {
        hwloc_topology_destroy(topo);
        return;
    }
    shared_topo = topo;
}

struct hwloc_topology *qv__hwloc_topology(void)
{
    pthread_once(&topo_once, load_topology);
    return shared_topo;
}

int qv__disc_hwloc(qv__scan *s, qv_backend_report *rep)
{
    snprintf(rep->name, sizeof rep->name, "hwloc");
    rep->count = 0;
    hwloc_topology_t topo = qv__hwloc_topology();
    if (!topo) {
        snprintf(rep->why, sizeof rep->why, "hwloc cannot load the topology");
        return 0;
    }
    qv__pci_count(s, "/sys/bus/pci/devices");
    hwloc_obj_t root = hwloc_get_root_obj(topo);
    const char *model = hwloc_obj_get_info_by_name(root, "CPUModel");
    hwloc_obj_t pkg = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
    if (!model && pkg)
        model = hwloc_obj_get_info_by_name(pkg, "CPUModel");
    unsigned pus = (unsigned)hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    double busy = load_fraction(pus);
    int nnuma = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    int rc = 0;
    unsigned cores_total = 0;
    for (int i = 0; i < nnuma && !rc; i++) {
        hwloc_obj_t numa = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, (unsigned)i);
        int cores =
            hwloc_get_nbobjs_inside_cpuset_by_type(topo, numa->cpuset, HWLOC_OBJ_CORE);
        if (cores <= 0)
            continue; /* memory-only node (CXL, HBM in flat mode) */
        qv__found f;
        memset(&f, 0, sizeof f);
        snprintf(f.key, sizeof f.key, "hwloc:numa%u", numa->os_index);
        qv_resource *r = &f.r;
        r->type = QV_CLASS_CPU;
        /* One node: the machine's CPU, as the runtime names its CPU
         * device; several: the runtime's CPU device is all of them. */
        if (nnuma > 1)
            snprintf(r->name, sizeof r->name, "numa%u", numa->os_index);
        else
            snprintf(r->name, sizeof r->name, "cpu");
        snprintf(r->backend, sizeof r->backend, "hwloc");
        snprintf(r->detail, sizeof r->detail, "%s", model ? model : "CPU");
        for (size_t n = strlen(r->detail); n && r->detail[n - 1] == ' ';)
            r->detail[--n] = 0; /* CPUID pads the model name */
        r->units = (unsigned)cores;
        r->memory = numa->attr->numanode.local_memory;
        r->free_memory = qv__mem_free(nnuma > 1 ? (int)numa->os_index : -1);
        /* In a container hwloc reports the cgroup's limit while /proc
         * shows the host's memory: free cannot exceed the total. */
        if (!r->memory || r->free_memory > r->memory)
            r->free_memory = r->memory ? r->memory : r->free_memory;
        if (!r->memory)
            r->memory = r->free_memory;
        r->max_alloc = r->free_memory;
        r->busy = busy;
        cores_total += (unsigned)cores;
        rc = qv__scan_add(s, &f);
        if (!rc)
            rep->count++;
    }
    if (rep->count)
        snprintf(rep->why, sizeof rep->why,
                 "%u NUMA node%s, %u cores, %u PUs; PCI: %u Xilinx, %u GPU "
                 "or accelerator",
                 rep->count, rep->count == 1 ? "" : "s", cores_total, pus, s->pci_xilinx,
                 s->pci_gpu);
    else
        snprintf(rep->why, sizeof rep->why, "hwloc found no NUMA node with cores");
    return rc;
}
