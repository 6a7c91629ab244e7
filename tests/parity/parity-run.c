/* SPDX-License-Identifier: MIT */
/*
 * The C side of the parity test: runs a fresh engine over a WAV at the
 * model's rate in blocks of one hop from zero state, and writes the raw
 * streaming output (no delay compensation, same length) as float32.
 *
 *   parity-run MODEL IN.wav OUT.wav [LEVEL]
 */
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aic.h"

int main(int argc, char **argv) {
        AicModel *model = NULL;
        AicProcessor *p = NULL;
        AicProcessorContext *ctx = NULL;
        SF_INFO in_info = {0}, out_info;
        SNDFILE *in, *out;
        size_t hop = 0;
        uint32_t rate = 0;
        float *buf;
        float level = argc > 4 ? strtof(argv[4], NULL) : 1.0f;

        if (argc < 4) {
                fprintf(stderr, "Usage: parity-run MODEL IN.wav OUT.wav [LEVEL]\n");
                return 2;
        }
        if (aic_model_create_from_file(&model, argv[1]) != AIC_ERROR_SUCCESS)
                return fprintf(stderr, "parity-run: cannot load %s\n", argv[1]), 1;
        aic_model_get_optimal_sample_rate(model, &rate);
        aic_model_get_optimal_num_frames(model, rate, &hop);
        in = sf_open(argv[2], SFM_READ, &in_info);
        if (!in || (uint32_t) in_info.samplerate != rate)
                return fprintf(stderr, "parity-run: %s must be a %u Hz sound file\n", argv[2], rate), 1;
        if (aic_processor_create(&p, model, NULL) != AIC_ERROR_SUCCESS ||
            aic_processor_initialize(p, rate, (uint16_t) in_info.channels, hop, false) != AIC_ERROR_SUCCESS ||
            aic_processor_context_create(&ctx, p) != AIC_ERROR_SUCCESS ||
            aic_processor_context_set_parameter(ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, level) != AIC_ERROR_SUCCESS)
                return fprintf(stderr, "parity-run: engine setup failed\n"), 1;
        out_info = (SF_INFO) {.samplerate = in_info.samplerate, .channels = in_info.channels,
                              .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
        out = sf_open(argv[3], SFM_WRITE, &out_info);
        buf = calloc(hop * (size_t) in_info.channels, sizeof(float));
        if (!out || !buf)
                return fprintf(stderr, "parity-run: cannot write %s\n", argv[3]), 1;
        for (;;) {
                sf_count_t n = sf_readf_float(in, buf, (sf_count_t) hop);

                if (n <= 0)
                        break;
                memset(buf + n * in_info.channels, 0, ((sf_count_t) hop - n) * in_info.channels * sizeof(float));
                if (aic_processor_process_interleaved(p, buf, (uint16_t) in_info.channels, hop) != AIC_ERROR_SUCCESS)
                        return fprintf(stderr, "parity-run: processing failed\n"), 1;
                sf_writef_float(out, buf, n);
        }
        sf_close(out);
        sf_close(in);
        free(buf);
        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);
        aic_model_destroy(model);
        return 0;
}
