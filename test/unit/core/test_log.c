/* SPDX-License-Identifier: MIT */
/* Tests for core/log.c: rw_strerror, the line format, rate limiting and the log thread. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "test/unit/core/tests.h"

static void log_strerror_values(void **state)
{
    assert_string_equal(rw_strerror(-ENOENT), "No such file or directory");
    assert_string_equal(rw_strerror(ENOENT), "No such file or directory");
    assert_string_equal(rw_strerror(-ECONNREFUSED), "Connection refused");
    assert_string_equal(rw_strerror(-ENOBUFS), "No buffer space available");
    assert_string_equal(rw_strerror(0), "Success");
    assert_string_equal(rw_strerror(-99999), "Unknown error");
    assert_string_equal(rw_strerror(99999), "Unknown error");
}

/* Capture what rw_log writes to stderr while fn runs. */
static size_t log_capture(char *out, size_t cap, void (*fn)(void))
{
    int p[2], saved = dup(STDERR_FILENO);
    ssize_t n;

    assert_int_equal(pipe(p), 0);
    dup2(p[1], STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(p[1]);
    n = read(p[0], out, cap - 1);
    close(p[0]);
    out[n > 0 ? n : 0] = '\0';
    return n > 0 ? (size_t)n : 0;
}

static void log_two_lines(void)
{
    rw_log_set_thread("w0");
    rw_log_set_level(RW_LOG_WARN);
    rw_log(RW_LOG_INFO, "dropped %d", 1);
    rw_log(RW_LOG_WARN, "kept %d", 2);
    rw_log_set_level(RW_LOG_INFO);
    rw_log(RW_LOG_INFO, "hello %s", "world");
    rw_log_set_thread(NULL);
}

static void log_line_format(void **state)
{
    char buf[512];
    regex_t re;
    const char *pat = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z warn "
                      "\\[w0\\] kept 2\n"
                      "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z info "
                      "\\[w0\\] hello world\n$";

    log_capture(buf, sizeof(buf), log_two_lines);
    assert_int_equal(regcomp(&re, pat, REG_EXTENDED), 0);
    if (regexec(&re, buf, 0, NULL, 0) != 0)
        fail_msg("unexpected log output: '%s'", buf);
    regfree(&re);
}

static void log_long_line(void)
{
    char big[5000];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    rw_log(RW_LOG_ERR, "%s", big);
}

static void log_truncates_long_lines(void **state)
{
    char buf[8192];
    size_t n = log_capture(buf, sizeof(buf), log_long_line);

    assert_true(n > 100 && n < 4096);
    assert_int_equal(buf[n - 1], '\n');
    assert_null(memchr(buf, '\n', n - 1));
}

/* One call site logging 50 times in a burst, then once more after its window. */
static void log_flood(void)
{
    rw_log_set_burst(3);
    for (int i = 0; i < 50; i++)
        rw_log(RW_LOG_ERR, "backend %d failed", i);
    sleep(2); /* the next window */
    rw_log(RW_LOG_ERR, "backend %d failed", 99);
    rw_log(RW_LOG_ERR, "another site"); /* other call sites are not affected */
    rw_log_set_burst(10);
}

static void log_rate_limits_repeats(void **state)
{
    char buf[8192];
    log_capture(buf, sizeof(buf), log_flood);
    unsigned lines = 0;
    for (const char *p = buf; (p = strstr(p, "backend ")); p++)
        lines++;
    /* 3 per second pass (6 if the burst straddled a second), plus the late one */
    assert_true(lines >= 4 && lines <= 7);
    const char *late = strstr(buf, "backend 99 failed [");
    assert_non_null(late);
    unsigned dropped = 0;
    assert_int_equal(sscanf(late, "backend 99 failed [%u similar messages suppressed]", &dropped),
                     1);
    assert_int_equal(dropped + lines - 1, 50);
    assert_non_null(strstr(buf, "another site\n")); /* its own site: not suppressed */
}

/* The log thread's tests send stderr into a pipe: read by a thread of the test (the
 * "reader"), or by nobody and full (blocked), until the reader starts. */
struct sink {
    int saved;  /* the real stderr; -1 when stderr is not redirected */
    int rfd;    /* owned: read end */
    char *text; /* owned: everything read, NUL-terminated */
    size_t len, cap;
    bool reading;
    pthread_t reader;
};
static struct sink log_sink = {.saved = -1, .rfd = -1};

static void *sink_read(void *arg)
{
    struct sink *k = arg;
    for (;;) {
        if (k->cap - k->len < 65536) {
            k->cap = k->cap ? 2 * k->cap : 1 << 20;
            k->text = realloc(k->text, k->cap);
            assert_non_null(k->text);
        }
        ssize_t n = read(k->rfd, k->text + k->len, k->cap - k->len - 1);
        if (n <= 0)
            break;
        k->len += (size_t)n;
    }
    k->text[k->len] = '\0';
    return NULL;
}

/* stderr becomes a pipe; <blocked>: a full one (of 'F's) until sink_start_reader. */
static void sink_open(struct sink *k, bool blocked)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    if (blocked) {
        fcntl(p[1], F_SETPIPE_SZ, 4096); /* the smallest; the filler shrinks with it */
        fcntl(p[1], F_SETFL, O_NONBLOCK);
        while (write(p[1], "F", 1) == 1)
            ;
        fcntl(p[1], F_SETFL, 0); /* stderr blocks, as a full journald pipe does */
    }
    *k = (struct sink){.saved = dup(STDERR_FILENO), .rfd = p[0]};
    dup2(p[1], STDERR_FILENO);
    close(p[1]);
}

