#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: iot_sensor --user NAME --token-file F --conv ID --spool-file F\n"
    "                  (--sensor-file F | --sensor-cmd CMD) [options]\n"
    "\n"
    "A sensor on an mqchat conversation: posts an alert when its value reaches the\n"
    "threshold (one per crossing: hysteresis), and obeys commands addressed to it\n"
    "in the conversation, e.g. \"@NAME threshold 42\".\n"
    "\n"
    "  --host H            broker address (127.0.0.1)\n"
    "  --port P            broker MQTT port (1883; 8883 with --cafile)\n"
    "  --cafile F          TLS, trusting the CA certificate in F (the server's name is checked)\n"
    "  --user NAME         the device's mqchat user (MQTT username)\n"
    "  --token-file F      its token: the last line of F (the output of\n"
    "                      `mqchat-admin user-token NAME --secret-file ...`), read at every connect\n"
    "  --conv ID           the conversation it posts to and takes commands from\n"
    "  --client-id ID      fixed MQTT client id of its persistent session (iot-NAME)\n"
    "  --sensor-file F     read the value from F (e.g. /sys/class/thermal/thermal_zone0/temp)\n"
    "  --sensor-cmd CMD    or from the output of /bin/sh -c CMD\n"
    "  --scale X           multiply readings by X (1; 0.001 for millidegrees)\n"
    "  --threshold X       alert at or above X (50)\n"
    "  --hysteresis X      back to normal below threshold - X (1)\n"
    "  --interval MS       read every MS milliseconds (1000; 50..86400000)\n"
    "  --spool-file F      where unacked messages survive a restart (written on each change)\n"
    "  --queue N           at most N unacked messages, the oldest dropped beyond (16; 1..64)\n"
    "  --resend MS         resend an unacked message after MS (5000; 200..600000)\n"
    "  --keepalive S       MQTT keep-alive (30; 5..3600)\n"
    "  --backoff-min MS    first reconnect delay (500; 50..60000)\n"
    "  --backoff-max MS    largest reconnect delay (30000; backoff-min..3600000)\n"
    "  -v, --verbose       log every new reading, queued message and connect attempt\n"
    "  -h, --help          this text\n"
    "\n"
    "Commands (\"@NAME COMMAND\" in the conversation): status, threshold N, hysteresis N,\n"
    "interval MS, mute, unmute, help. SIGINT/SIGTERM stop it cleanly.\n";

enum {
    OPT_HOST = 256, OPT_PORT, OPT_USER, OPT_TOKEN_FILE, OPT_CONV, OPT_CLIENT_ID, OPT_SENSOR_FILE, OPT_SENSOR_CMD,
    OPT_SCALE, OPT_THRESHOLD, OPT_HYSTERESIS, OPT_INTERVAL, OPT_SPOOL_FILE, OPT_QUEUE, OPT_RESEND, OPT_KEEPALIVE,
    OPT_BACKOFF_MIN, OPT_BACKOFF_MAX, OPT_CAFILE
};

static bool copy(char *dst, size_t cap, const char *src, const char *name) {
    if (strlen(src) >= cap || !src[0]) {
        fprintf(stderr, "iot_sensor: %s: '%s' is empty or too long (at most %zu bytes)\n", name, src, cap - 1);
        return false;
    }
    memcpy(dst, src, strlen(src) + 1);
    return true;
}

