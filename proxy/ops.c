/* SPDX-License-Identifier: MIT */
/* What operators see: admin commands, metrics, access log. */
#include "proxy/px.h"

int px_ops_start(struct rw_proxy *p)
{
    (void)p;
    return 0;
}

void px_ops_stop(struct rw_proxy *p)
{
    (void)p;
}

void px_ops_request_begin(struct px_conn *c, const struct rw_h1_req *req)
{
    (void)c;
    (void)req;
}

void px_ops_request_end(struct px_conn *c)
{
    (void)c;
}

void px_ops_conn(struct px_worker *w, int delta)
{
    (void)w;
    (void)delta;
}
