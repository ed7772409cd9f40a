/* SPDX-License-Identifier: MIT */
/* proxy/ internals shared by its files: workers, client and upstream connections. */
#ifndef RW_PROXY_PX_H
#define RW_PROXY_PX_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "balancers/lb.h"
#include "config/config.h"
#include "core/io.h"
#include "core/slab.h"
#include "core/timer.h"
#include "http/h1.h"

struct px_worker;
struct px_conn;
struct px_up;
struct px_tls;
struct px_ups;
struct px_gen;
struct px_gen_ops;
struct px_cfgref;

/* What the request says about its server, read while its head is still parsed. */
struct px_pick {
    uint64_t hash;       /* hash / ip_hash key */
    uint64_t sticky_uid; /* server named by the session, when sticky */
    uint64_t table_key;  /* learn / ip modes: session table key */
    uint32_t issued;     /* cookie mode: the token's issue time */
    bool has_hash;
    bool sticky;      /* a valid session names a server */
    bool from_sticky; /* this attempt's server came from the session */
    bool refresh;     /* cookie mode: re-issue to slide the idle window */
};

/* A run of received bytes: a pool buffer (bid >= 0) or heap memory (bid < 0). */
struct px_in {
    char *base; /* borrowed: pool buffer, or owned heap buffer when bid < 0 */
    uint32_t off;
    uint32_t len;
    int32_t bid; /* -1: heap (free with px_in_drop), -2: empty */
};

/* How a body is read and how it is written on the other side. */
enum px_frame {
    PX_F_NONE = 0,
    PX_F_LENGTH,  /* exactly `remaining` bytes, forwarded as they are */
    PX_F_CHUNKED, /* chunked coding (decoded on input, produced on output) */
    PX_F_CLOSE,   /* until the peer closes */
};

/* One direction of body transfer: input framing decoded, output framing encoded. */
struct px_body {
    uint8_t in;  /* enum px_frame */
    uint8_t out; /* enum px_frame */
    bool done;   /* the input message ended */
    bool fin_sent; /* output terminator queued (last-chunk + trailers) */
    bool keep_trailers;
    uint64_t remaining; /* PX_F_LENGTH input bytes left */
    uint64_t total;     /* payload bytes seen */
    uint64_t limit;     /* max payload (0 = none): over it -> 413 */
    struct rw_chunked dec;
    char *trailers; /* owned: decoder's trailer buffer, or NULL */
    uint8_t nscratch;    /* next scratch line (cyclic: a send uses at most 2) */
    char scratch[4][24]; /* chunk-size lines for the send being built */
};

/* An upstream connection. */
struct px_up {
    struct px_worker *w;   /* borrowed: owning worker */
    struct rw_backend *be; /* borrowed: pool backend (outlives connections) */
    struct px_conn *c;     /* borrowed: client being served, NULL when idle */
    struct px_up *next;    /* idle pool list */
    struct px_up **pprev;
    struct px_ups *pu;     /* counted: the upstream it connects to */
    int fd;
    uint8_t state;    /* enum px_up_state */
    uint8_t inflight; /* ops in flight */
    bool rd_armed;
    bool wr_busy;
    bool reused;      /* taken from the idle pool */
    bool keep_alive;  /* the last response allows reuse */
    struct rw_op rd, wr, cl;
    struct rw_timer timer;
    uint64_t resp_deadline; /* loop time: the response head must have come */
    struct rw_tls_conn *tls; /* owned: TLS to the server, or NULL */
    bool tls_phys;           /* a ciphertext send is in flight on wr */
    bool tls_logical;        /* a px_up_send() waits for its ciphertext to leave */
    bool tls_queued;         /* on the worker's upstream pump list */
    struct px_up *tls_next;
};

enum px_up_state {
    PX_UP_CONNECTING = 1,
    PX_UP_BUSY,  /* serving an exchange */
    PX_UP_IDLE,  /* in the keep-alive pool */
    PX_UP_DEAD,  /* closing */
};

