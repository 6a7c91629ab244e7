/* SPDX-License-Identifier: MIT */
/*
 * `aicctl status [--json]`: every property of org.aicd.Aicd1 from one GetAll
 * call, for people (aligned lines) or for scripts (one JSON object).
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "aicctl.h"

#define STATUS_USAGE "aicctl status [--json]"

typedef struct Status {
        const char *state, *model, *credential_kind, *input_node, *source_node, *input_target;
        uint32_t sample_rate;
        uint64_t latency_usec, credential_expires_at;
        int bypass;
        double level;
} Status;

/* Property name, D-Bus type, where it goes, and its key in --json output. */
static const AicctlField status_fields[] = {
        {"State", 's', offsetof(Status, state), "state"},
        {"Model", 's', offsetof(Status, model), "model"},
        {"SampleRate", 'u', offsetof(Status, sample_rate), "sample_rate"},
        {"LatencyUsec", 't', offsetof(Status, latency_usec), "latency_usec"},
        {"CredentialKind", 's', offsetof(Status, credential_kind), "credential_kind"},
        {"CredentialExpiresAt", 't', offsetof(Status, credential_expires_at), "credential_expires_at"},
        {"InputNode", 's', offsetof(Status, input_node), "input_node"},
        {"SourceNode", 's', offsetof(Status, source_node), "source_node"},
        {"Bypass", 'b', offsetof(Status, bypass), "bypass"},
        {"EnhancementLevel", 'd', offsetof(Status, level), "enhancement_level"},
        {"InputTarget", 's', offsetof(Status, input_target), "input_target"},
};

/* Reads GetAll's a{sv}; properties this aicctl does not know are skipped. */
static int status_parse(sd_bus_message *reply, Status *ret) {
        Status s = {.state = "",
                    .model = "",
                    .credential_kind = "",
                    .input_node = "",
                    .source_node = "",
                    .input_target = ""};
        int r;

        r = aicctl_bus_read_fields(reply, status_fields, sizeof(status_fields) / sizeof(status_fields[0]), &s);
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}

static int status_print_json(const Status *s) {
        cJSON *o = cJSON_CreateObject();
        int r;

        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < sizeof(status_fields) / sizeof(status_fields[0]); i++) {
                const void *p = (const char *) s + status_fields[i].offset;
                const char *key = status_fields[i].json;
                cJSON *v;

                switch (status_fields[i].type) {
                case 's':
                        v = cJSON_AddStringToObject(o, key, *(const char *const *) p);
                        break;
                case 'b':
                        v = cJSON_AddBoolToObject(o, key, *(const int *) p);
                        break;
                case 'u':
                        v = cJSON_AddNumberToObject(o, key, *(const uint32_t *) p);
                        break;
                case 't':
                        v = cJSON_AddNumberToObject(o, key, (double) *(const uint64_t *) p);
                        break;
                default:
                        v = cJSON_AddNumberToObject(o, key, *(const double *) p);
                        break;
                }
                if (!v) {
                        cJSON_Delete(o);
                        return -ENOMEM;
                }
        }
        r = aicctl_print_json(o);
        cJSON_Delete(o);
        return r;
}

static void status_print_human(const Status *s) {
        printf("       State: %s\n", s->state);
        printf("   Clean Mic: %s\n", s->source_node[0] ? s->source_node : "(none)");
        printf("       Input: %s\n", s->input_node[0] ? s->input_node : "(none connected)");
        printf("Input target: %s\n", s->input_target[0] ? s->input_target : "default microphone");
        printf("       Model: %s\n", s->model);
        printf(" Sample rate: %u Hz\n", (unsigned) s->sample_rate);
        printf("     Latency: %.1f ms\n", (double) s->latency_usec / 1000.0);
        printf("      Bypass: %s\n", s->bypass ? "on" : "off");
        printf("       Level: %.2f\n", s->level);
        if (s->credential_expires_at > 0) {
                time_t t = (time_t) s->credential_expires_at;
                struct tm tm;
                char when[64];

                if (localtime_r(&t, &tm) && strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %Z", &tm) > 0)
                        printf("  Credential: %s, expires %s\n", s->credential_kind, when);
                else
                        printf("  Credential: %s, expires at %llu\n", s->credential_kind,
                               (unsigned long long) s->credential_expires_at);
        } else
                printf("  Credential: %s\n", s->credential_kind);
}

int aicctl_status(int argc, char **argv) {
        sd_bus *bus = NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        Status s;
        int json = 0, r;

        r = aicctl_parse_json_option(argc, argv, STATUS_USAGE, &json);
        if (r >= 0)
                return r;
        if (aicctl_bus_open(&bus) < 0)
                return AICCTL_EXIT_FAILURE;
        r = aicctl_bus_new_call(bus, "org.freedesktop.DBus.Properties", "GetAll", &m);
        if (r >= 0 && (r = sd_bus_message_append(m, "s", "org.aicd.Aicd1")) < 0)
                fprintf(stderr, "aicctl: cannot build a D-Bus call: %s\n", strerror(-r));
        if (r >= 0)
                r = aicctl_bus_call(bus, m, "cannot read the status", &reply);
        if (r >= 0) {
                r = status_parse(reply, &s);
                if (r < 0)
                        fprintf(stderr, "aicctl: cannot read the status: unexpected reply (%s)\n", strerror(-r));
        }
        if (r >= 0) {
                if (json) {
                        r = status_print_json(&s);
                        if (r < 0)
                                fprintf(stderr, "aicctl: out of memory\n");
                } else
                        status_print_human(&s);
        }
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
        if (r < 0)
                return AICCTL_EXIT_FAILURE;
        return aicctl_finish_output();
}
