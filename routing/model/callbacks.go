package model

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// Callbacks. A callback is scheduled, then dialing under one node's lease
// while that node works on it, and ends completed, failed (its attempts
// used up) or escalated (an owner callback whose owner was not free before
// its deadline: a senior callback takes its place). Only the lease holder
// completes, fails or releases a callback; a lease that ran out may be
// taken by any node. A scheduled callback is due at DueAt unless it is
// parked: a kept position waiting in the router's queue, which only that
// queue entry's offer claims.

// callback is a callback as the store holds it.
type callback struct {
	routing.Callback
	// due: in the due index (scheduled, and not parked).
	due bool
	// dedupe is the key it was created under, freed when it finishes.
	dedupe string
}

func (s *Store) callback(id string) *callback { return s.callbacks[id] }

// holderError is why node may not act on a callback it does not hold.
func holderError(id string, cb *callback) error {
	switch {
	case cb == nil:
		return notFound("callback", id)
	case cb.State.Final():
		return fmt.Errorf("callback %s %s: %w", id, cb.State, routing.ErrCallbackFinished)
	}
	return fmt.Errorf("callback %s %s: %w", id, cb.State, routing.ErrLeaseLost)
}

func leasedTo(cb *callback, node string) bool {
	return cb != nil && cb.State == routing.CallbackDialing && cb.LeaseNode == node
}

func normalizeCallback(cb routing.Callback) routing.Callback {
	for _, t := range []*time.Time{&cb.DueAt, &cb.Deadline, &cb.LeaseUntil, &cb.CreatedAt, &cb.UpdatedAt, &cb.EnqueuedAt} {
		*t = msTime(*t)
	}
	return cb
}

