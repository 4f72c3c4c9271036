/*
 * wire.h - the wire protocol between libquiver's remote backend (a ZeroMQ
 * DEALER) and quiverd (a ROUTER): message structs, and an encoder and a
 * decoder that work on arrays of frames (pointer + length) and know nothing
 * of ZeroMQ, so that the daemon, the backend, the unit tests and the fuzz
 * target all run exactly the same code. wire_zmq.h sends and receives the
 * frames over sockets.
 *
 * ---- Frames -------------------------------------------------------------
 * A message is a ZeroMQ multipart message (the ROUTER sees the peer's
 * routing id as an extra first frame, which the daemon strips and puts back):
 *
 *   frame 0  header, exactly QV_WIRE_HEADER_SIZE (32) bytes
 *   frame 1  body, exactly `body length` bytes (may be 0 bytes, never absent)
 *   frame 2  data (only WRITE requests, READ replies and RUN replies with
 *            QV_WIRE_FLAG_OUTPUTS): buffer bytes, sent and received without
 *            copies; `data length` bytes
 *
 * Header, little-endian, encoded byte by byte (never a struct memcpy):
 *
 *   off size field
 *    0   4   magic        'Q' 'V' 'W' 'P'
 *    4   2   version      QV_WIRE_VERSION (1); another version is refused
 *    6   2   type         QV_WIRE_HELLO ... | QV_WIRE_REPLY on replies
 *    8   8   request id   chosen by the host, echoed by the reply
 *   16   4   body length  bytes of frame 1
 *   20   4   flags        0, or QV_WIRE_FLAG_OUTPUTS on a RUN and its reply;
 *                         any other bit is refused
 *   24   8   data length  bytes of frame 2 (0 when there is none)
 *
 * ---- Body encoding ------------------------------------------------------
 * u8/u16/u32/u64/i32: little-endian integers. f64: the IEEE-754 bits as a
 * u64. str: u16 n, then n bytes whose last is NUL and no other is (n >= 1;
 * n <= QV_WIRE_MAX_STR), so that a decoded string points into the body.
 * A body must be consumed exactly: trailing bytes are an error.
 *
 * ---- Messages (request body -> reply body) -------------------------------
 * HELLO     str client (free text for logs)
 *        -> u16 version, u64 instance (random per daemon start: a changed
 *           value means the daemon restarted and lost all state),
 *           u32 heartbeat_ms (the interval the daemon suggests),
 *           u32 caps (QV_WIRE_CAP_*), limits: u64 max_bytes, u32 max_bufs,
 *           u32 max_tasks, u64 max_data (see qv_wire_limits; quiverd
 *           announces as max_tasks the calls one RUN may carry within its
 *           --max-tasks, which counts one more task per RUN),
 *           u16 nboards, per board:
 *             str name, u8 class (qv_class), u64 memory (bytes),
 *             u16 banks, f64 link_gbs, f64 link_latency_us, u32 units,
 *             u16 nkernels, per kernel:
 *               str kernel (catalog name), str func (the function name a
 *               RUN task names), u8 nargs, per arg: u8 is_buf, u8 mode
 *               (qv_mode), u32 size (scalars: bytes; buffers: 0)
 * LOAD      str kernel -> (empty). Optional: prepares the kernel (builds or
 *           loads it) so that the first RUN does not pay for it.
 * ALLOC     u64 size (bytes, >= 1), u16 bank (QV_WIRE_ANY_BANK: any;
 *           quiverd lets the runtime place every buffer, so any bank)
 *        -> u64 buf (remote buffer id, never 0; only the connection that
 *           allocated it may name it, and it goes when that connection
 *           does). Past the client's limits: QV_E2BIG.
 * WRITE     u64 buf, u64 offset; frame 2: the bytes -> (empty). A range
 *           past the buffer's end: QV_EINVAL.
 * RUN       u32 ntasks (1..max_tasks), per task in submission order:
 *             str func, u8 nargs (<= QV_MAX_ARGS), per arg: u8 kind
 *             (QV_WIRE_ARG_BUF: u64 buf, u8 mode (qv_mode);
 *              QV_WIRE_ARG_VAL: u16 n (1..QV_WIRE_MAX_SCALAR), n bytes)
 *           Dependencies are implied by the buffer accesses, as for
 *           qv_submit: a task waits for the earlier tasks of this and of
 *           earlier RUNs that write what it reads or read/write what it
 *           writes; WRITEs and READs are ordered with them the same
 *           way. Intermediate buffers stay on the daemon. Each task must
 *           match its function's signature in HELLO (arguments, buffer
 *           modes, scalar sizes), else the whole RUN gets QV_EMISMATCH
 *           (QV_ENOENT: unknown function or buffer) and nothing runs.
 *           With QV_WIRE_FLAG_OUTPUTS (only to a daemon whose HELLO has
 *           QV_WIRE_CAP_OUTPUTS), the tasks are followed by u16 nouts
 *           (1..QV_WIRE_MAX_OUTPUTS), per output u64 buf: buffers the run's
 *           tasks write, each once, among them every one that no later
 *           task of the run reads (else QV_EINVAL); an intermediate that
 *           a later task reads may stay on the daemon.
 *        -> i32 status (0 or the first failing task's code), u32 ntasks,
 *           per task: i32 status (a task after a failed submission is not
 *           run and carries the same code), f64 time_us (measured, from
 *           the task's start to its end on the daemon), u16 board
 *           (index in HELLO's list; QV_WIRE_NO_BOARD when unknown)
 *           The reply comes when every task of the run has finished.
 *           To a RUN with QV_WIRE_FLAG_OUTPUTS whose status is 0, the
 *           reply has the flag too: then u16 nouts, per output u64 buf,
 *           u64 length (the buffer's size), in the request's order; frame
 *           2: the outputs' bytes one after the other. So the outputs come
 *           home with the reply, read where the run's tasks left them, as
 *           READs queued right behind the RUN would, without the READs.
 * READ      u64 buf, u64 offset, u64 length -> (empty); frame 2: the bytes
 * FREE      u64 buf -> (empty). The buffer goes once its runs are done.
 * HEARTBEAT (empty) -> u64 instance, u32 runs (runs in flight). Answered at
 *           once, even while runs are in flight.
 * STATS     (empty) -> u16 n, per counter: str name, u64 value (requests,
 *           runs, tasks, bytes_in, bytes_out, errors, buffers, bytes_alloc)
 * ERROR     (reply only, to any request) i32 code (a QV_E* value: QV_EFORMAT
 *           for a malformed message, QV_E2BIG past a limit, QV_ENOENT for an
 *           unknown buffer or function, QV_ENOTSUP for an unknown type or
 *           version, ...), str message. The request id is the request's, or
 *           0 when its header could not be read.
 *
 * Requests are pipelined: a host sends as many as it likes without waiting;
 * replies may come in any order (a HEARTBEAT overtakes a RUN) and are
 * matched by request id.
 */
