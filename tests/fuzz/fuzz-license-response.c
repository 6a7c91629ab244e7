/* SPDX-License-Identifier: MIT */
/*
 * Backend answers: token endpoint, authorization and usage responses, through
 * the validators in daemon/license-proto.h and what the daemon does next with
 * what they accept (inspect the token, schedule the refresh). Usage answers
 * are only judged by status, so their body goes through the generic JSON
 * check. Byte 0 picks the endpoint and whether the content type comes from
 * the input (up to the first newline); the rest is the body, NUL bytes and all.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aic.h"
#include "license-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const types[] = {"application/json", "application/json; charset=utf-8", "text/html", NULL};
        const int64_t now = 1700000000;
        char ctype[256], *body, *token = NULL;
        const char *ct;
        const uint8_t *p = data + 1, *nl;
        size_t len;
        int64_t t = 0;
        bool authorized = false;
        cJSON *root = NULL;
        int r;

        if (size < 1)
                return 0;
        len = size - 1;
        if (data[0] & 0x10) {
                nl = memchr(p, '\n', len < sizeof(ctype) ? len : sizeof(ctype) - 1);
                if (!nl)
                        return 0;
                memcpy(ctype, p, (size_t) (nl - p));
                ctype[nl - p] = '\0';
                ct = ctype;
                len -= (size_t) (nl - p) + 1;
                p = nl + 1;
        } else
                ct = types[(data[0] >> 2) & 3];

        /* As the HTTP layer hands it over: exactly len bytes plus a NUL. */
        body = malloc(len + 1);
        if (!body)
                return 0;
        memcpy(body, p, len);
        body[len] = '\0';

        switch (data[0] & 3) {
        case 0:
                r = proto_parse_token(ct, body, len, &token, &t);
                if (r == 0) {
                        int kind = 0;
                        int64_t exp = 0;

                        (void) aic_credential_inspect(token, &kind, &exp);
                        if (proto_refresh_at(now, t, 300) < now)
                                abort();
                        explicit_bzero(token, strlen(token));
                        free(token);
                }
                break;
        case 1:
                r = proto_parse_authorization(ct, body, len, &authorized, &t);
                if (r == 0 && authorized && proto_refresh_at(now, t, 300) < now)
                        abort();
                break;
        default:
                r = proto_parse_json(ct, body, len, &root);
                cJSON_Delete(root);
                break;
        }
        if (r < 0 && !proto_strerror(r))
                abort();
        free(body);
        return 0;
}
