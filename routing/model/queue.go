package model

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// maxPairs bounds the pairs one operation makes, as the Redis store bounds
// one script's; Dispatch pairs until nothing more can be paired.
const maxPairs = 32

// op is one atomic routing decision in progress: its timing, and the
// offers it has made so far.
type op struct {
	s      *Store
	now    time.Time
	ring   time.Duration
	wrap   time.Duration
	node   string // the node deciding: offers for other nodes' calls are published
	offers []routing.Offer
}

func (s *Store) begin(t routing.Timing) *op {
	return &op{s: s, now: msTime(t.Now), ring: msDur(t.RingTimeout), wrap: msDur(t.WrapUp), node: t.Node}
}

// Pairing.
//
// A topic's queue is its queued calls, oldest place first (then by call
// id). Its free agents are its available agents, best first: the lowest
// priority number for the topic, then the longest idle, then by id.
// Callers of a node whose heartbeat lapsed are passed over (nobody could
// connect them) but keep their places.

func (o *op) queue(topic string) []*call {
	var q []*call
	for _, c := range o.s.calls {
		if c.State == routing.CallQueued && c.Topic == topic {
			q = append(q, c)
		}
	}
	slices.SortFunc(q, func(x, y *call) int { return byTimeThenID(x.EnqueuedAt, x.ID, y.EnqueuedAt, y.ID) })
	return q
}

// liveHead is the first caller in the topic's queue whose node is alive.
func (o *op) liveHead(topic string) *call {
	for _, c := range o.queue(topic) {
		if o.alive(c.Node) {
			return c
		}
	}
	return nil
}

// bestAgent is the topic's best available agent not in exclude, or nil.
func (o *op) bestAgent(topic string, exclude map[string]bool) *agent {
	var best *agent
	for _, a := range o.s.agents {
		p, serves := a.Topics[topic]
		if !serves || a.State != routing.StateAvailable || exclude[a.ID] {
			continue
		}
		if best == nil {
			best = a
			continue
		}
		bp := best.Topics[topic]
		if p < bp || (p == bp && byTimeThenID(a.IdleSince, a.ID, best.IdleSince, best.ID) < 0) {
			best = a
		}
	}
	return best
}

// alive tells whether node n runs: its heartbeat has not run out. A call
// with no node, and the node deciding now, count as alive; a node never
// heard of does not.
func (o *op) alive(n string) bool {
	if n == "" || n == o.node {
		return true
	}
	exp, ok := o.s.alive[n]
	return ok && !exp.Before(o.now)
}

// dispatch pairs waiting callers with free agents in the topics, at most
// limit pairs: each time the live caller who has waited longest at the
// head of any of the topics (equal places: the topic first by name) with
// that topic's best free agent, until no topic has both.
func (o *op) dispatch(topics []string, limit int) {
	for n := 0; n < limit; n++ {
		var head *call
		var topic string
		for _, t := range topics {
			if o.bestAgent(t, nil) == nil {
				continue
			}
			c := o.liveHead(t)
			if c == nil {
				continue
			}
			if head == nil || byTimeThenID(c.EnqueuedAt, t, head.EnqueuedAt, topic) < 0 {
				head, topic = c, t
			}
		}
		if head == nil {
			return
		}
		o.pair(head, o.bestAgent(topic, nil))
	}
}

// pair offers caller c to agent a: both ring until the ring timeout. The
// offer is published to the call's node if another node decided.
func (o *op) pair(c *call, a *agent) {
	c.State, c.AgentID, c.ringDeadline = routing.CallRinging, a.ID, o.now.Add(o.ring)
	a.State, a.CallID, a.Since = routing.StateRinging, c.ID, o.now
	offer := routing.Offer{
		CallID: c.ID, CaseID: c.CaseID, Topic: c.Topic, Node: c.Node,
		Agent: a.status(), RingDeadline: c.ringDeadline, CallbackID: c.CallbackID,
	}
	if c.Node != o.node {
		o.s.publish(c.Node, offer)
	}
	o.offers = append(o.offers, offer)
}

