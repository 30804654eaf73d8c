#include "sensor.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "outbox.h"

enum { READ_MAX = 64, COMMAND_TIMEOUT_MS = 2000 };

static bool parse_number(char *text, double *value) {
    char *end;
    errno = 0;
    const double v = strtod(text, &end);
    if (end == text || errno != 0 || !isfinite(v)) return false;
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r') end++;
    if (*end != '\0') return false;
    *value = v;
    return true;
}

static ssize_t read_some(int fd, char *buf, size_t cap, int timeout_ms) {
    size_t n = 0;
    const int64_t until = now_ms() + timeout_ms;
    while (n < cap) {
        if (timeout_ms >= 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            const int64_t left = until - now_ms();
            if (left <= 0) return -1;
            const int ready = poll(&p, 1, (int)left);
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) return -1;
        }
        const ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        n += (size_t)r;
    }
    return (ssize_t)n;
}

/* Runs --sensor-cmd through /bin/sh and reads its first 63 bytes of output;
 * a command that has not finished within 2 s is killed, with its children. */
static ssize_t read_command(const char *command, char *buf, size_t cap) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    const pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0); /* its own group: a timeout kills what it started too */
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    const ssize_t n = read_some(fds[0], buf, cap, COMMAND_TIMEOUT_MS);
    close(fds[0]);
    int status = 0;
    if (n < 0) kill(-pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return n >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? n : -1;
}

bool sensor_read(const struct device *d, double *value) {
    char buf[READ_MAX];
    ssize_t n;
    if (d->opt.sensor_file[0]) {
        const int fd = open(d->opt.sensor_file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return false;
        n = read_some(fd, buf, sizeof buf - 1, -1);
        close(fd);
    } else {
        n = read_command(d->opt.sensor_cmd, buf, sizeof buf - 1);
    }
    if (n <= 0) return false;
    buf[n] = '\0';
    double v;
    if (!parse_number(buf, &v)) return false;
    *value = v * d->opt.scale;
    return true;
}

void sensor_poll(struct device *d, int64_t now) {
    d->next_poll_ms = now + d->interval_ms;
    double v;
    if (!sensor_read(d, &v)) {
        if (d->read_failures++ == 0)
            say(d, "cannot read a number from %s", d->opt.sensor_file[0] ? d->opt.sensor_file : d->opt.sensor_cmd);
        return;
    }
    if (d->read_failures) say(d, "sensor readable again after %u failed reads", d->read_failures);
    d->read_failures = 0;
    if (d->opt.verbose && (!d->have_value || v != d->value)) say(d, "reading %g", v);
    d->have_value = true;
    d->value = v;

    char body[200];
    if (d->alarm != ALARM_HIGH && v >= d->threshold) {
        d->alarm = ALARM_HIGH;
        d->alarm_announced = !d->muted;
        if (d->muted) {
            spool_save(d);
            return;
        }
        snprintf(body, sizeof body, "ALERT %s: %g reached the threshold %g", d->opt.user, v, d->threshold);
        d->alerts_posted++;
        outbox_add(d, "iot.alert", body, 0);
    } else if (d->alarm != ALARM_NORMAL && v < d->threshold - d->hysteresis) {
        const bool announce = d->alarm == ALARM_HIGH && d->alarm_announced && !d->muted;
        d->alarm = ALARM_NORMAL;
        d->alarm_announced = false;
        if (!announce) {
            spool_save(d);
            return;
        }
        snprintf(body, sizeof body, "OK %s: %g is back below %g", d->opt.user, v, d->threshold - d->hysteresis);
        outbox_add(d, "iot.clear", body, 0);
    }
}
