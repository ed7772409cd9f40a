/* SPDX-License-Identifier: MIT */
/* The io_uring backend's fixed-file table: which sockets sit in it, and keeping it true. */
#include "core/io_uring-int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <liburing.h>

#include "core/log.h"

/* user_data: RW__UD_FILES | a removal | the slot's generation | fd */
#define FF_UD_REMOVE (1ull << 62)

static uint64_t ff_ud(int fd, unsigned gen, bool remove)
{
    return RW__UD_FILES | (remove ? FF_UD_REMOVE : 0) | ((uint64_t)(gen & 63u) << 32) |
           (uint32_t)fd;
}

static unsigned ff_gen(uint8_t s)
{
    return s >> 2;
}

static uint8_t ff_byte(unsigned gen, unsigned state)
{
    return (uint8_t)(((gen & 63u) << 2) | state);
}

/* The slot count to ask for: every fd the process may open, up to RW__FF_MAX. */
static uint32_t ff_want_size(void)
{
    struct rlimit rl;
    uint32_t n = RW__FF_MAX;
    const char *cap = getenv("RW_TEST_IO_URING_FIXED_FILES_MAX");

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n)
        n = (uint32_t)rl.rlim_cur;
    if (cap && (uint32_t)atoi(cap) < n)
        n = (uint32_t)atoi(cap);
    return n;
}

void rw__ur_files_init(struct rw__ur_files *t, struct io_uring *ring, bool want)
{
    uint32_t n = ff_want_size();
    int ret = -ENOMEM;

    memset(t, 0, sizeof(*t));
    t->none = -1;
    /* test hook: run as on a kernel that refuses the table */
    if (!want || n == 0 || getenv("RW_TEST_IO_URING_NO_FIXED_FILES"))
        return;
    t->slot = calloc(n, 1);
    t->val = calloc(n, sizeof(*t->val));
    /* n <= RLIMIT_NOFILE: liburing's EMFILE retry (it raises the limit) never runs */
    if (t->slot && t->val)
        ret = io_uring_register_files_sparse(ring, n);
    if (ret == -EINVAL && n > 32768) {
        n = 32768; /* older kernels' IORING_MAX_FIXED_FILES */
        ret = io_uring_register_files_sparse(ring, n);
    }
    if (ret < 0) {
        /* before 5.19 (no sparse tables), EMFILE, ENOMEM: ops name their fds */
        rw_log(RW_LOG_INFO, "io_uring: no fixed-file table (%s): sockets are named by fd",
               rw_strerror(ret));
        free(t->slot);
        free(t->val);
        t->slot = NULL;
        t->val = NULL;
        return;
    }
    t->size = n;
    t->st.size = n;
    t->fail = getenv("RW_TEST_IO_URING_FIXED_FILES_FAIL") != NULL;
}

void rw__ur_files_fini(struct rw__ur_files *t, struct io_uring *ring)
{
    /* the ring's teardown would release the files too, but later, from a kworker */
    if (t->size)
        (void)io_uring_unregister_files(ring);
    free(t->slot);
    free(t->val);
    t->slot = NULL;
    t->val = NULL;
    t->size = 0;
}

/* Empty fd's slot (its file is released unless an fd or an op still holds it). Only a
 * failure completes (CQE_SKIP_SUCCESS: a table needs 5.19, which has it). */
static void ff_remove(struct rw__ur_files *t, struct io_uring *ring, int fd, unsigned gen)
{
    struct io_uring_sqe *sqe = rw__ur_sqe(ring);
    int ret;

    if (sqe) {
        io_uring_prep_files_update(sqe, &t->none, 1, fd);
        sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
        io_uring_sqe_set_data64(sqe, ff_ud(fd, gen, true));
        return;
    }
    ret = io_uring_register_files_update(ring, (unsigned)fd, &t->none, 1);
    if (ret < 0)
        rw_log(RW_LOG_ERR, "io_uring: fd %d: emptying its fixed-file slot: %s", fd,
               rw_strerror(ret));
}

