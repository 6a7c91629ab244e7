/* SPDX-License-Identifier: MIT */
/*
 * The credential's life cycle. Three independent loops, each one request at
 * a time and each on its own timer:
 *   - tokens (mint, token-url): fetch, install, fetch again at
 *     proto_refresh_at(); failures back off with jitter and never give up;
 *   - authorization (backend_url): authorize each new credential, renew before
 *     valid_until; an outage keeps the last yes until valid_until;
 *   - usage (backend_url): report what was processed every usage_interval_s;
 *     reports failing for LICENSE_USAGE_GRACE_S stop enhancement.
 * Wall-clock deadlines (exp, valid_until) use CLOCK_REALTIME timers, retry
 * delays CLOCK_MONOTONIC. Secrets go to http.c and the engine only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "license-proto.h"
#include "license.h"
#include "log.h"
#include "manager.h"

#define SECRET_FILE_MAX 16384
#define LICENSE_DEFAULT_TOKEN_URL "https://api.ai-coustics.io/v1/sdk/tokens"
#define streq(a, b) (strcmp((a), (b)) == 0)
#define USEC_PER_SEC 1000000ULL
#define RETRY_BASE_USEC (1 * USEC_PER_SEC)
#define RETRY_CAP_MAX_USEC (60 * USEC_PER_SEC)
#define TIMER_ACCURACY_USEC (50 * 1000ULL)

struct License {
        Manager *m;
        Http *http;
        bool started;

        /* Token source: mint and token-url. */
        char *key;     /* license key to mint from (secret) */
        char *api_key; /* from the license key (secret) */
        char api_key_hash[65];
        bool has_api_key_hash;
        HttpRequest *token_req;
        sd_event_source *token_timer;
        unsigned token_attempt;
        bool token_active;

        /* The installed credential's deadlines. */
        sd_event_source *expiring_timer, *expiry_timer;

        /* Authorization. */
        LicenseVerdict verdict;
        int64_t valid_until;
        HttpRequest *auth_req;
        sd_event_source *auth_timer, *lapse_timer;
        unsigned auth_attempt;

        /* Usage reports. */
        HttpRequest *usage_req;
        sd_event_source *usage_timer;
        AudioMetrics reported;  /* totals the backend has acknowledged */
        AudioMetrics in_flight; /* totals in the report being sent */
        uint64_t usage_ok_usec; /* CLOCK_MONOTONIC of the last acknowledged report */
        uint64_t usage_grace_usec;
        bool usage_lapsed;
        bool usage_failing;
};

void erase_free(char *s) {
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

/* Only modes other than none talk to the network (they alone get a client). */
static bool has_backend(const License *l) {
        return l->http && l->m->config.backend_url && l->m->config.backend_url[0];
}

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000ULL;
}

static int64_t now_s(void) {
        return (int64_t) time(NULL);
}

static uint32_t random_u32(void) {
        uint32_t u = 0;

        if (getrandom(&u, sizeof(u), GRND_NONBLOCK) != sizeof(u))
                u = (uint32_t) now_usec(CLOCK_MONOTONIC);
        return u;
}

/* Retries never wait longer than the refresh margin, so several fit between
 * a token's refresh time and its expiry. */
static uint64_t retry_cap_usec(const License *l) {
        uint64_t cap = (uint64_t) l->m->config.refresh_margin_s * USEC_PER_SEC;

        if (cap < 2 * RETRY_BASE_USEC)
                cap = 2 * RETRY_BASE_USEC;
        return cap < RETRY_CAP_MAX_USEC ? cap : RETRY_CAP_MAX_USEC;
}

static uint64_t retry_delay(License *l, unsigned *attempt, int64_t retry_after_s) {
        uint64_t cap = retry_cap_usec(l), d = proto_backoff_usec(*attempt, RETRY_BASE_USEC, cap, random_u32());

        if (*attempt < 64)
                (*attempt)++;
        /* A server asking for more time gets it, within the same cap. */
        if (retry_after_s > 0 && (uint64_t) retry_after_s * USEC_PER_SEC > d)
                d = (uint64_t) retry_after_s * USEC_PER_SEC < cap ? (uint64_t) retry_after_s * USEC_PER_SEC : cap;
        return d;
}

