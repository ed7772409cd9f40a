/* SPDX-License-Identifier: MIT */
/* The health-check thread: active HTTP/TCP checks, passive outlier ejection, server state. */
#ifndef RW_HEALTH_HEALTH_H
#define RW_HEALTH_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "balancers/lb.h"
#include "core/io.h"

/*
 * One thread with its own rw_loop (the workers' backend) runs every active check and
 * folds in the workers' passive reports. Each server has two inputs: "healthy" (active
 * checks, rise/fall) and "ejected" (passive outlier detection). The thread writes
 * rw_backend_set_state(DOWN) when a server is unhealthy or ejected and UP otherwise,
 * and never touches a server an admin set to DRAIN. Servers are discovered from the
 * pool's published snapshot, re-read when whoever publishes it calls rw_health_poke (and
 * at the latest every RW_HEALTH_IDLE_SWEEP_MS), so a server added by a reload or an admin
 * is checked at once; a server that leaves the snapshot stops being checked. Every
 * change of a server's inputs is logged once, with the reason.
 *
 * Upstreams come and go at run time (configuration reload): the control thread (the
 * one that created h; add, remove, start, stop and free are never called concurrently)
 * adds and removes them while the thread runs. Those commands go to the health thread
 * through a queue and the loop's wake, and return once it applied them. An upstream
 * that replaces another can inherit its servers' health state by uid, so a reload
 * neither resurrects a dead server nor holds back a live one.
 */

#define RW_HEALTH_STATUS_WORDS 8     /* bitmap of codes 100..599: bit (code - 100) */
#define RW_HEALTH_BODY_MAX 65536     /* body bytes an HTTP check reads at most */
#define RW_HEALTH_SWEEP_MS 20        /* passive trips and probation are polled this often */
#define RW_HEALTH_IDLE_SWEEP_MS 1000 /* without outlier detection: bounds a lost poke */
#define RW_HEALTH_MAX_SERVERS 65536  /* per upstream (server ids below this) */

enum rw_hc_type {
    RW_HC_HTTP = 0,
    RW_HC_TCP,
};

struct rw_tls_client_ctx;

/* "health_check" of an upstream. Strings are copied by rw_health_add_upstream. With tls
 * set, HTTP checks connect, handshake (within the check's timeout), then send the request
 * and read the response through TLS; kept-alive connections stay TLS sessions. A failed
 * handshake fails the check with reason "tls handshake: <error>". TCP checks stay plain
 * connects (they prove the port accepts, not that TLS works). */
struct rw_hc_params {
    uint8_t type;       /* enum rw_hc_type */
    const char *path;   /* borrowed: request target, NULL: "/" */
    const char *method; /* borrowed: NULL: "GET" ("HEAD" reads no body) */
    const char *host;   /* borrowed: Host header; NULL: the address ("1.2.3.4:80") */
    uint64_t expect_status[RW_HEALTH_STATUS_WORDS]; /* all zero: 200..399 */
    const char *expect_body; /* borrowed: substring of the first 64 KiB of body, or NULL */
    uint32_t interval_ms;    /* 0: 2000 */
    uint32_t timeout_ms;     /* 0: 1000; clamped to the interval */
    uint32_t rise;           /* 0: 2 */
    uint32_t fall;           /* 0: 3 */
    uint32_t jitter_pct;     /* 0..50: each check +- this share of the interval */
    uint16_t port;           /* 0: the server's own port */
    bool initial_down;       /* "initial": "down": DOWN until the first check passes */
    struct rw_tls_client_ctx *tls; /* borrowed: HTTP checks over TLS; rw_health_add_upstream
                                    * takes its own reference. NULL: plain */
    const char *tls_sni;           /* borrowed: SNI (and verified name) for tls, or NULL */
};

/* "passive" of an upstream (outlier detection). */
struct rw_passive_params {
    uint32_t consecutive_errors;                   /* 0: 5 */
    uint64_t error_status[RW_HEALTH_STATUS_WORDS]; /* all zero: 500..599 */
    uint32_t window_ms;         /* 0: 10000; a streak older than this starts over */
    uint32_t eject_ms;          /* 0: 30000 */
    uint32_t max_eject_ms;      /* 0: 300000; at least eject_ms */
    uint32_t max_eject_percent; /* 0..100 of the upstream's servers ejected at once */
};

/* What a worker saw from one upstream attempt. */
enum rw_outcome {
    RW_OUT_OK = 0,  /* a response arrived; an error iff status is in error_status */
    RW_OUT_CONNECT, /* connect failed or timed out */
    RW_OUT_RESET,   /* reset / EOF before a complete response */
    RW_OUT_TIMEOUT, /* response timeout */
    RW_OUT_STATUS,  /* a response the caller already counts as an error */
};

/* A server's health figures, for admin /stats and tests. */
struct rw_health_stats {
    bool tracked;             /* in the snapshot and known to the health thread */
    bool healthy;             /* active input (true without active checks) */
    bool ejected;             /* passive input */
    uint64_t checks;          /* active checks completed */
    uint64_t failures;        /* of which failed */
    uint64_t ejections;       /* passive ejections so far */
    uint64_t late_max_us;     /* worst check start lateness against its schedule */
    uint64_t late_sum_us;     /* sum over `checks` (mean = sum / checks) */
    uint64_t interval_max_us; /* longest gap between two consecutive check starts */
};

