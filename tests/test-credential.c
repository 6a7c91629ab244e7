/* SPDX-License-Identifier: MIT */
/*
 * Credentials (CONTRACT.md, "Credentials"): license keys and EdDSA JWTs
 * signed here with a fresh Ed25519 key, every malformed shape, issuer key
 * checks, and the soft failure modes: an expired token or a refused
 * authorization passes audio through bit-exact with the delay kept, and a
 * fresh token restores enhancement within one block.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <time.h>

#include "test-util.h"

#define RATE 48000u
#define BLOCK 480u

static AicModel *tiny;
static EVP_PKEY *issuer, *stranger;

static int setup(void **state) {
        (void) state;
        issuer = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        stranger = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        if (!issuer || !stranger)
                return -1;
        return aic_model_create_from_file(&tiny, TINY_MODEL) == AIC_ERROR_SUCCESS ? 0 : -1;
}

static int teardown(void **state) {
        (void) state;
        aic_set_issuer_public_key(NULL, 0);
        EVP_PKEY_free(issuer);
        EVP_PKEY_free(stranger);
        aic_model_destroy(tiny);
        return 0;
}

static int64_t now(void) {
        struct timespec ts;

        /* The engine reads the coarse clock; never be ahead of it. */
        clock_gettime(CLOCK_REALTIME_COARSE, &ts);
        return (int64_t) ts.tv_sec;
}

/* Standard base64 with padding, or base64url without. Returns a malloc'd string. */
static char *b64(const void *data, size_t len, bool url) {
        char *out = malloc(4 * ((len + 2) / 3) + 1);
        int n;

        assert_non_null(out);
        n = EVP_EncodeBlock((unsigned char *) out, data, (int) len);
        assert_true(n >= 0);
        if (url) {
                for (int i = 0; i < n; i++)
                        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
                while (n > 0 && out[n - 1] == '=')
                        out[--n] = '\0';
        }
        return out;
}

static void sign(EVP_PKEY *key, const char *msg, unsigned char sig[64]) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        size_t sig_len = 64;

        assert_non_null(ctx);
        assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, key), 1);
        assert_int_equal(EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *) msg, strlen(msg)), 1);
        assert_int_equal(sig_len, 64);
        EVP_MD_CTX_free(ctx);
}

static char *join(const char *a, const char *b) {
        char *s = malloc(strlen(a) + strlen(b) + 2);

        assert_non_null(s);
        sprintf(s, "%s.%s", a, b);
        return s;
}

/* A signature of `sig_len` bytes (64 is right) over `signed_part`. */
static char *signed_with(EVP_PKEY *key, const char *signed_part, size_t sig_len) {
        unsigned char sig[80] = {0};
        char *s, *out;

        sign(key, signed_part, sig);
        s = b64(sig, sig_len, true);
        out = join(signed_part, s);
        free(s);
        return out;
}

/* base64(payload) "." base64url(Ed25519(base64(payload))). */
static char *license(EVP_PKEY *key, const char *payload) {
        char *p = b64(payload, strlen(payload), false), *out = signed_with(key, p, 64);

        free(p);
        return out;
}

static char *jwt_raw(EVP_PKEY *key, const char *header, const char *claims) {
        char *h = b64(header, strlen(header), true), *c = b64(claims, strlen(claims), true);
        char *hc = join(h, c), *out = signed_with(key, hc, 64);

        free(h);
        free(c);
        free(hc);
        return out;
}

/* A JWT valid from now - 60 s until `exp`. */
static char *jwt(EVP_PKEY *key, int64_t exp) {
        char claims[256];

        snprintf(claims, sizeof(claims), "{\"sub\":\"user_test\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld}",
                 (long long) (now() - 60), (long long) (now() - 60), (long long) exp);
        return jwt_raw(key, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", claims);
}

static char *valid_license(EVP_PKEY *key) {
        return license(key, "{\"user\":\"user_42\",\"version\":\"2\",\"api_key\":\"ak_test_123\"}");
}

static enum aic_error try_create(const char *credential) {
        AicProcessor *p = NULL;
        enum aic_error r = aic_processor_create(&p, tiny, credential);

        if (r == AIC_ERROR_SUCCESS)
                assert_non_null(p);
        else
                assert_null(p);
        aic_processor_destroy(p);
        return r;
}

static char *pem_of(EVP_PKEY *key) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *data, *out;
        long n;

        assert_non_null(bio);
        assert_int_equal(PEM_write_bio_PUBKEY(bio, key), 1);
        n = BIO_get_mem_data(bio, &data);
        out = malloc((size_t) n + 1);
        assert_non_null(out);
        memcpy(out, data, (size_t) n);
        out[n] = '\0';
        BIO_free(bio);
        return out;
}

