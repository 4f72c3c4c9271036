/*
 * board.c - the board file loader (schema in board.h and
 * docs/config/board.md).
 */
#include "config/board.h"

#include <stdio.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

#include "qv_text.h"

const char *const qv__memtype_names[] = {"DDR3",  "DDR4",  "DDR5", "LPDDR4",
                                         "HBM2",  "HBM2E", "HBM3", "GDDR6",
                                         "PLRAM", "HOST",  NULL};

static const char *const kind_names[] = {"cpu", "gpu", "fpga", "remote", NULL};

/* A remote board names the board it serves, which could name another: the
 * bound keeps a cycle of files from recursing forever. */
#define MAX_NESTING 4

static const qv__ykey board_keys[] = {
    {"name", 1, "name: my-board"},
    {"kind", 1, "kind: fpga | gpu | cpu | remote"},
    {"vendor", 0, NULL},
    {"platform", 0, NULL},
    {"emulation", 0, NULL},
    {"clock_mhz", 0, NULL},
    {"memory", 1, "memory: [{type: DDR4, size: 16 GiB}]"},
    {"link", 0, NULL},
    {"fabric", 0, NULL},
    {"cost_per_hour", 0, NULL},
    {"remote", 0, NULL},
    {NULL, 0, NULL},
};

static const qv__ykey bank_keys[] = {
    {"type", 1, "type: DDR4 | HBM2 | ..."},
    {"size", 1, "size: 16 GiB"},
    {"count", 0, NULL},
    {"bandwidth_gbs", 0, NULL},
    {NULL, 0, NULL},
};

static const qv__ykey link_keys[] = {
    {"pcie_gen", 0, NULL},
    {"pcie_lanes", 0, NULL},
    {"bandwidth_gbs", 1, "bandwidth_gbs: 12.0"},
    {"latency_us", 1, "latency_us: 10"},
    {NULL, 0, NULL},
};

static const qv__ykey fabric_keys[] = {
    {"lut", 0, NULL},  {"ff", 0, NULL},  {"dsp", 0, NULL}, {"bram", 0, NULL},
    {"uram", 0, NULL}, {"aie", 0, NULL}, {NULL, 0, NULL},
};

static const qv__ykey remote_keys[] = {
    {"endpoint", 1, "endpoint: tcp://host:5555"},
    {"server_key", 0, NULL},
    {"server_key_file", 0, NULL},
    {"client_key_file", 0, NULL},
    {"board", 0, NULL},
    {NULL, 0, NULL},
};

void qv__board_free(qv__board *b)
{
    if (!b)
        return;
    free(b->path);
    free(b->name);
    free(b->vendor);
    free(b->platform);
    free(b->banks);
    free(b->endpoint);
    free(b->server_key);
    free(b->client_key_file);
    explicit_bzero(b->client_secret_key, sizeof b->client_secret_key);
    qv__board_free(b->served);
    free(b);
}