static void sink_start_reader(struct sink *k)
{
    assert_int_equal(pthread_create(&k->reader, NULL, sink_read, k), 0);
    k->reading = true;
}

/* Restores stderr (stop the log thread first) and returns what was read, filler
 * skipped. Safe to call twice (teardown). */
static const char *sink_close(struct sink *k)
{
    if (k->saved < 0)
        return k->text ? k->text : "";
    dup2(k->saved, STDERR_FILENO); /* drops the last write end: the reader sees EOF */
    close(k->saved);
    k->saved = -1;
    if (!k->reading)
        sink_start_reader(k);
    pthread_join(k->reader, NULL);
    close(k->rfd);
    k->rfd = -1;
    return k->text + strspn(k->text, "F");
}

static int log_thread_teardown(void **state)
{
    rw_log_stop();
    sink_close(&log_sink);
    free(log_sink.text);
    log_sink = (struct sink){.saved = -1, .rfd = -1};
    rw_log_set_burst(10);
    return 0;
}

#define WRITERS 8
#define WRITER_LINES 100
static const char *const writer_names[WRITERS] = {"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"};

static int writer_payload(int t, int i)
{
    return (i * 37 + t * 11) % 1500 + 1; /* long lines too: writev may write part of a batch */
}

static void *writer_main(void *arg)
{
    int t = (int)(intptr_t)arg;
    char payload[1600];
    memset(payload, 'a' + t, sizeof(payload));
    rw_log_set_thread(writer_names[t]);
    for (int i = 0; i < WRITER_LINES; i++)
        rw_log(RW_LOG_INFO, "t%d n%d %.*s", t, i, writer_payload(t, i), payload);
    return NULL;
}

/* Every line of a writer comes out once, whole and in its order. */
static void check_writers(const char *out)
{
    int next[WRITERS] = {0};
    regex_t re;
    regmatch_t m[5];
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
                             "info \\[t([0-7])\\] t([0-7]) n([0-9]+) ([a-h]+)$",
                             REG_EXTENDED | REG_NEWLINE),
                     0);
    for (const char *p = out; *p; p = strchr(p, '\n') + 1) {
        assert_non_null(strchr(p, '\n')); /* the output ends with a whole line */
        if (regexec(&re, p, 5, m, 0) != 0 || m[0].rm_so != 0)
            fail_msg("torn or interleaved line: '%.200s'", p);
        int t = p[m[1].rm_so] - '0', i = atoi(p + m[3].rm_so);
        assert_int_equal(p[m[2].rm_so] - '0', t);
        assert_int_equal(i, next[t]++);
        assert_int_equal(m[4].rm_eo - m[4].rm_so, writer_payload(t, i));
        for (regoff_t k = m[4].rm_so; k < m[4].rm_eo; k++)
            assert_int_equal(p[k], 'a' + t);
    }
    for (int t = 0; t < WRITERS; t++)
        assert_int_equal(next[t], WRITER_LINES);
    regfree(&re);
}

static void log_thread_many_writers(void **state)
{
    pthread_t th[WRITERS];
    rw_log_set_burst(0);
    sink_open(&log_sink, false);
    sink_start_reader(&log_sink);
    assert_int_equal(rw_log_start(WRITERS * WRITER_LINES), 0); /* big enough: nothing dropped */
    assert_int_equal(rw_log_start(0), -EALREADY);
    for (int t = 0; t < WRITERS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, writer_main, (void *)(intptr_t)t), 0);
    for (int t = 0; t < WRITERS; t++)
        pthread_join(th[t], NULL);
    rw_log_stop();
    check_writers(sink_close(&log_sink));
}

