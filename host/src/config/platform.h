/*
 * platform.h - a platform file: the named resources a plan may use, as in
 * DESIGN.md ("Files"). The runtime and `quiver check` read it here; the
 * partition library keeps its own reader (partition/src/platform.c) with the
 * same keys, so that it stays free of runtime dependencies.
 *
 * Schema (docs/config/platform.md):
 *   platform: workstation                 required, a name
 *   resources:                            required, 1..64 entries
 *     - name: gpu0                        required, unique
 *       class: cpu | gpu | fpga | remote  required
 *       units: 1                          1..4096
 *       speed: 1.0                        relative to cost_us in graphs
 *       cost_per_hour: 0.0                default: the board's
 *       link: {bandwidth_gbs: 12.0, latency_us: 10}
 *                                         not for cpu (host memory); for
 *                                         others, required unless the board
 *                                         gives one
 *       board: ../boards/u250.yaml        a board file of the same class
 */
#ifndef QV_CONFIG_PLATFORM_H
#define QV_CONFIG_PLATFORM_H

#include "config/board.h"

#define QV__PLATFORM_MAX_RESOURCES 64

typedef struct qv__pres {
    char *name;
    qv_class cls;
    unsigned units;
    double speed;
    double cost_per_hour;
    double bandwidth_gbs; /* 0 for cpu */
    double latency_us;
    qv__board *board; /* NULL when none is named */
} qv__pres;

typedef struct qv__platform {
    char *path;
    char *name;
    qv__pres *res;
    size_t nres;
} qv__platform;

int qv__platform_load(const char *path, qv__platform **out, qv_diag *diag);
int qv__platform_from_doc(const qv__ydoc *doc, qv__platform **out, qv_diag *diag);
void qv__platform_free(qv__platform *p);

#endif
