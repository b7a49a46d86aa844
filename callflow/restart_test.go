package callflow

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hotline-project/hotline/routing"
)

// TestStopDetaches: Stop refuses new calls and returns without waiting
// for any call to end; nothing a re-adopting node needs is hung up or
// released: the waiting caller stays queued on music on hold, the
// conversation stays bridged, a ringing agent is released without blame
// and a consult is cancelled back to the transferring agent.
func TestStopDetaches(t *testing.T) {
	h := newHarness(t, withTransfers)
	waiting := h.queued()

	talking := h.queued()
	talkLeg, talkBr := h.connected(talking, "101")

	ringing := h.queued()
	h.e.Deliver(h.offer(ringing, "102"))
	ringLeg := h.cur.expect("agent rung", op("originate", "Local/102@agents")).ID

	consulting := h.queued()
	conLeg, conBr := h.connected(consulting, "100")
	target := h.consulting(consulting, conLeg, conBr)

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := h.e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n := h.e.Active(); n != 0 {
		t.Fatalf("%d calls still owned after Stop", n)
	}
	late := h.arrive("200", "5550000")
	h.cur.expect("late caller refused", func(a action) bool { return a.Op == "hangup" && a.Chan == late && a.Arg == "congestion" })

	for _, ch := range []string{waiting, talking, talkLeg, ringing, consulting, conLeg} {
		if n := h.tel.count(op("hangup", ch)); n != 0 {
			t.Errorf("%s hung up by Stop:\n%s", ch, h.tel.dump())
		}
	}
	for _, br := range []string{talkBr, conBr} {
		if h.tel.count(op("destroy", br)) != 0 {
			t.Errorf("bridge %s destroyed by Stop", br)
		}
	}
	for _, ch := range []string{waiting, talking, ringing, consulting} {
		if n := h.r.countPrefix("Leave "+ch) + h.r.countPrefix("EndCall "+ch); n != 0 {
			t.Errorf("router released %s: %v", ch, h.r.log())
		}
	}
	h.cbs.mu.Lock()
	cbCalls := slices.Clone(h.cbs.calls)
	h.cbs.mu.Unlock()
	if len(cbCalls) != 0 || h.r.countPrefix("CloseCase") != 0 {
		t.Errorf("stop turned callers into callbacks or closed cases: %v %v", cbCalls, h.r.log())
	}
	// Music on hold was started and never stopped for the waiting caller.
	if h.tel.count(op("moh", waiting)) != 1 || h.tel.count(op("stopmoh", waiting)) != 0 {
		t.Errorf("waiting caller not left on hold:\n%s", h.tel.dump())
	}
	// The ring is cancelled without blaming the agent.
	if h.tel.count(op("hangup", ringLeg)) != 1 {
		t.Errorf("ringing leg not hung up:\n%s", h.tel.dump())
	}
	if want := "ReleaseOffer " + ringing + " 102"; !slices.Contains(h.r.log(), want) {
		t.Errorf("router: no %q in %v", want, h.r.log())
	}
	// The consult goes back to the transferring agent, the caller hears it.
	if h.tel.count(op("hangup", target)) != 1 || !slices.Contains(h.r.log(), "CancelTransfer "+consulting+" tr1 false") {
		t.Errorf("consult not cancelled: %v\n%s", h.r.log(), h.tel.dump())
	}
	if h.tel.count(func(a action) bool {
		return a.Op == "add" && a.Chan == conBr && slices.Equal(a.Chans, []string{consulting})
	}) != 1 ||
		h.tel.count(playing(consulting, "transfer-declined")) != 1 {
		t.Errorf("caller not back with the agent:\n%s", h.tel.dump())
	}
}