static bool number(const char *src, double lo, double hi, double *out, const char *name) {
    char *end;
    errno = 0;
    const double v = strtod(src, &end);
    if (end == src || *end || errno || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "iot_sensor: %s: bad value '%s' (a number from %g to %g)\n", name, src, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

static bool integer(const char *src, long long lo, long long hi, long long *out, const char *name) {
    char *end;
    errno = 0;
    const long long v = strtoll(src, &end, 10);
    if (end == src || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "iot_sensor: %s: bad value '%s' (a whole number from %lld to %lld)\n", name, src, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

static bool int_option(const char *src, long long lo, long long hi, int *out, const char *name) {
    long long v;
    if (!integer(src, lo, hi, &v, name)) return false;
    *out = (int)v;
    return true;
}

int options_parse(struct options *o, int argc, char **argv) {
    static const struct option longs[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"cafile", required_argument, NULL, OPT_CAFILE},
        {"user", required_argument, NULL, OPT_USER},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"conv", required_argument, NULL, OPT_CONV},
        {"client-id", required_argument, NULL, OPT_CLIENT_ID},
        {"sensor-file", required_argument, NULL, OPT_SENSOR_FILE},
        {"sensor-cmd", required_argument, NULL, OPT_SENSOR_CMD},
        {"scale", required_argument, NULL, OPT_SCALE},
        {"threshold", required_argument, NULL, OPT_THRESHOLD},
        {"hysteresis", required_argument, NULL, OPT_HYSTERESIS},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"spool-file", required_argument, NULL, OPT_SPOOL_FILE},
        {"queue", required_argument, NULL, OPT_QUEUE},
        {"resend", required_argument, NULL, OPT_RESEND},
        {"keepalive", required_argument, NULL, OPT_KEEPALIVE},
        {"backoff-min", required_argument, NULL, OPT_BACKOFF_MIN},
        {"backoff-max", required_argument, NULL, OPT_BACKOFF_MAX},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    snprintf(o->host, sizeof o->host, "127.0.0.1");
    o->port = 0; /* 1883, or 8883 with --cafile */
    o->scale = 1;
    o->threshold = 50;
    o->hysteresis = 1;
    o->interval_ms = 1000;
    o->queue_max = 16;
    o->resend_ms = 5000;
    o->keepalive_s = 30;
    o->backoff_min_ms = 500;
    o->backoff_max_ms = 30000;
    bool ok = true;
    int c;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "vh", longs, NULL)) != -1) {
        const char *a = optarg;
        switch (c) {
        case OPT_HOST: ok &= copy(o->host, sizeof o->host, a, "--host"); break;
        case OPT_PORT: ok &= int_option(a, 1, 65535, &o->port, "--port"); break;
        case OPT_CAFILE: ok &= copy(o->cafile, sizeof o->cafile, a, "--cafile"); break;
        case OPT_USER: ok &= copy(o->user, sizeof o->user, a, "--user"); break;
        case OPT_TOKEN_FILE: ok &= copy(o->token_file, sizeof o->token_file, a, "--token-file"); break;
        case OPT_CONV: ok &= integer(a, 1, 999999999999999LL, &o->conv, "--conv"); break;
        case OPT_CLIENT_ID: ok &= copy(o->client_id, sizeof o->client_id, a, "--client-id"); break;
        case OPT_SENSOR_FILE: ok &= copy(o->sensor_file, sizeof o->sensor_file, a, "--sensor-file"); break;
        case OPT_SENSOR_CMD: ok &= copy(o->sensor_cmd, sizeof o->sensor_cmd, a, "--sensor-cmd"); break;
        case OPT_SCALE: ok &= number(a, -1e9, 1e9, &o->scale, "--scale"); break;
        case OPT_THRESHOLD: ok &= number(a, -1e9, 1e9, &o->threshold, "--threshold"); break;
        case OPT_HYSTERESIS: ok &= number(a, 0, 1e9, &o->hysteresis, "--hysteresis"); break;
        case OPT_INTERVAL: ok &= int_option(a, 50, 86400000, &o->interval_ms, "--interval"); break;
        case OPT_SPOOL_FILE: ok &= copy(o->spool_file, sizeof o->spool_file, a, "--spool-file"); break;
        case OPT_QUEUE: ok &= int_option(a, 1, OUTBOX_CAP, &o->queue_max, "--queue"); break;
        case OPT_RESEND: ok &= int_option(a, 200, 600000, &o->resend_ms, "--resend"); break;
        case OPT_KEEPALIVE: ok &= int_option(a, 5, 3600, &o->keepalive_s, "--keepalive"); break;
        case OPT_BACKOFF_MIN: ok &= int_option(a, 50, 60000, &o->backoff_min_ms, "--backoff-min"); break;
        case OPT_BACKOFF_MAX: ok &= int_option(a, 50, 3600000, &o->backoff_max_ms, "--backoff-max"); break;
        case 'v': o->verbose = true; break;
        case 'h': fputs(USAGE, stdout); return 0;
        default: ok = false; break; /* getopt said what */
        }
    }
    if (!o->port) o->port = o->cafile[0] ? 8883 : 1883;
    if (optind < argc) {
        fprintf(stderr, "iot_sensor: unexpected argument '%s'\n", argv[optind]);
        ok = false;
    }
    /* Every missing option in one message. */
    char missing[160] = "";
    if (!o->user[0]) strcat(missing, " --user");
    if (!o->token_file[0]) strcat(missing, " --token-file");
    if (!o->conv) strcat(missing, " --conv");
    if (!o->spool_file[0]) strcat(missing, " --spool-file");
    if (!o->sensor_file[0] && !o->sensor_cmd[0]) strcat(missing, " --sensor-file|--sensor-cmd");
    if (missing[0]) {
        fprintf(stderr, "iot_sensor: missing%s\n", missing);
        ok = false;
    }
    if (o->sensor_file[0] && o->sensor_cmd[0]) {
        fprintf(stderr, "iot_sensor: --sensor-file and --sensor-cmd exclude each other\n");
        ok = false;
    }
    if (o->backoff_max_ms < o->backoff_min_ms) {
        fprintf(stderr, "iot_sensor: --backoff-max (%d) is below --backoff-min (%d)\n", o->backoff_max_ms,
                o->backoff_min_ms);
        ok = false;
    }
    if (ok && !o->client_id[0] && snprintf(o->client_id, sizeof o->client_id, "iot-%s", o->user) >= (int)sizeof o->client_id) {
        fprintf(stderr, "iot_sensor: --user is too long for the default client id; give --client-id\n");
        ok = false;
    }
    if (!ok) {
        fputs("iot_sensor: see --help\n", stderr);
        return 2;
    }
    return -1;
}