#ifndef QV_REMOTE_WIRE_H
#define QV_REMOTE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "quiver.h"

#define QV_WIRE_VERSION      1
#define QV_WIRE_HEADER_SIZE  32
#define QV_WIRE_MAX_STR      4096 /* bytes of a str, its NUL included */
#define QV_WIRE_MAX_SCALAR   256  /* bytes of one scalar argument */
#define QV_WIRE_MAX_BOARDS   64
#define QV_WIRE_MAX_KERNELS  4096 /* per board */
#define QV_WIRE_MAX_COUNTERS 256
#define QV_WIRE_ANY_BANK     0xffffu
#define QV_WIRE_NO_BOARD     0xffffu
#define QV_WIRE_MAX_OUTPUTS  (QV_MAX_ARGS - 1) /* of one RUN */

/* Header flags. */
#define QV_WIRE_FLAG_OUTPUTS 1u /* RUN: its outputs come in the reply */

/* Message types. A reply has the request's type | QV_WIRE_REPLY, or
 * QV_WIRE_ERROR | QV_WIRE_REPLY. */
enum {
    QV_WIRE_HELLO = 1,
    QV_WIRE_LOAD = 2,
    QV_WIRE_ALLOC = 3,
    QV_WIRE_WRITE = 4,
    QV_WIRE_RUN = 5,
    QV_WIRE_READ = 6,
    QV_WIRE_FREE = 7,
    QV_WIRE_HEARTBEAT = 8,
    QV_WIRE_STATS = 9,
    QV_WIRE_ERROR = 15,
    QV_WIRE_REPLY = 0x8000
};

/* Capabilities in HELLO's reply. */
enum {
    QV_WIRE_CAP_CURVE = 1u << 0, /* the connection is CURVE-authenticated */
    QV_WIRE_CAP_LOAD = 1u << 1,   /* LOAD prepares kernels (else a no-op) */
    QV_WIRE_CAP_OUTPUTS = 1u << 2 /* a RUN may take QV_WIRE_FLAG_OUTPUTS */
};

