#include "outbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "json.h"

/* The spool image: a header and one line per queued message. */
static char spool_text[OUTBOX_CAP * (PAYLOAD_MAX + MSG_ID_MAX + 8) + 512];
static const char SPOOL_MAGIC[] = "iot_sensor spool 1\n";

static void new_generation(struct device *d) {
    unsigned char r[4];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        const unsigned long t = (unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16);
        memcpy(r, &t, sizeof r);
    }
    snprintf(d->generation, sizeof d->generation, "%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
    d->next_id = 1;
}

static const char *alarm_name(enum alarm_state a) {
    return a == ALARM_HIGH ? "high" : a == ALARM_NORMAL ? "normal" : "unknown";
}

static bool write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        const ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

bool spool_save(const struct device *d) {
    int n = snprintf(spool_text, sizeof spool_text, "%sgeneration %s\nnext %lu\nalarm %s %d\nlast_command %lld\ndropped %lu\n",
                     SPOOL_MAGIC, d->generation, d->next_id, alarm_name(d->alarm), d->alarm_announced ? 1 : 0,
                     d->last_command_seq, d->dropped);
    for (int i = 0; i < d->outbox_len && n > 0 && (size_t)n < sizeof spool_text; i++)
        n += snprintf(spool_text + n, sizeof spool_text - (size_t)n, "msg %s %s\n", d->outbox[i].id,
                      d->outbox[i].payload);
    if (n <= 0 || (size_t)n >= sizeof spool_text) return false; /* cannot happen: sized for a full queue */

    char tmp[PATH_MAX_LEN + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", d->opt.spool_file);
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        say(d, "cannot write the spool %s: %s", tmp, strerror(errno));
        return false;
    }
    const bool ok = write_all(fd, spool_text, (size_t)n) && fsync(fd) == 0;
    const int saved_errno = errno;
    close(fd);
    if (!ok || rename(tmp, d->opt.spool_file) != 0) {
        say(d, "cannot write the spool %s: %s", d->opt.spool_file, strerror(ok ? errno : saved_errno));
        unlink(tmp);
        return false;
    }
    /* The rename itself is durable once the directory is synced. */
    char dir[PATH_MAX_LEN];
    snprintf(dir, sizeof dir, "%s", d->opt.spool_file);
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = '\0';
    else if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    const int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return true;
}

/* Parses the spool image in spool_text (NUL-terminated); false if anything is off. */
static bool parse_spool(struct device *d) {
    char *line = spool_text;
    if (strncmp(line, SPOOL_MAGIC, sizeof SPOOL_MAGIC - 1) != 0) return false;
    line += sizeof SPOOL_MAGIC - 1;
    bool have_generation = false;
    while (*line) {
        char *end = strchr(line, '\n');
        if (!end) return false;
        *end = '\0';
        char word[MSG_ID_MAX], alarm[16];
        int announced = 0, used = 0;
        if (sscanf(line, "generation %11s", d->generation) == 1 && strlen(d->generation) == 8) {
            have_generation = true;
        } else if (sscanf(line, "next %lu", &d->next_id) == 1) {
        } else if (sscanf(line, "alarm %15s %d", alarm, &announced) == 2) {
            d->alarm = strcmp(alarm, "high") == 0 ? ALARM_HIGH : strcmp(alarm, "normal") == 0 ? ALARM_NORMAL : ALARM_UNKNOWN;
            d->alarm_announced = announced != 0;
        } else if (sscanf(line, "last_command %lld", &d->last_command_seq) == 1) {
        } else if (sscanf(line, "dropped %lu", &d->dropped) == 1) {
        } else if (sscanf(line, "msg %31s %n", word, &used) == 1 && used > 0) {
            if (d->outbox_len == OUTBOX_CAP) return false;
            struct outgoing *o = &d->outbox[d->outbox_len];
            const char *payload = line + used;
            const struct span whole = {payload, strlen(payload)};
            struct span id;
            char id_text[MSG_ID_MAX];
            if (whole.n >= PAYLOAD_MAX || !json_member(whole, "id", &id) || !json_string(id, id_text, sizeof id_text) ||
                strcmp(id_text, word) != 0)
                return false;
            memset(o, 0, sizeof *o);
            snprintf(o->id, sizeof o->id, "%s", word);
            memcpy(o->payload, payload, whole.n + 1);
            d->outbox_len++;
        } else if (sscanf(line, "%31s", word) == 1) {
            return false;
        }
        line = end + 1;
    }
    return have_generation && d->next_id > 0;
}

