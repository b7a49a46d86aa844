package api

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// fakeRouter is a hand-written Agents, Calls and Cases over maps. err, if
// set for an operation name, is returned instead of acting.
type fakeRouter struct {
	mu     sync.Mutex
	agents map[string]routing.AgentStatus
	calls  map[string]Call
	cases  map[string]routing.Case
	errs   map[string]error
	log    []string // "op id arg" for every mutation
	filter CaseFilter
}

func (f *fakeRouter) record(op string, args ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[op]; err != nil {
		return err
	}
	f.log = append(f.log, op+" "+joinArgs(args))
	return nil
}

func joinArgs(a []string) string {
	out := ""
	for i, s := range a {
		if i > 0 {
			out += " "
		}
		out += s
	}
	return out
}

func (f *fakeRouter) setState(id string, st routing.AgentState, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.agents[id]
	a.State, a.Reason = st, reason
	f.agents[id] = a
}

func (f *fakeRouter) exists(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.agents[id]; !ok {
		return routing.ErrNotFound
	}
	return nil
}

func (f *fakeRouter) Login(ctx context.Context, id string) error {
	if err := f.exists(id); err != nil {
		return err
	}
	if err := f.record("login", id); err != nil {
		return err
	}
	f.setState(id, routing.StateAvailable, "")
	return nil
}

func (f *fakeRouter) Resume(ctx context.Context, id string) error {
	if err := f.exists(id); err != nil {
		return err
	}
	if err := f.record("resume", id); err != nil {
		return err
	}
	f.setState(id, routing.StateAvailable, "")
	return nil
}

func (f *fakeRouter) Logout(ctx context.Context, id string) error {
	if err := f.exists(id); err != nil {
		return err
	}
	if err := f.record("logout", id); err != nil {
		return err
	}
	f.setState(id, routing.StateOffline, "")
	return nil
}

func (f *fakeRouter) Pause(ctx context.Context, id, reason string) error {
	if err := f.exists(id); err != nil {
		return err
	}
	if err := f.record("pause", id, reason); err != nil {
		return err
	}
	f.setState(id, routing.StatePaused, reason)
	return nil
}

func (f *fakeRouter) Agent(ctx context.Context, id string) (routing.AgentStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs["agent"]; err != nil {
		return routing.AgentStatus{}, err
	}
	a, ok := f.agents[id]
	if !ok {
		return routing.AgentStatus{}, routing.ErrNotFound
	}
	return a, nil
}

func (f *fakeRouter) Agents(ctx context.Context) ([]routing.AgentStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	keys := slices.Sorted(maps.Keys(f.agents))
	out := make([]routing.AgentStatus, 0, len(keys))
	for _, k := range keys {
		out = append(out, f.agents[k])
	}
	return out, nil
}

func (f *fakeRouter) ActiveCalls(ctx context.Context) ([]Call, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs["calls"]; err != nil {
		return nil, err
	}
	keys := slices.Sorted(maps.Keys(f.calls))
	out := make([]Call, 0, len(keys))
	for _, k := range keys {
		out = append(out, f.calls[k])
	}
	return out, nil
}

func (f *fakeRouter) Call(ctx context.Context, id string) (Call, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs["call"]; err != nil {
		return Call{}, err
	}
	c, ok := f.calls[id]
	if !ok {
		return Call{}, routing.ErrNotFound
	}
	return c, nil
}

func (f *fakeRouter) Case(ctx context.Context, id string) (routing.Case, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cases[id]
	if !ok {
		return routing.Case{}, routing.ErrNotFound
	}
	return c, nil
}

func (f *fakeRouter) Cases(ctx context.Context, filter CaseFilter) ([]routing.Case, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filter = filter
	var out []routing.Case
	for _, k := range slices.Sorted(maps.Keys(f.cases)) {
		c := f.cases[k]
		if (filter.Status == "" || c.Status == filter.Status) && (filter.Owner == "" || c.Owner == filter.Owner) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeRouter) SetNote(ctx context.Context, caseID, note, by string) error {
	if err := f.record("note", caseID, note, by); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cases[caseID]
	if !ok {
		return routing.ErrNotFound
	}
	c.Note = note
	f.cases[caseID] = c
	return nil
}

// fakeControl is a CallControl that records what it was asked.
type fakeControl struct {
	mu       sync.Mutex
	log      []string
	err      error
	transfer Transfer
	lastAt   time.Time
}

func (f *fakeControl) note(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, s)
	return f.err
}

