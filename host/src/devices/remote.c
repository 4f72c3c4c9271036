/*
 * remote.c - a board on another host, served by quiverd over ZeroMQ
 * (docs/remote.md): a device of class remote that runs the catalog kernels
 * of the board the daemon serves, as the emulator (emu.c) runs those of a
 * local one.
 *
 * Every operation is a request on the board's link (remote_link.c): alloc
 * and free are ALLOC and FREE, write and read are WRITE and READ, launch is
 * a RUN of one task. Nothing waits for a reply it does not need: a copy to
 * the board (write) returns once queued, its bytes sent from the host
 * buffer without a copy; launch queues the RUN and returns its event, and
 * wait waits for the RUN's reply and for the replies of every copy queued
 * before it.
 *
 * A RUN brings the buffers it writes home in the same breath: in its reply
 * when the daemon can (QV_WIRE_CAP_OUTPUTS) and they are few and small
 * enough for one, else READs queued right behind it (the daemon orders
 * them after the run), copied into the host buffers only when the run and
 * all its READs succeeded. So when a
 * task on a remote board is done, the host memory of its outputs holds
 * what the board holds (the device copy is "mirrored"), and a read of a
 * mirrored copy into that memory costs nothing. That is what makes a daemon
 * that dies harmless: every copy the runtime believes valid on the board is
 * also in host memory, so the tasks that failed re-run elsewhere from it,
 * and once the daemon is back a device copy it no longer has is allocated
 * and written again from its mirror.
 *
 * Locking: the link's mu guards each device copy's id, generation and
 * mirror, and the board clock; the function table is only touched by the
 * device's driver thread (prepare, launch).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/board.h"
#include "config/policy.h"
#include "core/internal.h"
#include "core/part.h"
#include "core/thread.h"
#include "devices/device.h"
#include "devices/remote_link.h"
#include "discovery/discovery.h"

typedef struct rfunc {
    int state;         /* 0 not checked, 1 the daemon runs it, -1 it does not */
    const char *kernel; /* the catalog kernel state is about */
    char *func;        /* the name a RUN task gives */
    uint64_t instance; /* the daemon's instance that state is about */
} rfunc;

/* The intermediate buffers of a part shape on the daemon (part.c): made
 * at its first launch, used by every launch after it (the daemon orders
 * the runs that share them by their accesses). The device keeps those of
 * its TEMPS_KEPT shapes used last, most recent first, and gives the
 * others' memory back when the daemon refuses a new one's: a program
 * whose parts changed sizes held every old size's on the daemon, and
 * once it was full each new size's parts failed there and ran on the
 * host (adversarial testing). */
#define TEMPS_KEPT 8
typedef struct rtemps {
    struct rtemps *next;
    const struct qv__part *part;
    qv_devmem *mem[QV__PART_TMPS];
} rtemps;

typedef struct remote_device {
    qv_device base;
    const qv__board *board;  /* the remote board file */
    const qv__board *served; /* the board the daemon serves, or NULL */
    bool emulated;
    char name[300];
    qv__rlink link;
    bool open;
    double board_us; /* the served emulated board's clock (µs) */
    rfunc *fn;       /* by function id */
    size_t nfn;
    rtemps *temps;   /* driver thread */
    pthread_mutex_t settle_mu; /* one thread waits for a copy's ALLOC (settle) */
} remote_device;

struct qv_devmem {
    uint64_t id;        /* the daemon's buffer id; 0 while its ALLOC is
                         * unanswered, or when it failed */
    qv__rreq *alloc;    /* that ALLOC, posted and not waited for yet (settle;
                         * under settle_mu), or NULL */
    size_t n;           /* bytes */
    unsigned gen;       /* the link generation id belongs to */
    const void *mirror; /* host memory equal to this copy as of its last full
                         * write or successful run (a run that failed since
                         * may have changed the daemon's), or NULL */
};

/* Bytes of one WRITE or READ: a large buffer goes in pieces, each answered
 * on its own, so that the replies show the daemon alive while it moves
 * (a heartbeat waits behind the bytes queued before it), and no frame
 * nears the daemon's limit (qv_wire_limits.max_data). */
#define CHUNK ((size_t)4 << 20)

static int remote_probe(const void *b, unsigned *count)
{
    const qv__board *board = b;
    *count = board && board->kind == QV_CLASS_REMOTE ? 1 : 0;
    return 0;
}

static bool serves_board(const qv__rhello *h, const char *name);

/* The link's callback: the daemon answers again. */
static void restored(void *arg, bool reconnected)
{
    remote_device *r = arg;
    if (reconnected && r->served) {
        /* As at the open: a daemon started again on the endpoint may serve
         * another board (it went on without a word: adversarial testing). */
        char boards[sizeof r->link.hello.boards];
        pthread_mutex_lock(&r->link.mu);
        bool same = serves_board(&r->link.hello, r->served->name);
        snprintf(boards, sizeof boards, "%s", r->link.hello.boards);
        pthread_mutex_unlock(&r->link.mu);
        if (!same)
            qv__log(1,
                    "remote board %s: its board file says the daemon serves %s, but "
                    "the daemon that answers now serves %s; the runtime takes it for %s",
                    r->board->name, r->served->name, boards, r->served->name);
    }
    unsigned id = __atomic_load_n(&r->base.id, __ATOMIC_ACQUIRE);
    if (id) /* 0 while its runtime has not taken it in yet (devq.c) */
        qv__devq_restored(r->base.rt, id, reconnected);
}

/* The link's callback: a RUN or READ was answered, or requests failed. */
static void replied(void *arg)
{
    remote_device *r = arg;
    unsigned id = __atomic_load_n(&r->base.id, __ATOMIC_ACQUIRE);
    if (id)
        qv__devq_replied(r->base.rt, id);
}

