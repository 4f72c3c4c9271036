/*
 * func.c - registered functions: a name, an argument signature and one
 * implementation per device class (StarPU's codelet, with named lookup).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/catalog.h"
#include "core/internal.h"
#include "qv_hash.h"
#include "trace/perfmodel.h"

/* rt->func_names: a scan of every function by name made registering n
 * functions take n^2 / 2 comparisons. Under reg_mu. */
typedef struct name_seek {
    const qv_runtime *rt;
    const char *name;
} name_seek;

static bool same_name(const void *ctx, size_t i)
{
    const name_seek *k = ctx;
    return !strcmp(k->rt->funcs[i]->name, k->name);
}

static uint64_t name_key(const void *ctx, size_t i)
{
    const char *name = ((const qv_runtime *)ctx)->funcs[i]->name;
    return qv__fnv1a(name, strlen(name));
}

/* The slot of the function named name, or the free one where it goes. */
static size_t name_slot(const qv_runtime *rt, const char *name)
{
    name_seek k = {rt, name};
    return qv__itab_find(&rt->func_names, qv__fnv1a(name, strlen(name)), same_name, &k);
}

qv_func *qv__func_named(const qv_runtime *rt, const char *name)
{
    uint32_t v = rt->func_names.cap ? rt->func_names.slot[name_slot(rt, name)] : 0;
    return v ? rt->funcs[v - 1] : NULL;
}

QV_API int qv_func_create(qv_runtime *rt, const char *name,
                          const qv_arg_desc *args, size_t nargs, qv_func **out)
{
    if (out)
        *out = NULL;
    if (!qv__rt_ok(rt) || !name || !out || (nargs && !args))
        return qv__fail(QV_EINVAL, "qv_func_create: %s", qv__args_why(rt));
    if (!*name)
        return qv__fail(QV_EINVAL, "qv_func_create: empty name");
    if (nargs > QV_MAX_ARGS)
        return qv__fail(QV_E2BIG, "function '%s' declares %zu arguments; at most %d",
                        name, nargs, QV_MAX_ARGS);
    for (size_t i = 0; i < nargs; i++) {
        if (args[i].is_buf != 0 && args[i].is_buf != 1)
            return qv__fail(QV_EINVAL,
                            "function '%s': argument %zu has is_buf %d; "
                            "expected 1 (a buffer) or 0 (a scalar)",
                            name, i, args[i].is_buf);
        if (args[i].is_buf && (args[i].mode < QV_R || args[i].mode > QV_RW))
            return qv__fail(QV_EINVAL, "function '%s': argument %zu has access mode %d;"
                            " expected QV_R, QV_W or QV_RW", name, i, (int)args[i].mode);
        if (!args[i].is_buf && (args[i].size == 0 || args[i].size > 4096))
            return qv__fail(QV_EINVAL, "function '%s': scalar argument %zu has size %zu;"
                            " expected 1 to 4096 bytes", name, i, args[i].size);
    }

    qv_func *f = calloc(1, sizeof *f);
    if (!f || !(f->name = strdup(name))) {
        free(f);
        return qv__fail(QV_ENOMEM, "qv_func_create: out of memory");
    }
    f->rt = rt;
    f->nargs = (unsigned)nargs;
    for (size_t i = 0; i < nargs; i++) {
        f->args[i] = args[i];
        if (args[i].name) {
            f->argnames[i] = strdup(args[i].name);
            if (!f->argnames[i])
                goto nomem;
        }
        f->args[i].name = f->argnames[i];
        if (!args[i].is_buf)
            f->scalar_bytes += (args[i].size + 15) & ~(size_t)15;
    }

    pthread_mutex_lock(&rt->reg_mu);
    if (qv__func_named(rt, name)) {
        pthread_mutex_unlock(&rt->reg_mu);
        qv__func_free(f);
        return qv__fail(QV_EEXIST, "a function named '%s' is already registered", name);
    }
    if (qv__itab_room(&rt->func_names, name_key, rt)) {
        pthread_mutex_unlock(&rt->reg_mu);
        qv__func_free(f);
        return qv__fail(QV_ENOMEM, "qv_func_create: out of memory");
    }
    if (rt->nfuncs == rt->funcs_cap) {
        size_t cap = rt->funcs_cap ? rt->funcs_cap * 2 : 16;
        qv_func **nf = realloc(rt->funcs, cap * sizeof *nf);
        if (!nf) {
            pthread_mutex_unlock(&rt->reg_mu);
            qv__func_free(f);
            return qv__fail(QV_ENOMEM, "qv_func_create: out of memory");
        }
        rt->funcs = nf;
        rt->funcs_cap = cap;
    }
    f->id = (unsigned)rt->nfuncs;
    rt->func_names.slot[name_slot(rt, name)] = (uint32_t)rt->nfuncs + 1u;
    rt->func_names.n++;
    rt->funcs[rt->nfuncs++] = f;
    qv__perf_adopt(rt, f);
    pthread_mutex_unlock(&rt->reg_mu);
    *out = f;
    return 0;

nomem:
    qv__func_free(f);
    return qv__fail(QV_ENOMEM, "qv_func_create: out of memory");
}