/* The sum of the "[N lines dropped: log queue full]" notes and report lines in out. */
static unsigned long dropped_reported(const char *out)
{
    unsigned long sum = 0;
    for (const char *p = out; (p = strstr(p, " lines dropped: log queue full")); p++) {
        const char *d = p;
        while (d > out && d[-1] >= '0' && d[-1] <= '9')
            d--;
        sum += strtoul(d, NULL, 10);
    }
    return sum;
}

static unsigned count(const char *out, const char *needle)
{
    unsigned n = 0;
    for (const char *p = out; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void log_thread_full_queue_drops(void **state)
{
    rw_log_set_burst(0);
    sink_open(&log_sink, true);
    assert_int_equal(rw_log_start(8), 0);
    for (int i = 0; i < 100; i++)
        rw_log(RW_LOG_ERR, "line %d", i);
    /* stderr is full, so no slot came back: 8 queued, 92 dropped */
    sink_start_reader(&log_sink);
    rw_log_flush();
    rw_log(RW_LOG_ERR, "after");
    rw_log_stop();
    const char *out = sink_close(&log_sink);
    assert_int_equal(count(out, "] line "), 8);
    assert_non_null(strstr(out, "] line 7\n"));
    assert_non_null(strstr(out, "] after [92 lines dropped: log queue full]\n"));
}

#define BLOCKED_WRITERS 4
#define BLOCKED_LINES 2000

static void *blocked_writer(void *arg)
{
    rw_log_set_thread(writer_names[(intptr_t)arg]);
    for (int i = 0; i < BLOCKED_LINES; i++)
        rw_log(RW_LOG_WARN, "w%d n%d", (int)(intptr_t)arg, i);
    return NULL;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writers never wait for a stderr nobody reads; what was queued comes out later. */
static void log_thread_blocked_stderr(void **state)
{
    pthread_t th[BLOCKED_WRITERS];
    rw_log_set_burst(0);
    sink_open(&log_sink, true);
    assert_int_equal(rw_log_start(16), 0);
    double t0 = now_s();
    for (int t = 0; t < BLOCKED_WRITERS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, blocked_writer, (void *)(intptr_t)t), 0);
    for (int t = 0; t < BLOCKED_WRITERS; t++)
        pthread_join(th[t], NULL);
    double took = now_s() - t0;
    assert_true(took < 5.0); /* about a millisecond; a blocking write never returns */
    sink_start_reader(&log_sink);
    rw_log_flush();
    rw_log(RW_LOG_WARN, "drained");
    rw_log_stop();
    const char *out = sink_close(&log_sink);
    unsigned written = count(out, "] w");
    assert_int_equal(written, 16);
    assert_int_equal(written + dropped_reported(out), BLOCKED_WRITERS * BLOCKED_LINES);
    assert_non_null(strstr(out, "] drained ["));
}

/* Reads what the pipe holds now, without waiting. */
static const char *sink_peek(struct sink *k, char *buf, size_t cap)
{
    fcntl(k->rfd, F_SETFL, O_NONBLOCK);
    ssize_t n = read(k->rfd, buf, cap - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void log_thread_flush_and_stop(void **state)
{
    char buf[4096];
    sink_open(&log_sink, false); /* no reader: the pipe holds these few lines */
    assert_int_equal(rw_log_start(0), 0);
    rw_log(RW_LOG_ERR, "one");
    rw_log(RW_LOG_ERR, "two");
    rw_log_flush();
    const char *out = sink_peek(&log_sink, buf, sizeof(buf));
    assert_non_null(strstr(out, "] one\n"));
    assert_non_null(strstr(out, "] two\n"));
    rw_log(RW_LOG_ERR, "three");
    rw_log_stop(); /* writes what is queued */
    assert_non_null(strstr(sink_peek(&log_sink, buf, sizeof(buf)), "] three\n"));
    rw_log_stop();              /* not running: no-op */
    rw_log(RW_LOG_ERR, "four"); /* synchronous again */
    assert_non_null(strstr(sink_peek(&log_sink, buf, sizeof(buf)), "] four\n"));
}

int rw_test_log(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(log_strerror_values),
        cmocka_unit_test(log_line_format),
        cmocka_unit_test(log_truncates_long_lines),
        cmocka_unit_test(log_rate_limits_repeats),
        cmocka_unit_test_teardown(log_thread_many_writers, log_thread_teardown),
        cmocka_unit_test_teardown(log_thread_full_queue_drops, log_thread_teardown),
        cmocka_unit_test_teardown(log_thread_blocked_stderr, log_thread_teardown),
        cmocka_unit_test_teardown(log_thread_flush_and_stop, log_thread_teardown),
    };
    return cmocka_run_group_tests_name("core/log", t, NULL, NULL);
}
