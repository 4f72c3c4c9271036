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

/* The build of k for board b: by the board's name, else by its platform. */
static const char *build_for(const qv__kernel *k, const qv__board *b)
{
    for (size_t i = 0; b && i < k->nbuilds; i++)
        if (k->builds[i].board && !k->builds[i].by_platform &&
            !strcmp(k->builds[i].board->name, b->name))
            return k->builds[i].xclbin;
    for (size_t i = 0; b && b->platform && i < k->nbuilds; i++)
        if (k->builds[i].platform && !strcmp(k->builds[i].platform, b->platform))
            return k->builds[i].xclbin;
    return NULL;
}

int qv__fpga_kernel_for(const qv_func *f, const void *board, const qv__kernel **kernel,
                        const char **xclbin)
{
    const qv__board *b = board;
    const qv__kernel *k = f->kernel; /* checked against f by qv_func_set_fpga */
    if (!k)
        return qv__fail(QV_ENOTSUP, "'%s' has no FPGA implementation", f->name);
    const char *path = build_for(k, b);
    if (!path)
        return qv__fail(QV_ENOTSUP, "kernel '%s' has no build for board %s", k->name,
                        b ? b->name : "(none)");
    *kernel = k;
    *xclbin = path;
    return 0;
}
