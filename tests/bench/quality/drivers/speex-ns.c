/* SPDX-License-Identifier: MIT */
/*
 * Baseline driver: speexdsp's preprocess denoiser (defaults: denoise on, -15 dB suppression,
 * AGC, VAD and dereverb off) over raw float32 mono 48 kHz files, a fresh state per file.
 * Usage: speex-ns LIST DELAY, where each line of LIST is "IN.f32 OUT.f32"; OUT has IN's length,
 * with the first DELAY samples (the denoiser's latency) dropped and the tail flushed with zeros.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <speex/speex_preprocess.h>

#define RATE 48000
#define FRAME 480

static float *read_f32(const char *path, size_t *ret_n) {
        FILE *f = fopen(path, "rb");
        float *x = NULL;
        long size;

        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
                x = malloc((size_t) size + sizeof(float));
                if (x && fread(x, 1, (size_t) size, f) != (size_t) size) {
                        free(x);
                        x = NULL;
                }
                *ret_n = (size_t) size / sizeof(float);
        }
        fclose(f);
        return x;
}

static int process_file(const char *in_path, const char *out_path, size_t delay) {
        SpeexPreprocessState *st;
        spx_int16_t frame[FRAME];
        size_t n = 0, padded;
        float *x, *y;
        FILE *out;
        int on = 1, off = 0;

        x = read_f32(in_path, &n);
        if (!x) {
                fprintf(stderr, "speex-ns: cannot read %s\n", in_path);
                return -1;
        }
        padded = (n + delay + FRAME - 1) / FRAME * FRAME;
        y = calloc(padded, sizeof(float));
        st = speex_preprocess_state_init(FRAME, RATE);
        if (!y || !st) {
                free(x);
                free(y);
                return -1;
        }
        speex_preprocess_ctl(st, SPEEX_PREPROCESS_SET_DENOISE, &on);
        speex_preprocess_ctl(st, SPEEX_PREPROCESS_SET_AGC, &off);
        speex_preprocess_ctl(st, SPEEX_PREPROCESS_SET_VAD, &off);
        speex_preprocess_ctl(st, SPEEX_PREPROCESS_SET_DEREVERB, &off);
        for (size_t pos = 0; pos < padded; pos += FRAME) {
                for (size_t i = 0; i < FRAME; i++) {
                        float v = pos + i < n ? x[pos + i] * 32768.0f : 0.0f;
                        frame[i] = (spx_int16_t) lrintf(fminf(fmaxf(v, -32768.0f), 32767.0f));
                }
                speex_preprocess_run(st, frame);
                for (size_t i = 0; i < FRAME; i++)
                        y[pos + i] = frame[i] / 32768.0f;
        }
        speex_preprocess_state_destroy(st);
        out = fopen(out_path, "wb");
        if (!out || fwrite(y + delay, sizeof(float), n, out) != n) {
                fprintf(stderr, "speex-ns: cannot write %s\n", out_path);
                if (out)
                        fclose(out);
                free(x);
                free(y);
                return -1;
        }
        fclose(out);
        free(x);
        free(y);
        return 0;
}

int main(int argc, char **argv) {
        char in_path[4096], out_path[4096];
        FILE *list;
        int ret = 0;

        if (argc != 3) {
                fprintf(stderr, "Usage: speex-ns LIST DELAY\n");
                return 2;
        }
        list = fopen(argv[1], "r");
        if (!list) {
                fprintf(stderr, "speex-ns: cannot read %s\n", argv[1]);
                return 1;
        }
        while (fscanf(list, "%4095s %4095s", in_path, out_path) == 2)
                if (process_file(in_path, out_path, (size_t) strtoul(argv[2], NULL, 10)) < 0)
                        ret = 1;
        fclose(list);
        return ret;
}
