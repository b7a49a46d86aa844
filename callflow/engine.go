// Package callflow drives every call of the hotline through ARI: entry,
// menu, hours, returning callers, the queue with its announcements and
// callback offers, connecting agents, in-call feature codes, attended
// transfers, the survey, callback dialling and the agents' own feature
// number. It is event driven: each call is owned by one goroutine that
// reads the call's mailbox, so a call's state has exactly one writer and
// the ARI reader never blocks.
//
// Wiring: the ARI client's Handler is Engine.HandleEvent and its OnConnect
// calls Engine.Reconcile with the channel and bridge lists; the router's
// Options.Deliver is Engine.Deliver and the callbacks' Dial is Engine.Dial.
// The HTTP API's CallControl is the Relay (relay.go): a command for a call
// of this node reaches the call as a message in its mailbox, like its
// events; one for another node's call travels to that node over Redis.
// Channels the engine originates carry app args ["agent", callID, agentID]
// (agent and transfer-target legs) or ["callee", callID] (a called-back
// caller). Their ids, and the ids of the engine's bridges, are
// "hl-<node>-<kind>-<seq>-<callID>": a restarted node can tell its
// leftovers from other applications' channels and, since a channel list
// carries no app args, which call each one belongs to (see adopt.go).
//
// Stop and restart keep calls alive: Stop refuses new calls and brings
// each call to a safe point, where its goroutine detaches without hanging
// anything up (Asterisk keeps the channels in the application while no
// websocket is connected). The next node's first Reconcile re-adopts them
// from the channel and bridge lists and the router's record of each call.
package callflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// Telephony is what the call flow asks of Asterisk; the ARI adapter
// (package ari) implements it. A channel, bridge or playback that is gone
// is routing.ErrCallGone.
type Telephony interface {
	Answer(ctx context.Context, channelID string) error
	Hangup(ctx context.Context, channelID string, cause HangupCause) error
	// Originate dials a new channel; an outright refusal wraps
	// ErrDialRefused.
	Originate(ctx context.Context, req OriginateRequest) error
	// Play plays media (sound:NAME, number:N) to a channel in a language,
	// as playbackID.
	Play(ctx context.Context, channelID, playbackID string, media []string, lang string) error
	StopPlayback(ctx context.Context, playbackID string) error
	StartMOH(ctx context.Context, channelID, class string) error
	StopMOH(ctx context.Context, channelID string) error
	// CreateConversation makes a bridge for a call's conversation: every
	// digit pressed in it reaches the call flow, none reaches the other
	// parties. Join puts channels into such a bridge, Unjoin takes them out.
	CreateConversation(ctx context.Context, bridgeID, name string) error
	Join(ctx context.Context, bridgeID string, channelIDs ...string) error
	Unjoin(ctx context.Context, bridgeID string, channelIDs ...string) error
	DestroyBridge(ctx context.Context, bridgeID string) error
	// ReportTransfer tells a phone that asked to transfer how it went.
	ReportTransfer(ctx context.Context, channelID string, outcome TransferOutcome) error
	// Whisper makes a channel (whisperID) whose audio is heard by
	// channelID alone, entering app with appArgs: prompts to a bridged
	// channel play on it.
	Whisper(ctx context.Context, channelID, whisperID, app string, appArgs []string) error
	// HandBack gives a channel back to the dialplan after its Stasis(),
	// with variables set on it.
	HandBack(ctx context.Context, channelID string, vars map[string]string) error
	// Move takes a channel from another application into app.
	Move(ctx context.Context, channelID, app string, appArgs []string) error
	// Channels and Bridges list everything Asterisk has, for reconciling.
	Channels(ctx context.Context) ([]Channel, error)
	Bridges(ctx context.Context) ([]Bridge, error)
}

