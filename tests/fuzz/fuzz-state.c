/* SPDX-License-Identifier: MIT */
/*
 * The state file ($XDG_STATE_HOME/aicd/state): state_load over arbitrary
 * bytes, read from a memfd as the daemon reads its file.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SavedState s;
        char path[64];
        int fd;

        fd = memfd_create("aicd-state", MFD_CLOEXEC);
        if (fd < 0)
                abort();
        if (size > 0 && write(fd, data, size) != (ssize_t) size)
                abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (state_load(path, &s) == 0) {
                if (s.has_level && !(s.level >= 0.0 && s.level <= 1.0))
                        abort();
                if (s.has_input && strnlen(s.input, sizeof(s.input)) >= sizeof(s.input))
                        abort();
        }
        close(fd);
        return 0;
}
