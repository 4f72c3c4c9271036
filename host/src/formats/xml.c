/*
 * xml.c - the XML reader of xml.h on expat. expat tokenizes and checks
 * well-formedness (UTF-8, names, references, nesting, duplicate
 * attributes); this file builds the tree, enforces the limits, refuses the
 * DOCTYPE and words expat's errors so that they say what to fix.
 *
 * Each element is one allocation: the node, then its attribute pointers,
 * then its name and attribute strings. The tree is built and freed without
 * recursion, so hostile nesting cannot exhaust the C stack.
 */
#include "formats/xml.h"

#include <expat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quiver.h"

typedef struct reader {
    XML_Parser xp;
    const char *text;
    size_t len;
    qv__xml_limits lim;
    qv__xml_node *root, *cur; /* cur: the open element, NULL outside root */
    unsigned depth;
    size_t count;
    int rc; /* set by a handler that stopped the parse */
    qv__xml_error *err;
} reader;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
set_msg(qv__xml_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

/* The bytes of s[0..len) to print as %.*s in a message: at most 64, and
 * not a part of a UTF-8 character (expat's names are UTF-8), so that a
 * long name is cut at a character. */
static int cut64(const char *s, size_t len)
{
    if (len <= 64)
        return (int)len;
    size_t n = 64;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--; /* s[n] continues the character cut: leave all of it out */
    return (int)n;
}

/* Records expat's current position (the start of the event being handled,
 * or where an error was found) in r->err. */
static void set_pos(reader *r)
{
    XML_Index idx = XML_GetCurrentByteIndex(r->xp);
    r->err->line = (unsigned)XML_GetCurrentLineNumber(r->xp);
    r->err->column = (unsigned)XML_GetCurrentColumnNumber(r->xp) + 1;
    r->err->offset = idx < 0 ? 0 : (size_t)idx > r->len ? r->len : (size_t)idx;
}

/* Stops the parse from a handler with rc; the message is set by the caller. */
static void stop(reader *r, int rc)
{
    if (r->rc)
        return;
    r->rc = rc;
    set_pos(r);
    XML_StopParser(r->xp, XML_FALSE);
}

/* Moves r->err's position back to the last "<!DOCTYPE" before it: expat
 * reports the DOCTYPE when it has read its name and external id. Lines
 * break at \n, \r\n and \r; columns count characters, as expat's do. */
static void back_to_doctype(reader *r)
{
    static const char tag[] = "<!DOCTYPE";
    const char *t = r->text;
    size_t at = r->err->offset, n = sizeof tag - 1;
    while (at > 0 && (at + n > r->len || memcmp(t + at, tag, n)))
        at--;
    for (size_t i = at; i < r->err->offset; i++)
        if (t[i] == '\n' || (t[i] == '\r' && (i + 1 >= r->len || t[i + 1] != '\n')))
            r->err->line--;
    size_t ls = at;
    while (ls > 0 && t[ls - 1] != '\n' && t[ls - 1] != '\r')
        ls--;
    if (ls == 0 && r->len >= 3 && !memcmp(t, "\xef\xbb\xbf", 3))
        ls = 3; /* expat does not count the BOM */
    unsigned col = 1;
    for (size_t i = ls; i < at; i++)
        col += ((unsigned char)t[i] & 0xc0) != 0x80;
    r->err->column = col;
    r->err->offset = at;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    reader *r = ud;
    /* Entity declarations (the billion laughs, external entities) can only
     * be in a DTD: refusing its start refuses them all. */
    stop(r, QV_EFORMAT);
    back_to_doctype(r);
    set_msg(r->err, "a DOCTYPE declaration is not accepted (no DTD, no entity "
                    "declarations)");
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    reader *r = ud;
    if (r->rc)
        return;
    if (++r->depth > r->lim.max_depth) {
        stop(r, QV_EFORMAT);
        set_msg(r->err, "elements nested deeper than %u", r->lim.max_depth);
        return;
    }
    if (++r->count > r->lim.max_elements) {
        stop(r, QV_EFORMAT);
        set_msg(r->err, "more than %zu elements", r->lim.max_elements);
        return;
    }
    size_t na = 0, bytes = strlen(name) + 1;
    while (atts[2 * na]) {
        bytes += strlen(atts[2 * na]) + strlen(atts[2 * na + 1]) + 2;
        na++;
    }
    if (na > r->lim.max_attrs) {
        stop(r, QV_EFORMAT);
        set_msg(r->err, "more than %u attributes in <%.*s>", r->lim.max_attrs,
                cut64(name, strlen(name)), name);
        return;
    }
    size_t ptrs = (2 * na + 1) * sizeof(char *);
    qv__xml_node *n = malloc(sizeof *n + ptrs + bytes);
    if (!n) {
        stop(r, QV_ENOMEM);
        set_msg(r->err, "out of memory");
        return;
    }
    const char **attr = (const char **)(void *)(n + 1);
    char *s = (char *)attr + ptrs;
    size_t k = strlen(name) + 1;
    memcpy(s, name, k);
    n->name = s;
    s += k;
    for (size_t i = 0; i < 2 * na; i++) {
        k = strlen(atts[i]) + 1;
        memcpy(s, atts[i], k);
        attr[i] = s;
        s += k;
    }
    attr[2 * na] = NULL;
    n->attr = attr;
    n->nattrs = na;
    n->line = (unsigned)XML_GetCurrentLineNumber(r->xp);
    n->column = (unsigned)XML_GetCurrentColumnNumber(r->xp) + 1;
    XML_Index idx = XML_GetCurrentByteIndex(r->xp);
    n->offset = idx < 0 ? 0 : (size_t)idx;
    n->parent = r->cur;
    n->child = n->next = n->last = NULL;
    if (!r->cur)
        r->root = n; /* expat allows one root element */
    else if (r->cur->last)
        r->cur->last->next = n;
    else
        r->cur->child = n;
    if (r->cur)
        r->cur->last = n;
    r->cur = n;
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    (void)name; /* expat has matched it with the start tag */
    reader *r = ud;
    if (r->rc || !r->cur)
        return;
    r->cur = r->cur->parent;
    r->depth--;
}

static int name_byte(unsigned char c)
{
    return c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == ':' || c == '-' || c == '.';
}

/* Words expat's error, at r->err's position, from the input around it. */
static void explain(reader *r, enum XML_Error code)
{
    const unsigned char *t = (const unsigned char *)r->text;
    size_t at = r->err->offset;
    unsigned char c = at < r->len ? t[at] : 0;
    switch (code) {
    case XML_ERROR_INVALID_TOKEN:
    case XML_ERROR_PARTIAL_CHAR:
        if (at < r->len && c >= 0x80) {
            set_msg(r->err, "invalid UTF-8 (byte 0x%02x)", c);
            return;
        }
        if (at < r->len && c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            set_msg(r->err, "control character 0x%02x is not allowed in XML", c);
            return;
        }
        break;
    case XML_ERROR_DUPLICATE_ATTRIBUTE: {
        /* expat points at the repeated name; its element starts at the last
         * '<' before it (attribute values cannot hold a '<'). */
        size_t e = at, b = at;
        while (e < r->len && name_byte(t[e]))
            e++;
        while (b > 0 && t[b] != '<')
            b--;
        size_t nb = ++b;
        while (nb < at && name_byte(t[nb]))
            nb++;
        set_msg(r->err, "duplicate attribute '%.*s' in <%.*s>",
                cut64((const char *)t + at, e - at), (const char *)t + at,
                cut64((const char *)t + b, nb - b), (const char *)t + b);
        return;
    }
    case XML_ERROR_TAG_MISMATCH:
        if (r->cur) {
            set_msg(r->err, "mismatched tag: </%.*s> expected",
                    cut64(r->cur->name, strlen(r->cur->name)), r->cur->name);
            return;
        }
        break;
    case XML_ERROR_NO_ELEMENTS:
        if (r->cur)
            set_msg(r->err, "the document ends inside <%.*s>",
                    cut64(r->cur->name, strlen(r->cur->name)), r->cur->name);
        else
            set_msg(r->err, "no root element");
        return;
    case XML_ERROR_JUNK_AFTER_DOC_ELEMENT:
        set_msg(r->err, "content after the root element");
        return;
    case XML_ERROR_UNDEFINED_ENTITY:
        set_msg(r->err, "undefined entity (only &lt; &gt; &amp; &quot; &apos; and "
                        "character references are known)");
        return;
    case XML_ERROR_NO_MEMORY:
        set_msg(r->err, "out of memory");
        return;
    default:
        break;
    }
    set_msg(r->err, "%s", XML_ErrorString(code));
}

int qv__xml_parse(const char *text, size_t len, const qv__xml_limits *lim,
                  qv__xml_node **root, qv__xml_error *err)
{
    qv__xml_error dummy;
    reader r = {.text = text, .len = len, .err = err ? err : &dummy};
    memset(r.err, 0, sizeof *r.err);
    *root = NULL;
    if (lim)
        r.lim = *lim;
    if (!r.lim.max_bytes)
        r.lim.max_bytes = QV__XML_MAX_BYTES;
    if (!r.lim.max_depth)
        r.lim.max_depth = QV__XML_MAX_DEPTH;
    if (!r.lim.max_elements)
        r.lim.max_elements = QV__XML_MAX_ELEMENTS;
    if (!r.lim.max_attrs)
        r.lim.max_attrs = QV__XML_MAX_ATTRS;
    if (len > r.lim.max_bytes) {
        set_msg(r.err, "XML of %zu bytes, more than %zu", len, r.lim.max_bytes);
        return QV_EFORMAT;
    }
    /* UTF-8 whatever the document declares; no namespace processing (names
     * keep their prefix); no parameter entities, no external entity handler:
     * nothing is ever loaded from outside the input. */
    r.xp = XML_ParserCreate("UTF-8");
    if (!r.xp) {
        set_msg(r.err, "out of memory");
        return QV_ENOMEM;
    }
    XML_SetUserData(r.xp, &r);
    XML_SetElementHandler(r.xp, on_start, on_end);
    XML_SetStartDoctypeDeclHandler(r.xp, on_doctype);
    XML_SetParamEntityParsing(r.xp, XML_PARAM_ENTITY_PARSING_NEVER);
    int rc = 0;
    size_t off = 0;
    do {
        size_t n = len - off > ((size_t)1 << 26) ? (size_t)1 << 26 : len - off;
        int final = off + n == len;
        if (XML_Parse(r.xp, text + off, (int)n, final) != XML_STATUS_OK) {
            rc = r.rc;
            if (!rc) {
                enum XML_Error code = XML_GetErrorCode(r.xp);
                set_pos(&r);
                explain(&r, code);
                rc = code == XML_ERROR_NO_MEMORY ? QV_ENOMEM : QV_EFORMAT;
            }
            break;
        }
        off += n;
    } while (off < len);
    XML_ParserFree(r.xp);
    if (rc) {
        qv__xml_free(r.root);
        return rc;
    }
    *root = r.root;
    return 0;
}

void qv__xml_free(qv__xml_node *root)
{
    /* Post-order without recursion: a node goes once its children have. */
    qv__xml_node *n = root;
    while (n) {
        if (n->child) {
            n = n->child;
            continue;
        }
        qv__xml_node *parent = n->parent, *next = n->next;
        if (parent)
            parent->child = next;
        free(n);
        n = next ? next : parent;
    }
}

const char *qv__xml_attr(const qv__xml_node *n, const char *name)
{
    for (size_t i = 0; i < n->nattrs; i++)
        if (!strcmp(n->attr[2 * i], name))
            return n->attr[2 * i + 1];
    return NULL;
}

const qv__xml_node *qv__xml_child(const qv__xml_node *n, const char *name)
{
    for (const qv__xml_node *c = n->child; c; c = c->next)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}
