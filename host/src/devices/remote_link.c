/*
 * remote_link.c - one remote board's connection to its quiverd: a DEALER
 * socket that only the link's I/O thread touches. Device operations queue
 * requests (qv__rlink_post) and wait for their replies (qv__rlink_wait);
 * the I/O thread sends them in order without waiting for any reply
 * (pipelining), matches replies to requests by id, and while requests are
 * outstanding sends a HEARTBEAT every heartbeat_ms. When nothing comes back
 * for timeout_ms, or the daemon's instance changes (it restarted and lost
 * every buffer), the link is down: the socket and its context are
 * destroyed, every outstanding request fails with QV_EIO, and the thread
 * says HELLO again, every 100 ms backing off to 5 s, until the daemon
 * answers; then the device is told (restored) and takes tasks again.
 *
 * Each connection has its own ZeroMQ context, so that destroying it
 * (zmq_ctx_term, linger 0) guarantees that ZeroMQ holds no pointer into a
 * host buffer any more before the requests that sent them are failed: the
 * data frames of WRITEs are the host's memory, sent without a copy.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/internal.h"
#include "devices/remote_link.h"

enum { BACKOFF_MIN_MS = 100, BACKOFF_MAX_MS = 5000, MAX_PARTS = 3, HELLO_ID = 1 };

static void wake(qv__rlink *l)
{
    uint64_t one = 1;
    if (write(l->wakefd, &one, sizeof one) < 0 && errno != EAGAIN)
        qv__log(1, "%s: cannot wake its I/O thread: %s", l->name, strerror(errno));
}

static void drain_wake(int fd)
{
    uint64_t v;
    if (read(fd, &v, sizeof v) < 0 && errno != EAGAIN)
        qv__log(3, "eventfd read: %s", strerror(errno));
}

void qv__rhello_fini(qv__rhello *h)
{
    for (size_t i = 0; i < h->nkernels; i++) {
        free(h->kernel[i]);
        free(h->func[i]);
    }
    free(h->kernel);
    free(h->func);
    memset(h, 0, sizeof *h);
}

qv__rreq *qv__rreq_new(uint16_t type)
{
    qv__rreq *rq = calloc(1, sizeof *rq);
    if (rq)
        rq->type = type;
    return rq;
}

void qv__rreq_free(qv__rreq *rq)
{
    while (rq) {
        qv__rreq *kids = rq->kids, *next = rq->sib;
        qv__wire_enc_fini(&rq->enc);
        if (rq->has_data)
            zmq_msg_close(&rq->data);
        free(rq);
        qv__rreq_free(kids);
        rq = next;
    }
}

/* ZeroMQ frees a body frame it sent with this. */
static void free_body(void *data, void *hint)
{
    (void)hint;
    free(data);
}

/* The data frame of a WRITE is the host buffer: nothing to free. The
 * buffer outlives the send: the task that made the copy does not finish
 * before the daemon's reply to a later request (its RUN) comes, which
 * the daemon sends after it received this frame whole; a posted copy no
 * task waits for is waited for by the device copy's free
 * (qv__rlink_quiesce), which unregistering the buffer calls before the
 * host may free it; and when the link fails, its ZeroMQ context is
 * destroyed (dropping every unsent frame) before any request fails. */
static void keep_data(void *data, void *hint)
{
    (void)data;
    (void)hint;
}

/* Sends e's frames on sock; 0 or -errno (-EAGAIN: the connection is
 * gone, and the socket does not reconnect). */
