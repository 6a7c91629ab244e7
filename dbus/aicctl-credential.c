/* SPDX-License-Identifier: MIT */
/*
 * `aicctl license set` and `aicctl token set`: hand a credential to the
 * daemon. A secret enters only through stdin or a file that nobody but its
 * owner can access, never through argv (other users see argv in the process
 * list, and shells keep it in their history), and is never printed: errors
 * never echo what was read or typed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "aicctl.h"

/* The daemon's and the engine's limit too. */
#define SECRET_MAX 16384

typedef enum CredentialCommand {
        CREDENTIAL_LICENSE,
        CREDENTIAL_TOKEN,
} CredentialCommand;

static const char *const credential_usage[] = {
        [CREDENTIAL_LICENSE] = "aicctl license set [--file PATH]  (the key comes from PATH or stdin)",
        [CREDENTIAL_TOKEN] = "aicctl token set [--file PATH] | aicctl token mint [--endpoint URL]",
};

static const char *const credential_noun[] = {
        [CREDENTIAL_LICENSE] = "license key",
        [CREDENTIAL_TOKEN] = "token",
};

static void secret_free(char *s) {
        if (!s)
                return;
        explicit_bzero(s, SECRET_MAX + 2);
        free(s);
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Opens a file holding a secret: a regular file that neither group nor
 * others may access. */
static int secret_open(const char *path) {
        struct stat st;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                fprintf(stderr, "aicctl: cannot open %s: %s\n", path, strerror(errno));
                return -errno;
        }
        if (fstat(fd, &st) < 0) {
                fprintf(stderr, "aicctl: cannot read %s: %s\n", path, strerror(errno));
                close(fd);
                return -errno;
        }
        if (!S_ISREG(st.st_mode)) {
                fprintf(stderr, "aicctl: %s is not a regular file\n", path);
                close(fd);
                return -EINVAL;
        }
        if ((st.st_mode & 0077) != 0) {
                fprintf(stderr,
                        "aicctl: refusing %s: group or others can access it, and it holds a secret "
                        "(run: chmod 600 %s)\n",
                        path, path);
                close(fd);
                return -EPERM;
        }
        return fd;
}

/* Reads one credential from `path`, or from stdin when path is NULL or "-";
 * leading and trailing white space is dropped. */
