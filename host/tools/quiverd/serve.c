/*
 * serve.c - quiverd's serve loop: one thread owns the ROUTER socket, reads
 * requests, decodes them with the wire codec and answers what it can at
 * once (hello, heartbeat, stats, alloc, free, errors, and a WRITE or READ
 * of a buffer no task uses). What must wait for tasks goes through the
 * runtime, so that libquiver orders it by buffer access as it orders any
 * submission: a WRITE and a READ of a buffer in use are CPU tasks of the
 * daemon's own (quiverd.write*, quiverd.read) that copy between the
 * message and the buffer; a RUN is qv_submit of each task. Replies of
 * those come back through a completion queue that wakes the loop (a pipe):
 * the copy tasks push their reply themselves; a RUN is handed to a waiter
 * thread that waits for each of its tasks' nodes (qv_graph_node, which
 * also gives the task's time) and pushes the reply. So the socket thread
 * never waits for a task, and heartbeats are answered while runs are in
 * flight.
 *
 * A RUN that asks for its outputs in the reply (QV_WIRE_FLAG_OUTPUTS) has
 * no waiter: a CPU task of the daemon's (quiverd.outputsN) reads every
 * buffer the run writes, so it runs once the run's tasks are done, and
 * answers with their bytes. That spares the host its READs and the daemon
 * their copy tasks and the waiter, each a thread hand-off on the way back.
 * The outputs and copy tasks are short (qv__func_on_driver): the driver of
 * the board whose run readies one runs it itself when its buffers are
 * small, so no CPU worker is woken for it.
 *
 * A task or waiter that finds the socket thread asleep sends its reply
 * itself (send_direct) instead of waking it.
 *
 * A short run (each task on an emulated board predicted under 200 us for
 * its arguments, its buffers small) on a board whose driver sleeps is run
 * by the socket thread itself
 * (qv__devq_hold_begin/_end around its submissions), with its outputs
 * task, and its reply goes out in the same turn: no thread is woken on the
 * daemon's side of a 64-byte run.
 *
 * Threads and locks: sock_mu guards the socket, the buffer table, the
 * clients, the counters and the outbox; the socket thread holds it except
 * while it sleeps. cq_mu guards the completion queue; job_mu the waiters'
 * job queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "core/internal.h" /* qv__buf_take_error: a failed task, seen from a task */
#include "trace/graph.h"   /* qv__graph_node_err: how each task of a run ended */
#include "qv_escape.h"
#include "quiverd.h"
#include "remote/auth.h"
#include "remote/zwait.h"

#define QD_WAITERS           4
#define QD_MAX_PARTS         5 /* routing id, header, body, data, one too many */
#define QD_GRAPH_RESET_NODES (1u << 20)

/* A daemon-side buffer. */
typedef struct qd_buf {
    uint64_t id;
    void *mem;
    size_t size; /* bytes */
    qv_buf *buf;
    struct qd_client *owner;
    struct qd_buf *next; /* hash chain */
    atomic_uint refs;    /* the table's, and one per run that writes it */
} qd_buf;

/* A client's reply bytes not taken yet: reserved when a READ or a RUN
 * with its outputs is accepted, given back when ZeroMQ frees the reply's
 * data (sent, or dropped) or the reply goes without it. Its own object,
 * counted: those frees come on ZeroMQ's thread, after the client may be
 * gone. A client that sent READs and never read the replies grew the
 * daemon by gigabytes (adversarial testing). */
typedef struct qd_acct {
    atomic_uint refs;
    _Atomic uint64_t bytes;
} qd_acct;

/* A peer by routing id, while it holds buffers. */
typedef struct qd_client {
    uint8_t rid[256];
    size_t rlen;
    uint64_t bytes; /* allocated */
    uint64_t queued; /* bytes of WRITEs held by copy tasks not run yet */
    qd_acct *acct;   /* its reply bytes */
    uint32_t nbufs;
    int fd; /* of its connection (ZMQ_SRCFD); -1 unknown */
    uint64_t auth_gen; /* the reload of authorized/ its key was checked at */
    bool revoked;      /* its key left authorized/ then: every request refused */
    /* With --keys, its connection's name and key (ZAP User-Id and
     * QV__AUTH_KEY_PROP), for the reload's sweep; "" not known yet. */
    char user[72], key[48];
    struct qd_client *next;
} qd_client;

/* A reply waiting to be sent. */
typedef struct qd_reply {
    uint8_t rid[256];
    size_t rlen;
    qv_wire_enc enc;
    zmq_msg_t data; /* READ replies */
    int has_data;
    uint64_t due_ns;
    struct qd_reply *next;
    /* While a task or waiter owes it (S.owed, under cq_mu): the request
     * it answers, for an error reply if the daemon stops first. */
    uint64_t req_id;
    struct qd_reply *onext, *oprev;
    int owed;
    uint64_t queued; /* a WRITE's bytes, off its client's queued once sent */
    qd_acct *acct;    /* with out_res: reply bytes reserved for its data */
    uint64_t out_res;
} qd_reply;

/* Work for a waiter thread, or a run's outputs task's. */
typedef struct qd_job {
    int kind;        /* JOB_RUN, JOB_FREE, JOB_UNREFS */
    qd_reply *reply; /* route and id; the waiter encodes into it */
    uint64_t id;
    uint32_t ntasks, nsub;
    uint64_t first_node;
    int32_t *status;
    qd_buf **wbufs;  /* JOB_RUN: the buffers its tasks write */
    uint32_t *wtask; /* the task that writes wbufs[i] */
    uint32_t nw;
    qd_buf *buf; /* JOB_FREE */
    /* JOB_RUN with QV_WIRE_FLAG_OUTPUTS: the buffers the reply carries,
     * and why no task could carry them (then the run fails). */
    uint16_t nouts;
    qd_buf *outs[QV_WIRE_MAX_OUTPUTS];
    int outs_rc;
    struct qd_job *next;
} qd_job;

/* JOB_UNREFS: the last references of wbufs, which an outputs task must
 * not drop itself (it would unregister buffers it uses). */
enum { JOB_RUN, JOB_FREE, JOB_UNREFS };

/* A copy task's job (quiverd.write*, quiverd.read). */
typedef struct qd_copy {
    qd_reply *reply;
    uint64_t id;
    size_t offset, length;
    zmq_msg_t data; /* WRITE: the bytes */
} qd_copy;

typedef struct qd_state {
    qd_daemon *d;
    void *ctx, *sock;
    int pipe_r, pipe_w;
    /* The socket thread's state below, to the completions, is under
     * sock_mu, which it holds except while it sleeps: a task or waiter
     * that finds it free sends its reply itself (send_direct). */
    pthread_mutex_t sock_mu;
    /* socket thread */
    qd_buf **table;
    size_t tcap, tn;
    qd_client *clients;
    uint64_t next_buf;
    uint64_t next_node, nodes_since_reset;
    qd_reply *out_head, *out_tail;
    uint64_t c_requests, c_runs, c_tasks, c_bytes_in, c_bytes_out, c_errors,
        c_bytes_alloc;
    /* The outputs sent in runs' replies, counted by the tasks that send
     * them (a run that fails sends none: counted when it was asked, its
     * outputs made bytes_out say more than went out). */
    atomic_uint_fast64_t c_run_out;
    /* Reply bytes reserved by every client together (out_reserve): each
     * client's are bounded, clients are not (adversarial testing). */
    atomic_uint_fast64_t out_total;
    /* Bytes of the buffers' memory until it is freed (--max-memory): a
     * FREE takes a buffer out of the table at once, its memory goes once
     * the runs that use it are done (buf_unref, any thread; review). */
    atomic_uint_fast64_t mem_held;
    qv_func *f_write_w, *f_write_rw, *f_read;
    qv_func *f_outs[QV_WIRE_MAX_OUTPUTS]; /* quiverd.outputsN: N buffers */
    qv__auth *auth; /* --keys: the ZAP handler */
    void *mon;      /* PAIR: the ROUTER's accepted/disconnected events */
    qv__zwait sw, mw; /* waits on sock and mon */
    /* Per fd (up to FD_TRACKED), whether the monitor said its connection
     * ended and no connection took the fd since: a request read from it
     * is a dead connection's, queued before it ended (fd_dead). */
    uint8_t *fd_gone;
    size_t nfd_gone;
    /* completions */
    pthread_mutex_t cq_mu;
    qd_reply *cq_head, *cq_tail;
    qd_reply *owed; /* replies tasks and waiters owe */
    atomic_uint pending; /* requests whose reply a task or waiter owes */
    atomic_uint runs;    /* runs in flight */
    /* waiters */
    pthread_mutex_t job_mu;
    pthread_cond_t job_cv;
    qd_job *job_head, *job_tail;
    int job_quit;
    pthread_t waiters[QD_WAITERS];
    unsigned nwaiters;
    /* A reload of authorized/ (SIGHUP) on a thread of its own: reading
     * 65536 key files from a cold cache held the socket thread 10 s, and
     * hosts timed the daemon out (adversarial testing). */
    pthread_t reloader;
    bool reloader_started;
    atomic_bool reloading; /* it runs */
    atomic_bool reloaded;  /* a new set is in: the socket thread sweeps */
} qd_state;

static qd_state S;

/* Log lines of one kind (qd_rate), at most one a second: those between
 * are counted, and told a second on (rate_flush, each turn of the loop;
 * the loop turns at least once a second). Under sock_mu. A client
 * flooding a full pipe wrote 200 000 lines (adversarial testing). */
typedef struct qd_rate {
    const char *what;
    uint64_t told_ns;
    unsigned untold;
} qd_rate;

static uint64_t now_ns(void);

static void rate_flush(qd_rate *r)
{
    uint64_t now = now_ns();
    if (r->untold && now - r->told_ns >= 1000000000u) {
        qd_log("%u more %s in the second after the last one logged", r->untold, r->what);
        r->untold = 0; /* the next line is not held back by this one */
    }
}

/* Whether a line of r's kind may be logged now. */
static bool rate_take(qd_rate *r)
{
    rate_flush(r);
    uint64_t now = now_ns();
    if (r->told_ns && now - r->told_ns < 1000000000u) {
        r->untold++;
        return false;
    }
    r->told_ns = now;
    return true;
}

