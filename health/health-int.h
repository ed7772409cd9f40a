/* SPDX-License-Identifier: MIT */
/* Module-internal: the health module's structures and cross-file helpers. */
#ifndef RW_HEALTH_HEALTH_INT_H
#define RW_HEALTH_HEALTH_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "health/health.h"
#include "http/h1.h"
#include "tls/tls.h"

#define RW__HC_MAX_UPSTREAMS 4096
#define RW__HC_CHUNK 64 /* passive blocks per chunk */
#define RW__HC_HEAD_MAX 16384

/* ---- pure state machines (state.c) ---- */

/* Active input: rise/fall over consecutive check results. */
struct rw__hc_sm {
    bool healthy;
    bool first_done; /* the first result sets healthy directly */
    uint32_t ok_run;
    uint32_t fail_run;
};
void rw__hc_sm_init(struct rw__hc_sm *s, bool initial_down);
/* Feed one result; true when healthy changed. */
bool rw__hc_sm_feed(struct rw__hc_sm *s, bool ok, uint32_t rise, uint32_t fall);

/* Passive input: ejection with doubling backoff and probation. */
struct rw__ej {
    bool ejected;
    bool probation; /* returned; the next error ejects again */
    uint32_t mult;  /* ejections in the current series (0: none) */
    uint64_t until_ms;
};
/* Eject at now_ms: for min(eject_ms * 2^mult, max_ms); mult++. Returns the duration. */
uint64_t rw__ej_eject(struct rw__ej *e, uint64_t now_ms, uint32_t eject_ms, uint32_t max_ms);
/* The ejection time is over: back, on probation. */
void rw__ej_return(struct rw__ej *e);
/* A success streak on probation: the series ends (multiplier reset). */
void rw__ej_pass(struct rw__ej *e);
/* May one more server be ejected with nejected already out of n, at pct percent? */
bool rw__ej_cap_allows(uint32_t nejected, uint32_t n, uint32_t pct);

/* The state to write for these inputs given the current one; false when nothing is
 * to be written (already right, or DRAIN set by an admin). */
bool rw__hc_want(bool healthy, bool ejected, uint32_t cur, uint32_t *out);

/* Schedule: a server's phase in [0, interval) from its uid, and the due time of the
 * check anchored at base_ms with jitter (rnd: a random 64-bit value). */
uint32_t rw__hc_phase(uint64_t uid, uint32_t interval_ms);
uint64_t rw__hc_due(uint64_t base_ms, uint32_t interval_ms, uint32_t jitter_pct, uint64_t rnd);

/* ---- shared objects ---- */

enum {
    RW__HP_ON = 1u << 0,        /* passive on and the server tracked */
    RW__HP_TRIPPED = 1u << 1,   /* crossed the threshold: health thread to act */
    RW__HP_PROBATION = 1u << 2, /* the next error trips */
    RW__HP_EJECTED = 1u << 3,   /* reports ignored */
};

/* A server's block shared with workers and stats readers; lives in a chunk that never
 * moves until rw_health_free. */
struct rw__hp_srv {
    /* atomic, workers (rw_health_report) and the health thread */
    _Alignas(64) _Atomic uint32_t consec; /* errors in the current streak */
    _Atomic uint32_t flags;               /* RW__HP_* */
    _Atomic uint64_t streak_ms;           /* coarse ms of the streak's first error */
    _Atomic uint32_t probation_ok;        /* successes while on probation */
    /* atomic, written by the health thread only, read by rw_health_stats */
    _Alignas(64) _Atomic uint32_t st_flags; /* 1 tracked, 2 healthy, 4 ejected */
    _Atomic uint64_t checks, failures, ejections;
    _Atomic uint64_t late_max_us, late_sum_us, gap_max_us;
};

struct rw__hc_ups;
struct rw_health;

