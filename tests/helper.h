/*
 * helper.h - small helpers shared by the tests: cmocka includes in the
 * order cmocka wants, a scratch directory per test program, and runtime
 * options that keep tests away from the user's model cache.
 */
#ifndef QV_TESTS_HELPER_H
#define QV_TESTS_HELPER_H

#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* Exit status that ctest reports as skipped. */
#define QV_TEST_SKIP 77

/* A fresh directory under $TMPDIR for this test program; removed by
 * qv_test_scratch_remove. */
static inline const char *qv_test_scratch(void)
{
    static char dir[256];
    if (!dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/qvtest.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(1);
        }
    }
    return dir;
}

static inline void qv_test_scratch_remove(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", qv_test_scratch());
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", qv_test_scratch());
}

/* Reads a whole file into a NUL-terminated string (caller frees). */
static inline char *qv_test_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    if (s) {
        s[n] = 0;
        if (len)
            *len = (size_t)n;
    }
    return s;
}

/* Sets LC_NUMERIC to a locale whose decimal point is a comma: an installed
 * one, or fr_FR made by localedef into the scratch directory (LOCPATH),
 * from the locales package's sources (the bootstrap installs them, so CI
 * runs these tests). false where none can be had: the caller skips. */
static inline bool qv_test_comma_locale(void)
{
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (setlocale(LC_NUMERIC, names[i]) && localeconv()->decimal_point[0] == ',')
            return true;
    static int made; /* localedef once a process (a second or so) */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "localedef -i fr_FR -f UTF-8 '%s/qvcomma' >/dev/null 2>&1",
             qv_test_scratch());
    if (made || (made = system(cmd) !=
                        -1)) { /* (warnings exit 1, the locale made all the same) */
        setenv("LOCPATH", qv_test_scratch(), 1);
        if (setlocale(LC_NUMERIC, "qvcomma") && localeconv()->decimal_point[0] == ',')
            return true;
    }
    setlocale(LC_NUMERIC, "C");
    return false;
}

/* The length of the longest quoted string in DOT text s (n bytes), as
 * written, escapes included: Graphviz refuses a file with one longer than
 * 16384 bytes. */
static inline size_t qv_test_dot_longest_string(const char *s, size_t n)
{
    size_t longest = 0, start = 0;
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        if (in && s[i] == '\\') {
            i++;
        } else if (s[i] == '"') {
            if (in && i - start > longest)
                longest = i - start;
            in = !in;
            start = i + 1;
        }
    }
    return longest;
}

#endif
