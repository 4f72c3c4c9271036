/*
 * fuzz_graph.c - fuzz target for the .qvg.json reader (and so the JSON
 * reader under it). Whatever the bytes, parsing must end with an error or a
 * finalized graph; a graph that loads is written back and must read back
 * the same, and small ones are planned with every algorithm, whose plans
 * must all pass the simulator's check. Corpus: tests/fuzz/graph.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_algo.h"
#include "qvpart.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    qv_dag *g = NULL;
    qv_diag d;
    memset(&d, 0, sizeof d);
    if (qv_dag_parse((const char *)data, size, "fuzz", &g, &d)) {
        if (!d.message[0])
            abort(); /* every error must say what is wrong */
        return 0;
    }
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f) {
        qv_dag_write(g, f);
        fclose(f);
        qv_dag *h = NULL;
        if (qv_dag_parse(buf, len, "fuzz-rt", &h, &d) || h->n != g->n || h->m != g->m)
            abort();
        /* the run keys of a recorded graph come back as they were read */
        if (!h->run != !g->run || h->span_us != g->span_us ||
            h->critical_path_us != g->critical_path_us)
            abort();
        for (uint32_t i = 0; g->run && i < g->n; i++)
            if (h->run[i].worker != g->run[i].worker ||
                h->run[i].critical != g->run[i].critical ||
                h->run[i].start_us != g->run[i].start_us ||
                h->run[i].board_us != g->run[i].board_us ||
                (h->run[i].device < 0) != (g->run[i].device < 0) ||
                (g->run[i].device >= 0 && strcmp(h->class_name[h->run[i].device],
                                                 g->class_name[g->run[i].device])))
                abort();
        qv_dag_destroy(h);
        free(buf);
    }
    if (g->n <= 200) {
        qv_plat_res r[2] = {
            {.name = "cpu", .cls = "cpu", .units = 2, .speed = 1, .host_memory = 1},
            {.name = "gpu",
             .cls = "gpu",
             .units = 1,
             .speed = 2,
             .bandwidth_gbs = 1,
             .latency_us = 3},
        };
        qv_plat *p;
        if (!qv_plat_create("fuzz", r, 2, &p)) {
            for (int a = 0; a < 4; a++) {
                qv_plan *pl;
                memset(&d, 0, sizeof d);
                /* Every algorithm's plan passes the simulator, or the graph
                 * has a node this platform cannot run: nothing else. */
                if (!plan_algo(g, p, (qv_algo)a, &pl, &d))
                    qv_plan_destroy(pl);
                else if (!strstr(d.message, "has a cost for no device class"))
                    abort();
            }
            qv_plat_destroy(p);
        }
    }
    qv_dag_destroy(g);
    return 0;
}
