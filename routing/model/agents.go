package model

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// An action carries out one transition of agent a. c is the call the
// operation names, for the operations about a call (callOps).
type action func(o *op, a *agent, c *call, ch routing.AgentChange) (routing.Decision, error)

// transitions is the agent state machine (docs/behaviour.md, Agents): for each operation,
// the states it may start from and what it does from there. Any other
// state refuses the operation with routing.ErrIllegalTransition.
//
//	operation  from                        to
//	login      offline                     free
//	pause      available                   paused, with the reason
//	           ringing, on_call, wrap_up   unchanged; paused when the call is over
//	resume     paused                      free
//	           ringing, on_call, wrap_up   unchanged; the pause asked for is
//	                                       cancelled (refused if none was)
//	logout     available, paused, wrap_up  offline
//	answered   ringing                     on_call
//	noanswer   ringing                     paused, with the reason; the caller
//	                                       goes back to their place
//	release    ringing                     free; the caller goes back to their place
//	endcall    on_call                     wrap_up, or free if there is no wrap-up
//	wrapend    wrap_up                     free once due; unchanged before
//	           any other state             unchanged (a stale timer)
//
// "Free" is: available, idle from now, and the agent's topics dispatched;
// or paused, if the agent asked for a pause during the call; or deleted,
// if the configuration dropped the agent meanwhile.
//
// What an operation answers (routing.Decision) is the agent as the
// operation left it, before any dispatch it set off paired them again;
// the call, for the operations about one; and every offer made.
var transitions = map[routing.AgentOp]map[routing.AgentState]action{
	routing.OpLogin: {
		routing.StateOffline: login,
	},
	routing.OpPause: {
		routing.StateAvailable: pauseNow,
		routing.StateRinging:   pauseAfterCall,
		routing.StateOnCall:    pauseAfterCall,
		routing.StateWrapUp:    pauseAfterCall,
	},
	routing.OpResume: {
		routing.StatePaused:  resume,
		routing.StateRinging: cancelPause,
		routing.StateOnCall:  cancelPause,
		routing.StateWrapUp:  cancelPause,
	},
	routing.OpLogout: {
		routing.StateAvailable: logout,
		routing.StatePaused:    logout,
		routing.StateWrapUp:    logout,
	},
	routing.OpAnswered: {
		routing.StateRinging: answered,
	},
	routing.OpNoAnswer: {
		routing.StateRinging: noAnswer,
	},
	routing.OpRelease: {
		routing.StateRinging: release,
	},
	routing.OpEndCall: {
		routing.StateOnCall: endCall,
	},
	routing.OpWrapEnd: {
		routing.StateWrapUp:    wrapEnd,
		routing.StateOffline:   unchanged,
		routing.StateAvailable: unchanged,
		routing.StateRinging:   unchanged,
		routing.StateOnCall:    unchanged,
		routing.StatePaused:    unchanged,
	},
}

// callOps are the operations about the agent's current call: the call
// must exist (routing.ErrNotFound), whatever the agent's state.
var callOps = map[routing.AgentOp]bool{
	routing.OpAnswered: true, routing.OpNoAnswer: true, routing.OpRelease: true, routing.OpEndCall: true,
}

// Change applies one agent transition (see transitions). An unknown agent
// or call is routing.ErrNotFound.
func (s *Store) Change(_ context.Context, ch routing.AgentChange, t routing.Timing) (routing.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.begin(t)
	a := s.agents[ch.AgentID]
	if a == nil {
		return routing.Decision{}, fmt.Errorf("%s: %w", ch.Op, notFound("agent", ch.AgentID))
	}
	from, known := transitions[ch.Op]
	var c *call
	if callOps[ch.Op] || !known {
		if c = s.calls[ch.CallID]; c == nil {
			return routing.Decision{}, fmt.Errorf("%s: %w", ch.Op, notFound("call", ch.CallID))
		}
	}
	if !known {
		return routing.Decision{}, fmt.Errorf("unknown agent operation %q", ch.Op)
	}
	act, ok := from[a.State]
	if !ok {
		return routing.Decision{}, fmt.Errorf("%s: %w", ch.Op, illegal(string(a.State)))
	}
	d, err := act(o, a, c, ch)
	if err != nil {
		return routing.Decision{}, fmt.Errorf("%s: %w", ch.Op, err)
	}
	d.Offers = o.offers
	return d, nil
}

func login(o *op, a *agent, _ *call, _ routing.AgentChange) (routing.Decision, error) {
	a.PauseAfter = ""
	return routing.Decision{Agent: o.free(a)}, nil
}

