package model

import (
	"context"
	"fmt"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// Transfers. A connected call's agent asks for a transfer: once the path
// check passed (cases.go), Claim rings a target, and the call is
// consulting that target until AcceptClaim connects them or ReleaseClaim
// gives the caller back to the agent who asked. A claimed target rings
// until the ring timeout, or, once they answered, until the consult's own
// limit (ConsultAnswered); past it, plus the sweep's grace, a node that
// died is assumed and the sweep frees the target (due.go).

// Claim rings a transfer target for a connected call: the named agent if
// available and not excluded, or the topic's best available agent not
// excluded (routing.ErrUnavailable when there is none). The call must be
// connected to req.By (routing.ErrIllegalTransition).
func (s *Store) Claim(_ context.Context, req routing.ClaimRequest, t routing.Timing) (routing.AgentStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.begin(t)
	c := s.calls[req.CallID]
	if c == nil {
		return routing.AgentStatus{}, fmt.Errorf("claim: %w", notFound("call", req.CallID))
	}
	if c.State != routing.CallConnected || c.AgentID != req.By {
		return routing.AgentStatus{}, fmt.Errorf("claim: %w", illegal(string(c.State)))
	}
	exclude := map[string]bool{}
	for _, id := range req.Exclude {
		exclude[id] = true
	}
	var target *agent
	if req.To.Kind == routing.DestAgent {
		if a := s.agents[req.To.Name]; a != nil && a.State == routing.StateAvailable && !exclude[a.ID] {
			target = a
		}
	} else {
		target = o.bestAgent(req.To.Name, exclude)
	}
	if target == nil {
		return routing.AgentStatus{}, fmt.Errorf("claim %s: %w", req.To, routing.ErrUnavailable)
	}
	target.State, target.CallID, target.Since = routing.StateRinging, c.ID, o.now
	c.State, c.ConsultAgent, c.consultDeadline = routing.CallConsulting, target.ID, o.now.Add(o.ring)
	return target.status(), nil
}

// ClaimFor rings an agent for a call in no queue (a callback dialled agent
// first, a returning caller routed to their case owner): agentID if
// available, or with senior the longest idle available senior operator
// (routing.ErrUnavailable when none). The call is recorded ringing, owned
// by the deciding node, as a direct call: it has no place in line to go
// back to. A call the store knows already is refused.
func (s *Store) ClaimFor(_ context.Context, in routing.Call, agentID string, senior bool, t routing.Timing) (routing.AgentStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.begin(t)
	if s.calls[in.ID] != nil {
		return routing.AgentStatus{}, fmt.Errorf("claim for %s: %w", in.ID, illegal("call known already"))
	}
	var b *agent
	if !senior {
		if a := s.agents[agentID]; a != nil && a.State == routing.StateAvailable {
			b = a
		}
	} else {
		for _, a := range s.agents {
			if a.Senior && a.State == routing.StateAvailable && (b == nil || byTimeThenID(a.IdleSince, a.ID, b.IdleSince, b.ID) < 0) {
				b = a
			}
		}
	}
	if b == nil {
		return routing.AgentStatus{}, fmt.Errorf("claim for %s: %w", in.ID, routing.ErrUnavailable)
	}
	s.calls[in.ID] = &call{
		Call: routing.Call{
			ID: in.ID, CaseID: in.CaseID, Topic: in.Topic, CallerNumber: in.CallerNumber, Lang: in.Lang,
			Node: o.node, AgentID: b.ID, State: routing.CallRinging, EnqueuedAt: o.now,
		},
		ringDeadline: o.now.Add(o.ring),
		direct:       true,
	}
	b.State, b.CallID, b.Since = routing.StateRinging, in.ID, o.now
	return b.status(), nil
}

// consulted finds the claimed target of a consulting call, for the three
// operations a target's answer leads to.
func (s *Store) consulted(callID, target string) (*agent, *call, error) {
	a := s.agents[target]
	if a == nil {
		return nil, nil, notFound("agent", target)
	}
	c := s.calls[callID]
	if c == nil {
		return nil, nil, notFound("call", callID)
	}
	return a, c, nil
}

// ringsFor: the target a is claimed by consulting call c and still rings.
func ringsFor(a *agent, c *call) bool {
	return c.State == routing.CallConsulting && c.ConsultAgent == a.ID && a.State == routing.StateRinging && a.CallID == c.ID
}

// ConsultAnswered moves the claimed target's deadline to until: they
// answered, and the consult is timed from there.
func (s *Store) ConsultAnswered(_ context.Context, callID, target string, until time.Time, _ routing.Timing) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, c, err := s.consulted(callID, target)
	if err != nil {
		return fmt.Errorf("consult answered: %w", err)
	}
	if !ringsFor(a, c) {
		return fmt.Errorf("consult answered: %w", illegal(string(a.State)))
	}
	c.consultDeadline = msTime(until)
	return nil
}

// AcceptClaim connects the claimed target with the caller; the agent who
// transferred ends their talk (wrap-up), and newTopic, if set, becomes the
// call's topic.
func (s *Store) AcceptClaim(_ context.Context, callID, target, newTopic string, t routing.Timing) (routing.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.begin(t)
	a, c, err := s.consulted(callID, target)
	if err != nil {
		return routing.Decision{}, fmt.Errorf("accept claim: %w", err)
	}
	if !ringsFor(a, c) {
		return routing.Decision{}, fmt.Errorf("accept claim: %w", illegal(string(a.State)))
	}
	from := o.holding(c.AgentID, routing.StateOnCall, c.ID)
	a.State, a.Since = routing.StateOnCall, o.now
	talked := c.Topic
	c.AgentID, c.ConsultAgent, c.State, c.consultDeadline = a.ID, "", routing.CallConnected, time.Time{}
	if newTopic != "" {
		c.Topic = newTopic
	}
	d := routing.Decision{Agent: a.status(), Call: c.snapshot()}
	if from != nil {
		o.endTalk(from, talked)
	}
	d.Offers = o.offers
	return d, nil
}

// ReleaseClaim gives the caller back to the agent who transferred; the
// claimed target, if still ringing for the call, is freed, or paused "no
// answer" with noAnswer.
func (s *Store) ReleaseClaim(_ context.Context, callID, target string, noAnswer bool, t routing.Timing) (routing.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.begin(t)
	a, c, err := s.consulted(callID, target)
	if err != nil {
		return routing.Decision{}, fmt.Errorf("release claim: %w", err)
	}
	if c.State != routing.CallConsulting || c.ConsultAgent != a.ID {
		return routing.Decision{}, fmt.Errorf("release claim: %w", illegal(string(c.State)))
	}
	ringing := a.State == routing.StateRinging && a.CallID == c.ID
	c.State, c.ConsultAgent, c.consultDeadline = routing.CallConnected, "", time.Time{}
	d := routing.Decision{Agent: a.status(), Call: c.snapshot()}
	switch {
	case ringing && noAnswer:
		a.State, a.Reason, a.Since, a.CallID, a.PauseAfter = routing.StatePaused, routing.ReasonNoAnswer, o.now, "", ""
		d.Agent = o.settle(a)
	case ringing:
		d.Agent = o.free(a)
	}
	d.Offers = o.offers
	return d, nil
}
