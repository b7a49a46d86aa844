package desk

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hotline-project/hotline/api"
	"github.com/hotline-project/hotline/routing"
)

// fakeHotline is a hand-written stand-in for the router, the call-flow
// engine, the callbacks and the requests services behind api.Server. It
// keeps its state in maps and announces every change on the hub, as the
// daemon does, so the page sees live updates through the real events
// stream. Transfers follow the real rules that the page must show: a
// destination already on the path is refused as transfer_loop with the path.
type fakeHotline struct {
	hub *api.Hub
	now func() time.Time

	mu        sync.Mutex
	agents    map[string]routing.AgentStatus
	calls     map[string]api.Call
	cases     map[string]routing.Case
	pending   map[string]api.Transfer // call id → transfer in progress
	callbacks []api.Callback
	requests  []api.Request
	seq       int
}

func newFakeHotline(hub *api.Hub, agents ...routing.AgentStatus) *fakeHotline {
	f := &fakeHotline{
		hub: hub, now: time.Now,
		agents: map[string]routing.AgentStatus{}, calls: map[string]api.Call{},
		cases: map[string]routing.Case{}, pending: map[string]api.Transfer{},
	}
	for _, a := range agents {
		f.agents[a.ID] = a
	}
	return f
}

func (f *fakeHotline) nextID(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s-%d", prefix, f.seq)
}

// --- what the test does to the hotline, as callers and phones would

// connectCall puts a caller through to an agent: the call, its case and the
// agent's state change together and are announced.
func (f *fakeHotline) connectCall(callID, agentID, topic, number, note string) {
	f.mu.Lock()
	now := f.now()
	cs := routing.Case{
		ID: "case-" + callID, CallerNumber: number, Topic: topic, Lang: "uk", Note: note,
		Owner: agentID, Status: routing.CaseOpen, Agents: []string{agentID},
		Path:      []routing.Hop{{To: routing.Destination{Kind: routing.DestTopic, Name: topic}, At: now}},
		CreatedAt: now, UpdatedAt: now,
	}
	c := api.Call{ID: callID, CaseID: cs.ID, Topic: topic, CallerNumber: number, Lang: "uk",
		AgentID: agentID, State: api.CallConnected, EnqueuedAt: now.Add(-40 * time.Second)}
	f.cases[cs.ID], f.calls[c.ID] = cs, c
	a := f.agents[agentID]
	a.State, a.Since, a.CallID = routing.StateOnCall, now, callID
	f.agents[agentID] = a
	f.mu.Unlock()
	f.hub.Publish(api.AgentUpdate(a))
	f.hub.Publish(api.CallUpdate(c))
}

// queueCall puts a caller in a topic's queue.
func (f *fakeHotline) queueCall(callID, topic, number string, waited time.Duration) {
	f.mu.Lock()
	c := api.Call{ID: callID, CaseID: "case-" + callID, Topic: topic, CallerNumber: number,
		State: api.CallQueued, EnqueuedAt: f.now().Add(-waited)}
	f.calls[callID] = c
	waiting := 0
	for _, q := range f.calls {
		if q.Topic == topic && q.State == api.CallQueued {
			waiting++
		}
	}
	f.mu.Unlock()
	f.hub.Publish(api.CallUpdate(c))
	f.hub.Publish(api.QueueUpdate(topic, waiting))
}

func (f *fakeHotline) note(caseID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cases[caseID].Note
}

func (f *fakeHotline) callbackList() []api.Callback {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.callbacks)
}

func (f *fakeHotline) call(id string) api.Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[id]
}

// --- api.Agents

func (f *fakeHotline) setState(id string, st routing.AgentState, reason string) error {
	f.mu.Lock()
	a, ok := f.agents[id]
	if !ok {
		f.mu.Unlock()
		return routing.ErrNotFound
	}
	a.State, a.Reason, a.Since = st, reason, f.now()
	f.agents[id] = a
	f.mu.Unlock()
	f.hub.Publish(api.AgentUpdate(a))
	return nil
}

func (f *fakeHotline) Login(ctx context.Context, id string) error {
	return f.setState(id, routing.StateAvailable, "")
}

func (f *fakeHotline) Resume(ctx context.Context, id string) error {
	return f.setState(id, routing.StateAvailable, "")
}

func (f *fakeHotline) Logout(ctx context.Context, id string) error {
	return f.setState(id, routing.StateOffline, "")
}

func (f *fakeHotline) Pause(ctx context.Context, id, reason string) error {
	return f.setState(id, routing.StatePaused, reason)
}

func (f *fakeHotline) Agent(ctx context.Context, id string) (routing.AgentStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.agents[id]
	if !ok {
		return routing.AgentStatus{}, routing.ErrNotFound
	}
	return a, nil
}

func (f *fakeHotline) Agents(ctx context.Context) ([]routing.AgentStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []routing.AgentStatus
	for _, k := range slices.Sorted(maps.Keys(f.agents)) {
		out = append(out, f.agents[k])
	}
	return out, nil
}

// --- api.Calls and api.Cases

