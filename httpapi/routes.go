package httpapi

import (
	"net/http"

	"github.com/herald-webhooks/herald"
)

// routes registers every API route. Access: adminOnly routes need the admin
// token; appScope routes also accept a token scoped to the {app_id}; POSTs
// honour idempotency keys.
func (s *server) routes(mux *http.ServeMux) {
	s.access = map[string]access{}
	// register adds a route without idempotency keys.
	register := func(pattern string, level access, h http.HandlerFunc) {
		s.access[pattern] = level
		mux.Handle(pattern, s.traced(pattern, s.guard(level, h)))
	}
	handle := func(pattern string, level access, h http.HandlerFunc) {
		if pattern[:4] == "POST" {
			h = s.idempotent(h)
		}
		register(pattern, level, h)
	}

	handle("GET /api/v1/health", public, s.health)
	handle("GET /api/v1/health/ping", public, s.ping)
	handle("GET /api/v1/health/ready", public, s.ready)
	// Answers holding a new secret are not kept for idempotency keys, so
	// that no secret is stored in clear.
	register("POST /api/v1/auth/app-portal-access/{app_id}", adminOnly, s.appPortalAccess)
	handle("POST /api/v1/auth/logout", anyToken, s.logout)
	handle("GET /api/v1/auth/token", adminOnly, s.listAdminTokens)
	register("POST /api/v1/auth/token", adminOnly, s.createAdminToken)
	handle("DELETE /api/v1/auth/token/{token_id}", adminOnly, s.revokeToken)

	handle("GET /api/v1/app", adminOnly, s.listApplications)
	handle("POST /api/v1/app", adminOnly, s.createApplication)
	handle("GET /api/v1/app/{app_id}", appScope, s.getApplication)
	handle("PUT /api/v1/app/{app_id}", adminOnly, s.putApplication)
	handle("PATCH /api/v1/app/{app_id}", adminOnly, s.patchApplication)
	handle("DELETE /api/v1/app/{app_id}", adminOnly, s.deleteApplication)

	handle("GET /api/v1/app/{app_id}/endpoint", appScope, s.listEndpoints)
	handle("POST /api/v1/app/{app_id}/endpoint", appScope, s.createEndpoint)
	handle("GET /api/v1/app/{app_id}/endpoint/{endpoint_id}", appScope, s.getEndpoint)
	handle("PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}", appScope, s.putEndpoint)
	handle("PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}", appScope, s.patchEndpoint)
	handle("DELETE /api/v1/app/{app_id}/endpoint/{endpoint_id}", appScope, s.deleteEndpoint)
	handle("GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", appScope, s.getEndpointHeaders)
	handle("PUT /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", appScope, s.setEndpointHeaders(false))
	handle("PATCH /api/v1/app/{app_id}/endpoint/{endpoint_id}/headers", appScope, s.setEndpointHeaders(true))
	handle("GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/secret", appScope, s.getEndpointSecret)
	handle("POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate", appScope, s.rotateEndpointSecret)
	handle("GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/stats", appScope, s.endpointStats)
	handle("POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example", appScope, s.sendExample)
	handle("POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/recover", appScope, s.startTask(herald.TaskEndpointRecover))
	handle("POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing", appScope, s.startTask(herald.TaskEndpointReplay))
	handle("POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/bulk-replay", appScope, s.startTask(herald.TaskEndpointBulkReplay))
	handle("GET /api/v1/app/{app_id}/endpoint/{endpoint_id}/msg", appScope, s.listAttemptedMessages)

	handle("GET /api/v1/app/{app_id}/msg", appScope, s.listMessages)
	handle("POST /api/v1/app/{app_id}/msg", appScope, s.createMessage)
	handle("GET /api/v1/app/{app_id}/msg/{msg_id}", appScope, s.getMessage)
	handle("DELETE /api/v1/app/{app_id}/msg/{msg_id}/content", appScope, s.expungeMessageContent)
	handle("GET /api/v1/app/{app_id}/msg/{msg_id}/endpoint", appScope, s.listAttemptedDestinations)
	handle("POST /api/v1/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend", appScope, s.resend)
	handle("GET /api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}", appScope, s.getAttempt)
	handle("DELETE /api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content", appScope, s.expungeAttemptContent)
	handle("GET /api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}", appScope, s.listAttemptsByEndpoint)
	handle("GET /api/v1/app/{app_id}/attempt/msg/{msg_id}", appScope, s.listAttemptsByMessage)

	handle("GET /api/v1/app/{app_id}/poller/{sink_id}", appScope, s.poll)
	handle("GET /api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}", appScope, s.consumerPoll)
	handle("POST /api/v1/app/{app_id}/poller/{sink_id}/consumer/{consumer_id}/seek", appScope, s.consumerSeek)

	const opEndpoint = "/api/v1/operational-webhook/endpoint"
	handle("GET "+opEndpoint, adminOnly, s.listOpEndpoints)
	handle("POST "+opEndpoint, adminOnly, s.createOpEndpoint)
	handle("GET "+opEndpoint+"/{endpoint_id}", adminOnly, s.inOperational(s.getOpEndpoint))
	handle("PUT "+opEndpoint+"/{endpoint_id}", adminOnly, s.inOperational(s.updateOpEndpoint))
	handle("DELETE "+opEndpoint+"/{endpoint_id}", adminOnly, s.inOperational(s.deleteEndpoint))
	handle("GET "+opEndpoint+"/{endpoint_id}/headers", adminOnly, s.inOperational(s.getEndpointHeaders))
	handle("PUT "+opEndpoint+"/{endpoint_id}/headers", adminOnly, s.inOperational(s.setEndpointHeaders(false)))
	handle("PATCH "+opEndpoint+"/{endpoint_id}/headers", adminOnly, s.inOperational(s.setEndpointHeaders(true)))
	handle("GET "+opEndpoint+"/{endpoint_id}/secret", adminOnly, s.inOperational(s.getEndpointSecret))
	handle("POST "+opEndpoint+"/{endpoint_id}/secret/rotate", adminOnly, s.inOperational(s.rotateEndpointSecret))
	handle("GET /api/v1/background-task", anyToken, s.listBackgroundTasks)
	handle("GET /api/v1/background-task/{task_id}", anyToken, s.getBackgroundTask)

	handle("GET /api/v1/event-type", adminOnly, s.listEventTypes)
	handle("POST /api/v1/event-type", adminOnly, s.createEventType)
	handle("GET /api/v1/event-type/{event_type_name}", adminOnly, s.getEventType)
	handle("PUT /api/v1/event-type/{event_type_name}", adminOnly, s.putEventType)
	handle("PATCH /api/v1/event-type/{event_type_name}", adminOnly, s.patchEventType)
	handle("DELETE /api/v1/event-type/{event_type_name}", adminOnly, s.deleteEventType)
}
