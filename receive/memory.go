package receive

import (
	"container/list"
	"context"
	"slices"
	"sync"
	"time"
)

// Defaults of MemoryConfig and SQLConfig.
const (
	DefaultMaxEntries = 100_000
	// DefaultRetention is how long a processed event's id is kept. It must
	// outlast the sender's retries: Herald's and Svix's default schedules
	// end within about a day and a half.
	DefaultRetention = 7 * 24 * time.Hour
)

// Record states, shared by both stores.
const (
	stateRunning = "running" // claimed, lease until leaseUntil
	stateQueued  = "queued"  // asynchronous: waiting for a worker
	stateDone    = "done"    // processed
	stateFailed  = "failed"  // asynchronous: out of attempts
)

// MemoryConfig configures a MemoryStore; its zero value means the defaults.
type MemoryConfig struct {
	// MaxEntries bounds the records kept. When full, the oldest finished
	// (completed or failed) record is evicted; when none is finished,
	// Claim and Enqueue return ErrStoreFull. Default 100000.
	MaxEntries int
	// Retention is how long a finished record is kept. Default 7 days.
	Retention time.Duration
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// MemoryStore is a Queue in the process's memory: bounded, with expiry.
// Everything in it is lost when the process stops, including queued events
// not yet processed (they were acknowledged to the sender, so they are lost
// for good): use a SQLStore where that matters, or with several receiver
// instances. Safe for concurrent use.
type MemoryStore struct {
	cfg      MemoryConfig
	mu       sync.Mutex
	records  map[string]*memRecord
	finished *list.List            // *memRecord, oldest finished first
	pending  map[string]*memRecord // asynchronous records not finished
}

type memRecord struct {
	id         string
	state      string
	token      string
	leaseUntil time.Time
	async      bool
	ev         Event
	runAt      time.Time
	attempts   int
	lastErr    string
	finishedAt time.Time
	elem       *list.Element // in finished
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(cfg MemoryConfig) *MemoryStore {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MemoryStore{cfg: cfg, records: map[string]*memRecord{}, finished: list.New(), pending: map[string]*memRecord{}}
}

// Len returns the number of records held.
func (s *MemoryStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// Claim implements Store.
func (s *MemoryStore) Claim(_ context.Context, id, token string, leaseUntil time.Time) (ClaimResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	rec := s.lookup(id, now)
	switch {
	case rec == nil:
		if err := s.makeRoom(now); err != nil {
			return 0, err
		}
		s.records[id] = &memRecord{id: id, state: stateRunning, token: token, leaseUntil: leaseUntil}
		return Claimed, nil
	case rec.state == stateDone || rec.state == stateFailed:
		return Completed, nil
	case rec.state == stateRunning && !rec.async && !rec.leaseUntil.After(now):
		rec.token, rec.leaseUntil = token, leaseUntil
		return Claimed, nil
	}
	return InProgress, nil
}

// Complete implements Store.
func (s *MemoryStore) Complete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	rec := s.lookup(id, now)
	if rec == nil {
		if s.makeRoom(now) != nil {
			return nil // nothing to evict: the id is forgotten, as if expired
		}
		rec = &memRecord{id: id}
		s.records[id] = rec
	}
	s.finish(rec, stateDone, "", now)
	return nil
}

// Release implements Store.
func (s *MemoryStore) Release(_ context.Context, id, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.records[id]; rec != nil && rec.state == stateRunning && !rec.async && rec.token == token {
		delete(s.records, id)
	}
	return nil
}

// Enqueue implements Queue.
func (s *MemoryStore) Enqueue(_ context.Context, ev Event) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	if s.lookup(ev.ID, now) != nil {
		return false, nil
	}
	if err := s.makeRoom(now); err != nil {
		return false, err
	}
	ev.Body, ev.Header = slices.Clone(ev.Body), ev.Header.Clone()
	rec := &memRecord{id: ev.ID, state: stateQueued, async: true, ev: ev, runAt: now}
	s.records[ev.ID], s.pending[ev.ID] = rec, rec
	return true, nil
}

// ClaimDue implements Queue; the oldest due events come first.
func (s *MemoryStore) ClaimDue(_ context.Context, token string, leaseUntil time.Time, limit int) ([]Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	var due []*memRecord
	for _, rec := range s.pending {
		if (rec.state == stateQueued && !rec.runAt.After(now)) || (rec.state == stateRunning && !rec.leaseUntil.After(now)) {
			due = append(due, rec)
		}
	}
	slices.SortFunc(due, func(a, b *memRecord) int { return a.runAt.Compare(b.runAt) })
	jobs := make([]Job, 0, min(limit, len(due)))
	for _, rec := range due[:min(limit, len(due))] {
		rec.state, rec.token, rec.leaseUntil = stateRunning, token, leaseUntil
		rec.attempts++
		ev := rec.ev
		ev.Body, ev.Header, ev.Attempt = slices.Clone(ev.Body), ev.Header.Clone(), rec.attempts
		jobs = append(jobs, Job{Event: ev, Token: token})
	}
	return jobs, nil
}

// Retry implements Queue.
func (s *MemoryStore) Retry(_ context.Context, id, token string, runAt time.Time, lastErr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.held(id, token); rec != nil {
		rec.state, rec.runAt, rec.lastErr, rec.leaseUntil = stateQueued, runAt, lastErr, time.Time{}
	}
	return nil
}

// Fail implements Queue.
func (s *MemoryStore) Fail(_ context.Context, id, token string, lastErr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.held(id, token); rec != nil {
		s.finish(rec, stateFailed, lastErr, s.cfg.Now())
	}
	return nil
}

// held returns the asynchronous record id if token holds its lease.
func (s *MemoryStore) held(id, token string) *memRecord {
	if rec := s.records[id]; rec != nil && rec.async && rec.state == stateRunning && rec.token == token {
		return rec
	}
	return nil
}

// lookup returns the record of id, dropping it if it has expired.
func (s *MemoryStore) lookup(id string, now time.Time) *memRecord {
	rec := s.records[id]
	if rec != nil && rec.elem != nil && s.expired(rec, now) {
		s.remove(rec)
		return nil
	}
	return rec
}

func (s *MemoryStore) expired(rec *memRecord, now time.Time) bool {
	return !rec.finishedAt.Add(s.cfg.Retention).After(now)
}

// finish marks rec done or failed and appends it to the finished list.
func (s *MemoryStore) finish(rec *memRecord, state, lastErr string, now time.Time) {
	if rec.elem != nil {
		return // finished already
	}
	rec.state, rec.lastErr, rec.finishedAt, rec.token = state, lastErr, now, ""
	rec.ev = Event{ID: rec.id}
	rec.elem = s.finished.PushBack(rec)
	delete(s.pending, rec.id)
}

// makeRoom drops expired records, then, if the store is still full, evicts
// the oldest finished one; ErrStoreFull if there is none.
func (s *MemoryStore) makeRoom(now time.Time) error {
	for e := s.finished.Front(); e != nil && s.expired(e.Value.(*memRecord), now); e = s.finished.Front() {
		s.remove(e.Value.(*memRecord))
	}
	if len(s.records) < s.cfg.MaxEntries {
		return nil
	}
	e := s.finished.Front()
	if e == nil {
		return ErrStoreFull
	}
	s.remove(e.Value.(*memRecord))
	return nil
}

func (s *MemoryStore) remove(rec *memRecord) {
	if rec.elem != nil {
		s.finished.Remove(rec.elem)
		rec.elem = nil
	}
	delete(s.records, rec.id)
	delete(s.pending, rec.id)
}
