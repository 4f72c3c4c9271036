/*
 * pending.h - deferred wrapped calls (`quiver wrap --defer`): a call's
 * outputs are computed into private buffers while the caller goes on, and
 * land in the caller's memory when anything first touches it (pending.c).
 */
#ifndef QV_WRAP_PENDING_H
#define QV_WRAP_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include "quiver.h"
#include "quiver_wrap.h"

/* What qv__pend_call did with a call. */
enum {
    QV__PEND_DONE = 0, /* submitted; the outputs land when touched */
    QV__PEND_SYNC = 1, /* cannot be deferred: run it synchronously */
    QV__PEND_FAIL = 2  /* the runtime refused it: run __real_ (nothing the
                        * caller can see was changed) */
};

/* What happened to the outputs of one wrapped function's deferred calls. */
typedef struct qv__pend_counters {
    _Atomic unsigned long long touches; /* landed because something touched
                                         * their memory */
    _Atomic unsigned long long lost;    /* their task ran nowhere: they kept
                                         * what they held before the call */
} qv__pend_counters;

/* 1 when this process can defer calls (userfaultfd that handles the
 * kernel's own accesses too); made once. *why says why not (NULL when it
 * can). */
int qv__pend_available(const char **why);

/* Submits one call of f on rt deferred (c: fn's counters): each buffer argument i (bytes[i]
 * bytes at argv[i], mode fn->args[i].mode) gets a private copy, or the
 * private buffer of the pending output it is; outputs become pending.
 * `region` names the region that a run of deferred calls between two
 * touches makes. Thread-safe. */
int qv__pend_call(qv_runtime *rt, qv_func *f, const qv_wrap_fn *fn, void *const *argv,
                  const size_t *bytes, const char *region, qv__pend_counters *c);

/* Lands every pending output whose pages meet [p, p + n) (waiting for
 * their tasks): before a synchronous call reads or writes that memory. */
void qv__pend_settle(const void *p, size_t n);

/* Lands every pending output; with `stop`, also ends deferral in this
 * process (at exit, before the runtime goes: every private buffer is
 * unregistered). */
void qv__pend_settle_all(int stop);
/* This process is a child made without fork()'s handlers (_Fork, a raw
 * clone; wrap.c tells it by its pid): no call defers or lands here. */
void qv__pend_forked(void);

/* The pages of pending outputs that meet [lo, hi), as ranges in out (at
 * most max); returns how many there are (more than max: not all told).
 * Reading them would land their outputs. The caller has the asynchronous
 * signals blocked (qv__signals_block). */
size_t qv__pend_pages(uintptr_t lo, uintptr_t hi, uintptr_t (*out)[2], size_t max);

/* Closes the calling thread's region of deferred calls (a synchronous call
 * follows them). */
void qv__pend_region_close(void);

#endif
