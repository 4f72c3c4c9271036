/*
 * region.c - regions, the submit side of the run-time loop (docs/runtime.md,
 * "Regions"): the tasks a thread submits between qv_region_begin and
 * qv_region_end, or between two of its qv_wait_all calls (implicit
 * regions), are one entry of a region. Each entry gets a signature; once a
 * region's signature has been seen hot_threshold entries in a row, the
 * background thread (loop.c) compiles it into a plan. Later entries replay
 * the plan: while each submission matches the plan's next one (the guard),
 * the task goes to the device the plan chose, with no placement decision.
 * The first submission that does not match ends the replay of that entry
 * (a guard miss): it and the rest run eagerly, as any task does, so nothing
 * is lost.
 *
 * The signature is built on the submit path, so it is cheap: a thread-local
 * hash, a few multiplications per argument, no lock and no allocation
 * (except when the thread's table of prefix signatures grows). A buffer
 * enters it by the index of its first appearance in the entry (a small
 * thread-local table, reset per entry by a generation number), with its
 * size and the argument's access mode; a function by its registration
 * index (which fixes its scalar sizes; scalar values are left out, but for
 * those its catalog kernel's size expressions or trip count name: they
 * decide whether a call fits the kernel, and what it costs there). The
 * signature after each task is kept (the prefix signatures): the plan's
 * guard compares them one by one.
 *
 * Which plan an entry replays is known at its first task: an explicit
 * region's own; for implicit ones, the region that followed the thread's
 * last implicit region the last time (so a program alternating two phases
 * replays both), else that region again.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/policy.h"
#include "core/region.h"
#include "trace/graph.h"
#include "trace/perfmodel.h"

#define SIG_SLOTS    256 /* buffers told apart per entry (a power of two) */
#define SIG_PROBES   4
#define MAX_IMPLICIT 1024 /* implicit regions kept per runtime */
/* Explicit region names kept per runtime: each is looked up by name at
 * every entry (a list), so a program that names a region per iteration
 * ("iter-%d") gets an error, not a slower runtime at every entry. */
#define MAX_EXPLICIT 4096
#define MAX_ENTRY    (1u << 20) /* tasks of an entry that can be planned */
#define IMPLICIT     "implicit:"

/* The calling thread's entry on one runtime. A thread keeps one per
 * runtime it submits to, up to TLS_RUNTIMES; turning to one more drops the
 * open region and entry of the one it used least recently (docs/runtime.md). */
typedef struct tls_state {
    const qv_runtime *rt;
    uint64_t serial;
    uint64_t used;   /* the thread's tick when it last turned to this one */
    uint64_t sig, ntasks, lo, hi;
    uint64_t nodes;  /* of the graph: the tasks, a fused chain as one */
    uint64_t fused;  /* chains launched fused */
    uint64_t shipped; /* parts sent whole to a remote board */
    uint64_t begin_ns; /* the entry's first call */
    bool begun;      /* the entry has its first call */
    uint32_t gen, nslots;
    qv__region *open; /* the explicit region open, or NULL */
    qv__region *last; /* the most recent region an entry ended in */
    qv__region *defer; /* measurements of its entries wait for a wait */
    bool untracked;   /* the most recent entry was in no region kept */
    /* Prefix signatures of the entry; pref_ok false when the entry
     * outgrew them (it is then not compiled). */
    uint64_t *pref;
    size_t pcap;
    bool pref_ok;
    /* The replay of the entry: the plan and its region, or NULL; missed
     * when a submission did not match. pred_us: the calibrated prediction
     * of the entry's time, as of its start. */
    qv__rplan *rp;
    qv__region *rr;
    bool missed;
    double pred_us;
    /* The next of the plan's refreshes (qv__rplan.fresh) to weigh, and
     * whether the entry sent one (fresh_try). */
    unsigned fi;
    bool freshed;
    /* The fused chain being held back: its calls so far, deferred. */
    uint64_t stash[8];
    unsigned nstash;
    struct sig_buf {
        const qv_buf *b;
        uint32_t gen, slot;
    } tab[SIG_SLOTS];
} tls_state;

/* Runtimes a thread follows at once. The first one's state is inline,
 * as most threads submit to one runtime; the others' are allocated when a
 * thread first turns to a second one. */
#define TLS_RUNTIMES 8

static _Thread_local tls_state tls;
static _Thread_local tls_state *tls_more; /* TLS_RUNTIMES - 1, or NULL */
static _Thread_local tls_state *tls_cur;  /* the one used last, or NULL */
static _Thread_local uint64_t tls_tick;
/* The runtimes whose open regions this thread dropped (tls_for), the
 * last TLS_RUNTIMES of them, so that their qv_region_end says why there
 * is none: "no region is open" was all it said, after a begin that had
 * returned 0 (adversarial testing); and when only the last drop was
 * kept, so it said to a program that had opened regions on ten runtimes. */
static _Thread_local struct dropped {
    const qv_runtime *rt;
    uint64_t serial;
} tls_dropped[TLS_RUNTIMES];
static _Thread_local unsigned tls_ndropped; /* drops so far: the next slot */
static _Atomic uint64_t serials;
static pthread_key_t exit_key;
static bool key_ok;

static void drop_replay(tls_state *s);

static void state_gone(tls_state *s)
{
    free(s->pref);
    s->pref = NULL;
    s->pcap = 0;
    drop_replay(s);
}

/* A thread exits: frees its prefix signatures and lets go of the plans its
 * unfinished entries were replaying (the key's value is &tls: set once a
 * thread has either). */
static void thread_gone(void *p)
{
    state_gone(p);
    for (int i = 0; tls_more && i < TLS_RUNTIMES - 1; i++)
        state_gone(&tls_more[i]);
    free(tls_more);
    tls_more = NULL;
    tls_cur = NULL;
}

