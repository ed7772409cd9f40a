/* SPDX-License-Identifier: MIT */
/* Shared helpers for the health unit tests: loopback origins, pools, waits. */
#ifndef RW_TEST_UNIT_HEALTH_TESTS_H
#define RW_TEST_UNIT_HEALTH_TESTS_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "balancers/lb.h"
#include "core/io.h"
#include "health/health.h"

/* One cmocka group per source file; main.c runs them all. */
int test_state_run(void);
int test_params_run(void);
int test_passive_run(void);
int test_active_run(void);
int test_thread_run(void);
int test_ups_run(void);

enum t_mode {
    T_OK = 0,  /* 200, Content-Length, keep-alive */
    T_500,     /* 500, keep-alive */
    T_HANG,    /* accept, read, never answer */
    T_CHUNKED, /* 200 chunked "hello world", keep-alive */
    T_CLOSE,   /* 200 with Connection: close */
};

/* A loopback origin on 127.0.0.1, served by its own thread (poll). */
struct t_origin {
    int lfd;
    uint16_t port;
    pthread_t th;
    _Atomic int mode; /* enum t_mode, switchable at any time */
    _Atomic bool stop;
    _Atomic bool kick; /* set: close every client connection, then cleared */
    _Atomic uint32_t accepts;
    _Atomic uint32_t requests;
    _Atomic uint32_t open; /* client connections open now (closed ones noticed within 5 ms) */
};
/* Start an origin in mode m. Fails the test on error. */
void t_origin_start(struct t_origin *o, enum t_mode m);
void t_origin_stop(struct t_origin *o);
/* A port on 127.0.0.1 where nothing listens (connections are refused). */
uint16_t t_refused_port(void);

/* A server definition for 127.0.0.1:port. */
void t_def(struct rw_server_def *d, const char *name, uint16_t port);

/* The backends to run on: "epoll", and "io_uring" when its probe passes. */
extern const char *t_backends[2];
int t_nbackends(void);

/* Poll (5 ms) until b's state is want or cap_ms passed (a hang guard, not a timing
 * assertion). Returns the ms waited, or -1 on the cap. */
int64_t t_wait_state(struct rw_backend *b, uint32_t want, int64_t cap_ms);
uint64_t t_now_ms(void);
void t_sleep_ms(uint32_t ms);

#endif
