/* SPDX-License-Identifier: MIT */
/*
 * Model loading (engine/MODEL-FORMAT.md): good files from disk and memory,
 * and every way a file can be truncated, corrupted or inconsistent. Bad
 * metadata is made by editing the tiny model's JSON and repacking it with a
 * fresh CRC, so each case reaches the metadata checks and not just the CRC.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "test-util.h"

#define HEADER_LEN 24u
#define MAX_FILE (64u * 1024u * 1024u)

static uint8_t *tiny;
static size_t tiny_len;
static char tmpdir[] = "/tmp/aicd-test-model-XXXXXX";

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v) {
        for (unsigned i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static void fix_crc(uint8_t *buf, size_t len) {
        put_le32(buf + 20, (uint32_t) crc32(crc32(0L, Z_NULL, 0), buf + HEADER_LEN, (uInt) (len - HEADER_LEN)));
}

/* Packs `json` and `blob` into a container with correct lengths, padding and CRC. */
static uint8_t *pack(const char *json, const uint8_t *blob, size_t blob_len, size_t *ret_len) {
        size_t json_len = strlen(json), blob_off = (HEADER_LEN + json_len + 15) / 16 * 16;
        size_t len = blob_off + blob_len;
        uint8_t *buf = calloc(1, len);

        assert_non_null(buf);
        memcpy(buf, "AICDMODL", 8);
        put_le32(buf + 8, 1);
        put_le32(buf + 12, (uint32_t) json_len);
        put_le32(buf + 16, (uint32_t) blob_len);
        memcpy(buf + HEADER_LEN, json, json_len);
        if (blob_len)
                memcpy(buf + blob_off, blob, blob_len);
        fix_crc(buf, len);
        *ret_len = len;
        return buf;
}

static const uint8_t *tiny_blob(size_t *ret_len) {
        size_t json_len = le32(tiny + 12);

        *ret_len = le32(tiny + 16);
        return tiny + (HEADER_LEN + json_len + 15) / 16 * 16;
}

static cJSON *tiny_meta(void) {
        cJSON *root = cJSON_ParseWithLength((const char *) tiny + HEADER_LEN, le32(tiny + 12));

        assert_non_null(root);
        return root;
}

static enum aic_error load_buffer(const uint8_t *buf, size_t len) {
        AicModel *m = NULL;
        enum aic_error r = aic_model_create_from_buffer(&m, buf, len);

        if (r == AIC_ERROR_SUCCESS)
                assert_non_null(m);
        aic_model_destroy(m);
        return r;
}

/* Repacks the tiny model with metadata `root` (consumed) and its own weights. */
static enum aic_error load_meta(cJSON *root) {
        char *json = cJSON_PrintUnformatted(root);
        size_t blob_len, len;
        const uint8_t *blob = tiny_blob(&blob_len);
        uint8_t *buf;
        enum aic_error r;

        assert_non_null(json);
        buf = pack(json, blob, blob_len, &len);
        r = load_buffer(buf, len);
        free(buf);
        free(json);
        cJSON_Delete(root);
        return r;
}

/* load_meta() with the failing case named in the report. */
static void expect_load(cJSON *root, enum aic_error want, const char *what) {
        enum aic_error r = load_meta(root);

        if (r != want)
                fail_msg("%s: got %s, want %s", what, aic_error_name(r), aic_error_name(want));
}

static enum aic_error load_json(const char *json) {
        size_t blob_len, len;
        const uint8_t *blob = tiny_blob(&blob_len);
        uint8_t *buf = pack(json, blob, blob_len, &len);
        enum aic_error r = load_buffer(buf, len);

        free(buf);
        return r;
}

static cJSON *layer(cJSON *root, int i) {
        cJSON *l = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "layers"), i);

        assert_non_null(l);
        return l;
}

static cJSON *tensor(cJSON *root, const char *name) {
        cJSON *t;

        cJSON_ArrayForEach(t, cJSON_GetObjectItem(root, "tensors")) {
                if (streq_ptr(cJSON_GetStringValue(cJSON_GetObjectItem(t, "name")), name))
                        return t;
        }
        fail_msg("no tensor %s", name);
        return NULL;
}

static void set_number(cJSON *obj, const char *key, double v) {
        cJSON_DeleteItemFromObject(obj, key);
        assert_non_null(cJSON_AddNumberToObject(obj, key, v));
}

static void set_raw(cJSON *obj, const char *key, const char *raw) {
        cJSON_DeleteItemFromObject(obj, key);
        assert_non_null(cJSON_AddRawToObject(obj, key, raw));
}

/* The tiny model with one top-level key, or one key of layer `i`, set to a raw
 * JSON value: loading it must give `want`. */
