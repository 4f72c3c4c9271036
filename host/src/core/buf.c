/*
 * buf.c - registered buffers. The memory is the caller's; the runtime keeps
 * each buffer's dependency state (last writer, readers since) and a count of
 * submitted tasks still using it, which unregistering waits for.
 *
 * Two buffers may not overlap: their tasks would race through memory that
 * the dependency rules see as two things. Registered ranges sit in a
 * balanced tree (tsearch) so that the check stays logarithmic.
 *
 * An unregistered handle is not freed at once: its struct stays on a short
 * list with its magic cleared, so that a second qv_buf_unregister or a
 * qv_buf_wait on it is refused with QV_EINVAL rather than touching freed
 * memory. Only the oldest of that list is freed (and a handle kept beyond
 * it may then dangle: a cheap check, not a guarantee), never while a
 * submission that began before its unregister waits to check it.
 */
#include <search.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/internal.h"

/* Unregistered handles kept for the misuse check. */
#define DEAD_KEPT 256

static int range_cmp(const void *a, const void *b)
{
    const struct { uintptr_t lo, hi; } *x = a, *y = b;
    if (x->hi <= y->lo)
        return -1;
    if (y->hi <= x->lo)
        return 1;
    return 0; /* overlapping: the same as far as the tree goes */
}

QV_API int qv_buf_register(qv_runtime *rt, void *ptr, size_t n, qv_buf **out)
{
    if (out)
        *out = NULL;
    if (!qv__rt_ok(rt) || !out || (!ptr && n))
        return qv__fail(QV_EINVAL, "qv_buf_register: %s", qv__args_why(rt));
    if (n && (uintptr_t)ptr + n < (uintptr_t)ptr)
        return qv__fail(QV_EINVAL, "qv_buf_register: %zu bytes at %p wrap around the "
                        "address space", n, ptr);
    qv_buf *b = calloc(1, sizeof *b);
    if (!b)
        return qv__fail(QV_ENOMEM, "qv_buf_register: out of memory");
    b->magic = QV__BUF_MAGIC;
    b->rt = rt;
    b->ptr = ptr;
    b->size = n;
    b->range.lo = (uintptr_t)ptr;
    b->range.hi = (uintptr_t)ptr + n;
    atomic_init(&b->nuse, 0);
    atomic_init(&b->npf, 0);
    atomic_init(&b->ndone, 0);
    atomic_init(&b->valid, 1u); /* the host holds it */
    atomic_init(&b->err, 0);
    atomic_init(&b->acquiring, false);
    pthread_mutex_init(&b->coh_mu, NULL);
    pthread_mutex_lock(&rt->reg_mu);
    if (n) {
        void **node = tsearch(&b->range, &rt->buf_tree, range_cmp);
        if (!node || *node != (void *)&b->range) {
            /* The other buffer as it is now: once unlocked, another thread
             * may unregister it. */
            const qv_buf *o =
                node ? (const qv_buf *)((const char *)*node - offsetof(qv_buf, range)) : NULL;
            size_t osize = o ? o->size : 0;
            const void *optr = o ? o->ptr : NULL;
            pthread_mutex_unlock(&rt->reg_mu);
            pthread_mutex_destroy(&b->coh_mu);
            free(b);
            if (!node)
                return qv__fail(QV_ENOMEM, "qv_buf_register: out of memory");
            return qv__fail(QV_EEXIST, "qv_buf_register: %zu bytes at %p overlap the "
                            "registered buffer of %zu bytes at %p; a buffer may not "
                            "share memory with another", n, ptr, osize, optr);
        }
    }
    b->next = rt->bufs;
    if (rt->bufs)
        rt->bufs->prev = b;
    rt->bufs = b;
    pthread_mutex_unlock(&rt->reg_mu);
    *out = b;
    return 0;
}

/* Drops the buffer's references to tasks and its device copies. The caller
 * made sure no task uses it. Returns the error of a copy home that failed. */
static int buf_retire(qv_buf *b)
{
    qv_runtime *rt = b->rt;
    pthread_mutex_lock(&rt->reg_mu); /* a full device's eviction passes it by */
    b->retired = true;
    while (b->pins) /* a full or failed device moving its copy now */
        pthread_cond_wait(&rt->unpinned, &rt->reg_mu);
    pthread_mutex_unlock(&rt->reg_mu);
    /* A failed device's copy that could not come home meanwhile: its error
     * is the caller's (it was not there when the caller looked). */
    int lost = qv__buf_take_error(b);
    int rc = qv__coh_flush(rt, b);
    if (!rc) {
        rc = lost; /* logged when it was lost */
    } else {
        qv__log(0,
                "buffer %p: its only valid copy could not be brought home: %s; the host "
                "keeps its older data",
                b->ptr, qv_last_error());
    }
    pthread_mutex_lock(&rt->submit_mu);
    if (b->last_writer)
        qv__task_release_locked(rt, b->last_writer);
    b->last_writer = NULL;
    for (size_t i = 0; i < b->nreaders; i++)
        qv__task_release_locked(rt, b->readers[i]);
    b->nreaders = 0;
    pthread_mutex_unlock(&rt->submit_mu);
    free(b->readers);
    b->readers = NULL;
    free(b->err_msg);
    b->err_msg = NULL;
    pthread_mutex_destroy(&b->coh_mu);
    return rc;
}

