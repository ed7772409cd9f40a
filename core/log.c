/* SPDX-License-Identifier: MIT */
/* Logging: the caller formats a line into a bounded queue; the log thread writes it to stderr. */
#include "core/log.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048
#define LOG_QUEUE_MAX 1024 /* slots; the slots are static (see log_slots) */
#define LOG_QUEUE_DEFAULT 256
#define LOG_BATCH 64       /* lines per writev, and at most PIPE_BUF bytes (below) */
#define LOG_NAP_NS 1000000 /* the log thread's wait before it asks to be woken */
_Static_assert(LOG_LINE_MAX <= PIPE_BUF, "a line is one atomic write to a pipe");
#define LOG_CLOSED (1ull << 63) /* in log_q.head: no log thread, write synchronously */

static enum rw_log_level log_level = RW_LOG_INFO;
static unsigned log_burst = 10; /* lines per call site per second per thread */

/* Repeated messages are rate-limited per call site (its format string), per thread,
 * so an error that fires on every request cannot flood the log or slow the worker:
 * the first log_burst lines of each second pass, the rest are counted and the next
 * line that passes says how many were dropped. */
#define LOG_SITES 16
struct log_site {
    const char *fmt;  /* call site */
    uint64_t window;  /* second of the current window */
    unsigned count;   /* lines in this window */
    unsigned dropped; /* lines suppressed since the last one written */
};
static __thread struct log_site log_sites[LOG_SITES];

/* The queue: a bounded multi-producer ring of fixed-size line slots (Vyukov's
 * sequence scheme) with one consumer, the log thread. A producer claims position
 * pos with a CAS on head, formats straight into the slot and publishes it by
 * setting seq to pos + 1; the log thread writes it and hands the slot to the
 * next lap (seq = pos + size). Producers never wait: a slot still holding the line
 * of the previous lap means the queue is full and the line is dropped and counted.
 * LOG_CLOSED in head is the "running" flag, tested by the same CAS that claims a
 * slot, so rw_log_stop() (which sets it) knows that every claimed slot will be
 * published and must be written, and no slot is claimed afterwards.
 * The slots are static rather than allocated at start, so that a producer that
 * read head just before a stop never touches freed memory. */
struct log_slot {
    _Atomic uint64_t seq; /* pos: free for position pos; pos + 1: holds line pos */
    uint32_t len;
    char line[LOG_LINE_MAX];
};
static struct log_slot log_slots[LOG_QUEUE_MAX];

static struct {
    /* atomic, any thread */
    _Alignas(64) _Atomic uint64_t head; /* next position to claim, | LOG_CLOSED */
    _Atomic uint64_t dropped;           /* lines dropped (queue full) and not yet reported */
    _Atomic uint32_t sleeping;          /* the log thread is (about to be) waiting on wake */
    _Atomic uint32_t wake;              /* futex word the log thread waits on */
    _Atomic bool stop;
    /* log thread writes; rw_log_flush() reads */
    _Alignas(64) _Atomic uint64_t tail; /* lines below it are written */
    /* rw_log_start() writes before it opens head; read-only while running */
    uint64_t mask;
    pthread_t thread;
} log_q = {.head = LOG_CLOSED};

/* The call site's state if a line from it may be written now, else NULL; *dropped
 * gets the number suppressed before it (to report). */
static struct log_site *log_admit(const char *fmt, unsigned *dropped)
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
        return NULL;
    }
    s->count++;
    *dropped = s->dropped;
    s->dropped = 0;
    return s;
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

/* Formats one whole line, newline included, into line (LOG_LINE_MAX bytes); returns
 * its length. The notes (rate-limited, queue-full) survive truncation of the message. */
static uint32_t log_format(char *line, enum rw_log_level lvl, unsigned suppressed, uint64_t lost,
                           const char *fmt, va_list ap)
{
    char note[128];
    size_t nlen = 0;
    if (suppressed)
        nlen +=
            (size_t)snprintf(note, sizeof(note), " [%u similar messages suppressed]", suppressed);
    if (lost)
        nlen += (size_t)snprintf(note + nlen, sizeof(note) - nlen,
                                 " [%" PRIu64 " lines dropped: log queue full]", lost);
    size_t room = LOG_LINE_MAX - nlen; /* the text, then notes and newline */
    if ((unsigned)lvl > RW_LOG_DEBUG)
        lvl = RW_LOG_DEBUG;
    size_t len = (size_t)log_stamp(line, room);
    len += (size_t)snprintf(line + len, room - len, " %s [%s] ", log_names[lvl], log_thread);
    if (len > room - 1)
        len = room - 1;
    int n = vsnprintf(line + len, room - len, fmt, ap);
    if (n > 0)
        len += (size_t)n;
    if (len > room - 1) /* truncated: the newline takes the place of the NUL */
        len = room - 1;
    memcpy(line + len, note, nlen);
    len += nlen;
    line[len++] = '\n';
    return (uint32_t)len;
}

