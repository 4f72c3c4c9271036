/*
 * fuse.c - fused catalog kernels at run time: a chain of calls that a
 * replayed plan maps onto a fused kernel (fir -> fft -> mag onto
 * fir_fft_mag) runs as one launch of that kernel.
 *
 * The catalog says how the kernel stands for its chain (catalog.h): each
 * kernel argument is some of the chain's arguments (`of`, several when they
 * must be equal), `connect` names the buffers that flow inside the kernel
 * and `zero` the chain inputs it takes as zeros. The replay (region.c)
 * holds the chain's calls back until the last one arrives; then the calls
 * are checked against that wiring, the kernel is launched, and the calls
 * that wrote intermediate buffers (buffers the kernel does not write) stay
 * deferred (defer.c) as recipes: the program sees those buffers as it
 * would have, because anything that reads them submits the recipes first.
 * A call whose outputs the kernel writes itself is dropped.
 *
 * The fused kernel is a function of the runtime's ("fused:<kernel>"), bound
 * to the catalog kernel, with the chain's CPU functions as its CPU
 * implementation: a board that fails the launch hands it to the CPU, which
 * runs the chain into temporary buffers (the intermediates are computed
 * again if they are read: a fault costs time, never data).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/catalog.h"
#include "core/internal.h"
#include "core/fork.h"
#include "devices/device.h"

#define MAXC 8 /* calls of a chain fused at run time */

enum role {
    ROLE_NONE,
    ROLE_ARG,  /* the kernel's argument from[][] */
    ROLE_IN,   /* a connection's input: member from / QV_MAX_ARGS's output */
    ROLE_ZERO, /* a zero input */
    ROLE_TMP,  /* an output the kernel does not return */
};

struct qv__fused {
    struct qv__fused *next; /* rt->fused */
    const qv__kernel *k;
    unsigned n;
    qv_func *memb[MAXC];
    qv_func *ff;
    uint8_t role[MAXC][QV_MAX_ARGS];
    unsigned from[MAXC][QV_MAX_ARGS];
    size_t size[MAXC][QV_MAX_ARGS]; /* ROLE_TMP and ROLE_ZERO buffers' bytes */
    /* per kernel argument, its first source */
    uint8_t src_j[QV_MAX_ARGS], src_i[QV_MAX_ARGS];
    bool recipe[MAXC]; /* the call writes an intermediate: kept deferred */
    /* Its launches on FPGA boards: the time they took over the catalog's
     * table at the bytes they moved, a moving average (a double's bits),
     * and how many. Written by the devices' driver threads. */
    _Atomic uint64_t ratio_bits;
    atomic_uint nratio;
};

#define FUSE_MIN_RUNS 3 /* launches measured before the ratio counts */
#define FUSE_WEIGHT   0.25

void qv__fuse_measured(const qv__task *t, double us)
{
    struct qv__fused *fz = (struct qv__fused *)t->func->fused;
    /* The table at the bytes of the launch's buffer arguments, as an
     * emulated board reads it (emu.c) and the planner prices a chain. */
    uint64_t bytes = 0;
    for (unsigned i = 0; i < t->nargs && i < t->func->nargs; i++)
        if (t->func->args[i].is_buf)
            bytes += t->size[i];
    double table = fz->k->ntable ? qv__kernel_table_us(fz->k, bytes) : 0;
    if (!(table > 0) || !(us > 0) || !isfinite(us))
        return;
    double x = us / table;
    if (!isfinite(x))
        return;
    x = x < 1e-3 ? 1e-3 : x > 1e3 ? 1e3 : x; /* one odd launch moves it, never ruins it */
    uint64_t old = atomic_load_explicit(&fz->ratio_bits, memory_order_relaxed), nb;
    do {
        double o;
        memcpy(&o, &old, sizeof o);
        double v = o > 0 ? (1 - FUSE_WEIGHT) * o + FUSE_WEIGHT * x : x;
        memcpy(&nb, &v, sizeof nb);
    } while (!atomic_compare_exchange_weak_explicit(&fz->ratio_bits, &old, nb,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed));
    atomic_fetch_add_explicit(&fz->nratio, 1, memory_order_relaxed);
}

