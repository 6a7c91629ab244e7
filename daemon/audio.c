/* SPDX-License-Identifier: MIT */
/*
 * PipeWire streams and the engine in the graph cycle.
 *
 * The capture stream follows the default microphone (or InputTarget); the
 * source stream is "Clean Mic (aicd)". The source has PW_STREAM_FLAG_TRIGGER:
 * the capture's process callback triggers it, so the source runs in the same
 * cycle, right after its input is ready. Both live in one node.group and
 * node.link-group, so the session manager never links the Clean Mic back into
 * its own input.
 *
 * Threads: PipeWire's main loop is driven from sd-event on the main thread;
 * the process callbacks run on PipeWire's data thread. The data thread owns
 * `engine`; a new engine (another block size, model or credential) is built on
 * the main thread and handed over through `engine_next`; the data thread hands
 * the old one back through `engine_retired` and the main thread frees it.
 * Everything else crossing threads is an atomic counter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pipewire/pipewire.h>
#include <spa/param/audio/format-utils.h>
#include <spa/param/latency-utils.h>
#include <spa/utils/result.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audio.h"
#include "log.h"

#define AUDIO_MAX_CHANNELS 16
#define AUDIO_MAX_FRAMES 16384
#define AUDIO_RECONNECT_MIN_USEC (50 * 1000ULL)
#define AUDIO_RECONNECT_MAX_USEC (250 * 1000ULL)
#define AUDIO_NO_INPUT_GRACE_USEC (300 * 1000ULL)
#define AUDIO_MAX_NODES 512
#define AUDIO_MAX_LINKS 1024
/* Levels are smoothed over about this long: steady enough to read at a
 * 10 Hz poll, quick enough to follow speech. */
#define AUDIO_LEVEL_TAU_S 0.1
/* What a level of silence reads as, in dBFS. */
#define AUDIO_LEVEL_FLOOR_DB -120.0

typedef struct Engine {
        AicProcessor *processor;
        AicProcessorContext *context;
        size_t frames;
        bool variable;
        size_t delay;
        size_t hop;             /* the model's hop at the stream's rate */
        bool asked_for_fixed;   /* data thread only */
} Engine;

typedef struct NodeInfo {
        uint32_t id;
        char *name;
} NodeInfo;

typedef struct LinkInfo {
        uint32_t id, out_node, in_node;
} LinkInfo;

struct Audio {
        sd_event *event;
        sd_event_source *pw_source;
        sd_event_source *reconnect_timer;
        sd_event_source *defer_teardown;
        sd_event_source *relink_timer;
        audio_changed_t changed;
        void *userdata;

        struct pw_loop *loop;
        struct pw_context *context;
        struct pw_core *core;
        struct spa_hook core_listener;
        struct pw_registry *registry;
        struct spa_hook registry_listener;
        struct pw_stream *capture, *playback;
        _Atomic(struct pw_stream *) capture_rt; /* what the data thread dequeues from */
        struct spa_hook capture_listener, playback_listener;

        uint32_t rate;
        unsigned channels;
        char *target;
        const AicModel *model;
        char *credential; /* secret: never logged */
        bool bypass;
        float level;
        bool allowed;

        /* Engines: `engine` belongs to the data thread. */
        Engine *engine;
        _Atomic(Engine *) engine_next;
        _Atomic(Engine *) engine_retired;
        Engine *engine_published; /* main thread's view of the newest engine */
        /* A model or credential switch: the outgoing engine keeps playing
         * until the new one has a full delay of real output, then a short
         * crossfade hands over (data thread only). */
        Engine *engine_old;
        Engine *retire_later;
        size_t warm;
        size_t xfade_len;
        float *scratch[AUDIO_MAX_CHANNELS];
        atomic_size_t wanted_frames;
        atomic_bool rebuild_requested;
        uint64_t last_rebuild_usec;
        unsigned quick_rebuilds;

        bool connected;
        bool streaming;
        uint64_t backoff_usec;
        uint32_t capture_node_id;
        size_t n_nodes, n_links;
        NodeInfo nodes[AUDIO_MAX_NODES];
        LinkInfo links[AUDIO_MAX_LINKS];
        char input_node[256];
        bool has_input;
        uint64_t no_input_since;

        /* Counters written by the data thread. */
        atomic_uint_fast64_t frames_total, frames_enhanced, frames_bypassed, frames_disallowed, xruns;
        atomic_uint_fast64_t process_ns_total, process_ns_max;
        atomic_int gate;
        atomic_uint vad_bits;
        /* Smoothed mean squares of the Clean Mic's input and output: the data
         * thread owns the state and publishes it as float bits. */
        float level_in_ms, level_out_ms;
        atomic_uint level_in_bits, level_out_bits;
};

static void secret_free(char *s);

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
}

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static void notify(Audio *a) {
        if (a->changed)
                a->changed(a->userdata);
}

/* --- engines (main thread) --- */

static void engine_free(Engine *e) {
        if (!e)
                return;
        aic_processor_context_destroy(e->context);
        aic_processor_destroy(e->processor);
        free(e);
}