func pauseNow(o *op, a *agent, _ *call, ch routing.AgentChange) (routing.Decision, error) {
	a.State, a.Reason, a.Since = routing.StatePaused, ch.Reason, o.now
	return routing.Decision{Agent: a.status()}, nil
}

func pauseAfterCall(_ *op, a *agent, _ *call, ch routing.AgentChange) (routing.Decision, error) {
	a.PauseAfter = ch.Reason
	return routing.Decision{Agent: a.status()}, nil
}

func resume(o *op, a *agent, _ *call, _ routing.AgentChange) (routing.Decision, error) {
	return routing.Decision{Agent: o.free(a)}, nil
}

func cancelPause(_ *op, a *agent, _ *call, _ routing.AgentChange) (routing.Decision, error) {
	if a.PauseAfter == "" {
		return routing.Decision{}, illegal(string(a.State))
	}
	a.PauseAfter = ""
	return routing.Decision{Agent: a.status()}, nil
}

func logout(o *op, a *agent, _ *call, _ routing.AgentChange) (routing.Decision, error) {
	a.State, a.Reason, a.Since, a.CallID, a.PauseAfter = routing.StateOffline, "", o.now, "", ""
	a.wrapDue = time.Time{}
	return routing.Decision{Agent: o.settle(a)}, nil
}

// ringing reports whether agent a rings for call c and c for a, as the
// operation says; an agent and a call out of step refuse it.
func ringing(a *agent, c *call) bool {
	return a.State == routing.StateRinging && a.CallID == c.ID && c.State == routing.CallRinging && c.AgentID == a.ID
}

func answered(o *op, a *agent, c *call, _ routing.AgentChange) (routing.Decision, error) {
	if !ringing(a, c) {
		return routing.Decision{}, illegal(string(a.State))
	}
	a.State, a.Since = routing.StateOnCall, o.now
	c.State, c.ringDeadline = routing.CallConnected, time.Time{}
	return routing.Decision{Agent: a.status(), Call: c.snapshot()}, nil
}

// noAnswer: the offer rang out. The agent is paused with the reason (no
// answer, unreachable); the caller goes back to their place, and the
// topic is dispatched, or, rung in no queue, the call ends.
func noAnswer(o *op, a *agent, c *call, ch routing.AgentChange) (routing.Decision, error) {
	if !ringing(a, c) {
		return routing.Decision{}, illegal(string(a.State))
	}
	a.State, a.Reason, a.Since, a.CallID, a.PauseAfter = routing.StatePaused, ch.Reason, o.now, "", ""
	st := o.settle(a)
	if c.direct {
		delete(o.s.calls, c.ID)
		return routing.Decision{Agent: st, Call: c.ended()}, nil
	}
	o.requeue(c)
	o.dispatch([]string{c.Topic}, maxPairs)
	return routing.Decision{Agent: st, Call: o.s.calls[c.ID].snapshot()}, nil
}

// release takes an offer back through no fault of the agent (the node
// stopped ringing): the caller goes back to their place (a call in no
// queue ends) and the agent is free.
func release(o *op, a *agent, c *call, _ routing.AgentChange) (routing.Decision, error) {
	if !ringing(a, c) {
		return routing.Decision{}, illegal(string(a.State))
	}
	if c.direct {
		delete(o.s.calls, c.ID)
	} else {
		o.requeue(c)
	}
	st := o.free(a)
	if c.direct {
		return routing.Decision{Agent: st, Call: c.ended()}, nil
	}
	o.dispatch([]string{c.Topic}, maxPairs)
	return routing.Decision{Agent: st, Call: o.s.calls[c.ID].snapshot()}, nil
}

// endCall: the caller and the agent hung up. A consult in progress dies
// with the call, and its target is freed; the agent goes to wrap-up.
func endCall(o *op, a *agent, c *call, _ routing.AgentChange) (routing.Decision, error) {
	if a.CallID != c.ID {
		return routing.Decision{}, illegal(string(a.State))
	}
	var target *agent
	if c.State == routing.CallConsulting {
		target = o.holding(c.ConsultAgent, routing.StateRinging, c.ID)
	}
	delete(o.s.calls, c.ID)
	if target != nil {
		o.free(target)
	}
	return routing.Decision{Agent: o.endTalk(a, c.Topic), Call: c.ended()}, nil
}

func wrapEnd(o *op, a *agent, _ *call, _ routing.AgentChange) (routing.Decision, error) {
	if a.wrapDue.After(o.now) {
		return routing.Decision{Agent: a.status()}, nil
	}
	a.wrapDue = time.Time{}
	return routing.Decision{Agent: o.free(a)}, nil
}

