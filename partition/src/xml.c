/*
 * xml.c - see xml.h. Recursive descent over elements; the recursion depth is
 * bounded by QV__XML_MAX_DEPTH.
 */
#include "xml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

typedef struct xp {
    const char *s, *end, *fname, *ls;
    int line, err;
    qv_diag *diag;
} xp;

__attribute__((format(printf, 2, 3))) static void fail(xp *p, const char *fmt, ...)
{
    if (p->err)
        return;
    p->err = -EINVAL;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qv__part_diag(p->diag, p->fname, p->line, (int)(p->s - p->ls) + 1, "%s", msg);
}

static void adv(xp *p, size_t n)
{
    while (n-- && p->s < p->end) {
        if (*p->s == '\n') {
            p->line++;
            p->ls = p->s + 1;
        }
        p->s++;
    }
}

static int starts(const xp *p, const char *w)
{
    size_t n = strlen(w);
    return (size_t)(p->end - p->s) >= n && !memcmp(p->s, w, n);
}

static int skip_until(xp *p, const char *w)
{
    while (p->s < p->end && !starts(p, w))
        adv(p, 1);
    if (p->s >= p->end) {
        fail(p, "unterminated markup, '%s' expected", w);
        return -1;
    }
    adv(p, strlen(w));
    return 0;
}

static void skip_ws(xp *p)
{
    while (p->s < p->end &&
           (*p->s == ' ' || *p->s == '\t' || *p->s == '\r' || *p->s == '\n'))
        adv(p, 1);
}

/* Skips text, comments, PIs and DOCTYPE up to the next element tag. */
static int skip_misc(xp *p)
{
    for (;;) {
        while (p->s < p->end && *p->s != '<')
            adv(p, 1);
        if (p->s >= p->end)
            return 0;
        if (starts(p, "<!--")) {
            if (skip_until(p, "-->"))
                return -1;
        } else if (starts(p, "<?")) {
            if (skip_until(p, "?>"))
                return -1;
        } else if (starts(p, "<!")) {
            if (skip_until(p, ">"))
                return -1;
        } else {
            return 0;
        }
    }
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.' || c == ':' || (unsigned char)c >= 0x80;
}

static char *read_name(xp *p)
{
    const char *b = p->s;
    while (p->s < p->end && name_char(*p->s))
        adv(p, 1);
    if (p->s == b) {
        fail(p, "name expected");
        return NULL;
    }
    const char *colon = memchr(b, ':', (size_t)(p->s - b));
    if (colon)
        b = colon + 1;
    char *n = strndup(b, (size_t)(p->s - b));
    if (!n)
        fail(p, "out of memory");
    return n;
}