/* Writes all of iov to stderr, in order (it may block: the log thread, or no log thread).
 * Gives up only when stderr is gone. */
static void log_writev(struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(STDERR_FILENO, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) { /* a non-blocking stderr: wait rather than drop */
            struct pollfd p = {.fd = STDERR_FILENO, .events = POLLOUT};
            poll(&p, 1, -1);
            continue;
        }
        if (w <= 0)
            return;
        for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
            w -= (ssize_t)iov->iov_len;
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
}

/* One line written by the calling thread: no log thread, or a crash. */
static void log_sync(enum rw_log_level lvl, unsigned suppressed, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    struct iovec iov = {line, log_format(line, lvl, suppressed, 0, fmt, ap)};
    log_writev(&iov, 1);
}

static void log_sync_f(enum rw_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_sync_f(enum rw_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_sync(lvl, 0, fmt, ap);
    va_end(ap);
}

static void log_futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *timeout)
{
    syscall(SYS_futex, word, op, val, timeout, NULL, 0);
}

/* Wakes the log thread, waiting or about to wait. */
static void log_kick(void)
{
    atomic_fetch_add(&log_q.wake, 1);
    log_futex(&log_q.wake, FUTEX_WAKE_PRIVATE, 1, NULL);
}

enum log_claim { LOG_CLAIMED = 0, LOG_SYNC, LOG_FULL };

static enum log_claim log_claim(uint64_t *pos_out, struct log_slot **slot_out)
{
    uint64_t pos = atomic_load_explicit(&log_q.head, memory_order_acquire);
    for (;;) {
        if (pos & LOG_CLOSED)
            return LOG_SYNC;
        struct log_slot *s = &log_slots[pos & log_q.mask];
        uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (seq == pos) {
            if (atomic_compare_exchange_weak_explicit(&log_q.head, &pos, pos + 1,
                                                      memory_order_acquire, memory_order_acquire)) {
                *pos_out = pos;
                *slot_out = s;
                return LOG_CLAIMED;
            }
        } else if (seq < pos) {
            return LOG_FULL; /* the slot still holds the line of the previous lap */
        } else {
            pos = atomic_load_explicit(&log_q.head, memory_order_acquire);
        }
    }
}

void rw_vlog(enum rw_log_level lvl, const char *fmt, va_list ap)
{
    unsigned suppressed = 0;
    struct log_site *site;
    if (lvl > log_level || !(site = log_admit(fmt, &suppressed)))
        return;
    uint64_t pos;
    struct log_slot *s;
    switch (log_claim(&pos, &s)) {
    case LOG_SYNC:
        log_sync(lvl, suppressed, fmt, ap);
        return;
    case LOG_FULL:
        atomic_fetch_add_explicit(&log_q.dropped, 1, memory_order_relaxed);
        site->dropped += suppressed; /* still to be reported by this call site */
        return;
    case LOG_CLAIMED:
        break;
    }
    uint64_t lost = 0;
    if (atomic_load_explicit(&log_q.dropped, memory_order_relaxed))
        lost = atomic_exchange_explicit(&log_q.dropped, 0, memory_order_relaxed);
    s->len = log_format(s->line, lvl, suppressed, lost, fmt, ap);
    /* seq_cst store, then seq_cst load of sleeping: with the log thread's store of
     * sleeping then load of seq, at least one of us sees the other (no lost wake-up). */
    atomic_store(&s->seq, pos + 1);
    if (atomic_load(&log_q.sleeping) && atomic_exchange(&log_q.sleeping, 0))
        log_kick();
}

void rw_log(enum rw_log_level lvl, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rw_vlog(lvl, fmt, ap);
    va_end(ap);
}

static bool log_ready(uint64_t pos)
{
    return atomic_load(&log_slots[pos & log_q.mask].seq) == pos + 1;
}

