// Package receive is the receiving half of webhooks: an http.Handler that
// reads a request's raw body once (with a size limit), verifies its
// signature with any signing.Verifier, deduplicates it by event id in a
// Store, and runs the application's HandlerFunc with the verified bytes,
// either before answering (the default) or in the background after the
// event is durably queued (Config.Async).
//
// Stores: MemoryStore (bounded, with expiry; lost on restart) and SQLStore
// (database/sql on SQLite or PostgreSQL, shared by several receiver
// instances). Both implement Queue, so both serve the asynchronous mode.
//
// It imports only the standard library and herald/signing, so any Go
// program can use it, whether its webhooks come from Herald or not.
package receive
