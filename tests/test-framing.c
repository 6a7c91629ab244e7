/* SPDX-License-Identifier: MIT */
/*
 * The processor's framing: any rate, channel count, block size and layout in,
 * the same out, delayed by exactly the reported output delay. Also the delay
 * of the dry path through the model, bypass switching, the enhancement level,
 * parameters, reset and the audio configuration errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "test-util.h"

#define MAX_CH 16u

enum layout {
        INTERLEAVED,
        PLANAR,
        ALTERNATING, /* interleaved and planar blocks in turn, in one stream */
};

typedef struct Stream {
        uint32_t rate;
        unsigned channels;
        size_t frames; /* the block size, or with `variable` the largest */
        bool variable;
        enum layout planar;
        float bypass;
        float level;
        uint32_t seed; /* block sizes, with `variable` */
} Stream;

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

static float **planes_new(unsigned channels, size_t len) {
        float **p = calloc(channels, sizeof(float *));

        assert_non_null(p);
        for (unsigned c = 0; c < channels; c++) {
                p[c] = calloc(len ? len : 1, sizeof(float));
                assert_non_null(p[c]);
        }
        return p;
}

static void planes_free(float **p, unsigned channels) {
        if (!p)
                return;
        for (unsigned c = 0; c < channels; c++)
                free(p[c]);
        free(p);
}

static AicProcessor *processor_new(const Stream *s, AicProcessorContext **ret_ctx) {
        AicProcessor *p = NULL;
        AicProcessorContext *ctx = NULL;

        assert_int_equal(aic_processor_create(&p, tiny, NULL), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_initialize(p, s->rate, (uint16_t) s->channels, s->frames, s->variable),
                         AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_create(&ctx, p), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_set_parameter(ctx, AIC_PARAMETER_BYPASS, s->bypass), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_set_parameter(ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, s->level),
                         AIC_ERROR_SUCCESS);
        *ret_ctx = ctx;
        return p;
}

/* Processes `len` frames of the planar `in` block by block (interleaved or
 * planar, fixed or random block sizes) into the planar `out`. */
static void process_stream(AicProcessor *p, const Stream *s, float *const *in, float *const *out, size_t len) {
        float *buf = malloc(s->frames * s->channels * sizeof(float));
        float *planes[MAX_CH];
        uint32_t rng = s->seed ? s->seed : 12345;

        assert_non_null(buf);
        for (unsigned c = 0; c < s->channels; c++)
                planes[c] = buf + c * s->frames;
        for (size_t pos = 0, k = 0; pos < len; k++) {
                size_t n = s->variable ? 1 + test_rand(&rng) % s->frames : s->frames;

                if (n > len - pos)
                        n = len - pos;
                if (s->planar == PLANAR || (s->planar == ALTERNATING && k % 2 == 1)) {
                        for (unsigned c = 0; c < s->channels; c++)
                                memcpy(planes[c], in[c] + pos, n * sizeof(float));
                        assert_int_equal(aic_processor_process_planar(p, planes, (uint16_t) s->channels, n),
                                         AIC_ERROR_SUCCESS);
                        for (unsigned c = 0; c < s->channels; c++)
                                memcpy(out[c] + pos, planes[c], n * sizeof(float));
                } else {
                        for (size_t i = 0; i < n; i++)
                                for (unsigned c = 0; c < s->channels; c++)
                                        buf[i * s->channels + c] = in[c][pos + i];
                        assert_int_equal(aic_processor_process_interleaved(p, buf, (uint16_t) s->channels, n),
                                         AIC_ERROR_SUCCESS);
                        for (size_t i = 0; i < n; i++)
                                for (unsigned c = 0; c < s->channels; c++)
                                        out[c][pos + i] = buf[i * s->channels + c];
                }
                pos += n;
        }
        free(buf);
}

static size_t output_delay(AicProcessorContext *ctx) {
        size_t delay = 0;

        assert_int_equal(aic_processor_context_get_output_delay(ctx, &delay), AIC_ERROR_SUCCESS);
        return delay;
}

/* out[c][t] must be in[c][t - delay] bit for bit, and +0.0 before that. */
static bool is_delayed_copy(float *const *in, float *const *out, unsigned channels, size_t len, size_t delay) {
        static const float zeros[4096];

        for (unsigned c = 0; c < channels; c++) {
                for (size_t t = 0; t < delay && t < len; t += 4096)
                        if (memcmp(out[c] + t, zeros, MIN(4096, MIN(delay, len) - t) * sizeof(float)) != 0)
                                return false;
                if (len > delay && memcmp(out[c] + delay, in[c], (len - delay) * sizeof(float)) != 0)
                        return false;
        }
        return true;
}

