package sqlite

import "github.com/herald-webhooks/herald"

// fanOutCacheMax bounds the number of applications whose endpoints the
// fan-out cache holds; it is emptied when full.
const fanOutCacheMax = 4096

// fanOutCache keeps, per application, what fan-out needs of its endpoints
// (ID, filters, disabled), so that creating a message does not read the
// endpoints table. It lives in the writer and is only used by write
// operations, which run one at a time on the writer's goroutine, so it
// needs no lock. It is only ever filled from the writer's own transaction:
// every endpoint or application write forgets the application, and every
// rollback empties it, so it never holds a state that was not committed
// or is about to be.
type fanOutCache struct {
	m map[string][]herald.Endpoint
}

func newFanOutCache() *fanOutCache { return &fanOutCache{m: map[string][]herald.Endpoint{}} }

// get returns the application's endpoints, ordered by ID.
func (c *fanOutCache) get(appID string) ([]herald.Endpoint, bool) {
	eps, ok := c.m[appID]
	return eps, ok
}

// put keeps the application's endpoints.
func (c *fanOutCache) put(appID string, eps []herald.Endpoint) {
	if len(c.m) >= fanOutCacheMax {
		clear(c.m)
	}
	c.m[appID] = eps
}

// forget drops one application.
func (c *fanOutCache) forget(appID string) { delete(c.m, appID) }

// reset empties the cache.
func (c *fanOutCache) reset() { clear(c.m) }
