/* SPDX-License-Identifier: MIT */
/*
 * Optional OpenTelemetry metrics export: OTLP/HTTP JSON to [telemetry]
 * otlp_endpoint, service name "aicd", the metrics of GetMetrics. Off when no
 * endpoint is configured or DO_NOT_TRACK=1.
 */
#pragma once

#include <stdint.h>

#include "audio.h"

typedef struct Manager Manager;
typedef struct Otel Otel;

typedef struct OtelSample {
        AudioMetrics audio;
        uint64_t token_refreshes, token_refresh_failures;
        uint64_t authorizations, authorization_failures;
        const char *api_key_hash; /* attribute api.key; NULL: left out */
        const char *version;
        uint64_t start_unix_nano, now_unix_nano;
} OtelSample;

/* *ret is NULL when the export is off. */
int otel_new(Manager *m, Otel **ret);
Otel *otel_free(Otel *o);
/* The OTLP JSON ExportMetricsServiceRequest for one sample. */
char *otel_metrics_body(const OtelSample *s);
