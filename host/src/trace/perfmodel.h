/*
 * perfmodel.h - performance models per (function, device class, size
 * bucket), robust to outliers, persisted per host.
 *
 * A bucket keeps the last QV__PERF_WINDOW measured times; its estimate is
 * their median and its spread their median absolute deviation, so a few
 * spikes (a page fault, a preempted worker: 100x the usual time) move
 * neither. Sizes are bucketed by powers of two of the bytes a call touches.
 */
#ifndef QV_TRACE_PERFMODEL_H
#define QV_TRACE_PERFMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/internal.h"

#define QV__PERF_BUCKETS 49 /* bucket b holds sizes in [2^(b-1), 2^b) */
#define QV__PERF_WINDOW  32
/* The longest time a model keeps (µs, 11.6 days): longer measurements are
 * kept as this, so that every time saved is one the file's reader takes. */
#define QV__PERF_US_MAX 1e12
/* The largest model file read (bytes); a save writes no more. Tests
 * lower qv__perf_file_max, which both obey. */
#define QV__PERF_FILE_MAX (64u << 20)
extern size_t qv__perf_file_max;

typedef struct qv__perf_bucket {
    uint64_t n;                      /* samples ever added */
    unsigned len, pos;               /* window fill, next slot */
    float    win[QV__PERF_WINDOW];   /* µs */
    int      dirty;
    int      measured;               /* this run added samples (not only
                                      * loaded them): its save wins */
    uint64_t last_ns;                /* qv__now_ns of its last sample in
                                      * this run; 0: none yet */
    uint64_t probe_ns;               /* the last refresh sent; 0: none */
    uint32_t passed;                 /* calls placement weighed it for and
                                      * sent elsewhere since its last
                                      * sample or refresh */
    double   median, mad;            /* µs, valid when !dirty */
} qv__perf_bucket;

struct qv__perf {
    qv__spin         lock;
    qv__perf_bucket *b[QV__PERF_BUCKETS];
};

unsigned qv__perf_bucket_of(size_t bytes);

qv__perf *qv__perf_create(void);
void      qv__perf_free(qv__perf *p);
/* Adds one measurement (µs). Thread-safe; drops it when out of memory. */
void      qv__perf_add(qv_func *f, qv_class c, size_t bytes, double us);
/* The same, of a call that ended at now_ns. refresh: the call was sent to
 * refresh the bucket (qv__perf_refresh_due); when it ran much faster than
 * the bucket's median, the window starts over from it. */
void qv__perf_add_at(qv_func *f, qv_class c, size_t bytes, double us, uint64_t now_ns,
                     bool refresh);
/* A call that placement weighed the bucket of `bytes` for, predicted at
 * price_us there, went elsewhere: whether the bucket is due a refresh at
 * now_ns. Due when it holds samples, QV__PERF_REFRESH_PASSED such calls
 * went elsewhere, and neither a sample nor a refresh came for gap_ns or
 * for 100 times price_us, whichever is longer (or none yet in this run:
 * loaded from the file). When due and claim, the refresh is counted as
 * sent now; without claim (this call refreshes another class's model) it
 * stays due, for a later call. */
#define QV__PERF_REFRESH_PASSED 16
bool qv__perf_refresh_due(qv__perf *p, size_t bytes, uint64_t now_ns, uint64_t gap_ns,
                          double price_us, bool claim);
/* Median and MAD of the bucket of `bytes`; -1 when it holds no sample. */
int       qv__perf_get(qv__perf *p, size_t bytes, double *median, double *mad,
                       uint64_t *n);

/* A model entry as stored in the per-host file. */
typedef struct qv__perf_entry {
    char    *func;
    unsigned cls, bucket;
    uint64_t n;
    unsigned len;
    float    win[QV__PERF_WINDOW];
} qv__perf_entry;

typedef struct qv__perf_file {
    qv__perf_entry *e;
    size_t          n, cap;
    qv__perf_entry **by_name; /* e sorted by function (a loaded file's, for
                               * qv__perf_adopt); NULL: none */
    unsigned skipped; /* m records that did not read, left out */
} qv__perf_file;

/* Parses a model file held in memory. Fails (with a message naming the line
 * in err) on a frame that is malformed (header, end line, its count, a
 * line too long or unterminated), foreign (another host) or truncated; out
 * is then empty. An m record that does not read is left out and counted in
 * out->skipped, the first one's line in err; the others are kept. */
int  qv__perf_parse(const char *data, size_t len, const char *host,
                    qv__perf_file *out, char *err, size_t errlen);
void qv__perf_file_clear(qv__perf_file *pf);

/* Runtime glue: set the path, load it (warning and starting afresh when it
 * is unusable), give a newly registered function what was loaded for its
 * name, and write everything back. */
int  qv__perf_open(qv_runtime *rt);
void qv__perf_adopt(qv_runtime *rt, qv_func *f);
int  qv__perf_write(qv_runtime *rt);
void qv__perf_close(qv_runtime *rt);

#endif
