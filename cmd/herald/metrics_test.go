package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/herald-webhooks/herald/internal/testutil/pgserver"
)

// TestMetricsMoveWithDeliveries checks the metrics of the embedded store.
func TestMetricsMoveWithDeliveries(t *testing.T) {
	checkMetricsMove(t, startServer(t))
}

// TestMetricsMoveWithDeliveriesOnPostgres checks them on PostgreSQL,
// whose writer reports its own commits and batch sizes.
func TestMetricsMoveWithDeliveriesOnPostgres(t *testing.T) {
	url := postgresURL(t)
	checkMetricsMove(t, startServer(t, "HERALD_DATABASE_URL="+url, "HERALD_DATABASE_SCHEMA="+testSchema(t, url)))
}

// checkMetricsMove sends messages to a receiver that fails twice then
// succeeds, and to an address where nothing listens (which fails until
// the schedule is spent), scraping /metrics before and after: the
// counters must move by exactly what happened, the store's commit metrics
// must be there, and no label value may carry an ID.
func checkMetricsMove(t *testing.T, s *testServer) {
	before := scrape(t, s.URL+"/metrics")
	if n := sumOf(before, "herald_attempts_total", nil); n != 0 {
		t.Fatalf("attempts before any message: %v", n)
	}
	flaky := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	appID := s.createApp(t, "metrics")
	s.createEndpoint(t, appID, map[string]any{"url": flaky.URL, "eventTypes": []string{"good"}})
	s.createEndpoint(t, appID, map[string]any{"url": "http://" + closedAddr(t) + "/hook", "eventTypes": []string{"bad"}})
	s.createEndpoint(t, appID, map[string]any{"url": flaky.URL, "disabled": true, "eventTypes": []string{"none"}})
	for range 3 {
		s.send(t, appID, map[string]any{"eventType": "good", "payload": map[string]any{"ok": true}})
	}
	s.send(t, appID, map[string]any{"eventType": "bad", "payload": map[string]any{"ok": false}})

	// 3 messages: 2 failures (5xx, retried) then 3 successes; 1 message:
	// 3 attempts without a response (the schedule is 100ms,200ms), the
	// last one final.
	want := map[[2]string]float64{
		{"success", "2xx"}: 3, {"retry", "5xx"}: 2, {"retry", "none"}: 2, {"failed", "none"}: 1,
	}
	var got map[string]*dto.MetricFamily
	waitForDesc(t, 20*time.Second, "attempt counters to reach their final values", func() bool {
		got = scrape(t, s.URL+"/metrics")
		for k, n := range want {
			if sumOf(got, "herald_attempts_total", map[string]string{"outcome": k[0], "status_class": k[1]}) != n {
				return false
			}
		}
		return sumOf(got, "herald_attempts_total", nil) == 8
	}, func() string { return seriesOf(got, "herald_attempts_total") })
	if n := sumOf(got, "herald_messages_accepted_total", nil); n != 4 {
		t.Errorf("messages accepted: %v, want 4", n)
	}
	if n := histCount(got, "herald_attempt_duration_seconds"); n != 8 {
		t.Errorf("attempt duration observations: %v, want 8", n)
	}
	if histCount(got, "herald_store_commit_duration_seconds") == 0 || histCount(got, "herald_store_commit_batch_size") == 0 {
		t.Errorf("no store commit observations: %v / %v", histCount(got, "herald_store_commit_duration_seconds"), histCount(got, "herald_store_commit_batch_size"))
	}
	waitForDesc(t, 10*time.Second, "queue gauges to settle", func() bool {
		got = scrape(t, s.URL+"/metrics")
		return sumOf(got, "herald_endpoints_disabled", nil) == 1 && sumOf(got, "herald_deliveries_due", nil) == 0 &&
			sumOf(got, "herald_deliveries_sending", nil) == 0 && sumOf(got, "herald_deliveries_waiting", nil) == 0
	}, func() string {
		return seriesOf(got, "herald_endpoints_disabled") + seriesOf(got, "herald_deliveries_due") +
			seriesOf(got, "herald_deliveries_sending") + seriesOf(got, "herald_deliveries_waiting")
	})
	for _, name := range []string{"herald_deliveries_in_flight", "herald_oldest_due_delivery_age_seconds"} {
		if got[name] == nil {
			t.Errorf("metric %s missing", name)
		}
	}
	checkBoundedLabels(t, got)
}

