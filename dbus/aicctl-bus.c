/* SPDX-License-Identifier: MIT */
/*
 * aicctl's D-Bus client layer: one connection to the session bus, calls that
 * never activate the daemon and never wait long, and one place that turns a
 * D-Bus error into the one line a user reads.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "aicctl.h"

#define AICD_BUS_NAME "org.aicd.Aicd1"
#define AICD_BUS_PATH "/org/aicd/Aicd1"
#define AICD_BUS_INTERFACE "org.aicd.Aicd1"

int aicctl_usage_error(const char *command, const char *format, ...) {
        va_list ap;

        fprintf(stderr, "aicctl %s: ", command);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        return AICCTL_EXIT_USAGE;
}

int aicctl_parse_json_option(int argc, char **argv, const char *usage, int *ret_json) {
        static const struct option options[] = {
                {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        int opt, json = 0;

        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (opt) {
                case 'j':
                        json = 1;
                        break;
                case 'h':
                        printf("Usage: %s\n", usage);
                        return AICCTL_EXIT_SUCCESS;
                default:
                        return aicctl_usage_error(argv[0], "unknown option '%s' (usage: %s)", argv[optind - 1], usage);
                }
        if (optind < argc)
                return aicctl_usage_error(argv[0], "unexpected argument (usage: %s)", usage);
        *ret_json = json;
        return -1;
}

int aicctl_print_json(const cJSON *o) {
        char *text = cJSON_PrintUnformatted(o);

        if (!text)
                return -ENOMEM;
        printf("%s\n", text);
        cJSON_free(text);
        return 0;
}

int aicctl_finish_output(void) {
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "aicctl: cannot write the output: %s\n", strerror(errno ? errno : EIO));
                return AICCTL_EXIT_FAILURE;
        }
        return AICCTL_EXIT_SUCCESS;
}

static int report(const char *what, int r, const sd_bus_error *error) {
        const char *name = error && error->name ? error->name : NULL;

        if (name &&
            (strcmp(name, SD_BUS_ERROR_SERVICE_UNKNOWN) == 0 || strcmp(name, SD_BUS_ERROR_NAME_HAS_NO_OWNER) == 0))
                fprintf(stderr, "aicctl: aicd is not running (start it with: systemctl --user start aicd)\n");
        else if (r == -ETIMEDOUT || (name && strcmp(name, SD_BUS_ERROR_TIMEOUT) == 0))
                fprintf(stderr, "aicctl: %s: aicd did not answer within %llu s\n", what,
                        AICCTL_BUS_TIMEOUT_USEC / 1000000ULL);
        else if (name && strcmp(name, SD_BUS_ERROR_NO_REPLY) == 0)
                fprintf(stderr, "aicctl: %s: aicd did not answer (did it stop?)\n", what);
        else if (name &&
                 (strcmp(name, SD_BUS_ERROR_UNKNOWN_METHOD) == 0 || strcmp(name, SD_BUS_ERROR_UNKNOWN_OBJECT) == 0 ||
                  strcmp(name, SD_BUS_ERROR_UNKNOWN_INTERFACE) == 0 ||
                  strcmp(name, SD_BUS_ERROR_UNKNOWN_PROPERTY) == 0))
                fprintf(stderr, "aicctl: %s: the running aicd does not offer this (is it another version?)\n", what);
        else if (name && error->message && error->message[0])
                /* The daemon's messages are fixed sentences: never a secret. */
                fprintf(stderr, "aicctl: %s: %s\n", what, error->message);
        else if (!name && (r == -ECONNRESET || r == -ENOTCONN || r == -EPIPE || r == -ECONNREFUSED || r == -ENOENT))
                fprintf(stderr, "aicctl: %s: cannot reach the session bus (%s)\n", what, strerror(-r));
        else
                fprintf(stderr, "aicctl: %s: %s\n", what, strerror(-r));
        return r;
}

int aicctl_bus_open(sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_user(&bus);
        if (r < 0) {
                fprintf(stderr, "aicctl: cannot reach the session bus (%s), so aicd cannot be reached either\n",
                        strerror(-r));
                return r;
        }
        r = sd_bus_set_method_call_timeout(bus, AICCTL_BUS_TIMEOUT_USEC);
        if (r < 0) {
                sd_bus_flush_close_unref(bus);
                return report("cannot set up the bus connection", r, NULL);
        }
        *ret = bus;
        return 0;
}

