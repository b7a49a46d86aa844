package callflow

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

func TestMenu(t *testing.T) {
	tests := []struct {
		name  string
		steps func(h *harness, ch string, first action) // after the first menu prompt started
		want  string                                    // Enqueue prefix
		lang  string                                    // language of the last prompt
	}{
		{
			name:  "digit picks topic",
			steps: func(h *harness, ch string, first action) { h.dtmf(ch, "2") },
			want:  "Enqueue %s audit uk",
		},
		{
			name: "wrong digit then right digit",
			steps: func(h *harness, ch string, first action) {
				h.dtmf(ch, "7")
				h.cur.expect("menu again", playing(ch, "menu-main"))
				h.dtmf(ch, "1")
			},
			want: "Enqueue %s connections uk",
		},
		{
			name: "no digit: default after retries",
			steps: func(h *harness, ch string, first action) {
				for try := 0; try < 3; try++ {
					a := first
					if try > 0 {
						a = h.cur.expect("menu again", playing(ch, "menu-main"))
					}
					h.pbDone(a)
					h.clk.waitTimer(h.t, 4*time.Second)
					h.clk.Advance(4 * time.Second)
				}
			},
			want: "Enqueue %s service uk",
		},
		{
			name: "language choice sticks",
			steps: func(h *harness, ch string, first action) {
				h.dtmf(ch, "9")
				a := h.cur.expect("menu in english", playing(ch, "menu-main"))
				if a.Lang != "en" || a.Media[0] != "sound:en/menu-main" {
					h.t.Errorf("menu after language choice: %v", a)
				}
				h.dtmf(ch, "3")
			},
			want: "Enqueue %s service en",
			lang: "en",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			ch := h.arrive("100", "5551234")
			h.cur.expect("answer", op("answer", ch))
			a := h.cur.expect("menu", playing(ch, "menu-main"))
			if a.Lang != "uk" {
				t.Errorf("menu language %q, want the number's uk", a.Lang)
			}
			tt.steps(h, ch, a)
			h.r.waitCall(t, strings.Replace(tt.want, "%s", ch, 1))
			h.cur.expect("moh", op("moh", ch))
			if tt.lang != "" {
				// An announcement later in the call is in the chosen language.
				h.clk.waitTimer(t, 30*time.Second)
				h.clk.Advance(30 * time.Second)
				ann := h.cur.expect("announcement", playing(ch, "queue-position"))
				if ann.Lang != tt.lang {
					t.Errorf("announcement in %q, want %q", ann.Lang, tt.lang)
				}
			}
			h.hangup(ch)
			h.r.waitCall(t, "Leave "+ch)
			h.idle()
			if !h.obs.has("abandoned " + strings.Fields(tt.want)[2]) {
				t.Errorf("abandon not counted: %v", h.obs.log)
			}
		})
	}
}

func TestUnknownNumber(t *testing.T) {
	h := newHarness(t)
	ch := h.arrive("555", "5551234")
	h.cur.expect("answer", op("answer", ch))
	a := h.cur.expect("polite prompt", playing(ch, "unknown-number"))
	h.pbDone(a)
	h.cur.expect("hangup", op("hangup", ch))
	h.idle()
	if n := len(h.r.log()); n != 0 {
		t.Errorf("router touched for an unknown number: %v", h.r.log())
	}
}

func TestClosedHoursCallback(t *testing.T) {
	for _, accept := range []bool{true, false} {
		t.Run(map[bool]string{true: "accepted", false: "declined"}[accept], func(t *testing.T) {
			h := newHarness(t, func(h *harness, _ *Options) { h.plan.closed["audit"] = true })
			ch := h.arrive("300", "5551234")
			a := h.cur.expect("closed + offer", playing(ch, "closed"))
			if !slices.Contains(a.Media, "sound:pl/callback-offer") || a.Lang != "pl" {
				t.Errorf("closed announcement %v", a)
			}
			if accept {
				h.dtmf(ch, "1")
				h.cbs.waitCall(t, "KeepPositionAt "+ch+" audit pl")
				c := h.cur.expect("confirmation", playing(ch, "callback-confirm"))
				h.pbDone(c)
			} else {
				h.pbDone(a)
				h.clk.waitTimer(t, 5*time.Second)
				h.clk.Advance(5 * time.Second)
			}
			h.cur.expect("hangup", op("hangup", ch))
			h.idle()
			if got := h.r.countPrefix("Enqueue"); got != 0 {
				t.Errorf("closed topic enqueued %d times", got)
			}
			if got := h.r.countPrefix("CloseCase"); got != 0 {
				t.Errorf("case closed although a callback is owed or none opened: %v", h.r.log())
			}
		})
	}
}

