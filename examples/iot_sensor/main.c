/* iot_sensor: a small device on an mqchat conversation, in C11 with
 * libmosquitto.
 *
 * The example demonstrates:
 *  - token login (HS256 from `mqchat-admin user-token`), a fixed client id
 *    and a persistent session, so commands sent while it was offline arrive
 *    after it reconnects;
 *  - resend until acked: every message has a stable id and is published again
 *    with the same id until its ack comes on the inbox (the server stores it
 *    once); unacked messages live in a bounded queue mirrored in a spool file,
 *    so a device killed mid-send sends them after its restart;
 *  - reconnects with exponential backoff and jitter, bounded;
 *  - a sensor polled every N ms, with a threshold and hysteresis (one alert
 *    per crossing), and commands from the conversation ("@NAME status");
 *  - a fixed footprint: no allocation of its own (everything is in one static
 *    struct); only libmosquitto allocates.
 *
 * Files by concern: options.c (command line), sensor.c (reading, alarm),
 * commands.c (commands from the conversation), outbox.c (queue, acks, spool),
 * link.c (MQTT), json.c (the little JSON it needs). */

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "link.h"
#include "options.h"
#include "outbox.h"
#include "sensor.h"

enum { LOOP_WAIT_MS = 200 };

static struct device device;
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void say(const struct device *d, const char *fmt, ...) {
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "iot_sensor[%s]: %s\n", d->opt.client_id, line);
}

int main(int argc, char **argv) {
    struct device *d = &device;
    const int rc = options_parse(&d->opt, argc, argv);
    if (rc >= 0) return rc;
    setvbuf(stderr, NULL, _IOLBF, 0);
    d->threshold = d->opt.threshold;
    d->hysteresis = d->opt.hysteresis;
    d->interval_ms = d->opt.interval_ms;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a wait ends at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!spool_load(d) || !link_init(d)) return 1;
    say(d, "running: user %s, conversation %lld, threshold %g, hysteresis %g, every %d ms", d->opt.user, d->opt.conv,
        d->threshold, d->hysteresis, d->interval_ms);
    while (!stop_signal) {
        const int64_t now = now_ms();
        if (now >= d->next_poll_ms) sensor_poll(d, now);
        int64_t wait = d->next_poll_ms - now_ms();
        if (wait > LOOP_WAIT_MS) wait = LOOP_WAIT_MS;
        if (wait < 0) wait = 0;
        link_step(d, (int)wait);
    }
    say(d, "stopping on %s, %d unsent kept in %s", stop_signal == SIGINT ? "SIGINT" : "SIGTERM", d->outbox_len,
        d->opt.spool_file);
    link_close(d);
    return 0;
}
