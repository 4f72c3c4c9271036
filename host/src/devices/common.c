/*
 * common.c - what several backends share: per-function tables, the plain
 * answers of query, and finding a function's FPGA kernel and its build for
 * a board in the catalog (emu and xrt).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/catalog.h"
#include "core/internal.h"
#include "devices/device.h"

void *qv__dev_table_grow(void *table, size_t *n, size_t need, size_t elem)
{
    if (need < *n)
        return table;
    size_t cap = need + 16;
    char *t = realloc(table, cap * elem);
    if (!t)
        return NULL;
    memset(t + *n * elem, 0, (cap - *n) * elem);
    *n = cap;
    return t;
}

int qv__dev_query_basic(int what, void *out, size_t size, unsigned units,
                        const char *name, uint64_t memory)
{
    switch (what) {
    case QV_QUERY_UNITS:
        if (size < sizeof(unsigned))
            return QV_EINVAL;
        *(unsigned *)out = units;
        return 0;
    case QV_QUERY_NAME:
        if (!size)
            return QV_EINVAL;
        snprintf(out, size, "%s", name);
        return 0;
    case QV_QUERY_MEMORY:
        if (size < sizeof(uint64_t))
            return QV_EINVAL;
        *(uint64_t *)out = memory;
        return 0;
    default:
        return QV_ENOTSUP;
    }
}

int qv__fpga_kernel_for(const qv_func *f, const void *board, const qv__kernel **kernel,
                        const char **xclbin)
{
    const qv__board *b = board;
    const qv__kernel *k = f->kernel; /* checked against f by qv_func_set_fpga */
    if (!k)
        return qv__fail(QV_ENOTSUP, "'%s' has no FPGA implementation", f->name);
    const qv__kbuild *build = b ? qv__kernel_build(k, b->name, b->platform, b->emulation) : NULL;
    if (!build)
        return qv__fail(QV_ENOTSUP, "kernel '%s' has no build for board %s", k->name,
                        b ? b->name : "(none)");
    *kernel = k;
    *xclbin = build->xclbin;
    return 0;
}
