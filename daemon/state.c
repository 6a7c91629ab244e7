/* SPDX-License-Identifier: MIT */
/*
 * The state file: "key=value" lines. Saving writes a temporary file in the
 * same folder, fsyncs it and renames it over the old one, so a crash or a
 * full disk leaves either the old state or the new one, never a torn file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state.h"

char *state_default_path(void) {
        const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
        char buf[PATH_MAX];

        if (xdg && xdg[0] == '/')
                snprintf(buf, sizeof(buf), "%s/aicd/state", xdg);
        else if (home && home[0] == '/')
                snprintf(buf, sizeof(buf), "%s/.local/state/aicd/state", home);
        else
                return NULL;
        return strdup(buf);
}

int state_load(const char *path, SavedState *ret) {
        SavedState s = {};
        char line[512];
        FILE *f;

        f = fopen(path, "re");
        if (!f) {
                *ret = s;
                return errno == ENOENT ? 0 : -errno;
        }
        while (fgets(line, sizeof(line), f)) {
                char *eq = strchr(line, '='), *v, *end;

                line[strcspn(line, "\n")] = '\0';
                if (!eq)
                        continue;
                *eq = '\0';
                v = eq + 1;
                if (strcmp(line, "bypass") == 0 && (strcmp(v, "1") == 0 || strcmp(v, "0") == 0)) {
                        s.bypass = v[0] == '1';
                        s.has_bypass = true;
                } else if (strcmp(line, "level") == 0) {
                        double d = strtod(v, &end);

                        if (end != v && *end == '\0' && d >= 0.0 && d <= 1.0) {
                                s.level = d;
                                s.has_level = true;
                        }
                } else if (strcmp(line, "input") == 0 && strlen(v) < sizeof(s.input)) {
                        strcpy(s.input, v);
                        s.has_input = true;
                }
        }
        fclose(f);
        *ret = s;
        return 0;
}

static int mkdir_parents(const char *path) {
        char buf[PATH_MAX];

        if (strlen(path) >= sizeof(buf))
                return -ENAMETOOLONG;
        strcpy(buf, path);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, 0700) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        return 0;
}

int state_save(const char *path, const SavedState *s) {
        char tmp[PATH_MAX], text[512];
        int fd, n, r;

        r = mkdir_parents(path);
        if (r < 0)
                return r;
        if ((size_t) snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
                return -ENAMETOOLONG;
        n = snprintf(text, sizeof(text), "bypass=%d\nlevel=%.6g\ninput=%s\n", s->bypass ? 1 : 0, s->level, s->input);
        if (n < 0 || (size_t) n >= sizeof(text))
                return -EINVAL;

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (ssize_t done = 0; done < n;) {
                ssize_t w = write(fd, text + done, (size_t) (n - done));

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        r = w < 0 ? -errno : -EIO;
                        goto fail;
                }
                done += w;
        }
        if (fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        if (close(fd) < 0) {
                fd = -1;
                r = -errno;
                goto fail;
        }
        fd = -1;
        if (rename(tmp, path) < 0) {
                r = -errno;
                goto fail;
        }
        return 0;
fail:
        if (fd >= 0)
                close(fd);
        unlink(tmp);
        return r;
}
