/*
 * serve_copy.c - quiverd's WRITE and READ: copied at once by the socket
 * thread when no task uses the buffer, else by copy tasks of the daemon's
 * runtime ordered after them; the bounds on a client's reply bytes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h" /* qv__buf_take_error: a failed task, seen from a task */
#include "serve.h"

static void cpu_write(const qv_call *c)
{
    qd_copy *j = *(qd_copy *const *)c->ptr[1];
    memcpy((char *)c->ptr[0] + j->offset, zmq_msg_data(&j->data), j->length);
    zmq_msg_close(&j->data);
    qv_wire_msg m = {.type = QV_WIRE_WRITE | QV_WIRE_REPLY, .id = j->id};
    qd_reply *r = j->reply;
    if (qv__wire_encode(&m, &r->enc))
        qv__wire_encode_error(j->id, QV_ENOMEM, &r->enc, "cannot encode the reply");
    free(j);
    qd_complete(r);
}

static void cpu_read(const qv_call *c)
{
    qd_copy *j = *(qd_copy *const *)c->ptr[1];
    qd_reply *r = j->reply;
    if (qd_reply_data(r, j->length) == 0) {
        memcpy(zmq_msg_data(&r->data), (const char *)c->ptr[0] + j->offset, j->length);
        qv_wire_msg m = {.type = QV_WIRE_READ | QV_WIRE_REPLY, .id = j->id};
        m.data = (qv_wire_frame){zmq_msg_data(&r->data), j->length};
        if (qv__wire_encode(&m, &r->enc) == 0) {
            free(j);
            qd_complete(r);
            return;
        }
        zmq_msg_close(&r->data);
        r->has_data = 0;
    }
    qv__wire_encode_error(j->id, QV_ENOMEM, &r->enc, "out of memory for %zu bytes",
                          j->length);
    free(j);
    qd_complete(r);
}

int qd_make_copy_funcs(qv_runtime *rt)
{
    const qv_arg_desc w[] = {QV_ARG_BUF("buf", QV_W), QV_ARG_SCALAR("job", void *)};
    const qv_arg_desc rw[] = {QV_ARG_BUF("buf", QV_RW), QV_ARG_SCALAR("job", void *)};
    const qv_arg_desc rd[] = {QV_ARG_BUF("buf", QV_R), QV_ARG_SCALAR("job", void *)};
    int rc = qv_func_create(rt, "quiverd.write", w, 2, &qd_s.f_write_w);
    if (!rc)
        rc = qv_func_create(rt, "quiverd.write_part", rw, 2, &qd_s.f_write_rw);
    if (!rc)
        rc = qv_func_create(rt, "quiverd.read", rd, 2, &qd_s.f_read);
    if (!rc)
        rc = qv_func_set_cpu(qd_s.f_write_w, cpu_write);
    if (!rc)
        rc = qv_func_set_cpu(qd_s.f_write_rw, cpu_write);
    if (!rc)
        rc = qv_func_set_cpu(qd_s.f_read, cpu_read);
    unsigned cpu = 1u << QV_CLASS_CPU;
    if (!rc)
        rc = qv_func_set_where(qd_s.f_write_w, cpu);
    if (!rc)
        rc = qv_func_set_where(qd_s.f_write_rw, cpu);
    if (!rc)
        rc = qv_func_set_where(qd_s.f_read, cpu);
    /* A READ or a WRITE of a buffer whose run failed is answered as
     * before it: the run's reply said it failed. */
    if (!rc) {
        qv__func_takes_stale(qd_s.f_write_w);
        qv__func_takes_stale(qd_s.f_write_rw);
        qv__func_takes_stale(qd_s.f_read);
        /* A copy and a reply: on the board's driver thread, when a run
         * there readies it (the reply goes out a worker's wake-up
         * sooner). */
        qv__func_on_driver(qd_s.f_write_w);
        qv__func_on_driver(qd_s.f_write_rw);
        qv__func_on_driver(qd_s.f_read);
    }
    qv_arg_desc od[QV_WIRE_MAX_OUTPUTS + 1];
    for (unsigned k = 0; k < QV_WIRE_MAX_OUTPUTS; k++)
        od[k] = QV_ARG_BUF("out", QV_R);
    for (unsigned n = 1; n <= QV_WIRE_MAX_OUTPUTS && !rc; n++) {
        char name[32];
        snprintf(name, sizeof name, "quiverd.outputs%u", n);
        od[n] = QV_ARG_SCALAR("job", void *);
        rc = qv_func_create(rt, name, od, n + 1, &qd_s.f_outs[n - 1]);
        od[n] = QV_ARG_BUF("out", QV_R);
        if (!rc)
            rc = qv_func_set_cpu(qd_s.f_outs[n - 1], qd_cpu_outputs);
        if (!rc)
            rc = qv_func_set_where(qd_s.f_outs[n - 1], cpu);
        if (!rc) { /* it answers a run whose task failed with that failure */
            qv__func_takes_stale(qd_s.f_outs[n - 1]);
            qv__func_on_driver(qd_s.f_outs[n - 1]);
        }
    }
    return rc;
}

