/*
 * remote_link.c - one remote board's connection to its quiverd: a DEALER
 * socket and its I/O thread. Device operations queue requests
 * (qv__rlink_post) and wait for their replies (qv__rlink_wait); requests
 * go out in order without waiting for any reply (pipelining), sent by the
 * thread that posts them when the I/O thread sleeps (a wake-up of another
 * thread costs as much as the loopback round trip on a virtual machine),
 * else by the I/O thread. The I/O thread matches replies to requests by
 * id, and while requests are outstanding sends a HEARTBEAT every
 * heartbeat_ms. When nothing comes back
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
#include <time.h>
#include <unistd.h>

#include "core/internal.h"
#include "devices/remote_link.h"
#include "core/thread.h"

enum { BACKOFF_MIN_MS = 100, BACKOFF_MAX_MS = 5000 };
/* Idle IDLE_MS, the I/O thread sleeps until a request wakes it (or
 * IDLE_SLEEP_MS passed). */
enum { IDLE_MS = 2000, IDLE_SLEEP_MS = 5000 };
/* While a waiting thread reads the socket, the I/O thread looks at it
 * DEFER_MS after, then twice as late each time it finds nothing, up to
 * DEFER_MAX_MS (receive): a run of seconds woke it 500 times a second
 * (adversarial testing). */
enum { DEFER_MS = 2, DEFER_MAX_MS = 64 };
/* A leader took a reply this recently: the waiting threads read the
 * socket (receive). */
enum { LED_RECENT_MS = 100 };

static void write_one(int fd)
{
    uint64_t one = 1;
    if (write(fd, &one, sizeof one) < 0 && errno != EAGAIN)
        qv__log(1, "cannot wake a thread of a remote board: %s", strerror(errno));
}

static void wake(qv__rlink *l)
{
    write_one(l->wakefd);
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
    atomic_store(&l->replied_due, true);
    pthread_cond_broadcast(&l->cv);
    if (l->leading) /* polling a socket that no reply comes on any more */
        write_one(l->leadfd);
}

/* Calls the replied hook if a reply or a fault came since (holding no
 * lock of the link). */
static void tell_replied(qv__rlink *l)
{
    if (l->replied && atomic_load_explicit(&l->replied_due, memory_order_relaxed) &&
        atomic_exchange(&l->replied_due, false))
        l->replied(l->arg);
}

/* Takes the link down (I/O thread): no ZeroMQ pointer into host memory
 * is left when the requests fail. */
static void link_down(qv__rlink *l, const char *why)
{
    pthread_mutex_lock(&l->sock_mu);
    qv__rconn_teardown(&l->ctx, &l->sock);
    pthread_mutex_unlock(&l->sock_mu);
    /* The daemon's message whole (cut at 100 bytes, a refusal read "which
     * is not among: its tasks run elsewhere": adversarial testing). */
    char msg[400];
    snprintf(msg, sizeof msg, "remote board %.60s (%.80s): %.230s", l->name, l->endpoint,
             why);
    pthread_mutex_lock(&l->mu);
    bool was = l->up;
    l->up = false;
    l->gen++;
    l->faults++;
    snprintf(l->down_why, sizeof l->down_why, "%.380s; reconnecting", msg);
    fail_all(l, msg);
    pthread_mutex_unlock(&l->mu);
    if (was)
        qv__log(1, "%s: its tasks run elsewhere until it answers again", msg);
    tell_replied(l); /* the failed runs may have no thread to land them */
}

/* What the runtime does with a daemon's error code for a request of type
 * `type` (devices/device.h): no room, or busy (its --max-tasks, its bound
 * on queued writes) -> elsewhere; cannot run -> never here again; the rest
 * is a fault of the board. */
static int map_code(uint16_t type, int code)
{
    if (code == QV_ENOMEM || code == QV_E2BIG)
        return QV_ENOMEM;
    if (code == QV_EBUSY)
        return QV_EBUSY;
    if (code == QV_ENOTSUP || code == QV_EMISMATCH ||
        (type == QV_WIRE_LOAD && code == QV_ENOENT))
        return QV_ENOTSUP;
    return QV_EIO;
}

/* Handles one reply (I/O thread). false when it shows the link is bad
 * (the reason in bad). */