// requeue puts a call back in its place in line.
func (o *op) requeue(c *call) {
	c.State, c.AgentID, c.ringDeadline = routing.CallQueued, "", time.Time{}
}

// Enqueue adds the entry's call to its topic's queue and dispatches the
// topic. The entry's new case is created and the call's entry hop recorded
// first, whatever happens to the call (the Redis store sends all three in
// one pipeline). A call already queued or ringing keeps its place: its
// node, callback, language and number are updated. One in another topic,
// or in any other state, is refused (routing.ErrIllegalTransition). A new
// call's place is Call.EnqueuedAt, or now.
//
// What the caller is told is the position and topic statistics if they
// are still queued after the dispatch, nothing if they were offered.
func (s *Store) Enqueue(_ context.Context, e routing.Entry, t routing.Timing) (routing.Decision, routing.QueueInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.NewCase != nil {
		s.createCase(*e.NewCase)
	}
	s.startPath(e.Call.ID, e.Hop)
	o := s.begin(t)
	in := e.Call
	c := s.calls[in.ID]
	if c != nil {
		if c.State != routing.CallQueued && c.State != routing.CallRinging {
			return routing.Decision{}, routing.QueueInfo{}, fmt.Errorf("enqueue %s: %w", in.ID, illegal("call is "+string(c.State)))
		}
		if c.Topic != in.Topic {
			return routing.Decision{}, routing.QueueInfo{}, fmt.Errorf("enqueue %s: %w", in.ID, illegal("waiting in "+c.Topic))
		}
		c.Node, c.CallbackID, c.Lang, c.CallerNumber = in.Node, in.CallbackID, in.Lang, in.CallerNumber
	} else {
		place := msTime(in.EnqueuedAt)
		if place.IsZero() {
			place = o.now
		}
		c = &call{Call: routing.Call{
			ID: in.ID, CaseID: in.CaseID, Topic: in.Topic, CallerNumber: in.CallerNumber, Lang: in.Lang,
			Node: in.Node, CallbackID: in.CallbackID, State: routing.CallQueued, EnqueuedAt: place,
		}}
		s.calls[in.ID] = c
	}
	o.dispatch([]string{c.Topic}, maxPairs)
	var info routing.QueueInfo
	if c.State == routing.CallQueued {
		pos, st := o.stats(c.Topic, c)
		info = routing.QueueInfo{Position: pos, AgentsLoggedIn: st.AgentsLoggedIn, AgentsAvailable: st.AgentsAvailable, HandleTime: st.HandleTime}
	}
	return routing.Decision{Call: c.snapshot(), Offers: o.offers}, info, nil
}

// Dispatch pairs the topics' waiting callers with free agents until no
// more pairs can be made.
func (s *Store) Dispatch(_ context.Context, topics []string, t routing.Timing) ([]routing.Offer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.begin(t)
	o.dispatch(topics, math.MaxInt)
	return o.offers, nil
}

// Leave removes a caller who hung up while queued or ringing; a ringing
// agent is freed. A call talking (connected, consulting) is refused.
func (s *Store) Leave(_ context.Context, callID string, t routing.Timing) (routing.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.begin(t)
	c := s.calls[callID]
	if c == nil {
		return routing.Decision{}, fmt.Errorf("leave: %w", notFound("call", callID))
	}
	var a *agent
	switch c.State {
	case routing.CallQueued:
	case routing.CallRinging:
		a = o.holding(c.AgentID, routing.StateRinging, c.ID)
	default:
		return routing.Decision{}, fmt.Errorf("leave: %w", illegal(string(c.State)))
	}
	delete(s.calls, c.ID)
	d := routing.Decision{Call: c.ended()}
	if a != nil {
		d.Agent = o.free(a)
	}
	d.Offers = o.offers
	return d, nil
}

// Call returns a live call.
func (s *Store) Call(_ context.Context, id string) (routing.Call, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[id]
	if c == nil {
		return routing.Call{}, notFound("call", id)
	}
	return c.snapshot(), nil
}