static void expect_root_raw(const char *key, const char *raw, enum aic_error want) {
        cJSON *root = tiny_meta();

        set_raw(root, key, raw);
        assert_int_equal(load_meta(root), want);
}

static void expect_layer_raw(int i, const char *key, const char *raw, enum aic_error want) {
        cJSON *root = tiny_meta();

        set_raw(layer(root, i), key, raw);
        assert_int_equal(load_meta(root), want);
}

static int setup(void **state) {
        (void) state;
        tiny = test_read_file(TINY_MODEL, &tiny_len);
        if (!tiny || !mkdtemp(tmpdir))
                return -1;
        return 0;
}

static int teardown(void **state) {
        static const char *const files[] = {"truncated.aicm", "huge.aicm", "fifo", "empty.aicm", "unreadable.aicm"};
        char path[256];

        (void) state;
        free(tiny);
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
                (void) unlink(path);
        }
        return rmdir(tmpdir);
}

static void write_file(const char *path, const void *buf, size_t len) {
        FILE *f = fopen(path, "wb");

        assert_non_null(f);
        assert_int_equal(fwrite(buf, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
}

static void test_load_file_and_buffer(void **state) {
        AicModel *a = NULL, *b = NULL, *c = NULL;
        uint32_t rate = 0;

        (void) state;
        assert_int_equal(aic_model_create_from_file(&a, TINY_MODEL), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_model_create_from_buffer(&b, tiny, tiny_len), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_model_create_from_file(&c, TINY_FINE_MODEL), AIC_ERROR_SUCCESS);
        assert_string_equal(aic_model_get_id(a), "tiny");
        assert_string_equal(aic_model_get_id(b), "tiny");
        assert_string_equal(aic_model_get_id(c), "tiny-fine");
        assert_int_equal(aic_model_get_optimal_sample_rate(a, &rate), AIC_ERROR_SUCCESS);
        assert_int_equal(rate, 48000);
        rate = 0;
        assert_int_equal(aic_model_get_optimal_sample_rate(b, &rate), AIC_ERROR_SUCCESS);
        assert_int_equal(rate, 48000);
        aic_model_destroy(a);
        aic_model_destroy(b);
        aic_model_destroy(c);
        aic_model_destroy(NULL);
}

static void test_optimal_frames(void **state) {
        /* One 10 ms hop at the caller's rate, rounded to the nearest frame. */
        static const struct {
                uint32_t rate;
                size_t frames;
        } cases[] = {
                {8000, 80},   {11025, 110}, {16000, 160}, {22050, 221}, {32000, 320},
                {44100, 441}, {48000, 480}, {88200, 882}, {96000, 960}, {192000, 1920},
        };
        AicModel *m;
        size_t frames;

        (void) state;
        test_load_tiny(&m);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                frames = 0;
                assert_int_equal(aic_model_get_optimal_num_frames(m, cases[i].rate, &frames), AIC_ERROR_SUCCESS);
                assert_int_equal(frames, cases[i].frames);
        }
        frames = 12345;
        assert_int_equal(aic_model_get_optimal_num_frames(m, 7999, &frames), AIC_ERROR_PARAMETER_OUT_OF_RANGE);
        assert_int_equal(aic_model_get_optimal_num_frames(m, 192001, &frames), AIC_ERROR_PARAMETER_OUT_OF_RANGE);
        assert_int_equal(frames, 12345);
        aic_model_destroy(m);
}

static void test_null_pointers(void **state) {
        AicModel *m = NULL;
        uint32_t rate;
        size_t frames;

        (void) state;
        assert_int_equal(aic_model_create_from_file(NULL, TINY_MODEL), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_model_create_from_file(&m, NULL), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_model_create_from_buffer(NULL, tiny, tiny_len), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_model_create_from_buffer(&m, NULL, tiny_len), AIC_ERROR_NULL_POINTER);
        assert_null(m);
        assert_null(aic_model_get_id(NULL));
        assert_int_equal(aic_model_get_optimal_sample_rate(NULL, &rate), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_model_get_optimal_num_frames(NULL, 48000, &frames), AIC_ERROR_NULL_POINTER);

        test_load_tiny(&m);
        assert_int_equal(aic_model_get_optimal_sample_rate(m, NULL), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_model_get_optimal_num_frames(m, 48000, NULL), AIC_ERROR_NULL_POINTER);
        aic_model_destroy(m);
}

static void test_truncated(void **state) {
        char path[256];

        (void) state;
        /* Every prefix, each in its own exactly sized heap block so that an
         * over-read is caught by ASan rather than hidden by slack. */
        for (size_t n = 0; n < tiny_len; n++) {
                uint8_t *buf = malloc(n ? n : 1);
                AicModel *m = NULL;

                assert_non_null(buf);
                memcpy(buf, tiny, n);
                assert_int_equal(aic_model_create_from_buffer(&m, buf, n), AIC_ERROR_MODEL_INVALID);
                assert_null(m);
                free(buf);
        }

        /* And through the file loader for a handful of lengths. */
        snprintf(path, sizeof(path), "%s/truncated.aicm", tmpdir);
        for (size_t n = 0; n < tiny_len; n = n < 64 ? n + 1 : n * 2 + 7) {
                AicModel *m = NULL;

                write_file(path, tiny, n);
                assert_int_equal(aic_model_create_from_file(&m, path), AIC_ERROR_MODEL_INVALID);
                assert_null(m);
        }
}

static void test_bit_flips(void **state) {
        uint8_t *buf = malloc(tiny_len);

        (void) state;
        assert_non_null(buf);
        memcpy(buf, tiny, tiny_len);
        assert_int_equal(load_buffer(buf, tiny_len), AIC_ERROR_SUCCESS);

        for (size_t i = 0; i < tiny_len; i++) {
                uint8_t bit = (uint8_t) (1u << (i % 8));
                enum aic_error want = i >= 8 && i < 12 ? AIC_ERROR_MODEL_VERSION_UNSUPPORTED : AIC_ERROR_MODEL_INVALID;
                AicModel *m = NULL;

                buf[i] ^= bit;
                assert_int_equal(aic_model_create_from_buffer(&m, buf, tiny_len), want);
                assert_null(m);
                buf[i] ^= bit;
        }
        free(buf);
}

static void test_version(void **state) {
        uint8_t *buf = malloc(tiny_len);
        static const uint32_t versions[] = {0, 2, 3, 0x100, UINT32_MAX};

        (void) state;
        assert_non_null(buf);
        for (size_t i = 0; i < ELEMENTSOF(versions); i++) {
                memcpy(buf, tiny, tiny_len);
                put_le32(buf + 8, versions[i]);
                assert_int_equal(load_buffer(buf, tiny_len), AIC_ERROR_MODEL_VERSION_UNSUPPORTED);
        }
        /* A version check must not hide a wrong magic. */
        memcpy(buf, tiny, tiny_len);
        memcpy(buf, "AICDMODX", 8);
        assert_int_equal(load_buffer(buf, tiny_len), AIC_ERROR_MODEL_INVALID);
        free(buf);
}

static void test_oversized(void **state) {
        size_t big = (size_t) MAX_FILE + 16;
        uint8_t *buf = calloc(1, big);
        char path[256];
        AicModel *m = NULL;
        int fd;

        (void) state;
        assert_non_null(buf);
        /* Declared: a blob length that would need a file over 64 MiB. */
        memcpy(buf, tiny, tiny_len);
        put_le32(buf + 16, MAX_FILE);
        fix_crc(buf, tiny_len);
        assert_int_equal(load_buffer(buf, tiny_len), AIC_ERROR_MODEL_INVALID);
        put_le32(buf + 16, UINT32_MAX - 3);
        assert_int_equal(load_buffer(buf, tiny_len), AIC_ERROR_MODEL_INVALID);
        put_le32(buf + 12, UINT32_MAX);
        assert_int_equal(load_buffer(buf, tiny_len), AIC_ERROR_MODEL_INVALID);
        /* JSON over 1 MiB. */
        memcpy(buf, tiny, tiny_len);
        put_le32(buf + 12, 1024u * 1024u + 1u);
        assert_int_equal(load_buffer(buf, tiny_len), AIC_ERROR_MODEL_INVALID);

        /* Actual: a consistent container just over the limit, in memory and
         * as a (sparse) file. */
        {
                size_t blob_len = big - 32;

                memcpy(buf, "AICDMODL", 8);
                put_le32(buf + 8, 1);
                put_le32(buf + 12, 2);
                put_le32(buf + 16, (uint32_t) blob_len);
                memcpy(buf + 24, "{}", 2);
                fix_crc(buf, big);
                assert_int_equal(load_buffer(buf, big), AIC_ERROR_MODEL_INVALID);
        }
        assert_int_equal(load_buffer(buf, (size_t) MAX_FILE + 1), AIC_ERROR_MODEL_INVALID);
        free(buf);

        snprintf(path, sizeof(path), "%s/huge.aicm", tmpdir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, tiny, tiny_len), (ssize_t) tiny_len);
        assert_int_equal(ftruncate(fd, (off_t) MAX_FILE + 1), 0);
        close(fd);
        assert_int_equal(aic_model_create_from_file(&m, path), AIC_ERROR_MODEL_INVALID);
        assert_null(m);
        unlink(path);
}

