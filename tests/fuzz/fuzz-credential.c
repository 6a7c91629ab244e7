/* SPDX-License-Identifier: MIT */
/*
 * License keys and JWTs: credential_parse without and with an issuer key,
 * and, for a license the engine accepts, the api_key extraction the daemon
 * performs in mint mode. The first byte picks the issuer mode and the clock;
 * the rest is the credential.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aic.h"
#include "credential.h"
#include "license-proto.h"

/* A throwaway test issuer; the committed seeds are signed with its private
 * half, which exists nowhere else. */
static const char issuer_pem[] = "-----BEGIN PUBLIC KEY-----\n"
                                 "MCowBQYDK2VwAyEATwLeHvOqWixXHeyqR+wEN7TpSDpgIVXNvticHwLSOKM=\n"
                                 "-----END PUBLIC KEY-----\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static int issuer_set = -1;
        static const int64_t clocks[] = {1700000000, 0, INT64_MAX / 2, 4102444800};
        int want_issuer, kind = 0;
        int64_t exp = 0;
        Credential c = {};
        enum aic_error e;
        char *s, *api_key = NULL;

        if (size < 1)
                return 0;
        want_issuer = data[0] & 1;
        if (want_issuer != issuer_set) {
                if (aic_set_issuer_public_key(want_issuer ? issuer_pem : NULL, want_issuer ? sizeof(issuer_pem) - 1 : 0) !=
                    AIC_ERROR_SUCCESS)
                        abort();
                issuer_set = want_issuer;
        }
        s = malloc(size);
        if (!s)
                return 0;
        memcpy(s, data + 1, size - 1);
        s[size - 1] = '\0';

        e = credential_parse(s, clocks[(data[0] >> 1) & 3], &c);
        if (e == AIC_ERROR_SUCCESS || e == AIC_ERROR_LICENSE_EXPIRED) {
                if (c.kind != CREDENTIAL_LICENSE && c.kind != CREDENTIAL_JWT)
                        abort();
        }
        e = aic_credential_inspect(s, &kind, &exp);
        if ((e == AIC_ERROR_SUCCESS || e == AIC_ERROR_LICENSE_EXPIRED) && kind == CREDENTIAL_LICENSE &&
            proto_license_api_key(s, &api_key) == 0) {
                char hash[65];

                if (api_key[0] == '\0' || proto_api_key_hash(api_key, hash) < 0)
                        abort();
                free(api_key);
        }
        free(s);
        return 0;
}
