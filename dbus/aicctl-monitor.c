/* SPDX-License-Identifier: MIT */
/*
 * `aicctl monitor [--once] [--json]`: a live view of the running aicd (levels,
 * attenuation, speech probability, state, credential expiry), redrawn with
 * plain ANSI escapes on a terminal; one snapshot otherwise.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <systemd/sd-event.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "aicctl.h"

#define MONITOR_USAGE "aicctl monitor [--once] [--json]"
#define MONITOR_POLL_USEC (100 * 1000ULL)
/* A reply slower than this means a stuck daemon: the view says so. */
#define MONITOR_CALL_TIMEOUT_USEC (2 * 1000 * 1000ULL)
/* The range the level bars show, in dBFS, and the attenuation bar's, in dB. */
#define MONITOR_LEVEL_MIN_DB -70.0
#define MONITOR_ATTENUATION_MAX_DB 40.0
/* What aicd reports for silence and for an idle Clean Mic. */
#define MONITOR_FLOOR_DB -120.0
#define MONITOR_MIN(a, b) ((a) < (b) ? (a) : (b))

typedef struct Props {
        const char *state, *input_node, *credential_kind;
        uint64_t latency_usec, credential_expires_at;
        int bypass;
        double level;
} Props;

typedef struct Metrics {
        double input_db, output_db, vad, rtf;
        uint64_t frames, xruns;
} Metrics;


static const AicctlField prop_fields[] = {
        {"State", 's', offsetof(Props, state)},
        {"InputNode", 's', offsetof(Props, input_node)},
        {"CredentialKind", 's', offsetof(Props, credential_kind)},
        {"LatencyUsec", 't', offsetof(Props, latency_usec)},
        {"CredentialExpiresAt", 't', offsetof(Props, credential_expires_at)},
        {"Bypass", 'b', offsetof(Props, bypass)},
        {"EnhancementLevel", 'd', offsetof(Props, level)},
};

static const AicctlField metric_fields[] = {
        {"processor.input_level_db", 'd', offsetof(Metrics, input_db)},
        {"processor.output_level_db", 'd', offsetof(Metrics, output_db)},
        {"processor.vad", 'd', offsetof(Metrics, vad)},
        {"processor.rtf", 'd', offsetof(Metrics, rtf)},
        {"processor.frames", 't', offsetof(Metrics, frames)},
        {"processor.xruns", 't', offsetof(Metrics, xruns)},
};

typedef struct Monitor {
        sd_bus *bus;
        sd_event *event;
        sd_bus_message *props_reply; /* the strings in `props` point into it */
        Props props;
        Metrics metrics;
        uint64_t prev_frames;
        bool idle;
        bool metrics_pending, props_pending;
        const char *gone; /* why the view ends on its own */

        bool utf8, color, tty_saved;
        struct termios tty;
} Monitor;

static int parse_props(Monitor *mon, sd_bus_message *reply) {
        Props p = {.state = "", .input_node = "", .credential_kind = "", .level = NAN};
        int r;

        r = aicctl_bus_read_fields(reply, prop_fields, sizeof(prop_fields) / sizeof(prop_fields[0]), &p);
        if (r < 0)
                return r;
        sd_bus_message_unref(mon->props_reply);
        mon->props_reply = sd_bus_message_ref(reply);
        mon->props = p;
        return 0;
}

static int parse_metrics(Monitor *mon, sd_bus_message *reply) {
        /* NAN: a daemon without live readings. */
        Metrics m = {.input_db = NAN, .output_db = NAN, .vad = NAN, .rtf = NAN};
        int r;

        r = aicctl_bus_read_fields(reply, metric_fields, sizeof(metric_fields) / sizeof(metric_fields[0]), &m);
        if (r < 0)
                return r;
        /* No new frames since the last poll: nobody records the Clean Mic. */
        mon->idle = m.frames == mon->prev_frames;
        mon->prev_frames = m.frames;
        mon->metrics = m;
        return 0;
}

