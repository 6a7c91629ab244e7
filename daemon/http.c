/* SPDX-License-Identifier: MIT */
/*
 * libcurl's multi socket interface on sd-event: curl tells us which sockets
 * to watch and when to wake it (socket and timer callbacks); sd-event sources
 * call back into curl_multi_socket_action(). Everything runs on the main
 * thread. Secrets only live in the request's header list and are zeroed
 * before it is freed; curl's own messages carry URLs, never headers.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

struct Http {
        sd_event *event;
        sd_event_source *timer;
        CURLM *multi;
        char *ca_file;
        HttpRequest *requests; /* pending, a doubly linked list */
        unsigned n_pending;
};

struct HttpRequest {
        Http *http;
        HttpRequest *prev, *next;
        CURL *easy;
        struct curl_slist *headers;
        char *body;
        size_t body_len, body_alloc;
        bool too_big;
        char error[CURL_ERROR_SIZE];
        http_callback_t callback;
        void *userdata;
};

/* The one place curl's error codes become errnos. */
static int errno_from_curl(CURLcode c, bool too_big) {
        switch (c) {
        case CURLE_OK:
                return 0;
        case CURLE_WRITE_ERROR:
        case CURLE_FILESIZE_EXCEEDED:
                return too_big || c == CURLE_FILESIZE_EXCEEDED ? -EFBIG : -EIO;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
                return -ECONNRESET;
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
                return -EPROTONOSUPPORT;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_USE_SSL_FAILED:
                return -EPROTO;
        default:
                return -EIO;
        }
}

static void secret_slist_free(struct curl_slist *l) {
        for (struct curl_slist *i = l; i; i = i->next)
                explicit_bzero(i->data, strlen(i->data));
        curl_slist_free_all(l);
}

static void request_unlink(HttpRequest *req) {
        Http *h = req->http;

        if (req->prev)
                req->prev->next = req->next;
        else if (h->requests == req)
                h->requests = req->next;
        if (req->next)
                req->next->prev = req->prev;
        req->prev = req->next = NULL;
        h->n_pending--;
}

static void request_free(HttpRequest *req) {
        if (!req)
                return;
        if (req->easy) {
                curl_multi_remove_handle(req->http->multi, req->easy);
                curl_easy_cleanup(req->easy);
        }
        secret_slist_free(req->headers);
        free(req->body);
        free(req);
}

HttpRequest *http_request_cancel(HttpRequest *req) {
        if (!req)
                return NULL;
        request_unlink(req);
        request_free(req);
        return NULL;
}

unsigned http_pending(const Http *h) {
        return h ? h->n_pending : 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata) {
        HttpRequest *req = userdata;
        size_t n = size * nmemb;

        if (n > HTTP_BODY_MAX || req->body_len + n > HTTP_BODY_MAX) {
                req->too_big = true;
                return 0; /* aborts the transfer */
        }
        if (req->body_len + n + 1 > req->body_alloc) {
                size_t alloc = req->body_alloc ? req->body_alloc : 1024;
                char *p;

                while (alloc < req->body_len + n + 1)
                        alloc *= 2;
                p = realloc(req->body, alloc);
                if (!p)
                        return 0;
                req->body = p;
                req->body_alloc = alloc;
        }
        memcpy(req->body + req->body_len, data, n);
        req->body_len += n;
        req->body[req->body_len] = '\0';
        return n;
}

static int64_t retry_after(CURL *easy) {
        struct curl_header *hdr = NULL;
        char *end;
        long long v;

        if (curl_easy_header(easy, "Retry-After", 0, CURLH_HEADER, -1, &hdr) != CURLHE_OK || !hdr || !hdr->value)
                return -1;
        errno = 0;
        v = strtoll(hdr->value, &end, 10);
        if (errno != 0 || end == hdr->value || *end != '\0' || v < 0)
                return -1; /* HTTP dates are not worth parsing here */
        return v > 86400 ? 86400 : v;
}