// Router is the part of routing.Router the call flow uses.
type Router interface {
	Login(ctx context.Context, agentID string) error
	Resume(ctx context.Context, agentID string) error
	Logout(ctx context.Context, agentID string) error
	Pause(ctx context.Context, agentID, reason string) error
	Agent(ctx context.Context, id string) (routing.AgentStatus, error)
	ClaimAgent(ctx context.Context, agentID string, call Call) (routing.AgentStatus, bool, error)
	OpenCase(ctx context.Context, callerNumber, topic, lang string) (routing.Case, error)
	OpenCaseFor(ctx context.Context, callerNumber string) (routing.Case, bool, error)
	Case(ctx context.Context, id string) (routing.Case, error)
	Rate(ctx context.Context, caseID string, score int) (bool, error)
	CloseCase(ctx context.Context, caseID string) (agents int, err error)
	Enqueue(ctx context.Context, c Call) (QueueInfo, error)
	// EnqueueNewCase opens a first-time caller's case and enqueues the
	// call in it, in the one round trip of the enqueue.
	EnqueueNewCase(ctx context.Context, c Call) (routing.Case, QueueInfo, error)
	QueueInfo(ctx context.Context, callID string) (QueueInfo, error)
	Answered(ctx context.Context, o Offer) error
	NoAnswer(ctx context.Context, o Offer) error
	// Unreachable takes back an offer whose agent's phone Asterisk refuses
	// to dial, pausing the agent "unreachable".
	Unreachable(ctx context.Context, o Offer) error
	// ReleaseOffer takes back an offer that failed through no fault of
	// the agent, keeping a pause they asked for.
	ReleaseOffer(ctx context.Context, o Offer) error
	Leave(ctx context.Context, callID string) error
	// TakeOver makes this node the owner of a dead node's waiting caller.
	TakeOver(ctx context.Context, callID string) (Call, error)
	// ActiveCalls lists the router's live calls: the first Reconcile ends
	// this node's that vanished while it was down.
	ActiveCalls(ctx context.Context) ([]Call, error)
	// Call is the router's record of a live call: how Reconcile re-adopts
	// calls a stopped node left in Asterisk.
	Call(ctx context.Context, id string) (Call, error)
	EndCall(ctx context.Context, callID, agentID string) error
	BeginTransfer(ctx context.Context, req TransferRequest) (Transfer, error)
	// ConsultAnswered moves a transfer claim's ring deadline to until:
	// the target answered and the consult has its own limit.
	ConsultAnswered(ctx context.Context, callID, target string, until time.Time) error
	AcceptTransfer(ctx context.Context, callID, transferID string) error
	CancelTransfer(ctx context.Context, callID, transferID string, noAnswer bool) error
}

// Callbacks is the part of routing.Callbacks the call flow uses.
type Callbacks interface {
	KeepPosition(ctx context.Context, c Call) (Callback, error)
	// KeepPositionAt keeps the place of a caller of a closed topic: the
	// callback joins the queue at due, when the topic opens.
	KeepPositionAt(ctx context.Context, c Call, due time.Time) (Callback, error)
	ScheduleOwner(ctx context.Context, caseID, owner string, due time.Time, note string) (Callback, error)
	EscalateToSenior(ctx context.Context, caseID, note string) (Callback, error)
	Offered(ctx context.Context, o Offer) error
	Completed(ctx context.Context, id string) error
	AttemptFailed(ctx context.Context, id, reason string) error
	// AgentMissed gives a callback back without spending an attempt: the
	// agent's side failed and the caller was never tried.
	AgentMissed(ctx context.Context, id string) error
}

// Observer receives the call flow's measurements; the metrics package
// implements it with Prometheus. Labels are low-cardinality by design.
type Observer interface {
	CallOffered(topic string)
	CallAnswered(topic string, wait time.Duration)
	CallHandled(topic string, talk time.Duration) // connected until the agent (or caller) left
	Abandoned(topic string)
	Transfer(result string) // "completed", "declined", "no_answer" or a refusal code
	Callback(state string)  // "offered", "scheduled", "completed", "failed"
	Rating(score int)
	Consult(d time.Duration, result string)
	AgentsPerResolvedCall(n int)
	MailboxOverflow()
	// PlaybackFailed: a sound did not play (missing in Asterisk, or no
	// playback events within bounds). sound is the configured name, or the
	// media scheme for numbers ("number").
	PlaybackFailed(sound string)
	// AgentUnreachable: an agent was paused because Asterisk refused to
	// dial their phone again and again.
	AgentUnreachable()
	// HandedBack: a call went back to the dialplan's fallback because the
	// hotline could not route it (reason "unavailable": the store is down).
	HandedBack(reason string)
}

