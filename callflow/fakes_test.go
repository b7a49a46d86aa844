package callflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-project/hotline/internal/testclock"
	"github.com/hotline-project/hotline/routing"
)

// waitLimit bounds every wait for the engine in tests: reaching it is a
// failure (a deadlock or a missing action), never part of the logic.
const waitLimit = 5 * time.Second

// signal is a broadcast: waiters take ch, and every change closes it and
// makes a new one.
type signal struct {
	ch chan struct{}
}

func newSignal() signal { return signal{ch: make(chan struct{})} }

func (s *signal) fire() { close(s.ch); s.ch = make(chan struct{}) }

// ---- clock ----

// fakeClock is the tests' clock as the engine's Clock.
type fakeClock struct{ *testclock.Clock }

func newFakeClock() *fakeClock {
	return &fakeClock{testclock.New(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))}
}

func (c *fakeClock) NewTimer(d time.Duration) Timer { return c.Clock.NewTimer(d) }

// waitTimer waits until a pending timer of duration d exists.
func (c *fakeClock) waitTimer(t *testing.T, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := c.WaitTimer(ctx, d); err != nil {
		t.Fatal(err)
	}
}

// ---- telephony ----

// action is one REST request the engine made.
type action struct {
	Op    string // answer, hangup, originate, play, stopplay, moh, stopmoh, bridge, add, remove, destroy, progress
	Chan  string // channel or bridge the action is on
	ID    string // playback, bridge or originated channel id
	Media []string
	Lang  string
	Req   OriginateRequest
	Chans []string
	Arg   string
}

func (a action) String() string {
	s := a.Op + " " + a.Chan
	if a.ID != "" {
		s += " id=" + a.ID
	}
	if len(a.Media) > 0 {
		s += " media=" + strings.Join(a.Media, ",") + " lang=" + a.Lang
	}
	if len(a.Chans) > 0 {
		s += " chans=" + strings.Join(a.Chans, ",")
	}
	if a.Arg != "" {
		s += " " + a.Arg
	}
	return s
}

type fakeTel struct {
	mu        sync.Mutex
	actions   []action
	sig       signal
	failOrig  map[string]error // endpoint → originate error
	names     map[string]string
	localSeq  int
	hungUp    map[string]bool
	bridges   map[string]bool
	playbacks map[string]bool
	gone      map[string]bool // channels Asterisk no longer has (404)
	// inBridge is where Asterisk has each channel; emit (the engine's
	// HandleEvent, once the harness has one) gets ChannelEnteredBridge and
	// ChannelLeftBridge as the bridge REST calls move channels, as Asterisk
	// sends them.
	inBridge map[string]string
	emit     func(Event)
	snoops   map[string]string // whisper channel → the channel it whispers to
	// listed is what Channels returns (the periodic reconcile's view).
	listed []Channel
}

// moved reports channels joining (bridge != "") or leaving their bridges.
func (f *fakeTel) moved(bridge string, chans ...string) {
	f.mu.Lock()
	var evs []Event
	for _, ch := range chans {
		if old := f.inBridge[ch]; old != "" && old != bridge {
			evs = append(evs, Event{Kind: LeftBridge, Channel: ch, Bridge: old})
			delete(f.inBridge, ch)
		}
		if bridge != "" && f.inBridge[ch] != bridge {
			f.inBridge[ch] = bridge
			evs = append(evs, Event{Kind: JoinedBridge, Channel: ch, Bridge: bridge})
		}
	}
	emit := f.emit
	f.mu.Unlock()
	if emit != nil {
		for _, ev := range evs {
			emit(ev)
		}
	}
}

func newFakeTel() *fakeTel {
	return &fakeTel{sig: newSignal(), failOrig: map[string]error{}, names: map[string]string{},
		hungUp: map[string]bool{}, bridges: map[string]bool{}, playbacks: map[string]bool{}, gone: map[string]bool{},
		inBridge: map[string]string{}, snoops: map[string]string{}}
}

