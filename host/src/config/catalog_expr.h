/*
 * catalog_expr.h - the expression language of the kernel catalog: the
 * `size:` of a buffer argument and the `trip_count:` of a cycle model, over
 * the kernel's scalar arguments. Integers, names, + - * / and parentheses
 * (32 levels at most), unsigned 64-bit arithmetic.
 *
 * One evaluator serves both uses: the loader checks an expression once over
 * every value its scalars can take (qv__expr_check), so that the runtime's
 * evaluation with a call's values (qv__expr_eval) cannot fail for a call
 * whose scalars are 1 or more.
 */
#ifndef QV_CONFIG_CATALOG_EXPR_H
#define QV_CONFIG_CATALOG_EXPR_H

#include <stddef.h>
#include <stdint.h>

/* Why an expression was refused. */
typedef struct qv__expr_error {
    const char *what; /* static text: "unknown name", "expected ')'", ... */
    size_t at;        /* 0-based character of the operator or name at fault */
    size_t pos;       /* 0-based character where parsing stopped */
    int unknown;      /* 1: `name` is not among the names */
    int range;        /* 1: valid syntax, but some values divide by zero,
                       * go negative or overflow */
    char name[64];    /* the unknown name (truncated to 60 characters) */
} qv__expr_error;

/* Checks expression s over names[0..n-1], name i ranging over [1, max[i]]
 * (max NULL: up to 2^64-1): the syntax, the names, and that no values in
 * range divide by zero or give a negative size (the upper bound saturates:
 * a size may overflow for absurd values, which qv__expr_eval refuses).
 * Returns 0, or QV_EINVAL with *err filled. */
int qv__expr_check(const char *s, const char *const *names, const uint64_t *max,
                   size_t n, qv__expr_error *err);

/* Evaluates a size expression with the named scalar values (any values:
 * the load-time check assumed 1 or more). Returns 0, or QV_EINVAL for an
 * unknown name, a division by zero, an overflow or a negative result; never
 * crashes, whatever the values. */
int qv__expr_eval(const char *expr, const char *const *names, const uint64_t *values,
                  size_t n, uint64_t *out);

#endif
