/* SPDX-License-Identifier: MIT */
/* The proxy as main() sees it: build from a config, run workers, drain, stop. */
#ifndef RW_PROXY_PROXY_H
#define RW_PROXY_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rw_cfg;
struct rw_io_ops;
struct rw_proxy;

/* Build the proxy from a validated config (borrowed; it must outlive the proxy;
 * configs of later reloads belong to the proxy):
 * creates the upstream pools and binds every listener once per worker
 * (SO_REUSEPORT), so that address errors surface before any thread starts.
 * nworkers must be >= 1. NULL and *err = -errno; the cause is logged.
 * Main thread, start-up only. */
struct rw_proxy *rw_proxy_new(const struct rw_cfg *cfg, const struct rw_io_ops *io,
                              uint32_t nworkers, int *err);

/* Start the worker threads. Each creates its own loop on `io` and begins
 * accepting. 0 or -errno (the workers already started are stopped). Main thread. */
int rw_proxy_start(struct rw_proxy *p);

/* Ask every worker to stop accepting, finish the requests in flight, close idle
 * connections and exit; connections still busy after drain_ms are closed.
 * Returns at once; any thread. */
void rw_proxy_stop(struct rw_proxy *p, uint32_t drain_ms);

/* Periodic writer-side housekeeping (slow-start ramps), about every 250 ms, from
 * one non-worker thread (main). */
void rw_proxy_tick(struct rw_proxy *p);

/* Reopen the access log (SIGUSR1, log rotation): lines queued before go to the old
 * file. A no-op without an access log. Async-signal-safe; any thread. */
void rw_proxy_reopen_logs(struct rw_proxy *p);

/* Reload the configuration from path (NULL: the file the running one came from):
 * parsed and validated whole, then published as a new generation; requests in
 * flight finish on theirs, connections stay open. On success 0 and msg says what
 * needs a restart (or ""); on failure -errno, msg has every error (one per line,
 * with JSON paths) and the running generation keeps serving. Any thread but a
 * worker's; serialised with admin commands. */
int rw_proxy_reload(struct rw_proxy *p, const char *path, char *msg, size_t cap);

/* The generation serving new requests (1, 2, ...). Any thread. */
uint64_t rw_proxy_generation(struct rw_proxy *p);

/* True once every worker has exited (after rw_proxy_stop). Any thread. */
bool rw_proxy_done(struct rw_proxy *p);

/* Wait for every worker to exit, then free the proxy. Main thread. */
void rw_proxy_free(struct rw_proxy *p);

#endif
