#include "json.h"

#include <string.h>

enum { MAX_DEPTH = 16 };

static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* p at the opening quote; returns past the closing one, or NULL. */
static const char *skip_string(const char *p, const char *e) {
    for (p++; p < e; p++) {
        const unsigned char c = (unsigned char)*p;
        if (c == '"') return p + 1;
        if (c < 0x20) return NULL;
        if (c != '\\') continue;
        if (++p >= e) return NULL;
        if (*p == 'u') {
            if (e - p < 5) return NULL;
            for (int i = 1; i <= 4; i++)
                if (hex(p[i]) < 0) return NULL;
            p += 4;
        } else if (!strchr("\"\\/bfnrt", *p)) {
            return NULL;
        }
    }
    return NULL;
}

static const char *skip_value(const char *p, const char *e, int depth) {
    p = ws(p, e);
    if (p >= e) return NULL;
    if (*p == '"') return skip_string(p, e);
    if (*p == '{' || *p == '[') {
        const bool object = *p == '{';
        const char close = object ? '}' : ']';
        if (depth >= MAX_DEPTH) return NULL;
        p = ws(p + 1, e);
        if (p < e && *p == close) return p + 1;
        for (;;) {
            if (object) {
                p = ws(p, e);
                if (p >= e || *p != '"' || !(p = skip_string(p, e))) return NULL;
                p = ws(p, e);
                if (p >= e || *p != ':') return NULL;
                p++;
            }
            if (!(p = skip_value(p, e, depth + 1))) return NULL;
            p = ws(p, e);
            if (p >= e) return NULL;
            if (*p == close) return p + 1;
            if (*p++ != ',') return NULL;
        }
    }
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        const size_t n = strlen(words[i]);
        if ((size_t)(e - p) >= n && memcmp(p, words[i], n) == 0) return p + n;
    }
    const char *start = p;
    while (p < e && strchr("-+0123456789.eE", *p)) p++;
    return p > start ? p : NULL;
}

bool json_member(struct span obj, const char *key, struct span *value) {
    const char *p = obj.p, *e = obj.p + obj.n;
    const size_t key_len = strlen(key);
    bool found = false;
    p = ws(p, e);
    if (p >= e || *p != '{') return false;
    p = ws(p + 1, e);
    if (p < e && *p == '}') return false; /* {} has no members */
    for (;;) {
        if (p >= e || *p != '"') return false;
        const char *k = p + 1, *after = skip_string(p, e);
        if (!after) return false;
        const bool match = (size_t)(after - 1 - k) == key_len && memcmp(k, key, key_len) == 0;
        p = ws(after, e);
        if (p >= e || *p != ':') return false;
        const char *v = ws(p + 1, e), *v_end = skip_value(v, e, 1);
        if (!v_end) return false;
        if (match && !found) {
            found = true;
            value->p = v;
            value->n = (size_t)(v_end - v);
        }
        p = ws(v_end, e);
        if (p >= e) return false;
        if (*p == '}') return ws(p + 1, e) == e && found;
        if (*p != ',') return false;
        p = ws(p + 1, e);
    }
}

static bool put(char *out, size_t cap, size_t *len, unsigned long cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    if (*len + n >= cap) return false;
    memcpy(out + *len, b, n);
    *len += n;
    return true;
}

static unsigned long hex4(const char *p) {
    return (unsigned long)(hex(p[0]) << 12 | hex(p[1]) << 8 | hex(p[2]) << 4 | hex(p[3]));
}

bool json_string(struct span value, char *out, size_t cap) {
    const char *p = value.p, *e = value.p + value.n;
    size_t len = 0;
    if (cap == 0 || value.n < 2 || *p != '"' || skip_string(p, e) != e) return false;
    for (p++; p < e - 1; p++) {
        unsigned long cp = (unsigned char)*p;
        if (cp == '\\') {
            const char c = *++p;
            if (c == 'u') {
                cp = hex4(p + 1);
                p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF && e - p > 6 && p[1] == '\\' && p[2] == 'u') {
                    const unsigned long low = hex4(p + 3);
                    if (low >= 0xDC00 && low <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                        p += 6;
                    }
                }
                if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return false; /* NUL, lone surrogate */
            } else {
                const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
                cp = (unsigned char)to[strchr(from, c) - from];
            }
            if (!put(out, cap, &len, cp)) return false;
        } else {
            if (len + 1 >= cap) return false;
            out[len++] = (char)cp;
        }
    }
    out[len] = '\0';
    return true;
}

bool json_int(struct span value, long long *out) {
    const char *p = value.p, *e = value.p + value.n;
    bool negative = false;
    long long v = 0;
    if (p < e && *p == '-') {
        negative = true;
        p++;
    }
    if (p >= e || e - p > 18) return false;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9') return false;
        v = v * 10 + (*p - '0');
    }
    *out = negative ? -v : v;
    return true;
}

bool json_append_string(char *buf, size_t cap, size_t *len, const char *s) {
    size_t n = *len;
    if (n + 1 >= cap) return false;
    buf[n++] = '"';
    for (; *s; s++) {
        const unsigned char c = (unsigned char)*s;
        char esc[7];
        size_t k = 1;
        esc[0] = (char)c;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            k = 2;
        } else if (c < 0x20) {
            static const char digits[] = "0123456789abcdef";
            memcpy(esc, "\\u00", 4);
            esc[4] = digits[c >> 4];
            esc[5] = digits[c & 15];
            k = 6;
        }
        if (n + k + 1 >= cap) return false;
        memcpy(buf + n, esc, k);
        n += k;
    }
    if (n + 1 >= cap) return false;
    buf[n++] = '"';
    buf[n] = '\0';
    *len = n;
    return true;
}
