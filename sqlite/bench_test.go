package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/storetest"
)

func newBenchStore(b *testing.B) herald.Store {
	return openTest(b, filepath.Join(b.TempDir(), "herald.db"))
}

func BenchmarkMessageCreate(b *testing.B) { storetest.BenchmarkMessageCreate(b, newBenchStore) }

func BenchmarkMessageCreateSerial(b *testing.B) {
	storetest.BenchmarkMessageCreateSerial(b, newBenchStore)
}

func BenchmarkClaimComplete(b *testing.B) { storetest.BenchmarkClaimComplete(b, newBenchStore) }

func BenchmarkMessageGet(b *testing.B) { storetest.BenchmarkMessageGet(b, newBenchStore) }