/* A stream of noise blocks through a 48 kHz mono processor. */
typedef struct Stream {
        AicProcessor *p;
        AicProcessorContext *ctx;
        size_t delay;
        size_t pos; /* frames so far */
        size_t cap;
        float *in, *out; /* everything so far */
} Stream;

static void stream_open(Stream *s, const char *credential) {
        *s = (Stream){.cap = 200 * BLOCK};
        assert_int_equal(aic_processor_create(&s->p, tiny, credential), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_initialize(s->p, RATE, 1, BLOCK, false), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_create(&s->ctx, s->p), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_get_output_delay(s->ctx, &s->delay), AIC_ERROR_SUCCESS);
        s->in = calloc(s->cap, sizeof(float));
        s->out = calloc(s->cap, sizeof(float));
        assert_non_null(s->in);
        assert_non_null(s->out);
        /* The same noise for every stream, so streams can be compared. */
        test_fill_noise(s->in, s->cap, 777, 0.5f);
}

static void stream_close(Stream *s) {
        aic_processor_context_destroy(s->ctx);
        aic_processor_destroy(s->p);
        free(s->in);
        free(s->out);
}

/* Processes one block; returns process's answer. */
static enum aic_error stream_block(Stream *s) {
        enum aic_error r;

        assert_true(s->pos + BLOCK <= s->cap);
        memcpy(s->out + s->pos, s->in + s->pos, BLOCK * sizeof(float));
        r = aic_processor_process_interleaved(s->p, s->out + s->pos, 1, BLOCK);
        s->pos += BLOCK;
        return r;
}

/* Whether output block `b` is exactly the input delayed (the dry path). */
static bool block_is_dry(const Stream *s, size_t b) {
        for (size_t t = b * BLOCK; t < (b + 1) * BLOCK; t++) {
                float want = t < s->delay ? 0.0f : s->in[t - s->delay];

                if (memcmp(&s->out[t], &want, sizeof(float)) != 0)
                        return false;
        }
        return true;
}

static void test_license_valid(void **state) {
        static const char *const payloads[] = {
                "{\"user\":\"user_42\",\"version\":\"2\",\"api_key\":\"ak_test_123\"}",
                "{\"user\":\"user_4\",\"version\":\"2\",\"api_key\":\"ak_test_123\"}", /* other paddings */
                "{\"user\":\"user_\",\"version\":\"2\",\"api_key\":\"ak_test_123\"}",
                "{\"user\":\"user_42\",\"version\":\"2\",\"api_key\":\"k\",\"exp\":99999999999}",
                "{\"api_key\":\"k\",\"version\":\"2\",\"extra\":[1,2,{}],\"user\":\"user_x\"}",
        };
        Stream s;
        char *key;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(payloads); i++) {
                key = license(issuer, payloads[i]);
                if (try_create(key) != AIC_ERROR_SUCCESS)
                        fail_msg("license %zu refused", i);
                free(key);
        }

        /* A licensed processor enhances. */
        key = valid_license(issuer);
        stream_open(&s, key);
        for (size_t b = 0; b < 10; b++)
                assert_int_equal(stream_block(&s), AIC_ERROR_SUCCESS);
        assert_false(block_is_dry(&s, 9));
        stream_close(&s);
        free(key);
}

