/* SPDX-License-Identifier: MIT */
/*
 * Processors and their contexts: rate conversion to and from the model's
 * rate, framing of any block size into model hops, the exactly delayed dry
 * path, the bypass crossfade and the licence gate. Everything is allocated in
 * initialize; the process functions only move and compute samples.
 *
 *   input --+--> dry FIFO (prefilled with `delay` zeros) ------------+--> mix --> output
 *           +--> resample -> hop FIFO -> dsp -> resample -> wet FIFO -+
 */
#include <math.h>
#include <pthread.h>
#include <speex/speex_resampler.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aic.h"
#include "credential.h"
#include "dsp.h"
#include "fifo.h"
#include "model.h"
#include "util.h"

#define AIC_MAX_CHANNELS 16u
#define AIC_MAX_FRAMES 16384u
#define AIC_CROSSFADE_MS 10u
#define AIC_RESAMPLER_QUALITY SPEEX_RESAMPLER_QUALITY_DESKTOP

/* State shared by a processor and its contexts. Only atomics are touched by
 * the audio thread; the mutex serialises credential changes between callers. */
typedef struct Shared {
        atomic_uint n_ref;
        atomic_uint bypass;
        atomic_uint level_bits;
        atomic_uint reset_seq;
        atomic_uint vad_bits;
        atomic_bool initialized;
        atomic_size_t delay;
        atomic_int cred_kind;
        atomic_llong cred_expires_at;
        atomic_llong cred_not_before;
        atomic_bool allowed;
        pthread_mutex_t cred_lock;
} Shared;

struct AicProcessorContext {
        Shared *shared;
};

struct AicProcessor {
        AicModel *model;
        Shared *shared;

        bool initialized;
        uint32_t rate;
        unsigned n_channels;
        size_t max_frames;
        bool variable;
        bool resample;
        size_t delay;
        size_t prefill; /* zeros the wet FIFO starts with */
        size_t align; /* model-rate zeros that make a resampled delay an integer */

        Dsp *dsp;
        /* One mono resampler per channel: speexdsp's reset_mem clears only
         * the first channel's history in a multichannel state. */
        SpeexResamplerState *rs_in[AIC_MAX_CHANNELS], *rs_out[AIC_MAX_CHANNELS];
        Fifo hop_in[AIC_MAX_CHANNELS];  /* model rate, waiting for a full hop */
        Fifo wet[AIC_MAX_CHANNELS];     /* output rate, enhanced */
        Fifo dry[AIC_MAX_CHANNELS];     /* output rate, delay line */
        float *plane[AIC_MAX_CHANNELS]; /* de-interleaved block */
        float *hop_out[AIC_MAX_CHANNELS];

        unsigned reset_seen;
        bool started;
        float xf;      /* weight of the enhanced signal, 0..1 */
        float xf_step; /* per sample */
        uint64_t underruns;
};

static uint32_t float_bits(float f) {
        uint32_t u;

        memcpy(&u, &f, sizeof(u));
        return u;
}

static float bits_float(uint32_t u) {
        float f;

        memcpy(&f, &u, sizeof(f));
        return f;
}

static int64_t now_seconds(void) {
        struct timespec ts;

        /* The coarse clock is served from the vDSO: no system call. */
        clock_gettime(CLOCK_REALTIME_COARSE, &ts);
        return (int64_t) ts.tv_sec;
}

static Shared *shared_ref(Shared *s) {
        atomic_fetch_add_explicit(&s->n_ref, 1, memory_order_relaxed);
        return s;
}

static void shared_unref(Shared *s) {
        if (!s)
                return;
        if (atomic_fetch_sub_explicit(&s->n_ref, 1, memory_order_acq_rel) == 1) {
                pthread_mutex_destroy(&s->cred_lock);
                free(s);
        }
}

