/*
 * perfmodel.c - robust per-size performance models and their per-host file.
 *
 * File format (text, one record a line, written whole then renamed so a
 * crash never leaves half a file):
 *     quiver-perfmodel 1
 *     host <hostname>
 *     m <function> <class> <bucket> <samples-ever> <k> <t1> ... <tk>
 *     end <number of m lines>
 * Function names are percent-encoded outside printable ASCII, '%' included.
 * Times are µs. A file whose frame is not exactly this (header, host, end
 * line and its count, whole lines) is ignored with a warning and rebuilt
 * from new measurements; an m record that does not read is skipped with a
 * warning, and the others kept. It never stops the runtime.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qv_file.h"
#include "qv_text.h"
#include "trace/perfmodel.h"

unsigned qv__perf_bucket_of(size_t bytes)
{
    unsigned b = 0;
    while (bytes) {
        b++;
        bytes >>= 1;
    }
    return b < QV__PERF_BUCKETS ? b : QV__PERF_BUCKETS - 1;
}

qv__perf *qv__perf_create(void)
{
    qv__perf *p = calloc(1, sizeof *p);
    if (p)
        atomic_flag_clear(&p->lock.f);
    return p;
}

void qv__perf_free(qv__perf *p)
{
    if (!p)
        return;
    for (unsigned i = 0; i < QV__PERF_BUCKETS; i++)
        free(p->b[i]);
    free(p);
}

static void bucket_refresh(qv__perf_bucket *b);

size_t qv__perf_file_max = QV__PERF_FILE_MAX;

static void bucket_push(qv__perf_bucket *b, float us)
{
    b->win[b->pos] = us;
    b->pos = (b->pos + 1) % QV__PERF_WINDOW;
    if (b->len < QV__PERF_WINDOW)
        b->len++;
    /* Saturates: a count loaded as 2^64 - 1 wrapped to below the window's
     * fill, and the file saved then was refused whole at the next run
     * (adversarial testing). */
    if (b->n < UINT64_MAX)
        b->n++;
    b->dirty = 1;
}

/* A refresh this much faster than the median starts the window over: the
 * samples there are of a past the device has left (a run beside a busy
 * core filled a CPU bucket 26x the CPU's time, and calls placed by it
 * never went back to measure it again). */
#define REFRESH_RESTART 1.5

void qv__perf_add(qv_func *f, qv_class c, size_t bytes, double us)
{
    qv__perf_add_at(f, c, bytes, us, qv__now_ns(), false);
}

void qv__perf_add_at(qv_func *f, qv_class c, size_t bytes, double us, uint64_t now_ns,
                     bool refresh)
{
    qv__perf *p = f->perf[c];
    if (!p || !(us >= 0) || !isfinite(us))
        return;
    if (us > QV__PERF_US_MAX) /* what the file holds: it is still "slow" */
        us = QV__PERF_US_MAX;
    unsigned k = qv__perf_bucket_of(bytes);
    qv__spin_lock(&p->lock);
    if (!p->b[k])
        p->b[k] = calloc(1, sizeof *p->b[k]);
    qv__perf_bucket *b = p->b[k];
    if (b) {
        if (refresh && b->len) {
            if (b->dirty)
                bucket_refresh(b);
            if (us * REFRESH_RESTART < b->median)
                b->len = b->pos = 0;
        }
        bucket_push(b, (float)us);
        b->measured = 1;
        b->last_ns = now_ns;
        b->passed = 0;
    }
    qv__spin_unlock(&p->lock);
}

