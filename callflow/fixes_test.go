package callflow

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// ---- fakes' methods for the later additions to the interfaces ----

func (f *fakeCallbacks) AgentMissed(_ context.Context, id string) error {
	f.record("AgentMissed %s", id)
	return nil
}

func (f *fakeCallbacks) KeepPositionAt(_ context.Context, c Call, due time.Time) (Callback, error) {
	f.record("KeepPositionAt %s %s %s %s", c.ID, c.Topic, c.Lang, due.Format(time.DateTime))
	return Callback{ID: "cb-" + c.ID, Kind: routing.CallbackQueue, DueAt: due}, nil
}

// NextOpen: a closed topic opens the next day at 08:00; "never" never does.
func (p *fakePlan) NextOpen(topic string, t time.Time) time.Time {
	if topic == "never" {
		return time.Time{}
	}
	if !p.closed[topic] {
		return t
	}
	return t.Truncate(24 * time.Hour).Add(32 * time.Hour)
}

func (f *fakeCallbacks) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// TestOriginateErrorDoesNotBlameAgent: an ARI error originating the agent
// leg releases the agent without a "no answer" pause and keeps the caller
// (or the callback's attempts).
func TestOriginateErrorDoesNotBlameAgent(t *testing.T) {
	t.Run("queued caller", func(t *testing.T) {
		h := newHarness(t)
		h.tel.failOrig["Local/100@agents"] = errors.New("ari: 500")
		ch := h.queued()
		h.e.Deliver(h.offer(ch, "100"))
		h.clk.waitTimer(t, 500*time.Millisecond) // the backoff before the release
		h.clk.Advance(500 * time.Millisecond)
		h.r.waitCall(t, "ReleaseOffer "+ch+" 100")
		if h.r.countPrefix("Leave") != 0 {
			t.Errorf("caller lost their place: %v", h.r.log())
		}
		h.hangup(ch)
		h.idle()
	})
	t.Run("callback", func(t *testing.T) {
		h := newHarness(t)
		h.tel.failOrig["Local/100@agents"] = errors.New("ari: 500")
		h.e.Dial(Callback{ID: "cb7", CallID: "cb7", CaseID: "case9", Number: "5557777", Topic: "audit", Kind: routing.CallbackOwner}, agent("100"))
		h.clk.waitTimer(t, 500*time.Millisecond)
		h.clk.Advance(500 * time.Millisecond)
		h.cbs.waitCall(t, "AgentMissed cb7")
		h.r.waitCall(t, "ReleaseOffer cb7 100")
		h.idle()
		if got := h.cbs.log(); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "AttemptFailed") }) {
			t.Errorf("attempt spent on an ARI error: %v", got)
		}
	})
}

// TestCallbackAgentSideFailuresSpendNoAttempt: only the caller's own
// failure to answer counts as an attempt.
func TestCallbackAgentSideFailuresSpendNoAttempt(t *testing.T) {
	cb := Callback{ID: "cb7", CallID: "cb7", CaseID: "case9", Number: "5557777", Topic: "audit", Kind: routing.CallbackOwner}
	tests := []struct {
		name string
		run  func(h *harness)
		want string
	}{
		{name: "agent does not answer", want: "AgentMissed cb7", run: func(h *harness) {
			leg := h.cur.expect("agent", op("originate", "Local/100@agents")).ID
			h.dialFail(leg, DialNoAnswer)
		}},
		{name: "agent hangs up during whisper", want: "AgentMissed cb7", run: func(h *harness) {
			leg := h.cur.expect("agent", op("originate", "Local/100@agents")).ID
			h.answer(leg)
			h.cur.expect("whisper", playing(leg, "whisper-audit"))
			h.hangup(leg)
		}},
		{name: "agent hangs up while the caller rings", want: "AgentMissed cb7", run: func(h *harness) {
			leg := h.cur.expect("agent", op("originate", "Local/100@agents")).ID
			h.answer(leg)
			h.pbDone(h.cur.expect("whisper", playing(leg, "whisper-audit")))
			callee := h.cur.expect("caller", op("originate", "PJSIP/5557777@trunk")).ID
			h.hangup(leg)
			h.cur.expect("caller's ringing stopped", op("hangup", callee))
			h.e.HandleEvent(Event{Kind: Destroyed, Channel: callee})
		}},
		{name: "caller does not answer", want: "AttemptFailed cb7 caller did not answer", run: func(h *harness) {
			leg := h.cur.expect("agent", op("originate", "Local/100@agents")).ID
			h.answer(leg)
			h.pbDone(h.cur.expect("whisper", playing(leg, "whisper-audit")))
			h.dialFail(h.cur.expect("caller", op("originate", "PJSIP/5557777@trunk")).ID, DialNoAnswer)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.e.Dial(cb, agent("100"))
			tt.run(h)
			h.cbs.waitCall(t, tt.want)
			h.idle()
			attempts := 0
			for _, s := range h.cbs.log() {
				if strings.HasPrefix(s, "AttemptFailed") {
					attempts++
				}
			}
			if want := map[bool]int{true: 1, false: 0}[strings.HasPrefix(tt.want, "AttemptFailed")]; attempts != want {
				t.Errorf("%d attempts spent, want %d: %v", attempts, want, h.cbs.log())
			}
		})
	}
}

