/* SPDX-License-Identifier: MIT */
/*
 * Pure helpers of the licensing protocol. Every field of every answer is
 * checked for presence, type and range before anyone acts on it; nothing
 * here logs, and no error ever carries a secret.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "license-proto.h"

static bool content_type_is_json(const char *ct) {
        size_t n;

        if (!ct)
                return false;
        while (*ct == ' ')
                ct++;
        n = strlen("application/json");
        if (strncasecmp(ct, "application/json", n) != 0)
                return false;
        ct += n;
        while (*ct == ' ')
                ct++;
        return *ct == '\0' || *ct == ';';
}

int proto_parse_json(const char *content_type, const char *body, size_t len, cJSON **ret) {
        const char *end = NULL;
        cJSON *root;

        if (!content_type_is_json(content_type))
                return -EMEDIUMTYPE;
        if (!body || len == 0 || memchr(body, '\0', len))
                return -EBADMSG;
        root = cJSON_ParseWithLengthOpts(body, len, &end, false);
        if (!root)
                return -EBADMSG;
        /* One JSON value and nothing after it but white space. */
        while (end && end < body + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
                end++;
        if (!cJSON_IsObject(root) || end != body + len) {
                cJSON_Delete(root);
                return -EBADMSG;
        }
        *ret = root;
        return 0;
}

/* A whole number of seconds in a plausible range. */
static bool json_unix_time(const cJSON *v, int64_t *ret) {
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0 && v->valuedouble < 1e11) ||
            v->valuedouble != floor(v->valuedouble))
                return false;
        *ret = (int64_t) v->valuedouble;
        return true;
}

static bool token_chars_valid(const char *s) {
        size_t n = strnlen(s, PROTO_TOKEN_MAX + 1);

        if (n == 0 || n > PROTO_TOKEN_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                      *p == '_' || *p == '.'))
                        return false;
        return true;
}

int proto_parse_token(const char *content_type, const char *body, size_t len, char **ret_token,
                      int64_t *ret_expires_at) {
        const cJSON *token, *exp;
        cJSON *root = NULL;
        int64_t e;
        char *copy;
        int r;

        r = proto_parse_json(content_type, body, len, &root);
        if (r < 0)
                return r;
        token = cJSON_GetObjectItemCaseSensitive(root, "token");
        exp = cJSON_GetObjectItemCaseSensitive(root, "expires_at");
        if (!cJSON_IsString(token) || !token_chars_valid(token->valuestring) || !json_unix_time(exp, &e)) {
                if (cJSON_IsString(token))
                        explicit_bzero(token->valuestring, strlen(token->valuestring));
                cJSON_Delete(root);
                return -EINVAL;
        }
        copy = strdup(token->valuestring);
        explicit_bzero(token->valuestring, strlen(token->valuestring));
        cJSON_Delete(root);
        if (!copy)
                return -ENOMEM;
        *ret_token = copy;
        *ret_expires_at = e;
        return 0;
}

int proto_parse_authorization(const char *content_type, const char *body, size_t len, bool *ret_authorized,
                              int64_t *ret_valid_until) {
        const cJSON *authorized, *until;
        cJSON *root = NULL;
        int64_t u = 0;
        int r;

        r = proto_parse_json(content_type, body, len, &root);
        if (r < 0)
                return r;
        authorized = cJSON_GetObjectItemCaseSensitive(root, "authorized");
        until = cJSON_GetObjectItemCaseSensitive(root, "valid_until");
        if (!cJSON_IsBool(authorized) || (cJSON_IsTrue(authorized) && !json_unix_time(until, &u))) {
                cJSON_Delete(root);
                return -EINVAL;
        }
        *ret_authorized = cJSON_IsTrue(authorized);
        *ret_valid_until = u;
        cJSON_Delete(root);
        return 0;
}

static char *print_and_free(cJSON *o) {
        char *s = o ? cJSON_PrintUnformatted(o) : NULL;

        cJSON_Delete(o);
        return s;
}

char *proto_authorize_body(const char *sdk_version, const char *model_id, const char *os, const char *arch) {
        cJSON *o = cJSON_CreateObject();

        if (!o || !cJSON_AddStringToObject(o, "sdk_version", sdk_version) ||
            !cJSON_AddStringToObject(o, "model_id", model_id) || !cJSON_AddStringToObject(o, "os", os) ||
            !cJSON_AddStringToObject(o, "arch", arch)) {
                cJSON_Delete(o);
                return NULL;
        }
        return print_and_free(o);
}

char *proto_usage_body(const ProtoUsage *u) {
        cJSON *o = cJSON_CreateObject();

        /* Millisecond resolution is plenty and keeps the numbers short. */
        if (!o || !cJSON_AddNumberToObject(o, "seconds_processed", round(u->seconds_processed * 1000.0) / 1000.0) ||
            !cJSON_AddNumberToObject(o, "seconds_bypassed", round(u->seconds_bypassed * 1000.0) / 1000.0) ||
            !cJSON_AddNumberToObject(o, "seconds_disallowed", round(u->seconds_disallowed * 1000.0) / 1000.0) ||
            !cJSON_AddStringToObject(o, "model_id", u->model_id) ||
            !cJSON_AddStringToObject(o, "sdk_version", u->sdk_version)) {
                cJSON_Delete(o);
                return NULL;
        }
        return print_and_free(o);
}

