/* SPDX-License-Identifier: MIT */
/*
 * Model loading: the .aicm container (MODEL-FORMAT.md), its metadata and its
 * weights. Every length, index and shape is checked before use, so a hostile
 * file can only ever be refused.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "model.h"
#include "util.h"

static uint32_t read_le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void model_free(AicModel *m) {
        if (!m)
                return;
        free(m->id);
        free(m->description);
        free(m->architecture);
        free(m->weights);
        free(m);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(AicModel *, model_free);

AicModel *model_ref(const AicModel *m) {
        AicModel *mm = (AicModel *) m;

        atomic_fetch_add_explicit(&mm->n_ref, 1, memory_order_relaxed);
        return mm;
}

void model_unref(AicModel *m) {
        if (!m)
                return;
        if (atomic_fetch_sub_explicit(&m->n_ref, 1, memory_order_acq_rel) == 1)
                model_free(m);
}

unsigned model_feature_size(const AicModel *m) {
        return m->n_bands + m->fine_bins;
}

unsigned model_output_size(const AicModel *m) {
        return m->layers[m->n_layers - 1].out_size;
}

/* Reads a non-negative integer field in [min, max]. */
static int json_uint(const cJSON *obj, const char *key, unsigned min, unsigned max, unsigned *ret) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
        double d;

        if (!cJSON_IsNumber(v))
                return -EINVAL;
        d = v->valuedouble;
        if (!(d >= (double) min && d <= (double) max) || d != floor(d))
                return -EINVAL;
        *ret = (unsigned) d;
        return 0;
}

static int json_int(const cJSON *obj, const char *key, int min, int max, int *ret) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
        double d;

        if (!cJSON_IsNumber(v))
                return -EINVAL;
        d = v->valuedouble;
        if (!(d >= (double) min && d <= (double) max) || d != floor(d))
                return -EINVAL;
        *ret = (int) d;
        return 0;
}

static int json_strdup(const cJSON *obj, const char *key, bool required, char **ret) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

        if (!v) {
                if (required)
                        return -EINVAL;
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }
        if (!cJSON_IsString(v) || strlen(v->valuestring) > 256)
                return -EINVAL;
        *ret = strdup(v->valuestring);
        return *ret ? 0 : -ENOMEM;
}

typedef struct TensorRef {
        const char *name;
        unsigned shape[2];
        unsigned rank;
        size_t offset;
} TensorRef;

typedef struct ParseState {
        AicModel *m;
        const cJSON *tensors;
} ParseState;

/* Looks a tensor up by name and checks that its shape is exactly [d0] or [d0, d1]. */
static int tensor_get(const ParseState *s, const cJSON *name_item, unsigned d0, unsigned d1,
                      const float **ret) {
        const cJSON *t;
        const char *name;

        if (!cJSON_IsString(name_item))
                return -EINVAL;
        name = name_item->valuestring;

        cJSON_ArrayForEach(t, s->tensors) {
                const cJSON *n = cJSON_GetObjectItemCaseSensitive(t, "name");
                const cJSON *shape = cJSON_GetObjectItemCaseSensitive(t, "shape");
                unsigned dims[2] = {0, 1}, rank, offset, i = 0;
                const cJSON *d;
                size_t count;

                if (!cJSON_IsString(n) || strcmp(n->valuestring, name) != 0)
                        continue;
                if (!cJSON_IsArray(shape))
                        return -EINVAL;
                rank = (unsigned) cJSON_GetArraySize(shape);
                if (rank < 1 || rank > 2)
                        return -EINVAL;
                cJSON_ArrayForEach(d, shape) {
                        if (!cJSON_IsNumber(d) || d->valuedouble < 1 || d->valuedouble > AIC_MODEL_MAX_DIM ||
                            d->valuedouble != floor(d->valuedouble))
                                return -EINVAL;
                        dims[i++] = (unsigned) d->valuedouble;
                }
                if (json_uint(t, "offset", 0, UINT32_MAX, &offset) < 0)
                        return -EINVAL;
                count = (size_t) dims[0] * dims[1];
                if ((size_t) offset > s->m->n_weights || count > s->m->n_weights - offset)
                        return -EINVAL;
                if (dims[0] != d0 || dims[1] != d1)
                        return -EINVAL;
                *ret = s->m->weights + offset;
                return 0;
        }
        return -EINVAL;
}

static int parse_activation(const cJSON *layer, enum model_activation *ret) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(layer, "activation");
        static const char *const names[] = {
                [MODEL_ACT_LINEAR] = "linear",
                [MODEL_ACT_RELU] = "relu",
                [MODEL_ACT_TANH] = "tanh",
                [MODEL_ACT_SIGMOID] = "sigmoid",
        };

        if (!a) {
                *ret = MODEL_ACT_LINEAR;
                return 0;
        }
        if (!cJSON_IsString(a))
                return -EINVAL;
        for (unsigned i = 0; i < ELEMENTSOF(names); i++)
                if (streq(a->valuestring, names[i])) {
                        *ret = (enum model_activation) i;
                        return 0;
                }
        return -EINVAL;
}