static void test_container_fields(void **state) {
        uint8_t *buf = malloc(tiny_len + 16);
        size_t json_len = le32(tiny + 12), pad_at = HEADER_LEN + json_len;

        (void) state;
        assert_non_null(buf);
        /* json_len 0. */
        memcpy(buf, tiny, tiny_len);
        put_le32(buf + 12, 0);
        fix_crc(buf, tiny_len);
        assert_int_equal(load_buffer(buf, tiny_len), AIC_ERROR_MODEL_INVALID);
        /* blob_len not a multiple of 4, and the file grown to match. */
        memcpy(buf, tiny, tiny_len);
        memset(buf + tiny_len, 0, 16);
        put_le32(buf + 16, le32(tiny + 16) + 2);
        fix_crc(buf, tiny_len + 2);
        assert_int_equal(load_buffer(buf, tiny_len + 2), AIC_ERROR_MODEL_INVALID);
        /* Trailing bytes after the blob. */
        memcpy(buf, tiny, tiny_len);
        fix_crc(buf, tiny_len + 4);
        assert_int_equal(load_buffer(buf, tiny_len + 4), AIC_ERROR_MODEL_INVALID);
        /* A non-zero padding byte between the JSON and the blob. */
        assert_true(pad_at % 16 != 0);
        memcpy(buf, tiny, tiny_len);
        buf[pad_at] = 1;
        fix_crc(buf, tiny_len);
        assert_int_equal(load_buffer(buf, tiny_len), AIC_ERROR_MODEL_INVALID);
        /* The same bytes with the padding restored load: the CRC fix-up works. */
        buf[pad_at] = 0;
        fix_crc(buf, tiny_len);
        assert_int_equal(load_buffer(buf, tiny_len), AIC_ERROR_SUCCESS);
        free(buf);
}

