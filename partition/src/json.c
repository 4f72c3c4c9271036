/*
 * json.c - a strict recursive-descent JSON reader. Strict means RFC 8259 and
 * nothing more: no comments, no trailing commas, no NaN, no leading zeros,
 * no raw control characters in strings, no duplicate-key leniency needed by
 * our formats (duplicates are an error, so a file cannot say two things).
 * Depth is bounded (QV__JSON_MAX_DEPTH) so the recursion cannot overflow.
 */
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qv_escape.h"
#include "qv_file.h"
#include "qv_text.h"

typedef struct jp {
    const char *s, *end, *fname;
    int line;
    const char *line_start;
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
} jp;

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

static int col_of(const jp *p)
{
    return (int)(p->s - p->line_start) + 1;
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
        if (c == '\n') {
            p->line++;
            p->s++;
            p->line_start = p->s;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            p->s++;
        } else {
            break;
        }
    }
}

static qv__jval *new_val(jp *p, qv__jtype t)
{
    qv__jval *v = calloc(1, sizeof *v);
    if (!v) {
        if (!p->err) {
            p->err = -ENOMEM;
            qv__part_diag(p->diag, p->fname, p->line, col_of(p), "out of memory");
        }
        return NULL;
    }
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

/* p->s at the opening quote. The decoded string is never longer than the
 * encoded one, so one allocation of the encoded length suffices. */
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
    char *out = malloc((size_t)(q - p->s) + 1);
    if (!out) {
        fail(p, "out of memory");
        return NULL;
    }
    size_t n = 0;
    while (*p->s != '"') {
        unsigned char c = (unsigned char)*p->s;
        if (c < 0x20) {
            fail(p, "control character in string");
            free(out);
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
                free(out);
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
                free(out);
                return NULL;
            }
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned lo;
                if (p->end - p->s < 6 || p->s[0] != '\\' || p->s[1] != 'u') {
                    fail(p, "unpaired surrogate in \\u escape");
                    free(out);
                    return NULL;
                }
                p->s += 2;
                if (read_hex4(p, &lo)) {
                    free(out);
                    return NULL;
                }
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    fail(p, "unpaired surrogate in \\u escape");
                    free(out);
                    return NULL;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail(p, "unpaired surrogate in \\u escape");
                free(out);
                return NULL;
            }
            /* \u0000 would cut the C string short: refuse it. */
            if (cp == 0) {
                fail(p, "\\u0000 is not allowed in strings");
                free(out);
                return NULL;
            }
            n += put_utf8(out + n, cp);
            break;
        }
        default:
            p->s--;
            fail(p, "bad escape '\\%c'", e);
            free(out);
            return NULL;
        }
    }
    p->s++;
    out[n] = 0;
    *len_out = n;
    return out;
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
        v->inum = v->isint ? iv : 0;
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

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 4;
    while (nc < need)
        nc *= 2;
    void *na = realloc(*arr, nc * elem);
    if (!na)
        return -1;
    *arr = na;
    *cap = nc;
    return 0;
}

static qv__jval *parse_array(jp *p, int depth)
{
    qv__jval *v = new_val(p, QV__JARR);
    if (!v)
        return NULL;
    p->s++;
    skip_ws(p);
    size_t cap = 0;
    if (p->s < p->end && *p->s == ']') {
        p->s++;
        return v;
    }
    for (;;) {
        skip_ws(p);
        qv__jval *item = parse_value(p, depth + 1);
        if (!item)
            goto bad;
        if (p->skipping) {
            qv__part_json_free(item);
        } else if (grow((void **)&v->u.arr.v, &cap, v->u.arr.n + 1, sizeof item)) {
            qv__part_json_free(item);
            fail(p, "out of memory");
            goto bad;
        } else {
            v->u.arr.v[v->u.arr.n++] = item;
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
            return v;
        }
        fail(p, "',' or ']' expected");
        goto bad;
    }
bad:
    qv__part_json_free(v);
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
    size_t cap = 0;
    if (p->s < p->end && *p->s == '}') {
        p->s++;
        return v;
    }
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
        char *key = parse_string(p, &klen);
        if (!key)
            goto bad;
        if (v->u.obj.n + nother >= QV__JSON_MAX_MEMBERS) {
            free(key);
            fail(p, "more than %d members in one object", QV__JSON_MAX_MEMBERS);
            goto bad;
        }
        const char *dup = NULL;
        for (size_t i = 0; i < v->u.obj.n && !dup; i++)
            if (!strcmp(v->u.obj.m[i].key, key))
                dup = v->u.obj.m[i].key;
        for (size_t i = 0; i < nother && !dup; i++)
            if (!strcmp(other[i], key))
                dup = other[i];
        if (dup) {
            if (!p->err) {
                p->err = -EINVAL;
                qv__part_diag(p->diag, p->fname, kl, kc, "duplicate key \"%s\"", dup);
            }
            free(key);
            goto bad;
        }
        skip_ws(p);
        if (p->s >= p->end || *p->s != ':') {
            free(key);
            fail(p, "':' expected after key");
            goto bad;
        }
        p->s++;
        skip_ws(p);
        bool keep = kept(p, key);
        if (keep)
            p->path[p->npath++] = key;
        else
            p->skipping++;
        qv__jval *item = parse_value(p, depth + 1);
        if (keep)
            p->npath--;
        else
            p->skipping--;
        if (!item) {
            free(key);
            goto bad;
        }
        if (!keep) {
            /* Read and checked, not kept: a 30 MB array under a key the
             * format ignores took 855 MB as a tree (adversarial testing). */
            qv__part_json_free(item);
            other[nother++] = key;
        } else if (grow((void **)&v->u.obj.m, &cap, v->u.obj.n + 1, sizeof(qv__jmem))) {
            free(key);
            qv__part_json_free(item);
            fail(p, "out of memory");
            goto bad;
        } else {
            v->u.obj.m[v->u.obj.n].key = key;
            v->u.obj.m[v->u.obj.n++].val = item;
        }
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
            for (size_t i = 0; i < nother; i++)
                free(other[i]);
            return v;
        }
        fail(p, "',' or '}' expected");
        goto bad;
    }