static int parse_layer(const ParseState *s, const cJSON *jl, unsigned index) {
        AicModel *m = s->m;
        ModelLayer *l = &m->layers[index];
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(jl, "type");
        const cJSON *inputs = cJSON_GetObjectItemCaseSensitive(jl, "inputs");
        unsigned width = 0;
        int r;

        if (!cJSON_IsObject(jl) || !cJSON_IsString(type))
                return -EINVAL;

        if (inputs) {
                const cJSON *in;

                if (!cJSON_IsArray(inputs))
                        return -EINVAL;
                l->n_inputs = 0;
                cJSON_ArrayForEach(in, inputs) {
                        if (l->n_inputs >= AIC_MODEL_MAX_INPUTS || !cJSON_IsNumber(in) ||
                            in->valuedouble != floor(in->valuedouble) || in->valuedouble < -1 ||
                            in->valuedouble >= (double) index)
                                return -EINVAL;
                        l->inputs[l->n_inputs++] = (int) in->valuedouble;
                }
                if (l->n_inputs == 0)
                        return -EINVAL;
        } else {
                l->n_inputs = 1;
                l->inputs[0] = (int) index - 1;
        }
        for (unsigned i = 0; i < l->n_inputs; i++)
                width += l->inputs[i] < 0 ? model_feature_size(m) : m->layers[l->inputs[i]].out_size;

        r = json_uint(jl, "in", 1, AIC_MODEL_MAX_DIM, &l->in_size);
        if (r < 0 || l->in_size != width)
                return -EINVAL;

        if (streq(type->valuestring, "dense")) {
                l->type = MODEL_LAYER_DENSE;
                if (json_uint(jl, "out", 1, AIC_MODEL_MAX_DIM, &l->out_size) < 0 || parse_activation(jl, &l->activation) < 0)
                        return -EINVAL;
                if (tensor_get(s, cJSON_GetObjectItemCaseSensitive(jl, "weight"), l->out_size, l->in_size, &l->w) < 0 ||
                    tensor_get(s, cJSON_GetObjectItemCaseSensitive(jl, "bias"), l->out_size, 1, &l->b) < 0)
                        return -EINVAL;
        } else if (streq(type->valuestring, "gru")) {
                unsigned h;

                l->type = MODEL_LAYER_GRU;
                if (json_uint(jl, "hidden", 1, AIC_MODEL_MAX_DIM / 3, &h) < 0)
                        return -EINVAL;
                l->out_size = h;
                if (tensor_get(s, cJSON_GetObjectItemCaseSensitive(jl, "weight_ih"), 3 * h, l->in_size, &l->w) < 0 ||
                    tensor_get(s, cJSON_GetObjectItemCaseSensitive(jl, "weight_hh"), 3 * h, h, &l->w2) < 0 ||
                    tensor_get(s, cJSON_GetObjectItemCaseSensitive(jl, "bias_ih"), 3 * h, 1, &l->b) < 0 ||
                    tensor_get(s, cJSON_GetObjectItemCaseSensitive(jl, "bias_hh"), 3 * h, 1, &l->b2) < 0)
                        return -EINVAL;
        } else
                return -EINVAL;

        return 0;
}

