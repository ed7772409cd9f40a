/* SPDX-License-Identifier: MIT */
/* Tests for core/log.c: rw_strerror and the line format. */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
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

int rw_test_log(void)
{
    const struct CMUnitTest t[] = {
        cmocka_unit_test(log_strerror_values),
        cmocka_unit_test(log_line_format),
        cmocka_unit_test(log_truncates_long_lines),
        cmocka_unit_test(log_rate_limits_repeats),
    };
    return cmocka_run_group_tests_name("core/log", t, NULL, NULL);
}
