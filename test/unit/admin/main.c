/* SPDX-License-Identifier: MIT */
/* Runner for the admin/ unit tests (CTest: unit.admin), and the shared test clients. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/io.h"
#include "test/unit/admin/tests.h"

static void client_timeouts(int fd)
{
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int rw_test_unix_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    client_timeouts(fd);
    return fd;
}

int rw_test_tcp_connect(unsigned short port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    client_timeouts(fd);
    return fd;
}

int rw_test_send(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        s += k;
        n -= (size_t)k;
    }
    return 0;
}

long rw_test_read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t k = recv(fd, buf + n, 1, 0);
        if (k <= 0)
            return -1;
        if (buf[n] == '\n') {
            buf[n] = '\0';
            return (long)n;
        }
        n++;
    }
    return -1;
}

char *rw_test_read_all(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *p = malloc(cap);
    for (;;) {
        if (n + 1 >= cap)
            p = realloc(p, cap *= 2);
        ssize_t k = recv(fd, p + n, cap - n - 1, 0);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    p[n] = '\0';
    if (len)
        *len = n;
    return p;
}

char *rw_test_tmpdir(void)
{
    char tmpl[] = "/tmp/rw-admin-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

int main(void)
{
    static const char *const backends[] = {"epoll", "io_uring"};
    int failed = 0;
    signal(SIGPIPE, SIG_IGN);
    failed += rw_test_metrics();
    failed += rw_test_alog_fmt();
    failed += rw_test_accesslog();
    for (int i = 0; i < 2; i++) {
        int err = 0;
        if (!rw_io_select(backends[i], &err)) {
            printf("[ SKIP     ] admin server on %s: %s\n", backends[i], "backend not usable");
            continue;
        }
        failed += rw_test_server(backends[i]);
        failed += rw_test_http(backends[i]);
        failed += rw_test_ctl(backends[i]);
    }
    return failed ? 1 : 0;
}
