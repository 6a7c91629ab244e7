/* SPDX-License-Identifier: MIT */
/*
 * `aicctl enhance IN.wav OUT.wav`: runs the engine offline over a sound file.
 * Streams block by block (memory stays flat for any length), compensates the
 * engine's output delay so OUT lines up with IN sample for sample, keeps the
 * rate, channel count, length and sample format, and writes OUT atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aic.h"
#include "aicctl.h"
#include "model-path.h"

typedef struct Progress {
        bool enabled;
        sf_count_t total;
        int last_percent;
} Progress;

static void progress_update(Progress *p, sf_count_t done) {
        int percent, filled;

        if (!p->enabled || p->total <= 0)
                return;
        percent = (int) (done * 100 / p->total);
        if (percent == p->last_percent)
                return;
        p->last_percent = percent;
        filled = percent * 40 / 100;
        fprintf(stderr, "\r[%.*s%*s] %3d%%", filled, "========================================", 40 - filled, "",
                percent);
        if (percent >= 100)
                fputc('\n', stderr);
        fflush(stderr);
}

static int enhance_usage(void) {
        fprintf(stderr, "Usage: aicctl enhance IN.wav OUT.wav [--model PATH|ID] [--level L] [--bypass]\n");
        return AICCTL_EXIT_USAGE;
}

/* Output keeps the input's container and sample format where libsndfile can
 * write it; anything else becomes a float WAV. */
static int output_format(const SF_INFO *in) {
        SF_INFO probe = *in;

        probe.format = in->format & (SF_FORMAT_TYPEMASK | SF_FORMAT_SUBMASK);
        if (sf_format_check(&probe))
                return probe.format;
        return SF_FORMAT_WAV | SF_FORMAT_FLOAT;
}

