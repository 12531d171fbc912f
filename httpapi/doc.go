// Package httpapi is Herald's REST API, compatible with Svix's: the same
// paths, methods, JSON shapes, status codes and error bodies, so that the
// official Svix SDKs work against Herald unchanged.
//
// NewServer returns the http.Handler. Every route is listed in routes.go;
// each resource has its own file; requests are decoded and responses encoded
// by one pair of helpers; domain error codes map to statuses and Svix error
// bodies in one table (errors.go).
package httpapi
