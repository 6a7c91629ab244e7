/* SPDX-License-Identifier: MIT */
/*
 * OTLP/HTTP JSON metrics export (opentelemetry-proto's JSON mapping: 64-bit
 * integers and timestamps as strings, cumulative sums). One request at a
 * time, every usage_interval_s; a failed export is dropped, the next one
 * carries the cumulative values anyway. The api_key is only ever sent as its
 * SHA-256.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"
#include "license-proto.h"
#include "log.h"
#include "manager.h"
#include "otel.h"

struct Otel {
        Manager *m;
        Http *http;
        char *url;
        sd_event_source *timer;
        HttpRequest *req;
        uint64_t start_unix_nano;
        bool failing;
};

static uint64_t unix_nano(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

static bool add_attribute(cJSON *attrs, const char *key, const char *value) {
        cJSON *a = cJSON_CreateObject(), *v;

        if (!a || !cJSON_AddItemToArray(attrs, a) || !cJSON_AddStringToObject(a, "key", key) ||
            !(v = cJSON_AddObjectToObject(a, "value")) || !cJSON_AddStringToObject(v, "stringValue", value))
                return false;
        return true;
}

static bool add_time(cJSON *o, const char *key, uint64_t ns) {
        char buf[32];

        snprintf(buf, sizeof(buf), "%" PRIu64, ns);
        return cJSON_AddStringToObject(o, key, buf) != NULL;
}

/* kind: 'd' double sum, 't' integer sum, 'g' double gauge, 'G' integer gauge. */
static bool add_metric(cJSON *metrics, const OtelSample *s, const char *name, const char *unit, char kind, double d,
                       uint64_t t) {
        bool sum = kind == 'd' || kind == 't', integer = kind == 't' || kind == 'G';
        cJSON *m = cJSON_CreateObject(), *data, *points, *p;
        char buf[32];

        if (!m || !cJSON_AddItemToArray(metrics, m) || !cJSON_AddStringToObject(m, "name", name) ||
            !cJSON_AddStringToObject(m, "unit", unit) || !(data = cJSON_AddObjectToObject(m, sum ? "sum" : "gauge")))
                return false;
        if (sum && (!cJSON_AddNumberToObject(data, "aggregationTemporality", 2) ||
                    !cJSON_AddBoolToObject(data, "isMonotonic", true)))
                return false;
        if (!(points = cJSON_AddArrayToObject(data, "dataPoints")) || !(p = cJSON_CreateObject()) ||
            !cJSON_AddItemToArray(points, p))
                return false;
        if ((sum && !add_time(p, "startTimeUnixNano", s->start_unix_nano)) ||
            !add_time(p, "timeUnixNano", s->now_unix_nano))
                return false;
        snprintf(buf, sizeof(buf), "%" PRIu64, t);
        return integer ? cJSON_AddStringToObject(p, "asInt", buf) != NULL
                       : cJSON_AddNumberToObject(p, "asDouble", d) != NULL;
}

char *otel_metrics_body(const OtelSample *s) {
        cJSON *root = cJSON_CreateObject(), *rms, *rm, *res, *attrs, *sms, *sm, *scope, *metrics;
        const AudioMetrics *a = &s->audio;
        char *out = NULL;

        if (!root || !(rms = cJSON_AddArrayToObject(root, "resourceMetrics")) || !(rm = cJSON_CreateObject()) ||
            !cJSON_AddItemToArray(rms, rm) || !(res = cJSON_AddObjectToObject(rm, "resource")) ||
            !(attrs = cJSON_AddArrayToObject(res, "attributes")) || !add_attribute(attrs, "service.name", "aicd") ||
            !add_attribute(attrs, "service.version", s->version) ||
            (s->api_key_hash && !add_attribute(attrs, "api.key", s->api_key_hash)) ||
            !(sms = cJSON_AddArrayToObject(rm, "scopeMetrics")) || !(sm = cJSON_CreateObject()) ||
            !cJSON_AddItemToArray(sms, sm) || !(scope = cJSON_AddObjectToObject(sm, "scope")) ||
            !cJSON_AddStringToObject(scope, "name", "aicd") || !cJSON_AddStringToObject(scope, "version", s->version) ||
            !(metrics = cJSON_AddArrayToObject(sm, "metrics")))
                goto out;
        if (!add_metric(metrics, s, "audio.processed", "s", 'd', a->processed_s, 0) ||
            !add_metric(metrics, s, "processor.bypass", "s", 'd', a->bypassed_s, 0) ||
            !add_metric(metrics, s, "usage.disallowed", "s", 'd', a->disallowed_s, 0) ||
            !add_metric(metrics, s, "processor.frames", "1", 't', 0, a->frames) ||
            !add_metric(metrics, s, "processor.xruns", "1", 't', 0, a->xruns) ||
            !add_metric(metrics, s, "processor.rtf", "1", 'g', a->rtf, 0) ||
            !add_metric(metrics, s, "processor.process_time_max_us", "us", 'G', 0, a->process_time_max_us) ||
            !add_metric(metrics, s, "token.refreshes", "1", 't', 0, s->token_refreshes) ||
            !add_metric(metrics, s, "token.refresh_failures", "1", 't', 0, s->token_refresh_failures) ||
            !add_metric(metrics, s, "license.authorizations", "1", 't', 0, s->authorizations) ||
            !add_metric(metrics, s, "license.authorization_failures", "1", 't', 0, s->authorization_failures))
                goto out;
        out = cJSON_PrintUnformatted(root);
out:
        cJSON_Delete(root);
        return out;
}