int aicctl_enhance(int argc, char **argv) {
        static const struct option options[] = {
                {"model", required_argument, NULL, 'm'},
                {"level", required_argument, NULL, 'l'},
                {"bypass", no_argument, NULL, 'b'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *model_arg = "default", *in_path, *out_path;
        char model_path[4096], tmp_path[4200];
        AicModel *model = NULL;
        AicProcessor *proc = NULL;
        AicProcessorContext *ctx = NULL;
        SNDFILE *in = NULL, *out = NULL;
        SF_INFO in_info = {0}, out_info;
        float *buf = NULL, level = 1.0f;
        bool bypass = false, tmp_created = false;
        size_t block = 0, delay = 0;
        sf_count_t written = 0, to_skip, read_total = 0;
        Progress progress = {0};
        enum aic_error e;
        int opt, ret = AICCTL_EXIT_FAILURE, fd;

        optind = 1;
        while ((opt = getopt_long(argc, argv, "m:l:bh", options, NULL)) >= 0)
                switch (opt) {
                case 'm':
                        model_arg = optarg;
                        break;
                case 'l': {
                        char *end;

                        errno = 0;
                        level = strtof(optarg, &end);
                        if (errno != 0 || end == optarg || *end != '\0' || !(level >= 0.0f && level <= 1.0f)) {
                                fprintf(stderr, "aicctl: --level must be a number from 0 to 1\n");
                                return AICCTL_EXIT_USAGE;
                        }
                        break;
                }
                case 'b':
                        bypass = true;
                        break;
                case 'h':
                        enhance_usage();
                        return AICCTL_EXIT_SUCCESS;
                default:
                        return enhance_usage();
                }
        if (argc - optind != 2)
                return enhance_usage();
        in_path = argv[optind];
        out_path = argv[optind + 1];

        if (model_path_resolve(model_arg, model_path, sizeof(model_path)) < 0) {
                fprintf(stderr, "aicctl: no model '%s' found (looked in %s and the bundled models)\n", model_arg,
                        "$XDG_DATA_HOME/aicd/models");
                return AICCTL_EXIT_FAILURE;
        }
        e = aic_model_create_from_file(&model, model_path);
        if (e != AIC_ERROR_SUCCESS) {
                fprintf(stderr, "aicctl: cannot load model %s: %s\n", model_path, aic_error_message(e));
                return AICCTL_EXIT_FAILURE;
        }

        in = sf_open(in_path, SFM_READ, &in_info);
        if (!in) {
                fprintf(stderr, "aicctl: cannot read %s: %s\n", in_path, sf_strerror(NULL));
                goto finish;
        }
        if (in_info.samplerate < 8000 || in_info.samplerate > 192000 || in_info.channels < 1 || in_info.channels > 16) {
                fprintf(stderr, "aicctl: %s: unsupported audio (%d Hz, %d channels; need 8000..192000 Hz, 1..16 channels)\n",
                        in_path, in_info.samplerate, in_info.channels);
                goto finish;
        }

        e = aic_processor_create(&proc, model, NULL);
        if (e == AIC_ERROR_SUCCESS)
                e = aic_model_get_optimal_num_frames(model, (uint32_t) in_info.samplerate, &block);
        if (e == AIC_ERROR_SUCCESS)
                e = aic_processor_initialize(proc, (uint32_t) in_info.samplerate, (uint16_t) in_info.channels, block, false);
        if (e == AIC_ERROR_SUCCESS)
                e = aic_processor_context_create(&ctx, proc);
        if (e == AIC_ERROR_SUCCESS)
                e = aic_processor_context_set_parameter(ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL, level);
        if (e == AIC_ERROR_SUCCESS)
                e = aic_processor_context_set_parameter(ctx, AIC_PARAMETER_BYPASS, bypass ? 1.0f : 0.0f);
        if (e == AIC_ERROR_SUCCESS)
                e = aic_processor_context_get_output_delay(ctx, &delay);
        if (e != AIC_ERROR_SUCCESS) {
                fprintf(stderr, "aicctl: cannot set up the engine: %s\n", aic_error_message(e));
                goto finish;
        }

        buf = calloc(block * (size_t) in_info.channels, sizeof(float));
        if (!buf) {
                fprintf(stderr, "aicctl: out of memory\n");
                goto finish;
        }

        /* Write to a temporary file beside OUT and rename at the end, so a
         * failure never leaves a half-written OUT (or clobbers IN == OUT). */
        snprintf(tmp_path, sizeof(tmp_path), "%s.XXXXXX", out_path);
        fd = mkstemp(tmp_path);
        if (fd < 0) {
                fprintf(stderr, "aicctl: cannot create %s: %s\n", out_path, strerror(errno));
                goto finish;
        }
        tmp_created = true;
        {
                mode_t um = umask(0);

                umask(um);
                (void) fchmod(fd, 0666 & ~um);
        }
        out_info = (SF_INFO) {.samplerate = in_info.samplerate, .channels = in_info.channels,
                              .format = output_format(&in_info)};
        out = sf_open_fd(fd, SFM_WRITE, &out_info, SF_TRUE);
        if (!out) {
                fprintf(stderr, "aicctl: cannot write %s: %s\n", out_path, sf_strerror(NULL));
                close(fd);
                goto finish;
        }
        sf_command(out, SFC_SET_CLIPPING, NULL, SF_TRUE);

        progress.enabled = isatty(STDERR_FILENO) && in_info.frames > (sf_count_t) in_info.samplerate * 10;
        progress.total = in_info.frames;
        progress.last_percent = -1;

        to_skip = (sf_count_t) delay;
        for (bool eof = false;;) {
                sf_count_t n = 0, offset, avail;

                if (!eof) {
                        n = sf_readf_float(in, buf, (sf_count_t) block);
                        if (n < 0)
                                n = 0;
                        if (n < (sf_count_t) block) {
                                if (sf_error(in) != SF_ERR_NO_ERROR) {
                                        fprintf(stderr, "aicctl: error reading %s: %s\n", in_path, sf_strerror(in));
                                        goto finish;
                                }
                                eof = true;
                        }
                        read_total += n;
                }
                if (eof && written >= read_total)
                        break;
                /* Past the end, zeros flush the engine's delay out. */
                memset(buf + n * in_info.channels, 0, (size_t) ((sf_count_t) block - n) * (size_t) in_info.channels * sizeof(float));
                e = aic_processor_process_interleaved(proc, buf, (uint16_t) in_info.channels, block);
                if (e != AIC_ERROR_SUCCESS) {
                        fprintf(stderr, "aicctl: processing failed: %s\n", aic_error_message(e));
                        goto finish;
                }
                offset = to_skip < (sf_count_t) block ? to_skip : (sf_count_t) block;
                to_skip -= offset;
                avail = (sf_count_t) block - offset;
                if (avail > read_total - written)
                        avail = read_total - written;
                if (avail > 0) {
                        if (sf_writef_float(out, buf + offset * in_info.channels, avail) != avail) {
                                fprintf(stderr, "aicctl: error writing %s: %s\n", out_path, sf_strerror(out));
                                goto finish;
                        }
                        written += avail;
                }
                progress_update(&progress, written);
        }
        progress_update(&progress, progress.total);

        if (sf_close(out) != 0) {
                out = NULL;
                fprintf(stderr, "aicctl: error finishing %s\n", out_path);
                goto finish;
        }
        out = NULL;
        if (rename(tmp_path, out_path) < 0) {
                fprintf(stderr, "aicctl: cannot write %s: %s\n", out_path, strerror(errno));
                goto finish;
        }
        tmp_created = false;
        ret = AICCTL_EXIT_SUCCESS;

finish:
        if (out)
                sf_close(out);
        if (tmp_created)
                unlink(tmp_path);
        if (in)
                sf_close(in);
        free(buf);
        aic_processor_context_destroy(ctx);
        aic_processor_destroy(proc);
        aic_model_destroy(model);
        return ret;
}
