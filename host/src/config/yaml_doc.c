/*
 * yaml_doc.c - libyaml events to a positioned tree, with the limits and the
 * typed getters described in yaml_doc.h.
 */
#include "config/yaml_doc.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "qv_escape.h"
#include "qv_file.h"
#include "qv_text.h"

/* Config maps have a few dozen keys; the bound keeps the duplicate-key check
 * (quadratic) and the anchor lookup (linear) cheap on hostile input. */
#define MAX_MAP_KEYS 1024
#define MAX_ANCHORS  256

typedef struct anchor {
    char *name;
    qv__ynode *node;
} anchor;

/* A place in the input (mark_pos). */
typedef struct ypos {
    size_t i;  /* byte */
    size_t ci; /* characters before it */
    unsigned line, col;
} ypos;

typedef struct builder {
    qv__ydoc *doc;
    qv_diag *diag;
    qv__ynode *stack[QV__YAML_MAX_DEPTH];
    char *stack_anchor[QV__YAML_MAX_DEPTH];
    qv__ynode *pending[QV__YAML_MAX_DEPTH]; /* maps: key awaiting a value */
    size_t depth;
    const unsigned char *data; /* the input, for positions (mark_pos) */
    size_t size;
    size_t start;   /* where the text starts: after a BOM */
    unsigned unit;  /* 1: UTF-8, 2: UTF-16 */
    bool be;        /* UTF-16 big-endian */
    bool odd;       /* libyaml's lines are not an editor's (mark_pos) */
    ypos cur;       /* the last mark's position */
    anchor anchors[MAX_ANCHORS];
    size_t nanchors;
    int ndocs;
} builder;

/* Fills diag. The file name and the message (which quotes values from the
 * file) are escaped, so that no error can carry control characters to a
 * terminal (common/qv_escape.h). */
static void diag_fill(qv_diag *diag, const char *file, unsigned line, unsigned col,
                      const char *fmt, va_list ap)
{
    char raw[sizeof diag->message];
    qv__escape(file ? file : "", diag->file, sizeof diag->file);
    diag->line = line;
    diag->column = col;
    vsnprintf(raw, sizeof raw, fmt, ap);
    qv__escape(raw, diag->message, sizeof diag->message);
}

int qv__diag_set(qv_diag *diag, const char *file, unsigned line, unsigned col, int err,
                 const char *fmt, ...)
{
    if (!diag)
        return err;
    va_list ap;
    va_start(ap, fmt);
    diag_fill(diag, file, line, col, fmt, ap);
    va_end(ap);
    return err;
}

int qv__yerr(const qv__ydoc *doc, const qv__ynode *n, qv_diag *diag, const char *fmt, ...)
{
    if (!diag)
        return QV_EFORMAT;
    va_list ap;
    va_start(ap, fmt);
    diag_fill(diag, doc ? doc->path : "", n ? n->line : 0, n ? n->col : 0, fmt, ap);
    va_end(ap);
    return QV_EFORMAT;
}

static void mark_pos(builder *b, const yaml_mark_t *m, unsigned *line, unsigned *col,
                     size_t *off);