func TestReturningCaller(t *testing.T) {
	tests := []struct {
		name       string
		ownerState routing.AgentState
		keys       []string
		wantRouter string
		wantCB     string
	}{
		{name: "owner available: rung directly", ownerState: routing.StateAvailable, keys: []string{"1"}, wantRouter: "ClaimAgent 101 %s"},
		{name: "owner busy: owner callback", ownerState: routing.StateOnCall, keys: []string{"1", "1"}, wantCB: "ScheduleOwner old1 101"},
		{name: "not confirmed: new call in the old case's absence", ownerState: routing.StateAvailable, keys: []string{"2"}, wantRouter: "Enqueue %s service en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(h *harness, _ *Options) {
				h.r.cases["old1"] = routing.Case{ID: "old1", CallerNumber: "5551234", Topic: "audit", Owner: "101", Status: routing.CaseOpen}
				h.r.openFor["5551234"] = "old1"
				h.r.agents["101"] = routing.AgentStatus{Agent: routing.Agent{ID: "101", Endpoint: "Local/101@agents"}, State: tt.ownerState}
			})
			ch := h.arrive("200", "5551234")
			h.cur.expect("returning prompt", playing(ch, "returning-caller"))
			h.dtmf(ch, tt.keys[0])
			if len(tt.keys) > 1 {
				h.cur.expect("owner callback offer", playing(ch, "owner-callback-offer"))
				h.dtmf(ch, tt.keys[1])
			}
			if tt.wantRouter != "" {
				h.r.waitCall(t, strings.Replace(tt.wantRouter, "%s", ch, 1))
				if tt.ownerState == routing.StateAvailable && tt.keys[0] == "1" {
					leg := h.cur.expect("owner rung", op("originate", "Local/101@agents")).ID
					h.answer(leg)
					h.r.waitCall(t, "Answered "+ch+" 101")
					h.pbDone(h.cur.expect("whisper", playing(leg, "whisper-audit")))
					h.cur.expect("bridged", func(a action) bool { return a.Op == "add" && slices.Equal(a.Chans, []string{ch, leg}) })
					if h.r.countPrefix("Enqueue") != 0 {
						t.Errorf("owner's caller queued: %v", h.r.log())
					}
				}
				h.hangup(ch)
			}
			if tt.wantCB != "" {
				h.cbs.waitCall(t, tt.wantCB)
				h.pbDone(h.cur.expect("confirmation", playing(ch, "callback-confirm")))
				h.cur.expect("hangup", op("hangup", ch))
			}
			h.idle()
			talked := tt.ownerState == routing.StateAvailable && tt.keys[0] == "1"
			if slices.Contains(h.r.log(), "CloseCase old1") != talked {
				t.Errorf("case closed = %v, want %v (closed only after a conversation): %v", !talked, talked, h.r.log())
			}
		})
	}
}

func TestQueueAnnouncementsAndCallbackOffer(t *testing.T) {
	h := newHarness(t)
	h.r.queue = QueueInfo{Position: 3, EstimatedWait: 90 * time.Second, AgentsLoggedIn: 2}
	ch := h.queued()
	for round := 0; round < 2; round++ {
		h.clk.waitTimer(t, 30*time.Second)
		h.clk.Advance(30 * time.Second)
		h.cur.expect("moh stops for the announcement", op("stopmoh", ch))
		a := h.cur.expect("announcement", playing(ch, "queue-position"))
		want := []string{"sound:en/queue-position", "number:3", "sound:en/queue-wait", "number:2", "sound:en/minutes"}
		if !slices.Equal(a.Media, want) {
			t.Fatalf("announcement %v, want %v", a.Media, want)
		}
		h.pbDone(a)
		h.cur.expect("moh back", op("moh", ch))
	}
	// The wait grows past the threshold: the next announcement offers a
	// callback, and 1 keeps the caller's place.
	h.r.mu.Lock()
	h.r.queue = QueueInfo{Position: 3, EstimatedWait: 10 * time.Minute, AgentsLoggedIn: 2}
	h.r.mu.Unlock()
	h.clk.waitTimer(t, 30*time.Second)
	h.clk.Advance(30 * time.Second)
	a := h.cur.expect("announcement with offer", playing(ch, "callback-offer"))
	h.dtmf(ch, "1")
	h.cbs.waitCall(t, "KeepPosition "+ch+" service en")
	h.cur.expect("announcement stopped", func(x action) bool { return x.Op == "stopplay" && x.ID == a.ID })
	h.pbDone(h.cur.expect("confirmation", playing(ch, "callback-confirm")))
	h.cur.expect("hangup", op("hangup", ch))
	h.idle()
	if h.r.countPrefix("Leave") != 0 {
		t.Errorf("a kept place was abandoned: %v", h.r.log())
	}
	if !h.obs.has("callback offered") || !h.obs.has("callback scheduled") {
		t.Errorf("metrics %v", h.obs.log)
	}
}

func TestNoAgentsOfferAtOnce(t *testing.T) {
	h := newHarness(t)
	h.r.queue = QueueInfo{Position: 1, AgentsLoggedIn: 0}
	ch := h.arrive("200", "5551234")
	h.r.waitCall(t, "Enqueue "+ch)
	h.cur.expect("offer", playing(ch, "callback-offer"))
	h.hangup(ch)
	h.r.waitCall(t, "Leave "+ch)
	h.idle()
	h.noLeaks()
}

func TestRingFailureReoffers(t *testing.T) {
	tests := []struct {
		name string
		fail func(h *harness, leg string)
	}{
		{name: "ring timeout", fail: func(h *harness, leg string) {
			h.clk.waitTimer(h.t, ringTimeout)
			h.clk.Advance(ringTimeout)
			h.cur.expect("leg hung up", op("hangup", leg))
		}},
		{name: "busy", fail: func(h *harness, leg string) { h.dialFail(leg, DialBusy) }},
		{name: "agent leg destroyed", fail: func(h *harness, leg string) {
			h.e.HandleEvent(Event{Kind: Destroyed, Channel: leg})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			ch := h.queued()
			h.e.Deliver(h.offer(ch, "100"))
			orig := h.cur.expect("originate", op("originate", "Local/100@agents"))
			req := orig.Req
			if !req.InterceptTransfers || req.App != "hotline" || !slices.Equal(req.AppArgs, []string{"agent", ch, "100"}) || req.Timeout != ringTimeout {
				t.Errorf("originate %+v", req)
			}
			tt.fail(h, orig.ID)
			h.r.waitCall(t, "NoAnswer "+ch+" 100")
			// The caller keeps waiting with music; the router re-offers.
			leg, _ := h.connected(ch, "101")
			if h.tel.count(op("stopmoh", ch)) != 1 {
				t.Errorf("music interrupted during the failed ring:\n%s", h.tel.dump())
			}
			h.hangup(leg)
			h.hangup(ch)
			h.idle()
		})
	}
}

