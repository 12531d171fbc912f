package egress

import (
	"fmt"
	"net/netip"
	"strings"
)

// BlockedError reports a destination refused by the SSRF policy.
type BlockedError struct {
	// Host is the name the address came from ("" for an address literal).
	Host string
	// Addr is the refused address; invalid when the host itself was
	// refused (a numeric spelling that is not a canonical IP address).
	Addr   netip.Addr
	Reason string
}

// Error implements error, naming the host, the address and the rule.
func (e *BlockedError) Error() string {
	switch {
	case !e.Addr.IsValid():
		return fmt.Sprintf("destination %s is blocked: %s", e.Host, e.Reason)
	case e.Host != "" && e.Host != e.Addr.String():
		return fmt.Sprintf("destination %s (%s) is blocked: %s", e.Host, e.Addr, e.Reason)
	}
	return fmt.Sprintf("destination %s is blocked: %s", e.Addr, e.Reason)
}

// blockedRange is one special-purpose network and why it is refused.
type blockedRange struct {
	prefix netip.Prefix
	reason string
}

// blockedRanges lists every network deliveries may not reach by default,
// from the IANA IPv4 and IPv6 Special-Purpose Address Registries (the
// entries that are not globally reachable) plus cloud platform addresses
// outside them. The first match names the reason, so a range nested in
// another comes before it. IPv6 forms that embed an IPv4 address (mapped,
// NAT64, 6to4) are judged by the embedded address in CheckAddr.
var blockedRanges = func() []blockedRange {
	table := []struct{ cidr, reason string }{
		{"0.0.0.0/8", "unspecified address"},
		{"10.0.0.0/8", "private address (RFC 1918)"},
		{"100.64.0.0/10", "shared address space (CGNAT, Alibaba Cloud metadata)"},
		{"127.0.0.0/8", "loopback address"},
		{"168.63.129.16/32", "cloud platform address (Azure WireServer)"},
		{"169.254.0.0/16", "link-local address (cloud metadata)"},
		{"172.16.0.0/12", "private address (RFC 1918)"},
		{"192.0.0.0/24", "IETF protocol assignment (Oracle Cloud metadata)"},
		{"192.0.2.0/24", "documentation address"},
		{"192.88.99.0/24", "6to4 relay anycast"},
		{"192.168.0.0/16", "private address (RFC 1918)"},
		{"198.18.0.0/15", "benchmarking address"},
		{"198.51.100.0/24", "documentation address"},
		{"203.0.113.0/24", "documentation address"},
		{"224.0.0.0/4", "multicast address"},
		{"255.255.255.255/32", "broadcast address"},
		{"240.0.0.0/4", "reserved address"},
		{"::/128", "unspecified address"},
		{"::1/128", "loopback address"},
		{"::/96", "IPv4-compatible address (deprecated)"},
		{"::ffff:0:0:0/96", "IPv4-translated address"},
		{"64:ff9b:1::/48", "local-use NAT64 address"},
		{"100::/64", "discard-only address"},
		{"2001::/32", "Teredo address"},
		{"2001::/23", "IETF protocol assignment"},
		{"2001:db8::/32", "documentation address"},
		{"3fff::/20", "documentation address"},
		{"5f00::/16", "segment routing (SRv6) address"},
		{"fc00::/7", "unique local address (cloud metadata)"},
		{"fe80::/10", "link-local address"},
		{"fec0::/10", "site-local address"},
		{"ff00::/8", "multicast address"},
	}
	out := make([]blockedRange, len(table))
	for i, r := range table {
		out[i] = blockedRange{netip.MustParsePrefix(r.cidr), r.reason}
	}
	return out
}()

// Prefixes whose low 32 bits carry an IPv4 address.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// CheckAddr returns nil when a may be connected to, or a *BlockedError
// naming the rule it breaks. An address inside one of allowed is always
// let through. IPv4-mapped, NAT64 and 6to4 IPv6 addresses are judged by the
// IPv4 address they carry.
func CheckAddr(a netip.Addr, allowed []netip.Prefix) error {
	a = a.WithZone("")
	for _, p := range allowed {
		if p.Contains(a) || (a.Is4In6() && p.Contains(a.Unmap())) {
			return nil
		}
	}
	if !a.IsValid() {
		return &BlockedError{Addr: a, Reason: "invalid address"}
	}
	if v4, ok := embeddedIPv4(a); ok {
		if err := CheckAddr(v4, allowed); err != nil {
			return &BlockedError{Addr: a, Reason: err.(*BlockedError).Reason + " (embedded in IPv6)"}
		}
		if a.Is4In6() {
			return nil
		}
	}
	for _, r := range blockedRanges {
		if r.prefix.Contains(a) {
			return &BlockedError{Addr: a, Reason: r.reason}
		}
	}
	return nil
}

// embeddedIPv4 returns the IPv4 address an IPv6 address carries, for the
// mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:AABB:CCDD::)
// forms.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case a.Is4In6():
		return a.Unmap(), true
	case nat64Prefix.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

// ParseCIDRs parses a comma-separated list of networks ("10.0.0.0/8") or
// single addresses ("127.0.0.1", taken as /32 or /128). Blank items are
// skipped; the error names the first bad item.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR or IP address", item)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
