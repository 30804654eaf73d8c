#include "commands.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "outbox.h"

enum { BODY_MAX = 512, ECHO_MAX = 24 };

static const char HELP[] = "commands: status | threshold N | hysteresis N | interval MS (50..86400000) | mute | unmute | help";

/* Copies at most ECHO_MAX bytes of `s` without cutting a UTF-8 sequence. */
static void echo(char *out, size_t cap, const char *s) {
    size_t n = strlen(s);
    if (n > ECHO_MAX) {
        n = ECHO_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    snprintf(out, cap, "%.*s%s", (int)n, s, n < strlen(s) ? "…" : "");
}

static bool parse_double(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    const long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static void status_text(const struct device *d, char *out, size_t cap) {
    char value[32];
    if (d->read_failures || !d->have_value) snprintf(value, sizeof value, "unreadable");
    else snprintf(value, sizeof value, "%g", d->value);
    snprintf(out, cap,
             "%s: value %s, alarm %s, threshold %g, hysteresis %g, interval %d ms, alerts %s, "
             "queue %d/%d, dropped %lu, refused %lu",
             d->opt.user, value, d->alarm == ALARM_HIGH ? "high" : d->alarm == ALARM_NORMAL ? "normal" : "unknown",
             d->threshold, d->hysteresis, d->interval_ms, d->muted ? "muted" : "on", d->outbox_len, d->opt.queue_max,
             d->dropped, d->refused);
}

/* Runs one command (text after the address) and writes the reply. */
static void run(struct device *d, char *text, char *reply, size_t cap) {
    char *save = NULL;
    const char *word = strtok_r(text, " \t\r\n", &save);
    const char *arg = strtok_r(NULL, " \t\r\n", &save);
    const char *extra = strtok_r(NULL, " \t\r\n", &save);
    const char *user = d->opt.user;
    char shown[ECHO_MAX * 2 + 8];
    if (!word || strcmp(word, "help") == 0) {
        snprintf(reply, cap, "%s: %s", user, HELP);
        return;
    }
    const bool takes_value = strcmp(word, "threshold") == 0 || strcmp(word, "hysteresis") == 0 || strcmp(word, "interval") == 0;
    const bool plain = strcmp(word, "status") == 0 || strcmp(word, "mute") == 0 || strcmp(word, "unmute") == 0;
    if (!takes_value && !plain) {
        echo(shown, sizeof shown, word);
        snprintf(reply, cap, "%s: error: unknown command '%s'; nothing changed. %s", user, shown, HELP);
        return;
    }
    if ((takes_value && (!arg || extra)) || (plain && arg)) {
        snprintf(reply, cap, "%s: error: %s %s; nothing changed", user, word,
                 plain ? "takes no value" : "takes exactly one value");
        return;
    }
    if (strcmp(word, "status") == 0) {
        status_text(d, reply, cap);
    } else if (strcmp(word, "mute") == 0 || strcmp(word, "unmute") == 0) {
        d->muted = word[0] == 'm';
        snprintf(reply, cap, "%s: alerts %s", user, d->muted ? "muted" : "on");
    } else if (strcmp(word, "interval") == 0) {
        long ms;
        echo(shown, sizeof shown, arg);
        if (!parse_int(arg, 50, 86400000, &ms)) {
            snprintf(reply, cap, "%s: error: bad interval '%s' (whole milliseconds, 50 to 86400000); nothing changed",
                     user, shown);
            return;
        }
        snprintf(reply, cap, "%s: interval %ld ms (was %d ms)", user, ms, d->interval_ms);
        d->interval_ms = (int)ms;
        d->next_poll_ms = now_ms() + ms;
    } else {
        const bool threshold = word[0] == 't';
        double v;
        echo(shown, sizeof shown, arg);
        if (!parse_double(arg, threshold ? -1e9 : 0, 1e9, &v)) {
            snprintf(reply, cap, "%s: error: bad %s '%s' (a number from %s to 1e9); nothing changed", user, word, shown,
                     threshold ? "-1e9" : "0");
            return;
        }
        double *field = threshold ? &d->threshold : &d->hysteresis;
        snprintf(reply, cap, "%s: %s %g (was %g)", user, word, v, *field);
        *field = v;
    }
}

void commands_on_message(struct device *d, const char *payload, size_t len) {
    const struct span whole = {payload, len};
    struct span v;
    char sender[NAME_MAX_LEN], id[MSG_ID_MAX + 8], type[40];
    static char body[BODY_MAX]; /* static: keeps the stack small */
    long long seq = 0;
    if (!json_member(whole, "seq", &v) || !json_int(v, &seq) || seq <= 0) return;
    if (!json_member(whole, "sender", &v) || !json_string(v, sender, sizeof sender)) return;
    if (strcmp(sender, d->opt.user) == 0) {
        /* Our own message, stored: as good as the ack on the inbox. */
        if (json_member(whole, "id", &v) && json_string(v, id, sizeof id)) outbox_acked(d, id, seq);
        return;
    }
    if (seq <= d->last_command_seq) return; /* a repeat after a restart (protocol.md, client rule 4) */
    if (json_member(whole, "type", &v) && (!json_string(v, type, sizeof type) || strcmp(type, "text") != 0)) return;
    if (!json_member(whole, "body", &v) || !json_string(v, body, sizeof body)) return;

    /* "@<user>" then the end or white space: addressed to us. */
    const size_t n = strlen(d->opt.user);
    if (body[0] != '@' || strncmp(body + 1, d->opt.user, n) != 0) return;
    char *rest = body + 1 + n;
    if (*rest != '\0' && *rest != ' ' && *rest != '\t' && *rest != '\n') return;

    char reply[400];
    run(d, rest, reply, sizeof reply);
    say(d, "command from %s (seq %lld): %s", sender, seq, reply);
    d->last_command_seq = seq; /* saved with the reply */
    outbox_add(d, "iot.reply", reply, seq);
}
