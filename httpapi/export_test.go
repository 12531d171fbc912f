package httpapi

import "net/http"

// RouteAccess returns every route's pattern and who may use it: "admin",
// "app" (admin or a token of the route's {app_id}), "any" (any valid
// token) or "public".
func RouteAccess() map[string]string {
	s := &server{cfg: Config{}.withDefaults(), keys: newKeyLocks()}
	s.routes(http.NewServeMux())
	names := map[access]string{adminOnly: "admin", appScope: "app", anyToken: "any", public: "public"}
	out := make(map[string]string, len(s.access))
	for p, level := range s.access {
		out[p] = names[level]
	}
	return out
}
