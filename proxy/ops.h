/* SPDX-License-Identifier: MIT */
/* proxy/ internals of what operators see (ops*.c): admin commands, metrics, access log. */
#ifndef RW_PROXY_OPS_H
#define RW_PROXY_OPS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "admin/accesslog.h"
#include "admin/admin.h"
#include "admin/metrics.h"
#include "proxy/px.h"

#define PX_OPS_METHOD_MAX 32
#define PX_OPS_TARGET_MAX 1024
#define PX_OPS_HDR_MAX 256    /* referer / user-agent kept for the "combined" format */
#define PX_OPS_ID_MAX 128     /* request id: 1..128 visible characters */
#define PX_OPS_SERVER_MAX 128 /* server name copied for the log */
#define PX_OPS_REC_KEEP 64    /* free records kept per worker */

/* What one request's log line and counters need, kept while it runs (the request
 * buffer is gone by then). Lent from a per-worker free list. */
struct px_ops_rec {
    struct timespec start_rt; /* CLOCK_REALTIME at the head */
    uint64_t start_us;        /* monotonic */
    uint64_t rx;              /* bytes from the client (head + body) */
    uint64_t tx;              /* bytes to the client (exact when tx_exact) */
    int64_t upstream_us;      /* to the response head of the last attempt; -1: none */
    uint32_t head_tx;         /* bytes of the response head we built */
    uint16_t status;
    bool tx_exact; /* px_ops_sent() counts the bytes (the lead's hook in client.c) */
    bool rx_exact; /* px_ops_received() counts them */
    uint8_t http_minor;
    uint8_t method_len;
    uint8_t id_len;
    uint16_t target_len;
    uint16_t referer_len;
    uint16_t ua_len;
    char id[PX_OPS_ID_MAX + 1];
    char method[PX_OPS_METHOD_MAX];
    char target[PX_OPS_TARGET_MAX];
    char referer[PX_OPS_HDR_MAX];
    char ua[PX_OPS_HDR_MAX];
    char server[PX_OPS_SERVER_MAX]; /* last attempt's server, "" when none */
    struct px_ops_rec *next;        /* free list */
};

/* Per worker, written by that worker only. */
struct px_ops_w {
    _Alignas(64) struct rw_reqid gen;
    struct px_ops_rec *free; /* owned */
    uint32_t nfree;
};

/* Metrics series of one generation's listeners and routes. Series indexes are
 * stable across generations (found by their labels), so counters go on across
 * reloads. */
struct px_gen_ops {
    uint32_t *lis;        /* per cfg listener: its series in the listener families
                           * (tls_handshakes: 3 per listener from 3 x this) */
    uint32_t *route_base; /* per cfg listener: first entry of `route` */
    uint32_t *route;      /* per route, plus one "none" per listener: its series in
                           * request_duration (requests_total: 5 from 5 x this) */
    uint32_t nroute;
    uint32_t nlis;
};

/* Metric families (series are added per generation and per upstream runtime). */
struct px_ops_fam {
    struct rw_metric *req;      /* requests_total{listener,route,code} */
    struct rw_metric *dur;      /* request_duration_seconds{listener,route} */
    struct rw_metric *rx, *tx;  /* bytes_{received,sent}_total{listener} */
    struct rw_metric *conn_act; /* connections_active{listener} */
    struct rw_metric *conn_tot; /* connections_total{listener} */
    struct rw_metric *up_req;   /* upstream_requests_total{upstream,server} */
    struct rw_metric *up_err;   /* upstream_errors_total{upstream,server,kind} */
    struct rw_metric *up_retry; /* upstream_retries_total{upstream} */
    struct rw_metric *up_resp;  /* upstream_response_seconds{upstream,server} */
    struct rw_metric *tls_hs;   /* tls_handshakes_total{listener,result} */
    struct rw_metric *tls_ver;  /* tls_versions_total{listener,version} */
};

