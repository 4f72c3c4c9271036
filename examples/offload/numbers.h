/*
 * numbers.h - the one reader of the offload example's text files: the
 * signal offload reads (--in) and the outputs offload-compare compares.
 */
#ifndef OFFLOAD_NUMBERS_H
#define OFFLOAD_NUMBERS_H

#include <stddef.h>
#include <stdio.h>

/*
 * Reads numbers separated by white space from f to its end into *out
 * (malloc'ed, the caller frees it) and their count into *n; each must be
 * finite and at most `limit` in magnitude (FLT_MAX for floats). Returns 0,
 * or -1 after printing to stderr what was wrong: "NAME:LINE:COLUMN:
 * expected ..." for bad text (a NUL byte included), "NAME: ..." for a read
 * error or no memory. *out and *n are set only on success. An empty file
 * gives 0 numbers.
 */
int read_numbers(FILE *f, const char *name, double limit, double **out, size_t *n);

#endif