/* Health-thread-only view of one server. */
struct rw__hc_srv {
    struct rw_health *h;   /* borrowed */
    struct rw__hc_ups *u;  /* borrowed */
    struct rw_backend *b;  /* borrowed: the pool's; NULL once the upstream is removed */
    struct rw__hp_srv *hp; /* borrowed: u's chunk */
    uint64_t uid;          /* b->uid, kept so inheriting never reads a removed pool */
    bool tracked;          /* listed in the pool's current snapshot */
    bool inherited;        /* sm/ej/schedule copied from a previous upstream, not yet tracked */
    bool inh_active;       /* ... including the active input and its schedule */
    struct rw__hc_sm sm;
    struct rw__ej ej;
    bool cap_blocked; /* the last trip was refused by max_eject_percent */
    char reason[128]; /* why the last check failed */
    /* schedule */
    struct rw_timer sched, deadline, eject_tm;
    uint64_t base_ms; /* anchor of the current slot */
    bool slot_fresh;  /* base_ms is the next slot already (after the first check) */
    uint64_t due_ms;
    uint64_t last_start_us;
    /* the check in progress and its connection */
    bool running;
    bool start_pending; /* due while the previous connection was still closing */
    bool reused;        /* this attempt is on a kept-alive connection */
    bool retry_fresh;   /* a stale kept-alive connection: reconnect after close */
    bool closing;
    bool rd_busy, wr_busy, cl_busy;
    int fd;
    struct rw_op rd, wr, cl;
    struct sockaddr_storage addr; /* check target (port override applied) */
    socklen_t addrlen;
    struct rw_tls_conn *tls; /* owned: TLS session of the open connection (TLS checks) */
    char *req; /* owned: the request bytes */
    uint32_t req_len;
    char *rbuf; /* owned during a check: head, decoded body, raw tail */
    uint32_t rlen, rcap;
    bool head_done;
    struct rw_h1_resp resp;
    uint32_t body_end; /* end of decoded body bytes in rbuf */
    uint32_t raw_off;  /* chunked: start of undecoded bytes */
    struct rw_chunked ck;
};

/* One upstream. Built by the control thread, then owned by the health thread while it
 * runs (rw__hc_cmd); workers reach it through rw_health.by_index only. */
struct rw__hc_ups {
    uint32_t index;
    const char *name;     /* borrowed: caller's; "(removed)" once removed */
    struct rw_pool *pool; /* borrowed; NULL once removed */
    bool has_active, has_passive;
    struct rw_hc_params act; /* strings owned (copies) */
    struct rw_passive_params pas;
    uint8_t method_id; /* enum rw_method for response framing */
    /* health thread only */
    uint64_t seen_gen;
    struct rw__hc_srv **srv; /* owned: by backend id, NULL when never seen */
    uint32_t nsrv;
    uint32_t ntracked, nejected;
    /* published to workers: chunk i holds server ids [64i, 64i + 64) */
    _Atomic(struct rw__hp_srv *) hp[RW_HEALTH_MAX_SERVERS / RW__HC_CHUNK];
    _Atomic uint32_t tripped; /* some server tripped since the last sweep */
    /* health thread, once removed while ops were outstanding */
    struct rw__hc_ups *dying_next; /* rw_health.dying list */
    struct rw__hc_cmd *rm_cmd;     /* borrowed: the removal to acknowledge, or NULL */
    uint64_t rm_deadline_ms;       /* acknowledge by then even if ops are still out */
};

/* A request from the control thread to the health thread (rw__hc_submit). Lives on
 * the submitter's stack until done. */
enum rw__hc_cmd_kind {
    RW__HC_CMD_ADD = 1,
    RW__HC_CMD_REMOVE,
};
struct rw__hc_cmd {
    uint8_t kind;            /* enum rw__hc_cmd_kind */
    struct rw__hc_ups *u;    /* ADD: owned by h once rc == 0; REMOVE: freed by h */
    struct rw__hc_ups *from; /* ADD: inherit from this registered upstream, or NULL */
    int rc;                  /* ADD: 0 or -ENOMEM */
    bool done;               /* under cmd_mu: run by the health thread */
    bool bounced;            /* under cmd_mu: the thread exited first; the submitter runs it */
    struct rw__hc_cmd *next;
};

