package storetest

import (
	"testing"

	"github.com/herald-webhooks/herald"
)

var authTests = []test{
	{"Tokens", testTokens},
	{"Idempotency", testIdempotency},
	{"TaskCreate", testTaskCreate},
}

func testTokens(t *testing.T, f *fixture) {
	a := f.app()
	expires := at(86_400_000)
	scoped := &herald.Token{ID: herald.NewID(herald.PrefixToken, f.tick()), Hash: "aa11", AppID: a.ID, ExpiresAt: &expires, CreatedAt: f.tick()}
	full := &herald.Token{ID: herald.NewID(herald.PrefixToken, f.tick()), Hash: "bb22", CreatedAt: f.tick()}
	must(t, f.s.TokenCreate(f.ctx, scoped), "TokenCreate scoped")
	must(t, f.s.TokenCreate(f.ctx, full), "TokenCreate full")
	for _, want := range []*herald.Token{scoped, full} {
		got, err := f.s.TokenGetByHash(f.ctx, want.Hash)
		must(t, err, "TokenGetByHash")
		checkFields(t, "token "+want.ID, field{"ID", got.ID, want.ID}, field{"Hash", got.Hash, want.Hash},
			field{"AppID", got.AppID, want.AppID}, field{"ExpiresAt", got.ExpiresAt, want.ExpiresAt},
			field{"CreatedAt", got.CreatedAt, want.CreatedAt})
	}
	_, err := f.s.TokenGetByHash(f.ctx, "cc33")
	wantCode(t, err, herald.ENotFound, "TokenGetByHash unknown")
	must(t, f.s.TokenDelete(f.ctx, scoped.ID), "TokenDelete")
	_, err = f.s.TokenGetByHash(f.ctx, scoped.Hash)
	wantCode(t, err, herald.ENotFound, "TokenGetByHash deleted")
	must(t, f.s.TokenDelete(f.ctx, scoped.ID), "TokenDelete twice")
	must(t, f.s.TokenDelete(f.ctx, "tok_missing"), "TokenDelete unknown")
	_, err = f.s.TokenGetByHash(f.ctx, full.Hash)
	must(t, err, "TokenGetByHash other")
}

func testIdempotency(t *testing.T, f *fixture) {
	r := &herald.IdempotentResponse{Key: "k1", StatusCode: 202, Body: []byte(`{"id":"msg_1"}`), ExpiresAt: at(10_000)}
	must(t, f.s.IdempotencyPut(f.ctx, r), "IdempotencyPut")
	got, err := f.s.IdempotencyGet(f.ctx, "k1", at(9_999))
	must(t, err, "IdempotencyGet")
	checkFields(t, "idempotent response", field{"Key", got.Key, r.Key}, field{"StatusCode", got.StatusCode, r.StatusCode},
		field{"Body", string(got.Body), string(r.Body)}, field{"ExpiresAt", got.ExpiresAt, r.ExpiresAt})
	_, err = f.s.IdempotencyGet(f.ctx, "k1", at(10_000))
	wantCode(t, err, herald.ENotFound, "IdempotencyGet at expiry")
	_, err = f.s.IdempotencyGet(f.ctx, "k1", at(20_000))
	wantCode(t, err, herald.ENotFound, "IdempotencyGet expired")
	_, err = f.s.IdempotencyGet(f.ctx, "unknown", at(0))
	wantCode(t, err, herald.ENotFound, "IdempotencyGet unknown")

	// Put replaces, also an expired record.
	r2 := &herald.IdempotentResponse{Key: "k1", StatusCode: 409, Body: []byte(`{"code":"conflict"}`), ExpiresAt: at(50_000)}
	must(t, f.s.IdempotencyPut(f.ctx, r2), "IdempotencyPut replace")
	got, err = f.s.IdempotencyGet(f.ctx, "k1", at(20_000))
	must(t, err, "IdempotencyGet replaced")
	checkFields(t, "replaced response", field{"StatusCode", got.StatusCode, 409}, field{"Body", string(got.Body), string(r2.Body)},
		field{"ExpiresAt", got.ExpiresAt, r2.ExpiresAt})

	must(t, f.s.IdempotencyPut(f.ctx, &herald.IdempotentResponse{Key: "k2", StatusCode: 200, Body: []byte("{}"), ExpiresAt: at(30_000)}), "IdempotencyPut k2")
	must(t, f.s.IdempotencyPut(f.ctx, &herald.IdempotentResponse{Key: "k3", StatusCode: 200, Body: []byte("{}"), ExpiresAt: at(40_000)}), "IdempotencyPut k3")
	n, err := f.s.IdempotencyPurge(f.ctx, at(35_000))
	must(t, err, "IdempotencyPurge")
	if n != 1 {
		t.Fatalf("purged %d, want 1 (k2)", n)
	}
	for key, alive := range map[string]bool{"k1": true, "k2": false, "k3": true} {
		_, err := f.s.IdempotencyGet(f.ctx, key, at(0))
		if alive {
			must(t, err, "IdempotencyGet "+key)
		} else {
			wantCode(t, err, herald.ENotFound, "IdempotencyGet purged "+key)
		}
	}
	n, err = f.s.IdempotencyPurge(f.ctx, at(35_000))
	must(t, err, "IdempotencyPurge again")
	if n != 0 {
		t.Fatalf("second purge removed %d, want 0", n)
	}
}

func testTaskCreate(t *testing.T, f *fixture) {
	now := f.tick()
	must(t, f.s.TaskCreate(f.ctx, &herald.Task{ID: herald.NewID(herald.PrefixTask, now), Kind: "endpoint.recover", Status: "running", UpdatedAt: now}), "TaskCreate")
	must(t, f.s.TaskCreate(f.ctx, &herald.Task{ID: herald.NewID(herald.PrefixTask, now), Kind: "endpoint.recover", Status: "finished", UpdatedAt: now}), "TaskCreate second")
}
