/*
 * catalog.c - the kernel catalog loader (schema in catalog.h and
 * docs/config/catalog.md), the one reader of the format for the runtime,
 * `quiver check` and the planner; the rule of which build a board loads;
 * and the public handle of qvpart.h. The size expressions are
 * catalog_expr.c's.
 */
#include "config/catalog.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qv_text.h"
#include "qvpart.h"

const char *const qv__ktype_names[] = {"int8",  "uint8",  "int16",  "uint16",
                                       "int32", "uint32", "int64",  "uint64",
                                       "half",  "float",  "double", NULL};
static const unsigned ktype_bytes[] = {1, 1, 2, 2, 4, 4, 8, 8, 2, 4, 8};
static const char *const dir_names[] = {"in", "out", "inout", "scalar", NULL};

#define MAX_KERNEL_ARGS 64
#define MAX_BOARD_FILES 256

static const qv__ykey top_keys[] = {
    {"boards", 0, NULL},
    {"functions", 0, NULL},
    {"kernels", 1, "kernels: [...]"},
    {NULL, 0, NULL},
};
static const qv__ykey kernel_keys[] = {
    {"name", 1, "name: vadd"},
    {"implements", 1, "implements: FUNCTION or [F1, F2]"},
    {"connect", 0, NULL},
    {"zero", 0, NULL},
    {"args", 1, "args: [{name: a, dir: in, type: float, size: n}]"},
    {"builds", 1, "builds: [{board: BOARD, xclbin: PATH}]"},
    {"perf", 1, "perf: {ii: 1, latency_cycles: 40, trip_count: n}"},
    {"resources", 0, NULL},
    {NULL, 0, NULL},
};
static const qv__ykey arg_keys[] = {
    {"name", 1, "name: a"},
    {"dir", 1, "dir: in | out | inout | scalar"},
    {"type", 1, "type: float"},
    {"size", 0, NULL},
    {"of", 0, NULL},
    {"min", 0, NULL},
    {"max", 0, NULL},
    {"pow2", 0, NULL},
    {"odd", 0, NULL},
    {NULL, 0, NULL},
};
static const qv__ykey conn_keys[] = {
    {"from", 1, "from: FUNCTION.ARG"},
    {"to", 1, "to: FUNCTION.ARG"},
    {NULL, 0, NULL},
};
static const qv__ykey build_keys[] = {
    {"board", 0, NULL},
    {"platform", 0, NULL},
    {"xclbin", 1, "xclbin: PATH"},
    {NULL, 0, NULL},
};
static const qv__ykey perf_keys[] = {
    {"clock_mhz", 0, NULL},  {"ii", 0, NULL},    {"latency_cycles", 0, NULL},
    {"trip_count", 0, NULL}, {"table", 0, NULL}, {NULL, 0, NULL},
};
static const qv__ykey point_keys[] = {
    {"bytes", 1, "bytes: 4096"},
    {"us", 1, "us: 3.5"},
    {NULL, 0, NULL},
};
static const qv__ykey res_keys[] = {
    {"lut", 0, NULL},  {"ff", 0, NULL},   {"dsp", 0, NULL},
    {"bram", 0, NULL}, {"uram", 0, NULL}, {NULL, 0, NULL},
};

/* The largest value a scalar of integer type t can pass as a count. */
static uint64_t type_max(int t)
{
    static const uint64_t max[] = {
        INT8_MAX, UINT8_MAX, INT16_MAX, UINT16_MAX, INT32_MAX, UINT32_MAX, INT64_MAX, UINT64_MAX,
    };
    return t >= 0 && (size_t)t < sizeof max / sizeof max[0] ? max[t] : UINT64_MAX;
}

/* Whether type t is an integer type (int8 to uint64): the counts a size
 * expression takes. A float's bits read as an integer made 1.0f a count
 * of 1065353216 (adversarial testing). */
static bool type_is_int(int t)
{
    return t >= 0 && t <= 7;
}

/* Checks expression n against the kernel's scalar arguments: the names, the
 * syntax, and that no values of them can divide by zero or go negative. */
static int check_expr(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                      const qv__kernel *k, char **out, qv_diag *diag)
{
    const char *names[MAX_KERNEL_ARGS + 1];
    uint64_t max[MAX_KERNEL_ARGS];
    size_t ns = 0;
    for (size_t i = 0; i < k->nargs; i++)
        if (k->args[i].dir == QV__KDIR_SCALAR && type_is_int(k->args[i].type)) {
            max[ns] = type_max(k->args[i].type);
            names[ns++] = k->args[i].name;
        }
    names[ns] = NULL;
    const char *s;
    if (n && n->kind == QV__Y_SCALAR && n->plain && !qv__yis_null(n)) {
        s = n->str; /* a plain number is a fine expression */
    } else {
        int rc = qv__yget_str(doc, n, what, &s, diag);
        if (rc)
            return rc;
    }
    qv__expr_error e;
    if (qv__expr_check(s, names, max, ns, &e)) {
        if (e.unknown) {
            for (size_t i = 0; i < k->nargs; i++)
                if (k->args[i].dir == QV__KDIR_SCALAR && !strcmp(k->args[i].name, e.name))
                    return qv__yerr(doc, n, diag,
                                    "%s: '%s' is a %s scalar of kernel '%s'; expected an "
                                    "expression over integer scalars (int8 to uint64)",
                                    what, e.name, qv__ktype_names[k->args[i].type], k->name);
            const char *dym = qv__did_you_mean(e.name, names);
            return qv__yerr(doc, n, diag,
                            "%s: '%s' is not a scalar argument of kernel "
                            "'%s'%s%s%s",
                            what, e.name, k->name, dym ? "; did you mean '" : "",
                            dym ? dym : "", dym ? "'?" : "");
        }
        if (e.range)
            return qv__yerr(doc, n, diag,
                            "%s: %s at character %zu of '%s'; expected an "
                            "expression that gives a size from 0 to 2^64-1 for "
                            "all scalar argument values of 1 or more",
                            what, e.what, e.at + 1, s);
        return qv__yerr(doc, n, diag,
                        "%s: %s at character %zu of '%s'; expected an "
                        "expression such as 'n * 4' over scalar arguments",
                        what, e.what, e.pos + 1, s);
    }
    *out = strdup(s);
    return *out ? 0 : QV_ENOMEM;
}

