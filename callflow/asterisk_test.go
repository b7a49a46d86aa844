package callflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// Behaviours of the real Asterisk 22 that the call flow must survive,
// each seen on one (see the simulator's conformance suite).

// TestPlaybackThatNeverStarts: Asterisk accepted a playback (201) and sent
// no event for it at all, as it does for a play queued while the channel
// leaves a bridge being destroyed. The caller must not wait in silence
// for ever: the playback ends as failed within its bound, is counted,
// and the call goes on.
func TestPlaybackThatNeverStarts(t *testing.T) {
	h := newHarness(t, func(_ *harness, o *Options) { o.PlaybackStartLimit = 30 * time.Millisecond })
	ch := h.arrive("555", "5551234")
	h.cur.expect("polite prompt", playing(ch, "unknown-number"))
	// No PlaybackStarted, no PlaybackFinished.
	h.cur.expect("the call goes on and ends", op("hangup", ch))
	h.idle()
	if n := h.obs.count("playback failed en/unknown-number"); n != 1 {
		t.Errorf("lost playback counted %d times: %v", n, h.obs.log)
	}
}

// TestPlaybackThatStallsAfterStarting: started, then no end within the
// overall bound.
func TestPlaybackThatStallsAfterStarting(t *testing.T) {
	h := newHarness(t, func(_ *harness, o *Options) {
		o.PlaybackStartLimit = time.Hour
		o.PlaybackLimit = 30 * time.Millisecond
	})
	ch := h.arrive("555", "5551234")
	a := h.cur.expect("polite prompt", playing(ch, "unknown-number"))
	h.e.HandleEvent(Event{Kind: PlaybackStarted, Playback: a.ID})
	h.cur.expect("the call goes on and ends", op("hangup", ch))
	h.idle()
	if n := h.obs.count("playback failed en/unknown-number"); n != 1 {
		t.Errorf("stalled playback counted %d times: %v", n, h.obs.log)
	}
}

// TestMissingSoundCounted: a missing sound is 201, PlaybackStarted, then
// PlaybackFinished "failed" naming the item: counted by that sound (a
// number by its kind), and the call goes on as if it had played.
func TestMissingSoundCounted(t *testing.T) {
	h := newHarness(t)
	ch := h.arrive("555", "5551234")
	a := h.cur.expect("polite prompt", playing(ch, "unknown-number"))
	h.e.HandleEvent(Event{Kind: PlaybackStarted, Playback: a.ID})
	h.e.HandleEvent(Event{Kind: PlaybackFinished, Playback: a.ID, Failed: true, Media: "sound:hotline-unknown-number"})
	h.cur.expect("the call goes on and ends", op("hangup", ch))
	h.idle()
	if n := h.obs.count("playback failed hotline-unknown-number"); n != 1 {
		t.Errorf("missing sound counted %d times: %v", n, h.obs.log)
	}
}

// TestConversationBridgeRaisesDigits: a mixing bridge of two PJSIP legs
// goes native RTP on a real Asterisk, where no DTMF event is raised and
// the agent's feature codes reach the caller's phone instead. The caller
// and the agent talk in a conversation bridge (Telephony's
// CreateConversation: the adapter makes one whose digits reach the call
// flow and nobody else), and a transfer target joins that same bridge.
func TestConversationBridgeRaisesDigits(t *testing.T) {
	h := newHarness(t, withTransfers)
	ch := h.queued()
	leg, br := h.connected(ch, "100")
	if b := h.tel.matching(op("bridge", "")); len(b) != 1 || b[0].Arg != "conversation" {
		t.Errorf("bridges %v, want one conversation bridge", b)
	}
	h.dtmf(leg, "*21")
	target := h.cur.expect("target rung", op("originate", "Local/200@agents")).ID
	h.answer(target, "agent", ch, "200")
	h.pbDone(h.cur.expect("whisper to the target", playing(target, "whisper")))
	h.cur.expect("target joins the consult", func(a action) bool { return a.Op == "add" && slices.Contains(a.Chans, target) })
	for _, a := range h.tel.matching(op("add", "")) {
		if a.Chan != br {
			t.Errorf("%v joined %s, not the conversation bridge", a.Chans, a.Chan)
		}
	}
	h.hangup(ch)
	h.idle()
}

