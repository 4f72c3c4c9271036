/*
 * json.c - a strict recursive-descent JSON reader. Strict means RFC 8259 and
 * nothing more: no comments, no trailing commas, no NaN, no leading zeros,
 * no raw control characters in strings, no duplicate-key leniency needed by
 * our formats (duplicates are an error, so a file cannot say two things).
 * Depth is bounded (QV__JSON_MAX_DEPTH) so the recursion cannot overflow.
 *
 * Memory: a document's values, strings and arrays come from chunks of its
 * own, released together; each distinct key is stored once; arrays are
 * gathered on a stack and stored at their exact size. (A malloc per value
 * and per key, and arrays grown by doubling, took 6.6 times a graph
 * file's size, 413 MB for 200 000 nodes; the graph reader holds the whole
 * document.) Members a reader does not keep allocate nothing that lasts.
 */
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qv_escape.h"
#include "qv_file.h"
#include "qv_hash.h"
#include "qv_text.h"

/* A chunk of a document's memory. */
typedef struct jchunk {
    struct jchunk *prev;
    size_t cap, used;
    qv__jval data[]; /* values first; strings and arrays share the alignment */
} jchunk;

#define CHUNK     ((size_t)256 << 10)
#define BIG_ALLOC (CHUNK / 8) /* a chunk of its own, under the current one */

/* A key, stored once per document. */
typedef struct jkey {
    uint64_t hash;
    char *s; /* in the document's chunks */
} jkey;

typedef struct jp {
    const char *s, *end, *fname;
    int line;
    const char *line_start;
    const char *col_at; /* col_of's last answer: col at col_at, on this line */
    int col;
    qv_diag *diag;
    int err;
    /* Members the caller reads (qv__part_json_parse_keep): the others are
     * read through, checked as strictly, and not kept (skipping counts
     * the levels inside one). path: the keys of the kept members around
     * the object being read. */
    qv__jkeep keep;
    void *keep_arg;
    int skipping;
    const char *path[QV__JSON_MAX_DEPTH + 1];
    int npath;
    jchunk *mem;   /* the document's chunks, the current one first */
    char *scratch; /* the string being decoded */
    size_t scratch_cap;
    qv__jval **items; /* the arrays being read, their items in a row */
    size_t nitems, items_cap;
    qv__jmem *mems; /* the objects being read, their members in a row */
    size_t nmems, mems_cap;
    jkey *keys; /* open addressing, a power of two slots */
    size_t nkeys, keys_cap;
    qv__jval skipped; /* what a value not kept reads into */
} jp;

/* A document: its root, and the chunks of every value under it. */
typedef struct jdoc {
    qv__jval root;
    jchunk *mem;
} jdoc;

