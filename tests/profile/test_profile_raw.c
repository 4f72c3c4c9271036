/*
 * test_profile_raw.c - the raw profile reader (host/src/profile/profraw.c):
 * a good file read back field by field (with the identities of its
 * modules' files), each kind of bad file refused
 * at its file:line:column with what was expected, and a file of 200 000
 * modules read in time in proportion to its lines.
 */
#include "helper.h"

#include <time.h>

#include "profile/profraw.h"

static const char good[] = "qvprof 1\n"
                           "process 100 99\n"
                           "clock 0.5 20.25 41\n"
                           "wall 1000000\n"
                           "module 0 /usr/bin/my app\n"
                           "module 1 /tmp/a%0Ab%25c\n"
                           "build-id 1 00c24C7b\n"
                           "module 3 /lib/x.so\n"
                           "file 3 2049 131 16384 1700000000123456789\n"
                           "thread 2 900000 1 3 4 5\n"
                           "fn 0 0x1000 1 900000 3\n"
                           "arc 0 0x1000 - 0 1 900000 1000 3 7\n"
                           "arc ? 0xdead 0 0x1000 2 10 10 0 0\n"
                           "note 5 fir 2 n 4096 taps -64\n"
                           "end 1\n";

static void test_good(void **state)
{
    (void)state;
    qv__prof_raw *r;
    qv_diag d = { 0 };
    assert_int_equal(qv__prof_raw_parse(good, sizeof good - 1, "g", &r, &d), 0);
    assert_int_equal(r->pid, 100);
    assert_int_equal(r->ppid, 99);
    assert_true(r->ns_per_tick == 0.5 && r->probe_in_ns == 20.25 && r->probe_pair_ns == 41);
    assert_int_equal(r->wall_ns, 1000000);
    assert_string_equal(qv__prof_raw_module(r, 0), "/usr/bin/my app");
    assert_string_equal(qv__prof_raw_module(r, 1), "/tmp/a\nb%c");
    assert_null(qv__prof_raw_module(r, 2));
    const qv__prof_module *m0 = qv__prof_raw_find(r, 0), *m1 = qv__prof_raw_find(r, 1);
    const qv__prof_module *m3 = qv__prof_raw_find(r, 3);
    assert_true(m0->build_id_len == 0 && !m0->has_file);
    assert_int_equal(m1->build_id_len, 4);
    assert_memory_equal(m1->build_id, "\x00\xc2\x4c\x7b", 4);
    assert_false(m1->has_file);
    assert_true(m3->has_file && m3->build_id_len == 0);
    assert_true(m3->dev == 2049 && m3->ino == 131 && m3->size == 16384 &&
                m3->mtime_ns == 1700000000123456789ull);
    assert_int_equal(r->nthreads, 1);
    assert_int_equal(r->threads[0].id, 2);
    assert_int_equal(r->threads[0].open_at_exit, 1);
    assert_int_equal(r->threads[0].unpaired, 3);
    assert_int_equal(r->threads[0].skipped, 4);
    assert_int_equal(r->threads[0].dropped, 5);
    assert_int_equal(r->nfns, 1);
    assert_int_equal(r->fns[0].fn.off, 0x1000);
    assert_int_equal(r->fns[0].desc, 3);
    assert_int_equal(r->narcs, 2);
    assert_int_equal(r->arcs[0].caller.module, QV__PROF_ROOT);
    assert_int_equal(r->arcs[0].desc, 7);
    assert_int_equal(r->arcs[1].callee.module, QV__PROF_NOMOD);
    assert_int_equal(r->arcs[1].callee.off, 0xdead);
    assert_int_equal(r->arcs[1].calls, 2);
    assert_int_equal(r->nnotes, 1);
    assert_string_equal(r->notes[0].fn, "fir");
    assert_int_equal(r->notes[0].count, 5);
    assert_string_equal(r->notes[0].names[1], "taps");
    assert_int_equal(r->notes[0].values[1], -64);
    assert_int_equal(r->notes_dropped, 1);
    qv__prof_raw_free(r);
}