static void processor_release_buffers(AicProcessor *p) {
        for (unsigned c = 0; c < AIC_MAX_CHANNELS; c++) {
                fifo_done(&p->hop_in[c]);
                fifo_done(&p->wet[c]);
                fifo_done(&p->dry[c]);
                free(p->plane[c]);
                free(p->hop_out[c]);
                p->plane[c] = p->hop_out[c] = NULL;
                if (p->rs_in[c])
                        speex_resampler_destroy(p->rs_in[c]);
                if (p->rs_out[c])
                        speex_resampler_destroy(p->rs_out[c]);
                p->rs_in[c] = p->rs_out[c] = NULL;
        }
        p->dsp = dsp_free(p->dsp);
        p->initialized = false;
}

AIC_API enum aic_error aic_processor_create(AicProcessor **ret_processor, const AicModel *model, const char *credential) {
        Credential cred = {.kind = CREDENTIAL_NONE};
        AicProcessor *p;
        Shared *s;

        if (!ret_processor || !model)
                return AIC_ERROR_NULL_POINTER;
        if (credential) {
                enum aic_error r = credential_parse(credential, now_seconds(), &cred);

                /* An expired credential still makes a processor: it passes
                 * audio through until a fresh token arrives (fail soft). */
                if (r != AIC_ERROR_SUCCESS && r != AIC_ERROR_LICENSE_EXPIRED)
                        return r;
        }

        s = calloc(1, sizeof(*s));
        p = calloc(1, sizeof(*p));
        if (!s || !p) {
                free(s);
                free(p);
                return AIC_ERROR_INTERNAL;
        }
        atomic_init(&s->n_ref, 1);
        atomic_init(&s->bypass, 0);
        atomic_init(&s->level_bits, float_bits(1.0f));
        atomic_init(&s->reset_seq, 0);
        atomic_init(&s->vad_bits, float_bits(0.0f));
        atomic_init(&s->initialized, false);
        atomic_init(&s->delay, 0);
        atomic_init(&s->cred_kind, cred.kind);
        atomic_init(&s->cred_expires_at, cred.expires_at);
        atomic_init(&s->cred_not_before, cred.not_before);
        atomic_init(&s->allowed, true);
        pthread_mutex_init(&s->cred_lock, NULL);

        p->shared = s;
        p->model = model_ref(model);
        *ret_processor = p;
        return AIC_ERROR_SUCCESS;
}

AIC_API void aic_processor_destroy(AicProcessor *p) {
        if (!p)
                return;
        processor_release_buffers(p);
        atomic_store(&p->shared->initialized, false);
        shared_unref(p->shared);
        model_unref(p->model);
        free(p);
}

static unsigned gcd(unsigned a, unsigned b) {
        while (b) {
                unsigned t = a % b;
                a = b;
                b = t;
        }
        return a;
}

static void processor_prefill(AicProcessor *p, size_t wet_prefill) {
        for (unsigned c = 0; c < p->n_channels; c++) {
                fifo_clear(&p->hop_in[c]);
                fifo_clear(&p->wet[c]);
                fifo_clear(&p->dry[c]);
                fifo_push_zeros(&p->wet[c], wet_prefill);
                fifo_push_zeros(&p->dry[c], p->delay);

                /* Shifts the enhanced stream by `align` model samples, which
                 * is what lands its delay on a whole output sample. */
                memset(p->hop_out[c], 0, p->model->hop * sizeof(float));
                for (size_t left = p->align; left > 0;) {
                        spx_uint32_t in_len = (spx_uint32_t) MIN(left, (size_t) p->model->hop);
                        spx_uint32_t out_len = (spx_uint32_t) fifo_room(&p->wet[c]);
                        float *dst = fifo_write_ptr(&p->wet[c], out_len);

                        speex_resampler_process_float(p->rs_out[c], 0, p->hop_out[c], &in_len, dst, &out_len);
                        fifo_commit(&p->wet[c], out_len);
                        left -= in_len;
                }
        }
}

/* Zeros prefilled into the wet FIFO: the most the framing (and resampling)
 * can lag behind the block that must be returned. See the README's latency
 * section for the derivation. */
