/* SPDX-License-Identifier: MIT */
/* `ringwall ctl`: build a request from the command line, send it, print the reply. */
#include "admin/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "admin/sbuf.h"

#define CTL_REPLY_MAX (256u << 20)

struct ctl_opts {
    const char *socket; /* borrowed: argv or environment */
    bool json;
    int timeout_s;
    const char *cmd; /* borrowed: argv */
    int argi;        /* first KEY=VALUE */
};

static void ctl_usage(FILE *f)
{
    fprintf(f,
            "usage: ringwall ctl [-s SOCKET] [--json] [-t SECONDS] COMMAND [KEY=VALUE...]\n"
            "  -s, --socket PATH   admin socket (default $RINGWALL_SOCKET or %s)\n"
            "      --json          print the reply's data as JSON\n"
            "  -t, --timeout SECS  reply timeout (default 60)\n"
            "  VALUE is JSON when it parses, else a string; a.b=v nests objects.\n"
            "  `ringwall ctl help` lists the commands.\n",
            RW_ADMIN_SOCKET_DEFAULT);
}

/* 0, 1 (help printed), or 2 (usage error). */
static int ctl_parse(int argc, char **argv, struct ctl_opts *o, FILE *err)
{
    const char *env = getenv("RINGWALL_SOCKET");
    *o = (struct ctl_opts){.socket = env && *env ? env : RW_ADMIN_SOCKET_DEFAULT, .timeout_s = 60};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            return 1;
        } else if (!strcmp(a, "-s") || !strcmp(a, "--socket") || !strcmp(a, "-t") ||
                   !strcmp(a, "--timeout")) {
            if (i + 1 >= argc) {
                fprintf(err, "ringwall ctl: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (a[1] == 's' || a[2] == 's') {
                o->socket = v;
            } else {
                char *end;
                long t = strtol(v, &end, 10);
                if (*end || t <= 0 || t > 86400) {
                    fprintf(err, "ringwall ctl: bad timeout '%s'\n", v);
                    return 2;
                }
                o->timeout_s = (int)t;
            }
        } else if (!strncmp(a, "--socket=", 9)) {
            o->socket = a + 9;
        } else if (!strcmp(a, "--")) {
            i++;
            break;
        } else {
            fprintf(err, "ringwall ctl: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (i >= argc || !argv[i][0]) {
        fprintf(err, "ringwall ctl: missing COMMAND\n");
        return 2;
    }
    o->cmd = argv[i];
    o->argi = i + 1;
    return 0;
}

/* Set req[key] = value, creating objects along a dotted key. 0 or -1 (message in err). */
static int ctl_set(json_t *req, const char *arg, FILE *err)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) {
        fprintf(err, "ringwall ctl: argument '%s' is not KEY=VALUE\n", arg);
        return -1;
    }
    json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
    if (!v)
        v = json_string(eq + 1);
    char *key = strndup(arg, (size_t)(eq - arg));
    json_t *obj = req;
    char *seg = key, *dot;
    int rc = 0;
    while (v && key && (dot = strchr(seg, '.'))) {
        *dot = '\0';
        json_t *sub = json_object_get(obj, seg);
        if (!*seg || (sub && !json_is_object(sub)) || !strcmp(seg, "cmd")) {
            rc = -1;
            break;
        }
        if (!sub) {
            sub = json_object();
            json_object_set_new(obj, seg, sub);
        }
        obj = sub;
        seg = dot + 1;
    }
    if (rc == 0 &&
        (!v || !key || !*seg || (obj == req && !strcmp(seg, "cmd")) || json_object_get(obj, seg)))
        rc = -1;
    if (rc == 0)
        json_object_set_new(obj, seg, v);
    else
        json_decref(v);
    if (rc < 0)
        fprintf(err, "ringwall ctl: bad or repeated key in '%s'\n", arg);
    free(key);
    return rc;
}

static int ctl_connect(const struct ctl_opts *o, FILE *err)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(o->socket) >= sizeof(sun.sun_path)) {
        fprintf(err, "ringwall ctl: socket path too long\n");
        return -1;
    }
    strcpy(sun.sun_path, o->socket);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        fprintf(err, "ringwall ctl: cannot connect to %s: %s (is ringwall running?)\n", o->socket,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = o->timeout_s};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Send line and read one reply line into *reply (malloc'd). 0 or -1. */
static int ctl_exchange(int fd, const char *line, size_t len, char **reply, FILE *err)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(err, "ringwall ctl: send: %s\n", strerror(errno));
            return -1;
        }
        off += (size_t)n;
    }
    struct rw__sbuf b = {0};
    char buf[65536];
    while (!b.err && (!b.len || b.p[b.len - 1] != '\n') && b.len < CTL_REPLY_MAX) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(err, "ringwall ctl: %s\n",
                    n == 0            ? "connection closed before the reply"
                    : errno == EAGAIN ? "timed out waiting for the reply"
                                      : strerror(errno));
            free(b.p);
            return -1;
        }
        rw__sbuf_putn(&b, buf, (size_t)n);
    }
    size_t rlen;
    if (rw__sbuf_take(&b, reply, &rlen) < 0) {
        fprintf(err, "ringwall ctl: out of memory\n");
        return -1;
    }
    return 0;
}

/* ---- human output ---- */

