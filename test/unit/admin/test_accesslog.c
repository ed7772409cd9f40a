/* SPDX-License-Identifier: MIT */
/* admin/accesslog.c: rings, drops, reopen, write errors, whole lines under concurrency. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "admin/accesslog.h"
#include "test/unit/admin/tests.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *p = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len + 4096 > cap)
            p = realloc(p, cap = cap * 2 + 8192);
        size_t n = fread(p + *len, 1, cap - *len - 1, f);
        if (!n)
            break;
        *len += n;
    }
    p[*len] = '\0';
    fclose(f);
    return p;
}

static size_t count_char(const char *p, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == c;
    return k;
}

static void writes_records_to_file(void **state)
{
    char *dir = rw_test_tmpdir(), path[512];
    snprintf(path, sizeof(path), "%s/access.log", dir);
    struct rw_accesslog_cfg cfg = {.path = path, .format = RW_ACCESSLOG_JSON, .nworkers = 2};
    int err = 0;
    struct rw_accesslog *l = rw_accesslog_new(&cfg, &err);
    assert_non_null(l);
    struct rw_access_rec r = {.method = "GET",
                              .method_len = 3,
                              .path = "/p",
                              .path_len = 2,
                              .status = 204,
                              .upstream_us = -1,
                              .request_id = "id"};
    for (int i = 0; i < 10; i++)
        assert_int_equal(rw_accesslog_write(l, (uint32_t)(i & 1), &r), 0);
    rw_accesslog_flush(l);
    size_t len;
    char *s = slurp(path, &len);
    assert_non_null(s);
    assert_int_equal(count_char(s, len, '\n'), 10);
    char *line = strtok(s, "\n");
    for (; line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "status")), 204);
        json_decref(j);
    }
    struct rw_accesslog_stats st;
    rw_accesslog_get_stats(l, &st);
    assert_int_equal(st.written, 10);
    assert_int_equal(st.dropped_full, 0);
    free(s);
    rw_accesslog_free(l);
    unlink(path);
    rmdir(dir);
    free(dir);
}

/* A FIFO nobody reads: the log thread blocks in write, rings fill, writers drop. */
static void full_ring_drops_and_counts(void **state)
{
    char *dir = rw_test_tmpdir(), path[512];
    snprintf(path, sizeof(path), "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    int rfd = open(path, O_RDONLY | O_NONBLOCK);
    assert_true(rfd >= 0);
    struct rw_accesslog_cfg cfg = {.path = path, .nworkers = 1, .ring_bytes = 4096};
    int err = 0;
    struct rw_accesslog *l = rw_accesslog_new(&cfg, &err);
    assert_non_null(l);
    char line[100];
    memset(line, 'x', sizeof(line));
    line[99] = '\n';
    int ok = 0, dropped = 0;
    const int total = 20000; /* 2 MB: far more than the pipe (64 KiB) and the ring hold */
    for (int i = 0; i < total; i++) {
        int rc = rw_accesslog_write_line(l, 0, line, sizeof(line));
        if (rc == 0)
            ok++;
        else if (rc == -ENOBUFS)
            dropped++;
    }
    assert_true(dropped > 0);
    struct rw_accesslog_stats st;
    rw_accesslog_get_stats(l, &st);
    assert_int_equal(st.dropped_full, (uint64_t)dropped);
    /* drain the FIFO until every accepted line came out */
    int fl = fcntl(rfd, F_GETFL);
    fcntl(rfd, F_SETFL, fl & ~O_NONBLOCK);
    size_t got = 0, bytes = 0;
    char buf[65536];
    while (got < (size_t)ok) {
        ssize_t n = read(rfd, buf, sizeof(buf));
        assert_true(n > 0);
        got += count_char(buf, (size_t)n, '\n');
        bytes += (size_t)n;
    }
    assert_int_equal(got, (size_t)ok);
    assert_int_equal(bytes, (size_t)ok * sizeof(line)); /* whole lines only */
    rw_accesslog_free(l);
    close(rfd);
    unlink(path);
    rmdir(dir);
    free(dir);
}

static void reopen_after_rename(void **state)
{
    char *dir = rw_test_tmpdir(), path[512], old[600];
    snprintf(path, sizeof(path), "%s/access.log", dir);
    snprintf(old, sizeof(old), "%s.1", path);
    struct rw_accesslog_cfg cfg = {.path = path, .format = RW_ACCESSLOG_COMBINED, .nworkers = 1};
    int err = 0;
    struct rw_accesslog *l = rw_accesslog_new(&cfg, &err);
    assert_non_null(l);
    assert_int_equal(rw_accesslog_write_line(l, 0, "before\n", 7), 0);
    rw_accesslog_flush(l);
    assert_int_equal(rename(path, old), 0);
    assert_int_equal(rw_accesslog_write_line(l, 0, "still-old", 9), 0); /* newline added */
    rw_accesslog_reopen(l);
    rw_accesslog_flush(l);
    assert_int_equal(rw_accesslog_write_line(l, 0, "after\n", 6), 0);
    rw_accesslog_flush(l);
    size_t n1, n2;
    char *a = slurp(old, &n1), *b = slurp(path, &n2);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, "before\nstill-old\n");
    assert_string_equal(b, "after\n");
    struct rw_accesslog_stats st;
    rw_accesslog_get_stats(l, &st);
    assert_int_equal(st.reopens, 1);
    assert_int_equal(st.written, 3);
    /* a reopen that fails keeps the old file */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(chmod(dir, 0500), 0);
    rw_accesslog_reopen(l);
    rw_accesslog_flush(l);
    rw_accesslog_get_stats(l, &st);
    chmod(dir, 0700);
    if (geteuid() != 0)
        assert_int_equal(st.reopen_errors, 1);
    free(a);
    free(b);
    rw_accesslog_free(l);
    unlink(path);
    unlink(old);
    rmdir(dir);
    free(dir);
}