/* Arms (or re-arms) a one-shot timer at an absolute time on `clock`. */
static int timer_at(License *l, sd_event_source **s, clockid_t clock, uint64_t usec, sd_event_time_handler_t cb,
                    const char *name) {
        int r;

        if (*s) {
                clockid_t c;

                if (sd_event_source_get_time_clock(*s, &c) >= 0 && c == clock &&
                    sd_event_source_set_time(*s, usec) >= 0 && sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT) >= 0)
                        return 0;
                *s = sd_event_source_disable_unref(*s);
        }
        r = sd_event_add_time(l->m->event, s, clock, usec, TIMER_ACCURACY_USEC, cb, l);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the %s timer: %m", name);
        sd_event_source_set_description(*s, name);
        return 0;
}

static int timer_in(License *l, sd_event_source **s, uint64_t delay_usec, sd_event_time_handler_t cb,
                    const char *name) {
        return timer_at(l, s, CLOCK_MONOTONIC, now_usec(CLOCK_MONOTONIC) + delay_usec, cb, name);
}

static void timer_off(sd_event_source **s) {
        *s = sd_event_source_disable_unref(*s);
}

static char *backend_url(const License *l, const char *path) {
        const char *base = l->m->config.backend_url;
        size_t n = strlen(base);
        char *url;

        while (n > 0 && base[n - 1] == '/')
                n--;
        if (asprintf(&url, "%.*s%s", (int) n, base, path) < 0)
                return NULL;
        return url;
}

/* "HTTP 503" or the transport error, for log lines. */
static const char *describe(const HttpResponse *resp, char *buf, size_t n) {
        if (resp->error < 0)
                snprintf(buf, n, "%s (%s)", proto_strerror(resp->error), resp->error_detail ? resp->error_detail : "");
        else
                snprintf(buf, n, "HTTP status %ld", resp->status);
        return buf;
}

int license_read_secret_file(const char *path, char **ret) {
        struct stat st;
        char *buf;
        ssize_t n;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode) || (st.st_mode & 0077) != 0 || st.st_size > SECRET_FILE_MAX) {
                close(fd);
                return !S_ISREG(st.st_mode) ? -EINVAL : (st.st_mode & 0077) ? -EPERM : -EFBIG;
        }
        buf = calloc(1, (size_t) st.st_size + 1);
        if (!buf) {
                close(fd);
                return -ENOMEM;
        }
        n = read(fd, buf, (size_t) st.st_size);
        close(fd);
        if (n < 0) {
                erase_free(buf);
                return -EIO;
        }
        buf[strcspn(buf, "\r\n")] = '\0';
        if (buf[0] == '\0') {
                free(buf);
                return -ENODATA;
        }
        *ret = buf;
        return 0;
}

static int read_secret_logged(const char *path, const char *what, char **ret) {
        int r = license_read_secret_file(path, ret);

        if (r == -EPERM)
                log_error("%s %s is readable by group or others; refusing it (chmod 600)", what, path);
        else if (r == -ENODATA)
                log_error("%s %s is empty", what, path);
        else if (r < 0)
                log_error_errno(r, "Failed to read %s %s: %m", what, path);
        return r;
}

/* The license key from key_file, else $AIC_SDK_LICENSE. */
static int load_key(License *l, char **ret) {
        const char *env;

        if (l->m->config.key_file)
                return read_secret_logged(l->m->config.key_file, "License key file", ret);
        env = getenv("AIC_SDK_LICENSE");
        if (env && env[0]) {
                *ret = strdup(env);
                return *ret ? 0 : -ENOMEM;
        }
        log_error("[license] mode = %s needs a license key: set key_file or $AIC_SDK_LICENSE",
                  license_mode_to_string(l->m->config.license_mode));
        return -ENOKEY;
}

static void remember_api_key(License *l, const char *license, bool keep) {
        char *api_key = NULL;

        erase_free(l->api_key);
        l->api_key = NULL;
        l->has_api_key_hash = false;
        if (proto_license_api_key(license, &api_key) < 0)
                return;
        l->has_api_key_hash = proto_api_key_hash(api_key, l->api_key_hash) >= 0;
        if (keep)
                l->api_key = api_key;
        else
                erase_free(api_key);
}