enum { PX_OPS_ERR_CONNECT = 0, PX_OPS_ERR_TIMEOUT, PX_OPS_ERR_RESET, PX_OPS_ERR_5XX, PX_OPS_NERR };

struct px_ops {
    /* start-up, read-only after */
    struct rw_proxy *p;         /* borrowed */
    const struct rw_cfg *cfg;   /* borrowed */
    struct rw_metrics *metrics; /* owned */
    struct rw_accesslog *alog;  /* owned, or NULL (no access log) */
    struct rw_admin *admin;     /* owned, or NULL (no admin) */
    json_t *config_json;        /* owned: the running config file, or NULL */
    struct px_ops_w *w;         /* owned: one per worker */
    struct px_ops_fam f;
    char reqid_name[64]; /* the request id header as sent ("X-Request-Id") */
    size_t reqid_name_len;
    size_t reqid_hdr_len; /* strlen(cfg->request_id.header): matched against the client's */
    /* admin thread (the backend-table writer); main thread's tick and reloads take
     * the lock: commands, scrapes and reloads see one generation throughout */
    pthread_mutex_t writer;
    char **names;           /* owned: names of servers added at run time */
    uint32_t nnames;
};

/* ops.c */
struct px_ops *px__ops_of(const struct rw_proxy *p); /* NULL when ops did not start */

/* ops_metrics.c: build and seal the registry (start-up); /metrics text (admin thread). */
int px__ops_metrics_build(struct px_ops *o);
int px__ops_metrics_text(void *arg, char **out, size_t *len);
/* c's route series (request_duration index), or UINT32_MAX without metrics. */
uint32_t px__ops_route_slot(const struct px_conn *c);
int px__ops_gen_series(struct px_ops *o, struct px_gen *g);
int px__ops_ups_series(struct px_ops *o, struct px_ups *pu);
/* The series of server b of pu (after it was added at run time). 0 or -errno. */
int px__ops_server_series(struct px_ops *o, struct px_ups *pu, const struct rw_backend *b);
/* Hide the series of old's routes and servers that g no longer has. */
void px__ops_hide_gone(struct px_ops *o, const struct px_gen *old, const struct px_gen *g);

/* ops_admin.c: create the admin server and register the commands. 0 or -errno. */
int px__ops_admin_build(struct px_ops *o);

/* ---- hooks called by the rest of proxy/ (beside px.h's px_ops_*) ---- */

/* Free what px_ops_start() made, after every worker and the health thread are gone
 * (end of rw_proxy_free). Main thread. */
void px_ops_free(struct rw_proxy *p);

/* One attempt on c->be ended with outcome (enum rw_outcome) and status (RW_OUT_OK).
 * From px_report(). Worker thread. */
void px_ops_attempt(struct px_conn *c, int outcome, int status);

/* The exchange goes to another server (px_may_retry said yes). Worker thread. */
void px_ops_retry(struct px_conn *c);

/* The status line and head length of what the client gets (head.c). Worker thread. */
void px_ops_status(struct px_conn *c, int status, size_t head_len, uint64_t body_len);

/* The request id of c's exchange: true with *id / *idlen and the header name to send
 * (*name / *nlen), false when request ids are off or c has no exchange. */
bool px_ops_reqid(const struct px_conn *c, const char **name, size_t *nlen, const char **id,
                  size_t *idlen);

/* Exact byte counts (optional hooks in client.c: c_on_write / c_on_read results). */
void px_ops_sent(struct px_conn *c, uint64_t n);
void px_ops_received(struct px_conn *c, uint64_t n);

/* A client connection closes: its listener's gauge goes down (the series
 * px_ops_conn_open chose). From c_free(). Worker thread. */
void px_ops_conn_close(struct px_conn *c);

/* Serialise pool writers (admin add/remove) with rw_proxy_tick(). Main thread. */
void px_ops_lock(struct rw_proxy *p);
void px_ops_unlock(struct rw_proxy *p);

#endif
