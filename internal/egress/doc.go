// Package egress is Herald's outbound HTTP client: the only way deliveries
// leave the process. It refuses, at connect time and on the resolved
// address, to reach loopback, private, link-local, CGNAT, multicast and other
// special-purpose addresses (SSRF protection) unless an allow-list lets them
// through, never follows redirects and ignores proxy settings.
package egress
