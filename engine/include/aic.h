/* SPDX-License-Identifier: MIT */
/*
 * aic.h: the public API of libaicengine, aicd's real-time speech-enhancement
 * engine. It mirrors the C API of the aic SDK: models, processors, and a
 * thread-safe processor context for changes while audio runs.
 */
#ifndef AIC_H
#define AIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define AIC_API __attribute__((visibility("default")))
#else
#define AIC_API
#endif

/* Error codes. The numbers are stable and match the aic SDK's. */
enum aic_error {
        AIC_ERROR_SUCCESS = 0,
        AIC_ERROR_NULL_POINTER = 1,
        AIC_ERROR_PARAMETER_OUT_OF_RANGE = 2,
        AIC_ERROR_NOT_INITIALIZED = 3,
        AIC_ERROR_AUDIO_CONFIG_UNSUPPORTED = 4,
        AIC_ERROR_AUDIO_CONFIG_MISMATCH = 5,
        AIC_ERROR_ENHANCEMENT_NOT_ALLOWED = 6,
        AIC_ERROR_INTERNAL = 7,
        AIC_ERROR_LICENSE_FORMAT_INVALID = 50,
        AIC_ERROR_LICENSE_VERSION_UNSUPPORTED = 51,
        AIC_ERROR_LICENSE_EXPIRED = 52,
        AIC_ERROR_TOKEN_UPDATE_UNSUPPORTED = 53,
        AIC_ERROR_MODEL_INVALID = 100,
        AIC_ERROR_MODEL_VERSION_UNSUPPORTED = 101,
        AIC_ERROR_FILE_PATH_INVALID = 102,
        AIC_ERROR_FILE_SYSTEM_ERROR = 103,
};

/* Parameters settable through a processor context while audio runs. */
enum aic_parameter {
        /* 0 = enhance, 1 = pass the input through, delayed by the output delay. */
        AIC_PARAMETER_BYPASS = 0,
        /* 0..1: 0 = dry (delayed), 1 = full suppression; attenuation in dB
         * scales linearly in between. */
        AIC_PARAMETER_ENHANCEMENT_LEVEL = 1,
};

typedef struct AicModel AicModel;
typedef struct AicProcessor AicProcessor;
typedef struct AicProcessorContext AicProcessorContext;

/* Stable identifier of an error, e.g. "LICENSE_EXPIRED"; never NULL. */
AIC_API const char *aic_error_name(enum aic_error error);
/* One-line human-readable description of an error; never NULL. */
AIC_API const char *aic_error_message(enum aic_error error);
/* Version of this engine, "MAJOR.MINOR.PATCH". */
AIC_API const char *aic_get_sdk_version(void);

/*
 * Models. A model is immutable once loaded and may be shared by any number of
 * processors on any threads; it is reference counted, so destroying it while
 * processors still use it is safe.
 */
AIC_API enum aic_error aic_model_create_from_file(AicModel **ret_model, const char *file_path);
AIC_API enum aic_error aic_model_create_from_buffer(AicModel **ret_model, const uint8_t *buffer,
                                                    size_t buffer_len);
AIC_API void aic_model_destroy(AicModel *model);
/* The model's id string, owned by the model; NULL only for a NULL model. */
AIC_API const char *aic_model_get_id(const AicModel *model);
AIC_API enum aic_error aic_model_get_optimal_sample_rate(const AicModel *model, uint32_t *ret_sample_rate);
/* Block size that adds no buffering delay at this rate (one model hop). */
AIC_API enum aic_error aic_model_get_optimal_num_frames(const AicModel *model, uint32_t sample_rate,
                                                        size_t *ret_num_frames);

/*
 * Processors. `credential` is a license key, a JWT, or NULL for community
 * mode (no gating). Create and initialize allocate everything; process never
 * allocates, locks, blocks or logs, and is meant for the real-time thread.
 */
AIC_API enum aic_error aic_processor_create(AicProcessor **ret_processor, const AicModel *model,
                                            const char *credential);
/* sample_rate 8000..192000, num_channels 1..16, num_frames 1..16384. With
 * allow_variable_frames, any block of 1..num_frames frames may be processed. */
AIC_API enum aic_error aic_processor_initialize(AicProcessor *processor, uint32_t sample_rate,
                                                uint16_t num_channels, size_t num_frames,
                                                bool allow_variable_frames);
/* In place. When enhancement is not allowed (expired credential, refused
 * authorization) the audio is passed through with the output delay kept and
 * the call returns LICENSE_EXPIRED or ENHANCEMENT_NOT_ALLOWED. */
AIC_API enum aic_error aic_processor_process_interleaved(AicProcessor *processor, float *audio,
                                                         uint16_t num_channels, size_t num_frames);
AIC_API enum aic_error aic_processor_process_planar(AicProcessor *processor, float *const *audio,
                                                    uint16_t num_channels, size_t num_frames);
AIC_API void aic_processor_destroy(AicProcessor *processor);

/*
 * Contexts: every function here is thread-safe and may be called from any
 * thread while another thread processes audio. A context stays valid after
 * its processor is destroyed (calls then change nothing that is heard).
 */
AIC_API enum aic_error aic_processor_context_create(AicProcessorContext **ret_context,
                                                    const AicProcessor *processor);
AIC_API void aic_processor_context_destroy(AicProcessorContext *context);
/* Clears all audio state at the start of the next processed block. */
AIC_API enum aic_error aic_processor_context_reset(AicProcessorContext *context);
AIC_API enum aic_error aic_processor_context_set_parameter(AicProcessorContext *context,
                                                           enum aic_parameter parameter, float value);
AIC_API enum aic_error aic_processor_context_get_parameter(const AicProcessorContext *context,
                                                           enum aic_parameter parameter,
                                                           float *ret_value);
/* Output delay in samples at the initialized rate; constant for a given
 * initialization. NOT_INITIALIZED before initialize. */
AIC_API enum aic_error aic_processor_context_get_output_delay(const AicProcessorContext *context,
                                                              size_t *ret_delay);
/* Swaps the JWT in place; only when the current credential and the new one
 * are both JWTs (else TOKEN_UPDATE_UNSUPPORTED, nothing changes). */
AIC_API enum aic_error aic_processor_context_update_bearer_token(AicProcessorContext *context,
                                                                 const char *token);
/* Speech probability 0..1 of the most recent model frame. */
AIC_API enum aic_error aic_processor_context_get_vad_probability(const AicProcessorContext *context,
                                                                 float *ret_probability);

/*
 * aicd extensions, beyond the SDK's surface.
 */

/* Ed25519 issuer public key (PEM) against which every credential's signature
 * is checked from now on; NULL turns signature checks off. Process-wide. */
AIC_API enum aic_error aic_set_issuer_public_key(const char *pem, size_t pem_len);
/* Checks a license key or JWT without making a processor: its kind (1 =
 * license key, 2 = JWT) and expiry (Unix seconds, 0 = none). An expired but
 * well-formed credential returns LICENSE_EXPIRED and still fills both. */
AIC_API enum aic_error aic_credential_inspect(const char *credential, int *ret_kind, int64_t *ret_expires_at);
/* The backend's authorization decision: while false, audio is passed through
 * with the delay kept and process returns ENHANCEMENT_NOT_ALLOWED. Default true. */
AIC_API enum aic_error aic_processor_context_set_enhancement_allowed(AicProcessorContext *context, bool allowed);

#ifdef __cplusplus
}
#endif

#endif
