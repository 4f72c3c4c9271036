/*
 * serve_bufs.c - quiverd's buffers and clients: the table of daemon-side
 * buffers by id, the clients that hold them, ALLOC and FREE, and what
 * goes when a client does.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

static size_t slot(uint64_t id, size_t cap)
{
    return (size_t)((id * 0x9e3779b97f4a7c15u) >> 17) & (cap - 1);
}

static qd_buf *buf_find(uint64_t id)
{
    if (!qd_s.tcap)
        return NULL;
    for (qd_buf *b = qd_s.table[slot(id, qd_s.tcap)]; b; b = b->next)
        if (b->id == id)
            return b;
    return NULL;
}

static int buf_insert(qd_buf *nb)
{
    if (qd_s.tn + 1 > qd_s.tcap) {
        size_t cap = qd_s.tcap ? qd_s.tcap * 2 : 64;
        qd_buf **t = calloc(cap, sizeof *t);
        if (!t)
            return -1;
        for (size_t i = 0; i < qd_s.tcap; i++) {
            for (qd_buf *b = qd_s.table[i], *nx; b; b = nx) {
                nx = b->next;
                b->next = t[slot(b->id, cap)];
                t[slot(b->id, cap)] = b;
            }
        }
        free(qd_s.table);
        qd_s.table = t;
        qd_s.tcap = cap;
    }
    size_t s = slot(nb->id, qd_s.tcap);
    nb->next = qd_s.table[s];
    qd_s.table[s] = nb;
    qd_s.tn++;
    return 0;
}

static void buf_remove(qd_buf *rb)
{
    for (qd_buf **p = &qd_s.table[slot(rb->id, qd_s.tcap)]; *p; p = &(*p)->next) {
        if (*p == rb) {
            *p = rb->next;
            qd_s.tn--;
            return;
        }
    }
}

/* Whether c is the client of routing id rid. */
bool qd_rid_is(const qd_client *c, const uint8_t *rid, size_t rlen)
{
    return c->rlen == rlen && memcmp(c->rid, rid, rlen) == 0;
}

qd_client *qd_client_find(const uint8_t *rid, size_t rlen, int create)
{
    for (qd_client *c = qd_s.clients; c; c = c->next)
        if (qd_rid_is(c, rid, rlen))
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
    c->next = qd_s.clients;
    qd_s.clients = c;
    return c;
}

static void client_drop_if_empty(qd_client *c)
{
    if (c->nbufs)
        return;
    for (qd_client **p = &qd_s.clients; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            qd_acct_drop(c->acct);
            free(c);
            return;
        }
    }
}

/* The buffer id names for this peer, or NULL. */
qd_buf *qd_buf_of(const uint8_t *rid, size_t rlen, uint64_t id)
{
    qd_buf *b = buf_find(id);
    if (!b || b->owner->rlen != rlen || memcmp(b->owner->rid, rid, rlen) != 0)
        return NULL;
    return b;
}

/* Drops a reference to b; the last one forgets the buffer (waiting for the
 * tasks that still use it) and frees it. Any thread but a task's. */
void qd_buf_unref(qd_buf *b)
{
    if (atomic_fetch_sub(&b->refs, 1) != 1)
        return;
    if (qv_buf_unregister(b->buf))
        qd_log("buffer %" PRIu64 ": %s", b->id, qv_last_error());
    atomic_fetch_sub(&qd_s.mem_held, b->size);
    free(b->mem);
    free(b);
}

/* Whether len more bytes fit under cap with have taken. */
bool qd_fits(uint64_t have, uint64_t len, uint64_t cap)
{
    return have <= cap && len <= cap - have;
}

