/*
 * cmd_profile.h - what the two halves of `quiver profile` share:
 * cmd_profile.c runs the program under libquiver-profile.so and turns its
 * raw profiles into one profile of named functions (pf_prof);
 * cmd_profile_report.c matches them with the catalog, predicts the offload
 * on each board with the planner and writes the reports.
 */
#ifndef QV_TOOLS_CMD_PROFILE_H
#define QV_TOOLS_CMD_PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PF_SCALARS 8 /* scalars per size (as QV__PROF_NOTE_SCALARS) */

/* Scalar values by name: the sizes of a function's calls. */
typedef struct pf_sizes {
    unsigned n;
    char *names[PF_SCALARS];
    long long values[PF_SCALARS];
    uint64_t count;  /* calls noted with these values */
    uint64_t total;  /* calls noted in all */
    unsigned kinds;  /* distinct value sets noted (notes only) */
} pf_sizes;

typedef struct pf_func {
    char *name;          /* the symbol, or "module+0xOFFSET" */
    const char *module;  /* path (owned by pf_prof.modules) */
    int named;
    uint64_t calls;
    uint64_t outer;      /* outermost activations */
    double incl_ns;      /* outermost activations, probe cost subtracted */
    double self_ns;      /* probe cost subtracted */
    int too_short;       /* shorter per call than 10 probe costs */
    pf_sizes notes;      /* from qv_profile_note, the value set noted most
                          * often; notes.n == 0: none */
    pf_sizes *sets;      /* every distinct value set noted, with its count
                          * (nsets == notes.kinds) */
    size_t nsets;
    uint32_t order;      /* its index before the sort (cmd_profile.c) */
} pf_func;

typedef struct pf_arc {
    uint32_t caller; /* index into funcs; UINT32_MAX: uninstrumented code */
    uint32_t callee;
    uint64_t calls;
    double incl_ns;
} pf_arc;

typedef struct pf_prof {
    pf_func *funcs;
    size_t nfuncs;
    pf_arc *arcs;
    size_t narcs;
    char **modules;
    size_t nmodules;
    double wall_ns;        /* the runs of every process, added */
    double main_wall_ns;   /* the main process's run */
    double probe_in_ns, probe_pair_ns;
    unsigned processes, threads;
    uint64_t open_at_exit, unpaired, skipped, dropped, notes_dropped;
    char **stripped;       /* modules without .symtab (borrowed from modules) */
    size_t nstripped;
} pf_prof;

/* The command's options that the report reads. */
typedef struct pf_opts {
    int json;
    const char *out;       /* the output directory */
    const char *catalog;   /* NULL: the policy's */
    const char *boards;    /* NULL: the catalog's boards */
    pf_sizes size;         /* --size NAME=VALUE */
    unsigned top;          /* functions shown in the text */
    char **argv;           /* the program and its arguments */
    double wait_s;         /* --wait-children: seconds */
    int status;            /* the program's exit status (128 + signal) */
    int signaled;
    unsigned left_running; /* processes it started, still running at the report */
} pf_opts;

/* Writes report.txt, report.json, callgraph.dot and offload.dot into
 * o->out, and the text (or with --json the JSON) to standard output.
 * 0, or 1 after printing why (an unreadable catalog, a file that cannot be
 * written). cmd_profile_report.c. */
int qv__profile_report(const pf_opts *o, const pf_prof *p);

#endif
