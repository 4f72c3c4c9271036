/*
 * platform.h - a platform file: the named resources a plan may use
 * (docs/config/platform.md). This is the one reader of the format: the runtime
 * and `quiver check` use it directly, and the planner's qv_plat_load and
 * qv_plat_parse (partition/src/plat_from_config.c) convert its result, so
 * every reader of a file gives the same verdict and the same message.
 *
 * Schema (docs/config/platform.md):
 *   platform: workstation                 required, a name
 *   resources:                            required, 1..64 entries
 *     - name: gpu0                        required, unique
 *       class: cpu | gpu | fpga | remote  required
 *       units: 1                          1..4096, at most 4096 in all
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
/* Units of all resources together: the planner keeps per-unit timelines and
 * tries every unit for every task, and the runtime accepts what it plans. */
#define QV__PLATFORM_MAX_UNITS 4096

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

/* Loads and validates a platform file, the boards it names included (each
 * through qv__board_load, relative to the file). *out is NULL on error; 0,
 * QV_EFORMAT with diag at the offending value, QV_ENOENT / -errno when the
 * file cannot be read, or QV_ENOMEM. */
int qv__platform_load(const char *path, qv__platform **out, qv_diag *diag);
/* The same from an already parsed document (qv_config_check, the planner). */
int qv__platform_from_doc(const qv__ydoc *doc, qv__platform **out, qv_diag *diag);
void qv__platform_free(qv__platform *p); /* NULL is fine */

#endif
