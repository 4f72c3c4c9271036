/*
 * tile_kernels_cl.h - OpenCL C versions of three of the tile kernels, as
 * one source string. NB (the tile size) comes in as a build option, -DNB=.
 * potrf stays on the CPU: it is a sequential column sweep.
 */
#ifndef QV_EXAMPLE_TILE_KERNELS_CL_H
#define QV_EXAMPLE_TILE_KERNELS_CL_H

static const char tile_kernels_cl[] =
    "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n"
    "#define AT(m, i, j) (m)[(j) * NB + (i)]\n"
    "/* B = B L^-T: rows are independent; one work-item per row. */\n"
    "__kernel void trsm(__global const double *l, __global double *b)\n"
    "{\n"
    "    int i = get_global_id(0);\n"
    "    for (int j = 0; j < NB; j++) {\n"
    "        double s = AT(b, i, j);\n"
    "        for (int k = 0; k < j; k++)\n"
    "            s -= AT(b, i, k) * AT(l, j, k);\n"
    "        AT(b, i, j) = s / AT(l, j, j);\n"
    "    }\n"
    "}\n"
    "/* C = C - A A^T, lower triangle; one work-item per element. */\n"
    "__kernel void syrk(__global const double *a, __global double *c)\n"
    "{\n"
    "    int i = get_global_id(0), j = get_global_id(1);\n"
    "    if (i < j) return;\n"
    "    double s = 0;\n"
    "    for (int k = 0; k < NB; k++)\n"
    "        s += AT(a, i, k) * AT(a, j, k);\n"
    "    AT(c, i, j) -= s;\n"
    "}\n"
    "/* C = C - A B^T; one work-item per element. */\n"
    "__kernel void gemm(__global const double *a, __global const double *b,\n"
    "                   __global double *c)\n"
    "{\n"
    "    int i = get_global_id(0), j = get_global_id(1);\n"
    "    double s = 0;\n"
    "    for (int k = 0; k < NB; k++)\n"
    "        s += AT(a, i, k) * AT(b, j, k);\n"
    "    AT(c, i, j) -= s;\n"
    "}\n";

#endif
