package egress

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
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
	// Resolver looks up endpoint host names. Default net.DefaultResolver;
	// tests point it at a DNS server of their own.
	Resolver *net.Resolver
}

// NewClient returns an HTTP client guarded against SSRF. For every new
// connection it refuses numeric host spellings that are not canonical IP
// addresses, resolves the host once and refuses the whole name if any of its
// addresses is blocked, dials only the addresses it checked, and checks the
// address again in the socket's control hook just before connect (so DNS
// rebinding cannot get around it). It returns redirects as responses instead
// of following them and ignores proxy settings (HTTP_PROXY and the like). A
// refused connection fails with an error wrapping *BlockedError.
func NewClient(cfg Config) *http.Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.MaxIdleConnsPerHost <= 0 {
		cfg.MaxIdleConnsPerHost = 1024
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	dialer := &guardedDialer{
		dialer: &net.Dialer{
			Timeout:   min(cfg.Timeout, 10*time.Second),
			KeepAlive: 30 * time.Second,
			Control:   controlFunc(cfg.AllowedCIDRs),
		},
		resolver: cfg.Resolver,
		allowed:  cfg.AllowedCIDRs,
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

// guardedDialer resolves and checks a destination before dialling it.
type guardedDialer struct {
	dialer   *net.Dialer
	resolver *net.Resolver
	allowed  []netip.Prefix
}

// DialContext connects to address ("host:port") if the policy allows every
// address host has, trying them in the resolver's order.
func (g *guardedDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("egress: dial address %q: %w", address, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("egress: dial port %q: %w", portText, err)
	}
	addrs, err := g.resolve(ctx, network, host)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for i, a := range addrs {
		dctx, cancel := partialDeadline(ctx, len(addrs)-i)
		conn, err := g.dialer.DialContext(dctx, network, netip.AddrPortFrom(a, uint16(port)).String())
		cancel()
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err // as the standard dialer reports it
		}
	}
	if firstErr == nil {
		firstErr = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	return nil, firstErr
}

// resolve returns host's addresses, or a *BlockedError when host is a
// numeric spelling that is not a canonical IP address or when any of its
// addresses is blocked: a name is refused whole, never half used.
func (g *guardedDialer) resolve(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if err := CheckAddr(a, g.allowed); err != nil {
			return nil, err
		}
		return []netip.Addr{a.Unmap()}, nil
	}
	if numericHost(host) {
		return nil, &BlockedError{Host: host, Reason: "numeric host that is not a canonical IP address"}
	}
	lookup := map[string]string{"tcp4": "ip4", "tcp6": "ip6"}[network]
	if lookup == "" {
		lookup = "ip"
	}
	addrs, err := g.resolver.LookupNetIP(ctx, lookup, host)
	if err != nil {
		return nil, err
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
		if err := CheckAddr(addrs[i], g.allowed); err != nil {
			be := err.(*BlockedError)
			be.Host = host
			if len(addrs) > 1 {
				be.Reason += fmt.Sprintf(" (1 of the %d addresses of the name)", len(addrs))
			}
			return nil, be
		}
	}
	return addrs, nil
}

// partialDeadline gives one of n remaining addresses its share of ctx's
// time left, at least 2 s, as the standard library's dialer does.
func partialDeadline(ctx context.Context, n int) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok || n <= 1 {
		return ctx, func() {}
	}
	share := max(time.Until(deadline)/time.Duration(n), 2*time.Second)
	return context.WithTimeout(ctx, share)
}