static int engine_new(Audio *a, size_t frames, bool variable, Engine **ret) {
        Engine *e;
        enum aic_error r;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->frames = frames;
        e->variable = variable;
        e->hop = 480;
        aic_model_get_optimal_num_frames(a->model, a->rate, &e->hop);
        r = aic_processor_create(&e->processor, a->model, a->credential);
        if (r == AIC_ERROR_SUCCESS)
                r = aic_processor_initialize(e->processor, a->rate, (uint16_t) a->channels, frames, variable);
        if (r == AIC_ERROR_SUCCESS)
                r = aic_processor_context_create(&e->context, e->processor);
        if (r == AIC_ERROR_SUCCESS)
                r = aic_processor_context_set_parameter(e->context, AIC_PARAMETER_BYPASS, a->bypass ? 1.0f : 0.0f);
        if (r == AIC_ERROR_SUCCESS)
                r = aic_processor_context_set_parameter(e->context, AIC_PARAMETER_ENHANCEMENT_LEVEL, a->level);
        if (r == AIC_ERROR_SUCCESS)
                r = aic_processor_context_set_enhancement_allowed(e->context, a->allowed);
        if (r == AIC_ERROR_SUCCESS)
                r = aic_processor_context_get_output_delay(e->context, &e->delay);
        if (r != AIC_ERROR_SUCCESS) {
                log_error("Failed to set up the engine for %zu frames: %s", frames, aic_error_message(r));
                engine_free(e);
                return -EINVAL;
        }
        *ret = e;
        return 0;
}

/* Frees what the data thread handed back. */
static void engines_collect(Audio *a) {
        Engine *old = atomic_exchange(&a->engine_retired, NULL);

        if (old && old != a->engine_published)
                engine_free(old);
}

static void update_latency(Audio *a);

/* Builds an engine for `frames` and hands it to the data thread. */
static int engines_publish(Audio *a, size_t frames, bool variable) {
        Engine *e, *unused;
        int r;

        engines_collect(a);
        r = engine_new(a, frames, variable, &e);
        if (r < 0)
                return r;
        /* An engine published earlier but never picked up is replaced. */
        unused = atomic_exchange(&a->engine_next, e);
        if (unused)
                engine_free(unused);
        a->engine_published = e;
        update_latency(a);
        notify(a);
        return 0;
}

static void engines_free_all(Audio *a) {
        Engine *next = atomic_exchange(&a->engine_next, NULL), *retired = atomic_exchange(&a->engine_retired, NULL);

        if (next)
                engine_free(next);
        if (retired && retired != next)
                engine_free(retired);
        if (a->engine && a->engine != next && a->engine != retired)
                engine_free(a->engine);
        if (a->engine_old && a->engine_old != retired && a->engine_old != next && a->engine_old != a->engine)
                engine_free(a->engine_old);
        if (a->retire_later && a->retire_later != retired && a->retire_later != a->engine_old)
                engine_free(a->retire_later);
        a->engine = a->engine_old = a->retire_later = NULL;
        a->engine_published = NULL;
}

/* Every engine that may be live: the one the data thread runs (only read
 * through its thread-safe context) and the one waiting to be picked up. */
#define FOREACH_LIVE_CONTEXT(a, ctx, body)                                          \
        do {                                                                        \
                Engine *_list[2] = {(a)->engine_published, atomic_load(&(a)->engine_next)}; \
                for (unsigned _i = 0; _i < 2; _i++) {                               \
                        if (!_list[_i] || (_i == 1 && _list[1] == _list[0]))        \
                                continue;                                           \
                        AicProcessorContext *ctx = _list[_i]->context;              \
                        body;                                                       \
                }                                                                   \
        } while (0)

/* --- data thread --- */

static int do_request_rebuild(struct spa_loop *loop, bool async, uint32_t seq, const void *data, size_t size,
                              void *user_data);

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

/* Mean square over all channels of one block. */
static float block_mean_square(float *const *planes, unsigned channels, size_t n) {
        double sum = 0.0;

        for (unsigned c = 0; c < channels; c++)
                for (size_t i = 0; i < n; i++)
                        sum += (double) planes[c][i] * planes[c][i];
        return (float) (sum / ((double) n * channels));
}

/* One-pole smoothing with time constant AUDIO_LEVEL_TAU_S, per block. */
static void level_update(Audio *a, float *state, atomic_uint *published, float mean_square, size_t n) {
        float k = 1.0f - expf(-(float) n / ((float) AUDIO_LEVEL_TAU_S * (float) a->rate));

        *state += k * (mean_square - *state);
        atomic_store_explicit(published, float_bits(*state), memory_order_relaxed);
}

static void account(Audio *a, enum aic_error r, bool bypass, size_t n) {
        atomic_fetch_add_explicit(&a->frames_total, n, memory_order_relaxed);
        if (r == AIC_ERROR_LICENSE_EXPIRED || r == AIC_ERROR_ENHANCEMENT_NOT_ALLOWED) {
                atomic_fetch_add_explicit(&a->frames_bypassed, n, memory_order_relaxed);
                atomic_fetch_add_explicit(&a->frames_disallowed, n, memory_order_relaxed);
        } else if (bypass || r != AIC_ERROR_SUCCESS)
                atomic_fetch_add_explicit(&a->frames_bypassed, n, memory_order_relaxed);
        else
                atomic_fetch_add_explicit(&a->frames_enhanced, n, memory_order_relaxed);
        atomic_store_explicit(&a->gate, (int) r, memory_order_relaxed);
}

/* Hands an engine back to the main thread for freeing (data thread). */
static void engine_retire(Audio *a, Engine *e) {
        Engine *expected = NULL;

        if (!e)
                return;
        if (!atomic_compare_exchange_strong_explicit(&a->engine_retired, &expected, e, memory_order_acq_rel,
                                                     memory_order_acquire)) {
                /* The slot is still full: try again next cycle. */
                a->retire_later = e;
                return;
        }
        pw_loop_invoke(a->loop, do_request_rebuild, 1, NULL, 0, false, a);
}

