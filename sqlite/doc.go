// Package sqlite is Herald's embedded store: herald.Store on one SQLite
// database file, through the pure-Go modernc.org/sqlite driver (so
// CGO_ENABLED=0 builds work).
//
// The database runs in WAL mode with synchronous=FULL and foreign keys on.
// All writes go through one writer goroutine on a dedicated connection,
// which commits them in groups (see ADR 2): it takes every queued
// operation, up to Config.MaxBatch, runs each inside its own SAVEPOINT of
// one BEGIN IMMEDIATE transaction, so that a failing operation is rolled
// back alone, commits once and then answers every caller. A nil error from
// a write therefore means the write is on disk. Reads use a separate pool
// of query_only connections, which WAL lets run beside the writer.
//
// The schema is created by the numbered migrations embedded from
// migrations/, applied in one transaction at Open and recorded in
// schema_migrations. Times are INTEGER Unix nanoseconds (0 for "not set"),
// lists and maps JSON TEXT and payloads BLOBs kept byte for byte.
//
// Deleting an application deletes everything under it. Deleting an
// endpoint deletes its deliveries in every state; its attempts stay as
// history (they go with the application). Methods scoped to a parent
// object (an endpoint list, an endpoint's stats, a message's endpoints)
// return ENotFound when the parent does not exist.
package sqlite
