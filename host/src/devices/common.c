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

/* The element of C type t as the build wrote it ("float*", "const
 * unsigned int"): its bytes and whether it is a floating type; false for
 * a type not told (a struct, ap_int<N>, void*): then not compared. */
static bool c_elem(const char *t, unsigned *bytes, bool *fp)
{
    char w[64];
    size_t n = 0;
    for (const char *p = t; *p && n + 1 < sizeof w; p++) /* drop '*', '&' */
        if (*p != '*' && *p != '&')
            w[n++] = *p;
    while (n && w[n - 1] == ' ')
        n--;
    w[n] = 0;
    const char *s = w;
    while (*s == ' ')
        s++;
    return qv__xclbin_c_scalar(s, bytes, fp);
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
        /* The element type too: a buffer of doubles in the catalog for a
         * kernel of floats moved twice the bytes, and the results were
         * wrong without a word (a user's test). */
        unsigned xb;
        const char *ct = qv__ktype_names[c->type];
        bool xfp, cfp = !strcmp(ct, "half") || !strcmp(ct, "float") || !strcmp(ct, "double");
        if (!no && x->type && c_elem(x->type, &xb, &xfp) && (xb != c->elem || xfp != cfp))
            no = "another type";
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

int qv__xclbin_fits_board(const struct qv__xclbin *x, const void *board, const char *path)
{
    const qv__board *b = board;
    if (!b || !b->platform || !x->platform[0] || !strcmp(b->platform, x->platform))
        return 0;
    return qv__fail(QV_EMISMATCH, "%s was built for platform %s; board %s is a %s", path,
                    x->platform, b->name, b->platform);
}

int qv__xclbin_read(const char *path, size_t limit, uint8_t **data, struct qv__xclbin **x)
{
    size_t size;
    qv__xclbin_error xe;
    /* The magic and the header's length are checked before the rest is
     * read: a wrong file costs nothing, however large. */
    int rc = qv__xclbin_load_file(path, limit, data, &size, &xe);
    /* The loader's words whenever it has some ("file is larger than ...",
     * "too many levels of symbolic links"): the code alone said "too many
     * arguments" for a file past the limit (adversarial testing). */
    if (rc)
        return qv__fail(QV_ENOTSUP, "%s: %s", path, xe.msg[0] ? xe.msg : qv_strerror(rc));
    if (qv__xclbin_parse(*data, size, x, &xe) != 0) {
        free(*data);
        *data = NULL;
        return qv__fail(QV_ENOTSUP, "%s: %s", path, xe.msg);
    }
    return 0;
}

/* Whether the n bytes at p are an ELF shared library (ET_DYN), the only
 * thing dlopen takes: the magic and e_type, read in the file's byte
 * order. */
static bool is_shared_object(const uint8_t *p, uint64_t n)
{
    if (n < 18 || memcmp(p, "\177ELF", 4) != 0 || (p[5] != 1 && p[5] != 2))
        return false;
    unsigned type =
        p[5] == 1 ? p[16] | (unsigned)p[17] << 8 : (unsigned)p[16] << 8 | p[17];
    return type == 3; /* ET_DYN */
}

int qv__xclbin_emu_runs(const struct qv__xclbin *x, const char *path, const char *kernel,
                        const char *board)
{
    /* Each fault in its own words: every one of them was "not an emulation
     * build", also for the sw_emu build that lacked only its library
     * (adversarial testing). */
    if (x->mode == QV__XCLBIN_HW_EMU || x->mode == QV__XCLBIN_HW_EMU_PR)
        return qv__fail(QV_ENOTSUP,
                        "%s is an hw_emu build (%s) of kernel '%s'; emulated "
                        "board %s runs sw_emu builds, the kernel compiled for the host "
                        "(quiver xclbin build --mode sw_emu --bitstream LIB)",
                        path, qv__xclbin_mode_name(x->mode), kernel, board);
    if (x->mode != QV__XCLBIN_SW_EMU)
        return qv__fail(QV_ENOTSUP,
                        "%s is a hardware build (%s) of kernel '%s'; emulated "
                        "board %s runs sw_emu builds, the kernel compiled for the host "
                        "(quiver xclbin build --mode sw_emu --bitstream LIB)",
                        path, qv__xclbin_mode_name(x->mode), kernel, board);
    if (!x->has_bitstream || !x->bitstream_size)
        return qv__fail(
            QV_ENOTSUP,
            "%s is an sw_emu build without the host library of "
            "kernel '%s': it has %s BITSTREAM section, which emulated board %s "
            "loads the kernel from (quiver xclbin build --bitstream LIB)",
            path, kernel, x->has_bitstream ? "an empty" : "no", board);
    if (!is_shared_object(x->bitstream, x->bitstream_size))
        return qv__fail(QV_ENOTSUP,
                        "%s: the BITSTREAM section of this sw_emu build is not "
                        "a shared library (ELF, ET_DYN); emulated board %s loads kernel "
                        "'%s' from it",
                        path, board, kernel);
    return 0;
}

int qv__xclbin_check_build(const struct qv__kernel *k, const void *board, const char *path)
{
    const qv__board *b = board;
    uint8_t *data;
    qv__xclbin *x;
    int rc = qv__xclbin_read(path, (size_t)1 << 31, &data, &x);
    if (rc)
        return rc;
    const qv__xclbin_kernel *xk = qv__xclbin_kernel_find(x, k->name);
    bool emu = x->mode == QV__XCLBIN_SW_EMU || x->mode == QV__XCLBIN_HW_EMU ||
               x->mode == QV__XCLBIN_HW_EMU_PR;
    if (!xk)
        rc = qv__fail(QV_ENOTSUP, "%s does not hold kernel '%s'", path, k->name);
    else if (b && b->emulation)
        rc = qv__xclbin_emu_runs(x, path, k->name, b->name);
    else if (b && emu)
        rc = qv__fail(QV_ENOTSUP, "%s is an emulation build: it runs on emulated boards, "
                      "not on %s", path, b->name);
    if (!rc)
        rc = qv__kernel_matches_xclbin(k, xk, path);
    if (!rc)
        rc = qv__xclbin_fits_board(x, b, path);
    qv__xclbin_destroy(x);
    free(data);
    return rc;
}

double qv__kernel_call_us(const qv__kernel *k, double board_mhz, const qv_call *c)
{
    double mhz = k->clock_mhz > 0 ? k->clock_mhz : board_mhz > 0 ? board_mhz : 300.0;
    const char *names[QV_MAX_ARGS];
    uint64_t vals[QV_MAX_ARGS];
    size_t n = 0;
    for (unsigned i = 0; i < c->nargs && i < k->nargs; i++) {
        if (k->args[i].dir != QV__KDIR_SCALAR)
            continue;
        uint64_t v = 0;
        memcpy(&v, c->ptr[i], c->size[i] < sizeof v ? c->size[i] : sizeof v);
        names[n] = k->args[i].name;
        vals[n++] = v;
    }
    if (k->ntable) {
        uint64_t bytes = 0;
        for (unsigned i = 0; i < c->nargs; i++)
            if (k->args[i].dir != QV__KDIR_SCALAR)
                bytes += c->size[i];
        return qv__kernel_table_us(k, bytes); /* the planner's reading too */
    }
    uint64_t trips = 1;
    if (k->trip_count && qv__expr_eval(k->trip_count, names, vals, n, &trips) != 0)
        trips = 1;
    double more = trips > 0 ? (double)(trips - 1) : 0.0;
    return ((double)k->latency_cycles + (double)k->ii * more) / mhz;
}
