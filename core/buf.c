/* SPDX-License-Identifier: MIT */
/* Per-loop receive buffer pool. */
#include "core/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/log.h"

int rw_bufpool_init(struct rw_bufpool *p, uint32_t count, uint32_t size)
{
    size_t bytes;

    memset(p, 0, sizeof(*p));
    if (count == 0 || count > 32768 || (count & (count - 1)) != 0)
        return -EINVAL;
    if (size == 0 || (uint64_t)count * size > (1ull << 30))
        return -EINVAL;
    bytes = (size_t)count * size;
    /* mmap: pages are committed lazily, and the area is page aligned. */
    p->mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p->mem == MAP_FAILED) {
        p->mem = NULL;
        return -ENOMEM;
    }
    p->free = malloc(count * sizeof(*p->free));
    p->lent = calloc(count, 1);
    if (!p->free || !p->lent) {
        rw_bufpool_fini(p);
        return -ENOMEM;
    }
    p->count = count;
    p->size = size;
    /* Lowest ids on top, so a fresh pool hands out 0, 1, 2... */
    for (uint32_t i = 0; i < count; i++)
        p->free[i] = (uint16_t)(count - 1 - i);
    p->nfree = count;
    return 0;
}

void rw_bufpool_fini(struct rw_bufpool *p)
{
    if (p->mem)
        munmap(p->mem, (size_t)p->count * p->size);
    free(p->free);
    free(p->lent);
    memset(p, 0, sizeof(*p));
}

int rw_bufpool_take(struct rw_bufpool *p)
{
    uint16_t bid;

    if (p->nfree == 0)
        return -ENOBUFS;
    bid = p->free[--p->nfree];
    rw_bufpool_lend(p, bid);
    return bid;
}

void rw_bufpool_put(struct rw_bufpool *p, uint16_t bid)
{
    rw_bufpool_unlend(p, bid);
    RW_BUG_ON(p->nfree >= p->count);
    p->free[p->nfree++] = bid;
}

int rw_bufpool_pop(struct rw_bufpool *p)
{
    if (p->nfree == 0)
        return -ENOBUFS;
    return p->free[--p->nfree];
}

void rw_bufpool_push(struct rw_bufpool *p, uint16_t bid)
{
    RW_BUG_ON(bid >= p->count || p->lent[bid]);
    RW_BUG_ON(p->nfree >= p->count);
    p->free[p->nfree++] = bid;
}

void rw_bufpool_lend(struct rw_bufpool *p, uint16_t bid)
{
    RW_BUG_ON(bid >= p->count);
    RW_BUG_ON(p->lent[bid]);
    p->lent[bid] = 1;
}

void rw_bufpool_unlend(struct rw_bufpool *p, uint16_t bid)
{
    RW_BUG_ON(bid >= p->count);
    RW_BUG_ON(!p->lent[bid]);
    p->lent[bid] = 0;
}

uint32_t rw_bufpool_lent_count(const struct rw_bufpool *p)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < p->count; i++)
        n += p->lent[i];
    return n;
}
