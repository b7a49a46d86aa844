// Package phones plays the hotline's callers and agents through ARI only,
// so the same scripts run against the simulated Asterisk (asterisksim) and
// a real Asterisk 22 whose dialplan follows deploy/asterisk/extensions.conf.
// The end-to-end suite, `hotline demo` and `hotline bench` use it.
//
// The driver is a second ARI application (default name "phones") beside
// the hotline's own:
//
//   - A caller is placed by originating Local/<number>@<CallerContext> with
//     app=phones. The ;1 half is the caller's phone; its ;2 half runs
//     Stasis(hotline,<number>) and is what the hotline talks to.
//   - An agent's phone (and a caller's number dialled back) is an endpoint
//     Local/<ext>@<PhonesContext> in the hotline configuration. When the
//     hotline originates it, the ;2 half enters Stasis(phones,<ext>); the
//     driver hands it to the AgentPhone registered for <ext>, which
//     answers, lets it ring or rejects it as the script said.
//
// Either way a Phone is one half of a Local pair whose other half (the
// peer) belongs to the hotline. The driver subscribes to the peer, so it
// sees what the hotline plays to it (PlaybackStarted: Heard),
// whether it is bridged (ChannelEnteredBridge: Connected) and when the
// pair ends (HungUp, and by whom). DTMF sent on the phone's half arrives
// on the peer, as a real phone's digits would.
//
// Everything is event driven: waits block on the phone's state changing,
// never on sleeps. All methods are safe for concurrent use. Run must be
// running (and connected: Ready) for phones to work; its goroutines end
// when its context does.
package phones

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline-project/hotline/ari"
)

// Sentinel errors.
var (
	// ErrHungUp is returned by waits whose condition can no longer come
	// true because the phone's call has ended.
	ErrHungUp = errors.New("phone hung up")
	// ErrNotRunning is returned when the driver's Run has ended.
	ErrNotRunning = errors.New("phones driver not running")
	// ErrInvalidOptions is wrapped by New for unusable options.
	ErrInvalidOptions = errors.New("invalid phones options")
)

// AnswerMode is what an AgentPhone does when it rings.
type AnswerMode int

// Answer modes.
const (
	// AnswerAuto answers at once (after subscribing to the hotline's half,
	// so nothing played after the answer is missed).
	AnswerAuto AnswerMode = iota
	// AnswerNever lets it ring until the hotline gives up or the script
	// calls Answer or Hangup on the Phone from Ringing.
	AnswerNever
	// AnswerReject hangs up with cause busy.
	AnswerReject
)

func (m AnswerMode) String() string {
	switch m {
	case AnswerAuto:
		return "auto"
	case AnswerNever:
		return "never"
	case AnswerReject:
		return "reject"
	}
	return "AnswerMode(" + strconv.Itoa(int(m)) + ")"
}

// Who ended a call, as HungUpBy reports it.
const (
	ByPhone  = "phone"  // this phone's Hangup (or reject)
	ByRemote = "remote" // the hotline's side or Asterisk
)

// Options configure a Driver.
type Options struct {
	// URL is the ARI base, e.g. http://127.0.0.1:8088/ari.
	URL, Username, Password string
	// App is the driver's ARI application name; "" means "phones". It must
	// match the Stasis() application of PhonesContext.
	App string
	// CallerContext is the dialplan context whose extensions enter the
	// hotline ("" means "hotline"); PhonesContext is the one agents'
	// endpoints and dialled-back callers use ("" means "phones"; only
	// recorded for Endpoint).
	CallerContext, PhonesContext string
	// DefaultAnswer is the mode of an extension nobody registered with
	// Agent or Line before it rang.
	DefaultAnswer AnswerMode
	// RingBuffer is how many ringing phones each AgentPhone holds for a
	// script that reads Ringing; more are dropped (and logged). 0 means 64.
	RingBuffer int
	// ReconnectMin and ReconnectMax bound the websocket's reconnect delay;
	// zero values take the ari package's defaults.
	ReconnectMin, ReconnectMax time.Duration
	Logger                     *slog.Logger
}

// Driver is one "phones" ARI application and every phone it plays.
type Driver struct {
	opts   Options
	client *ari.Client
	log    *slog.Logger
	prefix string // channel id prefix, unique per driver
	seq    atomic.Uint64

	mu       sync.Mutex
	byID     map[string]*Phone // phone half and hotline half → phone
	lines    map[string]*AgentPhone
	runCtx   context.Context // set while Run runs; goroutines it starts use it
	wg       sync.WaitGroup
	ready    chan struct{} // closed while connected; replaced on disconnect
	stopped  bool
	isUp     bool
	connects uint64
}

