/* SPDX-License-Identifier: MIT */
/*
 * One hop of enhancement, read top to bottom as MODEL-FORMAT.md describes it:
 * window, FFT, band energies, features, network, per-bin gains, inverse FFT,
 * overlap-add. All buffers come from dsp_new(); dsp_process() only computes.
 */
#include <kiss_fftr.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dsp.h"
#include "nn.h"
#include "util.h"

typedef struct DspChannel {
        float *hist;        /* last `window` input samples */
        float *ola;         /* second half of the previous synthesis frame */
        kiss_fft_cpx *spec; /* this frame's spectrum */
} DspChannel;

struct Dsp {
        const AicModel *m;
        unsigned n_channels;
        unsigned n, hop, n_bins;
        float *window;
        kiss_fftr_cfg fwd, inv;
        float *frame;     /* time-domain scratch, `window` long */
        float *power;     /* n_bins */
        float *bands;     /* n_bands */
        float *gains;     /* n_bins */
        Nn *nn;
        DspChannel ch[];
};

Dsp *dsp_free(Dsp *d) {
        if (!d)
                return NULL;
        for (unsigned c = 0; c < d->n_channels; c++) {
                free(d->ch[c].hist);
                free(d->ch[c].ola);
                free(d->ch[c].spec);
        }
        kiss_fftr_free(d->fwd);
        kiss_fftr_free(d->inv);
        free(d->window);
        free(d->frame);
        free(d->power);
        free(d->bands);
        free(d->gains);
        nn_free(d->nn);
        free(d);
        return NULL;
}

