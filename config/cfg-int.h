/* SPDX-License-Identifier: MIT */
/* config/ internals shared by its files: load context, JSON paths, errors, typed getters. */
#ifndef RW_CONFIG_CFG_INT_H
#define RW_CONFIG_CFG_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#include "config/config.h"

#define RW__CFG_PATH_MAX 512
#define RW__CFG_MAX_ERRS 100 /* a load reports at most this many errors, then one more line */
#define RW__CFG_GOT_MAX 40   /* found values are shown truncated to this many characters */
#define RW__CFG_DUR_MAX_MS 2073600000u /* 24d: fits an int32 timer argument */

/* One load in progress. Everything is start-up/reload-thread only. */
struct rw__cfg_ctx {
    struct rw_cfg_errs *errs; /* borrowed: the caller's list */
    const char *file;         /* borrowed: name used in messages */
    char path[RW__CFG_PATH_MAX];
    size_t plen;   /* bytes used in path */
    uint32_t nerr; /* errors found by this load (also those past the cap) */
    char *dir;     /* owned or NULL: directory of `file` (absolute when getcwd() works), the
                    * base of relative file names; NULL: they are kept as written */
};

/* A string check: NULL when s is acceptable, else what was expected ("must start with '/'"). */
typedef const char *rw__cfg_check_fn(const char *s);

/* ---- errs.c: allocation, paths, messages ---- */

/* malloc/calloc/strdup that abort on failure (start-up and reload code only). */
void *rw__cfg_xcalloc(size_t n, size_t size);
char *rw__cfg_xstrdup(const char *s);

/* Append ".key" (or ["key"] when key is not an identifier) / "[i]" to the current path.
 * Returns a mark for rw__cfg_leave(), which restores the path. */
size_t rw__cfg_enter_key(struct rw__cfg_ctx *c, const char *key);
size_t rw__cfg_enter_index(struct rw__cfg_ctx *c, size_t i);
void rw__cfg_leave(struct rw__cfg_ctx *c, size_t mark);