static void bad(const char *text, const char *msg)
{
    qv__prof_raw *r = (qv__prof_raw *)1;
    qv_diag d = { 0 };
    assert_int_equal(qv__prof_raw_parse(text, strlen(text), "p.txt", &r, &d), QV_EFORMAT);
    assert_null(r);
    char buf[2200];
    qv_diag_format(&d, buf, sizeof buf);
    if (strcmp(buf, msg))
        fail_msg("got      '%s'\nexpected '%s'", buf, msg);
}

#define HEAD "qvprof 1\nclock 1 1 1\n"

static void test_bad(void **state)
{
    (void)state;
    bad("", "p.txt:1:1: error: expected an 'end' line: the file is cut short (did the program "
            "exit before its profile was written?)");
    bad("gmon\n", "p.txt:1:1: error: expected 'qvprof 1': not a raw profile of libquiver-profile");
    bad("qvprof 2\n", "p.txt:1:1: error: format version 2; this quiver reads version 1");
    bad(HEAD "wall x\n", "p.txt:3:6: error: expected the run's wall time in ns (an unsigned "
                         "integer), got 'x'");
    bad(HEAD "wall 99999999999999999999\n", "p.txt:3:6: error: the run's wall time in ns out "
                                            "of range");
    bad(HEAD "clock 1 -2 3\n", "p.txt:3:9: error: expected the probe's inner cost in ns (a "
                               "number >= 0), got '-2'");
    bad(HEAD "fn 0 0x10 1 1 1\n", "p.txt:3:1: error: expected a thread line before the first "
                                  "fn or arc");
    bad(HEAD "thread 0 1 0 0 0 0\narc 4 0x10 - 0 1 1 1 0 0\n",
        "p.txt:4:5: error: module 4 is not declared by a module line before it");
    bad(HEAD "thread 0 1 0 0 0 0\narc - 0 - 0 1 1 1 0 0\n",
        "p.txt:4:1: error: a callee cannot be '-' (no caller)");
    /* 2^32 + 5 is not module 5, nor module 2^31 - 1 (it read as either) */
    bad(HEAD "module 5 /a\nmodule 2147483647 /b\nthread 0 1 0 0 0 0\n"
             "fn 4294967301 0x10 1 1 1\n",
        "p.txt:6:4: error: module 4294967301 is not declared by a module line before it");
    bad(HEAD "thread 0 1 0 0 0\n", "p.txt:3:17: error: expected the dropped calls");
    bad(HEAD "wall 1 2\n", "p.txt:3:8: error: expected the end of the line, got '2'");
    bad(HEAD "note 1 f 9\n", "p.txt:3:10: error: 9 scalars; at most 8");
    bad(HEAD "note 1 f-g 0\n", "p.txt:3:9: error: expected the function's name (an identifier)");
    bad(HEAD "module 0 /a\nmodule 0 /b\n", "p.txt:4:1: error: module 0 declared twice");
    bad(HEAD "module 0\n", "p.txt:3:9: error: expected the module's path");
    bad(HEAD "gprof 1\n",
        "p.txt:3:1: error: unknown record 'gprof' (expected process, clock, "
        "wall, module, build-id, file, thread, fn, arc, note or end)");
    /* the identity of a module's file: after its module line, once */
    bad(HEAD "build-id 0 abcd\n",
        "p.txt:3:10: error: module 0 is not declared by a module "
        "line before it");
    bad(HEAD "module 0 /a\nbuild-id 0 abc\n",
        "p.txt:4:12: error: a build-id of 3 hex digits; "
        "expected an even number, at most 128");
    bad(HEAD "module 0 /a\nbuild-id 0 ab-d\n",
        "p.txt:4:14: error: expected the build-id (hex "
        "digits)");
    bad(HEAD "module 0 /a\nbuild-id 0\n", "p.txt:4:11: error: expected the build-id");
    bad(HEAD "module 0 /a\nbuild-id 0 ab\nfile 0 1 2 3 4\n",
        "p.txt:5:1: error: module 0 has a build-id line already (one identity per "
        "module)");
    bad(HEAD "module 0 /a\nfile 0 1 2 3\n", "p.txt:4:13: error: expected the file's "
                                            "modification time in ns");
    bad(HEAD "module 0 /a\nfile 0 1 2 -3 4\n",
        "p.txt:4:12: error: expected the file's size "
        "(an unsigned integer), got '-3'");
    bad(HEAD "module 0 /a\nfile 0 1 2 3 4 5\n",
        "p.txt:4:16: error: expected the end of the "
        "line, got '5'");
    bad(HEAD "module 0 /a\nfile 9999999999 1 2 3 4\n",
        "p.txt:4:6: error: module 9999999999 "
        "is not declared by a module line "
        "before it");
    bad(HEAD "end 0\nwall 1\n", "p.txt:4:1: error: expected nothing after the 'end' line");
    bad("qvprof 1\nend 0\n", "p.txt: error: no clock line");
    static const char nul[] = "qvprof 1\nwa\0ll 1\nend 0\n";
    qv__prof_raw *r;
    qv_diag d = { 0 };
    assert_int_equal(qv__prof_raw_parse(nul, sizeof nul - 1, "p.txt", &r, &d), QV_EFORMAT);
    assert_string_equal(d.message, "a NUL byte: not a text file");
    assert_int_equal(d.column, 3);
}

