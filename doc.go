// Package herald is the domain of Herald, a webhook sending service with a
// Svix-compatible API.
//
// It holds the types every other package speaks in (Application, Endpoint,
// Message, Delivery, Attempt, EventType), the one error type with its codes,
// the Store interface that every storage backend implements, and the pure
// rules of the product: which endpoints a message fans out to and when a
// failed delivery is tried again. It imports only the standard library.
package herald
