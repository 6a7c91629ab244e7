/* SPDX-License-Identifier: MIT */
/*
 * `aicctl token mint [--endpoint URL] [--ca-file PATH]`: the backend-side
 * helper. Reads the license key from $AIC_SDK_LICENSE, takes the api_key out
 * of it, asks the token endpoint for a JWT (HTTP Basic, api_key as the user
 * name, empty password) and prints {"token", "expires_at"} on stdout, for an
 * organisation's token service to hand to desktops in token-url or push mode.
 * The license and the api_key never appear in argv or in any message.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "aic.h"
#include "aicctl.h"
#include "license-proto.h"

#define MINT_DEFAULT_ENDPOINT "https://api.ai-coustics.io/v1/sdk/tokens"
#define MINT_BODY_MAX (64 * 1024)
#define MINT_ATTEMPTS 4
#define MINT_TIMEOUT_MS 10000L

static const char mint_usage[] =
        "aicctl token mint [--endpoint URL] [--ca-file PATH]\n"
        "  Mints a token (JWT) with the api_key of the license key in $AIC_SDK_LICENSE and\n"
        "  prints {\"token\", \"expires_at\"}. --ca-file: PEM bundle to verify the endpoint with.";

typedef struct Body {
        char *data;
        size_t len;
        bool too_big;
} Body;

static void erase_free(char *s) {
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata) {
        Body *b = userdata;
        size_t n = size * nmemb;
        char *p;

        if (n > MINT_BODY_MAX || b->len + n > MINT_BODY_MAX) {
                b->too_big = true;
                return 0;
        }
        p = realloc(b->data, b->len + n + 1);
        if (!p)
                return 0;
        b->data = p;
        memcpy(b->data + b->len, data, n);
        b->len += n;
        b->data[b->len] = '\0';
        return n;
}

/* "Authorization: Basic base64(api_key:)", in memory that is zeroed after. */
static struct curl_slist *auth_headers(const char *api_key) {
        size_t n = strlen(api_key);
        struct curl_slist *l = NULL, *t;
        char *raw = malloc(n + 2), *hdr = malloc(32 + 4 * (n + 2) / 3 + 8);

        if (raw && hdr) {
                memcpy(raw, api_key, n);
                raw[n] = ':';
                strcpy(hdr, "Authorization: Basic ");
                EVP_EncodeBlock((unsigned char *) hdr + strlen(hdr), (unsigned char *) raw, (int) n + 1);
                l = curl_slist_append(NULL, hdr);
                explicit_bzero(raw, n + 1);
                explicit_bzero(hdr, strlen(hdr));
        }
        free(raw);
        free(hdr);
        if (l && ((t = curl_slist_append(l, "Content-Type: application/json")) == NULL ||
                  (t = curl_slist_append(l, "Accept: application/json")) == NULL ||
                  (t = curl_slist_append(l, "Expect:")) == NULL)) {
                explicit_bzero(l->data, strlen(l->data));
                curl_slist_free_all(l);
                return NULL;
        }
        return l;
}

static void headers_free(struct curl_slist *l) {
        for (struct curl_slist *i = l; i; i = i->next)
                explicit_bzero(i->data, strlen(i->data));
        curl_slist_free_all(l);
}