static int valid_name(const char *s)
{
    if (!*s || strlen(s) > 127)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

static int dup_str(const qv__ydoc *doc, const qv__ynode *n, const char *what, char **out,
                   qv_diag *diag)
{
    const char *s;
    int rc = qv__yget_str(doc, n, what, &s, diag);
    if (rc)
        return rc;
    *out = strdup(s);
    return *out ? 0 : QV_ENOMEM;
}

static int load_banks(const qv__ydoc *doc, const qv__ynode *mem, qv__board *b,
                      qv_diag *diag)
{
    if (mem->kind != QV__Y_SEQ || mem->n == 0)
        return qv__yerr(doc, mem, diag,
                        "memory: expected a non-empty sequence of banks "
                        "such as [{type: DDR4, size: 16 GiB}], got %s",
                        mem->kind == QV__Y_SEQ ? "an empty sequence" : qv__ydesc(mem));
    b->banks = calloc(mem->n, sizeof *b->banks);
    if (!b->banks)
        return QV_ENOMEM;
    for (size_t i = 0; i < mem->n; i++) {
        const qv__ynode *m = mem->items[i];
        qv__bank *k = &b->banks[b->nbanks];
        int rc = qv__ymap_check(doc, m, "memory bank", bank_keys, diag);
        int t = 0;
        int64_t count = 1;
        if (!rc)
            rc = qv__yget_enum(doc, qv__ymap_get(m, "type"), "memory.type",
                               qv__memtype_names, &t, diag);
        if (!rc)
            rc = qv__yget_bytes(doc, qv__ymap_get(m, "size"), "memory.size", &k->size,
                                diag);
        if (!rc && k->size == 0)
            rc = qv__yerr(doc, qv__ymap_get(m, "size"), diag,
                          "memory.size: expected a size above 0");
        if (!rc && qv__ymap_get(m, "count"))
            rc = qv__yget_int(doc, qv__ymap_get(m, "count"), "memory.count", 1, 1024,
                              &count, diag);
        if (!rc && qv__ymap_get(m, "bandwidth_gbs"))
            rc = qv__yget_double(doc, qv__ymap_get(m, "bandwidth_gbs"),
                                 "memory.bandwidth_gbs", 0.001, 100000, &k->bandwidth_gbs,
                                 diag);
        if (rc)
            return rc;
        k->type = (qv__memtype)t;
        k->count = (unsigned)count;
        b->nbanks++;
        if (k->type != QV__MEM_HOST) {
            if (k->size > UINT64_MAX / k->count ||
                b->memory > UINT64_MAX - k->size * k->count)
                return qv__yerr(doc, m, diag, "memory: total size is out of range");
            b->memory += k->size * k->count;
        }
    }
    return 0;
}

static int load_link(const qv__ydoc *doc, const qv__ynode *l, qv__board *b, qv_diag *diag)
{
    int64_t gen = 0, lanes = 0;
    int rc = qv__ymap_check(doc, l, "link", link_keys, diag);
    if (!rc && qv__ymap_get(l, "pcie_gen"))
        rc = qv__yget_int(doc, qv__ymap_get(l, "pcie_gen"), "link.pcie_gen", 1, 7, &gen,
                          diag);
    if (!rc && qv__ymap_get(l, "pcie_lanes")) {
        rc = qv__yget_int(doc, qv__ymap_get(l, "pcie_lanes"), "link.pcie_lanes", 1, 32,
                          &lanes, diag);
        if (!rc && (lanes & (lanes - 1)))
            rc = qv__yerr(doc, qv__ymap_get(l, "pcie_lanes"), diag,
                          "link.pcie_lanes: expected 1, 2, 4, 8, 16 or 32, "
                          "got %lld",
                          (long long)lanes);
    }
    if (!rc)
        rc = qv__yget_double(doc, qv__ymap_get(l, "bandwidth_gbs"), "link.bandwidth_gbs",
                             0.001, 10000, &b->bandwidth_gbs, diag);
    if (!rc)
        rc = qv__yget_double(doc, qv__ymap_get(l, "latency_us"), "link.latency_us", 0,
                             1e7, &b->latency_us, diag);
    b->pcie_gen = (unsigned)gen;
    b->pcie_lanes = (unsigned)lanes;
    return rc;
}

static int load_fabric(const qv__ydoc *doc, const qv__ynode *f, qv__board *b,
                       qv_diag *diag)
{
    int rc = qv__ymap_check(doc, f, "fabric", fabric_keys, diag);
    uint64_t *dst[] = {&b->lut, &b->ff, &b->dsp, &b->bram, &b->uram, &b->aie};
    for (size_t i = 0; !rc && i < 6; i++) {
        const qv__ynode *v = qv__ymap_get(f, fabric_keys[i].name);
        char what[32];
        snprintf(what, sizeof what, "fabric.%s", fabric_keys[i].name);
        int64_t x = 0;
        if (v)
            rc = qv__yget_int(doc, v, what, 0, INT64_C(1) << 40, &x, diag);
        *dst[i] = (uint64_t)x;
    }
    return rc;
}

static int board_from_doc(const qv__ydoc *doc, int nesting, qv__board **out,
                          qv_diag *diag);

/* Reads the key file that node n names (relative to the board file) into
 * key (41 bytes) and, when path is not NULL, its resolved path into *path.
 * A secret key is asked for by client_key_file, a public one by
 * server_key_file; a name ending in the other kind's suffix (keygen's
 * ".key" and ".pub") is refused, as the host must never hold the daemon's
 * secret. */
static int load_key_file(const qv__ydoc *doc, const qv__ynode *n, const char *what,
                         int secret, char *key, char **path, qv_diag *diag)
{
    const char *s;
    char *p = NULL, why[256];
    int rc = qv__yget_path(doc, n, what, 0, &p, diag);
    if (!rc)
        rc = qv__yget_str(doc, n, what, &s, diag);
    size_t len = rc ? 0 : strlen(s);
    if (!rc && len >= 4 && !strcmp(s + len - 4, secret ? ".pub" : ".key"))
        rc = qv__yerr(doc, n, diag,
                      secret ? "%s: '%s' looks like a public key; expected this "
                               "host's secret key (client.key), from which its "
                               "public key is derived"
                             : "%s: '%s' looks like a secret key; expected the "
                               "daemon's public key (server.pub): a host never "
                               "needs the daemon's secret key",
                      what, s);
    if (!rc && qv__auth_key_read(p, key, why, sizeof why))
        rc = qv__yerr(doc, n, diag, "%s: '%s': %s", what, s, why);
    if (!rc && path)
        *path = p;
    else
        free(p);
    return rc;
}

static int load_remote(const qv__ydoc *doc, const qv__ynode *r, qv__board *b, int nesting,
                       qv_diag *diag)
{
    int rc = qv__ymap_check(doc, r, "remote", remote_keys, diag);
    if (!rc)
        rc = dup_str(doc, qv__ymap_get(r, "endpoint"), "remote.endpoint", &b->endpoint,
                     diag);
    if (!rc && strncmp(b->endpoint, "tcp://", 6) && strncmp(b->endpoint, "ipc://", 6))
        rc = qv__yerr(doc, qv__ymap_get(r, "endpoint"), diag,
                      "remote.endpoint: expected tcp://HOST:PORT or "
                      "ipc://PATH, got '%s'",
                      b->endpoint);
    if (!rc && !strncmp(b->endpoint, "tcp://", 6)) {
        /* Digits only: strtol would take a sign or spaces that libzmq
         * refuses at connect time, far from this file. */
        const char *colon = strrchr(b->endpoint + 6, ':');
        const char *port = colon ? colon + 1 : "";
        size_t nd = strspn(port, "0123456789");
        long v = nd && nd <= 5 && !port[nd] ? strtol(port, NULL, 10) : 0;
        if (!colon || colon == b->endpoint + 6 || v < 1 || v > 65535 ||
            strpbrk(b->endpoint, " \t;"))
            rc = qv__yerr(doc, qv__ymap_get(r, "endpoint"), diag,
                          "remote.endpoint: expected tcp://HOST:PORT with a "
                          "port from 1 to 65535, got '%s'",
                          b->endpoint);
        /* The host: a name or an IPv4 address, or an IPv6 one in brackets
         * ("tcp://[::1:5" passed, and the host learnt only that nothing
         * answered; adversarial testing). */
        char host[256];
        bool v6, ok = qv__tcp_host(b->endpoint, host, sizeof host, &v6);
        struct in6_addr a6;
        if (ok && v6)
            ok = inet_pton(AF_INET6, host, &a6) == 1;
        for (const char *c = host; ok && !v6 && *c; c++)
            ok = isalnum((unsigned char)*c) || *c == '.' || *c == '-' || *c == '_';
        if (!rc && !ok)
            rc = qv__yerr(doc, qv__ymap_get(r, "endpoint"), diag,
                          "remote.endpoint: expected tcp://HOST:PORT with HOST a name, an "
                          "IPv4 address or an IPv6 one in brackets ([::1]), got '%s'",
                          b->endpoint);
    }
    if (!rc && !strncmp(b->endpoint, "ipc://", 6) && !b->endpoint[6])
        rc = qv__yerr(doc, qv__ymap_get(r, "endpoint"), diag,
                      "remote.endpoint: ipc:// names no socket path");
    /* A relative socket path is the board file's, as its other paths:
     * ZeroMQ took it from the program's working directory. Absolute, as
     * the endpoint is dialled again at each reconnection (a file named
     * relatively has a relative directory); an abstract socket
     * ("ipc://@name") has no path. */
    if (!rc && !strncmp(b->endpoint, "ipc://", 6) && b->endpoint[6] != '/' &&
        b->endpoint[6] != '@') {
        char *dir = realpath(doc->dir, NULL);
        char *path = qv__path_resolve(dir ? dir : doc->dir, b->endpoint + 6);
        free(dir);
        size_t n = path ? strlen(path) + 7 : 0;
        char *ep = n ? malloc(n) : NULL;
        if (ep) {
            snprintf(ep, n, "ipc://%s", path);
            free(b->endpoint);
            b->endpoint = ep;
        } else {
            rc = QV_ENOMEM;
        }
        free(path);
    }
    /* A Unix socket's path holds 107 bytes (sun_path): a longer one passed
     * here and failed where quiverd binds it (a user's test). */
    if (!rc && !strncmp(b->endpoint, "ipc://", 6) && strlen(b->endpoint + 6) > 107)
        rc = qv__yerr(doc, qv__ymap_get(r, "endpoint"), diag,
                      "remote.endpoint: an ipc:// socket path of at most 107 bytes; "
                      "this one has %zu (%s, a relative one from the board file's "
                      "directory)",
                      strlen(b->endpoint + 6), b->endpoint + 6);
    const qv__ynode *k = qv__ymap_get(r, "server_key");
    if (!rc && k) {
        rc = dup_str(doc, k, "remote.server_key", &b->server_key, diag);
        /* Not echoed: a secret key pasted by mistake would go to logs. */
        if (!rc && !qv__auth_key_valid(b->server_key))
            rc = qv__yerr(doc, k, diag,
                          "remote.server_key: expected a CURVE public key "
                          "in Z85 (40 characters), got %zu characters that are not one",
                          strlen(b->server_key));
    }
    const qv__ynode *kf = qv__ymap_get(r, "server_key_file");
    if (!rc && k && kf)
        rc = qv__yerr(doc, qv__ymap_key(r, "server_key_file"), diag,
                      "remote: expected the daemon's public key once, as "
                      "server_key or as server_key_file, not both");
    if (!rc && kf) {
        char key[QV__KEY_Z85 + 1];
        rc = load_key_file(doc, kf, "remote.server_key_file", 0, key, NULL, diag);
        if (!rc && !(b->server_key = strdup(key)))
            rc = QV_ENOMEM;
    }
    const qv__ynode *cf = qv__ymap_get(r, "client_key_file");
    if (!rc && cf && !b->server_key)
        rc = qv__yerr(doc, qv__ymap_key(r, "client_key_file"), diag,
                      "remote.client_key_file: a client key needs the daemon's "
                      "public key too (server_key or server_key_file)");
    if (!rc && cf) {
        char why[256];
        rc = load_key_file(doc, cf, "remote.client_key_file", 1, b->client_secret_key,
                           &b->client_key_file, diag);
        if (!rc && qv__auth_key_public(b->client_secret_key, b->client_public_key, why,
                                       sizeof why))
            rc = qv__yerr(doc, cf, diag, "remote.client_key_file: %s", why);
    }
    const qv__ynode *sb = qv__ymap_get(r, "board");
    if (!rc && sb) {
        char *p = NULL;
        rc = qv__yget_path(doc, sb, "remote.board", 0, &p, diag);
        if (!rc && nesting >= MAX_NESTING)
            rc = qv__yerr(doc, sb, diag,
                          "remote.board: boards nest more than %d deep "
                          "(a cycle of files?)",
                          MAX_NESTING);
        qv__ydoc *sub = NULL;
        if (!rc)
            rc = qv__ydoc_load(p, &sub, diag);
        if (!rc)
            rc = board_from_doc(sub, nesting + 1, &b->served, diag);
        if (!rc && b->served->kind == QV_CLASS_REMOTE)
            rc = qv__yerr(doc, sb, diag,
                          "remote.board: '%s' is itself a remote board; "
                          "expected the board the daemon serves",
                          p);
        qv__ydoc_free(sub);
        free(p);
    }
    return rc;
}

static int board_from_doc(const qv__ydoc *doc, int nesting, qv__board **out,
                          qv_diag *diag)
{
    *out = NULL;
    const qv__ynode *root = doc->root;
    if (!root)
        return qv__yerr(doc, NULL, diag,
                        "empty file; expected a board (name, kind, memory)");
    int rc = qv__ymap_check(doc, root, "board", board_keys, diag);
    if (rc)
        return rc;
    qv__board *b = calloc(1, sizeof *b);
    if (!b || !(b->path = strdup(doc->path))) {
        free(b);
        return QV_ENOMEM;
    }
    const qv__ynode *n;
    int kind = 0;
    rc = dup_str(doc, qv__ymap_get(root, "name"), "name", &b->name, diag);
    if (!rc && !valid_name(b->name))
        rc = qv__yerr(doc, qv__ymap_get(root, "name"), diag,
                      "name: expected letters, digits, '-', '_' or '.' "
                      "(at most 127), got '%s'",
                      b->name);
    if (!rc)
        rc = qv__yget_enum(doc, qv__ymap_get(root, "kind"), "kind", kind_names, &kind,
                           diag);
    b->kind = (qv_class)kind;
    if (!rc && (n = qv__ymap_get(root, "vendor")))
        rc = dup_str(doc, n, "vendor", &b->vendor, diag);
    if (!rc && (n = qv__ymap_get(root, "platform")))
        rc = dup_str(doc, n, "platform", &b->platform, diag);
    if (!rc && b->kind == QV_CLASS_FPGA && !b->platform)
        rc = qv__yerr(doc, root, diag,
                      "an fpga board is missing required key 'platform' "
                      "(expected 'platform: "
                      "xilinx_u250_gen3x16_xdma_4_1_202210_1')");
    if (!rc && (n = qv__ymap_get(root, "emulation")))
        rc = qv__yget_bool(doc, n, "emulation", &b->emulation, diag);
    if (!rc && (n = qv__ymap_get(root, "clock_mhz")))
        rc = qv__yget_double(doc, n, "clock_mhz", 1, 5000, &b->clock_mhz, diag);
    if (!rc)
        rc = load_banks(doc, qv__ymap_get(root, "memory"), b, diag);
    if (!rc && (n = qv__ymap_get(root, "link")))
        rc = load_link(doc, n, b, diag);
    if (!rc && !qv__ymap_get(root, "link") && b->kind != QV_CLASS_CPU)
        rc = qv__yerr(doc, root, diag,
                      "%s %s board is missing required key 'link' (expected "
                      "'link: {bandwidth_gbs: 12.0, latency_us: 10}')",
                      b->kind == QV_CLASS_FPGA ? "an" : "a", kind_names[b->kind]);
    if (!rc && (n = qv__ymap_get(root, "fabric")))
        rc = load_fabric(doc, n, b, diag);
    if (!rc && (n = qv__ymap_get(root, "cost_per_hour")))
        rc = qv__yget_double(doc, n, "cost_per_hour", 0, 1e6, &b->cost_per_hour, diag);
    n = qv__ymap_get(root, "remote");
    if (!rc && b->kind == QV_CLASS_REMOTE && !n)
        rc = qv__yerr(doc, root, diag,
                      "a remote board is missing required key 'remote' "
                      "(expected 'remote: {endpoint: tcp://HOST:PORT}')");
    if (!rc && b->kind != QV_CLASS_REMOTE && n)
        rc = qv__yerr(doc, qv__ymap_key(root, "remote"), diag,
                      "'remote' is only for kind: remote (this board is "
                      "kind: %s)",
                      kind_names[b->kind]);
    if (!rc && n)
        rc = load_remote(doc, n, b, nesting, diag);
    if (rc) {
        qv__board_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

int qv__board_from_doc(const qv__ydoc *doc, qv__board **out, qv_diag *diag)
{
    return board_from_doc(doc, 0, out, diag);
}

int qv__board_load(const char *path, qv__board **out, qv_diag *diag)
{
    *out = NULL;
    qv__ydoc *doc;
    int rc = qv__ydoc_load(path, &doc, diag);
    if (rc)
        return rc;
    rc = qv__board_from_doc(doc, out, diag);
    qv__ydoc_free(doc);
    return rc;
}
