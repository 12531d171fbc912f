// Package egress is Herald's outbound HTTP client: the only way deliveries
// leave the process, and its SSRF guard. CheckURL judges an endpoint URL
// when it is stored (http or https, no numeric IP spellings that hide the
// destination, no IPv6 zone); the client refuses, on every connection, to
// reach loopback, private, link-local, CGNAT, multicast and other
// special-purpose addresses (CheckAddr) unless an allow-list lets them
// through: it resolves each name itself, refuses the whole name if any of
// its addresses is blocked, dials only the addresses it checked and checks
// them again just before connect. It never follows redirects and ignores
// proxy settings.
package egress
