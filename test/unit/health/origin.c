/* SPDX-License-Identifier: MIT */
/* Loopback origin servers for the health tests (plain sockets and poll, one thread). */
#include "tests.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/io.h"

#define T_MAX_CONNS 32

static const char *const t_resp[] = {
    [T_OK] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    [T_500] = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nfail",
    [T_HANG] = "",
    [T_CHUNKED] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n",
    [T_CLOSE] = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
};

const char *t_backends[2];

int t_nbackends(void)
{
    int err = 0, n = 0;
    t_backends[n++] = "epoll";
    if (rw_io_select("io_uring", &err))
        t_backends[n++] = "io_uring";
    return n;
}

uint64_t t_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void t_sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

int64_t t_wait_state(struct rw_backend *b, uint32_t want, int64_t cap_ms)
{
    uint64_t t0 = t_now_ms();
    while (atomic_load(&b->state) != want) {
        if ((int64_t)(t_now_ms() - t0) > cap_ms)
            return -1;
        t_sleep_ms(5);
    }
    return (int64_t)(t_now_ms() - t0);
}

void t_def(struct rw_server_def *d, const char *name, uint16_t port)
{
    memset(d, 0, sizeof(*d));
    struct sockaddr_in *a = (struct sockaddr_in *)&d->addr;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d->addrlen = sizeof(*a);
    d->name = name;
    d->weight = 1;
}

static int t_listen(uint16_t *port, bool do_listen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    if (do_listen)
        assert_int_equal(listen(fd, 64), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

uint16_t t_refused_port(void)
{
    uint16_t port;
    close(t_listen(&port, false));
    return port;
}

/* Answer every complete request head in buf (counted by CRLF CRLF). */
static bool t_serve(struct t_origin *o, int fd, char *buf, size_t *len)
{
    int mode = atomic_load(&o->mode);
    char *p;
    while ((p = memmem(buf, *len, "\r\n\r\n", 4))) {
        size_t used = (size_t)(p + 4 - buf);
        memmove(buf, buf + used, *len - used);
        *len -= used;
        atomic_fetch_add(&o->requests, 1);
        if (mode == T_HANG)
            continue;
        const char *r = t_resp[mode];
        if (send(fd, r, strlen(r), MSG_NOSIGNAL) < 0 || mode == T_CLOSE)
            return false;
    }
    return true;
}

static void *t_origin_main(void *arg)
{
    struct t_origin *o = arg;
    struct pollfd pf[T_MAX_CONNS + 1];
    char bufs[T_MAX_CONNS][2048];
    size_t lens[T_MAX_CONNS] = {0};
    int n = 0;
    pf[0] = (struct pollfd){.fd = o->lfd, .events = POLLIN};
    while (!atomic_load(&o->stop)) {
        if (atomic_load(&o->kick)) {
            for (int i = 0; i < n; i++)
                close(pf[i + 1].fd);
            atomic_fetch_sub(&o->open, (uint32_t)n);
            n = 0;
            atomic_store(&o->kick, false);
        }
        if (poll(pf, (nfds_t)n + 1, 5) <= 0)
            continue;
        if ((pf[0].revents & POLLIN) && n < T_MAX_CONNS) {
            int c = accept(o->lfd, NULL, NULL);
            if (c >= 0) {
                atomic_fetch_add(&o->accepts, 1);
                atomic_fetch_add(&o->open, 1);
                pf[n + 1] = (struct pollfd){.fd = c, .events = POLLIN};
                lens[n++] = 0;
            }
        }
        for (int i = 0; i < n; i++) {
            if (!(pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = recv(pf[i + 1].fd, bufs[i] + lens[i], sizeof(bufs[i]) - lens[i], 0);
            bool keep = r > 0;
            if (keep) {
                lens[i] += (size_t)r;
                keep = t_serve(o, pf[i + 1].fd, bufs[i], &lens[i]) && lens[i] < sizeof(bufs[i]);
            }
            if (!keep) {
                close(pf[i + 1].fd);
                atomic_fetch_sub(&o->open, 1);
                pf[i + 1] = pf[n];
                memcpy(bufs[i], bufs[n - 1], lens[n - 1]);
                lens[i] = lens[n - 1];
                n--;
                i--;
            }
        }
    }
    for (int i = 0; i < n; i++)
        close(pf[i + 1].fd);
    return NULL;
}

void t_origin_start(struct t_origin *o, enum t_mode m)
{
    memset(o, 0, sizeof(*o));
    o->lfd = t_listen(&o->port, true);
    atomic_store(&o->mode, m);
    assert_int_equal(pthread_create(&o->th, NULL, t_origin_main, o), 0);
}

void t_origin_stop(struct t_origin *o)
{
    atomic_store(&o->stop, true);
    pthread_join(o->th, NULL);
    close(o->lfd);
}