// TestNoCallbackOfferForWithheldNumbers: a callback is offered only to a
// number that can be dialled back.
func TestNoCallbackOfferForWithheldNumbers(t *testing.T) {
	t.Run("closed topic", func(t *testing.T) {
		h := newHarness(t, func(h *harness, _ *Options) { h.plan.closed["audit"] = true })
		ch := h.arrive("300", "anonymous")
		a := h.cur.expect("closed", playing(ch, "closed"))
		if slices.Contains(a.Media, "sound:pl/callback-offer") {
			t.Errorf("callback offered to a withheld number: %v", a.Media)
		}
		h.dtmf(ch, "1")
		h.pbDone(a)
		h.cur.expect("hangup", op("hangup", ch))
		h.idle()
		if n := len(h.cbs.log()); n != 0 {
			t.Errorf("callbacks touched: %v", h.cbs.log())
		}
	})
	t.Run("queue with no agents", func(t *testing.T) {
		h := newHarness(t)
		h.r.queue = QueueInfo{Position: 1, AgentsLoggedIn: 0}
		ch := h.arrive("200", "anonymous")
		h.r.waitCall(t, "Enqueue "+ch)
		h.cur.expect("music, no offer", op("moh", ch))
		h.dtmf(ch, "1")
		h.hangup(ch)
		h.r.waitCall(t, "Leave "+ch)
		h.idle()
		if n := h.tel.count(playing(ch, "callback-offer")); n != 0 {
			t.Errorf("callback offered %d times:\n%s", n, h.tel.dump())
		}
	})
}

// TestWithheldCallerIsNotReturning: "anonymous" is nobody's open case.
func TestWithheldCallerIsNotReturning(t *testing.T) {
	for _, number := range []string{"anonymous", "unknown", ""} {
		t.Run(number, func(t *testing.T) {
			h := newHarness(t, func(h *harness, _ *Options) {
				h.r.cases["old1"] = routing.Case{ID: "old1", CallerNumber: number, Topic: "audit", Owner: "101", Status: routing.CaseOpen}
				h.r.openFor[number] = "old1"
			})
			ch := h.arrive("200", number)
			h.r.waitCall(t, "Enqueue "+ch+" service en")
			h.hangup(ch)
			h.idle()
			if n := h.tel.count(playing(ch, "returning-caller")); n != 0 {
				t.Errorf("withheld caller asked about a stranger's case")
			}
		})
	}
}

// TestAnnouncementsOff: a negative interval (announce_every: 0s) starts no
// announcement timer; zero still means the default.
func TestAnnouncementsOff(t *testing.T) {
	if got := withDefaults(Settings{}).AnnounceInterval; got != DefaultSettings().AnnounceInterval {
		t.Errorf("unset interval became %v", got)
	}
	h := newHarness(t, func(h *harness, _ *Options) { h.plan.settings.AnnounceInterval = -1 })
	ch := h.queued()
	h.hangup(ch)
	h.idle()
	for _, d := range h.clk.Started() {
		if d == DefaultSettings().AnnounceInterval || d < 0 {
			t.Errorf("announcement timer of %v started", d)
		}
	}
}

// TestClosedCallbackDueAtOpening: a callback taken while the topic is
// closed is scheduled for its opening, not queued now.
func TestClosedCallbackDueAtOpening(t *testing.T) {
	h := newHarness(t, func(h *harness, _ *Options) { h.plan.closed["audit"] = true })
	ch := h.arrive("300", "5551234")
	h.cur.expect("closed + offer", playing(ch, "callback-offer"))
	h.dtmf(ch, "1")
	want := "KeepPositionAt " + ch + " audit pl " + h.plan.NextOpen("audit", h.clk.Now()).Format(time.DateTime)
	h.cbs.waitCall(t, want)
	h.pbDone(h.cur.expect("confirmation", playing(ch, "callback-confirm")))
	h.cur.expect("hangup", op("hangup", ch))
	h.idle()
	if h.r.countPrefix("Enqueue") != 0 || slices.ContainsFunc(h.cbs.log(), func(s string) bool { return strings.HasPrefix(s, "KeepPosition ") }) {
		t.Errorf("queued while closed: router %v callbacks %v", h.r.log(), h.cbs.log())
	}
	if h.r.countPrefix("CloseCase") != 0 {
		t.Errorf("case closed with a callback owed")
	}
}

