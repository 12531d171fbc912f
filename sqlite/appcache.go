package sqlite

import (
	"maps"
	"sync"

	"github.com/herald-webhooks/herald"
)

// appCacheMax bounds the application cache; it is emptied when full.
const appCacheMax = 4096

// appCache keeps applications by lookup key (id or uid), so that the API's
// per-request application lookup does not read the database. Every
// application write empties it. A value read before an emptying is never
// stored after it (the generation check), so the cache never serves an
// application older than the last write.
type appCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]herald.Application
}

func newAppCache() *appCache { return &appCache{m: map[string]herald.Application{}} }

// get returns a copy of the cached application for key, and the current
// generation to hand to put after a miss.
func (c *appCache) get(key string) (*herald.Application, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[key]
	if !ok {
		return nil, c.gen, false
	}
	return cloneApp(&a), c.gen, true
}

// put stores app under key unless the cache was emptied since gen.
func (c *appCache) put(gen uint64, key string, app *herald.Application) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if len(c.m) >= appCacheMax {
		clear(c.m)
	}
	c.m[key] = *cloneApp(app)
}

// invalidate empties the cache.
func (c *appCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

func cloneApp(a *herald.Application) *herald.Application {
	out := *a
	out.Metadata = maps.Clone(a.Metadata)
	if a.ThrottleRate != nil {
		r := *a.ThrottleRate
		out.ThrottleRate = &r
	}
	return &out
}
