/*
 * profraw.h - the raw profile that libquiver-profile.so writes at a
 * process's exit (qvprof.<pid>.txt, docs/profile.md "The raw profile") and
 * its one reader, for `quiver profile`. A line-based text format: each line
 * a record, its first word the kind; addresses as module index and offset
 * in the module's file (PIE and shared objects load anywhere), times in ns.
 */
#ifndef QV_PROFILE_PROFRAW_H
#define QV_PROFILE_PROFRAW_H

#include <stddef.h>
#include <stdint.h>

#include "quiver/config.h"
#include "qv_itab.h"

#define QV__PROF_NOTE_SCALARS 8

/* Where a function is: module >= 0 and the offset in its file;
 * QV__PROF_ROOT for the caller of a call from uninstrumented code;
 * QV__PROF_NOMOD for an address in no module (off is the address). */
#define QV__PROF_ROOT (-1)
#define QV__PROF_NOMOD (-2)
typedef struct qv__prof_addr {
    int32_t module;
    uint64_t off;
} qv__prof_addr;

#define QV__PROF_BUILD_ID_MAX 64 /* bytes */

/* A module, and the identity of the file that ran, which the file now at
 * path is checked against: its GNU build-id (a build-id line), else its
 * stat (a file line), else none (a profile of an older library). */
typedef struct qv__prof_module {
    uint32_t id;
    char *path;
    unsigned build_id_len; /* bytes; 0: no build-id line */
    uint8_t build_id[QV__PROF_BUILD_ID_MAX];
    int has_file;      /* a file line: the four below */
    uint64_t dev, ino; /* st_dev, st_ino */
    uint64_t size;     /* bytes */
    uint64_t mtime_ns; /* st_mtim, ns since the epoch */
} qv__prof_module;

typedef struct qv__prof_thread {
    uint32_t id;
    double span_ns;            /* first call to last return (or exit) */
    uint64_t open_at_exit;     /* frames closed at exit */
    uint64_t unpaired;         /* exits that did not match the top frame */
    uint64_t skipped;          /* hooks re-entered (signal handlers) */
    uint64_t dropped;          /* calls past the tables' capacity */
} qv__prof_thread;

/* A function's outermost activations in one thread. */
typedef struct qv__prof_fn {
    uint32_t thread; /* index into threads */
    qv__prof_addr fn;
    uint64_t outer;  /* completed outermost activations */
    double incl_ns;  /* their time */
    uint64_t desc;   /* calls made under them */
} qv__prof_fn;

/* caller -> callee in one thread. */
typedef struct qv__prof_arc {
    uint32_t thread;
    qv__prof_addr callee, caller;
    uint64_t calls;
    double incl_ns;    /* calls where the callee was not already open */
    double self_ns;    /* less the direct children's spans */
    uint64_t children; /* direct calls made */
    uint64_t desc;     /* calls made at any depth */
} qv__prof_arc;

typedef struct qv__prof_note {
    uint64_t count;
    char *fn;
    unsigned n;
    char *names[QV__PROF_NOTE_SCALARS];
    long long values[QV__PROF_NOTE_SCALARS];
} qv__prof_note;

typedef struct qv__prof_raw {
    long pid, ppid;
    double ns_per_tick;
    double probe_in_ns;   /* hook cost inside a call's own span */
    double probe_pair_ns; /* a call's whole hook cost as its caller sees it */
    uint64_t wall_ns;     /* library start to exit */
    uint64_t notes_dropped;
    qv__prof_module *modules;
    size_t nmodules;
    qv__itab by_id; /* modules by id (profraw.c) */
    qv__prof_thread *threads;
    size_t nthreads;
    qv__prof_fn *fns;
    size_t nfns;
    qv__prof_arc *arcs;
    size_t narcs;
    qv__prof_note *notes;
    size_t nnotes;
} qv__prof_raw;

/* Reads a raw profile from text[0..len) (fname names it in messages).
 * 0, or QV_EFORMAT with diag at file:line:column saying what was
 * expected; QV_ENOMEM. *out is the caller's (qv__prof_raw_free). */
int qv__prof_raw_parse(const char *text, size_t len, const char *fname, qv__prof_raw **out,
                       qv_diag *diag);
/* The same from a file; -errno when it cannot be read. */
int qv__prof_raw_load(const char *path, qv__prof_raw **out, qv_diag *diag);
void qv__prof_raw_free(qv__prof_raw *r); /* NULL is fine */
/* Module id of r, or NULL; by a hash of the ids (a profile of 60 000
 * modules took 24 s with a linear search per address). */
const qv__prof_module *qv__prof_raw_find(const qv__prof_raw *r, int32_t id);
/* The path of module id in r, or NULL. */
const char *qv__prof_raw_module(const qv__prof_raw *r, int32_t id);

#endif
