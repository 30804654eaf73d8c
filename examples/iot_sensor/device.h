/* The iot_sensor example: one struct holds everything the device knows.
 *
 * Nothing here is allocated at run time: the outbox, the receive buffers and
 * the spool image are fixed arrays in this struct (one static instance in
 * main.c); libmosquitto's own packets are the only heap use in steady state. */
#ifndef IOT_SENSOR_DEVICE_H
#define IOT_SENSOR_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OUTBOX_CAP 64      /* hard upper bound of --queue */
#define PAYLOAD_MAX 512    /* one send envelope, JSON */
#define MSG_ID_MAX 32      /* "<generation>-<counter>" */
#define NAME_MAX_LEN 64    /* user name, client id */
#define PATH_MAX_LEN 256
#define TOPIC_MAX 160
#define TOKEN_MAX 4096

struct mosquitto;

/* One message waiting for its ack: sent with the same id until acked. */
struct outgoing {
    char id[MSG_ID_MAX];
    char payload[PAYLOAD_MAX];
    int64_t next_send_ms; /* monotonic; 0 = as soon as connected */
    unsigned sends;       /* PUBLISHes of this id, resends included */
};

struct options {
    char host[NAME_MAX_LEN];
    int port;
    char user[NAME_MAX_LEN];
    char token_file[PATH_MAX_LEN];
    long long conv;
    char client_id[NAME_MAX_LEN];
    char sensor_file[PATH_MAX_LEN];
    char sensor_cmd[PATH_MAX_LEN];
    char spool_file[PATH_MAX_LEN];
    char cafile[PATH_MAX_LEN]; /* TLS when set */
    double threshold, hysteresis, scale;
    int interval_ms, resend_ms, keepalive_s, queue_max;
    int backoff_min_ms, backoff_max_ms;
    bool verbose;
};

enum alarm_state { ALARM_UNKNOWN = 0, ALARM_NORMAL, ALARM_HIGH };

struct device {
    struct options opt;

    /* Sensor and its alarm, changed by commands at run time. */
    double threshold, hysteresis;
    int interval_ms;
    bool muted;
    enum alarm_state alarm;
    bool alarm_announced; /* the alert of this high was posted (not muted) */
    bool have_value;
    double value;
    int64_t next_poll_ms;
    unsigned read_failures;

    /* Outgoing messages, oldest first; mirrored in the spool file. */
    struct outgoing outbox[OUTBOX_CAP];
    int outbox_len;
    char generation[12];   /* id prefix, new for every new spool */
    unsigned long next_id; /* counter after the prefix */
    long long last_command_seq; /* commands at or below it were done already */
    unsigned long alerts_posted, dropped, refused;

    /* The connection. */
    struct mosquitto *mosq;
    bool socket_open;   /* TCP up (CONNACK or not) */
    bool connected;     /* CONNACK accepted */
    bool ready;         /* inbox and conversation subscribed */
    int sub_mid;
    int64_t connected_since_ms;
    int64_t next_attempt_ms;
    unsigned attempt;   /* failed attempts in a row: the backoff's exponent */
    unsigned long attempts_total;
    char inbox_topic[TOPIC_MAX], msg_topic[TOPIC_MAX], send_topic[TOPIC_MAX];
    char token[TOKEN_MAX];
};

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t now_ms(void);
/* One line on stderr, prefixed "iot_sensor[<client id>]: ". */
void say(const struct device *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
