package model

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// kase is a case as the store holds it: its fields, its path and its
// agents (every agent the caller talked to, in order).
type kase struct {
	routing.Case
}

func (k *kase) snapshot() routing.Case {
	c := k.Case
	c.Path = slices.Clone(k.Path)
	c.Agents = slices.Clone(k.Agents)
	return c
}

// path is a call's transfer path: the hops committed (the entry hop
// first), every destination the caller has been at and every agent who
// had the caller ("topic:X", "agent:ID"), and at most one pending
// transfer.
type path struct {
	hops    []routing.Hop
	seen    map[string]bool
	pending *routing.PendingTransfer
}

func (s *Store) path(callID string) *path {
	p := s.paths[callID]
	if p == nil {
		p = &path{seen: map[string]bool{}}
		s.paths[callID] = p
	}
	return p
}

// wireDest is a destination as the store gives it back: parsed again
// from its "kind:name" (what does not parse is its whole text as a name).
func wireDest(d routing.Destination) routing.Destination {
	if p, err := routing.ParseDestination(d.String()); err == nil {
		return p
	}
	return routing.Destination{Name: d.String()}
}

func wireHop(h routing.Hop) routing.Hop {
	return routing.Hop{To: wireDest(h.To), By: h.By, At: msTime(h.At)}
}

// realNumber reports whether a caller number is a phone number (digits,
// an optional leading +). Withheld callers ("anonymous", "unknown",
// nothing) are never indexed: every such caller would find the same
// stranger's open case.
func realNumber(number string) bool {
	digits := strings.TrimPrefix(number, "+")
	if digits == "" {
		return false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// CreateCase stores a case. An open case of a real number becomes the
// case that number finds. (Stored again, its fields are replaced and its
// path and agents appended to, as the Redis store's plain writes do.)
func (s *Store) CreateCase(_ context.Context, c routing.Case) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createCase(c)
	return nil
}

func (s *Store) createCase(c routing.Case) {
	k := s.cases[c.ID]
	if k == nil {
		k = &kase{}
		s.cases[c.ID] = k
	}
	path, agents := k.Path, k.Agents
	k.Case = c
	k.CreatedAt, k.UpdatedAt = msTime(c.CreatedAt), msTime(c.UpdatedAt)
	k.Path = path
	for _, h := range c.Path {
		k.Path = append(k.Path, wireHop(h))
	}
	k.Agents = append(agents, c.Agents...)
	if c.Status == routing.CaseOpen && realNumber(c.CallerNumber) {
		s.byNumber[c.CallerNumber] = c.ID
	}
}

// Case returns one case with its path and agents.
func (s *Store) Case(_ context.Context, id string) (routing.Case, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.cases[id]
	if k == nil {
		return routing.Case{}, notFound("case", id)
	}
	return k.snapshot(), nil
}

// OpenCaseByNumber finds the case a caller number last opened; ok only if
// it is still open. A number that is not a phone number has none.
func (s *Store) OpenCaseByNumber(_ context.Context, number string) (routing.Case, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !realNumber(number) {
		return routing.Case{}, false, nil
	}
	k := s.cases[s.byNumber[number]]
	if k == nil {
		return routing.Case{}, false, nil
	}
	return k.snapshot(), k.Status == routing.CaseOpen, nil
}

// Cases lists the cases matching f, oldest first (then by id).
func (s *Store) Cases(_ context.Context, f routing.CaseFilter) ([]routing.Case, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []routing.Case{}
	for _, k := range s.cases {
		if (f.Status == "" || k.Status == f.Status) && (f.Owner == "" || k.Owner == f.Owner) {
			out = append(out, k.snapshot())
		}
	}
	slices.SortFunc(out, func(x, y routing.Case) int { return byTimeThenID(x.CreatedAt, x.ID, y.CreatedAt, y.ID) })
	return out, nil
}

func (s *Store) kase(id string) (*kase, error) {
	k := s.cases[id]
	if k == nil {
		return nil, notFound("case", id)
	}
	return k, nil
}

// SetNote replaces a case's note.
func (s *Store) SetNote(_ context.Context, caseID, note string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.kase(caseID)
	if err != nil {
		return fmt.Errorf("set note: %w", err)
	}
	k.Note, k.UpdatedAt = note, msTime(now)
	return nil
}

// Rate records the first rating only, attached to the last agent the
// caller talked to; counted is false once the case has a rating.
func (s *Store) Rate(_ context.Context, caseID string, score int, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.kase(caseID)
	if err != nil {
		return false, fmt.Errorf("rate: %w", err)
	}
	if k.Rating != 0 {
		return false, nil
	}
	k.Rating, k.RatedBy, k.UpdatedAt = score, "", msTime(now)
	if n := len(k.Agents); n > 0 {
		k.RatedBy = k.Agents[n-1]
	}
	return true, nil
}

// CloseCase closes a case, so its caller number no longer finds it (if it
// is still the case the number finds), and reports how many agents the
// caller talked to.
func (s *Store) CloseCase(_ context.Context, caseID string, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.kase(caseID)
	if err != nil {
		return 0, fmt.Errorf("close case: %w", err)
	}
	k.Status, k.UpdatedAt = routing.CaseClosed, msTime(now)
	if k.CallerNumber != "" && s.byNumber[k.CallerNumber] == caseID {
		delete(s.byNumber, k.CallerNumber)
	}
	return len(k.Agents), nil
}

// Talked records that agent talked to the call's caller: on the call's
// path (never a transfer target of it again), among the case's agents
// (unless they were the last), and as the case's owner if it has none.
// A case that does not exist is left alone.
func (s *Store) Talked(_ context.Context, callID, caseID, agentID string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.path(callID).seen["agent:"+agentID] = true
	k := s.cases[caseID]
	if caseID == "" || k == nil {
		return nil
	}
	if k.Owner == "" {
		k.Owner = agentID
	}
	if n := len(k.Agents); n == 0 || k.Agents[n-1] != agentID {
		k.Agents = append(k.Agents, agentID)
	}
	k.UpdatedAt = msTime(now)
	return nil
}

// StartPath records a call's entry hop unless it has a path already.
func (s *Store) StartPath(_ context.Context, callID string, entry routing.Hop) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startPath(callID, entry)
	return nil
}