static int parse_metadata(AicModel *m, const cJSON *root) {
        const cJSON *edges, *e, *layers, *jl, *norm, *outputs, *eps, *floor_v;
        ParseState s = {.m = m};
        unsigned n = 0, prev = 0, out_size;
        int r;

        if (!cJSON_IsObject(root))
                return -EINVAL;
        if ((r = json_strdup(root, "id", true, &m->id)) < 0 ||
            (r = json_strdup(root, "description", false, &m->description)) < 0 ||
            (r = json_strdup(root, "architecture", false, &m->architecture)) < 0)
                return r;
        if (m->id[0] == '\0')
                return -EINVAL;

        if (json_uint(root, "sample_rate", 8000, 192000, &m->sample_rate) < 0 ||
            json_uint(root, "hop", 16, 4096, &m->hop) < 0 || json_uint(root, "window", 32, 8192, &m->window) < 0 ||
            m->window != 2 * m->hop)
                return -EINVAL;
        m->n_bins = m->window / 2 + 1;

        edges = cJSON_GetObjectItemCaseSensitive(root, "band_edges");
        if (!cJSON_IsArray(edges))
                return -EINVAL;
        cJSON_ArrayForEach(e, edges) {
                if (n >= AIC_MODEL_MAX_BANDS || !cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) ||
                    e->valuedouble < 0 || e->valuedouble >= m->n_bins || (n > 0 && e->valuedouble <= prev))
                        return -EINVAL;
                prev = (unsigned) e->valuedouble;
                m->band_edges[n++] = (uint16_t) prev;
        }
        if (n < 2)
                return -EINVAL;
        m->n_bands = n;

        if (cJSON_GetObjectItemCaseSensitive(root, "fine_bins")) {
                if (json_uint(root, "fine_bins", 0, m->n_bins, &m->fine_bins) < 0)
                        return -EINVAL;
        } else
                m->fine_bins = 0;

        eps = cJSON_GetObjectItemCaseSensitive(root, "feature_eps");
        if (eps) {
                if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0 && eps->valuedouble < 1))
                        return -EINVAL;
                m->feature_eps = (float) eps->valuedouble;
        } else
                m->feature_eps = 1e-9f;

        floor_v = cJSON_GetObjectItemCaseSensitive(root, "gain_floor");
        if (floor_v) {
                if (!cJSON_IsNumber(floor_v) || !(floor_v->valuedouble >= 0 && floor_v->valuedouble < 1))
                        return -EINVAL;
                m->gain_floor = (float) floor_v->valuedouble;
        } else
                m->gain_floor = 0.0f;

        s.tensors = cJSON_GetObjectItemCaseSensitive(root, "tensors");
        if (!cJSON_IsArray(s.tensors))
                return -EINVAL;

        norm = cJSON_GetObjectItemCaseSensitive(root, "input_norm");
        if (!cJSON_IsObject(norm) ||
            tensor_get(&s, cJSON_GetObjectItemCaseSensitive(norm, "mean"), model_feature_size(m), 1, &m->norm_mean) < 0 ||
            tensor_get(&s, cJSON_GetObjectItemCaseSensitive(norm, "std"), model_feature_size(m), 1, &m->norm_std) < 0)
                return -EINVAL;
        for (unsigned i = 0; i < model_feature_size(m); i++)
                if (!(m->norm_std[i] > 0))
                        return -EINVAL;

        layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
        if (!cJSON_IsArray(layers))
                return -EINVAL;
        n = 0;
        cJSON_ArrayForEach(jl, layers) {
                if (n >= AIC_MODEL_MAX_LAYERS)
                        return -EINVAL;
                if (parse_layer(&s, jl, n) < 0)
                        return -EINVAL;
                n++;
        }
        if (n == 0)
                return -EINVAL;
        m->n_layers = n;
        out_size = model_output_size(m);

        outputs = cJSON_GetObjectItemCaseSensitive(root, "outputs");
        if (!cJSON_IsObject(outputs) || json_uint(outputs, "gains", 0, out_size, &m->out_gains) < 0 ||
            m->out_gains + m->n_bands > out_size)
                return -EINVAL;
        m->out_vad = -1;
        m->out_fine_gains = -1;
        if (cJSON_GetObjectItemCaseSensitive(outputs, "vad") &&
            json_int(outputs, "vad", -1, (int) out_size - 1, &m->out_vad) < 0)
                return -EINVAL;
        if (cJSON_GetObjectItemCaseSensitive(outputs, "fine_gains")) {
                if (json_int(outputs, "fine_gains", -1, (int) out_size, &m->out_fine_gains) < 0)
                        return -EINVAL;
                if (m->out_fine_gains >= 0 && (m->fine_bins == 0 || (unsigned) m->out_fine_gains + m->fine_bins > out_size))
                        return -EINVAL;
        }
        return 0;
}

enum aic_error model_parse(const uint8_t *buf, size_t len, AicModel **ret_model) {
        _cleanup_(model_freep) AicModel *m = NULL;
        uint32_t version, json_len, blob_len, crc;
        size_t blob_off;
        cJSON *root;
        int r;

        if (!buf || !ret_model)
                return AIC_ERROR_NULL_POINTER;
        if (len < AIC_MODEL_HEADER_SIZE || memcmp(buf, AIC_MODEL_MAGIC, 8) != 0 || len > AIC_MODEL_MAX_SIZE)
                return AIC_ERROR_MODEL_INVALID;
        version = read_le32(buf + 8);
        if (version != AIC_MODEL_FORMAT_VERSION)
                return AIC_ERROR_MODEL_VERSION_UNSUPPORTED;
        json_len = read_le32(buf + 12);
        blob_len = read_le32(buf + 16);
        crc = read_le32(buf + 20);
        if (json_len == 0 || json_len > AIC_MODEL_MAX_JSON || blob_len % 4 != 0 || blob_len > AIC_MODEL_MAX_SIZE)
                return AIC_ERROR_MODEL_INVALID;
        blob_off = ALIGN_TO((size_t) AIC_MODEL_HEADER_SIZE + json_len, 16);
        if (blob_off + blob_len != len)
                return AIC_ERROR_MODEL_INVALID;
        if ((uint32_t) crc32(crc32(0L, Z_NULL, 0), buf + AIC_MODEL_HEADER_SIZE, (uInt) (len - AIC_MODEL_HEADER_SIZE)) != crc)
                return AIC_ERROR_MODEL_INVALID;
        for (size_t i = AIC_MODEL_HEADER_SIZE + json_len; i < blob_off; i++)
                if (buf[i] != 0)
                        return AIC_ERROR_MODEL_INVALID;