void qv__part_diag(qv_diag *diag, const char *file, int line, int col, const char *fmt,
                   ...)
{
    if (!diag)
        return;
    /* The graph's name stands for its file when it has none: escaped too. */
    qv__escape(file ? file : "<input>", diag->file, sizeof diag->file);
    diag->line = line > 0 ? (unsigned)line : 0;
    diag->column = col > 0 ? (unsigned)col : 0;
    /* Messages quote names from the input: printed escaped, so that a
     * graph file cannot send control sequences to the user's terminal. */
    char raw[sizeof diag->message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    qv__escape(raw, diag->message, sizeof diag->message);
}

/* The column of p->s, in characters from 1, as the YAML reader and an
 * editor count it (bytes put an error after UTF-8 text too far right).
 * Counted on from the last answer, not from the line's start: every value
 * asks, and a document on one line would take quadratic time. */
static int col_of(jp *p)
{
    if (p->col_at < p->line_start || p->col_at > p->s) {
        p->col_at = p->line_start;
        p->col = 1;
    }
    for (; p->col_at < p->s; p->col_at++)
        p->col += ((unsigned char)*p->col_at & 0xc0) != 0x80; /* not a continuation */
    return p->col;
}

/* Past the line break at p->s (\n, \r\n or a lone \r, as the YAML reader
 * breaks lines: a file of \r endings was one long line). */
static void line_break(jp *p)
{
    if (*p->s++ == '\r' && p->s < p->end && *p->s == '\n')
        p->s++;
    p->line++;
    p->line_start = p->s;
}

__attribute__((format(printf, 2, 3))) static void fail(jp *p, const char *fmt, ...)
{
    if (p->err)
        return;
    p->err = -EINVAL;
    if (!p->diag)
        return;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    qv__part_diag(p->diag, p->fname, p->line, col_of(p), "%s", msg);
}

static void skip_ws(jp *p)
{
    while (p->s < p->end) {
        char c = *p->s;
        if (c == '\n' || c == '\r') {
            line_break(p);
        } else if (c == ' ' || c == '\t') {
            p->s++;
        } else {
            break;
        }
    }
}

static void out_of_memory(jp *p)
{
    if (!p->err) {
        p->err = -ENOMEM;
        qv__part_diag(p->diag, p->fname, p->line, col_of(p), "out of memory");
    }
}

/* n bytes of the document's memory, aligned for a value (8 bytes: a
 * value rounded to max_align_t's 16 took a third more). */
static void *doc_alloc(jp *p, size_t n)
{
    n = (n + _Alignof(qv__jval) - 1) & ~(_Alignof(qv__jval) - 1);
    jchunk *c = p->mem;
    if (n >= BIG_ALLOC || !c || c->cap - c->used < n) {
        size_t cap = n >= BIG_ALLOC ? n : CHUNK;
        jchunk *b = malloc(sizeof *b + cap);
        if (!b) {
            out_of_memory(p);
            return NULL;
        }
        b->cap = cap;
        b->used = 0;
        if (n >= BIG_ALLOC && c) { /* the current chunk's room stays in use */
            b->prev = c->prev;
            c->prev = b;
        } else {
            b->prev = c;
            p->mem = b;
        }
        c = b;
    }
    void *r = (char *)c->data + c->used;
    c->used += n;
    return r;
}

static void doc_release(jchunk *c)
{
    while (c) {
        jchunk *prev = c->prev;
        free(c);
        c = prev;
    }
}

/* Grows *arr (elem bytes each) to hold need; 0 or -1. */
static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *na = realloc(*arr, nc * elem);
    if (!na)
        return -1;
    *arr = na;
    *cap = nc;
    return 0;
}

static qv__jval *new_val(jp *p, qv__jtype t)
{
    qv__jval *v = p->skipping ? &p->skipped : doc_alloc(p, sizeof *v);
    if (!v)
        return NULL;
    memset(v, 0, sizeof *v);
    v->type = t;
    v->line = p->line;
    v->col = col_of(p);
    return v;
}

static int read_hex4(jp *p, unsigned *out)
{
    if (p->end - p->s < 4) {
        fail(p, "truncated \\u escape");
        return -1;
    }
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = qv__hex_digit(p->s[i]);
        if (h < 0) {
            fail(p, "bad hex digit in \\u escape");
            return -1;
        }
        v = v * 16 + (unsigned)h;
    }
    p->s += 4;
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* p->s at the opening quote: decodes the string into p->scratch, valid
 * until the next one. The decoded string is never longer than the encoded
 * one, so room for the encoded length suffices. */