static void conf_of(const qv__board *b, const qv__policy *pol, qv__rlink_conf *c)
{
    memset(c, 0, sizeof *c);
    c->name = b->name;
    c->endpoint = b->endpoint;
    c->server_key = b->server_key;
    c->client_pub = b->client_public_key[0] ? b->client_public_key : NULL;
    c->client_sec = b->client_secret_key[0] ? b->client_secret_key : NULL;
    c->heartbeat_ms = pol ? pol->remote_heartbeat_ms : 250;
    c->timeout_ms = pol ? pol->remote_timeout_ms : 1000;
}

/* Whether the daemon's hello names board `name` among those it serves. */
static bool serves_board(const qv__rhello *h, const char *name)
{
    for (size_t i = 0; i < h->nboard; i++)
        if (!strcmp(h->board[i], name))
            return true;
    return false;
}

static int remote_open(qv_device *d, unsigned idx, const void *b)
{
    remote_device *r = (remote_device *)d;
    const qv__board *board = b;
    if (idx != 0 || !board || board->kind != QV_CLASS_REMOTE || !board->endpoint)
        return QV_ENOENT;
    r->board = board;
    r->served = board->served;
    pthread_mutex_init(&r->settle_mu, NULL);
    r->emulated = r->served && r->served->emulation;
    snprintf(r->name, sizeof r->name, "%s at %s",
             r->served ? r->served->name : board->name, board->endpoint);
    qv__rlink_conf c;
    conf_of(board, d->rt ? d->rt->policy : NULL, &c);
    c.restored = restored;
    c.replied = replied;
    c.arg = r;
    char err[300];
    int rc = qv__rlink_open(&r->link, &c, err, sizeof err);
    if (rc)
        return qv__fail(rc == QV_ENOMEM ? rc : QV_ENODEV, "remote board %s: %s",
                        board->name, err);
    r->open = true;
    unsigned mode;
    if (board->client_key_file && qv__auth_key_exposed(board->client_key_file, &mode))
        qv__log(1, "remote board %s: %s, this host's secret key, is readable by its group "
                "or others (mode %04o): whoever reads it can pose as this host; chmod 600 "
                "it", board->name, board->client_key_file, mode);
    qv__log(2, "remote board %s: the daemon at %s serves %s (%zu kernels)%s", board->name,
            board->endpoint, r->link.hello.boards, r->link.hello.nkernels,
            board->server_key ? ", over CURVE" : "");
    /* Its models, the planner's figures and the catalog's builds are those
     * of the board the file names: said when the daemon serves another
     * (it ran without a word: a user's test). */
    if (r->served && !serves_board(&r->link.hello, r->served->name))
        qv__log(1, "remote board %s: its board file says the daemon serves %s, but it "
                "serves %s; the runtime takes it for %s", board->name, r->served->name,
                r->link.hello.boards, r->served->name);
    return 0;
}

static void temps_trim(remote_device *r, unsigned keep);

static void remote_close(qv_device *d)
{
    remote_device *r = (remote_device *)d;
    temps_trim(r, 0);
    if (r->open)
        qv__rlink_close(&r->link);
    r->open = false;
    for (size_t i = 0; i < r->nfn; i++)
        free(r->fn[i].func);
    free(r->fn);
    if (r->board)
        pthread_mutex_destroy(&r->settle_mu);
}

/* Fails with rq's reason (rq not posted: the caller's), freeing rq. */
static int fail_rq(qv__rreq *rq, int rc)
{
    int e = qv__fail(rc, "%s", rq->why);
    qv__rreq_free(rq);
    return e;
}

/* Whether rc means the board is faulty (devices/device.h); not a daemon
 * that refuses more work for now (QV_EBUSY: its --max-tasks, its bound on
 * queued writes): that request's task runs elsewhere, the board stays. */
static bool is_fault(int rc)
{
    return rc && rc != QV_ENOTSUP && rc != QV_ENOMEM && rc != QV_EFORMAT &&
           rc != QV_EMISMATCH && rc != QV_EBUSY;
}

/* How long a read or a load waits for its reply. The heartbeats keep a
 * link whose daemon answers them alive, so a request the daemon never
 * answers (a copy task of its that failed) would be waited for forever;
 * past this the link is reset, a fault: the work goes elsewhere, from the
 * host's copies (runs bring their outputs home). As the tasks' floor,
 * plus ten times n bytes at the board file's link bandwidth (1 GB/s when
 * it names none). */
static int64_t reply_limit_ns(const remote_device *r, size_t n)
{
    double gbs = r->board->bandwidth_gbs > 0 ? r->board->bandwidth_gbs : 1.0;
    return 30LL * 1000 * 1000 * 1000 + (int64_t)(10.0 * (double)n / gbs);
}

/* Waits for rq, then (all well) copies the bytes it brought home: a READ's
 * into its destination, a RUN's outputs into their host buffers (whose
 * device copies are then mirrored). Frees rq. */
static int finish(remote_device *r, qv__rreq *rq, int64_t timeout_ns)
{
    char why[300] = "";
    int rc = qv__rlink_wait(&r->link, rq, timeout_ns, why, sizeof why);
    if (!rc) {
        if (rq->type == QV_WIRE_READ && rq->n)
            memcpy(rq->dst, zmq_msg_data(&rq->data), rq->n);
        /* A RUN's outputs in its reply, one after the other, or each in
         * its READ's. */
        const char *outs = rq->type == QV_WIRE_RUN && rq->has_data
                               ? (const char *)zmq_msg_data(&rq->data)
                               : NULL;
        for (qv__rreq *k = rq->kids; k; k = k->sib) {
            if (k->n)
                memcpy(k->dst, outs ? outs : zmq_msg_data(&k->data), k->n);
            if (outs)
                outs += k->n;
        }
        pthread_mutex_lock(&r->link.mu);
        for (qv__rreq *k = rq->kids; k && rq->type == QV_WIRE_RUN; k = k->sib)
            if (k->off == 0 && k->gen == k->mem->gen) /* all its pieces came */
                k->mem->mirror = k->dst;
        if (rq->type == QV_WIRE_RUN)
            r->board_us += rq->time_us;
        pthread_mutex_unlock(&r->link.mu);
    } else if (is_fault(rc)) {
        /* Whatever it was, start again: the runtime takes the board out
         * of service now, and the reconnection brings it back. */
        qv__rlink_reset(&r->link, why);
    }
    qv__rreq_free(rq);
    return rc ? qv__fail(rc, "%s", why) : 0;
}