// ActiveCalls returns every live call, oldest place first.
func (s *Store) ActiveCalls(context.Context) ([]routing.Call, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]routing.Call, 0, len(s.calls))
	for _, c := range s.calls {
		out = append(out, c.snapshot())
	}
	slices.SortFunc(out, func(x, y routing.Call) int { return byTimeThenID(x.EnqueuedAt, x.ID, y.EnqueuedAt, y.ID) })
	return out, nil
}

// stats is what a caller waiting in topic is told: their position (self
// nil, or not queued: 0) and the topic's statistics. A dead node's
// callers are in nobody's way: while some node's heartbeat has lapsed,
// they count neither ahead of anyone nor in the queue's length (a caller
// of a dead node is still told their own place). With no node dead, every
// queued caller counts, a caller of a node never heard of too: it has no
// heartbeat that lapsed (and is not offered, see alive).
func (o *op) stats(topic string, self *call) (int, routing.TopicStats) {
	st := routing.TopicStats{Topic: topic}
	for _, a := range o.s.agents {
		if _, serves := a.Topics[topic]; !serves || a.State == routing.StateOffline {
			continue
		}
		st.AgentsLoggedIn++
		if a.State == routing.StateAvailable {
			st.AgentsAvailable++
		}
	}
	st.HandleTime = time.Duration(o.s.handle[topic]) * time.Millisecond
	pos := 0
	q := o.queue(topic)
	if !o.now.IsZero() && o.someDead() {
		for _, c := range q {
			if self != nil && c.ID == self.ID {
				pos = st.Queued + 1
			}
			if o.alive(c.Node) {
				st.Queued++
			}
		}
		return pos, st
	}
	st.Queued = len(q)
	for i, c := range q {
		if self != nil && c.ID == self.ID {
			pos = i + 1
		}
	}
	return pos, st
}

// someDead tells whether a node other than the deciding one has a
// heartbeat that ran out.
func (o *op) someDead() bool {
	for n, exp := range o.s.alive {
		if n != o.node && exp.Before(o.now) {
			return true
		}
	}
	return false
}

// QueuePosition returns where a call is in its topic's queue (0 if it is
// not queued) and the topic's statistics.
func (s *Store) QueuePosition(_ context.Context, callID string, t routing.Timing) (int, routing.TopicStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[callID]
	if c == nil {
		return 0, routing.TopicStats{}, fmt.Errorf("queue position: %w", notFound("call", callID))
	}
	pos, st := s.begin(t).stats(c.Topic, c)
	return pos, st, nil
}

// TopicStats returns the live picture of one topic.
func (s *Store) TopicStats(_ context.Context, topic string, t routing.Timing) (routing.TopicStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, st := s.begin(t).stats(topic, nil)
	return st, nil
}

// TakeOver gives the deciding node a waiting caller of a dead node: the
// caller keeps their place and is offered from now on by this node, at
// once if an agent is free. A caller not queued, or of a live node, is
// refused: only one node wins.
func (s *Store) TakeOver(_ context.Context, callID string, t routing.Timing) (routing.Call, routing.Decision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.begin(t)
	c := s.calls[callID]
	if c == nil {
		return routing.Call{}, routing.Decision{}, fmt.Errorf("take over: %w", notFound("call", callID))
	}
	if c.State != routing.CallQueued {
		return routing.Call{}, routing.Decision{}, fmt.Errorf("take over: %w", illegal("call is "+string(c.State)))
	}
	if o.alive(c.Node) {
		return routing.Call{}, routing.Decision{}, fmt.Errorf("take over: %w", illegal("node "+c.Node+" is alive"))
	}
	c.Node = o.node
	o.dispatch([]string{c.Topic}, maxPairs)
	d := routing.Decision{Call: c.snapshot(), Offers: o.offers}
	return d.Call, d, nil
}

// Heartbeat records that node runs until expires. revived: it had no live
// heartbeat at now (never had one, or it ran out).
func (s *Store) Heartbeat(_ context.Context, node string, now, expires time.Time) (bool, error) {
	if node == "" {
		return false, fmt.Errorf("heartbeat: %w", errNoNode)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.alive[node]
	s.alive[node] = msTime(expires)
	return !ok || exp.Before(msTime(now)), nil
}