static void key_init(void)
{
    key_ok = pthread_key_create(&exit_key, thread_gone) == 0;
}

/* Has thread_gone run when this thread exits; false when it cannot. */
static bool at_thread_exit(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, key_init);
    return key_ok && (pthread_getspecific(exit_key) ||
                      pthread_setspecific(exit_key, &tls) == 0);
}

static inline uint64_t mix(uint64_t h, uint64_t x)
{
    h = (h ^ x) * 0x9E3779B97F4A7C15u;
    return h ^ (h >> 29);
}

static void drop_replay(tls_state *s)
{
    if (s->rp)
        qv__rplan_release(s->rp);
    s->rp = NULL;
    s->rr = NULL;
}

/* Prefix signatures a state keeps between entries: 512 KiB. A longer
 * entry's are freed when it ends, so a state left by a runtime that
 * another thread destroyed holds no more until it is taken again. */
#define PREF_KEEP 65536

/* Forgets the entry (its calls are in, or stay deferred, in any case). */
static void entry_reset(tls_state *s)
{
    if (s->pcap > PREF_KEEP) {
        free(s->pref);
        s->pref = NULL;
        s->pcap = 0;
    }
    s->ntasks = 0;
    s->nodes = 0; /* an empty entry next measures nothing */
    s->lo = s->hi = 0;
    s->begun = false;
    s->nstash = 0;
    drop_replay(s);
}

static void rebind(tls_state *s, const qv_runtime *rt)
{
    /* A chain held for the other runtime stays deferred there: its
     * accesses or its shutdown submit it. */
    entry_reset(s); /* a plan holds no pointer into its runtime */
    s->rt = rt;
    s->serial = rt->loop->serial;
    s->open = NULL;
    s->last = NULL;
    s->defer = NULL;
    s->untracked = false;
}

/* The calling thread's state for rt, or NULL when it has none. A state
 * is rt's by its address and serial: a runtime made at a destroyed one's
 * address does not take up what the thread had there. */
static tls_state *tls_find(const qv_runtime *rt)
{
    uint64_t serial = rt->loop->serial;
    tls_state *s = tls_cur;
    if (s && s->rt == rt && s->serial == serial)
        return s;
    s = tls.rt == rt && tls.serial == serial ? &tls : NULL;
    for (int i = 0; !s && tls_more && i < TLS_RUNTIMES - 1; i++)
        if (tls_more[i].rt == rt && tls_more[i].serial == serial)
            s = &tls_more[i];
    if (s) {
        s->used = ++tls_tick;
        tls_cur = s;
    }
    return s;
}

/* Forgets this thread's drops of regions open on rt: a region opened
 * there again is what an end is for. */
static void dropped_forget(const qv_runtime *rt)
{
    for (unsigned i = 0; i < TLS_RUNTIMES; i++)
        if (tls_dropped[i].rt == rt)
            tls_dropped[i].rt = NULL;
}

/* Whether this thread dropped the region it had open on rt (of this
 * serial: a runtime made since at rt's address is another); forgotten. */
static bool dropped_take(const qv_runtime *rt, uint64_t serial)
{
    bool found = false;
    for (unsigned i = 0; i < TLS_RUNTIMES; i++)
        found |= tls_dropped[i].rt == rt && tls_dropped[i].serial == serial;
    dropped_forget(rt);
    return found;
}

/* The calling thread's state for rt, made when it has none: a free one, a
 * destroyed runtime's at rt's address, else the one used least recently,
 * started over (its runtime is never touched: it may be gone). */
static tls_state *tls_for(const qv_runtime *rt)
{
    tls_state *s = tls_find(rt);
    if (s)
        return s;
    tls_state *pick = &tls;
    if (tls.rt && tls.rt != rt) {
        if (!tls_more && at_thread_exit()) /* else the first starts over */
            tls_more = calloc(TLS_RUNTIMES - 1, sizeof *tls_more);
        for (int i = 0; tls_more && i < TLS_RUNTIMES - 1; i++) {
            tls_state *c = &tls_more[i];
            if (!c->rt || c->rt == rt) {
                pick = c;
                break;
            }
            if (c->used < pick->used)
                pick = c;
        }
    }
    if (pick->rt && pick->rt != rt && pick->open)
        tls_dropped[tls_ndropped++ % TLS_RUNTIMES] = (struct dropped){pick->rt, pick->serial};
    rebind(pick, rt);
    pick->used = ++tls_tick;
    return tls_cur = pick;
}

/* Index of b's first appearance in the entry; UINT32_MAX past the table
 * (those buffers are told apart by size and mode only). */
static inline uint32_t buf_slot(tls_state *s, const qv_buf *b)
{
    uint32_t h = ((uint32_t)((uintptr_t)b >> 4) * 0x9E3779B1u) >> 24;
    for (unsigned k = 0; k < SIG_PROBES; k++) {
        struct sig_buf *e = &s->tab[(h + k) & (SIG_SLOTS - 1)];
        if (e->gen != s->gen) {
            e->gen = s->gen;
            e->b = b;
            return e->slot = s->nslots++;
        }
        if (e->b == b)
            return e->slot;
    }
    return UINT32_MAX;
}

/* Keeps prefix signature k; false past MAX_ENTRY or out of memory. */
static bool pref_grow(tls_state *s, uint64_t k)
{
    if (k >= MAX_ENTRY || !at_thread_exit())
        return false;
    size_t cap = s->pcap ? s->pcap * 2 : 1024;
    uint64_t *p = realloc(s->pref, cap * sizeof *p);
    if (!p)
        return false;
    s->pref = p;
    s->pcap = cap;
    return true;
}

