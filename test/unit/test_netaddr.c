/* The client address: CIDR lists, and when X-Forwarded-For is believed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "netaddr.h"

static struct netaddr_trust trust(const char *list)
{
    struct netaddr_trust t;
    char why[160];
    assert_true(netaddr_trust_parse(list, &t, why, sizeof why));
    return t;
}

static void cidr_lists(void **state)
{
    (void)state;
    struct netaddr_trust t = trust(" 10.0.0.0/8, 192.168.1.7 ,::1/128,fd00::/8,");
    assert_int_equal(t.n, 4);
    assert_true(netaddr_trusted(&t, "10.200.3.4"));
    assert_true(netaddr_trusted(&t, "192.168.1.7"));
    assert_false(netaddr_trusted(&t, "192.168.1.8"));
    assert_true(netaddr_trusted(&t, "::1"));
    assert_true(netaddr_trusted(&t, "fdab::1"));
    assert_false(netaddr_trusted(&t, "fe80::1"));
    assert_true(netaddr_trusted(&t, "::ffff:10.1.2.3")); /* IPv4-mapped */
    assert_false(netaddr_trusted(&t, "11.0.0.1"));
    assert_false(netaddr_trusted(&t, "not an address"));
    assert_int_equal(trust("").n, 0);

    const char *bad[] = {"10.0.0.1/8", "10.0.0.0/33", "::1/129",      "10.0.0.0/", "10.0.0.0/x",
                         "10.0.0",     "example.com", "10.0.0.0/8/8", "0x0a.0.0.0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct netaddr_trust t2;
        char why[160] = "";
        assert_false(netaddr_trust_parse(bad[i], &t2, why, sizeof why));
        assert_non_null(strstr(why, "not a CIDR"));
    }
    char many[1024] = "";
    for (int i = 0; i <= NETADDR_MAX_CIDRS; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "10.0.%d.0/24,", i);
    struct netaddr_trust t3;
    char why[160];
    assert_false(netaddr_trust_parse(many, &t3, why, sizeof why));
}

static void client(const struct netaddr_trust *t, const char *peer, const char *xff,
                   const char *want)
{
    char out[NETADDR_BUF];
    netaddr_client(t, peer, xff, out);
    assert_string_equal(out, want);
}

static void forwarded_for(void **state)
{
    (void)state;
    struct netaddr_trust none = trust("");
    struct netaddr_trust lb = trust("127.0.0.1/32,10.0.0.0/8");
    /* nobody trusted: the header is the client's own words, ignored */
    client(&none, "127.0.0.1", "1.2.3.4", "127.0.0.1");
    client(&none, "203.0.113.9", NULL, "203.0.113.9");
    /* a trusted peer: the rightmost hop that is not a proxy */
    client(&lb, "127.0.0.1", "1.2.3.4", "1.2.3.4");
    client(&lb, "127.0.0.1", "6.6.6.6, 1.2.3.4, 10.1.1.1", "1.2.3.4");
    client(&lb, "127.0.0.1", " 2001:db8::7 ", "2001:db8::7");
    /* an untrusted peer is the client whatever it forwards */
    client(&lb, "203.0.113.9", "1.2.3.4", "203.0.113.9");
    /* garbage stops the walk at the last good address */
    client(&lb, "127.0.0.1", "1.2.3.4, junk", "127.0.0.1");
    client(&lb, "127.0.0.1", "junk, 10.0.0.5", "10.0.0.5");
    client(&lb, "127.0.0.1", "", "127.0.0.1");
    /* every hop a proxy: the leftmost */
    client(&lb, "127.0.0.1", "10.0.0.2, 10.0.0.3", "10.0.0.2");
    /* written canonically: one client, one key */
    client(&lb, "127.0.0.1", "2001:DB8:0:0:0:0:0:7", "2001:db8::7");
    client(&lb, "127.0.0.1", "::ffff:1.2.3.4", "1.2.3.4");
    client(&none, "not-an-ip", NULL, "unknown");
    /* the peer alone (no header), as civetweb writes it: the same rules */
    client(&none, "::ffff:10.9.8.7", NULL, "10.9.8.7");
    client(&lb, "::FFFF:127.0.0.2", NULL, "127.0.0.2");
    client(&none, "2001:DB8::0:1", NULL, "2001:db8::1");
    client(&none, "127.0.0.2", NULL, "127.0.0.2");
}

static void throttle_keys(void **state)
{
    (void)state;
    char out[NETADDR_BUF];
    netaddr_throttle_key("203.0.113.9", out);
    assert_string_equal(out, "203.0.113.9");
    /* every address of one /64 is one client's */
    netaddr_throttle_key("2001:db8:1:2::1", out);
    assert_string_equal(out, "2001:db8:1:2::/64");
    netaddr_throttle_key("2001:db8:1:2:ffff:ffff:ffff:ffff", out);
    assert_string_equal(out, "2001:db8:1:2::/64");
    netaddr_throttle_key("2001:db8:1:3::1", out);
    assert_string_equal(out, "2001:db8:1:3::/64");
    netaddr_throttle_key("unknown", out);
    assert_string_equal(out, "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cidr_lists),
        cmocka_unit_test(forwarded_for),
        cmocka_unit_test(throttle_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
