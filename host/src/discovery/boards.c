/*
 * boards.c - resources from the board files the configuration lists:
 * emulated boards (run by the emu backend) and remote boards (served by
 * quiverd). A real card's board file adds nothing here: XRT reports the card
 * when it is present, and listing a card that is not there must not make it
 * appear.
 *
 * The files are read again at every scan: a board whose file goes away (or
 * stops loading) disappears from the pool, and comes back with its file.
 * That is how an operator takes an emulated or remote board out of service
 * without restarting the application.
 */
#include <stdio.h>
#include <string.h>

#include "discovery/discovery.h"

static int add_board(qv__scan *s, const qv__board *b, qv_backend_report *rep)
{
    int remote = b->kind == QV_CLASS_REMOTE;
    qv__found f;
    memset(&f, 0, sizeof f);
    snprintf(f.key, sizeof f.key, "board:%s", b->path);
    qv_resource *r = &f.r;
    r->type = b->kind;
    snprintf(r->name, sizeof r->name, "%s", b->name);
    snprintf(r->backend, sizeof r->backend, "%s", remote ? "remote" : "emu");
    snprintf(r->detail, sizeof r->detail, "%s",
             remote        ? b->endpoint
             : b->platform ? b->platform
                           : "");
    r->units = 1;
    r->memory = b->memory;
    r->free_memory = b->memory;
    uint64_t largest = 0;
    for (size_t j = 0; j < b->nbanks; j++)
        if (b->banks[j].type != QV__MEM_HOST && b->banks[j].size > largest)
            largest = b->banks[j].size;
    r->max_alloc = largest;
    r->cost_per_hour = b->cost_per_hour;
    r->link_bandwidth_gbs = b->bandwidth_gbs;
    r->link_latency_us = b->latency_us;
    r->emulated = b->emulation;
    r->on_host = !remote; /* the emulator runs the kernels on the host */
    if (qv__scan_add(s, &f))
        return QV_ENOMEM;
    rep->count++;
    return 0;
}

int qv__disc_boards(qv__scan *s, char *const *paths, size_t n, qv_backend_report *rep)
{
    snprintf(rep->name, sizeof rep->name, "boards");
    rep->count = 0;
    size_t skipped = 0;
    size_t failed = 0;
    char failure[200] = "";
    for (size_t i = 0; i < n; i++) {
        qv__board *b;
        qv_diag d;
        int rc = qv__board_load(paths[i], &b, &d);
        if (rc == QV_ENOMEM)
            return rc;
        if (rc) {
            if (!failed++)
                snprintf(failure, sizeof failure, "%.120s: %.70s", paths[i], d.message);
            continue;
        }
        if (b->kind != QV_CLASS_REMOTE && !b->emulation) {
            skipped++;
            qv__board_free(b);
            continue;
        }
        rc = add_board(s, b, rep);
        qv__board_free(b);
        if (rc)
            return rc;
    }
    if (failed) {
        snprintf(rep->why, sizeof rep->why, "%u found, %zu failed to load (%s)",
                 rep->count, failed, failure);
        return 0;
    }
    if (rep->count)
        snprintf(rep->why, sizeof rep->why, "%u from board files", rep->count);
    else if (skipped)
        snprintf(rep->why, sizeof rep->why,
                 "the configuration lists only real cards (%zu); XRT "
                 "reports those when present",
                 skipped);
    else
        snprintf(rep->why, sizeof rep->why,
                 "no board files listed (policy: discovery.boards)");
    return 0;
}
