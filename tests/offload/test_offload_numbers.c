/*
 * test_offload_numbers.c - read_numbers (examples/offload/numbers.c), the
 * reader of the offload example's text files: every good-* file of its fuzz
 * corpus (tests/fuzz/offload/corpus) is read, every bad-* one refused, and
 * a few inputs give exactly the numbers they hold.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fmemopen */
#endif
#include <dirent.h>
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "numbers.h"

static int read_text(const char *text, size_t len, double **v, size_t *n)
{
    FILE *f = fmemopen((void *)text, len, "r");
    assert_non_null(f);
    int rc = read_numbers(f, "text", FLT_MAX, v, n);
    fclose(f);
    return rc;
}

static void test_values(void **state)
{
    (void)state;
    double *v;
    size_t n;
    static const char text[] = "1 -2.5\n\n  3e2\t0x1p-2\r\n";
    assert_int_equal(read_text(text, sizeof text - 1, &v, &n), 0);
    assert_int_equal(n, 4);
    assert_true(v[0] == 1.0 && v[1] == -2.5 && v[2] == 300.0 && v[3] == 0.25);
    free(v);
    /* More than the first allocation holds. */
    char big[6000];
    for (int i = 0; i < 3000; i++)
        memcpy(big + 2 * i, "7 ", 2);
    assert_int_equal(read_text(big, sizeof big, &v, &n), 0);
    assert_int_equal(n, 3000);
    assert_true(v[2999] == 7.0);
    free(v);
}

static void test_refusals(void **state)
{
    (void)state;
    static const char *const bad[] = {"1 x", "1e39", "nan", "-inf", "1,5", "2 3.4.5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        double *v = NULL;
        size_t n = 99;
        assert_int_equal(read_text(bad[i], strlen(bad[i]), &v, &n), -1);
        assert_null(v);
        assert_int_equal(n, 99);
    }
    static const char nul[] = {'1', ' ', '\0', '2', '\n'};
    double *v;
    size_t n;
    assert_int_equal(read_text(nul, sizeof nul, &v, &n), -1);
}

static void test_corpus(void **state)
{
    (void)state;
    const char *src = getenv("QV_SOURCE_DIR");
    assert_non_null(src);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/offload/corpus", src);
    DIR *d = opendir(dir);
    assert_non_null(d);
    unsigned good = 0, bad = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int is_good = !strncmp(e->d_name, "good-", 5),
            is_bad = !strncmp(e->d_name, "bad-", 4);
        if (!is_good && !is_bad)
            continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        double *v = NULL;
        size_t n;
        int rc = read_numbers(f, path, FLT_MAX, &v, &n);
        fclose(f);
        if (rc != (is_good ? 0 : -1))
            fail_msg("%s: read_numbers returned %d", e->d_name, rc);
        free(v);
        good += is_good;
        bad += is_bad;
    }
    closedir(d);
    assert_true(good >= 3 && bad >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
