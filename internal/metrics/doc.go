// Package metrics implements Herald's observer interfaces with Prometheus
// metrics on a registry of its own (never the global default one), and
// serves them in the Prometheus text format.
//
// Every label has a fixed, small set of values: no application, endpoint
// or message IDs, so the number of series stays bounded whatever the
// traffic.
package metrics
