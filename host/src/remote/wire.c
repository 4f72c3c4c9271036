/*
 * wire.c - encoder and decoder of the remote wire protocol (wire.h has the
 * layout). Every integer is written and read byte by byte, little-endian;
 * every length is checked against what is left of its frame before it is
 * used, and every count against its bound and against the bytes that could
 * hold it, before anything is allocated for it.
 */
#include "remote/wire.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t wire_magic[4] = {'Q', 'V', 'W', 'P'};

void qv__wire_limits_default(qv_wire_limits *lim)
{
    lim->max_bytes = (uint64_t)4 << 30;
    lim->max_bufs = 65536;
    lim->max_tasks = 65536;
    lim->max_data = (uint64_t)256 << 20;
    lim->max_body = 16u << 20;
}

const char *qv__wire_type_name(unsigned type)
{
    switch (type & ~(unsigned)QV_WIRE_REPLY) {
    case QV_WIRE_HELLO:
        return "hello";
    case QV_WIRE_LOAD:
        return "load";
    case QV_WIRE_ALLOC:
        return "alloc";
    case QV_WIRE_WRITE:
        return "write";
    case QV_WIRE_RUN:
        return "run";
    case QV_WIRE_READ:
        return "read";
    case QV_WIRE_FREE:
        return "free";
    case QV_WIRE_HEARTBEAT:
        return "heartbeat";
    case QV_WIRE_STATS:
        return "stats";
    case QV_WIRE_ERROR:
        return "error";
    default:
        return "?";
    }
}

/* ---- little-endian helpers ----------------------------------------------- */

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u); /* the bits, not the layout of a struct */
    return u;
}

static double bits_f64(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* ---- writer ---------------------------------------------------------------- */

typedef struct writer {
    uint8_t *p;
    size_t n, cap;
    int err; /* first error: QV_ENOMEM or QV_EINVAL */
} writer;

static uint8_t *w_room(writer *w, size_t n)
{
    if (w->err)
        return NULL;
    if (n > w->cap - w->n) {
        size_t cap = w->cap ? w->cap : 64;
        while (cap - w->n < n) {
            if (cap > SIZE_MAX / 2) {
                w->err = QV_ENOMEM;
                return NULL;
            }
            cap *= 2;
        }
        uint8_t *p = realloc(w->p, cap);
        if (!p) {
            w->err = QV_ENOMEM;
            return NULL;
        }
        w->p = p;
        w->cap = cap;
    }
    uint8_t *at = w->p + w->n;
    w->n += n;
    return at;
}

static void w_int(writer *w, uint64_t v, unsigned n)
{
    uint8_t *p = w_room(w, n);
    if (p)
        put_le(p, v, n);
}

static void w_u8(writer *w, uint64_t v)
{
    w_int(w, v, 1);
}
static void w_u16(writer *w, uint64_t v)
{
    w_int(w, v, 2);
}
static void w_u32(writer *w, uint64_t v)
{
    w_int(w, v, 4);
}
static void w_u64(writer *w, uint64_t v)
{
    w_int(w, v, 8);
}
static void w_i32(writer *w, int32_t v)
{
    w_int(w, (uint32_t)v, 4);
}
static void w_f64(writer *w, double v)
{
    w_int(w, f64_bits(v), 8);
}

static void w_bytes(writer *w, const void *src, size_t n)
{
    uint8_t *p = w_room(w, n);
    if (p && n)
        memcpy(p, src, n);
}

/* A str: NULL encodes as "". */
static void w_str(writer *w, const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s) + 1;
    if (n > QV_WIRE_MAX_STR) {
        if (!w->err)
            w->err = QV_EINVAL;
        return;
    }
    w_u16(w, n);
    w_bytes(w, s, n);
}

static void w_fail(writer *w)
{
    if (!w->err)
        w->err = QV_EINVAL;
}

void qv__wire_header_put(const qv_wire_header *h, uint8_t *out)
{
    memcpy(out, wire_magic, 4);
    put_le(out + 4, h->version, 2);
    put_le(out + 6, h->type, 2);
    put_le(out + 8, h->id, 8);
    put_le(out + 16, h->body_size, 4);
    put_le(out + 20, h->flags, 4);
    put_le(out + 24, h->data_size, 8);
}

