/* SPDX-License-Identifier: MIT */
/*
 * Where aicd's credential comes from and whether it may be used: the license
 * key from the config, JWTs minted from it or fetched from a token service
 * and refreshed before they expire, the backend's authorization and the
 * usage reports. All network I/O is asynchronous on the manager's loop.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct Manager Manager;
typedef struct License License;

typedef enum LicenseVerdict {
        LICENSE_VERDICT_ALLOWED,      /* no backend, or the backend said yes */
        LICENSE_VERDICT_PENDING,      /* the backend has not answered for this credential yet */
        LICENSE_VERDICT_DENIED,       /* the backend refused: revoked or unauthorized */
        LICENSE_VERDICT_LAPSED,       /* the authorization's valid_until passed without renewal */
        LICENSE_VERDICT_USAGE_LAPSED, /* usage reports have failed for too long */
} LicenseVerdict;

/* Reads the [license] section of m->config. Nothing starts before
 * license_start(). */
int license_new(Manager *m, License **ret);
License *license_free(License *l);
/* Loads the configured key and starts whatever the mode needs. */
void license_start(License *l);
/* After a reload with unchanged [license] settings: picks up rotated key
 * files and restarts stopped token loops. */
void license_reload(License *l);

/* The manager installed a new credential (from here or from D-Bus).
 * new_identity: it is not just a fresher token for the same key, so the
 * backend's authorization starts over. */
void license_credential_installed(License *l, bool new_identity);
void license_credential_cleared(License *l);
/* SetLicense in mint mode: the license key to mint from. Returns an
 * aic_error. */
int license_set_mint_key(License *l, const char *key);

LicenseVerdict license_verdict(const License *l);
/* SHA-256 hex of the api_key, or NULL when none is known. */
const char *license_api_key_hash(const License *l);

/* A file holding a secret: a regular file, not readable by group or others,
 * at most 16 KiB; the first line is returned. -EPERM when too open. */
int license_read_secret_file(const char *path, char **ret);
void erase_free(char *s);

/* How long usage reports may fail before enhancement stops (300 s). */
#define LICENSE_USAGE_GRACE_S 300
