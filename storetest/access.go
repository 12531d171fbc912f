package storetest

import (
	"testing"

	"github.com/herald-webhooks/herald"
)

var accessTests = []test{
	{"TokenAdminListGetRevoke", testTokenAdminListGetRevoke},
	{"TokenPurgeExpired", testTokenPurgeExpired},
}

// testTokenPurgeExpired checks that the purge deletes the tokens whose
// expiry has come, admin and app-scoped, and keeps the others.
func testTokenPurgeExpired(t *testing.T, f *fixture) {
	a := f.app()
	early, late := at(10_000), at(20_000)
	toks := map[string]*herald.Token{
		"expired admin":  {Hash: "p1", ExpiresAt: &early},
		"expired scoped": {Hash: "p2", AppID: a.ID, ExpiresAt: &early},
		"at now":         {Hash: "p3", AppID: a.ID, ExpiresAt: &late},
		"later":          {Hash: "p4", AppID: a.ID, ExpiresAt: ptr(at(30_000))},
		"never":          {Hash: "p5"},
	}
	for name, tok := range toks {
		tok.ID, tok.CreatedAt = herald.NewID(herald.PrefixToken, f.tick()), f.tick()
		must(t, f.s.TokenCreate(f.ctx, tok), "TokenCreate "+name)
	}
	n, err := f.s.TokenPurgeExpired(f.ctx, late)
	must(t, err, "TokenPurgeExpired")
	if n != 3 {
		t.Fatalf("purged %d, want 3", n)
	}
	for name, tok := range toks {
		_, err := f.s.TokenGet(f.ctx, tok.ID)
		if name == "later" || name == "never" {
			must(t, err, "TokenGet kept "+name)
		} else {
			wantCode(t, err, herald.ENotFound, "TokenGet purged "+name)
		}
	}
	n, err = f.s.TokenPurgeExpired(f.ctx, late)
	must(t, err, "TokenPurgeExpired again")
	if n != 0 {
		t.Fatalf("second purge removed %d, want 0", n)
	}
}

// testTokenAdminListGetRevoke checks that admin tokens keep their name and
// prefix, are listed oldest first without the app-scoped ones, can be read
// by ID, and are gone from both once deleted.
func testTokenAdminListGetRevoke(t *testing.T, f *fixture) {
	a := f.app()
	expires := at(3_600_000)
	first := &herald.Token{ID: herald.NewID(herald.PrefixToken, f.tick()), Hash: "h-first", Name: "ci deploys", Prefix: "hrda_AbCd", CreatedAt: f.tick()}
	scoped := &herald.Token{ID: herald.NewID(herald.PrefixToken, f.tick()), Hash: "h-scoped", AppID: a.ID, Prefix: "hrdp_XyZ1", ReadOnly: true, ExpiresAt: &expires, CreatedAt: f.tick()}
	second := &herald.Token{ID: herald.NewID(herald.PrefixToken, f.tick()), Hash: "h-second", Name: "", Prefix: "hrda_EfGh", ExpiresAt: &expires, CreatedAt: f.tick()}

	got, err := f.s.TokenListAdmin(f.ctx)
	must(t, err, "TokenListAdmin empty")
	if len(got) != 0 {
		t.Fatalf("TokenListAdmin on an empty store = %d tokens, want 0", len(got))
	}
	for _, tok := range []*herald.Token{first, scoped, second} {
		must(t, f.s.TokenCreate(f.ctx, tok), "TokenCreate "+tok.Hash)
	}
	got, err = f.s.TokenListAdmin(f.ctx)
	must(t, err, "TokenListAdmin")
	if len(got) != 2 || got[0].ID != first.ID || got[1].ID != second.ID {
		t.Fatalf("TokenListAdmin = %+v, want [%s %s] (no app-scoped token)", got, first.ID, second.ID)
	}
	for i, want := range []*herald.Token{first, second} {
		checkToken(t, "listed "+want.ID, &got[i], want)
	}
	for _, want := range []*herald.Token{first, scoped, second} {
		tok, err := f.s.TokenGet(f.ctx, want.ID)
		must(t, err, "TokenGet "+want.ID)
		checkToken(t, "got "+want.ID, tok, want)
		tok, err = f.s.TokenGetByHash(f.ctx, want.Hash)
		must(t, err, "TokenGetByHash "+want.Hash)
		checkToken(t, "by hash "+want.ID, tok, want)
	}
	_, err = f.s.TokenGet(f.ctx, "tok_missing")
	wantCode(t, err, herald.ENotFound, "TokenGet unknown")

	must(t, f.s.TokenDelete(f.ctx, first.ID), "TokenDelete")
	_, err = f.s.TokenGet(f.ctx, first.ID)
	wantCode(t, err, herald.ENotFound, "TokenGet deleted")
	_, err = f.s.TokenGetByHash(f.ctx, first.Hash)
	wantCode(t, err, herald.ENotFound, "TokenGetByHash deleted")
	got, err = f.s.TokenListAdmin(f.ctx)
	must(t, err, "TokenListAdmin after delete")
	if len(got) != 1 || got[0].ID != second.ID {
		t.Fatalf("TokenListAdmin after delete = %+v, want [%s]", got, second.ID)
	}
}

func checkToken(t *testing.T, what string, got, want *herald.Token) {
	t.Helper()
	checkFields(t, what, field{"ID", got.ID, want.ID}, field{"Hash", got.Hash, want.Hash},
		field{"AppID", got.AppID, want.AppID}, field{"Name", got.Name, want.Name}, field{"Prefix", got.Prefix, want.Prefix},
		field{"ReadOnly", got.ReadOnly, want.ReadOnly},
		field{"ExpiresAt", got.ExpiresAt, want.ExpiresAt}, field{"CreatedAt", got.CreatedAt, want.CreatedAt})
}