static void test_jwt_valid(void **state) {
        char *t;
        Stream s;

        (void) state;
        t = jwt(issuer, now() + 3600);
        assert_int_equal(try_create(t), AIC_ERROR_SUCCESS);
        stream_open(&s, t);
        for (size_t b = 0; b < 10; b++)
                assert_int_equal(stream_block(&s), AIC_ERROR_SUCCESS);
        assert_false(block_is_dry(&s, 9));
        stream_close(&s);
        free(t);

        /* Only exp is required. */
        {
                char claims[64];

                snprintf(claims, sizeof(claims), "{\"exp\":%lld}", (long long) now() + 60);
                t = jwt_raw(issuer, "{\"alg\":\"EdDSA\"}", claims);
                assert_int_equal(try_create(t), AIC_ERROR_SUCCESS);
                free(t);
        }
}

typedef struct Case {
        const char *what;
        char *credential;
        enum aic_error want;
} Case;

static void check_cases(Case *cases, size_t n) {
        for (size_t i = 0; i < n; i++) {
                enum aic_error r = try_create(cases[i].credential);
                int kind = -1;
                int64_t exp = -1;

                if (r != cases[i].want)
                        fail_msg("%s: got %s, want %s", cases[i].what, aic_error_name(r),
                                 aic_error_name(cases[i].want));
                /* The inspection entry point agrees and leaves its outputs alone. */
                assert_int_equal(aic_credential_inspect(cases[i].credential, &kind, &exp), cases[i].want);
                assert_int_equal(kind, -1);
                assert_int_equal(exp, -1);
                free(cases[i].credential);
        }
}

static char *text(const char *s) {
        char *d = strdup(s);

        assert_non_null(d);
        return d;
}

/* base64(payload) "." base64url of `sig_len` signature bytes. */
static char *license_sig_len(const char *payload, size_t sig_len) {
        char *p = b64(payload, strlen(payload), false), *out = signed_with(issuer, p, sig_len);

        free(p);
        return out;
}

static void test_license_malformed(void **state) {
        char *good = valid_license(issuer), *sig = strchr(good, '.') + 1, *big;
        size_t big_len = 1024 * 1024;
        Case cases[] = {
                {"empty", text(""), AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"no dot", text("eyJ1c2VyIjoidXNlcl8xIn0"), AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"only a dot", text("."), AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"empty payload", join("", sig), AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"empty signature", join("eyJ1c2VyIjoidXNlcl8xIn0=", ""), AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"bad base64 payload", join("!!!!not base64!!!!", sig), AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"url-safe payload chars", join("eyJ1c2VyIjoidXNlcl8xIn0-_", sig), AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"non-JSON payload", license(issuer, "hello, world"), AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"JSON array payload", license(issuer, "[\"user_1\",\"2\",\"k\"]"), AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"JSON string payload", license(issuer, "\"user_1\""), AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"truncated JSON", license(issuer, "{\"user\":\"user_1\",\"version\":\"2\",\"api_key\":\"k\""),
                 AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"missing user", license(issuer, "{\"version\":\"2\",\"api_key\":\"k\"}"),
                 AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"missing api_key", license(issuer, "{\"user\":\"user_1\",\"version\":\"2\"}"),
                 AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"missing version", license(issuer, "{\"user\":\"user_1\",\"api_key\":\"k\"}"),
                 AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"empty api_key", license(issuer, "{\"user\":\"user_1\",\"version\":\"2\",\"api_key\":\"\"}"),
                 AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"user without user_", license(issuer, "{\"user\":\"bob\",\"version\":\"2\",\"api_key\":\"k\"}"),
                 AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"numeric user", license(issuer, "{\"user\":1,\"version\":\"2\",\"api_key\":\"k\"}"),
                 AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"numeric version", license(issuer, "{\"user\":\"user_1\",\"version\":2,\"api_key\":\"k\"}"),
                 AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"exp not a number",
                 license(issuer, "{\"user\":\"user_1\",\"version\":\"2\",\"api_key\":\"k\",\"exp\":\"soon\"}"),
                 AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"version 1", license(issuer, "{\"user\":\"user_1\",\"version\":\"1\",\"api_key\":\"k\"}"),
                 AIC_ERROR_LICENSE_VERSION_UNSUPPORTED},
                {"version 3", license(issuer, "{\"user\":\"user_1\",\"version\":\"3\",\"api_key\":\"k\"}"),
                 AIC_ERROR_LICENSE_VERSION_UNSUPPORTED},
                {"63-byte signature", license_sig_len("{\"user\":\"user_1\",\"version\":\"2\",\"api_key\":\"k\"}", 63),
                 AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"65-byte signature", license_sig_len("{\"user\":\"user_1\",\"version\":\"2\",\"api_key\":\"k\"}", 65),
                 AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"32-byte signature", license_sig_len("{\"user\":\"user_1\",\"version\":\"2\",\"api_key\":\"k\"}", 32),
                 AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"signature with a bad character", NULL, AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"trailing newline", NULL, AIC_ERROR_LICENSE_FORMAT_INVALID},
                {"1 MiB", NULL, AIC_ERROR_LICENSE_FORMAT_INVALID},
        };

        (void) state;
        cases[24].credential = text(good);
        cases[24].credential[strlen(good) - 3] = '*';
        cases[25].credential = join(good, "");
        cases[25].credential[strlen(good)] = '\n';
        big = malloc(big_len + 1);
        assert_non_null(big);
        memset(big, 'A', big_len);
        big[big_len / 2] = '.';
        big[big_len] = '\0';
        cases[26].credential = big;
        assert_int_equal(ELEMENTSOF(cases), 27);
        check_cases(cases, ELEMENTSOF(cases));
        /* The good one the cases were cut from is good. */
        assert_int_equal(try_create(good), AIC_ERROR_SUCCESS);
        free(good);
}

