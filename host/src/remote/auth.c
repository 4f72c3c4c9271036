/*
 * auth.c - CURVE keys and the ZAP handler (auth.h): one strict reader of
 * key files, `quiver keygen`'s writer, and the two ends of an authenticated
 * connection.
 *
 * Why a ZAP handler at all: a CURVE server with no handler bound at
 * inproc://zeromq.zap.01 accepts every client key (libzmq's curve_server),
 * so encryption alone would let anyone who knows the daemon's public key
 * run kernels on its boards. The handler is a thread owning a REP socket
 * (RFC 27) and a PAIR socket through which qv__auth_stop tells it to end;
 * the set of accepted keys is the one thing it shares, under a->lock.
 */
#include "remote/auth.h"
#include "remote/zwait.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "qv_file.h"
#include "quiver.h"
#include "core/thread.h"
#include "devices/device.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define MAX_CLIENTS 65536 /* keys in authorized/: a bound, not a quota */

static const char z85_chars[] = "0123456789abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

typedef struct client {
    unsigned char key[32];
    char *name; /* the file's name without ".pub": the User-Id */
} client;

typedef struct clients {
    client *v;
    size_t n;
    size_t repeated; /* keys in more than one file: known by the first name */
} clients;

struct qv__auth {
    char *authorized; /* KEYS/authorized */
    void *ctl;        /* our end of the stop pipe */
    void *rep;        /* the handler's sockets, owned by its thread */
    void *ctl_peer;
    pthread_t thread;
    pthread_mutex_t lock; /* guards keys */
    clients keys;
    _Atomic uint64_t gen; /* successful reloads */
    /* Refusals told (qv__auth_on_refusal), at most one a second, from the
     * handler's thread only. */
    void (*_Atomic refused)(const char *why, const char *client); /* set after the start */
    struct timespec told;
    unsigned untold;
};

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Decodes 40 Z85 characters into 32 bytes; the index of the first bad
 * character, or -1 when all are good, goes to *bad; a group of five that
 * encodes 2^32 or more gives 0 with *bad = -2 - (group's first index). */
static int z85_decode(const char *s, unsigned char *out, long *bad)
{
    *bad = -1;
    for (size_t g = 0; g < QV__KEY_Z85; g += 5) {
        uint64_t v = 0;
        for (size_t i = g; i < g + 5; i++) {
            const char *p = s[i] ? strchr(z85_chars, s[i]) : NULL;
            if (!p) {
                *bad = (long)i;
                return 0;
            }
            v = v * 85 + (uint64_t)(p - z85_chars);
        }
        if (v > UINT32_MAX) {
            *bad = -2 - (long)g;
            return 0;
        }
        for (size_t k = 0; k < 4; k++)
            out[g / 5 * 4 + k] = (unsigned char)(v >> (24 - 8 * k));
    }
    return 1;
}

int qv__auth_key_valid(const char *s)
{
    unsigned char k[32];
    long bad;
    return s && strnlen(s, QV__KEY_Z85 + 1) == QV__KEY_Z85 && z85_decode(s, k, &bad);
}

int qv__auth_has_curve(void)
{
    return zmq_has("curve") ? 1 : 0;
}

/* The reason a 40-character candidate is not a key. */
static int bad_key(const char *s, size_t len, char *err, size_t errlen)
{
    unsigned char k[32];
    long bad;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!strchr(z85_chars, c) || !c) {
            if (c == '\n' || c == '\r')
                return fail(err, errlen, QV_EFORMAT,
                            "expected one key of 40 Z85 characters and an "
                            "optional newline, got a line break at byte %zu",
                            i + 1);
            if (c > 0x20 && c < 0x7f)
                return fail(err, errlen, QV_EFORMAT,
                            "expected a key in Z85, got '%c' at byte %zu", c, i + 1);
            return fail(err, errlen, QV_EFORMAT,
                        "expected a key in Z85, got byte 0x%02x at byte %zu", c, i + 1);
        }
    }
    if (len != QV__KEY_Z85)
        return fail(err, errlen, QV_EFORMAT,
                    "expected a key of 40 Z85 characters, got %zu", len);
    if (!z85_decode(s, k, &bad))
        return fail(err, errlen, QV_EFORMAT,
                    "not a Z85 key: characters %ld-%ld encode a value above "
                    "2^32-1",
                    -bad - 1, -bad + 3);
    return 0;
}

