/* SPDX-License-Identifier: MIT */
/*
 * aicctl's commands, exit codes (CONTRACT.md: 0 success, 1 failure, 2 bad
 * usage) and the small D-Bus client layer the daemon commands share.
 */
#pragma once

#include <stddef.h>
#include <systemd/sd-bus.h>

enum {
        AICCTL_EXIT_SUCCESS = 0,
        AICCTL_EXIT_FAILURE = 1,
        AICCTL_EXIT_USAGE = 2,
};

/* Each command gets its own argv: argv[0] is the command's name. */
int aicctl_enhance(int argc, char **argv);
int aicctl_models(int argc, char **argv);
int aicctl_status(int argc, char **argv);
int aicctl_metrics(int argc, char **argv);
int aicctl_monitor(int argc, char **argv);
int aicctl_bypass(int argc, char **argv);
int aicctl_level(int argc, char **argv);
int aicctl_input(int argc, char **argv);
int aicctl_license(int argc, char **argv);
int aicctl_token(int argc, char **argv);
/* `aicctl token mint [--endpoint URL]`: argv[0] is "mint". */
int aicctl_token_mint(int argc, char **argv);

/* aicctl-bus.c: talking to org.aicd.Aicd1. Every function here prints one
 * clear line on stderr when it fails and returns a negative errno; callers
 * then exit with AICCTL_EXIT_FAILURE. Nothing ever starts the daemon by D-Bus
 * activation, and no call waits longer than AICCTL_BUS_TIMEOUT_USEC. */
#define AICCTL_BUS_TIMEOUT_USEC (10 * 1000 * 1000ULL)

int aicctl_bus_open(sd_bus **ret);
/* A method call on /org/aicd/Aicd1 of the given interface (NULL: org.aicd.Aicd1). */
int aicctl_bus_new_call(sd_bus *bus, const char *interface, const char *member, sd_bus_message **ret);
/* Sends `m`; `what` says what failed ("cannot set the license key"). */
int aicctl_bus_call(sd_bus *bus, sd_bus_message *m, const char *what, sd_bus_message **ret_reply);
/* Reads one basic-typed property ("s", "b", "d", "u", "t") into ret. A string
 * stays valid as long as *ret_reply, which the caller unrefs. */
int aicctl_bus_get_property(sd_bus *bus, const char *name, const char *type, void *ret, sd_bus_message **ret_reply);
int aicctl_bus_set_property(sd_bus *bus, const char *what, const char *name, const char *type, ...);

/* Walks an a{sv} reply (GetAll, GetMetrics). For each entry `entry` gets the
 * name, the variant's signature and the message positioned at the variant; it
 * reads the variant and returns > 0, or returns 0 and the variant is skipped
 * (an entry this aicctl does not know, or of another type: a newer daemon). */
typedef int (*AicctlDictEntry)(const char *name, const char *signature, sd_bus_message *reply, void *userdata);
int aicctl_bus_read_dict(sd_bus_message *reply, AicctlDictEntry entry, void *userdata);

/* A basic-typed entry of an a{sv} and where it goes in a struct; `json` is
 * its key in --json output (NULL where unused). */
typedef struct AicctlField {
        const char *name;
        char type;
        size_t offset;
        const char *json;
} AicctlField;
/* Reads the entries named in `fields` into `base`; others are skipped. */
int aicctl_bus_read_fields(sd_bus_message *reply, const AicctlField *fields, size_t n_fields, void *base);

/* Prints a JSON object on one line of stdout; -ENOMEM when it cannot. */
struct cJSON;
int aicctl_print_json(const struct cJSON *o);

/* Prints "aicctl COMMAND: MESSAGE" and returns AICCTL_EXIT_USAGE. */
int aicctl_usage_error(const char *command, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* Parses the options shared by read-only commands: --json and --help.
 * Returns -1 to go on, or the exit code to return. */
int aicctl_parse_json_option(int argc, char **argv, const char *usage, int *ret_json);
/* Flushes stdout; a full disk or a closed pipe is a failure. */
int aicctl_finish_output(void);
