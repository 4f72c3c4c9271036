/*
 * zwait.h - waiting for a ZeroMQ socket and a file descriptor together,
 * as zmq_poll does, in fewer system calls.
 *
 * zmq_poll checks the socket's events (ZMQ_EVENTS: a poll of its command
 * pipe and a getpid) before and after every poll(2): ten system calls per
 * wait for two sockets. On a virtual machine that is most of a loopback
 * round trip's overhead. A socket's ZMQ_FD is readable when commands wait
 * for it; once a receive came back empty (EAGAIN), every command before it
 * was handled, so a new message makes ZMQ_FD readable again and poll(2) on
 * it alone is enough. Any other call on the socket (a send, a receive that
 * got a message) may take a command that brings messages without leaving
 * ZMQ_FD readable; then the events are checked once before sleeping.
 */
/*
 * Also here: zmq_bind, zmq_connect and zmq_socket_monitor asked again when
 * a signal interrupted them. Each takes the socket's pending commands
 * first, and a signal there failed it with EINTR before it did anything:
 * quiverd exited under a SIGHUP (a reload) while it started, one CI run.
 */
#ifndef QV_REMOTE_ZWAIT_H
#define QV_REMOTE_ZWAIT_H

#include <poll.h>
#include <stdbool.h>

typedef struct qv__zwait {
    void *sock;
    int zfd;    /* its ZMQ_FD */
    bool armed; /* ZMQ_FD will wake a poll for the next message */
} qv__zwait;

/* As zmq_bind, zmq_connect and zmq_socket_monitor, but for EINTR. */
int qv__zbind(void *sock, const char *endpoint);
int qv__zconnect(void *sock, const char *endpoint);
int qv__zmonitor(void *sock, const char *endpoint, int events);

/* 0, or -errno when the socket gives no ZMQ_FD. */
int qv__zwait_init(qv__zwait *w, void *sock);

/* Call after a send or a receive that got a message. */
static inline void qv__zwait_used(qv__zwait *w)
{
    w->armed = false;
}

/* Call after a receive that found nothing (EAGAIN). */
static inline void qv__zwait_drained(qv__zwait *w)
{
    w->armed = true;
}

/* Whether the socket may have a message now (then the caller receives
 * until EAGAIN rather than sleep); when not, ZMQ_FD wakes a poll for the
 * next one. At most two system calls, none while armed. The caller owns
 * the socket. */
bool qv__zwait_arm(qv__zwait *w);

/* Polls ZMQ_FD and the nfds descriptors in fds (their revents set here)
 * up to timeout_us (-1: no limit; microseconds, so that a wait shorter
 * than a millisecond sleeps rather than polls in a loop); call after
 * qv__zwait_arm said false.
 * It touches no ZeroMQ state: another thread may use the socket
 * meanwhile, if it leaves it armed (qv__zwait_arm) or wakes the poll by
 * one of fds. 1 when the socket may have a message, 0 when not (the time
 * ran out, or only fds are ready), -errno (EINTR included). */
int qv__zwait_poll(qv__zwait *w, struct pollfd *fds, int nfds, long timeout_us);

/* Whether the socket may have a message now, without sleeping: false only
 * when none can be waiting. One system call at most while armed. */
bool qv__zwait_ready(qv__zwait *w);

#endif
