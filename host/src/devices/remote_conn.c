/*
 * remote_conn.c - a remote board's frames on a ZeroMQ socket: sending an
 * encoded request (its body handed to ZeroMQ, its data frame the host's
 * memory, neither copied), receiving and decoding a reply, and dialling a
 * daemon: a DEALER of its own context, the CURVE client keys when the board
 * names a server key, and the HELLO that must be answered before anything
 * else is sent. The link (remote_link.c) and `quiver devices` share them.
 */
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alone.h"
#include "core/internal.h"
#include "devices/remote_link.h"
#include "qv_text.h"

void qv__rhello_fini(qv__rhello *h)
{
    for (size_t i = 0; i < h->nkernels; i++) {
        free(h->kernel[i]);
        free(h->func[i]);
    }
    free(h->kernel);
    free(h->func);
    for (size_t i = 0; i < h->nboard; i++)
        free(h->board[i]);
    free(h->board);
    memset(h, 0, sizeof *h);
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
int qv__rconn_send(void *sock, qv_wire_enc *e)
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
        if (zmq_msg_init_data(&f, (void *)e->data.data, e->data.size, keep_data, NULL) !=
            0)
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

/* Receives one whole message into parts (QV__RCONN_MAX_PARTS, initialised here);
 * *n frames kept (n > QV__RCONN_MAX_PARTS: there were more, dropped). 1 when none
 * is waiting, 0 when one came, -errno on a socket error. */
int qv__rconn_recv(void *sock, zmq_msg_t *parts, size_t *n)
{
    *n = 0;
    for (;;) {
        zmq_msg_t extra, *p = *n < QV__RCONN_MAX_PARTS ? &parts[*n] : &extra;
        zmq_msg_init(p);
        if (zmq_msg_recv(p, sock, *n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int err = errno;
            zmq_msg_close(p);
            for (size_t i = 0; i < *n && i < QV__RCONN_MAX_PARTS; i++)
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

void qv__rconn_close_parts(zmq_msg_t *parts, size_t n)
{
    for (size_t i = 0; i < n && i < QV__RCONN_MAX_PARTS; i++)
        zmq_msg_close(&parts[i]);
}

/* Decodes parts into m; 0, or an error with the reason in err. */
int qv__rconn_decode(zmq_msg_t *parts, size_t n, qv_wire_msg *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (n > QV__RCONN_MAX_PARTS) {
        snprintf(err, errlen, "a reply of %zu frames (at most %d)", n,
                 QV__RCONN_MAX_PARTS);
        return QV_EFORMAT;
    }
    qv_wire_frame fr[QV__RCONN_MAX_PARTS];
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
    h->max_calls = r->limits.max_tasks;
    size_t n = 0;
    for (unsigned b = 0; b < r->nboards; b++)
        n += r->boards[b].nkernels;
    h->kernel = calloc(n + 1, sizeof *h->kernel);
    h->func = calloc(n + 1, sizeof *h->func);
    h->board = calloc(r->nboards + 1, sizeof *h->board);
    for (unsigned b = 0; h->board && b < r->nboards; b++)
        if ((h->board[h->nboard] = strdup(r->boards[b].name)))
            h->nboard++;
    if (!h->kernel || !h->func || !h->board || h->nboard < r->nboards) {
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

void qv__rconn_teardown(void **ctx, void **sock)
{
    if (*sock)
        zmq_close(*sock);
    /* Until ZeroMQ's threads are gone (EINTR: a signal cut the wait short;
     * the runtime's threads block signals, a caller's may not): only then
     * does it hold no pointer into a host buffer. */
    while (*ctx && zmq_ctx_term(*ctx) != 0 && errno == EINTR)
        ;
    *sock = *ctx = NULL;
}

/* Whether endpoint's host (tcp://HOST:PORT) does not resolve: a host name
 * that does not exist looked like a daemon that refused the handshake
 * (adversarial testing). Asked only once a hello went unanswered; why
 * gets the resolver's reason. */
static bool unresolved(const char *endpoint, char *why, size_t n)
{
    char host[256];
    bool v6;
    if (!qv__tcp_host(endpoint, host, sizeof host, &v6))
        return false;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (res)
        freeaddrinfo(res);
    if (rc == 0 || rc == EAI_AGAIN) /* resolves, or the resolver is down */
        return false;
    snprintf(why, n, "cannot resolve host '%.100s': %s", host, gai_strerror(rc));
    return true;
}

/* Connects a DEALER to l's endpoint and says HELLO: 0 with the socket,
 * its context and the daemon's description; else an error with the
 * reason in err and nothing left open. Waits at most l->timeout_ms, and
 * returns early (-ECANCELED) when wakefd (>= 0) is signalled. */
int qv__rconn_dial(const qv__rlink *l, int wakefd, void **ctxp, void **sockp,
                   qv__rhello *h, char *err, size_t errlen)
{
    /* The context's first socket starts ZeroMQ's threads: a wrapped
     * program waits for its own threads only (core/alone.c), and these
     * are the runtime's, made again on each reconnection. */
    qv__alone_before win;
    qv__alone_window_begin(&win);
    void *ctx = zmq_ctx_new(), *sock = ctx ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    qv__alone_window_end(&win);
    int rc = 0;
    if (!sock) {
        snprintf(err, errlen, "cannot make a ZeroMQ socket: %s", zmq_strerror(errno));
        qv__rconn_teardown(&ctx, &sock);
        return QV_ENOMEM;
    }
    /* Linger 0: a socket closed after a fault drops what it had not sent.
     * No high-water mark: the runtime bounds what is in flight. No
     * reconnection: a socket talks to the one daemon that answered its
     * hello, so that no request meant for a daemon that died reaches the
     * one started in its place (with other buffers under the same ids);
     * the link reconnects with a new socket and a new hello instead. */
    int zero = 0, never = -1, one = 1;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    /* IPv6 for an IPv6 address: a board at tcp://[::1]:5555 never
     * connected (ZeroMQ's sockets are IPv4 only unless told; adversarial
     * testing). Only then: with it, a name is looked up as IPv6 first, and
     * "localhost" went to ::1 while quiverd listened on IPv4 (review). */
    if (!strncmp(l->endpoint, "tcp://[", 7))
        zmq_setsockopt(sock, ZMQ_IPV6, &one, sizeof one);
    zmq_setsockopt(sock, ZMQ_RECONNECT_IVL, &never, sizeof never);
    zmq_setsockopt(sock, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &zero, sizeof zero);
    /* No reply is larger than the host asks for (4 MiB of data at a time)
     * or than a body may be (the decoder's 16 MiB): a peer that sends more
     * is dropped by ZeroMQ before it is held (an adversarial finding: a
     * fake daemon's 2 GB frame was received whole). */
    qv_wire_limits lim;
    qv__wire_limits_default(&lim);
    int64_t most = (int64_t)lim.max_body + (32 << 20);
    zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &most, sizeof most);
    if (l->server_key[0]) {
        char pub[QV__KEY_Z85 + 1], sec[QV__KEY_Z85 + 1];
        const char *cpub = l->client_pub[0] ? l->client_pub : NULL, *csec = l->client_sec;
        if (!csec[0]) {
            /* No client key configured: an ephemeral pair (a daemon that
             * checks keys refuses it; one that does not still encrypts). */
            if (zmq_curve_keypair(pub, sec) != 0) {
                snprintf(err, errlen,
                         "no client key (client_key_file) and no CURVE "
                         "in libzmq to make one");
                qv__rconn_teardown(&ctx, &sock);
                return QV_ENOTSUP;
            }
            cpub = pub;
            csec = sec;
        }
        rc = qv__auth_client(sock, l->server_key, cpub, csec, err, errlen);
        memset(sec, 0, sizeof sec);
        if (rc) {
            qv__rconn_teardown(&ctx, &sock);
            return QV_ENOTSUP;
        }
    }
    if (qv__zconnect(sock, l->endpoint) != 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", l->endpoint,
                 zmq_strerror(errno));
        qv__rconn_teardown(&ctx, &sock);
        return QV_EIO;
    }
    qv_wire_msg m;
    memset(&m, 0, sizeof m);
    m.type = QV_WIRE_HELLO;
    m.id = QV__RCONN_HELLO_ID;
    m.u.hello.client = "libquiver";
    qv_wire_enc e;
    if ((rc = qv__wire_encode(&m, &e)) != 0 || (rc = qv__rconn_send(sock, &e)) != 0) {
        qv__wire_enc_fini(&e);
        snprintf(err, errlen, "cannot send hello: %s", qv_strerror(rc));
        qv__rconn_teardown(&ctx, &sock);
        return QV_EIO;
    }
    qv__wire_enc_fini(&e);
    uint64_t until = qv__now_ns() + (uint64_t)l->timeout_ms * 1000000u;
    for (;;) {
        uint64_t now = qv__now_ns();
        if (now >= until) {
            char why[256];
            if (unresolved(l->endpoint, why, sizeof why)) {
                snprintf(err, errlen, "no answer to hello from %s within %u ms: %s",
                         l->endpoint, l->timeout_ms, why);
                qv__rconn_teardown(&ctx, &sock);
                return QV_ETIMEDOUT;
            }
            /* ZeroMQ drops a handshake it refuses without a word: a key
             * the daemon does not authorize, or one side with keys and the
             * other plain, look like a daemon that is not there. */
            snprintf(err, errlen, "no answer to hello from %s within %u ms (no daemon "
                     "there, or it refused the handshake: %s; its log says which)",
                     l->endpoint, l->timeout_ms,
                     !l->server_key[0] ? "the daemon wants a CURVE key, and the board "
                                         "file names none"
                     : l->client_sec[0] ? "the board's server_key is not this daemon's "
                                          "public key, this host's client key is not "
                                          "authorized there, or the daemon serves plain"
                                        : "the board's server_key is not this daemon's "
                                          "public key, the board names no client_key_file "
                                          "(a key made for this run is never authorized), "
                                          "or the daemon serves plain");
            qv__rconn_teardown(&ctx, &sock);
            return QV_ETIMEDOUT;
        }
        zmq_pollitem_t it[2] = {{sock, 0, ZMQ_POLLIN, 0}, {NULL, wakefd, ZMQ_POLLIN, 0}};
        long ms = (long)((until - now) / 1000000u) + 1;
        if (zmq_poll(it, wakefd >= 0 ? 2 : 1, ms) < 0 && errno != EINTR) {
            snprintf(err, errlen, "poll: %s", zmq_strerror(errno));
            qv__rconn_teardown(&ctx, &sock);
            return QV_EIO;
        }
        if (wakefd >= 0 && (it[1].revents & ZMQ_POLLIN)) {
            snprintf(err, errlen, "stopped");
            qv__rconn_teardown(&ctx, &sock);
            return -ECANCELED;
        }
        if (!(it[0].revents & ZMQ_POLLIN))
            continue;
        zmq_msg_t parts[QV__RCONN_MAX_PARTS];
        size_t n;
        if (qv__rconn_recv(sock, parts, &n) != 0)
            continue;
        char why[200];
        rc = qv__rconn_decode(parts, n, &m, why, sizeof why);
        if (!rc && m.id != QV__RCONN_HELLO_ID) { /* not ours: a stray reply */
            qv__wire_msg_fini(&m);
            qv__rconn_close_parts(parts, n);
            continue;
        }
        if (rc)
            snprintf(err, errlen, "the answer to hello is malformed: %s", why);
        else if (m.type == (QV_WIRE_ERROR | QV_WIRE_REPLY))
            snprintf(err, errlen, "the daemon refused hello: %s (%s)", m.u.error.message,
                     qv_strerror(m.u.error.code)),
                rc = QV_ENOTSUP;
        else if (m.type != (QV_WIRE_HELLO | QV_WIRE_REPLY))
            snprintf(err, errlen, "a %s reply to hello", qv__wire_type_name(m.type)),
                rc = QV_EFORMAT;
        else if (m.u.hello_reply.version != QV_WIRE_VERSION)
            snprintf(err, errlen, "the daemon speaks protocol version %u, not %u",
                     m.u.hello_reply.version, QV_WIRE_VERSION),
                rc = QV_ENOTSUP;
        else if ((rc = hello_keep(&m.u.hello_reply, h)) != 0)
            snprintf(err, errlen, "out of memory");
        qv__wire_msg_fini(&m);
        qv__rconn_close_parts(parts, n);
        if (rc) {
            qv__rconn_teardown(&ctx, &sock);
            return rc == QV_ENOMEM ? rc : rc == QV_ENOTSUP ? rc : QV_EIO;
        }
        *ctxp = ctx;
        *sockp = sock;
        return 0;
    }
}