// New validates the options and builds a driver; it connects in Run.
func New(opts Options) (*Driver, error) {
	if opts.App == "" {
		opts.App = "phones"
	}
	if opts.CallerContext == "" {
		opts.CallerContext = "hotline"
	}
	if opts.PhonesContext == "" {
		opts.PhonesContext = "phones"
	}
	if opts.RingBuffer <= 0 {
		opts.RingBuffer = 64
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	d := &Driver{
		opts:   opts,
		log:    opts.Logger.With("component", "phones"),
		prefix: "ph-" + hex.EncodeToString(b[:]) + "-",
		byID:   make(map[string]*Phone),
		lines:  make(map[string]*AgentPhone),
		ready:  make(chan struct{}),
	}
	c, err := ari.New(ari.Options{
		URL: opts.URL, Application: opts.App, Username: opts.Username, Password: opts.Password,
		BackoffMin: opts.ReconnectMin, BackoffMax: opts.ReconnectMax,
		Logger:    opts.Logger,
		Handler:   d.handle,
		OnConnect: d.reconcile,
		// Up once reconcile has subscribed (see there); down at once.
		OnState: func(up bool) {
			if !up {
				d.setUp(false)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("new phones driver: %w: %w", ErrInvalidOptions, err)
	}
	d.client = c
	return d, nil
}

// App is the driver's ARI application name.
func (d *Driver) App() string { return d.opts.App }

// Endpoint is the dial string the hotline configuration gives an agent
// (or the callback template a caller) played by this driver:
// Local/<ext>@<PhonesContext>.
func (d *Driver) Endpoint(ext string) string {
	return "Local/" + ext + "@" + d.opts.PhonesContext
}

// Run keeps the driver's ARI websocket up until ctx ends and returns
// ctx.Err() once every goroutine it started has exited.
func (d *Driver) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.runCtx != nil || d.stopped {
		d.mu.Unlock()
		return fmt.Errorf("run phones driver: %w", ari.ErrAlreadyRunning)
	}
	d.runCtx = ctx
	d.mu.Unlock()
	err := d.client.Run(ctx)
	d.mu.Lock()
	d.stopped = true
	d.mu.Unlock()
	d.wg.Wait()
	return err
}

// Ready waits until the driver's websocket is connected: a phone that
// rings before that is lost (Asterisk hangs up a Stasis() call for an
// application that is not connected).
func (d *Driver) Ready(ctx context.Context) error {
	for {
		d.mu.Lock()
		up, ch, stopped := d.isUp, d.ready, d.stopped
		d.mu.Unlock()
		if up {
			return nil
		}
		if stopped {
			return ErrNotRunning
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("phones ready: %w", ctx.Err())
		case <-ch:
		}
	}
}

// Connects counts the websocket's successful connections so far, so a
// test can tell a reconnect from a drop not noticed yet.
func (d *Driver) Connects() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.connects
}

// Connected reports whether the websocket is up now.
func (d *Driver) Connected() bool { return d.client.Connected() }

func (d *Driver) setUp(up bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if up == d.isUp {
		return
	}
	d.isUp = up
	if up {
		d.connects++
		close(d.ready)
	} else {
		d.ready = make(chan struct{})
	}
}

// Active counts the phones whose call has not ended (leak checks, bench).
func (d *Driver) Active() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := make(map[*Phone]bool, len(d.byID))
	for _, p := range d.byID {
		seen[p] = true
	}
	return len(seen)
}

// goSetup runs f on a goroutine tied to Run's context; false if Run is not
// running (f is not run).
func (d *Driver) goSetup(f func(ctx context.Context)) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.runCtx == nil || d.stopped {
		return false
	}
	ctx := d.runCtx
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f(ctx)
	}()
	return true
}

func (d *Driver) newIDs() (string, string) {
	n := d.seq.Add(1)
	base := d.prefix + strconv.FormatUint(n, 10)
	return base + "-1", base + "-2"
}