static int send_enc(void *sock, qv_wire_enc *e)
{
    if (zmq_send(sock, e->head, QV_WIRE_HEADER_SIZE, ZMQ_SNDMORE | ZMQ_DONTWAIT) !=
        QV_WIRE_HEADER_SIZE)
        return -errno;
    zmq_msg_t f;
    if (e->body && e->body_size) {
        if (zmq_msg_init_data(&f, e->body, e->body_size, free_body, NULL) != 0)
            return -errno;
        e->body = NULL; /* ZeroMQ's now */
    } else {
        zmq_msg_init(&f);
    }
    if (zmq_msg_send(&f, sock, (e->has_data ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0) {
        int err = errno;
        zmq_msg_close(&f);
        return -err;
    }
    if (!e->has_data)
        return 0;
    if (e->data.size) {
        if (zmq_msg_init_data(&f, (void *)e->data.data, e->data.size, keep_data, NULL) != 0)
            return -errno;
    } else {
        zmq_msg_init(&f);
    }
    if (zmq_msg_send(&f, sock, ZMQ_DONTWAIT) < 0) {
        int err = errno;
        zmq_msg_close(&f);
        return -err;
    }
    return 0;
}

/* Receives one whole message into parts (MAX_PARTS, initialised here);
 * *n frames kept (n > MAX_PARTS: there were more, dropped). 1 when none
 * is waiting, 0 when one came, -errno on a socket error. */
static int recv_msg(void *sock, zmq_msg_t *parts, size_t *n, bool block)
{
    *n = 0;
    for (;;) {
        zmq_msg_t extra, *p = *n < MAX_PARTS ? &parts[*n] : &extra;
        zmq_msg_init(p);
        if (zmq_msg_recv(p, sock, *n == 0 && !block ? ZMQ_DONTWAIT : 0) < 0) {
            int err = errno;
            zmq_msg_close(p);
            for (size_t i = 0; i < *n && i < MAX_PARTS; i++)
                zmq_msg_close(&parts[i]);
            return *n == 0 && err == EAGAIN ? 1 : -err;
        }
        int more = zmq_msg_more(p);
        if (p == &extra)
            zmq_msg_close(p);
        ++*n;
        if (!more)
            return 0;
    }
}

static void close_parts(zmq_msg_t *parts, size_t n)
{
    for (size_t i = 0; i < n && i < MAX_PARTS; i++)
        zmq_msg_close(&parts[i]);
}

/* Decodes parts into m; 0, or an error with the reason in err. */
static int decode(zmq_msg_t *parts, size_t n, qv_wire_msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (n > MAX_PARTS) {
        snprintf(err, errlen, "a reply of %zu frames (at most %d)", n, MAX_PARTS);
        return QV_EFORMAT;
    }
    qv_wire_frame fr[MAX_PARTS];
    for (size_t i = 0; i < n; i++) {
        fr[i].data = zmq_msg_data(&parts[i]);
        fr[i].size = zmq_msg_size(&parts[i]);
    }
    return qv__wire_decode(fr, n, NULL, m, err, errlen);
}

/* Copies what the runtime needs of a HELLO reply into h. */
static int hello_keep(const qv_wire_hello_reply *r, qv__rhello *h)
{
    memset(h, 0, sizeof *h);
    h->instance = r->instance;
    h->caps = r->caps;
    size_t n = 0;
    for (unsigned b = 0; b < r->nboards; b++)
        n += r->boards[b].nkernels;
    h->kernel = calloc(n + 1, sizeof *h->kernel);
    h->func = calloc(n + 1, sizeof *h->func);
    if (!h->kernel || !h->func) {
        qv__rhello_fini(h);
        return QV_ENOMEM;
    }
    size_t len = 0;
    for (unsigned b = 0; b < r->nboards; b++) {
        const qv_wire_board *wb = &r->boards[b];
        if (wb->memory > h->memory)
            h->memory = wb->memory;
        if (len < sizeof h->boards)
            len += (size_t)snprintf(h->boards + len, sizeof h->boards - len, "%s%s",
                                    b ? ", " : "", wb->name);
        for (unsigned k = 0; k < wb->nkernels; k++) {
            h->kernel[h->nkernels] = strdup(wb->kernels[k].kernel);
            h->func[h->nkernels] = strdup(wb->kernels[k].func);
            if (!h->kernel[h->nkernels] || !h->func[h->nkernels]) {
                h->nkernels++;
                qv__rhello_fini(h);
                return QV_ENOMEM;
            }
            h->nkernels++;
        }
    }
    return 0;
}

static void teardown(void **ctx, void **sock)
{
    if (*sock)
        zmq_close(*sock);
    if (*ctx)
        zmq_ctx_term(*ctx);
    *sock = *ctx = NULL;
}

/* Connects a DEALER to l's endpoint and says HELLO: 0 with the socket,
 * its context and the daemon's description; else an error with the
 * reason in err and nothing left open. Waits at most l->timeout_ms, and
 * returns early (-ECANCELED) when wakefd (>= 0) is signalled. */
static int dial(const qv__rlink *l, int wakefd, void **ctxp, void **sockp, qv__rhello *h,
                char *err, size_t errlen)
{
    void *ctx = zmq_ctx_new(), *sock = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    int rc = 0;
    if (!sock) {
        snprintf(err, errlen, "cannot make a ZeroMQ socket: %s", zmq_strerror(errno));
        teardown(&ctx, &sock);
        return QV_ENOMEM;
    }
    /* Linger 0: a socket closed after a fault drops what it had not sent.
     * No high-water mark: the runtime bounds what is in flight. No
     * reconnection: a socket talks to the one daemon that answered its
     * hello, so that no request meant for a daemon that died reaches the
     * one started in its place (with other buffers under the same ids);
     * the link reconnects with a new socket and a new hello instead. */
    int zero = 0, never = -1;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL, &never, sizeof never);
    zmq_setsockopt(sock, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &zero, sizeof zero);
    if (l->server_key[0]) {
        char pub[QV__KEY_Z85 + 1], sec[QV__KEY_Z85 + 1];
        const char *cpub = l->client_pub[0] ? l->client_pub : NULL, *csec = l->client_sec;
        if (!csec[0]) {
            /* No client key configured: an ephemeral pair (a daemon that
             * checks keys refuses it; one that does not still encrypts). */
            if (zmq_curve_keypair(pub, sec) != 0) {
                snprintf(err, errlen, "no client key (client_key_file) and no CURVE "
                         "in libzmq to make one");
                teardown(&ctx, &sock);
                return QV_ENOTSUP;
            }
            cpub = pub;
            csec = sec;
        }
        rc = qv__auth_client(sock, l->server_key, cpub, csec, err, errlen);
        memset(sec, 0, sizeof sec);
        if (rc) {
            teardown(&ctx, &sock);
            return QV_ENOTSUP;
        }
    }
    if (zmq_connect(sock, l->endpoint) != 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", l->endpoint, zmq_strerror(errno));
        teardown(&ctx, &sock);
        return QV_EIO;
    }
    qv_wire_msg m;
    memset(&m, 0, sizeof m);
    m.type = QV_WIRE_HELLO;
    m.id = HELLO_ID;
    m.u.hello.client = "libquiver";
    qv_wire_enc e;
    if ((rc = qv__wire_encode(&m, &e)) != 0 || (rc = send_enc(sock, &e)) != 0) {
        qv__wire_enc_fini(&e);
        snprintf(err, errlen, "cannot send hello: %s", qv_strerror(rc));
        teardown(&ctx, &sock);
        return QV_EIO;
    }
    qv__wire_enc_fini(&e);
    uint64_t until = qv__now_ns() + (uint64_t)l->timeout_ms * 1000000u;
    for (;;) {
        uint64_t now = qv__now_ns();
        if (now >= until) {
            snprintf(err, errlen, "no answer to hello from %s within %u ms", l->endpoint,
                     l->timeout_ms);
            teardown(&ctx, &sock);
            return QV_ETIMEDOUT;
        }
        zmq_pollitem_t it[2] = { { sock, 0, ZMQ_POLLIN, 0 }, { NULL, wakefd, ZMQ_POLLIN, 0 } };
        long ms = (long)((until - now) / 1000000u) + 1;
        if (zmq_poll(it, wakefd >= 0 ? 2 : 1, ms) < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll: %s", zmq_strerror(errno));
            teardown(&ctx, &sock);
            return QV_EIO;
        }
        if (wakefd >= 0 && (it[1].revents & ZMQ_POLLIN)) {
            snprintf(err, errlen, "stopped");
            teardown(&ctx, &sock);
            return -ECANCELED;
        }
        if (!(it[0].revents & ZMQ_POLLIN))
            continue;
        zmq_msg_t parts[MAX_PARTS];
        size_t n;
        if (recv_msg(sock, parts, &n, false) != 0)
            continue;
        char why[200];
        rc = decode(parts, n, &m, why, sizeof why);
        if (!rc && m.id != HELLO_ID) { /* not ours: a stray reply */
            qv__wire_msg_fini(&m);
            close_parts(parts, n);
            continue;
        }
        if (rc)
            snprintf(err, errlen, "the answer to hello is malformed: %s", why);
        else if (m.type == (QV_WIRE_ERROR | QV_WIRE_REPLY))
            snprintf(err, errlen, "the daemon refused hello: %s (%s)", m.u.error.message,
                     qv_strerror(m.u.error.code)), rc = QV_ENOTSUP;
        else if (m.type != (QV_WIRE_HELLO | QV_WIRE_REPLY))
            snprintf(err, errlen, "a %s reply to hello", qv__wire_type_name(m.type)),
                rc = QV_EFORMAT;
        else if (m.u.hello_reply.version != QV_WIRE_VERSION)
            snprintf(err, errlen, "the daemon speaks protocol version %u, not %u",
                     m.u.hello_reply.version, QV_WIRE_VERSION), rc = QV_ENOTSUP;
        else if ((rc = hello_keep(&m.u.hello_reply, h)) != 0)
            snprintf(err, errlen, "out of memory");
        qv__wire_msg_fini(&m);
        close_parts(parts, n);
        if (rc) {
            teardown(&ctx, &sock);
            return rc == QV_ENOMEM ? rc : rc == QV_ENOTSUP ? rc : QV_EIO;
        }
        *ctxp = ctx;
        *sockp = sock;
        return 0;
    }
}

/* Fails every queued and pending request (the link is down); under mu. */
static void fail_all(qv__rlink *l, const char *why)
{
    qv__rreq *lists[2] = { l->sq, l->pending };
    l->sq = l->sq_tail = l->pending = NULL;
    for (int i = 0; i < 2; i++) {
        for (qv__rreq *rq = lists[i], *next; rq; rq = next) {
            next = rq->next;
            rq->next = NULL;
            rq->done = true;
            rq->err = QV_EIO;
            snprintf(rq->why, sizeof rq->why, "%s", why);
            if (rq->detached)
                qv__rreq_free(rq);
        }
    }
    pthread_cond_broadcast(&l->cv);
}

/* Takes the link down (I/O thread): no ZeroMQ pointer into host memory
 * is left when the requests fail. */
static void link_down(qv__rlink *l, const char *why)
{
    teardown(&l->ctx, &l->sock);
    char msg[240];
    snprintf(msg, sizeof msg, "remote board %.60s (%.60s): %.100s", l->name, l->endpoint,
             why);
    pthread_mutex_lock(&l->mu);
    bool was = l->up;
    l->up = false;
    l->gen++;
    l->faults++;
    snprintf(l->down_why, sizeof l->down_why, "%.220s; reconnecting", msg);
    fail_all(l, msg);
    pthread_mutex_unlock(&l->mu);
    if (was)
        qv__log(1, "%s: its tasks run elsewhere until it answers again", msg);
}

/* What the runtime does with a daemon's error code for a request of type
 * `type` (devices/device.h): no room -> elsewhere; cannot run -> never
 * here again; the rest is a fault of the board. */
static int map_code(uint16_t type, int code)
{
    if (code == QV_ENOMEM || code == QV_E2BIG)
        return QV_ENOMEM;
    if (code == QV_ENOTSUP || code == QV_EMISMATCH || (type == QV_WIRE_LOAD && code == QV_ENOENT))
        return QV_ENOTSUP;
    return QV_EIO;
}

/* Handles one reply (I/O thread). false when it shows the link is bad
 * (the reason in bad). */
static bool on_reply(qv__rlink *l, zmq_msg_t *parts, size_t n, char *bad, size_t badlen)
{
    qv_wire_msg m;
    char err[200];
    int rc = decode(parts, n, &m, err, sizeof err);
    if (rc) {
        snprintf(bad, badlen, "a malformed reply: %s", err);
        return false;
    }
    if (!(m.type & QV_WIRE_REPLY)) {
        snprintf(bad, badlen, "a %s request where a reply was expected",
                 qv__wire_type_name(m.type));
        qv__wire_msg_fini(&m);
        return false;
    }
    unsigned type = m.type & ~(unsigned)QV_WIRE_REPLY;
    bool ok = true;
    pthread_mutex_lock(&l->mu);
    if (type == QV_WIRE_HEARTBEAT) {
        if (m.u.heartbeat_reply.instance != l->hello.instance) {
            snprintf(bad, badlen, "the daemon restarted (instance %016llx, was %016llx): "
                     "what it held is gone",
                     (unsigned long long)m.u.heartbeat_reply.instance,
                     (unsigned long long)l->hello.instance);
            ok = false;
        }
        pthread_mutex_unlock(&l->mu);
        qv__wire_msg_fini(&m);
        return ok;
    }
    qv__rreq **pp = &l->pending, *rq;
    while ((rq = *pp) != NULL && rq->id != m.id)
        pp = &rq->next;
    if (!rq) {
        pthread_mutex_unlock(&l->mu);
        qv__log(3, "%s: a %s reply to no request (id %llu)", l->name,
                qv__wire_type_name(m.type), (unsigned long long)m.id);
        qv__wire_msg_fini(&m);
        return true;
    }
    *pp = rq->next;
    rq->next = NULL;
    if (type == QV_WIRE_ERROR) {
        rq->err = map_code(rq->type, m.u.error.code);
        snprintf(rq->why, sizeof rq->why, "remote board %s: %s refused: %s (%s)", l->name,
                 qv__wire_type_name(rq->type), m.u.error.message,
                 qv_strerror(m.u.error.code));
    } else if (type != rq->type) {
        rq->err = QV_EIO;
        snprintf(bad, badlen, "a %s reply to a %s request", qv__wire_type_name(type),
                 qv__wire_type_name(rq->type));
        snprintf(rq->why, sizeof rq->why, "remote board %.60s: %.150s", l->name, bad);
        ok = false;
    } else if (type == QV_WIRE_ALLOC) {
        rq->buf = m.u.alloc_reply.buf;
    } else if (type == QV_WIRE_READ) {
        if (n < 3 || zmq_msg_size(&parts[2]) != rq->n) {
            rq->err = QV_EIO;
            snprintf(rq->why, sizeof rq->why, "remote board %s: read of %zu bytes answered "
                     "with %zu", l->name, rq->n, n < 3 ? (size_t)0 : zmq_msg_size(&parts[2]));
        } else {
            zmq_msg_init(&rq->data);
            zmq_msg_move(&rq->data, &parts[2]);
            rq->has_data = true;
        }
    } else if (type == QV_WIRE_RUN) {
        for (uint32_t i = 0; i < m.u.run_reply.ntasks; i++)
            rq->time_us += m.u.run_reply.results[i].time_us;
        if (m.u.run_reply.status) {
            rq->err = map_code(QV_WIRE_RUN, m.u.run_reply.status);
            snprintf(rq->why, sizeof rq->why, "remote board %s: the run failed on the "
                     "daemon: %s", l->name, qv_strerror(m.u.run_reply.status));
        }
    }
    rq->done = true;
    if (rq->detached) {
        if (rq->err && ok) {
            /* A copy no one waits for failed: the device's copies are not
             * what the runtime believes; start again. */
            snprintf(bad, badlen, "%s", rq->why);
            ok = false;
        }
        qv__rreq_free(rq);
    }
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    qv__wire_msg_fini(&m);
    return ok;
}

/* 0, or -EAGAIN when the connection is gone. */
static int send_heartbeat(qv__rlink *l)
{
    qv_wire_msg m;
    memset(&m, 0, sizeof m);
    m.type = QV_WIRE_HEARTBEAT;
    pthread_mutex_lock(&l->mu);
    m.id = l->next_id++;
    pthread_mutex_unlock(&l->mu);
    qv_wire_enc e;
    int rc = 0;
    if (qv__wire_encode(&m, &e) == 0) {
        if ((rc = send_enc(l->sock, &e)) != 0)
            qv__log(3, "%s: heartbeat not sent: %s", l->name, zmq_strerror(-rc));
        qv__wire_enc_fini(&e);
    }
    return rc == -EAGAIN ? rc : 0;
}

/* Waits (I/O thread, link down) until ns from now or a wake. */
static void nap(qv__rlink *l, uint64_t ns)
{
    struct pollfd p = { l->wakefd, POLLIN, 0 };
    if (poll(&p, 1, (int)(ns / 1000000u) + 1) > 0)
        drain_wake(l->wakefd);
}

/* One attempt to reconnect (I/O thread). */
static bool reconnect(qv__rlink *l)
{
    qv__rhello h;
    char err[240];
    void *ctx = NULL, *sock = NULL;
    int rc = dial(l, l->wakefd, &ctx, &sock, &h, err, sizeof err);
    if (rc) {
        if (rc == -ECANCELED)
            drain_wake(l->wakefd);
        qv__log(3, "%s: reconnection failed: %s", l->name, err);
        return false;
    }
    pthread_mutex_lock(&l->mu);
    qv__rhello_fini(&l->hello);
    l->hello = h;
    l->ctx = ctx;
    l->sock = sock;
    l->up = true;
    l->reset = false;
    l->reconnects++;
    pthread_mutex_unlock(&l->mu);
    qv__log(1, "remote board %s (%s) answers again (daemon instance %016llx)", l->name,
            l->endpoint, (unsigned long long)h.instance);
    return true;
}

static void *io_main(void *arg)
{
    qv__rlink *l = arg;
    const uint64_t ms = 1000000u;
    uint64_t last_heard = qv__now_ns(), next_hb = 0, next_try = 0, backoff = BACKOFF_MIN_MS;
    uint64_t restored_until = 0, next_restored = 0;
    bool outstanding = false;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        if (l->stop)
            break;
        bool up = l->up, reset = l->reset && up;
        char why[240];
        snprintf(why, sizeof why, "%s", l->down_why);
        l->reset = false;
        pthread_mutex_unlock(&l->mu);
        uint64_t now = qv__now_ns();
        if (reset) {
            link_down(l, why);
            continue;
        }
        if (!up) {
            if (now < next_try) {
                nap(l, next_try - now);
                continue;
            }
            if (!reconnect(l)) {
                next_try = qv__now_ns() + backoff * ms;
                backoff = backoff * 2 < BACKOFF_MAX_MS ? backoff * 2 : BACKOFF_MAX_MS;
                continue;
            }
            backoff = BACKOFF_MIN_MS;
            outstanding = false;
            restored_until = qv__now_ns() + 2000 * ms;
            next_restored = 0;
            if (l->restored)
                l->restored(l->arg);
            continue;
        }
        /* Send what is queued: it moves to the pending list first, so that
         * its reply finds it. */
        pthread_mutex_lock(&l->mu);
        qv__rreq *batch = l->sq;
        l->sq = l->sq_tail = NULL;
        size_t nb = 0;
        qv_wire_enc *encs = NULL;
        for (qv__rreq *rq = batch; rq; rq = rq->next)
            nb++;
        if (nb && (encs = malloc(nb * sizeof *encs)) != NULL) {
            size_t i = 0;
            for (qv__rreq *rq = batch, *next; rq; rq = next, i++) {
                next = rq->next;
                encs[i] = rq->enc; /* the frames leave with the send */
                memset(&rq->enc, 0, sizeof rq->enc);
                rq->next = l->pending;
                l->pending = rq;
            }
        } else if (nb) {
            l->sq = batch; /* out of memory: try again in a moment */
            for (l->sq_tail = batch; l->sq_tail->next;)
                l->sq_tail = l->sq_tail->next;
            nb = 0;
        }
        bool busy = l->pending != NULL;
        pthread_mutex_unlock(&l->mu);
        if (busy && !outstanding) { /* the clock starts with the first request */
            last_heard = now;
            next_hb = now + l->hb_ms * ms;
        }
        outstanding = busy;
        int src = 0;
        for (size_t i = 0; i < nb; i++) {
            if (!src)
                src = send_enc(l->sock, &encs[i]);
            qv__wire_enc_fini(&encs[i]);
        }
        free(encs);
        if (src) {
            snprintf(why, sizeof why, "%s", src == -EAGAIN ? "the daemon closed the connection"
                                                           : zmq_strerror(-src));
            link_down(l, why);
            continue;
        }
        long wait_ms = 1000;
        if (outstanding) {
            uint64_t dead = last_heard + l->timeout_ms * ms;
            uint64_t until = next_hb < dead ? next_hb : dead;
            wait_ms = until > now ? (long)((until - now) / ms) + 1 : 0;
        } else if (now < restored_until) {
            wait_ms = 250;
        }
        zmq_pollitem_t it[2] = { { l->sock, 0, ZMQ_POLLIN, 0 }, { NULL, l->wakefd, ZMQ_POLLIN, 0 } };
        if (zmq_poll(it, 2, wait_ms) < 0 && errno != EINTR) {
            snprintf(why, sizeof why, "poll: %s", zmq_strerror(errno));
            link_down(l, why);
            continue;
        }
        if (it[1].revents & ZMQ_POLLIN)
            drain_wake(l->wakefd);
        bool bad = false;
        for (;;) {
            zmq_msg_t parts[MAX_PARTS];
            size_t n;
            int rrc = recv_msg(l->sock, parts, &n, false);
            if (rrc == 1)
                break;
            if (rrc < 0) {
                snprintf(why, sizeof why, "cannot receive: %s", zmq_strerror(-rrc));
                bad = true;
                break;
            }
            last_heard = qv__now_ns();
            bool ok = on_reply(l, parts, n, why, sizeof why);
            close_parts(parts, n);
            if (!ok) {
                bad = true;
                break;
            }
        }
        if (bad) {
            link_down(l, why);
            continue;
        }
        now = qv__now_ns();
        if (outstanding) {
            if (now - last_heard > l->timeout_ms * ms) {
                snprintf(why, sizeof why, "no reply for %u ms", l->timeout_ms);
                link_down(l, why);
                continue;
            }
            if (now >= next_hb) {
                if (send_heartbeat(l) != 0) {
                    link_down(l, "the daemon closed the connection");
                    continue;
                }
                next_hb = now + l->hb_ms * ms;
            }
        }
        if (now < restored_until && now >= next_restored && l->restored) {
            /* A task that failed just before the reconnection may have
             * taken the device out of service after it came back. */
            next_restored = now + 250 * ms;
            l->restored(l->arg);
        }
    }
    /* Stopping: what is queued (frees, mostly) goes out, then the socket
     * lingers a moment for it. */
    qv__rreq *batch = l->up ? l->sq : NULL;
    if (batch)
        l->sq = l->sq_tail = NULL;
    pthread_mutex_unlock(&l->mu);
    int linger = 200;
    for (qv__rreq *rq = batch, *next; rq; rq = next) {
        next = rq->next;
        send_enc(l->sock, &rq->enc);
        rq->next = NULL;
        pthread_mutex_lock(&l->mu);
        rq->next = l->pending;
        l->pending = rq;
        pthread_mutex_unlock(&l->mu);
    }
    if (l->sock)
        zmq_setsockopt(l->sock, ZMQ_LINGER, &linger, sizeof linger);
    teardown(&l->ctx, &l->sock);
    pthread_mutex_lock(&l->mu);
    fail_all(l, "the device is closing");
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static void conf_copy(qv__rlink *l, const qv__rlink_conf *c)
{
    snprintf(l->name, sizeof l->name, "%s", c->name ? c->name : "?");
    snprintf(l->endpoint, sizeof l->endpoint, "%s", c->endpoint);
    snprintf(l->server_key, sizeof l->server_key, "%s", c->server_key ? c->server_key : "");
    snprintf(l->client_pub, sizeof l->client_pub, "%s", c->client_pub ? c->client_pub : "");
    snprintf(l->client_sec, sizeof l->client_sec, "%s", c->client_sec ? c->client_sec : "");
    l->hb_ms = c->heartbeat_ms ? c->heartbeat_ms : 250;
    l->timeout_ms = c->timeout_ms ? c->timeout_ms : 1000;
    l->restored = c->restored;
    l->arg = c->arg;
}

int qv__rlink_open(qv__rlink *l, const qv__rlink_conf *conf, char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    conf_copy(l, conf);
    int rc = dial(l, -1, &l->ctx, &l->sock, &l->hello, err, errlen);
    if (rc) {
        memset(l->client_sec, 0, sizeof l->client_sec);
        return rc;
    }
    l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wakefd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        teardown(&l->ctx, &l->sock);
        qv__rhello_fini(&l->hello);
        return QV_ENOMEM;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->up = true;
    l->next_id = HELLO_ID + 1;
    if (pthread_create(&l->thread, NULL, io_main, l) != 0) {
        snprintf(err, errlen, "cannot start its I/O thread");
        teardown(&l->ctx, &l->sock);
        qv__rhello_fini(&l->hello);
        close(l->wakefd);
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        return QV_ENOMEM;
    }
    l->started = true;
    return 0;
}

void qv__rlink_close(qv__rlink *l)
{
    if (!l->started)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_mutex_unlock(&l->mu);
    wake(l);
    pthread_join(l->thread, NULL);
    l->started = false;
    close(l->wakefd);
    qv__rhello_fini(&l->hello);
    memset(l->client_sec, 0, sizeof l->client_sec);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
}

int qv__rlink_post(qv__rlink *l, qv__rreq *rq, qv_wire_msg *m)
{
    pthread_mutex_lock(&l->mu);
    if (!l->up || l->stop) {
        snprintf(rq->why, sizeof rq->why, "%s", l->stop ? "the device is closing"
                                                        : l->down_why);
        pthread_mutex_unlock(&l->mu);
        return QV_EIO;
    }
    m->id = l->next_id++;
    rq->id = m->id;
    rq->gen = l->gen;
    rq->type = m->type;
    int rc = qv__wire_encode(m, &rq->enc);
    if (rc) {
        snprintf(rq->why, sizeof rq->why, "remote board %s: cannot encode a %s request: %s",
                 l->name, qv__wire_type_name(m->type), qv_strerror(rc));
        pthread_mutex_unlock(&l->mu);
        return rc;
    }
    bool was_empty = !l->sq;
    if (l->sq_tail)
        l->sq_tail->next = rq;
    else
        l->sq = rq;
    l->sq_tail = rq;
    pthread_mutex_unlock(&l->mu);
    if (was_empty)
        wake(l);
    return 0;
}

/* Whether a detached request older than id is still unanswered; under mu. */
static bool older_detached(const qv__rlink *l, uint64_t id)
{
    const qv__rreq *lists[2] = { l->sq, l->pending };
    for (int i = 0; i < 2; i++)
        for (const qv__rreq *rq = lists[i]; rq; rq = rq->next)
            if (rq->detached && rq->id < id)
                return true;
    return false;
}

static bool all_done(const qv__rreq *rq)
{
    if (!rq->done)
        return false;
    for (const qv__rreq *k = rq->kids; k; k = k->sib)
        if (!k->done)
            return false;
    return true;
}

int qv__rlink_wait(qv__rlink *l, qv__rreq *rq, int64_t timeout_ns, char *why, size_t whylen)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    if (timeout_ns >= 0) {
        until.tv_sec += timeout_ns / 1000000000;
        until.tv_nsec += timeout_ns % 1000000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
    }
    bool late = false;
    pthread_mutex_lock(&l->mu);
    while (!all_done(rq) || older_detached(l, rq->id)) {
        if (timeout_ns < 0 || late) {
            pthread_cond_wait(&l->cv, &l->mu);
        } else if (pthread_cond_timedwait(&l->cv, &l->mu, &until) == ETIMEDOUT &&
                   (!all_done(rq) || older_detached(l, rq->id))) {
            /* The requests still belong to the link: reset it, which
             * fails every outstanding request at once. */
            late = true;
            l->reset = true;
            snprintf(l->down_why, sizeof l->down_why, "a %s still unanswered after %lld ms",
                     qv__wire_type_name(rq->type), (long long)(timeout_ns / 1000000));
            pthread_mutex_unlock(&l->mu);
            wake(l);
            pthread_mutex_lock(&l->mu);
        }
    }
    int rc = rq->err;
    const char *w = rq->why;
    for (const qv__rreq *k = rq->kids; k && !rc; k = k->sib)
        if (k->err) {
            rc = k->err;
            w = k->why;
        }
    if (rc && why)
        snprintf(why, whylen, "%s", w);
    pthread_mutex_unlock(&l->mu);
    if (late) {
        if (why)
            snprintf(why, whylen, "remote board %s: a %s got no reply within %lld ms",
                     l->name, qv__wire_type_name(rq->type),
                     (long long)(timeout_ns / 1000000));
        return QV_ETIMEDOUT;
    }
    return rc;
}

