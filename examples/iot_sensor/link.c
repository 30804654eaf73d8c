#include "link.h"

#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "outbox.h"

enum { CONNACK_TIMEOUT_MS = 15000, STABLE_MS = 10000 };

/* xorshift for the jitter: no need for more. */
static uint32_t jitter_state;

static uint32_t jitter_next(void) {
    uint32_t x = jitter_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return jitter_state = x;
}

/* Backoff before attempt number `attempt` (0 = first retry): exponential
 * from --backoff-min up to --backoff-max, then "equal jitter": half fixed,
 * half random, so a fleet that lost its broker together does not come back
 * in step. */
static int64_t backoff_ms(const struct device *d, unsigned attempt) {
    int64_t ms = d->opt.backoff_min_ms;
    for (unsigned i = 0; i < attempt && ms < d->opt.backoff_max_ms; i++) ms *= 2;
    if (ms > d->opt.backoff_max_ms) ms = d->opt.backoff_max_ms;
    return ms / 2 + (int64_t)(jitter_next() % (uint32_t)(ms / 2 + 1));
}

/* The connection is gone (refused, dropped, never answered): plan the next try. */
static void lost(struct device *d, const char *why) {
    if (!d->socket_open) return;
    const int64_t now = now_ms();
    if (d->ready && now - d->connected_since_ms >= STABLE_MS) d->attempt = 0;
    const int64_t wait = backoff_ms(d, d->attempt);
    d->attempt++;
    d->socket_open = d->connected = d->ready = false;
    d->next_attempt_ms = now + wait;
    say(d, "%s; next attempt in %lld ms", why, (long long)wait);
}

/* The token: the last non-empty line of --token-file, so that the output of
 * `mqchat-admin user-token` can be saved as it is. Read at every attempt: a
 * renewed token is picked up without a restart. */
static bool read_token(struct device *d) {
    const int fd = open(d->opt.token_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    size_t n = 0;
    ssize_t r;
    while (n < sizeof d->token - 1 && (r = read(fd, d->token + n, sizeof d->token - 1 - n)) != 0) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        n += (size_t)r;
    }
    close(fd);
    while (n > 0 && (d->token[n - 1] == '\n' || d->token[n - 1] == '\r' || d->token[n - 1] == ' ')) n--;
    d->token[n] = '\0';
    char *start = strrchr(d->token, '\n');
    if (start) memmove(d->token, start + 1, strlen(start + 1) + 1);
    return d->token[0] != '\0';
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc) {
    struct device *d = obj;
    if (rc != 0) {
        char why[160];
        snprintf(why, sizeof why, "login refused: %s", mosquitto_connack_string(rc));
        lost(d, why);
        mosquitto_disconnect(mosq);
        return;
    }
    d->connected = true;
    char *const topics[2] = {d->inbox_topic, d->msg_topic};
    if (mosquitto_subscribe_multiple(mosq, &d->sub_mid, 2, topics, 1, 0, NULL) != MOSQ_ERR_SUCCESS) {
        lost(d, "cannot subscribe");
        mosquitto_disconnect(mosq);
    }
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int count, const int *granted) {
    struct device *d = obj;
    if (mid != d->sub_mid) return;
    for (int i = 0; i < count; i++) {
        if (granted[i] > 2) {
            lost(d, i == 0 ? "inbox subscription refused" : "conversation subscription refused (is the user a member?)");
            mosquitto_disconnect(mosq);
            return;
        }
    }
    d->ready = true;
    d->connected_since_ms = now_ms();
    for (int i = 0; i < d->outbox_len; i++) d->outbox[i].next_send_ms = 0; /* resend everything unacked now */
    say(d, "connected and subscribed (attempt %lu), %d unsent", d->attempts_total, d->outbox_len);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc) {
    (void)mosq;
    lost(obj, rc == 0 ? "disconnected" : "connection lost");
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *m) {
    (void)mosq;
    struct device *d = obj;
    if (!m->payload || m->payloadlen <= 0) return;
    if (strcmp(m->topic, d->inbox_topic) == 0) outbox_on_notice(d, m->payload, (size_t)m->payloadlen);
    else if (strcmp(m->topic, d->msg_topic) == 0) commands_on_message(d, m->payload, (size_t)m->payloadlen);
}