// NopObserver measures nothing.
type NopObserver struct{}

func (NopObserver) CallOffered(string)                 {}
func (NopObserver) CallAnswered(string, time.Duration) {}
func (NopObserver) CallHandled(string, time.Duration)  {}
func (NopObserver) Abandoned(string)                   {}
func (NopObserver) Transfer(string)                    {}
func (NopObserver) Callback(string)                    {}
func (NopObserver) Rating(int)                         {}
func (NopObserver) Consult(time.Duration, string)      {}
func (NopObserver) AgentsPerResolvedCall(int)          {}
func (NopObserver) MailboxOverflow()                   {}
func (NopObserver) PlaybackFailed(string)              {}
func (NopObserver) AgentUnreachable()                  {}
func (NopObserver) HandedBack(string)                  {}

// Clock is the call flow's time: now, and timers the tests can fire.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer from a Clock.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer starts a real timer.
func (SystemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (s sysTimer) C() <-chan time.Time { return s.t.C }
func (s sysTimer) Stop() bool          { return s.t.Stop() }

// Options wires an Engine.
type Options struct {
	Telephony Telephony
	Router    Router
	Callbacks Callbacks
	Plan      Plan
	Clock     Clock
	Logger    *slog.Logger
	Node      string // this node's name; part of every id the engine makes
	App       string // the Stasis application agent legs are originated into
	Metrics   Observer
	Policy    Policy
	// MailboxSize bounds each call's pending messages (default 256). A call
	// whose mailbox overflows is wedged: it is aborted and cleaned up rather
	// than silently losing events (see Engine.HandleEvent).
	MailboxSize int
	// ReconcileGrace is how old a channel must be before Reconcile may
	// judge it gone for missing from the lists (default 5s: longer than
	// fetching the lists takes).
	ReconcileGrace time.Duration
	// CleanupTimeout bounds the REST calls made while a call ends, which run
	// on a context detached from the (possibly cancelled) call's.
	CleanupTimeout time.Duration
	// PlaybackStartLimit and PlaybackLimit bound a playback's events
	// (defaults 3 s and 2 min). Asterisk can accept a playback (201) and
	// never start it (one queued while its channel leaves a bridge being
	// destroyed): whatever waits for its end would wait for ever, the
	// caller in silence. A playback not started, or not finished, within
	// its bound ends as failed.
	PlaybackStartLimit, PlaybackLimit time.Duration
	// SettleLimit bounds the wait for Asterisk to report that a channel
	// entered or left the conversation bridge (default 2 s); see settle.
	SettleLimit time.Duration
	// Probe checks that the store answers (a ping). With it, a store
	// error marks the store down until a probe succeeds, and new callers
	// go back to the dialplan unanswered meanwhile (see unavailable.go).
	Probe func(ctx context.Context) error
	// ReconcileEvery is how often Run compares this node's calls in the
	// router with Asterisk's channels besides after every (re)connect
	// (default 30 s): a call whose channels are gone (its end not written,
	// an event lost) is ended, so no agent stays on_call or ringing for a
	// call that no longer exists.
	ReconcileEvery time.Duration
}

// Errors.
var (
	ErrStopping        = errors.New("call flow stopping")
	ErrMailboxOverflow = errors.New("call mailbox overflow")
	errCallerGone      = errors.New("caller hung up")
	// errDetached ends a call's goroutine at a safe point during Stop:
	// finish then leaves the channels, bridge and router state as they
	// are for the next node to re-adopt.
	errDetached  = errors.New("call detached for a restart")
	errAgentGone = errors.New("agent hung up")
)

// Log attribute keys.
const (
	logCall    = "call"
	logChannel = "channel"
	logAgent   = "agent"
	logErr     = "err"
)

// Engine runs every call of this node.
type Engine struct {
	tel      Telephony
	router   Router
	cbs      Callbacks
	plan     Plan
	clock    Clock
	log      *slog.Logger
	node     string
	app      string
	metrics  Observer
	policy   Policy
	settings Settings
	mbSize   int
	cleanupT time.Duration
	grace    time.Duration
	pbStart  time.Duration
	pbLimit  time.Duration
	settleT  time.Duration
	every    time.Duration
	probe    func(ctx context.Context) error
	down     atomic.Bool // the store is known unreachable (storeFailed)
	probing  atomic.Bool
	// reconciling serializes Reconcile: after a connect and periodically.
	reconciling sync.Mutex

	base   context.Context
	cancel context.CancelCauseFunc
	seq    atomic.Uint64

	// mu guards the registry below. A call goroutine adds and removes its
	// own ids; HandleEvent and Deliver only read it to find a mailbox.
	mu       sync.Mutex
	calls    map[string]*call     // by call id
	owners   map[string]*call     // channel, bridge and playback ids → owning call
	chans    map[string]time.Time // owners' ids that are channels → when registered
	draining bool
	// reconciled is set by the first Reconcile. Until then an offer for a
	// call this engine does not own may be for a call a stopped node left
	// behind, which Reconcile is about to adopt: it is parked, not
	// released (releasing would drop the waiting caller from the queue).
	reconciled bool
	parked     map[string]Offer // by call id
	// failedSounds are the sounds whose failure has been logged: a sound
	// missing in Asterisk fails on every call, and one line says it.
	failedSounds map[string]bool
	// refusals counts, per agent, the originates Asterisk refused in a
	// row (dialFailed).
	refusals map[string]int
	// running counts call and background goroutines; idle is closed (and
	// replaced) whenever it drops to zero. Unlike a WaitGroup, goroutines
	// may start while someone waits (an offer arriving during Stop).
	running int
	idle    chan struct{}
	// lingering are the goroutines that outlive calls and a Stop's drain
	// (durable writes still retrying, the store probe): they end when Run
	// does, and Run waits for them. writes are the durable writes among
	// them, which Stop gives writeGrace to finish.
	lingering sync.WaitGroup
	writes    sync.WaitGroup
}

// New builds an Engine. Nothing runs until events arrive.
func New(opts Options) *Engine {
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NopObserver{}
	}
	if opts.MailboxSize <= 0 {
		opts.MailboxSize = 256
	}
	if opts.ReconcileGrace <= 0 {
		opts.ReconcileGrace = 5 * time.Second
	}
	if opts.CleanupTimeout <= 0 {
		opts.CleanupTimeout = 5 * time.Second
	}
	if opts.PlaybackStartLimit <= 0 {
		opts.PlaybackStartLimit = 3 * time.Second
	}
	if opts.PlaybackLimit <= 0 {
		opts.PlaybackLimit = 2 * time.Minute
	}
	if opts.SettleLimit <= 0 {
		opts.SettleLimit = 2 * time.Second
	}
	if opts.ReconcileEvery <= 0 {
		opts.ReconcileEvery = 30 * time.Second
	}
	if opts.Policy.RingTimeout <= 0 {
		opts.Policy.RingTimeout = 20 * time.Second
	}
	base, cancel := context.WithCancelCause(context.Background())
	e := &Engine{
		tel: opts.Telephony, router: opts.Router, cbs: opts.Callbacks, plan: opts.Plan,
		clock: opts.Clock, log: opts.Logger, node: opts.Node, app: opts.App,
		metrics: opts.Metrics, policy: opts.Policy, settings: withDefaults(opts.Plan.Settings()),
		mbSize: opts.MailboxSize, cleanupT: opts.CleanupTimeout, grace: opts.ReconcileGrace,
		pbStart: opts.PlaybackStartLimit, pbLimit: opts.PlaybackLimit, settleT: opts.SettleLimit, every: opts.ReconcileEvery, probe: opts.Probe,
		base: base, cancel: cancel,
		idle:  make(chan struct{}),
		calls: map[string]*call{}, owners: map[string]*call{}, chans: map[string]time.Time{},
		parked: map[string]Offer{}, failedSounds: map[string]bool{}, refusals: map[string]int{},
	}
	// The ids of a detached call's channels and bridge outlive this
	// engine: a restarted node must not make the same id for the same
	// call (Asterisk refuses a duplicate). Starting the sequence at the
	// wall clock's nanoseconds keeps every restart above what its
	// predecessor used.
	e.seq.Store(uint64(time.Now().UnixNano()))
	return e
}