func TestCallerHangsUp(t *testing.T) {
	type phase struct {
		name  string
		reach func(h *harness) (ch string)
		check func(h *harness, ch string)
	}
	var leg, target string
	phases := []phase{
		{name: "menu", reach: func(h *harness) string {
			ch := h.arrive("100", "5551234")
			h.cur.expect("menu", playing(ch, "menu-main"))
			return ch
		}, check: func(h *harness, ch string) {
			if h.r.countPrefix("Leave") != 0 || h.r.countPrefix("OpenCase") != 0 {
				h.t.Errorf("router touched for a menu hang-up: %v", h.r.log())
			}
			h.cur.expect("menu prompt stopped", op("stopplay", ""))
		}},
		{name: "queued", reach: func(h *harness) string { return h.queued() }, check: func(h *harness, ch string) {
			h.r.waitCall(h.t, "Leave "+ch)
			h.r.waitCall(h.t, "CloseCase case1")
		}},
		{name: "announcement", reach: func(h *harness) string {
			ch := h.queued()
			h.clk.waitTimer(h.t, 30*time.Second)
			h.clk.Advance(30 * time.Second)
			h.cur.expect("announcement", playing(ch, "queue-position"))
			return ch
		}, check: func(h *harness, ch string) {
			h.cur.expect("announcement stopped", op("stopplay", ""))
			h.r.waitCall(h.t, "Leave "+ch)
		}},
		{name: "agent ringing", reach: func(h *harness) string {
			ch := h.queued()
			h.e.Deliver(h.offer(ch, "100"))
			leg = h.cur.expect("originate", op("originate", "")).ID
			return ch
		}, check: func(h *harness, ch string) {
			h.cur.expect("agent leg cancelled", op("hangup", leg))
			h.r.waitCall(h.t, "Leave "+ch)
		}},
		{name: "whisper", reach: func(h *harness) string {
			ch := h.queued()
			h.e.Deliver(h.offer(ch, "100"))
			leg = h.cur.expect("originate", op("originate", "")).ID
			h.answer(leg)
			h.cur.expect("whisper", playing(leg, "whisper"))
			return ch
		}, check: func(h *harness, ch string) {
			h.cur.expect("whisper stopped", op("stopplay", ""))
			h.cur.expect("agent hung up", op("hangup", leg))
			h.r.waitCall(h.t, "EndCall "+ch+" 100")
		}},
		{name: "talking", reach: func(h *harness) string {
			ch := h.queued()
			leg, _ = h.connected(ch, "100")
			return ch
		}, check: func(h *harness, ch string) {
			h.cur.expect("agent hung up", op("hangup", leg))
			h.cur.expect("bridge destroyed", op("destroy", ""))
			h.r.waitCall(h.t, "EndCall "+ch+" 100")
			h.r.waitCall(h.t, "CloseCase case1")
		}},
		{name: "consult", reach: func(h *harness) string {
			ch := h.queued()
			leg, _ = h.connected(ch, "100")
			h.dtmf(leg, "*21")
			target = h.cur.expect("target", op("originate", "Local/200@agents")).ID
			return ch
		}, check: func(h *harness, ch string) {
			h.r.waitCall(h.t, "CancelTransfer "+ch+" tr1 false")
			if h.tel.count(op("hangup", target)) != 1 || h.tel.count(op("hangup", leg)) != 1 {
				h.t.Errorf("legs not hung up:\n%s", h.tel.dump())
			}
			h.r.waitCall(h.t, "EndCall "+ch+" 100")
		}},
		{name: "survey", reach: func(h *harness) string {
			ch := h.queued()
			leg, _ = h.connected(ch, "100")
			h.hangup(leg)
			h.cur.expect("survey", playing(ch, "survey"))
			return ch
		}, check: func(h *harness, ch string) {
			if h.r.countPrefix("Rate") != 0 {
				h.t.Errorf("rated without a press")
			}
			h.r.waitCall(h.t, "CloseCase case1")
		}},
	}
	for _, p := range phases {
		t.Run(p.name, func(t *testing.T) {
			h := newHarness(t, withTransfers)
			ch := p.reach(h)
			h.hangup(ch)
			h.idle()
			p.check(h, ch)
			if n := h.tel.count(op("hangup", ch)); n != 0 {
				t.Errorf("hung up a caller who was gone (%d)", n)
			}
			h.noLeaks()
		})
	}
}

// withTransfers makes BeginTransfer claim agent 200 for any destination,
// or refuse per the note.
func withTransfers(h *harness, _ *Options) {
	h.r.transfer = func(req TransferRequest) (Transfer, error) {
		if req.To.Name == "refuse" {
			return Transfer{}, &routing.Refusal{Code: routing.RefuseLoop, Message: "already on the path"}
		}
		if req.Mode == routing.ModeBlind && req.To.Name == "150" {
			return Transfer{}, &routing.Refusal{Code: routing.RefuseBlind, Message: "blind transfers are refused"}
		}
		return Transfer{ID: "tr1", CallID: req.CallID, By: req.By, To: req.To, Target: agent("200"), Converted: req.Mode == routing.ModeBlind}, nil
	}
}