enum px_conn_state {
    PX_C_HEAD = 1, /* waiting for (the rest of) a request head */
    PX_C_PROXY,    /* an exchange with an upstream is running */
    PX_C_LOCAL,    /* sending a response made by ringwall */
    PX_C_LINGER,   /* response sent, reading and discarding until EOF/timeout */
    PX_C_CLOSING,
};

/* Exchange progress flags (px_conn.xf). */
enum {
    PX_X_REQ_HEAD_SENT = 1u << 0,
    PX_X_REQ_DONE = 1u << 1,  /* request body fully forwarded */
    PX_X_RESP_HEAD = 1u << 2, /* response head parsed and queued */
    PX_X_RESP_DONE = 1u << 3, /* response fully sent to the client */
    PX_X_CLIENT_BYTES = 1u << 4, /* some response byte was sent to the client */
    PX_X_CONTINUE = 1u << 5,  /* answer 100 Continue before reading the body */
    PX_X_HEAD_REQ = 1u << 6,  /* request was HEAD */
    PX_X_REQ_BODY = 1u << 7,  /* request has a body */
    PX_X_HDR_TIMER = 1u << 8, /* client header timer runs for this head */
    PX_X_FRESH = 1u << 9,     /* retry on a new connection, not a pooled one */
    PX_X_REQ_CUT = 1u << 10,  /* the server stopped reading the request body */
    PX_X_RETRIED = 1u << 11,  /* counted in the upstream's active retries */
    PX_X_ACTIVE = 1u << 12,   /* counted in the upstream's active requests */
    PX_X_CLIENT_CLOSE = 1u << 13, /* the client asked to close after this request */
};

/* One request on a client connection, from its complete head (or its head timeout)
 * to the end of its response: lent from a per-worker free list while it runs
 * (px_xchg_get zeroes it), so that an idle keep-alive connection stays small. */
struct px_xchg {
    struct px_body req_body;  /* client -> upstream */
    struct px_body resp_body; /* upstream -> client */
    struct px_pick pick;
    uint64_t tried[4];
    uint64_t t_sent_us; /* request head handed to the upstream */
    uint64_t lat_us;    /* request sent to response head */
    struct px_gen *gen; /* held (px_gen_hold): the request's generation */
    const struct rw_cfg_listener *lis; /* borrowed from gen: the connection's listener */
    struct px_in rin;                  /* response bytes not yet sent */
    struct px_in rtx;                  /* response bytes the client send in flight still reads */
    const struct rw_cfg_route *route;  /* borrowed from gen */
    struct px_up *up;                  /* borrowed while attached (its c points back) */
    char *out;   /* owned (hbuf): the head being sent (upstream request or client response) */
    char *rhead; /* owned (hbuf): client response head while the request head is in `out` */
    uint32_t out_len;
    uint32_t rhead_len;
    uint8_t req_method;
    uint8_t tries;
    uint16_t fail_status;   /* the status a failed attempt calls for (502/504) */
    bool queued;            /* waiting in its upstream's queue */
    struct rw_backend *be;  /* borrowed: the reserved server of this attempt, or NULL */
    uint64_t q_deadline;    /* queued: give up (503) at this loop time */
    struct px_conn *q_next; /* queued: next in its upstream's queue */
    /* ops.c: what the access log and metrics need (filled by px_ops_request_begin) */
    struct px_ops_rec *ops; /* owned by ops.c, or NULL */
    struct px_xchg *next;   /* free list */
};

/* A client connection. Everything that only a request in progress needs is in its
 * px_xchg: an idle keep-alive connection is just this (PX_CONN_MAX). */