// newID makes an id for a channel, bridge or playback this node creates
// for callID. The prefix lets Reconcile recognise our own leftovers after
// a reconnect; the call id at the end lets a restarted node re-adopt them
// (parseID).
func (e *Engine) newID(kind, callID string) string {
	return fmt.Sprintf("%s%s-%s-%d-%s", idPrefix, e.node, kind, e.seq.Add(1), callID)
}

// parseID splits an id made by newID on this node into its kind and call
// id; ok is false for anything else (another node's or application's, or
// an id without a call).
func (e *Engine) parseID(id string) (kind, callID string, ok bool) {
	rest, ok := strings.CutPrefix(id, idPrefix+e.node+"-")
	if !ok {
		return "", "", false
	}
	parts := strings.SplitN(rest, "-", 3)
	if len(parts) != 3 || parts[2] == "" {
		return "", "", false
	}
	return parts[0], parts[2], true
}

const idPrefix = "hl-"

// HandleEvent routes one event to the call that owns it. It is called
// from the ARI reader goroutine and never blocks: the event is appended to
// the call's bounded mailbox. A channel entering the application that no
// call owns is a new call.
func (e *Engine) HandleEvent(ev Event) {
	c := e.ownerOf(ev)
	if c == nil {
		if ev.Kind == Entered && ev.Channel != "" {
			e.startInbound(ev)
		}
		return
	}
	e.post(c, message{ev: &ev})
}

