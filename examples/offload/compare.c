/*
 * compare.c - offload-compare: whether two outputs of the offload example
 * (numbers separated by white space, one a line) agree: the same count, and every pair
 * within TOL times the largest magnitude of the first file (the spectrum's peak), since a
 * board or a GPU may round sums in another order than the CPU.
 *
 *   offload-compare [--tol TOL] EXPECTED ACTUAL     (TOL default 1e-4)
 *
 * Prints "identical within TOL of the peak: OK" (exit 0), or where they
 * differ and "DIFFER" (exit 1); 2 for bad arguments or an unreadable file,
 * whose message names the file, line and column (numbers.c reads them).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numbers.h"

/* The numbers of `path` into *out (malloc'ed); 0 on success. */
static int load(const char *path, double **out, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "offload-compare: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = read_numbers(f, path, DBL_MAX, out, len);
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    double tol = 1e-4;
    int i = 1;
    if (argc == 5 && !strcmp(argv[1], "--tol")) {
        char *end;
        tol = strtod(argv[2], &end);
        if (*end || !(tol >= 0) || !isfinite(tol)) {
            fprintf(stderr, "offload-compare: --tol '%s': expected a number >= 0\n",
                    argv[2]);
            return 2;
        }
        i = 3;
    } else if (argc != 3) {
        fprintf(stderr, "usage: offload-compare [--tol TOL] EXPECTED ACTUAL\n");
        return 2;
    }
    double *a, *b;
    size_t na, nb;
    if (load(argv[i], &a, &na))
        return 2;
    if (load(argv[i + 1], &b, &nb)) {
        free(a);
        return 2;
    }
    int rc = 0;
    if (na != nb || na == 0) {
        printf("offload-compare: %s has %zu values, %s %zu: DIFFER\n", argv[i], na,
               argv[i + 1], nb);
        rc = 1;
    } else {
        double peak = 0, worst = 0;
        size_t at = 0;
        for (size_t k = 0; k < na; k++)
            peak = fmax(peak, fabs(a[k]));
        for (size_t k = 0; k < na; k++)
            if (fabs(a[k] - b[k]) > worst) {
                worst = fabs(a[k] - b[k]);
                at = k;
            }
        if (worst > tol * peak) {
            printf("offload-compare: value %zu: %.9g against %.9g (peak %.9g, tolerance "
                   "%g): "
                   "DIFFER\n",
                   at + 1, a[at], b[at], peak, tol);
            rc = 1;
        } else {
            printf("offload-compare: %zu values, largest difference %.3g (%.3g of the "
                   "peak): "
                   "identical within %g of the peak: OK\n",
                   na, worst, peak > 0 ? worst / peak : 0.0, tol);
        }
    }
    free(a);
    free(b);
    return rc;
}