static int errat(builder *b, const yaml_mark_t *m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int errat(builder *b, const yaml_mark_t *m, const char *fmt, ...)
{
    if (!b->diag)
        return QV_EFORMAT;
    unsigned line, col;
    mark_pos(b, m, &line, &col, NULL);
    va_list ap;
    va_start(ap, fmt);
    diag_fill(b->diag, b->doc->path, line, col, fmt, ap);
    va_end(ap);
    return QV_EFORMAT;
}

static qv__ynode *node_new(builder *b, qv__ykind kind, const yaml_mark_t *m)
{
    qv__ydoc *doc = b->doc;
    if (doc->nall == doc->capall) {
        size_t cap = doc->capall ? doc->capall * 2 : 64;
        qv__ynode **all = realloc(doc->all, cap * sizeof *all);
        if (!all)
            return NULL;
        doc->all = all;
        doc->capall = cap;
    }
    qv__ynode *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    mark_pos(b, m, &n->line, &n->col, NULL);
    n->weight = 1;
    doc->all[doc->nall++] = n;
    return n;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static int grow(qv__ynode *p, size_t need)
{
    if (need <= p->cap)
        return 0;
    size_t cap = p->cap ? p->cap * 2 : 8;
    while (cap < need)
        cap *= 2;
    qv__ynode **items = realloc(p->items, cap * sizeof *items);
    if (!items)
        return QV_ENOMEM;
    p->items = items;
    p->cap = cap;
    return 0;
}

static int register_anchor(builder *b, char *name, qv__ynode *n)
{
    if (!name)
        return 0;
    if (b->nanchors == MAX_ANCHORS) {
        free(name);
        return qv__yerr(b->doc, n, b->diag, "too many anchors (at most %d in a file)",
                        MAX_ANCHORS);
    }
    b->anchors[b->nanchors].name = name;
    b->anchors[b->nanchors].node = n;
    b->nanchors++;
    return 0;
}

static int too_big(builder *b, const qv__ynode *n)
{
    return qv__yerr(b->doc, n, b->diag,
                    "document has more than %u nodes (keys, values and items, "
                    "aliases expanded)",
                    QV__YAML_MAX_NODES);
}

/* Adds a finished node (a scalar, an alias's target or a closed container)
 * to the container on top of the stack, or makes it the root. Errors are
 * placed at `at`: n itself, or the alias that brought n (the anchor is
 * not where the limit was crossed). */
static int attach(builder *b, qv__ynode *n, const qv__ynode *at)
{
    if (b->depth == 0) {
        b->doc->root = n;
        return n->weight > QV__YAML_MAX_NODES ? too_big(b, at) : 0;
    }
    qv__ynode *p = b->stack[b->depth - 1];
    if (p->kind == QV__Y_SEQ) {
        if (grow(p, p->n + 1))
            return QV_ENOMEM;
        p->items[p->n++] = n;
        p->weight = sat_add(p->weight, n->weight);
    } else if (!b->pending[b->depth - 1]) {
        if (n->kind != QV__Y_SCALAR)
            return qv__yerr(b->doc, at, b->diag,
                            "expected a plain string as a mapping key, got %s",
                            qv__ydesc(n));
        if (n->plain && !strcmp(n->str, "<<"))
            return qv__yerr(b->doc, at, b->diag,
                            "merge keys ('<<') are not supported; write the "
                            "keys out");
        /* Keys are looked up as C strings: "kind\0x" would be read as
         * kind, past the duplicate check (adversarial testing). */
        if (strlen(n->str) != n->len)
            return qv__yerr(b->doc, at, b->diag, "a mapping key with a NUL byte ('%s\\0...')",
                            n->str);
        if (p->n == MAX_MAP_KEYS)
            return qv__yerr(b->doc, at, b->diag,
                            "too many keys in one mapping (at most %d)", MAX_MAP_KEYS);
        for (size_t i = 0; i < p->n; i++) {
            const qv__ynode *k = p->items[2 * i];
            if (k->len == n->len && !memcmp(k->str, n->str, n->len))
                return qv__yerr(b->doc, at, b->diag,
                                "duplicate key '%s' (first defined at line "
                                "%u, column %u)",
                                n->str, k->line, k->col);
        }
        b->pending[b->depth - 1] = n;
    } else {
        if (grow(p, 2 * p->n + 2))
            return QV_ENOMEM;
        p->items[2 * p->n] = b->pending[b->depth - 1];
        p->items[2 * p->n + 1] = n;
        p->n++;
        b->pending[b->depth - 1] = NULL;
        p->weight = sat_add(p->weight, sat_add(1, n->weight));
    }
    return p->weight > QV__YAML_MAX_NODES ? too_big(b, at) : 0;
}

static void builder_cleanup(builder *b)
{
    for (size_t i = 0; i < b->depth; i++)
        free(b->stack_anchor[i]);
    for (size_t i = 0; i < b->nanchors; i++)
        free(b->anchors[i].name);
}

void qv__ydoc_free(qv__ydoc *doc)
{
    if (!doc)
        return;
    for (size_t i = 0; i < doc->nall; i++) {
        free(doc->all[i]->str);
        free(doc->all[i]->items);
        free(doc->all[i]);
    }
    free(doc->all);
    free(doc->path);
    free(doc->dir);
    free(doc);
}

static const yaml_char_t *explicit_tag(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return ev->data.scalar.plain_implicit || ev->data.scalar.quoted_implicit
                   ? NULL
                   : ev->data.scalar.tag;
    case YAML_SEQUENCE_START_EVENT:
        return ev->data.sequence_start.implicit ? NULL : ev->data.sequence_start.tag;
    case YAML_MAPPING_START_EVENT:
        return ev->data.mapping_start.implicit ? NULL : ev->data.mapping_start.tag;
    default:
        return NULL;
    }
}

/* Where the text starts (after a BOM) and how it is encoded. */
static void text_start(builder *b)
{
    const unsigned char *d = b->data;
    b->unit = 1;
    b->start = 0;
    if (b->size >= 3 && d[0] == 0xef && d[1] == 0xbb && d[2] == 0xbf) {
        b->start = 3;
    } else if (b->size >= 2 &&
               ((d[0] == 0xfe && d[1] == 0xff) || (d[0] == 0xff && d[1] == 0xfe))) {
        b->start = 2;
        b->unit = 2;
        b->be = d[0] == 0xfe;
    }
    /* UTF-8 without U+0085, U+2028 nor U+2029 (never misaligned in valid
     * UTF-8): libyaml's lines and columns are the editor's. */
    b->odd = b->unit == 2;
    for (size_t i = b->start; i + 1 < b->size && !b->odd; i++)
        b->odd = (d[i] == 0xc2 && d[i + 1] == 0x85) ||
                 (d[i] == 0xe2 && i + 2 < b->size && d[i + 1] == 0x80 &&
                  (d[i + 2] == 0xa8 || d[i + 2] == 0xa9));
    b->cur = (ypos){b->start, 0, 1, 1};
}

/* The character at byte i: its code point and bytes (a surrogate pair is
 * one character, as libyaml counts). */
static size_t char_at(const builder *b, size_t i, unsigned long *cp)
{
    const unsigned char *d = b->data;
    if (b->unit == 1) {
        /* qv__utf8_seq stops at a NUL, which a buffer given with its
         * length (qv__ydoc_load_mem, qv_plat_parse) need not have: a lead
         * byte at its end was completed from the byte past it (fuzzing). */
        unsigned char t[5] = {0};
        size_t left = b->size - i;
        memcpy(t, d + i, left < 4 ? left : 4);
        size_t n = qv__utf8_seq(t, cp);
        if (!n) {
            *cp = 0xfffd;
            n = 1;
        }
        return n;
    }
    if (i + 1 >= b->size) {
        *cp = 0xfffd;
        return b->size - i;
    }
    unsigned long u = b->be ? (unsigned long)d[i] << 8 | d[i + 1]
                            : (unsigned long)d[i + 1] << 8 | d[i];
    *cp = u;
    return u >= 0xd800 && u <= 0xdbff && i + 3 < b->size ? 4 : 2;
}

/* Moves p forward to character index ci or byte off, whichever comes
 * first (or the end). */
static void walk(const builder *b, ypos *p, size_t ci, size_t off)
{
    while (p->ci < ci && p->i < off && p->i < b->size) {
        unsigned long cp, next = 0;
        size_t n = char_at(b, p->i, &cp);
        if (cp == '\r' && p->i + n < b->size)
            char_at(b, p->i + n, &next);
        if (cp == '\n' || (cp == '\r' && next != '\n')) {
            p->line++;
            p->col = 1;
        } else if (cp != '\r') {
            p->col++;
        }
        p->i += n;
        p->ci++;
    }
}

/* Positions as an editor counts them: lines broken by \n, \r\n or \r,
 * columns in characters, both from 1. libyaml's marks break lines at
 * U+0085, U+2028 and U+2029 too (YAML 1.1): past one of those, every
 * error named a line the editor does not show, and the tab check of
 * parse_error looked at another byte (adversarial testing). A mark's
 * index counts characters (\r\n as two) from the text's start, after a
 * BOM; the walk above finds its byte, line and column. Line and column of
 * mark m, and (off, may be NULL) its byte. */
static void mark_pos(builder *b, const yaml_mark_t *m, unsigned *line, unsigned *col,
                     size_t *off)
{
    if (!b->odd && !off) {
        *line = (unsigned)m->line + 1;
        *col = (unsigned)m->column + 1;
        return;
    }
    /* Marks come in order but for errors: from the last one, or again. */
    if (b->cur.ci > m->index)
        b->cur = (ypos){b->start, 0, 1, 1};
    walk(b, &b->cur, m->index, SIZE_MAX);
    *line = b->cur.line;
    *col = b->cur.col;
    if (off)
        *off = b->cur.i;
}

/* Line and column of byte offset off. libyaml gives a byte offset and no
 * mark for errors of its reader (bad UTF-8, control characters); every
 * other error has a line and column, so these get one too. */
static void reader_position(builder *b, size_t off, unsigned *line, unsigned *col)
{
    ypos p = {b->start, 0, 1, 1};
    walk(b, &p, SIZE_MAX, off);
    *line = p.line;
    *col = p.col;
}

/* A byte-order mark past the start (UTF-8): files joined with cat, or
 * saved twice by an editor. libyaml took it as a key's first character,
 * and the error said the file was of no known kind (adversarial
 * testing). QV_EFORMAT at its place, or 0. */
static int stray_bom(builder *b)
{
    if (b->unit != 1)
        return 0;
    const unsigned char *d = b->data;
    for (size_t i = b->start; i + 2 < b->size; i++) {
        if (d[i] == 0xef && d[i + 1] == 0xbb && d[i + 2] == 0xbf) {
            unsigned line, col;
            reader_position(b, i, &line, &col);
            return qv__diag_set(
                b->diag, b->doc->path, line, col, QV_EFORMAT,
                "a byte-order mark (U+FEFF) inside the text; expected one "
                "at the start of the file at most (remove it)");
        }
    }
    return 0;
}

static int parse_error(builder *b, const yaml_parser_t *ps)
{
    const char *what = ps->problem ? ps->problem : "syntax error";
    if (ps->error == YAML_MEMORY_ERROR)
        return qv__diag_set(b->diag, b->doc->path, 0, 0, QV_ENOMEM, "out of memory");
    if (ps->error == YAML_READER_ERROR) {
        unsigned line, col;
        size_t off = ps->problem_offset;
        char val[48] = "";
        if (ps->problem_value >= 0)
            snprintf(val, sizeof val, " (0x%02X)", (unsigned)ps->problem_value);
        /* A sequence broken off (caf\xE9 then a newline: libyaml names the
         * newline): point at its first byte, the one at fault for the
         * reader of the file (a user's test). */
        if (strstr(what, "trailing UTF-8 octet") || strstr(what, "incomplete UTF-8")) {
            size_t k = off < b->size ? off : b->size;
            while (k > 0 && off - k < 4 && (b->data[k - 1] & 0xC0) == 0x80)
                k--;
            if (k > 0 && off - k < 4 && b->data[k - 1] >= 0xC0) {
                off = k - 1;
                snprintf(val, sizeof val, " (a sequence starting with 0x%02X)",
                         (unsigned)b->data[off]);
                what = "invalid UTF-8";
            }
        }
        reader_position(b, off, &line, &col);
        return qv__diag_set(b->diag, b->doc->path, line, col, QV_EFORMAT,
                            "invalid YAML: %s%s; expected UTF-8 text without "
                            "control characters",
                            what, val);
    }
    unsigned line, col;
    size_t at;
    /* libyaml's words for a tab in the indentation say nothing of tabs:
     * the byte at its mark says (found by walking the characters: an
     * index taken as bytes named a tab that was not at fault after
     * non-ASCII text, code review; lines counted at \n only missed it in
     * a file of \r endings, adversarial testing). */
    mark_pos(b, &ps->problem_mark, &line, &col, &at);
    if (at < b->size && b->data[at] == '\t')
        return qv__diag_set(b->diag, b->doc->path, line, col, QV_EFORMAT,
                            "invalid YAML: a tab character; YAML indents with spaces "
                            "only");
    if (ps->context) {
        unsigned cl, cc;
        mark_pos(b, &ps->context_mark, &cl, &cc, NULL);
        return qv__diag_set(b->diag, b->doc->path, line, col, QV_EFORMAT,
                            "invalid YAML: %s %s at line %u, column %u", what,
                            ps->context, cl, cc);
    }
    return qv__diag_set(b->diag, b->doc->path, line, col, QV_EFORMAT, "invalid YAML: %s",
                        what);
}

static int open_container(builder *b, const yaml_event_t *ev, int map)
{
    if (b->depth == QV__YAML_MAX_DEPTH)
        return errat(b, &ev->start_mark, "nesting deeper than %d levels",
                     QV__YAML_MAX_DEPTH);
    qv__ynode *n = node_new(b, map ? QV__Y_MAP : QV__Y_SEQ, &ev->start_mark);
    if (!n)
        return QV_ENOMEM;
    const yaml_char_t *an =
        map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    char *a = an ? strdup((const char *)an) : NULL;
    if (an && !a)
        return QV_ENOMEM;
    b->stack[b->depth] = n;
    b->stack_anchor[b->depth] = a;
    b->pending[b->depth] = NULL;
    b->depth++;
    return 0;
}

static int handle_event(builder *b, const yaml_event_t *ev)
{
    const yaml_char_t *tag = explicit_tag(ev);
    if (tag)
        return errat(b, &ev->start_mark,
                     "YAML tags ('%s') are not supported; write the plain "
                     "value",
                     (const char *)tag);
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->ndocs > 1)
            return errat(b, &ev->start_mark,
                         "expected one YAML document, found a second");
        return 0;
    case YAML_SCALAR_EVENT: {
        qv__ynode *n = node_new(b, QV__Y_SCALAR, &ev->start_mark);
        if (!n)
            return QV_ENOMEM;
        n->len = ev->data.scalar.length;
        n->str = malloc(n->len + 1);
        if (!n->str)
            return QV_ENOMEM;
        memcpy(n->str, ev->data.scalar.value, n->len);
        n->str[n->len] = 0;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        const yaml_char_t *an = ev->data.scalar.anchor;
        char *a = an ? strdup((const char *)an) : NULL;
        if (an && !a)
            return QV_ENOMEM;
        int rc = register_anchor(b, a, n);
        return rc ? rc : attach(b, n, n);
    }
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        qv__ynode at = {0};
        mark_pos(b, &ev->start_mark, &at.line, &at.col, NULL);
        for (size_t i = b->nanchors; i-- > 0;)
            if (!strcmp(b->anchors[i].name, name))
                return attach(b, b->anchors[i].node, &at);
        return errat(b, &ev->start_mark,
                     "unknown alias '*%s' (an alias must follow its anchor "
                     "and cannot refer to a node that contains it)",
                     name);
    }
    case YAML_SEQUENCE_START_EVENT:
        return open_container(b, ev, 0);
    case YAML_MAPPING_START_EVENT:
        return open_container(b, ev, 1);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        b->depth--;
        qv__ynode *n = b->stack[b->depth];
        char *a = b->stack_anchor[b->depth];
        b->stack_anchor[b->depth] = NULL;
        /* Registered only now, so that an alias inside its own anchor is
         * unknown and the tree cannot have cycles. */
        int rc = register_anchor(b, a, n);
        return rc ? rc : attach(b, n, n);
    }
    default:
        return 0;
    }
}

