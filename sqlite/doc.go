// Package sqlite is Herald's embedded store: herald.Store on one SQLite
// database file, through the pure-Go modernc.org/sqlite driver (so
// CGO_ENABLED=0 builds work). Open it with Open(ctx, Config{Path: ...}).
//
// # Writes: one writer, group commit
//
// The database runs in WAL mode with synchronous=FULL and foreign keys on.
// All writes go through one writer goroutine that holds the only write
// connection and commits in groups (ADR 2): it takes every queued
// operation, up to Config.MaxBatch, runs each inside its own SAVEPOINT of
// one BEGIN IMMEDIATE transaction, so that a failing operation (a uid
// conflict, say) is rolled back alone, commits once and then answers every
// caller. A nil error from a write therefore means the write is on disk.
// A caller whose context ends while its operation is still queued gets the
// context's error and the operation is dropped; once the writer has taken
// it, the caller waits for the commit (so an error always means "not
// written"). Close runs every queued operation before it returns. The
// writer prepares each statement once and reuses it across transactions;
// WriteStats counts commits and operations.
//
// # Reads
//
// Reads use a separate pool of query_only connections (Config.Readers),
// which WAL lets run beside the writer, through statements prepared once
// per connection. A read does not hold a transaction across its queries.
//
// # Schema
//
// The schema is created by the numbered migrations embedded from
// migrations/, applied in one transaction at Open and recorded in
// schema_migrations. Times are INTEGER Unix nanoseconds (0 for "not set"),
// lists and maps JSON TEXT (NULL for nil) and payloads BLOBs kept byte for
// byte (NULL once expunged).
//
// Deleting an application deletes everything under it (endpoints,
// messages, deliveries, attempts, tokens). Deleting an endpoint deletes its
// deliveries in every state; its attempts stay as history until the
// application goes. Methods scoped to a parent object (an application's
// endpoints, messages or attempts, an endpoint's stats, messages or
// recovery, a message's endpoints, a resend) return ENotFound when the
// parent does not exist.
//
// # Claims
//
// DeliveryClaim reads the due index oldest first in a few bounded windows,
// skipping excluded endpoints and those at their PerEndpoint bound. When
// those windows are all taken by such endpoints (one customer's large
// backlog), it falls back to a skip scan over a partial index of pending
// deliveries by endpoint, one index seek per endpoint with pending
// deliveries, so that no backlog can hide the due deliveries of other
// endpoints and no claim reads a whole backlog.
//
// # Export
//
// Export (herald.Exporter) streams every table of user data from one read
// snapshot as store-neutral values, for herald migrate-store; see
// exportTables for what is copied and ADR 10.
package sqlite
