/* SPDX-License-Identifier: MIT */
/* Strict HTTP/1.1 message-head parsing (RFC 9110/9112, DESIGN.md's decided rules). */
#ifndef RW_HTTP_H1_H
#define RW_HTTP_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Domain outcome of every parser in http/. */
enum rw_parse {
    RW_PARSE_DONE = 0, /* a complete unit was parsed */
    RW_PARSE_AGAIN,    /* need more bytes; nothing is consumed */
    RW_PARSE_BAD,      /* malformed: *status says which 4xx/5xx to answer */
};

/* Known header names, recognised case-insensitively by the parser. */
enum rw_hdr_id {
    RW_H_OTHER = 0,
    RW_H_HOST,
    RW_H_CONTENT_LENGTH,
    RW_H_TRANSFER_ENCODING,
    RW_H_CONNECTION,
    RW_H_KEEP_ALIVE,
    RW_H_PROXY_CONNECTION,
    RW_H_TE,
    RW_H_TRAILER,
    RW_H_UPGRADE,
    RW_H_EXPECT,
    RW_H_X_FORWARDED_FOR,
    RW_H_X_FORWARDED_PROTO,
    RW_H_X_FORWARDED_HOST,
    RW_H_FORWARDED,
    RW_H_VIA,
    RW_H_SERVER,
    RW_H_X_POWERED_BY,
    RW_H_DATE,
    RW_H_COOKIE,
    RW_H__COUNT
};

enum {
    RW_HDR_HOP = 1u << 0, /* hop-by-hop: never forwarded (fixed list or named by Connection) */
};

/* One header field; name/value point into the parsed buffer (value trimmed). */
struct rw_hdr {
    const char *name;  /* borrowed: parse buffer */
    const char *value; /* borrowed: parse buffer */
    uint16_t name_len;
    uint16_t id;    /* enum rw_hdr_id */
    uint32_t value_len;
    uint32_t flags; /* RW_HDR_* */
};

enum rw_body {
    RW_BODY_NONE = 0, /* no body */
    RW_BODY_LENGTH,   /* content_length bytes */
    RW_BODY_CHUNKED,  /* chunked coding */
    RW_BODY_CLOSE,    /* responses only: until the server closes */
};

enum rw_method {
    RW_M_OTHER = 0,
    RW_M_GET,
    RW_M_HEAD,
    RW_M_POST,
    RW_M_PUT,
    RW_M_DELETE,
    RW_M_OPTIONS,
    RW_M_PATCH,
    RW_M_CONNECT,
    RW_M_TRACE,
};

/* Parser limits; zero fields take the defaults shown. */
struct rw_h1_limits {
    uint32_t request_line; /* 8192: longer -> 414 (status line of responses: same) */
    uint32_t header_block; /* 16384: whole head incl. request line; larger -> 431 */
    uint32_t headers;      /* 100: more fields -> 431 */
};

#define RW_H1_MAX_HEADERS 256 /* hard cap on limits.headers */

/* Fields shared by requests and responses. */
struct rw_h1_head {
    uint8_t minor;          /* HTTP/1.<minor>: 0 or 1 */
    uint8_t body;           /* enum rw_body */
    bool keep_alive;        /* after Connection tokens and version defaults */
    bool conn_upgrade;      /* Connection lists "upgrade" and Upgrade is present */
    uint64_t content_length; /* when body == RW_BODY_LENGTH */
    size_t head_len;        /* bytes of the head including the final CRLF CRLF */
    uint32_t nhdrs;
    struct rw_hdr *hdrs; /* borrowed: caller's array of RW_H1_MAX_HEADERS (or limits.headers) */
    int16_t first[RW_H__COUNT]; /* index of the first field with each known id, or -1 */
};

struct rw_h1_req {
    struct rw_h1_head h;
    uint8_t method; /* enum rw_method */
    bool expect_continue;
    const char *method_str;
    uint16_t method_len;
    const char *target; /* request-target as sent */
    uint32_t target_len;
    const char *path; /* origin-form path (from absolute-form too); "*" for OPTIONS * */
    uint32_t path_len;
    const char *query; /* after '?', without it; NULL when absent */
    uint32_t query_len;
    const char *host; /* authority from absolute-form, else the Host field; may be NULL on 1.0 */
    uint32_t host_len;
    bool absolute_form;
};

struct rw_h1_resp {
    struct rw_h1_head h;
    uint16_t status;
    const char *reason;
    uint32_t reason_len;
};

/* Parse a request head from buf[0..len). On DONE, req->h.head_len bytes form the
 * head and every pointer in req points into buf. On AGAIN, no terminator yet and
 * no limit exceeded (callers re-parse from the start when more bytes arrive).
 * On BAD, *status is 400, 414, 417, 431, 501 or 505. hdrs must hold
 * limits->headers entries (at most RW_H1_MAX_HEADERS). Pure function, any thread. */
enum rw_parse rw_h1_parse_request(const char *buf, size_t len, const struct rw_h1_limits *lim,
                                  struct rw_h1_req *req, struct rw_hdr *hdrs, int *status);

/* Parse a response head. req_method says how to frame it: HEAD, and CONNECT with
 * 2xx, carry no body; 1xx/204/304 never have a body. On BAD, *status is 502. */
enum rw_parse rw_h1_parse_response(const char *buf, size_t len, const struct rw_h1_limits *lim,
                                   uint8_t req_method, struct rw_h1_resp *resp,
                                   struct rw_hdr *hdrs, int *status);

/* Incremental chunked-body decoder (RFC 9112 section 7.1) with bounded extensions
 * and trailers. */
struct rw_chunked {
    uint8_t state;       /* private */
    uint8_t ndigits;     /* private */
    bool trailers_seen;  /* at least one trailer field was received */
    uint64_t remaining;  /* private: bytes left in the current chunk */
    uint32_t ext_bytes;  /* private: extension bytes seen in this message */
    uint32_t max_ext;    /* 4096 by default when 0 */
    uint32_t max_trailer; /* 16384 by default when 0 */
    uint32_t trailer_len; /* bytes in trailer[] */
    char *trailer;        /* borrowed: caller's buffer of max_trailer bytes, or NULL to drop */
    uint32_t line_len;    /* private */
};

/* Reset d for a new message (keeps max_* and trailer buffer). */
void rw_chunked_init(struct rw_chunked *d);

/* Decode from in[0..len). Consumes framing bytes and returns each data span:
 *  - RW_PARSE_AGAIN: *consumed bytes were used; if *data_len > 0, in[*data_off ..
 *    *data_off + *data_len) is payload (always inside the consumed range). Call
 *    again with the rest.
 *  - RW_PARSE_DONE: the last chunk and trailers ended; *consumed bytes used (bytes
 *    after that belong to the next message). Validated trailer fields, each ending
 *    in CRLF, are in d->trailer[0..trailer_len) when a buffer was given.
 *  - RW_PARSE_BAD: framing error (bad size, missing CRLF, over a bound).
 * At most one data span is returned per call. */
enum rw_parse rw_chunked_decode(struct rw_chunked *d, const char *in, size_t len,
                                size_t *consumed, size_t *data_off, size_t *data_len);

/* Case-insensitive comparison helpers. */
bool rw_h1_streq(const char *a, size_t alen, const char *lit);
/* True if the comma-separated list value contains token tok (case-insensitive). */
bool rw_h1_list_has(const char *v, size_t vlen, const char *tok);

/* The standard reason phrase for status, or "Unknown". */
const char *rw_h1_reason(int status);

#endif
