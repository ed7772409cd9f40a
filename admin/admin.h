/* SPDX-License-Identifier: MIT */
/* The admin thread: a JSON-lines Unix socket, an HTTP admin listener, and `ringwall ctl`. */
#ifndef RW_ADMIN_ADMIN_H
#define RW_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

struct rw_io_ops;
struct rw_admin;

/*
 * Protocol (Unix socket): one JSON object per line in, one per line out, in order.
 * A request names its command in "cmd" with arguments beside it. Every reply is
 * {"ok": true, "data": ...} or {"ok": false, "error": "..."}. A malformed line,
 * an unknown command or a line over max_line gets an error reply and the
 * connection keeps serving.
 *
 * HTTP listener (optional): GET /metrics (text 0.0.4 from the metrics callback),
 * GET /stats (the "stats" command's data as JSON), GET /healthz (200 "ok"),
 * GET /ready (200 or 503 from the ready callback), and, only when a token is
 * configured, POST /cmd with "Authorization: Bearer <token>" and one JSON request
 * as the body (the reply is the same JSON object). One request per connection.
 */

/* A command. Runs on the admin thread. req is the whole request object (borrowed).
 * On success return 0 and optionally set *data (a new reference, taken by the
 * caller; NULL replies "data": null). On failure return -errno (or -1) and write
 * a message into err[0..errcap) (if left empty, the reply uses rw_strerror()). */
typedef int rw_admin_cmd_fn(void *arg, const json_t *req, json_t **data, char *err, size_t errcap);

/* /metrics body: 0 with *out (malloc'd, freed by the admin) and *len, or -errno.
 * Admin thread. rw_metrics_render() fits with a one-line adapter. */
typedef int rw_admin_text_fn(void *arg, char **out, size_t *len);

/* /ready: true when the process should receive traffic. Admin thread. */
typedef bool rw_admin_ready_fn(void *arg);

struct rw_admin_cfg {
    const char *socket_path; /* borrowed (copied): Unix socket, NULL for none */
    mode_t socket_mode;      /* 0: 0660 */
    const char *http;        /* borrowed (copied): "127.0.0.1:9901", "[::1]:9901", ":9901"
                                (loopback), port 0 for any; NULL for none */
    const char *http_token;  /* borrowed (copied): enables POST /cmd; NULL disables it */
    size_t max_line;         /* longest request line / HTTP body; 0: 1 MiB */
    uint32_t max_clients;    /* concurrent connections; 0: 64 */
    const char *version;     /* borrowed (copied): reported by "version"; NULL: RW_VERSION */
};

/* Validate cfg and create an admin server (not started). NULL and *err = -errno
 * (-EINVAL: bad http address or path). Main thread, start-up. */
struct rw_admin *rw_admin_new(const struct rw_io_ops *io, const struct rw_admin_cfg *cfg, int *err);

/* Register command name (copied) with a one-line help (copied) and its callback.
 * Replaces a command of the same name (built-ins too). 0, -EINVAL after start,
 * -ENOMEM. Main thread, before rw_admin_start(). */
int rw_admin_register(struct rw_admin *a, const char *name, const char *help, rw_admin_cmd_fn *fn,
                      void *arg);

/* The /metrics source and the /ready check (NULL: 404 / always ready). Before start. */
void rw_admin_set_metrics(struct rw_admin *a, rw_admin_text_fn *fn, void *arg);
void rw_admin_set_ready(struct rw_admin *a, rw_admin_ready_fn *fn, void *arg);

/* Bind the sockets (on the calling thread, so errors come back here) and start the
 * admin thread with its own loop on io. The Unix socket's parent directory is
 * created if missing; a stale socket file is replaced; -EADDRINUSE if a live
 * process answers on it; -EEXIST if the path is not a socket. 0 or -errno. Main
 * thread, once. */
int rw_admin_start(struct rw_admin *a);

/* Bound HTTP port (after start; tests use port 0), or 0 when there is no listener. */
uint16_t rw_admin_http_port(const struct rw_admin *a);

/* Stop serving: close the listeners and every connection, join the thread and
 * remove the socket file. Idempotent. Main thread. */
void rw_admin_stop(struct rw_admin *a);

/* Stop (if running) and free. NULL is a no-op. Main thread. */
void rw_admin_free(struct rw_admin *a);

/* ---- the client: `ringwall ctl` ---- */

#define RW_ADMIN_SOCKET_DEFAULT "/run/ringwall/admin.sock"

/* `ringwall ctl [-s SOCKET] [--json] [-t SECONDS] COMMAND [KEY=VALUE...]`. argv[0]
 * is the command's own name ("ctl", ignored). Each KEY=VALUE becomes a request
 * member: VALUE is parsed as JSON when it parses (numbers, true, null, objects),
 * else taken as a string; dotted keys nest ("server.name=api-3" sets
 * {"server": {"name": "api-3"}}). The socket defaults to $RINGWALL_SOCKET, then
 * RW_ADMIN_SOCKET_DEFAULT. Prints data as tables / pretty text on out (with
 * --json: data as JSON), errors on err. Returns 0 on an ok reply, 1 on an error
 * reply, 2 on a usage, connection or protocol error. Any thread; blocking. */
int rw_admin_ctl_run(int argc, char **argv, FILE *out, FILE *err);

/* rw_admin_ctl_run() on stdout and stderr: main() calls it with (argc - 1, argv + 1)
 * when argv[1] is "ctl". */
int rw_admin_ctl_main(int argc, char **argv);

#endif