static void enc_hello_reply(writer *w, const qv_wire_hello_reply *r)
{
    w_u16(w, r->version);
    w_u64(w, r->instance);
    w_u32(w, r->heartbeat_ms);
    w_u32(w, r->caps);
    w_u64(w, r->limits.max_bytes);
    w_u32(w, r->limits.max_bufs);
    w_u32(w, r->limits.max_tasks);
    w_u64(w, r->limits.max_data);
    if (r->nboards > QV_WIRE_MAX_BOARDS || (r->nboards && !r->boards)) {
        w_fail(w);
        return;
    }
    w_u16(w, r->nboards);
    for (unsigned b = 0; b < r->nboards; b++) {
        const qv_wire_board *bd = &r->boards[b];
        w_str(w, bd->name);
        w_u8(w, bd->cls);
        w_u64(w, bd->memory);
        w_u16(w, bd->banks);
        w_f64(w, bd->link_gbs);
        w_f64(w, bd->link_latency_us);
        w_u32(w, bd->units);
        if (bd->nkernels > QV_WIRE_MAX_KERNELS || (bd->nkernels && !bd->kernels)) {
            w_fail(w);
            return;
        }
        w_u16(w, bd->nkernels);
        for (unsigned k = 0; k < bd->nkernels; k++) {
            const qv_wire_kernel *kn = &bd->kernels[k];
            w_str(w, kn->kernel);
            w_str(w, kn->func);
            if (kn->nargs > QV_MAX_ARGS) {
                w_fail(w);
                return;
            }
            w_u8(w, kn->nargs);
            for (unsigned a = 0; a < kn->nargs; a++) {
                w_u8(w, kn->args[a].is_buf);
                w_u8(w, kn->args[a].mode);
                w_u32(w, kn->args[a].size);
            }
        }
    }
}

static void enc_run(writer *w, const qv_wire_msg *m)
{
    uint32_t nt = m->u.run.ntasks;
    if (nt == 0 || !m->u.run.tasks) {
        w_fail(w);
        return;
    }
    w_u32(w, nt);
    for (uint32_t t = 0; t < nt; t++) {
        const qv_wire_task *tk = &m->u.run.tasks[t];
        if (tk->nargs > QV_MAX_ARGS || (tk->nargs && !tk->args) || !tk->func ||
            !tk->func[0]) {
            w_fail(w);
            return;
        }
        w_str(w, tk->func);
        w_u8(w, tk->nargs);
        for (unsigned a = 0; a < tk->nargs; a++) {
            const qv_wire_arg *ar = &tk->args[a];
            w_u8(w, ar->kind);
            if (ar->kind == QV_WIRE_ARG_BUF) {
                w_u64(w, ar->buf);
                w_u8(w, ar->mode);
            } else if (ar->kind == QV_WIRE_ARG_VAL) {
                if (ar->size == 0 || ar->size > QV_WIRE_MAX_SCALAR || !ar->val) {
                    w_fail(w);
                    return;
                }
                w_u16(w, ar->size);
                w_bytes(w, ar->val, ar->size);
            } else {
                {
                    w_fail(w);
                    return;
                }
            }
        }
    }
    uint16_t no = m->u.run.nouts;
    if (!no)
        return;
    if (no > QV_WIRE_MAX_OUTPUTS || !m->u.run.outs) {
        w_fail(w);
        return;
    }
    w_u16(w, no);
    for (unsigned i = 0; i < no; i++)
        w_u64(w, m->u.run.outs[i]);
}

/* A RUN reply's outputs (QV_WIRE_FLAG_OUTPUTS): their lengths must add up
 * to the data frame's. */
static void enc_run_outs(writer *w, const qv_wire_msg *m)
{
    uint16_t no = m->u.run_reply.nouts;
    if (!no)
        return;
    if (no > QV_WIRE_MAX_OUTPUTS || !m->u.run_reply.outs) {
        w_fail(w);
        return;
    }
    uint64_t sum = 0;
    w_u16(w, no);
    for (unsigned i = 0; i < no; i++) {
        const qv_wire_out *o = &m->u.run_reply.outs[i];
        if (o->length > UINT64_MAX - sum) {
            w_fail(w);
            return;
        }
        sum += o->length;
        w_u64(w, o->buf);
        w_u64(w, o->length);
    }
    if (sum != m->data.size)
        w_fail(w);
}

