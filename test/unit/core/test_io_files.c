/* SPDX-License-Identifier: MIT */
/* core/io conformance: sockets the loop accepted or connected, as io_uring holds them in
 * its fixed-file table: reused numbers reach the new socket, closing sends FIN, every op
 * kind names the slot, and the table's limits and failures change nothing visible. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "core/io-int.h"
#include "core/io.h"
#include "core/io_uring-int.h"
#include "test/unit/core/io_fixture.h"
#include "test/unit/core/tests.h"

#define EOF_WAIT_MS 2000 /* bound of a wait for the peer's EOF */

static struct rw__io_files_stats stats(struct fx *f)
{
    struct rw__io_files_stats s;

    rw__io_uring_files_stats(f->l, &s);
    return s;
}

/* The loop has a fixed-file table (io_uring, unless a hook refused it). */
static bool has_table(struct fx *f)
{
    return stats(f).size > 0;
}

/* ---- what the kernel's table holds: /proc/self/fdinfo of the ring ---- */

/* The ring's fd: the one io_uring instance open in this process (the fixture's loop). */
static int ring_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int found = -1;

    assert_non_null(d);
    while ((e = readdir(d))) {
        char path[300], link[64];
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        n = readlink(path, link, sizeof(link) - 1);
        if (n > 0) {
            link[n] = 0;
            if (strcmp(link, "anon_inode:[io_uring]") == 0)
                found = atoi(e->d_name);
        }
    }
    closedir(d);
    assert_true(found >= 0);
    return found;
}

/* Whether the table's slot holds fd's file (fd >= 0), or holds nothing (fd < 0). */
static bool slot_is(int slot, int fd)
{
    char path[64], want[96] = "", line[256], prefix[16];
    FILE *fi;
    bool in_files = false, seen = false;

    if (fd >= 0) {
        char link[64];
        ssize_t n;

        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        n = readlink(path, link, sizeof(link) - 1);
        assert_true(n > 0);
        link[n] = 0;
        snprintf(want, sizeof(want), "%s", link);
    }
    snprintf(prefix, sizeof(prefix), "%5u:", (unsigned)slot);
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ring_fd());
    fi = fopen(path, "r");
    assert_non_null(fi);
    while (fgets(line, sizeof(line), fi)) {
        if (strncmp(line, "UserFiles:", 10) == 0) {
            in_files = true;
            continue;
        }
        if (in_files && line[0] != ' ' && !(line[0] >= '0' && line[0] <= '9'))
            break; /* the next section */
        if (in_files && strncmp(line, prefix, strlen(prefix)) == 0) {
            line[strcspn(line, "\n")] = 0;
            seen = fd >= 0 && strcmp(line + strlen(prefix) + 1, want) == 0;
            fclose(fi);
            return seen;
        }
    }
    fclose(fi);
    return fd < 0;
}

/* ---- loopback connections through the loop's accept ---- */

struct lis {
    int lfd;
    uint16_t port;
    struct rec *a; /* owned: the multishot accept */
};

static void lis_open(struct fx *f, struct lis *s)
{
    s->lfd = tcp_listener(&s->port);
    s->a = rec_new(f->l);
    assert_int_equal(START(rw_io_accept(f->l, &s->a->op, s->lfd)), 0);
}

/* A blocking client socket, not connected yet (made before a close, it does not take
 * the number the close frees). */
static int client_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    return fd;
}

/* The next connection, from *cli (made with client_socket(), or -1 for a new one):
 * the result is the loop's socket. */
static int lis_next(struct fx *f, struct lis *s, int *cli)
{
    struct sockaddr_in sa = loopback(s->port);
    int n = s->a->n;

    if (*cli < 0)
        *cli = client_socket();
    assert_int_equal(connect(*cli, (struct sockaddr *)&sa, sizeof(sa)), 0);
    run_until(f->l, &s->a->n, n + 1);
    assert_true(s->a->res[n] >= 0);
    return s->a->res[n];
}

static void lis_close(struct fx *f, struct lis *s)
{
    assert_int_equal(START(rw_io_cancel(f->l, &s->a->op)), 0);
    run_until(f->l, &s->a->finals, 1);
    close(s->lfd);
    rec_free(s->a);
}

