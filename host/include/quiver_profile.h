/*
 * quiver_profile.h - the one public function of libquiver-profile.so, the
 * library that `quiver profile` preloads into a program built with
 * -finstrument-functions (docs/profile.md, "Profiling").
 *
 * The library records every instrumented call through the compiler's
 * __cyg_profile_func_enter/exit hooks; those hooks never see arguments. A
 * record-only wrapper made by `quiver wrap --record` tells the profile the
 * sizes of a call with qv_profile_note, so that the offload prediction can
 * size the catalog kernel's buffers. Generated code declares it weak and
 * calls it only when its address is not NULL, so a program that uses it
 * links and runs without the library.
 */
#ifndef QUIVER_PROFILE_H
#define QUIVER_PROFILE_H

#ifdef __cplusplus
extern "C" {
#endif

/* One call of `fn` as seen by a record-only wrapper: the values of its
 * integer scalar arguments by name (e.g. n = 4096), so that the offload
 * prediction can size the catalog kernel's buffers. Thread-safe; cheap. */
void qv_profile_note(const char *fn, unsigned nscalars,
                     const char *const *names, const long long *values);

#ifdef __cplusplus
}
#endif
#endif
