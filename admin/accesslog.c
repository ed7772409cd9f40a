/* SPDX-License-Identifier: MIT */
/* Access log: per-worker SPSC byte rings of whole lines and the thread that drains them. */
#include "admin/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "admin/alog-int.h"
#include "core/log.h"

#define ALOG_RING_DEFAULT (1u << 20)
#define ALOG_FLUSH_DEFAULT 50

/* One writer's ring. Bytes [tail, head) hold whole lines: the producer publishes a
 * line's end only after all of its bytes are in, so the consumer never sees half. */
struct alog_ring {
    /* producer (owning worker) writes */
    _Alignas(64) _Atomic uint64_t head;
    _Atomic uint64_t dropped_full;
    _Atomic uint64_t truncated;
    char *buf; /* owned: size bytes; read-only pointer after start */
    uint32_t size;
    /* consumer (log thread) writes */
    _Alignas(64) _Atomic uint64_t tail;
};

struct rw_accesslog {
    /* config time, read-only after */
    char *path; /* owned */
    bool to_stdout;
    enum rw_accesslog_format format;
    uint32_t nrings;
    uint32_t flush_ms;
    struct alog_ring *rings; /* owned: nrings */
    int efd;                 /* owned: eventfd waking the log thread */
    pthread_t thread;
    /* log thread only */
    int fd; /* owned unless stdout */
    bool io_failing;
    struct iovec *iov; /* owned: 2 per ring */
    /* atomic, any thread */
    atomic_bool stop;
    atomic_bool reopen_req;
    atomic_uint_fast64_t flush_req;
    atomic_uint_fast64_t flush_done;
    atomic_uint_fast64_t written;
    atomic_uint_fast64_t dropped_io;
    atomic_uint_fast64_t reopens;
    atomic_uint_fast64_t reopen_errors;
};

static void alog_wake(struct rw_accesslog *l)
{
    uint64_t one = 1;
    /* an eventfd write only fails when the counter would overflow: already awake */
    ssize_t n = write(l->efd, &one, sizeof(one));
    (void)n;
}

static int alog_open(const struct rw_accesslog *l)
{
    if (l->to_stdout)
        return STDOUT_FILENO;
    int fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

static uint64_t count_lines(const struct iovec *iov, int n)
{
    uint64_t c = 0;
    for (int i = 0; i < n; i++) {
        const char *p = iov[i].iov_base, *end = p + iov[i].iov_len;
        while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
            c++;
            p++;
        }
    }
    return c;
}

/* After a write error mid-line, cut the file back to the last whole line so that a
 * full disk never leaves a torn line behind (regular files only). */
