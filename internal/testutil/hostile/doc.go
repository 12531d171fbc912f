// Package hostile starts webhook receivers that misbehave on purpose, for
// tests of the sender: one that never answers, one that trickles its
// answer a byte at a time, one that sends an endless body, one that resets
// the connection mid-response, one that redirects, one that answers a
// chosen status (429 with Retry-After, 410, ...), one that speaks no HTTP
// at all. Each is a real server on a raw 127.0.0.1:0 listener (net/http
// cannot misbehave like this), so the sender's real client, transport and
// timeouts are what is tested.
package hostile
