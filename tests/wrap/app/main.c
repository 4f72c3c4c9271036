/*
 * main.c - the wrap test program: plain C, no Quiver include. Computes a
 * signal from a seed, runs it through fir, vadd and smooth2 (dsp.c), and
 * writes every result, as raw floats, to OUT. The test (test_wrap.c) runs
 * it unwrapped and wrapped and compares the files.
 *
 * usage: wrap_app OUT MODE
 *   basic    fir, vadd and smooth2 on 64 Ki samples in heap buffers
 *   inplace  fir(x, h, x, ...): the output is the input
 *   overlap  vadd(x, x, y, ...): the same input twice, and vadd(x, x+1, ...)
 *   stack    fir and vadd on 16 Ki samples in stack buffers
 *   threads  4 threads, each 8 rounds of fir and vadd on its own buffers,
 *            all with one shared coefficient array; the rounds' mean
 *   small    fir and vadd on 64 samples (below the default threshold)
 *   exitin   a fir that calls exit(3) (the process must end with 3)
 *   exitthreads  exit(0) while 3 threads keep calling vadd (must end, 0)
 *   segvin   a fir whose input cannot be read (PROT_NONE), left by the
 *            program's SIGSEGV handler (siglongjmp); then a thread's 8
 *            rounds of fir and vadd, and a fir here
 *   mainexit  main ends with pthread_exit while a thread runs 8 rounds of
 *            fir and vadd; that thread writes the result (must end, 0)
 *   forkexit  fork() while a thread keeps calling vadd, the children exit(0)
 *            at once: each must be gone within 5 s (else it ends with 1)
 *   mainkey  main's thread-specific value's destructor writes the result
 *            after main's pthread_exit (a key made by main, after the
 *            library's)
 *   shorttaps  fir on 64 samples with taps = 2^20 and h holding the 64
 *            taps the loop reads, at the end of readable memory
 *   mainsig  main exits; a thread waits for SIGTERM (sigwait) and then
 *            writes the result; another sends it, SIGTERM blocked
 * and, for the deferred build (wrap_app_defer), where results land late:
 *   chain    fir, vadd, fir with each output the next input, the input
 *            changed after the calls, results read by write(2) (fwrite of a
 *            large block), by a loop, and one never read
 *   adjacent two outputs sharing a page inside one allocation
 *   unmap    an mmap'd output mapped over before anyone read it, and the
 *            new memory (same range) used as an input
 *   fork     a child process reads an output the parent has not read
 *   rawfork  a child made by _Fork (no fork handlers) makes a call of its
 *            own, then the parent one
 *   frames   16 frames of fir, then vadd on its output, then the result
 *            read: a run of deferred calls the runtime plans as a region
 *   coro     a coroutine on a stack of its own (mmap, swapcontext) calls
 *            fir into a local array it never reads (run synchronously, not
 *            deferred), returns, and calls fir again from deeper frames
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* MAP_ANONYMOUS, when built without Quiver's flags */
#endif
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "dsp.h"

#define TAPS 32

static void signal_fill(float *x, uint32_t n, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 1;
    for (uint32_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)(s >> 8) / (float)(1u << 24) - 0.5f;
    }
}

static void taps_fill(float *h)
{
    for (int k = 0; k < TAPS; k++)
        h[k] = 1.0f / (float)(k + 2);
}

static FILE *g_out;

static void emit(const float *v, uint32_t n)
{
    if (fwrite(v, sizeof *v, n, g_out) != n) {
        perror("wrap_app: write");
        exit(1);
    }
}

static float g_h[TAPS];

typedef struct job {
    uint32_t seed, n;
    float *x, *y, *z, *acc;
} job;

/* 8 rounds of fir and vadd on fresh signals, their mean kept (no feedback
 * from one round to the next, so the devices' rounding does not grow). */
static void *worker(void *arg)
{
    job *j = arg;
    for (int r = 0; r < 8; r++) {
        signal_fill(j->x, j->n, j->seed * 100 + (uint32_t)r);
        fir(j->x, g_h, j->y, j->n, TAPS);
        vadd(j->y, j->x, j->z, j->n);
        for (uint32_t i = 0; i < j->n; i++)
            j->acc[i] += j->z[i] / 8.0f;
    }
    return NULL;
}