func (f *fakeTel) rec(a action) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, a)
	switch a.Op {
	case "hangup":
		f.hungUp[a.Chan] = true
	case "bridge":
		f.bridges[a.ID] = true
	case "destroy":
		delete(f.bridges, a.Chan)
	case "play":
		f.playbacks[a.ID] = true
	case "stopplay":
		delete(f.playbacks, a.ID)
	}
	f.sig.fire()
}

func (f *fakeTel) Answer(_ context.Context, ch string) error {
	f.rec(action{Op: "answer", Chan: ch})
	return nil
}

func (f *fakeTel) Hangup(_ context.Context, ch string, cause HangupCause) error {
	reason := "normal"
	if cause == HangupCongestion {
		reason = "congestion"
	}
	f.rec(action{Op: "hangup", Chan: ch, Arg: reason})
	return nil
}

func (f *fakeTel) Originate(_ context.Context, req OriginateRequest) error {
	f.mu.Lock()
	err := f.failOrig[req.Endpoint]
	f.localSeq++
	name := fmt.Sprintf("%s-%08x;1", req.Endpoint, f.localSeq)
	f.names[name] = req.ChannelID
	f.mu.Unlock()
	f.rec(action{Op: "originate", Chan: req.Endpoint, ID: req.ChannelID, Req: req})
	return err
}

// Play records a playback on the channel that hears it: a play on a
// whisper channel is recorded on the channel it whispers to, with
// Arg "whisper".
func (f *fakeTel) Play(_ context.Context, ch, id string, media []string, lang string) error {
	f.mu.Lock()
	heard, whisper := f.snoops[ch]
	f.mu.Unlock()
	if whisper {
		f.rec(action{Op: "play", Chan: heard, ID: id, Media: media, Lang: lang, Arg: "whisper"})
		return nil
	}
	f.rec(action{Op: "play", Chan: ch, ID: id, Media: media, Lang: lang})
	return nil
}

func (f *fakeTel) StopPlayback(_ context.Context, id string) error {
	f.rec(action{Op: "stopplay", ID: id})
	return nil
}

func (f *fakeTel) StartMOH(_ context.Context, ch, class string) error {
	f.rec(action{Op: "moh", Chan: ch, Arg: class})
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone[ch] {
		return routing.ErrCallGone
	}
	return nil
}

func (f *fakeTel) StopMOH(_ context.Context, ch string) error {
	f.rec(action{Op: "stopmoh", Chan: ch})
	return nil
}

func (f *fakeTel) CreateConversation(_ context.Context, id, name string) error {
	f.rec(action{Op: "bridge", ID: id, Arg: "conversation"})
	return nil
}

// Join and Unjoin report the move before the request is seen done: a
// test that waits for the request and then sends a bridged channel's
// digits must find them after the move, as they come from Asterisk.
func (f *fakeTel) Join(_ context.Context, id string, chans ...string) error {
	f.moved(id, chans...)
	f.rec(action{Op: "add", Chan: id, Chans: chans})
	return nil
}

func (f *fakeTel) Unjoin(_ context.Context, id string, chans ...string) error {
	f.moved("", chans...)
	f.rec(action{Op: "remove", Chan: id, Chans: chans})
	return nil
}

func (f *fakeTel) DestroyBridge(_ context.Context, id string) error {
	f.rec(action{Op: "destroy", Chan: id})
	f.mu.Lock()
	var members []string
	for ch, b := range f.inBridge {
		if b == id {
			members = append(members, ch)
		}
	}
	f.mu.Unlock()
	f.moved("", members...)
	return nil
}

// Whisper makes a whisper channel that enters the application at once,
// as a snoop channel does on Asterisk (transcript 10).
func (f *fakeTel) Whisper(_ context.Context, ch, id, app string, args []string) error {
	f.mu.Lock()
	f.snoops[id] = ch
	emit := f.emit
	f.mu.Unlock()
	f.rec(action{Op: "snoop", Chan: ch, ID: id})
	if emit != nil {
		emit(Event{Kind: Entered, Args: args, Channel: id, Name: "Snoop/" + ch + "-00000000"})
	}
	return nil
}