static qd_rate rate_dropped = {"replies dropped", 0, 0};
static qd_rate rate_handshake = {"handshakes failed", 0, 0};
static qd_rate rate_never = {"requests past --max-tasks refused", 0, 0};

/* A handshake the ZAP handler refused (auth.c): in the daemon's log. */
static void log_refusal(const char *why, const char *client)
{
    qd_log("refused a client%s%s: %s", client[0] ? ", " : "", client, why);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- replies ------------------------------------------------------------- */

static qd_reply *reply_new(const uint8_t *rid, size_t rlen)
{
    qd_reply *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    memcpy(r->rid, rid, rlen);
    r->rlen = rlen;
    return r;
}

static void acct_drop(qd_acct *a)
{
    if (a && atomic_fetch_sub(&a->refs, 1) == 1)
        free(a);
}

/* Gives back n reserved bytes of a, and the reference that held them. */
static void acct_give(qd_acct *a, uint64_t n)
{
    if (!a)
        return;
    atomic_fetch_sub(&a->bytes, n);
    atomic_fetch_sub(&S.out_total, n);
    acct_drop(a);
}

static void reply_free(qd_reply *r)
{
    if (!r)
        return;
    qv__wire_enc_fini(&r->enc);
    if (r->has_data)
        zmq_msg_close(&r->data);
    acct_give(r->acct, r->out_res);
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
        acct_give(h->acct, h->n);
        free(h);
    }
}

/* r's data frame of len bytes, its reservation moved onto it: counted
 * until ZeroMQ frees it. 0, or -1 without memory. */
static int reply_data(qd_reply *r, size_t len)
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

/* Takes r off S.owed; under cq_mu. */
static void owed_unlink(qd_reply *r)
{
    if (!r->owed)
        return;
    if (r->oprev)
        r->oprev->onext = r->onext;
    else
        S.owed = r->onext;
    if (r->onext)
        r->onext->oprev = r->oprev;
    r->owed = 0;
}

static bool send_direct(qd_reply *r);
static void unqueue(const qd_reply *r);
static void outbox_put(qd_reply *r);

/* Wakes the socket thread (the completion pipe). */
static void wake_loop(void)
{
    char b = 1;
    if (write(S.pipe_w, &b, 1) < 0 && errno != EAGAIN)
        qd_log("wake-up pipe: %s", strerror(errno));
}

/* The socket thread runs the short runs it submits itself (handle): their
 * replies are completed on it, under sock_mu. */
static _Thread_local bool in_run;

/* r, completed, is off the owed list and its client's queued account, to
 * be sent by the caller, who holds sock_mu: the stop's last resort
 * (abandon), which holds it, never sees a reply neither owed nor queued. */
static void take_owed(qd_reply *r)
{
    pthread_mutex_lock(&S.cq_mu);
    owed_unlink(r);
    pthread_mutex_unlock(&S.cq_mu);
    unqueue(r);
}

/* From a task or waiter: r is sent, by this thread when the socket
 * thread sleeps (send_direct), else by the socket thread, woken; on the
 * socket thread, in a run it ran, queued for it to send when the run's
 * request is handled. */
static void complete(qd_reply *r)
{
    if (in_run) {
        take_owed(r);
        outbox_put(r);
        atomic_fetch_sub(&S.pending, 1);
        return;
    }
    if (send_direct(r))
        return;
    pthread_mutex_lock(&S.cq_mu); /* off the owed list and queued at once */
    owed_unlink(r);
    if (S.cq_tail)
        S.cq_tail->next = r;
    else
        S.cq_head = r;
    S.cq_tail = r;
    pthread_mutex_unlock(&S.cq_mu);
    atomic_fetch_sub(&S.pending, 1);
    wake_loop();
}

/* Socket thread: r is owed by a task or waiter from now on (the caller
 * counts it in S.pending). */
static void owe(qd_reply *r, uint64_t req_id)
{
    r->req_id = req_id;
    pthread_mutex_lock(&S.cq_mu);
    r->owed = 1;
    r->oprev = NULL;
    r->onext = S.owed;
    if (S.owed)
        S.owed->oprev = r;
    S.owed = r;
    pthread_mutex_unlock(&S.cq_mu);
}

/* Socket thread: queue r to be sent after --delay-us. */
static void outbox_put(qd_reply *r)
{
    r->due_ns = now_ns() + (uint64_t)S.d->opt->delay_us * 1000u;
    r->next = NULL;
    if (S.out_tail)
        S.out_tail->next = r;
    else
        S.out_head = r;
    S.out_tail = r;
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
    qv__zwait_used(&S.sw);
    if (zmq_send(S.sock, r->rid, r->rlen, more) < 0) {
        if (errno == EHOSTUNREACH)
            return false;
        if (rate_take(&rate_dropped))
            qd_log("reply %s to a peer dropped: %s",
                   qv__wire_type_name(r->enc.head[6] | (unsigned)r->enc.head[7] << 8),
                   zmq_strerror(errno));
        return true;
    }
    zmq_send(S.sock, r->enc.head, QV_WIRE_HEADER_SIZE, more);
    int last = r->has_data ? more : ZMQ_DONTWAIT;
    if (r->enc.body_size <= 256) {
        zmq_send(S.sock, r->enc.body ? (const void *)r->enc.body : "", r->enc.body_size,
                 last);
    } else {
        zmq_msg_t m;
        if (zmq_msg_init_data(&m, r->enc.body, r->enc.body_size, free_body, NULL) == 0) {
            r->enc.body = NULL; /* zmq frees it */
            if (zmq_msg_send(&m, S.sock, last) < 0)
                zmq_msg_close(&m);
        }
    }
    if (r->has_data) {
        if (zmq_msg_send(&r->data, S.sock, ZMQ_DONTWAIT) >= 0)
            r->has_data = 0; /* zmq owns it now */
    }
    return true;
}

static void peer_unreachable(const uint8_t *rid, size_t rlen);

/* Sends the replies that are due (all: now UINT64_MAX). */
static void outbox_send(uint64_t now)
{
    while (S.out_head && S.out_head->due_ns <= now) {
        qd_reply *r = S.out_head;
        S.out_head = r->next;
        if (!S.out_head)
            S.out_tail = NULL;
        if (!send_reply(r))
            peer_unreachable(r->rid, r->rlen);
        reply_free(r);
    }
}

static void outbox_flush(void)
{
    outbox_send(now_ns());
}

/* Socket thread: an ERROR reply. */
static void reply_error(const uint8_t *rid, size_t rlen, uint64_t id, int code,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void reply_error(const uint8_t *rid, size_t rlen, uint64_t id, int code,
                        const char *fmt, ...)
{
    char text[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    S.c_errors++;
    qd_reply *r = reply_new(rid, rlen);
    if (!r || qv__wire_encode_error(id, code, &r->enc, "%s", text)) {
        reply_free(r);
        return;
    }
    outbox_put(r);
}

/* Socket thread: a reply with msg's body. */
static void reply_msg(const uint8_t *rid, size_t rlen, const qv_wire_msg *m)
{
    qd_reply *r = reply_new(rid, rlen);
    if (!r || qv__wire_encode(m, &r->enc)) {
        reply_free(r);
        reply_error(rid, rlen, m->id, QV_ENOMEM, "cannot encode the reply");
        return;
    }
    outbox_put(r);
}

/* ---- buffers and clients ------------------------------------------------ */

static size_t slot(uint64_t id, size_t cap)
{
    return (size_t)((id * 0x9e3779b97f4a7c15u) >> 17) & (cap - 1);
}

static qd_buf *buf_find(uint64_t id)
{
    if (!S.tcap)
        return NULL;
    for (qd_buf *b = S.table[slot(id, S.tcap)]; b; b = b->next)
        if (b->id == id)
            return b;
    return NULL;
}

static int buf_insert(qd_buf *nb)
{
    if (S.tn + 1 > S.tcap) {
        size_t cap = S.tcap ? S.tcap * 2 : 64;
        qd_buf **t = calloc(cap, sizeof *t);
        if (!t)
            return -1;
        for (size_t i = 0; i < S.tcap; i++) {
            for (qd_buf *b = S.table[i], *nx; b; b = nx) {
                nx = b->next;
                b->next = t[slot(b->id, cap)];
                t[slot(b->id, cap)] = b;
            }
        }
        free(S.table);
        S.table = t;
        S.tcap = cap;
    }
    size_t s = slot(nb->id, S.tcap);
    nb->next = S.table[s];
    S.table[s] = nb;
    S.tn++;
    return 0;
}

static void buf_remove(qd_buf *rb)
{
    for (qd_buf **p = &S.table[slot(rb->id, S.tcap)]; *p; p = &(*p)->next) {
        if (*p == rb) {
            *p = rb->next;
            S.tn--;
            return;
        }
    }
}

/* Whether c is the client of routing id rid. */
static bool rid_is(const qd_client *c, const uint8_t *rid, size_t rlen)
{
    return c->rlen == rlen && memcmp(c->rid, rid, rlen) == 0;
}

static qd_client *client_find(const uint8_t *rid, size_t rlen, int create)
{
    for (qd_client *c = S.clients; c; c = c->next)
        if (rid_is(c, rid, rlen))
            return c;
    if (!create)
        return NULL;
    qd_client *c = calloc(1, sizeof *c);
    qd_acct *a = calloc(1, sizeof *a);
    if (!c || !a) {
        free(c);
        free(a);
        return NULL;
    }
    atomic_init(&a->refs, 1);
    c->acct = a;
    memcpy(c->rid, rid, rlen);
    c->rlen = rlen;
    c->fd = -1;
    c->next = S.clients;
    S.clients = c;
    return c;
}

static void client_drop_if_empty(qd_client *c)
{
    if (c->nbufs)
        return;
    for (qd_client **p = &S.clients; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            acct_drop(c->acct);
            free(c);
            return;
        }
    }
}

/* The buffer id names for this peer, or NULL. */
static qd_buf *buf_of(const uint8_t *rid, size_t rlen, uint64_t id)
{
    qd_buf *b = buf_find(id);
    if (!b || b->owner->rlen != rlen || memcmp(b->owner->rid, rid, rlen) != 0)
        return NULL;
    return b;
}

/* Drops a reference to b; the last one forgets the buffer (waiting for the
 * tasks that still use it) and frees it. Any thread but a task's. */
static void buf_unref(qd_buf *b)
{
    if (atomic_fetch_sub(&b->refs, 1) != 1)
        return;
    if (qv_buf_unregister(b->buf))
        qd_log("buffer %" PRIu64 ": %s", b->id, qv_last_error());
    atomic_fetch_sub(&S.mem_held, b->size);
    free(b->mem);
    free(b);
}

/* ---- the daemon's copy tasks --------------------------------------------- */

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
    complete(r);
}