int qv__ydoc_load_mem(const char *path, const void *data, size_t size, qv__ydoc **out,
                      qv_diag *diag)
{
    *out = NULL;
    if (size > QV__YAML_MAX_BYTES)
        return qv__diag_set(diag, path, 0, 0, QV_EFORMAT,
                            "file is larger than %u bytes; expected a "
                            "configuration file",
                            QV__YAML_MAX_BYTES);
    qv__ydoc *doc = calloc(1, sizeof *doc);
    if (!doc)
        return QV_ENOMEM;
    doc->path = strdup(path);
    const char *slash = strrchr(path, '/');
    doc->dir =
        slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    builder *b = calloc(1, sizeof *b);
    yaml_parser_t ps;
    if (!doc->path || !doc->dir || !b || !yaml_parser_initialize(&ps)) {
        free(b);
        qv__ydoc_free(doc);
        return qv__diag_set(diag, path, 0, 0, QV_ENOMEM, "out of memory");
    }
    b->doc = doc;
    b->diag = diag;
    b->data = data;
    b->size = size;
    text_start(b);
    yaml_parser_set_input_string(&ps, (const unsigned char *)data, size);
    int rc = stray_bom(b);
    for (; !rc;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&ps, &ev)) {
            rc = parse_error(b, &ps);
            break;
        }
        int done = ev.type == YAML_STREAM_END_EVENT;
        rc = handle_event(b, &ev);
        yaml_event_delete(&ev);
        if (rc == QV_ENOMEM)
            qv__diag_set(diag, path, 0, 0, rc, "out of memory");
        if (rc || done)
            break;
    }
    yaml_parser_delete(&ps);
    builder_cleanup(b);
    free(b);
    if (rc) {
        qv__ydoc_free(doc);
        return rc;
    }
    *out = doc;
    return 0;
}