/* The region the entry starting now is expected to be; under loop->mu. */
static qv__region *expected(const qv_runtime *rt, const tls_state *s)
{
    if (s->open)
        return s->open;
    if (!rt->policy->implicit_regions || !s->last || !s->last->implicit)
        return NULL;
    return s->last->follow ? s->last->follow : s->last;
}

/* An entry starts: takes the plan it is to replay, if there is one. */
static void entry_start(qv_runtime *rt, tls_state *s)
{
    drop_replay(s);
    s->missed = false;
    s->pref_ok = true;
    struct qv__loop *l = rt->loop;
    pthread_mutex_lock(&l->mu);
    qv__region *r = expected(rt, s);
    if (r && r->plan && r->probe) /* eager placement measured again */
        r->probe--;
    else if (r && r->plan && at_thread_exit()) {
        s->rp = r->plan;
        atomic_fetch_add_explicit(&s->rp->refs, 1, memory_order_relaxed);
        s->rr = r;
        s->pred_us = qv__region_predict(r);
    }
    pthread_mutex_unlock(&l->mu);
}

/* A submission did not match the plan: the rest of the entry is eager. */
static void guard_miss(qv_runtime *rt, tls_state *s, const char *why)
{
    struct qv__loop *l = rt->loop;
    pthread_mutex_lock(&l->mu);
    s->rr->guard_misses++;
    pthread_mutex_unlock(&l->mu);
    qv__log(3, "region %s: guard miss at task %" PRIu64 " of the entry (%s); the rest "
            "of the entry runs eagerly", s->rr->name, s->ntasks, why);
    s->missed = true;
    drop_replay(s);
}

/* The entry's first call: a fresh signature, and the plan to replay. */
static void entry_begin(qv_runtime *rt, tls_state *s)
{
    s->begun = true;
    s->ntasks = 0;
    s->nodes = 0;
    s->fused = 0;
    s->shipped = 0;
    s->begin_ns = qv__now_ns();
    s->lo = UINT64_MAX;
    s->hi = 0;
    s->sig = 0x51654E7A11u;
    s->nslots = 0;
    s->fi = 0;
    s->freshed = false;
    if (!++s->gen) { /* wrapped: no stale entry may match */
        memset(s->tab, 0, sizeof s->tab);
        s->gen = 1;
    }
    entry_start(rt, s);
}

/* A node of the graph made by the entry. */
static inline void note_node(tls_state *s, uint64_t id)
{
    if (s->lo == UINT64_MAX)
        s->lo = id;
    s->hi = id + 1;
    s->nodes++;
}

/* The signature of the entry with call (f, args) added. */
static uint64_t sig_step(tls_state *s, const qv_func *f, const qv_arg *args)
{
    uint64_t h = mix(s->sig, ((uint64_t)f->id << 8) | f->nargs);
    uint64_t scalars = 0;
    for (unsigned i = 0; i < f->nargs; i++) {
        const qv_arg_desc *d = &f->args[i];
        if (d->is_buf) {
            const qv_buf *b = args[i].buf;
            h = mix(h, ((uint64_t)buf_slot(s, b) << 2) | (unsigned)d->mode);
            h = mix(h, b->size);
        } else {
            scalars = scalars * 31 + d->size;
            if (f->sig_scalars & (1u << i)) { /* sizes the FPGA kernel */
                uint64_t v = 0;
                memcpy(&v, args[i].val, d->size < sizeof v ? d->size : sizeof v);
                h = mix(h, v);
            }
        }
    }
    return scalars ? mix(h, scalars) : h;
}

/* Takes signature h as the entry's, with its prefix kept. */
static void sig_take(tls_state *s, uint64_t h)
{
    s->sig = h;
    uint64_t k = s->ntasks++;
    if (s->pref_ok) {
        if (k < s->pcap || pref_grow(s, k))
            s->pref[k] = h;
        else
            s->pref_ok = false;
    }
}

/* The calling thread's state for rt when its submissions make an entry:
 * always with implicit regions, else only inside an explicit region.
 * Without either, a submission costs no signature, and a long run
 * between waits no prefix signatures (8 bytes a task). */
static tls_state *tls_entry(const qv_runtime *rt)
{
    if (rt->policy->implicit_regions)
        return tls_for(rt);
    tls_state *s = tls_find(rt);
    return s && s->open ? s : NULL;
}

/* Call k of the replay (t, planned already): sent instead to the device
 * of a refresh the plan offers for it, when the model there is due one
 * (qv__perf_refresh_due, as eager placement weighs it: each replayed call
 * k counts a call that passed it by). One refresh a call; a class due as
 * well stays due for the next entry. */
static void fresh_try(qv_runtime *rt, tls_state *s, qv__task *t, uint64_t k)
{
    const qv__rplan *p = s->rp;
    uint64_t gap = (uint64_t)rt->policy->perfmodel_refresh_ms * 1000000u;
    bool sent = false;
    for (; s->fi < p->nfresh && p->fresh[s->fi].k <= k; s->fi++) {
        const struct qv__rfresh *c = &p->fresh[s->fi];
        if (c->k < k || !qv__can_run_on(rt, t->func, c->dev) ||
            !qv__perf_refresh_due(t->func->perf[c->cls], t->bytes, qv__now_ns(), gap,
                                  c->price_us, !sent) ||
            sent)
            continue;
        t->planned = c->dev + 1u;
        t->worker = 0;
        t->refresh = true;
        s->freshed = true;
        sent = true;
        qv__log(3,
                "region %s: task %" PRIu64 " of the entry ('%s') -> %s: its model "
                "there was not measured for perfmodel.refresh_ms (refresh)",
                s->rr->name, k, t->func->name, qv__devq_name(rt, c->dev));
    }
}