static int too_long(unsigned long long size, char *err, size_t errlen)
{
    return fail(err, errlen, QV_EFORMAT,
                "expected one key of 40 Z85 characters and an optional newline, "
                "the file has %llu bytes",
                size);
}

int qv__auth_key_read(const char *path, char *key, char *err, size_t errlen)
{
    key[0] = 0;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        struct stat st;
        if ((e == ELOOP || e == EMLINK) && !lstat(path, &st) && S_ISLNK(st.st_mode))
            return fail(err, errlen, -ELOOP,
                        "is a symbolic link; a key file is read only where "
                        "it is (name the file itself)");
        return fail(err, errlen, -e, "cannot open: %s", strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st)) {
        int e = errno;
        close(fd);
        return fail(err, errlen, -e, "cannot stat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, errlen, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL,
                    "%s; expected a key file", S_ISDIR(st.st_mode) ? "is a directory"
                                                                    : "not a regular file");
    }
    if (st.st_size > QV__KEY_Z85 + 1) {
        close(fd);
        return too_long((unsigned long long)st.st_size, err, errlen);
    }
    char buf[QV__KEY_Z85 + 2];
    char why[QV__FILE_WHY];
    size_t len = (size_t)st.st_size;
    int rc = qv__file_read(fd, buf, len, why);
    close(fd);
    if (rc)
        return fail(err, errlen, rc, "%s", why);
    return qv__auth_key_parse(buf, len, key, err, errlen);
}

bool qv__auth_key_exposed(const char *path, unsigned *mode)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return false;
    *mode = (unsigned)(st.st_mode & 07777);
    /* Read bits only, as the warning says: 0622 was called readable
     * (adversarial testing); quiverd refuses its own writable by others. */
    return (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
}

int qv__auth_key_parse(const char *buf, size_t len, char *key, char *err, size_t errlen)
{
    key[0] = 0;
    if (len > QV__KEY_Z85 + 1)
        return too_long(len, err, errlen);
    if (len && buf[len - 1] == '\n')
        len--;
    int rc = bad_key(buf, len, err, errlen);
    if (rc)
        return rc;
    memcpy(key, buf, QV__KEY_Z85);
    key[QV__KEY_Z85] = 0;
    return 0;
}

int qv__auth_key_public(const char *secret, char *pub, char *err, size_t errlen)
{
    pub[0] = 0;
    if (!qv__auth_key_valid(secret))
        return fail(err, errlen, QV_EINVAL, "the secret key is not a Z85 key");
    if (!qv__auth_has_curve())
        return fail(err, errlen, QV_ENOTSUP, "libzmq was built without CURVE");
    if (zmq_curve_public(pub, secret))
        return fail(err, errlen, -errno, "zmq_curve_public: %s", zmq_strerror(errno));
    return 0;
}

/* ---- keygen -------------------------------------------------------------- */

/* Writes key and a newline to a new file name in directory dfd. */
static int write_key(int dfd, const char *dir, const char *name, const char *key,
                     mode_t mode, char *err, size_t errlen)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
        int e = errno;
        if (e == EEXIST)
            return fail(err, errlen, -e,
                        "%s/%s: already exists; keys are never overwritten "
                        "(remove it, or choose another directory)",
                        dir, name);
        return fail(err, errlen, -e, "%s/%s: cannot create: %s", dir, name, strerror(e));
    }
    char buf[QV__KEY_Z85 + 1];
    memcpy(buf, key, QV__KEY_Z85);
    buf[QV__KEY_Z85] = '\n';
    size_t done = 0;
    int e = 0;
    while (done < sizeof buf) {
        ssize_t w = write(fd, buf + done, sizeof buf - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            e = w < 0 ? errno : EIO;
            break;
        }
        done += (size_t)w;
    }
    explicit_bzero(buf, sizeof buf);
    if (!e && fsync(fd))
        e = errno;
    if (close(fd) && !e)
        e = errno;
    if (e) {
        unlinkat(dfd, name, 0);
        return fail(err, errlen, -e, "%s/%s: cannot write: %s", dir, name, strerror(e));
    }
    return 0;
}