// TestStopDeadline: when the deadline comes first, a call at a safe point
// (in conversation) still detaches, and a call the router holds no record
// of (a caller in the menu) is ended.
func TestStopDeadline(t *testing.T) {
	h := newHarness(t)
	ch := h.queued()
	leg, br := h.connected(ch, "100")
	inMenu := h.arrive("100", "5559999")
	h.cur.expect("menu", playing(inMenu, "menu-main"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.e.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop = %v, want canceled", err)
	}
	if h.tel.count(op("hangup", ch)) != 0 || h.tel.count(op("hangup", leg)) != 0 || h.tel.count(op("destroy", br)) != 0 {
		t.Errorf("forced stop broke the conversation:\n%s", h.tel.dump())
	}
	if h.r.countPrefix("EndCall "+ch) != 0 {
		t.Errorf("forced stop ended the conversation on the router: %v", h.r.log())
	}
	if h.tel.count(op("hangup", inMenu)) != 1 {
		t.Errorf("caller in the menu not ended:\n%s", h.tel.dump())
	}
}

// TestReconcileAdopts: a restarted node re-adopts what the stopped one
// left: a waiting caller (whose offer came before the first Reconcile and
// rings now), a conversation (the agent's hang-up leads to the survey), a
// call ringing an agent it cannot see (released without blame, waiting
// again), a called-back caller in conversation; leftovers are cleared.
func TestReconcileAdopts(t *testing.T) {
	h := newHarness(t)
	at := h.clk.Now().Add(-time.Minute)
	call := func(id string, st routing.CallState, agent string) Call {
		return Call{ID: id, CaseID: "case-" + id, Topic: "service", CallerNumber: "555" + id, Lang: "en", Node: "n1", AgentID: agent, State: st, EnqueuedAt: at}
	}
	const (
		waiting   = "1795300000.1"
		talking   = "1795300000.2"
		ringing   = "1795300000.3"
		other     = "1795300000.4" // another node's caller
		unknown   = "1795300000.5" // not the router's
		talkLeg   = "hl-n1-agent-7-" + talking
		talkBr    = "hl-n1-br-6-" + talking
		cbID      = "cb42"
		callee    = "hl-n1-callee-9-" + cbID
		cbLeg     = "hl-n1-agent-8-" + cbID
		cbBr      = "hl-n1-br-10-" + cbID
		orphanLeg = "hl-n1-agent-3-" + "1795300000.9"
		orphanBr  = "hl-n1-br-2-" + "1795300000.9"
	)
	h.r.mu.Lock()
	h.r.live[waiting] = call(waiting, routing.CallRinging, "101")
	h.r.live[talking] = call(talking, routing.CallConnected, "100")
	h.r.live[ringing] = call(ringing, routing.CallRinging, "102")
	h.r.live[cbID] = call(cbID, routing.CallConnected, "103")
	o := call(other, routing.CallQueued, "")
	o.Node = "n2"
	h.r.live[other] = o
	h.r.mu.Unlock()
	// The router dispatched the waiting caller while this node started.
	h.e.Deliver(Offer{CallID: waiting, CaseID: "case-" + waiting, Topic: "service", Node: "n1", Agent: agent("101"), RingDeadline: h.clk.Now().Add(ringTimeout)})

	h.tel.mu.Lock()
	for _, ch := range []string{talking, talkLeg} {
		h.tel.inBridge[ch] = talkBr
	}
	for _, ch := range []string{cbLeg, callee} {
		h.tel.inBridge[ch] = cbBr
	}
	h.tel.mu.Unlock()
	// Asterisk lists the far halves of our Local legs too, as "<id>;2":
	// the agents' phones. They are not ours to hang up.
	h.e.Reconcile(context.Background(),
		[]Channel{{ID: waiting}, {ID: talking}, {ID: talkLeg}, {ID: talkLeg + ";2"}, {ID: ringing}, {ID: other}, {ID: unknown},
			{ID: callee}, {ID: callee + ";2"}, {ID: cbLeg}, {ID: cbLeg + ";2"}, {ID: orphanLeg}, {ID: orphanLeg + ";2"}},
		[]Bridge{{ID: talkBr, Channels: []string{talking, talkLeg}}, {ID: cbBr, Channels: []string{cbLeg, callee}}, {ID: orphanBr}})

	if n := h.e.Active(); n != 4 {
		t.Errorf("%d calls adopted, want 4", n)
	}
	h.r.waitCall(t, "ReleaseOffer "+ringing+" 102")
	h.cur.expect("waiting caller's offer rings", op("originate", "Local/101@agents"))
	if h.tel.count(op("hangup", orphanLeg)) != 1 {
		t.Errorf("orphan leg not hung up:\n%s", h.tel.dump())
	}
	if h.tel.count(op("destroy", orphanBr)) != 1 {
		t.Errorf("orphan bridge kept:\n%s", h.tel.dump())
	}
	for _, ch := range []string{waiting, talking, talkLeg, talkLeg + ";2", ringing, other, unknown, callee, callee + ";2", cbLeg, cbLeg + ";2", orphanLeg + ";2"} {
		if h.tel.count(op("hangup", ch)) != 0 {
			t.Errorf("%s hung up by Reconcile:\n%s", ch, h.tel.dump())
		}
	}
	if h.tel.count(op("moh", ringing)) != 1 {
		t.Errorf("re-adopted waiting caller not on hold:\n%s", h.tel.dump())
	}

	// The adopted conversation: the agent hangs up, the caller is asked
	// for the survey.
	h.hangup(talkLeg)
	h.r.waitCall(t, "EndCall "+talking+" 100")
	h.cur.expect("bridge destroyed", op("destroy", talkBr))
	h.cur.expect("survey", playing(talking, "survey"))
	// The called-back caller: the caller hangs up, the agent is released.
	h.hangup(callee)
	h.r.waitCall(t, "EndCall "+cbID+" 103")
	for _, ch := range []string{waiting, talking, ringing} {
		h.hangup(ch)
	}
	h.idle()
	if h.r.countPrefix("CloseCase case-"+cbID) != 0 {
		t.Errorf("a callback's case closed by the call: %v", h.r.log())
	}
}

// TestReconcileSkipsDeparted: a channel listed but hung up meanwhile, and
// a caller who kept their place as a callback, are not adopted as
// waiting callers: the first leaves the queue, the second's entry stays
// with the callbacks service.
func TestReconcileSkipsDeparted(t *testing.T) {
	h := newHarness(t)
	const departed, kept = "1795300001.1", "1795300001.2"
	h.r.mu.Lock()
	h.r.live[departed] = Call{ID: departed, CaseID: "c1", Topic: "service", Node: "n1", State: routing.CallQueued}
	h.r.live[kept] = Call{ID: kept, CaseID: "c2", Topic: "service", Node: "n1", State: routing.CallQueued, CallbackID: "cb-1"}
	h.r.mu.Unlock()
	h.tel.mu.Lock()
	h.tel.gone[departed] = true
	h.tel.mu.Unlock()
	h.e.Reconcile(context.Background(), []Channel{{ID: departed}, {ID: kept}}, nil)
	h.r.waitCall(t, "Leave "+departed)
	h.idle()
	if h.r.countPrefix("Leave "+kept) != 0 || h.tel.count(op("moh", kept)) != 0 {
		t.Errorf("kept-place caller adopted: %v\n%s", h.r.log(), h.tel.dump())
	}
}