void qv__region_note(qv_runtime *rt, qv__task *t, const qv_arg *args)
{
    /* tls_entry: a new runtime at a destroyed one's address must not take
     * up the entry (and the plan's region) the thread had there. */
    tls_state *s = tls_entry(rt);
    if (!s)
        return;
    if (!s->begun)
        entry_begin(rt, s);
    note_node(s, t->id);
    uint64_t k = s->ntasks;
    uint64_t h = sig_step(s, t->func, args);
    sig_take(s, h);
    if (!s->rp)
        return;
    if (k >= s->rp->n || s->rp->pref[k] != h) {
        guard_miss(rt, s, k < s->rp->n ? "another call than the plan's"
                                        : "more tasks than the plan's");
    } else if ((s->rp->chain && s->rp->chain[k]) ||
               qv__can_run_on(rt, t->func, s->rp->dev[k])) {
        /* A chain's calls that could not be fused here run as they are, as
         * the plan has it: on its device where they can. */
        t->planned = s->rp->dev[k] + 1u;
        t->worker = s->rp->worker[k];
        if (s->fi < s->rp->nfresh && s->rp->fresh[s->fi].k <= k)
            fresh_try(rt, s, t, k);
    } else {
        /* Counted as replayed, the entry would claim a device that did not
         * run the call. */
        guard_miss(rt, s, "the plan's device cannot run the call now");
    }
}

bool qv__region_prefetches(const qv_runtime *rt)
{
    const tls_state *s = tls_find(rt);
    return s && s->rp && s->rp->accel;
}

/* Submits the held chain as it is, noting its nodes in the entry. */
static void flush(qv_runtime *rt, tls_state *s)
{
    qv__task *forced = NULL;
    pthread_mutex_lock(&rt->submit_mu);
    qv__defer_force_seq(rt, s->stash, s->nstash, &forced);
    pthread_mutex_unlock(&rt->submit_mu);
    s->nstash = 0;
    for (qv__task *t = forced; t; t = t->next)
        note_node(s, t->id);
    qv__defer_start(rt, forced);
}

void qv__region_flush(qv_runtime *rt)
{
    tls_state *s = tls_find(rt);
    if (s && s->nstash)
        flush(rt, s);
}

bool qv__region_fuse(qv_runtime *rt, qv_func *f, const qv_arg *args, size_t nargs, int *rc)
{
    tls_state *s = tls_entry(rt);
    if (!s)
        return false;
    if (!s->begun)
        entry_begin(rt, s);
    const qv__rplan *p = s->rp;
    uint64_t k = s->ntasks;
    if (!p || !p->nchains || k >= p->n || (!p->chain[k] && !s->nstash))
        return false; /* the common case: no chain here */
    bool valid = nargs == f->nargs;
    for (unsigned i = 0; valid && i < f->nargs; i++)
        valid = qv__arg_check(rt, f, args, i) == 0;
    uint64_t h = valid ? sig_step(s, f, args) : 0;
    const struct qv__rchain *c = p->chain[k] ? &p->chains[p->chain[k] - 1] : NULL;
    if (!valid || !c || h != p->pref[k] || k - c->first != s->nstash) {
        if (s->nstash) /* the chain is broken off: it runs as it is */
            flush(rt, s);
        return false;
    }
    *rc = 0;
    if (s->nstash + 1 < c->len) { /* hold it until the chain is whole */
        pthread_mutex_lock(&rt->submit_mu);
        uint64_t seq = rt->shut ? 0
                                : qv__defer_call(rt, f, args, nargs, p->dev[k] + 1u,
                                                 p->worker[k], true, rc);
        pthread_mutex_unlock(&rt->submit_mu);
        if (!seq) {
            flush(rt, s);
            return false;
        }
        s->stash[s->nstash++] = seq;
        sig_take(s, h);
        return true;
    }
    qv__task *t = c->k ? qv__fuse_launch(rt, c->k, s->stash, s->nstash + 1, f, args, p->dev[k])
                       : qv__part_launch(rt, s->stash, s->nstash + 1, f, args, p->dev[k]);
    if (!t) { /* not wired as the kernel wants, or not a part, this time */
        flush(rt, s);
        return false;
    }
    s->nstash = 0;
    if (c->k)
        s->fused++;
    else
        s->shipped++;
    note_node(s, t->id);
    sig_take(s, h);
    if (qv__task_unhold(t))
        qv__sched_push(rt, t);
    return true;
}

/* ---- regions ----------------------------------------------------------- */

static qv__region *region_new(qv_runtime *rt, const char *name, bool implicit)
{
    qv__region *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->name, sizeof r->name, "%s", name);
    r->implicit = implicit;
    r->next = rt->loop->list;
    rt->loop->list = r;
    return r;
}

static qv__region *find_named(struct qv__loop *l, const char *name)
{
    for (qv__region *r = l->list; r; r = r->next)
        if (!strcmp(r->name, name))
            return r;
    return NULL;
}

/* Queues a compile of the thread's entry in r, for `reason`. Under
 * loop->mu. */