struct rw_health {
    /* config time, read-only after */
    const struct rw_io_ops *io;
    uint32_t nworkers;
    /* written by the control thread (add/remove), read by any thread: workers in
     * rw_health_report, stats readers. An entry is freed only after an RCU grace
     * period following its removal. Owned array of owned upstreams. */
    _Atomic(struct rw__hc_ups *) *by_index;
    /* the health thread while it runs (cmd_live), else the control thread */
    struct rw__hc_ups **ups; /* owned array, borrowed entries: in registration order */
    uint32_t nups, ups_cap;
    struct rw__hc_ups *dying; /* owned list: removed, waiting for their ops' final completions */
    /* thread control */
    pthread_t th;
    bool has_thread;
    _Atomic int started; /* 0 not yet, 1 running, 2 exited, <0 start error */
    _Atomic bool stop;
    _Atomic bool poked; /* rw_health_poke: sweep at the next wake */
    /* the command queue (rw__hc_submit) */
    pthread_mutex_t cmd_mu;
    pthread_cond_t cmd_cv;
    bool cmd_live;                /* under cmd_mu: the health thread takes commands */
    struct rw__hc_cmd *cmd_head;  /* under cmd_mu: borrowed, FIFO */
    struct rw__hc_cmd **cmd_tail; /* under cmd_mu */
    /* health thread only */
    struct rw_loop *loop;
    struct rw_timer sweep;
    uint64_t sweep_due; /* ms: when the armed sweep fires */
    struct rw_hdr *hdrs; /* owned: parse scratch */
    uint64_t rng;
};

/* thread.c */
uint64_t rw__hc_now_us(void);
/* The server object for backend b in u, created on first sight (with its passive block).
 * NULL on -ENOMEM or an id >= RW_HEALTH_MAX_SERVERS. Health thread, or the control
 * thread while no health thread runs. */
struct rw__hc_srv *rw__hc_srv_get(struct rw_health *h, struct rw__hc_ups *u, struct rw_backend *b);
/* Follow u's pool snapshot: track new servers (first checks start), untrack gone ones. */
void rw__hc_discover(struct rw_health *h, struct rw__hc_ups *u, uint64_t now);
/* True while a server of u has a connection or an op outstanding. */
bool rw__hc_ups_busy(const struct rw__hc_ups *u);
/* Free u, its server objects and passive blocks (closing any fd left open). */
void rw__hc_ups_free(struct rw__hc_ups *u);
/* Re-evaluate b's state from the server's inputs; log the change with reason. */
void rw__hc_apply(struct rw__hc_srv *s, const char *what, const char *reason);
/* Schedule the next check after the current one ended. */
void rw__hc_schedule_next(struct rw__hc_srv *s);

/* active.c: health thread only */
void rw__hc_check_start(struct rw__hc_srv *s);
/* Abort the check in progress (no result) and close the connection. */
void rw__hc_conn_abort(struct rw__hc_srv *s);
/* Build the request bytes for s (HTTP). 0 or -ENOMEM. */
int rw__hc_build_request(struct rw__hc_srv *s);
/* True while s has a connection or an op outstanding. */
bool rw__hc_busy(const struct rw__hc_srv *s);
/* A check's result (active.c calls it; thread.c feeds the state machine). */
void rw__hc_result(struct rw__hc_srv *s, bool ok);

/* passive.c: health thread only */
void rw__hp_sweep(struct rw__hc_ups *u, uint64_t now_ms);
/* Start (on) or stop tracking s's passive state. */
void rw__hp_track(struct rw__hc_srv *s, bool on);
/* Start tracking s with the passive state it inherited (ejection timer re-armed). */
void rw__hp_track_inherited(struct rw__hc_srv *s);

/* params.c: control thread */
/* Validate and copy the parameters into a new, unregistered upstream (*out). 0,
 * -EINVAL or -ENOMEM. */
int rw__hc_ups_new(uint32_t index, const char *name, struct rw_pool *pool,
                   const struct rw_hc_params *active, const struct rw_passive_params *passive,
                   struct rw__hc_ups **out);

/* ups.c */
/* Run the queued commands (the loop's wake callback, and every sweep). Health thread. */
void rw__hc_cmd_drain(struct rw_health *h);
/* Health thread at exit, after its last use of h->ups: stop taking commands; the ones
 * still queued are handed back to their submitters, who run them themselves. */
void rw__hc_cmd_close(struct rw_health *h);
/* Free the removed upstreams whose ops have all completed, acknowledging their
 * removal (or acknowledge it once its deadline passed). Health thread, every loop turn
 * while h->dying is not empty. */
void rw__hc_reap(struct rw_health *h);
/* Publish s's tracked/healthy/ejected bits for rw_health_stats. */
void rw__hc_publish_flags(struct rw__hc_srv *s);

#endif
