/*
 * main.c - runs the user's saxpy kernel (saxpy.c, built for the emulated
 * board by quiver_add_emu_kernel()) through libquiver: registers the
 * function with a CPU implementation and the catalog kernel "saxpy", keeps
 * it to the FPGA class, and checks the result and that the emulated board
 * ran every task.
 *
 *   quiver-emu-kernel POLICY.yaml    (the policy quiver_add_emu_kernel wrote)
 */
#include <stdint.h>
#include <stdio.h>

#include <quiver.h>

enum { N = 100000, RUNS = 3 };

static void saxpy_cpu(const qv_call *c)
{
    const float *x = c->ptr[0];
    float *y = c->ptr[1];
    float a = *(const float *)c->ptr[2];
    uint32_t n = *(const uint32_t *)c->ptr[3];
    for (uint32_t i = 0; i < n; i++)
        y[i] = a * x[i] + y[i];
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: quiver-emu-kernel POLICY.yaml\n");
        return 2;
    }
    static float x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)(i % 1024);
        y[i] = 1.0f;
    }
    qv_options o;
    qv_options_init(&o);
    o.config = argv[1];
    o.perfmodel_dir = "";
    qv_runtime *rt;
    int rc = qv_runtime_create(&o, &rt);
    if (rc) {
        fprintf(stderr, "quiver-emu-kernel: %s: %s\n", qv_strerror(rc), qv_last_error());
        return 1;
    }
    qv_arg_desc d[] = {QV_ARG_BUF("x", QV_R), QV_ARG_BUF("y", QV_RW),
                       QV_ARG_SCALAR("a", float), QV_ARG_SCALAR("n", uint32_t)};
    qv_func *f;
    qv_buf *bx, *by;
    float a = 0.5f;
    uint32_t n = N;
    if (qv_func_create(rt, "saxpy", d, 4, &f) || qv_func_set_cpu(f, saxpy_cpu) ||
        qv_func_set_fpga(f, "saxpy") || qv_func_set_where(f, 1u << QV_CLASS_FPGA) ||
        qv_buf_register(rt, x, sizeof x, &bx) || qv_buf_register(rt, y, sizeof y, &by)) {
        fprintf(stderr, "quiver-emu-kernel: set-up: %s\n", qv_last_error());
        qv_runtime_destroy(rt);
        return 1;
    }
    for (int r = 0; r < RUNS; r++)
        if (qv_submit(rt, f, (qv_arg[]){QV_BUF(bx), QV_BUF(by), QV_VAL(a), QV_VAL(n)},
                      4)) {
            fprintf(stderr, "quiver-emu-kernel: submit: %s\n", qv_last_error());
            qv_runtime_destroy(rt);
            return 1;
        }
    int bad = qv_wait_all(rt) != 0;
    qv_buf_unregister(bx);
    qv_buf_unregister(by);
    qv_device_info board = {.name = "(none)"};
    for (unsigned i = 0; i < qv_device_count(rt); i++) {
        qv_device_info di;
        if (qv_device_get(rt, i, &di) == 0 && di.cls == QV_CLASS_FPGA) {
            board = di;
            break;
        }
    }
    qv_runtime_destroy(rt);
    if (bad) {
        fprintf(stderr, "quiver-emu-kernel: a task failed\n");
        return 1;
    }
    for (int i = 0; i < N; i++) {
        float want = 1.0f + RUNS * 0.5f * (float)(i % 1024);
        if (y[i] != want) {
            fprintf(stderr, "quiver-emu-kernel: wrong result at %d: %g, expected %g\n", i,
                    y[i], want);
            return 1;
        }
    }
    if (board.tasks != RUNS) {
        fprintf(stderr, "quiver-emu-kernel: the board %s ran %llu of %d tasks\n",
                board.name, (unsigned long long)board.tasks, RUNS);
        return 1;
    }
    printf("quiver-emu-kernel: OK: saxpy ran on %s %llu times, board time %.1f us "
           "(modelled)\n",
           board.name, (unsigned long long)board.tasks, board.board_us);
    return 0;
}