func (f *fakeTel) Channels(context.Context) ([]Channel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.listed), nil
}

func (f *fakeTel) Bridges(context.Context) ([]Bridge, error) { return nil, nil }

// HandBack records each variable as a setvar, then the continue.
func (f *fakeTel) HandBack(_ context.Context, ch string, vars map[string]string) error {
	for name, value := range vars {
		f.rec(action{Op: "setvar", Chan: ch, Arg: name + "=" + value})
	}
	f.rec(action{Op: "continue", Chan: ch})
	return nil
}

// Move brings a channel into the application: it enters at once.
func (f *fakeTel) Move(_ context.Context, ch, app string, args []string) error {
	f.rec(action{Op: "move", Chan: ch, Arg: app})
	f.mu.Lock()
	emit := f.emit
	f.mu.Unlock()
	if emit != nil {
		emit(Event{Kind: Entered, Args: args, Channel: ch})
	}
	return nil
}

// ReportTransfer records the outcome's name: proceeding, done,
// unavailable or refused.
func (f *fakeTel) ReportTransfer(_ context.Context, ch string, outcome TransferOutcome) error {
	name := map[TransferOutcome]string{TransferProceeding: "proceeding", TransferDone: "done",
		TransferUnavailable: "unavailable", TransferRefused: "refused"}[outcome]
	f.rec(action{Op: "progress", Chan: ch, Arg: name})
	return nil
}

// cursor reads the action log in order, so a test states what happens
// next without caring about actions it already passed.
type cursor struct {
	t   *testing.T
	tel *fakeTel
	pos int
}

// expect waits for the next action matching pred and returns it.
func (c *cursor) expect(what string, pred func(action) bool) action {
	c.t.Helper()
	deadline := time.After(waitLimit)
	for {
		c.tel.mu.Lock()
		for i := c.pos; i < len(c.tel.actions); i++ {
			if pred(c.tel.actions[i]) {
				a := c.tel.actions[i]
				c.pos = i + 1
				c.tel.mu.Unlock()
				return a
			}
		}
		ch := c.tel.sig.ch
		c.tel.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			c.t.Fatalf("no action %s; got:\n%s", what, c.tel.dump())
		}
	}
}

// op matches an action by op and channel (empty: any).
func op(name, ch string) func(action) bool {
	return func(a action) bool { return a.Op == name && (ch == "" || a.Chan == ch) }
}

// playing matches a playback on ch whose media contain the substring.
func playing(ch, media string) func(action) bool {
	return func(a action) bool {
		return a.Op == "play" && a.Chan == ch && strings.Contains(strings.Join(a.Media, ","), media)
	}
}

func (f *fakeTel) dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, a := range f.actions {
		b.WriteString("  " + a.String() + "\n")
	}
	return b.String()
}

// matching returns the actions so far that match pred.
func (f *fakeTel) matching(pred func(action) bool) []action {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []action
	for _, a := range f.actions {
		if pred(a) {
			out = append(out, a)
		}
	}
	return out
}

func (f *fakeTel) count(pred func(action) bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.actions {
		if pred(a) {
			n++
		}
	}
	return n
}

// otherHalf gives the id of the Stasis half of a Local pair whose phone
// half is named name: a digit "pressed" on one half of a Local channel is
// received on the other (ari-transcripts 01 and 02).
func (f *fakeTel) otherHalf(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	other := strings.TrimSuffix(name, ";2") + ";1"
	if strings.HasSuffix(name, ";1") {
		other = strings.TrimSuffix(name, ";1") + ";2"
	}
	return f.names[other]
}

// ---- router ----