static void cpu_read(const qv_call *c)
{
    qd_copy *j = *(qd_copy *const *)c->ptr[1];
    qd_reply *r = j->reply;
    if (reply_data(r, j->length) == 0) {
        memcpy(zmq_msg_data(&r->data), (const char *)c->ptr[0] + j->offset, j->length);
        qv_wire_msg m = {.type = QV_WIRE_READ | QV_WIRE_REPLY, .id = j->id};
        m.data = (qv_wire_frame){zmq_msg_data(&r->data), j->length};
        if (qv__wire_encode(&m, &r->enc) == 0) {
            free(j);
            complete(r);
            return;
        }
        zmq_msg_close(&r->data);
        r->has_data = 0;
    }
    qv__wire_encode_error(j->id, QV_ENOMEM, &r->enc, "out of memory for %zu bytes",
                          j->length);
    free(j);
    complete(r);
}

static void job_put(qd_job *j);
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
static void cpu_outputs(const qv_call *c)
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
    if (res && !status && reply_data(r, total) == 0) {
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
        atomic_fetch_add(&S.c_run_out, total);
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
    atomic_fetch_sub(&S.runs, 1);
    /* Queued before the reply counts the request done: a stop waits for
     * the requests, then lets the waiters empty their queue and exit. Put
     * after, it could come when they had gone (review finding). */
    if (last) {
        j->kind = JOB_UNREFS;
        j->nw = last;
        job_put(j);
    } else {
        job_free(j);
    }
    complete(r);
}

static int make_copy_funcs(qv_runtime *rt)
{
    const qv_arg_desc w[] = {QV_ARG_BUF("buf", QV_W), QV_ARG_SCALAR("job", void *)};
    const qv_arg_desc rw[] = {QV_ARG_BUF("buf", QV_RW), QV_ARG_SCALAR("job", void *)};
    const qv_arg_desc rd[] = {QV_ARG_BUF("buf", QV_R), QV_ARG_SCALAR("job", void *)};
    int rc = qv_func_create(rt, "quiverd.write", w, 2, &S.f_write_w);
    if (!rc)
        rc = qv_func_create(rt, "quiverd.write_part", rw, 2, &S.f_write_rw);
    if (!rc)
        rc = qv_func_create(rt, "quiverd.read", rd, 2, &S.f_read);
    if (!rc)
        rc = qv_func_set_cpu(S.f_write_w, cpu_write);
    if (!rc)
        rc = qv_func_set_cpu(S.f_write_rw, cpu_write);
    if (!rc)
        rc = qv_func_set_cpu(S.f_read, cpu_read);
    unsigned cpu = 1u << QV_CLASS_CPU;
    if (!rc)
        rc = qv_func_set_where(S.f_write_w, cpu);
    if (!rc)
        rc = qv_func_set_where(S.f_write_rw, cpu);
    if (!rc)
        rc = qv_func_set_where(S.f_read, cpu);
    /* A READ or a WRITE of a buffer whose run failed is answered as
     * before it: the run's reply said it failed. */
    if (!rc) {
        qv__func_takes_stale(S.f_write_w);
        qv__func_takes_stale(S.f_write_rw);
        qv__func_takes_stale(S.f_read);
        /* A copy and a reply: on the board's driver thread, when a run
         * there readies it (the reply goes out a worker's wake-up
         * sooner). */
        qv__func_on_driver(S.f_write_w);
        qv__func_on_driver(S.f_write_rw);
        qv__func_on_driver(S.f_read);
    }
    qv_arg_desc od[QV_WIRE_MAX_OUTPUTS + 1];
    for (unsigned k = 0; k < QV_WIRE_MAX_OUTPUTS; k++)
        od[k] = QV_ARG_BUF("out", QV_R);
    for (unsigned n = 1; n <= QV_WIRE_MAX_OUTPUTS && !rc; n++) {
        char name[32];
        snprintf(name, sizeof name, "quiverd.outputs%u", n);
        od[n] = QV_ARG_SCALAR("job", void *);
        rc = qv_func_create(rt, name, od, n + 1, &S.f_outs[n - 1]);
        od[n] = QV_ARG_BUF("out", QV_R);
        if (!rc)
            rc = qv_func_set_cpu(S.f_outs[n - 1], cpu_outputs);
        if (!rc)
            rc = qv_func_set_where(S.f_outs[n - 1], cpu);
        if (!rc) { /* it answers a run whose task failed with that failure */
            qv__func_takes_stale(S.f_outs[n - 1]);
            qv__func_on_driver(S.f_outs[n - 1]);
        }
    }
    return rc;
}

/* Submits one task; its node is the next one. */
static int submit(qv_func *f, const qv_arg *args, size_t nargs)
{
    int rc = qv_submit(S.d->rt, f, args, nargs);
    if (rc == 0) {
        S.next_node++;
        S.nodes_since_reset++;
    }
    return rc;
}

/* ---- waiters -------------------------------------------------------------- */

static void job_put(qd_job *j)
{
    pthread_mutex_lock(&S.job_mu);
    j->next = NULL;
    if (S.job_tail)
        S.job_tail->next = j;
    else
        S.job_head = j;
    S.job_tail = j;
    pthread_cond_signal(&S.job_cv);
    pthread_mutex_unlock(&S.job_mu);
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
        if (qv__graph_node_err(S.d->rt, j->first_node + i, &ni, &err) != 0) {
            known = false;
            continue;
        }
        res[i].time_us = ni.end_us - ni.start_us;
        /* A device's node has the workers' count plus its id less one. */
        if (ni.cls == QV_CLASS_FPGA && ni.worker >= S.d->nworkers &&
            ni.worker - S.d->nworkers + 1 < QD_MAX_DEVICES)
            res[i].board = S.d->dev_board[ni.worker - S.d->nworkers + 1];
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
        qd_log("run %" PRIu64 ": task %" PRIu32 ": %s", j->id, j->wtask[w], qv_last_error());
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
        buf_unref(j->wbufs[w]);
    qv_wire_msg m = {.type = QV_WIRE_RUN | QV_WIRE_REPLY, .id = j->id};
    m.u.run_reply.status = status;
    m.u.run_reply.ntasks = j->ntasks;
    m.u.run_reply.results = res;
    if (!res || qv__wire_encode(&m, &r->enc))
        qv__wire_encode_error(j->id, QV_ENOMEM, &r->enc, "out of memory for the reply");
    free(res);
    atomic_fetch_sub(&S.runs, 1);
    complete(r);
}

static void *waiter_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&S.job_mu);
        while (!S.job_head && !S.job_quit)
            pthread_cond_wait(&S.job_cv, &S.job_mu);
        qd_job *j = S.job_head;
        if (j) {
            S.job_head = j->next;
            if (!S.job_head)
                S.job_tail = NULL;
        }
        pthread_mutex_unlock(&S.job_mu);
        if (!j)
            return NULL;
        if (j->kind == JOB_RUN) {
            run_finish(j);
        } else if (j->kind == JOB_UNREFS) {
            for (uint32_t w = 0; w < j->nw; w++)
                buf_unref(j->wbufs[w]);
        } else {
            buf_unref(j->buf);
        }
        job_free(j);
    }
}

/* ---- requests --------------------------------------------------------------- */

typedef struct qd_req {
    const uint8_t *rid;
    size_t rlen;
    qv_wire_msg m;
    zmq_msg_t *parts;
} qd_req;

/* Whether the runtime takes n more tasks now (--max-tasks, of all
 * clients); else q is answered QV_EBUSY. Only this thread submits, so what
 * it sees in flight can only drop before it does: its submissions never
 * wait for the runtime's backpressure, which left every client's
 * heartbeats unanswered while one client's runs filled it (review). */
static bool room_for(const qd_req *q, uint64_t n, const char *what)
{
    uint64_t cap = S.d->opt->max_tasks;
    uint64_t live = qv__inflight(S.d->rt);
    if (live + n <= cap)
        return true;
    /* One that never fits: said so, to the host and in the log (a part of
     * more calls than --max-tasks was refused at every entry, the log
     * silent, and "once some are answered" told the host to try again:
     * adversarial testing). Still QV_EBUSY: the board stays in service
     * for the runs that fit. */
    if (n > cap) {
        if (rate_take(&rate_never))
            qd_log("%s of %" PRIu64 " tasks refused: past --max-tasks (%" PRIu64
                   "), it never runs here; raise --max-tasks",
                   what, n, cap);
        reply_error(q->rid, q->rlen, q->m.id, QV_EBUSY,
                    "%s: %" PRIu64 " tasks asked, more than --max-tasks (%" PRIu64
                    ") takes at once: it never runs here",
                    what, n, cap);
        return false;
    }
    reply_error(q->rid, q->rlen, q->m.id, QV_EBUSY,
                "%s: %" PRIu64 " tasks in flight here and %" PRIu64 " more asked, at most %"
                PRIu64 " (--max-tasks); send it once some are answered",
                what, live, n, cap);
    return false;
}

static void on_hello(qd_req *q)
{
    qd_daemon *d = S.d;
    qv_wire_msg m = {.type = QV_WIRE_HELLO | QV_WIRE_REPLY, .id = q->m.id};
    qv_wire_hello_reply *h = &m.u.hello_reply;
    h->version = QV_WIRE_VERSION;
    h->instance = d->instance;
    h->heartbeat_ms = 250;
    h->caps = (d->curve ? QV_WIRE_CAP_CURVE : 0) | QV_WIRE_CAP_OUTPUTS;
    h->limits = d->limits;
    /* The calls one RUN may carry here: its calls and the task that puts
     * its outputs in the reply within --max-tasks (room_for), so that the
     * host ships no part that never fits. */
    if (d->opt->max_tasks - 1 < h->limits.max_tasks)
        h->limits.max_tasks = (uint32_t)(d->opt->max_tasks - 1);
    h->nboards = (uint16_t)d->nboards;
    h->boards = d->wboards;
    char name[256];
    qd_log("hello from '%s'", qv__escape(q->m.u.hello.client, name, sizeof name));
    reply_msg(q->rid, q->rlen, &m);
}