static size_t wet_prefill(const AicProcessor *p) {
        unsigned hop = p->model->hop;

        if (!p->resample) {
                if (p->variable)
                        return hop - 1;
                return hop - gcd((unsigned) (p->max_frames % hop == 0 ? hop : p->max_frames % hop), hop);
        }
        return (size_t) ceil((double) hop * p->rate / p->model->sample_rate) + 3;
}

/*
 * With resampling the wet path's lag follows the resamplers' sample counts,
 * which depend only on the block sizes, never on the audio. For fixed blocks,
 * run a few seconds of silence through the real resamplers and framing and
 * measure how much of the conservative prefill was never needed. Returns
 * that spare amount (0 when there is none or blocks vary).
 */
static size_t processor_measure_spare(AicProcessor *p, size_t prefill) {
        unsigned hop = p->model->hop;
        size_t spare = SIZE_MAX, n = p->max_frames;
        /* Four seconds, or 32768 blocks for tiny blocks: either spans many
         * periods of the resamplers' count patterns. */
        size_t n_blocks = MAX((size_t) 64, MIN((size_t) 4 * p->rate / n, (size_t) 32768));

        if (!p->resample || p->variable)
                return 0;
        processor_prefill(p, prefill);
        memset(p->plane[0], 0, n * sizeof(float));
        for (size_t k = 0; k < n_blocks; k++) {
                spx_uint32_t in_len = (spx_uint32_t) n, out_len = (spx_uint32_t) fifo_room(&p->hop_in[0]);
                float *dst = fifo_write_ptr(&p->hop_in[0], out_len);

                speex_resampler_process_float(p->rs_in[0], 0, p->plane[0], &in_len, dst, &out_len);
                fifo_commit(&p->hop_in[0], out_len);
                while (fifo_len(&p->hop_in[0]) >= hop) {
                        spx_uint32_t h_len = hop, w_len = (spx_uint32_t) fifo_room(&p->wet[0]);
                        float *w = fifo_write_ptr(&p->wet[0], w_len);

                        fifo_consume(&p->hop_in[0], hop);
                        memset(p->hop_out[0], 0, hop * sizeof(float));
                        speex_resampler_process_float(p->rs_out[0], 0, p->hop_out[0], &h_len, w, &w_len);
                        fifo_commit(&p->wet[0], w_len);
                }
                if (fifo_len(&p->wet[0]) < n)
                        return 0;
                spare = MIN(spare, fifo_len(&p->wet[0]) - n);
                fifo_consume(&p->wet[0], n);
        }
        for (unsigned c = 0; c < p->n_channels; c++) {
                speex_resampler_reset_mem(p->rs_in[c]);
                speex_resampler_reset_mem(p->rs_out[c]);
        }
        /* Keep one sample in hand against patterns longer than the run. */
        return spare == SIZE_MAX || spare == 0 ? 0 : MIN(spare - 1, prefill);
}