type fakeRouter struct {
	mu       sync.Mutex
	calls    []string
	sig      signal
	cases    map[string]routing.Case
	openFor  map[string]string // caller number → case id
	agents   map[string]routing.AgentStatus
	queue    QueueInfo
	transfer func(TransferRequest) (Transfer, error)
	rated    map[string]bool
	live     map[string]Call
	seq      int
	// deadNodes are the nodes whose callers TakeOver gives this node.
	deadNodes map[string]bool
	// down makes the next n calls of a method fail as an unreachable
	// store does (each is still recorded, with " down" appended).
	down map[string]int
}

var errStoreDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

// unreachable reports whether this call of method fails, as set in down.
func (r *fakeRouter) unreachable(method string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down[method] > 0 {
		r.down[method]--
		return true
	}
	return false
}

func newFakeRouter() *fakeRouter {
	return &fakeRouter{sig: newSignal(), cases: map[string]routing.Case{}, openFor: map[string]string{},
		agents: map[string]routing.AgentStatus{}, rated: map[string]bool{}, live: map[string]Call{}, down: map[string]int{}, deadNodes: map[string]bool{},
		queue: QueueInfo{Position: 1, EstimatedWait: 30 * time.Second, AgentsLoggedIn: 2, AgentsAvailable: 0}}
}

func (r *fakeRouter) rec(s string) {
	r.calls = append(r.calls, s)
	r.sig.fire()
}

func (r *fakeRouter) record(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec(fmt.Sprintf(format, args...))
}

// waitCall waits for a recorded router call with this prefix.
func (r *fakeRouter) waitCall(t *testing.T, prefix string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		r.mu.Lock()
		found := slices.ContainsFunc(r.calls, func(s string) bool { return strings.HasPrefix(s, prefix) })
		ch := r.sig.ch
		r.mu.Unlock()
		if found {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("router: no %q; got %q", prefix, r.log())
		}
	}
}

func (r *fakeRouter) log() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *fakeRouter) countPrefix(prefix string) int {
	n := 0
	for _, s := range r.log() {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func (r *fakeRouter) Login(_ context.Context, id string) error { r.record("Login %s", id); return nil }
func (r *fakeRouter) Resume(_ context.Context, id string) error {
	r.record("Resume %s", id)
	return nil
}
func (r *fakeRouter) Logout(_ context.Context, id string) error {
	r.record("Logout %s", id)
	return nil
}
func (r *fakeRouter) Pause(_ context.Context, id, reason string) error {
	r.record("Pause %s %s", id, reason)
	return nil
}

func (r *fakeRouter) Agent(_ context.Context, id string) (routing.AgentStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.agents[id]
	if !ok {
		return a, routing.ErrNotFound
	}
	return a, nil
}

func (r *fakeRouter) ClaimAgent(_ context.Context, agentID string, call Call) (routing.AgentStatus, bool, error) {
	callID := call.ID
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec(fmt.Sprintf("ClaimAgent %s %s", agentID, callID))
	a, ok := r.agents[agentID]
	if !ok || a.State != routing.StateAvailable {
		return routing.AgentStatus{}, false, nil
	}
	a.State = routing.StateRinging
	r.agents[agentID] = a
	return a, true, nil
}

func (r *fakeRouter) OpenCase(_ context.Context, number, topic, lang string) (routing.Case, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.newCase(number, topic, lang)
	r.rec(fmt.Sprintf("OpenCase %s %s %s", number, topic, lang))
	return cs, nil
}

// newCase stores a new open case; r.mu is held.
func (r *fakeRouter) newCase(number, topic, lang string) routing.Case {
	r.seq++
	cs := routing.Case{ID: fmt.Sprintf("case%d", r.seq), CallerNumber: number, Topic: topic, Lang: lang, Status: routing.CaseOpen, Note: "router fault, red light"}
	r.cases[cs.ID] = cs
	return cs
}

func (r *fakeRouter) OpenCaseFor(_ context.Context, number string) (routing.Case, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.openFor[number]
	if !ok {
		return routing.Case{}, false, nil
	}
	return r.cases[id], true, nil
}

func (r *fakeRouter) Case(_ context.Context, id string) (routing.Case, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs, ok := r.cases[id]
	if !ok {
		return cs, routing.ErrNotFound
	}
	return cs, nil
}

func (r *fakeRouter) Rate(_ context.Context, caseID string, score int) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec(fmt.Sprintf("Rate %s %d", caseID, score))
	if r.rated[caseID] {
		return false, nil
	}
	r.rated[caseID] = true
	return true, nil
}

func (r *fakeRouter) CloseCase(_ context.Context, id string) (int, error) {
	if r.unreachable("CloseCase") {
		r.record("CloseCase %s down", id)
		return 0, errStoreDown
	}
	r.record("CloseCase %s", id)
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cases[id].Agents), nil
}

