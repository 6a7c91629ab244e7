/* SPDX-License-Identifier: MIT */
/*
 * Credentials the engine accepts: aic SDK license keys and EdDSA JWTs.
 * Parsing checks the format, version and time claims; signatures are
 * checked when an issuer key has been configured.
 */
#pragma once

#include <stdint.h>

#include "aic.h"

enum credential_kind {
        CREDENTIAL_NONE = 0,
        CREDENTIAL_LICENSE = 1,
        CREDENTIAL_JWT = 2,
};

typedef struct Credential {
        enum credential_kind kind;
        int64_t expires_at; /* Unix seconds, 0: never */
        int64_t not_before; /* Unix seconds, 0: none */
} Credential;

/* Parses s at time `now` (Unix seconds). A well-formed but expired
 * credential returns LICENSE_EXPIRED and still fills *ret. */
enum aic_error credential_parse(const char *s, int64_t now, Credential *ret);