/* Argument kinds in a RUN task. */
enum { QV_WIRE_ARG_VAL = 0, QV_WIRE_ARG_BUF = 1 };

/* One frame: a view of bytes someone else owns. */
typedef struct qv_wire_frame {
    const void *data;
    size_t size; /* bytes */
} qv_wire_frame;

/* Bounds the decoder enforces (a message past them is refused with
 * QV_E2BIG before anything is allocated for it), and the daemon's
 * per-client allocation limits, which HELLO's reply announces. */
typedef struct qv_wire_limits {
    uint64_t max_bytes; /* bytes one client may hold allocated */
    uint32_t max_bufs;  /* buffers one client may hold */
    uint32_t max_tasks; /* tasks in one RUN */
    uint64_t max_data;  /* bytes of one data frame (WRITE, READ) */
    uint32_t max_body;  /* bytes of one body frame */
} qv_wire_limits;

/* The defaults: 4 GiB, 65536 buffers, 65536 tasks, 256 MiB per data frame,
 * 16 MiB per body. */
void qv__wire_limits_default(qv_wire_limits *lim);

/* ---- message contents ---------------------------------------------------
 * Decoded strings and scalar values point into the body frame, and WRITE's
 * and READ's data into the data frame: the frames must outlive the message.
 * For encoding, the caller's pointers are read only during the call, except
 * `data`, which qv__wire_encode hands on as the data frame. */

typedef struct qv_wire_arg_info {
    uint8_t is_buf;
    uint8_t mode;  /* qv_mode, buffers */
    uint32_t size; /* scalars: bytes; buffers: 0 */
} qv_wire_arg_info;

typedef struct qv_wire_kernel {
    const char *kernel; /* catalog name */
    const char *func;   /* the name RUN tasks use */
    uint8_t nargs;      /* <= QV_MAX_ARGS */
    qv_wire_arg_info args[QV_MAX_ARGS];
} qv_wire_kernel;

typedef struct qv_wire_board {
    const char *name;
    uint8_t cls;     /* qv_class */
    uint64_t memory; /* bytes */
    uint16_t banks;
    double link_gbs;        /* GB/s */
    double link_latency_us; /* µs */
    uint32_t units;
    uint16_t nkernels;
    qv_wire_kernel *kernels;
} qv_wire_board;

typedef struct qv_wire_hello_reply {
    uint16_t version;
    uint64_t instance;
    uint32_t heartbeat_ms;
    uint32_t caps;
    qv_wire_limits limits; /* max_body is not sent (decoded as 0) */
    uint16_t nboards;
    qv_wire_board *boards;
} qv_wire_hello_reply;

typedef struct qv_wire_arg {
    uint8_t kind;       /* QV_WIRE_ARG_BUF or QV_WIRE_ARG_VAL */
    uint8_t mode;       /* qv_mode, buffers */
    uint64_t buf;       /* buffers: remote id */
    uint16_t size;      /* values: bytes */
    const uint8_t *val; /* values */
} qv_wire_arg;

typedef struct qv_wire_task {
    const char *func;
    uint8_t nargs;     /* <= QV_MAX_ARGS */
    qv_wire_arg *args; /* nargs of them */
} qv_wire_task;

typedef struct qv_wire_task_result {
    int32_t status; /* 0 or a QV_E* code */
    double time_us; /* µs */
    uint16_t board; /* index into HELLO's boards, or QV_WIRE_NO_BOARD */
} qv_wire_task_result;

/* An output a RUN reply carries (QV_WIRE_FLAG_OUTPUTS). */
typedef struct qv_wire_out {
    uint64_t buf;
    uint64_t length; /* bytes */
} qv_wire_out;

typedef struct qv_wire_counter {
    const char *name;
    uint64_t value;
} qv_wire_counter;

/* One message, request or reply. Only the member of `u` that `type` names
 * is meaningful. */
