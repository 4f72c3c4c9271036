/*
 * work.c - a program for test_profile, built with -finstrument-functions
 * (and once without): each mode (argv[1]) is a workload whose profile is
 * known. Times are spins on CLOCK_MONOTONIC in an uninstrumented helper;
 * as a loaded machine may stretch a spin, the caller also times every call
 * itself and prints the sums ("time FUNCTION MS" lines) for the test to
 * compare with the report.
 *
 *   spin      spin_a: 10 calls of 2 ms; spin_b: 2 calls of 5 ms;
 *             hidden (static): 1 call of 3 ms
 *   rec       fib(18) and is_even(300) (mutual recursion), then spin_a once
 *   threads   4 threads, each spin_a once
 *   fork      a child process runs in_child (3 ms) and exits
 *   orphan    a child forks a grandchild and exits at once (a daemon's
 *             double fork); the grandchild sleeps 300 ms and waits for the
 *             file $QV_TEST_GATE (if set) to exist, up to 20 s, runs
 *             in_child and exits after the program
 *   zombies   20 such grandchildren that exit at once, then 300 ms later
 *             prints "zombies N": the ended processes that its parent (the
 *             profiler) has not reaped
 *   longjmp   jumper(8) longjmps out of 8 frames, then spin_b once
 *   jmploop   2000 times: setjmp, then jumper(2) longjmps back out of 3
 *   deepjmp   jump_from: jumper(2000) longjmps back to it out of 2000
 *             frames (past the 1024 a thread records), and it returns; 30 ms
 *             of uninstrumented spin, then spin_b once
 *   threxit   4 threads, one after another, each runs ender: spin_a once
 *             and pthread_exit from inside it; then spin_b 10 times
 *   exit N    leave_early() calls exit(N) from 3 frames deep
 *   note      fir: 5 calls of 2 ms, each noted as n=4096 taps=64 through
 *             a weak qv_profile_note (absent without the library)
 *   fir       the same without the notes
 *   mixed     fir: 3 calls noted n=1048576 taps=64, then 5 noted n=16
 *   signal    a SIGALRM every 100 us runs on_alarm (instrumented) while
 *             main calls tick 2 million times; prints how many ran
 *   notesig   main notes fir 400 000 times (300 sets of sizes) while a
 *             SIGALRM every 50 us notes mag from its handler
 *   comma     under the locale $QV_TEST_LOCALE (a decimal comma), spin_b once
 *   inline    sum_sq calls sq 100 times, inlined (GCC keeps the inlined
 *             copies' hooks, called from sum_sq's own frame), then spins 2 ms
 */
#include <dirent.h>
#include <locale.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOI __attribute__((no_instrument_function))
#define KEEP __attribute__((noinline))

extern void qv_profile_note(const char *fn, unsigned nscalars, const char *const *names,
                            const long long *values) __attribute__((weak));

NOI static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

NOI static void spin(double ms)
{
    double t = now_ms();
    while (now_ms() - t < ms)
        ;
}

KEEP void spin_a(void);
KEEP void spin_b(void);
KEEP void fir(void);
KEEP unsigned fib(unsigned n);
KEEP int is_even(unsigned n);
KEEP int is_odd(unsigned n);
KEEP void *thread_main(void *arg);
KEEP int sum_sq(int n);
KEEP void in_child(void);
KEEP void jumper(int n);
KEEP void ender(void);
KEEP void jump_from(void);
KEEP void *ender_main(void *arg);
KEEP void leave_early(int status);
KEEP void level2(int status);

static double acc_a, acc_b, acc_hidden, acc_fir; /* ms, as the callers timed them */

/* Calls fn and adds its time to *acc. */
#define TIMED(acc, call)                                                                      \
    do {                                                                                      \
        double t_ = now_ms();                                                                 \
        call;                                                                                 \
        add_ms(acc, now_ms() - t_);                                        \
    } while (0)

NOI static void add_ms(double *acc, double v)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&mu);
    *acc += v;
    pthread_mutex_unlock(&mu);
}

KEEP void spin_a(void) { spin(2); }
KEEP void spin_b(void) { spin(5); }
KEEP static void hidden(void) { spin(3); }