// TestCallerREFERDeclined: a caller's phone that sends a REFER (ari-only
// on callers too) is refused and nothing is transferred.
func TestCallerREFERDeclined(t *testing.T) {
	h := newHarness(t, withTransfers)
	ch := h.queued()
	h.connected(ch, "100")
	h.e.HandleEvent(Event{Kind: TransferRequested, Transfer: &PhoneTransfer{Destination: "151", Source: ch}})
	h.cur.expect("declined", func(a action) bool { return a.Op == "progress" && a.Chan == ch && a.Arg == "refused" })
	h.hangup(ch)
	h.idle()
	if n := h.r.countPrefix("BeginTransfer"); n != 0 {
		t.Errorf("caller's REFER started a transfer: %v", h.r.log())
	}
}

// TestWhisperOff: transfer.whisper off joins the target without a whisper.
func TestWhisperOff(t *testing.T) {
	h := newHarness(t, withTransfers, func(h *harness, _ *Options) { h.plan.settings.NoWhisper = true })
	ch := h.queued()
	leg, _ := h.connected(ch, "100")
	h.dtmf(leg, "*3200#")
	target := h.cur.expect("target rung", op("originate", "Local/200@agents")).ID
	h.answer(target)
	h.cur.expect("target joins at once", func(a action) bool { return a.Op == "add" && slices.Equal(a.Chans, []string{target}) })
	h.cur.expect("accept prompt", playing(target, "accept-transfer"))
	if n := h.tel.count(playing(target, "whisper")); n != 0 {
		t.Errorf("whisper played with whisper off:\n%s", h.tel.dump())
	}
	h.hangup(ch)
	h.idle()
}

// TestCallbackCallerID: the called-back caller sees callback.caller_id.
func TestCallbackCallerID(t *testing.T) {
	h := newHarness(t, func(h *harness, _ *Options) { h.plan.settings.CallbackCallerID = "0800300100" })
	h.e.Dial(Callback{ID: "cb7", CallID: "cb7", CaseID: "case9", Number: "5557777", Topic: "audit", Kind: routing.CallbackOwner}, agent("100"))
	leg := h.cur.expect("agent", op("originate", "Local/100@agents")).ID
	h.answer(leg)
	h.pbDone(h.cur.expect("whisper", playing(leg, "whisper-audit")))
	callee := h.cur.expect("caller", op("originate", "PJSIP/5557777@trunk"))
	if callee.Req.CallerID != "0800300100" {
		t.Errorf("callee caller id %q", callee.Req.CallerID)
	}
	h.dialFail(callee.ID, DialBusy)
	h.cbs.waitCall(t, "AttemptFailed cb7")
	h.idle()
}

// TestAgentPhoneFeatureMenu: [agents-ari] sends Stasis(hotline,agent,EXTEN);
// a configured agent's phone gets the feature menu, anything else is hung
// up as before.
func TestAgentPhoneFeatureMenu(t *testing.T) {
	tests := []struct {
		name, id, number string
		menu             bool
	}{
		{name: "agent's phone", id: "1795305099.1", number: "5550100", menu: true},
		{name: "unknown phone", id: "1795305099.2", number: "5559999"},
		{name: "our own leg", id: "hl-n1-agent-1-gone", number: "5550100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.e.HandleEvent(Event{Kind: Entered, Args: []string{"agent", "555"},
				Channel: tt.id, Name: "PJSIP/100-00000001", CallerNumber: tt.number})
			if !tt.menu {
				h.cur.expect("hung up", op("hangup", tt.id))
				h.idle()
				return
			}
			h.cur.expect("answer", op("answer", tt.id))
			h.cur.expect("agent menu", playing(tt.id, "agent-menu"))
			h.dtmf(tt.id, AgentKeyPause)
			h.r.waitCall(t, "Pause 100 phone")
			h.pbDone(h.cur.expect("ok", playing(tt.id, "agent-ok")))
			h.cur.expect("hangup", op("hangup", tt.id))
			h.idle()
		})
	}
}

// TestCallbackRefusedWhileStoppingSpendsNoAttempt: a callback claimed as
// the node stops is given back without counting an attempt.
func TestCallbackRefusedWhileStoppingSpendsNoAttempt(t *testing.T) {
	h := newHarness(t)
	if err := h.e.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.e.Dial(Callback{ID: "cb7", CallID: "cb7", CaseID: "case9", Number: "5557777", Topic: "audit", Kind: routing.CallbackOwner}, agent("100"))
	h.r.waitCall(t, "Leave cb7")
	h.cbs.waitCall(t, "AgentMissed cb7")
	if got := h.cbs.log(); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "AttemptFailed") }) {
		t.Errorf("attempt spent on a stopping node: %v", got)
	}
}