static void on_stats(qd_req *q)
{
    qv_wire_counter c[] = {
        {"requests", S.c_requests},
        {"runs", S.c_runs},
        {"tasks", S.c_tasks},
        {"bytes_in", S.c_bytes_in},
        {"bytes_out", S.c_bytes_out + atomic_load(&S.c_run_out)},
        {"errors", S.c_errors},
        {"buffers", S.tn},
        {"bytes_alloc", S.c_bytes_alloc},
    };
    qv_wire_msg m = {.type = QV_WIRE_STATS | QV_WIRE_REPLY, .id = q->m.id};
    m.u.stats_reply.n = sizeof c / sizeof c[0];
    m.u.stats_reply.counters = c;
    reply_msg(q->rid, q->rlen, &m);
}

/* Whether len more bytes fit under cap with have taken. */
static bool fits(uint64_t have, uint64_t len, uint64_t cap)
{
    return have <= cap && len <= cap - have;
}

static void on_alloc(qd_req *q)
{
    const qv_wire_limits *lim = &S.d->limits;
    uint64_t size = q->m.u.alloc.size;
    qd_client *c = client_find(q->rid, q->rlen, 0);
    uint64_t have = c ? c->bytes : 0;
    uint32_t nb = c ? c->nbufs : 0;
    if (size > lim->max_bytes - have || nb >= lim->max_bufs || size > SIZE_MAX) {
        reply_error(q->rid, q->rlen, q->m.id, QV_E2BIG,
                    "alloc of %" PRIu64 " bytes: this client holds %" PRIu32
                    " buffers of %" PRIu64 " bytes, the limits are %" PRIu32
                    " buffers and %" PRIu64 " bytes",
                    size, nb, have, lim->max_bufs, lim->max_bytes);
        return;
    }
    /* All clients together (--max-memory): each client's limit holds per
     * connection, and a client may open many (review finding). */
    uint64_t all = atomic_load(&S.mem_held), cap = S.d->opt->max_memory;
    if (!fits(all, size, cap)) {
        reply_error(q->rid, q->rlen, q->m.id, QV_ENOMEM,
                    "alloc of %" PRIu64 " bytes: the buffers of all clients take %" PRIu64
                    " bytes, at most %" PRIu64 " (--max-memory)",
                    size, all, cap);
        return;
    }
    qd_buf *b = calloc(1, sizeof *b);
    void *mem = calloc(1, (size_t)size); /* zeroed: no other client's bytes */
    c = client_find(q->rid, q->rlen, 1);
    int rc = (b && mem && c) ? qv_buf_register(S.d->rt, mem, (size_t)size, &b->buf)
                             : QV_ENOMEM;
    if (b)
        b->id = ++S.next_buf;
    if (rc || buf_insert(b)) {
        if (!rc)
            qv_buf_unregister(b->buf);
        free(b);
        free(mem);
        if (c)
            client_drop_if_empty(c);
        reply_error(q->rid, q->rlen, q->m.id, rc ? rc : QV_ENOMEM,
                    "alloc of %" PRIu64 " bytes: %s", size,
                    rc ? qv_strerror(rc) : "out of memory");
        return;
    }
    b->mem = mem;
    b->size = (size_t)size;
    b->owner = c;
    atomic_init(&b->refs, 1);
    c->bytes += size;
    c->nbufs++;
    S.c_bytes_alloc += size;
    atomic_fetch_add(&S.mem_held, size);
    qv_wire_msg m = {.type = QV_WIRE_ALLOC | QV_WIRE_REPLY, .id = q->m.id};
    m.u.alloc_reply.buf = b->id;
    reply_msg(q->rid, q->rlen, &m);
}

/* Takes b out of the table and its owner's account and drops the table's
 * reference: a waiter forgets it once the runs that write it are done. */
static void buf_drop(qd_buf *b)
{
    buf_remove(b);
    b->owner->bytes -= b->size;
    b->owner->nbufs--;
    S.c_bytes_alloc -= b->size;
    b->owner = NULL;
    if (atomic_fetch_sub(&b->refs, 1) == 1) {
        atomic_store(&b->refs, 1); /* the job's */
        qd_job *j = calloc(1, sizeof *j);
        if (j) {
            j->kind = JOB_FREE;
            j->buf = b;
            job_put(j);
        } else {
            buf_unref(b); /* waits here: out of memory anyway */
        }
    }
}

/* Drops every buffer of c's (the tasks that use one finish first). */
static void client_free_bufs(qd_client *c)
{
    for (size_t i = 0; i < S.tcap && c->nbufs; i++) {
        for (qd_buf *b = S.table[i], *nx; b; b = nx) {
            nx = b->next;
            if (b->owner == c)
                buf_drop(b);
        }
    }
}

/* A peer whose connection is gone: its buffers go (nobody else may name
 * them) and so does its account. */
static void client_gone(qd_client *c)
{
    uint64_t bytes = c->bytes;
    uint32_t n = c->nbufs;
    client_free_bufs(c);
    qd_log("a peer's connection is gone: its %" PRIu32 " buffers (%" PRIu64
           " bytes) are freed",
           n, bytes);
    client_drop_if_empty(c);
}

/* A reply found no peer of routing id rid: its connection is gone, and
 * so are its buffers (an ALLOC handled after it ended made some that no
 * disconnection would free: adversarial testing). Socket thread. */
static void peer_unreachable(const uint8_t *rid, size_t rlen)
{
    qd_client *c = client_find(rid, rlen, 0);
    if (c)
        client_gone(c);
}

/* Whether q's peer is still accepted, with --keys: a reload of
 * authorized/ (SIGHUP) holds for connections made before it too, not only
 * for later handshakes (a revoked host kept its session, and its
 * buffers, until it reconnected). A connection's name and key (its ZAP
 * User-Id and QV__AUTH_KEY_PROP) are checked once per reload, the answer
 * kept with its client; a revoked peer loses its buffers at once and gets
 * an error for every request until its connection ends. Socket thread. */
/* Client c (NULL: none yet), of name user and key, left authorized/:
 * its buffers go, said once. */
static void revoke_log(qd_client *c, const char *user, const char *key)
{
    uint32_t n = c ? c->nbufs : 0;
    uint64_t bytes = c ? c->bytes : 0;
    if (c)
        client_free_bufs(c);
    qd_log("client %.64s (key %.40s) is no longer in %s/authorized: its %" PRIu32
           " buffers (%" PRIu64 " bytes) are freed, its requests refused",
           user && *user ? user : "?", key && *key ? key : "?", S.d->opt->keys, n, bytes);
}

static bool still_authorized(qd_req *q)
{
    uint64_t gen = qv__auth_gen(S.auth);
    if (!gen) /* the set its handshake was checked against */
        return true;
    qd_client *c = client_find(q->rid, q->rlen, 0);
    if (c && c->auth_gen == gen)
        return !c->revoked;
    const char *user = zmq_msg_gets(&q->parts[1], "User-Id");
    const char *key = zmq_msg_gets(&q->parts[1], QV__AUTH_KEY_PROP);
    bool ok = qv__auth_allows(S.auth, user, key);
    if (!ok) {
        revoke_log(c, user, key);
        c = client_find(q->rid, q->rlen, 1); /* kept, to refuse at once */
    }
    if (c) {
        c->auth_gen = gen;
        c->revoked = !ok;
    }
    return ok;
}

/* What the set of keys read from keys/authorized/ may not do as meant:
 * refuse every host, or know a host by another file's name. */
static void keys_warn(const char *keys)
{
    if (!qv__auth_clients(S.auth))
        qd_log("warning: no client key in %s/authorized: every host is refused until a "
               "key is put there and quiverd gets SIGHUP",
               keys);
    size_t rep = qv__auth_repeated(S.auth);
    if (rep)
        qd_log("warning: %zu key%s in more than one file of %s/authorized: a host "
               "with %s is known by the first file's name",
               rep, rep == 1 ? " is" : "s are", keys, rep == 1 ? "it" : "one");
}

/* Reads authorized/ again and swaps the set in (qv__auth_reload); the
 * socket thread sweeps the clients after (reloaded), woken. */
static void *reload_main(void *arg)
{
    const char *keys = arg;
    char err[512];
    if (qv__auth_reload(S.auth, err, sizeof err)) {
        qd_log("SIGHUP: %s/authorized: %s; the old keys stay", keys, err);
    } else {
        qd_log("SIGHUP: %zu authorized client keys", qv__auth_clients(S.auth));
        keys_warn(keys);
        atomic_store(&S.reloaded, true);
    }
    atomic_store(&S.reloading, false);
    wake_loop();
    return NULL;
}

/* A SIGHUP came: the reload starts, unless one runs (the signal stays
 * pending until it ended: the files may have changed since it read them).
 * Socket thread. */
static void reload_start(const char *keys)
{
    if (!S.auth || atomic_load(&S.reloading))
        return;
    qd_reload = 0;
    if (S.reloader_started)
        pthread_join(S.reloader, NULL); /* done: it cleared reloading */
    atomic_store(&S.reloading, true);
    int e = pthread_create(&S.reloader, NULL, reload_main, (void *)keys);
    S.reloader_started = e == 0;
    if (e) {
        atomic_store(&S.reloading, false);
        qd_log("SIGHUP: cannot start the reload: %s; the old keys stay", strerror(e));
    }
}

/* After a reload of authorized/ (SIGHUP): the clients whose keys left it
 * lose their buffers now, not at their next request. A host that sent
 * nothing (libquiver sends heartbeats only while runs wait) kept its
 * buffers counted against --max-memory, and the other hosts' ALLOCs were
 * refused meanwhile (adversarial testing). Socket thread. */