// ownerOf finds the call an event belongs to: by its channel, its
// playback, or (a transfer request) the channel that asked.
func (e *Engine) ownerOf(ev Event) *call {
	ids := []string{ev.Channel, ev.Playback}
	if ev.Transfer != nil {
		ids = append(ids, ev.Transfer.Source)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, id := range ids {
		if c, ok := e.owners[id]; ok && id != "" {
			return c
		}
	}
	return nil
}

// post puts a message in a call's mailbox. A full mailbox means the call's
// goroutine is stuck behind a slow REST call or a bug; dropping events
// would leave the call in a state nobody can reason about, so the call is
// aborted instead: its context is cancelled and its cleanup hangs up
// everything it owns.
func (e *Engine) post(c *call, m message) {
	if c.mb.put(m) {
		return
	}
	if c.overflowed.Swap(true) {
		return // already aborting; the rest of the burst is moot
	}
	e.metrics.MailboxOverflow()
	c.log.Error("mailbox full: aborting call", "size", e.mbSize)
	c.cancel(ErrMailboxOverflow)
}

// Deliver hands an offer to the call it is for (the router's Options.Deliver
// hook). A kept-position callback offer goes to the callbacks service,
// which leases the callback and calls Dial. An offer for a call that has
// already gone releases the agent at once.
func (e *Engine) Deliver(o Offer) {
	if o.CallbackID != "" {
		// Offered makes store round trips: not on the router's goroutine.
		e.background(func(ctx context.Context) {
			if err := e.cbs.Offered(ctx, o); err != nil {
				e.log.Warn("kept-position callback offer", "callback", o.CallbackID, logErr, err)
			}
		})
		return
	}
	e.mu.Lock()
	c := e.calls[o.CallID]
	switch {
	case c != nil:
	case e.draining:
		// A call this node detached (or is detaching): the agent stays
		// claimed and the next node's Reconcile treats the call as
		// ringing an agent it cannot see (see adopt.go). Releasing it
		// here would drop the caller from the queue.
		e.mu.Unlock()
		e.log.Info("offer for a detached call left to the next node", logCall, o.CallID, logAgent, o.Agent.ID)
		return
	case !e.reconciled:
		e.parked[o.CallID] = o
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	if c != nil {
		e.post(c, message{offer: &o})
		return
	}
	e.log.Warn("offer for a call not on this node", logCall, o.CallID, logAgent, o.Agent.ID)
	e.background(func(ctx context.Context) {
		if err := e.router.Leave(ctx, o.CallID); err != nil && !errors.Is(err, routing.ErrNotFound) {
			e.log.Warn("release offer of gone call", logCall, o.CallID, logErr, err)
		}
	})
}

// Dial is the Callbacks' Dial hook: a due callback has claimed its agent.
// From here the engine owns the agent's state on the router (Answered,
// NoAnswer, EndCall under the callback's CallID) and reports the outcome
// with Completed or AttemptFailed.
func (e *Engine) Dial(cb Callback, agent AgentStatus) {
	e.startCallback(cb, agent)
}

// playbackFailed counts a playback that failed, by the sound that failed
// (the item Asterisk names, else the first one played), and logs it the
// first time that sound fails.
func (e *Engine) playbackFailed(log *slog.Logger, media []string, ev *Event) {
	uri := ev.Media
	if uri == "" && len(media) > 0 {
		uri = media[0]
	}
	sound := uri
	if scheme, name, ok := strings.Cut(uri, ":"); ok {
		sound = name
		if scheme != "sound" {
			sound = scheme // number:42, digits:17: one label per kind
		}
	}
	e.metrics.PlaybackFailed(sound)
	e.mu.Lock()
	first := !e.failedSounds[sound]
	e.failedSounds[sound] = true
	e.mu.Unlock()
	if first {
		log.Warn("sound did not play (logged once per sound; see hotline_playback_failures_total)",
			"sound", sound, "media", media, "why", ev.Reason)
	}
}

// background runs a short router update that belongs to no call, bounded
// by the cleanup timeout and tracked so Stop waits for it.
func (e *Engine) background(f func(ctx context.Context)) {
	e.mu.Lock()
	e.running++
	e.mu.Unlock()
	go func() {
		defer e.goroutineDone()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.base), e.cleanupT)
		defer cancel()
		f(ctx)
	}()
}

