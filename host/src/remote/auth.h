/*
 * auth.h - CURVE keys for remote boards: the one reader of key files, the
 * key pairs `quiver keygen` writes, and the two ends of an authenticated
 * ZeroMQ connection: quiverd's server socket with its ZAP handler (RFC 27),
 * which accepts exactly the client keys in KEYS/authorized/, and the host's
 * client socket (docs/remote.md).
 *
 * A key is 32 bytes written as 40 characters of Z85. A key file holds one
 * key and at most one newline after it, nothing else. Layout of a keys
 * directory (what qv__auth_keygen writes):
 *   KEYS/server.key  KEYS/server.pub     the daemon's pair (secret 0600)
 *   KEYS/client.key  KEYS/client.pub     one host's pair (secret 0600)
 *   KEYS/authorized/NAME.pub             each client the daemon accepts
 *
 * Errors: functions return 0 or a negative QV_E* code / -errno, and write
 * a one-line reason to err (errlen bytes, may be NULL). qv__auth_key_read
 * leaves the file's name out, so that its caller can say where (a board
 * file's file:line:col, "quiverd: keys/server.key: ..."); the functions
 * that handle several files name the one at fault ("KEYS/server.key: ...").
 */
#ifndef QV_REMOTE_AUTH_H
#define QV_REMOTE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QV__KEY_Z85 40 /* characters of a Z85 CURVE key, without the NUL */

/* The ZAP domain quiverd's server sockets name. */
#define QV__AUTH_DOMAIN "quiver"

typedef struct qv__auth qv__auth;

/* 1 when s is exactly 40 characters of the Z85 alphabet that decode to 32
 * bytes (each group of five below 2^32), else 0. Any thread. */
int qv__auth_key_valid(const char *s);

/* Reads the key file at path into key (41 bytes: 40 characters and a NUL).
 * Refuses, with a reason in err: a symbolic link (the file is opened with
 * O_NOFOLLOW), a FIFO, device or directory (without blocking), a file of
 * more than 41 bytes, anything other than 40 Z85 characters with an
 * optional "\n". Whether the key is a public or a secret one cannot be
 * told from the file; the caller knows which it asked for. Any thread. */
int qv__auth_key_read(const char *path, char *key, char *err, size_t errlen);

/* Whether the key file at path is readable by its group or by others (its
 * mode into *mode): a secret key should not be, and is warned about. */
bool qv__auth_key_exposed(const char *path, unsigned *mode);

/* The key-file format on a buffer (len bytes, not NUL-terminated): what
 * qv__auth_key_read does after reading the file. 0 with the key in key (41
 * bytes), or QV_EFORMAT and the reason in err. */
int qv__auth_key_parse(const char *buf, size_t len, char *key, char *err, size_t errlen);

/* The public key (41 bytes out) of the Z85 secret key secret. */
int qv__auth_key_public(const char *secret, char *pub, char *err, size_t errlen);

/* `quiver keygen DIR`: creates dir (0700) when it is missing and writes
 * two new key pairs into it, server.key/server.pub and
 * client.key/client.pub, and authorized/client.pub (authorized/ created
 * 0700). Secret keys are created 0600, public ones 0644, each with
 * O_CREAT|O_EXCL|O_NOFOLLOW: an existing file or a link in its place is an
 * error (-EEXIST) and nothing is overwritten; on any error the files this
 * call created are removed again. -ENOTSUP without CURVE in libzmq. */
int qv__auth_keygen(const char *dir, char *err, size_t errlen);

/* 1 when libzmq was built with CURVE (zmq_has("curve")), else 0. */
int qv__auth_has_curve(void);

/* Makes sock (a ZeroMQ socket of context zctx, not yet bound) a CURVE
 * server with the secret key keys_dir/server.key and ZAP domain
 * QV__AUTH_DOMAIN, and starts the context's ZAP handler: a thread with a
 * REP socket at inproc://zeromq.zap.01 that accepts a CURVE client whose
 * public key is in one of the files of keys_dir/authorized/ (read now; each
 * file not starting with '.' must be a key file, else the start fails) and
 * refuses every other client and mechanism with status 400. An accepted
 * client's User-Id (zmq_msg_gets(msg, "User-Id")) is its file's name
 * without ".pub". One handler per context: a second start in the same
 * context fails with -EADDRINUSE. *out is the handle for qv__auth_stop;
 * on error it is NULL and nothing is left running. -ENOTSUP without CURVE.
 * Call from the thread that owns sock, before zmq_bind. */
int qv__auth_server_start(void *zctx, void *sock, const char *keys_dir, qv__auth **out,
                          char *err, size_t errlen);

/* fn is told each refused handshake (why, and the client's key and
 * address), at most once a second (the count of the others with the
 * next), from the handler's thread. Call right after the start. */
void qv__auth_on_refusal(qv__auth *a, void (*fn)(const char *why, const char *client));

/* Reads keys_dir/authorized/ again (quiverd does on SIGHUP, from its main
 * loop, not from the signal handler): on success the new set replaces the
 * old one for every later handshake; on error the old set stays and err
 * says why. Any thread. */
int qv__auth_reload(qv__auth *a, char *err, size_t errlen);

/* The ZAP metadata property that carries an accepted client's public key
 * (Z85) on its connection: zmq_msg_gets(msg, QV__AUTH_KEY_PROP). */
#define QV__AUTH_KEY_PROP "X-Quiver-Key"

/* How many reloads have succeeded: a connection accepted before the last
 * one is checked again with qv__auth_allows. Any thread. */
uint64_t qv__auth_gen(const qv__auth *a);

/* Whether the set accepts now the client named user (its User-Id) with
 * public key key (Z85, its QV__AUTH_KEY_PROP): false once its file left
 * authorized/ or holds another key. Any thread. */
bool qv__auth_allows(const qv__auth *a, const char *user, const char *key);

/* The number of client keys the handler accepts now. Any thread. */
size_t qv__auth_clients(const qv__auth *a);

/* The number of those keys found in more than one file of authorized/ (a
 * client with such a key is known by the first file's name in byte
 * order). Two files naming one client ("a" and "a.pub") fail the start
 * and the reload instead. Any thread. */
size_t qv__auth_repeated(const qv__auth *a);

/* Stops the ZAP handler and frees a (NULL is fine). Call before
 * zmq_ctx_term of its context (the handler's sockets would block it);
 * the server socket may be closed before or after. */
void qv__auth_stop(qv__auth *a);

/* Makes sock (not yet connected) a CURVE client of the server whose
 * public key is server_pub, with the key pair client_pub / client_sec
 * (Z85 strings; client_pub NULL: derived from client_sec). Call from the
 * thread that owns sock, before zmq_connect. */
int qv__auth_client(void *sock, const char *server_pub, const char *client_pub,
                    const char *client_sec, char *err, size_t errlen);

#endif
