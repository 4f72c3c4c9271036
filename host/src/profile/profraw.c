/*
 * profraw.c - the one reader of the raw profile (profraw.h). Every line is
 * checked word by word; a bad line is refused at the column of the word at
 * fault, saying what was expected there, so a truncated or edited file
 * gives file:line:column and never a crash.
 *
 *   qvprof 1
 *   process PID PPID
 *   clock NS_PER_TICK PROBE_IN_NS PROBE_PAIR_NS
 *   wall NS
 *   module ID PATH...              (PATH: the rest of the line)
 *   build-id ID HEX                (module ID's; or:)
 *   file ID DEV INO SIZE MTIME_NS  (module ID's file's stat)
 *   thread ID SPAN_NS OPEN UNPAIRED SKIPPED DROPPED
 *   fn ADDR OUTER INCL_NS DESC     (of the last thread line)
 *   arc ADDR ADDR CALLS INCL_NS SELF_NS CHILDREN DESC
 *   note COUNT FN N (NAME VALUE){N}
 *   end NOTES_DROPPED
 * ADDR is `MODULE 0xOFFSET`, `- 0` (no caller) or `? 0xADDRESS`.
 */
#include "profile/profraw.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/yaml_doc.h" /* qv__diag_set */
#include "quiver.h"
#include "qv_file.h"
#include "qv_text.h"

#define RAW_MAX ((uint64_t)1 << 30) /* bytes */

typedef struct rd {
    const char *fname;
    const char *line; /* start of the current line */
    const char *p, *end;
    unsigned lineno;
    qv_diag *diag;
} rd;