func (e *Engine) goroutineDone() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.running--
	if e.running == 0 {
		close(e.idle)
		e.idle = make(chan struct{})
	}
}

// waitIdle returns when no call or background goroutine runs.
func (e *Engine) waitIdle() {
	for {
		e.mu.Lock()
		n, idle := e.running, e.idle
		e.mu.Unlock()
		if n == 0 {
			return
		}
		<-idle
	}
}

// register adds a call and starts its goroutine, unless the engine is
// draining.
func (e *Engine) register(c *call, run func()) bool {
	e.mu.Lock()
	if e.draining {
		e.mu.Unlock()
		return false
	}
	e.calls[c.id] = c
	for _, id := range c.keys {
		e.owners[id] = c
		e.chans[id] = e.clock.Now()
	}
	e.running++
	e.mu.Unlock()
	go func() {
		defer e.goroutineDone()
		defer e.unregister(c)
		run()
	}()
	return true
}

func (e *Engine) unregister(c *call) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.calls[c.id] == c {
		delete(e.calls, c.id)
	}
	for _, id := range c.keys {
		if e.owners[id] == c {
			delete(e.owners, id)
			delete(e.chans, id)
		}
	}
	c.cancel(nil)
}

// own routes events for id to c from now on. Called by c's goroutine
// before the REST request that creates id, so no event is missed. c.keys
// is guarded by e.mu too.
func (e *Engine) own(c *call, id string, channel bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.owners[id] = c
	if channel {
		e.chans[id] = e.clock.Now()
	}
	c.keys = append(c.keys, id)
}

// Active is the number of calls this node owns.
func (e *Engine) Active() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.calls)
}

// Reconcile runs after every (re)connect of the events websocket: events
// of the gap are lost, so each call learns from the lists which of its
// channels are gone (a synthetic ChannelDestroyed in its mailbox). Calls
// a stopped node detached are re-adopted (adopt.go). Then channels and
// bridges this node created but no call owns any more are hung up and
// destroyed. Channels of other applications are left alone.
func (e *Engine) Reconcile(ctx context.Context, channels []Channel, bridges []Bridge) {
	e.reconciling.Lock()
	defer e.reconciling.Unlock()
	e.reconcileLost(channels)
	e.adopt(ctx, channels, bridges)
	e.releaseParked()
	e.hangupOrphans(ctx, channels, bridges)
}

