/*
 * part.c - parts of a replayed plan shipped whole to a remote board.
 *
 * When a plan puts consecutive calls of an entry on one remote board (a
 * part: fir -> fft -> mag of a frame), the replay holds them back as it
 * holds a fused chain (region.c), and at the last one launches them as one
 * task of the runtime's ("part:fir+fft+mag"), which the remote backend
 * sends as one RUN of all the calls: the daemon orders them by their
 * buffers, and the buffers that flow only between them (intermediates:
 * written first by a call of the part, before any other call of the part
 * reads them) stay on the daemon, in buffers the backend keeps per part
 * shape. Only the part's inputs and its last call's outputs cross the
 * network.
 *
 * The program still sees the intermediates as a sequential run leaves
 * them: the calls that wrote them stay deferred as recipes (defer.c), as
 * those of a fused kernel do, computed on the host side when something
 * reads them. A daemon that dies mid-part loses nothing then: the part's
 * task re-runs elsewhere (its CPU implementation is its calls, in order,
 * on temporary intermediates) and the recipes hold the rest.
 *
 * A part is launched only when that keeps every call's view: the calls
 * before the last may write intermediates only (their other buffers are
 * inputs), each read by a later call of the part, the last call writes
 * no intermediate and no buffer an earlier call reads, and no call names
 * a buffer it writes in another argument too. Otherwise the held calls
 * are submitted as they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fork.h"
#include "core/internal.h"
#include "core/part.h"
#include "qv_escape.h"

/* Where each buffer of the calls comes from, as they are seen. */
typedef struct seen {
    const qv_buf *b;
    int tmp; /* intermediate index, or -1 */
    int arg; /* the part's argument, or -1 */
} seen;

static seen *seen_of(seen *v, unsigned n, const qv_buf *b)
{
    for (unsigned k = 0; k < n; k++)
        if (v[k].b == b)
            return &v[k];
    return NULL;
}

/* Whether a call of memb[j+1..n-1] reads buffer b. */
static bool read_later(qv_func *const *memb, unsigned n, const qv_arg *const *args,
                       unsigned j, const qv_buf *b)
{
    for (unsigned k = j + 1; k < n; k++)
        for (unsigned i = 0; i < memb[k]->nargs; i++)
            if (memb[k]->args[i].is_buf && (memb[k]->args[i].mode & QV_R) &&
                args[k][i].buf == b)
                return true;
    return false;
}

/* Whether call f(args) names a buffer in two arguments, one of which
 * writes it (an in-place call). */
static bool writes_aliased(const qv_func *f, const qv_arg *args)
{
    for (unsigned i = 0; i < f->nargs; i++)
        for (unsigned k = i + 1; k < f->nargs; k++)
            if (f->args[i].is_buf && f->args[k].is_buf && args[i].buf == args[k].buf &&
                ((f->args[i].mode | f->args[k].mode) & QV_W))
                return true;
    return false;
}

/* The shape of calls memb[0..n-1] with arguments args[][]; false (why)
 * when they cannot run as one part. */
