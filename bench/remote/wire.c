/*
 * wire.c - quiverd's protocol spoken from a bare DEALER, with libquiver's
 * own codec (remote/wire.h) and frame helpers (devices/remote_link.h) but
 * no runtime on the host: the requests a task on the remote board costs,
 * made by hand. Set beside raw ZeroMQ and beside libquiver, it splits a
 * task's round trip into the daemon's share and the host runtime's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/remote_link.h"
#include "remote.h"

struct br_wire {
    qv__rlink l; /* only its name, endpoint and timeout: for the dial */
    void *ctx, *sock;
    qv__rhello hello;
    uint64_t next_id;
    uint64_t buf[3]; /* a, b, out on the daemon */
    uint32_t n;
    const float *a;
    char func[128]; /* what the daemon calls vadd */
};

/* Sends m (its id set here); its id into *id. 0 or -1. */
static int send_msg(br_wire *w, qv_wire_msg *m, uint64_t *id)
{
    m->id = w->next_id++;
    *id = m->id;
    qv_wire_enc e;
    int rc = qv__wire_encode(m, &e);
    if (!rc)
        rc = qv__rconn_send(w->sock, &e);
    qv__wire_enc_fini(&e);
    if (rc)
        fprintf(stderr, "bench_remote: wire: cannot send a %s: %d\n",
                qv__wire_type_name(m->type), rc);
    return rc ? -1 : 0;
}

/* Receives the next reply into m and its frames into parts (closed by the
 * caller with qv__rconn_close_parts, m with qv__wire_msg_fini); an ERROR
 * reply fails. 0 or -1. */
static int recv_msg(br_wire *w, zmq_msg_t *parts, size_t *n, qv_wire_msg *m)
{
    for (;;) {
        zmq_pollitem_t it = {w->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 10000) <= 0) {
            fprintf(stderr, "bench_remote: wire: no reply from quiverd in 10 s\n");
            return -1;
        }
        int rc = qv__rconn_recv(w->sock, parts, n);
        if (rc == 1)
            continue;
        char err[200];
        if (rc < 0 || qv__rconn_decode(parts, *n, m, err, sizeof err) != 0) {
            fprintf(stderr, "bench_remote: wire: a bad reply\n");
            if (rc == 0)
                qv__rconn_close_parts(parts, *n);
            return -1;
        }
        if (m->type == (QV_WIRE_ERROR | QV_WIRE_REPLY)) {
            fprintf(stderr, "bench_remote: wire: quiverd refused request %llu: %s\n",
                    (unsigned long long)m->id, m->u.error.message);
            qv__wire_msg_fini(m);
            qv__rconn_close_parts(parts, *n);
            return -1;
        }
        return 0;
    }
}

/* One request and its reply, nothing else in flight; the reply's m and
 * parts as recv_msg. */
static int call(br_wire *w, qv_wire_msg *m, zmq_msg_t *parts, size_t *n)
{
    uint64_t id;
    if (send_msg(w, m, &id) != 0 || recv_msg(w, parts, n, m) != 0)
        return -1;
    if (m->id != id) {
        fprintf(stderr, "bench_remote: wire: a reply to another request\n");
        qv__wire_msg_fini(m);
        qv__rconn_close_parts(parts, *n);
        return -1;
    }
    return 0;
}

static int write_buf(br_wire *w, uint64_t buf, const void *src, size_t size)
{
    qv_wire_msg m;
    memset(&m, 0, sizeof m);
    m.type = QV_WIRE_WRITE;
    m.u.write.buf = buf;
    m.data.data = src;
    m.data.size = size;
    zmq_msg_t parts[QV__RCONN_MAX_PARTS];
    size_t np;
    if (call(w, &m, parts, &np) != 0)
        return -1;
    qv__wire_msg_fini(&m);
    qv__rconn_close_parts(parts, np);
    return 0;
}

br_wire *br_wire_open(const char *ep, uint32_t n, const float *a, const float *b)
{
    br_wire *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    snprintf(w->l.name, sizeof w->l.name, "bench");
    snprintf(w->l.endpoint, sizeof w->l.endpoint, "%s", ep);
    w->l.timeout_ms = 5000;
    w->next_id = QV__RCONN_HELLO_ID + 1;
    w->n = n;
    w->a = a;
    char err[300];
    if (qv__rconn_dial(&w->l, -1, &w->ctx, &w->sock, &w->hello, err, sizeof err) != 0) {
        fprintf(stderr, "bench_remote: wire: %s\n", err);
        free(w);
        return NULL;
    }
    for (size_t k = 0; k < w->hello.nkernels && !w->func[0]; k++)
        if (!strcmp(w->hello.kernel[k], "vadd"))
            snprintf(w->func, sizeof w->func, "%s", w->hello.func[k]);
    if (!w->func[0]) {
        fprintf(stderr, "bench_remote: wire: quiverd serves no vadd\n");
        br_wire_close(w);
        return NULL;
    }
    zmq_msg_t parts[QV__RCONN_MAX_PARTS];
    size_t np;
    for (int i = 0; i < 3; i++) {
        qv_wire_msg m;
        memset(&m, 0, sizeof m);
        m.type = QV_WIRE_ALLOC;
        m.u.alloc.size = (uint64_t)n * sizeof(float);
        m.u.alloc.bank = QV_WIRE_ANY_BANK;
        if (call(w, &m, parts, &np) != 0) {
            br_wire_close(w);
            return NULL;
        }
        w->buf[i] = m.u.alloc_reply.buf;
        qv__wire_msg_fini(&m);
        qv__rconn_close_parts(parts, np);
    }
    qv_wire_msg m;
    memset(&m, 0, sizeof m);
    m.type = QV_WIRE_LOAD;
    m.u.load.kernel = "vadd";
    if (write_buf(w, w->buf[0], a, n * sizeof(float)) != 0 ||
        write_buf(w, w->buf[1], b, n * sizeof(float)) != 0 ||
        call(w, &m, parts, &np) != 0) {
        br_wire_close(w);
        return NULL;
    }
    qv__wire_msg_fini(&m);
    qv__rconn_close_parts(parts, np);
    return w;
}