// reconcileLost tells each call which of its channels are gone.
func (e *Engine) reconcileLost(channels []Channel) {
	live := make(map[string]bool, len(channels))
	for _, ch := range channels {
		live[ch.ID] = true
	}
	type gone struct {
		c  *call
		id string
	}
	var lost []gone
	now := e.clock.Now()
	e.mu.Lock()
	for id, c := range e.owners {
		// A channel registered after the lists were fetched is missing
		// from them without being gone: only older ones are judged.
		if at, ok := e.chans[id]; ok && !live[id] && now.Sub(at) >= e.grace {
			lost = append(lost, gone{c, id})
		}
	}
	e.mu.Unlock()
	for _, g := range lost {
		e.post(g.c, message{ev: &Event{Kind: Destroyed, Channel: g.id, Reason: "lost during reconnect"}})
	}
}

// Reconnected reconciles after the events websocket (re)connected: the
// events of the gap are lost (see Reconcile).
func (e *Engine) Reconnected(ctx context.Context) { e.reconcileWithLists(ctx) }

// reconcileNow is the periodic reconcile, once the first reconcile after
// a connect has run (until then the websocket is not up and adoption
// would be premature).
func (e *Engine) reconcileNow(ctx context.Context) {
	e.mu.Lock()
	ready := e.reconciled
	e.mu.Unlock()
	if ready {
		e.reconcileWithLists(ctx)
	}
}

// reconcileWithLists fetches the channel and bridge lists and reconciles
// with them.
func (e *Engine) reconcileWithLists(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, e.cleanupT)
	defer cancel()
	channels, err := e.tel.Channels(lctx)
	if err != nil {
		e.log.Warn("reconcile: list channels", logErr, err)
		return
	}
	bridges, err := e.tel.Bridges(lctx)
	if err != nil {
		e.log.Warn("reconcile: list bridges", logErr, err)
		return
	}
	e.Reconcile(ctx, channels, bridges)
}

// hangupOrphans hangs up channels and destroys bridges this node made
// that no call owns. The far half of a Local channel we originated is
// listed too, as "<our id>;2" (Asterisk's name for it), but it is not ours
// to judge: it belongs to whoever plays the phone (an agent's dialplan,
// another application) and goes with our half when that is hung up.
func (e *Engine) hangupOrphans(ctx context.Context, channels []Channel, bridges []Bridge) {
	var orphanChans, orphanBridges []string
	e.mu.Lock()
	for _, ch := range channels {
		if strings.HasSuffix(ch.ID, ";2") {
			continue
		}
		if _, ok := e.owners[ch.ID]; !ok && strings.HasPrefix(ch.ID, idPrefix+e.node+"-") {
			orphanChans = append(orphanChans, ch.ID)
		}
	}
	for _, b := range bridges {
		if _, ok := e.owners[b.ID]; !ok && strings.HasPrefix(b.ID, idPrefix+e.node+"-") {
			orphanBridges = append(orphanBridges, b.ID)
		}
	}
	e.mu.Unlock()
	for _, id := range orphanChans {
		if err := e.tel.Hangup(ctx, id, HangupNormal); err != nil && !errors.Is(err, routing.ErrCallGone) {
			e.log.Warn("reconcile: hang up orphan channel", logChannel, id, logErr, err)
		}
	}
	for _, id := range orphanBridges {
		if err := e.tel.DestroyBridge(ctx, id); err != nil && !errors.Is(err, routing.ErrCallGone) {
			e.log.Warn("reconcile: destroy orphan bridge", "bridge", id, logErr, err)
		}
	}
}

// Run keeps the engine until ctx is done, reconciling every
// ReconcileEvery, then ends every call that is still up and waits for
// their goroutines.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(e.every)
	defer t.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-t.C:
			e.reconcileNow(ctx)
		}
	}
	e.mu.Lock()
	e.draining = true
	e.mu.Unlock()
	e.cancel(context.Cause(ctx))
	e.waitIdle()
	e.lingering.Wait()
	e.writes.Wait()
	return nil
}