static void check_bypass(const Stream *s) {
        AicProcessorContext *ctx;
        AicProcessor *p = processor_new(s, &ctx);
        size_t delay = output_delay(ctx), len;
        float **in, **out;

        /* Enough to see the delayed input come out over several blocks. */
        len = delay + 3 * s->frames + 257;
        if (!s->variable)
                len = DIV_ROUND_UP(len, s->frames) * s->frames;
        in = planes_new(s->channels, len);
        out = planes_new(s->channels, len);
        for (unsigned c = 0; c < s->channels; c++)
                test_fill_noise(in[c], len, 1000 + c * 7919 + s->rate, 0.9f);

        process_stream(p, s, in, out, len);
        if (!is_delayed_copy(in, out, s->channels, len, delay))
                fail_msg("bypass not exact: %u Hz, %u ch, %zu frames%s, layout %d, delay %zu", s->rate, s->channels,
                         s->frames, s->variable ? " (variable)" : "", (int) s->planar, delay);
        assert_int_equal(aic_processor_get_underruns(p), 0);

        planes_free(in, s->channels);
        planes_free(out, s->channels);
        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);
}

static const uint32_t rates[] = {8000, 16000, 22050, 32000, 44100, 48000, 96000, 192000};
static const size_t blocks[] = {1, 64, 128, 256, 441, 480, 512, 1024, 4096};

static void test_bypass_exact(void **state) {
        static const unsigned channels[] = {1, 2, 6, 16};

        (void) state;
        /* Every rate with every block size, interleaved and planar blocks in
         * turn; the channel count cycles so each rate and each block size
         * meets all four. (Initialize is the expensive part, so each
         * combination gets one stream.) */
        for (size_t r = 0; r < ELEMENTSOF(rates); r++)
                for (size_t b = 0; b < ELEMENTSOF(blocks); b++) {
                        Stream s = {.rate = rates[r],
                                    .channels = channels[(r + b) % 4],
                                    .frames = blocks[b],
                                    .planar = ALTERNATING,
                                    .bypass = 1.0f,
                                    .level = 1.0f};

                        check_bypass(&s);
                }
}

static void test_bypass_exact_layouts(void **state) {
        static const uint32_t some_rates[] = {16000, 44100, 48000, 96000};
        static const size_t some_blocks[] = {1, 441, 512, 4096};

        (void) state;
        /* Streams that stay interleaved or stay planar throughout. */
        for (size_t r = 0; r < ELEMENTSOF(some_rates); r++)
                for (size_t b = 0; b < ELEMENTSOF(some_blocks); b++)
                        for (enum layout l = INTERLEAVED; l <= PLANAR; l++) {
                                Stream s = {.rate = some_rates[r],
                                            .channels = (r + b) % 2 ? 2 : 6,
                                            .frames = some_blocks[b],
                                            .planar = l,
                                            .bypass = 1.0f,
                                            .level = 1.0f};

                                check_bypass(&s);
                        }
}

static void test_bypass_exact_variable(void **state) {
        static const size_t max_frames[] = {1, 7, 64, 480, 1024, 4096};

        (void) state;
        for (size_t r = 0; r < ELEMENTSOF(rates); r++)
                for (size_t b = 0; b < ELEMENTSOF(max_frames); b++)
                        for (enum layout planar = INTERLEAVED; planar <= ALTERNATING; planar++) {
                                Stream s = {.rate = rates[r],
                                            .channels = 1 + (unsigned) (r + b) % 3,
                                            .frames = max_frames[b],
                                            .variable = true,
                                            .planar = planar,
                                            .bypass = 1.0f,
                                            .level = 1.0f,
                                            .seed = (uint32_t) (r * 100 + b + 1)};

                                check_bypass(&s);
                        }
}

static void test_bypass_odd_rates(void **state) {
        static const uint32_t odd[] = {8001, 11025, 12345, 24000, 47999, 48001, 88200, 176400, 191999};

        (void) state;
        for (size_t r = 0; r < ELEMENTSOF(odd); r++) {
                Stream s = {.rate = odd[r], .channels = 2, .frames = 333, .bypass = 1.0f, .level = 1.0f};
                Stream v = {.rate = odd[r],
                            .channels = 1,
                            .frames = 1000,
                            .variable = true,
                            .planar = true,
                            .bypass = 1.0f,
                            .level = 1.0f,
                            .seed = odd[r]};

                check_bypass(&s);
                check_bypass(&v);
        }
}

static void test_bypass_largest_blocks(void **state) {
        static const Stream cases[] = {
                {.rate = 8000, .channels = 16, .frames = 16384},
                {.rate = 48000, .channels = 1, .frames = 16384},
                {.rate = 192000, .channels = 2, .frames = 16384},
                {.rate = 44100, .channels = 3, .frames = 16384, .variable = true, .seed = 3},
                {.rate = 192000, .channels = 16, .frames = 1},
        };

        (void) state;
        /* The limits of initialize, processed. */
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Stream s = cases[i];

                s.bypass = 1.0f;
                s.level = 1.0f;
                s.planar = (enum layout)(i % 3);
                check_bypass(&s);
        }
}

