package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/herald-webhooks/herald"
)

// DefaultMaxInFlight is Config.MaxInFlight's default.
const DefaultMaxInFlight = 1024

// Config configures the API server. Zero values take the documented
// defaults.
type Config struct {
	// AdminToken is the bearer token with full access. Required.
	AdminToken string
	// PublicURL is the base URL shown in app-portal access links. Default:
	// "http://" + the request's Host.
	PublicURL string
	// MaxBodyBytes limits request bodies (413 beyond). Default 1 MiB.
	MaxBodyBytes int64
	// MaxEndpointsPerApp is how many endpoints one application may have.
	// Default herald.DefaultMaxEndpointsPerApp (100).
	MaxEndpointsPerApp int
	// IdempotencyTTL is how long idempotent responses are kept. Default 12h.
	IdempotencyTTL time.Duration
	// PortalTokenTTL is the lifetime of app-portal tokens. Default 7 days.
	PortalTokenTTL time.Duration
	// Timeout bounds the context of each request, and so its store
	// calls: when the database hangs or cannot be reached, the request
	// answers 503 with the error body once it passes, instead of waiting
	// for as long as the client does. Default 10s.
	Timeout time.Duration
	// MaxInFlight bounds the requests handled at once; beyond it a
	// request is answered 503 with Retry-After at once, its body unread.
	// The liveness check (/api/v1/health/ping) is never refused. Default
	// DefaultMaxInFlight.
	MaxInFlight int
	// RetentionDay is the length of one day of a message's
	// payloadRetentionPeriod: its payload expires that many of them after
	// its creation. Default herald.RetentionDay (24h); shorter only in
	// tests.
	RetentionDay time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger receives request errors. Default: discard.
	Logger *slog.Logger
	// Observer counts accepted messages (for metrics). Default: none.
	Observer herald.APIObserver
	// Tracer makes a span of each request, named by its route. Default:
	// none (no spans, no cost).
	Tracer trace.Tracer
}

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxEndpointsPerApp <= 0 {
		c.MaxEndpointsPerApp = herald.DefaultMaxEndpointsPerApp
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.RetentionDay <= 0 {
		c.RetentionDay = herald.RetentionDay
	}
	if c.IdempotencyTTL <= 0 {
		c.IdempotencyTTL = 12 * time.Hour
	}
	if c.PortalTokenTTL <= 0 {
		c.PortalTokenTTL = 7 * 24 * time.Hour
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// server holds what handlers share.
type server struct {
	cfg       Config
	adminHash string // hashToken(cfg.AdminToken)
	store     herald.Store
	log       *slog.Logger
	keys      *keyLocks
	access    map[string]access // every route's pattern and who may use it
}

// NewServer returns the API as an http.Handler over store.
func NewServer(cfg Config, store herald.Store) http.Handler {
	cfg = cfg.withDefaults()
	s := &server{cfg: cfg, adminHash: hashToken(cfg.AdminToken), store: store, log: cfg.Logger, keys: newKeyLocks()}
	mux := http.NewServeMux()
	s.routes(mux)
	return s.limitInFlight(s.recoverPanics(s.limited(s.bounded(jsonMisses(mux)))))
}

// bounded gives each request's context the deadline of cfg.Timeout.
func (s *server) bounded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// jsonMisses answers requests that match no route with Svix's error body:
// 404 for an unknown path, 405 (with Allow) for a known path and another
// method.
func jsonMisses(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &statusProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		if probe.status == http.StatusMethodNotAllowed {
			writeJSON(w, http.StatusMethodNotAllowed, httpErrorOut{Code: "method_not_allowed", Detail: "This route does not accept " + r.Method + "."})
			return
		}
		writeJSON(w, http.StatusNotFound, httpErrorOut{Code: "not_found", Detail: "No such route."})
	})
}

// recoverPanics turns a handler panic into a logged 500 with the error
// body, so that one bad request never takes the server down.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in API handler", "method", r.Method, "path", r.URL.Path, "err", v)
				writeError(w, herald.Errorf(herald.EInternal, "internal error"), s.log)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusProbe is a ResponseWriter that only keeps the status and headers
// the mux's own 404/405 handler sets.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) WriteHeader(code int)        { p.status = code }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