static int quiet; /* mode fir: no notes */

static long long fir_n = 4096; /* the size fir notes */

KEEP void fir(void)
{
    static const char *const names[] = { "n", "taps" };
    const long long values[] = {fir_n, 64};
    if (qv_profile_note && !quiet)
        qv_profile_note("fir", 2, names, values);
    spin(2);
}

KEEP unsigned fib(unsigned n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
KEEP int is_even(unsigned n) { return n == 0 ? 1 : is_odd(n - 1); }
KEEP int is_odd(unsigned n) { return n == 0 ? 0 : is_even(n - 1); }

KEEP void *thread_main(void *arg)
{
    (void)arg;
    TIMED(&acc_a, spin_a());
    return NULL;
}

static inline __attribute__((always_inline)) int sq(int x) { return x * x; }

KEEP int sum_sq(int n)
{
    int s = 0;
    for (int i = 0; i < n; i++)
        s += sq(i);
    spin(2);
    return s;
}

static volatile sig_atomic_t alarms;
KEEP void on_alarm(int sig);
KEEP int tick(int x);
KEEP void on_alarm(int sig) { (void)sig; alarms++; }

/* SIGALRM to handler every us microseconds (0: no more). Not
 * instrumented: no frame of its own in the profiles the tests read. */
NOI static void alarm_every(void (*handler)(int), long us)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    if (us)
        sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = { { 0, us }, { 0, us } };
    setitimer(ITIMER_REAL, &it, NULL);
}

/* notesig: a handler that notes, maybe while its thread notes too. */
NOI static void on_alarm_note(int sig)
{
    static const char *const names[] = { "n" };
    long long v = alarms % 4;
    (void)sig;
    alarms++;
    if (qv_profile_note)
        qv_profile_note("mag", 1, names, &v);
}

KEEP int tick(int x) { return x + 1; }

KEEP void in_child(void) { spin(3); }
static double acc_child;

static jmp_buf jb;
KEEP void jumper(int n)
{
    if (n == 0)
        longjmp(jb, 1);
    if (n > 100000) /* never: a path that returns, for -Winfinite-recursion */
        return;
    jumper(n - 1);
}

KEEP void jump_from(void)
{
    if (!setjmp(jb))
        jumper(2000);
}

KEEP void ender(void)
{
    TIMED(&acc_a, spin_a());
    pthread_exit(NULL);
}

KEEP void *ender_main(void *arg)
{
    ender();
    return arg;
}

KEEP void level2(int status) { exit(status); }
KEEP void leave_early(int status) { level2(status); }