static void enc_body(writer *w, const qv_wire_msg *m)
{
    switch (m->type) {
    case QV_WIRE_HELLO:
        w_str(w, m->u.hello.client);
        break;
    case QV_WIRE_HELLO | QV_WIRE_REPLY:
        enc_hello_reply(w, &m->u.hello_reply);
        break;
    case QV_WIRE_LOAD:
        if (!m->u.load.kernel || !m->u.load.kernel[0]) {
            w_fail(w);
            return;
        }
        w_str(w, m->u.load.kernel);
        break;
    case QV_WIRE_ALLOC:
        w_u64(w, m->u.alloc.size);
        w_u16(w, m->u.alloc.bank);
        break;
    case QV_WIRE_ALLOC | QV_WIRE_REPLY:
        w_u64(w, m->u.alloc_reply.buf);
        break;
    case QV_WIRE_WRITE:
        w_u64(w, m->u.write.buf);
        w_u64(w, m->u.write.offset);
        break;
    case QV_WIRE_RUN:
        enc_run(w, m);
        break;
    case QV_WIRE_RUN | QV_WIRE_REPLY: {
        uint32_t nt = m->u.run_reply.ntasks;
        if (nt && !m->u.run_reply.results) {
            w_fail(w);
            return;
        }
        w_i32(w, m->u.run_reply.status);
        w_u32(w, nt);
        for (uint32_t t = 0; t < nt; t++) {
            const qv_wire_task_result *r = &m->u.run_reply.results[t];
            w_i32(w, r->status);
            w_f64(w, r->time_us);
            w_u16(w, r->board);
        }
        enc_run_outs(w, m);
        break;
    }
    case QV_WIRE_READ:
        w_u64(w, m->u.read.buf);
        w_u64(w, m->u.read.offset);
        w_u64(w, m->u.read.length);
        break;
    case QV_WIRE_FREE:
        w_u64(w, m->u.free.buf);
        break;
    case QV_WIRE_HEARTBEAT | QV_WIRE_REPLY:
        w_u64(w, m->u.heartbeat_reply.instance);
        w_u32(w, m->u.heartbeat_reply.runs);
        break;
    case QV_WIRE_STATS | QV_WIRE_REPLY:
        if (m->u.stats_reply.n > QV_WIRE_MAX_COUNTERS ||
            (m->u.stats_reply.n && !m->u.stats_reply.counters)) {
            w_fail(w);
            return;
        }
        w_u16(w, m->u.stats_reply.n);
        for (unsigned i = 0; i < m->u.stats_reply.n; i++) {
            w_str(w, m->u.stats_reply.counters[i].name);
            w_u64(w, m->u.stats_reply.counters[i].value);
        }
        break;
    case QV_WIRE_ERROR | QV_WIRE_REPLY:
        w_i32(w, m->u.error.code);
        w_str(w, m->u.error.message);
        break;
    case QV_WIRE_HEARTBEAT:
    case QV_WIRE_STATS:
    case QV_WIRE_LOAD | QV_WIRE_REPLY:
    case QV_WIRE_WRITE | QV_WIRE_REPLY:
    case QV_WIRE_READ | QV_WIRE_REPLY:
    case QV_WIRE_FREE | QV_WIRE_REPLY:
        break; /* empty bodies */
    default:
        w_fail(w);
    }
}

/* The header flags m is encoded with. */
static uint32_t flags_of(const qv_wire_msg *m)
{
    if ((m->type == QV_WIRE_RUN && m->u.run.nouts) ||
        (m->type == (QV_WIRE_RUN | QV_WIRE_REPLY) && m->u.run_reply.nouts))
        return QV_WIRE_FLAG_OUTPUTS;
    return 0;
}

/* Whether messages of this type, with these header flags, carry a data
 * frame. */
static int has_data_frame(unsigned type, uint32_t flags)
{
    return type == QV_WIRE_WRITE || type == (QV_WIRE_READ | QV_WIRE_REPLY) ||
           (type == (QV_WIRE_RUN | QV_WIRE_REPLY) && (flags & QV_WIRE_FLAG_OUTPUTS));
}

int qv__wire_encode(const qv_wire_msg *m, qv_wire_enc *out)
{
    memset(out, 0, sizeof *out);
    if (!m)
        return QV_EINVAL;
    writer w = {0};
    enc_body(&w, m);
    if (!w.err && w.n > UINT32_MAX)
        w.err = QV_EINVAL;
    if (w.err) {
        free(w.p);
        return w.err;
    }
    qv_wire_header h = {
        .version = QV_WIRE_VERSION,
        .type = m->type,
        .id = m->id,
        .body_size = (uint32_t)w.n,
        .flags = flags_of(m),
        .data_size = 0,
    };
    if (has_data_frame(m->type, h.flags)) {
        if (m->data.size && !m->data.data) {
            free(w.p);
            return QV_EINVAL;
        }
        out->has_data = 1;
        out->data = m->data;
        h.data_size = m->data.size;
    }
    qv__wire_header_put(&h, out->head);
    out->body = w.p;
    out->body_size = w.n;
    return 0;
}

void qv__wire_enc_fini(qv_wire_enc *e)
{
    if (!e)
        return;
    free(e->body);
    e->body = NULL;
    e->body_size = 0;
}

int qv__wire_encode_error(uint64_t id, int code, qv_wire_enc *out, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    qv_wire_msg m = {.type = QV_WIRE_ERROR | QV_WIRE_REPLY, .id = id};
    m.u.error.code = code;
    m.u.error.message = text;
    return qv__wire_encode(&m, out);
}

/* ---- reader ---------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p;
    size_t n, off;
    int err;   /* first error */
    char *msg; /* the reason, errlen bytes */
    size_t msglen;
    uint32_t flags; /* the header's */
    size_t data;    /* bytes of the data frame */
} reader;

