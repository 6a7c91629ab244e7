/* SPDX-License-Identifier: MIT */
/*
 * The licensing protocol without a network (daemon/license-proto.c): every
 * answer aicd acts on is validated, the api_key comes out of a license, the
 * refresh and retry schedules, and the OTLP body (daemon/otel.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "license-proto.h"
#include "otel.h"

#define JSON "application/json"

static void parse_json_checks_content_type(void **state) {
        cJSON *o = NULL;

        (void) state;
        assert_int_equal(proto_parse_json(JSON, "{}", 2, &o), 0);
        cJSON_Delete(o);
        assert_int_equal(proto_parse_json("application/json; charset=utf-8", "{}", 2, &o), 0);
        cJSON_Delete(o);
        assert_int_equal(proto_parse_json("Application/JSON", "{}", 2, &o), 0);
        cJSON_Delete(o);
        assert_int_equal(proto_parse_json("text/html", "{}", 2, &o), -EMEDIUMTYPE);
        assert_int_equal(proto_parse_json("application/jsonp", "{}", 2, &o), -EMEDIUMTYPE);
        assert_int_equal(proto_parse_json(NULL, "{}", 2, &o), -EMEDIUMTYPE);
}

static void parse_json_wants_an_object(void **state) {
        cJSON *o = NULL;

        (void) state;
        assert_int_equal(proto_parse_json(JSON, "", 0, &o), -EBADMSG);
        assert_int_equal(proto_parse_json(JSON, "[1]", 3, &o), -EBADMSG);
        assert_int_equal(proto_parse_json(JSON, "\"x\"", 3, &o), -EBADMSG);
        assert_int_equal(proto_parse_json(JSON, "{\"token\": ", 10, &o), -EBADMSG);
        assert_int_equal(proto_parse_json(JSON, "{}\0{}", 5, &o), -EBADMSG);
        assert_int_equal(proto_parse_json(JSON, "{} trailing", 11, &o), -EBADMSG);
}

static int token(const char *body, char **tok, int64_t *exp) {
        return proto_parse_token(JSON, body, strlen(body), tok, exp);
}

static void token_answer(void **state) {
        char *t = NULL;
        int64_t e = 0;

        (void) state;
        assert_int_equal(token("{\"token\": \"aa.bb.cc\", \"expires_at\": 1700000000}", &t, &e), 0);
        assert_string_equal(t, "aa.bb.cc");
        assert_int_equal(e, 1700000000);
        free(t);
        /* Extra fields are fine. */
        assert_int_equal(token("{\"token\": \"a-b_c.d\", \"expires_at\": 5, \"scope\": \"x\"}", &t, &e), 0);
        free(t);
}

static void token_answer_rejects_bad_fields(void **state) {
        static const char *const bad[] = {
                "{}",
                "{\"token\": \"aa.bb.cc\"}",
                "{\"expires_at\": 1700000000}",
                "{\"token\": 12345, \"expires_at\": 1700000000}",
                "{\"token\": \"aa.bb.cc\", \"expires_at\": \"soon\"}",
                "{\"token\": \"aa.bb.cc\", \"expires_at\": 1.5}",
                "{\"token\": \"aa.bb.cc\", \"expires_at\": -1}",
                "{\"token\": \"aa.bb.cc\", \"expires_at\": 0}",
                "{\"token\": \"aa.bb.cc\", \"expires_at\": 1e300}",
                "{\"token\": \"\", \"expires_at\": 1700000000}",
                "{\"token\": \"aa bb\", \"expires_at\": 1700000000}",
                "{\"token\": \"aa\\nbb\", \"expires_at\": 1700000000}",
                "{\"token\": null, \"expires_at\": 1700000000}",
                "{\"token\": [\"a\"], \"expires_at\": 1700000000}",
        };
        char *t = NULL;
        int64_t e = 0;

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int r = token(bad[i], &t, &e);

                if (r != -EINVAL)
                        fail_msg("answer %zu: got %d, expected -EINVAL", i, r);
        }
        assert_int_equal(proto_parse_token("text/plain", "{}", 2, &t, &e), -EMEDIUMTYPE);
}

static void token_answer_rejects_huge_tokens(void **state) {
        size_t n = PROTO_TOKEN_MAX + 1;
        char *body = malloc(n + 64), *t = NULL;
        int64_t e = 0;

        (void) state;
        strcpy(body, "{\"token\": \"");
        memset(body + strlen(body), 'A', n);
        strcpy(body + 11 + n, "\", \"expires_at\": 5}");
        assert_int_equal(token(body, &t, &e), -EINVAL);
        free(body);
}

