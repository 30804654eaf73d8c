/* The MQTT side (libmosquitto, MQTT 3.1.1, one thread): token login with a
 * fixed client id and a persistent session, QoS 1 subscriptions to the inbox
 * and the conversation, reconnects with exponential backoff and jitter, and
 * (re)sending what the outbox holds. */
#ifndef IOT_SENSOR_LINK_H
#define IOT_SENSOR_LINK_H

#include "device.h"

bool link_init(struct device *d);
/* Connects when due, runs the network for up to `wait_ms`, sends what is due. */
void link_step(struct device *d, int wait_ms);
/* A clean DISCONNECT (the session stays on the broker) and cleanup. */
void link_close(struct device *d);

#endif