/* --- tokens --- */

static void token_fetch(License *l);

static int on_token_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s, (void) usec;
        token_fetch(userdata);
        return 0;
}

static void token_failed(License *l, const char *why, int64_t retry_after_s, bool rejected) {
        uint64_t delay;

        l->m->token_refresh_failures++;
        delay = rejected ? retry_cap_usec(l) : retry_delay(l, &l->token_attempt, retry_after_s);
        log_warning("Failed to obtain a token from %s: %s; retrying in %.1f s", l->m->config.token_url, why,
                    (double) delay / USEC_PER_SEC);
        timer_in(l, &l->token_timer, delay, on_token_timer, "token-retry");
}

static void on_token_done(HttpRequest *req, const HttpResponse *resp, void *userdata) {
        License *l = userdata;
        char buf[256], *token = NULL;
        int64_t expires_at = 0;
        enum aic_error e;
        int r;

        (void) req;
        l->token_req = NULL;
        if (resp->error < 0 || resp->status != 200) {
                bool rejected = resp->error == 0 && (resp->status == 401 || resp->status == 403);

                if (rejected)
                        log_error("The token service refused the %s (HTTP %ld)",
                                  l->m->config.license_mode == LICENSE_MODE_MINT ? "license's api_key"
                                                                                 : "token_auth_file credential",
                                  resp->status);
                token_failed(l, describe(resp, buf, sizeof(buf)), resp->retry_after_s, rejected);
                return;
        }
        r = proto_parse_token(resp->content_type, resp->body, resp->body_len, &token, &expires_at);
        if (r < 0) {
                token_failed(l, proto_strerror(r), -1, false);
                return;
        }
        e = manager_install_credential(l->m, token, l->m->credential_kind != 2);
        erase_free(token);
        if (e != AIC_ERROR_SUCCESS) {
                snprintf(buf, sizeof(buf), "%s (%s)", proto_strerror(-EKEYREJECTED), aic_error_name(e));
                token_failed(l, buf, -1, false);
                return;
        }
        l->token_attempt = 0;
        l->m->token_refreshes++;
        log_info("Obtained a token valid until %lld", (long long) l->m->credential_expires_at);
        /* license_credential_installed() scheduled the next refresh. */
}

static void token_fetch(License *l) {
        HttpPost post = {.url = l->m->config.token_url, .json = "{}"};
        char *auth = NULL;
        int r;

        timer_off(&l->token_timer);
        if (!l->token_active || l->token_req)
                return;
        if (l->m->config.license_mode == LICENSE_MODE_MINT) {
                post.auth = HTTP_AUTH_BASIC;
                post.secret = l->api_key;
        } else {
                if (!l->m->config.token_auth_file) {
                        log_error("[license] mode = token-url needs token_auth_file");
                        return;
                }
                /* Read every time, so the file can be rotated in place. */
                if (read_secret_logged(l->m->config.token_auth_file, "Token auth file", &auth) < 0) {
                        token_failed(l, "no credential for the token service", -1, false);
                        return;
                }
                post.auth = HTTP_AUTH_BEARER;
                post.secret = auth;
        }
        r = http_post(l->http, &post, on_token_done, l, &l->token_req);
        erase_free(auth);
        if (r < 0)
                token_failed(l, proto_strerror(r), -1, r == -EPROTONOSUPPORT);
}

/* --- deadlines of the installed credential --- */

static int on_expiring(sd_event_source *s, uint64_t usec, void *userdata) {
        License *l = userdata;

        (void) s, (void) usec;
        log_info("The credential expires at %lld", (long long) l->m->credential_expires_at);
        manager_emit_credential_expiring(l->m, (uint64_t) l->m->credential_expires_at);
        return 0;
}

static int on_expiry(sd_event_source *s, uint64_t usec, void *userdata) {
        License *l = userdata;

        (void) s, (void) usec;
        log_warning("The credential has expired; audio passes through unprocessed until a fresh one arrives");
        manager_update_gate(l->m);
        return 0;
}

/* --- authorization --- */

