/* SPDX-License-Identifier: MIT */
/* Logging: leveled, rate-limited stderr lines, written by a log thread: callers never block. */
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

/* Log one line: "<iso time> <level> [<thread>] <message>\n", formatted on the calling
 * thread (truncated to 2 KiB). While the log thread runs, the line goes into its
 * bounded queue and rw_log returns without I/O, locks or allocation; when the queue
 * is full the line is dropped and counted, and the next line queued ends with
 * " [N lines dropped: log queue full]". Otherwise (before rw_log_start(), after
 * rw_log_stop()) the line is written at once with one write(2), which may block.
 * Any thread. */
void rw_log(enum rw_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rw_vlog(enum rw_log_level lvl, const char *fmt, va_list ap);

/* Start the log thread that writes queued lines to stderr, whole and in order per
 * thread, several per writev. <slots>: queue length in lines, rounded up to a power
 * of two, at most 1024 (0: 256). The thread blocks every signal. Returns 0,
 * -EALREADY if it runs, or -errno (rw_log then stays synchronous). main, before it
 * starts other threads; not concurrently with rw_log_stop(). */
int rw_log_start(unsigned slots);

/* Wait until every line queued before the call is written (or stderr failed): may
 * block as long as stderr does. No-op without a log thread, or on it. Any thread. */
void rw_log_flush(void);

/* Write every queued line, stop the log thread and go back to synchronous writes;
 * reports lines still counted as dropped. Lines logged concurrently from other
 * threads are either written by the log thread or synchronously. Blocks as long as
 * stderr does. Call it before the process exits (every exit path after
 * rw_log_start()); a no-op if not running. main. */
void rw_log_stop(void);

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