static void sweep_revoked(void)
{
    uint64_t gen = qv__auth_gen(S.auth);
    for (qd_client *c = S.clients; c; c = c->next) {
        if (!c->key[0] || c->auth_gen == gen)
            continue;
        c->auth_gen = gen;
        c->revoked = !qv__auth_allows(S.auth, c->user[0] ? c->user : NULL, c->key);
        if (c->revoked)
            revoke_log(c, c->user, c->key);
    }
}

/* With --keys: q's client, once there is one, keeps its connection's name
 * and key for sweep_revoked. */
static void client_note_key(qd_req *q)
{
    qd_client *c = client_find(q->rid, q->rlen, 0);
    if (!c || c->key[0])
        return;
    const char *user = zmq_msg_gets(&q->parts[1], "User-Id");
    const char *key = zmq_msg_gets(&q->parts[1], QV__AUTH_KEY_PROP);
    if (!key)
        return;
    snprintf(c->user, sizeof c->user, "%s", user ? user : "");
    snprintf(c->key, sizeof c->key, "%s", key);
}

/* The fds whose state fd_gone keeps: past, a request is taken as live. */
#define FD_TRACKED (1u << 20)

/* The monitor's word on fd: its connection ended (gone), or a new one
 * took it. Socket thread. */
static void fd_note(int fd, bool gone)
{
    if (fd < 0 || (unsigned)fd >= FD_TRACKED)
        return;
    if ((size_t)fd >= S.nfd_gone) {
        if (!gone)
            return; /* never ended: 0 already */
        size_t n = S.nfd_gone ? S.nfd_gone : 64;
        while (n <= (size_t)fd)
            n *= 2;
        uint8_t *g = realloc(S.fd_gone, n);
        if (!g)
            return; /* a dead connection's requests are served: no harm */
        memset(g + S.nfd_gone, 0, n - S.nfd_gone);
        S.fd_gone = g;
        S.nfd_gone = n;
    }
    S.fd_gone[fd] = gone;
}

/* Whether a request read from fd is a connection's that ended, with no
 * new connection on the fd since (its requests still queued when it
 * ended: a client's ALLOCs handled then made buffers that nobody freed,
 * adversarial testing). Socket thread, after monitor_drain. */
static bool fd_dead(int fd)
{
    return fd >= 0 && (size_t)fd < S.nfd_gone && S.fd_gone[fd];
}

/* Whether a routing id is one the ROUTER made (a 0 byte and a counter
 * that grows with each connection it names), not one the peer chose. */
static bool rid_auto(const uint8_t *rid, size_t rlen)
{
    return rlen == 5 && rid[0] == 0;
}

/* Whether the ROUTER named auto routing id a before b: their counters (big
 * endian) compared as serial numbers, since it starts at a random value
 * and wraps. */
static bool rid_older(const uint8_t *a, const uint8_t *b)
{
    uint32_t x = (uint32_t)a[1] << 24 | (uint32_t)a[2] << 16 | (uint32_t)a[3] << 8 | a[4];
    uint32_t y = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
    return (int32_t)(x - y) < 0;
}

/* A request from rid came on connection fd. Its client takes fd. Another
 * client on that fd is gone when the request's connection is the newer
 * one: only the ROUTER's own ids say which (they grow), since a request
 * read now may have been queued by a connection that ended before the fd
 * was taken again (freeing the live client on it, as this did, lost its
 * buffers: adversarial testing). false: the request is such a dead
 * connection's, and is not handled. */
static bool client_seen(const uint8_t *rid, size_t rlen, int fd)
{
    if (fd < 0)
        return true;
    if (fd_dead(fd))
        return false;
    bool ordered = rid_auto(rid, rlen); /* else no other client's fd is judged */
    for (qd_client *c = S.clients; ordered && c; c = c->next)
        if (c->fd == fd && !rid_is(c, rid, rlen) && rid_auto(c->rid, c->rlen) &&
            rid_older(rid, c->rid))
            return false;
    for (qd_client *c = S.clients, *nx; c; c = nx) {
        nx = c->next;
        if (rid_is(c, rid, rlen))
            c->fd = fd;
        else if (ordered && c->fd == fd && rid_auto(c->rid, c->rlen))
            client_gone(c);
    }
    return true;
}

/* Reads the monitor's events, in order: a disconnected fd takes the peers
 * on it with it at once. Called after a request is read and before it is
 * handled: libzmq's one I/O thread reports a connection's end before it
 * accepts the next connection on the same fd, so every disconnection
 * before the request's connection existed is known by then, and the
 * request never finds the buffers of a peer that had its routing id and
 * fd before (a new connection taking them over, whatever its key). */
static void monitor_drain(void)
{
    if (!qv__zwait_ready(&S.mw))
        return;
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, S.mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            if (errno == EAGAIN)
                qv__zwait_drained(&S.mw);
            break;
        }
        zmq_msg_init(&addr);
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&addr, S.mon, 0);
        uint16_t event = 0;
        int32_t fd = -1;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2); /* host order */
            memcpy(&fd, (const char *)zmq_msg_data(&ev) + 2, 4);
        }
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
        /* Refused before ZAP sees it (a plain client, another server key):
         * the host is told the daemon's log says which (a refusal by ZAP
         * is logged there). The value is the protocol error. */
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
            event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
            uint32_t code = (uint32_t)fd;
            if (rate_take(&rate_handshake))
                qd_log("a client's handshake failed: %s",
                       event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                           ? "it broke off (a client without CURVE, or one that left)"
                       : code == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                           ? "it does not speak this daemon's security (CURVE or plain)"
                       : code == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC
                           ? "its messages do not decrypt: it does not use this daemon's "
                             "public key (server.pub)"
                           : "a protocol error");
            continue;
        }
        if ((event != ZMQ_EVENT_DISCONNECTED && event != ZMQ_EVENT_ACCEPTED) || fd < 0)
            continue;
        /* A connection accepted on fd: one that had it ended before. */
        fd_note(fd, event == ZMQ_EVENT_DISCONNECTED);
        for (qd_client *c = S.clients, *nx; c; c = nx) {
            nx = c->next;
            if (c->fd == fd)
                client_gone(c);
        }
    }
}

static void on_free(qd_req *q)
{
    qd_buf *b = buf_of(q->rid, q->rlen, q->m.u.free.buf);
    if (!b) {
        reply_error(q->rid, q->rlen, q->m.id, QV_ENOENT, "free: no buffer %" PRIu64,
                    q->m.u.free.buf);
        return;
    }
    qd_client *c = b->owner;
    buf_drop(b);
    client_drop_if_empty(c);
    qv_wire_msg m = {.type = QV_WIRE_FREE | QV_WIRE_REPLY, .id = q->m.id};
    reply_msg(q->rid, q->rlen, &m);
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
    return cap < S.d->limits.max_bytes ? cap : S.d->limits.max_bytes;
}

/* Reserves len reply bytes of client c (socket thread), and a reference
 * to its account with them: false, with an error reply, past its cap. */
static bool out_reserve(qd_req *q, qd_client *c, uint64_t len, const char *what)
{
    uint64_t cap = client_cap(c), have = atomic_load(&c->acct->bytes);
    if (!fits(have, len, cap)) {
        reply_error(q->rid, q->rlen, q->m.id, QV_EBUSY,
                    "%s: %" PRIu64 " bytes of replies wait for this client to read them "
                    "(at most %" PRIu64 "); read them first",
                    what, have, cap);
        return false;
    }
    /* All clients together: twice what one may hold (twelve connections
     * of one client, each with 256 MiB READs unread, took 6 GB). */
    uint64_t all = atomic_load(&S.out_total), gcap = 2 * S.d->limits.max_bytes;
    if (!fits(all, len, gcap)) {
        reply_error(q->rid, q->rlen, q->m.id, QV_EBUSY,
                    "%s: %" PRIu64 " bytes of replies wait for their clients to read them "
                    "(at most %" PRIu64 " for all clients); try again later",
                    what, all, gcap);
        return false;
    }
    atomic_fetch_add(&S.out_total, len);
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
 * (out_reserve), moved onto its reply here. */
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
        reply_error(q->rid, q->rlen, q->m.id, rc, "%s: %s", is_write ? "write" : "read",
                    qv_last_error());
        return true;
    }
    char *mem = qv_buf_data(b->buf);
    qd_reply *r = reply_new(q->rid, q->rlen);
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
    } else if (ok && reply_data(r, len) == 0) {
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
        reply_free(r); /* the task's way copies (again, the same bytes) */
        return false;
    }
    outbox_put(r);
    if (is_write)
        S.c_bytes_in += len;
    else
        S.c_bytes_out += len;
    return true;
}

/* WRITE and READ: at once when no task uses the buffer (copy_now), else a
 * copy task ordered after the tasks before it. */