typedef struct qv_wire_msg {
    uint16_t type;      /* QV_WIRE_*, | QV_WIRE_REPLY for replies */
    uint64_t id;        /* request id */
    qv_wire_frame data; /* WRITE request, READ and RUN replies: the bytes */
    union {
        struct {
            const char *client;
        } hello;
        qv_wire_hello_reply hello_reply;
        struct {
            const char *kernel;
        } load;
        struct {
            uint64_t size;
            uint16_t bank;
        } alloc;
        struct {
            uint64_t buf;
        } alloc_reply;
        struct {
            uint64_t buf, offset;
        } write;
        struct {
            uint32_t ntasks;
            qv_wire_task *tasks;
            uint16_t nouts; /* > 0: QV_WIRE_FLAG_OUTPUTS */
            const uint64_t *outs; /* nouts buffer ids */
        } run;
        struct {
            int32_t status;
            uint32_t ntasks;
            qv_wire_task_result *results;
            uint16_t nouts;    /* > 0: QV_WIRE_FLAG_OUTPUTS, data holds them */
            const qv_wire_out *outs; /* nouts; their lengths sum to data's */
        } run_reply;
        struct {
            uint64_t buf, offset, length;
        } read;
        struct {
            uint64_t buf;
        } free;
        struct {
            uint64_t instance;
            uint32_t runs;
        } heartbeat_reply;
        struct {
            uint16_t n;
            qv_wire_counter *counters;
        } stats_reply;
        struct {
            int32_t code;
            const char *message;
        } error;
    } u;
    void *alloc_; /* what qv__wire_decode allocated; qv__wire_msg_fini */
} qv_wire_msg;

/* The header alone. */
typedef struct qv_wire_header {
    uint16_t version;
    uint16_t type;
    uint64_t id;
    uint32_t body_size; /* bytes */
    uint32_t flags;
    uint64_t data_size; /* bytes */
} qv_wire_header;

/* ---- encoding -----------------------------------------------------------
 * The frames of one encoded message: head is frame 0; body (malloc'd, owned
 * by the encoding until qv__wire_enc_fini, or taken by whoever sets it to
 * NULL) is frame 1; data, when has_data, is frame 2 and borrows the
 * message's bytes. */
typedef struct qv_wire_enc {
    uint8_t head[QV_WIRE_HEADER_SIZE];
    uint8_t *body;
    size_t body_size; /* bytes */
    int has_data;
    qv_wire_frame data;
} qv_wire_enc;

/* Encodes m into out. Returns 0, QV_ENOMEM, or QV_EINVAL when m cannot be
 * encoded (an unknown type, a string longer than QV_WIRE_MAX_STR or with no
 * room for it, more than QV_MAX_ARGS arguments, a scalar of 0 or more than
 * QV_WIRE_MAX_SCALAR bytes); on error out holds nothing to free. */
int qv__wire_encode(const qv_wire_msg *m, qv_wire_enc *out);

/* Frees what an encoding owns (its body). NULL body is fine. */
void qv__wire_enc_fini(qv_wire_enc *e);

/* Encodes an ERROR reply to request `id`: code and a printf message. */
int qv__wire_encode_error(uint64_t id, int code, qv_wire_enc *out, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes the header h into out (QV_WIRE_HEADER_SIZE bytes). */
void qv__wire_header_put(const qv_wire_header *h, uint8_t *out);

/* ---- decoding -----------------------------------------------------------
 * Decodes one message from nframes frames (routing frames already removed).
 * lim may be NULL for the defaults. On success returns 0 and fills *out,
 * whose strings and values borrow the frames; qv__wire_msg_fini frees what
 * was allocated. On error returns QV_EFORMAT (malformed), QV_E2BIG (past a
 * limit) or QV_ENOTSUP (unknown version, type or flags), writes a one-line
 * reason ("frame 1 (body) offset 12: task 0: ...") into err (errlen bytes;
 * err may be NULL), and leaves out->id and out->type set from the header
 * when the header itself was readable (else 0), so that an error reply can
 * name the request; nothing is left to free. Never reads outside the frames
 * and allocates at most in proportion to the body's size. */
int qv__wire_decode(const qv_wire_frame *frames, size_t nframes,
                    const qv_wire_limits *lim, qv_wire_msg *out, char *err,
                    size_t errlen);

/* Reads a header from one frame (which must be exactly
 * QV_WIRE_HEADER_SIZE bytes); errors as qv__wire_decode. */
int qv__wire_header_get(const qv_wire_frame *f, qv_wire_header *h, char *err,
                        size_t errlen);

/* Frees what qv__wire_decode allocated for m. Safe on a zeroed message and
 * twice. */
void qv__wire_msg_fini(qv_wire_msg *m);

/* "hello", "run", ..., "error" for a type (the reply bit ignored); "?" for
 * an unknown one. */
const char *qv__wire_type_name(unsigned type);

#endif /* QV_REMOTE_WIRE_H */
