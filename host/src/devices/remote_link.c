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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/internal.h"
#include "devices/remote_link.h"
#include "core/thread.h"

enum { BACKOFF_MIN_MS = 100, BACKOFF_MAX_MS = 5000 };

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

/* Fails every queued and pending request (the link is down); under mu. */
static void fail_all(qv__rlink *l, const char *why)
{
    qv__rreq *lists[2] = {l->sq, l->pending};
    l->sq = l->sq_tail = l->pending = l->pending_tail = NULL;
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
    qv__rconn_teardown(&l->ctx, &l->sock);
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
    if (code == QV_ENOTSUP || code == QV_EMISMATCH ||
        (type == QV_WIRE_LOAD && code == QV_ENOENT))
        return QV_ENOTSUP;
    return QV_EIO;
}

/* Handles one reply (I/O thread). false when it shows the link is bad
 * (the reason in bad). */
static bool on_reply(qv__rlink *l, zmq_msg_t *parts, size_t n, char *bad, size_t badlen)
{
    qv_wire_msg m;
    char err[200];
    int rc = qv__rconn_decode(parts, n, &m, err, sizeof err);
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
            snprintf(bad, badlen,
                     "the daemon restarted (instance %016llx, was %016llx): "
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
    if (l->pending_tail == rq) /* pp is the link field of the one before */
        l->pending_tail = pp == &l->pending
                              ? NULL
                              : (qv__rreq *)((char *)pp - offsetof(qv__rreq, next));
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
            snprintf(rq->why, sizeof rq->why,
                     "remote board %s: read of %zu bytes answered "
                     "with %zu",
                     l->name, rq->n, n < 3 ? (size_t)0 : zmq_msg_size(&parts[2]));
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
            snprintf(rq->why, sizeof rq->why,
                     "remote board %s: the run failed on the "
                     "daemon: %s",
                     l->name, qv_strerror(m.u.run_reply.status));
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
        if ((rc = qv__rconn_send(l->sock, &e)) != 0)
            qv__log(3, "%s: heartbeat not sent: %s", l->name, zmq_strerror(-rc));
        qv__wire_enc_fini(&e);
    }
    return rc == -EAGAIN ? rc : 0;
}

/* Waits (I/O thread, link down) until ns from now or a wake. */
static void nap(qv__rlink *l, uint64_t ns)
{
    struct pollfd p = {l->wakefd, POLLIN, 0};
    if (poll(&p, 1, (int)(ns / 1000000u) + 1) > 0)
        drain_wake(l->wakefd);
}