double qv__fuse_scale(qv_runtime *rt, const struct qv__kernel *const *ks, unsigned nk)
{
    double sum = 0;
    unsigned n = 0;
    pthread_mutex_lock(&rt->reg_mu);
    for (const struct qv__fused *fz = rt->fused; fz; fz = fz->next) {
        if (atomic_load_explicit(&fz->nratio, memory_order_relaxed) < FUSE_MIN_RUNS)
            continue;
        unsigned j = 0;
        while (j < nk && ks[j] != fz->k)
            j++;
        if (j == nk)
            continue;
        uint64_t b = atomic_load_explicit(&fz->ratio_bits, memory_order_relaxed);
        double v;
        memcpy(&v, &b, sizeof v);
        sum += v;
        n++;
    }
    pthread_mutex_unlock(&rt->reg_mu);
    return n ? sum / n : 0;
}

double qv__fuse_pace(qv_runtime *rt, const struct qv__kernel *const *ks, unsigned nk)
{
    double most = 0;
    pthread_mutex_lock(&rt->reg_mu);
    for (const struct qv__fused *fz = rt->fused; fz; fz = fz->next)
        for (unsigned j = 0; fz->ff && j < nk; j++)
            if (ks[j] == fz->k) {
                double x = qv__func_emu_pace(fz->ff, QV_CLASS_FPGA);
                most = x > most ? x : most;
            }
    pthread_mutex_unlock(&rt->reg_mu);
    return most;
}

/* Chain member j's argument named by "function.arg" s of k; -1 if none.
 * By the function's own argument names, else by those of the catalog
 * kernel it is bound to. */
static int endpoint(const qv__kernel *k, qv_func *const *memb, const char *s, unsigned *j)
{
    const char *dot = strchr(s, '.');
    size_t flen = (size_t)(dot - s);
    for (*j = 0; *j < k->nfuncs; (*j)++)
        if (strlen(k->funcs[*j]) == flen && !memcmp(k->funcs[*j], s, flen))
            break;
    if (*j >= k->nfuncs)
        return -1;
    const qv_func *f = memb[*j];
    for (unsigned i = 0; i < f->nargs; i++)
        if (f->args[i].name && !strcmp(f->args[i].name, dot + 1))
            return (int)i;
    const qv__kernel *fk = f->kernel;
    if (fk && fk->nfuncs == 1 && fk->nargs == f->nargs)
        for (unsigned i = 0; i < f->nargs; i++)
            if (!strcmp(fk->args[i].name, dot + 1))
                return (int)i;
    return -1;
}

static unsigned kdir_mode(qv__kdir d)
{
    return d == QV__KDIR_IN ? QV_R : d == QV__KDIR_OUT ? QV_W : QV_RW;
}

/* Fills the roles of fz's members from k's wiring; false (why) when the
 * functions do not fit it. */