static void playback_process(void *data) {
        Audio *a = data;
        struct pw_buffer *in, *out;
        struct pw_stream *capture;
        float *dst[AUDIO_MAX_CHANNELS];
        Engine *next;
        size_t n = SIZE_MAX;
        unsigned ch = a->channels;

        if (a->retire_later && !a->engine_old) {
                Engine *e = a->retire_later;

                a->retire_later = NULL;
                engine_retire(a, e);
        }
        if (!a->retire_later)
                next = atomic_exchange_explicit(&a->engine_next, NULL, memory_order_acq_rel);
        else
                next = NULL;
        if (next) {
                Engine *old = a->engine;

                if (a->engine_old) {
                        /* A switch during a switch: the oldest goes at once. */
                        engine_retire(a, a->engine_old);
                        a->engine_old = NULL;
                }
                if (old && old->delay == next->delay && a->scratch[0] && !a->retire_later) {
                        a->engine_old = old;
                        a->warm = 0;
                } else if (old)
                        engine_retire(a, old);
                a->engine = next;
        }

        capture = atomic_load_explicit(&a->capture_rt, memory_order_acquire);
        in = capture ? pw_stream_dequeue_buffer(capture) : NULL;
        out = pw_stream_dequeue_buffer(a->playback);
        if (!out) {
                if (in)
                        pw_stream_queue_buffer(capture, in);
                atomic_fetch_add_explicit(&a->xruns, 1, memory_order_relaxed);
                return;
        }
        if (out->buffer->n_datas < ch) {
                pw_stream_queue_buffer(a->playback, out);
                if (in)
                        pw_stream_queue_buffer(capture, in);
                return;
        }

        for (unsigned c = 0; c < ch; c++) {
                struct spa_data *d = &out->buffer->datas[c];

                dst[c] = d->data;
                n = SPA_MIN(n, (size_t) d->maxsize / sizeof(float));
        }
        if (in && in->buffer->n_datas >= ch) {
                size_t avail = SIZE_MAX;

                for (unsigned c = 0; c < ch; c++) {
                        struct spa_data *d = &in->buffer->datas[c];
                        uint32_t off = SPA_MIN(d->chunk->offset, d->maxsize);

                        avail = SPA_MIN(avail, (size_t) SPA_MIN(d->chunk->size, d->maxsize - off) / sizeof(float));
                }
                n = SPA_MIN(n, avail);
                for (unsigned c = 0; c < ch; c++) {
                        struct spa_data *d = &in->buffer->datas[c];

                        if (d->data)
                                memcpy(dst[c], SPA_PTROFF(d->data, SPA_MIN(d->chunk->offset, d->maxsize), void),
                                       n * sizeof(float));
                        else
                                memset(dst[c], 0, n * sizeof(float));
                }
        } else {
                /* No microphone: the Clean Mic stays and gives silence. */
                if (out->requested > 0)
                        n = SPA_MIN(n, (size_t) out->requested);
                for (unsigned c = 0; c < ch; c++)
                        memset(dst[c], 0, n * sizeof(float));
        }

        if (n > 0) {
                Engine *e = a->engine;

                level_update(a, &a->level_in_ms, &a->level_in_bits, block_mean_square(dst, ch, n), n);

                if (e && (e->variable ? n <= e->frames : n == e->frames)) {
                        uint64_t t0 = now_ns(), dt, max;
                        float bypass = 0.0f, vad = 0.0f;
                        enum aic_error r;

                        Engine *o = a->engine_old;
                        bool fading = o && (o->variable ? n <= o->frames : n == o->frames);

                        if (o && !fading) {
                                engine_retire(a, o);
                                a->engine_old = NULL;
                        }
                        if (fading)
                                for (unsigned c = 0; c < ch; c++)
                                        memcpy(a->scratch[c], dst[c], n * sizeof(float));
                        r = aic_processor_process_planar(e->processor, dst, (uint16_t) ch, n);
                        if (fading) {
                                aic_processor_process_planar(o->processor, a->scratch, (uint16_t) ch, n);
                                for (unsigned c = 0; c < ch; c++)
                                        for (size_t i = 0; i < n; i++) {
                                                size_t g = a->warm + i;
                                                float w = g < e->delay ? 0.0f
                                                          : g >= e->delay + a->xfade_len
                                                                  ? 1.0f
                                                                  : (float) (g - e->delay) / (float) a->xfade_len;

                                                /* Exact where both engines agree (bypass). */
                                                dst[c][i] = a->scratch[c][i] + w * (dst[c][i] - a->scratch[c][i]);
                                        }
                                a->warm += n;
                                if (a->warm >= e->delay + a->xfade_len) {
                                        engine_retire(a, o);
                                        a->engine_old = NULL;
                                }
                        }
                        dt = now_ns() - t0;
                        aic_processor_context_get_parameter(e->context, AIC_PARAMETER_BYPASS, &bypass);
                        aic_processor_context_get_vad_probability(e->context, &vad);
                        account(a, r, bypass != 0.0f, n);
                        atomic_fetch_add_explicit(&a->process_ns_total, dt, memory_order_relaxed);
                        max = atomic_load_explicit(&a->process_ns_max, memory_order_relaxed);
                        if (dt > max)
                                atomic_store_explicit(&a->process_ns_max, dt, memory_order_relaxed);
                        atomic_store_explicit(&a->vad_bits, float_bits(vad), memory_order_relaxed);
                        /* Blocks of whole hops need no framing delay at all:
                         * ask once for an engine fixed to this size. */
                        if (e->variable && !e->asked_for_fixed && n % e->hop == 0 &&
                            !atomic_exchange_explicit(&a->rebuild_requested, true, memory_order_acq_rel)) {
                                e->asked_for_fixed = true;
                                atomic_store_explicit(&a->wanted_frames, n, memory_order_relaxed);
                                pw_loop_invoke(a->loop, do_request_rebuild, 0, NULL, 0, false, a);
                        }
                } else {
                        /* Passed through while an engine for this block size is
                         * built (start-up, or the graph's quantum changed). */
                        account(a, AIC_ERROR_SUCCESS, true, n);
                        if (!atomic_exchange_explicit(&a->rebuild_requested, true, memory_order_acq_rel)) {
                                atomic_store_explicit(&a->wanted_frames, n, memory_order_relaxed);
                                pw_loop_invoke(a->loop, do_request_rebuild, 0, NULL, 0, false, a);
                        }
                }
                level_update(a, &a->level_out_ms, &a->level_out_bits, block_mean_square(dst, ch, n), n);
        }

        for (unsigned c = 0; c < ch; c++) {
                struct spa_data *d = &out->buffer->datas[c];

                d->chunk->offset = 0;
                d->chunk->size = (uint32_t) (n * sizeof(float));
                d->chunk->stride = sizeof(float);
                d->chunk->flags = 0;
        }
        pw_stream_queue_buffer(a->playback, out);
        if (in)
                pw_stream_queue_buffer(capture, in);
}