int dsp_new(const AicModel *m, unsigned n_channels, Dsp **ret) {
        Dsp *d;
        int r;

        d = calloc(1, sizeof(*d) + n_channels * sizeof(DspChannel));
        if (!d)
                return -ENOMEM;
        d->m = m;
        d->n_channels = n_channels;
        d->n = m->window;
        d->hop = m->hop;
        d->n_bins = m->n_bins;

        d->window = malloc(d->n * sizeof(float));
        d->frame = malloc(d->n * sizeof(float));
        d->power = malloc(d->n_bins * sizeof(float));
        d->bands = malloc(m->n_bands * sizeof(float));
        d->gains = malloc(d->n_bins * sizeof(float));
        d->fwd = kiss_fftr_alloc((int) d->n, 0, NULL, NULL);
        d->inv = kiss_fftr_alloc((int) d->n, 1, NULL, NULL);
        if (!d->window || !d->frame || !d->power || !d->bands || !d->gains || !d->fwd || !d->inv) {
                dsp_free(d);
                return -ENOMEM;
        }
        for (unsigned c = 0; c < n_channels; c++) {
                d->ch[c].hist = calloc(d->n, sizeof(float));
                d->ch[c].ola = calloc(d->hop, sizeof(float));
                d->ch[c].spec = calloc(d->n_bins, sizeof(kiss_fft_cpx));
                if (!d->ch[c].hist || !d->ch[c].ola || !d->ch[c].spec) {
                        dsp_free(d);
                        return -ENOMEM;
                }
        }
        /* Sine window: its square overlap-adds to 1 at 50 % overlap, so
         * analysis plus synthesis windowing reconstructs perfectly. */
        for (unsigned i = 0; i < d->n; i++)
                d->window[i] = (float) sin(M_PI * (i + 0.5) / d->n);

        r = nn_new(m, &d->nn);
        if (r < 0) {
                dsp_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

void dsp_reset(Dsp *d) {
        for (unsigned c = 0; c < d->n_channels; c++) {
                memset(d->ch[c].hist, 0, d->n * sizeof(float));
                memset(d->ch[c].ola, 0, d->hop * sizeof(float));
        }
        nn_reset(d->nn);
}

/* Triangular band pooling (bins -> bands), see MODEL-FORMAT.md step 3. */
static void bands_from_bins(const AicModel *m, const float *bins, float *bands) {
        const uint16_t *e = m->band_edges;
        unsigned nb = m->n_bands;

        memset(bands, 0, nb * sizeof(float));
        for (unsigned j = 0; j < e[0]; j++)
                bands[0] += bins[j];
        for (unsigned b = 0; b + 1 < nb; b++) {
                unsigned width = e[b + 1] - e[b];

                for (unsigned j = e[b]; j < e[b + 1]; j++) {
                        float f = (float) (j - e[b]) / (float) width;

                        bands[b] += (1.0f - f) * bins[j];
                        bands[b + 1] += f * bins[j];
                }
        }
        for (unsigned j = e[nb - 1]; j < m->n_bins; j++)
                bands[nb - 1] += bins[j];
}

/* The inverse: per-bin values interpolated from band values (step 6). */
static void bins_from_bands(const AicModel *m, const float *bands, float *bins) {
        const uint16_t *e = m->band_edges;
        unsigned nb = m->n_bands;

        for (unsigned j = 0; j < e[0]; j++)
                bins[j] = bands[0];
        for (unsigned b = 0; b + 1 < nb; b++) {
                unsigned width = e[b + 1] - e[b];

                for (unsigned j = e[b]; j < e[b + 1]; j++) {
                        float f = (float) (j - e[b]) / (float) width;

                        bins[j] = (1.0f - f) * bands[b] + f * bands[b + 1];
                }
        }
        for (unsigned j = e[nb - 1]; j < m->n_bins; j++)
                bins[j] = bands[nb - 1];
}

float dsp_process(Dsp *d, const float *const *in, float *const *out, float level) {
        const AicModel *m = d->m;
        unsigned n = d->n, hop = d->hop, nb = m->n_bands;
        float *feat = nn_input(d->nn);
        const float *y;
        float vad = 0.0f, inv_ch = 1.0f / (float) d->n_channels, scale = 1.0f / (float) n, floor_gain;

        /* Digital silence in the whole analysis window: nothing to enhance,
         * and the network starts afresh when sound begins, as it does at the
         * start of every training example (a muted or just-opened microphone
         * must not leave it in a state it never saw). */
        bool silent = true, onset = true;

        for (unsigned c = 0; c < d->n_channels; c++) {
                DspChannel *ch = &d->ch[c];

                memmove(ch->hist, ch->hist + hop, (n - hop) * sizeof(float));
                memcpy(ch->hist + (n - hop), in[c], hop * sizeof(float));
                for (unsigned i = 0; onset && i < n - hop; i++)
                        onset = ch->hist[i] == 0.0f;
                for (unsigned i = n - hop; silent && i < n; i++)
                        silent = ch->hist[i] == 0.0f;
        }
        silent = silent && onset;
        if (silent) {
                nn_reset(d->nn);
                for (unsigned c = 0; c < d->n_channels; c++) {
                        memcpy(out[c], d->ch[c].ola, hop * sizeof(float));
                        memset(d->ch[c].ola, 0, hop * sizeof(float));
                }
                return 0.0f;
        }

        /* Analysis. */
        memset(d->power, 0, d->n_bins * sizeof(float));
        for (unsigned c = 0; c < d->n_channels; c++) {
                DspChannel *ch = &d->ch[c];

                for (unsigned i = 0; i < n; i++)
                        d->frame[i] = ch->hist[i] * d->window[i];
                kiss_fftr(d->fwd, d->frame, ch->spec);
                for (unsigned j = 0; j < d->n_bins; j++)
                        d->power[j] += (ch->spec[j].r * ch->spec[j].r + ch->spec[j].i * ch->spec[j].i) * inv_ch;
        }

        if (onset) {
                /* Sound begins in the newest hop only: passed as it is; the
                 * network first sees the next frame, from a fresh state. */
                nn_reset(d->nn);
                for (unsigned j = 0; j < d->n_bins; j++)
                        d->gains[j] = 1.0f;
                goto synthesis;
        }

        /* Features. */
        bands_from_bins(m, d->power, d->bands);
        for (unsigned b = 0; b < nb; b++)
                feat[b] = (log10f(d->bands[b] + m->feature_eps) - m->norm_mean[b]) / m->norm_std[b];
        for (unsigned j = 0; j < m->fine_bins; j++)
                feat[nb + j] = (log10f(d->power[j] + m->feature_eps) - m->norm_mean[nb + j]) / m->norm_std[nb + j];

        /* Network and gains. */
        y = nn_run(d->nn);
        bins_from_bands(m, y + m->out_gains, d->gains);
        if (m->out_fine_gains >= 0)
                for (unsigned j = 0; j < m->fine_bins; j++)
                        d->gains[j] *= y[m->out_fine_gains + (int) j];
        if (m->out_vad >= 0)
                vad = y[m->out_vad];
        /* Gain floor (0 without one) and level, in one pass. */
        floor_gain = m->gain_floor;
        if (level >= 1.0f)
                for (unsigned j = 0; j < d->n_bins; j++)
                        d->gains[j] = MAX(floor_gain + (1.0f - floor_gain) * d->gains[j], 1e-5f);
        else if (level <= 0.0f)
                for (unsigned j = 0; j < d->n_bins; j++)
                        d->gains[j] = 1.0f;
        else
                for (unsigned j = 0; j < d->n_bins; j++)
                        d->gains[j] = powf(MAX(floor_gain + (1.0f - floor_gain) * d->gains[j], 1e-5f), level);

synthesis:
        /* Synthesis. */
        for (unsigned c = 0; c < d->n_channels; c++) {
                DspChannel *ch = &d->ch[c];

                for (unsigned j = 0; j < d->n_bins; j++) {
                        ch->spec[j].r *= d->gains[j];
                        ch->spec[j].i *= d->gains[j];
                }
                kiss_fftri(d->inv, ch->spec, d->frame);
                for (unsigned i = 0; i < n; i++)
                        d->frame[i] *= d->window[i] * scale;
                for (unsigned i = 0; i < hop; i++) {
                        out[c][i] = ch->ola[i] + d->frame[i];
                        ch->ola[i] = d->frame[hop + i];
                }
        }
        return vad;
}
