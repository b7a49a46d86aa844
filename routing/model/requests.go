package model

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// CreateRequest stores r (replacing a request of the same id).
func (s *Store) CreateRequest(_ context.Context, r routing.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.CreatedAt, r.DoneAt = msTime(r.CreatedAt), msTime(r.DoneAt)
	s.requests[r.ID] = r
	return nil
}

// GetRequest returns one request.
func (s *Store) GetRequest(_ context.Context, id string) (routing.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok {
		return routing.Request{}, notFound("request", id)
	}
	return r, nil
}

// ListRequests returns the requests matching f, newest first (then by id,
// backwards); nil if there are none.
func (s *Store) ListRequests(_ context.Context, f routing.RequestFilter) ([]routing.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []routing.Request
	for _, r := range s.requests {
		if f.Match(r) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(x, y routing.Request) int {
		if c := y.CreatedAt.Compare(x.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(y.ID, x.ID)
	})
	return out, nil
}

// MarkRequestDone marks a request done, once: marked again it keeps the
// first senior and time.
func (s *Store) MarkRequestDone(_ context.Context, id, by string, at time.Time) (routing.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.requests[id]
	if !ok {
		return routing.Request{}, notFound("request", id)
	}
	if r.State != routing.RequestDone {
		r.State, r.DoneBy, r.DoneAt = routing.RequestDone, by, msTime(at)
		s.requests[id] = r
	}
	return r, nil
}