static void test_jwt_malformed(void **state) {
        static const char *const eddsa = "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}";
        char claims[128], *good = jwt(issuer, now() + 3600);
        char *hc = text(good), *bad_sig, *four;
        long long t = (long long) now();
        Case cases[16];
        size_t n = 0;

        (void) state;
        *strrchr(hc, '.') = '\0';
        snprintf(claims, sizeof(claims), "{\"exp\":%lld}", t + 3600);
        cases[n++] = (Case){"alg none, no signature", NULL, AIC_ERROR_LICENSE_FORMAT_INVALID};
        {
                char *h = b64("{\"alg\":\"none\"}", 14, true), *c = b64(claims, strlen(claims), true);
                char *hc2 = join(h, c);

                cases[n - 1].credential = join(hc2, "");
                free(h);
                free(c);
                free(hc2);
        }
        cases[n++] = (Case){"alg none, signed", jwt_raw(issuer, "{\"alg\":\"none\",\"typ\":\"JWT\"}", claims),
                            AIC_ERROR_LICENSE_FORMAT_INVALID};
        cases[n++] = (Case){"alg HS256", jwt_raw(issuer, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims),
                            AIC_ERROR_LICENSE_FORMAT_INVALID};
        cases[n++] =
                (Case){"alg missing", jwt_raw(issuer, "{\"typ\":\"JWT\"}", claims), AIC_ERROR_LICENSE_FORMAT_INVALID};
        cases[n++] = (Case){"alg eddsa (case)", jwt_raw(issuer, "{\"alg\":\"eddsa\"}", claims),
                            AIC_ERROR_LICENSE_FORMAT_INVALID};
        cases[n++] = (Case){"header not JSON", jwt_raw(issuer, "EdDSA", claims), AIC_ERROR_LICENSE_FORMAT_INVALID};
        cases[n++] = (Case){"exp missing", jwt_raw(issuer, eddsa, "{\"sub\":\"user_1\",\"iat\":1}"),
                            AIC_ERROR_LICENSE_FORMAT_INVALID};
        cases[n++] = (Case){"exp a string", jwt_raw(issuer, eddsa, "{\"exp\":\"tomorrow\"}"),
                            AIC_ERROR_LICENSE_FORMAT_INVALID};
        cases[n++] = (Case){"exp negative", jwt_raw(issuer, eddsa, "{\"exp\":-5}"), AIC_ERROR_LICENSE_FORMAT_INVALID};
        cases[n++] = (Case){"exp huge", jwt_raw(issuer, eddsa, "{\"exp\":1e300}"), AIC_ERROR_LICENSE_FORMAT_INVALID};
        cases[n++] = (Case){"claims not JSON", jwt_raw(issuer, eddsa, "exp=5"), AIC_ERROR_LICENSE_FORMAT_INVALID};
        snprintf(claims, sizeof(claims), "{\"exp\":%lld,\"nbf\":%lld}", t + 60, t + 60);
        cases[n++] = (Case){"nbf not before exp", jwt_raw(issuer, eddsa, claims), AIC_ERROR_LICENSE_FORMAT_INVALID};
        snprintf(claims, sizeof(claims), "{\"exp\":%lld,\"iat\":%lld}", t + 7200, t + 3600);
        cases[n++] = (Case){"issued in the future", jwt_raw(issuer, eddsa, claims), AIC_ERROR_LICENSE_FORMAT_INVALID};
        bad_sig = signed_with(issuer, hc, 63);
        cases[n++] = (Case){"63-byte signature", bad_sig, AIC_ERROR_LICENSE_FORMAT_INVALID};
        four = join(good, "e30");
        cases[n++] = (Case){"four segments", four, AIC_ERROR_LICENSE_FORMAT_INVALID};
        cases[n++] = (Case){"empty claims", text("eyJhbGciOiJFZERTQSJ9..c2ln"), AIC_ERROR_LICENSE_FORMAT_INVALID};
        assert_true(n <= ELEMENTSOF(cases));
        check_cases(cases, n);
        assert_int_equal(try_create(good), AIC_ERROR_SUCCESS);
        free(hc);
        free(good);
}

