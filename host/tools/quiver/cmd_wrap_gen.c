/*
 * cmd_wrap_gen.c - the writer of `quiver wrap`: for each function f, a
 * __wrap_f with f's prototype that hands the call to qv_wrap_call
 * (quiver_wrap.h) and calls __real_f when that declines, or, for
 * --record, one that calls the profile library's qv_profile_note (a weak
 * reference: absent, nothing is noted) and then __real_f.
 *
 * The generated file is a table per function and a few lines of code; the
 * logic is in libquiver (host/src/wrap/wrap.c). It compiles warning-free
 * under -std=c11 -Wall -Wextra -Wpedantic -Wmissing-prototypes.
 */
#include <stdio.h>
#include <string.h>

#include "cmd_wrap.h"
#include "qv_escape.h"

/* Writes s as a C string literal. */
static void put_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(out, "\\%03o", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* The C type of parameter i of it, without a name. */
static void put_type(FILE *out, const qv_wrap_item *it, unsigned i)
{
    const qv_wrap_param *p = &it->proto.p[i];
    if (p->ptr)
        fprintf(out, "%s%s%s *", p->is_const ? "const " : "",
                p->is_volatile ? "volatile " : "", p->base);
    else
        fprintf(out, "%s", p->base);
}

/* "(T0 p0, T1 p1)" (names 1) or "(T0, T1)" (names 0). */
static void put_params(FILE *out, const qv_wrap_item *it, int names)
{
    fputc('(', out);
    for (unsigned i = 0; i < it->proto.nparams; i++) {
        if (i)
            fputs(", ", out);
        put_type(out, it, i);
        if (names)
            fprintf(out, "%sp%u", it->proto.p[i].ptr ? "" : " ", i);
    }
    if (!it->proto.nparams)
        fputs("void", out);
    fputc(')', out);
}

static void put_real_call(FILE *out, const qv_wrap_item *it)
{
    fprintf(out, "__real_%s(", it->name);
    for (unsigned i = 0; i < it->proto.nparams; i++)
        fprintf(out, "%sp%u", i ? ", " : "", i);
    fputs(");\n", out);
}

static const char *ktype(const qv__karg *a)
{
    return qv__ktype_names[a->type];
}

/* 1 when scalar argument a is an integer the size expressions may use. */
static int int_scalar(const qv__karg *a)
{
    const char *t = ktype(a);
    return a->dir == QV__KDIR_SCALAR && strcmp(t, "float") && strcmp(t, "double") &&
           strcmp(t, "half");
}

static void gen_decls(FILE *out, const qv_wrap_item *it, size_t nheaders)
{
    fprintf(out, "void __real_%s", it->name);
    put_params(out, it, 0);
    fprintf(out, ";\nvoid __wrap_%s", it->name);
    put_params(out, it, 0);
    fputs(";\n", out);
    if (!nheaders)
        return;
    /* The application's own declaration must be this prototype: calling
     * through another is undefined behaviour. */
    fprintf(out,
            "#if defined(__GNUC__)\n_Static_assert(__builtin_types_compatible_p("
            "__typeof__(%s), void",
            it->name);
    put_params(out, it, 0);
    fprintf(out, "),\n               ");
    char msg[1024];
    snprintf(
        msg, sizeof msg,
        "quiver wrap: %s as the header of the application declares it differs from the "
        "prototype the interposer was generated for: give its prototype with "
        "--prototype",
        it->name);
    put_str(out, msg);
    fputs(");\n#endif\n", out);
}

static void gen_record(FILE *out, const qv_wrap_item *it)
{
    const qv__kernel *k = it->kernel;
    unsigned nint = 0;
    for (size_t i = 0; i < k->nargs; i++)
        nint += (unsigned)int_scalar(&k->args[i]);
    fprintf(out, "\nvoid __wrap_%s", it->name);
    put_params(out, it, 1);
    fputs("\n{\n    if (qv_profile_note) {\n", out);
    if (nint) {
        fprintf(out, "        static const char *const names[%u] = {", nint);
        for (size_t i = 0, j = 0; i < k->nargs; i++)
            if (int_scalar(&k->args[i])) {
                fputs(j++ ? ", " : " ", out);
                put_str(out, k->args[i].name);
            }
        fprintf(out, " };\n        const long long values[%u] = {", nint);
        for (size_t i = 0, j = 0; i < k->nargs; i++)
            if (int_scalar(&k->args[i]))
                fprintf(out, "%s(long long)p%zu", j++ ? ", " : " ", i);
        fputs(" };\n        qv_profile_note(", out);
        put_str(out, it->name);
        fprintf(out, ", %u, names, values);\n", nint);
    } else {
        fputs("        qv_profile_note(", out);
        put_str(out, it->name);
        fputs(", 0, NULL, NULL);\n", out);
    }
    fputs("    }\n    ", out);
    put_real_call(out, it);
    fputs("}\n", out);
}

static void gen_runtime(FILE *out, const qv_wrap_item *it, int defer)
{
    const qv__kernel *k = it->kernel;
    const char *n = it->name;
    fprintf(out, "\nstatic const qv_wrap_arg qvw_args_%s[%zu] = {\n", n, k->nargs);
    for (size_t i = 0; i < k->nargs; i++) {
        const qv__karg *a = &k->args[i];
        static const char *const modes[] = {"QV_R", "QV_W", "QV_RW", "0"};
        const char *t = ktype(a);
        const char *kind = !strcmp(t, "float") || !strcmp(t, "double") ? "QV_WRAP_FLOAT"
                           : t[0] == 'i'                               ? "QV_WRAP_SINT"
                                                                       : "QV_WRAP_UINT";
        fputs("    { ", out);
        put_str(out, a->name);
        fprintf(out, ", %s, %u, %s, ", modes[a->dir], a->elem,
                a->dir == QV__KDIR_SCALAR ? kind : "0");
        if (a->size)
            put_str(out, a->size);
        else
            fputs("NULL", out);
        fputs(" },\n", out);
    }
    fputs("};\n", out);
    /* The CPU implementation: __real_f on the task's data. */
    fprintf(out, "\nstatic void qvw_cpu_%s(const qv_call *c)\n{\n    __real_%s(", n, n);
    for (size_t i = 0; i < k->nargs; i++) {
        if (i)
            fputs(",\n        ", out);
        fputc('(', out);
        put_type(out, it, (unsigned)i);
        if (k->args[i].dir == QV__KDIR_SCALAR)
            fprintf(out, ")*(const %s *)c->ptr[%zu]", qv__wrap_ctype(ktype(&k->args[i])),
                    i);
        else
            fprintf(out, ")c->ptr[%zu]", i);
    }
    fputs(");\n}\n", out);
    if (it->cl_source) {
        fprintf(out, "\nstatic const char qvw_cl_%s[] = {", n);
        size_t len = strlen(it->cl_source);
        for (size_t i = 0; i <= len; i++)
            fprintf(out, "%s%d,", i % 16 ? " " : "\n    ",
                    (unsigned char)it->cl_source[i]);
        fputs("\n};\n", out);
        fprintf(out, "\nstatic qv_wrap_fn qvw_fn_%s;\n", n);
        if (it->cl_group) /* one work-group of them all */
            fprintf(
                out,
                "\nstatic unsigned qvw_range_%s(const qv_call *c, size_t g[3], "
                "size_t l[3])\n{\n    unsigned dims = qv_wrap_range(&qvw_fn_%s, c, g, "
                "l);\n    l[0] = g[0];\n    return dims;\n}\n",
                n, n);
        else
            fprintf(
                out,
                "\nstatic unsigned qvw_range_%s(const qv_call *c, size_t g[3], "
                "size_t l[3])\n{\n    return qv_wrap_range(&qvw_fn_%s, c, g, l);\n}\n",
                n, n);
    }
    fprintf(out, "\nstatic qv_wrap_fn qvw_fn_%s = {\n    QV_WRAP_ABI, ", n);
    put_str(out, n);
    fputs(", ", out);
    put_str(out, k->name);
    fprintf(out, ", qvw_args_%s, %zu, qvw_cpu_%s,\n    ", n, k->nargs, n);
    if (it->cl_source) {
        fprintf(out, "qvw_cl_%s, ", n);
        put_str(out, it->cl_kernel);
        fprintf(out, ", qvw_range_%s, NULL, %s\n};\n", n, defer ? "QV_WRAP_DEFER" : "0");
    } else
        fprintf(out, "NULL, NULL, NULL, NULL, %s\n};\n", defer ? "QV_WRAP_DEFER" : "0");
    /* The interposer: scalars converted to the catalog's types (a value
     * that does not survive the conversion goes to __real_). */
    fprintf(out, "\nvoid __wrap_%s", n);
    put_params(out, it, 1);
    fputs("\n{\n", out);
    int checks = 0;
    for (size_t i = 0; i < k->nargs; i++) {
        const qv__karg *a = &k->args[i];
        if (a->dir != QV__KDIR_SCALAR)
            continue;
        const char *ct = qv__wrap_ctype(ktype(a));
        fprintf(out, "    %s s%zu = (%s)p%zu;\n", ct, i, ct, i);
        if (strcmp(ct, it->proto.p[i].base) && int_scalar(a))
            checks = 1;
    }
    fprintf(out, "    void *const a[%zu] = {", k->nargs);
    for (size_t i = 0; i < k->nargs; i++) {
        fputs(i ? ", " : " ", out);
        if (k->args[i].dir == QV__KDIR_SCALAR)
            fprintf(out, "&s%zu", i);
        else
            fprintf(out, "(void *)(uintptr_t)p%zu", i);
    }
    fputs(" };\n", out);
    if (checks) {
        fputs("    int fits = ", out);
        const char *sep = "";
        for (size_t i = 0; i < k->nargs; i++) {
            const qv__karg *a = &k->args[i];
            if (a->dir != QV__KDIR_SCALAR || !int_scalar(a) ||
                !strcmp(qv__wrap_ctype(ktype(a)), it->proto.p[i].base))
                continue;
            fprintf(out, "%s(%s)s%zu == p%zu && (s%zu > 0) == (p%zu > 0)", sep,
                    it->proto.p[i].base, i, i, i, i);
            sep = " &&\n               ";
        }
        fprintf(out, ";\n    if (qv_wrap_call(&qvw_fn_%s, fits ? a : NULL) == 0)\n", n);
    } else
        fprintf(out, "    if (qv_wrap_call(&qvw_fn_%s, a) == 0)\n", n);
    fputs("        return;\n    ", out);
    put_real_call(out, it);
    fputs("}\n", out);
}

void qv__wrap_generate(FILE *out, const qv_wrap_item *items, size_t n, int record,
                       int defer, const char *const *headers, size_t nheaders, const char *catalog)
{
    fprintf(out, "/*\n * Generated by `quiver wrap%s` from the kernel catalog\n * ",
            record ? " --record" : defer ? " --defer" : "");
    /* Escaped (a newline, and so a backslash-newline or ??/-newline
     * splice, cannot be in it: a catalog path with `*\` + newline + `/`
     * ended the comment and put code in the file: adversarial testing),
     * and no comment ends inside the comment. */
    char cat[4096];
    qv__escape(catalog, cat, sizeof cat);
    for (char *p = cat; *p; p++)
        if (p[0] == '*' && p[1] == '/')
            p[1] = '_';
    fprintf(out, "%s: do not edit.\n *\n", cat);
    fputs(
        record
            ? " * Record-only interposers: each call notes its integer scalars with\n"
              " * qv_profile_note (libquiver-profile.so, when `quiver profile` preloads\n"
              " * it) and calls the original.\n"
            : defer ? " * Each call runs as a Quiver task (quiver_wrap.h) and returns once it\n"
                      " * is submitted: its results land in place when their memory is\n"
                      " * first touched. Or it calls the original.\n"
                    : " * Each call runs as a Quiver task (quiver_wrap.h) and returns with its\n"
                      " * results in place, or calls the original.\n",
        out);
    fputs(" * Link the program with\n *   -Wl", out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, ",--wrap=%s", items[i].name);
    fputs(record ? "\n" : "\n * and libquiver.\n", out);
    fputs(" */\n#include <stddef.h>\n#include <stdint.h>\n", out);
    if (!record)
        fputs("\n#include <quiver_wrap.h>\n", out);
    /* As they are: an #include "..." has no escapes (cmd_wrap.c checks
     * that nothing in them ends it). */
    for (size_t i = 0; i < nheaders; i++)
        fprintf(out, "#include \"%s\"\n", headers[i]);
    if (record)
        fputs("\nextern void qv_profile_note(const char *fn, unsigned nscalars,\n"
              "                            const char *const *names,\n"
              "                            const long long *values) "
              "__attribute__((weak));\n",
              out);
    fputc('\n', out);
    for (size_t i = 0; i < n; i++)
        gen_decls(out, &items[i], nheaders);
    for (size_t i = 0; i < n; i++)
        if (record)
            gen_record(out, &items[i]);
        else
            gen_runtime(out, &items[i], defer);
    if (record || !n)
        return;
    fputs("\n/* Makes every wrapped function known at start-up, so that\n"
          " * QUIVER_WRAP_STATS=1 names those whose wrapper never fired. */\n"
          "__attribute__((constructor)) static void qvw_declare_all(void)\n{\n",
          out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "    qv_wrap_declare(&qvw_fn_%s);\n", items[i].name);
    fputs("}\n", out);
}