static char *cell_text(const json_t *v)
{
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (!v || json_is_null(v))
        return strdup("-");
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* An array of objects: one column per key (in order of first appearance). */
static bool is_table(const json_t *v)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return false;
    size_t i;
    const json_t *row;
    json_array_foreach(v, i, row) if (!json_is_object(row)) return false;
    return true;
}

static void print_table(FILE *out, const json_t *rows)
{
    json_t *cols = json_array();
    size_t i, ncols;
    const json_t *row;
    const char *k;
    json_t *val;
    json_array_foreach(rows, i, row) json_object_foreach((json_t *)row, k, val)
    {
        bool seen = false;
        for (size_t c = 0; c < json_array_size(cols); c++)
            seen = seen || !strcmp(json_string_value(json_array_get(cols, c)), k);
        if (!seen)
            json_array_append_new(cols, json_string(k));
    }
    ncols = json_array_size(cols);
    size_t nrows = json_array_size(rows);
    char **cell = calloc((nrows + 1) * ncols + 1, sizeof(*cell));
    size_t *w = calloc(ncols + 1, sizeof(*w));
    for (size_t c = 0; cell && w && c < ncols; c++) {
        const char *name = json_string_value(json_array_get(cols, c));
        cell[c] = strdup(name);
        for (size_t r = 0; r < nrows; r++)
            cell[(r + 1) * ncols + c] = cell_text(json_object_get(json_array_get(rows, r), name));
        for (size_t r = 0; r <= nrows; r++)
            if (cell[r * ncols + c] && strlen(cell[r * ncols + c]) > w[c])
                w[c] = strlen(cell[r * ncols + c]);
    }
    for (size_t r = 0; cell && w && r <= nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *s = cell[r * ncols + c] ? cell[r * ncols + c] : "?";
            if (c + 1 < ncols)
                fprintf(out, "%-*s  ", (int)w[c], s);
            else
                fprintf(out, "%s", s);
        }
        fputc('\n', out);
    }
    for (size_t n = 0; cell && n < (nrows + 1) * ncols; n++)
        free(cell[n]);
    free(cell);
    free(w);
    json_decref(cols);
}

static void print_pretty(FILE *out, const json_t *data)
{
    if (!data || json_is_null(data)) {
        fprintf(out, "ok\n");
        return;
    }
    if (json_is_string(data)) {
        fprintf(out, "%s\n", json_string_value(data));
        return;
    }
    if (is_table(data)) {
        print_table(out, data);
        return;
    }
    bool sections = json_is_object(data) && json_object_size(data) > 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)data, k, v) sections =
        sections && (is_table(v) || (json_is_array(v) && !json_array_size(v)));
    if (sections) {
        bool first = true;
        json_object_foreach((json_t *)data, k, v)
        {
            fprintf(out, "%s%s:\n", first ? "" : "\n", k);
            first = false;
            if (json_array_size(v))
                print_table(out, v);
            else
                fprintf(out, "(none)\n");
        }
        return;
    }
    char *s = json_dumps(data, JSON_INDENT(2) | JSON_ENCODE_ANY);
    fprintf(out, "%s\n", s ? s : "?");
    free(s);
}

static int ctl_print(const struct ctl_opts *o, const char *reply, FILE *out, FILE *err)
{
    json_error_t jerr;
    json_t *r = json_loads(reply, 0, &jerr);
    json_t *ok = json_object_get(r, "ok");
    if (!json_is_object(r) || !json_is_boolean(ok)) {
        fprintf(err, "ringwall ctl: malformed reply from ringwall\n");
        json_decref(r);
        return 2;
    }
    if (!json_is_true(ok)) {
        const char *msg = json_string_value(json_object_get(r, "error"));
        fprintf(err, "error: %s\n", msg ? msg : "(no message)");
        json_decref(r);
        return 1;
    }
    json_t *data = json_object_get(r, "data");
    if (o->json) {
        char *s = json_dumps(data ? data : json_null(), JSON_INDENT(2) | JSON_ENCODE_ANY);
        fprintf(out, "%s\n", s ? s : "null");
        free(s);
    } else {
        print_pretty(out, data);
    }
    json_decref(r);
    return 0;
}

int rw_admin_ctl_run(int argc, char **argv, FILE *out, FILE *err)
{
    struct ctl_opts o;
    int rc = ctl_parse(argc, argv, &o, err);
    if (rc) {
        ctl_usage(rc == 1 ? out : err);
        return rc == 1 ? 0 : 2;
    }
    json_t *req = json_pack("{s:s}", "cmd", o.cmd);
    for (int i = o.argi; req && i < argc; i++)
        if (ctl_set(req, argv[i], err) < 0) {
            json_decref(req);
            return 2;
        }
    char *line = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    size_t len = line ? strlen(line) : 0;
    char *full = line ? realloc(line, len + 2) : NULL;
    if (!full) {
        free(line);
        fprintf(err, "ringwall ctl: out of memory\n");
        return 2;
    }
    full[len++] = '\n';
    full[len] = '\0';
    int fd = ctl_connect(&o, err);
    char *reply = NULL;
    rc = fd < 0 ? -1 : ctl_exchange(fd, full, len, &reply, err);
    free(full);
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        return 2;
    rc = ctl_print(&o, reply, out, err);
    free(reply);
    fflush(out);
    return rc;
}

int rw_admin_ctl_main(int argc, char **argv)
{
    return rw_admin_ctl_run(argc, argv, stdout, stderr);
}
