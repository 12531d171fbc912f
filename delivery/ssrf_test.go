package delivery_test

import (
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

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/delivery"
	"github.com/herald-webhooks/herald/internal/egress"
	"github.com/herald-webhooks/herald/internal/testutil/dnsserver"
)

// TestRebindingDeliveryRefused: an endpoint's name resolves to an allowed
// address for the first delivery and to a blocked one afterwards (DNS
// rebinding). The first message is delivered; the next is refused at
// connect time, recorded with the address and the rule, and the blocked
// receiver is never reached.
func TestRebindingDeliveryRefused(t *testing.T) {
	e := newEnv(t)
	var public *receiver
	var l net.Listener
	for i := 0; l == nil; i++ { // a port free on both 127.0.0.1 and 127.0.0.2
		if i == 20 {
			t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
		}
		public = newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close") // the next attempt dials, and so resolves, again
		})
		l, _ = net.Listen("tcp", net.JoinHostPort("127.0.0.2", strconv.Itoa(public.Listener.Addr().(*net.TCPAddr).Port)))
	}
	port := public.Listener.Addr().(*net.TCPAddr).Port
	var privateHits atomic.Int64
	private := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { privateHits.Add(1) }))
	private.Listener.Close()
	private.Listener = l
	private.Start()
	defer private.Close()

	var mu sync.Mutex
	lookups := 0
	dns := dnsserver.Start(t, func(name string, qtype uint16) ([]netip.Addr, bool) {
		if name != "hooks.rebind.test." {
			return nil, false
		}
		if qtype != dnsserver.TypeA {
			return nil, true
		}
		mu.Lock()
		defer mu.Unlock()
		lookups++
		if lookups == 1 {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, true
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.2")}, true
	})
	ep := e.endpoint(fmt.Sprintf("http://hooks.rebind.test:%d/hook", port))
	client := egress.NewClient(egress.Config{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Resolver: dns.Resolver(), Timeout: 5 * time.Second})
	e.start(delivery.Config{HTTPClient: client, Policy: herald.RetryPolicy{Schedule: []time.Duration{}}})

	first := e.send("a.b", `{"n":1}`)
	waitFor(t, 5*time.Second, "first delivery", func() bool { return e.deliveryStatus(first.ID, ep.ID) == herald.StatusSuccess })
	second := e.send("a.b", `{"n":2}`)
	waitFor(t, 5*time.Second, "second delivery to fail", func() bool { return e.deliveryStatus(second.ID, ep.ID) == herald.StatusFail })
	a := e.attempts(second.ID)
	if len(a) != 1 || a[0].ResponseStatusCode != 0 || !strings.Contains(a[0].Response, "hooks.rebind.test (127.0.0.2) is blocked: loopback") {
		t.Errorf("attempts of the rebound delivery %+v, want one refused naming the address", a)
	}
	if len(public.got()) != 1 || privateHits.Load() != 0 {
		t.Errorf("public receiver got %d requests (want 1), blocked one %d (want 0)", len(public.got()), privateHits.Load())
	}
}