void qv__rlink_quiesce(qv__rlink *l, const struct qv_devmem *mem)
{
    pthread_mutex_lock(&l->mu);
    for (;;) {
        bool busy = false;
        const qv__rreq *lists[2] = { l->sq, l->pending };
        for (int i = 0; i < 2 && !busy; i++)
            for (const qv__rreq *rq = lists[i]; rq && !busy; rq = rq->next)
                busy = rq->type == QV_WIRE_WRITE && rq->mem == mem;
        if (!busy)
            break;
        pthread_cond_wait(&l->cv, &l->mu);
    }
    pthread_mutex_unlock(&l->mu);
}

void qv__rlink_reset(qv__rlink *l, const char *why)
{
    pthread_mutex_lock(&l->mu);
    if (l->up) {
        l->reset = true;
        snprintf(l->down_why, sizeof l->down_why, "%s", why);
    }
    pthread_mutex_unlock(&l->mu);
    wake(l);
}

int qv__rlink_probe(const qv__rlink_conf *conf, qv__rhello *out, char *err, size_t errlen)
{
    qv__rlink *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return QV_ENOMEM;
    }
    conf_copy(l, conf);
    void *ctx = NULL, *sock = NULL;
    int rc = dial(l, -1, &ctx, &sock, out, err, errlen);
    teardown(&ctx, &sock);
    memset(l->client_sec, 0, sizeof l->client_sec);
    free(l);
    return rc;
}
