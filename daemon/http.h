/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous HTTP(S) POSTs for aicd: libcurl's multi socket interface driven
 * from sd-event, so a slow or dead server never blocks audio or D-Bus.
 * TLS peers are always verified; response bodies are size-limited.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#define HTTP_BODY_MAX (64 * 1024)
#define HTTP_TIMEOUT_USEC (10 * 1000000ULL)

typedef struct Http Http;
typedef struct HttpRequest HttpRequest;

typedef enum HttpAuth {
        HTTP_AUTH_NONE,
        HTTP_AUTH_BEARER, /* Authorization: Bearer <secret> */
        HTTP_AUTH_BASIC,  /* Authorization: Basic base64(<secret>:) (empty password) */
} HttpAuth;

typedef struct HttpPost {
        const char *url;
        HttpAuth auth;
        const char *secret;    /* copied, zeroed when the request is freed */
        const char *json;      /* request body; NULL: an empty one */
        bool allow_plain_http; /* only for requests that carry no secret */
        uint64_t timeout_usec; /* whole request; 0: HTTP_TIMEOUT_USEC */
} HttpPost;

typedef struct HttpResponse {
        /* 0, or negative errno for transport failures: -ETIMEDOUT, -EFBIG (body
         * over HTTP_BODY_MAX), -ECONNREFUSED, -ECONNRESET, -EHOSTUNREACH,
         * -EPROTO (TLS), -EPROTONOSUPPORT (scheme not allowed), -ENOMEM, -EIO. */
        int error;
        const char *error_detail; /* libcurl's message; never holds a secret */
        long status;              /* 0 on transport failures */
        const char *content_type; /* NULL when absent */
        const char *body;         /* NUL-terminated (NUL bytes inside are possible) */
        size_t body_len;
        int64_t retry_after_s; /* Retry-After in seconds, -1 when absent */
} HttpResponse;

/* Called once per request, on the main loop, unless the request was
 * cancelled. The request is freed right after the callback returns: forget
 * the pointer. The response is only valid during the call. */
typedef void (*http_callback_t)(HttpRequest *req, const HttpResponse *resp, void *userdata);

/* ca_file: PEM bundle to verify servers against instead of the system's;
 * NULL or "" for the system's. */
int http_new(sd_event *event, const char *ca_file, Http **ret);
/* Cancels every pending request without calling its callback. */
Http *http_free(Http *h);
int http_post(Http *h, const HttpPost *post, http_callback_t callback, void *userdata, HttpRequest **ret);
/* Cancels a pending request; its callback is not called. Accepts NULL;
 * returns NULL. */
HttpRequest *http_request_cancel(HttpRequest *req);
unsigned http_pending(const Http *h);
