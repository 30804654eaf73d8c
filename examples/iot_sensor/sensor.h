/* The simulated (or real) sensor: a value read from a file or a command,
 * and the alarm with hysteresis that turns readings into alerts. */
#ifndef IOT_SENSOR_SENSOR_H
#define IOT_SENSOR_SENSOR_H

#include "device.h"

/* Reads the sensor now (times --scale); false if it cannot be read or is
 * not one finite number. */
bool sensor_read(const struct device *d, double *value);
/* Reads when due and moves the alarm: one alert when the value reaches the
 * threshold, one "back to normal" when it falls below threshold - hysteresis,
 * nothing for readings in between. */
void sensor_poll(struct device *d, int64_t now);

#endif