static void test_repack_identity(void **state) {
        (void) state;
        /* Control for the cases below: the unchanged metadata, re-serialised,
         * loads. So each failure there is the edit's doing. */
        assert_int_equal(load_meta(tiny_meta()), AIC_ERROR_SUCCESS);
}

static void test_missing_fields(void **state) {
        static const char *const top[] = {"id",      "sample_rate", "hop",    "window", "band_edges",
                                          "tensors", "input_norm",  "layers", "outputs"};
        static const char *const dense[] = {"type", "in", "out", "weight", "bias"};
        static const char *const gru[] = {"in", "hidden", "weight_ih", "weight_hh", "bias_ih", "bias_hh"};
        cJSON *root;

        (void) state;
        for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
                root = tiny_meta();
                cJSON_DeleteItemFromObject(root, top[i]);
                assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        }
        for (size_t i = 0; i < sizeof(dense) / sizeof(dense[0]); i++) {
                root = tiny_meta();
                cJSON_DeleteItemFromObject(layer(root, 0), dense[i]);
                assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        }
        for (size_t i = 0; i < sizeof(gru) / sizeof(gru[0]); i++) {
                root = tiny_meta();
                cJSON_DeleteItemFromObject(layer(root, 1), gru[i]);
                assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        }
        root = tiny_meta();
        cJSON_DeleteItemFromObject(cJSON_GetObjectItem(root, "input_norm"), "std");
        assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        root = tiny_meta();
        cJSON_DeleteItemFromObject(cJSON_GetObjectItem(root, "outputs"), "gains");
        assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        /* A tensor the layers name but the table lacks. */
        root = tiny_meta();
        cJSON_DeleteItemFromArray(cJSON_GetObjectItem(root, "tensors"), 9);
        assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        root = tiny_meta();
        cJSON_DeleteItemFromObject(tensor(root, "l0.bias"), "offset");
        assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        root = tiny_meta();
        cJSON_DeleteItemFromObject(tensor(root, "l0.bias"), "shape");
        assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);

        /* Optional ones really are optional. */
        root = tiny_meta();
        cJSON_DeleteItemFromObject(root, "description");
        cJSON_DeleteItemFromObject(root, "architecture");
        cJSON_DeleteItemFromObject(root, "fine_bins");
        cJSON_DeleteItemFromObject(root, "feature_eps");
        cJSON_DeleteItemFromObject(layer(root, 0), "inputs");
        assert_int_equal(load_meta(root), AIC_ERROR_SUCCESS);

        /* gain_floor: any value in [0, 1). */
        expect_root_raw("gain_floor", "0", AIC_ERROR_SUCCESS);
        expect_root_raw("gain_floor", "0.999", AIC_ERROR_SUCCESS);
}

