/*
 * remote_link.h - the connection of one remote board to its quiverd
 * (remote_link.c): a ZeroMQ DEALER served by one I/O thread, requests
 * pipelined through it and matched to their replies by id, heartbeats while
 * requests wait, and the reconnection after a fault. The device operations
 * (remote.c) build requests and wait for them; a request posted while the
 * I/O thread sleeps is sent by the thread that posts it.
 *
 * Locking: mu guards the send queue, the pending list, every request's reply
 * fields and done flag, the state and the daemon's description (kernels).
 * sock_mu (taken before mu) guards every ZeroMQ call on the socket; the
 * I/O thread alone makes, replaces and destroys the socket and its context.
 */
#ifndef QV_DEVICES_REMOTE_LINK_H
#define QV_DEVICES_REMOTE_LINK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "remote/auth.h"
#include "remote/wire.h"
#include "remote/zwait.h"

struct qv_devmem;

/* One request and, once done, its reply. */
typedef struct qv__rreq {
    struct qv__rreq *next; /* in the send queue, then the pending list */
    uint64_t id;
    uint16_t type;   /* QV_WIRE_* */
    unsigned gen;    /* the link's generation when it was posted */
    bool ids;        /* it names remote buffers by the ids of generation
                      * ids_gen: not posted in another (qv__rlink_post) */
    unsigned ids_gen;
    bool detached;   /* nobody waits: the link frees it when answered */
    bool done;       /* under mu */
    int err;         /* when done: 0 or a QV_E* code */
    char why[400];   /* when err: what went wrong */
    qv_wire_enc enc; /* the request's frames, until sent */
    /* Replies. */
    uint64_t buf;   /* ALLOC: the remote buffer id */
    zmq_msg_t data; /* READ: the bytes (when has_data) */
    bool has_data;
    double time_us; /* RUN: the tasks' times, summed (µs) */
    uint16_t nouts; /* RUN: outputs its reply carries (its kids, in order,
                     * never sent; QV_WIRE_FLAG_OUTPUTS) */
    /* The device's (remote.c). */
    struct qv_devmem *mem; /* WRITE, READ: the device copy */
    void *dst;             /* READ: where wait copies the bytes */
    size_t n;              /* READ: bytes */
    size_t off;            /* READ: where in the buffer (bytes) */
    struct qv__rreq *kids; /* RUN: the READs that bring its outputs home,
                            * or its outputs in the reply (nouts) */
    struct qv__rreq *sib;  /* in kids */
} qv__rreq;

/* Where and how to connect. Strings are copied. */
typedef struct qv__rlink_conf {
    const char *name;       /* for messages: the board's name */
    const char *endpoint;   /* tcp://HOST:PORT or ipc://PATH */
    const char *server_key; /* Z85, or NULL: plain */
    const char *client_pub; /* Z85 or NULL (derived from client_sec) */
    const char *client_sec; /* Z85, or NULL: an ephemeral key pair */
    unsigned heartbeat_ms;
    unsigned timeout_ms;
    /* Called by the I/O thread, holding no lock, after a reconnection
     * (reconnected true), and for a while after (false), in case a task's
     * failure crossed it. May be NULL. */
    void (*restored)(void *arg, bool reconnected);
    /* Called by the thread that took a RUN's or READ's reply, or failed
     * requests (a fault), once it holds no lock of the link, and by the
     * I/O thread at each heartbeat while requests wait: a flight left for
     * a wait to land may have no thread waiting for it. May be NULL. */
    void (*replied)(void *arg);
    void *arg;
} qv__rlink_conf;

/* What a HELLO told about the daemon: every kernel of every board it
 * serves, by catalog name, with the function name a RUN task uses. */
typedef struct qv__rhello {
    uint64_t instance;
    uint32_t caps;   /* QV_WIRE_CAP_* */
    uint64_t memory; /* bytes, the largest board's */
    uint32_t max_calls; /* the calls one RUN may carry (limits.max_tasks) */
    size_t nkernels;
    char **kernel, **func; /* nkernels each */
    char boards[200];      /* board names, for messages */
    char **board;          /* the served boards' names, nboard of them */
    size_t nboard;
} qv__rhello;

void qv__rhello_fini(qv__rhello *h);

