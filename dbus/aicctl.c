/* SPDX-License-Identifier: MIT */
/*
 * aicctl: the command-line client. This file only dispatches; each command
 * lives in its own aicctl-*.c.
 */
#include <stdio.h>
#include <string.h>

#include "aic.h"
#include "aicctl.h"

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
} commands[] = {
        {"enhance", aicctl_enhance},
};

static int usage(FILE *f) {
        fprintf(f,
                "Usage: aicctl COMMAND [ARGS...]\n"
                "\n"
                "Commands:\n"
                "  enhance IN.wav OUT.wav [--model PATH|ID] [--level L] [--bypass]\n"
                "                 Enhance a sound file offline (no daemon needed)\n"
                "\n"
                "Options:\n"
                "  -h, --help     Show this help\n"
                "  --version      Show the version\n");
        return f == stdout ? AICCTL_EXIT_SUCCESS : AICCTL_EXIT_USAGE;
}

int main(int argc, char **argv) {
        if (argc < 2)
                return usage(stderr);
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
                return usage(stdout);
        if (strcmp(argv[1], "--version") == 0) {
                printf("aicctl %s (engine %s)\n", AICD_VERSION, aic_get_sdk_version());
                return AICCTL_EXIT_SUCCESS;
        }
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        return commands[i].run(argc - 1, argv + 1);
        fprintf(stderr, "aicctl: unknown command '%s' (see aicctl --help)\n", argv[1]);
        return AICCTL_EXIT_USAGE;
}