func TestWarmTransfer(t *testing.T) {
	tests := []struct {
		name    string
		act     func(h *harness, leg, target string)
		accept  bool
		result  string
		routerW string
	}{
		{name: "target accepts with 1", accept: true, result: "completed", routerW: "AcceptTransfer",
			act: func(h *harness, leg, target string) { h.dtmf(target, "1") }},
		{name: "agent completes with #", accept: true, result: "completed", routerW: "AcceptTransfer",
			act: func(h *harness, leg, target string) { h.dtmf(leg, "#") }},
		{name: "target declines with 2", result: "declined", routerW: "CancelTransfer CALL tr1 false",
			act: func(h *harness, leg, target string) { h.dtmf(target, "2") }},
		{name: "agent cancels with *0", result: "cancelled", routerW: "CancelTransfer CALL tr1 false",
			act: func(h *harness, leg, target string) { h.dtmf(leg, "*0") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withTransfers)
			ch := h.queued()
			leg, br := h.connected(ch, "100")
			h.dtmf(leg, "*23")
			h.r.waitCall(t, "BeginTransfer "+ch+" topic:service attended router fault")
			h.cur.expect("caller out of the bridge", op("remove", br))
			tp := h.cur.expect("caller told where", playing(ch, "transferring"))
			if !slices.Contains(tp.Media, "sound:en/topic.service") {
				t.Errorf("transfer prompt %v", tp.Media)
			}
			target := h.cur.expect("target rung", op("originate", "Local/200@agents")).ID
			h.pbDone(tp)
			h.cur.expect("caller on hold", op("moh", ch))
			h.answer(target)
			h.pbDone(h.cur.expect("target whisper", playing(target, "whisper-service")))
			h.cur.expect("target joins the agent", func(a action) bool { return a.Op == "add" && slices.Equal(a.Chans, []string{target}) })
			h.cur.expect("accept prompt", playing(target, "accept-transfer"))
			tt.act(h, leg, target)
			h.r.waitCall(t, strings.Replace(tt.routerW, "CALL", ch, 1))
			h.cur.expect("caller off hold", op("stopmoh", ch))
			h.cur.expect("caller back in the bridge", func(a action) bool { return a.Op == "add" && slices.Equal(a.Chans, []string{ch}) })
			if !h.obs.has("transfer "+tt.result) || !h.obs.has("consult "+tt.result) {
				t.Errorf("metrics %v", h.obs.log)
			}
			talker := leg
			if tt.accept {
				if h.tel.count(op("hangup", leg)) != 1 {
					t.Errorf("transferring agent not released:\n%s", h.tel.dump())
				}
				talker = target
			} else {
				h.cur.expect("caller told they are back with their agent", playing(ch, "transfer-declined"))
				if h.tel.count(playing(leg, "transfer-declined")) != 0 {
					t.Errorf("the agent heard the caller's prompt:\n%s", h.tel.dump())
				}
				if h.tel.count(op("hangup", target)) != 1 {
					t.Errorf("target not hung up")
				}
			}
			h.hangup(talker)
			want := "EndCall " + ch + " " + map[bool]string{true: "200", false: "100"}[tt.accept]
			h.r.waitCall(t, want)
			h.hangup(ch)
			h.idle()
			h.noLeaks()
		})
	}
}

func TestAgentHangsUpDuringConsult(t *testing.T) {
	for _, answered := range []bool{false, true} {
		t.Run(map[bool]string{false: "target ringing", true: "target answered"}[answered], func(t *testing.T) {
			h := newHarness(t, withTransfers)
			ch := h.queued()
			leg, _ := h.connected(ch, "100")
			h.dtmf(leg, "*3200#")
			target := h.cur.expect("target rung", op("originate", "Local/200@agents")).ID
			if answered {
				h.answer(target)
				h.pbDone(h.cur.expect("whisper", playing(target, "whisper")))
				h.cur.expect("accept prompt", playing(target, "accept-transfer"))
			}
			h.hangup(leg)
			if answered {
				// The target takes the caller, as on any phone system.
				h.r.waitCall(t, "AcceptTransfer "+ch+" tr1")
				h.cur.expect("caller with target", func(a action) bool { return a.Op == "add" && slices.Equal(a.Chans, []string{ch}) })
				h.hangup(target)
				h.r.waitCall(t, "EndCall "+ch+" 200")
			} else {
				h.r.waitCall(t, "CancelTransfer "+ch+" tr1 false")
				h.cur.expect("target hung up", op("hangup", target))
				h.r.waitCall(t, "EndCall "+ch+" 100")
			}
			h.cur.expect("survey", playing(ch, "survey"))
			h.hangup(ch)
			h.idle()
			h.noLeaks()
		})
	}
}

func TestTransferNoAnswer(t *testing.T) {
	h := newHarness(t, withTransfers)
	ch := h.queued()
	leg, _ := h.connected(ch, "100")
	h.dtmf(leg, "*3200#")
	h.r.waitCall(t, "BeginTransfer "+ch+" agent:200 attended")
	target := h.cur.expect("target rung", op("originate", "Local/200@agents")).ID
	h.clk.waitTimer(t, ringTimeout)
	h.clk.Advance(ringTimeout)
	h.cur.expect("target hung up", op("hangup", target))
	h.r.waitCall(t, "CancelTransfer "+ch+" tr1 true")
	h.cur.expect("caller back", func(a action) bool { return a.Op == "add" && slices.Equal(a.Chans, []string{ch}) })
	if !h.obs.has("transfer no_answer") {
		t.Errorf("metrics %v", h.obs.log)
	}
	h.hangup(ch)
	h.idle()
}

func TestTransferRefusedAnnouncedToAgent(t *testing.T) {
	h := newHarness(t, withTransfers, func(h *harness, _ *Options) { h.plan.settings.Features.TopicDigits["9"] = "refuse" })
	ch := h.queued()
	leg, _ := h.connected(ch, "100")
	h.dtmf(leg, "*29")
	a := h.cur.expect("refusal to the agent", playing(leg, "refused.transfer_loop"))
	if a.Chan != leg {
		t.Errorf("refusal played on %s", a.Chan)
	}
	if n := h.tel.count(op("remove", "")); n != 0 {
		t.Errorf("caller moved on a refused transfer")
	}
	if !h.obs.has("transfer transfer_loop") {
		t.Errorf("metrics %v", h.obs.log)
	}
	h.hangup(ch)
	h.idle()
}

