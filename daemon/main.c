/* SPDX-License-Identifier: MIT */
/*
 * aicd: the Clean Mic daemon. main() only parses arguments and runs the
 * manager.
 */
#include <getopt.h>
#include <pipewire/pipewire.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "manager.h"

static int help(void) {
        printf("Usage: aicd [--config PATH]\n"
               "\n"
               "Real-time speech enhancement: puts \"Clean Mic (aicd)\" into PipeWire.\n"
               "\n"
               "  -c, --config PATH   Read this config file instead of the usual ones\n"
               "  -h, --help          Show this help\n"
               "      --version       Show the version\n");
        return 0;
}

static int run(int argc, char **argv) {
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {},
        };
        const char *config = NULL, *level;
        Manager *m = NULL;
        int opt, r;

        while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (opt) {
                case 'c':
                        config = optarg;
                        break;
                case 'h':
                        return help();
                case 'V':
                        printf("aicd %s (engine %s)\n", AICD_VERSION, aic_get_sdk_version());
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                log_error("Unexpected argument '%s'", argv[optind]);
                return -EINVAL;
        }
        level = getenv("AICD_LOG_LEVEL");
        if (level)
                log_set_max_level(atoi(level));

        pw_init(NULL, NULL);
        r = manager_new(config, &m);
        if (r >= 0)
                r = manager_start(m);
        if (r >= 0)
                r = manager_run(m);
        manager_free(m);
        pw_deinit();
        return r;
}

int main(int argc, char **argv) {
        int r = run(argc, argv);

        return r == -EINVAL ? 2 : r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