// allowedLabels are the only label names Herald's own metrics may have.
var allowedLabels = map[string]bool{"outcome": true, "status_class": true, "le": true, "reason": true}

// checkBoundedLabels fails when a herald_ metric has a label outside the
// fixed set, or a label value that looks like an ID.
func checkBoundedLabels(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	for name, f := range fams {
		if !strings.HasPrefix(name, "herald_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				v := l.GetValue()
				if !allowedLabels[l.GetName()] || strings.Contains(v, "_") || len(v) > 16 {
					t.Errorf("%s has label %s=%q: label sets must stay bounded", name, l.GetName(), v)
				}
			}
		}
	}
}

// TestReadinessFollowsPostgres stops a private PostgreSQL server under
// `herald serve`: readiness (and health) answer 503 while it is down and
// 204 once it is back, while the liveness ping answers throughout.
func TestReadinessFollowsPostgres(t *testing.T) {
	pg := pgserver.New(t)
	s := startServer(t, "HERALD_DATABASE_URL="+pg.URL())
	status := func(path string) int { return s.call(t, "GET", path, nil).Status }
	if got := status("/api/v1/health/ready"); got != http.StatusNoContent {
		t.Fatalf("ready with the database up: %d", got)
	}
	pg.Stop(t, pgserver.Fast)
	waitFor(t, 20*time.Second, "readiness to fail", func() bool { return status("/api/v1/health/ready") == http.StatusServiceUnavailable })
	if got := status("/api/v1/health"); got != http.StatusServiceUnavailable {
		t.Errorf("health with the database down: %d", got)
	}
	if got := status("/api/v1/health/ping"); got != http.StatusNoContent {
		t.Errorf("ping with the database down: %d", got)
	}
	pg.Start(t)
	waitFor(t, 30*time.Second, "readiness to come back", func() bool { return status("/api/v1/health/ready") == http.StatusNoContent })
}

// TestGateAnswersStartingUntilOpen serves the listener's gate before and
// after the API is handed to it: readiness and API calls answer 503
// "starting" before (while the store opens and migrates), the ping 204,
// and everything goes to the API after.
func TestGateAnswersStartingUntilOpen(t *testing.T) {
	g := &gate{}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + ln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/api/v1/health/ready"); code != 503 || !strings.Contains(body, `"code":"starting"`) {
		t.Errorf("ready while starting: %d %s", code, body)
	}
	if code, _ := get("/api/v1/app"); code != 503 {
		t.Errorf("API while starting: %d", code)
	}
	if code, _ := get("/api/v1/health/ping"); code != 204 {
		t.Errorf("ping while starting: %d", code)
	}
	g.open(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	if code, _ := get("/api/v1/health/ready"); code != http.StatusTeapot {
		t.Errorf("ready once open: %d, want the API's answer", code)
	}
}

// scrape reads url's metrics with Prometheus's text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return fams
}

// sumOf adds the values of name's series whose labels include match.
func sumOf(fams map[string]*dto.MetricFamily, name string, match map[string]string) float64 {
	total := 0.0
	for _, m := range fams[name].GetMetric() {
		if !hasLabels(m, match) {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		}
	}
	return total
}

// waitForDesc is waitFor whose failure says what desc returns.
func waitForDesc(t *testing.T, timeout time.Duration, what string, cond func() bool, desc func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, desc())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seriesOf describes name's series, for failure messages.
func seriesOf(fams map[string]*dto.MetricFamily, name string) string {
	var b strings.Builder
	for _, m := range fams[name].GetMetric() {
		fmt.Fprintf(&b, "%s%v=%v ", name, m.GetLabel(), m.GetCounter().GetValue()+m.GetGauge().GetValue())
	}
	return b.String()
}

// histCount adds the sample counts of name's histograms.
func histCount(fams map[string]*dto.MetricFamily, name string) uint64 {
	var n uint64
	for _, m := range fams[name].GetMetric() {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

func hasLabels(m *dto.Metric, match map[string]string) bool {
	for k, v := range match {
		found := false
		for _, l := range m.GetLabel() {
			found = found || (l.GetName() == k && l.GetValue() == v)
		}
		if !found {
			return false
		}
	}
	return true
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