func unchanged(_ *op, a *agent, _ *call, _ routing.AgentChange) (routing.Decision, error) {
	return routing.Decision{Agent: a.status()}, nil
}

// free ends whatever the agent was doing: available again, idle from
// now, and their topics dispatched; or paused if they asked for a pause
// during the call; or deleted if the configuration dropped them. It
// returns the agent as freed, before the dispatch.
func (o *op) free(a *agent) routing.AgentStatus {
	if a.removed {
		st := a.status()
		o.retire(a)
		return st
	}
	a.CallID, a.Since = "", o.now
	if a.PauseAfter != "" {
		a.State, a.Reason, a.PauseAfter = routing.StatePaused, a.PauseAfter, ""
		return a.status()
	}
	a.State, a.Reason, a.IdleSince = routing.StateAvailable, "", o.now
	st := a.status()
	o.dispatch(a.topics(), maxPairs)
	return st
}

// settle keeps an agent whose call is over and who is not freed (paused,
// logged out), or deletes one the configuration dropped.
func (o *op) settle(a *agent) routing.AgentStatus {
	st := a.status()
	if a.removed {
		o.retire(a)
	}
	return st
}

func (o *op) retire(a *agent) { delete(o.s.agents, a.ID) }

// endTalk ends an agent's talk on a call of topic: the topic's mean
// handle time learns its length, and the agent goes to wrap-up, or is
// freed at once without one.
func (o *op) endTalk(a *agent, topic string) routing.AgentStatus {
	o.noteHandle(topic, o.now.Sub(a.Since))
	if o.wrap <= 0 {
		return o.free(a)
	}
	a.State, a.Since, a.CallID = routing.StateWrapUp, o.now, ""
	a.wrapDue = o.now.Add(o.wrap)
	return a.status()
}

// noteHandle folds one talk into the topic's exponentially weighted mean
// handle time. It is kept in whole milliseconds, rounded half to even
// (the Redis store writes it with %.0f).
func (o *op) noteHandle(topic string, talk time.Duration) {
	ms := float64(talk.Milliseconds())
	if topic == "" || ms < 0 {
		return
	}
	v := ms
	if old, ok := o.s.handle[topic]; ok {
		// Two roundings, as Lua's doubles do: no fused multiply-add.
		v = float64(old*(1-o.s.alpha)) + float64(ms*o.s.alpha)
	}
	o.s.handle[topic] = roundHalfEven(v)
}

// holding returns agent id if they are in state for call callID, else nil.
func (o *op) holding(id string, state routing.AgentState, callID string) *agent {
	a := o.s.agents[id]
	if id == "" || a == nil || a.State != state || a.CallID != callID {
		return nil
	}
	return a
}

// SyncAgents upserts the configured agents, keeping their live state.
// One no longer configured is deleted at once if idle, or marked removed
// and deleted when their call (ringing, talking, wrap-up) ends. A new
// agent starts offline. It does not dispatch: the Router does, so the
// offers reach it.
func (s *Store) SyncAgents(_ context.Context, agents []routing.Agent, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.begin(routing.Timing{Now: now})
	keep := map[string]bool{}
	for _, cfg := range agents {
		keep[cfg.ID] = true
	}
	for _, a := range s.sortedAgents() {
		switch {
		case keep[a.ID]:
		case a.busy():
			a.removed = true
		default:
			o.retire(a)
		}
	}
	for _, cfg := range agents {
		a := s.agents[cfg.ID]
		if a == nil {
			a = &agent{AgentStatus: routing.AgentStatus{State: routing.StateOffline, Since: o.now, IdleSince: o.now}}
			s.agents[cfg.ID] = a
		}
		a.Agent = cfg
		a.Topics = cloneTopics(cfg.Topics)
		a.removed = false
	}
	return nil
}

// Agent returns one agent's live state.
func (s *Store) Agent(_ context.Context, id string) (routing.AgentStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.agents[id]
	if a == nil {
		return routing.AgentStatus{}, notFound("agent", id)
	}
	return a.status(), nil
}

// Agents returns every agent, sorted by id.
func (s *Store) Agents(context.Context) ([]routing.AgentStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []routing.AgentStatus{}
	for _, a := range s.sortedAgents() {
		out = append(out, a.status())
	}
	return out, nil
}

func (s *Store) sortedAgents() []*agent {
	out := make([]*agent, 0, len(s.agents))
	for _, a := range s.agents {
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y *agent) int { return strings.Compare(x.ID, y.ID) })
	return out
}
