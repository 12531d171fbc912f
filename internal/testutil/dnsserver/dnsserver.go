package dnsserver

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// Query types the server answers.
const (
	TypeA    uint16 = 1
	TypeAAAA uint16 = 28
)

// Answer returns the addresses of name (lower case, fully qualified:
// "rebind.test.") for a question of qtype; ok false answers NXDOMAIN.
// Addresses of the other family are left out of the answer (an IPv4-mapped
// IPv6 address is IPv6: it answers AAAA questions).
type Answer func(name string, qtype uint16) (addrs []netip.Addr, ok bool)

// Server is a running test DNS server.
type Server struct {
	conn    net.PacketConn
	answer  Answer
	done    chan struct{}
	mu      sync.Mutex
	queries map[string]int
}

// Start runs a server on 127.0.0.1 and a free port until the test ends.
func Start(t testing.TB, answer Answer) *Server {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{conn: conn, answer: answer, done: make(chan struct{}), queries: map[string]int{}}
	go s.serve()
	t.Cleanup(func() {
		conn.Close()
		<-s.done
	})
	return s
}

// Addr is the server's UDP address.
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// Resolver returns a resolver that sends every query to the server (the
// Go resolver; /etc/hosts is still read first, as for any lookup).
func (s *Server) Resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.Addr())
	}}
}

// Queries returns how many questions (of any type) name has been asked.
func (s *Server) Queries(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[fqdn(name)]
}

func (s *Server) serve() {
	defer close(s.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		if resp, err := s.respond(buf[:n]); err == nil {
			s.conn.WriteTo(resp, from)
		}
	}
}

// respond builds the answer to one query message.
func (s *Server) respond(q []byte) ([]byte, error) {
	name, qtype, end, err := parseQuestion(q)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.queries[name]++
	s.mu.Unlock()
	addrs, ok := s.answer(name, qtype)
	var answers [][]byte
	for _, a := range addrs {
		if (qtype == TypeA && a.Is4()) || (qtype == TypeAAAA && a.Is6()) {
			answers = append(answers, a.AsSlice())
		}
	}
	flags := uint16(0x8000 | 0x0400 | 0x0080)         // response, authoritative, recursion available
	flags |= binary.BigEndian.Uint16(q[2:4]) & 0x7900 // opcode and recursion desired, as asked
	if !ok {
		flags |= 3 // NXDOMAIN
	}
	resp := binary.BigEndian.AppendUint16(nil, binary.BigEndian.Uint16(q[0:2]))
	resp = binary.BigEndian.AppendUint16(resp, flags)
	resp = binary.BigEndian.AppendUint16(resp, 1)
	resp = binary.BigEndian.AppendUint16(resp, uint16(len(answers)))
	resp = append(resp, 0, 0, 0, 0) // no authority or additional records
	resp = append(resp, q[12:end]...)
	for _, rdata := range answers {
		resp = append(resp, 0xc0, 12) // the name, by a pointer to the question
		resp = binary.BigEndian.AppendUint16(resp, qtype)
		resp = binary.BigEndian.AppendUint16(resp, 1) // class IN
		resp = append(resp, 0, 0, 0, 0)               // TTL 0: never cached
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(rdata)))
		resp = append(resp, rdata...)
	}
	return resp, nil
}

// parseQuestion reads the first question of a query: its name (lower case,
// fully qualified), type, and the offset just after it.
func parseQuestion(q []byte) (string, uint16, int, error) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) < 1 {
		return "", 0, 0, errors.New("no question")
	}
	var labels []string
	i := 12
	for {
		if i >= len(q) {
			return "", 0, 0, errors.New("truncated name")
		}
		n := int(q[i])
		i++
		if n == 0 {
			break
		}
		if n > 63 || i+n > len(q) {
			return "", 0, 0, errors.New("bad label")
		}
		labels = append(labels, string(q[i:i+n]))
		i += n
	}
	if i+4 > len(q) {
		return "", 0, 0, errors.New("truncated question")
	}
	return fqdn(strings.Join(labels, ".")), binary.BigEndian.Uint16(q[i : i+2]), i + 4, nil
}

func fqdn(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, ".")) + "."
}