static void on_export_done(HttpRequest *req, const HttpResponse *resp, void *userdata) {
        Otel *o = userdata;

        (void) req;
        o->req = NULL;
        if (resp->error == 0 && resp->status >= 200 && resp->status < 300) {
                if (o->failing)
                        log_info("OpenTelemetry export works again");
                o->failing = false;
                return;
        }
        if (!o->failing) {
                char buf[128];

                if (resp->error < 0)
                        snprintf(buf, sizeof(buf), "%s", proto_strerror(resp->error));
                else
                        snprintf(buf, sizeof(buf), "HTTP status %ld", resp->status);
                log_warning("Failed to export metrics to %s: %s, ignoring", o->url, buf);
        }
        o->failing = true;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Otel *o = userdata;
        Manager *m = o->m;
        OtelSample sample = {
                .token_refreshes = m->token_refreshes,
                .token_refresh_failures = m->token_refresh_failures,
                .authorizations = m->authorizations,
                .authorization_failures = m->authorization_failures,
                .api_key_hash = license_api_key_hash(m->license),
                .version = AICD_VERSION,
                .start_unix_nano = o->start_unix_nano,
                .now_unix_nano = unix_nano(),
        };
        HttpPost post = {.url = o->url, .allow_plain_http = true};
        char *body;
        int r;

        sd_event_source_set_time(s, usec + (uint64_t) m->config.usage_interval_s * 1000000ULL);
        sd_event_source_set_enabled(s, SD_EVENT_ON);
        if (o->req)
                return 0;
        if (m->audio)
                audio_get_metrics(m->audio, &sample.audio);
        body = otel_metrics_body(&sample);
        if (!body)
                return 0;
        post.json = body;
        r = http_post(o->http, &post, on_export_done, o, &o->req);
        free(body);
        if (r < 0 && !o->failing) {
                log_warning("Failed to export metrics to %s: %s, ignoring", o->url, proto_strerror(r));
                o->failing = true;
        }
        return 0;
}

int otel_new(Manager *m, Otel **ret) {
        const char *endpoint = m->config.otlp_endpoint, *dnt = getenv("DO_NOT_TRACK");
        size_t n;
        Otel *o;
        int r;

        *ret = NULL;
        if (!endpoint || !endpoint[0])
                return 0;
        if (dnt && (strcmp(dnt, "1") == 0 || strcasecmp(dnt, "true") == 0)) {
                log_info("DO_NOT_TRACK is set: no OpenTelemetry export");
                return 0;
        }
        o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        o->m = m;
        o->start_unix_nano = unix_nano();
        /* A base URL gets the signal's path, as OTEL_EXPORTER_OTLP_ENDPOINT does. */
        n = strlen(endpoint);
        while (n > 0 && endpoint[n - 1] == '/')
                n--;
        if (n >= strlen("/v1/metrics") &&
            strncmp(endpoint + n - strlen("/v1/metrics"), "/v1/metrics", strlen("/v1/metrics")) == 0)
                r = asprintf(&o->url, "%.*s", (int) n, endpoint);
        else
                r = asprintf(&o->url, "%.*s/v1/metrics", (int) n, endpoint);
        if (r < 0) {
                o->url = NULL;
                otel_free(o);
                return -ENOMEM;
        }
        r = http_new(m->event, m->config.ca_file, &o->http);
        if (r >= 0)
                r = sd_event_add_time_relative(m->event, &o->timer, CLOCK_MONOTONIC,
                                               (uint64_t) m->config.usage_interval_s * 1000000ULL, 100 * 1000ULL,
                                               on_timer, o);
        if (r < 0) {
                otel_free(o);
                return r;
        }
        sd_event_source_set_enabled(o->timer, SD_EVENT_ON);
        log_info("Exporting metrics to %s every %u s", o->url, m->config.usage_interval_s);
        *ret = o;
        return 0;
}

Otel *otel_free(Otel *o) {
        if (!o)
                return NULL;
        o->timer = sd_event_source_disable_unref(o->timer);
        o->http = http_free(o->http);
        free(o->url);
        free(o);
        return NULL;
}