static double attenuation_db(const Metrics *m) {
        if (isnan(m->input_db) || isnan(m->output_db))
                return NAN;
        return m->input_db - m->output_db;
}

/* --- snapshot: text or JSON --- */

static void format_expiry(uint64_t expires_at, char *buf, size_t size) {
        int64_t left = (int64_t) expires_at - (int64_t) time(NULL);
        uint64_t a = (uint64_t) (left < 0 ? -left : left);
        char span[32];

        if (a >= 86400)
                snprintf(span, sizeof(span), "%llu d %llu h", (unsigned long long) (a / 86400),
                         (unsigned long long) (a % 86400 / 3600));
        else if (a >= 3600)
                snprintf(span, sizeof(span), "%llu h %02llu min", (unsigned long long) (a / 3600),
                         (unsigned long long) (a % 3600 / 60));
        else
                snprintf(span, sizeof(span), "%llu min %02llu s", (unsigned long long) (a / 60),
                         (unsigned long long) (a % 60));
        snprintf(buf, size, left >= 0 ? "expires in %s" : "expired %s ago", span);
}

static void format_credential(const Props *p, char *buf, size_t size) {
        char when[64];

        if (p->credential_kind[0] == '\0' || strcmp(p->credential_kind, "none") == 0)
                snprintf(buf, size, "none");
        else if (p->credential_expires_at == 0)
                snprintf(buf, size, "%s, does not expire", p->credential_kind);
        else {
                format_expiry(p->credential_expires_at, when, sizeof(when));
                snprintf(buf, size, "%s, %s", p->credential_kind, when);
        }
}

static void format_db(double db, const char *unit, char *buf, size_t size) {
        if (isnan(db))
                snprintf(buf, size, "n/a");
        else if (db <= MONITOR_FLOOR_DB)
                snprintf(buf, size, "silence");
        else
                snprintf(buf, size, "%.1f %s", db, unit);
}

static void print_text(const Monitor *mon) {
        const Props *p = &mon->props;
        const Metrics *m = &mon->metrics;
        char in[32], out[32], att[32], cred[128];

        format_db(m->input_db, "dBFS", in, sizeof(in));
        format_db(m->output_db, "dBFS", out, sizeof(out));
        snprintf(att, sizeof(att), isnan(attenuation_db(m)) ? "n/a" : "%.1f dB", attenuation_db(m));
        format_credential(p, cred, sizeof(cred));
        printf("       State: %s\n", p->state);
        printf("       Input: %s\n", p->input_node[0] ? p->input_node : "(none connected)");
        printf(" Input level: %s\n", in);
        printf("Output level: %s\n", out);
        printf(" Attenuation: %s\n", att);
        if (isnan(m->vad))
                printf("      Speech: n/a\n");
        else
                printf("      Speech: %.2f\n", m->vad);
        printf("      Bypass: %s\n", p->bypass ? "on" : "off");
        printf("       Level: %.2f\n", p->level);
        printf("     Latency: %.1f ms\n", (double) p->latency_usec / 1000.0);
        printf("       Xruns: %llu\n", (unsigned long long) m->xruns);
        printf("  Credential: %s\n", cred);
}

static bool add_number(cJSON *o, const char *key, double v) {
        return isnan(v) ? cJSON_AddNullToObject(o, key) != NULL : cJSON_AddNumberToObject(o, key, v) != NULL;
}

static int print_json(const Monitor *mon) {
        const Props *p = &mon->props;
        const Metrics *m = &mon->metrics;
        cJSON *o = cJSON_CreateObject();
        int r = -ENOMEM;

        if (o && cJSON_AddStringToObject(o, "state", p->state) && cJSON_AddStringToObject(o, "input_node", p->input_node) &&
            add_number(o, "input_level_db", m->input_db) && add_number(o, "output_level_db", m->output_db) &&
            add_number(o, "attenuation_db", attenuation_db(m)) && add_number(o, "vad", m->vad) &&
            cJSON_AddBoolToObject(o, "bypass", p->bypass) && add_number(o, "enhancement_level", p->level) &&
            cJSON_AddNumberToObject(o, "latency_usec", (double) p->latency_usec) &&
            cJSON_AddNumberToObject(o, "xruns", (double) m->xruns) &&
            cJSON_AddStringToObject(o, "credential_kind", p->credential_kind) &&
            cJSON_AddNumberToObject(o, "credential_expires_at", (double) p->credential_expires_at))
                r = aicctl_print_json(o);
        cJSON_Delete(o);
        return r;
}