static bool shape_of(qv__part_shape *s, qv_func *const *memb, unsigned n,
                     const qv_arg *const *args, char *why, size_t wn)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    memcpy(s->memb, memb, n * sizeof *memb);
    seen v[QV__PART_MAX * QV_MAX_ARGS];
    unsigned nv = 0;
    for (unsigned j = 0; j < n; j++) {
        const qv_func *f = memb[j];
        bool last = j + 1 == n;
        /* The roles below go by each argument's own mode: an in-place
         * f(out=a, in=a) took a as an intermediate at its output, then read
         * the part's scratch at its input instead of a's bytes (or, as the
         * last call, sent a as an output only, never its bytes: review
         * finding). */
        if (writes_aliased(f, args[j])) {
            snprintf(why, wn, "call %u names a buffer it writes in another argument too",
                     j + 1);
            return false;
        }
        for (unsigned i = 0; i < f->nargs; i++) {
            const qv_arg_desc *d = &f->args[i];
            seen *e = d->is_buf ? seen_of(v, nv, args[j][i].buf) : NULL;
            /* A buffer a call writes for none of the later ones to read is
             * no intermediate: its bytes would be lost on the daemon (which
             * refuses such a run) and computed again on the host. Two
             * independent calls of a replayed region went as a part, were
             * refused, and took the board out of service at every entry
             * (adversarial testing). */
            if (d->is_buf && (d->mode & QV_W) && !last &&
                !read_later(memb, n, args, j, args[j][i].buf)) {
                snprintf(why, wn,
                         "call %u writes a buffer no later call of the part reads",
                         j + 1);
                return false;
            }
            if (e && e->tmp >= 0) { /* an intermediate of the part */
                if (last && (d->mode & QV_W)) {
                    snprintf(why, wn, "its last call writes an intermediate buffer");
                    return false;
                }
                s->role[j][i] = QV__PART_TMP;
                s->idx[j][i] = (uint8_t)e->tmp;
                if (d->mode & QV_W)
                    s->recipe[j] = true;
                continue;
            }
            if (d->is_buf && !last && d->mode == QV_W && !e) {
                if (s->ntmp >= QV__PART_TMPS) {
                    snprintf(why, wn, "more than %d intermediate buffers", QV__PART_TMPS);
                    return false;
                }
                v[nv++] = (seen){args[j][i].buf, (int)s->ntmp, -1};
                s->tmp_size[s->ntmp] = args[j][i].buf->size;
                s->role[j][i] = QV__PART_TMP;
                s->idx[j][i] = (uint8_t)s->ntmp++;
                s->recipe[j] = true;
                continue;
            }
            if (d->is_buf && (d->mode & QV_W) && (!last || e)) {
                snprintf(why, wn, "call %u writes a buffer %s", j + 1,
                         last ? "an earlier call reads" : "it or another call reads");
                return false;
            }
            if (e) { /* read again */
                s->role[j][i] = QV__PART_ARG;
                s->idx[j][i] = (uint8_t)e->arg;
                continue;
            }
            if (s->nargs >= QV_MAX_ARGS) {
                snprintf(why, wn, "more than %d arguments", QV_MAX_ARGS);
                return false;
            }
            unsigned a = s->nargs++;
            s->src_j[a] = (uint8_t)j;
            s->src_i[a] = (uint8_t)i;
            s->mode[a] = d->is_buf ? d->mode : QV_R;
            s->role[j][i] = QV__PART_ARG;
            s->idx[j][i] = (uint8_t)a;
            if (d->is_buf)
                v[nv++] = (seen){args[j][i].buf, -1, (int)a};
        }
    }
    for (unsigned j = 0; j + 1 < n; j++)
        if (!s->recipe[j]) {
            snprintf(why, wn, "call %u writes nothing the part keeps", j + 1);
            return false;
        }
    return true;
}

/* The function of a part's task: the calls' arguments as shape s has
 * them, run by the remote boards and, in turn, by the CPU. */
static int make_func(qv_runtime *rt, struct qv__part *pt, unsigned idx)
{
    const qv__part_shape *s = &pt->s;
    qv_arg_desc d[QV_MAX_ARGS];
    for (unsigned a = 0; a < s->nargs; a++) {
        const qv_arg_desc *src = &s->memb[s->src_j[a]]->args[s->src_i[a]];
        d[a] = (qv_arg_desc){src->name, src->is_buf, (qv_mode)s->mode[a], src->size};
    }
    char name[160];
    size_t len = (size_t)snprintf(name, sizeof name, "part:");
    for (unsigned j = 0; j < s->n && len < sizeof name; j++)
        len += (size_t)snprintf(name + len, sizeof name - len, "%s%s", j ? "+" : "",
                                s->memb[j]->name);
    if (idx && len < sizeof name)
        snprintf(name + len, sizeof name - len, "#%u", idx + 1);
    qv__utf8_trim(name); /* the trace writes it: a long one ends at a character */
    int rc = qv_func_create(rt, name, d, s->nargs, &pt->pf);
    if (rc)
        return rc;
    bool cpu = true;
    for (unsigned j = 0; j < s->n; j++)
        cpu &= s->memb[j]->cpu != NULL;
    /* On the CPU it is its calls (qv__task_execute calls qv__part_run_cpu);
     * any function stands for "has one". */
    if (cpu && (rc = qv_func_set_cpu(pt->pf, s->memb[0]->cpu)) != 0)
        return rc;
    pt->pf->impls |= 1u << QV_CLASS_REMOTE;
    pt->pf->where =
        cpu ? (1u << QV_CLASS_CPU | 1u << QV_CLASS_REMOTE) : 1u << QV_CLASS_REMOTE;
    pt->pf->part = pt;
    return 0;
}

/* The entry of rt->parts of shape s, or NULL; *same_name: entries of its
 * calls' functions (other sizes). */
static struct qv__part *part_find(qv_runtime *rt, const qv__part_shape *s,
                                  unsigned *same_name)
{
    *same_name = 0;
    pthread_mutex_lock(&rt->reg_mu);
    struct qv__part *pt = rt->parts;
    for (; pt; pt = pt->next) {
        if (!memcmp(&pt->s, s, sizeof *s))
            break;
        *same_name +=
            pt->s.n == s->n && !memcmp(pt->s.memb, s->memb, s->n * sizeof *s->memb);
    }
    pthread_mutex_unlock(&rt->reg_mu);
    return pt;
}

