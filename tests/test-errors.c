/* SPDX-License-Identifier: MIT */
/*
 * Error names and messages: one stable name per code (scripts and D-Bus
 * errors key on them), a one-line message each, "UNKNOWN" for anything else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <ctype.h>

#include "test-util.h"

static const struct {
        enum aic_error code;
        int number; /* as in the aic SDK */
        const char *name;
} errors[] = {
        {AIC_ERROR_SUCCESS, 0, "SUCCESS"},
        {AIC_ERROR_NULL_POINTER, 1, "NULL_POINTER"},
        {AIC_ERROR_PARAMETER_OUT_OF_RANGE, 2, "PARAMETER_OUT_OF_RANGE"},
        {AIC_ERROR_NOT_INITIALIZED, 3, "NOT_INITIALIZED"},
        {AIC_ERROR_AUDIO_CONFIG_UNSUPPORTED, 4, "AUDIO_CONFIG_UNSUPPORTED"},
        {AIC_ERROR_AUDIO_CONFIG_MISMATCH, 5, "AUDIO_CONFIG_MISMATCH"},
        {AIC_ERROR_ENHANCEMENT_NOT_ALLOWED, 6, "ENHANCEMENT_NOT_ALLOWED"},
        {AIC_ERROR_INTERNAL, 7, "INTERNAL"},
        {AIC_ERROR_LICENSE_FORMAT_INVALID, 50, "LICENSE_FORMAT_INVALID"},
        {AIC_ERROR_LICENSE_VERSION_UNSUPPORTED, 51, "LICENSE_VERSION_UNSUPPORTED"},
        {AIC_ERROR_LICENSE_EXPIRED, 52, "LICENSE_EXPIRED"},
        {AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED, 53, "TOKEN_UPDATE_UNSUPPORTED"},
        {AIC_ERROR_MODEL_INVALID, 100, "MODEL_INVALID"},
        {AIC_ERROR_MODEL_VERSION_UNSUPPORTED, 101, "MODEL_VERSION_UNSUPPORTED"},
        {AIC_ERROR_FILE_PATH_INVALID, 102, "FILE_PATH_INVALID"},
        {AIC_ERROR_FILE_SYSTEM_ERROR, 103, "FILE_SYSTEM_ERROR"},
};

static bool is_known(int number) {
        for (size_t i = 0; i < ELEMENTSOF(errors); i++)
                if (errors[i].number == number)
                        return true;
        return false;
}

static void test_numbers(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(errors); i++)
                assert_int_equal((int) errors[i].code, errors[i].number);
}

static void test_names(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(errors); i++) {
                const char *name = aic_error_name(errors[i].code);

                assert_non_null(name);
                assert_string_equal(name, errors[i].name);
                /* Stable across calls: the same static string. */
                assert_ptr_equal(name, aic_error_name(errors[i].code));
        }
}

static void test_messages(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(errors); i++) {
                const char *msg = aic_error_message(errors[i].code);

                assert_non_null(msg);
                assert_true(strlen(msg) >= 5);
                /* One line, printable, starting upper-case, no trailing period
                 * or newline, so callers can embed it in their own line. */
                assert_null(strchr(msg, '\n'));
                for (const char *c = msg; *c; c++)
                        assert_true(isprint((unsigned char) *c));
                assert_true(isupper((unsigned char) msg[0]));
                assert_true(msg[strlen(msg) - 1] != '.');
                /* Not the name again, and distinct from every other code's. */
                assert_string_not_equal(msg, errors[i].name);
                for (size_t k = 0; k < i; k++) {
                        assert_string_not_equal(msg, aic_error_message(errors[k].code));
                        assert_string_not_equal(aic_error_name(errors[i].code), aic_error_name(errors[k].code));
                }
        }
}

static void test_unknown(void **state) {
        static const int probes[] = {-1000000, -1, 8, 9, 49, 54, 99, 104, 200, 1000, 65535, 2147483647};

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(probes); i++) {
                const char *msg;

                assert_false(is_known(probes[i]));
                assert_string_equal(aic_error_name((enum aic_error) probes[i]), "UNKNOWN");
                msg = aic_error_message((enum aic_error) probes[i]);
                assert_non_null(msg);
                assert_true(strlen(msg) > 0);
                assert_null(strchr(msg, '\n'));
        }
        /* Every number in the gaps is unknown too. */
        for (int n = -5; n < 300; n++)
                if (!is_known(n))
                        assert_string_equal(aic_error_name((enum aic_error) n), "UNKNOWN");
}

static void test_version(void **state) {
        const char *v = aic_get_sdk_version();
        unsigned major, minor, patch;
        char tail;

        (void) state;
        assert_non_null(v);
        assert_int_equal(sscanf(v, "%u.%u.%u%c", &major, &minor, &patch, &tail), 3);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_numbers), cmocka_unit_test(test_names),   cmocka_unit_test(test_messages),
                cmocka_unit_test(test_unknown), cmocka_unit_test(test_version),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