/* ---- boards ------------------------------------------------------------ */

void qv__catalog_free(qv__catalog *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nkernels; i++) {
        qv__kernel *k = &c->kernels[i];
        free(k->name);
        for (size_t j = 0; j < k->nfuncs; j++)
            free(k->funcs[j]);
        free(k->funcs);
        for (size_t j = 0; j < k->nconn; j++) {
            free(k->conn[j].from);
            free(k->conn[j].to);
        }
        free(k->conn);
        for (size_t j = 0; j < k->nzero; j++)
            free(k->zero[j]);
        free(k->zero);
        for (size_t j = 0; j < k->nargs; j++) {
            free(k->args[j].name);
            free(k->args[j].size);
            for (size_t e = 0; e < k->args[j].nof; e++)
                free(k->args[j].of[e]);
            free(k->args[j].of);
        }
        free(k->args);
        for (size_t j = 0; j < k->nbuilds; j++)
            free(k->builds[j].xclbin);
        free(k->builds);
        free(k->trip_count);
        free(k->table);
    }
    free(c->kernels);
    for (size_t i = 0; i < c->nboards; i++)
        qv__board_free(c->boards[i]);
    free(c->boards);
    for (size_t i = 0; i < c->nfunctions; i++)
        free(c->functions[i]);
    free(c->functions);
    free(c->path);
    free(c);
}

