package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hotline-project/hotline/routing"
)

// UpdateKind names what changed; it is the SSE event name.
type UpdateKind string

// Update kinds.
const (
	UpdateAgent    UpdateKind = "agent"
	UpdateCall     UpdateKind = "call"
	UpdateQueue    UpdateKind = "queue"
	UpdateCallback UpdateKind = "callback"
	UpdateRequest  UpdateKind = "request"
)

// Update is one state change for the live views. Senior and admin tokens
// receive every update whole. An agent token receives what the REST API
// shows that agent (see Server.eventFilter): its own agent, the calls it
// is on or offered, its callbacks and requests, the queue depths of its
// topics, and of a call handed on from it only that it left.
type Update struct {
	Seq  uint64 // assigned by the Hub, increasing; the SSE event id
	Kind UpdateKind
	// Agents are the agents the change concerns: an agent update's agent,
	// a call's agent, a callback's owner, a request's author.
	Agents []string
	// CallID is the call an agent update points at (the one offered to or
	// handled by the agent) or a call update is about.
	CallID string
	Topic  string // the queue of a queue depth update
	Data   any    // JSON-encodable payload; the Hub encodes it once
	// Former are agents who had the call before (a completed transfer):
	// the REST API no longer shows it to them, so they receive Brief, its
	// id alone, for their desk to let it go.
	Former []string
	Brief  any
}

// AgentUpdate announces an agent's new state to that agent (and seniors).
func AgentUpdate(a routing.AgentStatus) Update {
	return Update{Kind: UpdateAgent, Agents: []string{a.ID}, CallID: a.CallID, Data: agentView(a)}
}

// CallUpdate announces a call's change to its agent and to the agent it is
// offered to (a ringing agent, a transfer target), who may read it over
// REST too. formerAgents had the call before it was handed on and are told
// only its id. A queued call is announced to nobody but seniors: agents
// see the queue's depth (QueueUpdate), never who is in it.
func CallUpdate(c Call, formerAgents ...string) Update {
	u := Update{Kind: UpdateCall, CallID: c.ID, Data: callView(c)}
	if c.AgentID != "" {
		u.Agents = []string{c.AgentID}
	}
	for _, a := range formerAgents {
		if a != c.AgentID {
			u.Former = append(u.Former, a)
		}
	}
	if len(u.Former) > 0 {
		u.Brief = callBrief{ID: c.ID}
	}
	return u
}

// callBrief is all a former agent learns of a call handed on.
type callBrief struct {
	ID string `json:"id"`
}

// QueueUpdate announces a topic queue's new depth to the topic's agents.
func QueueUpdate(topic string, waiting int) Update {
	return Update{Kind: UpdateQueue, Topic: topic, Data: queueJSON{Topic: topic, Waiting: waiting}}
}

// CallbackUpdate announces a callback's change to its owner (and seniors).
func CallbackUpdate(cb Callback) Update {
	u := Update{Kind: UpdateCallback, Data: callbackView(cb)}
	if cb.Owner != "" {
		u.Agents = []string{cb.Owner}
	}
	return u
}

// RequestUpdate announces a new or changed request or complaint to the
// seniors' list and to the agent who filed it.
func RequestUpdate(r Request) Update {
	u := Update{Kind: UpdateRequest, Data: requestView(r)}
	if r.CreatedBy != "" {
		u.Agents = []string{r.CreatedBy}
	}
	return u
}

type queueJSON struct {
	Topic   string `json:"topic"`
	Waiting int    `json:"waiting"`
}

// HubOptions configures a Hub.
type HubOptions struct {
	// Buffer is how many updates a subscriber may lag behind before it is
	// dropped. Default 256.
	Buffer int
	Logger *slog.Logger
}

// Hub fans updates out to subscribers. Publish never blocks: the daemon's
// routing must not wait on a slow browser. A subscriber whose buffer is full
// is dropped (its channel closed); the events stream then tells the client,
// which reconnects and refetches its snapshot, so a slow reader costs
// itself a refresh rather than costing everyone else latency or memory.
type Hub struct {
	buffer  int
	logger  *slog.Logger
	seq     atomic.Uint64
	dropped atomic.Uint64

	mu   sync.Mutex
	subs map[*subscriber]struct{}
}

type subscriber struct {
	ch   chan Update
	view func(Update) (Update, bool)
	stop func() bool // unregisters the context watch
}

// NewHub returns an empty hub.
func NewHub(opts HubOptions) *Hub {
	if opts.Buffer <= 0 {
		opts.Buffer = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{buffer: opts.Buffer, logger: opts.Logger, subs: make(map[*subscriber]struct{})}
}

var _ Updates = (*Hub)(nil)

// Subscribe registers a subscriber until ctx ends. view (nil: every update
// as it is) returns each update as the subscriber may see it, or false to
// skip it. It runs for every update, in publishing order, under the hub's
// lock on Publish's goroutine, so it must be quick and must not call back
// into the hub.
func (h *Hub) Subscribe(ctx context.Context, view func(Update) (Update, bool)) <-chan Update {
	s := &subscriber{ch: make(chan Update, h.buffer), view: view}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	// AfterFunc rather than a goroutine per subscriber: nothing runs until
	// the context ends.
	s.stop = context.AfterFunc(ctx, func() { h.remove(s) })
	return s.ch
}

// remove closes s's channel once, whoever gets there first (its context
// ending, or Publish dropping it).
func (h *Hub) remove(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

// Publish sends u to every subscriber that accepts it, without blocking.
// The payloads (Data, Brief) are encoded once here; subscribers receive
// them as json.RawMessage.
func (h *Hub) Publish(u Update) {
	h.mu.Lock()
	n := len(h.subs)
	h.mu.Unlock()
	if n == 0 {
		return
	}
	raw, err := json.Marshal(u.Data)
	if err != nil {
		h.logger.Error("encode update", "kind", string(u.Kind), "err", err)
		return
	}
	u.Data = json.RawMessage(raw)
	if u.Brief != nil {
		if raw, err = json.Marshal(u.Brief); err != nil {
			h.logger.Error("encode update", "kind", string(u.Kind), "err", err)
			return
		}
		u.Brief = json.RawMessage(raw)
	}
	u.Seq = h.seq.Add(1)

	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		v := u
		if s.view != nil {
			var ok bool
			if v, ok = s.view(u); !ok {
				continue
			}
		}
		select {
		case s.ch <- v:
		default:
			delete(h.subs, s)
			close(s.ch)
			s.stop()
			h.dropped.Add(1)
			h.logger.Warn("events subscriber dropped: buffer full", "buffer", h.buffer)
		}
	}
}

// Subscribers is the current number of subscribers.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Dropped counts subscribers dropped for falling behind, for metrics.
func (h *Hub) Dropped() uint64 { return h.dropped.Load() }