int qv__ydoc_load(const char *path, qv__ydoc **out, qv_diag *diag)
{
    *out = NULL;
    char *buf, why[QV__FILE_WHY];
    size_t n;
    /* One byte over the cap is enough to report "too large". */
    int rc = qv__file_load(path, QV__YAML_MAX_BYTES, &buf, &n, why);
    if (rc == -EFBIG)
        return qv__diag_set(diag, path, 0, 0, QV_EFORMAT,
                            "file is larger than %u bytes; expected a "
                            "configuration file",
                            QV__YAML_MAX_BYTES);
    if (rc == -EISDIR)
        return qv__diag_set(diag, path, 0, 0, QV_EINVAL,
                            "is a directory; expected a YAML file");
    if (rc)
        return qv__diag_set(diag, path, 0, 0, rc, "%s", why);
    rc = qv__ydoc_load_mem(path, buf, n, out, diag);
    free(buf);
    return rc;
}

/* ---- getters ----------------------------------------------------------- */

int qv__yis_null(const qv__ynode *n)
{
    return n && n->kind == QV__Y_SCALAR && n->plain &&
           (n->len == 0 || !strcmp(n->str, "~") || !strcmp(n->str, "null") ||
            !strcmp(n->str, "Null") || !strcmp(n->str, "NULL"));
}