static char *read_value(xp *p)
{
    if (p->s >= p->end || (*p->s != '"' && *p->s != '\'')) {
        fail(p, "quoted attribute value expected");
        return NULL;
    }
    char q = *p->s;
    adv(p, 1);
    const char *b = p->s;
    while (p->s < p->end && *p->s != q && *p->s != '<')
        adv(p, 1);
    if (p->s >= p->end || *p->s != q) {
        fail(p, "unterminated attribute value");
        return NULL;
    }
    size_t n = (size_t)(p->s - b);
    char *v = malloc(n * 4 + 1), *o = v;
    if (!v) {
        fail(p, "out of memory");
        return NULL;
    }
    for (const char *c = b; c < p->s;) {
        if (*c != '&') {
            *o++ = *c++;
            continue;
        }
        const char *semi = memchr(c, ';', (size_t)(p->s - c));
        size_t el = semi ? (size_t)(semi - c) + 1 : 0;
        static const char *ent[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
        static const char rep[] = "&<>\"'";
        int done = 0;
        for (int k = 0; k < 5 && !done; k++)
            if (el == strlen(ent[k]) && !memcmp(c, ent[k], el)) {
                *o++ = rep[k];
                done = 1;
            }
        if (!done && el > 3 && c[1] == '#') {
            char *e2;
            unsigned long cp =
                c[2] == 'x' ? strtoul(c + 3, &e2, 16) : strtoul(c + 2, &e2, 10);
            if (e2 == semi && cp > 0 && cp < 0x110000) {
                /* UTF-8 */
                if (cp < 0x80) {
                    *o++ = (char)cp;
                } else if (cp < 0x800) {
                    *o++ = (char)(0xC0 | (cp >> 6));
                    *o++ = (char)(0x80 | (cp & 0x3F));
                } else if (cp < 0x10000) {
                    *o++ = (char)(0xE0 | (cp >> 12));
                    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                    *o++ = (char)(0x80 | (cp & 0x3F));
                } else {
                    *o++ = (char)(0xF0 | (cp >> 18));
                    *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                    *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                    *o++ = (char)(0x80 | (cp & 0x3F));
                }
                done = 1;
            }
        }
        if (!done) {
            free(v);
            fail(p, "unknown entity in attribute value");
            return NULL;
        }
        c += el;
    }
    *o = 0;
    adv(p, 1);
    return v;
}

static int push(void **arr, size_t *n, size_t *cap, size_t elem)
{
    if (*n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 4;
    void *na = realloc(*arr, nc * elem);
    if (!na)
        return -1;
    *arr = na;
    *cap = nc;
    return 0;
}

static qv__xel *parse_el(xp *p, int depth)
{
    if (depth > QV__XML_MAX_DEPTH) {
        fail(p, "elements nested deeper than %d", QV__XML_MAX_DEPTH);
        return NULL;
    }
    qv__xel *e = calloc(1, sizeof *e);
    if (!e) {
        fail(p, "out of memory");
        return NULL;
    }
    e->line = p->line;
    e->col = (int)(p->s - p->ls) + 1;
    adv(p, 1); /* '<' */
    size_t acap = 0, kcap = 0;
    if (!(e->name = read_name(p)))
        goto bad;
    for (;;) {
        skip_ws(p);
        if (p->s >= p->end) {
            fail(p, "unterminated tag <%.64s>", e->name);
            goto bad;
        }
        if (starts(p, "/>")) {
            adv(p, 2);
            return e;
        }
        if (*p->s == '>') {
            adv(p, 1);
            break;
        }
        int aline = p->line, acol = (int)(p->s - p->ls) + 1;
        char *an = read_name(p);
        if (!an)
            goto bad;
        /* A repeated attribute is not well-formed XML, and which value a
         * reader would take is anyone's guess: refuse it. */
        const char *why = e->nattr >= QV__XML_MAX_ATTRS ? "too many attributes" : NULL;
        for (size_t i = 0; !why && i < e->nattr; i++)
            if (!strcmp(e->attr[2 * i], an))
                why = "duplicate attribute";
        if (why) {
            p->err = -EINVAL;
            qv__part_diag(p->diag, p->fname, aline, acol, "%s '%.64s' in <%.64s>", why,
                          an, e->name);
            free(an);
            goto bad;
        }
        skip_ws(p);
        if (p->s >= p->end || *p->s != '=') {
            free(an);
            fail(p, "'=' expected after attribute name");
            goto bad;
        }
        adv(p, 1);
        skip_ws(p);
        char *av = read_value(p);
        if (av && e->nattr * 2 + 2 > acap) {
            size_t nc = acap ? acap * 2 : 8;
            char **na = realloc(e->attr, nc * sizeof *na);
            if (na) {
                e->attr = na;
                acap = nc;
            }
        }
        if (!av || e->nattr * 2 + 2 > acap) {
            free(an);
            free(av);
            fail(p, "out of memory");
            goto bad;
        }
        e->attr[e->nattr * 2] = an;
        e->attr[e->nattr * 2 + 1] = av;
        e->nattr++;
    }
    for (;;) {
        if (skip_misc(p))
            goto bad;
        if (p->s >= p->end) {
            fail(p, "element <%.64s> is not closed", e->name);
            goto bad;
        }
        if (starts(p, "</")) {
            adv(p, 2);
            char *cn = read_name(p);
            if (!cn)
                goto bad;
            int same = !strcmp(cn, e->name);
            free(cn);
            skip_ws(p);
            if (!same || p->s >= p->end || *p->s != '>') {
                fail(p, "</%.64s> expected", e->name);
                goto bad;
            }
            adv(p, 1);
            return e;
        }
        qv__xel *k = parse_el(p, depth + 1);
        if (!k)
            goto bad;
        if (push((void **)&e->kid, &e->nkid, &kcap, sizeof k)) {
            qv__part_xml_free(k);
            fail(p, "out of memory");
            goto bad;
        }
        e->kid[e->nkid++] = k;
    }
bad:
    qv__part_xml_free(e);
    return NULL;
}

int qv__part_xml_parse(const char *text, size_t len, const char *fname, qv__xel **out,
                       qv_diag *diag)
{
    xp p = {text, text + len, fname, text, 1, 0, diag};
    *out = NULL;
    if (skip_misc(&p))
        return p.err;
    if (p.s >= p.end) {
        fail(&p, "no root element");
        return p.err;
    }
    qv__xel *root = parse_el(&p, 0);
    if (!root)
        return p.err ? p.err : -EINVAL;
    if (skip_misc(&p) || p.s < p.end) {
        fail(&p, "content after the root element");
        qv__part_xml_free(root);
        return p.err;
    }
    *out = root;
    return 0;
}

void qv__part_xml_free(qv__xel *e)
{
    if (!e)
        return;
    free(e->name);
    for (size_t i = 0; i < 2 * e->nattr; i++)
        free(e->attr[i]);
    free(e->attr);
    for (size_t i = 0; i < e->nkid; i++)
        qv__part_xml_free(e->kid[i]);
    free(e->kid);
    free(e);
}

const char *qv__part_xml_attr(const qv__xel *e, const char *name)
{
    for (size_t i = 0; i < e->nattr; i++)
        if (!strcmp(e->attr[2 * i], name))
            return e->attr[2 * i + 1];
    return NULL;
}