static void test_dry_delay_48k(void **state) {
        static const size_t frames[] = {480, 1, 64, 441, 512, 960, 4096};

        (void) state;
        /* At the model's rate, level 0 makes the model path an identity STFT:
         * the output is the input delayed by the reported delay. */
        for (size_t b = 0; b < ELEMENTSOF(frames); b++)
                for (unsigned variable = 0; variable < 2; variable++) {
                        Stream s = {.rate = 48000,
                                    .channels = 2,
                                    .frames = frames[b],
                                    .variable = variable,
                                    .planar = b % 2,
                                    .level = 0.0f,
                                    .seed = 99};
                        AicProcessorContext *ctx;
                        AicProcessor *p = processor_new(&s, &ctx);
                        size_t delay = output_delay(ctx), len = DIV_ROUND_UP(delay + 9600, s.frames) * s.frames;
                        float **in = planes_new(2, len), **out = planes_new(2, len);
                        double max_err = 0;

                        for (unsigned c = 0; c < 2; c++)
                                test_fill_noise(in[c], len, 7 + c, 1.0f);
                        process_stream(p, &s, in, out, len);
                        for (unsigned c = 0; c < 2; c++) {
                                for (size_t t = 0; t < delay; t++)
                                        assert_true(fabsf(out[c][t]) < 1e-6f);
                                for (size_t t = delay; t < len; t++)
                                        max_err = fmax(max_err, fabs((double) out[c][t] - in[c][t - delay]));
                        }
                        if (max_err > 1e-5)
                                fail_msg("%zu frames: dry path differs from the delayed input by %g", s.frames,
                                         max_err);
                        assert_int_equal(aic_processor_get_underruns(p), 0);
                        planes_free(in, 2);
                        planes_free(out, 2);
                        aic_processor_context_destroy(ctx);
                        aic_processor_destroy(p);
                }
}

/* The impulse response's peak and centroid in each of two channels, relative
 * to that channel's impulse (the second one 13 samples later). */
static void impulse_delay(uint32_t rate, size_t frames, size_t at, long ret_peak[2], double ret_centroid[2],
                          size_t *ret_delay) {
        Stream s = {.rate = rate, .channels = 2, .frames = frames, .level = 0.0f};
        AicProcessorContext *ctx;
        AicProcessor *p = processor_new(&s, &ctx);
        size_t delay = output_delay(ctx), len = DIV_ROUND_UP(at + 13 + delay + rate / 10, frames) * frames;
        float **in = planes_new(2, len), **out = planes_new(2, len);
        size_t win = rate / 200; /* 5 ms either side */

        for (unsigned c = 0; c < 2; c++)
                in[c][at + 13 * c] = 1.0f;
        process_stream(p, &s, in, out, len);
        for (unsigned c = 0; c < 2; c++) {
                size_t t0 = at + 13 * c;
                double num = 0, den = 0, peak = 0;

                ret_peak[c] = -1;
                for (size_t t = t0 + delay - win; t <= t0 + delay + win; t++) {
                        num += (double) out[c][t] * ((double) t - (double) t0);
                        den += out[c][t];
                        if (fabs(out[c][t]) > peak) {
                                peak = fabs(out[c][t]);
                                ret_peak[c] = (long) t - (long) t0;
                        }
                }
                assert_true(den > 0.5);
                ret_centroid[c] = num / den;
        }
        *ret_delay = delay;
        planes_free(in, 2);
        planes_free(out, 2);
        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);
}

static void test_dry_delay_resampled(void **state) {
        static const uint32_t common[] = {8000, 16000, 22050, 32000, 44100, 96000, 192000};
        static const size_t frames[] = {0, 256, 1};

        (void) state;
        for (size_t r = 0; r < ELEMENTSOF(common); r++)
                for (size_t f = 0; f < ELEMENTSOF(frames); f++) {
                        size_t n = frames[f] ? frames[f] : common[r] / 100;

                        /* Several positions of the impulse against the resamplers' phases. */
                        for (size_t k = 0; k < 3; k++) {
                                size_t at = common[r] / 20 + k * 37, delay;
                                double centroid[2];
                                long peak[2];

                                if (frames[f] == 1 && k > 0)
                                        break;
                                impulse_delay(common[r], n, at, peak, centroid, &delay);
                                for (unsigned c = 0; c < 2; c++)
                                        if (peak[c] != (long) delay || fabs(centroid[c] - (double) delay) > 0.01)
                                                fail_msg("%u Hz, %zu frames, channel %u: reported delay %zu, "
                                                         "impulse peak at %ld, centroid %.4f",
                                                         common[r], n, c, delay, peak[c], centroid[c]);
                        }
                }
}