static void capture_process(void *data) {
        Audio *a = data;

        /* Runs the source in this same cycle; it consumes our buffer. */
        if (pw_stream_trigger_process(a->playback) < 0) {
                struct pw_buffer *b;

                struct pw_stream *capture = atomic_load_explicit(&a->capture_rt, memory_order_acquire);

                while (capture && (b = pw_stream_dequeue_buffer(capture)))
                        pw_stream_queue_buffer(capture, b);
                atomic_fetch_add_explicit(&a->xruns, 1, memory_order_relaxed);
        }
}

/* --- main thread: rebuilds requested by the data thread --- */

static int do_request_rebuild(struct spa_loop *loop, bool async, uint32_t seq, const void *data, size_t size,
                              void *user_data) {
        Audio *a = user_data;
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        size_t frames;
        bool variable;

        (void) loop;
        (void) async;
        (void) data;
        (void) size;

        engines_collect(a);
        if (seq == 1 || !atomic_load(&a->rebuild_requested))
                return 0;

        frames = atomic_load(&a->wanted_frames);
        /* Block sizes that keep changing (the graph runs at another rate and
         * PipeWire resamples for us) get one engine for any size. */
        if (a->last_rebuild_usec != 0 && now - a->last_rebuild_usec < 2000000ULL)
                a->quick_rebuilds++;
        else
                a->quick_rebuilds = 0;
        a->last_rebuild_usec = now;
        /* A fixed engine only where it saves latency: blocks of whole hops
         * need no framing buffer; for any other size the variable engine
         * costs less than a millisecond more and takes every block size as
         * it comes, so a short or changed block never forces a rebuild. */
        variable = a->quick_rebuilds >= 2 || frames > AUDIO_MAX_FRAMES || !a->engine_published ||
                   frames % a->engine_published->hop != 0;
        log_debug("Graph block size %zu frames: %s engine", frames, variable ? "variable-size" : "fixed-size");
        if (variable && a->engine_published && a->engine_published->variable) {
                atomic_store(&a->rebuild_requested, false);
                return 0;
        }
        if (engines_publish(a, variable ? AUDIO_MAX_FRAMES : frames, variable) < 0)
                log_warning("Failed to rebuild the engine, audio passes through unprocessed");
        atomic_store(&a->rebuild_requested, false);
        return 0;
}

/* --- streams, registry, connection (main thread) --- */

static const struct spa_pod *build_format(struct spa_pod_builder *b, uint32_t rate, unsigned channels) {
        struct spa_audio_info_raw info = {
                .format = SPA_AUDIO_FORMAT_F32P,
                .rate = rate,
                .channels = channels,
        };

        if (channels == 1)
                info.position[0] = SPA_AUDIO_CHANNEL_MONO;
        else if (channels == 2) {
                info.position[0] = SPA_AUDIO_CHANNEL_FL;
                info.position[1] = SPA_AUDIO_CHANNEL_FR;
        } else
                for (unsigned c = 0; c < channels; c++)
                        info.position[c] = SPA_AUDIO_CHANNEL_AUX0 + c;
        return spa_format_audio_raw_build(b, SPA_PARAM_EnumFormat, &info);
}

static void update_latency(Audio *a) {
        uint8_t buffer[256];
        struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof(buffer));
        struct spa_process_latency_info info = {};
        const struct spa_pod *params[1];

        if (!a->engine_published || !a->playback)
                return;
        info.rate = (int32_t) a->engine_published->delay;
        params[0] = spa_process_latency_build(&b, SPA_PARAM_ProcessLatency, &info);
        pw_stream_update_params(a->playback, params, 1);
}

static void set_input(Audio *a, const char *name, bool has) {
        bool changed = a->has_input != has || strcmp(a->input_node, name) != 0;

        snprintf(a->input_node, sizeof(a->input_node), "%s", name);
        a->has_input = has;
        if (changed) {
                if (has)
                        log_info("Input is now '%s'", name);
                else
                        log_info("No input connected; the Clean Mic gives silence until a microphone returns");
                notify(a);
        }
}

static const char *node_name(Audio *a, uint32_t id) {
        for (size_t i = 0; i < a->n_nodes; i++)
                if (a->nodes[i].id == id)
                        return a->nodes[i].name;
        return NULL;
}