struct px_conn {
    struct px_worker *w; /* borrowed */
    uint32_t slot;       /* listener slot it was accepted on */
    uint32_t lis_m;      /* metrics: its listener's series (stable across reloads) */
    int fd;
    uint8_t state;    /* enum px_conn_state */
    uint8_t inflight; /* ops in flight */
    bool rd_armed;
    bool wr_busy;
    bool keep_alive;  /* the connection may serve another request */
    bool eof;         /* client closed its side */
    bool waiting_buf; /* on the worker's ENOBUFS wait list */
    uint8_t req_minor;
    uint32_t nreq;       /* requests served */
    uint32_t xf;         /* PX_X_* */
    uint32_t scanned;    /* head bytes already searched for the terminator */
    struct rw_op rd, wr; /* rd also carries the final close (c_maybe_free) */
    struct rw_timer timer;
    struct px_in in; /* request bytes not yet consumed */
    struct px_conn *next_wait;
    struct px_conn *all_next; /* worker's list of every connection */
    struct px_conn **all_pprev;
    struct px_xchg *x;  /* owned: the request in progress, or NULL */
    struct px_tls *tls; /* owned: TLS state on a TLS listener, else NULL */
    union {
        struct sockaddr sa;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } peer;       /* AF_INET (v4-mapped clients too), AF_INET6, or 0: unknown */
    bool line_ok; /* the request line fits its limit */
};

/* In user space, an idle keep-alive connection costs this struct in a malloc chunk
 * (the goal: at most 512 bytes of RSS per idle plain connection, allocator overhead
 * and fragmentation included). 272 bytes today; up to 280, glibc still serves it from
 * 288-byte chunks. A field that only a request in progress needs goes in px_xchg. */
#define PX_CONN_MAX 280
_Static_assert(sizeof(struct px_conn) <= PX_CONN_MAX,
               "struct px_conn grew: per-request state belongs in struct px_xchg");

/* Per upstream, per worker: idle connections to each server, the wait queue, and
 * the retry budget. Lives in its px_ups; only that worker touches it. */
struct px_upstream_w {
    struct px_ups *pu;           /* borrowed: the upstream it belongs to */
    struct px_up **idle;         /* owned: per server id, list head */
    uint32_t *nidle;             /* owned: per server id */
    uint32_t nslots;             /* entries in idle/nidle (and sessions) */
    struct rw_tls_session **sessions; /* owned: per server, the last TLS session (TLS upstreams) */
    struct px_conn *q_head;      /* requests waiting for a server with room */
    struct px_conn *q_tail;
    struct px_upstream_w *q_next; /* worker's list of upstreams with waiting requests */
    bool q_listed;
    uint32_t active;             /* requests in progress */
    uint32_t retrying;           /* of those, on a retry */
};

/* A sticky session table shared by the generations of one upstream. */
struct px_table_ref {
    _Atomic uint32_t refs;
    struct rw_sticky_table *t; /* owned */
};

/* Metrics series of an upstream's servers, by server id (ops.c; RCU-published so
 * that servers added at run time get theirs). */
struct px_srv_series {
    uint32_t n;
    uint32_t idx[]; /* per server id: index in the per-server families */
};

/* An upstream's runtime, shared by the workers and by every generation whose config
 * describes it alike (same name and JSON): its server pool, sessions, connections.
 * Counted: generations and open upstream connections hold references; the last one
 * hands it to the main thread (px_reap) to be freed. */
struct px_ups {
    _Atomic uint32_t refs;
    uint32_t id;                    /* health index and slot id, unique among live ones */
    struct px_cfgref *cref;         /* counted: the config `cfg` points into */
    const struct rw_cfg_upstream *cfg; /* borrowed from cref */
    struct rw_pool *pool;           /* owned */
    struct rw_sticky_key *key;      /* owned (or borrowed: rw_proxy.sticky_key): cookie mode */
    bool key_borrowed;
    bool health;                    /* registered with the health thread */
    bool changed;                   /* its servers were changed at run time (admin) */
    _Atomic bool retired;           /* not in the current generation: connections close */
    struct px_table_ref *table;     /* counted: learn / ip modes */
    struct rw_tls_client_ctx *tls;  /* owned: TLS to the servers, or NULL */
    struct px_srv_series *series;   /* owned, RCU-published (ops.c) */
    uint32_t retry_series;          /* ops.c */
    _Atomic uint32_t queued;        /* requests waiting, all workers */
    struct px_upstream_w *w;        /* owned: one per worker */
    struct px_ups *next;            /* retired list */
};

/* A config shared by a generation and the upstreams built from it. */
struct px_cfgref {
    _Atomic uint32_t refs;
    bool owned; /* generation 1's config belongs to the caller of rw_proxy_new */
    struct rw_cfg *cfg;
};

