/* SPDX-License-Identifier: MIT */
/* Fixed-size object pool in 64 KiB chunks (see slab.h). */
#include "core/slab.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/log.h"

#if defined(__SANITIZE_ADDRESS__)
#define RW_SLAB_PLAIN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RW_SLAB_PLAIN 1
#endif
#endif

#define SLAB_CHUNK ((size_t)64 * 1024) /* chunks are aligned to their size */
#define SLAB_MAX_OBJ 4096

/* At the start of each chunk. Objects follow, each at least a pointer wide. */
struct slab_chunk {
    struct slab_chunk *next, **pprev; /* on the pool's list of chunks with room */
    struct slab_chunk *all_next, **all_pprev; /* every chunk of the pool */
    void *free;                       /* free objects of this chunk (intrusive) */
    uint32_t live;                    /* objects allocated from it */
    uint32_t fresh;                   /* objects never handed out yet, from the end */
};

struct rw_slab {
    size_t size;               /* object size, rounded to 16 */
    uint32_t per_chunk;        /* objects per chunk */
    struct slab_chunk *room;   /* chunks with a free object */
    struct slab_chunk *spare;  /* one empty chunk kept instead of unmapped */
    struct slab_chunk *all;    /* every chunk, the spare included */
    size_t live, nchunks;
};

static size_t slab_first(void)
{
    return (sizeof(struct slab_chunk) + 15) & ~(size_t)15;
}

struct rw_slab *rw_slab_new(size_t size)
{
    struct rw_slab *s;

    if (size == 0 || size > SLAB_MAX_OBJ)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->size = (size + 15) & ~(size_t)15;
    s->per_chunk = (uint32_t)((SLAB_CHUNK - slab_first()) / s->size);
    return s;
}

#ifndef RW_SLAB_PLAIN
/* A chunk aligned to SLAB_CHUNK: map twice the size, keep the aligned half. */
static struct slab_chunk *chunk_map(void)
{
    size_t len = 2 * SLAB_CHUNK;
    uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (m == MAP_FAILED)
        return NULL;
    uintptr_t a = ((uintptr_t)m + SLAB_CHUNK - 1) & ~(uintptr_t)(SLAB_CHUNK - 1);
    size_t head = a - (uintptr_t)m, tail = len - head - SLAB_CHUNK;
    if (head)
        munmap(m, head);
    if (tail)
        munmap((uint8_t *)a + SLAB_CHUNK, tail);
    return (struct slab_chunk *)a;
}

static void room_add(struct rw_slab *s, struct slab_chunk *c)
{
    c->next = s->room;
    if (c->next)
        c->next->pprev = &c->next;
    c->pprev = &s->room;
    s->room = c;
}

static void room_del(struct slab_chunk *c)
{
    *c->pprev = c->next;
    if (c->next)
        c->next->pprev = c->pprev;
    c->next = NULL;
    c->pprev = NULL;
}

#endif

void *rw_slab_zalloc(struct rw_slab *s)
{
#ifdef RW_SLAB_PLAIN
    void *p = calloc(1, s->size);
    if (p)
        s->live++;
    return p;
#else
    struct slab_chunk *c = s->room;
    void *p;

    if (!c) {
        c = s->spare;
        if (c) {
            s->spare = NULL;
        } else {
            c = chunk_map();
            if (!c)
                return NULL;
            s->nchunks++;
            c->all_next = s->all;
            if (c->all_next)
                c->all_next->all_pprev = &c->all_next;
            c->all_pprev = &s->all;
            s->all = c;
            c->free = NULL;
            c->live = 0;
            c->fresh = s->per_chunk;
        }
        room_add(s, c);
    }
    if (c->free) {
        p = c->free;
        c->free = *(void **)p;
    } else {
        /* untouched objects are handed out in address order: pages fault in as
         * they are needed */
        p = (uint8_t *)c + slab_first() + (size_t)(s->per_chunk - c->fresh) * s->size;
        c->fresh--;
    }
    c->live++;
    s->live++;
    if (!c->free && !c->fresh)
        room_del(c);
    memset(p, 0, s->size);
    return p;
#endif
}

void rw_slab_put(struct rw_slab *s, void *p)
{
    if (!p)
        return;
#ifdef RW_SLAB_PLAIN
    s->live--;
    free(p);
#else
    struct slab_chunk *c = (struct slab_chunk *)((uintptr_t)p & ~(uintptr_t)(SLAB_CHUNK - 1));
    bool had_room = c->free || c->fresh;

    RW_BUG_ON(c->live == 0);
    *(void **)p = c->free;
    c->free = p;
    c->live--;
    s->live--;
    if (!had_room)
        room_add(s, c);
    if (c->live)
        return;
    /* empty: keep one spare chunk, give the others back to the kernel */
    room_del(c);
    if (!s->spare) {
        /* forget its free list: handed out again from the start, in order; the
         * pages after the header's go back to the kernel, the mapping stays */
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        c->free = NULL;
        c->fresh = s->per_chunk;
        s->spare = c;
        if (page < SLAB_CHUNK)
            madvise((uint8_t *)c + page, SLAB_CHUNK - page, MADV_DONTNEED);
        return;
    }
    *c->all_pprev = c->all_next;
    if (c->all_next)
        c->all_next->all_pprev = c->all_pprev;
    munmap(c, SLAB_CHUNK);
    s->nchunks--;
#endif
}

void rw_slab_free(struct rw_slab *s)
{
    if (!s)
        return;
#ifndef RW_SLAB_PLAIN
    while (s->all) {
        struct slab_chunk *c = s->all;
        s->all = c->all_next;
        munmap(c, SLAB_CHUNK);
    }
#endif
    free(s);
}

size_t rw_slab_live(const struct rw_slab *s)
{
    return s->live;
}

size_t rw_slab_bytes(const struct rw_slab *s)
{
#ifdef RW_SLAB_PLAIN
    return s->live * s->size;
#else
    return s->nchunks * SLAB_CHUNK;
#endif
}
