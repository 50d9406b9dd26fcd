/* printable.c - escaping control characters and invalid UTF-8 for the terminal (see printable.h). */
#include "printable.h"

#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (1..4) and its code point, or 0 when invalid. */
static size_t utf8_len(const unsigned char *p, unsigned *cp)
{
    unsigned c = p[0];
    size_t n;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if ((c & 0xe0) == 0xc0)
        n = 2, min = 0x80, c &= 0x1f;
    else if ((c & 0xf0) == 0xe0)
        n = 3, min = 0x800, c &= 0x0f;
    else if ((c & 0xf8) == 0xf0)
        n = 4, min = 0x10000, c &= 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

char *tq_printable(const char *s, char *buf, size_t cap)
{
    if (!cap)
        return buf;
    if (!s)
        s = "?";
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned cp;
        size_t n = utf8_len(p, &cp);
        char tmp[16];
        size_t tn;
        if (n == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f)) {
            n = n ? n : 1;
            tn = 0;
            for (size_t i = 0; i < n; i++)
                tn += (size_t)snprintf(tmp + tn, sizeof tmp - tn, "\\x%02x", p[i]);
        } else if (cp == '\\') {
            memcpy(tmp, "\\\\", 2);
            tn = 2;
        } else {
            memcpy(tmp, p, n);
            tn = n;
        }
        if (o + tn >= cap)
            break;
        memcpy(buf + o, tmp, tn);
        o += tn;
        p += n;
    }
    buf[o] = 0;
    return buf;
}