const char *qv__ydesc(const qv__ynode *n)
{
    if (!n)
        return "nothing";
    switch (n->kind) {
    case QV__Y_MAP:
        return n->n ? "a mapping" : "an empty mapping";
    case QV__Y_SEQ: /* "expected a non-empty list, got a sequence": which one? */
        return n->n ? "a sequence" : "an empty list";
    default:
        return qv__yis_null(n) ? "null" : n->plain ? "a plain scalar" : "a quoted string";
    }
}

const qv__ynode *qv__ymap_key(const qv__ynode *n, const char *key)
{
    if (!n || n->kind != QV__Y_MAP)
        return NULL;
    for (size_t i = 0; i < n->n; i++)
        if (!strcmp(n->items[2 * i]->str, key))
            return n->items[2 * i];
    return NULL;
}

const qv__ynode *qv__ymap_get(const qv__ynode *n, const char *key)
{
    if (!n || n->kind != QV__Y_MAP)
        return NULL;
    for (size_t i = 0; i < n->n; i++)
        if (!strcmp(n->items[2 * i]->str, key))
            return n->items[2 * i + 1];
    return NULL;
}

/* Edit distance counting a swap of two neighbours as one edit (typing
 * "fgpa" for "fpga"), case-insensitive; SIZE_MAX for long words, which
 * never get a suggestion. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    static const size_t W = 64;
    size_t d[64 * 64];
    for (size_t i = 0; i <= la; i++)
        d[i * W] = i;
    for (size_t j = 0; j <= lb; j++)
        d[j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int ca = tolower((unsigned char)a[i - 1]);
            int cb = tolower((unsigned char)b[j - 1]);
            size_t best = d[(i - 1) * W + j - 1] + (ca != cb);
            if (d[(i - 1) * W + j] + 1 < best)
                best = d[(i - 1) * W + j] + 1;
            if (d[i * W + j - 1] + 1 < best)
                best = d[i * W + j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb &&
                d[(i - 2) * W + j - 2] + 1 < best)
                best = d[(i - 2) * W + j - 2] + 1;
            d[i * W + j] = best;
        }
    return d[la * W + lb];
}

const char *qv__did_you_mean(const char *word, const char *const *candidates)
{
    const char *best = NULL;
    size_t bestd = SIZE_MAX;
    size_t len = strlen(word);
    size_t limit = len <= 3 ? 1 : len <= 8 ? 2 : 3;
    size_t bestgap = SIZE_MAX;
    for (size_t i = 0; candidates[i]; i++) {
        size_t d = edit_distance(word, candidates[i]);
        size_t cl = strlen(candidates[i]);
        size_t gap = cl > len ? cl - len : len - cl;
        /* On a tie, the candidate closest in length reads as the typo. */
        if (d < bestd || (d == bestd && gap < bestgap)) {
            bestd = d;
            bestgap = gap;
            best = candidates[i];
        }
    }
    return bestd <= limit ? best : NULL;
}

