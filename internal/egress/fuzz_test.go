package egress

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// FuzzCheckAddr checks the address policy against the reference verdict
// worked out from testRanges, and that the verdict survives a text round
// trip, IPv4 mapping, and an allow-list holding the address.
func FuzzCheckAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "10.0.0.1", "169.254.169.254", "8.8.8.8", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe",
		"2002:7f00:1::", "fd00:ec2::254", "fe80::1", "::", "255.255.255.255", "2606:4700::1111", "64:ff9b:1::1", "::7f00:1"} {
		f.Add(netip.MustParseAddr(s).AsSlice(), uint8(24))
	}
	f.Fuzz(func(t *testing.T, b []byte, bits uint8) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		err := CheckAddr(a, nil)
		reason, blocked := wantBlocked(a)
		var be *BlockedError
		switch {
		case blocked && (!errors.As(err, &be) || be.Addr != a || !strings.Contains(be.Reason, reason)):
			t.Fatalf("CheckAddr(%s) = %v, want blocked (%s)", a, err, reason)
		case !blocked && err != nil:
			t.Fatalf("CheckAddr(%s) = %v, want allowed", a, err)
		}
		for _, r := range blockedRanges {
			if err == nil && r.prefix.Contains(a) {
				t.Fatalf("%s is in %s but allowed", a, r.prefix)
			}
		}
		if back, perr := netip.ParseAddr(a.String()); perr != nil || back != a || (CheckAddr(back, nil) == nil) != (err == nil) {
			t.Fatalf("%s: text round trip %s, %v changes the verdict", a, back, perr)
		}
		if a.Is4() && (CheckAddr(netip.AddrFrom16(a.As16()), nil) == nil) != (err == nil) {
			t.Fatalf("%s and its IPv4-mapped form disagree", a)
		}
		p, perr := a.Prefix(int(bits) % (a.BitLen() + 1))
		if perr != nil {
			t.Fatal(perr)
		}
		if err := CheckAddr(a, []netip.Prefix{p}); err != nil {
			t.Fatalf("%s is inside the allow-list %s but %v", a, p, err)
		}
	})
}

// FuzzCheckURL checks that an accepted URL parses to an http or https URL
// with a host the dialler will not refuse for its spelling (a name, a
// canonical IPv4 address or a bracketed IPv6 address without a zone), a
// valid port, and that it is accepted again after a parse round trip.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"https://example.com/hook", "http://127.0.0.1:9000/", "http://2130706433/", "http://0x7f.1/",
		"http://0177.0.0.1/", "http://[::1]:80/", "http://[fe80::1%25eth0]/", "https://user:pw@example.com./",
		"file:///etc/passwd", "http://%31%32%37.0.0.1/", "http://example.com:65536/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckURL(s) != nil {
			return
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || len(s) > MaxURLLength {
			t.Fatalf("accepted %q: %v, %+v", s, err, u)
		}
		host := u.Hostname()
		if a, err := netip.ParseAddr(host); err == nil {
			if a.Zone() != "" || (a.Is4() && a.String() != host) || (a.Is6() && !strings.HasPrefix(u.Host, "[")) {
				t.Fatalf("accepted %q with address host %q", s, host)
			}
		} else if numericHost(host) || strings.ContainsAny(host, ":%[]/ ") {
			t.Fatalf("accepted %q whose host %q the dialler refuses or misreads", s, host)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				t.Fatalf("accepted %q with port %q", s, p)
			}
		}
		if again := u.String(); len(again) <= MaxURLLength {
			u2, perr := url.Parse(again)
			if err := CheckURL(again); err != nil || perr != nil || u2.Hostname() != host {
				t.Fatalf("%q accepted, its round trip %q not: %v", s, again, err)
			}
		}
	})
}
