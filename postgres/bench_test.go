package postgres

import (
	"testing"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/storetest"
)

// The store benchmarks of storetest, each on a fresh schema of the server
// in HERALD_TEST_POSTGRES_URL (skipped without it).

func newBenchStore(b *testing.B) herald.Store {
	url := testURL(b)
	return openTest(b, url, newSchema(b, url))
}

func BenchmarkMessageCreate(b *testing.B) { storetest.BenchmarkMessageCreate(b, newBenchStore) }

func BenchmarkMessageCreateSerial(b *testing.B) {
	storetest.BenchmarkMessageCreateSerial(b, newBenchStore)
}

func BenchmarkClaimComplete(b *testing.B) { storetest.BenchmarkClaimComplete(b, newBenchStore) }

func BenchmarkMessageGet(b *testing.B) { storetest.BenchmarkMessageGet(b, newBenchStore) }
