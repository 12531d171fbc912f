package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-webhooks/herald/internal/testutil/dnsserver"
)

func TestCheckAddr(t *testing.T) {
	blocked := []struct{ addr, reason string }{
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"127.0.0.1", "loopback"},
		{"127.255.0.9", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"100.64.0.1", "CGNAT"},
		{"169.254.169.254", "link-local"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"198.18.0.1", "benchmarking"},
		{"192.0.2.10", "documentation"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fe80::1", "link-local"},
		{"fd00::1", "unique local"},
		{"fc00::1", "unique local"},
		{"ff02::1", "multicast"},
		{"fec0::1", "site-local"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.0.0.1", "private"},
		{"::ffff:169.254.169.254", "link-local"},
		{"64:ff9b::a00:1", "private"},     // NAT64 of 10.0.0.1
		{"2002:7f00:1::", "loopback"},     // 6to4 of 127.0.0.1
		{"fd00:ec2::254", "unique local"}, // AWS IPv6 metadata
	}
	for _, tc := range blocked {
		err := CheckAddr(netip.MustParseAddr(tc.addr), nil)
		var be *BlockedError
		if !errors.As(err, &be) || !strings.Contains(be.Reason, tc.reason) {
			t.Errorf("CheckAddr(%s) = %v, want blocked (%s)", tc.addr, err, tc.reason)
		}
	}
	for _, a := range []string{"93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"} {
		if err := CheckAddr(netip.MustParseAddr(a), nil); err != nil {
			t.Errorf("CheckAddr(%s) = %v, want allowed", a, err)
		}
	}
}

func TestCheckAddrAllowList(t *testing.T) {
	allowed, err := ParseCIDRs("127.0.0.0/8, 10.1.0.0/16,::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"127.0.0.1", "10.1.200.3", "::1", "::ffff:127.0.0.1"} {
		if err := CheckAddr(netip.MustParseAddr(a), allowed); err != nil {
			t.Errorf("%s is in the allow-list but %v", a, err)
		}
	}
	for _, a := range []string{"10.2.0.1", "192.168.0.1", "169.254.169.254", "fe80::1"} {
		if err := CheckAddr(netip.MustParseAddr(a), allowed); err == nil {
			t.Errorf("%s is outside the allow-list but allowed", a)
		}
	}
}

func TestParseCIDRs(t *testing.T) {
	got, err := ParseCIDRs(" 10.0.0.1/8 ,, 192.168.1.7, fd00::/8 ")
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("fd00::/8")}
	if err != nil || len(got) != len(want) {
		t.Fatalf("ParseCIDRs = %v, %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("item %d = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "1.2.3"} {
		if _, err := ParseCIDRs(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseCIDRs(%q) = %v, want an error naming it", bad, err)
		}
	}
}

func TestClientBlocksAtConnect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	for _, url := range []string{srv.URL, "http://localhost" + port} {
		_, err := NewClient(Config{Timeout: 2 * time.Second}).Get(url)
		var be *BlockedError
		if !errors.As(err, &be) {
			t.Errorf("GET %s = %v, want a *BlockedError", url, err)
		}
	}
	allowed := NewClient(Config{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: 2 * time.Second})
	resp, err := allowed.Get(srv.URL)
	if err != nil {
		t.Fatalf("allowed GET: %v", err)
	}
	resp.Body.Close()
}

// TestClientDoesNotFollowRedirects: every redirect status, to an allowed
// receiver or to a blocked address, comes back as the response itself; no
// redirect target is contacted.
func TestClientDoesNotFollowRedirects(t *testing.T) {
	public, private := receiverPair(t)
	targets := []string{public.URL + "/moved", private.URL + "/moved", "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/latest/"}
	c := NewClient(Config{AllowedCIDRs: onlyPublic, Timeout: 5 * time.Second})
	for _, code := range []int{301, 302, 303, 307, 308} {
		for _, target := range targets {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target, code)
			}))
			req, _ := http.NewRequestWithContext(context.Background(), "POST", srv.URL, strings.NewReader("{}"))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%d to %s: %v", code, target, err)
			}
			resp.Body.Close()
			if resp.StatusCode != code || resp.Header.Get("Location") != target {
				t.Errorf("%d to %s: got %d (Location %q), want the redirect itself", code, target, resp.StatusCode, resp.Header.Get("Location"))
			}
			srv.Close()
		}
	}
	if public.hits.Load() != 0 || private.hits.Load() != 0 {
		t.Errorf("a redirect was followed: public %d, private %d hits", public.hits.Load(), private.hits.Load())
	}
}

// proxyEnv lists every variable Go's ProxyFromEnvironment (and curl) read.
var proxyEnv = []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"}

// TestClientIgnoresProxyEnvironment: with every proxy variable pointing at
// a recording proxy (a CONNECT proxy included), http and https requests go
// straight to the receiver, and a blocked destination cannot be reached by
// way of the proxy: the proxy is never asked.
func TestClientIgnoresProxyEnvironment(t *testing.T) {
	var proxied atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1) // a CONNECT or an absolute-URL request: either way, refuse
		w.WriteHeader(http.StatusForbidden)
	}))
	defer proxy.Close()
	for _, v := range proxyEnv {
		t.Setenv(v, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	var hits atomic.Int64
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	plain := httptest.NewServer(count)
	defer plain.Close()
	tlsSrv := httptest.NewTLSServer(count)
	defer tlsSrv.Close()
	blockedTLS := httptest.NewUnstartedServer(count)
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	blockedTLS.Listener.Close()
	blockedTLS.Listener = l
	blockedTLS.StartTLS()
	defer blockedTLS.Close()

	// Go never proxies loopback addresses or "localhost", so the
	// receivers are reached by names (example.com is in httptest's
	// certificate) that the test DNS server resolves to loopback.
	dns := dnsserver.Start(t, func(name string, _ uint16) ([]netip.Addr, bool) {
		switch name {
		case "example.com.":
			return addrs("127.0.0.1"), true
		case "private.test.":
			return addrs("127.0.0.2"), true
		}
		return nil, false
	})
	c := NewClient(Config{AllowedCIDRs: onlyPublic, Resolver: dns.Resolver(), Timeout: 5 * time.Second})
	tr := c.Transport.(*http.Transport)
	tr.TLSClientConfig = tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	port := func(s *httptest.Server) int { return s.Listener.Addr().(*net.TCPAddr).Port }
	for _, url := range []string{fmt.Sprintf("http://example.com:%d/", port(plain)), fmt.Sprintf("https://example.com:%d/", port(tlsSrv))} {
		if _, err := get(c, url); err != nil {
			t.Errorf("GET %s with proxy variables set: %v", url, err)
		}
	}
	_, err = get(c, fmt.Sprintf("https://private.test:%d/", port(blockedTLS)))
	wantBlockedErr(t, "https to a blocked address with HTTPS_PROXY set", err, "127.0.0.2")
	if hits.Load() != 2 || proxied.Load() != 0 {
		t.Errorf("receivers hit %d times (want 2), proxy asked %d times (want 0)", hits.Load(), proxied.Load())
	}
}
