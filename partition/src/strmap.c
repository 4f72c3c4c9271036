/*
 * strmap.c - linear probing at load <= 1/2, power-of-two capacity.
 */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "part.h"

int qv__part_strmap_init(qv__strmap *m, size_t expect)
{
    size_t cap = 16;
    while (cap < 2 * expect + 2)
        cap *= 2;
    m->key = calloc(cap, sizeof *m->key);
    m->val = calloc(cap, sizeof *m->val);
    m->cap = cap;
    m->n = 0;
    if (!m->key || !m->val) {
        qv__part_strmap_fini(m);
        return QV_ENOMEM;
    }
    return 0;
}

void qv__part_strmap_fini(qv__strmap *m)
{
    free(m->key);
    free(m->val);
    memset(m, 0, sizeof *m);
}

static size_t slot(const qv__strmap *m, const char *key)
{
    size_t i = (size_t)qv__part_hash_str(key) & (m->cap - 1);
    while (m->key[i] && strcmp(m->key[i], key))
        i = (i + 1) & (m->cap - 1);
    return i;
}

int qv__part_strmap_put(qv__strmap *m, const char *key, uint64_t val)
{
    if (2 * (m->n + 1) > m->cap) {
        qv__strmap big;
        if (qv__part_strmap_init(&big, m->cap))
            return QV_ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->key[i]) {
                size_t j = slot(&big, m->key[i]);
                big.key[j] = m->key[i];
                big.val[j] = m->val[i];
                big.n++;
            }
        qv__part_strmap_fini(m);
        *m = big;
    }
    size_t i = slot(m, key);
    if (m->key[i])
        return 0;
    m->key[i] = key;
    m->val[i] = val;
    m->n++;
    return 1;
}

uint64_t *qv__part_strmap_get(const qv__strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    size_t i = slot(m, key);
    return m->key[i] ? &m->val[i] : NULL;
}

uint64_t qv__part_strmap_common(const qv__strmap *a, const qv__strmap *b)
{
    uint64_t sum = 0;
    if (a->n <= b->n) {
        for (size_t i = 0; i < a->cap; i++)
            if (a->key[i] && qv__part_strmap_get(b, a->key[i]))
                sum += a->val[i];
    } else {
        for (size_t i = 0; i < b->cap; i++) {
            const uint64_t *v = b->key[i] ? qv__part_strmap_get(a, b->key[i]) : NULL;
            if (v)
                sum += *v;
        }
    }
    return sum;
}