bool qv__perf_refresh_due(qv__perf *p, size_t bytes, uint64_t now_ns, uint64_t gap_ns,
                          double price_us, bool claim)
{
    if (!p)
        return false;
    bool due = false;
    /* The price placement weighs (an emulated board's wall time, a remote
     * board's round trip), not the model's median: a refresh costs that. */
    double own = 100.0 * price_us * 1e3;
    uint64_t gap =
        own > (double)gap_ns ? (own < 1e18 ? (uint64_t)own : UINT64_MAX) : gap_ns;
    qv__spin_lock(&p->lock);
    qv__perf_bucket *b = p->b[qv__perf_bucket_of(bytes)];
    if (b && b->len) {
        /* Calls that went elsewhere, not time alone: a function called
         * once in a while would send each call to the slower device. */
        if (b->passed < UINT32_MAX)
            b->passed++;
        /* Loaded, not measured or refreshed in this run: measured in an
         * earlier one, long enough ago (a model a run inflated was saved
         * so, and runs shorter than the interval never refreshed it). */
        uint64_t seen = b->last_ns > b->probe_ns ? b->last_ns : b->probe_ns;
        if (b->passed >= QV__PERF_REFRESH_PASSED &&
            (!seen || (now_ns > seen && now_ns - seen >= gap))) {
            due = true;
            if (claim) {
                b->probe_ns = now_ns;
                b->passed = 0;
            }
        }
    }
    qv__spin_unlock(&p->lock);
    return due;
}

