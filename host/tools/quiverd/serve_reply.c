/*
 * serve_reply.c - quiverd's replies: the outbox the socket thread sends, the
 * completion queue that tasks and waiters fill, error replies, and the
 * rate-limited log lines of the serve loop.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve.h"

static bool send_direct(qd_reply *r);
static void unqueue(const qd_reply *r);

void qd_rate_flush(qd_rate *r)
{
    uint64_t now = qd_now_ns();
    if (r->untold && now - r->told_ns >= 1000000000u) {
        qd_log("%u more %s in the second after the last one logged", r->untold, r->what);
        r->untold = 0; /* the next line is not held back by this one */
    }
}

/* Whether a line of r's kind may be logged now. */
bool qd_rate_take(qd_rate *r)
{
    qd_rate_flush(r);
    uint64_t now = qd_now_ns();
    if (r->told_ns && now - r->told_ns < 1000000000u) {
        r->untold++;
        return false;
    }
    r->told_ns = now;
    return true;
}

qd_rate qd_rate_dropped = {"replies dropped", 0, 0};
qd_rate qd_rate_handshake = {"handshakes failed", 0, 0};
qd_rate qd_rate_never = {"requests past --max-tasks refused", 0, 0};

/* A handshake the ZAP handler refused (auth.c): in the daemon's log. */
void qd_log_refusal(const char *why, const char *client)
{
    qd_log("refused a client%s%s: %s", client[0] ? ", " : "", client, why);
}

uint64_t qd_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

qd_reply *qd_reply_new(const uint8_t *rid, size_t rlen)
{
    qd_reply *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    memcpy(r->rid, rid, rlen);
    r->rlen = rlen;
    return r;
}

void qd_acct_drop(qd_acct *a)
{
    if (a && atomic_fetch_sub(&a->refs, 1) == 1)
        free(a);
}

/* Gives back n reserved bytes of a, and the reference that held them. */
void qd_acct_give(qd_acct *a, uint64_t n)
{
    if (!a)
        return;
    atomic_fetch_sub(&a->bytes, n);
    atomic_fetch_sub(&qd_s.out_total, n);
    qd_acct_drop(a);
}

void qd_reply_free(qd_reply *r)
{
    if (!r)
        return;
    qv__wire_enc_fini(&r->enc);
    if (r->has_data)
        zmq_msg_close(&r->data);
    qd_acct_give(r->acct, r->out_res);
    free(r);
}

/* ZeroMQ is done with a reply's data: its bytes are the client's no more. */
struct out_hint {
    qd_acct *acct;
    uint64_t n;
};

static void free_out(void *data, void *hint)
{
    struct out_hint *h = hint;
    free(data);
    if (h) {
        qd_acct_give(h->acct, h->n);
        free(h);
    }
}

/* r's data frame of len bytes, its reservation moved onto it: counted
 * until ZeroMQ frees it. 0, or -1 without memory. */
int qd_reply_data(qd_reply *r, size_t len)
{
    struct out_hint *h = r->acct ? malloc(sizeof *h) : NULL;
    void *p = malloc(len ? len : 1);
    if (!p || (r->acct && !h)) {
        free(p);
        free(h);
        return -1;
    }
    if (h)
        *h = (struct out_hint){r->acct, r->out_res};
    if (zmq_msg_init_data(&r->data, p, len, free_out, h) != 0) {
        free(p);
        free(h);
        return -1;
    }
    r->acct = NULL;
    r->out_res = 0;
    r->has_data = 1;
    return 0;
}

/* Takes r off qd_s.owed; under cq_mu. */
void qd_owed_unlink(qd_reply *r)
{
    if (!r->owed)
        return;
    if (r->oprev)
        r->oprev->onext = r->onext;
    else
        qd_s.owed = r->onext;
    if (r->onext)
        r->onext->oprev = r->oprev;
    r->owed = 0;
}

/* Wakes the socket thread (the completion pipe). */
void qd_wake_loop(void)
{
    char b = 1;
    if (write(qd_s.pipe_w, &b, 1) < 0 && errno != EAGAIN)
        qd_log("wake-up pipe: %s", strerror(errno));
}

