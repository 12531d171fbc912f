// Package delivery is Herald's sending engine. A producer claims due
// deliveries from the store, as many as there are free slots, leaving out
// endpoints that are busy or throttled; each claimed delivery is signed and
// POSTed by its own goroutine (the executor); results go to a completer that
// writes them back in batches. Maintenance returns expired leases to the
// queue.
//
// A slow endpoint holds only its own slots: attempts in flight are bounded
// per endpoint and in total, and throttleRate is enforced per endpoint with
// a token bucket.
package delivery