static void sort_floats(float *v, unsigned n)
{
    for (unsigned i = 1; i < n; i++) {
        float x = v[i];
        unsigned j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

static double median_sorted(const float *v, unsigned n)
{
    return n % 2 ? v[n / 2] : 0.5 * ((double)v[n / 2 - 1] + v[n / 2]);
}

static void bucket_refresh(qv__perf_bucket *b)
{
    float v[QV__PERF_WINDOW];
    memcpy(v, b->win, b->len * sizeof *v);
    sort_floats(v, b->len);
    double med = median_sorted(v, b->len);
    for (unsigned i = 0; i < b->len; i++)
        v[i] = (float)fabs(v[i] - med);
    sort_floats(v, b->len);
    b->median = med;
    b->mad = median_sorted(v, b->len);
    b->dirty = 0;
}

int qv__perf_get(qv__perf *p, size_t bytes, double *median, double *mad, uint64_t *n)
{
    if (!p)
        return -1;
    unsigned k = qv__perf_bucket_of(bytes);
    int rc = -1;
    qv__spin_lock(&p->lock);
    qv__perf_bucket *b = p->b[k];
    if (b && b->len) {
        if (b->dirty)
            bucket_refresh(b);
        if (median)
            *median = b->median;
        if (mad)
            *mad = b->mad;
        if (n)
            *n = b->n;
        rc = 0;
    }
    qv__spin_unlock(&p->lock);
    return rc;
}

QV_API int qv_perfmodel_estimate(const qv_func *f, qv_class c, size_t bytes, double *us)
{
    if (!f || !us || (unsigned)c >= QV_CLASS_COUNT)
        return qv__fail(QV_EINVAL, "qv_perfmodel_estimate: bad argument");
    if (!qv__rt_ok(f->rt))
        return qv__fail(QV_EINVAL, "qv_perfmodel_estimate: %s", qv__rt_why(f->rt));
    if (qv__perf_get(f->perf[c], bytes, us, NULL, NULL) != 0)
        return qv__fail(QV_ENOENT, "no measurement of '%s' on %s for %zu bytes yet",
                        f->name, qv_class_name(c), bytes);
    return 0;
}

/* ---- the file ---------------------------------------------------------- */

void qv__perf_file_clear(qv__perf_file *pf)
{
    for (size_t i = 0; i < pf->n; i++)
        free(pf->e[i].func);
    free(pf->e);
    free(pf->by_name);
    pf->e = NULL;
    pf->by_name = NULL;
    pf->n = pf->cap = 0;
    pf->skipped = 0;
}

/* By name, then in the file's order: of two records of one model the
 * first in the file is adopted, whatever the sort (glibc's keeps the
 * order of equals, others need not: review). */
static int entry_cmp(const void *a, const void *b)
{
    const qv__perf_entry *x = *(qv__perf_entry *const *)a,
                         *y = *(qv__perf_entry *const *)b;
    int order = strcmp(x->func, y->func);
    return order ? order : (x > y) - (x < y);
}

/* pf->by_name, when there is memory: each function's models found in
 * log n (a file of 440 000 models took each qv_func_create 0.1 s, read
 * one by one: adversarial testing). */
static void index_by_name(qv__perf_file *pf)
{
    if (!pf->n || !(pf->by_name = malloc(pf->n * sizeof *pf->by_name)))
        return;
    for (size_t i = 0; i < pf->n; i++)
        pf->by_name[i] = &pf->e[i];
    qsort(pf->by_name, pf->n, sizeof *pf->by_name, entry_cmp);
}

static int perr(char *err, size_t errlen, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int perr(char *err, size_t errlen, unsigned line, const char *fmt, ...)
{
    int k = snprintf(err, errlen, "line %u: ", line);
    va_list ap;
    va_start(ap, fmt);
    if (k >= 0 && (size_t)k < errlen)
        vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return QV_EFORMAT;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!*s || *s == '-' || *s == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_entry(char **tok, unsigned ntok, qv__perf_entry *e)
{
    uint64_t v;
    if (ntok < 6 || qv__pct_decode(tok[1]) || !*tok[1])
        return -1;
    e->cls = QV_CLASS_COUNT;
    for (unsigned c = 0; c < QV_CLASS_COUNT; c++)
        if (!strcmp(tok[2], qv_class_name((qv_class)c)))
            e->cls = c;
    if (e->cls == QV_CLASS_COUNT)
        return -1;
    if (parse_u64(tok[3], &v) || v >= QV__PERF_BUCKETS)
        return -1;
    e->bucket = (unsigned)v;
    if (parse_u64(tok[4], &e->n))
        return -1;
    if (parse_u64(tok[5], &v) || v > QV__PERF_WINDOW || v > e->n || v + 6 != ntok)
        return -1;
    e->len = (unsigned)v;
    for (unsigned i = 0; i < e->len; i++) {
        char *end;
        errno = 0;
        double d = qv__strtod_c(tok[6 + i], &end);
        if (errno || *end || !isfinite(d) || d < 0 || d > QV__PERF_US_MAX)
            return -1;
        e->win[i] = (float)d;
    }
    return 0;
}

/* Appends e (its name copied from name) to out: 0 or QV_ENOMEM. */
static int keep_entry(qv__perf_file *out, qv__perf_entry *e, const char *name)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 16;
        qv__perf_entry *ne = realloc(out->e, cap * sizeof *ne);
        if (!ne)
            return QV_ENOMEM;
        out->e = ne;
        out->cap = cap;
    }
    e->func = strdup(name);
    if (!e->func)
        return QV_ENOMEM;
    out->e[out->n++] = *e;
    return 0;
}

/* An m line of ntok tokens (ntok past MAXTOK: too many to hold) into out,
 * or skipped: one record that does not read loses that model alone, not
 * every model in the file (a count the writer wrapped once lost them all:
 * adversarial testing). The first skipped line goes to err. 0 or
 * QV_ENOMEM. */
static int take_record(char **tok, unsigned ntok, unsigned maxtok, unsigned lineno,
                       qv__perf_file *out, char *err, size_t errlen)
{
    qv__perf_entry e;
    memset(&e, 0, sizeof e);
    if (ntok <= maxtok && !parse_entry(tok, ntok, &e)) {
        if (keep_entry(out, &e, tok[1])) {
            snprintf(err, errlen, "out of memory");
            return QV_ENOMEM;
        }
        return 0;
    }
    if (!out->skipped++)
        perr(err, errlen, lineno, "malformed model record");
    return 0;
}

int qv__perf_parse(const char *data, size_t len, const char *host,
                   qv__perf_file *out, char *err, size_t errlen)
{
    enum { MAXTOK = 6 + QV__PERF_WINDOW + 1 };
    memset(out, 0, sizeof *out);
    if (errlen)
        err[0] = 0;
    char line[4096];
    size_t pos = 0;
    unsigned lineno = 0, nm = 0;
    int seen_end = 0, rc = 0;
    while (pos < len && !rc) {
        size_t l = 0;
        while (pos < len && data[pos] != '\n') {
            if (l + 1 >= sizeof line) {
                rc = perr(err, errlen, lineno + 1, "longer than %zu bytes", sizeof line);
                break;
            }
            if (data[pos] == 0) {
                rc = perr(err, errlen, lineno + 1, "NUL byte");
                break;
            }
            line[l++] = data[pos++];
        }
        if (rc)
            break;
        if (pos >= len) {
            rc = perr(err, errlen, lineno + 1, "no newline: the file is truncated");
            break;
        }
        pos++;
        line[l] = 0;
        lineno++;
        char *tok[MAXTOK];
        unsigned ntok = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
            if (ntok == MAXTOK) {
                ntok++;
                break;
            }
            tok[ntok++] = t;
        }
        if (seen_end) {
            rc = perr(err, errlen, lineno, "text after the end line");
        } else if (lineno == 1) {
            if (ntok != 2 || strcmp(tok[0], "quiver-perfmodel") || strcmp(tok[1], "1"))
                rc = perr(err, errlen, 1, "not a quiver performance-model file (version 1)");
        } else if (lineno == 2) {
            if (ntok != 2 || strcmp(tok[0], "host"))
                rc = perr(err, errlen, 2, "expected 'host NAME'");
            else if (host && strcmp(tok[1], host))
                rc = perr(err, errlen, 2, "models of host '%s', not of this host '%s'",
                          tok[1], host);
        } else if (ntok >= 1 && !strcmp(tok[0], "m")) {
            /* Counted for the end line whether it reads or not: the count
             * checks the frame (a file cut or spliced), not the records. */
            rc = take_record(tok, ntok, MAXTOK, lineno, out, err, errlen);
            nm++;
        } else if (ntok == 2 && !strcmp(tok[0], "end")) {
            uint64_t cnt;
            if (parse_u64(tok[1], &cnt) || cnt != nm)
                rc = perr(err, errlen, lineno, "end line counts a different number of "
                          "records: the file is damaged");
            seen_end = 1;
        } else {
            rc = perr(err, errlen, lineno, "unknown record");
        }
    }
    if (!rc && !seen_end)
        rc = perr(err, errlen, lineno, "no end line: the file is truncated");
    if (rc)
        qv__perf_file_clear(out);
    return rc;
}

/* ---- runtime glue ------------------------------------------------------ */

/* path and its parents made (0755); -1 with errno set (a path past
 * PATH_MAX: ENAMETOOLONG, from mkdir). */
static int mkdir_p(const char *path)
{
    char *tmp = strdup(path);
    if (!tmp || !*tmp) {
        free(tmp);
        errno = tmp ? ENOENT : ENOMEM;
        return -1;
    }
    int rc = 0;
    for (char *p = tmp + 1; *p && !rc; p++) {
        if (*p == '/') {
            *p = 0;
            rc = mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
            *p = '/';
        }
    }
    if (!rc)
        rc = mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
    int e = errno;
    free(tmp);
    errno = e;
    return rc;
}

static void host_name(char *buf, size_t n)
{
    if (gethostname(buf, n) != 0 || !buf[0])
        snprintf(buf, n, "unknown");
    buf[n - 1] = 0;
    for (char *p = buf; *p; p++)
        if (*p == '/' || *p == ' ' || (unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
            *p = '_';
}

/* The models in the file at path, into *out: 0; -ENOENT when there is no
 * file, -ENOMEM, or another error with why (out is then empty). Never
 * blocks (a FIFO at the path is refused), and a file over 64 MiB is
 * refused before it is read (common/qv_file.h). */
static int read_models(const char *path, qv__perf_file *out, char *why, size_t wn)
{
    char *data, fwhy[QV__FILE_WHY], host[256];
    size_t len;
    memset(out, 0, sizeof *out);
    int rc = qv__file_load(path, qv__perf_file_max, &data, &len, fwhy);
    if (rc) {
        snprintf(why, wn, "%s", fwhy);
        return rc == -ENOENT || rc == -ENOMEM ? rc : -EINVAL;
    }
    host_name(host, sizeof host);
    rc = qv__perf_parse(data, len, host, out, why, wn);
    free(data);
    if (rc) {
        qv__perf_file_clear(out);
        return -EINVAL;
    }
    return 0;
}

int qv__perf_open(qv_runtime *rt)
{
    const char *dir = rt->opts.perfmodel_dir, *tail = "";
    if (dir && !*dir)
        return 0; /* persistence off */
    if (!dir) {   /* any length: a fixed buffer cut a long one, silently */
        const char *xdg = getenv("XDG_CACHE_HOME");
        const char *home = getenv("HOME");
        if (xdg && *xdg)
            dir = xdg, tail = "/quiver";
        else if (home && *home)
            dir = home, tail = "/.cache/quiver";
        else
            return 0;
    }
    char host[256];
    host_name(host, sizeof host);
    size_t dlen = strlen(dir) + strlen(tail) + 1;
    size_t plen = dlen + strlen(host) + 32;
    rt->perfmodel_dir = malloc(dlen);
    if (rt->perfmodel_dir)
        snprintf(rt->perfmodel_dir, dlen, "%s%s", dir, tail);
    dir = rt->perfmodel_dir;
    rt->perfmodel_path = malloc(plen);
    if (!rt->perfmodel_dir || !rt->perfmodel_path)
        return QV_ENOMEM;
    snprintf(rt->perfmodel_path, plen, "%s/perfmodel-%s.txt", dir, host);

    qv__perf_file *pf = calloc(1, sizeof *pf);
    if (!pf)
        return QV_ENOMEM;
    char why[256];
    int rc = read_models(rt->perfmodel_path, pf, why, sizeof why);
    if (rc) {
        free(pf);
        if (rc == -ENOMEM)
            return QV_ENOMEM;
        if (rc != -ENOENT) /* else the first run on this host */
            qv__log(1, "performance models %s: %s; ignoring the file, it will be rebuilt",
                    rt->perfmodel_path, why);
        return 0;
    }
    if (pf->skipped)
        qv__log(1, "performance models %s: %s; %u record%s skipped, the others kept",
                rt->perfmodel_path, why, pf->skipped, pf->skipped == 1 ? "" : "s");
    index_by_name(pf);
    rt->loaded_models = pf;
    return 0;
}

void qv__perf_adopt(qv_runtime *rt, qv_func *f)
{
    for (unsigned c = 0; c < QV_CLASS_COUNT; c++)
        if (!f->perf[c])
            f->perf[c] = qv__perf_create();
    qv__perf_file *pf = rt->loaded_models;
    if (!pf)
        return;
    /* Its models: from the first of its name in by_name, else all. */
    size_t i = 0;
    if (pf->by_name) {
        size_t hi = pf->n;
        while (i < hi) {
            size_t mid = i + (hi - i) / 2;
            if (strcmp(pf->by_name[mid]->func, f->name) < 0)
                i = mid + 1;
            else
                hi = mid;
        }
    }
    for (; i < pf->n; i++) {
        qv__perf_entry *e = pf->by_name ? pf->by_name[i] : &pf->e[i];
        int order = strcmp(e->func, f->name);
        if (order && pf->by_name)
            break; /* past its models */
        qv__perf *p = f->perf[e->cls];
        if (!p || order || p->b[e->bucket])
            continue;
        qv__perf_bucket *b = calloc(1, sizeof *b);
        if (!b)
            continue;
        for (unsigned k = 0; k < e->len; k++)
            bucket_push(b, e->win[k]);
        b->n = e->n;
        p->b[e->bucket] = b;
    }
}

/* Bytes a name's token cannot hold as they are: written as %XX. */
static bool escaped(unsigned char c)
{
    return c <= 0x20 || c >= 0x7f || c == '%';
}

/* Its bytes written. */
static size_t write_name(FILE *f, const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (escaped(*p)) {
            fprintf(f, "%%%02X", *p);
            n += 3;
        } else {
            fputc(*p, f);
            n++;
        }
    }
    return n;
}

/* A name the reader's line holds once escaped, beside a window of numbers
 * (32 of at most 16 characters): longer ones are not saved, else the
 * next run would refuse the file and lose every model in it. */
#define NAME_SAVED_MAX 2048
static bool name_fits(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n <= NAME_SAVED_MAX; p++)
        n += escaped(*p) ? 3 : 1;
    return n <= NAME_SAVED_MAX;
}

/* The longest record write_bucket writes: its name, its class, bucket,
 * count and fill, and 32 numbers of at most 16 characters. */
#define RECORD_MAX (NAME_SAVED_MAX + 64 + QV__PERF_WINDOW * 17)

/* Writes one record: its bytes, or 0 when its name is not saved. */
static size_t write_bucket(FILE *f, const char *func, unsigned cls, unsigned k,
                           uint64_t n, const float *win, unsigned len, unsigned pos)
{
    if (!name_fits(func))
        return 0;
    if (n < len) /* the reader refuses fewer ever than kept */
        n = len;
    fputs("m ", f);
    size_t out = 2 + write_name(f, func);
    int w = fprintf(f, " %s %u %llu %u", qv_class_name((qv_class)cls), k,
                    (unsigned long long)n, len);
    out += w > 0 ? (size_t)w : 0;
    /* Oldest first, so that reloading keeps the window's order. */
    unsigned start = len < QV__PERF_WINDOW ? 0 : pos;
    for (unsigned i = 0; i < len; i++) {
        w = fprintf(f, " %.9g", (double)win[(start + i) % QV__PERF_WINDOW]);
        out += w > 0 ? (size_t)w : 0;
    }
    fputc('\n', f);
    return out + 1;
}

/* Whether rt measured e's (function, class, bucket) itself: its own
 * model then replaces e. One it only loaded does not (another runtime may
 * have measured it since: code review). Under reg_mu. */
static bool held(qv_runtime *rt, const qv__perf_entry *e)
{
    qv_func *fn = qv__func_named(rt, e->func);
    qv__perf *p = fn && e->cls < QV_CLASS_COUNT ? fn->perf[e->cls] : NULL;
    if (!p)
        return false;
    qv__spin_lock(&p->lock);
    bool has = e->bucket < QV__PERF_BUCKETS && p->b[e->bucket] && p->b[e->bucket]->len &&
               p->b[e->bucket]->measured;
    qv__spin_unlock(&p->lock);
    return has;
}

static int perf_write(qv_runtime *rt)
{
    if (!rt->perfmodel_path)
        return 0;
    if (mkdir_p(rt->perfmodel_dir) != 0) {
        int e = errno ? errno : EIO;
        return qv__fail(-e, "cannot create %s: %s", rt->perfmodel_dir, strerror(e));
    }
    size_t tlen = strlen(rt->perfmodel_path) + 16;
    char *tmp = malloc(tlen);
    if (!tmp)
        return QV_ENOMEM;
    /* A name of its own: two runtimes of one process save at once, and a
     * shared one had each rename the other's half-written file. */
    snprintf(tmp, tlen, "%s.XXXXXX", rt->perfmodel_path);
    int fd = mkstemp(tmp);
    if (fd >= 0)
        fchmod(fd, 0644); /* as a file fopen makes, not mkstemp's 0600 */
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        qv__fail(-e, "cannot write %s: %s", tmp, strerror(e));
        free(tmp);
        return -e;
    }
    /* Read, merge and rename under a lock of the file's: runtimes that
     * share the file (of this process or others) each keep what the others
     * learnt of the functions and sizes they did not measure (the last
     * save once replaced the whole file: adversarial testing). Without the
     * lock (a directory not writable for it), merged all the same. */
    size_t llen = strlen(rt->perfmodel_path) + 8;
    char *lpath = malloc(llen);
    int lfd = -1;
    if (lpath) {
        snprintf(lpath, llen, "%s.lock", rt->perfmodel_path);
        lfd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        while (lfd >= 0 && flock(lfd, LOCK_EX) != 0 && errno == EINTR)
            ;
        free(lpath);
    }
    /* The file as it is now: another runtime (of this process or another)
     * may have saved since this one loaded it. */
    qv__perf_file cur;
    char why[256];
    bool fresh = read_models(rt->perfmodel_path, &cur, why, sizeof why) == 0;
    char host[256];
    host_name(host, sizeof host);
    int w = fprintf(f, "quiver-perfmodel 1\nhost %s\n", host);
    /* Within what the reader takes, its end line aside: past it, the next
     * run refused the file whole, and every model in it was lost
     * (adversarial testing: a file that had grown to 64 MiB). What does
     * not fit is left out: the models kept from earlier runs, oldest
     * last, after this run's own. */
    size_t out = w > 0 ? (size_t)w : 0,
           room = qv__perf_file_max > 32 ? qv__perf_file_max - 32 : 0;
    unsigned count = 0, left_out = 0;
    pthread_mutex_lock(&rt->reg_mu);
    for (size_t i = 0; i < rt->nfuncs; i++) {
        qv_func *fn = rt->funcs[i];
        for (unsigned c = 0; c < QV_CLASS_COUNT; c++) {
            qv__perf *p = fn->perf[c];
            if (!p)
                continue;
            qv__spin_lock(&p->lock);
            for (unsigned k = 0; k < QV__PERF_BUCKETS; k++) {
                qv__perf_bucket *b = p->b[k];
                /* Only what this run measured: what it loaded comes from
                 * the file as it is now, below. */
                if (b && b->len && b->measured) {
                    size_t n = out + RECORD_MAX <= room
                                   ? write_bucket(f, fn->name, c, k, b->n, b->win, b->len,
                                                  b->pos)
                                   : 0;
                    count += n > 0;
                    left_out += out + RECORD_MAX > room;
                    out += n;
                }
            }
            qv__spin_unlock(&p->lock);
        }
    }
    /* Keep what this run did not measure: the file's models as they are
     * now (what it loaded, and what others saved since), or, when the
     * file is gone or does not read, what it loaded at the start. */
    qv__perf_file *pf = fresh ? &cur : rt->loaded_models;
    for (size_t i = 0; pf && i < pf->n; i++) {
        qv__perf_entry *e = &pf->e[i];
        if (held(rt, e))
            continue;
        size_t n = out + RECORD_MAX <= room ? write_bucket(f, e->func, e->cls, e->bucket,
                                                           e->n, e->win, e->len, 0)
                                            : 0;
        count += n > 0;
        left_out += out + RECORD_MAX > room;
        out += n;
    }
    pthread_mutex_unlock(&rt->reg_mu);
    qv__perf_file_clear(&cur);
    fprintf(f, "end %u\n", count);
    int bad = ferror(f);
    int rc = 0;
    if (fclose(f) != 0 || bad || rename(tmp, rt->perfmodel_path) != 0) {
        int e = errno ? errno : EIO;
        unlink(tmp);
        rc = qv__fail(-e, "cannot write %s: %s", rt->perfmodel_path, strerror(e));
    } else if (left_out) {
        qv__log(1,
                "%s: %u models left out, the file at its limit of %zu bytes (the models "
                "saved longest ago, after this run's own)",
                rt->perfmodel_path, left_out, qv__perf_file_max);
    }
    if (lfd >= 0)
        close(lfd); /* and the lock with it */
    free(tmp);
    return rc;
}

int qv__perf_write(qv_runtime *rt)
{
    locale_t old = qv__c_numbers_begin(); /* files others read */
    int rc = perf_write(rt);
    qv__c_numbers_end(old);
    return rc;
}

void qv__perf_close(qv_runtime *rt)
{
    if (rt->loaded_models) {
        qv__perf_file_clear(rt->loaded_models);
        free(rt->loaded_models);
        rt->loaded_models = NULL;
    }
    free(rt->perfmodel_dir);
    free(rt->perfmodel_path);
    rt->perfmodel_dir = rt->perfmodel_path = NULL;
}

QV_API int qv_perfmodel_save(qv_runtime *rt)
{
    if (!qv__rt_ok(rt))
        return qv__fail(QV_EINVAL, "qv_perfmodel_save: %s", qv__rt_why(rt));
    return qv__perf_write(rt);
}

QV_API const char *qv_perfmodel_path(const qv_runtime *rt)
{
    return qv__rt_ok(rt) && rt->perfmodel_path ? rt->perfmodel_path : "";
}
