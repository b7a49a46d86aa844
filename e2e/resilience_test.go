package e2e

import (
	"testing"
)

// TestWebsocketDropped: the ARI websockets drop in mid-call; the bridged
// call goes on, both applications reconnect, and new calls are served.
func TestWebsocketDropped(t *testing.T) {
	e := scenario(t)
	e.needSim("DropWebsockets")
	e.login("301", "304")
	caller, a1 := e.connect("200", "5550701", "301")
	phConnects := e.phones.Connects()
	reconnects := e.metric("hotline_ari_reconnects_total")
	e.sim.DropWebsockets()
	e.eventually("both reconnected", func() bool {
		return e.phones.Connects() > phConnects && e.phones.Connected() &&
			e.metric("hotline_ari_reconnects_total") > reconnects && e.app.ARI.Connected() &&
			e.sim.Stats().Websockets == 2
	})
	e.waitReady()
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
	e.must(ap.WaitHeard(e.wctx(), "hotline-case"))
	back := e.ring(number) // only now: agent first
	if !ap.Answered() {
		t.Error("the caller's line rang before the agent answered")
	}
	e.must(back.WaitConnectedTo(e.wctx(), ap))
	e.eventually("callback completed", func() bool { return e.metric("hotline_callbacks_total", "state", "completed") == 1 })
	e.hangupAll(ap, back)
	e.noLeaks()
}
