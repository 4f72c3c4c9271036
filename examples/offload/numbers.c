/*
 * numbers.c - read_numbers (numbers.h): white-space separated numbers,
 * line by line with getline, each checked with strtod where it starts, so
 * that an error names its line and column.
 */
#define _POSIX_C_SOURCE 200809L
#include "numbers.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int read_numbers(FILE *f, const char *name, double limit, double **out, size_t *n)
{
    size_t count = 0, cap = 1024, linecap = 0;
    double *v = malloc(cap * sizeof *v);
    char *line = NULL;
    unsigned long lineno = 0;
    ssize_t len;
    if (!v) {
        fprintf(stderr, "%s: out of memory\n", name);
        return -1;
    }
    errno = 0;
    while ((len = getline(&line, &linecap, f)) >= 0) {
        lineno++;
        size_t text = strlen(line);
        if (text != (size_t)len) {
            fprintf(stderr, "%s:%lu:%zu: expected text, not a NUL byte\n", name, lineno,
                    text + 1);
            goto fail;
        }
        char *p = line;
        for (;;) {
            while (is_space(*p))
                p++;
            if (!*p)
                break;
            char *end;
            double d = strtod(p, &end);
            if (end == p || !isfinite(d) || fabs(d) > limit ||
                (*end && !is_space(*end))) {
                fprintf(stderr,
                        "%s:%lu:%td: expected a finite number of magnitude at most %g\n",
                        name, lineno, p - line + 1, limit);
                goto fail;
            }
            if (count == cap) {
                double *bigger = realloc(v, 2 * cap * sizeof *v);
                if (!bigger) {
                    fprintf(stderr, "%s: out of memory\n", name);
                    goto fail;
                }
                v = bigger;
                cap *= 2;
            }
            v[count++] = d;
            p = end;
        }
        errno = 0;
    }
    if (ferror(f) || errno == ENOMEM) {
        fprintf(stderr, "%s: %s\n", name,
                errno == ENOMEM ? "out of memory" : "read error");
        goto fail;
    }
    free(line);
    *out = v;
    *n = count;
    return 0;
fail:
    free(line);
    free(v);
    return -1;
}
