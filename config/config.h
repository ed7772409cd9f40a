/* SPDX-License-Identifier: MIT */
/* The validated, immutable runtime configuration built from the JSON file. */
#ifndef RW_CONFIG_CONFIG_H
#define RW_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* All strings are NUL-terminated, owned by the rw_cfg and freed by rw_cfg_free(). File
 * names of files ringwall reads (TLS certificates, keys, CAs, OCSP responses, ticket key)
 * are stored resolved against the config file's directory, and were readable regular files
 * when the config was loaded. */

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

/* "match.client_cert": the client's verified certificate (listeners with client_auth). Every
 * list given must have a value equal to the certificate's; all empty: any verified one. */
struct rw_cfg_cert_match {
    bool present;          /* the key is given: a request without a verified certificate fails */
    char **subjects;       /* owned: RFC 4514 subjects as ringwall renders them, exact */
    uint32_t nsubjects;
    char **sans;           /* owned: "DNS:<name>", "email:<addr>", "URI:<uri>", "IP:<addr>" (type
                            * spelled so; DNS names lower-case, IP addresses as written) */
    uint32_t nsans;
    uint8_t (*sha256)[32]; /* owned: SHA-256 fingerprints of the DER certificate */
    uint32_t nsha256;
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
    struct rw_cfg_cert_match cert; /* "client_cert" */
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
    bool client_cert_required; /* "client_cert": "required": 403 without a verified certificate */
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

/* One certificate of a TLS listener. */
struct rw_cfg_tls_cert {
    char *cert;       /* owned: PEM chain file */
    char *key;        /* owned: PEM key file */
    char **names;     /* owned: SNI names (exact or "*.x"); NULL: from the certificate's SAN */
    uint32_t nnames;
    char *ocsp;       /* owned or NULL: DER OCSP response file to staple ("ocsp_staple", else
                       * the listener-wide tls.ocsp_staple) */
    bool ocsp_inherited; /* ocsp is the listener-wide one: stapled only if it answers for
                          * this certificate */
    bool is_default;  /* "default": true */
};

enum rw_cfg_client_auth {
    RW_CFG_CLIENT_AUTH_OFF = 0,
    RW_CFG_CLIENT_AUTH_OPTIONAL,
    RW_CFG_CLIENT_AUTH_REQUIRE,
};

/* "tls": {...} of a listener: HTTPS. */
struct rw_cfg_tls {
    bool enabled;                   /* the key is present */
    struct rw_cfg_tls_cert *certs;  /* owned: "certificates", at least one */
    uint32_t ncerts;
    uint16_t min_version;           /* 0x0303 (TLS 1.2, default) or 0x0304 */
    uint16_t max_version;           /* 0x0304 (default) or 0x0303 */
    char *ciphers;                  /* owned or NULL: TLS 1.2 suites */
    char *ciphersuites;             /* owned or NULL: TLS 1.3 suites */
    char **groups;                  /* owned or NULL: e.g. "X25519", "P-256" */
    uint32_t ngroups;
    char **alpn;                    /* owned or NULL: e.g. "http/1.1" */
    uint32_t nalpn;
    bool session_tickets;           /* default true */
    uint32_t ticket_key_rotation_ms; /* "ticket_key_rotation", default 12h */
    char *ticket_key_file;          /* owned or NULL */
    uint8_t client_auth;            /* enum rw_cfg_client_auth ("client_auth.mode") */
    char *client_ca;                /* owned or NULL: "client_auth.ca" (required unless off) */
    char *client_header;            /* owned or NULL: "client_auth.header", lower-case */
};

/* "tls": {...} of an upstream: TLS to the servers. */
struct rw_cfg_upstream_tls {
    bool enabled;     /* "enabled", default true when the object is present */
    bool verify;      /* default true */
    char *ca;         /* owned or NULL: PEM CAs (required when verify) */
    char *sni;        /* owned or NULL: name sent and verified (default: none) */
    char *cert;       /* owned or NULL: client certificate (mTLS) */
    char *key;        /* owned or NULL */
};

struct rw_cfg_listener {
    char *name;    /* owned; defaults to the address */
    char *address; /* owned: as written */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    struct rw_cfg_tls tls;       /* HTTPS when tls.enabled */
    struct rw_cfg_route *routes; /* owned, in match order */
    uint32_t nroutes;
    bool defer_accept; /* TCP_DEFER_ACCEPT: accept once the client has sent (default true) */
};

struct rw_cfg_server {
    char *name;    /* owned; defaults to the address */
    char *address; /* owned: as written */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint32_t weight;    /* 1..1000, default 1 */
    uint32_t max_conns; /* in-flight requests across workers, 0 = no limit (default) */
    bool backup;        /* only when no primary is usable, default false */
    bool initial_down;  /* "initial": "down": wait for a passing check (default "up") */
};

enum rw_hash_key {
    RW_HASH_KEY_URI = 0,  /* path and query */
    RW_HASH_KEY_HEADER,   /* hash.key "header:NAME" */
    RW_HASH_KEY_COOKIE,   /* "cookie:NAME" */
    RW_HASH_KEY_QUERY,    /* "query:NAME" */
    RW_HASH_KEY_CLIENT_IP,
};

enum rw_hash_method {
    RW_HASH_MAGLEV = 0,
    RW_HASH_RING,
};

/* "hash": {...} of a hash / ip_hash upstream. */
struct rw_cfg_hash {
    uint8_t key;        /* enum rw_hash_key; ip_hash: CLIENT_IP */
    char *key_name;     /* owned: NAME of header:/cookie:/query: (headers lower-case), or NULL */
    uint8_t method;     /* enum rw_hash_method, default maglev */
    double balance_factor; /* 0 = unbounded (default); else 1.0 < c <= 100 */
    uint8_t ipv4_mask;  /* 1..32, default 32 */
    uint8_t ipv6_mask;  /* 1..128, default 64 */
};

enum rw_sticky_mode {
    RW_STICKY_NONE = 0,
    RW_STICKY_COOKIE,
    RW_STICKY_LEARN,
    RW_STICKY_IP,
};

enum rw_same_site {
    RW_SAME_SITE_NONE_SET = 0, /* attribute omitted */
    RW_SAME_SITE_LAX,
    RW_SAME_SITE_STRICT,
    RW_SAME_SITE_NONE,
};

/* "sticky": {...} of an upstream. */
struct rw_cfg_sticky {
    uint8_t mode;       /* enum rw_sticky_mode */
    char *name;         /* owned: cookie mode: cookie name, default "rw_s" */
    char *cookie;       /* owned: learn mode: the application's cookie (required) */
    uint32_t ttl_ms;    /* cookie mode: absolute lifetime, default 1h (0 = none) */
    uint32_t idle_ms;   /* all modes: idle expiry, default 30m */
    int8_t secure;      /* cookie mode: -1 unset (true on TLS listeners), 0, 1 */
    bool http_only;     /* default true */
    uint8_t same_site;  /* enum rw_same_site, default LAX */
    char *path;         /* owned: default "/" */
    char *key_file;     /* owned or NULL: 32+ byte secret shared by instances */
    uint32_t table_size; /* learn/ip modes: entries, default 65536 */
};

enum {
    RW_RETRY_CONNECT_FAILURE = 1u << 0, /* "connect_failure" (includes connect timeout) */
    RW_RETRY_RESET = 1u << 1,           /* "reset": reset/EOF before any response byte */
    RW_RETRY_TIMEOUT = 1u << 2,         /* "timeout": response timeout */
    RW_RETRY_502 = 1u << 3,             /* "502", "503", "504": that status from the server */
    RW_RETRY_503 = 1u << 4,
    RW_RETRY_504 = 1u << 5,
};

/* Status bitmaps (expect_status, error_status): bit (code - 100) for codes 100..599. */
#define RW_CFG_STATUS_WORDS 8

enum rw_cfg_hc_type {
    RW_CFG_HC_HTTP = 0,
    RW_CFG_HC_TCP,
};

/* "health_check": {...} of an upstream (active checks). */
struct rw_cfg_health {
    bool enabled;           /* the key is present */
    uint8_t type;           /* enum rw_cfg_hc_type, default http */
    char *path;             /* owned: default "/"; NULL unless an enabled http check */
    char *method;           /* owned: token, default "GET"; NULL unless an enabled http check */
    char *host;             /* owned or NULL: Host header (default: the server's address) */
    uint64_t expect_status[RW_CFG_STATUS_WORDS]; /* codes that pass; default 200..399 */
    char *expect_body;      /* owned or NULL: substring the body must contain */
    uint32_t interval_ms;   /* default 2s */
    uint32_t timeout_ms;    /* default 1s (cut to interval when that is shorter), <= interval */
    uint32_t rise;          /* 1..100, default 2 */
    uint32_t fall;          /* 1..100, default 3 */
    uint32_t jitter_pct;    /* "jitter": "10%" (0..50), default 10 */
    uint16_t port;          /* 0: the server's own port */
};

/* "passive": {...} of an upstream (outlier detection). */
struct rw_cfg_passive {
    bool enabled;                /* the key is present */
    uint32_t consecutive_errors; /* 1..1000, default 5 */
    uint64_t error_status[RW_CFG_STATUS_WORDS]; /* "error_statuses": ["5xx", 429]; default 5xx */
    uint32_t window_ms;          /* default 10s */
    uint32_t eject_ms;           /* default 30s */
    uint32_t max_eject_ms;       /* default 5m (or eject when longer), >= eject */
    uint32_t max_eject_percent;  /* 0..100, default 50 */
};

struct rw_cfg_upstream {
    char *name;    /* owned: the key in "upstreams" */
    uint32_t index; /* position in cfg->upstreams */
    char *sig;      /* owned or NULL: the upstream's JSON, compact with sorted keys (two
                     * upstreams with the same name and sig are configured alike) */
    char *balance; /* owned: algorithm name, validated by balancers/; default "round_robin" */
    struct rw_cfg_hash hash;     /* hash / ip_hash options */
    uint32_t slow_start_ms;      /* 0 = off (default) */
    struct rw_cfg_sticky sticky; /* mode NONE when absent */
    struct rw_cfg_upstream_tls tls; /* TLS to the servers when tls.enabled */
    struct rw_cfg_health health;   /* "health_check" */
    struct rw_cfg_passive passive; /* "passive" */
    uint32_t panic_threshold;      /* percent 0..100, default 0 (off) */
    uint32_t queue_size;         /* waiting requests across workers, default 0 (no queue) */
    uint32_t queue_timeout_ms;   /* default 5s */
    struct rw_cfg_server *servers; /* owned */
    uint32_t nservers;
    uint32_t connect_timeout_ms;  /* timeouts.connect, default 3s */
    uint32_t response_timeout_ms; /* timeouts.response, default 60s */
    uint32_t read_timeout_ms;     /* timeouts.read, default 60s */
    uint32_t keepalive_max_idle;  /* keepalive.max_idle per worker per server, default 64 */
    uint32_t keepalive_idle_timeout_ms; /* keepalive.idle_timeout, default 60s */
    uint32_t retries;             /* retries.count (or "retries": N), 0..10, default 1 */
    uint32_t retry_on;            /* RW_RETRY_* from retries.on, default CONNECT_FAILURE */
    double retry_budget;          /* retries.budget: share of recent requests, default 0.2 */
};

/* "admin": {...}: the admin socket and the optional HTTP admin listener. */
struct rw_cfg_admin {
    char *socket;     /* owned or NULL (no admin socket): Unix socket path */
    uint32_t mode;    /* "mode": "0660" (octal string), default 0660 */
    char *http;       /* owned or NULL: "127.0.0.1:9901" (validated address) */
    struct sockaddr_storage http_addr;
    socklen_t http_addrlen;
    char *token;      /* owned or NULL: enables control commands over HTTP */
};

/* "access_log": {...} */
struct rw_cfg_access_log {
    char *path;       /* owned or NULL (off): a file path or "stdout" */
    uint8_t format;   /* 0 = "json" (default), 1 = "combined" */
};

/* "forwarded_headers": the forwarding fields ringwall writes on requests. A field whose bit
 * is clear is forwarded as the client sent it. */
enum {
    RW_FWD_FORWARDED = 1u << 0, /* "forwarded": RFC 7239, this hop appended to the client's */
    RW_FWD_XFF = 1u << 1,       /* "x-forwarded-for": client address appended to the client's */
    RW_FWD_PROTO = 1u << 2,     /* "x-forwarded-proto": replaces the client's */
    RW_FWD_HOST = 1u << 3,      /* "x-forwarded-host": replaces the client's */
    RW_FWD_ALL = 0xf,           /* the default */
};

/* "request_id": {...}: on by default. */
struct rw_cfg_request_id {
    char *header;     /* owned: lower-case header name, default "x-request-id"; NULL when
                       * "request_id": false */
    bool trust_client; /* keep a client's value, default true */
};

/* "io_coalesce": default (off) and most (core/io_uring-int.h clamps to the same 1 ms). */
#define RW_CFG_IO_COALESCE_US 0
#define RW_CFG_IO_COALESCE_MAX_US 1000

struct rw_cfg {
    uint32_t workers;        /* 0: one per CPU */
    char *io_backend;        /* owned: "auto" | "io_uring" | "epoll" */
    uint32_t io_coalesce_us; /* a busy io_uring wait holds on this long for more; 0: never */
    char *log_level;    /* owned: "error" | "warn" | "info" | "debug", default "info" */
    /* limits */
    uint32_t max_connections;   /* per process, default 100000 */
    uint32_t limit_request_line; /* default 8192 */
    uint32_t limit_header_block; /* default 16384 */
    uint32_t limit_headers;      /* default 100, at most 256 */
    uint64_t limit_body;         /* 0: no limit (default) */
    char *server_header;         /* owned; "" means send none; default "ringwall" */
    bool hide_backend_headers;   /* remove backend Server / X-Powered-By, default true */
    char *via;                   /* owned or NULL: pseudonym in Via, default "ringwall"; NULL
                                  * ("via": false): none added, received Via passes through */
    uint8_t forwarded_headers;   /* RW_FWD_*, default RW_FWD_ALL */
    /* client timeouts */
    uint32_t client_header_timeout_ms; /* default 10s */
    uint32_t client_body_timeout_ms;   /* default 60s */
    uint32_t client_idle_timeout_ms;   /* default 75s */
    uint32_t shutdown_timeout_ms;      /* "shutdown_timeout", default 30s */
    struct rw_cfg_admin admin;
    struct rw_cfg_access_log access_log;
    struct rw_cfg_request_id request_id;
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

/* Same, from memory; name is used in messages, and relative file names in the config
 * (certificates, keys, CAs...) are resolved against its directory (the current directory
 * when name has none), so they are stored absolute. */
int rw_cfg_load_buf(const char *json, size_t len, const char *name, struct rw_cfg **out,
                    struct rw_cfg_errs *errs);

/* Free a config and everything it owns (NULL is fine). */
void rw_cfg_free(struct rw_cfg *cfg);

/* Free the messages in errs and reset it. */
void rw_cfg_errs_clear(struct rw_cfg_errs *errs);

/* Parse "250ms", "10s", "5m", "1h", "1d" (also integers of ms? no: a unit is required)
 * into milliseconds. 0 or -EINVAL. */
int rw_cfg_parse_duration(const char *s, uint64_t *ms);
/* The same, in microseconds, with "us" accepted too ("100us", "1ms"). */
int rw_cfg_parse_duration_us(const char *s, uint64_t *us);

/* Parse "16KiB", "64MiB", "1GiB", "512B", "1KB" (=1000) or a plain decimal string of
 * bytes. 0 or -EINVAL / -ERANGE. */
int rw_cfg_parse_size(const char *s, uint64_t *bytes);

/* Parse "1.2.3.4:80", "[::1]:80", "*:80" / "0.0.0.0:80" / "[::]:80" into addr.
 * A port is required. 0 or -EINVAL. */
int rw_cfg_parse_addr(const char *s, struct sockaddr_storage *addr, socklen_t *len);

/* True when status code is in bm (an expect_status / error_status bitmap); codes outside
 * 100..599 never are. Any thread (the bitmap is immutable). */
static inline bool rw_cfg_status_has(const uint64_t *bm, unsigned code)
{
    if (code < 100 || code > 599)
        return false;
    return (bm[(code - 100) / 64] >> ((code - 100) % 64)) & 1u;
}

#endif
