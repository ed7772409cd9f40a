/* SPDX-License-Identifier: MIT */
/* admin/server.c + conn.c: the JSON-lines protocol over a real Unix socket. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "admin/admin.h"
#include "core/io.h"
#include "test/unit/admin/tests.h"

const char *rw_test_backend = "epoll";

static int t_echo(void *arg, const json_t *req, json_t **data, char *err, size_t errcap)
{
    *data = json_deep_copy(req);
    return 0;
}

static int t_fail(void *arg, const json_t *req, json_t **data, char *err, size_t errcap)
{
    snprintf(err, errcap, "it failed");
    return -EINVAL;
}

static int t_servers(void *arg, const json_t *req, json_t **data, char *err, size_t errcap)
{
    *data = json_pack("[{s:s, s:s, s:i}, {s:s, s:s, s:i}]", "server", "api-1", "state", "up",
                      "weight", 10, "server", "api-long-name", "state", "drain", "weight", 1);
    return 0;
}

static int t_stats(void *arg, const json_t *req, json_t **data, char *err, size_t errcap)
{
    *data =
        json_pack("{s:[{s:s, s:i}], s:[]}", "listeners", "name", "main", "requests", 42, "routes");
    return 0;
}

static int t_slow(void *arg, const json_t *req, json_t **data, char *err, size_t errcap)
{
    usleep(20000);
    return 0;
}

struct rw_admin *rw_test_admin_start(const struct rw_admin_cfg *cfg, int *err)
{
    const struct rw_io_ops *io = rw_io_select(rw_test_backend, err);
    if (!io)
        return NULL;
    struct rw_admin *a = rw_admin_new(io, cfg, err);
    if (!a)
        return NULL;
    rw_admin_register(a, "echo", "echo the request", t_echo, NULL);
    rw_admin_register(a, "fail", "always fails", t_fail, NULL);
    rw_admin_register(a, "servers", "a table", t_servers, NULL);
    rw_admin_register(a, "stats", "sections", t_stats, NULL);
    rw_admin_register(a, "slow", "20 ms", t_slow, NULL);
    *err = rw_admin_start(a);
    if (*err < 0) {
        rw_admin_free(a);
        return NULL;
    }
    return a;
}

struct fx {
    char *dir;
    char path[256];
    struct rw_admin *a;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->dir = rw_test_tmpdir();
    snprintf(f->path, sizeof(f->path), "%s/run/sub/admin.sock", f->dir); /* parents created */
    struct rw_admin_cfg cfg = {.socket_path = f->path,
                               .socket_mode = 0600,
                               .max_line = 1024,
                               .max_clients = 16,
                               .version = "9.9.9"};
    int err = 0;
    f->a = rw_test_admin_start(&cfg, &err);
    if (!f->a) {
        fprintf(stderr, "admin start: %d\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    rw_admin_free(f->a);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f->dir);
    free(f);
    return 0;
}

/* Send one line and parse the reply line. */
static json_t *ask(int fd, const char *line)
{
    char buf[65536];
    if (rw_test_send(fd, line, strlen(line)) < 0 || rw_test_read_line(fd, buf, sizeof(buf)) < 0)
        return NULL;
    return json_loads(buf, 0, NULL);
}

static void assert_error_has(json_t *r, const char *needle)
{
    assert_non_null(r);
    assert_true(json_is_false(json_object_get(r, "ok")));
    const char *e = json_string_value(json_object_get(r, "error"));
    assert_non_null(e);
    if (!strstr(e, needle))
        fail_msg("error '%s' lacks '%s'", e, needle);
    json_decref(r);
}

static void good_commands(void **state)
{
    struct fx *f = *state;
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    int fd = rw_test_unix_connect(f->path);
    assert_true(fd >= 0);
    json_t *r = ask(fd, "{\"cmd\": \"version\"}\n");
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_t *d = json_object_get(r, "data");
    assert_string_equal(json_string_value(json_object_get(d, "version")), "9.9.9");
    assert_string_equal(json_string_value(json_object_get(d, "io_backend")), rw_test_backend);
    json_decref(r);
    r = ask(fd, "{\"cmd\":\"echo\",\"upstream\":\"api\",\"n\":[1,2]}\r\n");
    d = json_object_get(r, "data");
    assert_string_equal(json_string_value(json_object_get(d, "upstream")), "api");
    assert_int_equal(json_array_size(json_object_get(d, "n")), 2);
    json_decref(r);
    r = ask(fd, "{\"cmd\":\"slow\"}\n");
    assert_true(json_is_null(json_object_get(r, "data")));
    json_decref(r);
    assert_error_has(ask(fd, "{\"cmd\":\"fail\"}\n"), "it failed");
    r = ask(fd, "{\"cmd\":\"help\"}\n");
    assert_true(json_array_size(json_object_get(r, "data")) >= 7);
    json_decref(r);
    close(fd);
}

static void unknown_and_malformed_keep_serving(void **state)
{
    struct fx *f = *state;
    int fd = rw_test_unix_connect(f->path);
    assert_true(fd >= 0);
    assert_error_has(ask(fd, "{\"cmd\":\"nope\"}\n"), "unknown command 'nope'");
    assert_error_has(ask(fd, "{\"cmd\":\"nope\"}\n"), "echo");
    assert_error_has(ask(fd, "{\"cmd\": \n"), "malformed JSON");
    assert_error_has(ask(fd, "[1,2]\n"), "JSON object");
    assert_error_has(ask(fd, "{\"command\":\"version\"}\n"), "missing \"cmd\"");
    assert_error_has(ask(fd, "{\"cmd\":\"echo\",\"a\":1,\"a\":2}\n"), "malformed");
    assert_error_has(ask(fd, "\xff\xfe\n"), "malformed");
    json_t *r = ask(fd, "\n\n{\"cmd\":\"version\"}\n"); /* blank lines are skipped */
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    close(fd);
}

static void long_line_error_then_serves(void **state)
{
    struct fx *f = *state;
    int fd = rw_test_unix_connect(f->path);
    assert_true(fd >= 0);
    size_t n = 100000;
    char *big = malloc(n + 64);
    memset(big, 'x', n);
    strcpy(big + n, "\n{\"cmd\":\"version\"}\n");
    assert_int_equal(rw_test_send(fd, big, strlen(big)), 0);
    char buf[4096];
    assert_true(rw_test_read_line(fd, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "longer than 1024 bytes"));
    assert_true(rw_test_read_line(fd, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "\"ok\":true"));
    /* exactly max_line is fine */
    memset(big, ' ', 1024);
    memcpy(big, "{\"cmd\":\"version\"}", 17);
    big[1024] = '\n';
    assert_int_equal(rw_test_send(fd, big, 1025), 0);
    assert_true(rw_test_read_line(fd, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "\"ok\":true"));
    free(big);
    close(fd);
}

static void pipelined_in_order(void **state)
{
    struct fx *f = *state;
    int fd = rw_test_unix_connect(f->path);
    const char *three =
        "{\"cmd\":\"echo\",\"i\":1}\n{\"cmd\":\"nope\"}\n{\"cmd\":\"echo\",\"i\":3}\n";
    assert_int_equal(rw_test_send(fd, three, strlen(three)), 0);
    char buf[4096];
    for (int i = 1; i <= 3; i++) {
        assert_true(rw_test_read_line(fd, buf, sizeof(buf)) > 0);
        json_t *r = json_loads(buf, 0, NULL);
        if (i == 2)
            assert_true(json_is_false(json_object_get(r, "ok")));
        else
            assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "data"), "i")),
                             i);
        json_decref(r);
    }
    shutdown(fd, SHUT_WR); /* server closes after answering */
    assert_int_equal(recv(fd, buf, 1, 0), 0);
    close(fd);
}