/* Receive exactly msg on fd (one-shot recvs until it is all there). */
static void recv_expect(struct fx *f, int fd, const char *msg)
{
    struct rec *r = rec_new(f->l);
    size_t want = strlen(msg);

    while (r->len < want) {
        r->finals = 0;
        assert_int_equal(START(rw_io_recv(f->l, &r->op, fd, RW_RECV_ONESHOT)), 0);
        run_until(f->l, &r->finals, 1);
        assert_true(r->res[r->n - 1] > 0);
    }
    assert_int_equal(r->len, want);
    assert_memory_equal(r->data, msg, want);
    rec_free(r);
}

/* Read exactly n bytes from a blocking socket. */
static void read_exact(int fd, void *p, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t k = read(fd, (char *)p + got, n - got);
        assert_true(k > 0);
        got += (size_t)k;
    }
}

/* Send msg on fd with the loop and read it at the peer cli. */
static void send_expect(struct fx *f, int fd, int cli, const char *msg)
{
    struct rec *s = rec_new(f->l);
    struct iovec iov = {(void *)msg, strlen(msg)};
    char got[256];

    assert_true(iov.iov_len <= sizeof(got));
    assert_int_equal(START(rw_io_send(f->l, &s->op, fd, &iov, 1)), 0);
    run_until(f->l, &s->finals, 1);
    assert_int_equal(s->res[0], (int32_t)iov.iov_len);
    read_exact(cli, got, iov.iov_len);
    assert_memory_equal(got, msg, iov.iov_len);
    rec_free(s);
}

static void close_op(struct fx *f, int fd)
{
    struct rec *c = rec_new(f->l);

    assert_int_equal(START(rw_io_close(f->l, &c->op, fd)), 0);
    run_until(f->l, &c->finals, 1);
    assert_int_equal(c->res[0], 0);
    rec_free(c);
}

/* Whether the peer cli reads EOF within ms (bytes before it are dropped). */
static bool peer_eof(int cli, int ms)
{
    struct pollfd p = {.fd = cli, .events = POLLIN};
    char sink[256];

    for (int waited = 0; waited <= ms; waited += 10) {
        if (poll(&p, 1, 10) == 1) {
            ssize_t n = recv(cli, sink, sizeof(sink), MSG_DONTWAIT);
            if (n == 0)
                return true;
            if (n < 0 && errno != EAGAIN)
                return true; /* a reset ends the stream too */
        }
    }
    return false;
}

/* n exchanges on fd: a recv of the peer's bytes and a send back (2n ops). */
static void exchange(struct fx *f, int fd, int peer, int n)
{
    for (int i = 0; i < n; i++) {
        write_all(peer, "hello", 5);
        recv_expect(f, fd, "hello");
        send_expect(f, fd, peer, "hi");
    }
}

/* Enough exchanges that fd's slot is confirmed (the socket enters the table at its
 * RW__FF_AFTER-th op, and later ops name the slot). */
static void warm_up(struct fx *f, int fd, int cli)
{
    exchange(f, fd, cli, RW__FF_AFTER / 2 + 1);
    if ((uint32_t)fd < stats(f).size)
        assert_true(slot_is(fd, fd));
}

/* ---- tests ---- */

/* A socket closed with rw_io_close and its number taken by the next accepted one: the
 * new socket gets the new peer's bytes, sends reach the new peer, and the old peer
 * sees EOF, not the new data. */
static void io_files_reuse_after_close(void **state)
{
    struct fx *f = fx_get(state);
    struct lis s;
    int cli_a = -1, cli_b = client_socket(), fd, fd2;

    lis_open(f, &s);
    fd = lis_next(f, &s, &cli_a);
    warm_up(f, fd, cli_a);
    uint64_t fixed = stats(f).fixed_sqes;
    send_expect(f, fd, cli_a, "to-a");
    if (has_table(f))
        assert_int_equal(stats(f).fixed_sqes, fixed + 1); /* the send named the slot */
    close_op(f, fd);
    if (has_table(f)) {
        assert_true(slot_is(fd, -1));
        assert_int_equal(stats(f).removals, 1);
    }
    fd2 = lis_next(f, &s, &cli_b);
    assert_int_equal(fd2, fd); /* the lowest free number: the same */
    assert_true(peer_eof(cli_a, EOF_WAIT_MS));
    write_all(cli_b, "from-b", 6);
    recv_expect(f, fd2, "from-b");
    send_expect(f, fd2, cli_b, "to-b");
    warm_up(f, fd2, cli_b); /* in the table now: the slot holds the new socket */
    write_all(cli_b, "again", 5);
    recv_expect(f, fd2, "again");
    if (has_table(f)) {
        assert_int_equal(stats(f).update_fails, 0);
        assert_int_equal(stats(f).reclaims, 0);
    }
    close_op(f, fd2);
    assert_true(peer_eof(cli_b, EOF_WAIT_MS));
    close(cli_a);
    close(cli_b);
    lis_close(f, &s);
}

