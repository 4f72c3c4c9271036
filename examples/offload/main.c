/*
 * main.c - the offload example: an existing C program, written without
 * Quiver, whose hot functions Quiver profiles and moves to an FPGA or GPU
 * without a change to this file (docs/profile.md walks through it).
 *
 * It reads a signal (a text file of samples) or makes one from a seed,
 * cuts it into frames of n samples, and for each frame low-pass filters it
 * (fir), transforms it (fft) and takes the spectrum's magnitudes (mag),
 * the functions of dsp.c; it writes the magnitudes, one per line. Its text
 * files are read by numbers.c.
 *
 *   offload [--in FILE | --seed S] [--n N] [--frames F] [--taps T] --out FILE
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsp.h"
#include "numbers.h"

#define MAX_N    4096u /* the catalog's fft takes up to 4096 points */
#define MAX_TAPS 128u  /* and its fir up to 128 taps */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: offload [--in FILE | --seed S] [--n N] [--frames F] [--taps T] "
            "--out FILE\n\n"
            "Filters, transforms and takes the magnitudes of a signal in frames\n"
            "of N samples (a power of two, 2 to %u; default 1024), with a\n"
            "low-pass FIR of T taps (1 to %u; default 64), and writes the\n"
            "magnitudes to FILE, one per line.\n"
            "  --in FILE   the signal: numbers separated by white space; its\n"
            "              last frame is padded with zeros\n"
            "  --seed S    a signal made from S instead (default 1): tones in\n"
            "              noise, F frames (default 64)\n",
            MAX_N, MAX_TAPS);
}

/* An unsigned option value in [lo, hi]; 0 on success. */
static int parse_uint(const char *opt, const char *s, unsigned long lo, unsigned long hi,
                      unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!*s || *s == '-' || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "offload: %s '%s': expected a whole number from %lu to %lu\n",
                opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* A signal of `len` samples from `seed`: three tones and uniform noise
 * (xorshift64*, so the same seed gives the same signal everywhere). */
static void make_signal(float *x, size_t len, unsigned long seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < len; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        double noise = (double)((s * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
        double t = (double)i;
        x[i] = (float)(sin(t * 0.05) + 0.5 * sin(t * 0.3) + 0.25 * sin(t * 2.1) +
                       0.2 * (noise - 0.5));
    }
}

/* Reads the samples of `path` into *out (malloc'ed), *len of them (at least
 * one). Errors name the file, line and column (numbers.h). */
static int read_signal(const char *path, float **out, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "offload: %s: %s\n", path, strerror(errno));
        return -1;
    }
    double *v;
    size_t n;
    int rc = read_numbers(f, path, FLT_MAX, &v, &n);
    fclose(f);
    if (rc)
        return -1;
    float *x = n ? malloc(n * sizeof *x) : NULL;
    if (!x) {
        fprintf(stderr,
                n ? "offload: %s: out of memory\n"
                  : "offload: %s: expected at least one sample\n",
                path);
        free(v);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        x[i] = (float)v[i];
    free(v);
    *out = x;
    *len = n;
    return 0;
}

/* A windowed-sinc low-pass of `taps` coefficients, cut-off at a tenth of
 * the sampling rate (a Hamming window). */
static void make_filter(float *h, unsigned taps)
{
    double mid = (taps - 1) / 2.0, sum = 0;
    for (unsigned k = 0; k < taps; k++) {
        double t = k - mid,
               w = taps > 1 ? 0.54 - 0.46 * cos(6.283185307179586 * k / (taps - 1)) : 1;
        double s =
            t == 0 ? 0.2 : sin(0.2 * 3.141592653589793 * t) / (3.141592653589793 * t);
        h[k] = (float)(s * w);
        sum += s * w;
    }
    for (unsigned k = 0; k < taps; k++)
        h[k] = (float)(h[k] / sum);
}

int main(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    unsigned long seed = 1, n = 1024, frames = 64, taps = 64;
    int seed_given = 0, frames_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc || strncmp(a, "--", 2)) {
            fprintf(stderr, "offload: %s: %s\n", a,
                    strncmp(a, "--", 2) ? "unexpected argument" : "needs a value");
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(a, "--in"))
            in = v;
        else if (!strcmp(a, "--out"))
            out = v;
        else if (!strcmp(a, "--seed"))
            bad = parse_uint(a, v, 0, ULONG_MAX, &seed), seed_given = 1;
        else if (!strcmp(a, "--n"))
            bad = parse_uint(a, v, 2, MAX_N, &n);
        else if (!strcmp(a, "--frames"))
            bad = parse_uint(a, v, 1, 1u << 20, &frames), frames_given = 1;
        else if (!strcmp(a, "--taps"))
            bad = parse_uint(a, v, 1, MAX_TAPS, &taps);
        else {
            fprintf(stderr, "offload: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (bad)
            return 2;
    }
    if (!out || (in && (seed_given || frames_given)) || (n & (n - 1))) {
        fprintf(stderr, "offload: %s\n",
                !out            ? "--out is required"
                : (n & (n - 1)) ? "--n must be a power of two"
                                : "--in takes neither --seed nor --frames");
        usage(stderr);
        return 2;
    }

    float *x = NULL;
    size_t len;
    if (in) {
        if (read_signal(in, &x, &len))
            return 1;
        frames = (len + n - 1) / n;
        float *padded = realloc(x, frames * n * sizeof *x);
        if (!padded) {
            free(x);
            fprintf(stderr, "offload: out of memory\n");
            return 1;
        }
        x = padded;
        memset(x + len, 0, (frames * n - len) * sizeof *x);
    } else {
        len = frames * n;
        x = malloc(len * sizeof *x);
        if (x)
            make_signal(x, len, seed);
    }
    float h[MAX_TAPS];
    make_filter(h, (unsigned)taps);
    float *y = malloc(n * sizeof *y), *zero = calloc(n, sizeof *zero);
    float *re = malloc(n * sizeof *re), *im = malloc(n * sizeof *im);
    float *spec = malloc(frames * n * sizeof *spec);
    if (!x || !y || !zero || !re || !im || !spec) {
        fprintf(stderr, "offload: out of memory\n");
        return 1;
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned long f = 0; f < frames; f++) {
        fir(x + f * n, h, y, (unsigned)n, (unsigned)taps);
        fft(y, zero, re, im, (unsigned)n);
        mag(re, im, spec + f * n, (unsigned)n);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms =
        (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;

    FILE *o = fopen(out, "w");
    if (!o) {
        fprintf(stderr, "offload: %s: %s\n", out, strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < frames * n; i++)
        fprintf(o, "%.9g\n", spec[i]);
    if (fclose(o)) {
        fprintf(stderr, "offload: %s: write error\n", out);
        return 1;
    }
    printf("offload: %lu frames of %lu samples, %lu taps: fir, fft and mag took %.3f ms; "
           "wrote %s\n",
           frames, n, taps, ms, out);
    free(x);
    free(y);
    free(zero);
    free(re);
    free(im);
    free(spec);
    return 0;
}
