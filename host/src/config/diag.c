/*
 * diag.c - formatting diagnostics: the one "file:line:col: error: message"
 * form of every reader's errors (the YAML layer, yaml_doc.c, fills them;
 * the planner's readers too), for the tools and for programs.
 */
#include <stdio.h>

#include "quiver/config.h"

QV_API int qv_diag_format(const qv_diag *d, char *buf, size_t size)
{
    if (!d)
        return snprintf(buf, size, "error: (no diagnostic)");
    if (d->line)
        return snprintf(buf, size, "%s:%u:%u: error: %s", d->file, d->line, d->column,
                        d->message);
    return snprintf(buf, size, "%s: error: %s", d->file, d->message);
}
