/* SPDX-License-Identifier: MIT */
/*
 * Processor contexts across threads: parameters, reset, VAD, delay and
 * credential calls from other threads while the main thread processes audio;
 * contexts that outlive their processor; one model shared by processors on
 * several threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "test-util.h"

static AicModel *tiny;

static int setup(void **state) {
        (void) state;
        return aic_model_create_from_file(&tiny, TINY_MODEL) == AIC_ERROR_SUCCESS ? 0 : -1;
}

static int teardown(void **state) {
        (void) state;
        aic_model_destroy(tiny);
        return 0;
}

typedef struct Hammer {
        AicProcessorContext *ctx;
        atomic_bool stop;
        size_t delay; /* what get_output_delay must keep answering */
        bool resets;  /* whether to reset now and then */
        uint32_t seed;
        /* Results, read after join. */
        unsigned long iterations;
        unsigned long bad;
} Hammer;

/* Every context call in a tight loop, checking each answer. */
static void *hammer_run(void *userdata) {
        Hammer *h = userdata;
        uint32_t rng = h->seed;

        while (!atomic_load(&h->stop)) {
                float v, level = (float) (test_rand(&rng) % 1001) / 1000.0f, bypass = (float) (test_rand(&rng) % 2);
                size_t delay = 0;

                if (aic_processor_context_set_parameter(h->ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, level) !=
                            AIC_ERROR_SUCCESS ||
                    aic_processor_context_set_parameter(h->ctx, AIC_PARAMETER_BYPASS, bypass) != AIC_ERROR_SUCCESS)
                        h->bad++;
                if (aic_processor_context_get_parameter(h->ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, &v) !=
                            AIC_ERROR_SUCCESS ||
                    !(v >= 0.0f && v <= 1.0f))
                        h->bad++;
                if (aic_processor_context_get_parameter(h->ctx, AIC_PARAMETER_BYPASS, &v) != AIC_ERROR_SUCCESS ||
                    !(v == 0.0f || v == 1.0f))
                        h->bad++;
                if (aic_processor_context_get_vad_probability(h->ctx, &v) != AIC_ERROR_SUCCESS ||
                    !(v >= 0.0f && v <= 1.0f))
                        h->bad++;
                if (h->delay != SIZE_MAX &&
                    (aic_processor_context_get_output_delay(h->ctx, &delay) != AIC_ERROR_SUCCESS || delay != h->delay))
                        h->bad++;
                if (aic_processor_context_set_enhancement_allowed(h->ctx, test_rand(&rng) % 4 != 0) !=
                    AIC_ERROR_SUCCESS)
                        h->bad++;
                /* Community mode: there is no token to swap. */
                if (h->iterations % 64 == 0 &&
                    aic_processor_context_update_bearer_token(h->ctx, "a.b.c") != AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED)
                        h->bad++;
                if (h->resets && h->iterations % 16 == 0 && aic_processor_context_reset(h->ctx) != AIC_ERROR_SUCCESS)
                        h->bad++;
                h->iterations++;
        }
        return NULL;
}

static void check_block(const float *x, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!isfinite(x[i]) || fabsf(x[i]) > 2.0f)
                        fail_msg("sample %zu is %g", i, (double) x[i]);
}