static void authorization_answer(void **state) {
        bool ok = false;
        int64_t u = 0;
        const char *b;

        (void) state;
        b = "{\"authorized\": true, \"valid_until\": 1800000000}";
        assert_int_equal(proto_parse_authorization(JSON, b, strlen(b), &ok, &u), 0);
        assert_true(ok);
        assert_int_equal(u, 1800000000);
        b = "{\"authorized\": false}";
        assert_int_equal(proto_parse_authorization(JSON, b, strlen(b), &ok, &u), 0);
        assert_false(ok);
        b = "{\"authorized\": true}";
        assert_int_equal(proto_parse_authorization(JSON, b, strlen(b), &ok, &u), -EINVAL);
        b = "{\"authorized\": \"yes\", \"valid_until\": 1800000000}";
        assert_int_equal(proto_parse_authorization(JSON, b, strlen(b), &ok, &u), -EINVAL);
        b = "{\"authorized\": 1, \"valid_until\": 1800000000}";
        assert_int_equal(proto_parse_authorization(JSON, b, strlen(b), &ok, &u), -EINVAL);
        b = "{\"authorized\": true, \"valid_until\": \"later\"}";
        assert_int_equal(proto_parse_authorization(JSON, b, strlen(b), &ok, &u), -EINVAL);
        assert_int_equal(proto_parse_authorization("text/html", b, strlen(b), &ok, &u), -EMEDIUMTYPE);
}

static void request_bodies(void **state) {
        ProtoUsage u = {.seconds_processed = 1.23456,
                        .seconds_bypassed = 2,
                        .seconds_disallowed = 0,
                        .model_id = "m",
                        .sdk_version = "1.0.0"};
        char *s;
        cJSON *o;

        (void) state;
        s = proto_authorize_body("1.0.0", "tiny", "linux", "x86_64");
        o = cJSON_Parse(s);
        assert_non_null(o);
        assert_string_equal(cJSON_GetObjectItem(o, "sdk_version")->valuestring, "1.0.0");
        assert_string_equal(cJSON_GetObjectItem(o, "model_id")->valuestring, "tiny");
        assert_string_equal(cJSON_GetObjectItem(o, "os")->valuestring, "linux");
        assert_string_equal(cJSON_GetObjectItem(o, "arch")->valuestring, "x86_64");
        assert_int_equal(cJSON_GetArraySize(o), 4);
        cJSON_Delete(o);
        free(s);

        s = proto_usage_body(&u);
        o = cJSON_Parse(s);
        assert_non_null(o);
        assert_int_equal(cJSON_GetArraySize(o), 5);
        assert_float_equal(cJSON_GetObjectItem(o, "seconds_processed")->valuedouble, 1.235, 1e-9);
        assert_float_equal(cJSON_GetObjectItem(o, "seconds_bypassed")->valuedouble, 2.0, 1e-9);
        assert_string_equal(cJSON_GetObjectItem(o, "model_id")->valuestring, "m");
        cJSON_Delete(o);
        free(s);
}

/* A license whose payload is {"user":"user_t","version":"2","api_key":"ak_test"}
 * (the signature is not checked here). */
#define LICENSE_PAYLOAD "eyJ1c2VyIjoidXNlcl90IiwidmVyc2lvbiI6IjIiLCJhcGlfa2V5IjoiYWtfdGVzdCJ9"

static void api_key_from_license(void **state) {
        char *k = NULL, hash[65];

        (void) state;
        assert_int_equal(proto_license_api_key(LICENSE_PAYLOAD ".c2ln", &k), 0);
        assert_string_equal(k, "ak_test");
        assert_int_equal(proto_api_key_hash(k, hash), 0);
        /* printf 'ak_test' | sha256sum */
        assert_string_equal(hash, "5364b0ab6b28e44634f8657a9ae296865937601d03a55585138ab0afa9a8b790");
        free(k);
        assert_int_equal(proto_license_api_key("nodot", &k), -EINVAL);
        assert_int_equal(proto_license_api_key("a.b.c", &k), -EINVAL);
        assert_int_equal(proto_license_api_key("!!!!.sig", &k), -EINVAL);
        /* {"user":"user_t","version":"2"}: no api_key */
        assert_int_equal(proto_license_api_key("eyJ1c2VyIjoidXNlcl90IiwidmVyc2lvbiI6IjIifQ==.c2ln", &k), -ENOKEY);
}