// TestRefusedOriginateDoesNotSpin: Asterisk refuses to dial an agent whose
// phone is not registered (500 "Allocation failed"). Released at once, the
// offer came straight back to the same agent, the longest idle, and the
// originate was refused again: about 1,500 a second for one waiting
// caller. Now each refusal holds the offer for a growing backoff, and the
// third in a row pauses the agent "unreachable"; the caller keeps their
// place throughout.
func TestRefusedOriginateDoesNotSpin(t *testing.T) {
	h := newHarness(t)
	h.tel.failOrig["Local/100@agents"] = fmt.Errorf("%w: ari status 500: Allocation failed", ErrDialRefused)
	ch := h.queued()
	for i, backoff := range []time.Duration{time.Second, 2 * time.Second} {
		h.e.Deliver(h.offer(ch, "100"))
		h.cur.expect("refused originate", op("originate", "Local/100@agents"))
		h.clk.waitTimer(t, backoff)
		if n := h.tel.count(op("originate", "Local/100@agents")); n != i+1 {
			t.Fatalf("%d originates before the backoff of refusal %d ended", n, i+1)
		}
		h.clk.Advance(backoff)
		h.r.waitCall(t, "ReleaseOffer "+ch+" 100")
		h.r.mu.Lock()
		h.r.calls = nil
		h.r.mu.Unlock()
	}
	h.e.Deliver(h.offer(ch, "100"))
	h.cur.expect("third refused originate", op("originate", "Local/100@agents"))
	h.r.waitCall(t, "Unreachable "+ch+" 100")
	if !h.obs.has("unreachable") {
		t.Errorf("unreachable agent not counted: %v", h.obs.log)
	}
	if h.r.countPrefix("Leave") != 0 || h.r.countPrefix("NoAnswer") != 0 {
		t.Errorf("caller lost their place or agent blamed: %v", h.r.log())
	}
	// Once the agent's phone works again the count starts afresh.
	delete(h.tel.failOrig, "Local/100@agents")
	h.connected(ch, "100")
	h.hangup(ch)
	h.idle()
}

// TestTransportErrorsNeverPauseAgents: ARI not answering says nothing of
// the agent: the offer backs off and is released, however often.
func TestTransportErrorsNeverPauseAgents(t *testing.T) {
	h := newHarness(t)
	h.tel.failOrig["Local/100@agents"] = errors.New("dial tcp 127.0.0.1:8088: connection refused")
	ch := h.queued()
	for range maxDialRefusals + 2 {
		h.e.Deliver(h.offer(ch, "100"))
		h.clk.waitTimer(t, 500*time.Millisecond)
		h.clk.Advance(500 * time.Millisecond)
		h.r.waitCall(t, "ReleaseOffer "+ch+" 100")
		h.r.mu.Lock()
		h.r.calls = nil
		h.r.mu.Unlock()
	}
	if h.r.countPrefix("Unreachable") != 0 {
		t.Errorf("an agent paused for ARI's outage: %v", h.r.log())
	}
	h.hangup(ch)
	h.idle()
}

// TestPlaysWaitForBridgeMoves: a play queued while its channel leaves a
// bridge blocks the channel in Asterisk for up to 10 minutes (no events,
// no hang-up), and one queued as it joins is lost. The survey after the
// agent hangs up is played once Asterisk reports the caller out of the
// destroyed bridge.
func TestPlaysWaitForBridgeMoves(t *testing.T) {
	h := newHarness(t)
	ch := h.queued()
	leg, _ := h.connected(ch, "100")
	var held []Event
	var mu sync.Mutex
	h.tel.mu.Lock()
	emit := h.tel.emit
	h.tel.emit = func(ev Event) {
		if ev.Kind == LeftBridge && ev.Channel == ch {
			mu.Lock()
			held = append(held, ev)
			mu.Unlock()
			return
		}
		emit(ev)
	}
	h.tel.mu.Unlock()
	h.hangup(leg)
	h.cur.expect("bridge destroyed", op("destroy", ""))
	time.Sleep(50 * time.Millisecond)
	if n := h.tel.count(playing(ch, "survey")); n != 0 {
		t.Fatal("survey played before the caller left the bridge")
	}
	mu.Lock()
	for _, ev := range held {
		emit(ev)
	}
	mu.Unlock()
	h.cur.expect("survey once the caller is out", playing(ch, "survey"))
	h.hangup(ch)
	h.idle()
}