/* One attempt to reconnect (I/O thread). */
static bool reconnect(qv__rlink *l)
{
    qv__rhello h;
    char err[240];
    void *ctx = NULL, *sock = NULL;
    int rc = qv__rconn_dial(l, l->wakefd, &ctx, &sock, &h, err, sizeof err);
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

/* The I/O thread's clocks (ns) between turns. */
typedef struct io_clock {
    uint64_t last_heard; /* the last message from the daemon */
    uint64_t next_hb;    /* the next heartbeat, while requests wait */
    uint64_t next_try;   /* the next reconnection, while down */
    uint64_t backoff_ms;
    uint64_t restored_until; /* tell the device again until then */
    uint64_t next_restored;
    bool outstanding; /* requests were waiting at the last turn */
} io_clock;

#define MS ((uint64_t)1000000)

/* A turn while the link is down: reconnect when it is time. */
static void turn_down(qv__rlink *l, io_clock *c, uint64_t now)
{
    if (now < c->next_try) {
        nap(l, c->next_try - now);
        return;
    }
    if (!reconnect(l)) {
        c->next_try = qv__now_ns() + c->backoff_ms * MS;
        c->backoff_ms =
            c->backoff_ms * 2 < BACKOFF_MAX_MS ? c->backoff_ms * 2 : BACKOFF_MAX_MS;
        return;
    }
    c->backoff_ms = BACKOFF_MIN_MS;
    c->outstanding = false;
    c->restored_until = qv__now_ns() + 2000 * MS;
    c->next_restored = 0;
    if (l->restored)
        l->restored(l->arg);
}

/* Sends what is queued, each request moved to the pending list first so
 * that its reply finds it. 0 or -errno. */
static int send_queued(qv__rlink *l, io_clock *c, uint64_t now)
{
    pthread_mutex_lock(&l->mu);
    qv__rreq *batch = l->sq;
    l->sq = l->sq_tail = NULL;
    size_t nb = 0;
    for (qv__rreq *rq = batch; rq; rq = rq->next)
        nb++;
    qv_wire_enc *encs = nb ? malloc(nb * sizeof *encs) : NULL;
    if (encs) {
        size_t i = 0;
        for (qv__rreq *rq = batch, *next; rq; rq = next, i++) {
            next = rq->next;
            encs[i] = rq->enc; /* the frames leave with the send */
            memset(&rq->enc, 0, sizeof rq->enc);
            rq->next = NULL;
            if (l->pending_tail)
                l->pending_tail->next = rq;
            else
                l->pending = rq;
            l->pending_tail = rq;
        }
    } else if (nb) {
        l->sq = batch; /* out of memory: again at the next turn */
        for (l->sq_tail = batch; l->sq_tail->next;)
            l->sq_tail = l->sq_tail->next;
        nb = 0;
    }
    bool busy = l->pending != NULL;
    pthread_mutex_unlock(&l->mu);
    if (busy && !c->outstanding) { /* the clock starts with the first request */
        c->last_heard = now;
        c->next_hb = now + l->hb_ms * MS;
    }
    c->outstanding = busy;
    int rc = 0;
    for (size_t i = 0; i < nb; i++) {
        if (!rc)
            rc = qv__rconn_send(l->sock, &encs[i]);
        qv__wire_enc_fini(&encs[i]);
    }
    free(encs);
    return rc;
}

/* Waits for replies (or a wake) until the next heartbeat or deadline, and
 * handles every reply waiting. false when the link is bad (why says why). */
static bool receive(qv__rlink *l, io_clock *c, uint64_t now, char *why, size_t whylen)
{
    long wait_ms = 1000;
    if (c->outstanding) {
        uint64_t dead = c->last_heard + l->timeout_ms * MS;
        uint64_t until = c->next_hb < dead ? c->next_hb : dead;
        wait_ms = until > now ? (long)((until - now) / MS) + 1 : 0;
    } else if (now < c->restored_until) {
        wait_ms = 250;
    }
    zmq_pollitem_t it[2] = {{l->sock, 0, ZMQ_POLLIN, 0},
                            {NULL, l->wakefd, ZMQ_POLLIN, 0}};
    if (zmq_poll(it, 2, wait_ms) < 0 && errno != EINTR) {
        snprintf(why, whylen, "poll: %s", zmq_strerror(errno));
        return false;
    }
    if (it[1].revents & ZMQ_POLLIN)
        drain_wake(l->wakefd);
    for (;;) {
        zmq_msg_t parts[QV__RCONN_MAX_PARTS];
        size_t n;
        int rc = qv__rconn_recv(l->sock, parts, &n);
        if (rc == 1)
            return true;
        if (rc < 0) {
            snprintf(why, whylen, "cannot receive: %s", zmq_strerror(-rc));
            return false;
        }
        c->last_heard = qv__now_ns();
        bool ok = on_reply(l, parts, n, why, whylen);
        qv__rconn_close_parts(parts, n);
        if (!ok)
            return false;
    }
}

/* Stopping (under mu, released here): what is queued (frees, mostly) goes
 * out, the socket lingers a moment for it, and the rest fails. */
static void io_stop(qv__rlink *l)
{
    qv__rreq *batch = l->up ? l->sq : NULL;
    if (batch)
        l->sq = l->sq_tail = NULL;
    pthread_mutex_unlock(&l->mu);
    for (qv__rreq *rq = batch, *next; rq; rq = next) {
        next = rq->next;
        qv__rconn_send(l->sock, &rq->enc);
        pthread_mutex_lock(&l->mu);
        rq->next = l->pending;
        l->pending = rq;
        if (!l->pending_tail)
            l->pending_tail = rq;
        pthread_mutex_unlock(&l->mu);
    }
    int linger = 200;
    if (l->sock)
        zmq_setsockopt(l->sock, ZMQ_LINGER, &linger, sizeof linger);
    qv__rconn_teardown(&l->ctx, &l->sock);
    pthread_mutex_lock(&l->mu);
    fail_all(l, "the device is closing");
    pthread_mutex_unlock(&l->mu);
}

static void *io_main(void *arg)
{
    qv__rlink *l = arg;
    io_clock c = {.last_heard = qv__now_ns(), .backoff_ms = BACKOFF_MIN_MS};
    char why[240];
    for (;;) {
        pthread_mutex_lock(&l->mu);
        if (l->stop)
            break;
        bool up = l->up, reset = l->reset && up;
        snprintf(why, sizeof why, "%s", l->down_why);
        l->reset = false;
        pthread_mutex_unlock(&l->mu);
        uint64_t now = qv__now_ns();
        if (reset) {
            link_down(l, why);
            continue;
        }
        if (!up) {
            turn_down(l, &c, now);
            continue;
        }
        int rc = send_queued(l, &c, now);
        if (rc) {
            link_down(l, rc == -EAGAIN ? "the daemon closed the connection"
                                       : zmq_strerror(-rc));
            continue;
        }
        if (!receive(l, &c, now, why, sizeof why)) {
            link_down(l, why);
            continue;
        }
        now = qv__now_ns();
        if (c.outstanding && now - c.last_heard > l->timeout_ms * MS) {
            snprintf(why, sizeof why, "no reply for %u ms", l->timeout_ms);
            link_down(l, why);
            continue;
        }
        if (c.outstanding && now >= c.next_hb) {
            if (send_heartbeat(l) != 0) {
                link_down(l, "the daemon closed the connection");
                continue;
            }
            c.next_hb = now + l->hb_ms * MS;
        }
        if (now < c.restored_until && now >= c.next_restored && l->restored) {
            /* A task that failed just before the reconnection may have
             * taken the device out of service after it came back. */
            c.next_restored = now + 250 * MS;
            l->restored(l->arg);
        }
    }
    io_stop(l);
    return NULL;
}

static void conf_copy(qv__rlink *l, const qv__rlink_conf *c)
{
    snprintf(l->name, sizeof l->name, "%s", c->name ? c->name : "?");
    snprintf(l->endpoint, sizeof l->endpoint, "%s", c->endpoint);
    snprintf(l->server_key, sizeof l->server_key, "%s",
             c->server_key ? c->server_key : "");
    snprintf(l->client_pub, sizeof l->client_pub, "%s",
             c->client_pub ? c->client_pub : "");
    snprintf(l->client_sec, sizeof l->client_sec, "%s",
             c->client_sec ? c->client_sec : "");
    l->hb_ms = c->heartbeat_ms ? c->heartbeat_ms : 250;
    l->timeout_ms = c->timeout_ms ? c->timeout_ms : 1000;
    l->restored = c->restored;
    l->arg = c->arg;
}

int qv__rlink_open(qv__rlink *l, const qv__rlink_conf *conf, char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    conf_copy(l, conf);
    int rc = qv__rconn_dial(l, -1, &l->ctx, &l->sock, &l->hello, err, errlen);
    if (rc) {
        memset(l->client_sec, 0, sizeof l->client_sec);
        return rc;
    }
    l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wakefd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        qv__rconn_teardown(&l->ctx, &l->sock);
        qv__rhello_fini(&l->hello);
        return QV_ENOMEM;
    }
    pthread_mutex_init(&l->mu, NULL);
    /* Deadlines on the monotonic clock: a jump of the wall clock must not
     * time a run out (or stretch it). */
    qv__cond_init_monotonic(&l->cv);
    l->up = true;
    l->next_id = QV__RCONN_HELLO_ID + 1;
    if (qv__thread_start(&l->thread, NULL, io_main, l) != 0) {
        snprintf(err, errlen, "cannot start its I/O thread");
        qv__rconn_teardown(&l->ctx, &l->sock);
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
        snprintf(rq->why, sizeof rq->why, "%s",
                 l->stop ? "the device is closing" : l->down_why);
        pthread_mutex_unlock(&l->mu);
        return QV_EIO;
    }
    m->id = l->next_id++;
    rq->id = m->id;
    rq->gen = l->gen;
    rq->type = m->type;
    int rc = qv__wire_encode(m, &rq->enc);
    if (rc) {
        snprintf(rq->why, sizeof rq->why,
                 "remote board %s: cannot encode a %s request: %s", l->name,
                 qv__wire_type_name(m->type), qv_strerror(rc));
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
    const qv__rreq *lists[2] = {l->sq, l->pending};
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

int qv__rlink_wait(qv__rlink *l, qv__rreq *rq, int64_t timeout_ns, char *why,
                   size_t whylen)
{
    struct timespec until = qv__deadline_in(timeout_ns >= 0 ? timeout_ns : 0);
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
            snprintf(l->down_why, sizeof l->down_why,
                     "a %s still unanswered after %lld ms", qv__wire_type_name(rq->type),
                     (long long)(timeout_ns / 1000000));
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
        const qv__rreq *lists[2] = {l->sq, l->pending};
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
    int rc = qv__rconn_dial(l, -1, &ctx, &sock, out, err, errlen);
    qv__rconn_teardown(&ctx, &sock);
    memset(l->client_sec, 0, sizeof l->client_sec);
    free(l);
    return rc;
}
