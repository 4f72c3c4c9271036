/*
 * xml.c - the strict XML reader of xml.h. One pass over the input with an
 * explicit stack (the parent links), so hostile nesting cannot exhaust the C
 * stack; all limits are checked before memory is allocated for them.
 * Only ASCII is accepted outside comments: the xclbin metadata is ASCII, and
 * this keeps every decoded string safe to print and to put in JSON.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quiver.h"
#include "xclbin/xml.h"

typedef struct parser {
    const char *s;
    size_t len;
    size_t pos;
    size_t nodes;
    size_t *err_offset;
    char *msg;
    size_t msglen;
} parser;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
report(parser *p, size_t off, const char *fmt, ...)
{
    if (p->err_offset)
        *p->err_offset = off;
    if (p->msg && p->msglen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->msg, p->msglen, fmt, ap);
        va_end(ap);
    }
}

/* Records where and why, and is QV_EFORMAT: a macro, so that every error
 * path visibly returns non-zero (the static analyzer loses values returned
 * through variadic functions). */
#define fail(...) (report(__VA_ARGS__), QV_EFORMAT)

static bool starts(const parser *p, const char *lit)
{
    size_t n = strlen(lit);
    return p->len - p->pos >= n && !memcmp(p->s + p->pos, lit, n);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len && is_ws(p->s[p->pos]))
        p->pos++;
}

static bool name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':';
}

static bool name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/* A byte allowed in text and attribute values (before reference decoding). */
static bool text_ok(char c)
{
    unsigned char u = (unsigned char)c;
    return (u >= 0x20 && u < 0x7f) || c == '\t' || c == '\n' || c == '\r';
}

/* Skips "<!-- ... -->" or "<? ... ?>" starting at p->pos. */
static int skip_until(parser *p, const char *open, const char *close)
{
    size_t start = p->pos;
    p->pos += strlen(open);
    size_t n = strlen(close);
    while (p->len - p->pos >= n) {
        if (!memcmp(p->s + p->pos, close, n)) {
            p->pos += n;
            return 0;
        }
        p->pos++;
    }
    return fail(p, start, "unterminated '%s'", open);
}

/* Skips comments, processing instructions and whitespace. */
static int skip_misc(parser *p)
{
    for (;;) {
        skip_ws(p);
        int rc = 0;
        if (starts(p, "<!--"))
            rc = skip_until(p, "<!--", "-->");
        else if (starts(p, "<?"))
            rc = skip_until(p, "<?", "?>");
        else
            return 0;
        if (rc)
            return rc;
    }
}

static int parse_name(parser *p, char **out)
{
    size_t start = p->pos;
    if (p->pos >= p->len || !name_start(p->s[p->pos]))
        return fail(p, start, "expected a name");
    while (p->pos < p->len && name_char(p->s[p->pos]))
        p->pos++;
    size_t n = p->pos - start;
    if (n > QV__XML_MAX_NAME)
        return fail(p, start, "name longer than %u bytes", QV__XML_MAX_NAME);
    char *s = malloc(n + 1);
    if (!s)
        return QV_ENOMEM;
    memcpy(s, p->s + start, n);
    s[n] = '\0';
    *out = s;
    return 0;
}

