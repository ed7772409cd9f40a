/* SPDX-License-Identifier: MIT */
/* Per-loop receive buffer pool: buf_count fixed-size buffers and a free stack. */
#ifndef RW_CORE_BUF_H
#define RW_CORE_BUF_H

#include <stdbool.h>
#include <stdint.h>

/* The epoll backend takes/puts buffers through the free stack; the io_uring
 * backend lets the kernel pick from a provided-buffer ring that mirrors the
 * pool, and only records which buffers are lent (lend/unlend). Owning loop
 * thread only. */
struct rw_bufpool {
    uint8_t *mem;   /* owned: count * size bytes (mmap) */
    uint16_t *free; /* owned: stack of free buffer ids */
    uint8_t *lent;  /* owned: 1 while the buffer is lent to a caller */
    uint32_t count; /* number of buffers, power of two, <= 32768 */
    uint32_t size;  /* bytes per buffer */
    uint32_t nfree; /* entries on the free stack */
};

/* Allocate count buffers of size bytes, all free. count must be a power of two
 * in 1..32768 and size in 1..1 GiB/count. 0, -EINVAL or -ENOMEM. */
int rw_bufpool_init(struct rw_bufpool *p, uint32_t count, uint32_t size);

/* Release the pool's memory. Safe on a zeroed pool. */
void rw_bufpool_fini(struct rw_bufpool *p);

/* Take a free buffer and mark it lent. Returns its id, or -ENOBUFS. */
int rw_bufpool_take(struct rw_bufpool *p);

/* Give a taken buffer back to the free stack. Aborts (RW_BUG_ON) if bid is out
 * of range or not lent. */
void rw_bufpool_put(struct rw_bufpool *p, uint16_t bid);

/* Mark bid lent / not lent without touching the free stack (io_uring: the buffer
 * left or came back from the kernel's ring). Abort on double lend / double return. */
void rw_bufpool_lend(struct rw_bufpool *p, uint16_t bid);
void rw_bufpool_unlend(struct rw_bufpool *p, uint16_t bid);

/* io_uring: take the most recently freed buffer off the free stack without lending
 * it (it goes into the kernel's ring), or -ENOBUFS; and push one that the ring gave
 * back unused. */
int rw_bufpool_pop(struct rw_bufpool *p);
void rw_bufpool_push(struct rw_bufpool *p, uint16_t bid);

/* Number of buffers currently lent out. */
uint32_t rw_bufpool_lent_count(const struct rw_bufpool *p);

static inline uint8_t *rw_bufpool_addr(const struct rw_bufpool *p, uint16_t bid)
{
    return p->mem + (uint64_t)bid * p->size;
}

#endif
