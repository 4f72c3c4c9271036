/*
 * proc_threads.c - the process's threads as /proc lists them: the ones an
 * XRT kernel's opening started (xrt_lib.c), the ones the runtime's making
 * started (core/alone.c).
 */
#include "core/proc_threads.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t qv__proc_threads(long *ids, size_t cap)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        char *end;
        long tid = strtol(e->d_name, &end, 10);
        if (e->d_name[0] == '.' || *end)
            continue;
        if (n < cap)
            ids[n] = tid;
        n++;
    }
    closedir(d);
    return n;
}

int qv__proc_thread_get(long tid, qv__proc_thread *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%ld/stat", tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT || errno == ESRCH ? 0 : -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* "tid (name) S ...": the name may hold spaces and parentheses; the
     * state is field 3, the start time field 22. Nothing read: it ended
     * while being read. */
    const char *l = strchr(buf, '('), *r = strrchr(buf, ')');
    if (!l || !r || r < l || r[1] != ' ' || !r[2])
        return n ? -1 : 0;
    size_t len = (size_t)(r - l - 1) < sizeof out->comm - 1 ? (size_t)(r - l - 1)
                                                            : sizeof out->comm - 1;
    memcpy(out->comm, l + 1, len);
    out->comm[len] = 0;
    out->state = r[2];
    const char *p = r; /* r[1]: the space before field 3 */
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (!p)
        return -1;
    out->start = strtoull(p + 1, NULL, 10);
    return 1;
}