func TestUnknownFeatureCode(t *testing.T) {
	h := newHarness(t, withTransfers)
	ch := h.queued()
	leg, _ := h.connected(ch, "100")
	h.dtmf(leg, "*5")
	h.cur.expect("error tone", playing(leg, "feature-error"))
	h.dtmf(leg, "*")
	h.clk.waitTimer(t, 3*time.Second) // inter-digit
	h.clk.Advance(3 * time.Second)
	h.cur.expect("error tone after an unfinished code", playing(leg, "feature-error"))
	h.hangup(ch)
	h.idle()
}

func TestOwnershipAndPauseCodes(t *testing.T) {
	h := newHarness(t, withTransfers)
	ch := h.queued()
	leg, _ := h.connected(ch, "100")
	h.dtmf(leg, "*7")
	h.cbs.waitCall(t, "ScheduleOwner case1 100 2026-11-23 10:30:00 router fault")
	h.cur.expect("caller told", playing(ch, "owner-will-call"))
	h.dtmf(leg, "*9")
	h.r.waitCall(t, "Pause 100 after call")
	h.hangup(leg)
	h.r.waitCall(t, "EndCall "+ch+" 100")
	h.hangup(ch)
	h.idle()
	if h.r.countPrefix("CloseCase") != 0 {
		t.Errorf("case closed although the owner owes a callback")
	}
}

func TestPhoneBlindTransfer(t *testing.T) {
	tests := []struct {
		name  string
		dest  string
		state string
	}{
		{name: "refused", dest: "150", state: "refused"},
		{name: "converted to attended", dest: "151", state: "proceeding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withTransfers)
			ch := h.queued()
			leg, _ := h.connected(ch, "100")
			// transcript 06 (the adapter drops the echoes of our progress).
			h.e.HandleEvent(Event{Kind: TransferRequested, Transfer: &PhoneTransfer{Destination: tt.dest, Source: leg}})
			// A REFER carries no note: the case's note is the transfer's.
			h.r.waitCall(t, "BeginTransfer "+ch+" agent:"+tt.dest+" blind router fault")
			h.cur.expect("progress", func(a action) bool { return a.Op == "progress" && a.Chan == leg && a.Arg == tt.state })
			if tt.state == "refused" {
				h.cur.expect("refusal", playing(leg, "refused.blind_transfer_forbidden"))
			} else {
				target := h.cur.expect("target", op("originate", "Local/200@agents")).ID
				h.answer(target)
				h.pbDone(h.cur.expect("whisper", playing(target, "whisper")))
				h.dtmf(target, "1")
				h.cur.expect("answered", func(a action) bool { return a.Op == "progress" && a.Arg == "done" })
			}
			if got := h.r.countPrefix("BeginTransfer"); got != 1 {
				t.Errorf("BeginTransfer %d times", got)
			}
			h.hangup(ch)
			h.idle()
		})
	}
}

func TestSurveyRatedOnce(t *testing.T) {
	h := newHarness(t)
	ch := h.queued()
	leg, _ := h.connected(ch, "100")
	h.r.mu.Lock()
	cs := h.r.cases["case1"]
	cs.Agents = []string{"100"}
	h.r.cases["case1"] = cs
	h.r.mu.Unlock()
	h.clk.Advance(3 * time.Minute)
	h.hangup(leg)
	h.r.waitCall(t, "EndCall "+ch+" 100")
	h.cur.expect("bridge destroyed", op("destroy", ""))
	if !h.obs.has("handled service 3m0s") {
		t.Errorf("handle time not measured: %v", h.obs.log)
	}
	s := h.cur.expect("survey", playing(ch, "survey"))
	h.dtmf(ch, "5") // not a score: ignored
	h.dtmf(ch, "1")
	h.dtmf(ch, "1")
	h.dtmf(ch, "2")
	h.cur.expect("survey prompt stopped", func(a action) bool { return a.Op == "stopplay" && a.ID == s.ID })
	th := h.cur.expect("thanks", playing(ch, "thanks"))
	h.dtmf(ch, "2")
	h.pbDone(th)
	h.cur.expect("hangup", op("hangup", ch))
	h.idle()
	if got := h.r.countPrefix("Rate"); got != 1 || !slices.Contains(h.r.log(), "Rate case1 1") {
		t.Errorf("rated %d times: %v", got, h.r.log())
	}
	if h.obs.count("rating 1") != 1 || h.obs.count("rating 2") != 0 {
		t.Errorf("metrics %v", h.obs.log)
	}
	if !h.obs.has("agents 1") || !slices.Contains(h.r.log(), "CloseCase case1") {
		t.Errorf("case not closed as resolved: %v %v", h.r.log(), h.obs.log)
	}
}

func TestSurveyTimeout(t *testing.T) {
	h := newHarness(t)
	ch := h.queued()
	leg, _ := h.connected(ch, "100")
	h.hangup(leg)
	h.pbDone(h.cur.expect("survey", playing(ch, "survey")))
	h.clk.waitTimer(t, 8*time.Second)
	h.clk.Advance(8 * time.Second)
	h.cur.expect("hangup", op("hangup", ch))
	h.idle()
	if h.r.countPrefix("Rate") != 0 {
		t.Errorf("rated without a press")
	}
}

func TestLocalPairDTMF(t *testing.T) {
	h := newHarness(t)
	ch := h.arrive("100", "5551234")
	h.cur.expect("menu", playing(ch, "menu-main"))
	h.phonePress("Local/100@hotline-00000001;2", "3")
	h.r.waitCall(t, "Enqueue "+ch+" service uk")
	h.hangup(ch)
	h.idle()
}

