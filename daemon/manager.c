/* SPDX-License-Identifier: MIT */
/*
 * The manager: owns the event loop, the configuration, the model, the audio
 * streams, the bus and the credential, and keeps the user's run-time choices
 * (bypass, level, input) persistent across restarts. Where the credential
 * comes from and whether the backend allows it is license.c's business; the
 * State property is decided here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "manager.h"
#include "model-path.h"
#include "state.h"

#define ISSUER_KEY_MAX (64 * 1024)

static void on_audio_changed(void *userdata) {
        Manager *m = userdata;

        /* A rebuilt engine starts from the credential audio.c was last given,
         * which lags behind tokens swapped in place: hand it the current one. */
        if (m->audio && m->credential && m->credential_kind == 2)
                (void) audio_update_bearer_token(m->audio, m->credential);
        manager_schedule_emit(m);
}

static void save_state(Manager *m) {
        SavedState s = {.bypass = m->bypass, .level = m->level};
        int r;

        if (!m->state_path)
                return;
        snprintf(s.input, sizeof(s.input), "%s", m->input_target ? m->input_target : "");
        r = state_save(m->state_path, &s);
        if (r < 0)
                log_warning_errno(r, "Failed to save state to %s, ignoring: %m", m->state_path);
}

static int load_model(Manager *m, const char *spec, AicModel **ret_model, char **ret_path) {
        char path[4096];
        enum aic_error e;
        int r;

        r = model_path_resolve(spec, path, sizeof(path));
        if (r < 0) {
                log_error("No model '%s' found", spec);
                return r;
        }
        e = aic_model_create_from_file(ret_model, path);
        if (e != AIC_ERROR_SUCCESS) {
                log_error("Failed to load model %s: %s", path, aic_error_message(e));
                return -EINVAL;
        }
        *ret_path = strdup(path);
        (void) m;
        return 0;
}

/* [license] issuer_public_key: every credential is checked against it. A key
 * that is configured but unusable accepts nothing rather than everything. */
static void load_issuer_key(Manager *m) {
        const char *path = m->config.issuer_public_key;
        struct stat st;
        char *pem = NULL;
        ssize_t n = -1;
        int fd;

        m->issuer_key_broken = false;
        if (!path) {
                aic_set_issuer_public_key(NULL, 0);
                return;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0 && fstat(fd, &st) >= 0 && S_ISREG(st.st_mode) && st.st_size > 0 && st.st_size <= ISSUER_KEY_MAX &&
            (pem = malloc((size_t) st.st_size)))
                n = read(fd, pem, (size_t) st.st_size);
        if (fd >= 0)
                close(fd);
        if (n <= 0 || aic_set_issuer_public_key(pem, (size_t) n) != AIC_ERROR_SUCCESS) {
                log_error("Failed to load the issuer public key %s: not a readable Ed25519 public key in PEM; "
                          "no credential is accepted until it is fixed",
                          path);
                m->issuer_key_broken = true;
        }
        free(pem);
}