AIC_API enum aic_error aic_processor_initialize(AicProcessor *p, uint32_t sample_rate, uint16_t num_channels,
                                                size_t num_frames, bool allow_variable_frames) {
        const AicModel *m;
        size_t prefill, model_block, cap_in, cap_wet, cap_dry;
        double delay;
        int err = 0;

        if (!p)
                return AIC_ERROR_NULL_POINTER;
        if (sample_rate < 8000 || sample_rate > 192000 || num_channels < 1 || num_channels > AIC_MAX_CHANNELS ||
            num_frames < 1 || num_frames > AIC_MAX_FRAMES)
                return AIC_ERROR_AUDIO_CONFIG_UNSUPPORTED;

        m = p->model;
        atomic_store(&p->shared->initialized, false);
        processor_release_buffers(p);

        p->rate = sample_rate;
        p->n_channels = num_channels;
        p->max_frames = num_frames;
        p->variable = allow_variable_frames;
        p->resample = sample_rate != m->sample_rate;

        if (dsp_new(m, num_channels, &p->dsp) < 0)
                goto fail;
        for (unsigned c = 0; p->resample && c < num_channels; c++) {
                p->rs_in[c] = speex_resampler_init(1, sample_rate, m->sample_rate, AIC_RESAMPLER_QUALITY, &err);
                if (!p->rs_in[c] || err != RESAMPLER_ERR_SUCCESS)
                        goto fail;
                p->rs_out[c] = speex_resampler_init(1, m->sample_rate, sample_rate, AIC_RESAMPLER_QUALITY, &err);
                if (!p->rs_out[c] || err != RESAMPLER_ERR_SUCCESS)
                        goto fail;
        }

        prefill = wet_prefill(p);
        p->align = 0;
        if (p->resample) {
                /* Seconds of delay: in_lat1 / rate + (hop + in_lat2) / model_rate.
                 * The second term is a whole number of output samples only
                 * when (hop + in_lat2) is a multiple of q below; pad it up to
                 * one when that costs at most two hops, else round. */
                unsigned in_lat1 = (unsigned) speex_resampler_get_input_latency(p->rs_in[0]);
                unsigned in_lat2 = (unsigned) speex_resampler_get_input_latency(p->rs_out[0]);
                unsigned g = gcd(sample_rate, m->sample_rate), q = m->sample_rate / g;
                uint64_t model_delay = m->hop + in_lat2;

                if (q <= 2 * m->hop) {
                        p->align = (q - model_delay % q) % q;
                        model_delay += p->align;
                        p->delay = in_lat1 + (size_t) (model_delay * sample_rate / m->sample_rate) + prefill;
                } else {
                        delay = in_lat1 + (double) model_delay * sample_rate / m->sample_rate + (double) prefill;
                        p->delay = (size_t) lround(delay);
                }
        } else
                p->delay = m->hop + prefill;

        /* Room for the worst case, doubled so that compaction stays rare. */
        model_block = (size_t) ceil((double) num_frames * m->sample_rate / sample_rate) + 8;
        cap_in = 2 * (model_block + m->hop);
        cap_wet = 2 * (prefill + num_frames + (size_t) ceil((double) (3 * m->hop) * sample_rate / m->sample_rate) + 8);
        cap_dry = 2 * (p->delay + num_frames);
        for (unsigned c = 0; c < num_channels; c++) {
                if (fifo_init(&p->hop_in[c], cap_in) < 0 || fifo_init(&p->wet[c], cap_wet) < 0 ||
                    fifo_init(&p->dry[c], cap_dry) < 0)
                        goto fail;
                p->plane[c] = calloc(num_frames, sizeof(float));
                p->hop_out[c] = calloc(m->hop, sizeof(float));
                if (!p->plane[c] || !p->hop_out[c])
                        goto fail;
        }
        if (p->resample) {
                size_t spare = processor_measure_spare(p, prefill);

                prefill -= spare;
                p->delay -= spare;
        }
        p->prefill = prefill;
        processor_prefill(p, prefill);

        p->xf_step = 1.0f / (float) MAX(1u, sample_rate * AIC_CROSSFADE_MS / 1000u);
        p->started = false;
        p->underruns = 0;
        p->reset_seen = atomic_load(&p->shared->reset_seq);
        p->initialized = true;
        atomic_store(&p->shared->delay, p->delay);
        atomic_store(&p->shared->initialized, true);
        return AIC_ERROR_SUCCESS;

fail:
        processor_release_buffers(p);
        return AIC_ERROR_INTERNAL;
}

static void processor_reset(AicProcessor *p) {
        dsp_reset(p->dsp);
        for (unsigned c = 0; p->resample && c < p->n_channels; c++) {
                speex_resampler_reset_mem(p->rs_in[c]);
                speex_resampler_reset_mem(p->rs_out[c]);
        }
        processor_prefill(p, p->prefill);
        p->started = false;
}

/* Whether enhancement may run now, and why not. */
static enum aic_error processor_gate(const Shared *s) {
        int64_t exp, nbf, now;

