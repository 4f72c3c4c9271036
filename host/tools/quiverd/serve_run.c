/*
 * serve_run.c - quiverd's RUN and LOAD: checks, submission of a run's tasks,
 * the outputs task that answers with the written buffers, and the waiter
 * threads for runs that send their outputs apart.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h" /* qv__inflight, qv__buf_take_error */
#include "serve.h"
#include "trace/graph.h" /* qv__graph_node_err: how each task of a run ended */

static int32_t run_results(const qd_job *j, qv_wire_task_result *res, bool from_task);

static void job_free(qd_job *j)
{
    free(j->status);
    free(j->wbufs);
    free(j->wtask);
    free(j);
}

/* quiverd.outputsN: job j's run is done (this task reads every buffer it
 * writes); the reply, with their bytes when every task ran. */
void qd_cpu_outputs(const qv_call *c)
{
    qd_job *j = *(qd_job *const *)c->ptr[c->nargs - 1];
    qd_reply *r = j->reply;
    qv_wire_task_result *res = calloc(j->ntasks, sizeof *res);
    int32_t status = run_results(j, res, true);
    qv_wire_msg m = {.type = QV_WIRE_RUN | QV_WIRE_REPLY, .id = j->id};
    qv_wire_out outs[QV_WIRE_MAX_OUTPUTS];
    size_t total = 0;
    for (unsigned i = 0; i < j->nouts; i++)
        total += j->outs[i]->size;
    if (res && !status && qd_reply_data(r, total) == 0) {
        char *p = zmq_msg_data(&r->data);
        for (unsigned i = 0; i < j->nouts; i++) {
            memcpy(p, c->ptr[i], j->outs[i]->size);
            p += j->outs[i]->size;
            outs[i] = (qv_wire_out){j->outs[i]->id, j->outs[i]->size};
        }
        r->has_data = 1;
        m.data = (qv_wire_frame){zmq_msg_data(&r->data), total};
        m.u.run_reply.nouts = j->nouts;
        m.u.run_reply.outs = outs;
    } else if (res && !status) {
        status = QV_ENOMEM;
    }
    m.u.run_reply.status = status;
    m.u.run_reply.ntasks = j->ntasks;
    m.u.run_reply.results = res;
    if (!res || qv__wire_encode(&m, &r->enc)) {
        if (r->has_data) {
            zmq_msg_close(&r->data);
            r->has_data = 0;
        }
        qv__wire_encode_error(j->id, QV_ENOMEM, &r->enc, "out of memory for the reply");
    } else if (r->has_data) {
        atomic_fetch_add(&qd_s.c_run_out, total);
    }
    free(res);
    /* The run's references: the last one of a buffer freed meanwhile
     * unregisters it, on a waiter. */
    uint32_t last = 0;
    for (uint32_t w = 0; w < j->nw; w++) {
        qd_buf *b = j->wbufs[w];
        unsigned n = atomic_load(&b->refs);
        while (n > 1 && !atomic_compare_exchange_weak(&b->refs, &n, n - 1)) {
        }
        if (n <= 1)
            j->wbufs[last++] = b;
    }
    atomic_fetch_sub(&qd_s.runs, 1);
    /* Queued before the reply counts the request done: a stop waits for
     * the requests, then lets the waiters empty their queue and exit. Put
     * after, it could come when they had gone (review finding). */
    if (last) {
        j->kind = JOB_UNREFS;
        j->nw = last;
        qd_job_put(j);
    } else {
        job_free(j);
    }
    qd_complete(r);
}

void qd_job_put(qd_job *j)
{
    pthread_mutex_lock(&qd_s.job_mu);
    j->next = NULL;
    if (qd_s.job_tail)
        qd_s.job_tail->next = j;
    else
        qd_s.job_head = j;
    qd_s.job_tail = j;
    pthread_cond_signal(&qd_s.job_cv);
    pthread_mutex_unlock(&qd_s.job_mu);
}

/* Job j's results, once its tasks are done, into res (ntasks; NULL
 * without memory). A task that ran nowhere says so on its node in the
 * graph: its error is the task's status, when none was set. Not from the
 * buffers it should have written: a failure of a later run's task on a
 * buffer this run shares (an intermediate) sat there too, and was taken
 * as this run's, while the run that failed found nothing and answered 0
 * with stale bytes (adversarial testing). The buffers' errors are taken
 * all the same, by a wait or, from_task, straight (a task cannot wait on
 * its own arguments), so that a later request does not get them; they
 * count only for a task whose node is not known. The first failing
 * task's code, or 0. */
