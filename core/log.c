/* SPDX-License-Identifier: MIT */
/* Logging: format into a stack buffer, then one write(2) to stderr. */
#include "core/log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static enum rw_log_level log_level = RW_LOG_INFO;
static unsigned log_burst = 10; /* lines per call site per second per thread */

/* Repeated messages are rate-limited per call site (its format string), per thread,
 * so an error that fires on every request cannot flood the log or slow the worker:
 * the first log_burst lines of each second pass, the rest are counted and the next
 * line that passes says how many were dropped. */
#define LOG_SITES 16
struct log_site {
    const char *fmt; /* call site */
    uint64_t window; /* second of the current window */
    unsigned count;  /* lines in this window */
    unsigned dropped; /* lines suppressed since the last one written */
};
static __thread struct log_site log_sites[LOG_SITES];

/* Whether a line from this call site may be written now; *dropped gets the number
 * suppressed before it (to report). */
static bool log_admit(const char *fmt, unsigned *dropped)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    uint64_t now = (uint64_t)ts.tv_sec;
    struct log_site *s = &log_sites[((uintptr_t)fmt >> 4) % LOG_SITES];
    if (s->fmt != fmt) {
        *s = (struct log_site){.fmt = fmt, .window = now};
    } else if (s->window != now) {
        s->window = now;
        s->count = 0;
    }
    if (log_burst && s->count >= log_burst) {
        s->dropped++;
        return false;
    }
    s->count++;
    *dropped = s->dropped;
    s->dropped = 0;
    return true;
}

void rw_log_set_burst(unsigned n)
{
    log_burst = n;
}
static __thread const char *log_thread = "-";

static const char *const log_names[] = {"err", "warn", "info", "debug"};

void rw_log_set_level(enum rw_log_level lvl)
{
    log_level = lvl;
}

void rw_log_set_thread(const char *name)
{
    log_thread = name ? name : "-";
}

/* Writes "2026-11-28T10:00:00.123Z" into buf (at least 25 bytes); returns length. */
static int log_stamp(char *buf, size_t n)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    return snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                    ts.tv_nsec / 1000000);
}

static void log_write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

void rw_vlog(enum rw_log_level lvl, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    size_t len;
    int n;

    unsigned dropped = 0;
    if (lvl > log_level || !log_admit(fmt, &dropped))
        return;
    if ((unsigned)lvl > RW_LOG_DEBUG)
        lvl = RW_LOG_DEBUG;
    n = log_stamp(line, sizeof(line));
    n += snprintf(line + n, sizeof(line) - (size_t)n, " %s [%s] ", log_names[lvl], log_thread);
    len = (size_t)n;
    n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
    if (n > 0)
        len += (size_t)n;
    if (dropped && len < sizeof(line))
        len += (size_t)snprintf(line + len, sizeof(line) - len,
                                " [%u similar messages suppressed]", dropped);
    /* Truncated lines keep room for the newline. */
    if (len > sizeof(line) - 1)
        len = sizeof(line) - 1;
    line[len++] = '\n';
    log_write_all(line, len);
}

void rw_log(enum rw_log_level lvl, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rw_vlog(lvl, fmt, ap);
    va_end(ap);
}

const char *rw_strerror(int err)
{
    const char *s;

    if (err < 0)
        err = -err;
    if (err == 0)
        return "Success";
    /* strerrordesc_np returns static strings: thread-safe, unlike strerror. */
    s = strerrordesc_np(err);
    return s ? s : "Unknown error";
}

void rw__bug(const char *file, int line, const char *expr)
{
    rw_log(RW_LOG_ERR, "BUG at %s:%d: %s", file, line, expr);
    abort();
}
