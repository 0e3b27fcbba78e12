/* netaddr.h — client addresses: the peer's, or the one a trusted proxy
 * reports in X-Forwarded-For.
 *
 * Throttling counts per client address, and sessions show where they were
 * signed in from. Behind a load balancer every peer is the balancer, so
 * TRUSTED_PROXIES names the proxies (CIDRs) whose X-Forwarded-For is
 * believed. A header from anyone else is ignored: a client could write
 * any address into it. Pure functions; no I/O.
 */
#ifndef ORGD_NETADDR_H
#define ORGD_NETADDR_H

#include <stdbool.h>
#include <stddef.h>

#define NETADDR_BUF 46 /* INET6_ADDRSTRLEN */
#define NETADDR_MAX_CIDRS 32

struct netaddr_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int prefix; /* bits */
};

struct netaddr_trust {
    size_t n;
    struct netaddr_cidr cidr[NETADDR_MAX_CIDRS];
};

/* Parses a comma-separated list of CIDRs ("10.0.0.0/8, ::1/128"; an
 * address without /bits is a single host). "" is an empty list. False with
 * a one-line reason in why when an entry is not a CIDR, has host bits set,
 * or there are more than NETADDR_MAX_CIDRS. */
bool netaddr_trust_parse(const char *list, struct netaddr_trust *out, char *why, size_t whylen);

/* True when `ip` (text) is an address inside one of t's CIDRs. IPv4-mapped
 * IPv6 addresses (::ffff:a.b.c.d) match IPv4 CIDRs. */
bool netaddr_trusted(const struct netaddr_trust *t, const char *ip);

/* The client address of a request from `peer` carrying X-Forwarded-For
 * `xff` (NULL if absent), written canonically (inet_ntop) into out. When
 * the peer is trusted, xff is read from its right end: each hop that is
 * itself a trusted proxy is skipped, and the first one that is not is the
 * client. A malformed entry stops the walk at the last address known good.
 * An untrusted peer is the client, whatever xff says. */
void netaddr_client(const struct netaddr_trust *t, const char *peer, const char *xff,
                    char out[NETADDR_BUF]);

/* What per-address limits count by: an IPv4 address as it is; an IPv6
 * address by its /64 ("2001:db8:1:2::/64"), since one client commonly holds
 * a whole /64 and would otherwise get a limit per address in it. Text that
 * is no address is used as it is. */
void netaddr_throttle_key(const char *ip, char out[NETADDR_BUF]);

#endif