/* Submits one task; its node is the next one. */
int qd_submit(qv_func *f, const qv_arg *args, size_t nargs)
{
    int rc = qv_submit(qd_s.d->rt, f, args, nargs);
    if (rc == 0) {
        qd_s.next_node++;
        qd_s.nodes_since_reset++;
    }
    return rc;
}

/* Checks that [off, off + len) lies in b. */
static int in_range(const qd_buf *b, uint64_t off, uint64_t len)
{
    return off <= b->size && len <= b->size - off;
}

/* What a client may have waiting on the daemon, in WRITEs held for tasks
 * and in replies it has not taken: twice the bytes it holds and 64 MiB,
 * at most limits.max_bytes. libquiver has at most one WRITE, READ or
 * run's outputs per buffer in flight. */
static uint64_t client_cap(const qd_client *c)
{
    uint64_t cap = 2 * c->bytes + ((uint64_t)64 << 20);
    return cap < qd_s.d->limits.max_bytes ? cap : qd_s.d->limits.max_bytes;
}

/* Reserves len reply bytes of client c (socket thread), and a reference
 * to its account with them: false, with an error reply, past its cap. */
bool qd_out_reserve(qd_req *q, qd_client *c, uint64_t len, const char *what)
{
    uint64_t cap = client_cap(c), have = atomic_load(&c->acct->bytes);
    if (!qd_fits(have, len, cap)) {
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_EBUSY,
                       "%s: %" PRIu64
                       " bytes of replies wait for this client to read them "
                       "(at most %" PRIu64 "); read them first",
                       what, have, cap);
        return false;
    }
    /* All clients together: twice what one may hold (twelve connections
     * of one client, each with 256 MiB READs unread, took 6 GB). */
    uint64_t all = atomic_load(&qd_s.out_total), gcap = 2 * qd_s.d->limits.max_bytes;
    if (!qd_fits(all, len, gcap)) {
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_EBUSY,
                       "%s: %" PRIu64
                       " bytes of replies wait for their clients to read them "
                       "(at most %" PRIu64 " for all clients); try again later",
                       what, all, gcap);
        return false;
    }
    atomic_fetch_add(&qd_s.out_total, len);
    atomic_fetch_add(&c->acct->bytes, len);
    atomic_fetch_add(&c->acct->refs, 1);
    return true;
}

/* The largest WRITE or READ the socket thread copies itself (copy_now). */
#define COPY_NOW_MAX ((size_t)4 << 20)

/* WRITE and READ of a buffer that no task uses, here and now: the copy
 * task's way through a worker and back through the completion pipe is two
 * thread hand-offs in front of every run that follows the copy. false
 * when tasks use it (then the copy is a task, ordered after them), or
 * when it is larger than COPY_NOW_MAX. *res: a READ's reservation
 * (qd_out_reserve), moved onto its reply here. */
static bool copy_now(qd_req *q, qd_buf *b, int is_write, size_t off, size_t len,
                     qd_acct **res)
{
    qv_mode mode = !is_write ? QV_R : off == 0 && len == b->size ? QV_W : QV_RW;
    /* Not a large one: the socket thread answers no other client while it
     * copies (a 256 MiB WRITE held every host's heartbeats 2 s, past
     * their timeout: adversarial testing). A copy task makes it; libquiver
     * moves buffers in pieces of this size, which stay here. */
    if (len > COPY_NOW_MAX)
        return false;
    /* Not while a run that writes b is unanswered: its waiter learns of a
     * failed task from the buffer's error (qv_buf_wait), which an acquire
     * here would take first (review finding). */
    if (atomic_load(&b->refs) != 1)
        return false;
    /* Nor a READ of an output whose writer failed here, once the failure
     * was told (the run's reply took its error): the host reads what the
     * buffer held before, as a copy task does (quiverd.read takes such
     * inputs), where an acquire refuses every read of it until it is
     * written. An error not told yet (a copy lost with a device here after
     * the run's reply) is this READ's to take (review). */
    if (!is_write && atomic_load_explicit(&b->buf->stale, memory_order_acquire) &&
        !atomic_load(&b->buf->err))
        return false;
    int rc = qv_buf_try_acquire(b->buf, mode);
    if (rc == QV_EBUSY)
        return false;
    if (rc) { /* the buffer holds stale data, or its copy home failed */
        qd_reply_error(q->rid, q->rlen, q->m.id, rc, "%s: %s",
                       is_write ? "write" : "read", qv_last_error());
        return true;
    }
    char *mem = qv_buf_data(b->buf);
    qd_reply *r = qd_reply_new(q->rid, q->rlen);
    qv_wire_msg m = {.type = (is_write ? QV_WIRE_WRITE : QV_WIRE_READ) | QV_WIRE_REPLY,
                     .id = q->m.id};
    bool ok = r != NULL;
    if (ok && !is_write) { /* moved back should it fail below */
        r->acct = *res;
        r->out_res = *res ? len : 0;
        *res = NULL;
    }
    if (ok && is_write) {
        memcpy(mem + off, zmq_msg_data(&q->parts[3]), len);
    } else if (ok && qd_reply_data(r, len) == 0) {
        memcpy(zmq_msg_data(&r->data), mem + off, len);
        m.data = (qv_wire_frame){zmq_msg_data(&r->data), len};
    } else {
        ok = false;
    }
    qv_buf_release(b->buf);
    if (!ok || qv__wire_encode(&m, &r->enc)) {
        if (r && !is_write && r->acct) { /* still the caller's, for the task's way */
            *res = r->acct;
            r->acct = NULL;
        }
        qd_reply_free(r); /* the task's way copies (again, the same bytes) */
        return false;
    }
    qd_outbox_put(r);
    if (is_write)
        qd_s.c_bytes_in += len;
    else
        qd_s.c_bytes_out += len;
    return true;
}

