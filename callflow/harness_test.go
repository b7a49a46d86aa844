package callflow

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

const ringTimeout = 15 * time.Second

// harness runs one Engine against the fakes.
type harness struct {
	t    *testing.T
	e    *Engine
	tel  *fakeTel
	r    *fakeRouter
	cbs  *fakeCallbacks
	plan *fakePlan
	clk  *fakeClock
	obs  *recObserver
	cur  *cursor
	seq  int
}

type option func(*harness, *Options)

func newHarness(t *testing.T, opts ...option) *harness {
	t.Helper()
	h := &harness{t: t, tel: newFakeTel(), r: newFakeRouter(), cbs: newFakeCallbacks(), plan: newFakePlan(), clk: newFakeClock(), obs: &recObserver{}}
	h.cur = &cursor{t: t, tel: h.tel}
	o := Options{
		Telephony: h.tel, Router: h.r, Callbacks: h.cbs, Plan: h.plan, Clock: h.clk,
		Node: "n1", App: "hotline", Metrics: h.obs,
		Policy: Policy{RingTimeout: ringTimeout, OfferWaitThreshold: 5 * time.Minute},
		// The fakes send no PlaybackStarted: the watchdog stays out of
		// the way unless a test sets its own limits.
		PlaybackStartLimit: time.Hour, PlaybackLimit: time.Hour,
		ReconcileEvery: time.Hour, // tests reconcile when they say so

	}
	for _, f := range opts {
		f(h, &o)
	}
	h.e = New(o)
	h.tel.emit = h.e.HandleEvent
	h.cbs.dial = h.e.Dial
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitLimit):
			t.Errorf("Run did not return")
		}
		if n := h.e.Active(); n != 0 {
			t.Errorf("%d calls still registered after Run", n)
		}
	})
	return h
}

// arrive makes a caller enter the application on a service number, as a
// Local pair's ;2 half would (transcript 01).
func (h *harness) arrive(number, callerNumber string) string {
	h.seq++
	id := fmt.Sprintf("1795305073.%d", h.seq)
	name := fmt.Sprintf("Local/%s@hotline-%08x;2", number, h.seq)
	h.tel.mu.Lock()
	h.tel.names[name] = id
	h.tel.mu.Unlock()
	h.e.HandleEvent(Event{Kind: Entered, Args: []string{number},
		Channel: id, Name: name, CallerNumber: callerNumber, Language: "en"})
	return id
}

func (h *harness) finish(a action) {
	h.e.HandleEvent(Event{Kind: PlaybackFinished, Playback: a.ID})
}

func (h *harness) dtmf(ch, digits string) {
	for _, d := range digits {
		h.e.HandleEvent(Event{Kind: DigitPressed, Channel: ch, Digit: string(d)})
	}
}

// phonePress is a digit pressed on the phone half of a caller's Local
// pair: it arrives on the Stasis half.
func (h *harness) phonePress(stasisName, digit string) {
	phone := stasisName[:len(stasisName)-2] + ";1"
	h.e.HandleEvent(Event{Kind: DigitPressed, Channel: h.tel.otherHalf(phone), Digit: digit})
}

// hangup is a channel hung up by its far end: HangupRequest then
// StasisEnd, and no ChannelDestroyed (transcript 01).
func (h *harness) hangup(ch string) {
	h.e.HandleEvent(Event{Kind: HangupRequested, Channel: ch, Reason: "Normal Clearing"})
	h.e.HandleEvent(Event{Kind: Left, Channel: ch})
}

// answer is an originated leg picked up: the dial answered, then it
// enters the application (transcript 03).
func (h *harness) answer(leg string, args ...string) {
	h.e.HandleEvent(Event{Kind: Dialled, Channel: leg, Dial: DialAnswered})
	h.e.HandleEvent(Event{Kind: Entered, Args: args, Channel: leg})
}

// dialFail is an originated leg whose dial fails; the channel is then
// destroyed (transcript 09).
func (h *harness) dialFail(leg string, outcome DialOutcome) {
	h.e.HandleEvent(Event{Kind: Dialled, Channel: leg, Dial: outcome})
	h.e.HandleEvent(Event{Kind: Destroyed, Channel: leg})
}

// idle waits until no call is registered: every call goroutine has ended.
func (h *harness) idle() {
	h.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for h.e.Active() != 0 {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d calls still active; actions:\n%s", h.e.Active(), h.tel.dump())
		}
		time.Sleep(time.Millisecond) // polling for the goroutine's exit, not for logic
	}
}

// noLeaks checks that every bridge was destroyed and every playback either
// finished or was stopped.
func (h *harness) noLeaks(open ...string) {
	h.t.Helper()
	h.tel.mu.Lock()
	defer h.tel.mu.Unlock()
	if len(h.tel.bridges) != 0 {
		h.t.Errorf("bridges left: %v", h.tel.bridges)
	}
	for id := range h.tel.playbacks {
		if !slices.Contains(open, id) {
			h.t.Errorf("playback %s neither finished nor stopped", id)
		}
	}
}

func (h *harness) pbDone(a action) {
	h.tel.mu.Lock()
	delete(h.tel.playbacks, a.ID)
	h.tel.mu.Unlock()
	h.finish(a)
}

// queued brings a caller on number 200 (topic service, English) into the
// queue and returns the caller channel.
func (h *harness) queued() string {
	h.t.Helper()
	ch := h.arrive("200", "5551234")
	h.cur.expect("answer", op("answer", ch))
	h.r.waitCall(h.t, "Enqueue "+ch+" service en")
	h.cur.expect("moh", op("moh", ch))
	return ch
}

func agent(id string) routing.AgentStatus {
	return routing.AgentStatus{Agent: routing.Agent{ID: id, Name: "Agent " + id, Endpoint: "Local/" + id + "@agents"}, State: routing.StateRinging}
}

func (h *harness) offer(ch, agentID string) Offer {
	return Offer{CallID: ch, CaseID: "case1", Topic: "service", Node: "n1", Agent: agent(agentID), RingDeadline: h.clk.Now().Add(ringTimeout)}
}

// connected takes a queued caller to a conversation with agent id and
// returns the agent leg and the bridge.
func (h *harness) connected(ch, agentID string) (leg, bridge string) {
	h.t.Helper()
	h.e.Deliver(h.offer(ch, agentID))
	orig := h.cur.expect("originate agent", op("originate", "Local/"+agentID+"@agents"))
	leg = orig.ID
	h.answer(leg, "agent", ch, agentID)
	h.r.waitCall(h.t, "Answered "+ch+" "+agentID)
	wh := h.cur.expect("whisper", playing(leg, "whisper-service"))
	h.pbDone(wh)
	br := h.cur.expect("bridge", op("bridge", ""))
	h.cur.expect("add caller and agent", func(a action) bool {
		return a.Op == "add" && a.Chan == br.ID && slices.Equal(a.Chans, []string{ch, leg})
	})
	return leg, br.ID
}

// waitGoroutines waits until no more than max goroutines run, and fails
// with every goroutine's stack if they do not exit within waitLimit.
func waitGoroutines(t *testing.T, max int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for runtime.NumGoroutine() > max {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines %d > %d:\n%s", runtime.NumGoroutine(), max, buf[:n])
		}
		time.Sleep(time.Millisecond) // polling for exits, not for logic
	}
}