static void test_delay_constant(void **state) {
        static const Stream configs[] = {
                {.rate = 48000, .channels = 1, .frames = 480},
                {.rate = 48000, .channels = 2, .frames = 512},
                {.rate = 44100, .channels = 2, .frames = 441},
                {.rate = 16000, .channels = 1, .frames = 1024, .variable = true},
                {.rate = 96000, .channels = 6, .frames = 256},
        };
        AicProcessor *p = NULL;
        AicProcessorContext *ctx = NULL;
        size_t first[ELEMENTSOF(configs)];

        (void) state;
        assert_int_equal(aic_processor_create(&p, tiny, NULL), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_create(&ctx, p), AIC_ERROR_SUCCESS);
        for (unsigned round = 0; round < 3; round++)
                for (size_t i = 0; i < ELEMENTSOF(configs); i++) {
                        const Stream *s = &configs[i];
                        float *buf = calloc(s->channels * s->frames, sizeof(float));

                        assert_int_equal(
                                aic_processor_initialize(p, s->rate, (uint16_t) s->channels, s->frames, s->variable),
                                AIC_ERROR_SUCCESS);
                        if (round == 0)
                                first[i] = output_delay(ctx);
                        assert_int_equal(output_delay(ctx), first[i]);
                        /* Processing does not move it either. */
                        assert_non_null(buf);
                        for (int k = 0; k < 10; k++)
                                assert_int_equal(
                                        aic_processor_process_interleaved(p, buf, (uint16_t) s->channels, s->frames),
                                        AIC_ERROR_SUCCESS);
                        assert_int_equal(output_delay(ctx), first[i]);
                        free(buf);
                }
        /* A fresh processor agrees. */
        for (size_t i = 0; i < ELEMENTSOF(configs); i++) {
                AicProcessorContext *c2;
                AicProcessor *p2 = processor_new(&(Stream){.rate = configs[i].rate,
                                                           .channels = configs[i].channels,
                                                           .frames = configs[i].frames,
                                                           .variable = configs[i].variable,
                                                           .level = 1.0f},
                                                 &c2);

                assert_int_equal(output_delay(c2), first[i]);
                aic_processor_context_destroy(c2);
                aic_processor_destroy(p2);
        }
        /* The delay at the model's rate with its own block size is one hop. */
        assert_int_equal(first[0], 480);
        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);
}

static void test_no_underruns(void **state) {
        static const uint32_t odd_rates[] = {11025, 44100, 88200, 12345};
        static const size_t odd_blocks[] = {3, 100, 333, 1000, 2047};

        (void) state;
        /* The bypass tests count underruns for the common sizes (the wet
         * path runs either way); here odd ones, enhancing, with finite output. */
        for (size_t r = 0; r < ELEMENTSOF(odd_rates); r++)
                for (size_t b = 0; b < ELEMENTSOF(odd_blocks); b++)
                        for (unsigned variable = 0; variable < 2; variable++) {
                                Stream s = {.rate = odd_rates[r],
                                            .channels = 1,
                                            .frames = odd_blocks[b],
                                            .variable = variable,
                                            .level = 1.0f,
                                            .seed = (uint32_t) b + 1};
                                AicProcessorContext *ctx;
                                AicProcessor *p = processor_new(&s, &ctx);
                                size_t len = DIV_ROUND_UP(output_delay(ctx) + 2 * s.frames + 1000, s.frames) * s.frames;
                                float **in = planes_new(1, len), **out = planes_new(1, len);

                                test_fill_noise(in[0], len, 3, 0.5f);
                                process_stream(p, &s, in, out, len);
                                if (aic_processor_get_underruns(p) != 0)
                                        fail_msg("%u Hz, %zu frames%s: %llu underruns", s.rate, s.frames,
                                                 variable ? " (variable)" : "",
                                                 (unsigned long long) aic_processor_get_underruns(p));
                                for (size_t t = 0; t < len; t++)
                                        assert_true(isfinite(out[0][t]));
                                planes_free(in, 1);
                                planes_free(out, 1);
                                aic_processor_context_destroy(ctx);
                                aic_processor_destroy(p);
                        }
}

