#include "netaddr.h"

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An address in network order, 4 or 16 bytes; IPv4-mapped IPv6 becomes IPv4. */
struct ip {
    int family;
    unsigned char b[16];
};

static bool ip_parse(const char *text, size_t len, struct ip *out)
{
    char buf[NETADDR_BUF];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, buf, out->b) == 1) {
        out->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, buf, out->b) != 1)
        return false;
    out->family = AF_INET6;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(out->b, mapped, sizeof mapped) == 0) {
        memmove(out->b, out->b + 12, 4);
        memset(out->b + 4, 0, 12);
        out->family = AF_INET;
    }
    return true;
}

static bool prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

static bool in_trust(const struct netaddr_trust *t, const struct ip *ip)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->cidr[i].family == ip->family &&
            prefix_match(t->cidr[i].addr, ip->b, t->cidr[i].prefix))
            return true;
    }
    return false;
}

static size_t trimmed(const char **s, size_t len)
{
    while (len > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        len--;
    }
    while (len > 0 && ((*s)[len - 1] == ' ' || (*s)[len - 1] == '\t'))
        len--;
    return len;
}

static bool cidr_parse(const char *s, size_t len, struct netaddr_cidr *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    struct ip ip;
    if (!ip_parse(s, alen, &ip))
        return false;
    int max = ip.family == AF_INET ? 32 : 128;
    int bits = max;
    if (slash != NULL) {
        size_t blen = len - alen - 1;
        if (blen == 0 || blen > 3)
            return false;
        bits = 0;
        for (size_t i = 0; i < blen; i++) {
            char c = slash[1 + i];
            if (c < '0' || c > '9')
                return false;
            bits = bits * 10 + (c - '0');
        }
        if (bits > max)
            return false;
    }
    /* host bits set ("10.0.0.1/8") is most likely a typo for something else */
    unsigned char masked[16];
    memcpy(masked, ip.b, 16);
    for (int i = bits; i < max; i++)
        masked[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
    if (memcmp(masked, ip.b, 16) != 0)
        return false;
    out->family = ip.family;
    memcpy(out->addr, ip.b, 16);
    out->prefix = bits;
    return true;
}

bool netaddr_trust_parse(const char *list, struct netaddr_trust *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    const char *p = list;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *item = p;
        size_t ilen = trimmed(&item, len);
        if (ilen > 0) {
            if (out->n == NETADDR_MAX_CIDRS) {
                snprintf(why, whylen, "lists more than %d CIDRs", NETADDR_MAX_CIDRS);
                return false;
            }
            if (!cidr_parse(item, ilen, &out->cidr[out->n])) {
                snprintf(why, whylen,
                         "\"%.*s\" is not a CIDR such as 10.0.0.0/8 or ::1/128 (host bits zero)",
                         (int)(ilen > 60 ? 60 : ilen), item);
                return false;
            }
            out->n++;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return true;
}

bool netaddr_trusted(const struct netaddr_trust *t, const char *ip)
{
    struct ip a;
    return ip != NULL && ip_parse(ip, strlen(ip), &a) && in_trust(t, &a);
}

static void ip_text(const struct ip *ip, char out[NETADDR_BUF])
{
    if (inet_ntop(ip->family, ip->b, out, NETADDR_BUF) == NULL)
        snprintf(out, NETADDR_BUF, "unknown");
}

void netaddr_client(const struct netaddr_trust *t, const char *peer, const char *xff,
                    char out[NETADDR_BUF])
{
    struct ip client;
    if (peer == NULL || !ip_parse(peer, strlen(peer), &client)) {
        snprintf(out, NETADDR_BUF, "%s", "unknown");
        return;
    }
    if (xff == NULL && client.family == AF_INET && strchr(peer, ':') == NULL) {
        /* the peer's own dotted quad (not ::ffff:-mapped): inet_pton took it
         * as it is, so it is already canonical */
        snprintf(out, NETADDR_BUF, "%s", peer);
        return;
    }
    if (xff != NULL && in_trust(t, &client)) {
        size_t end = strlen(xff);
        while (end > 0) {
            size_t start = end;
            while (start > 0 && xff[start - 1] != ',')
                start--;
            const char *item = xff + start;
            size_t ilen = trimmed(&item, end - start);
            struct ip hop;
            if (!ip_parse(item, ilen, &hop))
                break;
            client = hop;
            if (!in_trust(t, &hop))
                break;
            end = start > 0 ? start - 1 : 0;
        }
    }
    ip_text(&client, out);
}

void netaddr_throttle_key(const char *ip, char out[NETADDR_BUF])
{
    struct ip a;
    if (ip == NULL || !ip_parse(ip, strlen(ip), &a)) {
        snprintf(out, NETADDR_BUF, "%s", ip != NULL ? ip : "unknown");
        return;
    }
    if (a.family == AF_INET6) {
        memset(a.b + 8, 0, 8);
        char text[NETADDR_BUF];
        ip_text(&a, text);
        snprintf(out, NETADDR_BUF, "%.42s/64", text);
        return;
    }
    ip_text(&a, out);
}