void rw__ur_files_register(struct rw__ur_files *t, struct io_uring *ring, int fd)
{
    unsigned gen = ff_gen(t->slot[fd]);
    struct io_uring_sqe *sqe = rw__ur_sqe(ring);

    if (!sqe)
        return; /* still NEW, its count reached: the next op tries again */
    /* The kernel reads the number when it runs the update, at the next submit at the
     * latest: it must outlive this call, so it lives in a per-fd cell. */
    t->val[fd] = t->fail ? INT_MAX : fd;
    io_uring_prep_files_update(sqe, &t->val[fd], 1, fd);
    io_uring_sqe_set_data64(sqe, ff_ud(fd, gen, false));
    t->slot[fd] = ff_byte(gen, RW__FF_WAIT);
    t->st.updates++;
}

/* Give fd's slot a new generation in state st (what is queued for the old one is then
 * stale); true when the table held the old file, whose removal is queued now. WAIT
 * counts: its update is queued ahead of this removal, or already ran. */
static bool ff_reset(struct rw__ur_files *t, struct io_uring *ring, int fd, unsigned st)
{
    uint8_t s = t->slot[fd];
    unsigned gen = ff_gen(s) + 1;

    t->slot[fd] = ff_byte(gen, st);
    if ((s & RW__FF_STATE) != RW__FF_WAIT && (s & RW__FF_STATE) != RW__FF_FIXED)
        return false;
    ff_remove(t, ring, fd, gen);
    return true;
}

void rw__ur_files_new(struct rw__ur_files *t, struct io_uring *ring, int fd)
{
    if ((unsigned)fd >= t->size)
        return;
    t->val[fd] = 0; /* ops so far */
    if (ff_reset(t, ring, fd, RW__FF_NEW)) {
        /* The last socket with this number went into the table and was closed with
         * close(2): the table kept it open (no FIN) until now. */
        rw_log(RW_LOG_WARN,
               "io_uring: fd %d was closed with close(2) while in the fixed-file table; "
               "its socket stayed open until the number was reused (use rw_io_close)",
               fd);
        t->st.reclaims++;
    }
}

void rw__ur_files_close(struct rw__ur_files *t, struct io_uring *ring, int fd)
{
    if ((unsigned)fd >= t->size)
        return;
    if (ff_reset(t, ring, fd, RW__FF_NONE))
        t->st.removals++;
}

/* A removal failed (it is not known to fail: a reset slot allocates nothing on 6.13+,
 * older kernels queue the file for release and may lack memory for that). */
static void ff_remove_failed(struct rw__ur_files *t, struct io_uring *ring, int fd, int res)
{
    unsigned st = t->slot[fd] & RW__FF_STATE;
    int ret;

    rw_log(RW_LOG_WARN, "io_uring: fd %d: emptying its fixed-file slot: %s", fd, rw_strerror(res));
    /* Once a newer socket with this number has its update queued, that update replaces
     * the slot (and releases the old file); emptying it now could undo it. */
    if (st != RW__FF_NONE && st != RW__FF_NEW)
        return;
    ret = io_uring_register_files_update(ring, (unsigned)fd, &t->none, 1);
    if (ret < 0)
        rw_log(RW_LOG_ERR, "io_uring: fd %d: its socket stays open until its number is reused: %s",
               fd, rw_strerror(ret));
}

void rw__ur_files_cqe(struct rw__ur_files *t, struct io_uring *ring, const struct io_uring_cqe *cqe)
{
    int fd = (int)(uint32_t)cqe->user_data;
    unsigned gen = (unsigned)(cqe->user_data >> 32) & 63u;

    if ((unsigned)fd >= t->size)
        return;
    if (cqe->user_data & FF_UD_REMOVE) {
        if (cqe->res < 0)
            ff_remove_failed(t, ring, fd, cqe->res);
        return;
    }
    /* an update for an earlier socket with this number: the slot has moved on */
    if (t->slot[fd] != ff_byte(gen, RW__FF_WAIT))
        return;
    if (cqe->res >= 0) {
        t->slot[fd] = ff_byte(gen, RW__FF_FIXED);
        return;
    }
    /* Not silent, and harmless: the ops on fd keep naming the fd. The slot kept what
     * it held, which no op of ours names: the old socket's close emptied it. */
    t->st.update_fails++;
    t->slot[fd] = ff_byte(gen, RW__FF_NONE);
    rw_log(RW_LOG_WARN, "io_uring: fd %d: fixed-file update: %s (its ops name the fd)", fd,
           rw_strerror(cqe->res));
}
