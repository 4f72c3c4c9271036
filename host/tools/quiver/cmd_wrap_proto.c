/*
 * cmd_wrap_proto.c - the reader of `quiver wrap --prototype`: one C
 * prototype of a void function whose parameters are scalars or single
 * pointers, the shapes a catalog kernel's arguments take. And the C types
 * that stand for each catalog type, so that the command can check a
 * prototype against its kernel (element types, const inputs).
 *
 * Everything else C allows in a prototype (function pointers, pointers to
 * pointers, variadics, structs by value) is refused with the column where
 * a simpler shape was expected: such a function is no catalog kernel.
 */
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cmd_wrap.h"

enum { T_END, T_ID, T_STAR, T_COMMA, T_LP, T_RP, T_SEMI, T_LB, T_RB, T_DOTS, T_BAD };

typedef struct tok {
    int kind;
    size_t at, len; /* 0-based offset into the text, bytes */
} tok;

typedef struct lexer {
    const char *s;
    size_t pos;
    const char *src;
    qv_diag *diag;
} lexer;

static int fail(lexer *lx, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(lexer *lx, size_t at, const char *fmt, ...)
{
    qv_diag *d = lx->diag;
    if (d) {
        snprintf(d->file, sizeof d->file, "%s", lx->src);
        d->line = 1;
        d->column = (unsigned)(at + 1);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->message, sizeof d->message, fmt, ap);
        va_end(ap);
    }
    return QV_EFORMAT;
}

