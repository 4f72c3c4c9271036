/*
 * sigkeep.h - the application's signal dispositions, kept across calls
 * into libraries that install handlers of their own.
 *
 * PoCL's LLVM installs its crash and interrupt handlers on 15 signals
 * (SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGSEGV, ...) the first time
 * PoCL probes a device or builds a kernel (llvm::sys::RemoveFileOnSignal):
 * a program's SIGTERM handler would be replaced by one that removes
 * LLVM's temporary files, puts the program's back and raises the signal
 * again, with a window in which a second signal kills. A runtime does not
 * change what the program set up, so every call into OpenCL that may load
 * or run LLVM saves the dispositions before and, after it, puts back
 * those where a handler not there before is installed now. LLVM believes
 * its handlers are in place and does not install them again. SIG_DFL and
 * SIG_IGN are left alone: a program's one-shot handler that ran meanwhile
 * (SA_RESETHAND) is not armed again.
 *
 * A handler that another thread of the program installs during such a
 * call (device discovery, a kernel's first build) is put back too.
 */
#ifndef QV_CORE_SIGKEEP_H
#define QV_CORE_SIGKEEP_H

/* Around a call that may install handlers: the first of overlapping calls
 * (threads) reads every signal's disposition, the last puts back each one
 * whose handler is new. Always paired. */
void qv__sigkeep_enter(void);

/* Returns how many dispositions it put back (0 unless it was the last). */
unsigned qv__sigkeep_leave(void);

#endif