static bool resolve(struct qv__fused *fz, char *why, size_t wn)
{
    const qv__kernel *k = fz->k;
    unsigned j, j2;
    int i, i2;
    for (size_t a = 0; a < k->nargs; a++) {
        const qv__karg *ka = &k->args[a];
        for (size_t e = 0; e < ka->nof; e++) {
            if ((i = endpoint(k, fz->memb, ka->of[e], &j)) < 0) {
                snprintf(why, wn, "'%s' names no argument of the function", ka->of[e]);
                return false;
            }
            const qv_arg_desc *d = &fz->memb[j]->args[i];
            bool ok = ka->dir == QV__KDIR_SCALAR
                          ? !d->is_buf && d->size == ka->elem
                          : d->is_buf && d->mode == kdir_mode(ka->dir);
            if (!ok) {
                snprintf(why, wn, "'%s' is not what argument '%s' is", ka->of[e],
                         ka->name);
                return false;
            }
            fz->role[j][i] = ROLE_ARG;
            fz->from[j][i] = (unsigned)a;
            if (!e) {
                fz->src_j[a] = (uint8_t)j;
                fz->src_i[a] = (uint8_t)i;
            }
        }
    }
    for (size_t c = 0; c < k->nconn; c++) {
        if ((i = endpoint(k, fz->memb, k->conn[c].from, &j)) < 0 ||
            (i2 = endpoint(k, fz->memb, k->conn[c].to, &j2)) < 0 ||
            !fz->memb[j]->args[i].is_buf || !(fz->memb[j]->args[i].mode & QV_W) ||
            !fz->memb[j2]->args[i2].is_buf || fz->memb[j2]->args[i2].mode != QV_R) {
            snprintf(why, wn, "connection %s -> %s is not an output to an input",
                     k->conn[c].from, k->conn[c].to);
            return false;
        }
        if (fz->role[j][i] == ROLE_NONE)
            fz->role[j][i] = ROLE_TMP;
        fz->role[j2][i2] = ROLE_IN;
        fz->from[j2][i2] = j * QV_MAX_ARGS + (unsigned)i;
    }
    for (size_t z = 0; z < k->nzero; z++) {
        if ((i = endpoint(k, fz->memb, k->zero[z], &j)) < 0 ||
            !fz->memb[j]->args[i].is_buf || fz->memb[j]->args[i].mode != QV_R) {
            snprintf(why, wn, "zero input %s is not an input buffer", k->zero[z]);
            return false;
        }
        fz->role[j][i] = ROLE_ZERO;
    }
    for (j = 0; j < fz->n; j++) {
        const qv_func *f = fz->memb[j];
        for (unsigned a = 0; a < f->nargs; a++) {
            const qv_arg_desc *d = &f->args[a];
            if (fz->role[j][a] == ROLE_NONE && d->is_buf && d->mode == QV_W)
                fz->role[j][a] = ROLE_TMP; /* an output nobody asked for */
            if (fz->role[j][a] == ROLE_NONE) {
                snprintf(why, wn, "argument %u of '%s' is none of the kernel's", a,
                         f->name);
                return false;
            }
            /* The kernel never sees what such a buffer held before the
             * chain, and its CPU implementation runs the call on zeroed
             * scratch: a connected `inout` that no kernel argument stands
             * for lost its contents (review finding). */
            if (fz->role[j][a] == ROLE_TMP && (d->mode & QV_R)) {
                snprintf(why, wn,
                         "argument %u of '%s' is read and written, and flows inside "
                         "the kernel without being one of its arguments",
                         a, f->name);
                return false;
            }
            if (fz->role[j][a] == ROLE_TMP)
                fz->recipe[j] = true;
        }
    }
    return true;
}

/* The function that launches fz's kernel: its arguments are the kernel's. */
static int make_func(qv_runtime *rt, struct qv__fused *fz, unsigned idx)
{
    const qv__kernel *k = fz->k;
    qv_arg_desc d[QV_MAX_ARGS];
    if (k->nargs > QV_MAX_ARGS)
        return QV_ENOTSUP;
    for (size_t a = 0; a < k->nargs; a++) {
        const qv__karg *ka = &k->args[a];
        d[a] = ka->dir == QV__KDIR_SCALAR
                   ? (qv_arg_desc){ka->name, 0, QV_R, ka->elem}
                   : (qv_arg_desc){ka->name, 1, (qv_mode)kdir_mode(ka->dir), 0};
    }
    char name[160];
    snprintf(name, sizeof name, idx ? "fused:%s#%u" : "fused:%s", k->name, idx + 1);
    int rc = qv_func_create(rt, name, d, k->nargs, &fz->ff);
    if (!rc)
        rc = qv__func_set_fpga(fz->ff, k->name, false); /* no plan is made with it */
    bool cpu = true;
    for (unsigned j = 0; j < fz->n; j++)
        cpu &= qv__func_cpu(fz->memb[j]) != NULL;
    /* The CPU implementation is the chain (qv__task_execute calls
     * qv__fuse_run_cpu for it); any function stands for "has one". */
    if (!rc && cpu)
        rc = qv_func_set_cpu(fz->ff, fz->memb[0]->cpu);
    if (!rc)
        fz->ff->fused = fz;
    return rc;
}

/* Sizes of the chain's buffers the fused kernel does not see. */
static void temp_sizes(const struct qv__fused *fz, const qv_arg *const *args,
                       size_t size[MAXC][QV_MAX_ARGS])
{
    for (unsigned j = 0; j < fz->n; j++)
        for (unsigned i = 0; i < fz->memb[j]->nargs; i++)
            if (fz->role[j][i] == ROLE_TMP || fz->role[j][i] == ROLE_ZERO)
                size[j][i] = args[j][i].buf->size;
}

/* The entry of rt->fused for kernel k, the chain's functions and sizes;
 * NULL if none. *same_kernel: entries of k. */
