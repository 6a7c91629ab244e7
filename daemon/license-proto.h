/* SPDX-License-Identifier: MIT */
/*
 * The licensing wire protocol (CONTRACT.md, "Credentials") without any I/O:
 * request bodies, validation of every response, the api_key inside a
 * license, refresh and retry schedules. Shared by aicd and `aicctl token mint`.
 */
#pragma once

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_TOKEN_MAX 16384

/* Parses a response body that must be a JSON object served as
 * application/json. -EMEDIUMTYPE: another content type; -EBADMSG: not a JSON
 * object. *ret is a cJSON tree for the caller to cJSON_Delete(). */
int proto_parse_json(const char *content_type, const char *body, size_t len, cJSON **ret);
/* Token endpoint answer {"token": "<jwt>", "expires_at": <unix s>}. -EINVAL
 * when a field is missing, of the wrong type, or out of range. *ret_token is a
 * secret: the caller zeroes it before freeing. */
int proto_parse_token(const char *content_type, const char *body, size_t len, char **ret_token,
                      int64_t *ret_expires_at);
/* Authorization answer {"authorized": bool, "valid_until": <unix s>}; valid_until
 * is only required when authorized. */
int proto_parse_authorization(const char *content_type, const char *body, size_t len, bool *ret_authorized,
                              int64_t *ret_valid_until);

char *proto_authorize_body(const char *sdk_version, const char *model_id, const char *os, const char *arch);

typedef struct ProtoUsage {
        double seconds_processed, seconds_bypassed, seconds_disallowed;
        const char *model_id, *sdk_version;
} ProtoUsage;
char *proto_usage_body(const ProtoUsage *u);

/* The api_key inside a license key's payload (a secret: zero it). The license
 * itself must already have passed aic_credential_inspect(). */
int proto_license_api_key(const char *license, char **ret_api_key);
/* Lower-case hex SHA-256 of the api_key, for telemetry. */
int proto_api_key_hash(const char *api_key, char ret[65]);

/* When to fetch the next token (or authorization) for one obtained at `now`
 * that is good until `expires_at`: expires_at - margin_s, or half-way when it
 * lives less than twice the margin. Never before now. */
int64_t proto_refresh_at(int64_t now, int64_t expires_at, unsigned margin_s);
/* Delay before retry number `attempt` (0 = first retry): exponential from
 * base_usec, capped at cap_usec, with "equal jitter" (uniform in the upper
 * half) from the random value rnd. */
uint64_t proto_backoff_usec(unsigned attempt, uint64_t base_usec, uint64_t cap_usec, uint32_t rnd);

/* One clear line for the errors above and those of http.h. */
const char *proto_strerror(int error);