/* Makes the entries of rt->parts one at a time: two threads replaying
 * parts of one shape both made "part:...", the second's name was taken
 * and the shape was remembered as one never shipped whole (as fuse.c's
 * chains once were). */
static pthread_mutex_t make_mu = PTHREAD_MUTEX_INITIALIZER;

void qv__part_fork_lock(bool lock)
{
    qv__fork_hold(&make_mu, lock);
}

/* The part of shape s, made on first use; NULL when it cannot be. */
static struct qv__part *part_get(qv_runtime *rt, const qv__part_shape *s)
{
    unsigned same_name;
    struct qv__part *pt = part_find(rt, s, &same_name);
    if (pt)
        return pt->pf ? pt : NULL;
    /* Each set of intermediate sizes is a function of the runtime's, kept
     * until it is destroyed: sizes that never repeat made one a call.
     * Past rt->max_size_sets, the calls of new sizes go one by one (told
     * once); decided before make_mu, which such calls would all take. */
    if (same_name >= rt->max_size_sets) {
        if (!atomic_exchange(&rt->sets_capped, true))
            qv__log(2, "a part of '%s' and %u more calls: %u sets of sizes made already; "
                    "calls of new sizes go one by one", s->memb[0]->name, s->n - 1,
                    same_name);
        return NULL;
    }
    pthread_mutex_lock(&make_mu);
    if ((pt = part_find(rt, s, &same_name)) != NULL) {
        pthread_mutex_unlock(&make_mu);
        return pt->pf ? pt : NULL;
    }
    if (!(pt = calloc(1, sizeof *pt))) {
        pthread_mutex_unlock(&make_mu);
        return NULL;
    }
    pt->s = *s;
    if (make_func(rt, pt, same_name) != 0) {
        qv__log(1, "a part of %u calls is not shipped whole: %s", s->n, qv_last_error());
        pt->pf = NULL;
    } else {
        qv__log(2, "remote boards run part '%s' in one request", pt->pf->name);
    }
    pthread_mutex_lock(&rt->reg_mu);
    pt->next = rt->parts;
    rt->parts = pt;
    pthread_mutex_unlock(&rt->reg_mu);
    pthread_mutex_unlock(&make_mu);
    return pt->pf ? pt : NULL;
}

/* Whether a device of rt other than its remote boards could run f, its
 * qv_func_set_where aside (a call that no device it allows can take runs
 * on another). A part's task re-runs only on the CPU (its calls in turn,
 * when each has a CPU implementation) or a remote board, never there. */
static bool runs_off_the_boards(qv_runtime *rt, const qv_func *f)
{
    for (unsigned d = 1; d <= rt->naccel; d++)
        if (qv__devq_class(rt, d) != QV_CLASS_REMOTE && qv__devq_usable_unmasked(rt, d, f))
            return true;
    return false;
}

