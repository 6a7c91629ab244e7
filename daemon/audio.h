/* SPDX-License-Identifier: MIT */
/*
 * The PipeWire side of aicd: a passive capture stream on the microphone and
 * the "Clean Mic (aicd)" source stream, with the engine running in the graph
 * cycle between them. Survives PipeWire restarts by reconnecting on its own.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "aic.h"

typedef struct Audio Audio;

typedef struct AudioSettings {
        uint32_t rate;
        unsigned channels;
        const char *input_target; /* NULL or "": follow the default mic */
        bool bypass;
        double level;
} AudioSettings;

typedef struct AudioMetrics {
        double processed_s;  /* enhanced */
        double bypassed_s;   /* passed through, any reason */
        double disallowed_s; /* passed through for a licensing reason */
        uint64_t frames;
        uint64_t xruns;
        double rtf;
        uint64_t process_time_max_us;
        /* Recent values (about the last 100 ms) while the Clean Mic is
         * recorded; -120 dBFS and 0 while it is idle. */
        double input_level_db;  /* microphone, RMS over all channels, dBFS */
        double output_level_db; /* Clean Mic, the same way */
        double vad;             /* speech probability, 0..1 */
} AudioMetrics;

/* Called on the main loop whenever something visible changed (connection,
 * input node, latency, licensing gate). */
typedef void (*audio_changed_t)(void *userdata);

int audio_new(sd_event *event, const AudioSettings *settings, const AicModel *model, const char *credential,
              audio_changed_t changed, void *userdata, Audio **ret);
Audio *audio_free(Audio *a);

int audio_set_bypass(Audio *a, bool bypass);
int audio_set_level(Audio *a, double level);
int audio_set_input_target(Audio *a, const char *target);
/* Replaces model and credential: builds a new processor and swaps it in. */
int audio_set_model(Audio *a, const AicModel *model);
/* Replaces the credential (license key, JWT or NULL): a new processor. */
int audio_set_credential(Audio *a, const char *credential);
enum aic_error audio_update_bearer_token(Audio *a, const char *token);
void audio_set_enhancement_allowed(Audio *a, bool allowed);

bool audio_is_connected(const Audio *a);
/* Whether the source is being recorded right now. */
bool audio_is_streaming(const Audio *a);
/* Name of the node feeding the capture stream, "" when none. */
const char *audio_input_node(const Audio *a);
bool audio_has_input(const Audio *a);
uint64_t audio_latency_usec(const Audio *a);
/* SUCCESS, LICENSE_EXPIRED or ENHANCEMENT_NOT_ALLOWED, from the last block. */
enum aic_error audio_gate(const Audio *a);
void audio_get_metrics(const Audio *a, AudioMetrics *ret);
float audio_vad(const Audio *a);
