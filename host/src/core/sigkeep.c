/*
 * sigkeep.c - puts back the signal dispositions a library changed.
 *
 * One saved set for the whole process: two threads building kernels at
 * once must not each save what the other's build installed.
 */
#include <pthread.h>
#include <signal.h>

#include "core/internal.h"
#include "core/fork.h"
#include "core/sigkeep.h"

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_depth;             /* calls inside; g_mu */
static struct sigaction g_act[NSIG]; /* as they were; g_mu */
static unsigned char g_have[NSIG];   /* g_act[s] was read */

void qv__sigkeep_fork_lock(bool lock)
{
    qv__fork_hold(&g_mu, lock);
}

/* A handler function (not SIG_DFL nor SIG_IGN). */
static int is_handler(const struct sigaction *a)
{
    return a->sa_flags & SA_SIGINFO ||
           (a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN);
}

/* The same handler, flags and mask: the disposition is as it was. */
static int same(const struct sigaction *a, const struct sigaction *b)
{
    if (a->sa_flags != b->sa_flags)
        return 0;
    if (a->sa_flags & SA_SIGINFO ? a->sa_sigaction != b->sa_sigaction
                                 : a->sa_handler != b->sa_handler)
        return 0;
    for (int s = 1; s < NSIG; s++)
        if (sigismember(&a->sa_mask, s) != sigismember(&b->sa_mask, s))
            return 0;
    return 1;
}

void qv__sigkeep_enter(void)
{
    pthread_mutex_lock(&g_mu);
    if (g_depth++ == 0)
        for (int s = 1; s < NSIG; s++)
            g_have[s] =
                s != SIGKILL && s != SIGSTOP && sigaction(s, NULL, &g_act[s]) == 0;
    pthread_mutex_unlock(&g_mu);
}

unsigned qv__sigkeep_leave(void)
{
    unsigned n = 0;
    pthread_mutex_lock(&g_mu);
    if (--g_depth == 0)
        for (int s = 1; s < NSIG; s++) {
            struct sigaction now;
            /* Only a handler the call installed goes: SIG_DFL now is the
             * program's own one-shot handler having run (SA_RESETHAND, or
             * one that resets itself), which must not be armed again. */
            if (!g_have[s] || sigaction(s, NULL, &now) || !is_handler(&now) ||
                same(&now, &g_act[s]))
                continue;
            if (sigaction(s, &g_act[s], NULL) == 0) {
                qv__log(3,
                        "signal %d: a library's handler replaced the program's; "
                        "the program's is back",
                        s);
                n++;
            }
        }
    pthread_mutex_unlock(&g_mu);
    return n;
}