struct cl {
    const char *path;
    int id;
    int ok;
};

static void *client_main(void *arg)
{
    struct cl *c = arg;
    int fd = rw_test_unix_connect(c->path);
    if (fd < 0)
        return NULL;
    char line[128], buf[4096];
    for (int i = 0; i < 200; i++) {
        snprintf(line, sizeof(line), "{\"cmd\":\"echo\",\"c\":%d,\"i\":%d}\n", c->id, i);
        if (rw_test_send(fd, line, strlen(line)) < 0 || rw_test_read_line(fd, buf, sizeof(buf)) < 0)
            break;
        snprintf(line, sizeof(line), "\"c\":%d,\"i\":%d}", c->id, i);
        if (strstr(buf, line))
            c->ok++;
    }
    close(fd);
    return NULL;
}

static void concurrent_clients(void **state)
{
    struct fx *f = *state;
    enum { N = 8 };
    struct cl c[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        c[i] = (struct cl){f->path, i, 0};
        pthread_create(&t[i], NULL, client_main, &c[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].ok, 200);
    }
}

static void client_limit(void **state)
{
    struct fx *f = *state;
    int fds[16];
    char buf[256];
    for (int i = 0; i < 16; i++) {
        fds[i] = rw_test_unix_connect(f->path);
        assert_true(fds[i] >= 0);
        json_t *r = ask(fds[i], "{\"cmd\":\"version\"}\n"); /* all 16 are served */
        assert_true(json_is_true(json_object_get(r, "ok")));
        json_decref(r);
    }
    int extra = rw_test_unix_connect(f->path);
    assert_true(rw_test_read_line(extra, buf, sizeof(buf)) > 0);
    assert_non_null(strstr(buf, "too many"));
    close(extra);
    for (int i = 0; i < 16; i++)
        close(fds[i]);
}

