package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/hotline-project/hotline/phones"
)

// restartStop bounds a daemon's Stop with calls up: detaching them takes
// a few REST calls, far less than this.
const restartStop = 5 * time.Second

// TestWebsocketDropped: the ARI websockets drop in mid-call; the bridged
// call goes on, both applications reconnect, and new calls are served.
func TestWebsocketDropped(t *testing.T) {
	e := scenario(t)
	e.login("301", "304")
	caller, a1 := e.connect("200", "5550701", "301")
	phConnects := e.phones.Connects()
	reconnects := e.metric("hotline_ari_reconnects_total")
	e.dropConnections()
	e.eventually("both reconnected", func() bool {
		return e.phones.Connects() > phConnects && e.phones.Connected() &&
			e.metric("hotline_ari_reconnects_total") > reconnects && e.app.ARI.Connected() &&
			(e.sim == nil || e.sim.Stats().Websockets == 2)
	})
	e.app.WaitReady()
	if !caller.ConnectedTo(a1) {
		t.Error("the bridged call was broken by the lost websocket")
	}
	c2, a2 := e.connect("200", "5550702", "304")
	e.hangupAll(a1, a2)
	e.must(caller.WaitHeard(e.wctx(), "hotline-survey"))
	e.hangupAll(caller, c2)
	e.noLeaks()
}

// TestCallbackKeepsPlace: with no agent logged in the caller is offered a
// callback, presses 1 and hangs up; when an agent logs in, the agent's
// phone rings first, hears the case, and then the caller's line rings and
// both are connected.
func TestCallbackKeepsPlace(t *testing.T) {
	e := scenario(t)
	const number = "5550801"
	caller := e.call("200", number)
	e.must(caller.WaitHeard(e.wctx(), "hotline-callback-offer"))
	e.must(caller.Press(e.wctx(), "1"))
	e.must(caller.WaitHeard(e.wctx(), "hotline-callback-scheduled"))
	e.hangupAll(caller)

	// Logging in hands the agent the callback at once: no waiting for
	// "available" here.
	e.apiOK("POST", "/agents/301/state", map[string]string{"action": "login"}, nil)
	ap := e.ring("301")
	e.must(ap.WaitHeard(e.wctx(), "hotline-whisper-callback"))
	back := e.ring(number) // only now: agent first
	if !ap.Answered() {
		t.Error("the caller's line rang before the agent answered")
	}
	e.must(back.WaitConnectedTo(e.wctx(), ap))
	e.eventually("callback completed", func() bool { return e.metric("hotline_callbacks_total", "state", "completed") == 1 })
	e.hangupAll(ap, back)
	e.noLeaks()
}

// TestRestartKeepsCalls: the daemon is stopped with one caller talking to
// an agent and one waiting, and a new daemon starts on the same Redis and
// Asterisk. Stop returns at once; the conversation is never broken and
// works on under the new daemon (feature codes, the agent's hang-up, the
// survey); the waiting caller keeps waiting, keeps their place ahead of a
// caller who came after the restart, and is connected to the agent who
// becomes free.
func TestRestartKeepsCalls(t *testing.T) {
	e := scenario(t)
	e.login("301")
	c1, a1 := e.connect("200", "5550901", "301")
	c2 := e.call("200", "5550902")
	e.eventually("second caller queued", func() bool { return e.callOf("5550902").State == "queued" })

	first := e.app
	stopCtx, cancel := context.WithTimeout(context.Background(), restartStop)
	defer cancel()
	if err := first.Shutdown(stopCtx); err != nil {
		t.Fatalf("stop with calls up: %v", err)
	}
	if !c1.ConnectedTo(a1) || c1.HungUp() || a1.HungUp() || c2.HungUp() {
		t.Fatalf("stop broke calls: caller %v agent %v waiting %v", c1.Heard(), a1.Heard(), c2.Heard())
	}

	e.startDaemon(e.ariPass)
	e.eventually("both calls re-adopted", func() bool { return e.app.Engine.Active() == 2 })
	if got := e.callOf("5550902"); got.State != "queued" {
		t.Errorf("waiting caller after the restart: %+v", got)
	}
	c3 := e.call("200", "5550903")
	e.eventually("third caller queued", func() bool { return e.callOf("5550903").State == "queued" })

	// The adopted conversation takes feature codes and ends as any other.
	e.must(a1.Press(e.wctx(), "*9"))
	e.must(a1.WaitHeard(e.wctx(), "hotline-pause-after-call"))
	e.hangupAll(a1)
	e.must(c1.WaitHeard(e.wctx(), "hotline-survey"))
	e.must(c1.Press(e.wctx(), "1"))
	e.must(c1.WaitHungUp(e.wctx()))
	e.waitAgent("301", "paused")

	// The caller who waited through the restart goes first.
	e.apiOK("POST", "/agents/304/state", map[string]string{"action": "login"}, nil)
	a2 := e.ring("304")
	e.must(c2.WaitConnectedTo(e.wctx(), a2))
	if c3.Connected() {
		t.Error("the caller who came after the restart overtook the one who waited through it")
	}
	e.hangupAll(c3, a2)
	e.must(c2.WaitHeard(e.wctx(), "hotline-survey"))
	e.hangupAll(c2)
	e.noLeaks()
}

// TestRedisDownHandsCallsBack: with Redis gone nothing can be routed. A
// caller is never answered into silence: the one whose enqueue fails
// hears the "technical difficulties" prompt and goes back to the
// dialplan, and the next is not answered at all; the dialplan's fallback
// (deploy/asterisk's hotline-fallback, ringing FALLBACK: line 399 here)
// takes both.
func TestRedisDownHandsCallsBack(t *testing.T) {
	e := scenario(t)
	e.login("301")
	e.redis.Stop()
	fallback := e.phones.Line("399")
	fallback.SetAnswer(phones.AnswerNever)
	for i, number := range []string{"5550951", "5550952"} {
		caller, err := e.phones.Call(e.wctx(), "200", number)
		e.must(err)
		rang, err := fallback.WaitRing(e.wctx())
		e.must(err)
		if i == 0 && caller.HeardCount("hotline-unavailable") == 0 {
			t.Errorf("caller %s was handed to the fallback without a word: heard %v", number, caller.Heard())
		}
		if i == 1 && caller.HeardCount("") != 0 {
			t.Errorf("caller %s was answered by the hotline while Redis is down: heard %v", number, caller.Heard())
		}
		e.hangupAll(caller)
		e.must(rang.WaitHungUp(e.wctx()))
	}
	if n := e.metric("hotline_calls_handed_back_total", "reason", "unavailable"); n != 2 {
		t.Errorf("hotline_calls_handed_back_total = %v, want 2", n)
	}
}
