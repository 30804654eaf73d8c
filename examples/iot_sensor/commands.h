/* Commands from the conversation. A member addresses the device by its user
 * name at the start of a message: "@sensor-1 threshold 42". The device
 * answers in the conversation (type iot.reply, reply_to = the command's seq). */
#ifndef IOT_SENSOR_COMMANDS_H
#define IOT_SENSOR_COMMANDS_H

#include "device.h"

/* A stored message delivered on chat/conv/{cid}/msg (JSON). Ignores its own
 * messages (but takes them as acks), messages not addressed to it, repeats
 * (seq at or below the last command done) and anything malformed. */
void commands_on_message(struct device *d, const char *payload, size_t len);

#endif