static int is_id0(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_id(int c)
{
    return is_id0(c) || (c >= '0' && c <= '9');
}

static tok next(lexer *lx)
{
    const char *s = lx->s;
    while (s[lx->pos] == ' ' || s[lx->pos] == '\t' || s[lx->pos] == '\n' ||
           s[lx->pos] == '\r')
        lx->pos++;
    tok t = {T_END, lx->pos, 0};
    int c = (unsigned char)s[lx->pos];
    if (!c)
        return t;
    if (is_id0(c)) {
        while (is_id((unsigned char)s[lx->pos]))
            lx->pos++;
        t.kind = T_ID;
        t.len = lx->pos - t.at;
        return t;
    }
    if (!strncmp(s + lx->pos, "...", 3)) {
        lx->pos += 3;
        t.kind = T_DOTS;
        t.len = 3;
        return t;
    }
    static const char punct[] = "*,();[]";
    static const int kinds[] = {T_STAR, T_COMMA, T_LP, T_RP, T_SEMI, T_LB, T_RB};
    const char *p = strchr(punct, c);
    t.kind = p ? kinds[p - punct] : T_BAD;
    t.len = 1;
    lx->pos++;
    return t;
}

static int tok_is(const lexer *lx, tok t, const char *w)
{
    return t.kind == T_ID && t.len == strlen(w) && !strncmp(lx->s + t.at, w, t.len);
}

static int is_qualifier(const lexer *lx, tok t)
{
    return tok_is(lx, t, "const") || tok_is(lx, t, "volatile") ||
           tok_is(lx, t, "restrict") || tok_is(lx, t, "__restrict") ||
           tok_is(lx, t, "__restrict__");
}

static int is_type_keyword(const lexer *lx, tok t)
{
    static const char *const kw[] = {"void",     "char",   "short",  "int",      "long",
                                     "float",    "double", "signed", "unsigned", "_Bool",
                                     "_Float16", "struct", "union",  "enum",     NULL};
    for (int i = 0; kw[i]; i++)
        if (tok_is(lx, t, kw[i]))
            return 1;
    return 0;
}

/* Appends the word t to buf (space-separated). */
static int add_word(lexer *lx, char *buf, size_t cap, tok t)
{
    size_t n = strlen(buf);
    if (n + (n ? 1 : 0) + t.len + 1 > cap)
        return fail(lx, t.at, "type name too long (at most %zu characters)", cap - 1);
    snprintf(buf + n, cap - n, "%s%.*s", n ? " " : "", (int)t.len, lx->s + t.at);
    return 0;
}

/* One parameter, up to the ',' or ')' that ends it (left in *t). */
static int param(lexer *lx, tok *t, qv_wrap_param *p)
{
    memset(p, 0, sizeof *p);
    tok words[16];
    size_t nw = 0;
    int stars = 0, after_star = 0;
    tok name = {T_END, 0, 0};
    for (; t->kind == T_ID || t->kind == T_STAR; *t = next(lx)) {
        if (t->kind == T_STAR) {
            if (stars)
                return fail(lx, t->at,
                            "expected a parameter name or ',' (pointers to "
                            "pointers are no catalog argument)");
            /* A name before the star means `int n *`. */
            stars = 1;
            after_star = 1;
            continue;
        }
        if (after_star) {
            if (is_qualifier(lx, *t))
                continue; /* `float *const y`: the pointer itself, no matter */
            if (name.kind != T_END)
                return fail(lx, t->at, "expected ',' or ')' after the parameter name");
            name = *t;
            continue;
        }
        if (nw == sizeof words / sizeof *words)
            return fail(lx, t->at, "too many words in one parameter");
        words[nw++] = *t;
    }
    /* Without a star, the last word is the name when it is not a keyword
     * and the words before it already make a type. */
    if (!stars && nw >= 2 && !is_qualifier(lx, words[nw - 1]) &&
        !is_type_keyword(lx, words[nw - 1])) {
        int typed = 0;
        for (size_t i = 0; i + 1 < nw; i++)
            if (!is_qualifier(lx, words[i]))
                typed = 1;
        if (typed)
            name = words[--nw];
    }
    if (t->kind == T_LB) { /* `float x[]`, `float x[N]`: a pointer */
        if (stars)
            return fail(lx, t->at,
                        "expected ',' or ')' (an array of pointers is no "
                        "catalog argument)");
        int depth = 0;
        do {
            depth += t->kind == T_LB;
            depth -= t->kind == T_RB;
            if (t->kind == T_END || t->kind == T_BAD)
                return fail(lx, t->at, "expected ']'");
            *t = next(lx);
        } while (depth);
        if (t->kind == T_LB)
            return fail(lx, t->at,
                        "expected ',' or ')' (arrays of arrays are no catalog "
                        "argument)");
        stars = 1;
    }
    if (t->kind == T_LP)
        return fail(lx, t->at,
                    "expected ',' or ')' (function pointers are no catalog "
                    "argument)");
    if (t->kind != T_COMMA && t->kind != T_RP)
        return fail(lx, t->at, "expected ',' or ')'");
    for (size_t i = 0; i < nw; i++) {
        if (tok_is(lx, words[i], "const"))
            p->is_const = 1;
        else if (tok_is(lx, words[i], "volatile"))
            p->is_volatile = 1;
        else if (!is_qualifier(lx, words[i])) {
            int rc = add_word(lx, p->base, sizeof p->base, words[i]);
            if (rc)
                return rc;
        }
    }
    if (!p->base[0])
        return fail(lx, nw ? words[0].at : t->at, "expected a parameter type");
    if (!stars && !strcmp(p->base, "void"))
        return fail(lx, words[0].at, "expected a parameter type other than void");
    p->ptr = stars;
    if (name.kind == T_ID) {
        if (name.len >= sizeof p->name)
            return fail(lx, name.at, "parameter name too long (at most %zu characters)",
                        sizeof p->name - 1);
        memcpy(p->name, lx->s + name.at, name.len);
    }
    return 0;
}

int qv__wrap_proto_parse(const char *text, const char *src, qv_wrap_proto *out,
                         qv_diag *diag)
{
    lexer lx = {text ? text : "", 0, src ? src : "<prototype>", diag};
    memset(out, 0, sizeof *out);
    tok t = next(&lx), words[8];
    size_t nw = 0;
    for (; t.kind == T_ID; t = next(&lx)) {
        if (tok_is(&lx, t, "extern") || tok_is(&lx, t, "static") ||
            tok_is(&lx, t, "inline"))
            continue;
        if (nw == sizeof words / sizeof *words)
            return fail(&lx, t.at, "expected '('");
        words[nw++] = t;
    }
    if (t.kind == T_STAR || (nw >= 2 && !tok_is(&lx, words[0], "void")) || nw > 2)
        return fail(&lx, nw ? words[0].at : t.at,
                    "expected 'void' as the return type (a wrapped function returns "
                    "nothing, like its catalog kernel)");
    if (nw < 2)
        return fail(&lx, t.at,
                    nw ? "expected the function's name after its return type"
                       : "expected a prototype such as 'void fir(const float *x, "
                         "...)'");
    if (t.kind != T_LP)
        return fail(&lx, t.at, "expected '('");
    tok name = words[1];
    if (name.len >= sizeof out->name)
        return fail(&lx, name.at, "function name too long");
    memcpy(out->name, text + name.at, name.len);
    t = next(&lx);
    lexer peek = lx;
    tok t2 = next(&peek);
    if (tok_is(&lx, t, "void") && t2.kind == T_RP) {
        t = next(&lx); /* (void): no parameters */
    } else if (t.kind != T_RP) {
        for (;;) {
            if (t.kind == T_DOTS)
                return fail(&lx, t.at,
                            "expected a parameter (variadic functions are no "
                            "catalog kernel)");
            if (t.kind != T_ID)
                return fail(&lx, t.at, "expected a parameter type");
            if (out->nparams == QV_MAX_ARGS)
                return fail(&lx, t.at, "too many parameters (at most %d)", QV_MAX_ARGS);
            int rc = param(&lx, &t, &out->p[out->nparams]);
            if (rc)
                return rc;
            out->nparams++;
            if (t.kind == T_RP)
                break;
            t = next(&lx); /* past ',' */
        }
    }
    t = next(&lx);
    if (t.kind == T_SEMI)
        t = next(&lx);
    if (t.kind != T_END)
        return fail(&lx, t.at, "expected the end of the prototype");
    return 0;
}

const char *qv__wrap_ctype(const char *ktype)
{
    static const char *const map[][2] = {
        {"int8", "int8_t"},     {"uint8", "uint8_t"},   {"int16", "int16_t"},
        {"uint16", "uint16_t"}, {"int32", "int32_t"},   {"uint32", "uint32_t"},
        {"int64", "int64_t"},   {"uint64", "uint64_t"}, {"half", "uint16_t"},
        {"float", "float"},     {"double", "double"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
        if (!strcmp(map[i][0], ktype))
            return map[i][1];
    return NULL;
}

/* kind: 'i' integer, 'f' floating; size in bytes; sign 1 for signed. 0, or
 * -1 for a type this tool does not know. */
static int type_info(const char *base, int *kind, unsigned *size, int *sign)
{
    static const struct {
        const char *name;
        int kind;
        unsigned size;
        int sign;
    } named[] = {
        {"float", 'f', sizeof(float), 1},
        {"double", 'f', sizeof(double), 1},
        {"_Float16", 'h', 2, 1},
        {"int8_t", 'i', 1, 1},
        {"uint8_t", 'i', 1, 0},
        {"int16_t", 'i', 2, 1},
        {"uint16_t", 'i', 2, 0},
        {"int32_t", 'i', 4, 1},
        {"uint32_t", 'i', 4, 0},
        {"int64_t", 'i', 8, 1},
        {"uint64_t", 'i', 8, 0},
        {"size_t", 'i', sizeof(size_t), 0},
        {"ptrdiff_t", 'i', sizeof(ptrdiff_t), 1},
        {"intptr_t", 'i', sizeof(intptr_t), 1},
        {"uintptr_t", 'i', sizeof(uintptr_t), 0},
        {"_Bool", 'i', sizeof(_Bool), 0},
    };
    for (size_t i = 0; i < sizeof named / sizeof *named; i++)
        if (!strcmp(named[i].name, base)) {
            *kind = named[i].kind;
            *size = named[i].size;
            *sign = named[i].sign;
            return 0;
        }
    /* Integer keywords in any order: signed, unsigned, char, short, int,
     * long, long long. */
    int nsigned = 0, nunsigned = 0, nchar = 0, nshort = 0, nint = 0, nlong = 0;
    char buf[64];
    snprintf(buf, sizeof buf, "%s", base);
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w;
         w = strtok_r(NULL, " ", &save)) {
        if (!strcmp(w, "signed"))
            nsigned++;
        else if (!strcmp(w, "unsigned"))
            nunsigned++;
        else if (!strcmp(w, "char"))
            nchar++;
        else if (!strcmp(w, "short"))
            nshort++;
        else if (!strcmp(w, "int"))
            nint++;
        else if (!strcmp(w, "long"))
            nlong++;
        else
            return -1;
    }
    if (nsigned + nunsigned > 1 || nchar + nshort + (nlong > 0) > 1 || nint > 1 ||
        nlong > 2 || (nchar && nint))
        return -1;
    *kind = 'i';
    *sign = !nunsigned;
    if (nchar) {
        *size = 1;
        if (!nsigned && !nunsigned)
            *sign = CHAR_MIN < 0;
    } else if (nshort)
        *size = sizeof(short);
    else if (nlong == 1)
        *size = sizeof(long);
    else if (nlong == 2)
        *size = sizeof(long long);
    else
        *size = sizeof(int);
    return 0;
}

int qv__wrap_type_match(const char *base, const char *ktype)
{
    int kind, sign;
    unsigned size;
    if (type_info(base, &kind, &size, &sign))
        return -1;
    if (!strcmp(ktype, "float"))
        return kind == 'f' && size == sizeof(float);
    if (!strcmp(ktype, "double"))
        return kind == 'f' && size == sizeof(double);
    if (!strcmp(ktype, "half")) /* no C type: its bits */
        return (kind == 'h') || (kind == 'i' && size == 2 && !sign);
    int ksign = ktype[0] != 'u';
    unsigned kbits = 0;
    sscanf(ktype + (ksign ? 3 : 4), "%u", &kbits);
    return kind == 'i' && size * 8 == kbits && sign == ksign;
}

int qv__wrap_type_class(const char *base)
{
    int kind, sign;
    unsigned size;
    return type_info(base, &kind, &size, &sign) ? 0 : kind;
}