static void recompute_input(Audio *a) {
        if (a->capture)
                a->capture_node_id = pw_stream_get_node_id(a->capture);
        for (size_t i = 0; i < a->n_links; i++)
                if (a->links[i].in_node == a->capture_node_id && a->capture_node_id != SPA_ID_INVALID) {
                        const char *n = node_name(a, a->links[i].out_node);

                        set_input(a, n ? n : "", true);
                        return;
                }
        set_input(a, "", false);
}

static void schedule_relink(Audio *a);

static void registry_global(void *data, uint32_t id, uint32_t permissions, const char *type, uint32_t version,
                            const struct spa_dict *props) {
        Audio *a = data;

        (void) permissions;
        (void) version;
        if (!props)
                return;
        if (strcmp(type, PW_TYPE_INTERFACE_Node) == 0 && a->n_nodes < AUDIO_MAX_NODES) {
                const char *name = spa_dict_lookup(props, PW_KEY_NODE_NAME);

                const char *class = spa_dict_lookup(props, PW_KEY_MEDIA_CLASS);

                a->nodes[a->n_nodes].id = id;
                a->nodes[a->n_nodes].name = strdup(name ? name : "");
                if (a->nodes[a->n_nodes].name)
                        a->n_nodes++;
                if (class && strncmp(class, "Audio/Source", 12) == 0 && !(name && strcmp(name, "aicd_clean_mic") == 0))
                        schedule_relink(a);
        } else if (strcmp(type, PW_TYPE_INTERFACE_Link) == 0 && a->n_links < AUDIO_MAX_LINKS) {
                const char *o = spa_dict_lookup(props, PW_KEY_LINK_OUTPUT_NODE);
                const char *i = spa_dict_lookup(props, PW_KEY_LINK_INPUT_NODE);

                if (!o || !i)
                        return;
                a->links[a->n_links++] = (LinkInfo) {.id = id, .out_node = (uint32_t) atoi(o), .in_node = (uint32_t) atoi(i)};
                recompute_input(a);
        }
}

static void registry_global_remove(void *data, uint32_t id) {
        Audio *a = data;

        for (size_t i = 0; i < a->n_nodes; i++)
                if (a->nodes[i].id == id) {
                        free(a->nodes[i].name);
                        a->nodes[i] = a->nodes[--a->n_nodes];
                        break;
                }
        for (size_t i = 0; i < a->n_links; i++)
                if (a->links[i].id == id) {
                        a->links[i] = a->links[--a->n_links];
                        recompute_input(a);
                        break;
                }
}

static const struct pw_registry_events registry_events = {
        PW_VERSION_REGISTRY_EVENTS,
        .global = registry_global,
        .global_remove = registry_global_remove,
};

static void playback_state_changed(void *data, enum pw_stream_state old, enum pw_stream_state state, const char *error) {
        Audio *a = data;
        bool streaming = state == PW_STREAM_STATE_STREAMING;

        (void) old;
        if (state == PW_STREAM_STATE_ERROR)
                log_warning("Clean Mic stream error: %s", error ? error : "unknown");
        if (state >= PW_STREAM_STATE_PAUSED && !a->connected) {
                a->connected = true;
                a->backoff_usec = AUDIO_RECONNECT_MIN_USEC;
                log_info("Clean Mic (aicd) is available");
                notify(a);
        }
        if (streaming != a->streaming) {
                a->streaming = streaming;
                /* Zero cost while nobody records: the capture side only runs
                 * while the Clean Mic is being recorded. */
                if (a->capture)
                        pw_stream_set_active(a->capture, streaming);
                log_debug("Clean Mic is %s", streaming ? "being recorded" : "idle");
                notify(a);
        }
}

static void capture_state_changed(void *data, enum pw_stream_state old, enum pw_stream_state state, const char *error) {
        Audio *a = data;

        (void) old;
        if (state == PW_STREAM_STATE_ERROR)
                log_warning("Capture stream error: %s", error ? error : "unknown");
        recompute_input(a);
}

static const struct pw_stream_events capture_events = {
        PW_VERSION_STREAM_EVENTS,
        .state_changed = capture_state_changed,
        .process = capture_process,
};

static const struct pw_stream_events playback_events = {
        PW_VERSION_STREAM_EVENTS,
        .state_changed = playback_state_changed,
        .process = playback_process,
};

static void schedule_reconnect(Audio *a);
static void capture_destroy(Audio *a);

static int on_defer_teardown(sd_event_source *s, void *userdata) {
        Audio *a = userdata;

        (void) s;
        a->defer_teardown = sd_event_source_disable_unref(a->defer_teardown);
        schedule_reconnect(a);
        return 0;
}

static void core_error(void *data, uint32_t id, int seq, int res, const char *message) {
        Audio *a = data;

        (void) seq;
        if (id != PW_ID_CORE)
                return;
        log_warning("PipeWire connection error: %s (%s)", message ? message : "", spa_strerror(res));
        if (res == -EPIPE && !a->defer_teardown)
                /* Not from inside the core's own callback: defer the teardown. */
                sd_event_add_defer(a->event, &a->defer_teardown, on_defer_teardown, a);
}

static const struct pw_core_events core_events = {
        PW_VERSION_CORE_EVENTS,
        .error = core_error,
};

static void disconnect(Audio *a) {
        bool was = a->connected;

        capture_destroy(a);
        if (a->playback) {
                spa_hook_remove(&a->playback_listener);
                pw_stream_destroy(a->playback);
                a->playback = NULL;
        }
        if (a->registry) {
                spa_hook_remove(&a->registry_listener);
                pw_proxy_destroy((struct pw_proxy *) a->registry);
                a->registry = NULL;
        }
        if (a->core) {
                spa_hook_remove(&a->core_listener);
                pw_core_disconnect(a->core);
                a->core = NULL;
        }
        /* With the streams gone the data thread no longer runs our code. */
        engines_free_all(a);
        for (size_t i = 0; i < a->n_nodes; i++)
                free(a->nodes[i].name);
        a->n_nodes = a->n_links = 0;
        a->connected = false;
        a->streaming = false;
        a->capture_node_id = SPA_ID_INVALID;
        set_input(a, "", false);
        if (was)
                notify(a);
}

