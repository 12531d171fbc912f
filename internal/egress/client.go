package egress

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Config configures the outbound client. Zero values take the defaults.
type Config struct {
	// AllowedCIDRs are networks that may be reached although the policy
	// blocks them (e.g. 127.0.0.0/8 for local receivers). Default none.
	AllowedCIDRs []netip.Prefix
	// Timeout bounds a whole request, body included. Default 15s.
	Timeout time.Duration
	// MaxIdleConnsPerHost is how many kept-alive connections to one host
	// are kept for reuse. Many endpoints can share a host (one receiving
	// service for many customers), so it should cover every attempt that
	// may be in flight to one host at once: connections beyond it are
	// closed when they finish and dialled again for the next attempt.
	// Default 1024.
	MaxIdleConnsPerHost int
}

// NewClient returns an HTTP client that checks every connection's resolved
// address against the SSRF policy when it dials (so DNS rebinding and names
// with several addresses cannot get around it), returns redirects as
// responses instead of following them, and ignores proxy settings. A refused
// connection fails with an error wrapping *BlockedError.
func NewClient(cfg Config) *http.Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = 1024
	}
	dialer := &net.Dialer{
		Timeout:   min(cfg.Timeout, 10*time.Second),
		KeepAlive: 30 * time.Second,
		Control:   controlFunc(cfg.AllowedCIDRs),
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           max(4096, cfg.MaxIdleConnsPerHost),
		MaxIdleConnsPerHost:    cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    min(cfg.Timeout, 10*time.Second),
		ResponseHeaderTimeout:  cfg.Timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// controlFunc checks the address a socket is about to connect to.
func controlFunc(allowed []netip.Prefix) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("egress: unexpected dial address %q: %w", address, err)
		}
		return CheckAddr(ap.Addr(), allowed)
	}
}