/* An existing entry at name (a link too) is an error before anything is
 * written, so that a second keygen into a directory leaves it untouched. */
static int must_be_absent(int dfd, const char *dir, const char *name, char *err,
                          size_t errlen)
{
    struct stat st;
    if (!fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW))
        return fail(err, errlen, -EEXIST,
                    "%s/%s: already exists; keys are never overwritten "
                    "(remove it, or choose another directory)",
                    dir, name);
    if (errno != ENOENT)
        return fail(err, errlen, -errno, "%s/%s: %s", dir, name, strerror(errno));
    return 0;
}

int qv__auth_keygen(const char *dir, char *err, size_t errlen)
{
    if (!qv__auth_has_curve())
        return fail(err, errlen, QV_ENOTSUP,
                    "libzmq was built without CURVE (zmq_has(\"curve\") is "
                    "false); install a libzmq built with libsodium");
    char spub[QV__KEY_Z85 + 1], ssec[QV__KEY_Z85 + 1];
    char cpub[QV__KEY_Z85 + 1], csec[QV__KEY_Z85 + 1];
    if (zmq_curve_keypair(spub, ssec) || zmq_curve_keypair(cpub, csec))
        return fail(err, errlen, -errno, "zmq_curve_keypair: %s", zmq_strerror(errno));
    const struct {
        const char *name;
        const char *key;
        mode_t mode;
    } files[] = {
        {"server.key", ssec, 0600},
        {"server.pub", spub, 0644},
        {"client.key", csec, 0600},
        {"client.pub", cpub, 0644},
    };
    enum { NFILES = sizeof files / sizeof files[0] };
    int made[NFILES] = {0}, made_dir = 0, made_auth_dir = 0, made_auth_key = 0;
    int rc = 0, dfd = -1, afd = -1;
    char adir[4096];
    snprintf(adir, sizeof adir, "%s/authorized", dir);

    if (mkdir(dir, 0700) == 0) {
        made_dir = 1;
    } else if (errno != EEXIST) {
        rc = fail(err, errlen, -errno, "%s: cannot create directory: %s", dir,
                  strerror(errno));
        goto out;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        rc = fail(err, errlen, -errno, "%s: %s", dir,
                  errno == ENOTDIR ? "not a directory" : strerror(errno));
        goto out;
    }
    for (size_t i = 0; !rc && i < NFILES; i++)
        rc = must_be_absent(dfd, dir, files[i].name, err, errlen);
    if (rc)
        goto out;
    if (mkdirat(dfd, "authorized", 0700) == 0)
        made_auth_dir = 1;
    else if (errno != EEXIST) {
        rc = fail(err, errlen, -errno, "%s: cannot create directory: %s", adir,
                  strerror(errno));
        goto out;
    }
    afd = openat(dfd, "authorized", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (afd < 0) {
        rc = fail(err, errlen, -errno, "%s: %s", adir,
                  errno == ENOTDIR || errno == ELOOP ? "not a directory"
                                                     : strerror(errno));
        goto out;
    }
    rc = must_be_absent(afd, adir, "client.pub", err, errlen);
    for (size_t i = 0; !rc && i < NFILES; i++) {
        int inj = qv__fault_hit("keygen", QV_FAULT_WRITE); /* tests */
        rc = inj ? fail(err, errlen, inj, "%s/%s: injected fault", dir, files[i].name)
                 : write_key(dfd, dir, files[i].name, files[i].key, files[i].mode, err,
                             errlen);
        made[i] = !rc;
    }
    if (!rc) {
        rc = write_key(afd, adir, "client.pub", cpub, 0644, err, errlen);
        made_auth_key = !rc;
    }
    if (!rc && (fsync(afd) != 0 || fsync(dfd) != 0))
        rc = fail(err, errlen, -errno, "%s: cannot sync: %s", dir, strerror(errno));
out:
    if (rc) { /* Undo: remove what this call created, nothing else; the
               * directory too (left, it looked like a pair's to fill in) */
        for (size_t i = 0; i < NFILES; i++)
            if (made[i])
                unlinkat(dfd, files[i].name, 0);
        if (made_auth_key)
            unlinkat(afd, "client.pub", 0);
        if (made_auth_dir && dfd >= 0)
            unlinkat(dfd, "authorized", AT_REMOVEDIR);
        if (made_dir)
            rmdir(dir);
    }
    explicit_bzero(ssec, sizeof ssec);
    explicit_bzero(csec, sizeof csec);
    if (afd >= 0)
        close(afd);
    if (dfd >= 0)
        close(dfd);
    return rc;
}

/* ---- the accepted keys --------------------------------------------------- */

static void clients_free(clients *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].name);
    free(c->v);
    c->v = NULL;
    c->n = 0;
    c->repeated = 0;
}

