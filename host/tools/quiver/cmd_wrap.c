/*
 * cmd_wrap.c - `quiver wrap --catalog FILE --functions f,g -o wrap.c`:
 * interposers for -Wl,--wrap=f that run each call of f as a Quiver task
 * (or, with --record, only note its sizes for `quiver profile`), so that
 * an unchanged C program offloads its hot functions.
 *
 * This file reads the options and the catalog, finds the kernel that
 * implements each function, and derives or checks each function's C
 * prototype against it (docs/cli.md, "quiver wrap", has the mapping);
 * cmd_wrap_gen.c writes the code.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_wrap.h"
#include "commands.h"
#include "qv_escape.h"
#include "qv_file.h"
#include "qv_text.h"
#include "config/yaml_doc.h"

#define PROG         "quiver wrap"
#define MAX_FUNCS    64
#define MAX_HEADERS  16
#define MAX_CL_BYTES (1u << 20)

static void wrap_usage(FILE *out)
{
    fprintf(out,
            "usage: quiver wrap --catalog FILE --functions F[,G...] [-o OUT]\n"
            "                   [--record | --defer]\n"
            "                   [--prototype 'void F(...)']... [--header H]...\n"
            "                   [--opencl F=FILE.cl[:KERNEL][@group]]...\n\n"
            "Writes interposers for a program linked with -Wl,--wrap=F: each call of F\n"
            "runs as a Quiver task on the caller's memory, on the CPU (the original\n"
            "F), an OpenCL device or a board, as the runtime decides, and returns\n"
            "with the results in place. F's prototype comes from its catalog kernel:\n"
            "`in` buffers as const pointers to the element type, `out` and `inout`\n"
            "as pointers, scalars by value, returning void.\n\n"
            "  --catalog FILE    the kernel catalog (config/kernels.yaml) whose\n"
            "                    kernels implement the functions\n"
            "  --functions LIST  the functions to wrap, comma-separated\n"
            "  -o, --output OUT  the C file to write ('-': standard output, the\n"
            "                    default)\n"
            "  --record          record-only interposers for `quiver profile`: note\n"
            "                    each call's integer scalars with qv_profile_note\n"
            "                    (a weak reference), then call the original\n"
            "  --defer           return from each call once its task is submitted; the\n"
            "                    outputs' memory stops whoever touches it first\n"
            "                    until the results are there, and later calls read\n"
            "                    them on the device, so a run of calls is planned\n"
            "                    as one region (needs userfaultfd: root, or\n"
            "                    vm.unprivileged_userfaultfd=1; synchronous\n"
            "                    otherwise)\n"
            "  --prototype P     the application's prototype of a function, when it\n"
            "                    differs from the catalog's (other integer types for\n"
            "                    scalars, non-const inputs, parameter names)\n"
            "  --header H        #include H in the generated file and check there\n"
            "                    that it declares each function with the prototype\n"
            "                    used (a mismatch stops the compilation)\n"
            "  --opencl F=FILE   an OpenCL C implementation of F: the kernel named F\n"
            "                    (or KERNEL) of FILE, one work item per element of\n"
            "                    F's first output; with @group at the end, all of\n"
            "                    them in one work-group (a kernel that synchronises\n"
            "                    its work-items, such as an FFT)\n"
            "  -h, --help        print this help\n\n"
            "Run time: QUIVER_WRAP=0 sends every call to the original,\n"
            "QUIVER_WRAP_MIN_BYTES=N (default 65536) keeps smaller calls there,\n"
            "QUIVER_WRAP_WHERE=cpu,gpu,fpga,remote limits the devices, QUIVER_WRAP_STATS=1\n"
            "prints where the calls went, QUIVER_WRAP_DEFER=0 makes --defer calls\n"
            "synchronous.\n");
}

/* Reads a whole text file; NULL after printing why. A FIFO, a device or a
 * directory is refused without blocking (qv__file_load). */
