/* SPDX-License-Identifier: MIT */
/*
 * aicd.conf (CONTRACT.md, "Config file"): INI with [audio], [engine],
 * [license] and [telemetry]. Bad values warn and keep the default.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef enum LicenseMode {
        LICENSE_MODE_NONE,
        LICENSE_MODE_LICENSE,
        LICENSE_MODE_MINT,
        LICENSE_MODE_TOKEN_URL,
        LICENSE_MODE_PUSH,
} LicenseMode;

typedef struct Config {
        char *input; /* "" follows the default microphone */
        uint32_t rate;
        unsigned channels;
        char *model;
        double level;
        bool bypass;
        LicenseMode license_mode;
        char *key_file;
        char *issuer_public_key;
        char *token_url;
        char *token_auth_file;
        char *backend_url;
        char *ca_file;
        unsigned refresh_margin_s;
        unsigned usage_interval_s;
        char *otlp_endpoint;
} Config;

void config_init(Config *c);
void config_done(Config *c);
/* Loads `path` or, when NULL, the first of $XDG_CONFIG_HOME/aicd/aicd.conf and
 * /etc/aicd/aicd.conf that exists. No file at all is fine (defaults). Returns
 * 0, or negative errno when the file exists but cannot be read (defaults are
 * kept then). *ret_path gets the file used (or NULL). */
int config_load(Config *c, const char *path, char **ret_path);
/* Parses config text; for tests and fuzzing. dir resolves relative paths. */
int config_parse_string(Config *c, const char *text, const char *dir, const char *name);
const char *license_mode_to_string(LicenseMode m);