static void r_fail(reader *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void r_fail(reader *r, int code, const char *fmt, ...)
{
    if (r->err)
        return;
    r->err = code;
    if (!r->msg || !r->msglen)
        return;
    int k = snprintf(r->msg, r->msglen, "frame 1 (body) offset %zu: ", r->off);
    if (k < 0 || (size_t)k >= r->msglen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg + k, r->msglen - (size_t)k, fmt, ap);
    va_end(ap);
}

static const uint8_t *r_take(reader *r, size_t n, const char *field)
{
    if (r->err)
        return NULL;
    if (n > r->n - r->off) {
        r_fail(r, QV_EFORMAT, "%s: needs %zu bytes, %zu left of %zu", field, n,
               r->n - r->off, r->n);
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

static uint64_t r_int(reader *r, unsigned n, const char *field)
{
    const uint8_t *p = r_take(r, n, field);
    return p ? get_le(p, n) : 0;
}

static uint8_t r_u8(reader *r, const char *f)
{
    return (uint8_t)r_int(r, 1, f);
}
static uint16_t r_u16(reader *r, const char *f)
{
    return (uint16_t)r_int(r, 2, f);
}
static uint32_t r_u32(reader *r, const char *f)
{
    return (uint32_t)r_int(r, 4, f);
}
static uint64_t r_u64(reader *r, const char *f)
{
    return r_int(r, 8, f);
}
static int32_t r_i32(reader *r, const char *f)
{
    uint32_t u = r_u32(r, f);
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}
static double r_f64(reader *r, const char *f)
{
    return bits_f64(r_u64(r, f));
}

/* A str; points into the body. Returns "" after an error. */
static const char *r_str(reader *r, const char *field)
{
    uint16_t n = r_u16(r, field);
    if (r->err)
        return "";
    if (n == 0 || n > QV_WIRE_MAX_STR) {
        r_fail(r, n ? QV_E2BIG : QV_EFORMAT,
               "%s: string length %u (1 to %u with its NUL)", field, (unsigned)n,
               (unsigned)QV_WIRE_MAX_STR);
        return "";
    }
    const uint8_t *p = r_take(r, n, field);
    if (!p)
        return "";
    if (p[n - 1] != 0 || memchr(p, 0, n - 1)) {
        r->off -= n;
        r_fail(r, QV_EFORMAT, "%s: a string must end with its only NUL", field);
        return "";
    }
    return (const char *)p;
}

/* Checks a count against its bound and against the bytes left, given that
 * each element takes at least min_bytes: a count the body cannot hold is
 * refused before anything is allocated for it. */
static int r_count(reader *r, uint64_t count, uint64_t bound, size_t min_bytes,
                   const char *what)
{
    if (r->err)
        return -1;
    if (count > bound) {
        r_fail(r, QV_E2BIG, "%" PRIu64 " %s, at most %" PRIu64, count, what, bound);
        return -1;
    }
    if (count * min_bytes > r->n - r->off) {
        r_fail(r, QV_EFORMAT, "%" PRIu64 " %s need at least %" PRIu64 " bytes, %zu left",
               count, what, count * (uint64_t)min_bytes, r->n - r->off);
        return -1;
    }
    return 0;
}

static int check_mode(reader *r, uint8_t mode, const char *field)
{
    if (mode != QV_R && mode != QV_W && mode != QV_RW) {
        r_fail(r, QV_EFORMAT, "%s: access mode %u (1 read, 2 write, 3 both)", field,
               (unsigned)mode);
        return -1;
    }
    return 0;
}

/* ---- decoding of bodies ---------------------------------------------------- */

/* The count of a RUN's or its reply's outputs (QV_WIRE_FLAG_OUTPUTS),
 * each `each` bytes: 1 to QV_WIRE_MAX_OUTPUTS; 0 after a refusal. */
static uint16_t r_nouts(reader *r, size_t each)
{
    uint16_t no = r_u16(r, "noutputs");
    if (!r->err && no == 0) {
        r->off -= 2;
        r_fail(r, QV_EFORMAT, "the outputs flag with no outputs");
        return 0;
    }
    if (r_count(r, no, QV_WIRE_MAX_OUTPUTS, each, "outputs"))
        return 0;
    return no;
}

/* RUN in two passes over the same bytes: the first (m->u.run.tasks NULL)
 * validates and counts the arguments, the second fills the arrays. */
static void dec_run_pass(reader *r, qv_wire_msg *m, qv_wire_arg *args, uint64_t *outs,
                         const qv_wire_limits *lim, size_t *nargs_total)
{
    char what[64];
    uint32_t nt = r_u32(r, "ntasks");
    if (r->err)
        return;
    if (nt == 0) {
        r->off -= 4;
        r_fail(r, QV_EFORMAT, "a run needs at least one task");
        return;
    }
    /* A task takes at least 4 bytes: a 1-byte name and its NUL, nargs. */
    if (r_count(r, nt, lim->max_tasks, 4, "tasks"))
        return;
    m->u.run.ntasks = nt;
    size_t total = 0;
    for (uint32_t t = 0; t < nt && !r->err; t++) {
        snprintf(what, sizeof what, "task %" PRIu32 " function", t);
        const char *func = r_str(r, what);
        if (!r->err && !func[0]) {
            r_fail(r, QV_EFORMAT, "task %" PRIu32 ": empty function name", t);
            break;
        }
        snprintf(what, sizeof what, "task %" PRIu32 " nargs", t);
        uint8_t na = r_u8(r, what);
        if (r->err)
            break;
        if (na > QV_MAX_ARGS) {
            r->off -= 1;
            r_fail(r, QV_E2BIG, "task %" PRIu32 ": %u arguments, at most %d", t,
                   (unsigned)na, QV_MAX_ARGS);
            break;
        }
        if (m->u.run.tasks) {
            m->u.run.tasks[t].func = func;
            m->u.run.tasks[t].nargs = na;
            m->u.run.tasks[t].args = na ? args + total : NULL;
        }
        for (unsigned a = 0; a < na && !r->err; a++) {
            qv_wire_arg ar = {0};
            snprintf(what, sizeof what, "task %" PRIu32 " arg %u", t, a);
            ar.kind = r_u8(r, what);
            if (r->err)
                break;
            if (ar.kind == QV_WIRE_ARG_BUF) {
                ar.buf = r_u64(r, what);
                ar.mode = r_u8(r, what);
                if (r->err || check_mode(r, ar.mode, what))
                    break;
            } else if (ar.kind == QV_WIRE_ARG_VAL) {
                ar.size = r_u16(r, what);
                if (r->err)
                    break;
                if (ar.size == 0 || ar.size > QV_WIRE_MAX_SCALAR) {
                    r->off -= 2;
                    r_fail(r, ar.size ? QV_E2BIG : QV_EFORMAT,
                           "%s: scalar of %u bytes (1 to %d)", what, (unsigned)ar.size,
                           QV_WIRE_MAX_SCALAR);
                    break;
                }
                ar.val = r_take(r, ar.size, what);
            } else {
                r->off -= 1;
                r_fail(r, QV_EFORMAT, "%s: argument kind %u (0 value, 1 buffer)", what,
                       (unsigned)ar.kind);
                break;
            }
            if (args && !r->err)
                args[total] = ar;
            total++;
        }
    }
    *nargs_total = total;
    if (r->err || !(r->flags & QV_WIRE_FLAG_OUTPUTS))
        return;
    uint16_t no = r_nouts(r, 8);
    if (!no)
        return;
    m->u.run.nouts = no;
    for (unsigned i = 0; i < no; i++) {
        uint64_t b = r_u64(r, "output");
        if (outs)
            outs[i] = b;
    }
}

static void dec_run(reader *r, qv_wire_msg *m, const qv_wire_limits *lim)
{
    size_t nargs = 0;
    size_t start = r->off;
    m->u.run.tasks = NULL;
    dec_run_pass(r, m, NULL, NULL, lim, &nargs);
    if (r->err)
        return;
    size_t tbytes = (size_t)m->u.run.ntasks * sizeof(qv_wire_task);
    size_t abytes = nargs * sizeof(qv_wire_arg);
    void *block = malloc(tbytes + abytes + m->u.run.nouts * sizeof(uint64_t) + 1);
    if (!block) {
        r_fail(r, QV_ENOMEM, "out of memory for %" PRIu32 " tasks", m->u.run.ntasks);
        return;
    }
    m->alloc_ = block;
    m->u.run.tasks = block;
    qv_wire_arg *args = (qv_wire_arg *)((char *)block + tbytes);
    uint64_t *outs = m->u.run.nouts ? (uint64_t *)((char *)block + tbytes + abytes) : NULL;
    m->u.run.outs = outs;
    r->off = start;
    dec_run_pass(r, m, args, outs, lim, &nargs);
}

/* A RUN reply: its results and, with QV_WIRE_FLAG_OUTPUTS, the outputs the
 * data frame holds. */
static void dec_run_reply(reader *r, qv_wire_msg *m, const qv_wire_limits *lim)
{
    m->u.run_reply.status = r_i32(r, "status");
    uint32_t nt = r_u32(r, "ntasks");
    if (r_count(r, nt, lim->max_tasks, 14, "task results"))
        return;
    m->u.run_reply.ntasks = nt;
    bool outs = (r->flags & QV_WIRE_FLAG_OUTPUTS) != 0;
    if (!nt && !outs)
        return;
    size_t rbytes = (size_t)nt * sizeof(qv_wire_task_result);
    void *block = calloc(1, rbytes + (outs ? QV_WIRE_MAX_OUTPUTS * sizeof(qv_wire_out) : 0));
    if (!block) {
        r_fail(r, QV_ENOMEM, "out of memory for %" PRIu32 " results", nt);
        return;
    }
    m->alloc_ = block;
    qv_wire_task_result *res = nt ? block : NULL;
    m->u.run_reply.results = res;
    for (uint32_t t = 0; t < nt; t++) {
        res[t].status = r_i32(r, "task status");
        res[t].time_us = r_f64(r, "task time");
        res[t].board = r_u16(r, "task board");
    }
    if (!outs)
        return;
    uint16_t no = r_nouts(r, 16);
    if (!no)
        return;
    qv_wire_out *o = (qv_wire_out *)((char *)block + rbytes);
    m->u.run_reply.nouts = no;
    m->u.run_reply.outs = o;
    uint64_t sum = 0;
    for (unsigned i = 0; i < no && !r->err; i++) {
        o[i].buf = r_u64(r, "output buf");
        o[i].length = r_u64(r, "output length");
        if (!r->err && o[i].length > r->data - sum) {
            r->off -= 8;
            r_fail(r, QV_EFORMAT, "output %u: %" PRIu64 " bytes past the data frame's %zu",
                   i, o[i].length, r->data);
            return;
        }
        sum += o[i].length;
    }
    if (!r->err && sum != r->data)
        r_fail(r, QV_EFORMAT, "outputs of %" PRIu64 " bytes in all, the data frame has %zu",
               sum, r->data);
}

static void dec_hello_reply(reader *r, qv_wire_msg *m)
{
    qv_wire_hello_reply *h = &m->u.hello_reply;
    char what[64];
    h->version = r_u16(r, "version");
    h->instance = r_u64(r, "instance");
    h->heartbeat_ms = r_u32(r, "heartbeat_ms");
    h->caps = r_u32(r, "caps");
    h->limits.max_bytes = r_u64(r, "max_bytes");
    h->limits.max_bufs = r_u32(r, "max_bufs");
    h->limits.max_tasks = r_u32(r, "max_tasks");
    h->limits.max_data = r_u64(r, "max_data");
    h->limits.max_body = 0;
    h->nboards = r_u16(r, "nboards");
    /* A board takes at least 2 + 1 + 8 + 2 + 8 + 8 + 4 + 2 bytes, a kernel
     * 2 + 2 + 1, an argument 6. */
    if (r_count(r, h->nboards, QV_WIRE_MAX_BOARDS, 35, "boards"))
        return;
    if (!h->nboards)
        return;
    /* Pass 1: count the kernels; pass 2 fills. */
    size_t start = r->off, nk_total = 0;
    for (int pass = 0; pass < 2 && !r->err; pass++) {
        qv_wire_kernel *kk = NULL;
        if (pass == 1) {
            size_t bb = (size_t)h->nboards * sizeof(qv_wire_board);
            char *block = calloc(1, bb + nk_total * sizeof(qv_wire_kernel) + 1);
            if (!block) {
                r_fail(r, QV_ENOMEM, "out of memory for the boards");
                return;
            }
            m->alloc_ = block;
            h->boards = (qv_wire_board *)block;
            kk = (qv_wire_kernel *)(block + bb);
            r->off = start;
        }
        size_t nk_seen = 0;
        for (unsigned b = 0; b < h->nboards && !r->err; b++) {
            qv_wire_board bd = {0};
            snprintf(what, sizeof what, "board %u", b);
            bd.name = r_str(r, what);
            bd.cls = r_u8(r, what);
            bd.memory = r_u64(r, what);
            bd.banks = r_u16(r, what);
            bd.link_gbs = r_f64(r, what);
            bd.link_latency_us = r_f64(r, what);
            bd.units = r_u32(r, what);
            bd.nkernels = r_u16(r, what);
            if (!r->err && bd.cls >= QV_CLASS_COUNT) {
                r_fail(r, QV_EFORMAT, "%s: class %u", what, (unsigned)bd.cls);
                break;
            }
            if (r_count(r, bd.nkernels, QV_WIRE_MAX_KERNELS, 5, "kernels"))
                break;
            bd.kernels = kk ? kk + nk_seen : NULL;
            for (unsigned k = 0; k < bd.nkernels && !r->err; k++) {
                qv_wire_kernel kn = {0};
                snprintf(what, sizeof what, "board %u kernel %u", b, k);
                kn.kernel = r_str(r, what);
                kn.func = r_str(r, what);
                kn.nargs = r_u8(r, what);
                if (!r->err && kn.nargs > QV_MAX_ARGS) {
                    r_fail(r, QV_E2BIG, "%s: %u arguments, at most %d", what,
                           (unsigned)kn.nargs, QV_MAX_ARGS);
                    break;
                }
                for (unsigned a = 0; a < kn.nargs && !r->err; a++) {
                    kn.args[a].is_buf = r_u8(r, what);
                    kn.args[a].mode = r_u8(r, what);
                    kn.args[a].size = r_u32(r, what);
                    if (!r->err && kn.args[a].is_buf > 1) {
                        r_fail(r, QV_EFORMAT, "%s arg %u: is_buf %u", what, a,
                               (unsigned)kn.args[a].is_buf);
                    } else if (!r->err && kn.args[a].is_buf) {
                        check_mode(r, kn.args[a].mode, what);
                    }
                }
                if (kk && !r->err)
                    kk[nk_seen] = kn;
                nk_seen++;
            }
            if (h->boards && !r->err)
                h->boards[b] = bd;
        }
        nk_total = nk_seen;
    }
}

static void dec_body(reader *r, qv_wire_msg *m, const qv_wire_limits *lim)
{
    switch (m->type) {
    case QV_WIRE_HELLO:
        m->u.hello.client = r_str(r, "client");
        break;
    case QV_WIRE_HELLO | QV_WIRE_REPLY:
        dec_hello_reply(r, m);
        break;
    case QV_WIRE_LOAD:
        m->u.load.kernel = r_str(r, "kernel");
        if (!r->err && !m->u.load.kernel[0])
            r_fail(r, QV_EFORMAT, "kernel: empty name");
        break;
    case QV_WIRE_ALLOC:
        m->u.alloc.size = r_u64(r, "size");
        m->u.alloc.bank = r_u16(r, "bank");
        if (!r->err && m->u.alloc.size == 0)
            r_fail(r, QV_EFORMAT, "alloc of 0 bytes");
        break;
    case QV_WIRE_ALLOC | QV_WIRE_REPLY:
        m->u.alloc_reply.buf = r_u64(r, "buf");
        break;
    case QV_WIRE_WRITE:
        m->u.write.buf = r_u64(r, "buf");
        m->u.write.offset = r_u64(r, "offset");
        break;
    case QV_WIRE_RUN:
        dec_run(r, m, lim);
        break;
    case QV_WIRE_RUN | QV_WIRE_REPLY:
        dec_run_reply(r, m, lim);
        break;
    case QV_WIRE_READ:
        m->u.read.buf = r_u64(r, "buf");
        m->u.read.offset = r_u64(r, "offset");
        m->u.read.length = r_u64(r, "length");
        if (!r->err && m->u.read.length > lim->max_data)
            r_fail(r, QV_E2BIG, "read of %" PRIu64 " bytes, at most %" PRIu64,
                   m->u.read.length, lim->max_data);
        break;
    case QV_WIRE_FREE:
        m->u.free.buf = r_u64(r, "buf");
        break;
    case QV_WIRE_HEARTBEAT | QV_WIRE_REPLY:
        m->u.heartbeat_reply.instance = r_u64(r, "instance");
        m->u.heartbeat_reply.runs = r_u32(r, "runs");
        break;
    case QV_WIRE_STATS | QV_WIRE_REPLY: {
        uint16_t n = r_u16(r, "ncounters");
        if (r_count(r, n, QV_WIRE_MAX_COUNTERS, 10, "counters"))
            break;
        m->u.stats_reply.n = n;
        if (!n)
            break;
        qv_wire_counter *c = calloc(n, sizeof *c);
        if (!c) {
            r_fail(r, QV_ENOMEM, "out of memory for %u counters", (unsigned)n);
            break;
        }
        m->alloc_ = c;
        m->u.stats_reply.counters = c;
        for (unsigned i = 0; i < n; i++) {
            c[i].name = r_str(r, "counter name");
            c[i].value = r_u64(r, "counter value");
        }
        break;
    }
    case QV_WIRE_ERROR | QV_WIRE_REPLY:
        m->u.error.code = r_i32(r, "code");
        m->u.error.message = r_str(r, "message");
        break;
    default:
        break; /* empty bodies; the type was checked before */
    }
    if (!r->err && r->off != r->n)
        r_fail(r, QV_EFORMAT, "%zu bytes after the end of the %s%s body", r->n - r->off,
               qv__wire_type_name(m->type), (m->type & QV_WIRE_REPLY) ? " reply" : "");
}

/* ---- decoding of messages -------------------------------------------------- */

static int known_type(unsigned type)
{
    unsigned base = type & ~(unsigned)QV_WIRE_REPLY;
    if (type & 0x7f00u)
        return 0;
    if (base >= QV_WIRE_HELLO && base <= QV_WIRE_STATS)
        return 1;
    return type == (QV_WIRE_ERROR | QV_WIRE_REPLY);
}

static int set_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

int qv__wire_header_get(const qv_wire_frame *f, qv_wire_header *h, char *err,
                        size_t errlen)
{
    memset(h, 0, sizeof *h);
    if (!f || (f->size && !f->data))
        return set_err(err, errlen, QV_EFORMAT, "frame 0 (header): missing");
    if (f->size != QV_WIRE_HEADER_SIZE)
        return set_err(err, errlen, QV_EFORMAT,
                       "frame 0 (header): %zu bytes, a header has %d", f->size,
                       QV_WIRE_HEADER_SIZE);
    const uint8_t *p = f->data;
    if (memcmp(p, wire_magic, 4) != 0)
        return set_err(err, errlen, QV_EFORMAT,
                       "frame 0 (header) offset 0: bad magic (not a Quiver "
                       "wire message)");
    h->version = (uint16_t)get_le(p + 4, 2);
    h->type = (uint16_t)get_le(p + 6, 2);
    h->id = get_le(p + 8, 8);
    h->body_size = (uint32_t)get_le(p + 16, 4);
    h->flags = (uint32_t)get_le(p + 20, 4);
    h->data_size = get_le(p + 24, 8);
    if (h->version != QV_WIRE_VERSION)
        return set_err(err, errlen, QV_ENOTSUP,
                       "frame 0 (header) offset 4: protocol version %u, this "
                       "side speaks %d",
                       (unsigned)h->version, QV_WIRE_VERSION);
    if (!known_type(h->type))
        return set_err(err, errlen, QV_ENOTSUP,
                       "frame 0 (header) offset 6: unknown message type 0x%04x",
                       (unsigned)h->type);
    unsigned base = h->type & ~(unsigned)QV_WIRE_REPLY;
    uint32_t allowed = base == QV_WIRE_RUN ? QV_WIRE_FLAG_OUTPUTS : 0;
    if (h->flags & ~allowed)
        return set_err(err, errlen, QV_ENOTSUP,
                       "frame 0 (header) offset 20: flags 0x%08x (%s)",
                       (unsigned)h->flags,
                       allowed ? "a run's only flag is 0x1, its outputs"
                               : "none are defined for this type");
    return 0;
}

int qv__wire_decode(const qv_wire_frame *frames, size_t nframes,
                    const qv_wire_limits *lim, qv_wire_msg *out, char *err, size_t errlen)
{
    qv_wire_limits deflim;
    if (!lim) {
        qv__wire_limits_default(&deflim);
        lim = &deflim;
    }
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = 0;
    if (!frames || nframes == 0)
        return set_err(err, errlen, QV_EFORMAT, "empty message (no frames)");
    qv_wire_header h;
    int rc = qv__wire_header_get(&frames[0], &h, err, errlen);
    if (frames[0].size == QV_WIRE_HEADER_SIZE && frames[0].data &&
        memcmp(frames[0].data, wire_magic, 4) == 0) {
        out->id = h.id; /* readable enough to answer */
        out->type = h.type;
    }
    if (rc)
        return rc;
    int data = has_data_frame(h.type, h.flags);
    size_t want = data ? 3 : 2;
    if (nframes != want)
        return set_err(
            err, errlen, QV_EFORMAT, "%zu frames, a %s%s has %zu (header, body%s)",
            nframes, qv__wire_type_name(h.type), (h.type & QV_WIRE_REPLY) ? " reply" : "",
            want, data ? ", data" : "");
    if (h.body_size > lim->max_body)
        return set_err(err, errlen, QV_E2BIG,
                       "frame 0 (header) offset 16: body of %" PRIu32
                       " bytes, at most %" PRIu32,
                       h.body_size, lim->max_body);
    if (frames[1].size != h.body_size || (frames[1].size && !frames[1].data))
        return set_err(err, errlen, QV_EFORMAT,
                       "frame 1 (body): %zu bytes, the header says %" PRIu32,
                       frames[1].size, h.body_size);
    if (data) {
        if (h.data_size > lim->max_data)
            return set_err(err, errlen, QV_E2BIG,
                           "frame 0 (header) offset 24: data of %" PRIu64
                           " bytes, at most %" PRIu64,
                           h.data_size, lim->max_data);
        if (frames[2].size != h.data_size || (frames[2].size && !frames[2].data))
            return set_err(err, errlen, QV_EFORMAT,
                           "frame 2 (data): %zu bytes, the header says %" PRIu64,
                           frames[2].size, h.data_size);
        out->data = frames[2];
    } else if (h.data_size) {
        return set_err(err, errlen, QV_EFORMAT,
                       "frame 0 (header) offset 24: data length %" PRIu64
                       " on a message without data",
                       h.data_size);
    }
    reader r = {.p = frames[1].data,
                .n = frames[1].size,
                .msg = err,
                .msglen = errlen,
                .flags = h.flags,
                .data = data ? frames[2].size : 0};
    dec_body(&r, out, lim);
    if (r.err) {
        uint64_t id = out->id;
        uint16_t type = out->type;
        qv__wire_msg_fini(out);
        memset(out, 0, sizeof *out);
        out->id = id;
        out->type = type;
        return r.err;
    }
    return 0;
}

void qv__wire_msg_fini(qv_wire_msg *m)
{
    if (!m)
        return;
    free(m->alloc_);
    m->alloc_ = NULL;
}