func TestAgentFeatureNumber(t *testing.T) {
	tests := []struct {
		key, want string
	}{
		{AgentKeyLogin, "Login 100"},
		{AgentKeyPause, "Pause 100 phone"},
		{AgentKeyResume, "Resume 100"},
		{AgentKeyLogout, "Logout 100"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			h := newHarness(t)
			ch := h.arrive("999", "5550100")
			h.cur.expect("agent menu", playing(ch, "agent-menu"))
			h.dtmf(ch, tt.key)
			h.r.waitCall(t, tt.want)
			h.pbDone(h.cur.expect("ok", playing(ch, "agent-ok")))
			h.cur.expect("hangup", op("hangup", ch))
			h.idle()
		})
	}
	t.Run("unknown phone", func(t *testing.T) {
		h := newHarness(t)
		ch := h.arrive("999", "5559999")
		h.pbDone(h.cur.expect("error", playing(ch, "agent-error")))
		h.cur.expect("hangup", op("hangup", ch))
		h.idle()
	})
}

func TestCallbackDial(t *testing.T) {
	cb := Callback{ID: "cb7", CallID: "cb7", CaseID: "case9", Number: "5557777", Topic: "audit", Lang: "ru", Owner: "100", Note: "invoice", Kind: routing.CallbackOwner}
	t.Run("completed", func(t *testing.T) {
		h := newHarness(t)
		h.e.Dial(cb, agent("100"))
		leg := h.cur.expect("agent first", op("originate", "Local/100@agents")).ID
		h.answer(leg)
		h.r.waitCall(t, "Answered cb7 100")
		h.pbDone(h.cur.expect("case whisper", playing(leg, "whisper-audit")))
		h.cur.expect("agent holds", op("moh", leg))
		callee := h.cur.expect("caller dialled", op("originate", "PJSIP/5557777@trunk"))
		if callee.Req.InterceptTransfers || !slices.Equal(callee.Req.AppArgs, []string{"callee", "cb7"}) {
			t.Errorf("callee originate %+v", callee.Req)
		}
		h.answer(callee.ID, "callee", "cb7")
		h.cbs.waitCall(t, "Completed cb7")
		h.cur.expect("bridged", func(a action) bool { return a.Op == "add" && slices.Equal(a.Chans, []string{callee.ID, leg}) })
		h.hangup(leg)
		h.r.waitCall(t, "EndCall cb7 100")
		sv := h.cur.expect("survey in the caller's language", playing(callee.ID, "survey"))
		if sv.Lang != "ru" {
			t.Errorf("survey lang %q", sv.Lang)
		}
		h.hangup(callee.ID)
		h.idle()
		h.noLeaks()
	})
	t.Run("caller busy", func(t *testing.T) {
		h := newHarness(t)
		h.e.Dial(cb, agent("100"))
		leg := h.cur.expect("agent first", op("originate", "Local/100@agents")).ID
		h.answer(leg)
		h.pbDone(h.cur.expect("case whisper", playing(leg, "whisper-audit")))
		callee := h.cur.expect("caller dialled", op("originate", "PJSIP/5557777@trunk")).ID
		h.dialFail(callee, DialBusy)
		h.cbs.waitCall(t, "AttemptFailed cb7 caller did not answer")
		h.cur.expect("agent released", op("hangup", leg))
		h.r.waitCall(t, "EndCall cb7 100")
		h.idle()
	})
	t.Run("agent does not answer", func(t *testing.T) {
		h := newHarness(t)
		h.e.Dial(cb, agent("100"))
		leg := h.cur.expect("agent first", op("originate", "Local/100@agents")).ID
		h.dialFail(leg, DialNoAnswer)
		h.cbs.waitCall(t, "AgentMissed cb7")
		h.r.waitCall(t, "NoAnswer cb7 100")
		h.idle()
		if h.tel.count(op("originate", "PJSIP/5557777@trunk")) != 0 {
			t.Errorf("caller dialled without an agent")
		}
	})
	t.Run("kept position offer", func(t *testing.T) {
		h := newHarness(t)
		h.cbs.store["cb8"] = Callback{ID: "cb8", CallID: "call8", CaseID: "case3", Number: "5558888", Topic: "service", Lang: "uk", Kind: routing.CallbackQueue}
		o := h.offer("call8", "100")
		o.CallbackID = "cb8"
		h.e.Deliver(o)
		h.cbs.waitCall(t, "Offered call8 cb8")
		leg := h.cur.expect("agent first", op("originate", "Local/100@agents")).ID
		h.answer(leg)
		h.r.waitCall(t, "Answered call8 100")
		h.pbDone(h.cur.expect("whisper", playing(leg, "whisper-service")))
		callee := h.cur.expect("caller", op("originate", "PJSIP/5558888@trunk")).ID
		h.hangup(callee)
		h.e.HandleEvent(Event{Kind: Destroyed, Channel: callee})
		h.cbs.waitCall(t, "AttemptFailed cb8")
		h.r.waitCall(t, "EndCall call8 100")
		h.idle()
	})
}

// TestOfferForGoneCall: an offer for a call nobody owns is released at
// once after the first Reconcile; before it, it waits for Reconcile (the
// call may be one a stopped node left to be re-adopted).
func TestOfferForGoneCall(t *testing.T) {
	t.Run("after reconcile", func(t *testing.T) {
		h := newHarness(t)
		h.e.Reconcile(context.Background(), nil, nil)
		h.e.Deliver(h.offer("nosuchcall", "100"))
		h.r.waitCall(t, "Leave nosuchcall")
	})
	t.Run("before reconcile", func(t *testing.T) {
		h := newHarness(t)
		h.e.Deliver(h.offer("nosuchcall", "100"))
		if n := h.r.countPrefix("Leave"); n != 0 {
			t.Fatalf("offer released before Reconcile: %v", h.r.log())
		}
		h.e.Reconcile(context.Background(), nil, nil)
		h.r.waitCall(t, "Leave nosuchcall")
	})
}

