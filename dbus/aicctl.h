/* SPDX-License-Identifier: MIT */
/*
 * aicctl's commands and exit codes (CONTRACT.md: 0 success, 1 failure,
 * 2 bad usage).
 */
#pragma once

enum {
        AICCTL_EXIT_SUCCESS = 0,
        AICCTL_EXIT_FAILURE = 1,
        AICCTL_EXIT_USAGE = 2,
};

int aicctl_enhance(int argc, char **argv);
