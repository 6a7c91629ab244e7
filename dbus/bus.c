/* SPDX-License-Identifier: MIT */
/*
 * org.aicd.Aicd1 on the session bus (CONTRACT.md, "D-Bus interface"): one
 * vtable, standard Properties, errors mapped from the engine's error codes,
 * PropertiesChanged for exactly what changed, coalesced on the main loop.
 * Credentials are write-only: nothing here ever returns or logs one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "log.h"
#include "manager.h"
#include "model-path.h"

#define BUS_NAME "org.aicd.Aicd1"
#define BUS_PATH "/org/aicd/Aicd1"
#define BUS_INTERFACE "org.aicd.Aicd1"
#define BUS_SECRET_MAX 16384
#define BUS_NODE_NAME_MAX 255
/* How often the main loop looks at what the real-time thread changed (the
 * licensing gate, and with it State) while the Clean Mic is recorded. */
#define BUS_POLL_USEC (200 * 1000ULL)

/* What PropertiesChanged last announced, and the timer that lets the main
 * loop notice what the real-time thread changed. aicd has exactly one
 * Manager and one bus; the timer is floating (owned by the event loop). */
static struct {
        bool announced;
        char model[256];
        char credential_kind[16];
        uint64_t credential_expires_at;
        bool bypass;
        double level;
        char input_target[BUS_NODE_NAME_MAX + 1];
        sd_event_source *poll;
} bus_cache;

static int bus_error_from_aic(sd_bus_error *error, enum aic_error e) {
        switch (e) {
        case AIC_ERROR_LICENSE_FORMAT_INVALID:
                return sd_bus_error_set(error, "org.aicd.Error.LicenseFormatInvalid",
                                        "The credential is malformed or its signature does not verify");
        case AIC_ERROR_LICENSE_VERSION_UNSUPPORTED:
                return sd_bus_error_set(error, "org.aicd.Error.LicenseVersionUnsupported",
                                        "The license key's version is not supported");
        case AIC_ERROR_LICENSE_EXPIRED:
                return sd_bus_error_set(error, "org.aicd.Error.LicenseExpired", "The credential has expired");
        case AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED:
                return sd_bus_error_set(error, "org.aicd.Error.TokenUpdateUnsupported",
                                        "A bearer token can only replace a token (JWT) credential");
        case AIC_ERROR_ENHANCEMENT_NOT_ALLOWED:
                return sd_bus_error_set(error, "org.aicd.Error.EnhancementNotAllowed",
                                        "Enhancement is not allowed for this credential");
        case AIC_ERROR_MODEL_INVALID:
        case AIC_ERROR_MODEL_VERSION_UNSUPPORTED:
                return sd_bus_error_set(error, "org.aicd.Error.ModelInvalid", "The model is invalid");
        default:
                return sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "%s", aic_error_message(e));
        }
}

static bool string_is_sane(const char *s, size_t max) {
        size_t n = strnlen(s, max + 1);

        if (n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20)
                        return false;
        return true;
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "s", manager_state(userdata));
}

static int property_get_model(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "s", aic_model_get_id(m->model));
}

static int property_get_rate(sd_bus *bus, const char *path, const char *interface, const char *property,
                             sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "u", (uint32_t) m->config.rate);
}

static int property_get_latency(sd_bus *bus, const char *path, const char *interface, const char *property,
                                sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "t", m->audio ? audio_latency_usec(m->audio) : (uint64_t) 0);
}

static int property_get_credential_kind(sd_bus *bus, const char *path, const char *interface, const char *property,
                                        sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "s", manager_credential_kind(userdata));
}

static int property_get_credential_expires(sd_bus *bus, const char *path, const char *interface, const char *property,
                                           sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "t",
                                     (uint64_t) (m->credential_expires_at > 0 ? m->credential_expires_at : 0));
}

static int property_get_input_node(sd_bus *bus, const char *path, const char *interface, const char *property,
                                   sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "s", m->audio ? audio_input_node(m->audio) : "");
}

static int property_get_source_node(sd_bus *bus, const char *path, const char *interface, const char *property,
                                    sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        (void) bus, (void) path, (void) interface, (void) property, (void) error, (void) userdata;
        return sd_bus_message_append(reply, "s", "aicd_clean_mic");
}

