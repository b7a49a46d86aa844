package storetest

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/hotline-project/hotline/routing"
)

// fakeCallbackRouter is a hand-written fake of the callback service's
// router interface: cases by id, agents with states, and a record of the
// queue operations asked of it.
type fakeCallbackRouter struct {
	mu         sync.Mutex
	cases      map[string]routing.Case
	agents     map[string]*routing.AgentStatus
	enqueued   []routing.Call
	left       []string
	enqueueErr error
	// unlimited makes ClaimSenior always find a fresh senior, for tests
	// about the callbacks rather than the agents.
	unlimited bool
	// deliver, if set, is called with every enqueued call after Enqueue
	// has recorded it and before it returns, the way the Router delivers
	// offers synchronously.
	deliver func(routing.Call)
}

func newFakeCallbackRouter() *fakeCallbackRouter {
	return &fakeCallbackRouter{cases: map[string]routing.Case{}, agents: map[string]*routing.AgentStatus{}}
}

func (f *fakeCallbackRouter) addCase(c routing.Case) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cases[c.ID] = c
}

func (f *fakeCallbackRouter) addAgent(id string, senior bool, state routing.AgentState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.agents[id] = &routing.AgentStatus{Agent: routing.Agent{ID: id, Senior: senior}, State: state}
}

func (f *fakeCallbackRouter) setState(id string, state routing.AgentState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.agents[id].State = state
	if state == routing.StateAvailable {
		f.agents[id].CallID = ""
	}
}

func (f *fakeCallbackRouter) agent(id string) routing.AgentStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.agents[id]
}

func (f *fakeCallbackRouter) calls() ([]routing.Call, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]routing.Call(nil), f.enqueued...), append([]string(nil), f.left...)
}

func (f *fakeCallbackRouter) Case(_ context.Context, id string) (routing.Case, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cases[id]
	if !ok {
		return routing.Case{}, fmt.Errorf("case %s: %w", id, routing.ErrNotFound)
	}
	return c, nil
}

func (f *fakeCallbackRouter) Enqueue(_ context.Context, c routing.Call) (routing.QueueInfo, error) {
	f.mu.Lock()
	if f.enqueueErr != nil {
		f.mu.Unlock()
		return routing.QueueInfo{}, f.enqueueErr
	}
	f.enqueued = append(f.enqueued, c)
	deliver := f.deliver
	f.mu.Unlock()
	if deliver != nil {
		deliver(c)
	}
	return routing.QueueInfo{Position: 1}, nil
}

func (f *fakeCallbackRouter) Leave(_ context.Context, callID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.left = append(f.left, callID)
	return nil
}

func (f *fakeCallbackRouter) claim(a *routing.AgentStatus, callID string) routing.AgentStatus {
	a.State, a.CallID = routing.StateRinging, callID
	return *a
}

func (f *fakeCallbackRouter) ClaimAgent(_ context.Context, agentID string, call routing.Call) (routing.AgentStatus, bool, error) {
	callID := call.ID
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.agents[agentID]
	if !ok {
		return routing.AgentStatus{}, false, fmt.Errorf("agent %s: %w", agentID, routing.ErrNotFound)
	}
	if a.State != routing.StateAvailable {
		return routing.AgentStatus{}, false, nil
	}
	return f.claim(a, callID), true, nil
}

func (f *fakeCallbackRouter) ClaimSenior(_ context.Context, call routing.Call) (routing.AgentStatus, bool, error) {
	callID := call.ID
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unlimited {
		return routing.AgentStatus{Agent: routing.Agent{ID: "senior-for-" + callID, Senior: true}, State: routing.StateRinging, CallID: callID}, true, nil
	}
	ids := make([]string, 0, len(f.agents))
	for id := range f.agents {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if a := f.agents[id]; a.Senior && a.State == routing.StateAvailable {
			return f.claim(a, callID), true, nil
		}
	}
	return routing.AgentStatus{}, false, nil
}
