/* SPDX-License-Identifier: MIT */
/*
 * The parsed, validated model: signal layout, band table and network
 * description with its weights. Immutable after load; reference counted.
 */
#pragma once

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "aic.h"

#define AIC_MODEL_MAGIC "AICDMODL"
#define AIC_MODEL_FORMAT_VERSION 1u
#define AIC_MODEL_HEADER_SIZE 24u
#define AIC_MODEL_MAX_SIZE (64u * 1024u * 1024u)
#define AIC_MODEL_MAX_JSON (1024u * 1024u)
#define AIC_MODEL_MAX_BANDS 256u
#define AIC_MODEL_MAX_LAYERS 64u
#define AIC_MODEL_MAX_INPUTS 8u
#define AIC_MODEL_MAX_DIM 8192u

enum model_layer_type {
        MODEL_LAYER_DENSE,
        MODEL_LAYER_GRU,
};

enum model_activation {
        MODEL_ACT_LINEAR,
        MODEL_ACT_RELU,
        MODEL_ACT_TANH,
        MODEL_ACT_SIGMOID,
};

typedef struct ModelLayer {
        enum model_layer_type type;
        enum model_activation activation; /* dense only */
        unsigned n_inputs;
        int inputs[AIC_MODEL_MAX_INPUTS]; /* -1: features, else an earlier layer */
        unsigned in_size;
        unsigned out_size; /* dense: out; gru: hidden */
        /* dense: w [out x in], b [out]; gru: w = weight_ih [3H x in],
         * w2 = weight_hh [3H x H], b = bias_ih, b2 = bias_hh. */
        const float *w, *b, *w2, *b2;
} ModelLayer;

struct AicModel {
        atomic_uint n_ref;
        char *id;
        char *description;
        char *architecture;
        uint32_t sample_rate;
        unsigned hop;
        unsigned window;
        unsigned n_bins;
        unsigned n_bands;
        uint16_t band_edges[AIC_MODEL_MAX_BANDS];
        unsigned fine_bins;
        float feature_eps;
        float gain_floor;       /* 0..1: the smallest gain, before the level (MODEL-FORMAT.md step 6) */
        const float *norm_mean; /* n_bands + fine_bins */
        const float *norm_std;
        unsigned n_layers;
        ModelLayer layers[AIC_MODEL_MAX_LAYERS];
        unsigned out_gains;
        int out_vad;
        int out_fine_gains;
        float *weights; /* owned, 64-byte aligned */
        size_t n_weights;
};

/* Parses and validates a whole model file image. */
enum aic_error model_parse(const uint8_t *buf, size_t len, AicModel **ret_model);
AicModel *model_ref(const AicModel *m);
void model_unref(AicModel *m);
unsigned model_feature_size(const AicModel *m);
unsigned model_output_size(const AicModel *m);
