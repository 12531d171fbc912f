package egress

import (
	"errors"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// MaxURLLength is the longest endpoint URL CheckURL accepts.
const MaxURLLength = 2048

// CheckURL returns nil when s may be stored as an endpoint URL, or an error
// whose text says which rule it breaks, worded for an API client ("must be
// ..."). It accepts absolute http and https URLs (user info included: it is
// sent as Basic authentication) whose host is a DNS name, a canonical
// dotted-quad IPv4 address or a bracketed IPv6 address without a zone, with
// an optional port from 1 to 65535. It refuses the numeric spellings some
// resolvers read as IPv4 addresses (2130706433, 0x7f000001, 0177.0.0.1,
// 127.1), which would let a URL hide its destination. It does not judge the
// destination itself: whether an address may be reached is decided at
// connect time by CheckAddr, where the allow-list applies and names are
// resolved.
func CheckURL(s string) error {
	if len(s) > MaxURLLength {
		return errors.New("must be at most " + strconv.Itoa(MaxURLLength) + " characters")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("must be an absolute http or https URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an absolute http or https URL (scheme " + quoted(u.Scheme) + " is not allowed)")
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return errors.New("must be an absolute http or https URL with a host")
	}
	if err := checkPort(u.Port()); err != nil {
		return err
	}
	if strings.HasPrefix(u.Host, "[") {
		return checkIPv6Literal(u.Hostname())
	}
	return checkHost(u.Hostname())
}

// checkPort accepts no port or a port from 1 to 65535.
func checkPort(port string) error {
	if port == "" {
		return nil
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("must have a port from 1 to 65535")
	}
	return nil
}

// checkIPv6Literal accepts what was written in brackets: an IPv6 address
// without a zone (a zone names an interface of the sending machine).
func checkIPv6Literal(host string) error {
	a, err := netip.ParseAddr(host)
	switch {
	case err != nil || !a.Is6():
		return errors.New("must have a valid IPv6 address in brackets")
	case a.Zone() != "":
		return errors.New("must not have an IPv6 zone (" + quoted(a.Zone()) + ")")
	}
	return nil
}

// checkHost accepts a DNS name or a canonical dotted-quad IPv4 address; a
// single trailing dot (a fully qualified name) is allowed.
func checkHost(host string) error {
	if strings.Contains(host, ":") {
		return errors.New("must put an IPv6 address in brackets")
	}
	if numericHost(host) {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is4() || a.String() != host {
			return errors.New("must give an IP address as four decimal numbers, a.b.c.d (" + quoted(host) +
				" is a decimal, octal, hexadecimal or shortened spelling)")
		}
		return nil
	}
	name := strings.TrimSuffix(host, ".")
	if len(name) > 253 {
		return errors.New("must have a host name of at most 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if !validLabel(label) {
			return errors.New("must have a valid host name (" + quoted(host) + " is not)")
		}
	}
	return nil
}

// numericHost reports whether a URL parser following the WHATWG URL
// standard, or a resolver using inet_aton, would read host as an IPv4
// address: its last label (after one trailing dot) is all decimal digits or
// 0x followed by hexadecimal digits.
func numericHost(host string) bool {
	name := strings.TrimSuffix(host, ".")
	last := name[strings.LastIndex(name, ".")+1:]
	if h, ok := strings.CutPrefix(strings.ToLower(last), "0x"); ok {
		return strings.Trim(h, "0123456789abcdef") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// validLabel accepts one DNS label: 1 to 63 letters, digits, hyphens and
// underscores (names that are not ASCII are left to IDNA when dialled).
func validLabel(label string) bool {
	if label == "" || len(label) > 63 {
		return false
	}
	for _, r := range label {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r >= 0x80
		if !ok {
			return false
		}
	}
	return true
}

// quoted quotes s for an error message, shortened when long.
func quoted(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return "'" + s + "'"
}