/* rw_io_close of a socket in the table: the peer sees EOF at once (the table does not
 * keep the socket open). */
static void io_files_close_sends_fin(void **state)
{
    struct fx *f = fx_get(state);
    struct lis s;
    int cli = -1, fd;

    lis_open(f, &s);
    fd = lis_next(f, &s, &cli);
    warm_up(f, fd, cli);
    send_expect(f, fd, cli, "bye");
    close_op(f, fd);
    assert_true(peer_eof(cli, EOF_WAIT_MS));
    if (has_table(f))
        assert_true(slot_is(fd, -1));
    close(cli);
    lis_close(f, &s);
}

/* A socket closed with close(2) after its ops, its number then taken by the next
 * accepted one: the new socket works, and the old one is released (its peer sees
 * EOF) when the loop sees the number come back. */
static void io_files_plain_close_then_reuse(void **state)
{
    struct fx *f = fx_get(state);
    struct lis s;
    int cli_a = -1, cli_b = client_socket(), fd, fd2;

    lis_open(f, &s);
    fd = lis_next(f, &s, &cli_a);
    warm_up(f, fd, cli_a);
    send_expect(f, fd, cli_a, "to-a");
    close(fd); /* not rw_io_close */
    if (has_table(f)) {
        assert_false(peer_eof(cli_a, 100)); /* the table holds it: why the rule exists */
        write_all(cli_a, "stale!", 6);      /* what an op on the old slot would read */
    } else {
        assert_true(peer_eof(cli_a, EOF_WAIT_MS));
    }
    fd2 = lis_next(f, &s, &cli_b);
    assert_int_equal(fd2, fd);
    write_all(cli_b, "from-b", 6);
    recv_expect(f, fd2, "from-b");
    if (has_table(f)) {
        /* the removal queued at the accept's completion ran with the recv */
        assert_true(peer_eof(cli_a, EOF_WAIT_MS));
        assert_true(slot_is(fd2, -1));
        assert_int_equal(stats(f).reclaims, 1);
    }
    send_expect(f, fd2, cli_b, "to-b");
    warm_up(f, fd2, cli_b);
    close_op(f, fd2);
    assert_true(peer_eof(cli_b, EOF_WAIT_MS));
    close(cli_a);
    close(cli_b);
    lis_close(f, &s);
}

/* Sockets the caller made and connected with rw_io_connect go in the table too; a
 * number reused by the next socket reaches the new server. */
static void io_files_connect_reuse(void **state)
{
    struct fx *f = fx_get(state);
    uint16_t p1, p2;
    int l1 = tcp_listener(&p1), l2 = tcp_listener(&p2), fd, fd2, srv;
    struct sockaddr_in a1 = loopback(p1), a2 = loopback(p2);
    struct rec *c = rec_new(f->l);
    char got[8];

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_int_equal(START(rw_io_connect(f->l, &c->op, fd, (struct sockaddr *)&a1, sizeof(a1))), 0);
    run_until(f->l, &c->finals, 1);
    assert_int_equal(c->res[0], 0);
    srv = accept(l1, NULL, NULL);
    assert_true(srv >= 0);
    exchange(f, fd, srv, RW__FF_AFTER / 2); /* with the connect: RW__FF_AFTER + 1 ops */
    if (has_table(f))
        assert_true(slot_is(fd, fd));
    uint64_t fixed = stats(f).fixed_sqes;
    send_expect(f, fd, srv, "one");
    write_all(srv, "back", 4);
    recv_expect(f, fd, "back");
    if (has_table(f))
        assert_true(stats(f).fixed_sqes >= fixed + 2);
    close_op(f, fd);
    assert_true(peer_eof(srv, EOF_WAIT_MS));
    close(srv);
    fd2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_int_equal(fd2, fd);
    c->n = c->finals = 0;
    assert_int_equal(START(rw_io_connect(f->l, &c->op, fd2, (struct sockaddr *)&a2, sizeof(a2))),
                     0);
    run_until(f->l, &c->finals, 1);
    assert_int_equal(c->res[0], 0);
    srv = accept(l2, NULL, NULL);
    assert_true(srv >= 0);
    exchange(f, fd2, srv, RW__FF_AFTER / 2);
    send_expect(f, fd2, srv, "two");
    write_all(srv, "ok", 2);
    recv_expect(f, fd2, "ok");
    if (has_table(f))
        assert_true(slot_is(fd2, fd2));
    close_op(f, fd2);
    assert_int_equal(read(srv, got, sizeof(got)), 0);
    close(srv);
    close(l1);
    close(l2);
    rec_free(c);
}

