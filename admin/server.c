/* SPDX-License-Identifier: MIT */
/* The admin server: command table, request dispatch, listeners and the admin thread. */
#include "admin/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "admin/admin-int.h"
#include "admin/sbuf.h"
#include "core/log.h"
#include "core/rcu.h"
#include "http/h1.h"

#define AD_MAX_LINE_DEFAULT (1u << 20)
#define AD_MAX_CLIENTS_DEFAULT 64

/* ---- commands ---- */

static struct ad_cmd *cmd_find(struct rw_admin *a, const char *name)
{
    for (uint32_t i = 0; i < a->ncmds; i++)
        if (strcmp(a->cmds[i].name, name) == 0)
            return &a->cmds[i];
    return NULL;
}

int rw_admin_register(struct rw_admin *a, const char *name, const char *help, rw_admin_cmd_fn *fn,
                      void *arg)
{
    if (a->has_thread || !name || !*name || !fn)
        return -EINVAL;
    char *n = strdup(name), *h = strdup(help ? help : "");
    struct ad_cmd *c = cmd_find(a, name);
    if (!c && n && h) {
        c = realloc(a->cmds, (a->ncmds + 1) * sizeof(*c));
        if (c) {
            a->cmds = c;
            c = &a->cmds[a->ncmds++];
            *c = (struct ad_cmd){0};
        }
    }
    if (!c || !n || !h) {
        free(n);
        free(h);
        return -ENOMEM;
    }
    free(c->name);
    free(c->help);
    *c = (struct ad_cmd){.name = n, .help = h, .fn = fn, .arg = arg};
    return 0;
}

static int cmd_version(void *arg, const json_t *req, json_t **data, char *err, size_t errcap)
{
    struct rw_admin *a = arg;
    *data = json_pack("{s:s, s:s}", "version", a->version, "io_backend",
                      a->loop ? rw_loop_backend(a->loop) : a->io->name);
    return *data ? 0 : -ENOMEM;
}

static int cmd_help(void *arg, const json_t *req, json_t **data, char *err, size_t errcap)
{
    struct rw_admin *a = arg;
    json_t *arr = json_array();
    for (uint32_t i = 0; arr && i < a->ncmds; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:s}", "command", a->cmds[i].name, "help", a->cmds[i].help));
    *data = arr;
    return arr ? 0 : -ENOMEM;
}

