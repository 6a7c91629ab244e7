/* SPDX-License-Identifier: MIT */
/*
 * Network evaluation for dense and GRU layers. XNNPACK does the matrix-vector
 * products (its operators pack the weights at creation); the element-wise
 * activations and gate arithmetic are plain C next to them, since this
 * XNNPACK has no tanh.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xnnpack.h>

#include "nn.h"
#include "util.h"

typedef struct NnLayer {
        const ModelLayer *def;
        float *in;  /* concatenated input, padded for XNNPACK's over-reads */
        float *out; /* out_size (+ padding) */
        xnn_operator_t op;    /* dense, or GRU input projection */
        xnn_operator_t op_hh; /* GRU recurrent projection */
        float *gi, *gh;       /* GRU: 3H projections */
        float *h;             /* GRU: state, padded */
} NnLayer;

struct Nn {
        const AicModel *model;
        float *features;
        unsigned n_layers;
        NnLayer layers[AIC_MODEL_MAX_LAYERS];
};

static pthread_once_t xnn_once = PTHREAD_ONCE_INIT;
static enum xnn_status xnn_init_status = xnn_status_uninitialized;

static void xnn_init_once(void) {
        xnn_init_status = xnn_initialize(NULL);
}

static float *buf_new(size_t n) {
        /* XNNPACK may read XNN_EXTRA_BYTES past an input's end. */
        return calloc(n + XNN_EXTRA_BYTES / sizeof(float) + 4, sizeof(float));
}

Nn *nn_free(Nn *nn) {
        if (!nn)
                return NULL;
        for (unsigned i = 0; i < nn->n_layers; i++) {
                NnLayer *l = &nn->layers[i];

                if (l->op)
                        xnn_delete_operator(l->op);
                if (l->op_hh)
                        xnn_delete_operator(l->op_hh);
                free(l->in);
                free(l->out);
                free(l->gi);
                free(l->gh);
                free(l->h);
        }
        free(nn->features);
        free(nn);
        return NULL;
}

static int fc_new(size_t in, size_t out, const float *w, const float *b, const float *x, float *y,
                  float out_min, xnn_operator_t *ret) {
        xnn_operator_t op = NULL;

        if (xnn_create_fully_connected_nc_f32(in, out, in, out, w, b, out_min, INFINITY, 0, &op) != xnn_status_success)
                return -ENOMEM;
        if (xnn_setup_fully_connected_nc_f32(op, 1, x, y, NULL) != xnn_status_success) {
                xnn_delete_operator(op);
                return -EINVAL;
        }
        *ret = op;
        return 0;
}

int nn_new(const AicModel *model, Nn **ret) {
        Nn *nn;
        int r;

        pthread_once(&xnn_once, xnn_init_once);
        if (xnn_init_status != xnn_status_success)
                return -ENOTSUP;

        nn = calloc(1, sizeof(*nn));
        if (!nn)
                return -ENOMEM;
        nn->model = model;
        nn->features = buf_new(model_feature_size(model));
        if (!nn->features) {
                nn_free(nn);
                return -ENOMEM;
        }

        for (unsigned i = 0; i < model->n_layers; i++) {
                const ModelLayer *d = &model->layers[i];
                NnLayer *l = &nn->layers[i];

                nn->n_layers = i + 1;
                l->def = d;
                l->in = buf_new(d->in_size);
                l->out = buf_new(d->out_size);
                if (!l->in || !l->out) {
                        nn_free(nn);
                        return -ENOMEM;
                }
                if (d->type == MODEL_LAYER_DENSE) {
                        r = fc_new(d->in_size, d->out_size, d->w, d->b, l->in, l->out,
                                   d->activation == MODEL_ACT_RELU ? 0.0f : -INFINITY, &l->op);
                } else {
                        unsigned h = d->out_size;

                        l->gi = buf_new(3 * h);
                        l->gh = buf_new(3 * h);
                        l->h = buf_new(h);
                        if (!l->gi || !l->gh || !l->h) {
                                nn_free(nn);
                                return -ENOMEM;
                        }
                        r = fc_new(d->in_size, 3 * h, d->w, d->b, l->in, l->gi, -INFINITY, &l->op);
                        if (r >= 0)
                                r = fc_new(h, 3 * h, d->w2, d->b2, l->h, l->gh, -INFINITY, &l->op_hh);
                }
                if (r < 0) {
                        nn_free(nn);
                        return r;
                }
        }

        *ret = nn;
        return 0;
}

float *nn_input(Nn *nn) {
        return nn->features;
}

void nn_reset(Nn *nn) {
        for (unsigned i = 0; i < nn->n_layers; i++)
                if (nn->layers[i].h)
                        memset(nn->layers[i].h, 0, nn->layers[i].def->out_size * sizeof(float));
}

static inline float sigmoidf(float x) {
        return 1.0f / (1.0f + expf(-x));
}

static void activate(float *x, unsigned n, enum model_activation act) {
        switch (act) {
        case MODEL_ACT_TANH:
                for (unsigned i = 0; i < n; i++)
                        x[i] = tanhf(x[i]);
                break;
        case MODEL_ACT_SIGMOID:
                for (unsigned i = 0; i < n; i++)
                        x[i] = sigmoidf(x[i]);
                break;
        case MODEL_ACT_RELU: /* clamped by the operator */
        case MODEL_ACT_LINEAR:
                break;
        }
}

const float *nn_run(Nn *nn) {
        for (unsigned i = 0; i < nn->n_layers; i++) {
                NnLayer *l = &nn->layers[i];
                const ModelLayer *d = l->def;
                float *p = l->in;

                for (unsigned k = 0; k < d->n_inputs; k++) {
                        int src = d->inputs[k];
                        const float *s = src < 0 ? nn->features : nn->layers[src].out;
                        unsigned n = src < 0 ? model_feature_size(nn->model) : nn->layers[src].def->out_size;

                        memcpy(p, s, n * sizeof(float));
                        p += n;
                }

                if (d->type == MODEL_LAYER_DENSE) {
                        xnn_run_operator(l->op, NULL);
                        activate(l->out, d->out_size, d->activation);
                } else {
                        unsigned h = d->out_size;

                        xnn_run_operator(l->op, NULL);
                        xnn_run_operator(l->op_hh, NULL);
                        for (unsigned j = 0; j < h; j++) {
                                float r = sigmoidf(l->gi[j] + l->gh[j]);
                                float z = sigmoidf(l->gi[h + j] + l->gh[h + j]);
                                float n = tanhf(l->gi[2 * h + j] + r * l->gh[2 * h + j]);

                                l->out[j] = (1.0f - z) * n + z * l->h[j];
                        }
                        memcpy(l->h, l->out, h * sizeof(float));
                }
        }
        return nn->layers[nn->n_layers - 1].out;
}