/* The socket thread runs the short runs it submits itself (handle): their
 * replies are completed on it, under sock_mu. */
_Thread_local bool qd_in_run;

/* r, completed, is off the owed list and its client's queued account, to
 * be sent by the caller, who holds sock_mu: the stop's last resort
 * (abandon), which holds it, never sees a reply neither owed nor queued. */
static void take_owed(qd_reply *r)
{
    pthread_mutex_lock(&qd_s.cq_mu);
    qd_owed_unlink(r);
    pthread_mutex_unlock(&qd_s.cq_mu);
    unqueue(r);
}

/* From a task or waiter: r is sent, by this thread when the socket
 * thread sleeps (send_direct), else by the socket thread, woken; on the
 * socket thread, in a run it ran, queued for it to send when the run's
 * request is handled. */
void qd_complete(qd_reply *r)
{
    if (qd_in_run) {
        take_owed(r);
        qd_outbox_put(r);
        atomic_fetch_sub(&qd_s.pending, 1);
        return;
    }
    if (send_direct(r))
        return;
    pthread_mutex_lock(&qd_s.cq_mu); /* off the owed list and queued at once */
    qd_owed_unlink(r);
    if (qd_s.cq_tail)
        qd_s.cq_tail->next = r;
    else
        qd_s.cq_head = r;
    qd_s.cq_tail = r;
    pthread_mutex_unlock(&qd_s.cq_mu);
    atomic_fetch_sub(&qd_s.pending, 1);
    qd_wake_loop();
}

/* Socket thread: r is owed by a task or waiter from now on (the caller
 * counts it in qd_s.pending). */
void qd_owe(qd_reply *r, uint64_t req_id)
{
    r->req_id = req_id;
    pthread_mutex_lock(&qd_s.cq_mu);
    r->owed = 1;
    r->oprev = NULL;
    r->onext = qd_s.owed;
    if (qd_s.owed)
        qd_s.owed->oprev = r;
    qd_s.owed = r;
    pthread_mutex_unlock(&qd_s.cq_mu);
}

/* Socket thread: queue r to be sent after --delay-us. */
void qd_outbox_put(qd_reply *r)
{
    r->due_ns = qd_now_ns() + (uint64_t)qd_s.d->opt->delay_us * 1000u;
    r->next = NULL;
    if (qd_s.out_tail)
        qd_s.out_tail->next = r;
    else
        qd_s.out_head = r;
    qd_s.out_tail = r;
}

static void free_body(void *data, void *hint)
{
    (void)hint;
    free(data);
}

/* Sends r whole or not at all (a peer that is gone, a full queue).
 * false: the ROUTER knows no peer of r's routing id (it is gone). */
static bool send_reply(qd_reply *r)
{
    int more = ZMQ_SNDMORE | ZMQ_DONTWAIT;
    qv__zwait_used(&qd_s.sw);
    if (zmq_send(qd_s.sock, r->rid, r->rlen, more) < 0) {
        if (errno == EHOSTUNREACH)
            return false;
        if (qd_rate_take(&qd_rate_dropped))
            qd_log("reply %s to a peer dropped: %s",
                   qv__wire_type_name(r->enc.head[6] | (unsigned)r->enc.head[7] << 8),
                   zmq_strerror(errno));
        return true;
    }
    zmq_send(qd_s.sock, r->enc.head, QV_WIRE_HEADER_SIZE, more);
    int last = r->has_data ? more : ZMQ_DONTWAIT;
    if (r->enc.body_size <= 256) {
        zmq_send(qd_s.sock, r->enc.body ? (const void *)r->enc.body : "",
                 r->enc.body_size, last);
    } else {
        zmq_msg_t m;
        if (zmq_msg_init_data(&m, r->enc.body, r->enc.body_size, free_body, NULL) == 0) {
            r->enc.body = NULL; /* zmq frees it */
            if (zmq_msg_send(&m, qd_s.sock, last) < 0)
                zmq_msg_close(&m);
        }
    }
    if (r->has_data) {
        if (zmq_msg_send(&r->data, qd_s.sock, ZMQ_DONTWAIT) >= 0)
            r->has_data = 0; /* zmq owns it now */
    }
    return true;
}