/* The copy m's ALLOC, posted by alloc_op, waited for: m's id and
 * generation then, or its error (m's id stays 0, and the next use of m
 * allocates it again, ensure_current). Any thread that uses m. */
static int settle(remote_device *r, qv_devmem *m)
{
    pthread_mutex_lock(&r->settle_mu);
    qv__rreq *rq = m->alloc;
    if (!rq) {
        pthread_mutex_unlock(&r->settle_mu);
        return 0;
    }
    char why[300] = "";
    int rc = qv__rlink_wait(&r->link, rq, reply_limit_ns(r, 0), why, sizeof why);
    pthread_mutex_lock(&r->link.mu);
    m->gen = rq->gen;
    if (!rc)
        m->id = rq->buf;
    /* Lost with a connection since replaced: not this one's fault (a
     * reset would drop the new one); m is allocated again at its next use
     * (ensure_current), as any copy of an older connection (review). */
    bool older = rc && rq->gen != r->link.gen;
    m->alloc = NULL;
    pthread_mutex_unlock(&r->link.mu);
    pthread_mutex_unlock(&r->settle_mu);
    if (older)
        rc = 0;
    else if (rc && is_fault(rc))
        qv__rlink_reset(&r->link, why);
    qv__rreq_free(rq);
    return rc ? qv__fail(rc, "%s", why) : 0;
}

/* Posts an ALLOC of m's bytes (*out: the request, to wait for). */
static int post_alloc(remote_device *r, const qv_devmem *m, qv__rreq **out)
{
    qv__rreq *rq = qv__rreq_new(QV_WIRE_ALLOC);
    if (!rq)
        return QV_ENOMEM;
    qv_wire_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = QV_WIRE_ALLOC;
    msg.u.alloc.size = m->n ? m->n : 1;
    msg.u.alloc.bank = QV_WIRE_ANY_BANK;
    int rc = qv__rlink_post(&r->link, rq, &msg);
    if (rc)
        return fail_rq(rq, rc);
    *out = rq;
    return 0;
}

/* ALLOCs n bytes on the daemon into m (its id and generation). */
static int alloc_on_daemon(remote_device *r, qv_devmem *m)
{
    qv__rreq *rq = NULL; /* set when post_alloc returns 0 (-O3 cannot see it) */
    int rc = post_alloc(r, m, &rq);
    if (rc)
        return rc;
    char why[300] = "";
    rc = qv__rlink_wait(&r->link, rq, reply_limit_ns(r, 0), why, sizeof why);
    if (!rc) {
        pthread_mutex_lock(&r->link.mu);
        m->id = rq->buf;
        m->gen = rq->gen;
        pthread_mutex_unlock(&r->link.mu);
    } else if (is_fault(rc)) {
        qv__rlink_reset(&r->link, why);
    }
    qv__rreq_free(rq);
    return rc ? qv__fail(rc, "%s", why) : 0;
}

/* Queues a WRITE of n bytes of src at off into m; detached when ev is
 * NULL (then wait reports a failure as a fault at the next wait). */
static int post_write(remote_device *r, qv_devmem *m, size_t off, const void *src,
                      size_t n, qv__rreq **ev)
{
    pthread_mutex_lock(&r->link.mu);
    uint64_t id = m->id;
    unsigned gen = m->gen;
    pthread_mutex_unlock(&r->link.mu);
    for (size_t done = 0;; done += CHUNK) {
        size_t len = n - done < CHUNK ? n - done : CHUNK;
        bool last = done + len >= n;
        qv__rreq *rq = qv__rreq_new(QV_WIRE_WRITE);
        if (!rq)
            return QV_ENOMEM;
        rq->mem = m;
        rq->ids = true;
        rq->ids_gen = gen;
        rq->detached = !(ev && last); /* the wait waits for the pieces before */
        qv_wire_msg msg;
        memset(&msg, 0, sizeof msg);
        msg.type = QV_WIRE_WRITE;
        msg.u.write.buf = id;
        msg.u.write.offset = off + done;
        msg.data.data = (const char *)src + done;
        msg.data.size = len;
        int rc = qv__rlink_post(&r->link, rq, &msg);
        if (rc)
            return fail_rq(rq, rc);
        if (ev && last)
            *ev = rq;
        if (last)
            break;
    }
    pthread_mutex_lock(&r->link.mu);
    m->mirror = off == 0 && n == m->n ? src : NULL;
    pthread_mutex_unlock(&r->link.mu);
    return 0;
}

/* Queues READs of [off, off + n) of m (remote buffer id) into dst, CHUNK
 * bytes each, appending them to the list whose end is *tail (through sib).
 * 0, or an error: what was queued is on the list; a READ that could not be
 * queued is there too, done with its error, so that a wait reports it. */
static int post_reads(remote_device *r, qv_devmem *m, uint64_t id, unsigned gen, size_t off,
                      size_t n, void *dst, qv__rreq ***tail)
{
    for (size_t done = 0; done < n; done += CHUNK) {
        size_t len = n - done < CHUNK ? n - done : CHUNK;
        qv__rreq *k = qv__rreq_new(QV_WIRE_READ);
        if (!k)
            return QV_ENOMEM;
        k->dst = (char *)dst + done;
        k->n = len;
        k->off = off + done;
        k->mem = m;
        k->ids = true;
        k->ids_gen = gen;
        qv_wire_msg msg;
        memset(&msg, 0, sizeof msg);
        msg.type = QV_WIRE_READ;
        msg.u.read.buf = id;
        msg.u.read.offset = off + done;
        msg.u.read.length = len;
        **tail = k;
        *tail = &k->sib;
        int rc = qv__rlink_post(&r->link, k, &msg);
        if (rc) {
            k->done = true; /* never sent: no reply to wait for */
            k->err = rc;
            return rc;
        }
    }
    return 0;
}

