/* SPDX-License-Identifier: MIT */
/* Freeing a configuration and everything it owns. */
#include "config/cfg-int.h"

#include <stdlib.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

static void free_strv(char **v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void free_kv(struct rw_cfg_kv *kv, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        free(kv[i].name);
        free(kv[i].value);
    }
    free(kv);
}

static void free_edits(struct rw_cfg_hdr_edits *e)
{
    free_kv(e->set, e->nset);
    free_kv(e->add, e->nadd);
    free_strv(e->remove, e->nremove);
}

static void free_match(struct rw_cfg_match *m)
{
    free_strv(m->hosts, m->nhosts);
    free(m->path);
    free(m->path_prefix);
    free(m->path_regex);
    pcre2_code_free((pcre2_code *)m->path_re);
    free_strv(m->methods, m->nmethods);
    for (uint32_t i = 0; i < m->nheaders; i++) {
        free(m->headers[i].name);
        free_strv(m->headers[i].values, m->headers[i].nvalues);
    }
    free(m->headers);
    free_strv(m->cert.subjects, m->cert.nsubjects);
    free_strv(m->cert.sans, m->cert.nsans);
    free(m->cert.sha256);
}

void rw__cfg_free_route(struct rw_cfg_route *r)
{
    free_match(&r->match);
    free(r->strip_prefix);
    free(r->add_prefix);
    free(r->host);
    free_edits(&r->request_headers);
    free_edits(&r->response_headers);
    free(r->respond_body);
    free_kv(r->respond_headers, r->nrespond_headers);
    free(r->redirect_scheme);
    free(r->redirect_host);
    free(r->redirect_path);
}

static void free_upstream(struct rw_cfg_upstream *u)
{
    free(u->name);
    free(u->sig);
    free(u->balance);
    for (uint32_t i = 0; i < u->nservers; i++) {
        free(u->servers[i].name);
        free(u->servers[i].address);
    }
    free(u->servers);
    free(u->hash.key_name);
    free(u->sticky.name);
    free(u->sticky.cookie);
    free(u->sticky.path);
    free(u->sticky.key_file);
    free(u->health.path);
    free(u->health.method);
    free(u->health.host);
    free(u->health.expect_body);
    rw__cfg_free_upstream_tls(&u->tls);
}

void rw_cfg_free(struct rw_cfg *cfg)
{
    if (!cfg)
        return;
    for (uint32_t i = 0; i < cfg->nlisteners; i++) {
        struct rw_cfg_listener *l = &cfg->listeners[i];

        free(l->name);
        free(l->address);
        rw__cfg_free_tls(&l->tls);
        for (uint32_t j = 0; j < l->nroutes; j++)
            rw__cfg_free_route(&l->routes[j]);
        free(l->routes);
    }
    free(cfg->listeners);
    for (uint32_t i = 0; i < cfg->nupstreams; i++)
        free_upstream(&cfg->upstreams[i]);
    free(cfg->upstreams);
    free(cfg->io_backend);
    free(cfg->log_level);
    free(cfg->server_header);
    free(cfg->via);
    rw__cfg_free_ops(cfg);
    free(cfg->source);
    free(cfg);
}
