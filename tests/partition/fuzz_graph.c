/*
 * fuzz_graph.c - fuzz target for the .qvg.json reader (and so the JSON
 * reader under it). Whatever the bytes, parsing must end with an error or a
 * finalized graph; a graph that loads is written back and must read back
 * the same, and small ones are planned with every algorithm, whose plans
 * must all pass the simulator's check, also with the accelerator on the
 * host's cores (then never more tasks at once than the CPU has units).
 * Corpus: tests/fuzz/graph.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_algo.h"
#include "qvpart.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The most tasks of plan pl that run at one instant (of positive length). */
static uint32_t most_at_once(const qv_plan *pl)
{
    uint32_t most = 0;
    for (uint32_t i = 0; i < pl->n; i++) {
        uint32_t k = 0;
        for (uint32_t j = 0; j < pl->n; j++)
            k += pl->start[j] <= pl->start[i] && pl->start[i] < pl->end[j];
        if (k > most)
            most = k;
    }
    return most;
}

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
        /* Then with the gpu on the host's cores (shares_cpu): never more
         * than the CPU's 2 units' worth of tasks at once. */
        for (int shared = 0; shared < 2; shared++) {
            r[1].shares_cpu = shared;
            qv_plat *p;
            if (qv_plat_create("fuzz", r, 2, &p))
                continue;
            for (int a = 0; a < 4; a++) {
                qv_plan *pl;
                memset(&d, 0, sizeof d);
                /* Every algorithm's plan passes the simulator, or the graph
                 * has a node this platform cannot run: nothing else. */
                if (!plan_algo(g, p, (qv_algo)a, &pl, &d)) {
                    if (shared && most_at_once(pl) > 2)
                        abort();
                    qv_plan_destroy(pl);
                } else if (!strstr(d.message, "has a cost for no device class")) {
                    abort();
                }
            }
            qv_plat_destroy(p);
        }
    }
    qv_dag_destroy(g);
    return 0;
}
