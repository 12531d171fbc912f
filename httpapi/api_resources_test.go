package httpapi_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-webhooks/herald"
	"github.com/herald-webhooks/herald/httpapi"
	"github.com/herald-webhooks/herald/signing"
)

func TestApplicationRoutes(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	app := h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "Acme", "uid": "acme", "metadata": map[string]string{"plan": "pro"}, "throttleRate": 10})
	if !strings.HasPrefix(field(app, "id"), "app_") || field(app, "uid") != "acme" || app["throttleRate"] != 10.0 ||
		!strings.HasSuffix(field(app, "createdAt"), "Z") || app["metadata"].(map[string]any)["plan"] != "pro" {
		t.Errorf("created app %v", app)
	}
	again := h.expect(200, "POST", "/api/v1/app?get_if_exists=true", map[string]any{"name": "Other", "uid": "acme"})
	if field(again, "id") != field(app, "id") {
		t.Errorf("get_if_exists returned %v", again)
	}
	svixError(t, h.do(adminToken, "POST", "/api/v1/app", map[string]any{"name": "Dup", "uid": "acme"}), 409, "conflict")

	if got := h.expect(200, "GET", "/api/v1/app/acme", nil); field(got, "id") != field(app, "id") {
		t.Errorf("get by uid %v", got)
	}
	patched := h.expect(200, "PATCH", "/api/v1/app/acme", map[string]any{"name": "Acme Inc"})
	if field(patched, "name") != "Acme Inc" || field(patched, "uid") != "acme" || patched["throttleRate"] != 10.0 {
		t.Errorf("patch changed more than the name: %v", patched)
	}
	put := h.expect(200, "PUT", "/api/v1/app/acme", map[string]any{"name": "Acme 2", "uid": "acme"})
	if field(put, "name") != "Acme 2" || put["throttleRate"] != nil {
		t.Errorf("put should replace every field: %v", put)
	}
	created := h.expect(201, "PUT", "/api/v1/app/fresh-app", map[string]any{"name": "Fresh"})
	if field(created, "uid") != "fresh-app" {
		t.Errorf("put-created app uid %v", created)
	}
	h.expect(204, "DELETE", "/api/v1/app/acme", nil)
	svixError(t, h.do(adminToken, "GET", "/api/v1/app/acme", nil), 404, "not_found")
}

func TestEndpointRoutes(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "A", "uid": "a"})
	ep := h.expect(201, "POST", "/api/v1/app/a/endpoint", map[string]any{
		"url": "https://example.com/hook", "uid": "main", "eventTypes": []string{"user.created"}, "channels": []string{"c1"}, "throttleRate": 5,
	})
	if !strings.HasPrefix(field(ep, "id"), "ep_") || field(ep, "description") != "" || ep["disabled"] != false || ep["metadata"] == nil {
		t.Errorf("endpoint %v", ep)
	}
	base := "/api/v1/app/a/endpoint/main"
	secret := field(h.expect(200, "GET", base+"/secret", nil), "key")
	if k, err := signing.ParseKey(secret); err != nil || !strings.HasPrefix(secret, "whsec_") || k.IsAsymmetric() {
		t.Errorf("generated secret %q: %v", secret, err)
	}
	h.expect(204, "POST", base+"/secret/rotate", map[string]any{})
	if next := field(h.expect(200, "GET", base+"/secret", nil), "key"); next == secret || !strings.HasPrefix(next, "whsec_") {
		t.Errorf("rotation kept %q", next)
	}
	given := "whsec_" + strings.Repeat("QUJD", 8)
	h.expect(204, "POST", base+"/secret/rotate", map[string]any{"key": given, "gracePeriodSeconds": 0})
	if got := field(h.expect(200, "GET", base+"/secret", nil), "key"); got != given {
		t.Errorf("rotate to a given key: %q", got)
	}

	h.expect(204, "PUT", base+"/headers", map[string]any{"headers": map[string]string{"X-Team": "blue", "Authorization": "Bearer s3cret"}})
	hd := h.expect(200, "GET", base+"/headers", nil)
	if hd["headers"].(map[string]any)["X-Team"] != "blue" || hd["headers"].(map[string]any)["Authorization"] != nil {
		t.Errorf("headers %v", hd)
	}
	if s := hd["sensitive"].([]any); len(s) != 1 || s[0] != "Authorization" {
		t.Errorf("sensitive %v", hd["sensitive"])
	}
	h.expect(204, "PATCH", base+"/headers", map[string]any{"headers": map[string]any{"X-Team": nil, "X-New": "1"}})
	hd = h.expect(200, "GET", base+"/headers", nil)["headers"].(map[string]any)
	if hd["X-Team"] != nil || hd["X-New"] != "1" {
		t.Errorf("patched headers %v", hd)
	}
	if locs := validationLocs(t, h.do(adminToken, "PUT", base+"/headers", map[string]any{"headers": map[string]string{"webhook-id": "x"}})); locs[0] != "body.headers" {
		t.Errorf("reserved header locs %v", locs)
	}

	patched := h.expect(200, "PATCH", base, map[string]any{"disabled": true})
	if patched["disabled"] != true || patched["throttleRate"] != 5.0 || len(patched["eventTypes"].([]any)) != 1 {
		t.Errorf("patch %v", patched)
	}
	if put := h.expect(200, "PUT", base, map[string]any{"url": "https://example.com/v2"}); put["eventTypes"] != nil || put["disabled"] != false {
		t.Errorf("put should replace every field: %v", put)
	}
	base = "/api/v1/app/a/endpoint/" + field(ep, "id") // the PUT cleared the uid
	if c := h.expect(201, "PUT", "/api/v1/app/a/endpoint/second", map[string]any{"url": "https://example.com/2"}); field(c, "uid") != "second" {
		t.Errorf("put-created endpoint %v", c)
	}
	if n := len(data(t, h.expect(200, "GET", "/api/v1/app/a/endpoint", nil))); n != 2 {
		t.Errorf("%d endpoints listed", n)
	}
	stats := h.expect(200, "GET", base+"/stats", nil)
	for _, k := range []string{"success", "pending", "fail", "sending", "canceled"} {
		if _, ok := stats[k]; !ok {
			t.Errorf("stats lack %s: %v", k, stats)
		}
	}
	h.expect(204, "DELETE", base, nil)
	svixError(t, h.do(adminToken, "GET", base, nil), 404, "not_found")
}