        if (!atomic_load_explicit(&s->allowed, memory_order_relaxed))
                return AIC_ERROR_ENHANCEMENT_NOT_ALLOWED;
        if (atomic_load_explicit(&s->cred_kind, memory_order_relaxed) == CREDENTIAL_NONE)
                return AIC_ERROR_SUCCESS;
        exp = atomic_load_explicit(&s->cred_expires_at, memory_order_relaxed);
        nbf = atomic_load_explicit(&s->cred_not_before, memory_order_relaxed);
        if (exp == 0 && nbf == 0)
                return AIC_ERROR_SUCCESS;
        now = now_seconds();
        if (exp != 0 && now >= exp)
                return AIC_ERROR_LICENSE_EXPIRED;
        if (nbf != 0 && now < nbf)
                return AIC_ERROR_ENHANCEMENT_NOT_ALLOWED;
        return AIC_ERROR_SUCCESS;
}

/* Runs every complete hop waiting at the model rate into the wet FIFOs. */
static void processor_run_hops(AicProcessor *p, float level) {
        const float *in[AIC_MAX_CHANNELS];
        float *out[AIC_MAX_CHANNELS];
        unsigned hop = p->model->hop;
        float vad = -1.0f;

        while (fifo_len(&p->hop_in[0]) >= hop) {
                for (unsigned c = 0; c < p->n_channels; c++) {
                        in[c] = fifo_read_ptr(&p->hop_in[c]);
                        out[c] = p->resample ? p->hop_out[c] : fifo_write_ptr(&p->wet[c], hop);
                }
                vad = dsp_process(p->dsp, in, out, level);
                for (unsigned c = 0; c < p->n_channels; c++) {
                        fifo_consume(&p->hop_in[c], hop);
                        if (!p->resample)
                                fifo_commit(&p->wet[c], hop);
                        else {
                                spx_uint32_t in_len = hop, out_len = (spx_uint32_t) fifo_room(&p->wet[c]);
                                float *dst = fifo_write_ptr(&p->wet[c], out_len);

                                speex_resampler_process_float(p->rs_out[c], 0, p->hop_out[c], &in_len, dst, &out_len);
                                fifo_commit(&p->wet[c], out_len);
                        }
                }
        }
        if (vad >= 0.0f)
                atomic_store_explicit(&p->shared->vad_bits, float_bits(vad), memory_order_relaxed);
}

static enum aic_error processor_process(AicProcessor *p, float *const *io, size_t n) {
        Shared *s = p->shared;
        enum aic_error gate;
        unsigned seq;
        float level, target, xf_end = 0.0f;

        seq = atomic_load_explicit(&s->reset_seq, memory_order_acquire);
        if (seq != p->reset_seen) {
                p->reset_seen = seq;
                processor_reset(p);
        }

        gate = processor_gate(s);
        level = bits_float(atomic_load_explicit(&s->level_bits, memory_order_relaxed));
        target = gate == AIC_ERROR_SUCCESS && !atomic_load_explicit(&s->bypass, memory_order_relaxed) ? 1.0f : 0.0f;
        if (!p->started) {
                p->xf = target;
                p->started = true;
        }

        for (unsigned c = 0; c < p->n_channels; c++) {
                fifo_push(&p->dry[c], io[c], n);
                if (!p->resample)
                        fifo_push(&p->hop_in[c], io[c], n);
                else {
                        spx_uint32_t in_len = (spx_uint32_t) n, out_len = (spx_uint32_t) fifo_room(&p->hop_in[c]);
                        float *dst = fifo_write_ptr(&p->hop_in[c], out_len);

                        speex_resampler_process_float(p->rs_in[c], 0, io[c], &in_len, dst, &out_len);
                        fifo_commit(&p->hop_in[c], out_len);
                }
        }

        processor_run_hops(p, level);

