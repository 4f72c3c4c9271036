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
 * This file is the loop itself (the socket, HELLO, STATS, each request's
 * dispatch, the stop); serve_reply.c sends replies and takes completions,
 * serve_bufs.c keeps the buffers and clients (ALLOC, FREE), serve_conn.c
 * the connections and keys, serve_copy.c WRITE and READ, serve_run.c RUN
 * and LOAD; serve.h is their shared state (qd_s).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/internal.h" /* qv__devq_hold_begin: short runs on the socket thread */
#include "qv_escape.h"
#include "serve.h"

qd_state qd_s;

static void on_hello(qd_req *q)
{
    qd_daemon *d = qd_s.d;
    qv_wire_msg m = {.type = QV_WIRE_HELLO | QV_WIRE_REPLY, .id = q->m.id};
    qv_wire_hello_reply *h = &m.u.hello_reply;
    h->version = QV_WIRE_VERSION;
    h->instance = d->instance;
    h->heartbeat_ms = 250;
    h->caps = (d->curve ? QV_WIRE_CAP_CURVE : 0) | QV_WIRE_CAP_OUTPUTS;
    h->limits = d->limits;
    /* The calls one RUN may carry here: its calls and the task that puts
     * its outputs in the reply within --max-tasks (qd_room_for), so that the
     * host ships no part that never fits. */
    if (d->opt->max_tasks - 1 < h->limits.max_tasks)
        h->limits.max_tasks = (uint32_t)(d->opt->max_tasks - 1);
    h->nboards = (uint16_t)d->nboards;
    h->boards = d->wboards;
    char name[256];
    qd_log("hello from '%s'", qv__escape(q->m.u.hello.client, name, sizeof name));
    qd_reply_msg(q->rid, q->rlen, &m);
}

static void on_stats(qd_req *q)
{
    qv_wire_counter c[] = {
        {"requests", qd_s.c_requests},
        {"runs", qd_s.c_runs},
        {"tasks", qd_s.c_tasks},
        {"bytes_in", qd_s.c_bytes_in},
        {"bytes_out", qd_s.c_bytes_out + atomic_load(&qd_s.c_run_out)},
        {"errors", qd_s.c_errors},
        {"buffers", qd_s.tn},
        {"bytes_alloc", qd_s.c_bytes_alloc},
    };
    qv_wire_msg m = {.type = QV_WIRE_STATS | QV_WIRE_REPLY, .id = q->m.id};
    m.u.stats_reply.n = sizeof c / sizeof c[0];
    m.u.stats_reply.counters = c;
    qd_reply_msg(q->rid, q->rlen, &m);
}