/* WRITE and READ: at once when no task uses the buffer (copy_now), else a
 * copy task ordered after the tasks before it. */
void qd_on_copy(qd_req *q, int is_write)
{
    uint64_t bid = is_write ? q->m.u.write.buf : q->m.u.read.buf;
    uint64_t off = is_write ? q->m.u.write.offset : q->m.u.read.offset;
    uint64_t len = is_write ? q->m.data.size : q->m.u.read.length;
    const char *what = is_write ? "write" : "read";
    qd_buf *b = qd_buf_of(q->rid, q->rlen, bid);
    if (!b) {
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_ENOENT, "%s: no buffer %" PRIu64,
                       what, bid);
        return;
    }
    if (!in_range(b, off, len)) {
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_EINVAL,
                       "%s of %" PRIu64 " bytes at offset %" PRIu64
                       " past the end of buffer %" PRIu64 " (%zu bytes)",
                       what, len, off, bid, b->size);
        return;
    }
    qd_acct *res = NULL; /* a READ's reply bytes, reserved */
    if (!is_write) {
        qd_client *rc = qd_client_find(q->rid, q->rlen, 0); /* b's owner: there */
        if (rc && !qd_out_reserve(q, rc, len, "read"))
            return;
        res = rc ? rc->acct : NULL;
    }
    if (copy_now(q, b, is_write, (size_t)off, (size_t)len, &res)) {
        qd_acct_give(res, len); /* an error reply: no data */
        return;
    }
    /* A WRITE waiting for the tasks ahead of it holds its bytes: bounded
     * per client (client_cap), or a client could pile up WRITEs to one
     * buffer until the daemon runs out of memory. libquiver queues at most
     * one per buffer (the host's next write of it waits for the tasks
     * that read it). */
    qd_client *c = is_write ? qd_client_find(q->rid, q->rlen, 0) : NULL;
    uint64_t cap = c ? client_cap(c) : 0;
    if (c && !qd_fits(c->queued, len, cap)) {
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_EBUSY,
                       "write: %" PRIu64
                       " bytes of writes already wait for tasks (at most %" PRIu64
                       "); send it once some are answered",
                       c->queued, cap);
        return;
    }
    if (!qd_room_for(q, 1, what)) {
        qd_acct_give(res, len);
        return;
    }
    qd_copy *j = calloc(1, sizeof *j);
    qd_reply *r = qd_reply_new(q->rid, q->rlen);
    if (!j || !r) {
        free(j);
        qd_reply_free(r);
        qd_acct_give(res, len);
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_ENOMEM, "%s: out of memory", what);
        return;
    }
    r->acct = res; /* qd_reply_free gives it back, or its data carries it */
    r->out_res = res ? len : 0;
    j->reply = r;
    j->id = q->m.id;
    j->offset = (size_t)off;
    j->length = (size_t)len;
    qv_func *f = qd_s.f_read;
    if (is_write) {
        zmq_msg_init(&j->data);
        zmq_msg_move(&j->data, &q->parts[3]); /* used in place, no copy */
        f = (off == 0 && len == b->size) ? qd_s.f_write_w : qd_s.f_write_rw;
    }
    qv_arg args[2] = {QV_BUF(b->buf), QV_VAL(j)};
    atomic_fetch_add(&qd_s.pending, 1);
    if (c)
        r->queued = len;
    qd_owe(r, q->m.id); /* before the task may complete it */
    int rc = qd_submit(f, args, 2);
    if (rc) {
        pthread_mutex_lock(&qd_s.cq_mu); /* no task has it: not owed after all */
        qd_owed_unlink(r);
        pthread_mutex_unlock(&qd_s.cq_mu);
        atomic_fetch_sub(&qd_s.pending, 1);
        if (is_write)
            zmq_msg_close(&j->data);
        free(j);
        qd_reply_free(r);
        qd_reply_error(q->rid, q->rlen, q->m.id, rc, "%s: %s", what, qv_last_error());
        return;
    }
    if (c)
        c->queued += len;
    if (is_write)
        qd_s.c_bytes_in += len;
    else
        qd_s.c_bytes_out += len;
}
