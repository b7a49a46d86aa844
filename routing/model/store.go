package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hotline-project/hotline/routing"
)

var (
	_ routing.QueueStore    = (*Store)(nil)
	_ routing.CaseStore     = (*Store)(nil)
	_ routing.CallbackStore = (*Store)(nil)
	_ routing.RequestStore  = (*Store)(nil)
)

// Options configure a Store.
type Options struct {
	// HandleTimeAlpha is the weight of the newest call in a topic's
	// exponentially weighted mean handle time; default 0.1, as in
	// redisstore.
	HandleTimeAlpha float64
}

// Store is the whole shared state of a hotline. Every method is one
// atomic step under mu, as every method of the Redis store is one script
// (or a few, where the Redis store also needs several).
type Store struct {
	alpha float64

	mu sync.Mutex

	// Routing: agents, the calls the routing core knows (queued, ringing,
	// talking), each topic's mean handle time, and when each node's
	// heartbeat runs out. A topic's queue is its queued calls in order
	// (queue); a topic's free agents are its available agents in order
	// (bestAgent): the model derives both where Redis keeps sorted sets.
	agents map[string]*agent
	calls  map[string]*call
	handle map[string]float64 // topic → mean handle time, ms
	alive  map[string]time.Time
	subs   map[string][]chan routing.Offer // node → its offer subscriptions

	// Cases: by id, the open case of each caller number, and each call's
	// transfer path.
	cases    map[string]*kase
	byNumber map[string]string
	paths    map[string]*path

	callbacks map[string]*callback
	dedupe    map[string]string // dedupe key → callback id

	requests map[string]routing.Request
}

// New returns an empty Store.
func New(opts Options) *Store {
	if opts.HandleTimeAlpha <= 0 || opts.HandleTimeAlpha > 1 {
		opts.HandleTimeAlpha = 0.1
	}
	return &Store{
		alpha:     opts.HandleTimeAlpha,
		agents:    map[string]*agent{},
		calls:     map[string]*call{},
		handle:    map[string]float64{},
		alive:     map[string]time.Time{},
		subs:      map[string][]chan routing.Offer{},
		cases:     map[string]*kase{},
		byNumber:  map[string]string{},
		paths:     map[string]*path{},
		callbacks: map[string]*callback{},
		dedupe:    map[string]string{},
		requests:  map[string]routing.Request{},
	}
}

// agent is an agent as the store holds it.
type agent struct {
	routing.AgentStatus
	// removed: taken out of the configuration while ringing, talking or
	// in wrap-up; deleted when that ends, so the call is not cut.
	removed bool
	// wrapDue is when a wrap-up ends (state wrap_up only).
	wrapDue time.Time
}

// status is what the store answers about an agent: a copy.
func (a *agent) status() routing.AgentStatus {
	st := a.AgentStatus
	st.Topics = cloneTopics(a.Topics)
	return st
}

// topics are the agent's topics, sorted.
func (a *agent) topics() []string {
	ts := make([]string, 0, len(a.Topics))
	for t := range a.Topics {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// busy: the agent has a call (ringing, talking or wrapping up).
func (a *agent) busy() bool {
	return a.State == routing.StateRinging || a.State == routing.StateOnCall || a.State == routing.StateWrapUp
}

// call is a call as the store holds it. Call.EnqueuedAt is its place in
// line, kept when it goes back to the queue.
type call struct {
	routing.Call
	// ringDeadline: while ringing, when the offer rings out (the sweep
	// frees the agent SweepGrace after it, if the node died).
	ringDeadline time.Time
	// consultDeadline: while consulting, the same for the claimed target;
	// moved to the consult's own limit once the target answers.
	consultDeadline time.Time
	// direct: rung for an agent with ClaimFor, in no queue, so it has no
	// place to go back to; it ends instead.
	direct bool
}

func (c *call) snapshot() routing.Call { return c.Call }

// ended is the call as an operation that ended it answers with it.
func (c *call) ended() routing.Call {
	v := c.Call
	v.State = routing.CallEnded
	return v
}

func cloneTopics(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// msTime cuts t to the millisecond, the store's resolution; the zero time
// (and the epoch) stay zero, as the Redis store's 0 does.
func msTime(t time.Time) time.Time {
	if t.IsZero() || t.UnixMilli() == 0 {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// msDur cuts d to whole milliseconds.
func msDur(d time.Duration) time.Duration {
	return time.Duration(d.Milliseconds()) * time.Millisecond
}

// Errors, with the sentinels the routing core branches on.

func notFound(what, id string) error { return fmt.Errorf("%s %s: %w", what, id, routing.ErrNotFound) }

func illegal(what string) error { return fmt.Errorf("%s: %w", what, routing.ErrIllegalTransition) }

var errNoNode = errors.New("heartbeat needs a node name")

// byTimeThenID orders by a time, then by id: how a Redis sorted set
// orders members of equal score.
func byTimeThenID(at1 time.Time, id1 string, at2 time.Time, id2 string) int {
	if c := at1.Compare(at2); c != 0 {
		return c
	}
	return strings.Compare(id1, id2)
}

// roundHalfEven rounds to a whole number, half to even, as C's %.0f does.
func roundHalfEven(v float64) float64 { return math.RoundToEven(v) }