/* --- the live view --- */

typedef struct Screen {
        char buf[8192];
        size_t len;
} Screen;

static void put(Screen *s, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void put(Screen *s, const char *format, ...) {
        va_list ap;
        int n;

        if (s->len >= sizeof(s->buf))
                return;
        va_start(ap, format);
        n = vsnprintf(s->buf + s->len, sizeof(s->buf) - s->len, format, ap);
        va_end(ap);
        if (n > 0)
                s->len = MONITOR_MIN(s->len + (size_t) n, sizeof(s->buf) - 1);
}

static void put_bar(Screen *s, const Monitor *mon, double fraction, unsigned width) {
        unsigned full;

        if (isnan(fraction))
                fraction = 0.0;
        fraction = fraction < 0.0 ? 0.0 : fraction > 1.0 ? 1.0 : fraction;
        full = (unsigned) lround(fraction * width);
        put(s, " ");
        for (unsigned i = 0; i < width; i++)
                put(s, "%s", i < full ? (mon->utf8 ? "\u2588" : "#") : (mon->utf8 ? "\u00b7" : "."));
}

static const char *state_color(const Monitor *mon, const char *state) {
        if (!mon->color)
                return "";
        if (strcmp(state, "enhancing") == 0)
                return "\033[32m";
        if (strcmp(state, "unlicensed") == 0 || strcmp(state, "expired") == 0 || strcmp(state, "disallowed") == 0)
                return "\033[31m";
        return "\033[33m";
}

static unsigned terminal_width(void) {
        struct winsize ws;

        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                return ws.ws_col;
        return 80;
}

static void draw(const Monitor *mon) {
        const Props *p = &mon->props;
        const Metrics *m = &mon->metrics;
        unsigned cols = terminal_width();
        /* Labels and numbers take 28 columns; the bars get the rest. */
        unsigned bar = cols > 28 + 10 ? MONITOR_MIN(cols - 28 - 1, 60) : 10;
        const char *bold = mon->color ? "\033[1m" : "", *dim = mon->color ? "\033[2m" : "",
                   *reset = mon->color ? "\033[0m" : "";
        char in[32], out[32], att[32], cred[128];
        double a = attenuation_db(m);
        Screen s = {};

        format_db(m->input_db, "dBFS", in, sizeof(in));
        format_db(m->output_db, "dBFS", out, sizeof(out));
        snprintf(att, sizeof(att), isnan(a) ? "n/a" : "%.1f dB", a);
        format_credential(p, cred, sizeof(cred));

        put(&s, "\033[H");
        put(&s, "%saicd monitor%s  %sq or Ctrl-C to quit%s\033[K\n\033[K\n", bold, reset, dim, reset);
        put(&s, "State         %s%s%s%s\033[K\n", state_color(mon, p->state), p->state, reset,
            mon->idle ? "  (nobody records the Clean Mic)" : "");
        put(&s, "Input         %s\033[K\n", p->input_node[0] ? p->input_node : "(none connected)");
        put(&s, "\033[K\n");
        put(&s, "Input level   %-13s", in);
        put_bar(&s, mon, (m->input_db - MONITOR_LEVEL_MIN_DB) / -MONITOR_LEVEL_MIN_DB, bar);
        put(&s, "\033[K\nOutput level  %-13s", out);
        put_bar(&s, mon, (m->output_db - MONITOR_LEVEL_MIN_DB) / -MONITOR_LEVEL_MIN_DB, bar);
        put(&s, "\033[K\nAttenuation   %-13s", att);
        put_bar(&s, mon, a / MONITOR_ATTENUATION_MAX_DB, bar);
        if (isnan(m->vad))
                put(&s, "\033[K\nSpeech        %-13s", "n/a");
        else
                put(&s, "\033[K\nSpeech        %-13.2f", m->vad);
        put_bar(&s, mon, m->vad, bar);
        put(&s, "\033[K\n\033[K\n");
        put(&s, "Bypass %s   Level %.2f   Latency %.1f ms   Xruns %llu", p->bypass ? "on" : "off", p->level,
            (double) p->latency_usec / 1000.0, (unsigned long long) m->xruns);
        if (!isnan(m->rtf))
                put(&s, "   RTF %.3f", m->rtf);
        put(&s, "\033[K\nCredential    %s\033[K\n\033[J", cred);
        /* A terminal that went away ends the view through SIGHUP. */
        (void) !write(STDOUT_FILENO, s.buf, s.len);
}

static void terminal_enter(Monitor *mon) {
        static const char enter[] = "\033[?1049h\033[?25l\033[H\033[2J";

        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &mon->tty) == 0) {
                struct termios raw = mon->tty;

                /* Keys without Enter and without echo; Ctrl-C still signals,
                 * Ctrl-Z does nothing (a stopped view would leave the
                 * terminal in this mode). */
                raw.c_lflag &= ~(tcflag_t) (ICANON | ECHO);
                raw.c_cc[VMIN] = 1;
                raw.c_cc[VTIME] = 0;
                raw.c_cc[VSUSP] = _POSIX_VDISABLE;
                mon->tty_saved = tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0;
        }
        (void) !write(STDOUT_FILENO, enter, sizeof(enter) - 1);
}

