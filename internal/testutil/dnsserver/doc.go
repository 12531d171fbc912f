// Package dnsserver is a minimal authoritative DNS server for tests: it
// answers A and AAAA questions over UDP on 127.0.0.1 from a function the
// test supplies, so a test can make a name resolve to several addresses or
// to a different address on every lookup (DNS rebinding) without any
// traffic leaving the loopback interface. Resolver returns a *net.Resolver
// that sends every query to it.
package dnsserver