int manager_new(const char *config_arg, Manager **ret) {
        SavedState saved = {};
        Manager *m;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        config_init(&m->config);
        if (config_arg) {
                m->config_arg = strdup(config_arg);
                if (!m->config_arg) {
                        manager_free(m);
                        return -ENOMEM;
                }
        }
        config_load(&m->config, m->config_arg, &m->config_path);
        if (m->config_path)
                log_info("Using configuration from %s", m->config_path);

        m->bypass = m->config.bypass;
        m->level = m->config.level;
        m->input_target = strdup(m->config.input);
        m->state_path = state_default_path();
        if (m->state_path) {
                r = state_load(m->state_path, &saved);
                if (r < 0)
                        log_warning_errno(r, "Failed to read state %s, ignoring: %m", m->state_path);
                if (saved.has_bypass)
                        m->bypass = saved.bypass;
                if (saved.has_level)
                        m->level = saved.level;
                if (saved.has_input) {
                        free(m->input_target);
                        m->input_target = strdup(saved.input);
                }
        }
        if (!m->input_target) {
                manager_free(m);
                return -ENOMEM;
        }

        r = load_model(m, m->config.model, &m->model, &m->model_path);
        if (r < 0 && strcmp(m->config.model, "default") != 0) {
                log_warning("Falling back to the default model");
                r = load_model(m, "default", &m->model, &m->model_path);
        }
        if (r < 0) {
                manager_free(m);
                return r;
        }
        log_info("Model %s (%s)", aic_model_get_id(m->model), m->model_path);

        r = sd_event_default(&m->event);
        if (r < 0) {
                manager_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* Network first: no callback may run into a half-freed manager. */
        m->license = license_free(m->license);
        m->otel = otel_free(m->otel);
        m->audio = audio_free(m->audio);
        m->emit_defer = sd_event_source_disable_unref(m->emit_defer);
        sd_bus_slot_unref(m->bus_vtable_slot);
        sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        aic_model_destroy(m->model);
        erase_free(m->credential);
        config_done(&m->config);
        free(m->config_arg);
        free(m->config_path);
        free(m->state_path);
        free(m->model_path);
        free(m->input_target);
        free(m);
        return NULL;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        if (si->ssi_signo == SIGHUP) {
                log_info("Reloading configuration");
                manager_reload(m);
                return 0;
        }
        sd_notify(false, "STOPPING=1");
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int start_licensing(Manager *m) {
        int r;

        load_issuer_key(m);
        r = license_new(m, &m->license);
        if (r < 0)
                return log_error_errno(r, "Failed to set up licensing: %m");
        license_start(m->license);
        return 0;
}

static void start_telemetry(Manager *m) {
        int r = otel_new(m, &m->otel);

        if (r < 0)
                log_warning_errno(r, "Failed to set up the OpenTelemetry export, ignoring: %m");
}

int manager_start(Manager *m) {
        AudioSettings settings;
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        if ((r = sd_event_add_signal(m->event, NULL, SIGTERM, on_signal, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGINT, on_signal, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_signal, m)) < 0)
                return log_error_errno(r, "Failed to set up signal handling: %m");
        sd_event_set_watchdog(m->event, true);

        r = manager_connect_bus(m);
        if (r < 0)
                return r;

        settings = (AudioSettings) {
                .rate = m->config.rate,
                .channels = m->config.channels,
                .input_target = m->input_target,
                .bypass = m->bypass,
                .level = m->level,
        };
        r = audio_new(m->event, &settings, m->model, NULL, on_audio_changed, m, &m->audio);
        if (r < 0)
                return log_error_errno(r, "Failed to set up audio: %m");
        /* Gated from the first block on: nothing is enhanced before the
         * credential (and the backend, when there is one) says so. */
        manager_update_gate(m);
        r = start_licensing(m);
        if (r < 0)
                return r;
        start_telemetry(m);
        manager_schedule_emit(m);
        return 0;
}

int manager_run(Manager *m) {
        int r = sd_event_loop(m->event);

        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}

const char *manager_credential_kind(Manager *m) {
        return m->credential_kind == 2 ? "jwt" : m->credential_kind == 1 ? "license" : "none";
}

/* Why enhancement may not run, from what the manager knows; NULL: it may. */
static const char *licensing_state(Manager *m) {
        bool gated = m->config.license_mode != LICENSE_MODE_NONE;

        if (gated && !m->credential)
                return "unlicensed";
        if (m->credential && m->credential_expires_at > 0 && (int64_t) time(NULL) >= m->credential_expires_at)
                return "expired";
        switch (license_verdict(m->license)) {
        case LICENSE_VERDICT_PENDING:
                return gated ? "unlicensed" : NULL;
        case LICENSE_VERDICT_DENIED:
        case LICENSE_VERDICT_LAPSED:
        case LICENSE_VERDICT_USAGE_LAPSED:
                return "disallowed";
        case LICENSE_VERDICT_ALLOWED:
                break;
        }
        return NULL;
}

const char *manager_state(Manager *m) {
        const char *s;

        if (!m->audio || !audio_is_connected(m->audio))
                return "starting";
        s = licensing_state(m);
        if (s)
                return s;
        /* What the engine saw in the last block (a token that is not yet valid,
         * say); only meaningful while blocks flow, and bus.c looks again while
         * they do. */
        if (audio_is_streaming(m->audio)) {
                enum aic_error gate = audio_gate(m->audio);

                if (gate == AIC_ERROR_LICENSE_EXPIRED)
                        return "expired";
                if (gate == AIC_ERROR_ENHANCEMENT_NOT_ALLOWED)
                        return "disallowed";
        }
        if (audio_is_streaming(m->audio) && !audio_has_input(m->audio))
                return "no-input";
        if (m->bypass)
                return "bypassed";
        return "enhancing";
}

static int on_emit(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        const char *state;

        (void) s;
        m->emit_defer = sd_event_source_disable_unref(m->emit_defer);

        state = manager_state(m);
        if (strcmp(state, m->last_state) != 0) {
                bool was_enhancing = strcmp(m->last_state, "enhancing") == 0 || strcmp(m->last_state, "bypassed") == 0;

                log_info("State: %s", state);
                if (was_enhancing && (strcmp(state, "expired") == 0 || strcmp(state, "disallowed") == 0 ||
                                      strcmp(state, "unlicensed") == 0))
                        manager_emit_enhancement_stopped(m, state);
        }
        manager_emit_changes(m);

        if (!m->ready_sent && m->bus_name_owned && audio_is_connected(m->audio)) {
                m->ready_sent = true;
                sd_notify(false, "READY=1\nSTATUS=Clean Mic (aicd) is available");
        }
        return 0;
}

void manager_schedule_emit(Manager *m) {
        /* Nothing to announce any more while shutting down. */
        if (m->emit_defer || !m->event || sd_event_get_state(m->event) == SD_EVENT_FINISHED)
                return;
        if (sd_event_add_defer(m->event, &m->emit_defer, on_emit, m) < 0)
                log_warning("Failed to queue a property update, ignoring");
}

void manager_update_gate(Manager *m) {
        bool allowed = m->config.license_mode == LICENSE_MODE_NONE ||
                       (m->credential && license_verdict(m->license) == LICENSE_VERDICT_ALLOWED);

        if (m->audio)
                audio_set_enhancement_allowed(m->audio, allowed);
        manager_schedule_emit(m);
}

int manager_set_bypass(Manager *m, bool bypass) {
        if (m->bypass == bypass)
                return 0;
        m->bypass = bypass;
        if (m->audio)
                audio_set_bypass(m->audio, bypass);
        save_state(m);
        manager_schedule_emit(m);
        return 0;
}

int manager_set_level(Manager *m, double level) {
        int r;

        if (!(level >= 0.0 && level <= 1.0))
                return -ERANGE;
        if (m->audio) {
                r = audio_set_level(m->audio, level);
                if (r < 0)
                        return r;
        }
        m->level = level;
        save_state(m);
        manager_schedule_emit(m);
        return 0;
}

int manager_set_input_target(Manager *m, const char *target) {
        char *t = strdup(target);

        if (!t)
                return -ENOMEM;
        free(m->input_target);
        m->input_target = t;
        if (m->audio)
                audio_set_input_target(m->audio, t);
        save_state(m);
        manager_schedule_emit(m);
        return 0;
}

enum aic_error manager_install_credential(Manager *m, const char *credential, bool new_identity) {
        int kind = 0;
        int64_t exp = 0;
        enum aic_error e;
        char *copy;

        if (m->issuer_key_broken)
                return AIC_ERROR_LICENSE_FORMAT_INVALID;
        e = aic_credential_inspect(credential, &kind, &exp);
        if (e != AIC_ERROR_SUCCESS)
                return e;
        /* The same credential again (a reload): nothing to swap. */
        if (m->credential && strcmp(m->credential, credential) == 0) {
                if (m->license)
                        license_credential_installed(m->license, false);
                return AIC_ERROR_SUCCESS;
        }
        copy = strdup(credential);
        if (!copy)
                return AIC_ERROR_INTERNAL;
        if (m->audio) {
                /* JWT for JWT: swapped in place, the processor and model stay. */
                e = kind == 2 && m->credential_kind == 2 ? audio_update_bearer_token(m->audio, copy)
                                                         : AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED;
                if (e == AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED && audio_set_credential(m->audio, copy) < 0)
                        e = AIC_ERROR_INTERNAL;
                else if (e == AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED)
                        e = AIC_ERROR_SUCCESS;
                if (e != AIC_ERROR_SUCCESS) {
                        erase_free(copy);
                        return e;
                }
        }
        erase_free(m->credential);
        m->credential = copy;
        m->credential_kind = kind;
        m->credential_expires_at = exp;
        if (new_identity)
                log_info("Credential set (%s)", manager_credential_kind(m));
        else
                log_debug("Token replaced in place");
        if (m->license)
                license_credential_installed(m->license, new_identity);
        else
                manager_update_gate(m);
        return AIC_ERROR_SUCCESS;
}

enum aic_error manager_set_credential(Manager *m, const char *credential) {
        int kind = 0;
        int64_t exp = 0;

        /* In mint mode a license key is what tokens are minted from. */
        if (m->config.license_mode == LICENSE_MODE_MINT && m->license &&
            aic_credential_inspect(credential, &kind, &exp) == AIC_ERROR_SUCCESS && kind == 1)
                return (enum aic_error) license_set_mint_key(m->license, credential);
        return manager_install_credential(m, credential, true);
}

enum aic_error manager_update_bearer_token(Manager *m, const char *token) {
        bool first = m->config.license_mode == LICENSE_MODE_PUSH && !m->credential;
        int kind = 0;
        int64_t exp = 0;
        enum aic_error e;

        /* In push mode the first token has nothing to replace. */
        if (m->credential_kind != 2 && !first)
                return AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED;
        if (m->issuer_key_broken)
                return AIC_ERROR_LICENSE_FORMAT_INVALID;
        e = aic_credential_inspect(token, &kind, &exp);
        if (e != AIC_ERROR_SUCCESS)
                return e;
        if (kind != 2)
                return AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED;
        return manager_install_credential(m, token, first);
}

static void drop_credential(Manager *m) {
        erase_free(m->credential);
        m->credential = NULL;
        m->credential_kind = 0;
        m->credential_expires_at = 0;
        if (m->audio)
                audio_set_credential(m->audio, NULL);
}

void manager_clear_credential(Manager *m) {
        drop_credential(m);
        log_info("Credential cleared");
        if (m->license)
                license_credential_cleared(m->license);
        manager_update_gate(m);
}

static bool streq_null(const char *a, const char *b) {
        return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool license_config_equal(const Config *a, const Config *b) {
        return a->license_mode == b->license_mode && streq_null(a->key_file, b->key_file) &&
               streq_null(a->issuer_public_key, b->issuer_public_key) && streq_null(a->token_url, b->token_url) &&
               streq_null(a->token_auth_file, b->token_auth_file) && streq_null(a->backend_url, b->backend_url) &&
               streq_null(a->ca_file, b->ca_file) && a->refresh_margin_s == b->refresh_margin_s &&
               a->usage_interval_s == b->usage_interval_s;
}

int manager_reload(Manager *m) {
        Config c;
        AicModel *model = NULL;
        char *path = NULL, *used = NULL;
        bool license_same, telemetry_same;

        config_init(&c);
        config_load(&c, m->config_arg, &used);
        free(m->config_path);
        m->config_path = used;

        if (strcmp(c.model, m->config.model) != 0) {
                if (load_model(m, c.model, &model, &path) >= 0) {
                        if (m->audio)
                                audio_set_model(m->audio, model);
                        aic_model_destroy(m->model);
                        free(m->model_path);
                        m->model = model;
                        m->model_path = path;
                        log_info("Model %s (%s)", aic_model_get_id(model), path);
                } else
                        log_warning("Keeping model %s", aic_model_get_id(m->model));
        }
        if (c.rate != m->config.rate || c.channels != m->config.channels)
                log_warning("Changes to [audio] rate and channels take effect at the next start");
        c.rate = m->config.rate;
        c.channels = m->config.channels;
        license_same = license_config_equal(&c, &m->config);
        telemetry_same = streq_null(c.otlp_endpoint, m->config.otlp_endpoint);
        config_done(&m->config);
        m->config = c;

        if (!license_same) {
                log_info("License settings changed, starting over");
                m->license = license_free(m->license);
                drop_credential(m);
                manager_update_gate(m);
                (void) start_licensing(m);
        } else if (m->license) {
                int kind = 0;
                int64_t exp = 0;
                enum aic_error e;

                /* The issuer key, the key file or the token auth file may have
                 * been replaced in place. */
                load_issuer_key(m);
                e = m->credential ? aic_credential_inspect(m->credential, &kind, &exp) : AIC_ERROR_SUCCESS;
                if (m->issuer_key_broken || (e != AIC_ERROR_SUCCESS && e != AIC_ERROR_LICENSE_EXPIRED)) {
                        if (m->credential)
                                log_warning("The current credential does not verify against the issuer key any more");
                        manager_clear_credential(m);
                }
                license_reload(m->license);
        }
        if (!telemetry_same) {
                m->otel = otel_free(m->otel);
                start_telemetry(m);
        }
        manager_schedule_emit(m);
        return 0;
}
