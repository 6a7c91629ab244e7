/* SPDX-License-Identifier: MIT */
/*
 * aicctl: the command-line client. This file only dispatches; each command
 * lives in its own aicctl-*.c.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "aic.h"
#include "aicctl.h"

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
} commands[] = {
        {"status", aicctl_status},   {"bypass", aicctl_bypass},   {"level", aicctl_level},
        {"input", aicctl_input},     {"license", aicctl_license}, {"token", aicctl_token},
        {"metrics", aicctl_metrics}, {"monitor", aicctl_monitor}, {"enhance", aicctl_enhance},
        {"models", aicctl_models},
};

static int help(void) {
        printf("Usage: aicctl COMMAND [ARGS...]\n"
               "\n"
               "Commands talking to the running aicd (session bus):\n"
               "  status [--json]          Show state, input, model, latency, settings, credential\n"
               "  bypass on|off|toggle     Pass the microphone through unprocessed, or not\n"
               "  level VALUE              Set the enhancement level, 0 (dry) to 1 (full)\n"
               "  input [NODE|--default]   Show the input, pin it to a PipeWire node, or follow\n"
               "                           the default microphone\n"
               "  license set [--file PATH]\n"
               "                           Give aicd a license key, read from PATH or stdin\n"
               "  token set [--file PATH]  Give aicd a token (JWT), read from PATH or stdin\n"
               "  token mint [--endpoint URL]\n"
               "                           Mint a token from $AIC_SDK_LICENSE (backend-side helper)\n"
               "  metrics [--json]         Show seconds enhanced and bypassed, xruns, timings\n"
               "  monitor [--once] [--json]\n"
               "                           Live view: input and output level, attenuation, speech\n"
               "                           probability, state, credential expiry (q quits); one\n"
               "                           snapshot with --once, --json or when not on a terminal\n"
               "\n"
               "Offline (no daemon needed):\n"
               "  enhance IN.wav OUT.wav [--model PATH|ID] [--level L] [--bypass]\n"
               "                           Enhance a sound file\n"
               "  models list              Models in the manifest, and which are installed\n"
               "  models download ID       Download, verify and install a model\n"
               "\n"
               "Secrets are never taken on the command line. --json prints one JSON object;\n"
               "status keys: state, model, sample_rate, latency_usec, credential_kind,\n"
               "credential_expires_at, input_node, source_node, bypass, enhancement_level,\n"
               "input_target. Exit status: 0 success, 1 failure, 2 bad usage.\n"
               "\n"
               "Options:\n"
               "  -h, --help     Show this help\n"
               "  --version      Show the version\n");
        return AICCTL_EXIT_SUCCESS;
}

/* Whether an unknown command is safe to repeat in an error: a mistyped
 * word is, a pasted secret is not. */
static bool looks_like_word(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 24)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-'))
                        return false;
        return true;
}

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr, "aicctl: missing command (see aicctl --help)\n");
                return AICCTL_EXIT_USAGE;
        }
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
                return help();
        if (strcmp(argv[1], "--version") == 0) {
                printf("aicctl %s (engine %s)\n", AICD_VERSION, aic_get_sdk_version());
                return AICCTL_EXIT_SUCCESS;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        return commands[i].run(argc - 1, argv + 1);
        if (looks_like_word(argv[1]))
                fprintf(stderr, "aicctl: unknown command '%s' (see aicctl --help)\n", argv[1]);
        else
                fprintf(stderr, "aicctl: unknown command (see aicctl --help)\n");
        return AICCTL_EXIT_USAGE;
}
