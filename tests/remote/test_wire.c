/*
 * test_wire.c - the wire codec (host/src/remote/wire.h): every message type
 * encodes and decodes back to itself; the exact header bytes; and what the
 * decoder refuses, with its code and reason: truncated, oversized and
 * garbage frames, wrong frame counts, counts past the limits, unknown
 * versions, types and flags, strings without their NUL, trailing bytes.
 * And a RUN whose outputs come in its reply (QV_WIRE_FLAG_OUTPUTS).
 */
#include "helper.h"

#include "quiver.h"
#include "remote/wire.h"

/* The frames of an encoding. */
static size_t frames_of(const qv_wire_enc *e, qv_wire_frame f[3])
{
    f[0] = (qv_wire_frame){e->head, QV_WIRE_HEADER_SIZE};
    f[1] = (qv_wire_frame){e->body, e->body_size};
    if (e->has_data) {
        f[2] = e->data;
        return 3;
    }
    return 2;
}

/* Encodes m, decodes it into *out (to be finished by the caller) and checks
 * the type and id came back. */
static void round_trip(const qv_wire_msg *m, qv_wire_enc *enc, qv_wire_msg *out)
{
    assert_int_equal(qv__wire_encode(m, enc), 0);
    qv_wire_frame f[3];
    size_t n = frames_of(enc, f);
    char err[256];
    int rc = qv__wire_decode(f, n, NULL, out, err, sizeof err);
    if (rc)
        fprintf(stderr, "decode: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(out->type, m->type);
    assert_true(out->id == m->id);
}

/* Decodes frames expecting rc and a reason containing msg. */
static void refused(const qv_wire_frame *f, size_t n, const qv_wire_limits *lim, int rc,
                    const char *msg)
{
    qv_wire_msg m;
    char err[256];
    int got = qv__wire_decode(f, n, lim, &m, err, sizeof err);
    if (got != rc || !strstr(err, msg))
        fprintf(stderr, "rc %d (want %d): %s (want '%s')\n", got, rc, err, msg);
    assert_int_equal(got, rc);
    assert_non_null(strstr(err, msg));
    assert_null(m.alloc_);
    qv__wire_msg_fini(&m);
}

static void test_header_bytes(void **state)
{
    (void)state;
    qv_wire_msg m = {.type = QV_WIRE_FREE, .id = 0x0102030405060708u};
    m.u.free.buf = 0xabcdef;
    qv_wire_enc e;
    assert_int_equal(qv__wire_encode(&m, &e), 0);
    static const uint8_t want[QV_WIRE_HEADER_SIZE] = {
        'Q', 'V', 'W', 'P', 1, 0, 7, 0, 8, 7, 6, 5, 4, 3, 2, 1,
        8,   0,   0,   0,   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(e.head, want, sizeof want);
    static const uint8_t body[8] = {0xef, 0xcd, 0xab, 0, 0, 0, 0, 0};
    assert_int_equal(e.body_size, 8);
    assert_memory_equal(e.body, body, 8);
    assert_false(e.has_data);
    qv__wire_enc_fini(&e);
    qv__wire_enc_fini(&e);
}

static void test_simple_round_trips(void **state)
{
    (void)state;
    qv_wire_enc e;
    qv_wire_msg d;

    qv_wire_msg m = {.type = QV_WIRE_HELLO, .id = 1};
    m.u.hello.client = "test client";
    round_trip(&m, &e, &d);
    assert_string_equal(d.u.hello.client, "test client");
    qv__wire_msg_fini(&d);
    qv__wire_enc_fini(&e);

    m = (qv_wire_msg){.type = QV_WIRE_LOAD, .id = 2};
    m.u.load.kernel = "vadd";
    round_trip(&m, &e, &d);
    assert_string_equal(d.u.load.kernel, "vadd");
    qv__wire_enc_fini(&e);

    m = (qv_wire_msg){.type = QV_WIRE_ALLOC, .id = 3};
    m.u.alloc.size = (uint64_t)5 << 33;
    m.u.alloc.bank = QV_WIRE_ANY_BANK;
    round_trip(&m, &e, &d);
    assert_true(d.u.alloc.size == (uint64_t)5 << 33);
    assert_int_equal(d.u.alloc.bank, QV_WIRE_ANY_BANK);
    qv__wire_enc_fini(&e);

    m = (qv_wire_msg){.type = QV_WIRE_ALLOC | QV_WIRE_REPLY, .id = 3};
    m.u.alloc_reply.buf = 42;
    round_trip(&m, &e, &d);
    assert_int_equal(d.u.alloc_reply.buf, 42);
    qv__wire_enc_fini(&e);

    static const char bytes[] = "0123456789";
    m = (qv_wire_msg){.type = QV_WIRE_WRITE, .id = 4};
    m.u.write.buf = 42;
    m.u.write.offset = 16;
    m.data = (qv_wire_frame){bytes, 10};
    round_trip(&m, &e, &d);
    assert_int_equal(d.u.write.buf, 42);
    assert_int_equal(d.u.write.offset, 16);
    assert_int_equal(d.data.size, 10);
    assert_ptr_equal(d.data.data, bytes); /* in place, not copied */
    qv__wire_enc_fini(&e);

    m = (qv_wire_msg){.type = QV_WIRE_READ, .id = 5};
    m.u.read.buf = 42;
    m.u.read.offset = 1;
    m.u.read.length = 9;
    round_trip(&m, &e, &d);
    assert_int_equal(d.u.read.buf, 42);
    assert_int_equal(d.u.read.offset, 1);
    assert_int_equal(d.u.read.length, 9);
    qv__wire_enc_fini(&e);

    m = (qv_wire_msg){.type = QV_WIRE_READ | QV_WIRE_REPLY, .id = 5};
    m.data = (qv_wire_frame){bytes + 1, 9};
    round_trip(&m, &e, &d);
    assert_int_equal(d.data.size, 9);
    assert_memory_equal(d.data.data, "123456789", 9);
    qv__wire_enc_fini(&e);

    /* An empty data frame is still a frame. */
    m.data = (qv_wire_frame){NULL, 0};
    round_trip(&m, &e, &d);
    assert_int_equal(d.data.size, 0);
    qv__wire_enc_fini(&e);

    m = (qv_wire_msg){.type = QV_WIRE_FREE, .id = 6};
    m.u.free.buf = 42;
    round_trip(&m, &e, &d);
    assert_int_equal(d.u.free.buf, 42);
    qv__wire_enc_fini(&e);

    static const unsigned empty[] = {
        QV_WIRE_HEARTBEAT, QV_WIRE_STATS, QV_WIRE_LOAD | QV_WIRE_REPLY,
        QV_WIRE_WRITE | QV_WIRE_REPLY, QV_WIRE_FREE | QV_WIRE_REPLY};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        m = (qv_wire_msg){.type = (uint16_t)empty[i], .id = 100 + i};
        round_trip(&m, &e, &d);
        assert_int_equal(e.body_size, 0);
        qv__wire_enc_fini(&e);
    }

    m = (qv_wire_msg){.type = QV_WIRE_HEARTBEAT | QV_WIRE_REPLY, .id = 7};
    m.u.heartbeat_reply.instance = 0xfeedfacecafebeefu;
    m.u.heartbeat_reply.runs = 3;
    round_trip(&m, &e, &d);
    assert_true(d.u.heartbeat_reply.instance == 0xfeedfacecafebeefu);
    assert_int_equal(d.u.heartbeat_reply.runs, 3);
    qv__wire_enc_fini(&e);

    qv_wire_counter c[2] = {{"requests", 10}, {"bytes_in", 1u << 31}};
    m = (qv_wire_msg){.type = QV_WIRE_STATS | QV_WIRE_REPLY, .id = 8};
    m.u.stats_reply.n = 2;
    m.u.stats_reply.counters = c;
    round_trip(&m, &e, &d);
    assert_int_equal(d.u.stats_reply.n, 2);
    assert_string_equal(d.u.stats_reply.counters[1].name, "bytes_in");
    assert_int_equal(d.u.stats_reply.counters[1].value, 1u << 31);
    qv__wire_msg_fini(&d);
    qv__wire_enc_fini(&e);

    assert_int_equal(qv__wire_encode_error(9, QV_ENOENT, &e, "no buffer %d", 5), 0);
    qv_wire_frame f[3];
    assert_int_equal(qv__wire_decode(f, frames_of(&e, f), NULL, &d, NULL, 0), 0);
    assert_int_equal(d.type, QV_WIRE_ERROR | QV_WIRE_REPLY);
    assert_int_equal(d.id, 9);
    assert_int_equal(d.u.error.code, QV_ENOENT);
    assert_string_equal(d.u.error.message, "no buffer 5");
    qv__wire_enc_fini(&e);
}

static void test_run_round_trip(void **state)
{
    (void)state;
    int n = 1000;
    double scale = 2.5;
    qv_wire_arg a0[4] = {
        {.kind = QV_WIRE_ARG_BUF, .mode = QV_R, .buf = 1},
        {.kind = QV_WIRE_ARG_BUF, .mode = QV_R, .buf = 2},
        {.kind = QV_WIRE_ARG_BUF, .mode = QV_W, .buf = 3},
        {.kind = QV_WIRE_ARG_VAL, .size = sizeof n, .val = (const uint8_t *)&n},
    };
    qv_wire_arg a1[2] = {
        {.kind = QV_WIRE_ARG_BUF, .mode = QV_RW, .buf = 3},
        {.kind = QV_WIRE_ARG_VAL, .size = sizeof scale, .val = (const uint8_t *)&scale},
    };
    qv_wire_task t[3] = {{"vadd", 4, a0}, {"vscale", 2, a1}, {"barrier", 0, NULL}};
    qv_wire_msg m = {.type = QV_WIRE_RUN, .id = 77};
    m.u.run.ntasks = 3;
    m.u.run.tasks = t;
    qv_wire_enc e;
    qv_wire_msg d;
    round_trip(&m, &e, &d);
    assert_int_equal(d.u.run.ntasks, 3);
    assert_string_equal(d.u.run.tasks[0].func, "vadd");
    assert_int_equal(d.u.run.tasks[0].nargs, 4);
    assert_int_equal(d.u.run.tasks[0].args[2].buf, 3);
    assert_int_equal(d.u.run.tasks[0].args[2].mode, QV_W);
    assert_int_equal(d.u.run.tasks[0].args[3].kind, QV_WIRE_ARG_VAL);
    assert_int_equal(d.u.run.tasks[0].args[3].size, sizeof n);
    assert_memory_equal(d.u.run.tasks[0].args[3].val, &n, sizeof n);
    assert_string_equal(d.u.run.tasks[1].func, "vscale");
    assert_int_equal(d.u.run.tasks[1].args[0].mode, QV_RW);
    assert_memory_equal(d.u.run.tasks[1].args[1].val, &scale, sizeof scale);
    assert_int_equal(d.u.run.tasks[2].nargs, 0);
    assert_string_equal(d.u.run.tasks[2].func, "barrier");
    qv__wire_msg_fini(&d);
    qv__wire_msg_fini(&d);
    qv__wire_enc_fini(&e);

    qv_wire_task_result r[2] = {{0, 12.5, 0}, {QV_EIO, 0.25, QV_WIRE_NO_BOARD}};
    m = (qv_wire_msg){.type = QV_WIRE_RUN | QV_WIRE_REPLY, .id = 77};
    m.u.run_reply.status = QV_EIO;
    m.u.run_reply.ntasks = 2;
    m.u.run_reply.results = r;
    round_trip(&m, &e, &d);
    assert_int_equal(d.u.run_reply.status, QV_EIO);
    assert_int_equal(d.u.run_reply.ntasks, 2);
    assert_true(d.u.run_reply.results[0].time_us == 12.5);
    assert_int_equal(d.u.run_reply.results[1].status, QV_EIO);
    assert_int_equal(d.u.run_reply.results[1].board, QV_WIRE_NO_BOARD);
    qv__wire_msg_fini(&d);
    qv__wire_enc_fini(&e);
}

static void test_hello_round_trip(void **state)
{
    (void)state;
    qv_wire_kernel k[2] = {
        {.kernel = "vadd",
         .func = "vadd",
         .nargs = 4,
         .args = {{1, QV_R, 0}, {1, QV_R, 0}, {1, QV_W, 0}, {0, QV_R, 4}}},
        {.kernel = "fir", .func = "fir_f", .nargs = 0},
    };
    qv_wire_board b[2] = {
        {.name = "emu-u250",
         .cls = QV_CLASS_FPGA,
         .memory = (uint64_t)64 << 30,
         .banks = 4,
         .link_gbs = 12.5,
         .link_latency_us = 2.0,
         .units = 2,
         .nkernels = 2,
         .kernels = k},
        {.name = "other", .cls = QV_CLASS_FPGA, .nkernels = 0},
    };
    qv_wire_msg m = {.type = QV_WIRE_HELLO | QV_WIRE_REPLY, .id = 1};
    qv_wire_hello_reply *h = &m.u.hello_reply;
    h->version = QV_WIRE_VERSION;
    h->instance = 0x1234567890abcdefu;
    h->heartbeat_ms = 250;
    h->caps = QV_WIRE_CAP_LOAD;
    qv__wire_limits_default(&h->limits);
    h->nboards = 2;
    h->boards = b;
    qv_wire_enc e;
    qv_wire_msg d;
    round_trip(&m, &e, &d);
    const qv_wire_hello_reply *g = &d.u.hello_reply;
    assert_int_equal(g->version, QV_WIRE_VERSION);
    assert_true(g->instance == 0x1234567890abcdefu);
    assert_int_equal(g->heartbeat_ms, 250);
    assert_int_equal(g->caps, QV_WIRE_CAP_LOAD);
    assert_int_equal(g->limits.max_bufs, h->limits.max_bufs);
    assert_true(g->limits.max_bytes == h->limits.max_bytes);
    assert_int_equal(g->limits.max_tasks, h->limits.max_tasks);
    assert_true(g->limits.max_data == h->limits.max_data);
    assert_int_equal(g->nboards, 2);
    assert_string_equal(g->boards[0].name, "emu-u250");
    assert_int_equal(g->boards[0].cls, QV_CLASS_FPGA);
    assert_true(g->boards[0].memory == (uint64_t)64 << 30);
    assert_int_equal(g->boards[0].banks, 4);
    assert_true(g->boards[0].link_gbs == 12.5);
    assert_true(g->boards[0].link_latency_us == 2.0);
    assert_int_equal(g->boards[0].units, 2);
    assert_int_equal(g->boards[0].nkernels, 2);
    assert_string_equal(g->boards[0].kernels[1].func, "fir_f");
    assert_int_equal(g->boards[0].kernels[0].nargs, 4);
    assert_int_equal(g->boards[0].kernels[0].args[2].mode, QV_W);
    assert_int_equal(g->boards[0].kernels[0].args[3].size, 4);
    assert_string_equal(g->boards[1].name, "other");
    assert_int_equal(g->boards[1].nkernels, 0);
    qv__wire_msg_fini(&d);
    qv__wire_enc_fini(&e);
}

/* Builds a message from a header and a raw body. */
static void raw(uint8_t head[QV_WIRE_HEADER_SIZE], unsigned type, size_t body,
                uint64_t data)
{
    qv_wire_header h = {.version = QV_WIRE_VERSION,
                        .type = (uint16_t)type,
                        .id = 99,
                        .body_size = (uint32_t)body,
                        .data_size = data};
    qv__wire_header_put(&h, head);
}

static void test_header_refused(void **state)
{
    (void)state;
    uint8_t head[QV_WIRE_HEADER_SIZE];
    uint8_t body[8] = {0};
    qv_wire_frame f[3] = {{head, sizeof head}, {body, 8}, {body, 0}};

    refused(f, 0, NULL, QV_EFORMAT, "no frames");
    raw(head, QV_WIRE_FREE, 8, 0);
    f[0].size = 31;
    refused(f, 2, NULL, QV_EFORMAT, "frame 0 (header): 31 bytes, a header has 32");
    f[0].size = 33;
    refused(f, 2, NULL, QV_EFORMAT, "frame 0 (header): 33 bytes");
    f[0].size = 32;
    head[0] = 'X';
    refused(f, 2, NULL, QV_EFORMAT, "bad magic");
    raw(head, QV_WIRE_FREE, 8, 0);
    head[4] = 2;
    refused(f, 2, NULL, QV_ENOTSUP, "protocol version 2, this side speaks 1");
    raw(head, 0x33, 8, 0);
    refused(f, 2, NULL, QV_ENOTSUP, "unknown message type 0x0033");
    raw(head, QV_WIRE_ERROR, 8, 0); /* an error is only a reply */
    refused(f, 2, NULL, QV_ENOTSUP, "unknown message type 0x000f");
    raw(head, QV_WIRE_FREE, 8, 0);
    head[20] = 1;
    refused(f, 2, NULL, QV_ENOTSUP, "flags 0x00000001");
    raw(head, QV_WIRE_FREE, 8, 0);
    refused(f, 1, NULL, QV_EFORMAT, "1 frames, a free has 2 (header, body)");
    refused(f, 3, NULL, QV_EFORMAT, "3 frames, a free has 2");
    raw(head, QV_WIRE_FREE, 9, 0);
    refused(f, 2, NULL, QV_EFORMAT, "frame 1 (body): 8 bytes, the header says 9");
    raw(head, QV_WIRE_FREE, 8, 5);
    refused(f, 2, NULL, QV_EFORMAT, "data length 5 on a message without data");
    raw(head, QV_WIRE_WRITE, 16, 0);
    refused(f, 2, NULL, QV_EFORMAT, "2 frames, a write has 3 (header, body, data)");

    /* The id survives for the error reply. */
    raw(head, QV_WIRE_FREE, 9, 0);
    qv_wire_msg m;
    assert_int_equal(qv__wire_decode(f, 2, NULL, &m, NULL, 0), QV_EFORMAT);
    assert_int_equal(m.id, 99);
    assert_int_equal(m.type, QV_WIRE_FREE);

    /* Limits on the frames. */
    qv_wire_limits lim;
    qv__wire_limits_default(&lim);
    lim.max_body = 4;
    raw(head, QV_WIRE_FREE, 8, 0);
    refused(f, 2, &lim, QV_E2BIG, "body of 8 bytes, at most 4");
    qv__wire_limits_default(&lim);
    lim.max_data = 3;
    uint8_t wbody[16] = {0};
    f[1] = (qv_wire_frame){wbody, 16};
    f[2] = (qv_wire_frame){body, 4};
    raw(head, QV_WIRE_WRITE, 16, 4);
    refused(f, 3, &lim, QV_E2BIG, "data of 4 bytes, at most 3");
    raw(head, QV_WIRE_WRITE, 16, 5);
    refused(f, 3, NULL, QV_EFORMAT, "frame 2 (data): 4 bytes, the header says 5");
}

/* Decodes body as a message of type, expecting rc and msg. */
static void body_refused(unsigned type, const void *body, size_t n,
                         const qv_wire_limits *lim, int rc, const char *msg)
{
    uint8_t head[QV_WIRE_HEADER_SIZE];
    raw(head, type, n, 0);
    qv_wire_frame f[2] = {{head, sizeof head}, {body, n}};
    refused(f, 2, lim, rc, msg);
}

static void test_body_refused(void **state)
{
    (void)state;
    /* Truncated fixed fields. */
    body_refused(QV_WIRE_FREE, "\1\2\3", 3, NULL, QV_EFORMAT,
                 "frame 1 (body) offset 0: buf: needs 8 bytes, 3 left of 3");
    body_refused(QV_WIRE_ALLOC, "\1\0\0\0\0\0\0\0\0", 9, NULL, QV_EFORMAT,
                 "offset 8: bank: needs 2 bytes, 1 left");
    body_refused(QV_WIRE_ALLOC, "\0\0\0\0\0\0\0\0\0\0", 10, NULL, QV_EFORMAT,
                 "alloc of 0 bytes");
    /* Trailing bytes. */
    body_refused(QV_WIRE_FREE, "\1\0\0\0\0\0\0\0\0", 9, NULL, QV_EFORMAT,
                 "1 bytes after the end of the free body");
    body_refused(QV_WIRE_HEARTBEAT, "x", 1, NULL, QV_EFORMAT,
                 "1 bytes after the end of the heartbeat body");
    /* Strings. */
    body_refused(QV_WIRE_LOAD, "\5\0vadd", 6, NULL, QV_EFORMAT,
                 "kernel: needs 5 bytes, 4 left");
    body_refused(QV_WIRE_LOAD, "\4\0vadd", 6, NULL, QV_EFORMAT,
                 "a string must end with its only NUL");
    body_refused(QV_WIRE_LOAD, "\5\0va\0d\0", 7, NULL, QV_EFORMAT,
                 "a string must end with its only NUL");
    body_refused(QV_WIRE_LOAD, "\0\0", 2, NULL, QV_EFORMAT, "string length 0");
    body_refused(QV_WIRE_LOAD, "\1\0\0", 3, NULL, QV_EFORMAT, "empty name");
    body_refused(QV_WIRE_LOAD, "\xff\xff", 2, NULL, QV_E2BIG,
                 "string length 65535 (1 to 4096");
    /* Reads past the data limit. */
    uint8_t rd[24] = {0};
    rd[16] = 1;
    rd[20] = 1; /* 2^32 + 1 bytes */
    body_refused(QV_WIRE_READ, rd, 24, NULL, QV_E2BIG, "read of 4294967297 bytes");
}

static void test_run_refused(void **state)
{
    (void)state;
    /* Counts first: no task, too many, more than the bytes could hold. */
    body_refused(QV_WIRE_RUN, "\0\0\0\0", 4, NULL, QV_EFORMAT,
                 "a run needs at least one task");
    qv_wire_limits lim;
    qv__wire_limits_default(&lim);
    lim.max_tasks = 2;
    body_refused(QV_WIRE_RUN, "\3\0\0\0", 4, &lim, QV_E2BIG, "3 tasks, at most 2");
    body_refused(QV_WIRE_RUN, "\xff\xff\xff\x0f", 4, NULL, QV_E2BIG,
                 "268435455 tasks, at most 65536");
    body_refused(QV_WIRE_RUN, "\0\1\0\0", 4, NULL, QV_EFORMAT,
                 "256 tasks need at least 1024 bytes, 0 left");
    /* A task: name, nargs, args. */
    static const uint8_t t_args[] = {1, 0, 0, 0, 2, 0, 'f', 0, 17};
    body_refused(QV_WIRE_RUN, t_args, sizeof t_args, NULL, QV_E2BIG,
                 "task 0: 17 arguments, at most 16");
    static const uint8_t t_empty[] = {1, 0, 0, 0, 1, 0, 0, 0};
    body_refused(QV_WIRE_RUN, t_empty, sizeof t_empty, NULL, QV_EFORMAT,
                 "task 0: empty function name");
    static const uint8_t t_kind[] = {1, 0, 0, 0, 2, 0, 'f', 0, 1, 7};
    body_refused(QV_WIRE_RUN, t_kind, sizeof t_kind, NULL, QV_EFORMAT,
                 "task 0 arg 0: argument kind 7 (0 value, 1 buffer)");
    static const uint8_t t_mode[] = {1, 0, 0, 0, 2, 0, 'f', 0, 1, 1,
                                     5, 0, 0, 0, 0, 0, 0,   0, 4};
    body_refused(QV_WIRE_RUN, t_mode, sizeof t_mode, NULL, QV_EFORMAT,
                 "task 0 arg 0: access mode 4");
    static const uint8_t t_val0[] = {1, 0, 0, 0, 2, 0, 'f', 0, 1, 0, 0, 0};
    body_refused(QV_WIRE_RUN, t_val0, sizeof t_val0, NULL, QV_EFORMAT,
                 "task 0 arg 0: scalar of 0 bytes (1 to 256)");
    static const uint8_t t_valbig[] = {1, 0, 0, 0, 2, 0, 'f', 0, 1, 0, 1, 1};
    body_refused(QV_WIRE_RUN, t_valbig, sizeof t_valbig, NULL, QV_E2BIG,
                 "scalar of 257 bytes");
    static const uint8_t t_valcut[] = {1, 0, 0, 0, 2, 0, 'f', 0, 1, 0, 4, 0, 1, 2};
    body_refused(QV_WIRE_RUN, t_valcut, sizeof t_valcut, NULL, QV_EFORMAT,
                 "task 0 arg 0: needs 4 bytes, 2 left");
    /* The second task is cut short: the first pass refuses it, nothing is
     * allocated. */
    static const uint8_t t_second[] = {2, 0, 0, 0, 2, 0, 'f', 0, 0, 2, 0, 'g'};
    body_refused(QV_WIRE_RUN, t_second, sizeof t_second, NULL, QV_EFORMAT,
                 "task 1 function: needs 2 bytes, 1 left");
}

/* A RUN asking for its outputs in the reply, and that reply. */
static void test_run_outputs(void **state)
{
    (void)state;
    qv_wire_arg a[3] = {{.kind = QV_WIRE_ARG_BUF, .mode = QV_R, .buf = 1},
                        {.kind = QV_WIRE_ARG_BUF, .mode = QV_W, .buf = 2},
                        {.kind = QV_WIRE_ARG_BUF, .mode = QV_RW, .buf = 3}};
    qv_wire_task t = {"f", 3, a};
    uint64_t outs[2] = {2, 3};
    qv_wire_msg m = {.type = QV_WIRE_RUN, .id = 8};
    m.u.run.ntasks = 1;
    m.u.run.tasks = &t;
    m.u.run.nouts = 2;
    m.u.run.outs = outs;
    qv_wire_enc e;
    qv_wire_msg d;
    round_trip(&m, &e, &d);
    assert_int_equal(e.head[20], QV_WIRE_FLAG_OUTPUTS);
    assert_false(e.has_data);
    assert_int_equal(d.u.run.ntasks, 1);
    assert_int_equal(d.u.run.tasks[0].args[2].buf, 3);
    assert_int_equal(d.u.run.nouts, 2);
    assert_true(d.u.run.outs[0] == 2 && d.u.run.outs[1] == 3);
    qv__wire_msg_fini(&d);
    qv__wire_enc_fini(&e);
    /* Without outputs: no flag, as before. */
    m.u.run.nouts = 0;
    round_trip(&m, &e, &d);
    assert_int_equal(e.head[20], 0);
    assert_int_equal(d.u.run.nouts, 0);
    assert_null(d.u.run.outs);
    qv__wire_msg_fini(&d);
    qv__wire_enc_fini(&e);

    const char bytes[] = "0123456789ab";
    qv_wire_task_result r = {0, 3.5, 0};
    qv_wire_out o[2] = {{2, 4}, {3, 8}};
    m = (qv_wire_msg){.type = QV_WIRE_RUN | QV_WIRE_REPLY, .id = 8};
    m.u.run_reply.ntasks = 1;
    m.u.run_reply.results = &r;
    m.u.run_reply.nouts = 2;
    m.u.run_reply.outs = o;
    m.data = (qv_wire_frame){bytes, 12};
    round_trip(&m, &e, &d);
    assert_true(e.has_data);
    assert_int_equal(e.head[20], QV_WIRE_FLAG_OUTPUTS);
    assert_int_equal(d.u.run_reply.ntasks, 1);
    assert_true(d.u.run_reply.results[0].time_us == 3.5);
    assert_int_equal(d.u.run_reply.nouts, 2);
    assert_true(d.u.run_reply.outs[1].buf == 3 && d.u.run_reply.outs[1].length == 8);
    assert_int_equal(d.data.size, 12);
    assert_memory_equal(d.data.data, bytes, 12);
    qv__wire_msg_fini(&d);

    /* What the decoder refuses: the flag on another type or another bit,
     * no or too many outputs, a reply without its data or whose outputs
     * and data differ in length. */
    qv_wire_frame f[3];
    size_t nf = frames_of(&e, f);
    uint8_t head[QV_WIRE_HEADER_SIZE];
    memcpy(head, e.head, sizeof head);
    f[0].data = head;
    refused(f, 2, NULL, QV_EFORMAT, "2 frames, a run reply has 3");
    head[20] = 2;
    refused(f, nf, NULL, QV_ENOTSUP, "a run's only flag is 0x1");
    head[20] = 0;
    refused(f, nf, NULL, QV_EFORMAT, "3 frames, a run reply has 2");
    head[20] = 1;
    f[2].size = 11;
    head[24] = 11;
    refused(f, nf, NULL, QV_EFORMAT, "output 1: 8 bytes past the data frame's 11");
    f[2].size = 13;
    head[24] = 13;
    refused(f, nf, NULL, QV_EFORMAT, "outputs of 12 bytes in all, the data frame has 13");
    qv__wire_enc_fini(&e);
    raw(head, QV_WIRE_FREE, 8, 0);
    head[20] = 1;
    uint8_t fb[8] = {0};
    qv_wire_frame ff[2] = {{head, sizeof head}, {fb, 8}};
    refused(ff, 2, NULL, QV_ENOTSUP, "none are defined for this type");
    static const uint8_t none[] = {1, 0, 0, 0, 2, 0, 'f', 0, 0, 0, 0};
    raw(head, QV_WIRE_RUN, sizeof none, 0);
    head[20] = 1;
    ff[1] = (qv_wire_frame){none, sizeof none};
    refused(ff, 2, NULL, QV_EFORMAT, "the outputs flag with no outputs");
    static const uint8_t many[] = {1, 0, 0, 0, 2, 0, 'f', 0, 0, 16, 0};
    raw(head, QV_WIRE_RUN, sizeof many, 0);
    head[20] = 1;
    ff[1] = (qv_wire_frame){many, sizeof many};
    refused(ff, 2, NULL, QV_E2BIG, "16 outputs, at most 15");

    /* Nor does the encoder make them. */
    m.data.size = 11;
    assert_int_equal(qv__wire_encode(&m, &e), QV_EINVAL);
    m.data.size = 12;
    m.u.run_reply.nouts = QV_WIRE_MAX_OUTPUTS + 1;
    assert_int_equal(qv__wire_encode(&m, &e), QV_EINVAL);
}

static void test_encode_refused(void **state)
{
    (void)state;
    qv_wire_enc e;
    qv_wire_msg m = {.type = 0x77};
    assert_int_equal(qv__wire_encode(&m, &e), QV_EINVAL);
    assert_null(e.body);
    m = (qv_wire_msg){.type = QV_WIRE_RUN};
    assert_int_equal(qv__wire_encode(&m, &e), QV_EINVAL); /* no task */
    qv_wire_arg a = {.kind = QV_WIRE_ARG_VAL, .size = 0};
    qv_wire_task t = {"f", 1, &a};
    m.u.run.ntasks = 1;
    m.u.run.tasks = &t;
    assert_int_equal(qv__wire_encode(&m, &e), QV_EINVAL); /* 0-byte scalar */
    t.nargs = QV_MAX_ARGS + 1;
    assert_int_equal(qv__wire_encode(&m, &e), QV_EINVAL);
    char *long_name = malloc(QV_WIRE_MAX_STR + 1);
    assert_non_null(long_name);
    memset(long_name, 'a', QV_WIRE_MAX_STR);
    long_name[QV_WIRE_MAX_STR] = 0;
    m = (qv_wire_msg){.type = QV_WIRE_LOAD};
    m.u.load.kernel = long_name;
    assert_int_equal(qv__wire_encode(&m, &e), QV_EINVAL);
    long_name[QV_WIRE_MAX_STR - 1] = 0; /* exactly the longest */
    assert_int_equal(qv__wire_encode(&m, &e), 0);
    qv__wire_enc_fini(&e);
    free(long_name);
    assert_string_equal(qv__wire_type_name(QV_WIRE_RUN | QV_WIRE_REPLY), "run");
    assert_string_equal(qv__wire_type_name(0x55), "?");
}

/* Every prefix of every valid message, and every single-byte change of a
 * RUN, decodes or is refused cleanly (ASan watches the reads). */
static void test_mutations(void **state)
{
    (void)state;
    int n = 7;
    qv_wire_arg a[2] = {{.kind = QV_WIRE_ARG_BUF, .mode = QV_RW, .buf = 1},
                        {.kind = QV_WIRE_ARG_VAL, .size = 4, .val = (const uint8_t *)&n}};
    qv_wire_task t[2] = {{"vadd", 2, a}, {"x", 1, a}};
    qv_wire_msg m = {.type = QV_WIRE_RUN, .id = 5};
    m.u.run.ntasks = 2;
    m.u.run.tasks = t;
    qv_wire_enc e;
    assert_int_equal(qv__wire_encode(&m, &e), 0);
    uint8_t *copy = malloc(e.body_size);
    assert_non_null(copy);
    unsigned ok = 0;
    for (size_t cut = 0; cut <= e.body_size; cut++) {
        uint8_t head[QV_WIRE_HEADER_SIZE];
        raw(head, QV_WIRE_RUN, cut, 0);
        memcpy(copy, e.body, cut);
        qv_wire_frame f[2] = {{head, sizeof head}, {copy, cut}};
        qv_wire_msg d;
        int rc = qv__wire_decode(f, 2, NULL, &d, NULL, 0);
        ok += rc == 0;
        qv__wire_msg_fini(&d);
    }
    assert_int_equal(ok, 1); /* only the whole body */
    for (size_t i = 0; i < e.body_size; i++) {
        for (unsigned v = 0; v < 256; v += 17) {
            memcpy(copy, e.body, e.body_size);
            copy[i] = (uint8_t)v;
            uint8_t head[QV_WIRE_HEADER_SIZE];
            raw(head, QV_WIRE_RUN, e.body_size, 0);
            qv_wire_frame f[2] = {{head, sizeof head}, {copy, e.body_size}};
            qv_wire_msg d;
            if (qv__wire_decode(f, 2, NULL, &d, NULL, 0) == 0)
                assert_true(d.u.run.ntasks >= 1);
            qv__wire_msg_fini(&d);
        }
    }
    free(copy);
    qv__wire_enc_fini(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_bytes),   cmocka_unit_test(test_simple_round_trips),
        cmocka_unit_test(test_run_round_trip), cmocka_unit_test(test_hello_round_trip),
        cmocka_unit_test(test_header_refused), cmocka_unit_test(test_body_refused),
        cmocka_unit_test(test_run_refused),    cmocka_unit_test(test_encode_refused),
        cmocka_unit_test(test_mutations),      cmocka_unit_test(test_run_outputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