func (f *fakeHotline) ActiveCalls(ctx context.Context) ([]api.Call, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.Call
	for _, k := range slices.Sorted(maps.Keys(f.calls)) {
		out = append(out, f.calls[k])
	}
	return out, nil
}

func (f *fakeHotline) Call(ctx context.Context, id string) (api.Call, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.calls[id]
	if !ok {
		return api.Call{}, routing.ErrNotFound
	}
	return c, nil
}

func (f *fakeHotline) Case(ctx context.Context, id string) (routing.Case, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cases[id]
	if !ok {
		return routing.Case{}, routing.ErrNotFound
	}
	return c, nil
}

func (f *fakeHotline) Cases(ctx context.Context, filter api.CaseFilter) ([]routing.Case, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []routing.Case
	for _, k := range slices.Sorted(maps.Keys(f.cases)) {
		c := f.cases[k]
		if (filter.Status == "" || c.Status == filter.Status) && (filter.Owner == "" || c.Owner == filter.Owner) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeHotline) SetNote(ctx context.Context, caseID, note, by string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cases[caseID]
	if !ok {
		return routing.ErrNotFound
	}
	c.Note, c.UpdatedAt = note, f.now()
	f.cases[caseID] = c
	return nil
}

// --- api.CallControl

func (f *fakeHotline) Transfer(ctx context.Context, callID, by string, to routing.Destination, note string, mode routing.TransferMode) (api.Transfer, error) {
	f.mu.Lock()
	c, ok := f.calls[callID]
	if !ok {
		f.mu.Unlock()
		return api.Transfer{}, routing.ErrCallGone
	}
	cs := f.cases[c.CaseID]
	path := slices.Clone(cs.Path)
	if len(note) < 5 {
		f.mu.Unlock()
		return api.Transfer{}, &routing.Refusal{Code: routing.RefuseNoteRequired, Message: "a transfer needs a note", Path: path}
	}
	for _, h := range path {
		if h.To == to {
			f.mu.Unlock()
			return api.Transfer{}, &routing.Refusal{Code: routing.RefuseLoop,
				Message: fmt.Sprintf("%s is already on this call's path", to), Path: path}
		}
	}
	var target routing.AgentStatus
	for _, id := range slices.Sorted(maps.Keys(f.agents)) {
		a := f.agents[id]
		if a.State != routing.StateAvailable || a.ID == by {
			continue
		}
		if _, takes := a.Topics[to.Name]; (to.Kind == routing.DestAgent && a.ID == to.Name) || (to.Kind == routing.DestTopic && takes) {
			target = a
			break
		}
	}
	if target.ID == "" {
		f.mu.Unlock()
		return api.Transfer{}, &routing.Refusal{Code: routing.RefuseTargetUnavail, Message: "nobody is free at " + to.String(), Path: path}
	}
	target.State, target.CallID = routing.StateRinging, callID
	f.agents[target.ID] = target
	c.State = api.CallConsulting
	f.calls[callID] = c
	t := api.Transfer{ID: f.nextID("tr"), CallID: callID, By: by, To: to, Target: target,
		Path: append(path, routing.Hop{To: to, By: by, At: f.now()})}
	f.pending[callID] = t
	f.mu.Unlock()
	f.hub.Publish(api.AgentUpdate(target))
	f.hub.Publish(api.CallUpdate(c, target.ID))
	return t, nil
}

func (f *fakeHotline) CompleteTransfer(ctx context.Context, callID, by string) error {
	f.mu.Lock()
	t, ok := f.pending[callID]
	if !ok {
		f.mu.Unlock()
		return routing.ErrNotFound
	}
	delete(f.pending, callID)
	c := f.calls[callID]
	c.AgentID, c.State = t.Target.ID, api.CallConnected
	f.calls[callID] = c
	cs := f.cases[c.CaseID]
	cs.Path, cs.Agents = t.Path, append(cs.Agents, t.Target.ID)
	f.cases[c.CaseID] = cs
	target, from := f.agents[t.Target.ID], f.agents[by]
	target.State = routing.StateOnCall
	from.State, from.CallID, from.Since = routing.StateWrapUp, "", f.now()
	f.agents[target.ID], f.agents[from.ID] = target, from
	f.mu.Unlock()
	f.hub.Publish(api.CallUpdate(c, by))
	f.hub.Publish(api.AgentUpdate(target))
	f.hub.Publish(api.AgentUpdate(from))
	return nil
}

func (f *fakeHotline) CancelTransfer(ctx context.Context, callID, by string) error {
	f.mu.Lock()
	t, ok := f.pending[callID]
	if !ok {
		f.mu.Unlock()
		return routing.ErrNotFound
	}
	delete(f.pending, callID)
	c := f.calls[callID]
	c.State = api.CallConnected
	f.calls[callID] = c
	target := f.agents[t.Target.ID]
	target.State, target.CallID = routing.StateAvailable, ""
	f.agents[target.ID] = target
	f.mu.Unlock()
	f.hub.Publish(api.CallUpdate(c))
	f.hub.Publish(api.AgentUpdate(target))
	return nil
}

// Escalate hands the caller to the seniors as a callback, like the call
// flow's *8.
func (f *fakeHotline) Escalate(ctx context.Context, callID, by, note string) (api.Callback, error) {
	f.mu.Lock()
	c, ok := f.calls[callID]
	if !ok {
		f.mu.Unlock()
		return api.Callback{}, routing.ErrCallGone
	}
	cb := api.Callback{ID: f.nextID("cb"), CaseID: c.CaseID, Number: c.CallerNumber, Topic: c.Topic,
		Note: note, Kind: api.CallbackSenior, State: api.CallbackScheduled,
		DueAt: f.now(), MaxAttempts: 3, CreatedAt: f.now()}
	f.callbacks = append(f.callbacks, cb)
	f.mu.Unlock()
	f.hub.Publish(api.CallbackUpdate(cb))
	return cb, nil
}

func (f *fakeHotline) ScheduleCallback(ctx context.Context, callID, by string, at time.Time, note string) (api.Callback, error) {
	f.mu.Lock()
	c, ok := f.calls[callID]
	if !ok {
		f.mu.Unlock()
		return api.Callback{}, routing.ErrCallGone
	}
	cb := api.Callback{ID: f.nextID("cb"), CaseID: c.CaseID, Number: c.CallerNumber, Topic: c.Topic,
		Owner: by, Note: note, Kind: api.CallbackOwner, State: api.CallbackScheduled,
		DueAt: at, Deadline: at.Add(time.Hour), MaxAttempts: 3, CreatedAt: f.now()}
	f.callbacks = append(f.callbacks, cb)
	f.mu.Unlock()
	f.hub.Publish(api.CallbackUpdate(cb))
	return cb, nil
}

// TopicStats counts the topic's queue and agents from the maps; the
// handle time is fixed, so the wait estimate is non-zero once callers wait.
func (f *fakeHotline) TopicStats(ctx context.Context, topic string) (routing.TopicStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := routing.TopicStats{HandleTime: 4 * time.Minute}
	for _, c := range f.calls {
		if c.Topic == topic && c.State == api.CallQueued {
			st.Queued++
		}
	}
	for _, a := range f.agents {
		if _, ok := a.Topics[topic]; !ok || a.State == routing.StateOffline {
			continue
		}
		st.AgentsLoggedIn++
		if a.State == routing.StateAvailable {
			st.AgentsAvailable++
		}
	}
	return st, nil
}

// --- api.Callbacks and api.Requests: separate types, the method names clash

type fakeCallbacks struct{ f *fakeHotline }

func (s fakeCallbacks) List(ctx context.Context, filter api.CallbackFilter) ([]api.Callback, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	var out []api.Callback
	for _, cb := range s.f.callbacks {
		if (filter.State == "" || string(cb.State) == filter.State) && (filter.Owner == "" || cb.Owner == filter.Owner) {
			out = append(out, cb)
		}
	}
	return out, nil
}

func (s fakeCallbacks) Get(ctx context.Context, id string) (api.Callback, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	for _, cb := range s.f.callbacks {
		if cb.ID == id {
			return cb, nil
		}
	}
	return api.Callback{}, routing.ErrNotFound
}

type fakeRequests struct{ f *fakeHotline }

func (s fakeRequests) List(ctx context.Context, filter api.RequestFilter) ([]api.Request, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	var out []api.Request
	for _, r := range s.f.requests {
		if (filter.Kind == "" || string(r.Kind) == filter.Kind) && (filter.State == "" || r.State == filter.State) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (s fakeRequests) Get(ctx context.Context, id string) (api.Request, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	for _, r := range s.f.requests {
		if r.ID == id {
			return r, nil
		}
	}
	return api.Request{}, routing.ErrNotFound
}

func (s fakeRequests) Create(ctx context.Context, r api.Request) (api.Request, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	r.ID, r.State, r.CreatedAt = s.f.nextID("rq"), "new", s.f.now()
	s.f.requests = append(s.f.requests, r)
	return r, nil
}

// Done closes the request. It announces nothing: the API handler
// publishes the update, as it does for the requests service.
func (s fakeRequests) Done(ctx context.Context, id, by string) (api.Request, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	for i, r := range s.f.requests {
		if r.ID == id {
			// Marking it again keeps the first senior and time, as the
			// requests service does.
			if r.State != "done" {
				r.State, r.DoneBy, r.DoneAt = "done", by, s.f.now()
				s.f.requests[i] = r
			}
			return r, nil
		}
	}
	return api.Request{}, routing.ErrNotFound
}

var (
	_ api.Agents      = (*fakeHotline)(nil)
	_ api.Calls       = (*fakeHotline)(nil)
	_ api.Cases       = (*fakeHotline)(nil)
	_ api.CallControl = (*fakeHotline)(nil)
	_ api.Queues      = (*fakeHotline)(nil)
	_ api.Callbacks   = fakeCallbacks{}
	_ api.Requests    = fakeRequests{}
)