/* Per worker, in a generation: requests of that worker using it (plain counter). */
struct px_gen_w {
    _Alignas(64) uint32_t n;
};

/* A configuration generation: everything the config file describes, immutable once
 * published. Workers take the current one per request (px_gen_hold); the old one is
 * freed after the last request on it ends (DESIGN.md "generation"). */
struct px_gen {
    _Atomic uint32_t refs;         /* main (while current) + one per worker using it */
    uint64_t id;                   /* 1, 2, ... */
    struct px_cfgref *cref;        /* counted */
    const struct rw_cfg *cfg;      /* borrowed from cref */
    struct px_ups **ups;           /* counted: per cfg upstream */
    struct rw_tls_ctx **tls_ctx;   /* owned refs, RCU-published: per cfg listener, or NULL */
    uint32_t nslots;               /* listener slots known when it was built */
    int32_t *slot_lis;             /* per slot: cfg listener index, -1: not in this gen */
    struct px_gen_ops *ops;        /* owned by ops.c: metrics series of its routes */
    struct px_gen_w *w;            /* per worker */
    struct px_gen *next;           /* retired list */
};

/* A listening address, kept across generations while some generation has it. */
#define PX_MAX_SLOTS 1024
struct px_slot {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char name[128];        /* for messages: the listener's name when it was opened */
    _Atomic int *fd;       /* per worker: opened by the main thread, taken by the worker */
    _Atomic uint64_t open_gen; /* the generation the sockets in fd were opened for */
};

struct px_listener_w {
    struct px_worker *w;
    const struct px_slot *slot; /* borrowed */
    uint32_t slot_id;
    int fd;
    bool armed;
    bool want;     /* the current generation has this listener */
    int8_t defer;  /* TCP_DEFER_ACCEPT as this worker last set it on fd: 0, 1, or -1 */
    struct rw_op op;
    struct rw_timer retry; /* re-arm accept after EMFILE etc. */
};

struct rw_proxy;

struct px_worker {
    /* start-up, read-only after */
    uint32_t id;
    struct rw_proxy *px;        /* borrowed */
    const struct rw_cfg *cfg0;  /* borrowed: start-up config (settings a reload keeps) */
    pthread_t thread;
    char name[16];
    /* owning worker only */
    struct rw_loop *loop;       /* owned */
    struct px_gen *gen;         /* counted: the generation new requests use */
    struct px_listener_w **lis; /* owned: per listener slot (PX_MAX_SLOTS), or NULL */
    uint32_t nlis;              /* slots seen */
    struct px_upstream_w *qlist; /* upstreams with waiting requests */
    uint32_t nconns;
    uint32_t nups;               /* upstream connections open */
    struct px_conn *conns;       /* every client connection */
    struct px_conn *buf_waiters; /* connections waiting for pool buffers */
    struct px_conn *tls_ready;   /* TLS connections with a read to serve after this turn */
    struct px_up *utls_ready;    /* TLS upstream connections with a read to serve */
    bool buf_wake;               /* a buffer came back while some waited */
    struct px_conn *grave_c;     /* closed connections, freed after this loop turn */
    struct px_up *grave_u;
    struct rw_slab *conn_slab;   /* owned: client connections (struct px_conn) */
    struct rw_slab *up_slab;     /* owned: server connections (struct px_up) */
    struct px_xchg *xchg_free;   /* owned: free exchange state */
    uint32_t nxchg_free;
    char **hbufs;              /* owned: free head buffers */
    uint32_t nhbufs;
    uint32_t hbuf_size;
    struct rw_h1_limits lim;
    struct rw_hdr *hdrs;       /* owned: parse scratch */
    void *match_data;          /* owned: pcre2_match_data */
    void *match_ctx;           /* owned: pcre2_match_context with match limits */
    char date[40];             /* "Date: ...\r\n" cache */
    uint64_t date_sec;
    bool stopping;
    struct rw_timer stop_timer;
    struct rw_timer queue_timer;
    bool has_thread;
    /* atomic, any thread */
    _Atomic uint64_t st_iters;   /* loop turns (metrics) */
    _Atomic uint64_t st_busy_ns; /* time outside blocking waits */
    _Atomic bool stop_req;
    _Atomic int started; /* 0 starting, 1 running, 2 exited, -errno failed */
};

