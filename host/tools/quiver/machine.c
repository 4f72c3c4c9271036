/*
 * machine.c - the machine as a program linked against Quiver would see it,
 * for the subcommands that list it (`quiver devices`) or plan on it
 * (`quiver plan` without --platform): the policy the runtime would read,
 * its boards and its catalog, and one scan of the discovery pool, of the
 * device classes its `devices:` key keeps (as the runtime opens them).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "config/board.h"
#include "config/default_path.h"
#include "config/platform.h"
#include "config/policy.h"
#include "quiver/config.h"

int qv_cli_machine(const char *prog, const char *config, const char *const *boards,
                   size_t nboards, qv_pool **pool, struct qv__catalog **cat)
{
    *pool = NULL;
    if (cat)
        *cat = NULL;
    qv__policy pol;
    qv_diag diag;
    memset(&diag, 0, sizeof diag);
    qv__policy_defaults(&pol);
    /* As the runtime: --config, else $QV_CONFIG, else the installed default. */
    int rc;
    /* A policy the user did not name on the command line is said to come
     * from where it came, so that a stale $QV_CONFIG is found at once. */
    const char *from = config                ? NULL
                       : getenv("QV_CONFIG") ? "$QV_CONFIG"
                                             : "the installed default policy";
    if ((config = qv__config_path(config)) &&
        (rc = qv__policy_load(config, &pol, &diag))) {
        if (from) {
            if (!diag.message[0])
                snprintf(diag.message, sizeof diag.message, "%s", qv_strerror(rc));
            size_t n = strlen(diag.message);
            snprintf(diag.message + n, sizeof diag.message - n, " (policy from %s)",
                     from);
        }
        qv_cli_diag(prog, config, rc, &diag);
        return 1;
    }
    const char **all = calloc(nboards + pol.nboards + 1, sizeof *all);
    if (!all) {
        qv__policy_fini(&pol);
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    size_t nall = 0;
    for (size_t i = 0; i < pol.nboards; i++)
        all[nall++] = pol.boards[i];
    for (size_t i = 0; i < nboards; i++)
        all[nall++] = boards[i];
    /* The classes the policy's devices: key leaves out, as the runtime
     * leaves them out (a user's finding: `devices: [cpu]` and a plan
     * onto the GPU). A board file that does not load stays, for the pool
     * to report. */
    size_t kept = 0;
    for (size_t i = 0; i < nall; i++) {
        qv__board *b = NULL;
        qv_diag bd;
        memset(&bd, 0, sizeof bd);
        bool out = qv__board_load(all[i], &b, &bd) == 0 && !(pol.devices & (1u << b->kind));
        qv__board_free(b);
        if (!out)
            all[kept++] = all[i];
    }
    nall = kept;
    qv_pool_options o;
    qv__policy_pool_options(&pol, &o);
    o.opencl = o.opencl && (pol.devices & (1u << QV_CLASS_GPU));
    o.xrt = o.xrt && (pol.devices & (1u << QV_CLASS_FPGA));
    o.rescan_ms = 0; /* one scan is all a listing or a plan needs */
    o.boards = all;
    o.nboards = nall;
    rc = qv_pool_create(&o, pool, &diag);
    free(all);
    if (rc) {
        qv_cli_diag(prog, config, rc, &diag);
        qv__policy_fini(&pol);
        return 1;
    }
    if (cat) {
        *cat = pol.cat; /* the policy's catalog, as the runtime takes it */
        pol.cat = NULL;
    }
    qv__policy_fini(&pol);
    return 0;
}

/* Whether out names the file `path`, which is `what` (says so). */
static bool over(const char *prog, const char *outopt, const char *out, const char *what,
                 const char *path)
{
    if (!path || !qv_cli_same_file(out, path))
        return false;
    fprintf(stderr,
            "%s: %s names %s (%s), which planning reads: it would be overwritten\n", prog,
            outopt, what, qv_cli_esc(path));
    return true;
}

/* Whether out names board file b, or the client key file b names. */
static bool over_board(const char *prog, const char *outopt, const char *out,
                       const qv__board *b)
{
    return b &&
           (over(prog, outopt, out, "a board file", b->path) ||
            over(prog, outopt, out, "a board's client_key_file", b->client_key_file));
}

bool qv_cli_overwrites_read(const char *prog, const char *outopt, const char *out,
                            const char *config, const char *ppath)
{
    if (!out || !strcmp(out, "-"))
        return false;
    qv_diag diag;
    memset(&diag, 0, sizeof diag);
    bool found = false;
    if (ppath) {
        qv__platform *p = NULL;
        if (qv__platform_load(ppath, &p, &diag) == 0)
            for (size_t i = 0; i < p->nres && !found; i++)
                found = over_board(prog, outopt, out, p->res[i].board);
        qv__platform_free(p);
        return found;
    }
    const char *path = qv__config_path(config);
    if (!path)
        return false;
    if (over(prog, outopt, out, "the policy", path))
        return true;
    qv__policy pol;
    qv__policy_defaults(&pol);
    if (qv__policy_load(path, &pol, &diag) == 0) {
        found = over(prog, outopt, out, "the policy's catalog", pol.catalog);
        for (size_t i = 0; i < pol.nboards && !found; i++) {
            qv__board *b = NULL;
            qv_diag bd;
            memset(&bd, 0, sizeof bd);
            found = qv__board_load(pol.boards[i], &b, &bd) == 0
                        ? over_board(prog, outopt, out, b)
                        : over(prog, outopt, out, "a board file", pol.boards[i]);
            qv__board_free(b);
        }
    }
    qv__policy_fini(&pol);
    return found;
}