func (r *fakeRouter) Enqueue(_ context.Context, c Call) (QueueInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec(fmt.Sprintf("Enqueue %s %s %s agent=%s case=%s", c.ID, c.Topic, c.Lang, c.AgentID, c.CaseID))
	return r.queue, nil
}

// EnqueueNewCase records like Enqueue, naming the case it opened as new.
func (r *fakeRouter) EnqueueNewCase(_ context.Context, c Call) (routing.Case, QueueInfo, error) {
	if r.unreachable("Enqueue") {
		r.record("Enqueue %s down", c.ID)
		return routing.Case{}, QueueInfo{}, errStoreDown
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.newCase(c.CallerNumber, c.Topic, c.Lang)
	r.rec(fmt.Sprintf("Enqueue %s %s %s agent=%s case=new:%s", c.ID, c.Topic, c.Lang, c.AgentID, cs.ID))
	return cs, r.queue, nil
}

func (r *fakeRouter) QueueInfo(_ context.Context, id string) (QueueInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rec("QueueInfo " + id)
	return r.queue, nil
}

func (r *fakeRouter) Answered(_ context.Context, o Offer) error {
	r.record("Answered %s %s", o.CallID, o.Agent.ID)
	return nil
}

func (r *fakeRouter) Unreachable(_ context.Context, o Offer) error {
	r.record("Unreachable %s %s", o.CallID, o.Agent.ID)
	return nil
}

func (r *fakeRouter) TakeOver(_ context.Context, id string) (Call, error) {
	r.record("TakeOver %s", id)
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.live[id]
	if !ok || c.State != routing.CallQueued || !r.deadNodes[c.Node] {
		return Call{}, routing.ErrIllegalTransition
	}
	c.Node = "n1"
	r.live[id] = c
	return c, nil
}

func (r *fakeRouter) NoAnswer(_ context.Context, o Offer) error {
	r.record("NoAnswer %s %s", o.CallID, o.Agent.ID)
	return nil
}

// ReleaseOffer puts a live call back in its queue, as the router does.
func (r *fakeRouter) ReleaseOffer(_ context.Context, o Offer) error {
	r.record("ReleaseOffer %s %s", o.CallID, o.Agent.ID)
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.live[o.CallID]; ok {
		c.State, c.AgentID = routing.CallQueued, ""
		r.live[o.CallID] = c
	}
	return nil
}

func (r *fakeRouter) Leave(_ context.Context, id string) error {
	if r.unreachable("Leave") {
		r.record("Leave %s down", id)
		return errStoreDown
	}
	r.record("Leave %s", id)
	r.mu.Lock()
	delete(r.live, id) // an ended call is no longer the router's
	r.mu.Unlock()
	return nil
}

// ActiveCalls returns what a test put in live, in id order.
func (r *fakeRouter) ActiveCalls(_ context.Context) ([]Call, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Call, 0, len(r.live))
	for _, c := range r.live {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Call) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Call returns what a test put in live (the router's record of calls a
// stopped node left behind).
func (r *fakeRouter) Call(_ context.Context, id string) (Call, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.live[id]
	if !ok {
		return Call{}, routing.ErrNotFound
	}
	return c, nil
}

func (r *fakeRouter) EndCall(_ context.Context, id, agent string) error {
	if r.unreachable("EndCall") {
		r.record("EndCall %s %s down", id, agent)
		return errStoreDown
	}
	r.record("EndCall %s %s", id, agent)
	r.mu.Lock()
	delete(r.live, id)
	r.mu.Unlock()
	return nil
}

func (r *fakeRouter) BeginTransfer(_ context.Context, req TransferRequest) (Transfer, error) {
	r.record("BeginTransfer %s %s %s %s", req.CallID, req.To, req.Mode, req.Note)
	r.mu.Lock()
	f := r.transfer
	r.mu.Unlock()
	return f(req)
}

func (r *fakeRouter) AcceptTransfer(_ context.Context, id, tr string) error {
	r.record("AcceptTransfer %s %s", id, tr)
	return nil
}

func (r *fakeRouter) CancelTransfer(_ context.Context, id, tr string, noAnswer bool) error {
	r.record("CancelTransfer %s %s %v", id, tr, noAnswer)
	return nil
}

// ---- callbacks ----

type fakeCallbacks struct {
	mu    sync.Mutex
	calls []string
	sig   signal
	store map[string]Callback
	dial  func(Callback, AgentStatus)
}

func newFakeCallbacks() *fakeCallbacks {
	return &fakeCallbacks{sig: newSignal(), store: map[string]Callback{}}
}

func (f *fakeCallbacks) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	f.sig.fire()
}

func (f *fakeCallbacks) waitCall(t *testing.T, prefix string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		f.mu.Lock()
		found := slices.ContainsFunc(f.calls, func(s string) bool { return strings.HasPrefix(s, prefix) })
		ch := f.sig.ch
		calls := slices.Clone(f.calls)
		f.mu.Unlock()
		if found {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("callbacks: no %q; got %q", prefix, calls)
		}
	}
}