bool spool_load(struct device *d) {
    const int fd = open(d->opt.spool_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) {
            say(d, "cannot read the spool %s: %s", d->opt.spool_file, strerror(errno));
            return false;
        }
        new_generation(d);
        say(d, "new spool %s (ids %s-N)", d->opt.spool_file, d->generation);
        return spool_save(d);
    }
    size_t n = 0;
    ssize_t r;
    while (n < sizeof spool_text - 1 && (r = read(fd, spool_text + n, sizeof spool_text - 1 - n)) != 0) {
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) break;
        n += (size_t)r;
    }
    close(fd);
    spool_text[n] = '\0';
    if (!parse_spool(d) || n == sizeof spool_text - 1) {
        /* Keep the evidence, start afresh with a new id prefix (no id of the
         * old one can come back with another message). */
        char bad[PATH_MAX_LEN + 8];
        snprintf(bad, sizeof bad, "%s.bad", d->opt.spool_file);
        rename(d->opt.spool_file, bad);
        say(d, "spool %s is unreadable; kept as %s, starting empty", d->opt.spool_file, bad);
        d->outbox_len = 0;
        d->alarm = ALARM_UNKNOWN;
        d->alarm_announced = false;
        d->last_command_seq = 0;
        d->dropped = 0;
        new_generation(d);
        return spool_save(d);
    }
    if (d->outbox_len > d->opt.queue_max) {
        const int extra = d->outbox_len - d->opt.queue_max;
        memmove(d->outbox, d->outbox + extra, (size_t)d->opt.queue_max * sizeof d->outbox[0]);
        d->outbox_len = d->opt.queue_max;
        d->dropped += (unsigned long)extra;
    }
    say(d, "spool %s: %d unsent, alarm %s, ids %s-%lu on", d->opt.spool_file, d->outbox_len, alarm_name(d->alarm),
        d->generation, d->next_id);
    return true;
}

void outbox_add(struct device *d, const char *type, const char *body, long long reply_to) {
    if (d->outbox_len == d->opt.queue_max) {
        say(d, "queue full: dropping the oldest unsent message %s", d->outbox[0].id);
        memmove(d->outbox, d->outbox + 1, (size_t)(d->outbox_len - 1) * sizeof d->outbox[0]);
        d->outbox_len--;
        d->dropped++;
    }
    struct outgoing *o = &d->outbox[d->outbox_len];
    memset(o, 0, sizeof *o);
    char id[MSG_ID_MAX];
    snprintf(id, sizeof id, "%s-%lu", d->generation, d->next_id++);
    memcpy(o->id, id, sizeof id);
    size_t n = 0;
    n += (size_t)snprintf(o->payload, sizeof o->payload, "{\"id\":\"%s\",\"type\":\"%s\"", id, type);
    if (reply_to > 0) n += (size_t)snprintf(o->payload + n, sizeof o->payload - n, ",\"reply_to\":%lld", reply_to);
    n += (size_t)snprintf(o->payload + n, sizeof o->payload - n, ",\"body\":");
    if (!json_append_string(o->payload, sizeof o->payload - 1, &n, body)) {
        say(d, "message too long for the queue, not sent: %.60s…", body); /* our own texts are short */
        return;
    }
    o->payload[n++] = '}';
    o->payload[n] = '\0';
    d->outbox_len++;
    spool_save(d);
    if (d->opt.verbose) say(d, "queued %s: %s", o->id, body);
}

static int find(const struct device *d, const char *id) {
    for (int i = 0; i < d->outbox_len; i++)
        if (strcmp(d->outbox[i].id, id) == 0) return i;
    return -1;
}

static void remove_at(struct device *d, int i) {
    memmove(d->outbox + i, d->outbox + i + 1, (size_t)(d->outbox_len - i - 1) * sizeof d->outbox[0]);
    d->outbox_len--;
    spool_save(d);
}

void outbox_acked(struct device *d, const char *id, long long seq) {
    const int i = find(d, id);
    if (i < 0) return; /* a repeat of an ack we had already */
    say(d, "acked %s as seq %lld after %u send(s)", id, seq, d->outbox[i].sends);
    remove_at(d, i);
}

void outbox_on_notice(struct device *d, const char *payload, size_t len) {
    const struct span whole = {payload, len};
    struct span v, error;
    char id[MSG_ID_MAX], code[32], message[160];
    long long seq = 0;
    if (json_member(whole, "ack", &v)) {
        if (!json_string(v, id, sizeof id)) return;
        if (json_member(whole, "seq", &v)) json_int(v, &seq);
        outbox_acked(d, id, seq);
        return;
    }
    if (!json_member(whole, "error", &error) || !json_member(whole, "id", &v) || !json_string(v, id, sizeof id)) return;
    const int i = find(d, id);
    if (i < 0) return;
    if (!json_member(error, "code", &v) || !json_string(v, code, sizeof code)) snprintf(code, sizeof code, "?");
    if (!json_member(error, "message", &v) || !json_string(v, message, sizeof message)) message[0] = '\0';
    if (strcmp(code, "rate_limited") == 0) {
        d->outbox[i].next_send_ms = now_ms() + 2 * d->opt.resend_ms; /* resend, later (protocol.md, Errors) */
        say(d, "%s: rate limited, resending later", id);
        return;
    }
    say(d, "the server refused %s (%s: %s); not resending it", id, code, message);
    d->refused++;
    remove_at(d, i);
}