/* The ended, unreaped children of process pp (state Z in /proc). */
NOI static int zombies_of(pid_t pp)
{
    int n = 0;
    DIR *d = opendir("/proc");
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t got = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[got] = 0;
        const char *rp = strrchr(buf, ')');
        char state;
        long ppid;
        if (rp && sscanf(rp + 1, " %c %ld", &state, &ppid) == 2 && ppid == pp &&
            state == 'Z')
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "spin";
    if (!strcmp(mode, "spin")) {
        for (int i = 0; i < 10; i++)
            TIMED(&acc_a, spin_a());
        for (int i = 0; i < 2; i++)
            TIMED(&acc_b, spin_b());
        TIMED(&acc_hidden, hidden());
    } else if (!strcmp(mode, "rec")) {
        printf("%u %d\n", fib(18), is_even(300));
        TIMED(&acc_a, spin_a());
    } else if (!strcmp(mode, "deep")) { /* past the 1024 frames of a thread */
        printf("%d\n", is_even(3000));
    } else if (!strcmp(mode, "threads")) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            pthread_create(&t[i], NULL, thread_main, NULL);
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
    } else if (!strcmp(mode,
                       "pexit")) { /* main ends first; the process with its threads */
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, thread_main, NULL);
        pthread_exit(NULL);
    } else if (!strcmp(mode, "fork")) {
        pid_t p = fork();
        if (p == 0) {
            TIMED(&acc_child, in_child());
            printf("time in_child %.4f\n", acc_child);
            exit(0);
        }
        waitpid(p, NULL, 0);
    } else if (!strcmp(mode, "orphan")) {
        pid_t p = fork();
        if (p == 0) {
            if (fork() == 0) {
                struct timespec nap = {0, 300000000};
                nanosleep(&nap, NULL);
                const char *gate = getenv("QV_TEST_GATE");
                nap.tv_nsec = 10000000;
                for (int i = 0; gate && i < 2000 && access(gate, F_OK); i++)
                    nanosleep(&nap, NULL);
                TIMED(&acc_child, in_child());
                printf("time in_child %.4f\n", acc_child);
                exit(0);
            }
            exit(0);
        }
        waitpid(p, NULL, 0);
    } else if (!strcmp(mode, "zombies")) {
        for (int i = 0; i < 20; i++) {
            pid_t p = fork();
            if (p == 0) {
                if (fork() == 0)
                    _exit(0);
                _exit(0);
            }
            waitpid(p, NULL, 0);
        }
        struct timespec nap = {0, 300000000};
        nanosleep(&nap, NULL);
        printf("zombies %d\n", zombies_of(getppid()));
    } else if (!strcmp(mode, "longjmp")) {
        if (!setjmp(jb))
            jumper(8);
        TIMED(&acc_b, spin_b());
    } else if (!strcmp(mode, "mixed")) {
        for (int i = 0; i < 8; i++) {
            fir_n = i < 3 ? 1048576 : 16;
            TIMED(&acc_fir, fir());
        }
    } else if (!strcmp(mode, "comma")) {
        const char *loc = getenv("QV_TEST_LOCALE");
        if (!loc || !setlocale(LC_ALL, loc))
            return 3;
        TIMED(&acc_b, spin_b());
    } else if (!strcmp(mode, "jmploop")) { /* an error-recovery loop */
        for (volatile int i = 0; i < 2000; i++)
            if (!setjmp(jb))
                jumper(2);
        TIMED(&acc_b, spin_b());
    } else if (!strcmp(mode, "deepjmp")) {
        jump_from();
        spin(30);
        TIMED(&acc_b, spin_b());
    } else if (!strcmp(mode, "threxit")) {
        for (int i = 0; i < 4; i++) {
            pthread_t t;
            pthread_create(&t, NULL, ender_main, NULL);
            pthread_join(t, NULL);
        }
        for (int i = 0; i < 10; i++)
            TIMED(&acc_b, spin_b());
    } else if (!strcmp(mode, "signal")) {
        alarm_every(on_alarm, 100);
        int x = 0;
        for (int i = 0; i < 2000000; i++)
            x = tick(x);
        alarm_every(NULL, 0);
        printf("%d\ntime alarms %d\n", x, (int)alarms);
    } else if (!strcmp(mode, "notesig")) {
        alarm_every(on_alarm_note, 50);
        static const char *const names[] = { "n" };
        for (long i = 0; i < 400000 && qv_profile_note; i++) {
            long long v = i % 300;
            qv_profile_note("fir", 1, names, &v);
        }
        alarm_every(NULL, 0);
        printf("time alarms %d\n", (int)alarms);
    } else if (!strcmp(mode, "exec")) { /* its calls are lost with the image */
        TIMED(&acc_a, spin_a());
        fflush(stdout);
        execl("/bin/true", "true", (char *)NULL);
        return 1;
    } else if (!strcmp(mode, "inline")) {
        printf("%d\n", sum_sq(100));
    } else if (!strcmp(mode, "exit")) {
        leave_early(argc > 2 ? atoi(argv[2]) : 7);
    } else if (!strcmp(mode, "note") || !strcmp(mode, "fir")) {
        quiet = !strcmp(mode, "fir");
        for (int i = 0; i < 5; i++)
            TIMED(&acc_fir, fir());
    } else {
        fprintf(stderr, "work: unknown mode %s\n", mode);
        return 2;
    }
    printf("time spin_a %.4f\ntime spin_b %.4f\ntime hidden %.4f\ntime fir %.4f\n", acc_a,
           acc_b, acc_hidden, acc_fir);
    return 0;
}