int aicctl_bus_new_call(sd_bus *bus, const char *interface, const char *member, sd_bus_message **ret) {
        sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, AICD_BUS_NAME, AICD_BUS_PATH,
                                           interface ? interface : AICD_BUS_INTERFACE, member);
        if (r >= 0)
                /* Never activate: a user asking about aicd wants to learn that
                 * it is not running, not to wait for it to start. */
                r = sd_bus_message_set_auto_start(m, false);
        if (r < 0) {
                sd_bus_message_unref(m);
                return report("cannot build a D-Bus call", r, NULL);
        }
        *ret = m;
        return 0;
}

int aicctl_bus_call(sd_bus *bus, sd_bus_message *m, const char *what, sd_bus_message **ret_reply) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call(bus, m, AICCTL_BUS_TIMEOUT_USEC, &error, ret_reply);
        if (r < 0)
                report(what, r, &error);
        sd_bus_error_free(&error);
        return r < 0 ? r : 0;
}

int aicctl_bus_get_property(sd_bus *bus, const char *name, const char *type, void *ret, sd_bus_message **ret_reply) {
        sd_bus_message *m = NULL, *reply = NULL;
        char what[128];
        int r;

        snprintf(what, sizeof(what), "cannot read %s", name);
        r = aicctl_bus_new_call(bus, "org.freedesktop.DBus.Properties", "Get", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", AICD_BUS_INTERFACE, name);
        if (r < 0) {
                sd_bus_message_unref(m);
                return report(what, r, NULL);
        }
        r = aicctl_bus_call(bus, m, what, &reply);
        sd_bus_message_unref(m);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'v', type);
        if (r > 0)
                r = sd_bus_message_read_basic(reply, type[0], ret);
        if (r <= 0) {
                sd_bus_message_unref(reply);
                return report(what, r < 0 ? r : -EBADMSG, NULL);
        }
        *ret_reply = reply;
        return 0;
}

int aicctl_bus_set_property(sd_bus *bus, const char *what, const char *name, const char *type, ...) {
        sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = aicctl_bus_new_call(bus, "org.freedesktop.DBus.Properties", "Set", &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", AICD_BUS_INTERFACE, name);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', type);
        if (r >= 0) {
                va_start(ap, type);
                r = sd_bus_message_appendv(m, type, ap);
                va_end(ap);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0) {
                sd_bus_message_unref(m);
                return report(what, r, NULL);
        }
        r = aicctl_bus_call(bus, m, what, NULL);
        sd_bus_message_unref(m);
        return r;
}

int aicctl_bus_read_dict(sd_bus_message *reply, AicctlDictEntry entry, void *userdata) {
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r <= 0)
                return r < 0 ? r : -EBADMSG;
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *name, *signature;
                char type;

                r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(reply, &type, &signature);
                if (r < 0)
                        return r;
                if (type != 'v')
                        return -EBADMSG;
                r = entry(name, signature, reply, userdata);
                if (r == 0)
                        r = sd_bus_message_skip(reply, "v");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(reply);
}

typedef struct FieldsTarget {
        const AicctlField *fields;
        size_t n_fields;
        void *base;
} FieldsTarget;

static int read_field(const char *name, const char *signature, sd_bus_message *reply, void *userdata) {
        const FieldsTarget *t = userdata;

        for (size_t i = 0; i < t->n_fields; i++) {
                const AicctlField *f = &t->fields[i];
                int r;

                if (strcmp(name, f->name) != 0)
                        continue;
                if (signature[0] != f->type || signature[1] != '\0')
                        return 0;
                r = sd_bus_message_enter_container(reply, 'v', signature);
                if (r >= 0)
                        r = sd_bus_message_read_basic(reply, f->type, (char *) t->base + f->offset);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                return r < 0 ? r : 1;
        }
        return 0;
}

int aicctl_bus_read_fields(sd_bus_message *reply, const AicctlField *fields, size_t n_fields, void *base) {
        FieldsTarget t = {fields, n_fields, base};

        return aicctl_bus_read_dict(reply, read_field, &t);
}
