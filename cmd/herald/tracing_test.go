package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace receiver on loopback: it decodes
// each protobuf export request and keeps its spans.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rc := &otlpReceiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		req := &collectortrace.ExportTraceServiceRequest{}
		if err == nil && r.URL.Path == "/v1/traces" {
			err = proto.Unmarshal(body, req)
		}
		if err != nil || r.URL.Path != "/v1/traces" {
			t.Errorf("OTLP receiver: %s %s: %v", r.Method, r.URL.Path, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				rc.spans = append(rc.spans, ss.GetSpans()...)
			}
		}
		rc.mu.Unlock()
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// find returns the first span named name whose attributes include want
// (values compared as their string or int form).
func (rc *otlpReceiver) find(name string, want map[string]any) *tracepb.Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, s := range rc.spans {
		if s.GetName() == name && spanHas(s, want) {
			return s
		}
	}
	return nil
}

func (rc *otlpReceiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.spans)
}

func spanHas(s *tracepb.Span, want map[string]any) bool {
	for k, v := range want {
		found := false
		for _, a := range s.GetAttributes() {
			if a.GetKey() != k {
				continue
			}
			switch v := v.(type) {
			case string:
				found = a.GetValue().GetStringValue() == v
			case int:
				found = a.GetValue().GetIntValue() == int64(v)
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// TestTracesExported runs `herald serve` with an OTLP endpoint: the API
// call that accepts a message and the attempt that delivers it arrive as
// spans with their attributes.
func TestTracesExported(t *testing.T) {
	otlp := newOTLPReceiver(t) // before the server, so it outlives the final flush
	s := startServer(t, "HERALD_OTLP_ENDPOINT="+otlp.URL)
	rc := newReceiver(t, nil)
	appID := s.createApp(t, "traced")
	epID, _ := s.createEndpoint(t, appID, map[string]any{"url": rc.URL})
	msgID := s.send(t, appID, map[string]any{"eventType": "traced", "payload": map[string]any{"n": 1}})

	waitFor(t, 20*time.Second, "the API span", func() bool {
		return otlp.find("POST /api/v1/app/{app_id}/msg", map[string]any{
			"herald.app_id": appID, "http.route": "/api/v1/app/{app_id}/msg", "http.response.status_code": 202}) != nil
	})
	waitFor(t, 20*time.Second, "the attempt span", func() bool {
		return otlp.find("webhook attempt", map[string]any{
			"herald.app_id": appID, "herald.endpoint_id": epID, "herald.msg_id": msgID,
			"herald.attempt": 1, "http.response.status_code": 200, "herald.outcome": "success"}) != nil
	})
}

// TestTracingOffWithoutEndpoint: without an endpoint no tracer is made
// (nothing is exported, and the API and engine trace nothing), and the
// standard OpenTelemetry variables are honoured when set.
func TestTracingOffWithoutEndpoint(t *testing.T) {
	cases := []struct {
		cfg     Config
		environ []string
		want    string
	}{
		{Config{}, nil, ""},
		{Config{}, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318"}, "http://127.0.0.1:4318/v1/traces"},
		{Config{}, []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4318/custom"}, "http://127.0.0.1:4318/custom"},
		{Config{OTLPEndpoint: "http://127.0.0.1:9/"}, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318"}, "http://127.0.0.1:9/v1/traces"},
	}
	for _, tc := range cases {
		if got := otlpEndpoint(tc.cfg, tc.environ); got != tc.want {
			t.Errorf("otlpEndpoint(%+v, %v) = %q, want %q", tc.cfg, tc.environ, got, tc.want)
		}
	}

	// A server without an endpoint exports nothing to a receiver that
	// would accept spans.
	otlp := newOTLPReceiver(t)
	tracer, stop, err := startTracing(t.Context(), Config{}, nil, "node", discardLogger())
	if err != nil || tracer != nil {
		t.Fatalf("startTracing without an endpoint: tracer %v, err %v; want none", tracer, err)
	}
	stop()
	s := startServer(t)
	rc := newReceiver(t, nil)
	appID := s.createApp(t, "untraced")
	s.createEndpoint(t, appID, map[string]any{"url": rc.URL})
	s.send(t, appID, map[string]any{"eventType": "untraced", "payload": map[string]any{"n": 1}})
	waitFor(t, 10*time.Second, "delivery", func() bool { return len(rc.requests()) == 1 })
	s.Stop(t) // flushes whatever tracing would have exported
	if n := otlp.count(); n != 0 {
		t.Errorf("%d spans exported without an endpoint", n)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestLoadConfigObservability reads the observability settings and names
// each malformed one.
func TestLoadConfigObservability(t *testing.T) {
	cfg, err := loadConfig("serve", nil, []string{"HERALD_METRICS=false", "HERALD_METRICS_ADDR=127.0.0.1:9464",
		"HERALD_OTLP_ENDPOINT=http://127.0.0.1:4318"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics || cfg.MetricsAddr != "127.0.0.1:9464" || cfg.OTLPEndpoint != "http://127.0.0.1:4318" {
		t.Errorf("got metrics %v at %q, otlp %q", cfg.Metrics, cfg.MetricsAddr, cfg.OTLPEndpoint)
	}
	_, err = loadConfig("serve", nil, []string{"HERALD_METRICS=maybe", "HERALD_METRICS_ADDR=9464",
		"HERALD_OTLP_ENDPOINT=collector:4318"}, io.Discard)
	for _, want := range []string{"HERALD_METRICS=", "HERALD_METRICS_ADDR", "HERALD_OTLP_ENDPOINT"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

// TestMetricsOnTheirOwnAddress serves /metrics on HERALD_METRICS_ADDR and
// not on the API listener.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	addr := closedAddr(t)
	s := startServer(t, "HERALD_METRICS_ADDR="+addr)
	if r := s.call(t, "GET", "/metrics", nil); r.Status != http.StatusNotFound {
		t.Errorf("/metrics on the API listener: %d, want 404", r.Status)
	}
	var fams int
	waitFor(t, 10*time.Second, "metrics on their own address", func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		fams = len(scrape(t, "http://"+addr+"/metrics"))
		return resp.StatusCode == http.StatusOK
	})
	if fams == 0 {
		t.Error("no metrics on their own address")
	}
}