static int property_get_bypass(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "b", (int) m->bypass);
}

static int property_set_bypass(sd_bus *bus, const char *path, const char *interface, const char *property,
                               sd_bus_message *value, void *userdata, sd_bus_error *error) {
        int b, r;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        r = sd_bus_message_read(value, "b", &b);
        if (r < 0)
                return r;
        return manager_set_bypass(userdata, b);
}

static int property_get_level(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "d", m->level);
}

static int property_set_level(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *value, void *userdata, sd_bus_error *error) {
        double d;
        int r;

        (void) bus, (void) path, (void) interface, (void) property;
        r = sd_bus_message_read(value, "d", &d);
        if (r < 0)
                return r;
        if (!(d >= 0.0 && d <= 1.0))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "EnhancementLevel must be between 0 and 1");
        return manager_set_level(userdata, d);
}

static int property_get_input_target(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "s", m->input_target ? m->input_target : "");
}

static int property_set_input_target(sd_bus *bus, const char *path, const char *interface, const char *property,
                                     sd_bus_message *value, void *userdata, sd_bus_error *error) {
        const char *s;
        int r;

        (void) bus, (void) path, (void) interface, (void) property;
        r = sd_bus_message_read(value, "s", &s);
        if (r < 0)
                return r;
        if (!string_is_sane(s, BUS_NODE_NAME_MAX) || strchr(s, '"'))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "InputTarget must be a node name of at most 255 printable characters");
        return manager_set_input_target(userdata, s);
}

static int read_secret_arg(sd_bus_message *msg, const char **ret, sd_bus_error *error) {
        const char *s;
        int r;

        r = sd_bus_message_read(msg, "s", &s);
        if (r < 0)
                return r;
        if (s[0] == '\0' || strnlen(s, BUS_SECRET_MAX + 1) > BUS_SECRET_MAX)
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "The credential must be a non-empty string of at most 16384 bytes");
        *ret = s;
        return 0;
}