static void complete(HttpRequest *req, CURLcode code) {
        HttpResponse resp = {.retry_after_s = -1};
        char *ct = NULL, ctype[256];
        long status = 0;

        curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(req->easy, CURLINFO_CONTENT_TYPE, &ct);
        resp.error = errno_from_curl(code, req->too_big);
        resp.error_detail = req->error[0] ? req->error : curl_easy_strerror(code);
        if (resp.error == 0) {
                resp.status = status;
                if (ct) {
                        snprintf(ctype, sizeof(ctype), "%s", ct);
                        resp.content_type = ctype;
                }
                resp.body = req->body ? req->body : "";
                resp.body_len = req->body_len;
                resp.retry_after_s = retry_after(req->easy);
        }
        /* Nothing of the Http is touched after the callback. */
        curl_multi_remove_handle(req->http->multi, req->easy);
        request_unlink(req);
        req->callback(req, &resp, req->userdata);
        curl_easy_cleanup(req->easy);
        req->easy = NULL;
        request_free(req);
}

static void check_done(Http *h) {
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(h->multi, &left))) {
                HttpRequest *req = NULL;
                CURLcode code;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                code = msg->data.result;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
                if (req)
                        complete(req, code);
        }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Http *h = userdata;
        int flags = 0, running;

        (void) s;
        if (revents & EPOLLIN)
                flags |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action(h->multi, fd, flags, &running);
        check_done(h);
        return 0;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        Http *h = userp;
        sd_event_source *src = socketp;
        uint32_t events = (what == CURL_POLL_IN || what == CURL_POLL_INOUT ? EPOLLIN : 0) |
                          (what == CURL_POLL_OUT || what == CURL_POLL_INOUT ? EPOLLOUT : 0);

        (void) easy;
        if (what == CURL_POLL_REMOVE) {
                if (src) {
                        sd_event_source_disable_unref(src);
                        curl_multi_assign(h->multi, fd, NULL);
                }
                return 0;
        }
        if (src) {
                if (sd_event_source_set_io_events(src, events) < 0 || sd_event_source_set_enabled(src, SD_EVENT_ON) < 0)
                        return -1;
                return 0;
        }
        if (sd_event_add_io(h->event, &src, fd, events, on_io, h) < 0)
                return -1;
        sd_event_source_set_description(src, "http-io");
        curl_multi_assign(h->multi, fd, src);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Http *h = userdata;
        int running;

        (void) s;
        (void) usec;
        curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        check_done(h);
        return 0;
}

/* curl asks to be woken in timeout_ms (-1: never). It may not be called back
 * from here, so this only arms the sd-event timer. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
        Http *h = userp;
        uint64_t now;

        (void) multi;
        if (timeout_ms < 0)
                return h->timer ? (sd_event_source_set_enabled(h->timer, SD_EVENT_OFF) < 0 ? -1 : 0) : 0;
        if (sd_event_now(h->event, CLOCK_MONOTONIC, &now) < 0)
                return -1;
        now += (uint64_t) timeout_ms * 1000ULL;
        if (!h->timer) {
                if (sd_event_add_time(h->event, &h->timer, CLOCK_MONOTONIC, now, 1000, on_timer, h) < 0)
                        return -1;
                sd_event_source_set_description(h->timer, "http-timer");
                return 0;
        }
        if (sd_event_source_set_time(h->timer, now) < 0 || sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT) < 0)
                return -1;
        return 0;
}

int http_new(sd_event *event, const char *ca_file, Http **ret) {
        static bool curl_ready;
        Http *h;

        if (!curl_ready) {
                if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return -EIO;
                curl_ready = true;
        }
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(event);
        if (ca_file && ca_file[0]) {
                h->ca_file = strdup(ca_file);
                if (!h->ca_file) {
                        http_free(h);
                        return -ENOMEM;
                }
        }
        h->multi = curl_multi_init();
        if (!h->multi) {
                http_free(h);
                return -ENOMEM;
        }
        curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
        curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
        curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
        *ret = h;
        return 0;
}

Http *http_free(Http *h) {
        if (!h)
                return NULL;
        while (h->requests)
                http_request_cancel(h->requests);
        if (h->multi)
                curl_multi_cleanup(h->multi);
        h->timer = sd_event_source_disable_unref(h->timer);
        sd_event_unref(h->event);
        free(h->ca_file);
        free(h);
        return NULL;
}

static int append_header(struct curl_slist **l, const char *s) {
        struct curl_slist *n = curl_slist_append(*l, s);

        if (!n)
                return -ENOMEM;
        *l = n;
        return 0;
}

/* Builds "Authorization: ..." in a buffer that is zeroed afterwards. */
static int append_auth(struct curl_slist **l, HttpAuth auth, const char *secret) {
        size_t n = strlen(secret);
        char *buf, *raw = NULL;
        int r;

        if (n == 0 || n > 16384 || strpbrk(secret, "\r\n"))
                return -EINVAL;
        buf = malloc(64 + 4 * (n + 1) / 3 + 8);
        if (!buf)
                return -ENOMEM;
        if (auth == HTTP_AUTH_BEARER)
                sprintf(buf, "Authorization: Bearer %s", secret);
        else {
                raw = malloc(n + 2);
                if (!raw) {
                        free(buf);
                        return -ENOMEM;
                }
                memcpy(raw, secret, n);
                raw[n] = ':';
                strcpy(buf, "Authorization: Basic ");
                EVP_EncodeBlock((unsigned char *) buf + strlen(buf), (const unsigned char *) raw, (int) n + 1);
                explicit_bzero(raw, n + 1);
                free(raw);
        }
        r = append_header(l, buf);
        explicit_bzero(buf, strlen(buf));
        free(buf);
        return r;
}