/* One POST. Returns the curl result; fills status, content type and body. */
static CURLcode post_once(const char *url, const char *ca_file, struct curl_slist *headers, long *ret_status,
                          char *ret_ctype, size_t ctype_len, Body *body, char errbuf[CURL_ERROR_SIZE]) {
        CURL *easy = curl_easy_init();
        CURLcode c = CURLE_OK;
        char *ct = NULL;

        if (!easy)
                return CURLE_OUT_OF_MEMORY;
#define SET(opt, val)                                                                                                  \
        do {                                                                                                           \
                if (c == CURLE_OK)                                                                                     \
                        c = curl_easy_setopt(easy, opt, val);                                                          \
        } while (0)
        SET(CURLOPT_URL, url);
        SET(CURLOPT_PROTOCOLS_STR, "https");
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        SET(CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
        if (ca_file)
                SET(CURLOPT_CAINFO, ca_file);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_NETRC, (long) CURL_NETRC_IGNORED);
        SET(CURLOPT_USERAGENT, "aicctl/" AICD_VERSION);
        SET(CURLOPT_HTTPHEADER, headers);
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDS, "{}");
        SET(CURLOPT_POSTFIELDSIZE, 2L);
        SET(CURLOPT_WRITEFUNCTION, on_write);
        SET(CURLOPT_WRITEDATA, body);
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) MINT_BODY_MAX);
        SET(CURLOPT_TIMEOUT_MS, MINT_TIMEOUT_MS);
        SET(CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        SET(CURLOPT_ERRORBUFFER, errbuf);
#undef SET
        if (c == CURLE_OK)
                c = curl_easy_perform(easy);
        *ret_status = 0;
        ret_ctype[0] = '\0';
        if (c == CURLE_OK) {
                curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, ret_status);
                if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
                        snprintf(ret_ctype, ctype_len, "%s", ct);
        }
        curl_easy_cleanup(easy);
        return c;
}

static void backoff_sleep(unsigned attempt) {
        uint32_t rnd = 0;
        uint64_t usec;

        if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
                rnd = (uint32_t) time(NULL);
        usec = proto_backoff_usec(attempt, 500 * 1000ULL, 4 * 1000 * 1000ULL, rnd);
        usleep((useconds_t) usec);
}

static int fail(const char *format, const char *arg) {
        fputs("aicctl token mint: ", stderr);
        fprintf(stderr, format, arg);
        fputc('\n', stderr);
        return AICCTL_EXIT_FAILURE;
}

/* Asks the endpoint until it answers for good; *ret_token is a secret. */
static int mint(const char *url, const char *ca_file, const char *api_key, char **ret_token) {
        struct curl_slist *headers = auth_headers(api_key);
        char errbuf[CURL_ERROR_SIZE], ctype[256], why[CURL_ERROR_SIZE + 64];
        int ret = AICCTL_EXIT_FAILURE;

        if (!headers)
                return fail("%s", "out of memory");
        for (unsigned attempt = 0; attempt < MINT_ATTEMPTS; attempt++) {
                Body body = {};
                long status = 0;
                int64_t expires_at = 0;
                CURLcode c;
                int r;

                errbuf[0] = '\0';
                c = post_once(url, ca_file, headers, &status, ctype, sizeof(ctype), &body, errbuf);
                if (c != CURLE_OK) {
                        snprintf(why, sizeof(why), "%s",
                                 body.too_big || c == CURLE_FILESIZE_EXCEEDED
                                         ? proto_strerror(-EFBIG)
                                         : (errbuf[0] ? errbuf : curl_easy_strerror(c)));
                        free(body.data);
                        if (c == CURLE_UNSUPPORTED_PROTOCOL || c == CURLE_URL_MALFORMAT ||
                            c == CURLE_PEER_FAILED_VERIFICATION || c == CURLE_SSL_CACERT_BADFILE)
                                break; /* no retry fixes these */
                        if (attempt + 1 < MINT_ATTEMPTS)
                                backoff_sleep(attempt);
                        continue;
                }
                if (status == 401 || status == 403) {
                        free(body.data);
                        snprintf(why, sizeof(why), "the token endpoint refused the license's api_key (HTTP %ld)",
                                 status);
                        break;
                }
                if (status == 429 || status >= 500 || status != 200) {
                        free(body.data);
                        snprintf(why, sizeof(why), "the token endpoint answered HTTP %ld", status);
                        if ((status == 429 || status >= 500) && attempt + 1 < MINT_ATTEMPTS) {
                                backoff_sleep(attempt);
                                continue;
                        }
                        break;
                }
                r = proto_parse_token(ctype[0] ? ctype : NULL, body.data, body.len, ret_token, &expires_at);
                free(body.data);
                if (r < 0) {
                        snprintf(why, sizeof(why), "invalid answer from the token endpoint: %s", proto_strerror(r));
                        break;
                }
                ret = AICCTL_EXIT_SUCCESS;
                break;
        }
        headers_free(headers);
        if (ret != AICCTL_EXIT_SUCCESS)
                return fail("%s", why);
        return ret;
}