int br_wire_round(br_wire *w, unsigned what, float *out, double *us)
{
    size_t bytes = (size_t)w->n * sizeof(float);
    qv_wire_arg args[4];
    memset(args, 0, sizeof args);
    for (int i = 0; i < 3; i++) {
        args[i].kind = QV_WIRE_ARG_BUF;
        args[i].mode = i < 2 ? QV_R : QV_W;
        args[i].buf = w->buf[i];
    }
    args[3].kind = QV_WIRE_ARG_VAL;
    args[3].size = sizeof w->n;
    args[3].val = (const uint8_t *)&w->n;
    qv_wire_task task = {w->func, 4, args};
    /* In the order sent: HEARTBEAT, WRITE a, RUN, READ (out after a run,
     * else a). */
    qv_wire_msg m[4];
    memset(m, 0, sizeof m);
    m[0].type = QV_WIRE_HEARTBEAT;
    m[1].type = QV_WIRE_WRITE;
    m[1].u.write.buf = w->buf[0];
    m[1].data.data = w->a;
    m[1].data.size = bytes;
    m[2].type = QV_WIRE_RUN;
    m[2].u.run.ntasks = 1;
    m[2].u.run.tasks = &task;
    if (what & BR_WIRE_OUT) {
        m[2].u.run.nouts = 1;
        m[2].u.run.outs = &w->buf[2];
    }
    m[3].type = QV_WIRE_READ;
    m[3].u.read.buf = what & BR_WIRE_RUN ? w->buf[2] : w->buf[0];
    m[3].u.read.length = bytes;
    unsigned bit[4] = {BR_WIRE_HEARTBEAT, BR_WIRE_WRITE, BR_WIRE_RUN, BR_WIRE_READ};
    uint64_t id[4] = {0, 0, 0, 0};
    int sent = 0, rc = 0;
    double t0 = br_now();
    for (int i = 0; i < 4; i++)
        if (what & bit[i]) {
            if (send_msg(w, &m[i], &id[i]) != 0)
                return -1;
            sent++;
        }
    for (int i = 0; i < sent; i++) {
        zmq_msg_t parts[QV__RCONN_MAX_PARTS];
        size_t np;
        qv_wire_msg r;
        if (recv_msg(w, parts, &np, &r) != 0)
            return -1;
        if ((what & BR_WIRE_READ) && r.id == id[3]) {
            if (np < 3 || zmq_msg_size(&parts[2]) != bytes)
                rc = -1;
            else
                memcpy(out, zmq_msg_data(&parts[2]), bytes); /* as the backend does */
        } else if ((what & BR_WIRE_RUN) && r.id == id[2] && r.u.run_reply.status) {
            fprintf(stderr, "bench_remote: wire: the run failed: %s\n",
                    qv_strerror(r.u.run_reply.status));
            rc = -1;
        } else if ((what & BR_WIRE_OUT) && r.id == id[2]) {
            if (np < 3 || zmq_msg_size(&parts[2]) != bytes)
                rc = -1;
            else
                memcpy(out, zmq_msg_data(&parts[2]), bytes); /* as the backend does */
        }
        qv__wire_msg_fini(&r);
        qv__rconn_close_parts(parts, np);
    }
    *us = (br_now() - t0) * 1e6;
    return rc;
}

int br_wire_stats(br_wire *w, uint64_t *requests, uint64_t *bytes_in)
{
    qv_wire_msg m;
    memset(&m, 0, sizeof m);
    m.type = QV_WIRE_STATS;
    zmq_msg_t parts[QV__RCONN_MAX_PARTS];
    size_t np;
    if (call(w, &m, parts, &np) != 0)
        return -1;
    *requests = *bytes_in = 0;
    for (unsigned i = 0; i < m.u.stats_reply.n; i++) {
        if (!strcmp(m.u.stats_reply.counters[i].name, "requests"))
            *requests = m.u.stats_reply.counters[i].value;
        if (!strcmp(m.u.stats_reply.counters[i].name, "bytes_in"))
            *bytes_in = m.u.stats_reply.counters[i].value;
    }
    qv__wire_msg_fini(&m);
    qv__rconn_close_parts(parts, np);
    return 0;
}

void br_wire_close(br_wire *w)
{
    if (!w)
        return;
    qv__rconn_teardown(&w->ctx, &w->sock);
    qv__rhello_fini(&w->hello);
    free(w);
}