static void authorize(License *l);
static void usage_send(License *l);

static int on_auth_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s, (void) usec;
        authorize(userdata);
        return 0;
}

static void set_verdict(License *l, LicenseVerdict v) {
        if (l->verdict == v)
                return;
        l->verdict = v;
        manager_update_gate(l->m);
}

static int on_lapse(sd_event_source *s, uint64_t usec, void *userdata) {
        License *l = userdata;

        (void) s, (void) usec;
        if (l->verdict == LICENSE_VERDICT_ALLOWED && now_s() >= l->valid_until) {
                log_warning("The backend's authorization ran out without renewal; audio passes through unprocessed");
                set_verdict(l, LICENSE_VERDICT_LAPSED);
        }
        return 0;
}

static void auth_failed(License *l, const char *why, int64_t retry_after_s) {
        uint64_t delay = retry_delay(l, &l->auth_attempt, retry_after_s);

        l->m->authorization_failures++;
        log_warning("Failed to get an authorization from the backend: %s; retrying in %.1f s", why,
                    (double) delay / USEC_PER_SEC);
        timer_in(l, &l->auth_timer, delay, on_auth_timer, "auth-retry");
}

static void auth_refused(License *l, const char *why) {
        l->m->authorization_failures++;
        l->auth_attempt = 0;
        if (l->verdict != LICENSE_VERDICT_DENIED)
                log_error("The backend refused this credential (%s); audio passes through unprocessed", why);
        set_verdict(l, LICENSE_VERDICT_DENIED);
        timer_off(&l->lapse_timer);
        /* A revocation may be lifted: ask again now and then. */
        timer_in(l, &l->auth_timer, retry_cap_usec(l), on_auth_timer, "auth-recheck");
}

static void on_auth_done(HttpRequest *req, const HttpResponse *resp, void *userdata) {
        License *l = userdata;
        bool authorized = false;
        int64_t until = 0, now = now_s();
        char buf[256];
        int r;

        (void) req;
        l->auth_req = NULL;
        if (resp->error == 0 && (resp->status == 401 || resp->status == 403)) {
                snprintf(buf, sizeof(buf), "HTTP %ld: revoked or unauthorized", resp->status);
                auth_refused(l, buf);
                return;
        }
        if (resp->error < 0 || resp->status != 200) {
                auth_failed(l, describe(resp, buf, sizeof(buf)), resp->retry_after_s);
                return;
        }
        r = proto_parse_authorization(resp->content_type, resp->body, resp->body_len, &authorized, &until);
        if (r < 0) {
                auth_failed(l, proto_strerror(r), -1);
                return;
        }
        if (!authorized) {
                auth_refused(l, "authorized: false");
                return;
        }
        if (until <= now) {
                auth_failed(l, "valid_until lies in the past", -1);
                return;
        }
        l->m->authorizations++;
        l->auth_attempt = 0;
        l->valid_until = until;
        if (l->verdict != LICENSE_VERDICT_ALLOWED)
                log_info("The backend authorized this credential until %lld", (long long) until);
        set_verdict(l, l->usage_lapsed ? LICENSE_VERDICT_USAGE_LAPSED : LICENSE_VERDICT_ALLOWED);
        timer_at(l, &l->lapse_timer, CLOCK_REALTIME, (uint64_t) until * USEC_PER_SEC, on_lapse, "auth-lapse");
        timer_at(l, &l->auth_timer, CLOCK_REALTIME,
                 (uint64_t) proto_refresh_at(now, until, l->m->config.refresh_margin_s) * USEC_PER_SEC, on_auth_timer,
                 "auth-renew");
        /* Back after an outage: clear a usage lapse at once, not an interval later. */
        if (l->usage_lapsed)
                usage_send(l);
}

