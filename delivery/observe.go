package delivery

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/herald-webhooks/herald"
)

// noTracer is the default: spans that record nothing, at no cost.
var noTracer = noop.NewTracerProvider().Tracer("")

// InFlight returns the number of deliveries this engine has claimed and
// not yet finished.
func (e *Engine) InFlight() int64 { return e.inFlight.Load() }

// startAttemptSpan starts the span of one attempt. Its attributes name
// the delivery and the destination host, never the full URL (whose query
// may hold a credential).
func (e *Engine) startAttemptSpan(ctx context.Context, job *herald.DeliveryJob) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{
		attribute.String("herald.app_id", job.Delivery.AppID),
		attribute.String("herald.endpoint_id", job.Delivery.EndpointID),
		attribute.String("herald.msg_id", job.Delivery.MsgID),
		attribute.Int("herald.attempt", job.Delivery.Attempts+1),
		attribute.String("http.request.method", "POST"),
	}
	if u, err := url.Parse(job.Endpoint.URL); err == nil {
		attrs = append(attrs, attribute.String("server.address", u.Hostname()))
	}
	return e.cfg.Tracer.Start(ctx, "webhook attempt",
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endAttemptSpan records the attempt's result on its span and ends it.
func endAttemptSpan(span trace.Span, res *herald.DeliveryResult) {
	code := res.Attempt.ResponseStatusCode
	if code > 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", code))
	}
	span.SetAttributes(attribute.String("herald.outcome", Outcome(res)))
	if res.Attempt.Status != herald.StatusSuccess {
		desc := "status " + strconv.Itoa(code)
		if code == 0 {
			desc = res.Attempt.Response // why no response came
		}
		span.SetStatus(codes.Error, desc)
	}
	span.End()
}

// observe tells the configured observer about an attempt.
func (e *Engine) observe(res *herald.DeliveryResult, d time.Duration) {
	if e.cfg.Observer != nil {
		e.cfg.Observer.ObserveAttempt(res, d)
	}
}

// Outcome names what an attempt came to: "success", "retry" (failed,
// tried again later) or "failed" (failed, and its delivery has no
// attempts left).
func Outcome(res *herald.DeliveryResult) string {
	switch {
	case res.Attempt.Status == herald.StatusSuccess:
		return "success"
	case res.Status == herald.StatusPending:
		return "retry"
	}
	return "failed"
}

// StatusClass names an attempt's HTTP status class: "2xx" to "5xx", or
// "none" when no response came (or an unexpected code).
func StatusClass(code int) string {
	if code < 100 || code > 599 {
		return "none"
	}
	return strconv.Itoa(code/100) + "xx"
}
