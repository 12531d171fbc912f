package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/internal/metrics"
	"github.com/herald-webhooks/herald/sqlite"
)

// gather returns the registry's families by name.
func gather(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// sample returns the metric of family name whose labels are exactly
// labels (name=value pairs), or nil.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	for _, m := range fams[name].GetMetric() {
		got := []string{}
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName(), l.GetValue())
		}
		if strings.Join(got, ",") == strings.Join(labels, ",") {
			return m
		}
	}
	return nil
}

func attempt(code int, status herald.MessageStatus, deliveryStatus herald.MessageStatus) *herald.DeliveryResult {
	return &herald.DeliveryResult{Attempt: herald.Attempt{ResponseStatusCode: code, Status: status}, Status: deliveryStatus}
}

// TestObserversCount feeds each observer method and reads the counters
// and histograms back, by outcome and status class.
func TestObserversCount(t *testing.T) {
	m := metrics.New()
	for range 3 {
		m.ObserveMessageAccepted()
	}
	m.ObserveAttempt(attempt(200, herald.StatusSuccess, herald.StatusSuccess), 20*time.Millisecond)
	m.ObserveAttempt(attempt(204, herald.StatusSuccess, herald.StatusSuccess), 40*time.Millisecond)
	m.ObserveAttempt(attempt(503, herald.StatusFail, herald.StatusPending), 2*time.Second)
	m.ObserveAttempt(attempt(0, herald.StatusFail, herald.StatusFail), 5*time.Second)
	m.ObserveCommit(8, 3*time.Millisecond, nil)
	m.ObserveCommit(1, time.Millisecond, nil)
	m.ObserveCommit(4, time.Millisecond, errors.New("disk I/O error"))
	m.InFlight(func() int64 { return 7 })
	m.ObserveRejected(herald.RejectOverloaded)
	m.ObserveRejected(herald.RejectOverloaded)
	m.ObserveRejected(herald.RejectUnavailable)

	fams := gather(t, m)
	for reason, want := range map[string]float64{herald.RejectOverloaded: 2, herald.RejectUnavailable: 1} {
		if v := sample(fams, "herald_api_rejected_total", "reason", reason).GetCounter().GetValue(); v != want {
			t.Errorf("rejected %s = %v, want %v", reason, v, want)
		}
	}
	if v := sample(fams, "herald_messages_accepted_total").GetCounter().GetValue(); v != 3 {
		t.Errorf("messages accepted %v, want 3", v)
	}
	for _, c := range []struct {
		outcome, class string
		want           float64
	}{{"success", "2xx", 2}, {"retry", "5xx", 1}, {"failed", "none", 1}} {
		if v := sample(fams, "herald_attempts_total", "outcome", c.outcome, "status_class", c.class).GetCounter().GetValue(); v != c.want {
			t.Errorf("attempts %s/%s = %v, want %v", c.outcome, c.class, v, c.want)
		}
	}
	success := sample(fams, "herald_attempt_duration_seconds", "outcome", "success").GetHistogram()
	if success.GetSampleCount() != 2 || success.GetSampleSum() < 0.059 || success.GetSampleSum() > 0.061 {
		t.Errorf("success durations: count %d sum %v, want 2 and 0.06", success.GetSampleCount(), success.GetSampleSum())
	}
	batch := sample(fams, "herald_store_commit_batch_size").GetHistogram()
	if batch.GetSampleCount() != 2 || batch.GetSampleSum() != 9 {
		t.Errorf("commit batches: count %d sum %v, want 2 and 9 (the failed one counted apart)", batch.GetSampleCount(), batch.GetSampleSum())
	}
	if v := sample(fams, "herald_store_commit_errors_total").GetCounter().GetValue(); v != 1 {
		t.Errorf("commit errors %v, want 1", v)
	}
	if v := sample(fams, "herald_deliveries_in_flight").GetGauge().GetValue(); v != 7 {
		t.Errorf("in flight %v, want 7", v)
	}
	if fams["go_goroutines"] == nil || fams["process_cpu_seconds_total"] == nil && fams["process_start_time_seconds"] == nil {
		t.Errorf("runtime and process metrics missing")
	}
}

// TestHandlerServesExposition scrapes the handler as Prometheus does.
func TestHandlerServesExposition(t *testing.T) {
	m := metrics.New()
	m.ObserveMessageAccepted()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "herald_messages_accepted_total 1") ||
		!strings.Contains(string(body), `herald_attempt_duration_seconds_count{outcome="failed"} 0`) {
		t.Errorf("scrape: %d\n%s", resp.StatusCode, body)
	}
}

// TestQueueGaugesReadTheStore reads the queue gauges from a real SQLite
// store: values follow the store, one reading serves scrapes for MaxAge,
// and a failed reading leaves the gauges out instead of reporting stale
// or zero values.
func TestQueueGaugesReadTheStore(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "herald.db")})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, t0), Name: "app", CreatedAt: t0, UpdatedAt: t0}
	mustDo(t, store.ApplicationCreate(ctx, app))
	for i, disabled := range []bool{false, true} {
		ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, t0.Add(time.Duration(i))), AppID: app.ID, URL: "https://example.com/hook",
			Secrets: []herald.EndpointSecret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, Disabled: disabled, CreatedAt: t0, UpdatedAt: t0}
		mustDo(t, store.EndpointCreate(ctx, ep, 0))
	}
	send := func(created time.Time, deliverAt *time.Time) {
		m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, created), AppID: app.ID, EventType: "invoice.paid",
			Payload: json.RawMessage(`{}`), PayloadRetentionDays: 90, DeliverAt: deliverAt, CreatedAt: created}
		_, err := store.MessageCreate(ctx, m, nil)
		mustDo(t, err)
	}
	later := t0.Add(time.Hour)
	send(t0, nil)
	send(t0.Add(time.Millisecond), nil)
	send(t0.Add(2*time.Millisecond), &later)

	now := t0.Add(10 * time.Second)
	m := metrics.New()
	m.WatchQueue(metrics.QueueConfig{MaxAge: 5 * time.Second, Now: func() time.Time { return now }}, store)
	gauge := func(name string) (float64, bool) {
		s := sample(gather(t, m), name)
		return s.GetGauge().GetValue(), s != nil
	}
	want := map[string]float64{"herald_deliveries_due": 2, "herald_deliveries_waiting": 1, "herald_deliveries_sending": 0,
		"herald_endpoints_disabled": 1, "herald_oldest_due_delivery_age_seconds": 10}
	for name, w := range want {
		if v, ok := gauge(name); !ok || v < w || v > w+0.01 {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, w)
		}
	}

	send(t0.Add(3*time.Millisecond), nil)
	if v, _ := gauge("herald_deliveries_due"); v != 2 {
		t.Errorf("due within MaxAge of the last reading: %v, want the cached 2", v)
	}
	now = now.Add(5 * time.Second)
	if v, _ := gauge("herald_deliveries_due"); v != 3 {
		t.Errorf("due after MaxAge: %v, want 3 read afresh", v)
	}

	mustDo(t, store.Close())
	now = now.Add(5 * time.Second)
	for name := range want {
		if v, ok := gauge(name); ok {
			t.Errorf("%s = %v after the store failed, want it left out", name, v)
		}
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