qv__task *qv__part_launch(qv_runtime *rt, const uint64_t *seq, unsigned n, qv_func *f,
                          const qv_arg *args, unsigned dev)
{
    if (n < 2 || n > QV__PART_MAX)
        return NULL;
    qv_func *memb[QV__PART_MAX];
    const qv_arg *cargs[QV__PART_MAX];
    qv_arg copy[QV__PART_MAX - 1][QV_MAX_ARGS];
    qv__defer *d[QV__PART_MAX];
    memb[n - 1] = f;
    cargs[n - 1] = args;
    unsigned char *sc = qv__defer_copy(rt, seq, n - 1, d, memb, cargs, copy);
    if (!sc)
        return NULL;
    qv__part_shape s;
    char why[160] = "";
    struct qv__part *pt = NULL;
    bool where = true, fit = true;
    for (unsigned j = 0; j < n; j++) /* each call allowed on the board */
        where &= !memb[j]->where || (memb[j]->where & (1u << QV_CLASS_REMOTE));
    /* Each call runs its own kernel there: bound to one, and within its
     * sizes and limits (qv__fpga_fits), as a call sent alone must be. */
    for (unsigned j = 0; j < n && where && fit; j++) {
        if (!atomic_load_explicit(&memb[j]->kernel, memory_order_relaxed)) {
            snprintf(why, sizeof why, "'%s' has no FPGA kernel", memb[j]->name);
            fit = false;
        } else if (!qv__func_cpu(memb[j]) && runs_off_the_boards(rt, memb[j])) {
            /* The part could not follow it to that device: a daemon that
             * died mid-part failed the part (QV_ENODEV) where the call
             * alone ran on the host's emulated board or GPU (adversarial
             * testing). */
            snprintf(why, sizeof why,
                     "'%s' has no CPU implementation, and the part could not re-run "
                     "where it can",
                     memb[j]->name);
            fit = false;
        } else {
            fit = qv__fpga_fits_args(memb[j], cargs[j], why, sizeof why);
        }
    }
    /* The plan's parts fit its daemon's run (loop.c part_len); the board
     * may have come back since from a daemon that takes fewer. */
    unsigned most = qv__devq_run_calls(rt, dev);
    if (!where)
        snprintf(why, sizeof why,
                 "a call may not run on a remote board (qv_func_set_where)");
    else if (n > most)
        snprintf(why, sizeof why, "its daemon takes at most %u calls in a run", most);
    else if (fit && shape_of(&s, memb, n, cargs, why, sizeof why))
        pt = part_get(rt, &s);
    if (!pt) {
        if (why[0])
            qv__log(3, "a part of %u calls runs call by call: %s", n, why);
        free(sc);
        return NULL;
    }
    qv_arg pargs[QV_MAX_ARGS];
    for (unsigned a = 0; a < s.nargs; a++)
        pargs[a] = cargs[s.src_j[a]][s.src_i[a]];
    pthread_mutex_lock(&rt->submit_mu);
    bool ok = !rt->shut;
    for (unsigned j = 0; ok && j + 1 < n; j++)
        ok = qv__defer_find(rt, seq[j]) == d[j];
    /* As a fused kernel (fuse.c): not past a newer deferred call on its
     * buffers, which comes after the calls the part stands in for. */
    ok = ok && !qv__defer_newer_conflict(rt, seq[0], pt->pf, pargs);
    qv__task *t = NULL, *forced = NULL;
    int rc = 0;
    if (ok) {
        /* The part's task first: should it not go in, the calls are
         * untouched and the caller submits them as they are. Its buffers
         * are the held calls' inputs, which they only read, and no newer
         * deferred call conflicts with it (above): it forces only older
         * calls, none of the held ones. */
        t = qv__submit_locked(rt, pt->pf, pargs, s.nargs, dev + 1, 0, &forced, NULL, &rc);
        if (!t) {
            qv__log(1, "part '%s' not submitted, its calls run as they are: %s",
                    pt->pf->name, qv_last_error());
            ok = false;
        } else {
            for (unsigned j = 0; j + 1 < n; j++)
                qv__defer_keep(rt, d[j]); /* each wrote an intermediate */
            qv__defer_prune(rt);
        }
    }
    pthread_mutex_unlock(&rt->submit_mu);
    free(sc);
    qv__defer_start(rt, forced);
    return ok ? t : NULL;
}

int qv__part_run_cpu(const qv_func *f, const qv_call *call, void (*ready)(void *),
                     void *ready_arg)
{
    const qv__part_shape *s = &f->part->s;
    qv_cpu_fn fn[QV__PART_MAX];
    for (unsigned j = 0; j < s->n; j++) /* as qv__fuse_run_cpu */
        if (!(fn[j] = qv__func_cpu(s->memb[j])))
            return qv__fail(QV_ENODEV, "part '%s' on the CPU: '%s' has no CPU "
                            "implementation", f->name, s->memb[j]->name);
    void *tmp[QV__PART_TMPS] = {0};
    int rc = 0;
    for (unsigned k = 0; k < s->ntmp && !rc; k++)
        if (!(tmp[k] = calloc(1, s->tmp_size[k] ? s->tmp_size[k] : 1)))
            rc = QV_ENOMEM;
    if (!rc && ready)
        ready(ready_arg);
    for (unsigned j = 0; j < s->n && !rc; j++) {
        const qv_func *m = s->memb[j];
        void *ptr[QV_MAX_ARGS];
        size_t size[QV_MAX_ARGS];
        for (unsigned i = 0; i < m->nargs; i++) {
            unsigned x = s->idx[j][i];
            bool t = s->role[j][i] == QV__PART_TMP;
            ptr[i] = t ? tmp[x] : call->ptr[x];
            size[i] = t ? s->tmp_size[x] : call->size[x];
        }
        fn[j](&(qv_call){ptr, size, m->nargs, call->worker});
    }
    for (unsigned k = 0; k < s->ntmp; k++)
        free(tmp[k]);
    return rc ? qv__fail(rc,
                         "part '%s' on the CPU: out of memory for its intermediate "
                         "buffers",
                         f->name)
              : 0;
}

void qv__part_free(qv_runtime *rt)
{
    while (rt->parts) {
        struct qv__part *pt = rt->parts;
        rt->parts = pt->next;
        free(pt);
    }
}
