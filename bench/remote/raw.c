/*
 * raw.c - the baselines: ZeroMQ alone, a DEALER here and the echo
 * process's ROUTER (daemon.c) on the same transport as quiverd
 * (tcp://127.0.0.1). A message goes out zero-copy (zmq_msg_init_data on
 * one buffer) and comes back in ZeroMQ's own message; the echo sends back
 * the message it received, without a copy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "remote.h"

void *br_dealer(const char *ep, void **ctx)
{
    *ctx = zmq_ctx_new();
    void *sock = *ctx ? zmq_socket(*ctx, ZMQ_DEALER) : NULL;
    int zero = 0;
    if (sock)
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    if (!sock || zmq_connect(sock, ep) != 0) {
        fprintf(stderr, "bench_remote: cannot connect a DEALER to %s: %s\n", ep,
                zmq_strerror(zmq_errno()));
        br_dealer_close(*ctx, sock);
        *ctx = NULL;
        return NULL;
    }
    return sock;
}

void br_dealer_close(void *ctx, void *sock)
{
    if (sock)
        zmq_close(sock);
    if (ctx)
        zmq_ctx_term(ctx);
}

/* The buffer stays ours: ZeroMQ only reads it while sending. */
static void keep(void *data, void *hint)
{
    (void)data;
    (void)hint;
}

/* The message sent: one buffer, kept from call to call, so that no round
 * trip pays for allocating and touching it. */
static char *sendbuf;
static size_t sendcap;

void br_raw_release(void)
{
    free(sendbuf);
    sendbuf = NULL;
    sendcap = 0;
}

int br_raw_pingpong(void *sock, size_t size, int iters, double *us)
{
    if (size > sendcap) {
        char *nb = realloc(sendbuf, size);
        if (!nb)
            return -1;
        sendbuf = nb;
        sendcap = size;
        for (size_t i = 0; i < size; i++)
            sendbuf[i] = (char)(i * 7);
    }
    char *buf = sendbuf;
    int rc = 0;
    for (int it = 0; it < iters && !rc; it++) {
        buf[0] = (char)it;
        zmq_msg_t out, in;
        zmq_msg_init_data(&out, buf, size, keep, NULL);
        zmq_msg_init(&in);
        double t0 = br_now();
        if (zmq_msg_send(&out, sock, 0) < 0 || zmq_msg_recv(&in, sock, 0) < 0) {
            fprintf(stderr, "bench_remote: raw ZeroMQ: %s\n", zmq_strerror(zmq_errno()));
            rc = -1;
        }
        us[it] = (br_now() - t0) * 1e6;
        /* What came back is what went: the echo is not a sink. */
        if (!rc && (zmq_msg_size(&in) != size || *(char *)zmq_msg_data(&in) != (char)it ||
                    memcmp((char *)zmq_msg_data(&in) + 1, buf + 1, size - 1) != 0)) {
            fprintf(stderr, "bench_remote: raw ZeroMQ: the echo differs\n");
            rc = -1;
        }
        zmq_msg_close(&in);
        if (rc)
            zmq_msg_close(&out);
    }
    return rc;
}