struct rw_proxy {
    const struct rw_cfg *cfg;      /* borrowed: start-up config (settings a reload keeps) */
    const struct rw_io_ops *io;    /* borrowed */
    uint32_t nworkers;
    struct px_worker *workers;     /* owned */
    uint64_t trim_busy_ns;         /* main: the workers' busy time at the last tick */
    uint64_t trim_work_ns;         /* main: busy time since the heap was last trimmed */
    struct px_gen *gen;            /* counted (one ref), RCU-published: the current one */
    _Atomic uint64_t gen_id;
    struct px_gen *_Atomic retired_gens; /* unreferenced, freed by px_reap (main) */
    struct px_ups *_Atomic retired_ups;
    struct px_slot *slots[PX_MAX_SLOTS]; /* owned */
    _Atomic uint32_t nslots;
    uint64_t ups_ids[4096 / 64];   /* px_ups ids in use */
    struct rw_sticky_key *sticky_key; /* owned: random process key, when no key_file */
    struct rw_health *health;      /* owned: health-check thread and outlier detection */
    struct rw_tls_keys *tls_keys;  /* owned: session ticket keys, shared by every listener */
    _Atomic uint32_t nconns;       /* all workers (max_connections) */
    _Atomic uint32_t drain_ms;
    _Atomic uint64_t reloads_ok;   /* reload outcomes */
    _Atomic uint64_t reloads_failed;
};

/* gen.c: generations (main / admin threads build and publish; workers hold) */
struct px_gen *px_gen_build(struct rw_proxy *p, struct px_cfgref *cr, char *err, size_t errcap);
void px_gen_publish(struct rw_proxy *p, struct px_gen *g);
void px_gen_unref(struct rw_proxy *p, struct px_gen *g);
void px_ups_unref(struct rw_proxy *p, struct px_ups *pu);
void px_reap(struct rw_proxy *p);
int px_reload_locked(struct rw_proxy *p, const char *path, char *msg, size_t cap);
void px_gen_free_all(struct rw_proxy *p);
struct px_cfgref *px_cfgref_new(struct rw_cfg *cfg, bool owned);
void px_cfgref_unref(struct px_cfgref *cr);

/* The worker's current generation takes one more request of c (worker thread). */
static inline void px_gen_hold(struct px_conn *c, struct px_gen *g)
{
    c->x->gen = g;
    g->w[c->w->id].n++;
}
void px_gen_drop(struct px_conn *c);

/* Upstream runtime of c's route (c holds its generation and has an exchange). */
static inline struct px_ups *px_c_ups(const struct px_conn *c)
{
    return c->x->gen->ups[c->x->route->upstream->index];
}

/* The upstream connection serving c's exchange, or NULL (also without an exchange). */
static inline struct px_up *px_c_up(const struct px_conn *c)
{
    return c->x ? c->x->up : NULL;
}

/* Config for c: its request's generation, else the worker's current one. */
static inline const struct rw_cfg *px_c_cfg(const struct px_conn *c)
{
    return c->x && c->x->gen ? c->x->gen->cfg : c->w->gen->cfg;
}

/* worker.c */
/* A zeroed exchange (rin, rtx empty), or NULL: out of memory. Owning worker. */
struct px_xchg *px_xchg_get(struct px_worker *w);
/* Give x back with what it still owns (buffers, head buffers, body state); its
 * generation was dropped, its server released, and it left any queue. NULL: nothing.
 * Owning worker. */
void px_xchg_put(struct px_worker *w, struct px_xchg *x);
char *px_hbuf_get(struct px_worker *w);
void px_hbuf_put(struct px_worker *w, char *b);
void px_in_drop(struct px_worker *w, struct px_in *in);
void px_buf_put(struct px_worker *w, uint16_t bid);
void px_bury(struct px_worker *w);
int px_in_to_heap(struct px_worker *w, struct px_in *in);
void px_in_take(struct px_worker *w, struct px_in *in, uint16_t bid, uint32_t n);
void px_wait_buf(struct px_worker *w, struct px_conn *c);
const char *px_date(struct px_worker *w);