static void second_instance_and_stale_socket(void **state)
{
    struct fx *f = *state;
    struct rw_admin_cfg cfg = {.socket_path = f->path};
    int err = 0;
    assert_null(rw_test_admin_start(&cfg, &err));
    assert_int_equal(err, -EADDRINUSE);
    /* the first one still serves */
    int fd = rw_test_unix_connect(f->path);
    assert_true(fd >= 0);
    close(fd);
    /* a stale socket file (nobody listening) is replaced */
    char stale[300];
    snprintf(stale, sizeof(stale), "%s/stale.sock", f->dir);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    assert_true(strlen(stale) < sizeof(sun.sun_path));
    memcpy(sun.sun_path, stale, strlen(stale) + 1);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
    close(s);
    cfg.socket_path = stale;
    struct rw_admin *b = rw_test_admin_start(&cfg, &err);
    assert_non_null(b);
    fd = rw_test_unix_connect(stale);
    json_t *r = ask(fd, "{\"cmd\":\"version\"}\n");
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_decref(r);
    close(fd);
    rw_admin_free(b);
    assert_int_equal(access(stale, F_OK), -1); /* removed on stop */
    /* a regular file at the path is never deleted */
    FILE *x = fopen(stale, "w");
    fclose(x);
    assert_null(rw_test_admin_start(&cfg, &err));
    assert_int_equal(err, -EEXIST);
    assert_int_equal(access(stale, F_OK), 0);
}

int rw_test_server(const char *backend)
{
    rw_test_backend = backend;
    const struct CMUnitTest t[] = {
        cmocka_unit_test_setup_teardown(good_commands, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(unknown_and_malformed_keep_serving, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(long_line_error_then_serves, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(pipelined_in_order, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(concurrent_clients, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(client_limit, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(second_instance_and_stale_socket, fx_setup, fx_teardown),
    };
    char name[64];
    snprintf(name, sizeof(name), "admin/server (%s)", backend);
    return cmocka_run_group_tests_name(name, t, NULL, NULL);
}
