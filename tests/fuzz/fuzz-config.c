/* SPDX-License-Identifier: MIT */
/*
 * aicd.conf: config_parse_string over arbitrary text, parsed twice into the
 * same Config as a reload does, with relative paths resolved against a
 * folder. Every field must come out usable.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const Config *c) {
        if (!c->input || !c->model || !c->token_url || !c->backend_url || !c->otlp_endpoint)
                abort();
        if (!(c->level >= 0.0 && c->level <= 1.0) || c->channels < 1 || c->channels > 16)
                abort();
        (void) strlen(license_mode_to_string(c->license_mode));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Config c;
        char *text;

        log_set_max_level(2); /* every bad line warns; keep the fuzzer quiet */
        text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        config_init(&c);
        (void) config_parse_string(&c, text, "/etc/aicd", "fuzz.conf");
        check(&c);
        (void) config_parse_string(&c, text, "/home/u/.config/aicd", "fuzz.conf");
        check(&c);
        config_done(&c);
        free(text);
        return 0;
}