func TestReconcile(t *testing.T) {
	h := newHarness(t)
	ch := h.queued()
	kept := h.queued()
	h.clk.Advance(5 * time.Second) // older than the grace
	late := h.queued()
	h.e.Reconcile(context.Background(),
		[]Channel{{ID: kept}, {ID: "hl-n1-agent-99"}, {ID: "1795305000.1"}},
		[]Bridge{{ID: "hl-n1-br-42"}, {ID: "someone-elses"}})
	h.r.waitCall(t, "Leave "+ch)
	h.cur.expect("orphan leg", op("hangup", "hl-n1-agent-99"))
	if h.tel.count(op("hangup", "1795305000.1")) != 0 || h.tel.count(op("destroy", "someone-elses")) != 0 {
		t.Errorf("touched channels that are not ours:\n%s", h.tel.dump())
	}
	if h.tel.count(op("destroy", "hl-n1-br-42")) != 1 {
		t.Errorf("orphan bridge kept")
	}
	if h.r.countPrefix("Leave "+kept) != 0 || h.r.countPrefix("Leave "+late) != 0 {
		t.Errorf("a live call was ended: %v", h.r.log())
	}
	h.hangup(kept)
	h.hangup(late)
	h.idle()
}

// blockingTel holds Answer until released (or the call ends).
type blockingTel struct {
	*fakeTel
	release chan struct{}
}

func (b *blockingTel) Answer(ctx context.Context, ch string) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.fakeTel.Answer(ctx, ch)
}

func TestMailboxOverflowAbortsCall(t *testing.T) {
	var bt *blockingTel
	h := newHarness(t, func(h *harness, o *Options) {
		bt = &blockingTel{fakeTel: h.tel, release: make(chan struct{})}
		o.Telephony = bt
		o.MailboxSize = 4
	})
	ch := h.arrive("100", "5551234")
	h.dtmf(ch, "123456") // more than the mailbox holds
	h.cur.expect("call aborted and caller hung up", op("hangup", ch))
	h.idle()
	close(bt.release)
	if !h.obs.has("overflow") {
		t.Errorf("overflow not counted")
	}
}

// TestAgentFreeRingsFirst: with an agent free the router pairs the caller
// inside Enqueue; the agent is originated before anything else is played
// to the caller, and no callback is offered.
func TestAgentFreeRingsFirst(t *testing.T) {
	h := agentFreeHarness(t)
	ch := h.arrive("200", "5551234")
	next := h.cur.expect("first action but the answer", func(a action) bool { return (a.Chan == ch && a.Op != "answer") || a.Op == "originate" })
	if next.Op != "originate" {
		t.Fatalf("first action to the caller: %+v, want the agent's originate before it\n%s", next, h.tel.dump())
	}
	h.clk.waitTimer(t, holdAfter)
	if n := h.tel.count(op("moh", ch)); n != 0 {
		t.Fatalf("music on hold before the agent rang %s:\n%s", holdAfter, h.tel.dump())
	}
	h.clk.Advance(holdAfter)
	h.cur.expect("music on hold while the agent rings", op("moh", ch))
	h.tel.mu.Lock()
	for _, a := range h.tel.actions {
		if a.Op == "play" && strings.Contains(strings.Join(a.Media, ","), "callback-offer") {
			t.Errorf("callback offered with an agent free: %+v", a)
		}
	}
	h.tel.mu.Unlock()
	h.hangup(ch)
	h.idle()
}

// agentFreeHarness is a harness whose router pairs every caller with
// agent 100 inside Enqueue.
func agentFreeHarness(t *testing.T) *harness {
	ir := &instantRouter{}
	h := newHarness(t, func(h *harness, o *Options) { ir.fakeRouter = h.r; o.Router = ir })
	ir.e = h.e
	return h
}

// TestFreeAgentHoldMusic: a caller who found an agent free hears no music
// on hold while the phone rings less than holdAfter. An agent who answers
// within it (auto-answer) is connected with no music started or stopped;
// a phone that fails within it gives the caller music at once while they
// wait for the next agent, not silence.
func TestFreeAgentHoldMusic(t *testing.T) {
	t.Run("answered within the grace", func(t *testing.T) {
		h := agentFreeHarness(t)
		ch := h.arrive("200", "5551234")
		orig := h.cur.expect("agent originated", op("originate", "Local/100@agents"))
		h.clk.waitTimer(t, holdAfter)
		h.answer(orig.ID, "agent", ch, "100")
		wh := h.cur.expect("whisper", playing(orig.ID, "whisper-service"))
		h.pbDone(wh)
		h.cur.expect("add caller and agent", op("add", ""))
		h.clk.Advance(holdAfter) // the hold timer, were it still running
		if n := h.tel.count(op("moh", ch)) + h.tel.count(op("stopmoh", ch)); n != 0 {
			t.Errorf("music on hold started or stopped for an agent who answered at once:\n%s", h.tel.dump())
		}
		h.hangup(orig.ID)
		h.hangup(ch)
		h.idle()
	})
	t.Run("phone fails within the grace", func(t *testing.T) {
		h := agentFreeHarness(t)
		ch := h.arrive("200", "5551234")
		orig := h.cur.expect("agent originated", op("originate", "Local/100@agents"))
		h.clk.waitTimer(t, holdAfter)
		h.dialFail(orig.ID, DialBusy)
		h.r.waitCall(t, "NoAnswer "+ch+" 100")
		h.cur.expect("music on hold once the agent's phone failed", op("moh", ch))
		h.hangup(ch)
		h.idle()
	})
}

