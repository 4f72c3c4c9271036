/*
 * quiver.c - the libquiver side: one runtime with the CPU, the local
 * emulated board and the board quiverd serves, vadd registered with its
 * catalog kernel and kept (qv_func_set_where) to one board class at a
 * time, so that each measured task runs where it is meant to or fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote.h"
#include "vadd/vadd_ref.h"

struct br_quiver {
    qv_runtime *rt;
    qv_func *f;
    qv_buf *ba, *bb, *bo;
    uint32_t n;
    float *a;
};

static void cpu_vadd(const qv_call *c)
{
    qv_hls_vadd_ref(c->ptr[0], c->ptr[1], c->ptr[2], *(const uint32_t *)c->ptr[3]);
}

br_quiver *br_quiver_open(const char *policy, uint32_t n, float *a, float *b, float *out)
{
    br_quiver *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->n = n;
    q->a = a;
    qv_options o;
    qv_options_init(&o);
    o.ncpu = 1; /* two cores for the host, the daemon and the echo */
    o.config = policy;
    o.perfmodel_dir = "";
    o.opencl = 0;
    qv_arg_desc d[] = {QV_ARG_BUF("a", QV_R), QV_ARG_BUF("b", QV_R),
                       QV_ARG_BUF("out", QV_W), QV_ARG_SCALAR("n", uint32_t)};
    size_t bytes = (size_t)n * sizeof(float);
    int rc = qv_runtime_create(&o, &q->rt);
    if (!rc)
        rc = qv_func_create(q->rt, "vadd", d, 4, &q->f);
    if (!rc)
        rc = qv_func_set_cpu(q->f, cpu_vadd);
    if (!rc)
        rc = qv_func_set_fpga(q->f, "vadd");
    if (!rc)
        rc = qv_buf_register(q->rt, a, bytes, &q->ba);
    if (!rc)
        rc = qv_buf_register(q->rt, b, bytes, &q->bb);
    if (!rc)
        rc = qv_buf_register(q->rt, out, bytes, &q->bo);
    if (rc) {
        fprintf(stderr, "bench_remote: runtime of %s: %s (%s)\n", policy, qv_strerror(rc),
                qv_last_error());
        br_quiver_close(q);
        return NULL;
    }
    return q;
}

static int submit_wait(br_quiver *q)
{
    qv_arg args[] = {QV_BUF(q->ba), QV_BUF(q->bb), QV_BUF(q->bo), QV_VAL(q->n)};
    BR_CHECK(qv_submit(q->rt, q->f, args, 4));
    BR_CHECK(qv_wait_all(q->rt));
    /* The result home: free where the run brought it home already (the
     * remote board), a copy where it did not (the local board). */
    BR_CHECK(qv_buf_wait(q->bo));
    return 0;
}

int br_quiver_place(br_quiver *q, qv_class cls, int warm, double *first_us)
{
    BR_CHECK(qv_func_set_where(q->f, 1u << cls));
    for (int i = 0; i < warm; i++) {
        double t0 = br_now();
        if (submit_wait(q) != 0)
            return -1;
        if (i == 0 && first_us)
            *first_us = (br_now() - t0) * 1e6;
    }
    return 0;
}

int br_quiver_vadd(br_quiver *q, int write_a, double *us)
{
    double t0 = br_now();
    if (write_a) {
        BR_CHECK(qv_buf_acquire(q->ba, QV_W));
        q->a[0] += 1.0f;
        BR_CHECK(qv_buf_release(q->ba));
    }
    if (submit_wait(q) != 0)
        return -1;
    *us = (br_now() - t0) * 1e6;
    return 0;
}

int br_quiver_device(br_quiver *q, qv_class cls, qv_device_info *di)
{
    for (unsigned d = 1; d < qv_device_count(q->rt); d++)
        if (qv_device_get(q->rt, d, di) == 0 && di->cls == cls)
            return (int)d;
    return -1;
}

void br_quiver_close(br_quiver *q)
{
    if (!q)
        return;
    if (q->bo)
        qv_buf_unregister(q->bo);
    if (q->bb)
        qv_buf_unregister(q->bb);
    if (q->ba)
        qv_buf_unregister(q->ba);
    qv_runtime_destroy(q->rt);
    free(q);
}