/* Decodes the reference at p->pos ('&'); stores its character in *c. */
static int parse_ref(parser *p, char *c)
{
    static const struct {
        const char *name;
        char c;
    } ents[] = {
        {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
    size_t start = p->pos;
    for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++)
        if (starts(p, ents[i].name)) {
            p->pos += strlen(ents[i].name);
            *c = ents[i].c;
            return 0;
        }
    if (!starts(p, "&#"))
        return fail(p, start, "unknown entity reference");
    p->pos += 2;
    int base = 10;
    if (p->pos < p->len && p->s[p->pos] == 'x') {
        base = 16;
        p->pos++;
    }
    unsigned long v = 0;
    size_t digits = 0;
    while (p->pos < p->len && p->s[p->pos] != ';') {
        char d = p->s[p->pos];
        int dv = d >= '0' && d <= '9'                 ? d - '0'
                 : base == 16 && d >= 'a' && d <= 'f' ? d - 'a' + 10
                 : base == 16 && d >= 'A' && d <= 'F' ? d - 'A' + 10
                                                      : -1;
        if (dv < 0 || ++digits > 8)
            return fail(p, start, "malformed character reference");
        v = v * (unsigned long)base + (unsigned long)dv;
        p->pos++;
    }
    if (p->pos >= p->len || digits == 0)
        return fail(p, start, "malformed character reference");
    p->pos++;
    if (v > 0x7e || (v < 0x20 && v != '\t' && v != '\n' && v != '\r'))
        return fail(p, start, "character reference &#%lu; is not printable ASCII", v);
    *c = (char)v;
    return 0;
}

static int parse_attr_value(parser *p, char **out)
{
    size_t start = p->pos;
    if (p->pos >= p->len || (p->s[p->pos] != '"' && p->s[p->pos] != '\''))
        return fail(p, start, "expected a quoted attribute value");
    char q = p->s[p->pos++];
    size_t vstart = p->pos;
    while (p->pos < p->len && p->s[p->pos] != q)
        p->pos++;
    if (p->pos >= p->len)
        return fail(p, start, "unterminated attribute value");
    size_t vend = p->pos;
    p->pos = vstart;
    /* Decoding never makes the value longer. */
    char *v = malloc(vend - vstart + 1);
    if (!v)
        return QV_ENOMEM;
    size_t n = 0;
    while (p->pos < vend) {
        char c = p->s[p->pos];
        int rc = 0;
        if (c == '<')
            rc = fail(p, p->pos, "'<' in an attribute value");
        else if (!text_ok(c))
            rc = fail(p, p->pos, "byte 0x%02x is not printable ASCII", (unsigned char)c);
        else if (c == '&')
            /* A reference ends at its ';' or fails at the closing quote
             * (neither a digit nor part of an entity name), so it never
             * reads past vend. */
            rc = parse_ref(p, &c);
        else
            p->pos++;
        if (rc) {
            free(v);
            return rc;
        }
        v[n++] = (c == '\t' || c == '\n' || c == '\r') ? ' ' : c;
    }
    v[n] = '\0';
    p->pos = vend + 1;
    *out = v;
    return 0;
}

static void free_node(qv__xml_node *n)
{
    free(n->name);
    for (size_t i = 0; i < n->nattrs; i++) {
        free(n->attrs[i].name);
        free(n->attrs[i].value);
    }
    free(n->attrs);
    free(n);
}

void qv__xml_free(qv__xml_node *root)
{
    /* Iterative post-order walk: depth is bounded, but no need to recurse. */
    qv__xml_node *n = root;
    while (n) {
        if (n->child) {
            n = n->child;
            continue;
        }
        qv__xml_node *parent = n->parent, *next = n->next;
        if (parent)
            parent->child = next;
        free_node(n);
        n = next ? next : parent;
    }
}

/* Parses a start tag at p->pos ('<' then a name). Sets *closed when it ends
 * with "/>". */
static int parse_start_tag(parser *p, qv__xml_node **out, bool *closed)
{
    size_t start = p->pos;
    if (++p->nodes > QV__XML_MAX_NODES)
        return fail(p, start, "more than %u elements", QV__XML_MAX_NODES);
    qv__xml_node *n = calloc(1, sizeof *n);
    if (!n)
        return QV_ENOMEM;
    n->offset = start;
    p->pos++;
    int rc = parse_name(p, &n->name);
    while (!rc) {
        bool ws = p->pos < p->len && is_ws(p->s[p->pos]);
        skip_ws(p);
        if (p->pos >= p->len) {
            rc = fail(p, start, "unterminated start tag <%s", n->name);
            break;
        }
        if (starts(p, "/>") || starts(p, ">")) {
            *closed = p->s[p->pos] == '/';
            p->pos += *closed ? 2 : 1;
            *out = n;
            return 0;
        }
        if (!ws) {
            rc = fail(p, p->pos, "expected whitespace, '>' or '/>' in <%s>", n->name);
            break;
        }
        if (n->nattrs == QV__XML_MAX_ATTRS) {
            rc = fail(p, p->pos, "more than %u attributes in <%s>", QV__XML_MAX_ATTRS,
                      n->name);
            break;
        }
        if ((n->nattrs & (n->nattrs - 1)) == 0) {
            /* Grow at powers of two: 1, 2, 4, ... QV__XML_MAX_ATTRS. */
            size_t cap = n->nattrs ? n->nattrs * 2 : 1;
            qv__xml_attr *na = realloc(n->attrs, cap * sizeof *na);
            if (!na) {
                rc = QV_ENOMEM;
                break;
            }
            n->attrs = na;
        }
        size_t astart = p->pos;
        qv__xml_attr *a = &n->attrs[n->nattrs];
        a->value = NULL;
        if ((rc = parse_name(p, &a->name)))
            break;
        n->nattrs++;
        for (size_t i = 0; i + 1 < n->nattrs; i++)
            if (!strcmp(n->attrs[i].name, a->name)) {
                rc =
                    fail(p, astart, "duplicate attribute '%s' in <%s>", a->name, n->name);
                break;
            }
        if (rc)
            break;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '=') {
            rc = fail(p, p->pos, "expected '=' after attribute '%s'", a->name);
            break;
        }
        p->pos++;
        skip_ws(p);
        rc = parse_attr_value(p, &a->value);
    }
    free_node(n);
    return rc;
}