// TestCaseOpenedWithEnqueue checks which enqueue a queued caller's case
// takes: a first-time caller's is opened by the enqueue itself (no round
// trip of its own before the agent is rung), a returning caller who
// confirms keeps their open case, one who does not gets a new one.
func TestCaseOpenedWithEnqueue(t *testing.T) {
	tests := []struct {
		name     string
		returner bool   // the number has an open case without owner
		key      string // pressed at the returning-caller prompt
		want     string // recorded enqueue, %s the channel
	}{
		{name: "first-time caller", want: "Enqueue %s service en agent= case=new:case1"},
		{name: "returning caller confirms", returner: true, key: "1", want: "Enqueue %s audit en agent= case=old1"},
		{name: "returning caller does not confirm", returner: true, key: "2", want: "Enqueue %s service en agent= case=new:case1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, func(h *harness, _ *Options) {
				if tt.returner {
					h.r.cases["old1"] = routing.Case{ID: "old1", CallerNumber: "5551234", Topic: "audit", Status: routing.CaseOpen}
					h.r.openFor["5551234"] = "old1"
				}
			})
			ch := h.arrive("200", "5551234")
			h.cur.expect("answer", op("answer", ch))
			if tt.returner {
				h.cur.expect("returning prompt", playing(ch, "returning-caller"))
				h.dtmf(ch, tt.key)
			}
			want := strings.Replace(tt.want, "%s", ch, 1)
			h.r.waitCall(t, want)
			h.cur.expect("moh", op("moh", ch))
			h.hangup(ch)
			h.r.waitCall(t, "Leave "+ch)
			h.idle()
			log := h.r.log()
			if got := h.r.countPrefix("Enqueue"); got != 1 || !slices.Contains(log, want) {
				t.Errorf("want exactly %q: %v", want, log)
			}
			if h.r.countPrefix("OpenCase") != 0 {
				t.Errorf("case opened in a round trip of its own: %v", log)
			}
		})
	}
}

// meetTel and meetRouter make the answer and the returning-caller lookup
// wait for each other: they finish only if they run at the same time.
type meetTel struct {
	*fakeTel
	answering, lookingUp chan struct{}
	err                  error // what Answer returns once they met
}

func (m *meetTel) Answer(ctx context.Context, ch string) error {
	close(m.answering)
	select {
	case <-m.lookingUp:
	case <-time.After(waitLimit):
		return errors.New("answer: the lookup did not run meanwhile")
	}
	if err := m.fakeTel.Answer(ctx, ch); err != nil {
		return err
	}
	return m.err
}

type meetRouter struct {
	*fakeRouter
	answering, lookingUp chan struct{}
	met                  atomic.Bool
}

func (m *meetRouter) OpenCaseFor(ctx context.Context, number string) (routing.Case, bool, error) {
	close(m.lookingUp)
	select {
	case <-m.answering:
		m.met.Store(true)
	case <-time.After(waitLimit):
	}
	return m.fakeRouter.OpenCaseFor(ctx, number)
}

// TestAnswerWhileLookingUp checks that a direct topic's caller is answered
// while their open case is looked up and the call enqueued (the agent is
// dialled without waiting for the answer), and that a failed answer still
// ends the call cleanly: out of the queue, its case closed, nothing played.
func TestAnswerWhileLookingUp(t *testing.T) {
	tests := []struct {
		name      string
		answerErr error
		queued    bool
	}{
		{name: "answered and queued", queued: true},
		{name: "answer fails", answerErr: routing.ErrCallGone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answering, lookingUp := make(chan struct{}), make(chan struct{})
			var mr *meetRouter
			h := newHarness(t, func(h *harness, o *Options) {
				o.Telephony = &meetTel{fakeTel: h.tel, answering: answering, lookingUp: lookingUp, err: tt.answerErr}
				mr = &meetRouter{fakeRouter: h.r, answering: answering, lookingUp: lookingUp}
				o.Router = mr
			})
			ch := h.arrive("200", "5551234")
			h.cur.expect("answer", op("answer", ch))
			if tt.queued {
				h.r.waitCall(t, "Enqueue "+ch+" service en agent= case=new:")
				h.cur.expect("moh", op("moh", ch))
				h.hangup(ch)
			}
			h.idle()
			if !mr.met.Load() {
				t.Error("the lookup did not run while the caller was answered")
			}
			if n := h.r.countPrefix("Enqueue"); n != 1 {
				t.Errorf("enqueued %d times, want 1: %v", n, h.r.log())
			}
			if !tt.queued && (h.r.countPrefix("Leave") != 1 || h.r.countPrefix("CloseCase") != 1) {
				t.Errorf("a caller whose answer failed is left queued or their case open: %v", h.r.log())
			}
		})
	}
}

// TestAgentDialledWhileAnswering: a direct topic's agent is dialled while
// the caller's answer is still on its way (the answer is off the path to
// the agent), and the caller hears music on hold only once answered.
func TestAgentDialledWhileAnswering(t *testing.T) {
	release := make(chan struct{})
	ir := &instantRouter{}
	h := newHarness(t, func(h *harness, o *Options) {
		o.Telephony = &blockingTel{fakeTel: h.tel, release: release}
		ir.fakeRouter = h.r
		o.Router = ir
	})
	ir.e = h.e
	ch := h.arrive("200", "5551234")
	h.cur.expect("agent dialled before the answer", op("originate", "Local/100@agents"))
	if n := h.tel.count(op("moh", ch)) + h.tel.count(op("answer", ch)); n != 0 {
		t.Fatalf("caller answered or given music before the answer returned: %d", n)
	}
	close(release)
	h.cur.expect("answer", op("answer", ch))
	h.clk.waitTimer(t, holdAfter)
	h.clk.Advance(holdAfter)
	h.cur.expect("moh once answered and the agent rang a while", op("moh", ch))
	h.hangup(ch)
	h.idle()
}