static void test_wrong_types(void **state) {
        static const struct {
                const char *key, *raw;
        } cases[] = {
                {"id", "5"},
                {"id", "\"\""},
                {"id", "null"},
                {"sample_rate", "\"48000\""},
                {"sample_rate", "48000.5"},
                {"sample_rate", "true"},
                {"hop", "[480]"},
                {"band_edges", "{}"},
                {"band_edges", "\"0,2,4\""},
                {"tensors", "{}"},
                {"layers", "{}"},
                {"layers", "[]"},
                {"outputs", "[0]"},
                {"input_norm", "\"in.mean\""},
                {"fine_bins", "-1"},
                {"fine_bins", "482"},
                {"feature_eps", "0"},
                {"feature_eps", "-1e-9"},
                {"feature_eps", "1"},
                {"feature_eps", "\"small\""},
                {"gain_floor", "-0.01"},
                {"gain_floor", "1"},
                {"gain_floor", "2.5"},
                {"gain_floor", "\"low\""},
                {"gain_floor", "true"},
        };
        cJSON *root;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                root = tiny_meta();
                set_raw(root, cases[i].key, cases[i].raw);
                assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        }
        expect_layer_raw(0, "type", "\"conv\"", AIC_ERROR_MODEL_INVALID);
        expect_layer_raw(0, "activation", "\"gelu\"", AIC_ERROR_MODEL_INVALID);
        expect_layer_raw(0, "weight", "42", AIC_ERROR_MODEL_INVALID);
        expect_layer_raw(0, "inputs", "[]", AIC_ERROR_MODEL_INVALID);
        expect_layer_raw(0, "inputs", "-1", AIC_ERROR_MODEL_INVALID);
        expect_layer_raw(0, "inputs", "[\"-1\"]", AIC_ERROR_MODEL_INVALID);
        root = tiny_meta();
        cJSON_ReplaceItemInArray(cJSON_GetObjectItem(root, "layers"), 0, cJSON_CreateString("dense"));
        assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        /* 9 inputs: more than a layer may concatenate. */
        root = tiny_meta();
        set_raw(layer(root, 2), "inputs", "[1,0,0,0,0,0,0,0,0]");
        set_number(layer(root, 2), "in", 24 * 9);
        assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
}

static void test_wrong_shapes(void **state) {
        static const struct {
                const char *tensor, *shape;
        } cases[] = {
                {"l0.weight", "[24,15]"},    {"l0.weight", "[16,24]"}, {"l0.weight", "[384]"},
                {"l0.weight", "[24,16,1]"},  {"l0.weight", "[]"},      {"l0.weight", "[0,16]"},
                {"l0.bias", "[23]"},         {"l0.bias", "[24,1,1]"},  {"l0.bias", "[8193]"},
                {"l0.bias", "[-24]"},        {"l0.bias", "[24.5]"},    {"l0.bias", "[\"24\"]"},
                {"l1.weight_hh", "[72,23]"}, {"l1.bias_ih", "[71]"},   {"in.mean", "[15]"},
                {"in.std", "[17]"},          {"l2.weight", "[17,47]"}, {"l2.bias", "[1e400]"},
        };
        cJSON *root;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                root = tiny_meta();
                set_raw(tensor(root, cases[i].tensor), "shape", cases[i].shape);
                assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        }
        /* A GRU whose hidden size disagrees with its tensors. */
        root = tiny_meta();
        set_number(layer(root, 1), "hidden", 23);
        assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        /* A dense layer whose "out" disagrees with its weight. */
        root = tiny_meta();
        set_number(layer(root, 0), "out", 23);
        assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
}

static void test_offsets_out_of_range(void **state) {
        size_t blob_len;
        double n_weights;
        cJSON *root;

        (void) state;
        tiny_blob(&blob_len);
        n_weights = (double) (blob_len / 4);
        {
                const double offsets[] = {n_weights, n_weights - 16, n_weights - 1, n_weights + 1,
                                          -1,        4294967296.0,   1e300,         0.5};

                for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
                        root = tiny_meta();
                        /* l2.bias is the last tensor: offsets past it are past the blob. */
                        set_number(tensor(root, "l2.bias"), "offset", offsets[i]);
                        assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
                }
        }
        /* The largest in-range offset still loads. */
        root = tiny_meta();
        set_number(tensor(root, "l2.bias"), "offset", n_weights - 17);
        assert_int_equal(load_meta(root), AIC_ERROR_SUCCESS);
        root = tiny_meta();
        set_raw(tensor(root, "l2.bias"), "offset", "\"4856\"");
        assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
}

static void test_layer_sizes(void **state) {
        cJSON *root;

        (void) state;
        /* "in" that disagrees with the summed widths of the inputs. */
        root = tiny_meta();
        set_number(layer(root, 0), "in", 17);
        set_raw(tensor(root, "l0.weight"), "shape", "[24,17]");
        assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        expect_layer_raw(2, "inputs", "[1]", AIC_ERROR_MODEL_INVALID);
        expect_layer_raw(2, "inputs", "[1,-1]", AIC_ERROR_MODEL_INVALID);
        expect_layer_raw(1, "inputs", "[-1]", AIC_ERROR_MODEL_INVALID);
        /* Same total width, other layers: [0, 1] is as wide as [1, 0]. */
        expect_layer_raw(2, "inputs", "[0,1]", AIC_ERROR_SUCCESS);
}