static void authorize(License *l) {
        HttpPost post = {.auth = HTTP_AUTH_BEARER};
        struct utsname u;
        char *url, *body;
        int r;

        timer_off(&l->auth_timer);
        if (!has_backend(l) || !l->m->credential || l->auth_req)
                return;
        if (uname(&u) < 0)
                snprintf(u.machine, sizeof(u.machine), "unknown");
        url = backend_url(l, "/v1/sdk/authorize");
        body = proto_authorize_body(aic_get_sdk_version(), aic_model_get_id(l->m->model), "linux", u.machine);
        if (!url || !body) {
                free(url);
                free(body);
                auth_failed(l, "out of memory", -1);
                return;
        }
        post.url = url;
        post.secret = l->m->credential;
        post.json = body;
        r = http_post(l->http, &post, on_auth_done, l, &l->auth_req);
        free(url);
        free(body);
        if (r < 0)
                auth_failed(l, proto_strerror(r), -1);
}

/* --- usage --- */

static int on_usage_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void usage_check_lapse(License *l) {
        if (l->usage_lapsed || now_usec(CLOCK_MONOTONIC) - l->usage_ok_usec <= l->usage_grace_usec)
                return;
        log_warning(
                "Usage reports have failed for more than %llu s; audio passes through unprocessed until one succeeds",
                (unsigned long long) (l->usage_grace_usec / USEC_PER_SEC));
        l->usage_lapsed = true;
        if (l->verdict == LICENSE_VERDICT_ALLOWED)
                set_verdict(l, LICENSE_VERDICT_USAGE_LAPSED);
}

static void on_usage_done(HttpRequest *req, const HttpResponse *resp, void *userdata) {
        License *l = userdata;
        char buf[256];

        (void) req;
        l->usage_req = NULL;
        if (resp->error == 0 && resp->status >= 200 && resp->status < 300) {
                l->reported = l->in_flight;
                l->usage_ok_usec = now_usec(CLOCK_MONOTONIC);
                if (l->usage_failing)
                        log_info("Usage reports are accepted again");
                l->usage_failing = false;
                if (l->usage_lapsed) {
                        l->usage_lapsed = false;
                        if (l->verdict == LICENSE_VERDICT_USAGE_LAPSED)
                                set_verdict(l, LICENSE_VERDICT_ALLOWED);
                }
                return;
        }
        if (!l->usage_failing)
                log_warning("Failed to send a usage report: %s; trying again every %u s",
                            describe(resp, buf, sizeof(buf)), l->m->config.usage_interval_s);
        else
                log_debug("Failed to send a usage report: %s", describe(resp, buf, sizeof(buf)));
        l->usage_failing = true;
        if (resp->error == 0 && (resp->status == 401 || resp->status == 403) && !l->auth_req)
                authorize(l); /* maybe revoked: find out now */
        usage_check_lapse(l);
}

static void usage_send(License *l) {
        HttpPost post = {.auth = HTTP_AUTH_BEARER};
        AudioMetrics now = {};
        ProtoUsage u;
        char *url, *body;
        int r;

        if (!has_backend(l) || !l->m->credential || l->usage_req)
                return;
        if (l->m->audio)
                audio_get_metrics(l->m->audio, &now);
        /* What the backend has not acknowledged yet: nothing is lost or
         * counted twice when a report fails. Counters restart with a new
         * audio object; never report negative time. */
        if (now.processed_s < l->reported.processed_s || now.bypassed_s < l->reported.bypassed_s ||
            now.disallowed_s < l->reported.disallowed_s)
                l->reported = (AudioMetrics) {};
        u = (ProtoUsage) {
                .seconds_processed = now.processed_s - l->reported.processed_s,
                .seconds_bypassed = now.bypassed_s - l->reported.bypassed_s,
                .seconds_disallowed = now.disallowed_s - l->reported.disallowed_s,
                .model_id = aic_model_get_id(l->m->model),
                .sdk_version = aic_get_sdk_version(),
        };
        url = backend_url(l, "/v1/sdk/usage");
        body = proto_usage_body(&u);
        if (!url || !body) {
                free(url);
                free(body);
                return;
        }
        post.url = url;
        post.secret = l->m->credential;
        post.json = body;
        l->in_flight = now;
        r = http_post(l->http, &post, on_usage_done, l, &l->usage_req);
        free(url);
        free(body);
        if (r < 0)
                log_warning("Failed to send a usage report: %s", proto_strerror(r));
}