static void join(char *buf, size_t size, const char *const *names, const char *sep)
{
    size_t off = 0;
    buf[0] = 0;
    for (size_t j = 0; names[j] && off < size; j++) {
        int w = snprintf(buf + off, size - off, "%s%s", j ? sep : "", names[j]);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

int qv__ymap_check(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                   const qv__ykey *keys, qv_diag *diag)
{
    if (!n || n->kind != QV__Y_MAP)
        return qv__yerr(doc, n, diag, "expected %s as a mapping, got %s", what,
                        qv__ydesc(n));
    const char *names[64];
    size_t nk = 0;
    for (; keys[nk].name && nk < 63; nk++)
        names[nk] = keys[nk].name;
    names[nk] = NULL;
    for (size_t i = 0; i < n->n; i++) {
        const qv__ynode *k = n->items[2 * i];
        size_t j = 0;
        while (names[j] && strcmp(names[j], k->str))
            j++;
        if (names[j])
            continue;
        const char *dym = qv__did_you_mean(k->str, names);
        if (dym)
            return qv__yerr(doc, k, diag, "unknown key '%s' in %s; did you mean '%s'?",
                            k->str, what, dym);
        char list[512];
        join(list, sizeof list, names, ", ");
        return qv__yerr(doc, k, diag, "unknown key '%s' in %s; expected one of: %s",
                        k->str, what, list);
    }
    for (size_t j = 0; j < nk; j++)
        if (keys[j].required && !qv__ymap_get(n, keys[j].name))
            return qv__yerr(doc, n, diag,
                            "%s is missing required key '%s' (expected "
                            "'%s')",
                            what, keys[j].name,
                            keys[j].form ? keys[j].form : keys[j].name);
    return 0;
}

/* What a scalar that is not of the type wanted was, when quotes made it a
 * string: "expected true or false, got 'true'" read as nonsense. */
static const char *quoted(const qv__ynode *n)
{
    return n->plain ? "" : " (quoted: a string)";
}

static int want_scalar(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                       const char *form, qv_diag *diag)
{
    if (!n || n->kind != QV__Y_SCALAR || qv__yis_null(n))
        return qv__yerr(doc, n, diag, "%s: expected %s, got %s", what, form,
                        qv__ydesc(n));
    if (strlen(n->str) != n->len)
        return qv__yerr(doc, n, diag, "%s: expected %s, got a string with a NUL byte",
                        what, form);
    return 0;
}

int qv__yget_str(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                 const char **out, qv_diag *diag)
{
    int rc = want_scalar(doc, n, what, "a string", diag);
    if (rc)
        return rc;
    *out = n->str;
    return 0;
}

int qv__yget_int(const qv__ydoc *doc, const qv__ynode *n, const char *what, int64_t lo,
                 int64_t hi, int64_t *out, qv_diag *diag)
{
    int rc = want_scalar(doc, n, what, "an integer", diag);
    if (rc)
        return rc;
    const char *s = n->str;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    const char *digits = s + (s[0] == '-' || s[0] == '+');
    /* Reject octal spellings: "010" would silently be 8. */
    int octal = digits[0] == '0' && digits[1] >= '0' && digits[1] <= '9';
    int integer = n->plain && end != s && !*end && !isspace((unsigned char)s[0]) && !octal;
    if (integer && errno == ERANGE) /* an integer all the same: say which are taken */
        return qv__yerr(doc, n, diag,
                        "%s: %s is out of range; expected an integer from %lld to %lld",
                        what, s, (long long)lo, (long long)hi);
    if (!integer)
        return qv__yerr(doc, n, diag, "%s: expected an integer, got '%s'%s", what, s,
                        quoted(n));
    if (v < lo || v > hi)
        return qv__yerr(doc, n, diag,
                        "%s: %lld is out of range; expected an integer from "
                        "%lld to %lld",
                        what, v, (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

/* 0; -1 for no number; -2 for a number a double cannot hold, too large
 * (1e999) or too small (1e-400), *end past it. */
static int parse_number(const char *s, double *v, char **end)
{
    if (isspace((unsigned char)s[0]) || strpbrk(s, "xXpPnN"))
        return -1; /* hex floats, nan, inf */
    errno = 0;
    *v = qv__strtod_c(s, end);
    if (*end == s)
        return -1;
    /* Too small for a double (1e-400) is no 0: refused as out of range,
     * not taken as 0, which a key may read as "off" (eager_slack: 0 kept
     * every plan: adversarial testing). */
    if (errno == ERANGE && *v == 0)
        return -2;
    return isfinite(*v) ? 0 : errno == ERANGE ? -2 : -1;
}

const char *qv__ynum_text(const char *s, char *buf, size_t size)
{
    size_t n = strlen(s);
    if (n <= 40 || size < 48)
        return s;
    snprintf(buf, size, "%.24s...%s", s, s + n - 12);
    return buf;
}

int qv__yget_double(const qv__ydoc *doc, const qv__ynode *n, const char *what, double lo,
                    double hi, double *out, qv_diag *diag)
{
    int rc = want_scalar(doc, n, what, "a number", diag);
    if (rc)
        return rc;
    double v;
    char *end;
    char t[64];
    int pr = n->plain ? parse_number(n->str, &v, &end) : -1;
    if (pr == -2 && !*end) /* a number all the same: say which are taken */
        return qv__yerr(doc, n, diag,
                        "%s: %s is out of range; expected a number from %g to %g", what,
                        qv__ynum_text(n->str, t, sizeof t), lo, hi);
    if (pr || *end)
        return qv__yerr(doc, n, diag, "%s: expected a number, got '%s'%s", what, n->str,
                        quoted(n));
    /* The value as written: %g made 1000001 "1e+06", refused against a
     * bound of 1e+06. */
    if (v < lo || v > hi)
        return qv__yerr(doc, n, diag,
                        "%s: %s is out of range; expected a number from %g to %g", what,
                        qv__ynum_text(n->str, t, sizeof t), lo, hi);
    *out = v;
    return 0;
}

int qv__yget_bool(const qv__ydoc *doc, const qv__ynode *n, const char *what, int *out,
                  qv_diag *diag)
{
    int rc = want_scalar(doc, n, what, "true or false", diag);
    if (rc)
        return rc;
    const char *s = n->str;
    if (n->plain && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))) {
        *out = 1;
        return 0;
    }
    if (n->plain && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE"))) {
        *out = 0;
        return 0;
    }
    return qv__yerr(doc, n, diag, "%s: expected true or false, got '%s'%s", what, s,
                    quoted(n));
}

int qv__yget_enum(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                  const char *const *names, int *out, qv_diag *diag)
{
    char list[256];
    join(list, sizeof list, names, " | ");
    int rc = want_scalar(doc, n, what, list, diag);
    if (rc)
        return rc;
    for (int j = 0; names[j]; j++)
        if (!strcmp(names[j], n->str)) {
            *out = j;
            return 0;
        }
    const char *dym = qv__did_you_mean(n->str, names);
    if (dym)
        return qv__yerr(doc, n, diag,
                        "%s: unknown value '%s'; did you mean '%s'? "
                        "(expected %s)",
                        what, n->str, dym, list);
    return qv__yerr(doc, n, diag, "%s: unknown value '%s'; expected %s", what, n->str,
                    list);
}

int qv__yget_bytes(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                   uint64_t *out, qv_diag *diag)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = {
        {"B", 1.0},         {"KB", 1e3},           {"MB", 1e6},
        {"GB", 1e9},        {"TB", 1e12},          {"KiB", 1024.0},
        {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
    };
    const char *form = "a size such as 16 GiB, 512 MiB or 4096";
    int rc = want_scalar(doc, n, what, form, diag);
    if (rc)
        return rc;
    /* The number alone first: the unit after it may hold letters that
     * parse_number refuses in a number (P of PiB: "16384 PiB" got the
     * generic message, not "unknown unit"; adversarial testing). */
    double v = -1;
    char num[64], *nend = num;
    size_t k = strspn(n->str, "0123456789.eE+-");
    if (n->plain && k && k < sizeof num) {
        memcpy(num, n->str, k);
        num[k] = 0;
        if (parse_number(num, &v, &nend))
            v = -1;
    }
    if (v < 0)
        return qv__yerr(doc, n, diag, "%s: expected %s, got '%s'%s", what, form, n->str,
                        quoted(n));
    const char *end = n->str + (nend - num); /* "16EB": the E is the unit's */
    while (*end == ' ')
        end++;
    double mult = *end ? 0 : 1;
    for (size_t i = 0; !mult && i < sizeof units / sizeof units[0]; i++)
        if (!strcmp(end, units[i].unit))
            mult = units[i].mult;
    if (!mult)
        return qv__yerr(doc, n, diag,
                        "%s: unknown unit '%s'; expected B, KB, MB, GB, TB, "
                        "KiB, MiB, GiB or TiB",
                        what, end);
    double bytes = v * mult;
    if (bytes >= 18446744073709551615.0)
        return qv__yerr(doc, n, diag, "%s: '%s' is out of range", what, n->str);
    if (bytes != floor(bytes))
        return qv__yerr(doc, n, diag, "%s: '%s' is not a whole number of bytes", what,
                        n->str);
    *out = (uint64_t)bytes;
    return 0;
}

char *qv__path_resolve(const char *base_dir, const char *p)
{
    if (p[0] == '/' || !base_dir || !*base_dir)
        return strdup(p);
    size_t a = strlen(base_dir), b = strlen(p);
    char *r = malloc(a + b + 2);
    if (!r)
        return NULL;
    memcpy(r, base_dir, a);
    r[a] = '/';
    memcpy(r + a + 1, p, b + 1);
    return r;
}

int qv__same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int qv__yget_path(const qv__ydoc *doc, const qv__ynode *n, const char *what, int dir,
                  char **out, qv_diag *diag)
{
    const char *s;
    int rc = qv__yget_str(doc, n, what, &s, diag);
    if (rc)
        return rc;
    if (!*s)
        return qv__yerr(doc, n, diag, "%s: expected a path, got an empty string", what);
    char *r = qv__path_resolve(doc->dir, s);
    if (!r)
        return QV_ENOMEM;
    struct stat st;
    if (stat(r, &st) != 0) {
        /* Why, when it is not absence: a link loop, a directory not searchable. */
        int e = errno;
        qv__yerr(doc, n, diag,
                 "%s: '%s' %s%s (resolved to '%s', relative to the file that names it)",
                 what, s, e == ENOENT || e == ENOTDIR ? "does not exist" : "cannot be read: ",
                 e == ENOENT || e == ENOTDIR ? "" : strerror(e), r);
        free(r);
        return QV_EFORMAT;
    }
    if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
        qv__yerr(doc, n, diag, "%s: '%s' is not a %s", what, s,
                 dir ? "directory" : "regular file");
        free(r);
        return QV_EFORMAT;
    }
    *out = r;
    return 0;
}