static bool want_compile(qv_runtime *rt, qv__region *r, const tls_state *s, uint64_t sig,
                         bool replan, const char *reason)
{
    if (r->want_compile || rt->loop->stop)
        return false;
    if (!rt->rec) {
        snprintf(r->error, sizeof r->error,
                 "not compiled: the runtime does not record (qv_options.record is 0)");
        return false;
    }
    if (!s->pref_ok) {
        snprintf(r->error, sizeof r->error,
                 "not compiled: an entry of more than %u tasks", MAX_ENTRY);
        return false;
    }
    uint64_t lo = s->lo, hi = s->hi;
    qv__rplan *from = NULL;
    if (s->nodes != s->ntasks && r->plan && r->plan->sig == sig && r->plan->nchains) {
        /* Replayed with fused chains: the graph the plan came from. */
        from = r->plan;
    } else if (hi - lo != s->ntasks || s->nodes != s->ntasks) {
        /* Other threads' tasks came in between: the entry is not one range
         * of the graph. The next entry may be. Said in last_error too: a
         * program whose threads submit at once saw its region never
         * replay, with no reason given (adversarial testing). */
        qv__log(3, "region %s: entry interleaved with other threads' tasks, not compiled",
                r->name);
        snprintf(r->error, sizeof r->error,
                 "not compiled yet: other threads submitted tasks in the middle of its "
                 "entries; an entry of its own tasks alone is compiled");
        return false;
    }
    if (!qv__loop_job(r, lo, hi, from, s->pref, (uint32_t)s->ntasks, sig, replan, -1, 1,
                      reason)) {
        snprintf(r->error, sizeof r->error, "not compiled: out of memory");
        return false;
    }
    if (!qv__loop_queue(rt, r)) {
        r->want_compile = false;
        return false;
    }
    return true;
}

/* r's measurements waiting are dropped: no thread takes them. Under
 * loop->mu. */
static void drop_measures(qv__region *r)
{
    r->nspan_q = 0;
    while (r->nmeas_q)
        qv__rplan_release(r->meas_q[--r->nmeas_q].plan);
}

/* Wakes the loop's thread for r's measurements deferred; after the
 * loop stopped (a shutdown), they are dropped: the thread is not started
 * again. Under loop->mu. */
static void wake_deferred(qv_runtime *rt, qv__region *r)
{
    if (!r->meas_deferred)
        return;
    r->meas_deferred = false;
    r->meas_owner = NULL;
    if (rt->loop->stop || !qv__loop_queue(rt, r))
        drop_measures(r);
}

/* Measurements wait for the entry's tasks, not the loop's thread: woken
 * at the entry's end, it took a core from those tasks on a busy machine,
 * and the entries it measured ran about twice as long as the others (the
 * replayed signal frame of bench/loop --predict: 100-130 us against 44,
 * so the calibrated prediction promised the slowed time, +30 % on
 * average). So the calling thread takes them itself after its next
 * qv_wait_all or at its next entry's end (measure_deferred); the loop's
 * thread is woken for them when their tasks still run then, when another
 * of this thread's regions defers, when another thread's entry of the
 * region ends, or when qv_region_get asks. Under loop->mu. */
static void defer_wake(qv_runtime *rt, tls_state *s, qv__region *r)
{
    if (r->queued)
        return; /* the thread takes them at its turn */
    if (s->defer && s->defer != r)
        wake_deferred(rt, s->defer);
    r->meas_deferred = true;
    r->meas_owner = s;
    s->defer = r;
}

/* After the thread's qv_wait_all, or at its next entry's end: the
 * entries its deferred measurements are of are done (waited for, or by
 * now), so they are taken here, and no thread is woken. Only this
 * thread's, and only when every node is done (a node that is not may wait
 * for a buffer this thread holds): else the loop's thread takes them. */
static void measure_deferred(qv_runtime *rt, tls_state *s)
{
    if (!s->defer)
        return;
    struct qv__loop *l = rt->loop;
    struct qv__span_req q[QV__SPANS + QV__MEAS_Q];
    unsigned nq = 0;
    pthread_mutex_lock(&l->mu);
    qv__region *r = s->defer;
    s->defer = NULL;
    bool ours = r->meas_deferred && r->meas_owner == s;
    for (unsigned i = 0; ours && i < r->nspan_q; i++)
        q[nq++] = r->span_q[i];
    /* A span alone is read once, by take_measures, and dropped there when
     * its nodes are not done: it waits for nothing. */
    for (unsigned i = 0; ours && i < r->nmeas_q; i++)
        if (!r->meas_q[i].span_only)
            q[nq++] = (struct qv__span_req){r->meas_q[i].lo, r->meas_q[i].hi, 0, 0};
    pthread_mutex_unlock(&l->mu);
    if (!ours)
        return;
    bool done = true;
    uint64_t t0, t1;
    for (unsigned i = 0; done && i < nq; i++)
        done = qv__gview_span(rt, q[i].lo, q[i].hi, &t0, &t1) != 0; /* or never */
    pthread_mutex_lock(&l->mu);
    if (r->meas_deferred && r->meas_owner == s) {
        if (done && !l->stop) {
            r->meas_deferred = false;
            r->meas_owner = NULL;
            qv__loop_measure(rt, r);
        } else {
            wake_deferred(rt, r);
        }
    }
    pthread_mutex_unlock(&l->mu);
}

/* Asks for the measuring of the replayed entry [lo, hi) of r. Under
 * loop->mu. Up to QV__MEAS_Q wait per region, later entries go unmeasured
 * rather than pile up behind a busy machine: two, so that a program that
 * does not wait between entries has each measured (with one, an entry
 * that ended while the one before still ran found that one waiting, and
 * half of them went unmeasured). */