static void test_issuer_key(void **state) {
        char *pem = pem_of(issuer), *mine = valid_license(issuer), *theirs = valid_license(stranger);
        char *mine_jwt = jwt(issuer, now() + 600), *theirs_jwt = jwt(stranger, now() + 600), *tampered;
        EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        char *ec_pem;

        (void) state;
        /* Without an issuer key only the format counts. */
        assert_int_equal(try_create(theirs), AIC_ERROR_SUCCESS);
        assert_int_equal(try_create(theirs_jwt), AIC_ERROR_SUCCESS);

        assert_int_equal(aic_set_issuer_public_key(pem, strlen(pem)), AIC_ERROR_SUCCESS);
        assert_int_equal(try_create(mine), AIC_ERROR_SUCCESS);
        assert_int_equal(try_create(mine_jwt), AIC_ERROR_SUCCESS);
        assert_int_equal(try_create(theirs), AIC_ERROR_LICENSE_FORMAT_INVALID);
        assert_int_equal(try_create(theirs_jwt), AIC_ERROR_LICENSE_FORMAT_INVALID);
        /* Another well-formed payload under my signature; a flipped
         * signature character. Both well-formed, neither verifies. */
        {
                const char *payload = "{\"user\":\"user_43\",\"version\":\"2\",\"api_key\":\"ak_test_999\"}";
                char *p = b64(payload, strlen(payload), false);

                tampered = join(p, strchr(mine, '.') + 1);
                assert_int_equal(aic_set_issuer_public_key(NULL, 0), AIC_ERROR_SUCCESS);
                assert_int_equal(try_create(tampered), AIC_ERROR_SUCCESS);
                assert_int_equal(aic_set_issuer_public_key(pem, strlen(pem)), AIC_ERROR_SUCCESS);
                assert_int_equal(try_create(tampered), AIC_ERROR_LICENSE_FORMAT_INVALID);
                free(tampered);
                free(p);
        }
        tampered = text(mine_jwt);
        tampered[strlen(tampered) - 2] = tampered[strlen(tampered) - 2] == 'A' ? 'B' : 'A';
        assert_int_equal(try_create(tampered), AIC_ERROR_LICENSE_FORMAT_INVALID);
        free(tampered);

        /* Keys that are not Ed25519 public keys are refused and change nothing. */
        assert_non_null(ec);
        ec_pem = pem_of(ec);
        assert_int_equal(aic_set_issuer_public_key(ec_pem, strlen(ec_pem)), AIC_ERROR_PARAMETER_OUT_OF_RANGE);
        assert_int_equal(aic_set_issuer_public_key("not a pem", 9), AIC_ERROR_PARAMETER_OUT_OF_RANGE);
        assert_int_equal(aic_set_issuer_public_key(pem, 0), AIC_ERROR_PARAMETER_OUT_OF_RANGE);
        assert_int_equal(aic_set_issuer_public_key(pem, strlen(pem) / 2), AIC_ERROR_PARAMETER_OUT_OF_RANGE);
        assert_int_equal(try_create(theirs), AIC_ERROR_LICENSE_FORMAT_INVALID);
        assert_int_equal(try_create(mine), AIC_ERROR_SUCCESS);

        /* The stranger's key replaces it; NULL turns checking off again. */
        {
                char *their_pem = pem_of(stranger);

                assert_int_equal(aic_set_issuer_public_key(their_pem, strlen(their_pem)), AIC_ERROR_SUCCESS);
                assert_int_equal(try_create(theirs), AIC_ERROR_SUCCESS);
                assert_int_equal(try_create(mine), AIC_ERROR_LICENSE_FORMAT_INVALID);
                free(their_pem);
        }
        assert_int_equal(aic_set_issuer_public_key(NULL, 0), AIC_ERROR_SUCCESS);
        assert_int_equal(try_create(theirs), AIC_ERROR_SUCCESS);
        assert_int_equal(try_create(mine), AIC_ERROR_SUCCESS);

        EVP_PKEY_free(ec);
        free(ec_pem);
        free(pem);
        free(mine);
        free(theirs);
        free(mine_jwt);
        free(theirs_jwt);
}