/* The block size aicd asks the graph for (node.latency): the fewest whole
 * hops of the model that make at least 10 ms. Whole hops need no framing
 * buffer, so the Clean Mic's delay is the model's alone; 10 ms or more keeps
 * the graph's wake-ups (and everyone's CPU) near 100 per second. An app that
 * asks for smaller blocks still gets them. */
static size_t wanted_block(Audio *a) {
        size_t hop = 480, ten_ms = a->rate / 100;

        aic_model_get_optimal_num_frames(a->model, a->rate, &hop);
        if (hop == 0)
                return ten_ms;
        return hop * SPA_MAX((size_t) 1, (ten_ms + hop - 1) / hop);
}

/* The capture stream: passive, in the Clean Mic's group, following the
 * default microphone unless a target is pinned. */
static int capture_create(Audio *a) {
        uint8_t buffer[1024];
        struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof(buffer));
        const struct spa_pod *params[1];
        struct pw_properties *props;
        char latency[32];
        int r;

        snprintf(latency, sizeof(latency), "%zu/%u", wanted_block(a), a->rate);
        props = pw_properties_new(PW_KEY_MEDIA_TYPE, "Audio", PW_KEY_MEDIA_CATEGORY, "Capture", PW_KEY_MEDIA_ROLE,
                                  "Communication", PW_KEY_NODE_NAME, "aicd_capture", PW_KEY_NODE_DESCRIPTION,
                                  "Clean Mic (aicd) input", PW_KEY_NODE_GROUP, "aicd", PW_KEY_NODE_LINK_GROUP, "aicd",
                                  PW_KEY_NODE_PASSIVE, "true", PW_KEY_NODE_LATENCY, latency, PW_KEY_APP_NAME, "aicd",
                                  NULL);
        if (!props)
                return -ENOMEM;
        if (a->target && a->target[0])
                pw_properties_set(props, PW_KEY_TARGET_OBJECT, a->target);
        a->capture = pw_stream_new(a->core, "aicd capture", props);
        if (!a->capture)
                return -errno;
        pw_stream_add_listener(a->capture, &a->capture_listener, &capture_events, a);
        params[0] = build_format(&b, a->rate, a->channels);
        r = pw_stream_connect(a->capture, PW_DIRECTION_INPUT, PW_ID_ANY,
                              PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS | PW_STREAM_FLAG_RT_PROCESS |
                                      (a->streaming ? 0 : PW_STREAM_FLAG_INACTIVE),
                              params, 1);
        if (r < 0)
                return r;
        atomic_store_explicit(&a->capture_rt, a->capture, memory_order_release);
        return 0;
}

static int do_sync(struct spa_loop *loop, bool async, uint32_t seq, const void *data, size_t size, void *user_data) {
        (void) loop, (void) async, (void) seq, (void) data, (void) size, (void) user_data;
        return 0;
}

static void capture_destroy(Audio *a) {
        if (!a->capture)
                return;
        /* Take it away from the data thread, and wait until that thread is
         * past any process call that may still hold the old pointer. */
        atomic_store_explicit(&a->capture_rt, NULL, memory_order_release);
        if (a->context)
                pw_loop_invoke(pw_data_loop_get_loop(pw_context_get_data_loop(a->context)), do_sync, 0, NULL, 0, true,
                               NULL);
        spa_hook_remove(&a->capture_listener);
        pw_stream_destroy(a->capture);
        a->capture = NULL;
}

static int connect_streams(Audio *a) {
        uint8_t buffer[1024];
        struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buffer, sizeof(buffer));
        const struct spa_pod *params[1];
        struct pw_properties *props;
        char latency[32], rate[16];
        int r;

        snprintf(latency, sizeof(latency), "%zu/%u", wanted_block(a), a->rate);
        snprintf(rate, sizeof(rate), "1/%u", a->rate);

        r = capture_create(a);
        if (r < 0)
                return r;

        props = pw_properties_new(PW_KEY_MEDIA_TYPE, "Audio", PW_KEY_MEDIA_CLASS, "Audio/Source", PW_KEY_NODE_NAME,
                                  "aicd_clean_mic", PW_KEY_NODE_DESCRIPTION, "Clean Mic (aicd)", PW_KEY_NODE_GROUP,
                                  "aicd", PW_KEY_NODE_LINK_GROUP, "aicd", PW_KEY_NODE_LATENCY, latency,
                                  PW_KEY_APP_NAME, "aicd", "device.icon-name", "audio-input-microphone", NULL);
        if (!props)
                return -ENOMEM;
        a->playback = pw_stream_new(a->core, "Clean Mic (aicd)", props);
        if (!a->playback)
                return -errno;
        pw_stream_add_listener(a->playback, &a->playback_listener, &playback_events, a);

        params[0] = build_format(&b, a->rate, a->channels);
        r = pw_stream_connect(a->playback, PW_DIRECTION_OUTPUT, PW_ID_ANY,
                              PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS | PW_STREAM_FLAG_RT_PROCESS |
                                      PW_STREAM_FLAG_TRIGGER,
                              params, 1);
        if (r < 0)
                return r;
        /* An engine for any block size; replaced by a fixed one only when
         * the graph's blocks turn out to be whole hops. */
        return engines_publish(a, AUDIO_MAX_FRAMES, true);
}

