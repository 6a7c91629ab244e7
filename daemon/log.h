/* SPDX-License-Identifier: MIT */
/*
 * Logging for aicd: one line per message on stderr with a syslog priority
 * prefix that journald understands. Never pass a secret to these.
 */
#pragma once

#include <errno.h>
#include <systemd/sd-daemon.h>

void log_set_max_level(int level);
int log_internal(int level, int error, const char *format, ...) __attribute__((format(printf, 3, 4)));

#define log_full_errno(level, error, ...) log_internal((level), (error), __VA_ARGS__)
#define log_debug(...) log_internal(7, 0, __VA_ARGS__)
#define log_info(...) log_internal(6, 0, __VA_ARGS__)
#define log_notice(...) log_internal(5, 0, __VA_ARGS__)
#define log_warning(...) log_internal(4, 0, __VA_ARGS__)
#define log_error(...) log_internal(3, 0, __VA_ARGS__)
/* These set errno to |error| so "%m" prints it, and return -|error|. */
#define log_warning_errno(error, ...) log_internal(4, (error), __VA_ARGS__)
#define log_error_errno(error, ...) log_internal(3, (error), __VA_ARGS__)
#define log_debug_errno(error, ...) log_internal(7, (error), __VA_ARGS__)