static char *parse_string(jp *p, size_t *len_out)
{
    p->s++;
    const char *q = p->s;
    while (q < p->end && *q != '"') {
        if (*q == '\\')
            q++;
        q++;
    }
    if (q >= p->end) {
        fail(p, "unterminated string");
        return NULL;
    }
    if (grow((void **)&p->scratch, &p->scratch_cap, (size_t)(q - p->s) + 1, 1)) {
        out_of_memory(p);
        return NULL;
    }
    char *out = p->scratch;
    size_t n = 0;
    while (*p->s != '"') {
        unsigned char c = (unsigned char)*p->s;
        if (c < 0x20) {
            fail(p, "control character in string");
            return NULL;
        }
        if (c >= 0x80) {
            /* RFC 8259 text is UTF-8: an overlong form, a surrogate or a
             * stray byte passed through would reach names and reports.
             * The sequence ends at the closing quote at the latest. */
            unsigned long cp;
            size_t k = qv__utf8_seq((const unsigned char *)p->s, &cp);
            if (!k) {
                fail(p, "invalid UTF-8 in string (byte 0x%02X)", c);
                return NULL;
            }
            memcpy(out + n, p->s, k);
            n += k;
            p->s += k;
            continue;
        }
        if (c != '\\') {
            out[n++] = (char)c;
            p->s++;
            continue;
        }
        p->s++;
        char e = *p->s++;
        switch (e) {
        case '"':
            out[n++] = '"';
            break;
        case '\\':
            out[n++] = '\\';
            break;
        case '/':
            out[n++] = '/';
            break;
        case 'b':
            out[n++] = '\b';
            break;
        case 'f':
            out[n++] = '\f';
            break;
        case 'n':
            out[n++] = '\n';
            break;
        case 'r':
            out[n++] = '\r';
            break;
        case 't':
            out[n++] = '\t';
            break;
        case 'u': {
            unsigned cp;
            if (read_hex4(p, &cp)) {
                return NULL;
            }
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned lo;
                if (p->end - p->s < 6 || p->s[0] != '\\' || p->s[1] != 'u') {
                    fail(p, "unpaired surrogate in \\u escape");
                    return NULL;
                }
                p->s += 2;
                if (read_hex4(p, &lo)) {
                    return NULL;
                }
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    fail(p, "unpaired surrogate in \\u escape");
                    return NULL;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail(p, "unpaired surrogate in \\u escape");
                return NULL;
            }
            /* \u0000 would cut the C string short: refuse it. */
            if (cp == 0) {
                fail(p, "\\u0000 is not allowed in strings");
                return NULL;
            }
            n += put_utf8(out + n, cp);
            break;
        }
        default:
            p->s--;
            fail(p, "bad escape '\\%c'", e);
            return NULL;
        }
    }
    p->s++;
    out[n] = 0;
    *len_out = n;
    return out;
}

/* A copy of src's bytes in the document's memory: an array gathered on
 * a stack, at its exact size. */
static void *doc_dup(jp *p, const void *src, size_t bytes)
{
    void *d = doc_alloc(p, bytes);
    if (d && bytes) /* src may be NULL then: no stack grown yet */
        memcpy(d, src, bytes);
    return d;
}

