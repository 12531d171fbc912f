package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sync"

	"github.com/herald-webhooks/herald"
)

// keyLocks serialises requests that share an idempotency key: the first
// holds the key while it runs; duplicates wait, then replay its answer.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

func newKeyLocks() *keyLocks { return &keyLocks{locks: map[string]*keyLock{}} }

// lock takes key's lock and returns the function that releases it.
func (k *keyLocks) lock(key string) func() {
	k.mu.Lock()
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// idempotent wraps a POST handler: with an idempotency-key header, a
// request repeating the key with the same credentials and URI gets the first
// successful (2xx) answer again, without running the handler. Answers are
// kept in the store, so replays survive restarts.
func (s *server) idempotent(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Idempotency-Key")
		p := principalFrom(r.Context())
		if header == "" || p == nil {
			h(w, r)
			return
		}
		sum := sha256.Sum256([]byte(p.credential + "\x00" + header + "\x00" + r.URL.RequestURI()))
		key := hex.EncodeToString(sum[:])
		defer s.keys.lock(key)()

		now := s.cfg.Now()
		if kept, err := s.store.IdempotencyGet(r.Context(), key, now); err == nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(kept.StatusCode)
			w.Write(kept.Body)
			return
		} else if !herald.IsNotFound(err) {
			writeError(w, err, s.log)
			return
		}
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		h(rec, r)
		if rec.status < 200 || rec.status > 299 {
			return
		}
		resp := &herald.IdempotentResponse{Key: key, StatusCode: rec.status, Body: rec.body.Bytes(), ExpiresAt: now.Add(s.cfg.IdempotencyTTL)}
		if err := s.store.IdempotencyPut(r.Context(), resp); err != nil {
			s.log.Warn("keep idempotent response", "err", err)
		}
	}
}

// recorder passes a response through and keeps a copy of it.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