static int add_board_file(const qv__ydoc *doc, const qv__ynode *at, const char *path,
                          int from_dir, qv__catalog *c, qv_diag *diag)
{
    qv__ydoc *bd;
    qv_diag sub;
    int rc = qv__ydoc_load(path, &bd, &sub);
    if (!rc && from_dir && (!bd->root || !qv__ymap_get(bd->root, "kind"))) {
        qv__ydoc_free(bd); /* a platform or other file among the boards */
        return 0;
    }
    qv__board *b = NULL;
    if (!rc)
        rc = qv__board_from_doc(bd, &b, &sub);
    qv__ydoc_free(bd);
    if (rc == QV_ENOMEM)
        return rc;
    if (rc) {
        char where[1200];
        qv_diag_format(&sub, where, sizeof where);
        return qv__yerr(doc, at, diag, "boards: '%s' is not a valid board: %s", path,
                        where);
    }
    for (size_t i = 0; i < c->nboards; i++)
        if (!strcmp(c->boards[i]->name, b->name)) {
            /* One file met twice (a directory listed twice) is said so:
             * "defined twice, by d/x.yaml and d/x.yaml" read as nonsense. */
            int r = qv__same_file(c->boards[i]->path, path)
                        ? qv__yerr(doc, at, diag,
                                   "boards: '%s' is read twice (is its directory, or "
                                   "the file, listed twice?)",
                                   path)
                        : qv__yerr(doc, at, diag,
                                   "boards: board '%s' is defined twice, by '%s' "
                                   "and '%s'",
                                   b->name, c->boards[i]->path, path);
            qv__board_free(b);
            return r;
        }
    if (c->nboards == MAX_BOARD_FILES) {
        qv__board_free(b);
        return qv__yerr(doc, at, diag, "boards: more than %d boards", MAX_BOARD_FILES);
    }
    c->boards[c->nboards++] = b;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_board_dir(const qv__ydoc *doc, const qv__ynode *at, const char *dir,
                         qv__catalog *c, qv_diag *diag)
{
    DIR *d = opendir(dir);
    if (!d)
        return qv__yerr(doc, at, diag, "boards: cannot read directory '%s'", dir);
    char *names[MAX_BOARD_FILES];
    size_t n = 0;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml") || e->d_name[0] == '.')
            continue;
        if (n == MAX_BOARD_FILES) {
            rc = qv__yerr(doc, at, diag, "boards: more than %d files in '%s'",
                          MAX_BOARD_FILES, dir);
            break;
        }
        if (!(names[n] = qv__path_resolve(dir, e->d_name)))
            rc = QV_ENOMEM;
        else
            n++;
    }
    closedir(d);
    /* Sorted, so that which of two duplicates is reported is stable. */
    qsort(names, n, sizeof names[0], cmp_str);
    for (size_t i = 0; !rc && i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            rc = add_board_file(doc, at, names[i], 1, c, diag);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    return rc;
}

static int load_boards(const qv__ydoc *doc, const qv__ynode *n, qv__catalog *c,
                       qv_diag *diag)
{
    if (n->kind != QV__Y_SEQ)
        return qv__yerr(doc, n, diag,
                        "boards: expected a list of board files or "
                        "directories, got %s",
                        qv__ydesc(n));
    c->boards = calloc(MAX_BOARD_FILES, sizeof *c->boards);
    if (!c->boards)
        return QV_ENOMEM;
    for (size_t i = 0; i < n->n; i++) {
        const qv__ynode *it = n->items[i];
        const char *s;
        int rc = qv__yget_str(doc, it, "boards", &s, diag);
        if (rc)
            return rc;
        char *p = qv__path_resolve(doc->dir, s);
        if (!p)
            return QV_ENOMEM;
        struct stat st;
        if (stat(p, &st) != 0)
            rc = qv__yerr(doc, it, diag,
                          "boards: '%s' does not exist (resolved to '%s', "
                          "relative to the file that names it)",
                          s, p);
        else if (S_ISDIR(st.st_mode))
            rc = add_board_dir(doc, it, p, c, diag);
        else
            rc = add_board_file(doc, it, p, 0, c, diag);
        free(p);
        if (rc)
            return rc;
    }
    return 0;
}

static int load_functions(const qv__ydoc *doc, const qv__ynode *n, qv__catalog *c,
                          qv_diag *diag)
{
    if (n->kind != QV__Y_SEQ)
        return qv__yerr(doc, n, diag,
                        "functions: expected a list of function names, got "
                        "%s",
                        qv__ydesc(n));
    c->functions = calloc(n->n + 1, sizeof *c->functions);
    if (!c->functions)
        return QV_ENOMEM;
    for (size_t i = 0; i < n->n; i++) {
        const char *s;
        int rc = qv__yget_str(doc, n->items[i], "functions", &s, diag);
        if (rc)
            return rc;
        for (size_t j = 0; j < c->nfunctions; j++)
            if (!strcmp(c->functions[j], s))
                return qv__yerr(doc, n->items[i], diag, "functions: '%s' is listed twice",
                                s);
        if (!(c->functions[c->nfunctions] = strdup(s)))
            return QV_ENOMEM;
        c->nfunctions++;
    }
    return 0;
}

/* ---- kernels ----------------------------------------------------------- */

static int valid_ident(const char *s)
{
    if (!*s || strlen(s) > 127 || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

static int get_ident(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                     char **out, qv_diag *diag)
{
    const char *s;
    int rc = qv__yget_str(doc, n, what, &s, diag);
    if (rc)
        return rc;
    if (!valid_ident(s))
        return qv__yerr(doc, n, diag,
                        "%s: expected an identifier (letters, digits, '_'; "
                        "not starting with a digit), got '%s'",
                        what, s);
    *out = strdup(s);
    return *out ? 0 : QV_ENOMEM;
}

/* get_ident for a name that becomes C code: a kernel's name is its HLS top
 * function and its emulation entry NAME__emu, an argument's name a
 * parameter of both (`quiver xclbin entry`), so neither can be a keyword. */
static int get_c_name(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                      char **out, qv_diag *diag)
{
    int rc = get_ident(doc, n, what, out, diag);
    if (rc || !qv__is_c_keyword(*out))
        return rc;
    rc = qv__yerr(doc, n, diag,
                  "%s: '%s' is a C keyword; expected a name that can be a C "
                  "function or parameter",
                  what, *out);
    free(*out);
    *out = NULL;
    return rc;
}

static int load_implements(const qv__ydoc *doc, const qv__ynode *n, const qv__catalog *c,
                           qv__kernel *k, qv_diag *diag)
{
    size_t cnt = n->kind == QV__Y_SEQ ? n->n : 1;
    if (n->kind == QV__Y_MAP || cnt == 0 || cnt > QV__KERNEL_MAX_FUNCS)
        return qv__yerr(doc, n, diag,
                        "implements: expected a function name or a list of "
                        "1 to %d function names, got %s",
                        QV__KERNEL_MAX_FUNCS, qv__ydesc(n));
    k->funcs = calloc(cnt, sizeof *k->funcs);
    if (!k->funcs)
        return QV_ENOMEM;
    for (size_t i = 0; i < cnt; i++) {
        const qv__ynode *it = n->kind == QV__Y_SEQ ? n->items[i] : n;
        char *f;
        int rc = get_ident(doc, it, "implements", &f, diag);
        if (rc)
            return rc;
        k->funcs[k->nfuncs++] = f;
        if (c->functions) {
            size_t j = 0;
            while (j < c->nfunctions && strcmp(c->functions[j], f))
                j++;
            if (j == c->nfunctions) {
                const char *dym = qv__did_you_mean(f, (const char *const *)c->functions);
                return qv__yerr(doc, it, diag,
                                "implements: unknown function '%s'%s%s%s "
                                "(the catalog's 'functions' list names the "
                                "known ones)",
                                f, dym ? "; did you mean '" : "", dym ? dym : "",
                                dym ? "'?" : "");
            }
        }
        for (size_t j = 0; j + 1 < k->nfuncs; j++)
            if (!strcmp(k->funcs[j], f))
                return qv__yerr(doc, it, diag, "implements: '%s' is listed twice", f);
    }
    return 0;
}

/* "func.arg" where func is in the chain; returns its index in *pos. */
static int check_endpoint(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                          const qv__kernel *k, char **out, size_t *pos, qv_diag *diag)
{
    const char *s;
    int rc = qv__yget_str(doc, n, what, &s, diag);
    if (rc)
        return rc;
    const char *dot = strchr(s, '.');
    if (!dot || dot == s || !dot[1] || strchr(dot + 1, '.'))
        return qv__yerr(doc, n, diag, "%s: expected FUNCTION.ARG, got '%s'", what, s);
    size_t flen = (size_t)(dot - s);
    for (size_t i = 0; i < k->nfuncs; i++)
        if (strlen(k->funcs[i]) == flen && !memcmp(k->funcs[i], s, flen)) {
            *pos = i;
            *out = strdup(s);
            return *out ? 0 : QV_ENOMEM;
        }
    return qv__yerr(doc, n, diag, "%s: '%.*s' is not in this kernel's 'implements' chain",
                    what, (int)flen, s);
}

static int load_connect(const qv__ydoc *doc, const qv__ynode *n, qv__kernel *k,
                        qv_diag *diag)
{
    if (k->nfuncs < 2)
        return qv__yerr(doc, n, diag,
                        "connect: only a fused kernel (implements: [F1, F2, "
                        "...]) connects functions");
    if (n->kind != QV__Y_SEQ || n->n == 0)
        return qv__yerr(doc, n, diag,
                        "connect: expected a list such as [{from: F1.out, "
                        "to: F2.in}], got %s",
                        qv__ydesc(n));
    k->conn = calloc(n->n, sizeof *k->conn);
    if (!k->conn)
        return QV_ENOMEM;
    for (size_t i = 0; i < n->n; i++) {
        const qv__ynode *m = n->items[i];
        qv__kconn *cn = &k->conn[k->nconn];
        size_t a = 0, b = 0;
        int rc = qv__ymap_check(doc, m, "a connection", conn_keys, diag);
        if (!rc)
            rc = check_endpoint(doc, qv__ymap_get(m, "from"), "connect.from", k,
                                &cn->from, &a, diag);
        if (!rc)
            rc = check_endpoint(doc, qv__ymap_get(m, "to"), "connect.to", k, &cn->to, &b,
                                diag);
        k->nconn++;
        if (!rc && a >= b)
            rc = qv__yerr(doc, m, diag,
                          "connect: '%s' does not come before '%s' in the "
                          "chain; data flows from earlier functions to "
                          "later ones",
                          cn->from, cn->to);
        if (rc)
            return rc;
    }
    return 0;
}

/* A list of "function.arg" of k's chain (or one, with `one`), as `what`
 * ("zero", "args.of"); only for a fused kernel. */
static int load_endpoints(const qv__ydoc *doc, const qv__ynode *n, const char *what, int one,
                          const qv__kernel *k, char ***out, size_t *nout, qv_diag *diag)
{
    if (k->nfuncs < 2)
        return qv__yerr(doc, n, diag,
                        "%s: only a fused kernel (implements: [F1, F2, ...]) names "
                        "arguments of its chain", what);
    int scalar = one && n->kind == QV__Y_SCALAR;
    if (!scalar && (n->kind != QV__Y_SEQ || n->n == 0 || n->n > QV__KERNEL_MAX_FUNCS))
        return qv__yerr(doc, n, diag,
                        "%s: expected %sa list of 1 to %d FUNCTION.ARG, got %s", what,
                        one ? "FUNCTION.ARG or " : "", QV__KERNEL_MAX_FUNCS, qv__ydesc(n));
    size_t cnt = scalar ? 1 : n->n;
    if (!(*out = calloc(cnt, sizeof **out)))
        return QV_ENOMEM;
    for (size_t i = 0; i < cnt; i++) {
        const qv__ynode *e = scalar ? n : n->items[i];
        size_t pos;
        int rc = check_endpoint(doc, e, what, k, &(*out)[*nout], &pos, diag);
        if (rc)
            return rc;
        (*nout)++;
        for (size_t j = 0; j + 1 < *nout; j++)
            if (!strcmp((*out)[j], (*out)[*nout - 1]))
                return qv__yerr(doc, e, diag, "%s: '%s' is listed twice", what,
                                (*out)[j]);
    }
    return 0;
}

/* Whether "function.arg" s is named by k: a connection's input (inside the
 * kernel), a zero input or an argument's `of` other than argument skip's.
 * The name of what names it, or NULL. */
static const char *endpoint_user(const qv__kernel *k, const char *s, size_t skip)
{
    for (size_t i = 0; i < k->nconn; i++)
        if (!strcmp(k->conn[i].to, s))
            return "connect";
    for (size_t i = 0; i < k->nzero; i++)
        if (!strcmp(k->zero[i], s))
            return "zero";
    for (size_t i = 0; i < k->nargs; i++)
        for (size_t j = 0; i != skip && j < k->args[i].nof; j++)
            if (!strcmp(k->args[i].of[j], s))
                return k->args[i].name;
    return NULL;
}

/* A fused kernel's `of` and `zero`: all of its arguments say what they
 * are or none does, and no chain argument is two things. */
static int check_mapping(const qv__ydoc *doc, const qv__ynode *m, qv__kernel *k,
                         qv_diag *diag)
{
    const qv__ynode *args = qv__ymap_get(m, "args");
    size_t with = 0;
    for (size_t i = 0; i < k->nargs; i++)
        with += k->args[i].nof > 0;
    if (with && with < k->nargs) {
        for (size_t i = 0; i < k->nargs; i++)
            if (!k->args[i].nof)
                return qv__yerr(doc, args->items[i], diag,
                                "args: '%s' has no 'of', but other arguments of this "
                                "fused kernel have one (expected 'of: FUNCTION.ARG' "
                                "on every argument, or on none)",
                                k->args[i].name);
    }
    for (size_t i = 0; i < k->nzero; i++) {
        const char *u = endpoint_user(k, k->zero[i], SIZE_MAX);
        if (u && strcmp(u, "zero"))
            return qv__yerr(doc, qv__ymap_get(m, "zero"), diag,
                            "zero: '%s' is also named by %s%s", k->zero[i],
                            strcmp(u, "connect") ? "argument " : "", u);
    }
    for (size_t i = 0; i < k->nargs; i++)
        for (size_t j = 0; j < k->args[i].nof; j++) {
            const char *u = endpoint_user(k, k->args[i].of[j], i);
            if (u)
                return qv__yerr(doc, qv__ymap_get(args->items[i], "of"), diag,
                                "args.of: '%s' is also named by %s%s",
                                k->args[i].of[j],
                                strcmp(u, "connect") && strcmp(u, "zero") ? "argument "
                                                                          : "", u);
        }
    k->mapped = with > 0;
    return 0;
}

/* An integer scalar's limits (min, max, pow2, odd) from argument m. */
static int load_limits(const qv__ydoc *doc, const qv__ynode *m, qv__karg *a, qv_diag *diag)
{
    static const char *const keys[] = { "min", "max", "pow2", "odd" };
    const char *tn = qv__ktype_names[a->type];
    bool is_signed = !strncmp(tn, "int", 3);
    bool integer = a->dir == QV__KDIR_SCALAR && (is_signed || !strncmp(tn, "uint", 4));
    a->min = 0;
    a->max = UINT64_MAX;
    for (int i = 0; i < 4; i++) {
        const qv__ynode *v = qv__ymap_get(m, keys[i]);
        if (!v)
            continue;
        if (!integer)
            return qv__yerr(doc, qv__ymap_key(m, keys[i]), diag,
                            "args: '%s' is for integer scalars; '%s' is %s", keys[i], a->name,
                            a->dir == QV__KDIR_SCALAR ? "not an integer" : "a buffer");
        int rc, b = 0;
        int64_t x = 0;
        if (i < 2) {
            unsigned bits = 8 * a->elem - (is_signed ? 1u : 0u);
            uint64_t top = bits >= 63 ? (uint64_t)INT64_MAX : (1ull << bits) - 1;
            char what[32];
            snprintf(what, sizeof what, "args.%s", keys[i]);
            rc = qv__yget_int(doc, v, what, 0, (int64_t)top, &x, diag);
        } else {
            rc = qv__yget_bool(doc, v, i == 2 ? "args.pow2" : "args.odd", &b, diag);
        }
        if (rc)
            return rc;
        if (i == 0)
            a->min = (uint64_t)x;
        else if (i == 1)
            a->max = (uint64_t)x;
        else if (i == 2)
            a->pow2 = b;
        else
            a->odd = b;
    }
    if (a->min > a->max)
        return qv__yerr(doc, qv__ymap_get(m, "min"), diag,
                        "args: '%s' has min %llu above its max %llu", a->name,
                        (unsigned long long)a->min, (unsigned long long)a->max);
    /* Limits that no value meets would keep every call off the board
     * without a word (adversarial testing: pow2 from 5 to 7). */
    uint64_t lo = a->min ? a->min : 1, p2 = 1;
    while (p2 < lo && p2 <= a->max / 2)
        p2 *= 2;
    bool none = (a->pow2 && (p2 < lo || p2 > a->max)) ||
                (a->odd && a->min == a->max && a->min % 2 == 0) ||
                (a->pow2 && a->odd && !(a->min <= 1 && a->max >= 1));
    /* Said up to the type's largest value, not 2^64-1 for a uint32. */
    unsigned bits = 8 * a->elem - (is_signed ? 1u : 0u);
    uint64_t tmax = bits >= 64 ? UINT64_MAX : (1ull << bits) - 1;
    if (none)
        return qv__yerr(doc, qv__ymap_get(m, a->pow2 ? "pow2" : "odd"), diag,
                        "args: no value of '%s' from %llu to %llu is %s", a->name,
                        (unsigned long long)a->min,
                        (unsigned long long)(a->max < tmax ? a->max : tmax),
                        a->pow2 && a->odd ? "an odd power of two" : a->pow2 ? "a power of two"
                                                                          : "odd");
    return 0;
}

static int load_args(const qv__ydoc *doc, const qv__ynode *n, qv__kernel *k,
                     qv_diag *diag)
{
    if (n->kind != QV__Y_SEQ || n->n == 0 || n->n > MAX_KERNEL_ARGS)
        return qv__yerr(doc, n, diag,
                        "args: expected a list of 1 to %d arguments, got %s",
                        MAX_KERNEL_ARGS, qv__ydesc(n));
    k->args = calloc(n->n, sizeof *k->args);
    if (!k->args)
        return QV_ENOMEM;
    /* Names and kinds first: a size may name a scalar declared after it. */
    for (size_t i = 0; i < n->n; i++) {
        const qv__ynode *m = n->items[i];
        qv__karg *a = &k->args[k->nargs];
        int d = 0, t = 0;
        int rc = qv__ymap_check(doc, m, "a kernel argument", arg_keys, diag);
        if (!rc)
            rc = get_c_name(doc, qv__ymap_get(m, "name"), "args.name", &a->name, diag);
        if (rc)
            return rc;
        k->nargs++;
        for (size_t j = 0; j + 1 < k->nargs; j++)
            if (!strcmp(k->args[j].name, a->name))
                return qv__yerr(doc, qv__ymap_get(m, "name"), diag,
                                "args: duplicate argument name '%s'", a->name);
        rc = qv__yget_enum(doc, qv__ymap_get(m, "dir"), "args.dir", dir_names, &d, diag);
        if (!rc)
            rc = qv__yget_enum(doc, qv__ymap_get(m, "type"), "args.type", qv__ktype_names,
                               &t, diag);
        if (rc)
            return rc;
        a->dir = (qv__kdir)d;
        a->type = t;
        a->elem = ktype_bytes[t];
        if ((rc = load_limits(doc, m, a, diag)) != 0)
            return rc;
        const qv__ynode *sz = qv__ymap_get(m, "size");
        if (a->dir == QV__KDIR_SCALAR && sz)
            return qv__yerr(doc, qv__ymap_key(m, "size"), diag,
                            "args: scalar '%s' takes no 'size' (its type "
                            "gives it)",
                            a->name);
        if (a->dir != QV__KDIR_SCALAR && !sz)
            return qv__yerr(doc, m, diag,
                            "args: buffer '%s' is missing required key "
                            "'size' (expected 'size: n', elements as an "
                            "expression of scalar arguments)",
                            a->name);
    }
    for (size_t i = 0; i < k->nargs; i++) {
        const qv__ynode *sz = qv__ymap_get(n->items[i], "size");
        const qv__ynode *of = qv__ymap_get(n->items[i], "of");
        int rc = sz ? check_expr(doc, sz, "args.size", k, &k->args[i].size, diag) : 0;
        if (!rc && of)
            rc = load_endpoints(doc, of, "args.of", 1, k, &k->args[i].of, &k->args[i].nof,
                                diag);
        if (rc)
            return rc;
    }
    return 0;
}


/* Checks the kernel's fabric use against one board. */
static int check_fit(const qv__ydoc *doc, const qv__ynode *at, const qv__kernel *k,
                     const qv__board *b, qv_diag *diag)
{
    const struct {
        const char *name;
        uint64_t need, have;
    } fit[] = {
        {"lut", k->lut, b->lut},    {"ff", k->ff, b->ff},       {"dsp", k->dsp, b->dsp},
        {"bram", k->bram, b->bram}, {"uram", k->uram, b->uram},
    };
    for (size_t j = 0; j < 5; j++)
        if (fit[j].have && fit[j].need > fit[j].have)
            return qv__yerr(doc, at, diag,
                            "builds: kernel '%s' uses %llu %s but board '%s' has %llu",
                            k->name, (unsigned long long)fit[j].need, fit[j].name,
                            b->name, (unsigned long long)fit[j].have);
    return 0;
}

static int build_by_board(const qv__ydoc *doc, const qv__ynode *m, const qv__catalog *c,
                          const qv__kernel *k, qv__kbuild *b, qv_diag *diag)
{
    const qv__ynode *n = qv__ymap_get(m, "board");
    const char *bn;
    int rc = qv__yget_str(doc, n, "builds.board", &bn, diag);
    if (rc)
        return rc;
    const char *names[MAX_BOARD_FILES + 1];
    for (size_t i = 0; i < c->nboards; i++) {
        names[i] = c->boards[i]->name;
        if (!strcmp(c->boards[i]->name, bn))
            b->board = c->boards[i];
    }
    names[c->nboards] = NULL;
    if (!b->board) {
        const char *dym = qv__did_you_mean(bn, names);
        if (!c->nboards)
            return qv__yerr(doc, n, diag,
                            "builds.board: unknown board '%s'; the catalog lists no "
                            "boards (expected 'boards: [../boards]' at the top)",
                            bn);
        return qv__yerr(doc, n, diag, "builds.board: unknown board '%s'%s%s%s", bn,
                        dym ? "; did you mean '" : "", dym ? dym : "", dym ? "'?" : "");
    }
    if (b->board->kind != QV_CLASS_FPGA)
        return qv__yerr(doc, n, diag, "builds.board: '%s' is not an fpga board", bn);
    for (size_t j = 0; j < k->nbuilds; j++)
        if (!k->builds[j].by_platform && k->builds[j].board == b->board)
            return qv__yerr(doc, n, diag, "builds.board: '%s' has two builds", bn);
    b->platform = b->board->platform;
    return check_fit(doc, m, k, b->board, diag);
}

/* A build for a vendor platform serves every real (not emulated) board of
 * that platform; emulated twins need their own build, named by board. */
static int build_by_platform(const qv__ydoc *doc, const qv__ynode *m,
                             const qv__catalog *c, const qv__kernel *k, qv__kbuild *b,
                             qv_diag *diag)
{
    const qv__ynode *n = qv__ymap_get(m, "platform");
    const char *pn;
    int rc = qv__yget_str(doc, n, "builds.platform", &pn, diag);
    if (rc)
        return rc;
    const char *names[MAX_BOARD_FILES + 1];
    size_t nn = 0;
    for (size_t i = 0; i < c->nboards; i++) {
        const qv__board *bd = c->boards[i];
        if (bd->kind != QV_CLASS_FPGA || bd->emulation || !bd->platform)
            continue;
        names[nn++] = bd->platform;
        if (strcmp(bd->platform, pn))
            continue;
        if (!b->board)
            b->board = bd;
        rc = check_fit(doc, m, k, bd, diag);
        if (rc)
            return rc;
    }
    names[nn] = NULL;
    if (!b->board) {
        const char *dym = qv__did_you_mean(pn, names);
        return qv__yerr(doc, n, diag,
                        "builds.platform: unknown platform '%s'%s%s%s (no real fpga "
                        "board in 'boards' has it)",
                        pn, dym ? "; did you mean '" : "", dym ? dym : "",
                        dym ? "'?" : "");
    }
    for (size_t j = 0; j < k->nbuilds; j++)
        if (k->builds[j].by_platform && !strcmp(k->builds[j].platform, pn))
            return qv__yerr(doc, n, diag, "builds.platform: '%s' has two builds", pn);
    b->platform = b->board->platform;
    b->by_platform = 1;
    return 0;
}

static int load_builds(const qv__ydoc *doc, const qv__ynode *n, const qv__catalog *c,
                       qv__kernel *k, qv_diag *diag)
{
    if (n->kind != QV__Y_SEQ || n->n == 0)
        return qv__yerr(doc, n, diag,
                        "builds: expected a non-empty list such as "
                        "[{board: alveo-u250, xclbin: PATH}], got %s",
                        qv__ydesc(n));
    k->builds = calloc(n->n, sizeof *k->builds);
    if (!k->builds)
        return QV_ENOMEM;
    for (size_t i = 0; i < n->n; i++) {
        const qv__ynode *m = n->items[i];
        qv__kbuild *b = &k->builds[k->nbuilds];
        int rc = qv__ymap_check(doc, m, "a build", build_keys, diag);
        if (rc)
            return rc;
        int by_board = qv__ymap_get(m, "board") != NULL;
        if (by_board == (qv__ymap_get(m, "platform") != NULL))
            return qv__yerr(doc, m, diag,
                            "a build names either a board or a platform (expected "
                            "'{board: alveo-u250, xclbin: PATH}' or '{platform: "
                            "xilinx_u250_gen3x16_xdma_4_1_202210_1, xclbin: PATH}')");
        rc = by_board ? build_by_board(doc, m, c, k, b, diag)
                      : build_by_platform(doc, m, c, k, b, diag);
        if (!rc)
            rc = qv__yget_path(doc, qv__ymap_get(m, "xclbin"), "builds.xclbin", 0,
                               &b->xclbin, diag);
        if (rc)
            return rc;
        k->nbuilds++;
    }
    return 0;
}

static int load_perf(const qv__ydoc *doc, const qv__ynode *p, qv__kernel *k,
                     qv_diag *diag)
{
    int rc = qv__ymap_check(doc, p, "perf", perf_keys, diag);
    if (rc)
        return rc;
    const qv__ynode *t = qv__ymap_get(p, "table"), *n;
    if (t) {
        static const char *const cyc[] = {"clock_mhz", "ii", "latency_cycles",
                                          "trip_count", NULL};
        for (size_t i = 0; cyc[i]; i++)
            if (qv__ymap_get(p, cyc[i]))
                return qv__yerr(doc, qv__ymap_key(p, cyc[i]), diag,
                                "perf: '%s' belongs to the cycle model; a "
                                "perf with a 'table' takes nothing else",
                                cyc[i]);
        if (t->kind != QV__Y_SEQ || t->n == 0)
            return qv__yerr(doc, t, diag,
                            "perf.table: expected a non-empty list such as "
                            "[{bytes: 4096, us: 3.5}], got %s",
                            qv__ydesc(t));
        k->table = calloc(t->n, sizeof *k->table);
        if (!k->table)
            return QV_ENOMEM;
        for (size_t i = 0; i < t->n; i++) {
            const qv__ynode *m = t->items[i];
            qv__kpoint *pt = &k->table[k->ntable];
            rc = qv__ymap_check(doc, m, "a perf.table entry", point_keys, diag);
            if (!rc)
                rc = qv__yget_bytes(doc, qv__ymap_get(m, "bytes"), "perf.table.bytes",
                                    &pt->bytes, diag);
            if (!rc)
                rc = qv__yget_double(doc, qv__ymap_get(m, "us"), "perf.table.us", 1e-6,
                                     1e12, &pt->us, diag);
            if (!rc && k->ntable && pt->bytes <= k->table[k->ntable - 1].bytes)
                rc = qv__yerr(doc, qv__ymap_get(m, "bytes"), diag,
                              "perf.table: sizes must grow strictly from "
                              "one entry to the next");
            if (rc)
                return rc;
            k->ntable++;
        }
        return 0;
    }
    static const char *const need[] = {"ii", "latency_cycles", "trip_count", NULL};
    for (size_t i = 0; need[i]; i++)
        if (!qv__ymap_get(p, need[i]))
            return qv__yerr(doc, p, diag,
                            "perf is missing required key '%s' (expected "
                            "either {ii: 1, latency_cycles: 40, trip_count: "
                            "n} or {table: [{bytes: 4096, us: 3.5}]})",
                            need[i]);
    int64_t v;
    if ((n = qv__ymap_get(p, "clock_mhz")))
        rc = qv__yget_double(doc, n, "perf.clock_mhz", 1, 5000, &k->clock_mhz, diag);
    if (!rc)
        rc = qv__yget_int(doc, qv__ymap_get(p, "ii"), "perf.ii", 1, 1000000, &v, diag);
    k->ii = (uint64_t)(rc ? 0 : v);
    if (!rc)
        rc = qv__yget_int(doc, qv__ymap_get(p, "latency_cycles"), "perf.latency_cycles",
                          0, INT64_C(1) << 48, &v, diag);
    k->latency_cycles = (uint64_t)(rc ? 0 : v);
    if (!rc)
        rc = check_expr(doc, qv__ymap_get(p, "trip_count"), "perf.trip_count", k,
                        &k->trip_count, diag);
    return rc;
}

static int load_resources(const qv__ydoc *doc, const qv__ynode *r, qv__kernel *k,
                          qv_diag *diag)
{
    int rc = qv__ymap_check(doc, r, "resources", res_keys, diag);
    uint64_t *dst[] = {&k->lut, &k->ff, &k->dsp, &k->bram, &k->uram};
    for (size_t i = 0; !rc && i < 5; i++) {
        const qv__ynode *v = qv__ymap_get(r, res_keys[i].name);
        char what[32];
        int64_t x = 0;
        snprintf(what, sizeof what, "resources.%s", res_keys[i].name);
        if (v)
            rc = qv__yget_int(doc, v, what, 0, INT64_C(1) << 40, &x, diag);
        *dst[i] = (uint64_t)x;
    }
    return rc;
}

static int load_kernel(const qv__ydoc *doc, const qv__ynode *m, qv__catalog *c,
                       qv_diag *diag)
{
    qv__kernel *k = &c->kernels[c->nkernels];
    const qv__ynode *n;
    int rc = qv__ymap_check(doc, m, "a kernel", kernel_keys, diag);
    if (!rc)
        rc = get_c_name(doc, qv__ymap_get(m, "name"), "name", &k->name, diag);
    if (rc)
        return rc;
    c->nkernels++;
    for (size_t i = 0; i + 1 < c->nkernels; i++)
        if (!strcmp(c->kernels[i].name, k->name))
            return qv__yerr(doc, qv__ymap_get(m, "name"), diag,
                            "duplicate kernel name '%s'", k->name);
    rc = load_implements(doc, qv__ymap_get(m, "implements"), c, k, diag);
    if (!rc && (n = qv__ymap_get(m, "connect")))
        rc = load_connect(doc, n, k, diag);
    if (!rc && (n = qv__ymap_get(m, "zero")))
        rc = load_endpoints(doc, n, "zero", 0, k, &k->zero, &k->nzero, diag);
    if (!rc)
        rc = load_args(doc, qv__ymap_get(m, "args"), k, diag);
    if (!rc)
        rc = check_mapping(doc, m, k, diag);
    if (!rc && (n = qv__ymap_get(m, "resources")))
        rc = load_resources(doc, n, k, diag);
    if (!rc)
        rc = load_builds(doc, qv__ymap_get(m, "builds"), c, k, diag);
    if (!rc)
        rc = load_perf(doc, qv__ymap_get(m, "perf"), k, diag);
    /* A cycle model needs a clock: its own, or every board's. */
    for (size_t i = 0; !rc && !k->ntable && !k->clock_mhz && i < k->nbuilds; i++)
        if (!k->builds[i].board->clock_mhz)
            rc = qv__yerr(doc, qv__ymap_get(m, "perf"), diag,
                          "perf is missing 'clock_mhz', and board '%s' has "
                          "no clock_mhz to fall back on (expected "
                          "'clock_mhz: 300')",
                          k->builds[i].board->name);
    return rc;
}

int qv__catalog_from_doc(const qv__ydoc *doc, qv__catalog **out, qv_diag *diag)
{
    *out = NULL;
    const qv__ynode *root = doc->root, *n;
    if (!root)
        return qv__yerr(doc, NULL, diag,
                        "empty file; expected a kernel catalog ('kernels: "
                        "[...]')");
    int rc = qv__ymap_check(doc, root, "the kernel catalog", top_keys, diag);
    if (rc)
        return rc;
    const qv__ynode *ks = qv__ymap_get(root, "kernels");
    if (ks->kind != QV__Y_SEQ)
        return qv__yerr(doc, ks, diag,
                        "kernels: expected a list of kernels (or [] for "
                        "none), got %s",
                        qv__ydesc(ks));
    qv__catalog *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(doc->path)) ||
        !(c->kernels = calloc(ks->n ? ks->n : 1, sizeof *c->kernels))) {
        qv__catalog_free(c);
        return QV_ENOMEM;
    }
    if ((n = qv__ymap_get(root, "boards")))
        rc = load_boards(doc, n, c, diag);
    if (!rc && (n = qv__ymap_get(root, "functions")))
        rc = load_functions(doc, n, c, diag);
    for (size_t i = 0; !rc && i < ks->n; i++)
        rc = load_kernel(doc, ks->items[i], c, diag);
    if (rc) {
        qv__catalog_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int qv__catalog_load(const char *path, qv__catalog **out, qv_diag *diag)
{
    *out = NULL;
    qv__ydoc *doc;
    int rc = qv__ydoc_load(path, &doc, diag);
    if (rc)
        return rc;
    rc = qv__catalog_from_doc(doc, out, diag);
    qv__ydoc_free(doc);
    return rc;
}

const qv__kbuild *qv__kernel_build(const qv__kernel *k, const char *board,
                                   const char *platform, int emulation)
{
    for (size_t i = 0; board && i < k->nbuilds; i++)
        if (!k->builds[i].by_platform && !strcmp(k->builds[i].board->name, board))
            return &k->builds[i];
    for (size_t i = 0; platform && !emulation && i < k->nbuilds; i++)
        if (k->builds[i].by_platform && !strcmp(k->builds[i].platform, platform))
            return &k->builds[i];
    return NULL;
}

double qv__kernel_table_us(const qv__kernel *k, uint64_t bytes)
{
    if (!k->ntable)
        return NAN;
    const qv__kpoint *t = k->table;
    size_t n = k->ntable;
    if (bytes <= t[0].bytes)
        return t[0].us;
    if (n == 1)
        return t[0].us * (double)bytes / (double)t[0].bytes;
    size_t j = 1;
    while (j < n - 1 && t[j].bytes < bytes)
        j++;
    double slope = (t[j].us - t[j - 1].us) / (double)(t[j].bytes - t[j - 1].bytes);
    if (bytes > t[j].bytes && slope < 0)
        slope = 0; /* above the last point: never falling */
    return t[j - 1].us + slope * (double)(bytes - t[j - 1].bytes);
}

/* ---- the public handle (qvpart.h): this type, as the planner sees it ----- */

int qv_catalog_load(const char *path, qv_catalog **out, qv_diag *diag)
{
    qv_diag local;
    if (out)
        *out = NULL;
    if (!path || !out)
        return QV_EINVAL;
    return qv__catalog_load(path, out, diag ? diag : &local);
}

void qv_catalog_destroy(qv_catalog *c)
{
    qv__catalog_free(c);
}

uint32_t qv_catalog_kernel_count(const qv_catalog *c)
{
    return c ? (uint32_t)c->nkernels : 0;
}

const char *qv_catalog_kernel_name(const qv_catalog *c, uint32_t k)
{
    return c && k < c->nkernels ? c->kernels[k].name : NULL;
}

int qv_catalog_holds(const qv_catalog *c, uint32_t k, const qv_plat_res *r)
{
    /* A remote board runs the catalog's builds for the board it serves. */
    if (!c || !r || k >= c->nkernels || (strcmp(r->cls, "fpga") && strcmp(r->cls, "remote")))
        return 0;
    return qv__kernel_build(&c->kernels[k], r->board_name,
                            r->board_platform[0] ? r->board_platform : NULL,
                            r->board_emulation) != NULL;
}

double qv_catalog_table_us(const qv_catalog *c, uint32_t k, uint64_t bytes)
{
    return c && k < c->nkernels ? qv__kernel_table_us(&c->kernels[k], bytes) : NAN;
}