/* n zeroed floats in pages of their own; NULL when they cannot be had. */
static float *anon(uint32_t n)
{
    void *p = mmap(NULL, n * sizeof(float), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* "segvin": the program's own SIGSEGV handler jumps out of the fault. */
static sigjmp_buf segv_env;

static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(segv_env, 1);
}

/* worker's rounds after a pause (main is gone by then), the result
 * written and the output closed: the process's last user thread. */
static void *last_thread(void *arg)
{
    usleep(100 * 1000);
    worker(arg);
    job *j = arg;
    emit(j->acc, j->n);
    if (fclose(g_out))
        exit(1);
    return NULL;
}

/* "mainkey": main's thread-specific value, written at main's end. */
static pthread_key_t g_key;

static void key_gone(void *arg)
{
    job *j = arg;
    emit(j->y, j->n);
    if (fclose(g_out))
        _exit(1);
}

/* "mainsig": the thread that waits for SIGTERM, and the one that sends
 * it. */
static job ms_job;
static pthread_mutex_t ms_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ms_cv = PTHREAD_COND_INITIALIZER;
static int ms_ready;
static atomic_int ms_main_leaving; /* set by main just before pthread_exit */

/* Blocks SIGTERM in the calling thread; *term: SIGTERM alone. */
static void block_sigterm(sigset_t *term)
{
    sigemptyset(term);
    sigaddset(term, SIGTERM);
    pthread_sigmask(SIG_BLOCK, term, NULL);
}

static void *ms_waiter(void *arg)
{
    (void)arg;
    sigset_t term;
    block_sigterm(&term);
    pthread_mutex_lock(&ms_mu);
    ms_ready = 1;
    pthread_cond_broadcast(&ms_cv);
    pthread_mutex_unlock(&ms_mu);
    int sig;
    if (sigwait(&term, &sig))
        _exit(1);
    fir(ms_job.x, g_h, ms_job.y, ms_job.n, TAPS);
    emit(ms_job.y, ms_job.n);
    if (fclose(g_out))
        _exit(1);
    return NULL;
}

static void *ms_sender(void *arg)
{
    (void)arg;
    sigset_t term;
    block_sigterm(&term);
    pthread_mutex_lock(&ms_mu);
    while (!ms_ready)
        pthread_cond_wait(&ms_cv, &ms_mu);
    pthread_mutex_unlock(&ms_mu);
    /* Until main is gone: ended (unwrapped), or waiting with every signal
     * blocked (wrapped). Only once main has said it leaves: pthread_create
     * blocks every signal of its caller for a moment, and a SIGTERM sent
     * then killed main when it unblocked them (CI, a loaded host). */
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)getpid());
    int gone = 0;
    for (int tries = 0; !gone && tries < 60000; tries++) {
        FILE *f = atomic_load(&ms_main_leaving) ? fopen(path, "r") : NULL;
        unsigned long long blk = 0;
        while (f && !gone && fgets(line, sizeof line, f))
            gone =
                !strncmp(line, "State:\tZ", 8) ||
                (sscanf(line, "SigBlk: %llx", &blk) == 1 && (blk >> (SIGTERM - 1)) & 1);
        if (f)
            fclose(f);
        if (!gone)
            usleep(1000);
    }
    if (!gone) {
        fprintf(stderr, "mainsig: main neither ended nor blocked SIGTERM in 60 s\n");
        _exit(3);
    }
    kill(getpid(), SIGTERM);
    return NULL;
}

/* vadd on the job's buffers until the process exits. */
static void *vadd_forever(void *arg)
{
    job *j = arg;
    for (;;)
        vadd(j->x, j->y, j->z, j->n);
    return NULL;
}

/* "coro": a coroutine's frames (its stack is an mmap of its own). */
enum { CO_N = 16384 };
static float *co_x, *co_y;
static ucontext_t co_main, co_ctx;

__attribute__((noinline)) static void co_local(void)
{
    _Alignas(4096) float y[CO_N]; /* whole pages of the coroutine's stack */
    fir(co_x, g_h, y, CO_N, TAPS);
    __asm__ volatile("" : : "r"(y) : "memory");
}