/* Whether a RUN reply m carries the outputs rq asked for (its kids, in
 * order: ids and lengths), or none when it asked for none. */
static bool outputs_match(const qv__rreq *rq, const qv_wire_msg *m)
{
    if (m->u.run_reply.nouts != rq->nouts)
        return false;
    const qv__rreq *k = rq->kids;
    for (unsigned i = 0; i < rq->nouts; i++, k = k->sib)
        if (!k || k->buf != m->u.run_reply.outs[i].buf || k->n != m->u.run_reply.outs[i].length)
            return false;
    return true;
}

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
        } else if (!outputs_match(rq, &m)) {
            rq->err = QV_EIO;
            snprintf(rq->why, sizeof rq->why,
                     "remote board %s: a run's reply carried %u outputs, not the %u "
                     "asked for",
                     l->name, (unsigned)m.u.run_reply.nouts, (unsigned)rq->nouts);
        } else if (rq->nouts) {
            zmq_msg_init(&rq->data);
            zmq_msg_move(&rq->data, &parts[2]);
            rq->has_data = true;
        }
    }
    rq->done = true;
    if (rq->type == QV_WIRE_RUN || rq->type == QV_WIRE_READ)
        atomic_store_explicit(&l->replied_due, true, memory_order_relaxed);
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
        pthread_mutex_lock(&l->sock_mu);
        rc = qv__rconn_send(l->sock, &e);
        qv__zwait_used(&l->zw);
        l->unanswered += rc == 0;
        pthread_mutex_unlock(&l->sock_mu);
        if (rc)
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
    pthread_mutex_lock(&l->sock_mu);
    pthread_mutex_lock(&l->mu);
    qv__rhello_fini(&l->hello);
    l->hello = h;
    l->ctx = ctx;
    l->sock = sock;
    qv__zwait_init(&l->zw, sock); /* a DEALER has a ZMQ_FD */
    l->unanswered = 0;
    pthread_mutex_unlock(&l->sock_mu);
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
    uint64_t last_busy; /* the last turn they were */
    long defer_ms; /* the next look at a socket a waiting thread reads */
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
        l->restored(l->arg, true);
}

/* Takes the send queue (under mu): its requests move to the pending list
 * first, so that their replies find them, and their frames into *encs (nb
 * of them; freed by the caller). false when out of memory (the queue
 * stays for the next turn). */
static bool take_queue(qv__rlink *l, qv_wire_enc **encs, size_t *nb, bool *first)
{
    qv__rreq *batch = l->sq;
    size_t n = 0;
    for (qv__rreq *rq = batch; rq; rq = rq->next)
        n++;
    *nb = 0;
    *encs = NULL;
    if (!n)
        return true;
    qv_wire_enc *e = malloc(n * sizeof *e);
    if (!e)
        return false;
    if (first)
        *first = !l->pending;
    if (!l->pending)
        l->busy_since_ns = qv__now_ns();
    l->sq = l->sq_tail = NULL;
    size_t i = 0;
    for (qv__rreq *rq = batch, *next; rq; rq = next, i++) {
        next = rq->next;
        e[i] = rq->enc; /* the frames leave with the send */
        memset(&rq->enc, 0, sizeof rq->enc);
        rq->next = NULL;
        if (l->pending_tail)
            l->pending_tail->next = rq;
        else
            l->pending = rq;
        l->pending_tail = rq;
    }
    *encs = e;
    *nb = n;
    return true;
}

/* Sends the frames of nb requests (under sock_mu) and frees them. 0 or
 * -errno: the first error; what follows it is not sent. */
static int send_encs(qv__rlink *l, qv_wire_enc *encs, size_t nb)
{
    int rc = 0;
    for (size_t i = 0; i < nb; i++) {
        if (!rc) {
            rc = qv__rconn_send(l->sock, &encs[i]);
            l->unanswered += rc == 0;
        }
        qv__wire_enc_fini(&encs[i]);
    }
    if (nb)
        qv__zwait_used(&l->zw);
    free(encs);
    return rc;
}

