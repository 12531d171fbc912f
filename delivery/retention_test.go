package delivery_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/delivery"
)

// TestRetentionTaskExpungesPastUnfinishedMessages: the maintenance
// leader's cleaner, in batches smaller than the backlog, expunges expired
// payloads behind a run of expired messages whose deliveries are still
// pending, which keep theirs.
func TestRetentionTaskExpungesPastUnfinishedMessages(t *testing.T) {
	e := newEnv(t)
	e.endpoint("https://unreachable.example/hook")
	now := time.Now()
	create := func(expired time.Duration, only []string) *herald.Message {
		m := &herald.Message{ID: herald.NewID(herald.PrefixMessage, time.Now()), AppID: e.app.ID, EventType: "a.b",
			Payload: json.RawMessage(`{"n":1}`), PayloadRetentionDays: 5, PayloadExpiresAt: now.Add(-expired), CreatedAt: now}
		if _, err := e.store.MessageCreate(e.ctx, m, only); err != nil {
			t.Fatal(err)
		}
		return m
	}
	var blocked, free []*herald.Message
	for range 5 { // expired first, but still to be delivered (no engine runs)
		blocked = append(blocked, create(2*time.Hour, nil))
	}
	for range 3 { // expired later, no deliveries
		free = append(free, create(time.Hour, []string{}))
	}
	payload := func(m *herald.Message) json.RawMessage {
		got, err := e.store.MessageGet(e.ctx, e.app.ID, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Payload
	}
	m := delivery.NewMaintainer(delivery.MaintenanceConfig{Node: "n", Term: 300 * time.Millisecond,
		Retention: delivery.RetentionConfig{Interval: 20 * time.Millisecond, Batch: 2}}, e.store)
	if err := m.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(context.Background()) })
	waitFor(t, 10*time.Second, "the free messages' payloads expunged", func() bool {
		for _, f := range free {
			if payload(f) != nil {
				return false
			}
		}
		return true
	})
	for _, b := range blocked {
		if payload(b) == nil {
			t.Fatalf("message %s with a pending delivery lost its payload", b.ID)
		}
	}
}
