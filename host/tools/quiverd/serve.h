/*
 * serve.h - what the files of quiverd's serve loop share: its state,
 * the daemon-side objects, and the functions one file calls in another.
 * Private to host/tools/quiverd.
 */
#ifndef QUIVERD_SERVE_H
#define QUIVERD_SERVE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zmq.h>

#include "quiverd.h"
#include "remote/auth.h"
#include "remote/wire.h"
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
    uint64_t bytes;  /* allocated */
    uint64_t queued; /* bytes of WRITEs held by copy tasks not run yet */
    qd_acct *acct;   /* its reply bytes */
    uint32_t nbufs;
    int fd;            /* of its connection (ZMQ_SRCFD); -1 unknown */
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
    /* While a task or waiter owes it (qd_s.owed, under cq_mu): the request
     * it answers, for an error reply if the daemon stops first. */
    uint64_t req_id;
    struct qd_reply *onext, *oprev;
    int owed;
    uint64_t queued; /* a WRITE's bytes, off its client's queued once sent */
    qd_acct *acct;   /* with out_res: reply bytes reserved for its data */
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
    /* Reply bytes reserved by every client together (qd_out_reserve): each
     * client's are bounded, clients are not (adversarial testing). */
    atomic_uint_fast64_t out_total;
    /* Bytes of the buffers' memory until it is freed (--max-memory): a
     * FREE takes a buffer out of the table at once; its memory goes then
     * when nothing uses it, else once the runs that use it are done
     * (qd_buf_unref, any thread; review). */
    atomic_uint_fast64_t mem_held;
    qv_func *f_write_w, *f_write_rw, *f_read;
    qv_func *f_outs[QV_WIRE_MAX_OUTPUTS]; /* quiverd.outputsN: N buffers */
    qv__auth *auth;                       /* --keys: the ZAP handler */
    void *mon;        /* PAIR: the ROUTER's accepted/disconnected events */
    qv__zwait sw, mw; /* waits on sock and mon */
    /* Per fd (up to FD_TRACKED), whether the monitor said its connection
     * ended and no connection took the fd since: a request read from it
     * is a dead connection's, queued before it ended (fd_dead). */
    uint8_t *fd_gone;
    size_t nfd_gone;
    /* completions */
    pthread_mutex_t cq_mu;
    qd_reply *cq_head, *cq_tail;
    qd_reply *owed;      /* replies tasks and waiters owe */
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

/* Log lines of one kind (qd_rate), at most one a second: those between
 * are counted, and told a second on (qd_rate_flush, each turn of the loop;
 * the loop turns at least once a second). Under sock_mu. A client
 * flooding a full pipe wrote 200 000 lines (adversarial testing). */
typedef struct qd_rate {
    const char *what;
    uint64_t told_ns;
    unsigned untold;
} qd_rate;

typedef struct qd_req {
    const uint8_t *rid;
    size_t rlen;
    qv_wire_msg m;
    zmq_msg_t *parts;
} qd_req;

/* The serve loop's one state (serve.c). */
extern qd_state qd_s;

/* serve_reply.c */
extern _Thread_local bool qd_in_run;
extern qd_rate qd_rate_dropped;
extern qd_rate qd_rate_handshake;
extern qd_rate qd_rate_never;
void qd_acct_drop(qd_acct *a);
void qd_acct_give(qd_acct *a, uint64_t n);
void qd_complete(qd_reply *r);
void qd_log_refusal(const char *why, const char *client);
uint64_t qd_now_ns(void);
void qd_outbox_flush(void);
void qd_outbox_put(qd_reply *r);
void qd_outbox_send(uint64_t now);
void qd_owe(qd_reply *r, uint64_t req_id);
void qd_owed_unlink(qd_reply *r);
void qd_pipe_drain(void);
void qd_rate_flush(qd_rate *r);
bool qd_rate_take(qd_rate *r);
int qd_reply_data(qd_reply *r, size_t len);
void qd_reply_error(const uint8_t *rid, size_t rlen, uint64_t id, int code,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void qd_reply_free(qd_reply *r);
void qd_reply_msg(const uint8_t *rid, size_t rlen, const qv_wire_msg *m);
qd_reply *qd_reply_new(const uint8_t *rid, size_t rlen);
void qd_take_completions(void);
void qd_wake_loop(void);

/* serve_bufs.c */
qd_buf *qd_buf_of(const uint8_t *rid, size_t rlen, uint64_t id);
void qd_buf_unref(qd_buf *b);
qd_client *qd_client_find(const uint8_t *rid, size_t rlen, int create);
void qd_client_free_bufs(qd_client *c);
void qd_client_gone(qd_client *c);
bool qd_fits(uint64_t have, uint64_t len, uint64_t cap);
void qd_on_alloc(qd_req *q);
void qd_on_free(qd_req *q);
void qd_peer_unreachable(const uint8_t *rid, size_t rlen);
bool qd_rid_is(const qd_client *c, const uint8_t *rid, size_t rlen);

/* serve_conn.c */
void qd_client_note_key(qd_req *q);
bool qd_client_seen(const uint8_t *rid, size_t rlen, int fd);
void qd_keys_warn(const char *keys);
void qd_monitor_drain(void);
void qd_reload_start(const char *keys);
bool qd_still_authorized(qd_req *q);
void qd_sweep_revoked(void);

/* serve_copy.c */
int qd_make_copy_funcs(qv_runtime *rt);
void qd_on_copy(qd_req *q, int is_write);
bool qd_out_reserve(qd_req *q, qd_client *c, uint64_t len, const char *what);
int qd_submit(qv_func *f, const qv_arg *args, size_t nargs);

/* serve_run.c */
void qd_cpu_outputs(const qv_call *c);
void qd_job_put(qd_job *j);
void qd_on_load(qd_req *q);
void qd_on_run(qd_req *q);
bool qd_room_for(const qd_req *q, uint64_t n, const char *what);
void *qd_waiter_main(void *arg);

#endif
