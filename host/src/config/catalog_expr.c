/*
 * catalog_expr.c - the catalog's size expressions (catalog_expr.h): a
 * recursive-descent parser that computes, for each subexpression, the range
 * of values it can take.
 */
#include "config/catalog_expr.h"

#include <stdio.h>
#include <string.h>

#include "quiver.h"

#define MAX_EXPR_DEPTH 32

/* One evaluator for both uses. At run time every name has its value
 * (lo == hi) and the result is exact; a division by zero, an overflow or a
 * negative result is an error, never a crash. At load time every name ranges
 * over [1, the largest value of its type] (a call with a zero count moves
 * no data), and the expression must be valid over the whole range: an
 * expression that can divide by zero or go negative for some values is
 * refused then, so that it cannot fail later. The upper bound saturates (a
 * size may well overflow for absurd values; the run-time check refuses
 * those), the lower bound may not. */
typedef struct span {
    uint64_t lo, hi;
} span;

typedef struct expr {
    const char *s;
    size_t pos;
    const char *const *names;
    const uint64_t *values; /* NULL: the load-time check, over ranges */
    const uint64_t *max;    /* load time: the largest value of each name */
    size_t n;
    int depth;
    const char *err;
    size_t err_pos; /* 0-based character of the operator or name at fault */
    char bad[64];
} expr;

static void ex_space(expr *e)
{
    while (e->s[e->pos] == ' ')
        e->pos++;
}

static int ex_fail(expr *e, size_t pos, const char *err)
{
    e->err = err;
    e->err_pos = pos;
    return -1;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

static int ex_sum(expr *e, span *v);

static int ex_factor(expr *e, span *v)
{
    ex_space(e);
    char c = e->s[e->pos];
    if (c == '(') {
        if (++e->depth > MAX_EXPR_DEPTH)
            return ex_fail(e, e->pos, "parentheses nest too deep");
        e->pos++;
        if (ex_sum(e, v))
            return -1;
        ex_space(e);
        if (e->s[e->pos] != ')')
            return ex_fail(e, e->pos, "expected ')'");
        e->pos++;
        e->depth--;
        return 0;
    }
    if (c >= '0' && c <= '9') {
        uint64_t x = 0;
        size_t start = e->pos;
        while (e->s[e->pos] >= '0' && e->s[e->pos] <= '9') {
            unsigned d = (unsigned)(e->s[e->pos++] - '0');
            if (x > (UINT64_MAX - d) / 10)
                return ex_fail(e, start, "number out of range");
            x = x * 10 + d;
        }
        v->lo = v->hi = x;
        return 0;
    }
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
        size_t start = e->pos;
        while ((e->s[e->pos] >= 'a' && e->s[e->pos] <= 'z') ||
               (e->s[e->pos] >= 'A' && e->s[e->pos] <= 'Z') ||
               (e->s[e->pos] >= '0' && e->s[e->pos] <= '9') || e->s[e->pos] == '_')
            e->pos++;
        size_t len = e->pos - start;
        for (size_t i = 0; i < e->n; i++)
            if (strlen(e->names[i]) == len && !memcmp(e->names[i], e->s + start, len)) {
                if (e->values) {
                    v->lo = v->hi = e->values[i];
                } else {
                    v->lo = 1;
                    v->hi = e->max ? e->max[i] : UINT64_MAX;
                }
                return 0;
            }
        snprintf(e->bad, sizeof e->bad, "%.*s", (int)(len < 60 ? len : 60), e->s + start);
        return ex_fail(e, start, "unknown name");
    }
    return ex_fail(e, e->pos,
                   c ? "expected a number, a scalar argument or '('"
                     : "expression ends early");
}

static int ex_term(expr *e, span *v)
{
    if (ex_factor(e, v))
        return -1;
    for (;;) {
        ex_space(e);
        size_t at = e->pos;
        char op = e->s[at];
        if (op != '*' && op != '/')
            return 0;
        e->pos++;
        span r;
        if (ex_factor(e, &r))
            return -1;
        if (op == '*') {
            if (r.lo && v->lo > UINT64_MAX / r.lo)
                return ex_fail(e, at, "overflow");
            v->lo *= r.lo;
            v->hi = sat_mul(v->hi, r.hi);
        } else {
            if (!r.lo)
                return ex_fail(e, at,
                               e->values || !r.hi ? "division by zero"
                                                  : "division by a value that can be 0");
            v->lo /= r.hi;
            v->hi /= r.lo;
        }
    }
}

static int ex_sum(expr *e, span *v)
{
    if (ex_term(e, v))
        return -1;
    for (;;) {
        ex_space(e);
        size_t at = e->pos;
        char op = e->s[at];
        if (op != '+' && op != '-')
            return 0;
        e->pos++;
        span r;
        if (ex_term(e, &r))
            return -1;
        if (op == '+') {
            if (v->lo > UINT64_MAX - r.lo)
                return ex_fail(e, at, "overflow");
            v->lo += r.lo;
            v->hi = sat_add(v->hi, r.hi);
        } else {
            if (r.hi > v->lo)
                return ex_fail(e, at,
                               e->values || r.lo > v->hi ? "negative size"
                                                         : "a size that can go negative");
            v->lo -= r.hi;
            v->hi -= r.lo;
        }
    }
}

static int ex_run(expr *e, span *v)
{
    if (ex_sum(e, v))
        return -1;
    ex_space(e);
    if (e->s[e->pos])
        return ex_fail(e, e->pos, "unexpected character");
    return 0;
}

int qv__expr_check(const char *s, const char *const *names, const uint64_t *max,
                   size_t n, qv__expr_error *err)
{
    expr e = {.s = s, .names = names, .max = max, .n = n};
    span v;
    memset(err, 0, sizeof *err);
    if (!s || (n && !names)) {
        err->what = "no expression";
        return QV_EINVAL;
    }
    if (!ex_run(&e, &v))
        return 0;
    err->what = e.err;
    err->at = e.err_pos;
    err->pos = e.pos;
    err->unknown = !strcmp(e.err, "unknown name");
    err->range = strstr(e.err, "division") || strstr(e.err, "negative") ||
                 !strcmp(e.err, "overflow");
    snprintf(err->name, sizeof err->name, "%s", e.bad);
    return QV_EINVAL;
}

int qv__expr_eval(const char *s, const char *const *names, const uint64_t *values,
                  size_t n, uint64_t *out)
{
    static const uint64_t none[1] = {0};
    expr e = {.s = s, .names = names, .values = values ? values : none, .n = n};
    span v;
    if (!s || (n && (!names || !values)) || ex_run(&e, &v))
        return QV_EINVAL;
    *out = v.lo;
    return 0;
}