bool link_init(struct device *d) {
    jitter_state = (uint32_t)now_ms() ^ ((uint32_t)getpid() << 16) ^ 0x9E3779B9u;
    if (!jitter_state) jitter_state = 1;
    snprintf(d->inbox_topic, sizeof d->inbox_topic, "chat/user/%s/inbox", d->opt.user);
    snprintf(d->msg_topic, sizeof d->msg_topic, "chat/conv/%lld/msg", d->opt.conv);
    snprintf(d->send_topic, sizeof d->send_topic, "chat/conv/%lld/send", d->opt.conv);
    mosquitto_lib_init();
    /* clean_session false: the broker keeps our subscriptions and queues
     * what the conversation says while we are away. */
    d->mosq = mosquitto_new(d->opt.client_id, false, d);
    if (!d->mosq) {
        say(d, "mosquitto_new failed: %s", strerror(errno));
        return false;
    }
    if (d->opt.cafile[0]) {
        const int rc = mosquitto_tls_set(d->mosq, d->opt.cafile, NULL, NULL, NULL, NULL);
        if (rc != MOSQ_ERR_SUCCESS) {
            say(d, "--cafile %s: %s", d->opt.cafile, mosquitto_strerror(rc));
            return false;
        }
    }
    mosquitto_connect_callback_set(d->mosq, on_connect);
    mosquitto_subscribe_callback_set(d->mosq, on_subscribe);
    mosquitto_disconnect_callback_set(d->mosq, on_disconnect);
    mosquitto_message_callback_set(d->mosq, on_message);
    return true;
}

static void try_connect(struct device *d, int64_t now) {
    d->attempts_total++;
    if (d->opt.verbose) say(d, "connecting to %s:%d (attempt %lu)", d->opt.host, d->opt.port, d->attempts_total);
    d->socket_open = true; /* so that lost() below plans the next attempt */
    d->connected_since_ms = now;
    if (!read_token(d)) {
        char why[PATH_MAX_LEN + 40];
        snprintf(why, sizeof why, "no token in %s", d->opt.token_file);
        lost(d, why);
        return;
    }
    mosquitto_username_pw_set(d->mosq, d->opt.user, d->token);
    const int rc = mosquitto_connect(d->mosq, d->opt.host, d->opt.port, d->opt.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
        char why[200];
        snprintf(why, sizeof why, "cannot reach %s:%d: %s", d->opt.host, d->opt.port,
                 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        lost(d, why);
    }
}

/* Sends every queued message whose time has come, and plans its resend. */
static void pump(struct device *d, int64_t now) {
    for (int i = 0; i < d->outbox_len && d->ready; i++) {
        struct outgoing *o = &d->outbox[i];
        if (o->next_send_ms > now) continue;
        const int rc = mosquitto_publish(d->mosq, NULL, d->send_topic, (int)strlen(o->payload), o->payload, 1, false);
        if (rc != MOSQ_ERR_SUCCESS) {
            lost(d, "publish failed");
            return;
        }
        o->sends++;
        o->next_send_ms = now + d->opt.resend_ms;
        if (o->sends > 1) say(d, "resending %s (send %u)", o->id, o->sends);
    }
}

void link_step(struct device *d, int wait_ms) {
    int64_t now = now_ms();
    if (!d->socket_open && now >= d->next_attempt_ms) try_connect(d, now);
    if (!d->socket_open) {
        int64_t left = d->next_attempt_ms - now;
        if (left > wait_ms) left = wait_ms;
        if (left > 0) {
            const struct timespec ts = {left / 1000, (long)(left % 1000) * 1000000L};
            nanosleep(&ts, NULL); /* a signal ends it early */
        }
        return;
    }
    const int rc = mosquitto_loop(d->mosq, wait_ms, 1);
    if (rc != MOSQ_ERR_SUCCESS && !(rc == MOSQ_ERR_ERRNO && errno == EINTR)) {
        lost(d, rc == MOSQ_ERR_CONN_REFUSED ? "login refused" : "connection lost");
        mosquitto_disconnect(d->mosq);
    }
    now = now_ms();
    if (d->socket_open && !d->connected && now - d->connected_since_ms > CONNACK_TIMEOUT_MS) {
        lost(d, "no CONNACK");
        mosquitto_disconnect(d->mosq);
    }
    pump(d, now);
}

void link_close(struct device *d) {
    if (d->mosq) {
        const bool was_connected = d->connected;
        d->socket_open = d->connected = d->ready = false; /* no reconnect plan to log */
        if (was_connected) mosquitto_disconnect(d->mosq);
        mosquitto_destroy(d->mosq);
        d->mosq = NULL;
    }
    mosquitto_lib_cleanup();
}
