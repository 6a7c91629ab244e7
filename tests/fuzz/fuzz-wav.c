/* SPDX-License-Identifier: MIT */
/*
 * Sound files for `aicctl enhance`: libsndfile reads the input from memory
 * through its virtual I/O, and the first few blocks go through the engine
 * with the same checks and set-up as dbus/aicctl-enhance.c.
 */
#include <sndfile.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aic.h"

#define FUZZ_MAX_BLOCKS 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct Mem {
        const uint8_t *data;
        sf_count_t size, pos;
} Mem;

static sf_count_t mem_get_filelen(void *user) {
        return ((Mem *) user)->size;
}

static sf_count_t mem_seek(sf_count_t offset, int whence, void *user) {
        Mem *m = user;
        sf_count_t p = whence == SEEK_SET ? offset : whence == SEEK_CUR ? m->pos + offset : m->size + offset;

        if (p < 0 || p > m->size)
                return -1;
        m->pos = p;
        return p;
}

static sf_count_t mem_read(void *ptr, sf_count_t count, void *user) {
        Mem *m = user;

        if (count > m->size - m->pos)
                count = m->size - m->pos;
        if (count <= 0)
                return 0;
        memcpy(ptr, m->data + m->pos, (size_t) count);
        m->pos += count;
        return count;
}

static sf_count_t mem_write(const void *ptr, sf_count_t count, void *user) {
        (void) ptr, (void) count, (void) user;
        return 0;
}

static sf_count_t mem_tell(void *user) {
        return ((Mem *) user)->pos;
}

static AicModel *model;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SF_VIRTUAL_IO io = {mem_get_filelen, mem_seek, mem_read, mem_write, mem_tell};
        Mem mem = {data, (sf_count_t) size, 0};
        SF_INFO info = {0};
        AicProcessor *proc = NULL;
        AicProcessorContext *ctx = NULL;
        size_t block = 0, delay = 0;
        float *buf = NULL;
        SNDFILE *in;

        if (!model && aic_model_create_from_file(&model, AICD_TEST_DATA_DIR "/tiny.aicm") != AIC_ERROR_SUCCESS)
                abort();
        in = sf_open_virtual(&io, SFM_READ, &info, &mem);
        if (!in)
                return 0;
        if (info.samplerate < 8000 || info.samplerate > 192000 || info.channels < 1 || info.channels > 16)
                goto finish;
        if (aic_processor_create(&proc, model, NULL) != AIC_ERROR_SUCCESS ||
            aic_model_get_optimal_num_frames(model, (uint32_t) info.samplerate, &block) != AIC_ERROR_SUCCESS ||
            aic_processor_initialize(proc, (uint32_t) info.samplerate, (uint16_t) info.channels, block, false) !=
                    AIC_ERROR_SUCCESS ||
            aic_processor_context_create(&ctx, proc) != AIC_ERROR_SUCCESS ||
            aic_processor_context_get_output_delay(ctx, &delay) != AIC_ERROR_SUCCESS)
                abort(); /* every rate and channel count in range must be accepted */
        buf = calloc(block * (size_t) info.channels, sizeof(float));
        if (!buf)
                goto finish;
        for (int i = 0; i < FUZZ_MAX_BLOCKS; i++) {
                sf_count_t n = sf_readf_float(in, buf, (sf_count_t) block);

                if (n < 0)
                        n = 0;
                memset(buf + n * info.channels, 0, (size_t) ((sf_count_t) block - n) * (size_t) info.channels * sizeof(float));
                if (aic_processor_process_interleaved(proc, buf, (uint16_t) info.channels, block) != AIC_ERROR_SUCCESS)
                        abort();
                if (n < (sf_count_t) block)
                        break;
        }

finish:
        free(buf);
        aic_processor_context_destroy(ctx);
        aic_processor_destroy(proc);
        sf_close(in);
        return 0;
}
