/* SPDX-License-Identifier: MIT */
/*
 * `aicctl input [NODE|--default]`: shows or sets InputTarget, the PipeWire
 * node the Clean Mic listens to ("" follows the default microphone).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "aicctl.h"

#define INPUT_USAGE "aicctl input [NODE|--default]"

static int input_show(sd_bus *bus) {
        sd_bus_message *target_reply = NULL, *node_reply = NULL;
        const char *target = NULL, *node = NULL;
        int r;

        r = aicctl_bus_get_property(bus, "InputTarget", "s", &target, &target_reply);
        if (r >= 0)
                r = aicctl_bus_get_property(bus, "InputNode", "s", &node, &node_reply);
        if (r >= 0) {
                if (target[0])
                        printf("Input target: %s\n", target);
                else
                        printf("Input target: default microphone\n");
                printf("Input now: %s\n", node[0] ? node : "(none connected)");
        }
        sd_bus_message_unref(target_reply);
        sd_bus_message_unref(node_reply);
        return r;
}

int aicctl_input(int argc, char **argv) {
        static const struct option options[] = {
                {"default", no_argument, NULL, 'd'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *target = NULL;
        sd_bus *bus = NULL;
        int opt, r;

        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (opt) {
                case 'd':
                        target = "";
                        break;
                case 'h':
                        printf("Usage: %s\n"
                               "Without arguments, shows the input. NODE is a PipeWire node name (see\n"
                               "`pactl list sources short`); --default follows the default microphone.\n",
                               INPUT_USAGE);
                        return AICCTL_EXIT_SUCCESS;
                default:
                        return aicctl_usage_error(argv[0], "unknown option '%s' (usage: %s)", argv[optind - 1],
                                                  INPUT_USAGE);
                }
        if (optind < argc) {
                if (target || argc - optind > 1)
                        return aicctl_usage_error(argv[0], "expected one NODE or --default (usage: %s)", INPUT_USAGE);
                target = argv[optind];
                if (!target[0])
                        return aicctl_usage_error(argv[0], "empty node name; use --default to follow the default "
                                                           "microphone");
        }

        if (aicctl_bus_open(&bus) < 0)
                return AICCTL_EXIT_FAILURE;
        if (target)
                r = aicctl_bus_set_property(bus, "cannot set the input", "InputTarget", "s", target);
        else
                r = input_show(bus);
        sd_bus_flush_close_unref(bus);
        if (r < 0)
                return AICCTL_EXIT_FAILURE;
        return aicctl_finish_output();
}
