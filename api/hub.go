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

// Update is one state change for the live views. Agents and Topic decide who
// sees it: an agent token receives an update that names its agent id or one
// of its topics; senior and admin tokens receive everything.
type Update struct {
	Seq    uint64 // assigned by the Hub, increasing; the SSE event id
	Kind   UpdateKind
	Agents []string // agent ids the change concerns
	Topic  string   // queue the change concerns, if any
	Data   any      // JSON-encodable payload; the Hub encodes it once
}

// AgentUpdate announces an agent's new state to that agent (and seniors).
func AgentUpdate(a routing.AgentStatus) Update {
	return Update{Kind: UpdateAgent, Agents: []string{a.ID}, Data: agentView(a)}
}

// CallUpdate announces a call's change to its agent and to any others named
// (a transfer target). A queued call also concerns its topic's agents.
func CallUpdate(c Call, alsoAgents ...string) Update {
	u := Update{Kind: UpdateCall, Data: callView(c)}
	if c.AgentID != "" {
		u.Agents = append(u.Agents, c.AgentID)
	}
	u.Agents = append(u.Agents, alsoAgents...)
	if c.State == CallQueued {
		u.Topic = c.Topic
	}
	return u
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
	ch     chan Update
	accept func(Update) bool
	stop   func() bool // unregisters the context watch
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

// Subscribe registers a subscriber until ctx ends. accept (nil: everything)
// runs under the hub's lock on Publish's goroutine, so it must be quick and
// must not call back into the hub.
func (h *Hub) Subscribe(ctx context.Context, accept func(Update) bool) <-chan Update {
	s := &subscriber{ch: make(chan Update, h.buffer), accept: accept}
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
// The payload is encoded once here; subscribers receive it as
// json.RawMessage.
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
	u.Seq = h.seq.Add(1)

	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.accept != nil && !s.accept(u) {
			continue
		}
		select {
		case s.ch <- u:
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
