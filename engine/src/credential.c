/* SPDX-License-Identifier: MIT */
/*
 * License key and JWT parsing (CONTRACT.md, "Credentials"). Decoding and
 * Ed25519 verification go through OpenSSL; the claims through cJSON. Errors
 * never echo any part of the credential.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "credential.h"
#include "util.h"

#define CREDENTIAL_MAX_LEN 16384u

static pthread_mutex_t issuer_lock = PTHREAD_MUTEX_INITIALIZER;
static EVP_PKEY *issuer_key;

AIC_API enum aic_error aic_set_issuer_public_key(const char *pem, size_t pem_len) {
        EVP_PKEY *key = NULL, *old;

        if (pem) {
                BIO *bio;

                if (pem_len == 0 || pem_len > 65536)
                        return AIC_ERROR_PARAMETER_OUT_OF_RANGE;
                bio = BIO_new_mem_buf(pem, (int) pem_len);
                if (!bio)
                        return AIC_ERROR_INTERNAL;
                key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
                BIO_free(bio);
                if (!key || EVP_PKEY_get_base_id(key) != EVP_PKEY_ED25519) {
                        EVP_PKEY_free(key);
                        return AIC_ERROR_PARAMETER_OUT_OF_RANGE;
                }
        }
        pthread_mutex_lock(&issuer_lock);
        old = issuer_key;
        issuer_key = key;
        pthread_mutex_unlock(&issuer_lock);
        EVP_PKEY_free(old);
        return AIC_ERROR_SUCCESS;
}

/* Decodes standard (url = false) or url-safe base64, padding optional.
 * Returns the decoded length or -1. `out` must hold len / 4 * 3 + 3 bytes. */
static long b64_decode(const char *in, size_t len, bool url, unsigned char *out) {
        _cleanup_free_ unsigned char *tmp = NULL;
        size_t padded, pad = 0;
        int n;

        while (len > 0 && in[len - 1] == '=' && pad < 2) {
                len--;
                pad++;
        }
        if (len == 0 || len % 4 == 1)
                return -1;
        for (size_t i = 0; i < len; i++) {
                char c = in[i];
                bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                          (url ? (c == '-' || c == '_') : (c == '+' || c == '/'));
                if (!ok)
                        return -1;
        }
        padded = ALIGN_TO(len, 4);
        tmp = malloc(padded + 1);
        if (!tmp)
                return -1;
        for (size_t i = 0; i < len; i++)
                tmp[i] = (unsigned char) (url && in[i] == '-' ? '+' : url && in[i] == '_' ? '/' : in[i]);
        memset(tmp + len, '=', padded - len);
        n = EVP_DecodeBlock(out, tmp, (int) padded);
        if (n < 0)
                return -1;
        return (long) n - (long) (padded - len);
}

static enum aic_error verify_signature(const char *msg, size_t msg_len, const unsigned char *sig, size_t sig_len) {
        enum aic_error ret = AIC_ERROR_SUCCESS;

        pthread_mutex_lock(&issuer_lock);
        if (issuer_key) {
                EVP_MD_CTX *ctx = EVP_MD_CTX_new();

                if (!ctx)
                        ret = AIC_ERROR_INTERNAL;
                else if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, issuer_key) != 1 ||
                         EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *) msg, msg_len) != 1)
                        ret = AIC_ERROR_LICENSE_FORMAT_INVALID;
                EVP_MD_CTX_free(ctx);
        }
        pthread_mutex_unlock(&issuer_lock);
        return ret;
}

static bool json_time(const cJSON *root, const char *key, bool required, int64_t *ret) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

        if (!v) {
                *ret = 0;
                return !required;
        }
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble < 1e12) ||
            v->valuedouble != floor(v->valuedouble))
                return false;
        *ret = (int64_t) v->valuedouble;
        return true;
}

/* Decodes a base64 segment holding a JSON object. */
static cJSON *decode_json_segment(const char *s, size_t len, bool url) {
        _cleanup_free_ unsigned char *buf = malloc(len / 4 * 3 + 4);
        long n;

        if (!buf)
                return NULL;
        n = b64_decode(s, len, url, buf);
        if (n <= 0)
                return NULL;
        return cJSON_ParseWithLength((const char *) buf, (size_t) n);
}

static enum aic_error parse_license(const char *s, const char *dot, int64_t now, Credential *ret) {
        unsigned char sig[70];
        const cJSON *user, *version, *api_key;
        enum aic_error r = AIC_ERROR_SUCCESS;
        size_t sig_len = strlen(dot + 1);
        int64_t exp;
        cJSON *payload;
        long n;

        if (sig_len < 85 || sig_len > 88)
                return AIC_ERROR_LICENSE_FORMAT_INVALID;
        n = b64_decode(dot + 1, sig_len, true, sig);
        if (n != 64)
                return AIC_ERROR_LICENSE_FORMAT_INVALID;

