/* SPDX-License-Identifier: MIT */
/* Access log: per-worker lock-free rings of whole lines, drained by one log thread. */
#ifndef RW_ADMIN_ACCESSLOG_H
#define RW_ADMIN_ACCESSLOG_H

#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

enum rw_accesslog_format {
    RW_ACCESSLOG_JSON = 0, /* one JSON object per line (keys in rw_accesslog_write()) */
    RW_ACCESSLOG_COMBINED, /* Apache/NCSA combined */
};

struct rw_accesslog_cfg {
    const char *path; /* borrowed (copied): a file, appended to, or "stdout" */
    enum rw_accesslog_format format;
    uint32_t nworkers;   /* one ring per writer thread (>= 1) */
    uint32_t ring_bytes; /* per ring, rounded up to a power of two; 0: 1 MiB */
    uint32_t flush_ms;   /* drain period; 0: 50 ms (a half-full ring also wakes the thread) */
};

/* One finished request, filled by the proxy. Strings are borrowed for the call
 * only; a NULL string (or zero length) prints as null / "-". */
struct rw_access_rec {
    struct timespec start;         /* CLOCK_REALTIME when the request began */
    const char *request_id;        /* NUL-terminated */
    const struct sockaddr *client; /* AF_INET / AF_INET6 / AF_UNIX; address only is logged */
    const char *method;            /* not NUL-terminated: method_len bytes */
    uint32_t method_len;
    const char *path; /* request target as sent (path and query), path_len bytes */
    uint32_t path_len;
    uint8_t http_minor; /* HTTP/1.<minor>, for "combined" */
    uint16_t status;
    uint64_t bytes_sent;     /* to the client, head and body */
    uint64_t bytes_received; /* from the client, head and body */
    uint64_t duration_us;
    const char *upstream; /* upstream name, NUL-terminated */
    const char *server;   /* server name (never sent to clients; fine in the log) */
    int64_t upstream_us;  /* time to the upstream's response head; < 0: no upstream */
    const char *route;
    const char *tls;     /* "TLSv1.3", NULL for plain TCP */
    /* the client's verified certificate (all NULL without one: the keys are left out) */
    const char *tls_client_subject;   /* RFC 4514, NUL-terminated */
    const char *tls_client_san;       /* "DNS:a, email:b", NUL-terminated */
    const uint8_t *tls_client_sha256; /* 32 bytes, logged as 64 lower-case hex digits */
    const char *referer; /* combined only; referer_len bytes */
    uint32_t referer_len;
    const char *user_agent; /* combined only; user_agent_len bytes */
    uint32_t user_agent_len;
};

struct rw_accesslog_stats {
    uint64_t written;       /* lines written */
    uint64_t dropped_full;  /* lines dropped: a worker's ring was full */
    uint64_t dropped_io;    /* lines dropped: write error (full disk, EIO) */
    uint64_t truncated;     /* lines whose fields were cut to fit the line limit */
    uint64_t reopens;       /* successful reopens */
    uint64_t reopen_errors; /* failed reopens (the old file stays in use) */
};

#define RW_ACCESSLOG_LINE_MAX 16384 /* bytes per formatted line, newline included */

struct rw_accesslog;

/* Open the destination and start the log thread. NULL and *err = -errno (the
 * open's error, -EINVAL for a bad cfg). Start-up (main thread). */
struct rw_accesslog *rw_accesslog_new(const struct rw_accesslog_cfg *cfg, int *err);

/* Drain what the rings hold, stop the thread, close the file. Every writer must
 * have stopped. Main thread. */
void rw_accesslog_free(struct rw_accesslog *l);

/* Format rec and enqueue it on worker's ring. Never blocks and never allocates: a
 * full ring drops the line and counts it (-ENOBUFS). 0 or -ENOBUFS. Called only
 * by the thread that owns ring `worker`. Keys of the JSON format: time, request_id,
 * client, method, path, status, bytes_sent, bytes_received, duration_ms, upstream,
 * server, upstream_ms, route, tls, and with a verified client certificate only,
 * tls_client_subject, tls_client_san, tls_client_sha256. */
int rw_accesslog_write(struct rw_accesslog *l, uint32_t worker, const struct rw_access_rec *rec);

/* Enqueue an already formatted line (len bytes, newline added if missing). Same
 * rules as rw_accesslog_write(). */
int rw_accesslog_write_line(struct rw_accesslog *l, uint32_t worker, const char *line, size_t len);

/* Format rec into buf (cap bytes, >= 2), newline included; returns the length.
 * Fields are cut (never torn escapes) to fit. Pure; any thread. */
size_t rw_accesslog_format(enum rw_accesslog_format fmt, const struct rw_access_rec *rec, char *buf,
                           size_t cap);

/* Ask the log thread to reopen the path (log rotation: SIGUSR1). Lines queued
 * before the call go to the old file. Async-signal-safe; any thread. */
void rw_accesslog_reopen(struct rw_accesslog *l);

/* Ask the log thread to write what is queued now and wait until it has (tests,
 * shutdown). Any thread but a writer that expects its ring to drain while it waits. */
void rw_accesslog_flush(struct rw_accesslog *l);

/* Counters (summed over rings). Any thread. */
void rw_accesslog_get_stats(const struct rw_accesslog *l, struct rw_accesslog_stats *st);

/* ---- request ids: 128 bits, 32 lowercase hex digits ---- */

#define RW_REQID_LEN 32

/* Per-worker generator: a random 64-bit prefix and a counter from a random start. */
struct rw_reqid {
    uint64_t prefix;
    uint64_t counter;
    char hex[RW_REQID_LEN]; /* the next id: prefix and counter in hex, counted up in place */
};

/* Seed g from getrandom(). 0 or -errno. Once per worker. */
int rw_reqid_init(struct rw_reqid *g);

/* Write the next id into out[0..RW_REQID_LEN) and a NUL at out[RW_REQID_LEN]. Owner only. */
void rw_reqid_next(struct rw_reqid *g, char out[RW_REQID_LEN + 1]);

#endif
