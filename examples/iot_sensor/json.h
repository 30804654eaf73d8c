/* Just enough JSON for the device: find a member of an object, read a
 * string or an integer, write a string literal. No allocation; input is
 * checked (a malformed object is "not found"). */
#ifndef IOT_SENSOR_JSON_H
#define IOT_SENSOR_JSON_H

#include <stdbool.h>
#include <stddef.h>

struct span {
    const char *p;
    size_t n;
};

/* The raw value of member `key` of the JSON object `obj` (which must be a
 * whole, well-formed object, nesting at most 16 deep). */
bool json_member(struct span obj, const char *key, struct span *value);
/* Decodes a string value into `out` as UTF-8 with a NUL at the end; false
 * for anything but a string, a string holding NUL, or one that does not fit. */
bool json_string(struct span value, char *out, size_t cap);
/* An integer value (no fraction, no exponent, at most 18 digits). */
bool json_int(struct span value, long long *out);
/* Appends `s` as a JSON string literal, quotes included, at buf[*len];
 * false (buf unchanged past *len) when it does not fit. */
bool json_append_string(char *buf, size_t cap, size_t *len, const char *s);

#endif