/* Writes the lines published from *tail on and frees their slots; returns how many.
 * A batch stays within PIPE_BUF bytes so that a pipe takes it in one piece: lines stay
 * whole even when another writer shares the pipe (the access log on stdout, 2>&1).
 * Log thread only. */
static unsigned log_drain(uint64_t *tail)
{
    struct iovec iov[LOG_BATCH];
    uint64_t pos = *tail;
    unsigned n = 0;
    size_t bytes = 0;
    while (n < LOG_BATCH && log_ready(pos + n)) {
        struct log_slot *s = &log_slots[(pos + n) & log_q.mask];
        if (n && bytes + s->len > PIPE_BUF)
            break;
        bytes += s->len;
        iov[n++] = (struct iovec){s->line, s->len};
    }
    if (!n)
        return 0;
    log_writev(iov, (int)n);
    for (unsigned i = 0; i < n; i++)
        atomic_store_explicit(&log_slots[(pos + i) & log_q.mask].seq, pos + i + log_q.mask + 1,
                              memory_order_release);
    *tail = pos + n;
    atomic_store_explicit(&log_q.tail, *tail, memory_order_release);
    return n;
}

/* Waits for line tail (or a stop). It first naps without asking to be woken, so that
 * a steady stream of lines is written in batches and costs its producers no system
 * call; only an idle log thread sets sleeping, and the next producer wakes it. */
static void log_wait(uint64_t tail)
{
    static const struct timespec nap = {0, LOG_NAP_NS};
    uint32_t w = atomic_load(&log_q.wake);
    log_futex(&log_q.wake, FUTEX_WAIT_PRIVATE, w, &nap); /* a kick cuts it short */
    if (log_ready(tail) || atomic_load(&log_q.stop))
        return;
    w = atomic_load(&log_q.wake);
    atomic_store(&log_q.sleeping, 1);
    if (!log_ready(tail) && !atomic_load(&log_q.stop))
        log_futex(&log_q.wake, FUTEX_WAIT_PRIVATE, w, NULL); /* at once if wake moved */
    atomic_store(&log_q.sleeping, 0);
}

static void *log_main(void *arg)
{
    uint64_t tail = 0;
    (void)arg;
    rw_log_set_thread("log");
    for (;;) {
        if (log_drain(&tail))
            continue;
        if (!atomic_load(&log_q.stop)) {
            log_wait(tail);
        } else if (tail == (atomic_load(&log_q.head) & ~LOG_CLOSED)) {
            return NULL; /* head is closed: nothing more can arrive */
        } else {
            sched_yield(); /* a producer is formatting a line it claimed */
        }
    }
}

int rw_log_start(unsigned slots)
{
    if (!(atomic_load(&log_q.head) & LOG_CLOSED))
        return -EALREADY;
    unsigned size = 2;
    unsigned want = slots ? slots : LOG_QUEUE_DEFAULT;
    while (size < want && size < LOG_QUEUE_MAX)
        size <<= 1;
    log_q.mask = size - 1;
    for (unsigned i = 0; i < size; i++)
        atomic_store_explicit(&log_slots[i].seq, i, memory_order_relaxed);
    atomic_store(&log_q.tail, 0);
    atomic_store(&log_q.dropped, 0);
    atomic_store(&log_q.stop, false);
    /* The log thread takes no signals: main reads them from a signalfd. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&log_q.thread, NULL, log_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc)
        return -rc;
    atomic_store_explicit(&log_q.head, 0, memory_order_release);
    return 0;
}

void rw_log_flush(void)
{
    uint64_t head = atomic_load(&log_q.head);
    if ((head & LOG_CLOSED) || pthread_equal(pthread_self(), log_q.thread))
        return;
    while (atomic_load_explicit(&log_q.tail, memory_order_acquire) < head) {
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
}

void rw_log_stop(void)
{
    if (atomic_fetch_or(&log_q.head, LOG_CLOSED) & LOG_CLOSED)
        return;
    atomic_store(&log_q.stop, true);
    log_kick();
    pthread_join(log_q.thread, NULL);
    uint64_t lost = atomic_exchange(&log_q.dropped, 0);
    if (lost)
        log_sync_f(RW_LOG_WARN, "%" PRIu64 " lines dropped: log queue full", lost);
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
    /* Written by this thread: the process aborts before the log thread would run. */
    log_sync_f(RW_LOG_ERR, "BUG at %s:%d: %s", file, line, expr);
    abort();
}
