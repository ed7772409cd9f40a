/* SPDX-License-Identifier: MIT */
/* Module-internal: the admin server's state, shared by server.c, conn.c and http.c. */
#ifndef RW_ADMIN_ADMIN_INT_H
#define RW_ADMIN_ADMIN_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <jansson.h>

#include "admin/admin.h"
#include "core/io.h"
#include "core/timer.h"

#define AD_OUT_HIGH (4u << 20) /* queued reply bytes above which a client stops being read */
#define AD_HTTP_HEAD_MAX 16384

enum ad_kind {
    AD_UNIX = 0,
    AD_HTTP,
};

/* One queued reply chunk. */
struct ad_out {
    struct ad_out *next; /* owned: rest of the queue */
    size_t len;
    char data[];
};

struct ad_conn {
    struct rw_admin *a; /* borrowed: owning server */
    int fd;             /* owned */
    uint8_t kind;       /* enum ad_kind */
    bool recv_armed;
    bool send_armed;
    bool closing; /* close once both ops are done */
    bool eof;     /* peer finished sending */
    bool paused;  /* output over AD_OUT_HIGH: input not processed, not read */
    bool discard; /* skipping the rest of an over-long line */
    bool done;    /* HTTP: response queued; close after it is sent */
    struct rw_op rop;
    struct rw_op sop;
    struct rw_timer retry; /* re-arm recv after -ENOBUFS */
    char *in;              /* owned: unprocessed input */
    size_t in_len;
    size_t in_cap;
    struct ad_out *out;      /* owned: reply queue, head is in flight when send_armed */
    struct ad_out *out_tail; /* borrowed: last of out */
    size_t out_bytes;
    struct ad_conn *next; /* admin's list */
    struct ad_conn *prev;
};

struct ad_lis {
    struct rw_admin *a; /* borrowed */
    int fd;             /* owned, -1 when closed */
    uint8_t kind;
    bool armed;
    struct rw_op op;
};

struct ad_cmd {
    char *name; /* owned */
    char *help; /* owned */
    rw_admin_cmd_fn *fn;
    void *arg; /* borrowed: registrant's */
};

struct rw_admin {
    /* config time, read-only after start */
    const struct rw_io_ops *io; /* borrowed: static backend table */
    char *sock_path;            /* owned */
    mode_t sock_mode;
    ino_t sock_ino; /* the socket file we created, to remove only ours */
    bool has_http;
    struct sockaddr_storage http_sa;
    socklen_t http_salen;
    char *token;   /* owned */
    char *version; /* owned */
    size_t max_line;
    uint32_t max_clients;
    struct ad_cmd *cmds; /* owned array */
    uint32_t ncmds;
    rw_admin_text_fn *metrics_fn;
    void *metrics_arg; /* borrowed */
    rw_admin_ready_fn *ready_fn;
    void *ready_arg; /* borrowed */
    /* admin thread only (main thread before start and after join) */
    struct rw_loop *loop;  /* owned */
    struct ad_lis lis[2];  /* [AD_UNIX], [AD_HTTP] */
    struct ad_conn *conns; /* owned list */
    uint32_t nconns;
    bool stopping;
    struct rw_hdr *hdrs; /* owned: RW_H1_MAX_HEADERS, for HTTP parsing */
    /* any thread */
    pthread_t thread;
    bool has_thread;
    bool started_ok;
    atomic_int state; /* 0 starting, 1 running, 2 finished, < 0 -errno */
    atomic_bool stop_req;
};

/* Run one parsed request and build its reply object (new reference). Admin thread. */
json_t *rw__admin_exec(struct rw_admin *a, const json_t *req);

/* Parse line[0..len) as a request, run it and return the reply as one compact
 * JSON line ending in '\n' (malloc'd; *outlen bytes), or NULL on -ENOMEM. */
char *rw__admin_reply_line(struct rw_admin *a, const char *line, size_t len, size_t *outlen);

/* Queue len bytes (copied) for c. 0 or -ENOMEM (the connection is closed). */
int rw__admin_conn_send(struct ad_conn *c, const char *data, size_t len);

/* Start closing c (cancel its ops; freed once they end). */
void rw__admin_conn_close(struct ad_conn *c);

/* Make room for n more input bytes (capacity bounded by the caller). 0 or -ENOMEM. */
int rw__admin_conn_reserve(struct ad_conn *c, size_t n);

/* A new connection on listener kind; closes fd on failure. Admin thread. */
void rw__admin_conn_accepted(struct rw_admin *a, int fd, uint8_t kind);

/* Process buffered input: JSON lines / one HTTP request. Admin thread. */
void rw__admin_unix_input(struct ad_conn *c);
void rw__admin_http_input(struct ad_conn *c);

/* Parse "host:port", "[v6]:port" or ":port" (loopback). 0 or -EINVAL. */
int rw__admin_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

#endif