func (f *fakeCallbacks) KeepPosition(_ context.Context, c Call) (Callback, error) {
	f.record("KeepPosition %s %s %s", c.ID, c.Topic, c.Lang)
	return Callback{ID: "cb-" + c.ID, Kind: routing.CallbackQueue}, nil
}

func (f *fakeCallbacks) ScheduleOwner(_ context.Context, caseID, owner string, due time.Time, note string) (Callback, error) {
	f.record("ScheduleOwner %s %s %s %s", caseID, owner, due.Format(time.DateTime), note)
	return Callback{ID: "cb-" + caseID, CaseID: caseID, Owner: owner, Note: note, DueAt: due, Kind: routing.CallbackOwner, State: routing.CallbackScheduled}, nil
}

// Offered leases a kept-position callback and dials it, as
// routing.Callbacks does: through the engine's Dial hook.
func (f *fakeCallbacks) Offered(_ context.Context, o Offer) error {
	f.record("Offered %s %s", o.CallID, o.CallbackID)
	f.mu.Lock()
	cb, ok := f.store[o.CallbackID]
	dial := f.dial
	f.mu.Unlock()
	if !ok {
		return routing.ErrNotFound
	}
	dial(cb, o.Agent)
	return nil
}

func (f *fakeCallbacks) Completed(_ context.Context, id string) error {
	f.record("Completed %s", id)
	return nil
}

func (f *fakeCallbacks) AttemptFailed(_ context.Context, id, reason string) error {
	f.record("AttemptFailed %s %s", id, reason)
	return nil
}

// ---- plan ----

type fakePlan struct {
	routes   map[string]Route
	menus    map[string]Menu
	closed   map[string]bool
	agents   map[string]string
	settings Settings
}