// Call places a caller: it originates Local/<number>@<CallerContext> with
// the given caller id (a plain number, or `"Name" <number>`). The returned
// phone is ringing the hotline; WaitAnswered waits until the hotline
// answers. Call waits for Ready first. Not safe to retry: a retry places a
// second call.
func (d *Driver) Call(ctx context.Context, number, callerID string) (*Phone, error) {
	if number == "" || strings.ContainsAny(number, "/@,;& ") {
		return nil, fmt.Errorf("call %q: bad number", number)
	}
	if err := d.Ready(ctx); err != nil {
		return nil, fmt.Errorf("call %s: %w", number, err)
	}
	id, peer := d.newIDs()
	p := newPhone(d, id, number, true)
	p.peer = peer
	d.mu.Lock()
	d.byID[id] = p
	d.byID[peer] = p
	d.mu.Unlock()
	_, err := d.client.Originate(ctx, ari.OriginateRequest{
		ChannelID: id, OtherChannelID: peer,
		Endpoint: "Local/" + number + "@" + d.opts.CallerContext,
		App:      d.opts.App, AppArgs: []string{"caller", number},
		CallerID: callerID,
	})
	if err != nil {
		d.forget(p)
		p.end(ByRemote, 0)
		return nil, fmt.Errorf("call %s: %w", number, err)
	}
	p.setPlaced()
	// Asterisk subscribes an originating application to both halves of a
	// Local pair already; subscribing explicitly keeps that from being an
	// assumption. A call that failed at once is simply gone.
	if err := d.client.Subscribe(ctx, "channel:"+peer); err != nil && !errors.Is(err, ari.ErrCallGone) {
		d.log.Warn("subscribe to hotline half", "phone", id, "err", err)
	}
	return p, nil
}

// Agent returns the phone of agent id (the extension of its endpoint
// Local/<id>@<PhonesContext>), registering it with the driver's default
// mode on first use.
func (d *Driver) Agent(id string) *AgentPhone { return d.Line(id) }

// Line is Agent for any extension of PhonesContext, e.g. a caller's number
// that the hotline dials back through a Local/${NUMBER}@phones template.
func (d *Driver) Line(ext string) *AgentPhone {
	d.mu.Lock()
	defer d.mu.Unlock()
	a := d.lines[ext]
	if a == nil {
		a = &AgentPhone{d: d, ext: ext, mode: d.opts.DefaultAnswer, ring: make(chan *Phone, d.opts.RingBuffer)}
		d.lines[ext] = a
	}
	return a
}

// forget drops every id that leads to p: its two halves and the snoop
// channels that whispered to it.
func (d *Driver) forget(p *Phone) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, q := range d.byID {
		if q == p {
			delete(d.byID, id)
		}
	}
}

