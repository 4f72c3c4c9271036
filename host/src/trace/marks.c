/*
 * marks.c - the trace's marks: a ring of the last QV__MARKS_MAX (time,
 * name, detail), under a mutex of its own (see marks.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "trace/marks.h"

typedef struct qv__mark_slot {
    uint64_t ns;
    char    *text; /* name, NUL, detail, NUL: one allocation */
    size_t   name_len, detail_len;
} qv__mark_slot;

struct qv__marks {
    pthread_mutex_t mu;
    qv__mark_slot  *ring;    /* QV__MARKS_MAX slots from the first mark */
    size_t          head;    /* the oldest slot */
    size_t          n;       /* slots in use */
    uint64_t        dropped; /* marks overwritten since the last clear */
};

int qv__marks_init(qv_runtime *rt)
{
    qv__marks *m = calloc(1, sizeof *m);
    if (!m || pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return QV_ENOMEM;
    }
    rt->marks = m;
    return 0;
}

static void clear_locked(qv__marks *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->ring[(m->head + i) % QV__MARKS_MAX].text);
    m->head = m->n = 0;
    m->dropped = 0;
}

void qv__marks_free(qv_runtime *rt)
{
    qv__marks *m = rt->marks;
    if (!m)
        return;
    clear_locked(m);
    free(m->ring);
    pthread_mutex_destroy(&m->mu);
    free(m);
    rt->marks = NULL;
}

/* Bytes of s to keep, at most max, not ending inside a UTF-8 character. */
static size_t cut(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    n = max;
    while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

void qv__trace_mark(qv_runtime *rt, const char *name, const char *detail)
{
    qv__marks *m = rt ? rt->marks : NULL;
    if (!m || !name)
        return;
    if (!detail)
        detail = "";
    size_t nl = cut(name, QV__MARK_NAME_MAX), dl = cut(detail, QV__MARK_DETAIL_MAX);
    char *text = malloc(nl + dl + 2);
    if (!text)
        return;
    memcpy(text, name, nl);
    text[nl] = 0;
    memcpy(text + nl + 1, detail, dl);
    text[nl + 1 + dl] = 0;
    pthread_mutex_lock(&m->mu);
    if (!m->ring && !(m->ring = malloc(QV__MARKS_MAX * sizeof *m->ring))) {
        pthread_mutex_unlock(&m->mu);
        free(text);
        return;
    }
    qv__mark_slot *s;
    if (m->n == QV__MARKS_MAX) { /* the oldest goes */
        s = &m->ring[m->head];
        free(s->text);
        m->head = (m->head + 1) % QV__MARKS_MAX;
        m->dropped++;
    } else {
        s = &m->ring[(m->head + m->n++) % QV__MARKS_MAX];
    }
    /* Timed under the lock: the ring is in time order. */
    *s = (qv__mark_slot){ qv__now_ns(), text, nl, dl };
    pthread_mutex_unlock(&m->mu);
}

void qv__marks_clear(qv_runtime *rt)
{
    qv__marks *m = rt ? rt->marks : NULL;
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    clear_locked(m);
    pthread_mutex_unlock(&m->mu);
}

int qv__marks_copy(qv_runtime *rt, qv__mark **out, size_t *n, uint64_t *dropped)
{
    qv__marks *m = rt->marks;
    *out = NULL;
    *n = 0;
    if (dropped)
        *dropped = 0;
    if (!m)
        return 0;
    pthread_mutex_lock(&m->mu);
    size_t bytes = m->n * sizeof **out;
    for (size_t i = 0; i < m->n; i++) {
        const qv__mark_slot *s = &m->ring[(m->head + i) % QV__MARKS_MAX];
        bytes += s->name_len + s->detail_len + 2;
    }
    qv__mark *a = m->n ? malloc(bytes) : NULL;
    if (m->n && !a) {
        pthread_mutex_unlock(&m->mu);
        return QV_ENOMEM;
    }
    char *p = (char *)(a + m->n);
    for (size_t i = 0; i < m->n; i++) {
        const qv__mark_slot *s = &m->ring[(m->head + i) % QV__MARKS_MAX];
        size_t len = s->name_len + s->detail_len + 2;
        memcpy(p, s->text, len);
        a[i] = (qv__mark){ s->ns, p, p + s->name_len + 1 };
        p += len;
    }
    *out = a;
    *n = m->n;
    if (dropped)
        *dropped = m->dropped;
    pthread_mutex_unlock(&m->mu);
    return 0;
}