static int name_order(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int client_name_order(const void *a, const void *b)
{
    return strcmp((*(client *const *)a)->name, (*(client *const *)b)->name);
}

static int client_key_order(const void *a, const void *b)
{
    return memcmp((*(client *const *)a)->key, (*(client *const *)b)->key, 32);
}

/* Two files that name one client ("a" and "a.pub") are refused: the logs
 * and the revocation on SIGHUP go by name, and the name would stand for
 * two keys. One key in two files is allowed (ssh takes a line twice too)
 * but counted, for the daemon's warning: the handshake takes the first
 * name in order, so the other never appears. */
static int clients_check(const char *dir, clients *c, char *err, size_t errlen)
{
    if (c->n < 2)
        return 0;
    client **by = malloc(c->n * sizeof *by);
    if (!by)
        return fail(err, errlen, QV_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->n; i++)
        by[i] = &c->v[i];
    qsort(by, c->n, sizeof *by, client_name_order);
    for (size_t i = 1; i < c->n; i++)
        if (!strcmp(by[i - 1]->name, by[i]->name)) {
            int rc = fail(err, errlen, QV_EINVAL,
                          "%s: two files name client '%s' (with and without .pub); "
                          "expected one file per client",
                          dir, by[i]->name);
            free(by);
            return rc;
        }
    qsort(by, c->n, sizeof *by, client_key_order);
    for (size_t i = 1; i < c->n; i++)
        if (!memcmp(by[i - 1]->key, by[i]->key, 32) &&
            (i == 1 || memcmp(by[i - 2]->key, by[i]->key, 32)))
            c->repeated++;
    free(by);
    return 0;
}

/* What another user able to write a key file could do, for the refusal. */
#define LET_IN "authorize a key of their own"
#define SWAP   "swap the daemon's keys and stand in for it"

/* 0 when path (a directory of keys, or a key file in authorized/) can be
 * written by its owner (this daemon's user or root) alone: whoever can
 * write there can let a key in (or swap the daemon's own: risk says
 * which), as ssh's StrictModes says of authorized_keys; a shared directory
 * such as /tmp is refused, sticky bit or not. Else QV_EINVAL and why in
 * err. */
static int owner_writes_only(const char *path, const char *risk, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0; /* the open that follows says why */
    /* Another user who owns it may write it whatever its mode. */
    if (st.st_uid != geteuid() && st.st_uid != 0)
        return fail(err, errlen, QV_EINVAL,
                    "%s: owned by user %u, neither this daemon's user (%u) nor root: "
                    "its owner could %s; `chown` it",
                    path, (unsigned)st.st_uid, (unsigned)geteuid(), risk);
    if (!(st.st_mode & (S_IWGRP | S_IWOTH)))
        return 0;
    return fail(err, errlen, QV_EINVAL,
                "%s: writable by its group or others (mode %04o): anyone who can write "
                "there could %s; `chmod go-w` it",
                path, (unsigned)(st.st_mode & 07777), risk);
}

/* Reads every key file of dir (names starting with '.' skipped) into *out,
 * in name order; dir, its parent and the files must be the owner's alone
 * to write. */
static int clients_load(const char *dir, clients *out, char *err, size_t errlen)
{
    out->v = NULL;
    out->n = 0;
    out->repeated = 0;
    /* The directory itself, not a link: whoever could write the keys
     * directory could point a link at keys of their own, and "dir/.."
     * was then the link target's parent, not the keys directory
     * (adversarial testing). The keys directory is dir's name less its
     * last component. */
    struct stat lst;
    if (lstat(dir, &lst) == 0 && S_ISLNK(lst.st_mode))
        return fail(err, errlen, QV_EINVAL,
                    "%s: a symbolic link; expected the directory itself (a link lets "
                    "whoever can change it choose the keys)",
                    dir);
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent)
        *slash = 0;
    else
        snprintf(parent, sizeof parent, "%s", slash ? "/" : ".");
    int prc = owner_writes_only(dir, LET_IN, err, errlen);
    if (!prc)
        prc = owner_writes_only(parent, LET_IN, err, errlen);
    if (prc)
        return prc;
    DIR *d = opendir(dir);
    if (!d)
        return fail(err, errlen, -errno, "%s: cannot open directory: %s", dir,
                    strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    errno = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == MAX_CLIENTS) {
            rc = fail(err, errlen, QV_E2BIG, "%s: more than %d keys", dir, MAX_CLIENTS);
            break;
        }
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            char **nv = realloc(names, nc * sizeof *nv);
            if (!nv) {
                rc = fail(err, errlen, QV_ENOMEM, "out of memory");
                break;
            }
            names = nv;
            cap = nc;
        }
        if (!(names[n] = strdup(e->d_name)))
            rc = fail(err, errlen, QV_ENOMEM, "out of memory");
        else
            n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, name_order);
    if (!rc && n && !(out->v = calloc(n, sizeof *out->v)))
        rc = fail(err, errlen, QV_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        char path[4096], key[QV__KEY_Z85 + 1], why[256];
        long bad;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if ((rc = owner_writes_only(path, LET_IN, err, errlen)) != 0)
            break;
        rc = qv__auth_key_read(path, key, why, sizeof why);
        if (rc) {
            fail(err, errlen, rc, "%s: %s", path, why);
            break;
        }
        client *c = &out->v[out->n++];
        z85_decode(key, c->key, &bad);
        size_t len = strlen(names[i]);
        if (len > 4 && !strcmp(names[i] + len - 4, ".pub"))
            names[i][len - 4] = 0;
        c->name = names[i];
        names[i] = NULL;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (!rc)
        rc = clients_check(dir, out, err, errlen);
    if (rc)
        clients_free(out);
    return rc;
}