bad:
    for (size_t i = 0; i < nother; i++)
        free(other[i]);
    qv__part_json_free(v);
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
    case '"':
        v = new_val(p, QV__JSTR);
        if (v && !(v->u.str.s = parse_string(p, &v->u.str.len))) {
            free(v);
            return NULL;
        }
        return v;
    case 't':
    case 'f':
        v = new_val(p, QV__JBOOL);
        if (!v)
            return NULL;
        v->u.b = *p->s == 't';
        if (lit(p, v->u.b ? "true" : "false")) {
            free(v);
            return NULL;
        }
        return v;
    case 'n':
        v = new_val(p, QV__JNULL);
        if (v && lit(p, "null")) {
            free(v);
            return NULL;
        }
        return v;
    default:
        if (*p->s != '-' && (*p->s < '0' || *p->s > '9')) {
            if ((unsigned char)*p->s >= 0x20 && (unsigned char)*p->s < 0x7f)
                fail(p, "value expected, found '%c'", *p->s);
            else
                fail(p, "value expected, found byte 0x%02x", (unsigned char)*p->s);
            return NULL;
        }
        v = new_val(p, QV__JNUM);
        if (v && parse_number(p, v)) {
            free(v);
            return NULL;
        }
        return v;
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
    jp p = {text, text + len, fname, 1, text, diag, 0, keep, arg, 0, {0}, 0};
    *out = NULL;
    if (len > QV__JSON_MAX_INPUT) {
        qv__part_diag(diag, fname, 0, 0, "input of %zu bytes exceeds the %zu limit", len,
                      QV__JSON_MAX_INPUT);
        return -EFBIG;
    }
    if (memchr(text, 0, len)) {
        const char *z = memchr(text, 0, len);
        p.s = z;
        /* find line of the NUL for the message */
        p.s = text;
        while (p.s < z) {
            if (*p.s == '\n') {
                p.line++;
                p.line_start = p.s + 1;
            }
            p.s++;
        }
        fail(&p, "NUL byte in input");
        return p.err;
    }
    qv__jval *v = parse_value(&p, 0);
    if (!v)
        return p.err ? p.err : -EINVAL;
    skip_ws(&p);
    if (p.s < p.end) {
        fail(&p, "trailing characters after the JSON value");
        qv__part_json_free(v);
        return p.err;
    }
    *out = v;
    return 0;
}

void qv__part_json_free(qv__jval *v)
{
    if (!v)
        return;
    switch (v->type) {
    case QV__JSTR:
        free(v->u.str.s);
        break;
    case QV__JARR:
        for (size_t i = 0; i < v->u.arr.n; i++)
            qv__part_json_free(v->u.arr.v[i]);
        free(v->u.arr.v);
        break;
    case QV__JOBJ:
        for (size_t i = 0; i < v->u.obj.n; i++) {
            free(v->u.obj.m[i].key);
            qv__part_json_free(v->u.obj.m[i].val);
        }
        free(v->u.obj.m);
        break;
    default:
        break;
    }
    free(v);
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
