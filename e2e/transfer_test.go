package e2e

import (
	"net/http"
	"slices"
	"testing"

	"github.com/hotline-project/hotline/phones"
)

const note = "caller needs a refund for March"

func (e *env) transfer(callID, to, mode string) (int, refusalJSON) {
	e.t.Helper()
	st, b := e.api(http.MethodPost, "/calls/"+callID+"/transfer", map[string]string{"to": to, "note": note, "mode": mode})
	return st, refusal(b)
}

// warm transfers the caller's call to agent target and has the target
// accept; it returns the target's phone, connected to the caller.
func (e *env) warm(caller *phones.Phone, callID, target string) *phones.Phone {
	e.t.Helper()
	if st, r := e.transfer(callID, "agent:"+target, "attended"); st/100 != 2 {
		e.t.Fatalf("transfer to %s: %d %+v", target, st, r)
	}
	tp := e.ring(target)
	e.must(tp.WaitHeard(e.wctx(), "hotline-accept-transfer"))
	e.must(tp.Press(e.wctx(), "1"))
	e.must(caller.WaitConnectedTo(e.wctx(), tp))
	return tp
}

// TestWarmTransferAccepted: the caller hears they are being transferred,
// the target hears the whisper and accepts with 1, and the caller ends up
// talking to the target.
func TestWarmTransferAccepted(t *testing.T) {
	e := scenario(t)
	e.login("301", "302")
	caller, a1 := e.connect("200", "5550601", "301")
	c := e.callOf("5550601")
	if st, r := e.transfer(c.ID, "agent:302", "attended"); st/100 != 2 {
		t.Fatalf("transfer: %d %+v", st, r)
	}
	e.must(caller.WaitHeard(e.wctx(), "hotline-transferring"))
	tp := e.ring("302")
	e.must(tp.WaitHeard(e.wctx(), "hotline-topic-connections")) // the whisper
	e.must(tp.WaitHeard(e.wctx(), "hotline-accept-transfer"))
	if caller.HeardCount("hotline-accept-transfer") != 0 || caller.HeardCount("hotline-whisper") != 0 {
		t.Errorf("the caller heard the target's prompts: %v", caller.Heard())
	}
	e.must(tp.Press(e.wctx(), "1"))
	e.must(caller.WaitConnectedTo(e.wctx(), tp))
	e.eventually("call with 302", func() bool { return e.callOf("5550601").AgentID == "302" })
	e.eventually("transfer counted", func() bool { return e.metric("hotline_transfers_total", "result", "completed") == 1 })
	e.hangupAll(a1, tp, caller)
	e.noLeaks()
}

// TestWarmTransferDeclined: the target declines with 2 and the caller comes
// back to the transferring agent, not to a queue.
func TestWarmTransferDeclined(t *testing.T) {
	e := scenario(t)
	e.login("301", "302")
	caller, a1 := e.connect("200", "5550602", "301")
	c := e.callOf("5550602")
	if st, r := e.transfer(c.ID, "agent:302", "attended"); st/100 != 2 {
		t.Fatalf("transfer: %d %+v", st, r)
	}
	tp := e.ring("302")
	e.must(tp.WaitHeard(e.wctx(), "hotline-accept-transfer"))
	e.must(tp.Press(e.wctx(), "2"))
	e.must(tp.WaitHungUp(e.wctx()))
	// The caller, who held while the target was asked, hears that they are
	// back with the agent who transferred them; the agent knows already.
	e.must(caller.WaitHeard(e.wctx(), "hotline-transfer-returned"))
	e.must(caller.WaitConnectedTo(e.wctx(), a1))
	if n := a1.HeardCount("hotline-transfer-returned"); n != 0 {
		t.Errorf("the transferring agent heard the caller's prompt: %v", a1.Heard())
	}
	if got := e.callOf("5550602").AgentID; got != "301" {
		t.Errorf("call with %q after a declined transfer, want 301", got)
	}
	e.hangupAll(a1, caller)
	e.noLeaks()
}