static char *slurp(const char *path)
{
    char *buf = NULL, why[QV__FILE_WHY], e[1024];
    size_t n = 0;
    int rc = qv__file_load(path, MAX_CL_BYTES, &buf, &n, why);
    if (rc || memchr(buf, 0, n)) {
        fprintf(stderr, "%s: cannot read %s: %s\n", PROG, qv__escape(path, e, sizeof e),
                rc == -EFBIG ? "larger than 1 MiB" : rc ? why : "not a text file (NUL byte)");
        free(buf);
        return NULL;
    }
    return buf;
}

/* The kernel that implements f alone, or NULL after printing why. */
static const qv__kernel *find_kernel(const qv__catalog *c, const char *catalog,
                                     const char *f)
{
    const char *cands[256];
    size_t nc = 0;
    int in_chain = 0;
    for (size_t k = 0; k < c->nkernels; k++) {
        const qv__kernel *kk = &c->kernels[k];
        if (kk->nfuncs == 1 && !strcmp(kk->funcs[0], f))
            return kk;
        for (size_t j = 0; j < kk->nfuncs; j++) {
            in_chain |= !strcmp(kk->funcs[j], f);
            if (kk->nfuncs == 1 && nc + 1 < sizeof cands / sizeof *cands)
                cands[nc++] = kk->funcs[j];
        }
    }
    cands[nc] = NULL;
    const char *dym = qv__did_you_mean(f, cands);
    fprintf(stderr, "%s: %s: no kernel implements '%s'%s%s%s%s\n", PROG,
            qv_cli_esc(catalog), qv_cli_esc(f),
            in_chain ? " alone (only fused chains do)" : "",
            dym ? "; did you mean '" : "", dym ? dym : "", dym ? "'?" : "");
    return NULL;
}

/* The catalog's prototype of k: in as const T *, out and inout as T *,
 * scalars as T. */
static void proto_of(const qv__kernel *k, const char *f, qv_wrap_proto *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", f);
    p->nparams = (unsigned)k->nargs;
    for (size_t i = 0; i < k->nargs; i++) {
        const qv__karg *a = &k->args[i];
        snprintf(p->p[i].base, sizeof p->p[i].base, "%s",
                 qv__wrap_ctype(qv__ktype_names[a->type]));
        p->p[i].ptr = a->dir != QV__KDIR_SCALAR;
        p->p[i].is_const = a->dir == QV__KDIR_IN;
        snprintf(p->p[i].name, sizeof p->p[i].name, "%s", a->name);
    }
}

/* Checks the application's prototype p of f against kernel k. 0, or 1
 * after printing what differs. nheaders: a header can vouch for types
 * this tool does not know. */
static int proto_check(const qv_wrap_proto *p, const qv__kernel *k, const char *f,
                       size_t nheaders)
{
    if (p->nparams != k->nargs) {
        fprintf(stderr,
                "%s: --prototype of %s has %u parameters; its catalog kernel %s "
                "has %zu arguments\n",
                PROG, f, p->nparams, k->name, k->nargs);
        return 1;
    }
    for (size_t i = 0; i < k->nargs; i++) {
        const qv__karg *a = &k->args[i];
        const qv_wrap_param *q = &p->p[i];
        const char *kt = qv__ktype_names[a->type];
        int buf = a->dir != QV__KDIR_SCALAR;
        const char *what = NULL;
        if (buf != q->ptr)
            what = buf ? "a pointer (a buffer argument)" : "a value (a scalar argument)";
        else if (buf && q->is_const && a->dir != QV__KDIR_IN)
            what = "a pointer to non-const data (the kernel writes it)";
        else if (buf) {
            int m = qv__wrap_type_match(q->base, kt);
            if (m == 0 || (m < 0 && !nheaders))
                what = m == 0 ? "a pointer to the kernel's element type"
                              : "a pointer to a type this tool knows (or give the header "
                                "that defines it with --header)";
        } else {
            int cls = qv__wrap_type_class(q->base);
            int kint = strcmp(kt, "float") && strcmp(kt, "double") && strcmp(kt, "half");
            if (kint ? cls != 'i' : qv__wrap_type_match(q->base, kt) != 1)
                what = kint ? "an integer type" : "the kernel's scalar type";
        }
        if (what) {
            fprintf(stderr,
                    "%s: --prototype of %s: parameter %zu (%s) is '%s%s%s'; "
                    "expected %s, as argument %s of catalog kernel %s is %s %s\n",
                    PROG, f, i + 1, q->name[0] ? q->name : "unnamed",
                    q->is_const ? "const " : "", q->base, q->ptr ? " *" : "", what,
                    a->name, k->name,
                    buf ? (a->dir == QV__KDIR_IN    ? "in"
                           : a->dir == QV__KDIR_OUT ? "out"
                                                    : "inout")
                        : "scalar",
                    kt);
            return 1;
        }
    }
    return 0;
}