func (d *Driver) lookup(id string) *Phone {
	if id == "" {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.byID[id]
}

// handle is the ARI reader's handler: it must not block, so it only
// updates phone state; REST work goes to setup goroutines.
func (d *Driver) handle(ev ari.Event) {
	switch ev.Type {
	case "StasisStart":
		if p := d.lookup(ev.Channel.ID); p != nil {
			// A caller's phone is answered when its half enters this
			// application: it is Up a moment before, but digits pressed
			// in that gap are refused ("Channel not in Stasis
			// application").
			if ev.Channel.ID == p.id {
				p.setAnswered()
			}
			return // the hotline's half entering its own application
		}
		if len(ev.Args) == 1 {
			d.ring(ev.Channel, ev.Args[0])
		}
	case "PlaybackStarted":
		// Each item of a list starts with its own PlaybackStarted; the
		// PlaybackContinuing between two names the item that finished.
		target, ok := strings.CutPrefix(ev.Playback.TargetURI, "channel:")
		if !ok {
			return
		}
		if p := d.lookup(target); p != nil {
			p.heardMedia(ev.Playback.MediaURI)
		}
	case "ChannelCreated":
		// A snoop channel whispering to a phone's hotline half plays what
		// that phone hears: Asterisk names it Snoop/<snooped id>-<seq>.
		if rest, ok := strings.CutPrefix(ev.Channel.Name, "Snoop/"); ok {
			if i := strings.LastIndexByte(rest, '-'); i > 0 {
				if p := d.lookup(rest[:i]); p != nil {
					d.mu.Lock()
					if d.byID[rest[:i]] == p {
						d.byID[ev.Channel.ID] = p
					}
					d.mu.Unlock()
				}
			}
		}
	case "ChannelEnteredBridge", "ChannelLeftBridge":
		p := d.lookup(ev.Channel.ID)
		if p == nil || ev.Channel.ID != p.peerID() {
			return
		}
		if ev.Type == "ChannelEnteredBridge" {
			p.setBridge(ev.Bridge.ID)
		} else {
			p.setBridge("")
		}
	case "ChannelDtmfReceived":
		if p := d.lookup(ev.Channel.ID); p != nil && ev.Channel.ID == p.id {
			p.gotDigit(ev.Digit)
		}
	case "ChannelHangupRequest", "ChannelDestroyed", "StasisEnd":
		p := d.lookup(ev.Channel.ID)
		if p == nil {
			return
		}
		if strings.HasPrefix(ev.Channel.Name, "Snoop/") {
			if ev.Type == "ChannelDestroyed" {
				d.mu.Lock()
				delete(d.byID, ev.Channel.ID)
				d.mu.Unlock()
			}
			return
		}
		// Only the end of the phone's own half, or the destruction of the
		// hotline's half, ends the call: the hotline's StasisEnd is not a
		// hangup, and a hangup request may be soft.
		own := ev.Channel.ID == p.id
		if (own && ev.Type != "ChannelHangupRequest") || (!own && ev.Type == "ChannelDestroyed") {
			d.forget(p)
			p.end("", ev.Cause)
		}
	}
}

// ring hands a new incoming call on the phones context to its line.
func (d *Driver) ring(ch *ari.Channel, ext string) {
	line := d.Line(ext)
	p := newPhone(d, ch.ID, ext, false)
	p.callerNumber = ch.CallerNumber
	p.placed = true // its channel exists: it just entered Stasis
	d.mu.Lock()
	d.byID[ch.ID] = p
	d.mu.Unlock()
	mode := line.Mode()
	started := d.goSetup(func(ctx context.Context) {
		log := d.log.With("phone", ch.ID, "ext", ext)
		if err := d.attachPeer(ctx, p, ch.Name); err != nil {
			log.Warn("find hotline half", "err", err)
		}
		line.deliver(p)
		switch mode {
		case AnswerAuto:
			if err := p.Answer(ctx); err != nil && !errors.Is(err, ErrHungUp) {
				log.Warn("auto answer", "err", err)
			}
		case AnswerReject:
			if err := p.hangup(ctx, "busy"); err != nil && !errors.Is(err, ErrHungUp) {
				log.Warn("reject", "err", err)
			}
		case AnswerNever:
		}
	})
	if !started {
		d.forget(p)
	}
}

// attachPeer finds the hotline's half of an incoming Local pair by its
// sibling name (…;2 ↔ …;1) and subscribes to it before the phone answers,
// so nothing the hotline plays after the answer is missed.
func (d *Driver) attachPeer(ctx context.Context, p *Phone, name string) error {
	base, ok := strings.CutSuffix(name, ";2")
	if !ok {
		return fmt.Errorf("attach %s: not the ;2 half of a Local channel", name)
	}
	chans, err := d.client.Channels(ctx)
	if err != nil {
		return fmt.Errorf("attach %s: %w", name, err)
	}
	for _, c := range chans {
		if c.Name != base+";1" {
			continue
		}
		d.mu.Lock()
		if d.byID[p.id] == p {
			d.byID[c.ID] = p
		}
		d.mu.Unlock()
		p.setPeer(c.ID)
		if err := d.client.Subscribe(ctx, "channel:"+c.ID); err != nil {
			return fmt.Errorf("attach %s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("attach %s: hotline half not found", name)
}

// reconcile runs after every (re)connect: events during a gap are lost, so
// phones whose channels are gone are ended and bridges refreshed. First
// the driver subscribes to every bridge: Asterisk sends ChannelEnteredBridge
// and ChannelLeftBridge only to applications subscribed to the bridge (or
// with a channel in Stasis in it), and the phones' halves are never in
// the bridges the hotline makes.
func (d *Driver) reconcile(ctx context.Context) {
	if err := d.client.Subscribe(ctx, "bridge:"); err != nil {
		d.log.Warn("subscribe to all bridges", "err", err)
	}
	// And to every channel: the hotline whispers to a bridged channel
	// through a snoop channel of its own, whose playbacks are what that
	// phone hears.
	if err := d.client.Subscribe(ctx, "channel:"); err != nil {
		d.log.Warn("subscribe to all channels", "err", err)
	}
	// Ready only now: a call placed before these subscriptions would miss
	// its bridge events.
	if ctx.Err() == nil {
		d.setUp(true)
	}
	// Only phones whose channel certainly existed before the list is
	// fetched may be judged by it: a call being originated right now is
	// not in the list yet.
	d.mu.Lock()
	phones := make(map[*Phone]bool, len(d.byID))
	for _, p := range d.byID {
		if p.isPlaced() {
			phones[p] = true
		}
	}
	d.mu.Unlock()
	if len(phones) == 0 {
		return
	}
	chans, err := d.client.Channels(ctx)
	if err != nil {
		d.log.Warn("reconcile: list channels", "err", err)
		return
	}
	bridges, err := d.client.Bridges(ctx)
	if err != nil {
		d.log.Warn("reconcile: list bridges", "err", err)
		return
	}
	live := make(map[string]bool, len(chans))
	for _, c := range chans {
		live[c.ID] = true
	}
	inBridge := make(map[string]string)
	for _, b := range bridges {
		for _, c := range b.Channels {
			inBridge[c] = b.ID
		}
	}
	for p := range phones {
		if !live[p.id] {
			d.forget(p)
			p.end("", 0)
			continue
		}
		if peer := p.peerID(); peer != "" {
			p.setBridge(inBridge[peer])
		}
	}
}