__attribute__((noinline)) static void co_deeper(void)
{
    char *p = __builtin_alloca(16); /* frames over y's old pages */
    __asm__ volatile("" : : "r"(p) : "memory");
    fir(co_x, g_h, co_y, CO_N, TAPS);
}

static void co_main_fn(void)
{
    co_local();
    co_deeper();
}

/* Runs the coroutine on x (a function of its own: swapcontext returns
 * twice, and the caller's locals would be clobbered). */
__attribute__((noinline)) static int coro_mode(float *x)
{
    alarm(60); /* a hang ends the process (SIGALRM): the test fails */
    size_t ss = 1u << 20;
    co_x = x;
    co_y = mmap(NULL, CO_N * sizeof(float), PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *stk =
        mmap(NULL, ss, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (co_y == MAP_FAILED || stk == MAP_FAILED || getcontext(&co_ctx))
        return 1;
    co_ctx.uc_stack.ss_sp = stk;
    co_ctx.uc_stack.ss_size = ss;
    co_ctx.uc_link = &co_main;
    makecontext(&co_ctx, co_main_fn, 0);
    if (swapcontext(&co_main, &co_ctx))
        return 1;
    emit(co_y, CO_N);
    return 0;
}

/* Buffers "chain" leaves to the exit. */
float *g_keep[5];

/* The modes of the deferred build; 0, or 1 after printing why not. */
static int deferred_mode(const char *mode, uint32_t n)
{
    size_t bytes = n * sizeof(float);
    /* chain: blocks malloc maps on its own (glibc does from 128 KiB); the
     * other modes: whole pages. */
    int pages = strcmp(mode, "chain") != 0;
    float *x = malloc(bytes), *y, *z, *w, *u;
    if (pages) {
        y = aligned_alloc(4096, bytes), z = aligned_alloc(4096, bytes);
        w = aligned_alloc(4096, bytes), u = aligned_alloc(4096, bytes);
    } else
        y = malloc(bytes), z = malloc(bytes), w = malloc(bytes), u = malloc(bytes);
    if (!x || !y || !z || !w || !u)
        return 1;
    signal_fill(x, n, 5);
    if (!strcmp(mode, "chain")) {
        fir(x, g_h, y, n, TAPS);
        vadd(y, x, z, n);
        signal_fill(x, n, 6); /* after the calls: they saw the old x */
        fir(z, g_h, w, n, TAPS);
        fir(x, g_h, u, n, TAPS); /* never read */
        emit(w, n);              /* fwrite: the kernel reads w */
        float sum = 0;
        for (uint32_t i = 0; i < n; i++)
            sum += y[i] + z[i]; /* this thread reads y and z */
        emit(&sum, 1);
        emit(x, n);
        /* u lands at exit; all kept reachable for leak checkers. */
        g_keep[0] = x, g_keep[1] = y, g_keep[2] = z, g_keep[3] = w, g_keep[4] = u;
        return 0;
    }
    if (!strcmp(mode, "adjacent")) {
        /* y and z 4 bytes off a page boundary, back to back. */
        float *blk = malloc(2 * bytes + 64);
        if (!blk)
            return 1;
        float *a = blk + 1, *b = blk + 1 + (n - 5);
        fir(x, g_h, a, n - 5, TAPS);
        vadd(x, x, b, n - 5);
        emit(a, n - 5);
        emit(b, n - 5);
        free(blk);
    } else if (!strcmp(mode, "unmap")) {
        float *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return 1;
        fir(x, g_h, p, n, TAPS);
        /* Fresh memory mapped over p (its result never read): the same
         * range, other data. */
        float *q = mmap(p, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (q != p)
            return 1;
        signal_fill(q, n, 9);
        vadd(q, x, z, n); /* q's own data, whatever p was */
        emit(z, n);
        munmap(q, bytes);
    } else if (!strcmp(mode, "coro")) {
        if (coro_mode(x))
            return 1;
    } else if (!strcmp(mode, "frames")) {
        for (uint32_t f = 0; f < 16; f++) {
            signal_fill(x, n, 100 + f);
            fir(x, g_h, y, n, TAPS);
            vadd(y, x, z, n);
            emit(z, n);
        }
    } else if (!strcmp(mode, "fork")) {
        fir(x, g_h, y, n, TAPS);
        fflush(g_out);
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) { /* exit, not _exit: the library's exit handler runs */
            emit(y, n);
            fclose(g_out);
            exit(0);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
            return 1;
        emit(y, n);
    } else if (!strcmp(mode, "rawfork")) {
        fir(x, g_h, y, n, TAPS);
        emit(y, n); /* read: nothing pending at the fork */
        fflush(g_out);
        pid_t pid = _Fork(); /* no fork handlers run */
        if (pid < 0)
            return 1;
        if (pid == 0) {
            vadd(y, x, z, n); /* the child's own call */
            emit(z, n);
            fclose(g_out);
            _exit(0);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
            return 1;
        vadd(y, y, w, n);
        emit(w, n);
    } else {
        fprintf(stderr, "wrap_app: unknown mode %s\n", mode);
        return 2;
    }
    free(x);
    free(y);
    free(z);
    free(w);
    free(u);
    return 0;
}

/* "signal": a SIGALRM handler that calls vadd itself, now and then
 * interrupting the main thread's own vadd calls. */
enum { HN = 256 };
static float hs_x[HN], hs_y[HN], hs_z[HN];
static volatile sig_atomic_t hs_bad, hs_calls;

static void on_alarm(int sig)
{
    (void)sig;
    hs_calls++;
    vadd(hs_x, hs_y, hs_z, HN);
    for (int i = 0; i < HN; i++)
        if (hs_z[i] != hs_x[i] + hs_y[i])
            hs_bad = 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: wrap_app OUT "
                        "basic|inplace|overlap|stack|threads|small|exitin|exitthreads|"
                        "mainexit|segvin|"
                        "forkexit|chain|"
                        "adjacent|unmap|fork|rawfork|frames|signal\n");
        return 2;
    }
    if (!(g_out = fopen(argv[1], "wb"))) {
        perror(argv[1]);
        return 1;
    }
    const char *mode = argv[2];
    taps_fill(g_h);
    uint32_t n = 65536;
    if (!strcmp(mode, "signal")) {
        for (int i = 0; i < HN; i++) {
            hs_x[i] = (float)i;
            hs_y[i] = 2.0f * (float)i;
        }
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *z = malloc(n * sizeof *z);
        if (!x || !y || !z)
            return 1;
        signal_fill(x, n, 3);
        signal_fill(y, n, 5);
        signal(SIGALRM, on_alarm);
        struct itimerval every = {{0, 1000}, {0, 1000}}, off = {{0, 0}, {0, 0}};
        setitimer(ITIMER_REAL, &every, NULL);
        for (int r = 0; r < 200; r++)
            vadd(x, y, z, n);
        setitimer(ITIMER_REAL, &off, NULL);
        /* For QUIVER_WRAP_STATS's count of vadd's calls (test_wrap). */
        fprintf(stderr, "wrap_app: 200 calls of vadd, and %d by the handler\n",
                (int)hs_calls);
        emit(z, n);
        float bad = hs_bad ? 1.0f : 0.0f;
        emit(&bad, 1);
        free(x);
        free(y);
        free(z);
    } else if (!strcmp(mode, "exitin") || !strcmp(mode, "exitthreads")) {
        alarm(30); /* a hang ends the process (SIGALRM): the test fails */
        if (!strcmp(mode, "exitin")) {
            float *x = calloc(n, sizeof *x), *y = calloc(n, sizeof *y);
            if (!x || !y)
                return 1;
            fir(x, g_h, y, n, DSP_EXIT_TAPS);
            return 1; /* not reached */
        }
        enum { T = 3 };
        static job jobs[T];
        pthread_t th[T];
        /* The runtime made first, by a call from here: exit() while a
         * thread is inside its making (OpenCL's and XRT's initialisation)
         * runs their C++ destructors under that thread, which no wrapper
         * can hold back (a TSan build, slow to start PoCL, aborted with
         * "pure virtual method called"). What this mode tests is exit()
         * while wrapped calls are in flight. Static, as jobs[]: exit()
         * leaves them in use, and LeakSanitizer in an optimised build found
         * no pointer to locals no longer used. */
        static float *x0, *y0, *z0;
        x0 = calloc(n / 4, sizeof *x0);
        y0 = calloc(n / 4, sizeof *y0);
        z0 = calloc(n / 4, sizeof *z0);
        if (!x0 || !y0 || !z0)
            return 1;
        vadd(x0, y0, z0, n / 4);
        for (int t = 0; t < T; t++) {
            jobs[t] = (job){(uint32_t)t + 1, n / 4, NULL, NULL, NULL, NULL};
            jobs[t].x = calloc(n / 4, sizeof(float));
            jobs[t].y = calloc(n / 4, sizeof(float));
            jobs[t].z = calloc(n / 4, sizeof(float));
            if (!jobs[t].x || !jobs[t].y || !jobs[t].z ||
                pthread_create(&th[t], NULL, vadd_forever, &jobs[t]))
                return 1;
        }
        usleep(100 * 1000);
        exit(0);
    } else if (!strcmp(mode, "forkexit")) {
        alarm(60);
        float *x0 = calloc(n, sizeof *x0), *y0 = calloc(n, sizeof *y0),
              *z0 = calloc(n, sizeof *z0);
        if (!x0 || !y0 || !z0)
            return 1;
        vadd(x0, y0, z0, n); /* the runtime made */
        static job j;
        j = (job){1, n, x0, y0, z0, NULL};
        pthread_t th;
        if (pthread_create(&th, NULL, vadd_forever, &j))
            return 1;
        usleep(100 * 1000);
        for (int k = 0; k < 3; k++) {
            struct timespec t0, t1;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            pid_t pid = fork();
            if (pid == 0)
                exit(0);
            int st;
            if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
                WEXITSTATUS(st))
                return 1;
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double s =
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            if (s > 5) {
                fprintf(stderr, "wrap_app: a child took %.1f s to exit\n", s);
                return 1;
            }
        }
        exit(0);
    } else if (!strcmp(mode, "segvin")) {
        /* A fir whose input cannot be read, left by the program's SIGSEGV
         * handler; then fir and vadd in another thread, and here. */
        alarm(60);
        float *bad =
            mmap(NULL, n * sizeof(float), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        float *y = malloc(n * sizeof *y);
        if (bad == MAP_FAILED || !y)
            return 1;
        struct sigaction sa = {.sa_handler = on_segv}, was;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, &was);
        float jumped = 0;
        if (sigsetjmp(segv_env, 1) == 0)
            fir(bad, g_h, y, n, TAPS);
        else
            jumped = 1;
        sigaction(SIGSEGV, &was, NULL);
        emit(&jumped, 1);
        static job j;
        j = (job){3, n, NULL, NULL, NULL, NULL};
        j.x = malloc(n * sizeof(float));
        j.y = malloc(n * sizeof(float));
        j.z = malloc(n * sizeof(float));
        j.acc = calloc(n, sizeof(float));
        if (!j.x || !j.y || !j.z || !j.acc)
            return 1;
        pthread_t th;
        if (pthread_create(&th, NULL, worker, &j) || pthread_join(th, NULL))
            return 1;
        emit(j.acc, n);
        signal_fill(j.x, n, 9);
        fir(j.x, g_h, y, n, TAPS);
        emit(y, n);
        munmap(bad, n * sizeof(float));
        free(y);
        free(j.x);
        free(j.y);
        free(j.z);
        free(j.acc);
    } else if (!strcmp(mode, "mainexit")) {
        /* main's pthread_exit while a thread still works: the process
         * ends when that thread does, with 0, as unwrapped. */
        /* Pages of their own (mmap): deferred under a sanitizer's malloc
         * too. */
        static job j;
        j = (job){1, n, anon(n), anon(n), anon(n), anon(n)};
        if (!j.x || !j.y || !j.z || !j.acc)
            return 1;
        vadd(j.acc, j.acc, j.z, n); /* the runtime made from here */
        pthread_t th;
        if (pthread_create(&th, NULL, last_thread, &j))
            return 1;
        pthread_exit(NULL);
    } else if (!strcmp(mode, "mainkey")) {
        alarm(60);
        static job j;
        j = (job){1, n, malloc(n * sizeof(float)), malloc(n * sizeof(float)), NULL, NULL};
        if (!j.x || !j.y || pthread_key_create(&g_key, key_gone))
            return 1;
        signal_fill(j.x, n, 11);
        fir(j.x, g_h, j.y, n, TAPS);
        pthread_setspecific(g_key, &j);
        pthread_exit(NULL);
    } else if (!strcmp(mode, "mainsig")) {
        ms_job =
            (job){1, n, malloc(n * sizeof(float)), malloc(n * sizeof(float)), NULL, NULL};
        if (!ms_job.x || !ms_job.y)
            return 1;
        signal_fill(ms_job.x, n, 17);
        vadd(ms_job.x, ms_job.x, ms_job.y, n); /* the runtime made from here */
        pthread_t th;
        if (pthread_create(&th, NULL, ms_waiter, NULL) ||
            pthread_create(&th, NULL, ms_sender, NULL))
            return 1;
        atomic_store(&ms_main_leaving, 1);
        pthread_exit(NULL);
    } else if (!strcmp(mode, "shorttaps")) {
        /* fir reads h[k] for k <= i < n only: 64 of the 2^20 taps the
         * catalog's size says, the last before a page that cannot be
         * read. */
        enum { SN = 64 };
        alarm(60);
        long pg = sysconf(_SC_PAGESIZE);
        char *m = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED || mprotect(m + pg, (size_t)pg, PROT_NONE))
            return 1;
        float *h = (float *)(void *)(m + pg) - SN, x[SN], y[SN];
        for (int k = 0; k < SN; k++)
            h[k] = 1.0f / (float)(k + 2);
        signal_fill(x, SN, 19);
        fir(x, h, y, SN, 1u << 20);
        emit(y, SN);
    } else if (!strcmp(mode, "stack")) {
        enum { N = 16384 };
        float x[N], y[N], z[N];
        signal_fill(x, N, 7);
        fir(x, g_h, y, N, TAPS);
        vadd(x, y, z, N);
        emit(y, N);
        emit(z, N);
    } else if (!strcmp(mode, "threads")) {
        enum { T = 4 };
        job jobs[T];
        pthread_t th[T];
        for (int t = 0; t < T; t++) {
            jobs[t] = (job){(uint32_t)t + 1, n / 4, NULL, NULL, NULL, NULL};
            jobs[t].x = malloc(n / 4 * sizeof(float));
            jobs[t].y = malloc(n / 4 * sizeof(float));
            jobs[t].z = malloc(n / 4 * sizeof(float));
            jobs[t].acc = calloc(n / 4, sizeof(float));
            if (!jobs[t].x || !jobs[t].y || !jobs[t].z || !jobs[t].acc)
                return 1;
        }
        for (int t = 0; t < T; t++)
            if (pthread_create(&th[t], NULL, worker, &jobs[t]))
                return 1;
        for (int t = 0; t < T; t++) {
            pthread_join(th[t], NULL);
            emit(jobs[t].acc, n / 4);
            free(jobs[t].acc);
            free(jobs[t].x);
            free(jobs[t].y);
            free(jobs[t].z);
        }
    } else {
        if (!strcmp(mode, "small"))
            n = 64;
        else if (strcmp(mode, "basic") && strcmp(mode, "inplace") &&
                 strcmp(mode, "overlap")) {
            int rc = deferred_mode(mode, n);
            if (rc || fclose(g_out))
                return rc ? rc : 1;
            return 0;
        }
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y),
              *z = malloc(n * sizeof *z);
        if (!x || !y || !z)
            return 1;
        signal_fill(x, n, 42);
        if (!strcmp(mode, "inplace")) {
            fir(x, g_h, x, n, TAPS);
            emit(x, n);
        } else if (!strcmp(mode, "overlap")) {
            vadd(x, x, y, n);
            vadd(x, x + 1, z, n - 1);
            emit(y, n);
            emit(z, n - 1);
        } else {
            fir(x, g_h, y, n, TAPS);
            vadd(y, x, z, n);
            emit(y, n);
            emit(z, n);
            if (!strcmp(mode, "basic")) {
                smooth2(z, g_h, x, y, n, TAPS);
                emit(y, n);
            }
        }
        free(x);
        free(y);
        free(z);
    }
    if (fclose(g_out)) {
        perror("wrap_app: close");
        return 1;
    }
    return 0;
}
