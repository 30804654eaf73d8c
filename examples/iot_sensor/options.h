/* The command line. */
#ifndef IOT_SENSOR_OPTIONS_H
#define IOT_SENSOR_OPTIONS_H

#include "device.h"

/* Fills `o` from argv; returns -1 to run, or an exit code (0 after --help,
 * 2 after a usage error, which it has printed). */
int options_parse(struct options *o, int argc, char **argv);

#endif
