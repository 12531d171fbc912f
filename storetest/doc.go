// Package storetest is the conformance suite that every herald.Store runs:
// one set of tests of the documented contract (CRUD, conflicts and
// not-found codes, lookups by alias, pagination, filters, fan-out, the
// delivery queue, attempts, tokens, idempotency records, cascades,
// durability and concurrency), plus store benchmarks.
//
// A store's own test calls Run with a Harness that makes empty stores:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, storetest.Harness{New: newStore, Reopen: reopenStore})
//	}
//
// The suite tests behaviour through the herald.Store interface only, so
// that the embedded SQLite store and the PostgreSQL store pass the same
// tests unchanged. Beyond store.go it expects: methods scoped to a parent
// object (an application's endpoints or messages, an endpoint's stats or
// messages, a message's endpoints, recover) return ENotFound when the
// parent does not exist; lists honour ListParams.Ascending and default to
// newest (or last) first; times keep at least microsecond precision;
// DeliveryResend keeps the (message, endpoint) delivery's ID.
package storetest