func (s *Store) startPath(callID string, entry routing.Hop) {
	p := s.path(callID)
	if len(p.hops) == 0 {
		p.hops = append(p.hops, wireHop(entry))
		p.seen[entry.To.String()] = true
	}
}

// CheckTransfer is the transfer path check, in this order:
//
//   - a loop: the destination is somewhere the caller has been, or an
//     agent who had the caller (routing.RefuseLoop);
//   - the hop limit: the call has been transferred maxHops times already
//     (routing.RefuseMaxHops; no limit when maxHops is 0);
//   - another transfer of the call is pending (routing.RefuseTransferPending).
//
// If none refuses, p is recorded as the call's pending transfer. Either
// way the answer carries the call's path and every agent who had the
// caller (sorted; the Redis store gives them in no order). A call with no
// path is routing.ErrNotFound.
func (s *Store) CheckTransfer(_ context.Context, callID string, p routing.PendingTransfer, maxHops int) (routing.PathCheck, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := s.paths[callID]
	if cp == nil || len(cp.hops) == 0 {
		return routing.PathCheck{}, fmt.Errorf("check transfer: %w", notFound("call", callID))
	}
	var pc routing.PathCheck
	switch transfers := len(cp.hops) - 1; {
	case cp.seen[p.To.String()]:
		pc.Refused = routing.RefuseLoop
	case maxHops > 0 && transfers+1 > maxHops:
		pc.Refused = routing.RefuseMaxHops
	case cp.pending != nil:
		pc.Refused = routing.RefuseTransferPending
	default:
		cp.pending = &routing.PendingTransfer{ID: p.ID, By: p.By, To: p.To, Note: p.Note, At: msTime(p.At)}
	}
	pc.Path = slices.Clone(cp.hops)
	for m := range cp.seen {
		if id, ok := strings.CutPrefix(m, "agent:"); ok {
			pc.Agents = append(pc.Agents, id)
		}
	}
	slices.Sort(pc.Agents)
	return pc, nil
}

// CommitTransfer turns the pending transfer transferID into a hop on the
// call's path, then on the case's (if caseID is set; a missing case is
// routing.ErrNotFound after the call's path took the hop).
func (s *Store) CommitTransfer(_ context.Context, callID, caseID, transferID string, now time.Time) (routing.Hop, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := s.paths[callID]
	if cp == nil || cp.pending == nil || cp.pending.ID != transferID {
		return routing.Hop{}, fmt.Errorf("commit transfer %s: %w", transferID, routing.ErrNotFound)
	}
	hop := wireHop(routing.Hop{To: cp.pending.To, By: cp.pending.By, At: now})
	cp.hops = append(cp.hops, hop)
	cp.seen[cp.pending.To.String()] = true
	cp.pending = nil
	if caseID == "" {
		return hop, nil
	}
	k, err := s.kase(caseID)
	if err != nil {
		return hop, fmt.Errorf("commit transfer: %w", err)
	}
	k.Path = append(k.Path, hop)
	k.UpdatedAt = msTime(now)
	return hop, nil
}

// DropTransfer forgets the pending transfer if it is transferID.
func (s *Store) DropTransfer(_ context.Context, callID, transferID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := s.paths[callID]
	if cp == nil || cp.pending == nil || cp.pending.ID != transferID {
		return fmt.Errorf("drop transfer %s: %w", transferID, routing.ErrNotFound)
	}
	cp.pending = nil
	return nil
}

// Pending returns the call's pending transfer, if any.
func (s *Store) Pending(_ context.Context, callID string) (routing.PendingTransfer, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := s.paths[callID]
	if cp == nil || cp.pending == nil {
		return routing.PendingTransfer{}, false, nil
	}
	p := *cp.pending
	// Read back from its "kind:name"; what does not parse reads as none.
	if d, err := routing.ParseDestination(p.To.String()); err == nil {
		p.To = d
	} else {
		p.To = routing.Destination{}
	}
	return p, true, nil
}

// CallPath returns the call's committed path; routing.ErrNotFound if it
// has none.
func (s *Store) CallPath(_ context.Context, callID string) ([]routing.Hop, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := s.paths[callID]
	if cp == nil || len(cp.hops) == 0 {
		return nil, fmt.Errorf("call path: %w", notFound("call", callID))
	}
	return slices.Clone(cp.hops), nil
}

// EndCallPath lets the call's path expire: in Redis after a day by the
// wall clock; the model keeps it.
func (s *Store) EndCallPath(context.Context, string) error { return nil }
