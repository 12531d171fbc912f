// Package postgres is Herald's PostgreSQL store: herald.Store on one
// PostgreSQL database through pgx (pgxpool), for running several Herald
// nodes against one database. Open it with
// Open(ctx, Config{URL: "postgres://..."}).
//
// # Schema
//
// The schema is created by the numbered migrations embedded from
// migrations/, applied at Open in one transaction that holds a
// transaction-level advisory lock (pg_advisory_xact_lock with a fixed
// key), so nodes starting at once apply each migration exactly once, and
// recorded in schema_migrations. Config.Schema keeps the tables in a schema
// of their own (created if missing, set as every connection's search_path).
// Times are timestamptz (microseconds, the precision the conformance suite
// asks for), lists text[], maps jsonb and payloads bytea kept byte for
// byte. Keys use the "C" collation so that IDs and names sort byte by byte,
// as in the SQLite store.
//
// Driver errors are mapped by SQLSTATE and error type, never by message:
// unique violations (23505) are EConflict and foreign key violations
// (23503) ENotFound where the operation knows what they mean; an
// unreachable, shutting down or overloaded database is EUnavailable, and
// the pool reconnects by itself once it is back.
//
// # Writes: group commit
//
// Writes go through Config.Writers writer goroutines that commit them in
// groups, like the SQLite store (ADR 2): a writer takes every queued
// operation, up to Config.MaxBatch, runs them in one transaction on a
// pooled connection, commits once and then answers every caller, so that
// concurrent API requests and completion batches share commits. The hot
// operations (message create, completion) are single statements that need
// nothing from each other, so a batch made only of such operations is
// pipelined: every statement goes to the server in one pgx.Batch ending
// in one Sync, which the server runs as one implicit transaction and
// commits at the Sync, so the whole batch costs one round trip. Other
// batches run in an explicit transaction, one operation after another. A
// batch runs without savepoints first; if an operation fails (a taken
// eventId, say), the batch is rolled back and run again with a savepoint
// per operation, so that only the failing one is undone. A batch aborted for a
// deadlock or a serialization failure (40P01, 40001) runs again, a few
// times at most. A nil error means the write is committed. A caller whose
// context ends while its operation is queued gets the context's error and
// the operation is dropped; once a writer has taken it, the caller returns
// at once (EUnavailable when its deadline passed) and the write may still
// commit, as with any lost acknowledgement from a database server.
// Config.WriteTimeout bounds each batch. Close runs every queued operation
// before it returns; WriteStats counts commits and operations. A message
// and its deliveries are written by one statement, which selects the
// matching endpoints itself (the rules of herald.EndpointMatches in SQL),
// and a batch of attempt results by another.
//
// Reads and claims use the pool directly, each statement in its own
// transaction.
//
// # The delivery queue
//
// Deliveries are rows of the messages' database, written in the message's
// transaction. DeliveryClaim reads the partial index of due deliveries
// oldest first in a few bounded windows, picks rows while skipping
// excluded endpoints and those at their PerEndpoint bound, and claims the
// picks with one statement that locks them FOR UPDATE SKIP LOCKED (so no
// two claims, on one node or several, ever take the same delivery), marks
// them sending under the lease and returns them joined with their message
// and endpoint. When those windows hold only excluded or saturated
// endpoints (one customer's backlog), it falls back to the oldest due rows
// of each endpoint, listed through a skip scan of a partial index by
// endpoint, so that a backlog never starves the other endpoints.
//
// # Notifications
//
// After committing a write that makes deliveries due (message create,
// resend, recover, rescue, a completion back to pending), the writer
// NOTIFYs the store's channel in a transaction of its own, merging the
// requests that come while one is sent: a NOTIFY inside the write batches
// would serialize their commits on PostgreSQL's notification lock. Each
// store LISTENs on a dedicated connection, reconnects
// with backoff when it drops, and feeds DeliveryNotify, so a message
// accepted by one node wakes the delivery workers of every node. The
// channel is herald_deliveries, qualified by the schema when Config.Schema
// is set.
//
// # Import
//
// Import copies what a herald.Exporter streams (the embedded store, for
// herald migrate-store) into an empty schema with COPY, in one
// transaction, converting each value by its column's type (ADR 10).
package postgres