static int32_t run_results(const qd_job *j, qv_wire_task_result *res, bool from_task)
{
    bool known = true; /* every task's end read from its node */
    for (uint32_t i = 0; res && i < j->ntasks; i++) {
        res[i].status = j->status[i];
        res[i].board = QV_WIRE_NO_BOARD;
        if (i >= j->nsub)
            continue;
        qv_node_info ni;
        int err = 0;
        if (qv__graph_node_err(qd_s.d->rt, j->first_node + i, &ni, &err) != 0) {
            known = false;
            continue;
        }
        res[i].time_us = ni.end_us - ni.start_us;
        /* A device's node has the workers' count plus its id less one. */
        if (ni.cls == QV_CLASS_FPGA && ni.worker >= qd_s.d->nworkers &&
            ni.worker - qd_s.d->nworkers + 1 < QD_MAX_DEVICES)
            res[i].board = qd_s.d->dev_board[ni.worker - qd_s.d->nworkers + 1];
        if (err && !res[i].status) {
            res[i].status = err;
            qd_log("run %" PRIu64 ": task %" PRIu32 " ran nowhere: %s", j->id, i,
                   qv_strerror(err));
        }
    }
    for (uint32_t w = 0; w < j->nw; w++) {
        qv_buf *b = j->wbufs[w]->buf;
        int rc = from_task ? qv__buf_take_error(b) : qv_buf_wait(b);
        if (!rc || known || !res || res[j->wtask[w]].status)
            continue;
        res[j->wtask[w]].status = rc;
        qd_log("run %" PRIu64 ": task %" PRIu32 ": %s", j->id, j->wtask[w],
               qv_last_error());
    }
    int32_t status = 0;
    for (uint32_t i = 0; res && i < j->ntasks && !status; i++)
        status = res[i].status;
    return status;
}

static void run_finish(qd_job *j)
{
    qd_reply *r = j->reply;
    qv_wire_task_result *res = calloc(j->ntasks, sizeof *res);
    int32_t status = run_results(j, res, false);
    if (j->outs_rc) /* the outputs' task could not be submitted */
        status = j->outs_rc;
    for (uint32_t w = 0; w < j->nw; w++)
        qd_buf_unref(j->wbufs[w]);
    qv_wire_msg m = {.type = QV_WIRE_RUN | QV_WIRE_REPLY, .id = j->id};
    m.u.run_reply.status = status;
    m.u.run_reply.ntasks = j->ntasks;
    m.u.run_reply.results = res;
    if (!res || qv__wire_encode(&m, &r->enc))
        qv__wire_encode_error(j->id, QV_ENOMEM, &r->enc, "out of memory for the reply");
    free(res);
    atomic_fetch_sub(&qd_s.runs, 1);
    qd_complete(r);
}

void *qd_waiter_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&qd_s.job_mu);
        while (!qd_s.job_head && !qd_s.job_quit)
            pthread_cond_wait(&qd_s.job_cv, &qd_s.job_mu);
        qd_job *j = qd_s.job_head;
        if (j) {
            qd_s.job_head = j->next;
            if (!qd_s.job_head)
                qd_s.job_tail = NULL;
        }
        pthread_mutex_unlock(&qd_s.job_mu);
        if (!j)
            return NULL;
        if (j->kind == JOB_RUN) {
            run_finish(j);
        } else if (j->kind == JOB_UNREFS) {
            for (uint32_t w = 0; w < j->nw; w++)
                qd_buf_unref(j->wbufs[w]);
        } else {
            qd_buf_unref(j->buf);
        }
        job_free(j);
    }
}

/* Whether the runtime takes n more tasks now (--max-tasks, of all
 * clients); else q is answered QV_EBUSY. Only this thread submits, so what
 * it sees in flight can only drop before it does: its submissions never
 * wait for the runtime's backpressure, which left every client's
 * heartbeats unanswered while one client's runs filled it (review). */
