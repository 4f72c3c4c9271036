/*
 * zwait.c - a ZeroMQ socket and a file descriptor waited for together
 * (zwait.h says why not zmq_poll).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <time.h>

#include <zmq.h>

#include "remote/zwait.h"

int qv__zwait_init(qv__zwait *w, void *sock)
{
    w->sock = sock;
    w->armed = false;
    size_t len = sizeof w->zfd;
    if (zmq_getsockopt(sock, ZMQ_FD, &w->zfd, &len) != 0)
        return -errno;
    return 0;
}

/* Whether messages wait now (handles the socket's commands): arms the
 * wait when none do. */
static bool events_in(qv__zwait *w)
{
    uint32_t ev = 0; /* int in libzmq before 4.0; 4 bytes either way */
    size_t len = sizeof ev;
    if (zmq_getsockopt(w->sock, ZMQ_EVENTS, &ev, &len) != 0)
        return true; /* the receive says what is wrong */
    if (ev & ZMQ_POLLIN)
        return true;
    w->armed = true;
    return false;
}

bool qv__zwait_arm(qv__zwait *w)
{
    return !w->armed && events_in(w);
}

int qv__zwait_poll(qv__zwait *w, struct pollfd *fds, int nfds, long timeout_us)
{
    enum { MAX_FDS = 7 };
    struct pollfd p[MAX_FDS + 1] = {{w->zfd, POLLIN, 0}};
    if (nfds > MAX_FDS)
        return -EINVAL;
    for (int i = 0; i < nfds; i++)
        p[i + 1] = fds[i];
    struct timespec ts = {timeout_us / 1000000, timeout_us % 1000000 * 1000};
    if (ppoll(p, (nfds_t)nfds + 1, timeout_us < 0 ? NULL : &ts, NULL) < 0)
        return -errno;
    for (int i = 0; i < nfds; i++)
        fds[i].revents = p[i + 1].revents;
    /* Commands came: a message, or only the socket's own business; the
     * receive that follows tells (and sets armed). */
    return p[0].revents ? 1 : 0;
}

bool qv__zwait_ready(qv__zwait *w)
{
    if (!w->armed)
        return events_in(w);
    struct pollfd p = {w->zfd, POLLIN, 0};
    if (poll(&p, 1, 0) == 0)
        return false;
    w->armed = false;
    return true;
}

int qv__zbind(void *sock, const char *endpoint)
{
    int rc;
    while ((rc = zmq_bind(sock, endpoint)) != 0 && errno == EINTR)
        ;
    return rc;
}

int qv__zconnect(void *sock, const char *endpoint)
{
    int rc;
    while ((rc = zmq_connect(sock, endpoint)) != 0 && errno == EINTR)
        ;
    return rc;
}

int qv__zmonitor(void *sock, const char *endpoint, int events)
{
    int rc;
    while ((rc = zmq_socket_monitor(sock, endpoint, events)) != 0 && errno == EINTR)
        ;
    return rc;
}
