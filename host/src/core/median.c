/*
 * median.c - the median of a few values, for the estimates that must not
 * follow one spike (a region's calibration and its times against eager
 * placement, an emulated board's wall time).
 */
#include <stdlib.h>

#include "core/internal.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double qv__median(double *v, unsigned n)
{
    if (!n)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