        for (unsigned c = 0; c < p->n_channels; c++) {
                const float *dry, *wet;
                float xf = p->xf;

                if (_unlikely_(fifo_len(&p->wet[c]) < n)) {
                        /* Cannot happen with the prefill above; counted for tests. */
                        p->underruns++;
                        fifo_push_zeros(&p->wet[c], n - fifo_len(&p->wet[c]));
                }
                dry = fifo_read_ptr(&p->dry[c]);
                wet = fifo_read_ptr(&p->wet[c]);

                if (xf == target) {
                        /* Steady state: exact copies, so bypass is bit-exact. */
                        memcpy(io[c], target == 0.0f ? dry : wet, n * sizeof(float));
                } else {
                        for (size_t i = 0; i < n; i++) {
                                xf = target > xf ? MIN(target, xf + p->xf_step) : MAX(target, xf - p->xf_step);
                                io[c][i] = xf * wet[i] + (1.0f - xf) * dry[i];
                        }
                }
                xf_end = xf;
                fifo_consume(&p->dry[c], n);
                fifo_consume(&p->wet[c], n);
        }
        p->xf = xf_end;

        return gate;
}

static enum aic_error processor_check(const AicProcessor *p, uint16_t num_channels, size_t num_frames) {
        if (!p->initialized)
                return AIC_ERROR_NOT_INITIALIZED;
        if (num_channels != p->n_channels)
                return AIC_ERROR_AUDIO_CONFIG_MISMATCH;
        if (p->variable ? num_frames > p->max_frames : num_frames != p->max_frames)
                return AIC_ERROR_AUDIO_CONFIG_MISMATCH;
        return AIC_ERROR_SUCCESS;
}

AIC_API enum aic_error aic_processor_process_planar(AicProcessor *p, float *const *audio, uint16_t num_channels,
                                                    size_t num_frames) {
        enum aic_error r;

        if (!p || !audio)
                return AIC_ERROR_NULL_POINTER;
        r = processor_check(p, num_channels, num_frames);
        if (r != AIC_ERROR_SUCCESS)
                return r;
        for (unsigned c = 0; c < num_channels; c++)
                if (!audio[c])
                        return AIC_ERROR_NULL_POINTER;
        if (num_frames == 0)
                return AIC_ERROR_SUCCESS;
        return processor_process(p, audio, num_frames);
}

AIC_API enum aic_error aic_processor_process_interleaved(AicProcessor *p, float *audio, uint16_t num_channels,
                                                         size_t num_frames) {
        enum aic_error r;

        if (!p || !audio)
                return AIC_ERROR_NULL_POINTER;
        r = processor_check(p, num_channels, num_frames);
        if (r != AIC_ERROR_SUCCESS || num_frames == 0)
                return r;
        for (size_t i = 0; i < num_frames; i++)
                for (unsigned c = 0; c < num_channels; c++)
                        p->plane[c][i] = audio[i * num_channels + c];
        r = processor_process(p, p->plane, num_frames);
        for (size_t i = 0; i < num_frames; i++)
                for (unsigned c = 0; c < num_channels; c++)
                        audio[i * num_channels + c] = p->plane[c][i];
        return r;
}

/* For tests: how often the wet path ran dry (must stay 0). */
AIC_API uint64_t aic_processor_get_underruns(const AicProcessor *p);
AIC_API uint64_t aic_processor_get_underruns(const AicProcessor *p) {
        return p ? p->underruns : 0;
}

AIC_API enum aic_error aic_processor_context_create(AicProcessorContext **ret_context, const AicProcessor *p) {
        AicProcessorContext *ctx;

        if (!ret_context || !p)
                return AIC_ERROR_NULL_POINTER;
        ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
                return AIC_ERROR_INTERNAL;
        ctx->shared = shared_ref(p->shared);
        *ret_context = ctx;
        return AIC_ERROR_SUCCESS;
}

AIC_API void aic_processor_context_destroy(AicProcessorContext *ctx) {
        if (!ctx)
                return;
        shared_unref(ctx->shared);
        free(ctx);
}

AIC_API enum aic_error aic_processor_context_reset(AicProcessorContext *ctx) {
        if (!ctx)
                return AIC_ERROR_NULL_POINTER;
        atomic_fetch_add_explicit(&ctx->shared->reset_seq, 1, memory_order_release);
        return AIC_ERROR_SUCCESS;
}