// TestPromptsToBridgedChannelsAreWhispered: Asterisk plays to a bridged
// channel through the bridge and blocks the channel's Stasis thread until
// it is done; if the channel leaves the bridge meanwhile (the agent keys
// *7 and puts the phone down) the channel is stuck for 10 minutes, not
// even hung up. Prompts to the caller and the agent in the conversation
// go through a whisper (snoop) channel of their own instead, which is
// hung up when the prompt ends.
func TestPromptsToBridgedChannelsAreWhispered(t *testing.T) {
	h := newHarness(t, withTransfers)
	ch := h.queued()
	leg, _ := h.connected(ch, "100")
	h.dtmf(leg, "*7")
	for _, to := range []string{ch, leg} {
		a := h.cur.expect("prompt to "+to, func(a action) bool { return a.Op == "play" && a.Chan == to })
		if a.Arg != "whisper" {
			t.Errorf("prompt to %s played on the bridged channel itself", to)
		}
		snoop := h.tel.matching(func(s action) bool { return s.Op == "snoop" && s.Chan == to })
		if len(snoop) != 1 {
			t.Fatalf("whisper channels for %s: %v", to, snoop)
		}
		if h.tel.count(op("hangup", snoop[0].ID)) != 0 {
			t.Errorf("whisper channel for %s hung up before its prompt ended", to)
		}
		h.pbDone(a)
		(&cursor{t: t, tel: h.tel}).expect("whisper channel hung up after its prompt", op("hangup", snoop[0].ID))
	}
	// Out of the bridge (the survey), prompts play on the channel.
	h.hangup(leg)
	if a := h.cur.expect("survey", playing(ch, "survey")); a.Arg == "whisper" {
		t.Error("survey whispered to a caller who is in no bridge")
	}
	h.hangup(ch)
	h.idle()
}

// TestEndOfCallWritesAreDurable: the store is unreachable as the call
// ends (a Redis failover). The agent's part, the caller's leaving and the
// case are written anyway, once the store answers: otherwise the agent
// stays on_call for good.
func TestEndOfCallWritesAreDurable(t *testing.T) {
	h := newHarness(t)
	h.r.mu.Lock()
	h.r.down["EndCall"], h.r.down["CloseCase"] = 3, 2
	h.r.mu.Unlock()
	ch := h.queued()
	h.connected(ch, "100")
	h.hangup(ch) // the caller leaves: the agent's part ends, the case closes
	waitLog(t, h.r, "EndCall "+ch+" 100", 1)
	waitLog(t, h.r, "CloseCase case1", 1)
	if n := count(h.r.log(), "EndCall "+ch+" 100 down"); n != 3 {
		t.Errorf("EndCall failed %d times, want 3 before it went through: %v", n, h.r.log())
	}

	// A queued caller who hangs up during the outage leaves the queue.
	h.r.mu.Lock()
	h.r.down["Leave"] = 2
	h.r.mu.Unlock()
	ch2 := h.queued()
	h.hangup(ch2)
	waitLog(t, h.r, "Leave "+ch2, 1)
	if n := count(h.r.log(), "Leave "+ch2+" down"); n != 2 {
		t.Errorf("Leave failed %d times, want 2: %v", n, h.r.log())
	}
	h.idle()
	// Written once each, no more.
	time.Sleep(50 * time.Millisecond)
	for _, w := range []string{"EndCall " + ch + " 100", "CloseCase case1", "Leave " + ch2} {
		if n := count(h.r.log(), w); n != 1 {
			t.Errorf("%q written %d times", w, n)
		}
	}
}

