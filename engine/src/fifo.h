/* SPDX-License-Identifier: MIT */
/*
 * A single-channel sample FIFO over a buffer sized up front. Writers ask for
 * room and commit; readers peek and consume. Never allocates after creation.
 */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct Fifo {
        float *buf;
        size_t cap, r, w;
} Fifo;

static inline int fifo_init(Fifo *f, size_t cap) {
        f->buf = calloc(cap, sizeof(float));
        f->cap = cap;
        f->r = f->w = 0;
        return f->buf ? 0 : -ENOMEM;
}

static inline void fifo_done(Fifo *f) {
        free(f->buf);
        f->buf = NULL;
}

static inline size_t fifo_len(const Fifo *f) {
        return f->w - f->r;
}

static inline size_t fifo_room(const Fifo *f) {
        return f->cap - fifo_len(f);
}

/* Room for n more samples at the returned pointer; n <= fifo_room(). */
static inline float *fifo_write_ptr(Fifo *f, size_t n) {
        if (f->w + n > f->cap) {
                memmove(f->buf, f->buf + f->r, fifo_len(f) * sizeof(float));
                f->w -= f->r;
                f->r = 0;
        }
        return f->buf + f->w;
}

static inline void fifo_commit(Fifo *f, size_t n) {
        f->w += n;
}

static inline void fifo_push(Fifo *f, const float *src, size_t n) {
        memcpy(fifo_write_ptr(f, n), src, n * sizeof(float));
        fifo_commit(f, n);
}

static inline void fifo_push_zeros(Fifo *f, size_t n) {
        memset(fifo_write_ptr(f, n), 0, n * sizeof(float));
        fifo_commit(f, n);
}

static inline const float *fifo_read_ptr(const Fifo *f) {
        return f->buf + f->r;
}

static inline void fifo_consume(Fifo *f, size_t n) {
        f->r += n;
        if (f->r == f->w)
                f->r = f->w = 0;
}

static inline void fifo_clear(Fifo *f) {
        f->r = f->w = 0;
}
