/*
 * cmd_xclbin.h - what the files of `quiver xclbin` share: its subcommands,
 * one file each (info, build, entry), the usage text (cmd_xclbin.c), and
 * the kernel signatures that build and entry both read (cmd_xclbin_sig.c).
 */
#ifndef QV_TOOLS_CMD_XCLBIN_H
#define QV_TOOLS_CMD_XCLBIN_H

#include <stdio.h>

#include "commands.h"
#include "xclbin/xclbin.h"

#define QV_XCLBIN_MAX_FILE (4ull << 30) /* bytes: larger files are refused */

/* Kernels read from --kernel signatures; the specs point into sigs. */
typedef struct qv_xsig {
    qv__xclbin_kernel_spec kernels[QV__XCLBIN_MAX_KERNELS];
    qv__xclbin_arg_spec *args[QV__XCLBIN_MAX_KERNELS];
    char *sigs[QV__XCLBIN_MAX_KERNELS]; /* the signatures, cut in place */
    size_t nkernels;
} qv_xsig;

/* Parses "NAME(ARG:TYPE, ...)" into b->kernels[b->nkernels] (one compute
 * unit). Returns 0, 2 after printing "prog: --kernel '...': what is wrong",
 * or 1 when out of memory. */
int qv_xsig_parse(qv_xsig *b, const char *prog, const char *sig);

/* Frees what qv_xsig_parse allocated; b itself is the caller's. */
void qv_xsig_fini(qv_xsig *b);

void qv_xclbin_usage(FILE *out);

int qv_cmd_xclbin_info(int argc, char **argv);
int qv_cmd_xclbin_build(int argc, char **argv);
int qv_cmd_xclbin_entry(int argc, char **argv);

#endif