static struct qv__fused *fused_find(qv_runtime *rt, const qv__kernel *k,
                                    qv_func *const *memb, unsigned n,
                                    size_t size[MAXC][QV_MAX_ARGS], unsigned *same_kernel)
{
    pthread_mutex_lock(&rt->reg_mu);
    *same_kernel = 0;
    struct qv__fused *fz = rt->fused;
    for (; fz; fz = fz->next) {
        if (fz->k != k)
            continue;
        (*same_kernel)++;
        if (!memcmp(fz->memb, memb, n * sizeof *memb) &&
            (!fz->ff || !memcmp(fz->size, size, MAXC * sizeof *size)))
            break;
    }
    pthread_mutex_unlock(&rt->reg_mu);
    return fz;
}

/* Makes the entries of rt->fused one at a time: two threads whose first
 * fused launches of one chain met both made "fused:<kernel>", one failed
 * (the name was taken) and its entry, remembered as not fusable, turned
 * fusing off for good (found by adversarial testing). Rare; any runtime. */
static pthread_mutex_t make_mu = PTHREAD_MUTEX_INITIALIZER;

void qv__fuse_fork_lock(bool lock)
{
    qv__fork_hold(&make_mu, lock);
}

/* fz for kernel k and the chain's functions and sizes, made on first use;
 * NULL when the chain cannot be fused (logged once per kind). */
static struct qv__fused *fused_get(qv_runtime *rt, const qv__kernel *k,
                                   qv_func *const *memb, unsigned n,
                                   const qv_arg *const *args)
{
    struct qv__fused probe;
    memset(&probe, 0, sizeof probe);
    probe.k = k;
    probe.n = n;
    memcpy(probe.memb, memb, n * sizeof *memb);
    char why[200] = "";
    if (!k->mapped || n != k->nfuncs || n > MAXC) {
        snprintf(why, sizeof why,
                 "the catalog does not say which argument is which ('of')");
    } else if (!resolve(&probe, why, sizeof why)) {
        /* why says it */
    } else {
        why[0] = 0;
    }
    size_t size[MAXC][QV_MAX_ARGS];
    memset(size, 0, sizeof size);
    if (!why[0])
        temp_sizes(&probe, args, size);
    unsigned same_kernel;
    struct qv__fused *fz = fused_find(rt, k, memb, n, size, &same_kernel);
    if (fz)
        return fz->ff ? fz : NULL;
    /* Each set of sizes is a function of the runtime's, kept until it is
     * destroyed: a program whose sizes never repeat made one a call. Past
     * rt->max_size_sets of them, a kernel's new sizes run unfused (told
     * once); decided before make_mu, which such calls would all take. */
    if (!why[0] && same_kernel >= rt->max_size_sets) {
        if (!atomic_exchange(&rt->sets_capped, true))
            qv__log(2, "fused kernel '%s': %u sets of sizes made already; calls of new "
                    "sizes run as their chains, not fused", k->name, same_kernel);
        return NULL;
    }
    pthread_mutex_lock(&make_mu);
    if ((fz = fused_find(rt, k, memb, n, size, &same_kernel)) != NULL) {
        pthread_mutex_unlock(&make_mu);
        return fz->ff ? fz : NULL;
    }
    /* New: remember it, fusable or not (then with ff NULL). */
    fz = malloc(sizeof *fz);
    if (!fz) {
        pthread_mutex_unlock(&make_mu);
        return NULL;
    }
    *fz = probe;
    if (!why[0]) {
        memcpy(fz->size, size, sizeof size);
        int rc = make_func(rt, fz, same_kernel);
        if (rc) {
            snprintf(why, sizeof why, "%s", qv_last_error());
            fz->ff = NULL;
        }
    }
    if (why[0])
        qv__log(2, "fused kernel '%s' is not launched in place of its chain: %s", k->name,
                why);
    else
        qv__log(2, "fused kernel '%s' launches in place of its chain (as '%s')", k->name,
                fz->ff->name);
    pthread_mutex_lock(&rt->reg_mu);
    fz->next = rt->fused;
    rt->fused = fz;
    pthread_mutex_unlock(&rt->reg_mu);
    pthread_mutex_unlock(&make_mu);
    return fz->ff ? fz : NULL;
}