// writeGrace is how long a stop waits for end-of-call writes still
// retrying.
const writeGrace = 5 * time.Second

// Stop drains the node for a restart without losing calls: new calls are
// refused at once (hung up with congestion, so Asterisk's dialplan can
// send them elsewhere) and every call is brought to a safe point, where
// its goroutine detaches and leaves its channels, bridge and router state
// for the next node to re-adopt (Reconcile):
//
//   - a waiting caller keeps music on hold in Asterisk and their place in
//     Redis; an announcement playing is stopped;
//   - a caller whose agent is ringing: the ring is cancelled (the agent's
//     leg hung up, NoAnswer without blame: the agent is resumed) and the
//     caller detaches as waiting, in their place;
//   - a conversation detaches as it is: caller and agent stay bridged;
//   - a consult is cancelled back to the transferring agent (the caller
//     hears they are back with their agent), then the conversation
//     detaches;
//   - a caller in the menu, an announcement or the returning-caller
//     question finishes that step up to the queue (or the end of the
//     call), and detaches there; so do the survey and a callback still
//     dialling, which end or reach the conversation within seconds.
//
// When ctx is done first, calls at a safe point detach anyway and the
// rest (the router has no record a node could re-adopt them from: a
// caller still in the menu, a survey, a callback dialling) are ended and
// hung up; Stop returns ctx's error once their cleanup has finished.
func (e *Engine) Stop(ctx context.Context) error {
	e.mu.Lock()
	e.draining = true
	live := make([]*call, 0, len(e.calls))
	for _, c := range e.calls {
		live = append(live, c)
	}
	e.mu.Unlock()
	for _, c := range live {
		e.post(c, message{drain: true})
	}
	done := make(chan struct{})
	go func() {
		e.waitIdle()
		// End-of-call writes still retrying get a little longer (a Redis
		// failover takes seconds): one dropped leaves a case open, or an
		// agent on_call until a reconcile notices. A store down for
		// longer does not hold the stop.
		writes := make(chan struct{})
		go func() { e.writes.Wait(); close(writes) }()
		t := time.NewTimer(writeGrace)
		defer t.Stop()
		select {
		case <-writes:
		case <-t.C:
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	e.cancel(ErrStopping)
	<-done
	return fmt.Errorf("stop: %w", ctx.Err())
}

// message is one item of a call's mailbox.
type message struct {
	ev    *Event
	offer *Offer
	cmd   *command // an API request (see control.go)
	drain bool
}

// mailbox is a bounded FIFO with a wake-up signal: put never blocks.
type mailbox struct {
	mu     sync.Mutex
	items  []message
	max    int
	notify chan struct{}
}

func newMailbox(max int) *mailbox {
	return &mailbox{max: max, notify: make(chan struct{}, 1)}
}

func (m *mailbox) put(msg message) bool {
	m.mu.Lock()
	if len(m.items) >= m.max {
		m.mu.Unlock()
		return false
	}
	m.items = append(m.items, msg)
	m.mu.Unlock()
	select {
	case m.notify <- struct{}{}:
	default:
	}
	return true
}

// hasOffer reports whether an agent offer is waiting to be read.
func (m *mailbox) hasOffer() bool {
	return m.has(func(msg message) bool { return msg.offer != nil })
}

// has reports whether a message matching pred is waiting to be read.
func (m *mailbox) has(pred func(message) bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, msg := range m.items {
		if pred(msg) {
			return true
		}
	}
	return false
}

// take removes and returns the first waiting message matching pred,
// leaving the others in order.
func (m *mailbox) take(pred func(message) bool) (message, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, msg := range m.items {
		if pred(msg) {
			m.items = append(m.items[:i:i], m.items[i+1:]...)
			return msg, true
		}
	}
	return message{}, false
}

func (m *mailbox) pop() (message, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.items) == 0 {
		return message{}, false
	}
	msg := m.items[0]
	m.items[0] = message{}
	m.items = m.items[1:]
	if len(m.items) == 0 {
		m.items = nil
	}
	return msg, true
}