static void ocl_free(qv__ocl *o)
{
    if (!o)
        return;
    free((char *)o->impl.source);
    free((char *)o->impl.kernel);
    free((char *)o->impl.options);
    free(o);
}

void qv__func_free(qv_func *f)
{
    if (!f)
        return;
    for (unsigned c = 0; c < QV_CLASS_COUNT; c++)
        qv__perf_free(f->perf[c]);
    for (unsigned i = 0; i < QV_MAX_ARGS; i++)
        free(f->argnames[i]);
    for (qv__ocl *o = f->ocl_all, *older; o; o = older) {
        older = o->older;
        ocl_free(o);
    }
    free(f->name);
    free(f);
}

QV_API int qv_func_find(qv_runtime *rt, const char *name, qv_func **out)
{
    if (out)
        *out = NULL;
    if (!qv__rt_ok(rt) || !name || !out)
        return qv__fail(QV_EINVAL, "qv_func_find: %s", qv__args_why(rt));
    int rc = qv__fail(QV_ENOENT, "no function named '%s' is registered", name);
    pthread_mutex_lock(&rt->reg_mu);
    if ((*out = qv__func_named(rt, name)) != NULL)
        rc = 0;
    pthread_mutex_unlock(&rt->reg_mu);
    return rc;
}

void qv__func_takes_stale(qv_func *f)
{
    f->takes_stale = true;
}

void qv__func_on_driver(qv_func *f)
{
    f->on_driver = true;
}

QV_API int qv_func_set_cpu(qv_func *f, qv_cpu_fn fn)
{
    if (!f || !qv__rt_ok(f->rt))
        return qv__fail(QV_EINVAL, "qv_func_set_cpu: %s",
                        f ? qv__rt_why(f->rt) : "NULL function");
    qv__defer_func(f->rt, f);
    __atomic_store_n(&f->cpu, fn, __ATOMIC_RELEASE);
    if (fn)
        f->impls |= 1u << QV_CLASS_CPU;
    else
        f->impls &= ~(1u << QV_CLASS_CPU);
    return 0;
}

QV_API int qv_func_set_opencl(qv_func *f, const qv_opencl_impl *impl)
{
    if (!f || !qv__rt_ok(f->rt))
        return qv__fail(QV_EINVAL, "qv_func_set_opencl: %s",
                        f ? qv__rt_why(f->rt) : "NULL function");
    qv_runtime *rt = f->rt;
    qv__defer_func(rt, f);
    if (!impl) {
        f->impls &= ~(1u << QV_CLASS_GPU);
        atomic_store_explicit(&f->ocl, NULL, memory_order_release);
        return 0;
    }
    if (!impl->source || !impl->kernel || !*impl->kernel || !impl->range)
        return qv__fail(QV_EINVAL, "qv_func_set_opencl('%s'): source, kernel and range "
                        "are required", f->name);
    qv__ocl *o = calloc(1, sizeof *o);
    if (o)
        o->impl = (qv_opencl_impl){ strdup(impl->source), strdup(impl->kernel),
                                    impl->options ? strdup(impl->options) : NULL,
                                    impl->range };
    if (!o || !o->impl.source || !o->impl.kernel || (impl->options && !o->impl.options)) {
        ocl_free(o);
        return qv__fail(QV_ENOMEM, "qv_func_set_opencl: out of memory");
    }
    pthread_mutex_lock(&rt->reg_mu);
    o->gen = f->ocl_all ? f->ocl_all->gen + 1 : 1;
    o->older = f->ocl_all;
    f->ocl_all = o;
    pthread_mutex_unlock(&rt->reg_mu);
    atomic_store_explicit(&f->ocl, o, memory_order_release);
    f->impls |= 1u << QV_CLASS_GPU;
    /* A device where the old code failed to build tries the new one. */
    atomic_fetch_add(&f->impl_gen, 1);
    qv__devq_func_changed(rt, f);
    return 0;
}

