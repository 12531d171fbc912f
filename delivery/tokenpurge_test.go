package delivery_test

import (
	"context"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/delivery"
)

// TestLeaderPurgesExpiredTokens checks that the maintenance leader deletes
// expired tokens and keeps the others.
func TestLeaderPurgesExpiredTokens(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	expired := &herald.Token{ID: herald.NewID(herald.PrefixToken, now), Hash: "expired", ExpiresAt: &past, CreatedAt: now}
	valid := &herald.Token{ID: herald.NewID(herald.PrefixToken, now), Hash: "valid", ExpiresAt: &future, CreatedAt: now}
	for _, tok := range []*herald.Token{expired, valid} {
		if err := e.store.TokenCreate(e.ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	m := delivery.NewMaintainer(delivery.MaintenanceConfig{Node: "n", Term: 300 * time.Millisecond,
		PurgeInterval: 20 * time.Millisecond}, e.store)
	if err := m.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Stop(context.Background()) })
	waitFor(t, 10*time.Second, "the expired token to be purged", func() bool {
		_, err := e.store.TokenGet(e.ctx, expired.ID)
		return herald.IsNotFound(err)
	})
	if _, err := e.store.TokenGet(e.ctx, valid.ID); err != nil {
		t.Errorf("a valid token was purged: %v", err)
	}
}