/* client.c */
void px_conn_accepted(struct px_worker *w, const struct px_listener_w *l, int fd);
bool px_conn_take_gen(struct px_conn *c);
void px_conn_arm_read(struct px_conn *c);
void px_conn_recv(struct px_conn *c);
void px_conn_on_eof(struct px_conn *c);
void px_conn_got_plaintext(struct px_conn *c);
void px_conn_deadline(struct px_conn *c);
void px_conn_retry_read(struct px_conn *c);
void px_conn_send_out(struct px_conn *c, const struct iovec *iov, int n);
void px_conn_close(struct px_conn *c);
void px_conn_exchange_done(struct px_conn *c);
void px__conns_stop_all(struct px_worker *w, bool force);

/* exchange.c */
void px_handle_request(struct px_conn *c, const struct rw_h1_req *req);
void px_exchange_fail(struct px_conn *c, int status);
void px_exchange_retry_or_fail(struct px_conn *c, uint32_t why, int status);
void px_client_recv_body(struct px_conn *c);
void px_req_kick(struct px_conn *c);
void px_resp_kick(struct px_conn *c);
void px_resp_data(struct px_conn *c);
void px_resp_eof(struct px_conn *c, int res);
void px_up_sent(struct px_conn *c);
void px_client_sent(struct px_conn *c);
void px_client_timeout(struct px_conn *c);

/* ops.c: admin commands, metrics, access log (what operators see) */
int px_ops_start(struct rw_proxy *p);
void px_ops_stop(struct rw_proxy *p);
void px_ops_request_begin(struct px_conn *c, const struct rw_h1_req *req); /* req NULL: bad */
void px_ops_request_end(struct px_conn *c);
void px_ops_conn_open(struct px_conn *c, uint32_t li);
void px_ops_tls_handshake(struct px_conn *c, int result, const char *version); /* 0 full, 1 resumed, 2 failed */
/* Metrics series of a new generation's listeners and routes (g->ops) and of a new
 * upstream's servers (pu->series); 0 or -errno. Main / admin thread, writer lock. */
int px_ops_gen_series(struct rw_proxy *p, struct px_gen *g);
void px_ops_gen_free(struct px_gen *g);
int px_ops_ups_series(struct rw_proxy *p, struct px_ups *pu);
/* g was published (config JSON for "config", reload counters). */
void px_ops_published(struct rw_proxy *p, struct px_gen *g, const char *path);
void px_ops_hide_gone(struct rw_proxy *p, const struct px_gen *old, const struct px_gen *g);

/* tls.c: HTTPS listeners; TLS over completion ops for both sides */
struct rw_tls_conn;
int px_tls_send_queued(struct px_worker *w, struct rw_tls_conn *t, struct rw_op *op, int fd);
int px_tls_decrypt(struct px_worker *w, struct rw_tls_conn *t, struct px_in *in, bool *got);
struct rw_tls_ctx;
/* A connection's verified client certificate; strings borrowed from its TLS state. */
struct px_peer {
    const char *subject;   /* RFC 4514 */
    const char *san;       /* "DNS:a, email:b, URI:c, IP:d" (',' and controls shown as '?') */
    const uint8_t *sha256; /* 32 bytes: SHA-256 of the DER certificate */
};
int px_tls_accept(struct px_conn *c, struct rw_tls_ctx *ctx);
int px_tls_ctx_build(struct rw_proxy *p, const struct rw_cfg_listener *l, struct rw_tls_ctx **out);
int px_tls_reload(struct rw_proxy *p, bool all);
void px_tls_free(struct px_conn *c);
void px_tls_send(struct px_conn *c, const struct iovec *iov, int n);
bool px_tls_sent(struct px_conn *c, int res);
void px_tls_want_read(struct px_conn *c);
void px_tls_pump(struct px_conn *c);
void px_tls_input(struct px_conn *c, const char *buf, size_t n);
void px_tls_run(struct px_worker *w);
void px_tls_shutdown(struct px_conn *c);
bool px_tls_writing(const struct px_conn *c);
const char *px_tls_version(const struct px_conn *c);
const char *px_tls_peer_subject(const struct px_conn *c);
bool px_tls_peer(const struct px_conn *c, struct px_peer *out);