static void on_copy(qd_req *q, int is_write)
{
    uint64_t bid = is_write ? q->m.u.write.buf : q->m.u.read.buf;
    uint64_t off = is_write ? q->m.u.write.offset : q->m.u.read.offset;
    uint64_t len = is_write ? q->m.data.size : q->m.u.read.length;
    const char *what = is_write ? "write" : "read";
    qd_buf *b = buf_of(q->rid, q->rlen, bid);
    if (!b) {
        reply_error(q->rid, q->rlen, q->m.id, QV_ENOENT, "%s: no buffer %" PRIu64, what,
                    bid);
        return;
    }
    if (!in_range(b, off, len)) {
        reply_error(q->rid, q->rlen, q->m.id, QV_EINVAL,
                    "%s of %" PRIu64 " bytes at offset %" PRIu64
                    " past the end of buffer %" PRIu64 " (%zu bytes)",
                    what, len, off, bid, b->size);
        return;
    }
    qd_acct *res = NULL; /* a READ's reply bytes, reserved */
    if (!is_write) {
        qd_client *rc = client_find(q->rid, q->rlen, 0); /* b's owner: there */
        if (rc && !out_reserve(q, rc, len, "read"))
            return;
        res = rc ? rc->acct : NULL;
    }
    if (copy_now(q, b, is_write, (size_t)off, (size_t)len, &res)) {
        acct_give(res, len); /* an error reply: no data */
        return;
    }
    /* A WRITE waiting for the tasks ahead of it holds its bytes: bounded
     * per client (client_cap), or a client could pile up WRITEs to one
     * buffer until the daemon runs out of memory. libquiver queues at most
     * one per buffer (the host's next write of it waits for the tasks
     * that read it). */
    qd_client *c = is_write ? client_find(q->rid, q->rlen, 0) : NULL;
    uint64_t cap = c ? client_cap(c) : 0;
    if (c && !fits(c->queued, len, cap)) {
        reply_error(q->rid, q->rlen, q->m.id, QV_EBUSY,
                    "write: %" PRIu64 " bytes of writes already wait for tasks (at most %"
                    PRIu64 "); send it once some are answered", c->queued, cap);
        return;
    }
    if (!room_for(q, 1, what)) {
        acct_give(res, len);
        return;
    }
    qd_copy *j = calloc(1, sizeof *j);
    qd_reply *r = reply_new(q->rid, q->rlen);
    if (!j || !r) {
        free(j);
        reply_free(r);
        acct_give(res, len);
        reply_error(q->rid, q->rlen, q->m.id, QV_ENOMEM, "%s: out of memory", what);
        return;
    }
    r->acct = res; /* reply_free gives it back, or its data carries it */
    r->out_res = res ? len : 0;
    j->reply = r;
    j->id = q->m.id;
    j->offset = (size_t)off;
    j->length = (size_t)len;
    qv_func *f = S.f_read;
    if (is_write) {
        zmq_msg_init(&j->data);
        zmq_msg_move(&j->data, &q->parts[3]); /* used in place, no copy */
        f = (off == 0 && len == b->size) ? S.f_write_w : S.f_write_rw;
    }
    qv_arg args[2] = {QV_BUF(b->buf), QV_VAL(j)};
    atomic_fetch_add(&S.pending, 1);
    if (c)
        r->queued = len;
    owe(r, q->m.id); /* before the task may complete it */
    int rc = submit(f, args, 2);
    if (rc) {
        pthread_mutex_lock(&S.cq_mu); /* no task has it: not owed after all */
        owed_unlink(r);
        pthread_mutex_unlock(&S.cq_mu);
        atomic_fetch_sub(&S.pending, 1);
        if (is_write)
            zmq_msg_close(&j->data);
        free(j);
        reply_free(r);
        reply_error(q->rid, q->rlen, q->m.id, rc, "%s: %s", what, qv_last_error());
        return;
    }
    if (c)
        c->queued += len;
    if (is_write)
        S.c_bytes_in += len;
    else
        S.c_bytes_out += len;
}

static void on_load(qd_req *q)
{
    if (!qd_func_find(S.d, q->m.u.load.kernel)) {
        int known = 0;
        for (unsigned i = 0; i < S.d->nfuncs; i++)
            known |= strcmp(S.d->funcs[i].kernel, q->m.u.load.kernel) == 0;
        if (!known) {
            reply_error(q->rid, q->rlen, q->m.id, QV_ENOENT,
                        "load: no kernel or function %s is served here",
                        q->m.u.load.kernel);
            return;
        }
    }
    qv_wire_msg m = {.type = QV_WIRE_LOAD | QV_WIRE_REPLY, .id = q->m.id};
    reply_msg(q->rid, q->rlen, &m);
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
        if (!(outs[i] = buf_of(q->rid, q->rlen, id))) {
            reply_error(q->rid, q->rlen, q->m.id, QV_ENOENT,
                        "run: output %u: no buffer %" PRIu64, i, id);
            return false;
        }
        for (unsigned k = 0; k < i; k++)
            if (outs[k] == outs[i]) {
                reply_error(q->rid, q->rlen, q->m.id, QV_EINVAL,
                            "run: output %u: buffer %" PRIu64 " named twice", i, id);
                return false;
            }
        bool written = false;
        for (uint32_t t = 0; t < q->m.u.run.ntasks && !written; t++)
            for (unsigned a = 0; a < q->m.u.run.tasks[t].nargs; a++) {
                const qv_wire_arg *wa = &q->m.u.run.tasks[t].args[a];
                written |= wa->kind == QV_WIRE_ARG_BUF && (wa->mode & QV_W) && wa->buf == id;
            }
        if (!written) {
            reply_error(q->rid, q->rlen, q->m.id, QV_EINVAL,
                        "run: output %u: no task of the run writes buffer %" PRIu64, i, id);
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
        reply_error(q->rid, q->rlen, q->m.id, QV_ENOMEM, "run: out of memory");
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
                reply_error(q->rid, q->rlen, q->m.id, QV_EINVAL,
                            "run: task %" PRIu32 " writes buffer %" PRIu64
                            ", which is not among its outputs",
                            t, wa->buf);
                free(rd);
                return false;
            }
        }
    free(rd);
    if (bytes > S.d->limits.max_data) {
        reply_error(q->rid, q->rlen, q->m.id, QV_E2BIG,
                    "run: outputs of %" PRIu64 " bytes, at most %" PRIu64 " in a reply",
                    bytes, S.d->limits.max_data);
        return false;
    }
    return true;
}

static void on_run(qd_req *q)
{
    uint32_t nt = q->m.u.run.ntasks;
    /* Everything is checked before anything is submitted. */
    for (uint32_t t = 0; t < nt; t++) {
        const qv_wire_task *tk = &q->m.u.run.tasks[t];
        const qd_func *sf = qd_func_find(S.d, tk->func);
        if (!sf) { /* cannot run here: not a fault of the board */
            reply_error(q->rid, q->rlen, q->m.id, QV_ENOTSUP,
                        "run: task %" PRIu32 ": no function %s is served here", t,
                        tk->func);
            return;
        }
        if (tk->nargs != sf->nargs) {
            reply_error(q->rid, q->rlen, q->m.id, QV_EMISMATCH,
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
                reply_error(q->rid, q->rlen, q->m.id, QV_EMISMATCH,
                            "run: task %" PRIu32 ": argument %u (%s) of %s is %s", t, a,
                            ad->name ? ad->name : "?", sf->name,
                            ad->is_buf ? (ad->mode == QV_R   ? "an input buffer"
                                          : ad->mode == QV_W ? "an output buffer"
                                                             : "an in-out buffer")
                                       : "a scalar of another size");
                return;
            }
            if (wa->kind == QV_WIRE_ARG_BUF && !buf_of(q->rid, q->rlen, wa->buf)) {
                reply_error(q->rid, q->rlen, q->m.id, QV_ENOENT,
                            "run: task %" PRIu32 ": argument %u: no buffer %" PRIu64, t,
                            a, wa->buf);
                return;
            }
        }
    }
    qd_buf *outs[QV_WIRE_MAX_OUTPUTS];
    uint64_t out_bytes;
    if (!run_outputs(q, outs, &out_bytes) || !room_for(q, (uint64_t)nt + 1, "run"))
        return; /* (+1: the task that brings outputs into the reply, counted
                 * whether the run asks for one or not) */
    size_t nbufargs = 0;
    for (uint32_t t = 0; t < nt; t++)
        nbufargs += q->m.u.run.tasks[t].nargs;
    qd_job *j = calloc(1, sizeof *j);
    int32_t *status = calloc(nt, sizeof *status);
    qd_reply *r = reply_new(q->rid, q->rlen);
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
        reply_free(r);
        reply_error(q->rid, q->rlen, q->m.id, QV_ENOMEM, "run: out of memory");
        return;
    }
    qd_client *oc = q->m.u.run.nouts ? client_find(q->rid, q->rlen, 0) : NULL;
    if (oc && !out_reserve(q, oc, out_bytes, "run")) {
        free(j->wbufs);
        free(j->wtask);
        free(j);
        free(status);
        reply_free(r);
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
    j->first_node = S.next_node;
    int failed = 0;
    for (uint32_t t = 0; t < nt; t++) {
        const qv_wire_task *tk = &q->m.u.run.tasks[t];
        if (failed) {
            status[t] = failed; /* not submitted: it may need what failed */
            continue;
        }
        const qd_func *sf = qd_func_find(S.d, tk->func);
        qv_arg args[QV_MAX_ARGS];
        for (unsigned a = 0; a < tk->nargs; a++) {
            const qv_wire_arg *wa = &tk->args[a];
            args[a] = wa->kind == QV_WIRE_ARG_BUF
                          ? (qv_arg){buf_of(q->rid, q->rlen, wa->buf)->buf, NULL, 0}
                          : (qv_arg){NULL, wa->val, wa->size};
        }
        int rc = submit(sf->f, args, tk->nargs);
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
            qd_buf *b = buf_of(q->rid, q->rlen, tk->args[a].buf);
            atomic_fetch_add(&b->refs, 1);
            j->wtask[j->nw] = t;
            j->wbufs[j->nw++] = b;
        }
    }
    S.c_runs++;
    S.c_tasks += j->nsub;
    atomic_fetch_add(&S.pending, 1);
    atomic_fetch_add(&S.runs, 1);
    owe(j->reply, q->m.id);
    uint16_t no = q->m.u.run.nouts;
    if (!no || failed) {
        job_put(j);
        return;
    }
    /* The outputs task answers it, after every task of the run. */
    j->nouts = no;
    memcpy(j->outs, outs, no * sizeof *outs);
    qv_arg args[QV_WIRE_MAX_OUTPUTS + 1];
    for (unsigned i = 0; i < no; i++)
        args[i] = QV_BUF(outs[i]->buf);
    args[no] = QV_VAL(j);
    int rc = submit(S.f_outs[no - 1], args, no + 1u);
    if (rc) { /* the run fails, once its tasks are done */
        qd_log("run %" PRIu64 ": its outputs: %s", q->m.id, qv_last_error());
        j->outs_rc = rc;
        job_put(j);
        return;
    }
}