static void want_measure(qv_runtime *rt, tls_state *s, qv__region *r, qv__rplan *p,
                         uint64_t lo, uint64_t hi, uint64_t begin_ns, bool fresh)
{
    if (rt->loop->stop || !rt->rec)
        return;
    /* A measure costs the machine the loop's time: tens of µs on a busy
     * 2-core machine, a fifth of a 100 µs entry. Past a plan's first
     * entries (calibration, weighing against eager placement) and while
     * no device drifts, an entry is measured when the last measured one
     * began at least QV__MEASURE_GAP_NS before: every entry of 0.5 ms or
     * more. */
    bool span_only = r->measured >= QV__MEASURE_ALL && !r->drift_entries && !fresh &&
                     begin_ns - r->meas_last_ns < QV__MEASURE_GAP_NS;
    /* The entries between still calibrate the prediction, by their span
     * alone (a node's times each, no judging): one entry in nine of the
     * 58 us frame of bench/loop --predict did, and a change of pace under
     * 1.25x took the prediction 30-40 entries to follow. Entries of 64
     * nodes at most: the span reads each node. */
    if (span_only && hi - lo > 64)
        return;
    if (r->nmeas_q == QV__MEAS_Q) {
        /* Full: a measure takes the place of a span, else waits no more. */
        unsigned k = 0;
        while (!span_only && k < QV__MEAS_Q && !r->meas_q[k].span_only)
            k++;
        if (span_only || k == QV__MEAS_Q)
            return;
        qv__rplan_release(r->meas_q[k].plan);
        memmove(r->meas_q + k, r->meas_q + k + 1,
                (QV__MEAS_Q - k - 1) * sizeof *r->meas_q);
        r->nmeas_q--;
    }
    if (!span_only && !fresh)
        r->meas_last_ns = begin_ns;
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    r->meas_q[r->nmeas_q++] =
        (struct qv__meas_req){p, lo, hi, begin_ns, span_only, fresh};
    defer_wake(rt, s, r);
}

/* Asks for the measuring of the recorded entry [lo, hi) of r, what eager
 * placement takes (loop.c weighs plans against it). Under loop->mu; up to
 * QV__SPANS waiting per region: with one, the entries recorded while the
 * loop's thread measured were lost, and a plan made at the
 * hot_threshold-th entry had too few to be weighed. */
static void want_span(qv_runtime *rt, tls_state *s, qv__region *r, uint64_t lo, uint64_t hi,
                      uint64_t sig, uint64_t begin_ns)
{
    /* QV__SPANS of a signature are enough (measuring an entry costs the
     * workers CPU time), but for those of a probe, which measures eager
     * placement again. */
    bool probing = r->probed && r->probe_new < QV__SPANS;
    if (r->nspan_q == QV__SPANS || rt->loop->stop || !rt->rec ||
        (r->eager_sig == sig && r->neager >= QV__SPANS && !probing))
        return;
    r->span_q[r->nspan_q++] = (struct qv__span_req){lo, hi, sig, begin_ns};
    defer_wake(rt, s, r);
}

/* Ends the calling thread's entry in r (explicit), or in the implicit
 * region of its signature when r is NULL. */
static void entry_end(qv_runtime *rt, tls_state *s, qv__region *r)
{
    struct qv__loop *l = rt->loop;
    if (s->nstash) /* the entry ends inside a chain */
        flush(rt, s);
    measure_deferred(rt, s); /* the entry before, done by now, or woken */
    uint64_t n = s->ntasks;
    uint64_t sig = n ? mix(s->sig, n) : 0;
    bool replayed = s->rp && !s->missed && n == s->rp->n;
    if (n)
        qv__devq_tell_due(rt); /* a device back from a fault may take work */
    pthread_mutex_lock(&l->mu);
    if (s->rp && !replayed && !s->missed) {
        s->rr->guard_misses++; /* it ended before the plan did */
        qv__log(3, "region %s: guard miss: the entry ended after %" PRIu64
                " of the plan's %u tasks", s->rr->name, n, s->rp->n);
    }
    qv__region *prev = s->last;
    if (!r) {
        if (s->last && s->last->implicit && s->last->sig == sig) {
            r = s->last;
        } else {
            char name[64];
            snprintf(name, sizeof name, IMPLICIT "%016" PRIx64, sig);
            for (qv__region *q = l->list; q && !r; q = q->next)
                if (q->implicit && q->sig == sig)
                    r = q;
            if (!r && l->nimplicit < MAX_IMPLICIT && (r = region_new(rt, name, true)))
                l->nimplicit++;
            if (!r) {
                /* Not kept: the thread's most recent region is none, not
                 * the one before (qv_region_get(rt, NULL) answered with an
                 * old region: adversarial testing). */
                s->last = NULL;
                s->untracked = true;
                pthread_mutex_unlock(&l->mu);
                entry_reset(s);
                return;
            }
        }
        if (prev && prev->implicit)
            prev->follow = r;
    }
    wake_deferred(rt, r); /* its last entry's, not taken by a wait: now */
    if (!r->entries++ || r->sig != sig) {
        r->sig = sig;
        r->signatures++;
        r->sig_entries = 1;
        r->fails = 0;
        r->next_try = 0;
    } else {
        r->sig_entries++;
    }
    if (replayed && s->rr == r) {
        r->replayed++;
        r->fused += s->fused;
        r->shipped += s->shipped;
        r->refreshes += s->freshed;
        r->predicted_us = s->pred_us;
        if (s->hi - s->lo == s->nodes)
            want_measure(rt, s, r, s->rp, s->lo, s->hi, s->begin_ns, s->freshed);
    } else {
        r->recorded++;
        /* Not a plan of other calls' (it reported the old plan's number
         * after a guard miss: adversarial testing). */
        r->predicted_us = r->plan && r->plan->sig == sig ? qv__region_predict(r) : 0;
        if (n && s->nodes == n && s->hi - s->lo == n)
            want_span(rt, s, r, s->lo, s->hi, sig, s->begin_ns);
    }
    r->tasks = n;
    r->nodes = s->nodes;
    r->lo = s->nodes ? s->lo : 0;
    r->hi = s->nodes ? s->hi : 0;
    s->last = r;
    s->untracked = false;
    if (n) {
        uint64_t gen = atomic_load(&l->dev_gen);
        /* The devices changed: plan again, fused kernels included (that a
         * fused plan lost to eager placement was about the devices as they
         * were; kept, a region never fused again, whatever came back). */
        if (r->lost && (r->lost_gen != gen ||
                        (r->lost_until_ns && qv__now_ns() >= r->lost_until_ns))) {
            r->lost = false;
            r->tried = false;
            r->no_fuse = false;
            r->retry = r->lost_gen == gen; /* the next compile's reason */
        }
        if (r->fails && r->fail_gen != gen) { /* and at once */
            r->fails = 0;
            r->next_try = 0;
        }
        if (r->plan && r->plan->sig == sig && r->plan->dev_gen != gen) {
            char why[200];
            r->neager = 0; /* eager entries ran on the devices as they were */
            r->no_fuse = false; /* and so did the fused plan that lost */
            snprintf(why, sizeof why, "devices changed: %s", l->dev_why);
            want_compile(rt, r, s, sig, true, why);
        } else if (r->sig_entries >= rt->policy->hot_threshold &&
                   r->sig_entries >= r->next_try && (!r->plan || r->plan->sig != sig) &&
                   !(r->tried && r->tried_sig == sig)) {
            char why[128];
            if (r->retry)
                snprintf(why, sizeof why, "planned again after running eagerly");
            else
                snprintf(why, sizeof why, "hot: %" PRIu64 " entries with one signature",
                         r->sig_entries);
            /* Tried once a compile is on its way: an entry that could not
             * ask for one (interleaved with other threads' tasks, or a
             * compile of another signature still running) leaves it to
             * the next entry. */
            if (want_compile(rt, r, s, sig, r->plan != NULL, why)) {
                r->tried = true;
                r->tried_sig = sig;
                r->retry = false;
            }
        }
    }
    pthread_mutex_unlock(&l->mu);
    entry_reset(s);
}

