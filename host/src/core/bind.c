/*
 * bind.c - a function's FPGA kernel checked against the kernel catalog.
 *
 * qv_func_set_fpga binds a function to a catalog kernel only when the two
 * agree argument by argument (kind, scalar size, access mode), so that a
 * wrong binding is an error at the call that made it, not a crash inside a
 * board. At submission, a call whose buffers are smaller than the kernel's
 * `size:` expressions say (for the call's scalar values) is kept off the
 * boards: the kernel would read or write past them.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "config/catalog.h"
#include "core/internal.h"

static const char *mode_name(unsigned m)
{
    return m == QV_R ? "QV_R" : m == QV_W ? "QV_W" : "QV_RW";
}

static const char *kdir_name(qv__kdir d)
{
    static const char *const n[] = { "in", "out", "inout", "scalar" };
    return n[d];
}

static unsigned kdir_mode(qv__kdir d)
{
    return d == QV__KDIR_IN ? QV_R : d == QV__KDIR_OUT ? QV_W : QV_RW;
}

static const char *arg_name(const qv_func *f, unsigned i)
{
    return f->args[i].name ? f->args[i].name : "(unnamed)";
}

int qv__fpga_bind(const qv_func *f, const char *kernel, const qv__kernel **out, bool *member)
{
    const qv__catalog *cat = f->rt->catalog;
    *out = NULL;
    *member = false;
    if (!cat)
        return qv__fail(QV_ENOENT, "qv_func_set_fpga('%s', '%s'): the runtime has no "
                        "kernel catalog (policy key `catalog`)", f->name, kernel);
    const qv__kernel *k = NULL;
    for (size_t i = 0; i < cat->nkernels && !k; i++)
        if (!strcmp(cat->kernels[i].name, kernel))
            k = &cat->kernels[i];
    if (!k)
        return qv__fail(QV_ENOENT, "qv_func_set_fpga('%s'): no kernel '%s' in the "
                        "catalog %s", f->name, kernel, cat->path);
    /* A fused kernel that implements f among others: f is never launched
     * alone there; the binding says f is the catalog's function of that
     * name, which fused kernels may take over (fuse.c). (A function with
     * the fused kernel's own arguments runs the whole kernel: the
     * runtime's fused functions, quiverd's.) */
    for (size_t i = 0; k->nfuncs > 1 && i < k->nfuncs; i++)
        if (!strcmp(k->funcs[i], f->name)) {
            *member = true;
            return 0;
        }
    if (k->nargs != f->nargs)
        return qv__fail(QV_EMISMATCH, "qv_func_set_fpga('%s'): kernel '%s' takes %zu "
                        "arguments, the function %u", f->name, k->name, k->nargs,
                        f->nargs);
    for (unsigned i = 0; i < f->nargs; i++) {
        const qv__karg *ka = &k->args[i];
        const qv_arg_desc *d = &f->args[i];
        bool kscalar = ka->dir == QV__KDIR_SCALAR;
        if (kscalar != !d->is_buf)
            return qv__fail(QV_EMISMATCH, "qv_func_set_fpga('%s'): argument %u ('%s') "
                            "is a %s, but kernel '%s' takes a %s there ('%s')", f->name, i,
                            arg_name(f, i), d->is_buf ? "buffer" : "scalar", k->name,
                            kscalar ? "scalar" : "buffer", ka->name);
        if (kscalar && d->size != ka->elem)
            return qv__fail(QV_EMISMATCH, "qv_func_set_fpga('%s'): scalar argument %u "
                            "('%s') has %zu bytes, kernel '%s' takes a %s ('%s', %u "
                            "bytes)", f->name, i, arg_name(f, i), d->size, k->name,
                            qv__ktype_names[ka->type], ka->name, ka->elem);
        if (!kscalar && d->mode != kdir_mode(ka->dir))
            return qv__fail(QV_EMISMATCH, "qv_func_set_fpga('%s'): buffer argument %u "
                            "('%s') is %s, but kernel '%s' declares '%s' as %s (%s)",
                            f->name, i, arg_name(f, i), mode_name(d->mode), k->name,
                            ka->name, kdir_name(ka->dir), mode_name(kdir_mode(ka->dir)));
    }
    *out = k;
    return 0;
}

/* The value of scalar argument i (at p) as the kernel's type reads it;
 * false for a negative value of a signed type (no size is negative). */
static bool scalar_value(const void *p, const qv__karg *ka, uint64_t *v)
{
    uint64_t u = 0;
    memcpy(&u, p, ka->elem); /* little-endian: the low bytes */
    *v = u;
    bool is_signed = !strncmp(qv__ktype_names[ka->type], "int", 3);
    return !is_signed || !((u >> (8 * ka->elem - 1)) & 1);
}