static void test_forward_references(void **state) {
        static const struct {
                int layer;
                const char *inputs;
        } cases[] = {
                {0, "[0]"},    {0, "[1]"},  {1, "[1]"},   {1, "[2]"},     {2, "[2,0]"},    {2, "[1,3]"},
                {2, "[1,64]"}, {0, "[-2]"}, {1, "[0.5]"}, {1, "[1e300]"}, {1, "[-1e300]"},
        };
        cJSON *root;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                root = tiny_meta();
                set_raw(layer(root, cases[i].layer), "inputs", cases[i].inputs);
                assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        }
}

static void test_non_finite_weights(void **state) {
        static const uint32_t bad[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7f800000u, 0xff800000u};
        size_t blob_len, json_len = le32(tiny + 12);
        size_t blob_off = (HEADER_LEN + json_len + 15) / 16 * 16;
        uint8_t *buf = malloc(tiny_len);

        (void) state;
        assert_non_null(buf);
        tiny_blob(&blob_len);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                /* First weight, a middle one and the very last float. */
                const size_t at[] = {0, blob_len / 8, blob_len / 4 - 1};

                for (size_t k = 0; k < 3; k++) {
                        memcpy(buf, tiny, tiny_len);
                        put_le32(buf + blob_off + 4 * at[k], bad[i]);
                        fix_crc(buf, tiny_len);
                        assert_int_equal(load_buffer(buf, tiny_len), AIC_ERROR_MODEL_INVALID);
                }
        }
        /* The largest finite float and a denormal are fine. */
        memcpy(buf, tiny, tiny_len);
        put_le32(buf + blob_off + 4 * (blob_len / 4 - 1), 0x7f7fffffu);
        put_le32(buf + blob_off + 4 * (blob_len / 4 - 2), 0x00000001u);
        fix_crc(buf, tiny_len);
        assert_int_equal(load_buffer(buf, tiny_len), AIC_ERROR_SUCCESS);
        /* A normalisation std of zero would divide by zero. */
        memcpy(buf, tiny, tiny_len);
        put_le32(buf + blob_off + 4 * 16, 0);
        fix_crc(buf, tiny_len);
        assert_int_equal(load_buffer(buf, tiny_len), AIC_ERROR_MODEL_INVALID);
        free(buf);
}

static void test_band_edges(void **state) {
        static const char *const cases[] = {
                "[0,2,4,7,11,17,25,36,50,70,98,135,186,256,351,481]", /* last == bins */
                "[0,2,4,7,11,17,25,36,50,70,98,135,186,256,351,1000]",
                "[0,2,2,7,11,17,25,36,50,70,98,135,186,256,351,480]", /* not strictly increasing */
                "[0,2,4,3,11,17,25,36,50,70,98,135,186,256,351,480]",
                "[480,351,256,186,135,98,70,50,36,25,17,11,7,4,2,0]",
                "[-1,2,4,7,11,17,25,36,50,70,98,135,186,256,351,480]",
                "[0,2.5,4,7,11,17,25,36,50,70,98,135,186,256,351,480]",
                "[0,2,4,7,11,17,25,36,50,70,98,135,186,256,351,1e300]",
                "[0,2,4,7,11,17,25,36,50,70,98,135,186,256,351,\"480\"]",
                "[0]", /* a single edge makes no band */
                "[]",
        };
        char many[4096];
        size_t o = 0;
        cJSON *root;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                root = tiny_meta();
                set_raw(root, "band_edges", cases[i]);
                assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        }
        /* 257 edges: over the 256-band limit (and the bin count). */
        o += (size_t) snprintf(many + o, sizeof(many) - o, "[");
        for (int i = 0; i < 257; i++)
                o += (size_t) snprintf(many + o, sizeof(many) - o, "%s%d", i ? "," : "", i);
        snprintf(many + o, sizeof(many) - o, "]");
        root = tiny_meta();
        set_raw(root, "band_edges", many);
        assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
}

static void test_window_hop(void **state) {
        static const struct {
                double hop, window;
        } cases[] = {
                {480, 961},   {480, 959}, {480, 480}, {480, 1440},  {240, 960},     {8, 16},
                {4097, 8194}, {0, 0},     {480, 0},   {-480, -960}, {1e300, 2e300},
        };
        cJSON *root;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                root = tiny_meta();
                set_number(root, "hop", cases[i].hop);
                set_number(root, "window", cases[i].window);
                assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        }
}