/* Takes b out of the registry and keeps its struct on the dead list. The
 * oldest are freed under submit_mu, and only those unregistered before
 * every submitter now waiting with it let go began to wait: such a call
 * checks its arguments once it has the lock again, and read a handle that
 * 256 unregisters had freed meanwhile (ASan: heap-use-after-free in
 * qv__arg_check; adversarial testing). The list grows past DEAD_KEPT by
 * the unregisters made during the longest such wait. */
static void buf_unlink(qv_buf *b)
{
    qv_runtime *rt = b->rt;
    qv_buf *old = NULL;
    pthread_mutex_lock(&rt->submit_mu);
    pthread_mutex_lock(&rt->reg_mu);
    b->magic = 0;
    if (b->size)
        tdelete(&b->range, &rt->buf_tree, range_cmp);
    if (b->prev)
        b->prev->next = b->next;
    else
        rt->bufs = b->next;
    if (b->next)
        b->next->prev = b->prev;
    b->prev = NULL;
    b->next = NULL;
    if (rt->dead_tail)
        rt->dead_tail->next = b;
    else
        rt->dead_head = b;
    rt->dead_tail = b;
    rt->ndead++;
    b->dead_seq = rt->nunlinked++;
    uint64_t oldest = UINT64_MAX; /* the oldest waiting submitter's count */
    for (const struct qv__park *p = rt->parks; p; p = p->next)
        oldest = p->seq < oldest ? p->seq : oldest;
    qv_buf **last = &old;
    for (; rt->ndead > DEAD_KEPT && rt->dead_head->dead_seq < oldest; rt->ndead--) {
        *last = rt->dead_head;
        rt->dead_head = (*last)->next;
        last = &(*last)->next;
    }
    *last = NULL;
    pthread_mutex_unlock(&rt->reg_mu);
    pthread_mutex_unlock(&rt->submit_mu);
    while (old) {
        qv_buf *next = old->next;
        free(old);
        old = next;
    }
}

int qv__buf_bad(const qv_buf *b, const char *who)
{
    /* Registered, to a runtime that is gone or the parent's. */
    if (b && b->magic == QV__BUF_MAGIC)
        return qv__fail(QV_EINVAL, "%s: a buffer whose runtime is unusable: %s", who,
                        qv__rt_why(b->rt));
    return qv__fail(QV_EINVAL, "%s: %s buffer", who,
                    b ? "an unregistered (or destroyed runtime's)" : "NULL");
}

/* Claims buf for its unregister, under submit_mu: from then on no
 * submission, acquisition or wait takes it (they check the magic under
 * the same lock), so what the unregister waits for is all there is. (A
 * submission racing the unregister of another thread once passed the
 * check after the wait and ran on the buffer after the unregister had
 * returned: a user's test.) Refuses buffers the host holds (the wait
 * would never end) and, with try or from a task, buffers in use: looked
 * at under the lock, as a submission that came between a look before it
 * and the claim was waited for from the task, whose own end it waited
 * for (a hang, adversarial testing). */