static void handle(qd_req *q, const qv_wire_frame *frames, size_t nframes, size_t total)
{
    char err[256];
    S.c_requests++;
    if (total > QD_MAX_PARTS) {
        qv_wire_msg m;
        qv__wire_decode(frames, 1, &S.d->limits, &m, NULL, 0);
        reply_error(q->rid, q->rlen, m.id, QV_EFORMAT,
                    "%zu frames, no message has more than 3", total - 1);
        return;
    }
    int rc = qv__wire_decode(frames, nframes, &S.d->limits, &q->m, err, sizeof err);
    if (rc) {
        reply_error(q->rid, q->rlen, q->m.id, rc, "%s", err);
        return;
    }
    if (q->m.type & QV_WIRE_REPLY) {
        reply_error(q->rid, q->rlen, q->m.id, QV_ENOTSUP, "a %s reply is not a request",
                    qv__wire_type_name(q->m.type));
        qv__wire_msg_fini(&q->m);
        return;
    }
    if (S.auth && !still_authorized(q)) {
        reply_error(q->rid, q->rlen, q->m.id, QV_EIO,
                    "this host's key is no longer authorized by the daemon (its "
                    "authorized/ was read again); its buffers there are freed");
        qv__wire_msg_fini(&q->m);
        return;
    }
    switch (q->m.type) {
    case QV_WIRE_HELLO:
        on_hello(q);
        break;
    case QV_WIRE_HEARTBEAT: {
        qv_wire_msg m = {.type = QV_WIRE_HEARTBEAT | QV_WIRE_REPLY, .id = q->m.id};
        m.u.heartbeat_reply.instance = S.d->instance;
        m.u.heartbeat_reply.runs = atomic_load(&S.runs);
        reply_msg(q->rid, q->rlen, &m);
        break;
    }
    case QV_WIRE_STATS:
        on_stats(q);
        break;
    case QV_WIRE_LOAD:
        on_load(q);
        break;
    case QV_WIRE_ALLOC:
        on_alloc(q);
        break;
    case QV_WIRE_FREE:
        on_free(q);
        break;
    case QV_WIRE_WRITE:
        on_copy(q, 1);
        break;
    case QV_WIRE_READ:
        on_copy(q, 0);
        break;
    case QV_WIRE_RUN:
        /* A short run on a board whose driver sleeps runs here, and its
         * reply goes out with this turn's: the driver's wake-up and the
         * reply's hand-off back were most of what a 64-byte run took over
         * a heartbeat (bench_remote). */
        qv__devq_hold_begin(S.d->rt);
        in_run = true;
        on_run(q);
        qv__devq_hold_end(S.d->rt);
        in_run = false;
        break;
    default:
        reply_error(q->rid, q->rlen, q->m.id, QV_ENOTSUP, "unexpected %s",
                    qv__wire_type_name(q->m.type));
    }
    if (S.auth)
        client_note_key(q);
    qv__wire_msg_fini(&q->m);
}

/* Reads one whole message (its routing id first) and handles it. Returns 0,
 * or -1 when nothing was there. */
static int receive_one(void)
{
    zmq_msg_t parts[QD_MAX_PARTS];
    size_t n = 0, total = 0;
    int more = 1;
    while (more) {
        zmq_msg_t tmp;
        zmq_msg_init(&tmp);
        if (zmq_msg_recv(&tmp, S.sock, total ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&tmp);
            if (total == 0) {
                if (errno == EAGAIN)
                    qv__zwait_drained(&S.sw);
                return -1;
            }
            if (errno == EINTR)
                continue;
            break;
        }
        qv__zwait_used(&S.sw);
        more = zmq_msg_more(&tmp);
        if (n < QD_MAX_PARTS) {
            zmq_msg_init(&parts[n]);
            zmq_msg_move(&parts[n], &tmp);
            n++;
        }
        zmq_msg_close(&tmp);
        total++;
    }
    if (n >= 1) {
        qv_wire_frame frames[QD_MAX_PARTS];
        for (size_t i = 1; i < n; i++)
            frames[i - 1] =
                (qv_wire_frame){zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i])};
        qd_req q = {.rid = zmq_msg_data(&parts[0]),
                    .rlen = zmq_msg_size(&parts[0]),
                    .parts = parts};
        int fd = n >= 2 ? zmq_msg_get(&parts[1], ZMQ_SRCFD) : -1;
        monitor_drain(); /* see there */
        if (q.rlen <= 255 && client_seen(q.rid, q.rlen, fd)) {
            handle(&q, frames, n - 1, total);
            client_seen(q.rid, q.rlen, fd); /* a client ALLOC made */
        }
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
    return 0;
}

/* Empties the wake-up pipe (the loop's poll found it readable). */
static void pipe_drain(void)
{
    char drain[256];
    while (read(S.pipe_r, drain, sizeof drain) == (ssize_t)sizeof drain) {
    }
}

/* r, a WRITE's reply, is on its way out: its bytes are copied and freed,
 * off its client's queued account (under sock_mu). */
static void unqueue(const qd_reply *r)
{
    qd_client *c = r->queued ? client_find(r->rid, r->rlen, 0) : NULL;
    if (c)
        c->queued -= r->queued < c->queued ? r->queued : c->queued;
}

/* Moves what tasks and waiters finished to the outbox. The pipe that
 * wakes the loop is emptied only when the loop's poll finds it readable:
 * a read per turn would cost a system call on every request. */
static void take_completions(void)
{
    pthread_mutex_lock(&S.cq_mu);
    qd_reply *r = S.cq_head;
    S.cq_head = S.cq_tail = NULL;
    pthread_mutex_unlock(&S.cq_mu);
    while (r) {
        qd_reply *nx = r->next;
        unqueue(r);
        outbox_put(r);
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
    if (S.d->opt->delay_us || pthread_mutex_trylock(&S.sock_mu) != 0)
        return false;
    if (S.out_head) {
        pthread_mutex_unlock(&S.sock_mu);
        return false;
    }
    take_owed(r);
    send_reply(r);
    reply_free(r);
    bool tell = qv__zwait_arm(&S.sw);
    pthread_mutex_unlock(&S.sock_mu);
    atomic_fetch_sub(&S.pending, 1); /* sent before the count drops */
    if (tell)
        wake_loop();
    return true;
}

/* Whether a process listens on ipc://PATH now: libzmq's bind would unlink
 * its socket file and take the path, leaving it serving no one. */
static bool ipc_in_use(const char *ep)
{
    const char *path = ep + 6;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (path[0] == '@' || strlen(path) >= sizeof sa.sun_path)
        return false; /* abstract: bind refuses by itself; too long: it fails */
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return false;
    bool live = connect(s, (const struct sockaddr *)&sa, sizeof sa) == 0;
    close(s);
    return live;
}

/* The bound endpoint reaches no other machine. */
static bool bound_loopback(const char *ep)
{
    return strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "tcp://127.", 10) == 0 ||
           strncmp(ep, "tcp://[::1]:", 12) == 0;
}

/* The socket's thread (this one) and ZeroMQ's I/O thread hand every
 * message to each other: on one CPU, neither wakes the other's CPU (an
 * interrupt between CPUs, on a virtual machine a trip through the
 * hypervisor). Before the context makes its I/O thread (the first
 * socket); the runtime's threads were made before, on every CPU. -1 when
 * --cpu names a CPU the daemon may not run on. */
static int pin_socket_threads(const qd_options *o)
{
    if (o->cpu == QD_CPU_NONE)
        return 0;
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        qd_log("--cpu %d: sched_getaffinity: %s", o->cpu, strerror(errno));
        return -1;
    }
    int k = o->cpu;
    if (k < 0 || !CPU_ISSET(k, &allowed)) {
        qd_log("--cpu %d: not a CPU this daemon may run on (its affinity: taskset, a "
               "cgroup's cpuset)",
               k);
        return -1;
    }
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(k, &one);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof one, &one);
    if (rc == 0 && zmq_ctx_set(S.ctx, ZMQ_THREAD_AFFINITY_CPU_ADD, k) != 0)
        rc = errno;
    if (rc) {
        qd_log("--cpu %d: %s", k, strerror(rc));
        return -1;
    }
    qd_log("the socket's thread and ZeroMQ's I/O thread run on CPU %d (--cpu)", k);
    return 0;
}

