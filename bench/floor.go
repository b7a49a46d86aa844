package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/hotline-project/hotline/ari"
)

// The floor is the least an ARI router can do, measured in the same run
// so the hotline's own decision cost shows as a ratio to it: on a
// caller's StasisStart it takes the longest-idle free agent from an
// in-memory list and originates the agent's channel (formats=ulaw), then
// answers the caller; on the agent's answer it bridges the two; when the
// agent hangs up it hangs up the caller and the agent takes the next
// waiting caller. A caller who finds no agent free waits, first come
// first served, on music on hold. No Redis, no cases, no announcements.
// Like the hotline, it asks Asterisk for the event types it reads alone.

// FloorOptions configure the floor router.
type FloorOptions struct {
	URL, User, Password string
	App                 string
	Agents              []string // extensions, rung as Local/EXT@AgentContext
	AgentContext        string
	MOHClass            string // "" is "default"
	RingTimeout         time.Duration
	Logger              *slog.Logger
	// Ready, when set, is closed once the events websocket is up.
	Ready chan<- struct{}
}

// RunFloor runs the floor router until ctx ends.
func RunFloor(ctx context.Context, o FloorOptions) error {
	if len(o.Agents) == 0 || o.App == "" || o.AgentContext == "" {
		return fmt.Errorf("%w: floor needs an application, agents and their context", ErrBadOptions)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MOHClass == "" {
		o.MOHClass = "default"
	}
	if o.RingTimeout <= 0 {
		o.RingTimeout = 15 * time.Second
	}
	f := &floor{o: o, msgs: make(chan floorMsg, 1<<16), free: append([]string(nil), o.Agents...),
		calls: map[string]*floorCall{}, legs: map[string]*floorCall{}}
	var once sync.Once
	c, err := ari.New(ari.Options{URL: o.URL, Application: o.App, Username: o.User, Password: o.Password,
		Logger: o.Logger, Events: []string{"StasisStart", "StasisEnd", "ChannelDestroyed"},
		Handler: func(ev ari.Event) { f.msgs <- floorMsg{ev: ev} },
		OnConnect: func(context.Context) {
			if o.Ready != nil {
				once.Do(func() { close(o.Ready) })
			}
		}})
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	f.c = c
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for {
		select {
		case <-ctx.Done():
			f.wg.Wait()
			<-done
			return nil
		case m := <-f.msgs:
			f.handle(ctx, m)
		}
	}
}

type floor struct {
	o    FloorOptions
	c    *ari.Client
	msgs chan floorMsg
	wg   sync.WaitGroup

	// Owned by the loop in RunFloor.
	free    []string     // idle agents, longest idle first
	waiting []*floorCall // callers without an agent, first come first
	calls   map[string]*floorCall
	legs    map[string]*floorCall
	seq     int
}

// floorMsg is an event, or the news that an agent's originate failed.
type floorMsg struct {
	ev     ari.Event
	failed *floorCall
}

type floorCall struct {
	caller, number string
	agent, leg     string
	answered       chan struct{} // closed once the caller is answered (or gone)
	moh            bool
	gone           bool
}

func (f *floor) async(fn func()) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		fn()
	}()
}

func (f *floor) handle(ctx context.Context, m floorMsg) {
	if c := m.failed; c != nil {
		// Asterisk refused the agent's channel: the agent goes back to the
		// end of the free list, the caller to the head of the queue.
		delete(f.legs, c.leg)
		f.free = append(f.free, c.agent)
		c.agent, c.leg = "", ""
		if !c.gone {
			f.waiting = append([]*floorCall{c}, f.waiting...)
		}
		f.dispatch(ctx)
		return
	}
	ev := m.ev
	if ev.Channel == nil {
		return
	}
	id := ev.Channel.ID
	switch ev.Type {
	case "StasisStart":
		if len(ev.Args) > 0 && ev.Args[0] == "agent" {
			c := f.legs[id]
			if c == nil || c.gone {
				f.async(func() { _ = f.c.Hangup(ctx, id, "normal") })
				return
			}
			f.async(func() { f.bridge(ctx, c) })
			return
		}
		c := &floorCall{caller: id, number: ev.Channel.CallerNumber, answered: make(chan struct{})}
		f.calls[id] = c
		f.waiting = append(f.waiting, c)
		f.dispatch(ctx)
		queued := c.agent == ""
		if queued {
			c.moh = true
		}
		f.async(func() {
			defer close(c.answered)
			if err := f.c.Answer(ctx, id); err != nil {
				return
			}
			if queued {
				_ = f.c.StartMOH(ctx, id, f.o.MOHClass)
			}
		})
	case "StasisEnd", "ChannelDestroyed":
		if c := f.legs[id]; c != nil {
			// The agent hung up (or never answered): the caller's call ends,
			// the agent is free for the next one.
			delete(f.legs, id)
			f.free = append(f.free, c.agent)
			f.end(ctx, c)
			f.dispatch(ctx)
			return
		}
		if c := f.calls[id]; c != nil {
			f.end(ctx, c)
		}
	}
}

// dispatch pairs waiting callers with free agents.
func (f *floor) dispatch(ctx context.Context) {
	for len(f.waiting) > 0 && len(f.free) > 0 {
		c := f.waiting[0]
		f.waiting = f.waiting[1:]
		if c.gone {
			continue
		}
		c.agent, f.free = f.free[0], f.free[1:]
		f.seq++
		c.leg = "floor-" + strconv.Itoa(f.seq)
		f.legs[c.leg] = c
		req := ari.OriginateRequest{ChannelID: c.leg, Endpoint: "Local/" + c.agent + "@" + f.o.AgentContext,
			App: f.o.App, AppArgs: []string{"agent", c.caller, c.agent}, CallerID: c.number,
			Timeout: f.o.RingTimeout, Formats: "ulaw"}
		f.async(func() {
			if _, err := f.c.Originate(ctx, req); err != nil && ctx.Err() == nil {
				f.o.Logger.Warn("floor: originate agent", "agent", req.Endpoint, "err", err)
				f.msgs <- floorMsg{failed: c}
			}
		})
	}
}

// bridge connects an answered agent to their caller.
func (f *floor) bridge(ctx context.Context, c *floorCall) {
	<-c.answered
	if c.moh {
		_ = f.c.StopMOH(ctx, c.caller)
	}
	id := "floor-b-" + c.leg
	if _, err := f.c.CreateBridge(ctx, id, "mixing", ""); err != nil {
		f.o.Logger.Warn("floor: create bridge", "err", err)
		_ = f.c.Hangup(ctx, c.leg, "normal")
		return
	}
	if err := f.c.AddToBridge(ctx, id, ari.JoinOptions{}, c.caller, c.leg); err != nil && !errors.Is(err, ari.ErrCallGone) {
		f.o.Logger.Warn("floor: bridge", "err", err)
	}
}

// end ends a call: whoever of caller and agent is still there is hung up
// and the bridge destroyed.
func (f *floor) end(ctx context.Context, c *floorCall) {
	if c.gone {
		return
	}
	c.gone = true
	delete(f.calls, c.caller)
	caller, leg := c.caller, c.leg
	f.async(func() {
		_ = f.c.Hangup(ctx, caller, "normal")
		if leg != "" {
			_ = f.c.Hangup(ctx, leg, "normal")
			_ = f.c.DestroyBridge(ctx, "floor-b-"+leg)
		}
	})
}
