/* core/arena.c - the tape's memory: a chain of blocks rewound, not freed, by reset. */
#include "internal.h"

#define ALIGN 64
#define MIN_BLOCK ((size_t)64 * 1024)

struct agi_block {
    agi_block *next;
    size_t size;               /* usable bytes after the header */
    size_t total;              /* bytes obtained from the allocator */
    unsigned char *base;       /* first ALIGN-aligned byte after the header */
};

void agi_arena_init(agi_arena *ar, agi_alloc alloc)
{
    ar->alloc = alloc;
    ar->first = ar->cur = NULL;
    ar->used = 0;
}

static agi_block *new_block(agi_alloc alloc, size_t need)
{
    size_t size = need > MIN_BLOCK ? need : MIN_BLOCK;
    size_t total = sizeof(agi_block) + ALIGN + size;
    if (total < size)
        return NULL;
    unsigned char *raw = agi_malloc(alloc, total);
    if (!raw)
        return NULL;
    agi_block *b = (agi_block *)raw;
    uintptr_t p = (uintptr_t)(raw + sizeof(agi_block));
    p = (p + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    b->next = NULL;
    b->size = size;
    b->total = total;
    b->base = (unsigned char *)p;
    return b;
}

void *agi_arena_alloc(agi_arena *ar, size_t n)
{
    if (n > SIZE_MAX - ALIGN)
        return NULL;
    n = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (n == 0)
        n = ALIGN;
    /* Serve from the current block, else from the next kept block that fits,
     * else append a new one. The walk is deterministic, so a repeated request
     * sequence after a reset lands in the same blocks. */
    if (ar->cur && ar->cur->size - ar->used >= n) {
        void *p = ar->cur->base + ar->used;
        ar->used += n;
        return p;
    }
    agi_block *prev = ar->cur;
    agi_block *b = ar->cur ? ar->cur->next : ar->first;
    while (b && b->size < n) {
        prev = b;
        b = b->next;
    }
    if (!b) {
        b = new_block(ar->alloc, n);
        if (!b)
            return NULL;
        /* append at the end of the chain, after prev */
        if (prev) {
            while (prev->next)
                prev = prev->next;
            prev->next = b;
        } else if (ar->first) {
            agi_block *last = ar->first;
            while (last->next)
                last = last->next;
            last->next = b;
        } else {
            ar->first = b;
        }
    }
    ar->cur = b;
    ar->used = n;
    return b->base;
}

void agi_arena_reset(agi_arena *ar)
{
    ar->cur = NULL;            /* the next request starts at ar->first */
    ar->used = 0;
}

void agi_arena_free(agi_arena *ar)
{
    agi_block *b = ar->first;
    while (b) {
        agi_block *next = b->next;
        agi_free(ar->alloc, b, b->total);
        b = next;
    }
    ar->first = ar->cur = NULL;
    ar->used = 0;
}
