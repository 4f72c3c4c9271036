/*
 * strmap.h - an open-addressing hash map from borrowed strings to integers,
 * for the importers (task and file names of workflow files). Keys are not
 * copied: they must outlive the map.
 */
#ifndef QVPART_STRMAP_H
#define QVPART_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct qv__strmap {
    const char **key;
    uint64_t *val;
    size_t cap, n;
} qv__strmap;

int qv__part_strmap_init(qv__strmap *m, size_t expect);
void qv__part_strmap_fini(qv__strmap *m);
/* 1 if inserted, 0 if the key was already there (value kept), <0 error. */
int qv__part_strmap_put(qv__strmap *m, const char *key, uint64_t val);
/* Pointer to the value, or NULL. */
uint64_t *qv__part_strmap_get(const qv__strmap *m, const char *key);
/* The sum of a's values for the keys that b holds too, walking the smaller
 * of the two: the bytes a parent's outputs (a) pass to a child's inputs
 * (b) in time linear in the fewer of them (a parent of many outputs and
 * many children took a minute to import: adversarial testing). */
uint64_t qv__part_strmap_common(const qv__strmap *a, const qv__strmap *b);

#endif