static void test_config_errors(void **state) {
        AicProcessor *p = NULL;
        AicProcessorContext *ctx = NULL;
        float buf[2 * 512] = {0}, *planes[2] = {buf, buf + 512};
        size_t delay = 7;

        (void) state;
        assert_int_equal(aic_processor_create(&p, tiny, NULL), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_create(&ctx, p), AIC_ERROR_SUCCESS);

        /* Before initialize. */
        assert_int_equal(aic_processor_process_interleaved(p, buf, 1, 480), AIC_ERROR_NOT_INITIALIZED);
        assert_int_equal(aic_processor_process_planar(p, planes, 1, 480), AIC_ERROR_NOT_INITIALIZED);
        assert_int_equal(aic_processor_context_get_output_delay(ctx, &delay), AIC_ERROR_NOT_INITIALIZED);
        assert_int_equal(delay, 7);

        /* Unsupported configurations, and they leave it uninitialized. */
        assert_int_equal(aic_processor_initialize(p, 7999, 1, 480, false), AIC_ERROR_AUDIO_CONFIG_UNSUPPORTED);
        assert_int_equal(aic_processor_initialize(p, 192001, 1, 480, false), AIC_ERROR_AUDIO_CONFIG_UNSUPPORTED);
        assert_int_equal(aic_processor_initialize(p, 0, 1, 480, false), AIC_ERROR_AUDIO_CONFIG_UNSUPPORTED);
        assert_int_equal(aic_processor_initialize(p, UINT32_MAX, 1, 480, false), AIC_ERROR_AUDIO_CONFIG_UNSUPPORTED);
        assert_int_equal(aic_processor_initialize(p, 48000, 0, 480, false), AIC_ERROR_AUDIO_CONFIG_UNSUPPORTED);
        assert_int_equal(aic_processor_initialize(p, 48000, 17, 480, false), AIC_ERROR_AUDIO_CONFIG_UNSUPPORTED);
        assert_int_equal(aic_processor_initialize(p, 48000, UINT16_MAX, 480, false),
                         AIC_ERROR_AUDIO_CONFIG_UNSUPPORTED);
        assert_int_equal(aic_processor_initialize(p, 48000, 1, 0, false), AIC_ERROR_AUDIO_CONFIG_UNSUPPORTED);
        assert_int_equal(aic_processor_initialize(p, 48000, 1, 16385, false), AIC_ERROR_AUDIO_CONFIG_UNSUPPORTED);
        assert_int_equal(aic_processor_initialize(p, 48000, 1, SIZE_MAX, true), AIC_ERROR_AUDIO_CONFIG_UNSUPPORTED);
        assert_int_equal(aic_processor_process_interleaved(p, buf, 1, 480), AIC_ERROR_NOT_INITIALIZED);

        /* The limits themselves are supported. */
        assert_int_equal(aic_processor_initialize(p, 8000, 16, 16384, false), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_initialize(p, 192000, 1, 1, false), AIC_ERROR_SUCCESS);

        /* Mismatches against 48 kHz stereo, 480 frames. */
        assert_int_equal(aic_processor_initialize(p, 48000, 2, 480, false), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_process_interleaved(p, buf, 1, 480), AIC_ERROR_AUDIO_CONFIG_MISMATCH);
        assert_int_equal(aic_processor_process_interleaved(p, buf, 3, 480), AIC_ERROR_AUDIO_CONFIG_MISMATCH);
        assert_int_equal(aic_processor_process_interleaved(p, buf, 2, 479), AIC_ERROR_AUDIO_CONFIG_MISMATCH);
        assert_int_equal(aic_processor_process_interleaved(p, buf, 2, 481), AIC_ERROR_AUDIO_CONFIG_MISMATCH);
        assert_int_equal(aic_processor_process_interleaved(p, buf, 2, 0), AIC_ERROR_AUDIO_CONFIG_MISMATCH);
        assert_int_equal(aic_processor_process_planar(p, planes, 1, 480), AIC_ERROR_AUDIO_CONFIG_MISMATCH);
        assert_int_equal(aic_processor_process_planar(p, planes, 2, 240), AIC_ERROR_AUDIO_CONFIG_MISMATCH);
        assert_int_equal(aic_processor_process_interleaved(p, buf, 2, 480), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_process_planar(p, planes, 2, 480), AIC_ERROR_SUCCESS);

        /* Variable frames: anything up to the maximum. */
        assert_int_equal(aic_processor_initialize(p, 44100, 2, 512, true), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_process_planar(p, planes, 2, 513), AIC_ERROR_AUDIO_CONFIG_MISMATCH);
        assert_int_equal(aic_processor_process_planar(p, planes, 1, 100), AIC_ERROR_AUDIO_CONFIG_MISMATCH);
        assert_int_equal(aic_processor_process_planar(p, planes, 2, 512), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_process_planar(p, planes, 2, 1), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_process_interleaved(p, buf, 2, 77), AIC_ERROR_SUCCESS);

        /* NULL pointers. */
        assert_int_equal(aic_processor_process_interleaved(NULL, buf, 2, 100), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_process_interleaved(p, NULL, 2, 100), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_process_planar(p, NULL, 2, 100), AIC_ERROR_NULL_POINTER);
        planes[1] = NULL;
        assert_int_equal(aic_processor_process_planar(p, planes, 2, 100), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_initialize(NULL, 48000, 1, 480, false), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_create(NULL, tiny, NULL), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_create(&p, NULL, NULL), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_context_create(NULL, p), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_context_create(&ctx, NULL), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_context_get_output_delay(ctx, NULL), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_context_get_output_delay(NULL, &delay), AIC_ERROR_NULL_POINTER);
        aic_processor_destroy(NULL);
        aic_processor_context_destroy(NULL);

        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);
}