/* Sends what is queued (I/O thread, under sock_mu). 0 or -errno. */
static int send_queued(qv__rlink *l, io_clock *c, uint64_t now)
{
    qv_wire_enc *encs;
    size_t nb;
    pthread_mutex_lock(&l->mu);
    take_queue(l, &encs, &nb, NULL);
    bool busy = l->pending != NULL;
    uint64_t since = l->busy_since_ns;
    pthread_mutex_unlock(&l->mu);
    if (busy && !c->outstanding) {
        /* The clock starts with the first request, which a posting thread
         * may have sent while this one slept. */
        c->last_heard = since && since < now ? since : now;
        c->next_hb = c->last_heard + l->hb_ms * MS;
    }
    c->outstanding = busy;
    if (busy)
        c->last_busy = now;
    return send_encs(l, encs, nb);
}

/* Handles every reply waiting (under sock_mu); *got: whether one was.
 * false when the link is bad (why says why). */
static bool drain(qv__rlink *l, bool *got, char *why, size_t whylen)
{
    for (*got = false;; *got = true) {
        zmq_msg_t parts[QV__RCONN_MAX_PARTS];
        size_t n;
        int rc = qv__rconn_recv(l->sock, parts, &n);
        if (rc == 1) {
            qv__zwait_drained(&l->zw);
            if (!*got)
                return true;
            pthread_mutex_lock(&l->mu);
            bool other = l->leading && !pthread_equal(l->leader, pthread_self());
            pthread_mutex_unlock(&l->mu);
            if (other) /* it may have missed the socket's wake: this one took it */
                write_one(l->leadfd);
            return true;
        }
        qv__zwait_used(&l->zw);
        if (rc < 0) {
            snprintf(why, whylen, "cannot receive: %s", zmq_strerror(-rc));
            return false;
        }
        if (l->unanswered)
            l->unanswered--;
        l->heard_ns = qv__now_ns();
        bool ok = on_reply(l, parts, n, why, whylen);
        qv__rconn_close_parts(parts, n);
        if (!ok)
            return false;
    }
}

/* Waits for replies (or a wake) until the next heartbeat or deadline, and
 * handles every reply waiting; called and returns under sock_mu, which it
 * drops while it sleeps. false when the link is bad (why says why). */