func TestEd25519EndpointShowsPublicKey(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "A", "uid": "a"})
	sk, pk := signing.NewKeyPair()
	ep := h.expect(201, "POST", "/api/v1/app/a/endpoint", map[string]any{"url": "https://example.com", "secret": sk})
	if got := field(h.expect(200, "GET", "/api/v1/app/a/endpoint/"+field(ep, "id")+"/secret", nil), "key"); got != pk {
		t.Errorf("secret of an ed25519 endpoint = %q, want its public key", got)
	}
}

func TestEventTypeRoutes(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	schemas := map[string]any{"1": map[string]any{"type": "object", "examples": []any{map[string]any{"invoice": "in_1"}}}}
	et := h.expect(201, "POST", "/api/v1/event-type", map[string]any{"name": "invoice.paid", "description": "Paid", "schemas": schemas})
	if field(et, "name") != "invoice.paid" || et["archived"] != false || et["schemas"] == nil {
		t.Errorf("event type %v", et)
	}
	svixError(t, h.do(adminToken, "POST", "/api/v1/event-type", map[string]any{"name": "invoice.paid", "description": "x"}), 409, "conflict")
	if p := h.expect(200, "PATCH", "/api/v1/event-type/invoice.paid", map[string]any{"deprecated": true}); p["deprecated"] != true || field(p, "description") != "Paid" {
		t.Errorf("patch %v", p)
	}
	h.expect(200, "PUT", "/api/v1/event-type/invoice.paid", map[string]any{"description": "Paid v2", "schemas": schemas})
	h.expect(201, "PUT", "/api/v1/event-type/user.created", map[string]any{"description": "New user"})
	if n := ids(t, h.expect(200, "GET", "/api/v1/event-type", nil), "name"); !slices.Equal(n, []string{"invoice.paid", "user.created"}) {
		t.Errorf("list %v", n)
	}

	// send-example uses the schema's example.
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "A", "uid": "a"})
	ep := field(h.expect(201, "POST", "/api/v1/app/a/endpoint", map[string]any{"url": "https://example.com"}), "id")
	ex := h.expect(200, "POST", "/api/v1/app/a/endpoint/"+ep+"/send-example", map[string]any{"eventType": "invoice.paid"})
	if ex["payload"].(map[string]any)["invoice"] != "in_1" {
		t.Errorf("send-example payload %v", ex["payload"])
	}

	h.expect(204, "DELETE", "/api/v1/event-type/user.created", nil)
	if n := ids(t, h.expect(200, "GET", "/api/v1/event-type", nil), "name"); !slices.Equal(n, []string{"invoice.paid"}) {
		t.Errorf("archived type listed: %v", n)
	}
	if n := ids(t, h.expect(200, "GET", "/api/v1/event-type?include_archived=true", nil), "name"); len(n) != 2 {
		t.Errorf("include_archived lists %v", n)
	}
	h.expect(204, "DELETE", "/api/v1/event-type/user.created?expunge=true", nil)
	svixError(t, h.do(adminToken, "GET", "/api/v1/event-type/user.created", nil), 404, "not_found")
}

