/* SPDX-License-Identifier: MIT */
/*
 * The per-hop enhancement pipeline at the model's own rate: window, FFT,
 * band features, network, gains, inverse FFT, overlap-add.
 */
#pragma once

#include "model.h"

typedef struct Dsp Dsp;

int dsp_new(const AicModel *model, unsigned n_channels, Dsp **ret);
Dsp *dsp_free(Dsp *d);
/* Consumes one hop per channel from in[c] and writes one hop to out[c]
 * (in and out may alias). level: 0..1. Returns the frame's speech probability. */
float dsp_process(Dsp *d, const float *const *in, float *const *out, float level);
void dsp_reset(Dsp *d);
