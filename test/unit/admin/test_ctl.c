/* SPDX-License-Identifier: MIT */
/* admin/ctl.c: `ringwall ctl` argument parsing, output and exit codes against a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "admin/admin.h"
#include "test/unit/admin/tests.h"

struct cfx {
    char *dir;
    char path[256];
    struct rw_admin *a;
};

static int cfx_setup(void **state)
{
    struct cfx *f = calloc(1, sizeof(*f));
    f->dir = rw_test_tmpdir();
    snprintf(f->path, sizeof(f->path), "%s/admin.sock", f->dir);
    struct rw_admin_cfg cfg = {.socket_path = f->path};
    int err = 0;
    f->a = rw_test_admin_start(&cfg, &err);
    *state = f;
    return f->a ? 0 : -1;
}

static int cfx_teardown(void **state)
{
    struct cfx *f = *state;
    rw_admin_free(f->a);
    rmdir(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

struct run {
    int rc;
    char *out; /* owned */
    char *err; /* owned */
};

/* Run ctl with the test socket first, then args (NULL-terminated). */
static struct run ctl(const char *sock, ...)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "ctl";
    if (sock) {
        argv[argc++] = "-s";
        argv[argc++] = (char *)sock;
    }
    va_list ap;
    va_start(ap, sock);
    for (char *a; (a = va_arg(ap, char *));)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    struct run r = {0};
    size_t no, ne;
    FILE *out = open_memstream(&r.out, &no), *err = open_memstream(&r.err, &ne);
    r.rc = rw_admin_ctl_run(argc, argv, out, err);
    fclose(out);
    fclose(err);
    return r;
}

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

static void json_args_become_the_request(void **state)
{
    struct cfx *f = *state;
    struct run r = ctl(f->path, "--json", "echo", "upstream=api", "n=3", "on=true", "z=null",
                       "server.name=api-3", "server.weight=2", "s=not json", "arr=[1,2]", NULL);
    assert_int_equal(r.rc, 0);
    json_t *j = json_loads(r.out, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "cmd")), "echo");
    assert_string_equal(json_string_value(json_object_get(j, "upstream")), "api");
    assert_int_equal(json_integer_value(json_object_get(j, "n")), 3);
    assert_true(json_is_true(json_object_get(j, "on")));
    assert_true(json_is_null(json_object_get(j, "z")));
    json_t *s = json_object_get(j, "server");
    assert_string_equal(json_string_value(json_object_get(s, "name")), "api-3");
    assert_int_equal(json_integer_value(json_object_get(s, "weight")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "s")), "not json");
    assert_int_equal(json_array_size(json_object_get(j, "arr")), 2);
    json_decref(j);
    run_free(&r);
}

static void tables_for_people(void **state)
{
    struct cfx *f = *state;
    struct run r = ctl(f->path, "servers", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "server         state  weight\n"
                               "api-1          up     10\n"
                               "api-long-name  drain  1\n");
    run_free(&r);
    r = ctl(f->path, "stats", NULL);
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "listeners:\nname  requests\nmain  42\n\nroutes:\n(none)\n");
    run_free(&r);
    r = ctl(f->path, "slow", NULL);
    assert_string_equal(r.out, "ok\n");
    run_free(&r);
    r = ctl(f->path, "version", NULL);
    assert_non_null(strstr(r.out, "\"version\": "));
    run_free(&r);
}

static void exit_codes(void **state)
{
    struct cfx *f = *state;
    struct run r = ctl(f->path, "fail", NULL);
    assert_int_equal(r.rc, 1);
    assert_string_equal(r.err, "error: it failed\n");
    run_free(&r);
    r = ctl(f->path, "nope", NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "unknown command"));
    run_free(&r);
    r = ctl(f->path, NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "missing COMMAND"));
    run_free(&r);
    r = ctl(f->path, "--bogus", "stats", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = ctl(f->path, "echo", "novalue", NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "not KEY=VALUE"));
    run_free(&r);
    r = ctl(f->path, "echo", "a=1", "a.b=2", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = ctl(f->path, "echo", "cmd=x", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    r = ctl("/nonexistent/admin.sock", "stats", NULL);
    assert_int_equal(r.rc, 2);
    assert_non_null(strstr(r.err, "cannot connect to /nonexistent/admin.sock"));
    run_free(&r);
    r = ctl(NULL, "--help", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "usage: ringwall ctl"));
    run_free(&r);
    r = ctl(f->path, "-t", "0", "stats", NULL);
    assert_int_equal(r.rc, 2);
    run_free(&r);
    setenv("RINGWALL_SOCKET", f->path, 1);
    r = ctl(NULL, "--json", "slow", NULL);
    unsetenv("RINGWALL_SOCKET");
    assert_int_equal(r.rc, 0);
    assert_string_equal(r.out, "null\n");
    run_free(&r);
}

int rw_test_ctl(const char *backend)
{
    rw_test_backend = backend;
    const struct CMUnitTest t[] = {
        cmocka_unit_test_setup_teardown(json_args_become_the_request, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(tables_for_people, cfx_setup, cfx_teardown),
        cmocka_unit_test_setup_teardown(exit_codes, cfx_setup, cfx_teardown),
    };
    char name[64];
    snprintf(name, sizeof(name), "admin/ctl (%s)", backend);
    return cmocka_run_group_tests_name(name, t, NULL, NULL);
}