/* The decoded string s (n bytes) in the document's memory. */
static char *doc_str(jp *p, const char *s, size_t n)
{
    char *d = doc_alloc(p, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* Keys stored once per document, at most MAX_KEYS of them, each found
 * within MAX_PROBE slots: our formats have a few dozen, and keys crafted
 * to share a slot made every insert walk one growing cluster (a 14 MB
 * file took 13 s: a reviewer). Past either bound a key is stored as any
 * string. */
#define MAX_KEYS  4096
#define MAX_PROBE 32

/* Key s (n bytes), stored once per document where it can be: a graph's 4
 * million edges name 3 keys. */
static char *intern(jp *p, const char *s, size_t n)
{
    uint64_t h = qv__mix64(qv__fnv1a(s, n)); /* FNV's low bits: the input's low bits' */
    if (!p->keys_cap) {
        if (!(p->keys = calloc(2 * MAX_KEYS, sizeof *p->keys))) {
            out_of_memory(p);
            return NULL;
        }
        p->keys_cap = 2 * MAX_KEYS;
    }
    size_t k = h & (p->keys_cap - 1);
    for (unsigned probe = 0; probe < MAX_PROBE && p->keys[k].s;
         probe++, k = (k + 1) & (p->keys_cap - 1))
        if (p->keys[k].hash == h && !strcmp(p->keys[k].s, s))
            return p->keys[k].s;
    char *d = doc_str(p, s, n);
    if (d && !p->keys[k].s && p->nkeys < MAX_KEYS) {
        p->keys[k] = (jkey){h, d};
        p->nkeys++;
    }
    return d;
}

static int parse_number(jp *p, qv__jval *v)
{
    double *out = &v->u.num;
    const char *b = p->s, *q = p->s;
    if (q < p->end && *q == '-')
        q++;
    if (q >= p->end || *q < '0' || *q > '9') {
        fail(p, "bad number");
        return -1;
    }
    if (*q == '0') {
        q++;
        if (q < p->end && *q >= '0' && *q <= '9') {
            fail(p, "leading zero in number");
            return -1;
        }
    } else {
        while (q < p->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < p->end && *q == '.') {
        q++;
        if (q >= p->end || *q < '0' || *q > '9') {
            fail(p, "digit expected after '.'");
            return -1;
        }
        while (q < p->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < p->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < p->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= p->end || *q < '0' || *q > '9') {
            fail(p, "digit expected in exponent");
            return -1;
        }
        while (q < p->end && *q >= '0' && *q <= '9')
            q++;
    }
    /* strtod needs a terminated string; numbers are short. */
    char buf[64];
    size_t n = (size_t)(q - b);
    if (n >= sizeof buf) {
        fail(p, "number too long");
        return -1;
    }
    memcpy(buf, b, n);
    buf[n] = 0;
    *out = qv__strtod_c(buf, NULL);
    /* Exactness: a double holds every integer literal up to 2^53 and every
     * decimal of up to 15 significant digits; past that, "2^53 + 1" or
     * "2.0000000000000001" would read as another number. */
    size_t mant = strcspn(buf, "eE"), sig = 0, zeros = 0;
    bool lead = true;
    for (size_t i = 0; i < mant; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            continue;
        if (lead && buf[i] == '0')
            continue;
        lead = false;
        if (buf[i] == '0') {
            zeros++; /* trailing zeros count only when a digit follows */
        } else {
            sig += zeros + 1;
            zeros = 0;
        }
    }
    bool intsyn = !strpbrk(buf, ".eE");
    if (intsyn) {
        char *e;
        errno = 0;
        long long iv = strtoll(buf, &e, 10);
        v->isint = !*e && errno != ERANGE;
        v->u.inum = v->isint ? iv : 0;
    }
    /* Zeros before the point of an integer literal are significant. */
    if (intsyn)
        sig += zeros;
    v->exact = v->isint || sig <= 15;
    p->s = q;
    return 0;
}

static int lit(jp *p, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, w, n)) {
        fail(p, "unexpected character '%c'", *p->s);
        return -1;
    }
    p->s += n;
    return 0;
}

static qv__jval *parse_value(jp *p, int depth);

static qv__jval *parse_array(jp *p, int depth)
{
    qv__jval *v = new_val(p, QV__JARR);
    if (!v)
        return NULL;
    p->s++;
    skip_ws(p);
    if (p->s < p->end && *p->s == ']') {
        p->s++;
        return v;
    }
    size_t base = p->nitems; /* the items gather on p->items */
    for (;;) {
        skip_ws(p);
        qv__jval *item = parse_value(p, depth + 1);
        if (!item)
            goto bad;
        if (!p->skipping) {
            if (grow((void **)&p->items, &p->items_cap, p->nitems + 1,
                     sizeof *p->items)) {
                out_of_memory(p);
                goto bad;
            }
            p->items[p->nitems++] = item;
        }
        skip_ws(p);
        if (p->s >= p->end) {
            fail(p, "unterminated array");
            goto bad;
        }
        if (*p->s == ',') {
            p->s++;
            continue;
        }
        if (*p->s == ']') {
            p->s++;
            break;
        }
        fail(p, "',' or ']' expected");
        goto bad;
    }
    v->u.arr.n = p->nitems - base;
    if (!p->skipping &&
        !(v->u.arr.v = doc_dup(p, p->items + base, v->u.arr.n * sizeof *p->items)))
        goto bad;
    p->nitems = base;
    return v;
bad:
    p->nitems = base;
    return NULL;
}

/* Whether the member `key` of the object being read is kept: every
 * member without a keep function, and inside one not kept nothing. */
static bool kept(const jp *p, const char *key)
{
    return !p->skipping && (!p->keep || p->keep(p->keep_arg, p->path, p->npath, key));
}

static qv__jval *parse_object(jp *p, int depth)
{
    qv__jval *v = new_val(p, QV__JOBJ);
    if (!v)
        return NULL;
    p->s++;
    skip_ws(p);
    if (p->s < p->end && *p->s == '}') {
        p->s++;
        return v;
    }
    /* Inside a member not kept, nothing lasts. */
    bool skip = p->skipping != 0;
    size_t base = p->nmems; /* the members kept gather on p->mems */
    /* The keys of members not kept, for the duplicate check. */
    char *other[QV__JSON_MAX_MEMBERS];
    size_t nother = 0;
    for (;;) {
        skip_ws(p);
        if (p->s >= p->end || *p->s != '"') {
            fail(p, "string key expected");
            goto bad;
        }
        int kl = p->line, kc = col_of(p);
        size_t klen;
        const char *dec = parse_string(p, &klen);
        if (!dec)
            goto bad;
        size_t nkept = p->nmems - base;
        if (nkept + nother >= QV__JSON_MAX_MEMBERS) {
            fail(p, "more than %d members in one object", QV__JSON_MAX_MEMBERS);
            goto bad;
        }
        const char *dup = NULL;
        for (size_t i = 0; i < nkept && !dup; i++)
            if (!strcmp(p->mems[base + i].key, dec))
                dup = p->mems[base + i].key;
        for (size_t i = 0; i < nother && !dup; i++)
            if (!strcmp(other[i], dec))
                dup = other[i];
        if (dup) {
            if (!p->err) {
                p->err = -EINVAL;
                qv__part_diag(p->diag, p->fname, kl, kc, "duplicate key \"%s\"", dup);
            }
            goto bad;
        }
        /* A member kept has its key in the document; the others a copy
         * for the duplicate check, released at the end. */
        bool keep = kept(p, dec);
        char *key = keep ? intern(p, dec, klen) : strdup(dec);
        if (!key) {
            out_of_memory(p);
            goto bad;
        }
        skip_ws(p);
        if (p->s >= p->end || *p->s != ':') {
            if (!keep)
                free(key);
            fail(p, "':' expected after key");
            goto bad;
        }
        p->s++;
        skip_ws(p);
        if (keep)
            p->path[p->npath++] = key;
        else
            p->skipping++;
        qv__jval *item = parse_value(p, depth + 1);
        if (keep)
            p->npath--;
        else
            p->skipping--;
        if (!keep) {
            /* Read and checked, not kept: a 30 MB array under a key the
             * format ignores took 855 MB as a tree (adversarial testing). */
            other[nother++] = key;
        } else if (item &&
                   grow((void **)&p->mems, &p->mems_cap, p->nmems + 1, sizeof *p->mems)) {
            out_of_memory(p);
            goto bad;
        } else if (item) {
            p->mems[p->nmems++] = (qv__jmem){key, item};
        }
        if (!item)
            goto bad;
        skip_ws(p);
        if (p->s >= p->end) {
            fail(p, "unterminated object");
            goto bad;
        }
        if (*p->s == ',') {
            p->s++;
            continue;
        }
        if (*p->s == '}') {
            p->s++;
            break;
        }
        fail(p, "',' or '}' expected");
        goto bad;
    }
    v->u.obj.n = p->nmems - base;
    if (!skip && !(v->u.obj.m = doc_dup(p, p->mems + base, v->u.obj.n * sizeof *p->mems)))
        goto bad;
    p->nmems = base;
    for (size_t i = 0; i < nother; i++)
        free(other[i]);
    return v;
bad:
    p->nmems = base;
    for (size_t i = 0; i < nother; i++)
        free(other[i]);
    return NULL;
}

static qv__jval *parse_value(jp *p, int depth)
{
    if (depth > QV__JSON_MAX_DEPTH) {
        fail(p, "nesting deeper than %d", QV__JSON_MAX_DEPTH);
        return NULL;
    }
    skip_ws(p);
    if (p->s >= p->end) {
        fail(p, "value expected, found end of input");
        return NULL;
    }
    qv__jval *v;
    switch (*p->s) {
    case '{':
        return parse_object(p, depth);
    case '[':
        return parse_array(p, depth);
    case '"': {
        v = new_val(p, QV__JSTR);
        const char *dec = v ? parse_string(p, &v->u.str.len) : NULL;
        if (!dec)
            return NULL;
        /* (read into scratch while skipping: nothing keeps it) */
        v->u.str.s = p->skipping ? p->scratch : doc_str(p, dec, v->u.str.len);
        return v->u.str.s ? v : NULL;
    }
    case 't':
    case 'f':
        v = new_val(p, QV__JBOOL);
        if (!v)
            return NULL;
        v->u.b = *p->s == 't';
        return lit(p, v->u.b ? "true" : "false") ? NULL : v;
    case 'n':
        v = new_val(p, QV__JNULL);
        return v && !lit(p, "null") ? v : NULL;
    default:
        if (*p->s != '-' && (*p->s < '0' || *p->s > '9')) {
            if ((unsigned char)*p->s >= 0x20 && (unsigned char)*p->s < 0x7f)
                fail(p, "value expected, found '%c'", *p->s);
            else
                fail(p, "value expected, found byte 0x%02x", (unsigned char)*p->s);
            return NULL;
        }
        v = new_val(p, QV__JNUM);
        return v && !parse_number(p, v) ? v : NULL;
    }
}

int qv__part_json_parse(const char *text, size_t len, const char *fname, qv__jval **out,
                        qv_diag *diag)
{
    return qv__part_json_parse_keep(text, len, fname, NULL, NULL, out, diag);
}

int qv__part_json_parse_keep(const char *text, size_t len, const char *fname,
                             qv__jkeep keep, void *arg, qv__jval **out, qv_diag *diag)
{
    jp p = {.s = text,
            .end = text + len,
            .fname = fname,
            .line = 1,
            .line_start = text,
            .col_at = text,
            .col = 1,
            .diag = diag,
            .keep = keep,
            .keep_arg = arg};
    *out = NULL;
    if (len > QV__JSON_MAX_INPUT) {
        qv__part_diag(diag, fname, 0, 0, "input of %zu bytes exceeds the %zu limit", len,
                      QV__JSON_MAX_INPUT);
        return -EFBIG;
    }
    if (memchr(text, 0, len)) {
        const char *z = memchr(text, 0, len);
        /* find line of the NUL for the message */
        while (p.s < z) {
            if (*p.s == '\n' || *p.s == '\r')
                line_break(&p);
            else
                p.s++;
        }
        fail(&p, "NUL byte in input");
        return p.err;
    }
    qv__jval *v = parse_value(&p, 0);
    skip_ws(&p);
    if (v && p.s < p.end)
        fail(&p, "trailing characters after the JSON value");
    /* The root holds the document: its chunks go with it. */
    jdoc *d = v && !p.err ? malloc(sizeof *d) : NULL;
    if (v && !p.err && !d)
        out_of_memory(&p);
    free(p.scratch);
    free(p.items);
    free(p.mems);
    free(p.keys);
    if (!d) {
        doc_release(p.mem);
        return p.err ? p.err : -EINVAL;
    }
    d->root = *v;
    d->root.owner = true;
    d->mem = p.mem;
    *out = &d->root;
    return 0;
}

void qv__part_json_free(qv__jval *v)
{
    if (!v || !v->owner)
        return;
    jdoc *d = (jdoc *)((char *)v - offsetof(jdoc, root));
    doc_release(d->mem);
    free(d);
}

const qv__jval *qv__part_json_get(const qv__jval *o, const char *key)
{
    if (!o || o->type != QV__JOBJ)
        return NULL;
    for (size_t i = 0; i < o->u.obj.n; i++)
        if (!strcmp(o->u.obj.m[i].key, key))
            return o->u.obj.m[i].val;
    return NULL;
}

const char *qv__part_json_type_name(qv__jtype t)
{
    static const char *names[] = {"null",   "boolean", "number",
                                  "string", "array",   "object"};
    return names[t];
}

int qv__part_read_file(const char *path, size_t max, char **out, size_t *len,
                       qv_diag *diag)
{
    /* Never blocks on a FIFO, refuses what is not a regular file, and checks
     * the size before reading (common/qv_file.h). */
    char why[QV__FILE_WHY];
    int rc = qv__file_load(path, max, out, len, why);
    if (rc)
        qv__part_diag(diag, path, 0, 0, "%s", why);
    return rc;
}