static void test_outputs(void **state) {
        static const char *const cases[] = {
                "{\"gains\":2}", /* 2 + 16 bands > 17 outputs */
                "{\"gains\":-1}",
                "{\"gains\":17}",
                "{\"gains\":0,\"vad\":17}",
                "{\"gains\":0,\"vad\":-2}",
                "{\"gains\":0,\"vad\":\"16\"}",
                "{\"gains\":0,\"fine_gains\":0}", /* fine gains without fine bins */
                "{\"gains\":0,\"fine_gains\":18}",
                "{\"gains\":1e300}",
        };
        cJSON *root;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                root = tiny_meta();
                set_raw(root, "outputs", cases[i]);
                expect_load(root, AIC_ERROR_MODEL_INVALID, cases[i]);
        }
        /* No VAD output at all is allowed. */
        expect_root_raw("outputs", "{\"gains\":0,\"vad\":-1}", AIC_ERROR_SUCCESS);
}

static void test_huge_numbers(void **state) {
        static const char *const keys[] = {"sample_rate", "hop", "window", "fine_bins", "feature_eps"};
        static const char *const values[] = {
                "1e308",  "-1e308", "1e400", "-1e400", "4294967296", "18446744073709551616",
                "1e-400", "0.1",    "7999",  "192001"};
        cJSON *root;

        (void) state;
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
                for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
                        enum aic_error want = AIC_ERROR_MODEL_INVALID;

                        char what[64];

                        /* 0.1 is a valid epsilon; 1e-400 reads as 0, a valid fine_bins. */
                        if ((streq_ptr(keys[k], "feature_eps") && streq_ptr(values[v], "0.1")) ||
                            (streq_ptr(keys[k], "fine_bins") && streq_ptr(values[v], "1e-400")))
                                want = AIC_ERROR_SUCCESS;
                        root = tiny_meta();
                        set_raw(root, keys[k], values[v]);
                        snprintf(what, sizeof(what), "%s = %s", keys[k], values[v]);
                        expect_load(root, want, what);
                }
        expect_layer_raw(0, "in", "1e400", AIC_ERROR_MODEL_INVALID);
        expect_layer_raw(0, "out", "-1e400", AIC_ERROR_MODEL_INVALID);
        expect_layer_raw(1, "hidden", "1e20", AIC_ERROR_MODEL_INVALID);
}

