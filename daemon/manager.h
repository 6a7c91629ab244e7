/* SPDX-License-Identifier: MIT */
/*
 * The daemon's one object: main loop, configuration, model, audio, bus.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "aic.h"
#include "audio.h"
#include "conf.h"
#include "license.h"
#include "otel.h"

typedef struct Manager {
        sd_event *event;
        sd_bus *bus;
        sd_bus_slot *bus_vtable_slot;
        sd_event_source *emit_defer;
        bool bus_name_owned;
        bool ready_sent;

        char *config_arg; /* --config, or NULL to search */
        char *config_path;
        Config config;
        char *state_path;

        AicModel *model;
        char *model_path;

        Audio *audio;
        bool bypass;
        double level;
        char *input_target;

        /* Credential (a secret: never logged, never exported). */
        char *credential;
        int credential_kind; /* 0 none, 1 license, 2 jwt */
        int64_t credential_expires_at;
        bool issuer_key_broken; /* configured but unusable: accept no credential */
        License *license;
        Otel *otel;

        uint64_t token_refreshes, token_refresh_failures;
        uint64_t authorizations, authorization_failures;

        /* Last values sent in PropertiesChanged. */
        char last_state[32];
        char last_input[256];
        uint64_t last_latency;
        bool last_connected;
} Manager;

int manager_new(const char *config_arg, Manager **ret);
Manager *manager_free(Manager *m);
int manager_start(Manager *m);
int manager_run(Manager *m);

int manager_reload(Manager *m);
int manager_set_bypass(Manager *m, bool bypass);
int manager_set_level(Manager *m, double level);
int manager_set_input_target(Manager *m, const char *target);
/* Returns an aic_error for the credential (SUCCESS when taken). */
enum aic_error manager_set_credential(Manager *m, const char *credential);
enum aic_error manager_update_bearer_token(Manager *m, const char *token);
void manager_clear_credential(Manager *m);

/* license.c: installs a license key or JWT (a JWT replacing a JWT is swapped
 * in place, anything else gets a new processor). new_identity: not just a
 * fresher token for the same key. Returns an aic_error. */
enum aic_error manager_install_credential(Manager *m, const char *credential, bool new_identity);
/* Recomputes whether the engine may enhance and announces the State. */
void manager_update_gate(Manager *m);

const char *manager_state(Manager *m);
const char *manager_credential_kind(Manager *m);
/* Queues a coalesced PropertiesChanged from the main loop. */
void manager_schedule_emit(Manager *m);

/* bus.c */
int manager_connect_bus(Manager *m);
void manager_emit_changes(Manager *m);
int manager_emit_enhancement_stopped(Manager *m, const char *reason);
void manager_emit_credential_expiring(Manager *m, uint64_t expires_at);
