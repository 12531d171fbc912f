package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/internal/testutil/dnsserver"
)

// receiver is an HTTP server on one loopback address that counts requests.
type receiver struct {
	*httptest.Server
	hits atomic.Int64
}

// startReceiver serves on ip and port (0: any free port).
func startReceiver(t *testing.T, ip string, port int) *receiver {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen on %s:%d: %v", ip, port, err)
	}
	r := &receiver{}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { r.hits.Add(1) }))
	r.Listener.Close()
	r.Listener = l
	r.Start()
	t.Cleanup(r.Close)
	return r
}

// port is the receiver's TCP port.
func (r *receiver) port() int { return r.Listener.Addr().(*net.TCPAddr).Port }

// receiverPair starts receivers on 127.0.0.1 and 127.0.0.2 with the same
// port, so one URL can reach either depending on what its name resolves to.
func receiverPair(t *testing.T) (public, private *receiver) {
	t.Helper()
	for range 20 {
		public = startReceiver(t, "127.0.0.1", 0)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(public.port())))
		if err != nil {
			continue // that port is taken on 127.0.0.2: try another
		}
		l.Close()
		return public, startReceiver(t, "127.0.0.2", public.port())
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return nil, nil
}

// onlyPublic is the allow-list that makes 127.0.0.1 stand for a public
// address in these tests; every other loopback address stays blocked.
var onlyPublic = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// get makes one request on a new connection.
func get(c *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(context.Background(), "GET", url, nil)
	if err != nil {
		return nil, err
	}
	req.Close = true
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

func wantBlockedErr(t *testing.T, what string, err error, addr string) *BlockedError {
	t.Helper()
	var be *BlockedError
	if !errors.As(err, &be) || (addr != "" && be.Addr != netip.MustParseAddr(addr)) {
		t.Errorf("%s: %v, want a *BlockedError for %q", what, err, addr)
	}
	return be
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// TestNameWithOnePrivateAddressRefusedWhole: a name with several addresses,
// one blocked, is refused whole, whatever the order of its addresses; no
// connection is made to any of them.
func TestNameWithOnePrivateAddressRefusedWhole(t *testing.T) {
	public, private := receiverPair(t)
	records := map[string][]netip.Addr{
		"good.test.":       addrs("127.0.0.1"),
		"mixed.test.":      addrs("127.0.0.1", "127.0.0.2"),
		"mixed-rev.test.":  addrs("127.0.0.2", "127.0.0.1"),
		"mixed-six.test.":  addrs("127.0.0.1", "fd00::1"),
		"metadata.test.":   addrs("127.0.0.1", "169.254.169.254"),
		"everything.test.": addrs("127.0.0.1", "::ffff:10.0.0.1", "fe80::1"),
	}
	dns := dnsserver.Start(t, func(name string, _ uint16) ([]netip.Addr, bool) {
		a, ok := records[name]
		return a, ok
	})
	c := NewClient(Config{AllowedCIDRs: onlyPublic, Resolver: dns.Resolver(), Timeout: 5 * time.Second})
	if _, err := get(c, fmt.Sprintf("http://good.test:%d/", public.port())); err != nil || public.hits.Load() != 1 {
		t.Fatalf("a name with only allowed addresses: %v, %d hits", err, public.hits.Load())
	}
	for name, blocked := range map[string]string{"mixed.test": "127.0.0.2", "mixed-rev.test": "127.0.0.2", "mixed-six.test": "fd00::1",
		"metadata.test": "169.254.169.254", "everything.test": ""} {
		_, err := get(c, fmt.Sprintf("http://%s:%d/", name, public.port()))
		be := wantBlockedErr(t, name, err, blocked)
		if be != nil && (be.Host != name || be.Addr == netip.MustParseAddr("127.0.0.1") || !strings.Contains(be.Error(), "of the name")) {
			t.Errorf("%s: error %q does not name the host and its several addresses", name, be)
		}
	}
	if public.hits.Load() != 1 || private.hits.Load() != 0 {
		t.Errorf("hits: public %d (want 1), private %d (want 0)", public.hits.Load(), private.hits.Load())
	}
}

// TestDNSRebinding: a name that resolves to a public address and then to a
// private one, in turn, is looked up again for every connection and
// checked each time; the private address is never connected to.
func TestDNSRebinding(t *testing.T) {
	public, private := receiverPair(t)
	var mu sync.Mutex
	lookups := 0
	dns := dnsserver.Start(t, func(name string, qtype uint16) ([]netip.Addr, bool) {
		if name != "rebind.test." {
			return nil, false
		}
		if qtype != dnsserver.TypeA {
			return nil, true
		}
		mu.Lock()
		defer mu.Unlock()
		lookups++
		if lookups%2 == 1 {
			return addrs("127.0.0.1"), true
		}
		return addrs("127.0.0.2"), true
	})
	c := NewClient(Config{AllowedCIDRs: onlyPublic, Resolver: dns.Resolver(), Timeout: 5 * time.Second})
	url := fmt.Sprintf("http://rebind.test:%d/", public.port())
	var ok, refused int
	for i := range 6 {
		_, err := get(c, url)
		if err == nil {
			ok++
			continue
		}
		wantBlockedErr(t, fmt.Sprintf("request %d", i), err, "127.0.0.2")
		refused++
	}
	if ok == 0 || refused == 0 || int64(ok) != public.hits.Load() || private.hits.Load() != 0 {
		t.Errorf("%d delivered, %d refused; hits public %d, private %d (want the private one never reached)",
			ok, refused, public.hits.Load(), private.hits.Load())
	}
	if n := dns.Queries("rebind.test"); n < 12 { // A and AAAA, once per connection
		t.Errorf("the name was looked up %d times for 6 connections, want it resolved again each time", n)
	}
}

// TestConnectHookChecksTheDialledAddress: the socket control hook refuses a
// blocked address just before connect, whatever resolved it: the last
// defence if an address were ever dialled without the resolver's check.
func TestConnectHookChecksTheDialledAddress(t *testing.T) {
	_, private := receiverPair(t)
	d := &net.Dialer{Timeout: 2 * time.Second, Control: controlFunc(onlyPublic)}
	for _, address := range []string{net.JoinHostPort("127.0.0.2", strconv.Itoa(private.port())), "[::1]:1", "[fe80::1%lo]:1"} {
		conn, err := d.DialContext(context.Background(), "tcp", address)
		if err == nil {
			conn.Close()
		}
		wantBlockedErr(t, address, err, "")
	}
	if private.hits.Load() != 0 {
		t.Errorf("the blocked receiver was reached")
	}
}

// TestNumericSpellingsRefusedAtConnect: hosts a C library resolver would
// read as 127.0.0.1 never reach the resolver or a socket, even where the
// address they spell is allowed.
func TestNumericSpellingsRefusedAtConnect(t *testing.T) {
	rc := startReceiver(t, "127.0.0.1", 0)
	dns := dnsserver.Start(t, func(string, uint16) ([]netip.Addr, bool) {
		return addrs("127.0.0.1"), true // what inet_aton would make of every one of them
	})
	c := NewClient(Config{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Resolver: dns.Resolver(), Timeout: 5 * time.Second})
	for _, host := range []string{"2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.1", "0x7F.0.0.1", "127.0.0.1."} {
		_, err := get(c, fmt.Sprintf("http://%s:%d/", host, rc.port()))
		if be := wantBlockedErr(t, host, err, ""); be != nil && (be.Host != host || be.Addr.IsValid()) {
			t.Errorf("%s: %+v, want the host itself refused", host, be)
		}
		if n := dns.Queries(host); n != 0 {
			t.Errorf("%s was looked up %d times", host, n)
		}
	}
	if _, err := get(c, rc.URL); err != nil || rc.hits.Load() != 1 {
		t.Errorf("the canonical spelling: %v, %d hits (want 1)", err, rc.hits.Load())
	}
}

// TestLocalNamesBlocked: "localhost" and names that resolve to metadata
// addresses pass URL validation but are refused once resolved.
func TestLocalNamesBlocked(t *testing.T) {
	rc := startReceiver(t, "127.0.0.1", 0)
	dns := dnsserver.Start(t, func(name string, _ uint16) ([]netip.Addr, bool) {
		switch name {
		case "localhost.", "app.localhost.":
			return addrs("127.0.0.1", "::1"), true
		case "metadata.google.internal.":
			return addrs("169.254.169.254"), true
		case "ec2-metadata.test.":
			return addrs("fd00:ec2::254"), true
		}
		return nil, false
	})
	c := NewClient(Config{Resolver: dns.Resolver(), Timeout: 5 * time.Second})
	for _, host := range []string{"localhost", "localhost.", "LOCALHOST", "app.localhost"} {
		_, err := get(c, fmt.Sprintf("http://%s:%d/", host, rc.port()))
		wantBlockedErr(t, host, err, "")
	}
	if rc.hits.Load() != 0 {
		t.Errorf("a localhost name reached the receiver")
	}
	// Metadata names are checked without dialling: nothing leaves loopback.
	g := &guardedDialer{resolver: dns.Resolver()}
	for name, addr := range map[string]string{"metadata.google.internal.": "169.254.169.254", "metadata.google.internal": "169.254.169.254",
		"ec2-metadata.test": "fd00:ec2::254"} {
		_, err := g.resolve(context.Background(), "tcp", name)
		wantBlockedErr(t, name, err, addr)
	}
}

// TestAllowListExactAtConnect: with 127.0.0.8/30 allowed, receivers on
// 127.0.0.8 and 127.0.0.11 are reached, those on 127.0.0.7 and 127.0.0.12
// (just outside) are not.
func TestAllowListExactAtConnect(t *testing.T) {
	c := NewClient(Config{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.8/30")}, Timeout: 5 * time.Second})
	for ip, allowed := range map[string]bool{"127.0.0.7": false, "127.0.0.8": true, "127.0.0.11": true, "127.0.0.12": false} {
		rc := startReceiver(t, ip, 0)
		_, err := get(c, rc.URL)
		if allowed && (err != nil || rc.hits.Load() != 1) {
			t.Errorf("%s is inside the allow-list: %v, %d hits", ip, err, rc.hits.Load())
		}
		if !allowed {
			wantBlockedErr(t, ip, err, ip)
			if rc.hits.Load() != 0 {
				t.Errorf("%s is outside the allow-list but was reached", ip)
			}
		}
	}
}