static int try_connect(Audio *a) {
        int r;

        a->core = pw_context_connect(a->context, NULL, 0);
        if (!a->core)
                return -errno;
        pw_core_add_listener(a->core, &a->core_listener, &core_events, a);
        a->registry = pw_core_get_registry(a->core, PW_VERSION_REGISTRY, 0);
        if (a->registry)
                pw_registry_add_listener(a->registry, &a->registry_listener, &registry_events, a);
        r = connect_streams(a);
        if (r < 0) {
                disconnect(a);
                return r;
        }
        return 0;
}

static int on_reconnect_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Audio *a = userdata;
        int r;

        (void) s;
        (void) usec;
        r = try_connect(a);
        if (r < 0) {
                log_debug_errno(r, "Failed to connect to PipeWire, retrying: %m");
                schedule_reconnect(a);
        } else
                log_info("Connected to PipeWire");
        return 0;
}

static void schedule_reconnect(Audio *a) {
        uint64_t delay = a->backoff_usec;

        disconnect(a);
        a->backoff_usec = SPA_MIN(a->backoff_usec * 2, AUDIO_RECONNECT_MAX_USEC);
        a->reconnect_timer = sd_event_source_disable_unref(a->reconnect_timer);
        if (sd_event_add_time_relative(a->event, &a->reconnect_timer, CLOCK_MONOTONIC, delay, 10 * 1000,
                                       on_reconnect_timer, a) < 0)
                log_error("Failed to schedule a PipeWire reconnect");
}

static int on_pw_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Audio *a = userdata;

        (void) s;
        (void) fd;
        (void) revents;
        pw_loop_iterate(a->loop, 0);
        return 0;
}

int audio_new(sd_event *event, const AudioSettings *settings, const AicModel *model, const char *credential,
              audio_changed_t changed, void *userdata, Audio **ret) {
        Audio *a;
        int r;

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->event = sd_event_ref(event);
        a->changed = changed;
        a->userdata = userdata;
        a->rate = settings->rate;
        a->channels = settings->channels;
        a->target = strdup(settings->input_target ? settings->input_target : "");
        a->bypass = settings->bypass;
        a->level = (float) settings->level;
        a->allowed = true;
        a->backoff_usec = AUDIO_RECONNECT_MIN_USEC;
        a->capture_node_id = SPA_ID_INVALID;
        atomic_init(&a->engine_next, NULL);
        atomic_init(&a->engine_retired, NULL);
        atomic_init(&a->gate, AIC_ERROR_SUCCESS);
        if (!a->target) {
                audio_free(a);
                return -ENOMEM;
        }
        a->model = model;
        a->xfade_len = a->rate / 100; /* 10 ms */
        for (unsigned c = 0; c < a->channels && c < AUDIO_MAX_CHANNELS; c++) {
                a->scratch[c] = calloc(AUDIO_MAX_FRAMES, sizeof(float));
                if (!a->scratch[c]) {
                        audio_free(a);
                        return -ENOMEM;
                }
        }
        if (credential) {
                a->credential = strdup(credential);
                if (!a->credential) {
                        audio_free(a);
                        return -ENOMEM;
                }
        }

        a->loop = pw_loop_new(NULL);
        if (!a->loop) {
                audio_free(a);
                return -errno;
        }
        a->context = pw_context_new(a->loop, pw_properties_new(PW_KEY_CONFIG_NAME, "client-rt.conf", NULL), 0);
        if (!a->context) {
                audio_free(a);
                return -errno;
        }
        pw_loop_enter(a->loop);
        r = sd_event_add_io(event, &a->pw_source, pw_loop_get_fd(a->loop), EPOLLIN, on_pw_io, a);
        if (r < 0) {
                audio_free(a);
                return r;
        }
        r = try_connect(a);
        if (r < 0) {
                log_warning_errno(r, "PipeWire is not available yet, retrying: %m");
                schedule_reconnect(a);
        }
        *ret = a;
        return 0;
}

Audio *audio_free(Audio *a) {
        if (!a)
                return NULL;
        disconnect(a);
        a->reconnect_timer = sd_event_source_disable_unref(a->reconnect_timer);
        a->relink_timer = sd_event_source_disable_unref(a->relink_timer);
        a->defer_teardown = sd_event_source_disable_unref(a->defer_teardown);
        a->pw_source = sd_event_source_disable_unref(a->pw_source);
        if (a->context)
                pw_context_destroy(a->context);
        if (a->loop) {
                pw_loop_leave(a->loop);
                pw_loop_destroy(a->loop);
        }
        secret_free(a->credential);
        for (unsigned c = 0; c < AUDIO_MAX_CHANNELS; c++)
                free(a->scratch[c]);
        free(a->target);
        sd_event_unref(a->event);
        free(a);
        return NULL;
}

int audio_set_bypass(Audio *a, bool bypass) {
        a->bypass = bypass;
        FOREACH_LIVE_CONTEXT(a, ctx, aic_processor_context_set_parameter(ctx, AIC_PARAMETER_BYPASS, bypass ? 1.0f : 0.0f));
        return 0;
}

int audio_set_level(Audio *a, double level) {
        if (!(level >= 0.0 && level <= 1.0))
                return -ERANGE;
        a->level = (float) level;
        FOREACH_LIVE_CONTEXT(a, ctx, aic_processor_context_set_parameter(ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, (float) level));
        return 0;
}

void audio_set_enhancement_allowed(Audio *a, bool allowed) {
        a->allowed = allowed;
        FOREACH_LIVE_CONTEXT(a, ctx, aic_processor_context_set_enhancement_allowed(ctx, allowed));
}