static bool same_value(const qv_func *f1, const qv_arg *a1, const qv_func *f2,
                       const qv_arg *a2, unsigned i1, unsigned i2)
{
    if (f1->args[i1].is_buf)
        return a1[i1].buf == a2[i2].buf;
    return f1->args[i1].size == f2->args[i2].size &&
           !memcmp(a1[i1].val, a2[i2].val, f1->args[i1].size);
}

/* Whether the calls are wired as the kernel says: connected buffers the
 * same, the arguments a kernel argument stands for equal, and the kernel's
 * buffers apart from those the kept calls write. */
static bool wired(const struct qv__fused *fz, const qv_arg *const *args,
                  const qv_arg *fargs)
{
    for (unsigned j = 0; j < fz->n; j++)
        for (unsigned i = 0; i < fz->memb[j]->nargs; i++) {
            unsigned fr = fz->from[j][i];
            if (fz->role[j][i] == ROLE_ARG) {
                unsigned a = fr;
                if (!same_value(fz->memb[fz->src_j[a]], args[fz->src_j[a]], fz->memb[j],
                                args[j], fz->src_i[a], i))
                    return false;
            } else if (fz->role[j][i] == ROLE_IN) {
                if (args[j][i].buf != args[fr / QV_MAX_ARGS][fr % QV_MAX_ARGS].buf)
                    return false;
            }
        }
    const qv_func *ff = fz->ff;
    for (unsigned a = 0; a < ff->nargs; a++) {
        if (!ff->args[a].is_buf)
            continue;
        for (unsigned j = 0; j < fz->n; j++)
            for (unsigned i = 0; i < fz->memb[j]->nargs; i++) {
                const qv_arg_desc *d = &fz->memb[j]->args[i];
                if (!d->is_buf || args[j][i].buf != fargs[a].buf)
                    continue;
                /* The kernel reads its inputs at the start: no call of the
                 * chain may write them. A call kept deferred must not touch
                 * what the kernel writes, nor write what it reads. */
                if ((ff->args[a].mode & QV_R) && (d->mode & QV_W) &&
                    !(fz->role[j][i] == ROLE_ARG && fz->from[j][i] == a))
                    return false;
                if (fz->recipe[j] && ((ff->args[a].mode | d->mode) & QV_W))
                    return false;
            }
    }
    return true;
}

/* Whether buffer b holds zero bytes only, as far as the calls before now
 * go. Under submit_mu. */
static bool all_zero(const qv_buf *b)
{
    if (!qv__defer_host_current(b))
        return false;
    const unsigned char *p = b->ptr;
    for (size_t i = 0; i < b->size; i++)
        if (p[i])
            return false;
    return true;
}

/* Whether the program kept f from fused kernels: it did not tie f to
 * the catalog's function of its name with qv_func_set_fpga (to a kernel
 * of its own, or to a fused kernel that implements it). A name alone is
 * not enough: a program's own `mag` that computes something else than the
 * catalog's was taken over by fir_fft_mag, its results silently replaced
 * (a user's test). */
bool qv__fuse_kept_off(const qv_func *f)
{
    return !atomic_load_explicit(&f->catalog_bound, memory_order_relaxed);
}

/* Whether f's call could run on a device that does not run kernel k
 * (ff: its fused function, or NULL before its first launch): the CPU, the
 * GPU, a board without k. */
static bool runs_apart(qv_runtime *rt, const qv_func *f, const qv__kernel *k,
                       const qv_func *ff)
{
    if (qv__func_cpu(f))
        return true;
    for (unsigned d = 1; d <= rt->naccel; d++) {
        if (!qv__devq_usable_unmasked(rt, d, f))
            continue;
        qv_class c = qv__devq_class(rt, d);
        bool fused = ff ? qv__devq_usable_unmasked(rt, d, ff)
                        : (c == QV_CLASS_FPGA || c == QV_CLASS_REMOTE) &&
                              qv__devq_serves(rt, d, k->name);
        if (!fused)
            return true;
    }
    return false;
}

/* A fused task re-runs only where its kernel is, or on the CPU when its
 * function has the chain as CPU implementation (made so when every call
 * had one, as it was made). Without that, a chain whose calls could all
 * run elsewhere (an OpenCL mag on PoCL; a CPU implementation given back
 * after the fused function was made) would go down with the board where
 * each call alone runs: it stays apart, as a part does (part.c). A chain
 * with a call that only boards with k can run ends there anyway. */
