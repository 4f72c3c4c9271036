/*
 * import.h - the two workflow readers behind qv_dag_import. Each returns an
 * unfinalized graph with class "cpu" costs only and edges carrying the bytes
 * of the files parent and child share.
 */
#ifndef QVPART_IMPORT_H
#define QVPART_IMPORT_H

#include "qvpart.h"

int qv__part_import_wfformat(const char *text, size_t len, const char *fname,
                             qv_dag **out, qv_diag *diag);
int qv__part_import_dax(const char *text, size_t len, const char *fname, qv_dag **out,
                        qv_diag *diag);
/* Adds accelerator classes by the rule of qv_import_opts. */
int qv__part_import_accel(qv_dag *g, const qv_import_opts *opts);

#endif