/* Standard base64 with optional padding; returns the length or -1. */
static long b64_decode(const char *in, size_t len, unsigned char *out) {
        char *tmp;
        size_t padded;
        int n;

        while (len > 0 && in[len - 1] == '=')
                len--;
        if (len == 0 || len % 4 == 1)
                return -1;
        for (size_t i = 0; i < len; i++)
                if (!((in[i] >= 'A' && in[i] <= 'Z') || (in[i] >= 'a' && in[i] <= 'z') ||
                      (in[i] >= '0' && in[i] <= '9') || in[i] == '+' || in[i] == '/'))
                        return -1;
        padded = (len + 3) / 4 * 4;
        tmp = malloc(padded);
        if (!tmp)
                return -1;
        memcpy(tmp, in, len);
        memset(tmp + len, '=', padded - len);
        n = EVP_DecodeBlock(out, (const unsigned char *) tmp, (int) padded);
        free(tmp);
        if (n < 0)
                return -1;
        return (long) n - (long) (padded - len);
}

int proto_license_api_key(const char *license, char **ret_api_key) {
        const char *dot = license ? strchr(license, '.') : NULL;
        const cJSON *key;
        unsigned char *buf;
        cJSON *payload;
        char *copy = NULL;
        size_t len;
        long n;

        if (!dot || dot == license || strchr(dot + 1, '.'))
                return -EINVAL;
        len = (size_t) (dot - license);
        if (len > PROTO_TOKEN_MAX)
                return -EINVAL;
        buf = malloc(len / 4 * 3 + 4);
        if (!buf)
                return -ENOMEM;
        n = b64_decode(license, len, buf);
        payload = n > 0 ? cJSON_ParseWithLength((const char *) buf, (size_t) n) : NULL;
        explicit_bzero(buf, len / 4 * 3 + 4);
        free(buf);
        if (!payload)
                return -EINVAL;
        key = cJSON_GetObjectItemCaseSensitive(payload, "api_key");
        if (cJSON_IsString(key) && key->valuestring[0] && !strpbrk(key->valuestring, "\r\n:"))
                copy = strdup(key->valuestring);
        if (cJSON_IsString(key))
                explicit_bzero(key->valuestring, strlen(key->valuestring));
        cJSON_Delete(payload);
        if (!copy)
                return cJSON_IsString(key) ? -EINVAL : -ENOKEY;
        *ret_api_key = copy;
        return 0;
}

int proto_api_key_hash(const char *api_key, char ret[65]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;

        if (EVP_Digest(api_key, strlen(api_key), md, &len, EVP_sha256(), NULL) != 1 || len != 32)
                return -EIO;
        for (unsigned i = 0; i < 32; i++)
                sprintf(ret + 2 * i, "%02x", md[i]);
        return 0;
}

int64_t proto_refresh_at(int64_t now, int64_t expires_at, unsigned margin_s) {
        int64_t life = expires_at - now;

        if (life <= 0)
                return now;
        if (life < 2 * (int64_t) margin_s)
                return now + life / 2;
        return expires_at - (int64_t) margin_s;
}

uint64_t proto_backoff_usec(unsigned attempt, uint64_t base_usec, uint64_t cap_usec, uint32_t rnd) {
        uint64_t d = base_usec;

        for (unsigned i = 0; i < attempt && d < cap_usec; i++)
                d *= 2;
        if (d > cap_usec)
                d = cap_usec;
        return d / 2 + (d / 2 ? (uint64_t) rnd % (d / 2 + 1) : 0);
}

const char *proto_strerror(int error) {
        switch (error) {
        case -EMEDIUMTYPE:
                return "the answer is not application/json";
        case -EBADMSG:
                return "the answer is not a JSON object";
        case -EINVAL:
                return "the answer lacks a field or has one of the wrong type or range";
        case -EKEYREJECTED:
                return "the credential in the answer is not valid";
        case -EFBIG:
                return "the answer is larger than 64 KiB";
        case -ETIMEDOUT:
                return "the request timed out";
        case -ECONNREFUSED:
                return "the connection was refused";
        case -ECONNRESET:
                return "the connection broke before a complete answer";
        case -EHOSTUNREACH:
                return "the host name could not be resolved";
        case -EPROTO:
                return "the TLS handshake failed (is the server's certificate trusted? see ca_file)";
        case -EPROTONOSUPPORT:
                return "the URL is not an https:// URL";
        case -EACCES:
                return "the server refused the credential";
        case -EREMOTEIO:
                return "the server answered with an error status";
        case -ENOMEM:
                return "out of memory";
        default:
                return "the request failed";
        }
}