int aicctl_token_mint(int argc, char **argv) {
        static const struct option options[] = {
                {"endpoint", required_argument, NULL, 'e'},
                {"ca-file", required_argument, NULL, 'c'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *endpoint = MINT_DEFAULT_ENDPOINT, *ca_file = NULL, *license;
        char *api_key = NULL, *token = NULL, *out;
        int64_t exp = 0;
        int opt, kind = 0, ret;
        enum aic_error e;
        cJSON *o;

        optind = 0;
        while ((opt = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (opt) {
                case 'e':
                        endpoint = optarg;
                        break;
                case 'c':
                        ca_file = optarg;
                        break;
                case 'h':
                        printf("Usage: %s\n", mint_usage);
                        return AICCTL_EXIT_SUCCESS;
                default:
                        fprintf(stderr, "Usage: %s\n", mint_usage);
                        return AICCTL_EXIT_USAGE;
                }
        if (optind < argc) {
                fprintf(stderr, "aicctl token mint: unexpected argument (the license comes from $AIC_SDK_LICENSE)\n");
                return AICCTL_EXIT_USAGE;
        }
        if (strncmp(endpoint, "https://", 8) != 0) {
                fprintf(stderr,
                        "aicctl token mint: --endpoint must be an https:// URL (the api_key travels with it)\n");
                return AICCTL_EXIT_USAGE;
        }
        license = getenv("AIC_SDK_LICENSE");
        if (!license || !license[0])
                return fail("%s", "$AIC_SDK_LICENSE is not set");
        e = aic_credential_inspect(license, &kind, &exp);
        if (e != AIC_ERROR_SUCCESS)
                return fail("$AIC_SDK_LICENSE: %s", aic_error_message(e));
        if (kind != 1)
                return fail("%s", "$AIC_SDK_LICENSE holds a token, not a license key");
        if (proto_license_api_key(license, &api_key) < 0)
                return fail("%s", "$AIC_SDK_LICENSE holds no api_key");
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                erase_free(api_key);
                return fail("%s", "cannot initialise libcurl");
        }
        ret = mint(endpoint, ca_file, api_key, &token);
        erase_free(api_key);
        if (ret != AICCTL_EXIT_SUCCESS) {
                curl_global_cleanup();
                return ret;
        }
        e = aic_credential_inspect(token, &kind, &exp);
        if (e != AIC_ERROR_SUCCESS || kind != 2) {
                erase_free(token);
                curl_global_cleanup();
                return fail("the token endpoint answered with an invalid token: %s",
                            e != AIC_ERROR_SUCCESS ? aic_error_message(e) : "not a JWT");
        }
        o = cJSON_CreateObject();
        out = o && cJSON_AddStringToObject(o, "token", token) && cJSON_AddNumberToObject(o, "expires_at", (double) exp)
                      ? cJSON_PrintUnformatted(o)
                      : NULL;
        erase_free(token);
        if (o && cJSON_IsString(cJSON_GetObjectItem(o, "token")))
                explicit_bzero(cJSON_GetObjectItem(o, "token")->valuestring,
                               strlen(cJSON_GetObjectItem(o, "token")->valuestring));
        cJSON_Delete(o);
        curl_global_cleanup();
        if (!out)
                return fail("%s", "out of memory");
        ret = puts(out) < 0 ? AICCTL_EXIT_FAILURE : AICCTL_EXIT_SUCCESS;
        erase_free(out);
        if (ret == AICCTL_EXIT_SUCCESS)
                ret = aicctl_finish_output();
        return ret;
}