static bool receive(qv__rlink *l, io_clock *c, uint64_t now, char *why, size_t whylen)
{
    /* Idle for a moment, it still wakes every heartbeat: requests that
     * posting threads sent meanwhile get their heartbeats and their
     * deadline. Idle for longer, it sleeps, and the first request posted
     * wakes it (send_now). */
    long wait_ms = l->hb_ms;
    bool asleep = false, defer = false;
    if (c->outstanding) {
        uint64_t dead = c->last_heard + l->timeout_ms * MS;
        uint64_t until = c->next_hb < dead ? c->next_hb : dead;
        wait_ms = until > now ? (long)((until - now) / MS) + 1 : 0;
    }
    if (!qv__zwait_arm(&l->zw)) {
        struct pollfd wk = {l->wakefd, POLLIN, 0};
        pthread_mutex_lock(&l->mu);
        /* Busy counts the requests that posting threads sent too. */
        uint64_t busy = l->busy_since_ns > c->last_busy ? l->busy_since_ns : c->last_busy;
        if (!c->outstanding && now - busy > IDLE_MS * MS && now >= c->restored_until) {
            wait_ms = IDLE_SLEEP_MS;
            asleep = true;
        }
        /* A thread waiting for a reply reads the socket (lead): the reply
         * is left to it for a while. Both woken by it, this thread took
         * it first and passed it on, a second wake-up of the waiter on
         * the round trip (bench_remote: 20 us of 190, perf sched). Left
         * to the waiting threads too while one is about to lead, or led
         * lately: a thread leads once a run is sent, after this one went
         * to sleep, and a poll of the socket here woke this thread for
         * every reply, to find it taken (six system calls and a wake-up
         * of a run's 40 on the host). A thread that leads no more hands
         * the socket to the next waiting one (lead), and a quiesce, which
         * does not lead, has the socket polled here. Replies no one waits
         * for are read within DEFER_MAX_MS. */
        bool led = l->leading || l->waiters > 0 || l->led_ns + LED_RECENT_MS * MS > now;
        defer = led && !asleep && l->quiescing == 0;
        l->io_asleep = asleep;
        pthread_mutex_unlock(&l->mu);
        pthread_mutex_unlock(&l->sock_mu);
        int rc;
        if (defer) {
            long look_ms = wait_ms < c->defer_ms ? wait_ms : c->defer_ms;
            rc = poll(&wk, 1, (int)look_ms) < 0 ? -errno : 0;
        } else {
            rc = qv__zwait_poll(&l->zw, &wk, 1, wait_ms < 0 ? -1 : wait_ms * 1000);
        }
        pthread_mutex_lock(&l->sock_mu);
        if (asleep) {
            pthread_mutex_lock(&l->mu);
            l->io_asleep = false;
            pthread_mutex_unlock(&l->mu);
        }
        if (rc < 0 && rc != -EINTR) {
            snprintf(why, whylen, "poll: %s", strerror(-rc));
            return false;
        }
        if (wk.revents & POLLIN)
            drain_wake(l->wakefd);
    }
    bool got;
    bool ok = drain(l, &got, why, whylen);
    /* Later the next time while the waiting thread reads the replies. */
    long next = 2 * c->defer_ms < DEFER_MAX_MS ? 2 * c->defer_ms : DEFER_MAX_MS;
    c->defer_ms = got || !defer ? DEFER_MS : next;
    if (l->heard_ns > c->last_heard) /* here, or by a waiting thread */
        c->last_heard = l->heard_ns;
    return ok;
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
        pthread_mutex_lock(&l->sock_mu);
        qv__rconn_send(l->sock, &rq->enc);
        pthread_mutex_unlock(&l->sock_mu);
        pthread_mutex_lock(&l->mu);
        rq->next = l->pending;
        l->pending = rq;
        if (!l->pending_tail)
            l->pending_tail = rq;
        pthread_mutex_unlock(&l->mu);
    }
    int linger = 200;
    pthread_mutex_lock(&l->sock_mu);
    if (l->sock)
        zmq_setsockopt(l->sock, ZMQ_LINGER, &linger, sizeof linger);
    qv__rconn_teardown(&l->ctx, &l->sock);
    pthread_mutex_unlock(&l->sock_mu);
    pthread_mutex_lock(&l->mu);
    fail_all(l, "the device is closing");
    pthread_mutex_unlock(&l->mu);
}

static void *io_main(void *arg)
{
    qv__rlink *l = arg;
    qv__thread_name("link", -1);
    io_clock c = {
        .last_heard = qv__now_ns(), .backoff_ms = BACKOFF_MIN_MS, .defer_ms = DEFER_MS};
    char why[400];
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
        pthread_mutex_lock(&l->sock_mu);
        int rc = send_queued(l, &c, now);
        bool ok = !rc && receive(l, &c, now, why, sizeof why);
        pthread_mutex_unlock(&l->sock_mu);
        if (rc) {
            link_down(l, rc == -EAGAIN ? "the daemon closed the connection"
                                       : zmq_strerror(-rc));
            continue;
        }
        if (!ok) {
            link_down(l, why);
            continue;
        }
        tell_replied(l);
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
            /* A run no thread lands (the program waits for nothing of the
             * runtime) has its deadline kept by the driver, woken now. */
            atomic_store(&l->replied_due, true);
            tell_replied(l);
        }
        if (now < c.restored_until && now >= c.next_restored && l->restored) {
            /* A task that failed just before the reconnection may have
             * taken the device out of service after it came back. */
            c.next_restored = now + 250 * MS;
            l->restored(l->arg, false);
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
    l->replied = c->replied;
    l->arg = c->arg;
}

int qv__rlink_open(qv__rlink *l, const qv__rlink_conf *conf, char *err, size_t errlen)
{
    memset(l, 0, sizeof *l);
    atomic_init(&l->replied_due, false);
    conf_copy(l, conf);
    int rc = qv__rconn_dial(l, -1, &l->ctx, &l->sock, &l->hello, err, errlen);
    if (rc) {
        memset(l->client_sec, 0, sizeof l->client_sec);
        return rc;
    }
    l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    l->leadfd = l->wakefd < 0 ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->leadfd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        if (l->wakefd >= 0)
            close(l->wakefd);
        qv__rconn_teardown(&l->ctx, &l->sock);
        qv__rhello_fini(&l->hello);
        return QV_ENOMEM;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->sock_mu, NULL);
    qv__zwait_init(&l->zw, l->sock);
    l->unanswered = 0;
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
        close(l->leadfd);
        pthread_mutex_destroy(&l->mu);
        pthread_mutex_destroy(&l->sock_mu);
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
    close(l->leadfd);
    qv__rhello_fini(&l->hello);
    memset(l->client_sec, 0, sizeof l->client_sec);
    pthread_mutex_destroy(&l->mu);
    pthread_mutex_destroy(&l->sock_mu);
    pthread_cond_destroy(&l->cv);
}

