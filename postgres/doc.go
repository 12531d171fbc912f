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
// # Writes
//
// Every write runs in a transaction. Deadlocks and serialization failures
// (40P01, 40001) run the transaction again, a few times at most. A message
// and its deliveries are written by one statement.
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
// Writes that make deliveries due (message create, resend, recover,
// rescue, a completion back to pending) call pg_notify in their
// transaction. Each store LISTENs on a dedicated connection, reconnects
// with backoff when it drops, and feeds DeliveryNotify, so a message
// accepted by one node wakes the delivery workers of every node. The
// channel is herald_deliveries, qualified by the schema when Config.Schema
// is set.
package postgres