void qv__region_waited(qv_runtime *rt)
{
    tls_state *s = tls_find(rt);
    if (!s)
        return;
    if (!s->ntasks) { /* an entry begun without a task: begun again */
        if (!s->open)
            entry_reset(s);
    } else if (s->open) { /* an explicit region takes the work while open */
    } else if (!rt->policy->implicit_regions) {
        entry_reset(s);
    } else {
        entry_end(rt, s, NULL);
    }
    measure_deferred(rt, s);
}

void qv__region_devices_changed(qv_runtime *rt, const char *why)
{
    struct qv__loop *l = rt->loop;
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    snprintf(l->dev_why, sizeof l->dev_why, "%s", why);
    atomic_fetch_add(&l->dev_gen, 1);
    pthread_mutex_unlock(&l->mu);
}

QV_API int qv_region_begin(qv_runtime *rt, const char *name)
{
    if (!qv__rt_ok(rt) || !name)
        return qv__fail(QV_EINVAL, "qv_region_begin: %s", qv__args_why(rt));
    size_t len = strlen(name);
    if (!len || len >= sizeof((qv__region *)0)->name ||
        !strncmp(name, IMPLICIT, sizeof IMPLICIT - 1))
        return qv__fail(QV_EINVAL,
                        "qv_region_begin: a region name has 1 to 127 bytes and "
                        "does not start with '" IMPLICIT "'");
    pthread_mutex_lock(&rt->submit_mu);
    bool shut = rt->shut;
    pthread_mutex_unlock(&rt->submit_mu);
    if (shut)
        return qv__fail(QV_ESHUTDOWN, "qv_region_begin after qv_runtime_shutdown");
    /* A task's submissions belong to no entry (qv_submit skips the note),
     * so a region opened there would count empty entries, and one left
     * open would stay on the worker, refusing the next task's begin with
     * an EBUSY no thread could end (adversarial testing). */
    if (qv__task_context(rt))
        return qv__fail(QV_EINVAL,
                        "qv_region_begin('%s') from a task: regions are the "
                        "program's threads'; what a task submits belongs to no entry",
                        name);
    tls_state *s = tls_for(rt);
    if (s->open)
        return qv__fail(QV_EBUSY,
                        "qv_region_begin('%s'): region '%s' is open on this "
                        "thread; regions do not nest",
                        name, s->open->name);
    struct qv__loop *l = rt->loop;
    pthread_mutex_lock(&l->mu);
    qv__region *r = find_named(l, name);
    bool full = !r && l->nexplicit >= MAX_EXPLICIT;
    if (!r && !full && (r = region_new(rt, name, false)) != NULL)
        l->nexplicit++;
    pthread_mutex_unlock(&l->mu);
    if (full)
        return qv__fail(QV_E2BIG,
                        "qv_region_begin('%s'): this runtime has %d region names "
                        "already, the most it keeps (name regions by the code they "
                        "run, not by iteration)",
                        name, MAX_EXPLICIT);
    if (!r)
        return qv__fail(QV_ENOMEM, "qv_region_begin: out of memory");
    if (s->nstash)
        flush(rt, s);
    s->open = r;
    dropped_forget(rt); /* a region open again: an end is for it */
    entry_reset(s); /* work since the last wait is no implicit entry */
    return 0;
}

QV_API int qv_region_end(qv_runtime *rt)
{
    if (!qv__rt_ok(rt))
        return qv__fail(QV_EINVAL, "qv_region_end: %s", qv__rt_why(rt));
    tls_state *s = tls_find(rt);
    if ((!s || !s->open) && dropped_take(rt, rt->loop->serial))
        return qv__fail(QV_EINVAL, "qv_region_end: the region this thread opened on this "
                        "runtime was dropped, its entry lost, when the thread turned to "
                        "more than %d runtimes at once (docs/runtime.md, regions)",
                        TLS_RUNTIMES);
    if (!s || !s->open)
        return qv__fail(QV_EINVAL, "qv_region_end: no region is open on this thread "
                                   "(qv_region_begin first)");
    qv__region *r = s->open;
    s->open = NULL;
    entry_end(rt, s, r);
    return 0;
}

