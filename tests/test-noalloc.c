/* SPDX-License-Identifier: MIT */
/*
 * The real-time promise: once initialized, process never allocates or frees.
 * This executable defines the allocator entry points itself (forwarding to
 * glibc's), so every allocation in the process, the engine's and its
 * libraries' alike, passes through here; while a process call runs, any of
 * them is counted as a violation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <errno.h>

#include "test-util.h"

#if AICD_TEST_SANITIZED
int main(void) {
        /* The sanitizer runtime owns the allocator; this probe cannot run. */
        printf("skipped: allocation probe is incompatible with sanitizers\n");
        return 77;
}
#else

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void *__libc_memalign(size_t alignment, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);
void __libc_free(void *ptr);

/* The build hides symbols by default; these must be seen by every library. */
#define _public_ __attribute__((visibility("default")))

static _Thread_local bool armed;
static _Thread_local unsigned long violations;
static _Thread_local const char *first_violation;

static void note(const char *what) {
        if (!armed)
                return;
        if (violations++ == 0)
                first_violation = what;
}

_public_ void *malloc(size_t size) {
        note("malloc");
        return __libc_malloc(size);
}

_public_ void *calloc(size_t n, size_t size) {
        note("calloc");
        return __libc_calloc(n, size);
}

_public_ void *realloc(void *ptr, size_t size) {
        note("realloc");
        return __libc_realloc(ptr, size);
}

_public_ void free(void *ptr) {
        if (ptr)
                note("free");
        __libc_free(ptr);
}

_public_ void *memalign(size_t alignment, size_t size) {
        note("memalign");
        return __libc_memalign(alignment, size);
}

_public_ void *aligned_alloc(size_t alignment, size_t size) {
        note("aligned_alloc");
        return __libc_memalign(alignment, size);
}

_public_ int posix_memalign(void **ret, size_t alignment, size_t size) {
        void *p;

        note("posix_memalign");
        if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
                return EINVAL;
        p = __libc_memalign(alignment, size);
        if (!p)
                return ENOMEM;
        *ret = p;
        return 0;
}

_public_ void *valloc(size_t size) {
        note("valloc");
        return __libc_valloc(size);
}

_public_ void *pvalloc(size_t size) {
        note("pvalloc");
        return __libc_pvalloc(size);
}

static void arm(void) {
        violations = 0;
        first_violation = NULL;
        armed = true;
}

/* Disarms and returns how many allocator calls happened while armed. */
static unsigned long disarm(void) {
        armed = false;
        return violations;
}

#define assert_no_alloc(what)                                                                                          \
        do {                                                                                                           \
                unsigned long _n = disarm();                                                                           \
                if (_n != 0)                                                                                           \
                        fail_msg("%s: %lu allocator call(s), the first %s", (what), _n, first_violation);              \
        } while (0)

static AicModel *tiny;

static int setup(void **state) {
        (void) state;
        return aic_model_create_from_file(&tiny, TINY_MODEL) == AIC_ERROR_SUCCESS ? 0 : -1;
}

static int teardown(void **state) {
        (void) state;
        aic_model_destroy(tiny);
        return 0;
}

static void test_probe_sees_allocations(void **state) {
        void *(*volatile alloc)(size_t) = malloc;
        char *(*volatile dup)(const char *) = strdup;
        AicProcessor *p = NULL;
        cJSON *obj;
        void *x;
        char *s;

        (void) state;
        /* Controls: the probe must see a direct call, calls from inside
         * shared libraries (libc's strdup, cJSON) and the engine's own. */
        arm();
        x = alloc(32);
        assert_int_equal(disarm(), 1);
        free(x);
        arm();
        s = dup("probe");
        assert_true(disarm() >= 1);
        free(s);
        arm();
        obj = cJSON_CreateObject();
        assert_true(disarm() >= 1);
        cJSON_Delete(obj);
        arm();
        assert_int_equal(aic_processor_create(&p, tiny, NULL), AIC_ERROR_SUCCESS);
        assert_true(disarm() >= 1);
        arm();
        aic_processor_destroy(p);
        assert_true(disarm() >= 1);
}

typedef struct Config {
        const char *name;
        uint32_t rate;
        uint16_t channels;
        size_t frames;
        bool variable;
        bool planar;
        bool toggle_bypass;
        bool change_level;
        bool reset;
        bool disallow;
} Config;

