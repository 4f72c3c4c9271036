/*
 * default_path.h - which runtime policy a program reads when it names none.
 *
 * qv_runtime_create (and `quiver devices`) read, in this order:
 *   1. qv_options.config, when not NULL ("" for no file at all, as for 2.);
 *   2. $QV_CONFIG, when set: a path, or "" for no file at all (the built-in
 *      defaults: the CPU and OpenCL, no boards, no catalog);
 *   3. the default policy that ships with this library, "the embedded
 *      default": <datadir>/quiver/quiver.yaml of the installation the library
 *      was loaded from (found relative to the library, so that a moved
 *      install still finds its own), or of the build tree it was built in;
 *   4. none: the built-in defaults.
 */
#ifndef QV_CONFIG_DEFAULT_PATH_H
#define QV_CONFIG_DEFAULT_PATH_H

#include <stddef.h>

/* The policy file to read given the caller's choice `given` (may be NULL),
 * by the order above; NULL for none. The result is `given`, getenv's string
 * or a string that lives as long as the process; read it before the
 * environment changes. Any thread. */
const char *qv__config_path(const char *given);

/* Step 3 for a library or program at `object` (an absolute file name): the
 * first of <dir>/<libdir to datadir>/quiver/quiver.yaml,
 * <dir>/<bindir to datadir>/quiver/quiver.yaml, the build tree's copy
 * (when `object` lies in the build tree) and the configured
 * <datadir>/quiver/quiver.yaml that is a regular file, into out[size].
 * Returns 0, or QV_ENOENT when there is none (out is then ""). */
int qv__config_default_find(const char *object, char *out, size_t size);

#endif
