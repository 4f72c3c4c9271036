/*
 * part.h - a part of a replayed plan shipped whole to a remote board: the
 * consecutive calls that the plan puts on one remote board, run there as
 * one task whose launch is one RUN of all of them (part.c). What the
 * remote backend needs to send it.
 */
#ifndef QV_CORE_PART_H
#define QV_CORE_PART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quiver.h"

#define QV__PART_MAX  8  /* calls in a part */
#define QV__PART_TMPS 16 /* buffers that stay on the board, per part */

enum { QV__PART_ARG = 1, QV__PART_TMP = 2 };

/* The shape of a part: its calls' functions, and for each argument of
 * each call where it comes from: argument idx of the part's task (ARG),
 * or intermediate buffer idx (TMP), which only the calls of the part use
 * and which stays on the board. */
typedef struct qv__part_shape {
    unsigned n;
    qv_func *memb[QV__PART_MAX];
    uint8_t role[QV__PART_MAX][QV_MAX_ARGS];
    uint8_t idx[QV__PART_MAX][QV_MAX_ARGS];
    unsigned ntmp;
    size_t tmp_size[QV__PART_TMPS];
    /* The part's task's arguments: call src_j's argument src_i, with the
     * modes of every call that names the buffer. */
    unsigned nargs;
    uint8_t src_j[QV_MAX_ARGS], src_i[QV_MAX_ARGS];
    unsigned mode[QV_MAX_ARGS];
    /* Calls that write an intermediate: kept deferred as recipes. */
    bool recipe[QV__PART_MAX];
} qv__part_shape;

struct qv__part {
    struct qv__part *next; /* rt->parts, under reg_mu */
    qv__part_shape s;
    qv_func *pf; /* the part's task's function */
};

#endif