static int fail(rd *r, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(rd *r, const char *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return qv__diag_set(r->diag, r->fname, r->lineno, (unsigned)(at - r->line) + 1, QV_EFORMAT,
                        "%s", msg);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The next word of the line into [*w, *w + *n); 0 when the line ends. */
static int word(rd *r, const char **w, size_t *n)
{
    while (r->p < r->end && is_space(*r->p))
        r->p++;
    *w = r->p;
    while (r->p < r->end && !is_space(*r->p) && *r->p != '\n')
        r->p++;
    *n = (size_t)(r->p - *w);
    return *n > 0;
}

static int need(rd *r, const char **w, size_t *n, const char *what)
{
    if (!word(r, w, n))
        return fail(r, r->p, "expected %s", what);
    return 0;
}

static int get_u64(rd *r, uint64_t *out, const char *what)
{
    const char *w;
    size_t n;
    int rc = need(r, &w, &n, what);
    if (rc)
        return rc;
    uint64_t v = 0;
    size_t i = 0;
    int base = 10;
    if (n > 2 && w[0] == '0' && (w[1] == 'x' || w[1] == 'X')) {
        base = 16;
        i = 2;
    }
    for (; i < n; i++) {
        unsigned d;
        char c = w[i];
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return fail(r, w, "expected %s (an unsigned integer), got '%.*s'", what,
                        (int)(n > 40 ? 40 : n), w);
        if (v > (UINT64_MAX - d) / (unsigned)base)
            return fail(r, w, "%s out of range", what);
        v = v * (unsigned)base + d;
    }
    *out = v;
    return 0;
}

static int get_i64(rd *r, long long *out, const char *what)
{
    const char *save = r->p;
    while (r->p < r->end && is_space(*r->p))
        r->p++;
    int neg = r->p < r->end && *r->p == '-';
    if (neg)
        r->p++;
    if (r->p < r->end && (is_space(*r->p) || *r->p == '\n')) {
        r->p = save;
        neg = 0;
    }
    const char *w = r->p;
    uint64_t v;
    int rc = get_u64(r, &v, what);
    if (rc)
        return rc;
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
        return fail(r, w, "%s out of range", what);
    *out = neg ? (long long)(0 - v) : (long long)v;
    return 0;
}

static int get_double(rd *r, double *out, const char *what)
{
    const char *w;
    size_t n;
    int rc = need(r, &w, &n, what);
    if (rc)
        return rc;
    char buf[64];
    if (n >= sizeof buf)
        return fail(r, w, "expected %s (a number)", what);
    memcpy(buf, w, n);
    buf[n] = 0;
    char *e;
    double v = qv__strtod_c(buf, &e);
    if (*e || !isfinite(v) || v < 0 || buf[0] == '-' || buf[0] == '+' ||
        (buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X')))
        return fail(r, w, "expected %s (a number >= 0), got '%s'", what, buf);
    *out = v;
    return 0;
}

static int get_ident(rd *r, char **out, const char *what)
{
    const char *w;
    size_t n;
    int rc = need(r, &w, &n, what);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        char c = w[i];
        if (!(c == '_' || c == '?' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9')))
            return fail(r, w + i, "expected %s (an identifier)", what);
    }
    if (n > 255)
        return fail(r, w, "%s longer than 255 characters", what);
    if (!(*out = strndup(w, n)))
        return QV_ENOMEM;
    return 0;
}

static int get_addr(rd *r, const qv__prof_raw *raw, qv__prof_addr *a, const char *what)
{
    const char *w;
    size_t n;
    const char *save = r->p;
    int rc = need(r, &w, &n, what);
    if (rc)
        return rc;
    if (n == 1 && (*w == '-' || *w == '?')) {
        a->module = *w == '-' ? QV__PROF_ROOT : QV__PROF_NOMOD;
        return get_u64(r, &a->off, "an address");
    }
    r->p = save;
    uint64_t m;
    if ((rc = get_u64(r, &m, what)))
        return rc;
    /* Past INT32_MAX it is no module: read as INT32_MAX, then kept cut to
     * 32 bits, 2^32 + 5 passed as declared and named module 5, which was
     * not (quiver profile then indexed past its table: review). */
    if (m > INT32_MAX || !qv__prof_raw_module(raw, (int32_t)m))
        return fail(r, w, "module %.*s is not declared by a module line before it",
                    (int)(n > 20 ? 20 : n), w);
    a->module = (int32_t)m;
    return get_u64(r, &a->off, "an offset");
}

/* raw->by_id: a scan of every module for an id (at each module line and
 * each address) made a profile of 60 000 modules take 24 s. */
typedef struct id_seek {
    const qv__prof_raw *r;
    uint32_t id;
} id_seek;

static bool same_id(const void *ctx, size_t i)
{
    const id_seek *k = ctx;
    return k->r->modules[i].id == k->id;
}

static uint64_t id_key(const void *ctx, size_t i)
{
    return ((const qv__prof_raw *)ctx)->modules[i].id;
}

/* The slot of module id, or the free one where it would go. */
static size_t mod_slot(const qv__prof_raw *r, uint32_t id)
{
    id_seek k = {r, id};
    return qv__itab_find(&r->by_id, id, same_id, &k);
}

static qv__prof_module *find_mod(const qv__prof_raw *r, int32_t id)
{
    if (!r || !r->by_id.cap || id < 0)
        return NULL;
    uint32_t v = r->by_id.slot[mod_slot(r, (uint32_t)id)];
    return v ? &r->modules[v - 1] : NULL;
}

const qv__prof_module *qv__prof_raw_find(const qv__prof_raw *r, int32_t id)
{
    return find_mod(r, id);
}

const char *qv__prof_raw_module(const qv__prof_raw *r, int32_t id)
{
    const qv__prof_module *m = qv__prof_raw_find(r, id);
    return m ? m->path : NULL;
}

/* Grows *arr (of *n elements of size sz) by one zeroed element. */
static void *push(void *arr, size_t *n, size_t sz)
{
    void **a = arr;
    if ((*n & (*n - 1)) == 0) { /* 0, 1, 2, 4 ...: double */
        size_t cap = *n ? *n * 2 : 1;
        void *g = realloc(*a, cap * sz);
        if (!g)
            return NULL;
        *a = g;
    }
    void *e = (char *)*a + (*n)++ * sz;
    memset(e, 0, sz);
    return e;
}

/* The module a build-id or file line is about (w: its first word): one
 * declared before, without an identity yet. */
static int ident_module(rd *r, qv__prof_raw *raw, const char *w, qv__prof_module **out)
{
    const char *at;
    size_t n;
    uint64_t id;
    const char *save = r->p;
    int rc = need(r, &at, &n, "a module id");
    if (rc)
        return rc;
    r->p = save;
    if ((rc = get_u64(r, &id, "a module id")))
        return rc;
    qv__prof_module *m = id > INT32_MAX ? NULL : find_mod(raw, (int32_t)id);
    if (!m)
        return fail(r, at, "module %.*s is not declared by a module line before it",
                    (int)(n > 20 ? 20 : n), at);
    if (m->build_id_len || m->has_file)
        return fail(r, w, "module %llu has a %s line already (one identity per module)",
                    (unsigned long long)id, m->build_id_len ? "build-id" : "file");
    *out = m;
    return 0;
}

static int end_of_line(rd *r)
{
    const char *w;
    size_t n;
    if (word(r, &w, &n))
        return fail(r, w, "expected the end of the line, got '%.*s'", (int)(n > 40 ? 40 : n), w);
    return 0;
}

static int parse_line(rd *r, qv__prof_raw *raw, int *state)
{
    const char *w;
    size_t n;
    int rc;
    if (!word(r, &w, &n))
        return fail(r, w,
                    "expected a record (qvprof, process, clock, wall, module, build-id, "
                    "file, thread, fn, arc, note or end)");
#define IS(s) (n == sizeof(s) - 1 && !memcmp(w, s, n))
    if (*state == 0) {
        uint64_t v;
        if (!IS("qvprof"))
            return fail(r, w, "expected 'qvprof 1': not a raw profile of libquiver-profile");
        if ((rc = get_u64(r, &v, "the format version")))
            return rc;
        if (v != 1)
            return fail(r, w, "format version %llu; this quiver reads version 1",
                        (unsigned long long)v);
        *state = 1;
        return end_of_line(r);
    }
    if (*state == 2)
        return fail(r, w, "expected nothing after the 'end' line");
    if (IS("process")) {
        long long a, b;
        if ((rc = get_i64(r, &a, "a process id")) || (rc = get_i64(r, &b, "a parent process id")))
            return rc;
        raw->pid = (long)a;
        raw->ppid = (long)b;
    } else if (IS("clock")) {
        if ((rc = get_double(r, &raw->ns_per_tick, "ns per tick")) ||
            (rc = get_double(r, &raw->probe_in_ns, "the probe's inner cost in ns")) ||
            (rc = get_double(r, &raw->probe_pair_ns, "the probe's cost per call in ns")))
            return rc;
    } else if (IS("wall")) {
        if ((rc = get_u64(r, &raw->wall_ns, "the run's wall time in ns")))
            return rc;
    } else if (IS("module")) {
        uint64_t id;
        if ((rc = get_u64(r, &id, "a module id")))
            return rc;
        if (id > INT32_MAX)
            return fail(r, w, "module id out of range");
        if (qv__prof_raw_module(raw, (int32_t)id))
            return fail(r, w, "module %llu declared twice", (unsigned long long)id);
        while (r->p < r->end && is_space(*r->p))
            r->p++;
        const char *s = r->p;
        while (r->p < r->end && *r->p != '\n')
            r->p++;
        if (r->p == s)
            return fail(r, s, "expected the module's path");
        if (qv__itab_room(&raw->by_id, id_key, raw))
            return QV_ENOMEM;
        qv__prof_module *m = push(&raw->modules, &raw->nmodules, sizeof *m);
        if (!m || !(m->path = strndup(s, (size_t)(r->p - s))))
            return QV_ENOMEM;
        if (strlen(m->path) != (size_t)(r->p - s))
            return fail(r, s, "a NUL byte in the module's path");
        /* %XX stands for a byte the line could not hold (the writer's). */
        if (qv__pct_decode(m->path))
            return fail(r, s, "a '%%' in the module's path that is no %%XX escape");
        m->id = (uint32_t)id;
        raw->by_id.slot[mod_slot(raw, m->id)] = (uint32_t)raw->nmodules;
        raw->by_id.n++;
    } else if (IS("build-id")) {
        qv__prof_module *m;
        const char *h;
        size_t hn;
        if ((rc = ident_module(r, raw, w, &m)) || (rc = need(r, &h, &hn, "the build-id")))
            return rc;
        for (size_t i = 0; i < hn; i++)
            if (qv__hex_digit(h[i]) < 0)
                return fail(r, h + i, "expected the build-id (hex digits)");
        if (hn % 2 || hn > 2 * QV__PROF_BUILD_ID_MAX)
            return fail(r, h,
                        "a build-id of %zu hex digits; expected an even number, at most "
                        "%d",
                        hn, 2 * QV__PROF_BUILD_ID_MAX);
        for (size_t i = 0; i < hn / 2; i++)
            m->build_id[i] =
                (uint8_t)(qv__hex_digit(h[2 * i]) << 4 | qv__hex_digit(h[2 * i + 1]));
        m->build_id_len = (unsigned)(hn / 2);
    } else if (IS("file")) {
        qv__prof_module *m;
        uint64_t v[4];
        if ((rc = ident_module(r, raw, w, &m)) ||
            (rc = get_u64(r, &v[0], "the file's device")) ||
            (rc = get_u64(r, &v[1], "the file's inode")) ||
            (rc = get_u64(r, &v[2], "the file's size")) ||
            (rc = get_u64(r, &v[3], "the file's modification time in ns")))
            return rc;
        m->dev = v[0];
        m->ino = v[1];
        m->size = v[2];
        m->mtime_ns = v[3];
        m->has_file = 1;
    } else if (IS("thread")) {
        qv__prof_thread *t = push(&raw->threads, &raw->nthreads, sizeof *t);
        if (!t)
            return QV_ENOMEM;
        uint64_t id;
        if ((rc = get_u64(r, &id, "a thread id")) ||
            (rc = get_double(r, &t->span_ns, "the thread's span in ns")) ||
            (rc = get_u64(r, &t->open_at_exit, "the frames open at exit")) ||
            (rc = get_u64(r, &t->unpaired, "the unpaired exits")) ||
            (rc = get_u64(r, &t->skipped, "the re-entered hooks")) ||
            (rc = get_u64(r, &t->dropped, "the dropped calls")))
            return rc;
        t->id = (uint32_t)id;
    } else if (IS("fn") || IS("arc")) {
        if (!raw->nthreads)
            return fail(r, w, "expected a thread line before the first fn or arc");
        uint32_t th = (uint32_t)(raw->nthreads - 1);
        if (IS("fn")) {
            qv__prof_fn *f = push(&raw->fns, &raw->nfns, sizeof *f);
            if (!f)
                return QV_ENOMEM;
            f->thread = th;
            if ((rc = get_addr(r, raw, &f->fn, "the function's module")) ||
                (rc = get_u64(r, &f->outer, "the outermost calls")) ||
                (rc = get_double(r, &f->incl_ns, "the inclusive time in ns")) ||
                (rc = get_u64(r, &f->desc, "the calls made under them")))
                return rc;
            if (f->fn.module == QV__PROF_ROOT)
                return fail(r, w, "a function cannot be '-' (no caller)");
        } else {
            qv__prof_arc *a = push(&raw->arcs, &raw->narcs, sizeof *a);
            if (!a)
                return QV_ENOMEM;
            a->thread = th;
            if ((rc = get_addr(r, raw, &a->callee, "the callee's module")) ||
                (rc = get_addr(r, raw, &a->caller, "the caller's module")) ||
                (rc = get_u64(r, &a->calls, "the calls")) ||
                (rc = get_double(r, &a->incl_ns, "the inclusive time in ns")) ||
                (rc = get_double(r, &a->self_ns, "the self time in ns")) ||
                (rc = get_u64(r, &a->children, "the direct calls made")) ||
                (rc = get_u64(r, &a->desc, "the calls made at any depth")))
                return rc;
            if (a->callee.module == QV__PROF_ROOT)
                return fail(r, w, "a callee cannot be '-' (no caller)");
        }
    } else if (IS("note")) {
        qv__prof_note *nt = push(&raw->notes, &raw->nnotes, sizeof *nt);
        if (!nt)
            return QV_ENOMEM;
        uint64_t k;
        if ((rc = get_u64(r, &nt->count, "the note's count")) ||
            (rc = get_ident(r, &nt->fn, "the function's name")))
            return rc;
        const char *at = r->p;
        if ((rc = get_u64(r, &k, "the number of scalars")))
            return rc;
        if (k > QV__PROF_NOTE_SCALARS)
            return fail(r, at + 1, "%llu scalars; at most %d", (unsigned long long)k,
                        QV__PROF_NOTE_SCALARS);
        for (unsigned i = 0; i < k; i++) {
            if ((rc = get_ident(r, &nt->names[i], "a scalar's name")))
                return rc;
            nt->n = i + 1;
            if ((rc = get_i64(r, &nt->values[i], "the scalar's value")))
                return rc;
        }
    } else if (IS("end")) {
        if ((rc = get_u64(r, &raw->notes_dropped, "the notes dropped")))
            return rc;
        *state = 2;
    } else {
        return fail(r, w,
                    "unknown record '%.*s' (expected process, clock, wall, module, "
                    "build-id, file, thread, fn, arc, note or end)",
                    (int)(n > 40 ? 40 : n), w);
    }
#undef IS
    return end_of_line(r);
}

int qv__prof_raw_parse(const char *text, size_t len, const char *fname, qv__prof_raw **out,
                       qv_diag *diag)
{
    *out = NULL;
    qv__prof_raw *raw = calloc(1, sizeof *raw);
    if (!raw)
        return QV_ENOMEM;
    rd r = { .fname = fname ? fname : "(profile)", .p = text, .end = text + len,
             .diag = diag };
    int state = 0, rc = 0;
    while (r.p < r.end) {
        r.lineno++;
        r.line = r.p;
        const char *nl = memchr(r.p, '\n', (size_t)(r.end - r.p));
        const char *eol = nl ? nl : r.end;
        const char *z = memchr(r.p, '\0', (size_t)(eol - r.p));
        if (z) {
            rc = fail(&r, z, "a NUL byte: not a text file");
            break;
        }
        const char *save_end = r.end;
        r.end = eol;
        rc = parse_line(&r, raw, &state);
        r.end = save_end;
        if (rc)
            break;
        r.p = nl ? nl + 1 : r.end;
    }
    if (!rc && state != 2) {
        r.line = r.p;
        rc = qv__diag_set(diag, r.fname, r.lineno + 1, 1, QV_EFORMAT,
                          "expected an 'end' line: the file is cut short (did the program "
                          "exit before its profile was written?)");
    }
    if (!rc && raw->ns_per_tick <= 0)
        rc = qv__diag_set(diag, r.fname, 0, 0, QV_EFORMAT, "no clock line");
    if (rc) {
        qv__prof_raw_free(raw);
        return rc;
    }
    *out = raw;
    return 0;
}

int qv__prof_raw_load(const char *path, qv__prof_raw **out, qv_diag *diag)
{
    char *text, why[QV__FILE_WHY];
    size_t len;
    *out = NULL;
    int rc = qv__file_load(path, RAW_MAX, &text, &len, why);
    if (rc)
        return qv__diag_set(diag, path, 0, 0, rc, "%s", why);
    rc = qv__prof_raw_parse(text, len, path, out, diag);
    free(text);
    return rc;
}

void qv__prof_raw_free(qv__prof_raw *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nmodules; i++)
        free(r->modules[i].path);
    for (size_t i = 0; i < r->nnotes; i++) {
        free(r->notes[i].fn);
        for (unsigned k = 0; k < r->notes[i].n; k++)
            free(r->notes[i].names[k]);
    }
    free(r->modules);
    free(r->by_id.slot);
    free(r->threads);
    free(r->fns);
    free(r->arcs);
    free(r->notes);
    free(r);
}