static void write_errors_drop_and_count(void **state)
{
    struct rw_accesslog_cfg cfg = {.path = "/dev/full", .nworkers = 1};
    int err = 0;
    struct rw_accesslog *l = rw_accesslog_new(&cfg, &err);
    assert_non_null(l);
    for (int i = 0; i < 5; i++)
        assert_int_equal(rw_accesslog_write_line(l, 0, "line\n", 5), 0);
    rw_accesslog_flush(l);
    struct rw_accesslog_stats st;
    rw_accesslog_get_stats(l, &st);
    assert_int_equal(st.dropped_io, 5);
    assert_int_equal(st.written, 0);
    rw_accesslog_free(l);
    int e = 0;
    struct rw_accesslog_cfg bad = {.path = "/nonexistent-dir/x.log", .nworkers = 1};
    assert_null(rw_accesslog_new(&bad, &e));
    assert_int_equal(e, -ENOENT);
}

#define PER_WRITER 50000

struct alw {
    struct rw_accesslog *l;
    uint32_t id;
    int ok;
};

static void *alw_main(void *arg)
{
    struct alw *w = arg;
    char line[256], dots[200];
    memset(dots, '.', sizeof(dots));
    for (int i = 0; i < PER_WRITER; i++) {
        int n = snprintf(line, sizeof(line), "w%u %d %.*s\n", w->id, i, 40 + (i % 150), dots);
        if (rw_accesslog_write_line(w->l, w->id, line, (size_t)n) == 0)
            w->ok++;
    }
    return NULL;
}

static void two_writers_whole_lines(void **state)
{
    char *dir = rw_test_tmpdir(), path[512];
    snprintf(path, sizeof(path), "%s/access.log", dir);
    struct rw_accesslog_cfg cfg = {.path = path, .nworkers = 2, .ring_bytes = 65536, .flush_ms = 5};
    int err = 0;
    struct rw_accesslog *l = rw_accesslog_new(&cfg, &err);
    assert_non_null(l);
    struct alw w[2] = {{l, 0, 0}, {l, 1, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, alw_main, &w[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    rw_accesslog_flush(l);
    struct rw_accesslog_stats st;
    rw_accesslog_get_stats(l, &st);
    assert_int_equal(st.written + st.dropped_full, 2 * PER_WRITER);
    assert_int_equal(st.written, (uint64_t)(w[0].ok + w[1].ok));
    size_t len;
    char *s = slurp(path, &len);
    int last[2] = {-1, -1};
    size_t lines = 0;
    for (char *save = NULL, *line = strtok_r(s, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        unsigned id;
        int seq, dots = 0;
        assert_int_equal(sscanf(line, "w%u %d %n", &id, &seq, &dots) >= 2, 1);
        assert_true(id < 2);
        assert_true(seq > last[id]); /* per writer in order, nothing torn or mixed */
        last[id] = seq;
        const char *d = strchr(strchr(line, ' ') + 1, ' ') + 1;
        assert_int_equal(strspn(d, "."), 40 + (seq % 150));
        assert_int_equal(strlen(d), 40 + (seq % 150));
        lines++;
    }
    assert_int_equal(lines, st.written);
    print_message("accesslog: 2 writers x %d lines: %" PRIu64 " written, %" PRIu64 " dropped\n",
                  PER_WRITER, st.written, st.dropped_full);
    free(s);
    rw_accesslog_free(l);
    unlink(path);
    rmdir(dir);
    free(dir);
}

int rw_test_accesslog(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(writes_records_to_file),  cmocka_unit_test(full_ring_drops_and_counts),
        cmocka_unit_test(reopen_after_rename),     cmocka_unit_test(write_errors_drop_and_count),
        cmocka_unit_test(two_writers_whole_lines),
    };
    return cmocka_run_group_tests_name("admin/accesslog", t, NULL, NULL);
}