static void test_expired_jwt_then_fresh(void **state) {
        char *old = jwt(issuer, now() - 10), *fresh = jwt(issuer, now() + 3600);
        Stream s, ref;
        size_t b;

        (void) state;
        /* Expired: the processor is made (fail soft) and passes audio
         * through, bit for bit, with the delay kept. */
        assert_int_equal(try_create(old), AIC_ERROR_SUCCESS);
        stream_open(&s, old);
        stream_open(&ref, NULL);
        for (b = 0; b < 8; b++) {
                assert_int_equal(stream_block(&s), AIC_ERROR_LICENSE_EXPIRED);
                assert_int_equal(stream_block(&ref), AIC_ERROR_SUCCESS);
                assert_true(block_is_dry(&s, b));
        }

        /* A fresh token: the very next block enhances. */
        assert_int_equal(aic_processor_context_update_bearer_token(s.ctx, fresh), AIC_ERROR_SUCCESS);
        assert_int_equal(stream_block(&s), AIC_ERROR_SUCCESS);
        assert_int_equal(stream_block(&ref), AIC_ERROR_SUCCESS);
        assert_false(block_is_dry(&s, b));
        b++;
        /* After the 10 ms crossfade it is exactly what an unlicensed-mode
         * processor makes of the same audio: the model never stopped. */
        for (; b < 20; b++) {
                assert_int_equal(stream_block(&s), AIC_ERROR_SUCCESS);
                assert_int_equal(stream_block(&ref), AIC_ERROR_SUCCESS);
                assert_memory_equal(s.out + b * BLOCK, ref.out + b * BLOCK, BLOCK * sizeof(float));
        }

        /* An expired token does not replace a good one. */
        assert_int_equal(aic_processor_context_update_bearer_token(s.ctx, old), AIC_ERROR_LICENSE_EXPIRED);
        assert_int_equal(stream_block(&s), AIC_ERROR_SUCCESS);

        stream_close(&s);
        stream_close(&ref);
        free(old);
        free(fresh);
}