static void alog_untear(struct rw_accesslog *l, size_t partial)
{
    struct stat st;
    if (!partial || fstat(l->fd, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    off_t end = lseek(l->fd, 0, SEEK_END);
    if (end >= (off_t)partial && ftruncate(l->fd, end - (off_t)partial) == 0)
        return;
}

static void alog_io_error(struct rw_accesslog *l, int err, const struct iovec *iov, int n,
                          size_t partial)
{
    alog_untear(l, partial);
    atomic_fetch_add(&l->dropped_io, count_lines(iov, n));
    if (!l->io_failing)
        rw_log(RW_LOG_ERR, "access log %s: %s: dropping lines", l->to_stdout ? "stdout" : l->path,
               rw_strerror(err));
    l->io_failing = true;
}

/* Write iov[0..n) completely, or drop (and count) what could not be written. */
static void alog_write(struct rw_accesslog *l, struct iovec *iov, int n)
{
    size_t partial = 0; /* bytes of the current line already written */
    uint64_t lines = count_lines(iov, n);
    uint64_t dropped_before = atomic_load(&l->dropped_io);
    while (n > 0) {
        ssize_t w = writev(l->fd, iov, n < IOV_MAX ? n : IOV_MAX);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            alog_io_error(l, w < 0 ? -errno : -EIO, iov, n, partial);
            break;
        }
        while (w > 0) {
            size_t k = (size_t)w < iov->iov_len ? (size_t)w : iov->iov_len;
            const char *nl = memrchr(iov->iov_base, '\n', k);
            partial = nl ? k - (size_t)(nl - (const char *)iov->iov_base) - 1 : partial + k;
            iov->iov_base = (char *)iov->iov_base + k;
            iov->iov_len -= k;
            w -= (ssize_t)k;
            if (iov->iov_len == 0) {
                iov++;
                n--;
            }
        }
    }
    uint64_t dropped = atomic_load(&l->dropped_io) - dropped_before;
    atomic_fetch_add(&l->written, lines - dropped);
    if (n == 0 && l->io_failing) {
        rw_log(RW_LOG_INFO, "access log %s: writing again", l->to_stdout ? "stdout" : l->path);
        l->io_failing = false;
    }
}

/* Write everything the rings hold now; then give the space back. */
static void alog_drain(struct rw_accesslog *l)
{
    uint64_t heads[l->nrings];
    int n = 0;
    for (uint32_t i = 0; i < l->nrings; i++) {
        struct alog_ring *r = &l->rings[i];
        uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
        heads[i] = h;
        if (h == t)
            continue;
        uint32_t off = (uint32_t)(t & (r->size - 1));
        uint64_t len = h - t;
        uint64_t first = len < r->size - off ? len : r->size - off;
        l->iov[n++] = (struct iovec){r->buf + off, first};
        if (len > first)
            l->iov[n++] = (struct iovec){r->buf, len - first};
    }
    if (n)
        alog_write(l, l->iov, n);
    for (uint32_t i = 0; i < l->nrings; i++)
        atomic_store_explicit(&l->rings[i].tail, heads[i], memory_order_release);
}

static void alog_reopen(struct rw_accesslog *l)
{
    int fd = alog_open(l);
    if (fd < 0) {
        atomic_fetch_add(&l->reopen_errors, 1);
        rw_log(RW_LOG_ERR, "access log %s: reopen: %s", l->path, rw_strerror(fd));
        return;
    }
    if (l->fd != STDOUT_FILENO)
        close(l->fd);
    l->fd = fd;
    l->io_failing = false;
    atomic_fetch_add(&l->reopens, 1);
}

static void *alog_main(void *arg)
{
    struct rw_accesslog *l = arg;
    rw_log_set_thread("alog");
    for (;;) {
        struct pollfd p = {.fd = l->efd, .events = POLLIN};
        if (poll(&p, 1, (int)l->flush_ms) > 0) {
            uint64_t v;
            ssize_t n = read(l->efd, &v, sizeof(v));
            (void)n;
        }
        bool stop = atomic_load(&l->stop);
        uint64_t flush = atomic_load(&l->flush_req);
        alog_drain(l); /* lines queued before a reopen request go to the old file */
        if (atomic_exchange(&l->reopen_req, false))
            alog_reopen(l);
        atomic_store(&l->flush_done, flush);
        if (stop)
            break;
    }
    return NULL;
}

static void alog_destroy(struct rw_accesslog *l)
{
    for (uint32_t i = 0; l->rings && i < l->nrings; i++)
        free(l->rings[i].buf);
    free(l->rings);
    free(l->iov);
    free(l->path);
    if (l->efd >= 0)
        close(l->efd);
    if (l->fd >= 0 && l->fd != STDOUT_FILENO)
        close(l->fd);
    free(l);
}

static int alog_init(struct rw_accesslog *l, const struct rw_accesslog_cfg *cfg)
{
    uint32_t size = 1024;
    uint32_t want = cfg->ring_bytes ? cfg->ring_bytes : ALOG_RING_DEFAULT;
    while (size < want && size < (1u << 30))
        size <<= 1;
    l->to_stdout = strcmp(cfg->path, "stdout") == 0;
    l->format = cfg->format;
    l->nrings = cfg->nworkers;
    l->flush_ms = cfg->flush_ms ? cfg->flush_ms : ALOG_FLUSH_DEFAULT;
    l->path = strdup(cfg->path);
    l->rings = aligned_alloc(64, sizeof(*l->rings) * l->nrings);
    l->iov = calloc(2 * (size_t)l->nrings, sizeof(*l->iov));
    if (!l->path || !l->rings || !l->iov)
        return -ENOMEM;
    memset(l->rings, 0, sizeof(*l->rings) * l->nrings);
    for (uint32_t i = 0; i < l->nrings; i++) {
        l->rings[i].size = size;
        if (!(l->rings[i].buf = malloc(size)))
            return -ENOMEM;
    }
    l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->efd < 0)
        return -errno;
    l->fd = alog_open(l);
    return l->fd < 0 ? l->fd : 0;
}