static json_t *reply_error(const char *msg)
{
    return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static json_t *reply_unknown(struct rw_admin *a, const char *name)
{
    struct rw__sbuf b = {0};
    rw__sbuf_printf(&b, "unknown command '%s'; known:", name);
    for (uint32_t i = 0; i < a->ncmds; i++)
        rw__sbuf_printf(&b, "%s %s", i ? "," : "", a->cmds[i].name);
    char *msg = NULL;
    size_t len;
    if (rw__sbuf_take(&b, &msg, &len) < 0)
        return reply_error("unknown command");
    json_t *r = reply_error(msg);
    free(msg);
    return r;
}

json_t *rw__admin_exec(struct rw_admin *a, const json_t *req)
{
    if (!json_is_object(req))
        return reply_error("a request is a JSON object");
    const json_t *cmd = json_object_get(req, "cmd");
    if (!json_is_string(cmd))
        return reply_error("missing \"cmd\" (the command name, a string)");
    struct ad_cmd *c = cmd_find(a, json_string_value(cmd));
    if (!c)
        return reply_unknown(a, json_string_value(cmd));
    char err[512] = "";
    json_t *data = NULL;
    int rc = c->fn(c->arg, req, &data, err, sizeof(err));
    if (rc < 0) {
        json_decref(data);
        if (!err[0])
            snprintf(err, sizeof(err), "%s", rw_strerror(rc));
        return reply_error(err);
    }
    return json_pack("{s:b, s:o}", "ok", 1, "data", data ? data : json_null());
}

char *rw__admin_reply_line(struct rw_admin *a, const char *line, size_t len, size_t *outlen)
{
    json_error_t jerr;
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *reply;
    if (!req) {
        char msg[256];
        snprintf(msg, sizeof(msg), "malformed JSON at column %d: %s", jerr.column, jerr.text);
        reply = reply_error(msg);
    } else {
        reply = rw__admin_exec(a, req);
        json_decref(req);
    }
    char *s = reply ? json_dumps(reply, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(reply);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *out = realloc(s, n + 2);
    if (!out) {
        free(s);
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    *outlen = n + 1;
    return out;
}

/* ---- creation ---- */

static int admin_cfg(struct rw_admin *a, const struct rw_admin_cfg *cfg)
{
    if (cfg->socket_path) {
        if (!*cfg->socket_path ||
            strlen(cfg->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return -EINVAL;
        if (!(a->sock_path = strdup(cfg->socket_path)))
            return -ENOMEM;
    }
    if (cfg->http) {
        int e = rw__admin_parse_addr(cfg->http, &a->http_sa, &a->http_salen);
        if (e < 0)
            return e;
        a->has_http = true;
    }
    if (cfg->http_token && (!*cfg->http_token || !(a->token = strdup(cfg->http_token))))
        return *cfg->http_token ? -ENOMEM : -EINVAL;
    a->version = strdup(cfg->version ? cfg->version : RW_VERSION);
    a->hdrs = calloc(RW_H1_MAX_HEADERS, sizeof(*a->hdrs));
    if (!a->version || !a->hdrs)
        return -ENOMEM;
    a->sock_mode = cfg->socket_mode ? cfg->socket_mode : 0660;
    a->max_line = cfg->max_line ? cfg->max_line : AD_MAX_LINE_DEFAULT;
    a->max_clients = cfg->max_clients ? cfg->max_clients : AD_MAX_CLIENTS_DEFAULT;
    int e = rw_admin_register(a, "version", "the ringwall version and I/O backend", cmd_version, a);
    if (e == 0)
        e = rw_admin_register(a, "help", "the commands this socket knows", cmd_help, a);
    return e;
}

struct rw_admin *rw_admin_new(const struct rw_io_ops *io, const struct rw_admin_cfg *cfg, int *err)
{
    struct rw_admin *a = calloc(1, sizeof(*a));
    if (!a) {
        *err = -ENOMEM;
        return NULL;
    }
    a->io = io;
    a->lis[AD_UNIX] = (struct ad_lis){.a = a, .fd = -1, .kind = AD_UNIX};
    a->lis[AD_HTTP] = (struct ad_lis){.a = a, .fd = -1, .kind = AD_HTTP};
    int e = io && cfg ? admin_cfg(a, cfg) : -EINVAL;
    if (e < 0) {
        rw_admin_free(a);
        *err = e;
        return NULL;
    }
    return a;
}

void rw_admin_set_metrics(struct rw_admin *a, rw_admin_text_fn *fn, void *arg)
{
    a->metrics_fn = fn;
    a->metrics_arg = arg;
}

void rw_admin_set_ready(struct rw_admin *a, rw_admin_ready_fn *fn, void *arg)
{
    a->ready_fn = fn;
    a->ready_arg = arg;
}

/* ---- listeners ---- */

static int mkdir_parents(const char *path)
{
    char *d = strdup(path);
    if (!d)
        return -ENOMEM;
    int rc = 0;
    for (char *p = d + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(d, 0755) < 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        *p = '/';
    }
    free(d);
    return rc;
}

/* A socket file already at the path: live instance, stale file, or not a socket. */
static int unix_check_existing(const struct sockaddr_un *sun)
{
    struct stat st;
    if (lstat(sun->sun_path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode))
        return -EEXIST;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
    int e = errno;
    close(fd);
    if (rc == 0)
        return -EADDRINUSE; /* another ringwall is serving it */
    if (e != ECONNREFUSED && e != ENOENT)
        return -e;
    return unlink(sun->sun_path) < 0 && errno != ENOENT ? -errno : 0;
}

static int unix_listen(struct rw_admin *a)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", a->sock_path);
    int e = mkdir_parents(a->sock_path);
    if (e == 0)
        e = unix_check_existing(&sun);
    if (e < 0)
        return e;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct stat st;
    /* Bound and listening under a temporary name, then renamed into place: the path
     * appears only once connections are accepted (a script that waits for the file and
     * connects at once is never refused), and with its mode already set. */
    struct sockaddr_un tmp = {.sun_family = AF_UNIX};
    int tl = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%ld.tmp", a->sock_path,
                      (long)getpid());
    bool renamed = tl > 0 && (size_t)tl < sizeof(tmp.sun_path);
    const struct sockaddr_un *at = renamed ? &tmp : &sun;
    if (renamed)
        unlink(tmp.sun_path);
    if (bind(fd, (const struct sockaddr *)at, sizeof(*at)) < 0 ||
        chmod(at->sun_path, a->sock_mode) < 0 || listen(fd, 64) < 0 ||
        (renamed && rename(tmp.sun_path, a->sock_path) < 0) || stat(a->sock_path, &st) < 0) {
        e = -errno;
        if (renamed)
            unlink(tmp.sun_path);
        close(fd);
        return e;
    }
    a->sock_ino = st.st_ino;
    a->lis[AD_UNIX].fd = fd;
    return 0;
}

static int http_listen(struct rw_admin *a)
{
    int fd = socket(a->http_sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a->http_sa, a->http_salen) < 0 || listen(fd, 64) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    socklen_t len = sizeof(a->http_sa);
    getsockname(fd, (struct sockaddr *)&a->http_sa, &len);
    a->lis[AD_HTTP].fd = fd;
    return 0;
}

uint16_t rw_admin_http_port(const struct rw_admin *a)
{
    if (!a->has_http)
        return 0;
    if (a->http_sa.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&a->http_sa)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&a->http_sa)->sin_port);
}

static void lis_on_accept(struct rw_op *op, const struct rw_cqe *cqe);

static void lis_arm(struct ad_lis *l)
{
    if (l->fd < 0 || l->armed || l->a->stopping)
        return;
    l->op.cb = lis_on_accept;
    l->op.owner = l;
    int rc = rw_io_accept(l->a->loop, &l->op, l->fd);
    if (rc < 0)
        rw_log(RW_LOG_ERR, "admin: accept: %s", rw_strerror(rc));
    else
        l->armed = true;
}

static void lis_close(struct ad_lis *l)
{
    if (l->armed) {
        rw_io_cancel(l->a->loop, &l->op);
        return; /* closed when the accept op ends */
    }
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

static void lis_on_accept(struct rw_op *op, const struct rw_cqe *cqe)
{
    struct ad_lis *l = op->owner;
    if (!(cqe->flags & RW_CQE_MORE))
        l->armed = false;
    if (cqe->res >= 0)
        rw__admin_conn_accepted(l->a, cqe->res, l->kind);
    else if (cqe->res != -ECANCELED && cqe->res != -EAGAIN && cqe->res != -ECONNABORTED)
        rw_log(RW_LOG_WARN, "admin: accept: %s", rw_strerror(cqe->res));
    if (l->armed)
        return;
    if (l->a->stopping)
        lis_close(l);
    else
        lis_arm(l);
}

/* ---- the thread ---- */

static void admin_begin_stop(struct rw_admin *a)
{
    if (a->stopping)
        return;
    a->stopping = true;
    lis_close(&a->lis[AD_UNIX]);
    lis_close(&a->lis[AD_HTTP]);
    for (struct ad_conn *c = a->conns; c; c = c->next)
        rw__admin_conn_close(c);
}

static void admin_wake(struct rw_loop *l, void *arg)
{
    struct rw_admin *a = arg;
    if (atomic_load(&a->stop_req))
        admin_begin_stop(a);
}

static bool admin_done(const struct rw_admin *a)
{
    return a->stopping && !a->lis[AD_UNIX].armed && !a->lis[AD_HTTP].armed && a->nconns == 0;
}

static void *admin_main(void *arg)
{
    struct rw_admin *a = arg;
    rw_log_set_thread("admin");
    struct rw_loop_cfg lc = {
        .backend = a->io->name, .entries = 256, .buf_count = 64, .buf_size = 16384};
    int err = 0;
    a->loop = rw_loop_new(a->io, &lc, &err);
    if (!a->loop) {
        atomic_store(&a->state, err < 0 ? err : -ENOMEM);
        return NULL;
    }
    rw_loop_set_wake(a->loop, admin_wake, a);
    rw_rcu_register(); /* commands may read published snapshots */
    lis_arm(&a->lis[AD_UNIX]);
    lis_arm(&a->lis[AD_HTTP]);
    atomic_store(&a->state, 1);
    if (atomic_load(&a->stop_req))
        admin_begin_stop(a);
    while (!admin_done(a)) {
        int rc = rw_loop_run_once(a->loop, -1);
        if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EAGAIN) {
            rw_log(RW_LOG_ERR, "admin: loop: %s", rw_strerror(rc));
            break;
        }
    }
    rw_rcu_unregister();
    if (admin_done(a)) {
        rw_loop_free(a->loop); /* on its own thread, like the workers' */
        a->loop = NULL;
    }
    atomic_store(&a->state, 2);
    return NULL;
}

int rw_admin_start(struct rw_admin *a)
{
    if (a->has_thread)
        return -EINVAL;
    int e = a->sock_path ? unix_listen(a) : 0;
    if (e == 0 && a->has_http)
        e = http_listen(a);
    if (e == 0)
        e = -pthread_create(&a->thread, NULL, admin_main, a);
    if (e < 0)
        goto fail;
    a->has_thread = true;
    while ((e = atomic_load(&a->state)) == 0)
        usleep(1000); /* start-up only */
    if (e > 0)
        return 0;
fail:
    rw_admin_stop(a);
    return e;
}

void rw_admin_stop(struct rw_admin *a)
{
    if (a->has_thread) {
        atomic_store(&a->stop_req, true);
        if (atomic_load(&a->state) == 1)
            rw_loop_wake(a->loop);
        pthread_join(a->thread, NULL);
        a->has_thread = false;
    }
    if (a->loop) {
        /* the thread is gone: free what a failed loop run may have left */
        while (a->conns) {
            struct ad_conn *c = a->conns;
            a->conns = c->next;
            close(c->fd);
            free(c->in);
            while (c->out) {
                struct ad_out *o = c->out;
                c->out = o->next;
                free(o);
            }
            free(c);
        }
        a->nconns = 0;
        rw_loop_free(a->loop);
        a->loop = NULL;
    }
    for (int i = 0; i < 2; i++) {
        if (a->lis[i].fd >= 0)
            close(a->lis[i].fd);
        a->lis[i].fd = -1;
        a->lis[i].armed = false;
    }
    struct stat st;
    if (a->sock_ino && stat(a->sock_path, &st) == 0 && st.st_ino == a->sock_ino)
        unlink(a->sock_path);
    a->sock_ino = 0;
}

void rw_admin_free(struct rw_admin *a)
{
    if (!a)
        return;
    rw_admin_stop(a);
    for (uint32_t i = 0; i < a->ncmds; i++) {
        free(a->cmds[i].name);
        free(a->cmds[i].help);
    }
    free(a->cmds);
    free(a->sock_path);
    free(a->token);
    free(a->version);
    free(a->hdrs);
    free(a);
}