static int on_usage_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        License *l = userdata;

        (void) s, (void) usec;
        timer_in(l, &l->usage_timer, (uint64_t) l->m->config.usage_interval_s * USEC_PER_SEC, on_usage_timer, "usage");
        usage_check_lapse(l);
        usage_send(l);
        return 0;
}

/* --- the manager's side --- */

void license_credential_installed(License *l, bool new_identity) {
        Manager *m = l->m;
        int64_t exp = m->credential_expires_at, now = now_s();

        timer_off(&l->expiring_timer);
        timer_off(&l->expiry_timer);
        if (exp > 0) {
                int64_t warn = exp - (int64_t) m->config.refresh_margin_s;

                timer_at(l, &l->expiring_timer, CLOCK_REALTIME, (uint64_t) (warn > now ? warn : now) * USEC_PER_SEC,
                         on_expiring, "credential-expiring");
                timer_at(l, &l->expiry_timer, CLOCK_REALTIME, (uint64_t) exp * USEC_PER_SEC, on_expiry,
                         "credential-expiry");
        }
        if (l->token_active && !l->token_req && m->credential_kind == 2 && exp > 0)
                timer_at(l, &l->token_timer, CLOCK_REALTIME,
                         (uint64_t) proto_refresh_at(now, exp, m->config.refresh_margin_s) * USEC_PER_SEC,
                         on_token_timer, "token-refresh");

        if (has_backend(l)) {
                if (new_identity) {
                        l->auth_req = http_request_cancel(l->auth_req);
                        timer_off(&l->lapse_timer);
                        l->auth_attempt = 0;
                        l->verdict = LICENSE_VERDICT_PENDING;
                }
                /* A fresher token may succeed where the last one failed. */
                if (l->verdict != LICENSE_VERDICT_ALLOWED && l->verdict != LICENSE_VERDICT_USAGE_LAPSED)
                        authorize(l);
                if (!l->usage_timer) {
                        l->usage_ok_usec = now_usec(CLOCK_MONOTONIC);
                        timer_in(l, &l->usage_timer, (uint64_t) m->config.usage_interval_s * USEC_PER_SEC,
                                 on_usage_timer, "usage");
                } else if (l->usage_lapsed)
                        usage_send(l); /* the stale bearer may have been why reports failed */
        }
        manager_update_gate(m);
}

void license_credential_cleared(License *l) {
        timer_off(&l->expiring_timer);
        timer_off(&l->expiry_timer);
        timer_off(&l->token_timer);
        timer_off(&l->auth_timer);
        timer_off(&l->lapse_timer);
        timer_off(&l->usage_timer);
        l->token_req = http_request_cancel(l->token_req);
        l->auth_req = http_request_cancel(l->auth_req);
        l->usage_req = http_request_cancel(l->usage_req);
        l->token_active = false;
        l->verdict = has_backend(l) ? LICENSE_VERDICT_PENDING : LICENSE_VERDICT_ALLOWED;
        l->usage_lapsed = false;
        manager_update_gate(l->m);
}

LicenseVerdict license_verdict(const License *l) {
        return l ? l->verdict : LICENSE_VERDICT_ALLOWED;
}

const char *license_api_key_hash(const License *l) {
        return l && l->has_api_key_hash ? l->api_key_hash : NULL;
}

/* A license key for mint mode: well-formed, unexpired, with an api_key. */
static enum aic_error mint_key_check(License *l, const char *key) {
        int kind = 0;
        int64_t exp = 0;
        enum aic_error e;

        if (l->m->issuer_key_broken)
                return AIC_ERROR_LICENSE_FORMAT_INVALID;
        e = aic_credential_inspect(key, &kind, &exp);
        if (e != AIC_ERROR_SUCCESS)
                return e;
        if (kind != 1)
                return AIC_ERROR_LICENSE_FORMAT_INVALID;
        return AIC_ERROR_SUCCESS;
}

static void mint_start(License *l, const char *key) {
        char *copy = strdup(key);

        if (!copy)
                return;
        erase_free(l->key);
        l->key = copy;
        remember_api_key(l, key, true);
        if (!l->api_key) {
                log_error("The license key holds no api_key to mint tokens with");
                return;
        }
        l->token_active = true;
        l->token_attempt = 0;
        l->token_req = http_request_cancel(l->token_req);
        token_fetch(l);
}

