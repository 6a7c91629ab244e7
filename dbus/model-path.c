/* SPDX-License-Identifier: MIT */
/*
 * Model lookup order for an id: $AICD_MODEL_PATH (colon-separated folders),
 * $XDG_DATA_HOME/aicd/models (downloaded models), the installed bundled
 * models, then the source tree's engine/models (running from a build tree).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model-path.h"

static bool id_valid(const char *id) {
        size_t n = strlen(id);

        if (n == 0 || n > 128 || id[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = id[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_' || c == '.'))
                        return false;
        }
        return true;
}

static bool try_dir(const char *dir, size_t dir_len, const char *id, char *buf, size_t size) {
        int n;

        if (dir_len == 0)
                return false;
        n = snprintf(buf, size, "%.*s/%s.aicm", (int) dir_len, dir, id);
        return n > 0 && (size_t) n < size && access(buf, R_OK) == 0;
}

int model_path_resolve(const char *arg, char *buf, size_t size) {
        const char *id = arg, *env, *home;
        char tmp[4096];

        if (!arg || !buf || size == 0)
                return -EINVAL;
        if (strchr(arg, '/') || (strlen(arg) > 5 && strcmp(arg + strlen(arg) - 5, ".aicm") == 0)) {
                if (strlen(arg) >= size)
                        return -ENAMETOOLONG;
                strcpy(buf, arg);
                return 0;
        }
        if (strcmp(arg, "default") == 0 || arg[0] == '\0')
                id = AICD_DEFAULT_MODEL_ID;
        if (!id_valid(id))
                return -EINVAL;

        env = getenv("AICD_MODEL_PATH");
        while (env && *env) {
                size_t len = strcspn(env, ":");

                if (try_dir(env, len, id, buf, size))
                        return 0;
                env += len + (env[len] == ':');
        }

        env = getenv("XDG_DATA_HOME");
        if (env && env[0] == '/')
                snprintf(tmp, sizeof(tmp), "%s/aicd/models", env);
        else if ((home = getenv("HOME")) && home[0] == '/')
                snprintf(tmp, sizeof(tmp), "%s/.local/share/aicd/models", home);
        else
                tmp[0] = '\0';
        if (try_dir(tmp, strlen(tmp), id, buf, size))
                return 0;
        if (try_dir(AICD_MODELDIR, strlen(AICD_MODELDIR), id, buf, size))
                return 0;
        if (try_dir(AICD_SOURCE_MODELDIR, strlen(AICD_SOURCE_MODELDIR), id, buf, size))
                return 0;
        return -ENOENT;
}
