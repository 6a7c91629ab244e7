/* SPDX-License-Identifier: MIT */
/*
 * The network runtime: one instance per processor, with its own recurrent
 * state and buffers. Matrix work runs on XNNPACK operators that are created
 * and bound to fixed buffers up front, so nn_run() only computes.
 */
#pragma once

#include "model.h"

typedef struct Nn Nn;

int nn_new(const AicModel *model, Nn **ret);
Nn *nn_free(Nn *nn);
/* The buffer the caller fills with the normalised feature vector. */
float *nn_input(Nn *nn);
/* Runs one frame; returns the last layer's output vector. */
const float *nn_run(Nn *nn);
/* Zeroes all recurrent state. */
void nn_reset(Nn *nn);