static int open_socket(qd_daemon *d)
{
    S.ctx = zmq_ctx_new();
    if (S.ctx && pin_socket_threads(d->opt) != 0)
        return -1;
    S.sock = S.ctx ? zmq_socket(S.ctx, ZMQ_ROUTER) : NULL;
    if (!S.sock) {
        qd_log("cannot make a ZeroMQ socket: %s", zmq_strerror(errno));
        return -1;
    }
    /* Replies queued per connection: past them a peer that reads none
     * loses the next (logged). 100 000 let eight connections that never
     * read their HELLOs' replies hold 550 MB (adversarial testing); a
     * host reading its replies has a few queued. Requests read off a
     * connection ahead of the socket thread: 1024 at most, then TCP holds
     * the rest back on the client's side (libquiver's queue is unbounded;
     * it has at most 8 runs and their copies in flight per board). */
    int one = 1, shwm = 8192, rhwm = 1024, linger = 1000;
    zmq_setsockopt(S.sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(S.sock, ZMQ_SNDHWM, &shwm, sizeof shwm);
    zmq_setsockopt(S.sock, ZMQ_RCVHWM, &rhwm, sizeof rhwm);
    zmq_setsockopt(S.sock, ZMQ_LINGER, &linger, sizeof linger);
    if (strchr(d->opt->listen, '[')) /* tcp://[::1]:PORT */
        zmq_setsockopt(S.sock, ZMQ_IPV6, &one, sizeof one);
    int64_t maxmsg = (int64_t)d->limits.max_data + 4096;
    zmq_setsockopt(S.sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (d->opt->keys) {
        char err[512];
        if (!qv__auth_has_curve()) {
            qd_log("--keys %s: this libzmq has no CURVE support", d->opt->keys);
            return -1;
        }
        if (qv__auth_server_start(S.ctx, S.sock, d->opt->keys, &S.auth, err,
                                  sizeof err)) {
            qd_log("--keys %s: %s", d->opt->keys, err);
            return -1;
        }
        qv__auth_on_refusal(S.auth, log_refusal);
        d->curve = 1;
        char key[4200];
        unsigned mode;
        snprintf(key, sizeof key, "%s/server.key", d->opt->keys);
        if (qv__auth_key_exposed(key, &mode))
            qd_log("warning: %s, the daemon's secret key, is readable by its group or "
                   "others (mode %04o): whoever reads it can pose as this daemon; chmod "
                   "600 it", key, mode);
        qd_log("CURVE: %zu authorized client keys in %s/authorized",
               qv__auth_clients(S.auth), d->opt->keys);
        keys_warn(d->opt->keys);
    }
    /* Disconnections free the buffers of the peers that went. */
    S.mon = zmq_socket(S.ctx, ZMQ_PAIR);
    if (!S.mon ||
        qv__zmonitor(S.sock, "inproc://quiverd.monitor",
                     ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                         ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
        qv__zconnect(S.mon, "inproc://quiverd.monitor") != 0 ||
        qv__zwait_init(&S.sw, S.sock) != 0 || qv__zwait_init(&S.mw, S.mon) != 0) {
        qd_log("cannot monitor the socket: %s", zmq_strerror(errno));
        return -1;
    }
    if (strncmp(d->opt->listen, "ipc://", 6) == 0 && ipc_in_use(d->opt->listen)) {
        qd_log("cannot listen on %s: another process serves it", d->opt->listen);
        return -1;
    }
    /* libzmq's bind unlinks whatever lies at an ipc:// path: a socket a
     * daemon that died left is taken over, anything else stays (an
     * adversarial finding: a regular file there was deleted). */
    struct stat st;
    if (strncmp(d->opt->listen, "ipc://", 6) == 0 && d->opt->listen[6] != '@' &&
        lstat(d->opt->listen + 6, &st) == 0 && !S_ISSOCK(st.st_mode)) {
        qd_log("cannot listen on %s: %s is not a socket (binding would delete it)",
               d->opt->listen, d->opt->listen + 6);
        return -1;
    }
    if (qv__zbind(S.sock, d->opt->listen) != 0) {
        qd_log("cannot listen on %s: %s", d->opt->listen, zmq_strerror(errno));
        return -1;
    }
    /* The endpoint bound: tcp://127.0.0.1:* names the port chosen. */
    char ep[512];
    size_t eplen = sizeof ep;
    if (zmq_getsockopt(S.sock, ZMQ_LAST_ENDPOINT, ep, &eplen) != 0)
        snprintf(ep, sizeof ep, "%s", d->opt->listen);
    if (!d->opt->keys && !bound_loopback(ep)) { /* main.c checked; libzmq decides */
        qd_log("plain mode, yet bound to %s, which other machines may reach; stopping", ep);
        return -1;
    }
    qd_log("listening on %s (%s), %u functions on %u boards, instance %016" PRIx64, ep,
           d->curve ? "CURVE" : "plain, loopback only", d->nfuncs, d->nboards,
           d->instance);
    return 0;
}

/* Closes the monitor, the socket (which lingers for what is queued), the
 * ZAP handler and the context. */
static void sockets_close(void)
{
    if (S.sock && S.mon)
        zmq_socket_monitor(S.sock, NULL, 0);
    if (S.mon)
        zmq_close(S.mon);
    if (S.sock)
        zmq_close(S.sock);
    qv__auth_stop(S.auth); /* before the context ends */
    /* A signal (another SIGTERM) interrupts the wait for ZeroMQ's threads
     * with EINTR: waited for again, or they outlive the context. */
    while (S.ctx && zmq_ctx_term(S.ctx) != 0 && errno == EINTR)
        ;
}

/* The stop's deadline passed with requests in flight: each gets an error
 * reply, the replies go out, and the process ends without waiting for the
 * tasks (their threads still hold what they use: nothing is freed). */
static _Noreturn void abandon(void)
{
    /* Owed first, then what completed: a reply leaves the owed list as it
     * joins the completion queue (both under cq_mu), so each request gets
     * its reply or the error (a reply that completes after the error's
     * loop is sent too: the host takes the first). */
    pthread_mutex_lock(&S.cq_mu);
    for (qd_reply *r = S.owed; r; r = r->onext)
        reply_error(r->rid, r->rlen, r->req_id, QV_ESHUTDOWN,
                    "the daemon stopped (SIGTERM) before this request finished");
    pthread_mutex_unlock(&S.cq_mu);
    take_completions();
    outbox_send(UINT64_MAX);
    if (S.reloader_started) /* it reads the ZAP handler's keys (review) */
        pthread_join(S.reloader, NULL);
    sockets_close(); /* the socket lingers 1 s for the replies */
    qd_log("stopped, %u requests failed", atomic_load(&S.pending));
    fflush(NULL);
    _exit(0);
}

int qd_serve(qd_daemon *d)
{
    int status = 1;
    S.d = d;
    /* Buffer ids from a random start: a host that read an id from the
     * daemon before this one must not find it naming one of this one's
     * buffers (the host checks as well; review finding). */
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = d->instance * 0x9e3779b97f4a7c15u;
    S.next_buf = (seed >> 2) | (1ull << 32);
    S.pipe_r = S.pipe_w = -1;
    pthread_mutex_init(&S.cq_mu, NULL);
    pthread_mutex_init(&S.sock_mu, NULL);
    pthread_mutex_init(&S.job_mu, NULL);
    pthread_cond_init(&S.job_cv, NULL);
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        qd_log("pipe: %s", strerror(errno));
        goto out;
    }
    S.pipe_r = fds[0];
    S.pipe_w = fds[1];
    if (make_copy_funcs(d->rt)) {
        qd_log("cannot register the copy functions: %s", qv_last_error());
        goto out;
    }
    for (; S.nwaiters < QD_WAITERS; S.nwaiters++)
        if (pthread_create(&S.waiters[S.nwaiters], NULL, waiter_main, NULL))
            break;
    if (!S.nwaiters || open_socket(d))
        goto out;
    int stopping = 0;
    uint64_t deadline = 0;
    pthread_mutex_lock(&S.sock_mu);
    for (;;) {
        if (qd_stop && !stopping) {
            stopping = 1;
            deadline = now_ns() + 30ull * 1000000000u;
            qd_log("stopping: finishing %u requests in flight", atomic_load(&S.pending));
        }
        if (qd_reload && !stopping) /* (a stop forgets it) */
            reload_start(d->opt->keys);
        if (atomic_exchange(&S.reloaded, false))
            sweep_revoked();
        take_completions();
        outbox_flush();
        if (stopping && atomic_load(&S.pending) == 0) {
            /* A reply is queued before its pending count drops: once the
             * count is 0, taking the queue again gets every reply. */
            take_completions();
            outbox_flush();
            if (!S.out_head)
                break;
        }
        if (stopping && now_ns() > deadline) {
            qd_log("stopping: %u requests still in flight after 30 s; they fail, and "
                   "the daemon exits without them", atomic_load(&S.pending));
            abandon();
        }
        if (!stopping && S.nodes_since_reset > QD_GRAPH_RESET_NODES &&
            atomic_load(&S.pending) == 0) {
            qv_graph_reset(d->rt); /* nothing in flight: returns at once */
            S.nodes_since_reset = 0;
        }
        /* In microseconds: a reply --delay-us holds back for less than a
         * millisecond is waited for asleep, not by polling in a loop (a
         * core taken from the runs on a small machine). */
        long timeout = stopping ? 20000 : 1000000;
        if (S.out_head) {
            uint64_t now = now_ns();
            uint64_t wait = S.out_head->due_ns > now ? S.out_head->due_ns - now : 0;
            if ((long)((wait + 999) / 1000u) < timeout)
                timeout = (long)((wait + 999) / 1000u);
        }
        /* The pipe and the monitor wake the wait too; while stopping, the
         * socket is not read (nothing new is taken on). */
        if (!S.mw.armed)
            monitor_drain(); /* its descriptor wakes the wait only once armed */
        struct pollfd pf[2] = {{S.pipe_r, POLLIN, 0}, {S.mw.zfd, POLLIN, 0}};
        int rc = 1;
        if (stopping || !qv__zwait_arm(&S.sw)) {
            pthread_mutex_unlock(&S.sock_mu);
            rc = stopping ? poll(pf, 1, (int)((timeout + 999) / 1000))
                          : qv__zwait_poll(&S.sw, pf, 2, timeout);
            if (stopping && rc < 0)
                rc = -errno;
            pthread_mutex_lock(&S.sock_mu);
        } else {
            pf[0].revents = pf[1].revents = 0;
        }
        if (rc < 0 && -rc != EINTR) {
            qd_log("poll: %s", strerror(-rc));
            break;
        }
        if (rc < 0)
            continue;
        if (pf[0].revents)
            pipe_drain();
        if (pf[1].revents)
            monitor_drain();
        rate_flush(&rate_dropped);
        rate_flush(&rate_handshake);
        rate_flush(&rate_never);
        if (!stopping && rc > 0) {
            for (int i = 0; i < 256 && !qd_stop; i++) {
                if (receive_one())
                    break;
                take_completions();
                outbox_flush();
            }
        }
    }
    pthread_mutex_unlock(&S.sock_mu);
    status = 0;
out:
    if (S.reloader_started) /* before the ZAP handler goes */
        pthread_join(S.reloader, NULL);
    pthread_mutex_lock(&S.job_mu);
    S.job_quit = 1;
    pthread_cond_broadcast(&S.job_cv);
    pthread_mutex_unlock(&S.job_mu);
    for (unsigned i = 0; i < S.nwaiters; i++)
        pthread_join(S.waiters[i], NULL);
    if (status == 0)
        qv_wait_all(d->rt);
    take_completions();
    while (S.out_head) {
        qd_reply *r = S.out_head;
        S.out_head = r->next;
        reply_free(r);
    }
    for (size_t i = 0; i < S.tcap; i++) {
        for (qd_buf *b = S.table[i], *nx; b; b = nx) {
            nx = b->next;
            qv_buf_unregister(b->buf);
            free(b->mem);
            free(b);
        }
    }
    free(S.table);
    while (S.clients) {
        qd_client *c = S.clients;
        S.clients = c->next;
        acct_drop(c->acct);
        free(c);
    }
    free(S.fd_gone);
    S.fd_gone = NULL;
    S.nfd_gone = 0;
    sockets_close();
    if (S.pipe_r >= 0)
        close(S.pipe_r);
    if (S.pipe_w >= 0)
        close(S.pipe_w);
    if (status == 0)
        qd_log("stopped");
    return status;
}