int qv__func_set_fpga(qv_func *f, const char *kernel, bool replan)
{
    if (!f || !qv__rt_ok(f->rt))
        return qv__fail(QV_EINVAL, "qv_func_set_fpga: %s",
                        f ? qv__rt_why(f->rt) : "NULL function");
    const struct qv__kernel *entry = NULL;
    bool member = false; /* bound to a fused kernel that implements f */
    if (kernel) {
        int rc = qv__fpga_bind(f, kernel, &entry, &member);
        if (rc)
            return rc;
    }
    qv__defer_func(f->rt, f);
    bool changed = atomic_load(&f->kernel) != entry ||
                   atomic_load(&f->catalog_bound) != (entry || member);
    atomic_store(&f->catalog_bound, entry || member);
    /* The catalog's name: a device thread may be reading the old one. */
    f->fpga_kernel = entry ? entry->name : NULL;
    f->kernel = entry;
    f->sig_scalars = entry ? qv__fpga_sig_scalars(entry) : 0;
    atomic_fetch_add(&f->impl_gen, 1);
    qv__devq_func_changed(f->rt, f); /* a board where the old one failed tries it */
    /* A remote board runs the kernels of the FPGA board it serves. */
    unsigned fpga = 1u << QV_CLASS_FPGA | 1u << QV_CLASS_REMOTE;
    if (entry)
        f->impls |= fpga;
    else
        f->impls &= ~fpga;
    /* Plans made with the old binding (a chain fused, or not, by it; a
     * task on a board that can no longer run it) are made again, as when
     * a device changes. */
    if (changed && replan) {
        char why[200];
        snprintf(why, sizeof why, "the FPGA kernel of '%.100s' changed (qv_func_set_fpga)",
                 f->name);
        qv__region_devices_changed(f->rt, why);
    }
    return 0;
}

QV_API int qv_func_set_fpga(qv_func *f, const char *kernel)
{
    return qv__func_set_fpga(f, kernel, true);
}

QV_API int qv_func_set_where(qv_func *f, unsigned mask)
{
    if (!f || !qv__rt_ok(f->rt))
        return qv__fail(QV_EINVAL, "qv_func_set_where: %s",
                        f ? qv__rt_why(f->rt) : "NULL function");
    if (mask & ~((1u << QV_CLASS_COUNT) - 1))
        return qv__fail(QV_EINVAL, "qv_func_set_where('%s'): mask 0x%x names no device "
                        "class", f->name, mask);
    if (f->where == mask)
        return 0;
    qv__defer_func(f->rt, f);
    f->where = mask;
    /* Plans made with the old places (a fused chain on a board a stage
     * may no longer run on) are made again, as when a device changes. */
    char why[200];
    snprintf(why, sizeof why, "the places of '%.100s' changed (qv_func_set_where)", f->name);
    qv__region_devices_changed(f->rt, why);
    return 0;
}

QV_API const char *qv_func_name(const qv_func *f)
{
    return f ? f->name : NULL;
}

void qv__funcs_destroy(qv_runtime *rt)
{
    for (size_t i = 0; i < rt->nfuncs; i++)
        qv__func_free(rt->funcs[i]);
    free(rt->funcs);
    free(rt->func_names.slot);
    rt->funcs = NULL;
    rt->func_names = (qv__itab){0};
    rt->nfuncs = rt->funcs_cap = 0;
}