func newFakePlan() *fakePlan {
	s := DefaultSettings()
	s.AnnounceInterval = 30 * time.Second
	s.Features.TopicDigits = map[string]string{"1": "connections", "2": "audit", "3": "service"}
	return &fakePlan{
		routes: map[string]Route{
			"100": {Number: "100", Action: ActionMenu, Menu: "main", Lang: "uk"},
			"200": {Number: "200", Action: ActionTopic, Topic: "service", Lang: "en"},
			"300": {Number: "300", Action: ActionTopic, Topic: "audit", Lang: "pl"},
			"999": {Number: "999", Action: ActionAgentLogin},
		},
		menus: map[string]Menu{
			"main": {Name: "main", Prompt: "menu-main", Timeout: 4 * time.Second, Retries: 2, Default: "service",
				Options: map[string]MenuOption{"1": {Topic: "connections"}, "2": {Topic: "audit"}, "3": {Topic: "service"}, "9": {Lang: "en"}}},
		},
		closed:   map[string]bool{},
		agents:   map[string]string{"5550100": "100"},
		settings: s,
	}
}

func (p *fakePlan) Route(n string) (Route, bool)        { r, ok := p.routes[n]; return r, ok }
func (p *fakePlan) Menu(n string) (Menu, bool)          { m, ok := p.menus[n]; return m, ok }
func (p *fakePlan) Open(topic string, _ time.Time) bool { return !p.closed[topic] }
func (p *fakePlan) Prompt(name, lang string) string     { return "sound:" + lang + "/" + name }
func (p *fakePlan) CallbackEndpoint(number string) string {
	if !phoneNumber(number) {
		return "" // as the dial template refuses a withheld number
	}
	return "PJSIP/" + number + "@trunk"
}
func (p *fakePlan) Settings() Settings               { return p.settings }
func (p *fakePlan) AgentFor(n string) (string, bool) { a, ok := p.agents[n]; return a, ok }
func (p *fakePlan) Whisper(topic string, kind WhisperKind) []string {
	return []string{"sound:whisper-" + topic, "sound:whisper-kind-" + strconv.Itoa(int(kind))}
}

// ---- observer ----

type recObserver struct {
	mu  sync.Mutex
	log []string
}

func (o *recObserver) add(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.log = append(o.log, fmt.Sprintf(format, args...))
}

func (o *recObserver) has(s string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Contains(o.log, s)
}

func (o *recObserver) count(s string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, x := range o.log {
		if x == s {
			n++
		}
	}
	return n
}

func (o *recObserver) CallOffered(topic string)                   { o.add("offered %s", topic) }
func (o *recObserver) CallAnswered(topic string, w time.Duration) { o.add("answered %s %v", topic, w) }
func (o *recObserver) CallHandled(topic string, d time.Duration)  { o.add("handled %s %v", topic, d) }
func (o *recObserver) Abandoned(topic string)                     { o.add("abandoned %s", topic) }
func (o *recObserver) Transfer(result string)                     { o.add("transfer %s", result) }
func (o *recObserver) Callback(state string)                      { o.add("callback %s", state) }
func (o *recObserver) Rating(score int)                           { o.add("rating %d", score) }
func (o *recObserver) Consult(d time.Duration, result string)     { o.add("consult %s", result) }
func (o *recObserver) AgentsPerResolvedCall(n int)                { o.add("agents %d", n) }
func (o *recObserver) MailboxOverflow()                           { o.add("overflow") }
func (o *recObserver) PlaybackFailed(sound string)                { o.add("playback failed %s", sound) }
func (o *recObserver) AgentUnreachable()                          { o.add("unreachable") }
func (o *recObserver) HandedBack(reason string)                   { o.add("handed back %s", reason) }

var (
	_ Telephony = (*fakeTel)(nil)
	_ Router    = (*fakeRouter)(nil)
	_ Callbacks = (*fakeCallbacks)(nil)
	_ Plan      = (*fakePlan)(nil)
	_ Observer  = (*recObserver)(nil)
	_ Clock     = (*fakeClock)(nil)
)