// waitLog waits until the router has recorded exactly the line entry n
// times (durable writes run after the call's goroutine has ended).
func waitLog(t *testing.T, r *fakeRouter, entry string, n int) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for count(r.log(), entry) < n {
		if time.Now().After(deadline) {
			t.Fatalf("router: %q not %d times within %v: %v", entry, n, waitLimit, r.log())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func count(log []string, entry string) int {
	n := 0
	for _, l := range log {
		if l == entry {
			n++
		}
	}
	return n
}

// TestPeriodicReconcileFreesStuckAgents: a call the router still has as
// connected, for this node, whose channels Asterisk no longer has (its
// end was lost in an outage longer than the retries): the periodic
// reconcile ends it, so its agent does not stay on_call until a restart.
func TestPeriodicReconcileFreesStuckAgents(t *testing.T) {
	h := newHarness(t, func(_ *harness, o *Options) { o.ReconcileEvery = 20 * time.Millisecond })
	h.e.Reconcile(context.Background(), nil, nil) // after the connect
	h.r.mu.Lock()
	h.r.live["1795300003.1"] = Call{ID: "1795300003.1", CaseID: "case-x", Topic: "service", Node: "n1",
		AgentID: "100", State: routing.CallConnected}
	h.r.mu.Unlock()
	waitLog(t, h.r, "EndCall 1795300003.1 100", 1)
}

// TestNoCallerAnsweredIntoSilence: the store goes down. The caller whose
// enqueue fails hears the "technical difficulties" prompt and goes back
// to the dialplan (HOTLINE_RESULT=unavailable: the fallback runs) instead
// of being hung up; while the store is known down, new callers are not
// answered at all and go straight back; once a probe reaches it again,
// calls are routed as before.
func TestNoCallerAnsweredIntoSilence(t *testing.T) {
	var up atomic.Bool
	h := newHarness(t, func(_ *harness, o *Options) {
		o.Probe = func(context.Context) error {
			if up.Load() {
				return nil
			}
			return errStoreDown
		}
	})
	h.r.mu.Lock()
	h.r.down["Enqueue"] = 1
	h.r.mu.Unlock()

	first := h.arrive("200", "5551234")
	h.cur.expect("answered", op("answer", first))
	a := h.cur.expect("technical difficulties", playing(first, "unavailable"))
	h.pbDone(a)
	h.cur.expect("variable", func(a action) bool {
		return a.Op == "setvar" && a.Chan == first && a.Arg == "HOTLINE_RESULT=unavailable"
	})
	h.cur.expect("back to the dialplan", op("continue", first))
	h.e.HandleEvent(Event{Kind: Left, Channel: first})
	h.idle()
	if h.tel.count(op("hangup", first)) != 0 {
		t.Error("a caller handed back to the dialplan was hung up")
	}

	second := h.arrive("200", "5551235")
	h.cur.expect("back to the dialplan unanswered", op("continue", second))
	if h.tel.count(op("answer", second)) != 0 {
		t.Error("a caller answered while the store is down")
	}
	if n := h.obs.count("handed back unavailable"); n != 2 {
		t.Errorf("handed back %d calls, want 2: %v", n, h.obs.log)
	}

	up.Store(true)
	deadline := time.Now().Add(waitLimit)
	for h.e.storeDown() {
		if time.Now().After(deadline) {
			t.Fatal("the store never came back for the engine")
		}
		time.Sleep(10 * time.Millisecond)
	}
	third := h.queued() // answered and enqueued again
	h.hangup(third)
	h.idle()
}

// TestDeadNodesCallerTakenOver: on an Asterisk two nodes share, a waiting
// caller of a node that died is re-adopted by the live one: the router
// gives it the call (only for a dead node), the channel moves into this
// node's application, and the caller waits again, on hold music, in
// their place. A live node's caller is left alone.
func TestDeadNodesCallerTakenOver(t *testing.T) {
	h := newHarness(t)
	const dead, alive = "1795300004.1", "1795300004.2"
	h.r.mu.Lock()
	h.r.live[dead] = Call{ID: dead, CaseID: "case-d", Topic: "service", CallerNumber: "5554001", Node: "n2", State: routing.CallQueued}
	h.r.live[alive] = Call{ID: alive, CaseID: "case-a", Topic: "service", CallerNumber: "5554002", Node: "n3", State: routing.CallQueued}
	h.r.deadNodes["n2"] = true
	h.r.mu.Unlock()
	h.e.Reconcile(context.Background(), []Channel{{ID: dead}, {ID: alive}}, nil)
	h.cur.expect("moved into this application", func(a action) bool { return a.Op == "move" && a.Chan == dead && a.Arg == "hotline" })
	h.cur.expect("waiting again", op("moh", dead))
	if h.tel.count(op("move", alive)) != 0 {
		t.Error("a live node's caller was moved")
	}
	if n := h.e.Active(); n != 1 {
		t.Errorf("%d calls owned, want the one taken over", n)
	}
	h.hangup(dead)
	h.r.waitCall(t, "Leave "+dead)
	h.idle()
}