static int claim(qv_buf *buf, bool try, const char *who)
{
    qv_runtime *rt = buf->rt;
    int rc = 0;
    pthread_mutex_lock(&rt->submit_mu);
    /* Calls another thread deferred on buf since the caller forced them
     * (a replay holding a chain back): forced too, or they would be owed
     * to a buffer gone (code review: the call was dropped). */
    while (atomic_load(&buf->magic) == QV__BUF_MAGIC && qv__defer_hit(buf, QV_RW)) {
        pthread_mutex_unlock(&rt->submit_mu);
        if (try) { /* submitted now: a later try finds them done */
            qv__defer_host_try(rt, buf, QV_RW);
            return qv__fail(QV_EBUSY, "%s: calls owed to buffer %p were deferred; they "
                            "run now", who, buf->ptr);
        }
        qv__defer_host(rt, buf, QV_RW);
        pthread_mutex_lock(&rt->submit_mu);
    }
    bool in_task = qv__task_context(rt);
    size_t users = try || in_task ? qv__buf_users(buf) : 0;
    if (atomic_load(&buf->magic) != QV__BUF_MAGIC) {
        rc = qv__buf_bad(buf, who); /* another thread's unregister won */
    } else if (buf->held) {
        rc = qv__fail(QV_EBUSY, "%s: buffer %p is acquired by the host; call "
                      "qv_buf_release first", who, buf->ptr);
    } else if (!try && qv__held_blocks(rt, buf, QV_RW)) {
        rc = qv__fail(QV_EDEADLK, "%s: the wait would never end: buffer %p is used by a "
                      "task that waits for a buffer this thread holds (qv_buf_release it "
                      "first)", who, buf->ptr);
    } else if (users && !try) { /* in a task */
        rc = qv__fail(QV_EDEADLK, "%s called from a task while tasks still use the "
                      "buffer: it would wait on itself", who);
    } else if (users) {
        rc = qv__fail(QV_EBUSY, "buffer %p is still used by %zu submitted task%s",
                      buf->ptr, users, users == 1 ? "" : "s");
    } else if (try && atomic_load(&buf->hosts)) {
        rc = qv__fail(QV_EBUSY, "buffer %p: another thread waits for it (qv_buf_wait)",
                      buf->ptr);
    } else if (try) {
        /* Nor while a full or failed device moves its copy (a pin):
         * retired now, no device pins it any more. */
        pthread_mutex_lock(&rt->reg_mu);
        if (buf->pins)
            rc = qv__fail(QV_EBUSY, "buffer %p: a device that is full or failed is "
                          "moving its copy", buf->ptr);
        else
            buf->retired = true;
        pthread_mutex_unlock(&rt->reg_mu);
    }
    if (!rc)
        atomic_store(&buf->magic, 0);
    pthread_mutex_unlock(&rt->submit_mu);
    return rc;
}

QV_API int qv_buf_unregister(qv_buf *buf)
{
    if (!qv__buf_ok(buf))
        return qv__buf_bad(buf, "qv_buf_unregister");
    /* Deferred calls on buf (defer.c) run first: the memory is the
     * caller's again once this returns. */
    if (!qv__current_worker(buf->rt))
        qv__region_flush(buf->rt);
    qv__defer_host(buf->rt, buf, QV_RW);
    int rc = claim(buf, false, "qv_buf_unregister");
    if (rc)
        return rc;
    qv__wait(buf->rt, buf); /* its tasks, prefetches and host accesses */
    /* Gone either way; a task that should have written it and ran nowhere
     * is still reported. */
    rc = qv__buf_take_error(buf);
    int frc = buf_retire(buf);
    char why[512] = "";
    if (frc) /* which device, and why (coherence.c): not a fixed text (review) */
        snprintf(why, sizeof why, "%s", qv_last_error());
    buf_unlink(buf);
    return rc    ? rc
           : frc ? qv__fail(frc, "qv_buf_unregister: %s; the host keeps older data", why)
                 : 0;
}

QV_API int qv_buf_try_unregister(qv_buf *buf)
{
    if (!qv__buf_ok(buf))
        return qv__buf_bad(buf, "qv_buf_try_unregister");
    if (!qv__current_worker(buf->rt))
        qv__region_flush(buf->rt);
    qv__defer_host(buf->rt, buf, QV_RW); /* then it is in use: QV_EBUSY */
    int rc = claim(buf, true, "qv_buf_try_unregister");
    if (rc)
        return rc;
    rc = qv__buf_take_error(buf);
    int frc = buf_retire(buf);
    buf_unlink(buf);
    return rc ? rc : frc;
}

QV_API void *qv_buf_data(const qv_buf *buf)
{
    return qv__buf_ok(buf) ? buf->ptr : NULL;
}

QV_API size_t qv_buf_size(const qv_buf *buf)
{
    return qv__buf_ok(buf) ? buf->size : 0;
}

static void tree_nofree(void *p)
{
    (void)p; /* the nodes' keys live inside the buffers */
}

void qv__bufs_destroy(qv_runtime *rt)
{
    while (rt->bufs) {
        qv_buf *b = rt->bufs;
        buf_retire(b);
        buf_unlink(b);
    }
    tdestroy(rt->buf_tree, tree_nofree);
    rt->buf_tree = NULL;
}

void qv__bufs_free(qv_runtime *rt)
{
    while (rt->dead_head) {
        qv_buf *b = rt->dead_head;
        rt->dead_head = b->next;
        free(b);
    }
    rt->dead_tail = NULL;
    rt->ndead = 0;
}