// TestBlindTransferRefused: a blind transfer by API is refused with
// blind_transfer_forbidden; a phone's own REFER is declined and the call
// goes on.
func TestBlindTransferRefused(t *testing.T) {
	e := scenario(t)
	e.login("301", "302")
	caller, a1 := e.connect("200", "5550603", "301")
	c := e.callOf("5550603")
	st, r := e.transfer(c.ID, "agent:302", "blind")
	if st != http.StatusConflict || r.Error != "blind_transfer_forbidden" {
		t.Errorf("blind transfer: %d %+v, want 409 blind_transfer_forbidden", st, r)
	}
	t.Run("phone REFER", func(t *testing.T) {
		e.needSim(t, "Refer")
		before := e.metric("hotline_transfers_total", "result", "blind_transfer_forbidden")
		e.must(e.sim.Refer(a1.PeerID(), "302", ""))
		e.eventually("REFER refused", func() bool {
			return e.metric("hotline_transfers_total", "result", "blind_transfer_forbidden") > before
		})
		if e.agent("302").State != "available" {
			t.Errorf("the REFER's target was offered the call: %+v", e.agent("302"))
		}
		if !caller.ConnectedTo(a1) {
			t.Error("the caller lost the agent after a refused REFER")
		}
	})
	e.hangupAll(a1, caller)
	e.noLeaks()
}

// TestTransferLoopAndHops: a transfer back to an agent already on the path
// is refused as a loop with the path; past max_hops (2 transfers in the
// test configuration) a transfer is refused as max_hops.
func TestTransferLoopAndHops(t *testing.T) {
	e := scenario(t)
	e.login("301", "302", "309", "303")
	caller, a1 := e.connect("200", "5550604", "301")
	c := e.callOf("5550604")
	a2 := e.warm(caller, c.ID, "302")
	e.must(a1.WaitHungUp(e.wctx())) // the first agent's part ends with the transfer

	st, r := e.transfer(c.ID, "agent:301", "attended")
	if st != http.StatusConflict || r.Error != "transfer_loop" {
		t.Fatalf("A→B→A: %d %+v, want 409 transfer_loop", st, r)
	}
	var path []string
	for _, h := range r.Path {
		path = append(path, h.To, "by:"+h.By)
	}
	if !slices.Contains(path, "by:301") || !slices.Contains(path, "agent:302") {
		t.Errorf("loop refusal path %v does not show 301 handing over to 302", path)
	}
	a3 := e.warm(caller, c.ID, "309") // the second transfer: the limit
	e.must(a2.WaitHungUp(e.wctx()))
	st, r = e.transfer(c.ID, "agent:303", "attended")
	if st != http.StatusConflict || r.Error != "max_hops" {
		t.Errorf("third transfer: %d %+v, want 409 max_hops", st, r)
	}
	if !caller.ConnectedTo(a3) {
		t.Error("a refused transfer moved the caller")
	}
	e.hangupAll(a3, caller)
	e.noLeaks()
}

// TestAgentHangsUpDuringConsult: the transferring agent hangs up while the
// target still rings; the target stops ringing and the caller is not left
// on hold for ever (asked to rate, then released).
func TestAgentHangsUpDuringConsult(t *testing.T) {
	e := scenario(t)
	e.phones.Agent("302").SetAnswer(phones.AnswerNever)
	e.login("301", "302")
	caller, a1 := e.connect("200", "5550605", "301")
	c := e.callOf("5550605")
	if st, r := e.transfer(c.ID, "agent:302", "attended"); st/100 != 2 {
		t.Fatalf("transfer: %d %+v", st, r)
	}
	tp := e.ring("302")
	e.hangupAll(a1)
	e.must(tp.WaitHungUp(e.wctx()))
	e.must(caller.WaitHeard(e.wctx(), "hotline-survey"))
	e.must(caller.WaitHungUp(e.wctx()))
	e.noLeaks()
}
