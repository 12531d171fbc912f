// Drives a running Herald with the official Svix JavaScript SDK, unchanged.
//
// Environment: HERALD_URL (server URL), HERALD_TOKEN (admin token),
// RECEIVER_URL (an endpoint that records what it receives) and
// RECEIVER_LOG_URL (GET returns the recorded requests as JSON:
// [{headers: {...}, body: "..."}]). Exits non-zero on the first failure.
import { Svix, Webhook, ApiException } from "svix";
import assert from "node:assert/strict";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const svix = new Svix(env("HERALD_TOKEN"), { serverUrl: env("HERALD_URL") });
const receiverURL = env("RECEIVER_URL");
const receiverLogURL = env("RECEIVER_LOG_URL");
const step = (name) => console.log(`svix-sdk: ${name}`);

async function waitFor(what, fn, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const uid = `sdk-app-${Date.now()}`;
const app = await svix.application.create({ name: "SDK app", uid, metadata: { plan: "pro" } });
assert.match(app.id, /^app_[0-9A-Za-z]{27}$/);
assert.equal(app.uid, uid);
assert.ok(app.createdAt instanceof Date);
step(`application.create ${app.id}`);

const again = await svix.application.create({ name: "SDK app" }, { idempotencyKey: `key-${uid}` });
const replay = await svix.application.create({ name: "SDK app" }, { idempotencyKey: `key-${uid}` });
assert.equal(replay.id, again.id, "idempotency key must replay the first response");
step("application.create idempotent replay");

const byUid = await svix.application.get(uid);
assert.equal(byUid.id, app.id);
step("application.get by uid");

await svix.eventType.create({ name: `invoice.paid.${Date.now()}`, description: "An invoice was paid" });
step("eventType.create");

const ep = await svix.endpoint.create(app.id, {
  url: receiverURL,
  eventTypes: ["invoice.paid"],
  description: "SDK endpoint",
});
assert.match(ep.id, /^ep_/);
const { key: secret } = await svix.endpoint.getSecret(app.id, ep.id);
assert.match(secret, /^whsec_/);
step(`endpoint.create ${ep.id}`);

const eventId = `evt-${Date.now()}`;
const msg = await svix.message.create(app.id, {
  eventType: "invoice.paid",
  eventId,
  payload: { type: "invoice.paid", data: { invoice: "in_1", amount: 4200 } },
});
assert.match(msg.id, /^msg_/);
step(`message.create ${msg.id}`);

try {
  await svix.message.create(app.id, { eventType: "invoice.paid", eventId, payload: {} });
  assert.fail("duplicate eventId must be rejected");
} catch (e) {
  assert.ok(e instanceof ApiException, String(e));
  assert.equal(e.code, 409);
}
step("message.create duplicate eventId -> 409");

const attempts = await waitFor("a successful attempt", async () => {
  const page = await svix.messageAttempt.listByMsg(app.id, msg.id);
  return page.data.some((a) => a.status === 0) ? page : null;
});
const ok = attempts.data.find((a) => a.status === 0);
assert.equal(ok.endpointId, ep.id);
assert.equal(ok.responseStatusCode, 200);
step(`messageAttempt.listByMsg ${ok.id}`);

const byEndpoint = await svix.messageAttempt.listByEndpoint(app.id, ep.id);
assert.ok(byEndpoint.data.some((a) => a.msgId === msg.id));
step("messageAttempt.listByEndpoint");

const got = await svix.message.get(app.id, eventId);
assert.equal(got.id, msg.id);
const list = await svix.message.list(app.id, { limit: 10 });
assert.ok(list.data.some((m) => m.id === msg.id));
step("message.get by eventId, message.list");

const received = await (await fetch(receiverLogURL)).json();
const delivery = received.find((r) => r.headers["webhook-id"] === msg.id);
assert.ok(delivery, "receiver got the message");
new Webhook(secret).verify(delivery.body, delivery.headers);
step("Webhook.verify accepts Herald's signature");

try {
  await svix.application.get("app_doesnotexist");
  assert.fail("unknown app must be 404");
} catch (e) {
  assert.ok(e instanceof ApiException, String(e));
  assert.equal(e.code, 404);
  assert.equal(e.body.code, "not_found");
}
step("application.get unknown -> 404");

await svix.endpoint.delete(app.id, ep.id);
await svix.application.delete(app.id);
step("cleanup");
console.log("svix-sdk: all passed");