static void handle(qd_req *q, const qv_wire_frame *frames, size_t nframes, size_t total)
{
    char err[256];
    qd_s.c_requests++;
    if (total > QD_MAX_PARTS) {
        qv_wire_msg m;
        qv__wire_decode(frames, 1, &qd_s.d->limits, &m, NULL, 0);
        qd_reply_error(q->rid, q->rlen, m.id, QV_EFORMAT,
                       "%zu frames, no message has more than 3", total - 1);
        return;
    }
    int rc = qv__wire_decode(frames, nframes, &qd_s.d->limits, &q->m, err, sizeof err);
    if (rc) {
        qd_reply_error(q->rid, q->rlen, q->m.id, rc, "%s", err);
        return;
    }
    if (q->m.type & QV_WIRE_REPLY) {
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_ENOTSUP,
                       "a %s reply is not a request", qv__wire_type_name(q->m.type));
        qv__wire_msg_fini(&q->m);
        return;
    }
    if (qd_s.auth && !qd_still_authorized(q)) {
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_EIO,
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
        m.u.heartbeat_reply.instance = qd_s.d->instance;
        m.u.heartbeat_reply.runs = atomic_load(&qd_s.runs);
        qd_reply_msg(q->rid, q->rlen, &m);
        break;
    }
    case QV_WIRE_STATS:
        on_stats(q);
        break;
    case QV_WIRE_LOAD:
        qd_on_load(q);
        break;
    case QV_WIRE_ALLOC:
        qd_on_alloc(q);
        break;
    case QV_WIRE_FREE:
        qd_on_free(q);
        break;
    case QV_WIRE_WRITE:
        qd_on_copy(q, 1);
        break;
    case QV_WIRE_READ:
        qd_on_copy(q, 0);
        break;
    case QV_WIRE_RUN:
        /* A short run on a board whose driver sleeps runs here, and its
         * reply goes out with this turn's: the driver's wake-up and the
         * reply's hand-off back were most of what a 64-byte run took over
         * a heartbeat (bench_remote). */
        qv__devq_hold_begin(qd_s.d->rt);
        qd_in_run = true;
        qd_on_run(q);
        qv__devq_hold_end(qd_s.d->rt);
        qd_in_run = false;
        break;
    default:
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_ENOTSUP, "unexpected %s",
                       qv__wire_type_name(q->m.type));
    }
    if (qd_s.auth)
        qd_client_note_key(q);
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
        if (zmq_msg_recv(&tmp, qd_s.sock, total ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&tmp);
            if (total == 0) {
                if (errno == EAGAIN)
                    qv__zwait_drained(&qd_s.sw);
                return -1;
            }
            if (errno == EINTR)
                continue;
            break;
        }
        qv__zwait_used(&qd_s.sw);
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
        qd_monitor_drain(); /* see there */
        if (q.rlen <= 255 && qd_client_seen(q.rid, q.rlen, fd)) {
            handle(&q, frames, n - 1, total);
            qd_client_seen(q.rid, q.rlen, fd); /* a client ALLOC made */
        }
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
    return 0;
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
    if (rc == 0 && zmq_ctx_set(qd_s.ctx, ZMQ_THREAD_AFFINITY_CPU_ADD, k) != 0)
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
    qd_s.ctx = zmq_ctx_new();
    if (qd_s.ctx && pin_socket_threads(d->opt) != 0)
        return -1;
    qd_s.sock = qd_s.ctx ? zmq_socket(qd_s.ctx, ZMQ_ROUTER) : NULL;
    if (!qd_s.sock) {
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
    zmq_setsockopt(qd_s.sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(qd_s.sock, ZMQ_SNDHWM, &shwm, sizeof shwm);
    zmq_setsockopt(qd_s.sock, ZMQ_RCVHWM, &rhwm, sizeof rhwm);
    zmq_setsockopt(qd_s.sock, ZMQ_LINGER, &linger, sizeof linger);
    if (strchr(d->opt->listen, '[')) /* tcp://[::1]:PORT */
        zmq_setsockopt(qd_s.sock, ZMQ_IPV6, &one, sizeof one);
    int64_t maxmsg = (int64_t)d->limits.max_data + 4096;
    zmq_setsockopt(qd_s.sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (d->opt->keys) {
        char err[512];
        if (!qv__auth_has_curve()) {
            qd_log("--keys %s: this libzmq has no CURVE support", d->opt->keys);
            return -1;
        }
        if (qv__auth_server_start(qd_s.ctx, qd_s.sock, d->opt->keys, &qd_s.auth, err,
                                  sizeof err)) {
            qd_log("--keys %s: %s", d->opt->keys, err);
            return -1;
        }
        qv__auth_on_refusal(qd_s.auth, qd_log_refusal);
        d->curve = 1;
        char key[4200];
        unsigned mode;
        snprintf(key, sizeof key, "%s/server.key", d->opt->keys);
        if (qv__auth_key_exposed(key, &mode))
            qd_log("warning: %s, the daemon's secret key, is readable by its group or "
                   "others (mode %04o): whoever reads it can pose as this daemon; chmod "
                   "600 it", key, mode);
        qd_log("CURVE: %zu authorized client keys in %s/authorized",
               qv__auth_clients(qd_s.auth), d->opt->keys);
        qd_keys_warn(d->opt->keys);
    }
    /* Disconnections free the buffers of the peers that went. */
    qd_s.mon = zmq_socket(qd_s.ctx, ZMQ_PAIR);
    if (!qd_s.mon ||
        qv__zmonitor(qd_s.sock, "inproc://quiverd.monitor",
                     ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                         ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                         ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
        qv__zconnect(qd_s.mon, "inproc://quiverd.monitor") != 0 ||
        qv__zwait_init(&qd_s.sw, qd_s.sock) != 0 ||
        qv__zwait_init(&qd_s.mw, qd_s.mon) != 0) {
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
    if (qv__zbind(qd_s.sock, d->opt->listen) != 0) {
        qd_log("cannot listen on %s: %s", d->opt->listen, zmq_strerror(errno));
        return -1;
    }
    /* The endpoint bound: tcp://127.0.0.1:* names the port chosen. */
    char ep[512];
    size_t eplen = sizeof ep;
    if (zmq_getsockopt(qd_s.sock, ZMQ_LAST_ENDPOINT, ep, &eplen) != 0)
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
    if (qd_s.sock && qd_s.mon)
        zmq_socket_monitor(qd_s.sock, NULL, 0);
    if (qd_s.mon)
        zmq_close(qd_s.mon);
    if (qd_s.sock)
        zmq_close(qd_s.sock);
    qv__auth_stop(qd_s.auth); /* before the context ends */
    /* A signal (another SIGTERM) interrupts the wait for ZeroMQ's threads
     * with EINTR: waited for again, or they outlive the context. */
    while (qd_s.ctx && zmq_ctx_term(qd_s.ctx) != 0 && errno == EINTR)
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
    pthread_mutex_lock(&qd_s.cq_mu);
    for (qd_reply *r = qd_s.owed; r; r = r->onext)
        qd_reply_error(r->rid, r->rlen, r->req_id, QV_ESHUTDOWN,
                       "the daemon stopped (SIGTERM) before this request finished");
    pthread_mutex_unlock(&qd_s.cq_mu);
    qd_take_completions();
    qd_outbox_send(UINT64_MAX);
    if (qd_s.reloader_started) /* it reads the ZAP handler's keys (review) */
        pthread_join(qd_s.reloader, NULL);
    sockets_close(); /* the socket lingers 1 s for the replies */
    qd_log("stopped, %u requests failed", atomic_load(&qd_s.pending));
    fflush(NULL);
    _exit(0);
}

int qd_serve(qd_daemon *d)
{
    int status = 1;
    qd_s.d = d;
    /* Buffer ids from a random start: a host that read an id from the
     * daemon before this one must not find it naming one of this one's
     * buffers (the host checks as well; review finding). */
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = d->instance * 0x9e3779b97f4a7c15u;
    qd_s.next_buf = (seed >> 2) | (1ull << 32);
    qd_s.pipe_r = qd_s.pipe_w = -1;
    pthread_mutex_init(&qd_s.cq_mu, NULL);
    pthread_mutex_init(&qd_s.sock_mu, NULL);
    pthread_mutex_init(&qd_s.job_mu, NULL);
    pthread_cond_init(&qd_s.job_cv, NULL);
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        qd_log("pipe: %s", strerror(errno));
        goto out;
    }
    qd_s.pipe_r = fds[0];
    qd_s.pipe_w = fds[1];
    if (qd_make_copy_funcs(d->rt)) {
        qd_log("cannot register the copy functions: %s", qv_last_error());
        goto out;
    }
    for (; qd_s.nwaiters < QD_WAITERS; qd_s.nwaiters++)
        if (pthread_create(&qd_s.waiters[qd_s.nwaiters], NULL, qd_waiter_main, NULL))
            break;
    if (!qd_s.nwaiters || open_socket(d))
        goto out;
    int stopping = 0;
    uint64_t deadline = 0;
    pthread_mutex_lock(&qd_s.sock_mu);
    for (;;) {
        if (qd_stop && !stopping) {
            stopping = 1;
            deadline = qd_now_ns() + 30ull * 1000000000u;
            qd_log("stopping: finishing %u requests in flight",
                   atomic_load(&qd_s.pending));
        }
        if (qd_reload && !stopping) /* (a stop forgets it) */
            qd_reload_start(d->opt->keys);
        if (atomic_exchange(&qd_s.reloaded, false))
            qd_sweep_revoked();
        qd_take_completions();
        qd_outbox_flush();
        if (stopping && atomic_load(&qd_s.pending) == 0) {
            /* A reply is queued before its pending count drops: once the
             * count is 0, taking the queue again gets every reply. */
            qd_take_completions();
            qd_outbox_flush();
            if (!qd_s.out_head)
                break;
        }
        if (stopping && qd_now_ns() > deadline) {
            qd_log("stopping: %u requests still in flight after 30 s; they fail, and "
                   "the daemon exits without them",
                   atomic_load(&qd_s.pending));
            abandon();
        }
        if (!stopping && qd_s.nodes_since_reset > QD_GRAPH_RESET_NODES &&
            atomic_load(&qd_s.pending) == 0) {
            qv_graph_reset(d->rt); /* nothing in flight: returns at once */
            qd_s.nodes_since_reset = 0;
        }
        /* In microseconds: a reply --delay-us holds back for less than a
         * millisecond is waited for asleep, not by polling in a loop (a
         * core taken from the runs on a small machine). */
        long timeout = stopping ? 20000 : 1000000;
        if (qd_s.out_head) {
            uint64_t now = qd_now_ns();
            uint64_t wait = qd_s.out_head->due_ns > now ? qd_s.out_head->due_ns - now : 0;
            if ((long)((wait + 999) / 1000u) < timeout)
                timeout = (long)((wait + 999) / 1000u);
        }
        /* The pipe and the monitor wake the wait too; while stopping, the
         * socket is not read (nothing new is taken on). */
        if (!qd_s.mw.armed)
            qd_monitor_drain(); /* its descriptor wakes the wait only once armed */
        struct pollfd pf[2] = {{qd_s.pipe_r, POLLIN, 0}, {qd_s.mw.zfd, POLLIN, 0}};
        int rc = 1;
        if (stopping || !qv__zwait_arm(&qd_s.sw)) {
            pthread_mutex_unlock(&qd_s.sock_mu);
            rc = stopping ? poll(pf, 1, (int)((timeout + 999) / 1000))
                          : qv__zwait_poll(&qd_s.sw, pf, 2, timeout);
            if (stopping && rc < 0)
                rc = -errno;
            pthread_mutex_lock(&qd_s.sock_mu);
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
            qd_pipe_drain();
        if (pf[1].revents)
            qd_monitor_drain();
        qd_rate_flush(&qd_rate_dropped);
        qd_rate_flush(&qd_rate_handshake);
        qd_rate_flush(&qd_rate_never);
        if (!stopping && rc > 0) {
            for (int i = 0; i < 256 && !qd_stop; i++) {
                if (receive_one())
                    break;
                qd_take_completions();
                qd_outbox_flush();
            }
        }
    }
    pthread_mutex_unlock(&qd_s.sock_mu);
    status = 0;
out:
    if (qd_s.reloader_started) /* before the ZAP handler goes */
        pthread_join(qd_s.reloader, NULL);
    pthread_mutex_lock(&qd_s.job_mu);
    qd_s.job_quit = 1;
    pthread_cond_broadcast(&qd_s.job_cv);
    pthread_mutex_unlock(&qd_s.job_mu);
    for (unsigned i = 0; i < qd_s.nwaiters; i++)
        pthread_join(qd_s.waiters[i], NULL);
    if (status == 0)
        qv_wait_all(d->rt);
    qd_take_completions();
    while (qd_s.out_head) {
        qd_reply *r = qd_s.out_head;
        qd_s.out_head = r->next;
        qd_reply_free(r);
    }
    for (size_t i = 0; i < qd_s.tcap; i++) {
        for (qd_buf *b = qd_s.table[i], *nx; b; b = nx) {
            nx = b->next;
            qv_buf_unregister(b->buf);
            free(b->mem);
            free(b);
        }
    }
    free(qd_s.table);
    while (qd_s.clients) {
        qd_client *c = qd_s.clients;
        qd_s.clients = c->next;
        qd_acct_drop(c->acct);
        free(c);
    }
    free(qd_s.fd_gone);
    qd_s.fd_gone = NULL;
    qd_s.nfd_gone = 0;
    sockets_close();
    if (qd_s.pipe_r >= 0)
        close(qd_s.pipe_r);
    if (qd_s.pipe_w >= 0)
        close(qd_s.pipe_w);
    if (status == 0)
        qd_log("stopped");
    return status;
}