/* local.c: responses made by ringwall */
void px_local_error(struct px_conn *c, int status, bool close);
void px_local_route(struct px_conn *c, const struct rw_h1_req *req);

/* route.c */
const struct rw_cfg_route *px_route_match(struct px_worker *w, const struct rw_cfg_listener *l,
                                          const struct rw_h1_req *req, const struct px_peer *peer);
const struct rw_cfg_route *px_route_select(struct px_conn *c, const struct rw_h1_req *req,
                                           int *deny);
int px_build_location(const struct rw_cfg_route *r, const struct rw_h1_req *req, char *out,
                      size_t cap);

/* head.c: re-serialised heads; bytes written or -ENOSPC */
#define PX_PEER_TEXT 46 /* INET6_ADDRSTRLEN */
/* c's address as text (X-Forwarded-For, Forwarded, log lines): dotted IPv4, IPv6 as
 * inet_ntop writes it, or "unknown". buf has PX_PEER_TEXT bytes; returns the length
 * (buf is NUL-terminated). Made when needed: the connection keeps only c->peer. */
size_t px_peer_text(const struct px_conn *c, char *buf);
int px_head_request(struct px_conn *c, const struct rw_h1_req *req, char *out, size_t cap);
int px_head_response(struct px_conn *c, const struct rw_h1_resp *resp, char *out, size_t cap);
int px_head_local(struct px_conn *c, int status, const struct rw_cfg_kv *hdrs, uint32_t nhdrs,
                  const char *ctype, size_t body_len, const char *location, char *out,
                  size_t cap);

/* upstream.c */
void px_up_start(struct px_conn *c);
void px_up_start_on(struct px_conn *c, struct rw_backend *be);
void px_attempt_failed(struct px_conn *c);
void px_up_send(struct px_up *u, const struct iovec *iov, int n);
void px_up_arm_read(struct px_up *u);
void px_up_wait_response(struct px_up *u);
void px_up_got_head(struct px_up *u);
void px_up_release(struct px_up *u, bool reusable);
void px_up_abort(struct px_up *u);
void px_up_stop_worker(struct px_worker *w);
void px_up_close_idle(struct px_worker *w, struct px_ups *pu);
void px_up_tls_run(struct px_worker *w);

/* balance.c */
uint32_t px_now_s(void);
bool px_cookie_value(const struct rw_h1_head *h, const char *name, const char **v, size_t *n);
void px_balance_prepare(struct px_conn *c, const struct rw_h1_req *req);
struct rw_backend *px_pick(struct px_conn *c, bool *full);
void px_pick_release(struct px_conn *c, uint64_t latency_us, bool ok);
void px_report(struct px_conn *c, int outcome, int status);
size_t px_sticky_response(struct px_conn *c, const struct rw_h1_resp *resp, char *buf, size_t cap);
bool px_queue_wait(struct px_conn *c);
void px_queue_leave(struct px_conn *c);
void px_queue_kick(struct px_worker *w, struct px_upstream_w *uw);
bool px_may_retry(struct px_conn *c, uint32_t why, bool request_sent);
bool px_replayable(const struct px_conn *c);
void px_balance_begin(struct px_conn *c);
void px_balance_end(struct px_conn *c);

/* body.c */
void px_body_init(struct px_body *b, uint8_t in, uint8_t out, uint64_t len, uint64_t limit,
                  bool keep_trailers);
void px_body_free(struct px_body *b);
enum px_body_res {
    PX_B_OK = 0,  /* *niov iovecs to send (maybe 0), *used input bytes consumed */
    PX_B_BAD,     /* framing error */
    PX_B_TOO_BIG, /* over the limit */
};
enum px_body_res px_body_step(struct px_body *b, const char *in, uint32_t len, uint32_t *used,
                              struct iovec *iov, int *niov, int maxiov);
int px_body_finish(struct px_body *b, struct iovec *iov, int maxiov);

#endif
