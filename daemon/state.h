/* SPDX-License-Identifier: MIT */
/*
 * What the user changed at run time and expects back after a restart:
 * bypass, enhancement level and the pinned input. Kept in
 * $XDG_STATE_HOME/aicd/state, written atomically.
 */
#pragma once

#include <stdbool.h>

typedef struct SavedState {
        bool has_bypass, has_level, has_input;
        bool bypass;
        double level;
        char input[256];
} SavedState;

/* Missing file: 0 with nothing set. Malformed lines are ignored. */
int state_load(const char *path, SavedState *ret);
int state_save(const char *path, const SavedState *s);
/* The default location; NULL when neither XDG_STATE_HOME nor HOME is set. */
char *state_default_path(void);
