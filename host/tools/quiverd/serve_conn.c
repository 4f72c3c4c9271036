/*
 * serve_conn.c - quiverd's connections: which routing ids and fds are live
 * (the socket monitor's events), and the reload of authorized/ keys
 * (SIGHUP) for connections already made.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

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
        qd_client_free_bufs(c);
    qd_log("client %.64s (key %.40s) is no longer in %s/authorized: its %" PRIu32
           " buffers (%" PRIu64 " bytes) are freed, its requests refused",
           user && *user ? user : "?", key && *key ? key : "?", qd_s.d->opt->keys, n,
           bytes);
}

bool qd_still_authorized(qd_req *q)
{
    uint64_t gen = qv__auth_gen(qd_s.auth);
    if (!gen) /* the set its handshake was checked against */
        return true;
    qd_client *c = qd_client_find(q->rid, q->rlen, 0);
    if (c && c->auth_gen == gen)
        return !c->revoked;
    const char *user = zmq_msg_gets(&q->parts[1], "User-Id");
    const char *key = zmq_msg_gets(&q->parts[1], QV__AUTH_KEY_PROP);
    bool ok = qv__auth_allows(qd_s.auth, user, key);
    if (!ok) {
        revoke_log(c, user, key);
        c = qd_client_find(q->rid, q->rlen, 1); /* kept, to refuse at once */
    }
    if (c) {
        c->auth_gen = gen;
        c->revoked = !ok;
    }
    return ok;
}

/* What the set of keys read from keys/authorized/ may not do as meant:
 * refuse every host, or know a host by another file's name. */
void qd_keys_warn(const char *keys)
{
    if (!qv__auth_clients(qd_s.auth))
        qd_log("warning: no client key in %s/authorized: every host is refused until a "
               "key is put there and quiverd gets SIGHUP",
               keys);
    size_t rep = qv__auth_repeated(qd_s.auth);
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
    if (qv__auth_reload(qd_s.auth, err, sizeof err)) {
        qd_log("SIGHUP: %s/authorized: %s; the old keys stay", keys, err);
    } else {
        qd_log("SIGHUP: %zu authorized client keys", qv__auth_clients(qd_s.auth));
        qd_keys_warn(keys);
        atomic_store(&qd_s.reloaded, true);
    }
    atomic_store(&qd_s.reloading, false);
    qd_wake_loop();
    return NULL;
}

/* A SIGHUP came: the reload starts, unless one runs (the signal stays
 * pending until it ended: the files may have changed since it read them).
 * Socket thread. */
void qd_reload_start(const char *keys)
{
    if (!qd_s.auth || atomic_load(&qd_s.reloading))
        return;
    qd_reload = 0;
    if (qd_s.reloader_started)
        pthread_join(qd_s.reloader, NULL); /* done: it cleared reloading */
    atomic_store(&qd_s.reloading, true);
    int e = pthread_create(&qd_s.reloader, NULL, reload_main, (void *)keys);
    qd_s.reloader_started = e == 0;
    if (e) {
        atomic_store(&qd_s.reloading, false);
        qd_log("SIGHUP: cannot start the reload: %s; the old keys stay", strerror(e));
    }
}

/* After a reload of authorized/ (SIGHUP): the clients whose keys left it
 * lose their buffers now, not at their next request. A host that sent
 * nothing (libquiver sends heartbeats only while runs wait) kept its
 * buffers counted against --max-memory, and the other hosts' ALLOCs were
 * refused meanwhile (adversarial testing). Socket thread. */
void qd_sweep_revoked(void)
{
    uint64_t gen = qv__auth_gen(qd_s.auth);
    for (qd_client *c = qd_s.clients; c; c = c->next) {
        if (!c->key[0] || c->auth_gen == gen)
            continue;
        c->auth_gen = gen;
        c->revoked = !qv__auth_allows(qd_s.auth, c->user[0] ? c->user : NULL, c->key);
        if (c->revoked)
            revoke_log(c, c->user, c->key);
    }
}

/* With --keys: q's client, once there is one, keeps its connection's name
 * and key for qd_sweep_revoked. */
void qd_client_note_key(qd_req *q)
{
    qd_client *c = qd_client_find(q->rid, q->rlen, 0);
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
    if ((size_t)fd >= qd_s.nfd_gone) {
        if (!gone)
            return; /* never ended: 0 already */
        size_t n = qd_s.nfd_gone ? qd_s.nfd_gone : 64;
        while (n <= (size_t)fd)
            n *= 2;
        uint8_t *g = realloc(qd_s.fd_gone, n);
        if (!g)
            return; /* a dead connection's requests are served: no harm */
        memset(g + qd_s.nfd_gone, 0, n - qd_s.nfd_gone);
        qd_s.fd_gone = g;
        qd_s.nfd_gone = n;
    }
    qd_s.fd_gone[fd] = gone;
}

/* Whether a request read from fd is a connection's that ended, with no
 * new connection on the fd since (its requests still queued when it
 * ended: a client's ALLOCs handled then made buffers that nobody freed,
 * adversarial testing). Socket thread, after qd_monitor_drain. */
static bool fd_dead(int fd)
{
    return fd >= 0 && (size_t)fd < qd_s.nfd_gone && qd_s.fd_gone[fd];
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
bool qd_client_seen(const uint8_t *rid, size_t rlen, int fd)
{
    if (fd < 0)
        return true;
    if (fd_dead(fd))
        return false;
    bool ordered = rid_auto(rid, rlen); /* else no other client's fd is judged */
    for (qd_client *c = qd_s.clients; ordered && c; c = c->next)
        if (c->fd == fd && !qd_rid_is(c, rid, rlen) && rid_auto(c->rid, c->rlen) &&
            rid_older(rid, c->rid))
            return false;
    for (qd_client *c = qd_s.clients, *nx; c; c = nx) {
        nx = c->next;
        if (qd_rid_is(c, rid, rlen))
            c->fd = fd;
        else if (ordered && c->fd == fd && rid_auto(c->rid, c->rlen))
            qd_client_gone(c);
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
void qd_monitor_drain(void)
{
    if (!qv__zwait_ready(&qd_s.mw))
        return;
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, qd_s.mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            if (errno == EAGAIN)
                qv__zwait_drained(&qd_s.mw);
            break;
        }
        zmq_msg_init(&addr);
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&addr, qd_s.mon, 0);
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
            if (qd_rate_take(&qd_rate_handshake))
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
        for (qd_client *c = qd_s.clients, *nx; c; c = nx) {
            nx = c->next;
            if (c->fd == fd)
                qd_client_gone(c);
        }
    }
}
