/*
 * buf.c - registered buffers. The memory is the caller's; the runtime keeps
 * each buffer's dependency state (last writer, readers since) and a count of
 * submitted tasks still using it, which unregistering waits for.
 */
#include <stdlib.h>

#include "core/internal.h"

QV_API int qv_buf_register(qv_runtime *rt, void *ptr, size_t n, qv_buf **out)
{
    if (out)
        *out = NULL;
    if (!rt || !out || (!ptr && n))
        return qv__fail(QV_EINVAL, "qv_buf_register: NULL argument");
    qv_buf *b = calloc(1, sizeof *b);
    if (!b)
        return qv__fail(QV_ENOMEM, "qv_buf_register: out of memory");
    b->rt = rt;
    b->ptr = ptr;
    b->size = n;
    atomic_init(&b->users, 0);
    atomic_init(&b->valid, 1u); /* the host holds it */
    pthread_mutex_init(&b->coh_mu, NULL);
    pthread_mutex_lock(&rt->reg_mu);
    b->next = rt->bufs;
    if (rt->bufs)
        rt->bufs->prev = b;
    rt->bufs = b;
    pthread_mutex_unlock(&rt->reg_mu);
    *out = b;
    return 0;
}

/* Drops the buffer's references to tasks and frees it. The caller made sure
 * no task uses it. */
static void buf_free(qv_buf *b)
{
    qv_runtime *rt = b->rt;
    if (qv__coh_flush(rt, b) != 0)
        qv__log(0, "buffer %p: the only valid copy was on a device that failed; "
                "the host keeps its older data", b->ptr);
    pthread_mutex_destroy(&b->coh_mu);
    pthread_mutex_lock(&rt->submit_mu);
    if (b->last_writer)
        qv__task_release(rt, b->last_writer);
    for (size_t i = 0; i < b->nreaders; i++)
        if (b->readers[i].task)
            qv__task_release(rt, b->readers[i].task);
    pthread_mutex_unlock(&rt->submit_mu);
    free(b->readers);
    free(b);
}

static void buf_unlink(qv_buf *b)
{
    qv_runtime *rt = b->rt;
    pthread_mutex_lock(&rt->reg_mu);
    if (b->prev)
        b->prev->next = b->next;
    else
        rt->bufs = b->next;
    if (b->next)
        b->next->prev = b->prev;
    pthread_mutex_unlock(&rt->reg_mu);
}

QV_API int qv_buf_unregister(qv_buf *buf)
{
    if (!buf)
        return qv__fail(QV_EINVAL, "qv_buf_unregister: NULL buffer");
    if (qv__current_worker() && atomic_load(&buf->users) > 0)
        return qv__fail(QV_EDEADLK, "qv_buf_unregister called from a task while "
                        "tasks still use the buffer: it would wait on itself");
    int rc = qv__wait(buf->rt, buf);
    if (rc)
        return rc;
    buf_unlink(buf);
    buf_free(buf);
    return 0;
}

QV_API int qv_buf_try_unregister(qv_buf *buf)
{
    if (!buf)
        return qv__fail(QV_EINVAL, "qv_buf_try_unregister: NULL buffer");
    size_t users = atomic_load(&buf->users);
    if (users > 0)
        return qv__fail(QV_EBUSY, "buffer %p is still used by %zu submitted task%s",
                        buf->ptr, users, users == 1 ? "" : "s");
    buf_unlink(buf);
    buf_free(buf);
    return 0;
}

QV_API int qv_buf_wait(qv_buf *buf)
{
    if (!buf)
        return qv__fail(QV_EINVAL, "qv_buf_wait: NULL buffer");
    if (qv__current_worker() && atomic_load(&buf->users) > 0)
        return qv__fail(QV_EDEADLK, "qv_buf_wait called from a task: it would wait on itself");
    int rc = qv__wait(buf->rt, buf);
    if (rc)
        return rc;
    /* The caller is about to use the data: make the host copy current. A
     * device copy stays valid, so the next task there needs no copy. */
    return buf->rt->naccel ? qv__coh_acquire(buf->rt, buf, 0, QV_R) : 0;
}

QV_API void *qv_buf_data(const qv_buf *buf)
{
    return buf ? buf->ptr : NULL;
}

QV_API size_t qv_buf_size(const qv_buf *buf)
{
    return buf ? buf->size : 0;
}

void qv__bufs_destroy(qv_runtime *rt)
{
    while (rt->bufs) {
        qv_buf *b = rt->bufs;
        rt->bufs = b->next;
        b->prev = b->next = NULL;
        buf_free(b);
    }
}
