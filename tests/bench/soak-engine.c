/* SPDX-License-Identifier: MIT */
/*
 * Engine soak: hours of audio through one processor, with bypass and level
 * changed from another thread all along, printing RSS, open file descriptors
 * and the real-time factor every simulated 10 minutes. Asserts nothing.
 *
 *   soak-engine MODEL [HOURS]
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aic.h"

static atomic_bool done;

static long rss_kb(void) {
        char line[256];
        long kb = -1;
        FILE *f = fopen("/proc/self/status", "re");

        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "VmRSS: %ld", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

static int fd_count(void) {
        DIR *d = opendir("/proc/self/fd");
        int n = 0;

        if (!d)
                return -1;
        while (readdir(d))
                n++;
        closedir(d);
        return n - 3; /* ".", ".." and the directory itself */
}

static void *toggler(void *arg) {
        AicProcessorContext *ctx = arg;
        struct timespec ts = {.tv_nsec = 50 * 1000 * 1000};

        for (unsigned i = 0; !atomic_load(&done); i++) {
                aic_processor_context_set_parameter(ctx, AIC_PARAMETER_BYPASS, (i % 7) == 0 ? 1.0f : 0.0f);
                aic_processor_context_set_parameter(ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, (float) (i % 11) / 10.0f);
                nanosleep(&ts, NULL);
        }
        return NULL;
}

int main(int argc, char **argv) {
        AicModel *model = NULL;
        AicProcessor *p = NULL;
        AicProcessorContext *ctx = NULL;
        double hours = argc > 2 ? atof(argv[2]) : 2.0;
        const unsigned rate = 48000, block = 256;
        size_t blocks = (size_t) (hours * 3600 * rate / block), per_report = (size_t) 600 * rate / block;
        float buf[256];
        uint32_t seed = 1;
        pthread_t th;
        struct timespec t0, t1;

        if (argc < 2 || hours <= 0) {
                fprintf(stderr, "Usage: soak-engine MODEL [HOURS]\n");
                return 2;
        }
        if (aic_model_create_from_file(&model, argv[1]) != AIC_ERROR_SUCCESS ||
            aic_processor_create(&p, model, NULL) != AIC_ERROR_SUCCESS ||
            aic_processor_initialize(p, rate, 1, block, false) != AIC_ERROR_SUCCESS ||
            aic_processor_context_create(&ctx, p) != AIC_ERROR_SUCCESS) {
                fprintf(stderr, "soak: setup failed\n");
                return 1;
        }
        pthread_create(&th, NULL, toggler, ctx);
        printf("| audio (min) | RSS (MB) | open fds | real-time factor so far |\n| ---: | ---: | ---: | ---: |\n");
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
        for (size_t k = 0; k < blocks; k++) {
                for (unsigned i = 0; i < block; i++) {
                        seed = seed * 1664525u + 1013904223u;
                        buf[i] = (float) ((double) (seed >> 8) / 16777216.0 - 0.5) * 0.2f;
                }
                aic_processor_process_interleaved(p, buf, 1, block);
                if ((k + 1) % per_report == 0 || k + 1 == blocks) {
                        double cpu, audio = (double) (k + 1) * block / rate;

                        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
                        cpu = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) * 1e-9;
                        printf("| %.0f | %.1f | %d | %.4f |\n", audio / 60, rss_kb() / 1024.0, fd_count(), cpu / audio);
                        fflush(stdout);
                }
        }
        atomic_store(&done, true);
        pthread_join(th, NULL);
        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);
        aic_model_destroy(model);
        return 0;
}
