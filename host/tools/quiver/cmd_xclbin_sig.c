/*
 * cmd_xclbin_sig.c - kernel signatures on the command line of `quiver xclbin
 * build` and `quiver xclbin entry`: "NAME(ARG:TYPE, ...)", where a TYPE
 * ending in '*' is a global pointer and any other a scalar of known size or
 * NAME:TYPE@BYTES.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_xclbin.h"
#include "commands.h"
#include "qv_escape.h"
#include "qv_text.h"

void qv_xsig_fini(qv_xsig *b)
{
    for (size_t i = 0; i < b->nkernels; i++) {
        free(b->args[i]);
        free(b->sigs[i]);
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* Byte size of a scalar type the signature syntax knows (the library's
 * table of C scalars); -1 when not known. */
static int scalar_size(const char *type)
{
    unsigned bytes;
    bool fp;
    return qv__xclbin_c_scalar(type, &bytes, &fp) ? (int)bytes : -1;
}

/* A type as generated code writes it (`quiver xclbin entry` pastes it
 * into C): words, spaces, an HLS template's '<', '>' and "::", and a
 * trailing run of '*'; nothing that could end a declaration or start a
 * comment or a directive. */
static bool is_type(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    bool stars = false;
    for (; *s; s++) {
        if (*s == '*')
            stars = true;
        else if (stars && *s != ' ')
            return false;
        else if (!(isalnum((unsigned char)*s) || strchr("_ <>:", *s)))
            return false;
    }
    return true;
}

/* Names and types, checked before any of them reaches generated C. */
static int check_names(const qv__xclbin_kernel_spec *k, const char *prog, const char *sig)
{
    char e[1024], n[512];
    if (!qv__is_c_ident(k->name) || qv__is_c_keyword(k->name)) {
        fprintf(stderr, "%s: --kernel '%s': name '%s' is %s\n", prog,
                qv__escape(sig, e, sizeof e), qv__escape(k->name, n, sizeof n),
                qv__is_c_ident(k->name) ? "a C keyword" : "not a C identifier");
        return 2;
    }
    for (size_t i = 0; i < k->nargs; i++) {
        const qv__xclbin_arg_spec *a = &k->args[i];
        const char *why = !qv__is_c_ident(a->name)    ? "its name is not a C identifier"
                          : qv__is_c_keyword(a->name) ? "its name is a C keyword"
                          : !is_type(a->type)
                              ? "its type is not a C type (words, spaces, '<>' and '::', "
                                "trailing '*')"
                              : NULL;
        for (size_t j = 0; j < i && !why; j++)
            if (!strcmp(k->args[j].name, a->name))
                why = "it is given twice";
        if (why) {
            fprintf(stderr, "%s: --kernel '%s': argument %zu: %s\n", prog,
                    qv__escape(sig, e, sizeof e), i, why);
            return 2;
        }
    }
    return 0;
}

int qv_xsig_parse(qv_xsig *b, const char *prog, const char *sig)
{
    if (b->nkernels == QV__XCLBIN_MAX_KERNELS) {
        fprintf(stderr, "%s: more than %u kernels\n", prog,
                QV__XCLBIN_MAX_KERNELS);
        return 2;
    }
    size_t ki = b->nkernels;
    char *s = strdup(sig);
    if (!s)
        return 1;
    b->sigs[ki] = s;
    b->nkernels++;
    qv__xclbin_kernel_spec *k = &b->kernels[ki];
    k->ncus = 1;
    char *open = strchr(s, '('), *close = strrchr(s, ')');
    if (!open || !close || close < open || trim(close + 1)[0]) {
        fprintf(stderr, "%s: --kernel '%s': expected NAME(ARG:TYPE, ...)\n", prog,
                qv_cli_esc(sig));
        return 2;
    }
    *open = '\0';
    *close = '\0';
    k->name = trim(s);
    char *list = trim(open + 1);
    size_t n = *list ? 1 : 0;
    for (char *p = list; *p; p++)
        n += *p == ',';
    if (n > QV__XCLBIN_MAX_ARGS) {
        fprintf(stderr, "%s: --kernel '%s': more than %u arguments\n", prog,
                qv_cli_esc(sig), QV__XCLBIN_MAX_ARGS);
        return 2;
    }
    if (n && !(b->args[ki] = calloc(n, sizeof *b->args[ki])))
        return 1;
    k->args = b->args[ki];
    char *save = NULL;
    for (char *tok = n ? strtok_r(list, ",", &save) : NULL; tok;
         tok = strtok_r(NULL, ",", &save)) {
        qv__xclbin_arg_spec *a = &b->args[ki][k->nargs++];
        char *colon = strchr(tok, ':');
        if (!colon) {
            fprintf(stderr, "%s: --kernel '%s': argument '%s' lacks ':TYPE'\n", prog,
                    qv_cli_esc(sig), qv_cli_esc(trim(tok)));
            return 2;
        }
        *colon = '\0';
        a->name = trim(tok);
        char *type = trim(colon + 1), *at = strrchr(type, '@');
        if (at) {
            *at = '\0';
            char *end;
            unsigned long v = strtoul(at + 1, &end, 10);
            if (!isdigit((unsigned char)at[1]) || *end || v > 64 || v == 0) {
                fprintf(stderr,
                        "%s: --kernel '%s': size '@%s' of '%s' must "
                        "be 1..64 bytes\n",
                        prog, qv_cli_esc(sig), qv_cli_esc(at + 1), qv_cli_esc(a->name));
                return 2;
            }
            a->size = (uint32_t)v;
            type = trim(type);
        }
        a->type = type;
        size_t tl = strlen(type);
        a->global = tl && type[tl - 1] == '*';
        if (a->global)
            a->size = 8;
        else if (!at) {
            int size = scalar_size(type);
            if (size < 0) {
                fprintf(stderr,
                        "%s: --kernel '%s': unknown scalar type '%s' "
                        "of '%s'; write %s:%s@BYTES\n",
                        prog, qv_cli_esc(sig), qv_cli_esc(type), qv_cli_esc(a->name),
                        qv_cli_esc(a->name), qv_cli_esc(type));
                return 2;
            }
            a->size = (uint32_t)size;
        }
    }
    if (k->nargs != n) {
        fprintf(stderr, "%s: --kernel '%s': empty argument\n", prog, qv_cli_esc(sig));
        return 2;
    }
    return check_names(k, prog, sig);
}
