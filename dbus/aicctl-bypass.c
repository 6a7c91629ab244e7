/* SPDX-License-Identifier: MIT */
/*
 * `aicctl bypass on|off|toggle`: writes the Bypass property. The daemon
 * crossfades, keeps the delay and remembers the choice across restarts.
 */
#include <stdio.h>
#include <string.h>

#include "aicctl.h"

#define BYPASS_USAGE "aicctl bypass on|off|toggle"

int aicctl_bypass(int argc, char **argv) {
        sd_bus *bus = NULL;
        sd_bus_message *reply = NULL;
        int bypass, toggle = 0, r;

        if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
                printf("Usage: %s\n", BYPASS_USAGE);
                return AICCTL_EXIT_SUCCESS;
        }
        if (argc != 2)
                return aicctl_usage_error(argv[0], "expected one of on, off, toggle (usage: %s)", BYPASS_USAGE);
        if (strcmp(argv[1], "on") == 0)
                bypass = 1;
        else if (strcmp(argv[1], "off") == 0)
                bypass = 0;
        else if (strcmp(argv[1], "toggle") == 0)
                toggle = 1;
        else
                return aicctl_usage_error(argv[0], "expected one of on, off, toggle (usage: %s)", BYPASS_USAGE);

        if (aicctl_bus_open(&bus) < 0)
                return AICCTL_EXIT_FAILURE;
        r = 0;
        if (toggle) {
                r = aicctl_bus_get_property(bus, "Bypass", "b", &bypass, &reply);
                bypass = !bypass;
        }
        if (r >= 0)
                r = aicctl_bus_set_property(bus, bypass ? "cannot turn bypass on" : "cannot turn bypass off", "Bypass",
                                            "b", bypass);
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        if (r < 0)
                return AICCTL_EXIT_FAILURE;
        if (toggle)
                printf("Bypass is now %s\n", bypass ? "on" : "off");
        return aicctl_finish_output();
}