AIC_API enum aic_error aic_processor_context_set_parameter(AicProcessorContext *ctx, enum aic_parameter parameter,
                                                           float value) {
        if (!ctx)
                return AIC_ERROR_NULL_POINTER;
        if (!isfinite(value))
                return AIC_ERROR_PARAMETER_OUT_OF_RANGE;
        switch (parameter) {
        case AIC_PARAMETER_BYPASS:
                if (value != 0.0f && value != 1.0f)
                        return AIC_ERROR_PARAMETER_OUT_OF_RANGE;
                atomic_store(&ctx->shared->bypass, value != 0.0f);
                return AIC_ERROR_SUCCESS;
        case AIC_PARAMETER_ENHANCEMENT_LEVEL:
                if (value < 0.0f || value > 1.0f)
                        return AIC_ERROR_PARAMETER_OUT_OF_RANGE;
                atomic_store(&ctx->shared->level_bits, float_bits(value));
                return AIC_ERROR_SUCCESS;
        }
        return AIC_ERROR_PARAMETER_OUT_OF_RANGE;
}

AIC_API enum aic_error aic_processor_context_get_parameter(const AicProcessorContext *ctx, enum aic_parameter parameter,
                                                           float *ret_value) {
        if (!ctx || !ret_value)
                return AIC_ERROR_NULL_POINTER;
        switch (parameter) {
        case AIC_PARAMETER_BYPASS:
                *ret_value = atomic_load(&ctx->shared->bypass) ? 1.0f : 0.0f;
                return AIC_ERROR_SUCCESS;
        case AIC_PARAMETER_ENHANCEMENT_LEVEL:
                *ret_value = bits_float(atomic_load(&ctx->shared->level_bits));
                return AIC_ERROR_SUCCESS;
        }
        return AIC_ERROR_PARAMETER_OUT_OF_RANGE;
}

AIC_API enum aic_error aic_processor_context_get_output_delay(const AicProcessorContext *ctx, size_t *ret_delay) {
        if (!ctx || !ret_delay)
                return AIC_ERROR_NULL_POINTER;
        if (!atomic_load(&ctx->shared->initialized))
                return AIC_ERROR_NOT_INITIALIZED;
        *ret_delay = atomic_load(&ctx->shared->delay);
        return AIC_ERROR_SUCCESS;
}

AIC_API enum aic_error aic_processor_context_get_vad_probability(const AicProcessorContext *ctx, float *ret_probability) {
        if (!ctx || !ret_probability)
                return AIC_ERROR_NULL_POINTER;
        *ret_probability = bits_float(atomic_load_explicit(&ctx->shared->vad_bits, memory_order_relaxed));
        return AIC_ERROR_SUCCESS;
}

AIC_API enum aic_error aic_processor_context_update_bearer_token(AicProcessorContext *ctx, const char *token) {
        Shared *s;
        Credential cred;
        enum aic_error r;

        if (!ctx || !token)
                return AIC_ERROR_NULL_POINTER;
        s = ctx->shared;
        pthread_mutex_lock(&s->cred_lock);
        if (atomic_load(&s->cred_kind) != CREDENTIAL_JWT) {
                r = AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED;
                goto out;
        }
        r = credential_parse(token, now_seconds(), &cred);
        if (r != AIC_ERROR_SUCCESS)
                goto out;
        if (cred.kind != CREDENTIAL_JWT) {
                r = AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED;
                goto out;
        }
        /* The audio thread may read a new expiry with an old not-before for
         * one block; both belong to valid tokens, so either is fine. */
        atomic_store(&s->cred_not_before, cred.not_before);
        atomic_store(&s->cred_expires_at, cred.expires_at);
out:
        pthread_mutex_unlock(&s->cred_lock);
        return r;
}

AIC_API enum aic_error aic_processor_context_set_enhancement_allowed(AicProcessorContext *ctx, bool allowed) {
        if (!ctx)
                return AIC_ERROR_NULL_POINTER;
        atomic_store(&ctx->shared->allowed, allowed);
        return AIC_ERROR_SUCCESS;
}