/* Makes m a copy the current daemon has: one allocated before the link
 * went down is allocated again and, when host memory mirrors it, written
 * again from there. keep: its bytes are needed (read by a run, or only
 * partly overwritten); else they are about to be overwritten whole, and a
 * copy whose bytes went with the daemon is allocated again as it is.
 * Driver thread (only it re-allocates). */
static int ensure_current(remote_device *r, qv_devmem *m, bool keep)
{
    int rc = settle(r, m);
    if (rc)
        return rc;
    pthread_mutex_lock(&r->link.mu);
    bool stale = m->gen != r->link.gen || !m->id;
    const void *mirror = m->mirror;
    pthread_mutex_unlock(&r->link.mu);
    if (!stale)
        return 0;
    if ((rc = alloc_on_daemon(r, m)) != 0)
        return rc;
    if (!mirror && !keep) {
        /* An output whose last run was lost with the daemon: its bytes
         * never counted (the runtime holds the buffer's valid copy
         * elsewhere), and they are written next. */
        qv__log(3, "remote board %s: a copy of %zu bytes allocated again, to be "
                "overwritten", r->board->name, m->n);
        return 0;
    }
    if (!mirror) {
        /* Its bytes were only on the daemon that went away: said, not
         * hidden (the runtime believed this copy valid). */
        return qv__fail(QV_EIO,
                        "remote board %s: a device copy of %zu bytes was lost "
                        "with the daemon",
                        r->board->name, m->n);
    }
    qv__log(3, "remote board %s: a copy of %zu bytes written again from the host",
            r->board->name, m->n);
    return post_write(r, m, 0, mirror, m->n, NULL);
}