int license_set_mint_key(License *l, const char *key) {
        enum aic_error e = mint_key_check(l, key);

        if (e != AIC_ERROR_SUCCESS)
                return e;
        mint_start(l, key);
        return l->token_active ? AIC_ERROR_SUCCESS : AIC_ERROR_LICENSE_FORMAT_INVALID;
}

/* Loads what the mode needs from the configuration. Unchanged keys and
 * running token loops are left alone, so a reload causes no gap. */
static void load_configured(License *l) {
        Manager *m = l->m;
        char *key = NULL;
        enum aic_error e;

        switch (m->config.license_mode) {
        case LICENSE_MODE_LICENSE:
                if (load_key(l, &key) < 0)
                        break;
                remember_api_key(l, key, false);
                e = manager_install_credential(m, key, true);
                if (e != AIC_ERROR_SUCCESS)
                        log_error("The configured license key is not valid (%s); audio passes through unprocessed",
                                  aic_error_message(e));
                break;
        case LICENSE_MODE_MINT:
                if (load_key(l, &key) < 0)
                        break;
                if (l->token_active && l->key && strcmp(l->key, key) == 0)
                        break;
                e = mint_key_check(l, key);
                if (e != AIC_ERROR_SUCCESS) {
                        log_error(
                                "The configured license key cannot mint tokens (%s); audio passes through unprocessed",
                                aic_error_message(e));
                        break;
                }
                mint_start(l, key);
                break;
        case LICENSE_MODE_TOKEN_URL:
                if (l->token_active)
                        break;
                /* The organisation's bearer must never go to anyone else's
                 * token endpoint, the default one included. */
                if (streq(m->config.token_url, LICENSE_DEFAULT_TOKEN_URL)) {
                        log_error("[license] mode = token-url needs token_url = the organisation's token service");
                        break;
                }
                l->token_active = true;
                token_fetch(l);
                break;
        case LICENSE_MODE_PUSH:
                if (!m->credential)
                        log_info("Waiting for a token over D-Bus (UpdateBearerToken)");
                break;
        case LICENSE_MODE_NONE:
                break;
        }
        erase_free(key);
        manager_update_gate(m);
}

void license_start(License *l) {
        if (l->started)
                return;
        l->started = true;
        load_configured(l);
}

void license_reload(License *l) {
        if (l->started)
                load_configured(l);
}

int license_new(Manager *m, License **ret) {
        const char *grace = getenv("AICD_TEST_USAGE_GRACE_S");
        License *l;
        int r;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->m = m;
        l->usage_grace_usec = LICENSE_USAGE_GRACE_S * USEC_PER_SEC;
        /* For tests only: waiting five minutes for the usage rule is not a test. */
        if (grace && grace[0]) {
                char *end;
                unsigned long v = strtoul(grace, &end, 10);

                if (*end == '\0' && v >= 1 && v <= LICENSE_USAGE_GRACE_S) {
                        l->usage_grace_usec = (uint64_t) v * USEC_PER_SEC;
                        log_warning("AICD_TEST_USAGE_GRACE_S=%lu: usage reports may fail for only %lu s (tests only)",
                                    v, v);
                }
        }
        if (m->config.license_mode != LICENSE_MODE_NONE) {
                r = http_new(m->event, m->config.ca_file, &l->http);
                if (r < 0) {
                        license_free(l);
                        return r;
                }
        }
        l->verdict = has_backend(l) ? LICENSE_VERDICT_PENDING : LICENSE_VERDICT_ALLOWED;
        *ret = l;
        return 0;
}

License *license_free(License *l) {
        if (!l)
                return NULL;
        timer_off(&l->expiring_timer);
        timer_off(&l->expiry_timer);
        timer_off(&l->token_timer);
        timer_off(&l->auth_timer);
        timer_off(&l->lapse_timer);
        timer_off(&l->usage_timer);
        /* Freeing the client cancels every request without callbacks. */
        l->http = http_free(l->http);
        erase_free(l->key);
        erase_free(l->api_key);
        explicit_bzero(l->api_key_hash, sizeof(l->api_key_hash));
        free(l);
        return NULL;
}
