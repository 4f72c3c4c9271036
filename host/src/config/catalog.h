/*
 * catalog.h - the kernel catalog (config/kernels.yaml): precompiled FPGA
 * kernels, which function (or fused chain of functions) each implements, the
 * xclbin built for each board, its argument map and its performance model.
 *
 * Schema (docs/config/catalog.md has every key with its default):
 *   boards: [../boards, ../boards/emu]   board files or directories of them;
 *                                        builds name boards found there
 *   functions: [vadd, scale]             optional: the functions the
 *                                        application registers; when given,
 *                                        `implements` must name them
 *   kernels:                             required (may be empty: [])
 *     - name: vadd                       unique
 *       implements: vadd | [scale, vadd] one function, or a fused chain
 *       connect: [{from: scale.out, to: vadd.a}]   fused chains only
 *       zero: [fft.in_im]     fused chains only: chain inputs the kernel
 *                             takes as all zero bytes
 *       args:
 *         - {name: a, dir: in | out | inout, type: float, size: n,
 *            of: scale.x | [fir.n, fft.n]}   fused chains only: the chain
 *                             argument(s) this one is; all or none have it
 *         - {name: n, dir: scalar, type: uint32}
 *       builds: [{board: alveo-u250, xclbin: ../bitstreams/u250/vadd.xclbin},
 *                {platform: xilinx_u280_gen3x16_xdma_1_202211_1, xclbin: ...}]
 *       perf: {clock_mhz: 300, ii: 1, latency_cycles: 40, trip_count: n}
 *          or {table: [{bytes: 4096, us: 3.5}, ...]}
 *       resources: {lut: 1800, ff: 2900, dsp: 0, bram: 4, uram: 0}
 * Sizes are expressions over the kernel's scalar arguments (catalog_expr.h):
 * integers, names, + - * / and parentheses; `size` counts elements of
 * `type`. The loader refuses an expression that could divide by zero or go
 * negative for some values of 1 or more of its scalars (up to each type's
 * largest value): `n / (m - 1)` and `n - m` are refused, `n + taps - 1` is
 * fine.
 */
#ifndef QV_CONFIG_CATALOG_H
#define QV_CONFIG_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include "config/board.h"
#include "config/catalog_expr.h" /* sizes and trip counts */

typedef enum qv__kdir {
    QV__KDIR_IN,
    QV__KDIR_OUT,
    QV__KDIR_INOUT,
    QV__KDIR_SCALAR
} qv__kdir;

typedef struct qv__karg {
    char *name;
    qv__kdir dir;
    int type;      /* index into qv__ktype_names */
    unsigned elem; /* bytes per element */
    char *size;    /* buffers: an expression; NULL for scalars */
    /* Integer scalars: the values the kernel takes (min:, max:, pow2:,
     * odd:); a call outside them never reaches a board, which would
     * leave its outputs unwritten. */
    uint64_t min, max; /* max UINT64_MAX: none */
    bool pow2, odd;
    /* A fused kernel's argument: the chain's arguments it stands for
     * ("function.arg", each a function of the chain; several when they
     * must hold the same value, as fir.n and fft.n). NULL when the
     * catalog does not say, and then the runtime cannot launch the kernel
     * in place of the chain (the planner still plans with it). */
    char **of;
    size_t nof;
} qv__karg;

typedef struct qv__kconn {
    char *from, *to; /* "function.arg" */
} qv__kconn;

typedef struct qv__kbuild {
    /* The board it was built for; for a build by platform, the first real
     * board of that platform (every such board gets the same xclbin).
     * Owned by the catalog. */
    const qv__board *board;
    const char *platform; /* the vendor platform (owned by the board) */
    int by_platform;      /* 1: named by `platform`, not by `board` */
    char *xclbin;         /* resolved path */
} qv__kbuild;

typedef struct qv__kpoint {
    uint64_t bytes;
    double us;
} qv__kpoint;

/* The most functions a fused chain may have (`implements: [...]`). */
#define QV__KERNEL_MAX_FUNCS 64

typedef struct qv__kernel {
    char *name;
    char **funcs; /* one, or the fused chain in order */
    size_t nfuncs;
    qv__kconn *conn;
    size_t nconn;
    /* Chain inputs ("function.arg") the fused kernel does not take: it
     * computes as if they held zero bytes only (fft.in_im of a real
     * signal). */
    char **zero;
    size_t nzero;
    /* Whether every argument says what it is (`of`): the runtime can run
     * the kernel in place of its chain (core/fuse.c). */
    int mapped;
    qv__karg *args;
    size_t nargs;
    qv__kbuild *builds;
    size_t nbuilds;
    /* perf: a cycle model, or (ntable > 0) a table of measured times */
    double clock_mhz; /* 0 = the board's clock */
    uint64_t ii, latency_cycles;
    char *trip_count;
    qv__kpoint *table;
    size_t ntable;
    uint64_t lut, ff, dsp, bram, uram;
} qv__kernel;

typedef struct qv__catalog {
    char *path;
    qv__board **boards;
    size_t nboards;
    char **functions;
    size_t nfunctions;
    qv__kernel *kernels;
    size_t nkernels;
} qv__catalog;

extern const char *const qv__ktype_names[];

/* The one loader, for the runtime (the policy's `catalog`), qv_config_check
 * and the planner (qv_catalog_load in qvpart.h, which is this type). */
int qv__catalog_load(const char *path, qv__catalog **out, qv_diag *diag);
int qv__catalog_from_doc(const qv__ydoc *doc, qv__catalog **out, qv_diag *diag);
/* qv_config_check; with builds (`quiver check`), a catalog's builds are
 * checked too, each xclbin as the board that loads it would check it
 * (read as an xclbin, its kernel and the catalog's arguments, element
 * types included, an emulation build exactly for an emulated board, the
 * board's platform), so that the command refuses what a board would
 * refuse at its first call (it never opened them: a build whose types
 * disagreed with the catalog ran, with wrong results; a user's test). The
 * library's loaders do not: a catalog for planning may name builds not
 * made yet. */
int qv__config_check(const char *path, qv_config_kind *kind, qv_diag *diag, bool builds);
void qv__catalog_free(qv__catalog *c);

/* The build of kernel k that a board loads, or NULL: a build named by the
 * board's name, else, for a real (not emulated) board, one named by its
 * vendor platform (platform may be NULL). The one rule of "an FPGA runs a
 * kernel only if the catalog has a build of it for that board or its
 * platform": the devices take the xclbin from it, and placement and the
 * planner (qv_catalog_holds) decide with it. */
const qv__kbuild *qv__kernel_build(const qv__kernel *k, const char *board,
                                   const char *platform, int emulation);

/* µs of one call of k on `bytes` by its table (qv_catalog_table_us in
 * qvpart.h says how it interpolates); NAN when k has no table. */
double qv__kernel_table_us(const qv__kernel *k, uint64_t bytes);

#endif