/* A method that hands one secret string to the manager. */
static int secret_method(sd_bus_message *msg, Manager *m, sd_bus_error *error,
                         enum aic_error (*apply)(Manager *m, const char *secret)) {
        const char *s = NULL;
        enum aic_error e;
        int r;

        r = read_secret_arg(msg, &s, error);
        if (r < 0)
                return r;
        e = apply(m, s);
        if (e != AIC_ERROR_SUCCESS)
                return bus_error_from_aic(error, e);
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_set_license(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return secret_method(msg, userdata, error, manager_set_credential);
}

static int method_update_bearer_token(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return secret_method(msg, userdata, error, manager_update_bearer_token);
}

static int method_clear_credential(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        (void) error;
        manager_clear_credential(userdata);
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        char path[4096];
        int r;

        r = manager_reload(m);
        if (r < 0)
                return r;
        /* The manager keeps the running model when the configured one cannot
         * be loaded; the caller must learn that the configuration was not
         * fully applied. */
        if (model_path_resolve(m->config.model, path, sizeof(path)) < 0 || !m->model_path ||
            strcmp(path, m->model_path) != 0)
                return sd_bus_error_setf(error, "org.aicd.Error.ModelInvalid",
                                         "The configured model could not be loaded; keeping model %s",
                                         aic_model_get_id(m->model));
        return sd_bus_reply_method_return(msg, NULL);
}

static int append_entry(sd_bus_message *reply, const char *key, const char *type, ...) {
        va_list ap;
        int r;

        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "s", key);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'v', type);
        if (r < 0)
                return r;
        va_start(ap, type);
        r = sd_bus_message_appendv(reply, type, ap);
        va_end(ap);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int method_get_metrics(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        __attribute__((cleanup(sd_bus_message_unrefp))) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        AudioMetrics am = {};
        int r;

        (void) error;
        if (m->audio)
                audio_get_metrics(m->audio, &am);
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        if ((r = append_entry(reply, "audio.processed", "d", am.processed_s)) < 0 ||
            (r = append_entry(reply, "processor.bypass", "d", am.bypassed_s)) < 0 ||
            (r = append_entry(reply, "usage.disallowed", "d", am.disallowed_s)) < 0 ||
            (r = append_entry(reply, "processor.frames", "t", am.frames)) < 0 ||
            (r = append_entry(reply, "processor.xruns", "t", am.xruns)) < 0 ||
            (r = append_entry(reply, "processor.rtf", "d", am.rtf)) < 0 ||
            (r = append_entry(reply, "processor.process_time_max_us", "t", am.process_time_max_us)) < 0 ||
            (r = append_entry(reply, "token.refreshes", "t", m->token_refreshes)) < 0 ||
            (r = append_entry(reply, "token.refresh_failures", "t", m->token_refresh_failures)) < 0 ||
            (r = append_entry(reply, "license.authorizations", "t", m->authorizations)) < 0 ||
            (r = append_entry(reply, "license.authorization_failures", "t", m->authorization_failures)) < 0 ||
            /* Live readings for `aicctl monitor`, beyond CONTRACT.md's counters. */
            (r = append_entry(reply, "processor.input_level_db", "d", am.input_level_db)) < 0 ||
            (r = append_entry(reply, "processor.output_level_db", "d", am.output_level_db)) < 0 ||
            (r = append_entry(reply, "processor.vad", "d", am.vad)) < 0)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static const sd_bus_vtable aicd_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Model", "s", property_get_model, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SampleRate", "u", property_get_rate, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("LatencyUsec", "t", property_get_latency, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CredentialKind", "s", property_get_credential_kind, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CredentialExpiresAt", "t", property_get_credential_expires, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("InputNode", "s", property_get_input_node, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SourceNode", "s", property_get_source_node, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_WRITABLE_PROPERTY("Bypass", "b", property_get_bypass, property_set_bypass, 0,
                                 SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_WRITABLE_PROPERTY("EnhancementLevel", "d", property_get_level, property_set_level, 0,
                                 SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_WRITABLE_PROPERTY("InputTarget", "s", property_get_input_target, property_set_input_target, 0,
                                 SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_NAMES("SetLicense", "s", SD_BUS_PARAM(license), "", , method_set_license,
                                 SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_NAMES("UpdateBearerToken", "s", SD_BUS_PARAM(token), "", , method_update_bearer_token,
                                 SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD("ClearCredential", "", "", method_clear_credential, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("GetMetrics", "", , "a{sv}", SD_BUS_PARAM(metrics), method_get_metrics,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Reload", "", "", method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_NAMES("CredentialExpiring", "t", SD_BUS_PARAM(expires_at), 0),
        SD_BUS_SIGNAL_WITH_NAMES("EnhancementStopped", "s", SD_BUS_PARAM(reason), 0),
        SD_BUS_VTABLE_END,
};

int manager_connect_bus(Manager *m) {
        int r;

        r = sd_bus_open_user(&m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the session bus: %m");
        r = sd_bus_add_object_vtable(m->bus, &m->bus_vtable_slot, BUS_PATH, BUS_INTERFACE, aicd_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to register the D-Bus object: %m");
        /* Synchronously, before any audio is set up: a second aicd must exit
         * before it puts a second Clean Mic into the graph. */
        r = sd_bus_request_name(m->bus, BUS_NAME, 0);
        if (r == -EEXIST)
                return log_error_errno(r, "Failed to own bus name " BUS_NAME ": another aicd is running");
        if (r < 0)
                return log_error_errno(r, "Failed to own bus name " BUS_NAME ": %m");
        m->bus_name_owned = true;
        r = sd_bus_attach_event(m->bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        /* Without the session bus nobody can control us: exit, and let the
         * service manager decide. */
        r = sd_bus_set_exit_on_disconnect(m->bus, true);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the bus connection: %m");
        return 0;
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        const char *input = m->audio ? audio_input_node(m->audio) : "";
        uint64_t latency = m->audio ? audio_latency_usec(m->audio) : 0;

        (void) usec;
        if (strcmp(manager_state(m), m->last_state) != 0 || strcmp(input, m->last_input) != 0 ||
            latency != m->last_latency)
                manager_schedule_emit(m);
        if (m->audio && audio_is_streaming(m->audio)) {
                if (sd_event_source_set_time_relative(s, BUS_POLL_USEC) >= 0 &&
                    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) >= 0)
                        return 0;
                log_debug("Failed to re-arm the state poll, ignoring");
        }
        return 0;
}

/* Arms a floating one-shot timer, creating it on first use. */
static int arm_timer(Manager *m, sd_event_source **s, uint64_t usec, sd_event_time_handler_t handler) {
        int r;

        if (!*s) {
                r = sd_event_add_time_relative(m->event, s, CLOCK_MONOTONIC, usec, 0, handler, m);
                if (r < 0)
                        return r;
                r = sd_event_source_set_floating(*s, true);
                sd_event_source_unref(*s);
                if (r < 0) {
                        *s = NULL;
                        return r;
                }
                return 0;
        }
        r = sd_event_source_set_time_relative(*s, usec);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
}

/* Emits PropertiesChanged, with values, for exactly what changed since the
 * last call. Called from the main loop only (manager_schedule_emit()), so a
 * burst of changes becomes one signal. */
void manager_emit_changes(Manager *m) {
        const char *names[16];
        const char *state = manager_state(m), *input = m->audio ? audio_input_node(m->audio) : "";
        const char *model = aic_model_get_id(m->model), *kind = manager_credential_kind(m);
        const char *target = m->input_target ? m->input_target : "";
        uint64_t latency = m->audio ? audio_latency_usec(m->audio) : 0;
        uint64_t expires = m->credential_expires_at > 0 ? (uint64_t) m->credential_expires_at : 0;
        bool all = !bus_cache.announced;
        unsigned n = 0;

        if (!m->bus)
                return;
        if (all || strcmp(state, m->last_state) != 0) {
                snprintf(m->last_state, sizeof(m->last_state), "%s", state);
                names[n++] = "State";
        }
        if (all || strcmp(input, m->last_input) != 0) {
                snprintf(m->last_input, sizeof(m->last_input), "%s", input);
                names[n++] = "InputNode";
        }
        if (all || latency != m->last_latency) {
                m->last_latency = latency;
                names[n++] = "LatencyUsec";
        }
        if (all || strcmp(model, bus_cache.model) != 0) {
                snprintf(bus_cache.model, sizeof(bus_cache.model), "%s", model);
                names[n++] = "Model";
        }
        if (all || strcmp(kind, bus_cache.credential_kind) != 0) {
                snprintf(bus_cache.credential_kind, sizeof(bus_cache.credential_kind), "%s", kind);
                names[n++] = "CredentialKind";
        }
        if (all || expires != bus_cache.credential_expires_at) {
                bus_cache.credential_expires_at = expires;
                names[n++] = "CredentialExpiresAt";
        }
        if (all || m->bypass != bus_cache.bypass) {
                bus_cache.bypass = m->bypass;
                names[n++] = "Bypass";
        }
        if (all || m->level != bus_cache.level) {
                bus_cache.level = m->level;
                names[n++] = "EnhancementLevel";
        }
        if (all || strcmp(target, bus_cache.input_target) != 0) {
                snprintf(bus_cache.input_target, sizeof(bus_cache.input_target), "%s", target);
                names[n++] = "InputTarget";
        }
        names[n] = NULL;
        bus_cache.announced = true;
        if (n > 0 && sd_bus_emit_properties_changed_strv(m->bus, BUS_PATH, BUS_INTERFACE, (char **) names) < 0)
                log_debug("Failed to emit PropertiesChanged, ignoring");

        /* The real-time thread only stores atomics; while audio runs we look
         * at them from here. Idle, nothing wakes us. */
        if (m->audio && audio_is_streaming(m->audio)) {
                int enabled = SD_EVENT_OFF;

                if (bus_cache.poll)
                        (void) sd_event_source_get_enabled(bus_cache.poll, &enabled);
                if (enabled == SD_EVENT_OFF && arm_timer(m, &bus_cache.poll, BUS_POLL_USEC, on_poll) < 0)
                        log_warning("Failed to start watching the audio state, ignoring");
        }
}

int manager_emit_enhancement_stopped(Manager *m, const char *reason) {
        if (!m->bus)
                return 0;
        return sd_bus_emit_signal(m->bus, BUS_PATH, BUS_INTERFACE, "EnhancementStopped", "s", reason);
}

void manager_emit_credential_expiring(Manager *m, uint64_t expires_at) {
        if (m->bus && sd_bus_emit_signal(m->bus, BUS_PATH, BUS_INTERFACE, "CredentialExpiring", "t", expires_at) < 0)
                log_debug("Failed to emit CredentialExpiring, ignoring");
}