func TestMessageRoutes(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	payload := `{"b": 1,   "a": [1, 2], "s": "x y"}`
	raw := `{"eventType":"user.created","eventId":"evt-1","channels":["c1"],"payload":` + payload + `,"application":{"name":"Auto"}}`
	msg := h.expect(202, "POST", "/api/v1/app/auto-app/msg", raw)
	if !strings.HasPrefix(field(msg, "id"), "msg_") || field(msg, "eventId") != "evt-1" {
		t.Errorf("message %v", msg)
	}
	if app := h.expect(200, "GET", "/api/v1/app/auto-app", nil); field(app, "name") != "Auto" {
		t.Errorf("application field did not create the app: %v", app)
	}
	// The payload is stored, shown and delivered byte for byte.
	got := h.do(adminToken, "GET", "/api/v1/app/auto-app/msg/evt-1?with_content=true", nil)
	if !strings.Contains(string(got.body), `"payload":`+payload) || got.obj(t)["eventType"] != "user.created" {
		t.Errorf("payload not shown byte for byte: %s", got.body)
	}
	created := h.do(adminToken, "POST", "/api/v1/app/auto-app/msg", `{"eventType":"x.y","payload":{ "z" : [ 1 ] }}`)
	if created.status != 202 || !strings.HasSuffix(string(created.body), `"payload":{ "z" : [ 1 ] }}`) {
		t.Errorf("create echoes %d %s", created.status, created.body)
	}
	stored, err := h.store.MessageGet(context.Background(), field(h.expect(200, "GET", "/api/v1/app/auto-app", nil), "id"), "evt-1")
	if err != nil || string(stored.Payload) != payload {
		t.Errorf("stored payload %q, want %q byte for byte (%v)", stored.Payload, payload, err)
	}
	if p := h.expect(200, "GET", "/api/v1/app/auto-app/msg/evt-1?with_content=false", nil)["payload"].(map[string]any); len(p) != 0 {
		t.Errorf("with_content=false payload %v", p)
	}
	svixError(t, h.do(adminToken, "POST", "/api/v1/app/auto-app/msg", raw), 409, "conflict")

	h.expect(202, "POST", "/api/v1/app/auto-app/msg", map[string]any{"eventType": "order.paid", "payload": map[string]any{}})
	h.expect(202, "POST", "/api/v1/app/auto-app/msg", map[string]any{"eventType": "order.shipped", "payload": map[string]any{}, "channels": []string{"c2"}})
	list := func(q string) int { return len(data(t, h.expect(200, "GET", "/api/v1/app/auto-app/msg"+q, nil))) }
	if n := list(""); n != 4 {
		t.Errorf("%d messages", n)
	}
	if n := list("?event_types=user.created,order.paid"); n != 2 {
		t.Errorf("event_types filter: %d", n)
	}
	if n := list("?channel=c2"); n != 1 {
		t.Errorf("channel filter: %d", n)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if n := list("?after=" + future); n != 0 {
		t.Errorf("after filter: %d", n)
	}
	if n := list("?before=" + future); n != 4 {
		t.Errorf("before filter: %d", n)
	}
	h.expect(204, "DELETE", "/api/v1/app/auto-app/msg/evt-1/content", nil)
	if p := h.expect(200, "GET", "/api/v1/app/auto-app/msg/evt-1", nil)["payload"].(map[string]any); len(p) != 0 {
		t.Errorf("expunged payload %v", p)
	}
	svixError(t, h.do(adminToken, "GET", "/api/v1/app/auto-app/msg/nope", nil), 404, "not_found")
}

// TestAttemptRoutes records attempts through the store's queue (no engine
// runs here) and reads them back through the API.
func TestAttemptRoutes(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	ctx := context.Background()
	h.expect(201, "POST", "/api/v1/app", map[string]any{"name": "A", "uid": "a"})
	ep := field(h.expect(201, "POST", "/api/v1/app/a/endpoint", map[string]any{"url": "https://example.com/h"}), "id")
	msg := field(h.expect(202, "POST", "/api/v1/app/a/msg", map[string]any{"eventType": "a.b", "payload": map[string]any{"k": 1}}), "id")

	if d := data(t, h.expect(200, "GET", "/api/v1/app/a/attempt/msg/"+msg, nil)); len(d) != 0 {
		t.Errorf("attempts before any: %v", d)
	}
	dest := data(t, h.expect(200, "GET", "/api/v1/app/a/msg/"+msg+"/endpoint", nil))
	if len(dest) != 1 || field(dest[0], "id") != ep || dest[0]["status"] != 1.0 || field(dest[0], "statusText") != "pending" {
		t.Errorf("destinations %v", dest)
	}
	now := time.Now()
	jobs, err := h.store.DeliveryClaim(ctx, herald.ClaimParams{Now: now.Add(time.Second), Limit: 10, LeaseUntil: now.Add(time.Minute)})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %d", err, len(jobs))
	}
	d := jobs[0].Delivery
	fail := herald.Attempt{ID: herald.NewID(herald.PrefixAttempt, now), DeliveryID: d.ID, AppID: d.AppID, MsgID: d.MsgID, EndpointID: d.EndpointID,
		URL: "https://example.com/h", Status: herald.StatusFail, ResponseStatusCode: 503, Response: "busy", ResponseDurationMs: 12, CreatedAt: now}
	if err := h.store.DeliveryComplete(ctx, []herald.DeliveryResult{{Attempt: fail, Status: herald.StatusFail, Attempts: 1}}); err != nil {
		t.Fatal(err)
	}
	atts := data(t, h.expect(200, "GET", "/api/v1/app/a/attempt/msg/"+msg, nil))
	if len(atts) != 1 || atts[0]["responseStatusCode"] != 503.0 || field(atts[0], "statusText") != "fail" || field(atts[0], "response") != "busy" ||
		field(atts[0], "endpointId") != ep || atts[0]["triggerType"] != 0.0 || atts[0]["responseDurationMs"] != 12.0 {
		t.Errorf("attempts %v", atts)
	}
	for q, want := range map[string]int{"?status=2": 1, "?status=0": 0, "?status_code_class=500": 1, "?status_code_class=200": 0, "?endpoint_id=" + ep: 1} {
		if n := len(data(t, h.expect(200, "GET", "/api/v1/app/a/attempt/msg/"+msg+q, nil))); n != want {
			t.Errorf("attempts%s: %d, want %d", q, n, want)
		}
	}
	if n := len(data(t, h.expect(200, "GET", "/api/v1/app/a/attempt/endpoint/"+ep+"?status=2", nil))); n != 1 {
		t.Errorf("attempts by endpoint: %d", n)
	}
	att := h.expect(200, "GET", "/api/v1/app/a/msg/"+msg+"/attempt/"+fail.ID, nil)
	if field(att, "id") != fail.ID {
		t.Errorf("attempt get %v", att)
	}
	em := data(t, h.expect(200, "GET", "/api/v1/app/a/endpoint/"+ep+"/msg", nil))
	if len(em) != 1 || field(em[0], "id") != msg || field(em[0], "statusText") != "fail" {
		t.Errorf("attempted messages %v", em)
	}
	h.expect(204, "DELETE", "/api/v1/app/a/msg/"+msg+"/attempt/"+fail.ID+"/content", nil)
	if r := field(h.expect(200, "GET", "/api/v1/app/a/msg/"+msg+"/attempt/"+fail.ID, nil), "response"); r != "" {
		t.Errorf("expunged response %q", r)
	}
	if r := h.expect(202, "POST", "/api/v1/app/a/msg/"+msg+"/endpoint/"+ep+"/resend", nil); len(r) != 0 {
		t.Errorf("resend body %v, want {}", r)
	}
	rec := h.expect(202, "POST", "/api/v1/app/a/endpoint/"+ep+"/recover", map[string]any{"since": now.Add(-time.Hour).UTC().Format(time.RFC3339)})
	if !strings.HasPrefix(field(rec, "id"), "qtask_") || field(rec, "status") != "running" || field(rec, "task") != "endpoint.recover" || field(rec, "updatedAt") == "" {
		t.Errorf("recover %v", rec)
	}
	svixError(t, h.do(adminToken, "GET", "/api/v1/app/a/msg/"+msg+"/attempt/atmpt_missing", nil), 404, "not_found")
}

func TestHealth(t *testing.T) {
	h := newAPI(t, httpapi.Config{})
	for _, p := range []string{"/api/v1/health", "/api/v1/health/ping"} {
		if r := h.do("", "GET", p, nil); r.status != 204 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
	h.store.Close()
	if r := h.do("", "GET", "/api/v1/health", nil); r.status != 503 {
		t.Errorf("health with a closed store: %d", r.status)
	}
}
