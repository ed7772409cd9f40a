/* SPDX-License-Identifier: MIT */
/* The validated, immutable runtime configuration built from the JSON file. */
#ifndef RW_CONFIG_CONFIG_H
#define RW_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* All strings are NUL-terminated, owned by the rw_cfg and freed by rw_cfg_free(). */

struct rw_cfg_kv {
    char *name; /* owned; header names are stored lower-case */
    char *value; /* owned */
};

struct rw_cfg_hdr_edits {
    struct rw_cfg_kv *set; /* owned: replace (remove every field of that name, then add) */
    uint32_t nset;
    struct rw_cfg_kv *add; /* owned: append a field */
    uint32_t nadd;
    char **remove; /* owned: lower-case names to remove */
    uint32_t nremove;
};

struct rw_cfg_hdr_match {
    char *name;     /* owned, lower-case */
    char **values;  /* owned: accepted exact values (case-sensitive) */
    uint32_t nvalues;
    bool any;       /* "*": present with any value */
};

struct rw_cfg_match {
    char **hosts; /* owned, lower-case; "*.example.com" entries are wildcards */
    uint32_t nhosts;
    char *path;        /* owned or NULL: exact */
    char *path_prefix; /* owned or NULL */
    char *path_regex;  /* owned or NULL: source text */
    void *path_re;     /* owned: pcre2_code *, compiled anchored, or NULL */
    char **methods;    /* owned, as written (methods are case-sensitive) */
    uint32_t nmethods;
    struct rw_cfg_hdr_match *headers; /* owned */
    uint32_t nheaders;
};

enum rw_route_action {
    RW_ROUTE_PROXY = 0,
    RW_ROUTE_RESPOND,
    RW_ROUTE_REDIRECT,
};

struct rw_cfg_upstream;

struct rw_cfg_route {
    struct rw_cfg_match match;
    uint8_t action; /* enum rw_route_action */
    /* RW_ROUTE_PROXY */
    struct rw_cfg_upstream *upstream; /* borrowed: cfg->upstreams[] */
    char *strip_prefix;               /* owned or NULL */
    char *add_prefix;                 /* owned or NULL */
    char *host;                       /* owned or NULL: Host sent upstream ("host" key) */
    struct rw_cfg_hdr_edits request_headers;
    struct rw_cfg_hdr_edits response_headers;
    bool trailers_drop; /* "trailers": "drop" (default "forward") */
    /* RW_ROUTE_RESPOND */
    uint16_t respond_status; /* 100..599, default 200 */
    char *respond_body;      /* owned, may be "" */
    size_t respond_body_len;
    struct rw_cfg_kv *respond_headers; /* owned */
    uint32_t nrespond_headers;
    /* RW_ROUTE_REDIRECT: NULL/0 parts are taken from the request */
    uint16_t redirect_status; /* 301, 302, 303, 307, 308; default 308 */
    char *redirect_scheme;    /* "http" | "https" or NULL */
    char *redirect_host;      /* owned or NULL */
    uint16_t redirect_port;   /* 0: keep (dropped when it is the scheme's default) */
    char *redirect_path;      /* owned or NULL */
    bool redirect_strip_query;
};

struct rw_cfg_listener {
    char *name;    /* owned; defaults to the address */
    char *address; /* owned: as written */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct rw_cfg_route *routes; /* owned, in match order */
    uint32_t nroutes;
};

struct rw_cfg_server {
    char *name;    /* owned; defaults to the address */
    char *address; /* owned: as written */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint32_t weight; /* 1..1000, default 1 */
};

struct rw_cfg_upstream {
    char *name;    /* owned: the key in "upstreams" */
    uint32_t index; /* position in cfg->upstreams */
    char *balance; /* owned: "round_robin" (the algorithm name, validated by balancers/) */
    struct rw_cfg_server *servers; /* owned */
    uint32_t nservers;
    uint32_t connect_timeout_ms;  /* timeouts.connect, default 3s */
    uint32_t response_timeout_ms; /* timeouts.response, default 60s */
    uint32_t read_timeout_ms;     /* timeouts.read, default 60s */
    uint32_t keepalive_max_idle;  /* keepalive.max_idle per worker per server, default 64 */
    uint32_t keepalive_idle_timeout_ms; /* keepalive.idle_timeout, default 60s */
    uint32_t retries;             /* retries after a connect failure, default 1 */
};

struct rw_cfg {
    uint32_t workers;   /* 0: one per CPU */
    char *io_backend;   /* owned: "auto" | "io_uring" | "epoll" */
    char *log_level;    /* owned: "error" | "warn" | "info" | "debug", default "info" */
    /* limits */
    uint32_t max_connections;   /* per process, default 100000 */
    uint32_t limit_request_line; /* default 8192 */
    uint32_t limit_header_block; /* default 16384 */
    uint32_t limit_headers;      /* default 100, at most 256 */
    uint64_t limit_body;         /* 0: no limit (default) */
    char *server_header;         /* owned; "" means send none; default "ringwall" */
    bool hide_backend_headers;   /* remove backend Server / X-Powered-By, default true */
    char *via;                   /* owned: pseudonym in Via, default "ringwall" */
    /* client timeouts */
    uint32_t client_header_timeout_ms; /* default 10s */
    uint32_t client_body_timeout_ms;   /* default 60s */
    uint32_t client_idle_timeout_ms;   /* default 75s */
    struct rw_cfg_listener *listeners; /* owned */
    uint32_t nlisteners;
    struct rw_cfg_upstream *upstreams; /* owned */
    uint32_t nupstreams;
    char *source; /* owned: file name for messages */
};

/* Accumulated validation errors, each "file: $.path: message". */
struct rw_cfg_errs {
    char **msg; /* owned */
    uint32_t n;
    uint32_t cap;
};

/* Load and validate a config file. Every error found is appended to errs (all at
 * once, never just the first). Returns 0 and *out (owned by the caller), or
 * -EINVAL with errs filled, or -errno when the file can't be read (also in errs).
 * Start-up and reload threads; never a worker. */
int rw_cfg_load_file(const char *path, struct rw_cfg **out, struct rw_cfg_errs *errs);

/* Same, from memory; name is used in messages. */
int rw_cfg_load_buf(const char *json, size_t len, const char *name, struct rw_cfg **out,
                    struct rw_cfg_errs *errs);

/* Free a config and everything it owns (NULL is fine). */
void rw_cfg_free(struct rw_cfg *cfg);

/* Free the messages in errs and reset it. */
void rw_cfg_errs_clear(struct rw_cfg_errs *errs);

/* Parse "250ms", "10s", "5m", "1h", "1d" (also integers of ms? no: a unit is required)
 * into milliseconds. 0 or -EINVAL. */
int rw_cfg_parse_duration(const char *s, uint64_t *ms);

/* Parse "16KiB", "64MiB", "1GiB", "512B", "1KB" (=1000) or a plain decimal string of
 * bytes. 0 or -EINVAL / -ERANGE. */
int rw_cfg_parse_size(const char *s, uint64_t *bytes);

/* Parse "1.2.3.4:80", "[::1]:80", "*:80" / "0.0.0.0:80" / "[::]:80" into addr.
 * A port is required. 0 or -EINVAL. */
int rw_cfg_parse_addr(const char *s, struct sockaddr_storage *addr, socklen_t *len);

#endif
