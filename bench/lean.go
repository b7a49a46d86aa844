package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hotline-project/hotline/ari"
	"github.com/hotline-project/hotline/phones"
)

// caller is one placed call as the bench script drives it.
type caller interface {
	ID() string     // the phone's half of the Local pair
	PeerID() string // the hotline's half
	WaitConnected(ctx context.Context) error
	HungUp() bool
	Hangup(ctx context.Context) error
}

// lineDriver places callers (and, for the hotline's driver, answers the
// agents' phones by itself).
type lineDriver interface {
	Call(ctx context.Context, number, callerID string) (caller, error)
	Active() int
	Run(ctx context.Context) error
	Ready(ctx context.Context) error
}

// phonesDriver adapts the phones package's driver.
type phonesDriver struct{ *phones.Driver }

func (d phonesDriver) Call(ctx context.Context, number, callerID string) (caller, error) {
	p, err := d.Driver.Call(ctx, number, callerID)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// errEnded: the call ended before the condition waited for.
var errEnded = errors.New("call ended")

// leanDriver is a load generator on the hotline's own ARI client, for rates
// the phones driver cannot sustain: to find the hotline's half of an
// agent's Local pair it lists every channel per ring (GET /channels), so
// its cost grows with the number of live calls and, at several hundred
// calls/s with a queue, the simulator spends its time encoding channel
// lists. This driver needs no lookup: callers' pairs get both ids from us
// at originate, and an agent's phone only has to answer its own half.
// It keeps nothing but a caller's two ids and two flags.
type leanDriver struct {
	client *ari.Client
	log    *slog.Logger
	prefix string
	dial   string // dialplan context callers are placed into
	seq    atomic.Uint64

	mu     sync.Mutex
	calls  map[string]*leanCall // by both halves' ids
	runCtx context.Context
	wg     sync.WaitGroup
	ready  chan struct{}
	isUp   bool
}

// ringArg is the first Stasis argument of an agent's phone ringing, as the
// bench's agent context spells it (stasis:APP,ring,${EXTEN}).
const ringArg = "ring"

func newLeanDriver(url, user, password, app, dialContext string, log *slog.Logger) (*leanDriver, error) {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	d := &leanDriver{log: log, prefix: "bl-" + hex.EncodeToString(b[:]) + "-", dial: dialContext,
		calls: make(map[string]*leanCall), ready: make(chan struct{})}
	var c *ari.Client
	c, err := ari.New(ari.Options{URL: url, Application: app, Username: user, Password: password,
		Logger: log, Handler: d.handle, OnState: d.setUp,
		// A caller knows it is connected when the router's half of its
		// pair enters a bridge. Asterisk tells that only to applications
		// subscribed to the bridge (or with a channel in Stasis in it),
		// and the router makes its bridges itself: so, every bridge.
		OnConnect: func(ctx context.Context) {
			if err := c.Subscribe(ctx, "bridge:"); err != nil {
				log.Warn("lean driver: subscribe to every bridge", "err", err)
			}
		}})
	if err != nil {
		return nil, fmt.Errorf("lean driver: %w", err)
	}
	d.client = c
	return d, nil
}

func (d *leanDriver) Run(ctx context.Context) error {
	d.mu.Lock()
	d.runCtx = ctx
	d.mu.Unlock()
	err := d.client.Run(ctx)
	d.wg.Wait()
	return err
}

func (d *leanDriver) setUp(up bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if up && !d.isUp {
		close(d.ready)
	}
	if !up && d.isUp {
		d.ready = make(chan struct{})
	}
	d.isUp = up
}

func (d *leanDriver) Ready(ctx context.Context) error {
	d.mu.Lock()
	ch := d.ready
	d.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("lean driver ready: %w", ctx.Err())
	}
}

func (d *leanDriver) Call(ctx context.Context, number, callerID string) (caller, error) {
	base := d.prefix + strconv.FormatUint(d.seq.Add(1), 10)
	c := &leanCall{d: d, id: base + "-1", peer: base + "-2", changed: make(chan struct{})}
	d.mu.Lock()
	d.calls[c.id], d.calls[c.peer] = c, c
	d.mu.Unlock()
	_, err := d.client.Originate(ctx, ari.OriginateRequest{ChannelID: c.id, OtherChannelID: c.peer,
		Endpoint: "Local/" + number + "@" + d.dial, App: d.client.Application(), AppArgs: []string{"caller"},
		CallerID: callerID})
	if err != nil {
		c.end()
		return nil, fmt.Errorf("call %s: %w", number, err)
	}
	return c, nil
}

func (d *leanDriver) Active() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls) / 2
}

// handle runs on the client's reader goroutine and must not block.
func (d *leanDriver) handle(ev ari.Event) {
	if ev.Channel == nil {
		return
	}
	switch ev.Type {
	case "StasisStart":
		if len(ev.Args) == 2 && ev.Args[0] == ringArg {
			d.answer(ev.Channel.ID)
		}
	case "ChannelEnteredBridge":
		if c := d.lookup(ev.Channel.ID); c != nil && ev.Channel.ID == c.peer {
			c.set(func() { c.connected = true })
		}
	case "ChannelDestroyed", "StasisEnd":
		if c := d.lookup(ev.Channel.ID); c != nil {
			c.end()
		}
	}
}

// answer picks up an agent's phone off the reader goroutine.
func (d *leanDriver) answer(id string) {
	d.mu.Lock()
	ctx := d.runCtx
	if ctx == nil || ctx.Err() != nil {
		d.mu.Unlock()
		return
	}
	d.wg.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.wg.Done()
		if err := d.client.Answer(ctx, id); err != nil && !errors.Is(err, ari.ErrCallGone) {
			d.log.Warn("answer agent phone", "channel", id, "err", err)
		}
	}()
}

func (d *leanDriver) lookup(id string) *leanCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[id]
}

// leanCall is one caller of the lean driver.
type leanCall struct {
	d        *leanDriver
	id, peer string

	mu        sync.Mutex
	connected bool
	ended     bool
	changed   chan struct{} // closed and replaced on every change
}

func (c *leanCall) ID() string     { return c.id }
func (c *leanCall) PeerID() string { return c.peer }

func (c *leanCall) set(f func()) {
	c.mu.Lock()
	f()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (c *leanCall) end() {
	c.d.mu.Lock()
	delete(c.d.calls, c.id)
	delete(c.d.calls, c.peer)
	c.d.mu.Unlock()
	c.set(func() { c.ended = true })
}

func (c *leanCall) HungUp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

func (c *leanCall) WaitConnected(ctx context.Context) error {
	for {
		c.mu.Lock()
		connected, ended, ch := c.connected, c.ended, c.changed
		c.mu.Unlock()
		switch {
		case connected:
			return nil
		case ended:
			return errEnded
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait connected: %w", ctx.Err())
		case <-ch:
		}
	}
}

func (c *leanCall) Hangup(ctx context.Context) error {
	if err := c.d.client.Hangup(ctx, c.id, "normal"); err != nil && !errors.Is(err, ari.ErrCallGone) {
		return fmt.Errorf("hang up %s: %w", c.id, err)
	}
	return nil
}