struct rw_accesslog *rw_accesslog_new(const struct rw_accesslog_cfg *cfg, int *err)
{
    if (!cfg || !cfg->path || !cfg->nworkers || cfg->format > RW_ACCESSLOG_COMBINED) {
        *err = -EINVAL;
        return NULL;
    }
    struct rw_accesslog *l = calloc(1, sizeof(*l));
    if (!l) {
        *err = -ENOMEM;
        return NULL;
    }
    l->efd = l->fd = -1;
    int e = alog_init(l, cfg);
    if (e == 0)
        e = -pthread_create(&l->thread, NULL, alog_main, l);
    if (e < 0) {
        alog_destroy(l);
        *err = e;
        return NULL;
    }
    return l;
}

void rw_accesslog_free(struct rw_accesslog *l)
{
    if (!l)
        return;
    atomic_store(&l->stop, true);
    alog_wake(l);
    pthread_join(l->thread, NULL);
    alog_destroy(l);
}

int rw_accesslog_write_line(struct rw_accesslog *l, uint32_t worker, const char *line, size_t len)
{
    struct alog_ring *r = &l->rings[worker];
    bool nl = len == 0 || line[len - 1] != '\n';
    uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint64_t used = h - t, need = len + nl;
    if (need > r->size - used) {
        atomic_store_explicit(&r->dropped_full,
                              atomic_load_explicit(&r->dropped_full, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        return -ENOBUFS;
    }
    uint32_t off = (uint32_t)(h & (r->size - 1));
    size_t first = len < r->size - off ? len : r->size - off;
    memcpy(r->buf + off, line, first);
    memcpy(r->buf, line + first, len - first);
    if (nl)
        r->buf[(h + len) & (r->size - 1)] = '\n';
    atomic_store_explicit(&r->head, h + need, memory_order_release);
    /* wake the drainer once when the ring crosses half full, not per line */
    if (used < r->size / 2 && used + need >= r->size / 2)
        alog_wake(l);
    return 0;
}

int rw_accesslog_write(struct rw_accesslog *l, uint32_t worker, const struct rw_access_rec *rec)
{
    char buf[RW_ACCESSLOG_LINE_MAX];
    bool cut = false;
    size_t n = rw__accesslog_format(l->format, rec, buf, sizeof(buf), &cut);
    if (cut) {
        struct alog_ring *r = &l->rings[worker];
        atomic_store_explicit(&r->truncated,
                              atomic_load_explicit(&r->truncated, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    }
    return rw_accesslog_write_line(l, worker, buf, n);
}

void rw_accesslog_reopen(struct rw_accesslog *l)
{
    atomic_store(&l->reopen_req, true);
    alog_wake(l);
}

void rw_accesslog_flush(struct rw_accesslog *l)
{
    uint64_t seq = atomic_fetch_add(&l->flush_req, 1) + 1;
    alog_wake(l);
    while (atomic_load(&l->flush_done) < seq) {
        usleep(500);
        alog_wake(l);
    }
}

void rw_accesslog_get_stats(const struct rw_accesslog *l, struct rw_accesslog_stats *st)
{
    *st = (struct rw_accesslog_stats){
        .written = atomic_load(&l->written),
        .dropped_io = atomic_load(&l->dropped_io),
        .reopens = atomic_load(&l->reopens),
        .reopen_errors = atomic_load(&l->reopen_errors),
    };
    for (uint32_t i = 0; i < l->nrings; i++) {
        st->dropped_full += atomic_load_explicit(&l->rings[i].dropped_full, memory_order_relaxed);
        st->truncated += atomic_load_explicit(&l->rings[i].truncated, memory_order_relaxed);
    }
}