        m = calloc(1, sizeof(*m));
        if (!m)
                return AIC_ERROR_INTERNAL;
        atomic_init(&m->n_ref, 1);
        m->n_weights = blob_len / 4;
        if (posix_memalign((void **) &m->weights, 64, blob_len + 64) != 0) {
                m->weights = NULL;
                return AIC_ERROR_INTERNAL;
        }
        for (size_t i = 0; i < m->n_weights; i++) {
                uint32_t u = read_le32(buf + blob_off + 4 * i);
                float f;

                memcpy(&f, &u, sizeof(f));
                if (!isfinite(f))
                        return AIC_ERROR_MODEL_INVALID;
                m->weights[i] = f;
        }

        root = cJSON_ParseWithLength((const char *) buf + AIC_MODEL_HEADER_SIZE, json_len);
        if (!root)
                return AIC_ERROR_MODEL_INVALID;
        r = parse_metadata(m, root);
        cJSON_Delete(root);
        if (r == -ENOMEM)
                return AIC_ERROR_INTERNAL;
        if (r < 0)
                return AIC_ERROR_MODEL_INVALID;

        *ret_model = TAKE_PTR(m);
        return AIC_ERROR_SUCCESS;
}

AIC_API enum aic_error aic_model_create_from_buffer(AicModel **ret_model, const uint8_t *buffer, size_t buffer_len) {
        return model_parse(buffer, buffer_len, ret_model);
}

AIC_API enum aic_error aic_model_create_from_file(AicModel **ret_model, const char *file_path) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        size_t done = 0;

        if (!ret_model || !file_path)
                return AIC_ERROR_NULL_POINTER;
        if (file_path[0] == '\0' || strlen(file_path) >= 4096)
                return AIC_ERROR_FILE_PATH_INVALID;

        /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is
         * refused below like any other file that is not a regular one. */
        fd = open(file_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG ? AIC_ERROR_FILE_PATH_INVALID
                                                                                  : AIC_ERROR_FILE_SYSTEM_ERROR;
        if (fstat(fd, &st) < 0)
                return AIC_ERROR_FILE_SYSTEM_ERROR;
        if (!S_ISREG(st.st_mode))
                return AIC_ERROR_FILE_PATH_INVALID;
        if (st.st_size < AIC_MODEL_HEADER_SIZE || (uint64_t) st.st_size > AIC_MODEL_MAX_SIZE)
                return AIC_ERROR_MODEL_INVALID;

        buf = malloc((size_t) st.st_size);
        if (!buf)
                return AIC_ERROR_INTERNAL;
        while (done < (size_t) st.st_size) {
                ssize_t n = read(fd, buf + done, (size_t) st.st_size - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return AIC_ERROR_FILE_SYSTEM_ERROR;
                if (n == 0)
                        return AIC_ERROR_MODEL_INVALID; /* truncated while reading */
                done += (size_t) n;
        }
        return model_parse(buf, done, ret_model);
}

AIC_API void aic_model_destroy(AicModel *model) {
        model_unref(model);
}

AIC_API const char *aic_model_get_id(const AicModel *model) {
        return model ? model->id : NULL;
}

AIC_API enum aic_error aic_model_get_optimal_sample_rate(const AicModel *model, uint32_t *ret_sample_rate) {
        if (!model || !ret_sample_rate)
                return AIC_ERROR_NULL_POINTER;
        *ret_sample_rate = model->sample_rate;
        return AIC_ERROR_SUCCESS;
}

AIC_API enum aic_error aic_model_get_optimal_num_frames(const AicModel *model, uint32_t sample_rate,
                                                        size_t *ret_num_frames) {
        if (!model || !ret_num_frames)
                return AIC_ERROR_NULL_POINTER;
        if (sample_rate < 8000 || sample_rate > 192000)
                return AIC_ERROR_PARAMETER_OUT_OF_RANGE;
        /* One hop's duration at the caller's rate. */
        *ret_num_frames = (size_t) (((uint64_t) model->hop * sample_rate + model->sample_rate / 2) / model->sample_rate);
        return AIC_ERROR_SUCCESS;
}