func (f *fakeControl) Transfer(ctx context.Context, callID, by string, to routing.Destination, note string, mode routing.TransferMode) (Transfer, error) {
	if err := f.note("transfer " + callID + " " + by + " " + to.String() + " " + string(mode) + " " + note); err != nil {
		return Transfer{}, err
	}
	t := f.transfer
	t.CallID, t.By, t.To = callID, by, to
	return t, nil
}

func (f *fakeControl) CompleteTransfer(ctx context.Context, callID, by string) error {
	return f.note("complete " + callID + " " + by)
}

func (f *fakeControl) CancelTransfer(ctx context.Context, callID, by string) error {
	return f.note("cancel " + callID + " " + by)
}

func (f *fakeControl) ScheduleCallback(ctx context.Context, callID, by string, at time.Time, note string) (Callback, error) {
	if err := f.note("callback " + callID + " " + by + " " + note); err != nil {
		return Callback{}, err
	}
	f.mu.Lock()
	f.lastAt = at
	f.mu.Unlock()
	return Callback{ID: "cb-new", Owner: by, DueAt: at, Note: note, Kind: CallbackOwner, State: CallbackScheduled}, nil
}

func (f *fakeControl) Escalate(ctx context.Context, callID, by, note string) (Callback, error) {
	if err := f.note("escalate " + callID + " " + by + " " + note); err != nil {
		return Callback{}, err
	}
	return Callback{ID: "cb-senior", Note: note, Kind: CallbackSenior, State: CallbackScheduled}, nil
}

// fakeCallbacks lists from a slice and remembers the last filter.
type fakeCallbacks struct {
	mu     sync.Mutex
	all    []Callback
	filter CallbackFilter
}

func (f *fakeCallbacks) List(ctx context.Context, filter CallbackFilter) ([]Callback, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filter = filter
	var out []Callback
	for _, cb := range f.all {
		if (filter.State == "" || string(cb.State) == filter.State) && (filter.Owner == "" || cb.Owner == filter.Owner) {
			out = append(out, cb)
		}
	}
	return out, nil
}

func (f *fakeCallbacks) Get(ctx context.Context, id string) (Callback, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, cb := range f.all {
		if cb.ID == id {
			return cb, nil
		}
	}
	return Callback{}, routing.ErrNotFound
}

// fakeRequests stores created requests in memory.
type fakeRequests struct {
	mu     sync.Mutex
	all    []Request
	filter RequestFilter
}

func (f *fakeRequests) List(ctx context.Context, filter RequestFilter) ([]Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filter = filter
	var out []Request
	for _, r := range f.all {
		if (filter.Kind == "" || string(r.Kind) == filter.Kind) && (filter.State == "" || r.State == filter.State) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeRequests) Get(ctx context.Context, id string) (Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.all {
		if r.ID == id {
			return r, nil
		}
	}
	return Request{}, routing.ErrNotFound
}

func (f *fakeRequests) Create(ctx context.Context, r Request) (Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r.ID = "rq-" + string(rune('a'+len(f.all)))
	r.State = "new"
	f.all = append(f.all, r)
	return r, nil
}

func (f *fakeRequests) Done(ctx context.Context, id, by string) (Request, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.all {
		if r.ID == id {
			if r.State != "done" {
				f.all[i].State, f.all[i].DoneBy, f.all[i].DoneAt = "done", by, testNow
			}
			return f.all[i], nil
		}
	}
	return Request{}, routing.ErrNotFound
}

// fakeQueues serves fixed topic figures; err, if set, fails every read.
type fakeQueues struct {
	stats map[string]routing.TopicStats
	err   error
}

func (f *fakeQueues) TopicStats(ctx context.Context, topic string) (routing.TopicStats, error) {
	if f.err != nil {
		return routing.TopicStats{}, f.err
	}
	return f.stats[topic], nil
}

// publishLog records what the server announces on the events stream.
type publishLog struct {
	mu  sync.Mutex
	all []Update
}

func (p *publishLog) publish(u Update) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.all = append(p.all, u)
}

func (p *publishLog) updates() []Update {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.all)
}