enum aic_error audio_update_bearer_token(Audio *a, const char *token) {
        enum aic_error r = AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED;

        char *c;

        FOREACH_LIVE_CONTEXT(a, ctx, r = aic_processor_context_update_bearer_token(ctx, token));
        if (r != AIC_ERROR_SUCCESS)
                return r;
        /* Engines built from now on (another block size, a reconnect) start
         * with this token, not the one they replaced. */
        c = strdup(token);
        if (!c)
                return AIC_ERROR_INTERNAL;
        secret_free(a->credential);
        a->credential = c;
        return r;
}

/* Disconnects and reconnects only the capture side: the Clean Mic itself
 * stays, so recording apps keep their stream. The session manager then
 * links the capture anew (to the target, or the default microphone). */
static void capture_reconnect(Audio *a) {
        int r;

        if (!a->capture)
                return;
        /* A new node rather than new properties: a target.object once set
         * on a node cannot be taken back off it. */
        capture_destroy(a);
        r = capture_create(a);
        if (r < 0)
                log_warning_errno(r, "Failed to recreate the capture stream, retrying on the next change: %m");
        recompute_input(a);
}

static int on_relink_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Audio *a = userdata;

        (void) s;
        (void) usec;
        a->relink_timer = sd_event_source_disable_unref(a->relink_timer);
        if (!a->has_input && a->capture) {
                log_debug("A microphone appeared while none was connected, asking for a link");
                capture_reconnect(a);
        }
        return 0;
}

/* A source appeared while the capture has no input: once the session
 * manager has settled (defaults, its own links), reconnect the capture so
 * the policy looks at it again. */
static void schedule_relink(Audio *a) {
        if (a->relink_timer || a->has_input)
                return;
        if (sd_event_add_time_relative(a->event, &a->relink_timer, CLOCK_MONOTONIC, 300 * 1000, 10 * 1000,
                                       on_relink_timer, a) < 0)
                log_debug("Failed to schedule a relink, ignoring");
}

int audio_set_input_target(Audio *a, const char *target) {
        char *t = strdup(target ? target : "");

        if (!t)
                return -ENOMEM;
        free(a->target);
        a->target = t;
        capture_reconnect(a);
        return 0;
}

static void secret_free(char *s) {
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

int audio_set_model(Audio *a, const AicModel *model) {
        if (!model)
                return -EINVAL;
        /* Borrowed: the caller keeps the model alive while we use it; each
         * processor holds a reference of its own. */
        a->model = model;
        if (a->engine_published)
                return engines_publish(a, a->engine_published->frames, a->engine_published->variable);
        return 0;
}

int audio_set_credential(Audio *a, const char *credential) {
        char *c = NULL;

        if (credential) {
                c = strdup(credential);
                if (!c)
                        return -ENOMEM;
        }
        secret_free(a->credential);
        a->credential = c;
        if (a->engine_published)
                return engines_publish(a, a->engine_published->frames, a->engine_published->variable);
        return 0;
}

bool audio_is_connected(const Audio *a) {
        return a->connected;
}

bool audio_is_streaming(const Audio *a) {
        return a->streaming;
}

const char *audio_input_node(const Audio *a) {
        return a->input_node;
}

bool audio_has_input(const Audio *a) {
        return a->has_input;
}

uint64_t audio_latency_usec(const Audio *a) {
        const Engine *e = a->engine_published;

        if (!e)
                return 0;
        return (uint64_t) e->delay * 1000000ULL / a->rate;
}

enum aic_error audio_gate(const Audio *a) {
        return (enum aic_error) atomic_load_explicit(&((Audio *) a)->gate, memory_order_relaxed);
}

float audio_vad(const Audio *a) {
        if (!a->streaming)
                return 0.0f;
        return bits_float(atomic_load_explicit(&((Audio *) a)->vad_bits, memory_order_relaxed));
}

static double level_db(const Audio *a, atomic_uint *published) {
        double ms;

        /* Nothing runs while nobody records: the last values are stale. */
        if (!a->streaming)
                return AUDIO_LEVEL_FLOOR_DB;
        ms = bits_float(atomic_load_explicit(published, memory_order_relaxed));
        if (!(ms > 0.0))
                return AUDIO_LEVEL_FLOOR_DB;
        return fmax(10.0 * log10(ms), AUDIO_LEVEL_FLOOR_DB);
}

void audio_get_metrics(const Audio *a, AudioMetrics *ret) {
        Audio *m = (Audio *) a;
        double rate = (double) a->rate;
        /* One consistent snapshot while the audio thread counts on: the
         * total is the sum of its parts, and the disallowed frames (counted
         * after the bypassed ones) are read first, so they never exceed the
         * bypassed ones. */
        uint64_t disallowed = atomic_load(&m->frames_disallowed);
        uint64_t enhanced = atomic_load(&m->frames_enhanced);
        uint64_t bypassed = atomic_load(&m->frames_bypassed);
        uint64_t total = enhanced + bypassed;

        *ret = (AudioMetrics) {
                .processed_s = (double) enhanced / rate,
                .bypassed_s = (double) bypassed / rate,
                .disallowed_s = (double) disallowed / rate,
                .frames = total,
                .xruns = atomic_load(&m->xruns),
                .rtf = total ? (double) atomic_load(&m->process_ns_total) * 1e-9 / ((double) total / rate) : 0.0,
                .process_time_max_us = atomic_load(&m->process_ns_max) / 1000,
                .input_level_db = level_db(a, &m->level_in_bits),
                .output_level_db = level_db(a, &m->level_out_bits),
                .vad = audio_vad(a),
        };
}