static void refresh_schedule(void **state) {
        (void) state;
        /* Long-lived: margin before expiry. */
        assert_int_equal(proto_refresh_at(1000, 1000 + 3600, 300), 1000 + 3600 - 300);
        /* Exactly twice the margin: still exp - margin. */
        assert_int_equal(proto_refresh_at(1000, 1000 + 600, 300), 1000 + 300);
        /* Shorter than twice the margin: half its life. */
        assert_int_equal(proto_refresh_at(1000, 1000 + 400, 300), 1000 + 200);
        assert_int_equal(proto_refresh_at(1000, 1000 + 20, 5), 1000 + 15);
        assert_int_equal(proto_refresh_at(1000, 1000 + 8, 5), 1000 + 4);
        /* Already expired or expiring now: at once. */
        assert_int_equal(proto_refresh_at(1000, 1000, 5), 1000);
        assert_int_equal(proto_refresh_at(1000, 900, 5), 1000);
        assert_int_equal(proto_refresh_at(1000, 1001, 5), 1000);
}

static void backoff_schedule(void **state) {
        const uint64_t base = 1000000, cap = 60000000;

        (void) state;
        /* Equal jitter: within [d/2, d] of the exponential step. */
        for (unsigned a = 0; a < 12; a++) {
                uint64_t d = base << a > cap ? cap : base << a;

                assert_int_equal(proto_backoff_usec(a, base, cap, 0), d / 2);
                assert_int_equal(proto_backoff_usec(a, base, cap, UINT32_MAX) <= d, 1);
                assert_int_equal(proto_backoff_usec(a, base, cap, UINT32_MAX) >= d / 2, 1);
        }
        assert_int_equal(proto_backoff_usec(1000, base, cap, 0), cap / 2);
        assert_int_equal(proto_backoff_usec(1000, base, cap, (uint32_t) (cap / 2)), cap);
        /* Different random values spread the retries of many clients. */
        assert_int_not_equal(proto_backoff_usec(5, base, cap, 12345), proto_backoff_usec(5, base, cap, 54321));
}

static void otlp_body(void **state) {
        OtelSample s = {
                .audio = {.processed_s = 1.5, .bypassed_s = 0.25, .frames = 96000, .rtf = 0.01},
                .token_refreshes = 3,
                .api_key_hash = "ab",
                .version = "0.1.0",
                .start_unix_nano = 1,
                .now_unix_nano = 2000000000ULL,
        };
        const cJSON *rm, *attrs, *metrics, *m;
        bool seen_key = false, seen_service = false;
        char *body;
        cJSON *o;
        int n = 0;

        (void) state;
        body = otel_metrics_body(&s);
        assert_non_null(body);
        o = cJSON_Parse(body);
        assert_non_null(o);
        rm = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "resourceMetrics"), 0);
        attrs = cJSON_GetObjectItem(cJSON_GetObjectItem(rm, "resource"), "attributes");
        cJSON_ArrayForEach(m, attrs) {
                const char *k = cJSON_GetObjectItem(m, "key")->valuestring;
                const char *v = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "value"), "stringValue")->valuestring;

                seen_key |= strcmp(k, "api.key") == 0 && strcmp(v, "ab") == 0;
                seen_service |= strcmp(k, "service.name") == 0 && strcmp(v, "aicd") == 0;
        }
        assert_true(seen_key);
        assert_true(seen_service);
        metrics = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(rm, "scopeMetrics"), 0), "metrics");
        cJSON_ArrayForEach(m, metrics) {
                const char *name = cJSON_GetObjectItem(m, "name")->valuestring;

                n++;
                if (strcmp(name, "processor.frames") == 0) {
                        const cJSON *p =
                                cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "sum"), "dataPoints"), 0);

                        assert_string_equal(cJSON_GetObjectItem(p, "asInt")->valuestring, "96000");
                        assert_string_equal(cJSON_GetObjectItem(p, "timeUnixNano")->valuestring, "2000000000");
                }
                if (strcmp(name, "audio.processed") == 0) {
                        const cJSON *p =
                                cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "sum"), "dataPoints"), 0);

                        assert_float_equal(cJSON_GetObjectItem(p, "asDouble")->valuedouble, 1.5, 1e-12);
                }
        }
        assert_int_equal(n, 11);
        cJSON_Delete(o);
        free(body);

        s.api_key_hash = NULL;
        body = otel_metrics_body(&s);
        assert_null(strstr(body, "api.key"));
        free(body);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(parse_json_checks_content_type),
                cmocka_unit_test(parse_json_wants_an_object),
                cmocka_unit_test(token_answer),
                cmocka_unit_test(token_answer_rejects_bad_fields),
                cmocka_unit_test(token_answer_rejects_huge_tokens),
                cmocka_unit_test(authorization_answer),
                cmocka_unit_test(request_bodies),
                cmocka_unit_test(api_key_from_license),
                cmocka_unit_test(refresh_schedule),
                cmocka_unit_test(backoff_schedule),
                cmocka_unit_test(otlp_body),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