static void test_load(void **state)
{
    (void)state;
    qv__prof_raw *r;
    qv_diag d = { 0 };
    assert_int_equal(qv__prof_raw_load("/nonexistent/qvprof.1.txt", &r, &d), -ENOENT);
    assert_null(r);
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* 200 000 modules, ids out of order, each with a function and an arc:
 * read in well under a second (each module line and each address looked
 * its id up among all the modules: 60 000 took 24 s in quiver profile).
 * CPU time, against a bound 5x and more above the time under ASan. */
static void test_many_modules(void **state)
{
    (void)state;
    enum { N = 200000 };
    size_t cap = (size_t)N * 80 + 256, len = 0;
    char *t = malloc(cap);
    assert_non_null(t);
    len += (size_t)snprintf(t, cap, "qvprof 1\nclock 1 1 1\n");
    for (unsigned i = 0; i < N; i++) /* 7919 is prime to N: every id once */
        len += (size_t)snprintf(t + len, cap - len, "module %u /lib/m%u.so\n",
                                (unsigned)((i * 7919ull) % N), i);
    len += (size_t)snprintf(t + len, cap - len, "thread 0 1 0 0 0 0\n");
    for (unsigned i = 0; i < N; i++)
        len += (size_t)snprintf(t + len, cap - len, "arc %u 0x10 %u 0x20 1 1 1 0 0\n", i,
                                (i + 1) % N);
    len += (size_t)snprintf(t + len, cap - len, "end 0\n");
    assert_true(len < cap);
    qv__prof_raw *r;
    qv_diag d = {0};
    double t0 = cpu_s();
    assert_int_equal(qv__prof_raw_parse(t, len, "many", &r, &d), 0);
    double dt = cpu_s() - t0;
    print_message("200000 modules read in %.3f s of CPU\n", dt);
    assert_true(dt < 6.0);
    assert_int_equal(r->nmodules, N);
    assert_int_equal(r->narcs, N);
    assert_string_equal(qv__prof_raw_module(r, 7919), "/lib/m1.so");
    assert_string_equal(qv__prof_raw_module(r, 0), "/lib/m0.so");
    assert_null(qv__prof_raw_module(r, N));
    assert_null(qv__prof_raw_module(r, -1));
    qv__prof_raw_free(r);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_many_modules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