static void run_concurrent(uint32_t rate, uint16_t channels, size_t frames, bool variable) {
        AicProcessor *p = NULL;
        AicProcessorContext *mine = NULL;
        Hammer h[2] = {};
        pthread_t threads[2];
        size_t delay, total = 0, seconds = 3;
        float *buf = malloc(frames * channels * sizeof(float));
        float *planes[16];
        uint32_t rng = 1;

        assert_non_null(buf);
        for (unsigned c = 0; c < channels; c++)
                planes[c] = buf + c * frames;
        assert_int_equal(aic_processor_create(&p, tiny, NULL), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_initialize(p, rate, channels, frames, variable), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_create(&mine, p), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_get_output_delay(mine, &delay), AIC_ERROR_SUCCESS);

        /* Two threads, each with its own context on the same processor. */
        for (unsigned i = 0; i < 2; i++) {
                assert_int_equal(aic_processor_context_create(&h[i].ctx, p), AIC_ERROR_SUCCESS);
                h[i].delay = delay;
                h[i].resets = i == 0;
                h[i].seed = 1000u + i;
                atomic_init(&h[i].stop, false);
                assert_int_equal(pthread_create(&threads[i], NULL, hammer_run, &h[i]), 0);
        }

        for (size_t k = 0; total < seconds * rate; k++) {
                size_t n = variable ? 1 + test_rand(&rng) % frames : frames;
                enum aic_error r;

                test_fill_noise(buf, n * channels, (uint32_t) k + 1, 0.5f);
                if (k % 2)
                        r = aic_processor_process_interleaved(p, buf, channels, n);
                else
                        r = aic_processor_process_planar(p, planes, channels, n);
                /* Bypass, level and the allowed flag flip under it; any of
                 * these is a valid answer. */
                if (r != AIC_ERROR_SUCCESS && r != AIC_ERROR_ENHANCEMENT_NOT_ALLOWED)
                        fail_msg("block %zu: %s", k, aic_error_name(r));
                if (k % 2)
                        check_block(buf, n * channels);
                else
                        for (unsigned c = 0; c < channels; c++)
                                check_block(planes[c], n);
                total += n;
        }

        for (unsigned i = 0; i < 2; i++) {
                atomic_store(&h[i].stop, true);
                assert_int_equal(pthread_join(threads[i], NULL), 0);
                assert_true(h[i].iterations > 0);
                assert_int_equal(h[i].bad, 0);
                aic_processor_context_destroy(h[i].ctx);
        }
        assert_int_equal(aic_processor_get_underruns(p), 0);
        aic_processor_context_destroy(mine);
        aic_processor_destroy(p);
        free(buf);
}

static void test_concurrent_48k(void **state) {
        (void) state;
        run_concurrent(48000, 2, 480, false);
}

static void test_concurrent_resampled_variable(void **state) {
        (void) state;
        run_concurrent(44100, 1, 512, true);
}

static void test_concurrent_small_blocks(void **state) {
        (void) state;
        run_concurrent(16000, 6, 64, false);
}

static void test_context_outlives_processor(void **state) {
        AicProcessor *p = NULL;
        AicProcessorContext *a = NULL, *b = NULL;
        float v = -1.0f, block[480] = {0};
        size_t delay = 12345;

        (void) state;
        assert_int_equal(aic_processor_create(&p, tiny, NULL), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_initialize(p, 48000, 1, 480, false), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_create(&a, p), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_create(&b, p), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_process_interleaved(p, block, 1, 480), AIC_ERROR_SUCCESS);
        aic_processor_destroy(p);

        /* Every call still answers sensibly; none touches freed memory (ASan). */
        assert_int_equal(aic_processor_context_set_parameter(a, AIC_PARAMETER_ENHANCEMENT_LEVEL, 0.5f),
                         AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_get_parameter(b, AIC_PARAMETER_ENHANCEMENT_LEVEL, &v),
                         AIC_ERROR_SUCCESS);
        assert_true(v == 0.5f);
        assert_int_equal(aic_processor_context_set_parameter(a, AIC_PARAMETER_BYPASS, 1.0f), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_reset(a), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_get_vad_probability(a, &v), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_get_output_delay(a, &delay), AIC_ERROR_NOT_INITIALIZED);
        assert_int_equal(delay, 12345);
        assert_int_equal(aic_processor_context_update_bearer_token(a, "x.y.z"), AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED);
        assert_int_equal(aic_processor_context_set_enhancement_allowed(b, false), AIC_ERROR_SUCCESS);
        aic_processor_context_destroy(a);
        assert_int_equal(aic_processor_context_get_parameter(b, AIC_PARAMETER_BYPASS, &v), AIC_ERROR_SUCCESS);
        assert_true(v == 1.0f);
        aic_processor_context_destroy(b);
}

