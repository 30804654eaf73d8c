/* Outgoing messages: a bounded queue, each entry resent with the same id
 * until its ack arrives, mirrored in the spool file so that a killed device
 * sends after its restart what it had not got acked. */
#ifndef IOT_SENSOR_OUTBOX_H
#define IOT_SENSOR_OUTBOX_H

#include "device.h"

/* Reads the spool (or starts a new one and writes it); false when the spool
 * cannot be written: the device would lose alerts, so it does not start. */
bool spool_load(struct device *d);
/* Writes the spool: a temporary file, fsync, rename. */
bool spool_save(const struct device *d);

/* Queues a message with a new id and saves the spool. `type` is the
 * envelope's type; `reply_to` the seq answered (0: none). A full queue drops
 * its oldest message (counted in `dropped`). */
void outbox_add(struct device *d, const char *type, const char *body, long long reply_to);
/* An inbox notice: an ack (the message is done) or an error about one of
 * ours (rate_limited: resend later; anything else: give it up). */
void outbox_on_notice(struct device *d, const char *payload, size_t len);
/* Our own message seen on the conversation is an ack too (protocol.md, Ack). */
void outbox_acked(struct device *d, const char *id, long long seq);

#endif