static void test_non_object_json(void **state) {
        static const char *const cases[] = {
                "[]",
                "42",
                "\"tiny\"",
                "null",
                "true",
                "{",
                "{\"id\":",
                "{}",
                "{\"id\":\"x\"}",
                "not json at all",
                "\x01\x02\x03",
                "{\"id\":\"tiny\"}}}",
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_int_equal(load_json(cases[i]), AIC_ERROR_MODEL_INVALID);
        /* A long string id is refused rather than truncated. */
        {
                char json[400];
                cJSON *root = tiny_meta();

                memset(json, 'a', 300);
                json[300] = '\0';
                cJSON_DeleteItemFromObject(root, "id");
                cJSON_AddStringToObject(root, "id", json);
                assert_int_equal(load_meta(root), AIC_ERROR_MODEL_INVALID);
        }
        /* Deep nesting must not blow the stack. */
        {
                size_t depth = 100000, len;
                char *json = malloc(2 * depth + 1);
                uint8_t *buf;

                assert_non_null(json);
                memset(json, '[', depth);
                memset(json + depth, ']', depth);
                json[2 * depth] = '\0';
                buf = pack(json, NULL, 0, &len);
                assert_int_equal(load_buffer(buf, len), AIC_ERROR_MODEL_INVALID);
                free(buf);
                free(json);
        }
}

static void test_file_errors(void **state) {
        char path[512], dir[512], longpath[5000];
        AicModel *m = NULL;

        (void) state;
        snprintf(path, sizeof(path), "%s/does-not-exist.aicm", tmpdir);
        assert_int_equal(aic_model_create_from_file(&m, path), AIC_ERROR_FILE_PATH_INVALID);
        assert_int_equal(aic_model_create_from_file(&m, ""), AIC_ERROR_FILE_PATH_INVALID);
        snprintf(path, sizeof(path), "%s/no-such-dir/x.aicm", tmpdir);
        assert_int_equal(aic_model_create_from_file(&m, path), AIC_ERROR_FILE_PATH_INVALID);
        /* A regular file used as a directory. */
        snprintf(path, sizeof(path), "%s/x.aicm/y", TINY_MODEL);
        assert_int_equal(aic_model_create_from_file(&m, path), AIC_ERROR_FILE_PATH_INVALID);
        memset(longpath, 'a', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = '\0';
        assert_int_equal(aic_model_create_from_file(&m, longpath), AIC_ERROR_FILE_PATH_INVALID);

        assert_int_equal(aic_model_create_from_file(&m, tmpdir), AIC_ERROR_FILE_PATH_INVALID);
        snprintf(dir, sizeof(dir), "%s/", tmpdir);
        assert_int_equal(aic_model_create_from_file(&m, dir), AIC_ERROR_FILE_PATH_INVALID);
        assert_int_equal(aic_model_create_from_file(&m, "/"), AIC_ERROR_FILE_PATH_INVALID);

        /* Not a regular file: a FIFO must be refused, not waited on. */
        snprintf(path, sizeof(path), "%s/fifo", tmpdir);
        assert_int_equal(mkfifo(path, 0600), 0);
        assert_int_equal(aic_model_create_from_file(&m, path), AIC_ERROR_FILE_PATH_INVALID);
        assert_int_equal(aic_model_create_from_file(&m, "/dev/null"), AIC_ERROR_FILE_PATH_INVALID);
        assert_null(m);

        /* An empty file is a model file that is too short. */
        snprintf(path, sizeof(path), "%s/empty.aicm", tmpdir);
        write_file(path, "", 0);
        assert_int_equal(aic_model_create_from_file(&m, path), AIC_ERROR_MODEL_INVALID);
        assert_null(m);
}

static void test_unreadable(void **state) {
        char path[512];
        AicModel *m = NULL;

        (void) state;
        if (geteuid() == 0)
                skip(); /* root reads through mode 000 */
        snprintf(path, sizeof(path), "%s/unreadable.aicm", tmpdir);
        write_file(path, tiny, tiny_len);
        assert_int_equal(chmod(path, 0), 0);
        assert_int_equal(aic_model_create_from_file(&m, path), AIC_ERROR_FILE_SYSTEM_ERROR);
        assert_null(m);
        unlink(path);
}

static void test_destroy_while_in_use(void **state) {
        AicModel *m;
        AicProcessor *a = NULL, *b = NULL;
        float block[480];
        size_t frames;

        (void) state;
        test_load_tiny(&m);
        assert_int_equal(aic_processor_create(&a, m, NULL), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_initialize(a, 48000, 1, 480, false), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_create(&b, m, NULL), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_model_get_optimal_num_frames(m, 48000, &frames), AIC_ERROR_SUCCESS);
        aic_model_destroy(m);

        /* Both processors keep the model alive: initialize (which reads the
         * model again) and process still work, and destroying them in either
         * order frees it exactly once (ASan checks). */
        assert_int_equal(aic_processor_initialize(b, 44100, 2, 441, true), AIC_ERROR_SUCCESS);
        for (int i = 0; i < 20; i++) {
                float stereo[2 * 441];

                test_fill_noise(block, 480, (uint32_t) i + 1, 0.5f);
                test_fill_noise(stereo, 2 * 441, (uint32_t) i + 100, 0.5f);
                assert_int_equal(aic_processor_process_interleaved(a, block, 1, frames), AIC_ERROR_SUCCESS);
                assert_int_equal(aic_processor_process_interleaved(b, stereo, 2, 441), AIC_ERROR_SUCCESS);
                for (size_t k = 0; k < 480; k++)
                        assert_true(isfinite(block[k]));
        }
        aic_processor_destroy(a);
        for (int i = 0; i < 5; i++) {
                float stereo[2 * 100];

                test_fill_noise(stereo, 2 * 100, (uint32_t) i + 7, 0.5f);
                assert_int_equal(aic_processor_process_interleaved(b, stereo, 2, 100), AIC_ERROR_SUCCESS);
        }
        aic_processor_destroy(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_load_file_and_buffer),
                cmocka_unit_test(test_optimal_frames),
                cmocka_unit_test(test_null_pointers),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_bit_flips),
                cmocka_unit_test(test_version),
                cmocka_unit_test(test_oversized),
                cmocka_unit_test(test_container_fields),
                cmocka_unit_test(test_repack_identity),
                cmocka_unit_test(test_missing_fields),
                cmocka_unit_test(test_wrong_types),
                cmocka_unit_test(test_wrong_shapes),
                cmocka_unit_test(test_offsets_out_of_range),
                cmocka_unit_test(test_layer_sizes),
                cmocka_unit_test(test_forward_references),
                cmocka_unit_test(test_non_finite_weights),
                cmocka_unit_test(test_band_edges),
                cmocka_unit_test(test_window_hop),
                cmocka_unit_test(test_outputs),
                cmocka_unit_test(test_huge_numbers),
                cmocka_unit_test(test_non_object_json),
                cmocka_unit_test(test_file_errors),
                cmocka_unit_test(test_unreadable),
                cmocka_unit_test(test_destroy_while_in_use),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
