/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the engine's unit tests: test data paths, whole-file
 * reads, deterministic noise and RMS.
 */
#pragma once

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aic.h"

#ifndef AICD_TEST_DATA_DIR
#error "AICD_TEST_DATA_DIR must name the tests/data directory"
#endif

#define TINY_MODEL AICD_TEST_DATA_DIR "/tiny.aicm"
#define TINY_FINE_MODEL AICD_TEST_DATA_DIR "/tiny-fine.aicm"

/* Declared here only: the internal library exports it for tests. */
uint64_t aic_processor_get_underruns(const AicProcessor *processor);

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define DIV_ROUND_UP(x, y) (((x) + (y) -1) / (y))

static inline bool streq_ptr(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

/* Reads a whole file; NULL on any failure. */
static inline uint8_t *test_read_file(const char *path, size_t *ret_len) {
        FILE *f = fopen(path, "rb");
        uint8_t *buf = NULL;
        long n;

        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
                buf = malloc((size_t) n + 1);
                if (buf && fread(buf, 1, (size_t) n, f) != (size_t) n) {
                        free(buf);
                        buf = NULL;
                }
                if (buf)
                        *ret_len = (size_t) n;
        }
        fclose(f);
        return buf;
}

/* xorshift32: the same noise on every run and every machine. */
static inline uint32_t test_rand(uint32_t *state) {
        uint32_t x = *state;

        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        return *state = x;
}

/* Uniform in [-amp, amp). */
static inline float test_noise(uint32_t *state, float amp) {
        return amp * ((float) (test_rand(state) >> 8) / (float) (1u << 23) - 1.0f);
}

static inline void test_fill_noise(float *x, size_t n, uint32_t seed, float amp) {
        uint32_t s = seed ? seed : 1;

        for (size_t i = 0; i < n; i++)
                x[i] = test_noise(&s, amp);
}

static inline double test_rms(const float *x, size_t n) {
        double acc = 0;

        for (size_t i = 0; i < n; i++)
                acc += (double) x[i] * x[i];
        return n ? sqrt(acc / (double) n) : 0.0;
}

/* Loads the tiny model or fails the test. */
#define test_load_tiny(ret_model)                                                                                      \
        assert_int_equal(aic_model_create_from_file((ret_model), TINY_MODEL), AIC_ERROR_SUCCESS)