static void run_config(const Config *cfg) {
        AicProcessor *p = NULL;
        AicProcessorContext *ctx = NULL;
        size_t max = cfg->frames, blocks = MIN(2 * cfg->rate / cfg->frames + 20, (size_t) 20000);
        float *buf = calloc(max * cfg->channels, sizeof(float));
        float *planes[16];
        uint32_t rng = 2024;
        char what[160];

        assert_non_null(buf);
        for (unsigned c = 0; c < cfg->channels; c++)
                planes[c] = buf + c * max;
        assert_int_equal(aic_processor_create(&p, tiny, NULL), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_initialize(p, cfg->rate, cfg->channels, cfg->frames, cfg->variable),
                         AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_create(&ctx, p), AIC_ERROR_SUCCESS);

        for (size_t k = 0; k < blocks; k++) {
                size_t n = cfg->variable ? 1 + test_rand(&rng) % max : max;
                enum aic_error r;

                /* Context calls happen between blocks, unwatched: only
                 * process has the promise. Their effects land inside the
                 * next process call, which is watched. */
                if (cfg->toggle_bypass && k % 5 == 0)
                        assert_int_equal(
                                aic_processor_context_set_parameter(ctx, AIC_PARAMETER_BYPASS, (float) (k / 5 % 2)),
                                AIC_ERROR_SUCCESS);
                if (cfg->change_level)
                        assert_int_equal(aic_processor_context_set_parameter(ctx, AIC_PARAMETER_ENHANCEMENT_LEVEL,
                                                                             (float) (k % 11) / 10.0f),
                                         AIC_ERROR_SUCCESS);
                if (cfg->reset && k % 17 == 3)
                        assert_int_equal(aic_processor_context_reset(ctx), AIC_ERROR_SUCCESS);
                if (cfg->disallow && k % 13 == 0)
                        assert_int_equal(aic_processor_context_set_enhancement_allowed(ctx, k % 26 != 0),
                                         AIC_ERROR_SUCCESS);
                test_fill_noise(buf, n * cfg->channels, (uint32_t) k + 1, 0.5f);

                arm();
                if (cfg->planar)
                        r = aic_processor_process_planar(p, planes, cfg->channels, n);
                else
                        r = aic_processor_process_interleaved(p, buf, cfg->channels, n);
                snprintf(what, sizeof(what), "%s, block %zu", cfg->name, k);
                assert_no_alloc(what);
                if (r != AIC_ERROR_SUCCESS && !(cfg->disallow && r == AIC_ERROR_ENHANCEMENT_NOT_ALLOWED))
                        fail_msg("%s: %s", what, aic_error_name(r));
        }

        /* Refused calls do not allocate either. */
        arm();
        (void) aic_processor_process_interleaved(p, buf, (uint16_t) (cfg->channels + 1), max);
        (void) aic_processor_process_planar(p, planes, cfg->channels, max + 1);
        assert_no_alloc("refused process calls");

        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);
        free(buf);
}

static void test_48k_mono(void **state) {
        (void) state;
        run_config(&(Config){.name = "48 kHz mono, 480", .rate = 48000, .channels = 1, .frames = 480});
}

static void test_44k_stereo_resampled(void **state) {
        (void) state;
        run_config(&(Config){.name = "44.1 kHz stereo, 512", .rate = 44100, .channels = 2, .frames = 512});
        run_config(&(Config){
                .name = "44.1 kHz stereo, 512, planar", .rate = 44100, .channels = 2, .frames = 512, .planar = true});
}

static void test_variable_frames(void **state) {
        (void) state;
        run_config(
                &(Config){.name = "48 kHz variable", .rate = 48000, .channels = 2, .frames = 1024, .variable = true});
        run_config(&(Config){.name = "22.05 kHz variable",
                             .rate = 22050,
                             .channels = 1,
                             .frames = 4096,
                             .variable = true,
                             .planar = true});
}

static void test_bypass_level_reset(void **state) {
        (void) state;
        run_config(&(Config){
                .name = "bypass toggling", .rate = 48000, .channels = 1, .frames = 128, .toggle_bypass = true});
        run_config(
                &(Config){.name = "level changes", .rate = 44100, .channels = 2, .frames = 441, .change_level = true});
        run_config(&(Config){.name = "reset", .rate = 16000, .channels = 1, .frames = 160, .reset = true});
        run_config(&(Config){.name = "everything",
                             .rate = 32000,
                             .channels = 2,
                             .frames = 333,
                             .variable = true,
                             .toggle_bypass = true,
                             .change_level = true,
                             .reset = true,
                             .disallow = true});
}

static void test_wide_configs(void **state) {
        (void) state;
        run_config(&(Config){.name = "96 kHz, 6 ch", .rate = 96000, .channels = 6, .frames = 256});
        run_config(&(Config){.name = "8 kHz, 16 ch, 4096",
                             .rate = 8000,
                             .channels = 16,
                             .frames = 4096,
                             .planar = true,
                             .reset = true});
        run_config(&(Config){
                .name = "192 kHz, 1 frame", .rate = 192000, .channels = 1, .frames = 1, .toggle_bypass = true});
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_probe_sees_allocations), cmocka_unit_test(test_48k_mono),
                cmocka_unit_test(test_44k_stereo_resampled),   cmocka_unit_test(test_variable_frames),
                cmocka_unit_test(test_bypass_level_reset),     cmocka_unit_test(test_wide_configs),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
#endif