static int alloc_op(qv_device *d, size_t n, unsigned bank, qv_devmem **out)
{
    (void)bank;
    remote_device *r = (remote_device *)d;
    int inj = qv__fault_hit("remote", QV_FAULT_ALLOC);
    if (inj)
        return qv__fail(inj, "injected allocation failure");
    qv_devmem *m = calloc(1, sizeof *m);
    if (!m)
        return QV_ENOMEM;
    m->n = n;
    /* Posted, not waited for: the first use of m waits (settle), so that
     * the ALLOCs of a task's fresh buffers share one round trip (a frame
     * of the signal chain on fresh buffers waited for three in a row). */
    int rc = post_alloc(r, m, &m->alloc);
    if (rc) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static void remote_free(qv_device *d, qv_devmem *m)
{
    remote_device *r = (remote_device *)d;
    if (!m)
        return;
    /* Its id first (a FREE names it), if its ALLOC is still unanswered. */
    (void)settle(r, m);
    /* The host may free the buffer once this returns: no WRITE may still
     * be sending from it. */
    qv__rlink_quiesce(&r->link, m, reply_limit_ns(r, m->n));
    pthread_mutex_lock(&r->link.mu);
    bool current = m->gen == r->link.gen && r->link.up && m->id;
    unsigned gen = m->gen;
    pthread_mutex_unlock(&r->link.mu);
    qv__rreq *rq = current ? qv__rreq_new(QV_WIRE_FREE) : NULL;
    if (rq) {
        rq->detached = true;
        rq->ids = true;
        rq->ids_gen = gen;
        qv_wire_msg msg;
        memset(&msg, 0, sizeof msg);
        msg.type = QV_WIRE_FREE;
        msg.u.free.buf = m->id;
        if (qv__rlink_post(&r->link, rq, &msg) != 0)
            qv__rreq_free(rq); /* down: the daemon's copy went with it */
    }
    free(m);
}

static int write_op(qv_device *d, qv_devmem *dst, size_t off, const void *src, size_t n,
                    qv_event **ev)
{
    remote_device *r = (remote_device *)d;
    if (ev)
        *ev = NULL;
    int inj = qv__fault_hit("remote", QV_FAULT_WRITE);
    if (inj)
        return qv__fail(inj, "injected write failure");
    if (off > dst->n || n > dst->n - off)
        return qv__fail(QV_EINVAL, "%s: write of %zu bytes at %zu past a %zu-byte buffer",
                        r->name, n, off, dst->n);
    if (!n)
        return 0;
    int rc = ensure_current(r, dst, off != 0 || n != dst->n);
    if (rc)
        return rc;
    return post_write(r, dst, off, src, n, (qv__rreq **)ev);
}

static int read_op(qv_device *d, void *dst, qv_devmem *src, size_t off, size_t n,
                   qv_event **ev)
{
    remote_device *r = (remote_device *)d;
    if (ev)
        *ev = NULL;
    int inj = qv__fault_hit("remote", QV_FAULT_READ);
    if (inj)
        return qv__fail(inj, "injected read failure");
    if (off > src->n || n > src->n - off)
        return qv__fail(QV_EINVAL, "%s: read of %zu bytes at %zu past a %zu-byte buffer",
                        r->name, n, off, src->n);
    int rc = settle(r, src);
    if (rc)
        return rc;
    pthread_mutex_lock(&r->link.mu);
    bool mirrored = off == 0 && n == src->n && src->mirror == dst;
    bool stale = src->gen != r->link.gen;
    uint64_t id = src->id;
    unsigned gen = src->gen;
    pthread_mutex_unlock(&r->link.mu);
    if (mirrored || !n)
        return 0; /* dst holds these bytes already (the file's top) */
    if (stale)
        return qv__fail(QV_EIO,
                        "remote board %s: a device copy of %zu bytes was lost "
                        "with the daemon",
                        r->board->name, src->n);
    int64_t limit = reply_limit_ns(r, n);
    uint64_t t0 = qv__now_ns();
    for (unsigned pause_us = 100;; pause_us = pause_us < 51200 ? pause_us * 2 : pause_us) {
        qv__rreq *rq = NULL, **tail = &rq;
        rc = post_reads(r, src, id, gen, off, n, dst, &tail);
        if (!rq)
            return qv__fail(rc, "remote board %s: cannot queue a read", r->board->name);
        rq->kids = rq->sib; /* the first piece waits for the others */
        rq->sib = NULL;
        if (rc) {
            finish(r, rq, -1);
            return qv__fail(rc, "remote board %s: cannot queue a read", r->board->name);
        }
        if (ev) {
            *ev = (qv_event *)rq;
            return 0;
        }
        rc = finish(r, rq, limit);
        /* A daemon at its --max-tasks refused it for now: the bytes are
         * only there, and a copy home waits for room as for a reply (the
         * host's acquire returned QV_EBUSY, which means "held" there). */
        if (rc != QV_EBUSY || qv__now_ns() - t0 >= (uint64_t)limit)
            return rc;
        usleep(pause_us);
    }
}

bool qv__remote_serves(qv_device *d, const char *kernel)
{
    remote_device *r = (remote_device *)d;
    bool found = false;
    pthread_mutex_lock(&r->link.mu);
    const qv__rhello *h = &r->link.hello;
    for (size_t i = 0; i < h->nkernels && !found; i++)
        found = !strcmp(h->kernel[i], kernel);
    pthread_mutex_unlock(&r->link.mu);
    return found;
}

/* What the daemon calls f, when it runs f's kernel. Driver thread. */
static int func_of(remote_device *r, const qv_func *f, rfunc **out)
{
    const char *kn = f->fpga_kernel;
    if (!kn)
        return qv__fail(QV_ENOTSUP, "'%s' has no FPGA implementation", f->name);
    void *grown = qv__dev_table_grow(r->fn, &r->nfn, f->id, sizeof *r->fn);
    if (!grown)
        return QV_ENOMEM;
    r->fn = grown;
    rfunc *rf = &r->fn[f->id];
    /* A daemon started again may serve other kernels: asked again. */
    pthread_mutex_lock(&r->link.mu);
    uint64_t instance = r->link.hello.instance;
    pthread_mutex_unlock(&r->link.mu);
    if (rf->state && (rf->instance != instance || rf->kernel != kn)) {
        free(rf->func);
        rf->func = NULL;
        rf->state = 0;
    }
    rf->instance = instance;
    rf->kernel = kn;
    if (rf->state < 0)
        return qv__fail(QV_ENOTSUP,
                        "the daemon of remote board %s does not run kernel '%s'",
                        r->board->name, kn);
    if (rf->state > 0) {
        *out = rf;
        return 0;
    }
    pthread_mutex_lock(&r->link.mu);
    const qv__rhello *h = &r->link.hello;
    for (size_t i = 0; i < h->nkernels && !rf->func; i++)
        if (!strcmp(h->kernel[i], kn) && !(rf->func = strdup(h->func[i]))) {
            pthread_mutex_unlock(&r->link.mu);
            return QV_ENOMEM;
        }
    bool load = h->caps & QV_WIRE_CAP_LOAD;
    char boards[sizeof h->boards];
    snprintf(boards, sizeof boards, "%s", h->boards);
    pthread_mutex_unlock(&r->link.mu);
    if (!rf->func) {
        rf->state = -1;
        return qv__fail(QV_ENOTSUP,
                        "the daemon of remote board %s serves no kernel '%s' "
                        "(its boards: %s)",
                        r->board->name, kn, boards);
    }
    if (load) {
        /* The one-time load stays out of the first run's time. */
        qv__rreq *rq = qv__rreq_new(QV_WIRE_LOAD);
        if (!rq)
            return QV_ENOMEM;
        qv_wire_msg msg;
        memset(&msg, 0, sizeof msg);
        msg.type = QV_WIRE_LOAD;
        msg.u.load.kernel = kn;
        int rc = qv__rlink_post(&r->link, rq, &msg);
        if (rc)
            return fail_rq(rq, rc);
        if ((rc = finish(r, rq, reply_limit_ns(r, 0))) != 0) {
            if (rc == QV_ENOTSUP)
                rf->state = -1;
            return rc;
        }
    }
    rf->state = 1;
    *out = rf;
    return 0;
}

static int prepare_op(qv_device *d, const qv_func *f)
{
    rfunc *rf;
    if (f->part) { /* a part: each of its calls' kernels */
        int rc = 0;
        for (unsigned j = 0; j < f->part->s.n && !rc; j++)
            rc = func_of((remote_device *)d, f->part->s.memb[j], &rf);
        return rc;
    }
    return func_of((remote_device *)d, f, &rf);
}

/* Gives back the daemon's buffers of the shapes after the first `keep`
 * (a FREE each: the daemon frees one that a run in flight still uses
 * after that run). Driver thread. */
static void temps_trim(remote_device *r, unsigned keep)
{
    rtemps **pp = &r->temps;
    for (unsigned i = 0; *pp && i < keep; i++)
        pp = &(*pp)->next;
    while (*pp) {
        rtemps *t = *pp;
        *pp = t->next;
        for (unsigned k = 0; k < QV__PART_TMPS; k++)
            if (t->mem[k])
                remote_free(&r->base, t->mem[k]);
        free(t);
    }
}

/* The daemon's buffers for part pt's intermediates, allocated once (and
 * again after a reconnection: their bytes matter only within a run).
 * Driver thread. */
static int temps_of(remote_device *r, const struct qv__part *pt, rtemps **out)
{
    rtemps **pp = &r->temps, *t;
    while (*pp && (*pp)->part != pt)
        pp = &(*pp)->next;
    if ((t = *pp) != NULL) {
        *pp = t->next;
    } else {
        if (!(t = calloc(1, sizeof *t)))
            return QV_ENOMEM;
        t->part = pt;
    }
    t->next = r->temps; /* the most recent first */
    r->temps = t;
    temps_trim(r, TEMPS_KEPT);
    for (unsigned k = 0; k < pt->s.ntmp; k++) {
        qv_devmem *m = t->mem[k];
        if (!m) {
            if (!(m = calloc(1, sizeof *m)))
                return QV_ENOMEM;
            m->n = pt->s.tmp_size[k];
            m->gen = r->link.gen - 1; /* not on the daemon yet */
            t->mem[k] = m;
        }
        pthread_mutex_lock(&r->link.mu);
        bool stale = m->gen != r->link.gen;
        pthread_mutex_unlock(&r->link.mu);
        int rc = stale ? alloc_on_daemon(r, m) : 0;
        if (rc == QV_ENOMEM && t->next) { /* the older shapes' room, then again */
            temps_trim(r, 1);
            rc = alloc_on_daemon(r, m);
        }
        if (rc)
            return rc;
    }
    *out = t;
    return 0;
}

/* m's remote id into *id, under the link's lock. false when m is of
 * another link generation than the *ngen ids read before it (*gen): a
 * reconnection between them left the older ids naming what the new daemon
 * numbers so, another buffer perhaps (review finding). */
static bool id_of(remote_device *r, const qv_devmem *m, uint64_t *id, unsigned *gen,
                  unsigned *ngen)
{
    pthread_mutex_lock(&r->link.mu);
    *id = m->id;
    bool same = !*ngen || m->gen == *gen;
    *gen = m->gen;
    ++*ngen;
    pthread_mutex_unlock(&r->link.mu);
    return same;
}

/* The RUN tasks of part pt, whose task's arguments are wa: each call's
 * arguments taken from wa or from the part's intermediates on the daemon,
 * written into pa. The ids are of generation *gen, of which *ngen were
 * read before (launch_op). Driver thread. */
static int part_tasks(remote_device *r, const struct qv__part *pt, const qv_wire_arg *wa,
                      qv_wire_task *task, qv_wire_arg pa[][QV_MAX_ARGS], unsigned *gen,
                      unsigned *ngen)
{
    const qv__part_shape *s = &pt->s;
    rtemps *tmp;
    int rc = temps_of(r, pt, &tmp);
    if (rc)
        return rc;
    for (unsigned j = 0; j < s->n; j++) {
        const qv_func *m = s->memb[j];
        rfunc *rf;
        if ((rc = func_of(r, m, &rf)) != 0)
            return rc;
        for (unsigned i = 0; i < m->nargs; i++) {
            unsigned x = s->idx[j][i];
            if (s->role[j][i] == QV__PART_ARG) {
                pa[j][i] = wa[x];
                if (m->args[i].is_buf)
                    pa[j][i].mode = (uint8_t)m->args[i].mode;
                continue;
            }
            pa[j][i] = (qv_wire_arg){0};
            pa[j][i].kind = QV_WIRE_ARG_BUF;
            pa[j][i].mode = (uint8_t)m->args[i].mode;
            if (!id_of(r, tmp->mem[x], &pa[j][i].buf, gen, ngen))
                return qv__fail(QV_EIO, "remote board %s: the daemon was reconnected "
                                "while a part was launched", r->board->name);
        }
        task[j] = (qv_wire_task){rf->func, (uint8_t)m->nargs, pa[j]};
    }
    return 0;
}

/* When the daemon can (QV_WIRE_CAP_OUTPUTS) and the buffers launch l
 * writes (wa: its arguments) are at most QV_WIRE_MAX_OUTPUTS and CHUNK
 * bytes in all, run asks for them in its reply: their ids into outs,
 * run->nouts, and one done kid each saying where its bytes go. A run
 * whose outputs are READs after it takes two more thread hand-offs on the
 * daemon (a copy task, the waiter) and one more reply here. 0, or
 * QV_ENOMEM. */
static int outputs_in_reply(remote_device *r, const qv_launch *l, const qv_wire_arg *wa,
                            qv__rreq *run, uint64_t *outs)
{
    pthread_mutex_lock(&r->link.mu);
    bool can = (r->link.hello.caps & QV_WIRE_CAP_OUTPUTS) != 0;
    pthread_mutex_unlock(&r->link.mu);
    const qv_call *c = l->call;
    unsigned no = 0;
    size_t bytes = 0;
    for (unsigned i = 0; i < c->nargs && can; i++) {
        if (wa[i].kind != QV_WIRE_ARG_BUF || !(wa[i].mode & QV_W))
            continue;
        bool seen = false; /* one buffer passed twice */
        for (unsigned k = 0; k < no; k++)
            seen |= outs[k] == wa[i].buf;
        if (seen)
            continue;
        if (no == QV_WIRE_MAX_OUTPUTS || l->mem[i]->n > CHUNK - bytes)
            can = false;
        else
            outs[no++] = wa[i].buf;
        bytes += l->mem[i]->n;
    }
    if (!can || !no)
        return 0;
    qv__rreq **tail = &run->kids;
    for (unsigned i = 0, o = 0; o < no; i++) {
        if (wa[i].kind != QV_WIRE_ARG_BUF || !(wa[i].mode & QV_W) || wa[i].buf != outs[o])
            continue;
        qv__rreq *k = qv__rreq_new(QV_WIRE_READ);
        if (!k) {
            qv__rreq_free(run->kids);
            run->kids = NULL;
            return QV_ENOMEM;
        }
        k->dst = c->ptr[i];
        k->n = l->mem[i]->n;
        k->mem = l->mem[i];
        k->buf = outs[o++];
        k->done = true; /* never sent: the run's reply brings it */
        *tail = k;
        tail = &k->sib;
    }
    run->nouts = (uint16_t)no;
    return 0;
}

static int launch_op(qv_device *d, const qv_launch *l, qv_event **ev)
{
    remote_device *r = (remote_device *)d;
    rfunc *rf0 = NULL;
    if (ev)
        *ev = NULL;
    int inj = qv__fault_hit("remote", QV_FAULT_LAUNCH);
    if (inj)
        return qv__fail(inj, "injected launch failure");
    const qv_call *c = l->call;
    qv_wire_arg wa[QV_MAX_ARGS];
    memset(wa, 0, sizeof wa);
    unsigned gen = 0, ngen = 0; /* the generation of the ids in wa, and how many */
    int rc;
    if (l->func->part) /* its calls in one RUN, their arguments from these */
        rc = 0;
    else if ((rc = func_of(r, l->func, &rf0)) != 0)
        return rc;
    for (unsigned i = 0; i < c->nargs; i++) {
        const qv_arg_desc *a = &l->func->args[i];
        if (!a->is_buf) {
            if (!c->size[i] || c->size[i] > QV_WIRE_MAX_SCALAR)
                return qv__fail(QV_ENOTSUP,
                                "'%s': a scalar of %zu bytes does not go over "
                                "the wire (1 to %d)",
                                l->func->name, c->size[i], QV_WIRE_MAX_SCALAR);
            wa[i].kind = QV_WIRE_ARG_VAL;
            wa[i].size = (uint16_t)c->size[i];
            wa[i].val = c->ptr[i];
            continue;
        }
        qv_devmem *m = l->mem[i];
        if (!m)
            return qv__fail(QV_ENOTSUP,
                            "'%s': argument %u is an empty buffer, which a "
                            "remote board has no copy of",
                            l->func->name, i);
        if ((rc = ensure_current(r, m, (a->mode & QV_R) != 0)) != 0)
            return rc;
        wa[i].kind = QV_WIRE_ARG_BUF;
        wa[i].mode = (uint8_t)a->mode;
        if (!id_of(r, m, &wa[i].buf, &gen, &ngen))
            return qv__fail(QV_EIO, "remote board %s: the daemon was reconnected while "
                            "'%s' was launched", r->board->name, l->func->name);
    }
    qv_wire_task task[QV__PART_MAX];
    qv_wire_arg pa[QV__PART_MAX][QV_MAX_ARGS];
    unsigned ntasks = 1;
    if (l->func->part) {
        if ((rc = part_tasks(r, l->func->part, wa, task, pa, &gen, &ngen)) != 0)
            return rc;
        ntasks = l->func->part->s.n;
    } else {
        task[0] = (qv_wire_task){rf0->func, (uint8_t)c->nargs, wa};
    }
    qv__rreq *run = qv__rreq_new(QV_WIRE_RUN);
    if (!run)
        return QV_ENOMEM;
    run->ids = ngen > 0;
    run->ids_gen = gen;
    qv_wire_msg msg;
    memset(&msg, 0, sizeof msg);
    msg.type = QV_WIRE_RUN;
    msg.u.run.ntasks = ntasks;
    msg.u.run.tasks = task;
    uint64_t outs[QV_WIRE_MAX_OUTPUTS];
    if ((rc = outputs_in_reply(r, l, wa, run, outs)) != 0)
        return fail_rq(run, rc);
    msg.u.run.nouts = run->nouts;
    msg.u.run.outs = outs;
    if ((rc = qv__rlink_post(&r->link, run, &msg)) != 0)
        return fail_rq(run, rc);
    pthread_mutex_lock(&r->link.mu);
    for (qv__rreq *k = run->kids; k; k = k->sib)
        k->gen = run->gen;
    pthread_mutex_unlock(&r->link.mu);
    /* Its outputs come home right behind it, unless in its reply. */
    qv__rreq **tail = &run->kids;
    for (unsigned i = 0; i < c->nargs && !rc && !run->nouts; i++)
        if (wa[i].kind && (wa[i].mode & QV_W))
            rc = post_reads(r, l->mem[i], wa[i].buf, gen, 0, l->mem[i]->n, c->ptr[i], &tail);
    if (rc) {
        /* The run is out; wait for it so that the link lets go of it. */
        finish(r, run, -1);
        return qv__fail(rc == QV_ENOMEM ? rc : QV_EIO,
                        "remote board %s: cannot queue the "
                        "copies home of '%s'",
                        r->board->name, l->func->name);
    }
    if (ev) {
        *ev = (qv_event *)run;
        return 0;
    }
    return finish(r, run, -1);
}

static int wait_op(qv_device *d, qv_event *ev, int64_t timeout_ns)
{
    remote_device *r = (remote_device *)d;
    int inj = qv__fault_hit("remote", QV_FAULT_WAIT);
    if (inj)
        timeout_ns = 0; /* as if the run outlived its deadline */
    if (!ev)
        return 0;
    return finish(r, (qv__rreq *)ev, timeout_ns);
}

static int remote_query(qv_device *d, int what, void *out, size_t size)
{
    remote_device *r = (remote_device *)d;
    if (what == QV_QUERY_BOARD_US) {
        /* Only an emulated board's clock is a model worth learning. */
        if (!r->emulated)
            return QV_ENOTSUP;
        if (size < sizeof(double))
            return QV_EINVAL;
        pthread_mutex_lock(&r->link.mu);
        *(double *)out = r->board_us;
        pthread_mutex_unlock(&r->link.mu);
        return 0;
    }
    if (what == QV_QUERY_RUN_CALLS) {
        /* The daemon's word, once it said it: a part of more calls is
         * refused there at every entry (quiverd --max-tasks). */
        if (size < sizeof(unsigned))
            return QV_EINVAL;
        pthread_mutex_lock(&r->link.mu);
        bool known = r->open && r->link.up;
        *(unsigned *)out = r->link.hello.max_calls;
        pthread_mutex_unlock(&r->link.mu);
        return known ? 0 : QV_ENOTSUP;
    }
    uint64_t mem = r->served ? r->served->memory : r->board->memory;
    if (!mem && r->open) {
        pthread_mutex_lock(&r->link.mu);
        mem = r->link.hello.memory;
        pthread_mutex_unlock(&r->link.mu);
    }
    return qv__dev_query_basic(what, out, size, 1, r->name, mem);
}

/* Every fault the device reports takes it out of service (devq.c), so
 * every fault drops the connection too: the reconnection is what brings
 * the device back (restored), whatever the fault was. */
static int faulted(qv_device *d, int rc)
{
    if (is_fault(rc))
        qv__rlink_reset(&((remote_device *)d)->link, qv_last_error());
    return rc;
}

static int remote_alloc(qv_device *d, size_t n, unsigned bank, qv_devmem **out)
{
    return faulted(d, alloc_op(d, n, bank, out));
}

static int remote_settle(qv_device *d, qv_devmem *m)
{
    return settle((remote_device *)d, m); /* a fault resets the link there */
}

static int remote_write(qv_device *d, qv_devmem *dst, size_t off, const void *src,
                        size_t n, qv_event **ev)
{
    return faulted(d, write_op(d, dst, off, src, n, ev));
}

static int remote_read(qv_device *d, void *dst, qv_devmem *src, size_t off, size_t n,
                       qv_event **ev)
{
    return faulted(d, read_op(d, dst, src, off, n, ev));
}

static int remote_prepare(qv_device *d, const qv_func *f)
{
    return faulted(d, prepare_op(d, f));
}

static int remote_launch(qv_device *d, const qv_launch *l, qv_event **ev)
{
    return faulted(d, launch_op(d, l, ev));
}

static int remote_wait(qv_device *d, qv_event *ev, int64_t timeout_ns)
{
    return faulted(d, wait_op(d, ev, timeout_ns));
}

int qv__remote_probe(const void *board, unsigned timeout_ms, char *info, size_t infolen)
{
    const qv__board *b = board;
    if (!b || b->kind != QV_CLASS_REMOTE || !b->endpoint) {
        snprintf(info, infolen, "not a remote board");
        return QV_EINVAL;
    }
    qv__rlink_conf c;
    conf_of(b, NULL, &c);
    c.timeout_ms = timeout_ms;
    qv__rhello h;
    int rc = qv__rlink_probe(&c, &h, info, infolen);
    if (rc)
        return rc;
    int n = snprintf(info, infolen, "reachable: serves %s (%zu kernels)%s", h.boards,
                     h.nkernels, h.caps & QV_WIRE_CAP_CURVE ? ", CURVE" : "");
    if (b->served && !serves_board(&h, b->served->name) && n >= 0 && (size_t)n < infolen)
        snprintf(info + n, infolen - (size_t)n, "; NOT %s, which its board file names",
                 b->served->name);
    qv__rhello_fini(&h);
    return 0;
}

int qv__remote_probe_entry(struct qv_pool *pool, size_t index, unsigned timeout_ms, char *info,
                           size_t infolen)
{
    qv__found f;
    if (qv__pool_entry(pool, index, &f) != 0 || strcmp(f.r.backend, "remote") ||
        strncmp(f.key, "board:", 6))
        return -1;
    qv__board *b;
    qv_diag d;
    if (qv__board_load(f.key + 6, &b, &d) != 0) {
        snprintf(info, infolen, "unreachable: its board file no longer loads: %.300s",
                 d.message);
        return 0;
    }
    char why[300];
    int rc = qv__remote_probe(b, timeout_ms, why, sizeof why);
    qv__board_free(b);
    snprintf(info, infolen, "%s%s", rc ? "unreachable: " : "", why);
    return rc == 0;
}

static bool remote_mirrored(qv_device *d, const qv_devmem *m, const void *host)
{
    remote_device *r = (remote_device *)d;
    pthread_mutex_lock(&r->link.mu);
    bool yes = m->mirror == host;
    pthread_mutex_unlock(&r->link.mu);
    return yes;
}

static bool remote_ready(qv_device *d, const qv_func *f, const qv_devmem *m)
{
    remote_device *r = (remote_device *)d;
    pthread_mutex_lock(&r->link.mu);
    uint64_t instance = r->link.hello.instance;
    bool ok = !m || (m->id && m->gen == r->link.gen);
    pthread_mutex_unlock(&r->link.mu);
    if (!ok || m)
        return ok;
    /* r->fn is the driving thread's, which the caller is (func_of). */
    unsigned n = f->part ? f->part->s.n : 1;
    for (unsigned j = 0; j < n; j++) {
        const qv_func *g = f->part ? f->part->s.memb[j] : f;
        const rfunc *rf = g->id < r->nfn ? &r->fn[g->id] : NULL;
        if (!rf || rf->state <= 0 || rf->instance != instance || rf->kernel != g->fpga_kernel)
            return false;
    }
    return true;
}

const struct qv_device_ops qv__remote_ops = {
    .name = "remote",
    .cls = QV_CLASS_REMOTE,
    .dev_size = sizeof(remote_device),
    .probe = remote_probe,
    .open = remote_open,
    .close = remote_close,
    .alloc = remote_alloc,
    .settle = remote_settle,
    .free = remote_free,
    .write = remote_write,
    .read = remote_read,
    .launch = remote_launch,
    .wait = remote_wait,
    .query = remote_query,
    .prepare = remote_prepare,
    .mirrored = remote_mirrored,
    .ready = remote_ready,
};

typedef struct probe_job {
    struct qv_pool *pool;
    size_t index;
    unsigned ms;
    int up;
    char *info;
    size_t infolen;
} probe_job;

static void *probe_main(void *arg)
{
    probe_job *j = arg;
    j->up = qv__remote_probe_entry(j->pool, j->index, j->ms, j->info, j->infolen);
    return NULL;
}

void qv__remote_probe_all(struct qv_pool *pool, unsigned timeout_ms, int *up, char *info,
                          size_t infolen, size_t n)
{
    probe_job *jobs = calloc(n ? n : 1, sizeof *jobs);
    size_t nj = 0;
    for (size_t i = 0; i < n; i++) {
        up[i] = -1;
        info[i * infolen] = 0;
        qv_resource r;
        if (qv_pool_get(pool, i, &r) != 0 || strcmp(r.backend, "remote"))
            continue;
        probe_job j = {pool, i, timeout_ms, -1, info + i * infolen, infolen};
        if (jobs)
            jobs[nj++] = j;
        else /* out of memory: one after another */
            up[i] = qv__remote_probe_entry(pool, i, timeout_ms, j.info, infolen);
    }
    qv__thread_each(jobs, nj, sizeof *jobs, probe_main);
    for (size_t k = 0; k < nj; k++)
        up[jobs[k].index] = jobs[k].up;
    free(jobs);
}