static void test_parameters(void **state) {
        static const float bad_level[] = {-0.1f, 1.1f, -1e-7f, 1.0000001f, NAN, INFINITY, -INFINITY};
        static const float bad_bypass[] = {0.5f, -1.0f, 2.0f, 1e-7f, NAN, INFINITY};
        static const float good_level[] = {0.0f, 1e-6f, 0.3f, 0.5f, 0.999f, 1.0f};
        AicProcessor *p = NULL;
        AicProcessorContext *ctx = NULL;
        float v = -1.0f;

        (void) state;
        assert_int_equal(aic_processor_create(&p, tiny, NULL), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_create(&ctx, p), AIC_ERROR_SUCCESS);

        /* Defaults: enhancing at full level. */
        assert_int_equal(aic_processor_context_get_parameter(ctx, AIC_PARAMETER_BYPASS, &v), AIC_ERROR_SUCCESS);
        assert_true(v == 0.0f);
        assert_int_equal(aic_processor_context_get_parameter(ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, &v),
                         AIC_ERROR_SUCCESS);
        assert_true(v == 1.0f);

        for (size_t i = 0; i < ELEMENTSOF(good_level); i++) {
                assert_int_equal(
                        aic_processor_context_set_parameter(ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, good_level[i]),
                        AIC_ERROR_SUCCESS);
                assert_int_equal(aic_processor_context_get_parameter(ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, &v),
                                 AIC_ERROR_SUCCESS);
                assert_memory_equal(&v, &good_level[i], sizeof(float));
        }
        assert_int_equal(aic_processor_context_set_parameter(ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, 0.25f),
                         AIC_ERROR_SUCCESS);
        for (size_t i = 0; i < ELEMENTSOF(bad_level); i++) {
                assert_int_equal(
                        aic_processor_context_set_parameter(ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, bad_level[i]),
                        AIC_ERROR_PARAMETER_OUT_OF_RANGE);
                /* A refused value changes nothing. */
                assert_int_equal(aic_processor_context_get_parameter(ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, &v),
                                 AIC_ERROR_SUCCESS);
                assert_true(v == 0.25f);
        }

        assert_int_equal(aic_processor_context_set_parameter(ctx, AIC_PARAMETER_BYPASS, 1.0f), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_get_parameter(ctx, AIC_PARAMETER_BYPASS, &v), AIC_ERROR_SUCCESS);
        assert_true(v == 1.0f);
        for (size_t i = 0; i < ELEMENTSOF(bad_bypass); i++) {
                assert_int_equal(aic_processor_context_set_parameter(ctx, AIC_PARAMETER_BYPASS, bad_bypass[i]),
                                 AIC_ERROR_PARAMETER_OUT_OF_RANGE);
                assert_int_equal(aic_processor_context_get_parameter(ctx, AIC_PARAMETER_BYPASS, &v), AIC_ERROR_SUCCESS);
                assert_true(v == 1.0f);
        }
        assert_int_equal(aic_processor_context_set_parameter(ctx, AIC_PARAMETER_BYPASS, 0.0f), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_get_parameter(ctx, AIC_PARAMETER_BYPASS, &v), AIC_ERROR_SUCCESS);
        assert_true(v == 0.0f);

        /* Unknown parameters and NULLs. */
        assert_int_equal(aic_processor_context_set_parameter(ctx, (enum aic_parameter) 2, 0.0f),
                         AIC_ERROR_PARAMETER_OUT_OF_RANGE);
        assert_int_equal(aic_processor_context_get_parameter(ctx, (enum aic_parameter) 99, &v),
                         AIC_ERROR_PARAMETER_OUT_OF_RANGE);
        assert_int_equal(aic_processor_context_set_parameter(NULL, AIC_PARAMETER_BYPASS, 0.0f), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_context_get_parameter(ctx, AIC_PARAMETER_BYPASS, NULL), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_context_get_parameter(NULL, AIC_PARAMETER_BYPASS, &v), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_context_reset(NULL), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_context_get_vad_probability(NULL, &v), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_context_get_vad_probability(ctx, NULL), AIC_ERROR_NULL_POINTER);

        /* Parameters survive initialize: they belong to the processor. */
        assert_int_equal(aic_processor_context_set_parameter(ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, 0.5f),
                         AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_initialize(p, 48000, 1, 480, false), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_get_parameter(ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, &v),
                         AIC_ERROR_SUCCESS);
        assert_true(v == 0.5f);

        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);
}

/* Enhanced RMS of 2 s of white noise at `level` (48 kHz mono), after the delay. */
static double rms_at_level(float level, const float *noise, size_t len, float *out_copy) {
        Stream s = {.rate = 48000, .channels = 1, .frames = 480, .level = level};
        AicProcessorContext *ctx;
        AicProcessor *p = processor_new(&s, &ctx);
        float **in = planes_new(1, len), **out = planes_new(1, len);
        size_t delay = output_delay(ctx);
        double rms;

        memcpy(in[0], noise, len * sizeof(float));
        process_stream(p, &s, in, out, len);
        rms = test_rms(out[0] + delay, len - delay);
        if (out_copy)
                memcpy(out_copy, out[0], len * sizeof(float));
        planes_free(in, 1);
        planes_free(out, 1);
        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);
        return rms;
}