struct rw_health;

/* Create the health module for nworkers reporting workers (worker ids < nworkers),
 * checking on backend io (from rw_io_select). NULL and *err = -EINVAL or -ENOMEM.
 * Start-up thread. */
struct rw_health *rw_health_new(const struct rw_io_ops *io, uint32_t nworkers, int *err);

/* rw_health_add_upstream_ex(h, index, name, pool, active, passive, -1). */
int rw_health_add_upstream(struct rw_health *h, uint32_t index, const char *name,
                           struct rw_pool *pool, const struct rw_hc_params *active,
                           const struct rw_passive_params *passive);

/* Register upstream `index` (the id workers pass to rw_health_report; < 4096, not
 * registered now; an index freed by rw_health_remove_upstream may be reused) named name
 * (borrowed: until the upstream is removed or h freed) over pool (borrowed: until
 * rw_health_remove_upstream(index) or rw_health_stop returns). active / passive may be
 * NULL (none); both NULL is allowed (the upstream is only tracked). Parameters are
 * copied.
 * inherit_from: -1, or a registered upstream index whose servers hand their state over:
 * each server of pool's current snapshot whose rw_backend.uid matches one there starts
 * with that server's active input (healthy, rise/fall streaks, next check slot) when
 * both upstreams have active checks, its passive state (ejection with its end time and
 * backoff, probation, error streak) when both have passive checks, and its figures
 * (rw_health_stats counters). The matched servers' rw_backend state is written before
 * this returns (DOWN when inherited unhealthy or ejected, UP when healthy; DRAIN is left
 * alone), so publish pool after this call. Other servers start as new ones: up until
 * their first check (initial down: down), checked at once. The old upstream is not
 * changed: it keeps checking until it is removed.
 * Before rw_health_start the upstream waits for the start; while the thread runs its
 * first checks start before this returns; after rw_health_stop it is registered only.
 * 0, -EINVAL (bad or registered index, bad inherit_from, jitter > 50, percent > 100),
 * -ENOENT (inherit_from not registered) or -ENOMEM. Control thread; while the thread
 * runs, blocks until the health thread applied it (one loop turn). */
int rw_health_add_upstream_ex(struct rw_health *h, uint32_t index, const char *name,
                              struct rw_pool *pool, const struct rw_hc_params *active,
                              const struct rw_passive_params *passive, int32_t inherit_from);

/* Unregister upstream `index`. When this returns: reports and rw_health_stats for index
 * are ignored / -ENOENT, the health thread holds no reference to its pool or name (its
 * checks are cancelled, their connections closed, its timers disarmed), so the caller
 * may free the pool at once, and index may be registered again. Server states in the
 * pool are left as they are. An unknown index is a no-op. Before start, while running or
 * after stop. Control thread, not an online RCU reader: blocks for one RCU grace period
 * (workers inside rw_health_report) and, while the thread runs, until it applied the
 * removal and its closes completed (a loop turn or two; after 1 s it returns anyway,
 * with the rest of the close still in flight but no longer referencing pool or name). */
void rw_health_remove_upstream(struct rw_health *h, uint32_t index);

/* Spawn the health thread (its loop is created on it) and return once it runs; the
 * first check of every server starts at once. 0 or -errno (-EALREADY when started).
 * Control thread. */
int rw_health_start(struct rw_health *h);

/* The pool's servers (rw_pool_publish) or a server's state (an admin's) changed outside
 * the health thread: have it follow the snapshot and write back contradicted states
 * now rather than at its next sweep. Any thread; one wake. NULL is a no-op. */
void rw_health_poke(struct rw_health *h);

/* Stop the thread: cancel checks, close connections, join. Any thread except the
 * health thread; idempotent. Server states are left as they are. */
void rw_health_stop(struct rw_health *h);

/* Stop if needed and free everything. NULL is a no-op. Control thread. */
void rw_health_free(struct rw_health *h);

/* Worker side, on the request path: report the outcome of one attempt on server
 * server_id (rw_backend.id) of upstream `upstream`, with the response status for
 * RW_OUT_OK. Lock-free and never blocks: a success is one relaxed load (a store only
 * when it ends a streak); an error is a few relaxed atomics on the server's own cache
 * line plus a coarse clock read. Crossing the threshold sets a flag the health thread
 * polls (RW_HEALTH_SWEEP_MS). Reports for unknown or removed upstreams, servers not yet
 * seen by the health thread, or upstreams without passive checks are ignored. Any
 * thread while h exists; one that may race with rw_health_remove_upstream must be a
 * registered RCU reader (workers are): the upstream is freed after a grace period. */
void rw_health_report(struct rw_health *h, uint32_t worker, uint32_t upstream, uint32_t server_id,
                      enum rw_outcome o, int status);

/* Read server_id's figures (relaxed; a snapshot, not a consistent cut). 0, or -ENOENT
 * (unknown or removed upstream, or unknown server). A registered RCU reader thread, or
 * the control thread, while h exists. */
int rw_health_stats(struct rw_health *h, uint32_t upstream, uint32_t server_id,
                    struct rw_health_stats *out);

/* Set code's bit in a status bitmap (codes outside 100..599 are ignored); test for it. */
void rw_health_status_add(uint64_t *bits, int code);
bool rw_health_status_has(const uint64_t *bits, int code);

#endif