/* Character data between tags: checked, then dropped. */
static int parse_text(parser *p)
{
    while (p->pos < p->len && p->s[p->pos] != '<') {
        char c = p->s[p->pos];
        if (c == '&') {
            int rc = parse_ref(p, &c);
            if (rc)
                return rc;
            continue;
        }
        if (!text_ok(c))
            return fail(p, p->pos, "byte 0x%02x is not printable ASCII",
                        (unsigned char)c);
        if (c == '>' && p->pos >= 2 && !memcmp(p->s + p->pos - 2, "]]", 2))
            return fail(p, p->pos - 2, "']]>' in text");
        p->pos++;
    }
    return 0;
}

static int parse_end_tag(parser *p, qv__xml_node *cur)
{
    size_t start = p->pos;
    p->pos += 2;
    size_t nstart = p->pos;
    while (p->pos < p->len && name_char(p->s[p->pos]))
        p->pos++;
    size_t n = p->pos - nstart;
    if (n != strlen(cur->name) || memcmp(p->s + nstart, cur->name, n))
        return fail(p, start, "end tag does not match <%s>", cur->name);
    skip_ws(p);
    if (p->pos >= p->len || p->s[p->pos] != '>')
        return fail(p, start, "unterminated end tag </%s", cur->name);
    p->pos++;
    return 0;
}

static int parse_doc(parser *p, qv__xml_node **root)
{
    if (starts(p, "\xef\xbb\xbf"))
        p->pos += 3;
    int rc = skip_misc(p);
    if (rc)
        return rc;
    if (p->pos >= p->len || p->s[p->pos] == '\0')
        return fail(p, p->pos, "no root element");
    if (starts(p, "<!"))
        return fail(p, p->pos, "DOCTYPE and CDATA are not supported");
    if (p->s[p->pos] != '<')
        return fail(p, p->pos, "text before the root element");

    bool closed = false;
    if ((rc = parse_start_tag(p, root, &closed)))
        return rc;
    qv__xml_node *cur = closed ? NULL : *root;
    unsigned depth = 1;
    while (cur) {
        if (p->pos >= p->len)
            return fail(p, p->len, "unexpected end of input inside <%s>", cur->name);
        if (p->s[p->pos] != '<')
            rc = parse_text(p);
        else if (starts(p, "</")) {
            if (!(rc = parse_end_tag(p, cur))) {
                cur = cur->parent;
                depth--;
            }
        } else if (starts(p, "<!--"))
            rc = skip_until(p, "<!--", "-->");
        else if (starts(p, "<?"))
            rc = skip_until(p, "<?", "?>");
        else if (starts(p, "<!"))
            rc = fail(p, p->pos, "DOCTYPE and CDATA are not supported");
        else {
            qv__xml_node *n = NULL;
            if ((rc = parse_start_tag(p, &n, &closed)))
                return rc;
            assert(n);
            n->parent = cur;
            if (cur->last)
                cur->last->next = n;
            else
                cur->child = n;
            cur->last = n;
            if (!closed) {
                if (++depth > QV__XML_MAX_DEPTH)
                    return fail(p, n->offset, "elements nested deeper than %u",
                                QV__XML_MAX_DEPTH);
                cur = n;
            }
        }
        if (rc)
            return rc;
    }
    if ((rc = skip_misc(p)))
        return rc;
    while (p->pos < p->len && (p->s[p->pos] == '\0' || is_ws(p->s[p->pos])))
        p->pos++;
    if (p->pos < p->len)
        return fail(p, p->pos, "content after the root element");
    return 0;
}

int qv__xml_parse(const char *text, size_t len, qv__xml_node **root, size_t *err_offset,
                  char *msg, size_t msglen)
{
    parser p = {
        .s = text, .len = len, .err_offset = err_offset, .msg = msg, .msglen = msglen};
    *root = NULL;
    if (len > QV__XML_MAX_INPUT)
        return fail(&p, 0, "XML larger than %u bytes", QV__XML_MAX_INPUT);
    int rc = parse_doc(&p, root);
    if (rc) {
        if (rc == QV_ENOMEM)
            report(&p, p.pos, "out of memory");
        qv__xml_free(*root);
        *root = NULL;
    }
    return rc;
}

const char *qv__xml_attr_get(const qv__xml_node *n, const char *name)
{
    for (size_t i = 0; i < n->nattrs; i++)
        if (!strcmp(n->attrs[i].name, name))
            return n->attrs[i].value;
    return NULL;
}

qv__xml_node *qv__xml_child(const qv__xml_node *n, const char *name)
{
    for (qv__xml_node *c = n->child; c; c = c->next)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}
