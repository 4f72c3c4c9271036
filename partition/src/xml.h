/*
 * xml.h - a minimal XML reader for DAX files: elements and attributes only
 * (text, comments, processing instructions and DOCTYPE are skipped), with
 * the five predefined entities and character references. Bounded depth and
 * input size; a repeated attribute is an error; errors carry line:column.
 */
#ifndef QVPART_XML_H
#define QVPART_XML_H

#include <stddef.h>

#include "qvpart.h"

#define QV__XML_MAX_DEPTH 64
/* Attributes of one element; a repeated name is an error. The bound keeps
 * the check for repeats linear in the input. */
#define QV__XML_MAX_ATTRS 256

typedef struct qv__xel qv__xel;
struct qv__xel {
    char *name;  /* without namespace prefix */
    char **attr; /* name, value, name, value, ... */
    size_t nattr;
    qv__xel **kid;
    size_t nkid;
    int line, col;
};

int qv__part_xml_parse(const char *text, size_t len, const char *fname, qv__xel **out,
                       qv_diag *diag);
void qv__part_xml_free(qv__xel *e);
const char *qv__part_xml_attr(const qv__xel *e, const char *name);

#endif