/* Whether path can go between the quotes of an #include, which has no
 * escapes: a quote, a backslash or a control character would end it or
 * the line (the generated file did not build: adversarial testing), as
 * quiver xclbin entry refuses them. Says why not, of the header given as
 * arg. Other bytes (UTF-8 names) are written as they are. */
static bool include_ok(const char *path, const char *arg)
{
    for (const char *h = path; *h; h++)
        if (*h == '"' || *h == '\\' || (unsigned char)*h < 0x20 || *h == 0x7f) {
            char e[1024], f[1024];
            fprintf(stderr,
                    "%s: --header '%s'%s%s%s: a quote, a backslash or a control character "
                    "cannot be in an #include \"...\"\n",
                    PROG, qv__escape(arg, e, sizeof e), path != arg ? " (" : "",
                    path != arg ? qv__escape(path, f, sizeof f) : "", path != arg ? ")" : "");
            return false;
        }
    return true;
}

int qv_cmd_wrap(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"catalog", required_argument, NULL, 'c'},
        {"functions", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"record", no_argument, NULL, 'r'},
        {"defer", no_argument, NULL, 'd'},
        {"prototype", required_argument, NULL, 'p'},
        {"header", required_argument, NULL, 'H'},
        {"opencl", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *catalog = NULL, *functions = NULL, *output = "-";
    const char *protos[MAX_FUNCS], *headers[MAX_HEADERS], *cls[MAX_FUNCS];
    size_t nprotos = 0, nheaders = 0, ncls = 0;
    int record = 0, defer = 0, c;
    while ((c = qv_cli_getopt(argc, argv, PROG, "o:h", longopts)) != -1) {
        switch (c) {
        case 'c':
            catalog = optarg;
            break;
        case 'f':
            functions = optarg;
            break;
        case 'o':
            output = optarg;
            break;
        case 'r':
            record = 1;
            break;
        case 'd':
            defer = 1;
            break;
        case 'p':
        case 'H':
        case 'l': {
            const char **arr = c == 'p' ? protos : c == 'H' ? headers : cls;
            size_t *n = c == 'p' ? &nprotos : c == 'H' ? &nheaders : &ncls;
            size_t max = c == 'H' ? MAX_HEADERS : MAX_FUNCS;
            if (*n == max) {
                fprintf(stderr, "%s: at most %zu --%s options\n", PROG, max,
                        c == 'p'   ? "prototype"
                        : c == 'H' ? "header"
                                   : "opencl");
                return QV_CLI_USAGE;
            }
            if (c == 'H' && !include_ok(optarg, optarg))
                return QV_CLI_USAGE;
            arr[(*n)++] = optarg;
            break;
        }
        case 'h':
            wrap_usage(stdout);
            return 0;
        default:
            return QV_CLI_USAGE;
        }
    }
    if (optind < argc) {
        return qv_cli_unexpected(PROG, argv[optind]);
    }
    if (!catalog || !functions) {
        fprintf(stderr, "%s: missing --%s\nTry '%s --help'.\n", PROG,
                catalog ? "functions" : "catalog", PROG);
        return QV_CLI_USAGE;
    }
    if (record && defer) {
        fprintf(stderr, "%s: --defer is for runtime interposers, not --record\n", PROG);
        return QV_CLI_USAGE;
    }
    if (record && ncls) {
        fprintf(stderr, "%s: --opencl is for runtime interposers, not --record\n", PROG);
        return QV_CLI_USAGE;
    }
    if (qv_cli_overwrites(PROG, "--output", output, "--catalog", catalog))
        return QV_CLI_USAGE;
    for (size_t i = 0; i < nheaders; i++)
        if (qv_cli_overwrites(PROG, "--output", output, "--header", headers[i]))
            return QV_CLI_USAGE;
    for (size_t i = 0; i < ncls; i++) { /* F=PATH[@group] */
        const char *eq = strchr(cls[i], '=');
        char path[4096];
        if (!eq || snprintf(path, sizeof path, "%s", eq + 1) >= (int)sizeof path)
            continue; /* told below */
        char *at = strrchr(path, '@');
        if (at && !strcmp(at, "@group"))
            *at = 0;
        if (qv_cli_overwrites(PROG, "--output", output, "--opencl", path))
            return QV_CLI_USAGE;
    }
    qv_diag d;
    memset(&d, 0, sizeof d);
    qv__catalog *cat = NULL;
    int rc = qv__catalog_load(catalog, &cat, &d);
    if (rc) {
        qv_cli_diag(PROG, catalog, rc, &d);
        return 1;
    }
    static qv_wrap_item items[MAX_FUNCS];
    char *cl_text[MAX_FUNCS] = {0}, *abs_headers[MAX_HEADERS] = {0};
    size_t n = 0;
    int status = 1;
    /* Copies of the lists, whole: a fixed 4096 bytes dropped the functions
     * past them without a word (adversarial testing). */
    char *list = strdup(functions), *spec = NULL;
    if (!list) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        goto out;
    }
    for (char *save = NULL, *f = strtok_r(list, ",", &save); f;
         f = strtok_r(NULL, ",", &save)) {
        if (!qv__is_c_ident(f)) {
            fprintf(stderr, "%s: --functions: '%s' is not a C identifier\n", PROG,
                    qv_cli_esc(f));
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if (!strcmp(items[i].name, f)) {
                fprintf(stderr, "%s: --functions names '%s' twice\n", PROG, f);
                goto out;
            }
        if (n == MAX_FUNCS) {
            fprintf(stderr, "%s: at most %d functions\n", PROG, MAX_FUNCS);
            goto out;
        }
        qv_wrap_item *it = &items[n];
        memset(it, 0, sizeof *it);
        it->name = f;
        if (!(it->kernel = find_kernel(cat, catalog, f)))
            goto out;
        if (it->kernel->nargs > QV_MAX_ARGS) {
            fprintf(stderr,
                    "%s: kernel %s has %zu arguments; a wrapped function takes at "
                    "most %d\n",
                    PROG, it->kernel->name, it->kernel->nargs, QV_MAX_ARGS);
            goto out;
        }
        proto_of(it->kernel, f, &it->proto);
        n++;
    }
    if (!n) {
        fprintf(stderr, "%s: --functions names no function\n", PROG);
        goto out;
    }
    bool protoed[MAX_FUNCS] = {false}; /* a --prototype of items[j] came */
    for (size_t i = 0; i < nprotos; i++) {
        qv_wrap_proto p;
        if ((rc = qv__wrap_proto_parse(protos[i], "--prototype", &p, &d))) {
            qv_cli_diag(PROG, "--prototype", rc, &d);
            /* The prototype escaped (it may hold control characters), the
             * caret under the column: as many characters in as the escaped
             * text before it has (UTF-8 continuation bytes not counted). */
            char full[2048], pre[1024], epre[2048];
            size_t col = d.column ? d.column - 1 : 0;
            snprintf(pre, sizeof pre, "%.*s", (int)(col < sizeof pre ? col : sizeof pre - 1),
                     protos[i]);
            qv__escape(pre, epre, sizeof epre);
            int width = 0;
            for (const unsigned char *q = (const unsigned char *)epre; *q; q++)
                width += (*q & 0xC0) != 0x80;
            fprintf(stderr, "  %s\n  %*s^\n", qv__escape(protos[i], full, sizeof full), width,
                    "");
            goto out;
        }
        size_t j = 0;
        while (j < n && strcmp(items[j].name, p.name))
            j++;
        if (j == n) {
            fprintf(stderr, "%s: --prototype of '%s', which --functions does not name\n",
                    PROG, p.name);
            goto out;
        }
        if (protoed[j]) { /* which one the program declares is not ours to guess */
            fprintf(stderr, "%s: --prototype of '%s' given twice\n", PROG, p.name);
            goto out;
        }
        if (proto_check(&p, items[j].kernel, p.name, nheaders))
            goto out;
        items[j].proto = p;
        protoed[j] = true;
    }
    for (size_t i = 0; i < ncls; i++) {
        free(spec);
        if (!(spec = strdup(cls[i]))) {
            fprintf(stderr, "%s: out of memory\n", PROG);
            goto out;
        }
        char *eq = strchr(spec, '=');
        if (!eq || eq == spec || !eq[1]) {
            fprintf(stderr, "%s: --opencl '%s': expected F=FILE.cl[:KERNEL]\n", PROG,
                    qv_cli_esc(cls[i]));
            goto out;
        }
        *eq = 0;
        char *file = eq + 1, *at = strrchr(file, '@');
        bool group = at && !strcmp(at, "@group");
        if (group)
            *at = 0;
        char *colon = strrchr(file, ':');
        const char *kname = spec;
        if (colon && qv__is_c_ident(colon + 1)) {
            *colon = 0;
            kname = colon + 1;
        }
        size_t j = 0;
        while (j < n && strcmp(items[j].name, spec))
            j++;
        if (j == n) {
            fprintf(stderr, "%s: --opencl for '%s', which --functions does not name\n",
                    PROG, qv_cli_esc(spec));
            goto out;
        }
        if (cl_text[j]) {
            fprintf(stderr, "%s: --opencl names '%s' twice\n", PROG, qv_cli_esc(spec));
            goto out;
        }
        if (!(cl_text[j] = slurp(file)))
            goto out;
        items[j].cl_source = cl_text[j];
        items[j].cl_group = group;
        /* The kernel's name lives in spec: the item keeps a copy. */
        if (!(items[j].cl_kernel = strdup(kname)))
            goto out;
    }
    /* Included by absolute path: the generated file may lie anywhere. */
    for (size_t i = 0; i < nheaders; i++) {
        if (!(abs_headers[i] = realpath(headers[i], NULL))) {
            char e[1024];
            fprintf(stderr, "%s: --header %s: no such file\n", PROG,
                    qv__escape(headers[i], e, sizeof e));
            goto out;
        }
        /* The directories above it, which the path now names, too. */
        if (!include_ok(abs_headers[i], headers[i])) {
            status = QV_CLI_USAGE;
            goto out;
        }
        headers[i] = abs_headers[i];
    }
    FILE *out = qv_cli_out_open(PROG, output, "w");
    if (!out)
        goto out;
    qv__wrap_generate(out, items, n, record, defer, headers, nheaders, catalog);
    status = qv_cli_out_close(PROG, out, output, 0);
out:
    for (size_t i = 0; i < MAX_FUNCS; i++) {
        free(cl_text[i]);
        if (cl_text[i])
            free((char *)items[i].cl_kernel);
    }
    for (size_t i = 0; i < MAX_HEADERS; i++)
        free(abs_headers[i]);
    free(spec);
    free(list);
    qv__catalog_free(cat);
    return status;
}