static void terminal_leave(Monitor *mon) {
        static const char leave[] = "\033[0m\033[?25h\033[?1049l";

        (void) !write(STDOUT_FILENO, leave, sizeof(leave) - 1);
        if (mon->tty_saved)
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &mon->tty);
        mon->tty_saved = false;
}

/* Whether a failed call means the daemon is gone rather than slow or odd. */
static bool error_means_gone(const sd_bus_error *e) {
        return sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                      SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_DISCONNECTED);
}

static void end_view(Monitor *mon, const char *why) {
        if (!mon->gone)
                mon->gone = why;
        sd_event_exit(mon->event, AICCTL_EXIT_FAILURE);
}

static int check_reply(Monitor *mon, sd_bus_message *reply) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);

        if (!e)
                return 0;
        if (error_means_gone(e))
                end_view(mon, "aicd went away");
        else if (sd_bus_error_has_name(e, SD_BUS_ERROR_TIMEOUT))
                end_view(mon, "aicd did not answer in time");
        else
                end_view(mon, "aicd answered with an error");
        return -EIO;
}

static int on_props_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Monitor *mon = userdata;

        (void) error;
        mon->props_pending = false;
        if (check_reply(mon, reply) < 0)
                return 0;
        if (parse_props(mon, reply) < 0)
                end_view(mon, "aicd sent an unexpected reply");
        return 0;
}

static int on_metrics_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Monitor *mon = userdata;

        (void) error;
        mon->metrics_pending = false;
        if (check_reply(mon, reply) < 0)
                return 0;
        if (parse_metrics(mon, reply) < 0) {
                end_view(mon, "aicd sent an unexpected reply");
                return 0;
        }
        draw(mon);
        return 0;
}

static int call_async(Monitor *mon, const char *interface, const char *member, sd_bus_message_handler_t handler) {
        sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(mon->bus, &m, "org.aicd.Aicd1", "/org/aicd/Aicd1",
                                           interface ? interface : "org.aicd.Aicd1", member);
        if (r >= 0)
                r = sd_bus_message_set_auto_start(m, false);
        if (r >= 0 && interface)
                r = sd_bus_message_append(m, "s", "org.aicd.Aicd1");
        if (r >= 0)
                r = sd_bus_call_async(mon->bus, NULL, m, handler, mon, MONITOR_CALL_TIMEOUT_USEC);
        sd_bus_message_unref(m);
        return r;
}