void qd_on_alloc(qd_req *q)
{
    const qv_wire_limits *lim = &qd_s.d->limits;
    uint64_t size = q->m.u.alloc.size;
    qd_client *c = qd_client_find(q->rid, q->rlen, 0);
    uint64_t have = c ? c->bytes : 0;
    uint32_t nb = c ? c->nbufs : 0;
    if (size > lim->max_bytes - have || nb >= lim->max_bufs || size > SIZE_MAX) {
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_E2BIG,
                       "alloc of %" PRIu64 " bytes: this client holds %" PRIu32
                       " buffers of %" PRIu64 " bytes, the limits are %" PRIu32
                       " buffers and %" PRIu64 " bytes",
                       size, nb, have, lim->max_bufs, lim->max_bytes);
        return;
    }
    /* All clients together (--max-memory): each client's limit holds per
     * connection, and a client may open many (review finding). */
    uint64_t all = atomic_load(&qd_s.mem_held), cap = qd_s.d->opt->max_memory;
    if (!qd_fits(all, size, cap)) {
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_ENOMEM,
                       "alloc of %" PRIu64
                       " bytes: the buffers of all clients take %" PRIu64
                       " bytes, at most %" PRIu64 " (--max-memory)",
                       size, all, cap);
        return;
    }
    qd_buf *b = calloc(1, sizeof *b);
    void *mem = calloc(1, (size_t)size); /* zeroed: no other client's bytes */
    c = qd_client_find(q->rid, q->rlen, 1);
    int rc = (b && mem && c) ? qv_buf_register(qd_s.d->rt, mem, (size_t)size, &b->buf)
                             : QV_ENOMEM;
    if (b)
        b->id = ++qd_s.next_buf;
    if (rc || buf_insert(b)) {
        if (!rc)
            qv_buf_unregister(b->buf);
        free(b);
        free(mem);
        if (c)
            client_drop_if_empty(c);
        qd_reply_error(q->rid, q->rlen, q->m.id, rc ? rc : QV_ENOMEM,
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
    qd_s.c_bytes_alloc += size;
    atomic_fetch_add(&qd_s.mem_held, size);
    qv_wire_msg m = {.type = QV_WIRE_ALLOC | QV_WIRE_REPLY, .id = q->m.id};
    m.u.alloc_reply.buf = b->id;
    qd_reply_msg(q->rid, q->rlen, &m);
}

/* Forgets b and gives its memory back at once if nothing uses it (no run,
 * no copy task): its device copies are dropped unread (QV_W), as a copy
 * home of a large one would hold the socket thread. false: in use, b is
 * as it was. A FREE's memory went only once a waiter had run, so a
 * client's ALLOC just after its FREE was refused past --max-memory on a
 * loaded machine (test_remote, refused_alloc_runs_elsewhere). */
static bool buf_release_now(qd_buf *b)
{
    int rc = qv_buf_try_acquire(b->buf, QV_W);
    if (rc) {
        if (rc != QV_EBUSY) /* a failed task's error, taken now: said */
            qd_log("buffer %" PRIu64 ": %s", b->id, qv_last_error());
        return false;
    }
    qv_buf_release(b->buf);
    /* Written by the host last and used by nothing: only a task that just
     * ended and still counts for a moment makes this fail (QV_EBUSY).
     * Any other error comes once the buffer is forgotten (a device's copy
     * that could not be dropped): said, and b goes too. */
    rc = qv_buf_try_unregister(b->buf);
    if (rc == QV_EBUSY)
        return false;
    if (rc)
        qd_log("buffer %" PRIu64 ": %s", b->id, qv_last_error());
    atomic_fetch_sub(&qd_s.mem_held, b->size);
    free(b->mem);
    free(b);
    return true;
}

/* Takes b out of the table and its owner's account and drops the table's
 * reference: forgotten at once when nothing uses it, else by a waiter once
 * the runs that use it are done. */
static void buf_drop(qd_buf *b)
{
    buf_remove(b);
    b->owner->bytes -= b->size;
    b->owner->nbufs--;
    qd_s.c_bytes_alloc -= b->size;
    b->owner = NULL;
    if (atomic_fetch_sub(&b->refs, 1) == 1) {
        if (buf_release_now(b))
            return;
        atomic_store(&b->refs, 1); /* the job's */
        qd_job *j = calloc(1, sizeof *j);
        if (j) {
            j->kind = JOB_FREE;
            j->buf = b;
            qd_job_put(j);
        } else {
            qd_buf_unref(b); /* waits here: out of memory anyway */
        }
    }
}

/* Drops every buffer of c's (the tasks that use one finish first). */
void qd_client_free_bufs(qd_client *c)
{
    for (size_t i = 0; i < qd_s.tcap && c->nbufs; i++) {
        for (qd_buf *b = qd_s.table[i], *nx; b; b = nx) {
            nx = b->next;
            if (b->owner == c)
                buf_drop(b);
        }
    }
}

/* A peer whose connection is gone: its buffers go (nobody else may name
 * them) and so does its account. */
void qd_client_gone(qd_client *c)
{
    uint64_t bytes = c->bytes;
    uint32_t n = c->nbufs;
    qd_client_free_bufs(c);
    qd_log("a peer's connection is gone: its %" PRIu32 " buffers (%" PRIu64
           " bytes) are freed",
           n, bytes);
    client_drop_if_empty(c);
}

/* A reply found no peer of routing id rid: its connection is gone, and
 * so are its buffers (an ALLOC handled after it ended made some that no
 * disconnection would free: adversarial testing). Socket thread. */
void qd_peer_unreachable(const uint8_t *rid, size_t rlen)
{
    qd_client *c = qd_client_find(rid, rlen, 0);
    if (c)
        qd_client_gone(c);
}

void qd_on_free(qd_req *q)
{
    qd_buf *b = qd_buf_of(q->rid, q->rlen, q->m.u.free.buf);
    if (!b) {
        qd_reply_error(q->rid, q->rlen, q->m.id, QV_ENOENT, "free: no buffer %" PRIu64,
                       q->m.u.free.buf);
        return;
    }
    qd_client *c = b->owner;
    buf_drop(b);
    client_drop_if_empty(c);
    qv_wire_msg m = {.type = QV_WIRE_FREE | QV_WIRE_REPLY, .id = q->m.id};
    qd_reply_msg(q->rid, q->rlen, &m);
}
