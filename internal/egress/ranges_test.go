package egress

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// testRanges is the blocked-range table written out again, each with a word
// its reason must contain. TestBlockedRangesCovered fails when the policy's
// table and this one differ, so a new range cannot go untested.
var testRanges = []struct{ cidr, reason string }{
	{"0.0.0.0/8", "unspecified"},
	{"10.0.0.0/8", "private"},
	{"100.64.0.0/10", "CGNAT"},
	{"127.0.0.0/8", "loopback"},
	{"168.63.129.16/32", "Azure"},
	{"169.254.0.0/16", "link-local"},
	{"172.16.0.0/12", "private"},
	{"192.0.0.0/24", "IETF protocol"},
	{"192.0.2.0/24", "documentation"},
	{"192.88.99.0/24", "6to4 relay"},
	{"192.168.0.0/16", "private"},
	{"198.18.0.0/15", "benchmarking"},
	{"198.51.100.0/24", "documentation"},
	{"203.0.113.0/24", "documentation"},
	{"224.0.0.0/4", "multicast"},
	{"240.0.0.0/4", "reserved"},
	{"255.255.255.255/32", "broadcast"},
	{"::/128", "unspecified"},
	{"::1/128", "loopback"},
	{"::/96", "IPv4-compatible"},
	{"::ffff:0:0:0/96", "IPv4-translated"},
	{"64:ff9b:1::/48", "local-use NAT64"},
	{"100::/64", "discard-only"},
	{"2001::/23", "IETF protocol"},
	{"2001::/32", "Teredo"},
	{"2001:db8::/32", "documentation"},
	{"3fff::/20", "documentation"},
	{"5f00::/16", "segment routing"},
	{"fc00::/7", "unique local"},
	{"fe80::/10", "link-local"},
	{"fec0::/10", "site-local"},
	{"ff00::/8", "multicast"},
}

// wantBlocked is the verdict for a, worked out from testRanges: the most
// specific range holding a (or the IPv4 address an IPv6 form embeds) names
// the reason.
func wantBlocked(a netip.Addr) (reason string, blocked bool) {
	if v4, ok := embeddedIPv4(a); ok {
		if r, b := wantBlocked(v4); b {
			return r, true
		}
		if a.Is4In6() {
			return "", false
		}
	}
	bits := -1
	for _, r := range testRanges {
		p := netip.MustParsePrefix(r.cidr)
		if p.Contains(a) && p.Bits() > bits {
			reason, bits = r.reason, p.Bits()
		}
	}
	return reason, bits >= 0
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 96
	}
	for i := p.Bits() + off; i < 128; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a := netip.AddrFrom16(b)
	if p.Addr().Is4() {
		a = a.Unmap()
	}
	return a
}

// midAddr is p's first address with the highest host bit set.
func midAddr(p netip.Prefix) netip.Addr {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr()
	}
	b := p.Masked().Addr().AsSlice()
	b[p.Bits()/8] |= 0x80 >> (p.Bits() % 8)
	a, _ := netip.AddrFromSlice(b)
	return a
}

func TestBlockedRangesCovered(t *testing.T) {
	var got, want []string
	for _, r := range blockedRanges {
		got = append(got, r.prefix.String())
	}
	for _, r := range testRanges {
		want = append(want, netip.MustParsePrefix(r.cidr).String())
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("policy ranges %v\ntested ranges %v", got, want)
	}
}

// TestEveryBlockedRange checks the first, a middle and the last address of
// every range (and, for IPv4, the same addresses mapped, NAT64- and
// 6to4-embedded in IPv6), and the neighbours just outside each range.
func TestEveryBlockedRange(t *testing.T) {
	for _, r := range testRanges {
		p := netip.MustParsePrefix(r.cidr)
		inside := []netip.Addr{p.Addr(), midAddr(p), lastAddr(p)}
		for _, a := range inside {
			reason, _ := wantBlocked(a)
			checkBlocked(t, r.cidr, a, reason)
			if a.Is4() {
				for _, e := range embeddings(a) {
					checkBlocked(t, r.cidr, e, reason, "(embedded in IPv6)")
				}
			}
		}
		for _, a := range []netip.Addr{p.Addr().Prev(), lastAddr(p).Next()} {
			if !a.IsValid() {
				continue // the range starts or ends the address space
			}
			if reason, blocked := wantBlocked(a); blocked {
				checkBlocked(t, r.cidr+" neighbour", a, reason)
			} else if err := CheckAddr(a, nil); err != nil {
				t.Errorf("%s neighbour %s: %v, want allowed", r.cidr, a, err)
			}
		}
	}
}