bool qv__fuse_strands(qv_runtime *rt, qv_func *const *memb, unsigned n,
                      const qv__kernel *k, const qv_func *ff)
{
    bool cpu = ff ? qv__func_cpu(ff) != NULL : true;
    for (unsigned j = 0; !ff && j < n; j++)
        cpu &= qv__func_cpu(memb[j]) != NULL;
    if (cpu)
        return false;
    for (unsigned j = 0; j < n; j++)
        if (!runs_apart(rt, memb[j], k, ff))
            return false;
    return true;
}

qv__task *qv__fuse_launch(qv_runtime *rt, const qv__kernel *k, const uint64_t *seq,
                          unsigned n, qv_func *f, const qv_arg *args, unsigned dev)
{
    if (n < 2 || n > MAXC)
        return NULL;
    qv_func *memb[MAXC];
    const qv_arg *cargs[MAXC];
    qv_arg copy[MAXC - 1][QV_MAX_ARGS];
    qv__defer *d[MAXC];
    memb[n - 1] = f;
    cargs[n - 1] = args;
    unsigned char *sc = qv__defer_copy(rt, seq, n - 1, d, memb, cargs, copy);
    struct qv__fused *fz = sc ? fused_get(rt, k, memb, n, cargs) : NULL;
    if (!fz) {
        free(sc);
        return NULL;
    }
    /* Each call of the chain must be allowed where the kernel runs
     * (qv_func_set_where) and tied to the catalog (qv__fuse_kept_off):
     * else the chain runs as it is. */
    qv_class cls = dev ? qv__devq_class(rt, dev) : QV_CLASS_CPU;
    for (unsigned j = 0; j < n; j++)
        if (!(memb[j]->where ? memb[j]->where & (1u << cls) : 1) ||
            qv__fuse_kept_off(memb[j])) {
            free(sc);
            return NULL;
        }
    if (qv__fuse_strands(rt, memb, n, k, fz->ff)) {
        qv__log(3,
                "the chain of '%s' runs as it is, not fused: a board that failed the "
                "launch would take calls down with it that run elsewhere alone",
                k->name);
        free(sc);
        return NULL;
    }
    qv_arg fargs[QV_MAX_ARGS];
    for (unsigned a = 0; a < fz->ff->nargs; a++)
        fargs[a] = cargs[fz->src_j[a]][fz->src_i[a]];
    /* The call must fit the fused kernel's sizes and limits, as any call
     * must fit its kernel to reach a board (fir's taps past what
     * fir_fft_mag takes left its output unwritten). */
    char why[256];
    if (!qv__fpga_fits_args(fz->ff, fargs, why, sizeof why)) {
        qv__log(3, "the chain of '%s' runs as it is, not fused: %s", k->name, why);
        free(sc);
        return NULL;
    }
    pthread_mutex_lock(&rt->submit_mu);
    bool ok = !rt->shut;
    for (unsigned j = 0; ok && j + 1 < n; j++)
        ok = qv__defer_find(rt, seq[j]) == d[j];
    ok = ok && wired(fz, cargs, fargs);
    for (unsigned j = 0; ok && j < n; j++)
        for (unsigned i = 0; ok && i < memb[j]->nargs; i++)
            if (fz->role[j][i] == ROLE_ZERO)
                ok = all_zero(cargs[j][i].buf);
    /* A call another thread deferred since the chain began, on the
     * kernel's buffers, comes after the chain: the chain runs as it is
     * (review: the kernel read an input that call wrote later, and the
     * held calls forced with it were used after they were freed). */
    ok = ok && !qv__defer_newer_conflict(rt, seq[0], fz->ff, fargs);
    uint64_t tail = 0;
    int rc = 0;
    if (ok && fz->recipe[n - 1]) /* the last call writes an intermediate too */
        ok = (tail = qv__defer_call(rt, f, args, f->nargs, 0, 0, false, &rc)) != 0;
    qv__task *t = NULL, *forced = NULL;
    if (ok) {
        /* The kernel first: should it not go in, the chain is untouched
         * and the caller submits it as it is. Its buffers are apart from
         * the held calls' (wired), and no newer deferred call conflicts
         * with it (above): it forces only older calls, none of the chain's
         * (a closure takes older calls only). */
        t = qv__submit_locked(rt, fz->ff, fargs, fz->ff->nargs, dev + 1, 0, &forced, NULL,
                              &rc);
        qv__defer *td = tail ? qv__defer_find(rt, tail) : NULL;
        if (!t) {
            qv__log(1, "fused kernel '%s' not submitted, the chain runs as it is: %s",
                    k->name, qv_last_error());
            if (td)
                qv__defer_drop(rt, td);
            ok = false;
        } else {
            for (unsigned j = 0; j + 1 < n; j++)
                if (fz->recipe[j])
                    qv__defer_keep(rt, d[j]);
                else
                    qv__defer_drop(rt, d[j]);
            qv__defer_prune(rt);
        }
    }
    pthread_mutex_unlock(&rt->submit_mu);
    free(sc);
    qv__defer_start(rt, forced);
    return ok ? t : NULL;
}

