/* SPDX-License-Identifier: MIT */
/* Shared fixture of the core/io conformance tests (test_io_*.c): a loop per test on the
 * backend named by the test's prestate, an op that records its completions, and
 * loopback sockets. Every test runs against io_uring (with its fixed-file table, without
 * one, and with every wait coalesced) and epoll. */
#ifndef RW_TEST_UNIT_CORE_IO_FIXTURE_H
#define RW_TEST_UNIT_CORE_IO_FIXTURE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/io.h"

#define TURN_NS (20 * 1000 * 1000) /* bound of one test loop turn */
#define MAX_TURNS 1000             /* a broken backend fails, it does not hang */

struct backend {
    const char *name;
    const char *env; /* set to "1" while the loop is made (a backend test hook), or NULL */
};

struct fx {
    const struct rw_io_ops *ops; /* borrowed: static backend table */
    struct rw_loop *l;           /* owned */
    const char *env;             /* borrowed: the group's hook (struct backend) */
};

/* Records every completion of one op. */
struct rec {
    struct rw_op op;
    struct rw_loop *l; /* borrowed */
    int n;             /* completions */
    int finals;        /* completions without MORE */
    int32_t res[256];
    uint32_t flags[256];
    bool keep_bufs; /* do not return buffers from the callback */
    uint16_t kept[256];
    int nkept;
    uint8_t *data; /* owned: received bytes, in order */
    size_t len, cap;
};

extern bool g_in_start; /* set while a test is inside a start call */

#define START(expr)                                                                                \
    ({                                                                                             \
        g_in_start = true;                                                                         \
        int r_ = (expr);                                                                           \
        g_in_start = false;                                                                        \
        r_;                                                                                        \
    })

/* A struct rec: the callback (records res, flags and bytes; nothing after the final
 * completion; never inside a START), a new one on loop l, and its release. */
void rec_cb(struct rw_op *op, const struct rw_cqe *c);
struct rec *rec_new(struct rw_loop *l);
void rec_free(struct rec *r);
/* Return the buffers r kept (keep_bufs) to its loop, and keep none from now on. */
void rec_give_back(struct rec *r);
/* Run turns until *counter reaches target (fails after MAX_TURNS); a few idle turns. */
void run_until(struct rw_loop *l, const int *counter, int target);
void run_idle(struct rw_loop *l, int turns);
/* cmocka setup/teardown of a struct fx; fx_get skips the test where its backend is
 * not usable. */
int fx_setup(void **state);
int fx_teardown(void **state);
struct fx *fx_get(void **state);
/* Replace f's loop by a new one made with environment variable env set to val (the
 * backend's test hooks are read when a loop is made). */
void fx_reopen(struct fx *f, const char *env, const char *val);
/* Loopback sockets: a listener (its port in *port), an address, a blocking client,
 * a non-blocking unix stream pair, and a write that must take all n bytes. */
int tcp_listener(uint16_t *port);
struct sockaddr_in loopback(uint16_t port);
int tcp_client(uint16_t port);
void stream_pair(int sv[2]);
void write_all(int fd, const void *p, size_t n);

extern struct backend rw_io_be_uring, rw_io_be_uring_nofiles, rw_io_be_uring_co, rw_io_be_epoll;

#define FX_COALESCE_US 200 /* the loops' coalescing budget (only a hook makes it bite) */

/* A test of fn on backend be (a struct backend *), with a fresh loop. */
#define IO_T(fn, be) cmocka_unit_test_prestate_setup_teardown(fn, fx_setup, fx_teardown, be)

/* Run SUITE(be), a brace list of IO_T, on io_uring and on epoll, as the groups
 * "core/io <label> [backend]", and on io_uring twice more: as a kernel without a
 * fixed-file table runs it ("[io_uring no-table]"), and with every wait coalesced
 * ("[io_uring coalesced]"); the number of failures. */
#define IO_RUN_BOTH(label, SUITE)                                                                  \
    ({                                                                                             \
        const struct CMUnitTest uring_[] = SUITE(&rw_io_be_uring);                                 \
        const struct CMUnitTest nofiles_[] = SUITE(&rw_io_be_uring_nofiles);                       \
        const struct CMUnitTest co_[] = SUITE(&rw_io_be_uring_co);                                 \
        const struct CMUnitTest epoll_[] = SUITE(&rw_io_be_epoll);                                 \
        cmocka_run_group_tests_name("core/io " label " [io_uring]", uring_, NULL, NULL) +          \
            cmocka_run_group_tests_name("core/io " label " [io_uring no-table]", nofiles_, NULL,   \
                                        NULL) +                                                    \
            cmocka_run_group_tests_name("core/io " label " [io_uring coalesced]", co_, NULL,       \
                                        NULL) +                                                    \
            cmocka_run_group_tests_name("core/io " label " [epoll]", epoll_, NULL, NULL);          \
    })

#endif
