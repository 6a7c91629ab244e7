/* SPDX-License-Identifier: MIT */
/*
 * Config file parsing. Line-oriented INI; every problem is reported with the
 * file name and line and the default is kept, so a typo never stops the
 * microphone. Values of secret-bearing keys are never echoed.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf.h"
#include "log.h"

#define CONFIG_MAX_SIZE (256 * 1024)

static const char *const license_modes[] = {
        [LICENSE_MODE_NONE] = "none",
        [LICENSE_MODE_LICENSE] = "license",
        [LICENSE_MODE_MINT] = "mint",
        [LICENSE_MODE_TOKEN_URL] = "token-url",
        [LICENSE_MODE_PUSH] = "push",
};

const char *license_mode_to_string(LicenseMode m) {
        return (unsigned) m < sizeof(license_modes) / sizeof(license_modes[0]) ? license_modes[m] : "none";
}

static void set_str(char **p, const char *v) {
        char *n = strdup(v);

        if (!n)
                return; /* keep the old value */
        free(*p);
        *p = n;
}

void config_init(Config *c) {
        *c = (Config) {
                .rate = 48000,
                .channels = 1,
                .level = 1.0,
                .bypass = false,
                .license_mode = LICENSE_MODE_NONE,
                .refresh_margin_s = 300,
                .usage_interval_s = 60,
        };
        set_str(&c->input, "");
        set_str(&c->model, "default");
        set_str(&c->token_url, "https://api.ai-coustics.io/v1/sdk/tokens");
        set_str(&c->backend_url, "");
        set_str(&c->otlp_endpoint, "");
}

void config_done(Config *c) {
        free(c->input);
        free(c->model);
        free(c->key_file);
        free(c->issuer_public_key);
        free(c->token_url);
        free(c->token_auth_file);
        free(c->backend_url);
        free(c->ca_file);
        free(c->otlp_endpoint);
        *c = (Config) {};
}

static char *strip(char *s) {
        char *e;

        while (isspace((unsigned char) *s))
                s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char) e[-1]))
                *--e = '\0';
        return s;
}