static void test_update_rules(void **state) {
        char *key = valid_license(issuer), *t1 = jwt(issuer, now() + 600), *t2 = jwt(issuer, now() + 1200);
        AicProcessor *p = NULL;
        AicProcessorContext *ctx = NULL;
        float block[BLOCK] = {0};
        int kind = 0;
        int64_t exp = 0;

        (void) state;
        /* License key configured: no token swaps, in either direction. */
        assert_int_equal(aic_processor_create(&p, tiny, key), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_create(&ctx, p), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_update_bearer_token(ctx, t1), AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED);
        assert_int_equal(aic_processor_context_update_bearer_token(ctx, key), AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED);
        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);

        /* Community mode: nothing to swap either. */
        assert_int_equal(aic_processor_create(&p, tiny, NULL), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_create(&ctx, p), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_update_bearer_token(ctx, t1), AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED);
        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);

        /* JWT configured: JWTs swap; a license key or junk does not, and the
         * current token stays in force. */
        assert_int_equal(aic_processor_create(&p, tiny, t1), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_initialize(p, RATE, 1, BLOCK, false), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_create(&ctx, p), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_update_bearer_token(ctx, t2), AIC_ERROR_SUCCESS);
        assert_int_equal(aic_processor_context_update_bearer_token(ctx, key), AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED);
        assert_int_equal(aic_processor_context_update_bearer_token(ctx, "garbage"), AIC_ERROR_LICENSE_FORMAT_INVALID);
        assert_int_equal(aic_processor_context_update_bearer_token(ctx, ""), AIC_ERROR_LICENSE_FORMAT_INVALID);
        assert_int_equal(aic_processor_context_update_bearer_token(ctx, "a.b.c"), AIC_ERROR_LICENSE_FORMAT_INVALID);
        assert_int_equal(aic_processor_context_update_bearer_token(ctx, NULL), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_context_update_bearer_token(NULL, t2), AIC_ERROR_NULL_POINTER);
        assert_int_equal(aic_processor_process_interleaved(p, block, 1, BLOCK), AIC_ERROR_SUCCESS);
        aic_processor_context_destroy(ctx);
        aic_processor_destroy(p);

        /* Inspection reports kind and expiry. */
        assert_int_equal(aic_credential_inspect(key, &kind, &exp), AIC_ERROR_SUCCESS);
        assert_int_equal(kind, 1);
        assert_int_equal(exp, 0);
        assert_int_equal(aic_credential_inspect(t2, &kind, &exp), AIC_ERROR_SUCCESS);
        assert_int_equal(kind, 2);
        assert_true(exp > now() + 1100 && exp <= now() + 1200);
        assert_int_equal(aic_credential_inspect(NULL, &kind, &exp), AIC_ERROR_NULL_POINTER);

        free(key);
        free(t1);
        free(t2);
}

static void test_not_allowed(void **state) {
        Stream s, ref;
        size_t b = 0;

        (void) state;
        stream_open(&s, NULL);
        stream_open(&ref, NULL);
        /* Refused from the start: bit-exact passthrough, delay kept. */
        assert_int_equal(aic_processor_context_set_enhancement_allowed(s.ctx, false), AIC_ERROR_SUCCESS);
        for (; b < 6; b++) {
                assert_int_equal(stream_block(&s), AIC_ERROR_ENHANCEMENT_NOT_ALLOWED);
                assert_int_equal(stream_block(&ref), AIC_ERROR_SUCCESS);
                assert_true(block_is_dry(&s, b));
        }
        /* Allowed again: enhancing from the next block, the reference's
         * output once the crossfade is over. */
        assert_int_equal(aic_processor_context_set_enhancement_allowed(s.ctx, true), AIC_ERROR_SUCCESS);
        assert_int_equal(stream_block(&s), AIC_ERROR_SUCCESS);
        assert_int_equal(stream_block(&ref), AIC_ERROR_SUCCESS);
        assert_false(block_is_dry(&s, b));
        for (b++; b < 12; b++) {
                assert_int_equal(stream_block(&s), AIC_ERROR_SUCCESS);
                assert_int_equal(stream_block(&ref), AIC_ERROR_SUCCESS);
                assert_memory_equal(s.out + b * BLOCK, ref.out + b * BLOCK, BLOCK * sizeof(float));
        }
        /* Refused mid-stream: after the crossfade, dry again. */
        assert_int_equal(aic_processor_context_set_enhancement_allowed(s.ctx, false), AIC_ERROR_SUCCESS);
        assert_int_equal(stream_block(&s), AIC_ERROR_ENHANCEMENT_NOT_ALLOWED);
        for (b++; b < 18; b++) {
                assert_int_equal(stream_block(&s), AIC_ERROR_ENHANCEMENT_NOT_ALLOWED);
                assert_true(block_is_dry(&s, b));
        }
        assert_int_equal(aic_processor_context_set_enhancement_allowed(NULL, true), AIC_ERROR_NULL_POINTER);
        stream_close(&s);
        stream_close(&ref);
}

