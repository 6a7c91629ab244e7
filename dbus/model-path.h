/* SPDX-License-Identifier: MIT */
/*
 * Finding a model file from what a user wrote: a path, a model id, or
 * "default". Shared by aicd and aicctl.
 */
#pragma once

#include <stddef.h>

/* Writes the file to load into buf. 0, or -ENOENT when no such model, or
 * -EINVAL for an id with characters an id never has. */
int model_path_resolve(const char *arg, char *buf, size_t size);