static void test_level_monotonic(void **state) {
        static const float levels[] = {0.0f, 0.1f, 0.25f, 0.5f, 0.75f, 0.9f, 1.0f};
        size_t len = 96000;
        float *noise = malloc(len * sizeof(float)), *dry = malloc(len * sizeof(float));
        double rms[ELEMENTSOF(levels)], in_rms;

        (void) state;
        assert_non_null(noise);
        assert_non_null(dry);
        test_fill_noise(noise, len, 4242, 0.5f);
        in_rms = test_rms(noise, len - 480);
        for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
                rms[i] = rms_at_level(levels[i], noise, len, i == 0 ? dry : NULL);
                print_message("level %.2f: rms %.5f (input %.5f)\n", levels[i], rms[i], in_rms);
        }
        /* Level 0 is dry. */
        assert_true(fabs(rms[0] - in_rms) < 1e-4 * in_rms);
        for (size_t t = 480; t < len; t++)
                assert_true(fabsf(dry[t] - noise[t - 480]) < 1e-5f);
        /* More level, more attenuation; full level attenuates clearly. */
        for (size_t i = 1; i < ELEMENTSOF(levels); i++)
                if (!(rms[i] < rms[i - 1]))
                        fail_msg("rms at level %.2f (%g) is not below level %.2f (%g)", levels[i], rms[i],
                                 levels[i - 1], rms[i - 1]);
        assert_true(rms[ELEMENTSOF(levels) - 1] < 0.9 * in_rms);
        free(noise);
        free(dry);
}

static void test_bypass_switch(void **state) {
        static const struct {
                uint32_t rate;
                size_t frames;
                unsigned every;
        } cases[] = {
                {48000, 480, 7}, {48000, 128, 3}, {44100, 441, 5}, {16000, 160, 4}, {48000, 4096, 1}, {96000, 64, 11},
        };

        (void) state;
        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                Stream s = {.rate = cases[k].rate, .channels = 1, .frames = cases[k].frames, .level = 1.0f};
                AicProcessorContext *ctx;
                AicProcessor *p = processor_new(&s, &ctx);
                size_t delay = output_delay(ctx), len = DIV_ROUND_UP((size_t) s.rate * 2, s.frames) * s.frames;
                size_t win = s.rate / 200;
                float *x = calloc(len, sizeof(float));
                double in_step = 0, out_step = 0, min_rms = INFINITY, max_rms = 0, w = 2.0 * M_PI * 440.0 / s.rate;
                unsigned toggles = 0;

                assert_non_null(x);
                for (size_t t = 0; t < len; t++)
                        x[t] = (float) (0.5 * sin(w * (double) t));
                for (size_t t = 1; t < len; t++)
                        in_step = fmax(in_step, fabs((double) x[t] - x[t - 1]));

                for (size_t b = 0; b * s.frames < len; b++) {
                        float *blk = x + b * s.frames;

                        if (b > 0 && b % cases[k].every == 0) {
                                assert_int_equal(aic_processor_context_set_parameter(ctx, AIC_PARAMETER_BYPASS,
                                                                                     (float) (toggles % 2 == 0)),
                                                 AIC_ERROR_SUCCESS);
                                toggles++;
                        }
                        assert_int_equal(aic_processor_process_interleaved(p, blk, 1, s.frames), AIC_ERROR_SUCCESS);
                }
                assert_true(toggles > 2);
                /* Once the delayed sine arrives: no jump bigger than a few
                 * sine steps, and never a silent 5 ms. */
                for (size_t t = delay + s.rate / 50; t < len; t++)
                        out_step = fmax(out_step, fabs((double) x[t] - x[t - 1]));
                for (size_t t = delay + s.rate / 50; t + win < len; t += win / 2) {
                        min_rms = fmin(min_rms, test_rms(x + t, win));
                        max_rms = fmax(max_rms, test_rms(x + t, win));
                }
                print_message("%u Hz/%zu: sine step %.4f, largest output step %.4f, 5 ms rms %.4f..%.4f\n", s.rate,
                              s.frames, in_step, out_step, min_rms, max_rms);
                if (out_step > 3.0 * in_step)
                        fail_msg("%u Hz: click: output step %g vs sine step %g", s.rate, out_step, in_step);
                if (min_rms < 0.05)
                        fail_msg("%u Hz: gap: a 5 ms stretch with rms %g", s.rate, min_rms);
                /* The toggles took effect: enhanced and dry stretches differ. */
                assert_true(max_rms > 1.5 * min_rms);
                assert_int_equal(aic_processor_get_underruns(p), 0);
                free(x);
                aic_processor_context_destroy(ctx);
                aic_processor_destroy(p);
        }
}

static void test_bypass_settles_exact(void **state) {
        Stream s = {.rate = 44100, .channels = 2, .frames = 441, .level = 1.0f};
        AicProcessorContext *ctx;
        AicProcessor *p = processor_new(&s, &ctx);
        size_t delay = output_delay(ctx), len = 441 * 200, switch_at = 441 * 40;
        float **in = planes_new(2, len), **out = planes_new(2, len);
        Stream first = s, second = s;

        (void) state;
        for (unsigned c = 0; c < 2; c++)
                test_fill_noise(in[c], len, 55 + c, 0.5f);
        /* Enhance, then switch to bypass mid-stream: after the crossfade
         * the output is the delayed input again, bit for bit. */
        process_stream(p, &first, in, out, switch_at);
        assert_int_equal(aic_processor_context_set_parameter(ctx, AIC_PARAMETER_BYPASS, 1.0f), AIC_ERROR_SUCCESS);
        {
                float *in2[2] = {in[0] + switch_at, in[1] + switch_at},
                      *out2[2] = {out[0] + switch_at, out[1] + switch_at};

                process_stream(p, &second, in2, out2, len - switch_at);
        }
        for (unsigned c = 0; c < 2; c++) {
                size_t from = switch_at + 441; /* 10 ms crossfade, rounded up to a block */

                assert_memory_equal(out[c] + from, in[c] + from - delay, (len - from) * sizeof(float));
                /* And before the switch it was enhancing, i.e. different. */
                assert_true(memcmp(out[c] + delay + 4410, in[c] + 4410, 4410 * sizeof(float)) != 0);
        }
        planes_free(in, 2);
        planes_free(out, 2);
        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);
}