func (f *fakeCallbacks) EscalateToSenior(_ context.Context, caseID, note string) (Callback, error) {
	f.record("EscalateToSenior %s %s", caseID, note)
	return Callback{ID: "cbs-" + caseID, CaseID: caseID, Note: note, Kind: routing.CallbackSenior, State: routing.CallbackScheduled}, nil
}

// TestEscalateToSenior: *8 and the API's escalate ask a senior operator to
// call back with the note; the caller hears it and the case stays open.
func TestEscalateToSenior(t *testing.T) {
	if f, st := ParseFeature("*8", DefaultSettings().Features); st != FeatureMatched || f.Kind != FeatureEscalate {
		t.Fatalf("*8 parsed as %v %v", f, st)
	}
	t.Run("feature code", func(t *testing.T) {
		h := newHarness(t, withTransfers)
		ch := h.queued()
		leg, _ := h.connected(ch, "100")
		h.dtmf(leg, "*8")
		h.cbs.waitCall(t, "EscalateToSenior case1 router fault")
		h.cur.expect("caller told", playing(ch, "senior-will-call"))
		h.cur.expect("agent told", playing(leg, "agent-ok"))
		h.hangup(leg)
		h.r.waitCall(t, "EndCall "+ch+" 100")
		h.hangup(ch)
		h.idle()
		if h.r.countPrefix("CloseCase") != 0 {
			t.Errorf("case closed although a senior owes a callback")
		}
	})
	t.Run("API", func(t *testing.T) {
		h := newHarness(t, withTransfers)
		ch := h.queued()
		leg, _ := h.connected(ch, "100")
		if _, err := h.e.Escalate(apiCtx(t), ch, "101", "x"); !errors.Is(err, ErrNotYourCall) {
			t.Errorf("another agent escalated: %v", err)
		}
		type res struct {
			cb  Callback
			err error
		}
		done := make(chan res, 1)
		go func() {
			cb, err := h.e.Escalate(apiCtx(t), ch, "100", "wants a manager about the refund")
			done <- res{cb, err}
		}()
		h.cbs.waitCall(t, "EscalateToSenior case1 wants a manager about the refund")
		r := <-done
		if r.err != nil || r.cb.Kind != routing.CallbackSenior {
			t.Fatalf("escalate: %+v %v", r.cb, r.err)
		}
		h.pbDone(h.cur.expect("caller told", playing(ch, "senior-will-call")))
		h.cur.expect("agent's part ends", op("hangup", leg))
		h.r.waitCall(t, "EndCall "+ch+" 100")
		h.hangup(ch)
		h.idle()
		if h.r.countPrefix("CloseCase") != 0 {
			t.Errorf("case closed although a senior owes a callback")
		}
	})
}

func (r *fakeRouter) ConsultAnswered(_ context.Context, callID, target string, until time.Time) error {
	r.record("ConsultAnswered %s %s %s", callID, target, until.Format(time.DateTime))
	return nil
}

// TestConsultTimeout: an answered target who does not accept within
// transfer.consult_timeout is hung up and the caller goes back to the
// transferring agent; the target was there, so it counts as a decline and
// they are not paused as "no answer". The router's claim deadline moves to
// that limit when the target answers.
func TestConsultTimeout(t *testing.T) {
	const limit = 90 * time.Second
	h := newHarness(t, withTransfers, func(h *harness, _ *Options) { h.plan.settings.ConsultTimeout = limit })
	ch := h.queued()
	leg, _ := h.connected(ch, "100")
	h.dtmf(leg, "*3200#")
	target := h.cur.expect("target rung", op("originate", "Local/200@agents")).ID
	h.answer(target)
	h.r.waitCall(t, "ConsultAnswered "+ch+" 200 "+h.clk.Now().Add(limit).Format(time.DateTime))
	h.pbDone(h.cur.expect("whisper", playing(target, "whisper")))
	h.cur.expect("accept prompt", playing(target, "accept-transfer"))
	h.clk.waitTimer(t, limit)
	h.clk.Advance(limit)
	h.cur.expect("target hung up", op("hangup", target))
	h.r.waitCall(t, "CancelTransfer "+ch+" tr1 false")
	h.cur.expect("caller back", func(a action) bool { return a.Op == "add" && slices.Equal(a.Chans, []string{ch}) })
	if !h.obs.has("transfer declined") || h.obs.has("transfer no_answer") {
		t.Errorf("metrics %v", h.obs.log)
	}
	h.hangup(ch)
	h.idle()
}