/* Every op kind on a socket in the table names its slot: multishot recv and its
 * cancel, RW_RECV_KEEP asks, cancel and re-arm, send and sendmsg. */
static void io_files_ops_name_slot(void **state)
{
    struct fx *f = fx_get(state);
    struct lis s;
    int cli = -1, fd;
    struct rec *m = rec_new(f->l), *k = rec_new(f->l), *sm = rec_new(f->l);
    static char big[3][2000];
    struct iovec iov[3];
    char *got = malloc(sizeof(big));

    lis_open(f, &s);
    fd = lis_next(f, &s, &cli);
    warm_up(f, fd, cli);
    uint64_t fixed = stats(f).fixed_sqes;
    /* multishot recv, two deliveries, cancelled */
    assert_int_equal(START(rw_io_recv(f->l, &m->op, fd, RW_RECV_MULTISHOT)), 0);
    write_all(cli, "m1", 2);
    run_until(f->l, &m->n, 1);
    write_all(cli, "m2", 2);
    run_until(f->l, &m->n, 2);
    assert_int_equal(START(rw_io_cancel(f->l, &m->op)), 0);
    run_until(f->l, &m->finals, 1);
    assert_int_equal(m->len, 4);
    assert_memory_equal(m->data, "m1m2", 4);
    assert_int_equal(m->res[m->n - 1], -ECANCELED);
    /* RW_RECV_KEEP: three asks (bytes before and after each), cancel, ask again */
    for (int i = 0; i < 4; i++) {
        int n = k->n;

        write_all(cli, i < 3 ? "k" : "K", 1);
        k->finals = 0; /* without a watch (epoll, old kernels) every answer is final */
        assert_int_equal(START(rw_io_recv(f->l, &k->op, fd, RW_RECV_KEEP)), 0);
        run_until(f->l, &k->n, n + 1);
        assert_int_equal(k->res[n], 1);
        if (i == 2 && (k->flags[n] & RW_CQE_MORE)) {
            assert_int_equal(START(rw_io_cancel(f->l, &k->op)), 0);
            run_until(f->l, &k->finals, 1);
            assert_int_equal(k->res[k->n - 1], -ECANCELED);
        }
    }
    assert_int_equal(k->len, 4);
    assert_memory_equal(k->data, "kkkK", 4);
    if (k->flags[k->n - 1] & RW_CQE_MORE) {
        k->finals = 0;
        assert_int_equal(START(rw_io_cancel(f->l, &k->op)), 0);
        run_until(f->l, &k->finals, 1);
    }
    /* sendmsg: three iovecs, too big to be gathered into one buffer */
    for (int i = 0; i < 3; i++) {
        memset(big[i], 'a' + i, sizeof(big[i]));
        iov[i] = (struct iovec){big[i], sizeof(big[i])};
    }
    assert_int_equal(START(rw_io_send(f->l, &sm->op, fd, iov, 3)), 0);
    run_until(f->l, &sm->finals, 1);
    assert_int_equal(sm->res[0], (int32_t)sizeof(big));
    read_exact(cli, got, sizeof(big));
    assert_memory_equal(got, big, sizeof(big));
    send_expect(f, fd, cli, "plain");
    if (has_table(f)) {
        /* multishot, KEEP arm(s) and re-arm, sendmsg, send: each named the slot */
        assert_true(stats(f).fixed_sqes >= fixed + 5);
        assert_true(slot_is(fd, fd));
    }
    close_op(f, fd);
    assert_true(peer_eof(cli, EOF_WAIT_MS));
    close(cli);
    lis_close(f, &s);
    rec_free(m);
    rec_free(k);
    rec_free(sm);
    free(got);
}

/* A connection that carries fewer than RW__FF_AFTER ops never enters the table (no
 * update, no removal); its next op puts it in, and the op after that names the slot. */