/* Sends the replies that are due (all: now UINT64_MAX). */
void qd_outbox_send(uint64_t now)
{
    while (qd_s.out_head && qd_s.out_head->due_ns <= now) {
        qd_reply *r = qd_s.out_head;
        qd_s.out_head = r->next;
        if (!qd_s.out_head)
            qd_s.out_tail = NULL;
        if (!send_reply(r))
            qd_peer_unreachable(r->rid, r->rlen);
        qd_reply_free(r);
    }
}

void qd_outbox_flush(void)
{
    qd_outbox_send(qd_now_ns());
}

/* Socket thread: an ERROR reply. */
void qd_reply_error(const uint8_t *rid, size_t rlen, uint64_t id, int code,
                    const char *fmt, ...)
{
    char text[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    qd_s.c_errors++;
    qd_reply *r = qd_reply_new(rid, rlen);
    if (!r || qv__wire_encode_error(id, code, &r->enc, "%s", text)) {
        qd_reply_free(r);
        return;
    }
    qd_outbox_put(r);
}

/* Socket thread: a reply with msg's body. */
void qd_reply_msg(const uint8_t *rid, size_t rlen, const qv_wire_msg *m)
{
    qd_reply *r = qd_reply_new(rid, rlen);
    if (!r || qv__wire_encode(m, &r->enc)) {
        qd_reply_free(r);
        qd_reply_error(rid, rlen, m->id, QV_ENOMEM, "cannot encode the reply");
        return;
    }
    qd_outbox_put(r);
}

/* Empties the wake-up pipe (the loop's poll found it readable). */
void qd_pipe_drain(void)
{
    char drain[256];
    while (read(qd_s.pipe_r, drain, sizeof drain) == (ssize_t)sizeof drain) {
    }
}

/* r, a WRITE's reply, is on its way out: its bytes are copied and freed,
 * off its client's queued account (under sock_mu). */
static void unqueue(const qd_reply *r)
{
    qd_client *c = r->queued ? qd_client_find(r->rid, r->rlen, 0) : NULL;
    if (c)
        c->queued -= r->queued < c->queued ? r->queued : c->queued;
}

/* Moves what tasks and waiters finished to the outbox. The pipe that
 * wakes the loop is emptied only when the loop's poll finds it readable:
 * a read per turn would cost a system call on every request. */
void qd_take_completions(void)
{
    pthread_mutex_lock(&qd_s.cq_mu);
    qd_reply *r = qd_s.cq_head;
    qd_s.cq_head = qd_s.cq_tail = NULL;
    pthread_mutex_unlock(&qd_s.cq_mu);
    while (r) {
        qd_reply *nx = r->next;
        unqueue(r);
        qd_outbox_put(r);
        r = nx;
    }
}

/* A completed reply sent by the thread that completed it, when the socket
 * thread sleeps (sock_mu free), no reply waits in its outbox and --delay-us
 * holds none back (the host matches replies to requests by id, so their
 * order does not matter otherwise): waking the socket thread to send
 * it costs as much as the loopback round trip on a virtual machine. The
 * socket is left armed for the socket thread's poll (zwait.h), or the
 * socket thread is woken. false when the socket thread must send it. */
static bool send_direct(qd_reply *r)
{
    if (qd_s.d->opt->delay_us || pthread_mutex_trylock(&qd_s.sock_mu) != 0)
        return false;
    if (qd_s.out_head) {
        pthread_mutex_unlock(&qd_s.sock_mu);
        return false;
    }
    take_owed(r);
    send_reply(r);
    qd_reply_free(r);
    bool tell = qv__zwait_arm(&qd_s.sw);
    pthread_mutex_unlock(&qd_s.sock_mu);
    atomic_fetch_sub(&qd_s.pending, 1); /* sent before the count drops */
    if (tell)
        qd_wake_loop();
    return true;
}
