/* SPDX-License-Identifier: MIT */
/*
 * `aicctl level VALUE`: writes EnhancementLevel (0 = dry, 1 = full
 * suppression). The value is checked here so a typo is a usage error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aicctl.h"

#define LEVEL_USAGE "aicctl level VALUE   (VALUE from 0 to 1)"

int aicctl_level(int argc, char **argv) {
        sd_bus *bus = NULL;
        char *end = NULL;
        double level;
        int r;

        if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
                printf("Usage: %s\n", LEVEL_USAGE);
                return AICCTL_EXIT_SUCCESS;
        }
        if (argc != 2)
                return aicctl_usage_error(argv[0], "expected one value (usage: %s)", LEVEL_USAGE);
        level = strtod(argv[1], &end);
        if (end == argv[1] || *end != '\0' || !isfinite(level) || level < 0.0 || level > 1.0)
                return aicctl_usage_error(argv[0], "the level must be a number from 0 to 1");

        if (aicctl_bus_open(&bus) < 0)
                return AICCTL_EXIT_FAILURE;
        r = aicctl_bus_set_property(bus, "cannot set the enhancement level", "EnhancementLevel", "d", level);
        sd_bus_flush_close_unref(bus);
        if (r < 0)
                return AICCTL_EXIT_FAILURE;
        return aicctl_finish_output();
}