// embeddings returns v4 as IPv4-mapped, NAT64 (64:ff9b::/96) and 6to4.
func embeddings(v4 netip.Addr) []netip.Addr {
	b := v4.As4()
	nat64 := netip.MustParseAddr("64:ff9b::").As16()
	copy(nat64[12:], b[:])
	sixToFour := [16]byte{0x20, 0x02, b[0], b[1], b[2], b[3]}
	return []netip.Addr{netip.AddrFrom16(v4.As16()), netip.AddrFrom16(nat64), netip.AddrFrom16(sixToFour)}
}

// checkBlocked asserts CheckAddr refuses a with a reason holding every
// one of words.
func checkBlocked(t *testing.T, what string, a netip.Addr, words ...string) {
	t.Helper()
	var be *BlockedError
	err := CheckAddr(a, nil)
	ok := errors.As(err, &be) && be.Addr == a.WithZone("")
	for _, w := range words {
		ok = ok && strings.Contains(be.Reason, w)
	}
	if !ok {
		t.Errorf("%s: CheckAddr(%s) = %v, want blocked (%s)", what, a, err, strings.Join(words, ", "))
	}
}

// TestNamedDangerousAddresses lists the addresses SSRF attacks aim at,
// each with the rule that stops it.
func TestNamedDangerousAddresses(t *testing.T) {
	for _, tc := range []struct{ addr, reason string }{
		{"0.0.0.0", "unspecified"},                // reaches the local host on Linux
		{"::", "unspecified"},                     // likewise over IPv6
		{"169.254.169.254", "link-local"},         // AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack metadata
		{"169.254.170.2", "link-local"},           // AWS ECS task metadata and credentials
		{"fd00:ec2::254", "unique local"},         // AWS IMDS over IPv6 (in fc00::/7)
		{"fd00:ec2::253", "unique local"},         // AWS DNS over IPv6
		{"100.100.100.200", "CGNAT"},              // Alibaba Cloud metadata (in 100.64.0.0/10)
		{"192.0.0.192", "IETF protocol"},          // Oracle Cloud Classic metadata (in 192.0.0.0/24)
		{"168.63.129.16", "Azure"},                // Azure WireServer, a public-looking platform address
		{"::ffff:10.0.0.1", "private"},            // IPv4-mapped
		{"::ffff:127.0.0.1", "loopback"},          // IPv4-mapped
		{"::ffff:169.254.169.254", "link-local"},  // IPv4-mapped metadata
		{"64:ff9b::7f00:1", "loopback"},           // NAT64 of 127.0.0.1
		{"64:ff9b::a9fe:a9fe", "link-local"},      // NAT64 of 169.254.169.254
		{"64:ff9b:1::a00:1", "local-use NAT64"},   // RFC 8215 local NAT64
		{"2002:a9fe:a9fe::", "link-local"},        // 6to4 of 169.254.169.254
		{"::127.0.0.1", "IPv4-compatible"},        // deprecated IPv4-compatible form
		{"::ffff:0:127.0.0.1", "IPv4-translated"}, // SIIT form
		{"fe80::1%eth0", "link-local"},            // zone-scoped
		{"fe80::a9fe:a9fe%lo", "link-local"},      // zone-scoped
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"},
	} {
		checkBlocked(t, tc.addr, netip.MustParseAddr(tc.addr), tc.reason)
	}
}

// TestAllowListExactEdges shows the allow-list lets exactly its networks
// through: the first and last address inside pass, the neighbours outside
// stay blocked, and an allowed IPv4 network covers its mapped form too.
func TestAllowListExactEdges(t *testing.T) {
	allowed, err := ParseCIDRs("10.1.0.0/16,127.0.0.8/30,fd12:3456::/32,169.254.169.254")
	if err != nil {
		t.Fatal(err)
	}
	in := []string{"10.1.0.0", "10.1.128.7", "10.1.255.255", "127.0.0.8", "127.0.0.11", "fd12:3456::", "fd12:3456:ffff:ffff:ffff:ffff:ffff:ffff",
		"169.254.169.254", "::ffff:10.1.0.1", "::ffff:127.0.0.9"}
	out := []string{"10.0.255.255", "10.2.0.0", "127.0.0.7", "127.0.0.12", "fd12:3455:ffff:ffff:ffff:ffff:ffff:ffff", "fd12:3457::",
		"169.254.169.253", "169.254.169.255", "::ffff:10.2.0.0", "::ffff:127.0.0.12"}
	for _, a := range in {
		if err := CheckAddr(netip.MustParseAddr(a), allowed); err != nil {
			t.Errorf("%s is inside the allow-list but %v", a, err)
		}
	}
	for _, a := range out {
		if err := CheckAddr(netip.MustParseAddr(a), allowed); err == nil {
			t.Errorf("%s is just outside the allow-list but allowed", a)
		}
	}
}