int http_post(Http *h, const HttpPost *post, http_callback_t callback, void *userdata, HttpRequest **ret) {
        uint64_t timeout = post->timeout_usec ? post->timeout_usec : HTTP_TIMEOUT_USEC;
        const char *json = post->json ? post->json : "";
        HttpRequest *req;
        CURLcode c = CURLE_OK;
        int r;

        if (!post->url || !callback)
                return -EINVAL;
        if (strncmp(post->url, "https://", 8) != 0 &&
            !(post->allow_plain_http && post->auth == HTTP_AUTH_NONE && strncmp(post->url, "http://", 7) == 0))
                return -EPROTONOSUPPORT;
        req = calloc(1, sizeof(*req));
        if (!req)
                return -ENOMEM;
        req->http = h;
        req->callback = callback;
        req->userdata = userdata;
        req->easy = curl_easy_init();
        if (!req->easy) {
                request_free(req);
                return -ENOMEM;
        }

        if ((r = append_header(&req->headers, "Content-Type: application/json")) < 0 ||
            (r = append_header(&req->headers, "Accept: application/json")) < 0 ||
            (r = append_header(&req->headers, "Expect:")) < 0 ||
            (post->auth != HTTP_AUTH_NONE &&
             (r = append_auth(&req->headers, post->auth, post->secret ? post->secret : "")) < 0)) {
                request_free(req);
                return r;
        }

#define SET(opt, val)                                                                                                  \
        do {                                                                                                           \
                if (c == CURLE_OK)                                                                                     \
                        c = curl_easy_setopt(req->easy, opt, val);                                                     \
        } while (0)
        SET(CURLOPT_URL, post->url);
        SET(CURLOPT_PROTOCOLS_STR, post->allow_plain_http && post->auth == HTTP_AUTH_NONE ? "https,http" : "https");
        SET(CURLOPT_FOLLOWLOCATION, 0L); /* a redirect would carry the bearer elsewhere */
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        SET(CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
        if (h->ca_file)
                SET(CURLOPT_CAINFO, h->ca_file);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_NETRC, (long) CURL_NETRC_IGNORED);
        SET(CURLOPT_USERAGENT, "aicd/" AICD_VERSION);
        SET(CURLOPT_HTTPHEADER, req->headers);
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDSIZE, (long) strlen(json));
        SET(CURLOPT_COPYPOSTFIELDS, json);
        SET(CURLOPT_WRITEFUNCTION, on_write);
        SET(CURLOPT_WRITEDATA, req);
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) HTTP_BODY_MAX);
        SET(CURLOPT_TIMEOUT_MS, (long) (timeout / 1000));
        SET(CURLOPT_CONNECTTIMEOUT_MS, (long) (timeout / 1000 < 5000 ? timeout / 1000 : 5000));
        SET(CURLOPT_ERRORBUFFER, req->error);
        SET(CURLOPT_PRIVATE, req);
#undef SET
        if (c != CURLE_OK) {
                request_free(req);
                return errno_from_curl(c, false);
        }
        if (curl_multi_add_handle(h->multi, req->easy) != CURLM_OK) {
                request_free(req);
                return -ENOMEM;
        }
        req->next = h->requests;
        if (h->requests)
                h->requests->prev = req;
        h->requests = req;
        h->n_pending++;
        if (ret)
                *ret = req;
        return 0;
}