/* Sends the queue from the posting thread when the I/O thread sleeps
 * (sock_mu free). The socket is left armed (zwait.h), so that the I/O
 * thread's poll wakes for the replies, or the I/O thread is woken. false
 * when the I/O thread has it (it sends the queue at its next turn). */
static bool send_now(qv__rlink *l)
{
    if (pthread_mutex_trylock(&l->sock_mu) != 0)
        return false;
    qv_wire_enc *encs = NULL;
    size_t nb = 0;
    bool first = false;
    pthread_mutex_lock(&l->mu);
    bool can = l->up && !l->reset && !l->stop && l->sock;
    if (can && !take_queue(l, &encs, &nb, &first))
        can = false;
    /* The first request after a long idle: the I/O thread sleeps long and
     * must watch the deadline of this one. */
    bool rouse = first && l->io_asleep;
    pthread_mutex_unlock(&l->mu);
    if (!can) {
        pthread_mutex_unlock(&l->sock_mu);
        return false;
    }
    /* Armed with no reply to come: the send took no command that brings
     * a message, and the socket stays armed, without the check of its
     * events (two system calls of a synchronous run's 14 on this thread,
     * bench_remote --rtt). Were a message to come unasked (quiverd
     * sends none), the next receive of any thread finds it: a waiting
     * thread's within its 50 ms turn, the I/O thread's within a
     * heartbeat while requests wait. */
    bool quiet = l->zw.armed && l->unanswered == 0;
    int rc = send_encs(l, encs, nb);
    if (quiet && rc == 0)
        l->zw.armed = true;
    bool tell = rc != 0 || qv__zwait_arm(&l->zw) || rouse;
    pthread_mutex_unlock(&l->sock_mu);
    if (rc) {
        /* The requests are pending: the reset fails them all. */
        qv__rlink_reset(l, rc == -EAGAIN ? "the daemon closed the connection"
                                         : zmq_strerror(-rc));
    } else if (tell) {
        wake(l); /* a reply is in already, or it sleeps long */
    }
    return true;
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
    /* Its buffer ids were read before a reconnection: the daemon now may
     * give the same numbers to other buffers (review finding). */
    if (rq->ids && rq->ids_gen != l->gen) {
        snprintf(rq->why, sizeof rq->why,
                 "remote board %s: the daemon was reconnected while the request "
                 "was made", l->name);
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
    if (!send_now(l) && was_empty)
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

/* A thread waiting for a reply reads the socket itself, when no other
 * does (under mu, dropped meanwhile): it wakes when the reply comes, not
 * when the I/O thread, woken by it, passes it on (a wake-up of a thread
 * costs as much as a loopback round trip on a virtual machine). The I/O
 * thread polls the socket as well, for heartbeats and deadlines, and reads
 * what it finds first. Polls at most until `until` (monotonic; NULL: no
 * limit), in slices of 50 ms. false when it could not lead. */
static bool lead(qv__rlink *l, const struct timespec *until)
{
    if (l->leading || !l->up || l->reset || l->stop)
        return false;
    long ms = 50;
    if (until) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t left = (int64_t)(until->tv_sec - now.tv_sec) * 1000 +
                       (until->tv_nsec - now.tv_nsec) / 1000000;
        if (left <= 0)
            return false; /* the caller's deadline: its timed wait decides */
        if (left < ms)
            ms = (long)left;
    }
    l->leading = true;
    l->leader = pthread_self();
    pthread_mutex_unlock(&l->mu);
    char bad[400];
    bool ok = true;
    pthread_mutex_lock(&l->sock_mu);
    bool have = l->sock != NULL; /* none while the I/O thread takes the link down */
    if (have && !qv__zwait_arm(&l->zw)) {
        /* The I/O thread may replace the socket: its descriptor as now.
         * And it may take the reply first: then it writes leadfd. */
        struct pollfd p[2] = {{l->zw.zfd, POLLIN, 0}, {l->leadfd, POLLIN, 0}};
        pthread_mutex_unlock(&l->sock_mu);
        if (poll(p, 2, (int)ms) > 0 && p[1].revents)
            drain_wake(l->leadfd);
        pthread_mutex_lock(&l->sock_mu);
    }
    bool got = false;
    if (l->sock)
        ok = drain(l, &got, bad, sizeof bad);
    pthread_mutex_unlock(&l->sock_mu);
    tell_replied(l); /* a reply this thread does not wait for, maybe */
    pthread_mutex_lock(&l->mu);
    l->leading = false;
    if (got)
        l->led_ns = qv__now_ns();
    /* Another waiting thread may have looked while this one led, and
     * sleeps: it leads now, as the I/O thread leaves the replies to the
     * waiting threads (receive). */
    if (l->waiters > 1)
        pthread_cond_broadcast(&l->cv);
    if (!have)
        return false; /* the caller waits for the link's broadcast */
    if (!ok && l->up) { /* the I/O thread takes the link down */
        l->reset = true;
        snprintf(l->down_why, sizeof l->down_why, "%s", bad);
        pthread_mutex_unlock(&l->mu);
        wake(l);
        pthread_mutex_lock(&l->mu);
    }
    return true;
}

int qv__rlink_wait(qv__rlink *l, qv__rreq *rq, int64_t timeout_ns, char *why,
                   size_t whylen)
{
    struct timespec until = qv__deadline_in(timeout_ns >= 0 ? timeout_ns : 0);
    bool late = false;
    pthread_mutex_lock(&l->mu);
    l->waiters++;
    while (!all_done(rq) || older_detached(l, rq->id)) {
        if (!late && lead(l, timeout_ns < 0 ? NULL : &until))
            continue;
        /* Looked at again: lead may have let mu go (a socket the I/O
         * thread was taking down), and that thread's broadcast, every
         * request failed, then woke no one: the wait below slept its
         * whole deadline, 30 s (adversarial testing). */
        if (all_done(rq) && !older_detached(l, rq->id))
            break;
        if (timeout_ns < 0 || late) {
            /* In slices: a reply that a thread leading no more drained
             * after this one last looked is seen within one, and this
             * thread leads in turn when no other does. */
            struct timespec slice = qv__deadline_in(100 * 1000000LL);
            pthread_cond_timedwait(&l->cv, &l->mu, &slice);
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
    l->waiters--;
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

void qv__rlink_quiesce(qv__rlink *l, const struct qv_devmem *mem, int64_t timeout_ns)
{
    bool told = false, late = false;
    struct timespec until = qv__deadline_in(timeout_ns);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        bool busy = false;
        const qv__rreq *lists[2] = {l->sq, l->pending};
        for (int i = 0; i < 2 && !busy; i++)
            for (const qv__rreq *rq = lists[i]; rq && !busy; rq = rq->next)
                busy = rq->type == QV_WIRE_WRITE && rq->mem == mem;
        if (!busy)
            break;
        if (!told) {
            /* The I/O thread may leave the socket to waiting threads
             * (receive): it reads it again while this one waits. */
            told = true;
            l->quiescing++;
            pthread_mutex_unlock(&l->mu);
            wake(l);
            pthread_mutex_lock(&l->mu);
            continue;
        }
        if (late) {
            pthread_cond_wait(&l->cv, &l->mu); /* for the reset's failures */
        } else if (pthread_cond_timedwait(&l->cv, &l->mu, &until) == ETIMEDOUT) {
            /* A daemon that answers heartbeats but never this write (a
             * reply it dropped) held the buffer's unregistration for
             * ever: a fault, as a read's late reply (review finding). */
            late = true;
            pthread_mutex_unlock(&l->mu);
            char why[200];
            snprintf(why, sizeof why, "a write got no reply within %lld ms",
                     (long long)(timeout_ns / 1000000));
            qv__rlink_reset(l, why);
            pthread_mutex_lock(&l->mu);
        }
    }
    if (told)
        l->quiescing--;
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