bool qd_room_for(const qd_req *q, uint64_t n, const char *what)
{
    uint64_t cap = qd_s.d->opt->max_tasks;
    uint64_t live = qv__inflight(qd_s.d->rt);
    if (live + n <= cap)
        return true;
    /* One that never fits: said so, to the host and in the log (a part of
     * more calls than --max-tasks was refused at every entry, the log
     * silent, and "once some are answered" told the host to try again:
     * adversarial testing). Still QV_EBUSY: the board stays in service
     * for the runs that fit. */
    if (n > cap) {
        if (qd_rate_take(&qd_rate_never))
            qd_log("%s of %" PRIu64 " tasks refused: past --max-tasks (%" PRIu64
                   "), it never runs here; raise --max-tasks",
                   what, n, cap);
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_EBUSY,
                       "%s: %" PRIu64 " tasks asked, more than --max-tasks (%" PRIu64
                       ") takes at once: it never runs here",
                       what, n, cap);
        return false;
    }
    qd_reply_error(q->rid, q->rlen, q->m.id, QV_EBUSY,
                   "%s: %" PRIu64 " tasks in flight here and %" PRIu64
                   " more asked, at most %" PRIu64
                   " (--max-tasks); send it once some are answered",
                   what, live, n, cap);
    return false;
}

void qd_on_load(qd_req *q)
{
    if (!qd_func_find(qd_s.d, q->m.u.load.kernel)) {
        int known = 0;
        for (unsigned i = 0; i < qd_s.d->nfuncs; i++)
            known |= strcmp(qd_s.d->funcs[i].kernel, q->m.u.load.kernel) == 0;
        if (!known) {
            qd_reply_error(q->rid, q->rlen, q->m.id, QV_ENOENT,
                           "load: no kernel or function %s is served here",
                           q->m.u.load.kernel);
            return;
        }
    }
    qv_wire_msg m = {.type = QV_WIRE_LOAD | QV_WIRE_REPLY, .id = q->m.id};
    qd_reply_msg(q->rid, q->rlen, &m);
}

/* A buffer a task of a run reads, and the last task that reads it. */
typedef struct qd_reader {
    uint64_t buf;
    uint32_t task;
} qd_reader;

static int reader_cmp(const void *a, const void *b)
{
    const qd_reader *x = a, *y = b;
    if (x->buf != y->buf)
        return x->buf < y->buf ? -1 : 1;
    return x->task < y->task ? -1 : x->task > y->task;
}

/* The buffers q's run reads, sorted, each with its last reader (*n of
 * them); NULL when out of memory. One pass and a sort: asking each
 * written buffer's later tasks took tasks squared, seconds of the socket
 * thread for one 65536-task RUN, its heartbeats unanswered meanwhile
 * (adversarial testing). */
static qd_reader *last_readers(const qd_req *q, size_t *n)
{
    size_t k = 0, cap = 0;
    for (uint32_t t = 0; t < q->m.u.run.ntasks; t++)
        cap += q->m.u.run.tasks[t].nargs;
    qd_reader *r = malloc((cap ? cap : 1) * sizeof *r);
    if (!r)
        return NULL;
    for (uint32_t t = 0; t < q->m.u.run.ntasks; t++)
        for (unsigned a = 0; a < q->m.u.run.tasks[t].nargs; a++) {
            const qv_wire_arg *wa = &q->m.u.run.tasks[t].args[a];
            if (wa->kind == QV_WIRE_ARG_BUF && (wa->mode & QV_R))
                r[k++] = (qd_reader){wa->buf, t};
        }
    qsort(r, k, sizeof *r, reader_cmp);
    size_t m = 0; /* the last (highest) task of each buffer */
    for (size_t i = 0; i < k; i++) {
        if (m && r[m - 1].buf == r[i].buf)
            r[m - 1].task = r[i].task;
        else
            r[m++] = r[i];
    }
    *n = m;
    return r;
}

/* Whether a task of the run after task t reads buffer id (r: last_readers). */
static bool read_later(const qd_reader *r, size_t n, uint32_t t, uint64_t id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid].buf < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && r[lo].buf == id && r[lo].task > t;
}

/* Checks the outputs a RUN asks for (QV_WIRE_FLAG_OUTPUTS) into outs:
 * buffers its tasks write, each once, at least every one that no later
 * task of the run reads (so that the task that reads them runs after
 * every task of the run), and their bytes into *out_bytes. false when
 * refused (replied). */