int qv__fuse_run_cpu(const qv_func *f, const qv_call *call, void (*ready)(void *),
                     void *ready_arg)
{
    const struct qv__fused *fz = f->fused;
    /* Every call's CPU implementation first: one removed since the chain
     * was fused (qv_func_set_cpu NULL) fails the launch, before any call
     * of it has written anything (it called NULL). */
    qv_cpu_fn fn[MAXC];
    for (unsigned j = 0; j < fz->n; j++)
        if (!(fn[j] = qv__func_cpu(fz->memb[j])))
            return qv__fail(QV_ENODEV, "fused kernel '%s' on the CPU: '%s' of its chain has "
                            "no CPU implementation", fz->k->name, fz->memb[j]->name);
    /* Every intermediate before anything is written, and before the
     * buffers written on the host are declared valid there only (ready):
     * an allocation that failed after them failed the task with its
     * outputs half written, or with a board's copy of one already dropped
     * and the host's never written (as qv__part_run_cpu). */
    void *tmp[MAXC][QV_MAX_ARGS];
    memset(tmp, 0, sizeof tmp);
    int rc = 0;
    for (unsigned j = 0; j < fz->n && !rc; j++)
        for (unsigned i = 0; i < fz->memb[j]->nargs && !rc; i++) {
            if (fz->role[j][i] != ROLE_TMP && fz->role[j][i] != ROLE_ZERO)
                continue;
            size_t n = fz->size[j][i] ? fz->size[j][i] : 1;
            /* Tests: a "fuse" allocation fault is this out of memory. */
            if (qv__fault_hit("fuse", QV_FAULT_ALLOC) || !(tmp[j][i] = calloc(1, n)))
                rc = QV_ENOMEM;
        }
    if (!rc && ready)
        ready(ready_arg);
    for (unsigned j = 0; j < fz->n && !rc; j++) {
        const qv_func *m = fz->memb[j];
        void *ptr[QV_MAX_ARGS];
        size_t size[QV_MAX_ARGS];
        for (unsigned i = 0; i < m->nargs; i++) {
            unsigned fr = fz->from[j][i];
            switch (fz->role[j][i]) {
            case ROLE_ARG:
                ptr[i] = call->ptr[fr];
                size[i] = call->size[fr];
                break;
            case ROLE_IN: {
                unsigned sj = fr / QV_MAX_ARGS, si = fr % QV_MAX_ARGS;
                bool arg = fz->role[sj][si] == ROLE_ARG;
                ptr[i] = arg ? call->ptr[fz->from[sj][si]] : tmp[sj][si];
                size[i] = arg ? call->size[fz->from[sj][si]] : fz->size[sj][si];
                break;
            }
            default: /* a zero input, or an output nobody reads later */
                ptr[i] = tmp[j][i];
                size[i] = fz->size[j][i];
            }
        }
        fn[j](&(qv_call){ptr, size, m->nargs, call->worker});
    }
    for (unsigned j = 0; j < fz->n; j++)
        for (unsigned i = 0; i < QV_MAX_ARGS; i++)
            free(tmp[j][i]);
    return rc ? qv__fail(rc,
                         "fused kernel '%s' on the CPU: out of memory for the "
                         "chain's intermediate buffers",
                         fz->k->name)
              : 0;
}

void qv__fuse_free(qv_runtime *rt)
{
    while (rt->fused) {
        struct qv__fused *fz = rt->fused;
        rt->fused = fz->next;
        free(fz);
    }
}
