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
#include "xclbin/xclbin.h"

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

int qv__kernel_matches_xclbin(const struct qv__kernel *k, const struct qv__xclbin_kernel *xk,
                              const char *path)
{
    if (xk->nargs != k->nargs)
        return qv__fail(QV_EMISMATCH, "%s: kernel '%s' takes %zu arguments there and %zu in "
                        "the catalog", path, k->name, xk->nargs, k->nargs);
    for (size_t i = 0; i < k->nargs; i++) {
        const qv__karg *c = &k->args[i];
        const qv__xclbin_arg *x = &xk->args[i];
        bool cbuf = c->dir != QV__KDIR_SCALAR;
        bool xbuf = x->addrq == QV__ARG_GLOBAL || x->addrq == QV__ARG_CONSTANT;
        const char *no = NULL;
        if (strcmp(c->name, x->name))
            no = "another name";
        else if (cbuf != xbuf)
            no = cbuf ? "a scalar there, a buffer in the catalog"
                      : "a buffer there, a scalar in the catalog";
        else if (!cbuf && x->host_size && x->host_size != c->elem)
            no = "another size";
        if (no)
            return qv__fail(QV_EMISMATCH, "%s: argument %zu of kernel '%s' is '%s' (%s, %llu "
                            "bytes) there and '%s' (%s) in the catalog: %s; the catalog must "
                            "list the kernel's arguments as the build has them, in order",
                            path, i, k->name, x->name, x->type,
                            (unsigned long long)x->host_size, c->name,
                            qv__ktype_names[c->type], no);
    }
    return 0;
}
