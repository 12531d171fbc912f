package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
)

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "herald.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	app := &herald.Application{ID: herald.NewID(herald.PrefixApplication, now), Name: "a", UID: "u", CreatedAt: now, UpdatedAt: now}
	if err := s.ApplicationCreate(ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplicationCreate(ctx, &herald.Application{ID: "x", UID: "u", Name: "b"}); !herald.IsConflict(err) {
		t.Fatalf("want conflict, got %v", err)
	}
	ep := &herald.Endpoint{ID: herald.NewID(herald.PrefixEndpoint, now), AppID: app.ID, URL: "http://x",
		Secrets: []herald.EndpointSecret{{Key: "whsec_x"}}, Headers: map[string]string{"a": "b"}, CreatedAt: now, UpdatedAt: now}
	if err := s.EndpointCreate(ctx, ep); err != nil {
		t.Fatal(err)
	}
	msg := &herald.Message{ID: herald.NewID(herald.PrefixMessage, now), AppID: app.ID, EventType: "x.y", Payload: []byte(`{"a":1}`), CreatedAt: now}
	ds, err := s.MessageCreate(ctx, msg, nil)
	if err != nil || len(ds) != 1 {
		t.Fatal(ds, err)
	}
	jobs, err := s.DeliveryClaim(ctx, herald.ClaimParams{Now: now.Add(time.Second), Limit: 10, LeaseUntil: now.Add(time.Minute)})
	if err != nil || len(jobs) != 1 {
		t.Fatal(jobs, err)
	}
	if string(jobs[0].Message.Payload) != `{"a":1}` || jobs[0].Endpoint.Headers["a"] != "b" || jobs[0].Endpoint.Secrets[0].Key != "whsec_x" {
		t.Fatalf("job %+v", jobs[0])
	}
	got, err := s.ApplicationGet(ctx, "u")
	if err != nil || got.ID != app.ID {
		t.Fatal(got, err)
	}
}