QV_API int qv_region_get(qv_runtime *rt, const char *name, qv_region_info *out)
{
    if (!qv__rt_ok(rt) || !out)
        return qv__fail(QV_EINVAL, "qv_region_get: %s", qv__args_why(rt));
    /* The versions: without `fused`, without `shipped`, without
     * `measured_entries`, without `refreshes`, and today's. */
    size_t v1 = offsetof(qv_region_info, fused), v2 = offsetof(qv_region_info, shipped),
           v3 = offsetof(qv_region_info, measured_entries),
           v4 = offsetof(qv_region_info, refreshes);
    if (out->size != sizeof *out && out->size != v1 && out->size != v2 &&
        out->size != v3 && out->size != v4)
        return qv__fail(QV_EINVAL,
                        "qv_region_info.size is %zu; set it to "
                        "sizeof(qv_region_info) (%zu)",
                        out->size, sizeof *out);
    size_t want = out->size;
    struct qv__loop *l = rt->loop;
    qv_region_info info;
    memset(&info, 0, sizeof info);
    info.size = sizeof info;
    pthread_mutex_lock(&l->mu);
    qv__region *r = NULL;
    tls_state *s = NULL;
    if (name) {
        r = find_named(l, name);
    } else if ((s = tls_find(rt)) != NULL) {
        r = s->last;
    }
    if (!r) {
        bool untracked = !name && s && s->untracked;
        pthread_mutex_unlock(&l->mu);
        if (untracked)
            return qv__fail(QV_ENOENT, "qv_region_get: this thread's last entry is in no "
                            "region: a runtime keeps %d implicit regions, and they are "
                            "taken", MAX_IMPLICIT);
        return qv__fail(QV_ENOENT, "qv_region_get: no region %s%s%s", name ? "'" : "",
                        name ? name : "on this thread yet", name ? "'" : "");
    }
    wake_deferred(rt, r); /* asked for: taken now, not at a wait to come */
    uint64_t lo = r->lo, hi = r->hi;
    bool measure = r->nodes && r->hi - r->lo == r->nodes && r->measured_lo != lo + 1;
    pthread_mutex_unlock(&l->mu);
    /* measured_us of the last entry, once its tasks are all done; 0 when
     * they left the recorded graph first (an entry larger than
     * qv_options.record_window kept the entry before's time, as if it
     * were its own: adversarial testing). */
    uint64_t t0, t1;
    int span = measure && rt->rec ? qv__gview_span(rt, lo, hi, &t0, &t1) : 0;
    if (span == 1 || span == QV_ENOENT) {
        pthread_mutex_lock(&l->mu);
        if (r->lo == lo && r->hi == hi) {
            r->measured_us = span == 1 && t1 > t0 ? (double)(t1 - t0) / 1e3 : 0;
            r->measured_lo = lo + 1;
        }
        pthread_mutex_unlock(&l->mu);
    }
    pthread_mutex_lock(&l->mu);
    snprintf(info.name, sizeof info.name, "%s", r->name);
    info.implicit = r->implicit;
    info.entries = r->entries;
    info.recorded = r->recorded;
    info.replayed = r->replayed;
    info.compiles = r->compiles;
    info.replans = r->replans;
    info.guard_misses = r->guard_misses;
    info.signature = r->sig;
    info.signatures = r->signatures;
    info.sig_entries = r->sig_entries;
    info.tasks = r->tasks;
    info.predicted_us = r->predicted_us;
    info.measured_us = r->measured_us;
    info.parts = r->plan ? r->plan->parts : 0;
    info.fused = r->fused;
    info.shipped = r->shipped;
    info.measured_entries = r->judged;
    info.refreshes = r->refreshes;
    snprintf(info.last_replan_reason, sizeof info.last_replan_reason, "%s", r->reason);
    snprintf(info.last_error, sizeof info.last_error, "%s", r->error);
    pthread_mutex_unlock(&l->mu);
    info.size = want;
    memcpy(out, &info, want);
    return 0;
}

int qv__region_init(qv_runtime *rt)
{
    struct qv__loop *l = calloc(1, sizeof *l);
    if (!l)
        return QV_ENOMEM;
    if (pthread_mutex_init(&l->mu, NULL)) {
        free(l);
        return QV_ENOMEM;
    }
    if (pthread_cond_init(&l->cv, NULL)) {
        pthread_mutex_destroy(&l->mu);
        free(l);
        return QV_ENOMEM;
    }
    l->serial = atomic_fetch_add(&serials, 1) + 1;
    rt->loop = l;
    return 0;
}

void qv__region_free(qv_runtime *rt)
{
    struct qv__loop *l = rt->loop;
    if (!l)
        return;
    qv__region_stop(rt);
    /* The calling thread's state for this runtime goes with it (its
     * prefix signatures can take megabytes, and a runtime made next on
     * this thread would take another state): another thread's stays, with
     * at most PREF_KEEP signatures, until that thread's least recently
     * used one is taken for a new runtime, or the thread ends. */
    tls_state *s = tls_find(rt);
    if (s) {
        entry_reset(s);
        state_gone(s);
        s->rt = NULL;
        s->open = s->last = NULL;
        if (tls_cur == s)
            tls_cur = NULL;
    }
    for (qv__region *r = l->list, *next; r; r = next) {
        next = r->next;
        if (r->plan)
            qv__rplan_release(r->plan);
        drop_measures(r);
        qv__rplan_release(r->job_from);
        free(r->job_pref);
        free(r);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
    rt->loop = NULL;
}
