/* SPDX-License-Identifier: MIT */
/*
 * The log sink: "<prio>message" lines on stderr (journald strips the prefix),
 * with the level filtered by AICD_LOG_LEVEL or log_set_max_level().
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static int max_level = 6;

void log_set_max_level(int level) {
        max_level = level;
}

int log_internal(int level, int error, const char *format, ...) {
        char buf[1024];
        va_list ap;

        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;
        errno = error;
        va_start(ap, format);
        vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);
        fprintf(stderr, "<%d>%s\n", level, buf);
        return -error;
}