static int parse_bool(const char *v, bool *ret) {
        static const char *const yes[] = {"1", "yes", "true", "on"}, *const no[] = {"0", "no", "false", "off"};

        for (unsigned i = 0; i < 4; i++) {
                if (strcasecmp(v, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(v, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

static int parse_uint(const char *v, unsigned long min, unsigned long max, unsigned long *ret) {
        unsigned long u;
        char *end;

        if (!isdigit((unsigned char) v[0]))
                return -EINVAL;
        errno = 0;
        u = strtoul(v, &end, 10);
        if (errno != 0 || *end != '\0' || u < min || u > max)
                return -ERANGE;
        *ret = u;
        return 0;
}

/* A path value: absolute, or relative to the config file's folder. */
static int set_path(char **p, const char *v, const char *dir) {
        char buf[PATH_MAX];

        if (v[0] == '\0') {
                free(*p);
                *p = NULL;
                return 0;
        }
        if (v[0] == '/' || !dir) {
                set_str(p, v);
                return 0;
        }
        if ((size_t) snprintf(buf, sizeof(buf), "%s/%s", dir, v) >= sizeof(buf))
                return -ENAMETOOLONG;
        set_str(p, buf);
        return 0;
}

static bool url_valid(const char *v) {
        return v[0] == '\0' || strncmp(v, "https://", 8) == 0 || strncmp(v, "http://", 7) == 0;
}

static bool node_name_valid(const char *v) {
        if (strlen(v) > 255)
                return false;
        for (const char *p = v; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == '"')
                        return false;
        return true;
}

static void config_assign(Config *c, const char *section, const char *key, const char *value, const char *dir,
                          const char *name, unsigned line) {
        unsigned long u;
        bool b;
        int r = 0;

#define IS(s, k) (strcmp(section, (s)) == 0 && strcmp(key, (k)) == 0)
        if (IS("audio", "input")) {
                if (!node_name_valid(value))
                        r = -EINVAL;
                else
                        set_str(&c->input, value);
        } else if (IS("audio", "rate")) {
                r = parse_uint(value, 8000, 192000, &u);
                if (r >= 0)
                        c->rate = (uint32_t) u;
        } else if (IS("audio", "channels")) {
                r = parse_uint(value, 1, 16, &u);
                if (r >= 0)
                        c->channels = (unsigned) u;
        } else if (IS("engine", "model")) {
                if (value[0] == '\0' || strlen(value) > PATH_MAX / 2)
                        r = -EINVAL;
                else if (strchr(value, '/'))
                        r = set_path(&c->model, value, dir);
                else
                        set_str(&c->model, value);
        } else if (IS("engine", "level")) {
                char *end;
                double d;

                errno = 0;
                d = strtod(value, &end);
                if (errno != 0 || end == value || *end != '\0' || !(d >= 0.0 && d <= 1.0))
                        r = -ERANGE;
                else
                        c->level = d;
        } else if (IS("engine", "bypass")) {
                r = parse_bool(value, &b);
                if (r >= 0)
                        c->bypass = b;
        } else if (IS("license", "mode")) {
                r = -EINVAL;
                for (unsigned i = 0; i < sizeof(license_modes) / sizeof(license_modes[0]); i++)
                        if (strcmp(value, license_modes[i]) == 0) {
                                c->license_mode = (LicenseMode) i;
                                r = 0;
                        }
        } else if (IS("license", "key_file"))
                r = set_path(&c->key_file, value, dir);
        else if (IS("license", "issuer_public_key"))
                r = set_path(&c->issuer_public_key, value, dir);
        else if (IS("license", "token_auth_file"))
                r = set_path(&c->token_auth_file, value, dir);
        else if (IS("license", "ca_file"))
                r = set_path(&c->ca_file, value, dir);
        else if (IS("license", "token_url")) {
                if (!url_valid(value) || value[0] == '\0')
                        r = -EINVAL;
                else
                        set_str(&c->token_url, value);
        } else if (IS("license", "backend_url")) {
                if (!url_valid(value))
                        r = -EINVAL;
                else
                        set_str(&c->backend_url, value);
        } else if (IS("license", "refresh_margin_s")) {
                r = parse_uint(value, 1, 86400, &u);
                if (r >= 0)
                        c->refresh_margin_s = (unsigned) u;
        } else if (IS("license", "usage_interval_s")) {
                r = parse_uint(value, 1, 86400, &u);
                if (r >= 0)
                        c->usage_interval_s = (unsigned) u;
        } else if (IS("telemetry", "otlp_endpoint")) {
                if (!url_valid(value))
                        r = -EINVAL;
                else
                        set_str(&c->otlp_endpoint, value);
        } else {
                log_warning("%s:%u: unknown key '%s' in section [%s], ignoring", name, line, key, section);
                return;
        }
#undef IS
        if (r < 0)
                log_warning("%s:%u: invalid value for '%s' in [%s], keeping the default", name, line, key, section);
}

int config_parse_string(Config *c, const char *text, const char *dir, const char *name) {
        char section[64] = "";
        char *copy, *p, *next;
        unsigned line = 0;

        copy = strdup(text);
        if (!copy)
                return -ENOMEM;
        for (p = copy; p; p = next) {
                char *l, *eq;

                line++;
                next = strchr(p, '\n');
                if (next)
                        *next++ = '\0';
                l = strip(p);
                if (l[0] == '\0' || l[0] == '#' || l[0] == ';')
                        continue;
                if (l[0] == '[') {
                        char *end = strchr(l, ']');

                        if (!end || end[1] != '\0' || (size_t) (end - l - 1) >= sizeof(section) || end == l + 1) {
                                log_warning("%s:%u: malformed section header, ignoring the section", name, line);
                                strcpy(section, "?");
                                continue;
                        }
                        *end = '\0';
                        strcpy(section, strip(l + 1));
                        if (strcmp(section, "audio") != 0 && strcmp(section, "engine") != 0 &&
                            strcmp(section, "license") != 0 && strcmp(section, "telemetry") != 0)
                                log_warning("%s:%u: unknown section [%s], ignoring", name, line, section);
                        continue;
                }
                eq = strchr(l, '=');
                if (!eq) {
                        log_warning("%s:%u: expected 'key = value', ignoring the line", name, line);
                        continue;
                }
                *eq = '\0';
                if (section[0] == '\0' || strcmp(section, "?") == 0) {
                        log_warning("%s:%u: key outside a known section, ignoring", name, line);
                        continue;
                }
                config_assign(c, section, strip(l), strip(eq + 1), dir, name, line);
        }
        free(copy);
        return 0;
}

static int config_read_file(const char *path, char **ret) {
        struct stat st;
        size_t n;
        char *buf;
        FILE *f;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_MAX_SIZE) {
                int r = errno ? -errno : -EFBIG;

                fclose(f);
                return S_ISREG(st.st_mode) ? -EFBIG : (r ? r : -EINVAL);
        }
        buf = malloc((size_t) st.st_size + 1);
        if (!buf) {
                fclose(f);
                return -ENOMEM;
        }
        n = fread(buf, 1, (size_t) st.st_size, f);
        if (ferror(f)) {
                free(buf);
                fclose(f);
                return -EIO;
        }
        fclose(f);
        buf[n] = '\0';
        if (strlen(buf) != n) {
                free(buf);
                return -EBADMSG; /* NUL bytes: not a text file */
        }
        *ret = buf;
        return 0;
}

int config_load(Config *c, const char *path, char **ret_path) {
        char user[PATH_MAX], dir[PATH_MAX];
        const char *candidates[2];
        const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        unsigned n = 0;

        if (ret_path)
                *ret_path = NULL;
        if (path)
                candidates[n++] = path;
        else {
                if (xdg && xdg[0] == '/')
                        snprintf(user, sizeof(user), "%s/aicd/aicd.conf", xdg);
                else if (home && home[0] == '/')
                        snprintf(user, sizeof(user), "%s/.config/aicd/aicd.conf", home);
                else
                        user[0] = '\0';
                if (user[0])
                        candidates[n++] = user;
                candidates[n++] = "/etc/aicd/aicd.conf";
        }

        for (unsigned i = 0; i < n; i++) {
                char *text = NULL, *slash;
                int r;

                r = config_read_file(candidates[i], &text);
                if (r == -ENOENT && !path)
                        continue;
                if (r < 0)
                        return log_warning_errno(r, "Failed to read config file %s, using defaults: %m", candidates[i]);
                snprintf(dir, sizeof(dir), "%s", candidates[i]);
                slash = strrchr(dir, '/');
                if (slash)
                        *slash = '\0';
                else
                        strcpy(dir, ".");
                config_parse_string(c, text, dir, candidates[i]);
                free(text);
                if (ret_path)
                        *ret_path = strdup(candidates[i]);
                return 0;
        }
        return 0;
}
