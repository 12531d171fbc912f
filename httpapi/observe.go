package httpapi

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// traceContext reads a caller's W3C traceparent, so that an API span
// joins the caller's trace.
var traceContext = propagation.TraceContext{}

// traced makes a server span of each request to the route, named by its
// pattern (bounded: never by the request's path). Without a tracer the
// handler is returned as it is, at no cost.
func (s *server) traced(pattern string, h http.Handler) http.Handler {
	if s.cfg.Tracer == nil {
		return h
	}
	method, route, _ := strings.Cut(pattern, " ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := traceContext.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.cfg.Tracer.Start(ctx, pattern, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", method), attribute.String("http.route", route)))
		defer span.End()
		if id := r.PathValue("app_id"); id != "" {
			span.SetAttributes(attribute.String("herald.app_id", id))
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	})
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observeMessageAccepted counts an accepted message, if observed.
func (s *server) observeMessageAccepted() {
	if s.cfg.Observer != nil {
		s.cfg.Observer.ObserveMessageAccepted()
	}
}

// ready answers 204 when the store serves requests and 503 with the error
// body otherwise: for a load balancer or orchestrator deciding whether to
// send traffic here. (Before the store is open, while migrations run, the
// binary answers 503 for this path itself.)
func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	if err := s.store.Ping(r.Context()); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, httpErrorOut{Code: "service_unavailable", Detail: "Not ready: the store is unavailable."})
		return
	}
	writeNoContent(w)
}