static void io_files_short_connections_stay_out(void **state)
{
    struct fx *f = fx_get(state);
    struct lis s;
    int cli = -1, fd;

    lis_open(f, &s);
    for (int round = 0; round < 3; round++) {
        cli = -1;
        fd = lis_next(f, &s, &cli);
        exchange(f, fd, cli, 1);
        close_op(f, fd);
        assert_true(peer_eof(cli, EOF_WAIT_MS));
        close(cli);
    }
    assert_int_equal(stats(f).updates, 0);
    assert_int_equal(stats(f).removals, 0);
    assert_int_equal(stats(f).fixed_sqes, 0);
    cli = -1;
    fd = lis_next(f, &s, &cli);
    exchange(f, fd, cli, RW__FF_AFTER / 2 - 1);
    write_all(cli, "x", 1);
    recv_expect(f, fd, "x"); /* op RW__FF_AFTER - 1 */
    assert_int_equal(stats(f).updates, 0);
    if (has_table(f))
        assert_true(slot_is(fd, -1));
    send_expect(f, fd, cli, "in"); /* op RW__FF_AFTER: queues the update, names the fd */
    assert_int_equal(stats(f).fixed_sqes, 0);
    if (has_table(f)) {
        assert_int_equal(stats(f).updates, 1);
        assert_true(slot_is(fd, fd));
    }
    send_expect(f, fd, cli, "slot");
    if (has_table(f))
        assert_int_equal(stats(f).fixed_sqes, 1);
    close_op(f, fd);
    assert_true(peer_eof(cli, EOF_WAIT_MS));
    if (has_table(f))
        assert_int_equal(stats(f).removals, 1);
    close(cli);
    lis_close(f, &s);
}

/* Sockets whose numbers are beyond the table name their fds: the same results. */
static void io_files_beyond_table(void **state)
{
    struct fx *f = fx_get(state);
    struct lis s;
    int cli, fd, lowest = dup(0);
    char cap[16];

    /* a table that ends below every number a socket of this test gets */
    close(lowest);
    snprintf(cap, sizeof(cap), "%d", lowest);
    fx_reopen(f, "RW_TEST_IO_URING_FIXED_FILES_MAX", cap);
    lis_open(f, &s);
    for (int round = 0; round < 2; round++) {
        cli = -1;
        fd = lis_next(f, &s, &cli);
        assert_true(fd >= lowest);
        warm_up(f, fd, cli);
        send_expect(f, fd, cli, "beyond");
        close_op(f, fd);
        assert_true(peer_eof(cli, EOF_WAIT_MS));
        close(cli);
    }
    struct rw__io_files_stats st = stats(f);
    assert_true(st.size == 0 || st.size == (uint32_t)lowest);
    assert_int_equal(st.updates, 0);
    assert_int_equal(st.fixed_sqes, 0);
    assert_int_equal(st.removals, 0);
    lis_close(f, &s);
}

/* The kernel refuses an update (here: it names no open file): the op that queued it
 * names the fd and so do the ones after it; the failure is counted (and logged). */
static void io_files_update_fails(void **state)
{
    struct fx *f = fx_get(state);
    struct lis s;
    int cli = -1, fd;

    fx_reopen(f, "RW_TEST_IO_URING_FIXED_FILES_FAIL", "1");
    lis_open(f, &s);
    for (int round = 0; round < 2; round++) {
        cli = -1;
        fd = lis_next(f, &s, &cli);
        exchange(f, fd, cli, RW__FF_AFTER / 2 + 1); /* the update is tried at op 8 */
        send_expect(f, fd, cli, "still");
        write_all(cli, "works", 5);
        recv_expect(f, fd, "works");
        if (has_table(f)) {
            assert_int_equal(stats(f).update_fails, (uint64_t)round + 1);
            assert_true(slot_is(fd, -1));
        }
        close_op(f, fd);
        assert_true(peer_eof(cli, EOF_WAIT_MS));
        close(cli);
    }
    assert_int_equal(stats(f).fixed_sqes, 0);
    lis_close(f, &s);
}

#define SUITE(be)                                                                                  \
    {                                                                                              \
        IO_T(io_files_reuse_after_close, be), IO_T(io_files_close_sends_fin, be),                  \
            IO_T(io_files_plain_close_then_reuse, be), IO_T(io_files_connect_reuse, be),           \
            IO_T(io_files_ops_name_slot, be), IO_T(io_files_beyond_table, be),                     \
            IO_T(io_files_update_fails, be), IO_T(io_files_short_connections_stay_out, be)         \
    }

int rw_test_io_files(void)
{
    return IO_RUN_BOTH("files", SUITE);
}
