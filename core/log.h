/* SPDX-License-Identifier: MIT */
/* Logging: one line per write(2) on stderr, no lock on the request path. */
#ifndef RW_CORE_LOG_H
#define RW_CORE_LOG_H

#include <stdarg.h>

enum rw_log_level {
    RW_LOG_ERR = 0,
    RW_LOG_WARN,
    RW_LOG_INFO,
    RW_LOG_DEBUG,
};

/* Global threshold; messages above it are dropped. Set once at start-up. */
void rw_log_set_level(enum rw_log_level lvl);

/* At most n lines per second from one call site on one thread (0: no limit; default
 * 10); the next line written reports how many were suppressed. Start-up. */
void rw_log_set_burst(unsigned n);

/* Per-thread prefix ("w0", "main"), kept by pointer; call once per thread. */
void rw_log_set_thread(const char *name);

/* Log one line: "<iso time> <level> [<thread>] <message>\n" in a single write. */
void rw_log(enum rw_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rw_vlog(enum rw_log_level lvl, const char *fmt, va_list ap);

/* strerror for a -errno (or errno) value; thread-safe, static strings. */
const char *rw_strerror(int err);

#ifdef NDEBUG
#define RW_DEBUG(...) ((void)0)
#define RW_ASSERT(x) ((void)0)
#else
#define RW_DEBUG(...) rw_log(RW_LOG_DEBUG, __VA_ARGS__)
#define RW_ASSERT(x) RW_BUG_ON(!(x))
#endif

void rw__bug(const char *file, int line, const char *expr) __attribute__((noreturn));
/* Always on: log file:line and abort. */
#define RW_BUG_ON(x)                                                                               \
    do {                                                                                           \
        if (__builtin_expect(!!(x), 0))                                                            \
            rw__bug(__FILE__, __LINE__, #x);                                                       \
    } while (0)

#define RW_MUST_CHECK __attribute__((warn_unused_result))

#endif