static void test_destroy_processor_under_hammer(void **state) {
        (void) state;
        for (int round = 0; round < 20; round++) {
                AicProcessor *p = NULL;
                Hammer h = {.delay = SIZE_MAX, .resets = true, .seed = 7u + (uint32_t) round};
                pthread_t thread;
                float block[2 * 441];

                assert_int_equal(aic_processor_create(&p, tiny, NULL), AIC_ERROR_SUCCESS);
                assert_int_equal(aic_processor_initialize(p, 44100, 2, 441, false), AIC_ERROR_SUCCESS);
                assert_int_equal(aic_processor_context_create(&h.ctx, p), AIC_ERROR_SUCCESS);
                atomic_init(&h.stop, false);
                assert_int_equal(pthread_create(&thread, NULL, hammer_run, &h), 0);
                for (int k = 0; k < round; k++) {
                        test_fill_noise(block, 2 * 441, (uint32_t) k + 1, 0.5f);
                        (void) aic_processor_process_interleaved(p, block, 2, 441);
                }
                /* The processor goes away while the other thread is mid-call. */
                aic_processor_destroy(p);
                nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
                atomic_store(&h.stop, true);
                assert_int_equal(pthread_join(thread, NULL), 0);
                assert_int_equal(h.bad, 0);
                aic_processor_context_destroy(h.ctx);
        }
}

typedef struct Worker {
        uint32_t rate;
        size_t frames, len;
        float *out;
        enum aic_error error;
} Worker;

/* One processor over a fixed noise signal, from its own thread. */
static void *worker_run(void *userdata) {
        Worker *w = userdata;
        AicProcessor *p = NULL;
        enum aic_error r;

        r = aic_processor_create(&p, tiny, NULL);
        if (r == AIC_ERROR_SUCCESS)
                r = aic_processor_initialize(p, w->rate, 1, w->frames, false);
        test_fill_noise(w->out, w->len, 31337, 0.5f);
        for (size_t pos = 0; r == AIC_ERROR_SUCCESS && pos + w->frames <= w->len; pos += w->frames)
                r = aic_processor_process_interleaved(p, w->out + pos, 1, w->frames);
        aic_processor_destroy(p);
        w->error = r;
        return NULL;
}

static void test_shared_model(void **state) {
        enum { N = 4 };
        Worker ref = {.rate = 48000, .frames = 480, .len = 48000}, w[N];
        pthread_t threads[N];

        (void) state;
        ref.out = malloc(ref.len * sizeof(float));
        assert_non_null(ref.out);
        worker_run(&ref);
        assert_int_equal(ref.error, AIC_ERROR_SUCCESS);

        /* The same model on four threads at once gives each the same
         * answer as one thread alone: the model is read-only. */
        for (unsigned i = 0; i < N; i++) {
                w[i] = ref;
                w[i].out = malloc(ref.len * sizeof(float));
                assert_non_null(w[i].out);
                assert_int_equal(pthread_create(&threads[i], NULL, worker_run, &w[i]), 0);
        }
        for (unsigned i = 0; i < N; i++) {
                assert_int_equal(pthread_join(threads[i], NULL), 0);
                assert_int_equal(w[i].error, AIC_ERROR_SUCCESS);
                assert_memory_equal(w[i].out, ref.out, ref.len * sizeof(float));
                free(w[i].out);
        }
        free(ref.out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_concurrent_48k),
                cmocka_unit_test(test_concurrent_resampled_variable),
                cmocka_unit_test(test_concurrent_small_blocks),
                cmocka_unit_test(test_context_outlives_processor),
                cmocka_unit_test(test_destroy_processor_under_hammer),
                cmocka_unit_test(test_shared_model),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
