/* SPDX-License-Identifier: MIT */
/*
 * `aicctl metrics [--json]`: GetMetrics, in the daemon's order and under the
 * names of CONTRACT.md ("Metrics"), as a table or as one JSON object.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "aicctl.h"

#define METRICS_USAGE "aicctl metrics [--json]"

/* Metrics counted in seconds of audio get a unit in the table. */
static bool metric_is_seconds(const char *name) {
        return strcmp(name, "audio.processed") == 0 || strcmp(name, "processor.bypass") == 0 ||
               strcmp(name, "usage.disallowed") == 0;
}

/* One GetMetrics entry: numbers go to the table or the JSON object; values of
 * other types (a newer daemon) are skipped. */
static int metric_emit(const char *name, const char *signature, sd_bus_message *reply, void *userdata) {
        cJSON *json = userdata;
        double d = 0;
        uint64_t t = 0;
        bool is_double;
        int r;

        if (strcmp(signature, "d") != 0 && strcmp(signature, "t") != 0)
                return 0;
        is_double = signature[0] == 'd';
        r = sd_bus_message_read(reply, "v", signature, is_double ? (void *) &d : (void *) &t);
        if (r < 0)
                return r;
        if (json) {
                if (!cJSON_AddNumberToObject(json, name, is_double ? d : (double) t))
                        return -ENOMEM;
        } else if (is_double)
                printf("%-32s %14.3f%s\n", name, d, metric_is_seconds(name) ? " s" : "");
        else
                printf("%-32s %14llu\n", name, (unsigned long long) t);
        return 1;
}

int aicctl_metrics(int argc, char **argv) {
        sd_bus *bus = NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        cJSON *json = NULL;
        int want_json = 0, r;

        r = aicctl_parse_json_option(argc, argv, METRICS_USAGE, &want_json);
        if (r >= 0)
                return r;
        if (aicctl_bus_open(&bus) < 0)
                return AICCTL_EXIT_FAILURE;
        r = aicctl_bus_new_call(bus, NULL, "GetMetrics", &m);
        if (r >= 0)
                r = aicctl_bus_call(bus, m, "cannot read the metrics", &reply);
        if (r >= 0 && want_json && !(json = cJSON_CreateObject()))
                r = -ENOMEM;
        if (r >= 0) {
                r = aicctl_bus_read_dict(reply, metric_emit, json);
                if (r < 0)
                        fprintf(stderr, "aicctl: cannot read the metrics: %s\n",
                                r == -ENOMEM ? "out of memory" : "unexpected reply");
        }
        if (r >= 0 && json && (r = aicctl_print_json(json)) < 0)
                fprintf(stderr, "aicctl: out of memory\n");
        cJSON_Delete(json);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
        if (r < 0)
                return AICCTL_EXIT_FAILURE;
        return aicctl_finish_output();
}