static void test_not_yet_valid(void **state) {
        char claims[128], *t;
        Stream s;

        (void) state;
        /* nbf in the future: well-formed, but not enhancing yet. */
        snprintf(claims, sizeof(claims), "{\"exp\":%lld,\"nbf\":%lld}", (long long) now() + 7200,
                 (long long) now() + 3600);
        t = jwt_raw(issuer, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", claims);
        stream_open(&s, t);
        for (size_t b = 0; b < 3; b++) {
                assert_int_equal(stream_block(&s), AIC_ERROR_ENHANCEMENT_NOT_ALLOWED);
                assert_true(block_is_dry(&s, b));
        }
        stream_close(&s);
        free(t);
}

static void test_expired_license_key(void **state) {
        char *key = license(issuer, "{\"user\":\"user_1\",\"version\":\"2\",\"api_key\":\"k\",\"exp\":1000000000}");
        Stream s;

        (void) state;
        assert_int_equal(try_create(key), AIC_ERROR_SUCCESS);
        stream_open(&s, key);
        for (size_t b = 0; b < 3; b++) {
                assert_int_equal(stream_block(&s), AIC_ERROR_LICENSE_EXPIRED);
                assert_true(block_is_dry(&s, b));
        }
        stream_close(&s);
        free(key);
}

static void test_jwt_exp_zero(void **state) {
        char *t = jwt_raw(issuer, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", "{\"exp\":0}");
        Stream s;

        (void) state;
        /* Expired in 1970: made (fail soft), but never enhancing. */
        assert_int_equal(try_create(t), AIC_ERROR_SUCCESS);
        stream_open(&s, t);
        for (size_t b = 0; b < 3; b++) {
                assert_int_equal(stream_block(&s), AIC_ERROR_LICENSE_EXPIRED);
                assert_true(block_is_dry(&s, b));
        }
        stream_close(&s);
        free(t);
}

static void test_expires_while_running(void **state) {
        int64_t exp = now() + 2;
        char *t = jwt(issuer, exp);
        bool expired = false;
        Stream s;

        (void) state;
        stream_open(&s, t);
        assert_int_equal(stream_block(&s), AIC_ERROR_SUCCESS);
        /* Poll in 100 ms steps; give up well after exp. */
        for (int i = 0; i < 40 && !expired && s.pos + BLOCK <= s.cap; i++) {
                enum aic_error r;
                int64_t before = now();

                nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
                r = stream_block(&s);
                if (r == AIC_ERROR_LICENSE_EXPIRED) {
                        /* Not a moment early. */
                        assert_true(now() >= exp);
                        expired = true;
                } else {
                        assert_int_equal(r, AIC_ERROR_SUCCESS);
                        assert_true(before < exp);
                }
        }
        assert_true(expired);
        /* And it stays expired, passing audio through once the fade is done. */
        assert_int_equal(stream_block(&s), AIC_ERROR_LICENSE_EXPIRED);
        assert_int_equal(stream_block(&s), AIC_ERROR_LICENSE_EXPIRED);
        assert_true(block_is_dry(&s, s.pos / BLOCK - 1));
        stream_close(&s);
        free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_license_valid),     cmocka_unit_test(test_jwt_valid),
                cmocka_unit_test(test_license_malformed), cmocka_unit_test(test_jwt_malformed),
                cmocka_unit_test(test_issuer_key),        cmocka_unit_test(test_expired_jwt_then_fresh),
                cmocka_unit_test(test_update_rules),      cmocka_unit_test(test_not_allowed),
                cmocka_unit_test(test_not_yet_valid),     cmocka_unit_test(test_expired_license_key),
                cmocka_unit_test(test_jwt_exp_zero),      cmocka_unit_test(test_expires_while_running),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
