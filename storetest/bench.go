package storetest

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

// benchPayload is a typical small webhook body.
var benchPayload = json.RawMessage(`{"type":"invoice.paid","data":{"id":"inv_123","amount":4200,"currency":"eur","customer":"cus_42"}}`)

// benchApp creates an application with endpoints endpoints and returns its ID.
func benchApp(b *testing.B, s herald.Store, endpoints int) string {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "bench", CreatedAt: now, UpdatedAt: now}
	if err := s.ApplicationCreate(ctx, app); err != nil {
		b.Fatal(err)
	}
	for range endpoints {
		now := time.Now().UTC()
		ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: "https://example.com/hook",
			Secrets: []herald.EndpointSecret{{Key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, CreatedAt: now, UpdatedAt: now}
		if err := s.EndpointCreate(ctx, ep, 0); err != nil {
			b.Fatal(err)
		}
	}
	return app.ID
}

func benchMessage(appID string) *herald.Message {
	now := time.Now().UTC()
	return &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: appID, EventType: "invoice.paid",
		Payload: benchPayload, PayloadRetentionDays: 90, CreatedAt: now}
}

// BenchmarkMessageCreate measures MessageCreate from many goroutines at
// once (parallelism 32 per GOMAXPROCS), each message fanning out to two
// endpoints, as the API does under load. It reports msgs/s.
func BenchmarkMessageCreate(b *testing.B, newStore func(b *testing.B) herald.Store) {
	s := newStore(b)
	appID := benchApp(b, s, 2)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32)
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.MessageCreate(ctx, benchMessage(appID), nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkMessageCreateSerial measures MessageCreate from one goroutine:
// every write waits for its own commit. It reports msgs/s.
func BenchmarkMessageCreateSerial(b *testing.B, newStore func(b *testing.B) herald.Store) {
	s := newStore(b)
	appID := benchApp(b, s, 2)
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if _, err := s.MessageCreate(ctx, benchMessage(appID), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkClaimComplete measures the queue's round trip: claim a batch of
// due deliveries (up to 100, at most 10 per endpoint) and complete them,
// over a backlog of b.N deliveries spread across 20 endpoints. It reports
// deliveries/s.
func BenchmarkClaimComplete(b *testing.B, newStore func(b *testing.B) herald.Store) {
	s := newStore(b)
	const endpoints = 20
	appID := benchApp(b, s, endpoints)
	ctx := context.Background()
	msgs := make([]*herald.Message, (b.N+endpoints-1)/endpoints)
	var wg sync.WaitGroup
	for i := range msgs {
		msgs[i] = benchMessage(appID)
		wg.Go(func() {
			if _, err := s.MessageCreate(ctx, msgs[i], nil); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	done := 0
	for done < b.N {
		now := time.Now().UTC()
		jobs, err := s.DeliveryClaim(ctx, herald.ClaimParams{Now: now, Limit: 100, PerEndpoint: 10, LeaseUntil: now.Add(time.Minute)})
		if err != nil {
			b.Fatal(err)
		}
		if len(jobs) == 0 {
			b.Fatalf("queue empty after %d of %d deliveries", done, b.N)
		}
		results := make([]herald.DeliveryResult, len(jobs))
		for i, j := range jobs {
			results[i] = result(j, herald.StatusSuccess, 200, now)
		}
		if err := s.DeliveryComplete(ctx, results); err != nil {
			b.Fatal(err)
		}
		done += len(jobs)
	}
	b.ReportMetric(float64(done)/time.Since(start).Seconds(), "deliveries/s")
}

// BenchmarkMessageGet measures reads by ID from many goroutines.
func BenchmarkMessageGet(b *testing.B, newStore func(b *testing.B) herald.Store) {
	s := newStore(b)
	appID := benchApp(b, s, 1)
	ctx := context.Background()
	ids := make([]string, 100)
	for i := range ids {
		m := benchMessage(appID)
		if _, err := s.MessageCreate(ctx, m, nil); err != nil {
			b.Fatal(err)
		}
		ids[i] = m.ID
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.MessageGet(ctx, appID, ids[i%len(ids)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