typedef struct qv__rlink {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char name[128], endpoint[256];
    char server_key[QV__KEY_Z85 + 1], client_pub[QV__KEY_Z85 + 1],
        client_sec[QV__KEY_Z85 + 1];
    unsigned hb_ms, timeout_ms;
    bool up;      /* connected and answering */
    unsigned gen; /* bumped at every fault: remote ids of older
                   * generations are gone */
    uint64_t next_id;
    qv__rhello hello;                 /* the current daemon's */
    qv__rreq *sq, *sq_tail;           /* to send */
    qv__rreq *pending, *pending_tail; /* sent, not answered, oldest first */
    bool reset;                       /* a device op saw a fault: reconnect */
    bool stop;
    char down_why[400]; /* why it is down */
    uint64_t faults, reconnects;
    int wakefd; /* eventfd: wakes the I/O thread */
    pthread_t thread;
    bool started;
    void (*restored)(void *arg, bool reconnected); /* conf's */
    void (*replied)(void *arg);  /* conf's */
    void *arg;
    atomic_bool replied_due;     /* a RUN or READ was answered, or requests
                                  * failed, since the hook was last called */
    uint64_t busy_since_ns; /* the first request of the pending ones sent */
    bool io_asleep;         /* the I/O thread sleeps long (idle) */
    bool leading;           /* a waiting thread reads the socket (lead) */
    pthread_t leader;       /* which, while leading */
    int leadfd;             /* eventfd: the leader's reply came another way */
    unsigned waiters;       /* threads in qv__rlink_wait */
    unsigned quiescing;     /* threads in qv__rlink_quiesce, which never lead */
    uint64_t led_ns;        /* a leader last took a reply (monotonic) */
    uint64_t heard_ns;      /* the last reply (under sock_mu) */
    /* The socket: the I/O thread sets ctx and sock. Every ZeroMQ call on
     * sock is under sock_mu (taken before mu), which the I/O thread drops
     * only to sleep: a thread that posts a request finding it free sends
     * the request itself, rather than wake the I/O thread to send it. */
    pthread_mutex_t sock_mu;
    void *ctx, *sock;
    qv__zwait zw;
    /* Requests sent on sock whose reply has not come (under sock_mu).
     * None: no message can come, so a send takes no command that brings
     * one and leaves an armed socket armed (send_now). */
    uint64_t unanswered;
} qv__rlink;

/* Connects, says HELLO and waits up to conf->timeout_ms for the reply;
 * then starts the I/O thread. 0, or QV_EIO / QV_ETIMEDOUT / QV_ENOTSUP
 * with the reason in err (nothing is left running). Any thread. */
int qv__rlink_open(qv__rlink *l, const qv__rlink_conf *conf, char *err, size_t errlen);
/* Stops the I/O thread (requests still queued are sent first, for at most
 * a timeout) and fails what is left; frees everything. */
void qv__rlink_close(qv__rlink *l);

/* A zeroed request of type `type`; NULL when out of memory. */
qv__rreq *qv__rreq_new(uint16_t type);
/* Frees rq and its kids (their data too). */
void qv__rreq_free(qv__rreq *rq);

/* Encodes m (its id set here) into rq and queues it for sending; its
 * data frame (WRITE) is sent without a copy, so m->data must stay valid
 * until rq is answered. QV_EIO when the link is down (rq untouched: the
 * caller frees it), else 0: rq belongs to the link until it is done (and,
 * detached, until freed). Any thread. */
int qv__rlink_post(qv__rlink *l, qv__rreq *rq, qv_wire_msg *m);
/* Waits until rq and its kids are answered, and every detached request
 * posted before it too, at most timeout_ns (< 0: no limit). Returns rq's
 * error, else its first kid's; QV_ETIMEDOUT (with the link reset) when
 * the time ran out. The caller then frees rq. Any thread. */
int qv__rlink_wait(qv__rlink *l, qv__rreq *rq, int64_t timeout_ns, char *why,
                   size_t whylen);
/* Waits until no posted WRITE of mem is unanswered (its bytes may then be
 * freed); past timeout_ns the link is reset, which fails them. */
void qv__rlink_quiesce(qv__rlink *l, const struct qv_devmem *mem, int64_t timeout_ns);
/* A device operation met a fault (a wait limit, a reply that makes no
 * sense): drop the connection and reconnect. */
void qv__rlink_reset(qv__rlink *l, const char *why);

/* ---- frames on a socket (remote_conn.c) --------------------------------- */

#define QV__RCONN_MAX_PARTS 3 /* frames of a reply: header, body, data */
#define QV__RCONN_HELLO_ID  1 /* the request id of a dial's HELLO */

/* Sends e's frames on sock without blocking: the body is handed to ZeroMQ
 * (e->body becomes NULL), the data frame is sent from the caller's memory.
 * 0 or -errno (-EAGAIN: the connection is gone; sockets never reconnect). */
int qv__rconn_send(void *sock, qv_wire_enc *e);
/* Receives one whole message, if one is waiting, into parts
 * (QV__RCONN_MAX_PARTS, initialised here; *n frames, more than the maximum
 * when there were too many). 1 when none is waiting, 0 when one came, or
 * -errno. */
int qv__rconn_recv(void *sock, zmq_msg_t *parts, size_t *n);
void qv__rconn_close_parts(zmq_msg_t *parts, size_t n);
/* Decodes parts into m (qv__wire_decode); 0 or an error, the reason in err. */
int qv__rconn_decode(zmq_msg_t *parts, size_t n, qv_wire_msg *m, char *err,
                     size_t errlen);
/* Connects a DEALER of a new context to l's endpoint (with l's keys) and
 * says HELLO: 0 with the socket, its context and the daemon's description
 * in h; else an error, the reason in err and nothing left open. Waits at
 * most l->timeout_ms; returns -ECANCELED early when wakefd (>= 0) is
 * signalled. */
int qv__rconn_dial(const qv__rlink *l, int wakefd, void **ctx, void **sock, qv__rhello *h,
                   char *err, size_t errlen);
/* Closes sock and destroys ctx (each may be NULL); both become NULL. */
void qv__rconn_teardown(void **ctx, void **sock);

/* `quiver devices`: says HELLO to the daemon of conf and waits for the
 * reply (conf->timeout_ms); 0 with *out filled (free with
 * qv__rhello_fini), or an error with the reason in err. */
int qv__rlink_probe(const qv__rlink_conf *conf, qv__rhello *out, char *err,
                    size_t errlen);

#endif
