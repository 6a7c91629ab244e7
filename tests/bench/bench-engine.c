/* SPDX-License-Identifier: MIT */
/*
 * Engine benchmark: real-time factor (CPU time / audio time), worst block
 * time relative to the block's duration, per rate, channel count and block
 * size; plus the peak RSS of a whole `aicctl enhance` run. Prints Markdown
 * tables; asserts nothing.
 *
 *   bench-engine [--model PATH] [--seconds S] [--aicctl PATH]
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aic.h"

static double thread_cpu_now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static double wall_now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* Speech-like test signal: noise bursts with a harmonic tone, plus steady noise. */
static void fill_signal(float *buf, size_t frames, unsigned channels, unsigned rate, size_t offset, uint32_t *seed) {
        for (size_t i = 0; i < frames; i++) {
                double t = (double) (offset + i) / rate;
                double env = fmod(t, 0.5) < 0.3 ? 1.0 : 0.05;
                double v = env * 0.2 * sin(2 * M_PI * 180 * t) + env * 0.1 * sin(2 * M_PI * 360 * t);

                for (unsigned c = 0; c < channels; c++) {
                        *seed = *seed * 1664525u + 1013904223u;
                        buf[i * channels + c] = (float) (v + 0.05 * (((double) (*seed >> 8) / 16777216.0) - 0.5));
                }
        }
}

typedef struct Result {
        double rtf;
        double worst_us;
        double worst_ratio;
        size_t delay;
} Result;

static int bench_one(const AicModel *model, unsigned rate, unsigned channels, size_t block, double seconds, Result *ret) {
        AicProcessor *p = NULL;
        AicProcessorContext *ctx = NULL;
        size_t n_blocks = (size_t) (seconds * rate / block), delay = 0;
        float *buf = malloc(block * channels * sizeof(float));
        double total = 0, worst = 0;
        uint32_t seed = 1;
        enum aic_error e;

        if (!buf)
                return -ENOMEM;
        e = aic_processor_create(&p, model, NULL);
        if (e == AIC_ERROR_SUCCESS)
                e = aic_processor_initialize(p, rate, (uint16_t) channels, block, false);
        if (e == AIC_ERROR_SUCCESS)
                e = aic_processor_context_create(&ctx, p);
        if (e == AIC_ERROR_SUCCESS)
                e = aic_processor_context_get_output_delay(ctx, &delay);
        if (e != AIC_ERROR_SUCCESS) {
                fprintf(stderr, "bench: setup failed: %s\n", aic_error_message(e));
                free(buf);
                aic_processor_context_destroy(ctx);
                aic_processor_destroy(p);
                return -EINVAL;
        }

        for (size_t k = 0; k < n_blocks; k++) {
                double t0, dt;

                fill_signal(buf, block, channels, rate, k * block, &seed);
                t0 = thread_cpu_now();
                aic_processor_process_interleaved(p, buf, (uint16_t) channels, block);
                dt = thread_cpu_now() - t0;
                total += dt;
                if (k > 10 && dt > worst) /* skip warm-up */
                        worst = dt;
        }

        ret->rtf = total / ((double) n_blocks * block / rate);
        ret->worst_us = worst * 1e6;
        ret->worst_ratio = worst / ((double) block / rate);
        ret->delay = delay;
        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);
        free(buf);
        return 0;
}

/* Peak RSS of `aicctl enhance` over a generated file of `seconds`. */
static int bench_aicctl_rss(const char *aicctl, const char *model_path, double seconds, long *ret_kb, double *ret_wall) {
        char in_path[] = "/tmp/aicd-bench-in-XXXXXX", out_path[64];
        SF_INFO info = {.samplerate = 48000, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
        float buf[4800];
        uint32_t seed = 7;
        struct rusage ru;
        SNDFILE *f;
        pid_t pid;
        int fd, status;
        double t0;

        fd = mkstemp(in_path);
        if (fd < 0)
                return -errno;
        f = sf_open_fd(fd, SFM_WRITE, &info, SF_TRUE);
        if (!f)
                return -EIO;
        for (size_t k = 0; k < (size_t) (seconds * 10); k++) {
                fill_signal(buf, 4800, 1, 48000, k * 4800, &seed);
                sf_writef_float(f, buf, 4800);
        }
        sf_close(f);
        snprintf(out_path, sizeof(out_path), "%s.out.wav", in_path);

        t0 = wall_now();
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                execl(aicctl, aicctl, "enhance", in_path, out_path, "--model", model_path, (char *) NULL);
                _exit(127);
        }
        if (wait4(pid, &status, 0, &ru) < 0)
                return -errno;
        *ret_wall = wall_now() - t0;
        unlink(in_path);
        unlink(out_path);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -EIO;
        *ret_kb = ru.ru_maxrss;
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                {"model", required_argument, NULL, 'm'},
                {"seconds", required_argument, NULL, 's'},
                {"aicctl", required_argument, NULL, 'a'},
                {},
        };
        static const struct {
                unsigned rate, channels;
                size_t block;
        } configs[] = {
                {48000, 1, 480}, {48000, 1, 256}, {48000, 1, 1024}, {48000, 2, 480}, {44100, 1, 441},
                {44100, 2, 512}, {16000, 1, 160}, {96000, 1, 960}, {48000, 6, 480},
        };
        const char *model_path = NULL, *aicctl = NULL;
        double seconds = 30;
        AicModel *model = NULL;
        enum aic_error e;
        int opt;

        while ((opt = getopt_long(argc, argv, "m:s:a:", options, NULL)) >= 0)
                switch (opt) {
                case 'm':
                        model_path = optarg;
                        break;
                case 's':
                        seconds = atof(optarg);
                        break;
                case 'a':
                        aicctl = optarg;
                        break;
                default:
                        fprintf(stderr, "Usage: bench-engine --model PATH [--seconds S] [--aicctl PATH]\n");
                        return 2;
                }
        if (!model_path || seconds <= 0) {
                fprintf(stderr, "Usage: bench-engine --model PATH [--seconds S] [--aicctl PATH]\n");
                return 2;
        }
        e = aic_model_create_from_file(&model, model_path);
        if (e != AIC_ERROR_SUCCESS) {
                fprintf(stderr, "bench: cannot load %s: %s\n", model_path, aic_error_message(e));
                return 1;
        }

        printf("Engine %s, model %s, %.0f s of audio per row, one thread\n\n", aic_get_sdk_version(),
               aic_model_get_id(model), seconds);
        printf("| rate (Hz) | channels | block | delay (ms) | real-time factor | worst block (us) | worst block / block duration |\n");
        printf("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
                Result r;

                if (bench_one(model, configs[i].rate, configs[i].channels, configs[i].block, seconds, &r) < 0)
                        continue;
                printf("| %u | %u | %zu | %.2f | %.4f | %.0f | %.1f %% |\n", configs[i].rate, configs[i].channels,
                       configs[i].block, 1000.0 * r.delay / configs[i].rate, r.rtf, r.worst_us, 100 * r.worst_ratio);
        }

        if (aicctl) {
                long kb = 0;
                double wall = 0;
                double len = 600;

                if (bench_aicctl_rss(aicctl, model_path, len, &kb, &wall) == 0) {
                        printf("\n| `aicctl enhance` on | peak RSS (MB) | wall time (s) |\n| --- | ---: | ---: |\n");
                        printf("| %.0f min, 48 kHz mono 16-bit | %.1f | %.1f |\n", len / 60, kb / 1024.0, wall);
                } else
                        fprintf(stderr, "bench: aicctl run failed\n");
        }
        aic_model_destroy(model);
        return 0;
}