static void test_reset(void **state) {
        static const Stream configs[] = {
                {.rate = 48000, .channels = 1, .frames = 480, .level = 1.0f},
                {.rate = 44100, .channels = 2, .frames = 512, .level = 1.0f},
                {.rate = 16000,
                 .channels = 1,
                 .frames = 1000,
                 .variable = true,
                 .planar = true,
                 .level = 0.7f,
                 .seed = 5},
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(configs); i++) {
                const Stream *s = &configs[i];
                AicProcessorContext *ca, *cb;
                AicProcessor *a = processor_new(s, &ca), *b = processor_new(s, &cb);
                size_t len = DIV_ROUND_UP((size_t) s->rate, s->frames) * s->frames;
                float **x = planes_new(s->channels, len), **y = planes_new(s->channels, len);
                float **oa = planes_new(s->channels, len), **ob = planes_new(s->channels, len);
                float vad = -1;

                for (unsigned c = 0; c < s->channels; c++) {
                        test_fill_noise(x[c], len, 11 + c, 0.8f);
                        test_fill_noise(y[c], len, 77 + c, 0.3f);
                }
                /* Dirty a's state, switch to bypass mid-crossfade, then reset. */
                process_stream(a, s, x, oa, len);
                assert_int_equal(aic_processor_context_set_parameter(ca, AIC_PARAMETER_BYPASS, 1.0f),
                                 AIC_ERROR_SUCCESS);
                process_stream(a, s, x, oa, s->frames);
                assert_int_equal(aic_processor_context_set_parameter(ca, AIC_PARAMETER_BYPASS, 0.0f),
                                 AIC_ERROR_SUCCESS);
                assert_int_equal(aic_processor_context_get_vad_probability(ca, &vad), AIC_ERROR_SUCCESS);
                assert_true(vad >= 0.0f && vad <= 1.0f);
                assert_int_equal(aic_processor_context_reset(ca), AIC_ERROR_SUCCESS);

                process_stream(a, s, y, oa, len);
                process_stream(b, s, y, ob, len);
                for (unsigned c = 0; c < s->channels; c++)
                        if (memcmp(oa[c], ob[c], len * sizeof(float)) != 0)
                                fail_msg("%u Hz: output after reset differs from a fresh processor's", s->rate);
                assert_int_equal(output_delay(ca), output_delay(cb));

                planes_free(x, s->channels);
                planes_free(y, s->channels);
                planes_free(oa, s->channels);
                planes_free(ob, s->channels);
                aic_processor_context_destroy(ca);
                aic_processor_context_destroy(cb);
                aic_processor_destroy(a);
                aic_processor_destroy(b);
        }
}

static void test_vad(void **state) {
        Stream s = {.rate = 48000, .channels = 1, .frames = 480, .level = 1.0f};
        AicProcessorContext *ctx;
        AicProcessor *p = processor_new(&s, &ctx);
        float buf[480], vad = -1.0f, first = -1.0f;
        bool changed = false;

        (void) state;
        for (int i = 0; i < 50; i++) {
                test_fill_noise(buf, 480, (uint32_t) i + 1, i < 25 ? 0.001f : 0.9f);
                assert_int_equal(aic_processor_process_interleaved(p, buf, 1, 480), AIC_ERROR_SUCCESS);
                assert_int_equal(aic_processor_context_get_vad_probability(ctx, &vad), AIC_ERROR_SUCCESS);
                assert_true(vad >= 0.0f && vad <= 1.0f);
                if (i == 0)
                        first = vad;
                else if (vad != first)
                        changed = true;
        }
        /* It follows the model: not a constant. */
        assert_true(changed);
        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bypass_exact),
                cmocka_unit_test(test_bypass_exact_layouts),
                cmocka_unit_test(test_bypass_exact_variable),
                cmocka_unit_test(test_bypass_odd_rates),
                cmocka_unit_test(test_bypass_largest_blocks),
                cmocka_unit_test(test_dry_delay_48k),
                cmocka_unit_test(test_dry_delay_resampled),
                cmocka_unit_test(test_delay_constant),
                cmocka_unit_test(test_no_underruns),
                cmocka_unit_test(test_config_errors),
                cmocka_unit_test(test_parameters),
                cmocka_unit_test(test_level_monotonic),
                cmocka_unit_test(test_bypass_switch),
                cmocka_unit_test(test_bypass_settles_exact),
                cmocka_unit_test(test_reset),
                cmocka_unit_test(test_vad),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