static void request_props(Monitor *mon) {
        if (mon->props_pending)
                return;
        if (call_async(mon, "org.freedesktop.DBus.Properties", "GetAll", on_props_reply) < 0)
                end_view(mon, "cannot ask aicd for its properties");
        else
                mon->props_pending = true;
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Monitor *mon = userdata;

        (void) usec;
        if (!mon->metrics_pending) {
                if (call_async(mon, NULL, "GetMetrics", on_metrics_reply) < 0)
                        end_view(mon, "cannot ask aicd for its metrics");
                else
                        mon->metrics_pending = true;
        }
        sd_event_source_set_time_relative(s, MONITOR_POLL_USEC);
        return 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        (void) m, (void) error;
        /* Read them all again: simpler than merging, and rare. */
        request_props(userdata);
        return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *name, *old_owner, *new_owner;

        (void) error;
        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) >= 0 && new_owner[0] == '\0')
                end_view(userdata, "aicd went away");
        return 0;
}

static int on_key(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Monitor *mon = userdata;
        char keys[64];
        ssize_t n;

        (void) revents;
        n = read(fd, keys, sizeof(keys));
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                /* Nothing more will come from the keyboard; q is gone, Ctrl-C stays. */
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
                return 0;
        }
        for (ssize_t i = 0; i < n; i++)
                if (keys[i] == 'q' || keys[i] == 'Q')
                        return sd_event_exit(mon->event, AICCTL_EXIT_SUCCESS);
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Monitor *mon = userdata;

        (void) s;
        if (si->ssi_signo == SIGWINCH) {
                draw(mon);
                return 0;
        }
        /* Ctrl-C, a hang-up or a polite kill: asked to stop, so not a failure. */
        return sd_event_exit(mon->event, AICCTL_EXIT_SUCCESS);
}

static int run_live(Monitor *mon) {
        static const int signals[] = {SIGINT, SIGTERM, SIGHUP, SIGWINCH};
        sd_event_source *tick = NULL;
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
                sigaddset(&mask, signals[i]);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        r = sd_event_new(&mon->event);
        if (r >= 0)
                r = sd_bus_attach_event(mon->bus, mon->event, SD_EVENT_PRIORITY_NORMAL);
        for (size_t i = 0; r >= 0 && i < sizeof(signals) / sizeof(signals[0]); i++)
                r = sd_event_add_signal(mon->event, NULL, signals[i], on_signal, mon);
        if (r >= 0 && isatty(STDIN_FILENO))
                r = sd_event_add_io(mon->event, NULL, STDIN_FILENO, EPOLLIN, on_key, mon);
        if (r >= 0)
                r = sd_event_add_time_relative(mon->event, &tick, CLOCK_MONOTONIC, MONITOR_POLL_USEC, 10 * 1000,
                                               on_tick, mon);
        if (r >= 0)
                r = sd_event_source_set_enabled(tick, SD_EVENT_ON);
        if (r >= 0)
                r = sd_bus_match_signal(mon->bus, NULL, "org.aicd.Aicd1", "/org/aicd/Aicd1",
                                        "org.freedesktop.DBus.Properties", "PropertiesChanged", on_properties_changed,
                                        mon);
        if (r >= 0)
                r = sd_bus_add_match(mon->bus, NULL,
                                     "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
                                     "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
                                     "arg0='org.aicd.Aicd1'",
                                     on_name_owner_changed, mon);
        if (r >= 0)
                r = sd_bus_set_exit_on_disconnect(mon->bus, true);
        if (r < 0) {
                fprintf(stderr, "aicctl monitor: cannot set up the view: %s\n", strerror(-r));
                sd_event_source_unref(tick);
                return AICCTL_EXIT_FAILURE;
        }

        terminal_enter(mon);
        draw(mon);
        r = sd_event_loop(mon->event);
        terminal_leave(mon);
        sd_event_source_unref(tick);
        if (r < 0) {
                fprintf(stderr, "aicctl monitor: %s\n", strerror(-r));
                return AICCTL_EXIT_FAILURE;
        }
        if (r != AICCTL_EXIT_SUCCESS)
                /* Without a reason of ours, sd-bus ended the loop: the bus is gone. */
                fprintf(stderr, "aicctl monitor: %s\n", mon->gone ? mon->gone : "lost the session bus");
        return r;
}