/* ---- the ZAP handler ----------------------------------------------------- */

/* Answers one ZAP request (RFC 27): 200 and the key's name for a CURVE
 * client whose key is accepted, 400 for any other, 500 for a request
 * that is not a ZAP 1.0 request. */
static void zap_answer(qv__auth *a)
{
    enum { MAXF = 8 };
    zmq_msg_t f[MAXF];
    int nf = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        int r = zmq_msg_recv(&m, a->rep, 0);
        if (r < 0 && errno == EINTR) {
            zmq_msg_close(&m);
            continue;
        }
        more = r >= 0 && zmq_msg_more(&m);
        if (r >= 0 && nf < MAXF) {
            zmq_msg_init(&f[nf]);
            zmq_msg_move(&f[nf++], &m);
        }
        zmq_msg_close(&m);
    }
    const char *status = "500", *text = "malformed ZAP request";
    char user[256] = "";
    /* The key goes with the connection too (ZAP metadata, RFC 27: one
     * property, ZMTP's encoding), so that a reload can tell a connection
     * whose key left authorized/ from one whose name stayed with a new
     * key (qv__auth_allows). */
    unsigned char meta[1 + sizeof QV__AUTH_KEY_PROP - 1 + 4 + QV__KEY_Z85];
    size_t mlen_out = 0;
    if (nf >= 6 && zmq_msg_size(&f[0]) == 3 && !memcmp(zmq_msg_data(&f[0]), "1.0", 3)) {
        const char *mech = zmq_msg_data(&f[5]);
        size_t mlen = zmq_msg_size(&f[5]);
        status = "400";
        text = "only CURVE clients are accepted";
        if (mlen == 5 && !memcmp(mech, "CURVE", 5) && nf == 7 &&
            zmq_msg_size(&f[6]) == 32) {
            text = "client key not authorized";
            pthread_mutex_lock(&a->lock);
            for (size_t i = 0; i < a->keys.n; i++)
                if (!memcmp(a->keys.v[i].key, zmq_msg_data(&f[6]), 32)) {
                    status = "200";
                    text = "OK";
                    snprintf(user, sizeof user, "%s", a->keys.v[i].name);
                    char z[QV__KEY_Z85 + 1];
                    zmq_z85_encode(z, a->keys.v[i].key, 32);
                    size_t nl = sizeof QV__AUTH_KEY_PROP - 1;
                    meta[0] = (unsigned char)nl;
                    memcpy(meta + 1, QV__AUTH_KEY_PROP, nl);
                    meta[1 + nl] = meta[2 + nl] = meta[3 + nl] = 0;
                    meta[4 + nl] = QV__KEY_Z85;
                    memcpy(meta + 5 + nl, z, QV__KEY_Z85);
                    mlen_out = 5 + nl + QV__KEY_Z85;
                    break;
                }
            pthread_mutex_unlock(&a->lock);
        }
    }
    void (*told_fn)(const char *, const char *) = atomic_load(&a->refused);
    if (status[0] != '2' && told_fn) {
        /* Who: the client's public key (Z85) when it sent one, and its
         * address; a wrong key otherwise looked, on both sides, like a
         * daemon that does not answer (a user's test). */
        char who[160] = "", key[41] = "", addr[64] = "";
        if (nf >= 4)
            snprintf(addr, sizeof addr, "%.*s", (int)(zmq_msg_size(&f[3]) < 63
                                                          ? zmq_msg_size(&f[3]) : 63),
                     (const char *)zmq_msg_data(&f[3]));
        if (nf == 7 && zmq_msg_size(&f[6]) == 32)
            zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
        snprintf(who, sizeof who, "%s%s%s%s", key[0] ? "key " : "", key,
                 key[0] && addr[0] ? " from " : "", addr);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > a->told.tv_sec || !a->told.tv_sec) {
            char why[128];
            if (a->untold)
                snprintf(why, sizeof why, "%s (and %u refusals in the second before)", text,
                         a->untold);
            else
                snprintf(why, sizeof why, "%s", text);
            told_fn(why, who);
            a->told = now;
            a->untold = 0;
        } else {
            a->untold++;
        }
    }
    const void *reqid = nf >= 2 ? zmq_msg_data(&f[1]) : "";
    size_t reqlen = nf >= 2 ? zmq_msg_size(&f[1]) : 0;
    zmq_send(a->rep, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(a->rep, reqid, reqlen, ZMQ_SNDMORE);
    zmq_send(a->rep, status, 3, ZMQ_SNDMORE);
    zmq_send(a->rep, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(a->rep, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(a->rep, meta, mlen_out, 0);
    for (int i = 0; i < nf; i++)
        zmq_msg_close(&f[i]);
}

/* Refusals held back by the one-a-second rule, told once their second is
 * over: told only with the next refusal, a burst followed by silence left
 * all but its first unsaid (adversarial testing). */
static void tell_untold(qv__auth *a)
{
    void (*told_fn)(const char *, const char *) = atomic_load(&a->refused);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!a->untold || !told_fn || now.tv_sec <= a->told.tv_sec)
        return;
    char why[128];
    snprintf(why, sizeof why, "%u more refusals in the second after the last one said",
             a->untold);
    told_fn(why, "");
    a->told = now;
    a->untold = 0;
}

static void *zap_thread(void *arg)
{
    qv__auth *a = arg;
    qv__thread_name("zap", -1);
    for (;;) {
        zmq_pollitem_t it[2] = {{a->rep, 0, ZMQ_POLLIN, 0}, {a->ctl_peer, 0, ZMQ_POLLIN, 0}};
        tell_untold(a);
        if (zmq_poll(it, 2, a->untold ? 1000 : -1) < 0) {
            if (errno == EINTR)
                continue;
            break; /* ETERM: the context is going away */
        }
        if (it[1].revents & ZMQ_POLLIN)
            break;
        if (it[0].revents & ZMQ_POLLIN)
            zap_answer(a);
    }
    int linger = 0;
    zmq_setsockopt(a->rep, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(a->ctl_peer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(a->rep);
    zmq_close(a->ctl_peer);
    return NULL;
}

static void close_now(void *s)
{
    if (!s)
        return;
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(s);
}

int qv__auth_server_start(void *zctx, void *sock, const char *keys_dir, qv__auth **out,
                          char *err, size_t errlen)
{
    *out = NULL;
    if (!qv__auth_has_curve())
        return fail(err, errlen, QV_ENOTSUP,
                    "libzmq was built without CURVE (zmq_has(\"curve\") is "
                    "false); install a libzmq built with libsodium");
    char path[4096], secret[QV__KEY_Z85 + 1], why[256];
    /* The daemon's own keys, the owner's alone to write: another could
     * swap them (adversarial testing: 0622 and 0666 started). */
    snprintf(path, sizeof path, "%s/server.pub", keys_dir);
    int rc = owner_writes_only(path, SWAP, err, errlen);
    snprintf(path, sizeof path, "%s/server.key", keys_dir);
    if (rc || (rc = owner_writes_only(path, SWAP, err, errlen)) != 0)
        return rc;
    rc = qv__auth_key_read(path, secret, why, sizeof why);
    if (rc)
        return fail(err, errlen, rc, "%s: %s", path, why);
    /* The secret key must be the one of server.pub, which the hosts are
     * given: a server.key replaced (by server.pub itself, say) started a
     * daemon that no host could reach, without a word (adversarial). */
    char pub[QV__KEY_Z85 + 1], mine[QV__KEY_Z85 + 1];
    snprintf(path, sizeof path, "%s/server.pub", keys_dir);
    if (access(path, F_OK) == 0 && qv__auth_key_read(path, pub, why, sizeof why) == 0 &&
        qv__auth_key_public(secret, mine, why, sizeof why) == 0 && strcmp(pub, mine)) {
        explicit_bzero(secret, sizeof secret);
        return fail(err, errlen, QV_EINVAL,
                    "%s/server.key is not the secret key of %s (hosts given that public "
                    "key could not connect)",
                    keys_dir, path);
    }
    qv__auth *a = calloc(1, sizeof *a);
    if (!a || pthread_mutex_init(&a->lock, NULL)) {
        free(a);
        explicit_bzero(secret, sizeof secret);
        return fail(err, errlen, QV_ENOMEM, "out of memory");
    }
    snprintf(path, sizeof path, "%s/authorized", keys_dir);
    if (!(a->authorized = strdup(path)))
        rc = fail(err, errlen, QV_ENOMEM, "out of memory");
    if (!rc)
        rc = clients_load(a->authorized, &a->keys, err, errlen);
    if (!rc && !(a->rep = zmq_socket(zctx, ZMQ_REP)))
        rc = fail(err, errlen, -errno, "zmq_socket: %s", zmq_strerror(errno));
    if (!rc && qv__zbind(a->rep, ZAP_ENDPOINT))
        rc = fail(err, errlen, -errno,
                  errno == EADDRINUSE ? "%s: a ZAP handler is already bound in this "
                                        "context"
                                      : "%s: %s",
                  ZAP_ENDPOINT, zmq_strerror(errno));
    char ctl[64];
    snprintf(ctl, sizeof ctl, "inproc://qv-auth-stop-%p", (void *)a);
    if (!rc && (!(a->ctl = zmq_socket(zctx, ZMQ_PAIR)) ||
                !(a->ctl_peer = zmq_socket(zctx, ZMQ_PAIR)) || qv__zbind(a->ctl, ctl) ||
                qv__zconnect(a->ctl_peer, ctl)))
        rc = fail(err, errlen, -errno, "%s: %s", ctl, zmq_strerror(errno));
    /* The socket last, so that a failed start leaves it as it was. */
    int one = 1;
    if (!rc && (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
                zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret, sizeof secret) ||
                zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, QV__AUTH_DOMAIN,
                               strlen(QV__AUTH_DOMAIN))))
        rc = fail(err, errlen, -errno, "cannot make the socket a CURVE server: %s",
                  zmq_strerror(errno));
    explicit_bzero(secret, sizeof secret);
    if (!rc) {
        int e = qv__thread_start(&a->thread, NULL, zap_thread, a);
        if (e)
            rc = fail(err, errlen, -e, "cannot start the ZAP handler: %s", strerror(e));
    }
    if (rc) {
        close_now(a->rep);
        close_now(a->ctl_peer);
        close_now(a->ctl);
        clients_free(&a->keys);
        pthread_mutex_destroy(&a->lock);
        free(a->authorized);
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int qv__auth_reload(qv__auth *a, char *err, size_t errlen)
{
    clients fresh;
    int rc = clients_load(a->authorized, &fresh, err, errlen);
    if (rc)
        return rc;
    pthread_mutex_lock(&a->lock);
    clients old = a->keys;
    a->keys = fresh;
    pthread_mutex_unlock(&a->lock);
    clients_free(&old);
    atomic_fetch_add(&a->gen, 1);
    return 0;
}

uint64_t qv__auth_gen(const qv__auth *a)
{
    return atomic_load(&((qv__auth *)a)->gen);
}

bool qv__auth_allows(const qv__auth *a, const char *user, const char *key)
{
    unsigned char k[32];
    long bad;
    if (!user || !key || strnlen(key, QV__KEY_Z85 + 1) != QV__KEY_Z85 ||
        !z85_decode(key, k, &bad))
        return false;
    qv__auth *m = (qv__auth *)a; /* the lock, not the set, changes */
    bool ok = false;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->keys.n && !ok; i++)
        ok = !memcmp(m->keys.v[i].key, k, 32) && !strcmp(m->keys.v[i].name, user);
    pthread_mutex_unlock(&m->lock);
    return ok;
}

size_t qv__auth_clients(const qv__auth *a)
{
    qv__auth *m = (qv__auth *)a; /* the lock, not the set, changes */
    pthread_mutex_lock(&m->lock);
    size_t n = m->keys.n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

size_t qv__auth_repeated(const qv__auth *a)
{
    qv__auth *m = (qv__auth *)a;
    pthread_mutex_lock(&m->lock);
    size_t n = m->keys.repeated;
    pthread_mutex_unlock(&m->lock);
    return n;
}

void qv__auth_stop(qv__auth *a)
{
    if (!a)
        return;
    /* The handler may be gone already (its context terminated): a failed
     * send does not matter, the join still returns. */
    zmq_send(a->ctl, "", 0, ZMQ_DONTWAIT);
    pthread_join(a->thread, NULL);
    close_now(a->ctl);
    clients_free(&a->keys);
    pthread_mutex_destroy(&a->lock);
    free(a->authorized);
    free(a);
}

int qv__auth_client(void *sock, const char *server_pub, const char *client_pub,
                    const char *client_sec, char *err, size_t errlen)
{
    char pub[QV__KEY_Z85 + 1];
    if (!qv__auth_has_curve())
        return fail(err, errlen, QV_ENOTSUP,
                    "libzmq was built without CURVE (zmq_has(\"curve\") is "
                    "false); install a libzmq built with libsodium");
    if (!qv__auth_key_valid(server_pub))
        return fail(err, errlen, QV_EINVAL, "the server's public key is not a Z85 key");
    if (!qv__auth_key_valid(client_sec))
        return fail(err, errlen, QV_EINVAL, "the client's secret key is not a Z85 key");
    if (client_pub && !qv__auth_key_valid(client_pub))
        return fail(err, errlen, QV_EINVAL, "the client's public key is not a Z85 key");
    if (!client_pub) {
        int rc = qv__auth_key_public(client_sec, pub, err, errlen);
        if (rc)
            return rc;
        client_pub = pub;
    }
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_pub, QV__KEY_Z85 + 1) ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, client_pub, QV__KEY_Z85 + 1) ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, client_sec, QV__KEY_Z85 + 1))
        return fail(err, errlen, -errno, "cannot make the socket a CURVE client: %s",
                    zmq_strerror(errno));
    return 0;
}

void qv__auth_on_refusal(qv__auth *a, void (*fn)(const char *why, const char *client))
{
    atomic_store(&a->refused, fn);
}