static bool run_outputs(qd_req *q, qd_buf **outs, uint64_t *out_bytes)
{
    uint16_t no = q->m.u.run.nouts;
    uint64_t bytes = 0;
    for (unsigned i = 0; i < no; i++) {
        uint64_t id = q->m.u.run.outs[i];
        if (!(outs[i] = qd_buf_of(q->rid, q->rlen, id))) {
            qd_reply_error(q->rid, q->rlen, q->m.id, QV_ENOENT,
                           "run: output %u: no buffer %" PRIu64, i, id);
            return false;
        }
        for (unsigned k = 0; k < i; k++)
            if (outs[k] == outs[i]) {
                qd_reply_error(q->rid, q->rlen, q->m.id, QV_EINVAL,
                               "run: output %u: buffer %" PRIu64 " named twice", i, id);
                return false;
            }
        bool written = false;
        for (uint32_t t = 0; t < q->m.u.run.ntasks && !written; t++)
            for (unsigned a = 0; a < q->m.u.run.tasks[t].nargs; a++) {
                const qv_wire_arg *wa = &q->m.u.run.tasks[t].args[a];
                written |=
                    wa->kind == QV_WIRE_ARG_BUF && (wa->mode & QV_W) && wa->buf == id;
            }
        if (!written) {
            qd_reply_error(q->rid, q->rlen, q->m.id, QV_EINVAL,
                           "run: output %u: no task of the run writes buffer %" PRIu64, i,
                           id);
            return false;
        }
        bytes += outs[i]->size;
    }
    *out_bytes = bytes;
    if (!no)
        return true;
    size_t nr = 0;
    qd_reader *rd = last_readers(q, &nr);
    if (!rd) {
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_ENOMEM, "run: out of memory");
        return false;
    }
    for (uint32_t t = 0; t < q->m.u.run.ntasks; t++)
        for (unsigned a = 0; a < q->m.u.run.tasks[t].nargs; a++) {
            const qv_wire_arg *wa = &q->m.u.run.tasks[t].args[a];
            if (wa->kind != QV_WIRE_ARG_BUF || !(wa->mode & QV_W))
                continue;
            bool named = false;
            for (unsigned i = 0; i < no; i++)
                named |= q->m.u.run.outs[i] == wa->buf;
            if (!named && !read_later(rd, nr, t, wa->buf)) {
                /* The reply waits for every task: one whose outputs
                 * neither it nor a later task reads could still run. An
                 * intermediate that a later task reads need not come
                 * home (a part's). */
                qd_reply_error(q->rid, q->rlen, q->m.id, QV_EINVAL,
                               "run: task %" PRIu32 " writes buffer %" PRIu64
                               ", which is not among its outputs",
                               t, wa->buf);
                free(rd);
                return false;
            }
        }
    free(rd);
    if (bytes > qd_s.d->limits.max_data) {
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_E2BIG,
                       "run: outputs of %" PRIu64 " bytes, at most %" PRIu64
                       " in a reply",
                       bytes, qd_s.d->limits.max_data);
        return false;
    }
    return true;
}

