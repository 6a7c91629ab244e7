/* SPDX-License-Identifier: MIT */
/*
 * D-Bus method and property arguments: the real org.aicd.Aicd1 vtable of
 * dbus/bus.c, served over a private socketpair connection with a Manager that
 * has a model but no audio, and driven by calls built from the input: method
 * calls with the right and wrong signatures, Properties.Set with every
 * variant type, Get, GetAll and Introspect. Reload is left out: it reads the
 * configuration and models from disk rather than from the message.
 */
#include "../../dbus/bus.c"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Manager manager;
static sd_bus *server, *client;

typedef struct Input {
        const uint8_t *p;
        size_t left;
} Input;

static unsigned take_byte(Input *in) {
        if (in->left == 0)
                return 0;
        in->left--;
        return *in->p++;
}

/* A string of up to 65535 bytes; it ends at the first NUL, as D-Bus strings do. */
static char *take_string(Input *in) {
        size_t n = take_byte(in);
        char *s;

        n = n << 8 | take_byte(in);
        if (n > in->left)
                n = in->left;
        s = malloc(n + 1);
        if (!s)
                abort();
        memcpy(s, in->p, n);
        s[n] = '\0';
        in->p += n;
        in->left -= n;
        return s;
}

static void setup(void) {
        sd_id128_t id;
        int fds[2];

        log_set_max_level(2);
        config_init(&manager.config);
        manager.level = 1.0;
        if (sd_event_default(&manager.event) < 0 ||
            aic_model_create_from_file(&manager.model, AICD_TEST_DATA_DIR "/tiny.aicm") != AIC_ERROR_SUCCESS)
                abort();
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0 || sd_id128_randomize(&id) < 0)
                abort();
        if (sd_bus_new(&server) < 0 || sd_bus_set_fd(server, fds[0], fds[0]) < 0 ||
            sd_bus_set_server(server, 1, id) < 0 || sd_bus_set_anonymous(server, 1) < 0 ||
            sd_bus_add_object_vtable(server, NULL, BUS_PATH, BUS_INTERFACE, aicd_vtable, &manager) < 0 ||
            sd_bus_start(server) < 0)
                abort();
        if (sd_bus_new(&client) < 0 || sd_bus_set_fd(client, fds[1], fds[1]) < 0 || sd_bus_set_anonymous(client, 1) < 0 ||
            sd_bus_start(client) < 0)
                abort();
}

static int on_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        (void) reply, (void) error;
        *(bool *) userdata = true;
        return 0;
}

/* Sends the call and turns both ends until its reply arrives. */
static void call(sd_bus_message *msg) {
        bool done = false;
        unsigned i = 0;

        if (sd_bus_call_async(client, NULL, msg, on_reply, &done, 0) < 0)
                return;
        while (!done) {
                int a = sd_bus_process(server, NULL), b = sd_bus_process(client, NULL);

                if (a < 0 || b < 0 || ++i > 10000)
                        abort(); /* the daemon dropped the connection or never answered */
                if (a == 0 && b == 0)
                        (void) sd_bus_wait(client, 1000);
        }
}

static int new_call(sd_bus_message **ret, const char *interface, const char *member) {
        return sd_bus_message_new_method_call(client, ret, NULL, BUS_PATH, interface, member);
}

/* Appends one value of a type picked by the input; strings may be anything. */
static int append_value(sd_bus_message *m, Input *in, bool variant) {
        static const char *const types[] = {"b", "d", "s", "u", "i", "t", "o", "as", "y"};
        const char *t = types[take_byte(in) % (sizeof(types) / sizeof(types[0]))];
        int r;

        if (variant && (r = sd_bus_message_open_container(m, 'v', t)) < 0)
                return r;
        switch (t[0]) {
        case 'b':
                r = sd_bus_message_append(m, "b", (int) (take_byte(in) & 1));
                break;
        case 'd': {
                double d = 0;
                uint8_t raw[sizeof(d)];

                for (size_t i = 0; i < sizeof(raw); i++)
                        raw[i] = (uint8_t) take_byte(in);
                memcpy(&d, raw, sizeof(d));
                r = sd_bus_message_append(m, "d", d);
                break;
        }
        case 's':
        case 'a': {
                char *s = take_string(in);

                r = t[0] == 's' ? sd_bus_message_append(m, "s", s) : sd_bus_message_append(m, "as", 1, s);
                free(s);
                break;
        }
        case 'o':
                r = sd_bus_message_append(m, "o", "/org/aicd");
                break;
        default:
                r = sd_bus_message_append(m, t, (uint32_t) take_byte(in));
                break;
        }
        if (r >= 0 && variant)
                r = sd_bus_message_close_container(m);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const methods[] = {"SetLicense", "UpdateBearerToken", "ClearCredential", "GetMetrics"};
        static const char *const properties[] = {"Bypass", "EnhancementLevel", "InputTarget", "State", "Model",
                                                 "SampleRate", "LatencyUsec", "CredentialKind",
                                                 "CredentialExpiresAt", "InputNode", "SourceNode", "Nope"};
        Input in = {data, size};

        if (!server)
                setup();
        /* Each input starts from the same daemon state. */
        manager.config.license_mode = size > 0 && (data[0] & 0x80) ? LICENSE_MODE_PUSH : LICENSE_MODE_NONE;
        manager_clear_credential(&manager);
        manager.bypass = false;
        manager.level = 1.0;

        for (unsigned n = 0; n < 16 && in.left > 0; n++) {
                unsigned op = take_byte(&in);
                sd_bus_message *m = NULL;
                int r;

                switch (op % 6) {
                case 0: /* a method, with 0..2 arguments of any type */
                case 1: {
                        unsigned nargs = take_byte(&in) % 3;

                        r = new_call(&m, BUS_INTERFACE, methods[(op >> 3) % 4]);
                        for (unsigned i = 0; r >= 0 && i < nargs; i++)
                                r = append_value(m, &in, false);
                        break;
                }
                case 2: /* Properties.Set */
                        r = new_call(&m, "org.freedesktop.DBus.Properties", "Set");
                        if (r >= 0)
                                r = sd_bus_message_append(m, "ss", take_byte(&in) & 1 ? BUS_INTERFACE : "org.aicd.Other",
                                                          properties[take_byte(&in) % 12]);
                        if (r >= 0)
                                r = append_value(m, &in, true);
                        break;
                case 3: /* Properties.Get */
                        r = new_call(&m, "org.freedesktop.DBus.Properties", "Get");
                        if (r >= 0)
                                r = sd_bus_message_append(m, "ss", BUS_INTERFACE, properties[take_byte(&in) % 12]);
                        break;
                case 4:
                        r = new_call(&m, "org.freedesktop.DBus.Properties", "GetAll");
                        if (r >= 0)
                                r = sd_bus_message_append(m, "s", BUS_INTERFACE);
                        break;
                default:
                        r = new_call(&m, "org.freedesktop.DBus.Introspectable", "Introspect");
                        break;
                }
                if (r >= 0)
                        call(m);
                sd_bus_message_unref(m);
        }
        if (!(manager.level >= 0.0 && manager.level <= 1.0))
                abort();
        if (manager.input_target && !string_is_sane(manager.input_target, BUS_NODE_NAME_MAX))
                abort();
        return 0;
}
