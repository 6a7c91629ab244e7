/* SPDX-License-Identifier: MIT */
/*
 * The manager: owns the event loop, the configuration, the model, the audio
 * streams and the bus, and keeps the user's run-time choices (bypass, level,
 * input) persistent across restarts.
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
#include <unistd.h>

#include "log.h"
#include "manager.h"
#include "model-path.h"
#include "state.h"

#define CREDENTIAL_MAX_FILE 16384

static void secret_free(char *s) {
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

static void on_audio_changed(void *userdata) {
        manager_schedule_emit(userdata);
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

/* Reads a credential file: must be a regular file not readable by group or
 * others (it holds a secret). */
static int read_secret_file(const char *path, char **ret) {
        struct stat st;
        char *buf;
        ssize_t n;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                close(fd);
                return -errno;
        }
        if (!S_ISREG(st.st_mode) || (st.st_mode & 0077) != 0 || st.st_size > CREDENTIAL_MAX_FILE) {
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
                secret_free(buf);
                return -EIO;
        }
        buf[strcspn(buf, "\r\n")] = '\0';
        *ret = buf;
        return 0;
}

static void load_configured_credential(Manager *m) {
        char *cred = NULL;
        const char *env;
        int r;

        if (m->config.license_mode != LICENSE_MODE_LICENSE && m->config.license_mode != LICENSE_MODE_MINT)
                return;
        if (m->config.key_file) {
                r = read_secret_file(m->config.key_file, &cred);
                if (r == -EPERM)
                        log_error("License key file %s is readable by group or others; refusing it (chmod 600)",
                                  m->config.key_file);
                else if (r < 0)
                        log_error_errno(r, "Failed to read license key file %s: %m", m->config.key_file);
        } else if ((env = getenv("AIC_SDK_LICENSE")) && env[0]) {
                cred = strdup(env);
        }
        if (!cred)
                return;
        if (manager_set_credential(m, cred) != AIC_ERROR_SUCCESS)
                log_error("The configured license key is not valid; audio passes through unprocessed");
        secret_free(cred);
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
        m->audio = audio_free(m->audio);
        m->emit_defer = sd_event_source_disable_unref(m->emit_defer);
        sd_bus_slot_unref(m->bus_vtable_slot);
        sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        aic_model_destroy(m->model);
        secret_free(m->credential);
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
        load_configured_credential(m);
        if (m->config.license_mode != LICENSE_MODE_NONE && !m->credential)
                audio_set_enhancement_allowed(m->audio, false);
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

const char *manager_state(Manager *m) {
        enum aic_error gate;

        if (!m->audio || !audio_is_connected(m->audio))
                return "starting";
        if (m->config.license_mode != LICENSE_MODE_NONE && !m->credential)
                return "unlicensed";
        gate = audio_gate(m->audio);
        if (gate == AIC_ERROR_LICENSE_EXPIRED)
                return "expired";
        if (gate == AIC_ERROR_ENHANCEMENT_NOT_ALLOWED)
                return "disallowed";
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
        if (m->emit_defer || !m->event)
                return;
        if (sd_event_add_defer(m->event, &m->emit_defer, on_emit, m) < 0)
                log_warning("Failed to queue a property update, ignoring");
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

enum aic_error manager_set_credential(Manager *m, const char *credential) {
        int kind = 0;
        int64_t exp = 0;
        enum aic_error e;
        char *copy;

        e = aic_credential_inspect(credential, &kind, &exp);
        if (e != AIC_ERROR_SUCCESS)
                return e;
        copy = strdup(credential);
        if (!copy)
                return AIC_ERROR_INTERNAL;
        if (m->audio && audio_set_credential(m->audio, copy) < 0) {
                secret_free(copy);
                return AIC_ERROR_INTERNAL;
        }
        secret_free(m->credential);
        m->credential = copy;
        m->credential_kind = kind;
        m->credential_expires_at = exp;
        if (m->audio)
                audio_set_enhancement_allowed(m->audio, true);
        log_info("Credential set (%s)", manager_credential_kind(m));
        manager_schedule_emit(m);
        return AIC_ERROR_SUCCESS;
}

enum aic_error manager_update_bearer_token(Manager *m, const char *token) {
        int kind = 0;
        int64_t exp = 0;
        enum aic_error e;
        char *copy;

        if (m->credential_kind != 2)
                return AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED;
        e = aic_credential_inspect(token, &kind, &exp);
        if (e != AIC_ERROR_SUCCESS)
                return e;
        if (kind != 2)
                return AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED;
        if (m->audio) {
                e = audio_update_bearer_token(m->audio, token);
                if (e != AIC_ERROR_SUCCESS)
                        return e;
        }
        copy = strdup(token);
        if (!copy)
                return AIC_ERROR_INTERNAL;
        secret_free(m->credential);
        m->credential = copy;
        m->credential_expires_at = exp;
        manager_schedule_emit(m);
        return AIC_ERROR_SUCCESS;
}

void manager_clear_credential(Manager *m) {
        secret_free(m->credential);
        m->credential = NULL;
        m->credential_kind = 0;
        m->credential_expires_at = 0;
        if (m->audio) {
                audio_set_credential(m->audio, NULL);
                audio_set_enhancement_allowed(m->audio, m->config.license_mode == LICENSE_MODE_NONE);
        }
        log_info("Credential cleared");
        manager_schedule_emit(m);
}

int manager_reload(Manager *m) {
        Config c;
        AicModel *model = NULL;
        char *path = NULL, *used = NULL;

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
        config_done(&m->config);
        m->config = c;
        load_configured_credential(m);
        manager_schedule_emit(m);
        return 0;
}