/* The first readings, synchronously: a daemon that is not running is
 * reported at once, in aicctl's usual words. */
static int read_once(Monitor *mon) {
        sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = aicctl_bus_new_call(mon->bus, "org.freedesktop.DBus.Properties", "GetAll", &m);
        if (r >= 0 && (r = sd_bus_message_append(m, "s", "org.aicd.Aicd1")) < 0)
                fprintf(stderr, "aicctl: cannot build a D-Bus call: %s\n", strerror(-r));
        if (r >= 0)
                r = aicctl_bus_call(mon->bus, m, "cannot read the status", &reply);
        if (r >= 0 && (r = parse_props(mon, reply)) < 0)
                fprintf(stderr, "aicctl: cannot read the status: unexpected reply (%s)\n", strerror(-r));
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        reply = m = NULL;
        if (r < 0)
                return r;

        r = aicctl_bus_new_call(mon->bus, NULL, "GetMetrics", &m);
        if (r >= 0)
                r = aicctl_bus_call(mon->bus, m, "cannot read the metrics", &reply);
        if (r >= 0 && (r = parse_metrics(mon, reply)) < 0)
                fprintf(stderr, "aicctl: cannot read the metrics: unexpected reply (%s)\n", strerror(-r));
        /* One reading cannot tell an idle Clean Mic from a busy one. */
        mon->idle = false;
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        return r;
}

int aicctl_monitor(int argc, char **argv) {
        static const struct option options[] = {
                {"once", no_argument, NULL, 'o'},
                {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},
                {},
        };
        Monitor mon = {};
        bool once = false, json = false;
        const char *codeset;
        int opt, r;

        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (opt) {
                case 'o':
                        once = true;
                        break;
                case 'j':
                        json = true;
                        break;
                case 'h':
                        printf("Usage: %s\n"
                               "Live view of aicd: levels, attenuation, speech probability, state,\n"
                               "credential expiry. One snapshot with --once, with --json (one JSON\n"
                               "object) or when stdout is not a terminal.\n",
                               MONITOR_USAGE);
                        return AICCTL_EXIT_SUCCESS;
                default:
                        return aicctl_usage_error(argv[0], "unknown option '%s' (usage: %s)", argv[optind - 1],
                                                  MONITOR_USAGE);
                }
        if (optind < argc)
                return aicctl_usage_error(argv[0], "unexpected argument (usage: %s)", MONITOR_USAGE);

        if (aicctl_bus_open(&mon.bus) < 0)
                return AICCTL_EXIT_FAILURE;
        r = read_once(&mon);
        if (r < 0)
                r = AICCTL_EXIT_FAILURE;
        else if (json) {
                if (print_json(&mon) < 0) {
                        fprintf(stderr, "aicctl: out of memory\n");
                        r = AICCTL_EXIT_FAILURE;
                } else
                        r = aicctl_finish_output();
        } else if (once || !isatty(STDOUT_FILENO)) {
                print_text(&mon);
                r = aicctl_finish_output();
        } else {
                setlocale(LC_CTYPE, "");
                codeset = nl_langinfo(CODESET);
                mon.utf8 = codeset && strcmp(codeset, "UTF-8") == 0;
                mon.color = !getenv("NO_COLOR") && !(getenv("TERM") && strcmp(getenv("TERM"), "dumb") == 0);
                r = run_live(&mon);
        }
        sd_bus_message_unref(mon.props_reply);
        sd_bus_flush_close_unref(mon.bus);
        sd_event_unref(mon.event);
        return r;
}