/* Record "<file>: <path>: <message>" at the current path. */
void rw__cfg_err(struct rw__cfg_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, with ", got <v as compact JSON, truncated>" appended. */
void rw__cfg_err_got(struct rw__cfg_ctx *c, const json_t *v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Record a message that carries its own location ("<file>:12:5: ..."), no path. */
void rw__cfg_err_raw(struct rw__cfg_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* After a load: when errors went past the cap, add one line counting the rest. */
void rw__cfg_err_finish(struct rw__cfg_ctx *c);
/* Compact JSON text of v cut to RW__CFG_GOT_MAX characters; owned by the caller. */
char *rw__cfg_got_text(const json_t *v);

/* Report every key of obj not in allowed (NULL-terminated) as "unknown key", with a
 * "did you mean" hint when an allowed key is within edit distance 2. obj is at the
 * current path. */
void rw__cfg_check_keys(struct rw__cfg_ctx *c, const json_t *obj, const char *const *allowed);

/* Optimal-string-alignment edit distance, capped: returns cap + 1 when larger. */
unsigned rw__cfg_edit_distance(const char *a, const char *b, unsigned cap);

/* ---- get.c: typed getters on parent[key]; absent keys leave *out alone ---- */

/* parent[key] as an object (entering and checking its keys is left to the caller);
 * NULL when absent or not an object (reported). */
const json_t *rw__cfg_get_obj(struct rw__cfg_ctx *c, const json_t *parent, const char *key);
/* parent[key] as an array; NULL when absent or not an array (reported). nonempty: an
 * empty array is reported too. */
const json_t *rw__cfg_get_arr(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                              bool nonempty);
/* Integer in lo..hi. Returns false when present but invalid (reported). */
bool rw__cfg_get_u32(struct rw__cfg_ctx *c, const json_t *parent, const char *key, uint32_t lo,
                     uint32_t hi, uint32_t *out);
bool rw__cfg_get_bool(struct rw__cfg_ctx *c, const json_t *parent, const char *key, bool *out);
/* One of the NULL-terminated choices; *out gets an owned copy (the old value is freed). */
bool rw__cfg_get_enum(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                      const char *const *choices, char **out);
/* One of the NULL-terminated choices (nocase: compared case-insensitively); *idx gets
 * its index. */
bool rw__cfg_get_choice(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                        const char *const *choices, bool nocase, unsigned *idx);
/* A list of distinct choices (nocase: compared case-insensitively; [] is fine) as a bitmap,
 * bit i for choices[i] (at most 32 choices). *out is replaced only when every entry is good;
 * each bad one is reported at its own index. */
bool rw__cfg_get_flags(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                       const char *const *choices, bool nocase, uint32_t *out);
/* JSON number (integer or real) in lo..hi; lo_open excludes lo itself. */
bool rw__cfg_get_number(struct rw__cfg_ctx *c, const json_t *parent, const char *key, double lo,
                        double hi, bool lo_open, double *out);
/* String passing check (NULL: any string); *out gets an owned copy (old value freed). */
bool rw__cfg_get_str(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                     rw__cfg_check_fn *check, char **out);
/* Duration string in 1ms..RW__CFG_DUR_MAX_MS, in ms. */
bool rw__cfg_get_duration(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                          uint32_t *out_ms);
/* Size (JSON integer or size string) in lo..hi bytes; zero_ok also accepts 0. */
bool rw__cfg_get_size(struct rw__cfg_ctx *c, const json_t *parent, const char *key, uint64_t lo,
                      uint64_t hi, bool zero_ok, uint64_t *out);
/* A file ringwall reads (certificate, key, CA...): a non-empty name without control
 * characters, resolved against c->dir when relative, which must be a readable regular file
 * now ("<resolved>: cannot read: <reason>" otherwise). *out gets an owned copy of the
 * resolved name (old value freed). */
bool rw__cfg_get_file(struct rw__cfg_ctx *c, const json_t *parent, const char *key, char **out);
/* Set c->dir from the config's file name: its directory part ("" or no '/': the current
 * directory), made absolute with getcwd(). Freed by the caller with free(c->dir). */
void rw__cfg_set_dir(struct rw__cfg_ctx *c, const char *file);
/* Address string; *text gets an owned copy of what was written. */
bool rw__cfg_get_addr(struct rw__cfg_ctx *c, const json_t *parent, const char *key, char **text,
                      struct sockaddr_storage *addr, socklen_t *len);

/* A required key: false when obj has no key (reported at the key's own path as
 * "required key is missing", with " (hint)" when hint is not NULL). */
bool rw__cfg_require(struct rw__cfg_ctx *c, const json_t *obj, const char *key, const char *hint);
/* parent[key] as an object with only `keys`; NULL when absent or wrong (reported).
 * On success the path has entered key: leave with *mark. */
const json_t *rw__cfg_enter_obj(struct rw__cfg_ctx *c, const json_t *parent, const char *key,
                                const char *const *keys, size_t *mark);

/* ---- units.c: syntax checks (NULL = fine, else what was expected) ---- */

/* Parse an address, giving the reason on failure. */
int rw__cfg_parse_addr(const char *s, struct sockaddr_storage *addr, socklen_t *len,
                       const char **why);
const char *rw__cfg_check_token(const char *s);       /* RFC 9110 token, non-empty */
const char *rw__cfg_check_hdr_value(const char *s);   /* no control characters but HTAB */
const char *rw__cfg_check_path(const char *s);        /* "/..." without controls, space, ? or # */
const char *rw__cfg_check_target(const char *s);      /* same, but '?' (a query) is allowed */
const char *rw__cfg_check_host(const char *s);        /* DNS name or IP literal, no wildcard */
const char *rw__cfg_check_host_match(const char *s);  /* same, or "*.<name>" */
const char *rw__cfg_check_host_port(const char *s);   /* host with an optional ":port" */
const char *rw__cfg_check_name(const char *s);        /* non-empty, no control characters */
const char *rw__cfg_check_cookie_name(const char *s); /* non-empty, no ; = & space or CTLs */
const char *rw__cfg_check_cookie_path(const char *s); /* "/..." without ';' or CTLs */
const char *rw__cfg_check_file(const char *s);        /* non-empty file name, no CTLs */
void rw__cfg_lower(char *s);

/* ---- route.c ---- */

/* Parse listener route i (at the current path) into r. Route "upstream" names are
 * resolved against cfg->upstreams; upstreams_known says whether that list is usable. tls is
 * the listener's (already parsed): client-certificate keys need its client_auth. */
void rw__cfg_load_route(struct rw__cfg_ctx *c, const json_t *jr, struct rw_cfg *cfg,
                        bool upstreams_known, const struct rw_cfg_tls *tls, struct rw_cfg_route *r);

/* ---- upstream.c, sticky.c ---- */

/* Parse upstream `name` (at the current path, which names it) into up. */
void rw__cfg_load_upstream(struct rw__cfg_ctx *c, const char *name, const json_t *ju,
                           struct rw_cfg_upstream *up);
/* Parse ju["sticky"] into st; defaults are applied whether it is present or not, and ju
 * may be NULL (defaults only). */
void rw__cfg_load_sticky(struct rw__cfg_ctx *c, const json_t *ju, struct rw_cfg_sticky *st);

/* ---- health.c ---- */

/* Parse ju["health_check"] into h / ju["passive"] into p (at the upstream's path).
 * Defaults are applied whether the key is present or not (enabled says which); ju may
 * be NULL (defaults only). */
void rw__cfg_load_health(struct rw__cfg_ctx *c, const json_t *ju, struct rw_cfg_health *h);
void rw__cfg_load_passive(struct rw__cfg_ctx *c, const json_t *ju, struct rw_cfg_passive *p);

/* ---- tls.c ---- */

/* Parse jl["tls"] of a listener (at the listener's path) into t; defaults are applied
 * whether it is present or not (enabled says which). */
void rw__cfg_load_tls(struct rw__cfg_ctx *c, const json_t *jl, struct rw_cfg_tls *t);
/* Parse ju["tls"] of an upstream (at the upstream's path) into t; ju may be NULL
 * (defaults only). */
void rw__cfg_load_upstream_tls(struct rw__cfg_ctx *c, const json_t *ju,
                               struct rw_cfg_upstream_tls *t);
void rw__cfg_free_tls(struct rw_cfg_tls *t);
void rw__cfg_free_upstream_tls(struct rw_cfg_upstream_tls *t);

/* ---- ops.c ---- */

/* Apply the defaults of, then parse, root["admin"], ["access_log"], ["request_id"] and
 * ["shutdown_timeout"] into cfg (root is the top-level object, at path "$"). */
void rw__cfg_load_ops(struct rw__cfg_ctx *c, const json_t *root, struct rw_cfg *cfg);
/* Free what rw__cfg_load_ops() stored (the admin token is wiped first). */
void rw__cfg_free_ops(struct rw_cfg *cfg);

/* ---- free.c ---- */
void rw__cfg_free_route(struct rw_cfg_route *r);

/* ---- balance.c: the seam to balancers/ ---- */

/* True when name is a balancing algorithm balancers/ knows. */
bool rw__cfg_balance_known(const char *name);
/* Comma-separated valid names, for messages. */
const char *rw__cfg_balance_names(void);

#endif
