package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline-project/hotline/ari"
)

// The observer is an ARI application subscribed to every channel
// (eventSource "channel:" with an empty id) that timestamps, with one
// clock, what every system measured does with the bench's callers and
// agents: app_queue's calls never touch ARI, yet its channels are seen
// exactly as the hotline's are. An event filter keeps Asterisk from
// sending it more than the four types it reads.

// obsKind is an observed event type.
type obsKind uint8

const (
	evCreated   obsKind = iota + 1 // ChannelCreated
	evDestroyed                    // ChannelDestroyed
	evUp                           // ChannelStateChange to Up
	evDialplan                     // ChannelDialplan
)

// obsEvent is one observed event about one of the bench's channels.
type obsEvent struct {
	At     time.Time     // when it happened (eventTime), on the wall clock
	Read   time.Time     // when the observer read it
	Lag    time.Duration // At − Asterisk's own timestamp (which has ms resolution)
	Kind   obsKind
	ID     string
	Name   string
	Caller string // caller number in the snapshot
	App    string // evDialplan: the application now running
}

var observedTypes = map[string]obsKind{
	"ChannelCreated": evCreated, "ChannelDestroyed": evDestroyed,
	"ChannelStateChange": evUp, "ChannelDialplan": evDialplan,
}

// Observer records the bench's channels' events.
type Observer struct {
	client *ari.Client
	ast    *Asterisk
	log    *slog.Logger

	mu       sync.Mutex
	events   []obsEvent
	live     map[string]bool // the bench's channels not destroyed yet
	ready    chan struct{}
	isUp     bool
	dialplan bool // ChannelDialplan events wanted

	agentsUp atomic.Int64 // agents' phones answered (their ;2 halves Up)
}

// callerPrefix starts the channel ids of the bench's callers.
const callerPrefix = "hlbc-"

// ours reports whether a channel is one of the bench's: a caller (by the
// id the bench gave it) or an agent's phone (by its Local name).
func ours(id, name string) bool {
	return strings.HasPrefix(id, callerPrefix) || isAgentChannel(name)
}

func isAgentChannel(name string) bool {
	return strings.HasPrefix(name, "Local/") && strings.Contains(name, "@"+agentsContext+"-")
}

// NewObserver builds the observer; Run connects it.
func NewObserver(a *Asterisk, log *slog.Logger) (*Observer, error) {
	o := &Observer{ast: a, log: log, live: map[string]bool{}, ready: make(chan struct{}), dialplan: true}
	c, err := ari.New(ari.Options{URL: a.URL, Application: observerApp, Username: a.User, Password: a.Password,
		Logger: log, Handler: o.handle, OnConnect: o.connected})
	if err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	o.client = c
	return o, nil
}

// Run reads events until ctx ends.
func (o *Observer) Run(ctx context.Context) error { return o.client.Run(ctx) }

func (o *Observer) connected(ctx context.Context) {
	if err := o.client.Subscribe(ctx, "channel:"); err != nil {
		o.log.Error("observer: subscribe to all channels", "err", err)
		return
	}
	o.mu.Lock()
	dialplan := o.dialplan
	o.mu.Unlock()
	o.filter(ctx, dialplan)
	o.mu.Lock()
	if !o.isUp {
		o.isUp = true
		close(o.ready)
	}
	o.mu.Unlock()
}

// SetDialplan turns ChannelDialplan events on or off. They mark the
// moment a caller enters Stasis() or Queue() and an agent's phone runs
// Hangup(), but they are half the events of a call: Asterisk converts
// each to JSON before the filter drops what is not allowed, so the
// capacity levels run without them.
func (o *Observer) SetDialplan(ctx context.Context, on bool) {
	o.mu.Lock()
	o.dialplan = on
	o.mu.Unlock()
	o.filter(ctx, on)
}

func (o *Observer) filter(ctx context.Context, dialplan bool) {
	var allowed []map[string]string
	for t, k := range observedTypes {
		if k != evDialplan || dialplan {
			allowed = append(allowed, map[string]string{"type": t})
		}
	}
	body, _ := json.Marshal(map[string]any{"allowed": allowed})
	if err := o.ast.do(ctx, http.MethodPut, "applications/"+observerApp+"/eventFilter", nil, body); err != nil {
		// Without a filter Asterisk sends every channel event: more work
		// for it, the same figures. Say so and go on.
		o.log.Warn("observer: event filter refused; Asterisk sends every channel event", "err", err)
	}
}

// Ready waits for the subscription.
func (o *Observer) Ready(ctx context.Context) error {
	select {
	case <-o.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("observer ready: %w", ctx.Err())
	}
}

// Unsubscribe drops the all-channels subscription before the websocket
// closes.
func (o *Observer) Unsubscribe(ctx context.Context) {
	_ = o.ast.do(ctx, http.MethodDelete, "applications/"+observerApp+"/subscription",
		url.Values{"eventSource": {"channel:"}}, nil)
}

type dialplanApp struct {
	App string `json:"dialplan_app"`
}

// handle runs on the client's reader goroutine: it only records.
func (o *Observer) handle(ev ari.Event) {
	now := time.Now().Round(0) // wall clock, as Asterisk's timestamps are
	kind, ok := observedTypes[ev.Type]
	if !ok || ev.Channel == nil || !ours(ev.Channel.ID, ev.Channel.Name) {
		return
	}
	e := obsEvent{At: eventTime(now, ev.Timestamp), Read: now, Lag: now.Sub(ev.Timestamp), Kind: kind, ID: ev.Channel.ID,
		Name: ev.Channel.Name, Caller: ev.Channel.CallerNumber}
	switch kind {
	case evUp:
		if ev.Channel.State != "Up" {
			return
		}
		if isAgentChannel(e.Name) && strings.HasSuffix(e.Name, ";2") {
			o.agentsUp.Add(1)
		}
	case evDialplan:
		var d dialplanApp
		if json.Unmarshal(ev.Raw, &d) == nil {
			e.App = d.App
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	switch kind {
	case evCreated:
		o.live[e.ID] = true
	case evDestroyed:
		delete(o.live, e.ID)
	}
	o.events = append(o.events, e)
}

// eventTime is the best bound on when an event happened in Asterisk:
// Asterisk stamps it when it happens, truncated to the millisecond, and
// the observer reads it later; the event happened before both
// read+0 and stamp+1ms. A prompt observer gives its own microseconds, a
// lagging one (under load Asterisk's queue to it grows) is held to the
// stamp's millisecond, so a backlog does not shift the times.
func eventTime(read, stamp time.Time) time.Time {
	if stamp.IsZero() {
		return read
	}
	if up := stamp.Add(time.Millisecond); up.Before(read) {
		return up
	}
	return read
}

// Take returns the events recorded since the last Take and starts afresh.
func (o *Observer) Take() []obsEvent {
	o.mu.Lock()
	defer o.mu.Unlock()
	ev := o.events
	o.events = nil
	return ev
}

// Live is how many of the bench's channels exist.
func (o *Observer) Live() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.live)
}

// LiveIDs lists them.
func (o *Observer) LiveIDs() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]string, 0, len(o.live))
	for id := range o.live {
		out = append(out, id)
	}
	return out
}

// forget drops the channels the observer thinks live (Asterisk has none
// of them any more).
func (o *Observer) forget() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.live = map[string]bool{}
}

// AgentsAnswered counts agents' phones answered so far.
func (o *Observer) AgentsAnswered() int64 { return o.agentsUp.Load() }
