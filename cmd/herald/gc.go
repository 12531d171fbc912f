package main

import "runtime/debug"

// defaultGCPercent is the garbage collector's target used unless GOGC is
// set. Herald's live heap is small (tens of MiB) and its allocation rate
// high, so letting the heap grow to five times the live data before a
// collection trades a few MiB for about 15% less CPU at full load (see
// docs/benchmarks.md).
const defaultGCPercent = 400

// tuneGC applies defaultGCPercent when the environment does not set GOGC.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}
