/* SPDX-License-Identifier: MIT */
/*
 * Stable names and messages for enum aic_error.
 */
#include "aic.h"
#include "util.h"

#define AIC_VERSION_STRING "0.1.0"

static const struct {
        enum aic_error code;
        const char *name;
        const char *message;
} errors[] = {
        {AIC_ERROR_SUCCESS, "SUCCESS", "Success"},
        {AIC_ERROR_NULL_POINTER, "NULL_POINTER", "A required pointer argument was NULL"},
        {AIC_ERROR_PARAMETER_OUT_OF_RANGE, "PARAMETER_OUT_OF_RANGE", "A parameter value is out of its allowed range"},
        {AIC_ERROR_NOT_INITIALIZED, "NOT_INITIALIZED", "The processor has not been initialized"},
        {AIC_ERROR_AUDIO_CONFIG_UNSUPPORTED, "AUDIO_CONFIG_UNSUPPORTED",
         "Unsupported audio configuration (rate 8000..192000 Hz, 1..16 channels, 1..16384 frames)"},
        {AIC_ERROR_AUDIO_CONFIG_MISMATCH, "AUDIO_CONFIG_MISMATCH",
         "The audio block does not match the initialized channel count or block size"},
        {AIC_ERROR_ENHANCEMENT_NOT_ALLOWED, "ENHANCEMENT_NOT_ALLOWED",
         "Enhancement is not allowed for this credential; audio is passed through"},
        {AIC_ERROR_INTERNAL, "INTERNAL", "Internal error (out of memory or a library failure)"},
        {AIC_ERROR_LICENSE_FORMAT_INVALID, "LICENSE_FORMAT_INVALID",
         "The license key or token is malformed or its signature does not verify"},
        {AIC_ERROR_LICENSE_VERSION_UNSUPPORTED, "LICENSE_VERSION_UNSUPPORTED", "The license key's version is not supported"},
        {AIC_ERROR_LICENSE_EXPIRED, "LICENSE_EXPIRED", "The license key or token has expired"},
        {AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED, "TOKEN_UPDATE_UNSUPPORTED",
         "A bearer token can only replace a token (JWT) credential"},
        {AIC_ERROR_MODEL_INVALID, "MODEL_INVALID", "The model file is truncated, corrupt or inconsistent"},
        {AIC_ERROR_MODEL_VERSION_UNSUPPORTED, "MODEL_VERSION_UNSUPPORTED", "The model file's format version is not supported"},
        {AIC_ERROR_FILE_PATH_INVALID, "FILE_PATH_INVALID", "The file path is empty, too long, or names no regular file"},
        {AIC_ERROR_FILE_SYSTEM_ERROR, "FILE_SYSTEM_ERROR", "The file could not be read"},
};

AIC_API const char *aic_error_name(enum aic_error error) {
        for (unsigned i = 0; i < ELEMENTSOF(errors); i++)
                if (errors[i].code == error)
                        return errors[i].name;
        return "UNKNOWN";
}

AIC_API const char *aic_error_message(enum aic_error error) {
        for (unsigned i = 0; i < ELEMENTSOF(errors); i++)
                if (errors[i].code == error)
                        return errors[i].message;
        return "Unknown error";
}

AIC_API const char *aic_get_sdk_version(void) {
        return AIC_VERSION_STRING;
}