        payload = decode_json_segment(s, (size_t) (dot - s), false);
        if (!payload)
                return AIC_ERROR_LICENSE_FORMAT_INVALID;
        user = cJSON_GetObjectItemCaseSensitive(payload, "user");
        version = cJSON_GetObjectItemCaseSensitive(payload, "version");
        api_key = cJSON_GetObjectItemCaseSensitive(payload, "api_key");
        if (!cJSON_IsObject(payload) || !cJSON_IsString(user) || strncmp(user->valuestring, "user_", 5) != 0 ||
            !cJSON_IsString(api_key) || api_key->valuestring[0] == '\0' || !cJSON_IsString(version) ||
            !json_time(payload, "exp", false, &exp))
                r = AIC_ERROR_LICENSE_FORMAT_INVALID;
        else if (!streq(version->valuestring, "2"))
                r = AIC_ERROR_LICENSE_VERSION_UNSUPPORTED;
        cJSON_Delete(payload);
        if (r != AIC_ERROR_SUCCESS)
                return r;

        r = verify_signature(s, (size_t) (dot - s), sig, 64);
        if (r != AIC_ERROR_SUCCESS)
                return r;
        *ret = (Credential) {.kind = CREDENTIAL_LICENSE, .expires_at = exp};
        return exp != 0 && now >= exp ? AIC_ERROR_LICENSE_EXPIRED : AIC_ERROR_SUCCESS;
}

static enum aic_error parse_jwt(const char *s, const char *dot1, const char *dot2, int64_t now, Credential *ret) {
        unsigned char sig[70];
        const cJSON *alg;
        enum aic_error r = AIC_ERROR_SUCCESS;
        int64_t exp, nbf, iat;
        size_t sig_len = strlen(dot2 + 1);
        cJSON *header, *claims;
        long n;

        if (sig_len < 85 || sig_len > 86)
                return AIC_ERROR_LICENSE_FORMAT_INVALID;
        n = b64_decode(dot2 + 1, sig_len, true, sig);
        if (n != 64)
                return AIC_ERROR_LICENSE_FORMAT_INVALID;

        header = decode_json_segment(s, (size_t) (dot1 - s), true);
        if (!header)
                return AIC_ERROR_LICENSE_FORMAT_INVALID;
        alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
        if (!cJSON_IsObject(header) || !cJSON_IsString(alg) || !streq(alg->valuestring, "EdDSA"))
                r = AIC_ERROR_LICENSE_FORMAT_INVALID;
        cJSON_Delete(header);
        if (r != AIC_ERROR_SUCCESS)
                return r;

        claims = decode_json_segment(dot1 + 1, (size_t) (dot2 - dot1 - 1), true);
        if (!claims)
                return AIC_ERROR_LICENSE_FORMAT_INVALID;
        if (!cJSON_IsObject(claims) || !json_time(claims, "exp", true, &exp) || !json_time(claims, "nbf", false, &nbf) ||
            !json_time(claims, "iat", false, &iat))
                r = AIC_ERROR_LICENSE_FORMAT_INVALID;
        cJSON_Delete(claims);
        if (r != AIC_ERROR_SUCCESS)
                return r;

        r = verify_signature(s, (size_t) (dot2 - s), sig, 64);
        if (r != AIC_ERROR_SUCCESS)
                return r;
        /* A token issued in the future (beyond clock skew) is malformed. */
        if (iat > now + 300 || (nbf != 0 && nbf >= exp))
                return AIC_ERROR_LICENSE_FORMAT_INVALID;
        /* expires_at 0 means "never"; an exp of 0 is long past, not absent. */
        *ret = (Credential) {.kind = CREDENTIAL_JWT, .expires_at = MAX(exp, 1), .not_before = nbf};
        return now >= exp ? AIC_ERROR_LICENSE_EXPIRED : AIC_ERROR_SUCCESS;
}

enum aic_error credential_parse(const char *s, int64_t now, Credential *ret) {
        const char *dot1, *dot2;
        size_t len;

        if (!s || !ret)
                return AIC_ERROR_NULL_POINTER;
        len = strnlen(s, CREDENTIAL_MAX_LEN + 1);
        if (len == 0 || len > CREDENTIAL_MAX_LEN)
                return AIC_ERROR_LICENSE_FORMAT_INVALID;

        dot1 = strchr(s, '.');
        if (!dot1 || dot1 == s)
                return AIC_ERROR_LICENSE_FORMAT_INVALID;
        dot2 = strchr(dot1 + 1, '.');
        if (!dot2)
                return parse_license(s, dot1, now, ret);
        if (dot2 == dot1 + 1 || strchr(dot2 + 1, '.'))
                return AIC_ERROR_LICENSE_FORMAT_INVALID;
        return parse_jwt(s, dot1, dot2, now, ret);
}

AIC_API enum aic_error aic_credential_inspect(const char *credential, int *ret_kind, int64_t *ret_expires_at) {
        Credential c = {};
        enum aic_error r;
        struct timespec ts;

        if (!credential || !ret_kind || !ret_expires_at)
                return AIC_ERROR_NULL_POINTER;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = credential_parse(credential, (int64_t) ts.tv_sec, &c);
        if (r == AIC_ERROR_SUCCESS || r == AIC_ERROR_LICENSE_EXPIRED) {
                *ret_kind = (int) c.kind;
                *ret_expires_at = c.expires_at;
        }
        return r;
}