/* Whether scalar value v is within ka's limits; else why. */
static bool in_limits(const qv__kernel *k, const qv__karg *ka, uint64_t v, char *why, size_t n)
{
    const char *no = NULL;
    if (v < ka->min)
        no = "below its minimum";
    else if (v > ka->max)
        no = "above its maximum";
    else if (ka->pow2 && (v == 0 || (v & (v - 1))))
        no = "not a power of two, which it must be";
    else if (ka->odd && !(v & 1))
        no = "even, and it must be odd";
    if (!no)
        return true;
    if (v < ka->min || v > ka->max)
        snprintf(why, n, "scalar '%s' = %llu of kernel '%s' is %s %llu", ka->name,
                 (unsigned long long)v, k->name, no,
                 (unsigned long long)(v < ka->min ? ka->min : ka->max));
    else
        snprintf(why, n, "scalar '%s' = %llu of kernel '%s' is %s", ka->name,
                 (unsigned long long)v, k->name, no);
    return false;
}

/* qv__fpga_fits on the call's argument pointers and sizes. */
static bool fits(const qv_func *f, const qv__kernel *k, void *const *ptr, const size_t *size,
                 char *why, size_t n)
{
    const char *names[QV_MAX_ARGS];
    uint64_t vals[QV_MAX_ARGS];
    size_t ns = 0;
    for (unsigned i = 0; i < f->nargs; i++) {
        const qv__karg *ka = &k->args[i];
        if (ka->dir != QV__KDIR_SCALAR)
            continue;
        if (!scalar_value(ptr[i], ka, &vals[ns])) {
            snprintf(why, n, "scalar '%s' of kernel '%s' is negative", ka->name, k->name);
            return false;
        }
        if (!in_limits(k, ka, vals[ns], why, n))
            return false;
        names[ns++] = ka->name;
    }
    for (unsigned i = 0; i < f->nargs; i++) {
        const qv__karg *ka = &k->args[i];
        if (ka->dir == QV__KDIR_SCALAR || !ka->size)
            continue;
        uint64_t elems;
        if (qv__expr_eval(ka->size, names, vals, ns, &elems) != 0) {
            snprintf(why, n, "the size of '%s' (%s) of kernel '%s' cannot be computed "
                     "for this call (a division by zero or an overflow)", ka->name,
                     ka->size, k->name);
            return false;
        }
        if (elems > UINT64_MAX / ka->elem || size[i] < elems * ka->elem) {
            snprintf(why, n, "argument %u ('%s') has %zu bytes; kernel '%s' reaches "
                     "%s = %llu elements of %u bytes", i, arg_name(f, i), size[i],
                     k->name, ka->size, (unsigned long long)elems, ka->elem);
            return false;
        }
    }
    return true;
}

bool qv__fpga_fits(const qv_func *f, const qv__task *t, char *why, size_t n)
{
    const qv__kernel *k = f->kernel;
    return !k || fits(f, k, t->ptr, t->size, why, n);
}

bool qv__fpga_fits_args(const qv_func *f, const qv_arg *args, char *why, size_t n)
{
    const qv__kernel *k = f->kernel;
    if (!k)
        return true;
    void *ptr[QV_MAX_ARGS];
    size_t size[QV_MAX_ARGS];
    for (unsigned i = 0; i < f->nargs; i++) {
        ptr[i] = f->args[i].is_buf ? args[i].buf->ptr : (void *)args[i].val;
        size[i] = f->args[i].is_buf ? args[i].buf->size : args[i].size;
    }
    return fits(f, k, ptr, size, why, n);
}

/* Whether expression e names identifier `name` (a whole token). */
static bool names(const char *e, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = e; p && *p;) {
        if (isalpha((unsigned char)*p) || *p == '_') {
            const char *q = p;
            while (isalnum((unsigned char)*q) || *q == '_')
                q++;
            if ((size_t)(q - p) == n && !strncmp(p, name, n))
                return true;
            p = q;
        } else {
            p++;
        }
    }
    return false;
}

unsigned qv__fpga_sig_scalars(const qv__kernel *k)
{
    unsigned mask = 0;
    for (size_t i = 0; i < k->nargs && i < QV_MAX_ARGS; i++) {
        const qv__karg *a = &k->args[i];
        if (a->dir != QV__KDIR_SCALAR)
            continue;
        bool used = k->trip_count && names(k->trip_count, a->name);
        for (size_t j = 0; j < k->nargs && !used; j++)
            used = k->args[j].size && names(k->args[j].size, a->name);
        if (used)
            mask |= 1u << i;
    }
    return mask;
}
