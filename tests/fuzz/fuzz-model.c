/* SPDX-License-Identifier: MIT */
/*
 * Model files (.aicm): aic_model_create_from_buffer, and for a file the parser
 * accepts, one processed block, so shapes it let through are exercised too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        AicModel *model = NULL;
        AicProcessor *proc = NULL;
        uint32_t rate = 0;
        size_t frames = 0;
        float *buf;

        if (aic_model_create_from_buffer(&model, data, size) != AIC_ERROR_SUCCESS)
                return 0;
        (void) aic_model_get_id(model);
        if (aic_model_get_optimal_sample_rate(model, &rate) == AIC_ERROR_SUCCESS &&
            aic_model_get_optimal_num_frames(model, rate, &frames) == AIC_ERROR_SUCCESS && frames > 0 &&
            frames <= 8192 && aic_processor_create(&proc, model, NULL) == AIC_ERROR_SUCCESS &&
            aic_processor_initialize(proc, rate, 1, frames, false) == AIC_ERROR_SUCCESS) {
                buf = calloc(frames, sizeof(float));
                if (buf) {
                        for (size_t i = 0; i < frames; i++)
                                buf[i] = (float) ((i * 7919) % 200) / 100.0f - 1.0f;
                        (void) aic_processor_process_interleaved(proc, buf, 1, frames);
                        free(buf);
                }
        }
        aic_processor_destroy(proc);
        aic_model_destroy(model);
        return 0;
}