void qd_on_run(qd_req *q)
{
    uint32_t nt = q->m.u.run.ntasks;
    /* Everything is checked before anything is submitted. */
    for (uint32_t t = 0; t < nt; t++) {
        const qv_wire_task *tk = &q->m.u.run.tasks[t];
        const qd_func *sf = qd_func_find(qd_s.d, tk->func);
        if (!sf) { /* cannot run here: not a fault of the board */
            qd_reply_error(q->rid, q->rlen, q->m.id, QV_ENOTSUP,
                           "run: task %" PRIu32 ": no function %s is served here", t,
                           tk->func);
            return;
        }
        if (tk->nargs != sf->nargs) {
            qd_reply_error(q->rid, q->rlen, q->m.id, QV_EMISMATCH,
                           "run: task %" PRIu32 ": %s takes %u arguments, not %u", t,
                           sf->name, sf->nargs, (unsigned)tk->nargs);
            return;
        }
        for (unsigned a = 0; a < tk->nargs; a++) {
            const qv_wire_arg *wa = &tk->args[a];
            const qv_arg_desc *ad = &sf->args[a];
            if (ad->is_buf != (wa->kind == QV_WIRE_ARG_BUF) ||
                (ad->is_buf && (int)wa->mode != (int)ad->mode) ||
                (!ad->is_buf && wa->size != ad->size)) {
                qd_reply_error(q->rid, q->rlen, q->m.id, QV_EMISMATCH,
                               "run: task %" PRIu32 ": argument %u (%s) of %s is %s", t,
                               a, ad->name ? ad->name : "?", sf->name,
                               ad->is_buf ? (ad->mode == QV_R   ? "an input buffer"
                                             : ad->mode == QV_W ? "an output buffer"
                                                                : "an in-out buffer")
                                          : "a scalar of another size");
                return;
            }
            if (wa->kind == QV_WIRE_ARG_BUF && !qd_buf_of(q->rid, q->rlen, wa->buf)) {
                qd_reply_error(q->rid, q->rlen, q->m.id, QV_ENOENT,
                               "run: task %" PRIu32 ": argument %u: no buffer %" PRIu64,
                               t, a, wa->buf);
                return;
            }
        }
    }
    qd_buf *outs[QV_WIRE_MAX_OUTPUTS];
    uint64_t out_bytes;
    if (!run_outputs(q, outs, &out_bytes) || !qd_room_for(q, (uint64_t)nt + 1, "run"))
        return; /* (+1: the task that brings outputs into the reply, counted
                 * whether the run asks for one or not) */
    size_t nbufargs = 0;
    for (uint32_t t = 0; t < nt; t++)
        nbufargs += q->m.u.run.tasks[t].nargs;
    qd_job *j = calloc(1, sizeof *j);
    int32_t *status = calloc(nt, sizeof *status);
    qd_reply *r = qd_reply_new(q->rid, q->rlen);
    if (j) {
        j->wbufs = calloc(nbufargs ? nbufargs : 1, sizeof *j->wbufs);
        j->wtask = calloc(nbufargs ? nbufargs : 1, sizeof *j->wtask);
    }
    if (!j || !status || !r || !j->wbufs || !j->wtask) {
        if (j) {
            free(j->wbufs);
            free(j->wtask);
        }
        free(j);
        free(status);
        qd_reply_free(r);
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_ENOMEM, "run: out of memory");
        return;
    }
    qd_client *oc = q->m.u.run.nouts ? qd_client_find(q->rid, q->rlen, 0) : NULL;
    if (oc && !qd_out_reserve(q, oc, out_bytes, "run")) {
        free(j->wbufs);
        free(j->wtask);
        free(j);
        free(status);
        qd_reply_free(r);
        return;
    }
    if (oc) {
        r->acct = oc->acct;
        r->out_res = out_bytes;
    }
    j->kind = JOB_RUN;
    j->reply = r;
    j->id = q->m.id;
    j->ntasks = nt;
    j->status = status;
    j->first_node = qd_s.next_node;
    int failed = 0;
    for (uint32_t t = 0; t < nt; t++) {
        const qv_wire_task *tk = &q->m.u.run.tasks[t];
        if (failed) {
            status[t] = failed; /* not submitted: it may need what failed */
            continue;
        }
        const qd_func *sf = qd_func_find(qd_s.d, tk->func);
        qv_arg args[QV_MAX_ARGS];
        for (unsigned a = 0; a < tk->nargs; a++) {
            const qv_wire_arg *wa = &tk->args[a];
            args[a] = wa->kind == QV_WIRE_ARG_BUF
                          ? (qv_arg){qd_buf_of(q->rid, q->rlen, wa->buf)->buf, NULL, 0}
                          : (qv_arg){NULL, wa->val, wa->size};
        }
        int rc = qd_submit(sf->f, args, tk->nargs);
        if (rc) {
            qd_log("run %" PRIu64 ": task %" PRIu32 " (%s): %s", q->m.id, t, sf->name,
                   qv_last_error());
            status[t] = rc;
            failed = rc;
            continue;
        }
        j->nsub++;
        for (unsigned a = 0; a < tk->nargs; a++) {
            if (tk->args[a].kind != QV_WIRE_ARG_BUF || !(tk->args[a].mode & QV_W))
                continue;
            qd_buf *b = qd_buf_of(q->rid, q->rlen, tk->args[a].buf);
            atomic_fetch_add(&b->refs, 1);
            j->wtask[j->nw] = t;
            j->wbufs[j->nw++] = b;
        }
    }
    qd_s.c_runs++;
    qd_s.c_tasks += j->nsub;
    atomic_fetch_add(&qd_s.pending, 1);
    atomic_fetch_add(&qd_s.runs, 1);
    qd_owe(j->reply, q->m.id);
    uint16_t no = q->m.u.run.nouts;
    if (!no || failed) {
        qd_job_put(j);
        return;
    }
    /* The outputs task answers it, after every task of the run. */
    j->nouts = no;
    memcpy(j->outs, outs, no * sizeof *outs);
    qv_arg args[QV_WIRE_MAX_OUTPUTS + 1];
    for (unsigned i = 0; i < no; i++)
        args[i] = QV_BUF(outs[i]->buf);
    args[no] = QV_VAL(j);
    int rc = qd_submit(qd_s.f_outs[no - 1], args, no + 1u);
    if (rc) { /* the run fails, once its tasks are done */
        qd_log("run %" PRIu64 ": its outputs: %s", q->m.id, qv_last_error());
        j->outs_rc = rc;
        qd_job_put(j);
        return;
    }
}
