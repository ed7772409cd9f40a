/* SPDX-License-Identifier: MIT */
/* Registering upstreams: parameter defaults, validation and copies. */
#include "health/health.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "health/health-int.h"

/* No CR, LF or NUL can reach the request head; method and path have no spaces. */
static bool hc_str_ok(const char *v, bool spaces)
{
    for (const char *p = v; *p; p++)
        if (*p == '\r' || *p == '\n' || (!spaces && (*p == ' ' || *p == '\t')))
            return false;
    return *v != '\0';
}

static bool hc_all_zero(const uint64_t *bits)
{
    for (int i = 0; i < RW_HEALTH_STATUS_WORDS; i++)
        if (bits[i])
            return false;
    return true;
}

static char *hc_dup(const char *v, int *err)
{
    if (!v)
        return NULL;
    char *d = strdup(v);
    if (!d)
        *err = -ENOMEM;
    return d;
}

static int hc_active_init(struct rw_hc_params *a, const struct rw_hc_params *in)
{
    if (in->type > RW_HC_TCP || in->jitter_pct > 50 ||
        (in->path && (in->path[0] != '/' || !hc_str_ok(in->path, false))) ||
        (in->method && !hc_str_ok(in->method, false)) ||
        (in->host && !hc_str_ok(in->host, false)) ||
        (in->expect_body && !hc_str_ok(in->expect_body, true)))
        return -EINVAL;
    *a = *in;
    a->path = a->method = a->host = a->expect_body = a->tls_sni = NULL;
    a->tls = NULL;
    int err = 0;
    a->tls_sni = hc_dup(in->tls_sni, &err);
    if (in->tls) {
        rw_tls_client_ctx_ref(in->tls);
        a->tls = in->tls;
    }
    a->path = hc_dup(in->path ? in->path : "/", &err);
    a->method = hc_dup(in->method ? in->method : "GET", &err);
    a->host = hc_dup(in->host, &err);
    a->expect_body = hc_dup(in->expect_body, &err);
    if (err)
        return err;
    if (hc_all_zero(a->expect_status))
        for (int c = 200; c < 400; c++)
            rw_health_status_add(a->expect_status, c);
    a->interval_ms = a->interval_ms ? a->interval_ms : 2000;
    a->timeout_ms = a->timeout_ms ? a->timeout_ms : 1000;
    if (a->timeout_ms > a->interval_ms)
        a->timeout_ms = a->interval_ms;
    a->rise = a->rise ? a->rise : 2;
    a->fall = a->fall ? a->fall : 3;
    return 0;
}

static int hc_passive_init(struct rw_passive_params *p, const struct rw_passive_params *in)
{
    if (in->max_eject_percent > 100)
        return -EINVAL;
    *p = *in;
    if (hc_all_zero(p->error_status))
        for (int c = 500; c < 600; c++)
            rw_health_status_add(p->error_status, c);
    p->consecutive_errors = p->consecutive_errors ? p->consecutive_errors : 5;
    p->window_ms = p->window_ms ? p->window_ms : 10000;
    p->eject_ms = p->eject_ms ? p->eject_ms : 30000;
    p->max_eject_ms = p->max_eject_ms ? p->max_eject_ms : 300000;
    if (p->max_eject_ms < p->eject_ms)
        p->max_eject_ms = p->eject_ms;
    return 0;
}

int rw__hc_ups_new(uint32_t index, const char *name, struct rw_pool *pool,
                   const struct rw_hc_params *active, const struct rw_passive_params *passive,
                   struct rw__hc_ups **out)
{
    struct rw__hc_ups *u = aligned_alloc(64, (sizeof(*u) + 63) / 64 * 64);
    if (!u)
        return -ENOMEM;
    memset(u, 0, sizeof(*u));
    u->index = index;
    u->name = name;
    u->pool = pool;
    int rc = 0;
    if (active) {
        u->has_active = true;
        rc = hc_active_init(&u->act, active);
        u->method_id =
            strcmp(u->act.method ? u->act.method : "", "HEAD") == 0 ? RW_M_HEAD : RW_M_GET;
    }
    if (rc == 0 && passive) {
        u->has_passive = true;
        rc = hc_passive_init(&u->pas, passive);
    }
    if (rc < 0) {
        rw__hc_ups_free(u);
        return rc;
    }
    *out = u;
    return 0;
}