// CreateCallback stores cb, due at cb.DueAt if inDue. Under a dedupe key
// that names an unfinished callback, that one is returned instead
// (created false). An id is never stored twice.
func (s *Store) CreateCallback(_ context.Context, cb routing.Callback, dedupeKey string, inDue bool) (routing.Callback, bool, error) {
	if cb.ID == "" {
		return routing.Callback{}, false, fmt.Errorf("create callback: %w", &routing.ValidationError{Field: "id", Reason: "required"})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if dedupeKey != "" {
		if old := s.callback(s.dedupe[dedupeKey]); old != nil && !old.State.Final() {
			return old.Callback, false, nil
		}
		s.dedupe[dedupeKey] = cb.ID
	}
	if s.callbacks[cb.ID] != nil {
		return routing.Callback{}, false, fmt.Errorf("create callback: %s exists", cb.ID)
	}
	stored := &callback{Callback: normalizeCallback(cb), due: inDue, dedupe: dedupeKey}
	s.callbacks[cb.ID] = stored
	return stored.Callback, true, nil
}

// GetCallback returns one callback.
func (s *Store) GetCallback(_ context.Context, id string) (routing.Callback, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb := s.callback(id)
	if cb == nil {
		return routing.Callback{}, notFound("callback", id)
	}
	return cb.Callback, nil
}

// ListCallbacks returns the callbacks matching f, oldest first (then by
// id).
func (s *Store) ListCallbacks(_ context.Context, f routing.CallbackFilter) ([]routing.Callback, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []routing.Callback{}
	for _, cb := range s.sortedCallbacks(func(cb *callback) time.Time { return cb.CreatedAt }) {
		if f.Match(cb.Callback) {
			out = append(out, cb.Callback)
		}
	}
	return out, nil
}

// sortedCallbacks are every callback by the time key gives, then by id.
func (s *Store) sortedCallbacks(key func(*callback) time.Time) []*callback {
	out := make([]*callback, 0, len(s.callbacks))
	for _, cb := range s.callbacks {
		out = append(out, cb)
	}
	slices.SortFunc(out, func(x, y *callback) int { return byTimeThenID(key(x), x.ID, key(y), y.ID) })
	return out
}

// claim leases a callback to node until untl.
func (s *Store) claim(cb *callback, node string, now, untl time.Time) routing.ClaimedCallback {
	cc := routing.ClaimedCallback{PrevState: cb.State, PrevNode: cb.LeaseNode}
	cb.LeaseNode, cb.LeaseUntil, cb.UpdatedAt = node, msTime(untl), msTime(now)
	cb.State, cb.due = routing.CallbackDialing, false
	cc.Callback = cb.Callback
	return cc
}

// ClaimDueCallbacks leases up to max callbacks to node: first those
// dialing under a lease that ran out at now (their node died), oldest
// lease first, then those scheduled and due at now, earliest first.
func (s *Store) ClaimDueCallbacks(_ context.Context, node string, now, leaseUntil time.Time, max int) ([]routing.ClaimedCallback, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = msTime(now)
	out := []routing.ClaimedCallback{}
	for _, cb := range s.sortedCallbacks(func(cb *callback) time.Time { return cb.LeaseUntil }) {
		if len(out) >= max {
			break
		}
		if cb.State == routing.CallbackDialing && !cb.LeaseUntil.After(now) {
			out = append(out, s.claim(cb, node, now, leaseUntil))
		}
	}
	// Due entries count against max even when they turn out stale (not
	// scheduled: dropped), as the Redis store's index read does.
	seen := len(out)
	for _, cb := range s.sortedCallbacks(func(cb *callback) time.Time { return cb.DueAt }) {
		if seen >= max {
			break
		}
		if !cb.due || cb.DueAt.After(now) {
			continue
		}
		seen++
		if cb.State != routing.CallbackScheduled {
			cb.due = false
			continue
		}
		cc := s.claim(cb, node, now, leaseUntil)
		cc.PrevNode = ""
		out = append(out, cc)
	}
	return out, nil
}

// ClaimCallback leases one callback to node: scheduled (parked or not),
// or dialing under node's own lease or one that ran out.
func (s *Store) ClaimCallback(_ context.Context, id, node string, now, leaseUntil time.Time) (routing.ClaimedCallback, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = msTime(now)
	cb := s.callback(id)
	switch {
	case cb == nil:
		return routing.ClaimedCallback{}, fmt.Errorf("claim callback: %w", notFound("callback", id))
	case cb.State.Final():
		return routing.ClaimedCallback{}, fmt.Errorf("claim callback %s %s: %w", id, cb.State, routing.ErrCallbackFinished)
	case cb.State == routing.CallbackDialing && cb.LeaseNode != node && cb.LeaseUntil.After(now):
		return routing.ClaimedCallback{}, fmt.Errorf("claim callback %s held by %s: %w", id, cb.LeaseNode, routing.ErrCallbackBusy)
	}
	return s.claim(cb, node, now, leaseUntil), nil
}

// RenewCallbackLeases extends node's leases, even ones that ran out and
// nobody took; it returns the ids node no longer holds.
func (s *Store) RenewCallbackLeases(_ context.Context, node string, leaseUntil time.Time, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lost := []string{}
	for _, id := range ids {
		if cb := s.callback(id); leasedTo(cb, node) {
			cb.LeaseUntil = msTime(leaseUntil)
		} else {
			lost = append(lost, id)
		}
	}
	return lost, nil
}

// ReleaseCallback gives node's lease back without counting an attempt:
// scheduled again, due at due, or, with due zero, parked.
func (s *Store) ReleaseCallback(_ context.Context, id, node string, now, due time.Time) (routing.Callback, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb := s.callback(id)
	if !leasedTo(cb, node) {
		return routing.Callback{}, fmt.Errorf("release callback: %w", holderError(id, cb))
	}
	cb.LeaseNode, cb.LeaseUntil, cb.UpdatedAt, cb.State = "", time.Time{}, msTime(now), routing.CallbackScheduled
	if !due.IsZero() {
		cb.DueAt, cb.due = msTime(due), true
	}
	return cb.Callback, nil
}

// ParkCallback takes a scheduled callback out of the due index if it is
// still due at exactly due (nothing happened to it since).
func (s *Store) ParkCallback(_ context.Context, id string, due time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cb := s.callback(id); cb != nil && cb.due && cb.DueAt.Equal(msTime(due)) && cb.State == routing.CallbackScheduled {
		cb.due = false
	}
	return nil
}

// finish ends a callback: out of the due index, its dedupe key free for a
// new one. (Redis lets its hash expire after the retention.)
func (s *Store) finish(cb *callback, state routing.CallbackState) {
	cb.State, cb.due = state, false
	if cb.dedupe != "" && s.dedupe[cb.dedupe] == cb.ID {
		delete(s.dedupe, cb.dedupe)
	}
}

// CompleteCallback completes a callback node holds; again by the same node
// it is a no-op (changed false), by any other routing.ErrLeaseLost.
func (s *Store) CompleteCallback(_ context.Context, id, node string, now time.Time) (routing.Callback, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb := s.callback(id)
	if cb != nil && cb.State == routing.CallbackCompleted {
		if cb.LeaseNode == node {
			return cb.Callback, false, nil
		}
		return routing.Callback{}, false, fmt.Errorf("complete callback %s: %w", id, routing.ErrLeaseLost)
	}
	if !leasedTo(cb, node) {
		return routing.Callback{}, false, fmt.Errorf("complete callback: %w", holderError(id, cb))
	}
	cb.UpdatedAt = msTime(now)
	s.finish(cb, routing.CallbackCompleted)
	return cb.Callback, true, nil
}

// FailCallbackAttempt counts a failed attempt of a callback node holds:
// scheduled again at retryAt, or failed once its attempts are used up.
func (s *Store) FailCallbackAttempt(_ context.Context, id, node string, now, retryAt time.Time, reason string) (routing.Callback, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cb := s.callback(id)
	if !leasedTo(cb, node) {
		return routing.Callback{}, fmt.Errorf("fail callback attempt: %w", holderError(id, cb))
	}
	cb.Attempts++
	cb.LastError, cb.UpdatedAt = reason, msTime(now)
	if cb.Attempts >= cb.MaxAttempts {
		s.finish(cb, routing.CallbackFailed)
		return cb.Callback, nil
	}
	cb.LeaseNode, cb.LeaseUntil, cb.DueAt, cb.State, cb.due = "", time.Time{}, msTime(retryAt), routing.CallbackScheduled, true
	return cb.Callback, nil
}

// EscalateOverdueCallbacks escalates up to max scheduled owner callbacks
// whose deadline passed at now, earliest deadline first: each ends
// escalated, pointing to a new senior callback (its id and "-senior", due
// now, with maxAttempts) that points back. One being dialled is left: its
// owner is on it.
func (s *Store) EscalateOverdueCallbacks(_ context.Context, now time.Time, maxAttempts, max int) ([]routing.Escalation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now = msTime(now)
	out := []routing.Escalation{}
	for _, cb := range s.sortedCallbacks(func(cb *callback) time.Time { return cb.Deadline }) {
		if len(out) >= max {
			break
		}
		if cb.Kind != routing.CallbackOwner || cb.Deadline.IsZero() || cb.Deadline.After(now) || cb.State != routing.CallbackScheduled {
			continue
		}
		senior := &callback{Callback: routing.Callback{
			ID: cb.ID + "-senior", CaseID: cb.CaseID, Number: cb.Number, Topic: cb.Topic, Lang: cb.Lang, Note: cb.Note,
			Kind: routing.CallbackSenior, State: routing.CallbackScheduled, DueAt: now, MaxAttempts: maxAttempts,
			CreatedAt: now, UpdatedAt: now, EscalatedFrom: cb.ID,
		}, due: true}
		senior.CallID = senior.ID
		s.callbacks[senior.ID] = senior
		cb.EscalatedTo, cb.UpdatedAt = senior.ID, now
		s.finish(cb, routing.CallbackEscalated)
		out = append(out, routing.Escalation{From: cb.Callback, To: senior.Callback})
	}
	return out, nil
}
