/*
 * plat.c - the planner's platform (qv_plat): resources laid out as units,
 * and the transfer-cost tables of the cost model (docs/model.md, "The cost
 * model"). Programs build one in code with qv_plat_create; platform files
 * are read by the runtime's reader and converted (plat_from_config.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/platform.h"
#include "part.h"

int qv_plat_create(const char *name, const qv_plat_res *res, uint32_t nres, qv_plat **out)
{
    if (!res || !nres || nres > QV__PLATFORM_MAX_RESOURCES)
        return QV_EINVAL;
    uint32_t total = 0;
    for (uint32_t r = 0; r < nres; r++) {
        if (!res[r].units || res[r].units > QV__PLATFORM_MAX_UNITS ||
            !(res[r].speed > 0) || (!res[r].host_memory && !(res[r].bandwidth_gbs > 0)) ||
            !(res[r].latency_us >= 0) || res[r].shares_cpu < 0)
            return QV_EINVAL;
        total += res[r].units; /* at most 64 * 4096: no overflow */
    }
    if (total > QV__PLATFORM_MAX_UNITS)
        return QV_EINVAL;
    qv_plat *p = calloc(1, sizeof *p);
    if (!p)
        return QV_ENOMEM;
    snprintf(p->name, sizeof p->name, "%s", name ? name : "platform");
    p->nres = nres;
    p->res = calloc(nres, sizeof *p->res);
    p->lat = calloc((size_t)nres * nres, sizeof *p->lat);
    p->inv_bw = calloc((size_t)nres * nres, sizeof *p->inv_bw);
    p->unit_res = malloc((size_t)total * sizeof *p->unit_res);
    if (!p->res || !p->lat || !p->inv_bw || !p->unit_res) {
        qv_plat_destroy(p);
        return QV_ENOMEM;
    }
    memcpy(p->res, res, nres * sizeof *res);
    p->host_res = UINT32_MAX;
    for (uint32_t r = 0; r < nres; r++) {
        qv_plat_res *x = &p->res[r];
        if (x->host_memory && !strcmp(x->cls, "cpu")) {
            x->shares_cpu = 0;
            if (p->host_res == UINT32_MAX)
                p->host_res = r;
        }
    }
    for (uint32_t r = 0; r < nres; r++) {
        p->res[r].first_unit = p->nunits;
        for (uint32_t u = 0; u < p->res[r].units; u++)
            p->unit_res[p->nunits++] = r;
    }
    /* Cost model: same memory is free; otherwise each device end of the
     * path pays its own link's latency and bandwidth (device to device goes
     * through host memory, both links in turn). */
    for (uint32_t a = 0; a < nres; a++)
        for (uint32_t b = 0; b < nres; b++) {
            const qv_plat_res *ra = &p->res[a], *rb = &p->res[b];
            double l = 0, ib = 0;
            if (a != b && !(ra->host_memory && rb->host_memory)) {
                if (!ra->host_memory) {
                    l += ra->latency_us;
                    ib += 1.0 / (ra->bandwidth_gbs * 1000.0);
                }
                if (!rb->host_memory) {
                    l += rb->latency_us;
                    ib += 1.0 / (rb->bandwidth_gbs * 1000.0);
                }
            }
            p->lat[(size_t)a * nres + b] = l;
            p->inv_bw[(size_t)a * nres + b] = ib;
        }
    *out = p;
    return 0;
}

void qv_plat_destroy(qv_plat *p)
{
    if (!p)
        return;
    free(p->res);
    free(p->unit_res);
    free(p->lat);
    free(p->inv_bw);
    free(p);
}