static int secret_read(const char *path, const char *noun, char **ret) {
        struct termios saved, quiet;
        bool from_file = path && strcmp(path, "-") != 0, tty = false;
        size_t n = 0, start = 0, end;
        char *buf;
        int fd;

        fd = from_file ? secret_open(path) : STDIN_FILENO;
        if (fd < 0)
                return fd;
        buf = calloc(1, SECRET_MAX + 2);
        if (!buf) {
                fprintf(stderr, "aicctl: out of memory\n");
                if (from_file)
                        close(fd);
                return -ENOMEM;
        }
        if (!from_file && isatty(fd) && tcgetattr(fd, &saved) == 0) {
                tty = true;
                quiet = saved;
                quiet.c_lflag &= ~(tcflag_t) ECHO;
                quiet.c_lflag |= ECHONL;
                fprintf(stderr, "Paste the %s, then press Enter (it is not shown): ", noun);
                (void) tcsetattr(fd, TCSAFLUSH, &quiet);
        }
        while (n < SECRET_MAX + 1) {
                ssize_t k = read(fd, buf + n, SECRET_MAX + 1 - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int e = errno;

                        if (tty)
                                (void) tcsetattr(fd, TCSAFLUSH, &saved);
                        if (from_file)
                                close(fd);
                        fprintf(stderr, "aicctl: cannot read the %s: %s\n", noun, strerror(e));
                        secret_free(buf);
                        return -e;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                /* A terminal delivers a line at a time; the line is the key. */
                if (tty && memchr(buf, '\n', n))
                        break;
        }
        if (tty)
                (void) tcsetattr(fd, TCSAFLUSH, &saved);
        if (from_file)
                close(fd);

        if (n > SECRET_MAX) {
                fprintf(stderr, "aicctl: the %s is too long (more than %d bytes)\n", noun, SECRET_MAX);
                secret_free(buf);
                return -E2BIG;
        }
        while (start < n && is_space(buf[start]))
                start++;
        end = n;
        while (end > start && is_space(buf[end - 1]))
                end--;
        if (start == end) {
                fprintf(stderr, "aicctl: no %s given (pipe it on stdin or use --file PATH)\n", noun);
                secret_free(buf);
                return -ENODATA;
        }
        for (size_t i = start; i < end; i++)
                if ((unsigned char) buf[i] <= ' ' || buf[i] == 0x7f) {
                        fprintf(stderr,
                                "aicctl: expected exactly one %s, found white space or control "
                                "characters in it\n",
                                noun);
                        secret_free(buf);
                        return -EINVAL;
                }
        memmove(buf, buf + start, end - start);
        memset(buf + (end - start), 0, n - (end - start));
        *ret = buf;
        return 0;
}

/* Calls SetLicense or UpdateBearerToken with the secret; the message is
 * marked sensitive so sd-bus wipes it when freed. */
static int secret_send(sd_bus *bus, const char *member, const char *secret, const char *what) {
        sd_bus_message *m = NULL;
        int r;

        r = aicctl_bus_new_call(bus, NULL, member, &m);
        if (r < 0)
                return r;
        r = sd_bus_message_sensitive(m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", secret);
        if (r < 0) {
                fprintf(stderr, "aicctl: %s: %s\n", what, strerror(-r));
                sd_bus_message_unref(m);
                return r;
        }
        r = aicctl_bus_call(bus, m, what, NULL);
        sd_bus_message_unref(m);
        return r;
}

static size_t count_char(const char *s, char c) {
        size_t n = 0;

        for (; *s; s++)
                n += *s == c;
        return n;
}

/* `license set` and `token set`; argv[0] is "set". */
static int credential_set(int argc, char **argv, const char *command, CredentialCommand kind) {
        static const struct option options[] = {
                {"file", required_argument, NULL, 'f'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        const char *path = NULL, *noun = credential_noun[kind];
        sd_bus *bus = NULL;
        sd_bus_message *reply = NULL;
        char *secret = NULL;
        int opt, r;

        opterr = 0;
        while ((opt = getopt_long(argc, argv, "f:h", options, NULL)) >= 0)
                switch (opt) {
                case 'f':
                        path = optarg;
                        break;
                case 'h':
                        printf("Usage: %s\n", credential_usage[kind]);
                        return AICCTL_EXIT_SUCCESS;
                default:
                        /* Never echo the argument: it may be a secret. */
                        return aicctl_usage_error(command, "unknown option or missing value (usage: %s)",
                                                  credential_usage[kind]);
                }
        if (optind < argc)
                return aicctl_usage_error(command,
                                          "refusing a %s on the command line: other users can read it in the "
                                          "process list and your shell keeps it in its history; pipe it on "
                                          "stdin or use --file PATH",
                                          noun);

        if (secret_read(path, noun, &secret) < 0)
                return AICCTL_EXIT_FAILURE;
        if (kind == CREDENTIAL_TOKEN && count_char(secret, '.') != 2) {
                fprintf(stderr, "aicctl: this is not a token (a JWT has three dot-separated parts); for a license "
                                "key use: aicctl license set\n");
                secret_free(secret);
                return AICCTL_EXIT_FAILURE;
        }
        if (aicctl_bus_open(&bus) < 0) {
                secret_free(secret);
                return AICCTL_EXIT_FAILURE;
        }
        if (kind == CREDENTIAL_LICENSE)
                r = secret_send(bus, "SetLicense", secret, "cannot set the license key");
        else {
                const char *current = NULL;

                /* A token replaces a token; with no credential at all it
                 * becomes the credential (a JWT goes wherever a license key
                 * goes, CONTRACT.md). */
                r = aicctl_bus_get_property(bus, "CredentialKind", "s", &current, &reply);
                if (r >= 0)
                        r = strcmp(current, "none") == 0
                                    ? secret_send(bus, "SetLicense", secret, "cannot set the token")
                                    : secret_send(bus, "UpdateBearerToken", secret, "cannot update the token");
        }
        secret_free(secret);
        sd_bus_message_unref(reply);
        sd_bus_flush_close_unref(bus);
        if (r < 0)
                return AICCTL_EXIT_FAILURE;
        return aicctl_finish_output();
}

int aicctl_license(int argc, char **argv) {
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
                printf("Usage: %s\n", credential_usage[CREDENTIAL_LICENSE]);
                return AICCTL_EXIT_SUCCESS;
        }
        if (argc < 2 || strcmp(argv[1], "set") != 0)
                /* Never echo the argument: it may be the key itself. */
                return aicctl_usage_error("license", "expected 'set' (usage: %s)",
                                          credential_usage[CREDENTIAL_LICENSE]);
        return credential_set(argc - 1, argv + 1, "license set", CREDENTIAL_LICENSE);
}

int aicctl_token(int argc, char **argv) {
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
                printf("Usage: %s\n", credential_usage[CREDENTIAL_TOKEN]);
                return AICCTL_EXIT_SUCCESS;
        }
        if (argc >= 2 && strcmp(argv[1], "mint") == 0)
                return aicctl_token_mint(argc - 1, argv + 1);
        if (argc < 2 || strcmp(argv[1], "set") != 0)
                return aicctl_usage_error("token", "expected 'set' or 'mint' (usage: %s)",
                                          credential_usage[CREDENTIAL_TOKEN]);
        return credential_set(argc - 1, argv + 1, "token set", CREDENTIAL_TOKEN);
}
